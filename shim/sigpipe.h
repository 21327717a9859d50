/*
 * Keeps a write to a connection the server closed from killing the program
 * with SIGPIPE, without changing the signal's disposition. SIGPIPE is
 * blocked on the calling thread around the write. One that the write raised
 * is taken off the pending set before the mask is restored.
 */
#ifndef HR_SHIM_SIGPIPE_H
#define HR_SHIM_SIGPIPE_H

#include <signal.h>
#include <stdbool.h>

typedef struct hr_sigpipe_guard {
    bool active; /* this guard blocked SIGPIPE */
    sigset_t old_mask;
} hr_sigpipe_guard;

/* Blocks SIGPIPE on this thread unless the program already blocks it. */
void hr_sigpipe_block(hr_sigpipe_guard *guard);

/*
 * Restores the mask, first taking a SIGPIPE raised since hr_sigpipe_block
 * when write_failed: a call that succeeded raised none.
 */
void hr_sigpipe_unblock(hr_sigpipe_guard *guard, bool write_failed);

/* Calls hr_sigpipe_unblock when the guard is active: the common case, with
 * nothing blocked, costs one test. */
static inline void hr_sigpipe_restore(hr_sigpipe_guard *guard,
                                      bool write_failed)
{
    if (guard->active)
        hr_sigpipe_unblock(guard, write_failed);
}

#endif

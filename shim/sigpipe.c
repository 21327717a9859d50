#include "sigpipe.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

void hr_sigpipe_block(hr_sigpipe_guard *guard)
{
    int saved_errno = errno;
    sigset_t pipe_only;

    guard->active = false;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &pipe_only, &guard->old_mask) != 0)
        goto out;
    /* A program that blocks SIGPIPE itself gets it pending, as without the
       shim. Otherwise no SIGPIPE can be pending for this thread: it would
       have been delivered. */
    if (sigismember(&guard->old_mask, SIGPIPE)) {
        pthread_sigmask(SIG_SETMASK, &guard->old_mask, NULL);
        goto out;
    }
    guard->active = true;
out:
    errno = saved_errno;
}

void hr_sigpipe_unblock(hr_sigpipe_guard *guard, bool write_failed)
{
    int saved_errno = errno;
    sigset_t pipe_only;
    const struct timespec no_wait = {0, 0};

    /* A write that raised SIGPIPE failed with EPIPE, so after a success
       there is nothing to take. */
    if (write_failed) {
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        /* NOTE: a SIGPIPE that another thread sends to the whole process in
           this window is taken too. In practice only the writing thread
           raises it here. */
        while (sigtimedwait(&pipe_only, NULL, &no_wait) == -1 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &guard->old_mask, NULL);
    errno = saved_errno;
}

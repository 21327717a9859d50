/*
 * Counters of the process, written to HIRETRY_STATS_FILE in the Prometheus
 * text format: at exit, and every HIRETRY_STATS_INTERVAL from a thread that
 * starts only when the file is set.
 *
 * Nothing is counted without a stats file. With one, a command that
 * succeeds at once costs an increment of a counter of its own thread: no
 * system call, no lock and no shared cache line. The failure paths update
 * process-wide atomic counters.
 */
#ifndef HR_SHIM_STATS_H
#define HR_SHIM_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hiretry/classify.h"
#include "hiretry/policy.h"

/* One thread's count of calls, read by the writer with relaxed loads. */
typedef struct hr_stats_thread hr_stats_thread;
struct hr_stats_thread {
    _Atomic uint64_t calls;
    hr_stats_thread *next; /* in the list of live threads, under its lock */
};

extern __thread hr_stats_thread *hr_stats_self
    __attribute__((tls_model("initial-exec")));
extern _Atomic bool hr_stats_enabled;

/* Registers the calling thread and counts its first call. */
void hr_stats_attach(void);

/* Counts one command sent, or one pipelined reply read, with the policy. */
static inline void hr_stats_count_call(void)
{
    hr_stats_thread *self = hr_stats_self;

    if (self != NULL) {
        /* Only this thread writes the counter: a load and a store, with
           no read-modify-write instruction. */
        uint64_t calls =
            atomic_load_explicit(&self->calls, memory_order_relaxed);
        atomic_store_explicit(&self->calls, calls + 1, memory_order_relaxed);
    } else if (atomic_load_explicit(&hr_stats_enabled, memory_order_relaxed)) {
        hr_stats_attach();
    }
}

/*
 * Counts a failed attempt of call: its class, and a retry or a give-up by
 * reason. A give-up also records the call's duration in the histogram.
 */
void hr_stats_failed(const hr_call *call, hr_class cls, hr_verdict verdict);

/* Counts a call that succeeded after call->failures failed attempts. */
void hr_stats_recovered_slow(const hr_call *call);

static inline void hr_stats_recovered(const hr_call *call)
{
    if (call->failures > 0)
        hr_stats_recovered_slow(call);
}

/* Counts a reconnect in place and whether it connected. */
void hr_stats_reconnect(bool connected);

/* Starts the statistics when HIRETRY_STATS_FILE is set. Called once the
 * configuration is loaded. */
void hr_stats_init(void);

#endif

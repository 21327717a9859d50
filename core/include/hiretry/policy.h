/*
 * The retry loop of one logical call, as an API the shim drives:
 *
 *     hr_call_begin(&call, &policy, &hr_monotonic_clock);
 *     for (;;) {
 *         attempt; on success, stop;
 *         verdict = hr_call_failed(&call, &failure, repeat_allowed, &delay);
 *         if (verdict != HR_RETRY) report the last failure and stop;
 *         hr_call_sleep(&call, delay);
 *     }
 *
 * Semantics follow valkey-py's Retry: retries = N allows N + 1 attempts, a
 * negative count retries forever, the failure count is 1-based, there is no
 * sleep after the last failure and the caller reports the last error. Unlike
 * valkey-py, an optional deadline bounds the whole call, sleeps included.
 */
#ifndef HIRETRY_POLICY_H
#define HIRETRY_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "hiretry/backoff.h"
#include "hiretry/classify.h"
#include "hiretry/errors.h"

/*
 * Which commands may be repeated once they may have reached the server. A
 * command that cannot have run (the connect failed, or the server refused
 * it without running it) may always be repeated.
 */
typedef enum hr_writes {
    HR_WRITES_SAFE, /* read-only commands and repeat-safe writes only */
    HR_WRITES_ALL,  /* anything: valkey-py's at-least-once behaviour */
    HR_WRITES_NONE  /* nothing that may have run */
} hr_writes;

/* How repeating a command that may already have run affects the data. */
typedef enum hr_repeat_safety {
    HR_REPEAT_UNSAFE,   /* may change data or the reply: unknown commands */
    HR_REPEAT_READONLY, /* reads only */
    HR_REPEAT_SAFE      /* a write whose effect and reply repeat unchanged */
} hr_repeat_safety;

typedef struct hr_policy {
    int retries;           /* retries after the first attempt; < 0: forever */
    hr_backoff backoff;    /* the delay between attempts */
    hr_class_set retry_on; /* classes that are retried, already expanded */
    hr_writes writes;      /* which commands that may have run are repeated */
    int64_t deadline_ns;   /* budget of one call, sleeps included; 0: none */
} hr_policy;

/* A source of time, replaceable in tests. */
typedef struct hr_clock {
    int64_t (*now_ns)(void *arg);            /* monotonic nanoseconds */
    void (*sleep_ns)(void *arg, int64_t ns); /* sleeps ns > 0 nanoseconds */
    void *arg;
} hr_clock;

/*
 * CLOCK_MONOTONIC, with sleeps by clock_nanosleep() to an absolute end time,
 * so that signals neither shorten nor lengthen them. Sleeps preserve errno.
 */
extern const hr_clock hr_monotonic_clock;

typedef enum hr_verdict {
    HR_RETRY,
    HR_GIVE_UP_NOT_RETRYABLE, /* the class is not in retry_on */
    HR_GIVE_UP_PERMANENT,     /* a caller error that no retry can fix */
    HR_GIVE_UP_UNSAFE,        /* it may have run and may not be repeated */
    HR_GIVE_UP_EXHAUSTED,     /* no retries left */
    HR_GIVE_UP_DEADLINE,      /* the deadline is reached, or the next sleep
                                 would reach it */
    HR_GIVE_UP_BUDGET,        /* the endpoint's retry budget is spent */
    HR_GIVE_UP_CIRCUIT_OPEN   /* the endpoint's circuit breaker is open */
} hr_verdict;

/* State of one logical call across its attempts. */
typedef struct hr_call {
    const hr_policy *policy;
    const hr_clock *clock;
    int failures;           /* failed attempts so far, saturating */
    int64_t started_ns;     /* clock time of the start, or 0 when unread */
    int64_t deadline_at_ns; /* absolute clock time, or 0 for none */
    hr_backoff_state backoff;
} hr_call;

/* Returns a short lower-case name for the verdict, for logs. */
const char *hr_verdict_name(hr_verdict verdict);

/*
 * Decides whether a command may be sent again after a failed attempt. One
 * that cannot have run (may_have_run false: the connect failed, the write
 * never started, or the server refused it without running it) always may;
 * otherwise the writes mode and the command's safety decide.
 */
bool hr_repeat_allowed(hr_writes writes, hr_repeat_safety safety,
                       bool may_have_run);

/*
 * Starts a logical call: resets the failure count and the backoff, and fixes
 * the deadline at now + deadline_ns (saturating) when deadline_ns > 0.
 */
void hr_call_begin(hr_call *call, const hr_policy *policy,
                   const hr_clock *clock);

/*
 * Starts a logical call that began at start_ns on the clock, for callers
 * that read the clock anyway and start the call only after a first attempt
 * failed: the deadline still counts from start_ns.
 */
void hr_call_begin_at(hr_call *call, const hr_policy *policy,
                      const hr_clock *clock, int64_t start_ns);

/*
 * Records one failed attempt and decides what to do. The checks run in this
 * order: permanent, class not in retry_on, repeat not allowed, no retries
 * left, deadline. On HR_RETRY, *delay_ns contains the sleep before the next
 * attempt, and on any other verdict it is 0.
 *
 * With a deadline, the call gives up with HR_GIVE_UP_DEADLINE when the
 * failure is recorded at or after the deadline. It also gives up at once,
 * instead of sleeping, when the backoff delay would reach or pass the
 * deadline, because the next attempt could not start in time. So a retry's
 * sleep always ends before the deadline.
 */
hr_verdict hr_call_failed(hr_call *call, const hr_failure *failure,
                          bool repeat_allowed, int64_t *delay_ns);

/* Sleeps delay_ns nanoseconds on the call's clock; nothing when <= 0. */
void hr_call_sleep(hr_call *call, int64_t delay_ns);

/*
 * Returns the nanoseconds left before the deadline (at least 0), or -1 when
 * the call has no deadline. The shim uses it to bound socket timeouts.
 */
int64_t hr_call_remaining_ns(const hr_call *call);

#endif

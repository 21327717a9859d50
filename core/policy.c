/*
 * The retry loop's decisions: which failures are retried, how long to sleep
 * and when the call's deadline ends it.
 */
#include "hiretry/policy.h"

#include <errno.h>
#include <limits.h>
#include <time.h>

#define HR_NS_PER_SEC INT64_C(1000000000)
#define HR_NS_PER_US INT64_C(1000)

static int64_t hr_saturating_add_ns(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

static int64_t hr_us_to_ns(uint64_t us)
{
    if (us > (uint64_t)(INT64_MAX / HR_NS_PER_US))
        return INT64_MAX;
    return (int64_t)us * HR_NS_PER_US;
}

static int64_t hr_monotonic_now_ns(void *arg)
{
    struct timespec now = {0, 0};

    (void)arg;
    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * HR_NS_PER_SEC + now.tv_nsec;
}

/*
 * Sleeps until an absolute end time, so that a signal handler that
 * interrupts the sleep (EINTR) neither shortens nor lengthens it. errno is
 * restored because the caller may still have to report the failure it holds.
 */
static void hr_monotonic_sleep_ns(void *arg, int64_t ns)
{
    struct timespec end = {0, 0};
    int saved_errno = errno;
    int rc;

    (void)arg;
    if (ns <= 0)
        return;

    (void)clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += ns / HR_NS_PER_SEC;
    end.tv_nsec += ns % HR_NS_PER_SEC;
    if (end.tv_nsec >= HR_NS_PER_SEC) {
        end.tv_sec++;
        end.tv_nsec -= HR_NS_PER_SEC;
    }

    do {
        rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL);
    } while (rc == EINTR);

    errno = saved_errno;
}

const hr_clock hr_monotonic_clock = {
    hr_monotonic_now_ns,
    hr_monotonic_sleep_ns,
    NULL,
};

const char *hr_verdict_name(hr_verdict verdict)
{
    switch (verdict) {
    case HR_RETRY:
        return "retry";
    case HR_GIVE_UP_NOT_RETRYABLE:
        return "not_retryable";
    case HR_GIVE_UP_PERMANENT:
        return "permanent";
    case HR_GIVE_UP_UNSAFE:
        return "unsafe";
    case HR_GIVE_UP_EXHAUSTED:
        return "exhausted";
    case HR_GIVE_UP_DEADLINE:
        return "deadline";
    case HR_GIVE_UP_BUDGET:
        return "budget";
    case HR_GIVE_UP_CIRCUIT_OPEN:
        return "circuit_open";
    }
    return "unknown";
}

bool hr_repeat_allowed(hr_writes writes, hr_repeat_safety safety,
                       bool may_have_run)
{
    if (!may_have_run)
        return true;

    switch (writes) {
    case HR_WRITES_ALL:
        return true;
    case HR_WRITES_NONE:
        return false;
    case HR_WRITES_SAFE:
        return safety == HR_REPEAT_READONLY || safety == HR_REPEAT_SAFE;
    }
    return false;
}

void hr_call_begin_at(hr_call *call, const hr_policy *policy,
                      const hr_clock *clock, int64_t start_ns)
{
    call->policy = policy;
    call->clock = clock;
    call->failures = 0;
    call->started_ns = start_ns;
    call->deadline_at_ns = 0;
    hr_backoff_reset(&call->backoff);

    if (policy->deadline_ns > 0)
        call->deadline_at_ns =
            hr_saturating_add_ns(start_ns, policy->deadline_ns);
}

void hr_call_begin(hr_call *call, const hr_policy *policy,
                   const hr_clock *clock)
{
    int64_t now = policy->deadline_ns > 0 ? clock->now_ns(clock->arg) : 0;

    hr_call_begin_at(call, policy, clock, now);
}

/* Applies the checks that do not depend on time, in the documented order. */
static hr_verdict hr_call_check_failure(const hr_call *call,
                                        const hr_failure *failure,
                                        bool repeat_allowed)
{
    const hr_policy *policy = call->policy;

    if (failure->permanent)
        return HR_GIVE_UP_PERMANENT;
    if (!hr_class_set_contains(policy->retry_on, failure->cls))
        return HR_GIVE_UP_NOT_RETRYABLE;
    if (!repeat_allowed)
        return HR_GIVE_UP_UNSAFE;

    /* N retries allow N + 1 attempts, so failure N + 1 is the last. */
    if (policy->retries >= 0 && call->failures > policy->retries)
        return HR_GIVE_UP_EXHAUSTED;
    return HR_RETRY;
}

hr_verdict hr_call_failed(hr_call *call, const hr_failure *failure,
                          bool repeat_allowed, int64_t *delay_ns)
{
    hr_verdict verdict;
    int64_t remaining;
    int64_t delay;

    *delay_ns = 0;
    if (call->failures < INT_MAX)
        call->failures++;

    verdict = hr_call_check_failure(call, failure, repeat_allowed);
    if (verdict != HR_RETRY)
        return verdict;

    delay = hr_us_to_ns(hr_backoff_delay_us(&call->policy->backoff,
                                            &call->backoff, call->failures));

    /*
     * A sleep that would end at or after the deadline gives up at once,
     * because the attempt after it could not start in time. With no time
     * left, even a delay of 0 gives up.
     */
    remaining = hr_call_remaining_ns(call);
    if (remaining >= 0 && delay >= remaining)
        return HR_GIVE_UP_DEADLINE;

    *delay_ns = delay;
    return HR_RETRY;
}

void hr_call_sleep(hr_call *call, int64_t delay_ns)
{
    if (delay_ns <= 0)
        return;
    call->clock->sleep_ns(call->clock->arg, delay_ns);
}

int64_t hr_call_remaining_ns(const hr_call *call)
{
    int64_t now;

    if (call->deadline_at_ns == 0)
        return -1;

    now = call->clock->now_ns(call->clock->arg);
    if (now >= call->deadline_at_ns)
        return 0;
    return call->deadline_at_ns - now;
}

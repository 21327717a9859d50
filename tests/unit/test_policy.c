/*
 * Tests of the retry loop. A fake operation fails a set number of times and
 * then succeeds, and a fake clock returns a counter that only advances when
 * an attempt costs time or the loop sleeps, recording every sleep. Each test
 * drives the loop exactly as the header documents it, so attempt counts,
 * sleeps and deadlines are exact. Constant backoff makes every sleep known
 * in advance. The last tests use the real monotonic clock and check only
 * lower bounds, because a loaded machine may sleep longer.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "hiretry/policy.h"
#include "hr_test.h"

#define MS INT64_C(1000000)
#define MAX_RECORDED_SLEEPS 64
#define FAIL_FOREVER INT_MAX

typedef struct fake_clock {
    int64_t now_ns;
    int sleep_count;
    int64_t slept_total_ns;
    int64_t sleeps_ns[MAX_RECORDED_SLEEPS]; /* the first sleeps, in order */
} fake_clock;

static int64_t fake_now_ns(void *arg)
{
    fake_clock *clock = arg;

    return clock->now_ns;
}

static void fake_sleep_ns(void *arg, int64_t ns)
{
    fake_clock *clock = arg;

    if (clock->sleep_count < MAX_RECORDED_SLEEPS)
        clock->sleeps_ns[clock->sleep_count] = ns;
    clock->sleep_count++;
    clock->slept_total_ns += ns;
    clock->now_ns += ns;
}

static hr_clock make_clock(fake_clock *fake)
{
    hr_clock clock = {fake_now_ns, fake_sleep_ns, fake};

    return clock;
}

/* An operation that fails failures_left times, then succeeds. */
typedef struct fake_operation {
    int failures_left;
    int64_t cost_ns; /* clock time that one attempt takes */
    int attempts;
} fake_operation;

static bool fake_attempt(fake_operation *operation, fake_clock *clock)
{
    operation->attempts++;
    clock->now_ns += operation->cost_ns;
    if (operation->failures_left > 0) {
        operation->failures_left--;
        return false;
    }
    return true;
}

typedef struct call_outcome {
    bool succeeded;
    hr_verdict verdict; /* the verdict that stopped the loop, on failure */
    int sleeps_reaching_deadline;
} call_outcome;

/* Runs the loop that policy.h documents until success or a give-up. */
static call_outcome run_call(const hr_policy *policy, fake_clock *fake,
                             fake_operation *operation,
                             const hr_failure *failure, bool repeat_allowed)
{
    call_outcome outcome = {false, HR_RETRY, 0};
    hr_clock clock = make_clock(fake);
    hr_call call;

    hr_call_begin(&call, policy, &clock);
    for (;;) {
        int64_t delay_ns = 0;

        if (fake_attempt(operation, fake)) {
            outcome.succeeded = true;
            return outcome;
        }

        outcome.verdict =
            hr_call_failed(&call, failure, repeat_allowed, &delay_ns);
        if (outcome.verdict != HR_RETRY)
            return outcome;

        hr_call_sleep(&call, delay_ns);
        if (call.deadline_at_ns != 0 && fake->now_ns >= call.deadline_at_ns)
            outcome.sleeps_reaching_deadline++;
    }
}

static hr_class_set default_retry_on(void)
{
    hr_class_set set = 0;

    set = hr_class_set_add(set, HR_CLASS_CONNECTION_ERROR);
    set = hr_class_set_add(set, HR_CLASS_TIMEOUT_ERROR);
    return set;
}

static hr_policy make_policy(int retries, hr_backoff_kind kind,
                             uint64_t base_us, int64_t deadline_ns)
{
    hr_policy policy;

    policy.retries = retries;
    policy.backoff.kind = kind;
    policy.backoff.base_us = base_us;
    policy.backoff.cap_us = 512000;
    policy.retry_on = default_retry_on();
    policy.writes = HR_WRITES_SAFE;
    policy.deadline_ns = deadline_ns;
    return policy;
}

/* Returns a policy with a constant 30 ms backoff and no deadline. */
static hr_policy constant_policy(int retries)
{
    return make_policy(retries, HR_BACKOFF_CONSTANT, 30000, 0);
}

static hr_failure make_failure(hr_class cls)
{
    hr_failure failure = {.cls = cls, .drop_connection = true};

    return failure;
}

static void test_policy_retries_zero_one_attempt(void)
{
    hr_policy policy = constant_policy(0);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {FAIL_FOREVER, 0, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_TRUE(!outcome.succeeded);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_EXHAUSTED);
    HR_ASSERT_INT_EQ(operation.attempts, 1);
    HR_ASSERT_INT_EQ(clock.sleep_count, 0);
}

static void test_policy_retries_one_two_attempts(void)
{
    hr_policy policy = constant_policy(1);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {FAIL_FOREVER, 0, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_TRUE(!outcome.succeeded);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_EXHAUSTED);
    HR_ASSERT_INT_EQ(operation.attempts, 2);
    HR_ASSERT_INT_EQ(clock.sleep_count, 1);
    HR_ASSERT_INT_EQ(clock.sleeps_ns[0], 30 * MS);
}

static void test_policy_retries_three_four_attempts(void)
{
    hr_policy policy = constant_policy(3);
    hr_failure failure = make_failure(HR_CLASS_TIMEOUT_ERROR);
    fake_operation operation = {FAIL_FOREVER, 0, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_TRUE(!outcome.succeeded);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_EXHAUSTED);
    HR_ASSERT_INT_EQ(operation.attempts, 4);
    HR_ASSERT_INT_EQ(clock.sleep_count, 3);
    for (int i = 0; i < 3; i++)
        HR_ASSERT_INT_EQ(clock.sleeps_ns[i], 30 * MS);
}

static void test_policy_no_sleep_after_last_failure(void)
{
    hr_policy policy = constant_policy(2);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {FAIL_FOREVER, 1 * MS, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    /* 3 attempts of 1 ms and 2 sleeps of 30 ms, none after the last. */
    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_EXHAUSTED);
    HR_ASSERT_INT_EQ(operation.attempts, 3);
    HR_ASSERT_INT_EQ(clock.sleep_count, 2);
    HR_ASSERT_INT_EQ(clock.now_ns, 3 * MS + 2 * 30 * MS);
}

static void test_policy_success_stops_retrying(void)
{
    hr_policy policy = constant_policy(3);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {2, 0, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_TRUE(outcome.succeeded);
    HR_ASSERT_INT_EQ(operation.attempts, 3);
    HR_ASSERT_INT_EQ(clock.sleep_count, 2);
}

static void test_policy_success_on_last_attempt(void)
{
    hr_policy policy = constant_policy(3);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {3, 0, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_TRUE(outcome.succeeded);
    HR_ASSERT_INT_EQ(operation.attempts, 4);
    HR_ASSERT_INT_EQ(clock.sleep_count, 3);
}

static void test_policy_negative_retries_forever(void)
{
    hr_policy policy = constant_policy(-1);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {10000, 0, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_TRUE(outcome.succeeded);
    HR_ASSERT_INT_EQ(operation.attempts, 10001);
    HR_ASSERT_INT_EQ(clock.sleep_count, 10000);
    HR_ASSERT_INT_EQ(clock.slept_total_ns, 10000 * 30 * MS);
}

/* The first sleep is computed for failure 1, so it is base * 2, not base. */
static void test_policy_sleeps_follow_exponential(void)
{
    static const int64_t expected_ms[] = {16, 32, 64, 128, 256, 512, 512, 512};
    hr_policy policy = make_policy(8, HR_BACKOFF_EXPONENTIAL, 8000, 0);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {FAIL_FOREVER, 0, 0};
    fake_clock clock = {0};

    (void)run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_INT_EQ(operation.attempts, 9);
    HR_ASSERT_INT_EQ(clock.sleep_count, 8);
    for (int i = 0; i < 8; i++)
        HR_ASSERT_INT_EQ(clock.sleeps_ns[i], expected_ms[i] * MS);
}

static void test_policy_not_retryable_stops(void)
{
    hr_policy policy = constant_policy(3);
    hr_failure failure = make_failure(HR_CLASS_RESPONSE_ERROR);
    fake_operation operation = {FAIL_FOREVER, 0, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_NOT_RETRYABLE);
    HR_ASSERT_INT_EQ(operation.attempts, 1);
    HR_ASSERT_INT_EQ(clock.sleep_count, 0);
}

/* retry_on is expanded, so a subclass of ConnectionError is retried. */
static void test_policy_subclass_retried(void)
{
    hr_policy policy = constant_policy(2);
    hr_failure failure = make_failure(HR_CLASS_BUSY_LOADING_ERROR);
    fake_operation operation = {FAIL_FOREVER, 0, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_EXHAUSTED);
    HR_ASSERT_INT_EQ(operation.attempts, 3);
}

static void test_policy_permanent_stops(void)
{
    hr_policy policy = constant_policy(3);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {FAIL_FOREVER, 0, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    failure.permanent = true;
    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_PERMANENT);
    HR_ASSERT_INT_EQ(operation.attempts, 1);
    HR_ASSERT_INT_EQ(clock.sleep_count, 0);
}

static void test_policy_repeat_not_allowed_stops(void)
{
    hr_policy policy = constant_policy(3);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {FAIL_FOREVER, 0, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, false);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_UNSAFE);
    HR_ASSERT_INT_EQ(operation.attempts, 1);
    HR_ASSERT_INT_EQ(clock.sleep_count, 0);
}

/*
 * Each row makes every check from its expected verdict onward fail, so the
 * verdict shows which check runs first: permanent, class, repeat, retries,
 * deadline.
 */
static void test_policy_check_order(void)
{
    static const struct {
        bool permanent;
        hr_class cls;
        bool repeat_allowed;
        int retries;
        int64_t cost_ns; /* the attempt's cost; 200 ms passes the deadline */
        hr_verdict expected;
    } cases[] = {
        {true, HR_CLASS_RESPONSE_ERROR, false, 0, 200 * MS,
         HR_GIVE_UP_PERMANENT},
        {false, HR_CLASS_RESPONSE_ERROR, false, 0, 200 * MS,
         HR_GIVE_UP_NOT_RETRYABLE},
        {false, HR_CLASS_CONNECTION_ERROR, false, 0, 200 * MS,
         HR_GIVE_UP_UNSAFE},
        {false, HR_CLASS_CONNECTION_ERROR, true, 0, 200 * MS,
         HR_GIVE_UP_EXHAUSTED},
        {false, HR_CLASS_CONNECTION_ERROR, true, 1, 200 * MS,
         HR_GIVE_UP_DEADLINE},
        {false, HR_CLASS_CONNECTION_ERROR, true, 1, 0, HR_RETRY},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hr_policy policy =
            make_policy(cases[i].retries, HR_BACKOFF_NONE, 0, 100 * MS);
        hr_failure failure = make_failure(cases[i].cls);
        fake_clock fake = {0};
        hr_clock clock = make_clock(&fake);
        int64_t delay_ns = -1;
        hr_verdict verdict;
        hr_call call;

        failure.permanent = cases[i].permanent;
        hr_call_begin(&call, &policy, &clock);
        fake.now_ns += cases[i].cost_ns;
        verdict =
            hr_call_failed(&call, &failure, cases[i].repeat_allowed, &delay_ns);
        HR_ASSERT_INT_EQ(verdict, cases[i].expected);
        HR_ASSERT_INT_EQ(delay_ns, 0);
    }
}

/*
 * Attempts take no time. Failures at 0, 30 and 60 ms sleep 30 ms each. The
 * failure at 90 ms gives up because its sleep would end at 120 ms.
 */
static void test_policy_deadline_cuts_off(void)
{
    hr_policy policy = make_policy(-1, HR_BACKOFF_CONSTANT, 30000, 100 * MS);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {FAIL_FOREVER, 0, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_DEADLINE);
    HR_ASSERT_INT_EQ(operation.attempts, 4);
    HR_ASSERT_INT_EQ(clock.sleep_count, 3);
    HR_ASSERT_INT_EQ(outcome.sleeps_reaching_deadline, 0);
    HR_ASSERT_INT_EQ(clock.now_ns, 90 * MS);
}

/* A sleep that would end exactly at the deadline is not taken either. */
static void test_policy_deadline_sleep_reaching_it(void)
{
    hr_policy policy = make_policy(-1, HR_BACKOFF_CONSTANT, 30000, 90 * MS);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {FAIL_FOREVER, 0, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_DEADLINE);
    HR_ASSERT_INT_EQ(operation.attempts, 3);
    HR_ASSERT_INT_EQ(clock.sleep_count, 2);
    HR_ASSERT_INT_EQ(outcome.sleeps_reaching_deadline, 0);
}

/*
 * Attempts take 5 ms. Failures at 5 and 40 ms sleep, and the failure at
 * 75 ms gives up because only 25 ms are left for a 30 ms sleep.
 */
static void test_policy_deadline_counts_attempt_time(void)
{
    hr_policy policy = make_policy(-1, HR_BACKOFF_CONSTANT, 30000, 100 * MS);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {FAIL_FOREVER, 5 * MS, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_DEADLINE);
    HR_ASSERT_INT_EQ(operation.attempts, 3);
    HR_ASSERT_INT_EQ(clock.sleep_count, 2);
    HR_ASSERT_INT_EQ(clock.now_ns, 75 * MS);
}

/*
 * Without backoff, attempts of 40 ms fail at 40, 80 and 120 ms. The last
 * failure is recorded at the 120 ms deadline, so it gives up.
 */
static void test_policy_deadline_failure_after_it(void)
{
    hr_policy policy = make_policy(-1, HR_BACKOFF_NONE, 0, 120 * MS);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {FAIL_FOREVER, 40 * MS, 0};
    fake_clock clock = {0};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_DEADLINE);
    HR_ASSERT_INT_EQ(operation.attempts, 3);
    HR_ASSERT_INT_EQ(clock.sleep_count, 0);
}

/* The deadline starts at hr_call_begin, not at the clock's zero. */
static void test_policy_deadline_from_begin(void)
{
    hr_policy policy = make_policy(-1, HR_BACKOFF_CONSTANT, 30000, 100 * MS);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_operation operation = {FAIL_FOREVER, 0, 0};
    fake_clock clock = {5000 * MS, 0, 0, {0}};
    call_outcome outcome;

    outcome = run_call(&policy, &clock, &operation, &failure, true);
    HR_ASSERT_INT_EQ(outcome.verdict, HR_GIVE_UP_DEADLINE);
    HR_ASSERT_INT_EQ(operation.attempts, 4);
    HR_ASSERT_INT_EQ(clock.now_ns, 5090 * MS);
}

static void test_policy_remaining_ns(void)
{
    hr_policy policy = make_policy(3, HR_BACKOFF_CONSTANT, 30000, 100 * MS);
    fake_clock fake = {1000, 0, 0, {0}};
    hr_clock clock = make_clock(&fake);
    hr_call call;

    hr_call_begin(&call, &policy, &clock);
    HR_ASSERT_INT_EQ(call.deadline_at_ns, 1000 + 100 * MS);
    HR_ASSERT_INT_EQ(hr_call_remaining_ns(&call), 100 * MS);

    fake.now_ns += 40 * MS;
    HR_ASSERT_INT_EQ(hr_call_remaining_ns(&call), 60 * MS);

    fake.now_ns += 60 * MS - 1;
    HR_ASSERT_INT_EQ(hr_call_remaining_ns(&call), 1);

    fake.now_ns += 1;
    HR_ASSERT_INT_EQ(hr_call_remaining_ns(&call), 0);

    fake.now_ns += 1000 * MS;
    HR_ASSERT_INT_EQ(hr_call_remaining_ns(&call), 0);
}

/* A call started late keeps the deadline of the moment it began. */
static void test_policy_begin_at_counts_from_start(void)
{
    hr_policy policy = make_policy(3, HR_BACKOFF_CONSTANT, 30000, 100 * MS);
    fake_clock fake = {1000 + 30 * MS, 0, 0, {0}};
    hr_clock clock = make_clock(&fake);
    hr_call call;

    hr_call_begin_at(&call, &policy, &clock, 1000);
    HR_ASSERT_INT_EQ(call.deadline_at_ns, 1000 + 100 * MS);
    HR_ASSERT_INT_EQ(hr_call_remaining_ns(&call), 70 * MS);
    HR_ASSERT_INT_EQ(call.failures, 0);
}

static void test_policy_remaining_without_deadline(void)
{
    hr_policy policy = constant_policy(3);
    fake_clock fake = {1000, 0, 0, {0}};
    hr_clock clock = make_clock(&fake);
    hr_call call;

    hr_call_begin(&call, &policy, &clock);
    HR_ASSERT_INT_EQ(call.deadline_at_ns, 0);
    HR_ASSERT_INT_EQ(hr_call_remaining_ns(&call), -1);

    fake.now_ns = INT64_MAX;
    HR_ASSERT_INT_EQ(hr_call_remaining_ns(&call), -1);
}

static void test_policy_deadline_saturates(void)
{
    hr_policy policy = make_policy(3, HR_BACKOFF_NONE, 0, INT64_MAX);
    fake_clock fake = {INT64_MAX - 10, 0, 0, {0}};
    hr_clock clock = make_clock(&fake);
    hr_call call;

    hr_call_begin(&call, &policy, &clock);
    HR_ASSERT_INT_EQ(call.deadline_at_ns, INT64_MAX);
    HR_ASSERT_INT_EQ(hr_call_remaining_ns(&call), 10);
}

static void test_policy_failure_count_saturates(void)
{
    hr_policy policy = make_policy(-1, HR_BACKOFF_EXPONENTIAL, 8000, 0);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_clock fake = {0};
    hr_clock clock = make_clock(&fake);
    int64_t delay_ns = 0;
    hr_call call;

    hr_call_begin(&call, &policy, &clock);
    call.failures = INT_MAX - 1;
    for (int i = 0; i < 2; i++) {
        HR_ASSERT_INT_EQ(hr_call_failed(&call, &failure, true, &delay_ns),
                         HR_RETRY);
        HR_ASSERT_INT_EQ(call.failures, INT_MAX);
        HR_ASSERT_INT_EQ(delay_ns, 512 * MS);
    }
}

/* A delay of UINT64_MAX us saturates at INT64_MAX ns instead of wrapping. */
static void test_policy_huge_delay_saturates(void)
{
    hr_policy policy = make_policy(-1, HR_BACKOFF_CONSTANT, UINT64_MAX, 0);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_clock fake = {0};
    hr_clock clock = make_clock(&fake);
    int64_t delay_ns = 0;
    hr_call call;

    hr_call_begin(&call, &policy, &clock);
    HR_ASSERT_INT_EQ(hr_call_failed(&call, &failure, true, &delay_ns),
                     HR_RETRY);
    HR_ASSERT_INT_EQ(delay_ns, INT64_MAX);

    policy.deadline_ns = 1000 * MS;
    hr_call_begin(&call, &policy, &clock);
    HR_ASSERT_INT_EQ(hr_call_failed(&call, &failure, true, &delay_ns),
                     HR_GIVE_UP_DEADLINE);
    HR_ASSERT_INT_EQ(delay_ns, 0);
}

static void test_policy_begin_resets_call(void)
{
    hr_policy policy =
        make_policy(5, HR_BACKOFF_DECORRELATED_JITTER, 8000, 100 * MS);
    hr_failure failure = make_failure(HR_CLASS_CONNECTION_ERROR);
    fake_clock fake = {0};
    hr_clock clock = make_clock(&fake);
    int64_t delay_ns = 0;
    hr_call call;

    hr_call_begin(&call, &policy, &clock);
    (void)hr_call_failed(&call, &failure, true, &delay_ns);
    (void)hr_call_failed(&call, &failure, true, &delay_ns);
    HR_ASSERT_INT_EQ(call.failures, 2);
    HR_ASSERT_TRUE(call.backoff.previous_us != 0);

    fake.now_ns = 700 * MS;
    hr_call_begin(&call, &policy, &clock);
    HR_ASSERT_INT_EQ(call.failures, 0);
    HR_ASSERT_UINT_EQ(call.backoff.previous_us, 0);
    HR_ASSERT_INT_EQ(call.deadline_at_ns, 800 * MS);
}

static void test_policy_call_sleep_skips_non_positive(void)
{
    hr_policy policy = constant_policy(3);
    fake_clock fake = {0};
    hr_clock clock = make_clock(&fake);
    hr_call call;

    hr_call_begin(&call, &policy, &clock);
    hr_call_sleep(&call, 0);
    hr_call_sleep(&call, -5);
    HR_ASSERT_INT_EQ(fake.sleep_count, 0);

    hr_call_sleep(&call, 7);
    HR_ASSERT_INT_EQ(fake.sleep_count, 1);
    HR_ASSERT_INT_EQ(fake.sleeps_ns[0], 7);
}

static void test_policy_repeat_allowed_table(void)
{
    static const struct {
        hr_writes writes;
        hr_repeat_safety safety;
        bool may_have_run;
        bool expected;
    } cases[] = {
        {HR_WRITES_SAFE, HR_REPEAT_UNSAFE, false, true},
        {HR_WRITES_SAFE, HR_REPEAT_READONLY, false, true},
        {HR_WRITES_SAFE, HR_REPEAT_SAFE, false, true},
        {HR_WRITES_ALL, HR_REPEAT_UNSAFE, false, true},
        {HR_WRITES_ALL, HR_REPEAT_READONLY, false, true},
        {HR_WRITES_ALL, HR_REPEAT_SAFE, false, true},
        {HR_WRITES_NONE, HR_REPEAT_UNSAFE, false, true},
        {HR_WRITES_NONE, HR_REPEAT_READONLY, false, true},
        {HR_WRITES_NONE, HR_REPEAT_SAFE, false, true},
        {HR_WRITES_SAFE, HR_REPEAT_UNSAFE, true, false},
        {HR_WRITES_SAFE, HR_REPEAT_READONLY, true, true},
        {HR_WRITES_SAFE, HR_REPEAT_SAFE, true, true},
        {HR_WRITES_ALL, HR_REPEAT_UNSAFE, true, true},
        {HR_WRITES_ALL, HR_REPEAT_READONLY, true, true},
        {HR_WRITES_ALL, HR_REPEAT_SAFE, true, true},
        {HR_WRITES_NONE, HR_REPEAT_UNSAFE, true, false},
        {HR_WRITES_NONE, HR_REPEAT_READONLY, true, false},
        {HR_WRITES_NONE, HR_REPEAT_SAFE, true, false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool allowed = hr_repeat_allowed(cases[i].writes, cases[i].safety,
                                         cases[i].may_have_run);

        if (allowed != cases[i].expected)
            printf("row %zu: writes %d, safety %d, may_have_run %d\n", i,
                   (int)cases[i].writes, (int)cases[i].safety,
                   (int)cases[i].may_have_run);
        HR_ASSERT_INT_EQ(allowed, cases[i].expected);
    }
}

static void test_policy_verdict_names(void)
{
    HR_ASSERT_STR_EQ(hr_verdict_name(HR_RETRY), "retry");
    HR_ASSERT_STR_EQ(hr_verdict_name(HR_GIVE_UP_NOT_RETRYABLE),
                     "not_retryable");
    HR_ASSERT_STR_EQ(hr_verdict_name(HR_GIVE_UP_PERMANENT), "permanent");
    HR_ASSERT_STR_EQ(hr_verdict_name(HR_GIVE_UP_UNSAFE), "unsafe");
    HR_ASSERT_STR_EQ(hr_verdict_name(HR_GIVE_UP_EXHAUSTED), "exhausted");
    HR_ASSERT_STR_EQ(hr_verdict_name(HR_GIVE_UP_DEADLINE), "deadline");
    HR_ASSERT_STR_EQ(hr_verdict_name((hr_verdict)99), "unknown");
}

static void test_policy_monotonic_now_advances(void)
{
    const hr_clock *clock = &hr_monotonic_clock;
    int64_t first = clock->now_ns(clock->arg);
    int64_t second = clock->now_ns(clock->arg);

    HR_ASSERT_TRUE(first > 0);
    HR_ASSERT_TRUE(second >= first);
}

static void test_policy_monotonic_sleep_lower_bound(void)
{
    const hr_clock *clock = &hr_monotonic_clock;
    int64_t before;
    int64_t elapsed;

    before = clock->now_ns(clock->arg);
    errno = 4321;
    clock->sleep_ns(clock->arg, 2 * MS);
    HR_ASSERT_INT_EQ(errno, 4321);
    elapsed = clock->now_ns(clock->arg) - before;

    HR_ASSERT_UINT_IN(elapsed, 2 * MS, INT64_MAX);
}

static void test_policy_call_sleep_real_clock(void)
{
    hr_policy policy = constant_policy(3);
    hr_call call;
    int64_t before;
    int64_t elapsed;

    hr_call_begin(&call, &policy, &hr_monotonic_clock);
    before = hr_monotonic_clock.now_ns(NULL);
    hr_call_sleep(&call, 2 * MS);
    elapsed = hr_monotonic_clock.now_ns(NULL) - before;

    HR_ASSERT_UINT_IN(elapsed, 2 * MS, INT64_MAX);
}

static CU_TestInfo tests[] = {
    {"test_policy_retries_zero_one_attempt",
     test_policy_retries_zero_one_attempt},
    {"test_policy_retries_one_two_attempts",
     test_policy_retries_one_two_attempts},
    {"test_policy_retries_three_four_attempts",
     test_policy_retries_three_four_attempts},
    {"test_policy_no_sleep_after_last_failure",
     test_policy_no_sleep_after_last_failure},
    {"test_policy_success_stops_retrying", test_policy_success_stops_retrying},
    {"test_policy_success_on_last_attempt",
     test_policy_success_on_last_attempt},
    {"test_policy_negative_retries_forever",
     test_policy_negative_retries_forever},
    {"test_policy_sleeps_follow_exponential",
     test_policy_sleeps_follow_exponential},
    {"test_policy_not_retryable_stops", test_policy_not_retryable_stops},
    {"test_policy_subclass_retried", test_policy_subclass_retried},
    {"test_policy_permanent_stops", test_policy_permanent_stops},
    {"test_policy_repeat_not_allowed_stops",
     test_policy_repeat_not_allowed_stops},
    {"test_policy_check_order", test_policy_check_order},
    {"test_policy_deadline_cuts_off", test_policy_deadline_cuts_off},
    {"test_policy_deadline_sleep_reaching_it",
     test_policy_deadline_sleep_reaching_it},
    {"test_policy_deadline_counts_attempt_time",
     test_policy_deadline_counts_attempt_time},
    {"test_policy_deadline_failure_after_it",
     test_policy_deadline_failure_after_it},
    {"test_policy_deadline_from_begin", test_policy_deadline_from_begin},
    {"test_policy_remaining_ns", test_policy_remaining_ns},
    {"test_policy_begin_at_counts_from_start",
     test_policy_begin_at_counts_from_start},
    {"test_policy_remaining_without_deadline",
     test_policy_remaining_without_deadline},
    {"test_policy_deadline_saturates", test_policy_deadline_saturates},
    {"test_policy_failure_count_saturates",
     test_policy_failure_count_saturates},
    {"test_policy_huge_delay_saturates", test_policy_huge_delay_saturates},
    {"test_policy_begin_resets_call", test_policy_begin_resets_call},
    {"test_policy_call_sleep_skips_non_positive",
     test_policy_call_sleep_skips_non_positive},
    {"test_policy_repeat_allowed_table", test_policy_repeat_allowed_table},
    {"test_policy_verdict_names", test_policy_verdict_names},
    {"test_policy_monotonic_now_advances", test_policy_monotonic_now_advances},
    {"test_policy_monotonic_sleep_lower_bound",
     test_policy_monotonic_sleep_lower_bound},
    {"test_policy_call_sleep_real_clock", test_policy_call_sleep_real_clock},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_test_run("policy", tests);
}

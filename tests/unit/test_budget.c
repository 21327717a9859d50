/*
 * Tests of the retry budget and the circuit breaker arithmetic. Both take
 * the clock time as an argument, so each test moves a plain int64_t clock
 * by hand and checks token counts, refusals and state changes exactly. The
 * breaker's jitter is an argument too: the tests pass 0, the largest
 * value that still counts, and extremes.
 */
#include <stdint.h>

#include "hiretry/budget.h"
#include "hr_test.h"

#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)

static hr_budget_config budget_config(int64_t capacity, int64_t floor)
{
    hr_budget_config config = {
        .enabled = true,
        .ratio_milli = 100,
        .capacity = capacity,
        .floor_per_sec = floor,
    };

    return config;
}

/* Withdraws until the first refusal at now_ns; returns the withdrawals. */
static int drain(hr_budget *budget, const hr_budget_config *config,
                 int64_t now_ns)
{
    int withdrawals = 0;

    while (withdrawals < 1000000 && hr_budget_withdraw(budget, config, now_ns))
        withdrawals++;
    return withdrawals;
}

static void test_budget_starts_full(void)
{
    hr_budget_config config = budget_config(10, 2);
    hr_budget budget;

    hr_budget_init(&budget, &config, 0);

    HR_ASSERT_INT_EQ(budget.tokens_milli, 10 * HR_BUDGET_MILLI);
    HR_ASSERT_INT_EQ(budget.floor_milli, 2 * HR_BUDGET_MILLI);
    HR_ASSERT_TRUE(hr_budget_full(&budget, &config));
    /* The floor's second and the bucket's capacity, then a refusal. */
    HR_ASSERT_INT_EQ(drain(&budget, &config, 0), 12);
    HR_ASSERT_UINT_EQ(budget.allowed, 12);
    HR_ASSERT_UINT_EQ(budget.refused, 1);
}

static void test_budget_floor_spent_first(void)
{
    hr_budget_config config = budget_config(10, 2);
    hr_budget budget;

    hr_budget_init(&budget, &config, 0);
    HR_ASSERT_TRUE(hr_budget_withdraw(&budget, &config, 0));
    HR_ASSERT_TRUE(hr_budget_withdraw(&budget, &config, 0));

    HR_ASSERT_INT_EQ(budget.floor_milli, 0);
    HR_ASSERT_INT_EQ(budget.tokens_milli, 10 * HR_BUDGET_MILLI);
    HR_ASSERT_TRUE(hr_budget_withdraw(&budget, &config, 0));
    HR_ASSERT_INT_EQ(budget.tokens_milli, 9 * HR_BUDGET_MILLI);
}

static void test_budget_floor_rate(void)
{
    hr_budget_config config = budget_config(10, 2);
    hr_budget budget;
    int64_t now = 0;
    int allowed = 0;

    hr_budget_init(&budget, &config, now);
    (void)drain(&budget, &config, now);

    /* An empty budget allows floor_per_sec retries a second, no more. */
    for (int i = 0; i < 10000; i++) {
        now += MS;
        if (hr_budget_withdraw(&budget, &config, now))
            allowed++;
    }
    HR_ASSERT_INT_EQ(allowed, 20);
}

static void test_budget_floor_busy_caller(void)
{
    hr_budget_config config = budget_config(1, 1);
    hr_budget budget;
    int64_t now = 0;
    int allowed = 0;

    hr_budget_init(&budget, &config, now);
    (void)drain(&budget, &config, now);

    /* Calls every 100 us credit less than a thousandth of a token each,
       and the floor must still refill. */
    for (int i = 0; i < 30000; i++) {
        now += 100 * 1000;
        if (hr_budget_withdraw(&budget, &config, now))
            allowed++;
    }
    HR_ASSERT_INT_EQ(allowed, 3);
}

static void test_budget_floor_keeps_fractions(void)
{
    hr_budget_config config = budget_config(1, 2);
    hr_budget budget;
    int64_t now = 0;
    int allowed = 0;

    hr_budget_init(&budget, &config, now);
    (void)drain(&budget, &config, now);

    /* Every 1.7 ms credits 3.4 thousandths: the 0.4 must carry over. */
    for (int i = 0; i < 10000; i++) {
        now += 1700 * 1000;
        if (hr_budget_withdraw(&budget, &config, now))
            allowed++;
    }
    HR_ASSERT_INT_EQ(allowed, 34);
}

static void test_budget_floor_holds_one_second(void)
{
    hr_budget_config config = budget_config(1, 5);
    hr_budget budget;

    hr_budget_init(&budget, &config, 0);
    (void)drain(&budget, &config, 0);

    /* An hour of quiet refills one second's worth, not 18000 tokens. */
    HR_ASSERT_INT_EQ(drain(&budget, &config, 3600 * SEC), 5);
}

static void test_budget_floor_zero(void)
{
    hr_budget_config config = budget_config(3, 0);
    hr_budget budget;

    hr_budget_init(&budget, &config, 0);

    HR_ASSERT_INT_EQ(drain(&budget, &config, 0), 3);
    HR_ASSERT_INT_EQ(drain(&budget, &config, 3600 * SEC), 0);
}

static void test_budget_credit_ratio(void)
{
    hr_budget_config config = budget_config(10, 0);
    hr_budget budget;

    hr_budget_init(&budget, &config, 0);
    (void)drain(&budget, &config, 0);

    hr_budget_credit(&budget, &config, 9);
    HR_ASSERT_INT_EQ(budget.tokens_milli, 900);
    HR_ASSERT_TRUE(!hr_budget_withdraw(&budget, &config, 0));

    hr_budget_credit(&budget, &config, 1);
    HR_ASSERT_TRUE(hr_budget_withdraw(&budget, &config, 0));
    HR_ASSERT_INT_EQ(budget.tokens_milli, 0);
}

static void test_budget_credit_capped(void)
{
    hr_budget_config config = budget_config(10, 0);
    hr_budget budget;

    hr_budget_init(&budget, &config, 0);
    (void)drain(&budget, &config, 0);

    hr_budget_credit(&budget, &config, UINT64_MAX);
    HR_ASSERT_INT_EQ(budget.tokens_milli, 10 * HR_BUDGET_MILLI);
    HR_ASSERT_TRUE(hr_budget_full(&budget, &config));
}

static void test_budget_credit_ratio_zero(void)
{
    hr_budget_config config = budget_config(10, 0);
    hr_budget budget;

    config.ratio_milli = 0;
    hr_budget_init(&budget, &config, 0);
    (void)drain(&budget, &config, 0);

    hr_budget_credit(&budget, &config, 1000000);
    HR_ASSERT_INT_EQ(budget.tokens_milli, 0);
}

static void test_budget_refund(void)
{
    hr_budget_config config = budget_config(2, 0);
    hr_budget budget;

    hr_budget_init(&budget, &config, 0);
    HR_ASSERT_TRUE(hr_budget_withdraw(&budget, &config, 0));
    HR_ASSERT_TRUE(!hr_budget_full(&budget, &config));

    hr_budget_refund(&budget, &config);
    HR_ASSERT_TRUE(hr_budget_full(&budget, &config));
    hr_budget_refund(&budget, &config);
    HR_ASSERT_INT_EQ(budget.tokens_milli, 2 * HR_BUDGET_MILLI);
}

static void test_budget_disabled_allows_all(void)
{
    hr_budget_config config = budget_config(1, 0);
    hr_budget budget;

    config.enabled = false;
    hr_budget_init(&budget, &config, 0);

    HR_ASSERT_INT_EQ(drain(&budget, &config, 0), 1000000);
    HR_ASSERT_UINT_EQ(budget.refused, 0);
}

static void test_budget_large_values(void)
{
    hr_budget_config config = budget_config(1000000, HR_BUDGET_FLOOR_MAX);
    hr_budget budget;

    hr_budget_init(&budget, &config, INT64_MAX - SEC);
    HR_ASSERT_INT_EQ(budget.floor_milli, HR_BUDGET_FLOOR_MAX * HR_BUDGET_MILLI);

    /* A clock that moves back refills nothing. */
    budget.floor_milli = 0;
    HR_ASSERT_TRUE(hr_budget_withdraw(&budget, &config, 0));
    HR_ASSERT_INT_EQ(budget.floor_milli, 0);
    HR_ASSERT_INT_EQ(budget.tokens_milli, 999999 * HR_BUDGET_MILLI);

    HR_ASSERT_TRUE(hr_budget_withdraw(&budget, &config, INT64_MAX));
    HR_ASSERT_INT_EQ(budget.floor_milli,
                     (HR_BUDGET_FLOOR_MAX - 1) * HR_BUDGET_MILLI);
}

static hr_breaker_config breaker_config(int failures, int64_t cooldown_ns)
{
    hr_breaker_config config = {failures, cooldown_ns};

    return config;
}

/* Records failures at now_ns; returns how many of them opened the circuit. */
static int fail(hr_breaker *breaker, const hr_breaker_config *config, int count,
                int64_t now_ns)
{
    int opened = 0;

    for (int i = 0; i < count; i++)
        opened += hr_breaker_failure(breaker, config, now_ns, 0);
    return opened;
}

static void test_breaker_off_passes(void)
{
    hr_breaker_config config = breaker_config(0, SEC);
    hr_breaker breaker;

    hr_breaker_init(&breaker);

    HR_ASSERT_INT_EQ(fail(&breaker, &config, 1000, 0), 0);
    HR_ASSERT_INT_EQ(breaker.state, HR_BREAKER_CLOSED);
    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, 0), HR_BREAKER_PASS);
}

static void test_breaker_opens_at_threshold(void)
{
    hr_breaker_config config = breaker_config(5, SEC);
    hr_breaker breaker;

    hr_breaker_init(&breaker);

    HR_ASSERT_INT_EQ(fail(&breaker, &config, 4, 0), 0);
    HR_ASSERT_INT_EQ(breaker.state, HR_BREAKER_CLOSED);
    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, 0), HR_BREAKER_PASS);
    HR_ASSERT_INT_EQ(fail(&breaker, &config, 1, 0), 1);
    HR_ASSERT_INT_EQ(breaker.state, HR_BREAKER_OPEN);
    HR_ASSERT_UINT_EQ(breaker.opened, 1);
}

static void test_breaker_success_ends_run(void)
{
    hr_breaker_config config = breaker_config(3, SEC);
    hr_breaker breaker;

    hr_breaker_init(&breaker);
    (void)fail(&breaker, &config, 2, 0);

    HR_ASSERT_TRUE(!hr_breaker_success(&breaker));
    HR_ASSERT_INT_EQ(breaker.failures, 0);
    HR_ASSERT_INT_EQ(fail(&breaker, &config, 2, 0), 0);
    HR_ASSERT_INT_EQ(breaker.state, HR_BREAKER_CLOSED);
}

static void test_breaker_rejects_cooldown(void)
{
    hr_breaker_config config = breaker_config(1, SEC);
    hr_breaker breaker;

    hr_breaker_init(&breaker);
    (void)fail(&breaker, &config, 1, 10 * SEC);

    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, 10 * SEC),
                     HR_BREAKER_REJECT);
    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, 11 * SEC - 1),
                     HR_BREAKER_REJECT);
    HR_ASSERT_UINT_EQ(breaker.rejected, 2);
    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, 11 * SEC),
                     HR_BREAKER_PROBE);
    HR_ASSERT_INT_EQ(breaker.state, HR_BREAKER_HALF_OPEN);
}

static void test_breaker_cooldown_jitter(void)
{
    hr_breaker_config config = breaker_config(1, SEC);
    hr_breaker breaker;

    /* random % (cooldown / 2 + 1): 0 adds nothing, cooldown / 2 the most. */
    hr_breaker_init(&breaker);
    (void)hr_breaker_failure(&breaker, &config, 0, SEC / 2);
    HR_ASSERT_INT_EQ(breaker.until_ns, SEC + SEC / 2);

    hr_breaker_init(&breaker);
    (void)hr_breaker_failure(&breaker, &config, 0, SEC / 2 + 1);
    HR_ASSERT_INT_EQ(breaker.until_ns, SEC);

    hr_breaker_init(&breaker);
    (void)hr_breaker_failure(&breaker, &config, 0, UINT64_MAX);
    HR_ASSERT_UINT_IN(breaker.until_ns, SEC, SEC + SEC / 2);
}

static void test_breaker_probe_success_closes(void)
{
    hr_breaker_config config = breaker_config(2, SEC);
    hr_breaker breaker;

    hr_breaker_init(&breaker);
    (void)fail(&breaker, &config, 2, 0);
    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, SEC),
                     HR_BREAKER_PROBE);

    HR_ASSERT_TRUE(hr_breaker_success(&breaker));
    HR_ASSERT_INT_EQ(breaker.state, HR_BREAKER_CLOSED);
    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, SEC), HR_BREAKER_PASS);
    /* A new run needs the whole threshold again. */
    HR_ASSERT_INT_EQ(fail(&breaker, &config, 1, SEC), 0);
}

static void test_breaker_probe_failure_reopens(void)
{
    hr_breaker_config config = breaker_config(5, SEC);
    hr_breaker breaker;

    hr_breaker_init(&breaker);
    (void)fail(&breaker, &config, 5, 0);
    (void)hr_breaker_admit(&breaker, &config, SEC);

    /* One failure of the probe is enough, whatever the threshold. */
    HR_ASSERT_INT_EQ(fail(&breaker, &config, 1, 2 * SEC), 1);
    HR_ASSERT_INT_EQ(breaker.state, HR_BREAKER_OPEN);
    HR_ASSERT_UINT_EQ(breaker.opened, 2);
    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, 3 * SEC - 1),
                     HR_BREAKER_REJECT);
    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, 3 * SEC),
                     HR_BREAKER_PROBE);
}

static void test_breaker_one_probe_at_a_time(void)
{
    hr_breaker_config config = breaker_config(1, SEC);
    hr_breaker breaker;

    hr_breaker_init(&breaker);
    (void)fail(&breaker, &config, 1, 0);
    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, SEC),
                     HR_BREAKER_PROBE);

    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, SEC),
                     HR_BREAKER_REJECT);
    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, 2 * SEC - 1),
                     HR_BREAKER_REJECT);
    /* The probe never reported: after one more cool-down, another goes. */
    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, 2 * SEC),
                     HR_BREAKER_PROBE);
}

static void test_breaker_open_not_extended(void)
{
    hr_breaker_config config = breaker_config(1, SEC);
    hr_breaker breaker;

    hr_breaker_init(&breaker);
    (void)fail(&breaker, &config, 1, 0);

    HR_ASSERT_INT_EQ(fail(&breaker, &config, 100, SEC / 2), 0);
    HR_ASSERT_INT_EQ(breaker.until_ns, SEC);
    HR_ASSERT_UINT_EQ(breaker.opened, 1);
}

static void test_breaker_extreme_times(void)
{
    hr_breaker_config config = breaker_config(1, 3600 * SEC);
    hr_breaker breaker;

    hr_breaker_init(&breaker);
    (void)hr_breaker_failure(&breaker, &config, INT64_MAX - SEC, UINT64_MAX);

    HR_ASSERT_INT_EQ(breaker.until_ns, INT64_MAX);
    HR_ASSERT_INT_EQ(hr_breaker_admit(&breaker, &config, INT64_MAX - 1),
                     HR_BREAKER_REJECT);
}

static void test_breaker_state_names(void)
{
    HR_ASSERT_STR_EQ(hr_breaker_state_name(HR_BREAKER_CLOSED), "closed");
    HR_ASSERT_STR_EQ(hr_breaker_state_name(HR_BREAKER_OPEN), "open");
    HR_ASSERT_STR_EQ(hr_breaker_state_name(HR_BREAKER_HALF_OPEN), "half_open");
    HR_ASSERT_STR_EQ(hr_breaker_state_name((hr_breaker_state)42), "unknown");
}

static const CU_TestInfo tests[] = {
    {"budget_starts_full", test_budget_starts_full},
    {"budget_floor_spent_first", test_budget_floor_spent_first},
    {"budget_floor_rate", test_budget_floor_rate},
    {"budget_floor_busy_caller", test_budget_floor_busy_caller},
    {"budget_floor_keeps_fractions", test_budget_floor_keeps_fractions},
    {"budget_floor_holds_one_second", test_budget_floor_holds_one_second},
    {"budget_floor_zero", test_budget_floor_zero},
    {"budget_credit_ratio", test_budget_credit_ratio},
    {"budget_credit_capped", test_budget_credit_capped},
    {"budget_credit_ratio_zero", test_budget_credit_ratio_zero},
    {"budget_refund", test_budget_refund},
    {"budget_disabled_allows_all", test_budget_disabled_allows_all},
    {"budget_large_values", test_budget_large_values},
    {"breaker_off_passes", test_breaker_off_passes},
    {"breaker_opens_at_threshold", test_breaker_opens_at_threshold},
    {"breaker_success_ends_run", test_breaker_success_ends_run},
    {"breaker_rejects_cooldown", test_breaker_rejects_cooldown},
    {"breaker_cooldown_jitter", test_breaker_cooldown_jitter},
    {"breaker_probe_success_closes", test_breaker_probe_success_closes},
    {"breaker_probe_failure_reopens", test_breaker_probe_failure_reopens},
    {"breaker_one_probe_at_a_time", test_breaker_one_probe_at_a_time},
    {"breaker_open_not_extended", test_breaker_open_not_extended},
    {"breaker_extreme_times", test_breaker_extreme_times},
    {"breaker_state_names", test_breaker_state_names},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_test_run("budget", tests);
}

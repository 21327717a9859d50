/*
 * Tests of the backoff strategies. Deterministic strategies are checked
 * against exact tables. Jitter strategies draw 10,000 delays per failure
 * count and must stay within their bounds, produce many distinct values and
 * have a mean within 5% of the bound's span from the expected mean. That
 * window is more than 15 standard deviations of the sample mean wide, so it
 * fails only when the distribution is wrong. Every strategy is also driven at
 * failure counts where a naive base << f would overflow.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hiretry/backoff.h"
#include "hr_test.h"

#define MS 1000u
#define DEFAULT_BASE_US (8 * MS)
#define DEFAULT_CAP_US (512 * MS)
#define JITTER_DRAWS 10000

static const int huge_failures[] = {63, 64, 1023, 1024, 1025, INT_MAX};

#define HUGE_FAILURE_COUNT (sizeof(huge_failures) / sizeof(huge_failures[0]))

static hr_backoff make_backoff(hr_backoff_kind kind, uint64_t base_us,
                               uint64_t cap_us)
{
    hr_backoff backoff = {kind, base_us, cap_us};

    return backoff;
}

static uint64_t delay_after_reset(const hr_backoff *backoff, int failures)
{
    hr_backoff_state state;

    hr_backoff_reset(&state);
    return hr_backoff_delay_us(backoff, &state, failures);
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static size_t count_distinct(uint64_t *values, size_t n)
{
    size_t distinct = n > 0 ? 1 : 0;

    qsort(values, n, sizeof(values[0]), compare_u64);
    for (size_t i = 1; i < n; i++) {
        if (values[i] != values[i - 1])
            distinct++;
    }
    return distinct;
}

static void test_backoff_kind_names_round_trip(void)
{
    static const struct {
        hr_backoff_kind kind;
        const char *name;
    } cases[] = {
        {HR_BACKOFF_NONE, "none"},
        {HR_BACKOFF_CONSTANT, "constant"},
        {HR_BACKOFF_EXPONENTIAL, "exponential"},
        {HR_BACKOFF_FULL_JITTER, "full_jitter"},
        {HR_BACKOFF_EQUAL_JITTER, "equal_jitter"},
        {HR_BACKOFF_DECORRELATED_JITTER, "decorrelated_jitter"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *name = cases[i].name;
        hr_backoff_kind kind = HR_BACKOFF_NONE;
        size_t len = strlen(name);

        HR_ASSERT_STR_EQ(hr_backoff_kind_name(cases[i].kind), name);
        HR_ASSERT_INT_EQ(hr_backoff_kind_from_name(name, len, &kind), 0);
        HR_ASSERT_INT_EQ(kind, cases[i].kind);
    }
}

static void test_backoff_kind_invalid_name_rejected(void)
{
    static const char *const names[] = {
        "", "Exponential", "exponential ", "expo", "full-jitter", "jitter",
    };
    hr_backoff_kind kind = HR_BACKOFF_CONSTANT;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        HR_ASSERT_INT_EQ(
            hr_backoff_kind_from_name(names[i], strlen(names[i]), &kind), -1);
    }
    HR_ASSERT_INT_EQ(hr_backoff_kind_from_name(NULL, 0, &kind), -1);
    HR_ASSERT_INT_EQ(kind, HR_BACKOFF_CONSTANT);
}

static void test_backoff_kind_from_name_uses_len(void)
{
    hr_backoff_kind kind = HR_BACKOFF_NONE;

    /* Only the first len bytes count, so no NUL terminator is needed. */
    HR_ASSERT_INT_EQ(hr_backoff_kind_from_name("constant,none", 8, &kind), 0);
    HR_ASSERT_INT_EQ(kind, HR_BACKOFF_CONSTANT);
    HR_ASSERT_INT_EQ(hr_backoff_kind_from_name("constant", 7, &kind), -1);
}

static void test_backoff_kind_name_invalid_kind(void)
{
    HR_ASSERT_STR_EQ(hr_backoff_kind_name((hr_backoff_kind)-1), NULL);
    HR_ASSERT_STR_EQ(hr_backoff_kind_name((hr_backoff_kind)6), NULL);
}

static void test_backoff_exponential_defaults(void)
{
    static const uint64_t expected_ms[] = {8,   16,  32,  64, 128,
                                           256, 512, 512, 512};
    hr_backoff backoff =
        make_backoff(HR_BACKOFF_EXPONENTIAL, DEFAULT_BASE_US, DEFAULT_CAP_US);

    for (int f = 0; f <= 8; f++)
        HR_ASSERT_UINT_EQ(delay_after_reset(&backoff, f), expected_ms[f] * MS);
}

static void test_backoff_exponential_other_base_cap(void)
{
    static const uint64_t expected_us[] = {
        3, 6, 12, 24, 48, 96, 100, 100, 100,
    };
    hr_backoff backoff = make_backoff(HR_BACKOFF_EXPONENTIAL, 3, 100);

    for (int f = 0; f <= 8; f++)
        HR_ASSERT_UINT_EQ(delay_after_reset(&backoff, f), expected_us[f]);
}

static void test_backoff_exponential_cap_below_base(void)
{
    hr_backoff backoff = make_backoff(HR_BACKOFF_EXPONENTIAL, 50, 20);

    HR_ASSERT_UINT_EQ(delay_after_reset(&backoff, 0), 20);
    HR_ASSERT_UINT_EQ(delay_after_reset(&backoff, 1), 20);
}

static void test_backoff_negative_failures_as_zero(void)
{
    hr_backoff backoff =
        make_backoff(HR_BACKOFF_EXPONENTIAL, DEFAULT_BASE_US, DEFAULT_CAP_US);

    HR_ASSERT_UINT_EQ(delay_after_reset(&backoff, -1), DEFAULT_BASE_US);
    HR_ASSERT_UINT_EQ(delay_after_reset(&backoff, INT_MIN), DEFAULT_BASE_US);
}

static void test_backoff_constant_ignores_failures(void)
{
    static const int failures[] = {INT_MIN, -5, 0, 1, 2, 100, INT_MAX};
    hr_backoff backoff = make_backoff(HR_BACKOFF_CONSTANT, 30 * MS, 10 * MS);

    for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++)
        HR_ASSERT_UINT_EQ(delay_after_reset(&backoff, failures[i]), 30 * MS);
}

static void test_backoff_none_is_zero(void)
{
    static const int failures[] = {INT_MIN, -5, 0, 1, 2, 100, INT_MAX};
    hr_backoff backoff = make_backoff(HR_BACKOFF_NONE, 30 * MS, 60 * MS);

    for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++)
        HR_ASSERT_UINT_EQ(delay_after_reset(&backoff, failures[i]), 0);
}

static void test_backoff_zero_base(void)
{
    static const hr_backoff_kind kinds[] = {
        HR_BACKOFF_EXPONENTIAL,
        HR_BACKOFF_FULL_JITTER,
        HR_BACKOFF_EQUAL_JITTER,
    };

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        hr_backoff backoff = make_backoff(kinds[k], 0, DEFAULT_CAP_US);

        for (size_t i = 0; i < HUGE_FAILURE_COUNT; i++)
            HR_ASSERT_UINT_EQ(delay_after_reset(&backoff, huge_failures[i]), 0);
    }
}

static void test_backoff_saturates_deterministic(void)
{
    hr_backoff none = make_backoff(HR_BACKOFF_NONE, 8 * MS, 512 * MS);
    hr_backoff constant = make_backoff(HR_BACKOFF_CONSTANT, 8 * MS, 512 * MS);
    hr_backoff exponential =
        make_backoff(HR_BACKOFF_EXPONENTIAL, 8 * MS, 512 * MS);

    for (size_t i = 0; i < HUGE_FAILURE_COUNT; i++) {
        int f = huge_failures[i];

        HR_ASSERT_UINT_EQ(delay_after_reset(&none, f), 0);
        HR_ASSERT_UINT_EQ(delay_after_reset(&constant, f), 8 * MS);
        HR_ASSERT_UINT_EQ(delay_after_reset(&exponential, f), 512 * MS);
    }
}

static void test_backoff_saturates_jitter(void)
{
    hr_backoff full = make_backoff(HR_BACKOFF_FULL_JITTER, 8 * MS, 512 * MS);
    hr_backoff equal = make_backoff(HR_BACKOFF_EQUAL_JITTER, 8 * MS, 512 * MS);
    hr_backoff decorrelated =
        make_backoff(HR_BACKOFF_DECORRELATED_JITTER, 8 * MS, 512 * MS);
    hr_backoff_state state;

    hr_backoff_reset(&state);
    for (size_t i = 0; i < HUGE_FAILURE_COUNT; i++) {
        int f = huge_failures[i];

        for (int draw = 0; draw < 100; draw++) {
            HR_ASSERT_UINT_IN(delay_after_reset(&full, f), 0, 512 * MS);
            HR_ASSERT_UINT_IN(delay_after_reset(&equal, f), 256 * MS, 512 * MS);
            HR_ASSERT_UINT_IN(hr_backoff_delay_us(&decorrelated, &state, f),
                              8 * MS, 512 * MS);
        }
    }
}

/*
 * Draws JITTER_DRAWS delays for failure count f, checks each against
 * [low, high] and returns their mean and the number of distinct values.
 */
static double draw_jitter(const hr_backoff *backoff, int f, uint64_t low,
                          uint64_t high, size_t *distinct)
{
    static uint64_t delays[JITTER_DRAWS];
    double sum = 0;

    for (int i = 0; i < JITTER_DRAWS; i++) {
        delays[i] = delay_after_reset(backoff, f);
        HR_ASSERT_UINT_IN(delays[i], low, high);
        sum += (double)delays[i];
    }
    *distinct = count_distinct(delays, JITTER_DRAWS);
    return sum / JITTER_DRAWS;
}

/* The exponential bound min(cap, base * 2^f) with the default settings. */
static uint64_t default_exponential_us(int f)
{
    uint64_t bound = DEFAULT_BASE_US << f;

    return bound < DEFAULT_CAP_US ? bound : DEFAULT_CAP_US;
}

static void test_backoff_full_jitter_bounds_and_spread(void)
{
    hr_backoff backoff =
        make_backoff(HR_BACKOFF_FULL_JITTER, DEFAULT_BASE_US, DEFAULT_CAP_US);

    for (int f = 0; f <= 8; f++) {
        uint64_t bound = default_exponential_us(f);
        size_t distinct = 0;
        double mean = draw_jitter(&backoff, f, 0, bound, &distinct);
        double window = bound / 20.0;

        HR_ASSERT_UINT_IN(distinct, 5000, JITTER_DRAWS);
        HR_ASSERT_UINT_IN((uint64_t)mean, (uint64_t)(bound / 2.0 - window),
                          (uint64_t)(bound / 2.0 + window));
    }
}

static void test_backoff_equal_jitter_bounds_and_spread(void)
{
    hr_backoff backoff =
        make_backoff(HR_BACKOFF_EQUAL_JITTER, DEFAULT_BASE_US, DEFAULT_CAP_US);

    for (int f = 0; f <= 8; f++) {
        uint64_t bound = default_exponential_us(f);
        uint64_t half = bound / 2;
        size_t distinct = 0;
        double mean = draw_jitter(&backoff, f, half, bound, &distinct);
        double expected = half * 1.5;
        double window = half / 20.0;

        HR_ASSERT_UINT_IN(distinct, 2500, JITTER_DRAWS);
        HR_ASSERT_UINT_IN((uint64_t)mean, (uint64_t)(expected - window),
                          (uint64_t)(expected + window));
    }
}

static void test_backoff_equal_jitter_table_values(void)
{
    hr_backoff backoff =
        make_backoff(HR_BACKOFF_EQUAL_JITTER, DEFAULT_BASE_US, DEFAULT_CAP_US);

    /* failure 1: [8, 16] ms, failure 3: [32, 64] ms, failure 6: [256, 512]. */
    for (int i = 0; i < 1000; i++) {
        HR_ASSERT_UINT_IN(delay_after_reset(&backoff, 1), 8 * MS, 16 * MS);
        HR_ASSERT_UINT_IN(delay_after_reset(&backoff, 3), 32 * MS, 64 * MS);
        HR_ASSERT_UINT_IN(delay_after_reset(&backoff, 6), 256 * MS, 512 * MS);
    }
}

static void test_backoff_decorrelated_first_is_base(void)
{
    hr_backoff backoff = make_backoff(HR_BACKOFF_DECORRELATED_JITTER,
                                      DEFAULT_BASE_US, DEFAULT_CAP_US);
    hr_backoff_state state;

    hr_backoff_reset(&state);
    HR_ASSERT_UINT_EQ(state.previous_us, 0);
    HR_ASSERT_UINT_EQ(hr_backoff_delay_us(&backoff, &state, 1),
                      DEFAULT_BASE_US);
    HR_ASSERT_UINT_EQ(state.previous_us, DEFAULT_BASE_US);
}

/*
 * Follows one sequence of 10,000 delays: each stays in [base, cap] and
 * within min(cap, 3 * previous), the delays vary, and a reset starts over
 * from base.
 */
static void test_backoff_decorrelated_sequence_and_reset(void)
{
    static uint64_t delays[JITTER_DRAWS];
    hr_backoff backoff = make_backoff(HR_BACKOFF_DECORRELATED_JITTER,
                                      DEFAULT_BASE_US, DEFAULT_CAP_US);
    hr_backoff_state state;
    uint64_t previous = 0;
    int at_cap = 0;

    hr_backoff_reset(&state);
    for (int f = 1; f <= JITTER_DRAWS; f++) {
        uint64_t delay = hr_backoff_delay_us(&backoff, &state, f);
        uint64_t high =
            previous * 3 < DEFAULT_BASE_US ? DEFAULT_BASE_US : previous * 3;

        HR_ASSERT_UINT_IN(delay, DEFAULT_BASE_US, DEFAULT_CAP_US);
        HR_ASSERT_UINT_IN(delay, DEFAULT_BASE_US, high);
        HR_ASSERT_UINT_EQ(state.previous_us, delay);
        if (delay == DEFAULT_CAP_US)
            at_cap++;
        delays[f - 1] = delay;
        previous = delay;
    }
    HR_ASSERT_UINT_IN(count_distinct(delays, JITTER_DRAWS), 1000, JITTER_DRAWS);
    HR_ASSERT_TRUE(at_cap > 0);

    hr_backoff_reset(&state);
    HR_ASSERT_UINT_EQ(state.previous_us, 0);
    HR_ASSERT_UINT_EQ(hr_backoff_delay_us(&backoff, &state, 1),
                      DEFAULT_BASE_US);
}

static void test_backoff_huge_base_and_cap(void)
{
    uint64_t half = UINT64_MAX / 2;
    hr_backoff exponential = make_backoff(HR_BACKOFF_EXPONENTIAL, half, half);
    hr_backoff wide = make_backoff(HR_BACKOFF_EXPONENTIAL, half, UINT64_MAX);

    HR_ASSERT_UINT_EQ(delay_after_reset(&exponential, 0), half);
    HR_ASSERT_UINT_EQ(delay_after_reset(&exponential, 1), half);
    HR_ASSERT_UINT_EQ(delay_after_reset(&wide, 0), half);
    HR_ASSERT_UINT_EQ(delay_after_reset(&wide, 1), UINT64_MAX - 1);
    HR_ASSERT_UINT_EQ(delay_after_reset(&wide, 2), UINT64_MAX);
    for (size_t i = 0; i < HUGE_FAILURE_COUNT; i++) {
        HR_ASSERT_UINT_EQ(delay_after_reset(&exponential, huge_failures[i]),
                          half);
        HR_ASSERT_UINT_EQ(delay_after_reset(&wide, huge_failures[i]),
                          UINT64_MAX);
    }
}

static void test_backoff_huge_jitter(void)
{
    uint64_t half = UINT64_MAX / 2;
    hr_backoff full = make_backoff(HR_BACKOFF_FULL_JITTER, half, half);
    hr_backoff equal = make_backoff(HR_BACKOFF_EQUAL_JITTER, half, UINT64_MAX);
    hr_backoff decorrelated =
        make_backoff(HR_BACKOFF_DECORRELATED_JITTER, half, half + 1000);
    hr_backoff_state state;

    hr_backoff_reset(&state);
    for (size_t i = 0; i < HUGE_FAILURE_COUNT; i++) {
        int f = huge_failures[i];

        for (int draw = 0; draw < 100; draw++) {
            HR_ASSERT_UINT_IN(delay_after_reset(&full, f), 0, half);
            HR_ASSERT_UINT_IN(delay_after_reset(&equal, f), half,
                              UINT64_MAX - 1);
            HR_ASSERT_UINT_IN(hr_backoff_delay_us(&decorrelated, &state, f),
                              half, half + 1000);
        }
    }
}

/*
 * previous = floor(2^64 / 3) + 1 makes 3 * previous wrap around to 2, which
 * would limit the draw to [1, 2]. Saturating keeps the range [1, 2^64 - 1],
 * where a draw of 2 or less has p = 2^-63.
 */
static void test_backoff_decorrelated_saturates_previous(void)
{
    hr_backoff backoff =
        make_backoff(HR_BACKOFF_DECORRELATED_JITTER, 1, UINT64_MAX);
    hr_backoff_state state;
    int above_two = 0;

    for (int i = 0; i < 100; i++) {
        state.previous_us = UINT64_MAX / 3 + 1;
        if (hr_backoff_delay_us(&backoff, &state, 2) > 2)
            above_two++;
    }
    HR_ASSERT_INT_EQ(above_two, 100);
}

static CU_TestInfo tests[] = {
    {"test_backoff_kind_names_round_trip", test_backoff_kind_names_round_trip},
    {"test_backoff_kind_invalid_name_rejected",
     test_backoff_kind_invalid_name_rejected},
    {"test_backoff_kind_from_name_uses_len",
     test_backoff_kind_from_name_uses_len},
    {"test_backoff_kind_name_invalid_kind",
     test_backoff_kind_name_invalid_kind},
    {"test_backoff_exponential_defaults", test_backoff_exponential_defaults},
    {"test_backoff_exponential_other_base_cap",
     test_backoff_exponential_other_base_cap},
    {"test_backoff_exponential_cap_below_base",
     test_backoff_exponential_cap_below_base},
    {"test_backoff_negative_failures_as_zero",
     test_backoff_negative_failures_as_zero},
    {"test_backoff_constant_ignores_failures",
     test_backoff_constant_ignores_failures},
    {"test_backoff_none_is_zero", test_backoff_none_is_zero},
    {"test_backoff_zero_base", test_backoff_zero_base},
    {"test_backoff_saturates_deterministic",
     test_backoff_saturates_deterministic},
    {"test_backoff_saturates_jitter", test_backoff_saturates_jitter},
    {"test_backoff_full_jitter_bounds_and_spread",
     test_backoff_full_jitter_bounds_and_spread},
    {"test_backoff_equal_jitter_bounds_and_spread",
     test_backoff_equal_jitter_bounds_and_spread},
    {"test_backoff_equal_jitter_table_values",
     test_backoff_equal_jitter_table_values},
    {"test_backoff_decorrelated_first_is_base",
     test_backoff_decorrelated_first_is_base},
    {"test_backoff_decorrelated_sequence_and_reset",
     test_backoff_decorrelated_sequence_and_reset},
    {"test_backoff_huge_base_and_cap", test_backoff_huge_base_and_cap},
    {"test_backoff_huge_jitter", test_backoff_huge_jitter},
    {"test_backoff_decorrelated_saturates_previous",
     test_backoff_decorrelated_saturates_previous},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_test_run("backoff", tests);
}

/*
 * Backoff delays in integer microseconds. Every product saturates instead of
 * overflowing, so that "retry forever" keeps a finite, capped delay.
 */
#include "hiretry/backoff.h"

#include <string.h>

#include "hiretry/random.h"

static const char *const hr_backoff_kind_names[] = {
    [HR_BACKOFF_NONE] = "none",
    [HR_BACKOFF_CONSTANT] = "constant",
    [HR_BACKOFF_EXPONENTIAL] = "exponential",
    [HR_BACKOFF_FULL_JITTER] = "full_jitter",
    [HR_BACKOFF_EQUAL_JITTER] = "equal_jitter",
    [HR_BACKOFF_DECORRELATED_JITTER] = "decorrelated_jitter",
};

#define HR_BACKOFF_KIND_COUNT                                                  \
    (sizeof(hr_backoff_kind_names) / sizeof(hr_backoff_kind_names[0]))

const char *hr_backoff_kind_name(hr_backoff_kind kind)
{
    if ((unsigned)kind >= HR_BACKOFF_KIND_COUNT)
        return NULL;
    return hr_backoff_kind_names[kind];
}

int hr_backoff_kind_from_name(const char *name, size_t len,
                              hr_backoff_kind *out)
{
    if (name == NULL || out == NULL)
        return -1;

    for (size_t i = 0; i < HR_BACKOFF_KIND_COUNT; i++) {
        const char *candidate = hr_backoff_kind_names[i];

        if (strlen(candidate) == len && memcmp(candidate, name, len) == 0) {
            *out = (hr_backoff_kind)i;
            return 0;
        }
    }
    return -1;
}

void hr_backoff_reset(hr_backoff_state *state)
{
    state->previous_us = 0;
}

/*
 * Returns min(cap, base * 2^failures) without overflow. base * 2^f exceeds
 * cap exactly when base > floor(cap / 2^f), and any f >= 64 makes a non-zero
 * base exceed every 64-bit cap, so no shift reaches 64 bits.
 */
static uint64_t hr_backoff_exponential_us(uint64_t base, uint64_t cap,
                                          int failures)
{
    if (base == 0)
        return 0;
    if (failures >= 64)
        return cap;
    if (base > (cap >> failures))
        return cap;
    return base << failures;
}

static uint64_t hr_saturating_mul3(uint64_t x)
{
    if (x > UINT64_MAX / 3)
        return UINT64_MAX;
    return x * 3;
}

static uint64_t hr_backoff_equal_jitter_us(uint64_t exponential)
{
    uint64_t half = exponential / 2;

    return half + hr_random_between(0, half);
}

static uint64_t hr_backoff_decorrelated_us(const hr_backoff *backoff,
                                           hr_backoff_state *state)
{
    uint64_t high = hr_saturating_mul3(state->previous_us);
    uint64_t delay;

    if (high < backoff->base_us)
        high = backoff->base_us;

    delay = hr_random_between(backoff->base_us, high);
    if (delay > backoff->cap_us)
        delay = backoff->cap_us;

    state->previous_us = delay;
    return delay;
}

uint64_t hr_backoff_delay_us(const hr_backoff *backoff, hr_backoff_state *state,
                             int failures)
{
    uint64_t exponential;

    if (failures < 0)
        failures = 0;

    exponential =
        hr_backoff_exponential_us(backoff->base_us, backoff->cap_us, failures);

    switch (backoff->kind) {
    case HR_BACKOFF_NONE:
        return 0;
    case HR_BACKOFF_CONSTANT:
        return backoff->base_us;
    case HR_BACKOFF_EXPONENTIAL:
        return exponential;
    case HR_BACKOFF_FULL_JITTER:
        return hr_random_between(0, exponential);
    case HR_BACKOFF_EQUAL_JITTER:
        return hr_backoff_equal_jitter_us(exponential);
    case HR_BACKOFF_DECORRELATED_JITTER:
        return hr_backoff_decorrelated_us(backoff, state);
    }
    return 0;
}

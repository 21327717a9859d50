/*
 * The arithmetic of the retry budget and of the circuit breaker: token
 * counts in thousandths, clock times in nanoseconds, every sum saturating.
 */
#include "hiretry/budget.h"

#include <limits.h>

#define HR_NS_PER_SEC INT64_C(1000000000)

static int64_t hr_budget_capacity_milli(const hr_budget_config *config)
{
    if (config->capacity > INT64_MAX / HR_BUDGET_MILLI)
        return INT64_MAX;
    return config->capacity * HR_BUDGET_MILLI;
}

/* Returns the floor rate in thousandths of a token per second, which is
 * also the most the floor allowance holds: one second's worth. */
static int64_t hr_budget_floor_rate_milli(const hr_budget_config *config)
{
    if (config->floor_per_sec <= 0)
        return 0;
    if (config->floor_per_sec > HR_BUDGET_FLOOR_MAX)
        return HR_BUDGET_FLOOR_MAX * HR_BUDGET_MILLI;
    return config->floor_per_sec * HR_BUDGET_MILLI;
}

static void hr_budget_add(hr_budget *budget, const hr_budget_config *config,
                          int64_t milli)
{
    int64_t max = hr_budget_capacity_milli(config);

    if (milli >= max - budget->tokens_milli)
        budget->tokens_milli = max;
    else
        budget->tokens_milli += milli;
}

void hr_budget_init(hr_budget *budget, const hr_budget_config *config,
                    int64_t now_ns)
{
    budget->tokens_milli = hr_budget_capacity_milli(config);
    budget->floor_milli = hr_budget_floor_rate_milli(config);
    budget->floor_at_ns = now_ns;
    budget->allowed = 0;
    budget->refused = 0;
}

void hr_budget_credit(hr_budget *budget, const hr_budget_config *config,
                      uint64_t successes)
{
    int64_t milli;

    if (config->ratio_milli <= 0 || successes == 0)
        return;
    if (successes > (uint64_t)(INT64_MAX / config->ratio_milli))
        milli = INT64_MAX;
    else
        milli = (int64_t)successes * config->ratio_milli;
    hr_budget_add(budget, config, milli);
}

void hr_budget_refund(hr_budget *budget, const hr_budget_config *config)
{
    hr_budget_add(budget, config, HR_BUDGET_MILLI);
}

/*
 * Adds floor_per_sec tokens per second elapsed since the last refill. The
 * elapsed time is capped at one second, which the allowance cannot exceed
 * anyway, so the product stays below 10^18 for the largest floor.
 */
static void hr_budget_refill_floor(hr_budget *budget,
                                   const hr_budget_config *config,
                                   int64_t now_ns)
{
    int64_t rate = hr_budget_floor_rate_milli(config);
    int64_t elapsed = now_ns - budget->floor_at_ns;
    int64_t milli;

    if (elapsed <= 0)
        return;
    if (elapsed > HR_NS_PER_SEC)
        elapsed = HR_NS_PER_SEC;

    /* The clock moves on by the time credited, not to now_ns, so that the
       fraction of a thousandth left over is not lost: a busy caller would
       otherwise lose most of it on every call. */
    milli = rate * elapsed / HR_NS_PER_SEC;
    if (milli == 0)
        return;
    budget->floor_at_ns =
        elapsed == HR_NS_PER_SEC
            ? now_ns
            : budget->floor_at_ns + milli * HR_NS_PER_SEC / rate;
    if (milli >= rate - budget->floor_milli)
        budget->floor_milli = rate;
    else
        budget->floor_milli += milli;
}

bool hr_budget_withdraw(hr_budget *budget, const hr_budget_config *config,
                        int64_t now_ns)
{
    if (!config->enabled)
        return true;

    hr_budget_refill_floor(budget, config, now_ns);
    if (budget->floor_milli >= HR_BUDGET_MILLI) {
        budget->floor_milli -= HR_BUDGET_MILLI;
        budget->allowed++;
        return true;
    }
    if (budget->tokens_milli >= HR_BUDGET_MILLI) {
        budget->tokens_milli -= HR_BUDGET_MILLI;
        budget->allowed++;
        return true;
    }
    budget->refused++;
    return false;
}

bool hr_budget_full(const hr_budget *budget, const hr_budget_config *config)
{
    return budget->tokens_milli >= hr_budget_capacity_milli(config);
}

const char *hr_breaker_state_name(hr_breaker_state state)
{
    switch (state) {
    case HR_BREAKER_CLOSED:
        return "closed";
    case HR_BREAKER_OPEN:
        return "open";
    case HR_BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}

void hr_breaker_init(hr_breaker *breaker)
{
    breaker->state = HR_BREAKER_CLOSED;
    breaker->failures = 0;
    breaker->until_ns = 0;
    breaker->opened = 0;
    breaker->rejected = 0;
}

static int64_t hr_saturating_add(int64_t a, int64_t b)
{
    if (b > INT64_MAX - a)
        return INT64_MAX;
    return a + b;
}

hr_breaker_admission hr_breaker_admit(hr_breaker *breaker,
                                      const hr_breaker_config *config,
                                      int64_t now_ns)
{
    if (config->failures <= 0 || breaker->state == HR_BREAKER_CLOSED)
        return HR_BREAKER_PASS;

    if (now_ns < breaker->until_ns) {
        breaker->rejected++;
        return HR_BREAKER_REJECT;
    }

    /* A probe that never reported (its thread ended the call some other
       way) is replaced after one more cool-down. */
    breaker->state = HR_BREAKER_HALF_OPEN;
    breaker->until_ns = hr_saturating_add(now_ns, config->cooldown_ns);
    return HR_BREAKER_PROBE;
}

bool hr_breaker_success(hr_breaker *breaker)
{
    bool was_open = breaker->state != HR_BREAKER_CLOSED;

    breaker->state = HR_BREAKER_CLOSED;
    breaker->failures = 0;
    return was_open;
}

bool hr_breaker_failure(hr_breaker *breaker, const hr_breaker_config *config,
                        int64_t now_ns, uint64_t random)
{
    int64_t jitter = 0;

    if (config->failures <= 0)
        return false;
    if (breaker->failures < INT_MAX)
        breaker->failures++;

    /* An open circuit stays open until its cool-down ends: the failures
       of calls that started before it opened do not extend it. */
    if (breaker->state == HR_BREAKER_OPEN)
        return false;
    if (breaker->state == HR_BREAKER_CLOSED &&
        breaker->failures < config->failures)
        return false;

    if (config->cooldown_ns > 1)
        jitter = (int64_t)(random % (uint64_t)(config->cooldown_ns / 2 + 1));
    breaker->state = HR_BREAKER_OPEN;
    breaker->until_ns = hr_saturating_add(
        now_ns, hr_saturating_add(config->cooldown_ns, jitter));
    breaker->opened++;
    return true;
}

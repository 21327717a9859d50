/*
 * The retry budget and the circuit breaker of one server endpoint, as pure
 * arithmetic on a clock value that the caller passes in. Neither locks: the
 * shim keeps one of each per endpoint under its own lock.
 *
 * The budget is a token bucket. It starts full, every retry or reconnect
 * costs one token, every success credits a fraction of one, and a retry
 * that finds it empty is refused. A floor of retries per second, kept apart
 * from the bucket, lets a process that sends little recover after an
 * outage has emptied the bucket.
 *
 * The breaker counts consecutive failures of the endpoint. At the
 * threshold it opens, and every reconnect is rejected for a jittered
 * cool-down. After it, one reconnect goes through as a probe (half-open):
 * its success closes the circuit and its failure opens it again.
 */
#ifndef HIRETRY_BUDGET_H
#define HIRETRY_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

/* Tokens are counted in thousandths, so a success can credit 0.1 token. */
#define HR_BUDGET_MILLI INT64_C(1000)

/* The largest floor, in retries per second. Larger floors count as this. */
#define HR_BUDGET_FLOOR_MAX INT64_C(1000000)

typedef struct hr_budget_config {
    bool enabled;          /* HIRETRY_BUDGET */
    int64_t ratio_milli;   /* thousandths of a token credited per success */
    int64_t capacity;      /* tokens in a full bucket, at least 1 */
    int64_t floor_per_sec; /* retries per second allowed past an empty
                              bucket; 0 for none */
} hr_budget_config;

typedef struct hr_budget {
    int64_t tokens_milli; /* from 0 to capacity * HR_BUDGET_MILLI */
    int64_t floor_milli;  /* floor allowance, at most one second's worth */
    int64_t floor_at_ns;  /* clock time of the last floor refill */
    uint64_t allowed;     /* retries allowed so far, for statistics */
    uint64_t refused;     /* retries refused so far */
} hr_budget;

/* Fills the bucket and the floor allowance at clock time now_ns. */
void hr_budget_init(hr_budget *budget, const hr_budget_config *config,
                    int64_t now_ns);

/* Credits successes, each worth ratio_milli, up to the capacity. */
void hr_budget_credit(hr_budget *budget, const hr_budget_config *config,
                      uint64_t successes);

/*
 * Gives one token back, up to the capacity: a retry that succeeded costs
 * nothing, as the retry quota of the AWS SDK for JavaScript v3 allows.
 */
void hr_budget_refund(hr_budget *budget, const hr_budget_config *config);

/*
 * Takes one token for a retry at clock time now_ns, from the floor
 * allowance first and from the bucket next. Returns false, and counts a
 * refusal, when neither has a whole token. Always true when the budget is
 * disabled.
 */
bool hr_budget_withdraw(hr_budget *budget, const hr_budget_config *config,
                        int64_t now_ns);

/* Returns true when the bucket is at its capacity, so credits are moot. */
bool hr_budget_full(const hr_budget *budget, const hr_budget_config *config);

typedef struct hr_breaker_config {
    int failures;        /* consecutive failures that open it; 0: off */
    int64_t cooldown_ns; /* minimum time open, before the jitter */
} hr_breaker_config;

typedef enum hr_breaker_state {
    HR_BREAKER_CLOSED,
    HR_BREAKER_OPEN,
    HR_BREAKER_HALF_OPEN
} hr_breaker_state;

/* What hr_breaker_admit decided for one reconnect. */
typedef enum hr_breaker_admission {
    HR_BREAKER_PASS,  /* closed: go ahead */
    HR_BREAKER_PROBE, /* the cool-down is over: this reconnect is the probe */
    HR_BREAKER_REJECT /* open, or a probe is still in flight */
} hr_breaker_admission;

typedef struct hr_breaker {
    hr_breaker_state state;
    int failures;      /* consecutive failures, saturating */
    int64_t until_ns;  /* open: end of the cool-down; half-open: time after
                          which a probe that never reported is replaced */
    uint64_t opened;   /* times the circuit opened, for statistics */
    uint64_t rejected; /* reconnects rejected */
} hr_breaker;

/* Returns "closed", "open" or "half_open", for logs. */
const char *hr_breaker_state_name(hr_breaker_state state);

/* Closes the circuit with no failures counted. */
void hr_breaker_init(hr_breaker *breaker);

/*
 * Decides whether a reconnect may go ahead at now_ns. The first call after
 * the cool-down turns the circuit half-open and returns HR_BREAKER_PROBE.
 * A half-open circuit rejects the rest until the probe reports, or until
 * one more cool-down has passed without a report, when the next reconnect
 * becomes the probe. Always HR_BREAKER_PASS when the breaker is off.
 */
hr_breaker_admission hr_breaker_admit(hr_breaker *breaker,
                                      const hr_breaker_config *config,
                                      int64_t now_ns);

/*
 * Records a success: the circuit closes and the run of failures ends.
 * Returns true when the circuit was open or half-open before.
 */
bool hr_breaker_success(hr_breaker *breaker);

/*
 * Records a failure at now_ns. A closed circuit opens when the run reaches
 * the threshold, and a half-open one opens again at once. The cool-down
 * lasts from cooldown_ns to 1.5 times it, chosen by random, so that the
 * probes of many processes spread out. Returns true when this failure
 * opened the circuit.
 */
bool hr_breaker_failure(hr_breaker *breaker, const hr_breaker_config *config,
                        int64_t now_ns, uint64_t random);

#endif

/*
 * The registry of endpoints with their retry budgets and circuit breakers.
 * One mutex guards the list and every entry's bucket and breaker. Only
 * failures, refunds and every HR_CREDIT_BATCH-th success take it, so the
 * lock is taken by failing calls, not by healthy ones.
 */
#include "budget.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "hiretry/random.h"
#include "log.h"
#include "shim.h"

/* Successes counted before one of them credits the whole batch. */
#define HR_CREDIT_BATCH 64

static pthread_mutex_t hr_budget_lock = PTHREAD_MUTEX_INITIALIZER;
static hr_endpoint *hr_endpoints;
static pthread_once_t hr_budget_atfork_once = PTHREAD_ONCE_INIT;

/* What changed under the lock, logged once it is released. */
typedef struct hr_budget_events {
    bool closed; /* a success closed the circuit */
    bool opened; /* a failure opened it */
    bool probe;  /* a reconnect went through as the probe */
} hr_budget_events;

static void hr_budget_prepare_fork(void)
{
    pthread_mutex_lock(&hr_budget_lock);
}

static void hr_budget_after_fork(void)
{
    pthread_mutex_unlock(&hr_budget_lock);
}

static void hr_budget_register_atfork(void)
{
    pthread_atfork(hr_budget_prepare_fork, hr_budget_after_fork,
                   hr_budget_after_fork);
}

static bool hr_budget_active(void)
{
    return hr_shim_config.budget.enabled || hr_shim_config.breaker.failures > 0;
}

static hr_endpoint *hr_endpoint_find_locked(const char *name, int64_t now)
{
    hr_endpoint *endpoint;

    for (endpoint = hr_endpoints; endpoint != NULL; endpoint = endpoint->next) {
        if (strcmp(endpoint->name, name) == 0)
            return endpoint;
    }

    endpoint = calloc(1, sizeof(*endpoint));
    if (endpoint == NULL)
        return NULL;
    atomic_init(&endpoint->dirty, false);
    atomic_init(&endpoint->successes, 0);
    hr_budget_init(&endpoint->budget, &hr_shim_config.budget, now);
    hr_breaker_init(&endpoint->breaker);
    snprintf(endpoint->name, sizeof(endpoint->name), "%s", name);
    endpoint->next = hr_endpoints;
    hr_endpoints = endpoint;
    return endpoint;
}

/*
 * Returns conn's entry, found or created at its first failure, or NULL
 * when out of memory: that context then runs without a budget.
 * NOTE: the entry is looked up once per context, so a context that
 * reconnects to another endpoint keeps charging the first one.
 */
static hr_endpoint *hr_endpoint_of(hr_conn *conn, const redisContext *c)
{
    char name[sizeof(((hr_endpoint *)NULL)->name)];
    int64_t now;

    if (conn->endpoint != NULL)
        return conn->endpoint;

    hr_conn_endpoint(c, name, sizeof(name));
    now = hr_now_ns();
    pthread_once(&hr_budget_atfork_once, hr_budget_register_atfork);
    pthread_mutex_lock(&hr_budget_lock);
    conn->endpoint = hr_endpoint_find_locked(name, now);
    pthread_mutex_unlock(&hr_budget_lock);
    return conn->endpoint;
}

/* Credits the successes counted since the last settlement. */
static void hr_endpoint_settle(hr_endpoint *endpoint, hr_budget_events *events)
{
    uint64_t successes =
        atomic_exchange_explicit(&endpoint->successes, 0, memory_order_relaxed);

    if (successes == 0)
        return;
    hr_budget_credit(&endpoint->budget, &hr_shim_config.budget, successes);
    if (hr_breaker_success(&endpoint->breaker))
        events->closed = true;
}

/* A success has nothing to record while this stays false. */
static void hr_endpoint_update_dirty(hr_endpoint *endpoint)
{
    bool clean = hr_budget_full(&endpoint->budget, &hr_shim_config.budget) &&
                 endpoint->breaker.state == HR_BREAKER_CLOSED &&
                 endpoint->breaker.failures == 0;

    atomic_store_explicit(&endpoint->dirty, !clean, memory_order_relaxed);
}

static void hr_budget_log(const hr_endpoint *endpoint,
                          const hr_budget_events *events)
{
    const hr_breaker_config *config = &hr_shim_config.breaker;

    if (events->opened)
        hr_log(HR_LOG_WARN,
               "event=circuit_open endpoint=%s failures=%d cooldown_ms=%.0f",
               endpoint->name, config->failures,
               (double)config->cooldown_ns / 1e6);
    if (events->probe)
        hr_log(HR_LOG_INFO, "event=circuit_half_open endpoint=%s",
               endpoint->name);
    if (events->closed)
        hr_log(HR_LOG_WARN, "event=circuit_closed endpoint=%s", endpoint->name);
}

void hr_budget_record_success(hr_conn *conn)
{
    hr_endpoint *endpoint = conn->endpoint;
    bool refund = conn->budget_flags & HR_BUDGET_SPENT;
    hr_budget_events events = {false, false, false};
    uint64_t count;

    conn->budget_flags = 0;
    if (endpoint == NULL)
        return;

    count = atomic_fetch_add_explicit(&endpoint->successes, 1,
                                      memory_order_relaxed) +
            1;
    if (!refund && count % HR_CREDIT_BATCH != 0)
        return;

    pthread_mutex_lock(&hr_budget_lock);
    if (refund)
        hr_budget_refund(&endpoint->budget, &hr_shim_config.budget);
    hr_endpoint_settle(endpoint, &events);
    hr_endpoint_update_dirty(endpoint);
    pthread_mutex_unlock(&hr_budget_lock);
    hr_budget_log(endpoint, &events);
}

/* The state of an endpoint that a failure shows. */
typedef enum hr_budget_outcome {
    HR_OUTCOME_DOWN,     /* unreachable, timed out, or refusing every
                            command (LOADING, max clients) */
    HR_OUTCOME_ANSWERED, /* the server replied, if only to reject the
                            credentials or the command */
    HR_OUTCOME_CLIENT    /* the client's own error, such as out of memory */
} hr_budget_outcome;

static hr_budget_outcome hr_budget_outcome_of(const hr_failure *failure)
{
    if (hr_class_is_a(failure->cls, HR_CLASS_AUTHENTICATION_ERROR) ||
        hr_class_is_a(failure->cls, HR_CLASS_AUTHORIZATION_ERROR) ||
        hr_class_is_a(failure->cls, HR_CLASS_RESPONSE_ERROR))
        return HR_OUTCOME_ANSWERED;
    if (failure->permanent)
        return HR_OUTCOME_CLIENT;
    if (hr_class_is_a(failure->cls, HR_CLASS_CONNECTION_ERROR) ||
        hr_class_is_a(failure->cls, HR_CLASS_TIMEOUT_ERROR))
        return HR_OUTCOME_DOWN;
    return HR_OUTCOME_CLIENT;
}

/*
 * Records the failure for the breaker and the budget, under the lock. A
 * server that replied serves: it counts as a success, and the token of
 * the reconnect that reached it comes back, so that rejected credentials
 * keep failing at once instead of waiting for the floor.
 */
static void hr_budget_record_failure(hr_endpoint *endpoint,
                                     const hr_failure *failure, unsigned flags,
                                     int64_t now, hr_budget_events *events)
{
    switch (hr_budget_outcome_of(failure)) {
    case HR_OUTCOME_DOWN:
        events->opened = hr_breaker_failure(
            &endpoint->breaker, &hr_shim_config.breaker, now, hr_random_u64());
        break;
    case HR_OUTCOME_ANSWERED:
        if (hr_breaker_success(&endpoint->breaker))
            events->closed = true;
        if (flags & HR_BUDGET_SPENT)
            hr_budget_refund(&endpoint->budget, &hr_shim_config.budget);
        break;
    case HR_OUTCOME_CLIENT:
        break;
    }
}

hr_verdict hr_budget_judge(hr_conn *conn, const redisContext *c,
                           hr_failure *failure, hr_verdict verdict)
{
    unsigned flags = conn->budget_flags;
    hr_budget_events events = {false, false, false};
    hr_endpoint *endpoint;
    int64_t now;

    /* The token of a failed reconnect is spent for good. */
    conn->budget_flags = flags & HR_BUDGET_FREE_USED;
    if (flags & (HR_BUDGET_REFUSED | HR_BUDGET_REJECTED)) {
        *failure = (hr_failure){.cls = HR_CLASS_CONNECTION_ERROR,
                                .drop_connection = true};
        if (flags & HR_BUDGET_REJECTED)
            return HR_GIVE_UP_CIRCUIT_OPEN;
        return verdict == HR_RETRY ? HR_RETRY : HR_GIVE_UP_BUDGET;
    }
    if (!hr_budget_active() || (endpoint = hr_endpoint_of(conn, c)) == NULL)
        return verdict;

    now = hr_now_ns();
    pthread_mutex_lock(&hr_budget_lock);
    hr_endpoint_settle(endpoint, &events);
    hr_budget_record_failure(endpoint, failure, flags, now, &events);
    if (verdict == HR_RETRY && endpoint->breaker.state == HR_BREAKER_OPEN)
        verdict = HR_GIVE_UP_CIRCUIT_OPEN;
    hr_endpoint_update_dirty(endpoint);
    pthread_mutex_unlock(&hr_budget_lock);

    hr_budget_log(endpoint, &events);
    return verdict;
}

/* Decides a reconnect under the lock. Returns the refusal flag, or 0. */
static unsigned hr_budget_admit_locked(hr_conn *conn, hr_endpoint *endpoint,
                                       unsigned flags, int64_t now,
                                       hr_budget_events *events)
{
    const hr_budget_config *config = &hr_shim_config.budget;

    switch (
        hr_breaker_admit(&endpoint->breaker, &hr_shim_config.breaker, now)) {
    case HR_BREAKER_REJECT:
        return HR_BUDGET_REJECTED;
    case HR_BREAKER_PROBE:
        events->probe = true;
        break;
    case HR_BREAKER_PASS:
        break;
    }

    if (!(flags & HR_BUDGET_FREE_USED)) {
        conn->budget_flags |= HR_BUDGET_FREE_USED;
        return 0;
    }
    if (!hr_budget_withdraw(&endpoint->budget, config, now))
        return HR_BUDGET_REFUSED;
    conn->budget_flags |= HR_BUDGET_SPENT;
    return 0;
}

bool hr_budget_admit_reconnect(hr_conn *conn, redisContext *c)
{
    unsigned flags = conn->budget_flags;
    hr_budget_events events = {false, false, false};
    hr_endpoint *endpoint;
    unsigned refusal;
    int64_t now;

    if (!hr_budget_active() || (endpoint = hr_endpoint_of(conn, c)) == NULL)
        return true;

    now = hr_now_ns();
    pthread_mutex_lock(&hr_budget_lock);
    hr_endpoint_settle(endpoint, &events);
    refusal = hr_budget_admit_locked(conn, endpoint, flags, now, &events);
    hr_endpoint_update_dirty(endpoint);
    pthread_mutex_unlock(&hr_budget_lock);
    hr_budget_log(endpoint, &events);

    if (refusal == 0)
        return true;
    conn->budget_flags |= refusal;
    c->err = REDIS_ERR_OTHER;
    /* The endpoint's name is cut to what errstr can hold after the text. */
    snprintf(c->errstr, sizeof(c->errstr), "hiretry: %s for %.90s",
             refusal == HR_BUDGET_REJECTED ? "circuit open"
                                           : "retry budget exhausted",
             endpoint->name);
    return false;
}

size_t hr_budget_snapshot(hr_endpoint_stats *out, size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&hr_budget_lock);
    for (hr_endpoint *endpoint = hr_endpoints; endpoint != NULL && n < max;
         endpoint = endpoint->next, n++) {
        hr_endpoint_stats *copy = &out[n];

        memcpy(copy->name, endpoint->name, sizeof(copy->name));
        copy->tokens_milli = endpoint->budget.tokens_milli;
        copy->allowed = endpoint->budget.allowed;
        copy->refused = endpoint->budget.refused;
        copy->opened = endpoint->breaker.opened;
        copy->rejected = endpoint->breaker.rejected;
        copy->state = endpoint->breaker.state;
    }
    pthread_mutex_unlock(&hr_budget_lock);
    return n;
}

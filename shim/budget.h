/*
 * The retry budget and the circuit breaker of each server endpoint, shared
 * by every thread and context of the process. An entry is created when a
 * context first fails or reconnects, and lives until the process exits.
 * A context keeps a pointer to its endpoint's entry, so a success does no
 * lookup. It takes the lock only to give a token back or to credit a
 * batch of successes, and records nothing while the entry is full and
 * closed.
 *
 * The retry loops call hr_budget_judge after each failed attempt, and every
 * reconnect calls hr_budget_admit_reconnect first. The retry of a failure
 * that dropped the connection reconnects, and the reconnect takes the
 * token. A retry after an error reply on a live connection (TRYAGAIN)
 * takes none, since the server replied. The first reconnect after a
 * success is free, and a success gives the token of its reconnect back.
 */
#ifndef HR_SHIM_BUDGET_H
#define HR_SHIM_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "conn.h"
#include "hiretry/budget.h"
#include "hiretry/classify.h"
#include "hiretry/policy.h"

/* Flags in hr_conn.budget_flags, all cleared by a success. */
enum {
    HR_BUDGET_SPENT = 1 << 0,    /* a reconnect took a token */
    HR_BUDGET_REFUSED = 1 << 1,  /* the last reconnect was refused: budget */
    HR_BUDGET_REJECTED = 1 << 2, /* the last reconnect was refused: circuit */
    /* The context had its free reconnect since its last success. The
       first reconnect is free, so that a restart that breaks every
       connection of a process at once does not spend the budget on the
       first reconnect of each. */
    HR_BUDGET_FREE_USED = 1 << 3
};

/*
 * One endpoint's entry. successes counts the successes not yet credited to
 * the bucket or reported to the breaker. dirty is false while the bucket
 * is full and the breaker closed with no failure counted, because a
 * success then has nothing to record.
 */
typedef struct hr_endpoint hr_endpoint;
struct hr_endpoint {
    _Atomic bool dirty;
    _Atomic uint64_t successes;
    /* The rest is read and written under the registry's lock. */
    hr_endpoint *next;
    hr_budget budget;
    hr_breaker breaker;
    char name[160]; /* "host:port" or "unix:path", as in the logs */
};

/* One endpoint's budget and breaker counters, copied for the stats file. */
typedef struct hr_endpoint_stats {
    char name[160];
    int64_t tokens_milli;
    uint64_t allowed;  /* retries and reconnects the budget allowed */
    uint64_t refused;  /* and refused */
    uint64_t opened;   /* times the circuit opened */
    uint64_t rejected; /* reconnects the open circuit rejected */
    hr_breaker_state state;
} hr_endpoint_stats;

/*
 * Copies the counters of up to max endpoints into out, under the lock, and
 * returns how many it copied.
 */
size_t hr_budget_snapshot(hr_endpoint_stats *out, size_t max);

/* Records a success on the slow path: a refund, or a batch of credits. */
void hr_budget_record_success(hr_conn *conn);

/*
 * Records a successful command or reconnect on conn. Without a failure
 * since the entry was last full and closed, this is two loads.
 */
static inline void hr_budget_success(hr_conn *conn)
{
    hr_endpoint *endpoint = conn->endpoint;

    if (conn->budget_flags != 0 ||
        (endpoint != NULL &&
         atomic_load_explicit(&endpoint->dirty, memory_order_relaxed)))
        hr_budget_record_success(conn);
}

/*
 * Applies the budget and the breaker to the verdict on a failed attempt of
 * conn, and returns the verdict to log and follow. The failure counts for
 * the breaker, and a retry gives up with HR_GIVE_UP_CIRCUIT_OPEN while the
 * circuit is open. A reconnect that the breaker rejected gives up the same
 * way. One that the budget refused sent nothing, so the call sleeps and
 * requests a token again while it has retries left, and gives up with
 * HR_GIVE_UP_BUDGET when it has none. After a refusal, failure becomes a
 * ConnectionError.
 */
hr_verdict hr_budget_judge(hr_conn *conn, const redisContext *c,
                           hr_failure *failure, hr_verdict verdict);

/*
 * Decides whether conn may reconnect c now. Every reconnect needs the
 * breaker's consent, and each but the first since a success takes a
 * token. Returns true to go ahead, or false with c->err set to
 * REDIS_ERR_OTHER and errstr "hiretry: retry budget exhausted for
 * ENDPOINT" or "hiretry: circuit open for ENDPOINT", without any system
 * call.
 */
bool hr_budget_admit_reconnect(hr_conn *conn, redisContext *c);

#endif

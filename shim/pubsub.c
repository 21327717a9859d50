/*
 * Following subscriptions from the server's confirmations, and subscribing
 * again after a reconnect.
 */
#include "pubsub.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "engine.h"
#include "hiredis_abi.h"
#include "hiretry/request.h"
#include "log.h"
#include "pipeline.h"
#include "real.h"
#include "reply.h"
#include "session.h"
#include "sigpipe.h"
#include "stats.h"

#define HR_NAMES_INITIAL_CAPACITY 8
#define HR_HELD_INITIAL_CAPACITY 8

static const char *const hr_sub_commands[HR_SUB_KINDS] = {
    "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};

/* The first element of each confirmation, with its kind and direction. */
static const struct {
    const char *word;
    hr_sub_kind kind;
    bool subscribed;
} hr_confirmations[] = {
    {"subscribe", HR_SUB_CHANNEL, true},
    {"unsubscribe", HR_SUB_CHANNEL, false},
    {"psubscribe", HR_SUB_PATTERN, true},
    {"punsubscribe", HR_SUB_PATTERN, false},
    {"ssubscribe", HR_SUB_SHARD, true},
    {"sunsubscribe", HR_SUB_SHARD, false},
};

static bool hr_names_find(const hr_names *names, const char *name, size_t len,
                          size_t *index)
{
    for (size_t i = 0; i < names->count; i++) {
        if (names->items[i].len == len &&
            memcmp(names->items[i].data, name, len) == 0) {
            *index = i;
            return true;
        }
    }
    return false;
}

static void hr_names_add(hr_names *names, const char *name, size_t len)
{
    size_t index;
    char *copy;

    if (hr_names_find(names, name, len, &index))
        return;
    if (names->count == names->capacity) {
        size_t capacity =
            names->capacity ? names->capacity * 2 : HR_NAMES_INITIAL_CAPACITY;
        hr_bytes *items = realloc(names->items, capacity * sizeof(*items));

        if (items == NULL)
            return;
        names->items = items;
        names->capacity = capacity;
    }
    /* One byte more, so that an empty name is not a zero-byte malloc. */
    copy = malloc(len + 1);
    if (copy == NULL)
        return;
    memcpy(copy, name, len);
    names->items[names->count++] = (hr_bytes){copy, len};
}

static void hr_names_remove(hr_names *names, const char *name, size_t len)
{
    size_t index;

    if (!hr_names_find(names, name, len, &index))
        return;
    free(names->items[index].data);
    names->items[index] = names->items[--names->count];
}

static void hr_names_clear(hr_names *names)
{
    for (size_t i = 0; i < names->count; i++)
        free(names->items[i].data);
    free(names->items);
    *names = (hr_names){0};
}

static size_t hr_pubsub_count(const hr_pubsub *pubsub)
{
    size_t count = 0;

    for (int kind = 0; kind < HR_SUB_KINDS; kind++)
        count += pubsub->names[kind].count;
    return count;
}

/*
 * Returns the index in hr_confirmations of a subscribe or unsubscribe
 * confirmation, or -1 for a message or any other reply.
 */
static int hr_confirmation_of(const redisContext *c, const redisReply *r)
{
    const redisReply *word;

    if (r == NULL || !hr_reply_readable(c) || !hr_reply_is_array(r->type) ||
        r->elements != 3 || r->element[2]->type != REDIS_REPLY_INTEGER)
        return -1;
    word = r->element[0];
    if (word->type != REDIS_REPLY_STRING)
        return -1;
    for (size_t i = 0;
         i < sizeof(hr_confirmations) / sizeof(hr_confirmations[0]); i++)
        if (strcmp(word->str, hr_confirmations[i].word) == 0)
            return (int)i;
    return -1;
}

void hr_pubsub_observe(hr_conn *conn, const redisContext *c, void *reply)
{
    const redisReply *r = reply;
    const redisReply *name;
    int i = hr_confirmation_of(c, r);
    hr_names *names;

    if (i < 0)
        return;
    name = r->element[1];
    names = &conn->pubsub.names[hr_confirmations[i].kind];
    /* UNSUBSCRIBE with nothing subscribed confirms a nil name. */
    if (name->type == REDIS_REPLY_STRING) {
        if (hr_confirmations[i].subscribed)
            hr_names_add(names, name->str, name->len);
        else
            hr_names_remove(names, name->str, name->len);
    }
    if (hr_pubsub_count(&conn->pubsub) == 0)
        conn->modes &= ~(unsigned)HR_CONN_SUBSCRIBED;
    else
        conn->modes |= HR_CONN_SUBSCRIBED;
}

static bool hr_held_push(hr_pubsub *pubsub, void *reply)
{
    if (pubsub->held_count == pubsub->held_capacity) {
        size_t capacity = pubsub->held_capacity ? pubsub->held_capacity * 2
                                                : HR_HELD_INITIAL_CAPACITY;
        void **held = malloc(capacity * sizeof(*held));

        if (held == NULL)
            return false;
        for (size_t i = 0; i < pubsub->held_count; i++)
            held[i] = pubsub->held[(pubsub->held_head + i) &
                                   (pubsub->held_capacity - 1)];
        free(pubsub->held);
        pubsub->held = held;
        pubsub->held_head = 0;
        pubsub->held_capacity = capacity;
    }
    pubsub->held[(pubsub->held_head + pubsub->held_count) &
                 (pubsub->held_capacity - 1)] = reply;
    pubsub->held_count++;
    return true;
}

static void *hr_held_pop(hr_pubsub *pubsub)
{
    void *reply = pubsub->held[pubsub->held_head];

    pubsub->held_head = (pubsub->held_head + 1) & (pubsub->held_capacity - 1);
    pubsub->held_count--;
    return reply;
}

void hr_pubsub_clear(hr_conn *conn)
{
    hr_pubsub *pubsub = &conn->pubsub;

    for (int kind = 0; kind < HR_SUB_KINDS; kind++)
        hr_names_clear(&pubsub->names[kind]);
    while (pubsub->held_count > 0)
        hr_real.freeReplyObject(hr_held_pop(pubsub));
    free(pubsub->held);
    *pubsub = (hr_pubsub){0};
}

/* Appends one SUBSCRIBE-family command for every name of a kind. */
static int hr_append_subscribe(redisContext *c, hr_sub_kind kind,
                               const hr_names *names)
{
    size_t argc = names->count + 1;
    const char **argv = malloc(argc * sizeof(*argv));
    size_t *argvlen = malloc(argc * sizeof(*argvlen));
    char *cmd = NULL;
    long len = -1;
    int rc = REDIS_ERR;

    if (argv != NULL && argvlen != NULL && argc <= INT_MAX) {
        argv[0] = hr_sub_commands[kind];
        argvlen[0] = strlen(argv[0]);
        for (size_t i = 0; i < names->count; i++) {
            argv[i + 1] = names->items[i].data;
            argvlen[i + 1] = names->items[i].len;
        }
        len = hr_request_format(&cmd, (int)argc, argv, argvlen);
    }
    if (len >= 0)
        rc = hr_real.redisAppendFormattedCommand(c, cmd, (size_t)len);
    free(cmd);
    free(argv);
    free(argvlen);
    return rc;
}

/* Fills attempt for a reply that is neither a confirmation nor a message. */
static void hr_resubscribe_refused(redisContext *c, hr_attempt *attempt,
                                   void *reply)
{
    const char *text = NULL;
    size_t len = 0;

    if (hr_reply_error_text(c, reply, &text, &len)) {
        attempt->failure = hr_classify_reply(text, len);
        hr_set_reconnect_error(c, text, len);
    } else {
        attempt->failure = (hr_failure){.cls = HR_CLASS_RESPONSE_ERROR,
                                        .drop_connection = true,
                                        .permanent = true};
        hr_set_reconnect_error(c, "unexpected reply", 16);
    }
    attempt->error_number = 0;
    attempt->may_have_run = false;
    attempt->error_reply = NULL;
}

/*
 * Sends again the commands the program appended and still waits for (a
 * SUBSCRIBE, a PING), which the reconnect dropped. Without their bytes,
 * they are forgotten instead: their replies can no longer come.
 */
static void hr_resend_owed(hr_conn *conn, redisContext *c)
{
    if (hr_pipeline_write_owed(conn, c) != 0)
        hr_pipeline_clear(conn);
}

/*
 * Reconnects, restores the session and subscribes again to every name,
 * absorbing the confirmations and keeping back the messages that arrive
 * among them. Returns 0, or -1 with attempt set.
 */
static int hr_subscribe_again(hr_conn *conn, redisContext *c,
                              hr_attempt *attempt)
{
    hr_pubsub *pubsub = &conn->pubsub;
    size_t expected = 0;

    for (int kind = 0; kind < HR_SUB_KINDS; kind++) {
        if (pubsub->names[kind].count == 0)
            continue;
        if (hr_append_subscribe(c, kind, &pubsub->names[kind]) != REDIS_OK) {
            hr_attempt_transport(attempt, c, ENOMEM, false);
            attempt->failure.permanent = true;
            return -1;
        }
        expected += pubsub->names[kind].count;
    }

    while (expected > 0) {
        void *reply = NULL;
        int i;

        if (hr_real.redisGetReply(c, &reply) != REDIS_OK) {
            hr_attempt_transport(attempt, c, errno, false);
            return -1;
        }
        i = hr_confirmation_of(c, reply);
        if (i >= 0 && hr_confirmations[i].subscribed) {
            expected--;
            hr_real.freeReplyObject(reply);
        } else if (i < 0 && hr_reply_readable(c) &&
                   hr_reply_is_array(((redisReply *)reply)->type) &&
                   hr_held_push(pubsub, reply)) {
            /* A message on a channel already subscribed again. */
        } else {
            hr_resubscribe_refused(c, attempt, reply);
            hr_real.freeReplyObject(reply);
            conn->reconnect_needed = true;
            return -1;
        }
    }
    conn->modes |= HR_CONN_SUBSCRIBED;
    hr_resend_owed(conn, c);
    return 0;
}

static int hr_resubscribe(hr_conn *conn, redisContext *c, hr_attempt *attempt)
{
    if (hr_reopen(conn, c, attempt) != 0)
        return -1;
    return hr_subscribe_again(conn, c, attempt);
}

/*
 * Sends a subscriber's AUTH or HELLO after the server rejected the recorded
 * credentials: first on a new connection, then the rest of the session and
 * the subscriptions follow it. Returns what redisGetReply returns.
 */
static int hr_pubsub_authenticate(hr_conn *conn, redisContext *c,
                                  const char *cmd, size_t len, void **reply)
{
    hr_attempt attempt;
    const char *text;
    size_t text_len;
    int rc;

    rc = hr_reopen(conn, c, &attempt);
    /* The reconnect cleared the modes: the subscriptions still stand. */
    conn->modes |= HR_CONN_SUBSCRIBED;
    if (rc != 0 ||
        hr_real.redisAppendFormattedCommand(c, cmd, len) != REDIS_OK ||
        hr_real.redisGetReply(c, reply) != REDIS_OK)
        return REDIS_ERR;
    if (hr_reply_error_text(c, *reply, &text, &text_len))
        return REDIS_OK;
    /* If the rest fails, the next read starts again on a new connection,
       and by then the program's new credentials are recorded. */
    if (hr_session_complete(conn, c, &attempt.failure, &attempt.error_number) !=
            0 ||
        hr_subscribe_again(conn, c, &attempt) != 0)
        conn->reconnect_needed = true;
    return REDIS_OK;
}

static void hr_log_resubscribed(const redisContext *c, const hr_pubsub *pubsub,
                                int64_t down_ns)
{
    char endpoint[160];

    if (!hr_log_enabled(HR_LOG_INFO))
        return;
    hr_conn_endpoint(c, endpoint, sizeof(endpoint));
    /* Messages published in the gap are lost: only its length is known. */
    hr_log_write(HR_LOG_INFO,
                 "event=resubscribed endpoint=%s channels=%zu patterns=%zu "
                 "shard_channels=%zu gap_ms=%.3f",
                 endpoint, pubsub->names[HR_SUB_CHANNEL].count,
                 pubsub->names[HR_SUB_PATTERN].count,
                 pubsub->names[HR_SUB_SHARD].count, (double)down_ns / 1e6);
}

int hr_pubsub_next(hr_conn *conn, redisContext *c, void **reply)
{
    void *aux = NULL;
    int rc;

    if (conn->pubsub.held_count > 0) {
        *reply = hr_held_pop(&conn->pubsub);
        return REDIS_OK;
    }
    rc = hr_real.redisGetReply(c, &aux);
    if (rc == REDIS_OK)
        hr_pubsub_observe(conn, c, aux);
    *reply = aux;
    return rc;
}

/*
 * Retries subscribing again on a new connection under the policy. first is
 * the failure that broke the connection, or NULL when the connection was
 * already known to be broken. Returns 0, or -1 with c->err and errno set.
 */
static int hr_pubsub_reconnect(hr_conn *conn, redisContext *c,
                               const hr_attempt *first, int saved_errno)
{
    const hr_policy *policy = &hr_shim_config.policy;
    int64_t start_ns = hr_now_ns();
    hr_call call;
    hr_attempt attempt;
    int64_t delay_ns;

    hr_call_begin_at(&call, policy, &hr_monotonic_clock, start_ns);
    if (first != NULL)
        attempt = *first;
    for (;;) {
        if (first == NULL || call.failures > 0) {
            hr_sigpipe_guard guard;
            int rc;

            hr_sigpipe_block(&guard);
            rc = hr_resubscribe(conn, c, &attempt);
            hr_sigpipe_restore(&guard, rc != 0);
            /* The reconnect cleared the modes, and a later read must
               subscribe again even if this one gives up. */
            conn->modes |= HR_CONN_SUBSCRIBED;
            if (rc == 0) {
                hr_budget_success(conn);
                hr_stats_recovered(&call);
                hr_log_resubscribed(c, &conn->pubsub, hr_now_ns() - start_ns);
                errno = saved_errno;
                return 0;
            }
        }

        hr_verdict verdict =
            hr_call_failed(&call, &attempt.failure, true, &delay_ns);
        verdict = hr_budget_judge(conn, c, &attempt.failure, verdict);
        hr_stats_failed(&call, attempt.failure.cls, verdict);
        hr_log_attempt(c, "subscriber", &call, &attempt, verdict, delay_ns);
        if (verdict != HR_RETRY) {
            errno = attempt.error_number ? attempt.error_number : saved_errno;
            return -1;
        }
        hr_call_sleep(&call, delay_ns);
    }
}

int hr_pubsub_read(hr_conn *conn, redisContext *c, void **reply)
{
    int saved_errno = errno;
    hr_attempt attempt;
    void *aux = NULL;

    if (hr_pubsub_count(&conn->pubsub) == 0) {
        conn->modes &= ~(unsigned)HR_CONN_SUBSCRIBED;
        return hr_real.redisGetReply(c, reply);
    }
    if (conn->pubsub.held_count == 0 && (c->err || conn->reconnect_needed) &&
        hr_pubsub_reconnect(conn, c, NULL, saved_errno) != 0)
        return REDIS_ERR;

    for (;;) {
        if (hr_pubsub_next(conn, c, &aux) == REDIS_OK) {
            if (reply != NULL)
                *reply = aux;
            errno = saved_errno;
            return REDIS_OK;
        }
        hr_attempt_transport(&attempt, c, errno, false);
        /* The program's own socket timeout, with nothing lost. */
        if (attempt.failure.cls == HR_CLASS_TIMEOUT_ERROR)
            return REDIS_ERR;
        if (hr_pubsub_reconnect(conn, c, &attempt, saved_errno) != 0)
            return REDIS_ERR;
    }
}

int hr_pubsub_command(hr_conn *conn, redisContext *c, const char *cmd,
                      size_t len, void **reply)
{
    int saved_errno = errno;

    *reply = NULL;
    if (conn->awaiting_auth && conn->opening_session)
        return hr_pubsub_authenticate(conn, c, cmd, len, reply);
    /* A command on a connection the server closed while idle cannot have
       run: it goes out on a new one. */
    if ((c->err || conn->reconnect_needed ||
         hr_closed_while_idle(conn, c, hr_now_ns())) &&
        hr_pubsub_reconnect(conn, c, NULL, saved_errno) != 0)
        return REDIS_ERR;
    if (hr_real.redisAppendFormattedCommand(c, cmd, len) != REDIS_OK)
        return REDIS_ERR;
    return hr_pubsub_next(conn, c, reply);
}

bool hr_pubsub_is_message(const hr_conn *conn, const redisContext *c,
                          void *reply)
{
    const redisReply *r = reply;
    const char *word;

    if (!(conn->modes & HR_CONN_SUBSCRIBED) || r == NULL ||
        !hr_reply_readable(c) || !hr_reply_is_array(r->type) ||
        r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING)
        return false;
    word = r->element[0]->str;
    return strcmp(word, "message") == 0 || strcmp(word, "pmessage") == 0 ||
           strcmp(word, "smessage") == 0;
}

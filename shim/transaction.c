/*
 * Recording and rebuilding MULTI blocks. transaction.h describes when a
 * block is carried to a new connection.
 */
#include "transaction.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "real.h"
#include "reply.h"
#include "session.h"

#define HR_TX_INITIAL_CAPACITY 8

static const char hr_multi_request[] = "*1\r\n$5\r\nMULTI\r\n";

void hr_transaction_begin(hr_conn *conn, const redisContext *c)
{
    hr_transaction_end(conn);
    conn->tx.open = true;
    /* Replies of a custom reader cannot be checked for QUEUED. */
    conn->tx.replayable = hr_reply_readable(c);
}

void hr_transaction_end(hr_conn *conn)
{
    hr_transaction *tx = &conn->tx;

    for (size_t i = 0; i < tx->count; i++) {
        /* A queued AUTH may carry a password. */
        explicit_bzero(tx->queued[i].data, tx->queued[i].len);
        free(tx->queued[i].data);
    }
    free(tx->queued);
    *tx = (hr_transaction){0};
}

void hr_transaction_unreplayable(hr_conn *conn)
{
    hr_transaction *tx = &conn->tx;

    for (size_t i = 0; i < tx->count; i++) {
        explicit_bzero(tx->queued[i].data, tx->queued[i].len);
        free(tx->queued[i].data);
    }
    tx->count = 0;
    tx->len = 0;
    tx->replayable = false;
}

static bool hr_transaction_push(hr_transaction *tx, const char *cmd, size_t len)
{
    char *copy;

    if (tx->count == tx->capacity) {
        size_t capacity =
            tx->capacity ? tx->capacity * 2 : HR_TX_INITIAL_CAPACITY;
        hr_bytes *queued = realloc(tx->queued, capacity * sizeof(*queued));

        if (queued == NULL)
            return false;
        tx->queued = queued;
        tx->capacity = capacity;
    }
    copy = malloc(len);
    if (copy == NULL)
        return false;
    memcpy(copy, cmd, len);
    tx->queued[tx->count++] = (hr_bytes){copy, len};
    tx->len += len;
    return true;
}

void hr_transaction_record(hr_conn *conn, const redisContext *c,
                           const char *cmd, size_t len, void *reply)
{
    hr_transaction *tx = &conn->tx;
    hr_command command;
    unsigned flags;

    if (!tx->replayable)
        return;
    hr_command_init(&command, cmd, len);
    flags = command.flags;
    hr_command_release(&command);
    /* A command the server rejected makes EXEC fail with EXECABORT, a
       reply the shim cannot reproduce on its own. A pub/sub or
       never-repeated command run by EXEC changes the connection in ways
       the shim does not follow. */
    if (!hr_reply_status_is(c, reply, "QUEUED") ||
        (flags & (HR_COMMAND_PUBSUB | HR_COMMAND_NEVER_REPEAT)) ||
        tx->len + len > hr_shim_config.pipeline_max ||
        !hr_transaction_push(tx, cmd, len))
        hr_transaction_unreplayable(conn);
}

/* Reads one reply of the replay and checks that it is the status text. */
static int hr_replay_expect(redisContext *c, const char *text,
                            hr_attempt *attempt)
{
    void *reply = NULL;
    const char *error;
    size_t error_len;

    if (hr_real.redisGetReply(c, &reply) != REDIS_OK) {
        hr_attempt_transport(attempt, c, errno, false);
        return -1;
    }
    if (hr_reply_status_is(c, reply, text)) {
        hr_real.freeReplyObject(reply);
        return 0;
    }

    /* A LOADING or READONLY here is retried like any refusal. Any other
       reply means the block cannot be rebuilt as it was. */
    if (hr_reply_error_text(c, reply, &error, &error_len)) {
        attempt->failure = hr_classify_reply(error, error_len);
        hr_set_reconnect_error(c, error, error_len);
    } else {
        attempt->failure = (hr_failure){.cls = HR_CLASS_RESPONSE_ERROR,
                                        .not_executed = true,
                                        .drop_connection = true,
                                        .permanent = true};
        hr_set_reconnect_error(c, "unexpected reply", 16);
    }
    attempt->error_number = 0;
    attempt->may_have_run = false;
    attempt->error_reply = NULL;
    hr_real.freeReplyObject(reply);
    return -1;
}

/* Appends a request to the output buffer, or fails like out of memory. */
static int hr_replay_append(redisContext *c, const char *cmd, size_t len,
                            hr_attempt *attempt)
{
    if (hr_real.redisAppendFormattedCommand(c, cmd, len) == REDIS_OK)
        return 0;
    hr_attempt_transport(attempt, c, errno, false);
    attempt->failure.permanent = true;
    return -1;
}

int hr_transaction_replay(hr_conn *conn, redisContext *c, hr_attempt *attempt)
{
    const hr_transaction *tx = &conn->tx;
    int rc;

    /* The block cannot be rebuilt: fail the command on the new connection
       instead of letting it run outside any MULTI. */
    if (!tx->replayable) {
        c->err = REDIS_ERR_OTHER;
        snprintf(c->errstr, sizeof(c->errstr),
                 "transaction lost with its connection");
        attempt->failure = (hr_failure){.cls = HR_CLASS_CONNECTION_ERROR,
                                        .not_executed = true,
                                        .drop_connection = true,
                                        .permanent = true};
        attempt->error_number = 0;
        attempt->may_have_run = false;
        attempt->error_reply = NULL;
        return -1;
    }

    /* MULTI goes alone: were it rejected, commands sent behind it would
       run at once instead of being queued. */
    rc = hr_replay_append(c, hr_multi_request, sizeof(hr_multi_request) - 1,
                          attempt);
    if (rc == 0)
        rc = hr_replay_expect(c, "OK", attempt);
    for (size_t i = 0; rc == 0 && i < tx->count; i++)
        rc =
            hr_replay_append(c, tx->queued[i].data, tx->queued[i].len, attempt);

    /* Every reply is read, even after a wrong one, so that none is left
       for the program's next command. A rejected one marks the block, and
       EXEC is never sent on this connection. */
    if (rc == 0) {
        for (size_t i = 0; i < tx->count && !c->err; i++)
            if (hr_replay_expect(c, "QUEUED", attempt) != 0)
                rc = -1;
    }
    if (rc != 0 || c->err) {
        conn->reconnect_needed = true;
        return -1;
    }
    conn->modes |= HR_CONN_MULTI;
    return 0;
}

bool hr_transaction_repeat_allowed(const hr_conn *conn,
                                   const hr_command *command, bool may_have_run,
                                   hr_writes writes)
{
    const hr_transaction *tx = &conn->tx;

    if (!tx->replayable)
        return false;
    if (!hr_command_is(command, "exec") || !may_have_run)
        return true;

    for (size_t i = 0; i < tx->count; i++) {
        hr_command queued;
        bool allowed;

        hr_command_init(&queued, tx->queued[i].data, tx->queued[i].len);
        hr_command_classify_fully(&queued);
        allowed =
            !(queued.flags & (HR_COMMAND_TRANSACTION | HR_COMMAND_PUBSUB |
                              HR_COMMAND_BLOCKING | HR_COMMAND_NEVER_REPEAT)) &&
            hr_repeat_allowed(writes, queued.info.safety, true);
        hr_command_release(&queued);
        if (!allowed)
            return false;
    }
    return true;
}

void hr_transaction_record_session(hr_conn *conn, const redisContext *c,
                                   void *reply)
{
    const hr_transaction *tx = &conn->tx;
    const redisReply *r = reply;

    if (!tx->replayable || !hr_reply_readable(c) || r == NULL ||
        r->type != REDIS_REPLY_ARRAY || r->elements != tx->count)
        return;
    for (size_t i = 0; i < tx->count; i++) {
        hr_command command;

        if (r->element[i]->type == REDIS_REPLY_ERROR)
            continue;
        hr_command_init(&command, tx->queued[i].data, tx->queued[i].len);
        if (command.flags & HR_COMMAND_SESSION) {
            hr_command_args(&command);
            hr_session_record(conn, command.argv, command.argc,
                              tx->queued[i].data, tx->queued[i].len);
        }
        hr_command_release(&command);
    }
}

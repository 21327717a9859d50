/*
 * One call of the program's: a command sent with the policy, or once in a
 * mode that passes it through, the reads of owed replies, and the
 * program's connects and reconnects.
 */
#include "engine.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "hiretry/commands.h"
#include "hiretry/policy.h"
#include "log.h"
#include "pipeline.h"
#include "pubsub.h"
#include "real.h"
#include "reply.h"
#include "sentinel.h"
#include "session.h"
#include "stats.h"
#include "transaction.h"

/*
 * Modes in which a command is sent once, exactly as hiredis would. A failed
 * connection owes no replies and has no pipeline left, so once the program
 * has left a broken transaction, the engine reconnects it like any other.
 */
static bool hr_pass_through(hr_conn *conn, const redisContext *c,
                            const hr_command *command)
{
    if (command->flags & HR_COMMAND_NEVER_REPEAT)
        return true;
    if (conn->tx.open && conn->modes == HR_CONN_MULTI)
        return false;
    /* A subscriber subscribes again before its command is sent. */
    if (c->err &&
        !(conn->modes & (HR_CONN_TRANSACTION_LOST | HR_CONN_SUBSCRIBED))) {
        conn->modes = 0;
        return false;
    }
    return conn->modes != 0 || hr_output_pending(c) != 0;
}

/* Sends a command once with no policy, keeping the modes up to date. */
static void *hr_send_once(hr_conn *conn, redisContext *c, hr_command *command,
                          const char *cmd, size_t len)
{
    bool in_transaction = conn->modes & (HR_CONN_MULTI | HR_CONN_WATCHING |
                                         HR_CONN_TRANSACTION_LOST);
    bool ends_transaction = hr_ends_transaction(conn, command);
    void *reply = NULL;

    /* A lost transaction's commands fail unsent: the connection may be a
       new one, where they would run at once, outside any MULTI. */
    if ((conn->modes & HR_CONN_TRANSACTION_LOST) && c->err == 0) {
        c->err = REDIS_ERR_OTHER;
        snprintf(c->errstr, sizeof(c->errstr),
                 "transaction lost with its connection");
    }

    /* On a failed connection hiredis would keep the bytes in its output
       buffer and send them after a reconnect. While subscribed, the reply
       returned is the next message, which may have been kept back. */
    if ((conn->modes & HR_CONN_SUBSCRIBED) &&
        !(conn->modes & HR_CONN_MONITORING)) {
        hr_pubsub_command(conn, c, cmd, len, &reply);
    } else if (c->err == 0 &&
               hr_real.redisAppendFormattedCommand(c, cmd, len) == REDIS_OK) {
        hr_real.redisGetReply(c, &reply);
    }

    if (reply == NULL) {
        /* A transaction whose connection failed fails as a whole: no
           command of it may reach a new connection. */
        if (in_transaction && !ends_transaction)
            hr_transaction_lose(conn);
        if (ends_transaction)
            hr_transaction_close(conn);
        return NULL;
    }
    hr_after_success(conn, c, command, cmd, len, reply);
    return reply;
}

/* Ends a call that gave up: returns what hiredis would have returned. */
static void *hr_give_up(hr_conn *conn, const hr_attempt *attempt,
                        int saved_errno)
{
    if (attempt->error_reply != NULL) {
        errno = saved_errno;
        return attempt->error_reply;
    }
    if (attempt->failure.drop_connection)
        conn->reconnect_needed = true;
    errno = attempt->error_number ? attempt->error_number : saved_errno;
    return NULL;
}

/*
 * Returns true when bytes wait to be read on a connection that owes no
 * reply: a reply to a command never sent, which hiredis would hand to the
 * next command. The bytes may already sit in hiredis's reader, or still in
 * the socket. An idle connection the server closed also returns true.
 */
static bool hr_unexpected_bytes(const redisContext *c)
{
    int saved_errno = errno;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    bool pending;

    if (c->reader != NULL && c->reader->len > c->reader->pos)
        return true;
    pending = c->fd >= 0 && poll(&pfd, 1, 0) == 1;
    errno = saved_errno;
    return pending;
}

/*
 * Marks an idle connection for a reconnect before a command is written on
 * it, when the server closed it or sent bytes while no reply was owed.
 * Either way the command cannot have run yet.
 */
static void hr_check_idle(hr_conn *conn, redisContext *c, int64_t now)
{
    char endpoint[160];

    if (now - conn->last_io_ns < hr_shim_config.idle_check_ns || c->err ||
        conn->reconnect_needed || !hr_unexpected_bytes(c))
        return;

    conn->reconnect_needed = true;
    if (hr_closed_while_idle(conn, c, now))
        return;
    hr_conn_endpoint(c, endpoint, sizeof(endpoint));
    hr_log(HR_LOG_WARN, "event=unexpected_reply endpoint=%s fd=%d", endpoint,
           c->fd);
}

/*
 * Updates the session and the modes after a successful command, and starts
 * recording a transaction that MULTI opened with no WATCH active.
 */
static void hr_after_command(hr_conn *conn, redisContext *c,
                             hr_command *command, const char *cmd, size_t len,
                             void *reply)
{
    bool opens = !conn->tx.open && hr_command_is(command, "multi");

    if (conn->tx.open && hr_command_is(command, "exec"))
        hr_transaction_record_session(conn, c, reply);
    hr_after_success(conn, c, command, cmd, len, reply);
    if (opens && conn->modes == HR_CONN_MULTI)
        hr_transaction_begin(conn, c);
}

/*
 * Ends the recording after a command inside MULTI failed for good. EXEC
 * and DISCARD close the block either way. A queued command that the server
 * rejected leaves the block open, marked, and one lost with its connection
 * makes every command up to EXEC or DISCARD fail.
 */
static void hr_transaction_failed(hr_conn *conn, redisContext *c,
                                  const hr_command *command, const char *cmd,
                                  size_t len, const hr_attempt *attempt)
{
    if (hr_ends_transaction(conn, command))
        hr_transaction_close(conn);
    else if (attempt->error_reply != NULL && !conn->reconnect_needed)
        hr_transaction_record(conn, c, cmd, len, attempt->error_reply);
    else
        hr_transaction_lose(conn);
}

/*
 * Sends the rest of the session after the program's AUTH or HELLO opened
 * it. On a failure the next command reconnects, and its restore fails the
 * same way before anything of the program's is sent.
 */
static void hr_finish_session(hr_conn *conn, redisContext *c)
{
    hr_failure failure;
    int error_number;

    if (hr_session_complete(conn, c, &failure, &error_number) != 0)
        conn->reconnect_needed = true;
}

/*
 * Returns true when a blocking command outlived the socket timeout the
 * program set. The command still waits on the server, and the timeout is
 * the program's own choice: it gets it as from hiredis, with no retry.
 */
static bool hr_blocking_timed_out(const hr_command *command,
                                  const hr_attempt *attempt)
{
    return (command->flags & HR_COMMAND_BLOCKING) &&
           attempt->error_reply == NULL &&
           attempt->failure.cls == HR_CLASS_TIMEOUT_ERROR;
}

static void *hr_retry_loop(hr_conn *conn, redisContext *c, hr_command *command,
                           const char *cmd, size_t len, int saved_errno)
{
    const hr_policy *policy = &hr_shim_config.policy;
    hr_writes writes = hr_command_writes(command, policy->writes);
    int64_t now = hr_now_ns();
    hr_call call;
    hr_attempt attempt;
    int64_t delay_ns;

    hr_check_idle(conn, c, now);
    call.failures = 0; /* the call itself starts at the first failure */
    for (;;) {
        void *reply = hr_attempt_command(conn, c, command, cmd, len,
                                         call.failures > 0, &attempt);
        if (reply != NULL) {
            conn->last_io_ns = hr_now_ns();
            hr_budget_success(conn);
            hr_stats_recovered(&call);
            if (conn->awaiting_auth && conn->opening_session)
                hr_finish_session(conn, c);
            if (conn->tx.open && !(command->flags & HR_COMMAND_TRANSACTION))
                hr_transaction_record(conn, c, cmd, len, reply);
            if (command->flags & HR_COMMAND_TRACKED)
                hr_after_command(conn, c, command, cmd, len, reply);
            errno = saved_errno;
            return reply;
        }

        if (hr_blocking_timed_out(command, &attempt)) {
            hr_log(HR_LOG_DEBUG, "event=blocking_timeout fd=%d", c->fd);
            return hr_give_up(conn, &attempt, saved_errno);
        }
        if (call.failures == 0)
            hr_call_begin_at(&call, policy, &hr_monotonic_clock, now);
        bool allowed;
        if (conn->tx.open) {
            allowed = hr_transaction_repeat_allowed(
                conn, command, attempt.may_have_run, policy->writes);
        } else {
            if (attempt.may_have_run)
                hr_command_classify_fully(command);
            allowed = hr_repeat_allowed(writes, command->info.safety,
                                        attempt.may_have_run);
        }
        hr_verdict verdict =
            hr_call_failed(&call, &attempt.failure, allowed, &delay_ns);
        verdict = hr_budget_judge(conn, c, &attempt.failure, verdict);
        hr_stats_failed(&call, attempt.failure.cls, verdict);
        if (hr_log_enabled(HR_LOG_WARN)) {
            char name[40];
            hr_command_name(command, name, sizeof(name));
            hr_log_attempt(c, name, &call, &attempt, verdict, delay_ns);
        }
        if (verdict != HR_RETRY) {
            if (conn->tx.open)
                hr_transaction_failed(conn, c, command, cmd, len, &attempt);
            return hr_give_up(conn, &attempt, saved_errno);
        }

        /* Inside MULTI, even a command the server refused (LOADING) marks
           the block: only a new connection rebuilds it clean. */
        if (conn->tx.open)
            conn->reconnect_needed = true;
        if (attempt.error_reply != NULL)
            hr_real.freeReplyObject(attempt.error_reply);
        hr_call_sleep(&call, delay_ns);
    }
}

int hr_engine_get_reply(hr_conn *conn, redisContext *c, void **reply)
{
    void *aux = NULL;
    int rc;

    if (conn->modes == 0)
        return hr_pipeline_read(conn, c, reply);

    if ((conn->modes & HR_CONN_SUBSCRIBED) &&
        !(conn->modes & HR_CONN_MONITORING))
        rc = hr_pubsub_read(conn, c, &aux);
    else
        rc = hr_real.redisGetReply(c, &aux);

    if (rc != REDIS_OK) {
        /* The owed replies are lost with the connection, and so is an
           open transaction: its commands must now fail up to its end,
           unless the program already sent that end. */
        if (hr_pipeline_owes_transaction_end(conn))
            hr_transaction_close(conn);
        else if (conn->modes & (HR_CONN_MULTI | HR_CONN_WATCHING))
            hr_transaction_lose(conn);
        hr_pipeline_clear(conn);
    } else if (aux != NULL && conn->owed.count > 0 &&
               !hr_pubsub_is_message(conn, c, aux)) {
        /* A pub/sub message is the reply to no command. */
        hr_pipeline_pop(conn, c, aux);
    }
    if (reply != NULL)
        *reply = aux;
    return rc;
}

/*
 * Sends a command behind owed ones. As in hiredis, the reply returned is the
 * one to the oldest owed command, and the command joins the pipeline.
 */
static void *hr_join_pipeline(hr_conn *conn, redisContext *c, char *cmd,
                              size_t len)
{
    void *reply = NULL;

    if (hr_pipeline_append(conn, c, cmd, len) != REDIS_OK)
        return NULL;
    if (hr_engine_get_reply(conn, c, &reply) != REDIS_OK)
        return NULL;
    return reply;
}

/*
 * Keeps a large command in the connection's spare buffer and returns the
 * bytes to send. hiredis frees a formatted command once it is in the output
 * buffer, before writing. A retry needs it until the reply, and freeing it
 * only after the reply changed the order of frees enough for malloc to give
 * the heap top back to the kernel and take it again on every command. A
 * 100 KiB SET loop ran at a third of its speed.
 *
 * A command as long as the one kept before it takes its place, and the
 * previous buffer is freed, so a loop of equal commands copies nothing. A
 * command of another length is copied into the spare buffer, which stays
 * where it is. Swapping at every length moved the kept buffer around the
 * heap, so malloc again gave the heap top back and took it again. With
 * glibc 2.36, SETs of random lengths from 65 KiB to 1 MiB had 5 times the
 * page faults of the copy.
 */
static char *hr_keep_large(hr_conn *conn, char *cmd, size_t len)
{
    if (conn->spare == NULL || len == conn->spare_len) {
        free(conn->spare);
        conn->spare = cmd;
        conn->spare_size = len;
        conn->spare_len = len;
        return cmd;
    }
    if (len > conn->spare_size) {
        char *spare = realloc(conn->spare, len);

        if (spare == NULL)
            return cmd;
        conn->spare = spare;
        conn->spare_size = len;
    }
    memcpy(conn->spare, cmd, len);
    conn->spare_len = len;
    free(cmd);
    return conn->spare;
}

void *hr_engine_command(hr_conn *conn, redisContext *c, char *cmd, size_t len)
{
    int saved_errno = errno;
    hr_command command;
    void *reply;

    /* A command joining a pipeline is counted when its reply is read. */
    if (conn->owed.count > 0)
        return hr_join_pipeline(conn, c, cmd, len);

    hr_stats_count_call();
    if (len > HR_LARGE_COMMAND && len <= HR_SPARE_MAX)
        cmd = hr_keep_large(conn, cmd, len);
    hr_command_init(&command, cmd, len);
    /* Only read after rejected credentials, so the common path skips the
       name comparisons. */
    conn->opening_session =
        conn->awaiting_auth &&
        (hr_command_is(&command, "auth") || hr_command_is(&command, "hello"));
    if (hr_pass_through(conn, c, &command))
        reply = hr_send_once(conn, c, &command, cmd, len);
    else
        reply = hr_retry_loop(conn, c, &command, cmd, len, saved_errno);
    conn->opening_session = false;
    hr_command_release(&command);
    if (cmd != conn->spare)
        free(cmd);
    return reply;
}

/*
 * Reconnects c for the program's connect, pointed at the primary again
 * when it follows Sentinel. Returns REDIS_OK, or REDIS_ERR with c->err set.
 */
static int hr_connect_again(hr_conn *conn, redisContext *c)
{
    hr_failure failure;
    int error_number;

    if (hr_reconnect_in_place(conn, c) != REDIS_OK)
        return REDIS_ERR;
    if (conn->sentinel && hr_sentinel_verify(c, &failure, &error_number) != 0)
        return REDIS_ERR;
    return REDIS_OK;
}

redisContext *hr_engine_connected(redisContext *c, int error_number,
                                  const hr_sentinel_target *target)
{
    hr_conn *conn;
    hr_call call;
    hr_attempt attempt;
    int64_t delay_ns;

    if (c == NULL || !(c->flags & REDIS_BLOCK))
        return c;
    conn = hr_conn_add(c);
    if (conn == NULL) {
        hr_log(HR_LOG_WARN, "event=untracked reason=out_of_memory");
        return c;
    }
    conn->last_io_ns = hr_now_ns();
    if (target != NULL && target->follows)
        hr_sentinel_connected(conn, c, target);

    hr_call_begin_at(&call, &hr_shim_config.policy, &hr_monotonic_clock,
                     hr_now_ns());
    while (c->err) {
        hr_attempt_transport(&attempt, c, error_number, false);
        hr_verdict verdict =
            hr_call_failed(&call, &attempt.failure, true, &delay_ns);
        verdict = hr_budget_judge(conn, c, &attempt.failure, verdict);
        hr_stats_failed(&call, attempt.failure.cls, verdict);
        hr_log_attempt(c, "connect", &call, &attempt, verdict, delay_ns);
        if (verdict != HR_RETRY) {
            errno = error_number;
            break;
        }
        hr_call_sleep(&call, delay_ns);
        hr_connect_again(conn, c);
        error_number = errno;
    }
    if (c->err == 0)
        hr_stats_recovered(&call);
    return c;
}

int hr_engine_reconnect(hr_conn *conn, redisContext *c)
{
    int saved_errno = errno;
    hr_call call;
    hr_attempt attempt;
    int64_t delay_ns;

    /* hiredis drops the output buffer and the reader: no owed reply can
       arrive any more, and the server drops an open MULTI. */
    hr_pipeline_clear(conn);
    hr_transaction_end(conn);
    hr_pubsub_clear(conn);
    /* After rejected credentials the program authenticates itself next:
       the reconnect stays bare, and the rest follows its AUTH. */
    conn->opening_session = conn->awaiting_auth;
    /* A session the shim does not know is the program's to set up again,
       as without the shim. */
    if (conn->session_unknown) {
        hr_conn_clear_session(conn);
        conn->session_unknown = false;
    }
    hr_call_begin_at(&call, &hr_shim_config.policy, &hr_monotonic_clock,
                     hr_now_ns());
    for (;;) {
        if (hr_reopen(conn, c, &attempt) == 0) {
            hr_budget_success(conn);
            hr_stats_recovered(&call);
            conn->opening_session = false;
            conn->last_io_ns = hr_now_ns();
            errno = saved_errno;
            return REDIS_OK;
        }
        hr_verdict verdict =
            hr_call_failed(&call, &attempt.failure, true, &delay_ns);
        verdict = hr_budget_judge(conn, c, &attempt.failure, verdict);
        hr_stats_failed(&call, attempt.failure.cls, verdict);
        hr_log_attempt(c, "reconnect", &call, &attempt, verdict, delay_ns);
        if (verdict != HR_RETRY) {
            conn->opening_session = false;
            errno = attempt.error_number ? attempt.error_number : saved_errno;
            return REDIS_ERR;
        }
        hr_call_sleep(&call, delay_ns);
    }
}

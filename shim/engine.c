/*
 * The retry engine: one logical call of a wrapped hiredis function, its
 * attempts, reconnects and session restores, driven by core/'s policy.
 */
#include "engine.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <hiredis/sds.h>

#include "hiretry/commands.h"
#include "hiretry/policy.h"
#include "log.h"
#include "pipeline.h"
#include "pubsub.h"
#include "transaction.h"
#include "real.h"
#include "reply.h"
#include "session.h"
#include "sigpipe.h"

bool hr_socket_closed(int fd)
{
    int saved_errno = errno;
    struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLRDHUP};
    bool closed = false;

    if (poll(&pfd, 1, 0) == 1)
        closed = (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
    errno = saved_errno;
    return closed;
}

/* What the program set on its reader, which redisReconnect replaces. */
typedef struct hr_reader_settings {
    redisReplyObjectFunctions *fn;
    void *privdata;
    size_t maxbuf;
} hr_reader_settings;

static hr_reader_settings hr_reader_save(const redisContext *c)
{
    hr_reader_settings settings = {NULL, NULL, 0};

    if (c->reader != NULL)
        settings = (hr_reader_settings){c->reader->fn, c->reader->privdata,
                                        c->reader->maxbuf};
    return settings;
}

/* Puts the program's reader settings back, a NULL fn included. */
static void hr_reader_put(redisContext *c, const hr_reader_settings *settings)
{
    if (c->reader == NULL)
        return;
    c->reader->fn = settings->fn;
    c->reader->privdata = settings->privdata;
    c->reader->maxbuf = settings->maxbuf;
}

/*
 * Reconnects c in place with hiredis's redisReconnect, which gives it a
 * reader with hiredis's own functions. The socket is closed here first,
 * because redisReconnect closes c->fd without clearing it: after a failed
 * name lookup a second reconnect would close a descriptor the program may
 * have reused since.
 */
static int hr_reconnect_in_place(hr_conn *conn, redisContext *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    conn->modes = 0;
    conn->reconnect_needed = false;
    return hr_real.redisReconnect(c);
}

void hr_attempt_transport(hr_attempt *attempt, redisContext *c,
                          int error_number, bool may_have_run)
{
    attempt->error_number = error_number;
    attempt->failure = hr_classify_transport(
        (hr_transport_error)c->err, error_number, c->errstr, strlen(c->errstr));
    attempt->may_have_run = may_have_run;
    attempt->error_reply = NULL;
}

/*
 * Reconnects and restores the session and an open transaction. The shim
 * reads its own replies with hiredis's reader functions, and the program's
 * go back on the reader at the end, whatever happened.
 */
int hr_reopen(hr_conn *conn, redisContext *c, hr_attempt *attempt)
{
    hr_reader_settings settings = hr_reader_save(c);
    int rc = 0;

    if (conn->session_unknown) {
        /* A command sent on a new connection without the program's
           session could run in the wrong database, or as another user. */
        c->err = REDIS_ERR_OTHER;
        snprintf(c->errstr, sizeof(c->errstr),
                 "reconnect: session changed by inline commands");
        attempt->failure = (hr_failure){.cls = HR_CLASS_CONNECTION_ERROR,
                                        .drop_connection = true,
                                        .permanent = true};
        attempt->error_number = 0;
        attempt->may_have_run = false;
        attempt->error_reply = NULL;
        return -1;
    }
    if (hr_reconnect_in_place(conn, c) != REDIS_OK) {
        hr_attempt_transport(attempt, c, errno, false);
        rc = -1;
    } else if (hr_session_restore(conn, c, &attempt->failure,
                                  &attempt->error_number) != 0) {
        attempt->may_have_run = false;
        attempt->error_reply = NULL;
        conn->reconnect_needed = true;
        rc = -1;
    } else if (conn->tx.open) {
        rc = hr_transaction_replay(conn, c, attempt);
    }
    hr_reader_put(c, &settings);
    return rc;
}

/*
 * Copies the code of an error reply ("LOADING", "WRONGTYPE") or the
 * context's errstr into buf, printable bytes only: never the rest of a
 * reply, which may echo what the program sent.
 */
static void hr_attempt_error(const redisContext *c, const hr_attempt *attempt,
                             char *buf, size_t size)
{
    const char *text = c->errstr;
    size_t len = strlen(c->errstr);
    size_t n = 0;

    if (attempt->error_reply != NULL) {
        const redisReply *r = attempt->error_reply;
        const char *space = memchr(r->str, ' ', r->len);
        text = r->str;
        len = space ? (size_t)(space - r->str) : r->len;
    }
    for (size_t i = 0; i < len && n + 1 < size; i++) {
        unsigned char ch = (unsigned char)text[i];
        buf[n++] = (ch >= ' ' && ch < 0x7f && ch != '"') ? (char)ch : '?';
    }
    buf[n] = '\0';
}

/*
 * Logs a failed attempt: a retry at info, a give-up at warn. An error reply
 * that is simply not retried is part of a healthy program's work, so it is
 * logged at debug only.
 */
void hr_log_attempt(const redisContext *c, const char *what,
                    const hr_call *call, const hr_attempt *attempt,
                    hr_verdict verdict, int64_t delay_ns)
{
    hr_log_level level = HR_LOG_WARN;
    char endpoint[160];
    char error[96];

    if (verdict == HR_RETRY)
        level = HR_LOG_INFO;
    else if (verdict == HR_GIVE_UP_NOT_RETRYABLE && call->failures == 1)
        level = HR_LOG_DEBUG;
    if (!hr_log_enabled(level))
        return;
    hr_conn_endpoint(c, endpoint, sizeof(endpoint));
    hr_attempt_error(c, attempt, error, sizeof(error));
    if (verdict == HR_RETRY)
        hr_log_write(level,
                     "event=retry endpoint=%s command=%s class=%s attempt=%d "
                     "delay_ms=%.3f error=\"%s\"",
                     endpoint, what, hr_class_name(attempt->failure.cls),
                     call->failures, (double)delay_ns / 1e6, error);
    else
        hr_log_write(level,
                     "event=give_up endpoint=%s command=%s class=%s "
                     "attempt=%d reason=%s error=\"%s\"",
                     endpoint, what, hr_class_name(attempt->failure.cls),
                     call->failures, hr_verdict_name(verdict), error);
}

/*
 * Runs one attempt: reconnects first when needed, then sends cmd and reads
 * its reply. Returns the reply on success, or NULL with attempt set.
 */
static void *hr_attempt_command(hr_conn *conn, redisContext *c,
                                const hr_command *command, const char *cmd,
                                size_t len, bool guarded, hr_attempt *attempt)
{
    void *reply = NULL;
    const char *text;
    size_t text_len;
    hr_sigpipe_guard guard;
    bool reopen = c->err || conn->reconnect_needed;
    int rc;

    /* Only the flag: zeroing the whole guard, signal mask included, would
       cost more than the rest of a successful call. */
    guard.active = false;
    /* A retry or a reconnect follows a failure, when a write into a closed
       connection is most likely. */
    if (guarded || reopen || len > HR_LARGE_COMMAND)
        hr_sigpipe_block(&guard);
    if (reopen && hr_reopen(conn, c, attempt)) {
        hr_sigpipe_restore(&guard, true);
        return NULL;
    }

    if (hr_real.redisAppendFormattedCommand(c, cmd, len) != REDIS_OK) {
        hr_sigpipe_restore(&guard, true);
        hr_attempt_transport(attempt, c, errno, false);
        attempt->failure.permanent = true; /* out of memory */
        return NULL;
    }
    rc = hr_real.redisGetReply(c, &reply);
    hr_sigpipe_restore(&guard, rc != REDIS_OK);
    if (rc != REDIS_OK) {
        /* Bytes still in the output buffer never reached the server, and
           a command the server did not receive whole cannot have run. */
        int error_number = errno;
        bool all_written = hr_output_pending(c) == 0;
        hr_attempt_transport(attempt, c, error_number, all_written);
        return NULL;
    }
    if (!hr_reply_error_text(c, reply, &text, &text_len))
        return reply;

    attempt->failure = hr_classify_reply(text, text_len);
    attempt->error_number = 0;
    attempt->may_have_run =
        !attempt->failure.not_executed || hr_command_is_script(command);
    attempt->error_reply = reply;
    if (attempt->failure.drop_connection)
        conn->reconnect_needed = true;
    return NULL;
}

/* Tracks MULTI and WATCH from the commands that open and close them. */
static void hr_transaction_update(hr_conn *conn, const hr_command *command,
                                  bool is_error)
{
    if (hr_command_is(command, "multi") && !is_error)
        conn->modes |= HR_CONN_MULTI;
    else if (hr_command_is(command, "watch") && !is_error)
        conn->modes |= HR_CONN_WATCHING;
    else if (hr_command_is(command, "unwatch"))
        conn->modes &= ~(unsigned)HR_CONN_WATCHING;
    else if (hr_command_is(command, "exec") ||
             hr_command_is(command, "discard")) {
        conn->modes &= ~(unsigned)(HR_CONN_MULTI | HR_CONN_WATCHING);
        hr_transaction_end(conn);
    }
}

/* Updates the recorded session and modes after a successful command. */
void hr_after_success(hr_conn *conn, redisContext *c, hr_command *command,
                      const char *cmd, size_t len, void *reply)
{
    const char *text;
    size_t text_len;
    unsigned flags = command->flags;
    bool is_error = hr_reply_error_text(c, reply, &text, &text_len);

    /* Inside MULTI the reply is QUEUED and the command may never run.
       NOTE: a session command that EXEC then runs is not recorded. */
    if ((flags & HR_COMMAND_SESSION) && !is_error &&
        !(conn->modes & HR_CONN_MULTI)) {
        hr_command_args(command);
        hr_session_record(conn, command->argv, command->argc, cmd, len);
    }
    if (flags & HR_COMMAND_PUBSUB) {
        conn->modes |= HR_CONN_SUBSCRIBED;
        hr_pubsub_observe(conn, c, reply);
    }
    if ((flags & HR_COMMAND_NEVER_REPEAT) && !is_error &&
        hr_command_is(command, "monitor"))
        conn->modes |= HR_CONN_MONITORING;
    if (flags & HR_COMMAND_TRANSACTION)
        hr_transaction_update(conn, command, is_error);
}

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
    bool in_transaction = conn->modes & (HR_CONN_MULTI | HR_CONN_WATCHING);
    bool ends_transaction =
        hr_command_is(command, "exec") || hr_command_is(command, "discard");
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
            conn->modes |= HR_CONN_TRANSACTION_LOST;
        if (ends_transaction)
            conn->modes &= ~(unsigned)(HR_CONN_MULTI | HR_CONN_WATCHING |
                                       HR_CONN_TRANSACTION_LOST);
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

bool hr_closed_while_idle(hr_conn *conn, const redisContext *c, int64_t now)
{
    char endpoint[160];

    if (c->fd < 0 || now - conn->last_io_ns < HR_IDLE_CHECK_NS ||
        !hr_socket_closed(c->fd))
        return false;
    /* A reconnect follows, and info shows every reconnect. */
    if (hr_log_enabled(HR_LOG_INFO)) {
        hr_conn_endpoint(c, endpoint, sizeof(endpoint));
        hr_log_write(HR_LOG_INFO, "event=closed_while_idle endpoint=%s fd=%d",
                     endpoint, c->fd);
    }
    return true;
}

/* Marks the connection for a reconnect if the server closed it idle. */
static void hr_check_idle(hr_conn *conn, redisContext *c, int64_t now)
{
    if (now - conn->last_io_ns >= HR_IDLE_CHECK_NS && !c->err &&
        !conn->reconnect_needed && hr_closed_while_idle(conn, c, now))
        conn->reconnect_needed = true;
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
    if (hr_command_is(command, "exec") || hr_command_is(command, "discard")) {
        conn->modes &= ~(unsigned)(HR_CONN_MULTI | HR_CONN_WATCHING |
                                   HR_CONN_TRANSACTION_LOST);
        hr_transaction_end(conn);
    } else if (attempt->error_reply != NULL && !conn->reconnect_needed) {
        hr_transaction_record(conn, c, cmd, len, attempt->error_reply);
    } else {
        conn->modes |= HR_CONN_MULTI | HR_CONN_TRANSACTION_LOST;
        hr_transaction_end(conn);
    }
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
 * Returns the writes mode for one command. Transaction and pub/sub commands
 * that may have run are never sent again. A blocking command that may have
 * run may have popped an element, so under all it is repeated only when it
 * reads, as under safe.
 */
static hr_writes hr_command_writes(const hr_command *command, hr_writes writes)
{
    if (command->flags & (HR_COMMAND_TRANSACTION | HR_COMMAND_PUBSUB))
        return HR_WRITES_NONE;
    if ((command->flags & HR_COMMAND_BLOCKING) && writes == HR_WRITES_ALL)
        return HR_WRITES_SAFE;
    return writes;
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
            conn->modes &= ~(unsigned)(HR_CONN_MULTI | HR_CONN_WATCHING |
                                       HR_CONN_TRANSACTION_LOST);
        else if (conn->modes & (HR_CONN_MULTI | HR_CONN_WATCHING))
            conn->modes |= HR_CONN_TRANSACTION_LOST;
        hr_pipeline_clear(conn);
    } else if (aux != NULL && conn->owed.count > 0 &&
               !hr_pubsub_is_message(conn, c, aux)) {
        /* A pub/sub message answers no command. */
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
 * Moves a large command into the connection's spare buffer and frees it.
 * hiredis frees a formatted command once it is in the output buffer, before
 * writing; keeping it until the reply instead, as a retry needs, changed
 * the order of frees enough for malloc to give the heap top back to the
 * kernel and take it again on every command (a 100 KiB SET loop ran at a
 * third of its speed). The spare buffer stays allocated between commands.
 */
static char *hr_keep_large(hr_conn *conn, char *cmd, size_t len)
{
    if (len > conn->spare_size) {
        char *spare = realloc(conn->spare, len);

        if (spare == NULL)
            return cmd;
        conn->spare = spare;
        conn->spare_size = len;
    }
    memcpy(conn->spare, cmd, len);
    free(cmd);
    return conn->spare;
}

void *hr_engine_command(hr_conn *conn, redisContext *c, char *cmd, size_t len)
{
    int saved_errno = errno;
    hr_command command;
    void *reply;

    if (conn->owed.count > 0)
        return hr_join_pipeline(conn, c, cmd, len);

    if (len > HR_LARGE_COMMAND && len <= HR_SPARE_MAX)
        cmd = hr_keep_large(conn, cmd, len);
    hr_command_init(&command, cmd, len);
    conn->opening_session =
        hr_command_is(&command, "auth") || hr_command_is(&command, "hello");
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

redisContext *hr_engine_connected(redisContext *c, int error_number)
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

    hr_call_begin(&call, &hr_shim_config.policy, &hr_monotonic_clock);
    while (c->err) {
        hr_attempt_transport(&attempt, c, error_number, false);
        hr_verdict verdict =
            hr_call_failed(&call, &attempt.failure, true, &delay_ns);
        hr_log_attempt(c, "connect", &call, &attempt, verdict, delay_ns);
        if (verdict != HR_RETRY) {
            errno = error_number;
            break;
        }
        hr_call_sleep(&call, delay_ns);
        hr_reconnect_in_place(conn, c);
        error_number = errno;
    }
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
    /* A session the shim does not know is the program's to set up again,
       as without the shim. */
    if (conn->session_unknown) {
        hr_conn_clear_session(conn);
        conn->session_unknown = false;
    }
    hr_call_begin(&call, &hr_shim_config.policy, &hr_monotonic_clock);
    for (;;) {
        if (hr_reopen(conn, c, &attempt) == 0) {
            conn->last_io_ns = hr_now_ns();
            errno = saved_errno;
            return REDIS_OK;
        }
        hr_verdict verdict =
            hr_call_failed(&call, &attempt.failure, true, &delay_ns);
        hr_log_attempt(c, "reconnect", &call, &attempt, verdict, delay_ns);
        if (verdict != HR_RETRY) {
            errno = attempt.error_number ? attempt.error_number : saved_errno;
            return REDIS_ERR;
        }
        hr_call_sleep(&call, delay_ns);
    }
}

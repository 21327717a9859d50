/*
 * The parts of the retry engine that every kind of call shares: reconnecting
 * in place with the session, one attempt of a command, the idle check, the
 * bookkeeping after a success, and the log line of an attempt. call.c
 * drives them for the program's calls.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <hiredis/sds.h>

#include "budget.h"
#include "hiretry/commands.h"
#include "hiretry/policy.h"
#include "hiredis_abi.h"
#include "log.h"
#include "pubsub.h"
#include "transaction.h"
#include "real.h"
#include "reply.h"
#include "sentinel.h"
#include "session.h"
#include "sigpipe.h"
#include "stats.h"
#include "tls.h"

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

/*
 * Reconnects c in place with hiredis's redisReconnect, which gives it a
 * reader with hiredis's own functions. The socket is closed here first,
 * because redisReconnect closes c->fd without clearing it: after a failed
 * name lookup a second reconnect would close a descriptor the program may
 * have reused since. hiredis 0.14 opens sockets without SOCK_CLOEXEC, so
 * the new one is made close-on-exec here. The program has never seen this
 * socket, so it cannot rely on a child inheriting it. A connection that
 * follows Sentinel queries it for the primary first, so a failover or a
 * READONLY leads to a fresh lookup.
 */
int hr_reconnect_in_place(hr_conn *conn, redisContext *c)
{
    int saved_errno;
    int rc;

    if (!hr_budget_admit_reconnect(conn, c))
        return REDIS_ERR;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    conn->modes = 0;
    conn->reconnect_needed = false;
    if (conn->sentinel && hr_sentinel_point(c) != 0)
        return REDIS_ERR;
    rc = hr_real.redisReconnect(c);
    hr_stats_reconnect(rc == REDIS_OK);

    /* NOTE: a thread that forks and execs between the socket's creation
       inside hiredis and this call still passes it to its child. */
    saved_errno = errno;
    if (c->fd >= 0)
        fcntl(c->fd, F_SETFD, FD_CLOEXEC);
    errno = saved_errno;
    if (rc != REDIS_OK)
        return REDIS_ERR;
    return hr_tls_handshake(conn, c);
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

/* Fails a reconnect that must not happen, for good, with text as the
 * context's error. */
static int hr_refuse_reconnect(redisContext *c, hr_attempt *attempt,
                               const char *text)
{
    c->err = REDIS_ERR_OTHER;
    snprintf(c->errstr, sizeof(c->errstr), "%s", text);
    attempt->failure = (hr_failure){.cls = HR_CLASS_CONNECTION_ERROR,
                                    .drop_connection = true,
                                    .permanent = true};
    attempt->error_number = 0;
    attempt->may_have_run = false;
    attempt->error_reply = NULL;
    return -1;
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

    /* A command sent on a new connection without the program's session
       could run in the wrong database, or as another user. */
    if (conn->session_unknown)
        return hr_refuse_reconnect(c, attempt,
                                   "reconnect: session unknown after inline "
                                   "or queued session commands");
    if (hr_tls_unrepeatable(conn))
        return hr_refuse_reconnect(c, attempt,
                                   "reconnect: TLS started with "
                                   "redisInitiateSSL cannot be repeated");
    if (hr_reconnect_in_place(conn, c) != REDIS_OK) {
        hr_attempt_transport(attempt, c, errno, false);
        rc = -1;
    } else if (hr_session_restore(conn, c, &attempt->failure,
                                  &attempt->error_number) != 0 ||
               (conn->sentinel &&
                hr_sentinel_verify(c, &attempt->failure,
                                   &attempt->error_number) != 0)) {
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

/* Returns the milliseconds since the call started, or 0 when it did not
 * read the clock. */
static double hr_call_elapsed_ms(const hr_call *call)
{
    if (call->started_ns <= 0)
        return 0;
    return (double)(hr_now_ns() - call->started_ns) / 1e6;
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
                     "attempt=%d elapsed_ms=%.3f reason=%s error=\"%s\"",
                     endpoint, what, hr_class_name(attempt->failure.cls),
                     call->failures, hr_call_elapsed_ms(call),
                     hr_verdict_name(verdict), error);
}

/*
 * Runs one attempt: reconnects first when needed, then sends cmd and reads
 * its reply. Returns the reply on success, or NULL with attempt set.
 */
void *hr_attempt_command(hr_conn *conn, redisContext *c,
                         const hr_command *command, const char *cmd, size_t len,
                         bool guarded, hr_attempt *attempt)
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
    /* A connection opened bare for the program's AUTH gets the rest of the
       session before any other command. */
    if (conn->awaiting_auth && !conn->opening_session &&
        hr_session_complete(conn, c, &attempt->failure,
                            &attempt->error_number) != 0) {
        hr_sigpipe_restore(&guard, true);
        attempt->may_have_run = false;
        attempt->error_reply = NULL;
        conn->reconnect_needed = true;
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
    /* A primary that turned replica replies READONLY: a connection that
       follows Sentinel queries it again, on a new connection. */
    if (attempt->failure.drop_connection ||
        (conn->sentinel && attempt->failure.cls == HR_CLASS_READ_ONLY_ERROR))
        conn->reconnect_needed = true;
    return NULL;
}

void hr_set_reconnect_error(redisContext *c, const char *text, size_t len)
{
    int n = snprintf(c->errstr, sizeof(c->errstr), "%s", "reconnect: ");

    if (len > sizeof(c->errstr) - (size_t)n - 1)
        len = sizeof(c->errstr) - (size_t)n - 1;
    memcpy(c->errstr + n, text, len);
    c->errstr[(size_t)n + len] = '\0';
    c->err = REDIS_ERR_OTHER;
}

void hr_transaction_close(hr_conn *conn)
{
    conn->modes &= ~(unsigned)(HR_CONN_MULTI | HR_CONN_WATCHING |
                               HR_CONN_TRANSACTION_LOST);
    hr_transaction_end(conn);
}

void hr_transaction_lose(hr_conn *conn)
{
    conn->modes |= HR_CONN_TRANSACTION_LOST;
    if (!(conn->modes & HR_CONN_WATCHING))
        conn->modes |= HR_CONN_MULTI;
    hr_transaction_end(conn);
}

bool hr_ends_transaction(const hr_conn *conn, const hr_command *command)
{
    return hr_command_is(command, "exec") ||
           hr_command_is(command, "discard") ||
           hr_command_is(command, "reset") ||
           (hr_command_is(command, "unwatch") &&
            !(conn->modes & HR_CONN_MULTI));
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
             hr_command_is(command, "discard"))
        hr_transaction_close(conn);
}

/* Forgets every mode after RESET, or QUIT, ends the connection's state. */
static void hr_forget_modes(hr_conn *conn)
{
    hr_transaction_close(conn);
    hr_pubsub_clear(conn);
    conn->modes = 0;
}

/* Updates the recorded session and modes after a successful command. */
void hr_after_success(hr_conn *conn, redisContext *c, hr_command *command,
                      const char *cmd, size_t len, void *reply)
{
    const char *text;
    size_t text_len;
    unsigned flags = command->flags;
    bool is_error = hr_reply_error_text(c, reply, &text, &text_len);

    /* RESET ends every mode; QUIT ends the connection. */
    if (!is_error && (hr_reply_status_is(c, reply, "RESET") ||
                      hr_command_is(command, "quit")))
        hr_forget_modes(conn);

    /* Inside MULTI the reply is QUEUED and the command runs at EXEC, if at
       all. A recorded block records it from EXEC's reply (transaction.c),
       and a block the shim does not record leaves the session unknown. */
    if ((flags & HR_COMMAND_SESSION) && !is_error) {
        if (!(conn->modes & HR_CONN_MULTI)) {
            hr_command_args(command);
            hr_session_record(conn, command->argv, command->argc, cmd, len);
        } else if (!conn->tx.open && !hr_command_is(command, "reset")) {
            conn->session_unknown = true;
        }
    }
    /* A confirmation, not a QUEUED, turns on subscribed mode. */
    if (flags & HR_COMMAND_PUBSUB)
        hr_pubsub_observe(conn, c, reply);
    if ((flags & HR_COMMAND_NEVER_REPEAT) && !is_error &&
        hr_command_is(command, "monitor"))
        conn->modes |= HR_CONN_MONITORING;
    if (flags & HR_COMMAND_TRANSACTION)
        hr_transaction_update(conn, command, is_error);
}

bool hr_closed_while_idle(hr_conn *conn, const redisContext *c, int64_t now)
{
    char endpoint[160];

    if (c->fd < 0 || now - conn->last_io_ns < hr_shim_config.idle_check_ns ||
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

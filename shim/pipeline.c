/*
 * Pipelines across failures. Every command appended to a managed context is
 * queued with its bytes until its reply is read. hiredis's output buffer
 * contains the unwritten tail of the queue, so at a failure the shim can
 * tell which owed commands were written whole (they may have run) and which
 * were not (they cannot have). When the policy allows repeating every owed
 * command, the connection is replaced and the whole queue is written again, in
 * order, so the program reads each reply once, as if nothing had failed.
 */
#include "pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "budget.h"
#include "engine.h"
#include "log.h"
#include "real.h"
#include "sigpipe.h"
#include "stats.h"
#include "transaction.h"

#define HR_OWED_INITIAL_CAPACITY 8
/* A ring larger than this, in entries, is freed when it drains after a
 * pipeline that used less than a quarter of it. A program that sends deep
 * pipelines again and again keeps its ring, instead of growing it again
 * from HR_OWED_INITIAL_CAPACITY for each one. */
#define HR_OWED_KEPT_CAPACITY 64

static hr_owed *hr_owed_at(const hr_owed_queue *queue, size_t i)
{
    return &queue->items[(queue->head + i) & (queue->capacity - 1)];
}

static bool hr_owed_grow(hr_owed_queue *queue)
{
    size_t capacity =
        queue->capacity ? queue->capacity * 2 : HR_OWED_INITIAL_CAPACITY;
    hr_owed *items = malloc(capacity * sizeof(*items));

    if (items == NULL)
        return false;
    for (size_t i = 0; i < queue->count; i++)
        items[i] = *hr_owed_at(queue, i);
    free(queue->items);
    queue->items = items;
    queue->head = 0;
    queue->capacity = capacity;
    return true;
}

/* Frees a command's bytes, wiping those of session commands, which may
 * carry a password. */
static void hr_owed_free(hr_owed *owed)
{
    if (owed->data != NULL && (owed->flags & HR_COMMAND_SESSION))
        explicit_bzero(owed->data, owed->len);
    free(owed->data);
    owed->data = NULL;
}

/* Queues data (from malloc, or NULL) as the newest owed command. */
static bool hr_owed_push(hr_owed_queue *queue, char *data, size_t len,
                         unsigned flags)
{
    hr_owed *owed;

    if (queue->count == queue->capacity && !hr_owed_grow(queue))
        return false;
    /* The bytes of commands that change the session or the modes are
       needed when their reply is read, whatever the size of the pipeline. */
    if (data != NULL && queue->kept + len > hr_shim_config.pipeline_max &&
        !(flags & HR_COMMAND_TRACKED)) {
        free(data);
        data = NULL;
    }

    owed = hr_owed_at(queue, queue->count);
    *owed = (hr_owed){data, len, flags, false};
    queue->count++;
    if (queue->count > queue->peak)
        queue->peak = queue->count;
    queue->len += len;
    if (data != NULL)
        queue->kept += len;
    return true;
}

static void hr_owed_pop(hr_owed_queue *queue)
{
    hr_owed *owed = hr_owed_at(queue, 0);

    queue->len -= owed->len;
    if (owed->data != NULL)
        queue->kept -= owed->len;
    hr_owed_free(owed);
    queue->head = (queue->head + 1) & (queue->capacity - 1);
    queue->count--;

    if (queue->count > 0)
        return;
    if (queue->capacity > HR_OWED_KEPT_CAPACITY &&
        queue->peak < queue->capacity / 4) {
        free(queue->items);
        *queue = (hr_owed_queue){0};
    }
    queue->peak = 0;
}

bool hr_pipeline_owes_transaction_end(const hr_conn *conn)
{
    const hr_owed_queue *queue = &conn->owed;

    for (size_t i = 0; i < queue->count; i++) {
        const hr_owed *owed = hr_owed_at(queue, i);
        hr_command command;
        bool ends;

        if (!(owed->flags & HR_COMMAND_TRANSACTION) || owed->data == NULL)
            continue;
        hr_command_init(&command, owed->data, owed->len);
        ends = hr_command_is(&command, "exec") ||
               hr_command_is(&command, "discard");
        hr_command_release(&command);
        if (ends)
            return true;
    }
    return false;
}

void hr_pipeline_clear(hr_conn *conn)
{
    hr_owed_queue *queue = &conn->owed;

    while (queue->count > 0)
        hr_owed_pop(queue);
    free(queue->items);
    *queue = (hr_owed_queue){0};
}

/*
 * Stops matching replies to commands until the next reconnect, after bytes
 * that are not RESP requests, or when memory ran out.
 */
static void hr_pipeline_uncounted(hr_conn *conn)
{
    hr_pipeline_clear(conn);
    conn->modes |= HR_CONN_UNCOUNTED;
}

/* Returns true for CLIENT REPLY, after which the server may skip replies. */
static bool hr_command_skips_replies(hr_command *command)
{
    if (!hr_command_is(command, "client"))
        return false;
    hr_command_args(command);
    return command->argc >= 2 && hr_slice_is(&command->argv[1], "reply");
}

static void hr_pipeline_queue(hr_conn *conn, char *cmd, size_t len)
{
    static const char empty_request[] = "*0\r\n";
    hr_command command;
    unsigned flags;
    bool uncounted;

    /* The transaction now has commands the shim cannot send again. */
    if (conn->tx.open && conn->tx.replayable)
        hr_transaction_unreplayable(conn);

    /* The server sends no reply to an empty request. */
    if (len == sizeof(empty_request) - 1 &&
        memcmp(cmd, empty_request, len) == 0) {
        free(cmd);
        return;
    }
    hr_command_init(&command, cmd, len);
    flags = command.flags;
    uncounted = hr_command_skips_replies(&command);
    /* EXEC or DISCARD ends a transaction lost with its connection, even
       though its reply will only be the failure. */
    if ((conn->modes & HR_CONN_TRANSACTION_LOST) &&
        hr_ends_transaction(conn, &command))
        hr_transaction_close(conn);
    hr_command_release(&command);

    if (conn->modes & HR_CONN_UNCOUNTED) {
        /* A session command whose reply cannot be matched leaves the
           session unknown. */
        if (flags & HR_COMMAND_SESSION)
            conn->session_unknown = true;
        free(cmd);
        return;
    }
    if (uncounted || !hr_owed_push(&conn->owed, cmd, len, flags)) {
        free(cmd);
        hr_pipeline_uncounted(conn);
    }
}

int hr_pipeline_append(hr_conn *conn, redisContext *c, char *cmd, size_t len)
{
    if (hr_real.redisAppendFormattedCommand(c, cmd, len) != REDIS_OK) {
        free(cmd);
        return REDIS_ERR;
    }
    hr_pipeline_queue(conn, cmd, len);
    return REDIS_OK;
}

/*
 * Returns true when inline command lines may include a session command:
 * the first word of a line is one of the names that change the session.
 */
static bool hr_inline_may_change_session(const char *cmd, size_t len)
{
    static const char *const names[] = {"auth",   "hello",    "select",
                                        "client", "readonly", "readwrite",
                                        "reset",  "multi",    "exec"};
    const char *end = cmd + len;

    while (cmd < end) {
        const char *line_end = memchr(cmd, '\n', (size_t)(end - cmd));
        const char *word;
        size_t word_len = 0;

        if (line_end == NULL)
            line_end = end;
        while (cmd < line_end && (*cmd == ' ' || *cmd == '\t'))
            cmd++;
        word = cmd;
        while (cmd < line_end && *cmd != ' ' && *cmd != '\t' && *cmd != '\r')
            cmd++, word_len++;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (word_len == strlen(names[i]) &&
                strncasecmp(word, names[i], word_len) == 0)
                return true;
        cmd = line_end + (line_end < end);
    }
    return false;
}

int hr_pipeline_append_copy(hr_conn *conn, redisContext *c, const char *cmd,
                            size_t len)
{
    if (hr_real.redisAppendFormattedCommand(c, cmd, len) != REDIS_OK)
        return REDIS_ERR;

    while (len > 0 && !(conn->modes & HR_CONN_UNCOUNTED)) {
        size_t consumed;
        char *copy;

        if (hr_request_parse(cmd, len, NULL, 0, &consumed) < 0) {
            /* Inline commands: their replies cannot be counted, and one
               of them may change the session. */
            hr_pipeline_uncounted(conn);
            if (hr_inline_may_change_session(cmd, len))
                conn->session_unknown = true;
            break;
        }
        copy = malloc(consumed);
        if (copy == NULL) {
            hr_pipeline_uncounted(conn);
            break;
        }
        memcpy(copy, cmd, consumed);
        hr_pipeline_queue(conn, copy, consumed);
        cmd += consumed;
        len -= consumed;
    }
    return REDIS_OK;
}

void hr_pipeline_pop(hr_conn *conn, redisContext *c, void *reply)
{
    hr_owed *owed = hr_owed_at(&conn->owed, 0);

    if ((owed->flags & HR_COMMAND_TRACKED) && owed->data != NULL) {
        hr_command command;

        hr_command_init(&command, owed->data, owed->len);
        hr_after_success(conn, c, &command, owed->data, owed->len, reply);
        hr_command_release(&command);
    }
    hr_owed_pop(&conn->owed);
}

/*
 * Marks the owed commands that were written whole, given the bytes still
 * unwritten in the output buffer, which are the tail of the queue.
 */
static void hr_owed_mark_written(hr_owed_queue *queue, size_t unwritten)
{
    size_t written = queue->len > unwritten ? queue->len - unwritten : 0;
    size_t end = 0;

    for (size_t i = 0; i < queue->count; i++) {
        hr_owed *owed = hr_owed_at(queue, i);

        end += owed->len;
        if (end > written)
            break;
        owed->may_have_run = true;
    }
}

/*
 * Gives back their bytes to owed commands past HIRETRY_PIPELINE_MAX from
 * the output buffer, which contains every owed command whole while none is
 * written. The memory is the buffer's size again, for as long as the
 * commands are owed. Returns false when out of memory.
 */
static bool hr_owed_refill(hr_owed_queue *queue, const char *unwritten)
{
    size_t offset = 0;

    for (size_t i = 0; i < queue->count; i++) {
        hr_owed *owed = hr_owed_at(queue, i);

        if (owed->data == NULL) {
            owed->data = malloc(owed->len);
            if (owed->data == NULL)
                return false;
            memcpy(owed->data, unwritten + offset, owed->len);
            queue->kept += owed->len;
        }
        offset += owed->len;
    }
    return true;
}

/* Returns true when one owed command may be sent again under writes. */
static bool hr_owed_repeatable(const hr_owed *owed, hr_writes writes)
{
    hr_command command;
    bool allowed;

    if (owed->data == NULL)
        return false;
    if (!owed->may_have_run)
        return true;
    if (owed->flags & HR_COMMAND_NEVER_REPEAT)
        return false;

    hr_command_init(&command, owed->data, owed->len);
    hr_command_classify_fully(&command);
    allowed = hr_repeat_allowed(hr_command_writes(&command, writes),
                                command.info.safety, true);
    hr_command_release(&command);
    return allowed;
}

static bool hr_owed_any_blocking(const hr_owed_queue *queue)
{
    for (size_t i = 0; i < queue->count; i++)
        if (hr_owed_at(queue, i)->flags & HR_COMMAND_BLOCKING)
            return true;
    return false;
}

static bool hr_owed_all_repeatable(const hr_owed_queue *queue, hr_writes writes)
{
    for (size_t i = 0; i < queue->count; i++)
        if (!hr_owed_repeatable(hr_owed_at(queue, i), writes))
            return false;
    return true;
}

/*
 * Returns true when no owed command has been written yet and the
 * connection should be replaced first: it failed, or the server closed it
 * while it was idle. Such commands cannot have run. Stores the time in
 * *now_ns when it reads the clock.
 */
static bool hr_pipeline_stale(hr_conn *conn, const redisContext *c,
                              int64_t *now_ns)
{
    const hr_owed_queue *queue = &conn->owed;
    bool stale;

    if (hr_output_pending(c) != queue->len)
        return false;
    if (c->err || conn->reconnect_needed) {
        stale = true;
    } else {
        *now_ns = hr_now_ns();
        stale = hr_closed_while_idle(conn, c, *now_ns);
    }
    return stale && hr_owed_refill(&conn->owed, c->obuf);
}

int hr_pipeline_write_owed(hr_conn *conn, redisContext *c)
{
    const hr_owed_queue *queue = &conn->owed;

    if (queue->kept != queue->len)
        return -1;
    for (size_t i = 0; i < queue->count; i++) {
        const hr_owed *owed = hr_owed_at(queue, i);

        if (hr_real.redisAppendFormattedCommand(c, owed->data, owed->len) !=
            REDIS_OK)
            return -1;
    }
    return 0;
}

/* Reconnects and writes every owed command into the new output buffer. */
static int hr_pipeline_resend(hr_conn *conn, redisContext *c,
                              hr_attempt *attempt)
{
    if (hr_reopen(conn, c, attempt) != 0)
        return -1;
    if (hr_pipeline_write_owed(conn, c) != 0) {
        hr_attempt_transport(attempt, c, errno, false);
        attempt->failure.permanent = true; /* out of memory */
        return -1;
    }
    return 0;
}

/*
 * Runs one attempt: resends the queue on a new connection when asked, then
 * reads the oldest owed reply. Returns the reply, or NULL with attempt set.
 */
static void *hr_pipeline_attempt(hr_conn *conn, redisContext *c, bool resend,
                                 hr_attempt *attempt)
{
    hr_sigpipe_guard guard;
    void *reply = NULL;
    int rc;

    /* Only bytes still in hiredis's output buffer are written by this
       read: the owed commands kept for a resend are not. */
    guard.active = false;
    if (resend || hr_output_pending(c) > HR_LARGE_COMMAND)
        hr_sigpipe_block(&guard);
    if (resend && hr_pipeline_resend(conn, c, attempt) != 0) {
        hr_sigpipe_restore(&guard, true);
        return NULL;
    }
    rc = hr_real.redisGetReply(c, &reply);
    hr_sigpipe_restore(&guard, rc != REDIS_OK);
    if (rc == REDIS_OK && reply != NULL)
        return reply;

    int error_number = errno;
    hr_owed_mark_written(&conn->owed, hr_output_pending(c));
    hr_attempt_transport(attempt, c, error_number, true);
    return NULL;
}

/*
 * Logs an attempt with the number of owed commands and one of them: on a
 * give-up as unsafe, the first that may not be sent again, else the
 * oldest.
 */
static void hr_pipeline_log(hr_conn *conn, const redisContext *c,
                            const hr_call *call, const hr_attempt *attempt,
                            hr_verdict verdict, int64_t delay_ns)
{
    const hr_owed_queue *queue = &conn->owed;
    const hr_owed *named = hr_owed_at(queue, 0);
    char what[80];
    char name[40] = "";

    if (!hr_log_enabled(HR_LOG_WARN))
        return;
    for (size_t i = 0; verdict == HR_GIVE_UP_UNSAFE && i < queue->count; i++) {
        if (!hr_owed_repeatable(hr_owed_at(queue, i),
                                hr_shim_config.policy.writes)) {
            named = hr_owed_at(queue, i);
            break;
        }
    }
    if (named->data != NULL) {
        hr_command command;

        hr_command_init(&command, named->data, named->len);
        hr_command_name(&command, name, sizeof(name));
        hr_command_release(&command);
    } else {
        snprintf(name, sizeof(name), "unkept"); /* past the limit */
    }
    snprintf(what, sizeof(what), "%s owed=%zu", name, conn->owed.count);
    hr_log_attempt(c, what, call, attempt, verdict, delay_ns);
}

int hr_pipeline_read(hr_conn *conn, redisContext *c, void **reply)
{
    const hr_policy *policy = &hr_shim_config.policy;
    int saved_errno = errno;
    int64_t start_ns = -1; /* read by the stale check, or at a failure */
    bool resend = hr_pipeline_stale(conn, c, &start_ns);
    hr_call call;
    hr_attempt attempt;
    int64_t delay_ns;

    hr_stats_count_call();
    call.failures = 0; /* the call itself starts at the first failure */
    for (;;) {
        void *aux = hr_pipeline_attempt(conn, c, resend, &attempt);

        if (aux != NULL) {
            hr_stats_recovered(&call);
            /* Replies read one after the other are no idle time: the
               clock is read once the last owed reply is in. */
            if (conn->owed.count == 1)
                conn->last_io_ns = hr_now_ns();
            hr_budget_success(conn);
            hr_pipeline_pop(conn, c, aux);
            if (reply != NULL)
                *reply = aux;
            errno = saved_errno;
            return REDIS_OK;
        }

        if (call.failures == 0) {
            if (start_ns < 0)
                start_ns = hr_now_ns();
            hr_call_begin_at(&call, policy, &hr_monotonic_clock, start_ns);
        }
        /* A blocking command that outlived the program's socket timeout
           still waits on the server: the timeout is the program's. */
        if (attempt.failure.cls == HR_CLASS_TIMEOUT_ERROR &&
            hr_owed_any_blocking(&conn->owed)) {
            hr_log(HR_LOG_DEBUG, "event=blocking_timeout fd=%d", c->fd);
            hr_pipeline_clear(conn);
            conn->reconnect_needed = true;
            errno = attempt.error_number ? attempt.error_number : saved_errno;
            return REDIS_ERR;
        }
        bool allowed = hr_owed_all_repeatable(&conn->owed, policy->writes);
        hr_verdict verdict =
            hr_call_failed(&call, &attempt.failure, allowed, &delay_ns);
        verdict = hr_budget_judge(conn, c, &attempt.failure, verdict);
        hr_stats_failed(&call, attempt.failure.cls, verdict);
        hr_pipeline_log(conn, c, &call, &attempt, verdict, delay_ns);
        if (verdict != HR_RETRY) {
            /* Every owed reply is lost with the connection, and the next
               command starts on a new one. */
            hr_pipeline_clear(conn);
            conn->reconnect_needed = true;
            errno = attempt.error_number ? attempt.error_number : saved_errno;
            return REDIS_ERR;
        }
        hr_call_sleep(&call, delay_ns);
        resend = true;
    }
}

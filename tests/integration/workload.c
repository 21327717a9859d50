/*
 * hr_workload: a plain hiredis program with no retry logic of its own, the
 * kind of program that hiretry must rescue. It runs one kind of command in a
 * loop, counts what the server acknowledged, and prints "key=value" result
 * lines that the integration tests compare with the data on the server.
 *
 * After a failed command it does one of three things that real programs do:
 * open a new context with a full handshake (the default), keep using the
 * broken context (--keep-going), or call redisReconnect() without repeating
 * AUTH or SELECT (--reconnect).
 */
#include "workload.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t hr_now_ns(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static void hr_sleep_ms(int ms)
{
    struct timespec delay = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&delay, &delay) != 0 && errno == EINTR)
        ;
}

static void hr_worker_record_error(hr_worker *worker, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Counts one error and keeps its text up to the first line break, so that
 * it prints as one result line. */
static void hr_worker_record_error(hr_worker *worker, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    vsnprintf(worker->last_error, sizeof(worker->last_error), format, ap);
    va_end(ap);
    worker->last_error[strcspn(worker->last_error, "\r\n")] = '\0';

    worker->errors++;
    worker->last_error_ns = hr_now_ns();
    if (worker->first_error[0] == '\0') {
        memcpy(worker->first_error, worker->last_error,
               sizeof(worker->first_error));
        worker->first_error_ns = worker->last_error_ns;
    }
}

static const char *hr_context_error_name(int err)
{
    switch (err) {
    case REDIS_ERR_IO:
        return "io";
    case REDIS_ERR_EOF:
        return "eof";
    case REDIS_ERR_PROTOCOL:
        return "protocol";
    case REDIS_ERR_OOM:
        return "oom";
    default:
        return "other";
    }
}

static redisContext *hr_connect(const hr_options *options)
{
    struct timeval timeout = {options->timeout_ms / 1000,
                              (options->timeout_ms % 1000) * 1000};
    redisContext *c;

    if (options->unix_path != NULL && options->timeout_ms > 0)
        c = redisConnectUnixWithTimeout(options->unix_path, timeout);
    else if (options->unix_path != NULL)
        c = redisConnectUnix(options->unix_path);
    else if (options->timeout_ms > 0)
        c = redisConnectWithTimeout(options->host, options->port, timeout);
    else
        c = redisConnect(options->host, options->port);

    if (c != NULL && c->err == 0 && options->timeout_ms > 0)
        redisSetTimeout(c, timeout);
    return c;
}

/* Checks the reply of one handshake command. Returns 0 unless it failed. */
static int hr_handshake_step(hr_worker *worker, redisContext *c,
                             const char *what, redisReply *reply)
{
    int rc = 0;

    if (reply == NULL) {
        hr_worker_record_error(worker, "%s %s: %s", what,
                               hr_context_error_name(c->err), c->errstr);
        rc = -1;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        hr_worker_record_error(worker, "%s reply: %s", what, reply->str);
        rc = -1;
    }
    freeReplyObject(reply);
    return rc;
}

static int hr_handshake(hr_worker *worker, redisContext *c)
{
    const hr_options *options = worker->options;
    redisReply *reply;

    if (options->password != NULL) {
        if (options->user != NULL)
            reply =
                redisCommand(c, "AUTH %s %s", options->user, options->password);
        else
            reply = redisCommand(c, "AUTH %s", options->password);
        if (hr_handshake_step(worker, c, "auth", reply) != 0)
            return -1;
    }
    if (options->db != 0) {
        reply = redisCommand(c, "SELECT %d", options->db);
        if (hr_handshake_step(worker, c, "select", reply) != 0)
            return -1;
    }
    if (options->name != NULL) {
        reply = redisCommand(c, "CLIENT SETNAME %s", worker->name);
        if (hr_handshake_step(worker, c, "setname", reply) != 0)
            return -1;
    }
    return 0;
}

/* Opens the worker's context with the full handshake. Returns 0 or -1. */
static int hr_worker_open(hr_worker *worker)
{
    redisContext *c = hr_connect(worker->options);

    if (c == NULL) {
        hr_worker_record_error(worker, "connect: out of memory");
        return -1;
    }
    if (c->err != 0) {
        hr_worker_record_error(worker, "connect %s: %s",
                               hr_context_error_name(c->err), c->errstr);
        redisFree(c);
        return -1;
    }
    if (hr_handshake(worker, c) != 0) {
        redisFree(c);
        return -1;
    }
    worker->context = c;
    return 0;
}

static void hr_worker_after_error(hr_worker *worker)
{
    switch (worker->options->on_error) {
    case HR_ON_ERROR_KEEP_GOING:
        break;
    case HR_ON_ERROR_RECONNECT:
        worker->reconnects++;
        redisReconnect(worker->context);
        break;
    case HR_ON_ERROR_NEW_CONTEXT:
        redisFree(worker->context);
        worker->context = NULL;
        break;
    }
}

static void hr_worker_note_set_failed(hr_worker *worker, long long index)
{
    if (worker->set_failed_count < HR_SET_FAILED_MAX)
        worker->set_failed[worker->set_failed_count] = index;
    worker->set_failed_count++;
}

/* The longest "value-<i>" before padding, with its NUL. */
#define HR_VALUE_HEAD 32

/* How long a pause waits for the go file, in milliseconds. */
#define HR_PAUSE_LIMIT_MS 30000

/* One command of the run, as the words that every hiredis call takes. */
typedef struct hr_request {
    hr_kind kind;
    long long key; /* m in key:<m>, for SET and GET key:<m> */
    int argc;
    const char *argv[3];
    char key_name[48];
} hr_request;

/* Picks the kind and key of command index for op. */
static void hr_request_pick(hr_op op, long long index, hr_request *request)
{
    static const hr_kind mixed[] = {HR_KIND_INCR, HR_KIND_SET,
                                    HR_KIND_GET_FIXED};
    static const hr_kind set_get[] = {HR_KIND_SET, HR_KIND_GET_KEY};
    static const hr_kind set_get_incr[] = {HR_KIND_SET, HR_KIND_GET_KEY,
                                           HR_KIND_INCR};

    request->key = index;
    switch (op) {
    case HR_OP_INCR:
        request->kind = HR_KIND_INCR;
        break;
    case HR_OP_SET:
        request->kind = HR_KIND_SET;
        break;
    case HR_OP_GET:
        request->kind = HR_KIND_GET_FIXED;
        break;
    case HR_OP_MIXED:
        request->kind = mixed[index % 3];
        break;
    case HR_OP_SET_GET:
        request->kind = set_get[index % 2];
        request->key = index / 2;
        break;
    case HR_OP_SET_GET_INCR:
        request->kind = set_get_incr[index % 3];
        request->key = index / 3;
        break;
    }
}

/* Writes value-<key>, padded with '.' to --value-size bytes, into the
 * worker's buffer. Returns its length. */
static size_t hr_worker_value(hr_worker *worker, long long key)
{
    size_t size = (size_t)worker->options->value_size;
    size_t len =
        (size_t)snprintf(worker->value, HR_VALUE_HEAD, "value-%lld", key);

    if (len < size) {
        memset(worker->value + len, '.', size - len);
        len = size;
    }
    worker->value[len] = '\0';
    return len;
}

/* Builds command index. A SET's value goes into the worker's buffer. */
static void hr_request_build(hr_worker *worker, long long index,
                             hr_request *request)
{
    const char *prefix = worker->key_prefix;
    char *name = request->key_name;
    size_t size = sizeof(request->key_name);

    hr_request_pick(worker->options->op, index, request);
    request->argc = 2;
    request->argv[2] = NULL;
    switch (request->kind) {
    case HR_KIND_INCR:
        request->argv[0] = "INCR";
        snprintf(name, size, "%scounter", prefix);
        break;
    case HR_KIND_SET:
        request->argv[0] = "SET";
        snprintf(name, size, "%skey:%lld", prefix, request->key);
        hr_worker_value(worker, request->key);
        request->argv[2] = worker->value;
        request->argc = 3;
        break;
    case HR_KIND_GET_FIXED:
        request->argv[0] = "GET";
        snprintf(name, size, "%sfixed", prefix);
        break;
    case HR_KIND_GET_KEY:
        request->argv[0] = "GET";
        snprintf(name, size, "%skey:%lld", prefix, request->key);
        break;
    }
    request->argv[1] = name;
}

/* Sends one command with redisCommand and reads its reply. */
static redisReply *hr_request_send(redisContext *c, const hr_request *r)
{
    if (r->argc == 3)
        return redisCommand(c, "%s %s %s", r->argv[0], r->argv[1], r->argv[2]);
    return redisCommand(c, "%s %s", r->argv[0], r->argv[1]);
}

static int hr_append_v(redisContext *c, const char *format, ...)
{
    va_list ap;
    int rc;

    va_start(ap, format);
    rc = redisvAppendCommand(c, format, ap);
    va_end(ap);
    return rc;
}

/* Appends command index with one of hiredis's four append functions, in
 * turn, so that a pipeline goes through all of them. */
static int hr_request_append(redisContext *c, hr_request *r, long long index)
{
    const char *format = r->argc == 3 ? "%s %s %s" : "%s %s";
    char *cmd;
    int len;
    int rc;

    switch (index % 4) {
    case 0:
        return redisAppendCommand(c, format, r->argv[0], r->argv[1],
                                  r->argv[2]);
    case 1:
        return hr_append_v(c, format, r->argv[0], r->argv[1], r->argv[2]);
    case 2:
        return redisAppendCommandArgv(c, r->argc, r->argv, NULL);
    default:
        len = redisFormatCommandArgv(&cmd, r->argc, r->argv, NULL);
        if (len < 0)
            return REDIS_ERR;
        rc = redisAppendFormattedCommand(c, cmd, (size_t)len);
        redisFreeCommand(cmd);
        return rc;
    }
}

/* Counts a GET key:<m> reply: it must be value-<m>. */
static int hr_worker_check_value(hr_worker *worker, const hr_request *r,
                                 const redisReply *reply)
{
    size_t len = hr_worker_value(worker, r->key);

    if (reply->len == len && memcmp(reply->str, worker->value, len) == 0) {
        worker->get_hits++;
        return 0;
    }
    worker->get_wrong++;
    hr_worker_record_error(worker, "GET %s returned %.40s (%zu bytes)",
                           r->key_name, reply->str, reply->len);
    return -1;
}

static void hr_worker_count_incr(hr_worker *worker, long long value)
{
    if (value != worker->last_incr_value + 1)
        worker->incr_gaps++;
    worker->incr_acknowledged++;
    worker->last_incr_value = value;
}

/* Counts a reply that is not an error. Returns -1 for an unexpected type
 * or a wrong value. */
static int hr_worker_count_reply(hr_worker *worker, const hr_request *r,
                                 const redisReply *reply)
{
    bool is_get = r->kind == HR_KIND_GET_FIXED || r->kind == HR_KIND_GET_KEY;

    if (r->kind == HR_KIND_INCR && reply->type == REDIS_REPLY_INTEGER) {
        hr_worker_count_incr(worker, reply->integer);
    } else if (r->kind == HR_KIND_SET && reply->type == REDIS_REPLY_STATUS) {
        worker->set_acknowledged++;
    } else if (r->kind == HR_KIND_GET_KEY &&
               reply->type == REDIS_REPLY_STRING) {
        if (hr_worker_check_value(worker, r, reply) != 0)
            return -1;
    } else if (is_get && reply->type == REDIS_REPLY_STRING) {
        worker->get_hits++;
    } else if (is_get && reply->type == REDIS_REPLY_NIL) {
        worker->get_nil++;
    } else {
        hr_worker_record_error(worker, "unexpected reply type %d", reply->type);
        return -1;
    }
    worker->ok++;
    return 0;
}

/* Counts one reply, or a failed read when reply is NULL, and frees it. */
static void hr_worker_handle_reply(hr_worker *worker, const hr_request *r,
                                   redisReply *reply)
{
    bool acknowledged = false;

    if (reply == NULL) {
        hr_worker_record_error(worker, "%s: %s",
                               hr_context_error_name(worker->context->err),
                               worker->context->errstr);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        hr_worker_record_error(worker, "reply: %s", reply->str);
    } else {
        acknowledged = hr_worker_count_reply(worker, r, reply) == 0;
    }

    if (!acknowledged && r->kind == HR_KIND_SET)
        hr_worker_note_set_failed(worker, r->key);
    freeReplyObject(reply);
}

/*
 * Creates the ready file and waits for the go file, once, in thread 0,
 * before reply index, so that the test can act on the connection there.
 */
static void hr_worker_pause_at(const hr_worker *worker, long long index)
{
    const hr_options *options = worker->options;
    int64_t deadline = hr_now_ns() + HR_PAUSE_LIMIT_MS * 1000000LL;
    FILE *ready;

    if (worker->index != 0 || index != options->pause_before_reply)
        return;

    ready = fopen(options->ready_file, "w");
    if (ready == NULL || fclose(ready) != 0)
        fprintf(stderr, "hr_workload: creating %s failed: %s\n",
                options->ready_file, strerror(errno));
    while (access(options->go_file, F_OK) != 0) {
        if (hr_now_ns() >= deadline) {
            fprintf(stderr, "hr_workload: timed out waiting for %s\n",
                    options->go_file);
            return;
        }
        hr_sleep_ms(10);
    }
}

static void hr_worker_step(hr_worker *worker, long long index)
{
    hr_request request;
    redisReply *reply;

    hr_request_build(worker, index, &request);
    worker->ops++;
    hr_worker_pause_at(worker, index);

    if (worker->context == NULL && hr_worker_open(worker) != 0) {
        if (request.kind == HR_KIND_SET)
            hr_worker_note_set_failed(worker, request.key);
        return;
    }

    reply = hr_request_send(worker->context, &request);
    hr_worker_handle_reply(worker, &request, reply);
    if (reply == NULL)
        hr_worker_after_error(worker);
}

/* Counts commands first .. first + count - 1 as failed without a read. */
static void hr_worker_fail_unsent(hr_worker *worker, long long first,
                                  long long count, const char *why)
{
    for (long long index = first; index < first + count; index++) {
        hr_request request;

        hr_request_build(worker, index, &request);
        worker->ops++;
        hr_worker_record_error(worker, "not sent: %s", why);
        if (request.kind == HR_KIND_SET)
            hr_worker_note_set_failed(worker, request.key);
    }
}

/* Appends commands from first on. Returns how many were appended. */
static long long hr_worker_append(hr_worker *worker, long long first,
                                  long long count)
{
    long long appended = 0;

    for (; appended < count; appended++) {
        hr_request request;

        hr_request_build(worker, first + appended, &request);
        if (hr_request_append(worker->context, &request, first + appended) !=
            REDIS_OK)
            break;
    }
    return appended;
}

/*
 * Runs commands first .. first + count - 1 as one pipeline: appends them
 * all, then reads every reply, even after a failed read, as a program that
 * keeps its own count of replies owed does.
 */
static void hr_worker_pipeline(hr_worker *worker, long long first,
                               long long count)
{
    long long appended;
    bool failed = false;

    if (worker->context == NULL && hr_worker_open(worker) != 0) {
        hr_request request;

        /* The failed open counted as the first command's error. */
        hr_request_build(worker, first, &request);
        worker->ops++;
        if (request.kind == HR_KIND_SET)
            hr_worker_note_set_failed(worker, request.key);
        hr_worker_fail_unsent(worker, first + 1, count - 1, "connect failed");
        return;
    }

    appended = hr_worker_append(worker, first, count);
    for (long long j = 0; j < appended; j++) {
        hr_request request;
        void *reply = NULL;

        hr_request_build(worker, first + j, &request);
        worker->ops++;
        hr_worker_pause_at(worker, first + j);
        if (redisGetReply(worker->context, &reply) != REDIS_OK)
            reply = NULL;
        if (reply != NULL && failed)
            worker->replies_after_failure++;
        failed |= reply == NULL;
        hr_worker_handle_reply(worker, &request, reply);
    }
    if (appended < count)
        hr_worker_fail_unsent(worker, first + appended, count - appended,
                              worker->context->errstr);
    if (failed)
        hr_worker_after_error(worker);
}

/* Prints a reply into the worker's echo result, as hr_script prints one. */
static void hr_worker_note_echo(hr_worker *worker, const redisReply *reply)
{
    char *out = worker->echo_result;
    size_t size = sizeof(worker->echo_result);
    const redisContext *c = worker->context;

    if (reply == NULL)
        snprintf(out, size, "failed:%d:%s", c->err, c->errstr);
    else if (reply->type == REDIS_REPLY_STRING)
        snprintf(out, size, "string:%s", reply->str);
    else if (reply->type == REDIS_REPLY_STATUS)
        snprintf(out, size, "status:%s", reply->str);
    else if (reply->type == REDIS_REPLY_ERROR)
        snprintf(out, size, "error:%s", reply->str);
    else if (reply->type == REDIS_REPLY_INTEGER)
        snprintf(out, size, "integer:%lld", reply->integer);
    else
        snprintf(out, size, "type:%d", reply->type);
    out[strcspn(out, "\r\n")] = '\0';
}

/* Sends ECHO --echo with redisCommand, after the last operation. */
static void hr_worker_echo(hr_worker *worker)
{
    redisReply *reply;

    if (worker->context == NULL && hr_worker_open(worker) != 0) {
        snprintf(worker->echo_result, sizeof(worker->echo_result),
                 "failed:connect:%.200s", worker->last_error);
        return;
    }
    reply = redisCommand(worker->context, "ECHO %s", worker->options->echo);
    hr_worker_note_echo(worker, reply);
    freeReplyObject(reply);
}

static void *hr_worker_run(void *arg)
{
    hr_worker *worker = arg;
    const hr_options *options = worker->options;
    int64_t deadline = 0;
    long long i = 0;

    if (options->seconds > 0)
        deadline = hr_now_ns() + (int64_t)options->seconds * 1000000000;

    while (options->ops == 0 || i < options->ops) {
        long long count = options->pipeline;

        if (i > 0 && options->sleep_ms > 0)
            hr_sleep_ms(options->sleep_ms);
        if (deadline != 0 && hr_now_ns() >= deadline)
            break;
        if (count == 0) {
            hr_worker_step(worker, i++);
            continue;
        }
        if (options->ops > 0 && options->ops - i < count)
            count = options->ops - i;
        hr_worker_pipeline(worker, i, count);
        i += count;
    }
    if (options->echo != NULL)
        hr_worker_echo(worker);
    return NULL;
}

static void hr_worker_init(hr_worker *worker, const hr_options *options,
                           int index)
{
    memset(worker, 0, sizeof(*worker));
    worker->options = options;
    worker->index = index;

    /* Threads get their own keys and client names so they never share. */
    if (options->threads > 1) {
        snprintf(worker->key_prefix, sizeof(worker->key_prefix), "t%d:", index);
        snprintf(worker->name, sizeof(worker->name), "%s-%d",
                 options->name ? options->name : "", index);
    } else if (options->name != NULL) {
        snprintf(worker->name, sizeof(worker->name), "%s", options->name);
    }
}

/* Runs every worker, each on its own thread when there are several. */
static int hr_workers_run(hr_worker *workers, int count)
{
    int started = 0;

    if (count == 1) {
        hr_worker_run(&workers[0]);
        return 0;
    }

    for (; started < count; started++) {
        if (pthread_create(&workers[started].thread, NULL, hr_worker_run,
                           &workers[started]) != 0)
            break;
    }
    for (int i = 0; i < started; i++)
        pthread_join(workers[i].thread, NULL);

    if (started < count) {
        fprintf(stderr, "hr_workload: started %d of %d threads\n", started,
                count);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    hr_options options;
    hr_worker *workers;
    int rc = hr_options_parse(&options, argc, argv);

    if (rc != 0)
        return rc > 0 ? HR_EXIT_OK : HR_EXIT_USAGE;

    /* Long-running programs that use hiredis usually ignore SIGPIPE, so
     * that a write to a closed connection fails with EPIPE and does not
     * kill them: hiredis 0.14 writes with write(2), without MSG_NOSIGNAL. */
    if (!options.keep_sigpipe)
        signal(SIGPIPE, SIG_IGN);

    workers = calloc((size_t)options.threads, sizeof(*workers));
    if (workers == NULL)
        return HR_EXIT_FAILURE;

    for (int i = 0; i < options.threads && rc == HR_EXIT_OK; i++) {
        hr_worker_init(&workers[i], &options, i);
        workers[i].value = malloc((size_t)options.value_size + HR_VALUE_HEAD);
        if (workers[i].value == NULL) {
            rc = HR_EXIT_FAILURE;
        } else if (hr_worker_open(&workers[i]) != 0) {
            fprintf(stderr, "hr_workload: initial connection failed: %s\n",
                    workers[i].last_error);
            rc = HR_EXIT_CONNECT;
        }
    }

    if (rc == HR_EXIT_OK && hr_workers_run(workers, options.threads) != 0)
        rc = HR_EXIT_FAILURE;
    if (rc == HR_EXIT_OK)
        hr_results_print(workers, options.threads);

    for (int i = 0; i < options.threads; i++) {
        redisFree(workers[i].context);
        free(workers[i].value);
    }
    free(workers);
    return rc;
}

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

static redisReply *hr_worker_command(hr_worker *worker, hr_op op,
                                     long long index)
{
    redisContext *c = worker->context;
    const char *prefix = worker->key_prefix;

    switch (op) {
    case HR_OP_INCR:
        return redisCommand(c, "INCR %scounter", prefix);
    case HR_OP_SET:
        return redisCommand(c, "SET %skey:%lld value-%lld", prefix, index,
                            index);
    default:
        return redisCommand(c, "GET %sfixed", prefix);
    }
}

/* Counts a reply that is not an error. Returns -1 for an unexpected type. */
static int hr_worker_count_reply(hr_worker *worker, hr_op op,
                                 const redisReply *reply)
{
    if (op == HR_OP_INCR && reply->type == REDIS_REPLY_INTEGER) {
        worker->incr_acknowledged++;
        worker->last_incr_value = reply->integer;
    } else if (op == HR_OP_SET && reply->type == REDIS_REPLY_STATUS) {
        worker->set_acknowledged++;
    } else if (op == HR_OP_GET && reply->type == REDIS_REPLY_STRING) {
        worker->get_hits++;
    } else if (op == HR_OP_GET && reply->type == REDIS_REPLY_NIL) {
        worker->get_nil++;
    } else {
        hr_worker_record_error(worker, "unexpected reply type %d", reply->type);
        return -1;
    }
    worker->ok++;
    return 0;
}

static void hr_worker_step(hr_worker *worker, long long index)
{
    hr_op op = worker->options->op;
    bool acknowledged = false;
    redisReply *reply;

    if (op == HR_OP_MIXED)
        op = (hr_op)(index % 3);
    worker->ops++;

    if (worker->context == NULL && hr_worker_open(worker) != 0) {
        if (op == HR_OP_SET)
            hr_worker_note_set_failed(worker, index);
        return;
    }

    reply = hr_worker_command(worker, op, index);
    if (reply == NULL) {
        hr_worker_record_error(worker, "%s: %s",
                               hr_context_error_name(worker->context->err),
                               worker->context->errstr);
        hr_worker_after_error(worker);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        hr_worker_record_error(worker, "reply: %s", reply->str);
    } else {
        acknowledged = hr_worker_count_reply(worker, op, reply) == 0;
    }

    if (!acknowledged && op == HR_OP_SET)
        hr_worker_note_set_failed(worker, index);
    freeReplyObject(reply);
}

static void *hr_worker_run(void *arg)
{
    hr_worker *worker = arg;
    const hr_options *options = worker->options;
    int64_t deadline = 0;

    if (options->seconds > 0)
        deadline = hr_now_ns() + (int64_t)options->seconds * 1000000000;

    for (long long i = 0; options->ops == 0 || i < options->ops; i++) {
        if (i > 0 && options->sleep_ms > 0)
            hr_sleep_ms(options->sleep_ms);
        if (deadline != 0 && hr_now_ns() >= deadline)
            break;
        hr_worker_step(worker, i);
    }
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
        if (hr_worker_open(&workers[i]) != 0) {
            fprintf(stderr, "hr_workload: initial connection failed: %s\n",
                    workers[i].last_error);
            rc = HR_EXIT_CONNECT;
        }
    }

    if (rc == HR_EXIT_OK && hr_workers_run(workers, options.threads) != 0)
        rc = HR_EXIT_FAILURE;
    if (rc == HR_EXIT_OK)
        hr_results_print(workers, options.threads);

    for (int i = 0; i < options.threads; i++)
        redisFree(workers[i].context);
    free(workers);
    return rc;
}

/*
 * A plain hiredis program for scripts/bench, with no retry logic of its own.
 * It connects once and sends COUNT commands of one kind, back to back or
 * with a pause between them, and stops at the first failure. scripts/bench
 * runs it with and without libhiretry.so preloaded, under valgrind and
 * strace, so the loop does only what the workload needs.
 *
 * Usage: bench-program WORKLOAD HOST PORT COUNT [PAUSE_US]
 *        bench-program memory HOST PORT CONTEXTS
 *
 *   set           SET of a 5-byte value with redisCommand
 *   set-large     SET of a 100 KiB value with redisCommand
 *   argv          SET of a 5-byte value with redisCommandArgv
 *   pipeline      PING with redisAppendCommand, HR_PIPELINE_DEPTH at a time,
 *                 then the replies with redisGetReply
 *   pipeline-10k  SET of a 5-byte value with redisAppendCommand,
 *                 HR_DEEP_PIPELINE_DEPTH at a time, then the replies
 *   setget        SET and GET of a 5-byte value in turn, with redisCommand
 *   incrby        INCRBY with a %d argument
 *   incrbyfloat   INCRBYFLOAT with a %f argument, which hiredis formats
 *                 even under the shim
 *
 * PAUSE_US, 0 by default, is slept after each command (after each batch in
 * the pipeline workload). The last line on standard output is
 *
 *     commands=N seconds=S ops_per_s=R
 *
 * where seconds is the time of the loop alone, without the connect.
 *
 * The memory mode opens CONTEXTS connections, sends a PING on each and
 * prints the resident memory of the process, from /proc/self/status, after
 * the first context and after the last one:
 *
 *     contexts=N rss_kib_first=A rss_kib_all=B anon_kib_first=C anon_kib_all=D
 *
 * The exit status is 0 on success, 1 when a command failed and 2 when the
 * program could not start.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#define HR_KEY "bench:key"
#define HR_VALUE "value"
#define HR_COUNTER_KEY "bench:counter"
#define HR_FLOAT_KEY "bench:float"
#define HR_LARGE_VALUE_LEN (100 * 1024)
#define HR_PIPELINE_DEPTH 10
#define HR_DEEP_PIPELINE_DEPTH 10000

typedef int hr_workload_fn(redisContext *c, long count, long pause_us);

/* Parses a decimal integer from min to max. Returns 0, or -1 if invalid. */
static int hr_parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

static void hr_sleep_us(long us)
{
    struct timespec delay = {us / 1000000, (us % 1000000) * 1000L};

    if (us == 0)
        return;
    while (nanosleep(&delay, &delay) != 0 && errno == EINTR)
        continue;
}

static double hr_now_s(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/*
 * Checks that reply has the expected type and frees it. Returns 0, or -1
 * after printing what failed.
 */
static int hr_check_reply(redisContext *c, redisReply *reply, int expected,
                          const char *label)
{
    int type = reply != NULL ? reply->type : -1;

    if (reply == NULL)
        fprintf(stderr, "bench-program: %s failed: %s\n", label, c->errstr);
    else if (type == REDIS_REPLY_ERROR)
        fprintf(stderr, "bench-program: %s failed: %s\n", label, reply->str);
    else if (type != expected)
        fprintf(stderr, "bench-program: %s: reply of type %d, expected %d\n",
                label, type, expected);
    freeReplyObject(reply);
    return type == expected ? 0 : -1;
}

static int hr_workload_set(redisContext *c, long count, long pause_us)
{
    for (long i = 0; i < count; i++) {
        redisReply *reply = redisCommand(c, "SET %s %s", HR_KEY, HR_VALUE);
        if (hr_check_reply(c, reply, REDIS_REPLY_STATUS, "SET") != 0)
            return -1;
        hr_sleep_us(pause_us);
    }
    return 0;
}

static int hr_workload_set_large(redisContext *c, long count, long pause_us)
{
    char *value = malloc(HR_LARGE_VALUE_LEN);
    int rc = 0;

    if (value == NULL) {
        fprintf(stderr, "bench-program: out of memory\n");
        return -1;
    }
    memset(value, 'v', HR_LARGE_VALUE_LEN);

    for (long i = 0; i < count && rc == 0; i++) {
        redisReply *reply = redisCommand(c, "SET %s %b", HR_KEY, value,
                                         (size_t)HR_LARGE_VALUE_LEN);
        rc = hr_check_reply(c, reply, REDIS_REPLY_STATUS, "SET (100 KiB)");
        hr_sleep_us(pause_us);
    }
    free(value);
    return rc;
}

static int hr_workload_argv(redisContext *c, long count, long pause_us)
{
    const char *argv[] = {"SET", HR_KEY, HR_VALUE};
    const size_t argvlen[] = {3, strlen(HR_KEY), strlen(HR_VALUE)};

    for (long i = 0; i < count; i++) {
        redisReply *reply = redisCommandArgv(c, 3, argv, argvlen);
        if (hr_check_reply(c, reply, REDIS_REPLY_STATUS, "SET (argv)") != 0)
            return -1;
        hr_sleep_us(pause_us);
    }
    return 0;
}

/* Appends depth PINGs, then reads their replies. */
static int hr_ping_batch(redisContext *c, long depth)
{
    for (long i = 0; i < depth; i++) {
        if (redisAppendCommand(c, "PING") != REDIS_OK) {
            fprintf(stderr, "bench-program: append failed: %s\n", c->errstr);
            return -1;
        }
    }

    for (long i = 0; i < depth; i++) {
        void *reply = NULL;
        if (redisGetReply(c, &reply) != REDIS_OK)
            reply = NULL;
        if (hr_check_reply(c, reply, REDIS_REPLY_STATUS, "PING") != 0)
            return -1;
    }
    return 0;
}

static int hr_workload_pipeline(redisContext *c, long count, long pause_us)
{
    for (long sent = 0; sent < count; sent += HR_PIPELINE_DEPTH) {
        long depth =
            count - sent < HR_PIPELINE_DEPTH ? count - sent : HR_PIPELINE_DEPTH;
        if (hr_ping_batch(c, depth) != 0)
            return -1;
        hr_sleep_us(pause_us);
    }
    return 0;
}

/* Appends depth SETs, then reads their replies. */
static int hr_set_batch(redisContext *c, long depth)
{
    for (long i = 0; i < depth; i++) {
        if (redisAppendCommand(c, "SET %s %s", HR_KEY, HR_VALUE) != REDIS_OK) {
            fprintf(stderr, "bench-program: append failed: %s\n", c->errstr);
            return -1;
        }
    }

    for (long i = 0; i < depth; i++) {
        void *reply = NULL;
        if (redisGetReply(c, &reply) != REDIS_OK)
            reply = NULL;
        if (hr_check_reply(c, reply, REDIS_REPLY_STATUS, "SET (pipelined)") !=
            0)
            return -1;
    }
    return 0;
}

static int hr_workload_deep_pipeline(redisContext *c, long count, long pause_us)
{
    for (long sent = 0; sent < count; sent += HR_DEEP_PIPELINE_DEPTH) {
        long depth = count - sent < HR_DEEP_PIPELINE_DEPTH
                         ? count - sent
                         : HR_DEEP_PIPELINE_DEPTH;
        if (hr_set_batch(c, depth) != 0)
            return -1;
        hr_sleep_us(pause_us);
    }
    return 0;
}

static int hr_workload_setget(redisContext *c, long count, long pause_us)
{
    for (long i = 0; i < count; i++) {
        redisReply *reply;
        int rc;

        if (i % 2 == 0) {
            reply = redisCommand(c, "SET %s %s", HR_KEY, HR_VALUE);
            rc = hr_check_reply(c, reply, REDIS_REPLY_STATUS, "SET");
        } else {
            reply = redisCommand(c, "GET %s", HR_KEY);
            rc = hr_check_reply(c, reply, REDIS_REPLY_STRING, "GET");
        }
        if (rc != 0)
            return -1;
        hr_sleep_us(pause_us);
    }
    return 0;
}

static int hr_workload_incrby(redisContext *c, long count, long pause_us)
{
    for (long i = 0; i < count; i++) {
        redisReply *reply = redisCommand(c, "INCRBY %s %d", HR_COUNTER_KEY, 1);
        if (hr_check_reply(c, reply, REDIS_REPLY_INTEGER, "INCRBY") != 0)
            return -1;
        hr_sleep_us(pause_us);
    }
    return 0;
}

static int hr_workload_incrbyfloat(redisContext *c, long count, long pause_us)
{
    for (long i = 0; i < count; i++) {
        redisReply *reply =
            redisCommand(c, "INCRBYFLOAT %s %f", HR_FLOAT_KEY, 0.5);
        if (hr_check_reply(c, reply, REDIS_REPLY_STRING, "INCRBYFLOAT") != 0)
            return -1;
        hr_sleep_us(pause_us);
    }
    return 0;
}

static hr_workload_fn *hr_find_workload(const char *name)
{
    static const struct {
        const char *name;
        hr_workload_fn *run;
    } workloads[] = {
        {"set", hr_workload_set},
        {"set-large", hr_workload_set_large},
        {"argv", hr_workload_argv},
        {"pipeline", hr_workload_pipeline},
        {"setget", hr_workload_setget},
        {"pipeline-10k", hr_workload_deep_pipeline},
        {"incrby", hr_workload_incrby},
        {"incrbyfloat", hr_workload_incrbyfloat},
    };

    for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++) {
        if (strcmp(workloads[i].name, name) == 0)
            return workloads[i].run;
    }
    return NULL;
}

/*
 * Runs the workload's loop and stores its duration. scripts/bench counts
 * instructions with callgrind's --toggle-collect=hr_run_workload, so that
 * the connect and the printing of the timing, whose cost varies with the
 * digits printed, stay out of the count. noinline keeps the function, and
 * the work after the loop keeps the call from becoming a jump.
 */
__attribute__((noinline)) static int hr_run_workload(hr_workload_fn *run,
                                                     redisContext *c,
                                                     long count, long pause_us,
                                                     double *seconds)
{
    double started = hr_now_s();
    int rc = run(c, count, pause_us);

    *seconds = hr_now_s() - started;
    return rc;
}

/*
 * Connects and sends a first PING, which takes the one-time costs, such as
 * the lazy binding of hiredis's functions, outside any measured loop.
 * Returns the context, or NULL after printing what failed.
 */
static redisContext *hr_open_context(const char *host, long port)
{
    redisContext *c = redisConnect(host, (int)port);

    if (c == NULL || c->err) {
        fprintf(stderr, "bench-program: connect to %s:%ld failed: %s\n", host,
                port, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    if (hr_check_reply(c, redisCommand(c, "PING"), REDIS_REPLY_STATUS,
                       "PING") != 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Reads VmRSS and RssAnon, in KiB. Returns 0, or -1 after printing why. */
static int hr_read_rss(long *rss_kib, long *anon_kib)
{
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    int found = 0;

    if (status == NULL) {
        perror("bench-program: /proc/self/status");
        return -1;
    }
    while (fgets(line, sizeof(line), status) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", rss_kib) == 1)
            found |= 1;
        else if (sscanf(line, "RssAnon: %ld kB", anon_kib) == 1)
            found |= 2;
    }
    fclose(status);

    if (found != 3) {
        fprintf(stderr, "bench-program: no VmRSS or RssAnon in "
                        "/proc/self/status\n");
        return -1;
    }
    return 0;
}

/*
 * Opens count contexts and prints the resident memory after the first and
 * after the last. The array of contexts is allocated before the first
 * reading, so that only the contexts grow the second one.
 */
static int hr_measure_memory(const char *host, long port, long count)
{
    redisContext **contexts = calloc((size_t)count, sizeof(*contexts));
    long rss_first = 0, anon_first = 0, rss_all = 0, anon_all = 0;
    long opened = 0;
    int rc = -1;

    if (contexts == NULL) {
        fprintf(stderr, "bench-program: out of memory\n");
        return -1;
    }

    while (opened < count) {
        contexts[opened] = hr_open_context(host, port);
        if (contexts[opened] == NULL)
            goto done;
        opened++;
        if (opened == 1 && hr_read_rss(&rss_first, &anon_first) != 0)
            goto done;
    }
    if (hr_read_rss(&rss_all, &anon_all) != 0)
        goto done;

    printf("contexts=%ld rss_kib_first=%ld rss_kib_all=%ld "
           "anon_kib_first=%ld anon_kib_all=%ld\n",
           count, rss_first, rss_all, anon_first, anon_all);
    rc = 0;

done:
    while (opened > 0)
        redisFree(contexts[--opened]);
    free(contexts);
    return rc;
}

static int hr_usage(void)
{
    fprintf(stderr, "usage: bench-program WORKLOAD HOST PORT COUNT [PAUSE_US]\n"
                    "       bench-program memory HOST PORT CONTEXTS\n"
                    "WORKLOAD is set, set-large, argv, pipeline, pipeline-10k, "
                    "setget, incrby or incrbyfloat, PORT is 1 to 65535, "
                    "PAUSE_US is 0 to 10000000 and "
                    "CONTEXTS is 1 to 100000\n");
    return 2;
}

int main(int argc, char **argv)
{
    hr_workload_fn *run = argc >= 2 ? hr_find_workload(argv[1]) : NULL;
    long port, count, pause_us = 0;
    double seconds;
    redisContext *c;
    int rc;

    if (argc == 5 && strcmp(argv[1], "memory") == 0) {
        if (hr_parse_long(argv[3], 1, 65535, &port) != 0 ||
            hr_parse_long(argv[4], 1, 100000, &count) != 0)
            return hr_usage();
        return hr_measure_memory(argv[2], port, count) == 0 ? 0 : 1;
    }

    if (run == NULL || argc < 5 || argc > 6 ||
        hr_parse_long(argv[3], 1, 65535, &port) != 0 ||
        hr_parse_long(argv[4], 0, LONG_MAX, &count) != 0 ||
        (argc == 6 && hr_parse_long(argv[5], 0, 10000000, &pause_us) != 0))
        return hr_usage();

    /* The first PING also leaves the loop to start right after a reply,
       like every later command in it. */
    c = hr_open_context(argv[2], port);
    if (c == NULL)
        return 2;

    rc = hr_run_workload(run, c, count, pause_us, &seconds);
    redisFree(c);
    if (rc != 0)
        return 1;

    printf("commands=%ld seconds=%.6f ops_per_s=%.1f\n", count, seconds,
           seconds > 0 ? (double)count / seconds : 0.0);
    return 0;
}

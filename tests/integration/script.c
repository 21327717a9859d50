/*
 * hr_script: a plain hiredis program that runs the steps given on its
 * command line, in order, on one blocking context, and prints one result
 * line per step. The integration tests use it for calls that hr_workload's
 * loops do not make: QUIT, SHUTDOWN, a read with nothing in flight, an
 * explicit redisReconnect, and points where the test acts between steps.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define HR_ARGS_MAX 64
#define HR_WAIT_LIMIT_MS 30000

static const char hr_usage[] =
    "usage: hr_script (--port PORT | --unix PATH) [--timeout-ms MS] STEP...\n"
    "\n"
    "Connects to 127.0.0.1:PORT or to PATH and runs each STEP in order:\n"
    "\n"
    "  WORD...          redisCommandArgv with the words split on spaces\n"
    "  @append:WORD...  redisAppendCommandArgv, no reply read\n"
    "  @getreply        redisGetReply\n"
    "  @reconnect       redisReconnect\n"
    "  @sleep:MS        sleeps MS milliseconds\n"
    "  @touch:PATH      creates the file PATH\n"
    "  @wait:PATH       waits until the file PATH exists (30 s at most)\n"
    "  @closeerr        closes standard error (descriptor 2)\n"
    "  @system:COMMAND  runs COMMAND with system(3), as a child process\n"
    "\n"
    "Prints step<N>=RESULT for each step, where RESULT is status:TEXT,\n"
    "error:TEXT, integer:N, string:TEXT, nil, array:COUNT, ok, or\n"
    "failed:ERR:ERRSTR when hiredis failed, then step<N>.ms=ELAPSED.\n"
    "Exit status: 0 when every step ran, 2 for invalid arguments, 3 when\n"
    "the connection failed.\n";

static long long hr_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hr_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void hr_print_reply(int step, const redisReply *reply)
{
    switch (reply->type) {
    case REDIS_REPLY_STATUS:
        printf("step%d=status:%s\n", step, reply->str);
        break;
    case REDIS_REPLY_ERROR:
        printf("step%d=error:%s\n", step, reply->str);
        break;
    case REDIS_REPLY_INTEGER:
        printf("step%d=integer:%lld\n", step, reply->integer);
        break;
    case REDIS_REPLY_STRING:
        printf("step%d=string:%s\n", step, reply->str);
        break;
    case REDIS_REPLY_NIL:
        printf("step%d=nil\n", step);
        break;
    case REDIS_REPLY_ARRAY:
        printf("step%d=array:%zu\n", step, reply->elements);
        break;
    default:
        printf("step%d=type:%d\n", step, reply->type);
        break;
    }
}

static void hr_print_failure(int step, const redisContext *c)
{
    printf("step%d=failed:%d:%s\n", step, c->err, c->errstr);
}

/* Splits words on spaces into argv. Returns the count, or -1. */
static int hr_split(char *words, char **argv)
{
    int argc = 0;

    for (char *save = NULL, *word = strtok_r(words, " ", &save); word;
         word = strtok_r(NULL, " ", &save)) {
        if (argc == HR_ARGS_MAX)
            return -1;
        argv[argc++] = word;
    }
    return argc;
}

static void hr_run_command(redisContext *c, int step, char *words, bool append)
{
    char *argv[HR_ARGS_MAX];
    int argc = hr_split(words, argv);
    redisReply *reply;

    if (argc <= 0) {
        printf("step%d=invalid\n", step);
        return;
    }
    if (append) {
        if (redisAppendCommandArgv(c, argc, (const char **)argv, NULL) ==
            REDIS_OK)
            printf("step%d=ok\n", step);
        else
            hr_print_failure(step, c);
        return;
    }
    reply = redisCommandArgv(c, argc, (const char **)argv, NULL);
    if (reply == NULL) {
        hr_print_failure(step, c);
        return;
    }
    hr_print_reply(step, reply);
    freeReplyObject(reply);
}

static void hr_get_reply(redisContext *c, int step)
{
    void *reply = NULL;

    if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) {
        hr_print_failure(step, c);
        return;
    }
    hr_print_reply(step, reply);
    freeReplyObject(reply);
}

static void hr_wait_file(int step, const char *path)
{
    struct stat st;
    long long deadline = hr_now_ms() + HR_WAIT_LIMIT_MS;

    while (stat(path, &st) != 0) {
        if (hr_now_ms() >= deadline) {
            printf("step%d=timed-out\n", step);
            return;
        }
        hr_sleep_ms(10);
    }
    printf("step%d=ok\n", step);
}

static void hr_touch(int step, const char *path)
{
    FILE *file = fopen(path, "w");

    if (file == NULL || fclose(file) != 0) {
        printf("step%d=failed:%s\n", step, strerror(errno));
        return;
    }
    printf("step%d=ok\n", step);
}

static void hr_run_step(redisContext *c, int step, char *text)
{
    long long start = hr_now_ms();

    if (strncmp(text, "@append:", 8) == 0) {
        hr_run_command(c, step, text + 8, true);
    } else if (strcmp(text, "@getreply") == 0) {
        hr_get_reply(c, step);
    } else if (strcmp(text, "@reconnect") == 0) {
        if (redisReconnect(c) == REDIS_OK)
            printf("step%d=ok\n", step);
        else
            hr_print_failure(step, c);
    } else if (strncmp(text, "@sleep:", 7) == 0) {
        hr_sleep_ms(strtol(text + 7, NULL, 10));
        printf("step%d=ok\n", step);
    } else if (strncmp(text, "@touch:", 7) == 0) {
        hr_touch(step, text + 7);
    } else if (strncmp(text, "@wait:", 6) == 0) {
        hr_wait_file(step, text + 6);
    } else if (strncmp(text, "@system:", 8) == 0) {
        printf("step%d=status:%d\n", step, system(text + 8));
    } else if (strcmp(text, "@closeerr") == 0) {
        printf("step%d=%s\n", step,
               close(STDERR_FILENO) == 0 ? "ok" : "failed");
    } else {
        hr_run_command(c, step, text, false);
    }
    printf("step%d.ms=%lld\n", step, hr_now_ms() - start);
    fflush(stdout);
}

static redisContext *hr_connect(int port, const char *unix_path,
                                long timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c;

    if (unix_path != NULL)
        c = timeout_ms > 0 ? redisConnectUnixWithTimeout(unix_path, tv)
                           : redisConnectUnix(unix_path);
    else
        c = timeout_ms > 0 ? redisConnectWithTimeout("127.0.0.1", port, tv)
                           : redisConnect("127.0.0.1", port);
    /* A failed redisSetTimeout leaves its error in c for main() to print. */
    if (c != NULL && c->err == 0 && timeout_ms > 0)
        redisSetTimeout(c, tv);
    return c;
}

int main(int argc, char **argv)
{
    const char *unix_path = NULL;
    long timeout_ms = 0;
    int port = 0;
    int i = 1;
    redisContext *c;

    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--unix") == 0)
            unix_path = argv[i + 1];
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            timeout_ms = strtol(argv[i + 1], NULL, 10);
        else
            break;
    }
    if (i >= argc || (port <= 0 && unix_path == NULL) || timeout_ms < 0) {
        fputs(hr_usage, stderr);
        return 2;
    }

    c = hr_connect(port, unix_path, timeout_ms);
    if (c == NULL || c->err) {
        printf("connect=failed:%d:%s\n", c ? c->err : 0,
               c ? c->errstr : "out of memory");
        redisFree(c);
        return 3;
    }
    printf("connect=ok\n");

    for (int step = 1; i < argc; i++, step++)
        hr_run_step(c, step, argv[i]);
    redisFree(c);
    return 0;
}

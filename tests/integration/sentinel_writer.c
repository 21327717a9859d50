/*
 * sentinel_writer: a plain hiredis program that writes continuously, for
 * the Sentinel failover test. It connects to one address, sends AUTH and
 * SELECT, and then sends SET w:<i> <i> for i = 0, 1, ... with a pause
 * between writes, on the same context whatever happens, until the stop
 * file exists or the time is up. It has no Sentinel support.
 *
 * Output, key=value lines: acknowledged (SETs that replied OK), failed
 * (SETs that did not), failed_indexes (the first 64 of them), readonly
 * (READONLY replies among them), max_gap_ms (the longest time between two
 * acknowledged writes), gap_end_ms (CLOCK_MONOTONIC, in milliseconds, of
 * the write that ended it), last_before_gap and first_after_gap (the
 * indexes around it), last_error.
 *
 * usage: sentinel_writer HOST PORT PASSWORD DB SECONDS STOP_FILE SLEEP_MS
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define HR_FAILED_SHOWN 64

typedef struct hr_writer {
    long long acknowledged;
    long long failed;
    long long failed_indexes[HR_FAILED_SHOWN];
    long long readonly;
    int64_t last_ack_ms;
    int64_t max_gap_ms;
    int64_t gap_end_ms;
    long long last_before_gap;
    long long first_after_gap;
    long long last_ack_index;
    char last_error[128];
} hr_writer;

static int64_t hr_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void hr_sleep_ms(int ms)
{
    struct timespec delay = {ms / 1000, (long)(ms % 1000) * 1000000};

    while (nanosleep(&delay, &delay) != 0 && errno == EINTR)
        continue;
}

/* Sends one command and returns true when it replied with a status. */
static bool hr_setup(redisContext *c, const char *format, const char *arg)
{
    redisReply *reply = redisCommand(c, format, arg);
    bool ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;

    if (!ok)
        fprintf(stderr, "sentinel_writer: %s failed: %s\n", format,
                reply ? reply->str : c->errstr);
    freeReplyObject(reply);
    return ok;
}

static void hr_record_failure(hr_writer *w, long long i, const char *text)
{
    if (w->failed < HR_FAILED_SHOWN)
        w->failed_indexes[w->failed] = i;
    w->failed++;
    if (strncmp(text, "READONLY", 8) == 0)
        w->readonly++;
    snprintf(w->last_error, sizeof(w->last_error), "%s", text);
}

static void hr_record_success(hr_writer *w, long long i)
{
    int64_t now = hr_now_ms();

    if (w->acknowledged > 0 && now - w->last_ack_ms > w->max_gap_ms) {
        w->max_gap_ms = now - w->last_ack_ms;
        w->gap_end_ms = now;
        w->last_before_gap = w->last_ack_index;
        w->first_after_gap = i;
    }
    w->acknowledged++;
    w->last_ack_ms = now;
    w->last_ack_index = i;
}

/* Sends SET w:<i> <i> and records the outcome. */
static void hr_write_one(redisContext *c, hr_writer *w, long long i)
{
    redisReply *reply = redisCommand(c, "SET w:%lld %lld", i, i);

    if (reply == NULL)
        hr_record_failure(w, i, c->errstr);
    else if (reply->type == REDIS_REPLY_ERROR)
        hr_record_failure(w, i, reply->str);
    else
        hr_record_success(w, i);
    freeReplyObject(reply);
}

static void hr_print(const hr_writer *w)
{
    printf("acknowledged=%lld\nfailed=%lld\nfailed_indexes=", w->acknowledged,
           w->failed);
    for (long long i = 0; i < w->failed && i < HR_FAILED_SHOWN; i++)
        printf("%s%lld", i ? "," : "", w->failed_indexes[i]);
    printf("\nreadonly=%lld\nmax_gap_ms=%lld\ngap_end_ms=%lld\n", w->readonly,
           (long long)w->max_gap_ms, (long long)w->gap_end_ms);
    printf("last_before_gap=%lld\nfirst_after_gap=%lld\nlast_error=%s\n",
           w->last_before_gap, w->first_after_gap, w->last_error);
}

int main(int argc, char **argv)
{
    hr_writer w = {.last_before_gap = -1, .first_after_gap = -1};
    struct timeval timeout = {2, 0};
    redisContext *c;
    int64_t end_ms;

    if (argc != 8) {
        fprintf(stderr, "usage: sentinel_writer HOST PORT PASSWORD DB "
                        "SECONDS STOP_FILE SLEEP_MS\n");
        return 2;
    }
    end_ms = hr_now_ms() + atoll(argv[5]) * 1000;

    c = redisConnectWithTimeout(argv[1], atoi(argv[2]), timeout);
    if (c == NULL || c->err) {
        fprintf(stderr, "sentinel_writer: connect failed: %s\n",
                c ? c->errstr : "out of memory");
        return 3;
    }
    redisSetTimeout(c, timeout);
    if (!hr_setup(c, "AUTH %s", argv[3]) || !hr_setup(c, "SELECT %s", argv[4]))
        return 3;

    for (long long i = 0; hr_now_ms() < end_ms; i++) {
        if (access(argv[6], F_OK) == 0)
            break;
        hr_write_one(c, &w, i);
        hr_sleep_ms(atoi(argv[7]));
    }
    hr_print(&w);
    redisFree(c);
    return 0;
}

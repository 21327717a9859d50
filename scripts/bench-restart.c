/*
 * Plain hiredis programs for the restart sections of scripts/bench, with no
 * retry logic of their own. They are a steady command loop, a probe that
 * waits until a server replies, and a client blocked in a read, as one of
 * many in a reconnect storm.
 *
 * Usage: bench-restart loop HOST PORT SECONDS
 *        bench-restart ready HOST PORT TIMEOUT_MS
 *        bench-restart storm HOST PORT SECONDS
 *
 *   loop   SET back to back on one context, with a 1 ms pause after a
 *          failed command, until SIGTERM or SIGINT arrives or SECONDS have
 *          passed, then prints the timeline
 *   ready  connects and sends PING every HR_PROBE_INTERVAL_US until the
 *          server answers, then prints "ready=T"
 *   storm  reads the stream bench:storm with XREAD BLOCK on one context
 *          until an entry arrives or SECONDS have passed, then prints the
 *          connection attempts
 *
 * The program defines connect(2) and records the time of every call that
 * reaches it, including those that libhiredis makes for libhiretry.so's
 * reconnects, since the executable's definition comes first in the symbol
 * lookup of every shared object. Times are CLOCK_REALTIME in seconds, so
 * that scripts/bench can compare them with its own clock and other
 * processes'. loop and storm print, after their work:
 *
 *     connect T ERRNO     one line per connect(2), with the errno it left
 *                         or 0. hiredis connects without blocking and
 *                         waits with poll(2), so ERRNO is usually
 *                         EINPROGRESS and a refusal shows only later.
 *     resume T GAP        loop: a success GAP seconds after the one before,
 *                         for every GAP over HR_RESUME_GAP_S
 *     bin T OK FAILED     loop: commands that ended in the HR_BIN_S
 *                         seconds from T
 *
 * The exit status is 0 on success and 2 when the program could not start
 * or ran out of memory. A failed command does not end loop or storm.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <hiredis/hiredis.h>

#define HR_KEY "bench:restart"
#define HR_STREAM "bench:storm"
#define HR_VALUE "value"
#define HR_FAILURE_PAUSE_US 1000
#define HR_PROBE_INTERVAL_US 100
#define HR_RESUME_GAP_S 0.002
#define HR_BIN_S 0.001
#define HR_MAX_CONNECTS 100000
#define HR_MAX_RESUMES 10000

struct hr_connect_record {
    double time;
    int error_number;
};

/* Every connect(2) of the process, up to HR_MAX_CONNECTS. */
static struct hr_connect_record hr_connects[HR_MAX_CONNECTS];
static long hr_connect_count;

static double hr_now_s(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Records the call and passes it to the C library's connect. */
int connect(int fd, const struct sockaddr *address, socklen_t length)
{
    static int (*real_connect)(int, const struct sockaddr *, socklen_t);
    double started = hr_now_s();
    int rc;

    if (real_connect == NULL)
        real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(
            RTLD_NEXT, "connect");
    if (real_connect == NULL) {
        errno = ENOSYS;
        return -1;
    }

    rc = real_connect(fd, address, length);
    if (hr_connect_count < HR_MAX_CONNECTS) {
        hr_connects[hr_connect_count++] =
            (struct hr_connect_record){started, rc == 0 ? 0 : errno};
    }
    return rc;
}

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

    while (nanosleep(&delay, &delay) != 0 && errno == EINTR)
        continue;
}

static void hr_print_connects(void)
{
    for (long i = 0; i < hr_connect_count; i++) {
        printf("connect %.6f %d\n", hr_connects[i].time,
               hr_connects[i].error_number);
    }
    if (hr_connect_count == HR_MAX_CONNECTS)
        fprintf(stderr,
                "bench-restart: only the first %d connects were "
                "recorded\n",
                HR_MAX_CONNECTS);
}

/* The outcome of the loop's commands: gaps, and counts per time bin. */
struct hr_timeline {
    double started;
    long bins;
    long *ok;
    long *failed;
    double resumes[HR_MAX_RESUMES][2]; /* time of the success, gap before */
    long resume_count;
    double last_success;
};

static struct hr_timeline *hr_timeline_new(double started, long seconds)
{
    struct hr_timeline *timeline = calloc(1, sizeof(*timeline));

    if (timeline == NULL)
        return NULL;
    timeline->started = started;
    timeline->last_success = started;
    timeline->bins = (long)(seconds / HR_BIN_S) + 1;
    timeline->ok = calloc((size_t)timeline->bins, sizeof(long));
    timeline->failed = calloc((size_t)timeline->bins, sizeof(long));
    if (timeline->ok == NULL || timeline->failed == NULL) {
        free(timeline->ok);
        free(timeline->failed);
        free(timeline);
        return NULL;
    }
    return timeline;
}

static void hr_timeline_free(struct hr_timeline *timeline)
{
    free(timeline->ok);
    free(timeline->failed);
    free(timeline);
}

/* Counts a command that ended at time now, with success or failure. */
static void hr_timeline_add(struct hr_timeline *timeline, double now,
                            int success)
{
    long bin = (long)((now - timeline->started) / HR_BIN_S);
    double gap = now - timeline->last_success;

    if (bin >= timeline->bins)
        bin = timeline->bins - 1;
    if (!success) {
        timeline->failed[bin]++;
        return;
    }

    timeline->ok[bin]++;
    if (gap > HR_RESUME_GAP_S && timeline->resume_count < HR_MAX_RESUMES) {
        timeline->resumes[timeline->resume_count][0] = now;
        timeline->resumes[timeline->resume_count][1] = gap;
        timeline->resume_count++;
    }
    timeline->last_success = now;
}

/* Prints the resumes, and the bins up to the one that contains now. */
static void hr_timeline_print(const struct hr_timeline *timeline, double now)
{
    long last_bin = (long)((now - timeline->started) / HR_BIN_S);

    for (long i = 0; i < timeline->resume_count; i++) {
        printf("resume %.6f %.6f\n", timeline->resumes[i][0],
               timeline->resumes[i][1]);
    }
    for (long i = 0; i <= last_bin && i < timeline->bins; i++) {
        printf("bin %.6f %ld %ld\n", timeline->started + (double)i * HR_BIN_S,
               timeline->ok[i], timeline->failed[i]);
    }
}

static volatile sig_atomic_t hr_stop_requested;

static void hr_request_stop(int signal_number)
{
    (void)signal_number;
    hr_stop_requested = 1;
}

/*
 * Makes SIGTERM and SIGINT end the loop after the command in progress, and
 * ignores SIGPIPE, as network programs do. Otherwise a plain hiredis
 * program that writes to a connection reset by the server's death dies.
 */
static int hr_catch_stop_signals(void)
{
    struct sigaction action = {.sa_handler = hr_request_stop};
    struct sigaction ignore = {.sa_handler = SIG_IGN};

    sigemptyset(&action.sa_mask);
    sigemptyset(&ignore.sa_mask);
    if (sigaction(SIGTERM, &action, NULL) != 0 ||
        sigaction(SIGINT, &action, NULL) != 0 ||
        sigaction(SIGPIPE, &ignore, NULL) != 0) {
        perror("bench-restart: sigaction");
        return -1;
    }
    return 0;
}

/*
 * Sends SET until a stop signal arrives or seconds have passed. A failed
 * command is followed by a pause, as a program would wait before it tries
 * again, so that a context that fails at once does not take the CPU from
 * the server it shares.
 */
static int hr_run_loop(redisContext *c, long seconds)
{
    double started = hr_now_s();
    double deadline = started + (double)seconds;
    struct hr_timeline *timeline = hr_timeline_new(started, seconds);
    double now = started;

    if (timeline == NULL) {
        fprintf(stderr, "bench-restart: out of memory\n");
        return 2;
    }

    while (!hr_stop_requested && now < deadline) {
        redisReply *reply = redisCommand(c, "SET %s %s", HR_KEY, HR_VALUE);
        int success = reply != NULL && reply->type == REDIS_REPLY_STATUS;

        freeReplyObject(reply);
        now = hr_now_s();
        hr_timeline_add(timeline, now, success);
        if (!success) {
            hr_sleep_us(HR_FAILURE_PAUSE_US);
            now = hr_now_s();
        }
    }

    hr_print_connects();
    hr_timeline_print(timeline, now);
    hr_timeline_free(timeline);
    return 0;
}

/*
 * Reads the stream with XREAD BLOCK until an entry arrives or seconds have
 * passed. A client blocked this way learns of a server restart the moment
 * its connection closes, at the same time as every other such client, and
 * scripts/bench adds an entry to end them all at once.
 */
static int hr_run_storm(redisContext *c, long seconds)
{
    double deadline = hr_now_s() + (double)seconds;
    double left_ms;
    int entry_read = 0;

    while (!entry_read && (left_ms = (deadline - hr_now_s()) * 1000) >= 1) {
        redisReply *reply = redisCommand(c, "XREAD BLOCK %ld STREAMS %s $",
                                         (long)left_ms, HR_STREAM);

        if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
            hr_sleep_us(HR_FAILURE_PAUSE_US);
        entry_read = reply != NULL && reply->type == REDIS_REPLY_ARRAY;
        freeReplyObject(reply);
    }

    hr_print_connects();
    return 0;
}

/* Connects and sends PING, to which the server replies only once it
 * serves. */
static int hr_probe_once(const char *host, long port)
{
    redisContext *c = redisConnect(host, (int)port);
    redisReply *reply;
    int answered;

    if (c == NULL || c->err) {
        redisFree(c);
        return 0;
    }
    reply = redisCommand(c, "PING");
    answered = reply != NULL && reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(reply);
    redisFree(c);
    return answered;
}

static int hr_run_ready(const char *host, long port, long timeout_ms)
{
    double deadline = hr_now_s() + (double)timeout_ms / 1000;

    while (hr_now_s() < deadline) {
        if (hr_probe_once(host, port)) {
            printf("ready=%.6f\n", hr_now_s());
            return 0;
        }
        hr_sleep_us(HR_PROBE_INTERVAL_US);
    }
    fprintf(stderr, "bench-restart: PING to %s:%ld timed out after %ld ms\n",
            host, port, timeout_ms);
    return 1;
}

static int hr_usage(void)
{
    fprintf(stderr, "usage: bench-restart loop|storm HOST PORT SECONDS\n"
                    "       bench-restart ready HOST PORT TIMEOUT_MS\n"
                    "PORT is 1 to 65535, SECONDS 1 to 3600 and TIMEOUT_MS "
                    "1 to 3600000\n");
    return 2;
}

int main(int argc, char **argv)
{
    long port, limit;
    redisContext *c;
    int rc;

    if (argc != 5 || hr_parse_long(argv[3], 1, 65535, &port) != 0)
        return hr_usage();

    if (strcmp(argv[1], "ready") == 0) {
        if (hr_parse_long(argv[4], 1, 3600000, &limit) != 0)
            return hr_usage();
        return hr_run_ready(argv[2], port, limit);
    }
    if ((strcmp(argv[1], "loop") != 0 && strcmp(argv[1], "storm") != 0) ||
        hr_parse_long(argv[4], 1, 3600, &limit) != 0)
        return hr_usage();

    if (hr_catch_stop_signals() != 0)
        return 2;
    c = redisConnect(argv[2], (int)port);
    if (c == NULL || c->err) {
        fprintf(stderr, "bench-restart: connect to %s:%ld failed: %s\n",
                argv[2], port, c ? c->errstr : "out of memory");
        redisFree(c);
        return 2;
    }

    if (strcmp(argv[1], "loop") == 0)
        rc = hr_run_loop(c, limit);
    else
        rc = hr_run_storm(c, limit);
    redisFree(c);
    return rc;
}

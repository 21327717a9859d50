/*
 * A plain hiredis program for scripts/demo, with no retry logic of its own.
 * It connects once, sends AUTH and SELECT 3, and then records ORDERS orders.
 * Each order is a SET of order:<n> followed by an INCR of counter:orders,
 * and a short sleep follows each order. A failed command is counted and the
 * loop goes on. Once hiredis has marked the connection as failed, every
 * later command fails too, as in any program that does not reconnect.
 *
 * Usage: demo-program HOST PORT ORDERS SLEEP_MS
 * The password comes from the DEMO_PASSWORD environment variable so that it
 * does not show in the process list. The last line on standard output is
 *
 *     attempted=N succeeded=N errors=N set_ok=N incr_ok=N
 *
 * and the exit status is 0 when no command failed, 1 when some did and 2
 * when the program could not start.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#define HR_DEMO_DB "3"
#define HR_COUNTER_KEY "counter:orders"

/* Maximum number of failed commands printed. Later ones are only counted. */
#define HR_ERRORS_SHOWN 3

/* Timeout of every connect, read and write, so that a server that stops
 * responding makes the command fail instead of blocking it. */
#define HR_IO_TIMEOUT_S 2

typedef struct hr_tally {
    long attempted;
    long succeeded;
    long errors;
    long set_ok;
    long incr_ok;
} hr_tally;

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

static void hr_sleep_ms(long ms)
{
    struct timespec delay = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&delay, &delay) != 0 && errno == EINTR)
        continue;
}

/* Prints one failed command, unless HR_ERRORS_SHOWN were printed already. */
static void hr_report_error(const hr_tally *tally, const char *command,
                            const char *message)
{
    if (tally->errors > HR_ERRORS_SHOWN)
        return;
    fprintf(stderr, "demo-program: %s failed: %s\n", command, message);
    if (tally->errors == HR_ERRORS_SHOWN)
        fprintf(stderr, "demo-program: further errors are only counted\n");
}

/*
 * Sends one command and checks that its reply has the expected type.
 * Returns 1 on success and 0 on failure, after counting either.
 */
static int hr_run_command(redisContext *c, hr_tally *tally, int expected_type,
                          const char *label, const char *format, ...)
{
    char message[256];
    redisReply *reply;
    va_list ap;

    va_start(ap, format);
    reply = redisvCommand(c, format, ap);
    va_end(ap);
    tally->attempted++;

    if (reply != NULL && reply->type == expected_type) {
        freeReplyObject(reply);
        tally->succeeded++;
        return 1;
    }

    if (reply == NULL)
        snprintf(message, sizeof(message), "%s", c->errstr);
    else if (reply->type == REDIS_REPLY_ERROR)
        snprintf(message, sizeof(message), "%s", reply->str);
    else
        snprintf(message, sizeof(message), "reply of type %d", reply->type);
    freeReplyObject(reply);

    tally->errors++;
    hr_report_error(tally, label, message);
    return 0;
}

/* Connects, authenticates and selects the demo database. */
static redisContext *hr_connect(const char *host, int port,
                                const char *password)
{
    struct timeval timeout = {HR_IO_TIMEOUT_S, 0};
    redisContext *c = redisConnectWithTimeout(host, port, timeout);
    hr_tally setup = {0};

    if (c == NULL || c->err) {
        fprintf(stderr, "demo-program: connect to %s:%d failed: %s\n", host,
                port, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, timeout);

    if ((password != NULL && !hr_run_command(c, &setup, REDIS_REPLY_STATUS,
                                             "AUTH", "AUTH %s", password)) ||
        !hr_run_command(c, &setup, REDIS_REPLY_STATUS, "SELECT " HR_DEMO_DB,
                        "SELECT " HR_DEMO_DB)) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static void hr_place_orders(redisContext *c, long orders, long sleep_ms,
                            hr_tally *tally)
{
    char label[64];

    for (long n = 1; n <= orders; n++) {
        snprintf(label, sizeof(label), "SET order:%ld", n);
        tally->set_ok +=
            hr_run_command(c, tally, REDIS_REPLY_STATUS, label,
                           "SET order:%ld item=%ld,quantity=1", n, n);

        tally->incr_ok +=
            hr_run_command(c, tally, REDIS_REPLY_INTEGER,
                           "INCR " HR_COUNTER_KEY, "INCR " HR_COUNTER_KEY);

        hr_sleep_ms(sleep_ms);
    }
}

int main(int argc, char **argv)
{
    hr_tally tally = {0};
    long port, orders, sleep_ms;
    redisContext *c;

    if (argc != 5 || hr_parse_long(argv[2], 1, 65535, &port) != 0 ||
        hr_parse_long(argv[3], 0, LONG_MAX / 2, &orders) != 0 ||
        hr_parse_long(argv[4], 0, 60000, &sleep_ms) != 0) {
        fprintf(stderr, "usage: demo-program HOST PORT ORDERS SLEEP_MS\n"
                        "PORT is 1 to 65535, SLEEP_MS is 0 to 60000, and "
                        "the password is read from DEMO_PASSWORD\n");
        return 2;
    }

    c = hr_connect(argv[1], (int)port, getenv("DEMO_PASSWORD"));
    if (c == NULL)
        return 2;

    hr_place_orders(c, orders, sleep_ms, &tally);
    redisFree(c);

    printf("attempted=%ld succeeded=%ld errors=%ld set_ok=%ld incr_ok=%ld\n",
           tally.attempted, tally.succeeded, tally.errors, tally.set_ok,
           tally.incr_ok);
    return tally.errors == 0 ? 0 : 1;
}

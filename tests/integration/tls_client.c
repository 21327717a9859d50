/*
 * hr_tls_client: a plain hiredis 1.x program that talks TLS, with no retry
 * logic, which test_tls runs with and without the shim preloaded.
 *
 * It connects with redisConnectWithOptions (separate connect and command
 * timeouts), starts TLS with redisInitiateSSLWithContext, sends AUTH and
 * SELECT, then runs INCR counter OPS times, pausing between commands. A
 * failed command is counted, and the program goes on with the same context,
 * or calls redisReconnect first with --reconnect, as a program written
 * against hiredis's API but unaware of its TLS caveat would.
 */
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <hiredis/hiredis_ssl.h>

#define HR_EXIT_OK 0
#define HR_EXIT_USAGE 2
#define HR_EXIT_SETUP 3 /* connect, TLS, AUTH or SELECT failed */

static const char hr_usage[] =
    "usage: hr_tls_client --port PORT --ca FILE [options]\n"
    "\n"
    "Connects to 127.0.0.1:PORT over TLS, verifying the server's certificate\n"
    "against the CA certificate FILE, and runs INCR counter OPS times.\n"
    "Prints key=value results. Exit status: 0 when every operation ran,\n"
    "even if some failed; 2 for invalid arguments; 3 when the connection,\n"
    "the TLS handshake, AUTH or SELECT failed.\n"
    "\n"
    "  --port PORT       server TLS port on 127.0.0.1\n"
    "  --ca FILE         CA certificate in PEM\n"
    "  --server-name N   name to send with SNI and verify (default none)\n"
    "  --password PASS   send AUTH PASS after the handshake\n"
    "  --db N            send SELECT N after AUTH (default 0)\n"
    "  --ops N           INCR commands (default 100)\n"
    "  --sleep-ms MS     pause between commands (default 10)\n"
    "  --timeout-ms MS   connect and command timeout (default 2000)\n"
    "  --reconnect       call redisReconnect after a failed command\n";

typedef struct hr_tls_options {
    int port;
    const char *ca;
    const char *server_name;
    const char *password;
    int db;
    long ops;
    int sleep_ms;
    int timeout_ms;
    bool reconnect;
} hr_tls_options;

typedef struct hr_tls_results {
    long ok;
    long errors;
    long long last_incr_value;
    char first_error[160];
} hr_tls_results;

static int hr_parse_long(const char *option, const char *text, long max,
                         long *out)
{
    char *end;
    long value = strtol(text, &end, 10);

    if (*text == '\0' || *end != '\0' || value < 0 || value > max) {
        fprintf(stderr, "hr_tls_client: --%s %s: invalid value\n", option,
                text);
        return -1;
    }
    *out = value;
    return 0;
}

static int hr_parse_options(int argc, char **argv, hr_tls_options *o)
{
    static const struct option options[] = {
        {"port", required_argument, NULL, 'p'},
        {"ca", required_argument, NULL, 'c'},
        {"server-name", required_argument, NULL, 'n'},
        {"password", required_argument, NULL, 'a'},
        {"db", required_argument, NULL, 'd'},
        {"ops", required_argument, NULL, 'o'},
        {"sleep-ms", required_argument, NULL, 's'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"reconnect", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long value;
    int ch;

    while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
        int rc = 0;

        switch (ch) {
        case 'p':
            rc = hr_parse_long("port", optarg, 65535, &value);
            o->port = (int)value;
            break;
        case 'c':
            o->ca = optarg;
            break;
        case 'n':
            o->server_name = optarg;
            break;
        case 'a':
            o->password = optarg;
            break;
        case 'd':
            rc = hr_parse_long("db", optarg, INT_MAX, &value);
            o->db = (int)value;
            break;
        case 'o':
            rc = hr_parse_long("ops", optarg, LONG_MAX, &o->ops);
            break;
        case 's':
            rc = hr_parse_long("sleep-ms", optarg, INT_MAX, &value);
            o->sleep_ms = (int)value;
            break;
        case 't':
            rc = hr_parse_long("timeout-ms", optarg, INT_MAX, &value);
            o->timeout_ms = (int)value;
            break;
        case 'r':
            o->reconnect = true;
            break;
        case 'h':
            fputs(hr_usage, stdout);
            return 1;
        default:
            rc = -1;
        }
        if (rc != 0)
            return -1;
    }
    if (o->port == 0 || o->ca == NULL || optind != argc) {
        fputs(hr_usage, stderr);
        return -1;
    }
    return 0;
}

static void hr_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void hr_record_error(hr_tls_results *results, const char *text)
{
    results->errors++;
    if (results->first_error[0] == '\0')
        snprintf(results->first_error, sizeof(results->first_error), "%s",
                 text);
}

/* Sends one setup command. Returns 0 when the server accepted it. */
static int hr_setup_command(redisContext *c, const char *what,
                            const char *format, ...)
{
    redisReply *reply;
    va_list ap;
    int rc = 0;

    va_start(ap, format);
    reply = redisvCommand(c, format, ap);
    va_end(ap);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        printf("setup_error=%s: %s\n", what,
               reply != NULL ? reply->str : c->errstr);
        rc = -1;
    }
    freeReplyObject(reply);
    return rc;
}

static redisContext *hr_open(const hr_tls_options *o, redisSSLContext *tls)
{
    struct timeval timeout = {o->timeout_ms / 1000,
                              (o->timeout_ms % 1000) * 1000};
    redisOptions options = {0};
    redisContext *c;

    REDIS_OPTIONS_SET_TCP(&options, "127.0.0.1", o->port);
    options.connect_timeout = &timeout;
    options.command_timeout = &timeout;
    c = redisConnectWithOptions(&options);
    if (c == NULL || c->err) {
        printf("setup_error=connect: %s\n", c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    if (redisInitiateSSLWithContext(c, tls) != REDIS_OK) {
        printf("setup_error=tls: %s\n", c->errstr);
        redisFree(c);
        return NULL;
    }
    if ((o->password != NULL &&
         hr_setup_command(c, "auth", "AUTH %s", o->password) != 0) ||
        (o->db != 0 &&
         hr_setup_command(c, "select", "SELECT %d", o->db) != 0)) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static void hr_run(redisContext *c, const hr_tls_options *o,
                   hr_tls_results *results)
{
    for (long i = 0; i < o->ops; i++) {
        redisReply *reply = redisCommand(c, "INCR counter");

        if (reply == NULL) {
            hr_record_error(results, c->errstr);
            if (o->reconnect)
                redisReconnect(c);
        } else if (reply->type != REDIS_REPLY_INTEGER) {
            hr_record_error(results, reply->type == REDIS_REPLY_ERROR
                                         ? reply->str
                                         : "unexpected reply type");
        } else {
            results->ok++;
            results->last_incr_value = reply->integer;
        }
        freeReplyObject(reply);
        fflush(stdout);
        if (o->sleep_ms > 0)
            hr_sleep_ms(o->sleep_ms);
    }
}

int main(int argc, char **argv)
{
    hr_tls_options options = {.ops = 100, .sleep_ms = 10, .timeout_ms = 2000};
    hr_tls_results results = {0};
    redisSSLContextError tls_error = REDIS_SSL_CTX_NONE;
    redisSSLContext *tls;
    redisContext *c;
    int rc = hr_parse_options(argc, argv, &options);

    if (rc != 0)
        return rc > 0 ? HR_EXIT_OK : HR_EXIT_USAGE;

    redisInitOpenSSL();
    tls = redisCreateSSLContext(options.ca, NULL, NULL, NULL,
                                options.server_name, &tls_error);
    if (tls == NULL) {
        printf("setup_error=tls context: %s\n",
               redisSSLContextGetError(tls_error));
        return HR_EXIT_SETUP;
    }
    c = hr_open(&options, tls);
    if (c == NULL) {
        redisFreeSSLContext(tls);
        return HR_EXIT_SETUP;
    }
    printf("connected=1\n");
    fflush(stdout);

    hr_run(c, &options, &results);
    printf("ops=%ld\nok=%ld\nerrors=%ld\nlast_incr_value=%lld\n"
           "first_error=%s\n",
           options.ops, results.ok, results.errors, results.last_incr_value,
           results.first_error);
    redisFree(c);
    redisFreeSSLContext(tls);
    return HR_EXIT_OK;
}

/*
 * hr_dlopen_client: a program that links no libhiredis, opens it with
 * dlopen() once it runs, finds its functions with dlsym() and sends INCRs
 * through them, calling redisReconnect after each failure. It prints the
 * KEY=VALUE result lines of hr_workload, and which object each function
 * it found lies in.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#define HR_STRINGIFY2(x) #x
#define HR_STRINGIFY(x) HR_STRINGIFY2(x)
/* The soname of the libhiredis whose headers this program was built with. */
#define HR_HIREDIS_SONAME "libhiredis.so." HR_STRINGIFY(HIREDIS_SONAME)

static const char hr_usage[] =
    "usage: hr_dlopen_client --port PORT [--global] [--default-scope]\n"
    "                        [--ops N] [--sleep-ms MS]\n"
    "\n"
    "Opens " HR_HIREDIS_SONAME " with dlopen(RTLD_NOW | RTLD_LOCAL), or\n"
    "RTLD_GLOBAL with --global, and finds its functions with dlsym() on\n"
    "the returned handle, or on RTLD_DEFAULT with --default-scope. Then\n"
    "sends N INCR counter commands to 127.0.0.1:PORT (default 100), MS\n"
    "milliseconds apart (default 5), and calls redisReconnect after each\n"
    "failed one. Exit status: 0 after the last command, 2 for invalid\n"
    "arguments, 3 when libhiredis or a function was not found or the first\n"
    "connect failed.\n";

typedef struct hr_options {
    int port;
    bool global;
    bool default_scope;
    long ops;
    long sleep_ms;
} hr_options;

typedef struct hr_hiredis {
    redisContext *(*connect_with_timeout)(const char *, int,
                                          const struct timeval);
    int (*set_timeout)(redisContext *, const struct timeval);
    void *(*command)(redisContext *, const char *, ...);
    int (*reconnect)(redisContext *);
    void (*free_reply)(void *);
    void (*free_context)(redisContext *);
} hr_hiredis;

typedef struct hr_results {
    long ok;
    long errors;
    long long last_value;
    char first_error[128];
} hr_results;

static void hr_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Prints the file name of the object that defines symbol. */
static void hr_print_origin(const char *name, void *symbol)
{
    Dl_info info;
    const char *file = "unknown";

    if (dladdr(symbol, &info) != 0 && info.dli_fname != NULL) {
        const char *base = strrchr(info.dli_fname, '/');

        file = base ? base + 1 : info.dli_fname;
    }
    printf("%s.object=%s\n", name, file);
}

static void *hr_find(void *scope, const char *name)
{
    void *symbol = dlsym(scope, name);

    if (symbol == NULL) {
        fprintf(stderr, "hr_dlopen_client: %s not found: %s\n", name,
                dlerror());
        return NULL;
    }
    hr_print_origin(name, symbol);
    return symbol;
}

/* Opens libhiredis and finds the functions. Returns 0 or -1. */
static int hr_open_hiredis(hr_hiredis *h, const hr_options *options)
{
    int mode = RTLD_NOW | (options->global ? RTLD_GLOBAL : RTLD_LOCAL);
    void *handle = dlopen(HR_HIREDIS_SONAME, mode);
    void *scope = options->default_scope ? RTLD_DEFAULT : handle;

    if (handle == NULL) {
        fprintf(stderr, "hr_dlopen_client: dlopen failed: %s\n", dlerror());
        return -1;
    }
    *(void **)&h->connect_with_timeout =
        hr_find(scope, "redisConnectWithTimeout");
    *(void **)&h->set_timeout = hr_find(scope, "redisSetTimeout");
    *(void **)&h->command = hr_find(scope, "redisCommand");
    *(void **)&h->reconnect = hr_find(scope, "redisReconnect");
    *(void **)&h->free_reply = hr_find(scope, "freeReplyObject");
    *(void **)&h->free_context = hr_find(scope, "redisFree");
    fflush(stdout);

    if (h->connect_with_timeout == NULL || h->set_timeout == NULL ||
        h->command == NULL || h->reconnect == NULL || h->free_reply == NULL ||
        h->free_context == NULL)
        return -1;
    return 0;
}

static void hr_record_error(hr_results *results, const char *text)
{
    results->errors++;
    if (results->first_error[0] == '\0')
        snprintf(results->first_error, sizeof(results->first_error), "%s",
                 text);
}

/* Sends one INCR and counts its outcome. */
static void hr_incr(const hr_hiredis *h, redisContext *c, hr_results *results)
{
    redisReply *reply = h->command(c, "INCR counter");

    if (reply == NULL) {
        hr_record_error(results, c->errstr);
        h->reconnect(c);
        return;
    }
    if (reply->type == REDIS_REPLY_INTEGER) {
        results->ok++;
        results->last_value = reply->integer;
    } else {
        hr_record_error(results, reply->str ? reply->str : "unexpected reply");
    }
    h->free_reply(reply);
}

static int hr_run(const hr_hiredis *h, const hr_options *options)
{
    struct timeval tv = {2, 0};
    hr_results results = {0, 0, 0, ""};
    redisContext *c = h->connect_with_timeout("127.0.0.1", options->port, tv);

    if (c == NULL || c->err) {
        fprintf(stderr, "hr_dlopen_client: connect failed: %s\n",
                c ? c->errstr : "out of memory");
        return 3;
    }
    h->set_timeout(c, tv);

    for (long i = 0; i < options->ops; i++) {
        hr_incr(h, c, &results);
        hr_sleep_ms(options->sleep_ms);
    }
    h->free_context(c);

    printf("ops=%ld\nok=%ld\nerrors=%ld\n", options->ops, results.ok,
           results.errors);
    printf("incr_acknowledged=%ld\nlast_incr_value=%lld\n", results.ok,
           results.last_value);
    printf("first_error=%s\n", results.first_error);
    return 0;
}

/* Parses a non-negative integer option value. Returns it, or -1. */
static long hr_parse_count(const char *text)
{
    char *end;
    long value = strtol(text, &end, 10);

    if (*text == '\0' || *end != '\0' || value < 0)
        return -1;
    return value;
}

static int hr_parse(hr_options *options, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        bool has_value = i + 1 < argc;

        if (strcmp(argv[i], "--global") == 0)
            options->global = true;
        else if (strcmp(argv[i], "--default-scope") == 0)
            options->default_scope = true;
        else if (strcmp(argv[i], "--port") == 0 && has_value)
            options->port = (int)hr_parse_count(argv[++i]);
        else if (strcmp(argv[i], "--ops") == 0 && has_value)
            options->ops = hr_parse_count(argv[++i]);
        else if (strcmp(argv[i], "--sleep-ms") == 0 && has_value)
            options->sleep_ms = hr_parse_count(argv[++i]);
        else
            return -1;
    }
    if (options->port <= 0 || options->port > 65535 || options->ops < 0 ||
        options->sleep_ms < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    hr_options options = {0, false, false, 100, 5};
    hr_hiredis hiredis;

    if (hr_parse(&options, argc, argv) != 0) {
        fputs(hr_usage, stderr);
        return 2;
    }
    if (hr_open_hiredis(&hiredis, &options) != 0)
        return 3;
    return hr_run(&hiredis, &options);
}

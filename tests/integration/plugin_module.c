/*
 * hr_plugin: a plugin of the kind that daemons such as collectd or rsyslog
 * load with dlopen(), and the only part of its host process that links
 * libhiredis. It has no retry logic of its own. It connects, sends AUTH and
 * SELECT, and runs a loop of INCR with a short sleep. After a failed command
 * it frees its context and opens a new one with the full handshake before
 * the next INCR, as a plain program does.
 *
 * The host configures it with key/value pairs, runs it, reads its counts
 * with hr_plugin_count() and shuts it down before dlclose().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#define HR_PLUGIN_API __attribute__((visibility("default")))

/* The entry points that plugin_host.c looks up with dlsym(). */
HR_PLUGIN_API int hr_plugin_configure(const char *key, const char *value);
HR_PLUGIN_API int hr_plugin_run(void);
HR_PLUGIN_API long long hr_plugin_count(const char *name);
HR_PLUGIN_API const char *hr_plugin_first_error(void);
HR_PLUGIN_API const char *hr_plugin_last_error(void);
HR_PLUGIN_API void hr_plugin_shutdown(void);

typedef struct hr_plugin_config {
    char host[64];
    char password[64]; /* empty for no AUTH */
    long long port;
    long long db; /* SELECT db when not 0 */
    long long ops;
    long long sleep_ms;   /* pause between INCRs */
    long long timeout_ms; /* connect and socket timeout, 0 for none */
} hr_plugin_config;

typedef struct hr_plugin_state {
    redisContext *context;
    long long ops;               /* INCRs started */
    long long ok;                /* INCRs that returned an integer */
    long long errors;            /* failed connects, handshakes and INCRs */
    long long incr_acknowledged; /* INCR replies received */
    long long last_incr_value;   /* the last INCR reply; 0 before any */
    char first_error[256];
    char last_error[256];
} hr_plugin_state;

static hr_plugin_config hr_config = {
    .host = "127.0.0.1",
    .ops = 100,
};
static hr_plugin_state hr_state;

/* One integer configuration key and its valid range. */
typedef struct hr_integer_key {
    const char *name;
    long long min;
    long long max;
    long long *value;
} hr_integer_key;

static const hr_integer_key hr_integer_keys[] = {
    {"port", 1, 65535, &hr_config.port},
    {"db", 0, 15, &hr_config.db},
    {"ops", 1, 1000000, &hr_config.ops},
    {"sleep_ms", 0, 60000, &hr_config.sleep_ms},
    {"timeout_ms", 0, 600000, &hr_config.timeout_ms},
};

static int hr_set_integer(const hr_integer_key *key, const char *text)
{
    char *end;
    long long value;

    errno = 0;
    value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < key->min ||
        value > key->max) {
        fprintf(stderr,
                "hr_plugin: %s=%s: invalid value; expected an integer "
                "from %lld to %lld\n",
                key->name, text, key->min, key->max);
        return -1;
    }
    *key->value = value;
    return 0;
}

static int hr_set_string(const char *key, const char *text, char *out,
                         size_t size)
{
    if (strlen(text) >= size) {
        fprintf(stderr,
                "hr_plugin: %s: value too long; the maximum is %zu "
                "bytes\n",
                key, size - 1);
        return -1;
    }
    memcpy(out, text, strlen(text) + 1);
    return 0;
}

/*
 * Sets one configuration key: host, password, port, db, ops, sleep_ms or
 * timeout_ms. Returns 0, or -1 after printing why the pair is invalid.
 */
int hr_plugin_configure(const char *key, const char *value)
{
    size_t count = sizeof(hr_integer_keys) / sizeof(hr_integer_keys[0]);

    if (strcmp(key, "host") == 0)
        return hr_set_string(key, value, hr_config.host,
                             sizeof(hr_config.host));
    if (strcmp(key, "password") == 0)
        return hr_set_string(key, value, hr_config.password,
                             sizeof(hr_config.password));
    for (size_t i = 0; i < count; i++) {
        if (strcmp(key, hr_integer_keys[i].name) == 0)
            return hr_set_integer(&hr_integer_keys[i], value);
    }
    fprintf(stderr,
            "hr_plugin: invalid configuration key %s; expected host, "
            "password, port, db, ops, sleep_ms or timeout_ms\n",
            key);
    return -1;
}

static void hr_sleep_ms(long long ms)
{
    struct timespec delay = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&delay, &delay) != 0 && errno == EINTR)
        ;
}

static void hr_record_error(const char *command, const char *text)
{
    snprintf(hr_state.last_error, sizeof(hr_state.last_error), "%s: %s",
             command, text);
    hr_state.last_error[strcspn(hr_state.last_error, "\r\n")] = '\0';
    if (hr_state.first_error[0] == '\0')
        memcpy(hr_state.first_error, hr_state.last_error,
               sizeof(hr_state.first_error));
    hr_state.errors++;
}

static redisContext *hr_connect(void)
{
    struct timeval timeout = {hr_config.timeout_ms / 1000,
                              (hr_config.timeout_ms % 1000) * 1000};
    redisContext *c;

    if (hr_config.timeout_ms > 0)
        c = redisConnectWithTimeout(hr_config.host, (int)hr_config.port,
                                    timeout);
    else
        c = redisConnect(hr_config.host, (int)hr_config.port);
    if (c != NULL && c->err == 0 && hr_config.timeout_ms > 0)
        redisSetTimeout(c, timeout);
    return c;
}

/* Checks the reply of one handshake command, which it frees. */
static int hr_handshake_step(redisContext *c, const char *command,
                             redisReply *reply)
{
    int rc = 0;

    if (reply == NULL) {
        hr_record_error(command, c->errstr);
        rc = -1;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        hr_record_error(command, reply->str);
        rc = -1;
    }
    freeReplyObject(reply);
    return rc;
}

static int hr_handshake(redisContext *c)
{
    redisReply *reply;

    if (hr_config.password[0] != '\0') {
        reply = redisCommand(c, "AUTH %s", hr_config.password);
        if (hr_handshake_step(c, "auth", reply) != 0)
            return -1;
    }
    if (hr_config.db != 0) {
        reply = redisCommand(c, "SELECT %lld", hr_config.db);
        if (hr_handshake_step(c, "select", reply) != 0)
            return -1;
    }
    return 0;
}

/* Opens the context with the full handshake. Returns 0 or -1. */
static int hr_open(void)
{
    redisContext *c = hr_connect();

    if (c == NULL) {
        hr_record_error("connect", "out of memory");
        return -1;
    }
    if (c->err != 0) {
        hr_record_error("connect", c->errstr);
        redisFree(c);
        return -1;
    }
    if (hr_handshake(c) != 0) {
        redisFree(c);
        return -1;
    }
    hr_state.context = c;
    return 0;
}

static void hr_incr_once(void)
{
    redisReply *reply;

    hr_state.ops++;
    if (hr_state.context == NULL && hr_open() != 0)
        return;

    reply = redisCommand(hr_state.context, "INCR counter");
    if (reply == NULL) {
        hr_record_error("incr", hr_state.context->errstr);
        redisFree(hr_state.context);
        hr_state.context = NULL;
    } else if (reply->type == REDIS_REPLY_INTEGER) {
        hr_state.ok++;
        hr_state.incr_acknowledged++;
        hr_state.last_incr_value = reply->integer;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        hr_record_error("incr reply", reply->str);
    } else {
        hr_record_error("incr reply", "unexpected reply type");
    }
    freeReplyObject(reply);
}

/*
 * Connects, then runs the configured number of INCRs, each failure counted
 * and followed by a new context. Returns 0 when every INCR ran, even with
 * errors, or -1 when the initial connection or handshake failed.
 */
int hr_plugin_run(void)
{
    if (hr_open() != 0)
        return -1;

    for (long long i = 0; i < hr_config.ops; i++) {
        if (i > 0 && hr_config.sleep_ms > 0)
            hr_sleep_ms(hr_config.sleep_ms);
        hr_incr_once();
    }
    return 0;
}

/*
 * Returns the count name (ops, ok, errors, incr_acknowledged or
 * last_incr_value), or -1 for an unknown name.
 */
long long hr_plugin_count(const char *name)
{
    if (strcmp(name, "ops") == 0)
        return hr_state.ops;
    if (strcmp(name, "ok") == 0)
        return hr_state.ok;
    if (strcmp(name, "errors") == 0)
        return hr_state.errors;
    if (strcmp(name, "incr_acknowledged") == 0)
        return hr_state.incr_acknowledged;
    if (strcmp(name, "last_incr_value") == 0)
        return hr_state.last_incr_value;
    return -1;
}

/* Returns the text of the first error, "" when there was none. */
const char *hr_plugin_first_error(void)
{
    return hr_state.first_error;
}

/* Returns the text of the last error, "" when there was none. */
const char *hr_plugin_last_error(void)
{
    return hr_state.last_error;
}

/* Frees the context and clears the counts, before the host's dlclose(). */
void hr_plugin_shutdown(void)
{
    redisFree(hr_state.context);
    memset(&hr_state, 0, sizeof(hr_state));
}

/*
 * The direct hiredis connection through which a test inspects a server:
 * never preloaded, over TCP, authenticated, one connection per call so that
 * it works across restarts.
 */
#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opens a TCP connection, authenticated and with db selected, or NULL. */
static redisContext *hr_server_open(const hr_server *server, int db, bool quiet)
{
    struct timeval connect_timeout = {1, 0};
    /* DEBUG POPULATE and SAVE of two million keys took over 5 s on a
     * loaded two-core machine. */
    struct timeval io_timeout = {60, 0};
    redisContext *c;
    redisReply *reply = NULL;
    const char *failure = NULL;

    c = redisConnectWithTimeout("127.0.0.1", server->port, connect_timeout);
    if (c == NULL || c->err) {
        failure = c ? c->errstr : "out of memory";
    } else if (redisSetTimeout(c, io_timeout) != REDIS_OK) {
        failure = c->errstr;
    } else if (server->password != NULL) {
        reply = redisCommand(c, "AUTH %s", server->password);
        if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
            failure = reply ? "AUTH failed" : c->errstr;
    }
    if (failure == NULL && db != 0) {
        freeReplyObject(reply);
        reply = redisCommand(c, "SELECT %d", db);
        if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
            failure = reply ? reply->str : c->errstr;
    }

    if (failure != NULL && !quiet)
        fprintf(stderr, "harness: connecting to 127.0.0.1:%d failed: %s\n",
                server->port, failure);
    freeReplyObject(reply);
    if (failure != NULL) {
        redisFree(c);
        return NULL;
    }
    return c;
}

redisContext *hr_server_connect(const hr_server *server, int db)
{
    return hr_server_open(server, db, false);
}

bool hr_server_ping(const hr_server *server)
{
    redisContext *c = hr_server_open(server, 0, true);
    redisReply *reply;
    bool ready;

    if (c == NULL)
        return false;

    /* A server loading its data set replies LOADING, which is not ready. */
    reply = redisCommand(c, "PING");
    ready = reply != NULL && reply->type == REDIS_REPLY_STATUS &&
            strcmp(reply->str, "PONG") == 0;
    freeReplyObject(reply);
    redisFree(c);
    return ready;
}

static redisReply *hr_server_vcommand(const hr_server *server, int db,
                                      const char *format, va_list ap)
{
    redisContext *c = hr_server_open(server, db, false);
    redisReply *reply;

    if (c == NULL)
        return NULL;

    reply = redisvCommand(c, format, ap);
    if (reply == NULL)
        fprintf(stderr, "harness: command %s failed: %s\n", format, c->errstr);
    redisFree(c);
    return reply;
}

redisReply *hr_server_command(const hr_server *server, int db,
                              const char *format, ...)
{
    va_list ap;
    redisReply *reply;

    va_start(ap, format);
    reply = hr_server_vcommand(server, db, format, ap);
    va_end(ap);
    return reply;
}

long long hr_server_dbsize(const hr_server *server, int db)
{
    redisReply *reply = hr_server_command(server, db, "DBSIZE");
    long long size = -1;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        size = reply->integer;
    freeReplyObject(reply);
    return size;
}

char *hr_server_get(const hr_server *server, int db, const char *key)
{
    redisReply *reply = hr_server_command(server, db, "GET %s", key);
    char *value = NULL;

    if (reply != NULL && reply->type == REDIS_REPLY_STRING)
        value = strdup(reply->str);
    freeReplyObject(reply);
    return value;
}

long long hr_server_get_integer(const hr_server *server, int db,
                                const char *key)
{
    redisReply *reply = hr_server_command(server, db, "GET %s", key);
    long long value = -1;
    char *end;

    if (reply != NULL && reply->type == REDIS_REPLY_NIL) {
        value = 0;
    } else if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        value = strtoll(reply->str, &end, 10);
        if (end == reply->str || *end != '\0')
            value = -1;
    }
    freeReplyObject(reply);
    return value;
}

static long long hr_server_quiet_calls(const hr_server *server,
                                       const char *command)
{
    redisContext *c = hr_server_open(server, 0, true);
    redisReply *reply;
    char field[128];
    const char *found;
    long long calls = -1;

    if (c == NULL)
        return -1;

    /* The section has one line per command that ran at least once:
     * "cmdstat_incr:calls=12,usec=...". */
    reply = redisCommand(c, "INFO commandstats");
    snprintf(field, sizeof(field), "cmdstat_%s:calls=", command);
    if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        found = strstr(reply->str, field);
        calls = found ? strtoll(found + strlen(field), NULL, 10) : 0;
    }
    freeReplyObject(reply);
    redisFree(c);
    return calls;
}

long long hr_server_info_integer(const hr_server *server, const char *field)
{
    redisReply *reply = hr_server_command(server, 0, "INFO everything");
    char prefix[128];
    const char *found = NULL;
    long long value = -1;

    snprintf(prefix, sizeof(prefix), "\r\n%s:", field);
    if (reply != NULL && reply->type == REDIS_REPLY_STRING)
        found = strstr(reply->str, prefix);
    if (found != NULL)
        value = strtoll(found + strlen(prefix), NULL, 10);
    else
        fprintf(stderr, "harness: no %s in INFO on port %d\n", field,
                server->port);
    freeReplyObject(reply);
    return value;
}

long long hr_server_command_calls(const hr_server *server, const char *command)
{
    long long calls = hr_server_quiet_calls(server, command);

    if (calls < 0)
        fprintf(stderr, "harness: INFO commandstats on port %d failed\n",
                server->port);
    return calls;
}

int hr_server_wait_calls(const hr_server *server, const char *command,
                         long long calls, int timeout_ms)
{
    int64_t deadline = hr_harness_now_ms() + timeout_ms;
    long long seen;

    for (;;) {
        seen = hr_server_quiet_calls(server, command);
        if (seen >= calls)
            return 0;
        if (hr_harness_now_ms() >= deadline)
            break;
        hr_harness_sleep_ms(5);
    }

    fprintf(stderr,
            "harness: %s ran %lld times in %d ms, expected at least %lld\n",
            command, seen, timeout_ms, calls);
    return -1;
}

long long hr_server_kill_clients(const hr_server *server)
{
    redisReply *reply = hr_server_command(server, 0, "CLIENT KILL TYPE normal");
    long long killed = -1;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        killed = reply->integer;
    freeReplyObject(reply);
    return killed;
}

int hr_server_wait_blocked(const hr_server *server, long long count)
{
    int64_t deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;

    while (hr_server_info_integer(server, "blocked_clients") != count) {
        if (hr_harness_now_ms() >= deadline) {
            fprintf(stderr,
                    "harness: blocked_clients did not reach %lld in %d ms\n",
                    count, HR_SERVER_WAIT_MS);
            return -1;
        }
        hr_harness_sleep_ms(10);
    }
    return 0;
}

/*
 * The exported wrappers of hiredis's blocking API. Each one either applies
 * the policy, when it is the outermost wrapped call on its thread and the
 * context is one the shim manages, or calls the real function untouched.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <hiredis/hiredis.h>

#include "conn.h"
#include "pipeline.h"
#include "hiretry/classify.h"
#include "hiretry/commands.h"
#include "hiretry/request.h"
#include "real.h"
#include "sentinel.h"
#include "shim.h"

_Static_assert(REDIS_ERR_IO == HR_TRANSPORT_IO, "hiredis error codes");
_Static_assert(REDIS_ERR_OTHER == HR_TRANSPORT_OTHER, "hiredis error codes");
_Static_assert(REDIS_ERR_EOF == HR_TRANSPORT_EOF, "hiredis error codes");
_Static_assert(REDIS_ERR_PROTOCOL == HR_TRANSPORT_PROTOCOL,
               "hiredis error codes");
_Static_assert(REDIS_ERR_OOM == HR_TRANSPORT_OOM, "hiredis error codes");

/*
 * Calls the real function, or fails the way hiredis fails on allocation
 * when it could not be found, instead of calling through NULL.
 */
#define HR_PASS(name, fail, ...)                                               \
    do {                                                                       \
        hr_real_resolve();                                                     \
        if (hr_real.name == NULL) {                                            \
            errno = ENOSYS;                                                    \
            return fail;                                                       \
        }                                                                      \
        hr_shim_depth++;                                                       \
        __typeof__(hr_real.name(__VA_ARGS__)) hr_result_ =                     \
            hr_real.name(__VA_ARGS__);                                         \
        hr_shim_depth--;                                                       \
        return hr_result_;                                                     \
    } while (0)

/* Returns true when a connect wrapper should apply the policy. */
static bool hr_enter_connect(void)
{
    return hr_shim_depth == 0 && hr_shim_ready();
}

#define HR_CONNECT(name, ...)                                                  \
    do {                                                                       \
        if (!hr_enter_connect())                                               \
            HR_PASS(name, NULL, __VA_ARGS__);                                  \
        hr_shim_depth++;                                                       \
        redisContext *hr_c_ = hr_real.name(__VA_ARGS__);                       \
        hr_c_ = hr_engine_connected(hr_c_, errno, NULL);                       \
        hr_shim_depth--;                                                       \
        return hr_c_;                                                          \
    } while (0)

/*
 * Connects over TCP, with a timeout when tv is not NULL, to ip:port or to
 * the primary that Sentinel names when the connection follows it.
 */
static redisContext *hr_connect_tcp(const char *ip, int port,
                                    const struct timeval *tv)
{
    hr_sentinel_target target;
    redisContext *c;
    int error_number;

    hr_shim_depth++;
    hr_sentinel_target_find(&target, ip, port);
    if (target.found) {
        ip = target.primary.host;
        port = target.primary.port;
    }
    if (tv != NULL)
        c = hr_real.redisConnectWithTimeout(ip, port, *tv);
    else
        c = hr_real.redisConnect(ip, port);
    error_number = errno;
    c = hr_engine_connected(c, error_number, &target);
    hr_shim_depth--;
    return c;
}

HR_EXPORT redisContext *redisConnect(const char *ip, int port)
{
    if (!hr_enter_connect())
        HR_PASS(redisConnect, NULL, ip, port);
    return hr_connect_tcp(ip, port, NULL);
}

HR_EXPORT redisContext *redisConnectWithTimeout(const char *ip, int port,
                                                const struct timeval tv)
{
    if (!hr_enter_connect())
        HR_PASS(redisConnectWithTimeout, NULL, ip, port, tv);
    return hr_connect_tcp(ip, port, &tv);
}

HR_EXPORT redisContext *redisConnectUnix(const char *path)
{
    HR_CONNECT(redisConnectUnix, path);
}

HR_EXPORT redisContext *redisConnectUnixWithTimeout(const char *path,
                                                    const struct timeval tv)
{
    HR_CONNECT(redisConnectUnixWithTimeout, path, tv);
}

#if HR_HIREDIS_1
/*
 * hiredis 1.x's other connect functions call this one. A context on a
 * descriptor the program opened itself cannot be reconnected, so it passes
 * through, and hr_engine_connected passes a non-blocking one through.
 * Every other option stays in the context, where redisReconnect applies it
 * again.
 */
HR_EXPORT redisContext *redisConnectWithOptions(const redisOptions *options)
{
    if (options != NULL && options->type == REDIS_CONN_USERFD)
        HR_PASS(redisConnectWithOptions, NULL, options);
    HR_CONNECT(redisConnectWithOptions, options);
}
#endif

/* Sets the error hiredis sets when formatting a command fails. */
static void hr_format_failed(redisContext *c, int len)
{
    const char *text = len == -1 ? "Out of memory" : "Invalid format string";

    c->err = len == -1 ? REDIS_ERR_OOM : REDIS_ERR_OTHER;
    snprintf(c->errstr, sizeof(c->errstr), "%s", text);
}

/*
 * The addresses of the last formats that only hiredis can format, so that
 * a program that sends one in a loop does not have the shim's formatter try
 * it each time. Formats are string literals in most programs. A format
 * whose bytes changed at the same address still formats correctly, only
 * by hiredis.
 */
#define HR_HIREDIS_FORMATS 8
static __thread const char *hr_hiredis_formats[HR_HIREDIS_FORMATS]
    __attribute__((tls_model("initial-exec")));

/*
 * Formats a command into memory from malloc, as hiredis's
 * redisvFormatCommand would. A format whose only conversions are %s, %b, %%
 * and plain integers goes through the shim's own formatter, which costs a
 * fraction of hiredis's, and any other through hiredis's. Returns the length,
 * or hiredis's -1 (out of memory) or -2 (invalid format).
 */
static int hr_format(char **cmd, const char *format, va_list ap)
{
    const char **known =
        &hr_hiredis_formats[((uintptr_t)format >> 3) % HR_HIREDIS_FORMATS];
    long len;

    if (*known != format) {
        len = hr_request_vformat(cmd, format, ap);
        if (len != HR_REQUEST_UNSUPPORTED)
            return (int)len;
        *known = format;
    }
    len = hr_real.redisvFormatCommand(cmd, format, ap);
    if (len >= 0 && hr_real_take_command(cmd, (size_t)len) != 0)
        len = -1;
    return (int)len;
}

/* Formats a command once and runs it through the engine. */
static void *hr_vcommand(hr_conn *conn, redisContext *c, const char *format,
                         va_list ap)
{
    char *cmd;
    int len;
    void *reply;

    hr_shim_depth++;
    /* A va_list can be walked only once, and a retry sends these same bytes
       again. */
    len = hr_format(&cmd, format, ap);
    if (len < 0) {
        hr_format_failed(c, len);
        reply = NULL;
    } else {
        reply = hr_engine_command(conn, c, cmd, (size_t)len);
    }
    hr_shim_depth--;
    return reply;
}

HR_EXPORT void *redisvCommand(redisContext *c, const char *format, va_list ap)
{
    hr_conn *conn = hr_enter(c);

    if (conn == NULL)
        HR_PASS(redisvCommand, NULL, c, format, ap);
    return hr_vcommand(conn, c, format, ap);
}

HR_EXPORT void *redisCommand(redisContext *c, const char *format, ...)
{
    hr_conn *conn = hr_enter(c);
    va_list ap;
    void *reply;

    va_start(ap, format);
    if (conn == NULL) {
        hr_real_resolve();
        if (hr_real.redisvCommand == NULL) {
            errno = ENOSYS;
            reply = NULL;
        } else {
            hr_shim_depth++;
            reply = hr_real.redisvCommand(c, format, ap);
            hr_shim_depth--;
        }
    } else {
        reply = hr_vcommand(conn, c, format, ap);
    }
    va_end(ap);
    return reply;
}

HR_EXPORT void *redisCommandArgv(redisContext *c, int argc, const char **argv,
                                 const size_t *argvlen)
{
    hr_conn *conn = hr_enter(c);
    char *cmd;
    long len;
    void *reply;

    if (conn == NULL)
        HR_PASS(redisCommandArgv, NULL, c, argc, argv, argvlen);

    hr_shim_depth++;
    len = hr_request_format(&cmd, argc, argv, argvlen);
    if (len < 0) {
        hr_format_failed(c, -1);
        reply = NULL;
    } else {
        reply = hr_engine_command(conn, c, cmd, (size_t)len);
    }
    hr_shim_depth--;
    return reply;
}

/*
 * Formats and appends a command the way hiredis's redisvAppendCommand does,
 * keeping the bytes so that the command can be sent again.
 */
static int hr_vappend(hr_conn *conn, redisContext *c, const char *format,
                      va_list ap)
{
    char *cmd;
    int len;
    int rc;

    hr_shim_depth++;
    len = hr_format(&cmd, format, ap);
    if (len < 0) {
        hr_format_failed(c, len);
        rc = REDIS_ERR;
    } else {
        rc = hr_pipeline_append(conn, c, cmd, (size_t)len);
    }
    hr_shim_depth--;
    return rc;
}

HR_EXPORT int redisvAppendCommand(redisContext *c, const char *format,
                                  va_list ap)
{
    hr_conn *conn = hr_enter(c);

    if (conn == NULL)
        HR_PASS(redisvAppendCommand, REDIS_ERR, c, format, ap);
    return hr_vappend(conn, c, format, ap);
}

HR_EXPORT int redisAppendCommand(redisContext *c, const char *format, ...)
{
    hr_conn *conn = hr_enter(c);
    va_list ap;
    int rc;

    va_start(ap, format);
    if (conn == NULL) {
        hr_real_resolve();
        if (hr_real.redisvAppendCommand == NULL) {
            errno = ENOSYS;
            rc = REDIS_ERR;
        } else {
            hr_shim_depth++;
            rc = hr_real.redisvAppendCommand(c, format, ap);
            hr_shim_depth--;
        }
    } else {
        rc = hr_vappend(conn, c, format, ap);
    }
    va_end(ap);
    return rc;
}

HR_EXPORT int redisAppendCommandArgv(redisContext *c, int argc,
                                     const char **argv, const size_t *argvlen)
{
    hr_conn *conn = hr_enter(c);
    char *cmd;
    long len;
    int rc;

    if (conn == NULL)
        HR_PASS(redisAppendCommandArgv, REDIS_ERR, c, argc, argv, argvlen);

    hr_shim_depth++;
    len = hr_request_format(&cmd, argc, argv, argvlen);
    if (len < 0) {
        hr_format_failed(c, -1);
        rc = REDIS_ERR;
    } else {
        rc = hr_pipeline_append(conn, c, cmd, (size_t)len);
    }
    hr_shim_depth--;
    return rc;
}

HR_EXPORT int redisAppendFormattedCommand(redisContext *c, const char *cmd,
                                          size_t len)
{
    hr_conn *conn = hr_enter(c);
    int rc;

    if (conn == NULL)
        HR_PASS(redisAppendFormattedCommand, REDIS_ERR, c, cmd, len);
    hr_shim_depth++;
    rc = hr_pipeline_append_copy(conn, c, cmd, len);
    hr_shim_depth--;
    return rc;
}

HR_EXPORT int redisGetReply(redisContext *c, void **reply)
{
    hr_conn *conn = hr_enter(c);
    int rc;

    /* A read with nothing owed and no subscription is passed through: it
       is a read the program makes by mistake, not a command to repeat. */
    if (conn == NULL ||
        (conn->owed.count == 0 && !(conn->modes & HR_CONN_SUBSCRIBED)))
        HR_PASS(redisGetReply, REDIS_ERR, c, reply);
    hr_shim_depth++;
    rc = hr_engine_get_reply(conn, c, reply);
    hr_shim_depth--;
    return rc;
}

HR_EXPORT int redisSetTimeout(redisContext *c, const struct timeval tv)
{
    hr_conn *conn = hr_enter(c);
    int rc;

    if (conn == NULL)
        HR_PASS(redisSetTimeout, REDIS_ERR, c, tv);
    hr_shim_depth++;
    rc = hr_real.redisSetTimeout(c, tv);
    hr_shim_depth--;
    if (rc == REDIS_OK) {
        conn->has_timeout = true;
        conn->timeout = tv;
    }
    return rc;
}

HR_EXPORT int redisEnableKeepAlive(redisContext *c)
{
    hr_conn *conn = hr_enter(c);
    int rc;

    if (conn == NULL)
        HR_PASS(redisEnableKeepAlive, REDIS_ERR, c);
    hr_shim_depth++;
    rc = hr_real.redisEnableKeepAlive(c);
    hr_shim_depth--;
    if (rc == REDIS_OK)
        conn->keepalive = true;
    return rc;
}

#if HR_HIREDIS_1
HR_EXPORT int redisEnableKeepAliveWithInterval(redisContext *c, int interval)
{
    hr_conn *conn = hr_enter(c);
    int rc;

    if (conn == NULL)
        HR_PASS(redisEnableKeepAliveWithInterval, REDIS_ERR, c, interval);
    hr_shim_depth++;
    rc = hr_real.redisEnableKeepAliveWithInterval(c, interval);
    hr_shim_depth--;
    if (rc == REDIS_OK)
        conn->keepalive_interval = interval;
    return rc;
}

HR_EXPORT int redisSetTcpUserTimeout(redisContext *c, unsigned int timeout)
{
    hr_conn *conn = hr_enter(c);
    int rc;

    if (conn == NULL)
        HR_PASS(redisSetTcpUserTimeout, REDIS_ERR, c, timeout);
    hr_shim_depth++;
    rc = hr_real.redisSetTcpUserTimeout(c, timeout);
    hr_shim_depth--;
    if (rc == REDIS_OK)
        conn->tcp_user_timeout = timeout;
    return rc;
}
#endif

HR_EXPORT int redisReconnect(redisContext *c)
{
    hr_conn *conn = hr_enter(c);
    int rc;

    if (conn == NULL)
        HR_PASS(redisReconnect, REDIS_ERR, c);
    hr_shim_depth++;
    rc = hr_engine_reconnect(conn, c);
    hr_shim_depth--;
    return rc;
}

/* Forgets c before hiredis frees it, so that its address can be reused. */
static void hr_forget(const redisContext *c)
{
    if (hr_shim_depth == 0 && c != NULL && hr_conn_find(c) != NULL)
        hr_conn_remove(c);
}

HR_EXPORT void redisFree(redisContext *c)
{
    hr_forget(c);
    hr_real_resolve();
    if (hr_real.redisFree == NULL)
        return;
    hr_shim_depth++;
    hr_real.redisFree(c);
    hr_shim_depth--;
}

HR_EXPORT int redisFreeKeepFd(redisContext *c)
{
    hr_forget(c);
    HR_PASS(redisFreeKeepFd, -1, c);
}

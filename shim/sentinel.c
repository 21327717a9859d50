/*
 * The Sentinel lookup. Each lookup opens a connection of its own to one
 * Sentinel after another, with the real hiredis functions and a bounded
 * connect and reply timeout (HIRETRY_SENTINEL_TIMEOUT), and sends
 * SENTINEL get-master-addr-by-name. The first Sentinel that returns a valid
 * address wins and is queried first next time. These connections are never
 * the program's: the shim does not track them and closes each at once.
 */
#include "sentinel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "real.h"
#include "reply.h"
#include "shim.h"

/* The Sentinel that replied last, queried first by the next lookup. */
static _Atomic size_t hr_sentinel_first;

/* Returns true when Sentinel support is configured. */
static bool hr_sentinel_enabled(void)
{
    const hr_sentinel_config *config = &hr_shim_config.sentinel;

    if (config->sentinels.count == 0)
        return false;
    if (config->master[0] == '\0') {
        hr_log_once(HR_LOG_WARN,
                    "event=sentinel_off reason=\"HIRETRY_SENTINELS is set "
                    "but HIRETRY_SENTINEL_MASTER is empty\"");
        return false;
    }
    return true;
}

/* Returns true when the program's connection to host:port follows the
 * primary. A connection to a Sentinel itself never does. */
static bool hr_sentinel_applies(const char *host, int port)
{
    const hr_sentinel_config *config = &hr_shim_config.sentinel;

    if (host == NULL || !hr_sentinel_enabled() ||
        hr_address_list_contains(&config->sentinels, host, port))
        return false;
    return config->redirect_all ||
           hr_address_list_contains(&config->redirect, host, port);
}

/* Closes c's socket and sets c's error, as hiredis does for a failure. */
static void hr_sentinel_fail(redisContext *c, const char *text)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->err = REDIS_ERR_OTHER;
    snprintf(c->errstr, sizeof(c->errstr), "sentinel: %s", text);
}

/* Copies printable bytes of text into buf, for a log line or an errstr. */
static void hr_sentinel_copy_text(char *buf, size_t size, const char *text,
                                  size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n + 1 < size; i++) {
        unsigned char ch = (unsigned char)text[i];
        buf[n++] = (ch >= ' ' && ch < 0x7f && ch != '"') ? (char)ch : '?';
    }
    buf[n] = '\0';
}

/* Sends one command on a Sentinel connection. Returns the reply or NULL
 * with error filled. */
static redisReply *hr_sentinel_command(redisContext *s, int argc,
                                       const char **argv, char *error,
                                       size_t size)
{
    redisReply *reply = hr_real.redisCommandArgv(s, argc, argv, NULL);

    if (reply == NULL) {
        hr_sentinel_copy_text(error, size, s->errstr, strlen(s->errstr));
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        hr_sentinel_copy_text(error, size, reply->str, reply->len);
        hr_real.freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

/* Sends AUTH, with the user name when set, if HIRETRY_SENTINEL_PASSWORD
 * is set. Returns 0 or -1. */
static int hr_sentinel_auth(redisContext *s, char *error, size_t size)
{
    const hr_sentinel_config *config = &hr_shim_config.sentinel;
    const char *argv[3] = {"AUTH", NULL, NULL};
    int argc = 1;
    redisReply *reply;

    if (config->password[0] == '\0')
        return 0;
    if (config->username[0] != '\0')
        argv[argc++] = config->username;
    argv[argc++] = config->password;

    reply = hr_sentinel_command(s, argc, argv, error, size);
    if (reply == NULL)
        return -1;
    hr_real.freeReplyObject(reply);
    return 0;
}

/* Parses the reply of get-master-addr-by-name. Returns 0 or -1. */
static int hr_sentinel_parse_primary(const redisReply *reply,
                                     hr_address *primary, char *error,
                                     size_t size)
{
    char text[HR_ADDRESS_TEXT_SIZE];
    const redisReply *host;
    const redisReply *port;

    if (reply->type == REDIS_REPLY_NIL) {
        snprintf(error, size, "master name unknown to this Sentinel");
        return -1;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING ||
        reply->element[0]->len > HR_HOST_MAX || reply->element[1]->len > 5) {
        snprintf(error, size, "invalid reply to get-master-addr-by-name");
        return -1;
    }
    host = reply->element[0];
    port = reply->element[1];
    if (memchr(host->str, ':', host->len) != NULL)
        snprintf(text, sizeof(text), "[%s]:%s", host->str, port->str);
    else
        snprintf(text, sizeof(text), "%s:%s", host->str, port->str);
    if (hr_parse_address(text, strlen(text), primary) != 0) {
        snprintf(error, size, "invalid address in get-master-addr-by-name");
        return -1;
    }
    return 0;
}

/* Queries one Sentinel for the primary. Returns 0, or -1 with error filled. */
static int hr_sentinel_ask(const hr_address *sentinel, hr_address *primary,
                           char *error, size_t size)
{
    const hr_sentinel_config *config = &hr_shim_config.sentinel;
    int64_t ns = config->timeout_ns;
    struct timeval timeout = {(time_t)(ns / 1000000000),
                              (suseconds_t)(ns % 1000000000 / 1000)};
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name",
                           config->master};
    redisContext *s;
    redisReply *reply;
    int rc = -1;

    s = hr_real.redisConnectWithTimeout(sentinel->host, sentinel->port,
                                        timeout);
    if (s == NULL) {
        snprintf(error, size, "out of memory");
        return -1;
    }
    /* NOTE: hiredis 0.14 cannot open a socket with SOCK_CLOEXEC, so a
       program that forks and executes in another thread during the
       connect may leak this descriptor into the child until it closes. */
    if (s->fd >= 0)
        (void)fcntl(s->fd, F_SETFD, FD_CLOEXEC);
    if (s->err) {
        hr_sentinel_copy_text(error, size, s->errstr, strlen(s->errstr));
    } else if (hr_real.redisSetTimeout(s, timeout) != REDIS_OK) {
        hr_sentinel_copy_text(error, size, s->errstr, strlen(s->errstr));
    } else if (hr_sentinel_auth(s, error, size) == 0 &&
               (reply = hr_sentinel_command(s, 3, argv, error, size))) {
        rc = hr_sentinel_parse_primary(reply, primary, error, size);
        hr_real.freeReplyObject(reply);
    }
    hr_real.redisFree(s);
    return rc;
}

/* Queries the Sentinels in turn. Returns 0, or -1 with error filled from the
 * last Sentinel asked. Keeps errno. */
static int hr_sentinel_lookup(hr_address *primary, char *error, size_t size)
{
    const hr_address_list *list = &hr_shim_config.sentinel.sentinels;
    size_t first = atomic_load(&hr_sentinel_first) % list->count;
    int saved_errno = errno;
    char reason[96];
    char name[HR_ADDRESS_TEXT_SIZE];

    for (size_t i = 0; i < list->count; i++) {
        size_t index = (first + i) % list->count;
        const hr_address *sentinel = &list->items[index];

        if (hr_sentinel_ask(sentinel, primary, reason, sizeof(reason)) == 0) {
            atomic_store(&hr_sentinel_first, index);
            errno = saved_errno;
            return 0;
        }
        hr_address_format(sentinel->host, sentinel->port, name, sizeof(name));
        hr_log(HR_LOG_INFO,
               "event=sentinel_skipped sentinel=%s master=%s error=\"%s\"",
               name, hr_shim_config.sentinel.master, reason);
        snprintf(error, size, "no primary for %s: %s said: %s",
                 hr_shim_config.sentinel.master, name, reason);
    }
    errno = saved_errno;
    return -1;
}

/* Logs a switch of address: at warn after a failover, at info for the
 * first connect, which leaves the address the program was given. */
static void hr_sentinel_log_switch(hr_log_level level, const char *from_host,
                                   int from_port, const hr_address *to)
{
    char from[HR_ADDRESS_TEXT_SIZE];
    char address[HR_ADDRESS_TEXT_SIZE];

    if (!hr_log_enabled(level))
        return;
    hr_address_format(from_host, from_port, from, sizeof(from));
    hr_address_format(to->host, to->port, address, sizeof(address));
    hr_log_write(level, "event=sentinel_switch master=%s from=%s to=%s",
                 hr_shim_config.sentinel.master, from, address);
}

void hr_sentinel_target_find(hr_sentinel_target *target, const char *host,
                             int port)
{
    target->follows = hr_sentinel_applies(host, port);
    target->found = false;
    target->error[0] = '\0';
    if (!target->follows)
        return;
    target->found = hr_sentinel_lookup(&target->primary, target->error,
                                       sizeof(target->error)) == 0;
    if (target->found && !hr_address_equal(&target->primary, host, port))
        hr_sentinel_log_switch(HR_LOG_INFO, host, port, &target->primary);
}

void hr_sentinel_connected(hr_conn *conn, redisContext *c,
                           const hr_sentinel_target *target)
{
    hr_failure failure;
    int error_number;

    conn->sentinel = true;
    if (!target->found)
        hr_sentinel_fail(c, target->error);
    else if (c->err == 0)
        (void)hr_sentinel_verify(c, &failure, &error_number);
}

/*
 * Points c at address for its next redisReconnect. This is the only place
 * that writes a redisContext's address. hiredis's TCP connect keeps
 * c->tcp.host when it is given that same pointer, as redisReconnect does,
 * and hiredis frees it in redisFree, so the new host comes from hiredis's
 * allocator (malloc() in 0.14, the program's hiredisSetAllocators choice
 * in 1.x). Returns 0, or -1 when out of memory.
 */
static int hr_sentinel_set_address(redisContext *c, const hr_address *address)
{
    char *host = hr_real_strdup(address->host);

    if (host == NULL)
        return -1;
    hr_real_free(c->tcp.host);
    c->tcp.host = host;
    c->tcp.port = address->port;
    return 0;
}

int hr_sentinel_point(redisContext *c)
{
    hr_address primary;
    char error[128];

    if (hr_sentinel_lookup(&primary, error, sizeof(error)) != 0) {
        hr_sentinel_fail(c, error);
        return -1;
    }
    if (c->tcp.host != NULL &&
        hr_address_equal(&primary, c->tcp.host, c->tcp.port))
        return 0;

    hr_sentinel_log_switch(HR_LOG_WARN, c->tcp.host ? c->tcp.host : "unknown",
                           c->tcp.port, &primary);
    if (hr_sentinel_set_address(c, &primary) != 0) {
        hr_sentinel_fail(c, "out of memory");
        return -1;
    }
    return 0;
}

/* Returns true when a ROLE reply names a role other than master. */
static bool hr_sentinel_not_primary(const redisContext *c, void *reply)
{
    const redisReply *r = reply;

    if (!hr_reply_readable(c) || r->type != REDIS_REPLY_ARRAY ||
        r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
        return false;
    return strcmp(r->element[0]->str, "master") != 0;
}

int hr_sentinel_verify(redisContext *c, hr_failure *failure, int *error_number)
{
    static const char role[] = "*1\r\n$4\r\nROLE\r\n";
    char endpoint[160];
    char text[200];
    void *reply = NULL;
    bool replica;

    if (hr_real.redisAppendFormattedCommand(c, role, sizeof(role) - 1) !=
            REDIS_OK ||
        hr_real.redisGetReply(c, &reply) != REDIS_OK) {
        *error_number = errno;
        *failure =
            hr_classify_transport((hr_transport_error)c->err, *error_number,
                                  c->errstr, strlen(c->errstr));
        return -1;
    }
    replica = hr_sentinel_not_primary(c, reply);
    hr_real.freeReplyObject(reply);
    if (!replica)
        return 0;

    /* A Sentinel with an old view named a server that is now a replica:
       the next attempt queries the Sentinels again. */
    hr_conn_endpoint(c, endpoint, sizeof(endpoint));
    /* hr_sentinel_fail cuts the text to the context's errstr anyway. */
    snprintf(text, sizeof(text), "%.80s is not the primary of %.80s",
             endpoint, hr_shim_config.sentinel.master);
    hr_log(HR_LOG_INFO, "event=sentinel_not_primary endpoint=%s master=%s",
           endpoint, hr_shim_config.sentinel.master);
    hr_sentinel_fail(c, text);
    *error_number = 0;
    *failure =
        (hr_failure){.cls = HR_CLASS_CONNECTION_ERROR, .drop_connection = true};
    return -1;
}

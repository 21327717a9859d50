/*
 * Process-wide state of the shim: configuration, the re-entrancy guard and
 * the retry engine the wrappers call.
 */
#ifndef HR_SHIM_SHIM_H
#define HR_SHIM_SHIM_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "conn.h"
#include "hiretry/config.h"

/* Marks the wrappers, the only symbols libhiretry.so exports. */
#define HR_EXPORT __attribute__((visibility("default")))

/* The configuration, read from the environment once per process. */
extern hr_config hr_shim_config;

/*
 * Prepares the shim on first use: reads the configuration and resolves the
 * real hiredis functions. Returns true when the shim applies its policy,
 * false when it must pass every call through (HIRETRY_DISABLE, or no
 * compatible libhiredis). Cheap after the first call.
 */
bool hr_shim_ready(void);

/*
 * Depth of wrapped calls on this thread. Inside libhiredis, redisCommand
 * calls redisvCommand, which calls redisGetReply, each through the PLT and
 * so through the wrappers: only the outermost call applies the policy.
 */
extern __thread int hr_shim_depth __attribute__((tls_model("initial-exec")));

/* Returns the state to apply the policy to, or NULL to pass through. */
static inline hr_conn *hr_enter(const redisContext *c)
{
    if (hr_shim_depth > 0 || c == NULL || !hr_shim_ready())
        return NULL;
    return hr_conn_find(c);
}

/*
 * Sends the formatted command cmd (len bytes) on c and returns its reply,
 * retrying and reconnecting as the policy allows. Frees cmd with free().
 * Returns what redisCommand would: a reply, or NULL with c->err set.
 */
void *hr_engine_command(hr_conn *conn, redisContext *c, char *cmd, size_t len);

struct hr_sentinel_target;

/*
 * Called after a wrapped blocking connect function returned c: retries a
 * transient connect failure and registers c. error_number is errno right
 * after the connect. target is the Sentinel lookup made before a TCP
 * connect, or NULL. Returns c.
 */
redisContext *hr_engine_connected(redisContext *c, int error_number,
                                  const struct hr_sentinel_target *target);

/*
 * Reads the reply to the oldest command the program appended, with the
 * policy unless the context is in a mode that passes through. Returns what
 * redisGetReply returns.
 */
int hr_engine_get_reply(hr_conn *conn, redisContext *c, void **reply);

/* The program's own redisReconnect, retried and followed by a restore. */
int hr_engine_reconnect(hr_conn *conn, redisContext *c);

#endif

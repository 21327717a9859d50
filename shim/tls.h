/*
 * TLS contexts of hiredis 1.x (libhiredis_ssl): the handshake repeated on
 * every reconnect. In a build for hiredis 0.14, which has no TLS, both
 * functions do nothing.
 */
#ifndef HR_SHIM_TLS_H
#define HR_SHIM_TLS_H

#include <stdbool.h>

#include <hiredis/hiredis.h>

#include "conn.h"
#include "hiredis_abi.h"

/*
 * Repeats the program's TLS handshake on c, just connected by
 * redisReconnect, before anything else is sent on it. Returns REDIS_OK, or
 * REDIS_ERR with c->err set and the socket closed: nothing is ever sent on
 * it in plain text.
 */
int hr_tls_handshake(hr_conn *conn, redisContext *c);

/* Returns true when the context's TLS cannot be set up again. */
static inline bool hr_tls_unrepeatable(const hr_conn *conn)
{
    return conn->tls_unrepeatable;
}

#endif

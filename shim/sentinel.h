/*
 * Following the primary that Valkey Sentinel names. When HIRETRY_SENTINELS
 * and HIRETRY_SENTINEL_MASTER are set, the program's TCP connections that
 * HIRETRY_SENTINEL_REDIRECT selects go to the address that
 * SENTINEL get-master-addr-by-name returns, on connect and on every
 * reconnect, and ROLE confirms that the server there is a primary.
 */
#ifndef HR_SHIM_SENTINEL_H
#define HR_SHIM_SENTINEL_H

#include <stdbool.h>

#include <hiredis/hiredis.h>

#include "conn.h"
#include "hiretry/address.h"
#include "hiretry/classify.h"

/* The outcome of the lookup before the program's connect. */
typedef struct hr_sentinel_target {
    bool follows;       /* the connection follows the primary */
    bool found;         /* primary is the address a Sentinel returned */
    hr_address primary; /* valid when found */
    char error[128];    /* why no primary was found, when follows */
} hr_sentinel_target;

/*
 * Fills target for the program's connect to host:port. When the connection
 * follows the primary, queries the Sentinels for its address. Logs the switch
 * from the program's address to the primary's.
 */
void hr_sentinel_target_find(hr_sentinel_target *target, const char *host,
                             int port);

/*
 * Checks the context the program's connect returned, for one that follows
 * the primary. When no primary was found, c is closed and fails with the
 * lookup's error, so that the program's own address is never used. When c
 * is connected, hr_sentinel_verify checks it.
 */
void hr_sentinel_connected(hr_conn *conn, redisContext *c,
                           const hr_sentinel_target *target);

/*
 * Points c at the current primary before a reconnect: queries the Sentinels
 * and rewrites c's address when it changed, logging the switch. Returns 0,
 * or -1 with c->err set to REDIS_ERR_OTHER and an errstr that starts with
 * "sentinel: " when no Sentinel named a primary.
 */
int hr_sentinel_point(redisContext *c);

/*
 * Sends ROLE on the connection just opened, after the session restore.
 * Returns 0 when the server is a primary, or when it rejects ROLE (NOAUTH
 * before the program authenticated: the role is then unknown, and a
 * replica's READONLY leads to a new lookup). Returns -1 with *failure set
 * and c failed when the server is not a primary or the connection fails.
 */
int hr_sentinel_verify(redisContext *c, hr_failure *failure, int *error_number);

#endif

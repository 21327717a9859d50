/*
 * Subscribers across reconnects. The shim follows the program's
 * subscriptions from the server's confirmations. When the connection of a
 * subscribed context breaks, the shim reconnects and restores the session.
 * Then it subscribes again to every channel, pattern and shard channel the
 * program still has, and absorbs the confirmations the program already
 * saw. The program's redisGetReply loop goes on receiving messages.
 * Messages published while the connection was down are lost, as pub/sub
 * promises.
 */
#ifndef HR_SHIM_PUBSUB_H
#define HR_SHIM_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "conn.h"

/* Updates the subscriptions from a reply read on a subscribed context. */
void hr_pubsub_observe(hr_conn *conn, const redisContext *c, void *reply);

/*
 * Reads the next reply of a subscribed context: a message kept back while
 * subscribing again, or the next one from the server, subscribing again
 * after a failure as the policy allows. A read timeout is returned as it
 * is. Returns what redisGetReply returns.
 */
int hr_pubsub_read(hr_conn *conn, redisContext *c, void **reply);

/*
 * Returns the next message kept back, or reads one reply and follows it,
 * with no retry: the read behind a command the program sends while
 * subscribed. Returns what redisGetReply returns.
 */
int hr_pubsub_next(hr_conn *conn, redisContext *c, void **reply);

/*
 * Sends a command the program sends while subscribed (SUBSCRIBE, PING, ...)
 * and returns the next reply, as hiredis does: subscribes again first when
 * the connection broke. Returns what redisGetReply returns.
 */
int hr_pubsub_command(hr_conn *conn, redisContext *c, const char *cmd,
                      size_t len, void **reply);

/* Returns true when reply is a message (message, pmessage, smessage). */
bool hr_pubsub_is_message(const hr_conn *conn, const redisContext *c,
                          void *reply);

/* Frees the subscriptions and the messages kept back. */
void hr_pubsub_clear(hr_conn *conn);

#endif

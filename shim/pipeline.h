/*
 * Pipelines: commands the program appends with redisAppendCommand* and
 * whose replies it reads later with redisGetReply. The shim keeps each owed
 * command until its reply is read, so that after a failure it can send
 * every one of them again, in order, on a new connection, when the policy
 * allows repeating all of them.
 */
#ifndef HR_SHIM_PIPELINE_H
#define HR_SHIM_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "conn.h"

/*
 * Appends the formatted request cmd (len bytes, from malloc) to c's output
 * buffer and queues it as owed. Takes cmd in every case. Returns REDIS_OK,
 * or REDIS_ERR with c->err set when out of memory, as hiredis's append.
 */
int hr_pipeline_append(hr_conn *conn, redisContext *c, char *cmd, size_t len);

/*
 * Appends bytes the program formatted itself, one or more requests, and
 * queues a copy of each. Returns what redisAppendFormattedCommand returns.
 */
int hr_pipeline_append_copy(hr_conn *conn, redisContext *c, const char *cmd,
                            size_t len);

/*
 * Reads the reply to the oldest owed command, reconnecting and sending
 * every owed command again when a failure allows it. Returns what
 * redisGetReply returns.
 */
int hr_pipeline_read(hr_conn *conn, redisContext *c, void **reply);

/*
 * Drops the oldest owed command after the program read its reply without
 * the policy, keeping the session and modes up to date.
 */
void hr_pipeline_pop(hr_conn *conn, redisContext *c, void *reply);

/*
 * Appends every owed command, in order, to c's output buffer, as after a
 * reconnect. Returns 0, or -1 when out of memory or when the bytes of one
 * were not kept (past HIRETRY_PIPELINE_MAX).
 */
int hr_pipeline_write_owed(hr_conn *conn, redisContext *c);

/* Returns true when an owed command is EXEC or DISCARD. */
bool hr_pipeline_owes_transaction_end(const hr_conn *conn);

/* Forgets every owed command and frees the memory kept for them. */
void hr_pipeline_clear(hr_conn *conn);

#endif

/*
 * MULTI ... EXEC across reconnects. The server drops a queued transaction
 * with the connection, so a failure before EXEC is sent loses nothing: the
 * shim opens MULTI again on the new connection, queues the same commands
 * and goes on. A failure after EXEC was sent repeats the block only when
 * the policy allows repeating every queued command. Transactions with a
 * WATCH are never carried over: the watch is lost with the connection.
 */
#ifndef HR_SHIM_TRANSACTION_H
#define HR_SHIM_TRANSACTION_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "command.h"
#include "conn.h"
#include "engine.h"

/* Starts recording after MULTI succeeded on a context with no WATCH. */
void hr_transaction_begin(hr_conn *conn, const redisContext *c);

/* Stops recording and frees the queued commands. */
void hr_transaction_end(hr_conn *conn);

/*
 * Stops carrying the open transaction over, keeping it open: a command was
 * queued that the shim did not record, such as one appended to a pipeline.
 */
void hr_transaction_unreplayable(hr_conn *conn);

/* Records a command sent inside MULTI, given the reply it got. */
void hr_transaction_record(hr_conn *conn, const redisContext *c,
                           const char *cmd, size_t len, void *reply);

/*
 * Records the session commands of the block that EXEC ran, from its reply:
 * each one whose own reply is not an error.
 */
void hr_transaction_record_session(hr_conn *conn, const redisContext *c,
                                   void *reply);

/*
 * Opens MULTI again on a new connection and queues the recorded commands.
 * Returns 0, or -1 with attempt describing the failure.
 */
int hr_transaction_replay(hr_conn *conn, redisContext *c, hr_attempt *attempt);

/*
 * Decides whether command, sent inside the open transaction, may be sent
 * again after a failure. A queued command always may, since the server
 * ran nothing. EXEC may when it cannot have run, or when writes allows
 * repeating every queued command.
 */
bool hr_transaction_repeat_allowed(const hr_conn *conn,
                                   const hr_command *command, bool may_have_run,
                                   hr_writes writes);

#endif

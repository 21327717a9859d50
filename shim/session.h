/*
 * The session a program established on a connection (AUTH, HELLO, SELECT,
 * CLIENT SETNAME, READONLY or READWRITE, socket options), recorded as it
 * succeeds and sent again after every reconnect.
 */
#ifndef HR_SHIM_SESSION_H
#define HR_SHIM_SESSION_H

#include <hiredis/hiredis.h>

#include "conn.h"
#include "hiretry/classify.h"
#include "hiretry/commands.h"

/*
 * Records a session command that the server accepted: argv are its parsed
 * arguments, cmd and len its formatted bytes. Other commands are ignored.
 */
void hr_session_record(hr_conn *conn, const hr_slice *argv, int argc,
                       const char *cmd, size_t len);

/*
 * Sets the program's socket options on c, which has just connected, and
 * sends the recorded session. Returns 0, or -1 with *failure and
 * *error_number describing what failed and c->err set. A rejected AUTH or
 * HELLO is a permanent AuthenticationError: the credentials are forgotten,
 * and until the program authenticates again (conn->awaiting_auth) no
 * command of its other than AUTH or HELLO is sent before the rest of the
 * session.
 */
int hr_session_restore(hr_conn *conn, redisContext *c, hr_failure *failure,
                       int *error_number);

/*
 * Sends the rest of the session (SELECT and after) once the program's own
 * AUTH or HELLO succeeded. Returns 0 or -1, as hr_session_restore.
 */
int hr_session_complete(hr_conn *conn, redisContext *c, hr_failure *failure,
                        int *error_number);

#endif

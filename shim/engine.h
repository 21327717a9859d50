/*
 * The parts of the retry engine that the pipeline code shares: one failed
 * attempt, reconnecting in place, and the log line of an attempt.
 */
#ifndef HR_SHIM_ENGINE_H
#define HR_SHIM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "command.h"
#include "conn.h"
#include "hiretry/classify.h"
#include "hiretry/policy.h"
#include "shim.h"

/*
 * Commands longer than this may need several write(2) calls, and a write
 * after the server reset the connection raises SIGPIPE, so they are sent
 * with SIGPIPE blocked. Shorter ones go out in one write, which a reset
 * cannot precede on a connection just checked or just opened.
 */
#define HR_LARGE_COMMAND (64 * 1024)

/* Large commands up to this size are kept in a buffer of the connection's
 * own while they may be sent again. Larger ones keep their allocation. */
#define HR_SPARE_MAX (4 * 1024 * 1024)

/* Returns the number of bytes appended to c but not yet written. */
static inline size_t hr_output_pending(const redisContext *c)
{
    return c->obuf ? sdslen(c->obuf) : 0;
}

/* What one failed attempt left behind. */
typedef struct hr_attempt {
    hr_failure failure;
    int error_number;  /* errno after a transport failure, else 0 */
    bool may_have_run; /* the server may have run the command */
    void *error_reply; /* an error reply to return if the call gives up */
} hr_attempt;

/* Returns CLOCK_MONOTONIC in nanoseconds, the clock of hr_monotonic_clock,
 * read directly on the success path. */
static inline int64_t hr_now_ns(void)
{
    struct timespec now = {0, 0};

    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* Returns true when the server has closed the connection on fd. */
bool hr_socket_closed(int fd);

/*
 * The idle check. A command sent into a connection the server had already
 * closed counts as never run, and a killed or restarted server shows up as
 * such a close. The check costs one poll(2), which back-to-back commands
 * skip.
 *
 * Returns true when c has been idle for HIRETRY_IDLE_CHECK or more at now and
 * the server has closed it meanwhile, which one poll(2) detects.
 */
bool hr_closed_while_idle(hr_conn *conn, const redisContext *c, int64_t now);

/* Fills attempt from the transport failure that c->err describes. */
void hr_attempt_transport(hr_attempt *attempt, redisContext *c,
                          int error_number, bool may_have_run);

/*
 * Reconnects c in place with hiredis's redisReconnect, which gives it a
 * reader with hiredis's own functions, and clears the modes. Returns what
 * redisReconnect returns.
 */
int hr_reconnect_in_place(hr_conn *conn, redisContext *c);

/*
 * Runs one attempt of command: reconnects first when needed, then sends
 * cmd (len bytes) and reads its reply. guarded blocks SIGPIPE for it.
 * Returns the reply, or NULL with attempt set: an error reply is in
 * attempt->error_reply.
 */
void *hr_attempt_command(hr_conn *conn, redisContext *c,
                         const hr_command *command, const char *cmd, size_t len,
                         bool guarded, hr_attempt *attempt);

/*
 * Reconnects c in place and restores its session. Returns 0, or -1 with
 * attempt describing the failure.
 */
int hr_reopen(hr_conn *conn, redisContext *c, hr_attempt *attempt);

/*
 * Logs a failed attempt of the call what (a command name, "connect"): a
 * retry at info, a give-up at warn.
 */
void hr_log_attempt(const redisContext *c, const char *what,
                    const hr_call *call, const hr_attempt *attempt,
                    hr_verdict verdict, int64_t delay_ns);

/*
 * Sets c's error to REDIS_ERR_OTHER with errstr "reconnect: " and text, for
 * a failure while restoring a new connection.
 */
void hr_set_reconnect_error(redisContext *c, const char *text, size_t len);

/* Ends the transaction state: MULTI, WATCH, a lost block, the recording. */
void hr_transaction_close(hr_conn *conn);

/*
 * Marks the open transaction lost with its connection: its commands fail
 * unsent up to its EXEC or DISCARD.
 */
void hr_transaction_lose(hr_conn *conn);

/* Returns true when command ends a transaction: EXEC, DISCARD, RESET, and
 * UNWATCH outside MULTI. */
bool hr_ends_transaction(const hr_conn *conn, const hr_command *command);

/*
 * Updates the recorded session and modes after a successful reply. Only
 * commands with HR_COMMAND_TRACKED flags need it.
 */
void hr_after_success(hr_conn *conn, redisContext *c, hr_command *command,
                      const char *cmd, size_t len, void *reply);

#endif

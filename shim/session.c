#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "command.h"
#include "engine.h"
#include "log.h"
#include "real.h"
#include "reply.h"

/* Returns the slot a command fills, HR_SESSION_SLOTS for none. */
static hr_session_slot hr_session_slot_of(const hr_slice *argv, int argc)
{
    if (argc < 1)
        return HR_SESSION_SLOTS;
    if (hr_slice_is(&argv[0], "auth"))
        return HR_SESSION_AUTH;
    if (hr_slice_is(&argv[0], "hello"))
        return HR_SESSION_HELLO;
    if (hr_slice_is(&argv[0], "select"))
        return HR_SESSION_SELECT;
    if (hr_slice_is(&argv[0], "readonly") || hr_slice_is(&argv[0], "readwrite"))
        return HR_SESSION_READONLY;
    if (argc >= 3 && hr_slice_is(&argv[0], "client") &&
        hr_slice_is(&argv[1], "setname"))
        return HR_SESSION_SETNAME;
    return HR_SESSION_SLOTS;
}

void hr_session_record(hr_conn *conn, const hr_slice *argv, int argc,
                       const char *cmd, size_t len)
{
    hr_session_slot slot;

    if (argc >= 1 && hr_slice_is(&argv[0], "reset")) {
        hr_conn_clear_session(conn);
        return;
    }
    slot = hr_session_slot_of(argv, argc);
    if (slot == HR_SESSION_SLOTS)
        return;
    /* Without memory the old value stays; a restore then sends that. */
    hr_conn_set_session(conn, slot, cmd, len);
}

/* Sends one recorded command; returns 0, or -1 with *failure set. */
static int hr_session_send(redisContext *c, const hr_bytes *command,
                           hr_failure *failure, int *error_number)
{
    void *reply = NULL;

    if (hr_real.redisAppendFormattedCommand(c, command->data, command->len) !=
            REDIS_OK ||
        hr_real.redisGetReply(c, &reply) != REDIS_OK) {
        *error_number = errno;
        *failure =
            hr_classify_transport((hr_transport_error)c->err, *error_number,
                                  c->errstr, strlen(c->errstr));
        return -1;
    }

    const char *text;
    size_t text_len;
    if (!hr_reply_error_text(c, reply, &text, &text_len)) {
        hr_real.freeReplyObject(reply);
        return 0;
    }

    *failure = hr_classify_reply(text, text_len);
    *error_number = 0;
    if (hr_class_is_a(failure->cls, HR_CLASS_AUTHENTICATION_ERROR))
        failure->permanent = true;
    /* The connection is in an unknown session: it must not be used. */
    failure->drop_connection = true;
    hr_set_reconnect_error(c, text, text_len);
    hr_real.freeReplyObject(reply);
    return -1;
}

/* Sends the recorded slots from first on. Returns 0, or -1 as
 * hr_session_restore does. */
static int hr_session_send_from(hr_conn *conn, redisContext *c,
                                hr_session_slot first, hr_failure *failure,
                                int *error_number)
{
    for (int slot = first; slot < HR_SESSION_SLOTS; slot++) {
        if (conn->session[slot].data == NULL)
            continue;
        if (hr_session_send(c, &conn->session[slot], failure, error_number) ==
            0)
            continue;
        /* Credentials the server rejects now would be rejected on every
           reconnect, and each try counts as a failed login: forget them,
           and wait for the program to authenticate anew before the rest
           of the session is sent again. */
        if (failure->cls == HR_CLASS_AUTHENTICATION_ERROR &&
            slot <= HR_SESSION_HELLO) {
            hr_conn_clear_credentials(conn);
            conn->awaiting_auth = true;
            hr_log(HR_LOG_WARN, "event=credentials_dropped "
                                "reason=authentication_failed");
        }
        return -1;
    }
    return 0;
}

/* Sets the socket options the program set through hiredis again. */
static int hr_restore_socket_options(hr_conn *conn, redisContext *c)
{
    if (conn->has_timeout &&
        hr_real.redisSetTimeout(c, conn->timeout) != REDIS_OK)
        return -1;
    if (conn->keepalive && hr_real.redisEnableKeepAlive(c) != REDIS_OK)
        return -1;
#if HR_HIREDIS_1
    if (conn->keepalive_interval > 0 &&
        hr_real.redisEnableKeepAliveWithInterval(c, conn->keepalive_interval) !=
            REDIS_OK)
        return -1;
    if (conn->tcp_user_timeout > 0 &&
        hr_real.redisSetTcpUserTimeout(c, conn->tcp_user_timeout) != REDIS_OK)
        return -1;
#endif
    return 0;
}

int hr_session_restore(hr_conn *conn, redisContext *c, hr_failure *failure,
                       int *error_number)
{
    /* The socket options come first, so that the restore's own reads
       time out as the program's commands would. */
    if (hr_restore_socket_options(conn, c) != 0) {
        *error_number = errno;
        *failure =
            hr_classify_transport((hr_transport_error)c->err, *error_number,
                                  c->errstr, strlen(c->errstr));
        return -1;
    }

    if (!conn->awaiting_auth)
        return hr_session_send_from(conn, c, HR_SESSION_AUTH, failure,
                                    error_number);
    /* The program's own AUTH or HELLO goes first on a bare connection. */
    if (conn->opening_session)
        return 0;
    /* Anything else waits for the rest of the session. Without it, the
       command would run in the wrong database if the server no longer
       needs a password, and fail with NOAUTH if it does. */
    if (hr_session_send_from(conn, c, HR_SESSION_SELECT, failure,
                             error_number) != 0)
        return -1;
    conn->awaiting_auth = false;
    return 0;
}

int hr_session_complete(hr_conn *conn, redisContext *c, hr_failure *failure,
                        int *error_number)
{
    if (hr_session_send_from(conn, c, HR_SESSION_SELECT, failure,
                             error_number) != 0)
        return -1;
    conn->awaiting_auth = false;
    return 0;
}

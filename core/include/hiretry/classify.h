/*
 * Classification of failures into valkey-py's error classes.
 *
 * Both functions are pure: no I/O, no global state, no allocation. Their
 * inputs come from the network or from hiredis and are untrusted, so any
 * byte string, of any length and with embedded NUL bytes, is accepted.
 */
#ifndef HIRETRY_CLASSIFY_H
#define HIRETRY_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "hiretry/errors.h"

/* What a policy needs to know about one failed attempt. */
typedef struct hr_failure {
    hr_class cls;
    /*
     * The server replied that it did not run the command (LOADING, TRYAGAIN,
     * CLUSTERDOWN, MASTERDOWN, READONLY, NOAUTH, max clients, ...), so
     * repeating it cannot apply it twice. A script (EVAL, EVALSHA, FCALL) can
     * return any of these replies after it has written, so the caller must
     * not rely on this flag for scripts.
     */
    bool not_executed;
    /* The connection must be closed and opened again before a new attempt. */
    bool drop_connection;
    /* Repeating the same call cannot succeed: a caller error. */
    bool permanent;
} hr_failure;

/*
 * Classifies the text of a server error reply (without the leading '-' and
 * the trailing CRLF) the way valkey-py does: the first space-separated word
 * is matched exactly and case-sensitively, "ERR" replies are looked up by
 * their whole message, and everything else is a ResponseError. NULL text
 * with len 0 is allowed.
 */
hr_failure hr_classify_reply(const char *text, size_t len);

/*
 * The kind of a transport failure. The values equal hiredis's REDIS_ERR_*
 * codes (0.14 and 1.x), which the shim checks at build time.
 */
typedef enum hr_transport_error {
    HR_TRANSPORT_IO = 1,       /* a system call failed: see error_number */
    HR_TRANSPORT_OTHER = 2,    /* name resolution, socket creation, misuse */
    HR_TRANSPORT_EOF = 3,      /* the server closed the connection */
    HR_TRANSPORT_PROTOCOL = 4, /* the bytes received are not valid RESP */
    HR_TRANSPORT_OOM = 5,      /* the client ran out of memory */
    HR_TRANSPORT_TIMEOUT = 6   /* hiredis 1.x: a connect or command timeout */
} hr_transport_error;

/*
 * Classifies a hiredis transport failure from the context's error code, the
 * errno captured right after the failing call (0 when unknown) and the
 * context's errstr (may be NULL). hiredis's own fixed messages decide first,
 * because hiredis sets them without a failing system call, so errno is stale
 * then ("Invalid timeout specified" in 0.14.1). Otherwise errno decides where
 * it is known, because strerror() text follows the host's locale, and the
 * English strerror() texts are matched last. For HR_TRANSPORT_OTHER, errno
 * is ignored and errstr only detects caller errors.
 *
 * Transport failures never have not_executed set: whether the command may
 * have reached the server depends on when the failure happened, which only
 * the caller knows. They always have drop_connection set.
 */
hr_failure hr_classify_transport(hr_transport_error kind, int error_number,
                                 const char *errstr, size_t errstr_len);

#endif

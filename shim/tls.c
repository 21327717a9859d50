/*
 * TLS through libhiredis_ssl, which only hiredis 1.x has.
 *
 * hiredis's redisReconnect frees a context's SSL state but keeps its TLS
 * read and write functions, so the next command after it would use the
 * freed state. The shim records the redisSSLContext the program started TLS
 * with and repeats the handshake after every reconnect, before the session
 * restore sends anything. A handshake that fails leaves the context with
 * its error set and its socket closed, and the retry loop treats it as a
 * failed connect: no byte ever goes out in plain text.
 *
 * The wrappers record the context before the program's own handshake
 * runs, so that a context whose first handshake failed is never
 * reconnected without TLS either.
 */
#include "tls.h"

#if HR_HIREDIS_1

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include <hiredis/hiredis_ssl.h>

#include "real.h"
#include "shim.h"

#define HR_SSL_LIBRARY "libhiredis_ssl.so"

typedef int (*hr_initiate_with_context_fn)(redisContext *, redisSSLContext *);
typedef int (*hr_initiate_fn)(redisContext *, struct ssl_st *);

/* The real functions, found at the first call: libhiredis_ssl is loaded
 * by then, since the program called into it. */
static void *_Atomic hr_real_initiate_with_context;
static void *_Atomic hr_real_initiate;

static void *hr_ssl_function(void *_Atomic *slot, const char *name)
{
    void *function = atomic_load_explicit(slot, memory_order_acquire);

    if (function == NULL) {
        function = hr_real_lookup_extra(HR_SSL_LIBRARY, name);
        atomic_store_explicit(slot, function, memory_order_release);
    }
    return function;
}

/* Fails the call the way hiredis reports an error on the context. */
static int hr_ssl_missing(redisContext *c, const char *name)
{
    if (c != NULL) {
        c->err = REDIS_ERR_OTHER;
        snprintf(c->errstr, sizeof(c->errstr),
                 "hiretry: %s not found in " HR_SSL_LIBRARY, name);
    }
    errno = ENOSYS;
    return REDIS_ERR;
}

HR_EXPORT int redisInitiateSSLWithContext(redisContext *c,
                                          redisSSLContext *redis_ssl_ctx)
{
    hr_initiate_with_context_fn initiate =
        (hr_initiate_with_context_fn)hr_ssl_function(
            &hr_real_initiate_with_context, __func__);
    hr_conn *conn = hr_enter(c);
    int rc;

    if (initiate == NULL)
        return hr_ssl_missing(c, __func__);
    if (conn != NULL)
        conn->tls_context = redis_ssl_ctx;
    hr_shim_depth++;
    rc = initiate(c, redis_ssl_ctx);
    hr_shim_depth--;
    return rc;
}

HR_EXPORT int redisInitiateSSL(redisContext *c, struct ssl_st *ssl)
{
    hr_initiate_fn initiate =
        (hr_initiate_fn)hr_ssl_function(&hr_real_initiate, __func__);
    hr_conn *conn = hr_enter(c);
    int rc;

    if (initiate == NULL)
        return hr_ssl_missing(c, __func__);
    if (conn != NULL)
        conn->tls_unrepeatable = true;
    hr_shim_depth++;
    rc = initiate(c, ssl);
    hr_shim_depth--;
    return rc;
}

int hr_tls_handshake(hr_conn *conn, redisContext *c)
{
    hr_initiate_with_context_fn initiate;
    int saved_errno;
    int rc;

    if (conn->tls_context == NULL)
        return REDIS_OK;
    initiate = (hr_initiate_with_context_fn)hr_ssl_function(
        &hr_real_initiate_with_context, "redisInitiateSSLWithContext");
    if (initiate == NULL)
        rc = hr_ssl_missing(c, "redisInitiateSSLWithContext");
    else
        rc = initiate(c, conn->tls_context);
    if (rc == REDIS_OK)
        return REDIS_OK;

    /* The next reconnect closes the socket too, but until then nothing
       must be able to write on it. */
    saved_errno = errno;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = REDIS_INVALID_FD;
    }
    errno = saved_errno;
    return REDIS_ERR;
}

#else

int hr_tls_handshake(hr_conn *conn, redisContext *c)
{
    (void)conn;
    (void)c;
    return REDIS_OK;
}

#endif

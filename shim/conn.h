/*
 * Per-context state of the shim, kept beside each redisContext that a
 * wrapped blocking connect function created. Contexts the shim did not
 * create (non-blocking, redisConnectFd, async) have no state and pass
 * through untouched.
 */
#ifndef HR_SHIM_CONN_H
#define HR_SHIM_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

/* Session commands, in the order they are sent again after a reconnect. */
typedef enum hr_session_slot {
    HR_SESSION_AUTH,
    HR_SESSION_HELLO,
    HR_SESSION_SELECT,
    HR_SESSION_SETNAME,
    HR_SESSION_READONLY, /* READONLY or READWRITE, whichever came last */
    HR_SESSION_SLOTS
} hr_session_slot;

/* A formatted command, as sent to the server. */
typedef struct hr_bytes {
    char *data;
    size_t len;
} hr_bytes;

/* Modes in which the shim passes every call through untouched. */
enum {
    HR_CONN_SUBSCRIBED = 1 << 0, /* a SUBSCRIBE-family command was sent */
    HR_CONN_MONITORING = 1 << 1, /* MONITOR was sent */
    HR_CONN_MULTI = 1 << 2,      /* between MULTI and EXEC or DISCARD */
    HR_CONN_WATCHING = 1 << 3,   /* keys are watched */
    /* The connection failed inside MULTI or WATCH: calls fail until the
       program ends the transaction with EXEC or DISCARD. */
    HR_CONN_TRANSACTION_LOST = 1 << 4,
    /* Bytes that are not RESP requests (inline commands) were appended, so
       replies cannot be matched to commands until the next reconnect. */
    HR_CONN_UNCOUNTED = 1 << 5
};

/* A command the program appended and whose reply it has not read yet. */
typedef struct hr_owed {
    char *data; /* its bytes, or NULL past HIRETRY_PIPELINE_MAX */
    size_t len;
    unsigned flags;    /* HR_COMMAND_* */
    bool may_have_run; /* it was written whole on some connection */
} hr_owed;

/* The owed commands of a connection, oldest first, in a ring. */
typedef struct hr_owed_queue {
    hr_owed *items;
    size_t head; /* index of the oldest */
    size_t count;
    size_t capacity; /* a power of two, or 0 */
    size_t len;      /* bytes of every owed command */
    size_t kept;     /* bytes of those whose data is kept */
    size_t peak;     /* the largest count since the queue last drained */
} hr_owed_queue;

/* The commands queued since MULTI, kept to queue them again after a
 * reconnect. */
typedef struct hr_transaction {
    bool open;       /* MULTI succeeded with no WATCH active */
    bool replayable; /* every queued command is kept and was QUEUED */
    hr_bytes *queued;
    size_t count;
    size_t capacity;
    size_t len; /* bytes of the queued commands */
} hr_transaction;

/* A set of names: channels, patterns or shard channels. */
typedef struct hr_names {
    hr_bytes *items;
    size_t count;
    size_t capacity;
} hr_names;

/* Kinds of subscription, in the order they are restored. */
typedef enum hr_sub_kind {
    HR_SUB_CHANNEL, /* SUBSCRIBE */
    HR_SUB_PATTERN, /* PSUBSCRIBE */
    HR_SUB_SHARD,   /* SSUBSCRIBE */
    HR_SUB_KINDS
} hr_sub_kind;

/* The subscriptions of a context and the messages kept back for it. */
typedef struct hr_pubsub {
    hr_names names[HR_SUB_KINDS];
    void **held; /* replies read while subscribing again, oldest first */
    size_t held_head;
    size_t held_count;
    size_t held_capacity;
} hr_pubsub;

typedef struct hr_conn {
    redisContext *context;
    hr_bytes session[HR_SESSION_SLOTS];
    bool has_timeout;          /* redisSetTimeout was called */
    struct timeval timeout;    /* its argument */
    bool keepalive;            /* redisEnableKeepAlive was called */
    int keepalive_interval;    /* seconds, from hiredis 1.x's
                                  redisEnableKeepAliveWithInterval; 0: none */
    unsigned tcp_user_timeout; /* milliseconds, from hiredis 1.x's
                                  redisSetTcpUserTimeout; 0: none */
    /* The redisSSLContext the program started TLS with, repeated after
       every reconnect (hiredis 1.x only, see tls.c). */
    void *tls_context;
    /* TLS was started from the program's own SSL object, which hiredis
       frees on reconnect, so the handshake cannot be repeated. */
    bool tls_unrepeatable;
    unsigned modes;     /* HR_CONN_* */
    hr_owed_queue owed; /* commands appended by the program itself */
    hr_transaction tx;  /* the open MULTI block */
    hr_pubsub pubsub;   /* subscriptions, in HR_CONN_SUBSCRIBED mode */
    char *spare;        /* a large command kept for a retry, see call.c */
    size_t spare_size;
    size_t spare_len;      /* length of the command in spare */
    int64_t last_io_ns;    /* monotonic time of the last command */
    bool reconnect_needed; /* reconnect before the next command */
    unsigned long forks;   /* fork() count when the context was last used
                              in this process; see hr_conn_find */
    /* A session command went out whose reply the shim could not see (an
       inline command): no reconnect restores a session it does not know. */
    bool session_unknown;
    /* The server rejected the recorded credentials: the program's next
       AUTH or HELLO opens the session, and the rest follows it. */
    bool awaiting_auth;
    bool opening_session; /* awaiting_auth, and the command being sent is
                             AUTH or HELLO */
    /* The connection goes to the primary that Sentinel names, looked up
       again before every reconnect. */
    bool sentinel;
    struct hr_endpoint *endpoint; /* budget and breaker, from budget.c */
    unsigned budget_flags;        /* HR_BUDGET_* */
} hr_conn;

/* Returns the state of c, or NULL when the shim does not manage c. Marks a
 * context inherited through fork() for a reconnect. */
hr_conn *hr_conn_find(const redisContext *c);

/* Creates state for c; returns NULL when out of memory. */
hr_conn *hr_conn_add(redisContext *c);

/* Forgets c and frees its state; nothing when c is unknown. */
void hr_conn_remove(const redisContext *c);

/* Replaces a session slot with a copy of bytes; false when out of memory. */
bool hr_conn_set_session(hr_conn *conn, hr_session_slot slot, const char *bytes,
                         size_t len);

/* Clears every session slot, as the server does on RESET. */
void hr_conn_clear_session(hr_conn *conn);

/* Clears the AUTH and HELLO slots, which carry credentials. */
void hr_conn_clear_credentials(hr_conn *conn);

/* Formats "host:port" or "unix:path" for logs into buf. */
void hr_conn_endpoint(const redisContext *c, char *buf, size_t size);

#endif

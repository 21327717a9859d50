/*
 * A scripted RESP server for the integration tests. It exists for the
 * replies a real server cannot be made to give. Those are malformed RESP,
 * huge error lines, errors with no text, MOVED with a garbage address, a
 * reply to a command never sent, and a reply split into single bytes.
 *
 * It listens on a free 127.0.0.1 port and runs on a thread of the test
 * process. It serves one connection at a time: a new connection replaces
 * the one before. It reads whole RESP requests and answers the i-th request
 * of the k-th connection with a scripted reply, whatever the request says.
 */
#ifndef HIRETRY_HOSTILE_SERVER_H
#define HIRETRY_HOSTILE_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* One scripted reply. */
typedef struct hr_hostile_reply {
    const char *data;  /* the bytes sent; NULL closes the connection */
    size_t len;        /* 0 for strlen(data) */
    bool byte_by_byte; /* one write per byte, 1 ms apart */
    /* Bytes sent 20 ms after the reply, as a reply to no request, or NULL. */
    const char *unsolicited;
} hr_hostile_reply;

/* The replies of one connection. Past the last, the last one repeats. */
typedef struct hr_hostile_connection {
    const hr_hostile_reply *replies;
    size_t count;
} hr_hostile_connection;

/* The script: connection k follows connections[k], and every connection
 * past the last follows the last. */
typedef struct hr_hostile_script {
    const hr_hostile_connection *connections;
    size_t count;
} hr_hostile_script;

typedef struct hr_hostile_server {
    int port;
    int listen_fd;
    int wake_fds[2];
    pthread_t thread;
    bool started;
    hr_hostile_script script;
    pthread_mutex_t lock; /* guards accepted and requests */
    long long accepted;
    long long requests;
} hr_hostile_server;

/*
 * Starts the server with script, which must stay valid until
 * hr_hostile_stop(). Returns 0, or -1 after printing why.
 */
int hr_hostile_start(hr_hostile_server *server,
                     const hr_hostile_script *script);

/* Returns how many connections the server has accepted. */
long long hr_hostile_accepted(hr_hostile_server *server);

/* Returns how many whole requests the server has read. */
long long hr_hostile_requests(hr_hostile_server *server);

/* Stops the thread and closes every socket. Safe after any
 * hr_hostile_start(), even one that failed. */
void hr_hostile_stop(hr_hostile_server *server);

#endif

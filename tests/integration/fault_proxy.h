/*
 * A fault-injecting TCP proxy for the integration tests. It listens on a
 * free 127.0.0.1 port and forwards every connection it accepts to a server
 * on 127.0.0.1. It injects one fault at a time on the bytes that pass: a
 * connection reset or a clean close after N bytes in either direction, a
 * stall or a delay. It can also stop listening, so that connects are
 * refused.
 *
 * The proxy runs on a thread of the test process. The functions below may
 * be called from the test's thread while it runs. Forwarding is done with
 * blocking writes, so the proxy suits the request and reply sizes of tests
 * (up to a few MiB), not a load test.
 */
#ifndef HIRETRY_FAULT_PROXY_H
#define HIRETRY_FAULT_PROXY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Maximum connections the proxy forwards at once; more are reset. */
#define HR_PROXY_CONNECTIONS_MAX 32

typedef enum hr_fault_action {
    HR_FAULT_NONE,
    HR_FAULT_RESET, /* close both sides with a TCP reset (RST) */
    HR_FAULT_CLOSE, /* close both sides cleanly (FIN), truncating the data */
    HR_FAULT_STALL, /* forward nothing more, and keep both sides open */
    HR_FAULT_DELAY  /* hold every later chunk for delay_ms before sending */
} hr_fault_action;

typedef enum hr_fault_direction {
    HR_TO_SERVER, /* bytes the program sends */
    HR_TO_CLIENT  /* bytes the server sends */
} hr_fault_direction;

/*
 * One fault. It applies to the first connection that carries bytes in
 * direction after the fault is set: that connection forwards after_bytes
 * more bytes in direction, then the action happens. A reset, close or
 * stall fires once; a delay lasts for the rest of that connection. Other
 * connections, and every connection after that one, are forwarded as they
 * are.
 */
typedef struct hr_fault {
    hr_fault_action action;
    hr_fault_direction direction;
    size_t after_bytes;
    int delay_ms; /* HR_FAULT_DELAY only */
} hr_fault;

/*
 * Called on the proxy thread with each chunk the program sends, before it
 * is forwarded. link is the connection's slot, from 0 to
 * HR_PROXY_CONNECTIONS_MAX - 1, which a later connection may reuse. first
 * is true for the first chunk of each connection.
 */
typedef void hr_proxy_observer(void *arg, int link, bool first,
                               const char *bytes, size_t len);

/* One forwarded connection, owned by the proxy thread. */
typedef struct hr_proxy_link {
    int client_fd; /* -1 when the slot is free */
    int server_fd;
    bool stalled;
    bool faulted; /* fault is bound to this link and not yet fired */
    hr_fault fault;
    size_t forwarded[2]; /* bytes per hr_fault_direction since binding */
    int delay_ms[2];     /* per hr_fault_direction, 0 for none */
    bool observed;       /* the observer has seen a chunk of it */
} hr_proxy_link;

typedef struct hr_proxy {
    int port;        /* the proxy's port on 127.0.0.1 */
    int server_port; /* where it forwards to */
    int listen_fd;   /* -1 while refusing */
    int wake_fds[2]; /* a pipe that wakes the thread for a change */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* guards the fields below but links */
    pthread_cond_t applied_cond;
    long long requests; /* changes the test's thread asked for */
    long long applied;  /* changes the proxy thread has applied */
    bool running;
    bool refusing;
    bool want_reset_all;
    bool armed; /* fault is set and not yet bound to a connection */
    hr_fault fault;
    long long accepted;          /* connections accepted since the start */
    long long faults;            /* faults that fired */
    hr_proxy_observer *observer; /* NULL for none; set before the thread */
    void *observer_arg;
    hr_proxy_link links[HR_PROXY_CONNECTIONS_MAX];
} hr_proxy;

/*
 * Starts a proxy to 127.0.0.1:server_port on a free port. Returns 0, or -1
 * after printing why.
 */
int hr_proxy_start(hr_proxy *proxy, int server_port);

/* Starts a proxy as hr_proxy_start does, which also passes every chunk the
 * program sends to observer. */
int hr_proxy_start_observed(hr_proxy *proxy, int server_port,
                            hr_proxy_observer *observer, void *arg);

/* Arms fault, replacing any fault not yet bound to a connection. */
void hr_proxy_set_fault(hr_proxy *proxy, const hr_fault *fault);

/*
 * Stops listening (refusing is true), so that connects to the port are
 * refused, or listens again on the same port. Returns 0 or -1.
 */
int hr_proxy_refuse(hr_proxy *proxy, bool refusing);

/* Resets every connection the proxy forwards. */
void hr_proxy_reset_all(hr_proxy *proxy);

/* Returns how many connections the proxy has accepted. */
long long hr_proxy_accepted(hr_proxy *proxy);

/* Returns how many faults have fired. */
long long hr_proxy_faults(hr_proxy *proxy);

/* Stops the thread and closes every socket. Safe after any
 * hr_proxy_start(), even one that failed. */
void hr_proxy_stop(hr_proxy *proxy);

#endif

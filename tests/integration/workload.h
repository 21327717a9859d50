/*
 * Types shared by the parts of hr_workload, the plain hiredis program that
 * the integration tests run with and without the shim.
 */
#ifndef HIRETRY_WORKLOAD_H
#define HIRETRY_WORKLOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

/* Exit statuses. */
#define HR_EXIT_OK 0      /* every operation ran, even if some failed */
#define HR_EXIT_FAILURE 1 /* out of memory, or threads did not start */
#define HR_EXIT_USAGE 2   /* invalid arguments */
#define HR_EXIT_CONNECT 3 /* the initial connection or handshake failed */

/* The maximum number of unacknowledged SET keys that set_failed lists per
 * thread. set_failed_count counts all of them. */
#define HR_SET_FAILED_MAX 64

typedef enum hr_op {
    HR_OP_INCR,        /* INCR counter */
    HR_OP_SET,         /* SET key:<i> value-<i> */
    HR_OP_GET,         /* GET fixed */
    HR_OP_MIXED,       /* operation i is INCR, SET or GET by i % 3 */
    HR_OP_SET_GET,     /* SET key:<m>, then GET key:<m>, with m = i / 2 */
    HR_OP_SET_GET_INCR /* SET key:<m>, GET key:<m>, INCR, with m = i / 3 */
} hr_op;

/* The kind of one command, after an hr_op has picked it. */
typedef enum hr_kind {
    HR_KIND_INCR,      /* INCR counter */
    HR_KIND_SET,       /* SET key:<m> value-<m> */
    HR_KIND_GET_FIXED, /* GET fixed */
    HR_KIND_GET_KEY    /* GET key:<m>, expecting value-<m> */
} hr_kind;

/* What the program does with its context after a failed command. */
typedef enum hr_on_error {
    HR_ON_ERROR_NEW_CONTEXT, /* redisFree, then connect with a handshake */
    HR_ON_ERROR_KEEP_GOING,  /* keep using the same context */
    HR_ON_ERROR_RECONNECT    /* redisReconnect, without AUTH or SELECT */
} hr_on_error;

typedef struct hr_options {
    const char *host;      /* default 127.0.0.1 */
    int port;              /* 0 when --unix is used */
    const char *unix_path; /* NULL for TCP */
    const char *user;      /* AUTH user password, with --password */
    const char *password;  /* NULL: no AUTH */
    int db;                /* SELECT db when not 0 */
    const char *name;      /* CLIENT SETNAME; NULL for none */
    int timeout_ms;        /* connect and socket timeout; 0 for none */
    long long ops;         /* operations per thread; 0: unlimited */
    int seconds;           /* run time per thread; 0: unlimited */
    hr_op op;
    int sleep_ms; /* pause between operations */
    int threads;  /* threads, each with its own context and keys */
    hr_on_error on_error;
    bool keep_sigpipe;    /* leave SIGPIPE at its default action */
    int pipeline;         /* commands per pipeline; 0: one redisCommand each */
    long long value_size; /* SET values padded to this many bytes */
    long long pause_before_reply; /* reply index to pause at; -1: none */
    const char *ready_file;       /* created at the pause */
    const char *go_file;          /* waited for at the pause */
    const char *echo; /* ECHO sent after the last operation, or NULL */
} hr_options;

/* One thread's context and counts. */
typedef struct hr_worker {
    const hr_options *options;
    int index;
    char key_prefix[16]; /* "t<index>:" with several threads, else "" */
    char name[128];      /* this thread's CLIENT SETNAME name */
    redisContext *context;
    pthread_t thread;

    long long ops;               /* operations started */
    long long ok;                /* replies that were not errors */
    long long errors;            /* failed connects, commands and replies */
    long long incr_acknowledged; /* INCR replies received */
    long long last_incr_value;   /* the last INCR reply; 0 before any */
    long long set_acknowledged;  /* SET replies received */
    long long get_hits;          /* GET replies with a value */
    long long get_nil;           /* GET replies without one */
    long long reconnects;        /* redisReconnect calls */
    long long set_failed[HR_SET_FAILED_MAX]; /* indexes of unacknowledged
                                                SETs */
    long long set_failed_count;
    long long get_wrong; /* GET key:<m> replies other than value-<m> */
    long long incr_gaps; /* INCR replies other than the previous plus 1 */
    long long replies_after_failure; /* replies read after a failed read
                                        in the same pipeline */
    char *value;           /* the SET value being built, value_size + 32 */
    char echo_result[256]; /* the ECHO reply, as hr_script prints one */

    char first_error[256];
    char last_error[256];
    int64_t first_error_ns; /* CLOCK_MONOTONIC */
    int64_t last_error_ns;
} hr_worker;

/*
 * Parses the command line into options. Returns 0 to run, 1 after printing
 * the help for --help, or -1 after printing the invalid argument.
 */
int hr_options_parse(hr_options *options, int argc, char **argv);

/*
 * Prints the "key=value" result lines to stdout: totals over all workers,
 * and per-thread lines "thread<i>.<key>=" when there are several.
 */
void hr_results_print(const hr_worker *workers, int count);

#endif

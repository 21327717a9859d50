/*
 * The integration-test harness: real valkey-server and redis-server processes
 * on free loopback ports, real hiredis programs run with or without the shim
 * preloaded, and a direct hiredis connection for the test to inspect data.
 *
 * Every process the harness starts is recorded by pid, runs with
 * PR_SET_PDEATHSIG so it dies with the test process, and is killed and
 * reaped by hr_harness_stop_all(), which the suite cleanup and an atexit
 * handler both call. Nothing is ever killed by name. The harness starts no
 * threads and is not thread-safe.
 */
#ifndef HIRETRY_HARNESS_H
#define HIRETRY_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <CUnit/CUnit.h>
#include <hiredis/hiredis.h>

/* Upper bound of the startup and shutdown waits, in milliseconds. */
#define HR_SERVER_WAIT_MS 10000

/* ---- Process control (harness.c) ---- */

/* A growable NULL-terminated array of strings, for argv and environments. */
typedef struct hr_string_list {
    char **items; /* NULL-terminated; NULL until the first add */
    size_t count;
    size_t capacity;
} hr_string_list;

/* Appends one formatted string. Returns 0, or -1 when out of memory. */
int hr_string_list_add(hr_string_list *list, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

void hr_string_list_free(hr_string_list *list);

/*
 * Returns the private temporary directory of this test process, created on
 * first use under $TMPDIR (or /tmp) and removed at exit, or NULL on failure.
 */
const char *hr_harness_dir(void);

/*
 * Formats a path into path[size]. Returns 0, or -1 after printing the path
 * when it does not fit.
 */
int hr_harness_path(char *path, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Removes a file or a directory with its contents. Returns 0 or -1. */
int hr_harness_remove_tree(const char *path);

/* Reads a whole file. Returns a NUL-terminated string to free(), or NULL. */
char *hr_harness_read_file(const char *path);

/* Creates an empty file, the signal hr_script's @wait step waits for.
 * Returns 0 or -1. */
int hr_harness_touch(const char *path);

/* Returns a port that was free a moment ago on 127.0.0.1, or -1. */
int hr_harness_free_port(void);

/* Waits up to HR_SERVER_WAIT_MS for a file to exist. Returns 0 or -1. */
int hr_harness_wait_file(const char *path);

/* Prints the last lines of a file to stderr, each prefixed with label. */
void hr_harness_print_tail(const char *path, int lines, const char *label);

/*
 * Forks and executes argv[0] with stdout and stderr appended to the given
 * files (NULL: /dev/null), after sleeping delay_ms in the child. The child
 * gets this process's environment without LD_PRELOAD and HIRETRY_*, plus
 * env (may be NULL), whose entries override inherited ones of the same
 * name. Records the pid and stores it in *pid. Returns 0 or -1.
 */
int hr_process_spawn(char *const argv[], char *const env[],
                     const char *out_path, const char *err_path, int delay_ms,
                     pid_t *pid);

/*
 * Waits up to timeout_ms for pid to exit and reaps it. Returns 0 and stores
 * the exit code (or 128 + the signal number) in *status, 1 when the process
 * is still running, or -1 on error.
 */
int hr_process_wait(pid_t pid, int timeout_ms, int *status);

/* Sends SIGKILL to pid and reaps it. Returns 0 or -1. */
int hr_process_kill(pid_t pid, int *status);

/* Returns CLOCK_MONOTONIC in milliseconds. */
int64_t hr_harness_now_ms(void);

/* Sleeps ms milliseconds, resuming after signals. */
void hr_harness_sleep_ms(int ms);

/* Kills and reaps every process still recorded. Safe to call repeatedly. */
void hr_harness_stop_all(void);

/*
 * Runs one CUnit suite like hr_test_run(), with hr_harness_stop_all() as the
 * suite cleanup, SIGPIPE ignored in this process and the cleanup also
 * registered with atexit(). Returns the process exit status.
 */
int hr_harness_run(const char *suite_name, const CU_TestInfo *tests);

/* ---- Servers (harness_server.c) ---- */

typedef enum hr_server_kind {
    HR_SERVER_VALKEY, /* HIRETRY_VALKEY_SERVER_PATH */
    HR_SERVER_REDIS   /* HIRETRY_REDIS_SERVER_PATH */
} hr_server_kind;

typedef struct hr_server_options {
    hr_server_kind kind;
    const char *password; /* requirepass; NULL for none */
    bool unix_socket;     /* also listen on <dir>/server.sock, mode 700 */
    bool appendonly;      /* appendonly yes with appendfsync always */
    int idle_timeout_s;   /* the server's "timeout": close idle clients
                             after this many seconds; 0 never */
    const char *const *extra_args; /* NULL-terminated, or NULL; copied */
} hr_server_options;

typedef struct hr_server {
    hr_server_kind kind;
    char *password;        /* NULL for none */
    hr_string_list argv;   /* the command line, port included */
    int port;              /* 127.0.0.1:port */
    pid_t pid;             /* 0 when no process runs */
    char dir[256];         /* --dir, private to this server */
    char socket_path[256]; /* empty without unix_socket */
    char log_path[256];
} hr_server;

/* Returns "valkey-server" or "redis-server". */
const char *hr_server_kind_name(hr_server_kind kind);

/*
 * Starts a server in the foreground on a free loopback port and waits until
 * it replies to PING. Retries with another port when the server exits
 * during startup, because another process may take the port between the
 * probe and the server's bind. Prints the log tail on failure. Returns 0
 * or -1; after -1, hr_server_stop() is still safe to call.
 */
int hr_server_start(hr_server *server, const hr_server_options *options);

/* Kills the server with SIGKILL and reaps it. Returns 0 or -1. */
int hr_server_kill(hr_server *server);

/*
 * Starts the server again on the same port, directory and arguments, after
 * delay_ms, and returns at once. The delay runs in the forked child, so the
 * test can start a program that meets a dead server and have the server
 * come up while the program retries. Call hr_server_wait_ready() next.
 */
int hr_server_restart_after(hr_server *server, int delay_ms);

/* Waits up to timeout_ms until the server replies to PING. Returns 0 or -1. */
int hr_server_wait_ready(hr_server *server, int timeout_ms);

/* Starts the server again at once and waits until it is ready. */
int hr_server_restart(hr_server *server);

/*
 * Stops the server with SIGTERM (SIGKILL after HR_SERVER_WAIT_MS), removes
 * its directory and frees its memory. Returns 0 when the server exited on
 * SIGTERM or was not running, -1 otherwise.
 */
int hr_server_stop(hr_server *server);

/* Prints the last lines of the server's log to stderr. */
void hr_server_print_log(const hr_server *server, int lines);

/* A Sentinel that monitors one primary, for hr_sentinel_start. */
typedef struct hr_sentinel_options {
    const char *master_name; /* the service name */
    int master_port;         /* the primary, on 127.0.0.1 */
    int quorum;              /* Sentinels that must agree it is down */
    const char *auth_pass;   /* the primary's requirepass, or NULL */
    const char *password;    /* the Sentinel's own requirepass, or NULL */
    int down_after_ms;       /* down-after-milliseconds */
    int failover_timeout_ms; /* failover-timeout */
} hr_sentinel_options;

/*
 * Starts valkey-server in Sentinel mode (--sentinel, from the same
 * binary) on a free loopback port, with a configuration file of its own
 * in its directory, and waits until it replies to PING. The hr_server is
 * then stopped, killed and printed as any other. Returns 0 or -1.
 */
int hr_sentinel_start(hr_server *sentinel, const hr_sentinel_options *options);

/* ---- Direct connections (harness_client.c) ---- */

/* Returns true when the server replies PONG to PING; LOADING is false. */
bool hr_server_ping(const hr_server *server);

/*
 * Opens a direct connection (never preloaded) over TCP, authenticated and
 * with db selected. Returns NULL on failure after printing why.
 */
redisContext *hr_server_connect(const hr_server *server, int db);

/*
 * Runs one command in db on a new direct connection. Returns the reply, to
 * be freed with freeReplyObject(), or NULL when the connection failed.
 */
redisReply *hr_server_command(const hr_server *server, int db,
                              const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns DBSIZE of db, or -1 on failure. */
long long hr_server_dbsize(const hr_server *server, int db);

/* Returns GET key in db as a string to free(), or NULL when missing. */
char *hr_server_get(const hr_server *server, int db, const char *key);

/*
 * Returns the integer stored at key in db, 0 when the key is missing, or -1
 * when the value is not an integer or the GET failed.
 */
long long hr_server_get_integer(const hr_server *server, int db,
                                const char *key);

/*
 * Returns the integer field of INFO, such as total_connections_received,
 * or -1. The query opens a connection of its own, which connection counts
 * include.
 */
long long hr_server_info_integer(const hr_server *server, const char *field);

/*
 * Kills every normal client but the caller's connection (CLIENT KILL TYPE
 * normal). Returns how many the server killed, or -1.
 */
long long hr_server_kill_clients(const hr_server *server);

/*
 * Waits up to HR_SERVER_WAIT_MS until the server reports exactly count
 * blocked clients. Returns 0, or -1 after printing the timeout.
 */
int hr_server_wait_blocked(const hr_server *server, long long count);

/*
 * Returns how many times the server ran command since it started, from INFO
 * commandstats, or -1.
 */
long long hr_server_command_calls(const hr_server *server, const char *command);

/*
 * Waits up to timeout_ms until the server has run command at least calls
 * times since it started. Returns 0 or -1.
 */
int hr_server_wait_calls(const hr_server *server, const char *command,
                         long long calls, int timeout_ms);

/* ---- Programs (harness_program.c) ---- */

typedef struct hr_program {
    pid_t pid;      /* 0 once reaped */
    int status;     /* exit code, 128 + signal number, or -1 */
    bool timed_out; /* killed by hr_program_wait() */
    char *out;      /* stdout after the wait, NUL-terminated */
    char *err;      /* stderr after the wait, NUL-terminated */
    char out_path[256];
    char err_path[256];
} hr_program;

/*
 * Starts argv with env added to its environment (see hr_process_spawn) and
 * its stdout and stderr captured in files. Returns 0 or -1.
 */
int hr_program_start(hr_program *program, const hr_string_list *argv,
                     const hr_string_list *env);

/*
 * Waits up to timeout_ms for the program; when it overruns, kills it and
 * sets timed_out. Then reads its output. Returns 0 when the program exited
 * by itself, -1 otherwise.
 */
int hr_program_wait(hr_program *program, int timeout_ms);

/* Runs a program: hr_program_start(), then hr_program_wait(). */
int hr_program_run(hr_program *program, const hr_string_list *argv,
                   const hr_string_list *env, int timeout_ms);

/* Prints the status and the captured output, labelled, to stderr. */
void hr_program_print(const hr_program *program, const char *label);

/* Kills the program if it runs and frees its output. */
void hr_program_free(hr_program *program);

/*
 * Copies the value of the last "key=value" line of stdout into value.
 * Returns true when the key was found.
 */
bool hr_program_value(const hr_program *program, const char *key, char *value,
                      size_t size);

/* Returns the integer value of key on stdout, or -1 when missing. */
long long hr_program_integer(const hr_program *program, const char *key);

/*
 * Runs a program across a server crash. Starts argv and waits until the
 * server has run command (lower case, as in INFO commandstats) at least
 * calls times. Then kills the server with SIGKILL, starts it again down_ms
 * later while the program runs, and waits up to timeout_ms for the program.
 * Returns 0 when every step worked. The program's output is read in every
 * case.
 */
int hr_run_across_restart(hr_server *server, hr_program *program,
                          const hr_string_list *argv, const hr_string_list *env,
                          const char *command, long long calls, int down_ms,
                          int timeout_ms);

/*
 * Appends the hr_workload executable and the options that reach server:
 * --unix or --host and --port, and --password.
 */
int hr_workload_args(hr_string_list *argv, const hr_server *server,
                     bool use_unix_socket);

/*
 * Appends the hr_script executable and the options that reach server over
 * TCP, with a socket timeout of timeout_ms (0: none). The steps follow;
 * hr_script sends no AUTH of its own.
 */
int hr_script_args(hr_string_list *argv, const hr_server *server,
                   int timeout_ms);

/* The result lines of one hr_workload run: -1 or "" for missing lines. */
typedef struct hr_workload_results {
    long long ops;
    long long ok;
    long long errors;
    long long incr_acknowledged;
    long long last_incr_value;
    long long set_acknowledged;
    long long get_hits;
    long long get_nil;
    char first_error[256];
    char last_error[256];
} hr_workload_results;

void hr_workload_results_read(const hr_program *program,
                              hr_workload_results *results);

/*
 * Ends a test that ran a program against a server. When the test has more
 * CUnit failures than failures_before, prints the program's output and the
 * server's log. Then frees the program and stops the server, which fails
 * the test when the stop fails.
 */
void hr_test_finish(hr_server *server, hr_program *program,
                    unsigned failures_before);

/*
 * Appends LD_PRELOAD=shim_path, and ASAN_OPTIONS with
 * verify_asan_link_order=0 because in sanitizer builds the preloaded shim
 * comes before the ASan runtime.
 */
int hr_preload_env(hr_string_list *env, const char *shim_path);

#endif

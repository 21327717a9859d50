/*
 * Server states in which valkey-server rejects a command without running
 * it, met by hr_workload with libhiretry.so preloaded.
 *
 * READONLY: the program runs SETs in db 5 of a server P. The test turns P
 * into a replica of a second server Q with REPLICAOF and checks that a
 * direct SET gets a READONLY reply. It waits until P has finished its full
 * sync and has rejected a few of the program's SETs, and then promotes P
 * again with REPLICAOF NO ONE. A READONLY reply means that the SET never
 * ran, so the shim must retry it as ReadOnlyError, under the default
 * HIRETRY_WRITES=safe and also under none, which the README promises for
 * every command that cannot have run. The full sync replaces P's data set
 * with Q's, so the keys that the program wrote before REPLICAOF are gone.
 * The test checks that they are gone, that Q's marker key arrived, and that
 * every key from the promotion on is in db 5 of P with its value. A run
 * with ReadOnlyError removed from HIRETRY_RETRY_ON shows that the same
 * steps make the program fail.
 *
 * Max clients: valkey-server 8.0.1 accepts CONFIG SET maxclients down to 1
 * (0 gets "argument must be between 1 and 4294967295 inclusive") and keeps
 * the clients it has when the limit drops below their number. The test
 * fills the server with authenticated direct connections of its own. What
 * we saw: a new client connects without error, because hiredis 0.14's
 * redisConnect reads nothing, and the server writes "-ERR max number of
 * clients reached" and closes the connection. The error reaches the
 * program as the error reply to its first command, AUTH, in each of 300
 * runs of hr_workload without the shim, and a second command on that
 * connection fails with ECONNRESET. The shim classifies the reply as
 * ConnectionError, as valkey-py does, reconnects and sends AUTH again.
 * With HIRETRY_RETRIES=0 the program fails exactly as without the shim.
 * When the server kills a running program's connection while it is full,
 * the rejection reaches the shim's session restore instead, as the reply
 * to the recorded AUTH.
 */
#include "harness.h"
#include "hr_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_DB 5
#define HR_PASSWORD "states-password"
#define HR_PROGRAM_TIMEOUT_MS 60000
#define HR_POLL_MS 10

/* READONLY runs: P turns replica after the program's 50th SET and is
 * promoted again once it has rejected 5 more. */
#define HR_SET_OPS 300
#define HR_SET_CALLS_BEFORE_REPLICAOF 50
#define HR_READONLY_REJECTIONS 5
#define HR_MARKER_KEY "written-on-q"
#define HR_MARKER_VALUE "q-value"
#define HR_READONLY_PREFIX "READONLY "

/* Max clients runs: the test's control connection and two fillers fill the
 * server. Closing the fillers leaves room for the program and for one
 * direct connection of the harness. */
#define HR_MAX_CLIENTS 3
#define HR_FILLERS (HR_MAX_CLIENTS - 1)
#define HR_MAX_CLIENTS_REJECTIONS 5
#define HR_INCR_OPS 200
#define HR_CLIENT_NAME "states-client"
#define HR_MAX_CLIENTS_ERROR "ERR max number of clients reached"

/* What hr_workload prints when its AUTH gets that reply, and exits 3. */
#define HR_AUTH_FAILURE_PREFIX                                                 \
    "hr_workload: initial connection failed: auth reply: "
#define HR_CONNECT_FAILURE HR_AUTH_FAILURE_PREFIX HR_MAX_CLIENTS_ERROR "\n"

static bool hr_start(hr_server *server, const char *const *extra_args)
{
    hr_server_options options = {
        .kind = HR_SERVER_VALKEY,
        .password = HR_PASSWORD,
        .extra_args = extra_args,
    };
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Counts the lines of text that contain needle. */
static int hr_count_lines_with(const char *text, const char *needle)
{
    int count = 0;

    for (const char *at = text; (at = strstr(at, needle)) != NULL; count++) {
        at = strchr(at, '\n');
        if (at == NULL)
            return count + 1;
    }
    return count;
}

/* Checks that a command of the test got a status reply, and frees it. */
static void hr_check_status(redisReply *reply, const char *command)
{
    HR_ASSERT_TRUE(reply != NULL);
    if (reply != NULL && reply->type != REDIS_REPLY_STATUS)
        fprintf(stderr, "%s: reply type %d: %s\n", command, reply->type,
                reply->str ? reply->str : "");
    HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
}

/*
 * Returns the integer that follows field on the INFO line that starts with
 * line, or -1. A NULL field means the value follows line itself, as in
 * "rejected_connections:12". Otherwise the line contains "field=value" pairs,
 * as in "cmdstat_set:calls=3,...,rejected_calls=1".
 */
static long long hr_info_field(const char *info, const char *line,
                               const char *field)
{
    const char *start = strstr(info, line);
    const char *end;
    const char *value;

    if (start == NULL)
        return -1;
    if (field == NULL)
        return strtoll(start + strlen(line), NULL, 10);

    end = strchr(start, '\r');
    value = strstr(start, field);
    if (value == NULL || (end != NULL && value > end))
        return -1;
    return strtoll(value + strlen(field), NULL, 10);
}

/* Returns the INFO text of section on a new direct connection, or NULL. */
static char *hr_server_info(const hr_server *server, const char *section)
{
    redisReply *reply = hr_server_command(server, 0, "INFO %s", section);
    char *info = NULL;

    if (reply != NULL && reply->type == REDIS_REPLY_STRING)
        info = strdup(reply->str);
    freeReplyObject(reply);
    return info;
}

/* Returns how many SETs the server rejected without running them, or -1. */
static long long hr_set_rejected_calls(const hr_server *server)
{
    char *info = hr_server_info(server, "commandstats");
    long long rejected = -1;

    if (info != NULL)
        rejected = hr_info_field(info, "cmdstat_set:", "rejected_calls=");
    free(info);
    return rejected;
}

static bool hr_replica_link_up(const hr_server *server)
{
    char *info = hr_server_info(server, "replication");
    bool up = info != NULL && strstr(info, "master_link_status:up") != NULL;

    free(info);
    return up;
}

/* Waits until the replica server has loaded its primary's data set. */
static int hr_wait_link_up(const hr_server *server)
{
    int64_t deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;

    while (!hr_replica_link_up(server)) {
        if (hr_harness_now_ms() >= deadline) {
            fprintf(stderr,
                    "timed out after %d ms waiting for the replica's link\n",
                    HR_SERVER_WAIT_MS);
            return -1;
        }
        hr_harness_sleep_ms(HR_POLL_MS);
    }
    return 0;
}

/* Waits until the server has rejected at least count SETs. */
static int hr_wait_set_rejections(const hr_server *server, long long count)
{
    int64_t deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;
    long long seen;

    while ((seen = hr_set_rejected_calls(server)) < count) {
        if (hr_harness_now_ms() >= deadline) {
            fprintf(stderr,
                    "the server rejected %lld SETs in %d ms, not %lld\n", seen,
                    HR_SERVER_WAIT_MS, count);
            return -1;
        }
        hr_harness_sleep_ms(HR_POLL_MS);
    }
    return 0;
}

/* Appends the hr_workload options that the programs of this file share. */
static int hr_workload_argv(hr_string_list *argv, const hr_server *server,
                            const char *op, int ops, int sleep_ms)
{
    int rc = hr_workload_args(argv, server, false);

    rc |= hr_string_list_add(argv, "--db");
    rc |= hr_string_list_add(argv, "%d", HR_DB);
    rc |= hr_string_list_add(argv, "--op");
    rc |= hr_string_list_add(argv, "%s", op);
    rc |= hr_string_list_add(argv, "--ops");
    rc |= hr_string_list_add(argv, "%d", ops);
    rc |= hr_string_list_add(argv, "--sleep-ms");
    rc |= hr_string_list_add(argv, "%d", sleep_ms);
    rc |= hr_string_list_add(argv, "--timeout-ms");
    rc |= hr_string_list_add(argv, "2000");
    rc |= hr_string_list_add(argv, "--keep-going");
    return rc;
}

/*
 * Appends the shim's environment: HIRETRY_RETRIES=retries, a backoff cap
 * of 100 ms so that retries come often, and a log line per retry. setting
 * is one more HIRETRY_* assignment, or NULL.
 */
static int hr_shim_env(hr_string_list *env, const char *retries,
                       const char *setting)
{
    int rc = hr_preload_env(env, HIRETRY_SHIM_PATH);

    rc |= hr_string_list_add(env, "HIRETRY_RETRIES=%s", retries);
    rc |= hr_string_list_add(env, "HIRETRY_BACKOFF_CAP=100ms");
    rc |= hr_string_list_add(env, "HIRETRY_LOG=info");
    if (setting != NULL)
        rc |= hr_string_list_add(env, "%s", setting);
    return rc;
}

/* ---- READONLY ---- */

/*
 * Starts Q, with a marker key in db 5, and then P, which authenticates to Q
 * when it turns replica. Q starts its full sync at once instead of waiting
 * the default 5 s for more replicas.
 */
static bool hr_start_pair(hr_server *p, hr_server *q)
{
    static const char *const q_args[] = {"--repl-diskless-sync-delay", "0",
                                         NULL};
    static const char *const p_args[] = {"--masterauth", HR_PASSWORD, NULL};
    redisReply *reply;

    if (!hr_start(q, q_args))
        return false;
    reply = hr_server_command(q, HR_DB, "SET %s %s", HR_MARKER_KEY,
                              HR_MARKER_VALUE);
    hr_check_status(reply, "SET on Q");

    if (!hr_start(p, p_args)) {
        HR_ASSERT_INT_EQ(hr_server_stop(q), 0);
        return false;
    }
    return true;
}

static int hr_start_set_program(hr_program *program, const hr_server *server,
                                const char *setting)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_argv(&argv, server, "set", HR_SET_OPS, 5);

    rc |= hr_shim_env(&env, "1000", setting);
    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Checks that P rejects a direct SET with a READONLY reply. */
static void hr_check_set_rejected(const hr_server *p)
{
    redisReply *reply = hr_server_command(p, HR_DB, "SET probe value");
    bool is_error = reply != NULL && reply->type == REDIS_REPLY_ERROR;
    bool readonly = is_error && strncmp(reply->str, HR_READONLY_PREFIX,
                                        strlen(HR_READONLY_PREFIX)) == 0;

    HR_ASSERT_TRUE(is_error);
    HR_ASSERT_TRUE(readonly);
    if (is_error && !readonly)
        fprintf(stderr, "a direct SET on the replica got: %s\n", reply->str);
    freeReplyObject(reply);
}

/*
 * Turns P into a replica of Q in the middle of the program's SETs and back
 * into a primary, then waits for the program. Returns how many SETs P ran
 * before it turned replica, or -1.
 */
static long long hr_run_replica_round(hr_server *p, const hr_server *q,
                                      hr_program *program)
{
    long long set_calls;
    redisReply *reply;

    HR_ASSERT_INT_EQ(hr_server_wait_calls(p, "set",
                                          HR_SET_CALLS_BEFORE_REPLICAOF,
                                          HR_SERVER_WAIT_MS),
                     0);
    reply = hr_server_command(p, 0, "REPLICAOF 127.0.0.1 %d", q->port);
    hr_check_status(reply, "REPLICAOF");
    hr_check_set_rejected(p);

    /* P runs no SET from here until its promotion: it rejects the
     * program's, which INFO counts apart as rejected_calls, and Q sends it
     * none. So this is the count from before REPLICAOF. */
    set_calls = hr_server_command_calls(p, "set");
    HR_ASSERT_INT_EQ(hr_wait_link_up(p), 0);

    /* The program's rejected SETs, on top of the direct one. */
    HR_ASSERT_INT_EQ(hr_wait_set_rejections(p, 1 + HR_READONLY_REJECTIONS), 0);

    reply = hr_server_command(p, 0, "REPLICAOF NO ONE");
    hr_check_status(reply, "REPLICAOF NO ONE");
    HR_ASSERT_INT_EQ(hr_program_wait(program, HR_PROGRAM_TIMEOUT_MS), 0);
    return set_calls;
}

/*
 * Counts the keys key:<i> for first <= i < end in db 5 whose value is not
 * value-<i>, or, when expect_missing is set, that exist at all.
 */
static long long hr_count_unexpected_keys(const hr_server *server,
                                          long long first, long long end,
                                          bool expect_missing)
{
    long long unexpected = 0;

    for (long long i = first; i < end; i++) {
        char key[32];
        char expected[32];
        char *value;
        bool wrong;

        snprintf(key, sizeof(key), "key:%lld", i);
        snprintf(expected, sizeof(expected), "value-%lld", i);
        value = hr_server_get(server, HR_DB, key);
        if (expect_missing)
            wrong = value != NULL;
        else
            wrong = value == NULL || strcmp(value, expected) != 0;
        if (wrong && unexpected == 0)
            fprintf(stderr, "%s is %s, expected %s\n", key,
                    value ? value : "missing",
                    expect_missing ? "missing" : expected);
        unexpected += wrong;
        free(value);
    }
    return unexpected;
}

/*
 * Checks P's data after a round: the full sync dropped every key written
 * before REPLICAOF and brought Q's marker, and the keys written after the
 * promotion are all there.
 */
static void hr_check_replica_data(const hr_server *p, const hr_server *q,
                                  long long set_calls)
{
    char *marker = hr_server_get(p, HR_DB, HR_MARKER_KEY);

    HR_ASSERT_STR_EQ(marker, HR_MARKER_VALUE);
    free(marker);
    HR_ASSERT_INT_EQ(hr_count_unexpected_keys(p, 0, set_calls, true), 0);
    HR_ASSERT_INT_EQ(hr_count_unexpected_keys(p, set_calls, HR_SET_OPS, false),
                     0);
    HR_ASSERT_INT_EQ(hr_server_dbsize(p, HR_DB), HR_SET_OPS - set_calls + 1);
    HR_ASSERT_INT_EQ(hr_server_dbsize(p, 0), 0);

    /* Every SET ran once on P, and none reached Q. */
    HR_ASSERT_INT_EQ(hr_server_command_calls(p, "set"), HR_SET_OPS);
    HR_ASSERT_INT_EQ(hr_server_dbsize(q, HR_DB), 1);
}

/* Stops Q, printing its log first when the test has failed. */
static void hr_stop_primary(hr_server *q, unsigned failures_before)
{
    if (CU_get_number_of_failures() != failures_before)
        hr_server_print_log(q, 20);
    HR_ASSERT_INT_EQ(hr_server_stop(q), 0);
}

/* Runs a replica round with setting and checks that no error reached the
 * program. */
static void hr_check_readonly_retried(const char *setting)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server p;
    hr_server q;
    hr_program program = {0};
    hr_workload_results r;
    long long set_calls;
    long long rejected;

    if (!hr_start_pair(&p, &q))
        return;
    HR_ASSERT_INT_EQ(hr_start_set_program(&program, &p, setting), 0);
    set_calls = hr_run_replica_round(&p, &q, &program);
    hr_workload_results_read(&program, &r);
    rejected = hr_set_rejected_calls(&p);
    fprintf(stderr, "P ran %lld SETs before REPLICAOF and rejected %lld\n",
            set_calls, rejected);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_SET_OPS);
    HR_ASSERT_INT_EQ(r.errors, 0);
    HR_ASSERT_INT_EQ(r.ok, HR_SET_OPS);
    HR_ASSERT_INT_EQ(r.set_acknowledged, HR_SET_OPS);
    HR_ASSERT_STR_EQ(r.first_error, "");

    /* Each rejected SET of the program was retried as ReadOnlyError. A
     * LOADING reply during the sync would also count as a rejection. */
    HR_ASSERT_UINT_IN(
        hr_count_lines_with(program.err, "command=SET class=ReadOnlyError"),
        HR_READONLY_REJECTIONS, rejected - 1);
    HR_ASSERT_INT_EQ(hr_count_lines_with(program.err, "event=give_up"), 0);

    HR_ASSERT_UINT_IN(set_calls, HR_SET_CALLS_BEFORE_REPLICAOF, HR_SET_OPS - 1);
    hr_check_replica_data(&p, &q, set_calls);

    hr_stop_primary(&q, failures);
    hr_test_finish(&p, &program, failures);
}

static void test_states_readonly_retried(void)
{
    hr_check_readonly_retried(NULL);
}

static void test_states_readonly_retried_writes_none(void)
{
    hr_check_readonly_retried("HIRETRY_WRITES=none");
}

/* Without ReadOnlyError in HIRETRY_RETRY_ON the same round reaches the
 * program as READONLY replies, which shows that the checks above can fail. */
static void test_states_readonly_excluded_fails(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server p;
    hr_server q;
    hr_program program = {0};
    hr_workload_results r;
    long long rejected;

    if (!hr_start_pair(&p, &q))
        return;
    HR_ASSERT_INT_EQ(
        hr_start_set_program(&program, &p, "HIRETRY_RETRY_ON=-ReadOnlyError"),
        0);
    hr_run_replica_round(&p, &q, &program);
    hr_workload_results_read(&program, &r);
    rejected = hr_set_rejected_calls(&p);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_SET_OPS);
    HR_ASSERT_INT_EQ(r.ok + r.errors, HR_SET_OPS);
    HR_ASSERT_INT_EQ(r.set_acknowledged, r.ok);
    HR_ASSERT_UINT_IN(r.errors, HR_READONLY_REJECTIONS, rejected - 1);
    HR_ASSERT_INT_EQ(strncmp(r.first_error, "reply: " HR_READONLY_PREFIX,
                             strlen("reply: " HR_READONLY_PREFIX)),
                     0);
    HR_ASSERT_INT_EQ(hr_count_lines_with(program.err, "class=ReadOnlyError"),
                     0);

    hr_stop_primary(&q, failures);
    hr_test_finish(&p, &program, failures);
}

/* ---- Max clients ---- */

/*
 * Opens a direct connection that programs started later do not inherit:
 * hiredis 0.14 creates its sockets without SOCK_CLOEXEC, and a child holding
 * a copy would keep the connection open after the test closes it.
 */
static redisContext *hr_connect_private(const hr_server *server)
{
    redisContext *c = hr_server_connect(server, 0);

    if (c != NULL && fcntl(c->fd, F_SETFD, FD_CLOEXEC) != 0) {
        perror("fcntl FD_CLOEXEC");
        redisFree(c);
        c = NULL;
    }
    HR_ASSERT_TRUE(c != NULL);
    return c;
}

/* Returns the server's count of connections rejected for max clients. */
static long long hr_rejected_connections(redisContext *control)
{
    redisReply *reply = redisCommand(control, "INFO stats");
    long long rejected = -1;

    if (reply != NULL && reply->type == REDIS_REPLY_STRING)
        rejected = hr_info_field(reply->str, "rejected_connections:", NULL);
    freeReplyObject(reply);
    return rejected;
}

/* Waits until the server has rejected at least count connections. */
static int hr_wait_rejected_connections(redisContext *control, long long count)
{
    int64_t deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;
    long long seen;

    while ((seen = hr_rejected_connections(control)) < count) {
        if (hr_harness_now_ms() >= deadline) {
            fprintf(stderr,
                    "the server rejected %lld connections in %d ms, not %lld\n",
                    seen, HR_SERVER_WAIT_MS, count);
            return -1;
        }
        hr_harness_sleep_ms(HR_POLL_MS);
    }
    return 0;
}

static void hr_set_max_clients(redisContext *control, int max_clients)
{
    redisReply *reply =
        redisCommand(control, "CONFIG SET maxclients %d", max_clients);

    hr_check_status(reply, "CONFIG SET maxclients");
}

/*
 * Returns the reply that plain hiredis gets to AUTH on a new connection,
 * to free(), or the context's error when there was no reply.
 */
static char *hr_probe_auth(const hr_server *server)
{
    redisContext *c = redisConnect("127.0.0.1", server->port);
    redisReply *reply = NULL;
    char *text;

    if (c == NULL)
        return strdup("out of memory");
    if (c->err == 0)
        reply = redisCommand(c, "AUTH %s", HR_PASSWORD);
    if (reply != NULL && reply->str != NULL)
        text = strdup(reply->str);
    else
        text = strdup(c->errstr);
    freeReplyObject(reply);
    redisFree(c);
    return text;
}

/* The test's connections to a server that they fill up. */
typedef struct hr_full_server {
    redisContext *control; /* the connection that reads INFO when full */
    redisContext *fillers[HR_FILLERS];
} hr_full_server;

/*
 * Lowers the server's maxclients and fills it with the test's own
 * connections, then checks that a new connection gets the max clients
 * error. Returns false after a failed step.
 */
static bool hr_fill(const hr_server *server, hr_full_server *full)
{
    char *probe;

    memset(full, 0, sizeof(*full));
    full->control = hr_connect_private(server);
    if (full->control == NULL)
        return false;
    hr_set_max_clients(full->control, HR_MAX_CLIENTS);
    for (int i = 0; i < HR_FILLERS; i++) {
        full->fillers[i] = hr_connect_private(server);
        if (full->fillers[i] == NULL)
            return false;
    }

    probe = hr_probe_auth(server);
    HR_ASSERT_STR_EQ(probe, HR_MAX_CLIENTS_ERROR);
    free(probe);
    return true;
}

static void hr_close_fillers(hr_full_server *full)
{
    for (int i = 0; i < HR_FILLERS; i++) {
        redisFree(full->fillers[i]);
        full->fillers[i] = NULL;
    }
}

static void hr_close_all(hr_full_server *full)
{
    hr_close_fillers(full);
    redisFree(full->control);
    full->control = NULL;
}

static int hr_start_incr_program(hr_program *program, const hr_server *server,
                                 const char *retries)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_argv(&argv, server, "incr", HR_INCR_OPS, 2);

    rc |= hr_shim_env(&env, retries, NULL);
    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Returns true while the program runs; reaps it once it has exited. */
static bool hr_program_running(hr_program *program)
{
    if (program->pid == 0)
        return false;
    if (hr_process_wait(program->pid, 0, &program->status) == 1)
        return true;
    program->pid = 0;
    return false;
}

/* Checks an INCR run that no error reached and the counter it left. */
static void hr_check_incr_complete(const hr_server *server,
                                   const hr_program *program, long long ops,
                                   long long extra_incr_max)
{
    hr_workload_results r;
    long long counter = hr_server_get_integer(server, HR_DB, "counter");

    hr_workload_results_read(program, &r);
    HR_ASSERT_INT_EQ(program->status, 0);
    HR_ASSERT_INT_EQ(r.ops, ops);
    HR_ASSERT_INT_EQ(r.errors, 0);
    HR_ASSERT_INT_EQ(r.ok, ops);
    HR_ASSERT_INT_EQ(r.incr_acknowledged, ops);
    HR_ASSERT_STR_EQ(r.first_error, "");
    HR_ASSERT_INT_EQ(r.last_incr_value, counter);
    HR_ASSERT_UINT_IN(counter, r.incr_acknowledged,
                      r.incr_acknowledged + extra_incr_max);
    HR_ASSERT_INT_EQ(hr_server_dbsize(server, 0), 0);
    HR_ASSERT_INT_EQ(hr_count_lines_with(program->err, "event=give_up"), 0);
}

/*
 * The program starts while the server is full, its AUTH gets the max
 * clients error reply, and the shim reconnects and sends AUTH again until
 * the test closes its fillers.
 */
static void test_states_maxclients_auth_retried(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_full_server full = {0};
    long long rejected_before;
    long long rejected;

    if (!hr_start(&server, NULL))
        return;
    if (hr_fill(&server, &full)) {
        rejected_before = hr_rejected_connections(full.control);
        HR_ASSERT_INT_EQ(hr_start_incr_program(&program, &server, "50"), 0);
        HR_ASSERT_INT_EQ(
            hr_wait_rejected_connections(
                full.control, rejected_before + HR_MAX_CLIENTS_REJECTIONS),
            0);
        HR_ASSERT_TRUE(hr_program_running(&program));

        hr_close_fillers(&full);
        HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
        rejected = hr_rejected_connections(full.control) - rejected_before;
        hr_close_all(&full);
        fprintf(stderr, "the server rejected %lld connections\n", rejected);

        hr_check_incr_complete(&server, &program, HR_INCR_OPS, 0);

        /* Every rejected connection was the program's, and each one is
         * one retry of its AUTH. */
        HR_ASSERT_INT_EQ(hr_count_lines_with(
                             program.err, "command=AUTH class=ConnectionError"),
                         rejected);
        HR_ASSERT_UINT_IN(rejected, HR_MAX_CLIENTS_REJECTIONS, HR_INCR_OPS);
    }
    hr_close_all(&full);
    hr_test_finish(&server, &program, failures);
}

/*
 * With HIRETRY_RETRIES=0 the program fails on the first rejection exactly
 * as it does without the shim: its AUTH gets the error reply, and it exits
 * with status 3 (initial connection failed).
 */
static void test_states_maxclients_no_retries_fails(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program plain = {0};
    hr_program program = {0};
    hr_full_server full = {0};
    hr_string_list argv = {0};
    hr_string_list plain_env = {0};
    hr_string_list env = {0};
    long long rejected_before;
    int rc;

    if (!hr_start(&server, NULL))
        return;
    rc = hr_workload_argv(&argv, &server, "incr", HR_INCR_OPS, 2);
    rc |= hr_shim_env(&env, "0", NULL);
    HR_ASSERT_INT_EQ(rc, 0);

    if (rc == 0 && hr_fill(&server, &full)) {
        rejected_before = hr_rejected_connections(full.control);
        hr_program_run(&plain, &argv, &plain_env, HR_PROGRAM_TIMEOUT_MS);
        hr_program_run(&program, &argv, &env, HR_PROGRAM_TIMEOUT_MS);

        HR_ASSERT_INT_EQ(plain.status, 3);
        HR_ASSERT_STR_EQ(plain.err, HR_CONNECT_FAILURE);
        HR_ASSERT_INT_EQ(program.status, 3);
        HR_ASSERT_STR_EQ(program.err, HR_CONNECT_FAILURE);
        HR_ASSERT_INT_EQ(hr_program_integer(&program, "ops"), -1);

        /* One connection each: the shim did not try again. */
        HR_ASSERT_INT_EQ(hr_rejected_connections(full.control),
                         rejected_before + 2);
    }
    hr_close_all(&full);
    if (CU_get_number_of_failures() != failures)
        hr_program_print(&plain, "hr_workload without the shim");
    hr_program_free(&plain);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    hr_test_finish(&server, &program, failures);
}

/* Returns the id of the client named name in CLIENT LIST, or -1. */
static long long hr_client_id(redisContext *control, const char *name)
{
    redisReply *reply = redisCommand(control, "CLIENT LIST");
    char needle[128];
    long long id = -1;

    snprintf(needle, sizeof(needle), " name=%s ", name);
    if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        const char *found = strstr(reply->str, needle);
        const char *line = found;

        while (line != NULL && line > reply->str && line[-1] != '\n')
            line--;
        if (line != NULL && strncmp(line, "id=", 3) == 0)
            id = strtoll(line + 3, NULL, 10);
        else
            fprintf(stderr, "CLIENT LIST:\n%s", reply->str);
    }
    freeReplyObject(reply);
    return id;
}

static int hr_start_named_incr_program(hr_program *program,
                                       const hr_server *server)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_argv(&argv, server, "incr", HR_INCR_OPS, 10);

    rc |= hr_string_list_add(&argv, "--name");
    rc |= hr_string_list_add(&argv, HR_CLIENT_NAME);
    /* The kill may cut an INCR in flight, which only "all" sends again. */
    rc |= hr_shim_env(&env, "50", "HIRETRY_WRITES=all");
    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Kills the connection of the client with id. Returns how many the server
 * killed, or -1. */
static long long hr_kill_client(redisContext *control, long long id)
{
    redisReply *reply = redisCommand(control, "CLIENT KILL ID %lld", id);
    long long killed = -1;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        killed = reply->integer;
    freeReplyObject(reply);
    return killed;
}

/*
 * A running program loses its connection while the server is full: the test
 * lowers maxclients below the three clients it has (its control connection,
 * one filler and the program) and kills the program's connection. The
 * session restore's AUTH then gets the max clients error, and the shim must
 * retry it until the test closes the filler, then restore db 5.
 */
static void test_states_maxclients_session_restore_retried(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_full_server full = {0};
    long long rejected_before;
    long long rejected;

    if (!hr_start(&server, NULL))
        return;
    HR_ASSERT_INT_EQ(hr_start_named_incr_program(&program, &server), 0);
    HR_ASSERT_INT_EQ(
        hr_server_wait_calls(&server, "incr", 50, HR_SERVER_WAIT_MS), 0);
    full.control = hr_connect_private(&server);
    full.fillers[0] = hr_connect_private(&server);

    if (full.control != NULL && full.fillers[0] != NULL) {
        long long id = hr_client_id(full.control, HR_CLIENT_NAME);

        rejected_before = hr_rejected_connections(full.control);
        hr_set_max_clients(full.control, 2);
        HR_ASSERT_INT_EQ(hr_kill_client(full.control, id), 1);
        HR_ASSERT_INT_EQ(
            hr_wait_rejected_connections(
                full.control, rejected_before + HR_MAX_CLIENTS_REJECTIONS),
            0);
        HR_ASSERT_TRUE(hr_program_running(&program));

        hr_close_fillers(&full);
        HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
        rejected = hr_rejected_connections(full.control) - rejected_before;
        hr_close_all(&full);
        fprintf(stderr, "the server rejected %lld connections\n", rejected);

        /* A kill that cuts an INCR after it ran makes "all" run it twice. */
        hr_check_incr_complete(&server, &program, HR_INCR_OPS, 1);
        HR_ASSERT_INT_EQ(
            hr_count_lines_with(program.err, "max number of clients reached"),
            rejected);
        HR_ASSERT_UINT_IN(rejected, HR_MAX_CLIENTS_REJECTIONS, HR_INCR_OPS);
    }
    hr_close_all(&full);
    hr_test_finish(&server, &program, failures);
}

static CU_TestInfo tests[] = {
    {"test_states_readonly_retried", test_states_readonly_retried},
    {"test_states_readonly_retried_writes_none",
     test_states_readonly_retried_writes_none},
    {"test_states_readonly_excluded_fails",
     test_states_readonly_excluded_fails},
    {"test_states_maxclients_auth_retried",
     test_states_maxclients_auth_retried},
    {"test_states_maxclients_no_retries_fails",
     test_states_maxclients_no_retries_fails},
    {"test_states_maxclients_session_restore_retried",
     test_states_maxclients_session_restore_retried},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration server states", tests);
}

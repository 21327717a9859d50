/*
 * Pipelines carried across failures. A program appends commands with
 * redisAppendCommand and its siblings, then reads their replies with
 * redisGetReply; the replies it has not read yet are owed. When the
 * connection breaks while replies are owed, the shim reconnects, restores
 * the session and sends every owed command again, in order, if each may be
 * sent again under HIRETRY_WRITES and the owed bytes fit
 * HIRETRY_PIPELINE_MAX. Otherwise the program gets the failure plain
 * hiredis returns, and its next redisCommand starts on a fresh connection.
 *
 * hr_workload --pipeline 1000 appends 1,000 commands (SET key:<m>,
 * GET key:<m>, INCR counter, in turn, with 1,536-byte values), through all
 * four append functions, and checks each reply: a GET must return the value
 * its SET wrote, and each INCR one more than the previous. It stops before
 * reading reply 150, and the test cuts the connection there: CLIENT KILL,
 * or SIGKILL and a restart with every write fsynced. By then the server has
 * run all 1,000 commands, so every owed command may have run. Over the
 * Unix socket the kernel buffers about 200 KiB of replies (the default
 * socket buffer size, net.core.wmem_default), and the test checks with
 * CLIENT LIST that the server still has replies in its output buffer
 * (omem > 0), so the cut does land in the middle of the replies.
 *
 * hr_script drives the small cases step by step:
 * - a redisCommand on a context with owed replies returns the first owed
 *   reply;
 * - a pipeline appended to a connection the server has already closed;
 * - a cut while CLIENT PAUSE WRITE keeps the pipeline's first write from
 *   running, which gives exact counts.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_DB 5
#define HR_PASSWORD "pipeline-password"
#define HR_CLIENT_NAME "pipeline-client"
#define HR_ECHO "after-pipeline"
#define HR_OPS 1000
#define HR_PAUSE_AT 150
#define HR_VALUE_SIZE 1536
#define HR_LARGE_VALUE_SIZE (32 * 1024)
#define HR_DOWN_MS 500
#define HR_PROGRAM_TIMEOUT_MS 60000
#define HR_RESULT_SIZE 256
#define HR_PATH_SIZE 256

/* The LOADING test: enough keys to keep the server loading for seconds. */
#define HR_POPULATE_KEYS 2000000
#define HR_POPULATE_VALUE_BYTES 100
#define HR_LOAD_WAIT_MS 60000

#define HR_ASSERT_STARTS_WITH(actual, prefix)                                  \
    do {                                                                       \
        const char *hr_s_ = (actual);                                          \
        hr_test_record(strncmp(hr_s_, (prefix), strlen(prefix)) == 0,          \
                       __LINE__, __FILE__, __func__,                           \
                       "%s starts with %s (\"%s\")", #actual, prefix, hr_s_);  \
    } while (0)

/* ---- Servers and the data they hold ---- */

/*
 * Starts a server with a password, a Unix socket and, for a restart test,
 * every write fsynced. idle_timeout_s closes idle clients (0: never).
 */
static bool hr_start(hr_server *server, hr_server_kind kind, bool appendonly,
                     int idle_timeout_s)
{
    hr_server_options options = {
        .kind = kind,
        .password = HR_PASSWORD,
        .unix_socket = true,
        .appendonly = appendonly,
        .idle_timeout_s = idle_timeout_s,
    };
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Checks that a command of the test got a status reply, and frees it. */
static void hr_check_status(redisReply *reply, const char *command)
{
    if (reply != NULL && reply->type != REDIS_REPLY_STATUS)
        fprintf(stderr, "%s: reply type %d: %s\n", command, reply->type,
                reply->str ? reply->str : "");
    HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
}

/* Runs a command without arguments to format in db 5 and checks that it
 * got a status reply. */
#define HR_CHECK_STATUS(server, command)                                       \
    hr_check_status(hr_server_command((server), HR_DB, command), command)

/*
 * Returns the integer field ("omem=") of the program's line in CLIENT LIST,
 * -2 when the program has no connection, or -1 when the query failed.
 */
static long long hr_client_field(const hr_server *server, const char *field)
{
    redisReply *reply = hr_server_command(server, 0, "CLIENT LIST");
    long long value = -1;

    if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        const char *line = strstr(reply->str, "name=" HR_CLIENT_NAME " ");
        const char *found = line ? strstr(line, field) : NULL;

        value = found ? strtoll(found + strlen(field), NULL, 10) : -2;
    }
    freeReplyObject(reply);
    return value;
}

/* Waits until the server has closed the program's connection. */
static int hr_wait_client_gone(const hr_server *server)
{
    int64_t deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;

    while (hr_client_field(server, " omem=") != -2) {
        if (hr_harness_now_ms() >= deadline) {
            fprintf(stderr, "the server kept %s open\n", HR_CLIENT_NAME);
            return -1;
        }
        hr_harness_sleep_ms(50);
    }
    return 0;
}

/* Writes value-<m> padded with '.' to size bytes, as hr_workload does. */
static void hr_expected_value(long long m, int size, char *buf, size_t buf_size)
{
    int len = snprintf(buf, buf_size, "value-%lld", m);

    if (len < size && (size_t)size < buf_size) {
        memset(buf + len, '.', (size_t)(size - len));
        len = size;
    }
    buf[len] = '\0';
}

/* Counts the keys key:<m>, m < sets, in db 5 whose value is not
 * value-<m>. */
static long long hr_count_wrong_keys(const hr_server *server, long long sets,
                                     int value_size)
{
    redisContext *c = hr_server_connect(server, HR_DB);
    size_t size = (size_t)value_size + 32;
    char *expected = malloc(size);
    long long wrong = 0;

    if (c == NULL || expected == NULL) {
        redisFree(c);
        free(expected);
        return -1;
    }
    for (long long m = 0; m < sets; m++) {
        redisReply *reply = redisCommand(c, "GET key:%lld", m);

        hr_expected_value(m, value_size, expected, size);
        if (reply == NULL || reply->type != REDIS_REPLY_STRING ||
            strcmp(reply->str, expected) != 0) {
            if (wrong == 0)
                fprintf(stderr, "key:%lld is %.40s, not %.40s\n", m,
                        reply && reply->str ? reply->str : "missing", expected);
            wrong++;
        }
        freeReplyObject(reply);
    }
    redisFree(c);
    free(expected);
    return wrong;
}

/* ---- hr_workload pipelines ---- */

typedef enum hr_cut {
    HR_CUT_CLIENT_KILL, /* CLIENT KILL of the program's connection */
    HR_CUT_RESTART      /* SIGKILL, then a restart HR_DOWN_MS later */
} hr_cut;

/* One pipeline run of hr_workload and the cut it meets. */
typedef struct hr_case {
    hr_server_kind kind;
    const char *op;           /* "set-get-incr" or "set-get" */
    bool tcp;                 /* TCP, in place of the Unix socket */
    int value_size;           /* SET value bytes */
    bool shim;                /* libhiretry.so preloaded */
    const char *writes;       /* HIRETRY_WRITES; NULL: the default */
    const char *pipeline_max; /* HIRETRY_PIPELINE_MAX; NULL: the default */
    hr_cut cut;
    bool counter_is_list; /* INCR counter replies WRONGTYPE */
} hr_case;

/* How many of the HR_OPS commands of op are SETs, GETs and INCRs. */
typedef struct hr_counts {
    long long sets;
    long long gets;
    long long incrs;
    long long incrs_after_pause; /* INCRs from reply HR_PAUSE_AT on */
} hr_counts;

static hr_counts hr_op_counts(const char *op)
{
    hr_counts counts = {0};

    if (strcmp(op, "set-get") == 0) {
        counts.sets = (HR_OPS + 1) / 2;
        counts.gets = HR_OPS / 2;
        return counts;
    }
    /* Command i is SET when i % 3 is 0, GET when 1 and INCR when 2. */
    counts.sets = (HR_OPS + 2) / 3;
    counts.gets = (HR_OPS + 1) / 3;
    counts.incrs = HR_OPS / 3;
    counts.incrs_after_pause = counts.incrs - (HR_PAUSE_AT + 1) / 3;
    return counts;
}

static int hr_workload_env(hr_string_list *env, const hr_case *c)
{
    int rc = 0;

    if (!c->shim)
        return 0;
    rc |= hr_preload_env(env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(env, "HIRETRY_RETRIES=50");
    rc |= hr_string_list_add(env, "HIRETRY_LOG=info");
    if (c->writes != NULL)
        rc |= hr_string_list_add(env, "HIRETRY_WRITES=%s", c->writes);
    if (c->pipeline_max != NULL)
        rc |=
            hr_string_list_add(env, "HIRETRY_PIPELINE_MAX=%s", c->pipeline_max);
    return rc;
}

/*
 * Starts hr_workload: one pipeline of HR_OPS commands of op in db 5, which
 * stops before reply pause_at until the test creates go.
 */
static int hr_start_workload(hr_program *program, const hr_server *server,
                             const hr_case *c, const char *op,
                             long long pause_at, const char *ready,
                             const char *go)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_args(&argv, server, !c->tcp);

    rc |= hr_string_list_add(&argv, "--db");
    rc |= hr_string_list_add(&argv, "%d", HR_DB);
    rc |= hr_string_list_add(&argv, "--name");
    rc |= hr_string_list_add(&argv, HR_CLIENT_NAME);
    rc |= hr_string_list_add(&argv, "--op");
    rc |= hr_string_list_add(&argv, "%s", op);
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "%d", HR_OPS);
    rc |= hr_string_list_add(&argv, "--pipeline");
    rc |= hr_string_list_add(&argv, "%d", HR_OPS);
    rc |= hr_string_list_add(&argv, "--value-size");
    rc |= hr_string_list_add(&argv, "%d", c->value_size);
    rc |= hr_string_list_add(&argv, "--pause-before-reply");
    rc |= hr_string_list_add(&argv, "%lld", pause_at);
    rc |= hr_string_list_add(&argv, "--ready-file");
    rc |= hr_string_list_add(&argv, "%s", ready);
    rc |= hr_string_list_add(&argv, "--go-file");
    rc |= hr_string_list_add(&argv, "%s", go);
    rc |= hr_string_list_add(&argv, "--timeout-ms");
    rc |= hr_string_list_add(&argv, "10000");
    rc |= hr_string_list_add(&argv, "--keep-going");
    rc |= hr_string_list_add(&argv, "--echo");
    rc |= hr_string_list_add(&argv, HR_ECHO);
    rc |= hr_workload_env(&env, c);

    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Makes the ready and go paths of one run, unique in this process. */
static void hr_pause_paths(char *ready, char *go)
{
    static int runs;

    runs++;
    hr_harness_path(ready, HR_PATH_SIZE, "%s/ready-%d", hr_harness_dir(), runs);
    hr_harness_path(go, HR_PATH_SIZE, "%s/go-%d", hr_harness_dir(), runs);
}

/* Cuts the program's connection: CLIENT KILL, or a crash and a restart. */
static void hr_cut_connection(hr_server *server, hr_cut cut)
{
    if (cut == HR_CUT_CLIENT_KILL) {
        HR_ASSERT_INT_EQ(hr_server_kill_clients(server), 1);
        return;
    }
    HR_ASSERT_INT_EQ(hr_server_kill(server), 0);
    HR_ASSERT_INT_EQ(hr_server_restart_after(server, HR_DOWN_MS), 0);
}

/*
 * Runs c's pipeline and cuts it once the program has read HR_PAUSE_AT
 * replies, the server has run every command and its output buffer still
 * has replies that the kernel had no room for.
 */
static void hr_run_cut(hr_server *server, hr_program *program, const hr_case *c)
{
    hr_counts counts = hr_op_counts(c->op);
    char ready[HR_PATH_SIZE], go[HR_PATH_SIZE];
    long long omem;

    hr_pause_paths(ready, go);
    HR_ASSERT_INT_EQ(
        hr_start_workload(program, server, c, c->op, HR_PAUSE_AT, ready, go),
        0);
    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);

    /* Commands run in order, and the last one is a SET or a GET. */
    HR_ASSERT_INT_EQ(
        hr_server_wait_calls(server, "set", counts.sets, HR_SERVER_WAIT_MS), 0);
    HR_ASSERT_INT_EQ(
        hr_server_wait_calls(server, "get", counts.gets, HR_SERVER_WAIT_MS), 0);
    omem = hr_client_field(server, " omem=");
    fprintf(stderr, "before the cut the server held %lld bytes of replies\n",
            omem);
    HR_ASSERT_UINT_IN(omem, 1, 1LL << 40);

    hr_cut_connection(server, c->cut);
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(program, HR_PROGRAM_TIMEOUT_MS), 0);
    if (c->cut == HR_CUT_RESTART)
        HR_ASSERT_INT_EQ(hr_server_wait_ready(server, HR_SERVER_WAIT_MS), 0);
}

/* The result lines hr_workload_results does not read. */
typedef struct hr_pipeline_results {
    hr_workload_results r;
    long long get_wrong;
    long long incr_gaps;
    long long replies_after_failure;
    char echo[HR_RESULT_SIZE];
} hr_pipeline_results;

static void hr_pipeline_results_read(const hr_program *program,
                                     hr_pipeline_results *results)
{
    hr_workload_results_read(program, &results->r);
    results->get_wrong = hr_program_integer(program, "get_wrong");
    results->incr_gaps = hr_program_integer(program, "incr_gaps");
    results->replies_after_failure =
        hr_program_integer(program, "replies_after_failure");
    if (!hr_program_value(program, "echo", results->echo,
                          sizeof(results->echo)))
        strcpy(results->echo, "missing");
}

/* Checks the keys and the counter after a run in which the server ran
 * every command. extra is how many INCRs ran twice. */
static void hr_check_data(const hr_server *server, const hr_case *c,
                          long long extra)
{
    hr_counts counts = hr_op_counts(c->op);
    long long keys = counts.sets + (counts.incrs > 0 ? 1 : 0);

    HR_ASSERT_INT_EQ(hr_count_wrong_keys(server, counts.sets, c->value_size),
                     0);
    HR_ASSERT_INT_EQ(hr_server_dbsize(server, HR_DB), keys);
    HR_ASSERT_INT_EQ(hr_server_dbsize(server, 0), 0);
    if (counts.incrs > 0 && !c->counter_is_list)
        HR_ASSERT_INT_EQ(hr_server_get_integer(server, HR_DB, "counter"),
                         counts.incrs + extra);
}

/*
 * Checks a pipeline the shim carried over the cut: 1,000 replies, each
 * right for its command, and the ECHO after it.
 */
static void hr_check_carried(const hr_server *server, const hr_program *program,
                             const hr_case *c)
{
    hr_counts counts = hr_op_counts(c->op);
    hr_pipeline_results p;
    long long extra;

    hr_pipeline_results_read(program, &p);
    HR_ASSERT_INT_EQ(program->status, 0);
    HR_ASSERT_INT_EQ(p.r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(p.r.errors, 0);
    HR_ASSERT_INT_EQ(p.r.ok, HR_OPS);
    HR_ASSERT_STR_EQ(p.r.first_error, "");
    HR_ASSERT_INT_EQ(p.r.set_acknowledged, counts.sets);
    HR_ASSERT_INT_EQ(p.r.get_hits, counts.gets);
    HR_ASSERT_INT_EQ(p.r.get_nil, 0);
    HR_ASSERT_INT_EQ(p.get_wrong, 0);
    HR_ASSERT_INT_EQ(p.replies_after_failure, 0);
    HR_ASSERT_INT_EQ(p.r.incr_acknowledged, counts.incrs);
    HR_ASSERT_STR_EQ(p.echo, "string:" HR_ECHO);

    /*
     * Every INCR had run before the cut, so each owed INCR that the shim
     * sent again ran twice. The replies then jump once, at the cut, by the
     * number of INCRs repeated. Only INCRs from reply HR_PAUSE_AT on can
     * have been owed.
     */
    extra = p.r.last_incr_value - p.r.incr_acknowledged;
    fprintf(stderr, "INCRs repeated: %lld\n", extra);
    HR_ASSERT_INT_EQ(p.incr_gaps, extra > 0 ? 1 : 0);
    HR_ASSERT_UINT_IN(extra, 0, counts.incrs_after_pause);
    hr_check_data(server, c, extra);
}

/*
 * Checks a pipeline that failed as in plain hiredis: the replies before
 * the cut, then a transport error for every reply left, and none after.
 * The server ran every command once and none was sent again.
 */
static void hr_check_failed(const hr_server *server, const hr_program *program,
                            const hr_case *c)
{
    hr_pipeline_results p;

    hr_pipeline_results_read(program, &p);
    HR_ASSERT_INT_EQ(program->status, 0);
    HR_ASSERT_INT_EQ(p.r.ops, HR_OPS);
    HR_ASSERT_UINT_IN(p.r.ok, HR_PAUSE_AT, HR_OPS - 1);
    HR_ASSERT_INT_EQ(p.r.errors, HR_OPS - p.r.ok);
    HR_ASSERT_INT_EQ(p.replies_after_failure, 0);
    HR_ASSERT_INT_EQ(p.get_wrong, 0);
    HR_ASSERT_INT_EQ(p.r.get_nil, 0);
    HR_ASSERT_INT_EQ(p.incr_gaps, 0);
    HR_ASSERT_TRUE(strncmp(p.r.first_error, "eof: ", 5) == 0 ||
                   strncmp(p.r.first_error, "io: ", 4) == 0);
    HR_ASSERT_STR_EQ(p.r.last_error, p.r.first_error);

    /* The next redisCommand gets its own reply on a new connection; plain
     * hiredis keeps failing on the broken one. */
    if (c->shim)
        HR_ASSERT_STR_EQ(p.echo, "string:" HR_ECHO);
    else
        HR_ASSERT_STARTS_WITH(p.echo, "failed:");
    hr_check_data(server, c, 0);
}

/* Runs c's pipeline across its cut. carried selects the outcome to check. */
static void hr_pipeline_case(const hr_case *c, bool carried)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};

    if (!hr_start(&server, c->kind, c->cut == HR_CUT_RESTART, 0))
        return;
    hr_run_cut(&server, &program, c);
    if (carried)
        hr_check_carried(&server, &program, c);
    else
        hr_check_failed(&server, &program, c);
    hr_test_finish(&server, &program, failures);
}

static const hr_case hr_mixed_all = {
    .kind = HR_SERVER_VALKEY,
    .op = "set-get-incr",
    .value_size = HR_VALUE_SIZE,
    .shim = true,
    .writes = "all",
};

static void test_pipeline_kill_all_valkey(void)
{
    hr_pipeline_case(&hr_mixed_all, true);
}

static void test_pipeline_kill_all_redis(void)
{
    hr_case c = hr_mixed_all;

    c.kind = HR_SERVER_REDIS;
    hr_pipeline_case(&c, true);
}

static void test_pipeline_restart_all_valkey(void)
{
    hr_case c = hr_mixed_all;

    c.cut = HR_CUT_RESTART;
    hr_pipeline_case(&c, true);
}

static void test_pipeline_restart_all_redis(void)
{
    hr_case c = hr_mixed_all;

    c.kind = HR_SERVER_REDIS;
    c.cut = HR_CUT_RESTART;
    hr_pipeline_case(&c, true);
}

/*
 * Over TCP the kernel buffers megabytes of replies, so the values are larger
 * and the pipeline, about 11 MB of commands, needs a larger limit.
 */
static void test_pipeline_tcp_large_all_valkey(void)
{
    hr_case c = hr_mixed_all;

    c.tcp = true;
    c.value_size = HR_LARGE_VALUE_SIZE;
    c.pipeline_max = "64MiB";
    hr_pipeline_case(&c, true);
}

/* SET and GET may be sent again under the default HIRETRY_WRITES=safe. */
static void test_pipeline_restart_safe_set_get(void)
{
    hr_case c = hr_mixed_all;

    c.op = "set-get";
    c.writes = NULL;
    c.cut = HR_CUT_RESTART;
    hr_pipeline_case(&c, true);
}

/* An owed INCR that may have run stops the repeat under safe. */
static void test_pipeline_kill_safe_incr_fails(void)
{
    hr_case c = hr_mixed_all;

    c.writes = "safe";
    hr_pipeline_case(&c, false);
}

/* Under none nothing that may have run is sent again, not even GET. */
static void test_pipeline_kill_none_fails(void)
{
    hr_case c = hr_mixed_all;

    c.op = "set-get";
    c.writes = "none";
    hr_pipeline_case(&c, false);
}

static void test_pipeline_max_zero_fails(void)
{
    hr_case c = hr_mixed_all;

    c.op = "set-get";
    c.pipeline_max = "0";
    hr_pipeline_case(&c, false);
}

/* The set-get pipeline is about 800 KB of commands. */
static void test_pipeline_max_below_size_fails(void)
{
    hr_case c = hr_mixed_all;

    c.op = "set-get";
    c.pipeline_max = "256KiB";
    hr_pipeline_case(&c, false);
}

static void test_pipeline_plain_kill_fails(void)
{
    hr_case c = hr_mixed_all;

    c.shim = false;
    hr_pipeline_case(&c, false);
}

static void test_pipeline_plain_restart_fails(void)
{
    hr_case c = hr_mixed_all;

    c.shim = false;
    c.cut = HR_CUT_RESTART;
    hr_pipeline_case(&c, false);
}

/*
 * INCR on a list replies WRONGTYPE. Those error replies, before and after
 * the cut, reach the program as they are: the shim retries none of them.
 */
static void test_pipeline_error_replies_delivered(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_case c = hr_mixed_all;
    hr_counts counts = hr_op_counts(c.op);
    hr_server server;
    hr_program program = {0};
    hr_pipeline_results p;
    redisReply *reply;

    c.counter_is_list = true;
    if (!hr_start(&server, c.kind, false, 0))
        return;
    reply = hr_server_command(&server, HR_DB, "RPUSH counter item");
    HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_INTEGER);
    freeReplyObject(reply);

    hr_run_cut(&server, &program, &c);
    hr_pipeline_results_read(&program, &p);
    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(p.r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(p.r.errors, counts.incrs);
    HR_ASSERT_INT_EQ(p.r.ok, counts.sets + counts.gets);
    HR_ASSERT_INT_EQ(p.r.incr_acknowledged, 0);
    HR_ASSERT_INT_EQ(p.r.set_acknowledged, counts.sets);
    HR_ASSERT_INT_EQ(p.r.get_hits, counts.gets);
    HR_ASSERT_INT_EQ(p.get_wrong, 0);
    HR_ASSERT_INT_EQ(p.replies_after_failure, 0);
    HR_ASSERT_STARTS_WITH(p.r.first_error, "reply: WRONGTYPE");
    HR_ASSERT_STARTS_WITH(p.r.last_error, "reply: WRONGTYPE");
    HR_ASSERT_STR_EQ(p.echo, "string:" HR_ECHO);
    HR_ASSERT_TRUE(strstr(program.err, "WRONGTYPE") == NULL);

    hr_check_data(&server, &c, 0);
    reply = hr_server_command(&server, HR_DB, "LLEN counter");
    HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
                   reply->integer == 1);
    freeReplyObject(reply);
    hr_test_finish(&server, &program, failures);
}

/* ---- A pipeline appended to a connection the server closed ---- */

/*
 * Runs 1,000 INCRs in one pipeline over TCP and closes the program's
 * connection after the appends, before the first redisGetReply: with
 * CLIENT KILL, or with the server's idle timeout when idle_timeout_s > 0.
 * The appended bytes are still in hiredis's output buffer, so no INCR can
 * have run, and the shim must send them all, once, on a new connection.
 */
static void hr_idle_closed(bool shim, int idle_timeout_s)
{
    unsigned failures = CU_get_number_of_failures();
    hr_case c = {.op = "incr", .tcp = true, .shim = shim};
    char ready[HR_PATH_SIZE], go[HR_PATH_SIZE];
    hr_server server;
    hr_program program = {0};
    hr_pipeline_results p;

    if (!hr_start(&server, HR_SERVER_VALKEY, false, idle_timeout_s))
        return;
    hr_pause_paths(ready, go);
    HR_ASSERT_INT_EQ(
        hr_start_workload(&program, &server, &c, "incr", 0, ready, go), 0);
    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
    if (idle_timeout_s > 0)
        HR_ASSERT_INT_EQ(hr_wait_client_gone(&server), 0);
    else
        HR_ASSERT_INT_EQ(hr_server_kill_clients(&server), 1);
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    hr_pipeline_results_read(&program, &p);
    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(p.r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(p.replies_after_failure, 0);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);
    if (shim) {
        HR_ASSERT_INT_EQ(p.r.errors, 0);
        HR_ASSERT_INT_EQ(p.r.incr_acknowledged, HR_OPS);
        HR_ASSERT_INT_EQ(p.r.last_incr_value, HR_OPS);
        HR_ASSERT_INT_EQ(p.incr_gaps, 0);
        HR_ASSERT_STR_EQ(p.echo, "string:" HR_ECHO);
        HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "counter"),
                         HR_OPS);
        HR_ASSERT_INT_EQ(hr_server_command_calls(&server, "incr"), HR_OPS);
    } else {
        /* Plain hiredis writes the pipeline into the closed connection. */
        HR_ASSERT_INT_EQ(p.r.errors, HR_OPS);
        HR_ASSERT_STARTS_WITH(p.echo, "failed:");
        HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "counter"), 0);
    }
    hr_test_finish(&server, &program, failures);
}

static void test_pipeline_idle_kill_incr_carried(void)
{
    hr_idle_closed(true, 0);
}

static void test_pipeline_idle_timeout_incr_carried(void)
{
    hr_idle_closed(true, 1);
}

static void test_pipeline_plain_idle_kill_fails(void)
{
    hr_idle_closed(false, 0);
}

/* ---- hr_script steps ---- */

/* Steps replaced by @touch:<ready> and @wait:<go>. */
#define HR_STEP_READY "@touch"
#define HR_STEP_GO "@wait"

/* Starts hr_script with the steps, preloaded when shim is true. */
static int hr_start_script(hr_program *program, const hr_server *server,
                           bool shim, const char *writes,
                           const char *const *steps, const char *ready,
                           const char *go)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_script_args(&argv, server, 10000);

    for (const char *const *step = steps; *step != NULL; step++) {
        if (strcmp(*step, HR_STEP_READY) == 0)
            rc |= hr_string_list_add(&argv, "@touch:%s", ready);
        else if (strcmp(*step, HR_STEP_GO) == 0)
            rc |= hr_string_list_add(&argv, "@wait:%s", go);
        else
            rc |= hr_string_list_add(&argv, "%s", *step);
    }
    if (shim) {
        rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
        rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=50");
        rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
        if (writes != NULL)
            rc |= hr_string_list_add(&env, "HIRETRY_WRITES=%s", writes);
    }
    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* The step results of one hr_script run. */
#define HR_STEPS_MAX 16

typedef struct hr_steps {
    char result[HR_STEPS_MAX + 1][HR_RESULT_SIZE]; /* by step number */
} hr_steps;

static void hr_steps_read(const hr_program *program, hr_steps *steps)
{
    for (int i = 1; i <= HR_STEPS_MAX; i++) {
        char key[16];

        snprintf(key, sizeof(key), "step%d", i);
        if (!hr_program_value(program, key, steps->result[i], HR_RESULT_SIZE))
            strcpy(steps->result[i], "missing");
    }
}

/* Waits until the program has printed text. */
static int hr_wait_output(const hr_program *program, const char *text)
{
    int64_t deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;

    for (;;) {
        char *out = hr_harness_read_file(program->out_path);
        bool found = out != NULL && strstr(out, text) != NULL;

        free(out);
        if (found)
            return 0;
        if (hr_harness_now_ms() >= deadline)
            break;
        hr_harness_sleep_ms(10);
    }
    fprintf(stderr, "the program did not print %s\n", text);
    return -1;
}

static void test_pipeline_command_reads_first_owed(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "@append:SET k v1",
        "@append:GET k",
        "PING",
        "@getreply",
        "@getreply",
        NULL,
    };
    hr_steps results[2];

    for (int shim = 0; shim <= 1; shim++) {
        unsigned failures = CU_get_number_of_failures();
        hr_server server;
        hr_program program = {0};
        char *value;

        if (!hr_start(&server, HR_SERVER_VALKEY, false, 0))
            return;
        HR_ASSERT_INT_EQ(
            hr_start_script(&program, &server, shim, NULL, steps, NULL, NULL),
            0);
        HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
        hr_steps_read(&program, &results[shim]);

        value = hr_server_get(&server, 0, "k");
        HR_ASSERT_STR_EQ(value, "v1");
        free(value);
        hr_test_finish(&server, &program, failures);
    }

    /* hiredis's redisCommand returns the first reply owed: SET's. */
    for (int shim = 0; shim <= 1; shim++) {
        HR_ASSERT_STR_EQ(results[shim].result[4], "status:OK");
        HR_ASSERT_STR_EQ(results[shim].result[5], "string:v1");
        HR_ASSERT_STR_EQ(results[shim].result[6], "status:PONG");
    }
}

/*
 * AUTH and SELECT, a SET and an INCR appended, then CLIENT KILL before
 * anything is written, then PING with redisCommand, which returns the SET's
 * reply, and the two replies left.
 */
static void hr_first_owed_idle_kill(bool shim, hr_steps *results)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:SET k v1",
        "@append:INCR counter",
        HR_STEP_READY,
        HR_STEP_GO,
        "PING",
        "@getreply",
        "@getreply",
        "GET k",
        NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    char ready[HR_PATH_SIZE], go[HR_PATH_SIZE];
    hr_server server;
    hr_program program = {0};

    if (!hr_start(&server, HR_SERVER_VALKEY, false, 0))
        return;
    hr_pause_paths(ready, go);
    HR_ASSERT_INT_EQ(
        hr_start_script(&program, &server, shim, NULL, steps, ready, go), 0);
    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
    HR_ASSERT_INT_EQ(hr_server_kill_clients(&server), 1);
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    hr_steps_read(&program, results);
    HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "counter"),
                     shim ? 1 : 0);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);
    hr_test_finish(&server, &program, failures);
}

static void test_pipeline_command_first_owed_idle_kill(void)
{
    hr_steps plain, shimmed;

    hr_first_owed_idle_kill(false, &plain);
    hr_first_owed_idle_kill(true, &shimmed);

    HR_ASSERT_STARTS_WITH(plain.result[7], "failed:");
    HR_ASSERT_STR_EQ(shimmed.result[7], "status:OK");
    HR_ASSERT_STR_EQ(shimmed.result[8], "integer:1");
    HR_ASSERT_STR_EQ(shimmed.result[9], "status:PONG");
    HR_ASSERT_STR_EQ(shimmed.result[10], "string:v1");
}

/*
 * Runs the steps in hr_script against a server with k0=v0 in db 5. At the
 * go step the test pauses the server's writes (CLIENT PAUSE WRITE), so the
 * pipeline that follows runs up to its first write and waits there. Once
 * the program has printed the result of step read_step, the test kills its
 * connection and lets the server go on. Every command from that first
 * write on was written, so for all the program can tell it may have run,
 * but none ran.
 */
static void hr_cut_while_paused(bool shim, const char *writes,
                                const char *const *steps, int read_step,
                                hr_steps *results, long long *counter)
{
    unsigned failures = CU_get_number_of_failures();
    char ready[HR_PATH_SIZE], go[HR_PATH_SIZE], printed[32];
    hr_server server;
    hr_program program = {0};

    *counter = -1;
    if (!hr_start(&server, HR_SERVER_VALKEY, false, 0))
        return;
    HR_CHECK_STATUS(&server, "SET k0 v0");
    hr_pause_paths(ready, go);
    HR_ASSERT_INT_EQ(
        hr_start_script(&program, &server, shim, writes, steps, ready, go), 0);
    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
    HR_CHECK_STATUS(&server, "CLIENT PAUSE 30000 WRITE");
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);

    /* The step after read_step writes its command at once; whether it
     * reaches the server before the kill does not change the outcome. */
    snprintf(printed, sizeof(printed), "step%d.ms=", read_step);
    HR_ASSERT_INT_EQ(hr_wait_output(&program, printed), 0);
    hr_harness_sleep_ms(200);
    HR_ASSERT_INT_EQ(hr_server_kill_clients(&server), 1);
    HR_CHECK_STATUS(&server, "CLIENT UNPAUSE");
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    hr_steps_read(&program, results);
    *counter = hr_server_get_integer(&server, HR_DB, "counter");
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);
    hr_test_finish(&server, &program, failures);
}

/* A pipeline of a GET, which runs, then SET and GET, which wait. */
static const char *const hr_set_get_steps[] = {
    "AUTH " HR_PASSWORD,
    "SELECT 5",
    HR_STEP_READY,
    HR_STEP_GO,
    "@append:GET k0",
    "@append:SET k v1",
    "@append:GET k",
    "@getreply",
    "PING",
    "@getreply",
    "@getreply",
    "GET k",
    NULL,
};

/* A pipeline of a GET, which runs, then INCR and GET, which wait. */
static const char *const hr_incr_steps[] = {
    "AUTH " HR_PASSWORD,
    "SELECT 5",
    HR_STEP_READY,
    HR_STEP_GO,
    "@append:GET k0",
    "@append:INCR counter",
    "@append:GET k0",
    "@getreply",
    "PING",
    "@getreply",
    "@getreply",
    "GET counter",
    NULL,
};

static void test_pipeline_command_first_owed_cut(void)
{
    hr_steps plain, shimmed;
    long long counter;

    hr_cut_while_paused(false, NULL, hr_set_get_steps, 8, &plain, &counter);
    hr_cut_while_paused(true, NULL, hr_set_get_steps, 8, &shimmed, &counter);

    HR_ASSERT_STR_EQ(plain.result[8], "string:v0");
    HR_ASSERT_STARTS_WITH(plain.result[9], "failed:");
    HR_ASSERT_STR_EQ(shimmed.result[8], "string:v0");
    HR_ASSERT_STR_EQ(shimmed.result[9], "status:OK");
    HR_ASSERT_STR_EQ(shimmed.result[10], "string:v1");
    HR_ASSERT_STR_EQ(shimmed.result[11], "status:PONG");
    HR_ASSERT_STR_EQ(shimmed.result[12], "string:v1");
}

/* Under all the owed INCR is sent again, and since it had not run, the
 * counter ends at exactly 1. */
static void test_pipeline_command_cut_incr_all(void)
{
    hr_steps shimmed;
    long long counter;

    hr_cut_while_paused(true, "all", hr_incr_steps, 8, &shimmed, &counter);

    HR_ASSERT_STR_EQ(shimmed.result[8], "string:v0");
    HR_ASSERT_STR_EQ(shimmed.result[9], "integer:1");
    HR_ASSERT_STR_EQ(shimmed.result[10], "string:v0");
    HR_ASSERT_STR_EQ(shimmed.result[11], "status:PONG");
    HR_ASSERT_STR_EQ(shimmed.result[12], "string:1");
    HR_ASSERT_INT_EQ(counter, 1);
}

/*
 * Under safe the owed INCR may have run. So the read fails as in plain
 * hiredis, the reads of the replies left fail too, and the next
 * redisCommand gets its own reply on a new connection.
 */
static void test_pipeline_command_cut_incr_safe_fails(void)
{
    hr_steps plain, shimmed;
    long long plain_counter, counter;

    hr_cut_while_paused(false, NULL, hr_incr_steps, 8, &plain, &plain_counter);
    hr_cut_while_paused(true, "safe", hr_incr_steps, 8, &shimmed, &counter);

    HR_ASSERT_STR_EQ(plain.result[8], "string:v0");
    HR_ASSERT_STARTS_WITH(plain.result[9], "failed:");
    HR_ASSERT_STR_EQ(shimmed.result[8], "string:v0");
    HR_ASSERT_STR_EQ(shimmed.result[9], plain.result[9]);
    HR_ASSERT_STARTS_WITH(shimmed.result[10], "failed:");
    HR_ASSERT_STARTS_WITH(shimmed.result[11], "failed:");
    HR_ASSERT_STARTS_WITH(plain.result[12], "failed:");
    HR_ASSERT_STR_EQ(shimmed.result[12], "nil");
    HR_ASSERT_INT_EQ(plain_counter, 0);
    HR_ASSERT_INT_EQ(counter, 0);
}

/* ---- LOADING replies to a pipeline ---- */

/*
 * Fills db 1 and saves it to the server's dump.rdb, which the server loads
 * when it starts again, because the harness turns the AOF off. The steps
 * can outlast the harness's 5 s timeout on a busy machine.
 */
static int hr_fill_and_save(const hr_server *server)
{
    static const struct timeval timeout = {HR_LOAD_WAIT_MS / 1000, 0};
    redisContext *c = hr_server_connect(server, 1);
    int rc = -1;

    if (c != NULL && redisSetTimeout(c, timeout) == REDIS_OK) {
        hr_check_status(redisCommand(c, "DEBUG POPULATE %d key %d",
                                     HR_POPULATE_KEYS, HR_POPULATE_VALUE_BYTES),
                        "DEBUG POPULATE");
        hr_check_status(redisCommand(c, "SELECT %d", HR_DB), "SELECT");
        hr_check_status(redisCommand(c, "SET fixed loading-value"), "SET");
        hr_check_status(redisCommand(c, "SAVE"), "SAVE");
        rc = c->err ? -1 : 0;
    }
    redisFree(c);
    return rc;
}

/* Returns true when a new connection gets LOADING in reply to PING. */
static bool hr_server_loading(const hr_server *server)
{
    redisContext *c = redisConnect("127.0.0.1", server->port);
    redisReply *reply = NULL;
    bool loading = false;

    /* The server checks AUTH before it replies LOADING. */
    if (c != NULL && c->err == 0)
        freeReplyObject(redisCommand(c, "AUTH %s", server->password));
    if (c != NULL && c->err == 0)
        reply = redisCommand(c, "PING");
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        loading = strncmp(reply->str, "LOADING", 7) == 0;
    freeReplyObject(reply);
    redisFree(c);
    return loading;
}

static int hr_wait_loading(const hr_server *server)
{
    int64_t deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;

    while (!hr_server_loading(server)) {
        if (hr_harness_now_ms() >= deadline) {
            fprintf(stderr, "the server never replied LOADING\n");
            return -1;
        }
        hr_harness_sleep_ms(5);
    }
    return 0;
}

/*
 * A pipeline sent while the restarted server loads its data set gets
 * LOADING replies, which the program must see as they are, while its next
 * redisCommand is retried through the loading as usual.
 */
static void test_pipeline_loading_delivered(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD, "SELECT 5",
        "@append:GET fixed", "@append:INCR counter",
        "@append:SET k v1",  "@getreply",
        "@getreply",         "@getreply",
        "GET fixed",         NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    hr_steps results;
    char *k;
    int rc;

    if (!hr_start(&server, HR_SERVER_VALKEY, false, 0))
        return;
    HR_ASSERT_INT_EQ(hr_fill_and_save(&server), 0);

    HR_ASSERT_INT_EQ(hr_server_kill(&server), 0);
    HR_ASSERT_INT_EQ(hr_server_restart_after(&server, 0), 0);
    HR_ASSERT_INT_EQ(hr_wait_loading(&server), 0);

    rc = hr_script_args(&argv, &server, 10000);
    for (const char *const *step = steps; *step != NULL; step++)
        rc |= hr_string_list_add(&argv, "%s", *step);
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=-1");
    rc |= hr_string_list_add(&env, "HIRETRY_BACKOFF_CAP=200ms");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    HR_ASSERT_INT_EQ(hr_server_wait_ready(&server, HR_LOAD_WAIT_MS), 0);

    /* The server runs AUTH and SELECT while it loads. */
    hr_steps_read(&program, &results);
    HR_ASSERT_STR_EQ(results.result[1], "status:OK");
    HR_ASSERT_STR_EQ(results.result[2], "status:OK");
    for (int step = 6; step <= 8; step++)
        HR_ASSERT_STARTS_WITH(results.result[step], "error:LOADING");
    HR_ASSERT_STR_EQ(results.result[9], "string:loading-value");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "counter"), 0);
    k = hr_server_get(&server, HR_DB, "k");
    HR_ASSERT_TRUE(k == NULL);
    free(k);
    hr_test_finish(&server, &program, failures);
}

static CU_TestInfo tests[] = {
    {"test_pipeline_kill_all_valkey", test_pipeline_kill_all_valkey},
    {"test_pipeline_kill_all_redis", test_pipeline_kill_all_redis},
    {"test_pipeline_restart_all_valkey", test_pipeline_restart_all_valkey},
    {"test_pipeline_restart_all_redis", test_pipeline_restart_all_redis},
    {"test_pipeline_tcp_large_all_valkey", test_pipeline_tcp_large_all_valkey},
    {"test_pipeline_restart_safe_set_get", test_pipeline_restart_safe_set_get},
    {"test_pipeline_kill_safe_incr_fails", test_pipeline_kill_safe_incr_fails},
    {"test_pipeline_kill_none_fails", test_pipeline_kill_none_fails},
    {"test_pipeline_max_zero_fails", test_pipeline_max_zero_fails},
    {"test_pipeline_max_below_size_fails", test_pipeline_max_below_size_fails},
    {"test_pipeline_plain_kill_fails", test_pipeline_plain_kill_fails},
    {"test_pipeline_plain_restart_fails", test_pipeline_plain_restart_fails},
    {"test_pipeline_error_replies_delivered",
     test_pipeline_error_replies_delivered},
    {"test_pipeline_idle_kill_incr_carried",
     test_pipeline_idle_kill_incr_carried},
    {"test_pipeline_idle_timeout_incr_carried",
     test_pipeline_idle_timeout_incr_carried},
    {"test_pipeline_plain_idle_kill_fails",
     test_pipeline_plain_idle_kill_fails},
    {"test_pipeline_command_reads_first_owed",
     test_pipeline_command_reads_first_owed},
    {"test_pipeline_command_first_owed_idle_kill",
     test_pipeline_command_first_owed_idle_kill},
    {"test_pipeline_command_first_owed_cut",
     test_pipeline_command_first_owed_cut},
    {"test_pipeline_command_cut_incr_all", test_pipeline_command_cut_incr_all},
    {"test_pipeline_command_cut_incr_safe_fails",
     test_pipeline_command_cut_incr_safe_fails},
    {"test_pipeline_loading_delivered", test_pipeline_loading_delivered},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration pipeline", tests);
}

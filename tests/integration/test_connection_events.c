/*
 * Connections that the server closes while it keeps running, with
 * hr_workload and libhiretry.so preloaded against a real valkey-server:
 * CLIENT KILL of the program's connection in the middle of a SET or GET
 * loop, and the server's idle timeout closing the connection between two
 * INCRs. No error may reach the program, and the session (AUTH, SELECT 5,
 * CLIENT SETNAME) must be restored on every new connection.
 */
#include "harness.h"
#include "hr_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_DB 5
#define HR_PASSWORD "events-password"
#define HR_CLIENT_NAME "events-client"
#define HR_OPS 300
#define HR_KILLS 3
#define HR_CALLS_BETWEEN_KILLS 60
#define HR_PROGRAM_TIMEOUT_MS 30000

/* The idle test: the server closes clients idle for 1 s, and the program
 * sleeps longer than that between its INCRs. */
#define HR_IDLE_TIMEOUT_S 1
#define HR_IDLE_SLEEP_MS 2500
#define HR_IDLE_OPS 4

/* The SIGPIPE test: SETs large enough to be cut in the middle of writing. */
#define HR_LARGE_VALUE_BYTES 20000000
#define HR_LARGE_KILLS 10

static bool hr_start(hr_server *server, int idle_timeout_s)
{
    hr_server_options options = {
        .kind = HR_SERVER_VALKEY,
        .password = HR_PASSWORD,
        .idle_timeout_s = idle_timeout_s,
    };
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Starts hr_workload with the shim: op in db 5 under a client name. */
static int hr_start_program(hr_program *program, const hr_server *server,
                            const char *op, int ops, int sleep_ms,
                            const char *setting)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_args(&argv, server, false);

    rc |= hr_string_list_add(&argv, "--db");
    rc |= hr_string_list_add(&argv, "%d", HR_DB);
    rc |= hr_string_list_add(&argv, "--name");
    rc |= hr_string_list_add(&argv, HR_CLIENT_NAME);
    rc |= hr_string_list_add(&argv, "--op");
    rc |= hr_string_list_add(&argv, "%s", op);
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "%d", ops);
    rc |= hr_string_list_add(&argv, "--sleep-ms");
    rc |= hr_string_list_add(&argv, "%d", sleep_ms);
    rc |= hr_string_list_add(&argv, "--timeout-ms");
    rc |= hr_string_list_add(&argv, "2000");
    rc |= hr_string_list_add(&argv, "--keep-going");

    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=50");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    if (setting != NULL)
        rc |= hr_string_list_add(&env, "%s", setting);

    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Returns true when CLIENT LIST shows a client with the program's name in
 * db 5, which only a restored session has. */
static bool hr_program_session_listed(const hr_server *server)
{
    redisReply *reply = hr_server_command(server, 0, "CLIENT LIST");
    bool listed = false;

    if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        const char *line = strstr(reply->str, "name=" HR_CLIENT_NAME " ");

        listed = line != NULL && strstr(line, " db=5 ") != NULL;
        if (!listed)
            fprintf(stderr, "CLIENT LIST:\n%s", reply->str);
    }
    freeReplyObject(reply);
    return listed;
}

/*
 * Runs op while killing the program's connection HR_KILLS times, each after
 * another HR_CALLS_BETWEEN_KILLS commands, and checks that the program
 * came back with its session after each kill.
 */
static void hr_run_with_kills(hr_server *server, hr_program *program,
                              const char *op)
{
    HR_ASSERT_INT_EQ(hr_start_program(program, server, op, HR_OPS, 5, NULL), 0);

    for (int kill = 1; kill <= HR_KILLS; kill++) {
        long long calls = (long long)kill * HR_CALLS_BETWEEN_KILLS;

        HR_ASSERT_INT_EQ(
            hr_server_wait_calls(server, op, calls, HR_SERVER_WAIT_MS), 0);
        HR_ASSERT_TRUE(hr_program_session_listed(server));
        HR_ASSERT_UINT_IN(hr_server_kill_clients(server), 1, 100);
    }

    /* The program reconnected after the last kill. */
    HR_ASSERT_INT_EQ(
        hr_server_wait_calls(server, op, HR_KILLS * HR_CALLS_BETWEEN_KILLS + 10,
                             HR_SERVER_WAIT_MS),
        0);
    HR_ASSERT_TRUE(hr_program_session_listed(server));
    HR_ASSERT_INT_EQ(hr_program_wait(program, HR_PROGRAM_TIMEOUT_MS), 0);
}

static void hr_check_no_error(const hr_program *program,
                              const hr_workload_results *r, long long ops)
{
    HR_ASSERT_INT_EQ(program->status, 0);
    HR_ASSERT_INT_EQ(r->ops, ops);
    HR_ASSERT_INT_EQ(r->errors, 0);
    HR_ASSERT_INT_EQ(r->ok, ops);
    HR_ASSERT_STR_EQ(r->first_error, "");
}

static void test_events_client_kill_set(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    long long wrong = 0;

    if (!hr_start(&server, 0))
        return;
    hr_run_with_kills(&server, &program, "set");
    hr_workload_results_read(&program, &r);

    hr_check_no_error(&program, &r, HR_OPS);
    HR_ASSERT_INT_EQ(r.set_acknowledged, HR_OPS);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, HR_DB), HR_OPS);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);

    for (int i = 0; i < HR_OPS; i++) {
        char key[32];
        char expected[32];
        char *value;

        snprintf(key, sizeof(key), "key:%d", i);
        snprintf(expected, sizeof(expected), "value-%d", i);
        value = hr_server_get(&server, HR_DB, key);
        if (value == NULL || strcmp(value, expected) != 0)
            wrong++;
        free(value);
    }
    HR_ASSERT_INT_EQ(wrong, 0);

    hr_test_finish(&server, &program, failures);
}

static void test_events_client_kill_get(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    redisReply *reply;

    if (!hr_start(&server, 0))
        return;

    /* Only db 5 has the key, so a GET after a restore that lost SELECT
     * would reply nil. */
    reply = hr_server_command(&server, HR_DB, "SET fixed events-value");
    HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);

    hr_run_with_kills(&server, &program, "get");
    hr_workload_results_read(&program, &r);

    hr_check_no_error(&program, &r, HR_OPS);
    HR_ASSERT_INT_EQ(r.get_hits, HR_OPS);
    HR_ASSERT_INT_EQ(r.get_nil, 0);

    hr_test_finish(&server, &program, failures);
}

/*
 * Runs 20 MB SETs with SIGPIPE at its default action while the test kills
 * the program's connection every 100 ms. The server drops the unread rest
 * of a SET, so the kernel replies to the next write with a reset, and the
 * write after that raises SIGPIPE. Returns the program's exit status.
 */
static int hr_run_large_sets_with_kills(hr_server *server, hr_program *program,
                                        bool shim)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_args(&argv, server, false);

    rc |= hr_string_list_add(&argv, "--db");
    rc |= hr_string_list_add(&argv, "%d", HR_DB);
    rc |= hr_string_list_add(&argv, "--op");
    rc |= hr_string_list_add(&argv, "set");
    rc |= hr_string_list_add(&argv, "--value-size");
    rc |= hr_string_list_add(&argv, "%d", HR_LARGE_VALUE_BYTES);
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "0");
    rc |= hr_string_list_add(&argv, "--seconds");
    rc |= hr_string_list_add(&argv, "2");
    rc |= hr_string_list_add(&argv, "--keep-sigpipe");
    if (shim) {
        rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
        rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=50");
    }
    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    HR_ASSERT_INT_EQ(rc, 0);

    for (int kill = 0; rc == 0 && kill < HR_LARGE_KILLS; kill++) {
        hr_harness_sleep_ms(100);
        hr_server_kill_clients(server);
    }
    hr_program_wait(program, HR_PROGRAM_TIMEOUT_MS);
    return program->status;
}

static void test_events_large_set_sigpipe(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program plain = {0};
    hr_program shimmed = {0};
    hr_workload_results r;

    if (!hr_start(&server, 0))
        return;

    /* Without the shim the program dies of the signal. */
    HR_ASSERT_INT_EQ(hr_run_large_sets_with_kills(&server, &plain, false),
                     128 + SIGPIPE);
    hr_program_free(&plain);

    HR_ASSERT_INT_EQ(hr_run_large_sets_with_kills(&server, &shimmed, true), 0);
    hr_workload_results_read(&shimmed, &r);
    HR_ASSERT_UINT_IN(r.ok, 1, 100000);
    HR_ASSERT_INT_EQ(r.errors, 0);

    hr_test_finish(&server, &shimmed, failures);
}

/*
 * INCR is not repeat-safe, so under the default HIRETRY_WRITES=safe only
 * the idle check before the write can save it: the shim must see the
 * closed connection before sending, reconnect and send INCR once.
 */
static void test_events_idle_timeout_incr(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    long long before;
    long long after;

    if (!hr_start(&server, HR_IDLE_TIMEOUT_S))
        return;
    before = hr_server_info_integer(&server, "total_connections_received");
    HR_ASSERT_INT_EQ(hr_start_program(&program, &server, "incr", HR_IDLE_OPS,
                                      HR_IDLE_SLEEP_MS, NULL),
                     0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    after = hr_server_info_integer(&server, "total_connections_received");
    hr_workload_results_read(&program, &r);

    hr_check_no_error(&program, &r, HR_IDLE_OPS);
    HR_ASSERT_INT_EQ(r.incr_acknowledged, HR_IDLE_OPS);
    HR_ASSERT_INT_EQ(r.last_incr_value, HR_IDLE_OPS);
    HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "counter"),
                     HR_IDLE_OPS);

    /* The server did close the idle connection: the program connected once
     * per INCR, and the second INFO query was one more connection. Without
     * the closes the difference would be 2. */
    fprintf(stderr, "total_connections_received went from %lld to %lld\n",
            before, after);
    HR_ASSERT_UINT_IN(after - before, HR_IDLE_OPS + 1, HR_IDLE_OPS + 20);

    hr_test_finish(&server, &program, failures);
}

/*
 * The same idle closes with the idle check pushed past the pauses: each
 * INCR after one is written into the closed connection, may have run, and
 * fails under HIRETRY_WRITES=safe. This shows what the check buys.
 */
static void test_events_idle_check_setting(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;

    if (!hr_start(&server, HR_IDLE_TIMEOUT_S))
        return;
    HR_ASSERT_INT_EQ(hr_start_program(&program, &server, "incr", HR_IDLE_OPS,
                                      HR_IDLE_SLEEP_MS,
                                      "HIRETRY_IDLE_CHECK=3600s"),
                     0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    hr_workload_results_read(&program, &r);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_UINT_IN(r.errors, 1, HR_IDLE_OPS);
    HR_ASSERT_TRUE(strstr(program.err, "reason=unsafe") != NULL);
    HR_ASSERT_TRUE(strstr(program.err, "event=closed_while_idle") == NULL);
    hr_test_finish(&server, &program, failures);
}

static CU_TestInfo tests[] = {
    {"test_events_client_kill_set", test_events_client_kill_set},
    {"test_events_client_kill_get", test_events_client_kill_get},
    {"test_events_idle_timeout_incr", test_events_idle_timeout_incr},
    {"test_events_large_set_sigpipe", test_events_large_set_sigpipe},
    {"test_events_idle_check_setting", test_events_idle_check_setting},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration connection events", tests);
}

/*
 * Edges of the retry policy, with hr_workload and libhiretry.so preloaded
 * against a real valkey-server: HIRETRY_RETRIES=0 and HIRETRY_DISABLE=1 make
 * the shim a pass-through, HIRETRY_DEADLINE bounds a call even with
 * unlimited retries, a password rejected during the session restore stops
 * at once without logging the password, and a program started before its
 * server connects once the server comes up.
 */
#include "harness.h"
#include "hr_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_DB 5
#define HR_PASSWORD "edges-password-alpha"
#define HR_NEW_PASSWORD "edges-password-beta"
#define HR_CALLS_BEFORE_KILL 30
#define HR_DOWN_MS 300
#define HR_PROGRAM_TIMEOUT_MS 30000

/* HIRETRY_DEADLINE in these tests, and the bound on one failing call: the
 * deadline plus slack for a loaded machine. */
#define HR_DEADLINE "300ms"
#define HR_CALL_BOUND_MS 1500

/* The longest a program may keep failing after its password was changed. */
#define HR_AUTH_FAILURE_BOUND_MS 2500

static bool hr_start(hr_server *server, const char *password)
{
    hr_server_options options = {
        .kind = HR_SERVER_VALKEY,
        .password = password,
    };
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Builds an hr_workload command line that runs op in db 5 with
 * --keep-going, so that the program never opens a context of its own. */
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

/*
 * Runs INCR with --keep-going across a crash with the shim set to pass
 * through by setting: the program must fail like plain hiredis in
 * test_baseline, and never send a command to the restarted server.
 */
static void hr_check_pass_through(const char *setting)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    hr_workload_results r;
    int rc;

    if (!hr_start(&server, HR_PASSWORD))
        return;
    rc = hr_workload_argv(&argv, &server, "incr", 300, 5);
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "%s", setting);
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    HR_ASSERT_INT_EQ(rc, 0);

    rc = hr_run_across_restart(&server, &program, &argv, &env, "incr",
                               HR_CALLS_BEFORE_KILL, HR_DOWN_MS,
                               HR_PROGRAM_TIMEOUT_MS);
    HR_ASSERT_INT_EQ(rc, 0);
    hr_workload_results_read(&program, &r);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.ops, 300);
    HR_ASSERT_INT_EQ(r.ok + r.errors, r.ops);
    HR_ASSERT_UINT_IN(r.errors, 1, 300);
    HR_ASSERT_INT_EQ(hr_server_command_calls(&server, "incr"), 0);

    /* A pass-through shim neither retries nor logs. */
    HR_ASSERT_INT_EQ(hr_count_lines_with(program.err, "hiretry:"), 0);

    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    hr_test_finish(&server, &program, failures);
}

static void test_policy_retries_zero_passes_through(void)
{
    hr_check_pass_through("HIRETRY_RETRIES=0");
}

static void test_policy_disable_passes_through(void)
{
    hr_check_pass_through("HIRETRY_DISABLE=1");
}

/*
 * Runs hr_workload --ops 1 against the port of a killed server with
 * HIRETRY_RETRIES=-1, with the deadline or without. Returns the wall time
 * in milliseconds until the program exited or timeout_ms passed.
 */
static int64_t hr_run_connect_dead(hr_server *server, hr_program *program,
                                   const char *deadline, int timeout_ms)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int64_t start;
    int rc = hr_workload_argv(&argv, server, "get", 1, 0);

    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=-1");
    if (deadline != NULL)
        rc |= hr_string_list_add(&env, "HIRETRY_DEADLINE=%s", deadline);
    HR_ASSERT_INT_EQ(rc, 0);

    start = hr_harness_now_ms();
    hr_program_run(program, &argv, &env, timeout_ms);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return hr_harness_now_ms() - start;
}

static void test_policy_deadline_bounds_connect(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program unbounded = {0};
    hr_program program = {0};
    int64_t elapsed_ms;

    if (!hr_start(&server, NULL))
        return;
    HR_ASSERT_INT_EQ(hr_server_kill(&server), 0);

    /* Without a deadline, unlimited retries keep the connect waiting, so
     * the bound below comes from HIRETRY_DEADLINE. */
    hr_run_connect_dead(&server, &unbounded, NULL, HR_CALL_BOUND_MS + 500);
    HR_ASSERT_TRUE(unbounded.timed_out);
    hr_program_free(&unbounded);

    elapsed_ms = hr_run_connect_dead(&server, &program, HR_DEADLINE,
                                     HR_PROGRAM_TIMEOUT_MS);
    fprintf(stderr, "connect with a %s deadline failed after %lld ms\n",
            HR_DEADLINE, (long long)elapsed_ms);
    HR_ASSERT_TRUE(!program.timed_out);
    HR_ASSERT_INT_EQ(program.status, 3);
    HR_ASSERT_UINT_IN(elapsed_ms, 0, HR_CALL_BOUND_MS);

    /* The shim skips a sleep that would reach the deadline and gives up
     * early, so the log, not the time, shows that the deadline ended it. */
    HR_ASSERT_UINT_IN(hr_count_lines_with(program.err, "reason=deadline"), 1,
                      1000000);

    hr_test_finish(&server, &program, failures);
}

/*
 * A connected program loops on GET; the server is killed and stays down.
 * Every remaining GET must fail within the deadline plus slack although
 * HIRETRY_RETRIES=-1.
 */
static void test_policy_deadline_bounds_command(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    hr_workload_results r;
    int64_t killed_at;
    int64_t elapsed_ms;
    int rc;

    if (!hr_start(&server, NULL))
        return;
    rc = hr_workload_argv(&argv, &server, "get", HR_CALLS_BEFORE_KILL + 8, 10);
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=-1");
    rc |= hr_string_list_add(&env, "HIRETRY_DEADLINE=%s", HR_DEADLINE);
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    HR_ASSERT_INT_EQ(rc, 0);

    HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);
    HR_ASSERT_INT_EQ(hr_server_wait_calls(&server, "get", HR_CALLS_BEFORE_KILL,
                                          HR_SERVER_WAIT_MS),
                     0);
    HR_ASSERT_INT_EQ(hr_server_kill(&server), 0);
    killed_at = hr_harness_now_ms();
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    elapsed_ms = hr_harness_now_ms() - killed_at;
    hr_workload_results_read(&program, &r);

    fprintf(stderr, "%lld GETs failed in %lld ms after the kill\n", r.errors,
            (long long)elapsed_ms);
    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_UINT_IN(r.errors, 1, 8);
    HR_ASSERT_UINT_IN(elapsed_ms, 0, r.errors * HR_CALL_BOUND_MS);

    /* The shim did retry inside the deadline before giving up. */
    HR_ASSERT_UINT_IN(hr_count_lines_with(program.err, "event=retry"), r.errors,
                      1000000);

    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    hr_test_finish(&server, &program, failures);
}

/* Changes the server's password and disconnects every other client, from
 * one direct connection authenticated with the old password. */
static void hr_change_password(const hr_server *server)
{
    redisContext *c = hr_server_connect(server, 0);
    redisReply *reply;

    HR_ASSERT_TRUE(c != NULL);
    if (c == NULL)
        return;

    reply = redisCommand(c, "CONFIG SET requirepass %s", HR_NEW_PASSWORD);
    HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);

    reply = redisCommand(c, "CLIENT KILL TYPE normal");
    HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_INTEGER);
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        HR_ASSERT_UINT_IN(reply->integer, 1, 100);
    freeReplyObject(reply);
    redisFree(c);
}

static void test_policy_wrongpass_stops_restore(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    hr_workload_results r;
    int64_t changed_at;
    int64_t elapsed_ms;
    int rc;

    if (!hr_start(&server, HR_PASSWORD))
        return;
    rc = hr_workload_argv(&argv, &server, "get", HR_CALLS_BEFORE_KILL + 60, 5);
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=-1");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    HR_ASSERT_INT_EQ(rc, 0);

    HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);
    HR_ASSERT_INT_EQ(hr_server_wait_calls(&server, "get", HR_CALLS_BEFORE_KILL,
                                          HR_SERVER_WAIT_MS),
                     0);
    hr_change_password(&server);
    changed_at = hr_harness_now_ms();
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    elapsed_ms = hr_harness_now_ms() - changed_at;
    hr_workload_results_read(&program, &r);

    fprintf(stderr, "%lld GETs failed in %lld ms after the password change\n",
            r.errors, (long long)elapsed_ms);
    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_UINT_IN(r.errors, 1, 60);
    HR_ASSERT_UINT_IN(elapsed_ms, 0, HR_AUTH_FAILURE_BOUND_MS);

    /* The restore's AUTH was rejected and logged, by class only. */
    HR_ASSERT_UINT_IN(hr_count_lines_with(program.err, "AuthenticationError"),
                      1, 1000000);
    HR_ASSERT_TRUE(strstr(program.err, HR_PASSWORD) == NULL);
    HR_ASSERT_TRUE(strstr(program.err, HR_NEW_PASSWORD) == NULL);

    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    hr_test_finish(&server, &program, failures);
}

/* The program starts while nothing listens on the port and the server comes
 * up a second later: the shim retries the initial connect. */
static void test_policy_connect_waits_for_server(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    hr_workload_results r;
    int rc;

    if (!hr_start(&server, HR_PASSWORD))
        return;
    HR_ASSERT_INT_EQ(hr_server_kill(&server), 0);

    rc = hr_workload_argv(&argv, &server, "set", 50, 0);
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=50");
    HR_ASSERT_INT_EQ(rc, 0);

    HR_ASSERT_INT_EQ(hr_server_restart_after(&server, 1000), 0);
    HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);
    HR_ASSERT_INT_EQ(hr_server_wait_ready(&server, 1000 + HR_SERVER_WAIT_MS),
                     0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    hr_workload_results_read(&program, &r);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.ops, 50);
    HR_ASSERT_INT_EQ(r.errors, 0);
    HR_ASSERT_INT_EQ(r.set_acknowledged, 50);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, HR_DB), 50);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);

    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    hr_test_finish(&server, &program, failures);
}

/*
 * After the restore's AUTH is rejected, a program that authenticates again
 * on the same context gets its whole session back: its AUTH goes first on
 * a bare connection, then the shim selects db 5 again. A command sent
 * before the new AUTH fails instead of running in db 0.
 */
static void test_policy_new_auth_restores_rest(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char ready[256], go[256], value[256];
    int rc;

    if (!hr_start(&server, HR_PASSWORD))
        return;
    hr_harness_path(ready, sizeof(ready), "%s/auth-ready", hr_harness_dir());
    hr_harness_path(go, sizeof(go), "%s/auth-go", hr_harness_dir());
    rc = hr_script_args(&argv, &server, 2000);
    rc |= hr_string_list_add(&argv, "AUTH %s", HR_PASSWORD);
    rc |= hr_string_list_add(&argv, "SELECT 5");
    rc |= hr_string_list_add(&argv, "SET a 1");
    rc |= hr_string_list_add(&argv, "@touch:%s", ready);
    rc |= hr_string_list_add(&argv, "@wait:%s", go);
    rc |= hr_string_list_add(&argv, "SET early 1");
    rc |= hr_string_list_add(&argv, "AUTH %s", HR_NEW_PASSWORD);
    rc |= hr_string_list_add(&argv, "SET b 2");
    rc |= hr_string_list_add(&argv, "GET a");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);

    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
    hr_change_password(&server);
    free(server.password);
    server.password = strdup(HR_NEW_PASSWORD);
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    HR_ASSERT_TRUE(hr_program_value(&program, "step6", value, sizeof(value)));
    HR_ASSERT_TRUE(strncmp(value, "failed:", 7) == 0);
    HR_ASSERT_TRUE(hr_program_value(&program, "step7", value, sizeof(value)));
    HR_ASSERT_STR_EQ(value, "status:OK");
    HR_ASSERT_TRUE(hr_program_value(&program, "step8", value, sizeof(value)));
    HR_ASSERT_STR_EQ(value, "status:OK");
    HR_ASSERT_TRUE(hr_program_value(&program, "step9", value, sizeof(value)));
    HR_ASSERT_STR_EQ(value, "string:1");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&server, 5, "b"), 2);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);
    HR_ASSERT_TRUE(strstr(program.err, HR_NEW_PASSWORD) == NULL);
    hr_test_finish(&server, &program, failures);
}

/*
 * A server that accepts connections and never replies (stopped with
 * SIGSTOP) after the program's connection was killed: the reconnect's own
 * AUTH must time out like the program's commands, so HIRETRY_DEADLINE
 * bounds the call instead of the call waiting for the server to resume.
 */
static void test_policy_deadline_bounds_hung_restore(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char ready[256], go[256], value[256];
    long long ms;
    int rc;

    if (!hr_start(&server, HR_PASSWORD))
        return;
    hr_harness_path(ready, sizeof(ready), "%s/hung-ready", hr_harness_dir());
    hr_harness_path(go, sizeof(go), "%s/hung-go", hr_harness_dir());
    rc = hr_script_args(&argv, &server, 300);
    rc |= hr_string_list_add(&argv, "AUTH %s", HR_PASSWORD);
    rc |= hr_string_list_add(&argv, "PING");
    rc |= hr_string_list_add(&argv, "@touch:%s", ready);
    rc |= hr_string_list_add(&argv, "@wait:%s", go);
    rc |= hr_string_list_add(&argv, "GET x");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=-1");
    rc |= hr_string_list_add(&env, "HIRETRY_DEADLINE=1s");
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);

    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
    redisReply *killed =
        hr_server_command(&server, 0, "CLIENT KILL TYPE normal");
    freeReplyObject(killed);
    HR_ASSERT_INT_EQ(kill(server.pid, SIGSTOP), 0);
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    rc = hr_program_wait(&program, 10000);
    HR_ASSERT_INT_EQ(kill(server.pid, SIGCONT), 0);
    HR_ASSERT_INT_EQ(rc, 0);

    HR_ASSERT_TRUE(hr_program_value(&program, "step5", value, sizeof(value)));
    HR_ASSERT_TRUE(strncmp(value, "failed:", 7) == 0);
    ms = hr_program_integer(&program, "step5.ms");
    HR_ASSERT_UINT_IN(ms, 300, 2500);
    hr_test_finish(&server, &program, failures);
}

static CU_TestInfo tests[] = {
    {"test_policy_retries_zero_passes_through",
     test_policy_retries_zero_passes_through},
    {"test_policy_disable_passes_through", test_policy_disable_passes_through},
    {"test_policy_deadline_bounds_connect",
     test_policy_deadline_bounds_connect},
    {"test_policy_deadline_bounds_command",
     test_policy_deadline_bounds_command},
    {"test_policy_new_auth_restores_rest", test_policy_new_auth_restores_rest},
    {"test_policy_deadline_bounds_hung_restore",
     test_policy_deadline_bounds_hung_restore},
    {"test_policy_wrongpass_stops_restore",
     test_policy_wrongpass_stops_restore},
    {"test_policy_connect_waits_for_server",
     test_policy_connect_waits_for_server},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration policy edges", tests);
}

/*
 * Programs whose own error handling never recovers without the shim (see
 * test_baseline.c): one keeps calling commands on its failed context, the
 * other calls redisReconnect() after each failure and never sends AUTH or
 * SELECT again. HIRETRY_RETRIES=1 lets the outage, longer than the retries,
 * reach the program as errors; once the server is back, the shim must
 * carry both programs on with their session: INCRs land in db 5 again and
 * nothing lands in db 0. hr_script then calls redisReconnect() at chosen
 * moments: with the server back, and with the server still down.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <string.h>

#define HR_OPS 400
#define HR_DB 5
#define HR_PASSWORD "recovery-password"
#define HR_CALLS_BEFORE_KILL 50
#define HR_DOWN_MS 1500
#define HR_PROGRAM_TIMEOUT_MS 60000

static bool hr_start_valkey(hr_server *server)
{
    hr_server_options options = {
        .kind = HR_SERVER_VALKEY,
        .password = HR_PASSWORD,
        .appendonly = true,
    };
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Runs INCR in db 5 with the shim across a crash that outlasts its one
 * retry. on_error is --keep-going or --reconnect. */
static int hr_run_incr(hr_server *server, hr_program *program,
                       const char *on_error)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_args(&argv, server, false);

    rc |= hr_string_list_add(&argv, "--db");
    rc |= hr_string_list_add(&argv, "%d", HR_DB);
    rc |= hr_string_list_add(&argv, "--op");
    rc |= hr_string_list_add(&argv, "incr");
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "%d", HR_OPS);
    rc |= hr_string_list_add(&argv, "--sleep-ms");
    rc |= hr_string_list_add(&argv, "5");
    rc |= hr_string_list_add(&argv, "--timeout-ms");
    rc |= hr_string_list_add(&argv, "2000");
    rc |= hr_string_list_add(&argv, "%s", on_error);

    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=1");

    if (rc == 0)
        rc = hr_run_across_restart(server, program, &argv, &env, "incr",
                                   HR_CALLS_BEFORE_KILL, HR_DOWN_MS,
                                   HR_PROGRAM_TIMEOUT_MS);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* The checks both programs share. */
static void hr_check_recovered(const hr_server *server,
                               const hr_program *program)
{
    hr_workload_results r;
    long long counter = hr_server_get_integer(server, HR_DB, "counter");

    hr_workload_results_read(program, &r);
    HR_ASSERT_INT_EQ(program->status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(r.ok + r.errors, r.ops);
    HR_ASSERT_INT_EQ(r.incr_acknowledged, r.ok);

    /* The outage reached the program, and the program came back: the
     * restarted server ran INCRs, the last one acknowledged. */
    HR_ASSERT_UINT_IN(r.errors, 1, HR_OPS - HR_CALLS_BEFORE_KILL - 1);
    HR_ASSERT_UINT_IN(hr_server_command_calls(server, "incr"), 1, HR_OPS);
    HR_ASSERT_INT_EQ(r.last_incr_value, counter);
    HR_ASSERT_TRUE(strstr(r.last_error, "NOAUTH") == NULL);

    /* Under HIRETRY_WRITES=safe an INCR is sent again only when it cannot
     * have run, so each error hides at most one INCR that ran. */
    HR_ASSERT_UINT_IN(counter, r.incr_acknowledged,
                      r.incr_acknowledged + r.errors);
    HR_ASSERT_INT_EQ(hr_server_dbsize(server, 0), 0);
}

static void test_recovery_keep_going(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};

    if (!hr_start_valkey(&server))
        return;
    HR_ASSERT_INT_EQ(hr_run_incr(&server, &program, "--keep-going"), 0);
    hr_check_recovered(&server, &program);
    hr_test_finish(&server, &program, failures);
}

static void test_recovery_own_reconnect_keeps_session(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};

    if (!hr_start_valkey(&server))
        return;
    HR_ASSERT_INT_EQ(hr_run_incr(&server, &program, "--reconnect"), 0);
    hr_check_recovered(&server, &program);
    hr_test_finish(&server, &program, failures);
}

#define HR_RESULT_SIZE 256

/*
 * Runs hr_script: AUTH, SELECT 5 and INCR, then, once the test has killed
 * the server, redisReconnect() twice and INCR. The server comes back
 * down_ms after the kill; with server_back_first, the test waits for it
 * before it lets the program go on. Stores the results of the second
 * redisReconnect and of the last INCR.
 */
static void hr_reconnect_after_crash(bool shim, int down_ms,
                                     bool server_back_first,
                                     char *reconnect_result, char *incr_result)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char ready[256], go[256];
    int rc;

    strcpy(reconnect_result, "missing");
    strcpy(incr_result, "missing");
    if (!hr_start_valkey(&server))
        return;
    hr_harness_path(ready, sizeof(ready), "%s/ready-%d-%d", hr_harness_dir(),
                    shim, server_back_first);
    hr_harness_path(go, sizeof(go), "%s/go-%d-%d", hr_harness_dir(), shim,
                    server_back_first);

    rc = hr_script_args(&argv, &server, 2000);
    rc |= hr_string_list_add(&argv, "AUTH %s", HR_PASSWORD);
    rc |= hr_string_list_add(&argv, "SELECT %d", HR_DB);
    rc |= hr_string_list_add(&argv, "INCR counter");
    rc |= hr_string_list_add(&argv, "@touch:%s", ready);
    rc |= hr_string_list_add(&argv, "@wait:%s", go);
    rc |= hr_string_list_add(&argv, "@reconnect");
    rc |= hr_string_list_add(&argv, "@reconnect");
    rc |= hr_string_list_add(&argv, "INCR counter");
    if (shim) {
        rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
        rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=50");
    }
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);

    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
    HR_ASSERT_INT_EQ(hr_server_kill(&server), 0);
    HR_ASSERT_INT_EQ(hr_server_restart_after(&server, down_ms), 0);
    if (server_back_first)
        HR_ASSERT_INT_EQ(hr_server_wait_ready(&server, HR_SERVER_WAIT_MS), 0);
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    HR_ASSERT_INT_EQ(hr_server_wait_ready(&server, HR_SERVER_WAIT_MS), 0);

    if (!hr_program_value(&program, "step7", reconnect_result, HR_RESULT_SIZE))
        strcpy(reconnect_result, "missing");
    if (!hr_program_value(&program, "step8", incr_result, HR_RESULT_SIZE))
        strcpy(incr_result, "missing");
    if (strcmp(incr_result, "integer:2") == 0) {
        HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "counter"), 2);
        HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);
    }
    hr_test_finish(&server, &program, failures);
}

static void test_recovery_reconnect_restores_session(void)
{
    char plain_reconnect[HR_RESULT_SIZE], plain_incr[HR_RESULT_SIZE];
    char reconnect[HR_RESULT_SIZE], incr[HR_RESULT_SIZE];

    hr_reconnect_after_crash(false, 0, true, plain_reconnect, plain_incr);
    hr_reconnect_after_crash(true, 0, true, reconnect, incr);

    /* Plain hiredis reconnects without the session. */
    HR_ASSERT_STR_EQ(plain_reconnect, "ok");
    HR_ASSERT_TRUE(strncmp(plain_incr, "error:NOAUTH", 12) == 0);
    HR_ASSERT_STR_EQ(reconnect, "ok");
    HR_ASSERT_STR_EQ(incr, "integer:2");
}

static void test_recovery_reconnect_waits_for_server(void)
{
    char plain_reconnect[HR_RESULT_SIZE], plain_incr[HR_RESULT_SIZE];
    char reconnect[HR_RESULT_SIZE], incr[HR_RESULT_SIZE];

    hr_reconnect_after_crash(false, 1000, false, plain_reconnect, plain_incr);
    hr_reconnect_after_crash(true, 1000, false, reconnect, incr);

    /* Plain hiredis meets the dead server. The shim retries the connect
     * until the server is back. */
    HR_ASSERT_TRUE(strncmp(plain_reconnect, "failed:", 7) == 0);
    HR_ASSERT_STR_EQ(reconnect, "ok");
    HR_ASSERT_STR_EQ(incr, "integer:2");
}

static CU_TestInfo tests[] = {
    {"test_recovery_keep_going", test_recovery_keep_going},
    {"test_recovery_own_reconnect_keeps_session",
     test_recovery_own_reconnect_keeps_session},
    {"test_recovery_reconnect_restores_session",
     test_recovery_reconnect_restores_session},
    {"test_recovery_reconnect_waits_for_server",
     test_recovery_reconnect_waits_for_server},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration program recovery", tests);
}

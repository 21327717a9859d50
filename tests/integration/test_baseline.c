/*
 * Baseline without the shim: hr_workload, a plain hiredis program, runs INCR
 * with AUTH and SELECT 5 against a real valkey-server that the test kills
 * with SIGKILL and starts again in the middle of the run. The program sees
 * errors, and what it does next decides whether it recovers: with its
 * broken context it fails to the end, after redisReconnect() it has lost
 * AUTH or SELECT, and only a program that opens a new context with a full
 * handshake works again. Every test also checks that the counter on the
 * server agrees with the INCR replies the program received, the invariant
 * that the shim tests rely on.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdlib.h>
#include <string.h>

#define HR_OPS 400
#define HR_DB 5
#define HR_PASSWORD "baseline-password"
#define HR_CALLS_BEFORE_KILL 50
#define HR_DOWN_MS 300
#define HR_PROGRAM_TIMEOUT_MS 60000

/* Starts valkey-server with every write fsynced, or fails the test. */
static bool hr_start_valkey(hr_server *server, const char *password)
{
    hr_server_options options = {
        .kind = HR_SERVER_VALKEY,
        .password = password,
        .appendonly = true,
    };
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Runs INCR in db 5 across a server crash. on_error is a workload flag such
 * as --keep-going, or NULL for the default. */
static int hr_run_incr(hr_server *server, hr_program *program,
                       const char *on_error)
{
    hr_string_list argv = {0};
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
    if (on_error != NULL)
        rc |= hr_string_list_add(&argv, "%s", on_error);

    if (rc == 0)
        rc = hr_run_across_restart(server, program, &argv, NULL, "incr",
                                   HR_CALLS_BEFORE_KILL, HR_DOWN_MS,
                                   HR_PROGRAM_TIMEOUT_MS);
    hr_string_list_free(&argv);
    return rc;
}

static void test_baseline_keep_going_never_recovers(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;

    if (!hr_start_valkey(&server, HR_PASSWORD))
        return;
    HR_ASSERT_INT_EQ(hr_run_incr(&server, &program, "--keep-going"), 0);
    hr_workload_results_read(&program, &r);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(r.ok + r.errors, r.ops);
    HR_ASSERT_UINT_IN(r.errors, 1, HR_OPS);
    HR_ASSERT_INT_EQ(r.incr_acknowledged, r.ok);
    HR_ASSERT_INT_EQ(r.last_incr_value, r.incr_acknowledged);

    /* hiredis 0.14 keeps the context's error set, so after the first
     * failure no command reaches the server again: the restarted server
     * runs no INCR, and only the command cut by the kill may have run
     * without a reply. */
    HR_ASSERT_INT_EQ(hr_server_command_calls(&server, "incr"), 0);
    HR_ASSERT_UINT_IN(hr_server_get_integer(&server, HR_DB, "counter"),
                      r.incr_acknowledged, r.incr_acknowledged + 1);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);

    hr_test_finish(&server, &program, failures);
}

static void test_baseline_new_context_recovers(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    long long counter;

    if (!hr_start_valkey(&server, HR_PASSWORD))
        return;
    HR_ASSERT_INT_EQ(hr_run_incr(&server, &program, NULL), 0);
    hr_workload_results_read(&program, &r);
    counter = hr_server_get_integer(&server, HR_DB, "counter");

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(r.ok + r.errors, r.ops);
    HR_ASSERT_UINT_IN(r.errors, 1, HR_OPS);
    HR_ASSERT_INT_EQ(r.incr_acknowledged, r.ok);

    /* Connection attempts fail while the server is down and no INCR runs
     * then, so errors bounds the INCRs that ran without a reply. */
    HR_ASSERT_UINT_IN(counter, r.incr_acknowledged,
                      r.incr_acknowledged + r.errors);
    HR_ASSERT_INT_EQ(r.last_incr_value, counter);
    HR_ASSERT_UINT_IN(hr_server_command_calls(&server, "incr"), 1, HR_OPS);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);

    hr_test_finish(&server, &program, failures);
}

static void test_baseline_reconnect_loses_select(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    long long counter_db0;
    long long counter_db5;

    if (!hr_start_valkey(&server, NULL))
        return;
    HR_ASSERT_INT_EQ(hr_run_incr(&server, &program, "--reconnect"), 0);
    hr_workload_results_read(&program, &r);
    counter_db0 = hr_server_get_integer(&server, 0, "counter");
    counter_db5 = hr_server_get_integer(&server, HR_DB, "counter");

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(r.ok + r.errors, r.ops);
    HR_ASSERT_UINT_IN(r.errors, 1, HR_OPS);

    /* redisReconnect() opens a new connection in db 0, so the INCRs after
     * the restart land there. */
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 1);
    HR_ASSERT_UINT_IN(counter_db0, 1, r.incr_acknowledged);
    HR_ASSERT_INT_EQ(r.last_incr_value, counter_db0);
    HR_ASSERT_UINT_IN(counter_db0 + counter_db5, r.incr_acknowledged,
                      r.incr_acknowledged + r.errors);

    hr_test_finish(&server, &program, failures);
}

static void test_baseline_reconnect_loses_auth(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    char error_code[16];

    if (!hr_start_valkey(&server, HR_PASSWORD))
        return;
    HR_ASSERT_INT_EQ(hr_run_incr(&server, &program, "--reconnect"), 0);
    hr_workload_results_read(&program, &r);
    snprintf(error_code, sizeof(error_code), "%.13s", r.last_error);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(r.ok + r.errors, r.ops);
    HR_ASSERT_INT_EQ(r.incr_acknowledged, r.ok);

    /* After redisReconnect() the new connection never sent AUTH, so every
     * INCR gets a NOAUTH error reply and runs nowhere. */
    HR_ASSERT_STR_EQ(error_code, "reply: NOAUTH");
    HR_ASSERT_UINT_IN(hr_server_get_integer(&server, HR_DB, "counter"),
                      r.incr_acknowledged, r.incr_acknowledged + 1);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);

    hr_test_finish(&server, &program, failures);
}

static CU_TestInfo tests[] = {
    {"test_baseline_keep_going_never_recovers",
     test_baseline_keep_going_never_recovers},
    {"test_baseline_new_context_recovers", test_baseline_new_context_recovers},
    {"test_baseline_reconnect_loses_select",
     test_baseline_reconnect_loses_select},
    {"test_baseline_reconnect_loses_auth", test_baseline_reconnect_loses_auth},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration baseline", tests);
}

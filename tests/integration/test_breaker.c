/*
 * The circuit breaker's states, seen through the log: hr_workload runs GET
 * with libhiretry.so preloaded, HIRETRY_BREAKER_FAILURES=3 and a 300 ms
 * cool-down against a real valkey-server that the test kills and starts
 * again two seconds later. While the server is down the circuit must
 * open, and calls must fail fast with "hiretry: circuit open for
 * ENDPOINT". Probes must go through after each cool-down. Once the server
 * is back, a probe must close the circuit and the program must run GET
 * again. With
 * the breaker off, as by default, no circuit event may appear.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_DOWN_MS 2000
#define HR_PROGRAM_SECONDS 6
#define HR_PROGRAM_TIMEOUT_MS 30000
#define HR_CALLS_BEFORE_KILL 50

static int hr_start_program(hr_program *program, const hr_server *server,
                            bool breaker)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_args(&argv, server, false);

    rc |= hr_string_list_add(&argv, "--op");
    rc |= hr_string_list_add(&argv, "get");
    rc |= hr_string_list_add(&argv, "--seconds");
    rc |= hr_string_list_add(&argv, "%d", HR_PROGRAM_SECONDS);
    rc |= hr_string_list_add(&argv, "--sleep-ms");
    rc |= hr_string_list_add(&argv, "10");
    rc |= hr_string_list_add(&argv, "--keep-going");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    if (breaker) {
        rc |= hr_string_list_add(&env, "HIRETRY_BREAKER_FAILURES=3");
        rc |= hr_string_list_add(&env, "HIRETRY_BREAKER_COOLDOWN=300ms");
    }
    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Runs the program through one outage. Returns 0 when every step worked. */
static int hr_run_outage(hr_server *server, hr_program *program, bool breaker)
{
    int rc = hr_start_program(program, server, breaker);

    if (rc == 0)
        rc = hr_server_wait_calls(server, "get", HR_CALLS_BEFORE_KILL,
                                  HR_SERVER_WAIT_MS);
    if (rc == 0)
        rc = hr_server_kill(server);
    if (rc == 0) {
        hr_harness_sleep_ms(HR_DOWN_MS);
        rc = hr_server_restart(server);
    }
    /* The restarted server counts from 0: GET runs again only once the
       circuit let a probe through. */
    if (rc == 0)
        rc = hr_server_wait_calls(server, "get", 1, HR_SERVER_WAIT_MS);
    if (hr_program_wait(program, HR_PROGRAM_TIMEOUT_MS) != 0)
        rc = -1;
    return rc;
}

/* Returns the offset of the first occurrence of needle at or after from
 * in text, or -1. */
static long hr_find(const char *text, const char *needle, long from)
{
    const char *found;

    if (text == NULL || from < 0)
        return -1;
    found = strstr(text + from, needle);
    return found ? (long)(found - text) : -1;
}

static void test_breaker_states_in_log(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    char fail_fast[128];
    long opened;
    long rejected;
    long probe;
    long closed;

    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    HR_ASSERT_INT_EQ(hr_run_outage(&server, &program, true), 0);
    snprintf(fail_fast, sizeof(fail_fast),
             "error=\"hiretry: circuit open for 127.0.0.1:%d\"", server.port);

    opened = hr_find(program.err, "event=circuit_open ", 0);
    rejected = hr_find(program.err, fail_fast, opened);
    probe = hr_find(program.err, "event=circuit_half_open ", rejected);
    closed = hr_find(program.err, "event=circuit_closed ", probe);
    HR_ASSERT_TRUE(opened >= 0);
    HR_ASSERT_TRUE(hr_find(program.err, "failures=3 cooldown_ms=300", 0) >= 0);
    HR_ASSERT_TRUE(rejected > opened);
    HR_ASSERT_TRUE(hr_find(program.err, "reason=circuit_open", opened) >= 0);
    HR_ASSERT_TRUE(probe > rejected);
    HR_ASSERT_TRUE(closed > probe);
    /* A 2 s outage with a cool-down of 300 to 450 ms reopens the circuit
       after failed probes. */
    HR_ASSERT_TRUE(hr_find(program.err, "event=circuit_open ", opened + 1) >
                   opened);
    HR_ASSERT_TRUE(hr_find(program.out, "circuit open for 127.0.0.1", 0) >= 0);
    HR_ASSERT_TRUE(hr_server_command_calls(&server, "get") >= 1);
    hr_test_finish(&server, &program, failures);
}

static void test_breaker_off_by_default(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};

    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    HR_ASSERT_INT_EQ(hr_run_outage(&server, &program, false), 0);

    HR_ASSERT_TRUE(hr_find(program.err, "event=retry ", 0) >= 0);
    HR_ASSERT_INT_EQ(hr_find(program.err, "circuit", 0), -1);
    HR_ASSERT_INT_EQ(hr_find(program.out, "circuit", 0), -1);
    hr_test_finish(&server, &program, failures);
}

static const CU_TestInfo tests[] = {
    {"breaker_states_in_log", test_breaker_states_in_log},
    {"breaker_off_by_default", test_breaker_off_by_default},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("breaker", tests);
}

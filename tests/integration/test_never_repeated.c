/*
 * Calls the shim passes through untouched: QUIT on a connection the server
 * closed, SHUTDOWN, and redisGetReply with nothing in flight. hr_script
 * runs each against a real valkey-server twice, with and without
 * libhiretry.so. The program must get the same result both times, and the
 * shim must neither retry nor reconnect: its info log stays empty and the
 * server counts no extra connection.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <string.h>

#define HR_PROGRAM_TIMEOUT_MS 30000
#define HR_READ_TIMEOUT_MS 300
#define HR_RESULT_SIZE 256

static bool hr_start(hr_server *server)
{
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Starts hr_script with the steps, preloaded when shim is true, with many
 * retries, every reconnect and retry logged, and HIRETRY_WRITES=all, so
 * that nothing but the rule under test stops a repeat. */
static int hr_start_script(hr_program *program, const hr_server *server,
                           bool shim, int timeout_ms, const char *const *steps)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_script_args(&argv, server, timeout_ms);

    for (const char *const *step = steps; *step != NULL; step++)
        rc |= hr_string_list_add(&argv, "%s", *step);
    if (shim) {
        rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
        rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=50");
        rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
        rc |= hr_string_list_add(&env, "HIRETRY_WRITES=all");
    }
    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Copies the result of step into value, or "missing". */
static void hr_step(const hr_program *program, const char *step, char *value)
{
    if (!hr_program_value(program, step, value, HR_RESULT_SIZE))
        strcpy(value, "missing");
}

static bool hr_starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/*
 * Runs PING, then QUIT after the server killed the connection, and stores
 * the result of QUIT. Checks that no new connection reached the server
 * between the kill and the end of the program.
 */
static void hr_quit_after_kill(bool shim, char *quit_result)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    char ready[256], go[256], step_ready[300], step_go[300];
    const char *steps[] = {"PING", step_ready, step_go, "QUIT", NULL};
    long long before, after;

    strcpy(quit_result, "missing");
    if (!hr_start(&server))
        return;
    hr_harness_path(ready, sizeof(ready), "%s/ready-%d", hr_harness_dir(),
                    shim);
    hr_harness_path(go, sizeof(go), "%s/go-%d", hr_harness_dir(), shim);
    snprintf(step_ready, sizeof(step_ready), "@touch:%s", ready);
    snprintf(step_go, sizeof(step_go), "@wait:%s", go);

    HR_ASSERT_INT_EQ(hr_start_script(&program, &server, shim, 0, steps), 0);
    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
    redisReply *killed =
        hr_server_command(&server, 0, "CLIENT KILL TYPE normal");
    HR_ASSERT_TRUE(killed != NULL && killed->type == REDIS_REPLY_INTEGER &&
                   killed->integer == 1);
    freeReplyObject(killed);
    before = hr_server_info_integer(&server, "total_connections_received");
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    after = hr_server_info_integer(&server, "total_connections_received");

    /* The second INFO query is the only connection after the first. */
    HR_ASSERT_INT_EQ(after - before, 1);
    HR_ASSERT_INT_EQ(hr_server_command_calls(&server, "quit"), 0);
    HR_ASSERT_STR_EQ(program.err, "");
    hr_step(&program, "step4", quit_result);
    hr_test_finish(&server, &program, failures);
}

static void test_never_quit_on_closed_connection(void)
{
    char plain[HR_RESULT_SIZE], shimmed[HR_RESULT_SIZE];

    hr_quit_after_kill(false, plain);
    hr_quit_after_kill(true, shimmed);

    HR_ASSERT_TRUE(hr_starts_with(plain, "failed:"));
    HR_ASSERT_STR_EQ(shimmed, plain);
}

/* Runs SHUTDOWN NOSAVE and stores its result and duration. */
static void hr_shutdown(bool shim, char *result, long long *ms)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    const char *steps[] = {"PING", "SHUTDOWN NOSAVE", NULL};
    int status = -1;

    strcpy(result, "missing");
    *ms = -1;
    if (!hr_start(&server))
        return;
    HR_ASSERT_INT_EQ(hr_start_script(&program, &server, shim, 0, steps), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    HR_ASSERT_INT_EQ(hr_process_wait(server.pid, HR_SERVER_WAIT_MS, &status),
                     0);
    server.pid = 0;

    HR_ASSERT_INT_EQ(status, 0);
    HR_ASSERT_STR_EQ(program.err, "");
    hr_step(&program, "step2", result);
    *ms = hr_program_integer(&program, "step2.ms");
    hr_test_finish(&server, &program, failures);
}

static void test_never_shutdown_repeated(void)
{
    char plain[HR_RESULT_SIZE], shimmed[HR_RESULT_SIZE];
    long long plain_ms, shimmed_ms;

    hr_shutdown(false, plain, &plain_ms);
    hr_shutdown(true, shimmed, &shimmed_ms);

    /* A repeated SHUTDOWN would have met a dead server 50 times, with
     * backoff sleeps adding up to seconds. */
    HR_ASSERT_TRUE(hr_starts_with(plain, "failed:"));
    HR_ASSERT_STR_EQ(shimmed, plain);
    HR_ASSERT_UINT_IN(shimmed_ms, 0, 1000);
}

/*
 * Runs PING, redisGetReply with nothing in flight, which times out, and
 * PING again, storing the results of the last two steps.
 */
static void hr_read_nothing(bool shim, char *read_result, long long *read_ms,
                            char *ping_result)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    const char *steps[] = {"PING", "@getreply", "PING", NULL};

    strcpy(read_result, "missing");
    strcpy(ping_result, "missing");
    *read_ms = -1;
    if (!hr_start(&server))
        return;
    HR_ASSERT_INT_EQ(
        hr_start_script(&program, &server, shim, HR_READ_TIMEOUT_MS, steps), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    hr_step(&program, "step2", read_result);
    *read_ms = hr_program_integer(&program, "step2.ms");
    hr_step(&program, "step3", ping_result);
    hr_test_finish(&server, &program, failures);
}

static void test_never_read_with_nothing_in_flight(void)
{
    char plain[HR_RESULT_SIZE], shimmed[HR_RESULT_SIZE];
    char plain_ping[HR_RESULT_SIZE], shimmed_ping[HR_RESULT_SIZE];
    long long plain_ms, shimmed_ms;

    hr_read_nothing(false, plain, &plain_ms, plain_ping);
    hr_read_nothing(true, shimmed, &shimmed_ms, shimmed_ping);

    /* The read times out once, as in plain hiredis: not retried, since no
     * command was lost. */
    HR_ASSERT_TRUE(hr_starts_with(plain, "failed:"));
    HR_ASSERT_STR_EQ(shimmed, plain);
    HR_ASSERT_UINT_IN(shimmed_ms, HR_READ_TIMEOUT_MS - 50,
                      HR_READ_TIMEOUT_MS + 1000);

    /* hiredis keeps the context failed, and the shim's next command starts
     * from a new connection. */
    HR_ASSERT_TRUE(hr_starts_with(plain_ping, "failed:"));
    HR_ASSERT_STR_EQ(shimmed_ping, "status:PONG");
}

static CU_TestInfo tests[] = {
    {"test_never_quit_on_closed_connection",
     test_never_quit_on_closed_connection},
    {"test_never_shutdown_repeated", test_never_shutdown_repeated},
    {"test_never_read_with_nothing_in_flight",
     test_never_read_with_nothing_in_flight},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration never repeated", tests);
}

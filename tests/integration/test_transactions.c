/*
 * MULTI ... EXEC across connection kills, with hr_script against real
 * servers, each case also run without the shim. A kill between queued
 * commands loses nothing, since the server dropped the queue: the shim
 * opens MULTI again on a new connection and queues the same commands, so
 * EXEC runs each once. EXEC whose reply is lost is repeated only when the
 * writes mode allows repeating every queued command. CLIENT PAUSE keeps
 * EXEC waiting, unrun, while the test kills its connection, so the outcome
 * is exact.
 * A transaction with a WATCH fails as a whole, and EXECABORT reaches the
 * program as it is.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <string.h>

#define HR_PROGRAM_TIMEOUT_MS 30000
#define HR_RESULT_SIZE 256
#define HR_DB 3
#define HR_MAX_STEPS 16

typedef struct hr_run {
    hr_server_kind kind;
    bool shim;
    const char *writes; /* HIRETRY_WRITES, or NULL for the default */
    bool pause_exec;    /* kill while CLIENT PAUSE keeps EXEC waiting */
} hr_run;

/* Checks that a reply is a status and frees it. */
static void hr_expect_status(redisReply *reply)
{
    HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
}

/*
 * Starts a server and runs SELECT 3 and the steps, where "|" marks the
 * point at which the test kills the program's connection. With pause_exec,
 * the first step after that point is EXEC, held by CLIENT PAUSE while the
 * test kills the connection.
 */
static void hr_run_steps(const hr_run *run, const char *const *steps,
                         hr_server *server, hr_program *program)
{
    hr_server_options options = {.kind = run->kind};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char ready[256], go[256];
    bool cut = false;
    int rc;

    HR_ASSERT_INT_EQ(hr_server_start(server, &options), 0);
    hr_harness_path(ready, sizeof(ready), "%s/ready-%d", hr_harness_dir(),
                    server->port);
    hr_harness_path(go, sizeof(go), "%s/go-%d", hr_harness_dir(), server->port);

    rc = hr_script_args(&argv, server, 0);
    rc |= hr_string_list_add(&argv, "SELECT %d", HR_DB);
    for (const char *const *step = steps; *step != NULL; step++) {
        if (strcmp(*step, "|") == 0) {
            cut = true;
            rc |= hr_string_list_add(&argv, "@touch:%s", ready);
            rc |= hr_string_list_add(&argv, "@wait:%s", go);
        } else {
            rc |= hr_string_list_add(&argv, "%s", *step);
        }
    }
    if (run->shim) {
        rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
        rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=20");
        rc |= hr_string_list_add(&env, "HIRETRY_LOG=debug");
        if (run->writes != NULL)
            rc |= hr_string_list_add(&env, "HIRETRY_WRITES=%s", run->writes);
    }
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(hr_program_start(program, &argv, &env), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);

    if (!cut) {
        /* Nothing to kill: the steps run through. */
    } else if (hr_harness_wait_file(ready) != 0) {
        HR_ASSERT_TRUE(false);
    } else if (run->pause_exec) {
        hr_expect_status(
            hr_server_command(server, 0, "CLIENT PAUSE 10000 WRITE"));
        HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
        HR_ASSERT_INT_EQ(hr_server_wait_blocked(server, 1), 0);
        HR_ASSERT_INT_EQ(hr_server_kill_clients(server), 1);
        hr_expect_status(hr_server_command(server, 0, "CLIENT UNPAUSE"));
    } else {
        HR_ASSERT_INT_EQ(hr_server_kill_clients(server), 1);
        HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    }
    HR_ASSERT_INT_EQ(hr_program_wait(program, HR_PROGRAM_TIMEOUT_MS), 0);
}

/* Copies the result of step n into value: step 1 is SELECT, and each "|"
 * counts as two steps. */
static void hr_step(const hr_program *program, int n, char *value)
{
    char key[16];

    snprintf(key, sizeof(key), "step%d", n);
    if (!hr_program_value(program, key, value, HR_RESULT_SIZE))
        strcpy(value, "missing");
}

/* Queued commands cut by a kill: SET a, INCR c, kill, SET b, EXEC. */
static void hr_queued_cut(hr_server_kind kind)
{
    static const char *const steps[] = {"MULTI",   "SET a 1", "INCR c", "|",
                                        "SET b 2", "EXEC",    "GET a",  NULL};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain_run = {kind, false, NULL, false};
    hr_run shim_run = {kind, true, NULL, false};
    hr_server server;
    hr_program plain = {0}, shimmed = {0};
    char value[HR_RESULT_SIZE];

    hr_run_steps(&plain_run, steps, &server, &plain);
    hr_step(&plain, 8, value);
    HR_ASSERT_TRUE(strncmp(value, "failed:", 7) == 0);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, HR_DB), 0);
    hr_test_finish(&server, &plain, failures);

    hr_run_steps(&shim_run, steps, &server, &shimmed);
    hr_step(&shimmed, 7, value);
    HR_ASSERT_STR_EQ(value, "status:QUEUED");
    hr_step(&shimmed, 8, value);
    HR_ASSERT_STR_EQ(value, "array:3");
    hr_step(&shimmed, 9, value);
    HR_ASSERT_STR_EQ(value, "string:1");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "c"), 1);
    HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "b"), 2);
    HR_ASSERT_INT_EQ(hr_server_command_calls(&server, "exec"), 1);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);
    hr_test_finish(&server, &shimmed, failures);
}

static void test_tx_queued_cut_valkey(void)
{
    hr_queued_cut(HR_SERVER_VALKEY);
}

static void test_tx_queued_cut_redis(void)
{
    hr_queued_cut(HR_SERVER_REDIS);
}

/*
 * EXEC held by CLIENT PAUSE and cut: the block never ran, but the program
 * cannot know. Stores the EXEC result in value and the counter in
 * *counter.
 */
static void hr_exec_cut(const char *writes, bool shim, const char *queued,
                        char *value, long long *counter)
{
    const char *const steps[] = {"MULTI", queued, "|", "EXEC", "PING", NULL};
    unsigned failures = CU_get_number_of_failures();
    hr_run run = {HR_SERVER_VALKEY, shim, writes, true};
    hr_server server;
    hr_program program = {0};
    char ping[HR_RESULT_SIZE];

    hr_run_steps(&run, steps, &server, &program);
    hr_step(&program, 6, value);
    hr_step(&program, 7, ping);
    if (shim)
        HR_ASSERT_STR_EQ(ping, "status:PONG");
    *counter = hr_server_get_integer(&server, HR_DB, "c");
    hr_test_finish(&server, &program, failures);
}

static void test_tx_exec_cut_incr_safe_fails(void)
{
    char plain[HR_RESULT_SIZE], shimmed[HR_RESULT_SIZE];
    long long plain_counter, counter;

    hr_exec_cut(NULL, false, "INCR c", plain, &plain_counter);
    hr_exec_cut(NULL, true, "INCR c", shimmed, &counter);

    HR_ASSERT_TRUE(strncmp(plain, "failed:", 7) == 0);
    HR_ASSERT_STR_EQ(shimmed, plain);
    HR_ASSERT_INT_EQ(plain_counter, 0);
    HR_ASSERT_INT_EQ(counter, 0);
}

static void test_tx_exec_cut_incr_all_repeated(void)
{
    char shimmed[HR_RESULT_SIZE];
    long long counter;

    hr_exec_cut("all", true, "INCR c", shimmed, &counter);
    HR_ASSERT_STR_EQ(shimmed, "array:1");
    HR_ASSERT_INT_EQ(counter, 1);
}

static void test_tx_exec_cut_set_safe_repeated(void)
{
    char shimmed[HR_RESULT_SIZE];
    long long counter;

    hr_exec_cut(NULL, true, "SET c 7", shimmed, &counter);
    HR_ASSERT_STR_EQ(shimmed, "array:1");
    HR_ASSERT_INT_EQ(counter, 7);
}

/* A kill inside WATCH ... MULTI: the transaction fails as a whole. */
static void test_tx_watch_fails(void)
{
    static const char *const steps[] = {"WATCH k", "MULTI", "SET k 1", "|",
                                        "EXEC",    "GET k", NULL};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain_run = {HR_SERVER_VALKEY, false, "all", false};
    hr_run shim_run = {HR_SERVER_VALKEY, true, "all", false};
    hr_server server;
    hr_program plain = {0}, shimmed = {0};
    char plain_exec[HR_RESULT_SIZE], exec[HR_RESULT_SIZE];
    char get[HR_RESULT_SIZE];

    hr_run_steps(&plain_run, steps, &server, &plain);
    hr_step(&plain, 7, plain_exec);
    hr_test_finish(&server, &plain, failures);

    hr_run_steps(&shim_run, steps, &server, &shimmed);
    hr_step(&shimmed, 7, exec);
    hr_step(&shimmed, 8, get);
    HR_ASSERT_TRUE(strncmp(plain_exec, "failed:", 7) == 0);
    HR_ASSERT_STR_EQ(exec, plain_exec);
    HR_ASSERT_STR_EQ(get, "nil");
    HR_ASSERT_INT_EQ(hr_server_command_calls(&server, "watch"), 1);
    HR_ASSERT_INT_EQ(hr_server_command_calls(&server, "exec"), 0);
    hr_test_finish(&server, &shimmed, failures);
}

/* A rejected queued command: EXECABORT as it is, and no DISCARD sent. */
static void test_tx_execabort_as_is(void)
{
    static const char *const steps[] = {"MULTI", "NOTACOMMAND x", "SET a 1",
                                        "EXEC", NULL};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain_run = {HR_SERVER_VALKEY, false, NULL, false};
    hr_run shim_run = {HR_SERVER_VALKEY, true, NULL, false};
    hr_server server;
    hr_program plain = {0}, shimmed = {0};
    char plain_exec[HR_RESULT_SIZE], exec[HR_RESULT_SIZE];

    hr_run_steps(&plain_run, steps, &server, &plain);
    hr_step(&plain, 5, plain_exec);
    hr_test_finish(&server, &plain, failures);

    hr_run_steps(&shim_run, steps, &server, &shimmed);
    hr_step(&shimmed, 5, exec);
    HR_ASSERT_TRUE(strncmp(plain_exec, "error:EXECABORT", 15) == 0);
    HR_ASSERT_STR_EQ(exec, plain_exec);
    HR_ASSERT_INT_EQ(hr_server_command_calls(&server, "discard"), 0);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, HR_DB), 0);
    hr_test_finish(&server, &shimmed, failures);
}

static CU_TestInfo tests[] = {
    {"test_tx_queued_cut_valkey", test_tx_queued_cut_valkey},
    {"test_tx_queued_cut_redis", test_tx_queued_cut_redis},
    {"test_tx_exec_cut_incr_safe_fails", test_tx_exec_cut_incr_safe_fails},
    {"test_tx_exec_cut_incr_all_repeated", test_tx_exec_cut_incr_all_repeated},
    {"test_tx_exec_cut_set_safe_repeated", test_tx_exec_cut_set_safe_repeated},
    {"test_tx_watch_fails", test_tx_watch_fails},
    {"test_tx_execabort_as_is", test_tx_execabort_as_is},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration transactions", tests);
}

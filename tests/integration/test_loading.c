/*
 * A real LOADING phase. The test fills a valkey-server with 2,000,000 keys
 * (DEBUG POPULATE) and saves them to dump.rdb. Then it kills the server
 * with SIGKILL and starts it again, and the test checks that the server
 * replies "-LOADING" for more than a second. hr_workload runs a GET loop
 * in db 5 through it with libhiretry.so preloaded. LOADING means that the
 * command did not run, so the shim retries it as BusyLoadingError and no
 * error may reach the program.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_DB 5
#define HR_POPULATE_KEYS 2000000
#define HR_POPULATE_VALUE_BYTES 100
#define HR_OPS 400
#define HR_CALLS_BEFORE_KILL 50
#define HR_LOADING_MIN_MS 1000
#define HR_LOAD_WAIT_MS 60000
#define HR_PROGRAM_TIMEOUT_MS 60000

static bool hr_start(hr_server *server)
{
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
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

/* Fills db 0 and saves it to the server's dump.rdb, which the server loads
 * when it starts again, because the harness turns the AOF off. */
static void hr_fill_and_save(const hr_server *server)
{
    redisReply *reply;

    reply = hr_server_command(server, 0, "DEBUG POPULATE %d key %d",
                              HR_POPULATE_KEYS, HR_POPULATE_VALUE_BYTES);
    hr_check_status(reply, "DEBUG POPULATE");

    reply = hr_server_command(server, HR_DB, "SET fixed loading-value");
    hr_check_status(reply, "SET");

    reply = hr_server_command(server, 0, "SAVE");
    hr_check_status(reply, "SAVE");
}

static int hr_start_program(hr_program *program, const hr_server *server)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_args(&argv, server, false);

    rc |= hr_string_list_add(&argv, "--db");
    rc |= hr_string_list_add(&argv, "%d", HR_DB);
    rc |= hr_string_list_add(&argv, "--op");
    rc |= hr_string_list_add(&argv, "get");
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "%d", HR_OPS);
    rc |= hr_string_list_add(&argv, "--sleep-ms");
    rc |= hr_string_list_add(&argv, "5");
    rc |= hr_string_list_add(&argv, "--timeout-ms");
    rc |= hr_string_list_add(&argv, "2000");
    rc |= hr_string_list_add(&argv, "--keep-going");

    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=-1");
    rc |= hr_string_list_add(&env, "HIRETRY_BACKOFF_CAP=200ms");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");

    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

static void test_loading_get_retried(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    int64_t restarted_at;
    int64_t loading_ms;

    if (!hr_start(&server))
        return;
    hr_fill_and_save(&server);
    HR_ASSERT_INT_EQ(hr_start_program(&program, &server), 0);

    HR_ASSERT_INT_EQ(hr_server_wait_calls(&server, "get", HR_CALLS_BEFORE_KILL,
                                          HR_SERVER_WAIT_MS),
                     0);
    HR_ASSERT_INT_EQ(hr_server_kill(&server), 0);
    restarted_at = hr_harness_now_ms();
    HR_ASSERT_INT_EQ(hr_server_restart_after(&server, 0), 0);

    /* PING fails with LOADING until the data set is loaded, so this
     * measures the loading phase, startup included. */
    HR_ASSERT_INT_EQ(hr_server_wait_ready(&server, HR_LOAD_WAIT_MS), 0);
    loading_ms = hr_harness_now_ms() - restarted_at;
    fprintf(stderr, "the restarted server was ready after %lld ms\n",
            (long long)loading_ms);
    HR_ASSERT_UINT_IN(loading_ms, HR_LOADING_MIN_MS, HR_LOAD_WAIT_MS);

    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    hr_workload_results_read(&program, &r);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(r.errors, 0);
    HR_ASSERT_INT_EQ(r.get_hits, HR_OPS);
    HR_ASSERT_STR_EQ(r.first_error, "");
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), HR_POPULATE_KEYS);

    /* The program met the LOADING replies, and the shim retried them. */
    HR_ASSERT_TRUE(strstr(program.err, "class=BusyLoadingError") != NULL);

    hr_test_finish(&server, &program, failures);
}

static CU_TestInfo tests[] = {
    {"test_loading_get_retried", test_loading_get_retried},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration loading", tests);
}

/*
 * A multi-threaded hiredis program through two server crashes: hr_workload
 * runs SET with 8 threads, each with its own context and keys, against a
 * real valkey-server with appendfsync always, with libhiretry.so preloaded.
 * The test kills the server with SIGKILL twice and starts it again each
 * time. SET is repeat-safe, so no error may reach any thread, and every key
 * of every thread must hold its value in db 5.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_DB 5
#define HR_PASSWORD "threads-password"
#define HR_THREADS 8
#define HR_OPS 400 /* per thread */
#define HR_CRASHES 2
#define HR_CALLS_BEFORE_KILL 400 /* on each server run, all threads */
#define HR_DOWN_MS 300
#define HR_PROGRAM_TIMEOUT_MS 45000

static bool hr_start(hr_server *server)
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

static int hr_start_program(hr_program *program, const hr_server *server)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_args(&argv, server, false);

    rc |= hr_string_list_add(&argv, "--db");
    rc |= hr_string_list_add(&argv, "%d", HR_DB);
    rc |= hr_string_list_add(&argv, "--op");
    rc |= hr_string_list_add(&argv, "set");
    rc |= hr_string_list_add(&argv, "--threads");
    rc |= hr_string_list_add(&argv, "%d", HR_THREADS);
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "%d", HR_OPS);
    rc |= hr_string_list_add(&argv, "--sleep-ms");
    rc |= hr_string_list_add(&argv, "5");
    rc |= hr_string_list_add(&argv, "--timeout-ms");
    rc |= hr_string_list_add(&argv, "2000");
    rc |= hr_string_list_add(&argv, "--keep-going");

    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=50");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");

    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Crashes the server once the program has run calls SETs on it, and starts
 * it again HR_DOWN_MS later. Returns 0 or -1. */
static int hr_crash_and_restart(hr_server *server, long long calls)
{
    if (hr_server_wait_calls(server, "set", calls, HR_SERVER_WAIT_MS) != 0)
        return -1;
    if (hr_server_kill(server) != 0)
        return -1;
    if (hr_server_restart_after(server, HR_DOWN_MS) != 0)
        return -1;
    return hr_server_wait_ready(server, HR_DOWN_MS + HR_SERVER_WAIT_MS);
}

/* Counts the keys t<thread>:key:<i> in db 5 whose value is not value-<i>,
 * over one direct connection. Returns -1 when the connection failed. */
static long long hr_count_wrong_keys(const hr_server *server)
{
    redisContext *c = hr_server_connect(server, HR_DB);
    long long wrong = 0;

    if (c == NULL)
        return -1;
    for (int t = 0; t < HR_THREADS; t++) {
        for (int i = 0; i < HR_OPS; i++) {
            redisReply *reply = redisCommand(c, "GET t%d:key:%d", t, i);
            char expected[32];

            snprintf(expected, sizeof(expected), "value-%d", i);
            if (reply == NULL || reply->type != REDIS_REPLY_STRING ||
                strcmp(reply->str, expected) != 0) {
                if (wrong == 0)
                    fprintf(stderr, "t%d:key:%d is not %s\n", t, i, expected);
                wrong++;
            }
            freeReplyObject(reply);
        }
    }
    redisFree(c);
    return wrong;
}

static void test_threads_set_two_crashes(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;

    if (!hr_start(&server))
        return;
    HR_ASSERT_INT_EQ(hr_start_program(&program, &server), 0);

    /* The commandstats restart from zero with each server run. */
    for (int crash = 0; crash < HR_CRASHES; crash++)
        HR_ASSERT_INT_EQ(hr_crash_and_restart(&server, HR_CALLS_BEFORE_KILL),
                         0);

    /* Every thread came back to the last server run. */
    HR_ASSERT_INT_EQ(
        hr_server_wait_calls(&server, "set", HR_THREADS, HR_SERVER_WAIT_MS), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    hr_workload_results_read(&program, &r);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_THREADS * HR_OPS);
    HR_ASSERT_INT_EQ(r.errors, 0);
    HR_ASSERT_INT_EQ(r.ok, HR_THREADS * HR_OPS);
    HR_ASSERT_INT_EQ(r.set_acknowledged, HR_THREADS * HR_OPS);
    HR_ASSERT_STR_EQ(r.first_error, "");
    for (int t = 0; t < HR_THREADS; t++) {
        char key[32];

        snprintf(key, sizeof(key), "thread%d.errors", t);
        HR_ASSERT_INT_EQ(hr_program_integer(&program, key), 0);
    }

    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, HR_DB), HR_THREADS * HR_OPS);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);
    HR_ASSERT_INT_EQ(hr_count_wrong_keys(&server), 0);

    /* The crashes happened while the threads ran, so the shim retried. */
    HR_ASSERT_TRUE(strstr(program.err, "event=retry") != NULL);

    hr_test_finish(&server, &program, failures);
}

static CU_TestInfo tests[] = {
    {"test_threads_set_two_crashes", test_threads_set_two_crashes},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration threads", tests);
}

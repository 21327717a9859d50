/*
 * Blocking commands across failures, with hr_script against a real
 * valkey-server. The test waits until the server reports the program's
 * command blocked, then kills the connection. XREAD BLOCK only reads, so
 * the shim sends it again on a new connection and the program gets the
 * entry added afterwards. BLPOP may have popped an element before its
 * reply was lost, so it is never sent again, even under
 * HIRETRY_WRITES=all. A socket timeout shorter than the blocking time
 * reaches the program as a timeout, as from plain hiredis.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <string.h>

#define HR_PROGRAM_TIMEOUT_MS 30000
#define HR_RESULT_SIZE 256
#define HR_SOCKET_TIMEOUT_MS 300

static bool hr_start(hr_server *server, hr_server_kind kind)
{
    hr_server_options options = {.kind = kind};
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Starts hr_script with one step, preloaded when shim is true. writes is a
 * HIRETRY_WRITES value, or NULL for the default. */
static int hr_start_step(hr_program *program, const hr_server *server,
                         bool shim, const char *writes, int timeout_ms,
                         const char *step)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_script_args(&argv, server, timeout_ms);

    rc |= hr_string_list_add(&argv, "%s", step);
    rc |= hr_string_list_add(&argv, "PING");
    if (shim) {
        rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
        rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=20");
        rc |= hr_string_list_add(&env, "HIRETRY_LOG=debug");
        if (writes != NULL)
            rc |= hr_string_list_add(&env, "HIRETRY_WRITES=%s", writes);
    }
    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

static void hr_step(const hr_program *program, const char *step, char *value)
{
    if (!hr_program_value(program, step, value, HR_RESULT_SIZE))
        strcpy(value, "missing");
}

static void hr_xread_after_kill(hr_server_kind kind, bool shim, char *result)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    redisReply *reply;

    strcpy(result, "missing");
    if (!hr_start(&server, kind))
        return;
    reply = hr_server_command(&server, 0, "XADD s * old 1");
    freeReplyObject(reply);

    HR_ASSERT_INT_EQ(hr_start_step(&program, &server, shim, NULL, 0,
                                   "XREAD BLOCK 20000 STREAMS s $"),
                     0);
    HR_ASSERT_INT_EQ(hr_server_wait_blocked(&server, 1), 0);
    HR_ASSERT_INT_EQ(hr_server_kill_clients(&server), 1);
    if (shim)
        HR_ASSERT_INT_EQ(hr_server_wait_blocked(&server, 1), 0);
    reply = hr_server_command(&server, 0, "XADD s * new 2");
    freeReplyObject(reply);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    hr_step(&program, "step1", result);
    hr_test_finish(&server, &program, failures);
}

static void hr_xread_case(hr_server_kind kind)
{
    char plain[HR_RESULT_SIZE], shimmed[HR_RESULT_SIZE];

    hr_xread_after_kill(kind, false, plain);
    hr_xread_after_kill(kind, true, shimmed);

    /* One stream with the one entry added after the kill. */
    HR_ASSERT_TRUE(strncmp(plain, "failed:", 7) == 0);
    HR_ASSERT_STR_EQ(shimmed, "array:1");
}

static void test_blocking_xread_sent_again_valkey(void)
{
    hr_xread_case(HR_SERVER_VALKEY);
}

static void test_blocking_xread_sent_again_redis(void)
{
    hr_xread_case(HR_SERVER_REDIS);
}

/*
 * Kills the connection of a BLPOP waiting on an empty list and stores the
 * result. The list must then still contain what the test pushes.
 */
static void hr_blpop_after_kill(hr_server_kind kind, bool shim,
                                const char *writes, char *result)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    redisReply *reply;

    strcpy(result, "missing");
    if (!hr_start(&server, kind))
        return;
    HR_ASSERT_INT_EQ(
        hr_start_step(&program, &server, shim, writes, 0, "BLPOP list 20"), 0);
    HR_ASSERT_INT_EQ(hr_server_wait_blocked(&server, 1), 0);
    HR_ASSERT_INT_EQ(hr_server_kill_clients(&server), 1);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    /* Nothing waits on the list any more, so the element stays. */
    HR_ASSERT_INT_EQ(hr_server_info_integer(&server, "blocked_clients"), 0);
    reply = hr_server_command(&server, 0, "RPUSH list element");
    freeReplyObject(reply);
    reply = hr_server_command(&server, 0, "LLEN list");
    HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
                   reply->integer == 1);
    freeReplyObject(reply);

    hr_step(&program, "step1", result);
    if (shim) {
        char ping[HR_RESULT_SIZE];

        hr_step(&program, "step2", ping);
        HR_ASSERT_STR_EQ(ping, "status:PONG");
        HR_ASSERT_TRUE(strstr(program.err, "event=give_up") != NULL);
        HR_ASSERT_TRUE(strstr(program.err, "reason=unsafe") != NULL);
    }
    hr_test_finish(&server, &program, failures);
}

static void hr_blpop_case(hr_server_kind kind)
{
    char plain[HR_RESULT_SIZE], safe[HR_RESULT_SIZE], all[HR_RESULT_SIZE];

    hr_blpop_after_kill(kind, false, NULL, plain);
    hr_blpop_after_kill(kind, true, NULL, safe);
    hr_blpop_after_kill(kind, true, "all", all);

    HR_ASSERT_TRUE(strncmp(plain, "failed:", 7) == 0);
    HR_ASSERT_STR_EQ(safe, plain);
    HR_ASSERT_STR_EQ(all, plain);
}

static void test_blocking_blpop_not_sent_again_valkey(void)
{
    hr_blpop_case(HR_SERVER_VALKEY);
}

static void test_blocking_blpop_not_sent_again_redis(void)
{
    hr_blpop_case(HR_SERVER_REDIS);
}

/* Runs BLPOP for 2 s under a shorter socket timeout. Stores the results of
 * BLPOP and of the PING after it, and BLPOP's duration. */
static void hr_blpop_timeout(hr_server_kind kind, bool shim, char *result,
                             char *ping, long long *ms)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};

    strcpy(result, "missing");
    strcpy(ping, "missing");
    *ms = -1;
    if (!hr_start(&server, kind))
        return;
    HR_ASSERT_INT_EQ(hr_start_step(&program, &server, shim, NULL,
                                   HR_SOCKET_TIMEOUT_MS, "BLPOP list 2"),
                     0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    hr_step(&program, "step1", result);
    hr_step(&program, "step2", ping);
    *ms = hr_program_integer(&program, "step1.ms");
    if (shim)
        HR_ASSERT_TRUE(strstr(program.err, "event=blocking_timeout") != NULL);
    hr_test_finish(&server, &program, failures);
}

static void test_blocking_socket_timeout_reported(void)
{
    char plain[HR_RESULT_SIZE], shimmed[HR_RESULT_SIZE];
    char plain_ping[HR_RESULT_SIZE], shimmed_ping[HR_RESULT_SIZE];
    long long plain_ms, shimmed_ms;

    hr_blpop_timeout(HR_SERVER_VALKEY, false, plain, plain_ping, &plain_ms);
    hr_blpop_timeout(HR_SERVER_VALKEY, true, shimmed, shimmed_ping,
                     &shimmed_ms);

    HR_ASSERT_TRUE(strncmp(plain, "failed:", 7) == 0);
    HR_ASSERT_STR_EQ(shimmed, plain);
    HR_ASSERT_UINT_IN(shimmed_ms, HR_SOCKET_TIMEOUT_MS - 50,
                      HR_SOCKET_TIMEOUT_MS + 1000);

    /* hiredis keeps the context failed, and the shim's next command starts
     * on a new connection. */
    HR_ASSERT_TRUE(strncmp(plain_ping, "failed:", 7) == 0);
    HR_ASSERT_STR_EQ(shimmed_ping, "status:PONG");
}

static CU_TestInfo tests[] = {
    {"test_blocking_xread_sent_again_valkey",
     test_blocking_xread_sent_again_valkey},
    {"test_blocking_xread_sent_again_redis",
     test_blocking_xread_sent_again_redis},
    {"test_blocking_blpop_not_sent_again_valkey",
     test_blocking_blpop_not_sent_again_valkey},
    {"test_blocking_blpop_not_sent_again_redis",
     test_blocking_blpop_not_sent_again_redis},
    {"test_blocking_socket_timeout_reported",
     test_blocking_socket_timeout_reported},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration blocking commands", tests);
}

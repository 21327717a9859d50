/*
 * What an operator sees at start-up: messages about invalid and unknown
 * HIRETRY_ variables come from processes that use hiredis only, once each,
 * as key=value lines; a process without hiredis under the same LD_PRELOAD
 * prints nothing; and a LD_PRELOAD that lists libhiredis before the library
 * gets a warning, since the program's calls then never reach it.
 */
#include "harness.h"
#include "hr_test.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define HR_PROGRAM_TIMEOUT_MS 10000

static size_t hr_count(const char *text, const char *needle)
{
    size_t count = 0;

    for (const char *p = strstr(text, needle); p != NULL;
         p = strstr(p + 1, needle))
        count++;
    return count;
}

static void hr_run_with_settings(hr_program *program, const char *binary,
                                 const hr_server *server, const char *preload)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc;

    if (server != NULL) {
        rc = hr_script_args(&argv, server, 0);
        rc |= hr_string_list_add(&argv, "PING");
    } else {
        rc = hr_string_list_add(&argv, "%s", binary);
        rc |= hr_string_list_add(&argv, "quiet");
    }
    rc |= hr_preload_env(&env, preload);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=abc");
    rc |= hr_string_list_add(&env, "HIRETRY_RETRYS=5");
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(
        hr_program_run(program, &argv, &env, HR_PROGRAM_TIMEOUT_MS), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
}

static void test_messages_only_from_hiredis_programs(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program quiet = {0};
    hr_program script = {0};

    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);

    /* /bin/echo links no hiredis: nothing of the shim's may show. */
    hr_run_with_settings(&quiet, "/bin/echo", NULL, HIRETRY_SHIM_PATH);
    HR_ASSERT_INT_EQ(quiet.status, 0);
    HR_ASSERT_STR_EQ(quiet.err, "");
    hr_program_free(&quiet);

    hr_run_with_settings(&script, NULL, &server, HIRETRY_SHIM_PATH);
    HR_ASSERT_INT_EQ(script.status, 0);
    HR_ASSERT_INT_EQ(hr_count(script.err, "event=invalid_setting"), 2);
    HR_ASSERT_INT_EQ(
        hr_count(script.err, "message=\"invalid HIRETRY_RETRIES=\\\"abc\\\""),
        1);
    HR_ASSERT_INT_EQ(hr_count(script.err, "unknown variable HIRETRY_RETRYS"),
                     1);
    hr_test_finish(&server, &script, failures);
}

static void test_messages_hiredis_preloaded_first(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    Dl_info info;
    char preload[1024];

    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    /* This test process links the same libhiredis as the programs. */
    HR_ASSERT_TRUE(dladdr((void *)redisConnect, &info) != 0 &&
                   info.dli_fname != NULL);
    snprintf(preload, sizeof(preload), "%s:%s", info.dli_fname,
             HIRETRY_SHIM_PATH);

    hr_run_with_settings(&program, NULL, &server, preload);
    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(hr_count(program.err, "event=not_interposed"), 1);
    hr_test_finish(&server, &program, failures);
}

/*
 * A program that closed standard error: its next connection takes
 * descriptor 2, and a log line written there would reach the server as a
 * command and put a stray error reply before the program's own.
 */
static void test_messages_not_into_reused_stderr(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char ready[256], go[256], value[256];
    redisReply *reply;
    int rc;

    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    hr_harness_path(ready, sizeof(ready), "%s/err-ready", hr_harness_dir());
    hr_harness_path(go, sizeof(go), "%s/err-go", hr_harness_dir());
    rc = hr_script_args(&argv, &server, 2000);
    rc |= hr_string_list_add(&argv, "PING");
    rc |= hr_string_list_add(&argv, "@closeerr");
    rc |= hr_string_list_add(&argv, "@touch:%s", ready);
    rc |= hr_string_list_add(&argv, "@wait:%s", go);
    rc |= hr_string_list_add(&argv, "SET k v");
    rc |= hr_string_list_add(&argv, "LPUSH k x");
    rc |= hr_string_list_add(&argv, "GET k");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=debug");
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);

    /* The kill makes the shim reconnect, on descriptor 2. */
    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
    reply = hr_server_command(&server, 0, "CLIENT KILL TYPE normal");
    freeReplyObject(reply);
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    HR_ASSERT_TRUE(hr_program_value(&program, "step6", value, sizeof(value)));
    HR_ASSERT_TRUE(strncmp(value, "error:WRONGTYPE", 15) == 0);
    HR_ASSERT_TRUE(hr_program_value(&program, "step7", value, sizeof(value)));
    HR_ASSERT_STR_EQ(value, "string:v");
    /* The server never received a log line as a command. */
    HR_ASSERT_INT_EQ(hr_server_command_calls(&server, "hiretry:"), 0);
    HR_ASSERT_INT_EQ(
        hr_server_info_integer(&server, "unexpected_error_replies"), 0);
    hr_test_finish(&server, &program, failures);
}

/* A connect retried in a busy loop for 1.5 s: at most 20 retry lines a
 * second, the rest counted. */
static void test_messages_rate_limited(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    size_t lines;
    int rc;

    /* A port where a server just stopped: connects are refused at once. */
    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    HR_ASSERT_INT_EQ(hr_server_kill(&server), 0);
    rc = hr_script_args(&argv, &server, 0);
    rc |= hr_string_list_add(&argv, "PING");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    rc |= hr_string_list_add(&env, "HIRETRY_BACKOFF=none");
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=-1");
    rc |= hr_string_list_add(&env, "HIRETRY_DEADLINE=1500ms");
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(
        hr_program_run(&program, &argv, &env, HR_PROGRAM_TIMEOUT_MS), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);

    lines = hr_count(program.err, "event=retry");
    fprintf(stderr, "%zu retry lines in 1.5 s\n", lines);
    HR_ASSERT_UINT_IN(lines, 1, 3 * 20);
    HR_ASSERT_UINT_IN(hr_count(program.err, "suppressed="), 1, 3);
    HR_ASSERT_INT_EQ(hr_count(program.err, "event=give_up"), 1);
    hr_test_finish(&server, &program, failures);
}

static CU_TestInfo tests[] = {
    {"test_messages_only_from_hiredis_programs",
     test_messages_only_from_hiredis_programs},
    {"test_messages_hiredis_preloaded_first",
     test_messages_hiredis_preloaded_first},
    {"test_messages_not_into_reused_stderr",
     test_messages_not_into_reused_stderr},
    {"test_messages_rate_limited", test_messages_rate_limited},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration operator messages", tests);
}

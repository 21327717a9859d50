/*
 * Network faults between a preloaded program and a real valkey-server,
 * injected by fault_proxy.c. The faults are a connection reset after N
 * bytes in either direction, a clean close that truncates a reply in the
 * middle of a bulk string, a stall, a delay, and refused connects.
 *
 * hr_script runs a single command or a pipeline through the proxy. It
 * sends SELECT 5 first, then waits for a file, so that the test arms the
 * fault while the session is set up and every byte count is counted from
 * the first byte of the command under test. hr_subscriber runs a
 * subscription through the proxy, with faults in its SUBSCRIBE, in a
 * confirmation and in a message.
 *
 * Each case checks the program's replies against what the server holds:
 * an INCR acknowledged is counted once, an INCR that failed under
 * HIRETRY_WRITES=safe ran at most once, a reply never reaches another
 * command, and every run ends within its timeout.
 */
#include "fault_proxy.h"
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_DB 5
#define HR_PROGRAM_TIMEOUT_MS 30000
#define HR_SOCKET_TIMEOUT_MS 1000
#define HR_REFUSE_MS 300
#define HR_BIG_VALUE_BYTES 100000

/* hr_script's steps before the command under test: SELECT, @touch and
 * @wait, so the first step under test is step 4. */
#define HR_FIRST_STEP 4

/* Bytes of the requests and replies the faults cut, in RESP. */
#define HR_SET_REPLY "+OK\r\n"

typedef struct hr_fi_run {
    hr_server server;
    hr_proxy proxy;
    hr_program program;
    char ready_path[256];
    char go_path[256];
} hr_fi_run;

/* Starts a valkey-server and a proxy to it, or fails the test. */
static bool hr_fi_setup(hr_fi_run *run)
{
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    static int runs;
    int rc;

    memset(run, 0, sizeof(*run));
    rc = hr_server_start(&run->server, &options);
    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0) {
        hr_server_stop(&run->server);
        return false;
    }
    rc = hr_proxy_start(&run->proxy, run->server.port);
    HR_ASSERT_INT_EQ(rc, 0);

    runs++;
    rc |= hr_harness_path(run->ready_path, sizeof(run->ready_path),
                          "%s/fault-%d.ready", hr_harness_dir(), runs);
    rc |= hr_harness_path(run->go_path, sizeof(run->go_path), "%s/fault-%d.go",
                          hr_harness_dir(), runs);
    if (rc != 0) {
        hr_proxy_stop(&run->proxy);
        hr_server_stop(&run->server);
    }
    return rc == 0;
}

static void hr_fi_finish(hr_fi_run *run, unsigned failures)
{
    hr_proxy_stop(&run->proxy);
    hr_test_finish(&run->server, &run->program, failures);
}

/*
 * Appends the environment of a run: extra (NULL-terminated, or NULL), then
 * the shim, info logs and 5 retries. getenv returns the first of two
 * entries with one name, so an entry in extra replaces a default.
 */
static int hr_fi_env(hr_string_list *env, const char *const *extra)
{
    int rc = 0;

    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        rc |= hr_string_list_add(env, "%s", extra[i]);
    rc |= hr_preload_env(env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(env, "HIRETRY_LOG=info");
    rc |= hr_string_list_add(env, "HIRETRY_RETRIES=5");
    return rc;
}

/*
 * Starts hr_script through the proxy with a socket timeout of timeout_ms:
 * SELECT 5, then it waits for the go file, then runs steps (NULL-
 * terminated).
 */
static int hr_fi_start_script(hr_fi_run *run, int timeout_ms,
                              const char *const *steps,
                              const char *const *env_extra)
{
    hr_server via_proxy = run->server;
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc;

    via_proxy.port = run->proxy.port;
    rc = hr_script_args(&argv, &via_proxy, timeout_ms);
    rc |= hr_string_list_add(&argv, "SELECT %d", HR_DB);
    rc |= hr_string_list_add(&argv, "@touch:%s", run->ready_path);
    rc |= hr_string_list_add(&argv, "@wait:%s", run->go_path);
    for (size_t i = 0; steps[i] != NULL; i++)
        rc |= hr_string_list_add(&argv, "%s", steps[i]);
    rc |= hr_fi_env(&env, env_extra);

    if (rc == 0)
        rc = hr_program_start(&run->program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Waits until the script's session is set up, arms fault, lets the script
 * go on and waits for it to exit. Returns 0 or -1. */
static int hr_fi_fault_script(hr_fi_run *run, const hr_fault *fault)
{
    if (hr_harness_wait_file(run->ready_path) != 0)
        return -1;
    hr_proxy_set_fault(&run->proxy, fault);
    if (hr_harness_touch(run->go_path) != 0)
        return -1;
    return hr_program_wait(&run->program, HR_PROGRAM_TIMEOUT_MS);
}

/* Runs steps under fault with HIRETRY_WRITES=writes (NULL: the default)
 * and checks that the script exited by itself. */
static void hr_fi_run_script(hr_fi_run *run, const hr_fault *fault,
                             const char *writes, const char *const *steps)
{
    char setting[64];
    const char *env[] = {setting, NULL};

    snprintf(setting, sizeof(setting), "HIRETRY_WRITES=%s",
             writes != NULL ? writes : "safe");
    HR_ASSERT_INT_EQ(hr_fi_start_script(run, HR_SOCKET_TIMEOUT_MS, steps, env),
                     0);
    HR_ASSERT_INT_EQ(hr_fi_fault_script(run, fault), 0);
    HR_ASSERT_INT_EQ(run->program.status, 0);
    HR_ASSERT_TRUE(!run->program.timed_out);
}

/* Copies the result of step into value; "" when it is missing. */
static void hr_fi_step(const hr_fi_run *run, int step, char *value, size_t size)
{
    char key[32];

    snprintf(key, sizeof(key), "step%d", step);
    if (!hr_program_value(&run->program, key, value, size))
        value[0] = '\0';
}

static bool hr_starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* Returns the counter the INCRs of a run increment, in db 5. */
static long long hr_fi_counter(const hr_fi_run *run)
{
    return hr_server_get_integer(&run->server, HR_DB, "counter");
}

/* ---- A single command ---- */

/*
 * Runs one INCR under fault. The program must read expected_reply, or fail
 * when expected_reply is NULL. The server must hold expected_counter.
 */
static void hr_check_incr(const hr_fault *fault, const char *writes,
                          const char *expected_reply,
                          long long expected_counter)
{
    unsigned failures = CU_get_number_of_failures();
    const char *steps[] = {"INCR counter", NULL};
    hr_fi_run run;
    char reply[256];

    if (!hr_fi_setup(&run))
        return;
    hr_fi_run_script(&run, fault, writes, steps);
    hr_fi_step(&run, HR_FIRST_STEP, reply, sizeof(reply));

    HR_ASSERT_INT_EQ(hr_proxy_faults(&run.proxy), 1);
    if (expected_reply != NULL)
        HR_ASSERT_STR_EQ(reply, expected_reply);
    else
        HR_ASSERT_TRUE(hr_starts_with(reply, "failed:"));
    HR_ASSERT_INT_EQ(hr_fi_counter(&run), expected_counter);

    hr_fi_finish(&run, failures);
}

/* A reset in the middle of the request: the INCR never ran, but the shim
 * cannot tell, because the whole request was written to the socket. */
static void test_fault_reset_mid_request_safe(void)
{
    hr_fault fault = {HR_FAULT_RESET, HR_TO_SERVER, 10, 0};

    hr_check_incr(&fault, NULL, NULL, 0);
}

/* Under HIRETRY_WRITES=all the same INCR is sent again, and runs once. */
static void test_fault_reset_mid_request_all(void)
{
    hr_fault fault = {HR_FAULT_RESET, HR_TO_SERVER, 10, 0};

    hr_check_incr(&fault, "all", "integer:1", 1);
}

/* The whole request passed, then the reset: the INCR ran, and its lost
 * reply must not make it run again under safe. */
static void test_fault_reset_before_reply_safe(void)
{
    hr_fault fault = {HR_FAULT_RESET, HR_TO_CLIENT, 0, 0};

    hr_check_incr(&fault, NULL, NULL, 1);
}

/* Under all it runs again, and the program reads the second run's reply. */
static void test_fault_reset_before_reply_all(void)
{
    hr_fault fault = {HR_FAULT_RESET, HR_TO_CLIENT, 0, 0};

    hr_check_incr(&fault, "all", "integer:2", 2);
}

/* Two bytes of ":1\r\n" reached the program before the reset. */
static void test_fault_reset_mid_reply_safe(void)
{
    hr_fault fault = {HR_FAULT_RESET, HR_TO_CLIENT, 2, 0};

    hr_check_incr(&fault, NULL, NULL, 1);
}

/* A clean close instead of a reset, in the middle of the reply. */
static void test_fault_close_mid_reply_safe(void)
{
    hr_fault fault = {HR_FAULT_CLOSE, HR_TO_CLIENT, 2, 0};

    hr_check_incr(&fault, NULL, NULL, 1);
}

/* The request never reaches the server and no reply comes: a timeout,
 * which means the INCR may have run, so safe does not send it again. */
static void test_fault_stall_request_safe(void)
{
    hr_fault fault = {HR_FAULT_STALL, HR_TO_SERVER, 0, 0};

    hr_check_incr(&fault, NULL, NULL, 0);
}

/* The INCR ran, and its reply never comes. */
static void test_fault_stall_reply_safe(void)
{
    hr_fault fault = {HR_FAULT_STALL, HR_TO_CLIENT, 0, 0};

    hr_check_incr(&fault, NULL, NULL, 1);
}

/* A delay shorter than the socket timeout changes nothing: one attempt on
 * one connection. */
static void test_fault_delay_within_timeout(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_fault fault = {HR_FAULT_DELAY, HR_TO_CLIENT, 0, 200};
    const char *steps[] = {"INCR counter", "INCR counter", NULL};
    hr_fi_run run;
    char reply[256];

    if (!hr_fi_setup(&run))
        return;
    hr_fi_run_script(&run, &fault, NULL, steps);

    hr_fi_step(&run, HR_FIRST_STEP, reply, sizeof(reply));
    HR_ASSERT_STR_EQ(reply, "integer:1");
    hr_fi_step(&run, HR_FIRST_STEP + 1, reply, sizeof(reply));
    HR_ASSERT_STR_EQ(reply, "integer:2");
    HR_ASSERT_INT_EQ(hr_fi_counter(&run), 2);
    HR_ASSERT_INT_EQ(hr_proxy_accepted(&run.proxy), 1);
    HR_ASSERT_TRUE(strstr(run.program.err, "event=retry") == NULL);

    hr_fi_finish(&run, failures);
}

/* A delay past the socket timeout is a timeout: GET is sent again on a new
 * connection, which is not delayed, with its session restored. */
static void test_fault_delay_past_timeout_get(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_fault fault = {HR_FAULT_DELAY, HR_TO_CLIENT, 0,
                      HR_SOCKET_TIMEOUT_MS * 2};
    const char *steps[] = {"GET key", NULL};
    hr_fi_run run;
    char reply[256];
    redisReply *set;

    if (!hr_fi_setup(&run))
        return;
    set = hr_server_command(&run.server, HR_DB, "SET key value-in-db-5");
    HR_ASSERT_TRUE(set != NULL && set->type == REDIS_REPLY_STATUS);
    freeReplyObject(set);

    hr_fi_run_script(&run, &fault, NULL, steps);
    hr_fi_step(&run, HR_FIRST_STEP, reply, sizeof(reply));
    HR_ASSERT_STR_EQ(reply, "string:value-in-db-5");
    HR_ASSERT_INT_EQ(hr_proxy_accepted(&run.proxy), 2);
    HR_ASSERT_TRUE(strstr(run.program.err, "class=TimeoutError") != NULL);

    hr_fi_finish(&run, failures);
}

/*
 * A GET of a large value whose reply the proxy cuts, cleanly or with a
 * reset, after after_bytes: in the middle of the bulk string, or of its
 * "$100000\r\n" header. The program must read the whole value.
 */
static void hr_check_truncated_get(hr_fault_action action, size_t after_bytes)
{
    unsigned failures = CU_get_number_of_failures();
    hr_fault fault = {action, HR_TO_CLIENT, after_bytes, 0};
    const char *steps[] = {"GET big", NULL};
    size_t size = HR_BIG_VALUE_BYTES + 64;
    char *value = malloc(size);
    char *reply = malloc(size);
    hr_fi_run run;
    redisReply *set;

    HR_ASSERT_TRUE(value != NULL && reply != NULL);
    if (value == NULL || reply == NULL || !hr_fi_setup(&run)) {
        free(value);
        free(reply);
        return;
    }
    memset(value, 'v', HR_BIG_VALUE_BYTES);
    value[HR_BIG_VALUE_BYTES] = '\0';
    set = hr_server_command(&run.server, HR_DB, "SET big %s", value);
    HR_ASSERT_TRUE(set != NULL && set->type == REDIS_REPLY_STATUS);
    freeReplyObject(set);

    hr_fi_run_script(&run, &fault, NULL, steps);
    hr_fi_step(&run, HR_FIRST_STEP, reply, size);
    HR_ASSERT_TRUE(hr_starts_with(reply, "string:"));
    HR_ASSERT_UINT_EQ(strlen(reply), strlen("string:") + HR_BIG_VALUE_BYTES);
    HR_ASSERT_TRUE(strcmp(reply + strlen("string:"), value) == 0);
    HR_ASSERT_INT_EQ(hr_proxy_faults(&run.proxy), 1);
    HR_ASSERT_INT_EQ(hr_proxy_accepted(&run.proxy), 2);

    free(value);
    free(reply);
    hr_fi_finish(&run, failures);
}

static void test_fault_truncate_mid_bulk_string(void)
{
    hr_check_truncated_get(HR_FAULT_CLOSE, HR_BIG_VALUE_BYTES / 2);
}

static void test_fault_truncate_mid_bulk_header(void)
{
    hr_check_truncated_get(HR_FAULT_CLOSE, 3);
}

static void test_fault_reset_mid_bulk_string(void)
{
    hr_check_truncated_get(HR_FAULT_RESET, HR_BIG_VALUE_BYTES - 1);
}

/*
 * Runs three large SETs under HIRETRY_WRITES=all while the proxy resets
 * the connection after_bytes into them, in the middle of one SET's request.
 * The shim keeps a command over 64 KiB for a retry in the buffer it was
 * formatted in when it is as long as the command kept before, and in a copy
 * otherwise.
 * Each value has its own letter, so a retry that sends the bytes of another
 * SET leaves a wrong value.
 */
static void hr_check_large_sets(size_t after_bytes)
{
    unsigned failures = CU_get_number_of_failures();
    hr_fault fault = {HR_FAULT_RESET, HR_TO_SERVER, after_bytes, 0};
    const size_t sizes[] = {HR_BIG_VALUE_BYTES, HR_BIG_VALUE_BYTES,
                            HR_BIG_VALUE_BYTES * 9 / 10};
    const char *steps[4] = {NULL, NULL, NULL, NULL};
    char *commands[3] = {NULL, NULL, NULL};
    bool built = true;
    hr_fi_run run;

    for (int i = 0; i < 3; i++) {
        commands[i] = malloc(sizes[i] + 16);
        if (commands[i] == NULL) {
            built = false;
            continue;
        }
        int n = snprintf(commands[i], 16, "SET big%d ", i);
        memset(commands[i] + n, 'a' + i, sizes[i]);
        commands[i][(size_t)n + sizes[i]] = '\0';
        steps[i] = commands[i];
    }
    HR_ASSERT_TRUE(built);
    if (built && hr_fi_setup(&run)) {
        hr_fi_run_script(&run, &fault, "all", steps);
        for (int i = 0; i < 3; i++) {
            const char letter[2] = {(char)('a' + i), '\0'};
            char key[16];
            char reply[256];
            char *value;

            hr_fi_step(&run, HR_FIRST_STEP + i, reply, sizeof(reply));
            HR_ASSERT_STR_EQ(reply, "status:OK");
            snprintf(key, sizeof(key), "big%d", i);
            value = hr_server_get(&run.server, HR_DB, key);
            HR_ASSERT_TRUE(value != NULL);
            if (value != NULL) {
                HR_ASSERT_UINT_EQ(strlen(value), sizes[i]);
                HR_ASSERT_UINT_EQ(strspn(value, letter), sizes[i]);
            }
            free(value);
        }
        HR_ASSERT_INT_EQ(hr_proxy_faults(&run.proxy), 1);
        HR_ASSERT_INT_EQ(hr_proxy_accepted(&run.proxy), 2);
        HR_ASSERT_TRUE(strstr(run.program.err, "event=retry") != NULL);
        hr_fi_finish(&run, failures);
    }
    for (int i = 0; i < 3; i++)
        free(commands[i]);
}

/* The reset cuts the second SET, as long as the first. */
static void test_fault_reset_large_set_same_length(void)
{
    hr_check_large_sets(HR_BIG_VALUE_BYTES * 3 / 2);
}

/* The reset cuts the third SET, shorter than the first two. */
static void test_fault_reset_large_set_shorter(void)
{
    hr_check_large_sets(HR_BIG_VALUE_BYTES * 9 / 4);
}

/*
 * The connection breaks while the program waits, and connects are refused
 * for HR_REFUSE_MS. The INCR that follows finds the connection closed
 * before it is written, so it cannot have run. It must go out once, on the
 * first connection the proxy accepts again.
 */
static void test_fault_refused_while_idle(void)
{
    unsigned failures = CU_get_number_of_failures();
    const char *steps[] = {"INCR counter", NULL};
    const char *env[] = {"HIRETRY_RETRIES=-1", "HIRETRY_DEADLINE=10s", NULL};
    hr_fi_run run;
    char reply[256];

    if (!hr_fi_setup(&run))
        return;
    HR_ASSERT_INT_EQ(hr_fi_start_script(&run, HR_SOCKET_TIMEOUT_MS, steps, env),
                     0);
    HR_ASSERT_INT_EQ(hr_harness_wait_file(run.ready_path), 0);
    HR_ASSERT_INT_EQ(hr_proxy_refuse(&run.proxy, true), 0);
    hr_proxy_reset_all(&run.proxy);
    HR_ASSERT_INT_EQ(hr_harness_touch(run.go_path), 0);
    hr_harness_sleep_ms(HR_REFUSE_MS);
    HR_ASSERT_INT_EQ(hr_proxy_refuse(&run.proxy, false), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&run.program, HR_PROGRAM_TIMEOUT_MS), 0);

    hr_fi_step(&run, HR_FIRST_STEP, reply, sizeof(reply));
    HR_ASSERT_STR_EQ(reply, "integer:1");
    HR_ASSERT_INT_EQ(hr_fi_counter(&run), 1);
    HR_ASSERT_INT_EQ(hr_proxy_accepted(&run.proxy), 2);
    HR_ASSERT_TRUE(strstr(run.program.err, "Connection refused") != NULL);

    hr_fi_finish(&run, failures);
}

/* A program that starts while connects are refused connects once the
 * proxy listens again. */
static void test_fault_refused_at_connect(void)
{
    unsigned failures = CU_get_number_of_failures();
    const char *steps[] = {"INCR counter", NULL};
    const char *env[] = {"HIRETRY_RETRIES=-1", "HIRETRY_DEADLINE=10s", NULL};
    hr_fi_run run;
    char reply[256];

    if (!hr_fi_setup(&run))
        return;
    HR_ASSERT_INT_EQ(hr_proxy_refuse(&run.proxy, true), 0);
    HR_ASSERT_INT_EQ(hr_harness_touch(run.go_path), 0);
    HR_ASSERT_INT_EQ(hr_fi_start_script(&run, HR_SOCKET_TIMEOUT_MS, steps, env),
                     0);
    hr_harness_sleep_ms(HR_REFUSE_MS);
    HR_ASSERT_INT_EQ(hr_proxy_refuse(&run.proxy, false), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&run.program, HR_PROGRAM_TIMEOUT_MS), 0);

    HR_ASSERT_TRUE(strstr(run.program.out, "connect=ok\n") != NULL);
    hr_fi_step(&run, HR_FIRST_STEP, reply, sizeof(reply));
    HR_ASSERT_STR_EQ(reply, "integer:1");
    HR_ASSERT_INT_EQ(hr_fi_counter(&run), 1);
    HR_ASSERT_INT_EQ(hr_proxy_accepted(&run.proxy), 1);

    hr_fi_finish(&run, failures);
}

/* ---- A pipeline ---- */

/* SET, INCR and GET appended, then their three replies read. */
static const char *const hr_pipeline_steps[] = {
    "@append:SET pipelined value",
    "@append:INCR counter",
    "@append:GET pipelined",
    "@getreply",
    "@getreply",
    "@getreply",
    NULL,
};

/* The step numbers of the three replies. */
#define HR_SET_STEP (HR_FIRST_STEP + 3)
#define HR_INCR_STEP (HR_FIRST_STEP + 4)
#define HR_GET_STEP (HR_FIRST_STEP + 5)

/* Reads the three replies of the pipeline into set, incr and get. */
static void hr_pipeline_replies(const hr_fi_run *run, char set[256],
                                char incr[256], char get[256])
{
    hr_fi_step(run, HR_SET_STEP, set, 256);
    hr_fi_step(run, HR_INCR_STEP, incr, 256);
    hr_fi_step(run, HR_GET_STEP, get, 256);
}

/*
 * Each reply is its own command's reply or a failure, never another
 * command's, and the counter agrees with the INCR's reply.
 */
static void hr_check_pipeline_consistent(const hr_fi_run *run, const char *set,
                                         const char *incr, const char *get)
{
    long long counter = hr_fi_counter(run);

    HR_ASSERT_TRUE(strcmp(set, "status:OK") == 0 ||
                   hr_starts_with(set, "failed:"));
    HR_ASSERT_TRUE(hr_starts_with(incr, "integer:") ||
                   hr_starts_with(incr, "failed:"));
    HR_ASSERT_TRUE(strcmp(get, "string:value") == 0 ||
                   hr_starts_with(get, "failed:"));
    if (hr_starts_with(incr, "integer:"))
        HR_ASSERT_INT_EQ(counter, strtoll(incr + strlen("integer:"), NULL, 10));
}

/* The reset cuts the second request: SET ran, INCR did not. Under all the
 * shim sends all three again, and INCR runs once. */
static void test_fault_pipeline_reset_mid_request_all(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_fault fault = {HR_FAULT_RESET, HR_TO_SERVER,
                      strlen("*3\r\n$3\r\nSET\r\n$9\r\npipelined\r\n"
                             "$5\r\nvalue\r\n") +
                          10,
                      0};
    hr_fi_run run;
    char set[256], incr[256], get[256];

    if (!hr_fi_setup(&run))
        return;
    hr_fi_run_script(&run, &fault, "all", hr_pipeline_steps);
    hr_pipeline_replies(&run, set, incr, get);

    HR_ASSERT_STR_EQ(set, "status:OK");
    HR_ASSERT_STR_EQ(incr, "integer:1");
    HR_ASSERT_STR_EQ(get, "string:value");
    HR_ASSERT_INT_EQ(hr_fi_counter(&run), 1);
    HR_ASSERT_INT_EQ(hr_proxy_accepted(&run.proxy), 2);

    hr_fi_finish(&run, failures);
}

/* The same cut under safe: the INCR may have run as far as the shim can
 * tell, so its reply and every later one fail, and it runs at most once. */
static void test_fault_pipeline_reset_mid_request_safe(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_fault fault = {HR_FAULT_RESET, HR_TO_SERVER,
                      strlen("*3\r\n$3\r\nSET\r\n$9\r\npipelined\r\n"
                             "$5\r\nvalue\r\n") +
                          10,
                      0};
    hr_fi_run run;
    char set[256], incr[256], get[256];

    if (!hr_fi_setup(&run))
        return;
    hr_fi_run_script(&run, &fault, NULL, hr_pipeline_steps);
    hr_pipeline_replies(&run, set, incr, get);

    hr_check_pipeline_consistent(&run, set, incr, get);
    HR_ASSERT_TRUE(hr_starts_with(incr, "failed:"));
    HR_ASSERT_INT_EQ(hr_fi_counter(&run), 0);

    hr_fi_finish(&run, failures);
}

/*
 * The reset comes after SET's reply: the INCR ran and its reply is lost.
 * Under safe it is not sent again, so the program reads SET's reply and
 * then failures, and the counter is 1.
 */
static void test_fault_pipeline_reset_after_first_reply(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_fault fault = {HR_FAULT_RESET, HR_TO_CLIENT, strlen(HR_SET_REPLY), 0};
    hr_fi_run run;
    char set[256], incr[256], get[256];

    if (!hr_fi_setup(&run))
        return;
    hr_fi_run_script(&run, &fault, NULL, hr_pipeline_steps);
    hr_pipeline_replies(&run, set, incr, get);

    hr_check_pipeline_consistent(&run, set, incr, get);
    HR_ASSERT_TRUE(hr_starts_with(incr, "failed:"));
    HR_ASSERT_INT_EQ(hr_fi_counter(&run), 1);

    hr_fi_finish(&run, failures);
}

/* The same reset under all: every owed command goes out again, and the
 * program reads the second INCR's reply. */
static void test_fault_pipeline_reset_after_first_reply_all(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_fault fault = {HR_FAULT_CLOSE, HR_TO_CLIENT, strlen(HR_SET_REPLY), 0};
    hr_fi_run run;
    char set[256], incr[256], get[256];

    if (!hr_fi_setup(&run))
        return;
    hr_fi_run_script(&run, &fault, "all", hr_pipeline_steps);
    hr_pipeline_replies(&run, set, incr, get);

    HR_ASSERT_STR_EQ(set, "status:OK");
    HR_ASSERT_STR_EQ(incr, "integer:2");
    HR_ASSERT_STR_EQ(get, "string:value");
    HR_ASSERT_INT_EQ(hr_fi_counter(&run), 2);

    hr_fi_finish(&run, failures);
}

/* A stall after SET's reply: a timeout, handled like the reset under
 * safe, with the INCR counted once. */
static void test_fault_pipeline_stall_after_first_reply(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_fault fault = {HR_FAULT_STALL, HR_TO_CLIENT, strlen(HR_SET_REPLY), 0};
    hr_fi_run run;
    char set[256], incr[256], get[256];

    if (!hr_fi_setup(&run))
        return;
    hr_fi_run_script(&run, &fault, NULL, hr_pipeline_steps);
    hr_pipeline_replies(&run, set, incr, get);

    hr_check_pipeline_consistent(&run, set, incr, get);
    HR_ASSERT_STR_EQ(set, "status:OK");
    HR_ASSERT_TRUE(hr_starts_with(incr, "failed:"));
    HR_ASSERT_INT_EQ(hr_fi_counter(&run), 1);

    hr_fi_finish(&run, failures);
}

/* ---- A subscription ---- */

#define HR_CHANNEL "ch:0"
#define HR_CONTROL "ch:control"
#define HR_MESSAGES_BEFORE 20
#define HR_MESSAGES_AFTER 20

/* hr_subscriber's results that these tests read; -1 when missing. */
typedef struct hr_sub_counts {
    long long ended;
    long long messages;
    long long duplicates;
    long long out_of_order;
    long long pmessage_duplicates;
    long long pmessage_out_of_order;
    long long other_replies;
    long long errors;
    long long timeouts;
    long long max_sequence;
    char missing[1024];
} hr_sub_counts;

static void hr_sub_counts_read(const hr_program *p, hr_sub_counts *r)
{
    r->ended = hr_program_integer(p, "ended");
    r->messages = hr_program_integer(p, "messages");
    r->duplicates = hr_program_integer(p, "duplicates");
    r->out_of_order = hr_program_integer(p, "out_of_order");
    r->pmessage_duplicates = hr_program_integer(p, "pmessage_duplicates");
    r->pmessage_out_of_order = hr_program_integer(p, "pmessage_out_of_order");
    r->other_replies = hr_program_integer(p, "other_replies");
    r->errors = hr_program_integer(p, "errors");
    r->timeouts = hr_program_integer(p, "timeouts");
    r->max_sequence = hr_program_integer(p, "max_sequence");
    if (!hr_program_value(p, "missing", r->missing, sizeof(r->missing)))
        r->missing[0] = '\0';
}

/* Returns the highest sequence number in "A-B,C-D" ranges, or 0. */
static long long hr_last_missing(const char *ranges)
{
    long long last = 0;

    for (const char *dash = strchr(ranges, '-'); dash != NULL;
         dash = strchr(dash + 1, '-'))
        last = strtoll(dash + 1, NULL, 10);
    return last;
}

/* Publishes one message on channel; returns how many clients received it,
 * or -1. */
static long long hr_publish(const hr_server *server, const char *channel,
                            const char *message)
{
    redisReply *reply =
        hr_server_command(server, 0, "PUBLISH %s %s", channel, message);
    long long receivers = -1;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        receivers = reply->integer;
    freeReplyObject(reply);
    return receivers;
}

/* Publishes the sequence numbers first to last on ch:0. */
static void hr_publish_range(const hr_server *server, long long first,
                             long long last)
{
    char text[32];

    for (long long s = first; s <= last; s++) {
        snprintf(text, sizeof(text), "%lld", s);
        hr_publish(server, HR_CHANNEL, text);
    }
}

/*
 * Waits until a message on ch:0 reaches receivers subscriptions,
 * publishing probes with the sequence numbers from *next on. The subscriber
 * counts twice, for ch:0 and for the pattern ch:*. Returns 0, or -1 after
 * HR_SERVER_WAIT_MS.
 */
static int hr_wait_subscribed(const hr_server *server, long long receivers,
                              long long *next)
{
    int64_t deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;
    char text[32];

    while (hr_harness_now_ms() < deadline) {
        snprintf(text, sizeof(text), "%lld", (*next)++);
        if (hr_publish(server, HR_CHANNEL, text) == receivers)
            return 0;
        hr_harness_sleep_ms(20);
    }
    fprintf(stderr, "the subscriber did not subscribe again\n");
    return -1;
}

/* Publishes the sequence numbers from *next on until the proxy has
 * accepted a second connection. Returns 0, or -1 after HR_SERVER_WAIT_MS. */
static int hr_publish_until_reconnected(hr_fi_run *run, long long *next)
{
    int64_t deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;

    while (hr_proxy_accepted(&run->proxy) < 2) {
        if (hr_harness_now_ms() >= deadline) {
            fprintf(stderr, "the subscriber did not reconnect\n");
            return -1;
        }
        hr_publish_range(&run->server, *next, *next);
        (*next)++;
        hr_harness_sleep_ms(5);
    }
    return 0;
}

/* Starts hr_subscriber through the proxy on ch:0 and the pattern ch:*,
 * with a socket timeout of timeout_ms (0: none). */
static int hr_fi_start_subscriber(hr_fi_run *run, int timeout_ms)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_string_list_add(&argv, "%s", HIRETRY_SUBSCRIBER_PATH);

    rc |= hr_string_list_add(&argv, "--port");
    rc |= hr_string_list_add(&argv, "%d", run->proxy.port);
    rc |= hr_string_list_add(&argv, "--db");
    rc |= hr_string_list_add(&argv, "%d", HR_DB);
    rc |= hr_string_list_add(&argv, "--channels");
    rc |= hr_string_list_add(&argv, "1");
    rc |= hr_string_list_add(&argv, "--control");
    rc |= hr_string_list_add(&argv, HR_CONTROL);
    rc |= hr_string_list_add(&argv, "--ready-file");
    rc |= hr_string_list_add(&argv, "%s", run->ready_path);
    rc |= hr_string_list_add(&argv, "--timeout-ms");
    rc |= hr_string_list_add(&argv, "%d", timeout_ms);
    rc |= hr_string_list_add(&argv, "--keep-going");
    rc |= hr_fi_env(&env, NULL);

    if (rc == 0)
        rc = hr_program_start(&run->program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Publishes "end" on the control channel until the subscriber has it,
 * then waits for the subscriber to exit. Returns 0 or -1. */
static int hr_end_subscriber(hr_fi_run *run)
{
    int64_t deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;

    while (hr_publish(&run->server, HR_CONTROL, "end") < 1) {
        if (hr_harness_now_ms() >= deadline)
            return -1;
        hr_harness_sleep_ms(20);
    }
    return hr_program_wait(&run->program, HR_PROGRAM_TIMEOUT_MS);
}

/*
 * Checks a subscriber that lost its connection once: messages arrived in
 * order and once, every message published from after_break on arrived,
 * and the program saw expected_errors failed reads.
 */
static void hr_check_subscriber(hr_fi_run *run, long long after_break,
                                long long last, long long expected_errors)
{
    hr_sub_counts r;

    hr_sub_counts_read(&run->program, &r);
    HR_ASSERT_INT_EQ(run->program.status, 0);
    HR_ASSERT_INT_EQ(r.ended, 1);
    HR_ASSERT_INT_EQ(r.duplicates, 0);
    HR_ASSERT_INT_EQ(r.out_of_order, 0);
    HR_ASSERT_INT_EQ(r.pmessage_duplicates, 0);
    HR_ASSERT_INT_EQ(r.pmessage_out_of_order, 0);
    HR_ASSERT_INT_EQ(r.other_replies, 0);
    HR_ASSERT_INT_EQ(r.errors, expected_errors);
    HR_ASSERT_INT_EQ(r.max_sequence, last);
    HR_ASSERT_TRUE(hr_last_missing(r.missing) < after_break);
    HR_ASSERT_INT_EQ(hr_proxy_faults(&run->proxy), 1);
    HR_ASSERT_INT_EQ(hr_proxy_accepted(&run->proxy), 2);
}

/*
 * A fault armed before the subscriber starts, in its SUBSCRIBE request or
 * in the confirmation. The shim does not send a SUBSCRIBE again when it
 * may have run, so the subscriber must fail its setup at once, as with
 * plain hiredis, and never hang or see another command's reply.
 */
static void hr_check_subscribe_fault(const hr_fault *fault)
{
    unsigned failures = CU_get_number_of_failures();
    hr_fi_run run;

    if (!hr_fi_setup(&run))
        return;
    hr_proxy_set_fault(&run.proxy, fault);
    HR_ASSERT_INT_EQ(hr_fi_start_subscriber(&run, 0), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&run.program, HR_PROGRAM_TIMEOUT_MS), 0);

    HR_ASSERT_INT_EQ(run.program.status, 3);
    HR_ASSERT_TRUE(strstr(run.program.err, "SUBSCRIBE failed") != NULL);
    HR_ASSERT_TRUE(strstr(run.program.err, "reason=unsafe") != NULL);
    HR_ASSERT_INT_EQ(hr_program_integer(&run.program, "other_replies"), 0);
    HR_ASSERT_INT_EQ(hr_proxy_faults(&run.proxy), 1);
    HR_ASSERT_INT_EQ(hr_proxy_accepted(&run.proxy), 1);

    hr_fi_finish(&run, failures);
}

/* "*2\r\n$6\r\nSELECT\r\n$1\r\n5\r\n" is 23 bytes: 33 cuts SUBSCRIBE. */
static void test_fault_subscribe_request_reset(void)
{
    hr_fault fault = {HR_FAULT_RESET, HR_TO_SERVER, 33, 0};

    hr_check_subscribe_fault(&fault);
}

/* SELECT's "+OK\r\n" is 5 bytes: 15 cuts SUBSCRIBE's confirmation. */
static void test_fault_subscribe_confirmation_reset(void)
{
    hr_fault fault = {HR_FAULT_RESET, HR_TO_CLIENT, 15, 0};

    hr_check_subscribe_fault(&fault);
}

/*
 * A fault in the middle of a message, after HR_MESSAGES_BEFORE messages:
 * the subscriber subscribes again and goes on. With timeout_ms, a stall
 * reaches the program once as a timeout. receivers is the count of
 * subscriptions a message reaches once the subscriber is back.
 */
static void hr_check_message_fault(const hr_fault *fault, int timeout_ms,
                                   long long expected_errors,
                                   long long receivers)
{
    unsigned failures = CU_get_number_of_failures();
    hr_fi_run run;
    long long next = 1;
    long long after_break;

    if (!hr_fi_setup(&run))
        return;
    HR_ASSERT_INT_EQ(hr_fi_start_subscriber(&run, timeout_ms), 0);
    HR_ASSERT_INT_EQ(hr_harness_wait_file(run.ready_path), 0);
    hr_publish_range(&run.server, next, next + HR_MESSAGES_BEFORE - 1);
    next += HR_MESSAGES_BEFORE;

    hr_proxy_set_fault(&run.proxy, fault);
    HR_ASSERT_INT_EQ(hr_publish_until_reconnected(&run, &next), 0);
    HR_ASSERT_INT_EQ(hr_wait_subscribed(&run.server, receivers, &next), 0);

    after_break = next;
    hr_publish_range(&run.server, next, next + HR_MESSAGES_AFTER - 1);
    next += HR_MESSAGES_AFTER;
    HR_ASSERT_INT_EQ(hr_end_subscriber(&run), 0);
    hr_check_subscriber(&run, after_break, next - 1, expected_errors);

    hr_fi_finish(&run, failures);
}

static void test_fault_message_reset(void)
{
    hr_fault fault = {HR_FAULT_RESET, HR_TO_CLIENT, 10, 0};

    hr_check_message_fault(&fault, 0, 0, 2);
}

static void test_fault_message_truncated(void)
{
    hr_fault fault = {HR_FAULT_CLOSE, HR_TO_CLIENT, 25, 0};

    hr_check_message_fault(&fault, 0, 0, 2);
}

static void test_fault_message_stall(void)
{
    hr_fault fault = {HR_FAULT_STALL, HR_TO_CLIENT, 10, 0};

    /* The stalled connection stays subscribed on the server, so each message
     * reaches four subscriptions once the new one is set up. */
    hr_check_message_fault(&fault, HR_SOCKET_TIMEOUT_MS, 1, 4);
}

static CU_TestInfo tests[] = {
    {"test_fault_reset_mid_request_safe", test_fault_reset_mid_request_safe},
    {"test_fault_reset_mid_request_all", test_fault_reset_mid_request_all},
    {"test_fault_reset_before_reply_safe", test_fault_reset_before_reply_safe},
    {"test_fault_reset_before_reply_all", test_fault_reset_before_reply_all},
    {"test_fault_reset_mid_reply_safe", test_fault_reset_mid_reply_safe},
    {"test_fault_close_mid_reply_safe", test_fault_close_mid_reply_safe},
    {"test_fault_stall_request_safe", test_fault_stall_request_safe},
    {"test_fault_stall_reply_safe", test_fault_stall_reply_safe},
    {"test_fault_delay_within_timeout", test_fault_delay_within_timeout},
    {"test_fault_delay_past_timeout_get", test_fault_delay_past_timeout_get},
    {"test_fault_truncate_mid_bulk_string",
     test_fault_truncate_mid_bulk_string},
    {"test_fault_truncate_mid_bulk_header",
     test_fault_truncate_mid_bulk_header},
    {"test_fault_reset_mid_bulk_string", test_fault_reset_mid_bulk_string},
    {"test_fault_reset_large_set_same_length",
     test_fault_reset_large_set_same_length},
    {"test_fault_reset_large_set_shorter", test_fault_reset_large_set_shorter},
    {"test_fault_refused_while_idle", test_fault_refused_while_idle},
    {"test_fault_refused_at_connect", test_fault_refused_at_connect},
    {"test_fault_pipeline_reset_mid_request_all",
     test_fault_pipeline_reset_mid_request_all},
    {"test_fault_pipeline_reset_mid_request_safe",
     test_fault_pipeline_reset_mid_request_safe},
    {"test_fault_pipeline_reset_after_first_reply",
     test_fault_pipeline_reset_after_first_reply},
    {"test_fault_pipeline_reset_after_first_reply_all",
     test_fault_pipeline_reset_after_first_reply_all},
    {"test_fault_pipeline_stall_after_first_reply",
     test_fault_pipeline_stall_after_first_reply},
    {"test_fault_subscribe_request_reset", test_fault_subscribe_request_reset},
    {"test_fault_subscribe_confirmation_reset",
     test_fault_subscribe_confirmation_reset},
    {"test_fault_message_reset", test_fault_message_reset},
    {"test_fault_message_truncated", test_fault_message_truncated},
    {"test_fault_message_stall", test_fault_message_stall},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration fault injection", tests);
}

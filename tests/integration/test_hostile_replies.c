/*
 * Replies that no real server gives, sent by hostile_server.c to hr_script
 * with the shim preloaded. They are malformed RESP, a 1 MiB error line, an
 * error with no text, MOVED with a garbage address, a reply split into
 * single bytes, and a reply to a command never sent.
 *
 * The shim must classify each one, end every run within its timeout
 * without a crash or a retry loop, and never hand a reply to a command it
 * does not belong to. The server's request and connection counts show
 * what the shim sent.
 */
#include "harness.h"
#include "hostile_server.h"
#include "hr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_PROGRAM_TIMEOUT_MS 30000
#define HR_SOCKET_TIMEOUT_MS 2000
#define HR_HUGE_ERROR_BYTES (1024 * 1024)

/* hiredis's err for a protocol error: REDIS_ERR_PROTOCOL. */
#define HR_FAILED_PROTOCOL "failed:4:"

static bool hr_starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/*
 * Runs hr_script with the steps (NULL-terminated) against server, with the
 * shim, HIRETRY_RETRIES=3 and the extra setting (or NULL). Checks that the
 * script exited by itself with status 0.
 */
static void hr_run_steps(hr_hostile_server *server, hr_program *program,
                         const char *const *steps, const char *setting)
{
    hr_server target = {.port = server->port};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_script_args(&argv, &target, HR_SOCKET_TIMEOUT_MS);

    for (size_t i = 0; steps[i] != NULL; i++)
        rc |= hr_string_list_add(&argv, "%s", steps[i]);
    if (setting != NULL)
        rc |= hr_string_list_add(&env, "%s", setting);
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=3");
    HR_ASSERT_INT_EQ(rc, 0);

    if (rc == 0)
        HR_ASSERT_INT_EQ(
            hr_program_run(program, &argv, &env, HR_PROGRAM_TIMEOUT_MS), 0);
    HR_ASSERT_INT_EQ(program->status, 0);
    HR_ASSERT_TRUE(!program->timed_out);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
}

/* Copies the result of step into value; "" when it is missing. */
static void hr_step(const hr_program *program, int step, char *value,
                    size_t size)
{
    char key[32];

    snprintf(key, sizeof(key), "step%d", step);
    if (!hr_program_value(program, key, value, size))
        value[0] = '\0';
}

/* Starts server with one script, or fails the test. */
static bool hr_start(hr_hostile_server *server,
                     const hr_hostile_connection *connections, size_t count)
{
    hr_hostile_script script = {connections, count};
    int rc = hr_hostile_start(server, &script);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_hostile_stop(server);
    return rc == 0;
}

static void hr_finish(hr_hostile_server *server, hr_program *program,
                      unsigned failures)
{
    if (CU_get_number_of_failures() > failures)
        hr_program_print(program, "program");
    hr_program_free(program);
    hr_hostile_stop(server);
}

/*
 * Runs one step, with the extra setting (or NULL), against a server whose
 * every connection gives the same reply. Checks the step's result and how
 * many connections and requests the shim made.
 */
static void hr_check_one_reply(const hr_hostile_reply *reply, const char *step,
                               const char *setting, const char *expected,
                               long long connections, long long requests)
{
    unsigned failures = CU_get_number_of_failures();
    hr_hostile_connection connection = {reply, 1};
    const char *steps[] = {step, NULL};
    hr_hostile_server server;
    hr_program program = {0};
    char result[512];

    if (!hr_start(&server, &connection, 1))
        return;
    hr_run_steps(&server, &program, steps, setting);
    hr_step(&program, 1, result, sizeof(result));

    if (hr_starts_with(expected, "failed:"))
        HR_ASSERT_TRUE(hr_starts_with(result, expected));
    else
        HR_ASSERT_STR_EQ(result, expected);
    HR_ASSERT_INT_EQ(hr_hostile_accepted(&server), connections);
    HR_ASSERT_INT_EQ(hr_hostile_requests(&server), requests);

    hr_finish(&server, &program, failures);
}

/* A protocol error is an InvalidResponse, which valkey-py and the default
 * HIRETRY_RETRY_ON do not retry: the GET fails as in plain hiredis. */
static void test_hostile_malformed_get_fails(void)
{
    hr_hostile_reply reply = {.data = "?garbage\r\n"};

    hr_check_one_reply(&reply, "GET key", NULL, HR_FAILED_PROTOCOL, 1, 1);
}

/* With InvalidResponse retried, a read-only GET is tried 1 + 3 times, each
 * on a new connection, then fails. */
static void test_hostile_malformed_get_retried(void)
{
    hr_hostile_reply reply = {.data = "?garbage\r\n"};

    hr_check_one_reply(&reply, "GET key", "HIRETRY_RETRY_ON=+InvalidResponse",
                       HR_FAILED_PROTOCOL, 4, 4);
}

/* INCR may have run before the garbage came, so safe does not repeat it
 * even when InvalidResponse is retried. */
static void test_hostile_malformed_incr_not_repeated(void)
{
    hr_hostile_reply reply = {.data = "?garbage\r\n"};

    hr_check_one_reply(&reply, "INCR counter",
                       "HIRETRY_RETRY_ON=+InvalidResponse", HR_FAILED_PROTOCOL,
                       1, 1);
}

/* A bulk string whose length is not a number. */
static void test_hostile_malformed_bulk_length(void)
{
    hr_hostile_reply reply = {.data = "$abc\r\nvalue\r\n"};

    hr_check_one_reply(&reply, "GET key", "HIRETRY_RETRY_ON=+InvalidResponse",
                       HR_FAILED_PROTOCOL, 4, 4);
}

/* The malformed reply comes once: the GET fails, and the next GET goes out
 * on a new connection and gets its reply. */
static void test_hostile_malformed_then_valid(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_hostile_reply garbage = {.data = "*1\r\n?x\r\n"};
    hr_hostile_reply value = {.data = "$5\r\nhello\r\n"};
    hr_hostile_connection connections[] = {{&garbage, 1}, {&value, 1}};
    const char *steps[] = {"GET key", "GET key", NULL};
    hr_hostile_server server;
    hr_program program = {0};
    char result[256];

    if (!hr_start(&server, connections, 2))
        return;
    hr_run_steps(&server, &program, steps, NULL);

    hr_step(&program, 1, result, sizeof(result));
    HR_ASSERT_TRUE(hr_starts_with(result, HR_FAILED_PROTOCOL));
    hr_step(&program, 2, result, sizeof(result));
    HR_ASSERT_STR_EQ(result, "string:hello");
    HR_ASSERT_INT_EQ(hr_hostile_accepted(&server), 2);
    HR_ASSERT_INT_EQ(hr_hostile_requests(&server), 2);

    hr_finish(&server, &program, failures);
}

/* An error reply of 1 MiB reaches the program whole, once. */
static void test_hostile_huge_error_line(void)
{
    unsigned failures = CU_get_number_of_failures();
    size_t size = HR_HUGE_ERROR_BYTES + 16;
    char *line = malloc(size);
    char *result = malloc(size + 16);
    hr_hostile_reply reply;
    hr_hostile_connection connection = {&reply, 1};
    const char *steps[] = {"GET key", NULL};
    hr_hostile_server server;
    hr_program program = {0};

    HR_ASSERT_TRUE(line != NULL && result != NULL);
    if (line == NULL || result == NULL) {
        free(line);
        free(result);
        return;
    }
    memcpy(line, "-ERR ", 5);
    memset(line + 5, 'x', HR_HUGE_ERROR_BYTES);
    memcpy(line + 5 + HR_HUGE_ERROR_BYTES, "\r\n", 3);
    reply = (hr_hostile_reply){.data = line};

    if (hr_start(&server, &connection, 1)) {
        hr_run_steps(&server, &program, steps, NULL);
        hr_step(&program, 1, result, size + 16);

        HR_ASSERT_TRUE(hr_starts_with(result, "error:ERR xxx"));
        HR_ASSERT_UINT_EQ(strlen(result),
                          strlen("error:ERR ") + HR_HUGE_ERROR_BYTES);
        HR_ASSERT_INT_EQ(hr_hostile_accepted(&server), 1);
        HR_ASSERT_INT_EQ(hr_hostile_requests(&server), 1);
        hr_finish(&server, &program, failures);
    }
    free(line);
    free(result);
}

/* An error with no text at all is a ResponseError: the program gets it. */
static void test_hostile_error_without_text(void)
{
    hr_hostile_reply reply = {.data = "-\r\n"};

    hr_check_one_reply(&reply, "GET key", NULL, "error:", 1, 1);
}

/* An error of one space, which has an empty prefix word. */
static void test_hostile_error_single_space(void)
{
    hr_hostile_reply reply = {.data = "- \r\n"};

    hr_check_one_reply(&reply, "GET key", NULL, "error: ", 1, 1);
}

/* MOVED with an address that cannot be parsed: a MovedError, which is a
 * ResponseError and not retried, so the program reads it as it is. */
static void test_hostile_moved_garbage_address(void)
{
    hr_hostile_reply reply = {.data = "-MOVED 12182 not-an-address:port\r\n"};

    hr_check_one_reply(&reply, "GET key", NULL,
                       "error:MOVED 12182 not-an-address:port", 1, 1);
}

static void test_hostile_moved_without_address(void)
{
    hr_hostile_reply reply = {.data = "-MOVED\r\n"};

    hr_check_one_reply(&reply, "GET key", NULL, "error:MOVED", 1, 1);
}

/* A reply written one byte at a time, 1 ms apart. */
static void test_hostile_reply_single_bytes(void)
{
    hr_hostile_reply reply = {.data = "$11\r\nhello world\r\n",
                              .byte_by_byte = true};

    hr_check_one_reply(&reply, "GET key", NULL, "string:hello world", 1, 1);
}

/*
 * The server sends a reply to no command, after the reply to the first
 * GET: in the same write (same_write is true) or 20 ms later. The second GET
 * must read its own value from a new connection, never the stray ":99".
 */
static void hr_check_unsolicited(bool same_write, const char *pause,
                                 const char *setting)
{
    unsigned failures = CU_get_number_of_failures();
    hr_hostile_reply first_replies[] = {
        {.data = same_write ? "$1\r\na\r\n:99\r\n" : "$1\r\na\r\n",
         .unsolicited = same_write ? NULL : ":99\r\n"},
        {.data = "$1\r\nb\r\n"},
    };
    hr_hostile_reply second_replies[] = {{.data = "$1\r\nb\r\n"}};
    hr_hostile_connection connections[] = {{first_replies, 2},
                                           {second_replies, 1}};
    const char *steps[] = {"GET a", pause, "GET b", NULL};
    hr_hostile_server server;
    hr_program program = {0};
    char result[256];

    if (!hr_start(&server, connections, 2))
        return;
    hr_run_steps(&server, &program, steps, setting);

    hr_step(&program, 1, result, sizeof(result));
    HR_ASSERT_STR_EQ(result, "string:a");
    hr_step(&program, 3, result, sizeof(result));
    HR_ASSERT_STR_EQ(result, "string:b");
    HR_ASSERT_INT_EQ(hr_hostile_accepted(&server), 2);
    HR_ASSERT_TRUE(strstr(program.err, "event=unexpected_reply") != NULL);

    hr_finish(&server, &program, failures);
}

static void test_hostile_unsolicited_later(void)
{
    hr_check_unsolicited(false, "@sleep:100", NULL);
}

static void test_hostile_unsolicited_same_write(void)
{
    hr_check_unsolicited(true, "@sleep:100", NULL);
}

/* With HIRETRY_IDLE_CHECK=0 the check runs before every command, so a
 * stray reply is caught with no pause either. */
static void test_hostile_unsolicited_no_pause(void)
{
    hr_check_unsolicited(true, "@sleep:0", "HIRETRY_IDLE_CHECK=0");
}

static CU_TestInfo tests[] = {
    {"test_hostile_malformed_get_fails", test_hostile_malformed_get_fails},
    {"test_hostile_malformed_get_retried", test_hostile_malformed_get_retried},
    {"test_hostile_malformed_incr_not_repeated",
     test_hostile_malformed_incr_not_repeated},
    {"test_hostile_malformed_bulk_length", test_hostile_malformed_bulk_length},
    {"test_hostile_malformed_then_valid", test_hostile_malformed_then_valid},
    {"test_hostile_huge_error_line", test_hostile_huge_error_line},
    {"test_hostile_error_without_text", test_hostile_error_without_text},
    {"test_hostile_error_single_space", test_hostile_error_single_space},
    {"test_hostile_moved_garbage_address", test_hostile_moved_garbage_address},
    {"test_hostile_moved_without_address", test_hostile_moved_without_address},
    {"test_hostile_reply_single_bytes", test_hostile_reply_single_bytes},
    {"test_hostile_unsolicited_later", test_hostile_unsolicited_later},
    {"test_hostile_unsolicited_same_write",
     test_hostile_unsolicited_same_write},
    {"test_hostile_unsolicited_no_pause", test_hostile_unsolicited_no_pause},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration hostile replies", tests);
}

/*
 * fork() and concurrent first calls in a preloaded, multithreaded program,
 * with hr_fork_threads against a real valkey-server.
 *
 * While 8 threads send SET and GET, the main thread forks 20 times, and
 * each child sends CLIENT ID on the context it inherited. Two processes
 * must never share one connection, so each child's command must come from
 * a new connection: a CLIENT ID that differs from the parent's. No child
 * may hang on a lock another thread held at the fork, and the parent's
 * connection must keep its id.
 *
 * Then 32 threads make their first hiredis call at the same instant in a
 * fresh process: every connect and PING must succeed.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_FORKS 20
#define HR_PROGRAM_TIMEOUT_MS 120000

static bool hr_start(hr_server *server)
{
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Runs hr_fork_threads with the shim and the options in extra. */
static void hr_run(const hr_server *server, hr_program *program,
                   const char *const *extra)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_string_list_add(&argv, "%s", HIRETRY_FORK_THREADS_PATH);

    rc |= hr_string_list_add(&argv, "--port");
    rc |= hr_string_list_add(&argv, "%d", server->port);
    for (size_t i = 0; extra[i] != NULL; i++)
        rc |= hr_string_list_add(&argv, "%s", extra[i]);
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    HR_ASSERT_INT_EQ(rc, 0);

    if (rc == 0)
        HR_ASSERT_INT_EQ(
            hr_program_run(program, &argv, &env, HR_PROGRAM_TIMEOUT_MS), 0);
    HR_ASSERT_INT_EQ(program->status, 0);
    HR_ASSERT_TRUE(!program->timed_out);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
}

static void test_fork_child_reconnects(void)
{
    unsigned failures = CU_get_number_of_failures();
    const char *extra[] = {"--threads", "8", "--forks", "20", NULL};
    hr_server server;
    hr_program program = {0};
    long long parent_id;

    if (!hr_start(&server))
        return;
    hr_run(&server, &program, extra);
    parent_id = hr_program_integer(&program, "parent_id");

    HR_ASSERT_TRUE(parent_id > 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "parent_id_after"),
                     parent_id);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "children_timed_out"), 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "thread_errors"), 0);
    HR_ASSERT_TRUE(hr_program_integer(&program, "thread_ops") > 0);
    for (int k = 0; k < HR_FORKS; k++) {
        char key[32];
        long long child_id;

        snprintf(key, sizeof(key), "child%d_id", k);
        child_id = hr_program_integer(&program, key);
        HR_ASSERT_TRUE(child_id > 0);
        HR_ASSERT_TRUE(child_id != parent_id);
    }

    hr_test_finish(&server, &program, failures);
}

static void test_fork_first_calls_at_once(void)
{
    unsigned failures = CU_get_number_of_failures();
    const char *extra[] = {"--threads", "32", "--first-call", NULL};
    hr_server server;
    hr_program program = {0};

    if (!hr_start(&server))
        return;
    hr_run(&server, &program, extra);

    HR_ASSERT_INT_EQ(hr_program_integer(&program, "thread_errors"), 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "thread_ops"), 32);
    HR_ASSERT_TRUE(strstr(program.err, "hiretry:") == NULL);

    hr_test_finish(&server, &program, failures);
}

static CU_TestInfo tests[] = {
    {"test_fork_child_reconnects", test_fork_child_reconnects},
    {"test_fork_first_calls_at_once", test_fork_first_calls_at_once},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration fork", tests);
}

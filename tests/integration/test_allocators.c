/*
 * A hiredis 1.x program that replaced hiredis's allocators with
 * hiredisSetAllocators (hr_allocator_client), with the shim preloaded,
 * through CLIENT KILLs: the shim must release the commands hiredis
 * formatted with the program's allocator, never with free(), and the
 * program's INCRs must all succeed. Builds against hiredis 0.14, which has
 * no replaceable allocators, skip it.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <string.h>

#define HR_PASSWORD "allocators-password"
#define HR_OPS 200
#define HR_PROGRAM_TIMEOUT_MS 60000

#ifdef HIRETRY_ALLOCATOR_CLIENT_PATH

static void test_allocators_program_kept(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY,
                                 .password = HR_PASSWORD};
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_server_start(&server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0) {
        hr_server_stop(&server);
        return;
    }
    rc = hr_string_list_add(&argv, "%s", HIRETRY_ALLOCATOR_CLIENT_PATH);
    rc |= hr_string_list_add(&argv, "%d", server.port);
    rc |= hr_string_list_add(&argv, HR_PASSWORD);
    rc |= hr_string_list_add(&argv, "%d", HR_OPS);
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=20");
    rc |= hr_string_list_add(&env, "HIRETRY_WRITES=all");
    if (rc == 0)
        rc = hr_program_start(&program, &argv, &env);
    HR_ASSERT_INT_EQ(rc, 0);

    for (int kill = 1; rc == 0 && kill <= 3; kill++) {
        HR_ASSERT_INT_EQ(hr_server_wait_calls(&server, "incr", 40 * kill,
                                              HR_PROGRAM_TIMEOUT_MS),
                         0);
        HR_ASSERT_TRUE(hr_server_kill_clients(&server) >= 1);
    }
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "ok"), HR_OPS);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "errors"), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    hr_test_finish(&server, &program, failures);
}

static CU_TestInfo tests[] = {
    {"test_allocators_program_kept", test_allocators_program_kept},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration allocators", tests);
}

#else

int main(void)
{
    printf("integration allocators skipped: hiredis 0.14 has no "
           "hiredisSetAllocators\n");
    return 77;
}

#endif

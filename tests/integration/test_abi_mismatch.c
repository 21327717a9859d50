/*
 * A shim built for one hiredis ABI preloaded into a program linked with the
 * other: hr_workload built against the system's hiredis 0.14, run with the
 * shim of a hiredis 1.x build across a server restart. The shim must warn
 * once, then pass every call through, so that the program fails exactly as
 * it would without the shim, and never crashes on a layout it was not
 * built for. Builds against hiredis 0.14 skip it: the same check runs
 * there in the other direction, with the same code.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <string.h>

#define HR_PASSWORD "abi-password"
#define HR_OPS 300
#define HR_CALLS_BEFORE_KILL 50
#define HR_DOWN_MS 500
#define HR_PROGRAM_TIMEOUT_MS 60000

#ifdef HIRETRY_WORKLOAD_014_PATH

/* Returns how many times needle occurs in text. */
static int hr_count(const char *text, const char *needle)
{
    int count = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        count++;
    return count;
}

static void test_abi_mismatch_passes_through(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY,
                                 .password = HR_PASSWORD};
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    hr_workload_results r;
    int rc = hr_server_start(&server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0) {
        hr_server_stop(&server);
        return;
    }
    rc = hr_string_list_add(&argv, "%s", HIRETRY_WORKLOAD_014_PATH);
    rc |= hr_string_list_add(&argv, "--port");
    rc |= hr_string_list_add(&argv, "%d", server.port);
    rc |= hr_string_list_add(&argv, "--password");
    rc |= hr_string_list_add(&argv, HR_PASSWORD);
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "%d", HR_OPS);
    rc |= hr_string_list_add(&argv, "--sleep-ms");
    rc |= hr_string_list_add(&argv, "5");
    rc |= hr_string_list_add(&argv, "--keep-going");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=50");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=debug");
    HR_ASSERT_INT_EQ(rc, 0);
    if (rc == 0)
        rc = hr_run_across_restart(&server, &program, &argv, &env, "incr",
                                   HR_CALLS_BEFORE_KILL, HR_DOWN_MS,
                                   HR_PROGRAM_TIMEOUT_MS);
    HR_ASSERT_INT_EQ(rc, 0);
    hr_workload_results_read(&program, &r);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(hr_count(program.err, "event=abi_mismatch"), 1);
    HR_ASSERT_TRUE(strstr(program.err, "loaded=libhiredis.so.0.14 "
                                       "expected=libhiredis.so.1.1.0") != NULL);
    HR_ASSERT_INT_EQ(hr_count(program.err, "event=retry"), 0);
    /* Without retries, hiredis 0.14 keeps the context's error: every
       command after the kill fails, as without the shim. */
    HR_ASSERT_TRUE(r.ok >= HR_CALLS_BEFORE_KILL);
    HR_ASSERT_TRUE(r.errors > 0);
    HR_ASSERT_INT_EQ(r.ok + r.errors, HR_OPS);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    hr_test_finish(&server, &program, failures);
}

static CU_TestInfo tests[] = {
    {"test_abi_mismatch_passes_through", test_abi_mismatch_passes_through},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration abi mismatch", tests);
}

#else

int main(void)
{
    printf("integration abi mismatch skipped: %s\n", HIRETRY_ABI_SKIP_REASON);
    return 77;
}

#endif

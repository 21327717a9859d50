/*
 * Tests of the %p expansion in HIRETRY_LOG_FILE and HIRETRY_STATS_FILE:
 * each case expands a pattern into a buffer of a given size and compares
 * the text, including the exact fit and the one-byte-short buffer.
 */
#include <string.h>

#include "hiretry/path.h"
#include "hr_test.h"

static void test_path_expand_pid(void)
{
    char out[64];

    HR_ASSERT_INT_EQ(
        hr_path_expand("/var/log/app-%p.log", 4242, out, sizeof(out)), 0);
    HR_ASSERT_STR_EQ(out, "/var/log/app-4242.log");
}

static void test_path_expand_pid_twice(void)
{
    char out[64];

    HR_ASSERT_INT_EQ(hr_path_expand("%p/%p", 7, out, sizeof(out)), 0);
    HR_ASSERT_STR_EQ(out, "7/7");
}

static void test_path_expand_percent_escape(void)
{
    char out[64];

    HR_ASSERT_INT_EQ(hr_path_expand("/tmp/100%%p", 7, out, sizeof(out)), 0);
    HR_ASSERT_STR_EQ(out, "/tmp/100%p");
}

static void test_path_expand_other_percent_kept(void)
{
    char out[64];

    HR_ASSERT_INT_EQ(hr_path_expand("/tmp/%d-%", 7, out, sizeof(out)), 0);
    HR_ASSERT_STR_EQ(out, "/tmp/%d-%");
}

static void test_path_expand_exact_fit(void)
{
    char out[8]; /* "/a-1234" and its terminator */

    HR_ASSERT_INT_EQ(hr_path_expand("/a-%p", 1234, out, sizeof(out)), 0);
    HR_ASSERT_STR_EQ(out, "/a-1234");
}

static void test_path_expand_too_long(void)
{
    char out[7];

    HR_ASSERT_INT_EQ(hr_path_expand("/a-%p", 1234, out, sizeof(out)), -1);
    HR_ASSERT_STR_EQ(out, "");
}

static void test_path_per_process(void)
{
    HR_ASSERT_TRUE(hr_path_per_process("/tmp/x-%p.prom"));
    HR_ASSERT_TRUE(!hr_path_per_process("/tmp/x.prom"));
    HR_ASSERT_TRUE(!hr_path_per_process("/tmp/x-%%p.prom"));
    HR_ASSERT_TRUE(hr_path_per_process("/tmp/x-%%%p.prom"));
}

static CU_TestInfo tests[] = {
    {"test_path_expand_pid", test_path_expand_pid},
    {"test_path_expand_pid_twice", test_path_expand_pid_twice},
    {"test_path_expand_percent_escape", test_path_expand_percent_escape},
    {"test_path_expand_other_percent_kept",
     test_path_expand_other_percent_kept},
    {"test_path_expand_exact_fit", test_path_expand_exact_fit},
    {"test_path_expand_too_long", test_path_expand_too_long},
    {"test_path_per_process", test_path_per_process},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_test_run("path", tests);
}

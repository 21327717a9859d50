/* Shared CUnit plumbing for the unit tests: value-printing assertions and a
 * runner for one suite per executable. */
#include "hr_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

void hr_test_record(bool passed, unsigned line, const char *file,
                    const char *function, const char *format, ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, format);
    vsnprintf(message, sizeof(message), format, ap);
    va_end(ap);
    CU_assertImplementation(passed ? CU_TRUE : CU_FALSE, line, message, file,
                            function, CU_FALSE);
}

bool hr_test_str_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

int hr_test_run(const char *suite_name, const CU_TestInfo *tests)
{
    CU_SuiteInfo suites[] = {
        {suite_name, NULL, NULL, NULL, NULL, (CU_TestInfo *)tests},
        CU_SUITE_INFO_NULL,
    };
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "%s: registering tests failed: %s\n", suite_name,
                CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
               CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}

/*
 * Assertions for hiretry's CUnit tests that print the values they compare,
 * not only the expression text as CU_ASSERT_EQUAL does, and a main() helper
 * that runs one suite and exits non-zero on any failure.
 */
#ifndef HIRETRY_TEST_H
#define HIRETRY_TEST_H

#include <stdbool.h>
#include <stdint.h>

#include <CUnit/CUnit.h>

/* Records one assertion; message is copied by CUnit. Not for direct use. */
void hr_test_record(bool passed, unsigned line, const char *file,
                    const char *function, const char *format, ...)
    __attribute__((format(printf, 5, 6)));

#define HR_ASSERT_TRUE(cond)                                                   \
    hr_test_record((cond), __LINE__, __FILE__, __func__, "%s", #cond)

#define HR_ASSERT_INT_EQ(actual, expected)                                     \
    do {                                                                       \
        long long hr_a_ = (long long)(actual);                                 \
        long long hr_e_ = (long long)(expected);                               \
        hr_test_record(hr_a_ == hr_e_, __LINE__, __FILE__, __func__,           \
                       "%s == %s (%lld != %lld)", #actual, #expected, hr_a_,   \
                       hr_e_);                                                 \
    } while (0)

#define HR_ASSERT_UINT_EQ(actual, expected)                                    \
    do {                                                                       \
        unsigned long long hr_a_ = (unsigned long long)(actual);               \
        unsigned long long hr_e_ = (unsigned long long)(expected);             \
        hr_test_record(hr_a_ == hr_e_, __LINE__, __FILE__, __func__,           \
                       "%s == %s (%llu != %llu)", #actual, #expected, hr_a_,   \
                       hr_e_);                                                 \
    } while (0)

/* low <= actual <= high, as unsigned 64-bit values. */
#define HR_ASSERT_UINT_IN(actual, low, high)                                   \
    do {                                                                       \
        unsigned long long hr_a_ = (unsigned long long)(actual);               \
        unsigned long long hr_l_ = (unsigned long long)(low);                  \
        unsigned long long hr_h_ = (unsigned long long)(high);                 \
        hr_test_record(hr_a_ >= hr_l_ && hr_a_ <= hr_h_, __LINE__, __FILE__,   \
                       __func__, "%s in [%s, %s] (%llu not in [%llu, %llu])",  \
                       #actual, #low, #high, hr_a_, hr_l_, hr_h_);             \
    } while (0)

/* Two C strings are equal; NULL equals only NULL. */
#define HR_ASSERT_STR_EQ(actual, expected)                                     \
    do {                                                                       \
        const char *hr_a_ = (actual);                                          \
        const char *hr_e_ = (expected);                                        \
        hr_test_record(hr_test_str_equal(hr_a_, hr_e_), __LINE__, __FILE__,    \
                       __func__, "%s == %s (\"%s\" != \"%s\")", #actual,       \
                       #expected, hr_a_ ? hr_a_ : "(null)",                    \
                       hr_e_ ? hr_e_ : "(null)");                              \
    } while (0)

bool hr_test_str_equal(const char *a, const char *b);

/*
 * Runs the tests of one suite with CUnit's basic interface and returns the
 * process exit status: 0 when every test passed.
 */
int hr_test_run(const char *suite_name, const CU_TestInfo *tests);

#endif

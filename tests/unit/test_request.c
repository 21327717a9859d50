/*
 * Tests of the RESP request formatter. Expected bytes are what hiredis
 * 0.14.1's redisFormatCommandArgv produces for the same arguments, copied
 * here so that the test does not link hiredis. The cases cover the length
 * digits at each boundary, binary arguments, and a round trip of random
 * arguments through the request parser.
 */
#include "hiretry/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiretry/commands.h"
#include "hr_test.h"

#define ROUND_TRIPS 2000
#define ROUND_TRIP_ARGS 20
#define ROUND_TRIP_ARG_MAX 300

/* Formats argv and checks the result against expected (expected_len). */
static void check_format(int argc, const char **argv, const size_t *argvlen,
                         const char *expected, size_t expected_len)
{
    char *out = NULL;
    long len = hr_request_format(&out, argc, argv, argvlen);

    HR_ASSERT_INT_EQ(len, (long)expected_len);
    HR_ASSERT_TRUE(out != NULL);
    if (out == NULL || len != (long)expected_len)
        return;
    HR_ASSERT_TRUE(memcmp(out, expected, expected_len) == 0);
    HR_ASSERT_INT_EQ(out[len], '\0');
    free(out);
}

static void test_request_format_set(void)
{
    const char *argv[] = {"SET", "key", "value"};
    const char expected[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";

    check_format(3, argv, NULL, expected, sizeof(expected) - 1);
}

static void test_request_format_binary(void)
{
    const char *argv[] = {"SET", "a\0b", ""};
    const size_t argvlen[] = {3, 3, 0};
    const char expected[] = "*3\r\n$3\r\nSET\r\n$3\r\na\0b\r\n$0\r\n\r\n";

    check_format(3, argv, argvlen, expected, sizeof(expected) - 1);
}

static void test_request_format_no_arguments(void)
{
    check_format(0, NULL, NULL, "*0\r\n", 4);
}

static void test_request_format_negative_count(void)
{
    char *out = (char *)"unchanged";

    HR_ASSERT_INT_EQ(hr_request_format(&out, -1, NULL, NULL), -1);
    HR_ASSERT_TRUE(out == NULL);
}

/* Lengths 9, 10, 99, 100 and 1000 change the number of digits. */
static void test_request_format_length_digits(void)
{
    static const size_t lengths[] = {9, 10, 99, 100, 1000, 65536};

    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        size_t len = lengths[i];
        char *value = malloc(len);
        char *expected = malloc(len + 32);
        const char *argv[] = {"GET", value};
        int header;

        HR_ASSERT_TRUE(value != NULL && expected != NULL);
        if (value == NULL || expected == NULL) {
            free(value);
            free(expected);
            return;
        }
        memset(value, 'x', len);
        header = snprintf(expected, 32, "*2\r\n$3\r\nGET\r\n$%zu\r\n", len);
        memcpy(expected + header, value, len);
        memcpy(expected + header + len, "\r\n", 2);

        const size_t argvlen[] = {3, len};
        check_format(2, argv, argvlen, expected, (size_t)header + len + 2);
        free(value);
        free(expected);
    }
}

/* Ten arguments or more give a two-digit array header. */
static void test_request_format_many_arguments(void)
{
    const char *argv[] = {"DEL", "a", "b", "c", "d", "e",
                          "f",   "g", "h", "i", "j"};
    const char expected[] = "*11\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n"
                            "$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n"
                            "$1\r\ng\r\n$1\r\nh\r\n$1\r\ni\r\n$1\r\nj\r\n";

    check_format(11, argv, NULL, expected, sizeof(expected) - 1);
}

/* Random binary arguments come back whole through hr_request_parse. */
static void test_request_format_round_trip(void)
{
    static char storage[ROUND_TRIP_ARGS][ROUND_TRIP_ARG_MAX];
    const char *argv[ROUND_TRIP_ARGS];
    size_t argvlen[ROUND_TRIP_ARGS];
    hr_slice args[ROUND_TRIP_ARGS];
    unsigned seed = 12345;
    int mismatches = 0;

    for (int trip = 0; trip < ROUND_TRIPS; trip++) {
        int argc = 1 + rand_r(&seed) % ROUND_TRIP_ARGS;
        size_t consumed = 0;
        char *out = NULL;
        long len;

        for (int i = 0; i < argc; i++) {
            argvlen[i] = (size_t)(rand_r(&seed) % ROUND_TRIP_ARG_MAX);
            for (size_t j = 0; j < argvlen[i]; j++)
                storage[i][j] = (char)(rand_r(&seed) & 0xff);
            argv[i] = storage[i];
        }
        len = hr_request_format(&out, argc, argv, argvlen);
        if (len < 0 ||
            hr_request_parse(out, (size_t)len, args, ROUND_TRIP_ARGS,
                             &consumed) != argc ||
            consumed != (size_t)len) {
            mismatches++;
            free(out);
            continue;
        }
        for (int i = 0; i < argc; i++)
            if (args[i].len != argvlen[i] ||
                memcmp(args[i].ptr, argv[i], argvlen[i]) != 0)
                mismatches++;
        free(out);
    }
    HR_ASSERT_INT_EQ(mismatches, 0);
}

static CU_TestInfo tests[] = {
    {"test_request_format_set", test_request_format_set},
    {"test_request_format_binary", test_request_format_binary},
    {"test_request_format_no_arguments", test_request_format_no_arguments},
    {"test_request_format_negative_count", test_request_format_negative_count},
    {"test_request_format_length_digits", test_request_format_length_digits},
    {"test_request_format_many_arguments", test_request_format_many_arguments},
    {"test_request_format_round_trip", test_request_format_round_trip},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_test_run("request formatting", tests);
}

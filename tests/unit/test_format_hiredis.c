/*
 * Compares hr_request_vformat with the hiredis it is built against (0.14 or
 * 1.x). A format of %s, %b, %%, plain integer conversions (%d, %lld, %x and
 * the like), spaces and plain bytes must give the same bytes and length as
 * redisFormatCommand. Any other conversion, and a
 * format past the limits, must give HR_REQUEST_UNSUPPORTED, so that the
 * shim hands the format to hiredis. This is the only unit test that links
 * hiredis.
 *
 * Random formats take their values from one array of integer-sized slots,
 * filled in the order the format's conversions read them: a pointer for
 * %s, a pointer and a length for %b, a number for %d and the like. Reading
 * a slot as char * or size_t relies on pointers, size_t and uintptr_t
 * being passed alike, as on every LP64 target.
 */
#include "hiretry/request.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "hr_test.h"

_Static_assert(sizeof(uintptr_t) == sizeof(char *) &&
                   sizeof(uintptr_t) == sizeof(size_t),
               "values are passed in uintptr_t slots");

#define SLOTS 16
#define RANDOM_FORMATS 20000
#define VALUE_MAX 40

typedef struct format_case {
    char format[256];
    uintptr_t slots[SLOTS];
    int used;
    bool supported; /* only conversions that hiretry formats */
    char values[SLOTS][VALUE_MAX + 1];
} format_case;

static long ours(char **out, const char *format, ...)
{
    va_list ap;
    long len;

    va_start(ap, format);
    len = hr_request_vformat(out, format, ap);
    va_end(ap);
    return len;
}

/* Formats fc both ways and counts a difference in *mismatches. */
static void compare(const format_case *fc, int *mismatches)
{
    const uintptr_t *v = fc->slots;
    char *mine = NULL;
    char *theirs = NULL;
    long mine_len =
        ours(&mine, fc->format, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
             v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]);
    int theirs_len = redisFormatCommand(
        &theirs, fc->format, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
        v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]);
    bool same;

    if (!fc->supported) {
        same = mine_len == HR_REQUEST_UNSUPPORTED && mine == NULL;
    } else {
        same = theirs_len >= 0 && mine_len == theirs_len && mine != NULL &&
               memcmp(mine, theirs, (size_t)theirs_len + 1) == 0;
    }
    if (!same) {
        if (*mismatches < 5)
            fprintf(stderr, "format \"%s\": hiretry %ld, hiredis %d\n",
                    fc->format, mine_len, theirs_len);
        ++*mismatches;
    }
    free(mine);
    if (theirs_len >= 0)
        redisFreeCommand(theirs);
}

/* Appends a value of up to VALUE_MAX random bytes, NUL-free for %s. */
static void add_value(format_case *fc, bool binary)
{
    char *value = fc->values[fc->used];
    size_t len = (size_t)(rand() % (VALUE_MAX + 1));

    if (rand() % 4 == 0)
        len = 0;
    for (size_t i = 0; i < len; i++) {
        int ch = rand() % 256;
        value[i] = (char)(ch == 0 && !binary ? 'x' : ch);
    }
    value[len] = '\0';
    fc->slots[fc->used++] = (uintptr_t)value;
    if (binary)
        fc->slots[fc->used++] = (uintptr_t)len;
}

static void add(format_case *fc, size_t *n, const char *text)
{
    size_t len = strlen(text);

    memcpy(fc->format + *n, text, len);
    *n += len;
}

/* Returns an integer for a slot, often one at a limit of its type. */
static uintptr_t random_integer(void)
{
    static const unsigned long long limits[] = {0,
                                                1,
                                                (unsigned long long)-1,
                                                (unsigned long long)INT_MIN,
                                                INT_MAX,
                                                UINT_MAX,
                                                (unsigned long long)LLONG_MIN,
                                                LLONG_MAX,
                                                ULLONG_MAX,
                                                10,
                                                (unsigned long long)-10};
    unsigned long long bits;

    if (rand() % 2 == 0)
        return (uintptr_t)limits[rand() % 11];
    bits = ((unsigned long long)rand() << 33) ^
           ((unsigned long long)rand() << 11) ^ (unsigned long long)rand();
    return (uintptr_t)(bits >> (rand() % 64));
}

/* Builds a random format with its values. */
static void random_case(format_case *fc)
{
    static const char *const integers[] = {
        "%d",  "%i",  "%u",  "%o",   "%x",   "%X",   "%ld",  "%li",  "%lu",
        "%lo", "%lx", "%lX", "%lld", "%lli", "%llu", "%llo", "%llx", "%llX"};
    static const char *const other[] = {"%hd", "%hhu", "%5d",  "%q",  "%y",
                                        "%+d", "%-3x", "%.2d", "%#x", "%zu"};
    size_t n = 0;

    memset(fc, 0, sizeof(*fc));
    fc->supported = true;
    while (n < sizeof(fc->format) - 16 && fc->used < SLOTS - 2 &&
           rand() % 12 != 0) {
        int pick = rand() % 10;

        if (pick < 3) {
            add(fc, &n, " ");
        } else if (pick < 5) {
            int run = 1 + rand() % 4;
            for (int i = 0; i < run; i++) {
                char ch = (char)('!' + rand() % 94);
                fc->format[n++] = ch == '%' ? '&' : ch;
            }
        } else if (pick == 5) {
            add(fc, &n, "%s");
            add_value(fc, false);
        } else if (pick == 6) {
            add(fc, &n, "%b");
            add_value(fc, true);
        } else if (pick == 7) {
            add(fc, &n, "%%");
        } else if (pick == 8) {
            add(fc, &n, integers[rand() % 18]);
            fc->slots[fc->used++] = random_integer();
        } else if (rand() % 8 == 0) {
            add(fc, &n, other[rand() % 10]);
            fc->slots[fc->used++] = (uintptr_t)(rand() % 100000);
            fc->supported = false;
        } else {
            add(fc, &n, "\t");
        }
    }
    /* A '%' at the very end is a plain byte to hiredis. */
    if (rand() % 10 == 0)
        add(fc, &n, "%");
    fc->format[n] = '\0';
}

static void test_format_fixed(void)
{
    static const char value[] = "v a\0l";
    static const struct {
        const char *format;
        uintptr_t slots[6];
    } cases[] = {
        {"", {0}},
        {" ", {0}},
        {"PING", {0}},
        {"  SET  k  v  ", {0}},
        {"%", {0}},
        {"a%", {0}},
        {"a %", {0}},
        {"%%", {0}},
        {"x%%y %% %", {0}},
        {"\t \t", {0}},
        {"%s", {(uintptr_t) ""}},
        {"%s%s %s", {(uintptr_t) "a", (uintptr_t) "", (uintptr_t) "b c"}},
        {"%b", {(uintptr_t)value, 6}},
        {"%b", {(uintptr_t)NULL, 0}},
        {"SET %s %b", {(uintptr_t) "key", (uintptr_t)value, 5}},
        {"%b%b%b",
         {(uintptr_t)value, 1, (uintptr_t) "", 0, (uintptr_t)value, 6}},
        {"%%%s", {(uintptr_t) "%s"}},
        {"GET key%sTAIL", {(uintptr_t) " "}},
    };
    int mismatches = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        format_case fc;

        memset(&fc, 0, sizeof(fc));
        snprintf(fc.format, sizeof(fc.format), "%s", cases[i].format);
        memcpy(fc.slots, cases[i].slots, sizeof(cases[i].slots));
        fc.supported = true;
        compare(&fc, &mismatches);
    }
    HR_ASSERT_INT_EQ(mismatches, 0);
}

static void test_format_random(void)
{
    format_case fc;
    int mismatches = 0;
    int unsupported = 0;

    srand(20261204);
    for (int i = 0; i < RANDOM_FORMATS; i++) {
        random_case(&fc);
        unsupported += !fc.supported;
        compare(&fc, &mismatches);
    }
    HR_ASSERT_INT_EQ(mismatches, 0);
    /* Both kinds were compared. */
    HR_ASSERT_TRUE(unsupported > 100);
    HR_ASSERT_TRUE(unsupported < RANDOM_FORMATS / 2);
}

/* 32 arguments are formatted here, 33 go to hiredis. */
static void test_format_argument_limit(void)
{
    char format[128];
    char *out = NULL;
    size_t n = 0;

    for (int i = 0; i < 33; i++) {
        format[n++] = 'a';
        format[n++] = ' ';
    }
    format[n - 1] = '\0';
    HR_ASSERT_INT_EQ(ours(&out, format), HR_REQUEST_UNSUPPORTED);
    format[n - 3] = '\0';
    HR_ASSERT_INT_EQ(ours(&out, format), 5 + 32 * 7);
    free(out);
}

/* A request over INT_MAX bytes is hiredis's to refuse or format. */
static void test_format_too_long(void)
{
    char *out = (char *)"unchanged";

    HR_ASSERT_INT_EQ(ours(&out, "SET k %b", "", (size_t)INT_MAX),
                     HR_REQUEST_UNSUPPORTED);
    HR_ASSERT_TRUE(out == NULL);
}

/* Formats with hr_request_vformat, or with hiredis's redisvFormatCommand,
 * and returns the next argument read from the same va_list. */
static const char *next_argument(bool hiredis, const char *format, ...)
{
    va_list ap;
    char *out = NULL;
    const char *next;

    va_start(ap, format);
    if (hiredis) {
        if (redisvFormatCommand(&out, format, ap) >= 0)
            redisFreeCommand(out);
    } else {
        if (hr_request_vformat(&out, format, ap) >= 0)
            free(out);
    }
    next = va_arg(ap, const char *);
    va_end(ap);
    return next;
}

/*
 * Where va_list is an array type (x86-64), a callee's va_arg calls move
 * the caller's va_list, and a program may read on after hiredis. The
 * formatter must leave ap where hiredis leaves it, and untouched when it
 * hands the format to hiredis.
 */
static void test_format_va_list_position(void)
{
    static const char first[] = "first";
    static const char after[] = "after";

    HR_ASSERT_TRUE(next_argument(false, "SET %s %s", "k", "v", after) ==
                   next_argument(true, "SET %s %s", "k", "v", after));
    HR_ASSERT_TRUE(next_argument(false, "%b %%", "v", (size_t)1, after) ==
                   next_argument(true, "%b %%", "v", (size_t)1, after));
    HR_ASSERT_TRUE(next_argument(false, "%d %ld %llx", 1, 2L, 3LL, after) ==
                   next_argument(true, "%d %ld %llx", 1, 2L, 3LL, after));
    HR_ASSERT_TRUE(next_argument(false, "%u%o%X %", 1u, 2u, 3u, after) ==
                   next_argument(true, "%u%o%X %", 1u, 2u, 3u, after));
    HR_ASSERT_TRUE(next_argument(false, "%s %5d", first, 5, after) == first);
}

static CU_TestInfo tests[] = {
    {"test_format_fixed", test_format_fixed},
    {"test_format_random", test_format_random},
    {"test_format_argument_limit", test_format_argument_limit},
    {"test_format_too_long", test_format_too_long},
    {"test_format_va_list_position", test_format_va_list_position},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_test_run("formats against hiredis", tests);
}

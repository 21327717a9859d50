/*
 * Fuzzes hr_request_format with arguments decoded from the input: each
 * argument is one length byte followed by that many bytes (fewer at the end
 * of the input), at most HR_ARGS_MAX of them.
 *
 * Checked:
 * - the output is byte for byte what hiredis's redisFormatCommandArgv
 *   produces, NUL-terminated at the returned length;
 * - hr_request_parse reads back exactly the same arguments and consumes
 *   the whole output, and hr_request_name returns the first argument;
 * - the C-string path (argvlen NULL) gives the same bytes when no argument
 *   contains a NUL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "hiretry/commands.h"
#include "hiretry/request.h"
#include "hr_fuzz.h"

#define HR_ARGS_MAX 64

typedef struct hr_fuzz_args {
    int argc;
    char *argv[HR_ARGS_MAX]; /* each in its own allocation, plus a NUL */
    size_t argvlen[HR_ARGS_MAX];
    bool has_nul;
} hr_fuzz_args;

/* Decodes the arguments; returns -1 when out of memory. */
static int hr_decode_args(const uint8_t *data, size_t size, hr_fuzz_args *a)
{
    size_t i = 0;

    memset(a, 0, sizeof(*a));
    while (i < size && a->argc < HR_ARGS_MAX) {
        size_t len = data[i++];

        if (len > size - i)
            len = size - i;
        a->argv[a->argc] = malloc(len + 1);
        if (a->argv[a->argc] == NULL)
            return -1;
        memcpy(a->argv[a->argc], data + i, len);
        a->argv[a->argc][len] = '\0';
        a->argvlen[a->argc] = len;
        if (memchr(data + i, '\0', len) != NULL)
            a->has_nul = true;
        a->argc++;
        i += len;
    }
    return 0;
}

static void hr_free_args(hr_fuzz_args *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
}

/* Checks that the output parses back into exactly the input arguments. */
static void hr_check_parse_back(const char *out, long len,
                                const hr_fuzz_args *a)
{
    hr_slice args[HR_ARGS_MAX];
    hr_slice name;
    size_t consumed = 0;
    int count =
        hr_request_parse(out, (size_t)len, args, HR_ARGS_MAX, &consumed);

    HR_FUZZ_CHECK(count == a->argc, "parsed %d of %d arguments", count,
                  a->argc);
    HR_FUZZ_CHECK(consumed == (size_t)len, "consumed %zu of %ld", consumed,
                  len);
    for (int i = 0; i < count; i++) {
        HR_FUZZ_CHECK(args[i].len == a->argvlen[i],
                      "argument %d: %zu bytes, "
                      "expected %zu",
                      i, args[i].len, a->argvlen[i]);
        HR_FUZZ_CHECK(memcmp(args[i].ptr, a->argv[i], args[i].len) == 0,
                      "argument %d differs", i);
    }

    if (a->argc == 0)
        return;
    HR_FUZZ_CHECK(hr_request_name(out, (size_t)len, &name) == 0,
                  "no name found");
    HR_FUZZ_CHECK(name.ptr == args[0].ptr && name.len == args[0].len,
                  "name of %zu bytes, first argument of %zu", name.len,
                  args[0].len);
}

/* Checks the output against hiredis's formatter. */
static void hr_check_hiredis(const char *out, long len, const hr_fuzz_args *a)
{
    char *expected = NULL;
    int expected_len;

    expected_len = redisFormatCommandArgv(&expected, a->argc,
                                          (const char **)a->argv, a->argvlen);
    if (expected_len < 0)
        return;
    HR_FUZZ_CHECK(expected_len == len, "hiredis %d bytes, hiretry %ld",
                  expected_len, len);
    HR_FUZZ_CHECK(memcmp(expected, out, (size_t)len) == 0,
                  "bytes differ from hiredis");
    redisFreeCommand(expected);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hr_fuzz_args a;
    char *out = NULL;
    char *plain = NULL;
    long len;

    if (hr_decode_args(data, size, &a) != 0)
        goto done;

    len = hr_request_format(&out, a.argc, (const char **)a.argv, a.argvlen);
    if (len < 0)
        goto done;
    HR_FUZZ_CHECK(out != NULL, "length %ld and no buffer", len);
    HR_FUZZ_CHECK(out[len] == '\0', "no NUL at %ld", len);
    hr_check_parse_back(out, len, &a);
    hr_check_hiredis(out, len, &a);

    if (!a.has_nul) {
        long plain_len =
            hr_request_format(&plain, a.argc, (const char **)a.argv, NULL);

        HR_FUZZ_CHECK(plain_len == len, "C strings gave %ld, lengths %ld",
                      plain_len, len);
        HR_FUZZ_CHECK(memcmp(plain, out, (size_t)len) == 0,
                      "C strings gave other bytes");
    }

done:
    free(out);
    free(plain);
    hr_free_args(&a);
    return 0;
}

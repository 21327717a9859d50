/*
 * Fuzzes the RESP request parser and the command classifier. The input is
 * copied into a buffer of exactly its length, so AddressSanitizer reports
 * any read past it, and parsed with hr_request_parse and hr_request_name.
 * The arguments of a parsed request, or else the input split at spaces,
 * go to hr_command_classify.
 *
 * Checked for the parser:
 * - the consumed length is within len, and the request is self-delimiting
 *   (the same result from exactly those bytes, a failure from one less);
 * - every argument lies inside the request, in order;
 * - the result does not depend on max_args;
 * - hr_request_name agrees with the first argument.
 * Checked for the classifier:
 * - the safety and flags are valid and consistent;
 * - the result ignores ASCII case;
 * - when hr_command_flags_fixed holds, the name alone gives the same flags.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiretry/commands.h"
#include "hr_fuzz.h"

#define HR_ARGS_MAX 16

#define HR_FLAGS_ALL                                                           \
    (HR_COMMAND_KNOWN | HR_COMMAND_NEVER_REPEAT | HR_COMMAND_SESSION |         \
     HR_COMMAND_TRANSACTION | HR_COMMAND_PUBSUB | HR_COMMAND_BLOCKING)

static bool hr_slice_inside(const hr_slice *slice, const char *begin,
                            const char *end)
{
    return slice->ptr >= begin && slice->ptr <= end &&
           slice->len <= (size_t)(end - slice->ptr);
}

/* Checks the arguments of a parsed request and its self-delimitation. */
static void hr_check_parsed(const char *buf, size_t len, const hr_slice *args,
                            int count, size_t consumed)
{
    const char *end = buf + consumed;
    const char *previous = buf;
    int stored = count < HR_ARGS_MAX ? count : HR_ARGS_MAX;
    size_t again;

    HR_FUZZ_CHECK(consumed >= 4 && consumed <= len, "consumed %zu of %zu",
                  consumed, len);
    HR_FUZZ_CHECK(buf[0] == '*', "first byte 0x%02x", (unsigned char)buf[0]);

    for (int i = 0; i < stored; i++) {
        HR_FUZZ_CHECK(hr_slice_inside(&args[i], previous, end),
                      "argument %d at %td, %zu bytes, of %zu", i,
                      args[i].ptr - buf, args[i].len, consumed);
        HR_FUZZ_CHECK(args[i].ptr[args[i].len] == '\r',
                      "argument %d not followed by CR", i);
        previous = args[i].ptr + args[i].len;
    }

    HR_FUZZ_CHECK(hr_request_parse(buf, consumed, NULL, 0, &again) == count,
                  "count changed on the request's own bytes");
    HR_FUZZ_CHECK(again == consumed, "consumed %zu then %zu", consumed, again);
    HR_FUZZ_CHECK(hr_request_parse(buf, consumed - 1, NULL, 0, NULL) == -1,
                  "a request cut by one byte parsed");
}

/* Checks hr_request_name against the full parse. */
static void hr_check_name(const char *buf, size_t len, const hr_slice *args,
                          int count)
{
    hr_slice name = {NULL, 0};
    int rc = hr_request_name(buf, len, &name);

    if (rc != 0) {
        HR_FUZZ_CHECK(rc == -1, "returned %d", rc);
        HR_FUZZ_CHECK(count <= 0, "name failed, parse found %d", count);
        return;
    }
    HR_FUZZ_CHECK(hr_slice_inside(&name, buf, buf + len),
                  "name at %td, %zu bytes, of %zu", name.ptr - buf, name.len,
                  len);
    if (count > 0) {
        HR_FUZZ_CHECK(name.ptr == args[0].ptr && name.len == args[0].len,
                      "name %zu bytes, first argument %zu bytes", name.len,
                      args[0].len);
    }
}

static void hr_check_info(const hr_command_info *info)
{
    HR_FUZZ_CHECK(info->safety == HR_REPEAT_UNSAFE ||
                      info->safety == HR_REPEAT_READONLY ||
                      info->safety == HR_REPEAT_SAFE,
                  "safety %d", (int)info->safety);
    HR_FUZZ_CHECK((info->flags & ~(unsigned)HR_FLAGS_ALL) == 0, "flags 0x%x",
                  info->flags);
    HR_FUZZ_CHECK(info->reason != NULL && info->reason[0] != '\0', "no reason");
    if (!(info->flags & HR_COMMAND_KNOWN)) {
        HR_FUZZ_CHECK(info->flags == 0, "unknown with flags 0x%x", info->flags);
        HR_FUZZ_CHECK(info->safety == HR_REPEAT_UNSAFE, "unknown is %d",
                      (int)info->safety);
    }
    if (info->flags & HR_COMMAND_NEVER_REPEAT) {
        HR_FUZZ_CHECK(info->safety == HR_REPEAT_UNSAFE,
                      "never repeated but safety %d", (int)info->safety);
    }
}

/* Returns a copy of slice in a new buffer, upper-cased if upper. */
static char *hr_case_copy(const hr_slice *slice, bool upper)
{
    char *copy = malloc(slice->len > 0 ? slice->len : 1);

    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < slice->len; i++) {
        char c = slice->ptr[i];

        if (upper && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (!upper && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        copy[i] = c;
    }
    return copy;
}

/* Checks that changing the case of the name and subcommand changes
 * nothing, and that a fixed name gives the same flags on its own. */
static void hr_check_classify(const hr_slice *argv, int argc)
{
    hr_command_info info = hr_command_classify(argv, argc);
    hr_command_info other;
    hr_slice folded[HR_ARGS_MAX];
    char *copies[2] = {NULL, NULL};
    int fold = argc < 2 ? argc : 2;

    hr_check_info(&info);
    if (argc < 1)
        return;

    if (hr_command_flags_fixed(&argv[0])) {
        hr_command_info alone = hr_command_classify(argv, 1);

        HR_FUZZ_CHECK(alone.flags == info.flags,
                      "fixed flags 0x%x, with %d arguments 0x%x", alone.flags,
                      argc, info.flags);
    }

    /* The case goes up or down depending on the name, to try both. */
    memcpy(folded, argv, (size_t)argc * sizeof(argv[0]));
    for (int i = 0; i < fold; i++) {
        copies[i] = hr_case_copy(&argv[i], (argv[0].len & 1) != 0);
        folded[i].ptr = copies[i];
    }
    if (copies[0] != NULL && (fold < 2 || copies[1] != NULL)) {
        other = hr_command_classify(folded, argc);
        HR_FUZZ_CHECK(other.safety == info.safety, "safety %d then %d",
                      (int)info.safety, (int)other.safety);
        HR_FUZZ_CHECK(other.flags == info.flags, "flags 0x%x then 0x%x",
                      info.flags, other.flags);
    }

    free(copies[0]);
    free(copies[1]);
}

/* Splits text at spaces into at most HR_ARGS_MAX arguments. */
static int hr_split_words(const char *text, size_t len, hr_slice *argv)
{
    int argc = 0;
    size_t i = 0;

    while (i < len && argc < HR_ARGS_MAX) {
        const char *space = memchr(text + i, ' ', len - i);
        size_t end = space != NULL ? (size_t)(space - text) : len;

        argv[argc].ptr = text + i;
        argv[argc].len = end - i;
        argc++;
        i = end + 1;
    }
    return argc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size > 0 ? size : 1);
    hr_slice args[HR_ARGS_MAX];
    size_t consumed = (size_t)-1;
    int count;

    if (buf == NULL)
        return 0;
    if (size > 0)
        memcpy(buf, data, size);

    count = hr_request_parse(buf, size, args, HR_ARGS_MAX, &consumed);
    HR_FUZZ_CHECK(count >= -1, "returned %d", count);
    if (count >= 0) {
        hr_check_parsed(buf, size, args, count, consumed);
    } else {
        HR_FUZZ_CHECK(consumed == (size_t)-1, "consumed set on failure");
    }
    hr_check_name(buf, size, args, count);

    if (count >= 0)
        hr_check_classify(args, count < HR_ARGS_MAX ? count : HR_ARGS_MAX);
    else
        hr_check_classify(args, hr_split_words(buf, size, args));

    free(buf);
    return 0;
}

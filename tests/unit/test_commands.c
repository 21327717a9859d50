/*
 * Tests of the RESP request parser and the command classifier.
 *
 * The parser runs on requests as hiredis 0.14.1's redisFormatCommand and
 * redisFormatCommandArgv produce them (the bytes are copied here, so the
 * test does not link hiredis), on every truncation of them, and on malformed
 * input. The classifier runs on a table of commands with the expected
 * safety, flags and reason. The test also includes the generated and the
 * reviewed tables to check that they are sorted, that every generated row
 * is found, and that every reviewed row has a case that classifies as the
 * row specifies.
 */
#include "hiretry/commands.h"
#include "hiretry/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hr_test.h"

#define ARRAY_SIZE(array) (sizeof(array) / sizeof((array)[0]))
#define MAX_ARGS 12

/* A request from hiredis, its length and its arguments. */
typedef struct request_case {
    const char *bytes;
    size_t len;
    int argc;
    hr_slice args[MAX_ARGS];
} request_case;

#define LITERAL(s) s, sizeof(s) - 1

static const request_case formatted_requests[] = {
    /* redisFormatCommand(&cmd, "GET %s", "key") */
    {LITERAL("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"),
     2,
     {{LITERAL("GET")}, {LITERAL("key")}}},
    /* redisFormatCommand(&cmd, "SET %b %b", "a\0b", 3, "x\r\ny", 4) */
    {LITERAL("*3\r\n$3\r\nSET\r\n$3\r\na\0b\r\n$4\r\nx\r\ny\r\n"),
     3,
     {{LITERAL("SET")}, {LITERAL("a\0b")}, {LITERAL("x\r\ny")}}},
    /* redisFormatCommandArgv with the arguments HSET, h, "" and v */
    {LITERAL("*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$0\r\n\r\n$1\r\nv\r\n"),
     4,
     {{LITERAL("HSET")}, {LITERAL("h")}, {LITERAL("")}, {LITERAL("v")}}},
    /* redisFormatCommand(&cmd, "PING") */
    {LITERAL("*1\r\n$4\r\nPING\r\n"), 1, {{LITERAL("PING")}}},
};

static void assert_slice_eq(hr_slice actual, hr_slice expected)
{
    HR_ASSERT_UINT_EQ(actual.len, expected.len);
    HR_ASSERT_TRUE(actual.len == expected.len &&
                   memcmp(actual.ptr, expected.ptr, actual.len) == 0);
}

static void test_parse_formatted_requests(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(formatted_requests); i++) {
        const request_case *c = &formatted_requests[i];
        hr_slice args[MAX_ARGS];
        size_t consumed = 0;
        int argc =
            hr_request_parse(c->bytes, c->len, args, MAX_ARGS, &consumed);

        HR_ASSERT_INT_EQ(argc, c->argc);
        HR_ASSERT_UINT_EQ(consumed, c->len);
        for (int j = 0; j < c->argc && j < argc; j++)
            assert_slice_eq(args[j], c->args[j]);
    }
}

static void test_parse_points_into_buffer(void)
{
    const request_case *c = &formatted_requests[1];
    hr_slice args[MAX_ARGS];
    size_t consumed = 0;

    HR_ASSERT_INT_EQ(
        hr_request_parse(c->bytes, c->len, args, MAX_ARGS, &consumed), 3);
    HR_ASSERT_TRUE(args[1].ptr == c->bytes + 17);
    HR_ASSERT_TRUE(args[2].ptr == c->bytes + 26);
}

static void test_parse_truncated_every_offset(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(formatted_requests); i++) {
        const request_case *c = &formatted_requests[i];

        for (size_t len = 0; len < c->len; len++) {
            /* A copy of exactly len bytes lets ASan catch a read past it. */
            char *copy = malloc(len > 0 ? len : 1);
            hr_slice args[MAX_ARGS];
            size_t consumed = 12345;
            int argc;

            HR_ASSERT_TRUE(copy != NULL);
            if (copy == NULL)
                return;
            memcpy(copy, c->bytes, len);
            argc = hr_request_parse(copy, len, args, MAX_ARGS, &consumed);
            HR_ASSERT_INT_EQ(argc, -1);
            HR_ASSERT_UINT_EQ(consumed, 12345);
            free(copy);
        }
    }
}

static void test_parse_trailing_bytes(void)
{
    static const char two[] = "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n";
    hr_slice args[MAX_ARGS];
    size_t consumed = 0;

    HR_ASSERT_INT_EQ(
        hr_request_parse(two, sizeof(two) - 1, args, MAX_ARGS, &consumed), 1);
    HR_ASSERT_UINT_EQ(consumed, 14);
    assert_slice_eq(args[0], (hr_slice){LITERAL("PING")});
}

static void test_parse_more_args_than_max(void)
{
    const request_case *c = &formatted_requests[2];
    hr_slice args[2] = {{NULL, 0}, {"sentinel", 8}};
    size_t consumed = 0;

    HR_ASSERT_INT_EQ(hr_request_parse(c->bytes, c->len, args, 1, &consumed), 4);
    HR_ASSERT_UINT_EQ(consumed, c->len);
    assert_slice_eq(args[0], c->args[0]);
    HR_ASSERT_STR_EQ(args[1].ptr, "sentinel");
}

static void test_parse_without_outputs(void)
{
    const request_case *c = &formatted_requests[0];

    HR_ASSERT_INT_EQ(hr_request_parse(c->bytes, c->len, NULL, 0, NULL), 2);
    HR_ASSERT_INT_EQ(hr_request_parse(c->bytes, c->len, NULL, 5, NULL), 2);
    HR_ASSERT_INT_EQ(hr_request_parse(NULL, 0, NULL, 0, NULL), -1);
}

static void test_parse_zero_arguments(void)
{
    size_t consumed = 0;

    HR_ASSERT_INT_EQ(hr_request_parse(LITERAL("*0\r\n"), NULL, 0, &consumed),
                     0);
    HR_ASSERT_UINT_EQ(consumed, 4);
}

static void test_parse_rejects_malformed(void)
{
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {LITERAL("")},
        {LITERAL("*")},
        {LITERAL("*\r\n")},
        {LITERAL("+OK\r\n")},
        {LITERAL("*-1\r\n")},
        {LITERAL("*+1\r\n$4\r\nPING\r\n")},
        {LITERAL("*01\r\n$4\r\nPING\r\n")},
        {LITERAL("*1 \r\n$4\r\nPING\r\n")},
        {LITERAL("*1\n$4\nPING\n")},
        {LITERAL("*1\r\r\n$4\r\nPING\r\n")},
        {LITERAL("*1\r\n+PING\r\n")},
        {LITERAL("*1\r\n:4\r\n")},
        {LITERAL("*1\r\n$-1\r\n")},
        {LITERAL("*1\r\n$-4\r\nPING\r\n")},
        {LITERAL("*1\r\n$04\r\nPING\r\n")},
        {LITERAL("*1\r\n$\r\nPING\r\n")},
        {LITERAL("*1\r\n$3\r\nPING\r\n")},
        {LITERAL("*1\r\n$5\r\nPING\r\n")},
        {LITERAL("*1\r\n$4\r\nPING\n\n")},
        {LITERAL("*1\r\n$4\r\nPINGxx")},
        {LITERAL("*2\r\n$4\r\nPING\r\n")},
        {LITERAL("*99999999999\r\n$4\r\nPING\r\n")},
        {LITERAL("*2147483648\r\n$4\r\nPING\r\n")},
        {LITERAL("*2147483647\r\n$4\r\nPING\r\n")},
        {LITERAL("*1\r\n$99999999999999999999999999\r\nPING\r\n")},
        {LITERAL("*1\r\n$18446744073709551615\r\nPING\r\n")},
        {LITERAL("*1\r\n$18446744073709551614\r\nPING\r\n")},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        hr_slice args[MAX_ARGS];
        size_t consumed = 12345;
        int argc = hr_request_parse(cases[i].bytes, cases[i].len, args,
                                    MAX_ARGS, &consumed);

        HR_ASSERT_INT_EQ(argc, -1);
        HR_ASSERT_UINT_EQ(consumed, 12345);
        if (argc != -1)
            fprintf(stderr, "accepted malformed case %zu\n", i);
    }
}

static void test_parse_one_megabyte_argument(void)
{
    const size_t size = 1024 * 1024;
    const char header[] = "*2\r\n$3\r\nGET\r\n$1048576\r\n";
    size_t len = sizeof(header) - 1 + size + 2;
    char *request = malloc(len);
    hr_slice args[MAX_ARGS];
    size_t consumed = 0;

    HR_ASSERT_TRUE(request != NULL);
    if (request == NULL)
        return;
    memcpy(request, header, sizeof(header) - 1);
    memset(request + sizeof(header) - 1, 'k', size);
    memcpy(request + len - 2, "\r\n", 2);

    HR_ASSERT_INT_EQ(hr_request_parse(request, len, args, MAX_ARGS, &consumed),
                     2);
    HR_ASSERT_UINT_EQ(consumed, len);
    HR_ASSERT_UINT_EQ(args[1].len, size);
    HR_ASSERT_INT_EQ(
        hr_request_parse(request, len - 1, args, MAX_ARGS, &consumed), -1);
    free(request);
}

/* A command as C strings, with the classification it must get. */
typedef struct command_case {
    const char *argv[MAX_ARGS];
    hr_repeat_safety safety;
    unsigned flags;
    const char *reason;
} command_case;

#define KNOWN HR_COMMAND_KNOWN

static const char read_only[] = "read-only command";
static const char write_twice[] = "write: repeating may apply it twice";
static const char unknown[] = "unknown command";

static const command_case command_cases[] = {
    {{"GET", "k"}, HR_REPEAT_READONLY, KNOWN, read_only},
    {{"MGET", "a", "b"}, HR_REPEAT_READONLY, KNOWN, read_only},
    {{"SET", "k", "v"},
     HR_REPEAT_SAFE,
     KNOWN,
     "write whose repeat is harmless: stores the same value and replies OK, "
     "but a relative expiry restarts"},
    {{"SET", "k", "v", "NX"},
     HR_REPEAT_UNSAFE,
     KNOWN,
     "write: NX, XX, GET or an unknown option changes the reply on repeat"},
    {{"SET", "k", "v", "xx"},
     HR_REPEAT_UNSAFE,
     KNOWN,
     "write: NX, XX, GET or an unknown option changes the reply on repeat"},
    {{"SET", "k", "v", "GET"},
     HR_REPEAT_UNSAFE,
     KNOWN,
     "write: NX, XX, GET or an unknown option changes the reply on repeat"},
    {{"set", "k", "v", "ex", "10"},
     HR_REPEAT_SAFE,
     KNOWN,
     "write whose repeat is harmless: stores the same value and replies OK, "
     "but a relative expiry restarts"},
    {{"INCR", "k"}, HR_REPEAT_UNSAFE, KNOWN, write_twice},
    {{"DEL", "k"}, HR_REPEAT_UNSAFE, KNOWN, write_twice},
    {{"HSET", "h", "f", "v"}, HR_REPEAT_UNSAFE, KNOWN, write_twice},
    {{"PUBLISH", "c", "m"}, HR_REPEAT_UNSAFE, KNOWN, write_twice},
    {{"MSET", "a", "1", "b", "2"},
     HR_REPEAT_SAFE,
     KNOWN,
     "write whose repeat is harmless: stores the same values, replies OK"},
    {{"client", "setname", "x"},
     HR_REPEAT_SAFE,
     KNOWN | HR_COMMAND_SESSION,
     "write whose repeat is harmless: sets the same connection name, "
     "replies OK"},
    {{"CLIENT", "KILL", "ID", "7"},
     HR_REPEAT_UNSAFE,
     KNOWN | HR_COMMAND_NEVER_REPEAT,
     "never repeated: may close connections again"},
    {{"CONFIG", "GET", "maxmemory"},
     HR_REPEAT_READONLY,
     KNOWN,
     "read-only command: reads configuration parameters"},
    {{"CONFIG", "SET", "maxmemory", "1mb"},
     HR_REPEAT_UNSAFE,
     KNOWN,
     write_twice},
    {{"QUIT"},
     HR_REPEAT_UNSAFE,
     KNOWN | HR_COMMAND_NEVER_REPEAT,
     "never repeated: closes the connection"},
    {{"SHUTDOWN", "NOSAVE"},
     HR_REPEAT_UNSAFE,
     KNOWN | HR_COMMAND_NEVER_REPEAT,
     "never repeated: would stop the restarted server too"},
    {{"MONITOR"},
     HR_REPEAT_UNSAFE,
     KNOWN | HR_COMMAND_NEVER_REPEAT,
     "never repeated: turns the connection into a command stream"},
    {{"MULTI"}, HR_REPEAT_UNSAFE, KNOWN | HR_COMMAND_TRANSACTION, write_twice},
    {{"EXEC"}, HR_REPEAT_UNSAFE, KNOWN | HR_COMMAND_TRANSACTION, write_twice},
    {{"SUBSCRIBE", "c"},
     HR_REPEAT_UNSAFE,
     KNOWN | HR_COMMAND_PUBSUB,
     write_twice},
    {{"BLPOP", "l", "0"},
     HR_REPEAT_UNSAFE,
     KNOWN | HR_COMMAND_BLOCKING,
     write_twice},
    {{"XREAD", "COUNT", "1", "STREAMS", "s", "0"},
     HR_REPEAT_READONLY,
     KNOWN,
     read_only},
    {{"XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "s", "$"},
     HR_REPEAT_READONLY,
     KNOWN | HR_COMMAND_BLOCKING,
     read_only},
    {{"xread", "block", "100", "streams", "s", "$"},
     HR_REPEAT_READONLY,
     KNOWN | HR_COMMAND_BLOCKING,
     read_only},
    /* After STREAMS the words are keys and IDs, even one named "block". */
    {{"XREAD", "STREAMS", "block", "0"}, HR_REPEAT_READONLY, KNOWN, read_only},
    {{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"},
     HR_REPEAT_UNSAFE,
     KNOWN,
     write_twice},
    {{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"},
     HR_REPEAT_UNSAFE,
     KNOWN | HR_COMMAND_BLOCKING,
     write_twice},
    {{"XREADGROUP", "GROUP", "block", "c", "NOACK", "STREAMS", "s", ">"},
     HR_REPEAT_UNSAFE,
     KNOWN,
     write_twice},
    /* An option the scan does not know keeps the server's blocking flag. */
    {{"XREAD", "FOO", "STREAMS", "s", "0"},
     HR_REPEAT_READONLY,
     KNOWN | HR_COMMAND_BLOCKING,
     read_only},
    {{"WAIT", "1", "0"},
     HR_REPEAT_UNSAFE,
     KNOWN | HR_COMMAND_BLOCKING,
     write_twice},
    {{"EVAL", "return 1", "0"}, HR_REPEAT_UNSAFE, KNOWN, write_twice},
    {{"EVAL_RO", "return 1", "0"}, HR_REPEAT_READONLY, KNOWN, read_only},
    {{"EVALSHA_RO", "abc", "0"}, HR_REPEAT_READONLY, KNOWN, read_only},
    {{"FCALL_RO", "f", "0"}, HR_REPEAT_READONLY, KNOWN, read_only},
    {{"FCALL", "f", "0"}, HR_REPEAT_UNSAFE, KNOWN, write_twice},
    {{"GETSET", "k", "v"}, HR_REPEAT_UNSAFE, KNOWN, write_twice},
    {{"EXPIRE", "k", "10"}, HR_REPEAT_UNSAFE, KNOWN, write_twice},
    {{"FLUSHALL"}, HR_REPEAT_UNSAFE, KNOWN, write_twice},
    {{"XADD", "s", "*", "f", "v"}, HR_REPEAT_UNSAFE, KNOWN, write_twice},
    {{"SET", "k", "v", "EX"},
     HR_REPEAT_UNSAFE,
     KNOWN,
     "write: NX, XX, GET or an unknown option changes the reply on repeat"},
    {{"SET", "k", "v", "KEEPTTL", "PXAT", "1"},
     HR_REPEAT_SAFE,
     KNOWN,
     "write whose repeat is harmless: stores the same value and replies OK, "
     "but a relative expiry restarts"},
    {{"GETEX", "k", "EXAT", "1"},
     HR_REPEAT_UNSAFE,
     KNOWN,
     "write: with EXAT, PXAT or an unknown option the repeat may reply nil"},
    {{"FUNCTION", "LOAD", "#!lua name=lib"},
     HR_REPEAT_UNSAFE,
     KNOWN,
     "write: without REPLACE the repeat fails because the library exists"},
    /* The code itself is "replace": no REPLACE option. */
    {{"FUNCTION", "LOAD", "replace"},
     HR_REPEAT_UNSAFE,
     KNOWN,
     "write: without REPLACE the repeat fails because the library exists"},
    {{"cLiEnT", "SeTnAmE", "x"},
     HR_REPEAT_SAFE,
     KNOWN | HR_COMMAND_SESSION,
     "write whose repeat is harmless: sets the same connection name, "
     "replies OK"},
    /* COMMAND alone is valid, but other containers need a subcommand. */
    {{"COMMAND"},
     HR_REPEAT_READONLY,
     KNOWN,
     "read-only command: describes every command"},
    {{"CLIENT"}, HR_REPEAT_UNSAFE, KNOWN, write_twice},
    {{"CLIENT", "NOSUCHSUBCOMMAND"}, HR_REPEAT_UNSAFE, 0, unknown},
    {{"client|kill", "ID", "7"}, HR_REPEAT_UNSAFE, 0, unknown},
    {{"CLIENT", "kill|x"}, HR_REPEAT_UNSAFE, 0, unknown},
    {{"NOSUCHCOMMAND", "k"}, HR_REPEAT_UNSAFE, 0, unknown},
    {{"GE", "k"}, HR_REPEAT_UNSAFE, 0, unknown},
    {{"GETS", "k"}, HR_REPEAT_UNSAFE, 0, unknown},
    {{""}, HR_REPEAT_UNSAFE, 0, unknown},
};

/* Fills argv with slices of the NULL-terminated strings, returns argc. */
static int make_argv(const char *const *strings, hr_slice *argv)
{
    int argc = 0;

    while (argc < MAX_ARGS && strings[argc] != NULL) {
        argv[argc].ptr = strings[argc];
        argv[argc].len = strlen(strings[argc]);
        argc++;
    }
    return argc;
}

static hr_command_info classify_strings(const char *const *strings)
{
    hr_slice argv[MAX_ARGS];
    int argc = make_argv(strings, argv);

    return hr_command_classify(argv, argc);
}

static void assert_case(const command_case *c)
{
    hr_command_info info = classify_strings(c->argv);

    HR_ASSERT_INT_EQ(info.safety, c->safety);
    HR_ASSERT_UINT_EQ(info.flags, c->flags);
    HR_ASSERT_STR_EQ(info.reason, c->reason);
    if (info.safety != c->safety || info.flags != c->flags)
        fprintf(stderr, "  for the command %s %s\n", c->argv[0],
                c->argv[1] ? c->argv[1] : "");
}

static void test_classify_command_table(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(command_cases); i++)
        assert_case(&command_cases[i]);
}

static void test_classify_empty_argv(void)
{
    hr_slice argv[1] = {{"GET", 3}};
    hr_command_info info = hr_command_classify(argv, 0);

    HR_ASSERT_INT_EQ(info.safety, HR_REPEAT_UNSAFE);
    HR_ASSERT_UINT_EQ(info.flags, 0);
    HR_ASSERT_STR_EQ(info.reason, unknown);

    info = hr_command_classify(NULL, 1);
    HR_ASSERT_UINT_EQ(info.flags, 0);
    HR_ASSERT_STR_EQ(info.reason, unknown);

    info = hr_command_classify(argv, -1);
    HR_ASSERT_UINT_EQ(info.flags, 0);
}

static void test_classify_megabyte_name(void)
{
    const size_t size = 1024 * 1024;
    char *name = malloc(size);
    hr_slice argv[2];
    hr_command_info info;

    HR_ASSERT_TRUE(name != NULL);
    if (name == NULL)
        return;

    /* "get" followed by a megabyte of 'a' starts like a real command. */
    memset(name, 'a', size);
    memcpy(name, "get", 3);
    argv[0] = (hr_slice){name, size};
    info = hr_command_classify(argv, 1);
    HR_ASSERT_UINT_EQ(info.flags, 0);
    HR_ASSERT_STR_EQ(info.reason, unknown);

    /* The same as a subcommand of a container. */
    argv[0] = (hr_slice){"CLIENT", 6};
    argv[1] = (hr_slice){name, size};
    info = hr_command_classify(argv, 2);
    HR_ASSERT_UINT_EQ(info.flags, 0);
    HR_ASSERT_STR_EQ(info.reason, unknown);
    free(name);
}

static void test_classify_name_with_nul(void)
{
    hr_slice argv[2] = {{"GET\0", 4}, {"k", 1}};
    hr_command_info info = hr_command_classify(argv, 2);

    HR_ASSERT_UINT_EQ(info.flags, 0);

    argv[0] = (hr_slice){"GET", 3};
    info = hr_command_classify(argv, 2);
    HR_ASSERT_UINT_EQ(info.flags, KNOWN);
}

static void test_classify_parsed_request(void)
{
    const request_case *c = &formatted_requests[1];
    hr_slice args[MAX_ARGS];
    int argc = hr_request_parse(c->bytes, c->len, args, MAX_ARGS, NULL);
    hr_command_info info = hr_command_classify(args, argc);

    HR_ASSERT_INT_EQ(argc, 3);
    HR_ASSERT_INT_EQ(info.safety, HR_REPEAT_SAFE);
}

/*
 * The reviewed rows, expanded here as in core/commands.c, and one command
 * for each: a row without a case fails the coverage test.
 */
typedef struct reviewed_row {
    const char *name;
    hr_repeat_safety safety;
    const char *reason;
} reviewed_row;

#define HR_READ_ROW(name, reason)                                              \
    {name, HR_REPEAT_READONLY, "read-only command: " reason},
#define HR_WRITE_ROW(name, rule, reason)                                       \
    {name, HR_REPEAT_SAFE, "write whose repeat is harmless: " reason},
#define HR_FLAG_ROW(name, flags, rule)
#define HR_NEVER_REPEAT_ROW(name, reason)
static const reviewed_row safety_rows[] = {
#include "../../core/command_safety.inc"
};
#undef HR_READ_ROW
#undef HR_WRITE_ROW
#undef HR_FLAG_ROW
#undef HR_NEVER_REPEAT_ROW

typedef struct flag_row {
    const char *name;
    unsigned flags;
    const char *reason;
} flag_row;

#define HR_READ_ROW(name, reason)
#define HR_WRITE_ROW(name, rule, reason)
#define HR_FLAG_ROW(name, flags, rule) {name, flags, NULL},
#define HR_NEVER_REPEAT_ROW(name, reason)                                      \
    {name, HR_COMMAND_NEVER_REPEAT, "never repeated: " reason},
static const flag_row flag_rows[] = {
#include "../../core/command_safety.inc"
};
#undef HR_READ_ROW
#undef HR_WRITE_ROW
#undef HR_FLAG_ROW
#undef HR_NEVER_REPEAT_ROW

/* Commands for the reviewed rows, with the options their rules require. */
static const char *const reviewed_commands[][MAX_ARGS] = {
    {"ACL", "WHOAMI"},
    {"AUTH", "user", "secret"},
    {"CLIENT", "GETNAME"},
    {"CLIENT", "ID"},
    {"CLIENT", "INFO"},
    {"CLIENT", "LIST"},
    {"CLIENT", "SETINFO", "LIB-NAME", "app"},
    {"CLIENT", "SETNAME", "app"},
    {"CLUSTER", "INFO"},
    {"CLUSTER", "KEYSLOT", "k"},
    {"CLUSTER", "MYID"},
    {"CLUSTER", "NODES"},
    {"CLUSTER", "SHARDS"},
    {"CLUSTER", "SLOTS"},
    {"COMMAND"},
    {"COMMAND", "COUNT"},
    {"COMMAND", "DOCS", "get"},
    {"COMMAND", "GETKEYS", "GET", "k"},
    {"COMMAND", "GETKEYSANDFLAGS", "GET", "k"},
    {"COMMAND", "INFO", "get"},
    {"COMMAND", "LIST"},
    {"CONFIG", "GET", "maxmemory"},
    {"ECHO", "hello"},
    {"FUNCTION", "DUMP"},
    {"FUNCTION", "LIST"},
    {"FUNCTION", "LOAD", "REPLACE", "#!lua name=lib"},
    {"FUNCTION", "STATS"},
    {"GETEX", "k", "EX", "10"},
    {"HELLO", "3"},
    {"HMSET", "h", "f", "v"},
    {"INFO"},
    {"LASTSAVE"},
    {"LSET", "l", "0", "v"},
    {"MEMORY", "STATS"},
    {"MSET", "a", "1"},
    {"PING"},
    {"PSETEX", "k", "100", "v"},
    {"PUBSUB", "CHANNELS"},
    {"PUBSUB", "NUMPAT"},
    {"PUBSUB", "NUMSUB", "c"},
    {"PUBSUB", "SHARDCHANNELS"},
    {"PUBSUB", "SHARDNUMSUB", "c"},
    {"READONLY"},
    {"READWRITE"},
    {"RESET"},
    {"ROLE"},
    {"SCRIPT", "EXISTS", "abc"},
    {"SCRIPT", "LOAD", "return 1"},
    {"SELECT", "1"},
    {"SET", "k", "v", "PX", "100"},
    {"SETEX", "k", "10", "v"},
    {"SETRANGE", "k", "0", "v"},
    {"SLOWLOG", "GET"},
    {"SLOWLOG", "LEN"},
    {"TIME"},
    {"CLIENT", "KILL", "ID", "7"},
    {"CLIENT", "PAUSE", "100"},
    {"CLIENT", "REPLY", "ON"},
    {"CLUSTER", "FAILOVER"},
    {"CLUSTER", "RESET"},
    {"DEBUG", "SLEEP", "0"},
    {"DISCARD"},
    {"EXEC"},
    {"FAILOVER"},
    {"MONITOR"},
    {"MULTI"},
    {"PSUBSCRIBE", "p*"},
    {"PSYNC", "?", "-1"},
    {"PUNSUBSCRIBE"},
    {"QUIT"},
    {"REPLICAOF", "NO", "ONE"},
    {"SHUTDOWN"},
    {"SLAVEOF", "NO", "ONE"},
    {"SSUBSCRIBE", "c"},
    {"SUBSCRIBE", "c"},
    {"SUNSUBSCRIBE"},
    {"SYNC"},
    {"UNSUBSCRIBE"},
    {"UNWATCH"},
    {"WATCH", "k"},
    {"XREAD", "BLOCK", "0", "STREAMS", "s", "$"},
    {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"},
};

/* Whether argv names the table entry "name" or "name|subcommand". */
static bool command_matches(const char *const *argv, const char *entry)
{
    const char *bar = strchr(entry, '|');
    size_t name_len = bar != NULL ? (size_t)(bar - entry) : strlen(entry);

    if (strlen(argv[0]) != name_len ||
        strncasecmp(argv[0], entry, name_len) != 0)
        return false;
    if (bar == NULL)
        return true;
    return argv[1] != NULL && strcasecmp(argv[1], bar + 1) == 0;
}

static const char *const *find_reviewed_command(const char *entry)
{
    for (size_t i = 0; i < ARRAY_SIZE(reviewed_commands); i++) {
        if (command_matches(reviewed_commands[i], entry))
            return reviewed_commands[i];
    }
    return NULL;
}

static void test_classify_reviewed_safety_rows(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(safety_rows); i++) {
        const reviewed_row *row = &safety_rows[i];
        const char *const *argv = find_reviewed_command(row->name);
        hr_command_info info;

        HR_ASSERT_STR_EQ(argv != NULL ? row->name : NULL, row->name);
        if (argv == NULL)
            continue;
        info = classify_strings(argv);
        HR_ASSERT_INT_EQ(info.safety, row->safety);
        HR_ASSERT_STR_EQ(info.reason, row->reason);
        HR_ASSERT_TRUE(info.flags & HR_COMMAND_KNOWN);
    }
}

static void test_classify_reviewed_flag_rows(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(flag_rows); i++) {
        const flag_row *row = &flag_rows[i];
        const char *const *argv = find_reviewed_command(row->name);
        hr_command_info info;

        HR_ASSERT_STR_EQ(argv != NULL ? row->name : NULL, row->name);
        if (argv == NULL)
            continue;
        info = classify_strings(argv);
        HR_ASSERT_UINT_EQ(info.flags & row->flags, row->flags);
        HR_ASSERT_TRUE(info.flags & HR_COMMAND_KNOWN);
        if (row->reason == NULL)
            continue;
        HR_ASSERT_INT_EQ(info.safety, HR_REPEAT_UNSAFE);
        HR_ASSERT_STR_EQ(info.reason, row->reason);
    }
}

/* The names of the generated table. */
#define HR_COMMAND_ROW(name, arity, subcommands, servers, flags, acl) name,
static const char *const generated_names[] = {
#include "../../core/command_table.inc"
};
#undef HR_COMMAND_ROW

static void assert_sorted(const char *const *names, size_t count, size_t stride)
{
    for (size_t i = 1; i < count; i++) {
        const char *previous =
            *(const char *const *)((const char *)names + (i - 1) * stride);
        const char *current =
            *(const char *const *)((const char *)names + i * stride);

        HR_ASSERT_TRUE(strcmp(previous, current) < 0);
        if (strcmp(previous, current) >= 0)
            fprintf(stderr, "  \"%s\" is not before \"%s\"\n", previous,
                    current);
    }
}

static void test_tables_sorted(void)
{
    assert_sorted(generated_names, ARRAY_SIZE(generated_names),
                  sizeof(generated_names[0]));
    assert_sorted(&safety_rows[0].name, ARRAY_SIZE(safety_rows),
                  sizeof(safety_rows[0]));
    assert_sorted(&flag_rows[0].name, ARRAY_SIZE(flag_rows),
                  sizeof(flag_rows[0]));
}

/* Every reviewed name must exist, or its row would never apply. */
static bool generated_has(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(generated_names); i++) {
        if (strcmp(generated_names[i], name) == 0)
            return true;
    }
    return false;
}

static void test_tables_reviewed_names_exist(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(safety_rows); i++)
        HR_ASSERT_STR_EQ(
            generated_has(safety_rows[i].name) ? safety_rows[i].name : NULL,
            safety_rows[i].name);
    for (size_t i = 0; i < ARRAY_SIZE(flag_rows); i++)
        HR_ASSERT_STR_EQ(generated_has(flag_rows[i].name) ? flag_rows[i].name
                                                          : NULL,
                         flag_rows[i].name);
}

static void test_classify_every_generated_row(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(generated_names); i++) {
        const char *name = generated_names[i];
        const char *bar = strchr(name, '|');
        hr_slice argv[2];
        int argc = 1;
        hr_command_info info;

        argv[0].ptr = name;
        argv[0].len = bar != NULL ? (size_t)(bar - name) : strlen(name);
        if (bar != NULL) {
            argv[1].ptr = bar + 1;
            argv[1].len = strlen(bar + 1);
            argc = 2;
            HR_ASSERT_UINT_IN(argv[1].len, 1, HR_COMMAND_NAME_MAX);
        }
        HR_ASSERT_UINT_IN(argv[0].len, 1, HR_COMMAND_NAME_MAX);

        info = hr_command_classify(argv, argc);
        HR_ASSERT_STR_EQ((info.flags & HR_COMMAND_KNOWN) ? name : NULL, name);
    }
}

/* The name is the first bulk string; nothing after it is read. */
static void test_request_name(void)
{
    static const char request[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
    static const char cut_after_name[] = "*3\r\n$3\r\nGET\r\n$5\r\nab";
    static const char *const malformed[] = {
        "", "*", "*0\r\n", "*1\r\n", "*1\r\n$3\r\nGE", "*1\r\n$-1\r\n",
        "$3\r\nGET\r\n", "*1\r\n$3\r\nGETX\r\n",
    };
    hr_slice name = {NULL, 0};

    HR_ASSERT_INT_EQ(hr_request_name(request, sizeof(request) - 1, &name), 0);
    HR_ASSERT_UINT_EQ(name.len, 3);
    HR_ASSERT_TRUE(name.ptr == request + 8);

    HR_ASSERT_INT_EQ(hr_request_name(cut_after_name,
                                     sizeof(cut_after_name) - 1, &name),
                     0);
    HR_ASSERT_TRUE(name.len == 3 && memcmp(name.ptr, "GET", 3) == 0);

    for (size_t i = 0; i < ARRAY_SIZE(malformed); i++) {
        int rc = hr_request_name(malformed[i], strlen(malformed[i]), &name);

        HR_ASSERT_INT_EQ(rc, -1);
        if (rc != -1)
            fprintf(stderr, "  for the request case %zu\n", i);
    }
    HR_ASSERT_INT_EQ(hr_request_name(NULL, 0, &name), -1);
}

/* Names of one, two and three length digits, each with 1 and 9
 * arguments, are found whole. */
static void test_request_name_lengths(void)
{
    static const size_t lengths[] = {1, 9, 10, 11, 99, 100, 133, 1000};
    char name_bytes[1000];
    const char *argv[9];
    size_t argvlen[9];

    memset(name_bytes, 'N', sizeof(name_bytes));
    for (int i = 0; i < 9; i++) {
        argv[i] = i == 0 ? name_bytes : "arg";
        argvlen[i] = 3;
    }
    for (size_t i = 0; i < ARRAY_SIZE(lengths); i++) {
        for (int argc = 1; argc <= 9; argc += 8) {
            hr_slice name = {NULL, 0};
            char *request = NULL;
            long len;

            argvlen[0] = lengths[i];
            len = hr_request_format(&request, argc, argv, argvlen);
            HR_ASSERT_TRUE(len > 0);
            if (len <= 0)
                continue;
            HR_ASSERT_INT_EQ(hr_request_name(request, (size_t)len, &name), 0);
            HR_ASSERT_UINT_EQ(name.len, lengths[i]);
            HR_ASSERT_TRUE(name.ptr != NULL && name.ptr[0] == 'N');
            free(request);
        }
    }
}

/* Names whose flags may be cached, and names whose arguments decide. */
static void test_flags_fixed_by_name(void)
{
    static const struct {
        const char *name;
        bool fixed;
    } cases[] = {
        {"GET", true},     {"set", true},         {"INCR", true},
        {"MULTI", true},   {"blpop", true},       {"NOSUCHCOMMAND", true},
        {"", true},        {"client", false},     {"CONFIG", false},
        {"XREAD", false},  {"xreadgroup", false}, {"client|kill", true},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        hr_slice name = {cases[i].name, strlen(cases[i].name)};
        bool fixed = hr_command_flags_fixed(&name);

        HR_ASSERT_INT_EQ(fixed, cases[i].fixed);
        if (fixed != cases[i].fixed)
            fprintf(stderr, "  for the name \"%s\"\n", cases[i].name);
    }
}

/* Every name the generated table has with fixed flags really has them. */
static void test_flags_fixed_match_classify(void)
{
    static const char *const second[] = {"k", "BLOCK", "SETNAME", "GET"};

    for (size_t i = 0; i < ARRAY_SIZE(generated_names); i++) {
        hr_slice argv[2] = {{generated_names[i], strlen(generated_names[i])}};
        hr_command_info alone = hr_command_classify(argv, 1);

        if (strchr(generated_names[i], '|') != NULL ||
            !hr_command_flags_fixed(&argv[0]))
            continue;
        for (size_t j = 0; j < ARRAY_SIZE(second); j++) {
            argv[1] = (hr_slice){second[j], strlen(second[j])};
            HR_ASSERT_UINT_EQ(hr_command_classify(argv, 2).flags, alone.flags);
        }
    }
}

static const CU_TestInfo tests[] = {
    {"test_request_name", test_request_name},
    {"test_request_name_lengths", test_request_name_lengths},
    {"test_flags_fixed_by_name", test_flags_fixed_by_name},
    {"test_flags_fixed_match_classify", test_flags_fixed_match_classify},
    {"test_parse_formatted_requests", test_parse_formatted_requests},
    {"test_parse_points_into_buffer", test_parse_points_into_buffer},
    {"test_parse_truncated_every_offset", test_parse_truncated_every_offset},
    {"test_parse_trailing_bytes", test_parse_trailing_bytes},
    {"test_parse_more_args_than_max", test_parse_more_args_than_max},
    {"test_parse_without_outputs", test_parse_without_outputs},
    {"test_parse_zero_arguments", test_parse_zero_arguments},
    {"test_parse_rejects_malformed", test_parse_rejects_malformed},
    {"test_parse_one_megabyte_argument", test_parse_one_megabyte_argument},
    {"test_classify_command_table", test_classify_command_table},
    {"test_classify_empty_argv", test_classify_empty_argv},
    {"test_classify_megabyte_name", test_classify_megabyte_name},
    {"test_classify_name_with_nul", test_classify_name_with_nul},
    {"test_classify_parsed_request", test_classify_parsed_request},
    {"test_classify_reviewed_safety_rows", test_classify_reviewed_safety_rows},
    {"test_classify_reviewed_flag_rows", test_classify_reviewed_flag_rows},
    {"test_classify_every_generated_row", test_classify_every_generated_row},
    {"test_tables_sorted", test_tables_sorted},
    {"test_tables_reviewed_names_exist", test_tables_reviewed_names_exist},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_test_run("commands", tests);
}

/*
 * Tests of the failure classifier, table by table. Every input is copied
 * into a heap buffer of exactly its length, with no NUL terminator, so that
 * a build with AddressSanitizer reports any read past the length given.
 * Expected classes and flags are written out by hand from valkey-py 6.x and
 * from where Valkey rejects a command, not derived from the code under test.
 * Each check names its case, so a failure shows which row broke.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiretry/classify.h"
#include "hr_test.h"

#define HR_MEBIBYTE ((size_t)1 << 20)

/* A byte string and its length, embedded NUL bytes included. */
#define HR_BYTES(literal) literal, sizeof(literal) - 1

typedef struct hr_reply_case {
    const char *text;
    size_t len;
    hr_class cls;
    bool not_executed;
    bool drop_connection;
} hr_reply_case;

typedef struct hr_transport_case {
    hr_transport_error kind;
    int error_number;
    const char *errstr; /* NULL is passed as NULL */
    hr_class cls;
    bool permanent;
} hr_transport_case;

/* Copies len bytes to a heap buffer with nothing after them. */
static char *hr_heap_copy(const char *bytes, size_t len)
{
    char *copy = malloc(len > 0 ? len : 1);

    if (copy != NULL && len > 0)
        memcpy(copy, bytes, len);
    return copy;
}

static hr_failure hr_classify_reply_copy(const char *text, size_t len)
{
    char *copy = hr_heap_copy(text, len);
    hr_failure failure;

    HR_ASSERT_TRUE(copy != NULL);
    failure = hr_classify_reply(copy, len);
    free(copy);
    return failure;
}

static hr_failure hr_classify_transport_copy(hr_transport_error kind,
                                             int error_number,
                                             const char *errstr, size_t len)
{
    char *copy = NULL;
    hr_failure failure;

    if (errstr != NULL) {
        copy = hr_heap_copy(errstr, len);
        HR_ASSERT_TRUE(copy != NULL);
    }
    failure = hr_classify_transport(kind, error_number, copy, len);
    free(copy);
    return failure;
}

static hr_failure hr_classify_transport_case(const hr_transport_case *c)
{
    size_t len = c->errstr != NULL ? strlen(c->errstr) : 0;

    return hr_classify_transport_copy(c->kind, c->error_number, c->errstr, len);
}

/* Writes a printable form of len bytes: other bytes as \xNN. */
static void hr_describe(char *out, size_t size, const char *bytes, size_t len)
{
    size_t used = 0;
    size_t i;

    out[0] = '\0';
    for (i = 0; i < len && used + 5 < size; i++) {
        unsigned char byte = (unsigned char)bytes[i];

        if (byte >= 0x20 && byte < 0x7f)
            used += (size_t)snprintf(out + used, size - used, "%c", byte);
        else
            used += (size_t)snprintf(out + used, size - used, "\\x%02x", byte);
    }
}

/* Asserts one field of one case. The message shows the case's label. */
static void hr_check_field(const char *label, const char *field,
                           const char *actual, const char *expected)
{
    char actual_line[512];
    char expected_line[512];

    snprintf(actual_line, sizeof(actual_line), "[%s] %s=%s", label, field,
             actual);
    snprintf(expected_line, sizeof(expected_line), "[%s] %s=%s", label, field,
             expected);
    HR_ASSERT_STR_EQ(actual_line, expected_line);
}

static const char *hr_bool_text(bool value)
{
    return value ? "true" : "false";
}

static void hr_check_failure(const char *label, hr_failure actual, hr_class cls,
                             bool not_executed, bool drop_connection,
                             bool permanent)
{
    hr_check_field(label, "class", hr_class_name(actual.cls),
                   hr_class_name(cls));
    hr_check_field(label, "not_executed", hr_bool_text(actual.not_executed),
                   hr_bool_text(not_executed));
    hr_check_field(label, "drop_connection",
                   hr_bool_text(actual.drop_connection),
                   hr_bool_text(drop_connection));
    hr_check_field(label, "permanent", hr_bool_text(actual.permanent),
                   hr_bool_text(permanent));
}

static void hr_check_reply_cases(const hr_reply_case *cases, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        const hr_reply_case *c = &cases[i];
        char label[256];
        hr_failure failure = hr_classify_reply_copy(c->text, c->len);

        hr_describe(label, sizeof(label), c->text, c->len);
        hr_check_failure(label, failure, c->cls, c->not_executed,
                         c->drop_connection, false);
    }
}

static void hr_check_transport_cases(const hr_transport_case *cases,
                                     size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        const hr_transport_case *c = &cases[i];
        char label[256];
        hr_failure failure = hr_classify_transport_case(c);

        snprintf(label, sizeof(label), "kind %d errno %d errstr %s",
                 (int)c->kind, c->error_number,
                 c->errstr != NULL ? c->errstr : "NULL");
        hr_check_failure(label, failure, c->cls, false, true, c->permanent);
    }
}

#define HR_CHECK_REPLY_CASES(cases)                                            \
    hr_check_reply_cases(cases, sizeof(cases) / sizeof((cases)[0]))

#define HR_CHECK_TRANSPORT_CASES(cases)                                        \
    hr_check_transport_cases(cases, sizeof(cases) / sizeof((cases)[0]))

static void test_classify_reply_codes(void)
{
    static const hr_reply_case cases[] = {
        {HR_BYTES("OOM command not allowed when used memory > 'maxmemory'."),
         HR_CLASS_OUT_OF_MEMORY_ERROR, true, false},
        {HR_BYTES("WRONGPASS invalid username-password pair or user is "
                  "disabled."),
         HR_CLASS_AUTHENTICATION_ERROR, true, true},
        {HR_BYTES("NOAUTH Authentication required."),
         HR_CLASS_AUTHENTICATION_ERROR, true, true},
        {HR_BYTES("EXECABORT Transaction discarded because of previous "
                  "errors."),
         HR_CLASS_EXEC_ABORT_ERROR, false, false},
        {HR_BYTES("LOADING Valkey is loading the dataset in memory"),
         HR_CLASS_BUSY_LOADING_ERROR, true, true},
        {HR_BYTES("NOSCRIPT No matching script. Please use EVAL."),
         HR_CLASS_NO_SCRIPT_ERROR, true, false},
        {HR_BYTES("READONLY You can't write against a read only replica."),
         HR_CLASS_READ_ONLY_ERROR, true, false},
        {HR_BYTES("NOPERM User alice has no permissions to run the 'set' "
                  "command"),
         HR_CLASS_NO_PERMISSION_ERROR, true, false},
        {HR_BYTES("MOVED 3999 127.0.0.1:6381"), HR_CLASS_MOVED_ERROR, true,
         false},
        {HR_BYTES("MOVED 3999 [::1]:6381"), HR_CLASS_MOVED_ERROR, true, false},
        {HR_BYTES("ASK 3999 127.0.0.1:6381"), HR_CLASS_ASK_ERROR, true, false},
        {HR_BYTES("TRYAGAIN Multiple keys request during rehashing of slot"),
         HR_CLASS_TRY_AGAIN_ERROR, true, false},
        {HR_BYTES("CLUSTERDOWN The cluster is down"),
         HR_CLASS_CLUSTER_DOWN_ERROR, true, false},
        {HR_BYTES("CROSSSLOT Keys in request don't hash to the same slot"),
         HR_CLASS_CLUSTER_CROSS_SLOT_ERROR, true, false},
        {HR_BYTES("MASTERDOWN Link with MASTER is down and "
                  "replica-serve-stale-data is set to 'no'."),
         HR_CLASS_MASTER_DOWN_ERROR, true, false},
    };

    HR_CHECK_REPLY_CASES(cases);
}

static void test_classify_reply_code_alone(void)
{
    /* Python's "LOADING".split(" ")[0] is the whole text. */
    static const hr_reply_case cases[] = {
        {HR_BYTES("LOADING"), HR_CLASS_BUSY_LOADING_ERROR, true, true},
        {HR_BYTES("NOAUTH"), HR_CLASS_AUTHENTICATION_ERROR, true, true},
        {HR_BYTES("MOVED"), HR_CLASS_MOVED_ERROR, true, false},
        {HR_BYTES("ASK"), HR_CLASS_ASK_ERROR, true, false},
        {HR_BYTES("OOM"), HR_CLASS_OUT_OF_MEMORY_ERROR, true, false},
        {HR_BYTES("LOADING "), HR_CLASS_BUSY_LOADING_ERROR, true, true},
    };

    HR_CHECK_REPLY_CASES(cases);
}

static void test_classify_reply_err_messages(void)
{
    static const hr_reply_case cases[] = {
        {HR_BYTES("ERR max number of clients reached"),
         HR_CLASS_CONNECTION_ERROR, true, true},
        {HR_BYTES("ERR invalid password"), HR_CLASS_AUTHENTICATION_ERROR, true,
         true},
        {HR_BYTES("ERR Client sent AUTH, but no password is set"),
         HR_CLASS_AUTHENTICATION_ERROR, true, true},
        {HR_BYTES("ERR AUTH <password> called without any password "
                  "configured for the default user. Are you sure your "
                  "configuration is correct?"),
         HR_CLASS_AUTHENTICATION_ERROR, true, true},
        {HR_BYTES("ERR wrong number of arguments for 'auth' command"),
         HR_CLASS_AUTHENTICATION_WRONG_NUMBER_OF_ARGS_ERROR, true, false},
        {HR_BYTES("ERR wrong number of arguments for 'AUTH' command"),
         HR_CLASS_AUTHENTICATION_WRONG_NUMBER_OF_ARGS_ERROR, true, false},
        {HR_BYTES("ERR Error loading the extension. Please check the server "
                  "logs."),
         HR_CLASS_MODULE_ERROR, false, false},
        {HR_BYTES("ERR Error unloading module: no such module with that name"),
         HR_CLASS_MODULE_ERROR, false, false},
        {HR_BYTES("ERR Error unloading module: operation not possible."),
         HR_CLASS_MODULE_ERROR, false, false},
        {HR_BYTES("ERR Error unloading module: the module exports one or more "
                  "module-side data types, can't unload"),
         HR_CLASS_MODULE_ERROR, false, false},
    };

    HR_CHECK_REPLY_CASES(cases);
}

static void test_classify_reply_err_near_misses(void)
{
    static const hr_reply_case cases[] = {
        {HR_BYTES("ERR unknown command 'FOO', with args beginning with: "),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("ERR wrong number of arguments for 'get' command"),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("ERR wrong number of arguments for 'Auth' command"),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("ERR max number of clients reached."),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("ERR Max number of clients reached"), HR_CLASS_RESPONSE_ERROR,
         false, false},
        {HR_BYTES("ERR  max number of clients reached"),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("ERR max number of clients reached "),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("ERR max number of clients"), HR_CLASS_RESPONSE_ERROR, false,
         false},
        {HR_BYTES("ERRmax number of clients reached"), HR_CLASS_RESPONSE_ERROR,
         false, false},
        {HR_BYTES("err max number of clients reached"), HR_CLASS_RESPONSE_ERROR,
         false, false},
        {HR_BYTES("ERR invalid password\0"), HR_CLASS_RESPONSE_ERROR, false,
         false},
        {HR_BYTES("ERR Error unloading module: operation not possible"),
         HR_CLASS_RESPONSE_ERROR, false, false},
    };

    HR_CHECK_REPLY_CASES(cases);
}

static void test_classify_reply_err_without_message(void)
{
    static const hr_reply_case cases[] = {
        {HR_BYTES("ERR"), HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("ERR "), HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("ERR  "), HR_CLASS_RESPONSE_ERROR, false, false},
    };

    HR_CHECK_REPLY_CASES(cases);
}

static void test_classify_reply_other_codes(void)
{
    /* ResponseError in valkey-py. The server never ran some of them. */
    static const hr_reply_case cases[] = {
        {HR_BYTES("WRONGTYPE Operation against a key holding the wrong kind "
                  "of value"),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("BUSY Valkey is busy running a script. You can only call "
                  "SCRIPT KILL or SHUTDOWN NOSAVE."),
         HR_CLASS_RESPONSE_ERROR, true, false},
        {HR_BYTES("MISCONF Errors writing to the AOF file: No space left on "
                  "device"),
         HR_CLASS_RESPONSE_ERROR, true, false},
        {HR_BYTES("NOREPLICAS Not enough good replicas to write."),
         HR_CLASS_RESPONSE_ERROR, true, false},
        {HR_BYTES("BUSYKEY Target key name already exists."),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("NOGROUP No such key 'stream' or consumer group 'group'"),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("BUSYGROUP Consumer Group name already exists"),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("NOTBUSY No scripts in execution right now."),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("UNKILLABLE Sorry the script already executed write "
                  "commands against the dataset."),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("NOPROTO unsupported protocol version"),
         HR_CLASS_RESPONSE_ERROR, false, false},
    };

    HR_CHECK_REPLY_CASES(cases);
}

static void test_classify_reply_code_near_misses(void)
{
    static const hr_reply_case cases[] = {
        {HR_BYTES("loading Valkey is loading the dataset in memory"),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("Loading"), HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("moved 3999 127.0.0.1:6381"), HR_CLASS_RESPONSE_ERROR, false,
         false},
        {HR_BYTES("LOADINGX"), HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("LOADIN"), HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("MOVE 3999 127.0.0.1:6381"), HR_CLASS_RESPONSE_ERROR, false,
         false},
        {HR_BYTES("ASKING"), HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("BUSYX"), HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("LOADING\tValkey is loading"), HR_CLASS_RESPONSE_ERROR, false,
         false},
        {HR_BYTES(" LOADING Valkey is loading"), HR_CLASS_RESPONSE_ERROR, false,
         false},
        {HR_BYTES("-LOADING Valkey is loading"), HR_CLASS_RESPONSE_ERROR, false,
         false},
    };

    HR_CHECK_REPLY_CASES(cases);
}

static void test_classify_reply_empty(void)
{
    hr_failure failure = hr_classify_reply(NULL, 0);

    hr_check_failure("NULL", failure, HR_CLASS_RESPONSE_ERROR, false, false,
                     false);
    failure = hr_classify_reply_copy("", 0);
    hr_check_failure("empty", failure, HR_CLASS_RESPONSE_ERROR, false, false,
                     false);
    failure = hr_classify_reply_copy(" ", 1);
    hr_check_failure("space", failure, HR_CLASS_RESPONSE_ERROR, false, false,
                     false);
}

static void test_classify_reply_nul_and_binary(void)
{
    static const hr_reply_case cases[] = {
        {HR_BYTES("LOADING\0 Valkey is loading"), HR_CLASS_RESPONSE_ERROR,
         false, false},
        {HR_BYTES("\0LOADING Valkey is loading"), HR_CLASS_RESPONSE_ERROR,
         false, false},
        {HR_BYTES("LOADING Valkey\0is loading"), HR_CLASS_BUSY_LOADING_ERROR,
         true, true},
        {HR_BYTES("ERR max number of\0clients reached"),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("\xff\xfe LOADING"), HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("LOADING \xff\xfe\xc3\x28"), HR_CLASS_BUSY_LOADING_ERROR,
         true, true},
        {HR_BYTES("ERR \xc3\x28\xa0\xa1"), HR_CLASS_RESPONSE_ERROR, false,
         false},
        {HR_BYTES("\0"), HR_CLASS_RESPONSE_ERROR, false, false},
    };

    HR_CHECK_REPLY_CASES(cases);
}

static void test_classify_reply_trailing_crlf(void)
{
    /* hiredis strips CRLF. Left in place, it is part of the last word, as
     * it would be in valkey-py. */
    static const hr_reply_case cases[] = {
        {HR_BYTES("LOADING\r\n"), HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("LOADING\r"), HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("MOVED\n"), HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("LOADING Valkey is loading\r\n"), HR_CLASS_BUSY_LOADING_ERROR,
         true, true},
        {HR_BYTES("ERR max number of clients reached\r\n"),
         HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("ERR\r\n"), HR_CLASS_RESPONSE_ERROR, false, false},
        {HR_BYTES("\r\n"), HR_CLASS_RESPONSE_ERROR, false, false},
    };

    HR_CHECK_REPLY_CASES(cases);
}

static void test_classify_reply_reads_len_bytes(void)
{
    /* Bytes past len, here without a space or NUL, must not count. */
    static const hr_reply_case cases[] = {
        {"LOADINGXYZ", 7, HR_CLASS_BUSY_LOADING_ERROR, true, true},
        {"ERR invalid passwordXYZ", 20, HR_CLASS_AUTHENTICATION_ERROR, true,
         true},
        {"ERR invalid password", 19, HR_CLASS_RESPONSE_ERROR, false, false},
        {"ERR X", 3, HR_CLASS_RESPONSE_ERROR, false, false},
        {"MOVED 1 h:1", 4, HR_CLASS_RESPONSE_ERROR, false, false},
    };

    HR_CHECK_REPLY_CASES(cases);
}

/* Classifies a MiB heap buffer: prefix, then fill up to the end, no NUL. */
static hr_failure hr_classify_mebibyte(const char *prefix, char fill)
{
    size_t prefix_len = strlen(prefix);
    char *text = malloc(HR_MEBIBYTE);
    hr_failure failure = {HR_CLASS_NONE, false, false, false};

    HR_ASSERT_TRUE(text != NULL);
    if (text == NULL)
        return failure;
    memset(text, fill, HR_MEBIBYTE);
    memcpy(text, prefix, prefix_len);
    failure = hr_classify_reply(text, HR_MEBIBYTE);
    free(text);
    return failure;
}

static void test_classify_reply_mebibyte(void)
{
    hr_check_failure("MiB of A", hr_classify_mebibyte("", 'A'),
                     HR_CLASS_RESPONSE_ERROR, false, false, false);
    hr_check_failure("MiB of spaces", hr_classify_mebibyte("", ' '),
                     HR_CLASS_RESPONSE_ERROR, false, false, false);
    hr_check_failure("LOADING and a MiB", hr_classify_mebibyte("LOADING ", 'x'),
                     HR_CLASS_BUSY_LOADING_ERROR, true, true, false);
    hr_check_failure("ERR and a MiB", hr_classify_mebibyte("ERR ", 'x'),
                     HR_CLASS_RESPONSE_ERROR, false, false, false);
    hr_check_failure(
        "max clients and a MiB",
        hr_classify_mebibyte("ERR max number of clients reached", ' '),
        HR_CLASS_RESPONSE_ERROR, false, false, false);
}

static void test_classify_transport_by_kind(void)
{
    static const hr_transport_case cases[] = {
        {HR_TRANSPORT_EOF, 0, "Server closed the connection",
         HR_CLASS_CONNECTION_ERROR, false},
        /* The kind decides, whatever errno and errstr contain. */
        {HR_TRANSPORT_EOF, EACCES, "Permission denied",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_PROTOCOL, 0,
         "Protocol error, got \"x\" as reply type "
         "byte",
         HR_CLASS_INVALID_RESPONSE, false},
        {HR_TRANSPORT_PROTOCOL, EINVAL, NULL, HR_CLASS_INVALID_RESPONSE, false},
        {HR_TRANSPORT_TIMEOUT, 0, NULL, HR_CLASS_TIMEOUT_ERROR, false},
        {HR_TRANSPORT_TIMEOUT, EAGAIN, "Resource temporarily unavailable",
         HR_CLASS_TIMEOUT_ERROR, false},
        {HR_TRANSPORT_OOM, 0, "Out of memory", HR_CLASS_VALKEY_ERROR, false},
        {HR_TRANSPORT_OOM, ENOMEM, NULL, HR_CLASS_VALKEY_ERROR, false},
        /* Values outside the enum count as REDIS_ERR_OTHER. */
        {(hr_transport_error)0, 0, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {(hr_transport_error)7, EINVAL, "Invalid argument", HR_CLASS_DATA_ERROR,
         true},
        {(hr_transport_error)-1, 0, "Invalid format string",
         HR_CLASS_DATA_ERROR, true},
    };

    HR_CHECK_TRANSPORT_CASES(cases);
}

static void test_classify_transport_io_errno(void)
{
    static const hr_transport_case cases[] = {
        {HR_TRANSPORT_IO, EAGAIN, NULL, HR_CLASS_TIMEOUT_ERROR, false},
        {HR_TRANSPORT_IO, EWOULDBLOCK, NULL, HR_CLASS_TIMEOUT_ERROR, false},
        {HR_TRANSPORT_IO, ETIMEDOUT, NULL, HR_CLASS_TIMEOUT_ERROR, false},
        {HR_TRANSPORT_IO, EINPROGRESS, NULL, HR_CLASS_TIMEOUT_ERROR, false},
        {HR_TRANSPORT_IO, EINVAL, NULL, HR_CLASS_DATA_ERROR, true},
        {HR_TRANSPORT_IO, EDOM, NULL, HR_CLASS_DATA_ERROR, true},
        {HR_TRANSPORT_IO, ENOTSOCK, NULL, HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, EAFNOSUPPORT, NULL, HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, ENAMETOOLONG, NULL, HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, EACCES, NULL, HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, EPERM, NULL, HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, ENOTDIR, NULL, HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, EISDIR, NULL, HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, ECONNREFUSED, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, ECONNRESET, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, ECONNABORTED, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, EPIPE, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, ENOENT, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, EHOSTUNREACH, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, ENETUNREACH, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, EADDRNOTAVAIL, NULL, HR_CLASS_CONNECTION_ERROR,
         false},
        {HR_TRANSPORT_IO, EINTR, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, EMFILE, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, ENOMEM, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, 9999, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, -1, NULL, HR_CLASS_CONNECTION_ERROR, false},
    };

    HR_CHECK_TRANSPORT_CASES(cases);
}

static void test_classify_transport_errno_over_errstr(void)
{
    /* A translated strerror() text must not override errno. */
    static const hr_transport_case cases[] = {
        {HR_TRANSPORT_IO, ECONNREFUSED, "Verbindungsaufbau abgelehnt",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, ETIMEDOUT,
         "Die Wartezeit f\xc3\xbcr die Verbindung ist abgelaufen",
         HR_CLASS_TIMEOUT_ERROR, false},
        {HR_TRANSPORT_IO, EACCES, "Keine Berechtigung",
         HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, ECONNRESET, "Permission denied",
         HR_CLASS_CONNECTION_ERROR, false},
    };

    HR_CHECK_TRANSPORT_CASES(cases);
}

static void test_classify_transport_stale_errno(void)
{
    /* hiredis 0.14 sets "Invalid timeout specified" without touching errno,
     * so whatever errno held before decides nothing. */
    static const hr_transport_case cases[] = {
        {HR_TRANSPORT_IO, 0, "Invalid timeout specified", HR_CLASS_DATA_ERROR,
         true},
        {HR_TRANSPORT_IO, EAGAIN, "Invalid timeout specified",
         HR_CLASS_DATA_ERROR, true},
        {HR_TRANSPORT_IO, ECONNREFUSED, "Invalid timeout specified",
         HR_CLASS_DATA_ERROR, true},
    };

    HR_CHECK_TRANSPORT_CASES(cases);
}

static void test_classify_transport_io_errstr(void)
{
    /* errno 0: the English strerror() text, alone or after "prefix: ". */
    static const hr_transport_case cases[] = {
        {HR_TRANSPORT_IO, 0, "Resource temporarily unavailable",
         HR_CLASS_TIMEOUT_ERROR, false},
        {HR_TRANSPORT_IO, 0, "Connection timed out", HR_CLASS_TIMEOUT_ERROR,
         false},
        {HR_TRANSPORT_IO, 0, "poll(2): Connection timed out",
         HR_CLASS_TIMEOUT_ERROR, false},
        {HR_TRANSPORT_IO, 0, "Operation now in progress",
         HR_CLASS_TIMEOUT_ERROR, false},
        {HR_TRANSPORT_IO, 0, "Invalid argument", HR_CLASS_DATA_ERROR, true},
        {HR_TRANSPORT_IO, 0,
         "setsockopt(SO_RCVTIMEO): Numerical argument out of domain",
         HR_CLASS_DATA_ERROR, true},
        {HR_TRANSPORT_IO, 0, "Socket operation on non-socket",
         HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, 0, "Address family not supported by protocol",
         HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, 0, "File name too long", HR_CLASS_CONNECTION_ERROR,
         true},
        {HR_TRANSPORT_IO, 0, "Permission denied", HR_CLASS_CONNECTION_ERROR,
         true},
        {HR_TRANSPORT_IO, 0, "connect: Permission denied",
         HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, 0, "Operation not permitted",
         HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, 0, "Not a directory", HR_CLASS_CONNECTION_ERROR,
         true},
        {HR_TRANSPORT_IO, 0, "Is a directory", HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_IO, 0, "Connection refused", HR_CLASS_CONNECTION_ERROR,
         false},
        {HR_TRANSPORT_IO, 0, "No such file or directory",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, 0, "Server closed the connection",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, 0, "Out of memory", HR_CLASS_VALKEY_ERROR, false},
        {HR_TRANSPORT_IO, 0, "", HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, 0, NULL, HR_CLASS_CONNECTION_ERROR, false},
    };

    HR_CHECK_TRANSPORT_CASES(cases);
}

static void test_classify_transport_errstr_near_misses(void)
{
    static const hr_transport_case cases[] = {
        {HR_TRANSPORT_IO, 0, "permission denied", HR_CLASS_CONNECTION_ERROR,
         false},
        {HR_TRANSPORT_IO, 0, "Permission denied.", HR_CLASS_CONNECTION_ERROR,
         false},
        {HR_TRANSPORT_IO, 0, "Permission denied\n", HR_CLASS_CONNECTION_ERROR,
         false},
        {HR_TRANSPORT_IO, 0, "connect:Permission denied",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, 0, "xPermission denied", HR_CLASS_CONNECTION_ERROR,
         false},
        {HR_TRANSPORT_IO, 0, " Permission denied", HR_CLASS_CONNECTION_ERROR,
         false},
        {HR_TRANSPORT_IO, 0, "denied", HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, 0, "Invalid timeout specified ",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, 0, "invalid timeout specified",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_IO, 0, "Connection timed out ", HR_CLASS_CONNECTION_ERROR,
         false},
    };

    HR_CHECK_TRANSPORT_CASES(cases);
}

static void test_classify_transport_other(void)
{
    static const hr_transport_case cases[] = {
        {HR_TRANSPORT_OTHER, 0, "Name or service not known",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_OTHER, 0, "Temporary failure in name resolution",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_OTHER, 0, "Can't get addr: Name or service not known",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_OTHER, 0, "Can't create socket: No route to host",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_OTHER, 0,
         "Can't create socket: Address family not supported by protocol",
         HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_OTHER, 0, "Can't create socket: Permission denied",
         HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_OTHER, 0,
         "Can't bind socket: Cannot assign requested address",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_OTHER, 0, "Can't bind socket: Permission denied",
         HR_CLASS_CONNECTION_ERROR, true},
        {HR_TRANSPORT_OTHER, 0, "Invalid format string", HR_CLASS_DATA_ERROR,
         true},
        {HR_TRANSPORT_OTHER, 0, "Not enough information to reconnect",
         HR_CLASS_DATA_ERROR, true},
        {HR_TRANSPORT_OTHER, 0, "Invalid timeout specified",
         HR_CLASS_DATA_ERROR, true},
        /* Only caller errors change the class of REDIS_ERR_OTHER. */
        {HR_TRANSPORT_OTHER, 0, "Connection timed out",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_OTHER, 0, "Out of memory", HR_CLASS_CONNECTION_ERROR,
         false},
        /* errno is unreliable for REDIS_ERR_OTHER, so it is ignored. */
        {HR_TRANSPORT_OTHER, EACCES, "Name or service not known",
         HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_OTHER, ETIMEDOUT, NULL, HR_CLASS_CONNECTION_ERROR, false},
        {HR_TRANSPORT_OTHER, 0, "", HR_CLASS_CONNECTION_ERROR, false},
    };

    HR_CHECK_TRANSPORT_CASES(cases);
}

/*
 * The classifier hard-codes glibc's English strerror() texts. This process
 * never calls setlocale(), so it runs in the "C" locale, where strerror()
 * returns those texts: the text of each errno, alone or after a prefix,
 * must classify as the errno itself does.
 */
static void test_classify_transport_strerror_texts(void)
{
    static const int numbers[] = {
        EAGAIN,   ETIMEDOUT,    EINPROGRESS,  EINVAL,        EDOM,
        ENOTSOCK, EAFNOSUPPORT, ENAMETOOLONG, EACCES,        EPERM,
        ENOTDIR,  EISDIR,       ECONNREFUSED, ECONNRESET,    EPIPE,
        ENOENT,   EHOSTUNREACH, ENETUNREACH,  EADDRNOTAVAIL,
    };
    size_t i;

    for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        hr_failure expected =
            hr_classify_transport(HR_TRANSPORT_IO, numbers[i], NULL, 0);
        char text[256];
        hr_failure failure;

        snprintf(text, sizeof(text), "%s", strerror(numbers[i]));
        failure =
            hr_classify_transport_copy(HR_TRANSPORT_IO, 0, text, strlen(text));
        hr_check_failure(text, failure, expected.cls, false, true,
                         expected.permanent);

        snprintf(text, sizeof(text), "connect: %s", strerror(numbers[i]));
        failure =
            hr_classify_transport_copy(HR_TRANSPORT_IO, 0, text, strlen(text));
        hr_check_failure(text, failure, expected.cls, false, true,
                         expected.permanent);
    }
}

static void test_classify_transport_reads_len_bytes(void)
{
    char *copy = hr_heap_copy("Permission deniedXYZ", 20);
    hr_failure failure;

    HR_ASSERT_TRUE(copy != NULL);
    failure = hr_classify_transport(HR_TRANSPORT_IO, 0, copy, 17);
    hr_check_failure("len 17", failure, HR_CLASS_CONNECTION_ERROR, false, true,
                     true);
    failure = hr_classify_transport(HR_TRANSPORT_IO, 0, copy, 20);
    hr_check_failure("len 20", failure, HR_CLASS_CONNECTION_ERROR, false, true,
                     false);
    free(copy);

    /* NULL with a length is read as empty. */
    failure = hr_classify_transport(HR_TRANSPORT_OTHER, 0, NULL, 100);
    hr_check_failure("NULL len 100", failure, HR_CLASS_CONNECTION_ERROR, false,
                     true, false);
    failure = hr_classify_transport_copy(HR_TRANSPORT_IO, 0,
                                         HR_BYTES("Permission denied\0"));
    hr_check_failure("trailing NUL", failure, HR_CLASS_CONNECTION_ERROR, false,
                     true, false);
    failure = hr_classify_transport_copy(HR_TRANSPORT_IO, 0,
                                         HR_BYTES("x\0: Permission denied"));
    hr_check_failure("inner NUL", failure, HR_CLASS_CONNECTION_ERROR, false,
                     true, true);
}

static void test_classify_transport_mebibyte(void)
{
    static const char suffix[] = ": Permission denied";
    size_t suffix_len = sizeof(suffix) - 1;
    char *errstr = malloc(HR_MEBIBYTE);
    hr_failure failure;

    HR_ASSERT_TRUE(errstr != NULL);
    if (errstr == NULL)
        return;

    memset(errstr, 'x', HR_MEBIBYTE);
    failure = hr_classify_transport(HR_TRANSPORT_IO, 0, errstr, HR_MEBIBYTE);
    hr_check_failure("MiB of x", failure, HR_CLASS_CONNECTION_ERROR, false,
                     true, false);

    memcpy(errstr + HR_MEBIBYTE - suffix_len, suffix, suffix_len);
    failure = hr_classify_transport(HR_TRANSPORT_IO, 0, errstr, HR_MEBIBYTE);
    hr_check_failure("MiB then EACCES text", failure, HR_CLASS_CONNECTION_ERROR,
                     false, true, true);
    failure = hr_classify_transport(HR_TRANSPORT_OTHER, 0, errstr, HR_MEBIBYTE);
    hr_check_failure("OTHER MiB then EACCES text", failure,
                     HR_CLASS_CONNECTION_ERROR, false, true, true);
    free(errstr);
}

static CU_TestInfo tests[] = {
    {"test_classify_reply_codes", test_classify_reply_codes},
    {"test_classify_reply_code_alone", test_classify_reply_code_alone},
    {"test_classify_reply_err_messages", test_classify_reply_err_messages},
    {"test_classify_reply_err_near_misses",
     test_classify_reply_err_near_misses},
    {"test_classify_reply_err_without_message",
     test_classify_reply_err_without_message},
    {"test_classify_reply_other_codes", test_classify_reply_other_codes},
    {"test_classify_reply_code_near_misses",
     test_classify_reply_code_near_misses},
    {"test_classify_reply_empty", test_classify_reply_empty},
    {"test_classify_reply_nul_and_binary", test_classify_reply_nul_and_binary},
    {"test_classify_reply_trailing_crlf", test_classify_reply_trailing_crlf},
    {"test_classify_reply_reads_len_bytes",
     test_classify_reply_reads_len_bytes},
    {"test_classify_reply_mebibyte", test_classify_reply_mebibyte},
    {"test_classify_transport_by_kind", test_classify_transport_by_kind},
    {"test_classify_transport_io_errno", test_classify_transport_io_errno},
    {"test_classify_transport_errno_over_errstr",
     test_classify_transport_errno_over_errstr},
    {"test_classify_transport_stale_errno",
     test_classify_transport_stale_errno},
    {"test_classify_transport_io_errstr", test_classify_transport_io_errstr},
    {"test_classify_transport_errstr_near_misses",
     test_classify_transport_errstr_near_misses},
    {"test_classify_transport_other", test_classify_transport_other},
    {"test_classify_transport_strerror_texts",
     test_classify_transport_strerror_texts},
    {"test_classify_transport_reads_len_bytes",
     test_classify_transport_reads_len_bytes},
    {"test_classify_transport_mebibyte", test_classify_transport_mebibyte},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_test_run("classify", tests);
}

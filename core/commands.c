/*
 * The RESP request parser and the command classifier. The classifier looks
 * a command up in two sorted tables: command_table.inc, generated from the
 * servers' COMMAND replies by scripts/gen-commands, and command_safety.inc,
 * the reviewed list of repeat-safe commands and special cases.
 */
#include "hiretry/commands.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The command flags of COMMAND's reply, one bit each. */
enum {
    HR_SERVER_WRITE = 1 << 0,
    HR_SERVER_READONLY = 1 << 1,
    HR_SERVER_DENYOOM = 1 << 2,
    HR_SERVER_MODULE = 1 << 3,
    HR_SERVER_ADMIN = 1 << 4,
    HR_SERVER_PUBSUB = 1 << 5,
    HR_SERVER_NOSCRIPT = 1 << 6,
    HR_SERVER_BLOCKING = 1 << 7,
    HR_SERVER_LOADING = 1 << 8,
    HR_SERVER_STALE = 1 << 9,
    HR_SERVER_SKIP_MONITOR = 1 << 10,
    HR_SERVER_SKIP_SLOWLOG = 1 << 11,
    HR_SERVER_ASKING = 1 << 12,
    HR_SERVER_FAST = 1 << 13,
    HR_SERVER_NO_AUTH = 1 << 14,
    HR_SERVER_MAY_REPLICATE = 1 << 15,
    HR_SERVER_NO_MANDATORY_KEYS = 1 << 16,
    HR_SERVER_NO_MULTI = 1 << 17,
    HR_SERVER_MOVABLEKEYS = 1 << 18,
    HR_SERVER_ALLOW_BUSY = 1 << 19,
    HR_SERVER_NO_ASYNC_LOADING = 1 << 20
};

/* Checks on a command's options that command_safety.inc refers to. */
typedef enum hr_option_rule {
    HR_RULE_NONE,
    HR_RULE_SET_OPTIONS,   /* SET: only EX, PX, EXAT, PXAT, KEEPTTL */
    HR_RULE_GETEX_OPTIONS, /* GETEX: only EX, PX, PERSIST */
    HR_RULE_LOAD_REPLACE,  /* FUNCTION LOAD: REPLACE is given */
    HR_RULE_BLOCK_OPTION   /* XREAD, XREADGROUP: blocking only with BLOCK */
} hr_option_rule;

/*
 * One row of the generated table. Only the columns the classifier reads are
 * compiled: the arity, servers and ACL categories stay in the file for
 * review.
 */
typedef struct hr_server_row {
    const char *name;
    int subcommands;
    unsigned flags; /* HR_SERVER_* */
} hr_server_row;

/* A command that may be repeated, beyond the server's read-only ones. */
typedef struct hr_safety_row {
    const char *name;
    hr_repeat_safety safety;
    hr_option_rule rule;
    const char *reason;
} hr_safety_row;

/* A command that the shim handles specially. */
typedef struct hr_flag_row {
    const char *name;
    unsigned flags; /* HR_COMMAND_* */
    hr_option_rule rule;
    const char *reason; /* for HR_COMMAND_NEVER_REPEAT only */
} hr_flag_row;

#define HR_COMMAND_ROW(name, arity, subcommands, servers, flags, acl)          \
    {name, subcommands, flags},
static const hr_server_row hr_server_rows[] = {
#include "command_table.inc"
};
#undef HR_COMMAND_ROW

#define HR_READ_ROW(name, reason)                                              \
    {name, HR_REPEAT_READONLY, HR_RULE_NONE, "read-only command: " reason},
#define HR_WRITE_ROW(name, rule, reason)                                       \
    {name, HR_REPEAT_SAFE, rule, "write whose repeat is harmless: " reason},
#define HR_FLAG_ROW(name, flags, rule)
#define HR_NEVER_REPEAT_ROW(name, reason)
static const hr_safety_row hr_safety_rows[] = {
#include "command_safety.inc"
};
#undef HR_READ_ROW
#undef HR_WRITE_ROW
#undef HR_FLAG_ROW
#undef HR_NEVER_REPEAT_ROW

#define HR_READ_ROW(name, reason)
#define HR_WRITE_ROW(name, rule, reason)
#define HR_FLAG_ROW(name, flags, rule) {name, flags, rule, NULL},
#define HR_NEVER_REPEAT_ROW(name, reason)                                      \
    {name, HR_COMMAND_NEVER_REPEAT, HR_RULE_NONE, "never repeated: " reason},
static const hr_flag_row hr_flag_rows[] = {
#include "command_safety.inc"
};
#undef HR_READ_ROW
#undef HR_WRITE_ROW
#undef HR_FLAG_ROW
#undef HR_NEVER_REPEAT_ROW

#define HR_ARRAY_SIZE(array) (sizeof(array) / sizeof((array)[0]))

static const char hr_reason_unknown[] = "unknown command";
static const char hr_reason_read[] = "read-only command";
static const char hr_reason_write[] = "write: repeating may apply it twice";

/*
 * Parses a RESP header line such as "$12\r\n" at p: the type byte, an
 * unsigned decimal and CRLF. Rejects signs, leading zeros and values above
 * max before they can overflow. Returns the position after the CRLF, or
 * NULL.
 */
static const char *hr_parse_header(const char *p, const char *end, char type,
                                   size_t max, size_t *value)
{
    const char *digits;
    size_t n = 0;

    if (p == end || *p != type)
        return NULL;
    p++;
    digits = p;
    while (p < end && *p >= '0' && *p <= '9') {
        size_t digit = (size_t)(*p - '0');

        if (digit > max || n > (max - digit) / 10)
            return NULL;
        n = n * 10 + digit;
        p++;
    }

    if (p == digits || (*digits == '0' && p - digits > 1))
        return NULL;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
        return NULL;
    *value = n;
    return p + 2;
}

/* Parses one "$len\r\n<bytes>\r\n" bulk string, returns its end or NULL. */
static const char *hr_parse_bulk(const char *p, const char *end, hr_slice *arg)
{
    size_t len;

    /* No valid length exceeds the bytes left, so this bound is exact. */
    p = hr_parse_header(p, end, '$', (size_t)(end - p), &len);
    if (p == NULL)
        return NULL;
    if ((size_t)(end - p) < 2 || len > (size_t)(end - p) - 2)
        return NULL;
    if (p[len] != '\r' || p[len + 1] != '\n')
        return NULL;

    arg->ptr = p;
    arg->len = len;
    return p + len + 2;
}

int hr_request_parse(const char *buf, size_t len, hr_slice *args, int max_args,
                     size_t *consumed)
{
    size_t stored = args != NULL && max_args > 0 ? (size_t)max_args : 0;
    const char *p;
    size_t count;

    if (buf == NULL)
        return -1;
    p = hr_parse_header(buf, buf + len, '*', INT_MAX, &count);
    if (p == NULL)
        return -1;

    for (size_t i = 0; i < count; i++) {
        hr_slice arg;

        p = hr_parse_bulk(p, buf + len, &arg);
        if (p == NULL)
            return -1;
        if (i < stored)
            args[i] = arg;
    }

    if (consumed != NULL)
        *consumed = (size_t)(p - buf);
    return (int)count;
}

/*
 * Skips the decimal digits at *p, at most max_digits of them with no leading
 * zero, and the CRLF after them. Stores their value in *value. This is the
 * shim's per-command path, so it is kept shorter than hr_parse_header.
 */
static const char *hr_skip_small_number(const char *p, const char *end,
                                        int max_digits, size_t *value)
{
    const char *digits = p;
    const char *limit = end - p > max_digits ? p + max_digits : end;
    size_t n = 0;
    unsigned digit;

    while (p < limit && (digit = (unsigned char)*p - (unsigned)'0') <= 9) {
        n = n * 10 + digit;
        p++;
    }
    if (p == digits || (*digits == '0' && p - digits > 1))
        return NULL;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
        return NULL;
    *value = n;
    return p + 2;
}

/* Returns true when c is a decimal digit from low to '9'. */
static bool hr_is_digit_from(char c, char low)
{
    return c >= low && c <= '9';
}

int hr_request_name(const char *buf, size_t len, hr_slice *name)
{
    const char *end = buf + len;
    const char *p = buf;
    size_t count;
    size_t name_len;

    /* Most requests have fewer than ten arguments and a name shorter than
       a hundred bytes: "*3\r\n$3\r\nSET\r\n..." and
       "*3\r\n$11\r\nINCRBYFLOAT\r\n..." are read without a loop. Any
       other request goes on to the general parse below. */
    if (buf != NULL && len >= 11 && buf[0] == '*' &&
        hr_is_digit_from(buf[1], '1') && buf[2] == '\r' && buf[3] == '\n' &&
        buf[4] == '$' && hr_is_digit_from(buf[5], '0')) {
        size_t start = 0;

        if (buf[6] == '\r' && buf[7] == '\n') {
            name_len = (size_t)(buf[5] - '0');
            start = 8;
        } else if (buf[5] != '0' && hr_is_digit_from(buf[6], '0') &&
                   buf[7] == '\r' && buf[8] == '\n') {
            name_len = (size_t)(buf[5] - '0') * 10 + (size_t)(buf[6] - '0');
            start = 9;
        }
        if (start != 0) {
            if (len < start + name_len + 2 || buf[start + name_len] != '\r' ||
                buf[start + name_len + 1] != '\n')
                return -1;
            name->ptr = buf + start;
            name->len = name_len;
            return 0;
        }
    }

    /* Ten digits hold INT_MAX arguments, eighteen any length that fits in
       memory, and neither can overflow a size_t. */
    if (buf == NULL || len < 1 || *p++ != '*')
        return -1;
    p = hr_skip_small_number(p, end, 10, &count);
    if (p == NULL || count == 0 || count > INT_MAX || p == end || *p++ != '$')
        return -1;
    p = hr_skip_small_number(p, end, 18, &name_len);
    if (p == NULL || (size_t)(end - p) < 2 || name_len > (size_t)(end - p) - 2)
        return -1;
    if (p[name_len] != '\r' || p[name_len + 1] != '\n')
        return -1;
    name->ptr = p;
    name->len = name_len;
    return 0;
}

static unsigned char hr_ascii_lower(char c)
{
    unsigned char u = (unsigned char)c;

    return u >= 'A' && u <= 'Z' ? (unsigned char)(u - 'A' + 'a') : u;
}

/* Returns true when arg equals the lower-case word, ignoring ASCII case. */
static bool hr_slice_equals(const hr_slice *arg, const char *word)
{
    size_t len = strlen(word);

    if (arg->len != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (hr_ascii_lower(arg->ptr[i]) != (unsigned char)word[i])
            return false;
    }
    return true;
}

/*
 * A command name, and a subcommand name for container commands, compared
 * with table names as if they were the lower-case string "name|subcommand",
 * without copying them.
 */
typedef struct hr_command_key {
    hr_slice name;
    hr_slice subcommand;
    bool has_subcommand;
} hr_command_key;

/*
 * Compares the lower-cased bytes of part with entry from *pos on, and
 * advances *pos. Stops at the first difference, so a long part costs no
 * more than the entry's length.
 */
static int hr_compare_part(const hr_slice *part, const char *entry, size_t *pos)
{
    for (size_t i = 0; i < part->len; i++) {
        unsigned char a = hr_ascii_lower(part->ptr[i]);
        unsigned char b = (unsigned char)entry[*pos];

        if (b == '\0')
            return 1;
        if (a != b)
            return a < b ? -1 : 1;
        (*pos)++;
    }
    return 0;
}

/* A bsearch() comparator: key is an hr_command_key, row starts with name. */
static int hr_compare_key(const void *key_arg, const void *row)
{
    const hr_command_key *key = key_arg;
    const char *entry = *(const char *const *)row;
    const hr_slice separator = {"|", 1};
    size_t pos = 0;
    int result;

    result = hr_compare_part(&key->name, entry, &pos);
    if (result == 0 && key->has_subcommand)
        result = hr_compare_part(&separator, entry, &pos);
    if (result == 0 && key->has_subcommand)
        result = hr_compare_part(&key->subcommand, entry, &pos);
    if (result == 0 && entry[pos] != '\0')
        result = -1;
    return result;
}

/*
 * Returns true when a name can be in the tables at all. A '|' would let
 * "client|kill" as one argument match the CLIENT KILL row, which the server
 * rejects.
 */
static bool hr_name_usable(const hr_slice *name)
{
    if (name->ptr == NULL || name->len == 0)
        return false;
    if (name->len > HR_COMMAND_NAME_MAX)
        return false;
    return memchr(name->ptr, '|', name->len) == NULL;
}

static const hr_server_row *hr_find_server_row(const hr_command_key *key)
{
    return bsearch(key, hr_server_rows, HR_ARRAY_SIZE(hr_server_rows),
                   sizeof(hr_server_rows[0]), hr_compare_key);
}

static const hr_safety_row *hr_find_safety_row(const hr_command_key *key)
{
    return bsearch(key, hr_safety_rows, HR_ARRAY_SIZE(hr_safety_rows),
                   sizeof(hr_safety_rows[0]), hr_compare_key);
}

static const hr_flag_row *hr_find_flag_row(const hr_command_key *key)
{
    return bsearch(key, hr_flag_rows, HR_ARRAY_SIZE(hr_flag_rows),
                   sizeof(hr_flag_rows[0]), hr_compare_key);
}

/* An option word and the number of arguments that follow it. */
typedef struct hr_option {
    const char *name;
    int arguments;
} hr_option;

static const hr_option *hr_find_option(const hr_slice *arg,
                                       const hr_option *options, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (hr_slice_equals(arg, options[i].name))
            return &options[i];
    }
    return NULL;
}

/* Returns true when argv[first..argc) contains only the given options. */
static bool hr_only_options(const hr_slice *argv, int argc, int first,
                            const hr_option *options, size_t count)
{
    int i = first;

    while (i < argc) {
        const hr_option *option = hr_find_option(&argv[i], options, count);

        if (option == NULL || argc - i - 1 < option->arguments)
            return false;
        i += 1 + option->arguments;
    }
    return true;
}

/* Returns true when SET key value [options] has only repeat-safe options. */
static bool hr_set_repeatable(const hr_slice *argv, int argc)
{
    static const hr_option options[] = {
        {"ex", 1}, {"px", 1}, {"exat", 1}, {"pxat", 1}, {"keepttl", 0},
    };

    return argc >= 3 &&
           hr_only_options(argv, argc, 3, options, HR_ARRAY_SIZE(options));
}

/* Returns true when GETEX has no option that may delete the key. */
static bool hr_getex_repeatable(const hr_slice *argv, int argc)
{
    static const hr_option options[] = {
        {"ex", 1},
        {"px", 1},
        {"persist", 0},
    };

    return argc >= 2 &&
           hr_only_options(argv, argc, 2, options, HR_ARRAY_SIZE(options));
}

/* Returns true for FUNCTION LOAD REPLACE code, where code may be "replace". */
static bool hr_load_repeatable(const hr_slice *argv, int argc)
{
    return argc == 4 && hr_slice_equals(&argv[2], "replace");
}

/*
 * Returns true when an XREAD or XREADGROUP request has a BLOCK option
 * before STREAMS. The words after STREAMS are keys and IDs, so the scan
 * stops there. An option that the scan does not know keeps the server's
 * blocking flag.
 */
static bool hr_stream_read_blocks(const hr_slice *argv, int argc)
{
    static const hr_option options[] = {
        {"block", 1},
        {"count", 1},
        {"group", 2},
        {"noack", 0},
    };
    int i = 1;

    while (i < argc && !hr_slice_equals(&argv[i], "streams")) {
        const hr_option *option =
            hr_find_option(&argv[i], options, HR_ARRAY_SIZE(options));

        if (option == NULL || strcmp(option->name, "block") == 0)
            return true;
        i += 1 + option->arguments;
    }
    return false;
}

/* Checks a write's option rule: returns NULL when it holds, else the reason. */
static const char *hr_check_write_rule(hr_option_rule rule,
                                       const hr_slice *argv, int argc)
{
    switch (rule) {
    case HR_RULE_SET_OPTIONS:
        if (hr_set_repeatable(argv, argc))
            return NULL;
        return "write: NX, XX, GET or an unknown option changes the reply "
               "on repeat";
    case HR_RULE_GETEX_OPTIONS:
        if (hr_getex_repeatable(argv, argc))
            return NULL;
        return "write: with EXAT, PXAT or an unknown option the repeat may "
               "reply nil";
    case HR_RULE_LOAD_REPLACE:
        if (hr_load_repeatable(argv, argc))
            return NULL;
        return "write: without REPLACE the repeat fails because the library "
               "exists";
    case HR_RULE_NONE:
    case HR_RULE_BLOCK_OPTION:
        break;
    }
    return NULL;
}

/* Returns the HR_COMMAND_* flags of a known command. */
static unsigned hr_command_flags(const hr_server_row *row,
                                 const hr_flag_row *special,
                                 const hr_slice *argv, int argc)
{
    unsigned flags = HR_COMMAND_KNOWN;

    if (row->flags & HR_SERVER_BLOCKING)
        flags |= HR_COMMAND_BLOCKING;
    if (special == NULL)
        return flags;

    flags |= special->flags;
    if (special->rule == HR_RULE_BLOCK_OPTION &&
        !hr_stream_read_blocks(argv, argc))
        flags &= ~(unsigned)HR_COMMAND_BLOCKING;
    return flags;
}

/* Sets info's safety and reason for a command that may be repeated. */
static void hr_judge_repeat(const hr_server_row *row, const hr_command_key *key,
                            const hr_slice *argv, int argc,
                            hr_command_info *info)
{
    const hr_safety_row *safe = hr_find_safety_row(key);

    if (safe != NULL) {
        const char *unsafe = hr_check_write_rule(safe->rule, argv, argc);

        info->safety = unsafe == NULL ? safe->safety : HR_REPEAT_UNSAFE;
        info->reason = unsafe == NULL ? safe->reason : unsafe;
        return;
    }

    if ((row->flags & HR_SERVER_READONLY) && !(row->flags & HR_SERVER_WRITE)) {
        info->safety = HR_REPEAT_READONLY;
        info->reason = hr_reason_read;
        return;
    }

    /*
     * Every other command counts as a write, including PUBLISH, MULTI and
     * CONFIG SET, which the server does not flag write but which change
     * server state.
     */
    info->safety = HR_REPEAT_UNSAFE;
    info->reason = hr_reason_write;
}

static hr_command_info hr_classify_row(const hr_server_row *row,
                                       const hr_command_key *key,
                                       const hr_slice *argv, int argc)
{
    const hr_flag_row *special = hr_find_flag_row(key);
    hr_command_info info;

    info.flags = hr_command_flags(row, special, argv, argc);
    if (info.flags & HR_COMMAND_NEVER_REPEAT) {
        info.safety = HR_REPEAT_UNSAFE;
        info.reason = special->reason;
        return info;
    }

    hr_judge_repeat(row, key, argv, argc, &info);
    return info;
}

static hr_command_info hr_unknown_command(void)
{
    hr_command_info info = {HR_REPEAT_UNSAFE, 0, hr_reason_unknown};

    return info;
}

/*
 * A container command (CLIENT, CONFIG, ...) with an argument is classified
 * by its subcommand. An unknown subcommand makes the whole command unknown.
 * Without an argument the container's own row applies: COMMAND alone is a
 * valid command, the others fail their arity check on the server.
 */
hr_command_info hr_command_classify(const hr_slice *argv, int argc)
{
    hr_command_key key = {{NULL, 0}, {NULL, 0}, false};
    const hr_server_row *row;

    if (argv == NULL || argc < 1 || !hr_name_usable(&argv[0]))
        return hr_unknown_command();
    key.name = argv[0];
    row = hr_find_server_row(&key);
    if (row == NULL)
        return hr_unknown_command();

    if (row->subcommands > 0 && argc >= 2) {
        if (!hr_name_usable(&argv[1]))
            return hr_unknown_command();
        key.subcommand = argv[1];
        key.has_subcommand = true;
        row = hr_find_server_row(&key);
        if (row == NULL)
            return hr_unknown_command();
    }

    return hr_classify_row(row, &key, argv, argc);
}

bool hr_command_flags_fixed(const hr_slice *name)
{
    hr_command_key key = {{NULL, 0}, {NULL, 0}, false};
    const hr_server_row *row;
    const hr_flag_row *special;

    if (name == NULL || !hr_name_usable(name))
        return true;
    key.name = *name;
    row = hr_find_server_row(&key);
    if (row == NULL)
        return true;
    if (row->subcommands > 0)
        return false;
    special = hr_find_flag_row(&key);
    return special == NULL || special->rule != HR_RULE_BLOCK_OPTION;
}

/*
 * Classification of server error replies and hiredis transport failures
 * into valkey-py's error classes. Every input is matched over the length
 * given, never with strlen(), because it may lack a NUL terminator or
 * contain NUL bytes.
 */
#include "hiretry/classify.h"

#include <errno.h>
#include <string.h>

/* A string literal and its length, for the tables below. */
#define HR_TEXT(literal) literal, sizeof(literal) - 1

#define HR_COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* The class of an error reply whose code or ERR message is text. */
typedef struct hr_reply_rule {
    const char *text;
    size_t len;
    hr_class cls;
    bool not_executed;
} hr_reply_rule;

/*
 * The first word of an error reply, matched exactly and case-sensitively as
 * valkey-py 6.x does. Any other code, "ERR" aside, is a ResponseError.
 *
 * not_executed is set where Valkey and Redis reject the command before they
 * run it. processCommand() in server.c sends MOVED, ASK, CROSSSLOT, TRYAGAIN
 * and CLUSTERDOWN from its cluster routing check, and LOADING, NOAUTH,
 * NOPERM, READONLY, MASTERDOWN, OOM, MISCONF, NOREPLICAS and BUSY from its
 * other checks. Only AUTH and HELLO reply WRONGPASS, and a failed
 * authentication changes no data. EVALSHA replies NOSCRIPT before it runs
 * anything.
 *
 * NOTE: a script (EVAL, EVALSHA, FCALL) can end with any of these codes
 * after it has written: an uncaught redis.call() error (a NOPERM for a
 * later key, for example) and the text of redis.error_reply() both reach
 * the client. The caller, which knows the command, must not trust
 * not_executed for scripts.
 */
static const hr_reply_rule hr_reply_codes[] = {
    {HR_TEXT("OOM"), HR_CLASS_OUT_OF_MEMORY_ERROR, true},
    {HR_TEXT("WRONGPASS"), HR_CLASS_AUTHENTICATION_ERROR, true},
    {HR_TEXT("NOAUTH"), HR_CLASS_AUTHENTICATION_ERROR, true},
    {HR_TEXT("EXECABORT"), HR_CLASS_EXEC_ABORT_ERROR, false},
    {HR_TEXT("LOADING"), HR_CLASS_BUSY_LOADING_ERROR, true},
    {HR_TEXT("NOSCRIPT"), HR_CLASS_NO_SCRIPT_ERROR, true},
    {HR_TEXT("READONLY"), HR_CLASS_READ_ONLY_ERROR, true},
    {HR_TEXT("NOPERM"), HR_CLASS_NO_PERMISSION_ERROR, true},
    {HR_TEXT("MOVED"), HR_CLASS_MOVED_ERROR, true},
    {HR_TEXT("ASK"), HR_CLASS_ASK_ERROR, true},
    {HR_TEXT("TRYAGAIN"), HR_CLASS_TRY_AGAIN_ERROR, true},
    {HR_TEXT("CLUSTERDOWN"), HR_CLASS_CLUSTER_DOWN_ERROR, true},
    {HR_TEXT("CROSSSLOT"), HR_CLASS_CLUSTER_CROSS_SLOT_ERROR, true},
    {HR_TEXT("MASTERDOWN"), HR_CLASS_MASTER_DOWN_ERROR, true},
    /* valkey-py has no class for these, but the server never ran them. */
    {HR_TEXT("MISCONF"), HR_CLASS_RESPONSE_ERROR, true},
    {HR_TEXT("NOREPLICAS"), HR_CLASS_RESPONSE_ERROR, true},
    {HR_TEXT("BUSY"), HR_CLASS_RESPONSE_ERROR, true},
};

/*
 * Whole messages after "ERR ", matched exactly. The server sends "max number
 * of clients reached" on accept and closes the connection before it reads a
 * command. The AUTH messages are failed authentications, which change no
 * data. MODULE LOAD fails after the module's OnLoad has run, so ModuleError
 * keeps not_executed false.
 */
static const hr_reply_rule hr_err_messages[] = {
    {HR_TEXT("max number of clients reached"), HR_CLASS_CONNECTION_ERROR, true},
    {HR_TEXT("invalid password"), HR_CLASS_AUTHENTICATION_ERROR, true},
    {HR_TEXT("Client sent AUTH, but no password is set"),
     HR_CLASS_AUTHENTICATION_ERROR, true},
    {HR_TEXT("AUTH <password> called without any password configured for "
             "the default user. Are you sure your configuration is correct?"),
     HR_CLASS_AUTHENTICATION_ERROR, true},
    {HR_TEXT("wrong number of arguments for 'auth' command"),
     HR_CLASS_AUTHENTICATION_WRONG_NUMBER_OF_ARGS_ERROR, true},
    {HR_TEXT("wrong number of arguments for 'AUTH' command"),
     HR_CLASS_AUTHENTICATION_WRONG_NUMBER_OF_ARGS_ERROR, true},
    {HR_TEXT("Error loading the extension. Please check the server logs."),
     HR_CLASS_MODULE_ERROR, false},
    {HR_TEXT("Error unloading module: no such module with that name"),
     HR_CLASS_MODULE_ERROR, false},
    {HR_TEXT("Error unloading module: operation not possible."),
     HR_CLASS_MODULE_ERROR, false},
    {HR_TEXT("Error unloading module: the module exports one or more "
             "module-side data types, can't unload"),
     HR_CLASS_MODULE_ERROR, false},
};

static const hr_reply_rule *hr_reply_rule_find(const hr_reply_rule *rules,
                                               size_t count, const char *text,
                                               size_t len)
{
    size_t i;

    for (i = 0; i < count; i++) {
        if (rules[i].len == len && memcmp(rules[i].text, text, len) == 0)
            return &rules[i];
    }
    return NULL;
}

/*
 * Finds the rule for text, split as Python's text.split(" ")[0] does: the
 * code ends at the first space, and an "ERR" reply's message is everything
 * after that space, empty when there is none.
 */
static const hr_reply_rule *hr_reply_rule_match(const char *text, size_t len)
{
    const char *space = memchr(text, ' ', len);
    size_t code_len = space != NULL ? (size_t)(space - text) : len;
    size_t message_len;

    if (code_len != 3 || memcmp(text, "ERR", 3) != 0)
        return hr_reply_rule_find(hr_reply_codes, HR_COUNT(hr_reply_codes),
                                  text, code_len);

    if (space == NULL)
        return NULL;
    message_len = len - code_len - 1;
    return hr_reply_rule_find(hr_err_messages, HR_COUNT(hr_err_messages),
                              space + 1, message_len);
}

hr_failure hr_classify_reply(const char *text, size_t len)
{
    hr_failure failure = {HR_CLASS_RESPONSE_ERROR, false, false, false};
    const hr_reply_rule *rule = NULL;

    /* memchr() and memcmp() need a valid pointer even for zero bytes. */
    if (text != NULL && len > 0)
        rule = hr_reply_rule_match(text, len);

    if (rule != NULL) {
        failure.cls = rule->cls;
        failure.not_executed = rule->not_executed;
    }

    /* valkey-py closes the connection on every reply that is-a
     * ConnectionError and keeps it open for every other reply. */
    failure.drop_connection =
        hr_class_is_a(failure.cls, HR_CLASS_CONNECTION_ERROR);
    return failure;
}

/* The class of a transport failure, matched by errno or by text. */
typedef struct hr_transport_rule {
    int error_number; /* 0 for hiredis's own messages */
    const char *text;
    size_t len;
    hr_class cls;
    bool permanent;
} hr_transport_rule;

/*
 * errno values whose class differs from the default, a transient
 * ConnectionError, with glibc's English strerror() text. The texts are
 * hard-coded because strerror() follows the locale. ENOENT stays transient
 * because a Unix socket's path is missing while the server restarts, and so
 * does ECONNREFUSED, which Linux's connect() also reports for a path that
 * exists but is not a socket.
 */
static const hr_transport_rule hr_errno_rules[] = {
    /* A socket timeout of a blocking context expires with EAGAIN, and
     * hiredis sets ETIMEDOUT when its connect timeout expires. */
    {EAGAIN, HR_TEXT("Resource temporarily unavailable"),
     HR_CLASS_TIMEOUT_ERROR, false},
    {ETIMEDOUT, HR_TEXT("Connection timed out"), HR_CLASS_TIMEOUT_ERROR, false},
    {EINPROGRESS, HR_TEXT("Operation now in progress"), HR_CLASS_TIMEOUT_ERROR,
     false},
    /* Invalid arguments: setsockopt() reports EDOM for a timeout whose
     * microseconds are out of range. */
    {EINVAL, HR_TEXT("Invalid argument"), HR_CLASS_DATA_ERROR, true},
    {EDOM, HR_TEXT("Numerical argument out of domain"), HR_CLASS_DATA_ERROR,
     true},
    /* A wrong address or local setup, which no server restart fixes. */
    {ENOTSOCK, HR_TEXT("Socket operation on non-socket"),
     HR_CLASS_CONNECTION_ERROR, true},
    {EAFNOSUPPORT, HR_TEXT("Address family not supported by protocol"),
     HR_CLASS_CONNECTION_ERROR, true},
    {ENAMETOOLONG, HR_TEXT("File name too long"), HR_CLASS_CONNECTION_ERROR,
     true},
    {EACCES, HR_TEXT("Permission denied"), HR_CLASS_CONNECTION_ERROR, true},
    {EPERM, HR_TEXT("Operation not permitted"), HR_CLASS_CONNECTION_ERROR,
     true},
    {ENOTDIR, HR_TEXT("Not a directory"), HR_CLASS_CONNECTION_ERROR, true},
    {EISDIR, HR_TEXT("Is a directory"), HR_CLASS_CONNECTION_ERROR, true},
};

/*
 * hiredis 0.14's fixed messages. hiredis sets them without a failing system
 * call, so errno is stale then: "Invalid timeout specified" comes with
 * REDIS_ERR_IO and whatever errno held before the call.
 *
 * A client out of memory is not a network or server failure and may not
 * recur, so it is a transient ValkeyError. valkey-py has no class for it
 * because Python raises MemoryError, which is not a ValkeyError.
 */
static const hr_transport_rule hr_hiredis_messages[] = {
    {0, HR_TEXT("Invalid timeout specified"), HR_CLASS_DATA_ERROR, true},
    {0, HR_TEXT("Invalid format string"), HR_CLASS_DATA_ERROR, true},
    {0, HR_TEXT("Not enough information to reconnect"), HR_CLASS_DATA_ERROR,
     true},
    {0, HR_TEXT("Out of memory"), HR_CLASS_VALKEY_ERROR, false},
    {0, HR_TEXT("Server closed the connection"), HR_CLASS_CONNECTION_ERROR,
     false},
};

/* Failure to resolve the source address, followed by gai_strerror() text. */
static const char hr_get_addr_prefix[] = "Can't get addr: ";

static const hr_transport_rule hr_get_addr_rule = {
    0, HR_TEXT(""), HR_CLASS_CONNECTION_ERROR, false};

static const hr_transport_rule *hr_errno_rule_find(int error_number)
{
    size_t i;

    if (error_number == EWOULDBLOCK)
        error_number = EAGAIN;

    for (i = 0; i < HR_COUNT(hr_errno_rules); i++) {
        if (hr_errno_rules[i].error_number == error_number)
            return &hr_errno_rules[i];
    }
    return NULL;
}

/*
 * Returns true when errstr is text, or ends with ": " and text, the two
 * shapes hiredis gives strerror() output.
 */
static bool hr_errstr_ends_with(const char *errstr, size_t errstr_len,
                                const char *text, size_t len)
{
    const char *tail;

    if (errstr_len < len)
        return false;

    tail = errstr + (errstr_len - len);
    if (memcmp(tail, text, len) != 0)
        return false;
    return errstr_len == len ||
           (errstr_len >= len + 2 && tail[-2] == ':' && tail[-1] == ' ');
}

/* Returns the rule of one of hiredis's fixed messages, or NULL. */
static const hr_transport_rule *hr_hiredis_message_find(const char *errstr,
                                                        size_t errstr_len)
{
    size_t prefix_len = sizeof(hr_get_addr_prefix) - 1;
    size_t i;

    for (i = 0; i < HR_COUNT(hr_hiredis_messages); i++) {
        const hr_transport_rule *rule = &hr_hiredis_messages[i];

        if (rule->len == errstr_len &&
            memcmp(rule->text, errstr, errstr_len) == 0)
            return rule;
    }

    /* A failed name lookup may succeed later, whatever gai_strerror()
     * text follows, so no strerror() text is looked for. */
    if (errstr_len >= prefix_len &&
        memcmp(errstr, hr_get_addr_prefix, prefix_len) == 0)
        return &hr_get_addr_rule;
    return NULL;
}

/* Returns the rule of the English strerror() text errstr ends with, or NULL. */
static const hr_transport_rule *hr_strerror_text_find(const char *errstr,
                                                      size_t errstr_len)
{
    size_t i;

    for (i = 0; i < HR_COUNT(hr_errno_rules); i++) {
        const hr_transport_rule *rule = &hr_errno_rules[i];

        if (hr_errstr_ends_with(errstr, errstr_len, rule->text, rule->len))
            return rule;
    }
    return NULL;
}

/*
 * Finds the rule of a REDIS_ERR_IO failure. hiredis's fixed messages come
 * first because errno is stale with them, then errno, which the locale cannot
 * change, then the English strerror() text.
 */
static const hr_transport_rule *
hr_io_rule_find(int error_number, const char *errstr, size_t errstr_len)
{
    const hr_transport_rule *rule;

    rule = hr_hiredis_message_find(errstr, errstr_len);
    if (rule != NULL)
        return rule;

    if (error_number != 0)
        return hr_errno_rule_find(error_number);
    return hr_strerror_text_find(errstr, errstr_len);
}

/*
 * Finds the rule of a REDIS_ERR_OTHER failure: name resolution, socket
 * creation or misuse. errno is unreliable here because a failed getaddrinfo()
 * does not set it, so only errstr counts, and only to find a caller error.
 */
static const hr_transport_rule *hr_other_rule_find(const char *errstr,
                                                   size_t errstr_len)
{
    const hr_transport_rule *rule;

    rule = hr_hiredis_message_find(errstr, errstr_len);
    if (rule == NULL)
        rule = hr_strerror_text_find(errstr, errstr_len);

    if (rule != NULL && !rule->permanent)
        return NULL;
    return rule;
}

hr_failure hr_classify_transport(hr_transport_error kind, int error_number,
                                 const char *errstr, size_t errstr_len)
{
    hr_failure failure = {HR_CLASS_CONNECTION_ERROR, false, true, false};
    const hr_transport_rule *rule = NULL;

    /* An empty errstr matches no rule, so memcmp() never gets NULL. */
    if (errstr == NULL || errstr_len == 0) {
        errstr = "";
        errstr_len = 0;
    }

    switch (kind) {
    case HR_TRANSPORT_EOF:
        break;
    case HR_TRANSPORT_PROTOCOL:
        failure.cls = HR_CLASS_INVALID_RESPONSE;
        break;
    case HR_TRANSPORT_TIMEOUT:
        failure.cls = HR_CLASS_TIMEOUT_ERROR;
        break;
    case HR_TRANSPORT_OOM:
        /* See hr_hiredis_messages for why this is a ValkeyError. */
        failure.cls = HR_CLASS_VALKEY_ERROR;
        break;
    case HR_TRANSPORT_IO:
        rule = hr_io_rule_find(error_number, errstr, errstr_len);
        break;
    case HR_TRANSPORT_OTHER:
    default:
        /* Values outside the enum are treated as REDIS_ERR_OTHER. */
        rule = hr_other_rule_find(errstr, errstr_len);
        break;
    }

    if (rule != NULL) {
        failure.cls = rule->cls;
        failure.permanent = rule->permanent;
    }
    return failure;
}

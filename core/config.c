/*
 * Configuration from HIRETRY_* environment variables.
 *
 * HR_CONFIG_TABLE below is the single source of truth: each row names the
 * variable, the function that parses a value into hr_config, and the texts
 * that hr_config_vars publishes. hr_config_defaults parses each row's default
 * text, so the documented default is the value used.
 *
 * Rules for values:
 * - A value is taken as it is, so " 3" and "3 " are invalid. Only
 *   HIRETRY_RETRY_ON allows spaces and tabs around its items.
 * - An empty value is invalid, except for HIRETRY_DISABLE, where it means
 *   false because `HIRETRY_DISABLE=` is the usual way to clear a flag.
 * - Keywords (strategies, writes modes, log levels, booleans) match in any
 *   ASCII case. Class names in HIRETRY_RETRY_ON match exactly, as valkey-py
 *   spells them. Duration units are lower case only, as in SI, where "Ms"
 *   would be megaseconds.
 * - A base above the cap is kept as it is, with no message: every strategy
 *   except constant applies the cap with min(), as valkey-py does.
 */
#include "hiretry/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiretry/backoff.h"
#include "hiretry/errors.h"

#define HR_RETRIES_MIN (-1)
#define HR_RETRIES_MAX 1000000

#define HR_NS_PER_US INT64_C(1000)
#define HR_NS_PER_S INT64_C(1000000000)
#define HR_BACKOFF_MAX_NS (3600 * HR_NS_PER_S)
#define HR_DEADLINE_MAX_NS (86400 * HR_NS_PER_S)

#define HR_ARRAY_LEN(array) (sizeof(array) / sizeof((array)[0]))

/* Maximum bytes of an invalid value quoted in a message. Longer values are
 * cut. */
#define HR_QUOTE_MAX 64

/* Size of the buffer for a strategy name folded to lower case. The longest
 * name, "decorrelated_jitter", has 19 bytes. */
#define HR_KEYWORD_MAX 32

/* Parses text into its field of config. Returns -1, with config unchanged,
 * when the text is invalid. */
typedef int (*hr_store_fn)(const char *text, hr_config *config);

typedef struct hr_duration_unit {
    const char *suffix;
    int64_t ns;          /* nanoseconds in one unit */
    int fraction_digits; /* decimal digits of a nanosecond count in one unit */
} hr_duration_unit;

static const hr_duration_unit hr_duration_units[] = {
    {"us", INT64_C(1000), 3},
    {"ms", INT64_C(1000000), 6},
    {"s", INT64_C(1000000000), 9},
};

static const char *const hr_log_level_names[] = {
    [HR_LOG_OFF] = "off",   [HR_LOG_ERROR] = "error", [HR_LOG_WARN] = "warn",
    [HR_LOG_INFO] = "info", [HR_LOG_DEBUG] = "debug",
};

static const char *const hr_writes_names[] = {
    [HR_WRITES_SAFE] = "safe",
    [HR_WRITES_ALL] = "all",
    [HR_WRITES_NONE] = "none",
};

static bool hr_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Folds ASCII only: the C library's tolower follows the host's locale. */
static char hr_ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool hr_keyword_equal(const char *text, const char *keyword)
{
    size_t i;

    for (i = 0; text[i] != '\0' && keyword[i] != '\0'; i++) {
        if (hr_ascii_lower(text[i]) != keyword[i])
            return false;
    }
    return text[i] == keyword[i];
}

/* Returns the index of text in the lower-case names, or -1. */
static int hr_keyword_index(const char *text, const char *const *names,
                            size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        if (hr_keyword_equal(text, names[i]))
            return (int)i;
    }
    return -1;
}

/*
 * Parses an optional '-' and decimal digits, nothing else, within min and
 * max. strtoll alone would skip leading spaces and accept a '+'.
 */
static int hr_parse_integer(const char *text, long long min, long long max,
                            long long *out)
{
    const char *digits = text[0] == '-' ? text + 1 : text;
    int saved_errno = errno;
    bool overflow;
    char *end;
    long long value;

    if (!hr_is_digit(digits[0]))
        return -1;

    /* The shim runs inside another program, which must not see errno
     * change. */
    errno = 0;
    value = strtoll(text, &end, 10);
    overflow = errno == ERANGE;
    errno = saved_errno;

    if (overflow || *end != '\0' || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

static size_t hr_digit_span(const char *text)
{
    size_t len = 0;

    while (hr_is_digit(text[len]))
        len++;
    return len;
}

/* Parses len digits into *out. Returns -1 when the number exceeds max. */
static int hr_parse_digits(const char *digits, size_t len, int64_t max,
                           int64_t *out)
{
    int64_t value = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        int digit = digits[i] - '0';

        if (value > (max - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    *out = value;
    return 0;
}

/*
 * Parses the digits after the decimal point as a count of nanoseconds in
 * unit. Digits finer than a nanosecond must be zeros, so that no value is
 * rounded.
 */
static int hr_parse_fraction(const char *digits, size_t len,
                             const hr_duration_unit *unit, int64_t *out)
{
    int64_t value = 0;
    size_t i;

    for (i = 0; i < (size_t)unit->fraction_digits; i++)
        value = value * 10 + (i < len ? digits[i] - '0' : 0);

    for (; i < len; i++) {
        if (digits[i] != '0')
            return -1;
    }
    *out = value;
    return 0;
}

static const hr_duration_unit *hr_find_duration_unit(const char *suffix)
{
    size_t i;

    for (i = 0; i < HR_ARRAY_LEN(hr_duration_units); i++) {
        if (strcmp(suffix, hr_duration_units[i].suffix) == 0)
            return &hr_duration_units[i];
    }
    return NULL;
}

/*
 * Grammar: "0", or digits, an optional '.' followed by digits, and a unit.
 * No sign, no spaces, no exponent. The number is computed in integers.
 */
int hr_parse_duration(const char *text, int64_t *out_ns)
{
    size_t whole_len = hr_digit_span(text);
    const char *fraction = text + whole_len;
    size_t fraction_len = 0;
    const hr_duration_unit *unit;
    int64_t whole, nanos;

    if (strcmp(text, "0") == 0) {
        *out_ns = 0;
        return 0;
    }
    if (whole_len == 0)
        return -1;

    if (*fraction == '.') {
        fraction++;
        fraction_len = hr_digit_span(fraction);
        if (fraction_len == 0)
            return -1;
    }
    unit = hr_find_duration_unit(fraction + fraction_len);
    if (unit == NULL)
        return -1;

    if (hr_parse_digits(text, whole_len, INT64_MAX, &whole) != 0)
        return -1;
    if (hr_parse_fraction(fraction, fraction_len, unit, &nanos) != 0)
        return -1;
    if (whole > (INT64_MAX - nanos) / unit->ns)
        return -1;

    *out_ns = whole * unit->ns + nanos;
    return 0;
}

int hr_parse_bool(const char *text, bool *out)
{
    static const char *const true_names[] = {"1", "true", "yes", "on"};
    static const char *const false_names[] = {"0", "false", "no", "off"};

    if (hr_keyword_index(text, true_names, HR_ARRAY_LEN(true_names)) >= 0) {
        *out = true;
        return 0;
    }
    if (hr_keyword_index(text, false_names, HR_ARRAY_LEN(false_names)) >= 0) {
        *out = false;
        return 0;
    }
    return -1;
}

const char *hr_log_level_name(hr_log_level level)
{
    /* The cast also rejects negative values. */
    if ((unsigned)level >= HR_ARRAY_LEN(hr_log_level_names))
        return NULL;
    return hr_log_level_names[level];
}

/* The policy's backoff counts whole microseconds, so finer values are
 * rejected rather than rounded. */
static int hr_parse_backoff_us(const char *text, uint64_t *out_us)
{
    int64_t ns;

    if (hr_parse_duration(text, &ns) != 0)
        return -1;
    if (ns > HR_BACKOFF_MAX_NS || ns % HR_NS_PER_US != 0)
        return -1;
    *out_us = (uint64_t)(ns / HR_NS_PER_US);
    return 0;
}

/* Trims spaces and tabs around one list item, then applies it to *set. */
static int hr_apply_class_item(const char *item, size_t len, hr_class_set *set)
{
    char sign = '\0';
    hr_class cls;

    while (len > 0 && (item[0] == ' ' || item[0] == '\t')) {
        item++;
        len--;
    }
    while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
        len--;

    if (len > 0 && (item[0] == '+' || item[0] == '-')) {
        sign = item[0];
        item++;
        len--;
    }
    if (hr_class_from_name(item, len, &cls) != 0)
        return -1;

    if (sign == '-')
        *set = hr_class_set_remove(*set, cls);
    else
        *set = hr_class_set_add(*set, cls);
    return 0;
}

/*
 * Applies a comma-separated list of class names left to right. A list whose
 * first item starts with '+' or '-' edits *set, and any other list starts
 * from the empty set. *set changes only when every item is valid.
 */
static int hr_parse_class_list(const char *text, hr_class_set *set)
{
    size_t skip = strspn(text, " \t");
    bool edit = text[skip] == '+' || text[skip] == '-';
    hr_class_set result = edit ? *set : 0;
    const char *item = text;

    for (;;) {
        const char *comma = strchr(item, ',');
        size_t len = comma != NULL ? (size_t)(comma - item) : strlen(item);

        if (hr_apply_class_item(item, len, &result) != 0)
            return -1;
        if (comma == NULL)
            break;
        item = comma + 1;
    }
    *set = result;
    return 0;
}

static int hr_store_retries(const char *text, hr_config *config)
{
    long long value;

    if (hr_parse_integer(text, HR_RETRIES_MIN, HR_RETRIES_MAX, &value) != 0)
        return -1;
    config->policy.retries = (int)value;
    return 0;
}

/* hr_backoff_kind_from_name matches exactly, so fold the case first. */
static int hr_store_backoff(const char *text, hr_config *config)
{
    char lower[HR_KEYWORD_MAX];
    size_t len = strlen(text);
    hr_backoff_kind kind;
    size_t i;

    if (len >= sizeof(lower))
        return -1;
    for (i = 0; i < len; i++)
        lower[i] = hr_ascii_lower(text[i]);

    if (hr_backoff_kind_from_name(lower, len, &kind) != 0)
        return -1;
    config->policy.backoff.kind = kind;
    return 0;
}

static int hr_store_backoff_base(const char *text, hr_config *config)
{
    return hr_parse_backoff_us(text, &config->policy.backoff.base_us);
}

static int hr_store_backoff_cap(const char *text, hr_config *config)
{
    return hr_parse_backoff_us(text, &config->policy.backoff.cap_us);
}

static int hr_store_retry_on(const char *text, hr_config *config)
{
    return hr_parse_class_list(text, &config->policy.retry_on);
}

static int hr_store_writes(const char *text, hr_config *config)
{
    int index =
        hr_keyword_index(text, hr_writes_names, HR_ARRAY_LEN(hr_writes_names));

    if (index < 0)
        return -1;
    config->policy.writes = (hr_writes)index;
    return 0;
}

static int hr_store_deadline(const char *text, hr_config *config)
{
    int64_t ns;

    if (hr_parse_duration(text, &ns) != 0 || ns > HR_DEADLINE_MAX_NS)
        return -1;
    config->policy.deadline_ns = ns;
    return 0;
}

static int hr_store_log(const char *text, hr_config *config)
{
    int index = hr_keyword_index(text, hr_log_level_names,
                                 HR_ARRAY_LEN(hr_log_level_names));

    if (index < 0)
        return -1;
    config->log_level = (hr_log_level)index;
    return 0;
}

static int hr_store_disable(const char *text, hr_config *config)
{
    if (text[0] == '\0') {
        config->disable = false;
        return 0;
    }
    return hr_parse_bool(text, &config->disable);
}

/*
 * X(NAME, STORE, ACCEPTED, DEFAULT, SUMMARY): one row per variable, in the
 * order hr_config_load reads them. ACCEPTED completes the sentence
 * "expected ..." in messages, and STORE must accept DEFAULT.
 */
#define HR_CONFIG_TABLE(X)                                                     \
    X("HIRETRY_RETRIES", hr_store_retries,                                     \
      "an integer from -1 to 1000000, where -1 retries forever", "3",          \
      "Sets how many times a failed command is retried after its first "       \
      "attempt.")                                                              \
    X("HIRETRY_BACKOFF", hr_store_backoff,                                     \
      "one of none, constant, exponential, full_jitter, equal_jitter or "      \
      "decorrelated_jitter, in any case",                                      \
      "equal_jitter",                                                          \
      "Selects the strategy, with valkey-py's formulas, for the delay "        \
      "between attempts.")                                                     \
    X("HIRETRY_BACKOFF_BASE", hr_store_backoff_base,                           \
      "a duration from 0 to 3600s with a unit of us, ms or s, in whole "       \
      "microseconds",                                                          \
      "8ms",                                                                   \
      "Sets the base delay of the backoff, which is the whole delay for "      \
      "constant.")                                                             \
    X("HIRETRY_BACKOFF_CAP", hr_store_backoff_cap,                             \
      "a duration from 0 to 3600s with a unit of us, ms or s, in whole "       \
      "microseconds",                                                          \
      "512ms",                                                                 \
      "Sets the maximum delay of every strategy except constant, and it "      \
      "wins over a larger base, as in valkey-py.")                             \
    X("HIRETRY_RETRY_ON", hr_store_retry_on,                                   \
      "a comma-separated list of valkey-py error class names, where Name "     \
      "and +Name add the class and its subclasses and -Name removes them, "    \
      "and a list that starts with + or - edits the default",                  \
      "ConnectionError,TimeoutError,TryAgainError,ClusterDownError,"           \
      "ReadOnlyError,-AuthenticationError,-AuthorizationError",                \
      "Selects the error classes that are retried.")                           \
    X("HIRETRY_WRITES", hr_store_writes,                                       \
      "one of safe, all or none, in any case", "safe",                         \
      "Selects which commands that may already have run are sent again: "      \
      "reads and repeat-safe writes (safe), all, or none.")                    \
    X("HIRETRY_DEADLINE", hr_store_deadline,                                   \
      "a duration from 0 to 86400s with a unit of us, ms or s, where 0 is no " \
      "deadline",                                                              \
      "0",                                                                     \
      "Sets the time budget of one command across all its attempts and "       \
      "sleeps.")                                                               \
    X("HIRETRY_LOG", hr_store_log,                                             \
      "one of off, error, warn, info or debug, in any case", "warn",           \
      "Sets the minimum level of hiretry's own log messages.")                 \
    X("HIRETRY_DISABLE", hr_store_disable,                                     \
      "a boolean (1/0, true/false, yes/no or on/off, in any case), where "     \
      "empty means false",                                                     \
      "false", "Turns hiretry into a pure pass-through to hiredis when true.")

#define HR_CONFIG_DOC_ROW(name, store, accepted, default_value, summary)       \
    {name, accepted, default_value, summary},
static const hr_config_var hr_config_var_docs[] = {
    HR_CONFIG_TABLE(HR_CONFIG_DOC_ROW)};
#undef HR_CONFIG_DOC_ROW

#define HR_CONFIG_STORE_ROW(name, store, accepted, default_value, summary)     \
    store,
static const hr_store_fn hr_config_var_stores[] = {
    HR_CONFIG_TABLE(HR_CONFIG_STORE_ROW)};
#undef HR_CONFIG_STORE_ROW

#define HR_CONFIG_VAR_COUNT HR_ARRAY_LEN(hr_config_var_docs)

const hr_config_var *hr_config_vars(size_t *count)
{
    *count = HR_CONFIG_VAR_COUNT;
    return hr_config_var_docs;
}

void hr_config_defaults(hr_config *config)
{
    size_t i;

    memset(config, 0, sizeof(*config));

    /* Every default text parses: the unit tests load each one as a value. */
    for (i = 0; i < HR_CONFIG_VAR_COUNT; i++) {
        (void)hr_config_var_stores[i](hr_config_var_docs[i].default_value,
                                      config);
    }
}

/*
 * Copies at most HR_QUOTE_MAX bytes of value into out, escaping '"', '\\'
 * and every byte outside printable ASCII as \xHH, so that a message stays
 * one line of ASCII. out needs 4 * HR_QUOTE_MAX + 1 bytes. Returns true
 * when the value was cut.
 */
static bool hr_quote_value(const char *value, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    size_t i;

    for (i = 0; value[i] != '\0' && i < HR_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)value[i];

        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[n++] = (char)c;
        } else {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 0xf];
        }
    }
    out[n] = '\0';
    return value[i] != '\0';
}

static void hr_report_invalid(const hr_config_var *var, const char *value,
                              hr_report_fn report, void *report_arg)
{
    char quoted[4 * HR_QUOTE_MAX + 1];
    char message[1024];
    bool cut = hr_quote_value(value, quoted);

    snprintf(message, sizeof(message),
             "invalid %s=\"%s\"%s: expected %s; using the default %s",
             var->name, quoted, cut ? "..." : "", var->accepted,
             var->default_value);
    report(report_arg, message);
}

int hr_config_load(hr_config *config, hr_getenv_fn getenv_fn,
                   hr_report_fn report, void *report_arg,
                   hr_config_source *sources)
{
    int invalid = 0;
    size_t i;

    /* HIRETRY_RETRY_ON edits start from the default set stored here. */
    hr_config_defaults(config);

    for (i = 0; i < HR_CONFIG_VAR_COUNT; i++) {
        const hr_config_var *var = &hr_config_var_docs[i];
        const char *value = getenv_fn(var->name);
        hr_config_source source = HR_SOURCE_DEFAULT;

        if (value != NULL) {
            source = HR_SOURCE_ENV;
            if (hr_config_var_stores[i](value, config) != 0)
                source = HR_SOURCE_INVALID;
        }
        if (source == HR_SOURCE_INVALID) {
            invalid++;
            if (report != NULL)
                hr_report_invalid(var, value, report, report_arg);
        }
        if (sources != NULL)
            sources[i] = source;
    }
    return invalid;
}

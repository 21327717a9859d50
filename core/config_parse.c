/*
 * Parsers for the values of HIRETRY_* variables: integers, durations, sizes,
 * booleans, keywords and error class lists. Each one accepts the whole text
 * or rejects it, and the range of each variable is checked by its row in
 * config.c.
 */
#include "config_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hiretry/config.h"

/* Size of the buffer for a strategy name folded to lower case. The longest
 * name, "decorrelated_jitter", is 19 bytes long. */
#define HR_KEYWORD_MAX 32

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

typedef struct hr_size_unit {
    const char *suffix; /* "" for a bare number of bytes */
    uint64_t bytes;     /* bytes in one unit */
} hr_size_unit;

static const hr_size_unit hr_size_units[] = {
    {"", 1},
    {"B", 1},
    {"KiB", UINT64_C(1) << 10},
    {"MiB", UINT64_C(1) << 20},
    {"GiB", UINT64_C(1) << 30},
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

int hr_keyword_index(const char *text, const char *const *names, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        if (hr_keyword_equal(text, names[i]))
            return (int)i;
    }
    return -1;
}

/* strtoll alone would skip leading spaces and accept a '+'. */
int hr_parse_integer(const char *text, long long min, long long max,
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

int hr_parse_milli(const char *text, int64_t max_milli, int64_t *out_milli)
{
    size_t whole_len = hr_digit_span(text);
    const char *fraction = text + whole_len;
    size_t fraction_len = 0;
    int64_t value = 0;
    size_t i;

    if (whole_len == 0 || whole_len > 9)
        return -1;
    for (i = 0; i < whole_len; i++)
        value = value * 10 + (text[i] - '0');
    value *= 1000;

    if (*fraction == '.') {
        fraction++;
        fraction_len = hr_digit_span(fraction);
        if (fraction_len == 0 || fraction_len > 3)
            return -1;
    }
    if (fraction[fraction_len] != '\0')
        return -1;
    for (i = 0; i < 3; i++) {
        int64_t digit = i < fraction_len ? fraction[i] - '0' : 0;
        static const int64_t place[] = {100, 10, 1};

        value += digit * place[i];
    }

    if (value > max_milli)
        return -1;
    *out_milli = value;
    return 0;
}

/* Parses len digits into *out. Returns -1 when the number exceeds max. */
static int hr_parse_digits(const char *digits, size_t len, uint64_t max,
                           uint64_t *out)
{
    uint64_t value = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned digit = (unsigned)(digits[i] - '0');

        if (digit > max || value > (max - digit) / 10)
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
    uint64_t whole;
    int64_t nanos;

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
    if (whole > (uint64_t)((INT64_MAX - nanos) / unit->ns))
        return -1;

    *out_ns = (int64_t)whole * unit->ns + nanos;
    return 0;
}

static const hr_size_unit *hr_find_size_unit(const char *suffix)
{
    size_t i;

    for (i = 0; i < HR_ARRAY_LEN(hr_size_units); i++) {
        if (strcmp(suffix, hr_size_units[i].suffix) == 0)
            return &hr_size_units[i];
    }
    return NULL;
}

/*
 * Grammar: digits, then no unit or one of B, KiB, MiB or GiB, matched in
 * that case. No sign, no spaces, no fraction. KB, MB, k and M are rejected
 * on purpose because they mean 1000 in SI but often 1024 elsewhere, so
 * either reading would silently be wrong for some users.
 */
int hr_parse_size(const char *text, uint64_t *out_bytes)
{
    size_t len = hr_digit_span(text);
    const hr_size_unit *unit = hr_find_size_unit(text + len);
    uint64_t count;

    if (len == 0 || unit == NULL)
        return -1;

    /* The limit keeps count * unit->bytes within 64 bits. */
    if (hr_parse_digits(text, len, UINT64_MAX / unit->bytes, &count) != 0)
        return -1;

    *out_bytes = count * unit->bytes;
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

/* hr_backoff_kind_from_name matches exactly, so fold the case first. */
int hr_parse_backoff_kind(const char *text, hr_backoff_kind *out)
{
    char lower[HR_KEYWORD_MAX];
    size_t len = strlen(text);
    size_t i;

    if (len >= sizeof(lower))
        return -1;
    for (i = 0; i < len; i++)
        lower[i] = hr_ascii_lower(text[i]);

    return hr_backoff_kind_from_name(lower, len, out);
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

int hr_parse_class_list(const char *text, hr_class_set *set)
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

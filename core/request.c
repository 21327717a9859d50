/*
 * RESP request formatting. hiredis formats the length headers with
 * sprintf-like calls, and builds a format's arguments in sds strings that
 * grow byte by byte. Writing the digits and bytes directly gives the same
 * bytes at a fraction of the cost.
 */
#include "hiretry/request.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Enough for the decimal digits of a size_t plus "*", "\r\n". */
#define HR_HEADER_MAX 24

/* Returns the number of decimal digits of value. */
static size_t hr_digits(size_t value)
{
    size_t digits = 1;

    while (value >= 10) {
        value /= 10;
        digits++;
    }
    return digits;
}

/* Writes kind, the digits of value and "\r\n" at p, and returns the end. */
static char *hr_put_header(char *p, char kind, size_t value)
{
    size_t digits = hr_digits(value);

    *p++ = kind;
    for (size_t i = digits; i > 0; i--) {
        p[i - 1] = (char)('0' + value % 10);
        value /= 10;
    }
    p += digits;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

long hr_request_format(char **out, int argc, const char **argv,
                       const size_t *argvlen)
{
    size_t total = hr_digits((size_t)(argc < 0 ? 0 : argc)) + 3;
    char *buf;
    char *p;

    *out = NULL;
    if (argc < 0)
        return -1;
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);

        if (len > (size_t)LONG_MAX - total - HR_HEADER_MAX)
            return -1;
        total += hr_digits(len) + 5 + len;
    }
    if (total > (size_t)LONG_MAX - 1)
        return -1;

    buf = malloc(total + 1);
    if (buf == NULL)
        return -1;
    p = hr_put_header(buf, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);

        p = hr_put_header(p, '$', len);
        memcpy(p, argv[i], len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
    }
    *p = '\0';
    *out = buf;
    return (long)total;
}

/*
 * The maximum numbers of pieces, arguments, integers and values read that
 * hr_request_vformat formats itself. A format with more goes to hiredis.
 */
#define HR_VFORMAT_PIECES 64
#define HR_VFORMAT_ARGS 32
#define HR_VFORMAT_NUMBERS 16
#define HR_VFORMAT_READS 64

/* What a conversion reads from the va_list. */
typedef enum hr_read {
    HR_READ_STRING,    /* %s */
    HR_READ_BINARY,    /* %b: a pointer and a size_t */
    HR_READ_INT,       /* an integer with no modifier */
    HR_READ_LONG,      /* l */
    HR_READ_LONG_LONG, /* ll */
} hr_read;

/* Enough for the octal digits of an unsigned long long, or a sign and the
 * decimal digits of a long long. */
#define HR_NUMBER_MAX 24

/* A run of bytes of one argument: part of the format or a value. */
typedef struct hr_piece {
    const char *ptr;
    size_t len;
} hr_piece;

/* The pieces of a format and where its arguments end among them. */
typedef struct hr_format_plan {
    hr_piece pieces[HR_VFORMAT_PIECES];
    int ends[HR_VFORMAT_ARGS]; /* index after each argument's last piece */
    size_t lens[HR_VFORMAT_ARGS];
    char numbers[HR_VFORMAT_NUMBERS][HR_NUMBER_MAX]; /* integers' text */
    unsigned char reads[HR_VFORMAT_READS];           /* hr_read, in order */
    int npieces;
    int argc;
    int nnumbers;
    int nreads;
} hr_format_plan;

/*
 * Writes an integer's text at the end of buf, HR_NUMBER_MAX bytes, as
 * printf writes it for the conversion ('d', 'i', 'o', 'u', 'x' or 'X') with
 * no flag, width or precision. Returns where the text starts. bits is the
 * value converted to unsigned long long, so a signed one is sign-extended.
 */
static const char *hr_put_integer(char *buf, unsigned long long bits,
                                  bool is_signed, char conversion)
{
    const char *symbols =
        conversion == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    unsigned base = 10;
    bool negative = is_signed && (long long)bits < 0;
    unsigned long long magnitude = negative ? 0 - bits : bits;
    char *p = buf + HR_NUMBER_MAX;

    if (conversion == 'o')
        base = 8;
    else if (conversion == 'x' || conversion == 'X')
        base = 16;
    do {
        *--p = symbols[magnitude % base];
        magnitude /= base;
    } while (magnitude > 0);
    if (negative)
        *--p = '-';
    return p;
}

/* Adds a piece to the current argument, unless it is empty. */
static bool hr_plan_piece(hr_format_plan *plan, const char *ptr, size_t len,
                          size_t *arg_len)
{
    if (len == 0)
        return true;
    if (plan->npieces == HR_VFORMAT_PIECES || len > INT_MAX - *arg_len)
        return false;
    plan->pieces[plan->npieces++] = (hr_piece){ptr, len};
    *arg_len += len;
    return true;
}

/* Ends the current argument, of arg_len bytes. */
static bool hr_plan_end_arg(hr_format_plan *plan, size_t arg_len)
{
    if (plan->argc == HR_VFORMAT_ARGS)
        return false;
    plan->ends[plan->argc] = plan->npieces;
    plan->lens[plan->argc] = arg_len;
    plan->argc++;
    return true;
}

/*
 * Splits format into arguments at each space, skipping empty ones, as
 * hiredis's redisvFormatCommand does. A '%' at the end is a plain byte.
 * Returns false for a format that only hiredis formats.
 */
static bool hr_plan_format(hr_format_plan *plan, const char *format, va_list ap)
{
    size_t arg_len = 0;
    bool touched = false;
    const char *p = format;

    plan->npieces = 0;
    plan->argc = 0;
    plan->nnumbers = 0;
    plan->nreads = 0;
    while (*p != '\0') {
        const char *value;
        size_t len;

        if (*p == ' ') {
            if (touched && !hr_plan_end_arg(plan, arg_len))
                return false;
            arg_len = 0;
            touched = false;
            p++;
            continue;
        }
        if (*p != '%' || p[1] == '\0') {
            const char *start = p++;

            while (*p != '\0' && *p != ' ' && *p != '%')
                p++;
            if (!hr_plan_piece(plan, start, (size_t)(p - start), &arg_len))
                return false;
            touched = true;
            continue;
        }
        if (p[1] != '%' && plan->nreads == HR_VFORMAT_READS)
            return false;
        switch (p[1]) {
        case 's':
            value = va_arg(ap, const char *);
            len = strlen(value);
            plan->reads[plan->nreads++] = HR_READ_STRING;
            p += 2;
            break;
        case 'b':
            value = va_arg(ap, const char *);
            len = va_arg(ap, size_t);
            plan->reads[plan->nreads++] = HR_READ_BINARY;
            p += 2;
            break;
        case '%':
            value = p + 1;
            len = 1;
            p += 2;
            break;
        default: {
            /* An integer with no flag, width or precision, as an int, a
               long or a long long. */
            int longs = 0;
            char conversion;
            unsigned long long bits;
            bool is_signed;
            char *digits;

            if (p[1] == 'l')
                longs = p[2] == 'l' ? 2 : 1;
            conversion = p[1 + longs];
            is_signed = conversion == 'd' || conversion == 'i';
            if (conversion == '\0' || !strchr("diouxX", conversion) ||
                plan->nnumbers == HR_VFORMAT_NUMBERS)
                return false;
            if (longs == 0)
                bits = is_signed ? (unsigned long long)va_arg(ap, int)
                                 : va_arg(ap, unsigned int);
            else if (longs == 1)
                bits = is_signed ? (unsigned long long)va_arg(ap, long)
                                 : va_arg(ap, unsigned long);
            else
                bits = va_arg(ap, unsigned long long);
            plan->reads[plan->nreads++] = (unsigned char)(HR_READ_INT + longs);
            digits = plan->numbers[plan->nnumbers++];
            value = hr_put_integer(digits, bits, is_signed, conversion);
            len = (size_t)(digits + HR_NUMBER_MAX - value);
            p += 2 + longs;
            break;
        }
        }
        if (!hr_plan_piece(plan, value, len, &arg_len))
            return false;
        touched = true;
    }
    return !touched || hr_plan_end_arg(plan, arg_len);
}

/*
 * Reads ap past the arguments that hr_plan_format read from its copy, each
 * with its own type, as hiredis's va_arg calls do.
 */
static void hr_skip_args(const hr_format_plan *plan, va_list ap)
{
    for (int i = 0; i < plan->nreads; i++) {
        switch (plan->reads[i]) {
        case HR_READ_STRING:
            (void)va_arg(ap, const char *);
            break;
        case HR_READ_BINARY:
            (void)va_arg(ap, const char *);
            (void)va_arg(ap, size_t);
            break;
        case HR_READ_INT:
            (void)va_arg(ap, int);
            break;
        case HR_READ_LONG:
            (void)va_arg(ap, long);
            break;
        default:
            (void)va_arg(ap, long long);
            break;
        }
    }
}

long hr_request_vformat(char **out, const char *format, va_list ap)
{
    hr_format_plan plan;
    va_list copy;
    bool planned;
    size_t total;
    char *buf;
    char *p;
    int piece = 0;

    *out = NULL;
    va_copy(copy, ap);
    planned = hr_plan_format(&plan, format, copy);
    va_end(copy);
    if (!planned)
        return HR_REQUEST_UNSUPPORTED;
    total = hr_digits((size_t)plan.argc) + 3;
    for (int i = 0; i < plan.argc; i++) {
        total += hr_digits(plan.lens[i]) + 5 + plan.lens[i];
        if (total > INT_MAX)
            return HR_REQUEST_UNSUPPORTED;
    }
    /* Where va_list is an array type (x86-64), hiredis's va_arg calls move
       the caller's va_list past the arguments, and a program may go on
       reading it. */
    hr_skip_args(&plan, ap);

    buf = malloc(total + 1);
    if (buf == NULL)
        return -1;
    p = hr_put_header(buf, '*', (size_t)plan.argc);
    for (int i = 0; i < plan.argc; i++) {
        p = hr_put_header(p, '$', plan.lens[i]);
        for (; piece < plan.ends[i]; piece++) {
            memcpy(p, plan.pieces[piece].ptr, plan.pieces[piece].len);
            p += plan.pieces[piece].len;
        }
        *p++ = '\r';
        *p++ = '\n';
    }
    *p = '\0';
    *out = buf;
    return (long)total;
}

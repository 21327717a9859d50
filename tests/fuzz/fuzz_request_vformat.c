/*
 * Fuzzes hr_request_vformat against hiredis's redisFormatCommand. The input
 * is a format, up to the first NUL byte, followed by the values of its
 * conversions. A %s takes a length byte and that many bytes, with NULs
 * replaced, and a %b the same bytes unchanged. Any other conversion takes
 * eight bytes as an integer.
 *
 * Checked:
 * - when hiretry formats the format, the bytes, the length and the NUL
 *   after them are those of hiredis;
 * - when it does not (HR_REQUEST_UNSUPPORTED), it leaves *out NULL;
 * - a format of at most 16 words and 8 conversions, all of them %s, %b, %%
 *   or integers with no flag, width or precision, is within its limits and
 *   is never left to hiredis;
 * - a format with any other conversion is always left to hiredis. hiredis
 *   does not format those here: it passes them to vsnprintf, whose
 *   AddressSanitizer interceptor stops at widths such as %44444444x.
 *
 * The values are passed to both formatters as 16 integer-sized slots in
 * the order the conversions read them. Reading a slot as char *, size_t,
 * int, long or long long relies on the LP64 calling convention, which
 * passes all of them alike. Floating-point conversions travel in other
 * registers, so inputs with them are skipped.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "hiretry/request.h"
#include "hr_fuzz.h"

#define HR_SLOTS 16
#define HR_FORMAT_MAX 512

_Static_assert(sizeof(uintptr_t) == sizeof(char *) &&
                   sizeof(uintptr_t) == sizeof(size_t) &&
                   sizeof(uintptr_t) == sizeof(long long),
               "values are passed in uintptr_t slots");

typedef struct hr_fuzz_format {
    /* hiredis reads one byte past the NUL of a format that ends in a
       conversion with no letter ("%5"), so a second NUL follows. */
    char format[HR_FORMAT_MAX + 2];
    uintptr_t slots[HR_SLOTS];
    char *values[HR_SLOTS]; /* each in its own allocation */
    int used;
    int conversions; /* %% included */
    bool plain;      /* only conversions that hiretry formats */
} hr_fuzz_format;

/* Returns true for a plain integer conversion after the '%' at p. */
static bool hr_plain_integer(const char *p)
{
    if (p[1] == 'l')
        p += p[2] == 'l' ? 2 : 1;
    return p[1] != '\0' && strchr("diouxX", p[1]) != NULL;
}

/* Counts the words of a format as hiredis splits it, at spaces. */
static int hr_count_words(const char *format)
{
    int words = 0;

    for (const char *p = format; *p != '\0'; p++) {
        if (*p != ' ' && (p == format || p[-1] == ' '))
            words++;
    }
    return words;
}

/* Takes a value of up to 255 bytes from the input for a %s or %b. */
static int hr_take_value(hr_fuzz_format *f, const uint8_t **data,
                         const uint8_t *end, bool binary)
{
    size_t len = *data < end ? *(*data)++ : 0;
    char *value;

    if (len > (size_t)(end - *data))
        len = (size_t)(end - *data);
    value = malloc(len + 1);
    if (value == NULL)
        return -1;
    memcpy(value, *data, len);
    value[len] = '\0';
    if (!binary) {
        for (size_t i = 0; i < len; i++)
            if (value[i] == '\0')
                value[i] = '0';
    }
    *data += len;
    f->values[f->used] = value;
    f->slots[f->used++] = (uintptr_t)value;
    if (binary)
        f->slots[f->used++] = (uintptr_t)len;
    return 0;
}

/* Takes eight bytes from the input as an integer value. */
static void hr_take_integer(hr_fuzz_format *f, const uint8_t **data,
                            const uint8_t *end)
{
    uint64_t bits = 0;
    size_t len = (size_t)(end - *data) < 8 ? (size_t)(end - *data) : 8;

    memcpy(&bits, *data, len);
    *data += len;
    f->slots[f->used++] = (uintptr_t)bits;
}

/*
 * Splits the input into a format and its values. Returns -1 for an input
 * that this harness does not try: a floating-point conversion, more values
 * than slots, or no memory.
 */
static int hr_decode(hr_fuzz_format *f, const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size;
    const uint8_t *nul = memchr(data, '\0', size);
    size_t format_len = nul ? (size_t)(nul - data) : size;

    memset(f, 0, sizeof(*f));
    f->plain = true;
    if (format_len > HR_FORMAT_MAX)
        format_len = HR_FORMAT_MAX;
    memcpy(f->format, data, format_len);
    data += nul ? format_len + 1 : format_len;

    for (const char *p = f->format; *p != '\0'; p++) {
        const char *q = p + 1;

        if (*p != '%' || *q == '\0')
            continue;
        f->conversions++;
        if (*q == '%') {
            p++;
            continue;
        }
        if (f->used > HR_SLOTS - 2)
            return -1;
        if (*q == 's' || *q == 'b') {
            if (hr_take_value(f, &data, end, *q == 'b') != 0)
                return -1;
            p++;
            continue;
        }
        if (!hr_plain_integer(p))
            f->plain = false;
        /* hiredis reads a double for these, in another register class. */
        while (*q != '\0' && strchr("#0-+ 123456789.hl", *q) != NULL)
            q++;
        if (*q != '\0' && strchr("eEfFgGaA", *q) != NULL)
            return -1;
        hr_take_integer(f, &data, end);
    }
    return 0;
}

static void hr_free_values(hr_fuzz_format *f)
{
    for (int i = 0; i < HR_SLOTS; i++)
        free(f->values[i]);
}

static long hr_ours(char **out, const char *format, ...)
{
    va_list ap;
    long len;

    va_start(ap, format);
    len = hr_request_vformat(out, format, ap);
    va_end(ap);
    return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hr_fuzz_format f;
    const uintptr_t *v = f.slots;
    char *mine = NULL;
    char *theirs = NULL;
    long mine_len;
    int theirs_len;

    if (hr_decode(&f, data, size) != 0) {
        hr_free_values(&f);
        return 0;
    }
    mine_len =
        hr_ours(&mine, f.format, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
                v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]);
    if (!f.plain) {
        HR_FUZZ_CHECK(mine_len == HR_REQUEST_UNSUPPORTED && mine == NULL,
                      "formatted a conversion left to hiredis: %ld", mine_len);
        hr_free_values(&f);
        return 0;
    }
    theirs_len = redisFormatCommand(&theirs, f.format, v[0], v[1], v[2], v[3],
                                    v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                                    v[11], v[12], v[13], v[14], v[15]);

    if (mine_len == HR_REQUEST_UNSUPPORTED) {
        HR_FUZZ_CHECK(mine == NULL, "a buffer with no length");
        HR_FUZZ_CHECK(!f.plain || f.conversions > 8 ||
                          hr_count_words(f.format) > 16,
                      "a plain format left to hiredis");
    } else {
        HR_FUZZ_CHECK(mine_len >= 0, "returned %ld", mine_len);
        HR_FUZZ_CHECK(theirs_len == mine_len, "hiredis %d bytes, hiretry %ld",
                      theirs_len, mine_len);
        HR_FUZZ_CHECK(memcmp(mine, theirs, (size_t)mine_len + 1) == 0,
                      "bytes differ from hiredis");
    }
    free(mine);
    if (theirs_len >= 0)
        redisFreeCommand(theirs);
    hr_free_values(&f);
    return 0;
}

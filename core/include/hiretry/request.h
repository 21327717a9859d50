/*
 * Formatting a command as a RESP request: an array of bulk strings, byte
 * for byte what hiredis's redisFormatCommandArgv and redisvFormatCommand
 * produce.
 */
#ifndef HIRETRY_REQUEST_H
#define HIRETRY_REQUEST_H

#include <stdarg.h>
#include <stddef.h>

/* hr_request_vformat's result for a format it leaves to hiredis. */
#define HR_REQUEST_UNSUPPORTED (-3)

/*
 * Formats argc arguments into a new NUL-terminated buffer from malloc,
 * stored in *out. argvlen gives each argument's length, or is NULL when
 * every argument is a C string. Returns the length without the NUL, or -1
 * when out of memory or when argc is negative.
 */
long hr_request_format(char **out, int argc, const char **argv,
                       const size_t *argvlen);

/*
 * Formats a printf-like command format as hiredis's redisvFormatCommand
 * does, for formats whose only conversions are %s, %b, %% and integers.
 * An integer is d, i, o, u, x or X, as an int, a long (l) or a long long
 * (ll), with no flag, width or precision. The bytes, the returned length
 * and the NUL after them are the same. Returns -1 when out of memory.
 *
 * Reads ap past the format's arguments, as hiredis does, so that where
 * va_list is an array type (x86-64) the caller's va_list moves the same.
 *
 * Returns HR_REQUEST_UNSUPPORTED, with ap untouched, for any other
 * conversion, for more than 32 arguments, 64 pieces (runs of bytes from
 * the format or from one value), 64 conversions that read a value or 16
 * integers, or for a request over INT_MAX bytes. The caller then formats
 * its va_list with hiredis.
 */
long hr_request_vformat(char **out, const char *format, va_list ap);

#endif

/*
 * Formatting a command as a RESP request: an array of bulk strings, byte
 * for byte what hiredis's redisFormatCommandArgv produces.
 */
#ifndef HIRETRY_REQUEST_H
#define HIRETRY_REQUEST_H

#include <stddef.h>

/*
 * Formats argc arguments into a new NUL-terminated buffer from malloc,
 * stored in *out. argvlen gives each argument's length, or is NULL when
 * every argument is a C string. Returns the length without the NUL, or -1
 * when out of memory or when argc is negative.
 */
long hr_request_format(char **out, int argc, const char **argv,
                       const size_t *argvlen);

#endif

#include "hiretry/path.h"

#include <stdio.h>
#include <string.h>

int hr_path_expand(const char *pattern, long pid, char *out, size_t size)
{
    size_t n = 0;

    if (size == 0)
        return -1;
    for (const char *p = pattern; *p != '\0'; p++) {
        char digits[24];
        const char *piece = p;
        size_t len = 1;

        if (p[0] == '%' && p[1] == 'p') {
            len = (size_t)snprintf(digits, sizeof(digits), "%ld", pid);
            piece = digits;
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            p++;
        }
        if (n + len >= size) {
            out[0] = '\0';
            return -1;
        }
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return 0;
}

bool hr_path_per_process(const char *pattern)
{
    for (const char *p = pattern; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 'p')
            return true;
        if (p[0] == '%' && p[1] == '%')
            p++;
    }
    return false;
}

#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

_Atomic int hr_log_threshold = HR_LOG_WARN;

/* Standard error as the library found it; valid false when it was closed. */
static struct {
    bool valid;
    dev_t dev;
    ino_t ino;
} hr_stderr_identity;

void hr_log_init(void)
{
    struct stat st;
    int saved_errno = errno;

    if (fstat(STDERR_FILENO, &st) == 0)
        hr_stderr_identity = (__typeof__(hr_stderr_identity)){
            true, st.st_dev, st.st_ino};
    errno = saved_errno;
}

/* Returns true while descriptor 2 is the standard error found at load. */
static bool hr_stderr_unchanged(void)
{
    struct stat st;

    return hr_stderr_identity.valid && fstat(STDERR_FILENO, &st) == 0 &&
           st.st_dev == hr_stderr_identity.dev &&
           st.st_ino == hr_stderr_identity.ino;
}

static const char *const hr_level_names[] = {
    [HR_LOG_OFF] = "off",   [HR_LOG_ERROR] = "error", [HR_LOG_WARN] = "warn",
    [HR_LOG_INFO] = "info", [HR_LOG_DEBUG] = "debug",
};

void hr_log_write(hr_log_level level, const char *format, ...)
{
    int saved_errno = errno;
    char line[1024];
    int prefix;
    int length;
    va_list ap;

    prefix = snprintf(line, sizeof(line), "hiretry: level=%s ",
                      hr_level_names[level]);
    va_start(ap, format);
    length =
        vsnprintf(line + prefix, sizeof(line) - (size_t)prefix - 1, format, ap);
    va_end(ap);
    if (length < 0)
        length = 0;
    length += prefix;
    if ((size_t)length > sizeof(line) - 2)
        length = sizeof(line) - 2;
    line[length++] = '\n';

    /* One write() keeps lines from different threads whole. */
    if (hr_stderr_unchanged()) {
        ssize_t ignored = write(STDERR_FILENO, line, (size_t)length);
        (void)ignored;
    }
    errno = saved_errno;
}

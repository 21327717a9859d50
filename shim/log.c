#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
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
        hr_stderr_identity =
            (__typeof__(hr_stderr_identity)){true, st.st_dev, st.st_ino};
    errno = saved_errno;
}

bool hr_log_stderr_unchanged(void)
{
    struct stat st;

    return hr_stderr_identity.valid && fstat(STDERR_FILENO, &st) == 0 &&
           st.st_dev == hr_stderr_identity.dev &&
           st.st_ino == hr_stderr_identity.ino;
}

/*
 * Lines from one call site past HR_LOG_BURST in a second are dropped and
 * counted, and the next line from that site carries the count: a program
 * retrying in a tight loop must not flood its log.
 */
#define HR_LOG_SITES 32
#define HR_LOG_BURST 20
#define HR_LOG_WINDOW_NS 1000000000LL

struct hr_log_site {
    const char *format; /* the call site's format, NULL for a free slot */
    int64_t window_start_ns;
    unsigned emitted;         /* lines in the current window */
    unsigned long suppressed; /* lines dropped since the last one written */
};

static struct hr_log_site hr_log_sites[HR_LOG_SITES];
static pthread_mutex_t hr_log_sites_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Returns false when the line must be dropped. Otherwise stores in
 * *suppressed the lines dropped from the same site since its last one.
 */
static bool hr_log_admit(const char *format, unsigned long *suppressed)
{
    struct hr_log_site *site =
        &hr_log_sites[((uintptr_t)format >> 4) % HR_LOG_SITES];
    struct timespec now;
    int64_t now_ns;
    bool admit = true;

    *suppressed = 0;
    /* A busy lock, or one a fork left held, lets the line through. */
    if (pthread_mutex_trylock(&hr_log_sites_lock) != 0)
        return true;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    now_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    if (site->format != format) {
        *site = (struct hr_log_site){format, now_ns, 0, 0};
    } else if (now_ns - site->window_start_ns >= HR_LOG_WINDOW_NS) {
        site->window_start_ns = now_ns;
        site->emitted = 0;
    }
    if (site->emitted >= HR_LOG_BURST) {
        site->suppressed++;
        admit = false;
    } else {
        site->emitted++;
        *suppressed = site->suppressed;
        site->suppressed = 0;
    }
    pthread_mutex_unlock(&hr_log_sites_lock);
    return admit;
}

static const char *const hr_level_names[] = {
    [HR_LOG_OFF] = "off",   [HR_LOG_ERROR] = "error", [HR_LOG_WARN] = "warn",
    [HR_LOG_INFO] = "info", [HR_LOG_DEBUG] = "debug",
};

void hr_log_write(hr_log_level level, const char *format, ...)
{
    int saved_errno = errno;
    char line[1024];
    unsigned long suppressed;
    int prefix;
    int length;
    va_list ap;

    if (!hr_log_admit(format, &suppressed)) {
        errno = saved_errno;
        return;
    }
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
    if (suppressed > 0 && (size_t)length < sizeof(line) - 40)
        length += snprintf(line + length, sizeof(line) - (size_t)length,
                           " suppressed=%lu", suppressed);
    line[length++] = '\n';

    /* One write() keeps lines from different threads whole. */
    hr_log_emit(level, line, (size_t)length);
    errno = saved_errno;
}

/*
 * Logging to standard error, a file or syslog, one line per event:
 *
 *     hiretry: event=retry endpoint=127.0.0.1:6379 class=ConnectionError ...
 *
 * The level comes from HIRETRY_LOG. The level check is a load and a compare,
 * done before any formatting. Logging never changes errno.
 */
#ifndef HR_SHIM_LOG_H
#define HR_SHIM_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "hiretry/config.h"

extern _Atomic int hr_log_threshold;

static inline bool hr_log_enabled(hr_log_level level)
{
    return level != HR_LOG_OFF &&
           (int)level <=
               atomic_load_explicit(&hr_log_threshold, memory_order_relaxed);
}

/*
 * Records what standard error is when the library loads. A line is written
 * only while file descriptor 2 is still that file, because a program that
 * closed standard error may have reused the descriptor for a socket. It
 * may even be the connection to the server, where a line would corrupt
 * the protocol.
 */
void hr_log_init(void);

/* Returns true while descriptor 2 is the standard error found at load. */
bool hr_log_stderr_unchanged(void);

/*
 * Sends one formatted line, newline included, where HIRETRY_LOG_FILE
 * selects: standard error, a file, or syslog (shim/logfile.c).
 */
void hr_log_emit(hr_log_level level, const char *line, size_t length);

/* Writes one line at level. format contains the key=value pairs. */
void hr_log_write(hr_log_level level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

#define hr_log(level, ...)                                                     \
    do {                                                                       \
        if (hr_log_enabled(level))                                             \
            hr_log_write(level, __VA_ARGS__);                                  \
    } while (0)

/* Logs at most once per call site and process. */
#define hr_log_once(level, ...)                                                \
    do {                                                                       \
        static atomic_flag hr_logged_ = ATOMIC_FLAG_INIT;                      \
        if (hr_log_enabled(level) && !atomic_flag_test_and_set(&hr_logged_))   \
            hr_log_write(level, __VA_ARGS__);                                  \
    } while (0)

#endif

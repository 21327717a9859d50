/*
 * The real hiredis functions behind the wrappers, found at the first call.
 *
 * dlsym(RTLD_NEXT) finds them when the program links libhiredis. Hosts that
 * load a plugin linked with libhiredis through dlopen(RTLD_LOCAL) hide it
 * from RTLD_NEXT, so the fallback looks the functions up in the libhiredis
 * already loaded in the process. Either way the shim marks that libhiredis
 * RTLD_NODELETE, so that the pointers stay valid after the host dlclose()s
 * the plugin: the library stays mapped until the process exits.
 */
#ifndef HR_SHIM_REAL_H
#define HR_SHIM_REAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "hiredis_abi.h"

/* X(return type, name, parameters): every function the shim calls. */
#define HR_REAL_FUNCTIONS(X)                                                   \
    X(redisContext *, redisConnect, (const char *, int))                       \
    X(redisContext *, redisConnectWithTimeout,                                 \
      (const char *, int, const struct timeval))                               \
    X(redisContext *, redisConnectUnix, (const char *))                        \
    X(redisContext *, redisConnectUnixWithTimeout,                             \
      (const char *, const struct timeval))                                    \
    X(void *, redisvCommand, (redisContext *, const char *, va_list))          \
    X(void *, redisCommandArgv,                                                \
      (redisContext *, int, const char **, const size_t *))                    \
    X(int, redisvAppendCommand, (redisContext *, const char *, va_list))       \
    X(int, redisAppendCommandArgv,                                             \
      (redisContext *, int, const char **, const size_t *))                    \
    X(int, redisAppendFormattedCommand,                                        \
      (redisContext *, const char *, size_t))                                  \
    X(int, redisGetReply, (redisContext *, void **))                           \
    X(int, redisSetTimeout, (redisContext *, const struct timeval))            \
    X(int, redisEnableKeepAlive, (redisContext *))                             \
    X(int, redisReconnect, (redisContext *))                                   \
    X(void, redisFree, (redisContext *))                                       \
    X(int, redisFreeKeepFd, (redisContext *))                                  \
    X(int, redisvFormatCommand, (char **, const char *, va_list))              \
    X(void, freeReplyObject, (void *))                                         \
    X(redisReader *, redisReaderCreate, (void))                                \
    X(void, redisReaderFree, (redisReader *))                                  \
    HR_REAL_FUNCTIONS_1X(X)

/* The functions only hiredis 1.x has. */
#if HR_HIREDIS_1
#define HR_REAL_FUNCTIONS_1X(X)                                                \
    X(redisContext *, redisConnectWithOptions, (const redisOptions *))         \
    X(int, redisEnableKeepAliveWithInterval, (redisContext *, int))            \
    X(int, redisSetTcpUserTimeout, (redisContext *, unsigned int))
#else
#define HR_REAL_FUNCTIONS_1X(X)
#endif

typedef struct hr_real_table {
#define HR_REAL_FIELD(ret, name, params) ret(*name) params;
    HR_REAL_FUNCTIONS(HR_REAL_FIELD)
#undef HR_REAL_FIELD
} hr_real_table;

extern hr_real_table hr_real;

/*
 * Resolves every function once per process; safe from any thread and
 * repeated calls cost one atomic load. Returns false when libhiredis cannot
 * be found or is not the ABI the shim was built for: the caller must then
 * not apply any policy, and may call only functions that are not NULL.
 * NOTE: a plugin loaded later with a libhiredis of another soname still
 * gets the functions of the first libhiredis.
 */
bool hr_real_resolve(void);

/*
 * Looks up name in a library the program loaded besides libhiredis, such as
 * libhiredis_ssl (file name prefix "libhiredis_ssl.so"), the way the
 * hiredis functions are found, and keeps that library mapped. Returns NULL
 * when it is not loaded.
 */
void *hr_real_lookup_extra(const char *prefix, const char *name);

/*
 * Memory shared with hiredis. hiredis 1.x allocates through functions a
 * program may replace with hiredisSetAllocators, so memory that hiredis
 * frees must come from them, and memory it allocated must go back to them.
 * hiredis 0.14 uses malloc() and free().
 */
void hr_real_free(void *ptr);
char *hr_real_strdup(const char *text);

/*
 * Makes *cmd, a command hiredis formatted, memory the shim may release
 * with free(): a copy when the program replaced hiredis's allocators, else
 * *cmd itself. Returns 0, or -1 with *cmd released when out of memory.
 */
int hr_real_take_command(char **cmd, size_t len);

/* The reply functions hiredis's default reader uses, or NULL. */
const void *hr_real_default_reader_functions(void);

#endif

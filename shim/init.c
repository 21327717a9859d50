/* Start-up of the shim: configuration from the environment, once. */
#include "shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "real.h"
#include "stats.h"

hr_config hr_shim_config;
__thread int hr_shim_depth __attribute__((tls_model("initial-exec")));

static pthread_once_t hr_config_once = PTHREAD_ONCE_INIT;
static _Atomic bool hr_config_loaded;

/* Messages about invalid variables wait until the log level is known. */
#define HR_MAX_CONFIG_MESSAGES 16
static char hr_config_messages[HR_MAX_CONFIG_MESSAGES][768];
static int hr_config_message_count;

static void hr_collect_message(void *arg, const char *message)
{
    (void)arg;
    if (hr_config_message_count == HR_MAX_CONFIG_MESSAGES)
        return;
    strncpy(hr_config_messages[hr_config_message_count], message,
            sizeof(hr_config_messages[0]) - 1);
    hr_config_message_count++;
}

/* secure_getenv ignores the variables in setuid and setgid programs. */
static const char *hr_getenv(const char *name)
{
    return secure_getenv(name);
}

/* Collects a message for each HIRETRY_* variable the shim does not know,
 * such as a misspelled HIRETRY_RETRYS, which would otherwise do nothing. */
static void hr_collect_unknown_variables(void)
{
    size_t count;
    const hr_config_var *vars = hr_config_vars(&count);

    /* setuid and setgid programs ignore the variables altogether. */
    if (getauxval(AT_SECURE) != 0)
        return;
    for (char **entry = environ; entry != NULL && *entry != NULL; entry++) {
        const char *equals = strchr(*entry, '=');
        size_t len = equals ? (size_t)(equals - *entry) : strlen(*entry);
        bool known = false;
        char message[256];

        if (strncmp(*entry, "HIRETRY_", 8) != 0)
            continue;
        for (size_t i = 0; i < count && !known; i++)
            known = strlen(vars[i].name) == len &&
                    strncmp(vars[i].name, *entry, len) == 0;
        if (known)
            continue;
        snprintf(message, sizeof(message),
                 "unknown variable %.*s is ignored; the README lists the "
                 "HIRETRY_ variables",
                 (int)(len > 64 ? 64 : len), *entry);
        hr_collect_message(NULL, message);
    }
}

static void hr_load_config(void)
{
    hr_config_load(&hr_shim_config, hr_getenv, hr_collect_message, NULL, NULL);
    hr_collect_unknown_variables();
    atomic_store_explicit(&hr_log_threshold, (int)hr_shim_config.log_level,
                          memory_order_relaxed);
    hr_stats_init();
    atomic_store_explicit(&hr_config_loaded, true, memory_order_release);
}

/* Writes a message as a quoted value: quotes and backslashes escaped. */
static void hr_report_message(const char *message)
{
    char quoted[1024];
    size_t n = 0;

    for (const char *p = message; *p != '\0' && n + 2 < sizeof(quoted); p++) {
        if (*p == '"' || *p == '\\')
            quoted[n++] = '\\';
        quoted[n++] = *p;
    }
    quoted[n] = '\0';
    hr_log(HR_LOG_WARN, "event=invalid_setting message=\"%s\"", quoted);
}

/*
 * Reports the configuration's messages once, at the first hiredis call:
 * every process that inherits LD_PRELOAD loads the shim, but only those
 * that use hiredis are concerned.
 */
static void hr_report_config(void)
{
    for (int i = 0; i < hr_config_message_count; i++)
        hr_report_message(hr_config_messages[i]);
}

/*
 * Warns when the program's hiredis calls do not reach the shim, as when
 * LD_PRELOAD lists libhiredis before libhiretry.so.
 */
static void hr_check_interposed(void)
{
    void *found = dlsym(RTLD_DEFAULT, "redisCommand");
    Dl_info own, other;

    /* The name redisCommand itself may resolve to hiredis's from here, so
       this object is found through one of its own static functions. */
    if (found == NULL || dladdr((void *)hr_check_interposed, &own) == 0 ||
        dladdr(found, &other) == 0 || own.dli_fbase == other.dli_fbase)
        return;
    hr_log(HR_LOG_WARN,
           "event=not_interposed library=%s "
           "reason=\"hiredis comes before libhiretry.so in the search order; "
           "put libhiretry.so first in LD_PRELOAD\"",
           other.dli_fname ? other.dli_fname : "unknown");
}

/* Reads the configuration at load time, before any thread of the program. */
__attribute__((constructor)) static void hr_shim_load(void)
{
    hr_log_init();
    pthread_once(&hr_config_once, hr_load_config);
    hr_check_interposed();
}

static pthread_once_t hr_report_once = PTHREAD_ONCE_INIT;

enum { HR_READY_UNKNOWN, HR_READY_ACTIVE, HR_READY_PASS_THROUGH };

static _Atomic int hr_ready_state = HR_READY_UNKNOWN;

bool hr_shim_ready(void)
{
    int state = atomic_load_explicit(&hr_ready_state, memory_order_acquire);

    if (state != HR_READY_UNKNOWN)
        return state == HR_READY_ACTIVE;

    if (!atomic_load_explicit(&hr_config_loaded, memory_order_acquire))
        pthread_once(&hr_config_once, hr_load_config);
    pthread_once(&hr_report_once, hr_report_config);
    /* With no retries the shim would change nothing, so it stays out of
       the way entirely, exactly like plain hiredis. */
    state = hr_real_resolve() && !hr_shim_config.disable &&
                    hr_shim_config.policy.retries != 0
                ? HR_READY_ACTIVE
                : HR_READY_PASS_THROUGH;
    atomic_store_explicit(&hr_ready_state, state, memory_order_release);
    return state == HR_READY_ACTIVE;
}

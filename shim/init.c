/* Start-up of the shim: configuration from the environment, once. */
#include "shim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "real.h"

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

static void hr_load_config(void)
{
    hr_config_load(&hr_shim_config, hr_getenv, hr_collect_message, NULL, NULL);
    atomic_store_explicit(&hr_log_threshold, (int)hr_shim_config.log_level,
                          memory_order_relaxed);
    for (int i = 0; i < hr_config_message_count; i++)
        hr_log(HR_LOG_WARN, "event=invalid_setting %s", hr_config_messages[i]);
    atomic_store_explicit(&hr_config_loaded, true, memory_order_release);
}

/* Reads the configuration at load time, before any thread of the program. */
__attribute__((constructor)) static void hr_shim_load(void)
{
    pthread_once(&hr_config_once, hr_load_config);
}

enum { HR_READY_UNKNOWN, HR_READY_ACTIVE, HR_READY_PASS_THROUGH };

static _Atomic int hr_ready_state = HR_READY_UNKNOWN;

bool hr_shim_ready(void)
{
    int state = atomic_load_explicit(&hr_ready_state, memory_order_acquire);

    if (state != HR_READY_UNKNOWN)
        return state == HR_READY_ACTIVE;

    if (!atomic_load_explicit(&hr_config_loaded, memory_order_acquire))
        pthread_once(&hr_config_once, hr_load_config);
    /* With no retries the shim would change nothing, so it stays out of
       the way entirely, exactly like plain hiredis. */
    state = hr_real_resolve() && !hr_shim_config.disable &&
                    hr_shim_config.policy.retries != 0
                ? HR_READY_ACTIVE
                : HR_READY_PASS_THROUGH;
    atomic_store_explicit(&hr_ready_state, state, memory_order_release);
    return state == HR_READY_ACTIVE;
}

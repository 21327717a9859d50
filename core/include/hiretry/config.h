/*
 * Configuration from HIRETRY_* environment variables.
 *
 * One table in config.c describes every variable: its name, type, accepted
 * range, default and documentation. Loading reads each variable once; an
 * invalid value produces one message naming the variable, the value, what is
 * accepted and the default used instead, and never aborts.
 */
#ifndef HIRETRY_CONFIG_H
#define HIRETRY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hiretry/address.h"
#include "hiretry/budget.h"
#include "hiretry/policy.h"

typedef enum hr_log_level {
    HR_LOG_OFF,
    HR_LOG_ERROR,
    HR_LOG_WARN,
    HR_LOG_INFO,
    HR_LOG_DEBUG
} hr_log_level;

/* Maximum bytes of HIRETRY_SENTINEL_MASTER and HIRETRY_SENTINEL_USERNAME. */
#define HR_SENTINEL_NAME_MAX 255

/* Maximum bytes of HIRETRY_SENTINEL_PASSWORD. */
#define HR_SENTINEL_PASSWORD_MAX 511

/* Maximum bytes of HIRETRY_LOG_FILE and HIRETRY_STATS_FILE, before %p is
 * expanded. */
#define HR_PATH_MAX 1023

/* Where the program's connections go when Sentinel names the primary. */
typedef struct hr_sentinel_config {
    hr_address_list sentinels; /* HIRETRY_SENTINELS; empty: no Sentinel */
    char master[HR_SENTINEL_NAME_MAX + 1];       /* HIRETRY_SENTINEL_MASTER */
    char username[HR_SENTINEL_NAME_MAX + 1];     /* HIRETRY_SENTINEL_USERNAME */
    char password[HR_SENTINEL_PASSWORD_MAX + 1]; /* "": no AUTH */
    bool redirect_all;        /* HIRETRY_SENTINEL_REDIRECT=all */
    hr_address_list redirect; /* the addresses it lists otherwise */
    int64_t timeout_ns;       /* HIRETRY_SENTINEL_TIMEOUT */
} hr_sentinel_config;

typedef struct hr_config {
    hr_policy policy;       /* HIRETRY_RETRIES, _BACKOFF*, _RETRY_ON,
                               _WRITES, _DEADLINE */
    size_t pipeline_max;    /* HIRETRY_PIPELINE_MAX, in bytes */
    hr_log_level log_level; /* HIRETRY_LOG */
    bool disable;           /* HIRETRY_DISABLE */
    int64_t idle_check_ns;  /* HIRETRY_IDLE_CHECK */
    hr_sentinel_config sentinel;
    hr_budget_config budget;          /* HIRETRY_BUDGET and HIRETRY_BUDGET_* */
    hr_breaker_config breaker;        /* HIRETRY_BREAKER_* */
    char log_file[HR_PATH_MAX + 1];   /* HIRETRY_LOG_FILE; "": stderr */
    char stats_file[HR_PATH_MAX + 1]; /* HIRETRY_STATS_FILE; "": none */
    int64_t stats_interval_ns;        /* HIRETRY_STATS_INTERVAL; 0: at exit */
} hr_config;

/* Where a setting's value came from. */
typedef enum hr_config_source {
    HR_SOURCE_DEFAULT, /* the variable is unset */
    HR_SOURCE_ENV,     /* the variable's value */
    HR_SOURCE_INVALID  /* the variable was invalid: the default is used */
} hr_config_source;

/* Documentation of one variable, for the README, --help and checks. */
typedef struct hr_config_var {
    const char *name;          /* "HIRETRY_RETRIES" */
    const char *accepted;      /* "an integer from -1 to 1000000, ..." */
    const char *default_value; /* "3", as a user would write it */
    const char *summary;       /* one sentence */
    bool secret; /* a credential: messages and reports never show it */
} hr_config_var;

/* Reads a variable; returns NULL when unset. secure_getenv in the shim. */
typedef const char *(*hr_getenv_fn)(const char *name);

/* Receives one complete message, without a trailing newline. */
typedef void (*hr_report_fn)(void *arg, const char *message);

/* Returns the table of variables and stores its length in *count. */
const hr_config_var *hr_config_vars(size_t *count);

/* Fills config with every default. */
void hr_config_defaults(hr_config *config);

/*
 * Fills config from the variables that getenv_fn returns, using the default
 * for each unset or invalid one, and calls report (when not NULL) once per
 * invalid value. When sources is not NULL it receives one entry per row of
 * hr_config_vars, in the same order. Returns the number of invalid values.
 */
int hr_config_load(hr_config *config, hr_getenv_fn getenv_fn,
                   hr_report_fn report, void *report_arg,
                   hr_config_source *sources);

/*
 * Parses a duration with a unit: "250ms", "1.5s", "800us", "0" (zero needs
 * no unit). Units are lower case, and there is no sign and no space. Returns
 * 0 and stores nanoseconds in *out_ns, or -1 when the text is not a
 * duration, has no unit, is not a whole number of nanoseconds, or overflows.
 */
int hr_parse_duration(const char *text, int64_t *out_ns);

/*
 * Parses a size in bytes: "65536", "512B", "64KiB", "1MiB", "2GiB". Units
 * are powers of 1024 and match in this case only, and there is no sign, no
 * space and no fraction. KB, MB and other decimal or one-letter units are
 * rejected because they could mean 1000 or 1024. Returns 0 and stores bytes in
 * *out_bytes, or -1 when the text is not a size or exceeds UINT64_MAX bytes.
 */
int hr_parse_size(const char *text, uint64_t *out_bytes);

/* Parses 1/0, true/false, yes/no, on/off in any case. Returns 0 or -1. */
int hr_parse_bool(const char *text, bool *out);

/* Returns the name of a log level ("warn"), or NULL. */
const char *hr_log_level_name(hr_log_level level);

#endif

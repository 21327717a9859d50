/*
 * Configuration from HIRETRY_* environment variables.
 *
 * HR_CONFIG_TABLE below is the single source of truth: each row names the
 * variable, the function that parses a value into hr_config, and the texts
 * that hr_config_vars publishes. hr_config_defaults parses each row's default
 * text, so the documented default is the value used.
 *
 * Rules for values:
 * - A value is taken as it is, so " 3" and "3 " are invalid. Only
 *   HIRETRY_RETRY_ON allows spaces and tabs around its items.
 * - An empty value is invalid, except for HIRETRY_DISABLE, where it means
 *   false because `HIRETRY_DISABLE=` is the usual way to clear a flag, and
 *   for the Sentinel texts (HIRETRY_SENTINELS, _MASTER, _USERNAME and
 *   _PASSWORD), whose default is empty: Sentinel is not used, or no AUTH.
 *   HIRETRY_LOG_FILE and HIRETRY_STATS_FILE are empty by default too: the
 *   log goes to standard error, and no stats file is written.
 * - Keywords (strategies, writes modes, log levels, booleans) match in any
 *   ASCII case. Class names in HIRETRY_RETRY_ON match exactly, as valkey-py
 *   spells them. Duration units are lower case only, as in SI, where "Ms"
 *   would be megaseconds. Size units (B, KiB, MiB, GiB) match as written,
 *   and KB or MB are rejected because they would leave 1000 or 1024 to a
 *   guess.
 * - A base above the cap is kept as it is, with no message: every strategy
 *   except constant applies the cap with min(), as valkey-py does.
 */
#include "hiretry/config.h"

#include <stdio.h>
#include <string.h>

#include "hiretry/backoff.h"
#include "hiretry/errors.h"

#include "config_internal.h"

#define HR_RETRIES_MIN (-1)
#define HR_RETRIES_MAX 1000000

#define HR_NS_PER_US INT64_C(1000)
#define HR_NS_PER_S INT64_C(1000000000)
#define HR_NS_PER_MS INT64_C(1000000)
#define HR_BACKOFF_MAX_NS (3600 * HR_NS_PER_S)
#define HR_SENTINEL_TIMEOUT_MIN_NS HR_NS_PER_MS
#define HR_SENTINEL_TIMEOUT_MAX_NS (60 * HR_NS_PER_S)
#define HR_DEADLINE_MAX_NS (86400 * HR_NS_PER_S)

/* The largest HIRETRY_PIPELINE_MAX. Every connection may keep this many
 * bytes, so the value needs a bound. */
#define HR_PIPELINE_MAX_BYTES (UINT64_C(1) << 30)

/* The largest token capacity and breaker threshold. */
#define HR_BUDGET_COUNT_MAX 1000000

/* The shortest cool-down: a shorter one would let a reconnect storm
 * through between rejections. */
#define HR_COOLDOWN_MIN_NS (HR_NS_PER_S / 1000)

/* Maximum bytes of an invalid value quoted in a message. Longer values are
 * cut. */
#define HR_QUOTE_MAX 64

/* Parses text into its field of config. Returns -1, with config unchanged,
 * when the text is invalid. */
typedef int (*hr_store_fn)(const char *text, hr_config *config);

static const char *const hr_log_level_names[] = {
    [HR_LOG_OFF] = "off",   [HR_LOG_ERROR] = "error", [HR_LOG_WARN] = "warn",
    [HR_LOG_INFO] = "info", [HR_LOG_DEBUG] = "debug",
};

static const char *const hr_writes_names[] = {
    [HR_WRITES_SAFE] = "safe",
    [HR_WRITES_ALL] = "all",
    [HR_WRITES_NONE] = "none",
};

const char *hr_log_level_name(hr_log_level level)
{
    /* The cast also rejects negative values. */
    if ((unsigned)level >= HR_ARRAY_LEN(hr_log_level_names))
        return NULL;
    return hr_log_level_names[level];
}

/* The policy's backoff counts whole microseconds, so finer values are
 * rejected rather than rounded. */
static int hr_parse_backoff_us(const char *text, uint64_t *out_us)
{
    int64_t ns;

    if (hr_parse_duration(text, &ns) != 0)
        return -1;
    if (ns > HR_BACKOFF_MAX_NS || ns % HR_NS_PER_US != 0)
        return -1;
    *out_us = (uint64_t)(ns / HR_NS_PER_US);
    return 0;
}

static int hr_store_retries(const char *text, hr_config *config)
{
    long long value;

    if (hr_parse_integer(text, HR_RETRIES_MIN, HR_RETRIES_MAX, &value) != 0)
        return -1;
    config->policy.retries = (int)value;
    return 0;
}

static int hr_store_backoff(const char *text, hr_config *config)
{
    hr_backoff_kind kind;

    if (hr_parse_backoff_kind(text, &kind) != 0)
        return -1;
    config->policy.backoff.kind = kind;
    return 0;
}

static int hr_store_backoff_base(const char *text, hr_config *config)
{
    return hr_parse_backoff_us(text, &config->policy.backoff.base_us);
}

static int hr_store_backoff_cap(const char *text, hr_config *config)
{
    return hr_parse_backoff_us(text, &config->policy.backoff.cap_us);
}

static int hr_store_retry_on(const char *text, hr_config *config)
{
    return hr_parse_class_list(text, &config->policy.retry_on);
}

static int hr_store_writes(const char *text, hr_config *config)
{
    int index =
        hr_keyword_index(text, hr_writes_names, HR_ARRAY_LEN(hr_writes_names));

    if (index < 0)
        return -1;
    config->policy.writes = (hr_writes)index;
    return 0;
}

static int hr_store_deadline(const char *text, hr_config *config)
{
    int64_t ns;

    if (hr_parse_duration(text, &ns) != 0 || ns > HR_DEADLINE_MAX_NS)
        return -1;
    config->policy.deadline_ns = ns;
    return 0;
}

static int hr_store_pipeline_max(const char *text, hr_config *config)
{
    uint64_t bytes;

    if (hr_parse_size(text, &bytes) != 0 || bytes > HR_PIPELINE_MAX_BYTES)
        return -1;
    config->pipeline_max = (size_t)bytes;
    return 0;
}

static int hr_store_idle_check(const char *text, hr_config *config)
{
    int64_t ns;

    if (hr_parse_duration(text, &ns) != 0 || ns > HR_BACKOFF_MAX_NS)
        return -1;
    config->idle_check_ns = ns;
    return 0;
}

static int hr_store_budget(const char *text, hr_config *config)
{
    return hr_parse_bool(text, &config->budget.enabled);
}

static int hr_store_budget_ratio(const char *text, hr_config *config)
{
    return hr_parse_milli(text, HR_BUDGET_MILLI, &config->budget.ratio_milli);
}

static int hr_store_budget_capacity(const char *text, hr_config *config)
{
    long long value;

    if (hr_parse_integer(text, 1, HR_BUDGET_COUNT_MAX, &value) != 0)
        return -1;
    config->budget.capacity = value;
    return 0;
}

static int hr_store_budget_floor(const char *text, hr_config *config)
{
    long long value;

    if (hr_parse_integer(text, 0, HR_BUDGET_FLOOR_MAX, &value) != 0)
        return -1;
    config->budget.floor_per_sec = value;
    return 0;
}

static int hr_store_breaker_failures(const char *text, hr_config *config)
{
    long long value;

    if (hr_parse_integer(text, 0, HR_BUDGET_COUNT_MAX, &value) != 0)
        return -1;
    config->breaker.failures = (int)value;
    return 0;
}

static int hr_store_breaker_cooldown(const char *text, hr_config *config)
{
    int64_t ns;

    if (hr_parse_duration(text, &ns) != 0 || ns < HR_COOLDOWN_MIN_NS ||
        ns > HR_BACKOFF_MAX_NS)
        return -1;
    config->breaker.cooldown_ns = ns;
    return 0;
}

static int hr_store_log(const char *text, hr_config *config)
{
    int index = hr_keyword_index(text, hr_log_level_names,
                                 HR_ARRAY_LEN(hr_log_level_names));

    if (index < 0)
        return -1;
    config->log_level = (hr_log_level)index;
    return 0;
}

static int hr_store_disable(const char *text, hr_config *config)
{
    if (text[0] == '\0') {
        config->disable = false;
        return 0;
    }
    return hr_parse_bool(text, &config->disable);
}

/*
 * Copies text into a buffer of size bytes when it fits and every byte is
 * printable ASCII other than a space, as in a Sentinel master or user name.
 */
static int hr_store_name(const char *text, char *buf, size_t size)
{
    size_t len = strlen(text);

    if (len >= size)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] <= ' ' || text[i] > '~')
            return -1;
    }
    memcpy(buf, text, len + 1);
    return 0;
}

static int hr_store_sentinels(const char *text, hr_config *config)
{
    return hr_parse_address_list(text, &config->sentinel.sentinels);
}

static int hr_store_sentinel_master(const char *text, hr_config *config)
{
    return hr_store_name(text, config->sentinel.master,
                         sizeof(config->sentinel.master));
}

static int hr_store_sentinel_username(const char *text, hr_config *config)
{
    return hr_store_name(text, config->sentinel.username,
                         sizeof(config->sentinel.username));
}

/* Any bytes: AUTH sends the password as one bulk string. */
static int hr_store_sentinel_password(const char *text, hr_config *config)
{
    size_t len = strlen(text);

    if (len >= sizeof(config->sentinel.password))
        return -1;
    memcpy(config->sentinel.password, text, len + 1);
    return 0;
}

static int hr_store_sentinel_redirect(const char *text, hr_config *config)
{
    static const char *const all[] = {"all"};
    hr_address_list list;

    if (hr_keyword_index(text, all, 1) == 0) {
        config->sentinel.redirect_all = true;
        config->sentinel.redirect.count = 0;
        return 0;
    }
    if (text[0] == '\0' || hr_parse_address_list(text, &list) != 0)
        return -1;
    config->sentinel.redirect_all = false;
    config->sentinel.redirect = list;
    return 0;
}

static int hr_store_sentinel_timeout(const char *text, hr_config *config)
{
    int64_t ns;

    if (hr_parse_duration(text, &ns) != 0 || ns < HR_SENTINEL_TIMEOUT_MIN_NS ||
        ns > HR_SENTINEL_TIMEOUT_MAX_NS || ns % HR_NS_PER_US != 0)
        return -1;
    config->sentinel.timeout_ns = ns;
    return 0;
}

/*
 * Copies a path into a buffer of size bytes. Control bytes are rejected,
 * and so is "syslog", which only HIRETRY_LOG_FILE accepts.
 */
static int hr_store_path(const char *text, char *buf, size_t size)
{
    size_t len = strlen(text);

    if (len >= size || strcmp(text, "syslog") == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)text[i] < ' ' || text[i] == 0x7f)
            return -1;
    }
    memcpy(buf, text, len + 1);
    return 0;
}

static int hr_store_log_file(const char *text, hr_config *config)
{
    if (strcmp(text, "syslog") == 0) {
        memcpy(config->log_file, text, sizeof("syslog"));
        return 0;
    }
    return hr_store_path(text, config->log_file, sizeof(config->log_file));
}

static int hr_store_stats_file(const char *text, hr_config *config)
{
    return hr_store_path(text, config->stats_file, sizeof(config->stats_file));
}

/* Writing the stats file more often than this costs a noticeable share of
 * a core and gives a scraper nothing: 1us used about a third of one. */
#define HR_STATS_INTERVAL_MIN_NS (100 * HR_NS_PER_MS)

static int hr_store_stats_interval(const char *text, hr_config *config)
{
    int64_t ns;

    if (hr_parse_duration(text, &ns) != 0 || ns > HR_BACKOFF_MAX_NS ||
        (ns != 0 && ns < HR_STATS_INTERVAL_MIN_NS))
        return -1;
    config->stats_interval_ns = ns;
    return 0;
}

/*
 * X(NAME, STORE, ACCEPTED, DEFAULT, SUMMARY): one row per variable, in the
 * order hr_config_load reads them. ACCEPTED completes the sentence
 * "expected ..." in messages, and STORE must accept DEFAULT. SECRET rows
 * have the same columns and hold credentials, which no message shows.
 */
#define HR_CONFIG_TABLE(X, SECRET)                                             \
    X("HIRETRY_RETRIES", hr_store_retries,                                     \
      "an integer from -1 to 1000000, where -1 retries forever", "3",          \
      "Sets how many times a failed command is retried after its first "       \
      "attempt.")                                                              \
    X("HIRETRY_BACKOFF", hr_store_backoff,                                     \
      "one of none, constant, exponential, full_jitter, equal_jitter or "      \
      "decorrelated_jitter, in any case",                                      \
      "equal_jitter",                                                          \
      "Selects the strategy, with valkey-py's formulas, for the delay "        \
      "between attempts.")                                                     \
    X("HIRETRY_BACKOFF_BASE", hr_store_backoff_base,                           \
      "a duration from 0 to 3600s with a unit of us, ms or s, in whole "       \
      "microseconds",                                                          \
      "8ms",                                                                   \
      "Sets the base delay of the backoff, which is the whole delay for "      \
      "constant.")                                                             \
    X("HIRETRY_BACKOFF_CAP", hr_store_backoff_cap,                             \
      "a duration from 0 to 3600s with a unit of us, ms or s, in whole "       \
      "microseconds",                                                          \
      "512ms",                                                                 \
      "Sets the maximum delay of every strategy except constant, and it "      \
      "wins over a larger base, as in valkey-py.")                             \
    X("HIRETRY_RETRY_ON", hr_store_retry_on,                                   \
      "a comma-separated list of valkey-py error class names, where Name "     \
      "and +Name add the class and its subclasses and -Name removes them, "    \
      "and a list that starts with + or - edits the default",                  \
      "ConnectionError,TimeoutError,TryAgainError,ClusterDownError,"           \
      "ReadOnlyError,-AuthenticationError,-AuthorizationError",                \
      "Selects the error classes that are retried.")                           \
    X("HIRETRY_WRITES", hr_store_writes,                                       \
      "one of safe, all or none, in any case", "safe",                         \
      "Selects which commands that may already have run are sent again: "      \
      "reads and repeat-safe writes (safe), all, or none.")                    \
    X("HIRETRY_DEADLINE", hr_store_deadline,                                   \
      "a duration from 0 to 86400s with a unit of us, ms or s, where 0 is no " \
      "deadline",                                                              \
      "0",                                                                     \
      "Sets the time budget of one command across all its attempts and "       \
      "sleeps.")                                                               \
    X("HIRETRY_PIPELINE_MAX", hr_store_pipeline_max,                           \
      "a whole number of bytes from 0 to 1GiB, bare or with a unit of B, "     \
      "KiB, MiB or GiB, where 0 turns off sending pipelines again and KB "     \
      "or MB are rejected as ambiguous, so write KiB or MiB",                  \
      "1MiB",                                                                  \
      "Sets how many bytes of pipelined commands, whose replies are not yet "  \
      "read, are kept per connection to send again after a reconnect. A "      \
      "larger pipeline is not sent again.")                                    \
    X("HIRETRY_LOG", hr_store_log,                                             \
      "one of off, error, warn, info or debug, in any case", "warn",           \
      "Sets the minimum level of hiretry's own log messages.")                 \
    X("HIRETRY_DISABLE", hr_store_disable,                                     \
      "a boolean (1/0, true/false, yes/no or on/off, in any case), where "     \
      "empty means false",                                                     \
      "false", "Turns hiretry into a pure pass-through to hiredis when true.") \
    X("HIRETRY_IDLE_CHECK", hr_store_idle_check,                               \
      "a duration from 0 to 3600s with a unit of us, ms or s, where 0 checks " \
      "before every command",                                                  \
      "250us",                                                                 \
      "Sets how long a connection may sit idle before the next command checks" \
      " with one poll(2) whether the server closed it, so that the command "   \
      "goes out on a new connection instead of failing.")                      \
    X("HIRETRY_SENTINELS", hr_store_sentinels,                                 \
      "empty, or a comma-separated list of up to 16 distinct host:port "       \
      "addresses, with an IPv6 address in brackets ([::1]:26379)",             \
      "",                                                                      \
      "Lists the Sentinels asked, in turn, for the address of the primary; "   \
      "empty turns Sentinel support off.")                                     \
    X("HIRETRY_SENTINEL_MASTER", hr_store_sentinel_master,                     \
      "the name of the service the Sentinels monitor, up to 255 printable "    \
      "ASCII characters without spaces",                                       \
      "",                                                                      \
      "Names the service, as in SENTINEL get-master-addr-by-name, whose "      \
      "primary the program's connections follow.")                             \
    X("HIRETRY_SENTINEL_USERNAME", hr_store_sentinel_username,                 \
      "empty, or up to 255 printable ASCII characters without spaces", "",     \
      "Sets the user name sent with AUTH to the Sentinels, when "              \
      "HIRETRY_SENTINEL_PASSWORD is set.")                                     \
    SECRET("HIRETRY_SENTINEL_PASSWORD", hr_store_sentinel_password,            \
           "empty, or a password of up to 511 bytes", "",                      \
           "Sets the password sent with AUTH to the Sentinels; empty sends "   \
           "no AUTH.")                                                         \
    X("HIRETRY_SENTINEL_REDIRECT", hr_store_sentinel_redirect,                 \
      "all, or a comma-separated list of up to 16 distinct host:port "         \
      "addresses",                                                             \
      "all",                                                                   \
      "Selects the program's TCP connections that go to the primary: all of "  \
      "them except those to a listed Sentinel, or those the program opens "    \
      "to one of the listed addresses.")                                       \
    X("HIRETRY_SENTINEL_TIMEOUT", hr_store_sentinel_timeout,                   \
      "a duration from 1ms to 60s with a unit of us, ms or s, in whole "       \
      "microseconds",                                                          \
      "250ms",                                                                 \
      "Sets the connect timeout, and the timeout of each reply, when asking "  \
      "one Sentinel, after which the next one is asked.")                      \
    X("HIRETRY_BUDGET", hr_store_budget,                                       \
      "a boolean (1/0, true/false, yes/no or on/off, in any case)", "on",      \
      "Turns on the retry budget: a token bucket per server endpoint, shared " \
      "by every thread and context, from which each retry and reconnect "      \
      "takes one token.")                                                      \
    X("HIRETRY_BUDGET_RATIO", hr_store_budget_ratio,                           \
      "a decimal from 0 to 1 with at most three digits after the point",       \
      "0.1",                                                                   \
      "Sets the tokens that each successful command adds to its "              \
      "endpoint's budget.")                                                    \
    X("HIRETRY_BUDGET_CAPACITY", hr_store_budget_capacity,                     \
      "an integer from 1 to 1000000", "5",                                     \
      "Sets the tokens of a full budget, which is how many retries a burst "   \
      "of failures may take before the floor applies.")                        \
    X("HIRETRY_BUDGET_FLOOR", hr_store_budget_floor,                           \
      "an integer from 0 to 1000000, where 0 allows no retry once the "        \
      "tokens are spent",                                                      \
      "2",                                                                     \
      "Sets the retries per second and endpoint that are allowed even "        \
      "when the budget is empty, so that a quiet process still recovers.")     \
    X("HIRETRY_BREAKER_FAILURES", hr_store_breaker_failures,                   \
      "an integer from 0 to 1000000, where 0 turns the circuit breaker off",   \
      "0",                                                                     \
      "Sets how many failures in a row open an endpoint's circuit, "           \
      "which then rejects every reconnect to it for the cool-down.")           \
    X("HIRETRY_BREAKER_COOLDOWN", hr_store_breaker_cooldown,                   \
      "a duration from 1ms to 3600s with a unit of us, ms or s", "1s",         \
      "Sets how long an open circuit rejects reconnects, before a random "     \
      "extra of up to half as long, until one probe goes through.")            \
    X("HIRETRY_LOG_FILE", hr_store_log_file,                                   \
      "empty, syslog, syslog:SOCKET for a syslog socket other than "           \
      "/dev/log, or a file path of up to 1023 bytes, where %p stands for "     \
      "the process id",                                                        \
      "",                                                                      \
      "Sends the log to a file, opened for appending at the first line, or "   \
      "to syslog; empty sends it to standard error.")                          \
    X("HIRETRY_STATS_FILE", hr_store_stats_file,                               \
      "empty, or a file path of up to 1023 bytes, where %p stands for the "    \
      "process id",                                                            \
      "",                                                                      \
      "Writes the counters in the Prometheus text format to this file, "       \
      "replaced whole at each write; empty keeps no statistics file.")         \
    X("HIRETRY_STATS_INTERVAL", hr_store_stats_interval,                       \
      "0, which writes only at exit, or a duration from 100ms to 3600s "      \
      "with a unit of us, ms or s",                                            \
      "10s",                                                                   \
      "Sets how often HIRETRY_STATS_FILE is written while the program runs, "  \
      "besides once at exit.")

#define HR_CONFIG_DOC_ROW(name, store, accepted, default_value, summary)       \
    {name, accepted, default_value, summary, false},
#define HR_CONFIG_SECRET_DOC_ROW(name, store, accepted, default_value,         \
                                 summary)                                      \
    {name, accepted, default_value, summary, true},
static const hr_config_var hr_config_var_docs[] = {
    HR_CONFIG_TABLE(HR_CONFIG_DOC_ROW, HR_CONFIG_SECRET_DOC_ROW)};
#undef HR_CONFIG_DOC_ROW
#undef HR_CONFIG_SECRET_DOC_ROW

#define HR_CONFIG_STORE_ROW(name, store, accepted, default_value, summary)     \
    store,
static const hr_store_fn hr_config_var_stores[] = {
    HR_CONFIG_TABLE(HR_CONFIG_STORE_ROW, HR_CONFIG_STORE_ROW)};
#undef HR_CONFIG_STORE_ROW

#define HR_CONFIG_VAR_COUNT HR_ARRAY_LEN(hr_config_var_docs)

const hr_config_var *hr_config_vars(size_t *count)
{
    *count = HR_CONFIG_VAR_COUNT;
    return hr_config_var_docs;
}

void hr_config_defaults(hr_config *config)
{
    size_t i;

    memset(config, 0, sizeof(*config));

    /* Every default text parses: the unit tests load each one as a value. */
    for (i = 0; i < HR_CONFIG_VAR_COUNT; i++) {
        (void)hr_config_var_stores[i](hr_config_var_docs[i].default_value,
                                      config);
    }
}

/*
 * Copies at most HR_QUOTE_MAX bytes of value into out, escaping '"', '\\'
 * and every byte outside printable ASCII as \xHH, so that a message stays
 * one line of ASCII. out needs 4 * HR_QUOTE_MAX + 1 bytes. Returns true
 * when the value was cut.
 */
static bool hr_quote_value(const char *value, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    size_t i;

    for (i = 0; value[i] != '\0' && i < HR_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)value[i];

        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[n++] = (char)c;
        } else {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 0xf];
        }
    }
    out[n] = '\0';
    return value[i] != '\0';
}

static void hr_report_invalid(const hr_config_var *var, const char *value,
                              hr_report_fn report, void *report_arg)
{
    const char *fallback =
        var->default_value[0] != '\0' ? var->default_value : "(empty)";
    char quoted[4 * HR_QUOTE_MAX + 1];
    char message[1024];
    bool cut;

    if (var->secret) {
        snprintf(message, sizeof(message),
                 "invalid %s (value not shown): expected %s; using the "
                 "default %s",
                 var->name, var->accepted, fallback);
        report(report_arg, message);
        return;
    }
    cut = hr_quote_value(value, quoted);
    snprintf(message, sizeof(message),
             "invalid %s=\"%s\"%s: expected %s; using the default %s",
             var->name, quoted, cut ? "..." : "", var->accepted, fallback);
    report(report_arg, message);
}

int hr_config_load(hr_config *config, hr_getenv_fn getenv_fn,
                   hr_report_fn report, void *report_arg,
                   hr_config_source *sources)
{
    int invalid = 0;
    size_t i;

    /* HIRETRY_RETRY_ON edits start from the default set stored here. */
    hr_config_defaults(config);

    for (i = 0; i < HR_CONFIG_VAR_COUNT; i++) {
        const hr_config_var *var = &hr_config_var_docs[i];
        const char *value = getenv_fn(var->name);
        hr_config_source source = HR_SOURCE_DEFAULT;

        if (value != NULL) {
            source = HR_SOURCE_ENV;
            if (hr_config_var_stores[i](value, config) != 0)
                source = HR_SOURCE_INVALID;
        }
        if (source == HR_SOURCE_INVALID) {
            invalid++;
            if (report != NULL)
                hr_report_invalid(var, value, report, report_arg);
        }
        if (sources != NULL)
            sources[i] = source;
    }
    return invalid;
}

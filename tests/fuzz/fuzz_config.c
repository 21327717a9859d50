/*
 * Fuzzes hr_config_load through a fake getenv built from the input: the
 * input is split at NUL bytes, which no environment value can contain, and
 * the i-th piece is the value of the i-th variable of hr_config_vars. A
 * piece that is exactly "\x01" leaves its variable unset, and variables
 * past the last piece are unset too.
 *
 * Checked:
 * - every field is inside its documented range;
 * - a field whose variable is unset or invalid keeps its default;
 * - getenv is called once per variable;
 * - each invalid value produces exactly one one-line ASCII message naming
 *   it;
 * - the return value, the sources and the messages agree;
 * - the duration and size parsers round-trip each piece they accept.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiretry/config.h"
#include "hiretry/errors.h"
#include "hr_fuzz.h"

#define HR_VARS_MAX 32

#define HR_NS_PER_S INT64_C(1000000000)
#define HR_US_PER_S UINT64_C(1000000)

/* The fake environment; libFuzzer runs one input at a time. */
static const hr_config_var *hr_vars;
static size_t hr_var_count;
static const char *hr_values[HR_VARS_MAX];
static int hr_getenv_calls[HR_VARS_MAX];
static int hr_messages[HR_VARS_MAX];

static size_t hr_var_index(const char *name)
{
    for (size_t i = 0; i < hr_var_count; i++) {
        if (strcmp(hr_vars[i].name, name) == 0)
            return i;
    }
    return hr_var_count;
}

static const char *hr_fake_getenv(const char *name)
{
    size_t i = hr_var_index(name);

    HR_FUZZ_CHECK(i < hr_var_count, "unknown variable %s", name);
    hr_getenv_calls[i]++;
    return hr_values[i];
}

/* Counts a message against the one variable it names. */
static void hr_fake_report(void *arg, const char *message)
{
    static const char prefix[] = "invalid ";
    const char *name = message + sizeof(prefix) - 1;
    size_t named = 0;
    size_t index = hr_var_count;

    (void)arg;
    HR_FUZZ_CHECK(strncmp(message, prefix, sizeof(prefix) - 1) == 0, "%s",
                  message);
    for (const char *p = message; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;

        HR_FUZZ_CHECK(c >= 0x20 && c < 0x7f, "byte 0x%02x in %s", c, message);
    }

    for (size_t i = 0; i < hr_var_count; i++) {
        size_t len = strlen(hr_vars[i].name);

        /* A secret's message names it without its value. */
        char end = hr_vars[i].secret ? ' ' : '=';

        if (strncmp(name, hr_vars[i].name, len) == 0 && name[len] == end) {
            named++;
            index = i;
        }
    }
    HR_FUZZ_CHECK(named == 1, "%zu names in %s", named, message);
    hr_messages[index]++;
}

/* Checks every field against the range that hr_config_vars documents. */
static void hr_check_ranges(const hr_config *config)
{
    const hr_policy *policy = &config->policy;
    hr_class_set all = (UINT64_C(1) << HR_CLASS_COUNT) - 1;

    HR_FUZZ_CHECK(policy->retries >= -1 && policy->retries <= 1000000, "%d",
                  policy->retries);
    HR_FUZZ_CHECK(policy->backoff.kind >= HR_BACKOFF_NONE &&
                      policy->backoff.kind <= HR_BACKOFF_DECORRELATED_JITTER,
                  "%d", (int)policy->backoff.kind);
    HR_FUZZ_CHECK(policy->backoff.base_us <= 3600 * HR_US_PER_S, "%" PRIu64,
                  policy->backoff.base_us);
    HR_FUZZ_CHECK(policy->backoff.cap_us <= 3600 * HR_US_PER_S, "%" PRIu64,
                  policy->backoff.cap_us);
    HR_FUZZ_CHECK((policy->retry_on & ~all) == 0, "0x%" PRIx64,
                  policy->retry_on);
    HR_FUZZ_CHECK(policy->writes >= HR_WRITES_SAFE &&
                      policy->writes <= HR_WRITES_NONE,
                  "%d", (int)policy->writes);
    HR_FUZZ_CHECK(policy->deadline_ns >= 0 &&
                      policy->deadline_ns <= 86400 * HR_NS_PER_S,
                  "%" PRId64, policy->deadline_ns);
    HR_FUZZ_CHECK(config->pipeline_max <= (size_t)1 << 30, "%zu",
                  config->pipeline_max);
    HR_FUZZ_CHECK(hr_log_level_name(config->log_level) != NULL, "%d",
                  (int)config->log_level);
    HR_FUZZ_CHECK(config->idle_check_ns >= 0 &&
                      config->idle_check_ns <= 3600 * HR_NS_PER_S,
                  "%" PRId64, config->idle_check_ns);
    HR_FUZZ_CHECK(config->sentinel.sentinels.count <= HR_ADDRESS_LIST_MAX,
                  "%zu", config->sentinel.sentinels.count);
    HR_FUZZ_CHECK(config->sentinel.redirect.count <= HR_ADDRESS_LIST_MAX, "%zu",
                  config->sentinel.redirect.count);
    HR_FUZZ_CHECK(config->sentinel.timeout_ns >= 1000000 &&
                      config->sentinel.timeout_ns <= 60 * HR_NS_PER_S,
                  "%" PRId64, config->sentinel.timeout_ns);
}

static bool hr_address_lists_equal(const hr_address_list *a,
                                   const hr_address_list *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++) {
        if (a->items[i].port != b->items[i].port ||
            strcmp(a->items[i].host, b->items[i].host) != 0)
            return false;
    }
    return true;
}

/* Returns true when a Sentinel field that variable name sets is equal in a
 * and b. Stores false in *known for any other name. */
static bool hr_sentinel_field_equal(const char *name,
                                    const hr_sentinel_config *a,
                                    const hr_sentinel_config *b, bool *known)
{
    *known = true;
    if (strcmp(name, "HIRETRY_SENTINELS") == 0)
        return hr_address_lists_equal(&a->sentinels, &b->sentinels);
    if (strcmp(name, "HIRETRY_SENTINEL_MASTER") == 0)
        return strcmp(a->master, b->master) == 0;
    if (strcmp(name, "HIRETRY_SENTINEL_USERNAME") == 0)
        return strcmp(a->username, b->username) == 0;
    if (strcmp(name, "HIRETRY_SENTINEL_PASSWORD") == 0)
        return strcmp(a->password, b->password) == 0;
    if (strcmp(name, "HIRETRY_SENTINEL_REDIRECT") == 0)
        return a->redirect_all == b->redirect_all &&
               hr_address_lists_equal(&a->redirect, &b->redirect);
    if (strcmp(name, "HIRETRY_SENTINEL_TIMEOUT") == 0)
        return a->timeout_ns == b->timeout_ns;
    *known = false;
    return false;
}

/* Returns true when a budget or breaker field that variable name sets is
 * equal in a and b. Stores false in *known for any other name. */
static bool hr_budget_field_equal(const char *name, const hr_config *a,
                                  const hr_config *b, bool *known)
{
    *known = true;
    if (strcmp(name, "HIRETRY_BUDGET") == 0)
        return a->budget.enabled == b->budget.enabled;
    if (strcmp(name, "HIRETRY_BUDGET_RATIO") == 0)
        return a->budget.ratio_milli == b->budget.ratio_milli;
    if (strcmp(name, "HIRETRY_BUDGET_CAPACITY") == 0)
        return a->budget.capacity == b->budget.capacity;
    if (strcmp(name, "HIRETRY_BUDGET_FLOOR") == 0)
        return a->budget.floor_per_sec == b->budget.floor_per_sec;
    if (strcmp(name, "HIRETRY_BREAKER_FAILURES") == 0)
        return a->breaker.failures == b->breaker.failures;
    if (strcmp(name, "HIRETRY_BREAKER_COOLDOWN") == 0)
        return a->breaker.cooldown_ns == b->breaker.cooldown_ns;
    *known = false;
    return false;
}

/* Returns true when a log or stats field that variable name sets is equal
 * in a and b. Stores false in *known for any other name. */
static bool hr_output_field_equal(const char *name, const hr_config *a,
                                  const hr_config *b, bool *known)
{
    *known = true;
    if (strcmp(name, "HIRETRY_LOG_FILE") == 0)
        return strcmp(a->log_file, b->log_file) == 0;
    if (strcmp(name, "HIRETRY_STATS_FILE") == 0)
        return strcmp(a->stats_file, b->stats_file) == 0;
    if (strcmp(name, "HIRETRY_STATS_INTERVAL") == 0)
        return a->stats_interval_ns == b->stats_interval_ns;
    *known = false;
    return false;
}

/* Returns true when the field that variable name sets is equal in a, b. */
static bool hr_field_equal(const char *name, const hr_config *a,
                           const hr_config *b)
{
    const hr_policy *p = &a->policy;
    const hr_policy *q = &b->policy;

    if (strcmp(name, "HIRETRY_RETRIES") == 0)
        return p->retries == q->retries;
    if (strcmp(name, "HIRETRY_BACKOFF") == 0)
        return p->backoff.kind == q->backoff.kind;
    if (strcmp(name, "HIRETRY_BACKOFF_BASE") == 0)
        return p->backoff.base_us == q->backoff.base_us;
    if (strcmp(name, "HIRETRY_BACKOFF_CAP") == 0)
        return p->backoff.cap_us == q->backoff.cap_us;
    if (strcmp(name, "HIRETRY_RETRY_ON") == 0)
        return p->retry_on == q->retry_on;
    if (strcmp(name, "HIRETRY_WRITES") == 0)
        return p->writes == q->writes;
    if (strcmp(name, "HIRETRY_DEADLINE") == 0)
        return p->deadline_ns == q->deadline_ns;
    if (strcmp(name, "HIRETRY_PIPELINE_MAX") == 0)
        return a->pipeline_max == b->pipeline_max;
    if (strcmp(name, "HIRETRY_LOG") == 0)
        return a->log_level == b->log_level;
    if (strcmp(name, "HIRETRY_DISABLE") == 0)
        return a->disable == b->disable;
    if (strcmp(name, "HIRETRY_IDLE_CHECK") == 0)
        return a->idle_check_ns == b->idle_check_ns;

    bool known;
    bool equal =
        hr_sentinel_field_equal(name, &a->sentinel, &b->sentinel, &known);
    if (known)
        return equal;
    equal = hr_budget_field_equal(name, a, b, &known);
    if (known)
        return equal;
    equal = hr_output_field_equal(name, a, b, &known);
    if (known)
        return equal;

    /* A new variable needs a row here before the fuzzer can check it. */
    HR_FUZZ_CHECK(false, "no field known for %s", name);
    return false;
}

/* Checks that a valid duration reads back the same from a canonical form. */
static void hr_check_duration(const char *text)
{
    char canonical[64];
    int64_t ns;
    int64_t again;

    if (hr_parse_duration(text, &ns) != 0)
        return;
    HR_FUZZ_CHECK(ns >= 0, "%s gave %" PRId64, text, ns);

    snprintf(canonical, sizeof(canonical), "%" PRId64 ".%09" PRId64 "s",
             ns / HR_NS_PER_S, ns % HR_NS_PER_S);
    HR_FUZZ_CHECK(hr_parse_duration(canonical, &again) == 0, "%s", canonical);
    HR_FUZZ_CHECK(again == ns, "%s gave %" PRId64 ", %s gave %" PRId64, text,
                  ns, canonical, again);
}

/* Checks that a valid size reads back the same as a bare byte count. */
static void hr_check_size(const char *text)
{
    char canonical[32];
    uint64_t bytes;
    uint64_t again;

    if (hr_parse_size(text, &bytes) != 0)
        return;
    snprintf(canonical, sizeof(canonical), "%" PRIu64, bytes);
    HR_FUZZ_CHECK(hr_parse_size(canonical, &again) == 0, "%s", canonical);
    HR_FUZZ_CHECK(again == bytes, "%s gave %" PRIu64 ", %s gave %" PRIu64, text,
                  bytes, canonical, again);
}

/*
 * Splits the input copy at NUL bytes into the variables' values. Each value
 * gets its own allocation, so that AddressSanitizer reports a read past its
 * NUL instead of letting it run into the next value.
 */
static void hr_split_values(char *copy, size_t size)
{
    size_t start = 0;
    size_t var = 0;

    memset(hr_values, 0, sizeof(hr_values));
    for (size_t i = 0; i <= size && var < hr_var_count; i++) {
        if (i < size && copy[i] != '\0')
            continue;
        copy[i] = '\0';
        if (strcmp(copy + start, "\x01") != 0)
            hr_values[var] = strdup(copy + start);
        var++;
        start = i + 1;
    }
}

static void hr_check_load(void)
{
    hr_config config;
    hr_config defaults;
    hr_config_source sources[HR_VARS_MAX];
    int invalid;
    int counted = 0;

    memset(hr_getenv_calls, 0, sizeof(hr_getenv_calls));
    memset(hr_messages, 0, sizeof(hr_messages));
    hr_config_defaults(&defaults);
    invalid =
        hr_config_load(&config, hr_fake_getenv, hr_fake_report, NULL, sources);
    hr_check_ranges(&config);

    for (size_t i = 0; i < hr_var_count; i++) {
        const char *name = hr_vars[i].name;

        HR_FUZZ_CHECK(hr_getenv_calls[i] == 1, "%s read %d times", name,
                      hr_getenv_calls[i]);
        HR_FUZZ_CHECK(hr_messages[i] == (sources[i] == HR_SOURCE_INVALID),
                      "%s: %d messages, source %d", name, hr_messages[i],
                      (int)sources[i]);
        HR_FUZZ_CHECK((hr_values[i] == NULL) ==
                          (sources[i] == HR_SOURCE_DEFAULT),
                      "%s: source %d", name, (int)sources[i]);
        if (sources[i] != HR_SOURCE_ENV) {
            HR_FUZZ_CHECK(hr_field_equal(name, &config, &defaults),
                          "%s is not its default", name);
        }
        counted += hr_messages[i];
    }
    HR_FUZZ_CHECK(invalid == counted, "returned %d, %d messages", invalid,
                  counted);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);

    if (copy == NULL)
        return 0;
    hr_vars = hr_config_vars(&hr_var_count);
    HR_FUZZ_CHECK(hr_var_count <= HR_VARS_MAX, "%zu variables", hr_var_count);
    memcpy(copy, data, size);
    hr_split_values(copy, size);

    hr_check_load();
    for (size_t i = 0; i < hr_var_count; i++) {
        if (hr_values[i] != NULL) {
            hr_check_duration(hr_values[i]);
            hr_check_size(hr_values[i]);
        }
    }

    for (size_t i = 0; i < hr_var_count; i++)
        free((char *)hr_values[i]);
    free(copy);
    return 0;
}

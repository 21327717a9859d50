/*
 * Tests of the HIRETRY_* configuration. hr_config_load reads the environment
 * through a fake getenv over a small table that each test fills. The report
 * callback stores every message. Each test can then check the loaded
 * settings, the sources, the number of reads and the exact messages.
 *
 * The value tables run one variable at a time: a good value must load with
 * no message, and a bad one with exactly one message and the default kept.
 * Failures print a label with the variable and its value, escaped and cut.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiretry/backoff.h"
#include "hiretry/config.h"
#include "hiretry/errors.h"
#include "hr_test.h"

#define ARRAY_LEN(array) (sizeof(array) / sizeof((array)[0]))

#define VAR_COUNT 26
#define FAKE_ENV_MAX 32
#define READS_MAX 64
#define MESSAGES_MAX 32
#define MESSAGE_SIZE 2048
#define LABEL_SIZE 160
#define LONG_VALUE_SIZE 10240

#define KIB UINT64_C(1024)
#define MIB (KIB * KIB)
#define GIB (MIB * KIB)

#define DEFAULT_RETRY_ON_TEXT                                                  \
    "ConnectionError,TimeoutError,TryAgainError,ClusterDownError,"             \
    "ReadOnlyError,-AuthenticationError,-AuthorizationError"

/*
 * Asserts actual == expected for one row of a table: both sides are printed
 * after the row's label, so a failure names the row.
 */
#define ASSERT_ROW_INT_EQ(label, actual, expected)                             \
    do {                                                                       \
        char actual_text_[LABEL_SIZE + 96];                                    \
        char expected_text_[LABEL_SIZE + 96];                                  \
        snprintf(actual_text_, sizeof(actual_text_), "%s: %s = %lld", label,   \
                 #actual, (long long)(actual));                                \
        snprintf(expected_text_, sizeof(expected_text_), "%s: %s = %lld",      \
                 label, #actual, (long long)(expected));                       \
        HR_ASSERT_STR_EQ(actual_text_, expected_text_);                        \
    } while (0)

/* The same for unsigned 64-bit values. */
#define ASSERT_ROW_UINT_EQ(label, actual, expected)                            \
    do {                                                                       \
        char actual_text_[LABEL_SIZE + 96];                                    \
        char expected_text_[LABEL_SIZE + 96];                                  \
        snprintf(actual_text_, sizeof(actual_text_), "%s: %s = %llu", label,   \
                 #actual, (unsigned long long)(actual));                       \
        snprintf(expected_text_, sizeof(expected_text_), "%s: %s = %llu",      \
                 label, #actual, (unsigned long long)(expected));              \
        HR_ASSERT_STR_EQ(actual_text_, expected_text_);                        \
    } while (0)

typedef struct fake_variable {
    const char *name;
    const char *value;
} fake_variable;

/* One variable's value and the setting it must load as. */
typedef struct setting_case {
    const char *name;
    const char *value;
    int64_t expected;
} setting_case;

typedef struct value_case {
    const char *text;
    int64_t expected;
} value_case;

static fake_variable fake_env[FAKE_ENV_MAX];
static size_t fake_env_count;
static const char *reads[READS_MAX];
static size_t read_count;

static char messages[MESSAGES_MAX][MESSAGE_SIZE];
static int message_count;

static void env_clear(void)
{
    fake_env_count = 0;
    read_count = 0;
    message_count = 0;
}

static void env_set(const char *name, const char *value)
{
    if (fake_env_count < FAKE_ENV_MAX) {
        fake_env[fake_env_count].name = name;
        fake_env[fake_env_count].value = value;
        fake_env_count++;
    }
}

static const char *fake_getenv(const char *name)
{
    size_t i;

    if (read_count < READS_MAX)
        reads[read_count] = name;
    read_count++;

    for (i = 0; i < fake_env_count; i++) {
        if (strcmp(fake_env[i].name, name) == 0)
            return fake_env[i].value;
    }
    return NULL;
}

static void collect_message(void *arg, const char *message)
{
    int *calls = arg;

    (*calls)++;
    if (message_count < MESSAGES_MAX) {
        snprintf(messages[message_count], MESSAGE_SIZE, "%s", message);
    }
    message_count++;
}

static int load(hr_config *config, hr_config_source *sources)
{
    int calls = 0;
    int invalid;

    invalid =
        hr_config_load(config, fake_getenv, collect_message, &calls, sources);
    HR_ASSERT_INT_EQ(calls, message_count);
    return invalid;
}

/* Writes name="value" into label, escaped and cut to stay readable. */
static void make_label(char *label, const char *name, const char *value)
{
    size_t n = (size_t)snprintf(label, LABEL_SIZE, "%s=\"", name);
    size_t i;

    for (i = 0; value[i] != '\0' && n + 8 < LABEL_SIZE; i++) {
        unsigned char c = (unsigned char)value[i];

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            label[n++] = (char)c;
        else
            n += (size_t)snprintf(label + n, LABEL_SIZE - n, "\\x%02x", c);
    }
    snprintf(label + n, LABEL_SIZE - n, value[i] != '\0' ? "\"..." : "\"");
}

static size_t var_index(const char *name)
{
    size_t count;
    const hr_config_var *vars = hr_config_vars(&count);
    size_t i;

    for (i = 0; i < count; i++) {
        if (strcmp(vars[i].name, name) == 0)
            return i;
    }
    return count;
}

/* Returns the setting that variable name controls, widened to int64_t. */
static int64_t read_setting(const hr_config *config, const char *name)
{
    if (strcmp(name, "HIRETRY_RETRIES") == 0)
        return config->policy.retries;
    if (strcmp(name, "HIRETRY_BACKOFF") == 0)
        return config->policy.backoff.kind;
    if (strcmp(name, "HIRETRY_BACKOFF_BASE") == 0)
        return (int64_t)config->policy.backoff.base_us;
    if (strcmp(name, "HIRETRY_BACKOFF_CAP") == 0)
        return (int64_t)config->policy.backoff.cap_us;
    if (strcmp(name, "HIRETRY_RETRY_ON") == 0)
        return (int64_t)config->policy.retry_on;
    if (strcmp(name, "HIRETRY_WRITES") == 0)
        return config->policy.writes;
    if (strcmp(name, "HIRETRY_DEADLINE") == 0)
        return config->policy.deadline_ns;
    if (strcmp(name, "HIRETRY_PIPELINE_MAX") == 0)
        return (int64_t)config->pipeline_max;
    if (strcmp(name, "HIRETRY_LOG") == 0)
        return config->log_level;
    if (strcmp(name, "HIRETRY_DISABLE") == 0)
        return config->disable;
    if (strcmp(name, "HIRETRY_IDLE_CHECK") == 0)
        return config->idle_check_ns;
    if (strcmp(name, "HIRETRY_BUDGET") == 0)
        return config->budget.enabled;
    if (strcmp(name, "HIRETRY_BUDGET_RATIO") == 0)
        return config->budget.ratio_milli;
    if (strcmp(name, "HIRETRY_BUDGET_CAPACITY") == 0)
        return config->budget.capacity;
    if (strcmp(name, "HIRETRY_BUDGET_FLOOR") == 0)
        return config->budget.floor_per_sec;
    if (strcmp(name, "HIRETRY_BREAKER_FAILURES") == 0)
        return config->breaker.failures;
    if (strcmp(name, "HIRETRY_BREAKER_COOLDOWN") == 0)
        return config->breaker.cooldown_ns;
    /* The paths are compared by length here, and as text in their own
       tests. */
    if (strcmp(name, "HIRETRY_LOG_FILE") == 0)
        return (int64_t)strlen(config->log_file);
    if (strcmp(name, "HIRETRY_STATS_FILE") == 0)
        return (int64_t)strlen(config->stats_file);
    if (strcmp(name, "HIRETRY_STATS_INTERVAL") == 0)
        return config->stats_interval_ns;
    return INT64_MIN;
}

static hr_class_set expected_default_retry_on(void)
{
    hr_class_set set = 0;

    set = hr_class_set_add(set, HR_CLASS_CONNECTION_ERROR);
    set = hr_class_set_add(set, HR_CLASS_TIMEOUT_ERROR);
    set = hr_class_set_add(set, HR_CLASS_TRY_AGAIN_ERROR);
    set = hr_class_set_add(set, HR_CLASS_CLUSTER_DOWN_ERROR);
    set = hr_class_set_add(set, HR_CLASS_READ_ONLY_ERROR);
    set = hr_class_set_remove(set, HR_CLASS_AUTHENTICATION_ERROR);
    set = hr_class_set_remove(set, HR_CLASS_AUTHORIZATION_ERROR);
    return set;
}

/* Loads HIRETRY_RETRY_ON=value alone, asserts that it is valid and returns
 * the set. */
static hr_class_set load_retry_on(const char *value)
{
    hr_config config;
    int invalid;

    env_clear();
    env_set("HIRETRY_RETRY_ON", value);
    invalid = load(&config, NULL);
    HR_ASSERT_INT_EQ(invalid, 0);
    HR_ASSERT_INT_EQ(message_count, 0);
    return config.policy.retry_on;
}

static void assert_defaults(const hr_config *config)
{
    HR_ASSERT_INT_EQ(config->policy.retries, 3);
    HR_ASSERT_INT_EQ(config->policy.backoff.kind, HR_BACKOFF_EQUAL_JITTER);
    HR_ASSERT_UINT_EQ(config->policy.backoff.base_us, 8000);
    HR_ASSERT_UINT_EQ(config->policy.backoff.cap_us, 512000);
    HR_ASSERT_UINT_EQ(config->policy.retry_on, expected_default_retry_on());
    HR_ASSERT_INT_EQ(config->policy.writes, HR_WRITES_SAFE);
    HR_ASSERT_INT_EQ(config->policy.deadline_ns, 0);
    HR_ASSERT_UINT_EQ(config->pipeline_max, MIB);
    HR_ASSERT_INT_EQ(config->log_level, HR_LOG_WARN);
    HR_ASSERT_INT_EQ(config->disable, false);
    HR_ASSERT_INT_EQ(config->idle_check_ns, 250000);
    HR_ASSERT_UINT_EQ(config->sentinel.sentinels.count, 0);
    HR_ASSERT_STR_EQ(config->sentinel.master, "");
    HR_ASSERT_STR_EQ(config->sentinel.username, "");
    HR_ASSERT_STR_EQ(config->sentinel.password, "");
    HR_ASSERT_INT_EQ(config->sentinel.redirect_all, true);
    HR_ASSERT_UINT_EQ(config->sentinel.redirect.count, 0);
    HR_ASSERT_INT_EQ(config->sentinel.timeout_ns, 250000000);
    HR_ASSERT_INT_EQ(config->budget.enabled, true);
    HR_ASSERT_INT_EQ(config->budget.ratio_milli, 100);
    HR_ASSERT_INT_EQ(config->budget.capacity, 5);
    HR_ASSERT_INT_EQ(config->budget.floor_per_sec, 2);
    HR_ASSERT_INT_EQ(config->breaker.failures, 0);
    HR_ASSERT_INT_EQ(config->breaker.cooldown_ns, INT64_C(1000000000));
    HR_ASSERT_STR_EQ(config->log_file, "");
    HR_ASSERT_STR_EQ(config->stats_file, "");
    HR_ASSERT_INT_EQ(config->stats_interval_ns, INT64_C(10000000000));
}

static void test_config_defaults_values(void)
{
    hr_config config;

    memset(&config, 0xa5, sizeof(config));
    hr_config_defaults(&config);
    assert_defaults(&config);
}

static void test_config_default_retry_on_members(void)
{
    hr_config config;
    hr_class_set set;

    hr_config_defaults(&config);
    set = config.policy.retry_on;

    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_CONNECTION_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_BUSY_LOADING_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_MAX_CONNECTIONS_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_TIMEOUT_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_TRY_AGAIN_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_CLUSTER_DOWN_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_MASTER_DOWN_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_READ_ONLY_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_AUTHENTICATION_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_AUTHORIZATION_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_RESPONSE_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_MOVED_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_CLUSTER_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_VALKEY_ERROR));
}

static void test_config_vars_table(void)
{
    static const char *const names[VAR_COUNT] = {
        "HIRETRY_RETRIES",
        "HIRETRY_BACKOFF",
        "HIRETRY_BACKOFF_BASE",
        "HIRETRY_BACKOFF_CAP",
        "HIRETRY_RETRY_ON",
        "HIRETRY_WRITES",
        "HIRETRY_DEADLINE",
        "HIRETRY_PIPELINE_MAX",
        "HIRETRY_LOG",
        "HIRETRY_DISABLE",
        "HIRETRY_IDLE_CHECK",
        "HIRETRY_SENTINELS",
        "HIRETRY_SENTINEL_MASTER",
        "HIRETRY_SENTINEL_USERNAME",
        "HIRETRY_SENTINEL_PASSWORD",
        "HIRETRY_SENTINEL_REDIRECT",
        "HIRETRY_SENTINEL_TIMEOUT",
        "HIRETRY_BUDGET",
        "HIRETRY_BUDGET_RATIO",
        "HIRETRY_BUDGET_CAPACITY",
        "HIRETRY_BUDGET_FLOOR",
        "HIRETRY_BREAKER_FAILURES",
        "HIRETRY_BREAKER_COOLDOWN",
        "HIRETRY_LOG_FILE",
        "HIRETRY_STATS_FILE",
        "HIRETRY_STATS_INTERVAL",
    };
    size_t count = 0;
    const hr_config_var *vars = hr_config_vars(&count);
    size_t i;

    HR_ASSERT_UINT_EQ(count, VAR_COUNT);
    for (i = 0; i < count && i < VAR_COUNT; i++) {
        size_t summary_len = strlen(vars[i].summary);

        HR_ASSERT_STR_EQ(vars[i].name, names[i]);
        HR_ASSERT_TRUE(vars[i].accepted[0] != '\0');
        /* Only the Sentinel texts and the paths default to empty: no
           Sentinel, no AUTH, no log file and no stats file. */
        HR_ASSERT_TRUE(vars[i].default_value[0] != '\0' ||
                       strncmp(names[i], "HIRETRY_SENTINEL", 16) == 0 ||
                       strcmp(names[i], "HIRETRY_LOG_FILE") == 0 ||
                       strcmp(names[i], "HIRETRY_STATS_FILE") == 0);
        HR_ASSERT_INT_EQ(vars[i].secret,
                         strcmp(names[i], "HIRETRY_SENTINEL_PASSWORD") == 0);
        HR_ASSERT_TRUE(summary_len > 0);
        HR_ASSERT_INT_EQ(vars[i].summary[summary_len - 1], '.');
    }
}

static void test_config_vars_default_texts(void)
{
    size_t count;
    const hr_config_var *vars = hr_config_vars(&count);

    HR_ASSERT_STR_EQ(vars[0].default_value, "3");
    HR_ASSERT_STR_EQ(vars[1].default_value, "equal_jitter");
    HR_ASSERT_STR_EQ(vars[2].default_value, "8ms");
    HR_ASSERT_STR_EQ(vars[3].default_value, "512ms");
    HR_ASSERT_STR_EQ(vars[4].default_value, DEFAULT_RETRY_ON_TEXT);
    HR_ASSERT_STR_EQ(vars[5].default_value, "safe");
    HR_ASSERT_STR_EQ(vars[6].default_value, "0");
    HR_ASSERT_STR_EQ(vars[7].default_value, "1MiB");
    HR_ASSERT_STR_EQ(vars[8].default_value, "warn");
    HR_ASSERT_STR_EQ(vars[9].default_value, "false");
    HR_ASSERT_STR_EQ(vars[10].default_value, "250us");
    HR_ASSERT_STR_EQ(vars[11].default_value, "");
    HR_ASSERT_STR_EQ(vars[12].default_value, "");
    HR_ASSERT_STR_EQ(vars[13].default_value, "");
    HR_ASSERT_STR_EQ(vars[14].default_value, "");
    HR_ASSERT_STR_EQ(vars[15].default_value, "all");
    HR_ASSERT_STR_EQ(vars[16].default_value, "250ms");
    HR_ASSERT_STR_EQ(vars[17].default_value, "on");
    HR_ASSERT_STR_EQ(vars[18].default_value, "0.1");
    HR_ASSERT_STR_EQ(vars[19].default_value, "5");
    HR_ASSERT_STR_EQ(vars[20].default_value, "2");
    HR_ASSERT_STR_EQ(vars[21].default_value, "0");
    HR_ASSERT_STR_EQ(vars[22].default_value, "1s");
}

/* Each documented default, set as the variable's value, loads as valid. */
static void test_config_default_texts_load(void)
{
    size_t count;
    const hr_config_var *vars = hr_config_vars(&count);
    hr_config_source sources[VAR_COUNT];
    hr_config config;
    size_t i;

    env_clear();
    for (i = 0; i < count && i < VAR_COUNT; i++)
        env_set(vars[i].name, vars[i].default_value);

    HR_ASSERT_INT_EQ(load(&config, sources), 0);
    HR_ASSERT_INT_EQ(message_count, 0);
    for (i = 0; i < VAR_COUNT; i++)
        HR_ASSERT_INT_EQ(sources[i], HR_SOURCE_ENV);
    assert_defaults(&config);
}

static void test_config_load_unset_uses_defaults(void)
{
    hr_config_source sources[VAR_COUNT];
    hr_config config;
    size_t i;

    memset(&config, 0xa5, sizeof(config));
    memset(sources, 0xa5, sizeof(sources));
    env_clear();

    HR_ASSERT_INT_EQ(load(&config, sources), 0);
    HR_ASSERT_INT_EQ(message_count, 0);
    for (i = 0; i < VAR_COUNT; i++)
        HR_ASSERT_INT_EQ(sources[i], HR_SOURCE_DEFAULT);
    assert_defaults(&config);
}

static void test_config_load_reads_each_variable_once(void)
{
    size_t count;
    const hr_config_var *vars = hr_config_vars(&count);
    hr_config config;
    size_t i;

    env_clear();
    env_set("HIRETRY_RETRIES", "abc");
    env_set("HIRETRY_RETRY_ON", "+MasterDownError");
    load(&config, NULL);

    HR_ASSERT_UINT_EQ(read_count, count);
    for (i = 0; i < count && i < read_count; i++)
        HR_ASSERT_STR_EQ(reads[i], vars[i].name);
}

static const setting_case good_cases[] = {
    {"HIRETRY_RETRIES", "0", 0},
    {"HIRETRY_RETRIES", "3", 3},
    {"HIRETRY_RETRIES", "-1", -1},
    {"HIRETRY_RETRIES", "-0", 0},
    {"HIRETRY_RETRIES", "007", 7},
    {"HIRETRY_RETRIES", "1000000", 1000000},
    {"HIRETRY_BACKOFF", "none", HR_BACKOFF_NONE},
    {"HIRETRY_BACKOFF", "constant", HR_BACKOFF_CONSTANT},
    {"HIRETRY_BACKOFF", "exponential", HR_BACKOFF_EXPONENTIAL},
    {"HIRETRY_BACKOFF", "full_jitter", HR_BACKOFF_FULL_JITTER},
    {"HIRETRY_BACKOFF", "equal_jitter", HR_BACKOFF_EQUAL_JITTER},
    {"HIRETRY_BACKOFF", "decorrelated_jitter", HR_BACKOFF_DECORRELATED_JITTER},
    {"HIRETRY_BACKOFF", "EXPONENTIAL", HR_BACKOFF_EXPONENTIAL},
    {"HIRETRY_BACKOFF", "Full_Jitter", HR_BACKOFF_FULL_JITTER},
    {"HIRETRY_BACKOFF_BASE", "0", 0},
    {"HIRETRY_BACKOFF_BASE", "0ms", 0},
    {"HIRETRY_BACKOFF_BASE", "0.0s", 0},
    {"HIRETRY_BACKOFF_BASE", "800us", 800},
    {"HIRETRY_BACKOFF_BASE", "8ms", 8000},
    {"HIRETRY_BACKOFF_BASE", "0.25ms", 250},
    {"HIRETRY_BACKOFF_BASE", "1.5s", 1500000},
    {"HIRETRY_BACKOFF_BASE", "0.000001s", 1},
    {"HIRETRY_BACKOFF_BASE", "1.000000000000s", 1000000},
    {"HIRETRY_BACKOFF_BASE", "0008ms", 8000},
    {"HIRETRY_BACKOFF_BASE", "3600s", INT64_C(3600000000)},
    {"HIRETRY_BACKOFF_BASE", "3600000ms", INT64_C(3600000000)},
    {"HIRETRY_BACKOFF_CAP", "0", 0},
    {"HIRETRY_BACKOFF_CAP", "1us", 1},
    {"HIRETRY_BACKOFF_CAP", "512ms", 512000},
    {"HIRETRY_BACKOFF_CAP", "2s", 2000000},
    {"HIRETRY_BACKOFF_CAP", "3600s", INT64_C(3600000000)},
    {"HIRETRY_WRITES", "safe", HR_WRITES_SAFE},
    {"HIRETRY_WRITES", "all", HR_WRITES_ALL},
    {"HIRETRY_WRITES", "none", HR_WRITES_NONE},
    {"HIRETRY_WRITES", "ALL", HR_WRITES_ALL},
    {"HIRETRY_WRITES", "None", HR_WRITES_NONE},
    {"HIRETRY_DEADLINE", "0", 0},
    {"HIRETRY_DEADLINE", "0s", 0},
    {"HIRETRY_DEADLINE", "250ms", 250000000},
    {"HIRETRY_DEADLINE", "1.5us", 1500},
    {"HIRETRY_DEADLINE", "0.000000001s", 1},
    {"HIRETRY_DEADLINE", "1.234567891s", 1234567891},
    {"HIRETRY_DEADLINE", "86400s", INT64_C(86400000000000)},
    {"HIRETRY_IDLE_CHECK", "0", 0},
    {"HIRETRY_IDLE_CHECK", "250us", 250000},
    {"HIRETRY_IDLE_CHECK", "30s", INT64_C(30000000000)},
    {"HIRETRY_IDLE_CHECK", "3600s", INT64_C(3600000000000)},
    {"HIRETRY_BUDGET", "off", false},
    {"HIRETRY_BUDGET", "ON", true},
    {"HIRETRY_BUDGET", "0", false},
    {"HIRETRY_BUDGET_RATIO", "0", 0},
    {"HIRETRY_BUDGET_RATIO", "0.1", 100},
    {"HIRETRY_BUDGET_RATIO", "0.25", 250},
    {"HIRETRY_BUDGET_RATIO", "0.001", 1},
    {"HIRETRY_BUDGET_RATIO", "1", 1000},
    {"HIRETRY_BUDGET_RATIO", "1.000", 1000},
    {"HIRETRY_BUDGET_CAPACITY", "1", 1},
    {"HIRETRY_BUDGET_CAPACITY", "1000000", 1000000},
    {"HIRETRY_BUDGET_FLOOR", "0", 0},
    {"HIRETRY_BUDGET_FLOOR", "1000000", 1000000},
    {"HIRETRY_BREAKER_FAILURES", "0", 0},
    {"HIRETRY_BREAKER_FAILURES", "5", 5},
    {"HIRETRY_BREAKER_COOLDOWN", "1ms", 1000000},
    {"HIRETRY_BREAKER_COOLDOWN", "2.5s", INT64_C(2500000000)},
    {"HIRETRY_BREAKER_COOLDOWN", "3600s", INT64_C(3600000000000)},
    {"HIRETRY_PIPELINE_MAX", "0", 0},
    {"HIRETRY_PIPELINE_MAX", "0B", 0},
    {"HIRETRY_PIPELINE_MAX", "0KiB", 0},
    {"HIRETRY_PIPELINE_MAX", "0GiB", 0},
    {"HIRETRY_PIPELINE_MAX", "1", 1},
    {"HIRETRY_PIPELINE_MAX", "1B", 1},
    {"HIRETRY_PIPELINE_MAX", "65536", 65536},
    {"HIRETRY_PIPELINE_MAX", "512B", 512},
    {"HIRETRY_PIPELINE_MAX", "1KiB", 1024},
    {"HIRETRY_PIPELINE_MAX", "64KiB", 65536},
    {"HIRETRY_PIPELINE_MAX", "1MiB", 1048576},
    {"HIRETRY_PIPELINE_MAX", "3MiB", 3145728},
    {"HIRETRY_PIPELINE_MAX", "1GiB", 1073741824},
    {"HIRETRY_PIPELINE_MAX", "0001MiB", 1048576},
    {"HIRETRY_PIPELINE_MAX", "1073741824", 1073741824},
    {"HIRETRY_PIPELINE_MAX", "1073741824B", 1073741824},
    {"HIRETRY_PIPELINE_MAX", "1048576KiB", 1073741824},
    {"HIRETRY_PIPELINE_MAX", "1024MiB", 1073741824},
    {"HIRETRY_LOG", "off", HR_LOG_OFF},
    {"HIRETRY_LOG", "error", HR_LOG_ERROR},
    {"HIRETRY_LOG", "warn", HR_LOG_WARN},
    {"HIRETRY_LOG", "info", HR_LOG_INFO},
    {"HIRETRY_LOG", "debug", HR_LOG_DEBUG},
    {"HIRETRY_LOG", "DEBUG", HR_LOG_DEBUG},
    {"HIRETRY_LOG", "Warn", HR_LOG_WARN},
    {"HIRETRY_DISABLE", "1", true},
    {"HIRETRY_DISABLE", "0", false},
    {"HIRETRY_DISABLE", "true", true},
    {"HIRETRY_DISABLE", "FALSE", false},
    {"HIRETRY_DISABLE", "Yes", true},
    {"HIRETRY_DISABLE", "no", false},
    {"HIRETRY_DISABLE", "ON", true},
    {"HIRETRY_DISABLE", "off", false},
    {"HIRETRY_DISABLE", "", false},
    {"HIRETRY_LOG_FILE", "", 0},
    {"HIRETRY_LOG_FILE", "syslog", 6},
    {"HIRETRY_LOG_FILE", "syslog:/run/log", 15},
    {"HIRETRY_LOG_FILE", "/var/log/app-%p.log", 19},
    {"HIRETRY_STATS_FILE", "", 0},
    {"HIRETRY_STATS_FILE", "/run/hiretry/app.prom", 21},
    {"HIRETRY_STATS_INTERVAL", "0", 0},
    {"HIRETRY_STATS_INTERVAL", "100ms", 100000000},
    {"HIRETRY_STATS_INTERVAL", "250ms", 250000000},
    {"HIRETRY_STATS_INTERVAL", "3600s", INT64_C(3600000000000)},
};

/* Loads name=value alone and checks that it is valid and sets expected. */
static void check_good_value(const char *name, const char *value,
                             int64_t expected)
{
    hr_config_source sources[VAR_COUNT];
    char label[LABEL_SIZE];
    hr_config config;
    size_t index = var_index(name);
    int invalid;

    make_label(label, name, value);
    env_clear();
    env_set(name, value);
    invalid = load(&config, sources);

    ASSERT_ROW_INT_EQ(label, invalid, 0);
    ASSERT_ROW_INT_EQ(label, message_count, 0);
    ASSERT_ROW_INT_EQ(label, index < VAR_COUNT, 1);
    if (index < VAR_COUNT)
        ASSERT_ROW_INT_EQ(label, sources[index], HR_SOURCE_ENV);
    ASSERT_ROW_INT_EQ(label, read_setting(&config, name), expected);
}

static void test_config_good_values(void)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(good_cases); i++) {
        check_good_value(good_cases[i].name, good_cases[i].value,
                         good_cases[i].expected);
    }
}

static const fake_variable bad_cases[] = {
    {"HIRETRY_LOG_FILE", "/tmp/a\nb"},
    {"HIRETRY_LOG_FILE", "/tmp/\x7f"},
    {"HIRETRY_STATS_FILE", "syslog"},
    {"HIRETRY_STATS_FILE", "/tmp/a\tb"},
    {"HIRETRY_STATS_INTERVAL", ""},
    {"HIRETRY_STATS_INTERVAL", "10"},
    {"HIRETRY_STATS_INTERVAL", "3601s"},
    {"HIRETRY_STATS_INTERVAL", "99ms"},
    {"HIRETRY_STATS_INTERVAL", "1us"},
    {"HIRETRY_STATS_INTERVAL", "-1s"},
    {"HIRETRY_RETRIES", ""},
    {"HIRETRY_RETRIES", " 3"},
    {"HIRETRY_RETRIES", "3 "},
    {"HIRETRY_RETRIES", "\t3"},
    {"HIRETRY_RETRIES", "3\n"},
    {"HIRETRY_RETRIES", "abc"},
    {"HIRETRY_RETRIES", "3abc"},
    {"HIRETRY_RETRIES", "-2"},
    {"HIRETRY_RETRIES", "-100"},
    {"HIRETRY_RETRIES", "1000001"},
    {"HIRETRY_RETRIES", "2147483648"},
    {"HIRETRY_RETRIES", "99999999999999999999"},
    {"HIRETRY_RETRIES", "-99999999999999999999"},
    {"HIRETRY_RETRIES", "3.5"},
    {"HIRETRY_RETRIES", "+3"},
    {"HIRETRY_RETRIES", "0x10"},
    {"HIRETRY_RETRIES", "1e3"},
    {"HIRETRY_RETRIES", "--1"},
    {"HIRETRY_RETRIES", "-"},
    {"HIRETRY_RETRIES", "\xff"},
    {"HIRETRY_RETRIES", "3\xff"},
    {"HIRETRY_BACKOFF", ""},
    {"HIRETRY_BACKOFF", "linear"},
    {"HIRETRY_BACKOFF", "equal-jitter"},
    {"HIRETRY_BACKOFF", "equaljitter"},
    {"HIRETRY_BACKOFF", " none"},
    {"HIRETRY_BACKOFF", "none "},
    {"HIRETRY_BACKOFF", "exponential\xff"},
    {"HIRETRY_BACKOFF", "\xc3\xa9"},
    {"HIRETRY_BACKOFF", "decorrelated_jitter_decorrelated_jitter"},
    {"HIRETRY_BACKOFF_BASE", ""},
    {"HIRETRY_BACKOFF_BASE", "10"},
    {"HIRETRY_BACKOFF_BASE", "00"},
    {"HIRETRY_BACKOFF_BASE", "0.0"},
    {"HIRETRY_BACKOFF_BASE", "10 ms"},
    {"HIRETRY_BACKOFF_BASE", " 10ms"},
    {"HIRETRY_BACKOFF_BASE", "10ms "},
    {"HIRETRY_BACKOFF_BASE", "10MS"},
    {"HIRETRY_BACKOFF_BASE", "10Ms"},
    {"HIRETRY_BACKOFF_BASE", "10mS"},
    {"HIRETRY_BACKOFF_BASE", "1.5.2s"},
    {"HIRETRY_BACKOFF_BASE", "-5ms"},
    {"HIRETRY_BACKOFF_BASE", "+5ms"},
    {"HIRETRY_BACKOFF_BASE", ".5s"},
    {"HIRETRY_BACKOFF_BASE", "1.s"},
    {"HIRETRY_BACKOFF_BASE", "1.5"},
    {"HIRETRY_BACKOFF_BASE", "5m"},
    {"HIRETRY_BACKOFF_BASE", "5h"},
    {"HIRETRY_BACKOFF_BASE", "5ns"},
    {"HIRETRY_BACKOFF_BASE", "5sec"},
    {"HIRETRY_BACKOFF_BASE", "ms"},
    {"HIRETRY_BACKOFF_BASE", "s"},
    {"HIRETRY_BACKOFF_BASE", "1e3ms"},
    {"HIRETRY_BACKOFF_BASE", "1,5s"},
    {"HIRETRY_BACKOFF_BASE", "0x10ms"},
    {"HIRETRY_BACKOFF_BASE", "10ms10ms"},
    {"HIRETRY_BACKOFF_BASE", "1\xc2\xb5s"},
    {"HIRETRY_BACKOFF_BASE", "1.5us"},
    {"HIRETRY_BACKOFF_BASE", "0.0005ms"},
    {"HIRETRY_BACKOFF_BASE", "0.0000000001s"},
    {"HIRETRY_BACKOFF_BASE", "3600.000001s"},
    {"HIRETRY_BACKOFF_BASE", "3601s"},
    {"HIRETRY_BACKOFF_BASE", "3600001ms"},
    {"HIRETRY_BACKOFF_BASE", "99999999999999999999s"},
    {"HIRETRY_BACKOFF_CAP", ""},
    {"HIRETRY_BACKOFF_CAP", "512"},
    {"HIRETRY_BACKOFF_CAP", "1h"},
    {"HIRETRY_BACKOFF_CAP", "3601s"},
    {"HIRETRY_BACKOFF_CAP", "-1ms"},
    {"HIRETRY_BACKOFF_CAP", "1.5us"},
    {"HIRETRY_RETRY_ON", ""},
    {"HIRETRY_RETRY_ON", " "},
    {"HIRETRY_RETRY_ON", ","},
    {"HIRETRY_RETRY_ON", ",,"},
    {"HIRETRY_RETRY_ON", " , "},
    {"HIRETRY_RETRY_ON", "ConnectionError,,TimeoutError"},
    {"HIRETRY_RETRY_ON", "ConnectionError,"},
    {"HIRETRY_RETRY_ON", ",ConnectionError"},
    {"HIRETRY_RETRY_ON", "connectionerror"},
    {"HIRETRY_RETRY_ON", "CONNECTIONERROR"},
    {"HIRETRY_RETRY_ON", "NoSuchError"},
    {"HIRETRY_RETRY_ON", "ConnectionError,NoSuchError"},
    {"HIRETRY_RETRY_ON", "+"},
    {"HIRETRY_RETRY_ON", "-"},
    {"HIRETRY_RETRY_ON", "+NoSuchError"},
    {"HIRETRY_RETRY_ON", "-NoSuchError"},
    {"HIRETRY_RETRY_ON", "ConnectionError;TimeoutError"},
    {"HIRETRY_RETRY_ON", "ConnectionError TimeoutError"},
    {"HIRETRY_RETRY_ON", "Connection Error"},
    {"HIRETRY_RETRY_ON", "- ReadOnlyError"},
    {"HIRETRY_RETRY_ON", "+-ReadOnlyError"},
    {"HIRETRY_RETRY_ON", "--ReadOnlyError"},
    {"HIRETRY_RETRY_ON", "TimeoutError\xff"},
    {"HIRETRY_RETRY_ON", "valkey.exceptions.TimeoutError"},
    {"HIRETRY_WRITES", ""},
    {"HIRETRY_WRITES", "some"},
    {"HIRETRY_WRITES", "safe "},
    {"HIRETRY_WRITES", " safe"},
    {"HIRETRY_WRITES", "1"},
    {"HIRETRY_WRITES", "read"},
    {"HIRETRY_DEADLINE", ""},
    {"HIRETRY_DEADLINE", "10"},
    {"HIRETRY_DEADLINE", "-1s"},
    {"HIRETRY_DEADLINE", "1.5 s"},
    {"HIRETRY_DEADLINE", "1d"},
    {"HIRETRY_DEADLINE", "86400.000000001s"},
    {"HIRETRY_DEADLINE", "86401s"},
    {"HIRETRY_DEADLINE", "0.0000000001s"},
    {"HIRETRY_DEADLINE", "9223372036854775808us"},
    {"HIRETRY_DEADLINE", "9223372036.854775808s"},
    {"HIRETRY_IDLE_CHECK", ""},
    {"HIRETRY_IDLE_CHECK", "250"},
    {"HIRETRY_IDLE_CHECK", "-1ms"},
    {"HIRETRY_IDLE_CHECK", "3601s"},
    {"HIRETRY_IDLE_CHECK", "off"},
    {"HIRETRY_BUDGET", ""},
    {"HIRETRY_BUDGET", "maybe"},
    {"HIRETRY_BUDGET_RATIO", ""},
    {"HIRETRY_BUDGET_RATIO", "1.001"},
    {"HIRETRY_BUDGET_RATIO", "0.0001"},
    {"HIRETRY_BUDGET_RATIO", ".5"},
    {"HIRETRY_BUDGET_RATIO", "0."},
    {"HIRETRY_BUDGET_RATIO", "-0.1"},
    {"HIRETRY_BUDGET_RATIO", "10%"},
    {"HIRETRY_BUDGET_RATIO", "0.1 "},
    {"HIRETRY_BUDGET_RATIO", "9999999999"},
    {"HIRETRY_BUDGET_CAPACITY", "0"},
    {"HIRETRY_BUDGET_CAPACITY", "1000001"},
    {"HIRETRY_BUDGET_CAPACITY", "-1"},
    {"HIRETRY_BUDGET_FLOOR", "-1"},
    {"HIRETRY_BUDGET_FLOOR", "1000001"},
    {"HIRETRY_BUDGET_FLOOR", "2.5"},
    {"HIRETRY_BREAKER_FAILURES", "-1"},
    {"HIRETRY_BREAKER_FAILURES", "1000001"},
    {"HIRETRY_BREAKER_COOLDOWN", "0"},
    {"HIRETRY_BREAKER_COOLDOWN", "999us"},
    {"HIRETRY_BREAKER_COOLDOWN", "1"},
    {"HIRETRY_BREAKER_COOLDOWN", "3601s"},
    {"HIRETRY_PIPELINE_MAX", ""},
    {"HIRETRY_PIPELINE_MAX", "1073741825"},
    {"HIRETRY_PIPELINE_MAX", "1073741825B"},
    {"HIRETRY_PIPELINE_MAX", "1048577KiB"},
    {"HIRETRY_PIPELINE_MAX", "1025MiB"},
    {"HIRETRY_PIPELINE_MAX", "2GiB"},
    {"HIRETRY_PIPELINE_MAX", "18446744073709551615"},
    {"HIRETRY_PIPELINE_MAX", "18446744073709551616"},
    {"HIRETRY_PIPELINE_MAX", "17179869184GiB"},
    {"HIRETRY_PIPELINE_MAX", "99999999999GiB"},
    {"HIRETRY_PIPELINE_MAX", "99999999999999999999999999"},
    {"HIRETRY_PIPELINE_MAX", " 1MiB"},
    {"HIRETRY_PIPELINE_MAX", "1MiB "},
    {"HIRETRY_PIPELINE_MAX", "1 MiB"},
    {"HIRETRY_PIPELINE_MAX", "1MiB\n"},
    {"HIRETRY_PIPELINE_MAX", "+1MiB"},
    {"HIRETRY_PIPELINE_MAX", "-1MiB"},
    {"HIRETRY_PIPELINE_MAX", "-0"},
    {"HIRETRY_PIPELINE_MAX", "1.5MiB"},
    {"HIRETRY_PIPELINE_MAX", "1.0MiB"},
    {"HIRETRY_PIPELINE_MAX", "0.5"},
    {"HIRETRY_PIPELINE_MAX", "1e6"},
    {"HIRETRY_PIPELINE_MAX", "0x100000"},
    {"HIRETRY_PIPELINE_MAX", "1,024KiB"},
    {"HIRETRY_PIPELINE_MAX", "64KB"},
    {"HIRETRY_PIPELINE_MAX", "64kB"},
    {"HIRETRY_PIPELINE_MAX", "1MB"},
    {"HIRETRY_PIPELINE_MAX", "1GB"},
    {"HIRETRY_PIPELINE_MAX", "64k"},
    {"HIRETRY_PIPELINE_MAX", "64K"},
    {"HIRETRY_PIPELINE_MAX", "1M"},
    {"HIRETRY_PIPELINE_MAX", "1G"},
    {"HIRETRY_PIPELINE_MAX", "64kib"},
    {"HIRETRY_PIPELINE_MAX", "64KIB"},
    {"HIRETRY_PIPELINE_MAX", "64Kib"},
    {"HIRETRY_PIPELINE_MAX", "1mib"},
    {"HIRETRY_PIPELINE_MAX", "1gib"},
    {"HIRETRY_PIPELINE_MAX", "512b"},
    {"HIRETRY_PIPELINE_MAX", "0TiB"},
    {"HIRETRY_PIPELINE_MAX", "1KiBB"},
    {"HIRETRY_PIPELINE_MAX", "1Ki"},
    {"HIRETRY_PIPELINE_MAX", "1iB"},
    {"HIRETRY_PIPELINE_MAX", "1MiB1"},
    {"HIRETRY_PIPELINE_MAX", "1MiB1MiB"},
    {"HIRETRY_PIPELINE_MAX", "1bytes"},
    {"HIRETRY_PIPELINE_MAX", "KiB"},
    {"HIRETRY_PIPELINE_MAX", "MiB"},
    {"HIRETRY_PIPELINE_MAX", "B"},
    {"HIRETRY_PIPELINE_MAX", "abc"},
    {"HIRETRY_PIPELINE_MAX", "\xff"},
    {"HIRETRY_PIPELINE_MAX", "1\xffKiB"},
    {"HIRETRY_PIPELINE_MAX", "1KiB\xff"},
    {"HIRETRY_PIPELINE_MAX", "1K\xc3\xad"
                             "B"},
    {"HIRETRY_LOG", ""},
    {"HIRETRY_LOG", "warning"},
    {"HIRETRY_LOG", "verbose"},
    {"HIRETRY_LOG", "trace"},
    {"HIRETRY_LOG", "err"},
    {"HIRETRY_LOG", "3"},
    {"HIRETRY_LOG", "warn "},
    {"HIRETRY_DISABLE", "maybe"},
    {"HIRETRY_DISABLE", "2"},
    {"HIRETRY_DISABLE", "-1"},
    {"HIRETRY_DISABLE", "truee"},
    {"HIRETRY_DISABLE", " true"},
    {"HIRETRY_DISABLE", "true "},
    {"HIRETRY_DISABLE", "t"},
    {"HIRETRY_DISABLE", "y"},
    {"HIRETRY_DISABLE", "n"},
    {"HIRETRY_DISABLE", "enabled"},
    {"HIRETRY_DISABLE", "\xff"},
};

/*
 * Loads name=value alone and checks the invalid path: one message that
 * names the variable, the source marked invalid, and the default kept.
 */
static void check_bad_value(const char *name, const char *value)
{
    hr_config_source sources[VAR_COUNT];
    char label[LABEL_SIZE];
    char prefix[64];
    hr_config defaults;
    hr_config config;
    size_t index = var_index(name);
    int invalid;

    make_label(label, name, value);
    hr_config_defaults(&defaults);
    env_clear();
    env_set(name, value);
    invalid = load(&config, sources);

    ASSERT_ROW_INT_EQ(label, invalid, 1);
    ASSERT_ROW_INT_EQ(label, message_count, 1);
    ASSERT_ROW_INT_EQ(label, index < VAR_COUNT, 1);
    if (index < VAR_COUNT)
        ASSERT_ROW_INT_EQ(label, sources[index], HR_SOURCE_INVALID);
    ASSERT_ROW_INT_EQ(label, read_setting(&config, name),
                      read_setting(&defaults, name));

    snprintf(prefix, sizeof(prefix), "invalid %s=\"", name);
    ASSERT_ROW_INT_EQ(label, strncmp(messages[0], prefix, strlen(prefix)), 0);
}

static void test_config_bad_values(void)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(bad_cases); i++)
        check_bad_value(bad_cases[i].name, bad_cases[i].value);
}

/* Fills buffer with LONG_VALUE_SIZE - 1 bytes: fill, then the tail text. */
static const char *make_long_value(char *buffer, char fill, const char *tail)
{
    size_t tail_len = strlen(tail);
    size_t fill_len = LONG_VALUE_SIZE - 1 - tail_len;

    memset(buffer, fill, fill_len);
    memcpy(buffer + fill_len, tail, tail_len + 1);
    return buffer;
}

/* Repeats item until LONG_VALUE_SIZE is nearly full, then adds the tail. */
static const char *make_long_list(char *buffer, const char *item,
                                  const char *tail)
{
    size_t item_len = strlen(item);
    size_t len = 0;

    while (len + item_len + strlen(tail) < LONG_VALUE_SIZE) {
        memcpy(buffer + len, item, item_len);
        len += item_len;
    }
    memcpy(buffer + len, tail, strlen(tail) + 1);
    return buffer;
}

static void test_config_long_values_rejected(void)
{
    static char buffer[LONG_VALUE_SIZE];

    check_bad_value("HIRETRY_RETRIES", make_long_value(buffer, '1', ""));
    check_bad_value("HIRETRY_RETRIES", make_long_value(buffer, 'x', ""));
    check_bad_value("HIRETRY_BACKOFF", make_long_value(buffer, 'a', ""));
    check_bad_value("HIRETRY_BACKOFF_BASE", make_long_value(buffer, '1', "ms"));
    check_bad_value("HIRETRY_BACKOFF_CAP", make_long_value(buffer, '9', "s"));
    check_bad_value("HIRETRY_RETRY_ON",
                    make_long_list(buffer, "ConnectionError,", ""));
    check_bad_value("HIRETRY_RETRY_ON", make_long_value(buffer, 'A', ""));
    check_bad_value("HIRETRY_WRITES", make_long_value(buffer, 's', ""));
    check_bad_value("HIRETRY_DEADLINE", make_long_value(buffer, '0', "1"));
    check_bad_value("HIRETRY_PIPELINE_MAX",
                    make_long_value(buffer, '9', "KiB"));
    check_bad_value("HIRETRY_LOG", make_long_value(buffer, 'w', ""));
    check_bad_value("HIRETRY_DISABLE", make_long_value(buffer, 'y', ""));

    /* A 1 after ten thousand zeros is finer than a nanosecond. */
    make_long_value(buffer, '0', "1s");
    memcpy(buffer, "0.", 2);
    check_bad_value("HIRETRY_DEADLINE", buffer);
}

static void test_config_long_values_accepted(void)
{
    static char buffer[LONG_VALUE_SIZE];

    check_good_value("HIRETRY_RETRIES", make_long_value(buffer, '0', "3"), 3);
    check_good_value("HIRETRY_BACKOFF_BASE",
                     make_long_value(buffer, '0', "8ms"), 8000);
    check_good_value("HIRETRY_PIPELINE_MAX",
                     make_long_value(buffer, '0', "64KiB"), 65536);

    /* Trailing zeros after the decimal point do not change the value. */
    make_long_value(buffer, '0', "s");
    memcpy(buffer, "1.", 2);
    check_good_value("HIRETRY_DEADLINE", buffer, INT64_C(1000000000));

    check_good_value("HIRETRY_RETRY_ON",
                     make_long_list(buffer, "TimeoutError, ", "TimeoutError"),
                     (int64_t)hr_class_set_add(0, HR_CLASS_TIMEOUT_ERROR));
}

/* Loads name=value alone and stores its one message in message. */
static void load_one_message(const char *name, const char *value)
{
    hr_config config;

    env_clear();
    env_set(name, value);
    HR_ASSERT_INT_EQ(load(&config, NULL), 1);
    HR_ASSERT_INT_EQ(message_count, 1);
}

static void test_config_message_retries_text(void)
{
    load_one_message("HIRETRY_RETRIES", "abc");
    HR_ASSERT_STR_EQ(messages[0],
                     "invalid HIRETRY_RETRIES=\"abc\": expected an integer "
                     "from -1 to 1000000, where -1 retries forever; using "
                     "the default 3");
}

static void test_config_message_empty_value(void)
{
    load_one_message("HIRETRY_DEADLINE", "");
    HR_ASSERT_STR_EQ(messages[0],
                     "invalid HIRETRY_DEADLINE=\"\": expected a duration from "
                     "0 to 86400s with a unit of us, ms or s, where 0 is no "
                     "deadline; using the default 0");
}

static void test_config_message_escapes_bytes(void)
{
    load_one_message("HIRETRY_BACKOFF", "a\tb\"c\\d\xff\n");
    HR_ASSERT_STR_EQ(messages[0],
                     "invalid HIRETRY_BACKOFF=\"a\\x09b\\\"c\\\\d\\xff\\x0a\": "
                     "expected one of none, constant, exponential, "
                     "full_jitter, equal_jitter or decorrelated_jitter, in "
                     "any case; using the default equal_jitter");
}

static void test_config_message_retry_on_text(void)
{
    load_one_message("HIRETRY_RETRY_ON", "ConnectionError,,TimeoutError");
    HR_ASSERT_STR_EQ(
        messages[0],
        "invalid HIRETRY_RETRY_ON=\"ConnectionError,,TimeoutError\": expected "
        "a comma-separated list of valkey-py error class names, where Name "
        "and +Name add the class and its subclasses and -Name removes them, "
        "and a list that starts with + or - edits the default; using the "
        "default " DEFAULT_RETRY_ON_TEXT);
}

static void test_config_message_disable_text(void)
{
    load_one_message("HIRETRY_DISABLE", "maybe");
    HR_ASSERT_STR_EQ(messages[0],
                     "invalid HIRETRY_DISABLE=\"maybe\": expected a boolean "
                     "(1/0, true/false, yes/no or on/off, in any case), "
                     "where empty means false; using the default false");
}

#define PIPELINE_MAX_EXPECTED                                                  \
    "expected a whole number of bytes from 0 to 1GiB, bare or with a unit "    \
    "of B, KiB, MiB or GiB, where 0 turns off sending pipelines again and "    \
    "KB or MB are rejected as ambiguous, so write KiB or MiB; using the "      \
    "default 1MiB"

static void test_config_message_pipeline_max_text(void)
{
    load_one_message("HIRETRY_PIPELINE_MAX", "2GiB");
    HR_ASSERT_STR_EQ(
        messages[0],
        "invalid HIRETRY_PIPELINE_MAX=\"2GiB\": " PIPELINE_MAX_EXPECTED);
}

/* KB and MB are read neither as 1000 nor as 1024, and the message names
 * KiB and MiB as the fix. */
static void test_config_message_pipeline_max_decimal_unit(void)
{
    load_one_message("HIRETRY_PIPELINE_MAX", "64KB");
    HR_ASSERT_STR_EQ(
        messages[0],
        "invalid HIRETRY_PIPELINE_MAX=\"64KB\": " PIPELINE_MAX_EXPECTED);
    HR_ASSERT_TRUE(strstr(messages[0], "write KiB or MiB") != NULL);

    load_one_message("HIRETRY_PIPELINE_MAX", "1MB");
    HR_ASSERT_STR_EQ(
        messages[0],
        "invalid HIRETRY_PIPELINE_MAX=\"1MB\": " PIPELINE_MAX_EXPECTED);
}

static void test_config_message_pipeline_max_escapes_bytes(void)
{
    load_one_message("HIRETRY_PIPELINE_MAX", "1\xffKiB");
    HR_ASSERT_STR_EQ(
        messages[0],
        "invalid HIRETRY_PIPELINE_MAX=\"1\\xffKiB\": " PIPELINE_MAX_EXPECTED);
}

static void test_config_message_cuts_long_value(void)
{
    static char value[LONG_VALUE_SIZE];
    char expected[256];

    make_long_value(value, 'x', "");
    load_one_message("HIRETRY_LOG", value);
    snprintf(expected, sizeof(expected),
             "invalid HIRETRY_LOG=\"%.64s\"...: expected one of off, error, "
             "warn, info or debug, in any case; using the default warn",
             value);
    HR_ASSERT_STR_EQ(messages[0], expected);
}

static void test_config_message_cut_boundary(void)
{
    char value[66];
    const char *quote;

    /* 64 bytes are quoted whole. */
    memset(value, 'x', 64);
    value[64] = '\0';
    load_one_message("HIRETRY_LOG", value);
    quote = strchr(messages[0], '"');
    HR_ASSERT_TRUE(quote != NULL);
    HR_ASSERT_INT_EQ(strncmp(quote + 65, "\":", 2), 0);

    /* 65 bytes are cut to 64 and marked. */
    value[64] = 'x';
    value[65] = '\0';
    load_one_message("HIRETRY_LOG", value);
    quote = strchr(messages[0], '"');
    HR_ASSERT_TRUE(quote != NULL);
    HR_ASSERT_INT_EQ(strncmp(quote + 65, "\"...:", 5), 0);
}

static void test_config_message_escaped_cut_value(void)
{
    char value[LONG_VALUE_SIZE];
    char expected[512];
    size_t n;
    int i;

    memset(value, '\x80', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    load_one_message("HIRETRY_WRITES", value);

    n = (size_t)snprintf(expected, sizeof(expected),
                         "invalid HIRETRY_WRITES=\"");
    for (i = 0; i < 64; i++)
        n += (size_t)snprintf(expected + n, sizeof(expected) - n, "\\x80");
    snprintf(expected + n, sizeof(expected) - n,
             "\"...: expected one of safe, all or none, in any case; using "
             "the default safe");
    HR_ASSERT_STR_EQ(messages[0], expected);
}

static void test_config_one_message_per_invalid_variable(void)
{
    char long_password[HR_SENTINEL_PASSWORD_MAX + 2];
    size_t count;
    const hr_config_var *vars = hr_config_vars(&count);
    hr_config_source sources[VAR_COUNT];
    hr_config config;
    size_t i;

    memset(long_password, 'p', sizeof(long_password) - 1);
    long_password[sizeof(long_password) - 1] = '\0';
    env_clear();
    env_set("HIRETRY_RETRIES", "-2");
    env_set("HIRETRY_BACKOFF", "linear");
    env_set("HIRETRY_BACKOFF_BASE", "10");
    env_set("HIRETRY_BACKOFF_CAP", "1h");
    env_set("HIRETRY_RETRY_ON", "NoSuchError");
    env_set("HIRETRY_WRITES", "some");
    env_set("HIRETRY_DEADLINE", "-1s");
    env_set("HIRETRY_PIPELINE_MAX", "1MB");
    env_set("HIRETRY_LOG", "warning");
    env_set("HIRETRY_DISABLE", "maybe");
    env_set("HIRETRY_IDLE_CHECK", "5");
    env_set("HIRETRY_SENTINELS", "localhost");
    env_set("HIRETRY_SENTINEL_MASTER", "my master");
    env_set("HIRETRY_SENTINEL_USERNAME", "a b");
    env_set("HIRETRY_SENTINEL_PASSWORD", long_password);
    env_set("HIRETRY_SENTINEL_REDIRECT", "");
    env_set("HIRETRY_SENTINEL_TIMEOUT", "0");
    env_set("HIRETRY_BUDGET", "maybe");
    env_set("HIRETRY_BUDGET_RATIO", "10%");
    env_set("HIRETRY_BUDGET_CAPACITY", "0");
    env_set("HIRETRY_BUDGET_FLOOR", "-1");
    env_set("HIRETRY_BREAKER_FAILURES", "many");
    env_set("HIRETRY_BREAKER_COOLDOWN", "0");
    env_set("HIRETRY_LOG_FILE", "/tmp/a\nb");
    env_set("HIRETRY_STATS_FILE", "syslog");
    env_set("HIRETRY_STATS_INTERVAL", "1h");

    HR_ASSERT_INT_EQ(load(&config, sources), VAR_COUNT);
    HR_ASSERT_INT_EQ(message_count, VAR_COUNT);
    for (i = 0; i < VAR_COUNT && i < count; i++) {
        char prefix[64];

        snprintf(prefix, sizeof(prefix),
                 vars[i].secret ? "invalid %s (value not shown): "
                                : "invalid %s=\"",
                 vars[i].name);
        HR_ASSERT_STR_EQ(strstr(messages[i], prefix), messages[i]);
        HR_ASSERT_INT_EQ(sources[i], HR_SOURCE_INVALID);
    }
    assert_defaults(&config);
}

static void test_config_sources_mixed(void)
{
    hr_config_source sources[VAR_COUNT];
    hr_config config;

    env_clear();
    env_set("HIRETRY_RETRIES", "5");
    env_set("HIRETRY_BACKOFF", "linear");
    env_set("HIRETRY_DEADLINE", "2s");
    env_set("HIRETRY_PIPELINE_MAX", "64KiB");
    env_set("HIRETRY_DISABLE", "");

    HR_ASSERT_INT_EQ(load(&config, sources), 1);
    HR_ASSERT_INT_EQ(message_count, 1);
    HR_ASSERT_INT_EQ(sources[0], HR_SOURCE_ENV);
    HR_ASSERT_INT_EQ(sources[1], HR_SOURCE_INVALID);
    HR_ASSERT_INT_EQ(sources[2], HR_SOURCE_DEFAULT);
    HR_ASSERT_INT_EQ(sources[3], HR_SOURCE_DEFAULT);
    HR_ASSERT_INT_EQ(sources[4], HR_SOURCE_DEFAULT);
    HR_ASSERT_INT_EQ(sources[5], HR_SOURCE_DEFAULT);
    HR_ASSERT_INT_EQ(sources[6], HR_SOURCE_ENV);
    HR_ASSERT_INT_EQ(sources[7], HR_SOURCE_ENV);
    HR_ASSERT_INT_EQ(sources[8], HR_SOURCE_DEFAULT);
    HR_ASSERT_INT_EQ(sources[9], HR_SOURCE_ENV);
    HR_ASSERT_INT_EQ(config.policy.retries, 5);
    HR_ASSERT_INT_EQ(config.policy.backoff.kind, HR_BACKOFF_EQUAL_JITTER);
    HR_ASSERT_INT_EQ(config.policy.deadline_ns, INT64_C(2000000000));
    HR_ASSERT_UINT_EQ(config.pipeline_max, 64 * KIB);
    HR_ASSERT_INT_EQ(config.disable, false);
}

static void test_config_load_without_report(void)
{
    hr_config config;

    env_clear();
    env_set("HIRETRY_RETRIES", "abc");
    env_set("HIRETRY_LOG", "debug");

    HR_ASSERT_INT_EQ(hr_config_load(&config, fake_getenv, NULL, NULL, NULL), 1);
    HR_ASSERT_INT_EQ(config.policy.retries, 3);
    HR_ASSERT_INT_EQ(config.log_level, HR_LOG_DEBUG);
}

/* A base above the cap is kept: the backoff formulas apply min(cap, ...). */
static void test_config_base_above_cap_kept(void)
{
    hr_config config;

    env_clear();
    env_set("HIRETRY_BACKOFF_BASE", "1s");
    env_set("HIRETRY_BACKOFF_CAP", "512ms");

    HR_ASSERT_INT_EQ(load(&config, NULL), 0);
    HR_ASSERT_INT_EQ(message_count, 0);
    HR_ASSERT_UINT_EQ(config.policy.backoff.base_us, 1000000);
    HR_ASSERT_UINT_EQ(config.policy.backoff.cap_us, 512000);
}

static void test_config_retry_on_list_replaces_default(void)
{
    HR_ASSERT_UINT_EQ(load_retry_on("TimeoutError"),
                      hr_class_set_add(0, HR_CLASS_TIMEOUT_ERROR));
}

static void test_config_retry_on_name_adds_subclasses(void)
{
    hr_class_set set = load_retry_on("ConnectionError");

    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_CONNECTION_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_AUTHENTICATION_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_AUTHORIZATION_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_BUSY_LOADING_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_MAX_CONNECTIONS_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_TIMEOUT_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_VALKEY_ERROR));
}

static void test_config_retry_on_plus_edits_default(void)
{
    hr_class_set expected;

    expected =
        hr_class_set_add(expected_default_retry_on(), HR_CLASS_RESPONSE_ERROR);
    HR_ASSERT_UINT_EQ(load_retry_on("+ResponseError"), expected);

    expected = hr_class_set_remove(expected_default_retry_on(),
                                   HR_CLASS_READ_ONLY_ERROR);
    HR_ASSERT_UINT_EQ(load_retry_on("+MasterDownError,-ReadOnlyError"),
                      expected);
}

static void test_config_retry_on_minus_edits_default(void)
{
    hr_class_set set = load_retry_on("-TimeoutError");

    HR_ASSERT_UINT_EQ(set, hr_class_set_remove(expected_default_retry_on(),
                                               HR_CLASS_TIMEOUT_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_CONNECTION_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_TIMEOUT_ERROR));
}

/* ClusterDownError is both a ResponseError and a ClusterError. */
static void test_config_retry_on_multiple_inheritance(void)
{
    hr_class_set set = load_retry_on("ResponseError,-ClusterError");

    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_RESPONSE_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_READ_ONLY_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_MOVED_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_TRY_AGAIN_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_CLUSTER_DOWN_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_MASTER_DOWN_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_CLUSTER_ERROR));

    set = load_retry_on("ClusterError");
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_CLUSTER_DOWN_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_MASTER_DOWN_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_RESPONSE_ERROR));
}

static void test_config_retry_on_left_to_right(void)
{
    hr_class_set set = load_retry_on("-ConnectionError,BusyLoadingError");

    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_BUSY_LOADING_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_CONNECTION_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_MAX_CONNECTIONS_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_TIMEOUT_ERROR));

    /* The later removal covers the earlier subclass. */
    HR_ASSERT_UINT_EQ(load_retry_on("BusyLoadingError,-ConnectionError"), 0);
}

static void test_config_retry_on_plus_later_replaces(void)
{
    hr_class_set expected = hr_class_set_add(0, HR_CLASS_TIMEOUT_ERROR);

    expected = hr_class_set_add(expected, HR_CLASS_READ_ONLY_ERROR);
    HR_ASSERT_UINT_EQ(load_retry_on("TimeoutError,+ReadOnlyError"), expected);
}

static void test_config_retry_on_spaces_allowed(void)
{
    hr_class_set expected = hr_class_set_add(0, HR_CLASS_TIMEOUT_ERROR);

    expected = hr_class_set_add(expected, HR_CLASS_CONNECTION_ERROR);
    HR_ASSERT_UINT_EQ(load_retry_on(" TimeoutError ,\tConnectionError "),
                      expected);

    /* Spaces before the first item do not hide its sign. */
    HR_ASSERT_UINT_EQ(load_retry_on("  -TimeoutError"),
                      hr_class_set_remove(expected_default_retry_on(),
                                          HR_CLASS_TIMEOUT_ERROR));
}

static void test_config_retry_on_valkey_error_covers_tree(void)
{
    hr_class_set set = load_retry_on("ValkeyError");

    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_VALKEY_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_LOCK_NOT_OWNED_ERROR));
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_MASTER_DOWN_ERROR));
    HR_ASSERT_TRUE(
        !hr_class_set_contains(set, HR_CLASS_CHILD_DEADLOCKED_ERROR));
    HR_ASSERT_TRUE(
        !hr_class_set_contains(set, HR_CLASS_SLOT_NOT_COVERED_ERROR));
}

static void test_config_retry_on_invalid_keeps_default(void)
{
    hr_config config;

    env_clear();
    env_set("HIRETRY_RETRY_ON", "+MasterDownError,-NoSuchError");
    HR_ASSERT_INT_EQ(load(&config, NULL), 1);
    HR_ASSERT_UINT_EQ(config.policy.retry_on, expected_default_retry_on());
}

static const value_case duration_good[] = {
    {"0", 0},
    {"0s", 0},
    {"0.0ms", 0},
    {"1us", 1000},
    {"1ms", 1000000},
    {"1s", 1000000000},
    {"250ms", 250000000},
    {"1.5s", 1500000000},
    {"0.25ms", 250000},
    {"0.001us", 1},
    {"1.0000000000000s", 1000000000},
    {"0000000000000000000000001s", 1000000000},
    {"9223372036854775us", INT64_C(9223372036854775000)},
    {"9223372036.854775807s", INT64_MAX},
    {"9223372036854.775807ms", INT64_MAX},
};

static const char *const duration_bad[] = {
    "",
    "00",
    "0.0",
    "10",
    "1.5",
    " 5ms",
    "5ms ",
    "5 ms",
    "5ms\n",
    "5MS",
    "5Ms",
    "5S",
    "5US",
    "5\xc2\xb5s",
    "5ns",
    "5m",
    "5h",
    "5sec",
    ".5s",
    "5.s",
    "5.ms",
    "1.5.2s",
    "-5ms",
    "+5ms",
    "s",
    "1e3ms",
    "1,5s",
    "0.0001us",
    "0.0000000001s",
    "9223372036.854775808s",
    "9223372037s",
    "9223372036854776us",
    "18446744073709551616us",
    "99999999999999999999999999s",
};

static void test_parse_duration_good(void)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(duration_good); i++) {
        const char *text = duration_good[i].text;
        char label[LABEL_SIZE];
        int64_t ns = -1;
        int result;

        make_label(label, "duration", text);
        result = hr_parse_duration(text, &ns);
        ASSERT_ROW_INT_EQ(label, result, 0);
        ASSERT_ROW_INT_EQ(label, ns, duration_good[i].expected);
    }
}

static void test_parse_duration_bad(void)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(duration_bad); i++) {
        char label[LABEL_SIZE];
        int64_t ns = 0;

        make_label(label, "duration", duration_bad[i]);
        ASSERT_ROW_INT_EQ(label, hr_parse_duration(duration_bad[i], &ns), -1);
    }
}

static const value_case bool_good[] = {
    {"1", true},   {"true", true},   {"TRUE", true},   {"True", true},
    {"yes", true}, {"YES", true},    {"on", true},     {"On", true},
    {"0", false},  {"false", false}, {"FALSE", false}, {"no", false},
    {"No", false}, {"off", false},   {"OFF", false},
};

static const char *const bool_bad[] = {
    "",          " 1", "1 ",  "2",    "-1",   "01",
    "t",         "f",  "y",   "n",    "yes!", "enable",
    "truefalse", "o",  "onn", "nope", "\xff", "tru\xc3\xa9",
};

static void test_parse_bool_good(void)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(bool_good); i++) {
        char label[LABEL_SIZE];
        bool value = !bool_good[i].expected;
        int result;

        make_label(label, "bool", bool_good[i].text);
        result = hr_parse_bool(bool_good[i].text, &value);
        ASSERT_ROW_INT_EQ(label, result, 0);
        ASSERT_ROW_INT_EQ(label, value, bool_good[i].expected);
    }
}

static void test_parse_bool_bad(void)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(bool_bad); i++) {
        char label[LABEL_SIZE];
        bool value = false;

        make_label(label, "bool", bool_bad[i]);
        ASSERT_ROW_INT_EQ(label, hr_parse_bool(bool_bad[i], &value), -1);
    }
}

typedef struct size_case {
    const char *text;
    uint64_t expected;
} size_case;

static const size_case size_good[] = {
    {"0", 0},
    {"0B", 0},
    {"0KiB", 0},
    {"0MiB", 0},
    {"0GiB", 0},
    {"00", 0},
    {"1", 1},
    {"1B", 1},
    {"1KiB", KIB},
    {"1MiB", MIB},
    {"1GiB", GIB},
    {"7B", 7},
    {"3KiB", 3 * KIB},
    {"5MiB", 5 * MIB},
    {"9GiB", 9 * GIB},
    {"1023KiB", 1023 * KIB},
    {"0042KiB", 42 * KIB},
    {"1073741824", GIB},
    {"18446744073709551615", UINT64_MAX},
    {"18446744073709551615B", UINT64_MAX},
    {"18014398509481983KiB", UINT64_MAX - (KIB - 1)},
    {"17592186044415MiB", UINT64_MAX - (MIB - 1)},
    {"17179869183GiB", UINT64_MAX - (GIB - 1)},
};

static const char *const size_bad[] = {
    "",
    " ",
    " 1KiB",
    "1KiB ",
    "1 KiB",
    "1KiB\n",
    "\t1",
    "+1",
    "-1",
    "-0",
    "+1KiB",
    "-1KiB",
    "1.5KiB",
    "1.0KiB",
    "0.5",
    ".5MiB",
    "1.",
    "1e3",
    "0x400",
    "1_024",
    "1,024",
    "1KB",
    "1kB",
    "1MB",
    "1GB",
    "1TB",
    "1k",
    "1K",
    "1M",
    "1G",
    "1Ki",
    "1Mi",
    "1kib",
    "1KIB",
    "1Kib",
    "1kiB",
    "1mib",
    "1MIB",
    "1gib",
    "1b",
    "1TiB",
    "1PiB",
    "1iB",
    "1KiBB",
    "1KiB1",
    "1KiBKiB",
    "1bytes",
    "1byte",
    "B",
    "KiB",
    "MiB",
    "GiB",
    "\xff",
    "1\xff",
    "\xff"
    "1",
    "1\xffKiB",
    "1Ki\xff"
    "B",
    "1\xc2\xa0KiB",
    "18446744073709551616",
    "18446744073709551616B",
    "18446744073709551620",
    "99999999999999999999",
    "18014398509481984KiB",
    "17592186044416MiB",
    "17179869184GiB",
    "99999999999GiB",
    "99999999999999999999999999GiB",
};

static void test_parse_size_good(void)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(size_good); i++) {
        const char *text = size_good[i].text;
        char label[LABEL_SIZE];
        uint64_t bytes = 12345;
        int result;

        make_label(label, "size", text);
        result = hr_parse_size(text, &bytes);
        ASSERT_ROW_INT_EQ(label, result, 0);
        ASSERT_ROW_UINT_EQ(label, bytes, size_good[i].expected);
    }
}

static void test_parse_size_bad(void)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(size_bad); i++) {
        char label[LABEL_SIZE];
        uint64_t bytes = 0;

        make_label(label, "size", size_bad[i]);
        ASSERT_ROW_INT_EQ(label, hr_parse_size(size_bad[i], &bytes), -1);
    }
}

static void test_log_level_name_values(void)
{
    HR_ASSERT_STR_EQ(hr_log_level_name(HR_LOG_OFF), "off");
    HR_ASSERT_STR_EQ(hr_log_level_name(HR_LOG_ERROR), "error");
    HR_ASSERT_STR_EQ(hr_log_level_name(HR_LOG_WARN), "warn");
    HR_ASSERT_STR_EQ(hr_log_level_name(HR_LOG_INFO), "info");
    HR_ASSERT_STR_EQ(hr_log_level_name(HR_LOG_DEBUG), "debug");
    HR_ASSERT_STR_EQ(hr_log_level_name((hr_log_level)(HR_LOG_DEBUG + 1)), NULL);
    HR_ASSERT_STR_EQ(hr_log_level_name((hr_log_level)-1), NULL);
}

/* A long path needs the whole buffer, and one byte more is invalid. */
static void test_config_path_length_limit(void)
{
    char path[HR_PATH_MAX + 2];
    hr_config config;

    memset(path, 'a', sizeof(path));
    path[0] = '/';
    path[HR_PATH_MAX] = '\0';
    env_clear();
    env_set("HIRETRY_STATS_FILE", path);
    HR_ASSERT_INT_EQ(load(&config, NULL), 0);
    HR_ASSERT_STR_EQ(config.stats_file, path);

    path[HR_PATH_MAX] = 'a';
    path[HR_PATH_MAX + 1] = '\0';
    env_clear();
    env_set("HIRETRY_STATS_FILE", path);
    HR_ASSERT_INT_EQ(load(&config, NULL), 1);
    HR_ASSERT_STR_EQ(config.stats_file, "");
}

static void test_config_log_file_text(void)
{
    hr_config config;

    env_clear();
    env_set("HIRETRY_LOG_FILE", "syslog:/run/app/log");
    HR_ASSERT_INT_EQ(load(&config, NULL), 0);
    HR_ASSERT_STR_EQ(config.log_file, "syslog:/run/app/log");
}

static const CU_TestInfo tests[] = {
    {"config_defaults_values", test_config_defaults_values},
    {"config_default_retry_on_members", test_config_default_retry_on_members},
    {"config_vars_table", test_config_vars_table},
    {"config_vars_default_texts", test_config_vars_default_texts},
    {"config_default_texts_load", test_config_default_texts_load},
    {"config_load_unset_uses_defaults", test_config_load_unset_uses_defaults},
    {"config_load_reads_each_variable_once",
     test_config_load_reads_each_variable_once},
    {"config_good_values", test_config_good_values},
    {"config_bad_values", test_config_bad_values},
    {"config_long_values_rejected", test_config_long_values_rejected},
    {"config_long_values_accepted", test_config_long_values_accepted},
    {"config_message_retries_text", test_config_message_retries_text},
    {"config_message_empty_value", test_config_message_empty_value},
    {"config_message_escapes_bytes", test_config_message_escapes_bytes},
    {"config_message_retry_on_text", test_config_message_retry_on_text},
    {"config_message_disable_text", test_config_message_disable_text},
    {"config_message_pipeline_max_text", test_config_message_pipeline_max_text},
    {"config_message_pipeline_max_decimal_unit",
     test_config_message_pipeline_max_decimal_unit},
    {"config_message_pipeline_max_escapes_bytes",
     test_config_message_pipeline_max_escapes_bytes},
    {"config_message_cuts_long_value", test_config_message_cuts_long_value},
    {"config_message_cut_boundary", test_config_message_cut_boundary},
    {"config_message_escaped_cut_value", test_config_message_escaped_cut_value},
    {"config_one_message_per_invalid_variable",
     test_config_one_message_per_invalid_variable},
    {"config_sources_mixed", test_config_sources_mixed},
    {"config_load_without_report", test_config_load_without_report},
    {"config_base_above_cap_kept", test_config_base_above_cap_kept},
    {"config_retry_on_list_replaces_default",
     test_config_retry_on_list_replaces_default},
    {"config_retry_on_name_adds_subclasses",
     test_config_retry_on_name_adds_subclasses},
    {"config_retry_on_plus_edits_default",
     test_config_retry_on_plus_edits_default},
    {"config_retry_on_minus_edits_default",
     test_config_retry_on_minus_edits_default},
    {"config_retry_on_multiple_inheritance",
     test_config_retry_on_multiple_inheritance},
    {"config_retry_on_left_to_right", test_config_retry_on_left_to_right},
    {"config_retry_on_plus_later_replaces",
     test_config_retry_on_plus_later_replaces},
    {"config_retry_on_spaces_allowed", test_config_retry_on_spaces_allowed},
    {"config_retry_on_valkey_error_covers_tree",
     test_config_retry_on_valkey_error_covers_tree},
    {"config_retry_on_invalid_keeps_default",
     test_config_retry_on_invalid_keeps_default},
    {"parse_duration_good", test_parse_duration_good},
    {"parse_duration_bad", test_parse_duration_bad},
    {"parse_size_good", test_parse_size_good},
    {"parse_size_bad", test_parse_size_bad},
    {"parse_bool_good", test_parse_bool_good},
    {"parse_bool_bad", test_parse_bool_bad},
    {"log_level_name_values", test_log_level_name_values},
    {"config_path_length_limit", test_config_path_length_limit},
    {"config_log_file_text", test_config_log_file_text},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_test_run("config", tests);
}

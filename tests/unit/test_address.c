/*
 * Tests of the host:port parser behind HIRETRY_SENTINELS and
 * HIRETRY_SENTINEL_REDIRECT, and of the Sentinel rows of the configuration
 * table. Tables of good and bad addresses cover IPv4, names, bracketed
 * IPv6, the port bounds, the host length bound, list bounds and duplicates.
 * The password cases check that no message ever contains the value.
 */
#include "hiretry/address.h"

#include <stdio.h>
#include <string.h>

#include "hiretry/config.h"
#include "hr_test.h"

#define ARRAY_LEN(array) (sizeof(array) / sizeof((array)[0]))

typedef struct address_case {
    const char *text;
    const char *host;
    int port;
} address_case;

static const address_case good_addresses[] = {
    {"127.0.0.1:26379", "127.0.0.1", 26379},
    {"localhost:1", "localhost", 1},
    {"sentinel-1.example.internal:65535", "sentinel-1.example.internal", 65535},
    {"under_score:80", "under_score", 80},
    {"[::1]:26379", "::1", 26379},
    {"[::]:7", "::", 7},
    {"[2001:db8::10]:6379", "2001:db8::10", 6379},
    {"[::ffff:192.0.2.1]:6379", "::ffff:192.0.2.1", 6379},
    {"host:00080", "host", 80},
};

static const char *const bad_addresses[] = {
    "",          "host",       "host:",          ":6379",
    "host:0",    "host:65536", "host:100000",    "host:-1",
    "host:+1",   "host:6379x", "host :6379",     "ho st:6379",
    "::1:6379",  "[::1]",      "[::1]6379",      "[::1]:",
    "[]:6379",   "[:]:6379",   "[1.2.3.4]:6379", "[fe80::1%eth0]:6379",
    "[::1:6379", "host:6379,",
};

static void test_address_parse_good(void)
{
    for (size_t i = 0; i < ARRAY_LEN(good_addresses); i++) {
        const address_case *c = &good_addresses[i];
        hr_address address;

        HR_ASSERT_INT_EQ(hr_parse_address(c->text, strlen(c->text), &address),
                         0);
        HR_ASSERT_STR_EQ(address.host, c->host);
        HR_ASSERT_INT_EQ(address.port, c->port);
    }
}

static void test_address_parse_bad(void)
{
    for (size_t i = 0; i < ARRAY_LEN(bad_addresses); i++) {
        const char *text = bad_addresses[i];
        hr_address address = {"unchanged", 1};
        int rc = hr_parse_address(text, strlen(text), &address);

        if (rc != -1)
            fprintf(stderr, "invalid address accepted: \"%s\"\n", text);
        HR_ASSERT_INT_EQ(rc, -1);
        HR_ASSERT_STR_EQ(address.host, "unchanged");
    }
}

/* The length bound counts the host alone, brackets and port aside. */
static void test_address_host_length_bound(void)
{
    char text[HR_HOST_MAX + 16];
    hr_address address;

    memset(text, 'h', HR_HOST_MAX);
    strcpy(text + HR_HOST_MAX, ":6379");
    HR_ASSERT_INT_EQ(hr_parse_address(text, strlen(text), &address), 0);
    HR_ASSERT_UINT_EQ(strlen(address.host), HR_HOST_MAX);

    memset(text, 'h', HR_HOST_MAX + 1);
    strcpy(text + HR_HOST_MAX + 1, ":6379");
    HR_ASSERT_INT_EQ(hr_parse_address(text, strlen(text), &address), -1);
}

/* Only len bytes count: the parser never reads past them. */
static void test_address_parse_length_only(void)
{
    hr_address address;

    HR_ASSERT_INT_EQ(hr_parse_address("a:1,b:2", 3, &address), 0);
    HR_ASSERT_STR_EQ(address.host, "a");
    HR_ASSERT_INT_EQ(address.port, 1);
}

static void test_address_list_good(void)
{
    hr_address_list list;

    HR_ASSERT_INT_EQ(
        hr_parse_address_list("127.0.0.1:26379,[::1]:26380,db:1", &list), 0);
    HR_ASSERT_UINT_EQ(list.count, 3);
    HR_ASSERT_STR_EQ(list.items[0].host, "127.0.0.1");
    HR_ASSERT_INT_EQ(list.items[0].port, 26379);
    HR_ASSERT_STR_EQ(list.items[1].host, "::1");
    HR_ASSERT_INT_EQ(list.items[1].port, 26380);
    HR_ASSERT_STR_EQ(list.items[2].host, "db");

    HR_ASSERT_INT_EQ(hr_parse_address_list("", &list), 0);
    HR_ASSERT_UINT_EQ(list.count, 0);
}

static void test_address_list_bad(void)
{
    static const char *const cases[] = {
        ",",        "a:1,",    ",a:1",    "a:1,,b:2",
        "a:1, b:2", "a:1,a:1", "A:1,a:1", "[::1]:1,[::1]:1",
        "a:1,b",    "a:1;b:2",
    };
    hr_address_list list = {.count = 7};

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int rc = hr_parse_address_list(cases[i], &list);

        if (rc != -1)
            fprintf(stderr, "invalid list accepted: \"%s\"\n", cases[i]);
        HR_ASSERT_INT_EQ(rc, -1);
        HR_ASSERT_UINT_EQ(list.count, 7);
    }
}

static void test_address_list_count_bound(void)
{
    char text[HR_ADDRESS_LIST_MAX * 16 + 16] = "";
    hr_address_list list;
    size_t n = 0;

    for (int i = 0; i < HR_ADDRESS_LIST_MAX; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%sh:%d",
                              i ? "," : "", i + 1);
    HR_ASSERT_INT_EQ(hr_parse_address_list(text, &list), 0);
    HR_ASSERT_UINT_EQ(list.count, HR_ADDRESS_LIST_MAX);

    snprintf(text + n, sizeof(text) - n, ",h:%d", HR_ADDRESS_LIST_MAX + 1);
    HR_ASSERT_INT_EQ(hr_parse_address_list(text, &list), -1);
}

static void test_address_equal_and_contains(void)
{
    hr_address_list list;

    hr_parse_address_list("Sentinel.Local:26379,[::1]:26379", &list);
    HR_ASSERT_TRUE(hr_address_list_contains(&list, "sentinel.local", 26379));
    HR_ASSERT_TRUE(hr_address_list_contains(&list, "::1", 26379));
    HR_ASSERT_TRUE(!hr_address_list_contains(&list, "sentinel.local", 26380));
    HR_ASSERT_TRUE(!hr_address_list_contains(&list, "sentinel.loca", 26379));
    HR_ASSERT_TRUE(!hr_address_list_contains(&list, "sentinel.locals", 26379));
    /* Names are compared, never resolved. */
    HR_ASSERT_TRUE(!hr_address_list_contains(&list, "127.0.0.1", 26379));
}

static void test_address_format(void)
{
    char buf[HR_ADDRESS_TEXT_SIZE];

    hr_address_format("127.0.0.1", 6379, buf, sizeof(buf));
    HR_ASSERT_STR_EQ(buf, "127.0.0.1:6379");
    hr_address_format("::1", 26379, buf, sizeof(buf));
    HR_ASSERT_STR_EQ(buf, "[::1]:26379");
}

/* ---- The Sentinel rows of the configuration ---- */

typedef struct fake_env {
    const char *names[8];
    const char *values[8];
    size_t count;
} fake_env;

static fake_env env;
static char messages[8][1024];
static int message_count;

static const char *fake_getenv(const char *name)
{
    for (size_t i = 0; i < env.count; i++) {
        if (strcmp(env.names[i], name) == 0)
            return env.values[i];
    }
    return NULL;
}

static void collect(void *arg, const char *message)
{
    (void)arg;
    if (message_count < (int)ARRAY_LEN(messages))
        snprintf(messages[message_count], sizeof(messages[0]), "%s", message);
    message_count++;
}

/* Loads the configuration with one variable set. Returns the number of
 * invalid values. */
static int load_one(hr_config *config, const char *name, const char *value)
{
    env.names[0] = name;
    env.values[0] = value;
    env.count = 1;
    message_count = 0;
    return hr_config_load(config, fake_getenv, collect, NULL, NULL);
}

static void test_sentinel_config_values(void)
{
    hr_config config;

    HR_ASSERT_INT_EQ(
        load_one(&config, "HIRETRY_SENTINELS", "127.0.0.1:1,[::1]:2"), 0);
    HR_ASSERT_UINT_EQ(config.sentinel.sentinels.count, 2);

    HR_ASSERT_INT_EQ(load_one(&config, "HIRETRY_SENTINEL_MASTER", "mymaster"),
                     0);
    HR_ASSERT_STR_EQ(config.sentinel.master, "mymaster");

    HR_ASSERT_INT_EQ(load_one(&config, "HIRETRY_SENTINEL_REDIRECT", "ALL"), 0);
    HR_ASSERT_INT_EQ(config.sentinel.redirect_all, true);

    HR_ASSERT_INT_EQ(load_one(&config, "HIRETRY_SENTINEL_REDIRECT",
                              "10.0.0.1:6379,10.0.0.2:6379"),
                     0);
    HR_ASSERT_INT_EQ(config.sentinel.redirect_all, false);
    HR_ASSERT_UINT_EQ(config.sentinel.redirect.count, 2);

    HR_ASSERT_INT_EQ(load_one(&config, "HIRETRY_SENTINEL_TIMEOUT", "1ms"), 0);
    HR_ASSERT_INT_EQ(config.sentinel.timeout_ns, 1000000);
    HR_ASSERT_INT_EQ(load_one(&config, "HIRETRY_SENTINEL_TIMEOUT", "60s"), 0);
    HR_ASSERT_INT_EQ(config.sentinel.timeout_ns, 60000000000LL);
}

static void test_sentinel_config_invalid(void)
{
    static const char *const cases[][2] = {
        {"HIRETRY_SENTINELS", "127.0.0.1"},
        {"HIRETRY_SENTINELS", "a:1,a:1"},
        {"HIRETRY_SENTINEL_MASTER", "my master"},
        {"HIRETRY_SENTINEL_MASTER", "caf\xc3\xa9"},
        {"HIRETRY_SENTINEL_USERNAME", "tab\tname"},
        {"HIRETRY_SENTINEL_REDIRECT", ""},
        {"HIRETRY_SENTINEL_REDIRECT", "some"},
        {"HIRETRY_SENTINEL_TIMEOUT", "0"},
        {"HIRETRY_SENTINEL_TIMEOUT", "999us"},
        {"HIRETRY_SENTINEL_TIMEOUT", "61s"},
        {"HIRETRY_SENTINEL_TIMEOUT", "250"},
    };
    hr_config config;

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char prefix[128];

        snprintf(prefix, sizeof(prefix), "invalid %s=\"", cases[i][0]);
        HR_ASSERT_INT_EQ(load_one(&config, cases[i][0], cases[i][1]), 1);
        HR_ASSERT_INT_EQ(message_count, 1);
        HR_ASSERT_INT_EQ(strncmp(messages[0], prefix, strlen(prefix)), 0);
    }
}

/* An invalid password is reported by name only. */
static void test_sentinel_password_never_shown(void)
{
    char password[HR_SENTINEL_PASSWORD_MAX + 2];
    hr_config config;

    memset(password, 's', sizeof(password) - 1);
    password[sizeof(password) - 1] = '\0';
    HR_ASSERT_INT_EQ(load_one(&config, "HIRETRY_SENTINEL_PASSWORD", password),
                     1);
    HR_ASSERT_INT_EQ(message_count, 1);
    HR_ASSERT_STR_EQ(messages[0],
                     "invalid HIRETRY_SENTINEL_PASSWORD (value not shown): "
                     "expected empty, or a password of up to 511 bytes; "
                     "using the default (empty)");
    HR_ASSERT_STR_EQ(config.sentinel.password, "");

    /* The longest valid password is kept whole. */
    password[HR_SENTINEL_PASSWORD_MAX] = '\0';
    HR_ASSERT_INT_EQ(load_one(&config, "HIRETRY_SENTINEL_PASSWORD", password),
                     0);
    HR_ASSERT_STR_EQ(config.sentinel.password, password);
}

static CU_TestInfo tests[] = {
    {"test_address_parse_good", test_address_parse_good},
    {"test_address_parse_bad", test_address_parse_bad},
    {"test_address_host_length_bound", test_address_host_length_bound},
    {"test_address_parse_length_only", test_address_parse_length_only},
    {"test_address_list_good", test_address_list_good},
    {"test_address_list_bad", test_address_list_bad},
    {"test_address_list_count_bound", test_address_list_count_bound},
    {"test_address_equal_and_contains", test_address_equal_and_contains},
    {"test_address_format", test_address_format},
    {"test_sentinel_config_values", test_sentinel_config_values},
    {"test_sentinel_config_invalid", test_sentinel_config_invalid},
    {"test_sentinel_password_never_shown", test_sentinel_password_never_shown},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_test_run("addresses and Sentinel settings", tests);
}

/*
 * The shim rescues a plain hiredis program across a server crash: the test
 * kills a real valkey-server or redis-server with SIGKILL in the middle of
 * an hr_workload run and starts it again 500 ms later. The program runs with
 * libhiretry.so preloaded and --keep-going, so without the shim every
 * command after the crash would fail (test_baseline shows that). With it,
 * no error may reach the program, the session (AUTH, SELECT 5) must be
 * restored so that no key lands in db 0, and the data on the server must
 * agree with the replies the program received. Each command kind runs over
 * TCP against both servers, and INCR also over a unix socket.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_OPS 300
#define HR_DB 5
#define HR_PASSWORD "restart-password"
#define HR_CALLS_BEFORE_KILL 50
#define HR_DOWN_MS 500
#define HR_PROGRAM_TIMEOUT_MS 60000
#define HR_FIXED_VALUE "fixed-value"

/* Starts a server with every write fsynced, or fails the test. */
static bool hr_start(hr_server *server, hr_server_kind kind)
{
    hr_server_options options = {
        .kind = kind,
        .password = HR_PASSWORD,
        .unix_socket = true,
        .appendonly = true,
    };
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/*
 * Runs one command kind in db 5 with the shim across a server crash, with
 * HIRETRY_WRITES set to writes, or left at its default when writes is NULL.
 */
static int hr_run_writes(hr_server *server, hr_program *program, const char *op,
                         bool use_unix_socket, const char *writes)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_args(&argv, server, use_unix_socket);

    rc |= hr_string_list_add(&argv, "--db");
    rc |= hr_string_list_add(&argv, "%d", HR_DB);
    rc |= hr_string_list_add(&argv, "--op");
    rc |= hr_string_list_add(&argv, "%s", op);
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "%d", HR_OPS);
    rc |= hr_string_list_add(&argv, "--sleep-ms");
    rc |= hr_string_list_add(&argv, "5");
    rc |= hr_string_list_add(&argv, "--timeout-ms");
    rc |= hr_string_list_add(&argv, "2000");
    rc |= hr_string_list_add(&argv, "--keep-going");

    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=50");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    if (writes != NULL)
        rc |= hr_string_list_add(&env, "HIRETRY_WRITES=%s", writes);

    if (rc == 0)
        rc = hr_run_across_restart(server, program, &argv, &env, op,
                                   HR_CALLS_BEFORE_KILL, HR_DOWN_MS,
                                   HR_PROGRAM_TIMEOUT_MS);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/*
 * INCR is not repeat-safe, so these runs let the shim repeat every command
 * (HIRETRY_WRITES=all). Otherwise a kill that cuts an INCR in flight would
 * rightly reach the program as an error, which hr_check_incr_safe covers.
 */
static int hr_run(hr_server *server, hr_program *program, const char *op,
                  bool use_unix_socket)
{
    const char *writes = strcmp(op, "incr") == 0 ? "all" : NULL;

    return hr_run_writes(server, program, op, use_unix_socket, writes);
}

/*
 * Under the default HIRETRY_WRITES=safe an INCR whose reply was lost is
 * never sent twice: the program may see an error for it, and the counter
 * counts it at most once.
 */
static void hr_check_incr_safe(hr_server_kind kind)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    long long counter;

    if (!hr_start(&server, kind))
        return;
    HR_ASSERT_INT_EQ(hr_run_writes(&server, &program, "incr", false, NULL), 0);
    hr_workload_results_read(&program, &r);
    counter = hr_server_get_integer(&server, HR_DB, "counter");

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(r.ok + r.errors, HR_OPS);
    HR_ASSERT_INT_EQ(r.incr_acknowledged, r.ok);
    /* One crash cuts at most one INCR in flight. */
    HR_ASSERT_UINT_IN(r.errors, 0, 1);
    HR_ASSERT_UINT_IN(counter, r.incr_acknowledged,
                      r.incr_acknowledged + r.errors);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);

    hr_test_finish(&server, &program, failures);
}

/* The checks that every command kind shares. */
static void hr_check_no_error(const hr_server *server, const hr_program *p,
                              const hr_workload_results *r)
{
    HR_ASSERT_INT_EQ(p->status, 0);
    HR_ASSERT_INT_EQ(r->ops, HR_OPS);
    HR_ASSERT_INT_EQ(r->errors, 0);
    HR_ASSERT_INT_EQ(r->ok, HR_OPS);
    HR_ASSERT_STR_EQ(r->first_error, "");
    HR_ASSERT_INT_EQ(hr_server_dbsize(server, 0), 0);
}

static void hr_check_incr(hr_server_kind kind, bool use_unix_socket)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    long long counter;

    if (!hr_start(&server, kind))
        return;
    HR_ASSERT_INT_EQ(hr_run(&server, &program, "incr", use_unix_socket), 0);
    hr_workload_results_read(&program, &r);
    counter = hr_server_get_integer(&server, HR_DB, "counter");

    hr_check_no_error(&server, &program, &r);
    HR_ASSERT_INT_EQ(r.incr_acknowledged, HR_OPS);
    HR_ASSERT_INT_EQ(r.last_incr_value, counter);

    /* Acknowledged INCRs are durable with appendfsync always. The kill can
     * cut one INCR after it ran, and the shim then runs it again. */
    HR_ASSERT_UINT_IN(counter, r.incr_acknowledged, r.incr_acknowledged + 1);

    /* The program reached the restarted server. */
    HR_ASSERT_UINT_IN(hr_server_command_calls(&server, "incr"), 1, HR_OPS);

    hr_test_finish(&server, &program, failures);
}

/* Counts the keys key:<i> in db 5 whose value is not value-<i>. */
static long long hr_count_wrong_keys(const hr_server *server, long long ops)
{
    long long wrong = 0;

    for (long long i = 0; i < ops; i++) {
        char key[32];
        char expected[32];
        char *value;

        snprintf(key, sizeof(key), "key:%lld", i);
        snprintf(expected, sizeof(expected), "value-%lld", i);
        value = hr_server_get(server, HR_DB, key);
        if (value == NULL || strcmp(value, expected) != 0) {
            if (wrong == 0)
                fprintf(stderr, "%s is %s, not %s\n", key,
                        value ? value : "missing", expected);
            wrong++;
        }
        free(value);
    }
    return wrong;
}

static void hr_check_set(hr_server_kind kind)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;

    if (!hr_start(&server, kind))
        return;
    HR_ASSERT_INT_EQ(hr_run(&server, &program, "set", false), 0);
    hr_workload_results_read(&program, &r);

    hr_check_no_error(&server, &program, &r);
    HR_ASSERT_INT_EQ(r.set_acknowledged, HR_OPS);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, HR_DB), HR_OPS);
    HR_ASSERT_INT_EQ(hr_count_wrong_keys(&server, HR_OPS), 0);

    hr_test_finish(&server, &program, failures);
}

static void hr_check_get(hr_server_kind kind)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    redisReply *reply;

    if (!hr_start(&server, kind))
        return;

    /* Only db 5 has the key, so a GET in db 0 would reply nil. */
    reply = hr_server_command(&server, HR_DB, "SET fixed %s", HR_FIXED_VALUE);
    HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);

    HR_ASSERT_INT_EQ(hr_run(&server, &program, "get", false), 0);
    hr_workload_results_read(&program, &r);

    hr_check_no_error(&server, &program, &r);
    HR_ASSERT_INT_EQ(r.get_hits, HR_OPS);
    HR_ASSERT_INT_EQ(r.get_nil, 0);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, HR_DB), 1);

    hr_test_finish(&server, &program, failures);
}

static void test_restart_incr_valkey(void)
{
    hr_check_incr(HR_SERVER_VALKEY, false);
}

static void test_restart_incr_redis(void)
{
    hr_check_incr(HR_SERVER_REDIS, false);
}

static void test_restart_set_valkey(void)
{
    hr_check_set(HR_SERVER_VALKEY);
}

static void test_restart_set_redis(void)
{
    hr_check_set(HR_SERVER_REDIS);
}

static void test_restart_get_valkey(void)
{
    hr_check_get(HR_SERVER_VALKEY);
}

static void test_restart_get_redis(void)
{
    hr_check_get(HR_SERVER_REDIS);
}

static void test_restart_unix_incr_valkey(void)
{
    hr_check_incr(HR_SERVER_VALKEY, true);
}

static void test_restart_unix_incr_redis(void)
{
    hr_check_incr(HR_SERVER_REDIS, true);
}

static void test_restart_incr_safe_valkey(void)
{
    hr_check_incr_safe(HR_SERVER_VALKEY);
}

static void test_restart_incr_safe_redis(void)
{
    hr_check_incr_safe(HR_SERVER_REDIS);
}

static CU_TestInfo tests[] = {
    {"test_restart_incr_safe_valkey", test_restart_incr_safe_valkey},
    {"test_restart_incr_safe_redis", test_restart_incr_safe_redis},
    {"test_restart_incr_valkey", test_restart_incr_valkey},
    {"test_restart_incr_redis", test_restart_incr_redis},
    {"test_restart_set_valkey", test_restart_set_valkey},
    {"test_restart_set_redis", test_restart_set_redis},
    {"test_restart_get_valkey", test_restart_get_valkey},
    {"test_restart_get_redis", test_restart_get_redis},
    {"test_restart_unix_incr_valkey", test_restart_unix_incr_valkey},
    {"test_restart_unix_incr_redis", test_restart_unix_incr_redis},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration restart", tests);
}

/*
 * The shim in a host that loads hiredis privately, as daemons with plugins
 * do: hr_plugin_host links no libhiredis and opens hr_plugin, a module
 * linked with libhiredis, with dlopen(RTLD_NOW | RTLD_LOCAL). The preloaded
 * shim still interposes the plugin's hiredis calls, but dlsym(RTLD_NEXT)
 * cannot see that libhiredis, so the shim must find it among the loaded
 * objects instead.
 *
 * The plugin runs INCR in db 5 with AUTH, and opens a new context after a
 * failed command. The tests kill a real valkey-server with SIGKILL in the
 * middle of the loop and start it again 500 ms later, with and without the
 * shim, and check the plugin's counts against the counter on the server.
 * Other tests close the plugin with dlclose() and open it again. Without
 * the shim that unmaps libhiredis, and the host then reserves its old
 * address range. A shim that calls through a pointer into the old mapping
 * then crashes the host.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_OPS 300
#define HR_DB 5
#define HR_PASSWORD "plugin-password"
#define HR_CALLS_BEFORE_KILL 50
#define HR_DOWN_MS 500

#define HR_STRINGIFY2(x) #x
#define HR_STRINGIFY(x) HR_STRINGIFY2(x)
/* The file name of the libhiredis the test programs are linked with. */
#define HR_HIREDIS_FILE "/libhiredis.so." HR_STRINGIFY(HIREDIS_SONAME) " "
#define HR_PROGRAM_TIMEOUT_MS 60000

/* How the host opens the plugin and which environment it runs in. */
typedef struct hr_host_run {
    bool preload;       /* LD_PRELOAD the shim */
    const char *writes; /* HIRETRY_WRITES, or NULL for the default */
    const char *log;    /* HIRETRY_LOG */
    int rounds;         /* --rounds: 1, or 2 for the reload tests */
    bool global;        /* --global: RTLD_GLOBAL instead of RTLD_LOCAL */
} hr_host_run;

/* Starts valkey-server with every write fsynced, or fails the test. */
static bool hr_start(hr_server *server)
{
    hr_server_options options = {
        .kind = HR_SERVER_VALKEY,
        .password = HR_PASSWORD,
        .appendonly = true,
    };
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Appends the host, its options, the plugin and the plugin's settings,
 * with ops INCRs in each round. */
static int hr_host_args(hr_string_list *argv, const hr_server *server,
                        const hr_host_run *run, long long ops)
{
    int rc = hr_string_list_add(argv, "%s", HIRETRY_PLUGIN_HOST_PATH);

    rc |= hr_string_list_add(argv, "--rounds");
    rc |= hr_string_list_add(argv, "%d", run->rounds);
    rc |= hr_string_list_add(argv, "--reserve-unmapped");
    if (run->global)
        rc |= hr_string_list_add(argv, "--global");
    rc |= hr_string_list_add(argv, "%s", HIRETRY_PLUGIN_PATH);
    rc |= hr_string_list_add(argv, "host=127.0.0.1");
    rc |= hr_string_list_add(argv, "port=%d", server->port);
    rc |= hr_string_list_add(argv, "password=%s", HR_PASSWORD);
    rc |= hr_string_list_add(argv, "db=%d", HR_DB);
    rc |= hr_string_list_add(argv, "ops=%lld", ops);
    rc |= hr_string_list_add(argv, "sleep_ms=5");
    rc |= hr_string_list_add(argv, "timeout_ms=2000");
    return rc;
}

static int hr_host_env(hr_string_list *env, const hr_host_run *run)
{
    int rc = 0;

    if (run->preload)
        rc |= hr_preload_env(env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(env, "HIRETRY_RETRIES=50");
    rc |= hr_string_list_add(env, "HIRETRY_LOG=%s", run->log);
    if (run->writes != NULL)
        rc |= hr_string_list_add(env, "HIRETRY_WRITES=%s", run->writes);
    return rc;
}

/*
 * Runs the host with HR_OPS INCRs per round across a server crash in its
 * last round: the kill comes once the server has run HR_CALLS_BEFORE_KILL
 * INCRs of that round.
 */
static int hr_run_host_across_restart(hr_server *server, hr_program *program,
                                      const hr_host_run *run)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    long long calls_before = (long long)(run->rounds - 1) * HR_OPS;
    int rc = hr_host_args(&argv, server, run, HR_OPS);

    rc |= hr_host_env(&env, run);
    if (rc == 0)
        rc = hr_run_across_restart(server, program, &argv, &env, "incr",
                                   calls_before + HR_CALLS_BEFORE_KILL,
                                   HR_DOWN_MS, HR_PROGRAM_TIMEOUT_MS);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Runs the host against a server that keeps running. */
static int hr_run_host(const hr_server *server, hr_program *program,
                       const hr_host_run *run, long long ops)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_host_args(&argv, server, run, ops);

    rc |= hr_host_env(&env, run);
    if (rc == 0)
        rc = hr_program_run(program, &argv, &env, HR_PROGRAM_TIMEOUT_MS);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Returns the round's value of key, such as "errors", or -1. */
static long long hr_round_integer(const hr_program *program, int round,
                                  const char *key)
{
    char name[64];

    snprintf(name, sizeof(name), "round%d.%s", round, key);
    return hr_program_integer(program, name);
}

/* Checks that libhiredis came only with the plugin, and stayed local. */
static void hr_check_private_hiredis(const hr_program *program, int rounds)
{
    HR_ASSERT_INT_EQ(hr_program_integer(program, "hiredis_loaded_at_start"), 0);
    for (int round = 1; round <= rounds; round++)
        HR_ASSERT_INT_EQ(hr_round_integer(program, round, "hiredis_global"), 0);
}

/* Returns true when the program's stderr contains text. */
static bool hr_stderr_contains(const hr_program *program, const char *text)
{
    bool found = program->err != NULL && strstr(program->err, text) != NULL;

    if (!found)
        fprintf(stderr, "stderr lacks \"%s\"\n", text);
    return found;
}

/*
 * Under HIRETRY_WRITES=all the shim sends a lost INCR again, so no error
 * reaches the plugin, and the kill can make one INCR count twice.
 */
static void test_plugin_host_restart_incr_all(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_host_run run = {
        .preload = true, .writes = "all", .log = "info", .rounds = 1};
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    long long counter;

    if (!hr_start(&server))
        return;
    HR_ASSERT_INT_EQ(hr_run_host_across_restart(&server, &program, &run), 0);
    hr_workload_results_read(&program, &r);
    counter = hr_server_get_integer(&server, HR_DB, "counter");

    HR_ASSERT_INT_EQ(program.status, 0);
    hr_check_private_hiredis(&program, 1);
    HR_ASSERT_INT_EQ(r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(r.errors, 0);
    HR_ASSERT_INT_EQ(r.ok, HR_OPS);
    HR_ASSERT_STR_EQ(r.first_error, "");
    HR_ASSERT_INT_EQ(r.incr_acknowledged, HR_OPS);
    HR_ASSERT_INT_EQ(r.last_incr_value, counter);
    HR_ASSERT_UINT_IN(counter, r.incr_acknowledged, r.incr_acknowledged + 1);
    HR_ASSERT_UINT_IN(hr_server_command_calls(&server, "incr"), 1, HR_OPS);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);
    HR_ASSERT_TRUE(hr_stderr_contains(&program, "event=retry"));

    hr_test_finish(&server, &program, failures);
}

/*
 * Under the default HIRETRY_WRITES=safe an INCR whose reply was lost is
 * never sent again: the plugin may see an error for it, and the counter
 * counts it at most once.
 */
static void test_plugin_host_restart_incr_safe(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_host_run run = {.preload = true, .log = "info", .rounds = 1};
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    long long counter;

    if (!hr_start(&server))
        return;
    HR_ASSERT_INT_EQ(hr_run_host_across_restart(&server, &program, &run), 0);
    hr_workload_results_read(&program, &r);
    counter = hr_server_get_integer(&server, HR_DB, "counter");

    HR_ASSERT_INT_EQ(program.status, 0);
    hr_check_private_hiredis(&program, 1);
    HR_ASSERT_INT_EQ(r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(r.ok + r.errors, HR_OPS);
    HR_ASSERT_INT_EQ(r.incr_acknowledged, r.ok);
    /* One crash cuts at most one INCR in flight. */
    HR_ASSERT_UINT_IN(r.errors, 0, 1);
    HR_ASSERT_UINT_IN(counter, r.incr_acknowledged,
                      r.incr_acknowledged + r.errors);
    HR_ASSERT_INT_EQ(r.last_incr_value, counter);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);
    HR_ASSERT_TRUE(hr_stderr_contains(&program, "event=retry"));

    hr_test_finish(&server, &program, failures);
}

/*
 * The same host without the shim: the plugin gets an error for the crash,
 * and more while it fails to connect to the stopped server, so the checks
 * of the two tests above would fail.
 */
static void test_plugin_host_restart_without_shim(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_host_run run = {.preload = false, .log = "info", .rounds = 1};
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    long long counter;

    if (!hr_start(&server))
        return;
    HR_ASSERT_INT_EQ(hr_run_host_across_restart(&server, &program, &run), 0);
    hr_workload_results_read(&program, &r);
    counter = hr_server_get_integer(&server, HR_DB, "counter");

    HR_ASSERT_INT_EQ(program.status, 0);
    hr_check_private_hiredis(&program, 1);
    HR_ASSERT_INT_EQ(r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(r.ok + r.errors, HR_OPS);
    /* Every INCR in the 500 ms without a server fails to connect. */
    HR_ASSERT_UINT_IN(r.errors, 2, HR_OPS);
    HR_ASSERT_UINT_IN(counter, r.incr_acknowledged,
                      r.incr_acknowledged + r.errors);
    HR_ASSERT_INT_EQ(r.last_incr_value, counter);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);
    /* No shim ran: it would have logged its retries. */
    HR_ASSERT_TRUE(program.err != NULL &&
                   strstr(program.err, "hiretry:") == NULL);

    hr_test_finish(&server, &program, failures);
}

/*
 * Without the shim, dlclose() of the plugin unmaps libhiredis, and the
 * reserved range makes the second round map it at another address. This
 * shows that the reload tests below do meet a moved libhiredis unless the
 * shim keeps it loaded.
 */
static void test_plugin_host_reload_moves_hiredis(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_host_run run = {.preload = false, .log = "info", .rounds = 2};
    hr_server server;
    hr_program program = {0};
    char first_base[64] = "";
    char second_base[64] = "";

    if (!hr_start(&server))
        return;
    HR_ASSERT_INT_EQ(hr_run_host(&server, &program, &run, 20), 0);
    hr_program_value(&program, "round1.hiredis_base", first_base,
                     sizeof(first_base));
    hr_program_value(&program, "round2.hiredis_base", second_base,
                     sizeof(second_base));

    HR_ASSERT_INT_EQ(program.status, 0);
    hr_check_private_hiredis(&program, 2);
    HR_ASSERT_INT_EQ(hr_round_integer(&program, 1, "hiredis_unmapped"), 1);
    HR_ASSERT_TRUE(strncmp(first_base, "0x", 2) == 0);
    HR_ASSERT_TRUE(strncmp(second_base, "0x", 2) == 0);
    HR_ASSERT_TRUE(strcmp(first_base, second_base) != 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "errors"), 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "incr_acknowledged"), 40);
    HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "counter"), 40);

    hr_test_finish(&server, &program, failures);
}

/*
 * Closes the plugin after round 1 and opens it again for round 2, which
 * the server crash interrupts. The shim must reach the libhiredis of the
 * second round. A shim that let libhiredis be unmapped and kept its
 * pointers from round 1 would jump into the reserved range and crash.
 */
static void hr_check_reload(bool global)
{
    unsigned failures = CU_get_number_of_failures();
    hr_host_run run = {.preload = true,
                       .writes = "all",
                       .log = "info",
                       .rounds = 2,
                       .global = global};
    hr_server server;
    hr_program program = {0};
    hr_workload_results r;
    long long counter;

    if (!hr_start(&server))
        return;
    HR_ASSERT_INT_EQ(hr_run_host_across_restart(&server, &program, &run), 0);
    hr_workload_results_read(&program, &r);
    counter = hr_server_get_integer(&server, HR_DB, "counter");

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "rounds"), 2);
    HR_ASSERT_INT_EQ(hr_round_integer(&program, 1, "errors"), 0);
    HR_ASSERT_INT_EQ(hr_round_integer(&program, 1, "incr_acknowledged"),
                     HR_OPS);
    HR_ASSERT_INT_EQ(hr_round_integer(&program, 2, "errors"), 0);
    HR_ASSERT_INT_EQ(hr_round_integer(&program, 2, "incr_acknowledged"),
                     HR_OPS);
    HR_ASSERT_INT_EQ(r.errors, 0);
    HR_ASSERT_INT_EQ(r.last_incr_value, counter);
    HR_ASSERT_UINT_IN(counter, r.incr_acknowledged, r.incr_acknowledged + 1);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);
    HR_ASSERT_TRUE(hr_stderr_contains(&program, "event=retry"));

    hr_test_finish(&server, &program, failures);
}

static void test_plugin_host_reload_local(void)
{
    hr_check_reload(false);
}

/* With RTLD_GLOBAL the shim finds libhiredis through RTLD_NEXT, which
 * keeps no reference to it either. */
static void test_plugin_host_reload_global(void)
{
    hr_check_reload(true);
}

/* HIRETRY_LOG=debug names the libhiredis the shim found, and how. */
static void hr_check_debug_log(bool global, const char *scope)
{
    unsigned failures = CU_get_number_of_failures();
    hr_host_run run = {
        .preload = true, .log = "debug", .rounds = 1, .global = global};
    hr_server server;
    hr_program program = {0};

    if (!hr_start(&server))
        return;
    HR_ASSERT_INT_EQ(hr_run_host(&server, &program, &run, 5), 0);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "errors"), 0);
    HR_ASSERT_TRUE(hr_stderr_contains(&program, "event=hiredis_found"));
    HR_ASSERT_TRUE(hr_stderr_contains(&program, HR_HIREDIS_FILE));
    HR_ASSERT_TRUE(hr_stderr_contains(&program, scope));
    HR_ASSERT_TRUE(hr_stderr_contains(&program, " pinned=yes"));

    hr_test_finish(&server, &program, failures);
}

static void test_plugin_host_debug_log_local(void)
{
    hr_check_debug_log(false, " scope=local ");
}

static void test_plugin_host_debug_log_global(void)
{
    hr_check_debug_log(true, " scope=global ");
}

static CU_TestInfo tests[] = {
    {"test_plugin_host_restart_incr_all", test_plugin_host_restart_incr_all},
    {"test_plugin_host_restart_incr_safe", test_plugin_host_restart_incr_safe},
    {"test_plugin_host_restart_without_shim",
     test_plugin_host_restart_without_shim},
    {"test_plugin_host_reload_moves_hiredis",
     test_plugin_host_reload_moves_hiredis},
    {"test_plugin_host_reload_local", test_plugin_host_reload_local},
    {"test_plugin_host_reload_global", test_plugin_host_reload_global},
    {"test_plugin_host_debug_log_local", test_plugin_host_debug_log_local},
    {"test_plugin_host_debug_log_global", test_plugin_host_debug_log_global},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration plugin host", tests);
}

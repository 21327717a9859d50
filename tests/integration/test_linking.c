/*
 * How hiredis reaches the program decides whether the preloaded shim
 * receives its calls. Each test runs a program across a SIGKILL of a real
 * valkey-server and a restart 500 ms later, under HIRETRY_WRITES=all, so
 * that with the shim no INCR fails and without it at least one does:
 *
 * - hr_workload_static, hr_workload linked with libhiredis.a: its calls
 *   never leave the executable, so the shim is loaded but idle and prints
 *   nothing, and the program behaves as without it.
 * - hr_workload copied and made setuid root, run as nobody through
 *   setpriv: the loader ignores LD_PRELOAD for a secure-execution program.
 *   The same copy without the setuid bit, run as nobody, shows the shim
 *   working, so the check cannot pass by accident.
 * - hr_dlopen_client, which opens libhiredis with dlopen() after it starts:
 *   functions found with dlsym() on the library's handle are hiredis's
 *   own, with RTLD_LOCAL and RTLD_GLOBAL alike. With hiredis 0.14 they
 *   bypass the shim. hiredis 1.x's redisConnect calls
 *   redisConnectWithOptions, and its redisCommand calls redisvCommand,
 *   through the PLT and so through the shim, which then retries them.
 *   Functions found with dlsym(RTLD_DEFAULT) after an RTLD_GLOBAL open are
 *   the shim's, and the program survives the restart.
 */
#include "harness.h"
#include "hr_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define HR_OPS 300
#define HR_CALLS_BEFORE_KILL 50
#define HR_DOWN_MS 500
#define HR_PROGRAM_TIMEOUT_MS 60000
/* The user and group of an ordinary user, for the setuid tests. */
#define HR_NOBODY "65534"

/* Starts valkey-server with every write fsynced, so that the counter
 * survives the SIGKILL. */
static bool hr_start(hr_server *server)
{
    hr_server_options options = {.kind = HR_SERVER_VALKEY, .appendonly = true};
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Adds the shim and the settings under which no INCR may fail. */
static int hr_shim_env(hr_string_list *env)
{
    int rc = hr_preload_env(env, HIRETRY_SHIM_PATH);

    rc |= hr_string_list_add(env, "HIRETRY_RETRIES=50");
    rc |= hr_string_list_add(env, "HIRETRY_WRITES=all");
    rc |= hr_string_list_add(env, "HIRETRY_LOG=info");
    return rc;
}

/* Appends an hr_workload-compatible program's INCR options. */
static int hr_workload_options(hr_string_list *argv, const hr_server *server)
{
    int rc = hr_string_list_add(argv, "--host");

    rc |= hr_string_list_add(argv, "127.0.0.1");
    rc |= hr_string_list_add(argv, "--port");
    rc |= hr_string_list_add(argv, "%d", server->port);
    rc |= hr_string_list_add(argv, "--ops");
    rc |= hr_string_list_add(argv, "%d", HR_OPS);
    rc |= hr_string_list_add(argv, "--sleep-ms");
    rc |= hr_string_list_add(argv, "5");
    return rc;
}

/* Runs argv with the shim preloaded across a server restart. */
static void hr_run_restart(hr_server *server, hr_program *program,
                           hr_string_list *argv)
{
    hr_string_list env = {0};
    int rc = hr_shim_env(&env);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc == 0)
        HR_ASSERT_INT_EQ(hr_run_across_restart(server, program, argv, &env,
                                               "incr", HR_CALLS_BEFORE_KILL,
                                               HR_DOWN_MS,
                                               HR_PROGRAM_TIMEOUT_MS),
                         0);
    hr_string_list_free(&env);
}

/* Checks a run that the shim did not reach: plain hiredis's errors. */
static void hr_check_plain(const hr_server *server, const hr_program *program)
{
    hr_workload_results r;

    hr_workload_results_read(program, &r);
    HR_ASSERT_INT_EQ(program->status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(r.ok + r.errors, HR_OPS);
    HR_ASSERT_UINT_IN(r.errors, 1, HR_OPS);
    HR_ASSERT_INT_EQ(r.last_incr_value,
                     hr_server_get_integer(server, 0, "counter"));
    HR_ASSERT_TRUE(program->err != NULL &&
                   strstr(program->err, "hiretry:") == NULL);
}

/* Checks a run that went through the shim: no error reached the program. */
static void hr_check_shim(const hr_server *server, const hr_program *program)
{
    hr_workload_results r;
    long long counter = hr_server_get_integer(server, 0, "counter");

    hr_workload_results_read(program, &r);
    HR_ASSERT_INT_EQ(program->status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_OPS);
    HR_ASSERT_INT_EQ(r.errors, 0);
    HR_ASSERT_INT_EQ(r.ok, HR_OPS);
    HR_ASSERT_INT_EQ(r.last_incr_value, counter);
    /* A kill that cuts an INCR in flight may make it count twice. */
    HR_ASSERT_UINT_IN(counter, HR_OPS, HR_OPS + 1);
    HR_ASSERT_TRUE(program->err != NULL &&
                   strstr(program->err, "event=retry") != NULL);
}

static void test_linking_static_hiredis(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_string_list argv = {0};
    hr_server server;
    hr_program program = {0};
    int rc;

    if (HIRETRY_WORKLOAD_STATIC_PATH[0] == '\0') {
        fputs("test_linking: skipped, libhiredis.a was not found\n", stderr);
        return;
    }
    if (!hr_start(&server))
        return;
    rc = hr_string_list_add(&argv, "%s", HIRETRY_WORKLOAD_STATIC_PATH);
    rc |= hr_workload_options(&argv, &server);
    HR_ASSERT_INT_EQ(rc, 0);
    hr_run_restart(&server, &program, &argv);

    hr_check_plain(&server, &program);
    HR_ASSERT_STR_EQ(program.err, "");

    hr_string_list_free(&argv);
    hr_test_finish(&server, &program, failures);
}

/*
 * Copies hr_workload into a new directory that every user may enter, with the
 * setuid bit when setuid is true. Returns 0, 1 when the test cannot be
 * arranged here (printed), or -1.
 */
static int hr_copy_workload(char *dir, size_t dir_size, char *path,
                            size_t path_size, bool setuid)
{
    struct statvfs fs;
    char *content;
    size_t length = 0;
    FILE *source = fopen(HIRETRY_WORKLOAD_PATH, "rb");
    FILE *target;

    if (geteuid() != 0) {
        fputs("test_linking: skipped, setting a setuid root bit needs "
              "root\n",
              stderr);
        return 1;
    }
    snprintf(dir, dir_size, "/tmp/hiretry-setuid-XXXXXX");
    if (source == NULL || mkdtemp(dir) == NULL || chmod(dir, 0755) != 0)
        return -1;
    if (statvfs(dir, &fs) == 0 && (fs.f_flag & ST_NOSUID)) {
        fprintf(stderr, "test_linking: skipped, %s is on a nosuid mount\n",
                dir);
        return 1;
    }
    snprintf(path, path_size, "%s/hr_workload", dir);

    content = malloc(16 << 20);
    if (content != NULL)
        length = fread(content, 1, 16 << 20, source);
    fclose(source);
    target = fopen(path, "wb");
    if (content == NULL || target == NULL ||
        fwrite(content, 1, length, target) != length) {
        free(content);
        if (target != NULL)
            fclose(target);
        return -1;
    }
    free(content);
    if (fclose(target) != 0)
        return -1;
    return chmod(path, setuid ? 04755 : 0755);
}

/* Runs the copy of hr_workload as the user nobody, with the shim preloaded. */
static void hr_check_setuid(bool setuid)
{
    unsigned failures = CU_get_number_of_failures();
    hr_string_list argv = {0};
    hr_server server;
    hr_program program = {0};
    char dir[64];
    char path[128];
    int rc = hr_copy_workload(dir, sizeof(dir), path, sizeof(path), setuid);

    HR_ASSERT_TRUE(rc >= 0);
    if (rc != 0 || !hr_start(&server)) {
        if (rc >= 0 && dir[0] != '\0')
            hr_harness_remove_tree(dir);
        return;
    }
    rc = hr_string_list_add(&argv, "/usr/bin/setpriv");
    rc |= hr_string_list_add(&argv, "--reuid=" HR_NOBODY);
    rc |= hr_string_list_add(&argv, "--regid=" HR_NOBODY);
    rc |= hr_string_list_add(&argv, "--clear-groups");
    rc |= hr_string_list_add(&argv, "%s", path);
    rc |= hr_workload_options(&argv, &server);
    HR_ASSERT_INT_EQ(rc, 0);
    hr_run_restart(&server, &program, &argv);

    if (setuid)
        hr_check_plain(&server, &program);
    else
        hr_check_shim(&server, &program);

    hr_string_list_free(&argv);
    hr_harness_remove_tree(dir);
    hr_test_finish(&server, &program, failures);
}

/* The loader drops LD_PRELOAD for a setuid program run by another user. */
static void test_linking_setuid_program(void)
{
    hr_check_setuid(true);
}

/* The control: the same copy and user without the setuid bit. */
static void test_linking_setuid_control(void)
{
    hr_check_setuid(false);
}

/* Runs hr_dlopen_client with the shim, the given options, across a
 * restart, and checks which object its redisCommand came from. */
static void hr_check_dlopen(const char *const *options, const char *object,
                            bool through_shim)
{
    unsigned failures = CU_get_number_of_failures();
    hr_string_list argv = {0};
    hr_server server;
    hr_program program = {0};
    char found[128] = "";
    int rc;

    if (!hr_start(&server))
        return;
    rc = hr_string_list_add(&argv, "%s", HIRETRY_DLOPEN_CLIENT_PATH);
    rc |= hr_string_list_add(&argv, "--port");
    rc |= hr_string_list_add(&argv, "%d", server.port);
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "%d", HR_OPS);
    for (size_t i = 0; options[i] != NULL; i++)
        rc |= hr_string_list_add(&argv, "%s", options[i]);
    HR_ASSERT_INT_EQ(rc, 0);
    hr_run_restart(&server, &program, &argv);
    hr_program_value(&program, "redisCommand.object", found, sizeof(found));

    HR_ASSERT_STR_EQ(found, object);
    if (through_shim)
        hr_check_shim(&server, &program);
    else
        hr_check_plain(&server, &program);

    hr_string_list_free(&argv);
    hr_test_finish(&server, &program, failures);
}

#define HR_STRINGIFY2(x) #x
#define HR_STRINGIFY(x) HR_STRINGIFY2(x)
#define HR_HIREDIS_FILE "libhiredis.so." HR_STRINGIFY(HIREDIS_SONAME)

/* Whether hiredis's own functions reach the shim through their inner
 * calls: only hiredis 1.x's do. */
#if HIREDIS_MAJOR >= 1
#define HR_INNER_CALLS_REACH_SHIM true
#else
#define HR_INNER_CALLS_REACH_SHIM false
#endif

static void test_linking_dlopen_local_handle(void)
{
    const char *const options[] = {NULL};

    hr_check_dlopen(options, HR_HIREDIS_FILE, HR_INNER_CALLS_REACH_SHIM);
}

static void test_linking_dlopen_global_handle(void)
{
    const char *const options[] = {"--global", NULL};

    hr_check_dlopen(options, HR_HIREDIS_FILE, HR_INNER_CALLS_REACH_SHIM);
}

static void test_linking_dlopen_global_default(void)
{
    const char *const options[] = {"--global", "--default-scope", NULL};

    hr_check_dlopen(options, "libhiretry.so", true);
}

static CU_TestInfo tests[] = {
    {"test_linking_static_hiredis", test_linking_static_hiredis},
    {"test_linking_setuid_program", test_linking_setuid_program},
    {"test_linking_setuid_control", test_linking_setuid_control},
    {"test_linking_dlopen_local_handle", test_linking_dlopen_local_handle},
    {"test_linking_dlopen_global_handle", test_linking_dlopen_global_handle},
    {"test_linking_dlopen_global_default", test_linking_dlopen_global_default},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("linking", tests);
}

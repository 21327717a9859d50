/*
 * Descriptors and memory of a preloaded program across many reconnects.
 *
 * hr_script sends a GET, then waits on a file 200 times. Each time, the
 * test kills the program's connection with CLIENT KILL before it lets the
 * program send the next GET, which goes out on a new connection. The program's
 * open descriptors, counted in /proc/PID/fd, must be as many after the 200
 * reconnects as after the first GET. The socket of a reconnect must be
 * close-on-exec: a child the program runs with system(3) lists its own
 * descriptors, and none may be a socket. A run under valgrind's memcheck
 * across a server restart must lose no memory.
 */
#include "harness.h"
#include "hr_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_RECONNECTS 200
#define HR_PROGRAM_TIMEOUT_MS 120000
#define HR_VALGRIND_TIMEOUT_MS 120000

static bool hr_start(hr_server *server)
{
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Returns how many descriptors pid has open, or -1. */
static long hr_count_fds(pid_t pid)
{
    char path[64];
    DIR *dir;
    struct dirent *entry;
    long count = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    dir = opendir(path);
    if (dir == NULL)
        return -1;
    while ((entry = readdir(dir)) != NULL)
        count += entry->d_name[0] != '.';
    closedir(dir);
    return count;
}

/* Formats the path of the i-th ready or go file into path[256]. */
static int hr_step_file(char *path, const char *kind, int i)
{
    return hr_harness_path(path, 256, "%s/descriptors-%s-%d", hr_harness_dir(),
                           kind, i);
}

/*
 * Appends the steps: GET, then HR_RECONNECTS times a ready file, a wait
 * for the go file and a GET, then a last ready and go, then a child that
 * lists its descriptors into children_path.
 */
static int hr_add_steps(hr_string_list *argv, const char *children_path)
{
    char path[256];
    int rc = hr_string_list_add(argv, "GET key");

    for (int i = 0; i <= HR_RECONNECTS && rc == 0; i++) {
        rc |= hr_step_file(path, "ready", i);
        rc |= hr_string_list_add(argv, "@touch:%s", path);
        rc |= hr_step_file(path, "go", i);
        rc |= hr_string_list_add(argv, "@wait:%s", path);
        if (i < HR_RECONNECTS)
            rc |= hr_string_list_add(argv, "GET key");
    }
    /* The shell replaces itself with ls, so $$ is the child's own pid. */
    rc |= hr_string_list_add(argv, "@system:exec ls -l /proc/$$/fd/ > %s",
                             children_path);
    return rc;
}

/* Counts the lines of text that contain needle. */
static long hr_count_lines(const char *text, const char *needle)
{
    long count = 0;

    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char copy[512];

        snprintf(copy, sizeof(copy), "%.*s", (int)len, line);
        count += strstr(copy, needle) != NULL;
        line = end != NULL ? end + 1 : NULL;
    }
    return count;
}

/* Lets the program go through the HR_RECONNECTS kills. Returns the
 * descriptor counts after the first GET and after the last. */
static void hr_kill_each_connection(const hr_server *server,
                                    const hr_program *program, long *first,
                                    long *last)
{
    char path[256];

    *first = *last = -1;
    for (int i = 0; i <= HR_RECONNECTS; i++) {
        if (hr_step_file(path, "ready", i) != 0 ||
            hr_harness_wait_file(path) != 0)
            return;
        if (i == 0)
            *first = hr_count_fds(program->pid);
        if (i == HR_RECONNECTS)
            *last = hr_count_fds(program->pid);
        else
            HR_ASSERT_INT_EQ(hr_server_kill_clients(server), 1);
        if (hr_step_file(path, "go", i) != 0 || hr_harness_touch(path) != 0)
            return;
    }
}

static void test_descriptors_stable_across_reconnects(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char children_path[256];
    char *children;
    long first;
    long last;
    int rc;

    if (!hr_start(&server))
        return;
    rc = hr_harness_path(children_path, sizeof(children_path),
                         "%s/descriptors-child", hr_harness_dir());
    rc |= hr_script_args(&argv, &server, 2000);
    rc |= hr_add_steps(&argv, children_path);
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=5");
    HR_ASSERT_INT_EQ(rc, 0);
    if (rc == 0)
        HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);

    hr_kill_each_connection(&server, &program, &first, &last);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_TRUE(first > 0);
    HR_ASSERT_INT_EQ(last, first);
    /* Every GET got its nil reply: none failed across the kills. */
    HR_ASSERT_INT_EQ(hr_count_lines(program.out, "=nil"), HR_RECONNECTS + 1);
    HR_ASSERT_INT_EQ(hr_count_lines(program.out, "=failed"), 0);
    HR_ASSERT_UINT_IN(
        hr_server_info_integer(&server, "total_connections_received"),
        HR_RECONNECTS + 1, 3 * HR_RECONNECTS + 10);

    children = hr_harness_read_file(children_path);
    HR_ASSERT_TRUE(children != NULL);
    if (children != NULL) {
        HR_ASSERT_INT_EQ(hr_count_lines(children, "socket:"), 0);
        if (CU_get_number_of_failures() > failures)
            fprintf(stderr, "the child's descriptors:\n%s", children);
    }
    free(children);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    hr_test_finish(&server, &program, failures);
}

/*
 * hr_workload under valgrind's memcheck with the shim preloaded, across a
 * server kill and restart: no definitely or indirectly lost block and no
 * invalid access.
 */
static void test_descriptors_valgrind_restart(void)
{
#ifndef HIRETRY_VALGRIND_PATH
    fprintf(stderr, "valgrind is not installed, or this is a sanitizer "
                    "build: leak check skipped\n");
#else
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    hr_workload_results r;
    int rc;

    if (!hr_start(&server))
        return;
    rc = hr_string_list_add(&argv, "%s", HIRETRY_VALGRIND_PATH);
    rc |= hr_string_list_add(&argv, "-q");
    rc |= hr_string_list_add(&argv, "--leak-check=full");
    rc |= hr_string_list_add(&argv, "--errors-for-leak-kinds=definite,"
                                    "indirect");
    rc |= hr_string_list_add(&argv, "--error-exitcode=99");
    rc |= hr_workload_args(&argv, &server, false);
    rc |= hr_string_list_add(&argv, "--op");
    rc |= hr_string_list_add(&argv, "set");
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "200");
    rc |= hr_string_list_add(&argv, "--sleep-ms");
    rc |= hr_string_list_add(&argv, "5");
    rc |= hr_string_list_add(&argv, "--timeout-ms");
    rc |= hr_string_list_add(&argv, "5000");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=-1");
    rc |= hr_string_list_add(&env, "HIRETRY_DEADLINE=20s");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    HR_ASSERT_INT_EQ(rc, 0);

    if (rc == 0)
        HR_ASSERT_INT_EQ(hr_run_across_restart(&server, &program, &argv, &env,
                                               "set", 20, 300,
                                               HR_VALGRIND_TIMEOUT_MS),
                         0);
    hr_workload_results_read(&program, &r);
    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.errors, 0);
    HR_ASSERT_INT_EQ(r.set_acknowledged, 200);
    HR_ASSERT_TRUE(strstr(program.err, "event=retry") != NULL);
    HR_ASSERT_TRUE(strstr(program.err, "==") == NULL);

    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    hr_test_finish(&server, &program, failures);
#endif
}

static CU_TestInfo tests[] = {
    {"test_descriptors_stable_across_reconnects",
     test_descriptors_stable_across_reconnects},
    {"test_descriptors_valgrind_restart", test_descriptors_valgrind_restart},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration descriptors", tests);
}

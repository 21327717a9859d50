/*
 * The files an operator reads: HIRETRY_LOG_FILE as a file and as a syslog
 * socket, and HIRETRY_STATS_FILE. Each test runs hr_workload with the shim
 * across a server crash, so that the shim retries, then reads what the
 * shim wrote. The stats file is parsed here line by line against the
 * Prometheus text format, and also checked with promtool when it is
 * installed. A program that closed standard error must still get its log
 * lines in the file, and none into descriptor 2.
 */
#include "harness.h"
#include "hr_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define HR_OPS 200
#define HR_DOWN_MS 300
#define HR_PROGRAM_TIMEOUT_MS 30000

static size_t hr_count(const char *text, const char *needle)
{
    size_t count = 0;

    for (const char *p = strstr(text, needle); p != NULL;
         p = strstr(p + 1, needle))
        count++;
    return count;
}

/*
 * Stores in path the one file of dir whose name starts with prefix, and
 * returns true when there is exactly one.
 */
static bool hr_find_file(const char *dir, const char *prefix, char *path,
                         size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *entry;
    int found = 0;

    if (d == NULL)
        return false;
    while ((entry = readdir(d)) != NULL) {
        if (strncmp(entry->d_name, prefix, strlen(prefix)) != 0)
            continue;
        found++;
        snprintf(path, size, "%s/%s", dir, entry->d_name);
    }
    closedir(d);
    return found == 1;
}

/* Makes an empty directory of the test's own under the harness directory. */
static void hr_make_dir(char *dir, size_t size, const char *name)
{
    HR_ASSERT_INT_EQ(
        hr_harness_path(dir, size, "%s/%s", hr_harness_dir(), name), 0);
    hr_harness_remove_tree(dir);
    HR_ASSERT_INT_EQ(mkdir(dir, 0755), 0);
}

/*
 * Runs HR_OPS INCRs with the shim and setting, across a crash of the server
 * after 50 of them, so that the shim retries.
 */
static void hr_run_incr_across_crash(hr_server *server, hr_program *program,
                                     const char *setting, const char *setting2)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_args(&argv, server, false);

    rc |= hr_string_list_add(&argv, "--op");
    rc |= hr_string_list_add(&argv, "incr");
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "%d", HR_OPS);
    rc |= hr_string_list_add(&argv, "--sleep-ms");
    rc |= hr_string_list_add(&argv, "2");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=50");
    /* The budget would stop the retries of a long outage, and an INCR
       that was in flight at the crash is repeated only with writes=all.
       The breaker, which never opens at this threshold, keeps an entry
       for the endpoint in the stats file. */
    rc |= hr_string_list_add(&env, "HIRETRY_BUDGET=off");
    rc |= hr_string_list_add(&env, "HIRETRY_WRITES=all");
    rc |= hr_string_list_add(&env, "HIRETRY_BREAKER_FAILURES=100000");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    rc |= hr_string_list_add(&env, "%s", setting);
    if (setting2 != NULL)
        rc |= hr_string_list_add(&env, "%s", setting2);
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(hr_run_across_restart(server, program, &argv, &env, "incr",
                                           50, HR_DOWN_MS,
                                           HR_PROGRAM_TIMEOUT_MS),
                     0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
}

static void test_log_file_per_process(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    char dir[256], setting[320], path[320];
    struct stat st;
    char *end = NULL;
    char *log;
    long pid;

    hr_make_dir(dir, sizeof(dir), "log-file");
    snprintf(setting, sizeof(setting), "HIRETRY_LOG_FILE=%s/app-%%p.log", dir);
    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    hr_run_incr_across_crash(&server, &program, setting, NULL);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "errors"), 0);
    /* Every line went to the file, none to standard error. */
    HR_ASSERT_INT_EQ(hr_count(program.err, "hiretry:"), 0);

    /* %p became the program's process id, which each line repeats. */
    HR_ASSERT_TRUE(hr_find_file(dir, "app-", path, sizeof(path)));
    pid = strtol(path + strlen(dir) + strlen("/app-"), &end, 10);
    HR_ASSERT_TRUE(pid > 0);
    HR_ASSERT_STR_EQ(end, ".log");
    log = hr_harness_read_file(path);
    HR_ASSERT_TRUE(log != NULL);
    if (log != NULL) {
        char pid_field[32];

        snprintf(pid_field, sizeof(pid_field), " pid=%ld ", pid);
        HR_ASSERT_TRUE(hr_count(log, "event=retry ") >= 1);
        HR_ASSERT_INT_EQ(hr_count(log, "\n"), hr_count(log, pid_field));
        HR_ASSERT_INT_EQ(hr_count(log, "\n"), hr_count(log, "Z pid="));
        HR_ASSERT_TRUE(strncmp(log, "20", 2) == 0);
    }
    HR_ASSERT_INT_EQ(stat(path, &st), 0);
    HR_ASSERT_INT_EQ(st.st_mode & 0777, 0640);
    free(log);
    hr_test_finish(&server, &program, failures);
}

/*
 * A symbolic link at the path is not followed: the shim logs to standard
 * error instead, logs that once, and the link's target stays empty.
 */
static void test_log_file_symlink_rejected(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    char dir[256], setting[400], link[320], target[320];
    struct stat st;

    hr_make_dir(dir, sizeof(dir), "log-symlink");
    snprintf(target, sizeof(target), "%s/target", dir);
    snprintf(link, sizeof(link), "%s/app.log", dir);
    HR_ASSERT_INT_EQ(hr_harness_touch(target), 0);
    HR_ASSERT_INT_EQ(symlink(target, link), 0);
    snprintf(setting, sizeof(setting), "HIRETRY_LOG_FILE=%s", link);
    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    hr_run_incr_across_crash(&server, &program, setting, NULL);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(hr_count(program.err, "event=log_file_failed"), 1);
    HR_ASSERT_TRUE(hr_count(program.err, "event=retry ") >= 1);
    HR_ASSERT_INT_EQ(stat(target, &st), 0);
    HR_ASSERT_INT_EQ(st.st_size, 0);
    hr_test_finish(&server, &program, failures);
}

/*
 * A FIFO that no process reads, such as the pipe of a log collector that
 * is down: opening it must not block the program. The shim logs to
 * standard error instead and the program runs to its end.
 */
static void test_log_file_fifo_without_reader(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char dir[256], fifo[320];
    int rc;

    hr_make_dir(dir, sizeof(dir), "log-fifo");
    snprintf(fifo, sizeof(fifo), "%s/app.log", dir);
    HR_ASSERT_INT_EQ(mkfifo(fifo, 0600), 0);
    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    rc = hr_workload_args(&argv, &server, false);
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "10");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    /* The invalid value makes the shim log a line at its first call. */
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=invalid");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG_FILE=%s", fifo);
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(
        hr_program_run(&program, &argv, &env, HR_PROGRAM_TIMEOUT_MS), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);

    HR_ASSERT_TRUE(!program.timed_out);
    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "ok"), 10);
    HR_ASSERT_INT_EQ(hr_count(program.err, "event=log_file_failed"), 1);
    HR_ASSERT_INT_EQ(hr_count(program.err, "event=invalid_setting"), 1);
    hr_test_finish(&server, &program, failures);
}

/*
 * A FIFO whose reader exits while the program runs: the next log line must
 * not kill the program with SIGPIPE, which hr_script leaves at its default.
 */
static void test_log_file_fifo_reader_gone(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char dir[256], fifo[320], ready[320], go[320], value[256];
    redisReply *reply;
    int reader;
    int rc;

    hr_make_dir(dir, sizeof(dir), "log-fifo-reader-gone");
    snprintf(fifo, sizeof(fifo), "%s/app.log", dir);
    snprintf(ready, sizeof(ready), "%s/ready", dir);
    snprintf(go, sizeof(go), "%s/go", dir);
    HR_ASSERT_INT_EQ(mkfifo(fifo, 0600), 0);
    reader = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    HR_ASSERT_TRUE(reader >= 0);
    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    rc = hr_script_args(&argv, &server, 2000);
    rc |= hr_string_list_add(&argv, "PING");
    rc |= hr_string_list_add(&argv, "@touch:%s", ready);
    rc |= hr_string_list_add(&argv, "@wait:%s", go);
    rc |= hr_string_list_add(&argv, "SET k v");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=debug");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG_FILE=%s", fifo);
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);

    /* The first call logged hiredis_found into the FIFO. Then the reader
       goes away, and the reconnect before SET logs again. */
    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
    if (reader >= 0)
        close(reader);
    reply = hr_server_command(&server, 0, "CLIENT KILL TYPE normal");
    freeReplyObject(reply);
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_TRUE(hr_program_value(&program, "step4", value, sizeof(value)));
    HR_ASSERT_STR_EQ(value, "status:OK");
    HR_ASSERT_INT_EQ(hr_count(program.err, "event=log_file_failed"), 0);
    hr_test_finish(&server, &program, failures);
}

/* Binds a datagram socket at path, as a syslog daemon would at /dev/log. */
static int hr_bind_syslog(const char *path)
{
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int size = 1 << 20;

    if (strlen(path) >= sizeof(address.sun_path))
        return -1;
    memcpy(address.sun_path, path, strlen(path) + 1);
    if (fd < 0)
        return -1;
    /* Room for every line of the run, read once the program exited. */
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_log_syslog_socket(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    char dir[256], socket_path[320], setting[400];
    char message[2048];
    size_t retries = 0, datagrams = 0, tagged = 0;
    ssize_t n;
    int fd;

    hr_make_dir(dir, sizeof(dir), "syslog");
    snprintf(socket_path, sizeof(socket_path), "%s/log", dir);
    fd = hr_bind_syslog(socket_path);
    HR_ASSERT_TRUE(fd >= 0);
    snprintf(setting, sizeof(setting), "HIRETRY_LOG_FILE=syslog:%s",
             socket_path);
    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    hr_run_incr_across_crash(&server, &program, setting, NULL);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(hr_count(program.err, "hiretry:"), 0);
    while ((n = recv(fd, message, sizeof(message) - 1, 0)) > 0) {
        message[n] = '\0';
        datagrams++;
        tagged += strstr(message, " hiretry[") != NULL &&
                  strstr(message, "]: level=") != NULL;
        /* LOG_USER | LOG_INFO, with no newline at the end */
        if (strncmp(message, "<14>", 4) == 0 &&
            strstr(message, "event=retry ") != NULL)
            retries++;
        HR_ASSERT_TRUE(message[n - 1] != '\n');
    }
    HR_ASSERT_TRUE(retries >= 1);
    HR_ASSERT_INT_EQ(tagged, datagrams);
    if (fd >= 0)
        close(fd);
    hr_test_finish(&server, &program, failures);
}

/* ---- The stats file ---- */

/* Returns true when name is a valid metric name of the format. */
static bool hr_metric_name_valid(const char *name, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        bool letter = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      ch == '_' || ch == ':';

        if (!letter && !(i > 0 && ch >= '0' && ch <= '9'))
            return false;
    }
    return true;
}

/* Returns true when the sample named name[0..len) belongs to a family whose
 * # TYPE line came before it in text. */
static bool hr_family_declared(const char *text, const char *line,
                               const char *name, size_t len)
{
    static const char *const suffixes[] = {"", "_bucket", "_sum", "_count"};

    for (size_t s = 0; s < sizeof(suffixes) / sizeof(suffixes[0]); s++) {
        size_t suffix_len = strlen(suffixes[s]);
        char type_line[256];
        const char *found;

        if (suffix_len > len ||
            strncmp(name + len - suffix_len, suffixes[s], suffix_len) != 0)
            continue;
        snprintf(type_line, sizeof(type_line), "# TYPE %.*s ",
                 (int)(len - suffix_len), name);
        found = strstr(text, type_line);
        if (found != NULL && found < line)
            return true;
    }
    return false;
}

/*
 * Checks one sample line: name, optional {label="value",...}, a space and
 * a number that strtod reads whole. Returns the number of problems.
 */
static int hr_check_sample(const char *text, const char *line, size_t len)
{
    char buffer[512];
    const char *p = buffer;
    size_t name_len;
    char *end;

    if (len >= sizeof(buffer))
        return 1;
    memcpy(buffer, line, len);
    buffer[len] = '\0';
    name_len = strcspn(buffer, "{ ");
    if (!hr_metric_name_valid(buffer, name_len) ||
        !hr_family_declared(text, line, buffer, name_len))
        return 1;
    p += name_len;
    if (*p == '{') {
        const char *close = strstr(p, "\"}");
        if (close == NULL)
            return 1;
        p = close + 2;
    }
    if (*p != ' ')
        return 1;
    (void)strtod(p + 1, &end);
    return end == p + 1 || *end != '\0';
}

/* Returns the number of lines of text that break the format. */
static int hr_check_exposition(const char *text)
{
    int problems = 0;

    for (const char *line = text; *line != '\0';) {
        const char *newline = strchr(line, '\n');
        size_t len = newline ? (size_t)(newline - line) : strlen(line);

        if (newline == NULL) {
            problems++; /* the last line ends with a newline too */
        } else if (strncmp(line, "# HELP ", 7) == 0 ||
                   strncmp(line, "# TYPE ", 7) == 0) {
            /* the name and its text or type follow */
        } else if (hr_check_sample(text, line, len) != 0) {
            fprintf(stderr, "invalid sample line: %.*s\n", (int)len, line);
            problems++;
        }
        line += len + (newline != NULL);
    }
    return problems;
}

/* Returns the value of the sample whose name and labels are key, or -1. */
static double hr_sample(const char *text, const char *key)
{
    char prefix[256];
    const char *found;

    snprintf(prefix, sizeof(prefix), "\n%s ", key);
    found = strstr(text, prefix);
    return found ? strtod(found + strlen(prefix), NULL) : -1;
}

/* Returns the number of files in dir whose names end with suffix. */
static int hr_count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *entry;
    int count = 0;

    if (d == NULL)
        return -1;
    while ((entry = readdir(d)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len >= strlen(suffix) &&
            strcmp(entry->d_name + len - strlen(suffix), suffix) == 0)
            count++;
    }
    closedir(d);
    return count;
}

static void hr_check_counters(const char *stats)
{
    double calls = hr_sample(stats, "hiretry_calls_total");
    double retries = hr_sample(stats, "hiretry_retries_total");

    HR_ASSERT_INT_EQ(calls, HR_OPS);
    HR_ASSERT_TRUE(retries >= 1);
    HR_ASSERT_INT_EQ(hr_sample(stats, "hiretry_attempts_total"),
                     calls + retries);
    HR_ASSERT_TRUE(hr_sample(stats, "hiretry_recovered_total") >= 1);
    HR_ASSERT_TRUE(
        hr_sample(stats, "hiretry_failures_total{class=\"ConnectionError\"}") >=
        1);
    HR_ASSERT_INT_EQ(
        hr_sample(stats, "hiretry_give_ups_total{reason=\"exhausted\"}"), 0);
    HR_ASSERT_INT_EQ(
        hr_sample(stats, "hiretry_retried_call_duration_seconds_count"),
        hr_sample(stats, "hiretry_recovered_total"));
    HR_ASSERT_INT_EQ(
        hr_sample(stats,
                  "hiretry_retried_call_duration_seconds_bucket{le=\"+Inf\"}"),
        hr_sample(stats, "hiretry_retried_call_duration_seconds_count"));
    /* The outage lasted HR_DOWN_MS, so some retried call took longer than
       0.1 s and none shorter than 1 ms. */
    HR_ASSERT_TRUE(
        hr_sample(stats,
                  "hiretry_retried_call_duration_seconds_bucket{le=\"0.1\"}") <
        hr_sample(stats, "hiretry_retried_call_duration_seconds_count"));
    HR_ASSERT_INT_EQ(
        hr_sample(stats,
                  "hiretry_retried_call_duration_seconds_bucket{le=\"0.001\"}"),
        0);
}

/* Runs promtool check metrics on path when promtool is installed. */
static void hr_promtool_check(const char *path)
{
#ifdef HIRETRY_PROMTOOL_PATH
    char command[512];

    snprintf(command, sizeof(command), "'%s' check metrics < '%s' >&2",
             HIRETRY_PROMTOOL_PATH, path);
    HR_ASSERT_INT_EQ(system(command), 0);
#else
    (void)path;
    fprintf(stderr, "promtool not installed: its check is skipped\n");
#endif
}

static void test_stats_file_prometheus(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    char dir[256], setting[320], path[320];
    char *stats;

    hr_make_dir(dir, sizeof(dir), "stats");
    snprintf(setting, sizeof(setting), "HIRETRY_STATS_FILE=%s/app-%%p.prom",
             dir);
    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    hr_run_incr_across_crash(&server, &program, setting,
                             "HIRETRY_STATS_INTERVAL=100ms");
    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "errors"), 0);

    HR_ASSERT_TRUE(hr_find_file(dir, "app-", path, sizeof(path)));
    stats = hr_harness_read_file(path);
    HR_ASSERT_TRUE(stats != NULL);
    if (stats != NULL) {
        HR_ASSERT_INT_EQ(hr_check_exposition(stats), 0);
        hr_check_counters(stats);
        HR_ASSERT_INT_EQ(hr_count(stats, "# TYPE "),
                         hr_count(stats, "# HELP "));
        HR_ASSERT_INT_EQ(hr_count(stats, "hiretry_budget_tokens{endpoint="), 1);
        HR_ASSERT_INT_EQ(hr_count(stats, "state=\"closed\"} 1\n"), 1);
    }
    /* The temporary files were renamed, and none is left. */
    HR_ASSERT_INT_EQ(hr_count_files(dir, ".tmp"), 0);
    HR_ASSERT_INT_EQ(hr_count_files(dir, ".prom"), 1);
    hr_promtool_check(path);
    free(stats);
    hr_test_finish(&server, &program, failures);
}

/*
 * Reads the stats file until it shows calls calls, for up to
 * HR_SERVER_WAIT_MS. Returns its text, or NULL when that never happened.
 */
static char *hr_wait_calls(const char *path, double calls)
{
    int64_t give_up_ms = hr_harness_now_ms() + HR_SERVER_WAIT_MS;

    for (;;) {
        char *stats = hr_harness_read_file(path);

        if (stats != NULL && hr_sample(stats, "hiretry_calls_total") == calls)
            return stats;
        free(stats);
        if (hr_harness_now_ms() > give_up_ms)
            return NULL;
        hr_harness_sleep_ms(10);
    }
}

/*
 * The interval writer: the file exists and is complete while the program
 * still runs, long before its exit writes it.
 */
static void test_stats_file_written_while_running(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char dir[256], path[320], ready[320], go[320];
    char *stats;
    int rc;

    hr_make_dir(dir, sizeof(dir), "stats-interval");
    snprintf(path, sizeof(path), "%s/app.prom", dir);
    snprintf(ready, sizeof(ready), "%s/ready", dir);
    snprintf(go, sizeof(go), "%s/go", dir);
    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    rc = hr_script_args(&argv, &server, 2000);
    rc |= hr_string_list_add(&argv, "PING");
    rc |= hr_string_list_add(&argv, "INCR n");
    rc |= hr_string_list_add(&argv, "@touch:%s", ready);
    rc |= hr_string_list_add(&argv, "@wait:%s", go);
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_STATS_FILE=%s", path);
    rc |= hr_string_list_add(&env, "HIRETRY_STATS_INTERVAL=100ms");
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);

    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
    stats = hr_wait_calls(path, 2);
    HR_ASSERT_TRUE(stats != NULL);
    if (stats != NULL)
        HR_ASSERT_INT_EQ(hr_check_exposition(stats), 0);
    free(stats);
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    HR_ASSERT_INT_EQ(program.status, 0);
    hr_test_finish(&server, &program, failures);
}

/*
 * A program that closed standard error and then reconnects: the new
 * connection may take descriptor 2, and the log file must stay its own
 * descriptor above it, so lines go to the file and never to the server.
 */
static void test_log_file_after_stderr_closed(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char dir[256], path[320], ready[320], go[320], value[256];
    char *log;
    redisReply *reply;
    int rc;

    hr_make_dir(dir, sizeof(dir), "log-closed-stderr");
    snprintf(path, sizeof(path), "%s/app.log", dir);
    snprintf(ready, sizeof(ready), "%s/ready", dir);
    snprintf(go, sizeof(go), "%s/go", dir);
    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    rc = hr_script_args(&argv, &server, 2000);
    rc |= hr_string_list_add(&argv, "@closeerr");
    rc |= hr_string_list_add(&argv, "PING");
    rc |= hr_string_list_add(&argv, "@touch:%s", ready);
    rc |= hr_string_list_add(&argv, "@wait:%s", go);
    rc |= hr_string_list_add(&argv, "SET k v");
    rc |= hr_string_list_add(&argv, "GET k");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=debug");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG_FILE=%s", path);
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);

    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
    reply = hr_server_command(&server, 0, "CLIENT KILL TYPE normal");
    freeReplyObject(reply);
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_TRUE(hr_program_value(&program, "step5", value, sizeof(value)));
    HR_ASSERT_STR_EQ(value, "status:OK");
    HR_ASSERT_TRUE(hr_program_value(&program, "step6", value, sizeof(value)));
    HR_ASSERT_STR_EQ(value, "string:v");
    log = hr_harness_read_file(path);
    HR_ASSERT_TRUE(log != NULL);
    if (log != NULL)
        HR_ASSERT_TRUE(hr_count(log, "event=closed_while_idle") +
                           hr_count(log, "event=retry ") >=
                       1);
    free(log);
    hr_test_finish(&server, &program, failures);
}

/*
 * Log rotation without copytruncate renames the file: the lines after it
 * must go to a new file at the configured path, not on into the renamed
 * one.
 */
static void test_log_file_reopened_after_rotation(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char dir[256], path[320], rotated[330], ready[320], go[320];
    char value[256];
    char *log;
    char *old_log;
    redisReply *reply;
    int rc;

    hr_make_dir(dir, sizeof(dir), "log-rotation");
    snprintf(path, sizeof(path), "%s/app.log", dir);
    snprintf(rotated, sizeof(rotated), "%s.1", path);
    snprintf(ready, sizeof(ready), "%s/ready", dir);
    snprintf(go, sizeof(go), "%s/go", dir);
    HR_ASSERT_INT_EQ(hr_server_start(&server, &options), 0);
    rc = hr_script_args(&argv, &server, 2000);
    rc |= hr_string_list_add(&argv, "PING");
    rc |= hr_string_list_add(&argv, "@touch:%s", ready);
    rc |= hr_string_list_add(&argv, "@wait:%s", go);
    rc |= hr_string_list_add(&argv, "SET k v");
    rc |= hr_string_list_add(&argv, "GET k");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=debug");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG_FILE=%s", path);
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(hr_program_start(&program, &argv, &env), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);

    /* The first call logs hiredis_found, which opens the file. */
    HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
    HR_ASSERT_INT_EQ(rename(path, rotated), 0);
    reply = hr_server_command(&server, 0, "CLIENT KILL TYPE normal");
    freeReplyObject(reply);
    HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_TRUE(hr_program_value(&program, "step4", value, sizeof(value)));
    HR_ASSERT_STR_EQ(value, "status:OK");
    old_log = hr_harness_read_file(rotated);
    HR_ASSERT_TRUE(old_log != NULL);
    if (old_log != NULL) {
        HR_ASSERT_INT_EQ(hr_count(old_log, "event=hiredis_found"), 1);
        HR_ASSERT_INT_EQ(hr_count(old_log, "event=closed_while_idle"), 0);
        HR_ASSERT_INT_EQ(hr_count(old_log, "event=retry "), 0);
    }
    log = hr_harness_read_file(path);
    HR_ASSERT_TRUE(log != NULL);
    if (log != NULL)
        HR_ASSERT_TRUE(hr_count(log, "event=closed_while_idle") +
                           hr_count(log, "event=retry ") >=
                       1);
    free(old_log);
    free(log);
    hr_test_finish(&server, &program, failures);
}

static CU_TestInfo tests[] = {
    {"test_log_file_per_process", test_log_file_per_process},
    {"test_log_file_symlink_rejected", test_log_file_symlink_rejected},
    {"test_log_file_fifo_without_reader", test_log_file_fifo_without_reader},
    {"test_log_file_fifo_reader_gone", test_log_file_fifo_reader_gone},
    {"test_log_syslog_socket", test_log_syslog_socket},
    {"test_log_file_after_stderr_closed", test_log_file_after_stderr_closed},
    {"test_log_file_reopened_after_rotation",
     test_log_file_reopened_after_rotation},
    {"test_stats_file_prometheus", test_stats_file_prometheus},
    {"test_stats_file_written_while_running",
     test_stats_file_written_while_running},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("operator_files", tests);
}

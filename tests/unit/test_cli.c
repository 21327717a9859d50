/*
 * Tests of the operator command `hiretry` (scripts/hiretry-command.c). Each
 * test runs the built program with fork and execve and an environment it
 * writes out in full, so nothing from the test's own environment leaks in.
 * It then reads the program's standard output, standard error and exit
 * status. The checks compare whole lines, or whole outputs, so a changed
 * word or a stray line fails the test.
 *
 * The messages about invalid values are built from hr_config_vars(), the
 * table the shim uses, so the tests check that check prints core's message
 * unchanged; one case also spells a whole message out. `run` is checked
 * with /usr/bin/env as the program, which prints the environment the shim
 * would see.
 *
 * cmake/cli.cmake passes the paths of the program and of libhiretry.so in
 * HIRETRY_CLI_PATH and HIRETRY_SHIM_PATH.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hiretry/config.h"
#include "hr_test.h"

#ifndef HIRETRY_CLI_PATH
#define HIRETRY_CLI_PATH ""
#endif
#ifndef HIRETRY_SHIM_PATH
#define HIRETRY_SHIM_PATH ""
#endif

#define ARRAY_LEN(array) (sizeof(array) / sizeof((array)[0]))

#define OUTPUT_MAX 65536
#define RUN_TIMEOUT_MS 10000
#define ARGS_MAX 16
#define LINE_MAX_SIZE 1024

#define DEFAULT_RETRY_ON                                                       \
    "ConnectionError,TimeoutError,TryAgainError,ClusterDownError,"             \
    "ReadOnlyError,-AuthenticationError,-AuthorizationError"

/* What one run of the program produced. */
typedef struct cli_run {
    int status; /* exit code, 128 + signal number, or -1 when not run */
    char out[OUTPUT_MAX + 1];
    char err[OUTPUT_MAX + 1];
} cli_run;

/* One run at a time: the buffers are too large for the stack. */
static cli_run run;

/* A shim built with ASan fails to load into an uninstrumented program
 * unless this option turns off ASan's check of the library order. Other
 * builds ignore the variable. */
#define ASAN_ENV "ASAN_OPTIONS=verify_asan_link_order=0"

static const char *const no_env[] = {NULL};
static const char *const path_env[] = {"PATH=/usr/bin:/bin", ASAN_ENV, NULL};

/* ---- Running the program ---- */

static int64_t now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Reads what is available from fd into buf, keeping at most OUTPUT_MAX
 * bytes. Returns false at end of file or on error. */
static bool read_some(int fd, char *buf, size_t *len)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    size_t room = OUTPUT_MAX - *len;

    if (n < 0 && errno == EINTR)
        return true;
    if (n <= 0)
        return false;
    memcpy(buf + *len, chunk, (size_t)n < room ? (size_t)n : room);
    *len += (size_t)n < room ? (size_t)n : room;
    buf[*len] = '\0';
    return true;
}

/* Reads both pipes until the program closes them or the time is up. */
static void collect_output(int out_fd, int err_fd, pid_t pid)
{
    struct pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    size_t lens[2] = {0, 0};
    char *bufs[2] = {run.out, run.err};
    int64_t deadline = now_ms() + RUN_TIMEOUT_MS;

    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        int64_t left = deadline - now_ms();

        if (left <= 0 || poll(fds, 2, (int)left) < 0) {
            fprintf(stderr, "test_cli: program %d timed out\n", (int)pid);
            kill(pid, SIGKILL);
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            if (!read_some(fds[i].fd, bufs[i], &lens[i]))
                fds[i].fd = -1;
        }
    }
}

/*
 * Runs the program with args (after argv[0], NULL-terminated) and exactly
 * the variables of env, and stores its output and exit status in run.
 */
static void run_cli(const char *const *args, const char *const *env)
{
    const char *argv[ARGS_MAX + 2] = {HIRETRY_CLI_PATH};
    int out_pipe[2];
    int err_pipe[2];
    int wait_status;
    pid_t pid;

    memset(&run, 0, sizeof(run));
    run.status = -1;
    for (int i = 0; i < ARGS_MAX && args[i] != NULL; i++)
        argv[i + 1] = args[i];
    if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0)
        return;

    pid = fork();
    if (pid == 0) {
        dup2(out_pipe[1], STDOUT_FILENO);
        dup2(err_pipe[1], STDERR_FILENO);
        close(out_pipe[0]);
        close(err_pipe[0]);
        execve(argv[0], (char *const *)argv, (char *const *)env);
        _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (pid > 0)
        collect_output(out_pipe[0], err_pipe[0], pid);
    close(out_pipe[0]);
    close(err_pipe[0]);

    if (pid > 0 && waitpid(pid, &wait_status, 0) == pid)
        run.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status)
                                            : 128 + WTERMSIG(wait_status);
}

/* ---- Checks ---- */

/* Returns true when text has line as one whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t len = strlen(line);

    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *end = strchr(p, '\n');
        size_t line_len = end ? (size_t)(end - p) : strlen(p);

        if (line_len == len && memcmp(p, line, len) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Returns the first line of text, without its newline, in buf. */
static const char *first_line(const char *text, char *buf, size_t size)
{
    size_t len = strcspn(text, "\n");

    snprintf(buf, size, "%.*s", (int)len, text);
    return buf;
}

/* Records a comparison of two outputs that names the first line where
 * they differ, with both versions of it. */
static void check_output(const char *actual, const char *expected,
                         unsigned line, const char *function)
{
    const char *a = actual;
    const char *e = expected;
    int number = 1;

    while (*a != '\0' && *a == *e) {
        if (*a == '\n')
            number++;
        a++;
        e++;
    }
    while (a > actual && a[-1] != '\n') {
        a--;
        e--;
    }
    hr_test_record(*a == '\0' && *e == '\0', line, __FILE__, function,
                   "output line %d is \"%.*s\", expected \"%.*s\"", number,
                   (int)strcspn(a, "\n"), a, (int)strcspn(e, "\n"), e);
}

#define ASSERT_OUTPUT(actual, expected)                                        \
    check_output((actual), (expected), __LINE__, __func__)

#define ASSERT_LINE(text, line)                                                \
    hr_test_record(has_line((text), (line)), __LINE__, __FILE__, __func__,     \
                   "line \"%s\" missing from:\n%.700s", (line), (text))

#define ASSERT_NO_LINE(text, line)                                             \
    hr_test_record(!has_line((text), (line)), __LINE__, __FILE__, __func__,    \
                   "line \"%s\" unexpected in:\n%.700s", (line), (text))

#define ASSERT_EXIT(expected)                                                  \
    hr_test_record(run.status == (expected), __LINE__, __FILE__, __func__,     \
                   "exit status %d, expected %d; stderr: %.400s", run.status,  \
                   (expected), run.err)

/* Builds core's message for an invalid value of a variable, where quoted
 * is the value as the message shows it, quotes included. */
static void invalid_message_quoted(const char *name, const char *quoted,
                                   char *buf, size_t size)
{
    size_t count;
    const hr_config_var *vars = hr_config_vars(&count);

    snprintf(buf, size, "(no variable %s)", name);
    for (size_t i = 0; i < count; i++) {
        if (strcmp(vars[i].name, name) == 0)
            snprintf(buf, size,
                     "    invalid %s=%s: expected %s; using the default %s",
                     name, quoted, vars[i].accepted, vars[i].default_value);
    }
}

static void invalid_message(const char *name, const char *shown, char *buf,
                            size_t size)
{
    char quoted[256];

    snprintf(quoted, sizeof(quoted), "\"%s\"", shown);
    invalid_message_quoted(name, quoted, buf, size);
}

/* ---- hiretry, hiretry --help ---- */

static void test_main_help(void)
{
    const char *args[] = {"--help", NULL};
    char line[LINE_MAX_SIZE];

    run_cli(args, no_env);

    ASSERT_EXIT(0);
    HR_ASSERT_STR_EQ(first_line(run.out, line, sizeof(line)),
                     "Usage: hiretry COMMAND [ARGUMENT]...");
    ASSERT_LINE(run.out, "Exit status: that of COMMAND; 2 for a missing or "
                         "unknown COMMAND.");
    HR_ASSERT_STR_EQ(run.err, "");
}

static void test_main_usage_errors(void)
{
    const char *none[] = {NULL};
    const char *unknown[] = {"frobnicate", NULL};
    const char *option[] = {"--bogus", NULL};

    run_cli(none, no_env);
    ASSERT_EXIT(2);
    HR_ASSERT_STR_EQ(run.out, "");
    HR_ASSERT_STR_EQ(run.err,
                     "hiretry: missing command: run, check or explain\n"
                     "Try 'hiretry --help' for more information.\n");

    run_cli(unknown, no_env);
    ASSERT_EXIT(2);
    HR_ASSERT_STR_EQ(run.out, "");
    HR_ASSERT_STR_EQ(run.err,
                     "hiretry: unknown command 'frobnicate': expected run, "
                     "check or explain\n"
                     "Try 'hiretry --help' for more information.\n");

    run_cli(option, no_env);
    ASSERT_EXIT(2);
    HR_ASSERT_STR_EQ(run.err, "hiretry: unknown option '--bogus'\n"
                              "Try 'hiretry --help' for more information.\n");
}

/* ---- hiretry check ---- */

static const char check_defaults[] =
    "HIRETRY_RETRIES            default      3\n"
    "HIRETRY_BACKOFF            default      equal_jitter\n"
    "HIRETRY_BACKOFF_BASE       default      8ms\n"
    "HIRETRY_BACKOFF_CAP        default      512ms\n"
    "HIRETRY_RETRY_ON           default      " DEFAULT_RETRY_ON "\n"
    "    retried classes: ConnectionError, BusyLoadingError, "
    "MaxConnectionsError, TimeoutError, ReadOnlyError, TryAgainError, "
    "ClusterDownError, MasterDownError\n"
    "HIRETRY_WRITES             default      safe\n"
    "HIRETRY_DEADLINE           default      0\n"
    "HIRETRY_PIPELINE_MAX       default      1MiB\n"
    "HIRETRY_LOG                default      warn\n"
    "HIRETRY_DISABLE            default      false\n"
    "HIRETRY_IDLE_CHECK         default      250us\n"
    "HIRETRY_SENTINELS          default      (empty)\n"
    "HIRETRY_SENTINEL_MASTER    default      (empty)\n"
    "HIRETRY_SENTINEL_USERNAME  default      (empty)\n"
    "HIRETRY_SENTINEL_PASSWORD  default      (empty)\n"
    "HIRETRY_SENTINEL_REDIRECT  default      all\n"
    "HIRETRY_SENTINEL_TIMEOUT   default      250ms\n"
    "HIRETRY_BUDGET             default      on\n"
    "HIRETRY_BUDGET_RATIO       default      0.1\n"
    "HIRETRY_BUDGET_CAPACITY    default      5\n"
    "HIRETRY_BUDGET_FLOOR       default      2\n"
    "HIRETRY_BREAKER_FAILURES   default      0\n"
    "HIRETRY_BREAKER_COOLDOWN   default      1s\n"
    "HIRETRY_LOG_FILE           default      (empty)\n"
    "HIRETRY_STATS_FILE         default      (empty)\n"
    "HIRETRY_STATS_INTERVAL     default      10s\n"
    "result: valid\n";

static void test_check_defaults_valid(void)
{
    const char *args[] = {"check", NULL};

    run_cli(args, path_env);

    ASSERT_EXIT(0);
    ASSERT_OUTPUT(run.out, check_defaults);
    HR_ASSERT_STR_EQ(run.err, "");
}

static void test_check_environment_values(void)
{
    const char *args[] = {"check", NULL};
    const char *env[] = {"HIRETRY_RETRIES=5", "HIRETRY_BACKOFF=EXPONENTIAL",
                         "HIRETRY_DEADLINE=1.5s", "HIRETRY_DISABLE=", NULL};

    run_cli(args, env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "HIRETRY_RETRIES            environment  5");
    ASSERT_LINE(run.out, "HIRETRY_BACKOFF            environment  EXPONENTIAL");
    ASSERT_LINE(run.out, "HIRETRY_DEADLINE           environment  1.5s");
    ASSERT_LINE(run.out, "HIRETRY_DISABLE            environment  (empty)");
    ASSERT_LINE(run.out, "HIRETRY_LOG                default      warn");
    ASSERT_LINE(run.out, "result: valid");
    HR_ASSERT_STR_EQ(run.err, "");
}

/* A log or stats file in a directory that cannot be written gets a note,
 * and the configuration stays valid: the program may create it first. */
static void test_check_file_directory_note(void)
{
    const char *args[] = {"check", NULL};
    const char *env[] = {"HIRETRY_LOG_FILE=/nonexistent-hiretry/app.log",
                         "HIRETRY_STATS_FILE=/tmp/app-%p.prom", NULL};

    run_cli(args, env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "    note: HIRETRY_LOG_FILE cannot be written by "
                         "this user: directory /nonexistent-hiretry: No "
                         "such file or directory");
    HR_ASSERT_TRUE(strstr(run.out, "note: HIRETRY_STATS_FILE") == NULL);
    ASSERT_LINE(run.out, "result: valid");
}

/* An invalid value, the default check shows, and the value as core's
 * message quotes it. */
typedef struct invalid_case {
    const char *name;
    const char *value;
    const char *default_value;
    const char *shown;
} invalid_case;

static const invalid_case invalid_cases[] = {
    {"HIRETRY_RETRIES", "abc", "3", "abc"},
    {"HIRETRY_RETRIES", "1000001", "3", "1000001"},
    {"HIRETRY_RETRIES", " 3", "3", " 3"},
    {"HIRETRY_RETRIES", "", "3", ""},
    {"HIRETRY_BACKOFF", "fast", "equal_jitter", "fast"},
    {"HIRETRY_BACKOFF_BASE", "10", "8ms", "10"},
    {"HIRETRY_BACKOFF_BASE", "0.5us", "8ms", "0.5us"},
    {"HIRETRY_BACKOFF_CAP", "3601s", "512ms", "3601s"},
    {"HIRETRY_RETRY_ON", "ConectionError", DEFAULT_RETRY_ON, "ConectionError"},
    {"HIRETRY_RETRY_ON", "+", DEFAULT_RETRY_ON, "+"},
    {"HIRETRY_WRITES", "some", "safe", "some"},
    {"HIRETRY_DEADLINE", "5", "0", "5"},
    {"HIRETRY_DEADLINE", "86401s", "0", "86401s"},
    {"HIRETRY_PIPELINE_MAX", "1MB", "1MiB", "1MB"},
    {"HIRETRY_PIPELINE_MAX", "2GiB", "1MiB", "2GiB"},
    {"HIRETRY_LOG", "verbose", "warn", "verbose"},
    {"HIRETRY_DISABLE", "maybe", "false", "maybe"},
    {"HIRETRY_BUDGET_RATIO", "20%", "0.1", "20%"},
    {"HIRETRY_BREAKER_COOLDOWN", "0", "1s", "0"},
    {"HIRETRY_LOG", "in\x01\"fo", "warn", "in\\x01\\\"fo"},
};

/* Returns the report line of a variable: name, source and value. */
static void setting_line(const char *name, const char *source,
                         const char *value, char *buf, size_t size)
{
    snprintf(buf, size, "%-25s  %-11s  %s", name, source, value);
}

static void test_check_invalid_values(void)
{
    const char *args[] = {"check", NULL};

    for (size_t i = 0; i < ARRAY_LEN(invalid_cases); i++) {
        const invalid_case *c = &invalid_cases[i];
        char variable[256];
        char line[LINE_MAX_SIZE];
        char message[LINE_MAX_SIZE];
        const char *env[] = {variable, NULL};

        snprintf(variable, sizeof(variable), "%s=%s", c->name, c->value);
        run_cli(args, env);

        ASSERT_EXIT(1);
        setting_line(c->name, "invalid", c->default_value, line, sizeof(line));
        ASSERT_LINE(run.out, line);
        invalid_message(c->name, c->shown, message, sizeof(message));
        ASSERT_LINE(run.out, message);
        ASSERT_LINE(run.out, "result: 1 invalid value");
        HR_ASSERT_STR_EQ(run.err, "");
    }
}

/* One message spelled out, so that the table-built ones above cannot all
 * agree with a broken format. */
static void test_check_invalid_message_text(void)
{
    const char *args[] = {"check", NULL};
    const char *env[] = {"HIRETRY_WRITES=some", NULL};

    run_cli(args, env);

    ASSERT_EXIT(1);
    ASSERT_LINE(run.out, "HIRETRY_WRITES             invalid      safe");
    ASSERT_LINE(run.out, "    invalid HIRETRY_WRITES=\"some\": expected one of "
                         "safe, all or none, in any case; using the default "
                         "safe");
}

static void test_check_long_value_cut(void)
{
    const char *args[] = {"check", NULL};
    char variable[256] = "HIRETRY_BACKOFF=";
    char quoted[80] = "\"";
    char message[LINE_MAX_SIZE];
    const char *env[] = {variable, NULL};

    memset(variable + strlen(variable), 'x', 100);
    memset(quoted + 1, 'x', 64);
    strcpy(quoted + 65, "\"...");
    run_cli(args, env);

    /* Core quotes the first 64 bytes and marks the cut after the quote. */
    ASSERT_EXIT(1);
    invalid_message_quoted("HIRETRY_BACKOFF", quoted, message, sizeof(message));
    ASSERT_LINE(run.out, message);
}

static void test_check_unknown_variable(void)
{
    const char *args[] = {"check", NULL};
    const char *env[] = {"HIRETRY_RETRYS=4", NULL};

    run_cli(args, env);

    ASSERT_EXIT(1);
    ASSERT_LINE(run.out, "HIRETRY_RETRYS             unknown");
    ASSERT_LINE(run.out, "    unknown variable HIRETRY_RETRYS is ignored; "
                         "did you mean HIRETRY_RETRIES?");
    ASSERT_LINE(run.out, "HIRETRY_RETRIES            default      3");
    ASSERT_LINE(run.out, "result: 1 unknown variable");
    HR_ASSERT_STR_EQ(run.err, "");
}

static void test_check_unknown_case_and_name(void)
{
    const char *args[] = {"check", NULL};
    const char *env[] = {"hiretry_log=debug", "HIRETRY_COLOR=1",
                         "HIRETRY_RETRIES=x", NULL};

    run_cli(args, env);

    ASSERT_EXIT(1);
    ASSERT_LINE(run.out, "    unknown variable hiretry_log is ignored; names "
                         "are case-sensitive, so write HIRETRY_LOG");
    ASSERT_LINE(run.out, "    unknown variable HIRETRY_COLOR is ignored; the "
                         "README lists the HIRETRY_ variables");
    ASSERT_LINE(run.out, "result: 1 invalid value, 2 unknown variables");
}

static void test_check_retry_on_classes(void)
{
    const char *args[] = {"check", NULL};
    const char *edit[] = {"HIRETRY_RETRY_ON=-ReadOnlyError,-ClusterDownError",
                          NULL};
    const char *only[] = {"HIRETRY_RETRY_ON=TimeoutError", NULL};

    run_cli(args, edit);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "HIRETRY_RETRY_ON           environment  "
                         "-ReadOnlyError,-ClusterDownError");
    ASSERT_LINE(run.out, "    retried classes: ConnectionError, "
                         "BusyLoadingError, MaxConnectionsError, "
                         "TimeoutError, TryAgainError");

    run_cli(args, only);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "    retried classes: TimeoutError");
}

static void test_check_env_format(void)
{
    const char *args[] = {"check", "--format=env", NULL};
    const char *env[] = {"HIRETRY_RETRIES=5",
                         "HIRETRY_RETRY_ON=TimeoutError, ConnectionError",
                         "HIRETRY_LOG=loud", "HIRETRY_RETRYS=1", NULL};

    run_cli(args, env);

    ASSERT_EXIT(1);
    ASSERT_OUTPUT(run.out, "HIRETRY_RETRIES=5\n"
                           "HIRETRY_BACKOFF=equal_jitter\n"
                           "HIRETRY_BACKOFF_BASE=8ms\n"
                           "HIRETRY_BACKOFF_CAP=512ms\n"
                           "HIRETRY_RETRY_ON='TimeoutError, ConnectionError'\n"
                           "HIRETRY_WRITES=safe\n"
                           "HIRETRY_DEADLINE=0\n"
                           "HIRETRY_PIPELINE_MAX=1MiB\n"
                           "HIRETRY_LOG=warn\n"
                           "HIRETRY_DISABLE=false\n"
                           "HIRETRY_IDLE_CHECK=250us\n"
                           "HIRETRY_SENTINELS=''\n"
                           "HIRETRY_SENTINEL_MASTER=''\n"
                           "HIRETRY_SENTINEL_USERNAME=''\n"
                           "HIRETRY_SENTINEL_PASSWORD=''\n"
                           "HIRETRY_SENTINEL_REDIRECT=all\n"
                           "HIRETRY_SENTINEL_TIMEOUT=250ms\n"
                           "HIRETRY_BUDGET=on\n"
                           "HIRETRY_BUDGET_RATIO=0.1\n"
                           "HIRETRY_BUDGET_CAPACITY=5\n"
                           "HIRETRY_BUDGET_FLOOR=2\n"
                           "HIRETRY_BREAKER_FAILURES=0\n"
                           "HIRETRY_BREAKER_COOLDOWN=1s\n"
                           "HIRETRY_LOG_FILE=''\n"
                           "HIRETRY_STATS_FILE=''\n"
                           "HIRETRY_STATS_INTERVAL=10s\n");
    ASSERT_LINE(run.err, "hiretry: invalid HIRETRY_LOG=\"loud\": expected one "
                         "of off, error, warn, info or debug, in any case; "
                         "using the default warn");
    ASSERT_LINE(run.err, "hiretry: unknown variable HIRETRY_RETRYS is "
                         "ignored; did you mean HIRETRY_RETRIES?");
}

static void test_check_env_format_valid(void)
{
    const char *args[] = {"check", "--format=env", NULL};

    run_cli(args, no_env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "HIRETRY_WRITES=safe");
    HR_ASSERT_STR_EQ(run.err, "");
}

static void test_check_help(void)
{
    const char *args[] = {"check", "--help", NULL};
    char line[LINE_MAX_SIZE];

    run_cli(args, no_env);

    ASSERT_EXIT(0);
    HR_ASSERT_STR_EQ(first_line(run.out, line, sizeof(line)),
                     "Usage: hiretry check [--format=FORMAT]");
    ASSERT_LINE(run.out, "Exit status: 0 when every variable is valid and "
                         "known; 1 when a");
    HR_ASSERT_STR_EQ(run.err, "");
}

static void test_check_usage_errors(void)
{
    const char *format[] = {"check", "--format=xml", NULL};
    const char *extra[] = {"check", "now", NULL};

    run_cli(format, no_env);
    ASSERT_EXIT(2);
    HR_ASSERT_STR_EQ(run.out, "");
    HR_ASSERT_STR_EQ(run.err,
                     "hiretry: invalid format 'xml': expected human or env\n"
                     "Try 'hiretry check --help' for more information.\n");

    run_cli(extra, no_env);
    ASSERT_EXIT(2);
    HR_ASSERT_STR_EQ(run.out, "");
    HR_ASSERT_STR_EQ(run.err,
                     "hiretry: unexpected argument 'now'\n"
                     "Try 'hiretry check --help' for more information.\n");
}

/* ---- hiretry explain TEXT ---- */

static const char *const modes_any_command[] = {
    "  safe (current): read-only commands and repeat-safe writes (explain "
    "--command tells which)",
    "  all: every command but blocking writes, transaction and pub/sub "
    "commands, and the never-repeated ones",
    "  none: no command",
};

static void test_explain_loading(void)
{
    const char *args[] = {
        "explain", "LOADING Redis is loading the dataset in memory", NULL};

    run_cli(args, no_env);

    ASSERT_EXIT(0);
    ASSERT_OUTPUT(
        run.out,
        "input: error reply \"LOADING Redis is loading the dataset in "
        "memory\"\n"
        "class: BusyLoadingError\n"
        "ancestors: ConnectionError, ValkeyError\n"
        "may have run: no, the server rejected the command without running "
        "it (not_executed)\n"
        "connection: dropped; the next attempt uses a new connection\n"
        "permanent: no\n"
        "retried: yes, because HIRETRY_RETRY_ON (default) contains "
        "BusyLoadingError\n"
        "sent again: yes, under every HIRETRY_WRITES mode, because the "
        "command did not run; never-repeated commands (QUIT, SHUTDOWN, ...) "
        "aside\n"
        "note: after EVAL, EVALSHA or FCALL this reply may come from a "
        "script that has already written, so the script counts as may have "
        "run\n");
    HR_ASSERT_STR_EQ(run.err, "");
}

static void test_explain_readonly(void)
{
    const char *args[] = {"explain",
                          "-READONLY You can't write against a read only "
                          "replica.",
                          NULL};
    const char *env[] = {"HIRETRY_RETRY_ON=-ReadOnlyError", NULL};

    run_cli(args, no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "input: error reply \"READONLY You can't write "
                         "against a read only replica.\"");
    ASSERT_LINE(run.out, "class: ReadOnlyError");
    ASSERT_LINE(run.out, "ancestors: ResponseError, ValkeyError");
    ASSERT_LINE(run.out, "connection: kept; the next attempt uses the same "
                         "connection");
    ASSERT_LINE(run.out, "retried: yes, because HIRETRY_RETRY_ON (default) "
                         "contains ReadOnlyError");

    run_cli(args, env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "retried: no, because HIRETRY_RETRY_ON (environment) "
                         "does not contain ReadOnlyError");
    ASSERT_LINE(run.out, "sent again: no, the failure reaches the program");
}

static void test_explain_wrongpass(void)
{
    const char *args[] = {"explain",
                          "WRONGPASS invalid username-password pair or user "
                          "is disabled.",
                          NULL};

    run_cli(args, no_env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "class: AuthenticationError");
    ASSERT_LINE(run.out, "ancestors: ConnectionError, ValkeyError");
    ASSERT_LINE(run.out, "may have run: no, the server rejected the command "
                         "without running it (not_executed)");
    ASSERT_LINE(run.out, "connection: dropped; the next attempt uses a new "
                         "connection");
    ASSERT_LINE(run.out, "retried: no, because HIRETRY_RETRY_ON (default) "
                         "does not contain AuthenticationError");
    ASSERT_LINE(run.out, "sent again: no, the failure reaches the program");
}

static void test_explain_moved(void)
{
    const char *args[] = {"explain", "MOVED 3999 127.0.0.1:6381", NULL};

    run_cli(args, no_env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "class: MovedError");
    ASSERT_LINE(run.out, "ancestors: AskError, ResponseError, ValkeyError");
    ASSERT_LINE(run.out, "connection: kept; the next attempt uses the same "
                         "connection");
    ASSERT_LINE(run.out, "retried: no, because HIRETRY_RETRY_ON (default) "
                         "does not contain MovedError");
}

static void test_explain_err_message(void)
{
    const char *args[] = {
        "explain", "ERR wrong number of arguments for 'get' command", NULL};
    const char *env[] = {"HIRETRY_RETRY_ON=ResponseError", "HIRETRY_WRITES=all",
                         NULL};

    run_cli(args, no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "class: ResponseError");
    ASSERT_LINE(run.out, "ancestors: ValkeyError");
    ASSERT_LINE(run.out, "may have run: yes");
    ASSERT_LINE(run.out, "retried: no, because HIRETRY_RETRY_ON (default) "
                         "does not contain ResponseError");

    run_cli(args, env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "retried: yes, because HIRETRY_RETRY_ON "
                         "(environment) contains ResponseError");
    ASSERT_LINE(run.out, "sent again if it may have run:");
    ASSERT_LINE(run.out, "  safe: read-only commands and repeat-safe writes "
                         "(explain --command tells which)");
    ASSERT_LINE(run.out, "  all (current): every command but blocking "
                         "writes, transaction and pub/sub commands, and the "
                         "never-repeated ones");
    ASSERT_LINE(run.out, "  none: no command");
}

static void test_explain_err_max_clients(void)
{
    const char *args[] = {"explain", "ERR max number of clients reached", NULL};

    run_cli(args, no_env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "class: ConnectionError");
    ASSERT_LINE(run.out, "may have run: no, the server rejected the command "
                         "without running it (not_executed)");
    ASSERT_LINE(run.out, "connection: dropped; the next attempt uses a new "
                         "connection");
}

static void test_explain_eof(void)
{
    const char *args[] = {"explain", "eof", NULL};
    char expected[4096];

    snprintf(expected, sizeof(expected),
             "input: transport failure REDIS_ERR_EOF, errstr \"Server closed "
             "the connection\"\n"
             "class: ConnectionError\n"
             "ancestors: ValkeyError\n"
             "may have run: it depends on when the failure happened: no when "
             "connecting failed or the command was not all written, yes when "
             "its reply was lost\n"
             "connection: dropped; the next attempt uses a new connection\n"
             "permanent: no\n"
             "retried: yes, because HIRETRY_RETRY_ON (default) contains "
             "ConnectionError\n"
             "sent again if it cannot have run: yes, under every "
             "HIRETRY_WRITES mode; never-repeated commands (QUIT, SHUTDOWN, "
             "...) aside\n"
             "sent again if it may have run:\n%s\n%s\n%s\n",
             modes_any_command[0], modes_any_command[1], modes_any_command[2]);
    run_cli(args, no_env);

    ASSERT_EXIT(0);
    ASSERT_OUTPUT(run.out, expected);
    HR_ASSERT_STR_EQ(run.err, "");
}

static void test_explain_timeout(void)
{
    const char *args[] = {"explain", "timeout", NULL};
    const char *env[] = {"HIRETRY_RETRY_ON=ConnectionError", NULL};

    run_cli(args, no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "input: transport failure REDIS_ERR_IO, errno "
                         "EAGAIN, errstr \"Resource temporarily "
                         "unavailable\"");
    ASSERT_LINE(run.out, "class: TimeoutError");
    ASSERT_LINE(run.out, "ancestors: ValkeyError");
    ASSERT_LINE(run.out, "retried: yes, because HIRETRY_RETRY_ON (default) "
                         "contains TimeoutError");
    ASSERT_LINE(run.out, "note: a socket timeout during a blocking command "
                         "(BLPOP, XREAD BLOCK, ...) reaches the program with "
                         "no retry");

    /* TimeoutError is not a ConnectionError in valkey-py. */
    run_cli(args, env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "retried: no, because HIRETRY_RETRY_ON (environment) "
                         "does not contain TimeoutError");
}

static void test_explain_errno_forms(void)
{
    const char *reset[] = {"explain", "errno:ECONNRESET", NULL};
    const char *number[] = {"explain", "errno:110", NULL};
    const char *invalid[] = {"explain", "errno:EINVAL", NULL};
    const char *io[] = {"explain", "io:Connection timed out", NULL};

    run_cli(reset, no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "input: transport failure REDIS_ERR_IO, errno "
                         "ECONNRESET, errstr \"Connection reset by peer\"");
    ASSERT_LINE(run.out, "class: ConnectionError");

    run_cli(number, no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "class: TimeoutError");

    run_cli(invalid, no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "class: DataError");
    ASSERT_LINE(run.out, "permanent: yes, a caller error");
    ASSERT_LINE(run.out, "retried: no, because no retry can fix a caller "
                         "error");

    run_cli(io, no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "class: TimeoutError");
}

static void test_explain_retries_off(void)
{
    const char *args[] = {"explain", "LOADING", NULL};
    const char *zero[] = {"HIRETRY_RETRIES=0", NULL};
    const char *disabled[] = {"HIRETRY_DISABLE=yes", NULL};

    run_cli(args, zero);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "retried: no, because HIRETRY_RETRIES=0 allows no "
                         "retry");

    run_cli(args, disabled);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "retried: no, because HIRETRY_DISABLE turns "
                         "libhiretry.so off");
}

static void test_explain_text_forms(void)
{
    const char *words[] = {"explain", "TRYAGAIN", "Multiple", "keys", NULL};
    const char *dash_word[] = {"explain", "-eof", NULL};
    const char *crlf[] = {"explain", "-CLUSTERDOWN down\r\n", NULL};

    run_cli(words, no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "input: error reply \"TRYAGAIN Multiple keys\"");
    ASSERT_LINE(run.out, "class: TryAgainError");

    run_cli(dash_word, no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "input: error reply \"eof\"");
    ASSERT_LINE(run.out, "class: ResponseError");

    run_cli(crlf, no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "input: error reply \"CLUSTERDOWN down\"");
    ASSERT_LINE(run.out, "ancestors: ResponseError, ClusterError, ValkeyError");
}

/* An input that explain rejects, and the one line it prints. */
typedef struct bad_input {
    const char *option; /* "--command" or NULL */
    const char *text;
    const char *message;
} bad_input;

static const bad_input bad_inputs[] = {
    {NULL, "", "hiretry: invalid TEXT: it is empty\n"},
    {NULL, " \t ", "hiretry: invalid TEXT: it is empty\n"},
    {NULL, "-", "hiretry: invalid TEXT: the error reply is empty\n"},
    {NULL, "LOADING \xff",
     "hiretry: invalid TEXT: byte 9 of argument 1 is not valid "
     "UTF-8\n"},
    {NULL, "\xc0\x80",
     "hiretry: invalid TEXT: byte 1 of argument 1 is not valid "
     "UTF-8\n"},
    {NULL, "ERR \xed\xa0\x80",
     "hiretry: invalid TEXT: byte 5 of argument 1 is not valid "
     "UTF-8\n"},
    {NULL, "errno:EFOO",
     "hiretry: invalid TEXT: unknown errno 'EFOO'; give a name such "
     "as ECONNRESET or the number of one, such as 104\n"},
    {NULL, "errno:0",
     "hiretry: invalid TEXT: unknown errno '0'; give a name such as "
     "ECONNRESET or the number of one, such as 104\n"},
    {NULL, "other:",
     "hiretry: invalid TEXT: 'other:' needs hiredis's errstr after "
     "the colon\n"},
    {"--command", "", "hiretry: invalid COMMAND: the command name is empty\n"},
    {"--command", "   ",
     "hiretry: invalid COMMAND: the command name is empty\n"},
    {"--command", "SET k \"a b",
     "hiretry: invalid COMMAND: a quote is not closed, or a word "
     "goes on after its closing quote\n"},
    {"--command", "GET \xfe",
     "hiretry: invalid COMMAND: byte 5 of argument 1 is not valid "
     "UTF-8\n"},
};

static void test_explain_bad_input(void)
{
    for (size_t i = 0; i < ARRAY_LEN(bad_inputs); i++) {
        const bad_input *bad = &bad_inputs[i];
        const char *args[] = {"explain", bad->option ? bad->option : "--",
                              bad->text, NULL};

        run_cli(args, no_env);

        ASSERT_EXIT(2);
        HR_ASSERT_STR_EQ(run.out, "");
        HR_ASSERT_STR_EQ(run.err, bad->message);
    }
}

static void test_explain_huge_input(void)
{
    static char huge[100001];
    const char *text[] = {"explain", huge, NULL};
    const char *command[] = {"explain", "--command", huge, NULL};

    memset(huge, 'A', sizeof(huge) - 1);

    run_cli(text, no_env);
    ASSERT_EXIT(2);
    HR_ASSERT_STR_EQ(run.out, "");
    HR_ASSERT_STR_EQ(run.err, "hiretry: invalid TEXT: longer than "
                              "the maximum of 4096 bytes\n");

    run_cli(command, no_env);
    ASSERT_EXIT(2);
    HR_ASSERT_STR_EQ(run.err, "hiretry: invalid COMMAND: longer than "
                              "the maximum of 4096 bytes\n");
}

static void test_explain_help(void)
{
    const char *args[] = {"explain", "--help", NULL};
    char line[LINE_MAX_SIZE];

    run_cli(args, no_env);

    ASSERT_EXIT(0);
    HR_ASSERT_STR_EQ(first_line(run.out, line, sizeof(line)),
                     "Usage: hiretry explain TEXT...");
    ASSERT_LINE(run.out, "      eof           the server closed the "
                         "connection (REDIS_ERR_EOF)");
    ASSERT_LINE(run.out, "Exit status: 0 when explained; 2 for invalid "
                         "usage or input, or when");
    HR_ASSERT_STR_EQ(run.err, "");
}

static void test_explain_usage_errors(void)
{
    const char *missing[] = {"explain", NULL};
    const char *missing_command[] = {"explain", "--command", NULL};
    const char *option[] = {"explain", "--verbose", "LOADING", NULL};

    run_cli(missing, no_env);
    ASSERT_EXIT(2);
    HR_ASSERT_STR_EQ(run.err,
                     "hiretry: missing TEXT to explain\n"
                     "Try 'hiretry explain --help' for more information.\n");

    run_cli(missing_command, no_env);
    ASSERT_EXIT(2);
    HR_ASSERT_STR_EQ(run.err,
                     "hiretry: missing COMMAND to explain\n"
                     "Try 'hiretry explain --help' for more information.\n");

    run_cli(option, no_env);
    ASSERT_EXIT(2);
    HR_ASSERT_STR_EQ(run.out, "");
    HR_ASSERT_STR_EQ(run.err,
                     "hiretry: unknown option '--verbose'\n"
                     "Try 'hiretry explain --help' for more information.\n");
}

/* ---- hiretry explain --command ---- */

/* Runs explain --command on one operand, with no HIRETRY_ variables. */
static void explain_command(const char *command, const char *const *env)
{
    const char *args[] = {"explain", "--command", command, NULL};

    run_cli(args, env);
}

/* Checks the three lines of the writes modes for a command that may have
 * run, with safe as the current mode. */
static void check_modes(const char *safe, const char *all, const char *none,
                        unsigned line)
{
    char expected[3][64];
    const char *values[3] = {safe, all, none};
    const char *labels[3] = {"  safe (current): ", "  all: ", "  none: "};

    for (int i = 0; i < 3; i++) {
        snprintf(expected[i], sizeof(expected[i]), "%s%s", labels[i],
                 values[i]);
        hr_test_record(has_line(run.out, expected[i]), line, __FILE__,
                       "check_modes", "line \"%s\" missing from:\n%.700s",
                       expected[i], run.out);
    }
}

#define ASSERT_MODES(safe, all, none) check_modes(safe, all, none, __LINE__)

static void test_explain_command_get(void)
{
    explain_command("GET key", no_env);

    ASSERT_EXIT(0);
    ASSERT_OUTPUT(run.out,
                  "command: GET key\n"
                  "known: yes\n"
                  "safety: read-only\n"
                  "reason: read-only command\n"
                  "flags: none\n"
                  "sent again if it cannot have run: yes, under every "
                  "HIRETRY_WRITES mode, when HIRETRY_RETRY_ON retries the "
                  "failure\n"
                  "sent again if it may have run, outside MULTI:\n"
                  "  safe (current): yes\n"
                  "  all: yes\n"
                  "  none: no\n");
    HR_ASSERT_STR_EQ(run.err, "");
}

static void test_explain_command_set(void)
{
    explain_command("SET key value EX 10", no_env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "safety: repeat-safe write");
    ASSERT_LINE(run.out, "reason: write whose repeat is harmless: stores the "
                         "same value and replies OK, but a relative expiry "
                         "restarts");
    ASSERT_MODES("yes", "yes", "no");
}

static void test_explain_command_set_nx(void)
{
    explain_command("set key value nx", no_env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "command: set key value nx");
    ASSERT_LINE(run.out, "safety: unsafe");
    ASSERT_LINE(run.out, "reason: write: NX, XX, GET or an unknown option "
                         "changes the reply on repeat");
    ASSERT_MODES("no", "yes", "no");
}

static void test_explain_command_incr(void)
{
    const char *all[] = {"HIRETRY_WRITES=all", NULL};

    explain_command("INCR counter", no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "safety: unsafe");
    ASSERT_LINE(run.out, "reason: write: repeating may apply it twice");
    ASSERT_LINE(run.out, "flags: none");
    ASSERT_MODES("no", "yes", "no");

    explain_command("INCR counter", all);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "  safe: no");
    ASSERT_LINE(run.out, "  all (current): yes");
}

/* An invalid variable is named first, because the output uses its default. */
static void test_explain_invalid_setting_named(void)
{
    const char *typo[] = {"HIRETRY_WRITES=al", NULL};

    explain_command("INCR counter", typo);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "setting: invalid HIRETRY_WRITES=\"al\": expected "
                         "one of safe, all or none, in any case; using the "
                         "default safe");
    ASSERT_LINE(run.out, "  safe (current): no");
}

static void test_explain_command_eval(void)
{
    explain_command("EVAL \"return redis.call('INCR', KEYS[1])\" 1 k", no_env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "command: EVAL \"return redis.call('INCR', "
                         "KEYS[1])\" 1 k");
    ASSERT_LINE(run.out, "safety: unsafe");
    ASSERT_LINE(run.out, "note: a script may write before it replies "
                         "LOADING, READONLY or another error, so such a "
                         "reply counts as may have run");
}

static void test_explain_command_blpop(void)
{
    explain_command("BLPOP queue 0", no_env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "flags: blocking");
    ASSERT_LINE(run.out, "safety: unsafe");
    /* A pop whose reply was lost may have taken an element, even under
     * all. */
    ASSERT_MODES("no", "no", "no");
    ASSERT_LINE(run.out, "note: a socket timeout shorter than the blocking "
                         "time reaches the program with no retry");
}

static void test_explain_command_subscribe(void)
{
    explain_command("SUBSCRIBE news", no_env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "flags: pub/sub");
    ASSERT_MODES("no", "no", "no");
    ASSERT_LINE(run.out, "note: after a reconnect, libhiretry.so subscribes "
                         "again to every channel the program still has");
}

static void test_explain_command_quit(void)
{
    explain_command("QUIT", no_env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "safety: never repeated");
    ASSERT_LINE(run.out, "reason: never repeated: closes the connection");
    ASSERT_LINE(run.out, "sent again if it cannot have run: no, it is sent "
                         "once, as plain hiredis sends it, with no retry and "
                         "no reconnect");
    ASSERT_MODES("no", "no", "no");
}

static void test_explain_command_unknown(void)
{
    explain_command("FROBNICATE x", no_env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "known: no");
    ASSERT_LINE(run.out, "safety: unsafe");
    ASSERT_LINE(run.out, "reason: unknown command");
    ASSERT_MODES("no", "yes", "no");
}

static void test_explain_command_session_and_exec(void)
{
    explain_command("SELECT 3", no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "flags: session");
    ASSERT_LINE(run.out, "safety: repeat-safe write");

    explain_command("EXEC", no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "flags: transaction");
    ASSERT_LINE(run.out, "sent again if it may have run: only when no key is "
                         "watched and every queued command may be sent "
                         "again");
    ASSERT_LINE(run.out, "  none: no");
}

static void test_explain_command_quoting(void)
{
    const char *several[] = {"explain", "--command", "SET", "k",
                             "a b",     "NX",        NULL};

    /* Split naively, "a b" would be two words and make "b" an option. */
    explain_command("SET k \"a b\"", no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "command: SET k \"a b\"");
    ASSERT_LINE(run.out, "safety: repeat-safe write");

    run_cli(several, no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "command: SET k \"a b\" NX");
    ASSERT_LINE(run.out, "safety: unsafe");

    /* The escapes of redis-cli: \xHH and \" in "...", \' in '...'. */
    explain_command("SET \"k\\x20\\\"y\" 'it\\'s' EX 1", no_env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "command: SET \"k \\\"y\" \"it's\" EX 1");
    ASSERT_LINE(run.out, "safety: repeat-safe write");
}

static void test_explain_command_retries_off(void)
{
    const char *zero[] = {"HIRETRY_RETRIES=0", NULL};

    explain_command("GET k", zero);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "note: HIRETRY_RETRIES=0 allows no retry, so no "
                         "command is sent again");
}

/* ---- hiretry run ---- */

/* Stores in buf the LD_PRELOAD line that env prints for the shim. */
static void preload_line(const char *before, char *buf, size_t size)
{
    char shim[PATH_MAX];

    /* run finds the shim through /proc/self/exe, with links resolved. */
    if (realpath(HIRETRY_SHIM_PATH, shim) == NULL)
        snprintf(shim, sizeof(shim), "%s", HIRETRY_SHIM_PATH);
    snprintf(buf, size, "LD_PRELOAD=%s%s%s", before ? before : "",
             before ? ":" : "", shim);
}

static void test_run_sets_variables(void)
{
    const char *args[] = {"run",          "--retries", "5",    "--writes=all",
                          "--disable",    "--log",     "info", "--",
                          "/usr/bin/env", NULL};
    char line[PATH_MAX + 32];

    run_cli(args, path_env);

    ASSERT_EXIT(0);
    preload_line(NULL, line, sizeof(line));
    ASSERT_LINE(run.out, line);
    ASSERT_LINE(run.out, "HIRETRY_RETRIES=5");
    ASSERT_LINE(run.out, "HIRETRY_WRITES=all");
    ASSERT_LINE(run.out, "HIRETRY_DISABLE=1");
    ASSERT_LINE(run.out, "HIRETRY_LOG=info");
    HR_ASSERT_STR_EQ(run.err, "");
}

static void test_run_every_option(void)
{
    const char *args[] = {"run",
                          "--backoff=constant",
                          "--base",
                          "2ms",
                          "--cap=1s",
                          "--retry-on",
                          "+MasterDownError",
                          "--deadline=3s",
                          "--pipeline-max",
                          "64KiB",
                          "--library=" HIRETRY_SHIM_PATH,
                          "/usr/bin/env",
                          NULL};
    const char *env[] = {"PATH=/usr/bin:/bin", "HIRETRY_BACKOFF=none", ASAN_ENV,
                         NULL};
    char line[PATH_MAX + 32];

    run_cli(args, env);

    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, "HIRETRY_BACKOFF=constant");
    ASSERT_NO_LINE(run.out, "HIRETRY_BACKOFF=none");
    ASSERT_LINE(run.out, "HIRETRY_BACKOFF_BASE=2ms");
    ASSERT_LINE(run.out, "HIRETRY_BACKOFF_CAP=1s");
    ASSERT_LINE(run.out, "HIRETRY_RETRY_ON=+MasterDownError");
    ASSERT_LINE(run.out, "HIRETRY_DEADLINE=3s");
    ASSERT_LINE(run.out, "HIRETRY_PIPELINE_MAX=64KiB");
    snprintf(line, sizeof(line), "LD_PRELOAD=%s", HIRETRY_SHIM_PATH);
    ASSERT_LINE(run.out, line);
}

static void test_run_appends_preload(void)
{
    const char *args[] = {"run", "/usr/bin/env", NULL};
    char dir[] = "/tmp/hiretry-test-cli-XXXXXX";
    char other[sizeof(dir) + 32];
    char other_var[sizeof(other) + 16];
    char same_var[PATH_MAX + 16];
    char line[2 * PATH_MAX];
    const char *env[] = {"PATH=/usr/bin:/bin", other_var, ASAN_ENV, NULL};

    /* A second name of the shim stands for another preloaded library. */
    HR_ASSERT_TRUE(mkdtemp(dir) != NULL);
    snprintf(other, sizeof(other), "%s/libother.so", dir);
    HR_ASSERT_INT_EQ(symlink(HIRETRY_SHIM_PATH, other), 0);
    snprintf(other_var, sizeof(other_var), "LD_PRELOAD=%s", other);

    run_cli(args, env);
    ASSERT_EXIT(0);
    preload_line(other, line, sizeof(line));
    ASSERT_LINE(run.out, line);

    /* A shim already listed is not added twice. */
    preload_line(NULL, same_var, sizeof(same_var));
    env[1] = same_var;
    run_cli(args, env);
    ASSERT_EXIT(0);
    ASSERT_LINE(run.out, same_var);

    unlink(other);
    rmdir(dir);
}

static void test_run_exit_status(void)
{
    const char *args[] = {"run", "--", "/bin/sh", "-c", "exit 7", NULL};

    run_cli(args, path_env);

    ASSERT_EXIT(7);
    HR_ASSERT_STR_EQ(run.err, "");
}

static void test_run_program_not_found(void)
{
    const char *in_path[] = {"run", "no-such-program-hiretry", NULL};
    const char *by_path[] = {"run", "/nonexistent/program", NULL};

    run_cli(in_path, path_env);
    ASSERT_EXIT(127);
    HR_ASSERT_STR_EQ(run.err, "hiretry: program 'no-such-program-hiretry' "
                              "not found in PATH\n");

    run_cli(by_path, path_env);
    ASSERT_EXIT(127);
    HR_ASSERT_STR_EQ(run.err,
                     "hiretry: program '/nonexistent/program' not found\n");
}

static void test_run_program_not_executable(void)
{
    char path[] = "/tmp/hiretry-test-cli-XXXXXX";
    const char *args[] = {"run", path, NULL};
    char expected[128];
    int fd = mkstemp(path);

    /* mkstemp creates the file with mode 0600: no execute bit, which even
     * root needs to run a file. */
    HR_ASSERT_TRUE(fd >= 0);
    close(fd);
    run_cli(args, path_env);

    ASSERT_EXIT(126);
    snprintf(expected, sizeof(expected),
             "hiretry: cannot run program '%s': Permission denied\n", path);
    HR_ASSERT_STR_EQ(run.err, expected);
    unlink(path);
}

/* A command line of run that is rejected, and the first line it prints. */
typedef struct run_error {
    const char *args[6];
    const char *message;
} run_error;

static const run_error run_errors[] = {
    {{"run", NULL}, "hiretry: missing program to run"},
    {{"run", "--retries", "3", NULL}, "hiretry: missing program to run"},
    {{"run", "", NULL}, "hiretry: the program name is empty"},
    {{"run", "--retries", NULL},
     "hiretry: option '--retries' requires a value"},
    {{"run", "--retries", "--", "env", NULL},
     "hiretry: option '--retries' requires a value"},
    {{"run", "--disable=1", "env", NULL},
     "hiretry: option '--disable' takes no value"},
    {{"run", "--help=x", "env", NULL},
     "hiretry: option '--help' takes no value"},
    {{"run", "--colour=1", "env", NULL}, "hiretry: unknown option '--colour'"},
    {{"run", "-x", "env", NULL}, "hiretry: unknown option '-x'"},
    {{"run", "--library", "/nonexistent/libhiretry.so", "env", NULL},
     "hiretry: library '/nonexistent/libhiretry.so' not found or not "
     "readable"},
    {{"run", "--library", "/etc", "env", NULL},
     "hiretry: library '/etc' not found or not readable"},
};

static void test_run_usage_errors(void)
{
    for (size_t i = 0; i < ARRAY_LEN(run_errors); i++) {
        char expected[512];

        snprintf(expected, sizeof(expected),
                 "%s\nTry 'hiretry run --help' for more information.\n",
                 run_errors[i].message);
        run_cli(run_errors[i].args, path_env);

        ASSERT_EXIT(2);
        HR_ASSERT_STR_EQ(run.out, "");
        HR_ASSERT_STR_EQ(run.err, expected);
    }
}

static void test_run_help(void)
{
    const char *args[] = {"run", "--help", "--", "env", NULL};
    char line[LINE_MAX_SIZE];

    run_cli(args, path_env);

    ASSERT_EXIT(0);
    HR_ASSERT_STR_EQ(first_line(run.out, line, sizeof(line)),
                     "Usage: hiretry run [OPTION]... [--] PROGRAM "
                     "[ARGUMENT]...");
    ASSERT_LINE(run.out, "  --retries N          HIRETRY_RETRIES: retries "
                         "of a failed command");
    HR_ASSERT_STR_EQ(run.err, "");
}

static CU_TestInfo tests[] = {
    {"test_main_help", test_main_help},
    {"test_main_usage_errors", test_main_usage_errors},
    {"test_check_defaults_valid", test_check_defaults_valid},
    {"test_check_environment_values", test_check_environment_values},
    {"test_check_invalid_values", test_check_invalid_values},
    {"test_check_invalid_message_text", test_check_invalid_message_text},
    {"test_check_long_value_cut", test_check_long_value_cut},
    {"test_check_unknown_variable", test_check_unknown_variable},
    {"test_check_unknown_case_and_name", test_check_unknown_case_and_name},
    {"test_check_retry_on_classes", test_check_retry_on_classes},
    {"test_check_env_format", test_check_env_format},
    {"test_check_file_directory_note", test_check_file_directory_note},
    {"test_check_env_format_valid", test_check_env_format_valid},
    {"test_check_help", test_check_help},
    {"test_check_usage_errors", test_check_usage_errors},
    {"test_explain_loading", test_explain_loading},
    {"test_explain_readonly", test_explain_readonly},
    {"test_explain_wrongpass", test_explain_wrongpass},
    {"test_explain_moved", test_explain_moved},
    {"test_explain_err_message", test_explain_err_message},
    {"test_explain_err_max_clients", test_explain_err_max_clients},
    {"test_explain_eof", test_explain_eof},
    {"test_explain_timeout", test_explain_timeout},
    {"test_explain_errno_forms", test_explain_errno_forms},
    {"test_explain_retries_off", test_explain_retries_off},
    {"test_explain_text_forms", test_explain_text_forms},
    {"test_explain_bad_input", test_explain_bad_input},
    {"test_explain_huge_input", test_explain_huge_input},
    {"test_explain_help", test_explain_help},
    {"test_explain_usage_errors", test_explain_usage_errors},
    {"test_explain_command_get", test_explain_command_get},
    {"test_explain_command_set", test_explain_command_set},
    {"test_explain_command_set_nx", test_explain_command_set_nx},
    {"test_explain_command_incr", test_explain_command_incr},
    {"test_explain_invalid_setting_named", test_explain_invalid_setting_named},
    {"test_explain_command_eval", test_explain_command_eval},
    {"test_explain_command_blpop", test_explain_command_blpop},
    {"test_explain_command_subscribe", test_explain_command_subscribe},
    {"test_explain_command_quit", test_explain_command_quit},
    {"test_explain_command_unknown", test_explain_command_unknown},
    {"test_explain_command_session_and_exec",
     test_explain_command_session_and_exec},
    {"test_explain_command_quoting", test_explain_command_quoting},
    {"test_explain_command_retries_off", test_explain_command_retries_off},
    {"test_run_sets_variables", test_run_sets_variables},
    {"test_run_every_option", test_run_every_option},
    {"test_run_appends_preload", test_run_appends_preload},
    {"test_run_exit_status", test_run_exit_status},
    {"test_run_program_not_found", test_run_program_not_found},
    {"test_run_program_not_executable", test_run_program_not_executable},
    {"test_run_usage_errors", test_run_usage_errors},
    {"test_run_help", test_run_help},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    /* Without cmake/cli.cmake the test has no program to run. */
    if (HIRETRY_CLI_PATH[0] == '\0' || HIRETRY_SHIM_PATH[0] == '\0') {
        fprintf(stderr, "test_cli: HIRETRY_CLI_PATH or HIRETRY_SHIM_PATH is "
                        "not defined; include cmake/cli.cmake after "
                        "add_subdirectory(tests) in CMakeLists.txt\n");
        return 1;
    }
    return hr_test_run("cli", tests);
}

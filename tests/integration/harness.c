/*
 * Process control for the integration tests: a private temporary directory,
 * fork and exec with captured output, bounded waits, and a record of every
 * child so that none outlives the test.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#define HR_PROCESSES_MAX 64

extern char **environ;

static pid_t hr_processes[HR_PROCESSES_MAX];
static char hr_dir[256];

static void hr_harness_remove_dir(void)
{
    if (hr_dir[0] == '\0')
        return;
    hr_harness_remove_tree(hr_dir);
    hr_dir[0] = '\0';
}

const char *hr_harness_dir(void)
{
    const char *tmp = getenv("TMPDIR");

    if (hr_dir[0] != '\0')
        return hr_dir;

    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    if (hr_harness_path(hr_dir, sizeof(hr_dir), "%s/hiretry-it-XXXXXX", tmp) !=
            0 ||
        mkdtemp(hr_dir) == NULL) {
        fprintf(stderr, "harness: mkdtemp %s failed: %s\n", hr_dir,
                strerror(errno));
        hr_dir[0] = '\0';
        return NULL;
    }
    return hr_dir;
}

static int hr_process_record(pid_t pid)
{
    for (int i = 0; i < HR_PROCESSES_MAX; i++) {
        if (hr_processes[i] == 0) {
            hr_processes[i] = pid;
            return 0;
        }
    }
    return -1;
}

static void hr_process_forget(pid_t pid)
{
    for (int i = 0; i < HR_PROCESSES_MAX; i++) {
        if (hr_processes[i] == pid)
            hr_processes[i] = 0;
    }
}

static bool hr_env_inherited(const char *entry, char *const env[])
{
    size_t name_length = strcspn(entry, "=");

    if (strncmp(entry, "LD_PRELOAD=", 11) == 0 ||
        strncmp(entry, "HIRETRY_", 8) == 0)
        return false;

    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        if (strncmp(env[i], entry, name_length + 1) == 0)
            return false;
    }
    return true;
}

/* Builds the child's environment before fork, since the child may only make
 * async-signal-safe calls. The strings stay owned by environ and env. */
static char **hr_env_build(char *const env[])
{
    size_t count = 0;
    size_t added = 0;
    char **result;

    while (environ[count] != NULL)
        count++;
    while (env != NULL && env[added] != NULL)
        added++;

    result = calloc(count + added + 1, sizeof(*result));
    if (result == NULL)
        return NULL;

    count = 0;
    for (size_t i = 0; environ[i] != NULL; i++) {
        if (hr_env_inherited(environ[i], env))
            result[count++] = environ[i];
    }
    for (size_t i = 0; i < added; i++)
        result[count++] = env[i];
    return result;
}

static int hr_open_output(const char *path)
{
    if (path == NULL)
        path = "/dev/null";
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

/* Runs in the forked child: only async-signal-safe calls until execve. */
static void hr_child_exec(char *const argv[], char **envp, int out_fd,
                          int err_fd, int delay_ms, pid_t parent)
{
    struct timespec delay = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    int null_fd;

    /* Dies with the test process however that ends, even on SIGKILL. The
     * harness forks from the main thread only, which PR_SET_PDEATHSIG
     * requires: it fires when the forking thread exits. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(126);

    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 ||
        dup2(err_fd, 2) < 0)
        _exit(126);

    /* The test's own server connections (hiredis opens them without
     * SOCK_CLOEXEC) must not live on in the child and hold server slots. */
    close_range(3, ~0U, 0);

    /* Ignored signals stay ignored across execve. The test ignores SIGPIPE,
     * but the child starts with the default action, as from a shell. */
    signal(SIGPIPE, SIG_DFL);

    while (nanosleep(&delay, &delay) != 0 && errno == EINTR)
        ;

    execve(argv[0], argv, envp);
    _exit(127);
}

int hr_process_spawn(char *const argv[], char *const env[],
                     const char *out_path, const char *err_path, int delay_ms,
                     pid_t *pid)
{
    pid_t parent = getpid();
    char **envp = hr_env_build(env);
    int out_fd = hr_open_output(out_path);
    int err_fd = hr_open_output(err_path);
    pid_t child = -1;

    if (envp != NULL && out_fd >= 0 && err_fd >= 0) {
        fflush(NULL);
        child = fork();
        if (child == 0)
            hr_child_exec(argv, envp, out_fd, err_fd, delay_ms, parent);
    }

    if (child < 0)
        fprintf(stderr, "harness: starting %s failed: %s\n", argv[0],
                strerror(errno));
    free(envp);
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    if (child < 0)
        return -1;

    if (hr_process_record(child) != 0) {
        fprintf(stderr, "harness: cannot record more than %d processes\n",
                HR_PROCESSES_MAX);
        hr_process_kill(child, NULL);
        return -1;
    }
    *pid = child;
    return 0;
}

static int hr_status_code(int raw)
{
    if (WIFEXITED(raw))
        return WEXITSTATUS(raw);
    if (WIFSIGNALED(raw))
        return 128 + WTERMSIG(raw);
    return -1;
}

int64_t hr_harness_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void hr_harness_sleep_ms(int ms)
{
    struct timespec delay = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&delay, &delay) != 0 && errno == EINTR)
        ;
}

int hr_process_wait(pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = hr_harness_now_ms() + timeout_ms;
    int raw;

    for (;;) {
        pid_t reaped = waitpid(pid, &raw, WNOHANG);

        if (reaped == pid) {
            hr_process_forget(pid);
            if (status != NULL)
                *status = hr_status_code(raw);
            return 0;
        }
        if (reaped < 0 && errno != EINTR) {
            fprintf(stderr, "harness: waitpid %d failed: %s\n", (int)pid,
                    strerror(errno));
            hr_process_forget(pid);
            return -1;
        }
        if (hr_harness_now_ms() >= deadline)
            return 1;
        hr_harness_sleep_ms(2);
    }
}

int hr_process_kill(pid_t pid, int *status)
{
    if (kill(pid, SIGKILL) != 0 && errno != ESRCH) {
        fprintf(stderr, "harness: kill %d failed: %s\n", (int)pid,
                strerror(errno));
        return -1;
    }

    /* SIGKILL cannot be caught, so only a process stuck in the kernel
     * outlives this wait. */
    if (hr_process_wait(pid, HR_SERVER_WAIT_MS, status) != 0) {
        fprintf(stderr, "harness: process %d did not exit on SIGKILL\n",
                (int)pid);
        return -1;
    }
    return 0;
}

void hr_harness_stop_all(void)
{
    for (int i = 0; i < HR_PROCESSES_MAX; i++) {
        pid_t pid = hr_processes[i];

        if (pid == 0)
            continue;
        fprintf(stderr, "harness: killing leftover process %d\n", (int)pid);
        if (hr_process_kill(pid, NULL) != 0)
            hr_processes[i] = 0;
    }
}

static void hr_harness_exit(void)
{
    hr_harness_stop_all();
    hr_harness_remove_dir();
}

static int hr_harness_suite_cleanup(void)
{
    hr_harness_stop_all();
    return 0;
}

int hr_harness_run(const char *suite_name, const CU_TestInfo *tests)
{
    CU_SuiteInfo suites[] = {
        {suite_name, NULL, hr_harness_suite_cleanup, NULL, NULL,
         (CU_TestInfo *)tests},
        CU_SUITE_INFO_NULL,
    };
    unsigned failures;

    /* A direct connection must see a killed server as an error, not die. */
    signal(SIGPIPE, SIG_IGN);
    if (atexit(hr_harness_exit) != 0)
        return 2;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "%s: registering tests failed: %s\n", suite_name,
                CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
               CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}

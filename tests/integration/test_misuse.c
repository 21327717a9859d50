/*
 * API misuse with and without the shim: hr_misuse runs one misuse case per
 * process against a real valkey-server, and each test runs the case twice,
 * without the shim and with it, then compares the exit status and every
 * output line: return values, replies, errno, c->err and c->errstr.
 *
 * Where plain hiredis 0.14 crashes (most functions given a NULL context,
 * redisFree twice), the shim must crash the same way at the same call and
 * never hang. Where the shim differs on purpose, the case lists the lines
 * it prints instead, and every other line must still match. The shim
 * reconnects a context whose connect failed or timed out before its next
 * command, and a failed reconnect leaves errno at the connect's error.
 *
 * Connects to the refused port reach a TCP socket this test binds and
 * never listens on, so the kernel refuses them. The retry budget is off,
 * so that each call makes its own retries, independent of the calls
 * before it and of time.
 */
#include "harness.h"
#include "hr_test.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HR_PROGRAM_TIMEOUT_MS 30000
#define HR_LINES_MAX 128
/* hr_program's status for a program killed by SIGSEGV and SIGABRT. */
#define HR_STATUS_SEGV (128 + 11)
#define HR_STATUS_ABORT (128 + 6)
/* The crashes on a NULL context are hiredis 0.14's; 1.x checks some
   functions, so there both runs must only end alike. */
#if HIREDIS_MAJOR == 0
#define HR_STATUS_NULL_CONTEXT HR_STATUS_SEGV
#else
#define HR_STATUS_NULL_CONTEXT (-1)
#endif

/* One misuse case: its expected status and the lines the shim changes. */
typedef struct hr_misuse_case {
    const char *name;
    int status; /* the exit status of both runs, or -1 for any */
    /* KEY=VALUE lines the shim prints instead of plain hiredis's lines
       with the same KEY; NULL-terminated. */
    const char *const *shim_lines;
} hr_misuse_case;

static hr_server hr_shared_server;
static int hr_refused_socket = -1;
static int hr_refused_port;

/* Binds a loopback TCP socket without listening, so connects to its port
 * are refused while the test keeps the port. Returns 0 or -1. */
static int hr_bind_refused_port(void)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    socklen_t length = sizeof(address);

    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    hr_refused_socket = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (hr_refused_socket < 0)
        return -1;
    if (bind(hr_refused_socket, (struct sockaddr *)&address, length) != 0 ||
        getsockname(hr_refused_socket, (struct sockaddr *)&address, &length) !=
            0)
        return -1;
    hr_refused_port = ntohs(address.sin_port);
    return 0;
}

/*
 * Starts the server and binds the refused port on the first call; both
 * serve every case. The harness kills the server when the suite ends.
 */
static bool hr_setup(void)
{
    static int state; /* 0 not tried, 1 ready, -1 failed */
    hr_server_options options = {.kind = HR_SERVER_VALKEY, .unix_socket = true};

    if (state == 0) {
        state = -1;
        if (hr_bind_refused_port() != 0)
            perror("test_misuse: binding the refused port failed");
        else if (hr_server_start(&hr_shared_server, &options) == 0)
            state = 1;
    }
    HR_ASSERT_INT_EQ(state, 1);
    return state == 1;
}

/* Runs one case, with the shim when preload is true. */
static void hr_run_case(hr_program *program, const char *name, bool preload)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char link_path[256];
    int rc = hr_harness_path(link_path, sizeof(link_path), "%s/link-%s-%d",
                             hr_harness_dir(), name, preload);

    rc |= hr_string_list_add(&argv, "%s", HIRETRY_MISUSE_PATH);
    rc |= hr_string_list_add(&argv, "--port");
    rc |= hr_string_list_add(&argv, "%d", hr_shared_server.port);
    rc |= hr_string_list_add(&argv, "--refused-port");
    rc |= hr_string_list_add(&argv, "%d", hr_refused_port);
    rc |= hr_string_list_add(&argv, "--unix");
    rc |= hr_string_list_add(&argv, "%s", hr_shared_server.socket_path);
    rc |= hr_string_list_add(&argv, "--link");
    rc |= hr_string_list_add(&argv, "%s", link_path);
    rc |= hr_string_list_add(&argv, "%s", name);
    if (preload) {
        rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
        rc |= hr_string_list_add(&env, "HIRETRY_BUDGET=off");
        rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    }
    HR_ASSERT_INT_EQ(rc, 0);

    if (rc == 0)
        hr_program_run(program, &argv, &env, HR_PROGRAM_TIMEOUT_MS);
    HR_ASSERT_TRUE(!program->timed_out);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
}

/* Splits text into lines in place. Returns the number of lines. */
static size_t hr_split_lines(char *text, char **lines, size_t max)
{
    size_t count = 0;
    char *save = NULL;

    for (char *line = strtok_r(text, "\n", &save); line && count < max;
         line = strtok_r(NULL, "\n", &save))
        lines[count++] = line;
    return count;
}

/* Returns the shim's replacement for a plain line with the same key. */
static const char *hr_shim_line(const hr_misuse_case *c, const char *line)
{
    size_t key_length = strcspn(line, "=");

    for (size_t i = 0; c->shim_lines != NULL && c->shim_lines[i]; i++) {
        if (strncmp(c->shim_lines[i], line, key_length + 1) == 0)
            return c->shim_lines[i];
    }
    return line;
}

/* Checks the shim's output line by line against plain hiredis's. */
static void hr_compare_output(const hr_misuse_case *c, char *plain, char *shim)
{
    char *plain_lines[HR_LINES_MAX];
    char *shim_lines[HR_LINES_MAX];
    size_t plain_count = hr_split_lines(plain, plain_lines, HR_LINES_MAX);
    size_t shim_count = hr_split_lines(shim, shim_lines, HR_LINES_MAX);

    HR_ASSERT_UINT_EQ(shim_count, plain_count);
    for (size_t i = 0; i < plain_count && i < shim_count; i++)
        HR_ASSERT_STR_EQ(shim_lines[i], hr_shim_line(c, plain_lines[i]));

    /* Every replacement must replace a line that plain hiredis printed. */
    for (size_t i = 0; c->shim_lines != NULL && c->shim_lines[i]; i++) {
        size_t key_length = strcspn(c->shim_lines[i], "=");
        bool found = false;

        for (size_t k = 0; k < plain_count; k++)
            found |=
                strncmp(plain_lines[k], c->shim_lines[i], key_length + 1) == 0;
        HR_ASSERT_TRUE(found);
    }
}

/* Runs a case without and with the shim and compares the two runs. */
static void hr_check_case(const hr_misuse_case *c)
{
    unsigned failures = CU_get_number_of_failures();
    hr_program plain = {0};
    hr_program shim = {0};

    if (!hr_setup())
        return;
    hr_run_case(&plain, c->name, false);
    hr_run_case(&shim, c->name, true);

#ifndef HIRETRY_SANITIZED
    if (c->status != -1)
        HR_ASSERT_INT_EQ(plain.status, c->status);
#endif
    HR_ASSERT_INT_EQ(shim.status, plain.status);
    HR_ASSERT_TRUE(plain.out != NULL && shim.out != NULL);
    if (plain.out != NULL && shim.out != NULL)
        hr_compare_output(c, plain.out, shim.out);

    if (CU_get_number_of_failures() > failures) {
        hr_program_print(&plain, "hr_misuse without the shim");
        hr_program_print(&shim, "hr_misuse with the shim");
    }
    hr_program_free(&plain);
    hr_program_free(&shim);
}

/* A NULL context crashes plain hiredis 0.14 in every function below. */
static void test_misuse_null_context_crashes(void)
{
    static const char *const names[] = {
        "null_command",   "null_command_argv", "null_vcommand",
        "null_append",    "null_append_argv",  "null_append_formatted",
        "null_get_reply", "null_set_timeout",  "null_keepalive",
        "null_reconnect", "null_free_keep_fd", "null_connect_unix",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        hr_misuse_case c = {names[i], HR_STATUS_NULL_CONTEXT, NULL};

        hr_check_case(&c);
    }
}

/* redisFree(NULL) does nothing, and hiredis 0.14's redisConnect(NULL,
 * port) connects to the loopback address, as getaddrinfo() does for a NULL
 * host. */
static void test_misuse_null_accepted(void)
{
    hr_misuse_case free_case = {"null_free", 0, NULL};
    hr_misuse_case connect_case = {"null_connect_host",
                                   HIREDIS_MAJOR == 0 ? 0 : -1, NULL};

    hr_check_case(&free_case);
    hr_check_case(&connect_case);
}

/*
 * A context whose connect was refused: plain hiredis fails every command
 * on the stale error without a system call, so errno keeps its value. The
 * shim reconnects first, fails the same way and leaves errno at
 * ECONNREFUSED.
 */
static void test_misuse_command_after_failed_connect(void)
{
    static const char *const shim_lines[] = {"command1.errno=111",
                                             "command2.errno=111", NULL};
    hr_misuse_case c = {"failed_command", 0, shim_lines};

    hr_check_case(&c);
}

static void test_misuse_free_after_failed_connect(void)
{
    hr_misuse_case c = {"failed_free", 0, NULL};

    hr_check_case(&c);
}

/* A read with nothing owed is passed through, also on a failed context. */
static void test_misuse_get_reply_after_failed_connect(void)
{
    hr_misuse_case c = {"failed_get_reply", 0, NULL};

    hr_check_case(&c);
}

static void test_misuse_append_after_failed_connect(void)
{
    static const char *const shim_lines[] = {"get_reply.errno=111", NULL};
    hr_misuse_case c = {"failed_append", 0, shim_lines};

    hr_check_case(&c);
}

static void test_misuse_reconnect_after_failed_connect(void)
{
    static const char *const shim_lines[] = {"command.errno=111", NULL};
    hr_misuse_case c = {"failed_reconnect", 0, shim_lines};

    hr_check_case(&c);
}

/* redisReconnect on a failed context once the server can be reached. */
static void test_misuse_reconnect_when_server_up(void)
{
    hr_misuse_case c = {"failed_reconnect_up", 0, NULL};

    hr_check_case(&c);
}

/* The documented difference: the shim reconnects a failed context before
 * the next command, where plain hiredis keeps the stale error. */
static void test_misuse_command_when_server_up(void)
{
    static const char *const shim_lines[] = {
        "command.reply=5:PONG", "command.err=0", "command.errstr=", NULL};
    hr_misuse_case c = {"failed_command_up", 0, shim_lines};

    hr_check_case(&c);
}

/* A read with nothing sent times out in both. The next command then
 * fails on the stale error in plain hiredis, and reconnects in the shim. */
static void test_misuse_get_reply_nothing_owed(void)
{
    static const char *const shim_lines[] = {
        "command.reply=5:PONG", "command.err=0", "command.errstr=", NULL};
    hr_misuse_case c = {"get_reply_nothing_owed", 0, shim_lines};

    hr_check_case(&c);
}

static void test_misuse_get_reply_null_out(void)
{
    hr_misuse_case c = {"get_reply_null_out", 0, NULL};

    hr_check_case(&c);
}

/* "*0" gets no reply, so the command times out in both. */
static void test_misuse_command_argv_zero(void)
{
    hr_misuse_case c = {"command_argv_zero", 0, NULL};

    hr_check_case(&c);
}

/*
 * A context connected with a NULL host, whose connection closes: the shim
 * reconnects it to the same loopback address. Plain hiredis reads either
 * EOF or ECONNRESET from the killed connection, so its errno varies, and
 * leaves errno at EINPROGRESS after its successful redisReconnect. The
 * shim's reconnects restore errno in both places.
 */
static void test_misuse_null_host_reconnect(void)
{
    static const char *const shim_lines[] = {
        "command.reply=5:PONG", "command.errno=4242",   "command.err=0",
        "command.errstr=",      "reconnect.errno=4242", NULL};
    hr_misuse_case c = {"null_host_reconnect", 0, shim_lines};

    hr_check_case(&c);
}

/* With hiredis 0.14, glibc detects the second redisFree's double free and
 * aborts. hiredis 1.x fills a context with 0xff before freeing it, so the
 * second redisFree follows a garbage pointer instead. */
#if HIREDIS_MAJOR >= 1
#define HR_STATUS_FREE_TWICE HR_STATUS_SEGV
#else
#define HR_STATUS_FREE_TWICE HR_STATUS_ABORT
#endif

static void test_misuse_free_twice(void)
{
    hr_misuse_case c = {"free_twice", HR_STATUS_FREE_TWICE, NULL};

    hr_check_case(&c);
}

/* Three threads use one context in turn, ordered by pthread_join only. */
static void test_misuse_thread_handoff(void)
{
    hr_misuse_case c = {"thread_handoff", 0, NULL};

    hr_check_case(&c);
}

/* A non-blocking context from hiredis 1.x's redisConnectWithOptions is
 * passed through: the same output, the refused write included. */
static void test_misuse_nonblock_options(void)
{
    hr_misuse_case c = {"nonblock_options", 0, NULL};

    hr_check_case(&c);
}

/* One va_list through two redisvAppendCommand calls: the shim's own
 * formatter and hiredis's must leave it at the same place. */
static void test_misuse_va_list_reuse(void)
{
    hr_misuse_case c = {"va_list_reuse", 0, NULL};

    hr_check_case(&c);
}

static CU_TestInfo tests[] = {
    {"test_misuse_null_context_crashes", test_misuse_null_context_crashes},
    {"test_misuse_null_accepted", test_misuse_null_accepted},
    {"test_misuse_command_after_failed_connect",
     test_misuse_command_after_failed_connect},
    {"test_misuse_free_after_failed_connect",
     test_misuse_free_after_failed_connect},
    {"test_misuse_get_reply_after_failed_connect",
     test_misuse_get_reply_after_failed_connect},
    {"test_misuse_append_after_failed_connect",
     test_misuse_append_after_failed_connect},
    {"test_misuse_reconnect_after_failed_connect",
     test_misuse_reconnect_after_failed_connect},
    {"test_misuse_reconnect_when_server_up",
     test_misuse_reconnect_when_server_up},
    {"test_misuse_command_when_server_up", test_misuse_command_when_server_up},
    {"test_misuse_get_reply_nothing_owed", test_misuse_get_reply_nothing_owed},
    {"test_misuse_get_reply_null_out", test_misuse_get_reply_null_out},
    {"test_misuse_command_argv_zero", test_misuse_command_argv_zero},
    {"test_misuse_null_host_reconnect", test_misuse_null_host_reconnect},
    {"test_misuse_free_twice", test_misuse_free_twice},
    {"test_misuse_thread_handoff", test_misuse_thread_handoff},
    {"test_misuse_nonblock_options", test_misuse_nonblock_options},
    {"test_misuse_va_list_reuse", test_misuse_va_list_reuse},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("misuse", tests);
}

/*
 * hr_misuse: a plain hiredis program that misuses the API in one way per
 * run, named on its command line, and prints what each call returned. The
 * test runs every case with and without the shim and compares the output
 * and the exit status, including a crash, which plain hiredis 0.14 has for
 * most functions given a NULL context.
 *
 * Before each call the program sets errno to HR_ERRNO_MARK and flushes
 * stdout, so the output shows whether the call changed errno and ends
 * right before a call that crashed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

/* A value no libc call sets, so that an unchanged errno shows. */
#define HR_ERRNO_MARK 4242
#define HR_TIMEOUT_MS 300

static const char hr_usage[] =
    "usage: hr_misuse [--port PORT] [--refused-port PORT] [--unix PATH]\n"
    "                 [--link PATH] CASE\n"
    "\n"
    "Runs one misuse CASE of the hiredis API and prints KEY=VALUE lines:\n"
    "the return value, errno, c->err and c->errstr after each call.\n"
    "PORT is a server on 127.0.0.1; --refused-port a port where connects\n"
    "are refused; --unix the server's socket; --link a path that does not\n"
    "exist yet, which a case creates as a symbolic link to the socket.\n"
    "--list prints the cases. Exit status: 0 when the case ran, 2 for\n"
    "invalid arguments.\n";

typedef struct hr_options {
    int port;
    int refused_port;
    const char *unix_path;
    const char *link_path;
} hr_options;

/* Prints a step's values after errno was saved, and flushes them. */
static void hr_print_errno(const char *step, int saved_errno)
{
    printf("%s.errno=%d\n", step, saved_errno);
    fflush(stdout);
}

static void hr_print_context(const char *step, const redisContext *c)
{
    if (c == NULL) {
        printf("%s.context=null\n", step);
    } else {
        printf("%s.err=%d\n", step, c->err);
        printf("%s.errstr=%s\n", step, c->errstr);
    }
    fflush(stdout);
}

static void hr_print_reply(const char *step, const redisReply *reply)
{
    if (reply == NULL)
        printf("%s.reply=null\n", step);
    else if (reply->type == REDIS_REPLY_INTEGER)
        printf("%s.reply=integer:%lld\n", step, reply->integer);
    else if (reply->type == REDIS_REPLY_NIL)
        printf("%s.reply=nil\n", step);
    else if (reply->type == REDIS_REPLY_ARRAY)
        printf("%s.reply=array:%zu\n", step, reply->elements);
    else
        printf("%s.reply=%d:%s\n", step, reply->type, reply->str);
    fflush(stdout);
}

/* Announces a call, so that a crash shows which call it was. */
static void hr_begin(const char *step)
{
    printf("%s.begin\n", step);
    fflush(stdout);
    errno = HR_ERRNO_MARK;
}

static void hr_command_step(const char *step, redisContext *c,
                            const char *command)
{
    redisReply *reply;
    int saved_errno;

    hr_begin(step);
    reply = redisCommand(c, command);
    saved_errno = errno;
    hr_print_reply(step, reply);
    hr_print_errno(step, saved_errno);
    hr_print_context(step, c);
    freeReplyObject(reply);
}

static void hr_get_reply_step(const char *step, redisContext *c)
{
    void *reply = NULL;
    int rc;
    int saved_errno;

    hr_begin(step);
    rc = redisGetReply(c, &reply);
    saved_errno = errno;
    printf("%s.rc=%d\n", step, rc);
    hr_print_reply(step, reply);
    hr_print_errno(step, saved_errno);
    hr_print_context(step, c);
    freeReplyObject(reply);
}

static void hr_reconnect_step(const char *step, redisContext *c)
{
    int rc;
    int saved_errno;

    hr_begin(step);
    rc = redisReconnect(c);
    saved_errno = errno;
    printf("%s.rc=%d\n", step, rc);
    hr_print_errno(step, saved_errno);
    hr_print_context(step, c);
}

/* Prints the return value of an int function called with errno marked. */
static void hr_print_rc(const char *step, int rc)
{
    int saved_errno = errno;

    printf("%s.rc=%d\n", step, rc);
    hr_print_errno(step, saved_errno);
}

static void hr_print_connect(const char *step, redisContext *c)
{
    int saved_errno = errno;

    hr_print_errno(step, saved_errno);
    hr_print_context(step, c);
}

static void hr_null_command(const hr_options *options)
{
    (void)options;
    hr_command_step("command", NULL, "PING");
}

static void hr_null_command_argv(const hr_options *options)
{
    const char *argv[] = {"PING"};
    redisReply *reply;

    (void)options;
    hr_begin("command_argv");
    reply = redisCommandArgv(NULL, 1, argv, NULL);
    hr_print_reply("command_argv", reply);
    freeReplyObject(reply);
}

static void *hr_vcommand(redisContext *c, const char *format, ...)
{
    va_list ap;
    void *reply;

    va_start(ap, format);
    reply = redisvCommand(c, format, ap);
    va_end(ap);
    return reply;
}

static void hr_null_vcommand(const hr_options *options)
{
    redisReply *reply;

    (void)options;
    hr_begin("vcommand");
    reply = hr_vcommand(NULL, "PING");
    hr_print_reply("vcommand", reply);
    freeReplyObject(reply);
}

static void hr_null_append(const hr_options *options)
{
    (void)options;
    hr_begin("append");
    hr_print_rc("append", redisAppendCommand(NULL, "PING"));
}

static void hr_null_append_argv(const hr_options *options)
{
    const char *argv[] = {"PING"};

    (void)options;
    hr_begin("append_argv");
    hr_print_rc("append_argv", redisAppendCommandArgv(NULL, 1, argv, NULL));
}

static void hr_null_append_formatted(const hr_options *options)
{
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";

    (void)options;
    hr_begin("append_formatted");
    hr_print_rc("append_formatted",
                redisAppendFormattedCommand(NULL, ping, strlen(ping)));
}

static void hr_null_get_reply(const hr_options *options)
{
    (void)options;
    hr_get_reply_step("get_reply", NULL);
}

static void hr_null_set_timeout(const hr_options *options)
{
    struct timeval tv = {1, 0};

    (void)options;
    hr_begin("set_timeout");
    hr_print_rc("set_timeout", redisSetTimeout(NULL, tv));
}

static void hr_null_keepalive(const hr_options *options)
{
    (void)options;
    hr_begin("keepalive");
    hr_print_rc("keepalive", redisEnableKeepAlive(NULL));
}

static void hr_null_reconnect(const hr_options *options)
{
    (void)options;
    hr_reconnect_step("reconnect", NULL);
}

static void hr_null_free(const hr_options *options)
{
    (void)options;
    hr_begin("free");
    redisFree(NULL);
    hr_print_errno("free", errno);
}

static void hr_null_free_keep_fd(const hr_options *options)
{
    (void)options;
    hr_begin("free_keep_fd");
    hr_print_rc("free_keep_fd", redisFreeKeepFd(NULL));
}

static void hr_null_connect_host(const hr_options *options)
{
    redisContext *c;

    hr_begin("connect");
    c = redisConnect(NULL, options->port);
    hr_print_connect("connect", c);
    redisFree(c);
}

static void hr_null_connect_unix(const hr_options *options)
{
    redisContext *c;

    (void)options;
    hr_begin("connect_unix");
    c = redisConnectUnix(NULL);
    hr_print_connect("connect_unix", c);
    redisFree(c);
}

/* Connects to the refused port, which fails with c->err set. */
static redisContext *hr_connect_refused(const hr_options *options)
{
    redisContext *c;

    hr_begin("connect");
    c = redisConnect("127.0.0.1", options->refused_port);
    hr_print_connect("connect", c);
    return c;
}

/* A program that ignores the failed connect and keeps sending. */
static void hr_failed_command(const hr_options *options)
{
    redisContext *c = hr_connect_refused(options);

    hr_command_step("command1", c, "PING");
    hr_command_step("command2", c, "SET misuse:key value");
    hr_begin("free");
    redisFree(c);
    hr_print_errno("free", errno);
}

static void hr_failed_free(const hr_options *options)
{
    redisContext *c = hr_connect_refused(options);

    hr_begin("free");
    redisFree(c);
    hr_print_errno("free", errno);
}

static void hr_failed_get_reply(const hr_options *options)
{
    redisContext *c = hr_connect_refused(options);

    hr_get_reply_step("get_reply", c);
    redisFree(c);
}

static void hr_failed_append(const hr_options *options)
{
    redisContext *c = hr_connect_refused(options);

    hr_begin("append");
    hr_print_rc("append", redisAppendCommand(c, "PING"));
    hr_print_context("append", c);
    hr_get_reply_step("get_reply", c);
    redisFree(c);
}

static void hr_failed_reconnect(const hr_options *options)
{
    redisContext *c = hr_connect_refused(options);

    hr_reconnect_step("reconnect", c);
    hr_command_step("command", c, "PING");
    redisFree(c);
}

/*
 * Connects through --link before it exists, which fails, then creates the
 * link to the server's socket: the server is now reachable at the address
 * the context keeps.
 */
static redisContext *hr_connect_before_link(const hr_options *options)
{
    redisContext *c;

    hr_begin("connect");
    c = redisConnectUnix(options->link_path);
    hr_print_connect("connect", c);
    if (symlink(options->unix_path, options->link_path) != 0) {
        fprintf(stderr, "hr_misuse: symlink %s failed: %s\n",
                options->link_path, strerror(errno));
        exit(1);
    }
    return c;
}

/* redisReconnect on a failed context once the server can be reached. */
static void hr_failed_reconnect_up(const hr_options *options)
{
    redisContext *c = hr_connect_before_link(options);

    hr_reconnect_step("reconnect", c);
    hr_command_step("command", c, "PING");
    redisFree(c);
}

/*
 * redisCommand on a failed context once the server can be reached: plain
 * hiredis keeps failing on the stale error, the shim reconnects first.
 */
static void hr_failed_command_up(const hr_options *options)
{
    redisContext *c = hr_connect_before_link(options);

    hr_command_step("command", c, "PING");
    redisFree(c);
}

static redisContext *hr_connect_live(const hr_options *options)
{
    struct timeval tv = {0, HR_TIMEOUT_MS * 1000};
    redisContext *c;

    hr_begin("connect");
    c = redisConnectWithTimeout("127.0.0.1", options->port, tv);
    hr_print_connect("connect", c);
    if (c == NULL || c->err)
        exit(3);
    hr_begin("set_timeout");
    hr_print_rc("set_timeout", redisSetTimeout(c, tv));
    return c;
}

/* A read with no command sent waits for the socket timeout. */
static void hr_get_reply_nothing_owed(const hr_options *options)
{
    redisContext *c = hr_connect_live(options);

    hr_get_reply_step("get_reply", c);
    hr_command_step("command", c, "PING");
    redisFree(c);
}

/* Frees a connected context twice, which glibc detects as a double free. */
static void hr_free_twice(const hr_options *options)
{
    redisContext *c = hr_connect_live(options);

    hr_command_step("command", c, "PING");
    hr_begin("free1");
    redisFree(c);
    hr_print_errno("free1", errno);
    hr_begin("free2");
    redisFree(c);
    hr_print_errno("free2", errno);
}

/* redisGetReply with no place to store the reply, which hiredis allows. */
static void hr_get_reply_null_out(const hr_options *options)
{
    redisContext *c = hr_connect_live(options);
    int rc;

    hr_begin("append");
    hr_print_rc("append", redisAppendCommand(c, "PING"));
    hr_begin("get_reply");
    rc = redisGetReply(c, NULL);
    hr_print_rc("get_reply", rc);
    hr_print_context("get_reply", c);
    hr_command_step("command", c, "PING");
    redisFree(c);
}

/* redisCommandArgv with no arguments: the server rejects "*0". */
static void hr_command_argv_zero(const hr_options *options)
{
    redisContext *c = hr_connect_live(options);
    const char *argv[] = {NULL};
    redisReply *reply;

    hr_begin("command_argv");
    reply = redisCommandArgv(c, 0, argv, NULL);
    hr_print_reply("command_argv", reply);
    hr_print_context("command_argv", c);
    freeReplyObject(reply);
    redisFree(c);
}

/*
 * hiredis 0.14 connects a NULL host to the loopback address and keeps
 * c->tcp.host NULL, also for redisReconnect. The connection then closes
 * itself with CLIENT KILL, so that the next command meets a closed
 * connection: the shim's reconnect and log must cope with the NULL host.
 */
static void hr_null_host_reconnect(const hr_options *options)
{
    redisContext *c;
    redisReply *reply;
    char kill[64];

    hr_begin("connect");
    c = redisConnect(NULL, options->port);
    hr_print_connect("connect", c);
    if (c == NULL || c->err)
        exit(3);
    reply = redisCommand(c, "CLIENT ID");
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
        exit(3);
    snprintf(kill, sizeof(kill), "CLIENT KILL ID %lld SKIPME no",
             reply->integer);
    freeReplyObject(reply);
    hr_command_step("kill", c, kill);
    hr_command_step("command", c, "PING");
    hr_reconnect_step("reconnect", c);
    hr_command_step("after_reconnect", c, "PING");
    redisFree(c);
}

typedef struct hr_handoff {
    redisContext *c;
    int stage;
} hr_handoff;

/* Runs one stage of the hand-off on the thread it was started on. */
static void *hr_handoff_stage(void *arg)
{
    hr_handoff *handoff = arg;
    redisContext *c = handoff->c;

    if (handoff->stage == 1) {
        hr_command_step("thread1.set", c, "SET misuse:handoff 1");
        hr_begin("thread1.append");
        hr_print_rc("thread1.append", redisAppendCommand(c, "INCR misuse:n"));
        hr_print_rc("thread1.append", redisAppendCommand(c, "GET misuse:n"));
    } else if (handoff->stage == 2) {
        hr_get_reply_step("thread2.get_reply1", c);
        hr_command_step("thread2.get", c, "GET misuse:handoff");
    } else {
        hr_get_reply_step("thread3.get_reply2", c);
        hr_command_step("thread3.del", c, "DEL misuse:handoff misuse:n");
    }
    return NULL;
}

/*
 * One context used by three threads in turn, with no lock: the program
 * orders the uses with pthread_join. A pipeline appended on one thread is
 * read on two others. Plain hiredis has no thread state, so this works.
 */
static void hr_thread_handoff(const hr_options *options)
{
    hr_handoff handoff = {hr_connect_live(options), 0};

    for (int stage = 1; stage <= 3; stage++) {
        pthread_t thread;

        handoff.stage = stage;
        if (pthread_create(&thread, NULL, hr_handoff_stage, &handoff) != 0) {
            fputs("hr_misuse: pthread_create failed\n", stderr);
            exit(1);
        }
        pthread_join(thread, NULL);
    }
    redisFree(handoff.c);
}

/* Appends two commands from one va_list and reads both replies. */
static void hr_append_twice(redisContext *c, const char *step,
                            const char *format, ...)
{
    char name[64];
    va_list ap;

    va_start(ap, format);
    for (int i = 1; i <= 2; i++) {
        snprintf(name, sizeof(name), "%s.append%d", step, i);
        hr_begin(name);
        hr_print_rc(name, redisvAppendCommand(c, format, ap));
    }
    va_end(ap);
    for (int i = 1; i <= 2; i++) {
        snprintf(name, sizeof(name), "%s.get_reply%d", step, i);
        hr_get_reply_step(name, c);
    }
}

/*
 * Reuses one va_list for two redisvAppendCommand calls. Where va_list is
 * an array type (x86-64), hiredis's va_arg calls advance the caller's
 * va_list, so the second command takes the next arguments. The C standard
 * leaves ap indeterminate after such a call, but a program may rely on
 * this ABI, and the shim must leave ap where hiredis leaves it.
 */
static void hr_va_list_reuse(const hr_options *options)
{
    redisContext *c = hr_connect_live(options);

    hr_append_twice(c, "strings", "ECHO %s", "first", "second");
    hr_append_twice(c, "binary", "ECHO %b", "one", (size_t)3, "two", (size_t)3);
    hr_append_twice(c, "integers", "ECHO %d:%lld:%x", 1, 2LL, 3u, 4, 5LL, 6u);
    hr_append_twice(c, "doubles", "ECHO %f", 1.5, 2.5);
    redisFree(c);
}

typedef struct hr_case {
    const char *name;
    void (*run)(const hr_options *options);
} hr_case;

/*
 * hiredis 1.x: a non-blocking context from redisConnectWithOptions, to a
 * port that refuses connects. redisCommand only queues the command, and
 * the write reports the refusal. The shim must pass all of it through:
 * no retry, no reconnect, no wait. hiredis 0.14 has no
 * redisConnectWithOptions, so there the case prints one line.
 */
static void hr_nonblock_options(const hr_options *options)
{
#if HIREDIS_MAJOR >= 1
    redisOptions connect_options = {0};
    redisContext *c;
    int done = 0;

    REDIS_OPTIONS_SET_TCP(&connect_options, "127.0.0.1", options->refused_port);
    connect_options.options |= REDIS_OPT_NONBLOCK;
    hr_begin("connect");
    c = redisConnectWithOptions(&connect_options);
    hr_print_connect("connect", c);
    if (c == NULL)
        return;
    hr_command_step("command", c, "PING");
    hr_begin("write");
    hr_print_rc("write", redisBufferWrite(c, &done));
    hr_print_context("write", c);
    hr_begin("free");
    redisFree(c);
    hr_print_errno("free", errno);
#else
    (void)options;
    printf("nonblock_options=not in hiredis 0.14\n");
#endif
}

static const hr_case hr_cases[] = {
    {"null_command", hr_null_command},
    {"null_command_argv", hr_null_command_argv},
    {"null_vcommand", hr_null_vcommand},
    {"null_append", hr_null_append},
    {"null_append_argv", hr_null_append_argv},
    {"null_append_formatted", hr_null_append_formatted},
    {"null_get_reply", hr_null_get_reply},
    {"null_set_timeout", hr_null_set_timeout},
    {"null_keepalive", hr_null_keepalive},
    {"null_reconnect", hr_null_reconnect},
    {"null_free", hr_null_free},
    {"null_free_keep_fd", hr_null_free_keep_fd},
    {"null_connect_host", hr_null_connect_host},
    {"null_connect_unix", hr_null_connect_unix},
    {"failed_command", hr_failed_command},
    {"failed_free", hr_failed_free},
    {"failed_get_reply", hr_failed_get_reply},
    {"failed_append", hr_failed_append},
    {"failed_reconnect", hr_failed_reconnect},
    {"failed_reconnect_up", hr_failed_reconnect_up},
    {"failed_command_up", hr_failed_command_up},
    {"get_reply_nothing_owed", hr_get_reply_nothing_owed},
    {"get_reply_null_out", hr_get_reply_null_out},
    {"command_argv_zero", hr_command_argv_zero},
    {"null_host_reconnect", hr_null_host_reconnect},
    {"free_twice", hr_free_twice},
    {"thread_handoff", hr_thread_handoff},
    {"nonblock_options", hr_nonblock_options},
    {"va_list_reuse", hr_va_list_reuse},
};

#define HR_CASE_COUNT (sizeof(hr_cases) / sizeof(hr_cases[0]))

/* Parses a port number. Returns it, or -1. */
static int hr_parse_port(const char *text)
{
    char *end;
    long port = strtol(text, &end, 10);

    if (*text == '\0' || *end != '\0' || port < 1 || port > 65535)
        return -1;
    return (int)port;
}

/* Parses the options. Returns the case's index, or -1. */
static int hr_parse(hr_options *options, int argc, char **argv)
{
    int i = 1;

    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            options->port = hr_parse_port(argv[i + 1]);
        else if (strcmp(argv[i], "--refused-port") == 0)
            options->refused_port = hr_parse_port(argv[i + 1]);
        else if (strcmp(argv[i], "--unix") == 0)
            options->unix_path = argv[i + 1];
        else if (strcmp(argv[i], "--link") == 0)
            options->link_path = argv[i + 1];
        else
            break;
    }
    if (i + 1 != argc || options->port < 0 || options->refused_port < 0)
        return -1;

    for (size_t k = 0; k < HR_CASE_COUNT; k++) {
        if (strcmp(argv[i], hr_cases[k].name) == 0)
            return (int)k;
    }
    fprintf(stderr, "hr_misuse: unknown case %s; see --list\n", argv[i]);
    return -1;
}

int main(int argc, char **argv)
{
    hr_options options = {0, 0, NULL, NULL};
    int index;

    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t k = 0; k < HR_CASE_COUNT; k++)
            puts(hr_cases[k].name);
        return 0;
    }
    index = hr_parse(&options, argc, argv);
    if (index < 0) {
        fputs(hr_usage, stderr);
        return 2;
    }

    printf("case=%s\n", hr_cases[index].name);
    hr_cases[index].run(&options);
    printf("done=1\n");
    return 0;
}

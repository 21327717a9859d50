/*
 * hr_pipeline_edges: a plain hiredis program that runs the steps on its
 * command line, in order, on one blocking context, for the pipeline cases
 * that hr_script cannot express: raw bytes given to
 * redisAppendFormattedCommand, a reply reader with functions of the
 * program's own, fork() with replies owed, long pipelines and the memory
 * they take. It prints one result line per step, as hr_script does.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define HR_ARGS_MAX 64
#define HR_WAIT_LIMIT_MS 30000
#define HR_RAW_MAX 4096
#define HR_ARENA_SLOTS 4096
#define HR_ARENA_TEXT 64

static const char hr_usage[] =
    "usage: hr_pipeline_edges (--port PORT | --unix PATH) [--timeout-ms MS]\n"
    "                         STEP...\n"
    "\n"
    "Connects to 127.0.0.1:PORT or to PATH and runs each STEP in order:\n"
    "\n"
    "  WORD...             redisCommandArgv with the words split on spaces\n"
    "  @append:WORD...     redisAppendCommandArgv, no reply read\n"
    "  @raw:TEXT           redisAppendFormattedCommand with TEXT, where \\r,\n"
    "                      \\n and \\\\ stand for CR, LF and a backslash\n"
    "  @getreply           redisGetReply\n"
    "  @reconnect          redisReconnect\n"
    "  @reader:arena       replaces the reader's functions with ones that\n"
    "                      build replies in a static arena, never malloc\n"
    "  @reader:null        sets the reader's functions to NULL, so that\n"
    "                      each reply is its type code (hiredis's rule)\n"
    "  @fork:exit          fork(); the child calls _exit(0) at once\n"
    "  @fork:free          fork(); the child calls redisFree, then _exit(0)\n"
    "  @appendmany:N:WORD...  redisAppendCommandArgv N times\n"
    "  @readmany:N         redisGetReply N times; prints the count read\n"
    "  @peak               prints the peak resident set size (VmHWM), KiB\n"
    "  @sleep:MS           sleeps MS milliseconds\n"
    "  @touch:PATH         creates the file PATH\n"
    "  @wait:PATH          waits until the file PATH exists (30 s at most)\n"
    "\n"
    "Prints step<N>=RESULT for each step, where RESULT is status:TEXT,\n"
    "error:TEXT, integer:N, string:TEXT, nil, array:COUNT, code:N (a type\n"
    "code from a NULL reader), pointer (an object where a type code was\n"
    "expected), ok, or failed:ERR:ERRSTR, then step<N>.ms=ELAPSED. Exit\n"
    "status: 0 when every step ran, 2 for invalid arguments, 3 when the\n"
    "connection failed.\n";

/* How replies are built: hiredis's objects, the arena, or type codes. */
typedef enum hr_reader_mode {
    HR_READER_DEFAULT,
    HR_READER_ARENA,
    HR_READER_NULL
} hr_reader_mode;

static hr_reader_mode hr_mode = HR_READER_DEFAULT;

/*
 * A reply built by the arena functions. Its layout differs from
 * redisReply's on purpose: only the program may free it, with its own
 * freeObject, which does nothing because the arena is static.
 */
typedef struct hr_arena_reply {
    int type; /* REDIS_REPLY_* */
    long long integer;
    size_t elements;
    char text[HR_ARENA_TEXT];
} hr_arena_reply;

static hr_arena_reply hr_arena[HR_ARENA_SLOTS];
static size_t hr_arena_next;

static void *hr_arena_take(int type)
{
    hr_arena_reply *reply = &hr_arena[hr_arena_next++ % HR_ARENA_SLOTS];

    memset(reply, 0, sizeof(*reply));
    reply->type = type;
    return reply;
}

static void *hr_arena_string(const redisReadTask *task, char *str, size_t len)
{
    hr_arena_reply *reply = hr_arena_take(task->type);

    snprintf(reply->text, sizeof(reply->text), "%.*s", (int)len, str);
    return reply;
}

/* hiredis 1.x counts elements in a size_t and 0.14 in an int. */
#if HIREDIS_MAJOR >= 1
typedef size_t hr_element_count;
#else
typedef int hr_element_count;
#endif

static void *hr_arena_array(const redisReadTask *task,
                            hr_element_count elements)
{
    hr_arena_reply *reply = hr_arena_take(REDIS_REPLY_ARRAY);

    (void)task;
    reply->elements = elements > 0 ? (size_t)elements : 0;
    return reply;
}

static void *hr_arena_integer(const redisReadTask *task, long long value)
{
    hr_arena_reply *reply = hr_arena_take(REDIS_REPLY_INTEGER);

    (void)task;
    reply->integer = value;
    return reply;
}

static void *hr_arena_nil(const redisReadTask *task)
{
    (void)task;
    return hr_arena_take(REDIS_REPLY_NIL);
}

static void hr_arena_free(void *reply)
{
    (void)reply;
}

static redisReplyObjectFunctions hr_arena_functions = {
    .createString = hr_arena_string,
    .createArray = hr_arena_array,
    .createInteger = hr_arena_integer,
    .createNil = hr_arena_nil,
    .freeObject = hr_arena_free,
};

static long long hr_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hr_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Prints one reply as hr_script does, reading the type and the text from
 * whichever kind of object the reader built. */
static void hr_print_reply(int step, const void *object)
{
    int type;
    long long integer;
    size_t elements;
    const char *text;

    if (hr_mode == HR_READER_NULL) {
        if ((uintptr_t)object < 4096)
            printf("step%d=code:%d\n", step, (int)(uintptr_t)object);
        else
            printf("step%d=pointer\n", step);
        return;
    }
    if (hr_mode == HR_READER_ARENA) {
        const hr_arena_reply *reply = object;

        type = reply->type;
        integer = reply->integer;
        elements = reply->elements;
        text = reply->text;
    } else {
        const redisReply *reply = object;

        type = reply->type;
        integer = reply->integer;
        elements = reply->elements;
        text = reply->str;
    }

    switch (type) {
    case REDIS_REPLY_STATUS:
        printf("step%d=status:%s\n", step, text);
        break;
    case REDIS_REPLY_ERROR:
        printf("step%d=error:%s\n", step, text);
        break;
    case REDIS_REPLY_INTEGER:
        printf("step%d=integer:%lld\n", step, integer);
        break;
    case REDIS_REPLY_STRING:
        printf("step%d=string:%s\n", step, text);
        break;
    case REDIS_REPLY_NIL:
        printf("step%d=nil\n", step);
        break;
    case REDIS_REPLY_ARRAY:
        printf("step%d=array:%zu\n", step, elements);
        break;
    default:
        printf("step%d=type:%d\n", step, type);
        break;
    }
}

/* Frees a reply the way its reader requires. */
static void hr_free_reply(void *reply)
{
    if (hr_mode == HR_READER_DEFAULT)
        freeReplyObject(reply);
}

static void hr_print_failure(int step, const redisContext *c)
{
    printf("step%d=failed:%d:%s\n", step, c->err, c->errstr);
}

/* Splits words on spaces into argv. Returns the count, or -1. */
static int hr_split(char *words, char **argv)
{
    int argc = 0;

    for (char *save = NULL, *word = strtok_r(words, " ", &save); word;
         word = strtok_r(NULL, " ", &save)) {
        if (argc == HR_ARGS_MAX)
            return -1;
        argv[argc++] = word;
    }
    return argc;
}

static void hr_run_command(redisContext *c, int step, char *words, bool append)
{
    char *argv[HR_ARGS_MAX];
    int argc = hr_split(words, argv);
    void *reply;

    if (argc <= 0) {
        printf("step%d=invalid\n", step);
        return;
    }
    if (append) {
        if (redisAppendCommandArgv(c, argc, (const char **)argv, NULL) ==
            REDIS_OK)
            printf("step%d=ok\n", step);
        else
            hr_print_failure(step, c);
        return;
    }
    reply = redisCommandArgv(c, argc, (const char **)argv, NULL);
    if (reply == NULL) {
        hr_print_failure(step, c);
        return;
    }
    hr_print_reply(step, reply);
    hr_free_reply(reply);
}

static void hr_get_reply(redisContext *c, int step)
{
    void *reply = NULL;

    if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) {
        hr_print_failure(step, c);
        return;
    }
    hr_print_reply(step, reply);
    hr_free_reply(reply);
}

/* Decodes \r, \n and \\ in text into out. Returns the length, or -1. */
static long hr_unescape(const char *text, char *out, size_t size)
{
    size_t n = 0;

    for (const char *p = text; *p != '\0'; p++) {
        char ch = *p;

        if (ch == '\\') {
            p++;
            if (*p == 'r')
                ch = '\r';
            else if (*p == 'n')
                ch = '\n';
            else if (*p == '\\')
                ch = '\\';
            else
                return -1;
        }
        if (n == size)
            return -1;
        out[n++] = ch;
    }
    return (long)n;
}

static void hr_append_raw(redisContext *c, int step, const char *text)
{
    char bytes[HR_RAW_MAX];
    long len = hr_unescape(text, bytes, sizeof(bytes));

    if (len < 0) {
        printf("step%d=invalid\n", step);
        return;
    }
    if (redisAppendFormattedCommand(c, bytes, (size_t)len) == REDIS_OK)
        printf("step%d=ok\n", step);
    else
        hr_print_failure(step, c);
}

static void hr_set_reader(redisContext *c, int step, const char *mode)
{
    if (strcmp(mode, "arena") == 0) {
        c->reader->fn = &hr_arena_functions;
        hr_mode = HR_READER_ARENA;
    } else if (strcmp(mode, "null") == 0) {
        c->reader->fn = NULL;
        hr_mode = HR_READER_NULL;
    } else {
        printf("step%d=invalid\n", step);
        return;
    }
    printf("step%d=ok\n", step);
}

/* Forks and waits for the child, which leaves at once, after freeing its
 * copy of the context when mode is "free". */
static void hr_fork(redisContext *c, int step, const char *mode)
{
    bool free_context = strcmp(mode, "free") == 0;
    int status;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        printf("step%d=failed:fork:%s\n", step, strerror(errno));
        return;
    }
    if (pid == 0) {
        if (free_context)
            redisFree(c);
        _exit(0);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        printf("step%d=failed:child\n", step);
        return;
    }
    printf("step%d=ok\n", step);
}

static void hr_append_many(redisContext *c, int step, char *spec)
{
    char *words = NULL;
    long count = strtol(spec, &words, 10);
    char *argv[HR_ARGS_MAX];
    int argc;

    if (count <= 0 || *words != ':' ||
        (argc = hr_split(words + 1, argv)) <= 0) {
        printf("step%d=invalid\n", step);
        return;
    }
    for (long i = 0; i < count; i++) {
        if (redisAppendCommandArgv(c, argc, (const char **)argv, NULL) !=
            REDIS_OK) {
            hr_print_failure(step, c);
            return;
        }
    }
    printf("step%d=ok\n", step);
}

/* Reads count replies; prints how many were read before the first failure
 * and that failure, if any. */
static void hr_read_many(redisContext *c, int step, long count)
{
    long read = 0;

    for (; read < count; read++) {
        void *reply = NULL;

        if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL)
            break;
        hr_free_reply(reply);
    }
    if (read == count)
        printf("step%d=read:%ld\n", step, read);
    else
        printf("step%d=read:%ld:failed:%d:%s\n", step, read, c->err, c->errstr);
}

/* Prints VmHWM from /proc/self/status, in KiB. */
static void hr_print_peak(int step)
{
    FILE *file = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;

    while (file != NULL && fgets(line, sizeof(line), file) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    }
    if (file != NULL)
        fclose(file);
    printf("step%d=kib:%ld\n", step, kib);
}

static void hr_wait_file(int step, const char *path)
{
    struct stat st;
    long long deadline = hr_now_ms() + HR_WAIT_LIMIT_MS;

    while (stat(path, &st) != 0) {
        if (hr_now_ms() >= deadline) {
            printf("step%d=timed-out\n", step);
            return;
        }
        hr_sleep_ms(10);
    }
    printf("step%d=ok\n", step);
}

static void hr_touch(int step, const char *path)
{
    FILE *file = fopen(path, "w");

    if (file == NULL || fclose(file) != 0) {
        printf("step%d=failed:%s\n", step, strerror(errno));
        return;
    }
    printf("step%d=ok\n", step);
}

/* Returns the text after prefix when text starts with it, else NULL. */
static char *hr_after(char *text, const char *prefix)
{
    size_t len = strlen(prefix);

    return strncmp(text, prefix, len) == 0 ? text + len : NULL;
}

static void hr_run_step(redisContext *c, int step, char *text)
{
    long long start = hr_now_ms();
    char *arg;

    if ((arg = hr_after(text, "@append:")) != NULL) {
        hr_run_command(c, step, arg, true);
    } else if ((arg = hr_after(text, "@raw:")) != NULL) {
        hr_append_raw(c, step, arg);
    } else if (strcmp(text, "@getreply") == 0) {
        hr_get_reply(c, step);
    } else if (strcmp(text, "@reconnect") == 0) {
        if (redisReconnect(c) == REDIS_OK)
            printf("step%d=ok\n", step);
        else
            hr_print_failure(step, c);
    } else if ((arg = hr_after(text, "@reader:")) != NULL) {
        hr_set_reader(c, step, arg);
    } else if ((arg = hr_after(text, "@fork:")) != NULL) {
        hr_fork(c, step, arg);
    } else if ((arg = hr_after(text, "@appendmany:")) != NULL) {
        hr_append_many(c, step, arg);
    } else if ((arg = hr_after(text, "@readmany:")) != NULL) {
        hr_read_many(c, step, strtol(arg, NULL, 10));
    } else if (strcmp(text, "@peak") == 0) {
        hr_print_peak(step);
    } else if ((arg = hr_after(text, "@sleep:")) != NULL) {
        hr_sleep_ms(strtol(arg, NULL, 10));
        printf("step%d=ok\n", step);
    } else if ((arg = hr_after(text, "@touch:")) != NULL) {
        hr_touch(step, arg);
    } else if ((arg = hr_after(text, "@wait:")) != NULL) {
        hr_wait_file(step, arg);
    } else {
        hr_run_command(c, step, text, false);
    }
    printf("step%d.ms=%lld\n", step, hr_now_ms() - start);
    fflush(stdout);
}

static redisContext *hr_connect(int port, const char *unix_path,
                                long timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c;

    if (unix_path != NULL)
        c = timeout_ms > 0 ? redisConnectUnixWithTimeout(unix_path, tv)
                           : redisConnectUnix(unix_path);
    else
        c = timeout_ms > 0 ? redisConnectWithTimeout("127.0.0.1", port, tv)
                           : redisConnect("127.0.0.1", port);
    if (c != NULL && c->err == 0 && timeout_ms > 0)
        redisSetTimeout(c, tv);
    return c;
}

int main(int argc, char **argv)
{
    const char *unix_path = NULL;
    long timeout_ms = 0;
    int port = 0;
    int i = 1;
    redisContext *c;

    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--unix") == 0)
            unix_path = argv[i + 1];
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            timeout_ms = strtol(argv[i + 1], NULL, 10);
        else
            break;
    }
    if (i >= argc || (port <= 0 && unix_path == NULL) || timeout_ms < 0) {
        fputs(hr_usage, stderr);
        return 2;
    }

    c = hr_connect(port, unix_path, timeout_ms);
    if (c == NULL || c->err) {
        printf("connect=failed:%d:%s\n", c ? c->err : 0,
               c ? c->errstr : "out of memory");
        redisFree(c);
        return 3;
    }
    printf("connect=ok\n");

    for (int step = 1; i < argc; i++, step++)
        hr_run_step(c, step, argv[i]);
    redisFree(c);
    return 0;
}

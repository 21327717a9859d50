/*
 * hr_fork_threads: a plain hiredis program for the fork and thread tests.
 *
 * With --forks K, worker threads send SET and GET on contexts of their own
 * while the main thread forks K times. Each child sends CLIENT ID on the
 * main thread's context, inherited from the parent, prints the id and
 * exits. The parent waits for each child with a timeout, then checks that
 * its own connection still has its id.
 *
 * With --first-call, the threads wait on a barrier and then all make their
 * first hiredis call, a connect and a PING, at the same instant.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define HR_THREADS_MAX 64
#define HR_CHILD_TIMEOUT_MS 10000

static const char hr_usage[] =
    "usage: hr_fork_threads --port PORT [--threads N] "
    "(--forks K | --first-call)\n"
    "\n"
    "Prints key=value results: parent_id, parent_id_after, child<k>_id\n"
    "(the CLIENT ID a child read on the inherited context, or failed:ERRSTR),\n"
    "children_timed_out, thread_errors and thread_ops.\n";

static int hr_port;
static atomic_bool hr_stop;
static atomic_long hr_thread_errors;
static atomic_long hr_thread_ops;
static pthread_barrier_t hr_barrier;

static void hr_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static redisContext *hr_connect(void)
{
    struct timeval timeout = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", hr_port, timeout);

    if (c != NULL && c->err == 0)
        redisSetTimeout(c, timeout);
    return c;
}

/* Sends cmd and counts a failure or an error reply. Returns true on
 * success. */
static bool hr_command_ok(redisContext *c, const char *format, long i)
{
    redisReply *reply = redisCommand(c, format, i, i);
    bool ok = reply != NULL && reply->type != REDIS_REPLY_ERROR;

    freeReplyObject(reply);
    atomic_fetch_add(&hr_thread_ops, 1);
    if (!ok)
        atomic_fetch_add(&hr_thread_errors, 1);
    return ok;
}

/* A worker: SET and GET on a context of its own until hr_stop. */
static void *hr_worker(void *arg)
{
    long id = (long)(intptr_t)arg;
    redisContext *c = hr_connect();

    if (c == NULL || c->err) {
        atomic_fetch_add(&hr_thread_errors, 1);
        redisFree(c);
        return NULL;
    }
    for (long i = 0; !atomic_load(&hr_stop); i++) {
        hr_command_ok(c, "SET worker:%ld %ld", id);
        hr_command_ok(c, "GET worker:%ld", id);
    }
    redisFree(c);
    return NULL;
}

/* A first-call thread: waits for every other, then connects and PINGs. */
static void *hr_first_caller(void *arg)
{
    redisContext *c;

    (void)arg;
    pthread_barrier_wait(&hr_barrier);
    c = hr_connect();
    if (c == NULL || c->err)
        atomic_fetch_add(&hr_thread_errors, 1);
    else
        hr_command_ok(c, "PING", 0);
    redisFree(c);
    return NULL;
}

static long long hr_client_id(redisContext *c, char *failure, size_t size)
{
    redisReply *reply = redisCommand(c, "CLIENT ID");
    long long id = -1;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        id = reply->integer;
    else
        snprintf(failure, size, "failed:%s",
                 reply != NULL ? reply->str : c->errstr);
    freeReplyObject(reply);
    return id;
}

/* Runs in the child: one command on the inherited context. */
static void hr_child(redisContext *c, int k)
{
    char failure[256] = "";
    long long id = hr_client_id(c, failure, sizeof(failure));

    if (id >= 0)
        printf("child%d_id=%lld\n", k, id);
    else
        printf("child%d_id=%s\n", k, failure);
    fflush(stdout);
    _exit(0);
}

/* Waits for pid up to HR_CHILD_TIMEOUT_MS. Returns false, after killing
 * it, when it did not exit in time. */
static bool hr_wait_child(pid_t pid)
{
    for (int waited = 0; waited < HR_CHILD_TIMEOUT_MS; waited += 5) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return true;
        hr_sleep_ms(5);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return false;
}

static int hr_run_forks(int threads, int forks)
{
    pthread_t workers[HR_THREADS_MAX];
    char failure[256] = "";
    redisContext *c = hr_connect();
    long long parent_id;
    int timed_out = 0;

    if (c == NULL || c->err) {
        fprintf(stderr, "hr_fork_threads: connect failed\n");
        return 3;
    }
    parent_id = hr_client_id(c, failure, sizeof(failure));
    printf("parent_id=%lld\n", parent_id);
    for (int i = 0; i < threads; i++)
        pthread_create(&workers[i], NULL, hr_worker, (void *)(intptr_t)i);

    for (int k = 0; k < forks; k++) {
        pid_t pid;

        hr_sleep_ms(20);
        fflush(stdout);
        pid = fork();
        if (pid == 0)
            hr_child(c, k);
        if (pid < 0 || !hr_wait_child(pid))
            timed_out++;
    }

    atomic_store(&hr_stop, true);
    for (int i = 0; i < threads; i++)
        pthread_join(workers[i], NULL);
    printf("parent_id_after=%lld\n", hr_client_id(c, failure, sizeof(failure)));
    printf("children_timed_out=%d\n", timed_out);
    redisFree(c);
    return 0;
}

static int hr_run_first_calls(int threads)
{
    pthread_t callers[HR_THREADS_MAX];

    pthread_barrier_init(&hr_barrier, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++)
        pthread_create(&callers[i], NULL, hr_first_caller, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(callers[i], NULL);
    pthread_barrier_destroy(&hr_barrier);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 8;
    int forks = 0;
    bool first_call = false;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            hr_port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--forks") == 0 && i + 1 < argc)
            forks = atoi(argv[++i]);
        else if (strcmp(argv[i], "--first-call") == 0)
            first_call = true;
        else
            hr_port = 0;
    }
    if (hr_port <= 0 || threads < 1 || threads > HR_THREADS_MAX ||
        (forks <= 0 && !first_call)) {
        fputs(hr_usage, stderr);
        return 2;
    }

    rc =
        first_call ? hr_run_first_calls(threads) : hr_run_forks(threads, forks);
    printf("thread_errors=%ld\n", atomic_load(&hr_thread_errors));
    printf("thread_ops=%ld\n", atomic_load(&hr_thread_ops));
    return rc;
}

/*
 * The counters behind HIRETRY_STATS_FILE and the thread that writes them.
 *
 * Calls are counted per thread: each thread that makes a call registers a
 * block of its own in a list, and the writer sums the list. A thread that
 * exits adds its count to hr_stats_retired. The rest happens only after a
 * failure and uses atomic increments of process-wide counters.
 *
 * A fork child starts from zero, since its counters describe another
 * process. It writes a file of its own only when the path contains %p:
 * two processes replacing the same file would each hide the other's
 * counts.
 */
#include "stats.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "hiretry/path.h"
#include "log.h"
#include "stats_internal.h"

__thread hr_stats_thread *hr_stats_self
    __attribute__((tls_model("initial-exec")));
_Atomic bool hr_stats_enabled;

hr_stats_counters hr_stats;

const double hr_stats_bucket_seconds[HR_STATS_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5,   1,      2.5,   5,    10,    30,   60,
};

static pthread_mutex_t hr_stats_threads_lock = PTHREAD_MUTEX_INITIALIZER;
static hr_stats_thread *hr_stats_threads;
static _Atomic uint64_t hr_stats_retired; /* calls of threads that exited */
static pthread_key_t hr_stats_key;
static pid_t hr_stats_pid; /* the process whose counters these are */
static bool hr_stats_exit_registered;

uint64_t hr_stats_calls(void)
{
    uint64_t calls =
        atomic_load_explicit(&hr_stats_retired, memory_order_relaxed);

    pthread_mutex_lock(&hr_stats_threads_lock);
    for (hr_stats_thread *t = hr_stats_threads; t != NULL; t = t->next)
        calls += atomic_load_explicit(&t->calls, memory_order_relaxed);
    pthread_mutex_unlock(&hr_stats_threads_lock);
    return calls;
}

/* Runs at thread exit for each registered thread. */
static void hr_stats_detach(void *arg)
{
    hr_stats_thread *self = arg;

    pthread_mutex_lock(&hr_stats_threads_lock);
    for (hr_stats_thread **link = &hr_stats_threads; *link != NULL;
         link = &(*link)->next) {
        if (*link == self) {
            *link = self->next;
            break;
        }
    }
    atomic_fetch_add_explicit(
        &hr_stats_retired,
        atomic_load_explicit(&self->calls, memory_order_relaxed),
        memory_order_relaxed);
    pthread_mutex_unlock(&hr_stats_threads_lock);
    hr_stats_self = NULL;
    free(self);
}

static void hr_stats_reset(void)
{
    memset(&hr_stats, 0, sizeof(hr_stats));
    atomic_store_explicit(&hr_stats_retired, 0, memory_order_relaxed);
}

static void hr_stats_prepare_fork(void)
{
    pthread_mutex_lock(&hr_stats_write_lock);
    pthread_mutex_lock(&hr_stats_threads_lock);
}

static void hr_stats_parent_after_fork(void)
{
    pthread_mutex_unlock(&hr_stats_threads_lock);
    pthread_mutex_unlock(&hr_stats_write_lock);
}

/* The threads of the list do not exist in the child. Their blocks are
 * dropped, not freed, since a thread may have been inside malloc. */
static void hr_stats_child_after_fork(void)
{
    hr_stats_threads = NULL;
    hr_stats_self = NULL;
    hr_stats_reset();
    pthread_mutex_unlock(&hr_stats_threads_lock);
    pthread_mutex_unlock(&hr_stats_write_lock);
}

static void hr_stats_at_exit(void)
{
    if (hr_stats_pid == getpid())
        hr_stats_write();
}

static void *hr_stats_writer(void *arg)
{
    struct timespec interval = {
        (time_t)(hr_shim_config.stats_interval_ns / 1000000000),
        (long)(hr_shim_config.stats_interval_ns % 1000000000)};

    (void)arg;
    for (;;) {
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &interval, NULL) != 0)
            ;
        hr_stats_write();
    }
    return NULL;
}

/* Starts the writer with every signal blocked, so that the program's
 * signals go to the program's threads. */
static void hr_stats_start_writer(void)
{
    sigset_t all, saved;
    pthread_attr_t attr;
    pthread_t thread;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&thread, &attr, hr_stats_writer, NULL) != 0)
        hr_log(HR_LOG_WARN,
               "event=stats_thread_failed "
               "reason=\"the stats file is written at exit only\"");
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

/*
 * Starts the statistics of this process at its first call: the exit
 * handler, and the writer unless HIRETRY_STATS_INTERVAL is 0. A daemon
 * that forks before its first call gets them in the process that calls.
 * Returns false when this process keeps no statistics.
 */
static bool hr_stats_start_locked(void)
{
    pid_t pid = getpid();

    if (hr_stats_pid == pid)
        return true;
    if (hr_stats_pid != 0 && !hr_path_per_process(hr_shim_config.stats_file))
        return false;
    hr_stats_pid = pid;
    if (!hr_stats_exit_registered) {
        hr_stats_exit_registered = atexit(hr_stats_at_exit) == 0;
    }
    if (hr_shim_config.stats_interval_ns > 0)
        hr_stats_start_writer();
    return true;
}

void hr_stats_attach(void)
{
    int saved_errno = errno;
    hr_stats_thread *self = calloc(1, sizeof(*self));

    if (self == NULL) {
        errno = saved_errno;
        return;
    }
    atomic_init(&self->calls, 1);
    pthread_mutex_lock(&hr_stats_threads_lock);
    if (!hr_stats_start_locked()) {
        pthread_mutex_unlock(&hr_stats_threads_lock);
        atomic_store_explicit(&hr_stats_enabled, false, memory_order_relaxed);
        free(self);
        errno = saved_errno;
        return;
    }
    self->next = hr_stats_threads;
    hr_stats_threads = self;
    pthread_mutex_unlock(&hr_stats_threads_lock);
    hr_stats_self = self;
    (void)pthread_setspecific(hr_stats_key, self);
    errno = saved_errno;
}

static bool hr_stats_on(void)
{
    return atomic_load_explicit(&hr_stats_enabled, memory_order_relaxed);
}

static void hr_stats_add(_Atomic uint64_t *counter, uint64_t value)
{
    atomic_fetch_add_explicit(counter, value, memory_order_relaxed);
}

/* Records the duration of a call that was retried. */
static void hr_stats_observe(const hr_call *call)
{
    int64_t elapsed_ns;
    double seconds;
    int bucket = 0;

    if (call->started_ns <= 0)
        return;
    elapsed_ns = hr_now_ns() - call->started_ns;
    if (elapsed_ns < 0)
        elapsed_ns = 0;
    seconds = (double)elapsed_ns / 1e9;
    while (bucket < HR_STATS_BUCKETS &&
           seconds > hr_stats_bucket_seconds[bucket])
        bucket++;
    hr_stats_add(&hr_stats.histogram[bucket], 1);
    hr_stats_add(&hr_stats.histogram_sum_ns, (uint64_t)elapsed_ns);
}

void hr_stats_failed(const hr_call *call, hr_class cls, hr_verdict verdict)
{
    if (!hr_stats_on())
        return;
    if ((unsigned)cls < HR_CLASS_COUNT)
        hr_stats_add(&hr_stats.failures[cls], 1);
    if (verdict == HR_RETRY) {
        hr_stats_add(&hr_stats.retries, 1);
        return;
    }
    if ((unsigned)verdict < HR_STATS_VERDICTS)
        hr_stats_add(&hr_stats.give_ups[verdict], 1);
    /* A call that failed once and was not retried is no retried call. */
    if (call->failures > 1)
        hr_stats_observe(call);
}

void hr_stats_recovered_slow(const hr_call *call)
{
    if (!hr_stats_on())
        return;
    hr_stats_add(&hr_stats.recovered, 1);
    hr_stats_observe(call);
}

void hr_stats_reconnect(bool connected)
{
    if (!hr_stats_on())
        return;
    hr_stats_add(
        connected ? &hr_stats.reconnects : &hr_stats.reconnect_failures, 1);
}

void hr_stats_init(void)
{
    if (hr_shim_config.stats_file[0] == '\0')
        return;
    if (pthread_key_create(&hr_stats_key, hr_stats_detach) != 0)
        return;
    pthread_atfork(hr_stats_prepare_fork, hr_stats_parent_after_fork,
                   hr_stats_child_after_fork);
    atomic_store_explicit(&hr_stats_enabled, true, memory_order_relaxed);
}

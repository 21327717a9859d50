/*
 * HIRETRY_STATS_FILE in the Prometheus text exposition format, version
 * 0.0.4, which node_exporter's textfile collector reads: a # HELP and a
 * # TYPE line per metric, then its samples.
 */
#include "stats_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "budget.h"
#include "hiretry/path.h"
#include "log.h"
#include "shim.h"

/* Endpoints listed in the file. NOTE: a process with more endpoints than
 * this lists the most recently created ones only. */
#define HR_STATS_ENDPOINTS_MAX 64

/* Held only around the file's replacement, never with another lock, so
 * the atfork handlers of the other locks cannot wait on it in a cycle. */
pthread_mutex_t hr_stats_write_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t hr_load(_Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

static void hr_metric_header(FILE *out, const char *name, const char *type,
                             const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Writes a label value with the escapes of the format: \\, \" and \n. */
static void hr_label_value(FILE *out, const char *value)
{
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"')
            fputc('\\', out);
        if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

static void hr_write_calls(FILE *out)
{
    uint64_t calls = hr_stats_calls();
    uint64_t retries = hr_load(&hr_stats.retries);

    hr_metric_header(out, "hiretry_calls_total", "counter",
                     "Commands sent, and pipelined replies read, with the "
                     "retry policy.");
    fprintf(out, "hiretry_calls_total %llu\n", (unsigned long long)calls);
    hr_metric_header(out, "hiretry_attempts_total", "counter",
                     "Attempts: the first attempt of each call plus every "
                     "retry.");
    fprintf(out, "hiretry_attempts_total %llu\n",
            (unsigned long long)(calls + retries));
    hr_metric_header(out, "hiretry_retries_total", "counter",
                     "Retries after a failed attempt, connects included.");
    fprintf(out, "hiretry_retries_total %llu\n", (unsigned long long)retries);
    hr_metric_header(out, "hiretry_recovered_total", "counter",
                     "Calls that succeeded after at least one retry.");
    fprintf(out, "hiretry_recovered_total %llu\n",
            (unsigned long long)hr_load(&hr_stats.recovered));
    hr_metric_header(out, "hiretry_reconnects_total", "counter",
                     "Reconnects in place, by result.");
    fprintf(out, "hiretry_reconnects_total{result=\"connected\"} %llu\n",
            (unsigned long long)hr_load(&hr_stats.reconnects));
    fprintf(out, "hiretry_reconnects_total{result=\"failed\"} %llu\n",
            (unsigned long long)hr_load(&hr_stats.reconnect_failures));
}

static void hr_write_outcomes(FILE *out)
{
    hr_metric_header(out, "hiretry_give_ups_total", "counter",
                     "Calls that failed for good, by the reason retrying "
                     "stopped.");
    for (int v = HR_RETRY + 1; v < HR_STATS_VERDICTS; v++)
        fprintf(out, "hiretry_give_ups_total{reason=\"%s\"} %llu\n",
                hr_verdict_name((hr_verdict)v),
                (unsigned long long)hr_load(&hr_stats.give_ups[v]));

    hr_metric_header(out, "hiretry_failures_total", "counter",
                     "Failed attempts, by valkey-py error class.");
    for (int cls = 0; cls < HR_CLASS_COUNT; cls++)
        fprintf(out, "hiretry_failures_total{class=\"%s\"} %llu\n",
                hr_class_name((hr_class)cls),
                (unsigned long long)hr_load(&hr_stats.failures[cls]));
}

static void hr_write_histogram(FILE *out)
{
    static const char name[] = "hiretry_retried_call_duration_seconds";
    uint64_t cumulative = 0;

    hr_metric_header(out, name, "histogram",
                     "Duration of calls that were retried, from the start "
                     "of the call to its success or give-up.");
    for (int i = 0; i < HR_STATS_BUCKETS; i++) {
        cumulative += hr_load(&hr_stats.histogram[i]);
        fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
                hr_stats_bucket_seconds[i], (unsigned long long)cumulative);
    }
    cumulative += hr_load(&hr_stats.histogram[HR_STATS_BUCKETS]);
    fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name,
            (unsigned long long)cumulative);
    fprintf(out, "%s_sum %.9f\n", name,
            (double)hr_load(&hr_stats.histogram_sum_ns) / 1e9);
    fprintf(out, "%s_count %llu\n", name, (unsigned long long)cumulative);
}

/* Writes one sample per endpoint of a per-endpoint metric. */
static void hr_write_endpoint_samples(FILE *out, const char *name,
                                      const hr_endpoint_stats *endpoints,
                                      size_t count, size_t offset)
{
    for (size_t i = 0; i < count; i++) {
        const uint64_t *value =
            (const uint64_t *)((const char *)&endpoints[i] + offset);

        fprintf(out, "%s{endpoint=\"", name);
        hr_label_value(out, endpoints[i].name);
        fprintf(out, "\"} %llu\n", (unsigned long long)*value);
    }
}

static void hr_write_breaker_states(FILE *out,
                                    const hr_endpoint_stats *endpoints,
                                    size_t count)
{
    static const hr_breaker_state states[] = {
        HR_BREAKER_CLOSED, HR_BREAKER_OPEN, HR_BREAKER_HALF_OPEN};

    hr_metric_header(out, "hiretry_breaker_state", "gauge",
                     "1 for the circuit breaker's current state of each "
                     "endpoint, 0 for the others.");
    for (size_t i = 0; i < count; i++) {
        for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
            fputs("hiretry_breaker_state{endpoint=\"", out);
            hr_label_value(out, endpoints[i].name);
            fprintf(out, "\",state=\"%s\"} %d\n",
                    hr_breaker_state_name(states[s]),
                    endpoints[i].state == states[s]);
        }
    }
}

static void hr_write_endpoints(FILE *out)
{
    hr_endpoint_stats endpoints[HR_STATS_ENDPOINTS_MAX];
    size_t count = hr_budget_snapshot(endpoints, HR_STATS_ENDPOINTS_MAX);

    hr_metric_header(out, "hiretry_budget_tokens", "gauge",
                     "Tokens in the endpoint's retry budget.");
    for (size_t i = 0; i < count; i++) {
        fputs("hiretry_budget_tokens{endpoint=\"", out);
        hr_label_value(out, endpoints[i].name);
        fprintf(out, "\"} %.3f\n", (double)endpoints[i].tokens_milli / 1000);
    }
    hr_metric_header(out, "hiretry_budget_allowed_total", "counter",
                     "Reconnects and retries that the retry budget allowed.");
    hr_write_endpoint_samples(out, "hiretry_budget_allowed_total", endpoints,
                              count, offsetof(hr_endpoint_stats, allowed));
    hr_metric_header(out, "hiretry_budget_refused_total", "counter",
                     "Reconnects that the retry budget refused.");
    hr_write_endpoint_samples(out, "hiretry_budget_refused_total", endpoints,
                              count, offsetof(hr_endpoint_stats, refused));
    hr_metric_header(out, "hiretry_breaker_opened_total", "counter",
                     "Times the endpoint's circuit breaker opened.");
    hr_write_endpoint_samples(out, "hiretry_breaker_opened_total", endpoints,
                              count, offsetof(hr_endpoint_stats, opened));
    hr_metric_header(out, "hiretry_breaker_rejected_total", "counter",
                     "Reconnects that the open circuit rejected.");
    hr_write_endpoint_samples(out, "hiretry_breaker_rejected_total", endpoints,
                              count, offsetof(hr_endpoint_stats, rejected));
    hr_write_breaker_states(out, endpoints, count);
}

/* Formats every metric into a buffer that the caller frees. */
static char *hr_stats_format(size_t *length)
{
    char *text = NULL;
    FILE *out = open_memstream(&text, length);

    if (out == NULL)
        return NULL;
    hr_write_calls(out);
    hr_write_outcomes(out);
    hr_write_histogram(out);
    hr_write_endpoints(out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Writes text to path through a temporary file and a rename. Returns 0,
 * or -1 with errno set. */
static int hr_replace_file(const char *path, const char *text, size_t length)
{
    char temporary[HR_PATH_MAX + 64];
    int fd;
    int error_number;

    /* A name outside *.prom, which the textfile collector skips. */
    snprintf(temporary, sizeof(temporary), "%s.%ld.tmp", path, (long)getpid());
    fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0644);
    if (fd < 0)
        return -1;
    for (size_t done = 0; done < length;) {
        ssize_t n = write(fd, text + done, length - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto failed;
        done += (size_t)n;
    }
    if (close(fd) != 0) {
        fd = -1;
        goto failed;
    }
    if (rename(temporary, path) == 0)
        return 0;
    fd = -1;
failed:
    error_number = errno;
    if (fd >= 0)
        close(fd);
    unlink(temporary);
    errno = error_number;
    return -1;
}

void hr_stats_write(void)
{
    int saved_errno = errno;
    char path[HR_PATH_MAX + 32];
    size_t length = 0;
    char *text = hr_stats_format(&length);
    int rc;

    if (text == NULL ||
        hr_path_expand(hr_shim_config.stats_file, (long)getpid(), path,
                       sizeof(path)) != 0) {
        free(text);
        errno = saved_errno;
        return;
    }
    pthread_mutex_lock(&hr_stats_write_lock);
    rc = hr_replace_file(path, text, length);
    pthread_mutex_unlock(&hr_stats_write_lock);
    if (rc != 0)
        hr_log_once(HR_LOG_WARN,
                    "event=stats_write_failed path=\"%s\" error=\"%s\"", path,
                    strerror(errno));
    free(text);
    errno = saved_errno;
}

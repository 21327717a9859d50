/*
 * The retry budget against a retry storm. Many hr_workload threads or
 * processes run GET against a real valkey-server with libhiretry.so
 * preloaded. The test kills the server and, for the five seconds it stays
 * down, listens on its port itself. It accepts every connection attempt,
 * counts it in 100 ms buckets and closes it, so each attempt fails as
 * against a dead server. Then it starts the server again and measures how
 * long the programs take to be connected again. Each layout runs with
 * HIRETRY_BUDGET=off and then on. With the budget, the attempts must stay
 * within what its defaults allow per process, fall at least tenfold for
 * 200 threads in 4 processes (fivefold for 50 processes, see below), and
 * the recovery may not be much slower.
 *
 * With HIRETRY_BUDGET_SERIES_DIR set, each run also writes its buckets to
 * <dir>/<layout>-<budget>.dat, which scripts/bench-budget plots.
 */
#include "harness.h"
#include "hr_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HR_OUTAGE_MS 5000
#define HR_BUCKET_MS 100
#define HR_BUCKETS (HR_OUTAGE_MS / HR_BUCKET_MS)
#define HR_CONNECT_WAIT_MS 20000
#define HR_RECOVERY_WAIT_MS 20000
#define HR_MAX_PROCESSES 64

/* HIRETRY_BUDGET_CAPACITY and HIRETRY_BUDGET_FLOOR by default. */
#define HR_CAPACITY 5
#define HR_FLOOR 2

/* What one run measured. */
typedef struct hr_storm_result {
    long long attempts;           /* connections accepted while down */
    long long series[HR_BUCKETS]; /* the same, per 100 ms */
    int64_t recovery_ms;          /* restart until all are connected */
} hr_storm_result;

/* A layout of programs: processes, each with threads contexts. */
typedef struct hr_storm_layout {
    const char *name;
    int processes;
    int threads;
} hr_storm_layout;

/* Opens a listening TCP socket on 127.0.0.1:port, or returns -1. */
static int hr_listen(int port)
{
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port)};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        listen(fd, 4096) != 0) {
        perror("listen on the server's port");
        close(fd);
        return -1;
    }
    return fd;
}

/* Accepts and closes every connection on fd for HR_OUTAGE_MS. */
static void hr_count_attempts(int fd, hr_storm_result *result)
{
    int64_t start = hr_harness_now_ms();
    int64_t now = start;

    while (now - start < HR_OUTAGE_MS) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int client;

        (void)poll(&pfd, 1, 10);
        while ((client = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
            int64_t bucket = (hr_harness_now_ms() - start) / HR_BUCKET_MS;

            if (bucket < HR_BUCKETS)
                result->series[bucket]++;
            result->attempts++;
            close(client);
        }
        now = hr_harness_now_ms();
    }
}

/* Waits until the server counts at least clients connections besides the
 * one of the query. Returns the milliseconds waited, or -1. */
static int64_t hr_wait_clients(const hr_server *server, long long clients,
                               int timeout_ms)
{
    int64_t start = hr_harness_now_ms();

    for (;;) {
        long long connected =
            hr_server_info_integer(server, "connected_clients");
        int64_t waited = hr_harness_now_ms() - start;

        if (connected >= clients + 1)
            return waited;
        if (waited > timeout_ms)
            return -1;
        hr_harness_sleep_ms(10);
    }
}

static int hr_start_programs(hr_program *programs, const hr_server *server,
                             const hr_storm_layout *layout, const char *budget)
{
    int rc = 0;

    for (int i = 0; i < layout->processes && rc == 0; i++) {
        hr_string_list argv = {0};
        hr_string_list env = {0};

        rc |= hr_workload_args(&argv, server, false);
        rc |= hr_string_list_add(&argv, "--op");
        rc |= hr_string_list_add(&argv, "get");
        rc |= hr_string_list_add(&argv, "--threads");
        rc |= hr_string_list_add(&argv, "%d", layout->threads);
        rc |= hr_string_list_add(&argv, "--seconds");
        rc |= hr_string_list_add(&argv, "120");
        rc |= hr_string_list_add(&argv, "--sleep-ms");
        rc |= hr_string_list_add(&argv, "10");
        rc |= hr_string_list_add(&argv, "--keep-going");
        rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
        rc |= hr_string_list_add(&env, "HIRETRY_BUDGET=%s", budget);
        rc |= hr_string_list_add(&env, "HIRETRY_LOG=off");
        if (rc == 0)
            rc = hr_program_start(&programs[i], &argv, &env);
        hr_string_list_free(&argv);
        hr_string_list_free(&env);
    }
    return rc;
}

/* Writes the buckets for scripts/bench-budget, when it requests them. */
static void hr_write_series(const hr_storm_layout *layout, const char *budget,
                            const hr_storm_result *result)
{
    const char *dir = getenv("HIRETRY_BUDGET_SERIES_DIR");
    char path[512];
    FILE *file;

    if (dir == NULL)
        return;
    snprintf(path, sizeof(path), "%s/%s-%s.dat", dir, layout->name, budget);
    file = fopen(path, "w");
    if (file == NULL) {
        perror(path);
        return;
    }
    fprintf(file, "# time_s attempts_per_s recovery_ms=%lld\n",
            (long long)result->recovery_ms);
    for (int i = 0; i < HR_BUCKETS; i++)
        fprintf(file, "%.1f %lld\n", (double)i * HR_BUCKET_MS / 1000.0,
                result->series[i] * (1000 / HR_BUCKET_MS));
    fclose(file);
}

/* Runs one layout through one outage. Returns 0 when every step worked. */
static int hr_storm_run(const hr_storm_layout *layout, const char *budget,
                        hr_storm_result *result)
{
    long long clients = (long long)layout->processes * layout->threads;
    hr_program programs[HR_MAX_PROCESSES] = {0};
    hr_server_options options = {.kind = HR_SERVER_VALKEY};
    hr_server server;
    int rc = hr_server_start(&server, &options);
    int listener = -1;

    memset(result, 0, sizeof(*result));
    result->recovery_ms = -1;
    if (rc == 0)
        rc = hr_start_programs(programs, &server, layout, budget);
    if (rc == 0 && hr_wait_clients(&server, clients, HR_CONNECT_WAIT_MS) < 0)
        rc = -1;
    if (rc == 0)
        rc = hr_server_kill(&server);
    if (rc == 0 && (listener = hr_listen(server.port)) < 0)
        rc = -1;
    if (rc == 0)
        hr_count_attempts(listener, result);
    if (listener >= 0)
        close(listener);
    if (rc == 0)
        rc = hr_server_restart(&server);
    if (rc == 0)
        result->recovery_ms =
            hr_wait_clients(&server, clients, HR_RECOVERY_WAIT_MS);

    printf("\n%s budget=%s: %lld connection attempts in %d ms down, "
           "recovery %lld ms\n",
           layout->name, budget, result->attempts, HR_OUTAGE_MS,
           (long long)result->recovery_ms);
    hr_write_series(layout, budget, result);
    for (int i = 0; i < layout->processes; i++)
        hr_program_free(&programs[i]);
    hr_server_stop(&server);
    return rc;
}

/*
 * Returns the most attempts that the default budget lets through in one
 * outage: per process, the first reconnect of each context is free, the
 * bucket contains HR_CAPACITY tokens, and the floor allows HR_FLOOR a second
 * with one second's worth ready at the start. One more second of floor
 * covers the time between the kill and the listener.
 */
static long long hr_budget_bound(const hr_storm_layout *layout)
{
    long long per_process =
        layout->threads + HR_CAPACITY + HR_FLOOR * (HR_OUTAGE_MS / 1000 + 1);

    return layout->processes * per_process;
}

static void hr_check_storm(const hr_storm_layout *layout, int reduction)
{
    hr_storm_result off;
    hr_storm_result on;

    HR_ASSERT_INT_EQ(hr_storm_run(layout, "off", &off), 0);
    HR_ASSERT_INT_EQ(hr_storm_run(layout, "on", &on), 0);

    HR_ASSERT_UINT_IN(on.attempts, 1, hr_budget_bound(layout));
    HR_ASSERT_UINT_IN(on.attempts * reduction, 1, off.attempts);
    HR_ASSERT_TRUE(on.recovery_ms >= 0);
    HR_ASSERT_TRUE(off.recovery_ms >= 0);
    /* The floor lets each process try again within 1 / HR_FLOOR = 500 ms
       and the backoff cap is 512 ms, so the budget adds little to the
       recovery. The margin covers a loaded machine. */
    HR_ASSERT_UINT_IN(on.recovery_ms, 0, off.recovery_ms + 1000);
}

static void test_storm_threads(void)
{
    static const hr_storm_layout layout = {"threads", 4, 50};

    hr_check_storm(&layout, 10);
}

/* Each process has a budget of its own, and its floor allows HR_FLOOR
 * attempts a second whatever the load, so separate processes gain less
 * than threads that share one. */
static void test_storm_processes(void)
{
    static const hr_storm_layout layout = {"processes", 50, 1};

    hr_check_storm(&layout, 5);
}

static const CU_TestInfo tests[] = {
    {"storm_threads", test_storm_threads},
    {"storm_processes", test_storm_processes},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("budget_storm", tests);
}

/*
 * The shim follows the primary that Valkey Sentinel names. Every process is
 * real and on loopback: a primary P and its replica R (valkey-server, both
 * with a password), and Sentinels run by the same binary with --sentinel,
 * with a password of their own and a 500 ms down-after time.
 *
 * Failover: sentinel_writer, a plain hiredis program with no Sentinel
 * support, connects to P, sends AUTH and SELECT 3 and writes SET w:<i>
 * continuously with the shim preloaded. The test kills P with SIGKILL; the
 * three Sentinels promote R; the program must carry on writing to R with
 * no error. The test reports the time from the kill to the program's first
 * write after it, and checks that every write acknowledged after the kill
 * is on R. It counts those acknowledged before it that R lacks, because
 * replication is asynchronous and P may have acknowledged writes it never
 * sent to R. Last, it checks that R never rejected a write with READONLY
 * while a replica.
 *
 * The other cases run without a failover: a connect to the replica's
 * address goes to the primary, past a Sentinel that accepts connections
 * and never replies; and with every Sentinel down, with a Sentinel that
 * names an unreachable primary, or with an unknown master name, the
 * connect fails with the reason and nothing reaches the program's address.
 */
#include "harness.h"
#include "hr_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HR_MASTER "mymaster"
#define HR_PASSWORD "data-password"
#define HR_SENTINEL_PASSWORD "sentinel-secret"
#define HR_DB 3
#define HR_SENTINELS 3
#define HR_DOWN_AFTER_MS 500
#define HR_FAILOVER_TIMEOUT_MS 1000
#define HR_WRITES_BEFORE_KILL 200
#define HR_WRITES_AFTER_PROMOTION 200
#define HR_SENTINEL_TIMEOUT "200ms"
#define HR_WAIT_MS 30000
#define HR_PROGRAM_TIMEOUT_MS 90000

/* ---- Setup ---- */

/* Starts P, and R as its replica when replica is not NULL. */
static bool hr_start_pair(hr_server *primary, hr_server *replica)
{
    const char *primary_args[] = {"--masterauth", HR_PASSWORD, NULL};
    hr_server_options options = {.kind = HR_SERVER_VALKEY,
                                 .password = HR_PASSWORD,
                                 .extra_args = primary_args};
    char port[16];
    const char *replica_args[] = {"--masterauth", HR_PASSWORD, "--replicaof",
                                  "127.0.0.1",    port,        NULL};

    HR_ASSERT_INT_EQ(hr_server_start(primary, &options), 0);
    if (replica == NULL || primary->pid == 0)
        return primary->pid != 0;

    snprintf(port, sizeof(port), "%d", primary->port);
    options.extra_args = replica_args;
    HR_ASSERT_INT_EQ(hr_server_start(replica, &options), 0);
    return replica->pid != 0;
}

/* Returns true when INFO section of server contains text. */
static bool hr_info_contains(const hr_server *server, const char *section,
                             const char *text)
{
    redisReply *reply = hr_server_command(server, 0, "INFO %s", section);
    bool found = reply != NULL && reply->type == REDIS_REPLY_STRING &&
                 strstr(reply->str, text) != NULL;

    freeReplyObject(reply);
    return found;
}

/* Returns the number of elements of the array reply to SENTINEL
 * subcommand HR_MASTER, or -1. */
static long long hr_sentinel_count(const hr_server *sentinel,
                                   const char *subcommand)
{
    redisReply *reply =
        hr_server_command(sentinel, 0, "SENTINEL %s %s", subcommand, HR_MASTER);
    long long length = -1;

    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY)
        length = (long long)reply->elements;
    freeReplyObject(reply);
    return length;
}

/* Returns true when ROLE on server returns role. */
static bool hr_role_is(const hr_server *server, const char *role)
{
    redisReply *reply = hr_server_command(server, 0, "ROLE");
    bool same = reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
                reply->elements > 0 &&
                reply->element[0]->type == REDIS_REPLY_STRING &&
                strcmp(reply->element[0]->str, role) == 0;

    freeReplyObject(reply);
    return same;
}

/* Waits until R's link to P is up. */
static bool hr_wait_replica_synced(const hr_server *replica)
{
    int64_t deadline = hr_harness_now_ms() + HR_WAIT_MS;

    while (!hr_info_contains(replica, "replication", "master_link_status:up")) {
        if (hr_harness_now_ms() >= deadline) {
            fprintf(stderr, "test: replica on %d never synced\n",
                    replica->port);
            return false;
        }
        hr_harness_sleep_ms(20);
    }
    return true;
}

/*
 * Starts count Sentinels on primary and waits until each one lists the
 * replica (when with_replica) and the other Sentinels, which a failover
 * needs: they learn of each other through hello messages every 2 s.
 */
static bool hr_start_sentinels(hr_server *sentinels, int count,
                               const hr_server *primary, int master_port,
                               bool with_replica)
{
    hr_sentinel_options options = {.master_name = HR_MASTER,
                                   .master_port = master_port,
                                   .quorum = count > 1 ? 2 : 1,
                                   .auth_pass = HR_PASSWORD,
                                   .password = HR_SENTINEL_PASSWORD,
                                   .down_after_ms = HR_DOWN_AFTER_MS,
                                   .failover_timeout_ms =
                                       HR_FAILOVER_TIMEOUT_MS};
    int64_t deadline = hr_harness_now_ms() + HR_WAIT_MS;

    (void)primary;
    for (int i = 0; i < count; i++) {
        HR_ASSERT_INT_EQ(hr_sentinel_start(&sentinels[i], &options), 0);
        if (sentinels[i].pid == 0)
            return false;
    }
    for (int i = 0; i < count; i++) {
        while (hr_sentinel_count(&sentinels[i], "SENTINELS") != count - 1 ||
               (with_replica &&
                hr_sentinel_count(&sentinels[i], "REPLICAS") != 1)) {
            if (hr_harness_now_ms() >= deadline) {
                fprintf(stderr, "test: Sentinel %d never saw the others\n",
                        sentinels[i].port);
                return false;
            }
            hr_harness_sleep_ms(50);
        }
    }
    return true;
}

/*
 * Opens a loopback socket that accepts connections into its backlog and
 * never reads: a Sentinel that does not reply. Returns the descriptor and
 * stores the port, or -1.
 */
static int hr_silent_listener(int *port)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    socklen_t length = sizeof(address);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(address.sin_port);
    return fd;
}

/* Appends the preload and the Sentinel variables, with ports the list of
 * Sentinel ports, to env. */
static int hr_sentinel_env(hr_string_list *env, const int *ports, int count,
                           const char *master)
{
    char list[256] = "";
    size_t n = 0;
    int rc = hr_preload_env(env, HIRETRY_SHIM_PATH);

    for (int i = 0; i < count; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s127.0.0.1:%d",
                              i ? "," : "", ports[i]);
    rc |= hr_string_list_add(env, "HIRETRY_SENTINELS=%s", list);
    rc |= hr_string_list_add(env, "HIRETRY_SENTINEL_MASTER=%s", master);
    rc |= hr_string_list_add(env, "HIRETRY_SENTINEL_PASSWORD=%s",
                             HR_SENTINEL_PASSWORD);
    rc |= hr_string_list_add(env, "HIRETRY_SENTINEL_TIMEOUT=%s",
                             HR_SENTINEL_TIMEOUT);
    rc |= hr_string_list_add(env, "HIRETRY_LOG=info");
    return rc;
}

/* Checks that no log line of the program shows a password. */
static void hr_check_no_secret(const hr_program *program)
{
    HR_ASSERT_TRUE(strstr(program->err, HR_SENTINEL_PASSWORD) == NULL);
    HR_ASSERT_TRUE(strstr(program->err, HR_PASSWORD) == NULL);
}

/* ---- Failover ---- */

/* Returns a bitmap, to free(), of the w:<i> keys in db HR_DB of server,
 * with count entries, or NULL. */
static unsigned char *hr_written_keys(const hr_server *server, long long count)
{
    redisReply *reply = hr_server_command(server, HR_DB, "KEYS w:*");
    unsigned char *present = calloc((size_t)count + 1, 1);

    if (reply == NULL || present == NULL || reply->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(reply);
        free(present);
        return NULL;
    }
    for (size_t i = 0; i < reply->elements; i++) {
        long long index = atoll(reply->element[i]->str + 2);

        if (index >= 0 && index < count)
            present[index] = 1;
    }
    freeReplyObject(reply);
    return present;
}

/* Starts sentinel_writer on P's address with the shim and the Sentinels. */
static int hr_start_writer(hr_program *writer, const hr_server *primary,
                           const hr_server *sentinels, const char *stop_file)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int ports[HR_SENTINELS];
    int rc = 0;

    for (int i = 0; i < HR_SENTINELS; i++)
        ports[i] = sentinels[i].port;
    rc |= hr_string_list_add(&argv, "%s", HIRETRY_SENTINEL_WRITER_PATH);
    rc |= hr_string_list_add(&argv, "127.0.0.1");
    rc |= hr_string_list_add(&argv, "%d", primary->port);
    rc |= hr_string_list_add(&argv, "%s", HR_PASSWORD);
    rc |= hr_string_list_add(&argv, "%d", HR_DB);
    rc |= hr_string_list_add(&argv, "80");
    rc |= hr_string_list_add(&argv, "%s", stop_file);
    rc |= hr_string_list_add(&argv, "2");
    rc |= hr_sentinel_env(&env, ports, HR_SENTINELS, HR_MASTER);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=-1");
    rc |= hr_string_list_add(&env, "HIRETRY_DEADLINE=60s");
    if (rc == 0)
        rc = hr_program_start(writer, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Subscribes to +switch-master on a Sentinel. Returns the connection. */
static redisContext *hr_subscribe_switch(const hr_server *sentinel)
{
    redisContext *c = hr_server_connect(sentinel, 0);
    redisReply *reply;

    if (c == NULL)
        return NULL;
    reply = redisCommand(c, "SUBSCRIBE +switch-master");
    if (reply == NULL) {
        redisFree(c);
        return NULL;
    }
    freeReplyObject(reply);
    return c;
}

/* Waits for the +switch-master message. Returns the time it took from
 * start_ms, or -1. */
static long long hr_wait_switch(redisContext *c, int64_t start_ms)
{
    struct timeval timeout = {HR_WAIT_MS / 1000, 0};
    redisReply *reply = NULL;
    long long elapsed = -1;

    redisSetTimeout(c, timeout);
    if (redisGetReply(c, (void **)&reply) == REDIS_OK)
        elapsed = hr_harness_now_ms() - start_ms;
    freeReplyObject(reply);
    return elapsed;
}

/* Waits until R is a primary. Returns the time it took from start_ms. */
static long long hr_wait_promotion(const hr_server *replica, int64_t start_ms)
{
    while (!hr_role_is(replica, "master")) {
        if (hr_harness_now_ms() - start_ms > HR_WAIT_MS)
            return -1;
        hr_harness_sleep_ms(20);
    }
    return hr_harness_now_ms() - start_ms;
}

/* Checks the data on the new primary against the writer's results. */
static void hr_check_failover_data(const hr_server *replica,
                                   const hr_program *writer)
{
    long long acknowledged = hr_program_integer(writer, "acknowledged");
    long long first_after = hr_program_integer(writer, "first_after_gap");
    long long total = acknowledged + hr_program_integer(writer, "failed");
    unsigned char *present = hr_written_keys(replica, total);
    long long lost_before = 0;
    long long lost_after = 0;

    HR_ASSERT_TRUE(present != NULL);
    if (present == NULL)
        return;
    /* The writer failed no write, so it acknowledged every index below
       total. */
    for (long long i = 0; i < total; i++) {
        if (present[i])
            continue;
        if (i < first_after)
            lost_before++;
        else
            lost_after++;
    }
    fprintf(stderr,
            "test: %lld writes acknowledged, %lld acknowledged by the old "
            "primary before the kill and missing on the new one\n",
            acknowledged, lost_before);
    HR_ASSERT_INT_EQ(lost_after, 0);
    /* Only the writes of the last moment before the kill can be missing:
       a write pause of 2 ms bounds them to a few dozen. */
    HR_ASSERT_UINT_IN(lost_before, 0, 100);
    free(present);
}

static void test_sentinel_failover(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server primary, replica, sentinels[HR_SENTINELS];
    hr_program writer = {0};
    char stop_file[300];
    char expected[160];
    long long promoted_ms, switch_ms, calls;
    redisContext *switch_events = NULL;
    int64_t kill_ms;

    memset(sentinels, 0, sizeof(sentinels));
    memset(&replica, 0, sizeof(replica));
    if (!hr_start_pair(&primary, &replica) ||
        !hr_wait_replica_synced(&replica) ||
        !hr_start_sentinels(sentinels, HR_SENTINELS, &primary, primary.port,
                            true))
        goto done;
    hr_harness_path(stop_file, sizeof(stop_file), "%s/stop-writer",
                    hr_harness_dir());
    switch_events = hr_subscribe_switch(&sentinels[0]);
    HR_ASSERT_TRUE(switch_events != NULL);
    HR_ASSERT_INT_EQ(hr_start_writer(&writer, &primary, sentinels, stop_file),
                     0);
    HR_ASSERT_INT_EQ(hr_server_wait_calls(&primary, "set",
                                          HR_WRITES_BEFORE_KILL, HR_WAIT_MS),
                     0);

    kill_ms = hr_harness_now_ms();
    HR_ASSERT_INT_EQ(hr_server_kill(&primary), 0);
    promoted_ms = hr_wait_promotion(&replica, kill_ms);
    HR_ASSERT_TRUE(promoted_ms >= 0);
    switch_ms = switch_events ? hr_wait_switch(switch_events, kill_ms) : -1;
    HR_ASSERT_TRUE(switch_ms >= 0);
    calls = hr_server_command_calls(&replica, "set");
    HR_ASSERT_INT_EQ(hr_server_wait_calls(&replica, "set",
                                          calls + HR_WRITES_AFTER_PROMOTION,
                                          HR_WAIT_MS),
                     0);
    hr_harness_touch(stop_file);
    HR_ASSERT_INT_EQ(hr_program_wait(&writer, HR_PROGRAM_TIMEOUT_MS), 0);

    /* The program saw no error, and its writes went on on the new primary
       once Sentinel had promoted it. */
    HR_ASSERT_INT_EQ(writer.status, 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&writer, "failed"), 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&writer, "readonly"), 0);
    long long resumed_ms = hr_program_integer(&writer, "gap_end_ms") - kill_ms;
    /* The time from +switch-master to the first write bounds what a
       subscription to +switch-master could save. */
    fprintf(stderr,
            "test: failover gap after the kill: ROLE master on R at %lld ms, "
            "+switch-master at %lld ms, the program's first write at %lld "
            "ms (longest pause %lld ms)\n",
            promoted_ms, switch_ms, resumed_ms,
            hr_program_integer(&writer, "max_gap_ms"));
    HR_ASSERT_UINT_IN(resumed_ms, 1, HR_WAIT_MS);
    hr_check_failover_data(&replica, &writer);

    /* Nothing was written to R while it was a replica: it would have
       replied READONLY. The session (SELECT 3) came back too. */
    HR_ASSERT_TRUE(!hr_info_contains(&replica, "errorstats", "READONLY"));
    HR_ASSERT_INT_EQ(hr_server_dbsize(&replica, 0), 0);
    snprintf(expected, sizeof(expected),
             "event=sentinel_switch master=%s from=127.0.0.1:%d "
             "to=127.0.0.1:%d",
             HR_MASTER, primary.port, replica.port);
    HR_ASSERT_TRUE(strstr(writer.err, expected) != NULL);
    hr_check_no_secret(&writer);

done:
    if (switch_events != NULL)
        redisFree(switch_events);
    if (CU_get_number_of_failures() != failures) {
        for (int i = 0; i < HR_SENTINELS; i++)
            if (sentinels[i].dir[0] != '\0')
                hr_server_print_log(&sentinels[i], 30);
        hr_server_print_log(&replica, 20);
    }
    for (int i = 0; i < HR_SENTINELS; i++)
        if (sentinels[i].dir[0] != '\0')
            hr_server_stop(&sentinels[i]);
    if (replica.dir[0] != '\0')
        hr_server_stop(&replica);
    hr_test_finish(&primary, &writer, failures);
}

/* ---- Connects without a failover ---- */

/*
 * Runs hr_workload against server's address with the shim and the
 * Sentinels listed in ports, writing 20 SETs in db HR_DB. Returns 0 when
 * the program ran.
 */
static int hr_run_workload(hr_program *program, const hr_server *server,
                           const int *ports, int count, const char *master)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_workload_args(&argv, server, false);

    rc |= hr_string_list_add(&argv, "--db");
    rc |= hr_string_list_add(&argv, "%d", HR_DB);
    rc |= hr_string_list_add(&argv, "--op");
    rc |= hr_string_list_add(&argv, "set");
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "20");
    rc |= hr_string_list_add(&argv, "--timeout-ms");
    rc |= hr_string_list_add(&argv, "2000");
    rc |= hr_sentinel_env(&env, ports, count, master);
    if (rc == 0)
        rc = hr_program_run(program, &argv, &env, HR_PROGRAM_TIMEOUT_MS);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/*
 * The program connects to the replica's address. Its connect queries the
 * silent Sentinel first, which times out, then the real one, and goes to
 * the primary, where every write lands.
 */
static void test_sentinel_connect_redirects(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server primary, replica, sentinel;
    hr_program program = {0};
    char expected[160];
    int ports[2];
    int silent;
    int64_t start_ms;

    memset(&sentinel, 0, sizeof(sentinel));
    memset(&replica, 0, sizeof(replica));
    silent = hr_silent_listener(&ports[0]);
    HR_ASSERT_TRUE(silent >= 0);
    if (silent < 0 || !hr_start_pair(&primary, &replica) ||
        !hr_wait_replica_synced(&replica) ||
        !hr_start_sentinels(&sentinel, 1, &primary, primary.port, true))
        goto done;
    ports[1] = sentinel.port;

    start_ms = hr_harness_now_ms();
    HR_ASSERT_INT_EQ(hr_run_workload(&program, &replica, ports, 2, HR_MASTER),
                     0);
    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "set_acknowledged"), 20);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "errors"), 0);
    /* The silent Sentinel costs one timeout of 200 ms per lookup, with
       margin for a loaded machine. */
    HR_ASSERT_UINT_IN(hr_harness_now_ms() - start_ms, 0, 10000);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&primary, HR_DB), 20);
    HR_ASSERT_TRUE(!hr_info_contains(&replica, "errorstats", "READONLY"));

    snprintf(expected, sizeof(expected),
             "event=sentinel_skipped sentinel=127.0.0.1:%d master=%s", ports[0],
             HR_MASTER);
    HR_ASSERT_TRUE(strstr(program.err, expected) != NULL);
    snprintf(expected, sizeof(expected),
             "event=sentinel_switch master=%s from=127.0.0.1:%d "
             "to=127.0.0.1:%d",
             HR_MASTER, replica.port, primary.port);
    HR_ASSERT_TRUE(strstr(program.err, expected) != NULL);
    hr_check_no_secret(&program);

done:
    if (silent >= 0)
        close(silent);
    if (sentinel.dir[0] != '\0')
        hr_server_stop(&sentinel);
    if (replica.dir[0] != '\0')
        hr_server_stop(&replica);
    hr_test_finish(&primary, &program, failures);
}

/*
 * Runs hr_workload against P with Sentinels that cannot name a primary and
 * checks that the connect fails with reason in its error and that the
 * program sent nothing to P.
 */
static void hr_check_no_primary(hr_server *primary, const int *ports, int count,
                                const char *master, const char *reason)
{
    hr_program program = {0};
    unsigned failures = CU_get_number_of_failures();

    HR_ASSERT_INT_EQ(hr_run_workload(&program, primary, ports, count, master),
                     0);
    HR_ASSERT_INT_EQ(program.status, 3);
    HR_ASSERT_TRUE(strstr(program.err, "initial connection failed: ") != NULL);
    HR_ASSERT_TRUE(strstr(program.err, reason) != NULL);
    HR_ASSERT_INT_EQ(hr_server_command_calls(primary, "select"), 0);
    HR_ASSERT_INT_EQ(hr_server_command_calls(primary, "set"), 0);
    hr_check_no_secret(&program);
    hr_test_finish(primary, &program, failures);
}

static void test_sentinel_all_down(void)
{
    hr_server primary;
    int ports[3] = {hr_harness_free_port(), hr_harness_free_port(), 0};
    int silent = hr_silent_listener(&ports[2]);

    HR_ASSERT_TRUE(silent >= 0);
    if (silent >= 0 && hr_start_pair(&primary, NULL))
        hr_check_no_primary(&primary, ports, 3, HR_MASTER,
                            "sentinel: no primary for " HR_MASTER);
    if (silent >= 0)
        close(silent);
}

/* The Sentinel names an address where nothing listens. */
static void test_sentinel_unreachable_primary(void)
{
    hr_server primary, sentinel;
    int ports[1];

    memset(&sentinel, 0, sizeof(sentinel));
    if (!hr_start_pair(&primary, NULL))
        return;
    if (hr_start_sentinels(&sentinel, 1, &primary, hr_harness_free_port(),
                           false)) {
        ports[0] = sentinel.port;
        hr_check_no_primary(&primary, ports, 1, HR_MASTER,
                            "Connection refused");
    } else {
        hr_server_stop(&primary);
    }
    if (sentinel.dir[0] != '\0')
        hr_server_stop(&sentinel);
}

static void test_sentinel_unknown_master(void)
{
    hr_server primary, sentinel;
    int ports[1];

    memset(&sentinel, 0, sizeof(sentinel));
    if (!hr_start_pair(&primary, NULL))
        return;
    if (hr_start_sentinels(&sentinel, 1, &primary, primary.port, false)) {
        ports[0] = sentinel.port;
        hr_check_no_primary(&primary, ports, 1, "no-such-master",
                            "master name unknown to this Sentinel");
    } else {
        hr_server_stop(&primary);
    }
    if (sentinel.dir[0] != '\0')
        hr_server_stop(&sentinel);
}

static CU_TestInfo tests[] = {
    {"test_sentinel_failover", test_sentinel_failover},
    {"test_sentinel_connect_redirects", test_sentinel_connect_redirects},
    {"test_sentinel_all_down", test_sentinel_all_down},
    {"test_sentinel_unreachable_primary", test_sentinel_unreachable_primary},
    {"test_sentinel_unknown_master", test_sentinel_unknown_master},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration sentinel", tests);
}

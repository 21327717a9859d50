/*
 * Pipelines at their edges, against a real valkey-server with a password.
 * Each case is a list of steps, each one hiredis call, run by hr_script or
 * by hr_pipeline_edges (raw bytes for redisAppendFormattedCommand, a reply
 * reader of the program's own, fork, long pipelines). A step "@cut" stops
 * the program while the test kills its connection with CLIENT KILL. By
 * then the server has run every command written so far and the client
 * has received their replies, so a cut fails only the commands written
 * after it.
 * Most cases run the same steps with plain hiredis, to show what the
 * program gets without the shim, and with the shim, which must give each
 * step its own reply or a failure, never the reply of another command, and
 * must start the next command on a new connection as README.md promises.
 *
 * The cases: replies the server never sends (CLIENT REPLY SKIP and OFF, an
 * empty request), MULTI, WATCH and SUBSCRIBE read in a pipeline before a
 * cut, a SUBSCRIBE appended before a cut, inline bytes and a pipelined SELECT,
 * reply readers with functions of the program's own or none, redisCommand among
 * appended commands with a cut at each point, several requests in one buffer,
 * the session recorded from a pipeline, HIRETRY_PIPELINE_MAX boundaries, QUIT,
 * error replies, a read with nothing owed, redisReconnect with replies owed,
 * fork, threads through a server restart, the peak memory of a 100,000-command
 * pipeline, and a run under valgrind.
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_PASSWORD "edges-password"
#define HR_DB 5
#define HR_STEPS_MAX 40
#define HR_CUTS_MAX 4
#define HR_RESULT_SIZE 256
#define HR_PATH_SIZE 256
#define HR_TIMEOUT_MS 10000
#define HR_PROGRAM_TIMEOUT_MS 60000
#define HR_CUT "@cut"
/* The socket timeout of cases where a reply may never come. */
#define HR_MODE_TIMEOUT_MS 2000

/* The threads case. */
#define HR_THREADS 4
#define HR_THREAD_OPS 2000 /* per thread, half SETs and half GETs */
#define HR_THREAD_PIPELINE 50
#define HR_THREAD_CALLS_BEFORE_KILL 1500
#define HR_DOWN_MS 300

/* The memory case. */
#define HR_MEMORY_COMMANDS 100000
#define HR_MEMORY_VALUE_BYTES 160
#define HR_MIB (1024LL * 1024)

/* The valgrind case: GET replies longer than hiredis's 16 KiB reads. */
#define HR_BIG_VALUE_BYTES 40000
#define HR_BIG_REPLY "string:xxxxxxxxxxxxxxxx" /* how the reply starts */

/* Requests written out for hr_pipeline_edges's @raw, which decodes \r and
 * \n. */
#define HR_RAW_INCR "*2\\r\\n$4\\r\\nINCR\\r\\n$7\\r\\ncounter\\r\\n"
#define HR_RAW_GET_COUNTER "*2\\r\\n$3\\r\\nGET\\r\\n$7\\r\\ncounter\\r\\n"
#define HR_RAW_PING "*1\\r\\n$4\\r\\nPING\\r\\n"

/* The SHA1 of no loaded script, for NOSCRIPT. */
#define HR_UNKNOWN_SHA "ffffffffffffffffffffffffffffffffffffffff"

#define HR_ASSERT_STARTS_WITH(actual, prefix)                                  \
    do {                                                                       \
        const char *hr_s_ = (actual);                                          \
        hr_test_record(strncmp(hr_s_, (prefix), strlen(prefix)) == 0,          \
                       __LINE__, __FILE__, __func__,                           \
                       "%s starts with %s (\"%s\")", #actual, prefix, hr_s_);  \
    } while (0)

/* A step got its own reply, expected, or failed: never another reply. */
#define HR_ASSERT_OWN_REPLY(actual, expected)                                  \
    do {                                                                       \
        const char *hr_a_ = (actual);                                          \
        const char *hr_e_ = (expected);                                        \
        hr_test_record(                                                        \
            strcmp(hr_a_, hr_e_) == 0 || strncmp(hr_a_, "failed:", 7) == 0,    \
            __LINE__, __FILE__, __func__,                                      \
            "%s is \"%s\" or a failure (\"%s\")", #actual, hr_e_, hr_a_);      \
    } while (0)

/* ---- Running steps ---- */

/* Which program runs the steps, and how. */
typedef enum hr_runner {
    HR_SCRIPT, /* hr_script */
    HR_EDGES   /* hr_pipeline_edges */
} hr_runner;

typedef struct hr_run {
    const char *label; /* printed with the results */
    hr_runner runner;
    bool shim;
    const char *settings[4]; /* HIRETRY_NAME=value, NULL-terminated */
    int timeout_ms;          /* socket timeout; 0 for HR_TIMEOUT_MS */
    bool valgrind;           /* under valgrind's memcheck */
} hr_run;

/* The results of one run, by step as written in the test, "@cut" steps
 * included. */
typedef struct hr_results {
    int status; /* the program's exit status */
    int count;
    char step[HR_STEPS_MAX + 1][HR_RESULT_SIZE];
    char err[2048]; /* the start of the program's stderr */
} hr_results;

static bool hr_start(hr_server *server, bool appendonly)
{
    hr_server_options options = {
        .kind = HR_SERVER_VALKEY,
        .password = HR_PASSWORD,
        .appendonly = appendonly,
    };
    int rc = hr_server_start(server, &options);

    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(server);
    return rc == 0;
}

/* Checks that a command of the test itself got no error, and frees its
 * reply. */
static void hr_check_setup(redisReply *reply, const char *command)
{
    bool ok = reply != NULL && reply->type != REDIS_REPLY_ERROR;

    if (!ok)
        fprintf(stderr, "%s: %s\n", command,
                reply && reply->str ? reply->str : "no reply");
    HR_ASSERT_TRUE(ok);
    freeReplyObject(reply);
}

/* Runs a command without arguments to format in db 5 and checks it. */
#define HR_SETUP(server, command)                                              \
    hr_check_setup(hr_server_command((server), HR_DB, command), command)

/* Empties the server and sets a=va, b=vb, c=vc in db 5. */
static void hr_reset_data(const hr_server *server)
{
    redisReply *reply = hr_server_command(server, 0, "FLUSHALL");

    HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    HR_SETUP(server, "MSET a va b vb c vc");
}

/* Kills every client but the caller's, pub/sub ones included. Returns how
 * many, or -1. */
static long long hr_kill_clients(const hr_server *server)
{
    redisReply *reply = hr_server_command(server, 0, "CLIENT KILL SKIPME yes");
    long long killed = -1;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        killed = reply->integer;
    freeReplyObject(reply);
    return killed;
}

static int hr_program_args(hr_string_list *argv, const hr_server *server,
                           const hr_run *run)
{
    int timeout_ms = run->timeout_ms > 0 ? run->timeout_ms : HR_TIMEOUT_MS;
    int rc = 0;

    if (run->valgrind) {
#ifdef HIRETRY_VALGRIND_PATH
        rc |= hr_string_list_add(argv, "%s", HIRETRY_VALGRIND_PATH);
        rc |= hr_string_list_add(argv, "-q");
        rc |= hr_string_list_add(argv, "--leak-check=full");
        rc |= hr_string_list_add(argv, "--errors-for-leak-kinds=definite,"
                                       "indirect");
        rc |= hr_string_list_add(argv, "--error-exitcode=99");
#else
        return -1;
#endif
    }
    if (run->runner == HR_SCRIPT)
        return rc | hr_script_args(argv, server, timeout_ms);
    rc |= hr_string_list_add(argv, "%s", HIRETRY_PIPELINE_EDGES_PATH);
    rc |= hr_string_list_add(argv, "--port");
    rc |= hr_string_list_add(argv, "%d", server->port);
    rc |= hr_string_list_add(argv, "--timeout-ms");
    rc |= hr_string_list_add(argv, "%d", timeout_ms);
    return rc;
}

static int hr_program_env(hr_string_list *env, const hr_run *run)
{
    int rc = 0;

    if (!run->shim)
        return 0;
    rc |= hr_preload_env(env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(env, "HIRETRY_RETRIES=50");
    rc |= hr_string_list_add(env, "HIRETRY_LOG=info");
    for (int i = 0; run->settings[i] != NULL; i++)
        rc |= hr_string_list_add(env, "%s", run->settings[i]);
    return rc;
}

/*
 * Adds the steps to argv, each "@cut" as a pair of steps that create a
 * ready file and wait for a go file. Stores in physical[i] the step of
 * the test that the program's step i + 1 belongs to. Returns the number of
 * cuts, or -1.
 */
static int hr_add_steps(hr_string_list *argv, const char *const *steps,
                        int *physical, int *physical_count, int run_id)
{
    int cuts = 0;
    int n = 0;
    int rc = 0;

    for (int i = 0; steps[i] != NULL; i++) {
        if (i >= HR_STEPS_MAX || cuts >= HR_CUTS_MAX)
            return -1;
        if (strcmp(steps[i], HR_CUT) != 0) {
            rc |= hr_string_list_add(argv, "%s", steps[i]);
            physical[n++] = i + 1;
            continue;
        }
        rc |= hr_string_list_add(argv, "@touch:%s/ready-%d-%d",
                                 hr_harness_dir(), run_id, cuts);
        rc |= hr_string_list_add(argv, "@wait:%s/go-%d-%d", hr_harness_dir(),
                                 run_id, cuts);
        physical[n++] = i + 1;
        physical[n++] = i + 1;
        cuts++;
    }
    *physical_count = n;
    return rc == 0 ? cuts : -1;
}

/*
 * Kills the program's connection at each of its cuts. The first cut finds
 * the connection open. A later one may find none: plain hiredis never
 * reconnects, and the shim does only once the program writes again.
 */
static void hr_cut_each(const hr_server *server, int cuts, int run_id)
{
    for (int k = 0; k < cuts; k++) {
        char ready[HR_PATH_SIZE], go[HR_PATH_SIZE];

        hr_harness_path(ready, sizeof(ready), "%s/ready-%d-%d",
                        hr_harness_dir(), run_id, k);
        hr_harness_path(go, sizeof(go), "%s/go-%d-%d", hr_harness_dir(), run_id,
                        k);
        HR_ASSERT_INT_EQ(hr_harness_wait_file(ready), 0);
        if (k == 0)
            HR_ASSERT_INT_EQ(hr_kill_clients(server), 1);
        else
            HR_ASSERT_UINT_IN(hr_kill_clients(server), 0, 1);
        HR_ASSERT_INT_EQ(hr_harness_touch(go), 0);
    }
}

static void hr_results_read(const hr_program *program, const int *physical,
                            int physical_count, int count, hr_results *results)
{
    memset(results, 0, sizeof(*results));
    results->status = program->status;
    results->count = count;
    for (int i = 1; i <= count; i++)
        strcpy(results->step[i], "missing");
    for (int i = 0; i < physical_count; i++) {
        char key[16];
        char value[HR_RESULT_SIZE];

        snprintf(key, sizeof(key), "step%d", i + 1);
        if (hr_program_value(program, key, value, sizeof(value)))
            strcpy(results->step[physical[i]], value);
    }
    snprintf(results->err, sizeof(results->err), "%s",
             program->err ? program->err : "");
}

static void hr_results_print(const hr_run *run, const hr_results *results)
{
    fprintf(stderr, "%s: status=%d", run->label, results->status);
    for (int i = 1; i <= results->count; i++)
        fprintf(stderr, " %d=%.40s", i, results->step[i]);
    fprintf(stderr, "\n");
    if (results->err[0] != '\0')
        fprintf(stderr, "%s: stderr:\n%s", run->label, results->err);
}

/*
 * Runs steps with run's program against server, cutting the connection at
 * each "@cut", and stores the results by step.
 */
static void hr_run_steps(const hr_server *server, const hr_run *run,
                         const char *const *steps, hr_results *results)
{
    static int runs;
    hr_string_list argv = {0};
    hr_string_list env = {0};
    hr_program program = {0};
    int physical[2 * HR_STEPS_MAX];
    int physical_count = 0;
    int count = 0;
    int cuts;
    int rc;

    runs++;
    while (steps[count] != NULL && count < HR_STEPS_MAX)
        count++;
    rc = hr_program_args(&argv, server, run);
    cuts = hr_add_steps(&argv, steps, physical, &physical_count, runs);
    rc |= hr_program_env(&env, run);
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_TRUE(cuts >= 0);
    if (rc == 0 && cuts >= 0 && hr_program_start(&program, &argv, &env) == 0) {
        hr_cut_each(server, cuts, runs);
        HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);
    }
    hr_results_read(&program, physical, physical_count, count, results);
    hr_results_print(run, results);
    hr_program_free(&program);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
}

/* Copies steps into out with "@cut" inserted after step after (1-based;
 * 0 inserts none). */
static void hr_insert_cut(const char *const *steps, int after, const char **out)
{
    int n = 0;

    for (int i = 0; steps[i] != NULL && n < HR_STEPS_MAX - 1; i++) {
        out[n++] = steps[i];
        if (i + 1 == after)
            out[n++] = HR_CUT;
    }
    out[n] = NULL;
}

/* Checks that key has the value expected in db; NULL expects no key. */
static void hr_check_key(const hr_server *server, int db, const char *key,
                         const char *expected)
{
    char *value = hr_server_get(server, db, key);

    if (!hr_test_str_equal(value, expected))
        fprintf(stderr, "db %d key %s: %s, expected %s\n", db, key,
                value ? value : "(none)", expected ? expected : "(none)");
    HR_ASSERT_STR_EQ(value, expected);
    free(value);
}

/* Ends a test: prints the end of the server's log after a failure, then
 * stops the server. */
static void hr_finish(hr_server *server, unsigned failures_before)
{
    if (CU_get_number_of_failures() != failures_before)
        hr_server_print_log(server, 3);
    HR_ASSERT_INT_EQ(hr_server_stop(server), 0);
}

static const hr_run hr_plain_script = {
    .label = "plain", .runner = HR_SCRIPT, .shim = false};
static const hr_run hr_shim_script = {
    .label = "shim", .runner = HR_SCRIPT, .shim = true};
static const hr_run hr_plain_edges = {
    .label = "plain", .runner = HR_EDGES, .shim = false};
static const hr_run hr_shim_edges = {
    .label = "shim", .runner = HR_EDGES, .shim = true};

/* ---- Replies the server never sends ---- */

/*
 * Checks the steps of a pipeline that owes no reply for some commands,
 * followed by GET a, a cut, then GET b, GET c and GET a with redisCommand.
 * first_get is the step of the GET a before the cut.
 */
static void hr_check_unanswered(const hr_results *plain, const hr_results *shim,
                                int first_get)
{
    HR_ASSERT_STR_EQ(plain->step[first_get], "string:va");
    HR_ASSERT_STARTS_WITH(plain->step[first_get + 2], "failed:");
    HR_ASSERT_STR_EQ(shim->step[first_get], "string:va");
    HR_ASSERT_OWN_REPLY(shim->step[first_get + 2], "string:vb");
    HR_ASSERT_OWN_REPLY(shim->step[first_get + 3], "string:vc");
    HR_ASSERT_STR_EQ(shim->step[first_get + 4], "string:va");
}

/*
 * CLIENT REPLY SKIP turns off the replies to itself and to the next
 * command, and OFF to every command until ON. A program appends them
 * because it reads no reply to them, as plain hiredis requires.
 */
static void test_pipeline_reply_skip_kill(void)
{
    static const char *const skip[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:CLIENT REPLY SKIP",
        "@append:SET k v",
        "@append:GET k",
        "@getreply",
        "GET a",
        HR_CUT,
        "GET b",
        "GET c",
        "GET a",
        NULL,
    };
    static const char *const off[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:CLIENT REPLY OFF",
        "@append:SET k v",
        "@append:CLIENT REPLY ON",
        "@getreply",
        "GET a",
        HR_CUT,
        "GET b",
        "GET c",
        "GET a",
        NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_results plain, shim;

    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_plain_script, skip, &plain);
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_shim_script, skip, &shim);
    HR_ASSERT_STR_EQ(plain.step[6], "string:v");
    HR_ASSERT_STR_EQ(shim.step[6], "string:v");
    hr_check_unanswered(&plain, &shim, 7);

    hr_reset_data(&server);
    hr_run_steps(&server, &hr_plain_script, off, &plain);
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_shim_script, off, &shim);
    HR_ASSERT_STR_EQ(plain.step[6], "status:OK");
    HR_ASSERT_STR_EQ(shim.step[6], "status:OK");
    hr_check_unanswered(&plain, &shim, 7);
    hr_finish(&server, failures);
}

/* A request of no arguments, "*0\r\n", gets no reply from the server. */
static void test_pipeline_empty_request_kill(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@raw:*0\\r\\n" HR_RAW_PING,
        "@getreply",
        "GET a",
        HR_CUT,
        "GET b",
        "GET c",
        "GET a",
        NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_results plain, shim;

    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_plain_edges, steps, &plain);
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_shim_edges, steps, &shim);
    HR_ASSERT_STR_EQ(plain.step[4], "status:PONG");
    HR_ASSERT_STR_EQ(shim.step[4], "status:PONG");
    hr_check_unanswered(&plain, &shim, 5);
    hr_finish(&server, failures);
}

/* ---- Modes entered inside a pipeline ---- */

/*
 * Runs a mode case three ways: plain hiredis and the shim on the pipelined
 * steps, and the shim on the same calls made with redisCommand, whose
 * outcome the pipelined form must match. The last two steps of both lists
 * are PINGs, which must get a reply once the transaction is over or the
 * subscription restored.
 */
static void hr_mode_case(const char *const *pipelined,
                         const char *const *single)
{
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_results plain, shim, reference;
    hr_run plain_run = hr_plain_script;
    hr_run shim_run = hr_shim_script;
    hr_run reference_run = hr_shim_script;
    int last, last_single;

    /* A read that waits for a reply which never comes ends sooner. */
    plain_run.timeout_ms = HR_MODE_TIMEOUT_MS;
    shim_run.timeout_ms = HR_MODE_TIMEOUT_MS;
    reference_run.timeout_ms = HR_MODE_TIMEOUT_MS;
    reference_run.label = "shim, redisCommand only";
    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &plain_run, pipelined, &plain);
    hr_reset_data(&server);
    hr_run_steps(&server, &shim_run, pipelined, &shim);
    /* No command appended to a broken transaction reaches a new
       connection. */
    HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "n"), 0);
    hr_reset_data(&server);
    hr_run_steps(&server, &reference_run, single, &reference);

    last = shim.count;
    last_single = reference.count;
    HR_ASSERT_STARTS_WITH(plain.step[last], "failed:");
    for (int i = 0; i <= 1; i++) {
        const char *expected = reference.step[last_single - i];

        HR_ASSERT_TRUE(strncmp(expected, "failed:", 7) != 0);
        HR_ASSERT_STR_EQ(shim.step[last - i], expected);
    }
    hr_finish(&server, failures);
}

/*
 * A MULTI block with appended commands fails as a whole when its connection
 * breaks. Once its EXEC has failed, the next command must get its reply on
 * a new connection, as after a block sent with redisCommand, which the shim
 * carries across the cut.
 */
static void test_pipeline_multi_kill_recovers(void)
{
    static const char *const pipelined[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:MULTI",
        "@getreply",
        HR_CUT,
        "@append:INCR n",
        "@append:EXEC",
        "@getreply",
        "@getreply",
        "PING",
        "PING",
        NULL,
    };
    static const char *const single[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "MULTI",
        HR_CUT,
        "INCR n",
        "EXEC",
        "PING",
        "PING",
        NULL,
    };

    hr_mode_case(pipelined, single);
}

/* A transaction with a WATCH fails as a whole up to its DISCARD. */
static void test_pipeline_watch_kill_recovers(void)
{
    static const char *const pipelined[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:WATCH k",
        "@getreply",
        HR_CUT,
        "@append:INCR n",
        "@getreply",
        "DISCARD",
        "PING",
        "PING",
        NULL,
    };
    static const char *const single[] = {
        "AUTH " HR_PASSWORD, "SELECT 5", "WATCH k", HR_CUT, "INCR n",
        "DISCARD",           "PING",     "PING",    NULL,
    };

    hr_mode_case(pipelined, single);
}

/* While subscribed, the server replies to PING with an array. */
static void test_pipeline_subscribe_kill_recovers(void)
{
    static const char *const pipelined[] = {
        "AUTH " HR_PASSWORD,
        "@append:SUBSCRIBE ch",
        "@getreply",
        HR_CUT,
        "@append:PING",
        "@getreply",
        "PING",
        "PING",
        NULL,
    };
    static const char *const single[] = {
        "AUTH " HR_PASSWORD,
        "SUBSCRIBE ch",
        HR_CUT,
        "PING",
        "PING",
        "PING",
        NULL,
    };

    hr_mode_case(pipelined, single);
}

/*
 * A subscriber adds a channel with an appended SUBSCRIBE, the usual way in
 * a redisGetReply loop, and the connection breaks before the command is
 * written. The confirmation the program waits for must still come: the
 * shim subscribes again to the channels the program has, and ch2 is one.
 */
static void test_pipeline_subscribe_appended_kill(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD, "SUBSCRIBE ch", "@append:SUBSCRIBE ch2", HR_CUT,
        "@getreply",         NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_run plain_run = hr_plain_script;
    hr_run shim_run = hr_shim_script;
    hr_results plain, shim;

    plain_run.timeout_ms = HR_MODE_TIMEOUT_MS;
    shim_run.timeout_ms = HR_MODE_TIMEOUT_MS;
    if (!hr_start(&server, false))
        return;
    hr_run_steps(&server, &plain_run, steps, &plain);
    hr_run_steps(&server, &shim_run, steps, &shim);
    HR_ASSERT_STR_EQ(plain.step[2], "array:3");
    HR_ASSERT_STARTS_WITH(plain.step[5], "failed:3:");
    HR_ASSERT_STR_EQ(shim.step[2], "array:3");
    HR_ASSERT_STR_EQ(shim.step[5], "array:3");
    hr_finish(&server, failures);
}

/* ---- Inline bytes ---- */

/*
 * An inline command stops the shim from matching replies to commands, so
 * it cannot see whether the SELECT appended after it took effect. After a
 * cut it must not reconnect with the session it recorded, which would send
 * SET y to db 0: the SET fails instead, and y lands nowhere.
 */
static void test_pipeline_inline_select_kill_db(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD, "@raw:PING\\r\\n", "@append:SELECT 3",
        "@getreply",         "@getreply",       HR_CUT,
        "SET x 1",           "SET y 2",         NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_results plain, shim;

    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_plain_edges, steps, &plain);
    HR_ASSERT_STR_EQ(plain.step[4], "status:PONG");
    HR_ASSERT_STR_EQ(plain.step[5], "status:OK");
    HR_ASSERT_STARTS_WITH(plain.step[8], "failed:");

    hr_reset_data(&server);
    hr_run_steps(&server, &hr_shim_edges, steps, &shim);
    HR_ASSERT_STR_EQ(shim.step[4], "status:PONG");
    HR_ASSERT_STR_EQ(shim.step[5], "status:OK");
    HR_ASSERT_STARTS_WITH(shim.step[8], "failed:");
    hr_check_key(&server, 3, "y", NULL);
    hr_check_key(&server, 0, "y", NULL);
    hr_check_key(&server, 0, "x", NULL);
    hr_finish(&server, failures);
}

/*
 * An inline command and a request split over two appends, after a RESP
 * request in the same buffer. The replies are those of plain hiredis, and
 * after a cut the next command but one gets its reply on a new connection.
 */
static void test_pipeline_inline_like_plain(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@raw:" HR_RAW_PING "ECHO hello\\r\\n*2\\r\\n$4\\r\\nECHO",
        "@raw:\\r\\n$5\\r\\nworld\\r\\n",
        "@getreply",
        "@getreply",
        "@getreply",
        HR_CUT,
        "GET a",
        "GET a",
        NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_results plain, shim;

    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_plain_edges, steps, &plain);
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_shim_edges, steps, &shim);
    HR_ASSERT_STR_EQ(plain.step[5], "status:PONG");
    HR_ASSERT_STR_EQ(plain.step[6], "string:hello");
    HR_ASSERT_STR_EQ(plain.step[7], "string:world");
    HR_ASSERT_STARTS_WITH(plain.step[10], "failed:");
    for (int step = 5; step <= 7; step++)
        HR_ASSERT_STR_EQ(shim.step[step], plain.step[step]);
    HR_ASSERT_OWN_REPLY(shim.step[9], "string:va");
    HR_ASSERT_STR_EQ(shim.step[10], "string:va");
    hr_finish(&server, failures);
}

/* ---- Reply readers of the program's own ---- */

/*
 * The program reads replies through functions of its own: objects in a
 * static arena, which only its own freeObject may release, or no
 * functions, so that each reply is its type code. After a cut the shim
 * reconnects and restores AUTH and SELECT, and the program must go on
 * reading replies of its own kind.
 */
static void hr_reader_case(const char *reader, const char *const *replies)
{
    const char *const steps[] = {
        "AUTH " HR_PASSWORD, "SELECT 5",  reader,      "@append:GET a",
        "@append:GET b",     "@getreply", "@getreply", HR_CUT,
        "@append:GET c",     "@getreply", "GET a",     NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_results plain, shim;

    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_plain_edges, steps, &plain);
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_shim_edges, steps, &shim);

    HR_ASSERT_INT_EQ(plain.status, 0);
    HR_ASSERT_STR_EQ(plain.step[6], replies[0]);
    HR_ASSERT_STARTS_WITH(plain.step[10], "failed:");
    HR_ASSERT_INT_EQ(shim.status, 0);
    HR_ASSERT_STR_EQ(shim.step[6], replies[0]);
    HR_ASSERT_STR_EQ(shim.step[7], replies[1]);
    HR_ASSERT_STR_EQ(shim.step[10], replies[2]);
    HR_ASSERT_STR_EQ(shim.step[11], replies[0]);
    hr_finish(&server, failures);
}

static void test_pipeline_arena_reader_kill(void)
{
    static const char *const replies[] = {"string:va", "string:vb",
                                          "string:vc"};

    hr_reader_case("@reader:arena", replies);
}

/*
 * Without reader functions every string reply is REDIS_REPLY_STRING, 1.
 * hiredis 1.x's redisGetReply reads the type field of every reply to find
 * RESP3 push messages, so there a program with NULL functions crashes
 * without the shim too, and the case does not apply.
 */
static void test_pipeline_null_reader_kill(void)
{
    static const char *const replies[] = {"code:1", "code:1", "code:1"};

#if HIREDIS_MAJOR >= 1
    return;
#endif
    hr_reader_case("@reader:null", replies);
}

/* ---- redisCommand among appended commands, a cut at each point ---- */

/*
 * Every command here may be sent again under HIRETRY_WRITES=safe, so a cut
 * anywhere must leave every step with the reply it has without a cut.
 */
static void test_pipeline_command_mix_kill_each_point(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:SET k1 v1",
        "@append:GET k1",
        "SET k2 v2", /* returns the reply to SET k1 */
        "@append:GET k2",
        "@getreply",
        "@getreply",
        "@append:PING",
        "GET k1", /* returns the reply to GET k2 */
        "@getreply",
        "@getreply",
        "GET k2",
        NULL,
    };
    static const char *const expected[] = {
        NULL,        "status:OK",   "status:OK", "ok",        "ok",
        "status:OK", "ok",          "string:v1", "status:OK", "ok",
        "string:v2", "status:PONG", "string:v1", "string:v2",
    };
    const int count = (int)(sizeof(expected) / sizeof(expected[0])) - 1;
    unsigned failures = CU_get_number_of_failures();
    const char *cut_steps[HR_STEPS_MAX];
    hr_server server;
    hr_results results;
    bool plain_failed = false;

    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_plain_script, steps, &results);
    for (int step = 1; step <= count; step++)
        HR_ASSERT_STR_EQ(results.step[step], expected[step]);

    /* Plain hiredis fails from the first write after the cut. */
    hr_insert_cut(steps, 4, cut_steps);
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_plain_script, cut_steps, &results);
    for (int step = 6; step <= count + 1; step++)
        plain_failed |= strncmp(results.step[step], "failed:", 7) == 0;
    HR_ASSERT_TRUE(plain_failed);

    for (int after = 0; after < count; after++) {
        hr_run run = hr_shim_script;
        char label[32];

        snprintf(label, sizeof(label), "shim, cut after %d", after);
        run.label = label;
        hr_insert_cut(steps, after, cut_steps);
        hr_reset_data(&server);
        hr_run_steps(&server, &run, cut_steps, &results);
        for (int step = 1; step <= count; step++) {
            int at = after > 0 && step > after ? step + 1 : step;

            HR_ASSERT_STR_EQ(results.step[at], expected[step]);
        }
        hr_check_key(&server, HR_DB, "k1", "v1");
        hr_check_key(&server, HR_DB, "k2", "v2");
        HR_ASSERT_INT_EQ(hr_server_dbsize(&server, 0), 0);
    }
    hr_finish(&server, failures);
}

/* ---- Several requests in one buffer ---- */

/*
 * redisAppendFormattedCommand with three INCRs in one buffer, cut before
 * anything is written: each INCR must run once. Then a buffer of INCR, GET
 * and PING cut after its first reply, and a buffer of two GETs cut before
 * it is written.
 */
static void test_pipeline_formatted_several_kill(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@raw:" HR_RAW_INCR HR_RAW_INCR HR_RAW_INCR,
        HR_CUT,
        "@getreply",
        "@getreply",
        "@getreply",
        "@raw:" HR_RAW_INCR HR_RAW_GET_COUNTER HR_RAW_PING,
        "@getreply",
        HR_CUT,
        "@getreply",
        "@getreply",
        "@raw:" HR_RAW_GET_COUNTER HR_RAW_GET_COUNTER,
        HR_CUT,
        "@getreply",
        "@getreply",
        "GET counter",
        NULL,
    };
    static const struct {
        int step;
        const char *reply;
    } expected[] = {
        {5, "integer:1"}, {6, "integer:2"}, {7, "integer:3"},
        {9, "integer:4"}, {11, "string:4"}, {12, "status:PONG"},
        {15, "string:4"}, {16, "string:4"}, {17, "string:4"},
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_results plain, shim;

    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_plain_edges, steps, &plain);
    HR_ASSERT_STARTS_WITH(plain.step[5], "failed:");

    hr_reset_data(&server);
    HR_SETUP(&server, "CONFIG RESETSTAT");
    hr_run_steps(&server, &hr_shim_edges, steps, &shim);
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        HR_ASSERT_STR_EQ(shim.step[expected[i].step], expected[i].reply);
    HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "counter"), 4);
    HR_ASSERT_INT_EQ(hr_server_command_calls(&server, "incr"), 4);
    hr_finish(&server, failures);
}

/* ---- The session recorded from a pipeline ---- */

/* Runs steps that leave the session in db 3 and checks where b went. */
static void hr_session_case(const char *const *steps, int set_b_step)
{
    hr_server server;
    hr_results shim;
    unsigned failures = CU_get_number_of_failures();

    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_shim_script, steps, &shim);
    HR_ASSERT_STR_EQ(shim.step[set_b_step], "status:OK");
    hr_check_key(&server, 3, "b", "2");
    hr_check_key(&server, 0, "b", NULL);
    hr_check_key(&server, 3, "a", "1");
    hr_finish(&server, failures);
}

/* AUTH and SELECT appended and read before the cut. */
static void test_pipeline_session_read_kill(void)
{
    static const char *const steps[] = {
        "@append:AUTH " HR_PASSWORD,
        "@append:SELECT 3",
        "@append:SET a 1",
        "@getreply",
        "@getreply",
        "@getreply",
        HR_CUT,
        "SET b 2",
        NULL,
    };

    hr_session_case(steps, 8);
}

/* AUTH and SELECT appended, the cut before they are written. */
static void test_pipeline_session_owed_kill(void)
{
    static const char *const steps[] = {
        "@append:AUTH " HR_PASSWORD,
        "@append:SELECT 3",
        "@append:SET a 1",
        HR_CUT,
        "@getreply",
        "@getreply",
        "@getreply",
        "SET b 2",
        NULL,
    };

    hr_session_case(steps, 8);
}

/* SELECT sent with redisCommand behind an owed AUTH: redisCommand returns
 * AUTH's reply, and the program reads SELECT's with redisGetReply. */
static void test_pipeline_session_joined_kill(void)
{
    static const char *const steps[] = {
        "@append:AUTH " HR_PASSWORD,
        "SELECT 3",
        "@getreply",
        "SET a 1",
        HR_CUT,
        "SET b 2",
        NULL,
    };

    hr_session_case(steps, 6);
}

/* ---- HIRETRY_PIPELINE_MAX boundaries ---- */

/* Returns the size of the RESP request of the words in text. */
static long long hr_request_size(const char *text)
{
    long long size = 0;
    int argc = 0;
    char digits[24];

    for (const char *p = text; *p != '\0';) {
        size_t len = strcspn(p, " ");

        size += snprintf(digits, sizeof(digits), "$%zu\r\n", len) + len + 2;
        argc++;
        p += len;
        p += strspn(p, " ");
    }
    return size + snprintf(digits, sizeof(digits), "*%d\r\n", argc);
}

/*
 * Appends four INCRs and cuts the connection before they are written, with
 * HIRETRY_PIPELINE_MAX set to their size plus limit_delta bytes. They
 * cannot have run, so they are sent once on a new connection. Past the
 * limit too: while nothing is written, hiredis's output buffer still
 * contains every byte. The limit applies to pipelines cut after a write
 * (test_pipeline.c).
 */
static void hr_max_case(long long limit_delta)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:INCR counter",
        "@append:INCR counter",
        "@append:INCR counter",
        "@append:INCR counter",
        HR_CUT,
        "@getreply",
        "@getreply",
        "@getreply",
        "@getreply",
        "GET counter",
        NULL,
    };
    long long size = 4 * hr_request_size("INCR counter");
    unsigned failures = CU_get_number_of_failures();
    char setting[64];
    hr_server server;
    hr_run run = hr_shim_script;
    hr_results shim;

    snprintf(setting, sizeof(setting), "HIRETRY_PIPELINE_MAX=%lldB",
             size + limit_delta);
    run.settings[0] = setting;
    run.label = setting;
    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &run, steps, &shim);
    HR_ASSERT_STR_EQ(shim.step[8], "integer:1");
    HR_ASSERT_STR_EQ(shim.step[11], "integer:4");
    HR_ASSERT_STR_EQ(shim.step[12], "string:4");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "counter"), 4);
    hr_finish(&server, failures);
}

static void test_pipeline_max_exact_carried(void)
{
    hr_max_case(0);
}

static void test_pipeline_max_over_unwritten_carried(void)
{
    hr_max_case(-1);
}

/*
 * A pipeline of five INCRs crosses a limit that fits four. Once the four
 * kept ones are read, four GETs appended behind the fifth fit the limit
 * again, so a cut carries them. Then a new pipeline of four INCRs cut
 * before it is written is carried too.
 */
static void test_pipeline_max_shrinks_then_carried(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:INCR counter",
        "@append:INCR counter",
        "@append:INCR counter",
        "@append:INCR counter",
        "@append:INCR counter",
        "@getreply",
        "@getreply",
        "@getreply",
        "@getreply",
        "@append:GET counter",
        "@append:GET counter",
        "@append:GET counter",
        "@append:GET counter",
        HR_CUT,
        "@getreply", /* 17: the fifth INCR */
        "@getreply",
        "@getreply",
        "@getreply",
        "@getreply", /* 21 */
        "@append:INCR counter",
        "@append:INCR counter",
        "@append:INCR counter",
        "@append:INCR counter",
        HR_CUT,
        "@getreply", /* 27 */
        "@getreply",
        "@getreply",
        "@getreply", /* 30 */
        NULL,
    };
    long long size = 4 * hr_request_size("INCR counter");
    unsigned failures = CU_get_number_of_failures();
    char setting[64];
    hr_server server;
    hr_run run = hr_shim_script;
    hr_results shim;

    snprintf(setting, sizeof(setting), "HIRETRY_PIPELINE_MAX=%lldB", size);
    run.settings[0] = setting;
    run.label = setting;
    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &run, steps, &shim);
    HR_ASSERT_STR_EQ(shim.step[11], "integer:4");
    HR_ASSERT_STR_EQ(shim.step[17], "integer:5");
    for (int step = 18; step <= 21; step++)
        HR_ASSERT_STR_EQ(shim.step[step], "string:5");
    HR_ASSERT_STR_EQ(shim.step[27], "integer:6");
    HR_ASSERT_STR_EQ(shim.step[30], "integer:9");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "counter"), 9);
    hr_finish(&server, failures);
}

/*
 * A pipeline over the limit appended to a connection that was then cut is
 * still carried, since none of it was written, and so is the next one, as
 * large.
 */
static void test_pipeline_max_over_next_pipeline(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@appendmany:6:GET a",
        HR_CUT,
        "@readmany:6",
        "@appendmany:6:GET a",
        "@readmany:6",
        "GET a",
        NULL,
    };
    long long size = 5 * hr_request_size("GET a");
    unsigned failures = CU_get_number_of_failures();
    char setting[64];
    hr_server server;
    hr_run run = hr_shim_edges;
    hr_results plain, shim;

    snprintf(setting, sizeof(setting), "HIRETRY_PIPELINE_MAX=%lldB", size);
    run.settings[0] = setting;
    run.label = setting;
    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_plain_edges, steps, &plain);
    HR_ASSERT_STARTS_WITH(plain.step[5], "read:0:failed:");
    HR_ASSERT_STARTS_WITH(plain.step[7], "read:0:failed:");

    hr_reset_data(&server);
    hr_run_steps(&server, &run, steps, &shim);
    HR_ASSERT_STR_EQ(shim.step[5], "read:6");
    HR_ASSERT_STR_EQ(shim.step[7], "read:6");
    HR_ASSERT_STR_EQ(shim.step[8], "string:va");
    hr_finish(&server, failures);
}

/* ---- QUIT and error replies in a pipeline ---- */

/*
 * The server closes the connection after its reply to QUIT and runs
 * nothing written after QUIT, so a GET appended behind it may be sent
 * again on a new connection.
 */
static void test_pipeline_quit_appended(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:GET a",
        "@append:QUIT",
        "@append:GET b",
        "@getreply",
        "@getreply",
        "@getreply",
        "GET c",
        NULL,
    };
    static const char *const owed[] = {
        "AUTH " HR_PASSWORD, "SELECT 5", "@append:GET a",
        "@append:QUIT",      HR_CUT,     "@getreply",
        "@getreply",         "GET c",    NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_results plain, shim;

    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_plain_script, steps, &plain);
    HR_ASSERT_STR_EQ(plain.step[6], "string:va");
    HR_ASSERT_STR_EQ(plain.step[7], "status:OK");
    HR_ASSERT_STARTS_WITH(plain.step[8], "failed:");

    hr_run_steps(&server, &hr_shim_script, steps, &shim);
    HR_ASSERT_STR_EQ(shim.step[6], "string:va");
    HR_ASSERT_STR_EQ(shim.step[7], "status:OK");
    HR_ASSERT_STR_EQ(shim.step[8], "string:vb");
    HR_ASSERT_STR_EQ(shim.step[9], "string:vc");

    /* Appended but cut before it was written, QUIT is sent once. */
    hr_run_steps(&server, &hr_shim_script, owed, &shim);
    HR_ASSERT_STR_EQ(shim.step[6], "string:va");
    HR_ASSERT_STR_EQ(shim.step[7], "status:OK");
    HR_ASSERT_STR_EQ(shim.step[8], "string:vc");
    hr_finish(&server, failures);
}

/*
 * WRONGTYPE and NOSCRIPT replies reach the program as they are, before and
 * after a cut, and when the commands are sent again after a cut that came
 * before they were written.
 */
static void test_pipeline_error_replies_kill(void)
{
    static const char *const read_first[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:INCR l",
        "@append:EVALSHA " HR_UNKNOWN_SHA " 0",
        "@append:GET a",
        "@getreply",
        HR_CUT,
        "@getreply",
        "@getreply",
        "GET a",
        NULL,
    };
    static const char *const owed[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:INCR l",
        "@append:EVALSHA " HR_UNKNOWN_SHA " 0",
        "@append:GET a",
        HR_CUT,
        "@getreply",
        "@getreply",
        "@getreply",
        "GET a",
        NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_results plain, shim;

    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    HR_SETUP(&server, "RPUSH l x");
    hr_run_steps(&server, &hr_plain_script, read_first, &plain);
    HR_ASSERT_STARTS_WITH(plain.step[6], "error:WRONGTYPE");
    HR_ASSERT_STARTS_WITH(plain.step[8], "error:NOSCRIPT");
    HR_ASSERT_STR_EQ(plain.step[9], "string:va");
    HR_ASSERT_STARTS_WITH(plain.step[10], "failed:");

    hr_run_steps(&server, &hr_shim_script, read_first, &shim);
    HR_ASSERT_STR_EQ(shim.step[6], plain.step[6]);
    HR_ASSERT_STR_EQ(shim.step[8], plain.step[8]);
    HR_ASSERT_STR_EQ(shim.step[9], "string:va");
    HR_ASSERT_STR_EQ(shim.step[10], "string:va");

    hr_run_steps(&server, &hr_shim_script, owed, &shim);
    HR_ASSERT_STR_EQ(shim.step[7], plain.step[6]);
    HR_ASSERT_STR_EQ(shim.step[8], plain.step[8]);
    HR_ASSERT_STR_EQ(shim.step[9], "string:va");
    HR_ASSERT_STR_EQ(shim.step[10], "string:va");
    hr_finish(&server, failures);
}

/* ---- Reads with nothing owed, and redisReconnect ---- */

/*
 * A read with nothing owed times out as in plain hiredis, and the next
 * command then gets its reply on a new connection.
 */
static void test_pipeline_extra_read_times_out(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:GET a",
        "@getreply",
        "@getreply",
        "GET a",
        NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_run plain_run = hr_plain_script;
    hr_run shim_run = hr_shim_script;
    hr_results plain, shim;

    plain_run.timeout_ms = 500;
    shim_run.timeout_ms = 500;
    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &plain_run, steps, &plain);
    hr_run_steps(&server, &shim_run, steps, &shim);
    HR_ASSERT_STR_EQ(plain.step[4], "string:va");
    HR_ASSERT_STARTS_WITH(plain.step[5], "failed:");
    HR_ASSERT_STARTS_WITH(plain.step[6], "failed:");
    HR_ASSERT_STR_EQ(shim.step[4], "string:va");
    HR_ASSERT_STR_EQ(shim.step[5], plain.step[5]);
    HR_ASSERT_STR_EQ(shim.step[6], "string:va");
    hr_finish(&server, failures);
}

/*
 * redisReconnect drops the appended commands not yet written and the
 * replies not yet read: the program's next reads get the replies of the
 * commands it appends after the reconnect, also across a cut.
 */
static void test_pipeline_reconnect_owed(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@append:SET x 1",
        "@append:GET a",
        "@reconnect",
        "@append:GET b",
        "@getreply", /* 7 */
        "@append:GET a",
        "@append:GET c",
        "@getreply", /* 10 */
        "@reconnect",
        "@append:GET b",
        "@getreply", /* 13 */
        HR_CUT,
        "@append:GET c",
        "@getreply", /* 16 */
        "GET a",
        NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_results plain, shim;

    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    /* Plain hiredis's redisReconnect opens an unauthenticated connection. */
    hr_run_steps(&server, &hr_plain_script, steps, &plain);
    HR_ASSERT_STARTS_WITH(plain.step[7], "error:NOAUTH");

    hr_run_steps(&server, &hr_shim_script, steps, &shim);
    HR_ASSERT_STR_EQ(shim.step[5], "ok");
    HR_ASSERT_STR_EQ(shim.step[7], "string:vb");
    HR_ASSERT_STR_EQ(shim.step[10], "string:va");
    HR_ASSERT_STR_EQ(shim.step[13], "string:vb");
    HR_ASSERT_STR_EQ(shim.step[16], "string:vc");
    HR_ASSERT_STR_EQ(shim.step[17], "string:va");
    hr_check_key(&server, HR_DB, "x", NULL);
    hr_finish(&server, failures);
}

/* ---- fork and threads ---- */

/*
 * The program forks twice while replies are owed; one child leaves at
 * once, the other frees its copy of the context first. The parent reads
 * on, across a cut.
 */
static void test_pipeline_fork_owed(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD, "SELECT 5",  "@append:GET a", "@append:GET b",
        "@append:GET c",     "@getreply", "@fork:exit",    "@getreply",
        "@fork:free",        HR_CUT,      "@getreply", /* 11 */
        "@append:GET a",     "@getreply", "GET b",         NULL,
    };
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_results plain, shim;

    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    hr_run_steps(&server, &hr_plain_edges, steps, &plain);
    HR_ASSERT_STR_EQ(plain.step[11], "string:vc");
    HR_ASSERT_STARTS_WITH(plain.step[13], "failed:");

    hr_run_steps(&server, &hr_shim_edges, steps, &shim);
    HR_ASSERT_INT_EQ(shim.status, 0);
    HR_ASSERT_STR_EQ(shim.step[6], "string:va");
    HR_ASSERT_STR_EQ(shim.step[7], "ok");
    HR_ASSERT_STR_EQ(shim.step[8], "string:vb");
    HR_ASSERT_STR_EQ(shim.step[9], "ok");
    HR_ASSERT_STR_EQ(shim.step[11], "string:vc");
    HR_ASSERT_STR_EQ(shim.step[13], "string:va");
    HR_ASSERT_STR_EQ(shim.step[14], "string:vb");
    hr_finish(&server, failures);
}

/*
 * Four threads, each pipelining SET and GET of its own keys on its own
 * context, through a server crash and restart with every write fsynced.
 */
static void test_pipeline_threads_restart(void)
{
    unsigned failures = CU_get_number_of_failures();
    long long sets = HR_THREADS * HR_THREAD_OPS / 2;
    hr_server server;
    hr_program program = {0};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    hr_workload_results r;
    int rc;

    if (!hr_start(&server, true))
        return;
    rc = hr_workload_args(&argv, &server, false);
    rc |= hr_string_list_add(&argv, "--db");
    rc |= hr_string_list_add(&argv, "%d", HR_DB);
    rc |= hr_string_list_add(&argv, "--op");
    rc |= hr_string_list_add(&argv, "set-get");
    rc |= hr_string_list_add(&argv, "--threads");
    rc |= hr_string_list_add(&argv, "%d", HR_THREADS);
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "%d", HR_THREAD_OPS);
    rc |= hr_string_list_add(&argv, "--pipeline");
    rc |= hr_string_list_add(&argv, "%d", HR_THREAD_PIPELINE);
    rc |= hr_string_list_add(&argv, "--timeout-ms");
    rc |= hr_string_list_add(&argv, "5000");
    rc |= hr_string_list_add(&argv, "--keep-going");
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_RETRIES=50");
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_INT_EQ(hr_run_across_restart(&server, &program, &argv, &env,
                                           "set", HR_THREAD_CALLS_BEFORE_KILL,
                                           HR_DOWN_MS, HR_PROGRAM_TIMEOUT_MS),
                     0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);

    hr_workload_results_read(&program, &r);
    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(r.ops, HR_THREADS * HR_THREAD_OPS);
    HR_ASSERT_INT_EQ(r.errors, 0);
    HR_ASSERT_STR_EQ(r.first_error, "");
    HR_ASSERT_INT_EQ(r.set_acknowledged, sets);
    HR_ASSERT_INT_EQ(r.get_hits, sets);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "get_wrong"), 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "replies_after_failure"), 0);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&server, HR_DB), sets);
    HR_ASSERT_TRUE(strstr(program.err, "event=retry") != NULL);
    hr_test_finish(&server, &program, failures);
}

/* ---- Memory ---- */

/* Returns the KiB of a "kib:N" result, or -1. */
static long long hr_kib(const char *result)
{
    return strncmp(result, "kib:", 4) == 0 ? strtoll(result + 4, NULL, 10) : -1;
}

/*
 * One pipeline of 100,000 SETs of 160-byte values, about 19 MB of
 * commands: the shim keeps at most HIRETRY_PIPELINE_MAX (1 MiB) of their
 * bytes, plus a record per owed command. Its peak RSS may exceed plain
 * hiredis's by 2 MiB for the kept bytes and their allocations, and by 64
 * bytes per command for the records. Keeping every command would cost
 * about 20 MB more.
 */
static void test_pipeline_memory_peak(void)
{
    char value[HR_MEMORY_VALUE_BYTES + 1];
    char append[HR_MEMORY_VALUE_BYTES + 64];
    char read[64];
    char read_all[64];
    const char *const steps[] = {"@peak", append, read, "@peak", NULL};
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_results plain, shim;
    long long plain_peak, shim_peak, allowed;

    memset(value, 'x', HR_MEMORY_VALUE_BYTES);
    value[HR_MEMORY_VALUE_BYTES] = '\0';
    snprintf(append, sizeof(append), "@appendmany:%d:SET k %s",
             HR_MEMORY_COMMANDS, value);
    snprintf(read, sizeof(read), "@readmany:%d", HR_MEMORY_COMMANDS);
    snprintf(read_all, sizeof(read_all), "read:%d", HR_MEMORY_COMMANDS);
    if (!hr_start(&server, false))
        return;
    hr_run_steps(&server, &hr_plain_edges, steps, &plain);
    hr_run_steps(&server, &hr_shim_edges, steps, &shim);
    HR_ASSERT_STR_EQ(plain.step[3], read_all);
    HR_ASSERT_STR_EQ(shim.step[3], read_all);

    plain_peak = hr_kib(plain.step[4]) * 1024;
    shim_peak = hr_kib(shim.step[4]) * 1024;
    allowed = plain_peak + 2 * HR_MIB + 64LL * HR_MEMORY_COMMANDS;
    fprintf(stderr,
            "peak RSS with %d pipelined SETs: plain hiredis %lld KiB, "
            "shim %lld KiB, allowed %lld KiB\n",
            HR_MEMORY_COMMANDS, plain_peak / 1024, shim_peak / 1024,
            allowed / 1024);
    HR_ASSERT_TRUE(plain_peak > 0);
    HR_ASSERT_UINT_IN(shim_peak, 1, allowed);
    hr_finish(&server, failures);
}

/*
 * A short run under valgrind's memcheck with the shim preloaded: a cut
 * before anything was written (sent again), a cut carried after a failed
 * read, and a give-up. The replies to GET big, 40 KB each, are longer than
 * hiredis's 16 KiB reads, so at a cut the second one is still partly in the
 * kernel. Reading it then writes the command appended after the cut into
 * the closed connection. No invalid access and no lost block are allowed.
 */
static void test_pipeline_valgrind_clean(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,
        "SELECT 5",
        "@appendmany:300:SET k v",
        "@appendmany:300:GET k",
        "@readmany:200",
        HR_CUT,
        "@readmany:400", /* 7 */
        "@append:GET k",
        "GET k", /* 9: the reply to the GET appended before it */
        "@getreply",
        "@append:GET big",
        "@append:GET big",
        "@getreply",
        HR_CUT,
        "@append:GET k",
        "@getreply", /* 16: the second GET big */
        "@getreply", /* 17: GET k was written after the cut: sent again */
        "@append:GET big",
        "@append:GET big",
        "@getreply",
        HR_CUT,
        "@append:INCR n",
        "@getreply", /* 23: the second GET big */
        "@getreply", /* 24: INCR may have run: the shim gives up */
        "GET k",     /* 25 */
        NULL,
    };
    char big[HR_BIG_VALUE_BYTES + 1];
    unsigned failures = CU_get_number_of_failures();
    hr_server server;
    hr_run run = hr_shim_edges;
    hr_results shim;
    redisReply *reply;

#ifndef HIRETRY_VALGRIND_PATH
    fprintf(stderr, "valgrind is not installed: leak check skipped\n");
    return;
#endif
    run.label = "shim under valgrind";
    run.valgrind = true;
    memset(big, 'x', HR_BIG_VALUE_BYTES);
    big[HR_BIG_VALUE_BYTES] = '\0';
    if (!hr_start(&server, false))
        return;
    hr_reset_data(&server);
    reply = hr_server_command(&server, HR_DB, "SET big %s", big);
    HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);

    hr_run_steps(&server, &run, steps, &shim);
    HR_ASSERT_INT_EQ(shim.status, 0);
    HR_ASSERT_STR_EQ(shim.step[7], "read:400");
    HR_ASSERT_STR_EQ(shim.step[9], "string:v");
    HR_ASSERT_STR_EQ(shim.step[10], "string:v");
    HR_ASSERT_STARTS_WITH(shim.step[13], HR_BIG_REPLY);
    HR_ASSERT_STARTS_WITH(shim.step[16], HR_BIG_REPLY);
    HR_ASSERT_STR_EQ(shim.step[17], "string:v");
    HR_ASSERT_STARTS_WITH(shim.step[20], HR_BIG_REPLY);
    HR_ASSERT_TRUE(strncmp(shim.step[23], HR_BIG_REPLY, 16) == 0 ||
                   strncmp(shim.step[23], "failed:", 7) == 0);
    HR_ASSERT_STARTS_WITH(shim.step[24], "failed:");
    HR_ASSERT_STR_EQ(shim.step[25], "string:v");
    HR_ASSERT_TRUE(strstr(shim.err, "event=retry") != NULL);
    HR_ASSERT_TRUE(strstr(shim.err, "event=give_up") != NULL);
    HR_ASSERT_TRUE(strstr(shim.err, "==") == NULL);
    /* The INCR written into the closed connection never ran. */
    HR_ASSERT_INT_EQ(hr_server_get_integer(&server, HR_DB, "n"), 0);
    hr_finish(&server, failures);
}

static CU_TestInfo tests[] = {
    {"test_pipeline_reply_skip_kill", test_pipeline_reply_skip_kill},
    {"test_pipeline_empty_request_kill", test_pipeline_empty_request_kill},
    {"test_pipeline_multi_kill_recovers", test_pipeline_multi_kill_recovers},
    {"test_pipeline_watch_kill_recovers", test_pipeline_watch_kill_recovers},
    {"test_pipeline_subscribe_kill_recovers",
     test_pipeline_subscribe_kill_recovers},
    {"test_pipeline_subscribe_appended_kill",
     test_pipeline_subscribe_appended_kill},
    {"test_pipeline_inline_select_kill_db",
     test_pipeline_inline_select_kill_db},
    {"test_pipeline_inline_like_plain", test_pipeline_inline_like_plain},
    {"test_pipeline_arena_reader_kill", test_pipeline_arena_reader_kill},
    {"test_pipeline_null_reader_kill", test_pipeline_null_reader_kill},
    {"test_pipeline_command_mix_kill_each_point",
     test_pipeline_command_mix_kill_each_point},
    {"test_pipeline_formatted_several_kill",
     test_pipeline_formatted_several_kill},
    {"test_pipeline_session_read_kill", test_pipeline_session_read_kill},
    {"test_pipeline_session_owed_kill", test_pipeline_session_owed_kill},
    {"test_pipeline_session_joined_kill", test_pipeline_session_joined_kill},
    {"test_pipeline_max_exact_carried", test_pipeline_max_exact_carried},
    {"test_pipeline_max_over_unwritten_carried",
     test_pipeline_max_over_unwritten_carried},
    {"test_pipeline_max_shrinks_then_carried",
     test_pipeline_max_shrinks_then_carried},
    {"test_pipeline_max_over_next_pipeline",
     test_pipeline_max_over_next_pipeline},
    {"test_pipeline_quit_appended", test_pipeline_quit_appended},
    {"test_pipeline_error_replies_kill", test_pipeline_error_replies_kill},
    {"test_pipeline_extra_read_times_out", test_pipeline_extra_read_times_out},
    {"test_pipeline_reconnect_owed", test_pipeline_reconnect_owed},
    {"test_pipeline_fork_owed", test_pipeline_fork_owed},
    {"test_pipeline_threads_restart", test_pipeline_threads_restart},
    {"test_pipeline_memory_peak", test_pipeline_memory_peak},
    {"test_pipeline_valgrind_clean", test_pipeline_valgrind_clean},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration pipeline edges", tests);
}

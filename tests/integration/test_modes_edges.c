/*
 * The shim's modes at their edges: MULTI blocks rebuilt on a new
 * connection, subscriptions restored after a break, blocking commands, and
 * the session after a rejected AUTH. Each case is a list of hr_script
 * steps run against a real server started for it. A mark in the list
 * stops the program while the test acts on the server:
 *
 *   "|"  the program waits at the mark until the test has acted;
 *   "~"  the program goes on, and the test acts once the server reports
 *        the next step blocked.
 *
 * The test's action (a CLIENT KILL of the program's connection, a server
 * turned replica, a password changed, a server restarted into LOADING, ...)
 * is the same for every mark unless the case lists one per mark. Many
 * cases also run with plain hiredis, to show what the program sees without
 * the shim. With the shim, a step after a break must get its own reply or
 * a failure that sets err and errstr, and the program must get a working
 * connection back at its next call, as README.md promises.
 *
 * NOTE: two cases fail today and are built only with -DHR_KNOWN_GAPS: an
 * AUTH appended to a pipeline after WRONGPASS, and an UNSUBSCRIBE whose
 * confirmation was lost with the connection (the shim subscribes that
 * channel again).
 */
#include "harness.h"
#include "hr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_STEPS_MAX 80
#define HR_MARKS_MAX 4
#define HR_RESULT_SIZE 256
#define HR_PATH_SIZE 256
#define HR_PROGRAM_TIMEOUT_MS 60000

#define HR_PASSWORD "modes-password-alpha"
#define HR_NEW_PASSWORD "modes-password-beta"
#define HR_USER "modes-user"
#define HR_USER_PASSWORD "modes-user-password"

#define HR_MARK "|"
#define HR_MARK_BLOCKED "~"

/* A socket timeout for cases where a reply may never come. */
#define HR_MODE_TIMEOUT_MS 2000

/* A socket timeout shorter than the blocking time of a command. */
#define HR_SHORT_TIMEOUT_MS 300

/* The LOADING case: keys of 10 bytes, each loaded with a delay of 100 µs
 * (valkey's key-load-delay), so the server loads for at least 2 s. */
#define HR_LOADING_KEYS 20000

/* The lost-confirmation case: PUBLISHes of 1 MiB that the subscriber does
 * not read. They exceed what the kernel buffers of a loopback connection
 * take, so the server still keeps a backlog when the connection is killed,
 * which HR_ACTION_BACKLOG_KILL checks. */
#define HR_BACKLOG_MESSAGES 20
#define HR_BACKLOG_BYTES (1024 * 1024)
#define HR_BACKLOG_READS 60

/* What the test does at a mark. */
typedef enum hr_action {
    HR_ACTION_NONE,
    HR_ACTION_KILL,             /* CLIENT KILL of normal and pubsub clients */
    HR_ACTION_REPLICA_KILL,     /* REPLICAOF a closed port, then the kill */
    HR_ACTION_PASSWORD_KILL,    /* requirepass HR_NEW_PASSWORD, then the kill */
    HR_ACTION_NO_PASSWORD_KILL, /* requirepass removed, then the kill */
    HR_ACTION_CHANNELS_KILL,    /* HR_USER may use no channel, then the kill */
    HR_ACTION_PAUSE_KILL,       /* the next step held by CLIENT PAUSE, killed */
    HR_ACTION_LOADING,          /* SIGKILL and a restart into LOADING */
    HR_ACTION_SERVER_DOWN,      /* SIGKILL */
    HR_ACTION_SERVER_UP,        /* a restart, ready */
    HR_ACTION_BACKLOG,          /* HR_BACKLOG_MESSAGES PUBLISHes on channel a */
    HR_ACTION_BACKLOG_KILL      /* the kill, once a backlog is checked */
} hr_action;

/* One case: a server, the program's steps and the test's actions. */
typedef struct hr_case {
    hr_server_kind kind;
    const char *password;           /* requirepass, or NULL */
    const char *const *server_args; /* NULL-terminated, or NULL */
    const char *const *setup;       /* commands run before the program */
    const char *const *settings;    /* HIRETRY_* for the shim, or NULL */
    int timeout_ms;                 /* hr_script's socket timeout */
    hr_action action;               /* at every mark, unless actions */
    const hr_action *actions;       /* one per mark, or NULL */
    const char *after_action;       /* a command run after each action */
    const char *const *steps;       /* NULL-terminated */
} hr_case;

/* One run of a case, with or without the shim. */
typedef struct hr_run {
    const hr_case *spec;
    bool shim;
    hr_server server;
    hr_program program;
    int count;                     /* entries in spec->steps */
    int script_step[HR_STEPS_MAX]; /* hr_script's number, 0: a mark */
    int marks;
    bool blocked[HR_MARKS_MAX]; /* the mark is HR_MARK_BLOCKED */
    char ready[HR_MARKS_MAX][HR_PATH_SIZE];
    char go[HR_MARKS_MAX][HR_PATH_SIZE];
    char step[HR_STEPS_MAX][HR_RESULT_SIZE]; /* the result of each entry */
    long long ms[HR_STEPS_MAX];              /* its duration, or -1 */
} hr_run;

/* Asserts that the value starts with prefix, and prints both if not. */
#define HR_ASSERT_STARTS_WITH(actual, prefix)                                  \
    do {                                                                       \
        const char *hr_s_ = (actual);                                          \
        hr_test_record(strncmp(hr_s_, (prefix), strlen(prefix)) == 0,          \
                       __LINE__, __FILE__, __func__,                           \
                       "%s starts with %s (\"%s\")", #actual, prefix, hr_s_);  \
    } while (0)

/*
 * Asserts that the step failed the way hiredis reports a failure: an error
 * reply, or a NULL reply with err set and errstr not empty, which hr_script
 * prints as failed:ERR:ERRSTR.
 */
#define HR_ASSERT_REPORTED(actual)                                             \
    do {                                                                       \
        const char *hr_s_ = (actual);                                          \
        hr_test_record(                                                        \
            hr_is_reported_failure(hr_s_), __LINE__, __FILE__, __func__,       \
            "%s is an error reply or has err set (\"%s\")", #actual, hr_s_);   \
    } while (0)

static bool hr_is_reported_failure(const char *value)
{
    if (strncmp(value, "error:", 6) == 0)
        return true;
    return strncmp(value, "failed:", 7) == 0 && value[7] >= '1' &&
           value[7] <= '9' && value[8] == ':' && value[9] != '\0';
}

/* Counts the lines of text that contain needle. */
static int hr_count_lines(const char *text, const char *needle)
{
    int count = 0;

    for (const char *at = text; at && (at = strstr(at, needle)) != NULL;
         count++)
        at = strchr(at, '\n');
    return count;
}

/* ---- Commands of the test on its own connections ---- */

/* Runs a command given as words split on spaces, in db 0. Returns the reply
 * to free, or NULL after printing why. */
static redisReply *hr_admin(const hr_server *server, const char *words)
{
    char copy[512];
    const char *argv[32];
    int argc = 0;
    redisContext *c;
    redisReply *reply;

    snprintf(copy, sizeof(copy), "%s", words);
    for (char *save = NULL, *word = strtok_r(copy, " ", &save);
         word != NULL && argc < 32; word = strtok_r(NULL, " ", &save))
        argv[argc++] = word;
    c = hr_server_connect(server, 0);
    if (c == NULL)
        return NULL;
    reply = redisCommandArgv(c, argc, argv, NULL);
    if (reply == NULL)
        fprintf(stderr, "%s: %s\n", words, c->errstr);
    redisFree(c);
    return reply;
}

/* Runs a command that must reply with a status. */
static void hr_admin_status(const hr_server *server, const char *words)
{
    redisReply *reply = hr_admin(server, words);
    bool status = reply != NULL && reply->type == REDIS_REPLY_STATUS;

    if (!status)
        fprintf(stderr, "%s: reply type %d: %s\n", words,
                reply ? reply->type : -1,
                reply && reply->str ? reply->str : "");
    HR_ASSERT_TRUE(status);
    freeReplyObject(reply);
}

/*
 * Returns the integer reply of a command, the integer in the second
 * element of an array reply (PUBSUB NUMSUB), or the size of another array
 * reply. Returns -1 on failure.
 */
static long long hr_admin_integer(const hr_server *server, const char *words)
{
    redisReply *reply = hr_admin(server, words);
    long long value = -1;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        value = reply->integer;
    else if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
             reply->elements == 2 &&
             reply->element[1]->type == REDIS_REPLY_INTEGER)
        value = reply->element[1]->integer;
    else if (reply != NULL && reply->type == REDIS_REPLY_ARRAY)
        value = (long long)reply->elements;
    freeReplyObject(reply);
    return value;
}

/* Polls a command until its value (as hr_admin_integer) is expected, for
 * up to timeout_ms. Returns the last value seen. */
static long long hr_wait_value(const hr_server *server, const char *words,
                               long long expected, int timeout_ms)
{
    int64_t deadline = hr_harness_now_ms() + timeout_ms;
    long long value = hr_admin_integer(server, words);

    while (value != expected && hr_harness_now_ms() < deadline) {
        hr_harness_sleep_ms(10);
        value = hr_admin_integer(server, words);
    }
    if (value != expected)
        fprintf(stderr, "%s: %lld after %d ms, expected %lld\n", words, value,
                timeout_ms, expected);
    return value;
}

/* Kills the clients of the program: normal ones and subscribers. Returns
 * how many were killed, or -1. */
static long long hr_kill_program(const hr_server *server)
{
    long long normal = hr_admin_integer(server, "CLIENT KILL TYPE normal");
    long long pubsub = hr_admin_integer(server, "CLIENT KILL TYPE pubsub");

    if (normal < 0 || pubsub < 0)
        return -1;
    return normal + pubsub;
}

/* Changes requirepass, and the password the harness authenticates with. */
static void hr_set_password(hr_server *server, const char *password)
{
    char words[128];

    snprintf(words, sizeof(words), "CONFIG SET requirepass %s",
             password ? password : "");
    if (password == NULL) {
        /* CONFIG SET takes an empty string, which one word cannot be. */
        redisContext *c = hr_server_connect(server, 0);
        redisReply *reply =
            c ? redisCommand(c, "CONFIG SET requirepass %s", "") : NULL;

        HR_ASSERT_TRUE(reply != NULL && reply->type == REDIS_REPLY_STATUS);
        freeReplyObject(reply);
        redisFree(c);
    } else {
        hr_admin_status(server, words);
    }
    free(server->password);
    server->password = password ? strdup(password) : NULL;
}

/* Waits until the server reports at least count blocked clients. */
static int hr_wait_blocked(const hr_server *server, long long count)
{
    int64_t deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;

    while (hr_server_info_integer(server, "blocked_clients") < count) {
        if (hr_harness_now_ms() >= deadline) {
            fprintf(stderr, "blocked_clients did not reach %lld\n", count);
            return -1;
        }
        hr_harness_sleep_ms(10);
    }
    return 0;
}

/* Returns true when a new connection gets LOADING for PING. */
static bool hr_server_loading(const hr_server *server)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", server->port, tv);
    redisReply *reply = NULL;
    bool loading = false;

    if (c != NULL && c->err == 0)
        reply = redisCommand(c, "PING");
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        loading = strncmp(reply->str, "LOADING", 7) == 0;
    freeReplyObject(reply);
    redisFree(c);
    return loading;
}

/* Fills the server, saves, and starts it again into LOADING. */
static void hr_restart_loading(hr_server *server)
{
    char words[64];
    int64_t deadline;

    snprintf(words, sizeof(words), "DEBUG POPULATE %d key 10", HR_LOADING_KEYS);
    hr_admin_status(server, words);
    hr_admin_status(server, "SAVE");
    HR_ASSERT_INT_EQ(hr_server_kill(server), 0);
    HR_ASSERT_INT_EQ(hr_server_restart_after(server, 0), 0);

    deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;
    while (!hr_server_loading(server) && hr_harness_now_ms() < deadline)
        hr_harness_sleep_ms(5);
    HR_ASSERT_TRUE(hr_harness_now_ms() < deadline);
}

/* Publishes HR_BACKLOG_MESSAGES messages of HR_BACKLOG_BYTES on a. */
static void hr_publish_backlog(const hr_server *server)
{
    redisContext *c = hr_server_connect(server, 0);
    char *payload = malloc(HR_BACKLOG_BYTES);

    HR_ASSERT_TRUE(c != NULL && payload != NULL);
    if (c != NULL && payload != NULL) {
        memset(payload, 'x', HR_BACKLOG_BYTES);
        for (int i = 0; i < HR_BACKLOG_MESSAGES; i++) {
            redisReply *reply = redisCommand(c, "PUBLISH a %b", payload,
                                             (size_t)HR_BACKLOG_BYTES);

            HR_ASSERT_TRUE(reply != NULL &&
                           reply->type == REDIS_REPLY_INTEGER &&
                           reply->integer == 1);
            freeReplyObject(reply);
        }
    }
    free(payload);
    redisFree(c);
}

/*
 * Returns the bytes the server keeps for its one subscriber, from the
 * omem field of CLIENT LIST TYPE pubsub, or -1.
 */
static long long hr_subscriber_backlog(const hr_server *server)
{
    redisReply *reply = hr_admin(server, "CLIENT LIST TYPE pubsub");
    const char *field;
    long long omem = -1;

    if (reply != NULL && reply->type == REDIS_REPLY_STRING &&
        (field = strstr(reply->str, " omem=")) != NULL)
        omem = strtoll(field + 6, NULL, 10);
    freeReplyObject(reply);
    return omem;
}

/* ---- Runs ---- */

static hr_action hr_action_at(const hr_run *run, int mark)
{
    return run->spec->actions ? run->spec->actions[mark] : run->spec->action;
}

/* Appends the steps to argv, marks as hr_script's @touch and @wait. */
static int hr_add_steps(hr_run *run, hr_string_list *argv)
{
    static unsigned serial;
    int script_step = 1;
    int rc = 0;

    for (const char *const *step = run->spec->steps; *step; step++) {
        bool wait = strcmp(*step, HR_MARK) == 0;
        bool blocked = strcmp(*step, HR_MARK_BLOCKED) == 0;
        int i = run->count++;

        if (!wait && !blocked) {
            run->script_step[i] = script_step++;
            rc |= hr_string_list_add(argv, "%s", *step);
            continue;
        }
        int mark = run->marks++;
        run->script_step[i] = 0;
        run->blocked[mark] = blocked;
        serial++;
        rc |= hr_harness_path(run->ready[mark], HR_PATH_SIZE, "%s/ready-%u",
                              hr_harness_dir(), serial);
        rc |= hr_harness_path(run->go[mark], HR_PATH_SIZE, "%s/go-%u",
                              hr_harness_dir(), serial);
        rc |= hr_string_list_add(argv, "@touch:%s", run->ready[mark]);
        script_step++;
        if (wait) {
            rc |= hr_string_list_add(argv, "@wait:%s", run->go[mark]);
            script_step++;
        }
    }
    return rc;
}

/* Starts the case's server and runs its setup commands. */
static bool hr_run_server(hr_run *run)
{
    hr_server_options options = {
        .kind = run->spec->kind,
        .password = run->spec->password,
        .extra_args = run->spec->server_args,
    };

    if (hr_server_start(&run->server, &options) != 0) {
        HR_ASSERT_TRUE(false);
        hr_server_stop(&run->server);
        return false;
    }
    for (const char *const *setup = run->spec->setup; setup && *setup;
         setup++) {
        redisReply *reply = hr_admin(&run->server, *setup);

        HR_ASSERT_TRUE(reply != NULL && reply->type != REDIS_REPLY_ERROR);
        freeReplyObject(reply);
    }
    return true;
}

/* Starts the server and the program. Returns false when the server did
 * not start; the run then needs no hr_run_end. */
static bool hr_run_start(hr_run *run, const hr_case *spec, bool shim)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc;

    memset(run, 0, sizeof(*run));
    run->spec = spec;
    run->shim = shim;
    if (!hr_run_server(run))
        return false;

    rc = hr_script_args(&argv, &run->server, spec->timeout_ms);
    rc |= hr_add_steps(run, &argv);
    if (shim) {
        rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
        rc |= hr_string_list_add(&env, "HIRETRY_LOG=debug");
        for (const char *const *s = spec->settings; s && *s; s++)
            rc |= hr_string_list_add(&env, "%s", *s);
    }
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_TRUE(run->count <= HR_STEPS_MAX);
    HR_ASSERT_TRUE(run->marks <= HR_MARKS_MAX);
    if (rc == 0)
        HR_ASSERT_INT_EQ(hr_program_start(&run->program, &argv, &env), 0);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return true;
}

/*
 * Kills the program's connection. With plain hiredis a connection killed
 * at an earlier mark stays dead, so there may be none left to kill.
 */
static void hr_kill_run(hr_run *run)
{
    long long killed = hr_kill_program(&run->server);

    if (run->shim)
        HR_ASSERT_INT_EQ(killed, 1);
    else
        HR_ASSERT_UINT_IN(killed, 0, 1);
}

/* Does one action; a PAUSE_KILL lets the program go on by itself. */
static void hr_act(hr_run *run, hr_action action, int mark)
{
    hr_server *server = &run->server;

    switch (action) {
    case HR_ACTION_NONE:
        break;
    case HR_ACTION_KILL:
        hr_kill_run(run);
        break;
    case HR_ACTION_REPLICA_KILL:
        /* A replica rejects writes with READONLY (replica-read-only is on
           by default). Loopback port 1 normally has no listener, so the
           replica never loads a dataset from it. */
        hr_admin_status(server, "REPLICAOF 127.0.0.1 1");
        hr_kill_run(run);
        break;
    case HR_ACTION_PASSWORD_KILL:
        hr_set_password(server, HR_NEW_PASSWORD);
        hr_kill_run(run);
        break;
    case HR_ACTION_NO_PASSWORD_KILL:
        hr_set_password(server, NULL);
        hr_kill_run(run);
        break;
    case HR_ACTION_CHANNELS_KILL:
        /* The server itself disconnects a subscriber whose channels the
           ACL no longer allows, so the kill may find none. */
        hr_admin_status(server, "ACL SETUSER " HR_USER " resetchannels");
        HR_ASSERT_UINT_IN(hr_kill_program(server), 0, 1);
        HR_ASSERT_INT_EQ(hr_admin_integer(server, "PUBSUB NUMSUB ch"), 0);
        break;
    case HR_ACTION_PAUSE_KILL:
        hr_admin_status(server, "CLIENT PAUSE 10000 WRITE");
        HR_ASSERT_INT_EQ(hr_harness_touch(run->go[mark]), 0);
        HR_ASSERT_INT_EQ(hr_wait_blocked(server, 1), 0);
        hr_kill_run(run);
        hr_admin_status(server, "CLIENT UNPAUSE");
        break;
    case HR_ACTION_LOADING:
        hr_restart_loading(server);
        break;
    case HR_ACTION_SERVER_DOWN:
        HR_ASSERT_INT_EQ(hr_server_kill(server), 0);
        break;
    case HR_ACTION_SERVER_UP:
        HR_ASSERT_INT_EQ(hr_server_restart(server), 0);
        break;
    case HR_ACTION_BACKLOG:
        hr_publish_backlog(server);
        break;
    case HR_ACTION_BACKLOG_KILL:
        /* Without a backlog the confirmation would reach the program's
           socket before the kill, and the case would show nothing. */
        HR_ASSERT_UINT_IN(hr_subscriber_backlog(server), 1024 * 1024,
                          1024LL * 1024 * 1024);
        hr_kill_run(run);
        break;
    }
}

/* Waits for the program at a mark, acts, and lets it go on. */
static void hr_run_mark(hr_run *run, int mark)
{
    hr_action action = hr_action_at(run, mark);

    if (hr_harness_wait_file(run->ready[mark]) != 0) {
        HR_ASSERT_TRUE(false);
        return;
    }
    if (run->blocked[mark])
        HR_ASSERT_INT_EQ(hr_wait_blocked(&run->server, 1), 0);
    hr_act(run, action, mark);
    if (run->spec->after_action != NULL) {
        redisReply *reply = hr_admin(&run->server, run->spec->after_action);

        HR_ASSERT_TRUE(reply != NULL && reply->type != REDIS_REPLY_ERROR);
        freeReplyObject(reply);
    }
    if (!run->blocked[mark] && action != HR_ACTION_PAUSE_KILL)
        HR_ASSERT_INT_EQ(hr_harness_touch(run->go[mark]), 0);
}

/* Waits for the program and reads the result of every step. */
static void hr_run_wait(hr_run *run)
{
    HR_ASSERT_INT_EQ(hr_program_wait(&run->program, HR_PROGRAM_TIMEOUT_MS), 0);
    for (int i = 0; i < run->count; i++) {
        char key[32];

        run->ms[i] = -1;
        if (run->script_step[i] == 0) {
            snprintf(run->step[i], HR_RESULT_SIZE, "mark");
            continue;
        }
        snprintf(key, sizeof(key), "step%d", run->script_step[i]);
        if (!hr_program_value(&run->program, key, run->step[i], HR_RESULT_SIZE))
            snprintf(run->step[i], HR_RESULT_SIZE, "missing");
        snprintf(key, sizeof(key), "step%d.ms", run->script_step[i]);
        run->ms[i] = hr_program_integer(&run->program, key);
    }
}

/* Runs a whole case: the program, every mark, the results. */
static bool hr_run_case(hr_run *run, const hr_case *spec, bool shim)
{
    if (!hr_run_start(run, spec, shim))
        return false;
    for (int mark = 0; mark < run->marks; mark++)
        hr_run_mark(run, mark);
    hr_run_wait(run);
    return true;
}

static void hr_run_end(hr_run *run, unsigned failures)
{
    if (CU_get_number_of_failures() > failures)
        fprintf(stderr, "-- %s --\n",
                run->shim ? "with the shim" : "plain hiredis");
    hr_test_finish(&run->server, &run->program, failures);
}

/* ---- Transactions ---- */

/* Kills after MULTI and after each queued command: every kill loses only
 * the server's queue, which the shim rebuilds. */
static void test_modes_tx_cut_after_each(void)
{
    static const char *const steps[] = {
        "SELECT 3", "MULTI", HR_MARK, "SET a 1", HR_MARK,
        "INCR c",   HR_MARK, "EXEC",  "GET a",   NULL,
    };
    static const char *const settings[] = {"HIRETRY_RETRIES=20", NULL};
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .settings = settings,
                          .action = HR_ACTION_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain, run;

    if (hr_run_case(&plain, &spec, false)) {
        HR_ASSERT_STARTS_WITH(plain.step[3], "failed:");
        hr_run_end(&plain, failures);
    }
    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[3], "status:QUEUED");
    HR_ASSERT_STR_EQ(run.step[5], "status:QUEUED");
    HR_ASSERT_STR_EQ(run.step[7], "array:2");
    HR_ASSERT_STR_EQ(run.step[8], "string:1");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 3, "c"), 1);
    HR_ASSERT_INT_EQ(hr_server_command_calls(&run.server, "exec"), 1);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&run.server, 0), 0);
    hr_run_end(&run, failures);
}

/*
 * A SELECT queued inside MULTI never ran: after DISCARD and another kill,
 * the session still selects db 3, not the queued db 4.
 */
static void test_modes_tx_queued_select_not_kept(void)
{
    static const char *const steps[] = {
        "SELECT 3", "MULTI", "SELECT 4", "SET a 1", HR_MARK,
        "DISCARD",  HR_MARK, "SET d 4",  "GET d",   NULL,
    };
    const hr_case spec = {
        .kind = HR_SERVER_VALKEY, .action = HR_ACTION_KILL, .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[5], "status:OK");
    HR_ASSERT_STR_EQ(run.step[7], "status:OK");
    HR_ASSERT_STR_EQ(run.step[8], "string:4");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 3, "d"), 4);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&run.server, 4), 0);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&run.server, 0), 0);
    hr_run_end(&run, failures);
}

/* WATCH then UNWATCH leaves no key watched, so the MULTI block after them
 * is carried across a kill like any other. */
static void test_modes_tx_unwatch_then_carried(void)
{
    static const char *const steps[] = {
        "SELECT 3", "WATCH k", "UNWATCH", "MULTI", "SET a 1",
        HR_MARK,    "SET b 2", "EXEC",    NULL,
    };
    const hr_case spec = {
        .kind = HR_SERVER_VALKEY, .action = HR_ACTION_KILL, .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[6], "status:QUEUED");
    HR_ASSERT_STR_EQ(run.step[7], "array:2");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 3, "a"), 1);
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 3, "b"), 2);
    hr_run_end(&run, failures);
}

/*
 * A block larger than HIRETRY_PIPELINE_MAX (two SETs of 27 bytes against
 * 40) is not kept: it fails as a whole, nothing of it runs, and the
 * command after its EXEC gets a new connection.
 */
static void test_modes_tx_over_pipeline_max_lost(void)
{
    static const char *const steps[] = {
        "SELECT 3", "MULTI", "SET a 1", "SET b 2", HR_MARK,
        "SET c 3",  "EXEC",  "PING",    "GET a",   NULL,
    };
    static const char *const settings[] = {"HIRETRY_PIPELINE_MAX=40", NULL};
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .settings = settings,
                          .action = HR_ACTION_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STARTS_WITH(run.step[5], "failed:");
    HR_ASSERT_STARTS_WITH(run.step[6], "failed:");
    HR_ASSERT_STR_EQ(run.step[7], "status:PONG");
    HR_ASSERT_STR_EQ(run.step[8], "nil");
    HR_ASSERT_INT_EQ(hr_server_dbsize(&run.server, 3), 0);
    HR_ASSERT_INT_EQ(hr_server_command_calls(&run.server, "exec"), 0);
    hr_run_end(&run, failures);
}

/*
 * The server restarts into LOADING while a block is open: the rebuild's
 * queued SET gets LOADING, and the shim rebuilds the block again on a new
 * connection until the server has loaded.
 */
static void test_modes_tx_rebuild_through_loading(void)
{
    static const char *const steps[] = {
        "SELECT 3", "MULTI", "SET a 1", HR_MARK,
        "SET b 2",  "EXEC",  "GET a",   NULL,
    };
    static const char *const server_args[] = {
        "--key-load-delay", "100", "--loading-process-events-interval-bytes",
        "1024", NULL};
    static const char *const settings[] = {"HIRETRY_RETRIES=-1",
                                           "HIRETRY_DEADLINE=30s", NULL};
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .server_args = server_args,
                          .settings = settings,
                          .action = HR_ACTION_LOADING,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[4], "status:QUEUED");
    HR_ASSERT_STR_EQ(run.step[5], "array:2");
    HR_ASSERT_STR_EQ(run.step[6], "string:1");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 3, "b"), 2);
    HR_ASSERT_UINT_IN(hr_count_lines(run.program.err, "BusyLoadingError"), 1,
                      1000000);
    hr_run_end(&run, failures);
}

/*
 * The server turned replica while a block was open: the rebuild's queued
 * SET gets READONLY until the retries run out. The program must then see a
 * failure as hiredis reports one, with err and errstr set.
 */
static void test_modes_tx_rebuild_rejected_sets_err(void)
{
    static const char *const steps[] = {
        "SELECT 3", "MULTI", "SET a 1", HR_MARK, "SET b 2", "EXEC", NULL,
    };
    static const char *const settings[] = {"HIRETRY_RETRIES=3", NULL};
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .settings = settings,
                          .action = HR_ACTION_REPLICA_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain, run;

    if (hr_run_case(&plain, &spec, false)) {
        HR_ASSERT_REPORTED(plain.step[4]);
        hr_run_end(&plain, failures);
    }
    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_REPORTED(run.step[4]);
    HR_ASSERT_STARTS_WITH(run.step[5], "failed:");
    HR_ASSERT_INT_EQ(hr_server_dbsize(&run.server, 3), 0);
    hr_run_end(&run, failures);
}

/*
 * A command of the block that the shim sends once (CLIENT PAUSE) fails on
 * the killed connection, and EXEC fails after it. The block is over: the
 * next commands must run, not be queued into a MULTI that the shim opened
 * again on a new connection.
 */
static void test_modes_tx_never_repeated_ends(void)
{
    static const char *const steps[] = {
        "SELECT 3", "MULTI",   "SET a 1", HR_MARK, "CLIENT PAUSE 10",
        "EXEC",     "SET x 1", "GET x",   NULL,
    };
    const hr_case spec = {
        .kind = HR_SERVER_VALKEY, .action = HR_ACTION_KILL, .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STARTS_WITH(run.step[4], "failed:");
    HR_ASSERT_STARTS_WITH(run.step[5], "failed:");
    HR_ASSERT_STR_EQ(run.step[6], "status:OK");
    HR_ASSERT_STR_EQ(run.step[7], "string:1");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 3, "x"), 1);
    HR_ASSERT_INT_EQ(hr_server_command_calls(&run.server, "exec"), 0);
    hr_run_end(&run, failures);
}

/* The same with a SUBSCRIBE queued in the block. */
static void test_modes_tx_queued_subscribe_ends(void)
{
    static const char *const steps[] = {
        "SELECT 3", "MULTI",   "SUBSCRIBE ch", HR_MARK,
        "EXEC",     "SET x 1", "GET x",        NULL,
    };
    static const char *const settings[] = {"HIRETRY_WRITES=all", NULL};
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .settings = settings,
                          .timeout_ms = HR_MODE_TIMEOUT_MS,
                          .action = HR_ACTION_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STARTS_WITH(run.step[4], "failed:");
    HR_ASSERT_STR_EQ(run.step[5], "status:OK");
    HR_ASSERT_STR_EQ(run.step[6], "string:1");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 3, "x"), 1);
    hr_run_end(&run, failures);
}

/*
 * A block opened with redisCommand whose EXEC is appended after a kill:
 * the read of EXEC's reply fails, which ends the block, and the next
 * command must get a new connection.
 */
static void test_modes_tx_appended_exec_recovers(void)
{
    static const char *const steps[] = {
        "SELECT 3",  "MULTI",   "SET a 1", HR_MARK, "@append:EXEC",
        "@getreply", "SET x 1", "GET x",   NULL,
    };
    const hr_case spec = {
        .kind = HR_SERVER_VALKEY, .action = HR_ACTION_KILL, .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STARTS_WITH(run.step[5], "failed:");
    HR_ASSERT_STR_EQ(run.step[6], "status:OK");
    HR_ASSERT_STR_EQ(run.step[7], "string:1");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 3, "x"), 1);
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 3, "a"), 0);
    hr_run_end(&run, failures);
}

/*
 * EXEC of a block holding BLPOP, held by CLIENT PAUSE and killed, under
 * HIRETRY_WRITES=all: a pop may have taken an element, so the block is
 * never sent again, and the element stays.
 */
static void test_modes_tx_exec_blpop_all_kept(void)
{
    static const char *const steps[] = {
        "MULTI", "BLPOP l 1", HR_MARK, "EXEC", "PING", NULL,
    };
    static const char *const setup[] = {"RPUSH l e", NULL};
    static const char *const settings[] = {"HIRETRY_WRITES=all", NULL};
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .setup = setup,
                          .settings = settings,
                          .action = HR_ACTION_PAUSE_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain, run;
    char plain_exec[HR_RESULT_SIZE] = "missing";

    if (hr_run_case(&plain, &spec, false)) {
        snprintf(plain_exec, sizeof(plain_exec), "%s", plain.step[3]);
        HR_ASSERT_STARTS_WITH(plain_exec, "failed:");
        hr_run_end(&plain, failures);
    }
    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[3], plain_exec);
    HR_ASSERT_STR_EQ(run.step[4], "status:PONG");
    HR_ASSERT_INT_EQ(hr_admin_integer(&run.server, "LLEN l"), 1);
    HR_ASSERT_INT_EQ(hr_server_command_calls(&run.server, "exec"), 0);
    hr_run_end(&run, failures);
}

/*
 * RESET inside MULTI ends the block on the server. After a kill, the next
 * command runs in db 0, where RESET left the connection.
 */
static void test_modes_tx_reset_ends_block(void)
{
    static const char *const steps[] = {
        "SELECT 3", "MULTI",   "SET a 1", "RESET",
        HR_MARK,    "SET c 3", "GET c",   NULL,
    };
    const hr_case spec = {
        .kind = HR_SERVER_VALKEY, .action = HR_ACTION_KILL, .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[3], "status:RESET");
    HR_ASSERT_STR_EQ(run.step[5], "status:OK");
    HR_ASSERT_STR_EQ(run.step[6], "string:3");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 0, "c"), 3);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&run.server, 3), 0);
    hr_run_end(&run, failures);
}

/*
 * A WATCH cut by a kill, then UNWATCH: no key is watched any more and no
 * MULTI is open, so the commands after UNWATCH must get a new connection.
 */
static void test_modes_watch_unwatch_recovers(void)
{
    static const char *const steps[] = {
        "SELECT 3", "WATCH k", HR_MARK, "UNWATCH", "SET c 3", "GET c", NULL,
    };
    const hr_case spec = {
        .kind = HR_SERVER_VALKEY, .action = HR_ACTION_KILL, .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain, run;

    if (hr_run_case(&plain, &spec, false)) {
        HR_ASSERT_STARTS_WITH(plain.step[4], "failed:");
        hr_run_end(&plain, failures);
    }
    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[4], "status:OK");
    HR_ASSERT_STR_EQ(run.step[5], "string:3");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 3, "c"), 3);
    hr_run_end(&run, failures);
}

/* RESET unwatches every key: a kill after it loses no transaction. */
static void test_modes_watch_reset_recovers(void)
{
    static const char *const steps[] = {
        "SELECT 3", "WATCH k", "RESET", HR_MARK, "SET c 3", "GET c", NULL,
    };
    const hr_case spec = {
        .kind = HR_SERVER_VALKEY, .action = HR_ACTION_KILL, .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[2], "status:RESET");
    HR_ASSERT_STR_EQ(run.step[4], "status:OK");
    HR_ASSERT_STR_EQ(run.step[5], "string:3");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 0, "c"), 3);
    hr_run_end(&run, failures);
}

/* ---- Pub/sub ---- */

/*
 * Channels, a pattern, two shard channels and a channel subscribed twice,
 * killed: each is subscribed again once, and a message on each reaches the
 * program in the order published.
 */
static void test_modes_pubsub_kinds_restored(void)
{
    static const char *const steps[] = {
        "SUBSCRIBE a",
        "PSUBSCRIBE p*",
        "SSUBSCRIBE s1",
        "SSUBSCRIBE s2",
        "SUBSCRIBE a",
        HR_MARK,
        "@getreply",
        "@getreply",
        "@getreply",
        "@getreply",
        NULL,
    };
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .timeout_ms = HR_MODE_TIMEOUT_MS * 5,
                          .action = HR_ACTION_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_server *server;
    hr_run run;

    if (!hr_run_start(&run, &spec, true))
        return;
    server = &run.server;
    hr_run_mark(&run, 0);
    HR_ASSERT_INT_EQ(
        hr_wait_value(server, "PUBSUB SHARDNUMSUB s2", 1, HR_SERVER_WAIT_MS),
        1);
    HR_ASSERT_INT_EQ(hr_admin_integer(server, "PUBSUB NUMSUB a"), 1);
    HR_ASSERT_INT_EQ(hr_admin_integer(server, "PUBSUB NUMPAT"), 1);
    HR_ASSERT_INT_EQ(hr_admin_integer(server, "PUBSUB SHARDNUMSUB s1"), 1);
    HR_ASSERT_INT_EQ(hr_admin_integer(server, "PUBLISH a m1"), 1);
    HR_ASSERT_INT_EQ(hr_admin_integer(server, "PUBLISH pq m2"), 1);
    HR_ASSERT_INT_EQ(hr_admin_integer(server, "SPUBLISH s1 m3"), 1);
    HR_ASSERT_INT_EQ(hr_admin_integer(server, "SPUBLISH s2 m4"), 1);
    hr_run_wait(&run);

    HR_ASSERT_STR_EQ(run.step[4], "array:3");
    HR_ASSERT_STR_EQ(run.step[6], "array:3");
    HR_ASSERT_STR_EQ(run.step[7], "array:4");
    HR_ASSERT_STR_EQ(run.step[8], "array:3");
    HR_ASSERT_STR_EQ(run.step[9], "array:3");
    HR_ASSERT_INT_EQ(hr_count_lines(run.program.err,
                                    "channels=1 patterns=1 shard_channels=2"),
                     1);
    hr_run_end(&run, failures);
}

/*
 * RESET leaves subscribed mode on the server. After a kill, the shim must
 * not subscribe the new connection again: the program's commands would
 * then be rejected as commands of a subscribed connection.
 */
static void test_modes_pubsub_reset_not_restored(void)
{
    static const char *const steps[] = {
        "SUBSCRIBE ch", "RESET", "SET a 1", HR_MARK, "SET b 2", "GET b", NULL,
    };
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .timeout_ms = HR_MODE_TIMEOUT_MS,
                          .action = HR_ACTION_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[1], "status:RESET");
    HR_ASSERT_STR_EQ(run.step[2], "status:OK");
    HR_ASSERT_STR_EQ(run.step[4], "status:OK");
    HR_ASSERT_STR_EQ(run.step[5], "string:2");
    HR_ASSERT_INT_EQ(hr_count_lines(run.program.err, "event=resubscribed"), 0);
    hr_run_end(&run, failures);
}

/*
 * QUIT while subscribed: the server closes the connection as asked, and
 * the program's next read fails as with plain hiredis, instead of waiting
 * on a connection the shim subscribed again behind the program's back.
 */
static void test_modes_pubsub_quit_not_restored(void)
{
    static const char *const steps[] = {
        "SUBSCRIBE ch",
        "QUIT",
        "@getreply",
        NULL,
    };
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .timeout_ms = HR_MODE_TIMEOUT_MS,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain, run;
    char plain_read[HR_RESULT_SIZE] = "missing";

    if (hr_run_case(&plain, &spec, false)) {
        snprintf(plain_read, sizeof(plain_read), "%s", plain.step[2]);
        HR_ASSERT_STR_EQ(plain_read, "failed:3:Server closed the connection");
        hr_run_end(&plain, failures);
    }
    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[1], "status:OK");
    HR_ASSERT_STR_EQ(run.step[2], plain_read);
    HR_ASSERT_INT_EQ(hr_count_lines(run.program.err, "event=resubscribed"), 0);
    hr_run_end(&run, failures);
}

/*
 * A subscriber's connection is killed while it is idle, and the program
 * then sends SUBSCRIBE with redisCommand. The command cannot have run, so
 * it must go out on the new, subscribed again, connection.
 */
static void test_modes_pubsub_command_after_idle_close(void)
{
    static const char *const steps[] = {
        "SUBSCRIBE ch", HR_MARK, "SUBSCRIBE ch2", "PING", NULL,
    };
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .timeout_ms = HR_MODE_TIMEOUT_MS,
                          .action = HR_ACTION_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain, run;

    if (hr_run_case(&plain, &spec, false)) {
        HR_ASSERT_STARTS_WITH(plain.step[2], "failed:");
        hr_run_end(&plain, failures);
    }
    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[2], "array:3");
    HR_ASSERT_STR_EQ(run.step[3], "array:2");
    hr_run_end(&run, failures);
}

/*
 * The ACL of the subscriber's user no longer allows its channel: the
 * SUBSCRIBE of the restore is rejected (NOPERM), and the program's read
 * must fail with err and errstr set.
 */
static void test_modes_pubsub_rejected_sets_err(void)
{
    static const char *const steps[] = {
        "AUTH " HR_USER " " HR_USER_PASSWORD,
        "SUBSCRIBE ch",
        HR_MARK,
        "@getreply",
        "@getreply",
        NULL,
    };
    static const char *const setup[] = {
        "ACL SETUSER " HR_USER " on >" HR_USER_PASSWORD " ~* &* +@all", NULL};
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .setup = setup,
                          .timeout_ms = HR_MODE_TIMEOUT_MS,
                          .action = HR_ACTION_CHANNELS_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain, run;

    if (hr_run_case(&plain, &spec, false)) {
        HR_ASSERT_REPORTED(plain.step[3]);
        hr_run_end(&plain, failures);
    }
    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_REPORTED(run.step[3]);
    HR_ASSERT_REPORTED(run.step[4]);
    hr_run_end(&run, failures);
}

/*
 * A subscriber whose password changed: the restore's AUTH is rejected, and
 * the program replies with AUTH and the new password. That AUTH must go
 * first on a new connection, and the subscription follow it.
 */
static void test_modes_pubsub_new_password_auth(void)
{
    static const char *const steps[] = {
        "AUTH " HR_PASSWORD,     "SUBSCRIBE ch", HR_MARK, "@getreply",
        "AUTH " HR_NEW_PASSWORD, "@getreply",    NULL,
    };
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .password = HR_PASSWORD,
                          .timeout_ms = HR_MODE_TIMEOUT_MS * 5,
                          .action = HR_ACTION_PASSWORD_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_start(&run, &spec, true))
        return;
    hr_run_mark(&run, 0);
    HR_ASSERT_INT_EQ(
        hr_wait_value(&run.server, "PUBSUB NUMSUB ch", 1, HR_SERVER_WAIT_MS),
        1);
    HR_ASSERT_INT_EQ(hr_admin_integer(&run.server, "PUBLISH ch m"), 1);
    hr_run_wait(&run);

    HR_ASSERT_STARTS_WITH(run.step[3], "failed:2:reconnect: WRONGPASS");
    HR_ASSERT_STR_EQ(run.step[4], "status:OK");
    HR_ASSERT_STR_EQ(run.step[5], "array:3");
    HR_ASSERT_TRUE(strstr(run.program.err, HR_NEW_PASSWORD) == NULL);
    hr_run_end(&run, failures);
}

/*
 * With HIRETRY_RETRIES=2 a subscriber gives up while the server is down,
 * and its reads fail. Once the server is back, its next read subscribes
 * again, and messages arrive.
 */
static void test_modes_pubsub_gives_up_then_recovers(void)
{
    static const char *const steps[] = {
        "SUBSCRIBE ch", "PSUBSCRIBE p*", HR_MARK,     "@getreply", "@getreply",
        HR_MARK,        "@getreply",     "@getreply", NULL,
    };
    static const hr_action actions[] = {HR_ACTION_SERVER_DOWN,
                                        HR_ACTION_SERVER_UP};
    static const char *const settings[] = {"HIRETRY_RETRIES=2", NULL};
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .settings = settings,
                          .timeout_ms = HR_MODE_TIMEOUT_MS * 5,
                          .actions = actions,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_server *server;
    hr_run run;

    if (!hr_run_start(&run, &spec, true))
        return;
    server = &run.server;
    hr_run_mark(&run, 0);
    hr_run_mark(&run, 1);
    HR_ASSERT_INT_EQ(
        hr_wait_value(server, "PUBSUB NUMPAT", 1, HR_SERVER_WAIT_MS), 1);
    HR_ASSERT_INT_EQ(hr_admin_integer(server, "PUBLISH ch m1"), 1);
    HR_ASSERT_INT_EQ(hr_admin_integer(server, "PUBLISH pq m2"), 1);
    hr_run_wait(&run);

    HR_ASSERT_STARTS_WITH(run.step[3], "failed:1:");
    HR_ASSERT_STARTS_WITH(run.step[4], "failed:1:");
    HR_ASSERT_STR_EQ(run.step[6], "array:3");
    HR_ASSERT_STR_EQ(run.step[7], "array:4");
    HR_ASSERT_INT_EQ(hr_count_lines(run.program.err, "reason=exhausted"), 2);
    hr_run_end(&run, failures);
}

/*
 * The program unsubscribes from b with redisCommand, whose reply is the
 * next message, while the server still keeps megabytes of messages for it
 * with the confirmation behind them. The connection is killed before the
 * confirmation arrives: the server did unsubscribe, so the shim must not
 * subscribe the new connection to b again. appended selects the same with
 * redisAppendCommand, whose UNSUBSCRIBE the shim keeps and sends again.
 */
static void hr_check_unsubscribe_lost(bool appended)
{
    const char *steps[HR_STEPS_MAX];
    static const hr_action actions[] = {HR_ACTION_BACKLOG,
                                        HR_ACTION_BACKLOG_KILL};
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .timeout_ms = HR_MODE_TIMEOUT_MS,
                          .actions = actions,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_server *server;
    hr_run run;
    int n = 0;

    steps[n++] = "SUBSCRIBE a";
    steps[n++] = "SUBSCRIBE b";
    steps[n++] = HR_MARK;
    if (appended) {
        steps[n++] = "@append:UNSUBSCRIBE b";
        steps[n++] = "@getreply";
    } else {
        steps[n++] = "UNSUBSCRIBE b";
    }
    steps[n++] = HR_MARK;
    for (int i = 0; i < HR_BACKLOG_READS; i++)
        steps[n++] = "@getreply";
    steps[n] = NULL;

    if (!hr_run_start(&run, &spec, true))
        return;
    server = &run.server;
    hr_run_mark(&run, 0);
    hr_run_mark(&run, 1);
    HR_ASSERT_INT_EQ(
        hr_wait_value(server, "PUBSUB NUMSUB a", 1, HR_SERVER_WAIT_MS), 1);
    HR_ASSERT_INT_EQ(hr_wait_value(server, "PUBSUB NUMSUB b", 0, 5000), 0);
    /* Enough messages for every read left, whatever the program still had
       in its socket: the last ones may find it gone. */
    for (int i = 0; i < HR_BACKLOG_READS; i++)
        hr_admin_integer(server, "PUBLISH a small");
    hr_run_wait(&run);

    /* The reply to UNSUBSCRIBE was a message on a, as with plain hiredis. */
    HR_ASSERT_STR_EQ(run.step[appended ? 4 : 3], "array:3");
    HR_ASSERT_STR_EQ(run.step[run.count - 1], "array:3");
    HR_ASSERT_UINT_IN(hr_count_lines(run.program.err, "event=resubscribed"), 1,
                      1);
    hr_run_end(&run, failures);
}

#ifdef HR_KNOWN_GAPS
static void test_modes_pubsub_unsubscribe_lost(void)
{
    hr_check_unsubscribe_lost(false);
}
#endif

static void test_modes_pubsub_unsubscribe_appended_lost(void)
{
    hr_check_unsubscribe_lost(true);
}

/* ---- Blocking commands ---- */

/*
 * Kills a blocking pop or move while it waits, then pushes an element: the
 * command is never sent again, under any HIRETRY_WRITES, so the element
 * stays where it was pushed.
 */
static void hr_check_move_not_repeated(hr_server_kind kind, const char *move)
{
    const char *const steps[] = {HR_MARK_BLOCKED, move, "PING", NULL};
    static const char *const modes[] = {
        "HIRETRY_WRITES=safe", "HIRETRY_WRITES=all", "HIRETRY_WRITES=none"};
    unsigned failures = CU_get_number_of_failures();
    char plain_result[HR_RESULT_SIZE] = "missing";
    hr_run run;
    hr_case spec = {.kind = kind,
                    .action = HR_ACTION_KILL,
                    .after_action = "RPUSH src e",
                    .steps = steps};

    if (hr_run_case(&run, &spec, false)) {
        snprintf(plain_result, sizeof(plain_result), "%s", run.step[1]);
        HR_ASSERT_STARTS_WITH(plain_result, "failed:");
        hr_run_end(&run, failures);
    }
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        const char *settings[] = {modes[i], "HIRETRY_RETRIES=20", NULL};

        spec.settings = settings;
        if (!hr_run_case(&run, &spec, true))
            return;
        fprintf(stderr, "%s, %s\n", move, modes[i]);
        HR_ASSERT_STR_EQ(run.step[1], plain_result);
        HR_ASSERT_STR_EQ(run.step[2], "status:PONG");
        HR_ASSERT_INT_EQ(hr_admin_integer(&run.server, "LLEN src"), 1);
        HR_ASSERT_INT_EQ(hr_admin_integer(&run.server, "LLEN dst"), 0);
        HR_ASSERT_UINT_IN(hr_count_lines(run.program.err, "reason=unsafe"), 1,
                          1);
        hr_run_end(&run, failures);
    }
}

static void test_modes_blocking_blmove_not_repeated(void)
{
    hr_check_move_not_repeated(HR_SERVER_VALKEY, "BLMOVE src dst LEFT RIGHT 5");
}

static void test_modes_blocking_brpoplpush_not_repeated(void)
{
    hr_check_move_not_repeated(HR_SERVER_REDIS, "BRPOPLPUSH src dst 5");
}

/*
 * XREADGROUP BLOCK writes (it adds the entry it returns to the pending
 * list), so a cut one is not sent again under safe or all, and the entry
 * added after the cut stays unread by the group.
 */
static void test_modes_blocking_xreadgroup_not_repeated(void)
{
    static const char *const steps[] = {
        HR_MARK_BLOCKED, "XREADGROUP GROUP g c BLOCK 5000 STREAMS s >", "PING",
        NULL};
    static const char *const setup[] = {"XGROUP CREATE s g $ MKSTREAM", NULL};
    static const char *const modes[] = {"HIRETRY_WRITES=safe",
                                        "HIRETRY_WRITES=all"};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;
    hr_case spec = {.kind = HR_SERVER_VALKEY,
                    .setup = setup,
                    .action = HR_ACTION_KILL,
                    .after_action = "XADD s * f 1",
                    .steps = steps};

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        const char *settings[] = {modes[i], "HIRETRY_RETRIES=20", NULL};

        spec.settings = settings;
        if (!hr_run_case(&run, &spec, true))
            return;
        fprintf(stderr, "XREADGROUP, %s\n", modes[i]);
        HR_ASSERT_STARTS_WITH(run.step[1], "failed:");
        HR_ASSERT_STR_EQ(run.step[2], "status:PONG");
        HR_ASSERT_INT_EQ(hr_admin_integer(&run.server, "XPENDING s g - + 10"),
                         0);
        hr_run_end(&run, failures);
    }
}

/*
 * Blocking commands sent on a connection the server closed while it was
 * idle cannot have run: they go out on a new connection and time out
 * there with nil.
 */
static void test_modes_blocking_after_idle_close(void)
{
    static const char *const steps[] = {
        "SET k 1", HR_MARK, "BLMOVE a b LEFT LEFT 1", "BLPOP l 1", NULL,
    };
    const hr_case spec = {
        .kind = HR_SERVER_VALKEY, .action = HR_ACTION_KILL, .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain, run;

    if (hr_run_case(&plain, &spec, false)) {
        HR_ASSERT_STARTS_WITH(plain.step[2], "failed:");
        hr_run_end(&plain, failures);
    }
    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[2], "nil");
    HR_ASSERT_STR_EQ(run.step[3], "nil");
    HR_ASSERT_INT_EQ(hr_count_lines(run.program.err, "event=closed_while_idle"),
                     1);
    hr_run_end(&run, failures);
}

/*
 * BLPOP with no timeout under a 300 ms socket timeout: the program gets
 * the timeout, the old connection, still blocked on the server, is closed
 * before the next command, and no element is taken afterwards.
 */
static void test_modes_blocking_blpop_forever_times_out(void)
{
    static const char *const steps[] = {"BLPOP l 0", "PING", NULL};
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .timeout_ms = HR_SHORT_TIMEOUT_MS,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain, run;
    char plain_result[HR_RESULT_SIZE] = "missing";

    if (hr_run_case(&plain, &spec, false)) {
        snprintf(plain_result, sizeof(plain_result), "%s", plain.step[0]);
        HR_ASSERT_STARTS_WITH(plain_result, "failed:1:");
        hr_run_end(&plain, failures);
    }
    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[0], plain_result);
    HR_ASSERT_UINT_IN(run.ms[0], HR_SHORT_TIMEOUT_MS - 50,
                      HR_SHORT_TIMEOUT_MS + 1000);
    HR_ASSERT_STR_EQ(run.step[1], "status:PONG");
    HR_ASSERT_INT_EQ(hr_server_info_integer(&run.server, "blocked_clients"), 0);
    HR_ASSERT_INT_EQ(hr_admin_integer(&run.server, "RPUSH l e"), 1);
    HR_ASSERT_INT_EQ(hr_admin_integer(&run.server, "LLEN l"), 1);
    hr_run_end(&run, failures);
}

/*
 * An appended XREAD BLOCK under a socket timeout shorter than its blocking
 * time: the program chose the timeout, so it must get it once, as with
 * plain hiredis and as with the same command sent with redisCommand, not
 * after HIRETRY_RETRIES more waits.
 */
static void test_modes_blocking_appended_timeout_once(void)
{
    static const char *const steps[] = {"@append:XREAD BLOCK 5000 STREAMS s $",
                                        "@getreply", "PING", NULL};
    static const char *const settings[] = {"HIRETRY_RETRIES=5", NULL};
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .settings = settings,
                          .timeout_ms = HR_SHORT_TIMEOUT_MS,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain, run;
    char plain_result[HR_RESULT_SIZE] = "missing";

    if (hr_run_case(&plain, &spec, false)) {
        snprintf(plain_result, sizeof(plain_result), "%s", plain.step[1]);
        HR_ASSERT_STARTS_WITH(plain_result, "failed:1:");
        hr_run_end(&plain, failures);
    }
    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STR_EQ(run.step[1], plain_result);
    HR_ASSERT_UINT_IN(run.ms[1], HR_SHORT_TIMEOUT_MS - 50,
                      HR_SHORT_TIMEOUT_MS + 1000);
    HR_ASSERT_INT_EQ(hr_count_lines(run.program.err, "event=retry"), 0);
    HR_ASSERT_STR_EQ(run.step[2], "status:PONG");
    hr_run_end(&run, failures);
}

/* ---- AUTH after a rejected restore ---- */

/* The steps before the password change, common to the AUTH cases. */
#define HR_AUTH_PREFIX                                                         \
    "AUTH " HR_PASSWORD, "SELECT 5", "SET a 1", HR_MARK, "SET b 2"

/*
 * After the restore's AUTH was rejected, the program reconnects itself
 * with redisReconnect, as it would with plain hiredis, then authenticates.
 * The reconnect must succeed, as plain hiredis's does, and the session
 * (SELECT 5) follow the new AUTH.
 */
static void test_modes_auth_own_reconnect(void)
{
    static const char *const steps[] = {
        HR_AUTH_PREFIX, "@reconnect", "AUTH " HR_NEW_PASSWORD,
        "SET c 3",      "GET a",      NULL,
    };
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .password = HR_PASSWORD,
                          .timeout_ms = HR_MODE_TIMEOUT_MS,
                          .action = HR_ACTION_PASSWORD_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run plain, run;

    if (hr_run_case(&plain, &spec, false)) {
        HR_ASSERT_STR_EQ(plain.step[5], "ok");
        HR_ASSERT_STR_EQ(plain.step[6], "status:OK");
        hr_run_end(&plain, failures);
    }
    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STARTS_WITH(run.step[4], "failed:2:reconnect: WRONGPASS");
    HR_ASSERT_STR_EQ(run.step[5], "ok");
    HR_ASSERT_STR_EQ(run.step[6], "status:OK");
    HR_ASSERT_STR_EQ(run.step[7], "status:OK");
    HR_ASSERT_STR_EQ(run.step[8], "string:1");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 5, "c"), 3);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&run.server, 0), 0);
    hr_run_end(&run, failures);
}

#ifdef HR_KNOWN_GAPS
/* The program's new AUTH is appended with redisAppendCommand: it must go
 * first on the new connection all the same. */
static void test_modes_auth_appended(void)
{
    static const char *const steps[] = {
        HR_AUTH_PREFIX, "@append:AUTH " HR_NEW_PASSWORD,
        "@getreply",    "SET c 3",
        "GET a",        NULL,
    };
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .password = HR_PASSWORD,
                          .timeout_ms = HR_MODE_TIMEOUT_MS,
                          .action = HR_ACTION_PASSWORD_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STARTS_WITH(run.step[4], "failed:2:reconnect: WRONGPASS");
    HR_ASSERT_STR_EQ(run.step[6], "status:OK");
    HR_ASSERT_STR_EQ(run.step[7], "status:OK");
    HR_ASSERT_STR_EQ(run.step[8], "string:1");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 5, "c"), 3);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&run.server, 0), 0);
    hr_run_end(&run, failures);
}
#endif

/* The program's new credentials come with HELLO 2 AUTH, which hiredis 0.14
 * can parse: the session follows them as it follows AUTH. */
static void test_modes_auth_hello(void)
{
    static const char *const steps[] = {
        HR_AUTH_PREFIX, "HELLO 2 AUTH default " HR_NEW_PASSWORD,
        "SET c 3",      "GET a",
        NULL,
    };
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .password = HR_PASSWORD,
                          .timeout_ms = HR_MODE_TIMEOUT_MS,
                          .action = HR_ACTION_PASSWORD_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_STARTS_WITH(run.step[4], "failed:2:reconnect: WRONGPASS");
    HR_ASSERT_STARTS_WITH(run.step[5], "array:");
    HR_ASSERT_STR_EQ(run.step[6], "status:OK");
    HR_ASSERT_STR_EQ(run.step[7], "string:1");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 5, "c"), 3);
    HR_ASSERT_TRUE(strstr(run.program.err, HR_NEW_PASSWORD) == NULL);
    hr_run_end(&run, failures);
}

/*
 * The server dropped requirepass: the restore's AUTH is rejected, the
 * credentials are dropped, and the commands after it run with the rest of
 * the session, in db 5, never in db 0.
 */
static void test_modes_auth_password_removed(void)
{
    static const char *const steps[] = {
        HR_AUTH_PREFIX,
        "SET c 3",
        "GET a",
        NULL,
    };
    const hr_case spec = {.kind = HR_SERVER_VALKEY,
                          .password = HR_PASSWORD,
                          .timeout_ms = HR_MODE_TIMEOUT_MS,
                          .action = HR_ACTION_NO_PASSWORD_KILL,
                          .steps = steps};
    unsigned failures = CU_get_number_of_failures();
    hr_run run;

    if (!hr_run_case(&run, &spec, true))
        return;
    HR_ASSERT_REPORTED(run.step[4]);
    HR_ASSERT_STR_EQ(run.step[5], "status:OK");
    HR_ASSERT_STR_EQ(run.step[6], "string:1");
    HR_ASSERT_INT_EQ(hr_server_get_integer(&run.server, 5, "c"), 3);
    HR_ASSERT_INT_EQ(hr_server_dbsize(&run.server, 0), 0);
    hr_run_end(&run, failures);
}

static CU_TestInfo tests[] = {
    {"test_modes_tx_cut_after_each", test_modes_tx_cut_after_each},
    {"test_modes_tx_queued_select_not_kept",
     test_modes_tx_queued_select_not_kept},
    {"test_modes_tx_unwatch_then_carried", test_modes_tx_unwatch_then_carried},
    {"test_modes_tx_over_pipeline_max_lost",
     test_modes_tx_over_pipeline_max_lost},
    {"test_modes_tx_rebuild_through_loading",
     test_modes_tx_rebuild_through_loading},
    {"test_modes_tx_rebuild_rejected_sets_err",
     test_modes_tx_rebuild_rejected_sets_err},
    {"test_modes_tx_never_repeated_ends", test_modes_tx_never_repeated_ends},
    {"test_modes_tx_queued_subscribe_ends",
     test_modes_tx_queued_subscribe_ends},
    {"test_modes_tx_appended_exec_recovers",
     test_modes_tx_appended_exec_recovers},
    {"test_modes_tx_exec_blpop_all_kept", test_modes_tx_exec_blpop_all_kept},
    {"test_modes_tx_reset_ends_block", test_modes_tx_reset_ends_block},
    {"test_modes_watch_unwatch_recovers", test_modes_watch_unwatch_recovers},
    {"test_modes_watch_reset_recovers", test_modes_watch_reset_recovers},
    {"test_modes_pubsub_kinds_restored", test_modes_pubsub_kinds_restored},
    {"test_modes_pubsub_reset_not_restored",
     test_modes_pubsub_reset_not_restored},
    {"test_modes_pubsub_quit_not_restored",
     test_modes_pubsub_quit_not_restored},
    {"test_modes_pubsub_command_after_idle_close",
     test_modes_pubsub_command_after_idle_close},
    {"test_modes_pubsub_rejected_sets_err",
     test_modes_pubsub_rejected_sets_err},
    {"test_modes_pubsub_new_password_auth",
     test_modes_pubsub_new_password_auth},
    {"test_modes_pubsub_gives_up_then_recovers",
     test_modes_pubsub_gives_up_then_recovers},
#ifdef HR_KNOWN_GAPS
    {"test_modes_pubsub_unsubscribe_lost", test_modes_pubsub_unsubscribe_lost},
#endif
    {"test_modes_pubsub_unsubscribe_appended_lost",
     test_modes_pubsub_unsubscribe_appended_lost},
    {"test_modes_blocking_blmove_not_repeated",
     test_modes_blocking_blmove_not_repeated},
    {"test_modes_blocking_brpoplpush_not_repeated",
     test_modes_blocking_brpoplpush_not_repeated},
    {"test_modes_blocking_xreadgroup_not_repeated",
     test_modes_blocking_xreadgroup_not_repeated},
    {"test_modes_blocking_after_idle_close",
     test_modes_blocking_after_idle_close},
    {"test_modes_blocking_blpop_forever_times_out",
     test_modes_blocking_blpop_forever_times_out},
    {"test_modes_blocking_appended_timeout_once",
     test_modes_blocking_appended_timeout_once},
    {"test_modes_auth_own_reconnect", test_modes_auth_own_reconnect},
#ifdef HR_KNOWN_GAPS
    {"test_modes_auth_appended", test_modes_auth_appended},
#endif
    {"test_modes_auth_hello", test_modes_auth_hello},
    {"test_modes_auth_password_removed", test_modes_auth_password_removed},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_harness_run("integration modes at their edges", tests);
}

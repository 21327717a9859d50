/*
 * ccache, a real program from Debian's archive that links libhiredis
 * dynamically, keeps its Redis remote storage through server restarts when
 * libhiretry.so is preloaded. ccache runs with a private cache directory and
 * configuration, remote_only (every result is read from and written to the
 * server) and a url with a password and db 3, so each reconnect must restore
 * AUTH and SELECT. Round 1 compiles 48 small files one at a time while the
 * test kills the valkey-server with SIGKILL twice and starts it again 500 ms
 * later each time. Round 2 compiles them again, and every compile must be a
 * remote hit that gives back the same object file.
 *
 * ccache opens a new connection in every process, so a restart between two
 * compiles only reaches a compile that talks to the server during the
 * outage. The test makes both kills land where a compile meets them. The
 * first one lands while file 16 compiles, after its two GETs (manifest and
 * result) and before its two SETs. That file's body is thousands of
 * statements, so its compile outlasts the 5 ms polling of INFO commandstats
 * that times the kill. The second kill lands right before file 32's compile
 * starts, whose connect then meets the stopped server. Without the shim each
 * kill costs a remote storage error in ccache's statistics, which the test
 * checks too.
 *
 * The preloaded environment also reaches the compiler processes that ccache
 * runs (gcc, cc1, as), which link no hiredis: the shim must stay silent
 * there. With HIRETRY_LOG=info every hiretry line must name the server's
 * endpoint, which only ccache's own connection has, and the compiler's
 * stderr, which ccache stores with each result and replays on a hit, must
 * be empty in round 2. At the default log level every stderr stays empty.
 */
#include "harness.h"
#include "hr_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HR_FILES 48
#define HR_KILL_DURING 16 /* the slow file, cut by the first kill */
#define HR_KILL_BEFORE 32 /* compiled right after the second kill */
#define HR_DOWN_MS 500
#define HR_DB 3
#define HR_PASSWORD "ccache-password"
#define HR_COMPILE_TIMEOUT_MS 60000

#ifndef HIRETRY_CCACHE_SKIP_REASON

/*
 * The retry settings an operator of a shared compile cache would choose:
 * retry until a 5 s budget per call runs out. A compile that waits that long
 * still costs less than a cache miss, and past it the shim gives up and
 * ccache compiles without the cache, as it would without the shim. The
 * default of 3 retries would back off for only 56 to 112 ms in total (equal
 * jitter from an 8 ms base), less than a restart takes.
 *
 * ccache's connect-timeout (100 ms by default) bounds each connect attempt,
 * and the shim's reconnects reuse it, since hiredis keeps it in the context.
 * Against a stopped server on loopback every attempt fails at once with
 * ECONNREFUSED, so the backoff sets the pace. ccache's operation-timeout
 * (10 s by default) is the socket timeout of each command, which the shim
 * sets again on every new connection. ccache bounds no call as a whole, so
 * a retried call only makes the compile slower.
 */
static const char *const hr_retry_settings[] = {
    "HIRETRY_RETRIES=-1",
    "HIRETRY_DEADLINE=5s",
    NULL,
};

/* One test's ccache setup: the server and the private directories. */
typedef struct hr_ccache {
    hr_server server;
    bool preload;          /* LD_PRELOAD the shim into the compiles */
    const char *log_level; /* HIRETRY_LOG, or NULL for the default */
    char dir[256];
    char cache_dir[256];   /* CCACHE_DIR, with the statistics */
    char config_path[256]; /* CCACHE_CONFIGPATH, empty */
    char log_path[256];    /* CCACHE_LOGFILE */
    char source_dir[256];
    char object_dir[256];
} hr_ccache;

/* What the compiles of one round showed. */
typedef struct hr_round {
    int failed;                /* compiles that exited non-zero or timed out */
    int with_stderr;           /* compiles whose stderr was not empty */
    int log_lines;             /* hiretry lines over all compiles */
    int foreign_lines;         /* hiretry lines without the server's endpoint */
    int missing_objects;       /* compiles that left no object file */
    bool connect_retry_logged; /* the second kill's compile retried connect */
    long long sets_after_kill; /* SETs of the restarted server after the
                                  first kill's compile, or -1 */
} hr_round;

/* The counters of `ccache --print-stats` that the test reads; -1: missing. */
typedef struct hr_stats {
    long long cache_miss;
    long long remote_error;
    long long remote_timeout;
    long long remote_hit;
    long long remote_miss;
    long long remote_read_hit;
    long long remote_write;
} hr_stats;

static int hr_write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    int rc = 0;

    if (file == NULL) {
        fprintf(stderr, "fopen %s failed: %s\n", path, strerror(errno));
        return -1;
    }
    if (fputs(text, file) == EOF)
        rc = -1;
    if (fclose(file) != 0)
        rc = -1;
    return rc;
}

/*
 * Writes unit-<index>.c. Each file returns a different expression, so that
 * each one is a cache miss in round 1. The slow file repeats two statements
 * 4096 times through macros: gcc 12 -O0 took about 0.3 s for it on a 2-core
 * VM.
 */
static int hr_write_source(const hr_ccache *cc, int index)
{
    char path[512];
    char text[512];

    if (hr_harness_path(path, sizeof(path), "%s/unit-%02d.c", cc->source_dir,
                        index) != 0)
        return -1;
    if (index == HR_KILL_DURING)
        snprintf(text, sizeof(text),
                 "#define R4(x) x x x x\n"
                 "#define R16(x) R4(R4(x))\n"
                 "#define R256(x) R16(R16(x))\n"
                 "unsigned unit_%d(unsigned v)\n{\n"
                 "    R256(R16(v = v * 2654435761u + (v >> 7); "
                 "v ^= v << 3;))\n"
                 "    return v;\n}\n",
                 index);
    else
        snprintf(text, sizeof(text),
                 "int unit_%d(int x)\n{\n    return x * %d + %d;\n}\n", index,
                 index + 2, index * 7);
    return hr_write_text(path, text);
}

static int hr_make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0) {
        fprintf(stderr, "mkdir %s failed: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Creates the directories, the sources and an empty configuration file. */
static int hr_ccache_prepare(hr_ccache *cc, const char *name)
{
    const char *base = hr_harness_dir();
    int rc = base == NULL ? -1 : 0;

    if (rc == 0)
        rc = hr_harness_path(cc->dir, sizeof(cc->dir), "%s/%s", base, name);
    rc |= hr_harness_path(cc->cache_dir, sizeof(cc->cache_dir), "%s/cache",
                          cc->dir);
    rc |= hr_harness_path(cc->config_path, sizeof(cc->config_path),
                          "%s/ccache.conf", cc->dir);
    rc |= hr_harness_path(cc->log_path, sizeof(cc->log_path), "%s/ccache.log",
                          cc->dir);
    rc |= hr_harness_path(cc->source_dir, sizeof(cc->source_dir), "%s/src",
                          cc->dir);
    rc |= hr_harness_path(cc->object_dir, sizeof(cc->object_dir), "%s/obj",
                          cc->dir);
    if (rc != 0)
        return -1;

    if (hr_make_dir(cc->dir) != 0 || hr_make_dir(cc->source_dir) != 0 ||
        hr_make_dir(cc->object_dir) != 0)
        return -1;
    /* CCACHE_CONFIGPATH also keeps ccache from reading /etc/ccache.conf. */
    if (hr_write_text(cc->config_path, "") != 0)
        return -1;
    for (int i = 0; i < HR_FILES; i++) {
        if (hr_write_source(cc, i) != 0)
            return -1;
    }
    return 0;
}

/*
 * Appends ccache's settings, and for a compile the retry settings and, when
 * the test preloads, the shim. The retry settings reach the compiles of the
 * run without the shim too, so that the preload is the only difference.
 */
static int hr_ccache_env(const hr_ccache *cc, hr_string_list *env, bool compile)
{
    int rc = hr_string_list_add(env, "CCACHE_DIR=%s", cc->cache_dir);

    rc |= hr_string_list_add(env, "CCACHE_CONFIGPATH=%s", cc->config_path);
    rc |= hr_string_list_add(env, "CCACHE_LOGFILE=%s", cc->log_path);
    rc |= hr_string_list_add(env, "CCACHE_REMOTE_ONLY=true");
    rc |= hr_string_list_add(env,
                             "CCACHE_REMOTE_STORAGE=redis://%s@127.0.0.1:%d/%d",
                             HR_PASSWORD, cc->server.port, HR_DB);
    if (!compile)
        return rc;

    for (int i = 0; hr_retry_settings[i] != NULL; i++)
        rc |= hr_string_list_add(env, "%s", hr_retry_settings[i]);
    if (cc->log_level != NULL)
        rc |= hr_string_list_add(env, "HIRETRY_LOG=%s", cc->log_level);
    if (cc->preload)
        rc |= hr_preload_env(env, HIRETRY_SHIM_PATH);
    return rc;
}

static int hr_object_path(const hr_ccache *cc, int index, const char *suffix,
                          char *path, size_t size)
{
    return hr_harness_path(path, size, "%s/unit-%02d.o%s", cc->object_dir,
                           index, suffix);
}

/* Starts `ccache gcc -O0 -c unit-<index>.c -o unit-<index>.o`. */
static int hr_compile_start(const hr_ccache *cc, int index, hr_program *program)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    char object[512];
    int rc = hr_object_path(cc, index, "", object, sizeof(object));

    rc |= hr_string_list_add(&argv, "%s", HIRETRY_CCACHE_PATH);
    rc |= hr_string_list_add(&argv, "%s", HIRETRY_CCACHE_COMPILER_PATH);
    rc |= hr_string_list_add(&argv, "-O0");
    rc |= hr_string_list_add(&argv, "-c");
    rc |= hr_string_list_add(&argv, "%s/unit-%02d.c", cc->source_dir, index);
    rc |= hr_string_list_add(&argv, "-o");
    rc |= hr_string_list_add(&argv, "%s", object);
    rc |= hr_ccache_env(cc, &env, true);

    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Runs a ccache management option such as --zero-stats, without the shim. */
static int hr_ccache_admin(const hr_ccache *cc, const char *option,
                           hr_program *program)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_string_list_add(&argv, "%s", HIRETRY_CCACHE_PATH);

    rc |= hr_string_list_add(&argv, "%s", option);
    rc |= hr_ccache_env(cc, &env, false);
    if (rc == 0)
        rc = hr_program_run(program, &argv, &env, HR_COMPILE_TIMEOUT_MS);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    if (rc != 0 || program->status != 0)
        hr_program_print(program, option);
    return rc == 0 && program->status == 0 ? 0 : -1;
}

/* Returns the value of a "name<TAB>value" line of --print-stats, or -1. */
static long long hr_stats_value(const char *text, const char *name)
{
    size_t length = strlen(name);

    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, name, length) == 0 && line[length] == '\t')
            return strtoll(line + length + 1, NULL, 10);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    fprintf(stderr, "ccache --print-stats has no %s\n", name);
    return -1;
}

/* Reads the statistics and prints them, labelled, for the test's log. */
static int hr_stats_read(const hr_ccache *cc, const char *label,
                         hr_stats *stats)
{
    hr_program program = {0};
    int rc = hr_ccache_admin(cc, "--print-stats", &program);
    const char *text = program.out != NULL ? program.out : "";

    stats->cache_miss = hr_stats_value(text, "cache_miss");
    stats->remote_error = hr_stats_value(text, "remote_storage_error");
    stats->remote_timeout = hr_stats_value(text, "remote_storage_timeout");
    stats->remote_hit = hr_stats_value(text, "remote_storage_hit");
    stats->remote_miss = hr_stats_value(text, "remote_storage_miss");
    stats->remote_read_hit = hr_stats_value(text, "remote_storage_read_hit");
    stats->remote_write = hr_stats_value(text, "remote_storage_write");
    hr_program_free(&program);

    printf("ccache %s: cache_miss=%lld remote_storage_error=%lld "
           "remote_storage_timeout=%lld remote_storage_hit=%lld "
           "remote_storage_miss=%lld remote_storage_read_hit=%lld "
           "remote_storage_write=%lld\n",
           label, stats->cache_miss, stats->remote_error, stats->remote_timeout,
           stats->remote_hit, stats->remote_miss, stats->remote_read_hit,
           stats->remote_write);
    return rc;
}

/* Counts the hiretry lines of stderr, and those that name no endpoint of
 * the server, which a process without a connection to it would write. */
static void hr_count_log_lines(const hr_ccache *cc, const char *err,
                               hr_round *round)
{
    char endpoint[64];

    snprintf(endpoint, sizeof(endpoint), " endpoint=127.0.0.1:%d ",
             cc->server.port);
    for (const char *line = err; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t length = end ? (size_t)(end - line) : strlen(line);
        char copy[1024];

        if (strncmp(line, "hiretry:", 8) == 0) {
            round->log_lines++;
            snprintf(copy, sizeof(copy), "%.*s", (int)length, line);
            if (strstr(copy, endpoint) == NULL) {
                fprintf(stderr, "hiretry line without %s: %s\n", endpoint,
                        copy);
                round->foreign_lines++;
            }
        }
        line = end ? end + 1 : NULL;
    }
}

static bool hr_object_present(const hr_ccache *cc, int index)
{
    char path[512];
    struct stat info;

    if (hr_object_path(cc, index, "", path, sizeof(path)) != 0)
        return false;
    return stat(path, &info) == 0 && info.st_size > 0;
}

/* Adds one finished compile to the round. */
static void hr_round_add(const hr_ccache *cc, hr_round *round,
                         const hr_program *program, int index)
{
    if (program->status != 0) {
        round->failed++;
        hr_program_print(program, "ccache");
    }
    if (program->err != NULL && program->err[0] != '\0') {
        round->with_stderr++;
        hr_count_log_lines(cc, program->err, round);
    }
    if (!hr_object_present(cc, index))
        round->missing_objects++;
}

static void hr_compile(hr_ccache *cc, int index, hr_round *round)
{
    hr_program program = {0};

    HR_ASSERT_INT_EQ(hr_compile_start(cc, index, &program), 0);
    hr_program_wait(&program, HR_COMPILE_TIMEOUT_MS);
    hr_round_add(cc, round, &program, index);
    hr_program_free(&program);
}

/*
 * Compiles the slow file and kills the server once it ran the compile's
 * second GET, the result lookup after preprocessing, so that the kill lands
 * while gcc runs and before ccache's SETs. Starts the server again
 * HR_DOWN_MS later.
 */
static void hr_compile_during_kill(hr_ccache *cc, int index, hr_round *round)
{
    hr_program program = {0};
    long long gets = hr_server_command_calls(&cc->server, "get");
    int waited;

    HR_ASSERT_TRUE(gets >= 0);
    HR_ASSERT_INT_EQ(hr_compile_start(cc, index, &program), 0);
    waited = hr_server_wait_calls(&cc->server, "get", gets + 2,
                                  HR_COMPILE_TIMEOUT_MS);
    HR_ASSERT_INT_EQ(waited, 0);
    if (waited == 0) {
        HR_ASSERT_INT_EQ(hr_server_kill(&cc->server), 0);
        HR_ASSERT_INT_EQ(hr_server_restart_after(&cc->server, HR_DOWN_MS), 0);
    }

    hr_program_wait(&program, HR_COMPILE_TIMEOUT_MS);
    hr_round_add(cc, round, &program, index);
    hr_program_free(&program);

    HR_ASSERT_INT_EQ(
        hr_server_wait_ready(&cc->server, HR_DOWN_MS + HR_SERVER_WAIT_MS), 0);
    /* Only SETs sent after the kill reach the restarted server. */
    round->sets_after_kill = hr_server_command_calls(&cc->server, "set");
}

/* Kills the server, starts it again HR_DOWN_MS later, and compiles at once,
 * so that the compile's connect meets the stopped server. */
static void hr_compile_after_kill(hr_ccache *cc, int index, hr_round *round)
{
    hr_program program = {0};

    HR_ASSERT_INT_EQ(hr_server_kill(&cc->server), 0);
    HR_ASSERT_INT_EQ(hr_server_restart_after(&cc->server, HR_DOWN_MS), 0);

    HR_ASSERT_INT_EQ(hr_compile_start(cc, index, &program), 0);
    hr_program_wait(&program, HR_COMPILE_TIMEOUT_MS);
    hr_round_add(cc, round, &program, index);
    round->connect_retry_logged =
        program.err != NULL && strstr(program.err, " command=connect ") != NULL;
    hr_program_free(&program);

    HR_ASSERT_INT_EQ(
        hr_server_wait_ready(&cc->server, HR_DOWN_MS + HR_SERVER_WAIT_MS), 0);
}

/* Compiles every file once, one process at a time, with or without the
 * two server kills. */
static void hr_round_run(hr_ccache *cc, bool with_kills, hr_round *round)
{
    memset(round, 0, sizeof(*round));
    round->sets_after_kill = -1;

    for (int i = 0; i < HR_FILES; i++) {
        if (with_kills && i == HR_KILL_DURING)
            hr_compile_during_kill(cc, i, round);
        else if (with_kills && i == HR_KILL_BEFORE)
            hr_compile_after_kill(cc, i, round);
        else
            hr_compile(cc, i, round);
    }
}

/* Moves the objects of round 1 aside, so that round 2 must write them. */
static int hr_objects_set_aside(const hr_ccache *cc)
{
    for (int i = 0; i < HR_FILES; i++) {
        char object[512];
        char kept[512];

        if (hr_object_path(cc, i, "", object, sizeof(object)) != 0 ||
            hr_object_path(cc, i, ".round1", kept, sizeof(kept)) != 0)
            return -1;
        if (rename(object, kept) != 0) {
            fprintf(stderr, "rename %s failed: %s\n", object, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Returns true when both files exist and have the same bytes. */
static bool hr_files_equal(const char *a_path, const char *b_path)
{
    FILE *a = fopen(a_path, "rb");
    FILE *b = fopen(b_path, "rb");
    bool equal = a != NULL && b != NULL;

    while (equal) {
        int a_byte = getc(a);
        int b_byte = getc(b);

        if (a_byte != b_byte)
            equal = false;
        else if (a_byte == EOF)
            break;
    }
    if (a != NULL)
        fclose(a);
    if (b != NULL)
        fclose(b);
    return equal;
}

/* Counts the objects of round 2 that differ from those of round 1. */
static int hr_objects_changed(const hr_ccache *cc)
{
    int changed = 0;

    for (int i = 0; i < HR_FILES; i++) {
        char object[512];
        char kept[512];

        if (hr_object_path(cc, i, "", object, sizeof(object)) != 0 ||
            hr_object_path(cc, i, ".round1", kept, sizeof(kept)) != 0 ||
            !hr_files_equal(object, kept)) {
            fprintf(stderr, "%s differs from round 1\n", object);
            changed++;
        }
    }
    return changed;
}

/* Everything one scenario produced, for the tests to check. */
typedef struct hr_scenario {
    hr_round round1;
    hr_round round2;
    hr_stats stats1;
    hr_stats stats2;
    int objects_changed;
    long long keys;     /* DBSIZE of db 3 after round 2 */
    long long keys_db0; /* DBSIZE of db 0 after round 2 */
} hr_scenario;

static bool hr_ccache_start(hr_ccache *cc, const char *name)
{
    hr_server_options options = {
        .kind = HR_SERVER_VALKEY,
        .password = HR_PASSWORD,
        .appendonly = true, /* results stored before a kill survive it */
    };
    int rc;

    HR_ASSERT_INT_EQ(hr_ccache_prepare(cc, name), 0);
    rc = hr_server_start(&cc->server, &options);
    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0)
        hr_server_stop(&cc->server);
    return rc == 0;
}

/*
 * Runs round 1 across the two kills and round 2 on the healthy server, with
 * the statistics zeroed before each round.
 */
static void hr_scenario_run(hr_ccache *cc, const char *label,
                            hr_scenario *scenario)
{
    hr_program program = {0};
    char stats_label[128];

    memset(scenario, 0, sizeof(*scenario));
    HR_ASSERT_INT_EQ(hr_ccache_admin(cc, "--zero-stats", &program), 0);
    hr_program_free(&program);
    hr_round_run(cc, true, &scenario->round1);
    snprintf(stats_label, sizeof(stats_label), "%s, round 1", label);
    HR_ASSERT_INT_EQ(hr_stats_read(cc, stats_label, &scenario->stats1), 0);

    HR_ASSERT_INT_EQ(hr_objects_set_aside(cc), 0);
    HR_ASSERT_INT_EQ(hr_ccache_admin(cc, "--zero-stats", &program), 0);
    hr_program_free(&program);
    hr_round_run(cc, false, &scenario->round2);
    snprintf(stats_label, sizeof(stats_label), "%s, round 2", label);
    HR_ASSERT_INT_EQ(hr_stats_read(cc, stats_label, &scenario->stats2), 0);

    scenario->objects_changed = hr_objects_changed(cc);
    scenario->keys = hr_server_dbsize(&cc->server, HR_DB);
    scenario->keys_db0 = hr_server_dbsize(&cc->server, 0);
}

/* Prints the lines of ccache's log that report a remote storage failure,
 * such as "Redis command failed" or "Failed to construct backend". */
static void hr_print_ccache_failures(const hr_ccache *cc)
{
    char *text = hr_harness_read_file(cc->log_path);
    int printed = 0;

    for (char *line = text; line != NULL && *line != '\0' && printed < 40;) {
        char *end = strchr(line, '\n');

        if (end != NULL)
            *end = '\0';
        if (strcasestr(line, "failed") != NULL) {
            fprintf(stderr, "ccache log| %s\n", line);
            printed++;
        }
        line = end ? end + 1 : NULL;
    }
    free(text);
}

/* Prints the failures in ccache's log and the server's log on failure, then
 * stops the server. */
static void hr_ccache_finish(hr_ccache *cc, unsigned failures_before)
{
    if (CU_get_number_of_failures() != failures_before) {
        hr_print_ccache_failures(cc);
        hr_server_print_log(&cc->server, 20);
    }
    HR_ASSERT_INT_EQ(hr_server_stop(&cc->server), 0);
}

/* The checks of both runs with the shim, whatever the log level. */
static void hr_check_no_remote_error(const hr_scenario *s)
{
    HR_ASSERT_INT_EQ(s->round1.failed, 0);
    HR_ASSERT_INT_EQ(s->round1.missing_objects, 0);
    HR_ASSERT_INT_EQ(s->stats1.remote_error, 0);
    HR_ASSERT_INT_EQ(s->stats1.remote_timeout, 0);
    HR_ASSERT_INT_EQ(s->stats1.cache_miss, HR_FILES);
    HR_ASSERT_INT_EQ(s->stats1.remote_miss, HR_FILES);
    /* A result and a manifest per file. */
    HR_ASSERT_INT_EQ(s->stats1.remote_write, 2 * HR_FILES);
    /* The slow file's SETs went to the restarted server. */
    HR_ASSERT_INT_EQ(s->round1.sets_after_kill, 2);

    HR_ASSERT_INT_EQ(s->round2.failed, 0);
    HR_ASSERT_INT_EQ(s->round2.missing_objects, 0);
    HR_ASSERT_INT_EQ(s->stats2.remote_error, 0);
    HR_ASSERT_INT_EQ(s->stats2.remote_timeout, 0);
    HR_ASSERT_INT_EQ(s->stats2.cache_miss, 0);
    HR_ASSERT_INT_EQ(s->stats2.remote_miss, 0);
    HR_ASSERT_INT_EQ(s->stats2.remote_hit, HR_FILES);
    HR_ASSERT_INT_EQ(s->stats2.remote_read_hit, 2 * HR_FILES);
    HR_ASSERT_INT_EQ(s->objects_changed, 0);

    /* Every reconnect selected db 3 again before its SETs. */
    HR_ASSERT_INT_EQ(s->keys, 2 * HR_FILES);
    HR_ASSERT_INT_EQ(s->keys_db0, 0);
}

/*
 * With HIRETRY_LOG=info the shim logs its retries in ccache's process, at
 * least the connect retries of the compile after the second kill. No line
 * comes from a process without the server's endpoint, and the compiler
 * output replayed from the cache in round 2 is empty.
 *
 * The compile cut by the first kill logs SET retries only when it sends its
 * SET while the server is still down. When gcc outlasts the outage, as on a
 * loaded machine, the shim finds the connection closed before the write and
 * reconnects without a failed attempt, which it logs at debug level only.
 * Both paths bring the SETs to the restarted server, which
 * hr_check_no_remote_error checks.
 */
static void test_ccache_restart_logged(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_ccache cc = {.preload = true, .log_level = "info"};
    hr_scenario s;

    if (!hr_ccache_start(&cc, "logged"))
        return;
    hr_scenario_run(&cc, "with the shim, HIRETRY_LOG=info", &s);

    hr_check_no_remote_error(&s);
    HR_ASSERT_UINT_IN(s.round1.log_lines, 1, 1000);
    HR_ASSERT_INT_EQ(s.round1.foreign_lines, 0);
    HR_ASSERT_TRUE(s.round1.connect_retry_logged);
    HR_ASSERT_INT_EQ(s.round2.with_stderr, 0);

    hr_ccache_finish(&cc, failures);
}

/* At the default log level the shim writes nothing, in ccache's process or
 * in the compiler's, through both kills. */
static void test_ccache_restart_quiet(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_ccache cc = {.preload = true};
    hr_scenario s;

    if (!hr_ccache_start(&cc, "quiet"))
        return;
    hr_scenario_run(&cc, "with the shim, default log level", &s);

    hr_check_no_remote_error(&s);
    HR_ASSERT_INT_EQ(s.round1.with_stderr, 0);
    HR_ASSERT_INT_EQ(s.round2.with_stderr, 0);

    hr_ccache_finish(&cc, failures);
}

/*
 * Without the shim the same scenario costs ccache one remote storage error
 * per kill: the slow file's SET fails on the dead connection, and the
 * compile after the second kill cannot connect. Each such compile falls
 * back to a plain compile and stores nothing, so round 2 misses them.
 */
static void test_ccache_restart_without_shim(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_ccache cc = {.preload = false, .log_level = "info"};
    hr_scenario s;

    if (!hr_ccache_start(&cc, "without-shim"))
        return;
    hr_scenario_run(&cc, "without the shim", &s);

    HR_ASSERT_INT_EQ(s.round1.failed, 0);
    HR_ASSERT_INT_EQ(s.round1.missing_objects, 0);
    HR_ASSERT_INT_EQ(s.round1.log_lines, 0);
    HR_ASSERT_UINT_IN(s.stats1.remote_error + s.stats1.remote_timeout, 2,
                      HR_FILES);
    HR_ASSERT_INT_EQ(s.round1.sets_after_kill, 0);
    HR_ASSERT_UINT_IN(s.stats2.remote_miss, 2, HR_FILES);
    HR_ASSERT_INT_EQ(s.objects_changed, 0);

    hr_ccache_finish(&cc, failures);
}

/* The compiler alone, preloaded with the most verbose log level, works and
 * writes nothing: the shim is harmless in a process without hiredis. */
static void test_ccache_compiler_silent(void)
{
    hr_ccache cc = {.preload = false};
    hr_string_list argv = {0};
    hr_string_list env = {0};
    hr_program program = {0};
    int rc;

    HR_ASSERT_INT_EQ(hr_ccache_prepare(&cc, "compiler"), 0);
    rc = hr_string_list_add(&argv, "%s", HIRETRY_CCACHE_COMPILER_PATH);
    rc |= hr_string_list_add(&argv, "-c");
    rc |= hr_string_list_add(&argv, "%s/unit-00.c", cc.source_dir);
    rc |= hr_string_list_add(&argv, "-o");
    rc |= hr_string_list_add(&argv, "%s/unit-00.o", cc.object_dir);
    rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
    rc |= hr_string_list_add(&env, "HIRETRY_LOG=debug");
    for (int i = 0; hr_retry_settings[i] != NULL; i++)
        rc |= hr_string_list_add(&env, "%s", hr_retry_settings[i]);
    HR_ASSERT_INT_EQ(rc, 0);

    HR_ASSERT_INT_EQ(
        hr_program_run(&program, &argv, &env, HR_COMPILE_TIMEOUT_MS), 0);
    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_STR_EQ(program.err, "");
    HR_ASSERT_STR_EQ(program.out, "");
    HR_ASSERT_TRUE(hr_object_present(&cc, 0));

    hr_program_free(&program);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
}

static CU_TestInfo tests[] = {
    {"test_ccache_compiler_silent", test_ccache_compiler_silent},
    {"test_ccache_restart_logged", test_ccache_restart_logged},
    {"test_ccache_restart_quiet", test_ccache_restart_quiet},
    {"test_ccache_restart_without_shim", test_ccache_restart_without_shim},
    CU_TEST_INFO_NULL,
};

/* Unsets every CCACHE_* variable of this process, so that the environment
 * the test runs in cannot change ccache's behaviour. */
static int hr_unset_ccache_variables(void)
{
    extern char **environ;
    char name[256];

    for (size_t i = 0; environ[i] != NULL;) {
        size_t length = strcspn(environ[i], "=");

        if (strncmp(environ[i], "CCACHE_", 7) != 0) {
            i++;
            continue;
        }
        if (length >= sizeof(name))
            return -1;
        memcpy(name, environ[i], length);
        name[length] = '\0';
        /* unsetenv() removes the entry, so the same index is read next. */
        if (unsetenv(name) != 0)
            return -1;
    }
    return 0;
}

int main(void)
{
    if (hr_unset_ccache_variables() != 0) {
        fprintf(stderr, "unsetting the CCACHE_* variables failed\n");
        return 2;
    }
    return hr_harness_run("integration ccache", tests);
}

#else

int main(void)
{
    printf("integration ccache skipped: %s\n", HIRETRY_CCACHE_SKIP_REASON);
    return 77;
}

#endif

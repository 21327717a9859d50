/*
 * hr_workload's command line and its "key=value" result lines.
 */
#include "workload.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HR_THREADS_MAX 64
#define HR_PIPELINE_MAX 1000000
#define HR_VALUE_SIZE_MAX (64LL * 1024 * 1024)

static const char hr_usage[] =
    "usage: hr_workload (--host HOST --port PORT | --unix PATH) [options]\n"
    "\n"
    "Runs one kind of command in a loop over a plain hiredis context and\n"
    "prints key=value results. Exit status: 0 when every operation ran,\n"
    "even with errors; 1 when memory or threads ran out; 2 for invalid\n"
    "arguments; 3 when the initial connection or handshake failed.\n"
    "\n"
    "  --host HOST        server address (default 127.0.0.1)\n"
    "  --port PORT        server TCP port\n"
    "  --unix PATH        server unix socket, in place of --host and --port\n"
    "  --password PASS    send AUTH after connecting\n"
    "  --user USER        send AUTH USER PASS (needs --password)\n"
    "  --db N             send SELECT N after connecting (default 0)\n"
    "  --name NAME        send CLIENT SETNAME NAME (NAME-<thread> when\n"
    "                     there are several threads)\n"
    "  --timeout-ms MS    connect timeout and redisSetTimeout, in\n"
    "                     milliseconds (default 0: none)\n"
    "  --ops N            operations per thread (default 100; 0: no limit)\n"
    "  --seconds S        stop each thread after S seconds\n"
    "  --op OP            incr (INCR counter), set (SET key:<i> value-<i>),\n"
    "                     get (GET fixed), mixed (INCR, SET, GET fixed in\n"
    "                     turn), set-get (SET key:<m> value-<m>, then GET\n"
    "                     key:<m>, which must return value-<m>) or\n"
    "                     set-get-incr (SET, GET, INCR in turn); default\n"
    "                     incr\n"
    "  --sleep-ms MS      pause between operations, in milliseconds\n"
    "  --threads N        threads, each with its own context and keys\n"
    "                     prefixed t<thread>: when N > 1 (default 1)\n"
    "  --keep-going       after a failed command keep the same context\n"
    "  --reconnect        after a failed command call redisReconnect,\n"
    "                     without repeating AUTH, SELECT or SETNAME\n"
    "  --keep-sigpipe     leave SIGPIPE at its default action\n"
    "  --pipeline N       send the operations in pipelines of N commands:\n"
    "                     append N commands (with redisAppendCommand,\n"
    "                     redisvAppendCommand, redisAppendCommandArgv and\n"
    "                     redisAppendFormattedCommand in turn), then read\n"
    "                     the N replies with redisGetReply (default 0: one\n"
    "                     redisCommand per operation)\n"
    "  --value-size B     pad SET values with '.' to B bytes (default 0:\n"
    "                     value-<i> as is)\n"
    "  --pause-before-reply K\n"
    "                     before reading reply K (counted from 0; in\n"
    "                     thread 0 only), create the --ready-file and wait\n"
    "                     up to 30 s for the --go-file to exist\n"
    "  --ready-file PATH  the file created at the pause\n"
    "  --go-file PATH     the file waited for at the pause\n"
    "  --echo TEXT        after the last operation, send ECHO TEXT with\n"
    "                     redisCommand and print its reply as echo=\n"
    "\n"
    "Without --keep-going or --reconnect a failed command makes the\n"
    "program free its context and connect again before the next operation.\n"
    "In a pipeline every reply counts as one operation, and the program\n"
    "handles a failed read after reading the rest of the pipeline.\n"
    "\n"
    "Besides the counts, get_wrong counts GET key:<m> replies other than\n"
    "value-<m>, incr_gaps INCR replies other than the previous INCR reply\n"
    "plus 1 (the first one compared with 0), and replies_after_failure\n"
    "replies read after a failed read in the same pipeline.\n";

enum {
    HR_OPT_HOST = 256,
    HR_OPT_PORT,
    HR_OPT_UNIX,
    HR_OPT_PASSWORD,
    HR_OPT_USER,
    HR_OPT_DB,
    HR_OPT_NAME,
    HR_OPT_TIMEOUT_MS,
    HR_OPT_OPS,
    HR_OPT_SECONDS,
    HR_OPT_OP,
    HR_OPT_SLEEP_MS,
    HR_OPT_THREADS,
    HR_OPT_KEEP_GOING,
    HR_OPT_RECONNECT,
    HR_OPT_KEEP_SIGPIPE,
    HR_OPT_PIPELINE,
    HR_OPT_VALUE_SIZE,
    HR_OPT_PAUSE_BEFORE_REPLY,
    HR_OPT_READY_FILE,
    HR_OPT_GO_FILE,
    HR_OPT_ECHO,
    HR_OPT_HELP
};

static const struct option hr_long_options[] = {
    {"host", required_argument, NULL, HR_OPT_HOST},
    {"port", required_argument, NULL, HR_OPT_PORT},
    {"unix", required_argument, NULL, HR_OPT_UNIX},
    {"password", required_argument, NULL, HR_OPT_PASSWORD},
    {"user", required_argument, NULL, HR_OPT_USER},
    {"db", required_argument, NULL, HR_OPT_DB},
    {"name", required_argument, NULL, HR_OPT_NAME},
    {"timeout-ms", required_argument, NULL, HR_OPT_TIMEOUT_MS},
    {"ops", required_argument, NULL, HR_OPT_OPS},
    {"seconds", required_argument, NULL, HR_OPT_SECONDS},
    {"op", required_argument, NULL, HR_OPT_OP},
    {"sleep-ms", required_argument, NULL, HR_OPT_SLEEP_MS},
    {"threads", required_argument, NULL, HR_OPT_THREADS},
    {"keep-going", no_argument, NULL, HR_OPT_KEEP_GOING},
    {"reconnect", no_argument, NULL, HR_OPT_RECONNECT},
    {"keep-sigpipe", no_argument, NULL, HR_OPT_KEEP_SIGPIPE},
    {"pipeline", required_argument, NULL, HR_OPT_PIPELINE},
    {"value-size", required_argument, NULL, HR_OPT_VALUE_SIZE},
    {"pause-before-reply", required_argument, NULL, HR_OPT_PAUSE_BEFORE_REPLY},
    {"ready-file", required_argument, NULL, HR_OPT_READY_FILE},
    {"go-file", required_argument, NULL, HR_OPT_GO_FILE},
    {"echo", required_argument, NULL, HR_OPT_ECHO},
    {"help", no_argument, NULL, HR_OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int hr_parse_integer(const char *option, const char *text, long long min,
                            long long max, long long *out)
{
    char *end;
    long long value;

    errno = 0;
    value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min ||
        value > max) {
        fprintf(stderr,
                "hr_workload: --%s %s: invalid value; expected an integer "
                "from %lld to %lld\n",
                option, text, min, max);
        return -1;
    }
    *out = value;
    return 0;
}

static int hr_parse_int(const char *option, const char *text, int min, int max,
                        int *out)
{
    long long value;

    if (hr_parse_integer(option, text, min, max, &value) != 0)
        return -1;
    *out = (int)value;
    return 0;
}

static int hr_parse_op(const char *text, hr_op *op)
{
    static const char *const names[] = {"incr",  "set",     "get",
                                        "mixed", "set-get", "set-get-incr"};

    for (int i = 0; i < 6; i++) {
        if (strcmp(text, names[i]) == 0) {
            *op = (hr_op)i;
            return 0;
        }
    }
    fprintf(stderr,
            "hr_workload: --op %s: invalid value; expected incr, "
            "set, get, mixed, set-get or set-get-incr\n",
            text);
    return -1;
}

/* Applies one option. Returns 0, 1 for --help, or -1. */
static int hr_option_apply(hr_options *o, int option, const char *value)
{
    const char *name = "";

    if (option >= HR_OPT_HOST && option <= HR_OPT_HELP)
        name = hr_long_options[option - HR_OPT_HOST].name;

    switch (option) {
    case HR_OPT_HOST:
        o->host = value;
        return 0;
    case HR_OPT_PORT:
        return hr_parse_int(name, value, 1, 65535, &o->port);
    case HR_OPT_UNIX:
        o->unix_path = value;
        return 0;
    case HR_OPT_PASSWORD:
        o->password = value;
        return 0;
    case HR_OPT_USER:
        o->user = value;
        return 0;
    case HR_OPT_DB:
        return hr_parse_int(name, value, 0, INT_MAX, &o->db);
    case HR_OPT_NAME:
        o->name = value;
        return 0;
    case HR_OPT_TIMEOUT_MS:
        return hr_parse_int(name, value, 0, INT_MAX, &o->timeout_ms);
    case HR_OPT_OPS:
        return hr_parse_integer(name, value, 0, LLONG_MAX, &o->ops);
    case HR_OPT_SECONDS:
        return hr_parse_int(name, value, 0, INT_MAX / 1000, &o->seconds);
    case HR_OPT_OP:
        return hr_parse_op(value, &o->op);
    case HR_OPT_SLEEP_MS:
        return hr_parse_int(name, value, 0, INT_MAX, &o->sleep_ms);
    case HR_OPT_THREADS:
        return hr_parse_int(name, value, 1, HR_THREADS_MAX, &o->threads);
    case HR_OPT_KEEP_GOING:
        o->on_error = HR_ON_ERROR_KEEP_GOING;
        return 0;
    case HR_OPT_RECONNECT:
        o->on_error = HR_ON_ERROR_RECONNECT;
        return 0;
    case HR_OPT_KEEP_SIGPIPE:
        o->keep_sigpipe = true;
        return 0;
    case HR_OPT_PIPELINE:
        return hr_parse_int(name, value, 0, HR_PIPELINE_MAX, &o->pipeline);
    case HR_OPT_VALUE_SIZE:
        return hr_parse_integer(name, value, 0, HR_VALUE_SIZE_MAX,
                                &o->value_size);
    case HR_OPT_PAUSE_BEFORE_REPLY:
        return hr_parse_integer(name, value, 0, LLONG_MAX,
                                &o->pause_before_reply);
    case HR_OPT_READY_FILE:
        o->ready_file = value;
        return 0;
    case HR_OPT_GO_FILE:
        o->go_file = value;
        return 0;
    case HR_OPT_ECHO:
        o->echo = value;
        return 0;
    case HR_OPT_HELP:
        fputs(hr_usage, stdout);
        return 1;
    default:
        /* getopt_long has printed which argument is invalid. */
        fputs("hr_workload: see --help\n", stderr);
        return -1;
    }
}

static int hr_options_check(const hr_options *o)
{
    const char *problem = NULL;

    if (o->unix_path != NULL && o->port != 0)
        problem = "--unix and --port exclude each other";
    else if (o->unix_path == NULL && o->port == 0)
        problem = "missing --port or --unix";
    else if (o->user != NULL && o->password == NULL)
        problem = "--user needs --password";
    else if (o->seconds == 0 && o->ops == 0)
        problem = "--ops 0 needs --seconds";
    else if (o->pause_before_reply >= 0 &&
             (o->ready_file == NULL || o->go_file == NULL))
        problem = "--pause-before-reply needs --ready-file and --go-file";

    if (problem != NULL) {
        fprintf(stderr, "hr_workload: %s; see --help\n", problem);
        return -1;
    }
    return 0;
}

int hr_options_parse(hr_options *options, int argc, char **argv)
{
    bool ops_set = false;
    int option;

    memset(options, 0, sizeof(*options));
    options->host = "127.0.0.1";
    options->ops = 100;
    options->threads = 1;
    options->pause_before_reply = -1;

    while ((option = getopt_long(argc, argv, "", hr_long_options, NULL)) !=
           -1) {
        int rc = hr_option_apply(options, option, optarg);

        if (rc != 0)
            return rc;
        ops_set |= option == HR_OPT_OPS;
        /* --seconds alone means no operation limit. */
        if (option == HR_OPT_SECONDS && !ops_set)
            options->ops = 0;
    }
    if (optind < argc) {
        fprintf(stderr, "hr_workload: unexpected argument %s; see --help\n",
                argv[optind]);
        return -1;
    }
    return hr_options_check(options);
}

static void hr_print_set_failed(const hr_worker *workers, int count)
{
    const char *separator = "";

    fputs("set_failed=", stdout);
    for (int i = 0; i < count; i++) {
        const hr_worker *worker = &workers[i];
        long long listed = worker->set_failed_count;

        if (listed > HR_SET_FAILED_MAX)
            listed = HR_SET_FAILED_MAX;
        for (long long j = 0; j < listed; j++) {
            printf("%s%skey:%lld", separator, worker->key_prefix,
                   worker->set_failed[j]);
            separator = ",";
        }
        if (listed < worker->set_failed_count)
            fputs(",...", stdout);
    }
    fputs("\n", stdout);
}

static void hr_print_thread(const hr_worker *worker)
{
    int i = worker->index;

    printf("thread%d.ops=%lld\n", i, worker->ops);
    printf("thread%d.ok=%lld\n", i, worker->ok);
    printf("thread%d.errors=%lld\n", i, worker->errors);
    printf("thread%d.incr_acknowledged=%lld\n", i, worker->incr_acknowledged);
    printf("thread%d.last_incr_value=%lld\n", i, worker->last_incr_value);
    printf("thread%d.set_acknowledged=%lld\n", i, worker->set_acknowledged);
}

void hr_results_print(const hr_worker *workers, int count)
{
    hr_worker total;
    const hr_worker *first = NULL;
    const hr_worker *last = NULL;

    memset(&total, 0, sizeof(total));
    for (int i = 0; i < count; i++) {
        const hr_worker *w = &workers[i];

        total.ops += w->ops;
        total.ok += w->ok;
        total.errors += w->errors;
        total.incr_acknowledged += w->incr_acknowledged;
        total.set_acknowledged += w->set_acknowledged;
        total.set_failed_count += w->set_failed_count;
        total.get_hits += w->get_hits;
        total.get_nil += w->get_nil;
        total.reconnects += w->reconnects;
        total.get_wrong += w->get_wrong;
        total.incr_gaps += w->incr_gaps;
        total.replies_after_failure += w->replies_after_failure;
        if (w->first_error[0] != '\0' &&
            (first == NULL || w->first_error_ns < first->first_error_ns))
            first = w;
        if (w->last_error[0] != '\0' &&
            (last == NULL || w->last_error_ns > last->last_error_ns))
            last = w;
    }

    printf("ops=%lld\n", total.ops);
    printf("ok=%lld\n", total.ok);
    printf("errors=%lld\n", total.errors);
    printf("incr_acknowledged=%lld\n", total.incr_acknowledged);
    /* Each thread has its own counter, so one last value only with one. */
    printf("last_incr_value=%lld\n", workers[0].last_incr_value);
    printf("set_acknowledged=%lld\n", total.set_acknowledged);
    printf("set_failed_count=%lld\n", total.set_failed_count);
    hr_print_set_failed(workers, count);
    printf("get_hits=%lld\n", total.get_hits);
    printf("get_nil=%lld\n", total.get_nil);
    printf("reconnects=%lld\n", total.reconnects);
    printf("first_error=%s\n", first ? first->first_error : "");
    printf("last_error=%s\n", last ? last->last_error : "");
    printf("get_wrong=%lld\n", total.get_wrong);
    printf("incr_gaps=%lld\n", total.incr_gaps);
    printf("replies_after_failure=%lld\n", total.replies_after_failure);
    /* Thread 0's reply, like last_incr_value. */
    if (workers[0].options->echo != NULL)
        printf("echo=%s\n", workers[0].echo_result);
    for (int i = 0; count > 1 && i < count; i++)
        hr_print_thread(&workers[i]);
    fflush(stdout);
}

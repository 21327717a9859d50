/*
 * hr_subscriber: a plain hiredis subscriber with no retry logic, which the
 * pub/sub integration tests run with and without the shim preloaded.
 *
 * It connects, sends AUTH and SELECT, subscribes to the channels ch:0 to
 * ch:<N-1> in one SUBSCRIBE and to one pattern with PSUBSCRIBE, and reads
 * the confirmations. Then it reads replies with redisGetReply until the
 * message "end" arrives on the control channel. Each message on ch:<i>
 * carries a sequence number that the publisher increments with every
 * PUBLISH, across all channels, so every message and every pattern message
 * must arrive with a higher number than the one before it.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#define HR_EXIT_OK 0
#define HR_EXIT_FAILURE 1 /* out of memory */
#define HR_EXIT_USAGE 2
#define HR_EXIT_SETUP 3 /* connect, AUTH, SELECT or a subscription failed */
#define HR_EXIT_READ 4  /* a failed read stopped the loop */

#define HR_CHANNELS_MAX 100000
#define HR_SEQUENCE_MAX 100000000LL
#define HR_MISSING_RANGES_MAX 64

/* Bits of hr_state.received, one per kind of message. */
#define HR_SEEN_MESSAGE 1u
#define HR_SEEN_PMESSAGE 2u

static const char hr_usage[] =
    "usage: hr_subscriber --port PORT [options]\n"
    "\n"
    "Subscribes to ch:0 ... ch:<N-1> in one SUBSCRIBE and to a pattern\n"
    "with PSUBSCRIBE, reads the confirmations, then reads messages with\n"
    "redisGetReply until the message \"end\" arrives on the control\n"
    "channel, and prints key=value results. The payload of a message on\n"
    "ch:<i> is a sequence number, which must grow from one message to the\n"
    "next. Exit status: 0 after \"end\" (or after --unsubscribe-all), 1\n"
    "when memory ran out, 2 for invalid arguments, 3 when the connection,\n"
    "AUTH, SELECT or a subscription failed, 4 when a failed read stopped\n"
    "the loop.\n"
    "\n"
    "  --host HOST        server address (default 127.0.0.1)\n"
    "  --port PORT        server TCP port\n"
    "  --password PASS    send AUTH PASS after connecting\n"
    "  --db N             send SELECT N after connecting (default 0)\n"
    "  --timeout-ms MS    connect with redisConnectWithTimeout and set\n"
    "                     redisSetTimeout, in milliseconds (default 0: no\n"
    "                     timeout)\n"
    "  --channels N       subscribe to ch:0 ... ch:<N-1> (default 1000)\n"
    "  --pattern P        PSUBSCRIBE P (default ch:*)\n"
    "  --control NAME     the channel of the \"end\" message, which the\n"
    "                     pattern must match (default ch:control)\n"
    "  --unsubscribe K    after subscribing, UNSUBSCRIBE ch:0 ... ch:<K-1>\n"
    "                     in one command and read the confirmations\n"
    "  --unsubscribe-all  after subscribing, UNSUBSCRIBE and PUNSUBSCRIBE\n"
    "                     everything, send PING with redisCommand, print\n"
    "                     its reply as ping= and exit\n"
    "  --keep-going       after a failed read, read again on the same\n"
    "                     context instead of exiting\n"
    "  --max-errors N     with --keep-going, exit after N failed reads\n"
    "                     (default 10)\n"
    "  --ready-file PATH  create PATH once the subscriptions are confirmed\n"
    "  --resp3            after SELECT, send HELLO 3 and take RESP3 push\n"
    "                     replies from redisGetReply (hiredis 1.x only)\n"
    "\n"
    "Results: subscribe_, psubscribe_, unsubscribe_ and\n"
    "punsubscribe_confirmations; confirmations (subscribe and psubscribe);\n"
    "repeated_confirmations (a subscription confirmed while already\n"
    "subscribed); loop_confirmations (confirmations read after setup, which\n"
    "the program never requested); messages and pmessages on ch:<i>;\n"
    "duplicates and out_of_order (messages), pmessage_duplicates and\n"
    "pmessage_out_of_order; unsubscribed_messages (messages on a channel\n"
    "the program is not subscribed to); channels_without_messages;\n"
    "other_replies; errors and timeouts (failed reads, and those that timed\n"
    "out); first_error and last_error as ERR:ERRSTR, with the read's\n"
    "duration in first_error_ms and errno in first_error_errno;\n"
    "max_sequence; missing_count and missing, the sequence numbers up to\n"
    "max_sequence that arrived in no message, as ranges A-B.\n";

typedef struct hr_options {
    const char *host;
    int port;
    const char *password; /* NULL: no AUTH */
    int db;
    int timeout_ms; /* 0: no timeout */
    int channels;
    const char *pattern;
    const char *control;
    int unsubscribe; /* channels to unsubscribe from after setup */
    bool unsubscribe_all;
    bool keep_going;
    long long max_errors;
    const char *ready_file; /* NULL: none */
    bool resp3;             /* HELLO 3, messages as push replies */
} hr_options;

typedef struct hr_state {
    const hr_options *options;
    redisContext *context;

    long long subscribe_confirmations;
    long long psubscribe_confirmations;
    long long unsubscribe_confirmations;
    long long punsubscribe_confirmations;
    long long repeated_confirmations;
    long long loop_confirmations;
    bool in_loop;

    unsigned char *subscribed; /* per channel, from the confirmations */
    bool pattern_subscribed;
    long long *channel_messages; /* per channel */

    long long messages;
    long long pmessages;
    long long duplicates;
    long long out_of_order;
    long long pmessage_duplicates;
    long long pmessage_out_of_order;
    long long unsubscribed_messages;
    long long other_replies;
    long long last_message; /* highest sequence number so far; -1: none */
    long long last_pmessage;
    unsigned char *received; /* HR_SEEN_* per sequence number */
    size_t received_size;
    bool out_of_memory;
    bool ended;

    long long errors;
    long long timeouts;
    long long first_error_ms;
    int first_error_errno;
    char first_error[256];
    char last_error[256];
    char ping[256];
} hr_state;

enum {
    HR_OPT_HOST = 256,
    HR_OPT_PORT,
    HR_OPT_PASSWORD,
    HR_OPT_DB,
    HR_OPT_TIMEOUT_MS,
    HR_OPT_CHANNELS,
    HR_OPT_PATTERN,
    HR_OPT_CONTROL,
    HR_OPT_UNSUBSCRIBE,
    HR_OPT_UNSUBSCRIBE_ALL,
    HR_OPT_KEEP_GOING,
    HR_OPT_MAX_ERRORS,
    HR_OPT_READY_FILE,
    HR_OPT_RESP3,
    HR_OPT_HELP
};

static const struct option hr_long_options[] = {
    {"host", required_argument, NULL, HR_OPT_HOST},
    {"port", required_argument, NULL, HR_OPT_PORT},
    {"password", required_argument, NULL, HR_OPT_PASSWORD},
    {"db", required_argument, NULL, HR_OPT_DB},
    {"timeout-ms", required_argument, NULL, HR_OPT_TIMEOUT_MS},
    {"channels", required_argument, NULL, HR_OPT_CHANNELS},
    {"pattern", required_argument, NULL, HR_OPT_PATTERN},
    {"control", required_argument, NULL, HR_OPT_CONTROL},
    {"unsubscribe", required_argument, NULL, HR_OPT_UNSUBSCRIBE},
    {"unsubscribe-all", no_argument, NULL, HR_OPT_UNSUBSCRIBE_ALL},
    {"keep-going", no_argument, NULL, HR_OPT_KEEP_GOING},
    {"max-errors", required_argument, NULL, HR_OPT_MAX_ERRORS},
    {"ready-file", required_argument, NULL, HR_OPT_READY_FILE},
    {"resp3", no_argument, NULL, HR_OPT_RESP3},
    {"help", no_argument, NULL, HR_OPT_HELP},
    {NULL, 0, NULL, 0},
};

static long long hr_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parses a decimal integer in [min, max] with nothing after it. */
static bool hr_parse_number(const char *text, size_t len, long long min,
                            long long max, long long *out)
{
    char buf[32];
    char *end;
    long long value;

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    errno = 0;
    value = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0' || buf[0] == '+' || buf[0] == ' ' ||
        value < min || value > max)
        return false;
    *out = value;
    return true;
}

static int hr_parse_option_int(const char *option, const char *text,
                               long long min, long long max, long long *out)
{
    if (hr_parse_number(text, strlen(text), min, max, out))
        return 0;
    fprintf(stderr,
            "hr_subscriber: --%s %s: invalid value; expected an integer "
            "from %lld to %lld\n",
            option, text, min, max);
    return -1;
}

/* Applies one option. Returns 0, 1 for --help, or -1. */
static int hr_option_apply(hr_options *o, int option, const char *value)
{
    const char *name = hr_long_options[option - HR_OPT_HOST].name;
    long long number = 0;
    int rc = 0;

    switch (option) {
    case HR_OPT_HOST:
        o->host = value;
        break;
    case HR_OPT_PORT:
        rc = hr_parse_option_int(name, value, 1, 65535, &number);
        o->port = (int)number;
        break;
    case HR_OPT_PASSWORD:
        o->password = value;
        break;
    case HR_OPT_DB:
        rc = hr_parse_option_int(name, value, 0, INT_MAX, &number);
        o->db = (int)number;
        break;
    case HR_OPT_TIMEOUT_MS:
        rc = hr_parse_option_int(name, value, 0, INT_MAX, &number);
        o->timeout_ms = (int)number;
        break;
    case HR_OPT_CHANNELS:
        rc = hr_parse_option_int(name, value, 1, HR_CHANNELS_MAX, &number);
        o->channels = (int)number;
        break;
    case HR_OPT_PATTERN:
        o->pattern = value;
        break;
    case HR_OPT_CONTROL:
        o->control = value;
        break;
    case HR_OPT_UNSUBSCRIBE:
        rc = hr_parse_option_int(name, value, 0, HR_CHANNELS_MAX, &number);
        o->unsubscribe = (int)number;
        break;
    case HR_OPT_UNSUBSCRIBE_ALL:
        o->unsubscribe_all = true;
        break;
    case HR_OPT_RESP3:
        o->resp3 = true;
        return 0;
    case HR_OPT_KEEP_GOING:
        o->keep_going = true;
        break;
    case HR_OPT_MAX_ERRORS:
        rc = hr_parse_option_int(name, value, 1, LLONG_MAX, &o->max_errors);
        break;
    case HR_OPT_READY_FILE:
        o->ready_file = value;
        break;
    default:
        fputs(hr_usage, stdout);
        rc = 1;
        break;
    }
    return rc;
}

/* Parses the command line. Returns 0 to run, 1 after --help, or -1. */
static int hr_options_parse(hr_options *o, int argc, char **argv)
{
    const char *problem = NULL;
    int option;

    *o = (hr_options){.host = "127.0.0.1",
                      .channels = 1000,
                      .pattern = "ch:*",
                      .control = "ch:control",
                      .max_errors = 10};
    while ((option = getopt_long(argc, argv, "", hr_long_options, NULL)) !=
           -1) {
        int rc;

        if (option == '?') {
            /* getopt_long has printed which argument is invalid. */
            fputs("hr_subscriber: see --help\n", stderr);
            return -1;
        }
        rc = hr_option_apply(o, option, optarg);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        problem = "unexpected argument after the options";
    else if (o->port == 0)
        problem = "missing --port";
    else if (o->unsubscribe > o->channels)
        problem = "--unsubscribe is larger than --channels";
    if (problem != NULL) {
        fprintf(stderr, "hr_subscriber: %s; see --help\n", problem);
        return -1;
    }
    return 0;
}

/* Returns the index i of a channel named ch:<i> below --channels, or -1. */
static long long hr_channel_index(const hr_state *state, const redisReply *r)
{
    long long index;

    if (r->type != REDIS_REPLY_STRING || r->len < 4 ||
        memcmp(r->str, "ch:", 3) != 0 ||
        !hr_parse_number(r->str + 3, r->len - 3, 0,
                         state->options->channels - 1, &index))
        return -1;
    return index;
}

static bool hr_reply_is(const redisReply *r, const char *text)
{
    return r->type == REDIS_REPLY_STRING && r->len == strlen(text) &&
           memcmp(r->str, text, r->len) == 0;
}

/* Records a subscribe-family confirmation: [kind, name, count]. */
static void hr_handle_confirmation(hr_state *state, const redisReply *r)
{
    const redisReply *kind = r->element[0];
    long long index = hr_channel_index(state, r->element[1]);

    if (state->in_loop)
        state->loop_confirmations++;
    if (hr_reply_is(kind, "subscribe")) {
        state->subscribe_confirmations++;
        if (index >= 0) {
            state->repeated_confirmations += state->subscribed[index];
            state->subscribed[index] = 1;
        }
    } else if (hr_reply_is(kind, "psubscribe")) {
        state->psubscribe_confirmations++;
        state->repeated_confirmations += state->pattern_subscribed;
        state->pattern_subscribed = true;
    } else if (hr_reply_is(kind, "unsubscribe")) {
        state->unsubscribe_confirmations++;
        if (index >= 0)
            state->subscribed[index] = 0;
    } else {
        state->punsubscribe_confirmations++;
        state->pattern_subscribed = false;
    }
}

/* Marks a sequence number as seen. Returns the bits it had before. */
static unsigned hr_mark_received(hr_state *state, long long sequence,
                                 unsigned bit)
{
    size_t index = (size_t)sequence;
    unsigned before;

    if (index >= state->received_size) {
        size_t size = state->received_size ? state->received_size : 4096;
        unsigned char *received;

        while (size <= index)
            size *= 2;
        received = realloc(state->received, size);
        if (received == NULL) {
            state->out_of_memory = true;
            return 0;
        }
        memset(received + state->received_size, 0, size - state->received_size);
        state->received = received;
        state->received_size = size;
    }
    before = state->received[index];
    state->received[index] |= (unsigned char)bit;
    return before;
}

/* Counts a message or a pattern message with sequence number sequence. */
static void hr_count_sequence(hr_state *state, long long sequence, bool pattern)
{
    unsigned bit = pattern ? HR_SEEN_PMESSAGE : HR_SEEN_MESSAGE;
    long long *last = pattern ? &state->last_pmessage : &state->last_message;
    long long *duplicates =
        pattern ? &state->pmessage_duplicates : &state->duplicates;
    long long *out_of_order =
        pattern ? &state->pmessage_out_of_order : &state->out_of_order;

    unsigned before = hr_mark_received(state, sequence, bit);

    if (state->out_of_memory)
        return;
    if (before & bit) {
        (*duplicates)++;
        return;
    }
    if (sequence < *last)
        (*out_of_order)++;
    else
        *last = sequence;
}

/* Records a message [message, channel, payload] or a pattern message
 * [pmessage, pattern, channel, payload]. */
static void hr_handle_message(hr_state *state, const redisReply *r,
                              bool pattern)
{
    const redisReply *channel = r->element[pattern ? 2 : 1];
    const redisReply *payload = r->element[pattern ? 3 : 2];
    long long index = hr_channel_index(state, channel);
    long long sequence;

    if (hr_reply_is(channel, state->options->control)) {
        state->ended |= hr_reply_is(payload, "end");
        return;
    }
    if (index < 0 || payload->type != REDIS_REPLY_STRING ||
        !hr_parse_number(payload->str, payload->len, 0, HR_SEQUENCE_MAX,
                         &sequence)) {
        state->other_replies++;
        return;
    }

    if (pattern) {
        state->pmessages++;
    } else {
        state->messages++;
        state->channel_messages[index]++;
        if (!state->subscribed[index])
            state->unsubscribed_messages++;
    }
    hr_count_sequence(state, sequence, pattern);
}

static bool hr_is_array_of(const redisReply *r, size_t elements,
                           const char *kind)
{
#if HIREDIS_MAJOR >= 1
    bool aggregate =
        r->type == REDIS_REPLY_ARRAY || r->type == REDIS_REPLY_PUSH;
#else
    bool aggregate = r->type == REDIS_REPLY_ARRAY;
#endif

    return aggregate && r->elements == elements &&
           hr_reply_is(r->element[0], kind);
}

/* Sorts one reply into a confirmation, a message or another reply. */
static void hr_handle_reply(hr_state *state, const redisReply *r)
{
    static const char *const confirmations[] = {"subscribe", "psubscribe",
                                                "unsubscribe", "punsubscribe"};

    if (hr_is_array_of(r, 3, "message")) {
        hr_handle_message(state, r, false);
        return;
    }
    if (hr_is_array_of(r, 4, "pmessage")) {
        hr_handle_message(state, r, true);
        return;
    }
    for (size_t i = 0; i < sizeof(confirmations) / sizeof(*confirmations);
         i++) {
        if (hr_is_array_of(r, 3, confirmations[i]) &&
            r->element[2]->type == REDIS_REPLY_INTEGER) {
            hr_handle_confirmation(state, r);
            return;
        }
    }
    state->other_replies++;
}

/* Formats c's error as ERR:ERRSTR. */
static void hr_format_error(const redisContext *c, char *buf, size_t size)
{
    snprintf(buf, size, "%d:%s", c->err, c->errstr);
}

/*
 * Records a failed read that took elapsed_ms. The line on stderr lets a
 * test order the failure against the shim's log lines.
 */
static void hr_record_error(hr_state *state, int error_number,
                            long long elapsed_ms)
{
    const redisContext *c = state->context;

    hr_format_error(c, state->last_error, sizeof(state->last_error));
    if (state->errors == 0) {
        memcpy(state->first_error, state->last_error,
               sizeof(state->first_error));
        state->first_error_ms = elapsed_ms;
        state->first_error_errno = error_number;
    }
    state->errors++;
    /* hiredis reports a socket timeout as an I/O error with EAGAIN. */
    if (c->err == REDIS_ERR_IO && strcmp(c->errstr, strerror(EAGAIN)) == 0)
        state->timeouts++;
    fprintf(stderr, "hr_subscriber: read failed after %lld ms: %s\n",
            elapsed_ms, state->last_error);
}

/*
 * Sends argv with redisCommandArgv, then reads until *counter reaches
 * target. Returns 0, or -1 after printing why.
 */
static int hr_command_until(hr_state *state, int argc, const char **argv,
                            const long long *counter, long long target)
{
    redisContext *c = state->context;
    redisReply *reply = redisCommandArgv(c, argc, argv, NULL);

    for (;;) {
        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "hr_subscriber: %s failed: %s\n", argv[0],
                    reply ? reply->str : c->errstr);
            freeReplyObject(reply);
            return -1;
        }
        hr_handle_reply(state, reply);
        freeReplyObject(reply);
        if (*counter >= target)
            return 0;
        if (redisGetReply(c, (void **)&reply) != REDIS_OK)
            reply = NULL;
    }
}

/* Sends verb followed by ch:<first> ... ch:<last - 1>, then reads until
 * *counter has grown by last - first. */
static int hr_channels_command(hr_state *state, const char *verb, int first,
                               int last, const long long *counter)
{
    int argc = last - first + 1;
    const char **argv = calloc((size_t)argc, sizeof(*argv));
    char *names = malloc((size_t)argc * 16);
    int rc = -1;

    if (argv != NULL && names != NULL) {
        argv[0] = verb;
        for (int i = first; i < last; i++) {
            char *name = names + (size_t)(i - first) * 16;

            snprintf(name, 16, "ch:%d", i);
            argv[i - first + 1] = name;
        }
        rc = hr_command_until(state, argc, argv, counter,
                              *counter + (last - first));
    }
    free(argv);
    free(names);
    return rc;
}

/* Sends AUTH or SELECT. Returns 0, or -1 after printing why. */
static int hr_session_command(redisContext *c, int argc, const char **argv)
{
    redisReply *reply = redisCommandArgv(c, argc, argv, NULL);
    int rc = 0;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "hr_subscriber: %s failed: %s\n", argv[0],
                reply ? reply->str : c->errstr);
        rc = -1;
    }
    freeReplyObject(reply);
    return rc;
}

static redisContext *hr_connect(const hr_options *o)
{
    struct timeval tv = {o->timeout_ms / 1000, (o->timeout_ms % 1000) * 1000};
    redisContext *c;

    if (o->timeout_ms > 0)
        c = redisConnectWithTimeout(o->host, o->port, tv);
    else
        c = redisConnect(o->host, o->port);
    if (c != NULL && c->err == 0 && o->timeout_ms > 0)
        redisSetTimeout(c, tv);
    if (c == NULL || c->err) {
        fprintf(stderr, "hr_subscriber: connecting to %s:%d failed: %s\n",
                o->host, o->port, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    return c;
}

/*
 * Switches to RESP3. hiredis 1.x hands push replies to a callback that
 * frees them unless the program clears it, so this one clears it and gets
 * its messages from redisGetReply. Returns 0 or -1.
 */
static int hr_start_resp3(redisContext *c)
{
#if HIREDIS_MAJOR >= 1
    const char *hello[] = {"HELLO", "3"};

    redisSetPushCallback(c, NULL);
    return hr_session_command(c, 2, hello);
#else
    (void)c;
    fputs("hr_subscriber: --resp3 needs hiredis 1.x\n", stderr);
    return -1;
#endif
}

/* Connects and sends AUTH and SELECT. Returns 0 or -1. */
static int hr_open_session(hr_state *state)
{
    const hr_options *o = state->options;
    char db[16];
    const char *auth[] = {"AUTH", o->password};
    const char *select[] = {"SELECT", db};

    state->context = hr_connect(o);
    if (state->context == NULL)
        return -1;
    if (o->password != NULL && hr_session_command(state->context, 2, auth) != 0)
        return -1;
    snprintf(db, sizeof(db), "%d", o->db);
    if (o->db != 0 && hr_session_command(state->context, 2, select) != 0)
        return -1;
    if (o->resp3)
        return hr_start_resp3(state->context);
    return 0;
}

/* Subscribes to the channels and the pattern, and unsubscribes from the
 * first --unsubscribe channels. Returns 0 or -1. */
static int hr_subscribe(hr_state *state)
{
    const hr_options *o = state->options;
    const char *psubscribe[] = {"PSUBSCRIBE", o->pattern};

    if (hr_channels_command(state, "SUBSCRIBE", 0, o->channels,
                            &state->subscribe_confirmations) != 0)
        return -1;
    if (hr_command_until(state, 2, psubscribe, &state->psubscribe_confirmations,
                         state->psubscribe_confirmations + 1) != 0)
        return -1;
    if (o->unsubscribe > 0 &&
        hr_channels_command(state, "UNSUBSCRIBE", 0, o->unsubscribe,
                            &state->unsubscribe_confirmations) != 0)
        return -1;
    return 0;
}

/* Formats a reply as hr_script does: status:TEXT, array:N, ... */
static void hr_format_reply(const redisContext *c, const redisReply *r,
                            char *buf, size_t size)
{
    if (r == NULL) {
        snprintf(buf, size, "failed:%d:%s", c->err, c->errstr);
        return;
    }
    switch (r->type) {
    case REDIS_REPLY_STATUS:
        snprintf(buf, size, "status:%s", r->str);
        break;
    case REDIS_REPLY_ERROR:
        snprintf(buf, size, "error:%s", r->str);
        break;
    case REDIS_REPLY_STRING:
        snprintf(buf, size, "string:%s", r->str);
        break;
    case REDIS_REPLY_ARRAY:
        snprintf(buf, size, "array:%zu", r->elements);
        break;
    default:
        snprintf(buf, size, "type:%d", r->type);
        break;
    }
}

/*
 * Unsubscribes from every channel and the pattern, reading one confirmation
 * per channel, then sends PING, to which the server replies +PONG only
 * outside subscribed mode. Returns 0 or -1.
 */
static int hr_unsubscribe_all(hr_state *state)
{
    const char *unsubscribe[] = {"UNSUBSCRIBE"};
    const char *punsubscribe[] = {"PUNSUBSCRIBE"};
    long long channels =
        state->subscribe_confirmations - state->unsubscribe_confirmations;
    redisReply *reply;

    if (hr_command_until(state, 1, unsubscribe,
                         &state->unsubscribe_confirmations,
                         state->unsubscribe_confirmations + channels) != 0)
        return -1;
    if (hr_command_until(state, 1, punsubscribe,
                         &state->punsubscribe_confirmations,
                         state->punsubscribe_confirmations + 1) != 0)
        return -1;
    reply = redisCommand(state->context, "PING");
    hr_format_reply(state->context, reply, state->ping, sizeof(state->ping));
    freeReplyObject(reply);
    return 0;
}

/* Reads replies until "end", or until failed reads stop the loop. */
static void hr_read_loop(hr_state *state)
{
    const hr_options *o = state->options;

    state->in_loop = true;
    while (!state->ended && !state->out_of_memory) {
        long long start_ms = hr_now_ms();
        redisReply *reply = NULL;

        if (redisGetReply(state->context, (void **)&reply) != REDIS_OK) {
            hr_record_error(state, errno, hr_now_ms() - start_ms);
            if (!o->keep_going || state->errors >= o->max_errors)
                return;
            continue;
        }
        if (reply != NULL)
            hr_handle_reply(state, reply);
        freeReplyObject(reply);
    }
}

/* Prints the sequence numbers up to max_sequence that no message carried. */
static void hr_print_missing(const hr_state *state, long long max_sequence)
{
    long long count = 0;
    int ranges = 0;
    const char *separator = "";

    fputs("missing=", stdout);
    for (long long s = 0; s <= max_sequence; s++) {
        long long end = s;

        if (state->received[s] & HR_SEEN_MESSAGE)
            continue;
        while (end < max_sequence &&
               !(state->received[end + 1] & HR_SEEN_MESSAGE))
            end++;
        count += end - s + 1;
        if (ranges++ < HR_MISSING_RANGES_MAX)
            printf("%s%lld-%lld", separator, s, end);
        else if (ranges == HR_MISSING_RANGES_MAX + 1)
            fputs(",...", stdout);
        separator = ",";
        s = end;
    }
    printf("\nmissing_count=%lld\n", count);
    printf("missing_ranges=%d\n", ranges);
}

static void hr_print_results(const hr_state *s)
{
    long long silent = 0;

    for (int i = 0; i < s->options->channels; i++)
        silent += s->subscribed[i] && s->channel_messages[i] == 0;

    printf("subscribe_confirmations=%lld\n", s->subscribe_confirmations);
    printf("psubscribe_confirmations=%lld\n", s->psubscribe_confirmations);
    printf("unsubscribe_confirmations=%lld\n", s->unsubscribe_confirmations);
    printf("punsubscribe_confirmations=%lld\n", s->punsubscribe_confirmations);
    printf("confirmations=%lld\n",
           s->subscribe_confirmations + s->psubscribe_confirmations);
    printf("repeated_confirmations=%lld\n", s->repeated_confirmations);
    printf("loop_confirmations=%lld\n", s->loop_confirmations);
    printf("messages=%lld\n", s->messages);
    printf("pmessages=%lld\n", s->pmessages);
    printf("duplicates=%lld\n", s->duplicates);
    printf("out_of_order=%lld\n", s->out_of_order);
    printf("pmessage_duplicates=%lld\n", s->pmessage_duplicates);
    printf("pmessage_out_of_order=%lld\n", s->pmessage_out_of_order);
    printf("unsubscribed_messages=%lld\n", s->unsubscribed_messages);
    printf("channels_without_messages=%lld\n", silent);
    printf("other_replies=%lld\n", s->other_replies);
    printf("ended=%d\n", s->ended ? 1 : 0);
    printf("errors=%lld\n", s->errors);
    printf("timeouts=%lld\n", s->timeouts);
    printf("first_error=%s\n", s->first_error);
    printf("first_error_ms=%lld\n", s->errors ? s->first_error_ms : -1);
    printf("first_error_errno=%d\n", s->errors ? s->first_error_errno : 0);
    printf("last_error=%s\n", s->last_error);
    printf("ping=%s\n", s->ping);
    printf("max_sequence=%lld\n", s->last_message);
    hr_print_missing(s, s->last_message);
    fflush(stdout);
}

static int hr_touch(const char *path)
{
    FILE *file = fopen(path, "w");

    if (file == NULL || fclose(file) != 0) {
        fprintf(stderr, "hr_subscriber: creating %s failed: %s\n", path,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int hr_run(hr_state *state)
{
    const hr_options *o = state->options;

    if (hr_open_session(state) != 0 || hr_subscribe(state) != 0)
        return HR_EXIT_SETUP;
    if (o->unsubscribe_all)
        return hr_unsubscribe_all(state) == 0 ? HR_EXIT_OK : HR_EXIT_SETUP;
    if (o->ready_file != NULL && hr_touch(o->ready_file) != 0)
        return HR_EXIT_SETUP;

    hr_read_loop(state);
    if (state->out_of_memory)
        return HR_EXIT_FAILURE;
    return state->ended ? HR_EXIT_OK : HR_EXIT_READ;
}

int main(int argc, char **argv)
{
    hr_options options;
    hr_state state = {.last_message = -1, .last_pmessage = -1};
    int rc = hr_options_parse(&options, argc, argv);

    if (rc != 0)
        return rc > 0 ? HR_EXIT_OK : HR_EXIT_USAGE;

    state.options = &options;
    state.subscribed = calloc((size_t)options.channels, 1);
    state.channel_messages =
        calloc((size_t)options.channels, sizeof(*state.channel_messages));
    if (state.subscribed == NULL || state.channel_messages == NULL) {
        fputs("hr_subscriber: out of memory\n", stderr);
        return HR_EXIT_FAILURE;
    }

    rc = hr_run(&state);
    hr_print_results(&state);
    redisFree(state.context);
    free(state.subscribed);
    free(state.channel_messages);
    free(state.received);
    return rc;
}

/*
 * Facts hiretry keeps about Valkey and Redis commands: whether repeating one
 * that may already have run is safe, and which ones the shim must treat
 * specially (session state, transactions, pub/sub, blocking, never
 * repeated). Also a parser for the RESP requests hiredis formats, so that the
 * shim can read a command's arguments from the bytes it will send.
 */
#ifndef HIRETRY_COMMANDS_H
#define HIRETRY_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

#include "hiretry/policy.h"

/* A byte range inside a request buffer; not NUL-terminated. */
typedef struct hr_slice {
    const char *ptr;
    size_t len;
} hr_slice;

/*
 * Parses one RESP request at the start of buf: an array of bulk strings, as
 * hiredis's redisFormatCommand* functions produce it. Stores up to max_args
 * argument slices (pointing into buf) in args, and the byte length of the
 * whole request in *consumed. Returns the number of arguments, which may be
 * larger than max_args, or -1 when buf does not start with a complete,
 * well-formed request.
 */
int hr_request_parse(const char *buf, size_t len, hr_slice *args, int max_args,
                     size_t *consumed);

/*
 * Stores in *name the first argument (the command name) of the request at
 * the start of buf, without reading the other arguments. Returns 0, or -1
 * when buf does not start with an array whose first bulk string is whole.
 * A request that hr_request_parse rejects further on may still pass.
 */
int hr_request_name(const char *buf, size_t len, hr_slice *name);

/* Flags for commands that the shim handles specially. */
enum {
    HR_COMMAND_KNOWN = 1 << 0,       /* present in the command table */
    HR_COMMAND_NEVER_REPEAT = 1 << 1, /* QUIT, SHUTDOWN, MONITOR, ... */
    HR_COMMAND_SESSION = 1 << 2,     /* AUTH, HELLO, SELECT, CLIENT SETNAME,
                                        READONLY, READWRITE, RESET */
    HR_COMMAND_TRANSACTION = 1 << 3, /* MULTI, EXEC, DISCARD, WATCH, UNWATCH */
    HR_COMMAND_PUBSUB = 1 << 4,      /* (P|S)(UN)SUBSCRIBE */
    HR_COMMAND_BLOCKING = 1 << 5     /* may block: BLPOP, XREAD BLOCK, WAIT */
};

typedef struct hr_command_info {
    hr_repeat_safety safety;
    unsigned flags;
    /* The reason for this safety, in a few words, for logs. */
    const char *reason;
} hr_command_info;

/*
 * Classifies a command from its arguments: argv[0] is the command name and,
 * for container commands (CLIENT, CONFIG, SCRIPT, ...), argv[1] the
 * subcommand, both matched case-insensitively. Options decide for some
 * commands (SET with NX, XX or GET is unsafe; XREAD with BLOCK is blocking).
 * Unknown commands are HR_REPEAT_UNSAFE without HR_COMMAND_KNOWN.
 */
hr_command_info hr_command_classify(const hr_slice *argv, int argc);

/*
 * Returns true when the flags of a command depend on its name alone, so that
 * a caller may cache them by name. False for container commands (CLIENT,
 * CONFIG, ...), whose subcommand decides, and for XREAD and XREADGROUP,
 * whose BLOCK option does. Unknown names have fixed flags: none.
 */
bool hr_command_flags_fixed(const hr_slice *name);

#endif

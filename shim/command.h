/*
 * A command the shim is about to send or has queued: its bytes, its name and
 * its flags from the command table, with the arguments parsed only when a
 * failure, a session command or the command table needs them.
 */
#ifndef HR_SHIM_COMMAND_H
#define HR_SHIM_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "hiretry/commands.h"
#include "hiretry/policy.h"

/* Flags of commands that change the session or the modes when they
 * succeed, so that their replies must be looked at. */
#define HR_COMMAND_TRACKED                                                     \
    (HR_COMMAND_SESSION | HR_COMMAND_TRANSACTION | HR_COMMAND_PUBSUB |         \
     HR_COMMAND_NEVER_REPEAT)

/* Arguments parsed on the stack; longer commands use the heap. */
#define HR_STACK_ARGS 16

/*
 * A command about to be sent. The success path reads only its name; the
 * arguments are parsed when a failure, a session command or the command
 * table needs them.
 */
typedef struct hr_command {
    const char *bytes; /* the formatted request */
    size_t len;
    hr_slice name; /* argv[0]; empty when the request is not RESP */
    hr_slice stack_args[HR_STACK_ARGS];
    hr_slice *argv; /* NULL until parsed */
    int argc;
    unsigned flags;  /* HR_COMMAND_* */
    bool classified; /* info is the full classification */
    hr_command_info info;
} hr_command;

/* Returns true when the slice is word, in any ASCII case. */
bool hr_slice_is(const hr_slice *s, const char *word);

/* Reads the name and the flags of the request cmd (len bytes), which must
 * stay valid while command is used. */
void hr_command_init(hr_command *command, const char *cmd, size_t len);

/* Frees what parsing the arguments allocated: nothing on the usual path. */
static inline void hr_command_release(hr_command *command)
{
    if (command->argv != NULL && command->argv != command->stack_args)
        free(command->argv);
}

/* Parses the arguments once; a request that is not RESP has none. */
void hr_command_args(hr_command *command);

/* Classifies the command with all its arguments, once. */
void hr_command_classify_fully(hr_command *command);

/* Returns true when the command's name is word, in any case. */
bool hr_command_is(const hr_command *command, const char *word);

/* Copies the command name for logs: printable bytes only, bounded. */
void hr_command_name(const hr_command *command, char *buf, size_t size);

/*
 * Returns true for EVAL*, FCALL* and the like, which may have written before
 * they fail with any error reply.
 */
bool hr_command_is_script(const hr_command *command);

/*
 * Returns the writes mode that decides whether the command, once it may
 * have run, is sent again. Transaction and pub/sub commands never are. A
 * blocking command may have popped an element, so under all it is
 * repeated only when it reads, as under safe.
 */
hr_writes hr_command_writes(const hr_command *command, hr_writes writes);

#endif

/*
 * Commands as the engine handles them, and a per-thread cache of the flags of
 * recent command names.
 */
#include "command.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool hr_slice_is(const hr_slice *s, const char *word)
{
    size_t len = strlen(word);

    return s->len == len && strncasecmp(s->ptr, word, len) == 0;
}

/*
 * The flags of the last command names seen on this thread, so that the
 * success path skips the command table: most programs repeat a few
 * commands. Only names whose flags do not depend on their arguments are
 * kept.
 */
#define HR_NAME_CACHE_SLOTS 8
#define HR_NAME_CACHE_MAX 16

struct hr_name_cache_entry {
    size_t len; /* 0 for an empty slot */
    char name[HR_NAME_CACHE_MAX];
    unsigned flags;
};

static __thread struct hr_name_cache_entry hr_name_cache[HR_NAME_CACHE_SLOTS]
    __attribute__((tls_model("initial-exec")));

static struct hr_name_cache_entry *hr_name_cache_slot(const hr_slice *name)
{
    unsigned char first = (unsigned char)name->ptr[0];
    unsigned char last = (unsigned char)name->ptr[name->len - 1];

    return &hr_name_cache[(name->len + first * 3u + last) %
                          HR_NAME_CACHE_SLOTS];
}

void hr_command_args(hr_command *command)
{
    size_t consumed;
    int argc;

    if (command->argv != NULL)
        return;
    command->argv = command->stack_args;
    argc = hr_request_parse(command->bytes, command->len, command->argv,
                            HR_STACK_ARGS, &consumed);
    if (argc > HR_STACK_ARGS) {
        hr_slice *heap = malloc((size_t)argc * sizeof(*heap));
        if (heap != NULL) {
            command->argv = heap;
            hr_request_parse(command->bytes, command->len, heap, argc,
                             &consumed);
        } else {
            argc = HR_STACK_ARGS; /* Classified by its first arguments. */
        }
    }
    command->argc = argc < 0 ? 0 : argc;
}

void hr_command_classify_fully(hr_command *command)
{
    if (command->classified)
        return;
    hr_command_args(command);
    command->info = hr_command_classify(command->argv, command->argc);
    command->classified = true;
}

/* Sets command->flags from the name cache or the command table. */
static void hr_command_find_flags(hr_command *command)
{
    const hr_slice *name = &command->name;
    struct hr_name_cache_entry *entry;

    if (name->len == 0 || name->len > HR_NAME_CACHE_MAX) {
        hr_command_classify_fully(command);
        command->flags = command->info.flags;
        return;
    }

    entry = hr_name_cache_slot(name);
    if (entry->len == name->len &&
        memcmp(entry->name, name->ptr, name->len) == 0) {
        command->flags = entry->flags;
        return;
    }

    hr_command_classify_fully(command);
    command->flags = command->info.flags;
    if (hr_command_flags_fixed(name)) {
        memcpy(entry->name, name->ptr, name->len);
        entry->len = name->len;
        entry->flags = command->flags;
    }
}

void hr_command_init(hr_command *command, const char *cmd, size_t len)
{
    command->bytes = cmd;
    command->len = len;
    command->argv = NULL;
    command->argc = 0;
    command->classified = false;
    command->info = (hr_command_info){HR_REPEAT_UNSAFE, 0, NULL};
    if (hr_request_name(cmd, len, &command->name) != 0)
        command->name = (hr_slice){NULL, 0};
    hr_command_find_flags(command);
}

bool hr_command_is(const hr_command *command, const char *word)
{
    return hr_slice_is(&command->name, word);
}

void hr_command_name(const hr_command *command, char *buf, size_t size)
{
    size_t n = 0;

    if (command->name.len > 0) {
        const hr_slice *name = &command->name;
        for (size_t i = 0; i < name->len && n + 1 < size; i++) {
            unsigned char ch = (unsigned char)name->ptr[i];
            buf[n++] = (ch > ' ' && ch < 0x7f && ch != '"') ? (char)ch : '?';
        }
    }
    buf[n] = '\0';
}

/*
 * A script may have written before it fails with any error reply, even one
 * that otherwise means the server ran nothing (LOADING, NOPERM, ...), since
 * a script can raise it from a later call or return it itself.
 */
bool hr_command_is_script(const hr_command *command)
{
    const hr_slice *name = &command->name;

    return (name->len >= 4 && strncasecmp(name->ptr, "eval", 4) == 0) ||
           (name->len >= 5 && strncasecmp(name->ptr, "fcall", 5) == 0);
}

hr_writes hr_command_writes(const hr_command *command, hr_writes writes)
{
    if (command->flags & (HR_COMMAND_TRANSACTION | HR_COMMAND_PUBSUB))
        return HR_WRITES_NONE;
    if ((command->flags & HR_COMMAND_BLOCKING) && writes == HR_WRITES_ALL)
        return HR_WRITES_SAFE;
    return writes;
}

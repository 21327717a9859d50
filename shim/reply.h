/* Reading hiredis reply objects without assuming a custom reader's type. */
#ifndef HR_SHIM_REPLY_H
#define HR_SHIM_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "real.h"

/*
 * Stores the text of reply in *text and *len and returns true when reply is
 * an error reply. A context whose reader builds replies with functions of
 * the program's own has replies of unknown type: they are never errors here.
 */
static inline bool hr_reply_error_text(const redisContext *c, void *reply,
                                       const char **text, size_t *len)
{
    const redisReply *r = reply;

    if (r == NULL || c->reader == NULL ||
        (const void *)c->reader->fn != hr_real_default_reader_functions() ||
        r->type != REDIS_REPLY_ERROR)
        return false;
    *text = r->str;
    *len = r->len;
    return true;
}

/* Returns true when the context builds replies with hiredis's own reader
 * functions, so that replies are redisReply objects. */
static inline bool hr_reply_readable(const redisContext *c)
{
    return c->reader != NULL &&
           (const void *)c->reader->fn == hr_real_default_reader_functions();
}

/* Returns true when reply is the status reply text ("OK", "QUEUED"). */
static inline bool hr_reply_status_is(const redisContext *c, void *reply,
                                      const char *text)
{
    const redisReply *r = reply;

    return r != NULL && hr_reply_readable(c) && r->type == REDIS_REPLY_STATUS &&
           strcmp(r->str, text) == 0;
}

#endif

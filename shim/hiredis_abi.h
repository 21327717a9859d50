/*
 * The differences between the two hiredis ABIs the shim builds against:
 * 0.14 (Debian 12) and 1.x (Debian 13, Ubuntu 24.04, Fedora). Other files
 * use the fields and functions the two share. Code for one ABI only is
 * marked with HR_HIREDIS_1 where it sits: the 1.x wrappers in wrappers.c
 * and tls.c, the 1.x functions in real.h, hiredis's allocator in real.c
 * and the 1.x socket options in session.c.
 *
 * Two differences need no code here. hiredis 1.x keeps separate connect and
 * command timeouts and sets the command timeout again in redisReconnect
 * itself, which the shim's restore then repeats harmlessly. Its
 * redisConnect* functions all call redisConnectWithOptions through the PLT,
 * and so through the wrappers, where the re-entrancy guard of shim.h passes
 * the inner call through.
 */
#ifndef HR_SHIM_HIREDIS_ABI_H
#define HR_SHIM_HIREDIS_ABI_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#if HIREDIS_MAJOR >= 1
#define HR_HIREDIS_1 1
#else
#define HR_HIREDIS_1 0
#endif

/*
 * Returns true for the reply types that carry a pub/sub message or
 * confirmation: an array, or in hiredis 1.x a RESP3 push reply, which is
 * what a subscriber gets after HELLO 3.
 */
static inline bool hr_reply_is_array(int type)
{
#if HR_HIREDIS_1
    return type == REDIS_REPLY_ARRAY || type == REDIS_REPLY_PUSH;
#else
    return type == REDIS_REPLY_ARRAY;
#endif
}

/* What the program set on its reader, which redisReconnect replaces with
 * hiredis's defaults. */
typedef struct hr_reader_settings {
    redisReplyObjectFunctions *fn;
    void *privdata;
    size_t maxbuf;
#if HR_HIREDIS_1
    long long maxelements; /* the largest aggregate the reader accepts */
#endif
} hr_reader_settings;

static inline hr_reader_settings hr_reader_save(const redisContext *c)
{
    hr_reader_settings settings = {0};

    if (c->reader == NULL)
        return settings;
    settings.fn = c->reader->fn;
    settings.privdata = c->reader->privdata;
    settings.maxbuf = c->reader->maxbuf;
#if HR_HIREDIS_1
    settings.maxelements = c->reader->maxelements;
#endif
    return settings;
}

/* Puts the program's reader settings back, a NULL fn included. */
static inline void hr_reader_put(redisContext *c,
                                 const hr_reader_settings *settings)
{
    if (c->reader == NULL)
        return;
    c->reader->fn = settings->fn;
    c->reader->privdata = settings->privdata;
    c->reader->maxbuf = settings->maxbuf;
#if HR_HIREDIS_1
    c->reader->maxelements = settings->maxelements;
#endif
}

#endif

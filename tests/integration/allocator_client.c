/*
 * hr_allocator_client: a plain hiredis 1.x program that replaces hiredis's
 * allocators with hiredisSetAllocators, with no retry logic.
 *
 * Every block its allocator returns starts 16 bytes into a larger block
 * with a marker in front. So free() of such a pointer aborts the process at
 * once, and so does the program's free function given a pointer it did not
 * allocate. It runs INCR counter OPS times, alternating redisCommand
 * and redisAppendCommand with redisGetReply, and prints key=value results.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#define HR_HEADER 16
#define HR_MARKER UINT64_C(0x6869726574727921) /* "hiretry!" */

static void *hr_marked_malloc(size_t size)
{
    unsigned char *block = malloc(HR_HEADER + size);
    uint64_t marker = HR_MARKER;

    if (block == NULL)
        return NULL;
    memcpy(block, &marker, sizeof(marker));
    return block + HR_HEADER;
}

static void hr_marked_free(void *ptr)
{
    unsigned char *block;
    uint64_t marker;

    if (ptr == NULL)
        return;
    block = (unsigned char *)ptr - HR_HEADER;
    memcpy(&marker, block, sizeof(marker));
    if (marker != HR_MARKER) {
        fputs("hr_allocator_client: freed a block it did not allocate\n",
              stderr);
        abort();
    }
    memset(block, 0, sizeof(marker));
    free(block);
}

static void *hr_marked_calloc(size_t count, size_t size)
{
    void *ptr;

    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    ptr = hr_marked_malloc(count * size);
    if (ptr != NULL)
        memset(ptr, 0, count * size);
    return ptr;
}

/* hiredis reallocs only its own blocks, whose size it does not pass, so
 * this reallocates the whole marked block. */
static void *hr_marked_realloc(void *ptr, size_t size)
{
    unsigned char *block;

    if (ptr == NULL)
        return hr_marked_malloc(size);
    block = realloc((unsigned char *)ptr - HR_HEADER, HR_HEADER + size);
    return block != NULL ? block + HR_HEADER : NULL;
}

static char *hr_marked_strdup(const char *text)
{
    size_t len = strlen(text) + 1;
    char *copy = hr_marked_malloc(len);

    if (copy != NULL)
        memcpy(copy, text, len);
    return copy;
}

int main(int argc, char **argv)
{
    hiredisAllocFuncs allocators = {
        .mallocFn = hr_marked_malloc,
        .callocFn = hr_marked_calloc,
        .reallocFn = hr_marked_realloc,
        .strdupFn = hr_marked_strdup,
        .freeFn = hr_marked_free,
    };
    struct timespec pause = {0, 10 * 1000000L};
    long ops, ok = 0, errors = 0;
    redisContext *c;

    if (argc != 4 || (ops = strtol(argv[3], NULL, 10)) <= 0) {
        fputs("usage: hr_allocator_client PORT PASSWORD OPS\n", stderr);
        return 2;
    }
    hiredisSetAllocators(&allocators);
    c = redisConnect("127.0.0.1", atoi(argv[1]));
    if (c == NULL || c->err) {
        printf("setup_error=%s\n", c ? c->errstr : "out of memory");
        return 3;
    }
    freeReplyObject(redisCommand(c, "AUTH %s", argv[2]));

    for (long i = 0; i < ops; i++) {
        redisReply *reply = NULL;

        if (i % 2 == 0) {
            reply = redisCommand(c, "INCR %s", "counter");
        } else if (redisAppendCommand(c, "INCR %s", "counter") == REDIS_OK &&
                   redisGetReply(c, (void **)&reply) != REDIS_OK) {
            reply = NULL;
        }
        if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
            ok++;
        else
            errors++;
        freeReplyObject(reply);
        nanosleep(&pause, NULL);
    }
    printf("ops=%ld\nok=%ld\nerrors=%ld\n", ops, ok, errors);
    redisFree(c);
    return 0;
}

/*
 * Helpers of the integration-test harness: string lists for argv and
 * environments, paths, and whole-file reads.
 */
#include "harness.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int hr_string_list_add(hr_string_list *list, const char *format, ...)
{
    va_list ap;
    char *item;
    int length;

    if (list->count + 2 > list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        char **items = realloc(list->items, capacity * sizeof(*items));

        if (items == NULL)
            return -1;
        list->items = items;
        list->capacity = capacity;
    }

    va_start(ap, format);
    length = vasprintf(&item, format, ap);
    va_end(ap);
    if (length < 0)
        return -1;

    list->items[list->count++] = item;
    list->items[list->count] = NULL;
    return 0;
}

void hr_string_list_free(hr_string_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    memset(list, 0, sizeof(*list));
}

int hr_harness_path(char *path, size_t size, const char *format, ...)
{
    va_list ap;
    int length;

    va_start(ap, format);
    length = vsnprintf(path, size, format, ap);
    va_end(ap);
    if (length < 0 || (size_t)length >= size) {
        fprintf(stderr,
                "harness: path %s... is longer than %zu bytes; "
                "set TMPDIR to a shorter directory\n",
                path, size - 1);
        return -1;
    }
    return 0;
}

static int hr_remove_entry(const char *path, const struct stat *info, int type,
                           struct FTW *ftw)
{
    (void)info;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

int hr_harness_remove_tree(const char *path)
{
    return nftw(path, hr_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *hr_harness_read_file(const char *path)
{
    FILE *file = fopen(path, "re");
    char *text = NULL;
    size_t length = 0;
    size_t capacity = 0;
    size_t got;

    if (file == NULL)
        return NULL;

    do {
        if (capacity - length < 4096) {
            char *grown = realloc(text, capacity + 65536);

            if (grown == NULL)
                break;
            text = grown;
            capacity += 65536;
        }
        got = fread(text + length, 1, capacity - length - 1, file);
        length += got;
    } while (got > 0);

    fclose(file);
    if (text != NULL)
        text[length] = '\0';
    return text;
}

void hr_harness_print_tail(const char *path, int lines, const char *label)
{
    char *text = hr_harness_read_file(path);
    char *start;
    int seen = 0;

    if (text == NULL || text[0] == '\0') {
        free(text);
        return;
    }

    /* Finds the start of the last `lines` lines, ignoring a final newline. */
    start = text + strlen(text) - 1;
    while (start > text) {
        if (start[-1] == '\n' && ++seen == lines)
            break;
        start--;
    }

    fprintf(stderr, "---- %s: last %d lines of %s\n", label, lines, path);
    for (char *line = strtok(start, "\n"); line; line = strtok(NULL, "\n"))
        fprintf(stderr, "%s| %s\n", label, line);
    free(text);
}

int hr_harness_touch(const char *path)
{
    FILE *file = fopen(path, "w");

    if (file == NULL || fclose(file) != 0) {
        fprintf(stderr, "harness: cannot create %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    return 0;
}

int hr_harness_wait_file(const char *path)
{
    int64_t deadline = hr_harness_now_ms() + HR_SERVER_WAIT_MS;

    while (access(path, F_OK) != 0) {
        if (hr_harness_now_ms() >= deadline) {
            fprintf(stderr, "harness: %s not created in %d ms\n", path,
                    HR_SERVER_WAIT_MS);
            return -1;
        }
        hr_harness_sleep_ms(10);
    }
    return 0;
}

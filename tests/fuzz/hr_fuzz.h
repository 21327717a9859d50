/*
 * The property check shared by the libFuzzer harnesses.
 */
#ifndef HR_FUZZ_H
#define HR_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

/* Reports a broken property and stops, so that libFuzzer saves the input. */
#define HR_FUZZ_CHECK(cond, ...)                                               \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "property failed: %s: ", #cond);                   \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif

/*
 * Value parsers shared by config.c, which contains the table of variables, and
 * config_parse.c, which parses their values. Not part of the public API.
 */
#ifndef HIRETRY_CONFIG_INTERNAL_H
#define HIRETRY_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hiretry/backoff.h"
#include "hiretry/errors.h"

#define HR_ARRAY_LEN(array) (sizeof(array) / sizeof((array)[0]))

/* Returns the index of text in the lower-case names, in any ASCII case, or
 * -1. */
int hr_keyword_index(const char *text, const char *const *names, size_t count);

/*
 * Parses an optional '-' and decimal digits, nothing else, within min and
 * max. Returns 0, or -1 with *out unchanged.
 */
int hr_parse_integer(const char *text, long long min, long long max,
                     long long *out);

/*
 * Parses a decimal number with at most three digits after the point, such
 * as "0.1" or "2", into thousandths. No sign, exponent or space. Returns 0,
 * or -1 with *out_milli unchanged when the text is invalid or the value
 * exceeds max_milli.
 */
int hr_parse_milli(const char *text, int64_t max_milli, int64_t *out_milli);

/* Parses a backoff strategy name in any ASCII case. Returns 0 or -1. */
int hr_parse_backoff_kind(const char *text, hr_backoff_kind *out);

/*
 * Applies a comma-separated list of class names left to right. A list whose
 * first item starts with '+' or '-' edits *set, and any other list starts
 * from the empty set. *set changes only when every item is valid. Returns 0
 * or -1.
 */
int hr_parse_class_list(const char *text, hr_class_set *set);

#endif

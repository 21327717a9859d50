/*
 * Backoff strategies with valkey-py's formulas, in integer microseconds.
 *
 * f is the 1-based failure count. With b the base and c the cap:
 *   none                 0
 *   constant             b
 *   exponential          min(c, b * 2^f)
 *   full jitter          uniform(0, min(c, b * 2^f))
 *   equal jitter         t + uniform(0, t), t = min(c, b * 2^f) / 2
 *   decorrelated jitter  p = min(c, uniform(b, max(b, 3 * p))), p = 0 at reset
 * Unlike valkey-py, which overflows from f = 1024 on, every product saturates:
 * any f from 0 to INT_MAX gives a finite delay within these bounds.
 */
#ifndef HIRETRY_BACKOFF_H
#define HIRETRY_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

typedef enum hr_backoff_kind {
    HR_BACKOFF_NONE,
    HR_BACKOFF_CONSTANT,
    HR_BACKOFF_EXPONENTIAL,
    HR_BACKOFF_FULL_JITTER,
    HR_BACKOFF_EQUAL_JITTER,
    HR_BACKOFF_DECORRELATED_JITTER
} hr_backoff_kind;

/* A backoff configuration. valkey-py's defaults are 8 ms and 512 ms. */
typedef struct hr_backoff {
    hr_backoff_kind kind;
    uint64_t base_us;
    uint64_t cap_us;
} hr_backoff;

/*
 * The state of one logical call: only decorrelated jitter uses it. Reset it
 * at the start of every call.
 */
typedef struct hr_backoff_state {
    uint64_t previous_us;
} hr_backoff_state;

/* Returns the configuration name ("equal_jitter", ...), or NULL. */
const char *hr_backoff_kind_name(hr_backoff_kind kind);

/*
 * Looks up a strategy by its configuration name of len bytes, matched
 * exactly. Returns 0 and stores it in *out, or -1 for an unknown name.
 */
int hr_backoff_kind_from_name(const char *name, size_t len,
                              hr_backoff_kind *out);

void hr_backoff_reset(hr_backoff_state *state);

/*
 * Returns the delay in microseconds before the attempt that follows failure
 * number failures (1-based; 0 and negative counts are treated as 0). Jitter
 * draws from the calling thread's generator.
 */
uint64_t hr_backoff_delay_us(const hr_backoff *backoff, hr_backoff_state *state,
                             int failures);

#endif

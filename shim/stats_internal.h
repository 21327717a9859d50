/* The counters that shim/stats.c keeps and shim/stats_file.c writes. */
#ifndef HR_SHIM_STATS_INTERNAL_H
#define HR_SHIM_STATS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "hiretry/errors.h"
#include "hiretry/policy.h"

/* Upper bounds of the histogram's buckets, in seconds, before +Inf. */
#define HR_STATS_BUCKETS 15
extern const double hr_stats_bucket_seconds[HR_STATS_BUCKETS];

/* One entry per hr_verdict: HR_GIVE_UP_CIRCUIT_OPEN is the last. */
#define HR_STATS_VERDICTS (HR_GIVE_UP_CIRCUIT_OPEN + 1)

typedef struct hr_stats_counters {
    _Atomic uint64_t retries;
    _Atomic uint64_t recovered; /* calls that succeeded after a retry */
    _Atomic uint64_t reconnects;
    _Atomic uint64_t reconnect_failures;
    _Atomic uint64_t give_ups[HR_STATS_VERDICTS]; /* HR_RETRY stays 0 */
    _Atomic uint64_t failures[HR_CLASS_COUNT];
    /* Durations of calls that were retried, per bucket (not cumulative);
       the last entry is above the largest bound. */
    _Atomic uint64_t histogram[HR_STATS_BUCKETS + 1];
    _Atomic uint64_t histogram_sum_ns;
} hr_stats_counters;

extern hr_stats_counters hr_stats;

/* Returns the calls of every thread, live or exited. */
uint64_t hr_stats_calls(void);

/* Serializes the replacements of the stats file, in shim/stats_file.c. */
extern pthread_mutex_t hr_stats_write_lock;

/*
 * Writes the counters to HIRETRY_STATS_FILE: to a temporary file in the
 * same directory, renamed over the file, so that a reader sees the old
 * file or the new one, never a part. Serialized by a lock of its own.
 */
void hr_stats_write(void);

#endif

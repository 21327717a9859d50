/*
 * Random numbers for backoff jitter.
 *
 * Each thread has its own generator, seeded from the operating system on
 * first use and again in a child after fork(), so that neither threads nor
 * forked processes share a sequence. Not for cryptographic use.
 */
#ifndef HIRETRY_RANDOM_H
#define HIRETRY_RANDOM_H

#include <stdint.h>

/* Returns the next 64 random bits of the calling thread's generator. */
uint64_t hr_random_u64(void);

/* Returns a number drawn uniformly from [low, high]; low when high < low. */
uint64_t hr_random_between(uint64_t low, uint64_t high);

#endif

/*
 * Per-thread xoshiro256** generators, the public-domain algorithm of David
 * Blackman and Sebastiano Vigna, seeded through the splitmix64 mixer.
 *
 * The draw path takes no lock: each thread owns its state, and the only
 * shared datum is a fork generation counter read with a relaxed atomic
 * load. A pthread_atfork() child handler bumps the counter, so the thread
 * that survives fork() reads a new generation on its next draw and reseeds
 * instead of repeating its parent's sequence.
 */
#include "hiretry/random.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

typedef struct hr_random_state {
    uint64_t s[4];
    /* Fork generation at seeding time, or 0 before the first seeding. */
    unsigned long generation;
} hr_random_state;

static _Thread_local hr_random_state hr_random_thread_state;

/* Starts at 1, so that a zeroed thread state always differs from it. */
static atomic_ulong hr_random_generation = 1;
static pthread_once_t hr_random_atfork_once = PTHREAD_ONCE_INIT;

static void hr_random_after_fork_in_child(void)
{
    atomic_fetch_add_explicit(&hr_random_generation, 1, memory_order_relaxed);
}

static void hr_random_register_atfork(void)
{
    /*
     * If registration fails (ENOMEM), a forked child repeats its parent's
     * sequence. Their jitter then correlates, but nothing else breaks.
     */
    (void)pthread_atfork(NULL, NULL, hr_random_after_fork_in_child);
}

static uint64_t hr_splitmix64_next(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t hr_rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t hr_xoshiro256ss_next(uint64_t s[4])
{
    uint64_t result = hr_rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = hr_rotl64(s[3], 45);
    return result;
}

/*
 * Fills material with 32 bytes from getrandom(), or, when the kernel has no
 * getrandom() or its pool is not initialized yet, with the clock, the
 * process and thread ids and a thread-local address. GRND_NONBLOCK keeps an
 * early-boot caller from blocking.
 */
static void hr_random_read_seed(uint64_t material[4])
{
    struct timespec now = {0, 0};
    ssize_t n;

    n = getrandom(material, 4 * sizeof(material[0]), GRND_NONBLOCK);
    if (n == (ssize_t)(4 * sizeof(material[0])))
        return;

    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    material[0] ^=
        (uint64_t)now.tv_sec * UINT64_C(1000000000) + (uint64_t)now.tv_nsec;
    material[1] ^= (uint64_t)getpid();
    material[2] ^= (uint64_t)(uintptr_t)&hr_random_thread_state;
    material[3] ^= (uint64_t)pthread_self();
}

static void hr_random_seed(hr_random_state *state, unsigned long generation)
{
    uint64_t material[4] = {0, 0, 0, 0};
    uint64_t x = 0;
    int saved_errno = errno;

    (void)pthread_once(&hr_random_atfork_once, hr_random_register_atfork);
    hr_random_read_seed(material);

    /* splitmix64 spreads weak fallback material over all 256 bits. */
    for (int i = 0; i < 4; i++) {
        x ^= material[i];
        state->s[i] = hr_splitmix64_next(&x);
    }

    /* The all-zero state is a fixed point of xoshiro256**, so avoid it. */
    if ((state->s[0] | state->s[1] | state->s[2] | state->s[3]) == 0)
        state->s[0] = 1;

    state->generation = generation;
    errno = saved_errno;
}

uint64_t hr_random_u64(void)
{
    hr_random_state *state = &hr_random_thread_state;
    unsigned long generation;

    generation =
        atomic_load_explicit(&hr_random_generation, memory_order_relaxed);
    if (state->generation != generation)
        hr_random_seed(state, generation);

    return hr_xoshiro256ss_next(state->s);
}

uint64_t hr_random_between(uint64_t low, uint64_t high)
{
    uint64_t range;
    uint64_t threshold;
    uint64_t x;

    if (high <= low)
        return low;

    range = high - low;
    if (range == UINT64_MAX)
        return hr_random_u64();

    /*
     * Rejection sampling: draws below 2^64 mod n are rejected, which leaves
     * a multiple of n equally likely values, so x % n is uniform. The
     * threshold is below 2^63, so each draw is rejected with p < 1/2.
     */
    range++;
    threshold = (0 - range) % range;
    do {
        x = hr_random_u64();
    } while (x < threshold);

    return low + x % range;
}

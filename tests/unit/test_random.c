/*
 * Tests of the per-thread generator. The output is random, so the checks are
 * bounds that hold for every draw and properties that fail by chance with a
 * probability below 10^-11 per run: distinct values, every value of a small
 * range seen, counts near their mean. Independence across threads and
 * across fork() is checked by comparing sequences position by position: two
 * independently seeded generators agree at a position with p = 2^-64.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hiretry/random.h"
#include "hr_test.h"

#define SEQUENCE_LENGTH 8

static int count_equal_positions(const uint64_t *a, const uint64_t *b, size_t n)
{
    int equal = 0;

    for (size_t i = 0; i < n; i++) {
        if (a[i] == b[i])
            equal++;
    }
    return equal;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Sorts values in place and returns the number of distinct values. */
static size_t count_distinct(uint64_t *values, size_t n)
{
    size_t distinct = n > 0 ? 1 : 0;

    qsort(values, n, sizeof(values[0]), compare_u64);
    for (size_t i = 1; i < n; i++) {
        if (values[i] != values[i - 1])
            distinct++;
    }
    return distinct;
}

static void draw_sequence(uint64_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = hr_random_u64();
}

static void *draw_sequence_thread(void *arg)
{
    draw_sequence(arg, SEQUENCE_LENGTH);
    return NULL;
}

static void test_random_u64_values_distinct(void)
{
    enum { DRAWS = 1000 };
    uint64_t values[DRAWS];

    draw_sequence(values, DRAWS);
    HR_ASSERT_UINT_EQ(count_distinct(values, DRAWS), DRAWS);
}

static void test_random_u64_uses_all_bits(void)
{
    uint64_t seen_or = 0;
    uint64_t seen_and = UINT64_MAX;

    for (int i = 0; i < 1000; i++) {
        uint64_t x = hr_random_u64();

        seen_or |= x;
        seen_and &= x;
    }
    HR_ASSERT_UINT_EQ(seen_or, UINT64_MAX);
    HR_ASSERT_UINT_EQ(seen_and, 0);
}

static void test_random_threads_differ(void)
{
    uint64_t first[SEQUENCE_LENGTH];
    uint64_t second[SEQUENCE_LENGTH];
    pthread_t a;
    pthread_t b;

    HR_ASSERT_INT_EQ(pthread_create(&a, NULL, draw_sequence_thread, first), 0);
    HR_ASSERT_INT_EQ(pthread_create(&b, NULL, draw_sequence_thread, second), 0);
    HR_ASSERT_INT_EQ(pthread_join(a, NULL), 0);
    HR_ASSERT_INT_EQ(pthread_join(b, NULL), 0);

    HR_ASSERT_INT_EQ(count_equal_positions(first, second, SEQUENCE_LENGTH), 0);
}

static void *check_seeding_keeps_errno(void *arg)
{
    int *errno_after = arg;

    /* This thread's first draw seeds its generator. */
    errno = 4321;
    (void)hr_random_u64();
    *errno_after = errno;
    return NULL;
}

static void test_random_seeding_keeps_errno(void)
{
    int errno_after = 0;
    pthread_t thread;

    HR_ASSERT_INT_EQ(
        pthread_create(&thread, NULL, check_seeding_keeps_errno, &errno_after),
        0);
    HR_ASSERT_INT_EQ(pthread_join(thread, NULL), 0);
    HR_ASSERT_INT_EQ(errno_after, 4321);
}

/* Writes the child's draws to fd and exits without running atexit code. */
static void send_child_sequence(int fd)
{
    uint64_t sequence[SEQUENCE_LENGTH];
    size_t size = sizeof(sequence);

    draw_sequence(sequence, SEQUENCE_LENGTH);
    _exit(write(fd, sequence, size) == (ssize_t)size ? 0 : 1);
}

static void test_random_fork_child_differs(void)
{
    uint64_t parent[SEQUENCE_LENGTH];
    uint64_t child[SEQUENCE_LENGTH];
    int fds[2];
    int status = -1;
    ssize_t n;
    pid_t pid;

    /* Seed this thread before fork(), so that the child inherits a state. */
    (void)hr_random_u64();
    HR_ASSERT_INT_EQ(pipe(fds), 0);

    pid = fork();
    HR_ASSERT_TRUE(pid >= 0);
    if (pid < 0)
        return;
    if (pid == 0) {
        close(fds[0]);
        send_child_sequence(fds[1]);
    }
    close(fds[1]);

    draw_sequence(parent, SEQUENCE_LENGTH);
    n = read(fds[0], child, sizeof(child));
    close(fds[0]);
    HR_ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);

    HR_ASSERT_INT_EQ(n, sizeof(child));
    HR_ASSERT_INT_EQ(status, 0);
    HR_ASSERT_INT_EQ(count_equal_positions(parent, child, SEQUENCE_LENGTH), 0);
}

static void test_random_between_single_value(void)
{
    static const uint64_t values[] = {0, 1, 5, UINT64_MAX / 2, UINT64_MAX};

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        HR_ASSERT_UINT_EQ(hr_random_between(values[i], values[i]), values[i]);
}

static void test_random_between_reversed_returns_low(void)
{
    HR_ASSERT_UINT_EQ(hr_random_between(10, 9), 10);
    HR_ASSERT_UINT_EQ(hr_random_between(10, 0), 10);
    HR_ASSERT_UINT_EQ(hr_random_between(UINT64_MAX, 0), UINT64_MAX);
    HR_ASSERT_UINT_EQ(hr_random_between(1, 0), 1);
}

static void test_random_between_full_range(void)
{
    enum { DRAWS = 1000 };
    uint64_t values[DRAWS];
    uint64_t seen_or = 0;

    for (int i = 0; i < DRAWS; i++) {
        values[i] = hr_random_between(0, UINT64_MAX);
        seen_or |= values[i];
    }
    HR_ASSERT_UINT_EQ(seen_or, UINT64_MAX);
    HR_ASSERT_UINT_EQ(count_distinct(values, DRAWS), DRAWS);
}

static void test_random_between_top_of_range(void)
{
    int low_count = 0;
    int high_count = 0;

    for (int i = 0; i < 1000; i++) {
        uint64_t x = hr_random_between(UINT64_MAX - 1, UINT64_MAX);

        HR_ASSERT_UINT_IN(x, UINT64_MAX - 1, UINT64_MAX);
        if (x == UINT64_MAX)
            high_count++;
        else
            low_count++;
    }
    HR_ASSERT_TRUE(low_count > 0);
    HR_ASSERT_TRUE(high_count > 0);
}

/*
 * Draws 30,000 values from [10, 12] and checks each count against its mean
 * of 10,000. The standard deviation of a count is about 82, so a window of
 * +-600 fails by chance with p < 10^-12 but catches a value that is drawn
 * too often or never.
 */
static void test_random_between_uniform_counts(void)
{
    enum { DRAWS = 30000, LOW = 10, HIGH = 12 };
    int counts[HIGH - LOW + 1] = {0};

    for (int i = 0; i < DRAWS; i++) {
        uint64_t x = hr_random_between(LOW, HIGH);

        HR_ASSERT_UINT_IN(x, LOW, HIGH);
        if (x >= LOW && x <= HIGH)
            counts[x - LOW]++;
    }
    for (int i = 0; i <= HIGH - LOW; i++)
        HR_ASSERT_UINT_IN(counts[i], 9400, 10600);
}

/*
 * For n = 3 * 2^62 values, 2^64 = n + 2^62, so a plain x % n would draw the
 * values below 2^62 twice as often as the others. Half of all draws would
 * then land there instead of a third. The window reaches about 7 standard
 * deviations to each side of the expected 3,333.
 */
static void test_random_between_large_range_unbiased(void)
{
    enum { DRAWS = 10000 };
    uint64_t quarter = UINT64_C(1) << 62;
    int below_quarter = 0;

    for (int i = 0; i < DRAWS; i++) {
        if (hr_random_between(0, 3 * quarter - 1) < quarter)
            below_quarter++;
    }
    HR_ASSERT_UINT_IN(below_quarter, 3000, 3667);
}

static CU_TestInfo tests[] = {
    {"test_random_u64_values_distinct", test_random_u64_values_distinct},
    {"test_random_u64_uses_all_bits", test_random_u64_uses_all_bits},
    {"test_random_threads_differ", test_random_threads_differ},
    {"test_random_seeding_keeps_errno", test_random_seeding_keeps_errno},
    {"test_random_fork_child_differs", test_random_fork_child_differs},
    {"test_random_between_single_value", test_random_between_single_value},
    {"test_random_between_reversed_returns_low",
     test_random_between_reversed_returns_low},
    {"test_random_between_full_range", test_random_between_full_range},
    {"test_random_between_top_of_range", test_random_between_top_of_range},
    {"test_random_between_uniform_counts", test_random_between_uniform_counts},
    {"test_random_between_large_range_unbiased",
     test_random_between_large_range_unbiased},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_test_run("random", tests);
}

#include "conn.h"
#include "pipeline.h"
#include "pubsub.h"
#include "transaction.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * An open-addressing hash table from context pointer to state, with linear
 * probing, under one mutex. Each thread also caches its last lookup; the
 * cache is valid while no context has been added or removed since, which a
 * global generation counter shows without taking the lock.
 */
static pthread_mutex_t hr_conn_lock = PTHREAD_MUTEX_INITIALIZER;
static hr_conn **hr_conn_slots;
static size_t hr_conn_capacity; /* a power of two, or 0 */
static size_t hr_conn_count;
static _Atomic unsigned long hr_conn_generation;
static pthread_once_t hr_conn_atfork_once = PTHREAD_ONCE_INIT;
/* Incremented in every child of fork(), so a context whose count differs
 * from the process's was inherited from a parent. */
static _Atomic unsigned long hr_conn_forks;

struct hr_conn_cache {
    const redisContext *context;
    hr_conn *conn;
    unsigned long generation;
};

static __thread struct hr_conn_cache hr_conn_cached
    __attribute__((tls_model("initial-exec")));

static void hr_conn_prepare_fork(void)
{
    pthread_mutex_lock(&hr_conn_lock);
}

static void hr_conn_after_fork(void)
{
    pthread_mutex_unlock(&hr_conn_lock);
}

static void hr_conn_after_fork_child(void)
{
    atomic_fetch_add_explicit(&hr_conn_forks, 1, memory_order_relaxed);
    pthread_mutex_unlock(&hr_conn_lock);
}

static void hr_conn_register_atfork(void)
{
    pthread_atfork(hr_conn_prepare_fork, hr_conn_after_fork,
                   hr_conn_after_fork_child);
}

/*
 * Marks a context inherited through fork() for a reconnect. Parent and
 * child would otherwise share one connection, and each could read the
 * other's replies. Closing the child's copy of the socket sends nothing to
 * the server while the parent keeps its own.
 */
static void hr_conn_check_fork(hr_conn *conn)
{
    unsigned long forks =
        atomic_load_explicit(&hr_conn_forks, memory_order_relaxed);

    if (conn == NULL || conn->forks == forks)
        return;
    conn->forks = forks;
    /* TODO: pipelined commands the parent had written and still owed a
       reply stay queued here. The pipeline rules decide in the child
       whether they go out again, and no test covers that case yet. */
    conn->reconnect_needed = true;
}

static size_t hr_conn_hash(const redisContext *c)
{
    uint64_t x = (uint64_t)(uintptr_t)c;

    /* Fibonacci hashing: allocations are aligned, so mix the low bits. */
    x *= UINT64_C(0x9e3779b97f4a7c15);
    return (size_t)(x >> 32);
}

/* Returns the index of c's slot or of the empty slot where it would go. */
static size_t hr_conn_probe(const redisContext *c)
{
    size_t mask = hr_conn_capacity - 1;
    size_t i = hr_conn_hash(c) & mask;

    while (hr_conn_slots[i] != NULL && hr_conn_slots[i]->context != c)
        i = (i + 1) & mask;
    return i;
}

static bool hr_conn_grow(void)
{
    size_t old_capacity = hr_conn_capacity;
    hr_conn **old_slots = hr_conn_slots;
    size_t capacity = old_capacity ? old_capacity * 2 : 16;
    hr_conn **slots = calloc(capacity, sizeof(*slots));

    if (slots == NULL)
        return false;
    hr_conn_slots = slots;
    hr_conn_capacity = capacity;
    for (size_t i = 0; i < old_capacity; i++) {
        if (old_slots[i] != NULL)
            hr_conn_slots[hr_conn_probe(old_slots[i]->context)] = old_slots[i];
    }
    free(old_slots);
    return true;
}

hr_conn *hr_conn_find(const redisContext *c)
{
    struct hr_conn_cache *cache = &hr_conn_cached;
    unsigned long generation =
        atomic_load_explicit(&hr_conn_generation, memory_order_acquire);
    hr_conn *conn = NULL;

    if (cache->context == c && cache->generation == generation) {
        hr_conn_check_fork(cache->conn);
        return cache->conn;
    }

    pthread_mutex_lock(&hr_conn_lock);
    if (hr_conn_capacity != 0)
        conn = hr_conn_slots[hr_conn_probe(c)];
    pthread_mutex_unlock(&hr_conn_lock);

    cache->context = c;
    cache->conn = conn;
    cache->generation = generation;
    hr_conn_check_fork(conn);
    return conn;
}

hr_conn *hr_conn_add(redisContext *c)
{
    hr_conn *conn = calloc(1, sizeof(*conn));

    if (conn == NULL)
        return NULL;
    conn->context = c;
    pthread_once(&hr_conn_atfork_once, hr_conn_register_atfork);
    conn->forks = atomic_load_explicit(&hr_conn_forks, memory_order_relaxed);

    pthread_mutex_lock(&hr_conn_lock);
    if ((hr_conn_count + 1) * 2 > hr_conn_capacity && !hr_conn_grow()) {
        pthread_mutex_unlock(&hr_conn_lock);
        free(conn);
        return NULL;
    }
    hr_conn_slots[hr_conn_probe(c)] = conn;
    hr_conn_count++;
    /* A cached miss for this address is stale now. */
    atomic_fetch_add_explicit(&hr_conn_generation, 1, memory_order_release);
    pthread_mutex_unlock(&hr_conn_lock);
    return conn;
}

/* Closes the gap at index i so that later probes still find their keys. */
static void hr_conn_backshift(size_t i)
{
    size_t mask = hr_conn_capacity - 1;
    size_t j = i;

    for (;;) {
        j = (j + 1) & mask;
        if (hr_conn_slots[j] == NULL)
            break;
        size_t home = hr_conn_hash(hr_conn_slots[j]->context) & mask;
        /* Move slot j into the gap unless its home lies in (i, j]. */
        bool home_between =
            i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!home_between) {
            hr_conn_slots[i] = hr_conn_slots[j];
            hr_conn_slots[j] = NULL;
            i = j;
        }
    }
}

void hr_conn_remove(const redisContext *c)
{
    hr_conn *conn = NULL;

    pthread_mutex_lock(&hr_conn_lock);
    if (hr_conn_capacity != 0) {
        size_t i = hr_conn_probe(c);
        conn = hr_conn_slots[i];
        if (conn != NULL) {
            hr_conn_slots[i] = NULL;
            hr_conn_backshift(i);
            hr_conn_count--;
            atomic_fetch_add_explicit(&hr_conn_generation, 1,
                                      memory_order_release);
        }
    }
    pthread_mutex_unlock(&hr_conn_lock);

    if (conn == NULL)
        return;
    hr_conn_clear_session(conn);
    hr_pipeline_clear(conn);
    hr_transaction_end(conn);
    hr_pubsub_clear(conn);
    free(conn->spare);
    free(conn);
}

bool hr_conn_set_session(hr_conn *conn, hr_session_slot slot, const char *bytes,
                         size_t len)
{
    char *copy = malloc(len);

    if (copy == NULL)
        return false;
    memcpy(copy, bytes, len);
    if (conn->session[slot].data != NULL) {
        /* The old value may hold a password. */
        explicit_bzero(conn->session[slot].data, conn->session[slot].len);
        free(conn->session[slot].data);
    }
    conn->session[slot].data = copy;
    conn->session[slot].len = len;
    return true;
}

static void hr_conn_clear_slot(hr_conn *conn, int slot)
{
    if (conn->session[slot].data != NULL) {
        explicit_bzero(conn->session[slot].data, conn->session[slot].len);
        free(conn->session[slot].data);
    }
    conn->session[slot].data = NULL;
    conn->session[slot].len = 0;
}

void hr_conn_clear_session(hr_conn *conn)
{
    for (int slot = 0; slot < HR_SESSION_SLOTS; slot++)
        hr_conn_clear_slot(conn, slot);
    conn->awaiting_auth = false;
}

void hr_conn_clear_credentials(hr_conn *conn)
{
    hr_conn_clear_slot(conn, HR_SESSION_AUTH);
    hr_conn_clear_slot(conn, HR_SESSION_HELLO);
}

void hr_conn_endpoint(const redisContext *c, char *buf, size_t size)
{
    if (c->connection_type == REDIS_CONN_UNIX && c->unix_sock.path != NULL)
        snprintf(buf, size, "unix:%s", c->unix_sock.path);
    else if (c->tcp.host != NULL && strchr(c->tcp.host, ':') != NULL)
        snprintf(buf, size, "[%s]:%d", c->tcp.host, c->tcp.port);
    else if (c->tcp.host != NULL)
        snprintf(buf, size, "%s:%d", c->tcp.host, c->tcp.port);
    else
        snprintf(buf, size, "unknown");
}

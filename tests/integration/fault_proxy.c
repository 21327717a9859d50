/*
 * The fault-injecting proxy (see fault_proxy.h). One thread polls the
 * listening socket, a wake-up pipe and both sockets of every link, and it
 * alone touches the links. The test's thread changes only the fields under
 * the lock, and waits for the proxy thread to apply a refusal or a reset.
 */
#include "fault_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HR_PROXY_CHUNK 16384

/* Index of the link and the direction a pollfd entry reads. */
typedef struct hr_poll_source {
    int link;
    hr_fault_direction direction;
} hr_poll_source;

static void hr_proxy_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int hr_listen_on(int port)
{
    struct sockaddr_in address = {
        .sin_family = AF_INET,
        .sin_port = htons((uint16_t)port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        listen(fd, 64) != 0) {
        perror("fault proxy: listen");
        close(fd);
        return -1;
    }
    return fd;
}

static int hr_local_port(int fd)
{
    struct sockaddr_in address;
    socklen_t size = sizeof(address);

    if (getsockname(fd, (struct sockaddr *)&address, &size) != 0)
        return -1;
    return ntohs(address.sin_port);
}

static int hr_connect_server(int port)
{
    struct sockaddr_in address = {
        .sin_family = AF_INET,
        .sin_port = htons((uint16_t)port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Closes fd with a TCP reset: SO_LINGER with a zero timeout. */
static void hr_close_reset(int fd)
{
    struct linger linger = {.l_onoff = 1, .l_linger = 0};

    if (fd < 0)
        return;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof(linger));
    close(fd);
}

static void hr_link_close(hr_proxy_link *link, bool reset)
{
    if (reset) {
        hr_close_reset(link->client_fd);
        hr_close_reset(link->server_fd);
    } else {
        close(link->client_fd);
        close(link->server_fd);
    }
    memset(link, 0, sizeof(*link));
    link->client_fd = -1;
    link->server_fd = -1;
}

static void hr_proxy_accept(hr_proxy *proxy)
{
    int one = 1;
    int client = accept4(proxy->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    hr_proxy_link *link = NULL;

    if (client < 0)
        return;
    pthread_mutex_lock(&proxy->lock);
    proxy->accepted++;
    pthread_mutex_unlock(&proxy->lock);

    for (int i = 0; i < HR_PROXY_CONNECTIONS_MAX && link == NULL; i++)
        if (proxy->links[i].client_fd < 0)
            link = &proxy->links[i];

    if (link == NULL) {
        hr_close_reset(client);
        return;
    }

    /* A server that is down looks the same through the proxy: the
     * connection opens, then resets. */
    link->server_fd = hr_connect_server(proxy->server_port);
    if (link->server_fd < 0) {
        hr_close_reset(client);
        return;
    }
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    link->client_fd = client;
}

/* Binds the armed fault to link when it applies to direction. */
static void hr_link_bind(hr_proxy *proxy, hr_proxy_link *link,
                         hr_fault_direction direction)
{
    pthread_mutex_lock(&proxy->lock);
    if (proxy->armed && proxy->fault.direction == direction) {
        proxy->armed = false;
        link->fault = proxy->fault;
        link->faulted = true;
        link->forwarded[direction] = 0;
    }
    pthread_mutex_unlock(&proxy->lock);
}

/* Returns the bytes link may forward in direction before its fault. */
static size_t hr_link_limit(const hr_proxy_link *link,
                            hr_fault_direction direction)
{
    size_t left;

    if (!link->faulted || link->fault.direction != direction)
        return HR_PROXY_CHUNK;
    left = link->fault.after_bytes - link->forwarded[direction];
    return left < HR_PROXY_CHUNK ? left : HR_PROXY_CHUNK;
}

/* Fires the fault bound to link. Returns false when the link is closed or
 * stalled, so nothing more is forwarded on it. */
static bool hr_link_fire(hr_proxy *proxy, hr_proxy_link *link)
{
    hr_fault fault = link->fault;

    link->faulted = false;
    pthread_mutex_lock(&proxy->lock);
    proxy->faults++;
    pthread_mutex_unlock(&proxy->lock);

    switch (fault.action) {
    case HR_FAULT_RESET:
        hr_link_close(link, true);
        return false;
    case HR_FAULT_CLOSE:
        hr_link_close(link, false);
        return false;
    case HR_FAULT_STALL:
        link->stalled = true;
        return false;
    case HR_FAULT_DELAY:
        link->delay_ms[fault.direction] = fault.delay_ms;
        return true;
    case HR_FAULT_NONE:
        break;
    }
    return true;
}

static int hr_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Forwards one chunk of link in direction, applying its fault. */
static void hr_link_forward(hr_proxy *proxy, hr_proxy_link *link,
                            hr_fault_direction direction)
{
    char buffer[HR_PROXY_CHUNK];
    int from = direction == HR_TO_SERVER ? link->client_fd : link->server_fd;
    int to = direction == HR_TO_SERVER ? link->server_fd : link->client_fd;
    size_t limit;
    ssize_t n;

    hr_link_bind(proxy, link, direction);
    limit = hr_link_limit(link, direction);
    if (limit == 0) {
        if (!hr_link_fire(proxy, link))
            return;
        limit = HR_PROXY_CHUNK;
    }

    n = read(from, buffer, limit);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        hr_link_close(link, n < 0);
        return;
    }

    if (direction == HR_TO_SERVER && proxy->observer != NULL) {
        proxy->observer(proxy->observer_arg, (int)(link - proxy->links),
                        !link->observed, buffer, (size_t)n);
        link->observed = true;
    }
    if (link->delay_ms[direction] > 0)
        hr_proxy_sleep_ms(link->delay_ms[direction]);
    if (hr_write_all(to, buffer, (size_t)n) != 0) {
        hr_link_close(link, true);
        return;
    }
    link->forwarded[direction] += (size_t)n;
    if (hr_link_limit(link, direction) == 0)
        hr_link_fire(proxy, link);
}

/* Applies a refusal and a reset the test's thread asked for, under the
 * lock. Returns false when the proxy stops. */
static bool hr_proxy_apply(hr_proxy *proxy)
{
    char drain[64];
    bool running;

    while (read(proxy->wake_fds[0], drain, sizeof(drain)) > 0)
        ;
    pthread_mutex_lock(&proxy->lock);
    if (proxy->want_reset_all) {
        for (int i = 0; i < HR_PROXY_CONNECTIONS_MAX; i++)
            if (proxy->links[i].client_fd >= 0)
                hr_link_close(&proxy->links[i], true);
        proxy->want_reset_all = false;
    }
    if (proxy->refusing && proxy->listen_fd >= 0) {
        close(proxy->listen_fd);
        proxy->listen_fd = -1;
    } else if (!proxy->refusing && proxy->listen_fd < 0) {
        proxy->listen_fd = hr_listen_on(proxy->port);
    }
    proxy->applied = proxy->requests;
    running = proxy->running;
    pthread_cond_broadcast(&proxy->applied_cond);
    pthread_mutex_unlock(&proxy->lock);
    return running;
}

/* Fills fds with the wake-up pipe, the listening socket and the sockets of
 * every link that is not stalled. Returns the count. */
static nfds_t hr_proxy_poll_set(hr_proxy *proxy, struct pollfd *fds,
                                hr_poll_source *sources)
{
    nfds_t count = 0;

    fds[count++] = (struct pollfd){.fd = proxy->wake_fds[0], .events = POLLIN};
    fds[count++] = (struct pollfd){.fd = proxy->listen_fd, .events = POLLIN};
    for (int i = 0; i < HR_PROXY_CONNECTIONS_MAX; i++) {
        const hr_proxy_link *link = &proxy->links[i];

        if (link->client_fd < 0 || link->stalled)
            continue;
        sources[count] = (hr_poll_source){i, HR_TO_SERVER};
        fds[count++] = (struct pollfd){.fd = link->client_fd, .events = POLLIN};
        sources[count] = (hr_poll_source){i, HR_TO_CLIENT};
        fds[count++] = (struct pollfd){.fd = link->server_fd, .events = POLLIN};
    }
    return count;
}

static void *hr_proxy_main(void *arg)
{
    hr_proxy *proxy = arg;
    struct pollfd fds[2 + 2 * HR_PROXY_CONNECTIONS_MAX];
    hr_poll_source sources[2 + 2 * HR_PROXY_CONNECTIONS_MAX];

    for (;;) {
        nfds_t count = hr_proxy_poll_set(proxy, fds, sources);

        if (poll(fds, count, -1) < 0 && errno != EINTR)
            break;

        /* A refusal or a reset changes the links: poll them again. */
        if (fds[0].revents != 0) {
            if (!hr_proxy_apply(proxy))
                break;
            continue;
        }
        if (fds[1].revents != 0)
            hr_proxy_accept(proxy);
        for (nfds_t i = 2; i < count; i++) {
            hr_proxy_link *link = &proxy->links[sources[i].link];
            int fd = sources[i].direction == HR_TO_SERVER ? link->client_fd
                                                          : link->server_fd;

            /* An earlier entry may have closed or stalled this link. */
            if (fds[i].revents == 0 || fd != fds[i].fd || link->stalled)
                continue;
            hr_link_forward(proxy, link, sources[i].direction);
        }
    }
    return NULL;
}

/* Wakes the proxy thread and waits until it has applied the request. */
static void hr_proxy_request(hr_proxy *proxy)
{
    long long request;

    request = ++proxy->requests;
    if (write(proxy->wake_fds[1], "w", 1) < 0)
        perror("fault proxy: wake");
    while (proxy->applied < request)
        pthread_cond_wait(&proxy->applied_cond, &proxy->lock);
}

int hr_proxy_start(hr_proxy *proxy, int server_port)
{
    return hr_proxy_start_observed(proxy, server_port, NULL, NULL);
}

int hr_proxy_start_observed(hr_proxy *proxy, int server_port,
                            hr_proxy_observer *observer, void *arg)
{
    memset(proxy, 0, sizeof(*proxy));
    proxy->server_port = server_port;
    proxy->observer = observer;
    proxy->observer_arg = arg;
    proxy->listen_fd = -1;
    proxy->wake_fds[0] = proxy->wake_fds[1] = -1;
    for (int i = 0; i < HR_PROXY_CONNECTIONS_MAX; i++)
        proxy->links[i].client_fd = proxy->links[i].server_fd = -1;
    pthread_mutex_init(&proxy->lock, NULL);
    pthread_cond_init(&proxy->applied_cond, NULL);

    if (pipe2(proxy->wake_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        perror("fault proxy: pipe2");
        return -1;
    }
    proxy->listen_fd = hr_listen_on(0);
    if (proxy->listen_fd < 0)
        return -1;
    proxy->port = hr_local_port(proxy->listen_fd);
    proxy->running = true;
    if (pthread_create(&proxy->thread, NULL, hr_proxy_main, proxy) != 0) {
        fprintf(stderr, "fault proxy: pthread_create failed\n");
        proxy->running = false;
        return -1;
    }
    proxy->started = true;
    return 0;
}

void hr_proxy_set_fault(hr_proxy *proxy, const hr_fault *fault)
{
    pthread_mutex_lock(&proxy->lock);
    proxy->fault = *fault;
    proxy->armed = fault->action != HR_FAULT_NONE;
    pthread_mutex_unlock(&proxy->lock);
}

int hr_proxy_refuse(hr_proxy *proxy, bool refusing)
{
    bool listening;

    pthread_mutex_lock(&proxy->lock);
    proxy->refusing = refusing;
    hr_proxy_request(proxy);
    listening = proxy->listen_fd >= 0;
    pthread_mutex_unlock(&proxy->lock);
    return listening == !refusing ? 0 : -1;
}

void hr_proxy_reset_all(hr_proxy *proxy)
{
    pthread_mutex_lock(&proxy->lock);
    proxy->want_reset_all = true;
    hr_proxy_request(proxy);
    pthread_mutex_unlock(&proxy->lock);
}

long long hr_proxy_accepted(hr_proxy *proxy)
{
    long long accepted;

    pthread_mutex_lock(&proxy->lock);
    accepted = proxy->accepted;
    pthread_mutex_unlock(&proxy->lock);
    return accepted;
}

long long hr_proxy_faults(hr_proxy *proxy)
{
    long long faults;

    pthread_mutex_lock(&proxy->lock);
    faults = proxy->faults;
    pthread_mutex_unlock(&proxy->lock);
    return faults;
}

void hr_proxy_stop(hr_proxy *proxy)
{
    if (proxy->started) {
        pthread_mutex_lock(&proxy->lock);
        proxy->running = false;
        hr_proxy_request(proxy);
        pthread_mutex_unlock(&proxy->lock);
        pthread_join(proxy->thread, NULL);
        proxy->started = false;
    }
    for (int i = 0; i < HR_PROXY_CONNECTIONS_MAX; i++)
        if (proxy->links[i].client_fd >= 0)
            hr_link_close(&proxy->links[i], false);
    if (proxy->listen_fd >= 0)
        close(proxy->listen_fd);
    if (proxy->wake_fds[0] >= 0) {
        close(proxy->wake_fds[0]);
        close(proxy->wake_fds[1]);
    }
    proxy->listen_fd = proxy->wake_fds[0] = proxy->wake_fds[1] = -1;
    pthread_mutex_destroy(&proxy->lock);
    pthread_cond_destroy(&proxy->applied_cond);
}

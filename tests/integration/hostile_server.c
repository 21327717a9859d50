/*
 * The scripted RESP server (see hostile_server.h). One thread polls the
 * listening socket, the current connection and a wake-up pipe that
 * hr_hostile_stop() writes to.
 */
#include "hostile_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HR_REQUEST_BUFFER 65536
#define HR_UNSOLICITED_DELAY_MS 20

/* The connection being served. */
typedef struct hr_hostile_client {
    int fd;             /* -1 when none */
    long long index;    /* 0 for the first connection accepted */
    long long requests; /* whole requests read on it */
    char buffer[HR_REQUEST_BUFFER];
    size_t len;
} hr_hostile_client;

static void hr_hostile_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int hr_send_all(int fd, const char *data, size_t len)
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

/* Parses "<prefix><digits>\r\n" at *at. Returns the number, or -1 when the
 * line is incomplete or invalid. */
static long hr_parse_line(const char *data, size_t len, size_t *at, char prefix)
{
    const char *end;
    char *stop;
    long value;

    if (*at >= len || data[*at] != prefix)
        return -1;
    end = memchr(data + *at, '\n', len - *at);
    if (end == NULL)
        return -1;
    value = strtol(data + *at + 1, &stop, 10);
    if (stop != end - 1 || *stop != '\r' || value < 0)
        return -1;
    *at = (size_t)(end - data) + 1;
    return value;
}

/* Returns the length of the whole RESP request at the start of data, or 0
 * when it is incomplete. */
static size_t hr_request_length(const char *data, size_t len)
{
    size_t at = 0;
    long count = hr_parse_line(data, len, &at, '*');

    if (count < 0)
        return 0;
    for (long i = 0; i < count; i++) {
        long size = hr_parse_line(data, len, &at, '$');

        if (size < 0 || len - at < (size_t)size + 2)
            return 0;
        at += (size_t)size + 2;
    }
    return at;
}

static const hr_hostile_reply *hr_script_reply(const hr_hostile_script *script,
                                               long long connection,
                                               long long request)
{
    const hr_hostile_connection *replies;

    if (connection >= (long long)script->count)
        connection = (long long)script->count - 1;
    replies = &script->connections[connection];
    if (request >= (long long)replies->count)
        request = (long long)replies->count - 1;
    return &replies->replies[request];
}

static void hr_client_close(hr_hostile_client *client)
{
    if (client->fd >= 0)
        close(client->fd);
    client->fd = -1;
    client->len = 0;
}

/* Sends the scripted reply. Returns false when the connection is closed. */
static bool hr_send_reply(hr_hostile_client *client,
                          const hr_hostile_reply *reply)
{
    size_t len;

    if (reply->data == NULL) {
        hr_client_close(client);
        return false;
    }
    len = reply->len != 0 ? reply->len : strlen(reply->data);
    for (size_t sent = 0; sent < len;) {
        size_t chunk = reply->byte_by_byte ? 1 : len - sent;

        if (hr_send_all(client->fd, reply->data + sent, chunk) != 0) {
            hr_client_close(client);
            return false;
        }
        sent += chunk;
        if (reply->byte_by_byte)
            hr_hostile_sleep_ms(1);
    }
    if (reply->unsolicited != NULL) {
        hr_hostile_sleep_ms(HR_UNSOLICITED_DELAY_MS);
        hr_send_all(client->fd, reply->unsolicited, strlen(reply->unsolicited));
    }
    return true;
}

/* Reads from the client and sends the scripted reply to every whole
 * request it has sent. */
static void hr_serve(hr_hostile_server *server, hr_hostile_client *client)
{
    ssize_t n = read(client->fd, client->buffer + client->len,
                     sizeof(client->buffer) - client->len);
    size_t length;

    if (n <= 0) {
        hr_client_close(client);
        return;
    }
    client->len += (size_t)n;
    while ((length = hr_request_length(client->buffer, client->len)) > 0) {
        const hr_hostile_reply *reply =
            hr_script_reply(&server->script, client->index, client->requests);

        memmove(client->buffer, client->buffer + length, client->len - length);
        client->len -= length;
        client->requests++;
        pthread_mutex_lock(&server->lock);
        server->requests++;
        pthread_mutex_unlock(&server->lock);
        if (!hr_send_reply(client, reply))
            return;
    }
    /* A request larger than the buffer is never whole: drop the client. */
    if (client->len == sizeof(client->buffer))
        hr_client_close(client);
}

static void hr_accept(hr_hostile_server *server, hr_hostile_client *client)
{
    int fd = accept4(server->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0)
        return;
    hr_client_close(client);
    client->fd = fd;
    client->requests = 0;
    pthread_mutex_lock(&server->lock);
    client->index = server->accepted++;
    pthread_mutex_unlock(&server->lock);
}

static void *hr_hostile_main(void *arg)
{
    hr_hostile_server *server = arg;
    hr_hostile_client *client = calloc(1, sizeof(*client));

    if (client == NULL)
        return NULL;
    client->fd = -1;
    for (;;) {
        struct pollfd fds[3] = {
            {.fd = server->wake_fds[0], .events = POLLIN},
            {.fd = server->listen_fd, .events = POLLIN},
            {.fd = client->fd, .events = POLLIN},
        };

        if (poll(fds, 3, -1) < 0 && errno != EINTR)
            break;
        if (fds[0].revents != 0)
            break;
        if (fds[2].revents != 0)
            hr_serve(server, client);
        if (fds[1].revents != 0)
            hr_accept(server, client);
    }
    hr_client_close(client);
    free(client);
    return NULL;
}

static int hr_listen_any_port(int *port)
{
    struct sockaddr_in address = {
        .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    socklen_t size = sizeof(address);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &size) != 0) {
        perror("hostile server: listen");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(address.sin_port);
    return fd;
}

int hr_hostile_start(hr_hostile_server *server, const hr_hostile_script *script)
{
    memset(server, 0, sizeof(*server));
    server->script = *script;
    server->listen_fd = -1;
    server->wake_fds[0] = server->wake_fds[1] = -1;
    pthread_mutex_init(&server->lock, NULL);

    if (pipe2(server->wake_fds, O_CLOEXEC) != 0) {
        perror("hostile server: pipe2");
        return -1;
    }
    server->listen_fd = hr_listen_any_port(&server->port);
    if (server->listen_fd < 0)
        return -1;
    if (pthread_create(&server->thread, NULL, hr_hostile_main, server) != 0) {
        fprintf(stderr, "hostile server: pthread_create failed\n");
        return -1;
    }
    server->started = true;
    return 0;
}

long long hr_hostile_accepted(hr_hostile_server *server)
{
    long long accepted;

    pthread_mutex_lock(&server->lock);
    accepted = server->accepted;
    pthread_mutex_unlock(&server->lock);
    return accepted;
}

long long hr_hostile_requests(hr_hostile_server *server)
{
    long long requests;

    pthread_mutex_lock(&server->lock);
    requests = server->requests;
    pthread_mutex_unlock(&server->lock);
    return requests;
}

void hr_hostile_stop(hr_hostile_server *server)
{
    if (server->started) {
        if (write(server->wake_fds[1], "s", 1) < 0)
            perror("hostile server: wake");
        pthread_join(server->thread, NULL);
        server->started = false;
    }
    if (server->listen_fd >= 0)
        close(server->listen_fd);
    if (server->wake_fds[0] >= 0) {
        close(server->wake_fds[0]);
        close(server->wake_fds[1]);
    }
    server->listen_fd = server->wake_fds[0] = server->wake_fds[1] = -1;
    pthread_mutex_destroy(&server->lock);
}

/*
 * Real valkey-server and redis-server processes for the integration tests:
 * started on free loopback ports, killed, restarted and stopped by pid.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HR_PORT_ATTEMPTS 5

static int hr_server_count;

const char *hr_server_kind_name(hr_server_kind kind)
{
    return kind == HR_SERVER_REDIS ? "redis-server" : "valkey-server";
}

static const char *hr_server_binary(hr_server_kind kind)
{
    return kind == HR_SERVER_REDIS ? HIRETRY_REDIS_SERVER_PATH
                                   : HIRETRY_VALKEY_SERVER_PATH;
}

int hr_harness_free_port(void)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    socklen_t length = sizeof(address);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;

    if (fd < 0)
        return -1;

    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&address, sizeof(address)) == 0 &&
        getsockname(fd, (struct sockaddr *)&address, &length) == 0)
        port = ntohs(address.sin_port);

    close(fd);
    return port;
}

static int hr_server_build_argv(hr_server *server,
                                const hr_server_options *options)
{
    hr_string_list *argv = &server->argv;
    int rc = 0;

    hr_string_list_free(argv);
    rc |= hr_string_list_add(argv, "%s", hr_server_binary(server->kind));
    rc |= hr_string_list_add(argv, "--bind");
    rc |= hr_string_list_add(argv, "127.0.0.1");
    rc |= hr_string_list_add(argv, "--port");
    rc |= hr_string_list_add(argv, "%d", server->port);
    rc |= hr_string_list_add(argv, "--dir");
    rc |= hr_string_list_add(argv, "%s", server->dir);
    rc |= hr_string_list_add(argv, "--logfile");
    rc |= hr_string_list_add(argv, "%s", server->log_path);
    rc |= hr_string_list_add(argv, "--save");
    rc |= hr_string_list_add(argv, "%s", "");
    rc |= hr_string_list_add(argv, "--daemonize");
    rc |= hr_string_list_add(argv, "no");
    rc |= hr_string_list_add(argv, "--enable-debug-command");
    rc |= hr_string_list_add(argv, "local");
    rc |= hr_string_list_add(argv, "--timeout");
    rc |= hr_string_list_add(argv, "%d", options->idle_timeout_s);
    rc |= hr_string_list_add(argv, "--appendonly");
    rc |= hr_string_list_add(argv, options->appendonly ? "yes" : "no");

    /* "always" makes every acknowledged write survive SIGKILL. */
    if (options->appendonly) {
        rc |= hr_string_list_add(argv, "--appendfsync");
        rc |= hr_string_list_add(argv, "always");
    }
    if (options->password != NULL) {
        rc |= hr_string_list_add(argv, "--requirepass");
        rc |= hr_string_list_add(argv, "%s", options->password);
    }
    if (options->unix_socket) {
        rc |= hr_string_list_add(argv, "--unixsocket");
        rc |= hr_string_list_add(argv, "%s", server->socket_path);
        rc |= hr_string_list_add(argv, "--unixsocketperm");
        rc |= hr_string_list_add(argv, "700");
    }
    for (size_t i = 0; options->extra_args && options->extra_args[i]; i++)
        rc |= hr_string_list_add(argv, "%s", options->extra_args[i]);
    return rc;
}

static int hr_server_make_dir(hr_server *server,
                              const hr_server_options *options)
{
    const char *base = hr_harness_dir();

    if (base == NULL)
        return -1;

    if (hr_harness_path(server->dir, sizeof(server->dir), "%s/server-%d", base,
                        ++hr_server_count) != 0 ||
        hr_harness_path(server->log_path, sizeof(server->log_path),
                        "%s/server.log", server->dir) != 0)
        return -1;

    /* The path must fit in sockaddr_un's sun_path of 108 bytes. */
    if (options->unix_socket &&
        hr_harness_path(server->socket_path, 108, "%s/server.sock",
                        server->dir) != 0)
        return -1;

    if (mkdir(server->dir, 0700) != 0) {
        fprintf(stderr, "harness: mkdir %s failed: %s\n", server->dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int hr_server_spawn(hr_server *server, int delay_ms)
{
    char out_path[sizeof(server->dir) + 16];

    if (server->pid != 0) {
        fprintf(stderr, "harness: %s on port %d is still running\n",
                hr_server_kind_name(server->kind), server->port);
        return -1;
    }

    /* The server writes to its log file once configured; errors in the
     * arguments reach stdout before that. */
    if (hr_harness_path(out_path, sizeof(out_path), "%s/server.out",
                        server->dir) != 0)
        return -1;
    return hr_process_spawn(server->argv.items, NULL, out_path, out_path,
                            delay_ms, &server->pid);
}

int hr_server_start(hr_server *server, const hr_server_options *options)
{
    memset(server, 0, sizeof(*server));
    server->kind = options->kind;
    if (options->password != NULL)
        server->password = strdup(options->password);
    if (hr_server_make_dir(server, options) != 0)
        return -1;

    for (int attempt = 0; attempt < HR_PORT_ATTEMPTS; attempt++) {
        server->port = hr_harness_free_port();
        if (server->port < 0 || hr_server_build_argv(server, options) != 0)
            return -1;
        if (hr_server_spawn(server, 0) != 0)
            return -1;
        if (hr_server_wait_ready(server, HR_SERVER_WAIT_MS) == 0)
            return 0;

        /* Still running but never ready: another port will not help. */
        if (server->pid != 0) {
            hr_process_kill(server->pid, NULL);
            server->pid = 0;
            return -1;
        }
    }
    return -1;
}

/* Writes the Sentinel's configuration file, which Sentinel rewrites as it
 * learns about replicas and other Sentinels. */
static int hr_sentinel_write_config(hr_server *sentinel, const char *path,
                                    const hr_sentinel_options *options)
{
    const char *name = options->master_name;
    FILE *file = fopen(path, "w");

    if (file == NULL) {
        fprintf(stderr, "harness: creating %s failed: %s\n", path,
                strerror(errno));
        return -1;
    }
    fprintf(file, "port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n",
            sentinel->port, sentinel->dir, sentinel->log_path);
    fprintf(file, "sentinel monitor %s 127.0.0.1 %d %d\n", name,
            options->master_port, options->quorum);
    fprintf(file, "sentinel down-after-milliseconds %s %d\n", name,
            options->down_after_ms);
    fprintf(file, "sentinel failover-timeout %s %d\n", name,
            options->failover_timeout_ms);
    if (options->auth_pass != NULL)
        fprintf(file, "sentinel auth-pass %s %s\n", name, options->auth_pass);
    /* Sentinels with a password need it to talk to each other too. */
    if (options->password != NULL)
        fprintf(file, "requirepass %s\nsentinel sentinel-pass %s\n",
                options->password, options->password);
    return fclose(file) == 0 ? 0 : -1;
}

int hr_sentinel_start(hr_server *sentinel, const hr_sentinel_options *options)
{
    hr_server_options dir_options = {.kind = HR_SERVER_VALKEY};
    char path[sizeof(sentinel->dir) + 16];

    memset(sentinel, 0, sizeof(*sentinel));
    sentinel->kind = HR_SERVER_VALKEY;
    if (options->password != NULL)
        sentinel->password = strdup(options->password);
    if (hr_server_make_dir(sentinel, &dir_options) != 0 ||
        hr_harness_path(path, sizeof(path), "%s/sentinel.conf",
                        sentinel->dir) != 0)
        return -1;

    for (int attempt = 0; attempt < HR_PORT_ATTEMPTS; attempt++) {
        int rc = 0;

        sentinel->port = hr_harness_free_port();
        if (sentinel->port < 0 ||
            hr_sentinel_write_config(sentinel, path, options) != 0)
            return -1;
        hr_string_list_free(&sentinel->argv);
        rc |= hr_string_list_add(&sentinel->argv, "%s",
                                 HIRETRY_VALKEY_SERVER_PATH);
        rc |= hr_string_list_add(&sentinel->argv, "%s", path);
        rc |= hr_string_list_add(&sentinel->argv, "--sentinel");
        if (rc != 0 || hr_server_spawn(sentinel, 0) != 0)
            return -1;
        if (hr_server_wait_ready(sentinel, HR_SERVER_WAIT_MS) == 0)
            return 0;
        if (sentinel->pid != 0) {
            hr_process_kill(sentinel->pid, NULL);
            sentinel->pid = 0;
            return -1;
        }
    }
    return -1;
}

int hr_server_kill(hr_server *server)
{
    int rc;

    if (server->pid == 0) {
        fprintf(stderr, "harness: kill: %s on port %d is not running\n",
                hr_server_kind_name(server->kind), server->port);
        return -1;
    }
    rc = hr_process_kill(server->pid, NULL);
    server->pid = 0;
    return rc;
}

int hr_server_restart_after(hr_server *server, int delay_ms)
{
    return hr_server_spawn(server, delay_ms);
}

int hr_server_restart(hr_server *server)
{
    if (hr_server_restart_after(server, 0) != 0)
        return -1;
    return hr_server_wait_ready(server, HR_SERVER_WAIT_MS);
}

int hr_server_stop(hr_server *server)
{
    int rc = 0;

    if (server->pid != 0) {
        kill(server->pid, SIGTERM);
        if (hr_process_wait(server->pid, HR_SERVER_WAIT_MS, NULL) != 0) {
            fprintf(stderr, "harness: %s %d ignored SIGTERM\n",
                    hr_server_kind_name(server->kind), (int)server->pid);
            hr_process_kill(server->pid, NULL);
            rc = -1;
        }
        server->pid = 0;
    }

    if (server->dir[0] != '\0')
        hr_harness_remove_tree(server->dir);
    hr_string_list_free(&server->argv);
    free(server->password);
    server->password = NULL;
    return rc;
}

int hr_server_wait_ready(hr_server *server, int timeout_ms)
{
    int64_t deadline = hr_harness_now_ms() + timeout_ms;
    int status;

    while (server->pid != 0) {
        if (hr_process_wait(server->pid, 0, &status) == 0) {
            fprintf(stderr, "harness: %s on port %d exited with status %d\n",
                    hr_server_kind_name(server->kind), server->port, status);
            server->pid = 0;
            break;
        }
        if (hr_server_ping(server))
            return 0;
        if (hr_harness_now_ms() >= deadline) {
            fprintf(stderr, "harness: %s on port %d not ready after %d ms\n",
                    hr_server_kind_name(server->kind), server->port,
                    timeout_ms);
            break;
        }
        hr_harness_sleep_ms(10);
    }

    hr_server_print_log(server, 10);
    return -1;
}

void hr_server_print_log(const hr_server *server, int lines)
{
    char path[sizeof(server->dir) + 16];
    char label[64];

    snprintf(label, sizeof(label), "%s:%d", hr_server_kind_name(server->kind),
             server->port);
    if (hr_harness_path(path, sizeof(path), "%s/server.out", server->dir) == 0)
        hr_harness_print_tail(path, lines, label);
    hr_harness_print_tail(server->log_path, lines, label);
}

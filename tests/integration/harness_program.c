/*
 * Programs under test: started with an extra environment, waited for with a
 * timeout, their stdout and stderr captured in files and read back, and
 * their "key=value" result lines parsed.
 */
#include "harness.h"
#include "hr_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hr_program_count;

int hr_program_start(hr_program *program, const hr_string_list *argv,
                     const hr_string_list *env)
{
    const char *base = hr_harness_dir();

    memset(program, 0, sizeof(*program));
    program->status = -1;
    if (base == NULL || argv->count == 0)
        return -1;

    hr_program_count++;
    if (hr_harness_path(program->out_path, sizeof(program->out_path),
                        "%s/program-%d.out", base, hr_program_count) != 0 ||
        hr_harness_path(program->err_path, sizeof(program->err_path),
                        "%s/program-%d.err", base, hr_program_count) != 0)
        return -1;
    return hr_process_spawn(argv->items, env ? env->items : NULL,
                            program->out_path, program->err_path, 0,
                            &program->pid);
}

static char *hr_program_read(const char *path)
{
    char *text = hr_harness_read_file(path);

    return text != NULL ? text : strdup("");
}

int hr_program_wait(hr_program *program, int timeout_ms)
{
    int rc = -1;

    if (program->pid != 0) {
        rc = hr_process_wait(program->pid, timeout_ms, &program->status);
        if (rc == 1) {
            fprintf(stderr, "harness: program %d timed out after %d ms\n",
                    (int)program->pid, timeout_ms);
            program->timed_out = true;
            hr_process_kill(program->pid, &program->status);
        }
        program->pid = 0;
    }

    free(program->out);
    free(program->err);
    program->out = hr_program_read(program->out_path);
    program->err = hr_program_read(program->err_path);
    return rc == 0 ? 0 : -1;
}

int hr_program_run(hr_program *program, const hr_string_list *argv,
                   const hr_string_list *env, int timeout_ms)
{
    if (hr_program_start(program, argv, env) != 0)
        return -1;
    return hr_program_wait(program, timeout_ms);
}

void hr_program_print(const hr_program *program, const char *label)
{
    fprintf(stderr, "---- %s: status %d%s\n", label, program->status,
            program->timed_out ? " (timed out)" : "");
    hr_harness_print_tail(program->out_path, 100, label);
    hr_harness_print_tail(program->err_path, 40, label);
}

void hr_program_free(hr_program *program)
{
    if (program->pid != 0)
        hr_process_kill(program->pid, &program->status);
    program->pid = 0;

    free(program->out);
    free(program->err);
    program->out = NULL;
    program->err = NULL;
    if (program->out_path[0] != '\0')
        remove(program->out_path);
    if (program->err_path[0] != '\0')
        remove(program->err_path);
}

bool hr_program_value(const hr_program *program, const char *key, char *value,
                      size_t size)
{
    size_t key_length = strlen(key);
    const char *line = program->out;
    bool found = false;

    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        size_t length = end ? (size_t)(end - line) : strlen(line);

        if (length > key_length && strncmp(line, key, key_length) == 0 &&
            line[key_length] == '=') {
            size_t value_length = length - key_length - 1;

            if (value_length >= size)
                value_length = size - 1;
            memcpy(value, line + key_length + 1, value_length);
            value[value_length] = '\0';
            found = true;
        }
        line = end ? end + 1 : NULL;
    }
    return found;
}

long long hr_program_integer(const hr_program *program, const char *key)
{
    char value[64];
    char *end;
    long long number;

    if (!hr_program_value(program, key, value, sizeof(value)))
        return -1;

    errno = 0;
    number = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0')
        return -1;
    return number;
}

void hr_workload_results_read(const hr_program *program,
                              hr_workload_results *results)
{
    results->ops = hr_program_integer(program, "ops");
    results->ok = hr_program_integer(program, "ok");
    results->errors = hr_program_integer(program, "errors");
    results->incr_acknowledged =
        hr_program_integer(program, "incr_acknowledged");
    results->last_incr_value = hr_program_integer(program, "last_incr_value");
    results->set_acknowledged = hr_program_integer(program, "set_acknowledged");
    results->get_hits = hr_program_integer(program, "get_hits");
    results->get_nil = hr_program_integer(program, "get_nil");
    if (!hr_program_value(program, "first_error", results->first_error,
                          sizeof(results->first_error)))
        results->first_error[0] = '\0';
    if (!hr_program_value(program, "last_error", results->last_error,
                          sizeof(results->last_error)))
        results->last_error[0] = '\0';
}

void hr_test_finish(hr_server *server, hr_program *program,
                    unsigned failures_before)
{
    if (CU_get_number_of_failures() != failures_before) {
        hr_program_print(program, "program");
        hr_server_print_log(server, 20);
    }
    hr_program_free(program);
    HR_ASSERT_INT_EQ(hr_server_stop(server), 0);
}

int hr_workload_args(hr_string_list *argv, const hr_server *server,
                     bool use_unix_socket)
{
    int rc = hr_string_list_add(argv, "%s", HIRETRY_WORKLOAD_PATH);

    if (use_unix_socket) {
        rc |= hr_string_list_add(argv, "--unix");
        rc |= hr_string_list_add(argv, "%s", server->socket_path);
    } else {
        rc |= hr_string_list_add(argv, "--host");
        rc |= hr_string_list_add(argv, "127.0.0.1");
        rc |= hr_string_list_add(argv, "--port");
        rc |= hr_string_list_add(argv, "%d", server->port);
    }
    if (server->password != NULL) {
        rc |= hr_string_list_add(argv, "--password");
        rc |= hr_string_list_add(argv, "%s", server->password);
    }
    return rc;
}

int hr_script_args(hr_string_list *argv, const hr_server *server,
                   int timeout_ms)
{
    int rc = hr_string_list_add(argv, "%s", HIRETRY_SCRIPT_PATH);

    rc |= hr_string_list_add(argv, "--port");
    rc |= hr_string_list_add(argv, "%d", server->port);
    rc |= hr_string_list_add(argv, "--timeout-ms");
    rc |= hr_string_list_add(argv, "%d", timeout_ms);
    return rc;
}

int hr_preload_env(hr_string_list *env, const char *shim_path)
{
    const char *asan = getenv("ASAN_OPTIONS");
    int rc = hr_string_list_add(env, "LD_PRELOAD=%s", shim_path);

    if (asan != NULL && asan[0] != '\0')
        rc |= hr_string_list_add(
            env, "ASAN_OPTIONS=%s:verify_asan_link_order=0", asan);
    else
        rc |= hr_string_list_add(env, "ASAN_OPTIONS=verify_asan_link_order=0");
    return rc;
}

int hr_run_across_restart(hr_server *server, hr_program *program,
                          const hr_string_list *argv, const hr_string_list *env,
                          const char *command, long long calls, int down_ms,
                          int timeout_ms)
{
    int rc = 0;

    if (hr_program_start(program, argv, env) != 0)
        return -1;

    /* Waiting for the server to count the program's commands makes the
     * kill land in the middle of the run however slow the machine is. */
    if (hr_server_wait_calls(server, command, calls, HR_SERVER_WAIT_MS) != 0)
        rc = -1;
    if (rc == 0 && hr_server_kill(server) != 0)
        rc = -1;
    if (rc == 0 && hr_server_restart_after(server, down_ms) != 0)
        rc = -1;
    if (rc == 0 && hr_server_wait_ready(server, down_ms + HR_SERVER_WAIT_MS))
        rc = -1;

    if (hr_program_wait(program, timeout_ms) != 0)
        rc = -1;
    return rc;
}

/*
 * TLS with hiredis 1.x: hr_tls_client talks to a real valkey-server over
 * TLS, with a certificate authority and certificates the test makes with
 * openssl, through fault_proxy.c run as a plain relay on 127.0.0.1.
 *
 * hiredis's redisReconnect frees a context's SSL state without repeating
 * the handshake, so a plain program that reconnects crashes at its next
 * command. With the shim preloaded, every reconnect repeats the handshake
 * before the session is restored. The relay copies the bytes unchanged and
 * checks, on every connection, that the client's first byte opens a TLS
 * handshake record and that no command, key or password ever crosses it in
 * plain text.
 *
 * Only built against hiredis 1.x with libhiredis_ssl; other builds skip it.
 */
#include "fault_proxy.h"
#include "harness.h"
#include "hr_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HR_PASSWORD "tls-password"
#define HR_DB 4
#define HR_PROGRAM_TIMEOUT_MS 60000
#define HR_TLS_HANDSHAKE_RECORD 0x16 /* TLS content type "handshake" */

#ifdef HIRETRY_TLS_CLIENT_PATH

/* What the relay saw of the bytes the program sent, written on the
 * proxy's thread and read once it has stopped. */
typedef struct hr_wire_check {
    int tls_first_bytes;   /* connections that opened with a TLS record */
    int other_first_bytes; /* connections that opened with anything else */
    bool plaintext_seen;   /* a command, key or the password went across */
    char tail[HR_PROXY_CONNECTIONS_MAX][16]; /* last bytes of each link,
                                                for markers split in two */
    size_t tail_len[HR_PROXY_CONNECTIONS_MAX];
} hr_wire_check;

static const char *const hr_plaintext_markers[] = {
    "INCR", "AUTH", "SELECT", "counter", HR_PASSWORD,
};

/* Records the first byte of each connection and any plaintext marker in
 * the bytes the program sends, markers split across two chunks included. */
static void hr_wire_observe(void *arg, int link, bool first, const char *bytes,
                            size_t len)
{
    hr_wire_check *check = arg;
    char window[sizeof(check->tail[0]) + 65536];
    size_t n = first ? 0 : check->tail_len[link];

    if (first) {
        if ((unsigned char)bytes[0] == HR_TLS_HANDSHAKE_RECORD)
            check->tls_first_bytes++;
        else
            check->other_first_bytes++;
    }
    if (len > sizeof(window) - n)
        len = sizeof(window) - n;
    memcpy(window, check->tail[link], n);
    memcpy(window + n, bytes, len);
    n += len;
    for (size_t i = 0;
         i < sizeof(hr_plaintext_markers) / sizeof(hr_plaintext_markers[0]);
         i++)
        check->plaintext_seen |=
            memmem(window, n, hr_plaintext_markers[i],
                   strlen(hr_plaintext_markers[i])) != NULL;
    check->tail_len[link] =
        n < sizeof(check->tail[0]) ? n : sizeof(check->tail[0]);
    memcpy(check->tail[link], window + n - check->tail_len[link],
           check->tail_len[link]);
}

/* ---- Certificates ---- */

/* Paths of one certificate authority and the server certificate it signed. */
typedef struct hr_pki {
    char ca[256];
    char cert[256];
    char key[256];
} hr_pki;

static int hr_openssl(const char *const *args)
{
    hr_string_list argv = {0};
    hr_program program = {0};
    int rc = hr_string_list_add(&argv, "%s", HIRETRY_OPENSSL_PATH);

    for (size_t i = 0; args[i] != NULL; i++)
        rc |= hr_string_list_add(&argv, "%s", args[i]);
    if (rc == 0)
        rc = hr_program_run(&program, &argv, NULL, 30000);
    if (rc == 0 && program.status != 0) {
        hr_program_print(&program, "openssl");
        rc = -1;
    }
    hr_program_free(&program);
    hr_string_list_free(&argv);
    return rc;
}

/* Makes a CA named name and a server certificate for 127.0.0.1 that it
 * signed, in the harness directory. */
static int hr_make_pki(hr_pki *pki, const char *name)
{
    const char *dir = hr_harness_dir();
    char ca_key[256], csr[256], ext[256], subject[64];
    FILE *f;
    int rc = 0;

    rc |= hr_harness_path(pki->ca, sizeof(pki->ca), "%s/%s-ca.crt", dir, name);
    rc |= hr_harness_path(ca_key, sizeof(ca_key), "%s/%s-ca.key", dir, name);
    rc |= hr_harness_path(pki->cert, sizeof(pki->cert), "%s/%s-server.crt", dir,
                          name);
    rc |= hr_harness_path(pki->key, sizeof(pki->key), "%s/%s-server.key", dir,
                          name);
    rc |= hr_harness_path(csr, sizeof(csr), "%s/%s-server.csr", dir, name);
    rc |= hr_harness_path(ext, sizeof(ext), "%s/%s-server.ext", dir, name);
    snprintf(subject, sizeof(subject), "/CN=hiretry test CA %s", name);
    if (rc != 0 || (f = fopen(ext, "w")) == NULL)
        return -1;
    fputs("subjectAltName=IP:127.0.0.1\n", f);
    fclose(f);

    const char *const make_ca[] = {
        "req",   "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", subject, "-keyout", ca_key,     "-out",   pki->ca, NULL};
    const char *const make_request[] = {
        "req",     "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", pki->key,  "-out",     csr,      NULL};
    const char *const sign[] = {
        "x509",        "-req", "-in",   csr,       "-CA",      pki->ca,
        "-CAkey",      ca_key, "-days", "2",       "-extfile", ext,
        "-set_serial", "1",    "-out",  pki->cert, NULL};
    if (hr_openssl(make_ca) != 0 || hr_openssl(make_request) != 0 ||
        hr_openssl(sign) != 0)
        return -1;
    return 0;
}

/* Copies the file at from over the file at to. */
static int hr_copy_file(const char *from, const char *to)
{
    char *text = hr_harness_read_file(from);
    FILE *f = text ? fopen(to, "w") : NULL;
    int rc = -1;

    if (f != NULL) {
        rc = fputs(text, f) < 0 ? -1 : 0;
        rc |= fclose(f);
    }
    free(text);
    return rc;
}

/* ---- The server and the program ---- */

typedef struct hr_tls_setup {
    hr_server server;
    hr_proxy relay;     /* between the program and the TLS port */
    hr_wire_check wire; /* what the relay saw */
    hr_pki good;
    char cert[256]; /* the files the server loads, copied from a pki */
    char key[256];
    int tls_port;
} hr_tls_setup;

/* Points the server's certificate files at pki's, for its next start. */
static int hr_use_pki(hr_tls_setup *setup, const hr_pki *pki)
{
    if (hr_copy_file(pki->cert, setup->cert) != 0 ||
        hr_copy_file(pki->key, setup->key) != 0)
        return -1;
    return 0;
}

static bool hr_tls_start(hr_tls_setup *setup)
{
    char port[16];
    int rc = hr_make_pki(&setup->good, "good");

    rc |= hr_harness_path(setup->cert, sizeof(setup->cert), "%s/server.crt",
                          hr_harness_dir());
    rc |= hr_harness_path(setup->key, sizeof(setup->key), "%s/server.key",
                          hr_harness_dir());
    if (rc == 0)
        rc = hr_use_pki(setup, &setup->good);
    setup->tls_port = hr_harness_free_port();
    HR_ASSERT_INT_EQ(rc, 0);
    HR_ASSERT_TRUE(setup->tls_port > 0);
    if (rc != 0 || setup->tls_port <= 0)
        return false;

    snprintf(port, sizeof(port), "%d", setup->tls_port);
    const char *const extra[] = {"--tls-port",
                                 port,
                                 "--tls-cert-file",
                                 setup->cert,
                                 "--tls-key-file",
                                 setup->key,
                                 "--tls-ca-cert-file",
                                 setup->good.ca,
                                 "--tls-auth-clients",
                                 "no",
                                 NULL};
    hr_server_options options = {
        .kind = HR_SERVER_VALKEY, .password = HR_PASSWORD, .extra_args = extra};
    rc = hr_server_start(&setup->server, &options);
    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0) {
        hr_server_stop(&setup->server);
        return false;
    }
    memset(&setup->wire, 0, sizeof(setup->wire));
    rc = hr_proxy_start_observed(&setup->relay, setup->tls_port,
                                 hr_wire_observe, &setup->wire);
    HR_ASSERT_INT_EQ(rc, 0);
    if (rc != 0) {
        hr_proxy_stop(&setup->relay);
        hr_server_stop(&setup->server);
        return false;
    }
    return true;
}

/* Starts hr_tls_client against the relay; shim_settings NULL: no shim. */
static int hr_client_start(hr_program *program, const hr_tls_setup *setup,
                           int ops, bool reconnect,
                           const char *const *shim_settings)
{
    hr_string_list argv = {0};
    hr_string_list env = {0};
    int rc = hr_string_list_add(&argv, "%s", HIRETRY_TLS_CLIENT_PATH);

    rc |= hr_string_list_add(&argv, "--port");
    rc |= hr_string_list_add(&argv, "%d", setup->relay.port);
    rc |= hr_string_list_add(&argv, "--ca");
    rc |= hr_string_list_add(&argv, "%s", setup->good.ca);
    rc |= hr_string_list_add(&argv, "--password");
    rc |= hr_string_list_add(&argv, HR_PASSWORD);
    rc |= hr_string_list_add(&argv, "--db");
    rc |= hr_string_list_add(&argv, "%d", HR_DB);
    rc |= hr_string_list_add(&argv, "--ops");
    rc |= hr_string_list_add(&argv, "%d", ops);
    rc |= hr_string_list_add(&argv, "--sleep-ms");
    rc |= hr_string_list_add(&argv, "10");
    if (reconnect)
        rc |= hr_string_list_add(&argv, "--reconnect");
    if (shim_settings != NULL) {
        rc |= hr_preload_env(&env, HIRETRY_SHIM_PATH);
        rc |= hr_string_list_add(&env, "HIRETRY_LOG=info");
        for (size_t i = 0; shim_settings[i] != NULL; i++)
            rc |= hr_string_list_add(&env, "%s", shim_settings[i]);
    }
    if (rc == 0)
        rc = hr_program_start(program, &argv, &env);
    hr_string_list_free(&argv);
    hr_string_list_free(&env);
    return rc;
}

/* Waits until the server has run INCR calls times, then kills every client
 * connection. */
static void hr_kill_after_calls(hr_tls_setup *setup, long long calls)
{
    HR_ASSERT_INT_EQ(hr_server_wait_calls(&setup->server, "incr", calls,
                                          HR_PROGRAM_TIMEOUT_MS),
                     0);
    HR_ASSERT_TRUE(hr_server_kill_clients(&setup->server) >= 1);
}

/* Stops the relay and checks that no connection sent plain text. The
 * relay's counts stay in setup->wire for the test's own checks. */
static void hr_tls_finish(hr_tls_setup *setup, hr_program *program,
                          unsigned failures)
{
    const hr_wire_check *wire = &setup->wire;
    long long connections = hr_proxy_accepted(&setup->relay);

    hr_proxy_stop(&setup->relay);
    printf("relay: connections=%lld tls_first_bytes=%d other_first_bytes=%d "
           "plaintext_seen=%d\n",
           connections, wire->tls_first_bytes, wire->other_first_bytes,
           wire->plaintext_seen);
    HR_ASSERT_INT_EQ(wire->other_first_bytes, 0);
    HR_ASSERT_TRUE(!wire->plaintext_seen);
    hr_test_finish(&setup->server, program, failures);
}

/* ---- Tests ---- */

/*
 * The bug the shim works around: without it, a program that calls
 * redisReconnect after a failed command crashes at its next command.
 */
static void test_tls_plain_reconnect_crashes(void)
{
    unsigned failures = CU_get_number_of_failures();
    hr_tls_setup setup;
    hr_program program = {0};

    if (!hr_tls_start(&setup))
        return;
    HR_ASSERT_INT_EQ(hr_client_start(&program, &setup, 100, true, NULL), 0);
    hr_kill_after_calls(&setup, 20);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    HR_ASSERT_INT_EQ(program.status, 128 + SIGSEGV);
    hr_tls_finish(&setup, &program, failures);
    HR_ASSERT_INT_EQ(setup.wire.tls_first_bytes, 1);
}

/*
 * Connections killed three times and a server restart, with the shim: the
 * program gets no error, its own redisReconnect included, and every new
 * connection starts with a TLS handshake.
 */
static void hr_check_recovery(bool reconnect)
{
    static const char *const settings[] = {"HIRETRY_RETRIES=50",
                                           "HIRETRY_WRITES=all", NULL};
    unsigned failures = CU_get_number_of_failures();
    hr_tls_setup setup;
    hr_program program = {0};

    if (!hr_tls_start(&setup))
        return;
    HR_ASSERT_INT_EQ(
        hr_client_start(&program, &setup, 200, reconnect, settings), 0);
    for (int kill = 1; kill <= 3; kill++)
        hr_kill_after_calls(&setup, 30 * kill);
    HR_ASSERT_INT_EQ(
        hr_server_wait_calls(&setup.server, "incr", 120, HR_PROGRAM_TIMEOUT_MS),
        0);
    HR_ASSERT_INT_EQ(hr_server_kill(&setup.server), 0);
    HR_ASSERT_INT_EQ(hr_server_restart_after(&setup.server, 300), 0);
    HR_ASSERT_INT_EQ(hr_server_wait_ready(&setup.server, 10000), 0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "ok"), 200);
    HR_ASSERT_INT_EQ(hr_program_integer(&program, "errors"), 0);
    HR_ASSERT_TRUE(strstr(program.err, "event=retry") != NULL);
    /* INCRs after the restart count from the data the server kept: none,
       since it saves nothing, so the counter shows only those. */
    HR_ASSERT_TRUE(hr_server_get_integer(&setup.server, HR_DB, "counter") > 0);
    hr_tls_finish(&setup, &program, failures);
    /* The first connection, one per kill and at least one after the
       restart, each opened with a handshake. */
    HR_ASSERT_TRUE(setup.wire.tls_first_bytes >= 5);
}

static void test_tls_kills_and_restart_recover(void)
{
    hr_check_recovery(false);
}

static void test_tls_program_reconnect_recovers(void)
{
    hr_check_recovery(true);
}

/*
 * The server comes back with a certificate the program does not trust: the
 * repeated handshake fails, the program gets errors instead of a crash or
 * a plain-text connection, and recovers once the right certificate is back.
 */
static void test_tls_failed_handshake_never_plaintext(void)
{
    static const char *const settings[] = {"HIRETRY_RETRIES=2",
                                           "HIRETRY_WRITES=all", NULL};
    unsigned failures = CU_get_number_of_failures();
    hr_tls_setup setup;
    hr_program program = {0};
    hr_pki other;

    if (!hr_tls_start(&setup))
        return;
    HR_ASSERT_INT_EQ(hr_make_pki(&other, "other"), 0);
    HR_ASSERT_INT_EQ(hr_client_start(&program, &setup, 300, false, settings),
                     0);
    HR_ASSERT_INT_EQ(
        hr_server_wait_calls(&setup.server, "incr", 30, HR_PROGRAM_TIMEOUT_MS),
        0);

    HR_ASSERT_INT_EQ(hr_server_kill(&setup.server), 0);
    HR_ASSERT_INT_EQ(hr_use_pki(&setup, &other), 0);
    HR_ASSERT_INT_EQ(hr_server_restart(&setup.server), 0);
    hr_harness_sleep_ms(1000);
    HR_ASSERT_INT_EQ(hr_server_kill(&setup.server), 0);
    HR_ASSERT_INT_EQ(hr_use_pki(&setup, &setup.good), 0);
    HR_ASSERT_INT_EQ(hr_server_restart(&setup.server), 0);
    HR_ASSERT_INT_EQ(
        hr_server_wait_calls(&setup.server, "incr", 10, HR_PROGRAM_TIMEOUT_MS),
        0);
    HR_ASSERT_INT_EQ(hr_program_wait(&program, HR_PROGRAM_TIMEOUT_MS), 0);

    HR_ASSERT_INT_EQ(program.status, 0);
    HR_ASSERT_TRUE(hr_program_integer(&program, "errors") > 0);
    HR_ASSERT_TRUE(hr_program_integer(&program, "ok") > 40);
    HR_ASSERT_TRUE(strstr(program.err, "certificate verify failed") != NULL);
    hr_tls_finish(&setup, &program, failures);
    /* The first connection, the failed handshakes and the one after. */
    HR_ASSERT_TRUE(setup.wire.tls_first_bytes >= 3);
}

static CU_TestInfo tests[] = {
    {"test_tls_plain_reconnect_crashes", test_tls_plain_reconnect_crashes},
    {"test_tls_kills_and_restart_recover", test_tls_kills_and_restart_recover},
    {"test_tls_program_reconnect_recovers",
     test_tls_program_reconnect_recovers},
    {"test_tls_failed_handshake_never_plaintext",
     test_tls_failed_handshake_never_plaintext},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    return hr_harness_run("integration tls", tests);
}

#else

int main(void)
{
    printf("integration tls skipped: %s\n", HIRETRY_TLS_SKIP_REASON);
    return 77;
}

#endif

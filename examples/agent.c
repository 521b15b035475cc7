/*
 * agent.c - client mode: a small agent that dials out to a collector,
 * introduces itself and answers its PINGs, and dials again whenever the
 * collector goes away.
 *
 * Protocol, one line each way (delimiter framing, LF):
 *   agent -> "HELLO NAME K"   on each connection (K counts connections)
 *   "PING" -> "PONG"; any other line -> "ERR unknown command"
 *
 * tsl_server_connect() does the dialling: attempts back off from 100 ms to
 * 5 s while nobody listens, and when an established connection ends
 * (peer-closed, peer-reset, ka-expired with -k) the library dials again on
 * its own; the application only sees `connected` and `disconnected`.  The
 * connection is one of the server's clients, with its callbacks and
 * framing.  The server's own listening socket is not needed: it is set
 * NOT_ACCEPTING, so anyone connecting to it is turned away.
 *
 * Threads: `connected` runs on the connector's thread, `message` and
 * `disconnected` on the receiver; main starts, waits for SIGINT/SIGTERM
 * and destroys (which closes the connection with reason shutdown).
 *
 *   usage: example-agent [-n NAME] [-k HOLD_MS] HOST PORT
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tsl.h>

static const char *name = "agent";
static atomic_uint connections;

static void
on_connected(tsl_server_t *srv, tsl_client_t *c, void *ud)
{
    unsigned k = atomic_fetch_add(&connections, 1) + 1;
    char hello[96];
    int n;

    (void)srv, (void)ud;
    printf("connect %llu %s:%u (connection %u)\n",
           (unsigned long long)tsl_client_id(c), tsl_client_ip(c),
           tsl_client_port(c), k);
    n = snprintf(hello, sizeof(hello), "HELLO %s %u\n", name, k);
    tsl_client_send(c, hello, (size_t)n);
}

static void
on_message(tsl_server_t *srv, tsl_client_t *c, const uint8_t *msg,
           size_t len, void *ud)
{
    (void)srv, (void)ud;
    if (len > 0 && msg[len - 1] == '\r')
        len--;
    if (len == 4 && memcmp(msg, "PING", 4) == 0)
        tsl_client_send(c, "PONG\n", 5);
    else
        tsl_client_send(c, "ERR unknown command\n", 20);
}

static void
on_disconnected(tsl_server_t *srv, tsl_client_t *c, tsl_reason_t why,
                void *ud)
{
    (void)srv, (void)ud;
    /* The connector dials again after anything but a stop or a forced
     * disconnect. */
    printf("disconnect %llu %s%s\n", (unsigned long long)tsl_client_id(c),
           tsl_reason_name(why),
           why == TSL_REASON_SHUTDOWN || why == TSL_REASON_FORCED
               ? ""
               : ", dialling again");
}

static int
number(const char *s, unsigned long max, unsigned long *out)
{
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    *out = strtoul(s, &end, 10);
    return *end == '\0' && *out <= max ? 0 : -1;
}

int
main(int argc, char **argv)
{
    tsl_callbacks_t cb = {.connected = on_connected,
                          .message = on_message,
                          .disconnected = on_disconnected};
    unsigned long port, hold_ms = 0;
    tsl_server_t *srv = NULL;
    const char *host;
    tsl_framing_t f;
    char err[128] = "";
    int o, rc, sig;

    while ((o = getopt(argc, argv, "n:k:")) != -1) {
        if (o == 'n' && optarg[0] != '\0' && strlen(optarg) <= 64)
            name = optarg;
        else if (o == 'k' && number(optarg, UINT32_MAX, &hold_ms) == 0)
            continue;
        else
            goto usage;
    }
    if (argc - optind != 2 || number(argv[optind + 1], 65535, &port) < 0 ||
        port == 0)
        goto usage;
    host = argv[optind];
    setvbuf(stdout, NULL, _IOLBF, 0);

    rc = tsl_signals_block();
    /* Port 0: a listening socket is part of every server; this one takes
     * whatever port is free and refuses what arrives on it. */
    if (rc == 0)
        rc = tsl_server_create(&srv, "agent", "127.0.0.1", 0);
    if (rc == 0)
        rc = tsl_framing_parse("delimiter:lf,max=256", &f, err, sizeof(err));
    if (rc == 0)
        rc = tsl_server_set_framing(srv, &f);
    if (rc == 0)
        rc = tsl_server_set_callbacks(srv, &cb, NULL);
    if (rc == 0)
        rc = tsl_server_set_keepalive(srv, (uint32_t)hold_ms);
    if (rc == 0)
        rc = tsl_server_set_flags(srv, TSL_SERVER_NOT_ACCEPTING);
    if (rc == 0)
        rc = tsl_server_start(srv);
    /* Only while running; the first attempt starts at once, so the first
     * `connected` may print before this call returns. */
    if (rc == 0) {
        printf("agent: dialling %s:%lu\n", host, port);
        rc = tsl_server_connect(srv, host, (uint16_t)port, 0);
    }
    if (rc < 0) {
        fprintf(stderr, "agent: cannot dial %s:%lu: %s%s%s\n", host, port,
                tsl_strerror(rc), err[0] != '\0' ? ": " : "", err);
        if (srv != NULL)
            tsl_server_destroy(srv);
        return 1;
    }

    sig = tsl_signals_wait();
    if (sig < 0)
        fprintf(stderr, "agent: waiting for a signal: %s\n",
                tsl_strerror(sig));
    else
        printf("agent: %s, stopping\n", sig == SIGINT    ? "SIGINT"
                                        : sig == SIGTERM ? "SIGTERM"
                                                         : "SIGHUP");
    /* Cancels the connector and closes its connection (reason shutdown). */
    tsl_server_destroy(srv);
    printf("agent: stopped after %u connections\n",
           atomic_load(&connections));
    return 0;

usage:
    fprintf(stderr,
            "usage: example-agent [-n NAME] [-k HOLD_MS] HOST PORT\n");
    return 2;
}

/*
 * tsl_echo.c - tsl-echo, the reference echo server.
 *
 * Echoes every complete message back to its sender, re-framed in the
 * server's framing (tsl_framing_encode), so the reply is byte-for-byte the
 * frame that was received.  With --events it prints one JSON object per line on stdout
 * (the contract in docs/conformance.md).  Signals are taken by sigwait()
 * on the main thread, with SIGINT and SIGTERM blocked in every thread, so
 * the stop runs in ordinary thread context rather than in a handler.
 *
 * Threads: main (parses, starts, waits for a signal, stops); the server's
 * acceptor and receiver run the callbacks.  `out_lock` keeps event lines
 * whole.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsl.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static int events;
static tsl_framing_t framing;

static void
event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
event(const char *fmt, ...)
{
    va_list ap;

    if (!events)
        return;
    pthread_mutex_lock(&out_lock);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
}

/* A peer as "10.0.0.1:5000", "[::1]:5000", or "unix". */
static const char *
endpoint(const char *ip, uint16_t port, char *buf, size_t n)
{
    if (strcmp(ip, "unix") == 0)
        snprintf(buf, n, "unix");
    else
        snprintf(buf, n, strchr(ip, ':') != NULL ? "[%s]:%u" : "%s:%u", ip,
                 port);
    return buf;
}

static void
on_connected(tsl_server_t *srv, tsl_client_t *c, void *ud)
{
    char ep[64];

    (void)srv;
    (void)ud;
    event("{\"event\":\"connected\",\"id\":%llu,\"client\":\"%s\"}",
          (unsigned long long)tsl_client_id(c),
          endpoint(tsl_client_ip(c), tsl_client_port(c), ep, sizeof(ep)));
}

static void
on_disconnected(tsl_server_t *srv, tsl_client_t *c, tsl_reason_t why,
                void *ud)
{
    char ep[64];

    (void)srv;
    (void)ud;
    event("{\"event\":\"disconnected\",\"id\":%llu,\"client\":\"%s\","
          "\"reason\":\"%s\"}",
          (unsigned long long)tsl_client_id(c),
          endpoint(tsl_client_ip(c), tsl_client_port(c), ep, sizeof(ep)),
          tsl_reason_name(why));
}

static void
on_rejected(tsl_server_t *srv, const char *ip, uint16_t port,
            tsl_reject_t why, void *ud)
{
    char ep[64];

    (void)srv;
    (void)ud;
    event("{\"event\":\"rejected\",\"client\":\"%s\",\"reason\":\"%s\"}",
          endpoint(ip, port, ep, sizeof(ep)), tsl_reject_name(why));
}

/* An echo that cannot be sent ends the client (a refused send leaves it
 * connected): a client never waits for an echo that will not come. */
static void
echo_send(tsl_client_t *c, const void *buf, size_t len)
{
    int r = tsl_client_send(c, buf, len);

    if (r < 0 && r != TSL_ENOTCONN)
        tsl_client_disconnect(c);
}

/* The frame as received, for a framer that takes something off (a
 * delimiter, a stripped header): what it removed is put back. */
static void
echo_encoded(tsl_client_t *c, const uint8_t *msg, size_t len)
{
    uint8_t stackbuf[4096], *buf = stackbuf;
    size_t cap = len + TSL_DELIM_MAX + 4;
    long n;

    if (cap > sizeof(stackbuf)) {
        buf = malloc(cap);
        if (buf == NULL) {
            tsl_client_disconnect(c);
            return;
        }
    } else {
        cap = sizeof(stackbuf);
    }
    n = tsl_framing_encode(&framing, msg, len, buf, cap);
    if (n > 0)
        echo_send(c, buf, (size_t)n);
    if (buf != stackbuf)
        free(buf);
}

static void
on_message(tsl_server_t *srv, tsl_client_t *c, const uint8_t *msg,
           size_t len, void *ud)
{
    (void)srv;
    (void)ud;
    if (events) /* tested here: a call to a variadic function costs */
        event("{\"event\":\"message\",\"id\":%llu,\"len\":%zu}",
              (unsigned long long)tsl_client_id(c), len);
    /* Where the framer delivers the frame as received (none, fixed, a
     * kept length header) the message is its own echo: no copy. */
    if (framing.kind == TSL_FRAMING_NONE || framing.kind == TSL_FRAMING_FIXED ||
        (framing.kind == TSL_FRAMING_VARIABLE && !framing.strip_header))
        echo_send(c, msg, len);
    else
        echo_encoded(c, msg, len);
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: tsl-echo [--listen ADDR] [--framing SPEC] "
            "[--max-clients N]\n"
            "                [--threaded] [--ka-hold-ms N] "
            "[--frame-timeout-ms N]\n"
            "                [--backend select|epoll] [--events]\n"
            "  --listen ADDR       IPv4:PORT, [IPv6]:PORT, NAME:PORT or "
            "unix:PATH\n"
            "                      (default 127.0.0.1:40000; port 0 picks "
            "one)\n"
            "  --framing SPEC      none | fixed:N | variable[:opts] | "
            "delimiter:HEX[,max=N] (default variable)\n"
            "  --max-clients N     refuse connections beyond N (0: no "
            "limit)\n"
            "  --ka-hold-ms N      drop clients silent for N ms (0: off)\n"
            "  --frame-timeout-ms N  drop clients whose started frame is "
            "not complete\n"
            "                      within N ms, as protocol-error (0: off)\n"
            "  --threaded          serve each client on a thread of its "
            "own\n"
            "  --events            print JSON events on stdout\n");
}

static int
bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "tsl-echo: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    usage(stderr);
    return 2;
}

/* Splits ADDR:PORT ("127.0.0.1:80", "[::1]:80", "localhost:80") or takes
 * unix:PATH whole; the library judges the address itself. */
static int
parse_listen(const char *s, char *ip, size_t iplen, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    char *end;
    long p;

    if (strncmp(s, "unix:", 5) == 0) {
        if (strlen(s) >= iplen)
            return -1;
        strcpy(ip, s);
        *port = 0;
        return 0;
    }
    if (colon == NULL || (size_t)(colon - s) >= iplen || colon == s)
        return -1;
    memcpy(ip, s, (size_t)(colon - s));
    ip[colon - s] = '\0';
    if (ip[0] != '[' && strchr(ip, ':') != NULL)
        return -1; /* an IPv6 address with a port needs its brackets */
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno || *end != '\0' || end == colon + 1 || p < 0 || p > 65535)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

/* The address as --listen takes it: "[::1]:80", "unix:/x", "10.0.0.1:80". */
static const char *
show_addr(tsl_server_t *srv, char *buf, size_t n)
{
    const char *ip = tsl_server_ip(srv);

    if (strncmp(ip, "unix:", 5) == 0)
        snprintf(buf, n, "%s", ip);
    else
        snprintf(buf, n, strchr(ip, ':') != NULL ? "[%s]:%u" : "%s:%u", ip,
                 tsl_server_port(srv));
    return buf;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"framing", required_argument, NULL, 'f'},
        {"max-clients", required_argument, NULL, 'm'},
        {"threaded", no_argument, NULL, 't'},
        {"ka-hold-ms", required_argument, NULL, 'k'},
        {"frame-timeout-ms", required_argument, NULL, 'F'},
        {"backend", required_argument, NULL, 'b'},
        {"events", no_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    tsl_callbacks_t cbs = {on_connected, on_disconnected, on_message,
                           on_rejected, NULL};
    char ip[160] = "127.0.0.1", err[160], json[2048], where[180];
    uint16_t port = 40000;
    unsigned long max_clients = 0, ka_hold = 0, frame_ms = 0;
    tsl_server_t *srv;
    sigset_t set;
    char *end;
    int o, r, sig, threaded = 0, backend_set = 0;
    tsl_backend_t backend = TSL_BACKEND_SELECT;

    tsl_framing_default(&framing, TSL_FRAMING_VARIABLE);
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'l':
            if (parse_listen(optarg, ip, sizeof(ip), &port) < 0)
                return bad("--listen: expected IPv4:PORT, [IPv6]:PORT, "
                           "NAME:PORT or unix:PATH, got '%s'",
                           optarg);
            break;
        case 'f':
            if (tsl_framing_parse(optarg, &framing, err, sizeof(err)) < 0)
                return bad("--framing: %s", err);
            break;
        case 'm':
            errno = 0;
            max_clients = strtoul(optarg, &end, 10);
            if (errno || *end != '\0' || end == optarg || optarg[0] == '-' ||
                max_clients > UINT32_MAX)
                return bad("--max-clients: expected 0..4294967295, got '%s'",
                           optarg);
            break;
        case 't':
            threaded = 1;
            break;
        case 'k':
            errno = 0;
            ka_hold = strtoul(optarg, &end, 10);
            if (errno || *end != '\0' || end == optarg || optarg[0] == '-' ||
                ka_hold > UINT32_MAX)
                return bad("--ka-hold-ms: expected 0..4294967295, got '%s'",
                           optarg);
            break;
        case 'F':
            errno = 0;
            frame_ms = strtoul(optarg, &end, 10);
            if (errno || *end != '\0' || end == optarg || optarg[0] == '-' ||
                frame_ms > UINT32_MAX)
                return bad("--frame-timeout-ms: expected 0..4294967295, got "
                           "'%s'", optarg);
            break;
        case 'b':
            if (strcmp(optarg, "select") == 0)
                backend = TSL_BACKEND_SELECT;
            else if (strcmp(optarg, "epoll") == 0)
                backend = TSL_BACKEND_EPOLL;
            else
                return bad("--backend: expected select or epoll, got '%s'",
                           optarg);
            backend_set = 1;
            break;
        case 'e':
            events = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return bad("unknown or incomplete option '%s'",
                       argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad("unexpected argument '%s'", argv[optind]);

    /* Block the stop signals before any thread exists, so that every
     * thread inherits the mask and only sigwait() below receives them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    r = tsl_server_create(&srv, "echo", ip, port);
    if (r == TSL_EINVAL) {
        fprintf(stderr,
                "tsl-echo: --listen: '%s' is not an address, a host name "
                "that resolves, or unix:PATH\n",
                ip);
        return 2;
    }
    if (r == 0)
        r = tsl_server_set_framing(srv, &framing);
    if (r == 0)
        r = tsl_server_set_callbacks(srv, &cbs, NULL);
    if (r == 0)
        r = tsl_server_set_max_clients(srv, (uint32_t)max_clients);
    if (r == 0)
        r = tsl_server_set_keepalive(srv, (uint32_t)ka_hold);
    if (r == 0)
        r = tsl_server_set_frame_timeout(srv, (uint32_t)frame_ms);
    if (r == 0 && threaded)
        r = tsl_server_set_flags(srv, TSL_SERVER_MULTI_THREADED);
    if (r == 0 && backend_set)
        r = tsl_server_set_backend(srv, backend);
    if (r < 0) {
        fprintf(stderr, "tsl-echo: %s\n", tsl_strerror(r));
        return 1;
    }
    r = tsl_server_start(srv);
    if (r < 0) {
        fprintf(stderr, "tsl-echo: cannot listen on %s: %s\n",
                show_addr(srv, where, sizeof(where)), tsl_strerror(r));
        tsl_server_destroy(srv);
        return 1;
    }
    event("{\"event\":\"listening\",\"addr\":\"%s\",\"port\":%u}",
          tsl_server_ip(srv), tsl_server_port(srv));
    if (!events)
        fprintf(stderr, "tsl-echo: listening on %s\n",
                show_addr(srv, where, sizeof(where)));
    do
        r = sigwait(&set, &sig);
    while (r == EINTR);
    tsl_server_stop(srv);
    if (tsl_server_stats_json(srv, json, sizeof(json)) < (int)sizeof(json))
        event("{\"event\":\"stats\",%s", json + 1);
    event("{\"event\":\"stopped\"}");
    tsl_server_destroy(srv);
    return 0;
}

/*
 * chat.c - a line chat server over tcpserverlib, for `nc` or `telnet`.
 *
 * Every line a client sends goes to every other client as "NICK: line";
 * "/nick NAME" renames the sender.  Each client's nickname lives in the
 * library's per-client pointer (tsl_client_set_data): allocated in
 * `connected`, freed in `disconnected`, so no map keyed by client id is
 * needed.  A client silent for the keepalive hold is dropped (ka-expired).
 * One line on stdout per connect and disconnect, with the reason.
 * SIGINT or SIGTERM stops it cleanly: every client is disconnected with
 * reason shutdown and everything is freed before main() returns 0.
 *
 * Threads: main only starts, waits for a signal and destroys.  The
 * library runs `connected` on its acceptor and `message` / `disconnected`
 * on the thread serving the client; a nickname is only ever touched by
 * its own client's callbacks, which never overlap, so it needs no lock.
 *
 *   usage: example-chat [-a ADDR] [-p PORT] [-k HOLD_MS]
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tsl.h>

#define NICK_MAX 31
#define LINE_MAX_LEN 512

struct user {
    char nick[NICK_MAX + 1];
};

/* Sends text to every client but `except`, framed with the newline the
 * delimiter framing expects. */
static void
tell_others(tsl_server_t *srv, const tsl_client_t *except, const char *text)
{
    char line[LINE_MAX_LEN + NICK_MAX + 8];
    int n = snprintf(line, sizeof(line), "%s\n", text);

    if (n > 0 && (size_t)n < sizeof(line))
        tsl_server_broadcast(srv, line, (size_t)n, except);
}

static void
tell(tsl_client_t *c, const char *text)
{
    char line[LINE_MAX_LEN + NICK_MAX + 8];
    int n = snprintf(line, sizeof(line), "%s\n", text);

    if (n > 0 && (size_t)n < sizeof(line))
        tsl_client_send(c, line, (size_t)n);
}

static void
on_connected(tsl_server_t *srv, tsl_client_t *c, void *ud)
{
    struct user *u = malloc(sizeof(*u));
    char text[96];

    (void)ud;
    if (u == NULL) {
        fprintf(stderr, "chat: out of memory for client %llu\n",
                (unsigned long long)tsl_client_id(c));
        tsl_client_disconnect(c); /* disconnected still follows */
        return;
    }
    snprintf(u->nick, sizeof(u->nick), "guest%llu",
             (unsigned long long)tsl_client_id(c));
    tsl_client_set_data(c, u);
    printf("connect %llu %s:%u as %s\n", (unsigned long long)tsl_client_id(c),
           tsl_client_ip(c), tsl_client_port(c), u->nick);
    snprintf(text, sizeof(text), "* welcome %s; /nick NAME renames you",
             u->nick);
    tell(c, text);
    snprintf(text, sizeof(text), "* %s joined", u->nick);
    tell_others(srv, c, text);
}

/* A nickname is 1..NICK_MAX printable characters without spaces. */
static int
nick_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > NICK_MAX)
        return 0;
    for (; *s != '\0'; s++)
        if (*s <= ' ' || *s > '~')
            return 0;
    return 1;
}

static void
on_message(tsl_server_t *srv, tsl_client_t *c, const uint8_t *msg,
           size_t len, void *ud)
{
    struct user *u = tsl_client_data(c);
    char line[LINE_MAX_LEN + 1], text[LINE_MAX_LEN + NICK_MAX + 8];

    (void)ud;
    /* No user: its allocation failed and it is on its way out.  The
     * framing caps len at LINE_MAX_LEN; the check keeps `line` safe should
     * the framing change. */
    if (u == NULL || len > LINE_MAX_LEN)
        return;
    /* telnet ends its lines with CR LF. */
    memcpy(line, msg, len);
    line[len] = '\0';
    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    if (len == 0)
        return;
    if (strncmp(line, "/nick ", 6) == 0) {
        if (!nick_ok(line + 6)) {
            tell(c, "* a nickname is 1 to 31 characters, no spaces");
            return;
        }
        printf("nick %llu %s -> %s\n", (unsigned long long)tsl_client_id(c),
               u->nick, line + 6);
        snprintf(text, sizeof(text), "* %s is now %s", u->nick, line + 6);
        tell_others(srv, c, text);
        snprintf(u->nick, sizeof(u->nick), "%s", line + 6);
        snprintf(text, sizeof(text), "* you are now %s", u->nick);
        tell(c, text);
        return;
    }
    snprintf(text, sizeof(text), "%s: %s", u->nick, line);
    tell_others(srv, c, text);
}

static void
on_disconnected(tsl_server_t *srv, tsl_client_t *c, tsl_reason_t why,
                void *ud)
{
    struct user *u = tsl_client_data(c);
    char text[96];

    (void)ud;
    printf("disconnect %llu %s %s\n", (unsigned long long)tsl_client_id(c),
           u != NULL ? u->nick : "?", tsl_reason_name(why));
    /* At shutdown everyone is leaving; nobody is left to tell. */
    if (u != NULL && why != TSL_REASON_SHUTDOWN) {
        snprintf(text, sizeof(text), "* %s left (%s)", u->nick,
                 tsl_reason_name(why));
        tell_others(srv, c, text);
    }
    tsl_client_set_data(c, NULL);
    free(u);
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
    const char *addr = "127.0.0.1";
    unsigned long port = 0, hold_ms = 60000;
    tsl_server_t *srv = NULL;
    tsl_framing_t f;
    char spec[64], err[128] = "";
    int o, rc, sig;

    while ((o = getopt(argc, argv, "a:p:k:")) != -1) {
        if (o == 'a')
            addr = optarg;
        else if (o == 'p' && number(optarg, 65535, &port) == 0)
            continue;
        else if (o == 'k' && number(optarg, UINT32_MAX, &hold_ms) == 0)
            continue;
        else
            goto usage;
    }
    if (optind != argc)
        goto usage;
    /* Lines go out as they are printed, also into a pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Before any library thread exists, so that only tsl_signals_wait()
     * below takes SIGINT and SIGTERM. */
    rc = tsl_signals_block();
    if (rc == 0)
        rc = tsl_server_create(&srv, "chat", addr, (uint16_t)port);
    if (rc == 0) {
        /* Lines of up to LINE_MAX_LEN bytes; a longer one is a protocol
         * error and ends that client. */
        snprintf(spec, sizeof(spec), "delimiter:lf,max=%d", LINE_MAX_LEN);
        rc = tsl_framing_parse(spec, &f, err, sizeof(err));
    }
    if (rc == 0)
        rc = tsl_server_set_framing(srv, &f);
    if (rc == 0)
        rc = tsl_server_set_callbacks(srv, &cb, NULL);
    if (rc == 0)
        rc = tsl_server_set_keepalive(srv, (uint32_t)hold_ms);
    if (rc == 0)
        rc = tsl_server_start(srv);
    if (rc < 0) {
        fprintf(stderr, "chat: cannot serve on %s:%lu: %s%s%s\n", addr, port,
                tsl_strerror(rc), err[0] != '\0' ? ": " : "", err);
        if (srv != NULL)
            tsl_server_destroy(srv);
        return 1;
    }
    printf("chat: listening on %s:%u\n", tsl_server_ip(srv),
           tsl_server_port(srv));

    sig = tsl_signals_wait();
    if (sig < 0)
        fprintf(stderr, "chat: waiting for a signal: %s\n",
                tsl_strerror(sig));
    else
        printf("chat: %s, stopping\n", sig == SIGINT    ? "SIGINT"
                                       : sig == SIGTERM ? "SIGTERM"
                                                        : "SIGHUP");
    /* Stops the threads, disconnects every client (reason shutdown: their
     * lines print here) and frees the server. */
    tsl_server_destroy(srv);
    printf("chat: stopped\n");
    return 0;

usage:
    fprintf(stderr, "usage: example-chat [-a ADDR] [-p PORT] [-k HOLD_MS]\n");
    return 2;
}

/*
 * tsl_conform_proxy.c - tsl-proxy in front of the server under test, for
 * the wire-level cases of group 9 (--proxy): faults on the connection
 * itself, whatever the server is written in.
 *
 * The runner starts one proxy per group server (and again after a
 * restart, since the server's port changes), with an empty plan; a case
 * sets its plan through the control socket before it connects, and
 * learns what the proxy did from its stdout events: `connected` (the
 * client's address gives the connection's number), `closed` (with a
 * reason and the proxy's monotonic clock in ms, the clock this program
 * reads too) and `peer_closed` (a held side of a crashed connection let
 * go).  Every wait is on the events pipe, with a deadline.  The fault
 * log (--log) is kept in a file and its tail goes into a failure's
 * report, with the seed.  The proxy listens on 127.0.0.1 whatever the
 * server's address (--host): its upstream side is the server's IPv4 or
 * IPv6 address.  Not for a Unix socket (--unix is refused with --proxy):
 * its resets and cut handshakes are TCP's.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsl_conform.h"

/* The number after "\"key\":" in a JSON line, or -1. */
static long long
json_num(const char *line, const char *key)
{
    char pat[48];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\":", key);
    if ((p = strstr(line, pat)) == NULL)
        return -1;
    p += strlen(pat);
    if (*p < '0' || *p > '9')
        return -1;
    return strtoll(p, NULL, 10);
}

/* The string after "\"key\":\"" into out ("" if none). */
static void
json_str(const char *line, const char *key, char *out, size_t n)
{
    char pat[48];
    const char *p;
    size_t i = 0;

    out[0] = '\0';
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    if ((p = strstr(line, pat)) == NULL)
        return;
    for (p += strlen(pat); *p != '\0' && *p != '"' && i + 1 < n; p++)
        out[i++] = *p;
    out[i] = '\0';
}

/* 127.0.0.1 in network order, as a constant initializer. */
const struct tsl_conform_addr tsl_conform_proxy_addr = {
    .u.in = {.sin_family = AF_INET,
             .sin_addr = {.s_addr = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
                                        ? 0x7f000001u
                                        : 0x0100007fu}},
    .len = sizeof(struct sockaddr_in),
    .text = "127.0.0.1",
};

static struct tsl_conform_pconn *
slot(struct tsl_conform_proxy *px, uint32_t num)
{
    return &px->conns[num % (sizeof(px->conns) / sizeof(px->conns[0]))];
}

static void
on_event(struct tsl_conform_proxy *px, const char *line)
{
    char ev[32], s[64];
    long long num = json_num(line, "conn"), ms = json_num(line, "ms");
    struct tsl_conform_pconn *pc;
    const char *colon;

    json_str(line, "event", ev, sizeof(ev));
    if (num <= 0)
        return;
    pc = slot(px, (uint32_t)num);
    if (strcmp(ev, "connected") == 0) {
        memset(pc, 0, sizeof(*pc));
        pc->num = (uint32_t)num;
        pc->closed_ms = pc->server_ms = -1;
        json_str(line, "client", s, sizeof(s));
        if ((colon = strrchr(s, ':')) != NULL)
            pc->client_port = (uint16_t)atoi(colon + 1);
    } else if (pc->num != (uint32_t)num) {
        return; /* a connection from before this run's records */
    } else if (strcmp(ev, "closed") == 0) {
        pc->closed_ms = ms;
        json_str(line, "reason", pc->reason, sizeof(pc->reason));
        if (pc->server_ms < 0)
            pc->server_ms = ms;
    } else if (strcmp(ev, "peer_closed") == 0) {
        json_str(line, "side", s, sizeof(s));
        if (strcmp(s, "server") == 0)
            pc->server_ms = ms;
    }
}

/* Reads what the proxy has written, waiting up to wait ms for a line:
 * the number of lines handled, -1 at its EOF. */
static int
pump(struct tsl_conform_proxy *px, int wait)
{
    struct pollfd pf = {px->events, POLLIN, 0};
    int lines = 0;
    ssize_t r;
    char *nl;

    if (px->events < 0)
        return -1;
    if (wait > 0 && poll(&pf, 1, wait) <= 0)
        return 0;
    for (;;) {
        r = read(px->events, px->line + px->len, sizeof(px->line) - 1 -
                                                     px->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return lines;
        if (r == 0)
            return lines > 0 ? lines : -1;
        px->len += (size_t)r;
        px->line[px->len] = '\0';
        while ((nl = memchr(px->line, '\n', px->len)) != NULL) {
            size_t k = (size_t)(nl - px->line);
            *nl = '\0';
            on_event(px, px->line);
            memmove(px->line, nl + 1, px->len - k - 1);
            px->len -= k + 1;
            lines++;
        }
        if (px->len == sizeof(px->line) - 1)
            px->len = 0; /* a line too long to be an event */
    }
}

/* One line from the control socket into out, by the deadline. */
static int
ctl_line(struct tsl_conform_proxy *px, char *out, size_t n, int64_t until)
{
    size_t len = 0;

    while (len + 1 < n) {
        struct pollfd pf = {px->ctl, POLLIN, 0};
        int64_t left = until - tsl_conform_now_ms();
        ssize_t r;
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            break;
        r = recv(px->ctl, out + len, 1, 0);
        if (r <= 0)
            break;
        if (out[len] == '\n') {
            out[len] = '\0';
            return 0;
        }
        len++;
    }
    out[len] = '\0';
    return -1;
}

int
tsl_conform_proxy_start(struct tsl_conform_proxy *px, const char *path,
                        const struct tsl_conform_addr *to,
                        uint16_t upstream, uint64_t seed, int wait_ms,
                        char *why, size_t n)
{
    char up[80], plan[48], tmpl[sizeof(px->log)];
    char first[512];
    char *argv[] = {(char *)path, "--listen", "127.0.0.1:0", "--upstream",
                    up, "--faults", plan, "--control", "127.0.0.1:0",
                    "--log", px->log, NULL};
    int64_t until = tsl_conform_now_ms() + wait_ms;
    struct sockaddr_in sa;
    int pfd[2], lfd, fl;
    long long port, ctl;
    size_t len = 0;

    if (px->pid > 0)
        tsl_conform_proxy_stop(px);
    memset(px, 0, sizeof(*px));
    px->ctl = px->events = -1;
    px->seed = seed;
    px->upstream = upstream;
    tsl_conform_addr_text(to, upstream, up, sizeof(up));
    snprintf(plan, sizeof(plan), "seed=%llu", (unsigned long long)seed);
    if ((lfd = tsl_conform_tmpfile(tmpl, sizeof(tmpl), "proxy")) < 0)
        return snprintf(why, n, "tsl-proxy: no log file: %s",
                        strerror(errno)),
               -1;
    snprintf(px->log, sizeof(px->log), "%s", tmpl);
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        close(lfd);
        return snprintf(why, n, "tsl-proxy: pipe: %s", strerror(errno)), -1;
    }
    px->pid = fork();
    if (px->pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_IGN);
        dup2(pfd[1], 1);
        dup2(lfd, 2);
        execv(path, argv);
        _exit(127);
    }
    close(pfd[1]);
    close(lfd);
    if (px->pid < 0) {
        px->pid = 0;
        close(pfd[0]);
        return snprintf(why, n, "tsl-proxy: fork: %s", strerror(errno)), -1;
    }
    px->events = pfd[0];
    fl = fcntl(px->events, F_GETFL);
    fcntl(px->events, F_SETFL, fl | O_NONBLOCK);
    /* Its first line: {"event":"listening",...,"port":P,"control":C}. */
    while (len + 1 < sizeof(first)) {
        struct pollfd pf = {px->events, POLLIN, 0};
        int64_t left = until - tsl_conform_now_ms();
        ssize_t r;
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            break;
        if ((r = read(px->events, first + len, 1)) <= 0)
            break;
        if (first[len] == '\n')
            break;
        len++;
    }
    first[len] = '\0';
    port = json_num(first, "port");
    ctl = json_num(first, "control");
    if (port <= 0 || ctl <= 0) {
        char tail[300];
        tsl_conform_proxy_log_tail(px, tail, sizeof(tail));
        snprintf(why, n, "tsl-proxy did not start (%s): %s",
                 len ? first : "no listening line", tail);
        tsl_conform_proxy_stop(px);
        return -1;
    }
    px->port = (uint16_t)port;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)ctl);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    px->ctl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (px->ctl < 0 ||
        connect(px->ctl, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        snprintf(why, n, "tsl-proxy: control connection: %s",
                 strerror(errno));
        tsl_conform_proxy_stop(px);
        return -1;
    }
    snprintf(px->plan, sizeof(px->plan), "%s", plan);
    return 0;
}

void
tsl_conform_proxy_stop(struct tsl_conform_proxy *px)
{
    int64_t until = tsl_conform_now_ms() + 3000;

    if (px->ctl >= 0)
        close(px->ctl);
    px->ctl = -1;
    if (px->pid > 0) {
        kill(px->pid, SIGTERM);
        /* It exits at SIGTERM once its loop wakes; its stdout closes
         * then, and that is what is waited for. */
        while (pump(px, (int)(until - tsl_conform_now_ms())) >= 0 &&
               tsl_conform_now_ms() < until)
            ;
        if (waitpid(px->pid, NULL, WNOHANG) != px->pid) {
            kill(px->pid, SIGKILL);
            waitpid(px->pid, NULL, 0);
        }
    }
    px->pid = 0;
    if (px->events >= 0)
        close(px->events);
    px->events = -1;
    if (px->log[0] != '\0')
        unlink(px->log);
    px->log[0] = '\0';
}

int
tsl_conform_proxy_faults(struct tsl_conform_proxy *px, const char *plan,
                         int wait_ms, char *why, size_t n)
{
    char cmd[400], answer[600];
    int64_t until = tsl_conform_now_ms() + wait_ms;
    size_t len;

    snprintf(px->plan, sizeof(px->plan), "%s%sseed=%llu", plan,
             plan[0] ? "," : "", (unsigned long long)px->seed);
    len = (size_t)snprintf(cmd, sizeof(cmd), "faults %s\n", px->plan);
    if (send(px->ctl, cmd, len, MSG_NOSIGNAL) != (ssize_t)len ||
        ctl_line(px, answer, sizeof(answer), until) < 0 ||
        strncmp(answer, "ok", 2) != 0)
        return snprintf(why, n, "tsl-proxy refused the plan '%s': %s",
                        px->plan, answer[0] ? answer : "no answer"),
               -1;
    return 0;
}

struct tsl_conform_pconn *
tsl_conform_proxy_conn(struct tsl_conform_proxy *px, int fd, int wait_ms)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int64_t until = tsl_conform_now_ms() + wait_ms;
    uint16_t port;
    size_t i;

    if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
        return NULL;
    port = ntohs(sa.sin_port);
    for (;;) {
        struct tsl_conform_pconn *best = NULL;
        /* The newest with that port (it may have ended already). */
        for (i = 0; i < sizeof(px->conns) / sizeof(px->conns[0]); i++)
            if (px->conns[i].num != 0 && px->conns[i].client_port == port &&
                (best == NULL || px->conns[i].num > best->num))
                best = &px->conns[i];
        if (best != NULL)
            return best;
        if (tsl_conform_now_ms() >= until ||
            pump(px, (int)(until - tsl_conform_now_ms())) < 0)
            return NULL;
    }
}

int
tsl_conform_proxy_server_closed(struct tsl_conform_proxy *px,
                                struct tsl_conform_pconn *pc, int64_t until,
                                int64_t *at)
{
    for (;;) {
        if (pc->server_ms >= 0) {
            *at = pc->server_ms;
            return 1;
        }
        if (tsl_conform_now_ms() >= until ||
            pump(px, (int)(until - tsl_conform_now_ms())) < 0)
            return 0;
    }
}

int
tsl_conform_proxy_ended(struct tsl_conform_proxy *px,
                        struct tsl_conform_pconn *pc, int64_t until)
{
    for (;;) {
        if (pc->closed_ms >= 0)
            return 1;
        if (tsl_conform_now_ms() >= until ||
            pump(px, (int)(until - tsl_conform_now_ms())) < 0)
            return 0;
    }
}

void
tsl_conform_proxy_log_tail(const struct tsl_conform_proxy *px, char *out,
                           size_t n)
{
    struct tsl_conform_server s;

    memset(&s, 0, sizeof(s));
    snprintf(s.out, sizeof(s.out), "%s", px->log);
    tsl_conform_server_tail(&s, 0, out, n);
}

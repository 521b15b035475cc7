/*
 * tsl_conform.c - tsl-conform: the conformance and grading suite, run
 * against any server that implements docs/conformance.md.
 *
 *   tsl-conform --server 'CMD ... {port} ...' [--cases PATTERN]
 *               [--junit FILE] [--json FILE] [--html FILE] [--seed N]
 *               [--jobs N] [--timeout-scale X] [--framing SPEC]
 *               [--declare FILE] [--shim PATH] [--expect-fail LIST]
 *
 * Cases are numbered and grouped (1.2.1); each group gets a fresh server
 * on a free port substituted for {port}, run as `exec CMD` by /bin/sh in a
 * process
 * group of its own with at most 128 open files.  The runner waits for it
 * to accept, runs the group's cases, stops it with SIGTERM and notes
 * crashes, hangs and the exit status.  Any sanitizer report in the
 * server's output fails the case it appeared in.  Results: a progress
 * line per case, a summary table, JUnit XML, JSON with points per case,
 * and a self-contained HTML report.  Deterministic given --seed.
 *
 * A server declares in a small file (--declare) what it implements:
 *   ka_hold_ms=500        keepalive hold time (enables group 5)
 *   max_clients=3         its client limit (enables group 6)
 *   skip=2.1 why          a case it does not implement, with the reason
 * A server that exits with status 89 at start declares its whole group
 * unimplemented.  Both give "n/a" with the reason, never a failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsl_peer.h"

#define UNIMPLEMENTED_STATUS 89

enum verdict { PASS, FAIL, NA };

struct ctx {
    uint16_t port;
    tsl_framing_t f;
    uint64_t seed;
    double scale;
    const char *fault_plan; /* group 9: the LD_PRELOAD plan */
};

typedef enum verdict case_fn(struct ctx *cx, char *why, size_t n);

struct casedef {
    const char *id;
    const char *title;
    case_fn *fn;
    int points;
};

struct result {
    const struct casedef *c;
    enum verdict v;
    char why[300];
    double secs;
};

/* ---- options and declarations ---- */

static const char *server_cmd;
static const char *shim_path;
static double scale = 1.0;
static uint64_t opt_seed = 1;
static tsl_framing_t framing;
static uint32_t decl_ka, decl_max;
static char skip_id[32][16], skip_why[32][160];
static int nskip;

static int
ms(int base)
{
    return (int)(base * scale);
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum verdict
failf(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return FAIL;
}

static enum verdict
na(char *why, size_t n, const char *text)
{
    snprintf(why, n, "%s", text);
    return NA;
}

/* ---- helpers over tsl_peer ---- */

static int
open_peer(struct ctx *cx, struct tsl_peer *p, uint64_t seed)
{
    return tsl_peer_open(p, "127.0.0.1", cx->port, &cx->f, seed, ms(3000));
}

/* Sends and checks n messages in the given mode; 0 or -1 with why. */
static int
exchange(struct ctx *cx, uint64_t seed, uint32_t n, enum tsl_peer_mode mode,
         char *why, size_t wn)
{
    struct tsl_peer p;
    int r = -1;

    if (open_peer(cx, &p, seed) == 0 && tsl_peer_send(&p, n, mode) == 0 &&
        tsl_peer_check(&p, n) == 0)
        r = 0;
    if (r < 0)
        snprintf(why, wn, "%s", p.why);
    tsl_peer_close(&p);
    return r;
}

static int
raw_connect(struct ctx *cx)
{
    struct sockaddr_in sa;
    struct timeval tv = {ms(3000) / 1000, (ms(3000) % 1000) * 1000};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(cx->port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* 1 if the server closes fd (EOF or reset) within ms. */
static int
closed_within(int fd, int wait)
{
    int64_t end = now_ms() + wait;
    struct pollfd pf = {fd, POLLIN, 0};
    char buf[4096];
    ssize_t r;

    while (now_ms() < end) {
        if (poll(&pf, 1, (int)(end - now_ms())) <= 0)
            continue;
        r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 1;
    }
    return 0;
}

static bool
is_variable(struct ctx *cx)
{
    return cx->f.kind == TSL_FRAMING_VARIABLE && cx->f.hdr_width == 2 &&
           !cx->f.big_endian && !cx->f.len_exclusive && !cx->f.strip_header;
}

/* ---- group 1: framing ---- */

static enum verdict
c_single(struct ctx *cx, char *why, size_t n)
{
    return exchange(cx, cx->seed + 11, 1, TSL_PEER_WHOLE, why, n) == 0 ? PASS
                                                                      : FAIL;
}

static enum verdict
c_split_bytes(struct ctx *cx, char *why, size_t n)
{
    return exchange(cx, cx->seed + 12, 20, TSL_PEER_BYTES, why, n) == 0 ? PASS
                                                                       : FAIL;
}

static enum verdict
c_split_random(struct ctx *cx, char *why, size_t n)
{
    return exchange(cx, cx->seed + 13, 200, TSL_PEER_RANDOM, why, n) == 0
               ? PASS
               : FAIL;
}

static enum verdict
c_coalesce(struct ctx *cx, char *why, size_t n)
{
    return exchange(cx, cx->seed + 14, 50, TSL_PEER_COALESCE, why, n) == 0
               ? PASS
               : FAIL;
}

/* One message of exactly len bytes (payload), sent and checked raw. */
static enum verdict
sized(struct ctx *cx, size_t len, char *why, size_t n)
{
    static __thread uint8_t out[70000], in[70000];
    size_t total = len + 2, got = 0, i;
    ssize_t r;
    int fd;

    if (!is_variable(cx))
        return na(why, n, "defined for the 2-byte variable framing");
    out[0] = (uint8_t)(total & 0xff);
    out[1] = (uint8_t)(total >> 8);
    for (i = 0; i < len; i++)
        out[2 + i] = (uint8_t)(i * 31 + 7);
    if ((fd = raw_connect(cx)) < 0)
        return failf(why, n, "cannot connect: %s", strerror(errno));
    for (i = 0; i < total; i += (size_t)r) {
        r = send(fd, out + i, total - i, MSG_NOSIGNAL);
        if (r <= 0) {
            close(fd);
            return failf(why, n, "send: %s", strerror(errno));
        }
    }
    while (got < total) {
        r = recv(fd, in + got, total - got, 0);
        if (r <= 0) {
            close(fd);
            return failf(why, n, "a %zu-byte frame: echo %s after %zu bytes",
                         total, r == 0 ? "ended" : strerror(errno), got);
        }
        got += (size_t)r;
    }
    close(fd);
    if (memcmp(in, out, total) != 0)
        return failf(why, n, "a %zu-byte frame came back different", total);
    return PASS;
}

static enum verdict
c_min(struct ctx *cx, char *w, size_t n)
{
    return sized(cx, 1, w, n);
}

static enum verdict
c_large(struct ctx *cx, char *w, size_t n)
{
    return sized(cx, 4000, w, n);
}

static enum verdict
c_max(struct ctx *cx, char *w, size_t n)
{
    return sized(cx, 65533, w, n);
}

static enum verdict
c_keepalive_frame(struct ctx *cx, char *why, size_t n)
{
    static const uint8_t ka[2] = {2, 0};
    struct tsl_peer p;
    enum verdict v = PASS;

    if (!is_variable(cx))
        return na(why, n, "defined for the 2-byte variable framing");
    if (open_peer(cx, &p, cx->seed + 15) < 0)
        return failf(why, n, "%s", p.why);
    /* A header-only frame is not a message: the next echo is message 0. */
    if (send(p.fd, ka, 2, MSG_NOSIGNAL) != 2 ||
        tsl_peer_send(&p, 2, TSL_PEER_WHOLE) < 0 || tsl_peer_check(&p, 2) < 0)
        v = failf(why, n, "after a keepalive frame: %s", p.why);
    tsl_peer_close(&p);
    return v;
}

/* ---- group 2: malformed headers ---- */

static enum verdict
bad_header(struct ctx *cx, uint8_t lo, uint8_t hi, char *why, size_t n)
{
    uint8_t bad[6] = {lo, hi, 'x', 'y', 'z', 'w'};
    int fd;

    if (!is_variable(cx))
        return na(why, n, "defined for the 2-byte variable framing");
    if ((fd = raw_connect(cx)) < 0)
        return failf(why, n, "cannot connect");
    send(fd, bad, sizeof(bad), MSG_NOSIGNAL);
    if (!closed_within(fd, ms(2000))) {
        close(fd);
        return failf(why, n, "length %u: the connection was not closed",
                     lo | hi << 8);
    }
    close(fd);
    /* And everyone else is still served. */
    if (exchange(cx, cx->seed + 21, 10, TSL_PEER_WHOLE, why, n) < 0) {
        char inner[300];
        snprintf(inner, sizeof(inner), "%s", why);
        return failf(why, n, "after a bad header, another client: %.200s",
                     inner);
    }
    return PASS;
}

static enum verdict
c_len0(struct ctx *cx, char *w, size_t n)
{
    return bad_header(cx, 0, 0, w, n);
}

static enum verdict
c_len1(struct ctx *cx, char *w, size_t n)
{
    return bad_header(cx, 1, 0, w, n);
}

static enum verdict
c_garbage_then_good(struct ctx *cx, char *why, size_t n)
{
    struct tsl_peer good;
    enum verdict v = PASS;
    int fd;

    if (!is_variable(cx))
        return na(why, n, "defined for the 2-byte variable framing");
    /* A client stuck on a huge frame must not block another. */
    if (open_peer(cx, &good, cx->seed + 22) < 0)
        return failf(why, n, "%s", good.why);
    if ((fd = raw_connect(cx)) >= 0)
        send(fd, "\xff\xff" "partial", 9, MSG_NOSIGNAL);
    if (tsl_peer_send(&good, 20, TSL_PEER_WHOLE) < 0 ||
        tsl_peer_check(&good, 20) < 0)
        v = failf(why, n, "blocked by a client mid-frame: %s", good.why);
    if (fd >= 0)
        close(fd);
    tsl_peer_close(&good);
    return v;
}

/* ---- group 3: many clients ---- */

struct many {
    struct ctx *cx;
    int i;
    int ok;
    char why[200];
};

static void *
many_main(void *arg)
{
    struct many *m = arg;

    m->ok = exchange(m->cx, m->cx->seed * 1000 + (uint64_t)m->i, 20,
                     (enum tsl_peer_mode)(m->i % 4), m->why,
                     sizeof(m->why)) == 0;
    return NULL;
}

static enum verdict
many_clients(struct ctx *cx, int count, char *why, size_t n)
{
    pthread_t t[64];
    struct many m[64];
    int i, ok = 0, first = -1;

    if (decl_max != 0 && (uint32_t)count > decl_max)
        return na(why, n, "needs more clients than the declared max_clients");

    for (i = 0; i < count; i++) {
        m[i].cx = cx;
        m[i].i = i;
        m[i].ok = 0;
        m[i].why[0] = '\0';
        pthread_create(&t[i], NULL, many_main, &m[i]);
    }
    for (i = 0; i < count; i++) {
        pthread_join(t[i], NULL);
        ok += m[i].ok;
        if (!m[i].ok && first < 0)
            first = i;
    }
    if (ok < count)
        return failf(why, n, "%d of %d clients failed; client %d: %.200s",
                     count - ok, count, first, m[first].why);
    return PASS;
}

static enum verdict
c_many(struct ctx *cx, char *w, size_t n)
{
    return many_clients(cx, 50, w, n);
}

/* ---- group 4: client lifecycle ---- */

static enum verdict
c_client_close(struct ctx *cx, char *why, size_t n)
{
    struct tsl_peer p;

    if (open_peer(cx, &p, cx->seed + 41) < 0 ||
        tsl_peer_send(&p, 5, TSL_PEER_WHOLE) < 0)
        return failf(why, n, "%s", p.why);
    tsl_peer_close(&p); /* without reading the echoes */
    if (exchange(cx, cx->seed + 42, 10, TSL_PEER_WHOLE, why, n) < 0)
        return FAIL;
    return PASS;
}

static enum verdict
c_half_close(struct ctx *cx, char *why, size_t n)
{
    struct tsl_peer p;
    enum verdict v = PASS;

    if (open_peer(cx, &p, cx->seed + 43) < 0)
        return failf(why, n, "%s", p.why);
    if (tsl_peer_send(&p, 30, TSL_PEER_COALESCE) < 0) {
        v = failf(why, n, "%s", p.why);
    } else {
        tsl_peer_half_close(&p);
        if (tsl_peer_check(&p, 30) < 0)
            v = failf(why, n, "replies after a half-close: %s", p.why);
        else if (!tsl_peer_wait_closed(&p, ms(3000)))
            v = failf(why, n, "the server did not close after replying");
    }
    tsl_peer_close(&p);
    return v;
}

static enum verdict
c_reset(struct ctx *cx, char *why, size_t n)
{
    struct tsl_peer p;

    if (open_peer(cx, &p, cx->seed + 44) < 0 ||
        tsl_peer_send(&p, 5, TSL_PEER_WHOLE) < 0)
        return failf(why, n, "%s", p.why);
    tsl_peer_reset(&p);
    if (exchange(cx, cx->seed + 45, 10, TSL_PEER_WHOLE, why, n) < 0)
        return FAIL;
    return PASS;
}

static enum verdict
c_churn(struct ctx *cx, char *why, size_t n)
{
    struct tsl_peer p;
    int i;

    /* More connections, one after another, than the server has files:
     * one that never closes a gone client runs out.  Each client
     * half-closes and waits for the server's close before the next one,
     * so a server with a client limit is never over it. */
    for (i = 0; i < 300; i++) {
        if (open_peer(cx, &p, cx->seed + 1000 + (uint64_t)i) < 0 ||
            tsl_peer_send(&p, 1, TSL_PEER_WHOLE) < 0 ||
            tsl_peer_check(&p, 1) < 0) {
            tsl_peer_close(&p);
            return failf(why, n, "connection %d of 300: %.200s", i + 1,
                         p.why);
        }
        tsl_peer_half_close(&p);
        if (!tsl_peer_wait_closed(&p, ms(3000))) {
            tsl_peer_close(&p);
            return failf(why, n,
                         "connection %d of 300: not closed after its "
                         "half-close",
                         i + 1);
        }
        tsl_peer_close(&p);
    }
    return PASS;
}

/* ---- group 5: keepalive (declared) ---- */

static enum verdict
c_ka_silent(struct ctx *cx, char *why, size_t n)
{
    int64_t t0;
    int fd, slack = ms(1000);

    if (decl_ka == 0)
        return na(why, n, "no keepalive hold time declared");
    if ((fd = raw_connect(cx)) < 0)
        return failf(why, n, "cannot connect");
    t0 = now_ms();
    /* A peer whose FIN was lost or whose host crashed simply goes quiet. */
    if (!closed_within(fd, (int)decl_ka + slack)) {
        close(fd);
        return failf(why, n, "a silent client was still connected %u ms "
                             "after a %u ms hold time",
                     decl_ka + (unsigned)slack, decl_ka);
    }
    close(fd);
    if (now_ms() - t0 < (int64_t)decl_ka - 50)
        return failf(why, n, "dropped after %lld ms, before the %u ms hold",
                     (long long)(now_ms() - t0), decl_ka);
    return PASS;
}

static enum verdict
c_ka_kept(struct ctx *cx, char *why, size_t n)
{
    static const uint8_t ka[2] = {2, 0};
    int64_t end;
    int fd;

    if (decl_ka == 0)
        return na(why, n, "no keepalive hold time declared");
    if (!is_variable(cx))
        return na(why, n, "keepalive frames need the variable framing");
    if ((fd = raw_connect(cx)) < 0)
        return failf(why, n, "cannot connect");
    end = now_ms() + 3 * (int64_t)decl_ka;
    while (now_ms() < end) {
        if (send(fd, ka, 2, MSG_NOSIGNAL) != 2 ||
            closed_within(fd, (int)decl_ka / 3)) {
            close(fd);
            return failf(why, n, "dropped although it sent keepalives");
        }
    }
    close(fd);
    return PASS;
}

/* ---- group 6: max clients (declared) ---- */

static enum verdict
c_max_clients(struct ctx *cx, char *why, size_t n)
{
    int fds[64], i, extra;
    enum verdict v = PASS;

    if (decl_max == 0 || decl_max > 60)
        return na(why, n, "no max_clients (1..60) declared");
    for (i = 0; i < (int)decl_max; i++)
        if ((fds[i] = raw_connect(cx)) < 0)
            return failf(why, n, "client %d of %u refused", i + 1, decl_max);
    /* One more: accepted after the others (the backlog is in order). */
    extra = raw_connect(cx);
    if (extra >= 0 && !closed_within(extra, ms(2000)))
        v = failf(why, n, "client %u beyond the limit was kept", decl_max + 1);
    if (extra >= 0)
        close(extra);
    for (i = 0; i < (int)decl_max; i++)
        close(fds[i]);
    return v;
}

/* ---- group 8: load ---- */

static enum verdict
c_load(struct ctx *cx, char *why, size_t n)
{
    enum verdict v = many_clients(cx, 8, why, n);

    if (v != PASS)
        return v;
    return exchange(cx, cx->seed + 81, 2000, TSL_PEER_RANDOM, why, n) == 0
               ? PASS
               : FAIL;
}

/* ---- group 9: faults only the server's own calls feel (LD_PRELOAD) ---- */

static enum verdict
c_preloaded(struct ctx *cx, char *why, size_t n)
{
    if (cx->fault_plan == NULL)
        return na(why, n, "no LD_PRELOAD shim (--shim) for this server");
    return exchange(cx, cx->seed + 91, 300, TSL_PEER_RANDOM, why, n) == 0
               ? PASS
               : FAIL;
}

/* ---- the catalogue ---- */

struct group {
    int num;
    const char *title;
    const char *plan;     /* TSL_FAULTS for the group, NULL: none */
    int ncases;
    struct casedef cases[8];
};

static const struct group groups[] = {
    {1, "framing", NULL, 8,
     {{"1.1", "one message is echoed", c_single, 1},
      {"1.2.1", "split: one byte per write", c_split_bytes, 2},
      {"1.2.2", "split: random cuts across messages", c_split_random, 2},
      {"1.3", "coalesced: 50 messages in one write", c_coalesce, 2},
      {"1.4.1", "minimum frame (1-byte payload)", c_min, 1},
      {"1.4.2", "large frame (4000 bytes)", c_large, 1},
      {"1.4.3", "maximum frame (65535 bytes)", c_max, 1},
      {"1.5", "a header-only frame is a keepalive, not a message",
       c_keepalive_frame, 1}}},
    {2, "malformed headers", NULL, 3,
     {{"2.1", "length 0: the client is closed, others served", c_len0, 2},
      {"2.2", "length 1: the client is closed, others served", c_len1, 2},
      {"2.3", "a client stuck mid-frame blocks nobody", c_garbage_then_good,
       2}}},
    {3, "many clients", NULL, 1,
     {{"3.1", "50 concurrent clients, every byte verified", c_many, 3}}},
    {4, "client lifecycle", NULL, 4,
     {{"4.1", "a client closes without reading", c_client_close, 1},
      {"4.2", "half-close: all replies, then a close", c_half_close, 2},
      {"4.3", "a client resets", c_reset, 1},
      {"4.4", "300 connections one after another (128 files)", c_churn,
       2}}},
    {5, "keepalive", NULL, 2,
     {{"5.1", "a silent peer (lost FIN, crashed host) is dropped",
       c_ka_silent, 2},
      {"5.2", "keepalive frames keep a client", c_ka_kept, 1}}},
    {6, "max clients", NULL, 1,
     {{"6.1", "a client beyond the limit is closed", c_max_clients, 1}}},
    {8, "sustained load", NULL, 1,
     {{"8.1", "8 clients plus 2000 messages, checksummed", c_load, 2}}},
    {9, "server-side faults (LD_PRELOAD)", "split=1..3,short=1..7,eintr=20,"
                                           "eagain=10",
     1,
     {{"9.1", "short reads and writes, EINTR and EAGAIN storms",
       c_preloaded, 2}}},
};
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

/* Group 7 (graceful stop) is checked on every server at its stop. */
static const struct casedef stop_case = {
    "7.1", "SIGTERM: exit 0 promptly, clients closed", NULL, 2};

/* ---- the server process ---- */

struct server {
    pid_t pid;
    char out[128];     /* its output file */
    off_t scanned;     /* sanitizer reports looked for up to here */
};

static uint16_t
free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

/* "exec CMD" with {port} replaced: the shell becomes the server, so
 * signals reach the server itself. */
static void
subst(const char *cmd, uint16_t port, char *out, size_t n)
{
    const char *p;
    size_t used = (size_t)snprintf(out, n, "exec ");

    for (p = cmd; *p != '\0' && used + 8 < n;) {
        if (strncmp(p, "{port}", 6) == 0) {
            used += (size_t)snprintf(out + used, n - used, "%u", port);
            p += 6;
        } else {
            out[used++] = *p++;
        }
    }
    out[used] = '\0';
}

/* Starts the server; 0 when it accepts, 1 unimplemented, -1 failed. */
static int
server_start(struct server *s, uint16_t port, const char *plan, char *why,
             size_t wn)
{
    char cmd[2048], tmpl[] = "/tmp/tsl-conform-XXXXXX";
    int64_t end = now_ms() + ms(10000);
    int fd, st;

    subst(server_cmd, port, cmd, sizeof(cmd));
    fd = mkstemp(tmpl);
    if (fd < 0)
        return -1;
    snprintf(s->out, sizeof(s->out), "%s", tmpl);
    s->scanned = 0;
    s->pid = fork();
    if (s->pid == 0) {
        struct rlimit rl = {128, 128};
        setpgid(0, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        setrlimit(RLIMIT_NOFILE, &rl);
        if (plan != NULL) {
            setenv("TSL_FAULTS", plan, 1);
            setenv("LD_PRELOAD", shim_path, 1);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fd);
    if (s->pid < 0)
        return -1;
    setpgid(s->pid, s->pid);
    while (now_ms() < end) {
        struct ctx probe = {.port = port};
        int c;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            if (WIFEXITED(st) && WEXITSTATUS(st) == UNIMPLEMENTED_STATUS)
                return 1;
            snprintf(why, wn, "the server exited at start (status %d)",
                     WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            return -1;
        }
        c = raw_connect(&probe);
        if (c >= 0) {
            close(c);
            return 0;
        }
        poll(NULL, 0, 20);
    }
    snprintf(why, wn, "the server did not accept within %d ms", ms(10000));
    return -1;
}

/* Looks for sanitizer or crash reports in new server output. */
static int
server_report(struct server *s, char *why, size_t wn)
{
    static const char *const marks[] = {
        "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
        "WARNING: ThreadSanitizer", "runtime error:", "==ERROR==",
        "Invalid read of size", "Invalid write of size",
        "definitely lost in", "Segmentation fault",
    };
    char buf[65536];
    FILE *f = fopen(s->out, "r");
    size_t i;

    if (f == NULL)
        return 0;
    fseeko(f, s->scanned, SEEK_SET);
    while (fgets(buf, sizeof(buf), f) != NULL) {
        for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
            if (strstr(buf, marks[i]) != NULL) {
                buf[strcspn(buf, "\n")] = '\0';
                snprintf(why, wn, "report in the server output: %.240s", buf);
                s->scanned = ftello(f);
                fclose(f);
                return 1;
            }
    }
    s->scanned = ftello(f);
    fclose(f);
    return 0;
}

/* SIGTERM, then wait; the verdict of 7.1. */
static enum verdict
server_stop(struct server *s, char *why, size_t wn)
{
    int64_t end = now_ms() + ms(5000);
    int st, r;
    enum verdict v = PASS;

    if (s->pid <= 0)
        return failf(why, wn, "the server had already exited");
    kill(-s->pid, SIGTERM);
    while ((r = waitpid(s->pid, &st, WNOHANG)) == 0 && now_ms() < end)
        poll(NULL, 0, 10);
    if (r == 0) {
        kill(-s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
        v = failf(why, wn, "hang: still running %d ms after SIGTERM",
                  ms(5000));
    } else if (WIFSIGNALED(st)) {
        v = failf(why, wn, "killed by signal %d at stop", WTERMSIG(st));
    } else if (WEXITSTATUS(st) != 0) {
        v = failf(why, wn, "exit status %d after SIGTERM", WEXITSTATUS(st));
    }
    s->pid = 0;
    if (v == PASS && server_report(s, why, wn))
        v = FAIL;
    return v;
}

/* ---- running ---- */

static const char *pattern = "*";
static struct result results[64];
static int nresults;
static pthread_mutex_t res_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const vnames[] = {"pass", "FAIL", "n/a"};

static void
record(const struct casedef *c, enum verdict v, const char *why, double secs)
{
    pthread_mutex_lock(&res_lock);
    results[nresults].c = c;
    results[nresults].v = v;
    snprintf(results[nresults].why, sizeof(results[0].why), "%s", why);
    results[nresults].secs = secs;
    nresults++;
    printf("%-6s %-4s %-52s %s\n", c->id, vnames[v], c->title,
           v == PASS ? "" : why);
    fflush(stdout);
    pthread_mutex_unlock(&res_lock);
}

/* A failure at a group's stop (a crash, a hang, a report) fails the
 * group's last case that ran. */
static void
amend_last(const struct group *g, const char *why)
{
    int i, j;

    pthread_mutex_lock(&res_lock);
    for (i = nresults - 1; i >= 0; i--)
        for (j = 0; j < g->ncases; j++)
            if (results[i].c == &g->cases[j] && results[i].v != NA) {
                results[i].v = FAIL;
                snprintf(results[i].why, sizeof(results[i].why),
                         "at the server's stop: %.250s", why);
                printf("%-6s FAIL (amended) %s\n", results[i].c->id,
                       results[i].why);
                pthread_mutex_unlock(&res_lock);
                return;
            }
    pthread_mutex_unlock(&res_lock);
}

static const char *
skipped(const char *id)
{
    int i;

    for (i = 0; i < nskip; i++)
        if (strcmp(skip_id[i], id) == 0)
            return skip_why[i];
    return NULL;
}

static void
run_group(const struct group *g, bool with_stop)
{
    struct server s = {0, "", 0};
    struct ctx cx;
    char why[300] = "", plan[256];
    const char *p = NULL;
    int i, r;

    memset(&cx, 0, sizeof(cx));
    cx.f = framing;
    cx.seed = opt_seed * 100 + (uint64_t)g->num;
    cx.scale = scale;
    cx.port = free_port();
    if (g->plan != NULL && shim_path != NULL) {
        snprintf(plan, sizeof(plan), "%s,seed=%llu", g->plan,
                 (unsigned long long)cx.seed);
        p = plan;
        cx.fault_plan = plan;
    }
    /* A port picked free can be taken before the server binds it (other
     * tests run alongside): a start that fails is tried on new ports. */
    for (i = 0; i < 3; i++) {
        r = server_start(&s, cx.port, p, why, sizeof(why));
        if (r >= 0)
            break;
        unlink(s.out);
        cx.port = free_port();
    }
    for (i = 0; i < g->ncases; i++) {
        const struct casedef *c = &g->cases[i];
        int64_t t0 = now_ms();
        enum verdict v;
        const char *sk;
        if (fnmatch(pattern, c->id, 0) != 0)
            continue;
        if ((sk = skipped(c->id)) != NULL) {
            record(c, NA, sk, 0);
            continue;
        }
        if (r == 1) {
            record(c, NA, "the server declared this group unimplemented", 0);
            continue;
        }
        if (r < 0) {
            record(c, FAIL, why, 0);
            continue;
        }
        why[0] = '\0';
        v = c->fn(&cx, why, sizeof(why));
        if (server_report(&s, why, sizeof(why)))
            v = FAIL;
        else if (v != NA && waitpid(s.pid, NULL, WNOHANG) == s.pid) {
            v = FAIL;
            snprintf(why, sizeof(why), "the server died during the case");
            s.pid = 0;
        }
        record(c, v, why, (double)(now_ms() - t0) / 1000);
    }
    if (r == 0) {
        int64_t t0 = now_ms();
        enum verdict v = server_stop(&s, why, sizeof(why));
        if (with_stop && fnmatch(pattern, stop_case.id, 0) == 0)
            record(&stop_case, v, why, (double)(now_ms() - t0) / 1000);
        else if (v == FAIL)
            amend_last(g, why);
    }
    unlink(s.out);
}

static size_t next_group;
static pthread_mutex_t next_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
worker(void *arg)
{
    size_t g;

    (void)arg;
    for (;;) {
        pthread_mutex_lock(&next_lock);
        g = next_group++;
        pthread_mutex_unlock(&next_lock);
        if (g >= NGROUPS)
            return NULL;
        run_group(&groups[g], g == 0);
    }
}

/* ---- reports ---- */

static void
xml_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n')
                fputc(*s, f);
        }
    }
}

static void
json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
}

static int
by_id(const void *a, const void *b)
{
    return strverscmp(((const struct result *)a)->c->id,
                      ((const struct result *)b)->c->id);
}

static void
write_reports(const char *junit, const char *json, const char *html,
              int npass, int nfail, int nna, int points, int max)
{
    FILE *f;
    int i;

    if (junit != NULL && (f = fopen(junit, "w")) != NULL) {
        fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<testsuite name=\"tsl-conform\" tests=\"%d\" "
                   "failures=\"%d\" skipped=\"%d\">\n",
                nresults, nfail, nna);
        for (i = 0; i < nresults; i++) {
            const struct result *r = &results[i];
            fprintf(f, "  <testcase classname=\"conform\" name=\"%s ",
                    r->c->id);
            xml_escape(f, r->c->title);
            fprintf(f, "\" time=\"%.3f\"", r->secs);
            if (r->v == PASS) {
                fputs("/>\n", f);
                continue;
            }
            fputs(">", f);
            fputs(r->v == FAIL ? "<failure message=\"" : "<skipped message=\"",
                  f);
            xml_escape(f, r->why);
            fputs("\"/></testcase>\n", f);
        }
        fputs("</testsuite>\n", f);
        fclose(f);
    }
    if (json != NULL && (f = fopen(json, "w")) != NULL) {
        fprintf(f, "{\"seed\":%llu,\"passed\":%d,\"failed\":%d,\"na\":%d,"
                   "\"points\":%d,\"max_points\":%d,\"cases\":[",
                (unsigned long long)opt_seed, npass, nfail, nna, points, max);
        for (i = 0; i < nresults; i++) {
            const struct result *r = &results[i];
            fprintf(f, "%s{\"id\":\"%s\",\"title\":\"", i ? "," : "",
                    r->c->id);
            json_escape(f, r->c->title);
            fprintf(f, "\",\"result\":\"%s\",\"points\":%d,\"max\":%d,"
                       "\"reason\":\"",
                    r->v == PASS ? "pass" : r->v == FAIL ? "fail" : "na",
                    r->v == PASS ? r->c->points : 0,
                    r->v == NA ? 0 : r->c->points);
            json_escape(f, r->why);
            fprintf(f, "\",\"seconds\":%.3f}", r->secs);
        }
        fputs("]}\n", f);
        fclose(f);
    }
    if (html != NULL && (f = fopen(html, "w")) != NULL) {
        fprintf(f, "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
                   "<title>tsl-conform report</title><style>"
                   "body{font-family:sans-serif;margin:2em}"
                   "table{border-collapse:collapse}"
                   "td,th{border:1px solid #ccc;padding:4px 8px}"
                   ".pass{background:#dfd}.fail{background:#fdd}"
                   ".na{background:#eee}</style></head><body>"
                   "<h1>tsl-conform</h1><p>Server: <code>");
        xml_escape(f, server_cmd);
        fprintf(f, "</code><br>seed %llu: %d passed, %d failed, %d n/a; "
                   "%d of %d points</p><table><tr><th>case</th><th>title"
                   "</th><th>result</th><th>reason</th></tr>",
                (unsigned long long)opt_seed, npass, nfail, nna, points, max);
        for (i = 0; i < nresults; i++) {
            const struct result *r = &results[i];
            const char *cls = r->v == PASS ? "pass" : r->v == FAIL ? "fail"
                                                                   : "na";
            fprintf(f, "<tr class=\"%s\"><td>%s</td><td>", cls, r->c->id);
            xml_escape(f, r->c->title);
            fprintf(f, "</td><td>%s</td><td>", vnames[r->v]);
            xml_escape(f, r->why);
            fputs("</td></tr>", f);
        }
        fputs("</table></body></html>\n", f);
        fclose(f);
    }
}

static void
load_declare(const char *path)
{
    char line[256];
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        fprintf(stderr, "tsl-conform: cannot read %s: %s\n", path,
                strerror(errno));
        exit(2);
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (strncmp(line, "ka_hold_ms=", 11) == 0) {
            decl_ka = (uint32_t)strtoul(line + 11, NULL, 10);
        } else if (strncmp(line, "max_clients=", 12) == 0) {
            decl_max = (uint32_t)strtoul(line + 12, NULL, 10);
        } else if (strncmp(line, "skip=", 5) == 0 && nskip < 32) {
            char *sp = strchr(line + 5, ' ');
            if (sp != NULL)
                *sp++ = '\0';
            snprintf(skip_id[nskip], sizeof(skip_id[0]), "%.15s", line + 5);
            snprintf(skip_why[nskip], sizeof(skip_why[0]),
                     "declared not implemented: %s", sp ? sp : "");
            nskip++;
        } else {
            fprintf(stderr, "tsl-conform: %s: unknown line '%s'\n", path,
                    line);
            exit(2);
        }
    }
    fclose(f);
}

static int
usage(const char *msg)
{
    if (msg != NULL)
        fprintf(stderr, "tsl-conform: %s\n", msg);
    fprintf(stderr,
            "usage: tsl-conform --server 'CMD ... {port} ...' "
            "[--cases PATTERN] [--junit FILE]\n"
            "       [--json FILE] [--html FILE] [--seed N] [--jobs N] "
            "[--timeout-scale X]\n"
            "       [--framing SPEC] [--declare FILE] [--shim PATH] "
            "[--expect-fail LIST]\n");
    return 2;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},
        {"cases", required_argument, NULL, 'c'},
        {"junit", required_argument, NULL, 'J'},
        {"json", required_argument, NULL, 'j'},
        {"html", required_argument, NULL, 'H'},
        {"seed", required_argument, NULL, 'S'},
        {"jobs", required_argument, NULL, 'n'},
        {"timeout-scale", required_argument, NULL, 't'},
        {"framing", required_argument, NULL, 'f'},
        {"declare", required_argument, NULL, 'd'},
        {"shim", required_argument, NULL, 'p'},
        {"expect-fail", required_argument, NULL, 'x'},
        {NULL, 0, NULL, 0},
    };
    const char *junit = NULL, *json = NULL, *html = NULL, *expect = NULL;
    int o, jobs = 1, i, npass = 0, nfail = 0, nna = 0, points = 0, max = 0;
    pthread_t th[16];
    char err[160];

    tsl_framing_default(&framing, TSL_FRAMING_VARIABLE);
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's': server_cmd = optarg; break;
        case 'c': pattern = optarg; break;
        case 'J': junit = optarg; break;
        case 'j': json = optarg; break;
        case 'H': html = optarg; break;
        case 'S': opt_seed = strtoull(optarg, NULL, 10); break;
        case 'n':
            jobs = atoi(optarg);
            if (jobs < 1 || jobs > 16)
                return usage("--jobs: expected 1..16");
            break;
        case 't':
            scale = atof(optarg);
            if (scale < 0.1 || scale > 100)
                return usage("--timeout-scale: expected 0.1..100");
            break;
        case 'f':
            if (tsl_framing_parse(optarg, &framing, err, sizeof(err)) < 0)
                return usage(err);
            if (framing.kind == TSL_FRAMING_NONE)
                return usage("--framing none has no messages to check");
            break;
        case 'd': load_declare(optarg); break;
        case 'p': shim_path = optarg; break;
        case 'x': expect = optarg; break;
        default: return usage("unknown or incomplete option");
        }
    }
    if (server_cmd == NULL || strstr(server_cmd, "{port}") == NULL)
        return usage("--server with {port} in it is required");
    if (shim_path != NULL && access(shim_path, R_OK) != 0)
        return usage("--shim: no such library");
    signal(SIGPIPE, SIG_IGN);
    printf("tsl-conform: %s (seed %llu)\n", server_cmd,
           (unsigned long long)opt_seed);
    for (i = 0; i < jobs; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (i = 0; i < jobs; i++)
        pthread_join(th[i], NULL);
    qsort(results, (size_t)nresults, sizeof(results[0]), by_id);
    for (i = 0; i < nresults; i++) {
        const struct result *r = &results[i];
        if (r->v == PASS) {
            npass++;
            points += r->c->points;
        }
        if (r->v == FAIL)
            nfail++;
        if (r->v == NA)
            nna++;
        else
            max += r->c->points;
    }
    printf("\n%-6s %-4s %s\n", "CASE", "", "TITLE");
    for (i = 0; i < nresults; i++)
        printf("%-6s %-4s %s\n", results[i].c->id, vnames[results[i].v],
               results[i].c->title);
    printf("points: %d of %d\n", points, max);
    printf("conform: %d passed, %d failed, %d skipped\n", npass, nfail, nna);
    write_reports(junit, json, html, npass, nfail, nna, points, max);
    if (expect != NULL) {
        /* Every listed case must have failed (a broken server's proof). */
        char list[256], *tok, *save;
        int missing = 0;
        snprintf(list, sizeof(list), "%s", expect);
        for (tok = strtok_r(list, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            for (i = 0; i < nresults; i++)
                if (strcmp(results[i].c->id, tok) == 0 &&
                    results[i].v == FAIL)
                    break;
            if (i == nresults) {
                printf("expected case %s to fail, and it did not\n", tok);
                missing++;
            }
        }
        return missing ? 1 : 0;
    }
    return nfail ? 1 : 0;
}

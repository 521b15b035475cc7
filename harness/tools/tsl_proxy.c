/*
 * tsl_proxy.c - tsl-proxy: a fault-injecting TCP proxy, for servers that
 * LD_PRELOAD cannot reach (Go, Java, static binaries, anything on another
 * machine's loopback), after toxiproxy's model.
 *
 *   tsl-proxy --listen ADDR:PORT --upstream ADDR:PORT --faults PLAN
 *             [--control ADDR:PORT] [--log FILE]
 *
 * Clients connect to --listen (IPv4); each connection gets its own
 * connection to --upstream (IPv4, or IPv6 as [ADDR]:PORT), and the
 * bytes between them go through the plan (the syntax of TSL_FAULTS, docs/fault-injection.md), numbered per connection in
 * accept order, each direction with its own generator seeded from (plan
 * seed, connection, direction) as the engine does.  "in" is what the
 * server receives (client to upstream), "out" what it sends:
 *
 *   in    split, coalesce, delay (+ jitter), bandwidth, fin_loss (the
 *         client's FIN is not passed on and the upstream stays open),
 *         crash_silent (nothing more either way, both sockets held),
 *         crash_reset (RST both ways), slow_close (the FIN goes on late)
 *   out   short (the server's bytes arrive in pieces), bandwidth,
 *         slow_close
 *
 * with fin_loss, crash_silent and crash_reset triggered after B bytes in,
 * as in the shim; a crash lets exactly the first B bytes reach the server
 * (nothing past B is read or passed on), then happens.  eintr, eagain, accept_fail, fail, fail_from and side
 * have no meaning on the wire and are refused.
 *
 * Output: stdout carries JSON events, the first line being
 * {"event":"listening","addr":A,"port":P[,"control":C]} (port 0 picks
 * one); then connected, closed (with a reason and "ms", the monotonic
 * clock), peer_closed (a held side of a crashed connection closed by its
 * peer: "side" server or client, "ms") and stopped.  Every injected fault is a
 * JSON line {"event":"fault","conn":N,"dir":"in","fault":"split",
 * "offset":O,"len":L,"seed":S} in --log FILE, or on stdout without it.
 *
 * The control socket takes one command a line and answers "ok ..." or
 * "error ...": `faults PLAN` (the plan for new connections and, from now
 * on, for live ones: each keeps its number, offsets and generators),
 * `plan`, `show` (a JSON line per live connection), `help`.
 *
 * One thread, one poll loop, non-blocking sockets; every direction is a
 * queue of chunks with a release time, at most QMAX bytes (then the
 * proxy stops reading that side: backpressure, as TCP would).  SIGTERM
 * and SIGINT close everything and exit 0.  Exit 2 for bad options.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tsl_fault_plan.h"
#include "tsl_mix.h"

#define QMAX (1u << 20)          /* bytes queued per direction */
#define READ_MAX 65536
#define COALESCE_HOLD_MS 20      /* as the shim: release a partial batch */
#define PIECES_PER_TURN 64       /* fairness between connections */
#define CTL_MAX 8                /* control clients */
#define LINE_MAX_ 4096
#define CRASH_SILENT 1           /* struct conn's crash */
#define CRASH_RESET 2

struct chunk {
    struct chunk *next;
    int64_t due;                 /* ms: may not go out before */
    uint64_t at;                 /* stream offset of data[0] */
    size_t len, off;
    uint8_t data[];
};

struct conn;

/* One direction of a connection: bytes read from `from`, queued, written
 * to `to` as the plan allows. */
struct dir {
    struct conn *c;
    const char *name;            /* "in" or "out" */
    uint64_t rng;
    uint64_t rd, wr;             /* bytes read and written */
    struct chunk *head, *tail;
    size_t queued;
    int64_t hold_since;          /* coalesce: first held byte, -1: none */
    int64_t next_us;             /* bandwidth: next write not before */
    int64_t fin_due;             /* slow_close: -1 not yet scheduled */
    bool eof, fin_sent, fin_lost, dead;
    const struct tsl_fault_rule *cut, *coalesce, *delay, *jitter, *bw, *slow;
};

struct conn {
    struct conn *next;
    uint32_t num;
    int cfd, ufd;
    bool connecting, crashed, done;
    char peer[64];
    const struct tsl_fault_rule *fin, *crash_silent, *crash_reset;
    int crash;                   /* 0, or the kind due at crash_at */
    uint64_t crash_at;           /* bytes in the server is to receive */
    struct dir in, out;
};

struct ctl {
    int fd;
    size_t len;
    char buf[LINE_MAX_];
};

static struct {
    struct tsl_fault_plan plan;
    char plan_text[1024];
    struct sockaddr_storage up; /* IPv4 or IPv6 */
    socklen_t uplen;
    int lfd, cfd_listen;
    struct ctl ctl[CTL_MAX];
    struct conn *conns;
    uint32_t nconns;
    int64_t accept_after;        /* out of files: no accept before (ms) */
    FILE *log;
} P = {.lfd = -1, .cfd_listen = -1};

static volatile sig_atomic_t stopping;

static int64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
now_ms(void)
{
    return now_us() / 1000;
}

static uint64_t
next(uint64_t *st)
{
    *st += 0x9e3779b97f4a7c15ull;
    return tsl_mix(*st);
}

static uint32_t
pick(uint64_t *st, const struct tsl_fault_rule *r)
{
    return r->a + (uint32_t)(next(st) % ((uint64_t)r->b - r->a + 1));
}

static void
event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
event(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* One line of the fault log (flushed before every wait, not per line: a
 * split plan writes one per piece). */
static void
logf_fault(const struct dir *d, const char *fault, uint64_t offset,
           uint64_t len, const char *extra)
{
    fprintf(P.log,
            "{\"event\":\"fault\",\"conn\":%u,\"dir\":\"%s\",\"fault\":"
            "\"%s\",\"offset\":%llu,\"len\":%llu,\"seed\":%llu%s}\n",
            d->c->num, d->name, fault, (unsigned long long)offset,
            (unsigned long long)len, (unsigned long long)P.plan.seed,
            extra != NULL ? extra : "");
}

static int
nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int
parse_addr(const char *s, struct sockaddr_in *sa)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    char *end;
    long port;

    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535)
        return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* The upstream: IPv4ADDR:PORT or [IPv6ADDR]:PORT. */
static int
parse_upstream(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    const char *close_br = strchr(s, ']');
    char host[INET6_ADDRSTRLEN];
    char *end;
    long port;

    memset(ss, 0, sizeof(*ss));
    if (s[0] != '[') {
        *len = sizeof(struct sockaddr_in);
        return parse_addr(s, (struct sockaddr_in *)ss);
    }
    if (close_br == NULL || close_br[1] != ':' ||
        (size_t)(close_br - s - 1) >= sizeof(host))
        return -1;
    memcpy(host, s + 1, (size_t)(close_br - s - 1));
    host[close_br - s - 1] = '\0';
    port = strtol(close_br + 2, &end, 10);
    if (*end != '\0' || end == close_br + 2 || port < 0 || port > 65535)
        return -1;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof(*in6);
    return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 ? 0 : -1;
}

static int
listen_on(struct sockaddr_in *sa)
{
    socklen_t len = sizeof(*sa);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 ||
        listen(fd, 128) < 0 || nonblock(fd) < 0 ||
        getsockname(fd, (struct sockaddr *)sa, &len) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The faults that mean something on the wire; the rest are refused. */
static int
check_plan(const struct tsl_fault_plan *p, char *err, size_t n)
{
    int i;

    for (i = 0; i < p->nrules; i++)
        switch (p->rules[i].kind) {
        case TSL_FAULT_EINTR_:
        case TSL_FAULT_EAGAIN_:
        case TSL_FAULT_ACCEPT_FAIL:
        case TSL_FAULT_FAIL:
        case TSL_FAULT_FAIL_FROM:
        case TSL_FAULT_SIDE:
            snprintf(err, n,
                     "a proxy cannot inject eintr, eagain, accept_fail, "
                     "fail, fail_from or side (they are the shim's: "
                     "libtslfault.so)");
            return -1;
        default:
            break;
        }
    return 0;
}

static void
dir_free(struct dir *d)
{
    struct chunk *k;

    while ((k = d->head) != NULL) {
        d->head = k->next;
        free(k);
    }
    d->tail = NULL;
    d->queued = 0;
    d->hold_since = -1;
}

/* An abortive close: RST instead of FIN. */
static void
close_reset(int fd)
{
    struct linger lg = {1, 0};

    if (fd < 0)
        return;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static void
conn_end(struct conn *c, const char *reason, bool rst)
{
    if (c->done)
        return;
    if (rst) {
        close_reset(c->cfd);
        close_reset(c->ufd);
    } else {
        if (c->cfd >= 0)
            close(c->cfd);
        if (c->ufd >= 0)
            close(c->ufd);
    }
    c->cfd = c->ufd = -1;
    dir_free(&c->in);
    dir_free(&c->out);
    c->done = true;
    event("{\"event\":\"closed\",\"conn\":%u,\"reason\":\"%s\",\"in\":%llu,"
          "\"out\":%llu,\"ms\":%lld}",
          c->num, reason, (unsigned long long)c->in.rd,
          (unsigned long long)c->out.rd, (long long)now_ms());
}

/* Drops what d holds from stream offset `at` on. */
static void
dir_trim(struct dir *d, uint64_t at)
{
    struct chunk **kp = &d->head, *k;

    d->tail = NULL;
    while ((k = *kp) != NULL) {
        if (k->at + k->len <= at) {
            d->tail = k;
            kp = &k->next;
            continue;
        }
        if (k->at + k->off < at) {
            d->queued -= (size_t)(k->at + k->len - at);
            k->len = (size_t)(at - k->at);
            d->tail = k;
            kp = &k->next;
            continue;
        }
        *kp = k->next;
        d->queued -= k->len - k->off;
        free(k);
    }
}

/*
 * Bytes in reached a crash's threshold B: nothing past B is passed on
 * (nor read any more), and once the first B bytes are out the crash
 * happens, so the server has received exactly B bytes.  The lower
 * threshold wins when both are set.
 */
static void
crash_check(struct conn *c)
{
    if (c->done || c->crashed)
        return;
    if (c->crash == 0) {
        const struct tsl_fault_rule *rs = c->crash_reset, *sl = c->crash_silent;
        if (rs != NULL && c->in.rd >= rs->a &&
            (sl == NULL || c->in.rd < sl->a || rs->a <= sl->a)) {
            c->crash = CRASH_RESET;
            c->crash_at = rs->a;
        } else if (sl != NULL && c->in.rd >= sl->a) {
            c->crash = CRASH_SILENT;
            c->crash_at = sl->a;
        } else {
            return;
        }
        if (c->crash_at < c->in.wr)
            c->crash_at = c->in.wr; /* a live change: from now */
        dir_trim(&c->in, c->crash_at);
    }
    if (c->in.wr < c->crash_at)
        return; /* the bytes before the crash are still on their way */
    if (c->crash == CRASH_RESET) {
        logf_fault(&c->in, "crash_reset", c->in.wr, 0, NULL);
        conn_end(c, "crash_reset", true);
        return;
    }
    /* Nothing more either way; both sockets held until each peer closes
     * its own (seen as POLLRDHUP without reading). */
    logf_fault(&c->in, "crash_silent", c->in.wr, 0, NULL);
    c->crashed = true;
    dir_free(&c->in);
    dir_free(&c->out);
}

/* Resolves the plan's rules for c (at accept, and after `faults`). */
static void
conn_rules(struct conn *c)
{
    const struct tsl_fault_plan *p = &P.plan;
    uint32_t n = c->num;

    c->in.cut = tsl_fault_plan_find(p, TSL_FAULT_SPLIT, n);
    c->out.cut = tsl_fault_plan_find(p, TSL_FAULT_SHORT, n);
    c->in.coalesce = tsl_fault_plan_find(p, TSL_FAULT_COALESCE, n);
    c->in.delay = tsl_fault_plan_find(p, TSL_FAULT_DELAY, n);
    c->in.jitter = tsl_fault_plan_find(p, TSL_FAULT_JITTER, n);
    c->in.bw = c->out.bw = tsl_fault_plan_find(p, TSL_FAULT_BANDWIDTH, n);
    c->in.slow = c->out.slow = tsl_fault_plan_find(p, TSL_FAULT_SLOW_CLOSE, n);
    c->fin = tsl_fault_plan_find(p, TSL_FAULT_FIN_LOSS, n);
    c->crash_silent = tsl_fault_plan_find(p, TSL_FAULT_CRASH_SILENT, n);
    c->crash_reset = tsl_fault_plan_find(p, TSL_FAULT_CRASH_RESET, n);
    /* A crash under way keeps its threshold; a new plan may bring one
     * on. */
    crash_check(c);
}

static void
dir_init(struct dir *d, struct conn *c, const char *name, uint64_t rng)
{
    memset(d, 0, sizeof(*d));
    d->c = c;
    d->name = name;
    d->rng = rng;
    d->hold_since = -1;
    d->fin_due = -1;
}

static void
on_accept(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    struct conn *c;
    int fd, one = 1, r;

    fd = accept4(P.lfd, (struct sockaddr *)&sa, &len,
                 SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        /* Out of files: the listener stays readable, so pause rather
         * than spin; a close will have freed one. */
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
            errno == ENOMEM)
            P.accept_after = now_ms() + 50;
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    c->num = ++P.nconns;
    c->cfd = fd;
    snprintf(c->peer, sizeof(c->peer), "%s:%u", inet_ntoa(sa.sin_addr),
             ntohs(sa.sin_port));
    dir_init(&c->in, c, "in", tsl_mix(P.plan.seed ^ tsl_mix(c->num * 2)));
    dir_init(&c->out, c, "out",
             tsl_mix(P.plan.seed ^ tsl_mix(c->num * 2 + 1)));
    c->next = P.conns;
    P.conns = c;
    event("{\"event\":\"connected\",\"conn\":%u,\"client\":\"%s\"}", c->num,
          c->peer);
    /* Each piece its own segment, so that a split is a split on the wire
     * (the server's kernel may still merge what has arrived). */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->ufd = socket(P.up.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (c->ufd < 0) {
        conn_end(c, "upstream-socket", false);
        return;
    }
    setsockopt(c->ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    r = connect(c->ufd, (struct sockaddr *)&P.up, P.uplen);
    if (r < 0 && errno != EINPROGRESS) {
        conn_end(c, "upstream-refused", true);
        return;
    }
    c->connecting = r < 0;
    conn_rules(c);
}

static int
fd_from(const struct dir *d)
{
    return d == &d->c->in ? d->c->cfd : d->c->ufd;
}

static int
fd_to(const struct dir *d)
{
    return d == &d->c->in ? d->c->ufd : d->c->cfd;
}

/* May the head of d go out now?  If not, *wake is lowered to when. */
static bool
dir_ready(struct dir *d, int64_t now, int64_t *wake)
{
    int64_t t;

    if (d->head == NULL || d->c->crashed || d->c->connecting || d->dead)
        return false;
    if (d->coalesce != NULL && d->hold_since >= 0 &&
        d->queued < d->coalesce->a && !d->eof) {
        t = d->hold_since + COALESCE_HOLD_MS;
        if (now < t) {
            if (*wake < 0 || t < *wake)
                *wake = t;
            return false;
        }
    }
    if (d->head->due > now) {
        if (*wake < 0 || d->head->due < *wake)
            *wake = d->head->due;
        return false;
    }
    if (d->bw != NULL && d->next_us > now * 1000) {
        t = (d->next_us + 999) / 1000;
        if (*wake < 0 || t < *wake)
            *wake = t;
        return false;
    }
    return true;
}

static bool
dir_can_read(const struct dir *d)
{
    return !d->eof && !d->c->crashed && d->queued < QMAX &&
           !(d == &d->c->in && d->c->crash != 0) &&
           fd_from(d) >= 0 && !(d == &d->c->in && d->fin_lost);
}

/* The `to` side of d failed: the other side learns by a reset, unless
 * the client's FIN was lost, in which case nothing reaches the server. */
static void
dir_broken(struct dir *d, const char *why)
{
    struct conn *c = d->c;

    if (d == &c->out && c->in.fin_lost) {
        d->dead = true; /* the client is gone; the server must not know */
        dir_free(d);
        if (c->cfd >= 0)
            close(c->cfd);
        c->cfd = -1;
        return;
    }
    conn_end(c, why, true);
}

/* A side whose bytes have all been read hangs up or fails: the peer is
 * wholly gone.  After a lost FIN, a client's end goes quietly (the server
 * must learn nothing); otherwise the other side learns as it would
 * without the proxy (a reset, when bytes cannot be delivered). */
static void
side_gone(struct conn *c, bool up)
{
    if (!up && c->in.fin_lost) {
        close(c->cfd);
        c->cfd = -1;
        c->out.dead = true;
        dir_free(&c->out);
        return;
    }
    dir_broken(up ? &c->in : &c->out, up ? "upstream-gone" : "client-gone");
}

static void
dir_read(struct dir *d)
{
    static uint8_t buf[READ_MAX];
    struct conn *c = d->c;
    struct chunk *k;
    int64_t now = now_ms(), due = now;
    ssize_t r;

    r = read(fd_from(d), buf, sizeof(buf));
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        if (d == &c->in && c->fin != NULL && c->in.rd >= c->fin->a) {
            /* A client reset after its FIN would have been lost too. */
            d->eof = d->fin_lost = true;
            close(c->cfd);
            c->cfd = -1;
            return;
        }
        conn_end(c, d == &c->in ? "client-reset" : "upstream-reset", true);
        return;
    }
    if (r == 0) {
        d->eof = true;
        if (d == &c->in && c->fin != NULL && d->rd >= c->fin->a) {
            d->fin_lost = true;
            logf_fault(d, "fin_loss", d->rd, 0, NULL);
        }
        return;
    }
    k = malloc(sizeof(*k) + (size_t)r);
    if (k == NULL) {
        conn_end(c, "no-memory", true);
        return;
    }
    memcpy(k->data, buf, (size_t)r);
    k->len = (size_t)r;
    k->off = 0;
    k->at = d->rd;
    k->next = NULL;
    if (d->delay != NULL) {
        int64_t j = d->jitter != NULL && d->jitter->a > 0
                        ? (int64_t)(next(&d->rng) % (d->jitter->a + 1))
                        : 0;
        char extra[48];
        due = now + d->delay->a + j;
        snprintf(extra, sizeof(extra), ",\"ms\":%lld", (long long)(due - now));
        logf_fault(d, "delay", d->rd, (uint64_t)r, extra);
    }
    if (d->tail != NULL && due < d->tail->due)
        due = d->tail->due; /* bytes never overtake earlier ones */
    k->due = due;
    if (d->tail != NULL)
        d->tail->next = k;
    else
        d->head = k;
    d->tail = k;
    d->queued += (size_t)r;
    d->rd += (uint64_t)r;
    if (d->coalesce != NULL && d->hold_since < 0)
        d->hold_since = now;
    if (d == &c->in)
        crash_check(c);
}

static void
dir_write(struct dir *d)
{
    struct conn *c = d->c;
    int64_t now = now_ms(), wake = -1;
    int pieces = 0;

    while (pieces++ < PIECES_PER_TURN && !c->done &&
           dir_ready(d, now, &wake)) {
        struct chunk *k = d->head;
        size_t n = k->len - k->off;
        ssize_t r;
        if (d->coalesce != NULL && d->hold_since >= 0) {
            /* A batch goes out: what was held, together. */
            logf_fault(d, "coalesce", k->at + k->off, d->queued, NULL);
            d->hold_since = -1;
        }
        if (d->cut != NULL) {
            uint32_t p = pick(&d->rng, d->cut);
            if (p < n) {
                n = p;
                logf_fault(d, d == &c->in ? "split" : "short",
                           k->at + k->off, n, NULL);
            }
        }
        if (d->bw != NULL && n > d->bw->a / 50 + 1)
            n = d->bw->a / 50 + 1; /* 20 ms of bandwidth at most */
        r = write(fd_to(d), k->data + k->off, n);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            dir_broken(d, d == &c->in ? "upstream-gone" : "client-gone");
            return;
        }
        k->off += (size_t)r;
        d->wr += (uint64_t)r;
        d->queued -= (size_t)r;
        if (d->bw != NULL) {
            /* The next write waits for these bytes' time on the line. */
            int64_t t = now_us(), us = (int64_t)r * 1000000 / d->bw->a;
            char extra[64];
            if (d->next_us < t)
                d->next_us = t;
            d->next_us += us;
            snprintf(extra, sizeof(extra), ",\"bps\":%u,\"us\":%lld",
                     d->bw->a, (long long)us);
            logf_fault(d, "bandwidth", k->at + k->off, (uint64_t)r, extra);
        }
        if (k->off == k->len) {
            d->head = k->next;
            if (d->head == NULL)
                d->tail = NULL;
            free(k);
        }
        if (d == &c->in && c->crash != 0) {
            crash_check(c);
            return;
        }
    }
}

/* The FIN of d goes on once its bytes are out (slow_close: later). */
static void
dir_fin(struct dir *d, int64_t now, int64_t *wake)
{
    if (!d->eof || d->fin_sent || d->head != NULL || d->fin_lost ||
        d->c->crashed || d->c->connecting || d->dead || fd_to(d) < 0)
        return;
    if (d->slow != NULL) {
        if (d->fin_due < 0) {
            d->fin_due = now + d->slow->a;
            logf_fault(d, "slow_close", d->rd, 0, NULL);
        }
        if (now < d->fin_due) {
            if (*wake < 0 || d->fin_due < *wake)
                *wake = d->fin_due;
            return;
        }
    }
    shutdown(fd_to(d), SHUT_WR);
    d->fin_sent = true;
}

/* Is c over?  Both FINs passed on; or the server closed after the
 * client's FIN was lost (its keepalive found out); or, crashed, both
 * peers closed. */
static void
conn_check(struct conn *c)
{
    if (c->done)
        return;
    if (c->out.fin_sent && c->in.fin_sent)
        conn_end(c, "closed", false);
    else if (c->out.eof && c->in.fin_lost)
        conn_end(c, "fin_loss-upstream-closed", false);
    else if (c->out.eof && c->out.dead)
        conn_end(c, "upstream-closed", false);
    else if (c->crashed && c->cfd < 0 && c->ufd < 0)
        conn_end(c, "crash_silent-both-closed", false);
}

static void
on_connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
        conn_end(c, "upstream-refused", true);
        return;
    }
    c->connecting = false;
}

/* ---- control ---- */

static void
ctl_say(struct ctl *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
ctl_say(struct ctl *k, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* Answers are short; a control client that does not read loses them
     * rather than stalling the proxy. */
    if (send(k->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        return;
}

static void
ctl_command(struct ctl *k, char *line)
{
    struct tsl_fault_plan p;
    char err[256];
    struct conn *c;

    if (strncmp(line, "faults ", 7) == 0) {
        if (tsl_fault_plan_parse(line + 7, &p, err, sizeof(err)) < 0 ||
            check_plan(&p, err, sizeof(err)) < 0) {
            ctl_say(k, "error %s", err);
            return;
        }
        P.plan = p;
        tsl_fault_plan_format(&P.plan, P.plan_text, sizeof(P.plan_text));
        for (c = P.conns; c != NULL; c = c->next)
            if (!c->done)
                conn_rules(c);
        event("{\"event\":\"faults\",\"plan\":\"%s\"}", P.plan_text);
        ctl_say(k, "ok %s", P.plan_text);
    } else if (strcmp(line, "plan") == 0) {
        ctl_say(k, "ok %s", P.plan_text);
    } else if (strcmp(line, "show") == 0) {
        for (c = P.conns; c != NULL; c = c->next)
            if (!c->done)
                ctl_say(k,
                        "{\"conn\":%u,\"client\":\"%s\",\"in\":%llu,"
                        "\"out\":%llu,\"state\":\"%s\"}",
                        c->num, c->peer, (unsigned long long)c->in.rd,
                        (unsigned long long)c->out.rd,
                        c->crashed          ? "crashed"
                        : c->in.fin_lost    ? "fin-lost"
                        : c->connecting     ? "connecting"
                                            : "open");
        ctl_say(k, "ok");
    } else if (strcmp(line, "help") == 0) {
        ctl_say(k, "ok commands: faults PLAN | plan | show | help");
    } else {
        ctl_say(k, "error unknown command (faults PLAN, plan, show, help)");
    }
}

static void
ctl_read(struct ctl *k)
{
    ssize_t r = read(k->fd, k->buf + k->len, sizeof(k->buf) - 1 - k->len);
    char *nl;

    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        close(k->fd);
        k->fd = -1;
        return;
    }
    k->len += (size_t)r;
    k->buf[k->len] = '\0';
    while ((nl = memchr(k->buf, '\n', k->len)) != NULL) {
        size_t n = (size_t)(nl - k->buf);
        *nl = '\0';
        if (n > 0 && k->buf[n - 1] == '\r')
            k->buf[n - 1] = '\0';
        ctl_command(k, k->buf);
        memmove(k->buf, nl + 1, k->len - n - 1);
        k->len -= n + 1;
    }
    if (k->len == sizeof(k->buf) - 1) {
        ctl_say(k, "error line too long");
        k->len = 0;
    }
}

static void
ctl_accept(void)
{
    int fd = accept4(P.cfd_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int i;

    if (fd < 0)
        return;
    for (i = 0; i < CTL_MAX; i++)
        if (P.ctl[i].fd < 0) {
            P.ctl[i].fd = fd;
            P.ctl[i].len = 0;
            return;
        }
    close(fd); /* too many control clients */
}

/* ---- the loop ---- */

static void
on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

enum role { R_LISTEN, R_CTL_LISTEN, R_CTL, R_CLIENT, R_UPSTREAM };

struct slot {
    enum role role;
    void *p;
};

static void
reap(void)
{
    struct conn **pp = &P.conns, *c;

    while ((c = *pp) != NULL) {
        if (c->done) {
            *pp = c->next;
            free(c);
        } else {
            pp = &c->next;
        }
    }
}

static int
run(void)
{
    struct pollfd *pf = NULL;
    struct slot *sl = NULL;
    size_t cap = 0, n, i;
    sigset_t none;
    struct conn *c;

    sigemptyset(&none);
    while (!stopping) {
        int64_t now = now_ms(), wake = -1;
        struct timespec ts, *tp = NULL;
        size_t need = 2 + CTL_MAX;
        for (c = P.conns; c != NULL; c = c->next)
            need += 2;
        if (need > cap) {
            struct pollfd *npf = realloc(pf, need * sizeof(*pf));
            struct slot *nsl = realloc(sl, need * sizeof(*sl));
            if (npf != NULL)
                pf = npf;
            if (nsl != NULL)
                sl = nsl;
            if (npf == NULL || nsl == NULL)
                break;
            cap = need;
        }
        n = 0;
        if (now >= P.accept_after) {
            pf[n] = (struct pollfd){P.lfd, POLLIN, 0};
            sl[n++] = (struct slot){R_LISTEN, NULL};
        } else {
            wake = P.accept_after;
        }
        if (P.cfd_listen >= 0) {
            pf[n] = (struct pollfd){P.cfd_listen, POLLIN, 0};
            sl[n++] = (struct slot){R_CTL_LISTEN, NULL};
        }
        for (i = 0; i < CTL_MAX; i++)
            if (P.ctl[i].fd >= 0) {
                pf[n] = (struct pollfd){P.ctl[i].fd, POLLIN, 0};
                sl[n++] = (struct slot){R_CTL, &P.ctl[i]};
            }
        for (c = P.conns; c != NULL; c = c->next) {
            short ce = 0, ue = 0;
            if (c->done)
                continue;
            dir_fin(&c->in, now, &wake);
            dir_fin(&c->out, now, &wake);
            conn_check(c);
            if (c->done)
                continue;
            if (c->crashed) {
                ce = ue = POLLRDHUP; /* held: only a peer's close is seen */
            } else {
                if (dir_can_read(&c->in))
                    ce |= POLLIN;
                if (dir_can_read(&c->out) && !c->connecting)
                    ue |= POLLIN;
                if (dir_ready(&c->in, now, &wake))
                    ue |= POLLOUT;
                if (dir_ready(&c->out, now, &wake))
                    ce |= POLLOUT;
                if (c->connecting)
                    ue = POLLOUT;
            }
            /* A side finished both ways is not polled: its hang-up would
             * be reported on every turn. */
            if (c->cfd >= 0 &&
                !(c->in.eof && (c->out.fin_sent || c->out.dead))) {
                pf[n] = (struct pollfd){c->cfd, ce, 0};
                sl[n++] = (struct slot){R_CLIENT, c};
            }
            if (c->ufd >= 0 && !(c->out.eof && c->in.fin_sent)) {
                pf[n] = (struct pollfd){c->ufd, ue, 0};
                sl[n++] = (struct slot){R_UPSTREAM, c};
            }
        }
        if (wake >= 0) {
            int64_t d = wake - now_ms();
            if (d < 0)
                d = 0;
            ts.tv_sec = d / 1000;
            ts.tv_nsec = (long)(d % 1000) * 1000000;
            tp = &ts;
        }
        fflush(P.log);
        if (ppoll(pf, n, tp, &none) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (i = 0; i < n; i++) {
            short re = pf[i].revents;
            if (re == 0)
                continue;
            switch (sl[i].role) {
            case R_LISTEN:
                on_accept();
                break;
            case R_CTL_LISTEN:
                ctl_accept();
                break;
            case R_CTL:
                ctl_read(sl[i].p);
                break;
            case R_CLIENT:
            case R_UPSTREAM: {
                bool up = sl[i].role == R_UPSTREAM;
                c = sl[i].p;
                if (c->done)
                    break;
                if (c->crashed) {
                    /* A held peer closed its side: let go of it.  (Other
                     * bits were asked for before the crash.) */
                    if (!(re & (POLLRDHUP | POLLHUP | POLLERR)))
                        break;
                    event("{\"event\":\"peer_closed\",\"conn\":%u,"
                          "\"side\":\"%s\",\"ms\":%lld}",
                          c->num, up ? "server" : "client",
                          (long long)now_ms());
                    if (up) {
                        close(c->ufd);
                        c->ufd = -1;
                    } else {
                        close(c->cfd);
                        c->cfd = -1;
                    }
                    conn_check(c);
                    break;
                }
                if (up && c->connecting) {
                    on_connected(c);
                    break;
                }
                if ((re & (POLLHUP | POLLERR)) &&
                    (up ? &c->out : &c->in)->eof) {
                    /* A plain hang-up after both FINs is the normal end
                     * of that side; an error is a peer wholly gone. */
                    if (re & POLLERR)
                        side_gone(c, up);
                    else
                        conn_check(c);
                    break;
                }
                if (re & (POLLIN | POLLHUP | POLLERR))
                    dir_read(up ? &c->out : &c->in);
                if (!c->done && (re & (POLLOUT | POLLERR)))
                    dir_write(up ? &c->in : &c->out);
                break;
            }
            }
        }
        /* Writes whose time came while the loop was busy. */
        now = now_ms();
        for (c = P.conns; c != NULL; c = c->next) {
            int64_t w = -1;
            if (!c->done && dir_ready(&c->in, now, &w))
                dir_write(&c->in);
            if (!c->done && dir_ready(&c->out, now, &w))
                dir_write(&c->out);
            if (!c->done)
                conn_check(c);
        }
        reap();
    }
    for (c = P.conns; c != NULL; c = c->next)
        conn_end(c, "stopped", false);
    reap();
    free(pf);
    free(sl);
    return stopping ? 0 : 1;
}

static int
usage(const char *why)
{
    fprintf(stderr, "tsl-proxy: %s\n", why);
    fprintf(stderr,
            "usage: tsl-proxy --listen ADDR:PORT --upstream ADDR:PORT "
            "--faults PLAN\n"
            "                 [--control ADDR:PORT] [--log FILE]\n");
    return 2;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"upstream", required_argument, NULL, 'u'},
        {"faults", required_argument, NULL, 'f'},
        {"control", required_argument, NULL, 'c'},
        {"log", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen_s = NULL, *up_s = NULL, *plan = NULL, *ctl_s = NULL,
               *log_s = NULL;
    struct sockaddr_in la, ca;
    struct sigaction sa;
    sigset_t block;
    char err[256];
    int o, i, rc;

    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
        switch (o) {
        case 'l': listen_s = optarg; break;
        case 'u': up_s = optarg; break;
        case 'f': plan = optarg; break;
        case 'c': ctl_s = optarg; break;
        case 'g': log_s = optarg; break;
        default: return usage("unknown option");
        }
    if (optind != argc)
        return usage("unexpected argument");
    if (listen_s == NULL || parse_addr(listen_s, &la) < 0)
        return usage("--listen: expected IPv4ADDR:PORT");
    if (up_s == NULL || parse_upstream(up_s, &P.up, &P.uplen) < 0)
        return usage("--upstream: expected IPv4ADDR:PORT or "
                     "[IPv6ADDR]:PORT");
    if (ctl_s != NULL && parse_addr(ctl_s, &ca) < 0)
        return usage("--control: expected IPv4ADDR:PORT");
    if (plan == NULL)
        return usage("--faults: a plan is required (seed=0 for none)");
    if (tsl_fault_plan_parse(plan, &P.plan, err, sizeof(err)) < 0 ||
        check_plan(&P.plan, err, sizeof(err)) < 0) {
        fprintf(stderr, "tsl-proxy: bad --faults '%s': %s\n", plan, err);
        return 2;
    }
    tsl_fault_plan_format(&P.plan, P.plan_text, sizeof(P.plan_text));
    P.log = stdout;
    if (log_s != NULL && (P.log = fopen(log_s, "a")) == NULL) {
        fprintf(stderr, "tsl-proxy: --log %s: %s\n", log_s, strerror(errno));
        return 2;
    }
    for (i = 0; i < CTL_MAX; i++)
        P.ctl[i].fd = -1;
    signal(SIGPIPE, SIG_IGN);
    /* SIGTERM and SIGINT are blocked except inside ppoll, so a stop is
     * never missed between a check and a wait. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if ((P.lfd = listen_on(&la)) < 0) {
        fprintf(stderr, "tsl-proxy: listen %s: %s\n", listen_s,
                strerror(errno));
        return 1;
    }
    if (ctl_s != NULL && (P.cfd_listen = listen_on(&ca)) < 0) {
        fprintf(stderr, "tsl-proxy: control %s: %s\n", ctl_s,
                strerror(errno));
        return 1;
    }
    if (ctl_s != NULL)
        event("{\"event\":\"listening\",\"addr\":\"%s\",\"port\":%u,"
              "\"control\":%u,\"plan\":\"%s\"}",
              inet_ntoa(la.sin_addr), ntohs(la.sin_port), ntohs(ca.sin_port),
              P.plan_text);
    else
        event("{\"event\":\"listening\",\"addr\":\"%s\",\"port\":%u,"
              "\"plan\":\"%s\"}",
              inet_ntoa(la.sin_addr), ntohs(la.sin_port), P.plan_text);
    rc = run();
    close(P.lfd);
    if (P.cfd_listen >= 0)
        close(P.cfd_listen);
    for (i = 0; i < CTL_MAX; i++)
        if (P.ctl[i].fd >= 0)
            close(P.ctl[i].fd);
    event("{\"event\":\"stopped\",\"connections\":%u}", P.nconns);
    if (P.log != stdout)
        fclose(P.log);
    return rc;
}

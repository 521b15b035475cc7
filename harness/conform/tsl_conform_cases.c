/*
 * tsl_conform_cases.c - the cases of tsl-conform and their catalogue
 * (docs/conformance.md has the same table, for students).
 *
 * A case is a function of its context: the server's port and framing, a
 * seed, the declarations.  It drives clients only; the runner
 * (tsl_conform.c) owns the server process, looks at it after every case
 * (dead? answering? a report in its output?) and blames the case that was
 * running.  The one exception is 7.1, which stops the server itself: the
 * stop is what it grades.  Each case tests one behaviour, so that one bug
 * fails the case written for it and, as far as a black box allows, no
 * other; the classic bugs of the course's reference code each have one
 * (head-of-line starvation 3.3, the shared receive buffer 3.2, partial
 * writes 1.6, SIGPIPE 4.3, the accept loop at the file limit 4.5).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsl_conform.h"

#define PASS TSL_CONFORM_PASS
#define FAIL TSL_CONFORM_FAIL
#define NA TSL_CONFORM_NA

typedef struct tsl_conform_ctx ctx_t;
typedef enum tsl_conform_verdict verdict_t;

static int
idle(ctx_t *cx)
{
    return tsl_conform_ms(cx, 3000);
}

static verdict_t
exchange_case(ctx_t *cx, uint64_t seed, uint32_t n, enum tsl_peer_mode mode,
              char *why, size_t wn)
{
    return tsl_conform_exchange(cx, seed, n, mode, why, wn) == 0 ? PASS
                                                                 : FAIL;
}

/* Sends all of b on a blocking socket; 0 or -1. */
static int
send_all(int fd, const uint8_t *b, size_t n)
{
    ssize_t r;

    while (n > 0) {
        r = send(fd, b, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Prefixes why with a context, keeping what it said. */
static verdict_t
wrap(char *why, size_t n, const char *prefix)
{
    char inner[TSL_CONFORM_WHY];

    snprintf(inner, sizeof(inner), "%s", why);
    return tsl_conform_fail(why, n, "%s: %s", prefix, inner);
}

/* ---- group 1: framing ---- */

static verdict_t
c_single(ctx_t *cx, char *why, size_t n)
{
    return exchange_case(cx, cx->seed + 11, 1, TSL_PEER_WHOLE, why, n);
}

static verdict_t
c_split_bytes(ctx_t *cx, char *why, size_t n)
{
    return exchange_case(cx, cx->seed + 12, 20, TSL_PEER_BYTES, why, n);
}

static verdict_t
c_split_random(ctx_t *cx, char *why, size_t n)
{
    return exchange_case(cx, cx->seed + 13, 200, TSL_PEER_RANDOM, why, n);
}

static verdict_t
c_coalesce(ctx_t *cx, char *why, size_t n)
{
    return exchange_case(cx, cx->seed + 14, 50, TSL_PEER_COALESCE, why, n);
}

/* One frame with a payload of exactly len bytes, sent and checked raw. */
static verdict_t
sized(ctx_t *cx, size_t len, char *why, size_t n)
{
    static __thread uint8_t out[70000], in[70000];
    size_t total = len + 2, got = 0, i;
    int64_t t0;
    ssize_t r;
    int fd;

    out[0] = (uint8_t)(total & 0xff);
    out[1] = (uint8_t)(total >> 8);
    for (i = 0; i < len; i++)
        out[2 + i] = (uint8_t)(i * 31 + 7);
    if ((fd = tsl_conform_connect(cx)) < 0)
        return tsl_conform_fail(why, n, "cannot connect: %s",
                                strerror(errno));
    if (send_all(fd, out, total) < 0) {
        close(fd);
        return tsl_conform_fail(why, n, "sending a %zu-byte frame: %s",
                                total, strerror(errno));
    }
    t0 = tsl_conform_now_ms();
    while (got < total) {
        r = recv(fd, in + got, total - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = errno;
            close(fd);
            if (r < 0 && (e == EAGAIN || e == EWOULDBLOCK))
                return tsl_conform_fail(
                    why, n, "timed out after %.1f s waiting for the echo "
                            "of a %zu-byte frame (got %zu bytes)",
                    (tsl_conform_now_ms() - t0) / 1000.0, total, got);
            return tsl_conform_fail(why, n,
                                    "the server %s the connection during "
                                    "the echo of a %zu-byte frame (got %zu "
                                    "bytes)",
                                    r == 0 ? "closed" : "reset", total, got);
        }
        got += (size_t)r;
    }
    close(fd);
    for (i = 0; i < total && in[i] == out[i]; i++)
        ;
    if (i < total) {
        tsl_conform_fail(why, n, "the echo of a %zu-byte frame differs "
                                 "from byte %zu on",
                         total, i);
        tsl_conform_hexdiff(why, n, out, in, total, i);
        return FAIL;
    }
    return PASS;
}

static verdict_t
c_min(ctx_t *cx, char *w, size_t n)
{
    return sized(cx, 1, w, n);
}

static verdict_t
c_large(ctx_t *cx, char *w, size_t n)
{
    return sized(cx, 4000, w, n);
}

static verdict_t
c_max(ctx_t *cx, char *w, size_t n)
{
    return sized(cx, 65533, w, n);
}

static verdict_t
c_keepalive_frame(ctx_t *cx, char *why, size_t n)
{
    static const uint8_t ka[2] = {2, 0};
    struct tsl_peer p;
    verdict_t v = PASS;

    if (tsl_conform_open(cx, &p, cx->seed + 15, why, n) < 0)
        return FAIL;
    /* A header-only frame is not a message: the next echo is message 0. */
    if (send_all(p.fd, ka, 2) < 0 ||
        tsl_conform_drive(cx, &p, 2, TSL_PEER_WHOLE, 2, 0, idle(cx), why,
                          n) < 0)
        v = wrap(why, n, "after a header-only frame");
    tsl_peer_close(&p);
    return v;
}

/*
 * More reply bytes than the socket buffers hold, to a client with a small
 * receive window: the server's writes come back short or would block, and
 * a server that does not retry the rest (or queue it) loses bytes.  The
 * client writes first and reads only while its own send is blocked, so
 * the replies pile up however fast the machine reads, and a blocking
 * server is never stuck (it stops reading, our send blocks, we read).
 */
static verdict_t
c_small_window(ctx_t *cx, char *why, size_t n)
{
    struct tsl_peer p;
    verdict_t v = PASS;

    if (tsl_conform_open_narrow(cx, &p, cx->seed + 16, why, n) < 0)
        return FAIL;
    if (tsl_conform_drive(cx, &p, 400, TSL_PEER_COALESCE, 400,
                          TSL_CONFORM_WRITE_FIRST, idle(cx), why, n) < 0)
        v = wrap(why, n, "400 replies to a client with a 4 KiB receive "
                         "window (short writes must be retried)");
    tsl_peer_close(&p);
    return v;
}

/* ---- group 2: malformed headers ---- */

static verdict_t
bad_header(ctx_t *cx, uint8_t lo, uint8_t hi, char *why, size_t n)
{
    uint8_t bad[6] = {lo, hi, 'x', 'y', 'z', 'w'};
    int fd;

    if ((fd = tsl_conform_connect(cx)) < 0)
        return tsl_conform_fail(why, n, "cannot connect: %s",
                                strerror(errno));
    send(fd, bad, sizeof(bad), MSG_NOSIGNAL);
    if (!tsl_conform_closed_within(fd, tsl_conform_ms(cx, 2000))) {
        close(fd);
        return tsl_conform_fail(why, n,
                                "a frame with length %u: the connection was "
                                "still open %.1f s later",
                                lo | hi << 8,
                                tsl_conform_ms(cx, 2000) / 1000.0);
    }
    close(fd);
    /* And everyone else is still served. */
    if (tsl_conform_exchange(cx, cx->seed + 21, 10, TSL_PEER_WHOLE, why, n) <
        0)
        return wrap(why, n, "after a bad header, another client");
    return PASS;
}

static verdict_t
c_len0(ctx_t *cx, char *w, size_t n)
{
    return bad_header(cx, 0, 0, w, n);
}

static verdict_t
c_len1(ctx_t *cx, char *w, size_t n)
{
    return bad_header(cx, 1, 0, w, n);
}

static verdict_t
c_stuck_mid_frame(ctx_t *cx, char *why, size_t n)
{
    struct tsl_peer good;
    verdict_t v = PASS;
    int fd;

    /* A client stuck on a huge frame must not block another. */
    if (tsl_conform_open(cx, &good, cx->seed + 22, why, n) < 0)
        return FAIL;
    if ((fd = tsl_conform_connect(cx)) >= 0)
        send(fd, "\xff\xff" "partial", 9, MSG_NOSIGNAL);
    if (tsl_conform_drive(cx, &good, 20, TSL_PEER_WHOLE, 20, 0, idle(cx), why,
                          n) < 0)
        v = wrap(why, n, "while another client is stuck mid-frame");
    if (fd >= 0)
        close(fd);
    tsl_peer_close(&good);
    return v;
}

/* ---- group 3: many clients ---- */

struct many {
    ctx_t *cx;
    int i;
    int ok;
    char why[TSL_CONFORM_WHY];
};

static void *
many_main(void *arg)
{
    struct many *m = arg;

    m->ok = tsl_conform_exchange(m->cx, m->cx->seed * 1000 + (uint64_t)m->i,
                                 20, (enum tsl_peer_mode)(m->i % 4), m->why,
                                 sizeof(m->why)) == 0;
    return NULL;
}

static verdict_t
many_clients(ctx_t *cx, int count, char *why, size_t n)
{
    pthread_t t[64];
    struct many *m = calloc((size_t)count, sizeof(*m));
    int i, ok = 0, first = -1, started;

    if (m == NULL)
        return tsl_conform_fail(why, n, "out of memory");
    for (started = 0; started < count; started++) {
        m[started].cx = cx;
        m[started].i = started;
        if (pthread_create(&t[started], NULL, many_main, &m[started]) != 0)
            break;
    }
    for (i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
        ok += m[i].ok;
        if (!m[i].ok && first < 0)
            first = i;
    }
    if (ok < count && first >= 0)
        tsl_conform_fail(why, n, "%d of %d concurrent clients failed; "
                                 "client %d: %s",
                         count - ok, count, first, m[first].why);
    else if (ok < count)
        tsl_conform_fail(why, n, "could not start %d client threads", count);
    free(m);
    return ok == count ? PASS : FAIL;
}

static verdict_t
c_many(ctx_t *cx, char *w, size_t n)
{
    return many_clients(cx, 50, w, n);
}

/* Sends bytes [from, to) of message `seq` of p raw. */
static int
send_part(struct tsl_peer *p, uint32_t seq, uint8_t *buf, size_t from,
          size_t to)
{
    size_t len = tsl_peer_frame(p, seq, buf, 65560);

    if (to > len)
        to = len;
    return from < to ? send_all(p->fd, buf + from, to - from) : 0;
}

/*
 * Two clients each send half a frame, a third client's whole message is
 * echoed in between, then the halves are completed.  A server that keeps
 * per-client bytes in one shared receive buffer (the reference's static
 * buffer) hands one client another's bytes.  Twice, the roles turned.
 */
static verdict_t
c_interleaved(ctx_t *cx, char *why, size_t n)
{
    static const char *const names[3] = {"A", "B", "C"};
    struct tsl_peer p[3];
    uint8_t *buf = malloc(65560);
    verdict_t v = PASS;
    int64_t halves, silence;
    int i, round, opened = 0;

    for (i = 0; i < 3 && buf != NULL; i++, opened++)
        if (tsl_conform_open(cx, &p[i], cx->seed + 31 + (uint64_t)i, why,
                             n) < 0)
            break; /* p[i] is closed already */
    if (buf == NULL || opened < 3) {
        v = buf == NULL ? tsl_conform_fail(why, n, "out of memory") : FAIL;
        goto out;
    }
    for (round = 0; round < 2 && v == PASS; round++) {
        struct tsl_peer *a = &p[round], *b = &p[(round + 1) % 3],
                        *c = &p[(round + 2) % 3];
        size_t la = tsl_peer_frame(a, a->sent, buf, 65560),
               lb = tsl_peer_frame(b, b->sent, buf, 65560);
        if (send_part(a, a->sent, buf, 0, la / 2) < 0 ||
            send_part(b, b->sent, buf, 0, lb / 2) < 0) {
            v = tsl_conform_fail(why, n, "sending half a frame: %s",
                                 strerror(errno));
            break;
        }
        halves = tsl_conform_now_ms();
        /* The third client's echo: the halves have been read by now. */
        if (tsl_conform_drive(cx, c, 1, TSL_PEER_WHOLE, c->checked + 1, 0,
                              idle(cx), why, n) < 0) {
            v = wrap(why, n, "a third client, while two have half a frame "
                             "each");
            break;
        }
        /* A and B, deliberately silent with half a frame each, for as
         * long as C took: past a hold time, a keepalive may drop them. */
        silence = tsl_conform_now_ms() - halves;
        if (send_part(a, a->sent, buf, la / 2, la) < 0 ||
            send_part(b, b->sent, buf, lb / 2, lb) < 0) {
            tsl_conform_silence(cx, silence);
            v = tsl_conform_fail(why, n, "sending the rest of a frame: %s",
                                 strerror(errno));
            break;
        }
        a->sent++;
        b->sent++;
        for (i = 0; i < 2 && v == PASS; i++) {
            struct tsl_peer *q = i == 0 ? a : b;
            if (tsl_conform_drive(cx, q, 0, TSL_PEER_WHOLE, q->checked + 1,
                                  0, idle(cx), why, n) < 0) {
                char pre[160];
                tsl_conform_silence(cx, silence);
                snprintf(pre, sizeof(pre),
                         "client %s's frame, sent in two halves around "
                         "other clients' bytes (a receive buffer shared "
                         "between clients?)",
                         names[q - p]);
                v = wrap(why, n, pre);
            }
        }
    }
out:
    for (i = 0; i < opened; i++)
        tsl_peer_close(&p[i]);
    free(buf);
    return v;
}

/*
 * One client's reply must not wait for another client's traffic: B is
 * served once and then stays silent, A sends.  The reference's duplicate
 * list entries made its loop block reading B, and A waited until B sent
 * again.
 */
static verdict_t
c_head_of_line(ctx_t *cx, char *why, size_t n)
{
    struct tsl_peer a, b;
    verdict_t v = PASS;

    if (tsl_conform_open(cx, &a, cx->seed + 35, why, n) < 0)
        return FAIL;
    if (tsl_conform_open(cx, &b, cx->seed + 36, why, n) < 0) {
        tsl_peer_close(&a);
        return FAIL;
    }
    /* Both are connected (and accepted: B's echo comes after A's
     * connection) before either sends. */
    if (tsl_conform_drive(cx, &b, 1, TSL_PEER_WHOLE, 1, 0, idle(cx), why,
                          n) < 0)
        v = wrap(why, n, "client B's message, client A connected and "
                         "silent");
    else if (tsl_conform_drive(cx, &a, 1, TSL_PEER_WHOLE, 1, 0,
                               tsl_conform_ms(cx, 2000), why, n) < 0)
        v = wrap(why, n, "client A's message while client B, served just "
                         "before, stays silent (a reply waiting for another "
                         "client's traffic: head-of-line blocking)");
    tsl_peer_close(&b);
    tsl_peer_close(&a);
    return v;
}

/* ---- group 4: client lifecycle ---- */

static verdict_t
c_client_close(ctx_t *cx, char *why, size_t n)
{
    struct tsl_peer p;

    if (tsl_conform_open(cx, &p, cx->seed + 41, why, n) < 0)
        return FAIL;
    if (tsl_conform_drive(cx, &p, 5, TSL_PEER_WHOLE, 0, TSL_CONFORM_NOREAD,
                          idle(cx), why, n) < 0) {
        tsl_peer_close(&p);
        return FAIL;
    }
    tsl_peer_close(&p); /* without reading the echoes */
    if (tsl_conform_exchange(cx, cx->seed + 42, 10, TSL_PEER_WHOLE, why, n) <
        0)
        return wrap(why, n, "after a client left without reading, another "
                            "client");
    return PASS;
}

static verdict_t
c_half_close(ctx_t *cx, char *why, size_t n)
{
    struct tsl_peer p;
    verdict_t v = PASS;

    if (tsl_conform_open(cx, &p, cx->seed + 43, why, n) < 0)
        return FAIL;
    if (tsl_conform_drive(cx, &p, 30, TSL_PEER_COALESCE, 0,
                          TSL_CONFORM_NOREAD, idle(cx), why, n) < 0) {
        v = FAIL;
    } else {
        tsl_peer_half_close(&p);
        if (tsl_conform_drive(cx, &p, 0, TSL_PEER_WHOLE, 30, 0, idle(cx),
                              why, n) < 0)
            v = wrap(why, n, "replies after a half-close");
        else if (!tsl_peer_wait_closed(&p, tsl_conform_ms(cx, 3000)))
            v = tsl_conform_fail(why, n,
                                 "all 30 replies came after the half-close, "
                                 "but the server had not closed the "
                                 "connection %.1f s later",
                                 tsl_conform_ms(cx, 3000) / 1000.0);
    }
    tsl_peer_close(&p);
    return v;
}

/*
 * A client resets with replies pending: it asks for more than its small
 * receive window takes, stops reading, and resets while the server is
 * still writing.  The server's next writes fail with ECONNRESET, then
 * EPIPE; a server that lets SIGPIPE kill it (it starts with SIGPIPE at
 * the default action) dies here, and the runner says so.
 */
static verdict_t
c_reset(ctx_t *cx, char *why, size_t n)
{
    struct tsl_peer p;
    uint8_t *buf = malloc(65560);
    int fl, sent;
    size_t len, off;

    if (buf == NULL)
        return tsl_conform_fail(why, n, "out of memory");
    if (tsl_conform_open_narrow(cx, &p, cx->seed + 44, why, n) < 0) {
        free(buf);
        return FAIL;
    }
    fl = fcntl(p.fd, F_GETFL);
    fcntl(p.fd, F_SETFL, fl | O_NONBLOCK);
    /* As much as it takes, up to 200 messages; once the server stops
     * reading (its writes to us are stuck) for 300 ms, reset. */
    for (sent = 0; sent < 200; sent++) {
        len = tsl_peer_frame(&p, p.sent++, buf, 65560);
        for (off = 0; off < len;) {
            struct pollfd pf = {p.fd, POLLOUT, 0};
            ssize_t r = send(p.fd, buf + off, len - off, MSG_NOSIGNAL);
            if (r > 0) {
                off += (size_t)r;
            } else if (r < 0 && errno == EAGAIN) {
                if (poll(&pf, 1, tsl_conform_ms(cx, 300)) == 0)
                    goto reset;
            } else if (r < 0 && errno != EINTR) {
                goto reset;
            }
        }
    }
reset:
    free(buf);
    tsl_peer_reset(&p);
    if (tsl_conform_exchange(cx, cx->seed + 45, 10, TSL_PEER_WHOLE, why, n) <
        0)
        return wrap(why, n, "after a client reset with replies pending, "
                            "another client");
    return PASS;
}

static verdict_t
c_churn(ctx_t *cx, char *why, size_t n)
{
    struct tsl_peer p;
    int i;

    /* More connections, one after another, than the server has files:
     * one that never closes a gone client runs out.  Each client
     * half-closes and waits for the server's close before the next one,
     * so a server with a client limit is never over it. */
    for (i = 0; i < 300; i++) {
        char pre[64];
        snprintf(pre, sizeof(pre), "connection %d of 300", i + 1);
        if (tsl_conform_open(cx, &p, cx->seed + 1000 + (uint64_t)i, why, n) <
                0 ||
            tsl_conform_drive(cx, &p, 1, TSL_PEER_WHOLE, 1, 0, idle(cx), why,
                              n) < 0) {
            tsl_peer_close(&p);
            return wrap(why, n, pre);
        }
        tsl_peer_half_close(&p);
        if (!tsl_peer_wait_closed(&p, tsl_conform_ms(cx, 3000))) {
            tsl_peer_close(&p);
            return tsl_conform_fail(why, n,
                                    "%s: not closed %.1f s after its "
                                    "half-close (is a gone client's socket "
                                    "closed?)",
                                    pre, tsl_conform_ms(cx, 3000) / 1000.0);
        }
        tsl_peer_close(&p);
    }
    return PASS;
}

/*
 * More connections at once than the server's 128 files: the excess waits
 * in the kernel's backlog.  accept() then fails with EMFILE while the
 * listener stays readable, and a loop that retries at once burns a CPU
 * (the reference's).  Measured: the server's CPU time while the excess
 * waits.  Then some clients leave, and a waiting connection must be
 * served or closed, and a new client served.
 */
#define HOLD 135
#define MAX_THREADS 1024

/* The share of `ms` (in %) that a looping thread of the server was
 * running or ready to run, 0 if none loops.  A thread loops if it never
 * went to sleep, was running or ready to run for 80 % of the interval or
 * more, and was on a CPU for at least 3 % of it: a busy loop is always
 * one or the other, and gets its share of a CPU however loaded the
 * machine (a tenth of the interval at a load of 10 on 2 cores, measured:
 * an on-CPU threshold of 15 % let acceptspin pass there); a server
 * waiting is asleep (or slept at least once); a correct server's thread
 * woken and left in the run queue for the whole interval was barely on a
 * CPU.  -1 when the threads cannot be seen. */
static int
busiest_thread_pct(ctx_t *cx, int ms)
{
    static __thread struct tsl_conform_sample a[MAX_THREADS], b[MAX_THREADS];
    int na, nb, i, j, best = 0;
    int64_t t0, t1;

    t0 = tsl_conform_now_ms();
    if ((na = tsl_conform_server_threads(cx->srv, a, MAX_THREADS)) < 0)
        return -1;
    poll(NULL, 0, ms); /* the measured interval itself */
    if ((nb = tsl_conform_server_threads(cx->srv, b, MAX_THREADS)) < 0)
        return -1;
    t1 = tsl_conform_now_ms();
    for (j = 0; j < nb; j++) {
        for (i = 0; i < na && a[i].tid != b[j].tid; i++)
            ;
        /* And it did run: a thread only waiting for a first turn (a new
         * one on a loaded machine) is not looping. */
        if (i < na && a[i].sleeps == b[j].sleeps) {
            double span = (double)(t1 > t0 ? t1 - t0 : 1);
            double on = 100 * (b[j].on_cpu - a[i].on_cpu) * 1000 / span;
            int pct = (int)(100 * (b[j].secs - a[i].secs) * 1000 / span);
            (void)ms;
            if (on >= 3 && pct >= 80 && pct > best)
                best = pct;
        }
    }
    return best;
}

static verdict_t
c_file_limit(ctx_t *cx, char *why, size_t n)
{
    int fds[HOLD], nfd = 0, i, busy_pct, fl, window;
    int64_t t0, t1, end;
    struct tsl_peer fresh;
    verdict_t v = PASS;

    for (i = 0; i < HOLD; i++) {
        struct sockaddr_storage ss;
        socklen_t len = tsl_conform_addr_at(cx->to, cx->port, &ss);
        int fd = tsl_conform_socket(cx, SOCK_NONBLOCK);
        if (fd < 0)
            break;
        /* A Unix listener's full backlog refuses at once (EAGAIN) where
         * TCP's drops the SYN: either way, no more are waiting. */
        if (connect(fd, (struct sockaddr *)&ss, len) < 0 &&
            errno != EINPROGRESS) {
            close(fd);
            break;
        }
        fds[nfd++] = fd;
    }
    /* Until every handshake is complete the server may not be at its
     * limit yet: a SYN dropped while its accept queue was full comes back
     * 1 s, then 3 s later.  A server with a short backlog never completes
     * them all, hence the bound. */
    end = tsl_conform_now_ms() + tsl_conform_ms(cx, 4500);
    for (i = 0; i < nfd; i++) {
        struct pollfd pf = {fds[i], POLLOUT, 0};
        int64_t left = end - tsl_conform_now_ms();
        if (poll(&pf, 1, left > 0 ? (int)left : 0) <= 0)
            break;
    }
    /* An interval of at most a quarter of a declared keepalive hold
     * (which frees files by dropping idle clients; an undeclared one can
     * too, hence short).  A server still accepting what it can may be busy for a
     * while, but it sleeps once it is done: a busy loop never does. */
    window = cx->ka_hold_ms > 0 && cx->ka_hold_ms / 4 < 400
                 ? (int)cx->ka_hold_ms / 4
                 : 400;
    /* Twice: the kernel adds a thread's wait to run only when it next
     * runs, so on a loaded machine one interval can miss most of it. */
    for (i = 0, busy_pct = 0; i < 2 && busy_pct == 0; i++) {
        t0 = tsl_conform_now_ms();
        busy_pct = busiest_thread_pct(cx, window);
        t1 = tsl_conform_now_ms();
    }
    if (busy_pct > 0) {
        v = tsl_conform_fail(why, n,
                             "while %d connections were more than its 128 "
                             "files, a thread of the server never slept "
                             "and was running or ready to run "
                             "%d%% of the time for %.1f s (accept() "
                             "failing with EMFILE "
                             "retried at once: a busy loop; back off, or "
                             "accept and close)",
                             nfd, busy_pct, (t1 - t0) / 1000.0);
        goto out;
    }
    /* Free files, then the last connection that completed its handshake
     * (it waited in the backlog) is served or closed. */
    for (i = 0; i < 30 && i < nfd; i++) {
        close(fds[i]);
        fds[i] = -1;
    }
    /* A peer for its messages only, with no connection. */
    tsl_peer_open_sa(&fresh, NULL, 0, &cx->f, cx->seed + 47,
                     tsl_conform_ms(cx, 3000));
    tsl_peer_close(&fresh);
    for (i = nfd - 1; i >= 30; i--) {
        int err = 0;
        socklen_t el = sizeof(err);
        if (getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
            err == 0 && send(fds[i], "", 0, MSG_NOSIGNAL) == 0)
            break;
    }
    if (i >= 30) {
        uint8_t *fr = malloc(65560), *in = malloc(65560);
        size_t len = fr ? tsl_peer_frame(&fresh, 1000, fr, 65560) : 0;
        size_t got = 0;
        int64_t stop = tsl_conform_now_ms() + tsl_conform_ms(cx, 3000);
        int closed = 0;
        fl = fcntl(fds[i], F_GETFL);
        fcntl(fds[i], F_SETFL, fl & ~O_NONBLOCK);
        if (fr == NULL || in == NULL || send_all(fds[i], fr, len) < 0)
            closed = 1; /* closed by the server (shed): acceptable */
        fcntl(fds[i], F_SETFL, fl);
        while (!closed && got < len && tsl_conform_now_ms() < stop) {
            struct pollfd pf = {fds[i], POLLIN, 0};
            ssize_t r;
            if (poll(&pf, 1, (int)(stop - tsl_conform_now_ms())) <= 0)
                continue;
            r = recv(fds[i], in + got, len - got, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                closed = 1;
            else if (r > 0)
                got += (size_t)r;
        }
        if (!closed && got < len)
            v = tsl_conform_fail(why, n,
                                 "connection %d of %d, queued while the "
                                 "server was out of files, was neither "
                                 "served nor closed %.1f s after 30 files "
                                 "were freed (got %zu of %zu bytes)",
                                 i + 1, nfd,
                                 tsl_conform_ms(cx, 3000) / 1000.0, got,
                                 len);
        else if (!closed && memcmp(fr, in, len) != 0)
            v = tsl_conform_fail(why, n, "a connection queued while the "
                                         "server was out of files got a "
                                         "wrong echo");
        free(fr);
        free(in);
    }
    /* A new client is served: retried while the server, not having seen
     * the closes yet, is still at its limit and sheds connections. */
    if (v == PASS) {
        int64_t stop = tsl_conform_now_ms() + tsl_conform_ms(cx, 3000);
        int r;
        do {
            r = tsl_conform_exchange(cx, cx->seed + 46, 1, TSL_PEER_WHOLE,
                                     why, n);
        } while (r < 0 && tsl_conform_now_ms() < stop &&
                 poll(NULL, 0, 50) == 0);
        if (r < 0)
            v = wrap(why, n, "a new client after 30 of the files were "
                             "freed");
    }
out:
    for (i = 0; i < nfd; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return v;
}

/* ---- group 5: keepalive (declared) ---- */

static verdict_t
c_ka_silent(ctx_t *cx, char *why, size_t n)
{
    int64_t t0;
    int fd, slack = tsl_conform_ms(cx, 1000);

    if ((fd = tsl_conform_connect(cx)) < 0)
        return tsl_conform_fail(why, n, "cannot connect: %s",
                                strerror(errno));
    t0 = tsl_conform_now_ms();
    /* A peer whose FIN was lost or whose host crashed simply goes quiet. */
    if (!tsl_conform_closed_within(fd, (int)cx->ka_hold_ms + slack)) {
        close(fd);
        return tsl_conform_fail(why, n,
                                "a silent client was still connected %u ms "
                                "after a %u ms hold time",
                                cx->ka_hold_ms + (unsigned)slack,
                                cx->ka_hold_ms);
    }
    close(fd);
    if (tsl_conform_now_ms() - t0 < (int64_t)cx->ka_hold_ms - 50)
        return tsl_conform_fail(why, n,
                                "dropped after %lld ms, before the %u ms "
                                "hold time",
                                (long long)(tsl_conform_now_ms() - t0),
                                cx->ka_hold_ms);
    return PASS;
}

static verdict_t
c_ka_kept(ctx_t *cx, char *why, size_t n)
{
    static const uint8_t ka[2] = {2, 0};
    int64_t t0 = tsl_conform_now_ms(), end, prev, gap = 0;
    int fd;

    if ((fd = tsl_conform_connect(cx)) < 0)
        return tsl_conform_fail(why, n, "cannot connect: %s",
                                strerror(errno));
    end = t0 + 3 * (int64_t)cx->ka_hold_ms;
    prev = t0;
    while (tsl_conform_now_ms() < end) {
        bool sent = send(fd, ka, 2, MSG_NOSIGNAL) == 2;
        int64_t now = tsl_conform_now_ms();
        if (now - prev > gap)
            gap = now - prev; /* the longest pause between keepalives */
        prev = now;
        if (!sent || tsl_conform_closed_within(fd, (int)cx->ka_hold_ms / 3)) {
            /* Starved past the hold between two keepalives, this client
             * was silent: the server may have been right. */
            now = tsl_conform_now_ms();
            tsl_conform_silence(cx, now - prev > gap ? now - prev : gap);
            close(fd);
            return tsl_conform_fail(why, n,
                                    "dropped %lld ms after connecting "
                                    "although it sent a keepalive frame "
                                    "every %u ms",
                                    (long long)(tsl_conform_now_ms() - t0),
                                    cx->ka_hold_ms / 3);
        }
    }
    close(fd);
    return PASS;
}

/* ---- group 6: max clients (declared) ---- */

static verdict_t
c_max_clients(ctx_t *cx, char *why, size_t n)
{
    int fds[64], i, extra;
    verdict_t v = PASS;

    for (i = 0; i < (int)cx->max_clients; i++)
        if ((fds[i] = tsl_conform_connect(cx)) < 0) {
            v = tsl_conform_fail(why, n, "client %d of %u refused: %s",
                                 i + 1, cx->max_clients, strerror(errno));
            break;
        }
    if (v == PASS) {
        /* One more: accepted after the others (the backlog is in order). */
        extra = tsl_conform_connect(cx);
        if (extra >= 0 &&
            !tsl_conform_closed_within(extra, tsl_conform_ms(cx, 2000)))
            v = tsl_conform_fail(why, n,
                                 "client %u, beyond the declared limit, was "
                                 "still connected %.1f s later",
                                 cx->max_clients + 1,
                                 tsl_conform_ms(cx, 2000) / 1000.0);
        if (extra >= 0)
            close(extra);
    }
    while (i-- > 0)
        close(fds[i]);
    return v;
}

/* ---- group 7: graceful stop ---- */

/*
 * SIGTERM with clients connected: three served and idle, one in the
 * middle of a frame.  Every client must see its connection closed (EOF
 * or reset) and the server exit with status 0, within 5 s.  A server
 * that has no handler ends by SIGTERM's default action: the kernel closes
 * its sockets, but that is not the graceful stop the contract asks for
 * (no chance to finish replies or release anything), and it fails here,
 * and only here.
 */
static verdict_t
c_stop(ctx_t *cx, char *why, size_t n)
{
    struct tsl_conform_server *s = cx->srv;
    struct tsl_peer p[4];
    int k = 4, i, opened = 0, open_left, st = 0, r = 0;
    bool closed[4] = {false, false, false, false};
    int64_t t0, end, done_at = -1;
    verdict_t v = PASS;
    char how[96];

    if (cx->max_clients != 0 && cx->max_clients < (uint32_t)k)
        k = (int)cx->max_clients;
    for (i = 0; i < k; i++, opened++) {
        if (tsl_conform_open(cx, &p[i], cx->seed + 71 + (uint64_t)i, why,
                             n) < 0 ||
            tsl_conform_drive(cx, &p[i], 1, TSL_PEER_WHOLE, 1, 0, idle(cx),
                              why, n) < 0) {
            opened++;
            v = wrap(why, n, "a client before the stop");
            goto out;
        }
    }
    /* The last one is left in the middle of its next frame. */
    if (k > 1) {
        uint8_t *buf = malloc(65560);
        if (buf != NULL) {
            size_t len = tsl_peer_frame(&p[k - 1], 1, buf, 65560);
            send_all(p[k - 1].fd, buf, len / 2);
            free(buf);
        }
    }
    t0 = tsl_conform_now_ms();
    end = t0 + tsl_conform_ms(cx, 5000);
    kill(-s->pid, SIGTERM);
    open_left = k;
    while (tsl_conform_now_ms() < end && (open_left > 0 || r == 0)) {
        struct pollfd pf[4];
        int m = 0, idx[4];
        for (i = 0; i < k; i++)
            if (!closed[i]) {
                pf[m].fd = p[i].fd;
                pf[m].events = POLLIN;
                idx[m++] = i;
            }
        /* The clients' closes wake us; the exit is looked at every 10 ms. */
        poll(pf, (nfds_t)m, 10);
        for (i = 0; i < m; i++) {
            char buf[4096];
            ssize_t got;
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            got = recv(pf[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                closed[idx[i]] = true;
                open_left--;
            }
        }
        if (r == 0 && (r = waitpid(s->pid, &st, WNOHANG)) == s->pid)
            done_at = tsl_conform_now_ms();
    }
    if (r == 0) {
        kill(-s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
        s->status = st;
        v = tsl_conform_fail(why, n,
                             "still running %.1f s after SIGTERM (%d of %d "
                             "clients still open); killed",
                             tsl_conform_ms(cx, 5000) / 1000.0, open_left, k);
        goto out;
    }
    s->pid = 0;
    s->status = st;
    tsl_conform_status_text(st, how, sizeof(how));
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM)
        v = tsl_conform_fail(why, n,
                             "ended by SIGTERM's default action (%s, after "
                             "%.2f s): no handler closed the clients and "
                             "exited with status 0; the kernel closed them",
                             how, (done_at - t0) / 1000.0);
    else if (WIFSIGNALED(st))
        v = tsl_conform_fail(why, n, "crashed while stopping: %s", how);
    else if (WEXITSTATUS(st) != 0)
        v = tsl_conform_fail(why, n, "%s after SIGTERM (0 expected)", how);
    else if (open_left > 0)
        v = tsl_conform_fail(why, n,
                             "exited 0, but %d of %d clients still saw "
                             "their connections open %.1f s after SIGTERM "
                             "(a child process holds them?)",
                             open_left, k, tsl_conform_ms(cx, 5000) / 1000.0);
    else
        snprintf(why, n, "exit status 0 after %.2f s; %d clients closed",
                 (done_at - t0) / 1000.0, k);
out:
    for (i = 0; i < opened && i < 4; i++)
        tsl_peer_close(&p[i]);
    return v;
}

/* ---- group 8: load ---- */

static verdict_t
c_load(ctx_t *cx, char *why, size_t n)
{
    verdict_t v = many_clients(cx, 8, why, n);

    if (v != PASS)
        return v;
    return exchange_case(cx, cx->seed + 81, 2000, TSL_PEER_RANDOM, why, n);
}

/* ---- group 9: faults only the server's own calls feel (LD_PRELOAD) ---- */

static verdict_t
c_preloaded(ctx_t *cx, char *why, size_t n)
{
    if (cx->fault_plan == NULL)
        return NA;
    return exchange_case(cx, cx->seed + 91, 300, TSL_PEER_RANDOM, why, n);
}

/* ---- group 9, on the wire: tsl-proxy in front of the server (--proxy) */

/* cx, its clients going through the proxy. */
static ctx_t
via_proxy(const ctx_t *cx)
{
    ctx_t v = *cx;

    v.port = cx->px->port;
    v.to = &tsl_conform_proxy_addr;
    return v;
}

/* A failure on the wire says the plan, its seed and what the proxy last
 * logged, so that it can be replayed and read. */
static verdict_t
wire_fail(ctx_t *cx, char *why, size_t n, const char *prefix)
{
    char inner[TSL_CONFORM_WHY], tail[360];

    snprintf(inner, sizeof(inner), "%s", why);
    tsl_conform_proxy_log_tail(cx->px, tail, sizeof(tail));
    return tsl_conform_fail(why, n, "%s: %s\ntsl-proxy plan: %s%s%s",
                            prefix, inner, cx->px->plan,
                            tail[0] ? "; its last faults:\n" : "", tail);
}

static int
proxy_plan(ctx_t *cx, const char *plan, char *why, size_t n)
{
    return tsl_conform_proxy_faults(cx->px, plan, tsl_conform_ms(cx, 3000),
                                    why, n);
}

/* Split, short, delayed and coalesced segments between the client and
 * the server: every byte verified. */
static verdict_t
c_wire_segments(ctx_t *cx, char *why, size_t n)
{
    ctx_t v = via_proxy(cx);

    if (proxy_plan(cx, "split=1..3,short=1..7,delay=1,jitter=4", why, n) < 0)
        return FAIL;
    if (tsl_conform_exchange(&v, cx->seed + 92, 300, TSL_PEER_RANDOM, why,
                             n) < 0)
        return wire_fail(cx, why, n, "split, short and delayed segments");
    if (proxy_plan(cx, "coalesce=700,short=1..64", why, n) < 0)
        return FAIL;
    if (tsl_conform_exchange(&v, cx->seed + 93, 200, TSL_PEER_WHOLE, why,
                             n) < 0)
        return wire_fail(cx, why, n, "coalesced segments");
    return PASS;
}

/*
 * The connection cut at every byte of a header, of the first message and
 * of the second: by a reset (tsl-proxy passes exactly K bytes on, then
 * RST both ways), and by the client's FIN after K bytes (the server
 * echoes what is complete, then closes).  After each, a client connected
 * directly is served.
 */
static verdict_t
c_wire_cuts(ctx_t *cx, char *why, size_t n)
{
    ctx_t v = via_proxy(cx);
    struct tsl_peer p;
    uint8_t *buf = malloc(2 * 65560);
    size_t hdr = cx->f.kind == TSL_FRAMING_VARIABLE ? cx->f.hdr_width : 2;
    size_t l0, l1, offs[20], k, i;
    verdict_t res = PASS;
    int way;

    if (buf == NULL)
        return tsl_conform_fail(why, n, "out of memory");
    for (way = 0; way < 2 && res == PASS; way++) {
        uint64_t seed = cx->seed + 95 + (uint64_t)way;
        /* The offsets come from this peer's messages (seeded). */
        if (tsl_conform_open(&v, &p, seed, why, n) < 0) {
            res = wire_fail(cx, why, n, "connecting through tsl-proxy");
            break;
        }
        l0 = tsl_peer_frame(&p, 0, buf, 65560);
        l1 = tsl_peer_frame(&p, 1, buf + l0, 65560);
        tsl_peer_close(&p);
        for (k = 0, i = 0; i <= hdr; i++)
            offs[k++] = i;
        for (i = 0; i <= hdr; i++)
            offs[k++] = l0 + i;
        for (i = 0; i < k && res == PASS; i++) {
            char what[200], plan[64];
            size_t cut = offs[i];
            snprintf(what, sizeof(what),
                     "the connection cut by %s after %zu bytes (%s of "
                     "message %d)",
                     way == 0 ? "a reset" : "the client's FIN", cut,
                     cut < l0 ? (cut < hdr ? "in the header" : "header done")
                     : cut - l0 < hdr ? "in the header"
                                      : "header done",
                     cut < l0 ? 0 : 1);
            snprintf(plan, sizeof(plan), "crash_reset=%zu", cut);
            if (proxy_plan(cx, way == 0 ? plan : "", why, n) < 0) {
                res = FAIL;
                break;
            }
            if (tsl_conform_open(&v, &p, seed, why, n) < 0) {
                res = wire_fail(cx, why, n, "connecting through tsl-proxy");
                break;
            }
            if (way == 0) {
                struct tsl_conform_pconn *pc;
                send_all(p.fd, buf, l0 + l1);
                pc = tsl_conform_proxy_conn(cx->px, p.fd,
                                            tsl_conform_ms(cx, 3000));
                if (pc == NULL ||
                    !tsl_conform_proxy_ended(cx->px, pc,
                                             tsl_conform_now_ms() +
                                                 tsl_conform_ms(cx, 3000))) {
                    snprintf(why, n, "tsl-proxy did not report the cut");
                    res = wire_fail(cx, why, n, what);
                }
            } else {
                if (send_all(p.fd, buf, cut) < 0) {
                    tsl_conform_fail(why, n, "sending: %s", strerror(errno));
                    res = wire_fail(cx, why, n, what);
                } else {
                    shutdown(p.fd, SHUT_WR);
                    p.sent = cut >= l0 ? 1 : 0;
                    if (p.sent > 0 &&
                        tsl_conform_drive(&v, &p, 0, TSL_PEER_WHOLE, 1, 0,
                                          idle(cx), why, n) < 0)
                        res = wire_fail(cx, why, n, what);
                    else if (!tsl_conform_closed_within(
                                 p.fd, tsl_conform_ms(cx, 2000))) {
                        tsl_conform_fail(
                            why, n, "%s, the connection was still open "
                                    "%.1f s later (a client's end of file "
                                    "must close it)",
                            p.sent ? "after the complete message's echo"
                                   : "with no complete message",
                            tsl_conform_ms(cx, 2000) / 1000.0);
                        res = wire_fail(cx, why, n, what);
                    }
                }
            }
            tsl_peer_close(&p);
            if (res != PASS)
                break;
            /* A fresh one each time: one held all along would be a
             * silent client, and a keepalive may drop it. */
            if (tsl_conform_exchange(cx, cx->seed + 94 + i, 1,
                                     TSL_PEER_WHOLE, why, n) < 0) {
                char pre[300];
                snprintf(pre, sizeof(pre), "a client connected directly, "
                                           "after %s", what);
                res = wire_fail(cx, why, n, pre);
            }
        }
    }
    free(buf);
    return res;
}

/* Waits for the server to close its side of the connection of p's fd,
 * sent its last bytes at t_sent: within the hold time and a slack, and
 * not before the hold time. */
static verdict_t
wire_dropped(ctx_t *cx, struct tsl_conform_pconn *pc, int64_t t_sent,
             const char *what, char *why, size_t n)
{
    int slack = tsl_conform_ms(cx, 1000);
    int64_t at;

    if (pc == NULL) {
        snprintf(why, n, "tsl-proxy did not report the connection");
        return wire_fail(cx, why, n, what);
    }
    if (!tsl_conform_proxy_server_closed(cx->px, pc,
                                         tsl_conform_now_ms() +
                                             (int64_t)cx->ka_hold_ms + slack,
                                         &at)) {
        tsl_conform_fail(why, n,
                         "the server still held the connection %u ms after "
                         "its last bytes; the declared hold time is %u ms "
                         "(no keepalive?)",
                         cx->ka_hold_ms + (unsigned)slack, cx->ka_hold_ms);
        return wire_fail(cx, why, n, what);
    }
    if (at < t_sent + (int64_t)cx->ka_hold_ms - 50) {
        tsl_conform_fail(why, n,
                         "the server closed it %lld ms after its last bytes, "
                         "before the %u ms hold time",
                         (long long)(at - t_sent), cx->ka_hold_ms);
        return wire_fail(cx, why, n, what);
    }
    return PASS;
}

/* The client's FIN is lost on the way (tsl-proxy keeps the server's side
 * open and passes nothing on): only the server's keepalive can tell. */
static verdict_t
c_wire_fin_loss(ctx_t *cx, char *why, size_t n)
{
    ctx_t v = via_proxy(cx);
    struct tsl_conform_pconn *pc;
    struct tsl_peer p;
    int64_t t0;
    verdict_t res;

    if (proxy_plan(cx, "fin_loss", why, n) < 0)
        return FAIL;
    if (tsl_conform_open(&v, &p, cx->seed + 97, why, n) < 0)
        return wire_fail(cx, why, n, "connecting through tsl-proxy");
    t0 = tsl_conform_now_ms();
    if (tsl_conform_drive(&v, &p, 1, TSL_PEER_WHOLE, 1, 0, idle(cx), why, n) <
        0) {
        tsl_peer_close(&p);
        return wire_fail(cx, why, n, "a message before the close");
    }
    pc = tsl_conform_proxy_conn(cx->px, p.fd, tsl_conform_ms(cx, 3000));
    tsl_peer_close(&p); /* the FIN that never arrives */
    res = wire_dropped(cx, pc, t0, "a client whose FIN was lost", why, n);
    if (res == PASS && pc != NULL &&
        strcmp(pc->reason, "fin_loss-upstream-closed") != 0 &&
        strncmp(pc->reason, "upstream", 8) != 0) {
        snprintf(why, n, "tsl-proxy ended the connection for '%s', not the "
                         "server's close",
                 pc->reason);
        res = wire_fail(cx, why, n, "a client whose FIN was lost");
    }
    return res;
}

/* The client crashes in the middle of its second message's header:
 * exactly that many bytes reach the server, then nothing either way, no
 * FIN, no RST. */
static verdict_t
c_wire_crash(ctx_t *cx, char *why, size_t n)
{
    ctx_t v = via_proxy(cx);
    struct tsl_conform_pconn *pc;
    struct tsl_peer p;
    uint8_t *buf = malloc(2 * 65560);
    char plan[64];
    size_t l0, l1;
    int64_t t0;
    verdict_t res;

    if (buf == NULL)
        return tsl_conform_fail(why, n, "out of memory");
    if (tsl_conform_open(&v, &p, cx->seed + 98, why, n) < 0) {
        free(buf);
        return wire_fail(cx, why, n, "connecting through tsl-proxy");
    }
    l0 = tsl_peer_frame(&p, 0, buf, 65560);
    l1 = tsl_peer_frame(&p, 1, buf + l0, 65560);
    tsl_peer_close(&p);
    snprintf(plan, sizeof(plan), "crash_silent=%zu", l0 + 1);
    if (proxy_plan(cx, plan, why, n) < 0) {
        free(buf);
        return FAIL;
    }
    if (tsl_conform_open(&v, &p, cx->seed + 98, why, n) < 0) {
        free(buf);
        return wire_fail(cx, why, n, "connecting through tsl-proxy");
    }
    t0 = tsl_conform_now_ms();
    send_all(p.fd, buf, l0 + l1);
    pc = tsl_conform_proxy_conn(cx->px, p.fd, tsl_conform_ms(cx, 3000));
    res = wire_dropped(cx, pc, t0,
                       "a client that crashed one byte into its second "
                       "message",
                       why, n);
    tsl_peer_close(&p);
    free(buf);
    return res;
}

/* ---- the catalogue ---- */

/*
 * What of TCP itself a case depends on, for its n/a on a Unix socket
 * (--unix).  Decided case by case: everything else runs there as it is
 * (a reset is a close with replies unread, which the server feels as
 * ECONNRESET then EPIPE, as 4.3 needs; a full backlog refuses at once
 * instead of dropping a SYN, which 4.5 allows for; the shim of 9.1 wraps
 * the server's calls whatever the socket).  9.2-9.5 go through
 * tsl-proxy, a TCP proxy, which --unix refuses.
 */
const char *
tsl_conform_tcp_why(const char *id)
{
    if (strcmp(id, "1.6") == 0)
        return "a 4 KiB TCP receive window and 536-byte segments; a Unix "
               "socket's sender alone sets its buffer";
    if (strncmp(id, "9.", 2) == 0)
        return "faults on the wire through tsl-proxy, a TCP proxy (resets, "
               "cut connections); --proxy is refused with --unix";
    return "depends on TCP";
}

#define VAR TSL_CONFORM_NEED_VARIABLE
#define TCP TSL_CONFORM_NEED_TCP
#define WIRE_KA (TSL_CONFORM_NEED_PROXY | TSL_CONFORM_NEED_KA | TCP)

const struct tsl_conform_group tsl_conform_groups[] = {
    {1, "framing", NULL, 9,
     {{"1.1", "one message is echoed", c_single, 1, 0, 1},
      {"1.2.1", "split: one byte per write", c_split_bytes, 2, 0, 1},
      {"1.2.2", "split: random cuts across messages", c_split_random, 2, 0,
       1},
      {"1.3", "coalesced: 50 messages in one write", c_coalesce, 2, 0, 1},
      {"1.4.1", "minimum frame (1-byte payload)", c_min, 1, VAR, 1},
      {"1.4.2", "large frame (4000 bytes)", c_large, 1, VAR, 1},
      {"1.4.3", "maximum frame (65535 bytes)", c_max, 1, VAR, 1},
      {"1.5", "a header-only frame is a keepalive, not a message",
       c_keepalive_frame, 1, VAR, 1},
      {"1.6", "a small-window reader: short writes retried, nothing lost",
       c_small_window, 2, TCP, 1}}},
    {2, "malformed headers", NULL, 3,
     {{"2.1", "length 0: the client is closed, others served", c_len0, 2,
       VAR, 2},
      {"2.2", "length 1: the client is closed, others served", c_len1, 2,
       VAR, 2},
      {"2.3", "a client stuck mid-frame blocks nobody", c_stuck_mid_frame, 2,
       VAR, 2}}},
    {3, "many clients", NULL, 3,
     {{"3.1", "50 concurrent clients, every byte verified", c_many, 3, 0,
       50},
      {"3.2", "split frames of two clients around a third's: no bytes cross",
       c_interleaved, 2, 0, 3},
      {"3.3", "a reply does not wait for another client's traffic",
       c_head_of_line, 2, 0, 2}}},
    {4, "client lifecycle", NULL, 5,
     {{"4.1", "a client closes without reading", c_client_close, 1, 0, 2},
      {"4.2", "half-close: all replies, then a close", c_half_close, 2, 0, 1},
      {"4.3", "a client resets with replies pending (SIGPIPE)", c_reset, 2,
       0, 2},
      {"4.4", "300 connections one after another (128 files)", c_churn, 2, 0,
       1},
      {"4.5", "more clients than files: no busy loop, served after",
       c_file_limit, 2, 0, 0}}},
    {5, "keepalive", NULL, 2,
     {{"5.1", "a silent peer (lost FIN, crashed host) is dropped",
       c_ka_silent, 2, TSL_CONFORM_NEED_KA, 1},
      {"5.2", "keepalive frames keep a client", c_ka_kept, 1,
       TSL_CONFORM_NEED_KA | VAR, 1}}},
    {6, "max clients", NULL, 1,
     {{"6.1", "a client beyond the limit is closed", c_max_clients, 1,
       TSL_CONFORM_NEED_MAX, 0}}},
    {7, "graceful stop", NULL, 1,
     {{"7.1", "SIGTERM: clients closed, exit 0 within 5 s", c_stop, 2,
       TSL_CONFORM_STOPS, 0}}},
    {8, "sustained load", NULL, 1,
     {{"8.1", "8 clients plus 2000 messages, checksummed", c_load, 2, 0,
       8}}},
    {9, "faults, in the server (--shim) and on the wire (--proxy)",
     "split=1..3,short=1..7,eintr=20,eagain=10", 1,
     {{"9.1", "short reads and writes, EINTR and EAGAIN storms",
       c_preloaded, 2, TSL_CONFORM_NEED_SHIM, 1}}},
    /* The same group, on a server of its own without the shim, so that
     * a failure on the wire is the wire's. */
    {9, "faults on the wire (tsl-proxy, --proxy)", NULL, 4,
     {{"9.2", "wire: split, short, delayed and coalesced segments",
       c_wire_segments, 2, TSL_CONFORM_NEED_PROXY | TCP, 1},
      {"9.3", "wire: cut by a reset or a FIN at every byte of a header",
       c_wire_cuts, 2, TSL_CONFORM_NEED_PROXY | TCP, 2},
      {"9.4", "wire: a lost FIN, the client dropped by keepalive",
       c_wire_fin_loss, 1, WIRE_KA, 1},
      {"9.5", "wire: a peer crashed mid-header, dropped by keepalive",
       c_wire_crash, 1, WIRE_KA, 1}}},
};
const size_t tsl_conform_ngroups =
    sizeof(tsl_conform_groups) / sizeof(tsl_conform_groups[0]);

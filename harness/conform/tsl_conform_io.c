/*
 * tsl_conform_io.c - the client side of tsl-conform's cases: a full-duplex
 * driver over a tsl_peer's seeded messages, and reasons a student can act
 * on when it fails.
 *
 * tsl_peer's own send-all-then-check is enough for our server, which
 * buffers a burst; a blocking thread-per-client server is not required to
 * (it stops reading while its write waits for us), so the cases here send
 * and read at once, from one thread, with poll() on a nonblocking socket.
 * Every wait has a deadline measured from the last progress, and every
 * failure says what was awaited, for how long, and how much had arrived;
 * a wrong echo is shown as a hex dump around its first differing byte.
 * Messages and their chunking are the peer's pure functions of the seed,
 * so a failure replays.  Used by one thread per peer; no shared state.
 *
 * Every connection to the server goes to cx->to (--host, --unix): the
 * address is resolved once at start, so a slow or changing resolver
 * cannot make one case connect elsewhere than another.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tsl_conform.h"
#include "tsl_mix.h"

#define FRAME_ROOM 65560         /* a frame plus the peer's header room */
#define STAGE_CAP (256 * 1024)   /* coalesced messages per write */

int64_t
tsl_conform_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
tsl_conform_ms(const struct tsl_conform_ctx *cx, int base)
{
    return (int)(base * cx->scale);
}

enum tsl_conform_verdict
tsl_conform_fail(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return TSL_CONFORM_FAIL;
}

static void
append(char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
append(char *why, size_t n, const char *fmt, ...)
{
    size_t used = strlen(why);
    va_list ap;

    if (used + 1 >= n)
        return;
    va_start(ap, fmt);
    vsnprintf(why + used, n - used, fmt, ap);
    va_end(ap);
}

int
tsl_conform_addr_host(struct tsl_conform_addr *a, const char *host,
                      char *why, size_t n)
{
    struct addrinfo hints, *res = NULL, *r;
    char buf[INET6_ADDRSTRLEN + 2];
    size_t len = strlen(host), i;
    int rc;

    memset(a, 0, sizeof(*a));
    if (len == 0)
        return snprintf(why, n, "--host: an empty host"), -1;
    if (inet_pton(AF_INET, host, &a->u.in.sin_addr) == 1) {
        a->u.in.sin_family = AF_INET;
        a->len = sizeof(a->u.in);
        goto named;
    }
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']' &&
        len - 2 < sizeof(buf)) {
        memcpy(buf, host + 1, len - 2);
        buf[len - 2] = '\0';
        if (inet_pton(AF_INET6, buf, &a->u.in6.sin6_addr) != 1)
            return snprintf(why, n, "--host '%s': not an IPv6 address in "
                                    "brackets",
                            host),
                   -1;
        a->u.in6.sin6_family = AF_INET6;
        a->len = sizeof(a->u.in6);
        goto named;
    }
    if (inet_pton(AF_INET6, host, &a->u.in6.sin6_addr) == 1) {
        a->u.in6.sin6_family = AF_INET6;
        a->len = sizeof(a->u.in6);
        goto named;
    }
    /* A name as resolvers take them (letters, digits, '-', '.'), with a
     * letter somewhere: "127.1.2" or "300.0.0.1" is a bad address, not a
     * name to look up. */
    for (i = 0, rc = 0; host[i] != '\0'; i++) {
        char c = (char)(host[i] | 0x20);
        if (c >= 'a' && c <= 'z')
            rc = 1;
        else if (host[i] != '-' && host[i] != '.' &&
                 (host[i] < '0' || host[i] > '9'))
            break;
    }
    if (host[i] != '\0' || rc == 0 || len > 253)
        return snprintf(why, n,
                        "--host '%s': not an IPv4 or IPv6 address or a host "
                        "name",
                        host),
               -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0)
        return snprintf(why, n, "--host '%s': cannot resolve: %s", host,
                        gai_strerror(rc)),
               -1;
    for (r = res; r != NULL; r = r->ai_next)
        if ((r->ai_family == AF_INET && r->ai_addrlen >= sizeof(a->u.in)) ||
            (r->ai_family == AF_INET6 && r->ai_addrlen >= sizeof(a->u.in6)))
            break;
    if (r != NULL) {
        a->len = r->ai_family == AF_INET ? sizeof(a->u.in) : sizeof(a->u.in6);
        memcpy(&a->u, r->ai_addr, a->len);
    }
    freeaddrinfo(res);
    if (r == NULL)
        return snprintf(why, n, "--host '%s': no IPv4 or IPv6 address",
                        host),
               -1;
named:
    inet_ntop(a->u.sa.sa_family,
              a->u.sa.sa_family == AF_INET ? (void *)&a->u.in.sin_addr
                                           : (void *)&a->u.in6.sin6_addr,
              a->text, sizeof(a->text));
    return 0;
}

int
tsl_conform_addr_unix(struct tsl_conform_addr *a, const char *path,
                      char *why, size_t n)
{
    size_t len = strlen(path);

    memset(a, 0, sizeof(*a));
    if (len == 0 || strcmp(path, "@") == 0)
        return snprintf(why, n, "--unix: an empty socket path"), -1;
    if (len >= sizeof(a->u.un.sun_path))
        return snprintf(why, n, "--unix: the path is longer than a Unix "
                                "socket's %zu bytes",
                        sizeof(a->u.un.sun_path) - 1),
               -1;
    a->u.un.sun_family = AF_UNIX;
    memcpy(a->u.un.sun_path, path, len);
    if (path[0] == '@')
        a->u.un.sun_path[0] = '\0'; /* abstract: no file, no NUL */
    a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                         (path[0] == '@' ? 0 : 1));
    snprintf(a->text, sizeof(a->text), "unix:%s", path);
    return 0;
}

bool
tsl_conform_addr_is_unix(const struct tsl_conform_addr *a)
{
    return a->u.sa.sa_family == AF_UNIX;
}

socklen_t
tsl_conform_addr_at(const struct tsl_conform_addr *a, uint16_t port,
                    struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out, &a->u, a->len);
    if (a->u.sa.sa_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = htons(port);
    else if (a->u.sa.sa_family == AF_INET6)
        ((struct sockaddr_in6 *)out)->sin6_port = htons(port);
    return a->len;
}

void
tsl_conform_addr_text(const struct tsl_conform_addr *a, uint16_t port,
                      char *out, size_t n)
{
    if (a->u.sa.sa_family == AF_INET6)
        snprintf(out, n, "[%s]:%u", a->text, port);
    else if (a->u.sa.sa_family == AF_INET)
        snprintf(out, n, "%s:%u", a->text, port);
    else
        snprintf(out, n, "%s", a->text);
}

int
tsl_conform_open(struct tsl_conform_ctx *cx, struct tsl_peer *p,
                 uint64_t seed, char *why, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = tsl_conform_addr_at(cx->to, cx->port, &ss);

    if (tsl_peer_open_sa(p, (struct sockaddr *)&ss, len, &cx->f, seed,
                         tsl_conform_ms(cx, 3000)) == 0)
        return 0;
    snprintf(why, n, "%s", p->why);
    tsl_peer_close(p);
    return -1;
}

int
tsl_conform_open_narrow(struct tsl_conform_ctx *cx, struct tsl_peer *p,
                        uint64_t seed, char *why, size_t n)
{
    int small = 4096, mss = 536, one = 1, fd, t = tsl_conform_ms(cx, 3000);
    struct timeval tv = {t / 1000, (t % 1000) * 1000};
    struct sockaddr_storage ss;
    socklen_t len = tsl_conform_addr_at(cx->to, cx->port, &ss);
    char text[TSL_PEER_ADDR_TEXT];

    /* The peer's state comes from tsl_peer_open_sa; its socket is one
     * whose options must be set before the handshake.  On a Unix socket
     * only the buffer is asked for, and the sender's own buffer is what
     * limits it: 4.3 still has replies pending, but 1.6's small window is
     * TCP's and n/a there. */
    tsl_peer_open_sa(p, NULL, 0, &cx->f, seed, t);
    p->fd = fd = tsl_conform_socket(cx, 0);
    if (fd < 0) {
        snprintf(why, n, "socket: %s", strerror(errno));
        tsl_peer_close(p);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    if (!tsl_conform_addr_is_unix(cx->to)) {
        setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        int e = errno;
        tsl_conform_addr_text(cx->to, cx->port, text, sizeof(text));
        snprintf(why, n, "connect %s: %s", text, strerror(e));
        tsl_peer_close(p);
        return -1;
    }
    return 0;
}

int
tsl_conform_tmpfile(char *path, size_t n, const char *what)
{
    const char *dir = getenv("TMPDIR");
    int k;

    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    k = snprintf(path, n, "%s/tsl-conform-%s%sXXXXXX", dir, what,
                 what[0] != '\0' ? "-" : "");
    if (k < 0 || (size_t)k >= n) {
        if (n > 0)
            path[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkostemp(path, O_CLOEXEC);
}

void
tsl_conform_hexdiff(char *why, size_t n, const uint8_t *want,
                    const uint8_t *got, size_t len, size_t at)
{
    size_t from = at >= 8 ? (at - 8) & ~(size_t)7 : 0, i;

    append(why, n, "\n  expected @%zu:", from);
    for (i = from; i < len && i < from + 24; i++)
        append(why, n, " %02x", want[i]);
    append(why, n, "\n  got      @%zu:", from);
    for (i = from; i < len && i < from + 24; i++)
        append(why, n, i == at ? " [%02x]" : " %02x", got[i]);
}

/* Where the 4-byte sequence number sits in a frame of this framing. */
static size_t
seq_offset(const tsl_framing_t *f)
{
    return f->kind == TSL_FRAMING_VARIABLE ? f->hdr_width : 0;
}

struct flow {
    uint8_t *stage, *want, *got;
    size_t st_len, st_off;   /* staged bytes, and how many are sent */
    size_t cut;              /* bytes left in the current write */
    uint32_t to_stage;       /* messages not staged yet */
    uint32_t staged_from;    /* first message in the stage */
    size_t want_len, have;   /* the echo being read */
};

/* Stages the next messages: one for whole and bytewise writes, as many
 * as fit for coalesced and random cuts. */
static void
stage(struct tsl_peer *p, struct flow *fl, enum tsl_peer_mode mode)
{
    fl->st_len = fl->st_off = 0;
    fl->staged_from = p->sent;
    while (fl->to_stage > 0 && fl->st_len + FRAME_ROOM <= STAGE_CAP) {
        fl->st_len += tsl_peer_frame(p, p->sent, fl->stage + fl->st_len,
                                     FRAME_ROOM);
        p->sent++;
        fl->to_stage--;
        if (mode == TSL_PEER_WHOLE || mode == TSL_PEER_BYTES)
            break;
    }
    fl->cut = 0;
}

static size_t
next_cut(struct tsl_peer *p, struct flow *fl, enum tsl_peer_mode mode)
{
    size_t left = fl->st_len - fl->st_off, c = left;

    if (mode == TSL_PEER_BYTES) {
        c = 1;
    } else if (mode == TSL_PEER_RANDOM) {
        p->rng = tsl_mix(p->rng);
        c = 1 + p->rng % 97;
    }
    return c < left ? c : left;
}

/* Checks a whole echo; -1 with why when it differs. */
static int
verify(struct tsl_peer *p, struct flow *fl, char *why, size_t n)
{
    size_t i, so = seq_offset(&p->f);

    for (i = 0; i < fl->want_len && fl->got[i] == fl->want[i]; i++)
        ;
    if (i == fl->want_len)
        return 0;
    snprintf(why, n, "echo %u (%zu bytes) differs from byte %zu on",
             p->checked, fl->want_len, i);
    if (fl->want_len >= so + 4) {
        uint32_t seq = (uint32_t)fl->got[so] | (uint32_t)fl->got[so + 1] << 8 |
                       (uint32_t)fl->got[so + 2] << 16 |
                       (uint32_t)fl->got[so + 3] << 24;
        if (seq != p->checked && seq < p->sent)
            append(why, n, " (what came carries message %u's number: "
                           "a reply was lost, cut short or reordered)",
                   seq);
    }
    tsl_conform_hexdiff(why, n, fl->want, fl->got, fl->want_len, i);
    return -1;
}

/* The longer of gap and the time since tx. */
static int64_t
longest(int64_t gap, int64_t tx)
{
    int64_t d = tsl_conform_now_ms() - tx;

    return d > gap ? d : gap;
}

int
tsl_conform_drive(struct tsl_conform_ctx *cx, struct tsl_peer *p,
                  uint32_t nsend, enum tsl_peer_mode mode, uint32_t upto,
                  int flags, int idle_ms, char *why, size_t n)
{
    struct flow fl;
    int64_t last = tsl_conform_now_ms(), tx = last, gap = 0;
    int r = -1, fl_flags;
    bool blocked = false; /* our last send found the socket full */

    (void)cx;
    memset(&fl, 0, sizeof(fl));
    fl.stage = malloc(STAGE_CAP);
    fl.want = malloc(FRAME_ROOM);
    fl.got = malloc(FRAME_ROOM);
    fl.to_stage = nsend;
    if (fl.stage == NULL || fl.want == NULL || fl.got == NULL) {
        snprintf(why, n, "out of memory");
        goto out;
    }
    if (flags & TSL_CONFORM_NOREAD)
        upto = p->checked;
    fl_flags = fcntl(p->fd, F_GETFL);
    fcntl(p->fd, F_SETFL, fl_flags | O_NONBLOCK);
    for (;;) {
        struct pollfd pf = {p->fd, 0, 0};
        bool sending = fl.st_off < fl.st_len || fl.to_stage > 0;
        bool reading = p->checked < upto;
        int64_t idle;
        ssize_t k;
        int burst;

        if (!sending && !reading) {
            r = 0;
            break;
        }
        if (reading && fl.want_len == 0) {
            fl.want_len = tsl_peer_frame(p, p->checked, fl.want, FRAME_ROOM);
            fl.have = 0;
        }
        if (sending)
            pf.events |= POLLOUT;
        if (reading &&
            !(sending && (flags & TSL_CONFORM_WRITE_FIRST) && !blocked))
            pf.events |= POLLIN;
        idle = tsl_conform_now_ms() - last;
        if (idle >= idle_ms) {
            if (reading)
                snprintf(why, n,
                         "timed out after %.1f s waiting for echo %u (%zu "
                         "bytes, got %zu)",
                         idle / 1000.0, p->checked, fl.want_len, fl.have);
            else
                snprintf(why, n,
                         "timed out after %.1f s sending message %u: the "
                         "server stopped reading",
                         idle / 1000.0, fl.staged_from);
            if (reading && sending)
                append(why, n, "; the server had stopped reading too "
                               "(message %u not yet sent)",
                       fl.staged_from);
            break;
        }
        if (reading && !(pf.events & POLLIN)) {
            /* Writing first: a socket that stays full for 20 ms counts as
             * blocked even if our last send went whole, so that a server
             * blocked in its own send gets us reading. */
            if (poll(&pf, 1, idle_ms - idle < 20 ? (int)(idle_ms - idle)
                                                 : 20) <= 0) {
                blocked = true;
                continue;
            }
        } else if (poll(&pf, 1, (int)(idle_ms - idle)) <= 0) {
            continue;
        }
        if (reading && (pf.revents & (POLLIN | POLLHUP | POLLERR))) {
            k = recv(p->fd, fl.got + fl.have, fl.want_len - fl.have, 0);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
                if (sending)
                    tsl_conform_silence(cx, longest(gap, tx));
                snprintf(why, n,
                         "the server %s the connection while echo %u was "
                         "due (%zu of %zu bytes received, %u echoes "
                         "verified)",
                         k == 0 ? "closed" : errno == ECONNRESET ? "reset"
                                                                : "broke",
                         p->checked, fl.have, fl.want_len, p->checked);
                break;
            }
            if (k > 0) {
                last = tsl_conform_now_ms();
                fl.have += (size_t)k;
                if (fl.have == fl.want_len) {
                    if (verify(p, &fl, why, n) < 0)
                        break;
                    p->checked++;
                    fl.want_len = 0;
                }
            }
        }
        /* Up to 64 writes a turn (each its own send(), so the cuts stay
         * what the mode says): one poll() per byte would spread a
         * bytewise client thinner than any real one. */
        for (burst = 0; sending && burst < 64 &&
                        (pf.revents & (POLLOUT | POLLERR | POLLHUP));
             burst++) {
            if (fl.st_off == fl.st_len && fl.to_stage == 0)
                break;
            if (fl.st_off == fl.st_len)
                stage(p, &fl, mode);
            if (fl.cut == 0)
                fl.cut = next_cut(p, &fl, mode);
            k = send(p->fd, fl.stage + fl.st_off, fl.cut, MSG_NOSIGNAL);
            if (k < 0 && errno != EAGAIN && errno != EINTR) {
                tsl_conform_silence(cx, longest(gap, tx));
                snprintf(why, n,
                         "the server %s the connection while messages %u.. "
                         "were being sent (%u echoes verified)",
                         errno == ECONNRESET ? "reset" : "closed",
                         fl.staged_from, p->checked);
                goto out_fl;
            }
            /* Sent, or the socket full: either way not silent.  The
             * longest pause between sends counts (a send may still
             * succeed after the server's FIN). */
            gap = longest(gap, tx);
            tx = tsl_conform_now_ms();
            blocked = k <= 0;
            if (k <= 0)
                break; /* full: poll again */
            last = tsl_conform_now_ms();
            fl.st_off += (size_t)k;
            fl.cut -= (size_t)k;
            if (fl.cut > 0) {
                blocked = true;
                break; /* a short write: the socket is full */
            }
        }
    }
out_fl:
    fcntl(p->fd, F_SETFL, fl_flags);
out:
    free(fl.stage);
    free(fl.want);
    free(fl.got);
    return r;
}

void
tsl_conform_silence(struct tsl_conform_ctx *cx, int64_t ms)
{
    int64_t cur = __atomic_load_n(&cx->silent_ms, __ATOMIC_RELAXED);

    while (ms > cur &&
           !__atomic_compare_exchange_n(&cx->silent_ms, &cur, ms, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

int
tsl_conform_exchange(struct tsl_conform_ctx *cx, uint64_t seed, uint32_t n,
                     enum tsl_peer_mode mode, char *why, size_t wn)
{
    struct tsl_peer p;
    int r = -1;

    if (tsl_conform_open(cx, &p, seed, why, wn) == 0)
        r = tsl_conform_drive(cx, &p, n, mode, n, 0,
                              tsl_conform_ms(cx, 3000), why, wn);
    tsl_peer_close(&p);
    return r;
}

int
tsl_conform_socket(const struct tsl_conform_ctx *cx, int flags)
{
    return socket(cx->to->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | flags,
                  0);
}

int
tsl_conform_connect(struct tsl_conform_ctx *cx)
{
    struct sockaddr_storage ss;
    socklen_t len = tsl_conform_addr_at(cx->to, cx->port, &ss);
    int t = tsl_conform_ms(cx, 3000);
    struct timeval tv = {t / 1000, (t % 1000) * 1000};
    int fd = tsl_conform_socket(cx, 0), e;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int
tsl_conform_closed_within(int fd, int wait)
{
    int64_t end = tsl_conform_now_ms() + wait;
    struct pollfd pf = {fd, POLLIN, 0};
    char buf[4096];
    ssize_t r;

    while (tsl_conform_now_ms() < end) {
        if (poll(&pf, 1, (int)(end - tsl_conform_now_ms())) <= 0)
            continue;
        r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 1;
    }
    return 0;
}

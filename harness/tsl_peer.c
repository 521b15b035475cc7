/*
 * tsl_peer.c - see tsl_peer.h.  No shared state: each peer is used by one
 * thread.
 */
#define _GNU_SOURCE
#include "tsl_peer.h"
#include "tsl_mix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PEER_MAX_PAYLOAD 2000
#define FRAME_CAP 65560        /* fixed:65535, with room in front */
#define OUT_CAP (256 * 1024)   /* coalesced writes */

static int
why(struct tsl_peer *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->why, sizeof(p->why), fmt, ap);
    va_end(ap);
    return -1;
}

int
tsl_peer_open(struct tsl_peer *p, const char *ip, uint16_t port,
              const tsl_framing_t *f, uint64_t seed, int timeout_ms)
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        /* The buffers and a closed fd, so that tsl_peer_close is safe. */
        tsl_peer_open_sa(p, NULL, 0, f, seed, timeout_ms);
        return why(p, "bad address %s", ip);
    }
    return tsl_peer_open_sa(p, (const struct sockaddr *)&sa, sizeof(sa), f,
                            seed, timeout_ms);
}

/* "127.0.0.1:4000", "[::1]:4000", "unix:PATH" for a failure's text. */
static void
sa_text(const struct sockaddr *sa, socklen_t len, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN];
    const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
    size_t plen;

    switch (sa->sa_family) {
    case AF_INET:
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host,
                  sizeof(host));
        snprintf(out, n, "%s:%u", host,
                 ntohs(((const struct sockaddr_in *)sa)->sin_port));
        break;
    case AF_INET6:
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                  host, sizeof(host));
        snprintf(out, n, "[%s]:%u", host,
                 ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
        break;
    case AF_UNIX:
        plen = len > offsetof(struct sockaddr_un, sun_path)
                   ? len - offsetof(struct sockaddr_un, sun_path)
                   : 0;
        if (plen > 0 && un->sun_path[0] == '\0')
            snprintf(out, n, "unix:@%.*s", (int)plen - 1, un->sun_path + 1);
        else
            snprintf(out, n, "unix:%.*s", (int)strnlen(un->sun_path, plen),
                     un->sun_path);
        break;
    default:
        snprintf(out, n, "?");
    }
}

int
tsl_peer_open_sa(struct tsl_peer *p, const struct sockaddr *sa,
                 socklen_t len, const tsl_framing_t *f, uint64_t seed,
                 int timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    char text[TSL_PEER_ADDR_TEXT];
    int one = 1;

    memset(p, 0, sizeof(*p));
    p->fd = -1;
    p->f = *f;
    p->seed = seed;
    p->rng = tsl_mix(seed ^ 0x5eed);
    /* The largest payload the framing carries, within our own bound. */
    p->max_len = PEER_MAX_PAYLOAD;
    if (f->kind == TSL_FRAMING_VARIABLE) {
        uint64_t m = f->max_frame - f->hdr_width;
        if (f->hdr_width == 1 && m > 255 - 1)
            m = 254;
        if (m < p->max_len)
            p->max_len = (uint32_t)m;
    } else if (f->kind == TSL_FRAMING_DELIMITER && f->max_frame < p->max_len) {
        p->max_len = f->max_frame;
    }
    p->out = malloc(OUT_CAP);
    p->want = malloc(FRAME_CAP);
    p->got = malloc(FRAME_CAP);
    if (p->out == NULL || p->want == NULL || p->got == NULL)
        return why(p, "out of memory");
    if (sa == NULL)
        return -1;
    p->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->fd < 0)
        return why(p, "socket: %s", strerror(errno));
    setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(p->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (sa->sa_family != AF_UNIX)
        setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(p->fd, sa, len) < 0) {
        int e = errno;
        sa_text(sa, len, text, sizeof(text));
        return why(p, "connect %s: %s", text, strerror(e));
    }
    return 0;
}

/* The payload of message seq: 4-byte seq, then seeded bytes. */
static size_t
payload(const struct tsl_peer *p, uint32_t seq, uint8_t *out)
{
    uint64_t x = tsl_mix(p->seed ^ tsl_mix(seq + 1));
    size_t n, i;

    if (p->f.kind == TSL_FRAMING_FIXED)
        n = p->f.fixed_size;
    else
        n = 4 + (size_t)(x % (p->max_len > 4 ? p->max_len - 3 : 1));
    if (n > p->max_len && p->f.kind != TSL_FRAMING_FIXED)
        n = p->max_len;
    for (i = 0; i < n; i++) {
        if (i < 4) {
            out[i] = (uint8_t)(seq >> (8 * i));
        } else {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            out[i] = (uint8_t)(x >> 56);
        }
        /* A delimiter must not occur inside a message. */
        if (p->f.kind == TSL_FRAMING_DELIMITER && out[i] == p->f.delim[0])
            out[i] ^= 0x55;
    }
    return n;
}

size_t
tsl_peer_frame(const struct tsl_peer *p, uint32_t seq, uint8_t *out,
               size_t cap)
{
    uint8_t *pl = out + 8; /* room for a header in front */
    size_t n = payload(p, seq, pl), w = p->f.hdr_width, i, total;

    (void)cap;
    if (p->f.kind == TSL_FRAMING_VARIABLE) {
        total = p->f.len_exclusive ? n : n + w;
        for (i = 0; i < w; i++) {
            size_t k = p->f.big_endian ? w - 1 - i : i;
            out[k] = (uint8_t)(total >> (8 * i));
        }
        memmove(out + w, pl, n);
        return n + w;
    }
    memmove(out, pl, n);
    if (p->f.kind == TSL_FRAMING_DELIMITER) {
        memcpy(out + n, p->f.delim, p->f.delim_len);
        return n + p->f.delim_len;
    }
    return n;
}

static int
write_all(struct tsl_peer *p, const uint8_t *b, size_t n)
{
    ssize_t r;

    while (n > 0) {
        r = send(p->fd, b, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return why(p, "send after %u messages: %s", p->sent,
                       r < 0 ? strerror(errno) : "0 bytes");
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

int
tsl_peer_send(struct tsl_peer *p, uint32_t n, enum tsl_peer_mode mode)
{
    uint8_t *buf = p->out;
    size_t used = 0, len, off, cut;
    uint32_t i;

    for (i = 0; i < n; i++) {
        len = tsl_peer_frame(p, p->sent, buf + used, OUT_CAP - used);
        p->sent++;
        if (mode == TSL_PEER_WHOLE) {
            if (write_all(p, buf, len) < 0)
                return -1;
        } else if (mode == TSL_PEER_BYTES) {
            for (off = 0; off < len; off++)
                if (write_all(p, buf + off, 1) < 0)
                    return -1;
        } else {
            used += len;
            if (OUT_CAP - used < FRAME_CAP + 8 || i + 1 == n) {
                if (mode == TSL_PEER_COALESCE) {
                    if (write_all(p, buf, used) < 0)
                        return -1;
                } else {
                    for (off = 0; off < used; off += cut) {
                        p->rng = tsl_mix(p->rng);
                        cut = 1 + p->rng % 97;
                        if (cut > used - off)
                            cut = used - off;
                        if (write_all(p, buf + off, cut) < 0)
                            return -1;
                    }
                }
                used = 0;
            }
        }
    }
    return 0;
}

int
tsl_peer_check(struct tsl_peer *p, uint32_t n)
{
    uint8_t *want = p->want, *got = p->got;
    size_t len, have, i;
    ssize_t r;

    while (n-- > 0) {
        len = tsl_peer_frame(p, p->checked, want, FRAME_CAP);
        for (have = 0; have < len; have += (size_t)r) {
            r = recv(p->fd, got + have, len - have, 0);
            if (r < 0 && errno == EINTR) {
                r = 0;
                continue;
            }
            if (r <= 0)
                return why(p, "echo %u: %s after %zu of %zu bytes", p->checked,
                           r == 0 ? "EOF" : strerror(errno), have, len);
        }
        for (i = 0; i < len; i++)
            if (got[i] != want[i])
                return why(p, "echo %u: byte %zu is %u, expected %u",
                           p->checked, i, got[i], want[i]);
        p->checked++;
    }
    return 0;
}

int
tsl_peer_wait_closed(struct tsl_peer *p, int ms)
{
    struct pollfd pf = {p->fd, POLLIN, 0};
    struct timespec t0, t;
    uint8_t buf[4096];
    ssize_t r;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long el;
        clock_gettime(CLOCK_MONOTONIC, &t);
        el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (el > ms)
            return 0;
        if (poll(&pf, 1, (int)(ms - el)) <= 0)
            continue;
        r = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 1;
    }
}

void
tsl_peer_close(struct tsl_peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    free(p->out);
    free(p->want);
    free(p->got);
    p->out = p->want = p->got = NULL;
}

void
tsl_peer_half_close(struct tsl_peer *p)
{
    shutdown(p->fd, SHUT_WR);
}

void
tsl_peer_reset(struct tsl_peer *p)
{
    struct linger lg = {1, 0};

    setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    tsl_peer_close(p);
}

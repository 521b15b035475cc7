/*
 * tsl_net.c - addresses and the listening socket.
 *
 * The API takes an address as text: IPv4, IPv6, a host name (resolved
 * when the server is configured, never on a serving thread) or a Unix
 * socket path.  Peers are shown in numeric form, an IPv4-mapped IPv6 peer
 * of a dual-stack listener as the IPv4 address it is, so that a black-list
 * entry and a lookup by address mean the same whichever way a client came.
 *
 * SO_REUSEADDR lets a stopped server listen again at once on the port it
 * had (TIME_WAIT); SO_REUSEPORT is deliberately not set: with it another
 * process could bind the same port and silently take part of our
 * connections (the course's code did this).  A Unix socket's name is
 * removed when its server stops; an existing name is refused (EADDRINUSE)
 * rather than taken from whoever made it.  Any thread; no state.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsl_internal.h"
#include "tsl_net.h"
#include "tsl_sys.h"

static int
addr_unix(struct tsl__addr *a, const char *path)
{
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(a->u.un.sun_path) || strcmp(path, "@") == 0)
        return TSL_EINVAL;
    a->u.un.sun_family = AF_UNIX;
    memcpy(a->u.un.sun_path, path, n);
    if (path[0] == '@')
        a->u.un.sun_path[0] = '\0'; /* abstract: no file, no NUL */
    a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                         (path[0] == '@' ? 0 : 1));
    return 0;
}

/* A numeric address, IPv6 in brackets or not. */
static bool
addr_numeric(struct tsl__addr *a, const char *text, uint16_t port)
{
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(text);

    if (inet_pton(AF_INET, text, &a->u.in.sin_addr) == 1) {
        a->u.in.sin_family = AF_INET;
        a->u.in.sin_port = htons(port);
        a->len = sizeof(a->u.in);
        return true;
    }
    if (n >= 2 && text[0] == '[' && text[n - 1] == ']' &&
        n - 2 < sizeof(buf)) {
        memcpy(buf, text + 1, n - 2);
        buf[n - 2] = '\0';
        text = buf;
    }
    if (inet_pton(AF_INET6, text, &a->u.in6.sin6_addr) == 1) {
        a->u.in6.sin6_family = AF_INET6;
        a->u.in6.sin6_port = htons(port);
        a->len = sizeof(a->u.in6);
        return true;
    }
    return false;
}

int
tsl__addr_parse(struct tsl__addr *a, const char *text, uint16_t port)
{
    struct addrinfo hints, *res = NULL, *r;
    bool letter = false;
    size_t i;
    int rc = TSL_EINVAL;

    memset(a, 0, sizeof(*a));
    if (text == NULL || text[0] == '\0')
        return TSL_EINVAL;
    if (strncmp(text, "unix:", 5) == 0)
        return addr_unix(a, text + 5);
    if (addr_numeric(a, text, port))
        return 0;
    /* A host name: letters, digits, '-' and '.', as resolvers take them,
     * with a letter somewhere (digits and dots are a bad IPv4 address,
     * not a name to look up). */
    for (i = 0; text[i] != '\0'; i++) {
        if ((text[i] | 0x20) >= 'a' && (text[i] | 0x20) <= 'z')
            letter = true;
        else if (!(text[i] == '-' || text[i] == '.' ||
                   (text[i] >= '0' && text[i] <= '9')))
            return TSL_EINVAL;
    }
    if (!letter || i > 253)
        return TSL_EINVAL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(text, NULL, &hints, &res) != 0)
        return TSL_EINVAL;
    for (r = res; r != NULL; r = r->ai_next) {
        if (r->ai_family == AF_INET && r->ai_addrlen >= sizeof(a->u.in)) {
            memcpy(&a->u.in, r->ai_addr, sizeof(a->u.in));
            a->u.in.sin_port = htons(port);
            a->len = sizeof(a->u.in);
        } else if (r->ai_family == AF_INET6 &&
                   r->ai_addrlen >= sizeof(a->u.in6)) {
            memcpy(&a->u.in6, r->ai_addr, sizeof(a->u.in6));
            a->u.in6.sin6_port = htons(port);
            a->len = sizeof(a->u.in6);
        } else {
            continue;
        }
        rc = 0;
        break;
    }
    freeaddrinfo(res);
    return rc;
}

bool
tsl__addr_host(const union tsl__sa *sa, struct tsl__host *h)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                       0xff, 0xff};

    memset(h, 0, sizeof(*h));
    switch (sa->sa.sa_family) {
    case AF_INET:
        h->fam = AF_INET;
        memcpy(h->a, &sa->in.sin_addr, 4);
        return true;
    case AF_INET6:
        if (memcmp(sa->in6.sin6_addr.s6_addr, mapped, 12) == 0) {
            h->fam = AF_INET;
            memcpy(h->a, sa->in6.sin6_addr.s6_addr + 12, 4);
        } else {
            h->fam = AF_INET6;
            memcpy(h->a, sa->in6.sin6_addr.s6_addr, 16);
        }
        return true;
    default:
        return false;
    }
}

void
tsl__addr_text(const union tsl__sa *sa, char *buf, size_t n)
{
    struct tsl__host h;
    const char *path;

    if (n == 0)
        return;
    if (tsl__addr_host(sa, &h)) {
        if (inet_ntop(h.fam, h.a, buf, (socklen_t)n) == NULL)
            snprintf(buf, n, "?");
        return;
    }
    path = sa->sa.sa_family == AF_UNIX ? sa->un.sun_path : "";
    if (sa->sa.sa_family != AF_UNIX || (path[0] == '\0' && path[1] == '\0'))
        snprintf(buf, n, sa->sa.sa_family == AF_UNIX ? "unix" : "?");
    else if (path[0] == '\0')
        snprintf(buf, n, "unix:@%.*s", (int)sizeof(sa->un.sun_path) - 1,
                 path + 1);
    else
        snprintf(buf, n, "unix:%.*s", (int)sizeof(sa->un.sun_path), path);
}

uint16_t
tsl__addr_port(const union tsl__sa *sa)
{
    switch (sa->sa.sa_family) {
    case AF_INET:
        return ntohs(sa->in.sin_port);
    case AF_INET6:
        return ntohs(sa->in6.sin6_port);
    default:
        return 0;
    }
}

int
tsl__host_parse(const char *text, struct tsl__host *h, unsigned *bits)
{
    struct tsl__addr a;
    char buf[INET6_ADDRSTRLEN + 2];
    const char *slash;
    unsigned width;
    char *end;
    long b = -1;
    size_t n;

    if (text == NULL)
        return TSL_EINVAL;
    slash = strchr(text, '/');
    n = slash != NULL ? (size_t)(slash - text) : strlen(text);
    if (n == 0 || n >= sizeof(buf))
        return TSL_EINVAL;
    memcpy(buf, text, n);
    buf[n] = '\0';
    memset(&a, 0, sizeof(a));
    if (!addr_numeric(&a, buf, 0))
        return TSL_EINVAL;
    tsl__addr_host(&a.u, h);
    width = a.u.sa.sa_family == AF_INET ? 32 : 128;
    if (slash != NULL) {
        if (slash[1] < '0' || slash[1] > '9')
            return TSL_EINVAL;
        errno = 0;
        b = strtol(slash + 1, &end, 10);
        if (errno != 0 || *end != '\0' || b < 0 || (unsigned long)b > width)
            return TSL_EINVAL;
        /* A mapped network keeps its meaning as an IPv4 one. */
        if (h->fam == AF_INET && a.u.sa.sa_family == AF_INET6)
            b = b >= 96 ? b - 96 : -1;
        if (b < 0)
            return TSL_EINVAL;
    }
    *bits = slash != NULL ? (unsigned)b : h->fam == AF_INET ? 32 : 128;
    /* The host bits of a network do not take part. */
    for (n = 0; n < 16; n++) {
        unsigned keep = *bits > n * 8 ? *bits - (unsigned)n * 8 : 0;
        if (keep < 8)
            h->a[n] &= (uint8_t)(0xff00u >> keep);
    }
    return 0;
}

bool
tsl__host_in(const struct tsl__host *h, const struct tsl__host *net,
             unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;

    if (h->fam != net->fam)
        return false;
    if (memcmp(h->a, net->a, full) != 0)
        return false;
    return rest == 0 ||
           ((h->a[full] ^ net->a[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

int
tsl__net_listen(const struct tsl__addr *a, uint16_t *bound)
{
    union tsl__sa sa;
    socklen_t len = sizeof(sa);
    int fd, one = 1, err;
    bool named = false; /* a Unix name we made */

    fd = tsl__sys->socket(a->u.sa.sa_family,
                          SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    if (a->u.sa.sa_family != AF_UNIX &&
        tsl__sys->setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                             sizeof(one)) < 0)
        goto fail;
    if (tsl__sys->bind(fd, &a->u.sa, a->len) < 0)
        goto fail;
    named = a->u.sa.sa_family == AF_UNIX;
    if (tsl__sys->listen(fd, SOMAXCONN) < 0 ||
        tsl__sys->getsockname(fd, &sa.sa, &len) < 0)
        goto fail;
    *bound = a->u.sa.sa_family == AF_UNIX ? 0 : tsl__addr_port(&sa);
    return fd;
fail:
    err = errno;
    tsl__sys->close(fd);
    if (named)
        tsl__net_unlisten(a);
    return -err;
}

void
tsl__net_unlisten(const struct tsl__addr *a)
{
    if (a->u.sa.sa_family == AF_UNIX && a->u.un.sun_path[0] != '\0')
        unlink(a->u.un.sun_path);
}

/*
 * broken_echo.c - tsl-broken-echo MODE PORT [KA_HOLD_MS]: a small,
 * self-contained echo server for the contract of docs/conformance.md,
 * written the way a student would (one thread, poll(), no tcpserverlib),
 * with one classic bug switched on by MODE so that tsl-conform can be
 * shown to catch it:
 *
 *   correct   no bug: must pass every case (the suite is fair)
 *   oneread   assumes one read() is one message (no reassembly)
 *   zeroloop  loops forever on a zero length, as the course's code did
 *   leak      never closes a client that has gone (descriptors leak)
 *   noka      never drops a silent client (no keepalive)
 *
 * Everything else is done right: 2-byte little-endian inclusive lengths,
 * header-only frames ignored, lengths below 2 close the client, SIGTERM
 * exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 256
#define BUF 70000

struct conn {
    int fd;
    unsigned char buf[BUF];
    size_t len;
    long long last;
};

static struct conn *conns[MAXC];
static volatile sig_atomic_t stop;
static const char *mode;

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static void
drop(int i, int really_close)
{
    if (really_close)
        close(conns[i]->fd);
    free(conns[i]);
    conns[i] = NULL;
}

static void
send_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN) {
            struct pollfd pf = {fd, POLLOUT, 0};
            poll(&pf, 1, 1000);
            continue;
        }
        if (r <= 0)
            return;
        p += r;
        n -= (size_t)r;
    }
}

/* Frames in c->buf: echo each whole one; -1 closes the client. */
static int
frames(struct conn *c)
{
    size_t off = 0, len;

    while (c->len - off >= 2) {
        len = c->buf[off] | (size_t)c->buf[off + 1] << 8;
        if (len == 0 && strcmp(mode, "zeroloop") == 0)
            for (;;) /* the course's endless loop on a zero length */
                if (stop)
                    exit(0);
        if (len < 2)
            return -1;
        if (c->len - off < len)
            break;
        if (len > 2)
            send_all(c->fd, c->buf + off, len);
        off += len;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return 0;
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sa;
    struct pollfd pf[MAXC + 1];
    int lfd, one = 1, i, n, idx[MAXC + 1];
    long long hold = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: tsl-broken-echo correct|oneread|zeroloop|"
                        "leak|noka PORT [KA_HOLD_MS]\n");
        return 2;
    }
    mode = argv[1];
    if (argc > 3)
        hold = atoll(argv[3]);
    if (strcmp(mode, "noka") == 0)
        hold = 0;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((unsigned short)atoi(argv[2]));
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 128) < 0) {
        perror("tsl-broken-echo");
        return 1;
    }
    while (!stop) {
        long long now = now_ms();
        pf[0].fd = lfd;
        pf[0].events = POLLIN;
        n = 1;
        for (i = 0; i < MAXC; i++) {
            if (conns[i] == NULL)
                continue;
            if (hold > 0 && now - conns[i]->last >= hold) {
                drop(i, 1); /* keepalive expired */
                continue;
            }
            pf[n].fd = conns[i]->fd;
            pf[n].events = POLLIN;
            idx[n++] = i;
        }
        if (poll(pf, (nfds_t)n, hold > 0 ? 20 : 200) <= 0)
            continue;
        if (pf[0].revents & POLLIN) {
            int c = accept(lfd, NULL, NULL);
            for (i = 0; c >= 0 && i < MAXC && conns[i] != NULL; i++)
                ;
            if (c >= 0 && i < MAXC) {
                conns[i] = calloc(1, sizeof(struct conn));
                conns[i]->fd = c;
                conns[i]->last = now_ms();
            } else if (c >= 0) {
                close(c);
            }
        }
        for (i = 1; i < n; i++) {
            struct conn *c = conns[idx[i]];
            ssize_t r;
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            r = recv(c->fd, c->buf + c->len, BUF - c->len, 0);
            if (r <= 0) {
                /* Gone.  The leaky variant forgets it but keeps the fd. */
                drop(idx[i], strcmp(mode, "leak") != 0);
                continue;
            }
            c->last = now_ms();
            c->len += (size_t)r;
            if (frames(c) < 0) {
                drop(idx[i], 1);
                continue;
            }
            if (strcmp(mode, "oneread") == 0)
                c->len = 0; /* whatever did not make a message is lost */
        }
    }
    for (i = 0; i < MAXC; i++)
        if (conns[i] != NULL)
            drop(i, 1);
    close(lfd);
    return 0;
}

/*
 * min_epoll_echo.c - the minimal single-threaded epoll echo server the
 * benchmark compares tsl-echo with: level-triggered epoll, echo whatever
 * arrives (framing-agnostic, so it gives the same replies as a framed
 * echo), queue what the socket does not take.  Written for the
 * comparison only: nothing here is shared with the library.
 *   min-epoll-echo PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
    int fd;
    char *pend;
    size_t plen;
};

static volatile sig_atomic_t stop;

static void
on_term(int s)
{
    (void)s;
    stop = 1;
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sa;
    struct epoll_event ev, evs[512];
    static char buf[65536];
    int lfd, ep, one = 1, n, i;

    if (argc != 2)
        return 2;
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((unsigned short)atoi(argv[1]));
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 4096) < 0)
        return 1;
    ep = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    while (!stop) {
        n = epoll_wait(ep, evs, 512, 200);
        for (i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t r, w;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    c = calloc(1, sizeof(*c));
                    c->fd = fd;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                               sizeof(one));
                    ev.events = EPOLLIN;
                    ev.data.ptr = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            if (c->plen > 0 && (evs[i].events & EPOLLOUT)) {
                w = send(c->fd, c->pend, c->plen, MSG_NOSIGNAL);
                if (w > 0) {
                    memmove(c->pend, c->pend + w, c->plen - (size_t)w);
                    c->plen -= (size_t)w;
                }
                if (c->plen == 0) {
                    ev.events = EPOLLIN;
                    ev.data.ptr = c;
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
                continue;
            }
            r = recv(c->fd, buf, sizeof(buf), 0);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                close(c->fd);
                free(c->pend);
                free(c);
                continue;
            }
            w = c->plen ? 0 : send(c->fd, buf, (size_t)r, MSG_NOSIGNAL);
            if (w < 0)
                w = 0;
            if (w < r) {
                c->pend = realloc(c->pend, c->plen + (size_t)(r - w));
                memcpy(c->pend + c->plen, buf + w, (size_t)(r - w));
                c->plen += (size_t)(r - w);
                ev.events = EPOLLIN | EPOLLOUT;
                ev.data.ptr = c;
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
        }
    }
    return 0;
}

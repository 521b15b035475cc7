/*
 * min_thread_echo.c - the minimal thread-per-connection echo server: the
 * floor for tsl-echo --threaded, as min-epoll-echo is for the event loop.
 * One detached thread per connection, blocking read() of up to 64 KiB,
 * write() of all of it; TCP_NODELAY like tsl-echo.  Framing-agnostic, so
 * it gives the same replies as a framed echo.  Written for the comparison
 * only: nothing here is shared with the library.
 *   min-thread-echo PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *
serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static _Thread_local char buf[65536];
    ssize_t n, w, off;

    for (;;) {
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (off = 0; off < n; off += w) {
            w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) {
                w = 0;
                continue;
            }
            if (w <= 0)
                goto out;
        }
    }
out:
    close(fd);
    return NULL;
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    pthread_attr_t attr;
    int lfd, one = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: min-thread-echo PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sa.sin_port = htons((uint16_t)atoi(argv[1]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 1024) < 0) {
        perror("min-thread-echo");
        return 1;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (;;) {
        pthread_t t;
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("min-thread-echo: accept");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (pthread_create(&t, &attr, serve, (void *)(intptr_t)fd) != 0)
            close(fd);
    }
}

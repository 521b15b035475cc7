/*
 * it_10k.c - the epoll backend holds 10,000 concurrent clients: tsl-echo
 * --backend epoll in its own process; this process opens 10,000
 * connections (non-blocking, in batches, one thread), sends one frame on
 * each while all are open, and verifies every echo.  Skipped (77) where
 * the descriptor limit cannot reach that many.  Path of tsl-echo first.
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

enum { N = 10000, BATCH = 500 };

static const char *echo_path;
static int fds[N];

static void
ten_thousand_clients_on_epoll(void)
{
    struct rlimit rl;
    struct sockaddr_in sa;
    struct it_proc p;
    char portarg[32];
    const char *argv[] = {echo_path, "--listen", portarg, "--backend",
                          "epoll", NULL};
    uint16_t port;
    int i, ep, done = 0, probe;
    int64_t dl;
    uint8_t frame[12], got[12];

    IT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < N + 200) {
        printf("skipped: RLIMIT_NOFILE hard limit %llu < %d\n",
               (unsigned long long)rl.rlim_max, N + 200);
        exit(77);
    }
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? N + 1000 : rl.rlim_max;
    IT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0); /* inherited by tsl-echo */
    port = it_free_port();
    snprintf(portarg, sizeof(portarg), "127.0.0.1:%u", port);
    it_spawn(&p, argv);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    dl = it_now_ms() + 5000 * it_scale();
    do {
        probe = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        close(probe);
        probe = -1;
        poll(NULL, 0, 20);
    } while (it_now_ms() < dl);
    IT_CHECK(probe >= 0);
    close(probe);

    /* Connect in batches, each batch complete before the next. */
    for (i = 0; i < N; i += BATCH) {
        int k;
        for (k = i; k < i + BATCH; k++) {
            fds[k] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            IT_CHECK(fds[k] >= 0);
            if (connect(fds[k], (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
                errno != EINPROGRESS)
                IT_FAIL("connect %d: %s", k, strerror(errno));
        }
        for (k = i; k < i + BATCH; k++) {
            struct pollfd pf = {fds[k], POLLOUT, 0};
            int err = 0;
            socklen_t len = sizeof(err);
            if (poll(&pf, 1, 10000 * it_scale()) != 1)
                IT_FAIL("connection %d never completed", k);
            getsockopt(fds[k], SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0)
                IT_FAIL("connection %d: %s", k, strerror(err));
        }
    }
    /* All 10,000 are open: one frame each, every echo verified. */
    ep = epoll_create1(0);
    for (i = 0; i < N; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        it_frame(&i, sizeof(i), frame);
        IT_EQ(send(fds[i], frame, 6, MSG_NOSIGNAL), 6);
        IT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev), 0);
    }
    dl = it_now_ms() + 20000 * it_scale();
    while (done < N) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 1000), k;
        if (it_now_ms() > dl)
            IT_FAIL("only %d of %d echoes after the deadline", done, N);
        for (k = 0; k < n; k++) {
            int c = (int)evs[k].data.u32;
            it_frame(&c, sizeof(c), frame);
            if (recv(fds[c], got, 6, MSG_WAITALL) != 6 ||
                memcmp(got, frame, 6) != 0)
                IT_FAIL("client %d: wrong or short echo", c);
            epoll_ctl(ep, EPOLL_CTL_DEL, fds[c], NULL);
            done++;
        }
    }
    close(ep);
    for (i = 0; i < N; i++)
        close(fds[i]);
    kill(p.pid, SIGTERM);
    IT_EQ(it_proc_wait(&p), 0);
    printf("%d concurrent clients served on the epoll backend\n", N);
}

int
main(int argc, char **argv)
{
    static const struct it_case_def cases[] = {
        {"ten_thousand_clients_on_epoll", ten_thousand_clients_on_epoll},
        {NULL, NULL},
    };

    if (argc < 2) {
        fprintf(stderr, "usage: it_10k PATH-TO-tsl-echo [CASE]\n");
        return 2;
    }
    echo_path = argv[1];
    return it_main(argc - 1, argv + 1, cases);
}

/*
 * eintr_wait.c - eintr-wait HANDLER WAIT: run under libtslfault.so with
 * an eintr plan, checks that the shim's EINTR from a wait (select,
 * pselect, poll, ppoll, epoll_wait) comes exactly where a signal could
 * have caused it.
 *
 *   HANDLER  none     no signal caught: no wait may fail with EINTR
 *            restart  SIGUSR1 caught with SA_RESTART (waits are never
 *                     restarted: EINTR must come)
 *            plain    SIGUSR1 caught without SA_RESTART: EINTR must come
 *            blocked  SIGUSR1 caught but blocked in this thread: none
 *            masked   SIGUSR1 caught, blocked by pselect's and ppoll's
 *                     own mask (WAIT pselect or ppoll): none
 *   WAIT     select | pselect | poll | ppoll | epoll
 *
 * It makes a loopback connection (the accepted end is the tracked one),
 * waits on it 400 times with a zero timeout, and counts the EINTRs: with
 * TSL_FAULTS=eintr=50 about half must fail where a signal could come, and
 * none elsewhere.  No signal is ever sent: a zero-timeout wait can only
 * fail with EINTR by the shim.  Exit 0 as expected, 1 otherwise (the
 * plan, with its seed, printed), 2 for bad arguments.
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
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define ROUNDS 400

static void
on_usr1(int sig)
{
    (void)sig;
}

static int
wait_once(const char *how, int fd, int ep, const sigset_t *mask)
{
    struct timespec zero = {0, 0};
    struct timeval tv = {0, 0};
    struct pollfd pf = {fd, POLLIN, 0};
    struct epoll_event ev;
    fd_set r;

    FD_ZERO(&r);
    FD_SET(fd, &r);
    if (strcmp(how, "select") == 0)
        return select(fd + 1, &r, NULL, NULL, &tv);
    if (strcmp(how, "pselect") == 0)
        return pselect(fd + 1, &r, NULL, NULL, &zero, mask);
    if (strcmp(how, "poll") == 0)
        return poll(&pf, 1, 0);
    if (strcmp(how, "ppoll") == 0)
        return ppoll(&pf, 1, &zero, mask);
    return epoll_wait(ep, &ev, 1, 0);
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    struct sigaction act;
    struct epoll_event ev;
    sigset_t usr1, *mask = NULL;
    const char *handler, *how, *plan = getenv("TSL_FAULTS");
    int lfd, cfd, afd, ep, i, intr = 0, other = 0;
    int lo, hi;

    if (argc != 3 || (strcmp(argv[2], "select") != 0 &&
                      strcmp(argv[2], "pselect") != 0 &&
                      strcmp(argv[2], "poll") != 0 &&
                      strcmp(argv[2], "ppoll") != 0 &&
                      strcmp(argv[2], "epoll") != 0)) {
        fprintf(stderr, "usage: eintr-wait none|restart|plain|blocked|masked "
                        "select|pselect|poll|ppoll|epoll\n");
        return 2;
    }
    handler = argv[1];
    how = argv[2];
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    memset(&act, 0, sizeof(act));
    act.sa_handler = on_usr1;
    if (strcmp(handler, "restart") == 0)
        act.sa_flags = SA_RESTART;
    if (strcmp(handler, "none") != 0)
        sigaction(SIGUSR1, &act, NULL);
    if (strcmp(handler, "blocked") == 0)
        pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    if (strcmp(handler, "masked") == 0) {
        if (strcmp(how, "pselect") != 0 && strcmp(how, "ppoll") != 0) {
            fprintf(stderr, "eintr-wait: masked is for pselect and ppoll\n");
            return 2;
        }
        mask = &usr1;
    } else if (strcmp(handler, "none") != 0 &&
               strcmp(handler, "restart") != 0 &&
               strcmp(handler, "plain") != 0 &&
               strcmp(handler, "blocked") != 0) {
        fprintf(stderr, "eintr-wait: unknown HANDLER %s\n", handler);
        return 2;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 4) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
        perror("eintr-wait: listen");
        return 1;
    }
    cfd = socket(AF_INET, SOCK_STREAM, 0);
    if (cfd < 0 || connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        (afd = accept(lfd, NULL, NULL)) < 0) {
        perror("eintr-wait: connect");
        return 1;
    }
    ep = epoll_create1(0);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.fd = afd;
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, afd, &ev) < 0) {
        perror("eintr-wait: epoll");
        return 1;
    }
    for (i = 0; i < ROUNDS; i++) {
        if (wait_once(how, afd, ep, mask) >= 0)
            continue;
        if (errno == EINTR)
            intr++;
        else
            other++;
    }
    /* eintr=50: a signal could come, so about half (binomial, 400
     * draws: 150..250 is over six deviations either side); none where it
     * could not. */
    if (strcmp(handler, "restart") == 0 || strcmp(handler, "plain") == 0)
        lo = 150, hi = 250;
    else
        lo = 0, hi = 0;
    printf("eintr-wait %s %s: %d of %d waits failed with EINTR "
           "(expected %d..%d), %d with another error\n",
           handler, how, intr, ROUNDS, lo, hi, other);
    if (intr < lo || intr > hi || other > 0) {
        printf("FAIL: fault plan %s; replay: TSL_FAULTS='%s' "
               "LD_PRELOAD=libtslfault.so %s %s %s\n",
               plan ? plan : "(none)", plan ? plan : "", argv[0], handler,
               how);
        return 1;
    }
    return 0;
}

/*
 * broken_echo.c - tsl-broken-echo MODE PORT [KA_HOLD_MS]: a small,
 * self-contained echo server for the contract of docs/conformance.md,
 * written the way a student would (one thread, poll(), no tcpserverlib),
 * with one classic bug switched on by MODE so that tsl-conform can be
 * shown to catch it (the case that must fail it in brackets):
 *
 *   correct    no bug: must pass every case (the suite is fair)
 *   oneread    assumes one read() is one message, no reassembly [1.2.1]
 *   zeroloop   loops forever on a zero length, as the course's code did
 *              [2.1]
 *   leak       never closes a client that has gone (descriptors leak)
 *              [4.4]
 *   noka       never drops a silent client (no keepalive) [5.1]
 *   hol        after serving a client, reads it again, blocking: the
 *              course's duplicate list entry; the others wait until that
 *              client sends again (head-of-line starvation) [3.3]
 *   stale      one receive buffer shared by every client, as the
 *              course's static buffer: a client's partial frame is
 *              overwritten by another's bytes [3.2]
 *   shortsend  nonblocking sockets, one send() per reply and whatever it
 *              did not take is lost [1.6]
 *   sigpipe    SIGPIPE left at its default action and send() without
 *              MSG_NOSIGNAL: a client that resets with replies pending
 *              kills the server [4.3]
 *   acceptspin at the file limit, polls the listener again at once: a
 *              100 % CPU loop while connections wait [4.5]
 *   assert     assert()s that a length is not 1, and so aborts on one
 *              (a report and a crash, both named in case 2.2) [2.2]
 *   offbyone   echoes a frame only once a byte past it has come (`<=`
 *              for `<`): the last frame before a pause waits for the next
 *              one, and is lost at a half-close [1.1, 4.2]
 *   cap        a reply buffer of 1024 bytes: a longer reply is cut there,
 *              and the next one follows at once [1.3]
 *
 * Everything else is done right: 2-byte little-endian inclusive lengths,
 * header-only frames ignored, lengths below 2 close the client, replies
 * written whole, at the file limit the listener rests for 100 ms, SIGTERM
 * closes every client and exits 0.
 */
#define _GNU_SOURCE
#undef NDEBUG /* the assert mode needs assert() in every build */
#include <arpa/inet.h>
#include <assert.h>
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
static unsigned char shared[BUF]; /* the stale mode's one buffer */

static int
is(const char *m)
{
    return strcmp(mode, m) == 0;
}

/* Where a client's received bytes are kept. */
static unsigned char *
inbuf(struct conn *c)
{
    return is("stale") ? shared : c->buf;
}

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
    if (is("shortsend")) {
        send(fd, p, n, MSG_NOSIGNAL); /* what it did not take is lost */
        return;
    }
    while (n > 0) {
        ssize_t r = send(fd, p, n, is("sigpipe") ? 0 : MSG_NOSIGNAL);
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
    unsigned char *b = inbuf(c);
    size_t off = 0, len;

    while (c->len - off >= 2) {
        len = b[off] | (size_t)b[off + 1] << 8;
        if (is("assert"))
            assert(len != 1);
        if (len == 0 && is("zeroloop"))
            for (;;) /* the course's endless loop on a zero length */
                if (stop)
                    exit(0);
        if (len < 2)
            return -1;
        if (c->len - off < len || (is("offbyone") && c->len - off == len))
            break;
        if (len > 2)
            send_all(c->fd, b + off, is("cap") && len > 1024 ? 1024 : len);
        off += len;
    }
    memmove(b, b + off, c->len - off);
    c->len -= off;
    return 0;
}

/* Reads from client i and echoes its frames; -1 when it was dropped. */
static int
serve(int i)
{
    struct conn *c = conns[i];
    ssize_t r = recv(c->fd, inbuf(c) + c->len, BUF - c->len, 0);

    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (r <= 0) {
        /* Gone.  The leaky variant forgets it but keeps the fd. */
        drop(i, !is("leak"));
        return -1;
    }
    c->last = now_ms();
    c->len += (size_t)r;
    if (frames(c) < 0) {
        drop(i, 1);
        return -1;
    }
    if (is("oneread"))
        c->len = 0; /* whatever did not make a message is lost */
    return 0;
}

static int
nclients(void)
{
    int i, n = 0;

    for (i = 0; i < MAXC; i++)
        n += conns[i] != NULL;
    return n;
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sa;
    struct pollfd pf[MAXC + 1];
    int lfd, one = 1, i, n, idx[MAXC + 1], first;
    long long hold = 0, paused_until = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: tsl-broken-echo correct|oneread|zeroloop|"
                        "leak|noka|hol|stale|shortsend|sigpipe|acceptspin|"
                        "assert|offbyone|cap "
                        "PORT [KA_HOLD_MS]\n");
        return 2;
    }
    mode = argv[1];
    if (argc > 3)
        hold = atoll(argv[3]);
    if (strcmp(mode, "noka") == 0)
        hold = 0;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    if (!is("sigpipe"))
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
        /* Out of files, the listener rests: it would be readable again
         * at once (the acceptspin variant polls it anyway). */
        pf[0].fd = now >= paused_until ? lfd : -1;
        pf[0].events = POLLIN;
        n = 1;
        for (i = 0; i < MAXC; i++) {
            if (conns[i] == NULL)
                continue;
            pf[n].fd = conns[i]->fd;
            pf[n].events = POLLIN;
            idx[n++] = i;
        }
        if (poll(pf, (nfds_t)n, hold > 0 ? 20 : 200) <= 0) {
            pf[0].revents = 0;
            n = 0;
        }
        if (pf[0].revents & POLLIN) {
            int c = accept4(lfd, NULL, NULL,
                            is("shortsend") ? SOCK_NONBLOCK : 0);
            if (c < 0 && (errno == EMFILE || errno == ENFILE) &&
                !is("acceptspin"))
                paused_until = now_ms() + 100;
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
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            first = nclients() >= 2;
            if (serve(idx[i]) < 0)
                continue;
            /* The duplicate entry: the same client again, blocking. */
            if (is("hol") && first)
                serve(idx[i]);
        }
        /* Keepalive after reading, against the time before the wait:
         * bytes waiting mean not silent, however late this runs. */
        for (i = 0; hold > 0 && i < MAXC; i++)
            if (conns[i] != NULL && now - conns[i]->last >= hold)
                drop(i, 1);
    }
    for (i = 0; i < MAXC; i++)
        if (conns[i] != NULL)
            drop(i, 1);
    close(lfd);
    return 0;
}

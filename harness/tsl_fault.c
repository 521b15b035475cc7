/*
 * tsl_fault.c - the fault engine (see tsl_fault.h).
 *
 * State: one record per tracked descriptor (fd < FAULT_FD_MAX), guarded
 * by one mutex.  The engine is for tests, so one lock for everything is
 * the simple design that is obviously correct; no call blocks while it is
 * held (real calls run outside it).
 *
 * Receive faults (split, coalesce, delay, EINTR/EAGAIN, FIN loss, crash)
 * apply to readv/recv; send faults (short writes, EINTR/EAGAIN, crash) to
 * send; accept_fail to accept4; fail/fail_from to every call.  Coalesce
 * and delay keep received bytes in the engine's own buffer and tell
 * select()/poll() the socket is readable when they are due; FIN loss and a
 * silent crash hide the socket from select()/poll() so the server sees no
 * EOF and no data - only keepalive can tell.
 */
#define _GNU_SOURCE
#include "tsl_fault.h"
#include "tsl_mix.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

#define FAULT_FD_MAX 4096
#define COALESCE_HOLD_MS 20   /* release a partial coalesce after this */
#define STASH_MAX (256 * 1024)

struct fconn {
    bool tracked;
    uint32_t num;
    uint64_t rng_rx, rng_tx;
    uint64_t bytes_in;
    bool quiet;        /* hidden from select/poll; receives EAGAIN */
    bool silent_tx;    /* sends vanish (crashed peer) */
    bool reset;        /* calls fail with ECONNRESET */
    const struct tsl_fault_rule *split, *shrt, *coalesce, *delay, *eintr,
        *eagain, *fin, *crash_silent, *crash_reset;
    uint8_t *stash;    /* coalesce/delay: bytes received, not delivered */
    size_t stash_len;
    int64_t stash_since;
    bool stash_eof;
    bool ep_in;        /* registered with EPOLLIN (epoll backend) */
    uint64_t ep_data;  /* its epoll data, to report a due stash */
};

static struct {
    pthread_mutex_t lock;
    bool armed;
    struct tsl_fault_plan plan;
    char text[512];
    struct tsl_sys_ops real, faulty;
    struct fconn conns[FAULT_FD_MAX];
    uint32_t nconns;
    uint64_t calls;
    uint64_t accepts;
} E = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
next(uint64_t *st)
{
    *st += 0x9e3779b97f4a7c15ull;
    return tsl_mix(*st);
}

/* Uniform in [a, b]. */
static uint32_t
pick(uint64_t *st, const struct tsl_fault_rule *r)
{
    return r->a + (uint32_t)(next(st) % ((uint64_t)r->b - r->a + 1));
}

static bool
chance(uint64_t *st, const struct tsl_fault_rule *r)
{
    return r != NULL && next(st) % 100 < r->a;
}

static struct fconn *
conn(int fd)
{
    return fd >= 0 && fd < FAULT_FD_MAX && E.conns[fd].tracked ? &E.conns[fd]
                                                               : NULL;
}

/* Counts a call; true if the torture rules say it fails. */
static bool
torture(void)
{
    const struct tsl_fault_rule *f, *ff;
    uint64_t n;

    pthread_mutex_lock(&E.lock);
    n = ++E.calls;
    f = tsl_fault_plan_find(&E.plan, TSL_FAULT_FAIL, 0);
    ff = tsl_fault_plan_find(&E.plan, TSL_FAULT_FAIL_FROM, 0);
    pthread_mutex_unlock(&E.lock);
    return (f != NULL && n == f->a) || (ff != NULL && n >= ff->a);
}

#define TORTURE(err, ret)                                                     \
    do {                                                                      \
        if (torture()) {                                                      \
            errno = (err);                                                    \
            return (ret);                                                     \
        }                                                                     \
    } while (0)

static void
track(int fd)
{
    struct fconn *c;
    const struct tsl_fault_plan *p = &E.plan;

    if (fd < 0 || fd >= FAULT_FD_MAX)
        return;
    pthread_mutex_lock(&E.lock);
    c = &E.conns[fd];
    free(c->stash);
    memset(c, 0, sizeof(*c));
    c->tracked = true;
    c->num = ++E.nconns;
    c->rng_rx = tsl_mix(p->seed ^ tsl_mix(c->num * 2 + 0));
    c->rng_tx = tsl_mix(p->seed ^ tsl_mix(c->num * 2 + 1));
    c->split = tsl_fault_plan_find(p, TSL_FAULT_SPLIT, c->num);
    c->shrt = tsl_fault_plan_find(p, TSL_FAULT_SHORT, c->num);
    c->coalesce = tsl_fault_plan_find(p, TSL_FAULT_COALESCE, c->num);
    c->delay = tsl_fault_plan_find(p, TSL_FAULT_DELAY, c->num);
    c->eintr = tsl_fault_plan_find(p, TSL_FAULT_EINTR_, c->num);
    c->eagain = tsl_fault_plan_find(p, TSL_FAULT_EAGAIN_, c->num);
    c->fin = tsl_fault_plan_find(p, TSL_FAULT_FIN_LOSS, c->num);
    c->crash_silent = tsl_fault_plan_find(p, TSL_FAULT_CRASH_SILENT, c->num);
    c->crash_reset = tsl_fault_plan_find(p, TSL_FAULT_CRASH_RESET, c->num);
    if (c->crash_silent != NULL && c->crash_silent->a == 0)
        c->quiet = c->silent_tx = true;
    if (c->crash_reset != NULL && c->crash_reset->a == 0)
        c->reset = true;
    pthread_mutex_unlock(&E.lock);
}

static void
untrack(int fd)
{
    if (fd < 0 || fd >= FAULT_FD_MAX)
        return;
    pthread_mutex_lock(&E.lock);
    free(E.conns[fd].stash);
    memset(&E.conns[fd], 0, sizeof(E.conns[fd]));
    pthread_mutex_unlock(&E.lock);
}

/* After bytes arrive: the crash triggers.  Caller holds the lock. */
static void
after_bytes(struct fconn *c, size_t n)
{
    c->bytes_in += n;
    if (c->crash_silent != NULL && c->bytes_in >= c->crash_silent->a)
        c->quiet = c->silent_tx = true;
    if (c->crash_reset != NULL && c->bytes_in >= c->crash_reset->a)
        c->reset = true;
}

static int
f_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    const struct tsl_fault_rule *r;
    uint64_t n;
    int c;

    TORTURE(EMFILE, -1);
    pthread_mutex_lock(&E.lock);
    n = ++E.accepts;
    r = tsl_fault_plan_find(&E.plan, TSL_FAULT_ACCEPT_FAIL, 0);
    pthread_mutex_unlock(&E.lock);
    if (r != NULL && n >= r->a && n <= r->b) {
        errno = r->err;
        return -1;
    }
    c = E.real.accept4(fd, sa, len, flags);
    if (c >= 0)
        track(c);
    return c;
}

/* Copies up to n stashed bytes into iov; returns the count. */
static size_t
unstash(struct fconn *c, const struct iovec *iov, int cnt, size_t n)
{
    size_t done = 0, k;
    int i;

    if (n > c->stash_len)
        n = c->stash_len;
    for (i = 0; i < cnt && done < n; i++) {
        k = iov[i].iov_len < n - done ? iov[i].iov_len : n - done;
        memcpy(iov[i].iov_base, c->stash + done, k);
        done += k;
    }
    memmove(c->stash, c->stash + done, c->stash_len - done);
    c->stash_len -= done;
    c->stash_since = now_ms();
    return done;
}

/* Stashed bytes may go out now. */
static bool
stash_due(const struct fconn *c, int64_t now)
{
    if (c->stash_len == 0)
        return c->stash_eof;
    if (c->stash_eof)
        return true;
    if (c->delay != NULL)
        return now - c->stash_since >= c->delay->a;
    return c->stash_len >= c->coalesce->a ||
           now - c->stash_since >= COALESCE_HOLD_MS;
}

static ssize_t
f_readv(int fd, const struct iovec *iov, int cnt)
{
    struct iovec lim[16];
    size_t want = 0, limit;
    struct fconn *c;
    ssize_t r;
    int i, n = 0;

    TORTURE(ECONNRESET, -1);
    pthread_mutex_lock(&E.lock);
    c = conn(fd);
    if (c == NULL) {
        pthread_mutex_unlock(&E.lock);
        return E.real.readv(fd, iov, cnt);
    }
    if (c->reset) {
        pthread_mutex_unlock(&E.lock);
        errno = ECONNRESET;
        return -1;
    }
    if (c->quiet || chance(&c->rng_rx, c->eagain)) {
        pthread_mutex_unlock(&E.lock);
        errno = EAGAIN;
        return -1;
    }
    if (chance(&c->rng_rx, c->eintr)) {
        pthread_mutex_unlock(&E.lock);
        errno = EINTR;
        return -1;
    }
    for (i = 0; i < cnt; i++)
        want += iov[i].iov_len;
    limit = c->split != NULL ? pick(&c->rng_rx, c->split) : want;
    if (limit > want)
        limit = want;
    if (c->coalesce != NULL || c->delay != NULL) {
        /* Move what the kernel has into the stash, then decide. */
        uint8_t tmp[65536];
        struct iovec one = {tmp, sizeof(tmp)};
        if (c->stash == NULL)
            c->stash = malloc(STASH_MAX);
        pthread_mutex_unlock(&E.lock);
        r = c->stash != NULL ? E.real.readv(fd, &one, 1) : -1;
        pthread_mutex_lock(&E.lock);
        if ((c = conn(fd)) == NULL || c->stash == NULL) {
            pthread_mutex_unlock(&E.lock);
            errno = ENOMEM;
            return -1;
        }
        if (r > 0) {
            size_t k = (size_t)r;
            if (k > STASH_MAX - c->stash_len)
                k = STASH_MAX - c->stash_len; /* cannot happen: 256 KiB */
            if (c->stash_len == 0)
                c->stash_since = now_ms();
            memcpy(c->stash + c->stash_len, tmp, k);
            c->stash_len += k;
        } else if (r == 0) {
            c->stash_eof = true;
        }
        if (!stash_due(c, now_ms())) {
            pthread_mutex_unlock(&E.lock);
            errno = EAGAIN;
            return -1;
        }
        if (c->stash_len > 0) {
            r = (ssize_t)unstash(c, iov, cnt, limit);
            after_bytes(c, (size_t)r);
            pthread_mutex_unlock(&E.lock);
            return r;
        }
        /* Only the EOF is left. */
        r = 0;
    } else {
        size_t left = limit;
        for (i = 0; i < cnt && left > 0 && n < 16; i++) {
            lim[n].iov_base = iov[i].iov_base;
            lim[n].iov_len = iov[i].iov_len < left ? iov[i].iov_len : left;
            left -= lim[n].iov_len;
            n++;
        }
        pthread_mutex_unlock(&E.lock);
        r = E.real.readv(fd, lim, n);
        pthread_mutex_lock(&E.lock);
        if ((c = conn(fd)) == NULL) {
            pthread_mutex_unlock(&E.lock);
            return r;
        }
        if (r > 0)
            after_bytes(c, (size_t)r);
    }
    if (r == 0 && c->fin != NULL && c->bytes_in >= c->fin->a) {
        c->quiet = true; /* the FIN is lost: no EOF, ever */
        pthread_mutex_unlock(&E.lock);
        errno = EAGAIN;
        return -1;
    }
    pthread_mutex_unlock(&E.lock);
    return r;
}

static ssize_t
f_recv(int fd, void *buf, size_t n, int flags)
{
    struct iovec one = {buf, n};

    if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL))
        return E.real.recv(fd, buf, n, flags); /* MSG_PEEK and the like */
    return f_readv(fd, &one, 1);
}

static ssize_t
f_send(int fd, const void *buf, size_t n, int flags)
{
    struct fconn *c;
    size_t k = n;

    TORTURE(EPIPE, -1);
    pthread_mutex_lock(&E.lock);
    c = conn(fd);
    if (c != NULL) {
        if (c->reset) {
            pthread_mutex_unlock(&E.lock);
            errno = ECONNRESET;
            return -1;
        }
        if (c->silent_tx) {
            pthread_mutex_unlock(&E.lock);
            return (ssize_t)n; /* into the void */
        }
        if (chance(&c->rng_tx, c->eintr)) {
            pthread_mutex_unlock(&E.lock);
            errno = EINTR;
            return -1;
        }
        if (chance(&c->rng_tx, c->eagain)) {
            pthread_mutex_unlock(&E.lock);
            errno = EAGAIN;
            return -1;
        }
        if (c->shrt != NULL) {
            uint32_t s = pick(&c->rng_tx, c->shrt);
            if (s < k)
                k = s;
        }
    }
    pthread_mutex_unlock(&E.lock);
    return E.real.send(fd, buf, k, flags);
}

static int
f_close(int fd)
{
    untrack(fd);
    return E.real.close(fd);
}

/* Before a wait: hides quiet sockets, finds stashes due now or later.
 * Returns the number of fds due now (set in `due`) and lowers *wait_ms to
 * the earliest future due time. */
static int
prewait(fd_set *rs, int nfds, fd_set *due, int64_t *wait_ms)
{
    int64_t now = now_ms(), d;
    int fd, ndue = 0;

    FD_ZERO(due);
    pthread_mutex_lock(&E.lock);
    for (fd = 0; fd < nfds && fd < FAULT_FD_MAX; fd++) {
        struct fconn *c = &E.conns[fd];
        if (!c->tracked || !FD_ISSET(fd, rs))
            continue;
        if (c->quiet) {
            FD_CLR(fd, rs);
            continue;
        }
        if (c->stash_len == 0 && !c->stash_eof)
            continue;
        if (stash_due(c, now)) {
            FD_SET(fd, due);
            ndue++;
            continue;
        }
        d = c->delay != NULL ? c->stash_since + c->delay->a - now
                             : c->stash_since + COALESCE_HOLD_MS - now;
        if (d < 0)
            d = 0;
        if (*wait_ms < 0 || d < *wait_ms)
            *wait_ms = d;
    }
    pthread_mutex_unlock(&E.lock);
    return ndue;
}

static int
f_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    struct timeval tv, *tp = t;
    fd_set due, keep;
    int64_t wait = t ? (int64_t)t->tv_sec * 1000 + t->tv_usec / 1000 : -1;
    int ndue = 0, res, fd;

    TORTURE(EINTR, -1);
    if (r != NULL) {
        keep = *r;
        ndue = prewait(r, n, &due, &wait);
    }
    if (ndue > 0)
        wait = 0;
    if (wait >= 0 && (t == NULL ||
                      wait < (int64_t)t->tv_sec * 1000 + t->tv_usec / 1000)) {
        tv.tv_sec = wait / 1000;
        tv.tv_usec = (wait % 1000) * 1000;
        tp = &tv;
    }
    res = E.real.select(n, r, w, e, tp);
    if (res < 0 || ndue == 0)
        return res;
    for (fd = 0; fd < n; fd++)
        if (FD_ISSET(fd, &due) && FD_ISSET(fd, &keep) && !FD_ISSET(fd, r)) {
            FD_SET(fd, r);
            res++;
        }
    return res;
}

static int
f_poll(struct pollfd *pf, nfds_t n, int timeout)
{
    fd_set rs, due;
    int64_t wait = timeout;
    int maxfd = 0, ndue, res;
    nfds_t i;
    short saved[64];

    TORTURE(EINTR, -1);
    FD_ZERO(&rs);
    for (i = 0; i < n && i < 64; i++) {
        saved[i] = pf[i].events;
        if ((pf[i].events & POLLIN) && pf[i].fd >= 0 &&
            pf[i].fd < FD_SETSIZE) {
            FD_SET(pf[i].fd, &rs);
            if (pf[i].fd + 1 > maxfd)
                maxfd = pf[i].fd + 1;
        }
    }
    ndue = prewait(&rs, maxfd, &due, &wait);
    for (i = 0; i < n && i < 64; i++)
        if ((pf[i].events & POLLIN) && pf[i].fd >= 0 &&
            pf[i].fd < FD_SETSIZE && !FD_ISSET(pf[i].fd, &rs))
            pf[i].events = (short)(pf[i].events & ~POLLIN); /* quiet */
    res = E.real.poll(pf, n, ndue > 0 ? 0 : (int)wait);
    for (i = 0; i < n && i < 64; i++) {
        pf[i].events = saved[i];
        if (res >= 0 && pf[i].fd >= 0 && pf[i].fd < FD_SETSIZE &&
            FD_ISSET(pf[i].fd, &due) && !(pf[i].revents & POLLIN)) {
            if (pf[i].revents == 0)
                res++;
            pf[i].revents |= POLLIN;
        }
        /* A quiet socket's hang-up is hidden too. */
        if (pf[i].fd >= 0 && pf[i].fd < FAULT_FD_MAX &&
            E.conns[pf[i].fd].tracked && E.conns[pf[i].fd].quiet &&
            pf[i].revents != 0) {
            pf[i].revents = 0;
            res--;
        }
    }
    return res;
}

static int
f_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    TORTURE(ENOMEM, -1);
    pthread_mutex_lock(&E.lock);
    if (fd >= 0 && fd < FAULT_FD_MAX && E.conns[fd].tracked) {
        E.conns[fd].ep_in = op != EPOLL_CTL_DEL && ev != NULL &&
                            (ev->events & EPOLLIN);
        if (ev != NULL)
            E.conns[fd].ep_data = ev->data.u64;
    }
    pthread_mutex_unlock(&E.lock);
    return E.real.epoll_ctl(ep, op, fd, ev);
}

/* Which tracked fd has this epoll data?  (Linear: tests only.) */
static struct fconn *
by_data(uint64_t data)
{
    int fd;

    for (fd = 0; fd < FAULT_FD_MAX; fd++)
        if (E.conns[fd].tracked && E.conns[fd].ep_in &&
            E.conns[fd].ep_data == data)
            return &E.conns[fd];
    return NULL;
}

/* epoll_wait: events of quiet sockets are dropped (and, rather than spin
 * on a level-triggered EOF nobody may see, the wait is retried after a
 * short pause); sockets with a due stash are reported readable. */
static int
f_epoll_wait(int ep, struct epoll_event *evs, int max, int timeout)
{
    int64_t end = timeout < 0 ? -1 : now_ms() + timeout;
    int n, k, out, fd;

    TORTURE(EINTR, -1);
    for (;;) {
        int64_t wait = timeout < 0 ? -1 : end - now_ms(), due = -1;
        int64_t now = now_ms();
        int ndue = 0;
        if (timeout >= 0 && wait < 0)
            wait = 0;
        pthread_mutex_lock(&E.lock);
        for (fd = 0; fd < FAULT_FD_MAX && ndue < max; fd++) {
            struct fconn *c = &E.conns[fd];
            if (!c->tracked || !c->ep_in || c->quiet ||
                (c->stash_len == 0 && !c->stash_eof))
                continue;
            if (stash_due(c, now)) {
                evs[ndue].events = EPOLLIN;
                evs[ndue].data.u64 = c->ep_data;
                ndue++;
            } else {
                int64_t d = (c->delay ? c->stash_since + c->delay->a
                                      : c->stash_since + COALESCE_HOLD_MS) -
                            now;
                if (due < 0 || d < due)
                    due = d < 0 ? 0 : d;
            }
        }
        pthread_mutex_unlock(&E.lock);
        if (ndue > 0)
            return ndue;
        if (due >= 0 && (wait < 0 || due < wait))
            wait = due;
        n = E.real.epoll_wait(ep, evs, max, (int)wait);
        if (n <= 0)
            return n;
        pthread_mutex_lock(&E.lock);
        for (k = 0, out = 0; k < n; k++) {
            struct fconn *c = evs[k].data.ptr ? by_data(evs[k].data.u64)
                                              : NULL;
            if (c != NULL && c->quiet)
                continue;
            evs[out++] = evs[k];
        }
        pthread_mutex_unlock(&E.lock);
        if (out > 0)
            return out;
        if (timeout >= 0 && now_ms() >= end)
            return 0;
        /* Only quiet sockets were ready: pause instead of spinning. */
        {
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

/* Calls that are only counted (torture) and passed through. */
static int
f_socket(int d, int t, int p)
{
    TORTURE(EMFILE, -1);
    return E.real.socket(d, t, p);
}

static int
f_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    TORTURE(EADDRINUSE, -1);
    return E.real.bind(fd, sa, len);
}

static int
f_listen(int fd, int backlog)
{
    TORTURE(EADDRINUSE, -1);
    return E.real.listen(fd, backlog);
}

static int
f_setsockopt(int fd, int l, int nm, const void *v, socklen_t len)
{
    TORTURE(ENOMEM, -1);
    return E.real.setsockopt(fd, l, nm, v, len);
}

static int
f_getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
    TORTURE(ENOBUFS, -1);
    return E.real.getsockname(fd, sa, len);
}

static int
f_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    TORTURE(ECONNREFUSED, -1);
    return E.real.connect(fd, sa, len);
}

static int
f_getsockopt(int fd, int l, int nm, void *v, socklen_t *len)
{
    TORTURE(ENOBUFS, -1);
    return E.real.getsockopt(fd, l, nm, v, len);
}

static int
f_pipe2(int fds[2], int flags)
{
    TORTURE(EMFILE, -1);
    return E.real.pipe2(fds, flags);
}

static int
f_open(const char *path, int flags)
{
    TORTURE(EMFILE, -1);
    return E.real.open(path, flags);
}

int
tsl_fault_init(const char *plan, const struct tsl_sys_ops *real, char *err,
               size_t errlen)
{
    struct tsl_fault_plan p;

    if (tsl_fault_plan_parse(plan, &p, err, errlen) < 0)
        return -1;
    tsl_fault_fini();
    pthread_mutex_lock(&E.lock);
    E.plan = p;
    tsl_fault_plan_format(&p, E.text, sizeof(E.text));
    E.real = *real;
    E.faulty = *real;
    E.faulty.accept4 = f_accept4;
    E.faulty.readv = f_readv;
    E.faulty.recv = f_recv;
    E.faulty.send = f_send;
    E.faulty.close = f_close;
    E.faulty.select = f_select;
    E.faulty.poll = f_poll;
    E.faulty.socket = f_socket;
    E.faulty.bind = f_bind;
    E.faulty.listen = f_listen;
    E.faulty.setsockopt = f_setsockopt;
    E.faulty.getsockname = f_getsockname;
    E.faulty.connect = f_connect;
    E.faulty.getsockopt = f_getsockopt;
    E.faulty.pipe2 = f_pipe2;
    E.faulty.open = f_open;
    E.faulty.epoll_ctl = f_epoll_ctl;
    E.faulty.epoll_wait = f_epoll_wait;
    E.nconns = 0;
    E.calls = 0;
    E.accepts = 0;
    E.armed = true;
    pthread_mutex_unlock(&E.lock);
    return 0;
}

void
tsl_fault_fini(void)
{
    int i;

    pthread_mutex_lock(&E.lock);
    for (i = 0; i < FAULT_FD_MAX; i++) {
        free(E.conns[i].stash);
        memset(&E.conns[i], 0, sizeof(E.conns[i]));
    }
    E.armed = false;
    pthread_mutex_unlock(&E.lock);
}

const struct tsl_sys_ops *
tsl_fault_ops(void)
{
    return &E.faulty;
}

const char *
tsl_fault_plan_text(void)
{
    return E.text;
}

uint64_t
tsl_fault_calls(void)
{
    uint64_t n;

    pthread_mutex_lock(&E.lock);
    n = E.calls;
    pthread_mutex_unlock(&E.lock);
    return n;
}

uint32_t
tsl_fault_conns(void)
{
    uint32_t n;

    pthread_mutex_lock(&E.lock);
    n = E.nconns;
    pthread_mutex_unlock(&E.lock);
    return n;
}

int
tsl_fault_tracked(int fd)
{
    int t;

    pthread_mutex_lock(&E.lock);
    t = conn(fd) != NULL;
    pthread_mutex_unlock(&E.lock);
    return t;
}

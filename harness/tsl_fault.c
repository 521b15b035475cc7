/*
 * tsl_fault.c - the fault engine (see tsl_fault.h).
 *
 * State: one record per tracked descriptor (fd < FAULT_FD_MAX), guarded
 * by one mutex.  The engine is for tests, so one lock for everything is
 * the simple design that is obviously correct; no call blocks while it is
 * held (real calls and waits run outside it, and a record is looked up
 * again after each).
 *
 * Receive faults (split, coalesce, delay and jitter, EINTR/EAGAIN, FIN
 * loss, crash) apply to every receive (rx()); send faults (short writes,
 * EINTR/EAGAIN, crash) to every send (tx()); accept_fail to accept4;
 * fail/fail_from to every call.  Coalesce and delay keep received bytes in
 * the engine's own stash and tell select()/poll() the socket is readable
 * when they are due; FIN loss and a silent crash hide the socket from
 * select()/poll() so the server sees no EOF and no data - only keepalive
 * can tell.
 *
 * Blocking sockets.  Whether a call may block is asked of the socket on
 * every call (fcntl O_NONBLOCK, and MSG_DONTWAIT), since programs switch
 * (Python's settimeout does, underneath).  A call that may block never
 * sees a made-up EAGAIN: held bytes are waited for (a poll on the real
 * descriptor until more arrive, or until they are due), a lost FIN blocks
 * as a silent peer does, and SO_RCVTIMEO still ends the wait with EAGAIN
 * as it would in the kernel.  The stash is filled with MSG_DONTWAIT
 * receives so that bytes already held are never stuck behind a kernel
 * wait.  The rejected alternative, faulting only non-blocking sockets,
 * would leave the thread-per-client servers students write unfaulted.
 */
#define _GNU_SOURCE
#include "tsl_fault.h"
#include "tsl_mix.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

#define FAULT_FD_MAX 4096
#define COALESCE_HOLD_MS 20   /* release a partial coalesce after this */
#define STASH_MAX (256 * 1024)
#define SEGS_MAX 64           /* arrival times kept for delay */
#define QUIET_SLICE_MS 50     /* a blocked quiet receive looks up this often */

/* Receive and send flags the engine faults; any other flag (MSG_PEEK,
 * MSG_WAITALL, MSG_OOB, MSG_ERRQUEUE ...) goes to the kernel unchanged. */
#define RX_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL | MSG_CMSG_CLOEXEC)
#define TX_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE)

/* Held bytes that arrived together: due at the same time. */
struct seg {
    size_t len;
    int64_t due;
};

struct fconn {
    bool tracked;
    uint32_t num;
    uint64_t rng_rx, rng_tx;
    uint64_t rng_wait; /* EINTR from the waits it is part of */
    uint64_t bytes_in;
    bool quiet;        /* hidden from select/poll; receives wait or EAGAIN */
    bool silent_tx;    /* sends vanish (crashed peer) */
    bool reset;        /* calls fail with ECONNRESET */
    bool shut_rd;      /* the program shut its own receiving side */
    const struct tsl_fault_rule *split, *shrt, *coalesce, *delay, *jitter,
        *eintr, *eagain, *fin, *crash_silent, *crash_reset;
    uint8_t *stash;    /* coalesce/delay: bytes received, not delivered */
    size_t stash_len;
    int64_t stash_since;  /* coalesce: when the stash began */
    struct seg segs[SEGS_MAX]; /* delay: due times, oldest first */
    int nsegs;
    bool stash_eof;
    int stash_err;     /* an error the kernel gave while bytes were held */
    bool ep_in;        /* registered with EPOLLIN (epoll backend) */
    uint64_t ep_data;  /* its epoll data, to report a due stash */
};

static struct {
    pthread_mutex_t lock;
    bool armed;
    enum tsl_fault_mode mode;
    struct tsl_fault_plan plan;
    char text[512];
    struct tsl_sys_ops real, faulty;
    struct fconn conns[FAULT_FD_MAX];
    uint32_t side;
    uint32_t nconns;
    uint64_t calls;
    uint64_t accepts;
    uint64_t count[TSL_FAULT_STAT_COUNT]; /* what was injected */
} E = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *const stat_names[] = {
#define TSL_X(name, text) text,
    TSL_FAULT_STATS(TSL_X)
#undef TSL_X
};

/* Counts an injection.  Caller holds the lock. */
#define COUNT(what) (E.count[TSL_FAULT_STAT_##what]++)

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

/* May a call on fd with these flags block?  Asked every call. */
static bool
blocking(int fd, int flags)
{
    int fl;

    if (flags & MSG_DONTWAIT)
        return false;
    fl = fcntl(fd, F_GETFL);
    return fl >= 0 && !(fl & O_NONBLOCK);
}

/* SO_RCVTIMEO or SO_SNDTIMEO in ms, rounded up; 0 for none. */
static int64_t
sock_timeout(int fd, int opt)
{
    struct timeval tv;
    socklen_t len = sizeof(tv);

    if (E.real.getsockopt(fd, SOL_SOCKET, opt, &tv, &len) < 0)
        return 0;
    return (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
}

/* Could a signal interrupt a blocking call on fd (see tsl_fault.h)?  Only
 * asked when a fault is about to fire, so the scan of every handler costs
 * nothing on the other calls. */
static bool
interruptible(int fd, int timeo_opt)
{
    struct sigaction sa;
    sigset_t blocked;
    int s, timed = -1;

    if (E.mode == TSL_FAULT_INPROC)
        return true;
    if (pthread_sigmask(SIG_BLOCK, NULL, &blocked) != 0)
        return false;
    for (s = 1; s < NSIG; s++) {
        /* Faults of the program's own instructions arrive synchronously,
         * never during a blocking call. */
        if (s == SIGKILL || s == SIGSTOP || s == SIGSEGV || s == SIGBUS ||
            s == SIGFPE || s == SIGILL || s == SIGTRAP || s == SIGSYS ||
            sigismember(&blocked, s) == 1)
            continue;
        if (sigaction(s, NULL, &sa) < 0)
            continue;
        /* (sa_handler and sa_sigaction share their storage: SIG_DFL and
         * SIG_IGN read the same either way; Valgrind reports its own
         * signal as SIG_IGN with SA_SIGINFO.) */
        if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
            continue;
        if (!(sa.sa_flags & SA_RESTART))
            return true;
        if (timed < 0)
            timed = sock_timeout(fd, timeo_opt) > 0;
        if (timed)
            return true;
    }
    return false;
}

/*
 * Could a signal end a wait (select, pselect, poll, ppoll, epoll_wait)
 * with EINTR?  Those are never restarted, SA_RESTART or not, so yes as
 * soon as the program catches a signal that is not blocked during the
 * wait (`mask` for pselect and ppoll, else the thread's own).
 */
static bool
wait_interruptible(const sigset_t *mask)
{
    struct sigaction sa;
    sigset_t blocked;
    int s;

    if (mask != NULL)
        blocked = *mask;
    else if (pthread_sigmask(SIG_BLOCK, NULL, &blocked) != 0)
        return false;
    for (s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP || s == SIGSEGV || s == SIGBUS ||
            s == SIGFPE || s == SIGILL || s == SIGTRAP || s == SIGSYS ||
            sigismember(&blocked, s) == 1)
            continue;
        if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
            sa.sa_handler != SIG_IGN)
            return true;
    }
    return false;
}

/*
 * An EINTR for a wait on these descriptors (LD_PRELOAD only: in process
 * the waits are the core's own): drawn with the eintr rule of the first
 * tracked one that has it, from that connection's wait generator, and
 * injected only where a signal could have done it.
 */
static bool
wait_eintr(const int *fds, int nfds, const sigset_t *mask)
{
    bool hit = false;
    int i;

    if (E.mode == TSL_FAULT_INPROC || !E.armed)
        return false;
    pthread_mutex_lock(&E.lock);
    for (i = 0; i < nfds; i++) {
        struct fconn *c = conn(fds[i]);
        if (c != NULL && c->eintr != NULL) {
            hit = chance(&c->rng_wait, c->eintr);
            break;
        }
    }
    pthread_mutex_unlock(&E.lock);
    if (!hit || !wait_interruptible(mask))
        return false;
    pthread_mutex_lock(&E.lock);
    COUNT(EINTR);
    pthread_mutex_unlock(&E.lock);
    errno = EINTR;
    return true;
}

/* The descriptors of a select's sets, at most max. */
static int
select_fds(int n, const fd_set *r, const fd_set *w, const fd_set *e,
           int *out, int max)
{
    int fd, k = 0;

    for (fd = 0; fd < n && fd < FD_SETSIZE && k < max; fd++)
        if ((r != NULL && FD_ISSET(fd, r)) || (w != NULL && FD_ISSET(fd, w)) ||
            (e != NULL && FD_ISSET(fd, e)))
            out[k++] = fd;
    return k;
}

static bool
poll_eintr(const struct pollfd *pf, nfds_t n, const sigset_t *mask)
{
    int fds[64], k = 0;
    nfds_t i;

    for (i = 0; i < n && k < 64; i++)
        fds[k++] = pf[i].fd;
    return wait_eintr(fds, k, mask);
}

/* Is fd a TCP socket (over IPv4 or IPv6)?  Only those are connections. */
static bool
is_tcp(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int type = 0;
    socklen_t tl = sizeof(type);

    if (E.real.getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return false;
    return E.real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
           type == SOCK_STREAM;
}

static void
track(int fd)
{
    struct fconn *c;
    const struct tsl_fault_plan *p = &E.plan;

    if (fd < 0 || fd >= FAULT_FD_MAX || !is_tcp(fd))
        return;
    pthread_mutex_lock(&E.lock);
    c = &E.conns[fd];
    free(c->stash);
    memset(c, 0, sizeof(*c));
    c->tracked = true;
    c->num = ++E.nconns;
    c->rng_rx = tsl_mix(p->seed ^ tsl_mix(c->num * 2 + 0));
    c->rng_tx = tsl_mix(p->seed ^ tsl_mix(c->num * 2 + 1));
    c->rng_wait = tsl_mix(p->seed ^ tsl_mix(~(uint64_t)c->num));
    c->split = tsl_fault_plan_find(p, TSL_FAULT_SPLIT, c->num);
    c->shrt = tsl_fault_plan_find(p, TSL_FAULT_SHORT, c->num);
    c->coalesce = tsl_fault_plan_find(p, TSL_FAULT_COALESCE, c->num);
    c->delay = tsl_fault_plan_find(p, TSL_FAULT_DELAY, c->num);
    c->jitter = tsl_fault_plan_find(p, TSL_FAULT_JITTER, c->num);
    c->eintr = tsl_fault_plan_find(p, TSL_FAULT_EINTR_, c->num);
    c->eagain = tsl_fault_plan_find(p, TSL_FAULT_EAGAIN_, c->num);
    c->fin = tsl_fault_plan_find(p, TSL_FAULT_FIN_LOSS, c->num);
    c->crash_silent = tsl_fault_plan_find(p, TSL_FAULT_CRASH_SILENT, c->num);
    c->crash_reset = tsl_fault_plan_find(p, TSL_FAULT_CRASH_RESET, c->num);
    if (c->crash_silent != NULL && c->crash_silent->a == 0) {
        c->quiet = c->silent_tx = true;
        COUNT(CRASHED);
    }
    if (c->crash_reset != NULL && c->crash_reset->a == 0) {
        c->reset = true;
        COUNT(CRASHED);
    }
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
    if (c->crash_silent != NULL && c->bytes_in >= c->crash_silent->a &&
        !c->silent_tx) {
        c->quiet = c->silent_tx = true;
        COUNT(CRASHED);
    }
    if (c->crash_reset != NULL && c->bytes_in >= c->crash_reset->a &&
        !c->reset) {
        c->reset = true;
        COUNT(CRASHED);
    }
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
    if (c >= 0 && (E.side & TSL_FAULT_SIDE_ACCEPT)) {
        int saved = errno;
        track(c);
        errno = saved;
    }
    return c;
}

static int
f_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    int r, saved;

    TORTURE(ECONNREFUSED, -1);
    r = E.real.connect(fd, sa, len);
    saved = errno;
    /* A connection from the moment it is asked for: a non-blocking
     * connect in progress will carry the bytes the plan speaks of. */
    if ((E.side & TSL_FAULT_SIDE_CONNECT) &&
        (r == 0 || errno == EINPROGRESS) && !tsl_fault_tracked(fd))
        track(fd);
    errno = saved;
    return r;
}

/* ---- the stash: held-back received bytes ---- */

/* When the stash may go out (coalesce: all of it; delay: its oldest
 * segment); -1 if never by time alone. */
static int64_t
stash_due_at(const struct fconn *c)
{
    if (c->stash_len == 0)
        return -1;
    if (c->delay != NULL)
        return c->nsegs > 0 ? c->segs[0].due : 0;
    return c->stash_since + COALESCE_HOLD_MS;
}

/* Stashed bytes (or the EOF or error behind them) may go out now. */
static bool
stash_due(const struct fconn *c, int64_t now)
{
    if (c->stash_len == 0)
        return c->stash_eof || c->stash_err != 0;
    if (c->stash_eof || c->stash_err != 0)
        return true;
    if (c->delay == NULL && c->stash_len >= c->coalesce->a)
        return true;
    return now >= stash_due_at(c);
}

/* How many stashed bytes may go out now (delay: only those due). */
static size_t
stash_ready(const struct fconn *c, int64_t now)
{
    size_t n = 0;
    int i;

    if (c->delay == NULL || c->stash_eof || c->stash_err != 0)
        return c->stash_len;
    for (i = 0; i < c->nsegs && c->segs[i].due <= now; i++)
        n += c->segs[i].len;
    return n;
}

/* Appends k received bytes.  Caller holds the lock; c->stash exists. */
static void
stash_add(struct fconn *c, const uint8_t *b, size_t k, int64_t now)
{
    if (k > STASH_MAX - c->stash_len)
        k = STASH_MAX - c->stash_len; /* cannot happen: fills stop first */
    if (c->stash_len == 0)
        c->stash_since = now;
    memcpy(c->stash + c->stash_len, b, k);
    c->stash_len += k;
    if (c->delay != NULL) {
        int64_t due = now + c->delay->a +
                      (c->jitter != NULL && c->jitter->a > 0
                           ? (int64_t)(next(&c->rng_rx) % (c->jitter->a + 1))
                           : 0);
        /* Bytes never overtake earlier ones: a due time is at least the
         * one before it.  With every slot taken the last absorbs them,
         * at the later time (late, never early). */
        if (c->nsegs > 0 && due < c->segs[c->nsegs - 1].due)
            due = c->segs[c->nsegs - 1].due;
        if (c->nsegs == SEGS_MAX) {
            c->segs[c->nsegs - 1].len += k;
            c->segs[c->nsegs - 1].due = due;
        } else {
            c->segs[c->nsegs].len = k;
            c->segs[c->nsegs].due = due;
            c->nsegs++;
        }
    }
}

/* Copies up to n stashed bytes into iov; consumes them unless peek.
 * Returns the count. */
static size_t
unstash(struct fconn *c, const struct iovec *iov, int cnt, size_t n,
        bool peek)
{
    size_t done = 0, k, left;
    int i;

    if (n > c->stash_len)
        n = c->stash_len;
    for (i = 0; i < cnt && done < n; i++) {
        k = iov[i].iov_len < n - done ? iov[i].iov_len : n - done;
        memcpy(iov[i].iov_base, c->stash + done, k);
        done += k;
    }
    if (peek)
        return done;
    memmove(c->stash, c->stash + done, c->stash_len - done);
    c->stash_len -= done;
    c->stash_since = now_ms();
    for (left = done; left > 0 && c->nsegs > 0;) {
        if (c->segs[0].len > left) {
            c->segs[0].len -= left;
            break;
        }
        left -= c->segs[0].len;
        memmove(c->segs, c->segs + 1, (size_t)(c->nsegs - 1) * sizeof(c->segs[0]));
        c->nsegs--;
    }
    return done;
}

/* Moves what the kernel has into the stash, without waiting.  Called with
 * the lock held; returns with it held and *cp looked up again (NULL if fd
 * was closed meanwhile). */
static void
stash_fill(int fd, struct fconn **cp)
{
    uint8_t tmp[65536];
    struct fconn *c = *cp;
    size_t room;
    ssize_t r;
    int err;

    if (c->stash == NULL)
        c->stash = malloc(STASH_MAX);
    if (c->stash == NULL || c->stash_eof || c->stash_err != 0)
        return;
    room = STASH_MAX - c->stash_len;
    if (room > sizeof(tmp))
        room = sizeof(tmp);
    if (room == 0)
        return;
    pthread_mutex_unlock(&E.lock);
    r = E.real.recv(fd, tmp, room, MSG_DONTWAIT);
    err = errno;
    pthread_mutex_lock(&E.lock);
    if ((c = *cp = conn(fd)) == NULL || c->stash == NULL)
        return;
    if (r > 0)
        stash_add(c, tmp, (size_t)r, now_ms());
    else if (r == 0)
        c->stash_eof = true;
    else if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR)
        c->stash_err = err;
}

/* ---- receive ---- */

/* The real receive into iov: readv without flags, else one recv per
 * buffer (later ones without waiting, unless MSG_WAITALL), as readv and
 * recvmsg fill them. */
static ssize_t
real_rx(int fd, const struct iovec *iov, int cnt, int flags)
{
    ssize_t r, done = 0;
    int i;

    if (flags == 0)
        return E.real.readv(fd, iov, cnt);
    for (i = 0; i < cnt; i++) {
        if (iov[i].iov_len == 0)
            continue;
        r = E.real.recv(fd, iov[i].iov_base, iov[i].iov_len,
                        done > 0 && !(flags & MSG_WAITALL)
                            ? flags | MSG_DONTWAIT
                            : flags);
        if (r < 0)
            return done > 0 ? done : r;
        done += r;
        if ((size_t)r < iov[i].iov_len)
            break;
    }
    return done;
}

/* Waits until fd is readable or `until` (ms on the monotonic clock, -1:
 * no end).  1 readable, 0 the time came, -1 with errno (EINTR). */
static int
wait_readable(int fd, int64_t until)
{
    struct pollfd p = {fd, POLLIN, 0};
    int64_t left = until < 0 ? -1 : until - now_ms();
    int r;

    if (until >= 0 && left <= 0)
        return 0;
    if (left > 1000 * 1000)
        left = 1000 * 1000;
    r = E.real.poll(&p, 1, (int)left);
    return r < 0 ? -1 : r > 0;
}

/* Sleeps a slice of a wait that nothing on the socket can end (a quiet
 * socket).  0, or -1 with EINTR when a signal the program sees came. */
static int
wait_quiet(int fd, int64_t until)
{
    int64_t left = until < 0 ? QUIET_SLICE_MS : until - now_ms();

    if (left > QUIET_SLICE_MS)
        left = QUIET_SLICE_MS;
    if (left <= 0)
        return 0;
    if (E.real.poll(NULL, 0, (int)left) < 0 && errno == EINTR &&
        interruptible(fd, SO_RCVTIMEO))
        return -1;
    return 0;
}

/* Looks fd up again after the lock was dropped; NULL if it was closed. */
#define RELOCK(c, fd)                                                         \
    do {                                                                      \
        pthread_mutex_lock(&E.lock);                                          \
        (c) = conn(fd);                                                       \
    } while (0)

/* A receive on a tracked socket, without MSG_WAITALL (see rx_waitall).
 * MSG_PEEK sees the held bytes first, then the kernel's; flags the engine
 * does not fault go to the kernel unchanged. */
static ssize_t
rx(int fd, const struct iovec *iov, int cnt, int flags)
{
    struct iovec lim[16];
    size_t want = 0, limit, k;
    const bool peek = (flags & MSG_PEEK) != 0;
    const bool other = (flags & ~(RX_FLAGS | MSG_PEEK)) != 0;
    bool block, storm, intr, held = false, hidden = false;
    int64_t until = -1, t, now;
    struct fconn *c;
    ssize_t r;
    int i, n, w;

    TORTURE(ECONNRESET, -1);
    if (!tsl_fault_tracked(fd) || other)
        return real_rx(fd, iov, cnt, flags); /* MSG_OOB, MSG_ERRQUEUE ... */
    block = blocking(fd, flags);
    if (block && (t = sock_timeout(fd, SO_RCVTIMEO)) > 0)
        until = now_ms() + t;
    for (i = 0; i < cnt; i++)
        want += iov[i].iov_len;
    RELOCK(c, fd);
    if (c == NULL)
        goto gone;
    /* One roll of each die per call, whatever waiting follows.  A storm
     * on a blocking socket is a wake-up the kernel would hide: the
     * receive below just waits for data. */
    storm = !peek && chance(&c->rng_rx, c->eagain) && !block;
    intr = !peek && !storm && chance(&c->rng_rx, c->eintr) &&
           (E.mode == TSL_FAULT_INPROC || block);
    limit = c->split != NULL && !peek ? pick(&c->rng_rx, c->split) : want;
    if (limit > want)
        limit = want;
    if (limit < want)
        COUNT(SPLIT);
    if (intr && E.mode == TSL_FAULT_KERNEL) {
        pthread_mutex_unlock(&E.lock);
        intr = interruptible(fd, SO_RCVTIMEO);
        RELOCK(c, fd);
        if (c == NULL)
            goto gone;
    }
    for (;;) {
        if (c->reset) {
            pthread_mutex_unlock(&E.lock);
            errno = ECONNRESET;
            return -1;
        }
        if (storm || intr) {
            if (storm)
                COUNT(EAGAIN);
            else
                COUNT(EINTR);
            pthread_mutex_unlock(&E.lock);
            errno = storm ? EAGAIN : EINTR;
            return -1;
        }
        if (c->quiet) {
            /* A lost FIN or a crashed peer: nothing, ever.  Blocking, wait
             * as for a silent peer: until SO_RCVTIMEO, a signal, or the
             * program's own shutdown of its receiving side. */
            if (c->shut_rd) {
                pthread_mutex_unlock(&E.lock);
                return 0;
            }
            if (block && !hidden) {
                hidden = true;
                COUNT(HIDDEN);
            }
            pthread_mutex_unlock(&E.lock);
            if (!block || (until >= 0 && now_ms() >= until)) {
                errno = EAGAIN;
                return -1;
            }
            if (wait_quiet(fd, until) < 0)
                return -1;
            RELOCK(c, fd);
            if (c == NULL)
                goto gone;
            continue;
        }
        if (c->coalesce != NULL || c->delay != NULL) {
            bool timed_out = false;
            stash_fill(fd, &c);
            if (c == NULL)
                goto gone;
            if (c->stash == NULL) {
                pthread_mutex_unlock(&E.lock);
                errno = ENOMEM;
                return -1;
            }
            now = now_ms();
            if (!stash_due(c, now)) {
                int64_t due = stash_due_at(c);
                if (!held) {
                    held = true;
                    COUNT(HELD);
                    if (block)
                        COUNT(WAITED);
                }
                if (!block) {
                    pthread_mutex_unlock(&E.lock);
                    errno = EAGAIN;
                    return -1;
                }
                /* Wait for more bytes, or for the held ones to be due. */
                pthread_mutex_unlock(&E.lock);
                t = due < 0 ? until
                    : until < 0 || due < until ? due
                                               : until;
                w = wait_readable(fd, t);
                if (w < 0 && errno == EINTR &&
                    interruptible(fd, SO_RCVTIMEO))
                    return -1;
                RELOCK(c, fd);
                if (c == NULL)
                    goto gone;
                timed_out = until >= 0 && now_ms() >= until;
                if (!timed_out)
                    continue;
                /* SO_RCVTIMEO ran out: the kernel would hand over what it
                 * has, or fail with EAGAIN. */
                if (c->stash_len == 0) {
                    pthread_mutex_unlock(&E.lock);
                    errno = EAGAIN;
                    return -1;
                }
            }
            if (c->stash_len > 0) {
                k = timed_out ? c->stash_len : stash_ready(c, now_ms());
                if (k > limit)
                    k = limit;
                r = (ssize_t)unstash(c, iov, cnt, k, peek);
                if (!peek)
                    after_bytes(c, (size_t)r);
                pthread_mutex_unlock(&E.lock);
                return r;
            }
            if (c->stash_err != 0) {
                errno = c->stash_err;
                c->stash_err = 0;
                pthread_mutex_unlock(&E.lock);
                return -1;
            }
            r = 0; /* only the EOF is left */
        } else {
            size_t left = limit;
            for (i = 0, n = 0; i < cnt && left > 0 && n < 16; i++) {
                lim[n].iov_base = iov[i].iov_base;
                lim[n].iov_len = iov[i].iov_len < left ? iov[i].iov_len
                                                       : left;
                left -= lim[n].iov_len;
                n++;
            }
            pthread_mutex_unlock(&E.lock);
            r = real_rx(fd, lim, n, flags & ~MSG_CMSG_CLOEXEC);
            if (r < 0)
                return r;
            RELOCK(c, fd);
            if (c == NULL) {
                pthread_mutex_unlock(&E.lock);
                return r;
            }
            if (r > 0 && !peek)
                after_bytes(c, (size_t)r);
        }
        if (r == 0 && want > 0 && c->fin != NULL &&
            c->bytes_in >= c->fin->a) {
            c->quiet = true; /* the FIN is lost: no EOF, ever */
            COUNT(FIN_LOST);
            continue;
        }
        pthread_mutex_unlock(&E.lock);
        return r;
    }
gone:
    /* Closed by another thread meanwhile: the kernel has the last word. */
    pthread_mutex_unlock(&E.lock);
    return real_rx(fd, iov, cnt, flags);
}

/* MSG_WAITALL: on a blocking socket, faulted receives until the buffers
 * are full, the EOF, or an error (what arrived is returned first), which
 * is what the flag promises; otherwise the flag means nothing. */
static ssize_t
rx_waitall(int fd, const struct iovec *iov, int cnt, int flags)
{
    struct iovec rest[64];
    ssize_t r, done = 0;
    int i, n;

    if (!(flags & MSG_WAITALL))
        return rx(fd, iov, cnt, flags);
    if (!tsl_fault_tracked(fd) || cnt > 64 || (flags & MSG_PEEK))
        return real_rx(fd, iov, cnt, flags);
    flags &= ~MSG_WAITALL;
    if (!blocking(fd, flags))
        return rx(fd, iov, cnt, flags);
    memcpy(rest, iov, (size_t)cnt * sizeof(*iov));
    for (i = 0, n = cnt;;) {
        while (i < n && rest[i].iov_len == 0)
            i++;
        if (i == n)
            return done;
        r = rx(fd, rest + i, n - i, flags);
        if (r <= 0)
            return done > 0 ? done : r;
        done += r;
        while (r > 0) {
            size_t k = (size_t)r < rest[i].iov_len ? (size_t)r
                                                     : rest[i].iov_len;
            rest[i].iov_base = (uint8_t *)rest[i].iov_base + k;
            rest[i].iov_len -= k;
            r -= (ssize_t)k;
            if (rest[i].iov_len == 0)
                i++;
        }
    }
}

static ssize_t
f_readv(int fd, const struct iovec *iov, int cnt)
{
    return rx(fd, iov, cnt, 0);
}

static ssize_t
f_recv(int fd, void *buf, size_t n, int flags)
{
    struct iovec one = {buf, n};

    return rx_waitall(fd, &one, 1, flags);
}

ssize_t
tsl_fault_recvmsg(ssize_t (*real)(int, struct msghdr *, int), int fd,
                  struct msghdr *m, int flags)
{
    ssize_t r;

    if (!tsl_fault_tracked(fd) ||
        (flags & ~(RX_FLAGS | MSG_PEEK | MSG_WAITALL)) != 0 ||
        m->msg_iovlen > 1024) {
        TORTURE(ECONNRESET, -1);
        return real(fd, m, flags);
    }
    r = rx_waitall(fd, m->msg_iov, (int)m->msg_iovlen, flags);
    if (r >= 0) {
        m->msg_namelen = 0;   /* TCP gives no source address */
        m->msg_controllen = 0;
        m->msg_flags = 0;
    }
    return r;
}

/* ---- send ---- */

/* The real send of iov: buffer by buffer, stopping at a short one. */
static ssize_t
real_tx(int fd, const struct iovec *iov, int cnt, int flags)
{
    ssize_t r, done = 0;
    int i;

    for (i = 0; i < cnt; i++) {
        if (iov[i].iov_len == 0)
            continue;
        r = E.real.send(fd, iov[i].iov_base, iov[i].iov_len, flags);
        if (r < 0)
            return done > 0 ? done : r;
        done += r;
        if ((size_t)r < iov[i].iov_len)
            break;
    }
    return done;
}

static ssize_t
tx(int fd, const struct iovec *iov, int cnt, int flags)
{
    struct iovec lim[16];
    size_t total = 0, k, left;
    struct fconn *c;
    bool block, intr = false, shorten;
    int i, n;

    TORTURE(EPIPE, -1);
    for (i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    pthread_mutex_lock(&E.lock);
    c = conn(fd);
    if (c == NULL || (flags & ~TX_FLAGS) != 0) {
        pthread_mutex_unlock(&E.lock);
        return real_tx(fd, iov, cnt, flags);
    }
    if (c->reset) {
        pthread_mutex_unlock(&E.lock);
        errno = ECONNRESET;
        return -1;
    }
    if (c->silent_tx) {
        pthread_mutex_unlock(&E.lock);
        return (ssize_t)total; /* into the void */
    }
    pthread_mutex_unlock(&E.lock);
    block = blocking(fd, flags);
    /* On a blocking socket EINTR and a short write happen only where a
     * signal could interrupt the call (see tsl_fault.h). */
    if (block && E.mode == TSL_FAULT_KERNEL)
        intr = interruptible(fd, SO_SNDTIMEO);
    pthread_mutex_lock(&E.lock);
    if ((c = conn(fd)) == NULL) {
        pthread_mutex_unlock(&E.lock);
        return real_tx(fd, iov, cnt, flags);
    }
    if (chance(&c->rng_tx, c->eintr) &&
        (E.mode == TSL_FAULT_INPROC || (block && intr))) {
        COUNT(EINTR);
        pthread_mutex_unlock(&E.lock);
        errno = EINTR;
        return -1;
    }
    if (chance(&c->rng_tx, c->eagain) && !block) {
        COUNT(EAGAIN);
        pthread_mutex_unlock(&E.lock);
        errno = EAGAIN;
        return -1;
    }
    shorten = !block || E.mode == TSL_FAULT_INPROC || intr;
    k = total;
    if (c->shrt != NULL) {
        uint32_t s = pick(&c->rng_tx, c->shrt);
        if (s < k && shorten) {
            k = s;
            COUNT(SHORT);
        }
    }
    pthread_mutex_unlock(&E.lock);
    if (k == total)
        return real_tx(fd, iov, cnt, flags);
    for (i = 0, n = 0, left = k; i < cnt && left > 0 && n < 16; i++) {
        lim[n].iov_base = iov[i].iov_base;
        lim[n].iov_len = iov[i].iov_len < left ? iov[i].iov_len : left;
        left -= lim[n].iov_len;
        n++;
    }
    return real_tx(fd, lim, n, flags);
}

static ssize_t
f_send(int fd, const void *buf, size_t n, int flags)
{
    struct iovec one = {(void *)(uintptr_t)buf, n};

    return tx(fd, &one, 1, flags);
}

ssize_t
tsl_fault_writev(int fd, const struct iovec *iov, int cnt)
{
    return tx(fd, iov, cnt, 0);
}

ssize_t
tsl_fault_sendmsg(ssize_t (*real)(int, const struct msghdr *, int), int fd,
                  const struct msghdr *m, int flags)
{
    if (m->msg_controllen > 0 || !tsl_fault_tracked(fd) ||
        m->msg_iovlen > 1024) {
        TORTURE(EPIPE, -1);
        return real(fd, m, flags);
    }
    return tx(fd, m->msg_iov, (int)m->msg_iovlen, flags);
}

static int
f_close(int fd)
{
    untrack(fd);
    return E.real.close(fd);
}

void
tsl_fault_shutdown(int fd, int how)
{
    pthread_mutex_lock(&E.lock);
    if (conn(fd) != NULL && (how == SHUT_RD || how == SHUT_RDWR))
        E.conns[fd].shut_rd = true;
    pthread_mutex_unlock(&E.lock);
}

/* ---- readiness ---- */

/* Is fd's FIN to be lost, and has it come?  Then the socket goes quiet
 * before anyone is told it is readable: a program told so would block in
 * its next receive, which no kernel does.  One MSG_PEEK probe, only on a
 * connection whose FIN the plan drops.  Called without the lock. */
static bool
fin_now(int fd)
{
    struct fconn *c;
    bool probe, eof = false;
    uint8_t b;

    pthread_mutex_lock(&E.lock);
    c = conn(fd);
    probe = c != NULL && !c->quiet && c->fin != NULL &&
            c->bytes_in >= c->fin->a && c->stash_len == 0;
    if (probe && c->stash_eof) {
        eof = true;
        probe = false;
    }
    pthread_mutex_unlock(&E.lock);
    if (probe)
        eof = E.real.recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
    if (!eof)
        return false;
    pthread_mutex_lock(&E.lock);
    c = conn(fd);
    if (c != NULL && !c->quiet) {
        c->quiet = true;
        COUNT(FIN_LOST);
    }
    pthread_mutex_unlock(&E.lock);
    return true;
}

/* Is fd a tracked connection gone quiet? */
static bool
is_quiet(int fd)
{
    bool q;

    pthread_mutex_lock(&E.lock);
    q = conn(fd) != NULL && E.conns[fd].quiet;
    pthread_mutex_unlock(&E.lock);
    return q;
}

/* fin_now() over the descriptors of a read set; how many went quiet. */
static int
fins_in(fd_set *rs, int nfds)
{
    int fd, k = 0;

    for (fd = 0; rs != NULL && fd < nfds && fd < FAULT_FD_MAX; fd++)
        if (FD_ISSET(fd, rs) && fin_now(fd))
            k++;
    return k;
}

/* The time left until `end` (-1: none) as a wait in ms. */
static int64_t
left_ms(int64_t end)
{
    int64_t l;

    if (end < 0)
        return -1;
    l = end - now_ms();
    return l < 0 ? 0 : l;
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
            if (c->shut_rd) {
                FD_SET(fd, due); /* its own shutdown: readable, EOF */
                ndue++;
            }
            FD_CLR(fd, rs);
            continue;
        }
        if (c->stash_len == 0 && !c->stash_eof && c->stash_err == 0)
            continue;
        if (stash_due(c, now)) {
            FD_SET(fd, due);
            ndue++;
            continue;
        }
        d = stash_due_at(c) - now;
        if (d < 0)
            d = 0;
        if (*wait_ms < 0 || d < *wait_ms)
            *wait_ms = d;
    }
    pthread_mutex_unlock(&E.lock);
    return ndue;
}

/* The shared body of select and pselect: `wait` makes the real call with
 * a timeout in ms (-1: none). */
typedef int (*select_fn)(void *ctx, bool exact, int n, fd_set *r, fd_set *w,
                         fd_set *e, int64_t ms);

static int
select_common(int n, fd_set *r, fd_set *w, fd_set *e, int64_t timeout,
              select_fn call, void *ctx)
{
    fd_set due, keep, r0, w0, e0;
    int64_t end = timeout < 0 ? -1 : now_ms() + timeout, wait;
    int ndue, res, fd, lost;
    bool first = true;

    if (r != NULL)
        r0 = *r;
    if (w != NULL)
        w0 = *w;
    if (e != NULL)
        e0 = *e;
    for (;; first = false) {
        if (!first) {
            /* Nothing the program may see was ready: wait again. */
            if (r != NULL)
                *r = r0;
            if (w != NULL)
                *w = w0;
            if (e != NULL)
                *e = e0;
        }
        fins_in(r, n);
        ndue = 0;
        wait = first ? timeout : left_ms(end);
        FD_ZERO(&due);
        FD_ZERO(&keep);
        if (r != NULL) {
            keep = *r;
            ndue = prewait(r, n, &due, &wait);
        }
        if (ndue > 0)
            wait = 0;
        if (timeout >= 0 && wait > left_ms(end))
            wait = left_ms(end);
        res = call(ctx, first, n, r, w, e, wait);
        if (res < 0)
            return res;
        lost = 0;
        for (fd = 0; r != NULL && fd < n && fd < FAULT_FD_MAX; fd++)
            if (FD_ISSET(fd, r) && fin_now(fd)) {
                FD_CLR(fd, r);
                lost++;
            }
        /* (A descriptor ready for writing too is counted once by select
         * per set; dropping it from the read set takes one off.) */
        res -= lost;
        for (fd = 0; fd < n && ndue > 0; fd++)
            if (FD_ISSET(fd, &due) && FD_ISSET(fd, &keep) &&
                !FD_ISSET(fd, r)) {
                FD_SET(fd, r);
                res++;
            }
        /* Nothing ready: the wait was cut short for held bytes (now due,
         * or soon) or a FIN lost; a program must not see a timeout
         * before its own. */
        if (res > 0 || timeout == 0 || (end >= 0 && now_ms() >= end))
            return res < 0 ? 0 : res;
    }
}

struct select_ctx {
    struct timeval *t;
    int64_t t_ms;
};

static int
call_select(void *ctx, bool exact, int n, fd_set *r, fd_set *w, fd_set *e,
            int64_t ms)
{
    struct select_ctx *p = ctx;
    struct timeval tv, *tp = NULL;

    if (exact && ms == p->t_ms && p->t != NULL)
        return E.real.select(n, r, w, e, p->t); /* as asked: it is updated */
    if (ms >= 0) {
        tv.tv_sec = ms / 1000;
        tv.tv_usec = (ms % 1000) * 1000;
        tp = &tv;
    }
    return E.real.select(n, r, w, e, tp);
}

static int
f_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    struct select_ctx p = {t, -1};
    int fds[64];

    TORTURE(EINTR, -1);
    if (wait_eintr(fds, select_fds(n, r, w, e, fds, 64), NULL))
        return -1;
    if (t != NULL)
        p.t_ms = (int64_t)t->tv_sec * 1000 + t->tv_usec / 1000;
    return select_common(n, r, w, e, p.t_ms, call_select, &p);
}

struct pselect_ctx {
    int (*real)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
                const sigset_t *);
    const struct timespec *t;
    int64_t t_ms;
    const sigset_t *mask;
};

static int
call_pselect(void *ctx, bool exact, int n, fd_set *r, fd_set *w, fd_set *e,
             int64_t ms)
{
    struct pselect_ctx *p = ctx;
    struct timespec ts;

    if (ms < 0)
        return p->real(n, r, w, e, NULL, p->mask);
    if (exact && ms == p->t_ms && p->t != NULL)
        return p->real(n, r, w, e, p->t, p->mask); /* exactly as asked */
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000;
    return p->real(n, r, w, e, &ts, p->mask);
}

int
tsl_fault_pselect(int (*real)(int, fd_set *, fd_set *, fd_set *,
                              const struct timespec *, const sigset_t *),
                  int n, fd_set *r, fd_set *w, fd_set *e,
                  const struct timespec *t, const sigset_t *mask)
{
    struct pselect_ctx p = {real, t, -1, mask};
    int fds[64];

    TORTURE(EINTR, -1);
    if (wait_eintr(fds, select_fds(n, r, w, e, fds, 64), mask))
        return -1;
    if (t != NULL)
        p.t_ms = (int64_t)t->tv_sec * 1000 + (t->tv_nsec + 999999) / 1000000;
    return select_common(n, r, w, e, p.t_ms, call_pselect, &p);
}

/* The shared body of poll and ppoll. */
typedef int (*poll_fn)(void *ctx, bool exact, struct pollfd *pf, nfds_t n,
                       int64_t ms);

static int
poll_common(struct pollfd *pf, nfds_t n, int64_t timeout, poll_fn call,
            void *ctx)
{
    fd_set rs, due;
    int64_t end = timeout < 0 ? -1 : now_ms() + timeout, wait;
    int maxfd, ndue, res;
    nfds_t i;
    short saved[64];
    bool first = true;

    for (;; first = false) {
        FD_ZERO(&rs);
        maxfd = 0;
        for (i = 0; i < n && i < 64; i++) {
            saved[i] = pf[i].events;
            if ((pf[i].events & POLLIN) && pf[i].fd >= 0 &&
                pf[i].fd < FD_SETSIZE) {
                FD_SET(pf[i].fd, &rs);
                if (pf[i].fd + 1 > maxfd)
                    maxfd = pf[i].fd + 1;
            }
        }
        fins_in(&rs, maxfd);
        wait = first ? timeout : left_ms(end);
        ndue = prewait(&rs, maxfd, &due, &wait);
        for (i = 0; i < n && i < 64; i++)
            if ((pf[i].events & POLLIN) && pf[i].fd >= 0 &&
                pf[i].fd < FD_SETSIZE && !FD_ISSET(pf[i].fd, &rs))
                pf[i].events = (short)(pf[i].events & ~POLLIN); /* quiet */
        if (timeout >= 0 && wait > left_ms(end))
            wait = left_ms(end);
        res = call(ctx, first, pf, n, ndue > 0 ? 0 : wait);
        for (i = 0; i < n && i < 64; i++) {
            int fd = pf[i].fd;
            pf[i].events = saved[i];
            if (res < 0)
                continue;
            /* A quiet socket's hang-up and data are hidden too, and so is
             * a FIN that has just come to be lost. */
            if (pf[i].revents != 0 &&
                (is_quiet(fd) ||
                 ((pf[i].revents & (POLLIN | POLLHUP)) && fin_now(fd)))) {
                pf[i].revents = 0;
                res--;
            }
            if (fd >= 0 && fd < FD_SETSIZE && FD_ISSET(fd, &due) &&
                !(pf[i].revents & POLLIN)) {
                if (pf[i].revents == 0)
                    res++;
                pf[i].revents |= POLLIN;
            }
        }
        if (res != 0 || timeout == 0 || (end >= 0 && now_ms() >= end))
            return res;
    }
}

static int
call_poll(void *ctx, bool exact, struct pollfd *pf, nfds_t n, int64_t ms)
{
    (void)ctx;
    (void)exact;
    return E.real.poll(pf, n, ms > INT32_MAX ? INT32_MAX : (int)ms);
}

static int
f_poll(struct pollfd *pf, nfds_t n, int timeout)
{
    TORTURE(EINTR, -1);
    if (poll_eintr(pf, n, NULL))
        return -1;
    return poll_common(pf, n, timeout, call_poll, NULL);
}

struct ppoll_ctx {
    int (*real)(struct pollfd *, nfds_t, const struct timespec *,
                const sigset_t *);
    const struct timespec *t;
    int64_t t_ms;
    const sigset_t *mask;
};

static int
call_ppoll(void *ctx, bool exact, struct pollfd *pf, nfds_t n, int64_t ms)
{
    struct ppoll_ctx *p = ctx;
    struct timespec ts;

    if (ms < 0)
        return p->real(pf, n, NULL, p->mask);
    if (exact && ms == p->t_ms && p->t != NULL)
        return p->real(pf, n, p->t, p->mask);
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000;
    return p->real(pf, n, &ts, p->mask);
}

int
tsl_fault_ppoll(int (*real)(struct pollfd *, nfds_t, const struct timespec *,
                            const sigset_t *),
                struct pollfd *pf, nfds_t n, const struct timespec *t,
                const sigset_t *mask)
{
    struct ppoll_ctx p = {real, t, -1, mask};

    TORTURE(EINTR, -1);
    if (poll_eintr(pf, n, mask))
        return -1;
    if (t != NULL)
        p.t_ms = (int64_t)t->tv_sec * 1000 + (t->tv_nsec + 999999) / 1000000;
    return poll_common(pf, n, p.t_ms, call_ppoll, &p);
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
    int n, k, out, fd, watched[1], nw = 0;

    TORTURE(EINTR, -1);
    /* Which descriptors an epoll set holds is the kernel's; a tracked
     * one registered for input stands for them. */
    pthread_mutex_lock(&E.lock);
    for (fd = 0; fd < FAULT_FD_MAX && nw == 0; fd++)
        if (E.conns[fd].tracked && E.conns[fd].ep_in && E.conns[fd].eintr)
            watched[nw++] = fd;
    pthread_mutex_unlock(&E.lock);
    if (nw > 0 && wait_eintr(watched, nw, NULL))
        return -1;
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
                (c->stash_len == 0 && !c->stash_eof && c->stash_err == 0))
                continue;
            if (stash_due(c, now)) {
                evs[ndue].events = EPOLLIN;
                evs[ndue].data.u64 = c->ep_data;
                ndue++;
            } else {
                int64_t d = stash_due_at(c) - now;
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
        if (n < 0 || (n == 0 && (timeout == 0 ||
                                 (timeout > 0 && now_ms() >= end))))
            return n;
        for (k = 0, out = 0; k < n; k++) {
            struct fconn *c;
            int cfd = -1;
            pthread_mutex_lock(&E.lock);
            c = evs[k].data.ptr ? by_data(evs[k].data.u64) : NULL;
            if (c != NULL)
                cfd = (int)(c - E.conns);
            pthread_mutex_unlock(&E.lock);
            if (cfd >= 0 &&
                (is_quiet(cfd) ||
                 ((evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) &&
                  fin_now(cfd))))
                continue;
            evs[out++] = evs[k];
        }
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

/* fork() in a threaded program: the child must not inherit the lock held
 * by a thread that does not exist there (socat, Python's multiprocessing
 * and preforking servers fork under the shim). */
static void
fork_prepare(void)
{
    pthread_mutex_lock(&E.lock);
}

static void
fork_done(void)
{
    pthread_mutex_unlock(&E.lock);
}

static void
fork_hooks(void)
{
    pthread_atfork(fork_prepare, fork_done, fork_done);
}

int
tsl_fault_init(const char *plan, const struct tsl_sys_ops *real,
               enum tsl_fault_mode mode, char *err, size_t errlen)
{
    static pthread_once_t hooked = PTHREAD_ONCE_INIT;
    const struct tsl_fault_rule *side;
    struct tsl_fault_plan p;

    if (tsl_fault_plan_parse(plan, &p, err, errlen) < 0)
        return -1;
    pthread_once(&hooked, fork_hooks);
    tsl_fault_fini();
    pthread_mutex_lock(&E.lock);
    E.plan = p;
    E.mode = mode;
    side = tsl_fault_plan_find(&p, TSL_FAULT_SIDE, 0);
    E.side = side != NULL ? side->a : TSL_FAULT_SIDE_ACCEPT;
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
    memset(E.count, 0, sizeof(E.count));
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

int
tsl_fault_stats(char *buf, size_t len)
{
    size_t used = 0;
    int i, n;

    pthread_mutex_lock(&E.lock);
    for (i = 0; i < TSL_FAULT_STAT_COUNT; i++) {
        n = snprintf(used < len ? buf + used : NULL, used < len ? len - used : 0,
                     "%s%s=%llu", i ? " " : "", stat_names[i],
                     (unsigned long long)E.count[i]);
        used += (size_t)n;
    }
    pthread_mutex_unlock(&E.lock);
    return (int)used;
}

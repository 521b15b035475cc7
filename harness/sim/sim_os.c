/*
 * sim_os.c - the simulated operating system under the core (tsl-sim).
 *
 * Implements the OS-call table (struct tsl_sys_ops) over the world W:
 * descriptors are allocated lowest-first like the kernel's, so numbers are
 * reused the way real ones are; sockets are the connections of
 * sim_world.c, whose reads split, whose writes shorten or meet a full
 * buffer, and which fail with EINTR, EAGAIN, ECONNRESET as the seed
 * decides; pipes count bytes; epoll and poll report level-triggered
 * readiness computed from the world, and a wait that finds nothing puts
 * the calling task to sleep (until its timeout, or for ever) instead of
 * blocking; the clock is W.now.  Allocations are counted, so a world can
 * check that nothing is left after its stop, and fail as the seed says.
 *
 * Checks made here, against the core's contracts: no call on a
 * descriptor that is not open, no close of one twice, a socket read only
 * by the receiver that watches it and watched by one receiver at a time,
 * and a client's socket closed only after it left the database.
 *
 * Readiness is kept (W.rdy, sim_fd_sync) rather than computed at each
 * of the scheduler's scans; the scans are sim_world.c's.
 *
 * Also the generator, the trace, the helper thread and the connectors'
 * coroutines.  State: W, the main thread's (the helper runs only while
 * the main thread waits).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "sim.h"

struct sim_world W;

/* ---- the generator ---- */

static uint64_t rs[4];

static uint64_t
splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void
sim_rng_seed(uint64_t seed)
{
    int i;

    for (i = 0; i < 4; i++)
        rs[i] = splitmix(&seed);
}

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t
sim_rnd(void)
{
    uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;

    rs[2] ^= rs[0];
    rs[3] ^= rs[1];
    rs[1] ^= rs[2];
    rs[0] ^= rs[3];
    rs[2] ^= t;
    rs[3] = rotl(rs[3], 45);
    return r;
}

uint32_t
sim_below(uint32_t n)
{
    return n == 0 ? 0 : (uint32_t)(((sim_rnd() >> 32) * n) >> 32);
}

/* num in den; a den of 0 means never. */
bool
sim_chance(uint32_t num, uint32_t den)
{
    return num > 0 && den > 0 && sim_below(den) < num;
}

uint32_t
sim_range(uint32_t lo, uint32_t hi)
{
    return lo + sim_below(hi - lo + 1);
}

/* ---- failures, the trace, the fingerprint ---- */

void
sim_hash(uint64_t v)
{
    W.hash = (W.hash ^ v) * 0x100000001b3ull;
}

void
sim_fail(const char *fmt, ...)
{
    va_list ap;

    if (W.failed)
        return;
    W.failed = true;
    W.fail_step = W.step;
    va_start(ap, fmt);
    vsnprintf(W.why, sizeof(W.why), fmt, ap);
    va_end(ap);
    TRACE("VIOLATION: %s", W.why);
}

#define TRACE_LINES 400

void
sim_trace(const char *fmt, ...)
{
    static char (*ring)[160];
    char *line;
    va_list ap;
    int n;

    if (ring == NULL) {
        ring = calloc(TRACE_LINES, sizeof(*ring));
        if (ring == NULL)
            return;
    }
    W.trace = ring;
    line = ring[(W.trace_head + W.trace_n) % TRACE_LINES];
    if (W.trace_n < TRACE_LINES)
        W.trace_n++;
    else
        W.trace_head = (W.trace_head + 1) % TRACE_LINES;
    n = snprintf(line, 160, "%7llu t=%-7lld ", (unsigned long long)W.step,
                 (long long)(W.now - SIM_TIME0));
    va_start(ap, fmt);
    vsnprintf(line + n, (size_t)(160 - n), fmt, ap);
    va_end(ap);
    if (W.o.verbose)
        printf("%s\n", line);
}

void
sim_trace_dump(void)
{
    unsigned i;

    if (W.trace == NULL)
        return;
    printf("trace (last %u events):\n", W.trace_n);
    for (i = 0; i < W.trace_n; i++)
        printf("  %s\n", W.trace[(W.trace_head + i) % TRACE_LINES]);
}

/* ---- the helper thread: "another thread" at a point of the seed's ---- */

static pthread_mutex_t h_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t h_cv = PTHREAD_COND_INITIALIZER;
static void (*h_fn)(void *);
static void *h_arg;
static bool h_busy, h_started;
static pthread_t h_thread;

static void *
helper_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&h_lock);
    for (;;) {
        while (!h_busy)
            pthread_cond_wait(&h_cv, &h_lock);
        pthread_mutex_unlock(&h_lock);
        h_fn(h_arg);
        pthread_mutex_lock(&h_lock);
        h_busy = false;
        pthread_cond_broadcast(&h_cv);
    }
    return NULL;
}

void
sim_elsewhere(void (*fn)(void *), void *arg)
{
    int saved = W.cur;

    if (!h_started) {
        if (pthread_create(&h_thread, NULL, helper_main, NULL) != 0) {
            fn(arg); /* no thread: the same thread will do */
            return;
        }
        pthread_detach(h_thread);
        h_started = true;
    }
    W.cur = -1;
    pthread_mutex_lock(&h_lock);
    h_fn = fn;
    h_arg = arg;
    h_busy = true;
    pthread_cond_broadcast(&h_cv);
    while (h_busy)
        pthread_cond_wait(&h_cv, &h_lock);
    pthread_mutex_unlock(&h_lock);
    W.cur = saved;
}

void
sim_preempt(const char *where)
{
    if (W.preempts_left <= 0 || W.cur < 0 || W.failed ||
        !sim_chance(1, W.p_preempt))
        return;
    W.preempts_left--;
    TRACE("preempted in %s: the application runs", where);
    sim_elsewhere(sim_app_concurrent, NULL);
}

/* ---- connectors' threads, run as coroutines ---- */

/* A connector's thread (or the select backend's acceptor's) is a
 * coroutine on the main thread: sim_ctask_run switches to it, and it
 * switches back whenever it would block (ct_poll) or ends.  One thread at
 * a time ran before too (threads that passed a token), but each pass was
 * two trips through the kernel's scheduler, a tenth of a world's time.
 * What a real thread has of its own is swapped at each switch: errno and
 * the core's thread-locals that a connector's code sets and keeps across
 * its waits (tsl__tls_server; tsl__tls_serving for symmetry).  The others
 * (tsl_receiver.c's tls_rx, tsl_output.c's serving state) are set only
 * inside a receiver's turn, which never switches, and are unset at every
 * switch, as on a fresh thread.  The core joins the thread it was given:
 * a real thread that ends at once, made where the real one would be. */
#define CT_STACK (256 * 1024)

struct ct_co {
    ucontext_t uc;
    char *stack;             /* CT_STACK bytes above a guard page, kept */
    void *(*fn)(void *);
    void *arg;
    struct tsl_server *tls_server;
    struct tsl_client *tls_serving;
    int err;
};

static struct ct_co ct_cos[SIM_MAXCTASK];
static ucontext_t co_main;
static int t_self = -1;      /* the running connector, -1: none */

int
sim_ctask_self(void)
{
    return t_self;
}

static void
co_entry(void)
{
    int i = t_self;

    ct_cos[i].fn(ct_cos[i].arg);
    W.ctasks[i].alive = false;
    TRACE("connector %d: its thread ends", i);
    /* Back to co_main (uc_link), for good. */
}

void
sim_ctask_run(int i)
{
    struct ct_co *co = &ct_cos[i];
    struct tsl_server *srv = tsl__tls_server;
    struct tsl_client *serving = tsl__tls_serving;
    int saved = W.cur, err = errno;

    W.cur = -1;
    W.ctasks[i].sleeping = false;
    tsl__tls_server = co->tls_server;
    tsl__tls_serving = co->tls_serving;
    errno = co->err;
    t_self = i;
    swapcontext(&co_main, &co->uc);
    t_self = -1;
    co->tls_server = tsl__tls_server;
    co->tls_serving = tsl__tls_serving;
    co->err = errno;
    tsl__tls_server = srv;
    tsl__tls_serving = serving;
    errno = err;
    W.cur = saved;
}

/* The connector thread would block: the main thread runs until it is
 * scheduled again. */
static void
ct_yield(void)
{
    swapcontext(&ct_cos[t_self].uc, &co_main);
}

static void *
ct_joinable(void *unused)
{
    (void)unused;
    return NULL;
}

static int
ct_add(pthread_t *t, void *(*fn)(void *), void *arg)
{
    struct sim_ctask *ct;
    struct ct_co *co;
    long page = sysconf(_SC_PAGESIZE);

    if (W.nctasks == SIM_MAXCTASK)
        return EAGAIN;
    co = &ct_cos[W.nctasks];
    if (co->stack == NULL) {
        char *p = mmap(NULL, CT_STACK + (size_t)page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return EAGAIN;
        mprotect(p, (size_t)page, PROT_NONE); /* an overflow faults */
        co->stack = p + page;
    }
    if (getcontext(&co->uc) != 0)
        return EAGAIN;
    co->uc.uc_stack.ss_sp = co->stack;
    co->uc.uc_stack.ss_size = CT_STACK;
    co->uc.uc_link = &co_main;
    makecontext(&co->uc, co_entry, 0);
    if (pthread_create(t, NULL, ct_joinable, NULL) != 0)
        return EAGAIN;
    co->fn = fn;
    co->arg = arg;
    co->tls_server = NULL;
    co->tls_serving = NULL;
    co->err = 0;
    ct = &W.ctasks[W.nctasks];
    memset(ct, 0, sizeof(*ct));
    ct->ended_at = -1;
    ct->alive = true;
    TRACE("connector %d: its thread starts", W.nctasks);
    W.nctasks++;
    return 0;
}

/* ---- descriptors ---- */

void
sim_os_reset(void)
{
    memset(W.fds, 0, sizeof(W.fds));
    memset(W.rdy, SIM_RDY_FREE, sizeof(W.rdy));
    W.npipes = 0;
    W.nbacklog = 0;
    W.lfd = -1;
    W.live_allocs = 0;
}

int
sim_fd_alloc(enum sim_fdkind kind)
{
    int fd;

    for (fd = 3; fd < SIM_MAXFD && fd < W.fd_budget; fd++)
        if (W.fds[fd].kind == FD_FREE) {
            memset(&W.fds[fd], 0, sizeof(W.fds[fd]));
            W.fds[fd].kind = kind;
            sim_rdy_set(fd, SIM_RDY_CALC); /* until its caller syncs */
            return fd;
        }
    errno = EMFILE;
    return -1;
}

static struct sim_fd *
fd_get(int fd, const char *call)
{
    if (fd < 0 || fd >= SIM_MAXFD || W.fds[fd].kind == FD_FREE) {
        sim_fail("%s on descriptor %d, which is not open", call, fd);
        errno = EBADF;
        return NULL;
    }
    return &W.fds[fd];
}

struct sim_conn *
sim_conn_of_fd(int fd)
{
    if (fd < 0 || fd >= SIM_MAXFD || W.fds[fd].kind != FD_CONN)
        return NULL;
    return &W.conns[W.fds[fd].conn];
}

static size_t
room(const struct sim_conn *k)
{
    size_t queued = k->sent - k->got;

    return queued >= k->room_cap ? 0 : k->room_cap - queued;
}

/* The truth of a descriptor's readiness, from the world; the scheduler
 * reads it from W.rdy (sim_fd_sync), where it is kept. */
bool
sim_fd_calc_readable(int fd)
{
    struct sim_fd *f = &W.fds[fd];
    struct sim_conn *k;

    switch (f->kind) {
    case FD_CONN:
        k = &W.conns[f->conn];
        return k->rst || k->wrote > k->rd || k->fin;
    case FD_PIPE_R:
        return W.pipes[f->pipe].bytes > 0;
    case FD_LISTEN:
        return W.nbacklog > 0;
    default:
        return false; /* FD_DIAL too */
    }
}

bool
sim_fd_calc_writable(int fd)
{
    struct sim_fd *f = &W.fds[fd];

    if (f->kind == FD_DIAL)
        return W.now >= W.conns[f->conn].dial_done;
    if (f->kind != FD_CONN)
        return f->kind == FD_PIPE_W;
    return W.conns[f->conn].rst || room(&W.conns[f->conn]) > 0;
}

bool
sim_fd_calc_error(int fd)
{
    struct sim_fd *f = &W.fds[fd];

    if (f->kind == FD_DIAL)
        return W.now >= W.conns[f->conn].dial_done &&
               W.conns[f->conn].dial_err != 0;
    return f->kind == FD_CONN && W.conns[f->conn].rst;
}

/* Every change to what the three above read calls this for the
 * descriptor concerned (a call too many costs nothing, one too few
 * changes the worlds: --digest shows it, and a build with SIM_VERIFY
 * checks every read of W.rdy against the truth).  A connect under way
 * depends on the time: its readiness is always computed. */
void
sim_fd_sync(int fd)
{
    if (fd < 0 || fd >= SIM_MAXFD)
        return;
    if (W.fds[fd].kind == FD_FREE) {
        sim_rdy_set(fd, SIM_RDY_FREE);
        return;
    }
    if (W.fds[fd].kind == FD_DIAL) {
        sim_rdy_set(fd, SIM_RDY_CALC);
        return;
    }
    sim_rdy_set(fd, (uint8_t)((sim_fd_calc_readable(fd) ? SIM_RDY_IN : 0) |
                              (sim_fd_calc_writable(fd) ? SIM_RDY_OUT : 0) |
                              (sim_fd_calc_error(fd) ? SIM_RDY_ERR : 0)));
}

#ifdef SIM_VERIFY
void
sim_fd_verify(int fd, uint8_t b)
{
    if (!(b & SIM_RDY_CALC) &&
        (!!(b & SIM_RDY_FREE) != (W.fds[fd].kind == FD_FREE) ||
         !!(b & SIM_RDY_IN) != sim_fd_calc_readable(fd) ||
         !!(b & SIM_RDY_OUT) != sim_fd_calc_writable(fd) ||
         !!(b & SIM_RDY_ERR) != sim_fd_calc_error(fd))) {
        fprintf(stderr, "tsl-sim: seed %llu step %llu: descriptor %d's "
                "kept readiness %#x is stale\n",
                (unsigned long long)W.o.seed, (unsigned long long)W.step, fd,
                b);
        abort();
    }
}
#endif

/* Is fd in the epoll set of a task other than `self`? */
static int
watched_elsewhere(int fd, int self)
{
    int t, i;

    for (t = 0; t < W.ntasks; t++) {
        struct sim_task *tk = &W.tasks[t];
        if (t == self || !tk->alive)
            continue;
        if (tk->epfd >= 0 && W.fds[tk->epfd].kind == FD_EPOLL) {
            struct sim_epoll *ep = W.fds[tk->epfd].ep;
            for (i = 0; i < ep->n; i++)
                if (ep->regs[i].fd == fd)
                    return t;
        }
    }
    return -1;
}

/* The calling task watches fd (its epoll set, or its last poll set). */
static bool
watched_by_me(int fd)
{
    struct sim_task *tk;
    int i;

    if (W.cur < 0)
        return false;
    tk = &W.tasks[W.cur];
    if (tk->epfd >= 0) {
        struct sim_epoll *ep = W.fds[tk->epfd].ep;
        for (i = 0; i < ep->n; i++)
            if (ep->regs[i].fd == fd)
                return true;
        return false;
    }
    if (tk->sel)
        return fd < tk->sspan &&
               (FD_ISSET(fd, &tk->srd) || FD_ISSET(fd, &tk->swr));
    for (i = 0; i < tk->npf; i++)
        if (tk->pf[i].fd == fd)
            return true;
    return false;
}

/* ---- sockets ---- */


/* Does rx serve c (c in its array)?  Read between steps: one thread. */
static bool
rx_serves(const struct tsl_receiver *rx, const struct tsl_client *c)
{
    return rx != NULL && c->slot < rx->n && rx->clients[c->slot] == c;
}

static ssize_t
s_recv(int fd, void *buf, size_t n, int flags)
{
    struct sim_fd *f = fd_get(fd, "recv");
    struct sim_conn *k;
    size_t avail;
    int other;

    if (f == NULL)
        return -1;
    if (f->kind != FD_CONN) {
        sim_fail("recv on descriptor %d, which is not a connection", fd);
        errno = ENOTSOCK;
        return -1;
    }
    k = &W.conns[f->conn];
    /* (select's sets are those of its last wait and hold only what it
     * waits for: a client it adopted since, or one the keepalive expiry
     * peeks at, is not in them; it must at least serve the client.) */
    if (!watched_by_me(fd) &&
        !(W.cur >= 0 && W.tasks[W.cur].sel && k->c != NULL &&
          rx_serves(W.tasks[W.cur].rx, k->c)))
        sim_fail("task %d reads client socket %d (peer %d) without watching "
                 "it", W.cur, fd, k->idx);
    other = watched_elsewhere(fd, W.cur);
    if (other >= 0)
        sim_fail("socket %d (peer %d) is watched by task %d while task %d "
                 "reads it", fd, k->idx, other, W.cur);
    sim_preempt("recv");
    if (sim_chance(1, W.p_eintr)) {
        errno = EINTR;
        return -1;
    }
    if (k->rst) {
        errno = ECONNRESET;
        return -1;
    }
    avail = k->wrote - k->rd;
    if (avail == 0) {
        if (k->fin)
            return 0;
        errno = EAGAIN;
        return -1;
    }
    if (flags & MSG_PEEK) {
        if (avail > n)
            avail = n;
        memcpy(buf, k->out + k->rd, avail);
        TRACE("peer %d: the server peeks (%zu bytes wait)", k->idx,
              k->wrote - k->rd);
        return (ssize_t)avail;
    }
    if (sim_chance(1, W.p_eagain)) {
        errno = EAGAIN; /* readiness that vanished */
        return -1;
    }
    if (avail > n)
        avail = n;
    if (avail > 1 && sim_chance(1, W.p_split))
        avail = sim_range(1, (uint32_t)avail - 1);
    memcpy(buf, k->out + k->rd, avail);
    k->rd += avail;
    sim_fd_sync(fd);
    W.progress++;
    k->last_read = W.now;
    sim_hash(avail * 131 + (uint64_t)fd);
    TRACE("peer %d -> server: %zu bytes read (%zu of %zu)", k->idx, avail,
          k->rd, k->out_len);
    return (ssize_t)avail;
}

static ssize_t
s_readv(int fd, const struct iovec *iov, int n)
{
    ssize_t got = 0, r;
    int i;

    for (i = 0; i < n; i++) {
        if (iov[i].iov_len == 0)
            continue;
        r = s_recv(fd, iov[i].iov_base, iov[i].iov_len, 0);
        if (r < 0)
            return got > 0 ? got : r;
        got += r;
        if ((size_t)r < iov[i].iov_len)
            break;
    }
    return got;
}

static ssize_t
s_send(int fd, const void *buf, size_t n, int flags)
{
    struct sim_fd *f = fd_get(fd, "send");
    struct sim_conn *k;
    size_t can;

    (void)flags;
    if (f == NULL)
        return -1;
    if (f->kind != FD_CONN) {
        sim_fail("send on descriptor %d, which is not a connection", fd);
        errno = ENOTSOCK;
        return -1;
    }
    k = &W.conns[f->conn];
    if (sim_chance(1, W.p_eintr)) {
        errno = EINTR;
        return -1;
    }
    if (k->rst) {
        errno = EPIPE;
        return -1;
    }
    can = room(k);
    if (can == 0) {
        k->refused_bytes = true;
        errno = EAGAIN;
        return -1;
    }
    if (can > n)
        can = n;
    if (can > 1 && sim_chance(1, W.p_short)) {
        can = sim_range(1, (uint32_t)can - 1);
        k->refused_bytes = true;
    }
    if (k->sent + can > k->echo_len ||
        memcmp(k->echo + k->sent, buf, can) != 0) {
        size_t i = 0;
        while (i < can && k->sent + i < k->echo_len &&
               k->echo[k->sent + i] == ((const uint8_t *)buf)[i])
            i++;
        sim_fail("peer %d: byte %zu of the server's output is wrong "
                 "(lost, duplicated or reordered: %zu of %zu expected bytes)",
                 k->idx, k->sent + i, k->sent, k->echo_len);
    }
    k->sent += can;
    sim_fd_sync(fd);
    sim_conn_touch(k);
    W.progress++;
    sim_hash(can * 17 + 3);
    TRACE("server -> peer %d: %zu bytes sent (%zu on the wire)", k->idx, can,
          k->sent);
    if (k->fin_lost && !k->rst) {
        k->rst = true;
        sim_fd_sync(fd);
        sim_conn_touch(k);
        TRACE("peer %d: its host answers them with a reset", k->idx);
    }
    return (ssize_t)can;
}

static void app_sees_close(struct sim_conn *k);

static int
s_close(int fd)
{
    struct sim_fd *f = fd_get(fd, "close");
    struct sim_conn *k;
    int i, t;

    if (f == NULL)
        return -1;
    /* A connector closing a socket it did not make a client of: the
     * attempt failed. */
    if (t_self >= 0 && (f->kind == FD_SOCK || f->kind == FD_DIAL))
        sim_connector_failed(t_self);
    switch (f->kind) {
    case FD_DIAL:
        k = &W.conns[f->conn];
        k->st = C_REFUSED;
        k->fd = -1;
        k->srv_closed = true;
        sim_conn_touch(k);
        TRACE("connector closes socket %d (peer %d, not connected)", fd,
              k->idx);
        break;
    case FD_CONN:
        k = &W.conns[f->conn];
        if (t_self >= 0 && !k->connected)
            k->attach_failed = true;
        sim_preempt("close");
        app_sees_close(k);
        k->srv_closed = true;
        k->fd = -1;
        sim_conn_touch(k);
        TRACE("server closes socket %d (peer %d)", fd, k->idx);
        break;
    case FD_PIPE_R:
        W.pipes[f->pipe].rclosed = true;
        break;
    case FD_PIPE_W:
        W.pipes[f->pipe].wclosed = true;
        break;
    case FD_LISTEN:
        /* Connections still in the backlog are refused. */
        for (i = 0; i < W.nbacklog; i++) {
            W.conns[W.backlog[i]].st = C_REFUSED;
            sim_conn_touch(&W.conns[W.backlog[i]]);
        }
        W.nbacklog = 0;
        W.lfd = -1;
        break;
    case FD_EPOLL:
        free(f->ep);
        sim_tasks_of_epoll_changed(fd);
        for (t = 0; t < W.ntasks; t++)
            if (W.tasks[t].epfd == fd)
                W.tasks[t].epfd = -2; /* closed */
        break;
    default:
        break;
    }
    /* A closed descriptor leaves every epoll set. */
    for (i = 0; i < SIM_MAXFD; i++) {
        struct sim_epoll *ep;
        int j;
        if (W.fds[i].kind != FD_EPOLL || i == fd)
            continue;
        ep = W.fds[i].ep;
        for (j = 0; j < ep->n; j++)
            if (ep->regs[j].fd == fd)
                ep->regs[j--] = ep->regs[--ep->n];
    }
    memset(f, 0, sizeof(*f));
    sim_rdy_set(fd, SIM_RDY_FREE);
    W.progress++;
    return 0;
}

/* The client's socket closes only once it has left the database: from
 * then on, the peer that sees the close no longer counts against
 * max-clients (tsl_server.c's finish). */
static void
app_sees_close(struct sim_conn *k)
{
    tsl_client_t *c;

    if (W.srv == NULL || !k->connected)
        return;
    c = tsl_server_find_client(W.srv, k->id);
    if (c != NULL) {
        sim_fail("peer %d: its socket closes while client %llu is still in "
                 "the database", k->idx, (unsigned long long)k->id);
        tsl_client_unref(c);
    }
}

/* ---- the listening socket ---- */

static int
s_socket(int domain, int type, int proto)
{
    (void)domain;
    (void)type;
    int fd;

    (void)proto;
    fd = sim_fd_alloc(FD_SOCK);
    if (fd < 0) {
        /* Out of descriptors: for a connector, an attempt that failed
         * (it backs off as after a refusal; the checks count it so). */
        if (t_self >= 0) {
            TRACE("connector %d: socket() fails (EMFILE)", t_self);
            sim_connector_dials(t_self);
            sim_connector_failed(t_self);
        }
        return -1;
    }
    sim_fd_sync(fd);
    return fd;
}

static int
s_ok(void)
{
    return 0;
}

static int
s_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    (void)sa;
    (void)len;
    return fd_get(fd, "bind") != NULL ? s_ok() : -1;
}

static int
s_listen(int fd, int backlog)
{
    struct sim_fd *f = fd_get(fd, "listen");

    (void)backlog;
    if (f == NULL)
        return -1;
    f->kind = FD_LISTEN;
    W.lfd = fd;
    sim_fd_sync(fd);
    return 0;
}

static int
s_setsockopt(int fd, int lvl, int name, const void *v, socklen_t l)
{
    (void)lvl;
    (void)name;
    (void)v;
    (void)l;
    return fd_get(fd, "setsockopt") != NULL ? 0 : -1;
}

/* A connect has ended: SO_ERROR says how; connected, the socket becomes
 * the peer's connection (as if accepted: C_ACCEPTED). */
static int
dial_result(int fd, void *v, socklen_t *l)
{
    struct sim_conn *k = &W.conns[W.fds[fd].conn];

    if (v == NULL || l == NULL || *l < sizeof(int)) {
        errno = EINVAL;
        return -1;
    }
    *(int *)v = k->dial_err;
    if (k->dial_err != 0) {
        k->st = C_REFUSED;
        sim_conn_touch(k);
        TRACE("connector: socket %d, peer %d refused (%s)", fd, k->idx,
              strerror(k->dial_err));
        return 0;
    }
    W.fds[fd].kind = FD_CONN;
    sim_fd_sync(fd);
    k->st = C_ACCEPTED;
    k->next_at = W.now;
    sim_conn_touch(k);
    W.progress++;
    TRACE("connector: socket %d connected to peer %d (%s)", fd, k->idx,
          k->kind < PEER_KINDS ? "a listening peer" : "?");
    return 0;
}

/* SO_ERROR is ECONNRESET on a connection the peer reset, as the kernel
 * has it until the error is read; 0 otherwise and for other options. */
static int
s_getsockopt(int fd, int lvl, int name, void *v, socklen_t *l)
{
    struct sim_fd *f = fd_get(fd, "getsockopt");

    if (f == NULL)
        return -1;
    if (f->kind == FD_DIAL && lvl == SOL_SOCKET && name == SO_ERROR &&
        W.now >= W.conns[f->conn].dial_done)
        return dial_result(fd, v, l);
    if (v != NULL && l != NULL && *l >= sizeof(int))
        *(int *)v = lvl == SOL_SOCKET && name == SO_ERROR &&
                            f->kind == FD_CONN && W.conns[f->conn].rst
                        ? ECONNRESET
                        : 0;
    return 0;
}

static int
s_getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
    struct sockaddr_in *in = (struct sockaddr_in *)sa;

    if (fd_get(fd, "getsockname") == NULL)
        return -1;
    if (*len >= sizeof(*in)) {
        memset(in, 0, sizeof(*in));
        in->sin_family = AF_INET;
        in->sin_port = htons(7000);
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    return 0;
}

static int
s_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    struct sim_fd *f = fd_get(fd, "accept4");
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    struct sim_conn *k;
    int nfd, i;

    (void)flags;
    if (f == NULL)
        return -1;
    if (f->kind != FD_LISTEN) {
        errno = EINVAL;
        return -1;
    }
    if (W.nbacklog == 0) {
        errno = EAGAIN;
        return -1;
    }
    if (sim_chance(1, W.p_eintr)) {
        errno = EINTR;
        return -1;
    }
    if (sim_chance(1, W.p_emfile)) {
        errno = EMFILE;
        return -1;
    }
    if (sim_chance(1, W.p_abort)) {
        /* The first connection died in the backlog. */
        k = &W.conns[W.backlog[0]];
        k->st = C_REFUSED;
        sim_conn_touch(k);
        memmove(W.backlog, W.backlog + 1,
                (size_t)(--W.nbacklog) * sizeof(W.backlog[0]));
        sim_fd_sync(fd);
        TRACE("peer %d: aborted in the backlog", k->idx);
        errno = ECONNABORTED;
        return -1;
    }
    nfd = sim_fd_alloc(FD_CONN);
    if (nfd < 0)
        return -1;
    k = &W.conns[W.backlog[0]];
    for (i = 1; i < W.nbacklog; i++)
        W.backlog[i - 1] = W.backlog[i];
    W.nbacklog--;
    sim_fd_sync(fd);
    W.fds[nfd].conn = k->idx;
    sim_fd_sync(nfd);
    k->fd = nfd;
    k->st = C_ACCEPTED;
    sim_conn_touch(k);
    W.progress++;
    if (in != NULL && *len >= sizeof(*in)) {
        memset(in, 0, sizeof(*in));
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in->sin_port = htons((uint16_t)(SIM_PORT0 + k->idx));
        *len = sizeof(*in);
    }
    sim_hash((uint64_t)nfd * 7 + (uint64_t)k->idx);
    TRACE("accept: peer %d on socket %d", k->idx, nfd);
    return nfd;
}

/* A connector dials the listening peer (only connectors connect): one
 * attempt in eight is refused at once, one never completes (the
 * connector's own timeout ends it), one is refused once under way; the
 * others connect after 1-30 ms, to a new peer of a script drawn as any
 * other's, with up to a quarter of the messages.  The listening peer
 * takes W.dial_left connections in all, and then refuses every one. */
int sim_conn_new(int nmsg);

static int
s_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct sim_fd *f = fd_get(fd, "connect");
    struct sim_conn *k;
    uint32_t r;
    int j;

    (void)sa;
    (void)len;
    if (f == NULL)
        return -1;
    if (t_self < 0) {
        sim_fail("connect on descriptor %d, not from a connector", fd);
        errno = ECONNREFUSED;
        return -1;
    }
    sim_connector_dials(t_self);
    r = sim_below(8);
    if (r == 0 || W.dial_left <= 0 || W.nconns == SIM_MAXCONN) {
        TRACE("connector %d: connect refused at once", t_self);
        errno = ECONNREFUSED;
        return -1;
    }
    if (r > 2)
        W.dial_left--;
    j = sim_conn_new((int)sim_range(1, (uint32_t)W.o.msgs / 4 + 1));
    k = &W.conns[j];
    k->st = C_DIALLING;
    k->ctask = t_self;
    k->fd = fd;
    k->dial_done = r == 1 ? SIM_FOREVER : W.now + sim_range(1, 30);
    k->dial_err = r == 2 ? ECONNREFUSED : 0;
    f->kind = FD_DIAL;
    f->conn = j;
    sim_fd_sync(fd);
    sim_conn_touch(k);
    TRACE("connector %d: connect under way on socket %d (peer %d, %s)",
          t_self, fd, j,
          r == 1 ? "never answers" : r == 2 ? "to be refused" : "to succeed");
    errno = EINPROGRESS;
    return -1;
}

static int
s_open(const char *path, int flags)
{
    (void)path;
    int fd;

    (void)flags;
    fd = sim_fd_alloc(FD_NULL);
    sim_fd_sync(fd);
    return fd;
}

/* ---- pipes ---- */

static int
s_pipe2(int fds[2], int flags)
{
    int r, w;

    (void)flags;
    if (W.npipes >= (int)(sizeof(W.pipes) / sizeof(W.pipes[0]))) {
        errno = EMFILE;
        return -1;
    }
    r = sim_fd_alloc(FD_PIPE_R);
    if (r < 0)
        return -1;
    w = sim_fd_alloc(FD_PIPE_W);
    if (w < 0) {
        memset(&W.fds[r], 0, sizeof(W.fds[r]));
        sim_rdy_set(r, SIM_RDY_FREE);
        return -1;
    }
    memset(&W.pipes[W.npipes], 0, sizeof(W.pipes[0]));
    W.pipes[W.npipes].rfd = r;
    W.fds[r].pipe = W.fds[w].pipe = W.npipes++;
    sim_fd_sync(r);
    sim_fd_sync(w);
    fds[0] = r;
    fds[1] = w;
    return 0;
}

static ssize_t
s_read(int fd, void *buf, size_t n)
{
    struct sim_fd *f = fd_get(fd, "read");
    struct sim_pipe *p;
    size_t k;

    if (f == NULL)
        return -1;
    if (f->kind != FD_PIPE_R) {
        sim_fail("read on descriptor %d, which is no pipe's read end", fd);
        errno = EINVAL;
        return -1;
    }
    sim_preempt("the wakeup pipe's read");
    p = &W.pipes[f->pipe];
    if (p->bytes == 0) {
        errno = EAGAIN;
        return -1;
    }
    k = (size_t)p->bytes < n ? (size_t)p->bytes : n;
    memset(buf, 1, k);
    p->bytes -= (int)k;
    sim_fd_sync(fd);
    W.progress++;
    return (ssize_t)k;
}

static ssize_t
s_write(int fd, const void *buf, size_t n)
{
    struct sim_fd *f = fd_get(fd, "write");
    struct sim_pipe *p;

    (void)buf;
    if (f == NULL)
        return -1;
    if (f->kind != FD_PIPE_W) {
        sim_fail("write on descriptor %d, which is no pipe's write end", fd);
        errno = EINVAL;
        return -1;
    }
    p = &W.pipes[f->pipe];
    if (p->bytes >= 65536) {
        errno = EAGAIN;
        return -1;
    }
    p->bytes += (int)n;
    if (!p->rclosed)
        sim_fd_sync(p->rfd);
    return (ssize_t)n;
}

/* ---- epoll and poll ---- */

static int
s_epoll_create1(int flags)
{
    int fd = sim_fd_alloc(FD_EPOLL);

    (void)flags;
    if (fd < 0)
        return -1;
    W.fds[fd].ep = calloc(1, sizeof(struct sim_epoll));
    if (W.fds[fd].ep == NULL) {
        memset(&W.fds[fd], 0, sizeof(W.fds[fd]));
        sim_rdy_set(fd, SIM_RDY_FREE);
        errno = ENOMEM;
        return -1;
    }
    sim_fd_sync(fd);
    return fd;
}

static int
s_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    struct sim_fd *f = fd_get(epfd, "epoll_ctl");
    struct sim_epoll *ep;
    int i, owner;

    if (f == NULL)
        return -1;
    if (fd_get(fd, "epoll_ctl's target") == NULL)
        return -1;
    ep = f->ep;
    for (i = 0; i < ep->n; i++)
        if (ep->regs[i].fd == fd)
            break;
    sim_tasks_of_epoll_changed(epfd);
    switch (op) {
    case EPOLL_CTL_ADD:
        if (i < ep->n) {
            errno = EEXIST;
            return -1;
        }
        if (ep->n == SIM_MAXREG) {
            errno = ENOSPC;
            return -1;
        }
        if (W.fds[fd].kind == FD_CONN) {
            int t;
            for (t = 0; t < W.ntasks; t++)
                if (W.tasks[t].alive && W.tasks[t].epfd == epfd)
                    break;
            owner = watched_elsewhere(fd, t);
            if (owner >= 0)
                sim_fail("socket %d (peer %d) joins a second receiver's set "
                         "(task %d watches it)", fd,
                         W.conns[W.fds[fd].conn].idx, owner);
        }
        ep->regs[ep->n].fd = fd;
        ep->regs[ep->n].events = ev->events;
        ep->regs[ep->n++].data = ev->data.u64;
        return 0;
    case EPOLL_CTL_MOD:
        if (i == ep->n) {
            errno = ENOENT;
            return -1;
        }
        ep->regs[i].events = ev->events;
        ep->regs[i].data = ev->data.u64;
        return 0;
    case EPOLL_CTL_DEL:
        if (i == ep->n) {
            errno = ENOENT;
            return -1;
        }
        ep->regs[i] = ep->regs[--ep->n];
        return 0;
    default:
        errno = EINVAL;
        return -1;
    }
}

static void
task_sleeps(int ms)
{
    struct sim_task *tk;

    if (W.cur < 0 || ms == 0)
        return;
    tk = &W.tasks[W.cur];
    tk->sleeping = true;
    tk->wake_at = ms < 0 ? SIM_FOREVER : W.now + ms;
    W.task_dirty |= 1ull << W.cur;
}

static int
s_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
    struct sim_fd *f = fd_get(epfd, "epoll_wait");
    struct sim_epoll *ep;
    int i, n = 0, start;

    if (f == NULL)
        return -1;
    sim_preempt("epoll_wait");
    if (sim_chance(1, W.p_eintr)) {
        errno = EINTR;
        return -1;
    }
    ep = f->ep;
    start = ep->n > 0 ? (int)sim_below((uint32_t)ep->n) : 0;
    for (i = 0; i < ep->n && n < max; i++) {
        struct sim_reg *r = &ep->regs[(start + i) % ep->n];
        uint8_t st = sim_fd_state(r->fd);
        uint32_t e = 0;
        if ((r->events & EPOLLIN) && (st & SIM_RDY_IN))
            e |= EPOLLIN;
        if ((r->events & EPOLLOUT) && (st & SIM_RDY_OUT))
            e |= EPOLLOUT;
        if (st & SIM_RDY_ERR)
            e |= EPOLLHUP | EPOLLERR;
        if (e != 0) {
            evs[n].events = e;
            evs[n++].data.u64 = r->data;
            TRACE("epoll_wait: descriptor %d ready (%#x)", r->fd, e);
        }
    }
    if (n == 0)
        task_sleeps(timeout);
    return n;
}

static int
poll_scan(struct pollfd *pf, nfds_t nfds)
{
    nfds_t i;
    int n = 0;

    for (i = 0; i < nfds; i++) {
        int fd = pf[i].fd;
        short e = 0;
        if (fd < 0 || fd >= SIM_MAXFD || W.fds[fd].kind == FD_FREE) {
            e = POLLNVAL;
        } else {
            uint8_t st = sim_fd_state(fd);
            if ((pf[i].events & POLLIN) && (st & SIM_RDY_IN))
                e |= POLLIN;
            if ((pf[i].events & POLLOUT) && (st & SIM_RDY_OUT))
                e |= POLLOUT;
            if (st & SIM_RDY_ERR)
                e |= POLLHUP | POLLERR;
        }
        pf[i].revents = e;
        n += e != 0;
    }
    return n;
}

/* poll() on a connector's thread: what is ready now, or it switches
 * back to the main thread until something is or the timeout has passed
 * in virtual time. */
static int
ct_poll(struct pollfd *pf, nfds_t nfds, int timeout)
{
    struct sim_ctask *ct = &W.ctasks[t_self];
    int64_t until = timeout < 0 ? SIM_FOREVER : W.now + timeout;
    nfds_t i;
    int n;

    if (sim_chance(1, W.p_eintr)) {
        TRACE("connector %d: poll interrupted (EINTR)", t_self);
        errno = EINTR;
        return -1;
    }
    for (;;) {
        n = poll_scan(pf, nfds);
        if (n > 0 || W.now >= until)
            return n;
        ct->sleeping = true;
        ct->wake_at = until;
        ct->npf = 0;
        for (i = 0; i < nfds && i < 2; i++)
            ct->pf[ct->npf++] = pf[i];
        ct_yield();
    }
}

static int
s_poll(struct pollfd *pf, nfds_t nfds, int timeout)
{
    struct sim_task *tk = W.cur >= 0 ? &W.tasks[W.cur] : NULL;
    nfds_t i;
    int n = 0;

    if (t_self >= 0)
        return ct_poll(pf, nfds, timeout);
    sim_preempt("poll");
    if (tk != NULL) {
        tk->npf = 0;
        for (i = 0; i < nfds && i < 8; i++)
            tk->pf[tk->npf++] = pf[i];
    }
    if (sim_chance(1, W.p_eintr)) {
        errno = EINTR;
        return -1;
    }
    n = poll_scan(pf, nfds);
    if (n == 0)
        task_sleeps(timeout);
    return n;
}

/* select() as the select poller uses it (read and write sets, no
 * exception set): level-triggered like poll, an error or reset shown as
 * readable and writable; a descriptor in a set that is not open is the
 * caller's bug (the kernel's EBADF). */
static int
s_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    struct sim_task *tk = W.cur >= 0 ? &W.tasks[W.cur] : NULL;
    fd_set rdy, wry;
    int word, cnt = 0;

    (void)e;
    sim_preempt("select");
    if (tk != NULL) {
        /* (Read below sspan only: the words of the sets it spans.) */
        tk->sel = true;
        tk->sspan = n < SIM_MAXFD ? n : SIM_MAXFD;
        for (word = 0; word * 64 < tk->sspan; word++) {
            tk->srd.fds_bits[word] = r != NULL ? r->fds_bits[word] : 0;
            tk->swr.fds_bits[word] = w != NULL ? w->fds_bits[word] : 0;
        }
    }
    if (sim_chance(1, W.p_eintr)) {
        errno = EINTR;
        return -1;
    }
    FD_ZERO(&rdy);
    FD_ZERO(&wry);
    /* The descriptors in either set, in order, a word of the sets at a
     * time (most of the span is in neither). */
    for (word = 0; word * 64 < n && word * 64 < FD_SETSIZE; word++) {
        uint64_t m = 0;
        if (r != NULL)
            m |= (uint64_t)r->fds_bits[word];
        if (w != NULL)
            m |= (uint64_t)w->fds_bits[word];
        if (n - word * 64 < 64)
            m &= (1ull << (n - word * 64)) - 1;
        for (; m != 0; m &= m - 1) {
            int fd = word * 64 + __builtin_ctzll(m);
            bool in = r != NULL && FD_ISSET(fd, r);
            bool out = w != NULL && FD_ISSET(fd, w);
            bool err;
            uint8_t st;
            if (fd >= SIM_MAXFD || W.fds[fd].kind == FD_FREE) {
                sim_fail("select on descriptor %d, which is not open", fd);
                errno = EBADF;
                return -1;
            }
            st = sim_fd_state(fd);
            err = st & SIM_RDY_ERR;
            if (in && ((st & SIM_RDY_IN) || err)) {
                FD_SET(fd, &rdy);
                cnt++;
            }
            if (out && ((st & SIM_RDY_OUT) || err)) {
                FD_SET(fd, &wry);
                cnt++;
            }
        }
    }
    if (r != NULL)
        *r = rdy;
    if (w != NULL)
        *w = wry;
    if (cnt == 0)
        task_sleeps(t == NULL ? -1
                              : (int)(t->tv_sec * 1000 + t->tv_usec / 1000));
    return cnt;
}

/* ---- memory, threads, the clock ---- */

/* Allocations fail as the seed says (only while the server runs and
 * before the stop: sim_world.c sets p_alloc). */
static bool
alloc_fails(const char *what, size_t n)
{
    if (!sim_chance(1, W.p_alloc))
        return false;
    W.allocs_failed++;
    TRACE("%s of %zu bytes fails (ENOMEM)", what, n);
    errno = ENOMEM;
    return true;
}

static void *
s_malloc(size_t n)
{
    void *p = alloc_fails("malloc", n) ? NULL : malloc(n);

    W.live_allocs += p != NULL;
    return p;
}

static void *
s_calloc(size_t n, size_t size)
{
    void *p = alloc_fails("calloc", n * size) ? NULL : calloc(n, size);

    W.live_allocs += p != NULL;
    return p;
}

static void *
s_realloc(void *p, size_t n)
{
    void *q = alloc_fails("realloc", n) ? NULL : realloc(p, n);

    if (p == NULL && q != NULL)
        W.live_allocs++;
    return q;
}

static void
s_free(void *p)
{
    if (p != NULL)
        W.live_allocs--;
    free(p);
}

/* A receiver's thread: the simulator plays it as a task (sim_world.c). */
int sim_task_add(struct tsl_receiver *rx);

static int
s_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
    if (sim_chance(1, W.p_thread_fail))
        return EAGAIN;
    if (W.in_connect)
        return ct_add(t, fn, arg); /* a connector's */
    if (W.srv != NULL && arg == (void *)&W.srv->acc) {
        /* The select backend's acceptor: a thread that blocks in poll()
         * like a connector's, a coroutine the same way. */
        int r = ct_add(t, fn, arg);
        if (r == 0)
            W.ctasks[W.nctasks - 1].acceptor = true;
        return r;
    }
    if (sim_task_add(arg) < 0)
        return EAGAIN;
    *t = pthread_self(); /* never joined: the task ends first */
    return 0;
}

static int
s_clock_gettime(clockid_t id, struct timespec *ts)
{
    (void)id;
    ts->tv_sec = W.now / 1000;
    ts->tv_nsec = (W.now % 1000) * 1000000;
    return 0;
}

const struct tsl_sys_ops sim_sys = {
    .socket = s_socket,
    .bind = s_bind,
    .listen = s_listen,
    .setsockopt = s_setsockopt,
    .getsockname = s_getsockname,
    .accept4 = s_accept4,
    .connect = s_connect,
    .getsockopt = s_getsockopt,
    .readv = s_readv,
    .recv = s_recv,
    .send = s_send,
    .read = s_read,
    .write = s_write,
    .close = s_close,
    .poll = s_poll,
    .select = s_select,
    .pipe2 = s_pipe2,
    .epoll_create1 = s_epoll_create1,
    .epoll_ctl = s_epoll_ctl,
    .epoll_wait = s_epoll_wait,
    .open = s_open,
    .malloc = s_malloc,
    .calloc = s_calloc,
    .realloc = s_realloc,
    .free = s_free,
    .thread_create = s_thread_create,
    .clock_gettime = s_clock_gettime,
};

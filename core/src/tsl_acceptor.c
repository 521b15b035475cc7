/*
 * tsl_acceptor.c - the connection acceptor (the course's CAS).
 *
 * Owns the listening socket and a spare descriptor.  It accepts in
 * batches and reports each connection, as (descriptor, peer), to the
 * controller through the function it installed (on_accept); the
 * controller admits it or not (flags, black-list, max clients,
 * descriptor range), builds the client, runs the connected callback and
 * hands it to its serving thread.  The acceptor knows neither clients nor
 * receivers.
 *
 * Where it runs depends on the server's backend:
 * - select (the course's design): a thread of its own that sleeps in
 *   poll() on the listening socket and its wakeup pipe.
 * - epoll: as the hook (struct tsl_hook) of the shared receiver's loop
 *   (the host).  The listening socket is one more descriptor in the
 *   host's poller, registered with the hook as its pointer; the host calls
 *   the hook's ready() when it is readable and tend() once per turn.  A new connection is then
 *   accepted, adopted and read by one thread, with no hand-off between
 *   threads: the bench measured that hand-off (about three context
 *   switches per connection) as the cost that kept the connection rate
 *   at 0.85 of a minimal epoll server.
 * The acceptor's own fields belong to whichever thread runs it; stop
 * requests come from the controller through `stop` (and, hosted, the
 * `off` handshake under `lock`).
 *
 * Descriptor exhaustion: on EMFILE/ENFILE the connection stays in the
 * kernel backlog and the wait would report it again at once - the course's
 * 100% CPU loop.  We give up the spare descriptor, accept the connection,
 * close it (a counted fd-exhausted rejection: the peer sees a clean close
 * instead of hanging) and take the spare back.  If even that fails the
 * acceptor stops watching the listening socket for PAUSE_MS.
 *
 * Stopping: the controller sets `stop` and wakes the thread that runs the
 * acceptor; nothing is ever cancelled.  tsl__acceptor_stop() returns only
 * when no accept can happen any more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "tsl_internal.h"
#include "tsl_sys.h"

#define ACCEPT_BATCH 64
#define PAUSE_MS 100

enum { ACC_OK, ACC_PAUSE };

static int
acc_accept(struct tsl_acceptor *a, union tsl__sa *peer)
{
    socklen_t len = sizeof(*peer);

    memset(peer, 0, sizeof(*peer));
    return tsl__sys->accept4(a->lfd, (struct sockaddr *)peer, &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* Out of descriptors: shed one pending connection with the spare. */
static int
acc_shed(struct tsl_acceptor *a)
{
    union tsl__sa peer;
    int fd;

    if (a->spare_fd < 0)
        a->spare_fd = tsl__sys->open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (a->spare_fd < 0)
        return ACC_PAUSE;
    tsl__sys->close(a->spare_fd);
    a->spare_fd = -1;
    fd = acc_accept(a, &peer);
    if (fd >= 0) {
        tsl__sys->close(fd);
        a->on_reject(a->srv, TSL_REJECT_FD_EXHAUSTED, &peer);
    }
    a->spare_fd = tsl__sys->open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0 && a->spare_fd >= 0 ? ACC_OK : ACC_PAUSE;
}

static int
acc_batch(struct tsl_acceptor *a)
{
    union tsl__sa peer;
    int i, fd;

    for (i = 0; i < ACCEPT_BATCH && !atomic_load(&a->stop); i++) {
        fd = acc_accept(a, &peer);
        if (fd >= 0) {
            a->on_accept(a->srv, fd, &peer);
            continue;
        }
        switch (errno) {
        case EINTR:
            continue;
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return ACC_OK;
        case EMFILE:
        case ENFILE:
            return acc_shed(a);
        case ECONNABORTED:
        case EPROTO:
        case EPERM:
            /* The connection died in the backlog; the next one may be fine. */
            TSL__CTR_ADD(a->srv->ctr.accept_errors, 1);
            continue;
        default:
            /* ENOBUFS, ENOMEM and the unforeseen: back off. */
            TSL__CTR_ADD(a->srv->ctr.accept_errors, 1);
            return ACC_PAUSE;
        }
    }
    return ACC_OK;
}

static void *
acc_main(void *arg)
{
    struct tsl_acceptor *a = arg;
    struct pollfd pf[2];
    int64_t paused_until = 0, now;
    int timeout, nfds, r;

    tsl__tls_server = a->srv;
    tsl__thread_name("tsl-accept");
    /* The stop flag is read every turn, not only when the pipe fires: a
     * poll() that keeps failing must not keep the thread from ending. */
    while (!atomic_load(&a->stop)) {
        pf[0].fd = a->wk.rfd;
        pf[0].events = POLLIN;
        pf[1].fd = a->lfd;
        pf[1].events = POLLIN;
        pf[0].revents = pf[1].revents = 0;
        nfds = 2;
        timeout = -1;
        if (paused_until != 0) {
            now = tsl__now_ms();
            if (now < paused_until) {
                nfds = 1;
                timeout = (int)(paused_until - now);
            } else {
                paused_until = 0;
            }
        }
        r = tsl__sys->poll(pf, (nfds_t)nfds, timeout);
        if (r < 0 && errno != EINTR)
            paused_until = tsl__now_ms() + PAUSE_MS;
        if (r <= 0)
            continue;
        if (pf[0].revents)
            tsl__wakeup_drain(&a->wk);
        if (atomic_load(&a->stop))
            break;
        if (nfds == 2 && pf[1].revents && acc_batch(a) == ACC_PAUSE)
            paused_until = tsl__now_ms() + PAUSE_MS;
    }
    tsl__tls_server = NULL;
    return NULL;
}

/* ---- hosted on the shared receiver (epoll backend) ---- */

static void
acc_watch(struct tsl_acceptor *a, bool on)
{
    struct tsl_poller *p = a->hook.poller;

    if (on == a->watched)
        return;
    if (!on)
        p->ops->del(p, a->lfd, false);
    else if (p->ops->add(p, a->lfd, TSL_POLL_IN, a) < 0) {
        /* Cannot watch it now (ENOMEM, a fault): try again after a pause. */
        TSL__CTR_ADD(a->srv->ctr.accept_errors, 1);
        a->paused_until = tsl__now_ms() + PAUSE_MS;
        return;
    }
    a->watched = on;
}

/* Stops for good: no accept after this returns (host thread). */
static void
acc_switch_off(struct tsl_acceptor *a)
{
    acc_watch(a, false);
    a->paused_until = 0;
    pthread_mutex_lock(&a->lock);
    a->off = true;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

static int
acc_tend(struct tsl_hook *h, int64_t now)
{
    struct tsl_acceptor *a = (struct tsl_acceptor *)h;

    if (a->off)
        return -1;
    if (atomic_load(&a->stop)) {
        acc_switch_off(a);
        return -1;
    }
    if (!atomic_load(&a->enabled))
        return -1; /* not started yet */
    /* Unless paused, the listening socket is watched (the first turn
     * registers it). */
    if (a->paused_until != 0) {
        if (now < a->paused_until)
            return (int)(a->paused_until - now);
        a->paused_until = 0;
    }
    acc_watch(a, true);
    return a->paused_until != 0 ? PAUSE_MS : -1;
}

static void
acc_ready(struct tsl_hook *h)
{
    struct tsl_acceptor *a = (struct tsl_acceptor *)h;

    if (a->off || !a->watched || atomic_load(&a->stop))
        return;
    if (acc_batch(a) == ACC_PAUSE) {
        acc_watch(a, false);
        a->paused_until = tsl__now_ms() + PAUSE_MS;
    }
}

static void
acc_host_exit(struct tsl_hook *h)
{
    struct tsl_acceptor *a = (struct tsl_acceptor *)h;

    if (!a->off)
        acc_switch_off(a);
}

/* ---- life cycle (controller) ---- */

int
tsl__acceptor_init(struct tsl_acceptor *a, struct tsl_server *srv, int lfd,
                   bool hosted, tsl__accept_fn *on_accept,
                   tsl__reject_fn *on_reject)
{
    memset(a, 0, sizeof(*a));
    a->srv = srv;
    a->on_accept = on_accept;
    a->on_reject = on_reject;
    a->lfd = lfd;
    a->hosted = hosted;
    a->hook.ready = acc_ready;
    a->hook.tend = acc_tend;
    a->hook.exit = acc_host_exit;
    atomic_init(&a->stop, false);
    atomic_init(&a->enabled, false);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    a->spare_fd = tsl__sys->open("/dev/null", O_RDONLY | O_CLOEXEC);
    return 0;
}

int
tsl__acceptor_start(struct tsl_acceptor *a)
{
    int r;

    if (a->hosted) {
        /* The host registers the listening socket on its next turn. */
        atomic_store(&a->enabled, true);
        a->hook.wake(a->hook.loop);
        return 0;
    }
    r = tsl__wakeup_open(&a->wk);
    if (r < 0)
        return r;
    r = -tsl__sys->thread_create(&a->thread, acc_main, a);
    if (r < 0) {
        tsl__wakeup_close(&a->wk);
        return r;
    }
    a->running = true;
    return 0;
}

void
tsl__acceptor_stop(struct tsl_acceptor *a)
{
    if (a->lfd < 0)
        return;
    atomic_store(&a->stop, true);
    if (a->running) {
        tsl__wakeup_signal(&a->wk);
        pthread_join(a->thread, NULL);
        a->running = false;
        tsl__wakeup_close(&a->wk);
    } else if (a->hosted && a->hook.running) {
        /* Wait until the host has taken the socket out of its set. */
        a->hook.wake(a->hook.loop);
        pthread_mutex_lock(&a->lock);
        while (!a->off)
            pthread_cond_wait(&a->cond, &a->lock);
        pthread_mutex_unlock(&a->lock);
    }
    tsl__sys->close(a->lfd);
    if (a->spare_fd >= 0)
        tsl__sys->close(a->spare_fd);
    a->lfd = a->spare_fd = -1;
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->lock);
}

/*
 * tsl_connector.c - client mode: the server connects out (the course's
 * "TCP server in client mode").
 *
 * One thread per outgoing connection.  It connects without blocking
 * (poll() on the socket and its wakeup pipe, so a cancel or a stop
 * interrupts it at once - the course's blocking connect() froze the
 * thread that ran it), retries with bounded exponential backoff (100 ms
 * doubling to 5 s), and on success makes the connection an ordinary
 * client of the server: same callbacks, framing, keepalive, statistics,
 * served by the shared receiver or, in multi-threaded mode, a thread of
 * its own.  Then it sleeps until that client ends; the client's owner
 * tells it why.  Unless told to connect once, it connects again when the
 * remote side went away (peer-closed, peer-reset, ka-expired, protocol
 * error, slow consumer), not after a forced close or a shutdown.
 *
 * Lifetime: the thread outlives its client (a cancel forces the client
 * closed and waits for the owner to report it gone), so the client's
 * pointer to its connector stays valid.  Ended connectors are joined by
 * the next tsl_server_connect() and by the stop, which cancels them all
 * after the receivers have finished every client.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "tsl_internal.h"
#include "tsl_sys.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 5000

/* poll() for up to ms >= 0; an interrupted wait (EINTR) goes on for the
 * rest of the time, so that a signal neither fails an attempt nor cuts
 * a backoff short. */
static int
wait_ms(struct pollfd *pf, nfds_t n, int ms)
{
    int64_t end = tsl__now_ms() + ms;
    int r;

    while ((r = tsl__sys->poll(pf, n, ms)) < 0 && errno == EINTR) {
        int64_t left = end - tsl__now_ms();
        if (left <= 0)
            return 0;
        ms = (int)left;
    }
    return r;
}

/* Sleeps up to ms, or until signalled (a cancel, or the client ended). */
static void
nap(struct tsl_connector *k, int ms)
{
    struct pollfd pf = {k->wk.rfd, POLLIN, 0};

    if (wait_ms(&pf, 1, ms) > 0)
        tsl__wakeup_drain(&k->wk);
}

/* One attempt: a connected non-blocking socket, or -1. */
static int
attempt(struct tsl_connector *k)
{
    struct pollfd pf[2];
    socklen_t len = sizeof(int);
    int fd, err = 0, one = 1;

    fd = tsl__sys->socket(k->peer.u.sa.sa_family,
                          SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (tsl__sys->connect(fd, &k->peer.u.sa, k->peer.len) == 0)
        goto ok;
    if (errno != EINPROGRESS && errno != EINTR)
        goto fail;
    pf[0].fd = fd;
    pf[0].events = POLLOUT;
    pf[1].fd = k->wk.rfd;
    pf[1].events = POLLIN;
    pf[0].revents = pf[1].revents = 0;
    if (wait_ms(pf, 2, CONNECT_TIMEOUT_MS) <= 0 || pf[0].revents == 0)
        goto fail; /* timed out, or woken (a cancel: the caller looks) */
    if (tsl__sys->getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ||
        err != 0)
        goto fail;
ok:
    if (k->peer.u.sa.sa_family != AF_UNIX)
        tsl__sys->setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                             sizeof(one));
    return fd;
fail:
    tsl__sys->close(fd);
    return -1;
}

/* Makes the connection a client, with a reference for us; NULL if it
 * could not be served (the socket is then closed). */
static void *
conn_main(void *arg)
{
    struct tsl_connector *k = arg;
    struct tsl_client *c;
    int backoff = BACKOFF_MIN_MS, lost, fd;

    /* Its callbacks (connected) run here: a stop or a setter called from
     * them must know it is on one of the server's own threads. */
    tsl__tls_server = k->srv;
    tsl__thread_name("tsl-connect");
    while (!atomic_load(&k->cancel)) {
        fd = attempt(k);
        if (fd >= 0)
            atomic_store(&k->lost, 0);
        if (fd < 0 || (c = k->srv->attach(k->srv, fd, &k->peer.u, k)) ==
                          NULL) {
            if (!atomic_load(&k->cancel))
                nap(k, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                   : backoff * 2;
            continue;
        }
        backoff = BACKOFF_MIN_MS;
        /* Connected: sleep until the client ends.  A cancel closes it and
         * still waits, since the client points at us until it is gone. */
        while ((lost = atomic_load(&k->lost)) == 0) {
            if (atomic_load(&k->cancel))
                tsl_client_disconnect(c); /* ENOTCONN if already going */
            nap(k, 1000);
        }
        tsl_client_unref(c);
        lost--;
        if ((k->flags & TSL_CONNECT_ONCE) || lost == TSL_REASON_FORCED ||
            lost == TSL_REASON_SHUTDOWN)
            break;
    }
    tsl__tls_server = NULL;
    atomic_store(&k->done, true);
    return NULL;
}

void
tsl__connector_lost(struct tsl_connector *k, tsl_reason_t why)
{
    atomic_store(&k->lost, (int)why + 1);
    tsl__wakeup_signal(&k->wk);
}

int
tsl_server_connect(tsl_server_t *srv, const char *ip, uint16_t port,
                   unsigned flags)
{
    struct tsl_connector *k;
    struct tsl__addr peer;
    int r, id;

    if (flags & ~(unsigned)TSL_CONNECT_ONCE)
        return TSL_EINVAL;
    if (tsl__addr_parse(&peer, ip, port) < 0 ||
        (peer.u.sa.sa_family != AF_UNIX && port == 0))
        return TSL_EINVAL;
    tsl__connector_reap(srv, false);
    k = tsl__sys->calloc(1, sizeof(*k));
    if (k == NULL)
        return TSL_ENOMEM;
    k->srv = srv;
    k->flags = flags;
    k->peer = peer;
    atomic_init(&k->cancel, false);
    atomic_init(&k->lost, 0);
    atomic_init(&k->done, false);
    r = tsl__wakeup_open(&k->wk);
    if (r < 0) {
        tsl__sys->free(k);
        return r;
    }
    pthread_mutex_lock(&srv->conn_lock);
    if (srv->conn_closed) {
        r = TSL_EBUSY; /* not running */
        goto fail;
    }
    id = ++srv->next_conn_id;
    k->id = id;
    r = -tsl__sys->thread_create(&k->thread, conn_main, k);
    if (r < 0)
        goto fail;
    k->next = srv->conn_head;
    srv->conn_head = k;
    pthread_mutex_unlock(&srv->conn_lock);
    return id;
fail:
    pthread_mutex_unlock(&srv->conn_lock);
    tsl__wakeup_close(&k->wk);
    tsl__sys->free(k);
    return r;
}

int
tsl_server_cancel_connect(tsl_server_t *srv, int id)
{
    struct tsl_connector *k;
    int r = TSL_ENOENT;

    pthread_mutex_lock(&srv->conn_lock);
    for (k = srv->conn_head; k != NULL; k = k->next) {
        if (k->id == id && !atomic_load(&k->cancel)) {
            atomic_store(&k->cancel, true);
            tsl__wakeup_signal(&k->wk);
            r = 0;
            break;
        }
    }
    pthread_mutex_unlock(&srv->conn_lock);
    return r;
}

void
tsl__connector_reap(struct tsl_server *srv, bool all)
{
    struct tsl_connector **pp, *k, *gone = NULL;

    pthread_mutex_lock(&srv->conn_lock);
    for (pp = &srv->conn_head; (k = *pp) != NULL;) {
        if (all) {
            atomic_store(&k->cancel, true);
            tsl__wakeup_signal(&k->wk);
        }
        if (all || atomic_load(&k->done)) {
            *pp = k->next;
            k->next = gone;
            gone = k;
        } else {
            pp = &k->next;
        }
    }
    pthread_mutex_unlock(&srv->conn_lock);
    while ((k = gone) != NULL) {
        gone = k->next;
        pthread_join(k->thread, NULL);
        tsl__wakeup_close(&k->wk);
        tsl__sys->free(k);
    }
}

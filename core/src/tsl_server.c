/*
 * tsl_server.c - the controller (the course's TcpServerController).
 *
 * Owns a server's configuration, state flags, limits and black-list, its
 * client database, and the lifetimes of its acceptor and receiver threads.
 * Application threads call in here; the acceptor calls tsl__server_admit()
 * and tsl__server_new_client() for every new connection.
 *
 * Start and stop are serialised by ctl_lock, which no server thread ever
 * takes, so a stop can join the server's threads while they finish their
 * callbacks.  A stop requested from one of this server's own threads (a
 * callback) cannot join that thread: it moves the state to STOPPING and
 * starts a stopper thread that does the joining; the next start, stop or
 * destroy from outside joins the stopper.  Stop order: acceptor first (no
 * new hand-offs), then receiver (it finishes every client with reason
 * shutdown), so when both are joined the database is empty.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsl_internal.h"
#include "tsl_net.h"
#include "tsl_sys.h"

static tsl__accept_fn accepted;
static tsl__attach_fn attach;
static void finish(struct tsl_client *c, tsl_reason_t reason);
static tsl__reject_fn count_reject;

#define SETTABLE_FLAGS (TSL_SERVER_NOT_ACCEPTING | TSL_SERVER_NOT_LISTENING | \
                        TSL_SERVER_MULTI_THREADED)

int
tsl_server_create(tsl_server_t **out, const char *name, const char *ip,
                  uint16_t port)
{
    struct tsl_server *srv;
    struct tsl__addr addr;
    size_t i, n;

    if (out == NULL)
        return TSL_EINVAL;
    *out = NULL;
    if (name == NULL || ip == NULL)
        return TSL_EINVAL;
    n = strlen(name);
    if (n == 0 || n >= sizeof(srv->name))
        return TSL_EINVAL;
    for (i = 0; i < n; i++)
        if (name[i] <= ' ' || name[i] > '~')
            return TSL_EINVAL;
    if (tsl__addr_parse(&addr, ip, port) < 0)
        return TSL_EINVAL;
    srv = tsl__sys->calloc(1, sizeof(*srv));
    if (srv == NULL)
        return TSL_ENOMEM;
    memcpy(srv->name, name, n + 1);
    tsl__addr_text(&addr.u, srv->ip, sizeof(srv->ip));
    srv->addr = addr;
    srv->cfg_port = addr.u.sa.sa_family == AF_UNIX ? 0 : port;
    atomic_init(&srv->bound_port, 0);
    tsl_framing_default(&srv->framing, TSL_FRAMING_NONE);
    srv->out_low = 64 * 1024;
    srv->out_high = 256 * 1024;
    srv->out_hard = 4 * 1024 * 1024;
    srv->stall_ms = 30000;
    srv->tick_ms = 50;
    {
        const char *b = getenv("TSL_BACKEND");
        srv->backend = b != NULL && strcmp(b, "epoll") == 0
                           ? TSL_BACKEND_EPOLL
                           : TSL_BACKEND_SELECT;
    }
    atomic_init(&srv->ka_hold_ms, 0);
    atomic_init(&srv->frame_ms, 0);
    atomic_init(&srv->ka_gen, 0);
    atomic_init(&srv->flags, TSL_SERVER_INITIALIZED);
    pthread_mutex_init(&srv->ctl_lock, NULL);
    pthread_mutex_init(&srv->stop_lock, NULL);
    pthread_mutex_init(&srv->cfg_lock, NULL);
    pthread_mutex_init(&srv->ded_lock, NULL);
    pthread_cond_init(&srv->ded_cv, NULL);
    pthread_mutex_init(&srv->conn_lock, NULL);
    for (size_t k = 0; k < TSL__CLIENT_LOCKS; k++)
        pthread_mutex_init(&srv->client_locks[k].mu, NULL);
    srv->conn_closed = true;
    srv->ded_closed = true; /* the gates open at start */
    atomic_init(&srv->ka_interval_ms, 0);
    srv->state = TSL__S_STOPPED;
    atomic_init(&srv->ded_ended, false);
    srv->reap_dedicated = tsl__dedicated_reap;
    srv->attach = attach;
    srv->finish = finish;
    tsl__db_init(&srv->db);
    *out = srv;
    return 0;
}

/* Joins a stopper thread if one was started.  Caller holds ctl_lock. */
static void
join_stopper(struct tsl_server *srv)
{
    pthread_t t;
    bool has;

    for (;;) {
        pthread_mutex_lock(&srv->stop_lock);
        has = srv->has_stopper;
        t = srv->stopper;
        srv->has_stopper = false;
        pthread_mutex_unlock(&srv->stop_lock);
        if (!has)
            return;
        pthread_join(t, NULL);
    }
}

/* Opens or closes the gates for new connectors and dedicated receivers
 * (tsl_server_connect, multi-threaded clients, migrations). */
static void
set_gates(struct tsl_server *srv, bool open)
{
    pthread_mutex_lock(&srv->conn_lock);
    srv->conn_closed = !open;
    pthread_mutex_unlock(&srv->conn_lock);
    pthread_mutex_lock(&srv->ded_lock);
    srv->ded_closed = !open;
    pthread_mutex_unlock(&srv->ded_lock);
}

/* Stops and joins every thread but the acceptor's (stopped already). */
static void
stop_threads(struct tsl_server *srv)
{
    /* No new connectors or dedicated receivers from now on.  The shared
     * receiver is joined before the dedicated ones: a client it finishes
     * may still name a dedicated receiver as its migration target and
     * signal it, so that receiver must outlive the shared one.  (Only the
     * shared receiver's clients can point at dedicated targets.)  A
     * hand-off to a receiver that has stopped fails and the giver finishes
     * the client.  Running connectors' clients end with reason shutdown as
     * the receivers stop; then the connectors are cancelled and joined. */
    set_gates(srv, false);
    tsl__receiver_join(&srv->rx);
    tsl__dedicated_reap(srv, true);
    tsl__connector_reap(srv, true);
    tsl__dedicated_reap(srv, true); /* any a connector made meanwhile */
    /* Only now: a connector may have tried to hand a new client to the
     * shared receiver up to its join (the hand-off fails on the closed
     * queue, but it takes the queue's mutex). */
    tsl__receiver_release(&srv->rx);
    TSL_ASSERT(tsl__db_count(&srv->db) == 0);
}

/* Stops the acceptor, which closes the listening socket, and removes
 * the name a Unix socket left. */
static void
unlisten(struct tsl_server *srv)
{
    tsl__acceptor_stop(&srv->acc);
    tsl__net_unlisten(&srv->addr);
}

/* Joins the threads.  The caller moved the state to STOPPING. */
static void
do_stop(struct tsl_server *srv)
{
    unlisten(srv);
    stop_threads(srv);
    atomic_fetch_and(&srv->flags, ~(unsigned)TSL_SERVER_RUNNING);
    pthread_mutex_lock(&srv->stop_lock);
    srv->state = TSL__S_STOPPED;
    pthread_mutex_unlock(&srv->stop_lock);
}

static void *
stopper_main(void *arg)
{
    tsl__thread_name("tsl-stop");
    do_stop(arg);
    return NULL;
}

int
tsl_server_stop(tsl_server_t *srv)
{
    bool mine = false;
    int r = 0;

    if (tsl__tls_server == srv) {
        /* From our own callback: start the stop, do not wait for it. */
        pthread_mutex_lock(&srv->stop_lock);
        if (srv->state == TSL__S_RUNNING) {
            srv->state = TSL__S_STOPPING;
            r = -tsl__sys->thread_create(&srv->stopper, stopper_main, srv);
            if (r == 0)
                srv->has_stopper = true;
            else
                srv->state = TSL__S_RUNNING;
        }
        pthread_mutex_unlock(&srv->stop_lock);
        return r;
    }
    pthread_mutex_lock(&srv->ctl_lock);
    join_stopper(srv);
    pthread_mutex_lock(&srv->stop_lock);
    if (srv->state == TSL__S_RUNNING) {
        srv->state = TSL__S_STOPPING;
        mine = true;
    }
    pthread_mutex_unlock(&srv->stop_lock);
    if (mine)
        do_stop(srv);
    else
        join_stopper(srv); /* a stop from a callback raced with us */
    pthread_mutex_unlock(&srv->ctl_lock);
    return 0;
}

int
tsl_server_start(tsl_server_t *srv)
{
    uint16_t bound = 0;
    bool hosted;
    int lfd, r;

    if (tsl__tls_server == srv)
        return TSL_EBUSY;
    pthread_mutex_lock(&srv->ctl_lock);
    join_stopper(srv);
    if (srv->state != TSL__S_STOPPED) {
        r = TSL_EBUSY;
        goto out;
    }
    /* A frame the framing accepts must fit in the output, whole: an echo
     * (or any reply of the same size) could otherwise never be sent.
     * With `none` a message is what one read returned: up to
     * TSL__READ_MIN bytes (it has no ring), with nothing to add. */
    {
        size_t frame = tsl__framer_bufsize(&srv->framing);
        size_t need = frame + TSL_DELIM_MAX + 4; /* header or delimiter */
        if (frame == 0)
            need = TSL__READ_MIN;
        if (srv->out_hard < need)
            srv->out_hard = need;
    }
    lfd = tsl__net_listen(&srv->addr, &bound);
    if (lfd < 0) {
        r = lfd;
        goto out;
    }
    atomic_store(&srv->bound_port, bound);
    /* On epoll the shared receiver runs the acceptor (tsl_acceptor.c). */
    hosted = srv->backend == TSL_BACKEND_EPOLL;
    tsl__acceptor_init(&srv->acc, srv, lfd, hosted, accepted, count_reject);
    r = tsl__receiver_start(&srv->rx, srv, false,
                            hosted ? &srv->acc.hook : NULL);
    if (r < 0) {
        unlisten(srv);
        goto out;
    }
    /* The receiver is up: connectors, dedicated receivers and kicks may
     * reach it from now on; the acceptor comes last. */
    set_gates(srv, true);
    r = tsl__acceptor_start(&srv->acc);
    if (r < 0) {
        unlisten(srv);
        stop_threads(srv);
        goto out;
    }
    atomic_fetch_or(&srv->flags, TSL_SERVER_RUNNING);
    pthread_mutex_lock(&srv->stop_lock);
    srv->state = TSL__S_RUNNING;
    pthread_mutex_unlock(&srv->stop_lock);
out:
    if (r < 0)
        set_gates(srv, false);
    pthread_mutex_unlock(&srv->ctl_lock);
    return r;
}

int
tsl_server_destroy(tsl_server_t *srv)
{
    if (srv == NULL)
        return 0;
    if (tsl__tls_server == srv)
        return TSL_EBUSY;
    tsl_server_stop(srv);
    tsl__db_fini(&srv->db);
    pthread_mutex_destroy(&srv->ctl_lock);
    pthread_mutex_destroy(&srv->stop_lock);
    pthread_mutex_destroy(&srv->cfg_lock);
    pthread_mutex_destroy(&srv->ded_lock);
    pthread_cond_destroy(&srv->ded_cv);
    pthread_mutex_destroy(&srv->conn_lock);
    for (size_t k = 0; k < TSL__CLIENT_LOCKS; k++)
        pthread_mutex_destroy(&srv->client_locks[k].mu);
    tsl__sys->free(srv->black);
    tsl__sys->free(srv);
    return 0;
}

/* Takes ctl_lock if the server is stopped (the caller releases it);
 * TSL_EBUSY otherwise. */
static int
while_stopped(struct tsl_server *srv)
{
    if (tsl__tls_server == srv)
        return TSL_EBUSY;
    pthread_mutex_lock(&srv->ctl_lock);
    join_stopper(srv);
    if (srv->state != TSL__S_STOPPED) {
        pthread_mutex_unlock(&srv->ctl_lock);
        return TSL_EBUSY;
    }
    return 0; /* caller unlocks ctl_lock */
}

int
tsl_server_set_callbacks(tsl_server_t *srv, const tsl_callbacks_t *cbs,
                         void *ud)
{
    int r = while_stopped(srv);

    if (r < 0)
        return r;
    if (cbs != NULL)
        srv->cb = *cbs;
    else
        memset(&srv->cb, 0, sizeof(srv->cb));
    srv->ud = ud;
    pthread_mutex_unlock(&srv->ctl_lock);
    return 0;
}

int
tsl_server_set_framing(tsl_server_t *srv, const tsl_framing_t *f)
{
    int r;

    if (tsl_framing_validate(f) < 0)
        return TSL_EINVAL;
    r = while_stopped(srv);
    if (r < 0)
        return r;
    srv->framing = *f;
    pthread_mutex_unlock(&srv->ctl_lock);
    return 0;
}

int
tsl_server_set_backend(tsl_server_t *srv, tsl_backend_t backend)
{
    int r;

    if (backend != TSL_BACKEND_SELECT && backend != TSL_BACKEND_EPOLL)
        return TSL_EINVAL;
    r = while_stopped(srv);
    if (r < 0)
        return r;
    srv->backend = backend;
    pthread_mutex_unlock(&srv->ctl_lock);
    return 0;
}

tsl_backend_t
tsl_server_backend(tsl_server_t *srv)
{
    return srv->backend;
}

int
tsl_server_set_output_limits(tsl_server_t *srv, size_t low, size_t high,
                             size_t hard, uint32_t stall_ms)
{
    int r;

    if (low == 0 || low > high || high >= hard || stall_ms == 0)
        return TSL_EINVAL;
    r = while_stopped(srv);
    if (r < 0)
        return r;
    srv->out_low = low;
    srv->out_high = high;
    srv->out_hard = hard;
    srv->stall_ms = stall_ms;
    pthread_mutex_unlock(&srv->ctl_lock);
    return 0;
}

int
tsl_server_set_keepalive(tsl_server_t *srv, uint32_t hold_ms)
{
    atomic_store(&srv->ka_hold_ms, hold_ms);
    atomic_fetch_add(&srv->ka_gen, 1);
    tsl__kick_all_receivers(srv);
    return 0;
}

int
tsl_server_set_keepalive_interval(tsl_server_t *srv, uint32_t ms)
{
    atomic_store(&srv->ka_interval_ms, ms);
    atomic_fetch_add(&srv->ka_gen, 1);
    tsl__kick_all_receivers(srv);
    return 0;
}

int
tsl_server_set_frame_timeout(tsl_server_t *srv, uint32_t ms)
{
    atomic_store(&srv->frame_ms, ms);
    return 0;
}

uint32_t
tsl_server_frame_timeout(tsl_server_t *srv)
{
    return atomic_load(&srv->frame_ms);
}

uint32_t
tsl_server_keepalive(tsl_server_t *srv)
{
    return atomic_load(&srv->ka_hold_ms);
}

int
tsl_server_set_timer_tick(tsl_server_t *srv, uint32_t tick_ms)
{
    int r;

    if (tick_ms == 0 || tick_ms > 60000)
        return TSL_EINVAL;
    r = while_stopped(srv);
    if (r < 0)
        return r;
    srv->tick_ms = tick_ms;
    pthread_mutex_unlock(&srv->ctl_lock);
    return 0;
}

int
tsl_server_set_max_clients(tsl_server_t *srv, uint32_t max)
{
    pthread_mutex_lock(&srv->cfg_lock);
    srv->max_clients = max;
    pthread_mutex_unlock(&srv->cfg_lock);
    return 0;
}

uint32_t
tsl_server_max_clients(tsl_server_t *srv)
{
    uint32_t m;

    pthread_mutex_lock(&srv->cfg_lock);
    m = srv->max_clients;
    pthread_mutex_unlock(&srv->cfg_lock);
    return m;
}

/* The entry equal to e; -1 if none.  Caller holds cfg_lock. */
static ssize_t
black_find(struct tsl_server *srv, const struct tsl_black *e)
{
    size_t i;

    for (i = 0; i < srv->nblack; i++)
        if (srv->black[i].bits == e->bits &&
            tsl__host_in(&srv->black[i].net, &e->net, e->bits))
            return (ssize_t)i;
    return -1;
}

/* Whether a peer is in any entry.  Caller holds cfg_lock. */
static bool
black_match(struct tsl_server *srv, const union tsl__sa *peer)
{
    struct tsl__host h;
    size_t i;

    if (!tsl__addr_host(peer, &h))
        return false; /* a Unix peer has no address */
    for (i = 0; i < srv->nblack; i++)
        if (tsl__host_in(&h, &srv->black[i].net, srv->black[i].bits))
            return true;
    return false;
}

int
tsl_server_blacklist_add(tsl_server_t *srv, const char *ip)
{
    struct tsl_black a;
    int r = 0;

    if (tsl__host_parse(ip, &a.net, &a.bits) < 0)
        return TSL_EINVAL;
    pthread_mutex_lock(&srv->cfg_lock);
    if (black_find(srv, &a) >= 0) {
        r = TSL_EEXIST;
    } else {
        if (srv->nblack == srv->capblack) {
            size_t cap = srv->capblack ? srv->capblack * 2 : 8;
            struct tsl_black *nb =
                tsl__sys->realloc(srv->black, cap * sizeof(*nb));
            if (nb == NULL) {
                r = TSL_ENOMEM;
                goto out;
            }
            srv->black = nb;
            srv->capblack = cap;
        }
        srv->black[srv->nblack++] = a;
    }
out:
    pthread_mutex_unlock(&srv->cfg_lock);
    return r;
}

int
tsl_server_blacklist_remove(tsl_server_t *srv, const char *ip)
{
    struct tsl_black a;
    ssize_t i;
    int r = 0;

    if (tsl__host_parse(ip, &a.net, &a.bits) < 0)
        return TSL_EINVAL;
    pthread_mutex_lock(&srv->cfg_lock);
    i = black_find(srv, &a);
    if (i < 0)
        r = TSL_ENOENT;
    else
        srv->black[i] = srv->black[--srv->nblack];
    pthread_mutex_unlock(&srv->cfg_lock);
    return r;
}

int
tsl_server_set_flags(tsl_server_t *srv, unsigned flags)
{
    if (flags & ~(unsigned)SETTABLE_FLAGS)
        return TSL_EINVAL;
    atomic_fetch_or(&srv->flags, flags);
    tsl__kick_all_receivers(srv);
    return 0;
}

int
tsl_server_clear_flags(tsl_server_t *srv, unsigned flags)
{
    if (flags & ~(unsigned)SETTABLE_FLAGS)
        return TSL_EINVAL;
    atomic_fetch_and(&srv->flags, ~flags);
    tsl__kick_all_receivers(srv);
    return 0;
}

unsigned
tsl_server_flags(tsl_server_t *srv)
{
    return atomic_load(&srv->flags);
}

const char *
tsl_server_name(tsl_server_t *srv)
{
    return srv->name;
}

const char *
tsl_server_ip(tsl_server_t *srv)
{
    return srv->ip;
}

uint16_t
tsl_server_port(tsl_server_t *srv)
{
    unsigned p = atomic_load(&srv->bound_port);

    return p != 0 ? (uint16_t)p : srv->cfg_port;
}

size_t
tsl_server_client_count(tsl_server_t *srv)
{
    return tsl__db_count(&srv->db);
}

tsl_client_t *
tsl_server_find_client(tsl_server_t *srv, uint64_t id)
{
    return tsl__db_find_id(&srv->db, id);
}

tsl_client_t *
tsl_server_find_client_addr(tsl_server_t *srv, const char *ip, uint16_t port)
{
    char text[TSL__IP_TEXT];
    struct tsl__host h;
    unsigned bits;

    if (ip == NULL)
        return NULL;
    /* Any spelling of an address finds the client: "[::1]", "::ffff:1.2.3.4"
     * (shown as 1.2.3.4), "0:0::1". */
    if (strchr(ip, '/') == NULL && tsl__host_parse(ip, &h, &bits) == 0 &&
        inet_ntop(h.fam, h.a, text, sizeof(text)) != NULL)
        ip = text;
    return tsl__db_find_addr(&srv->db, ip, port);
}

int
tsl_server_foreach_client(tsl_server_t *srv,
                          void (*fn)(tsl_client_t *c, void *arg), void *arg)
{
    struct tsl_client **a;
    size_t n, i;
    int r = tsl__db_snapshot(&srv->db, &a, &n);

    if (r < 0)
        return r;
    for (i = 0; i < n; i++)
        fn(a[i], arg);
    for (i = 0; i < n; i++)
        tsl_client_unref(a[i]);
    tsl__sys->free(a);
    return (int)n;
}

int
tsl_server_broadcast(tsl_server_t *srv, const void *buf, size_t len,
                     const tsl_client_t *except)
{
    struct tsl_client **a;
    size_t n, i;
    int r, sent = 0;

    if (len > srv->out_hard)
        return TSL_ENOBUFS;
    if ((r = tsl__db_snapshot(&srv->db, &a, &n)) < 0)
        return r;
    for (i = 0; i < n; i++) {
        if (a[i] != except && tsl_client_send(a[i], buf, len) == 0)
            sent++;
        tsl_client_unref(a[i]);
    }
    tsl__sys->free(a);
    return sent;
}

/* ---- called by the acceptor ---- */

bool
tsl__server_can_watch(struct tsl_server *srv, int fd, bool threaded)
{
    int lim = tsl__poller_for(srv->backend)->fd_limit;

    return threaded || lim == 0 || fd < lim;
}

/* The admission checks of a new connection; -1 if admitted. */
static int
server_admit(struct tsl_server *srv, const union tsl__sa *peer, int fd,
             bool threaded)
{
    uint32_t max;
    int why = -1;

    if (atomic_load(&srv->flags) & TSL_SERVER_NOT_ACCEPTING)
        return TSL_REJECT_NOT_ACCEPTING;
    pthread_mutex_lock(&srv->cfg_lock);
    if (black_match(srv, peer))
        why = TSL_REJECT_BLACKLISTED;
    max = srv->max_clients;
    pthread_mutex_unlock(&srv->cfg_lock);
    /* Only this thread adds clients, so the count cannot grow under us. */
    if (why < 0 && max != 0 && tsl__db_count(&srv->db) >= max)
        why = TSL_REJECT_MAX_CLIENTS;
    if (why < 0 && !tsl__server_can_watch(srv, fd, threaded))
        why = TSL_REJECT_FD_TOO_LARGE; /* select() cannot watch it */
    return why;
}

static void
count_reject(struct tsl_server *srv, tsl_reject_t why,
             const union tsl__sa *peer)
{
    char ip[TSL__IP_TEXT];

    TSL__CTR_ADD(srv->ctr.rejected[why], 1);
    if (srv->cb.rejected == NULL)
        return;
    tsl__addr_text(peer, ip, sizeof(ip));
    srv->cb.rejected(srv, ip, tsl__addr_port(peer), why, srv->ud);
}

/* Puts the new client in the database, runs connected, hands it to
 * owner. */
static void
new_client(struct tsl_server *srv, struct tsl_client *c,
           struct tsl_receiver *owner)
{
    uint_fast64_t cur, peak;

    /* The database first, so that the application can look the client up
     * from its connected callback and max-clients counts it at once. */
    tsl__db_add(&srv->db, c);
    if (c->connector == NULL) /* made by a connector: not accepted */
        TSL__CTR_ADD(srv->ctr.accepted, 1);
    cur = atomic_fetch_add(&srv->ctr.current, 1) + 1;
    peak = atomic_load(&srv->ctr.peak);
    while (cur > peak && !atomic_compare_exchange_weak(&srv->ctr.peak, &peak,
                                                       cur))
        ;
    if (srv->cb.connected != NULL)
        srv->cb.connected(srv, c, srv->ud);
    if (tsl__client_handoff(c, &owner->owner, NULL) < 0) {
        finish(c, TSL_REASON_SHUTDOWN);
        if (owner->dedicated)
            tsl__dedicated_release(srv, owner);
    }
}

/* A new connection, accepted or (k non-NULL) made by connector k: owner
 * choice, the client, the database, connected, the hand-off - the one
 * place clients are made (installed as srv->attach for the connectors). */
static struct tsl_client *
attach(struct tsl_server *srv, int fd, const union tsl__sa *peer,
       struct tsl_connector *k)
{
    struct tsl_receiver *owner = &srv->rx;
    bool threaded = atomic_load(&srv->flags) & TSL_SERVER_MULTI_THREADED;
    struct tsl_client *c;
    int why, one = 1, err;

    if (k == NULL) {
        why = server_admit(srv, peer, fd, threaded);
        if (why >= 0) {
            tsl__sys->close(fd);
            count_reject(srv, (tsl_reject_t)why, peer);
            return NULL;
        }
    } else if (!tsl__server_can_watch(srv, fd, threaded)) {
        tsl__sys->close(fd);
        return NULL;
    }
    if (threaded) {
        owner = tsl__dedicated_create(srv, &err);
        if (owner == NULL) {
            /* No thread for it: refuse, keep serving.  Out of descriptors
             * (its wakeup pipe) is told apart from out of memory. */
            tsl__sys->close(fd);
            if (k == NULL)
                count_reject(srv,
                             err == -EMFILE || err == -ENFILE
                                 ? TSL_REJECT_FD_EXHAUSTED
                                 : TSL_REJECT_NO_MEMORY,
                             peer);
            return NULL;
        }
    }
    /* Messages go out as soon as they are sent; echo latency matters more
     * than the few extra segments.  (A connector set it already.) */
    if (k == NULL && peer->sa.sa_family != AF_UNIX)
        tsl__sys->setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c = tsl__client_create(srv, fd, peer);
    if (c == NULL) {
        if (owner->dedicated) {
            tsl__dedicated_release(srv, owner);
            tsl__dedicated_unpin(srv, owner);
        }
        tsl__sys->close(fd);
        if (k == NULL)
            count_reject(srv, TSL_REJECT_NO_MEMORY, peer);
        return NULL;
    }
    if (k != NULL) {
        c->connector = k;
        tsl_client_ref(c);
    }
    new_client(srv, c, owner);
    if (owner->dedicated)
        tsl__dedicated_unpin(srv, owner);
    return c;
}

/* The owner ends c (through tsl__client_finish): the last of its output
 * as far as the socket takes it, the database, the socket, the
 * disconnected callback, the connector; then the owner's reference goes.
 * A dedicated receiver waiting for it as a migration target is let go. */
static void
finish(struct tsl_client *c, tsl_reason_t reason)
{
    struct tsl_server *srv = c->srv;
    struct tsl_receiver *target;
    int fd;

    tsl__client_lock(c);
    target = c->migrate_to; /* a migration that will not happen now */
    c->migrate_to = NULL;
    atomic_store(&c->migrating, false);
    /* What the application sent before the end is still written, as far
     * as the socket takes it without waiting: replies the owner buffered
     * this turn included (a forced close, a protocol error or a stop right
     * after them must not lose them), unless the socket is already known
     * to be broken or not to take any. */
    if (reason != TSL_REASON_PEER_RESET && reason != TSL_REASON_SLOW_CONSUMER)
        tsl__output_flush_locked(c, tsl__now_ms());
    fd = c->fd;
    c->fd = -1;
    c->closing = true;
    c->close_reason = reason;
    c->owner = NULL;
    c->pending = 0;
    tsl__output_free_locked(c);
    tsl__client_unlock(c);

    if (target != NULL && target->dedicated)
        tsl__dedicated_release(srv, target);
    TSL_ASSERT(fd >= 0);
    /* Out of the database before the socket closes: once the peer sees
     * the close, the client no longer counts against max-clients. */
    if (tsl__db_remove(&srv->db, c))
        atomic_fetch_sub(&srv->ctr.current, 1);
    tsl__sys->close(fd);
    tsl__cbuf_fini(&c->in);
    TSL__CTR_ADD(srv->ctr.disconnected[reason], 1);
    if (srv->cb.disconnected != NULL)
        srv->cb.disconnected(srv, c, reason, srv->ud);
    /* After the callback, so a reconnect's `connected` comes later. */
    if (c->connector != NULL)
        tsl__connector_lost(c->connector, reason);
    tsl_client_unref(c);
}

/* The acceptor's report of a connection. */
static void
accepted(struct tsl_server *srv, int fd, const union tsl__sa *peer)
{
    attach(srv, fd, peer, NULL);
}

int
tsl_server_migrate_client(tsl_server_t *srv, tsl_client_t *c,
                          tsl_client_mode_t mode)
{
    struct tsl_receiver *to = &srv->rx;
    int rc = 0;

    if (c == NULL || c->srv != srv ||
        (mode != TSL_CLIENT_MULTIPLEXED && mode != TSL_CLIENT_THREADED))
        return TSL_EINVAL;
    if (mode == TSL_CLIENT_THREADED) {
        to = tsl__dedicated_create(srv, &rc);
        if (to == NULL)
            return rc;
    }
    tsl__client_lock(c);
    if (c->fd < 0 || c->closing)
        rc = TSL_ENOTCONN;
    else if (c->migrate_to != NULL || !c->adopted)
        rc = TSL_EAGAIN; /* still arriving, or already moving */
    else if (c->threaded == (mode == TSL_CLIENT_THREADED))
        rc = 1; /* already there */
    else if (mode == TSL_CLIENT_MULTIPLEXED &&
             !tsl__server_can_watch(srv, c->fd, false))
        rc = TSL_ERANGE;
    if (rc == 0) {
        c->migrate_to = to;
        atomic_store(&c->migrating, true);
        tsl__client_poke_locked(c, TSL__P_MIGRATE);
    }
    tsl__client_unlock(c);
    if (to->dedicated) {
        if (rc != 0)
            tsl__dedicated_release(srv, to); /* it will never get its client */
        tsl__dedicated_unpin(srv, to);
    }
    return rc > 0 ? 0 : rc;
}

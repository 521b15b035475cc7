/*
 * tsl_client.c - one connection: its socket, output queue, counters and
 * reference count.
 *
 * Shared state (fd, output queue, close request, pending flags, counters)
 * is guarded by client->lock, so tsl_client_send() and
 * tsl_client_disconnect() work from any thread.  The socket is closed only
 * by the owning thread, in tsl__client_finish(), and only after fd has
 * been set to -1 under the lock: a sender on another thread can therefore
 * never write into a descriptor number that has been reused.
 *
 * Output: a send first writes straight to the socket (the common case
 * costs no copy); what the kernel does not take is queued, whole, up to the
 * server's hard limit, and the owner is asked to watch for writability.
 * The queue's storage is freed as soon as it drains.
 *
 * The last tsl_client_unref() frees the object; by then the owner has
 * finished the client, so its socket is closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tsl_internal.h"
#include "tsl_sys.h"

struct tsl_client *
tsl__client_create(struct tsl_server *srv, int fd,
                   const struct sockaddr_in *peer)
{
    struct tsl_client *c = tsl__sys->calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    atomic_init(&c->refs, 1); /* the owner's reference */
    c->id = atomic_fetch_add(&srv->next_id, 1) + 1;
    c->srv = srv;
    if (inet_ntop(AF_INET, &peer->sin_addr, c->ip, sizeof(c->ip)) == NULL)
        strcpy(c->ip, "?");
    c->port = ntohs(peer->sin_port);
    pthread_mutex_init(&c->lock, NULL);
    c->fd = fd;
    c->close_reason = TSL_REASON_COUNT;
    c->ka_override = -1;
    c->ka_hold = -1;
    tsl__cbuf_init(&c->in, tsl__framer_bufsize(&srv->framing));
    tsl__framer_init(&c->framer, &srv->framing);
    c->st.id = c->id;
    c->st.connect_time_ms = tsl__wall_ms();
    return c;
}

void
tsl_client_ref(tsl_client_t *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void
tsl_client_unref(tsl_client_t *c)
{
    if (c == NULL)
        return;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    TSL_ASSERT(c->fd < 0 && !c->in_db && !c->queued);
    free(c->out.buf);
    tsl__cbuf_fini(&c->in);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

uint64_t
tsl_client_id(const tsl_client_t *c)
{
    return c->id;
}

const char *
tsl_client_ip(const tsl_client_t *c)
{
    return c->ip;
}

uint16_t
tsl_client_port(const tsl_client_t *c)
{
    return c->port;
}

tsl_server_t *
tsl_client_server(const tsl_client_t *c)
{
    return c->srv;
}

void
tsl__client_poke_locked(struct tsl_client *c, unsigned flag)
{
    c->pending |= flag;
    if (c->owner == NULL || c->queued)
        return; /* not adopted yet (adoption reads pending), or queued */
    c->queued = true;
    tsl_client_ref(c);
    if (c->owner->enqueue(c->owner, c) < 0) {
        /* The owner is shutting down and finishes all its clients. */
        c->queued = false;
        atomic_fetch_sub(&c->refs, 1); /* the caller still holds one */
    }
}

bool
tsl__client_request_close_locked(struct tsl_client *c, tsl_reason_t r)
{
    if (c->closing)
        return false;
    c->closing = true;
    c->close_reason = r;
    tsl__client_poke_locked(c, TSL__P_CLOSE);
    return true;
}

/* Appends n bytes to the output queue, growing it; caller checked limits. */
static int
outq_append(struct tsl_outq *q, const uint8_t *p, size_t n)
{
    if (q->head + q->len + n > q->cap && q->head > 0) {
        memmove(q->buf, q->buf + q->head, q->len);
        q->head = 0;
    }
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        uint8_t *nb;
        while (cap < q->len + n)
            cap *= 2;
        nb = tsl__sys->realloc(q->buf, cap);
        if (nb == NULL)
            return TSL_ENOMEM;
        q->buf = nb;
        q->cap = cap;
    }
    memcpy(q->buf + q->head + q->len, p, n);
    q->len += n;
    return 0;
}

static void
outq_free(struct tsl_outq *q)
{
    free(q->buf);
    q->buf = NULL;
    q->cap = q->head = q->len = 0;
}

/* One send() with EINTR retried; -errno on error, 0 on EAGAIN. */
static ssize_t
send_some(int fd, const uint8_t *p, size_t n)
{
    ssize_t r;

    do
        r = tsl__sys->send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    return r;
}

static void
count_out(struct tsl_client *c, size_t n)
{
    c->st.bytes_out += n;
    c->st.last_send_ms = tsl__wall_ms();
    TSL__CTR_ADD(c->srv->ctr.bytes_out, n);
}

int
tsl_client_send(tsl_client_t *c, const void *buf, size_t len)
{
    return tsl__client_send(c, buf, len, true);
}

int
tsl__client_send(struct tsl_client *c, const void *buf, size_t len,
                 bool is_msg)
{
    const uint8_t *p = buf;
    size_t off = 0;
    ssize_t r;
    int rc = 0;

    if (len == 0)
        return 0;
    if (len > c->srv->out_hard)
        return TSL_ENOBUFS; /* can never be queued; nothing is sent */
    pthread_mutex_lock(&c->lock);
    if (c->fd < 0 || c->closing) {
        rc = TSL_ENOTCONN;
        goto out;
    }
    if (c->out.len == 0) {
        while (off < len) {
            r = send_some(c->fd, p + off, len - off);
            if (r < 0) {
                tsl__client_request_close_locked(c, TSL_REASON_PEER_RESET);
                rc = (int)r;
                goto out;
            }
            if (r == 0)
                break;
            off += (size_t)r;
        }
        if (off > 0)
            count_out(c, off);
    }
    if (off < len) {
        if (c->out.len + (len - off) > c->srv->out_hard) {
            tsl__client_request_close_locked(c, TSL_REASON_SLOW_CONSUMER);
            rc = TSL_ENOBUFS;
            goto out;
        }
        if (outq_append(&c->out, p + off, len - off) < 0) {
            tsl__client_request_close_locked(c, TSL_REASON_SLOW_CONSUMER);
            rc = TSL_ENOMEM;
            goto out;
        }
        if (c->out.len == len - off) {
            c->out_since_ms = tsl__now_ms();
            tsl__client_poke_locked(c, TSL__P_WRITE);
        }
        if (c->out.len > c->st.out_queued_peak)
            c->st.out_queued_peak = c->out.len;
    }
    if (is_msg) {
        c->st.msgs_out++;
        TSL__CTR_ADD(c->srv->ctr.msgs_out, 1);
    } else {
        c->st.keepalives_out++;
    }
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int
tsl_client_disconnect(tsl_client_t *c)
{
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    if (c->fd < 0 || !tsl__client_request_close_locked(c, TSL_REASON_FORCED))
        rc = TSL_ENOTCONN;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int
tsl_client_set_keepalive(tsl_client_t *c, int64_t hold_ms)
{
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    if (c->fd < 0 || c->closing) {
        rc = TSL_ENOTCONN;
    } else {
        c->ka_override = hold_ms < 0 ? -1 : hold_ms;
        tsl__client_poke_locked(c, TSL__P_KA);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* The keepalive override, read by the owner when told it changed. */
int64_t
tsl__client_ka_override(struct tsl_client *c)
{
    int64_t v;

    pthread_mutex_lock(&c->lock);
    v = c->ka_override;
    pthread_mutex_unlock(&c->lock);
    return v;
}

void
tsl_client_stats(tsl_client_t *c, tsl_client_stats_t *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->st;
    out->out_queued = c->out.len;
    pthread_mutex_unlock(&c->lock);
}

/* Caller holds c->lock and is the owner. */
static size_t
flush_locked(struct tsl_client *c, int64_t now)
{
    struct tsl_outq *q = &c->out;
    ssize_t r;

    while (q->len > 0 && c->fd >= 0) {
        r = send_some(c->fd, q->buf + q->head, q->len);
        if (r < 0) {
            tsl__client_request_close_locked(c, TSL_REASON_PEER_RESET);
            break;
        }
        if (r == 0)
            break;
        q->head += (size_t)r;
        q->len -= (size_t)r;
        c->out_since_ms = now;
        count_out(c, (size_t)r);
    }
    if (q->len == 0)
        outq_free(q);
    return q->len;
}

size_t
tsl__client_flush(struct tsl_client *c, int64_t now)
{
    size_t left;

    pthread_mutex_lock(&c->lock);
    left = flush_locked(c, now);
    pthread_mutex_unlock(&c->lock);
    c->want_write = left > 0;
    return left;
}

void
tsl__client_finish(struct tsl_client *c, tsl_reason_t reason)
{
    struct tsl_server *srv = c->srv;
    struct tsl_receiver *target;
    int fd;

    pthread_mutex_lock(&c->lock);
    target = c->migrate_to; /* a migration that will not happen now */
    c->migrate_to = NULL;
    atomic_store(&c->migrating, false);
    /* A peer that half-closed, or a server going down, still gets what is
     * already queued, as far as the socket takes it without waiting. */
    if (reason == TSL_REASON_SHUTDOWN || reason == TSL_REASON_PEER_CLOSED)
        flush_locked(c, tsl__now_ms());
    fd = c->fd;
    c->fd = -1;
    c->closing = true;
    c->close_reason = reason;
    c->owner = NULL;
    c->pending = 0;
    outq_free(&c->out);
    pthread_mutex_unlock(&c->lock);

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

int
tsl__client_handoff(struct tsl_client *c, struct tsl_owner *o,
                    struct tsl_wakeup *from)
{
    bool stale = false;
    int r;

    pthread_mutex_lock(&c->lock);
    /* A poke that came after the old owner last took its queue left an
     * entry there; pending flags stay on the client for the new owner. */
    if (c->queued && from != NULL && tsl__wakeup_remove(from, c)) {
        c->queued = false;
        stale = true;
    }
    TSL_ASSERT(!c->queued);
    c->owner = o;
    c->pending |= TSL__P_ADOPT;
    c->queued = true;
    tsl_client_ref(c);
    r = o->enqueue(o, c);
    if (r < 0) {
        c->owner = NULL;
        c->pending &= ~TSL__P_ADOPT;
        c->queued = false;
        atomic_fetch_sub(&c->refs, 1);
    }
    pthread_mutex_unlock(&c->lock);
    if (stale)
        atomic_fetch_sub(&c->refs, 1); /* the caller holds one more */
    return r;
}

unsigned
tsl__client_take_pending(struct tsl_client *c, bool *closed)
{
    unsigned f;

    pthread_mutex_lock(&c->lock);
    f = c->pending;
    c->pending = 0;
    c->queued = false;
    *closed = c->fd < 0;
    pthread_mutex_unlock(&c->lock);
    return f;
}

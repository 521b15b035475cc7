/*
 * tsl_client.c - one connection: its socket, output queue, counters and
 * reference count.
 *
 * Shared state (fd, output queue, close request, pending flags, counters)
 * is guarded by the client's lock, so tsl_client_send() and
 * tsl_client_disconnect() work from any thread.  The lock is not in the
 * client: a pthread mutex is 40 bytes, most of an idle client's budget.
 * The server keeps TSL__CLIENT_LOCKS of them and a client uses the one its
 * id picks, so consecutive clients (the ones one receiver serves at once)
 * never share one.  Sharing is safe because no code holds a client's lock
 * while it takes another client's, or while it calls the application: a
 * section under it touches that client and the queues below it.
 *
 * The socket is closed only by the owning thread, in tsl__client_finish(),
 * and only after fd has been set to -1 under the lock: a sender on another
 * thread can therefore never write into a descriptor number that has been
 * reused.
 *
 * Output (sending, buffering, flushing, the limits) is tsl_output.c's.
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
                   const union tsl__sa *peer)
{
    struct tsl_client *c = tsl__sys->calloc(1, sizeof(*c));
    char ip[TSL__IP_TEXT];
    size_t ring, n;

    if (c == NULL)
        return NULL;
    atomic_init(&c->refs, 1); /* the owner's reference */
    atomic_init(&c->msgs_in, 0);
    atomic_init(&c->data, NULL);
    atomic_init(&c->read_paused, false);
    atomic_init(&c->drain_due, false);
    tsl__addr_text(peer, ip, sizeof(ip));
    n = strlen(ip) + 1;
    if (n <= sizeof(c->ip.text)) {
        memcpy(c->ip.text, ip, n);
    } else {
        c->ip.heap = tsl__sys->malloc(n);
        if (c->ip.heap == NULL) {
            tsl__sys->free(c);
            return NULL;
        }
        memcpy(c->ip.heap, ip, n);
        c->ip_long = true;
    }
    c->id = atomic_fetch_add(&srv->next_id, 1) + 1;
    c->srv = srv;
    c->port = tsl__addr_port(peer);
    c->fd = fd;
    c->close_reason = TSL_REASON_COUNT;
    c->ka_override = TSL__KA_SERVER;
    c->ka_hold = TSL__KA_SERVER;
    ring = tsl__framer_bufsize(&srv->framing);
    if (ring != 0 && ring < TSL__READ_MIN)
        ring = TSL__READ_MIN; /* `none` has no ring */
    tsl__cbuf_init(&c->in, ring);
    tsl__framer_init(&c->framer);
    c->st.connect_time_ms = tsl__wall_ms();
    return c;
}

void
tsl__client_lock(struct tsl_client *c)
{
    pthread_mutex_lock(&c->srv->client_locks[c->id % TSL__CLIENT_LOCKS].mu);
}

void
tsl__client_unlock(struct tsl_client *c)
{
    pthread_mutex_unlock(&c->srv->client_locks[c->id % TSL__CLIENT_LOCKS].mu);
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
    tsl__sys->free(c->out.m);
    tsl__cbuf_fini(&c->in);
    if (c->ip_long)
        tsl__sys->free(c->ip.heap);
    tsl__sys->free(c);
}

uint64_t
tsl_client_id(const tsl_client_t *c)
{
    return c->id;
}

const char *
tsl_client_ip(const tsl_client_t *c)
{
    return c->ip_long ? c->ip.heap : c->ip.text;
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

int
tsl_client_disconnect(tsl_client_t *c)
{
    int rc = 0;

    tsl__client_lock(c);
    if (c->fd < 0 || !tsl__client_request_close_locked(c, TSL_REASON_FORCED))
        rc = TSL_ENOTCONN;
    tsl__client_unlock(c);
    return rc;
}

int
tsl_client_set_keepalive(tsl_client_t *c, int64_t hold_ms)
{
    int rc = 0;

    tsl__client_lock(c);
    if (c->fd < 0 || c->closing) {
        rc = TSL_ENOTCONN;
    } else {
        /* Held as the server's is, in 32 bits: 49 days at most. */
        c->ka_override = hold_ms < 0 ? TSL__KA_SERVER
                         : hold_ms >= TSL__KA_SERVER ? TSL__KA_SERVER - 1
                                                     : (uint32_t)hold_ms;
        tsl__client_poke_locked(c, TSL__P_KA);
    }
    tsl__client_unlock(c);
    return rc;
}

void
tsl_client_set_data(tsl_client_t *c, void *data)
{
    atomic_store_explicit(&c->data, data, memory_order_release);
}

void *
tsl_client_data(const tsl_client_t *c)
{
    return atomic_load_explicit(&((tsl_client_t *)c)->data,
                                memory_order_acquire);
}

static int
set_read_paused(tsl_client_t *c, bool paused)
{
    int rc = 0;

    tsl__client_lock(c);
    if (c->fd < 0 || c->closing) {
        rc = TSL_ENOTCONN;
    } else if (atomic_load(&c->read_paused) != paused) {
        atomic_store(&c->read_paused, paused);
        tsl__client_poke_locked(c, TSL__P_READ);
    }
    tsl__client_unlock(c);
    return rc;
}

int
tsl_client_pause_reading(tsl_client_t *c)
{
    return set_read_paused(c, true);
}

int
tsl_client_resume_reading(tsl_client_t *c)
{
    return set_read_paused(c, false);
}

/* The keepalive override, read by the owner when told it changed. */
uint32_t
tsl__client_ka_override(struct tsl_client *c)
{
    uint32_t v;

    tsl__client_lock(c);
    v = c->ka_override;
    tsl__client_unlock(c);
    return v;
}

/* The controller's teardown, installed in the server (tsl_server.c). */
void
tsl__client_finish(struct tsl_client *c, tsl_reason_t reason)
{
    c->srv->finish(c, reason);
}

int
tsl__client_handoff(struct tsl_client *c, struct tsl_owner *o,
                    struct tsl_wakeup *from)
{
    bool stale = false;
    int r;

    tsl__client_lock(c);
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
    tsl__client_unlock(c);
    if (stale)
        atomic_fetch_sub(&c->refs, 1); /* the caller holds one more */
    return r;
}

unsigned
tsl__client_take_pending(struct tsl_client *c, bool *closed)
{
    unsigned f;

    tsl__client_lock(c);
    f = c->pending;
    c->pending = 0;
    c->queued = false;
    *closed = c->fd < 0;
    tsl__client_unlock(c);
    return f;
}

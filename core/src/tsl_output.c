/*
 * tsl_output.c - a connection's output: send, buffer, flush, watermarks.
 *
 * Owns client->out, the bytes accepted by tsl_client_send() that the
 * kernel has not taken yet, with the time they last made progress, and
 * the out_queued_peak counter; all of them under the client's lock, since
 * any thread may send.  The owner-only `out_over` flag is written only by
 * the owner's own sends while it serves the client.
 *
 * Two ways in, one order out:
 * - The owner serving a client (its message and connected callbacks run
 *   between tsl__output_begin() and tsl__output_end() on the owner's
 *   thread; the thread-local tsl__tls_serving names that client) appends
 *   to the buffer, whatever it holds.  tsl__output_end() writes the whole
 *   buffer with one send(): a read that carried sixteen frames costs one
 *   system call and one segment for their sixteen replies, not sixteen.
 *   The owner ends serving before it waits again, so nothing waits on a
 *   timer and latency at one connection does not grow.
 * - Any other send (another thread, a timer, a callback sending to some
 *   other client) writes straight to the socket when the buffer is empty,
 *   and otherwise appends behind what is buffered and, if the buffer was
 *   empty, asks the owner to watch for writability.
 * Either way the bytes of one send are buffered or written whole under the
 * lock, so they reach the socket in the order the sends returned.
 *
 * Limits: buffered bytes count against the hard limit (a send past it
 * ends the client with slow-consumer) and against the high watermark: a
 * serving owner whose buffer passes it stops delivering (out_over) and,
 * if the flush leaves it above, stops reading until it falls below the
 * low one.  A client that reads its replies is therefore never dropped
 * for the replies to what it sent in one burst.
 *
 * A send that leaves more than the high watermark queued owes the
 * application a `drained` callback: the owner makes it, once, after the
 * flush that brings the queue to the low watermark or under (a proxy
 * stops reading its source at the first and resumes at the second).
 *
 * The buffer's storage is freed as soon as it drains, so an idle client
 * costs no output memory.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "tsl_internal.h"
#include "tsl_sys.h"

_Thread_local struct tsl_client *tsl__tls_serving;
/* The serving owner's turn: its time, and the messages sent this turn,
 * added to the server's counter once at the end. */
static _Thread_local int64_t serve_now;
static _Thread_local uint64_t serve_msgs;

/* Appends n bytes to the queue, growing it; caller checked limits. */
static int
outq_append(struct tsl_outq *q, const uint8_t *p, size_t n)
{
    struct tsl_outq_mem *m = q->m;

    if (m != NULL && m->head + m->len + n > m->cap && m->head > 0) {
        memmove(m->buf, m->buf + m->head, m->len);
        m->head = 0;
    }
    if (m == NULL || m->len + n > m->cap) {
        size_t len = m != NULL ? m->len : 0;
        size_t cap = m != NULL ? m->cap : 4096;
        struct tsl_outq_mem *nm;
        while (cap < len + n)
            cap *= 2;
        nm = tsl__sys->realloc(m, sizeof(*nm) + cap);
        if (nm == NULL)
            return TSL_ENOMEM;
        if (m == NULL) {
            nm->head = nm->len = 0;
            nm->since = 0;
        }
        nm->cap = cap;
        q->m = m = nm;
    }
    memcpy(m->buf + m->head + m->len, p, n);
    m->len += n;
    return 0;
}

void
tsl__output_free_locked(struct tsl_client *c)
{
    tsl__sys->free(c->out.m);
    c->out.m = NULL;
}

int64_t
tsl__output_since_locked(const struct tsl_client *c)
{
    return tsl__outq_len(&c->out) > 0 ? c->out.m->since : -1;
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

/* Queues p[0..n) behind what is buffered.  Caller holds c's lock. */
static int
queue_locked(struct tsl_client *c, const uint8_t *p, size_t n, bool serving)
{
    size_t len = tsl__outq_len(&c->out);

    if (len + n > c->srv->out_hard) {
        tsl__client_request_close_locked(c, TSL_REASON_SLOW_CONSUMER);
        return TSL_ENOBUFS;
    }
    if (outq_append(&c->out, p, n) < 0) {
        tsl__client_request_close_locked(c, TSL_REASON_SLOW_CONSUMER);
        return TSL_ENOMEM;
    }
    if (len == 0) {
        c->out.m->since = serving ? serve_now : tsl__now_ms();
        if (!serving)
            tsl__client_poke_locked(c, TSL__P_WRITE);
    }
    len += n;
    if (len > c->st.out_queued_peak)
        c->st.out_queued_peak = len;
    if (len > c->srv->out_high)
        atomic_store_explicit(&c->drain_due, true, memory_order_relaxed);
    return 0;
}

int
tsl__output_send(struct tsl_client *c, const void *buf, size_t len,
                 bool is_msg)
{
    const uint8_t *p = buf;
    bool serving = tsl__tls_serving == c;
    size_t off = 0;
    ssize_t r;
    int rc = 0;

    if (len == 0)
        return 0;
    if (len > c->srv->out_hard)
        return TSL_ENOBUFS; /* can never be queued; nothing is sent */
    tsl__client_lock(c);
    if (c->fd < 0 || c->closing) {
        rc = TSL_ENOTCONN;
        goto out;
    }
    if (!serving && tsl__outq_len(&c->out) == 0) {
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
        rc = queue_locked(c, p + off, len - off, serving);
        if (rc < 0)
            goto out;
        if (serving && tsl__outq_len(&c->out) > c->srv->out_high)
            c->out_over = true; /* the owner's own field: we are it */
    }
    if (is_msg) {
        c->st.msgs_out++;
        if (serving)
            serve_msgs++;
        else
            TSL__CTR_ADD(c->srv->ctr.msgs_out, 1);
    } else {
        c->st.keepalives_out++;
    }
out:
    tsl__client_unlock(c);
    return rc;
}

int
tsl_client_send(tsl_client_t *c, const void *buf, size_t len)
{
    return tsl__output_send(c, buf, len, true);
}

size_t
tsl__output_flush_locked(struct tsl_client *c, int64_t now)
{
    struct tsl_outq_mem *m = c->out.m;
    ssize_t r;

    while (m != NULL && m->len > 0 && c->fd >= 0) {
        r = send_some(c->fd, m->buf + m->head, m->len);
        if (r < 0) {
            tsl__client_request_close_locked(c, TSL_REASON_PEER_RESET);
            break;
        }
        if (r == 0)
            break;
        m->head += (size_t)r;
        m->len -= (size_t)r;
        m->since = now;
        count_out(c, (size_t)r);
        /* A short write usually means the socket buffer is full, but not
         * always (a signal, a shim that shortens writes): only EAGAIN
         * says so, at the cost of one more call when it is. */
    }
    if (m == NULL || m->len == 0) {
        tsl__output_free_locked(c);
        return 0;
    }
    return m->len;
}

size_t
tsl__output_flush(struct tsl_client *c, int64_t now)
{
    size_t left;

    tsl__client_lock(c);
    left = tsl__output_flush_locked(c, now);
    tsl__client_unlock(c);
    c->want_write = left > 0;
    return left;
}

size_t
tsl__output_len(struct tsl_client *c)
{
    size_t n;

    tsl__client_lock(c);
    n = tsl__outq_len(&c->out);
    tsl__client_unlock(c);
    return n;
}

/* The server's count of messages sent catches up with the turn's. */
static void
serve_done(struct tsl_client *c)
{
    tsl__tls_serving = NULL;
    if (serve_msgs > 0)
        TSL__CTR_ADD(c->srv->ctr.msgs_out, serve_msgs);
    serve_msgs = 0;
}

void
tsl__output_begin(struct tsl_client *c, int64_t now)
{
    TSL_ASSERT(tsl__tls_serving == NULL);
    tsl__tls_serving = c;
    serve_now = now;
    serve_msgs = 0;
    c->out_over = false;
}

size_t
tsl__output_end(struct tsl_client *c, int64_t now)
{
    size_t left;

    TSL_ASSERT(tsl__tls_serving == c);
    serve_done(c);
    c->out_over = false;
    tsl__client_lock(c);
    /* Output that already waits for writability (the socket was full at
     * the last try, or another thread queued it) would only meet EAGAIN
     * now: it goes at the next writable event. */
    if (c->want_write)
        left = tsl__outq_len(&c->out);
    else
        left = tsl__output_flush_locked(c, now);
    tsl__client_unlock(c);
    c->want_write = left > 0;
    return left;
}

bool
tsl__output_take_drained(struct tsl_client *c)
{
    bool due = false;

    if (!atomic_load_explicit(&c->drain_due, memory_order_relaxed))
        return false; /* the common case: no lock */
    tsl__client_lock(c);
    if (tsl__outq_len(&c->out) <= c->srv->out_low && !c->closing) {
        atomic_store_explicit(&c->drain_due, false, memory_order_relaxed);
        due = true;
    }
    tsl__client_unlock(c);
    return due;
}

/* The serving owner's own sends passed the high watermark. */
bool
tsl__output_over(const struct tsl_client *c)
{
    return c->out_over;
}

void
tsl__output_abandon(struct tsl_client *c)
{
    if (tsl__tls_serving == c)
        serve_done(c);
}

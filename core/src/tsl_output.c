/*
 * tsl_output.c - a connection's output: send, stage, buffer, flush,
 * watermarks.
 *
 * Owns client->out, the bytes accepted by tsl_client_send() that the
 * kernel has not taken yet, with the time they last made progress, and
 * the out_queued_peak counter; all of them under the client's lock, since
 * any thread may send.  Owns the receivers' stages (struct tsl_stage),
 * each touched only by its receiver's thread, and the owner-only flag
 * `out_over`.
 *
 * Two ways in, one order out:
 * - The owner serving a client (its message and connected callbacks run
 *   between tsl__output_begin() and tsl__output_end() on the owner's
 *   thread; the thread-local tsl__tls_serving names that client) stages
 *   its sends in its receiver's stage, without the client's lock.  The
 *   first send of a turn takes the lock once to mark the client
 *   `staging` and note the queue's length (`base`); tsl__output_end()
 *   takes it once more and writes the stage with one send(), straight
 *   from the stage when nothing else is queued.  A read that carried
 *   sixteen frames costs one system call, one segment and two lock
 *   round trips for their sixteen replies.  The owner ends serving before
 *   it waits again, so nothing waits on a timer and latency at one
 *   connection does not grow.
 * - Any other send (another thread, a timer, a callback sending to some
 *   other client) writes straight to the socket when the queue is empty,
 *   and otherwise appends behind what is queued and, if the queue was
 *   empty, asks the owner to watch for writability.  While the client is
 *   `staging` it always appends (behind `base`) and sets `side` instead:
 *   the owner puts its stage in front of those bytes, at `base`, at its
 *   next send or at the end of the turn, whichever comes first.
 * Either way the bytes of one send are staged, buffered or written whole,
 * so they reach the socket in the order the sends returned: a send that
 * returned before another thread's began is in front of it (the owner's
 * stage goes in at `base`, in front of everything queued since; the owner
 * reads `side` before each send, so a send of another thread that
 * returned before its own began is moved in first).
 *
 * Limits: staged and queued bytes count against the hard limit (a send
 * past it ends the client with slow-consumer) and against the high
 * watermark: a serving owner whose output passes it stops delivering
 * (out_over) and, if the flush leaves it above, stops reading until it
 * falls below the low one.  A client that reads its replies is therefore
 * never dropped for the replies to what it sent in one burst.
 *
 * A send that leaves more than the high watermark queued owes the
 * application a `drained` callback: the owner makes it, once, after the
 * flush that brings the queue to the low watermark or under (a proxy
 * stops reading its source at the first and resumes at the second).
 *
 * The counters of a turn's staged sends (msgs_out, keepalives_out,
 * out_queued_peak) are added when the turn ends; the application asking
 * for its client's statistics from that client's callback sees them
 * already (tsl__output_staged_stats_locked()).
 *
 * The queue's storage is freed as soon as it drains, so an idle client
 * costs no output memory; a stage keeps its storage between turns.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "tsl_internal.h"
#include "tsl_sys.h"

_Thread_local struct tsl_client *tsl__tls_serving;
/* The stage of the receiver whose thread this is, while it serves. */
static _Thread_local struct tsl_stage *tls_stage;

/* Makes room for n more bytes in q, growing it; caller checked limits. */
static int
outq_reserve(struct tsl_outq *q, size_t n)
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
        q->m = nm;
    }
    return 0;
}

/* Puts n bytes into the queue at `pos` (0..length), in front of what
 * lies behind it; caller checked limits. */
static int
outq_insert(struct tsl_outq *q, size_t pos, const uint8_t *p, size_t n)
{
    uint8_t *at;

    if (outq_reserve(q, n) < 0)
        return TSL_ENOMEM;
    TSL_ASSERT(pos <= q->m->len);
    at = q->m->buf + q->m->head + pos;
    memmove(at + n, at, q->m->len - pos);
    memcpy(at, p, n);
    q->m->len += n;
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

/* Writes p[0..n) as far as the socket takes it now; returns the bytes
 * written, or -errno after asking for the client's end (peer-reset).
 * Caller holds c's lock. */
static ssize_t
write_locked(struct tsl_client *c, const uint8_t *p, size_t n)
{
    size_t off = 0;
    ssize_t r = 0;

    while (off < n) {
        r = send_some(c->fd, p + off, n - off);
        if (r <= 0)
            break;
        off += (size_t)r;
        /* A short write usually means the socket buffer is full, but not
         * always (a signal, a shim that shortens writes): only EAGAIN
         * says so, at the cost of one more call when it is. */
    }
    if (off > 0) { /* written, even if an error followed */
        c->st.bytes_out += off;
        c->st.last_send_ms = tsl__wall_ms();
        TSL__CTR_ADD(c->srv->ctr.bytes_out, off);
    }
    if (r < 0) {
        tsl__client_request_close_locked(c, TSL_REASON_PEER_RESET);
        return r;
    }
    return (ssize_t)off;
}

static void
note_peak_locked(struct tsl_client *c, size_t len)
{
    if (len > c->st.out_queued_peak)
        c->st.out_queued_peak = len;
}

/* Queues p[0..n) at `pos` of the queue, checking the limits.  Caller
 * holds c's lock. */
static int
queue_locked(struct tsl_client *c, size_t pos, const uint8_t *p, size_t n,
             int64_t now)
{
    size_t len = tsl__outq_len(&c->out);

    if (len + n > c->srv->out_hard) {
        tsl__client_request_close_locked(c, TSL_REASON_SLOW_CONSUMER);
        return TSL_ENOBUFS;
    }
    if (outq_insert(&c->out, pos, p, n) < 0) {
        tsl__client_request_close_locked(c, TSL_REASON_SLOW_CONSUMER);
        return TSL_ENOMEM;
    }
    if (len == 0)
        c->out.m->since = now;
    note_peak_locked(c, len + n);
    if (len + n > c->srv->out_high)
        atomic_store_explicit(&c->drain_due, true, memory_order_relaxed);
    return 0;
}

/* The owner's stage goes into the queue at its base, in front of what
 * other threads queued meanwhile, and staging goes on behind them.
 * Caller holds c's lock. */
static void
unstage_locked(struct tsl_client *c, struct tsl_stage *st)
{
    if (st->len > 0 && c->fd >= 0)
        queue_locked(c, st->base, st->buf, st->len, st->now);
    st->len = 0;
    st->base = tsl__outq_len(&c->out);
    atomic_store_explicit(&c->side, false, memory_order_relaxed);
}

/* The turn's counts join the client's and the server's.  Caller holds
 * c's lock. */
static void
count_turn_locked(struct tsl_client *c, struct tsl_stage *st)
{
    c->st.msgs_out += st->msgs;
    c->st.keepalives_out += st->kas;
    if (st->msgs > 0)
        TSL__CTR_ADD(c->srv->ctr.msgs_out, st->msgs);
    st->msgs = st->kas = 0;
}

/* The serving owner's send: staged.  The lock is taken at the first send
 * of a turn and when another thread queued meanwhile, not otherwise. */
static __attribute__((noinline)) int
stage_send_slow(struct tsl_client *c, struct tsl_stage *st,
                const uint8_t *p, size_t n, bool is_msg)
{
    struct tsl_server *srv = c->srv;
    size_t total;

    if (atomic_load_explicit(&c->closing, memory_order_relaxed))
        return TSL_ENOTCONN;
    if (!st->open) {
        tsl__client_lock(c);
        if (c->fd < 0 || c->closing) {
            tsl__client_unlock(c);
            return TSL_ENOTCONN;
        }
        c->staging = true;
        st->open = true;
        st->base = tsl__outq_len(&c->out);
        tsl__client_unlock(c);
    } else if (atomic_load_explicit(&c->side, memory_order_acquire)) {
        tsl__client_lock(c);
        unstage_locked(c, st);
        tsl__client_unlock(c);
    }
    total = st->base + st->len + n;
    if (total > srv->out_hard || total < n) {
        tsl__client_lock(c);
        tsl__client_request_close_locked(c, TSL_REASON_SLOW_CONSUMER);
        tsl__client_unlock(c);
        return TSL_ENOBUFS;
    }
    if (st->len + n > st->cap) {
        size_t cap = st->cap != 0 ? st->cap : 4096;
        uint8_t *nb;
        while (cap < st->len + n)
            cap *= 2;
        nb = tsl__sys->realloc(st->buf, cap);
        if (nb == NULL) {
            tsl__client_lock(c);
            tsl__client_request_close_locked(c, TSL_REASON_SLOW_CONSUMER);
            tsl__client_unlock(c);
            return TSL_ENOMEM;
        }
        st->buf = nb;
        st->cap = cap;
    }
    memcpy(st->buf + st->len, p, n);
    st->len += n;
    if (total > srv->out_high) {
        c->out_over = true; /* the owner's own field: we are it */
        atomic_store_explicit(&c->drain_due, true, memory_order_relaxed);
    }
    if (is_msg)
        st->msgs++;
    else
        st->kas++;
    return 0;
}

/* stage_send_slow()'s common case, a message in a turn already staging:
 * nothing queued by others, room in the stage, under the high watermark
 * (which is under the hard limit). */
static inline int
stage_send(struct tsl_client *c, struct tsl_stage *st, const uint8_t *p,
           size_t n, bool is_msg)
{
    if (is_msg && st->open && st->len + n <= st->cap &&
        st->base + st->len + n <= c->srv->out_high &&
        !atomic_load_explicit(&c->side, memory_order_acquire) &&
        !atomic_load_explicit(&c->closing, memory_order_relaxed)) {
        memcpy(st->buf + st->len, p, n);
        st->len += n;
        st->msgs++;
        return 0;
    }
    return stage_send_slow(c, st, p, n, is_msg);
}

/* A send from anywhere but the thread serving c. */
static int
send_other(struct tsl_client *c, const uint8_t *p, size_t len, bool is_msg)
{
    ssize_t off = 0;
    int rc = 0;

    tsl__client_lock(c);
    if (c->fd < 0 || c->closing) {
        rc = TSL_ENOTCONN;
        goto out;
    }
    if (c->staging) {
        /* Behind the owner's stage, which it flushes at its turn's end. */
        rc = queue_locked(c, tsl__outq_len(&c->out), p, len,
                          tsl__now_ms());
        if (rc < 0)
            goto out;
        atomic_store_explicit(&c->side, true, memory_order_release);
    } else {
        if (tsl__outq_len(&c->out) == 0) {
            off = write_locked(c, p, len);
            if (off < 0) {
                rc = (int)off;
                goto out;
            }
        }
        if ((size_t)off < len) {
            bool was_empty = tsl__outq_len(&c->out) == 0;
            rc = queue_locked(c, tsl__outq_len(&c->out), p + off,
                              len - (size_t)off, tsl__now_ms());
            if (rc < 0)
                goto out;
            if (was_empty)
                tsl__client_poke_locked(c, TSL__P_WRITE);
        }
    }
    if (is_msg) {
        c->st.msgs_out++;
        TSL__CTR_ADD(c->srv->ctr.msgs_out, 1);
    } else {
        c->st.keepalives_out++;
    }
out:
    tsl__client_unlock(c);
    return rc;
}

int
tsl__output_send(struct tsl_client *c, const void *buf, size_t len,
                 bool is_msg)
{
    const uint8_t *p = buf;

    if (len == 0)
        return 0;
    if (len > c->srv->out_hard)
        return TSL_ENOBUFS; /* can never be queued; nothing is sent */
    if (tsl__tls_serving == c)
        return stage_send(c, tls_stage, p, len, is_msg);
    return send_other(c, p, len, is_msg);
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

    /* Never while the owner stages: its stage's base would move. */
    TSL_ASSERT(!c->staging);
    if (m != NULL && m->len > 0 && c->fd >= 0) {
        r = write_locked(c, m->buf + m->head, m->len);
        if (r > 0) {
            m->head += (size_t)r;
            m->len -= (size_t)r;
            m->since = now;
        }
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
    if (tsl__tls_serving == c)
        n += tls_stage->len;
    return n;
}

void
tsl__output_staged_stats_locked(const struct tsl_client *c,
                                tsl_client_stats_t *s)
{
    const struct tsl_stage *st = tls_stage;

    if (tsl__tls_serving != c || !st->open)
        return;
    s->msgs_out += st->msgs;
    s->keepalives_out += st->kas;
    s->out_queued += st->len;
    if (s->out_queued > s->out_queued_peak)
        s->out_queued_peak = s->out_queued;
}

void
tsl__output_begin(struct tsl_client *c, int64_t now, struct tsl_stage *st)
{
    TSL_ASSERT(tsl__tls_serving == NULL);
    tsl__tls_serving = c;
    tls_stage = st;
    st->now = now;
    st->len = 0;
    st->msgs = st->kas = 0;
    st->open = false;
    c->out_over = false;
}

/* Ends the turn's staging: the stage joins the queue, or (wr true, and
 * nothing queued or waiting for writability) is written straight from
 * the stage, the rest queued.  Returns whether it wrote.  Caller holds c's
 * lock. */
static bool
stage_close_locked(struct tsl_client *c, struct tsl_stage *st, bool wr)
{
    bool wrote = false;
    ssize_t r;

    if (!st->open)
        return false;
    if (wr && st->len > 0 && tsl__outq_len(&c->out) == 0 &&
        !c->want_write && c->fd >= 0) {
        note_peak_locked(c, st->len);
        r = write_locked(c, st->buf, st->len);
        if (r >= 0 && (size_t)r < st->len)
            queue_locked(c, 0, st->buf + r, st->len - (size_t)r, st->now);
        st->len = 0;
        wrote = true;
    } else {
        unstage_locked(c, st);
    }
    count_turn_locked(c, st);
    c->staging = false;
    atomic_store_explicit(&c->side, false, memory_order_relaxed);
    st->open = false;
    return wrote;
}

/* A stage that grew past what it keeps gives the memory back. */
static void
stage_trim(struct tsl_stage *st)
{
    if (st->cap > st->keep)
        tsl__output_stage_free(st);
}

size_t
tsl__output_end(struct tsl_client *c, int64_t now)
{
    struct tsl_stage *st = tls_stage;
    size_t left;
    bool wrote;

    TSL_ASSERT(tsl__tls_serving == c);
    tsl__tls_serving = NULL;
    tls_stage = NULL;
    c->out_over = false;
    st->now = now;
    tsl__client_lock(c);
    wrote = stage_close_locked(c, st, true);
    /* Output that already waits for writability (the socket was full at
     * the last try, or another thread queued it) would only meet EAGAIN
     * now: it goes at the next writable event; so would what the stage's
     * write just left. */
    if (c->want_write || wrote)
        left = tsl__outq_len(&c->out);
    else
        left = tsl__output_flush_locked(c, now);
    tsl__client_unlock(c);
    c->want_write = left > 0;
    stage_trim(st);
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

void
tsl__output_abandon(struct tsl_client *c)
{
    struct tsl_stage *st = tls_stage;

    if (tsl__tls_serving != c)
        return;
    tsl__tls_serving = NULL;
    tls_stage = NULL;
    if (st->open) {
        tsl__client_lock(c);
        stage_close_locked(c, st, false);
        tsl__client_unlock(c);
    }
    stage_trim(st);
}

void
tsl__output_stage_free(struct tsl_stage *st)
{
    tsl__sys->free(st->buf);
    st->buf = NULL;
    st->len = st->cap = 0;
}

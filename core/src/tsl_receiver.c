/*
 * tsl_receiver.c - the receive threads (the course's DRS, and its
 * multi-threaded clients).
 *
 * A receiver serves the clients it owns: it reads into each client's
 * circular buffer, runs the framer, delivers messages, flushes queued
 * output when sockets become writable, runs the keepalive timers, and
 * finishes clients (EOF, reset, protocol error, slow consumer, forced
 * close, keepalive expiry, shutdown).  Two kinds share all of that code:
 * the server's shared receiver multiplexes every client with select()
 * (or epoll, the backend chosen per server: same code, another wait);
 * a dedicated receiver serves one client with poll() on a thread of its
 * own and ends when that client leaves (multi-threaded mode).
 *
 * A receiver owns its array of clients and their owner-only fields; other
 * threads reach it only through its wakeup queue (new clients, close
 * requests, output waiting, keepalive changes, migrations) and the
 * server's atomic flags.
 *
 * Migration: the current owner takes the client out of its array between
 * two waits (so no read is in progress), cancels its timer and hands it to
 * the target's queue.  From then until the target adopts it nobody reads
 * the socket: bytes wait in the kernel, in order.  The receive ring, the
 * framer's state, the keepalive timestamp and the queued output all live
 * in the client object and so move with it; a message half-received is
 * completed by the new owner.  Callbacks run on the old owner until the
 * hand-off and on the new one after adoption, so they never overlap.
 *
 * Backpressure: a client whose queued output passes the high watermark is
 * not read until the queue falls below the low one; output that makes no
 * progress for stall_ms ends the client with slow-consumer.
 *
 * Keepalive and output stalls: each receiver owns a timer wheel and drives
 * it from its wait timeout, so timers live on this one thread.
 *
 * Cost per turn: only clients with something to do are touched - those
 * the wait reported, those touched through the queue, migrated ones - via
 * the turn's work list; timers do the periodic checks.  On epoll a turn
 * therefore costs the same with 10 or 10,000 idle clients; select() has to
 * rebuild its sets from every client, and poll() serves one.
 *
 * Readiness comes from a poller (tsl_poller.h): the server's backend for
 * the shared receiver, poll() for a dedicated one.  A descriptor the
 * poller cannot watch (select: its fd_limit) never gets here: admission
 * and migration refuse it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tsl_internal.h"
#include "tsl_poller.h"
#include "tsl_sys.h"


/* The receiver this thread is (NULL on other threads). */
static _Thread_local struct tsl_receiver *tls_rx;

/* A receiver handing something to itself (a callback sending, closing,
 * migrating; the hosted acceptor) needs no wake-up: its loop takes the
 * queue until it is empty before every wait. */
static int
rx_enqueue(struct tsl_owner *o, struct tsl_client *c)
{
    struct tsl_receiver *rx = (struct tsl_receiver *)o;

    return tsl__wakeup_push(&rx->wk, c, tls_rx != rx);
}

static void rx_finish(struct tsl_receiver *rx, struct tsl_client *c,
                      tsl_reason_t why);
static bool listening(struct tsl_receiver *rx);
static int sock_error(struct tsl_client *c);

/* ---- the client's timer: keepalive, frames, keepalives out, stalls ---- */

/*
 * One wheel timer per client carries every deadline it has, and is armed
 * for the earliest; when it fires it acts on those that are due and
 * re-arms for the rest.  Four timers of 48 bytes were a quarter of an idle
 * client.  The deadlines:
 * - keepalive expiry: receiving only records the time (ka_last), so a busy
 *   client costs no timer work per read; expiry is at most a tick late,
 *   and never while bytes wait unread in the kernel (bytes_wait);
 * - frame completion: a frame whose first bytes wait in the ring must be
 *   complete within the server's frame timeout (frame_start);
 * - keepalive frames out (client mode): ka_send_at;
 * - output stall: output waiting without progress for stall_ms (stall_on
 *   while output waits; the queue's time, written under the client lock by
 *   whoever sent, says when it last moved).
 */
/* The client's hold: its own, or the server's as its owner applied it
 * (a change takes effect where the owner applies it, so that switching
 * keepalive on can give every client its full hold from then). */
static int64_t
ka_hold(const struct tsl_receiver *rx, const struct tsl_client *c)
{
    return c->ka_hold != TSL__KA_SERVER ? (int64_t)c->ka_hold
                                        : (int64_t)rx->ka_srv_hold;
}

static int64_t
frame_deadline(struct tsl_client *c)
{
    uint32_t ms = atomic_load(&c->srv->frame_ms);

    return ms == 0 || c->frame_start == 0 ? -1 : c->frame_start + ms;
}

/* When c's output will have been stuck for stall_ms (-1: none waits). */
static int64_t
stall_deadline(struct tsl_client *c)
{
    int64_t since = -1;

    if (!c->stall_on)
        return -1;
    tsl__client_lock(c);
    since = tsl__output_since_locked(c);
    tsl__client_unlock(c);
    return since < 0 ? -1 : since + c->srv->stall_ms;
}

static int64_t
earlier(int64_t a, int64_t b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* Arms c's timer for its earliest deadline, or cancels it. */
static void
ka_arm(struct tsl_receiver *rx, struct tsl_client *c, int64_t now)
{
    int64_t hold = ka_hold(rx, c), at = frame_deadline(c);

    if (hold != 0)
        at = earlier(at, c->ka_last + hold);
    at = earlier(at, c->ka_send_at > 0 ? c->ka_send_at : -1);
    at = earlier(at, stall_deadline(c));
    if (at < 0)
        tsl__wheel_cancel(&rx->wheel, &c->ka);
    else
        tsl__wheel_start(&rx->wheel, &c->ka, now, at > now ? at - now : 0);
}

/* Client mode: a connection we made sends keepalive frames so that the
 * remote side keeps it alive. */
static void
ka_send_arm(struct tsl_receiver *rx, struct tsl_client *c, int64_t now)
{
    uint32_t every = atomic_load(&c->srv->ka_interval_ms);
    uint8_t frame[4];

    if (c->connector == NULL || every == 0 ||
        tsl__framer_keepalive(&c->srv->framing, frame) == 0)
        c->ka_send_at = 0;
    else
        c->ka_send_at = now + every;
    ka_arm(rx, c, now);
}

/* Do bytes wait in the kernel, unread?  A client the receiver does not
 * read (paused at the high watermark, NOT_LISTENING, migrating) may be
 * talking all the while: its silence is the server's, not the peer's.
 * 1 if they do, 0 if not, -1 if the connection was reset (select() shows
 * no error for a socket it does not wait on: the peek is the first to
 * see it). */
static int
bytes_wait(struct tsl_client *c)
{
    uint8_t b;
    ssize_t r;

    /* Hung up and parked (rx_watch): it says no more, but it may have
     * been reset since, or before the receiver stopped reading it (the
     * error came with a readiness it did not act on, NOT_LISTENING having
     * been set meanwhile): SO_ERROR tells. */
    if (!c->watched)
        return sock_error(c) != 0 ? -1 : 0;
    do
        r = tsl__sys->recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        return -1;
    return r > 0;
}

static void
ka_fire(struct tsl_timer *t, int64_t now, void *arg)
{
    struct tsl_client *c =
        (struct tsl_client *)((char *)t - offsetof(struct tsl_client, ka));
    struct tsl_receiver *rx = arg;
    int64_t hold = ka_hold(rx, c), frame = frame_deadline(c);
    int64_t stall = stall_deadline(c);

    (void)t;
    if (frame >= 0 && now >= frame) {
        /* A slow partial frame (slowloris): the stream is not usable. */
        tsl__client_lock(c);
        c->st.protocol_errors++;
        tsl__client_unlock(c);
        TSL__CTR_ADD(c->srv->ctr.protocol_errors, 1);
        rx_finish(rx, c, TSL_REASON_PROTOCOL_ERROR);
        return;
    }
    if (stall >= 0 && now >= stall && c->want_write) {
        rx_finish(rx, c, TSL_REASON_SLOW_CONSUMER);
        return;
    }
    if (hold != 0 && now - c->ka_last >= hold) {
        int w = bytes_wait(c);
        if (w <= 0) {
            rx_finish(rx, c, w < 0 ? TSL_REASON_PEER_RESET
                                   : TSL_REASON_KA_EXPIRED);
            return;
        }
        c->ka_last = now; /* not silent: bytes wait for the server */
    }
    if (c->ka_send_at > 0 && now >= c->ka_send_at) {
        uint8_t fr[4];
        size_t n = tsl__framer_keepalive(&c->srv->framing, fr);
        if (n > 0)
            tsl__output_send(c, fr, n, false);
        ka_send_arm(rx, c, now); /* re-arms the timer too */
        return;
    }
    ka_arm(rx, c, now);
}

/* After a service: a frame has started if bytes wait in the ring while
 * the client is read (not while reading is paused or the server does not
 * listen: then the wait is the server's). */
static void
frame_watch(struct tsl_receiver *rx, struct tsl_client *c, int64_t now)
{
    bool started = tsl__cbuf_size(&c->in) > 0 && !c->paused &&
                   listening(rx) && !atomic_load(&c->read_paused) &&
                   atomic_load(&c->srv->frame_ms) != 0;

    if (started && c->frame_start == 0) {
        c->frame_start = now;
        ka_arm(rx, c, now);
    } else if (!started) {
        c->frame_start = 0; /* a timer that fires re-arms for keepalive */
    }
}

/* ---- the turn's work list ---- */

/* c is serviced this turn (once, however often it is added). */
static void
work_add(struct tsl_receiver *rx, struct tsl_client *c)
{
    if (c->in_work)
        return;
    c->in_work = true;
    c->work_next = rx->work;
    rx->work = c;
}

static struct tsl_client *
work_pop(struct tsl_receiver *rx)
{
    struct tsl_client *c = rx->work;

    if (c != NULL) {
        rx->work = c->work_next;
        c->work_next = NULL;
        c->in_work = false;
    }
    return c;
}

/* Unlinks c (leaving the receiver); the list is short: one turn's work. */
static void
work_remove(struct tsl_receiver *rx, struct tsl_client *c)
{
    struct tsl_client **pp;

    if (!c->in_work)
        return;
    for (pp = &rx->work; *pp != c; pp = &(*pp)->work_next)
        TSL_ASSERT(*pp != NULL);
    *pp = c->work_next;
    c->work_next = NULL;
    c->in_work = false;
}

/* ---- output stalls ---- */

/* The stall deadline joins c's timer while output waits; when none waits
 * it is dropped lazily (a firing timer re-arms without it). */
static void
stall_watch(struct tsl_receiver *rx, struct tsl_client *c, int64_t now)
{
    if (c->want_write && !c->stall_on) {
        c->stall_on = true;
        ka_arm(rx, c, now);
    } else if (!c->want_write) {
        c->stall_on = false;
    }
}

/* ---- registration with the poller ---- */

static bool wants_read(struct tsl_receiver *rx, struct tsl_client *c);
static bool listening(struct tsl_receiver *rx);
static void rx_unwatch(struct tsl_receiver *rx, struct tsl_client *c,
                       bool closing);

/* The read interest to register.  It follows the receiver's view of
 * NOT_LISTENING (listen_on, brought up to date once a turn, every client
 * resynced when it changes), not the flag's value of the moment: a flag
 * set and cleared by another thread while a client is served would
 * otherwise leave that client registered without read interest, and no
 * turn would see a change to resync.  Reading itself checks the flag of
 * the moment (rx_service). */
static bool
interest_read(struct tsl_receiver *rx, struct tsl_client *c)
{
    return rx->listen_on && !c->paused && !c->eof &&
           !atomic_load_explicit(&c->read_paused, memory_order_relaxed);
}

/* Brings c's registered interest up to date; a call only on change.
 * Returns false if the poller refused (the client cannot be served). */
static bool
rx_watch(struct tsl_receiver *rx, struct tsl_client *c)
{
    struct tsl_poller *p = &rx->poller;
    unsigned want = (interest_read(rx, c) ? TSL_POLL_IN : 0) |
                    (c->want_write ? TSL_POLL_OUT : 0);

    /* A hang-up or error is reported at every wait whatever the interest
     * (epoll, poll): a client neither read nor written meanwhile would
     * make every wait return at once.  It leaves the poller until it is
     * read or written again, which then tells what happened (a reset one
     * is finished at once: rx_service). */
    if (want == 0 && c->err_seen) {
        if (c->watched)
            rx_unwatch(rx, c, false);
        return true;
    }
    if (c->watched && c->watch_ev == want)
        return true;
    if ((c->watched ? p->ops->mod : p->ops->add)(p, c->fd, want, c) < 0)
        return false;
    c->watched = true;
    c->watch_ev = (uint8_t)want;
    return true;
}

/* Takes c out of the poller; `closing`: its socket is about to close. */
static void
rx_unwatch(struct tsl_receiver *rx, struct tsl_client *c, bool closing)
{
    if (c->watched)
        rx->poller.ops->del(&rx->poller, c->fd, closing);
    c->watched = false;
    c->watch_ev = 0;
}

static int
rx_add(struct tsl_receiver *rx, struct tsl_client *c)
{
    int64_t now = tsl__now_ms();
    bool migrated;

    if (rx->n == rx->cap) {
        size_t cap = rx->cap ? rx->cap * 2 : (rx->dedicated ? 1 : 64);
        struct tsl_client **a = tsl__sys->realloc(rx->clients, cap * sizeof(*a));
        if (a == NULL)
            return TSL_ENOMEM;
        rx->clients = a;
        rx->cap = cap;
    }
    c->slot = (uint32_t)rx->n;
    rx->clients[rx->n++] = c;
    rx->had_client = true;
    c->ready_r = c->ready_w = false;
    tsl__client_lock(c);
    c->threaded = rx->dedicated;
    migrated = c->adopted;
    if (migrated)
        c->st.migrations++;
    c->adopted = true;
    c->ka_hold = c->ka_override;
    tsl__client_unlock(c);
    /* A migrated client: bytes may have waited in the kernel during the
     * hand-off, and frames in its ring: read and deliver once before the
     * next request is handled, so a client that is moved again and again
     * still makes progress.  (A new client has nothing of that kind: the
     * next wait reports its first bytes.) */
    if (migrated) {
        c->fresh = true;
        work_add(rx, c);
    }
    if (c->ka_last == 0)
        c->ka_last = now; /* new; a migrated client keeps its time */
    tsl__timer_init(&c->ka);
    c->stall_on = false;
    ka_send_arm(rx, c, now); /* and arms the timer */
    return 0;
}

/* Takes c out of the array (the client itself is untouched); `closing`
 * says its socket is about to be closed. */
static void
rx_remove(struct tsl_receiver *rx, struct tsl_client *c, bool closing)
{
    size_t i = c->slot;

    TSL_ASSERT(i < rx->n && rx->clients[i] == c);
    rx->clients[i] = rx->clients[--rx->n];
    rx->clients[i]->slot = (uint32_t)i;
    tsl__wheel_cancel(&rx->wheel, &c->ka);
    work_remove(rx, c);
    rx_unwatch(rx, c, closing);
}

static void
rx_finish(struct tsl_receiver *rx, struct tsl_client *c, tsl_reason_t why)
{
    tsl__output_abandon(c); /* if it was being served: it ends here */
    rx_remove(rx, c, true);
    tsl__client_finish(c, why);
}

/* Hands c to the receiver it was asked to move to. */
static void
rx_migrate(struct tsl_receiver *rx, struct tsl_client *c)
{
    struct tsl_receiver *to;

    tsl__client_lock(c);
    to = c->migrate_to;
    c->migrate_to = NULL;
    atomic_store(&c->migrating, false);
    tsl__client_unlock(c);
    if (to == NULL || to == rx)
        return;
    rx_remove(rx, c, false);
    if (tsl__client_handoff(c, &to->owner, &rx->wk) < 0)
        tsl__client_finish(c, TSL_REASON_SHUTDOWN); /* the target stops */
}

/* After c's state changed (serviced, or touched through the queue):
 * brings its registered interest and stall timer up to date.  Returns
 * false if it had to be finished (the kernel refused to watch it). */
static bool
rx_settle(struct tsl_receiver *rx, struct tsl_client *c, int64_t now)
{
    if (!rx_watch(rx, c)) {
        rx_finish(rx, c, TSL_REASON_SLOW_CONSUMER);
        return false;
    }
    stall_watch(rx, c, now);
    return true;
}

/* Takes the hand-off queue: adoptions, close requests, output waiting,
 * keepalive changes, migrations. */
static void
rx_process_queue(struct tsl_receiver *rx)
{
    struct tsl_client *c, *next;
    unsigned f;
    bool closed;

    /* Until empty: callbacks run from here may queue to this receiver
     * again, without waking it. */
    for (c = tsl__wakeup_take(&rx->wk, false); c != NULL;
         c = next != NULL ? next : tsl__wakeup_take(&rx->wk, false)) {
        next = c->q_next;
        c->q_next = NULL;
        f = tsl__client_take_pending(c, &closed);
        if (closed)
            goto next;
        if ((f & TSL__P_ADOPT) && rx_add(rx, c) < 0) {
            /* No room to watch it: it cannot be served at all. */
            tsl__client_finish(c, TSL_REASON_SLOW_CONSUMER);
            goto next;
        }
        if (f & TSL__P_CLOSE) {
            rx_finish(rx, c, c->close_reason);
            goto next;
        }
        if (f & TSL__P_WRITE)
            c->want_write = true;
        if (f & TSL__P_KA) {
            int64_t was = ka_hold(rx, c), t = tsl__now_ms();
            c->ka_hold = tsl__client_ka_override(c);
            if (was == 0 && ka_hold(rx, c) != 0)
                c->ka_last = t; /* switched on: a full hold from now */
            ka_arm(rx, c, t);
        }
        if ((f & TSL__P_READ) && !atomic_load(&c->read_paused) &&
            (tsl__cbuf_size(&c->in) > 0 || c->eof) && !c->paused) {
            c->redeliver = tsl__cbuf_size(&c->in) > 0; /* held frames first */
            work_add(rx, c);
        }
        if (!rx_settle(rx, c, tsl__now_ms()))
            goto next;
        /* Last: after the hand-off the client is no longer ours to touch. */
        if (f & TSL__P_MIGRATE)
            rx_migrate(rx, c);
    next:
        tsl_client_unref(c); /* the queue's reference */
    }
}

/* ---- reading and delivering ---- */

/* Drops the first n bytes of the spans. */
static void
span_skip(struct tsl_span sp[2], size_t n)
{
    if (n < sp[0].n) {
        sp[0].p += n;
        sp[0].n -= n;
        return;
    }
    n -= sp[0].n;
    sp[0] = sp[1];
    sp[1].p = NULL;
    sp[1].n = 0;
    if (n > 0) {
        sp[0].p += n;
        sp[0].n -= n;
    }
}

/* Counts one read - its bytes, keepalives and (for the server) messages -
 * at once: one lock a read, not one a message (the client's messages are
 * counted as they are delivered). */
static void
count_read(struct tsl_client *c, size_t bytes, uint64_t kas, uint64_t msgs,
           bool err)
{
    struct tsl_server *srv = c->srv;

    if (msgs > 0)
        TSL__CTR_ADD(srv->ctr.msgs_in, msgs);
    if (bytes == 0 && kas == 0 && !err)
        return;
    tsl__client_lock(c);
    c->st.keepalives_in += kas;
    c->st.protocol_errors += err;
    if (bytes > 0) {
        c->st.bytes_in += bytes;
        c->st.last_recv_ms = tsl__wall_ms();
    }
    tsl__client_unlock(c);
    if (bytes > 0)
        TSL__CTR_ADD(srv->ctr.bytes_in, bytes);
    if (kas > 0)
        TSL__CTR_ADD(srv->ctr.keepalives_in, kas);
    if (err)
        TSL__CTR_ADD(srv->ctr.protocol_errors, 1);
}

/* Runs the framer over the `avail` bytes in sp (the client's ring, or a
 * read still in the scratch buffer) and delivers every whole message,
 * until the bytes run out or delivery must pause; counts them with the
 * `bytes` just read.  Returns the bytes consumed, or -1 if the client was
 * finished (a protocol error). */
static long
rx_frames(struct tsl_receiver *rx, struct tsl_client *c, struct tsl_span sp[2],
          size_t avail, size_t bytes)
{
    struct tsl_server *srv = c->srv;
    struct tsl_frame fr;
    const uint8_t *msg;
    uint64_t kas = 0, msgs = 0;
    size_t used = 0;
    int k;

    for (;;) {
        k = tsl__framer_next(&c->srv->framing, &c->framer, sp, avail - used,
                             &fr);
        if (k == TSL_FRAME_NEED_MORE)
            break;
        /* A frame must consume something and lie within the buffer;
         * anything else would loop forever (the course's length 0). */
        if (k > 0 && (fr.total == 0 || fr.total > avail - used ||
                      fr.off + fr.len > fr.total))
            k = TSL_EPROTO;
        if (k < 0) {
            count_read(c, bytes, kas, msgs, true);
            rx_finish(rx, c, TSL_REASON_PROTOCOL_ERROR);
            return -1;
        }
        if (k == TSL_FRAME_KEEPALIVE) {
            kas++;
            used += fr.total;
            span_skip(sp, fr.total);
            continue;
        }
        /* A message that wraps around the ring is copied to be contiguous
         * (a read in the scratch buffer never wraps). */
        if (fr.off + fr.len <= sp[0].n) {
            msg = sp[0].p + fr.off;
        } else if (fr.off >= sp[0].n) {
            msg = sp[1].p + (fr.off - sp[0].n);
        } else {
            TSL_ASSERT(fr.len <= rx->scratch_cap && sp[0].p != rx->scratch);
            tsl__span_copy(sp, fr.off, rx->scratch, fr.len);
            msg = rx->scratch;
        }
        /* Counted before the callback runs: whoever sees the message (an
         * event it prints) sees it in the client's statistics too.  The
         * owner is the counter's only writer, so a load and a store do
         * (no locked instruction per message); the server's counter is
         * added to once for the read, below. */
        atomic_store_explicit(&c->msgs_in,
                              atomic_load_explicit(&c->msgs_in,
                                                   memory_order_relaxed) + 1,
                              memory_order_relaxed);
        msgs++;
        if (srv->cb.message != NULL)
            srv->cb.message(srv, c, msg, fr.len, srv->ud);
        used += fr.total;
        span_skip(sp, fr.total);
        /* A close or migration requested from the callback, or a stop,
         * takes effect before any further message is delivered, and so
         * does output past the high watermark (the rest is delivered once
         * it has been written); the rest stays buffered and moves with a
         * migrating client. */
        if (atomic_load(&c->closing) || atomic_load(&rx->stop) ||
            atomic_load(&c->migrating) || tsl__output_over(c) ||
            atomic_load_explicit(&c->read_paused, memory_order_relaxed))
            break;
    }
    count_read(c, bytes, kas, msgs, false);
    return (long)used;
}

/* Delivers what waits in the client's ring (`bytes` of it just read).
 * Returns false if the client was finished. */
static bool
rx_deliver(struct tsl_receiver *rx, struct tsl_client *c, size_t bytes)
{
    struct tsl_span sp[2];
    long used;

    tsl__cbuf_spans(&c->in, sp);
    used = rx_frames(rx, c, sp, tsl__cbuf_size(&c->in), bytes);
    if (used < 0)
        return false;
    tsl__cbuf_consume(&c->in, (size_t)used);
    tsl__cbuf_release(&c->in);
    return true;
}

/*
 * One read from a readable client.  Returns false if it was finished.
 *
 * With nothing buffered, the read goes to the receiver's scratch buffer
 * (as large as the ring, 64 KiB at least) and frames are delivered from
 * there; only a partial frame at its end is copied into the client's
 * ring.  A stream of whole frames therefore never touches the ring, whose
 * storage stays unallocated.  With a partial frame buffered, the read
 * goes into the ring's free space behind it.
 */
static bool
rx_read(struct tsl_receiver *rx, struct tsl_client *c, int64_t now)
{
    /* Always so for `none`, which has no ring. */
    bool flat = tsl__cbuf_size(&c->in) == 0;
    struct tsl_span sp[2];
    struct iovec iov[2];
    uint8_t *p[2];
    size_t n[2];
    ssize_t r;
    long used;
    int k = 0;

    if (flat) {
        size_t want = c->in.cap != 0 ? c->in.cap : rx->scratch_cap;
        TSL_ASSERT(want <= rx->scratch_cap);
        do
            r = tsl__sys->recv(c->fd, rx->scratch, want, 0);
        while (r < 0 && errno == EINTR);
    } else {
        k = tsl__cbuf_free_spans(&c->in, p, n);
        if (k < 0) {
            rx_finish(rx, c, TSL_REASON_SLOW_CONSUMER);
            return false;
        }
        /* The framer errors out before the ring can fill (docs). */
        TSL_ASSERT(k > 0);
        iov[0].iov_base = p[0];
        iov[0].iov_len = n[0];
        iov[1].iov_base = p[1];
        iov[1].iov_len = n[1];
        do
            r = tsl__sys->readv(c->fd, iov, k);
        while (r < 0 && errno == EINTR);
    }
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            tsl__cbuf_release(&c->in);
            return true;
        }
        rx_finish(rx, c, TSL_REASON_PEER_RESET);
        return false;
    }
    if (r == 0) {
        tsl__cbuf_release(&c->in);
        c->eof = true; /* finished once output drains (rx_service) */
        return true;
    }
    c->ka_last = now;
    if (!flat) {
        tsl__cbuf_commit(&c->in, (size_t)r);
        return rx_deliver(rx, c, (size_t)r);
    }
    sp[0].p = rx->scratch;
    sp[0].n = (size_t)r;
    sp[1].p = NULL;
    sp[1].n = 0;
    used = rx_frames(rx, c, sp, (size_t)r, (size_t)r);
    if (used < 0)
        return false;
    /* The rest (a partial frame, or frames not delivered yet) fits: the
     * ring is empty and at least as large as the read. */
    if ((size_t)used < (size_t)r &&
        tsl__cbuf_write(&c->in, rx->scratch + used, (size_t)r - used) <= 0) {
        rx_finish(rx, c, TSL_REASON_SLOW_CONSUMER); /* no memory */
        return false;
    }
    return true;
}

/* The socket's pending error (SO_ERROR), 0 if none or unknown. */
static int
sock_error(struct tsl_client *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (tsl__sys->getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return 0;
    return err;
}

/* A close already asked for (tsl_client_disconnect returned 0, a
 * protocol error) keeps its reason; otherwise `dflt`. */
static tsl_reason_t
asked_reason(struct tsl_client *c, tsl_reason_t dflt)
{
    tsl_reason_t r = dflt;

    tsl__client_lock(c);
    if (c->closing && c->close_reason != TSL_REASON_COUNT)
        r = c->close_reason;
    tsl__client_unlock(c);
    return r;
}

enum eof_next { EOF_FINISH, EOF_WAIT, EOF_GONE };

/*
 * The peer has closed and every reply has been written.  Messages it sent
 * before its FIN may still wait whole in the ring (delivery stopped for a
 * migration, a pause, the high watermark): they are delivered first, as
 * far as delivery may go now, and the client finishes once only a partial
 * frame (which can never complete) or nothing is left.  EOF_WAIT: not
 * yet - a migration takes it elsewhere (its EOF goes with it), reading is
 * paused or the server does not listen (resumed, the client is serviced
 * again), or replies wait to be written; *left is then the queue.
 */
static enum eof_next
eof_rest(struct tsl_receiver *rx, struct tsl_client *c, int64_t now,
         size_t *left)
{
    size_t before;

    while (tsl__cbuf_size(&c->in) > 0 && !atomic_load(&c->closing)) {
        if (atomic_load(&c->migrating) || !listening(rx) ||
            atomic_load(&c->read_paused))
            return EOF_WAIT;
        before = tsl__cbuf_size(&c->in);
        tsl__output_begin(c, now, &rx->stage);
        if (!rx_deliver(rx, c, 0))
            return EOF_GONE;
        *left = tsl__output_end(c, now);
        if (*left > 0)
            return EOF_WAIT; /* finished when they are written */
        if (tsl__cbuf_size(&c->in) == before)
            break;           /* a partial frame: it never completes */
    }
    return EOF_FINISH;
}

/*
 * Services one client after a wait.  Returns false if it was finished.
 *
 * Everything the client's callbacks send meanwhile is buffered and
 * written with one send at the end (tsl_output.c); reading pauses while
 * output is above the high watermark and resumes below the low one.
 */
static bool
rx_service(struct tsl_receiver *rx, struct tsl_client *c, int64_t now)
{
    struct tsl_server *srv = c->srv;
    size_t left;
    bool over;

    tsl__output_begin(c, now, &rx->stage);
    if (c->want_write && c->ready_w) {
        left = tsl__output_flush(c, now);
        if (c->paused && left <= srv->out_low) {
            c->paused = false;
            /* Frames held back may wait. */
            c->redeliver = tsl__cbuf_size(&c->in) > 0;
        }
    }
    /* Whole frames that came along in the ring of a migrated client, or
     * that waited for output to drain, are delivered now, not when more
     * bytes happen to arrive: the peer may be waiting for their replies
     * (the course's demarcator left frames stranded exactly like this). */
    if (c->redeliver && !c->paused && !atomic_load(&c->read_paused)) {
        c->redeliver = false;
        if (!rx_deliver(rx, c, 0))
            return false;
    }
    /* The flag is read again here, not only when the sets were built: a
     * NOT_LISTENING set before the bytes arrived must hold them back. */
    if (c->ready_r && !c->eof && !c->paused && !tsl__output_over(c) &&
        !atomic_load_explicit(&c->read_paused, memory_order_relaxed) &&
        !(atomic_load(&srv->flags) & TSL_SERVER_NOT_LISTENING)) {
        if (!rx_read(rx, c, now))
            return false;
    }
    over = tsl__output_over(c);
    left = tsl__output_end(c, now);
    if (left <= srv->out_low && tsl__output_take_drained(c) &&
        srv->cb.drained != NULL)
        srv->cb.drained(srv, c, srv->ud);
    if (c->err_seen && c->ready_w && !c->eof && !interest_read(rx, c) &&
        sock_error(c) != 0) {
        /* Reset while the server does not read it (NOT_LISTENING, a
         * pause): the kernel has dropped whatever it held. */
        rx_finish(rx, c, TSL_REASON_PEER_RESET);
        return false;
    }
    if (c->eof && left == 0) {
        switch (eof_rest(rx, c, now, &left)) {
        case EOF_GONE:
            return false;
        case EOF_FINISH:
            rx_finish(rx, c, asked_reason(c, TSL_REASON_PEER_CLOSED));
            return false;
        case EOF_WAIT:
            over = false;
            break;
        }
    }
    if (left > srv->out_high) {
        c->paused = true;
    } else if (over && tsl__cbuf_size(&c->in) > 0 && !c->paused &&
               listening(rx) && !atomic_load(&c->closing) &&
               !atomic_load(&c->migrating)) {
        /* Delivery stopped at the high watermark and the flush made room:
         * go on with the frames still buffered, in this same turn. */
        c->redeliver = true;
        work_add(rx, c);
    }
    frame_watch(rx, c, now);
    /* epoll only reports what happened; the flags must start clear. */
    c->ready_r = c->ready_w = false;
    return rx_settle(rx, c, now);
}

/* ---- waiting: select() for the shared receiver, poll() for one ---- */

static bool
listening(struct tsl_receiver *rx)
{
    return !(atomic_load(&rx->srv->flags) & TSL_SERVER_NOT_LISTENING);
}

static bool
wants_read(struct tsl_receiver *rx, struct tsl_client *c)
{
    return listening(rx) && !c->paused && !c->eof &&
           !atomic_load_explicit(&c->read_paused, memory_order_relaxed);
}

/* The wait timeout in ms (-1: none): the next timer, or at once when
 * there is work already (migrated clients to read and deliver). */
static int
rx_timeout(struct tsl_receiver *rx, int64_t now)
{
    int64_t wait;

    if (rx->work != NULL)
        return 0;
    wait = tsl__wheel_timeout(&rx->wheel, now);
    return (int)(wait > 60000 ? 60000 : wait);
}

/* The wait marks what it found (ready_r, ready_w) and puts those clients
 * on the work list. */
static void
mark(struct tsl_receiver *rx, struct tsl_client *c, bool r, bool w)
{
    c->ready_r = r;
    c->ready_w = w;
    work_add(rx, c);
}

#define RX_EVENTS 256

/*
 * Waits for readiness; returns whether the wakeup pipe fired.  Interests
 * were brought up to date where they changed (rx_settle).  Every reported
 * client is serviced, even for an event it did not ask for (hang-up,
 * error): a read then tells what happened, and the service resyncs its
 * interest, so no event can repeat unseen.
 */
static bool
rx_wait(struct tsl_receiver *rx, int ms)
{
    struct tsl_poll_event evs[RX_EVENTS];
    bool woke = false;
    int n, k;

    n = rx->poller.ops->wait(&rx->poller, ms, evs, RX_EVENTS);
    for (k = 0; k < n; k++) {
        struct tsl_client *c = evs[k].data;
        unsigned e = evs[k].events;
        if (c == NULL) {
            woke = true;
            continue;
        }
        if ((void *)c == (void *)rx->hook) {
            rx->hook_ready = true;
            continue;
        }
        if (e & TSL_POLL_ERR)
            c->err_seen = true;
        mark(rx, c,
             (e & (TSL_POLL_IN | TSL_POLL_ERR)) != 0 && wants_read(rx, c),
             (e & (TSL_POLL_OUT | TSL_POLL_ERR)) != 0);
    }
    return woke;
}

/*
 * One turn of the loop: the queue, the checks of the server's settings,
 * one wait of at most `ms` (-1: as long as no timer is due; 0: none), the
 * clients it reported, the hook, the timers.  Returns false when the loop
 * is to end (a stop, or a dedicated receiver whose client left): then
 * call tsl__loop_exit().  Runs on whatever thread calls it - the
 * receiver's own, or a test driving it with a fake poller and clock -
 * which for the turn is the thread serving these clients.
 */
bool
tsl__loop_turn(struct tsl_receiver *rx, int ms)
{
    struct tsl_server *saved_srv = tsl__tls_server;
    struct tsl_receiver *saved_rx = tls_rx;
    struct tsl_client *c;
    int64_t now;
    bool woke, go_on = false;
    size_t i;
    int due;

    tsl__tls_server = rx->srv;
    tls_rx = rx;
    rx_process_queue(rx);
    if (atomic_load(&rx->stop))
        goto out;
    if (!rx->dedicated && atomic_exchange(&rx->srv->ded_ended, false))
        rx->srv->reap_dedicated(rx->srv, false);
    if (rx->dedicated && rx->had_client && rx->n == 0)
        goto out; /* its client is gone or moved: this thread is done */
    if (atomic_load(&rx->srv->ka_gen) != rx->ka_gen) {
        /* The server's hold time changed: re-arm every client.  Switched
         * on, it holds from now, not from a client's last byte: a client
         * silent under no keepalive did nothing wrong. */
        uint32_t was = rx->ka_srv_hold;
        rx->ka_gen = atomic_load(&rx->srv->ka_gen);
        rx->ka_srv_hold = atomic_load(&rx->srv->ka_hold_ms);
        now = tsl__now_ms();
        for (i = 0; i < rx->n; i++) {
            c = rx->clients[i];
            if (was == 0 && rx->ka_srv_hold != 0 &&
                c->ka_hold == TSL__KA_SERVER)
                c->ka_last = now;
            ka_send_arm(rx, c, now); /* and ka_arm */
        }
    }
    now = tsl__now_ms();
    if (listening(rx) != rx->listen_on) {
        /* NOT_LISTENING changed: every client's interest with it.  A
         * finished client's slot then holds the last: look again. */
        rx->listen_on = !rx->listen_on;
        for (i = 0; i < rx->n;) {
            c = rx->clients[i];
            if (rx->listen_on && (tsl__cbuf_size(&c->in) > 0 || c->eof)) {
                /* Whole frames held in its ring while the server did not
                 * listen (a migration, the high watermark) are delivered
                 * now, not when more bytes happen to arrive; a client at
                 * EOF is finished once they are. */
                c->redeliver = tsl__cbuf_size(&c->in) > 0;
                work_add(rx, c);
            }
            if (rx_settle(rx, c, now))
                i++;
        }
    }
    due = rx_timeout(rx, now);
    if (rx->hook != NULL) {
        int acc_ms = rx->hook->tend(rx->hook, now);
        if (acc_ms >= 0 && (due < 0 || acc_ms < due))
            due = acc_ms;
    }
    if (ms >= 0 && (due < 0 || ms < due))
        due = ms;
    woke = rx_wait(rx, due);
    if (woke)
        tsl__wakeup_drain(&rx->wk);
    now = tsl__now_ms();
    while ((c = work_pop(rx)) != NULL) {
        if (c->fresh) {
            /* Migrated in: read (EAGAIN at worst) and deliver what came
             * along in its ring, without waiting for an event. */
            c->fresh = false;
            if (wants_read(rx, c))
                c->ready_r = true;
            if (tsl__cbuf_size(&c->in) > 0 && listening(rx))
                c->redeliver = true;
        }
        rx_service(rx, c, now);
    }
    if (rx->hook_ready) {
        /* New clients queue to this receiver; the next turn adopts them
         * before it waits. */
        rx->hook_ready = false;
        rx->hook->ready(rx->hook);
    }
    tsl__wheel_advance(&rx->wheel, tsl__now_ms());
    go_on = true;
out:
    tsl__tls_server = saved_srv;
    tls_rx = saved_rx;
    return go_on;
}

/* After the last turn: the hook's end, then every client held or queued
 * is finished (shutdown, or the reason its close was asked with), and the
 * queue refuses hand-offs from then on. */
void
tsl__loop_exit(struct tsl_receiver *rx)
{
    struct tsl_server *saved_srv = tsl__tls_server;
    struct tsl_receiver *saved_rx = tls_rx;
    struct tsl_client *c, *next;
    bool closed;

    tsl__tls_server = rx->srv;
    tls_rx = rx;
    if (rx->hook != NULL)
        rx->hook->exit(rx->hook);
    for (c = tsl__wakeup_take(&rx->wk, true); c != NULL; c = next) {
        next = c->q_next;
        c->q_next = NULL;
        if ((tsl__client_take_pending(c, &closed) & TSL__P_ADOPT) && !closed)
            tsl__client_finish(c, asked_reason(c, TSL_REASON_SHUTDOWN));
        tsl_client_unref(c);
    }
    while (rx->n > 0) {
        c = rx->clients[rx->n - 1];
        rx_finish(rx, c, asked_reason(c, TSL_REASON_SHUTDOWN));
    }
    tsl__tls_server = saved_srv;
    tls_rx = saved_rx;
}

static void *
rx_main(void *arg)
{
    struct tsl_receiver *rx = arg;

    tsl__thread_name(rx->dedicated ? "tsl-client" : "tsl-rx");
    while (tsl__loop_turn(rx, -1))
        ;
    tsl__loop_exit(rx);
    atomic_store(&rx->done, true);
    if (rx->dedicated) {
        /* Ask the shared receiver to join this thread now.  Under the
         * list lock: the gate is open only while it runs. */
        struct tsl_server *srv = rx->srv;
        atomic_store(&srv->ded_ended, true);
        pthread_mutex_lock(&srv->ded_lock);
        if (!srv->ded_closed)
            tsl__wakeup_signal(&srv->rx.wk);
        pthread_mutex_unlock(&srv->ded_lock);
    }
    return NULL;
}

/* A hook's way to make its loop take a turn. */
static void
rx_wake(void *loop)
{
    tsl__wakeup_signal(&((struct tsl_receiver *)loop)->wk);
}

int
tsl__receiver_open(struct tsl_receiver *rx, struct tsl_server *srv,
                   bool dedicated, struct tsl_hook *hook,
                   const struct tsl_poller_ops *ops)
{
    size_t need = tsl__framer_bufsize(&srv->framing);
    int r;

    memset(rx, 0, sizeof(*rx));
    rx->owner.enqueue = rx_enqueue;
    rx->srv = srv;
    rx->dedicated = dedicated;
    atomic_init(&rx->stop, false);
    atomic_init(&rx->done, false);
    rx->scratch_cap = need > TSL__READ_MIN ? need : TSL__READ_MIN;
    rx->stage.keep = dedicated ? 0 : TSL__STAGE_KEEP;
    rx->scratch = tsl__sys->malloc(rx->scratch_cap);
    if (rx->scratch == NULL)
        return TSL_ENOMEM;
    rx->ka_gen = atomic_load(&srv->ka_gen);
    rx->ka_srv_hold = atomic_load(&srv->ka_hold_ms);
    /* One client needs few slots; the shared wheel spreads thousands. */
    r = tsl__wheel_init(&rx->wheel, srv->tick_ms, dedicated ? 8 : 1024,
                        tsl__now_ms(), ka_fire, rx);
    if (r < 0)
        goto fail;
    r = tsl__wakeup_open(&rx->wk);
    if (r < 0) {
        tsl__wheel_fini(&rx->wheel);
        goto fail;
    }
    rx->listen_on = !(atomic_load(&srv->flags) & TSL_SERVER_NOT_LISTENING);
    rx->hook = dedicated ? NULL : hook; /* registers on its first turn */
    /* A dedicated receiver polls its one client; the shared one uses the
     * server's backend. */
    if (ops == NULL)
        ops = dedicated ? &tsl__poller_poll : tsl__poller_for(srv->backend);
    r = tsl__poller_open(&rx->poller, ops);
    if (r < 0)
        goto fail_wk;
    r = rx->poller.ops->add(&rx->poller, rx->wk.rfd, TSL_POLL_IN, NULL);
    if (r < 0)
        goto fail_poller;
    rx->started = true;
    if (rx->hook != NULL) {
        rx->hook->poller = &rx->poller;
        rx->hook->wake = rx_wake;
        rx->hook->loop = rx;
    }
    return 0;
fail_poller:
    tsl__poller_close(&rx->poller);
fail_wk:
    tsl__wakeup_close(&rx->wk);
    tsl__wheel_fini(&rx->wheel);
fail:
    tsl__sys->free(rx->scratch);
    rx->scratch = NULL;
    return r;
}

int
tsl__receiver_start(struct tsl_receiver *rx, struct tsl_server *srv,
                    bool dedicated, struct tsl_hook *hook)
{
    int r = tsl__receiver_open(rx, srv, dedicated, hook, NULL);

    if (r < 0)
        return r;
    r = -tsl__sys->thread_create(&rx->thread, rx_main, rx);
    if (r < 0) {
        tsl__receiver_release(rx);
        return r;
    }
    rx->running = true;
    if (rx->hook != NULL)
        rx->hook->running = true;
    return 0;
}

void
tsl__receiver_request_stop(struct tsl_receiver *rx)
{
    atomic_store(&rx->stop, true);
    tsl__wakeup_signal(&rx->wk);
}

void
tsl__receiver_join(struct tsl_receiver *rx)
{
    if (!rx->running)
        return;
    tsl__receiver_request_stop(rx);
    pthread_join(rx->thread, NULL);
    rx->running = false;
    if (rx->hook != NULL)
        rx->hook->running = false;
}

void
tsl__receiver_release(struct tsl_receiver *rx)
{
    if (!rx->started)
        return;
    TSL_ASSERT(!rx->running);
    rx->started = false;
    tsl__wakeup_close(&rx->wk);
    tsl__wheel_fini(&rx->wheel);
    tsl__poller_close(&rx->poller);
    tsl__sys->free(rx->clients);
    tsl__sys->free(rx->scratch);
    tsl__output_stage_free(&rx->stage);
    rx->clients = NULL;
    rx->scratch = NULL;
    rx->n = rx->cap = 0;
}

void
tsl__receiver_stop(struct tsl_receiver *rx)
{
    tsl__receiver_join(rx);
    tsl__receiver_release(rx);
}

void
tsl__receiver_kick(struct tsl_receiver *rx)
{
    if (rx->running)
        tsl__wakeup_signal(&rx->wk);
}

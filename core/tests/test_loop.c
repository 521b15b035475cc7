/*
 * test_loop.c - receivers driven one turn at a time (tsl__loop_turn), on
 * the test's thread, without sockets: a fake poller, in-memory sockets and
 * wakeup pipes behind the OS-call table, and a clock that only moves when
 * a wait finds nothing ready (by the time it was allowed to wait) or when
 * a test moves it.  Every step is therefore the same on every run and
 * every machine: no sleeps, no races, no load sensitivity.
 *
 * What it covers: frames split across reads and coalesced in one read,
 * one write for the replies to one read (and, with another thread's
 * sends between a callback's, every byte in the order the sends
 * returned; what another thread left queued out at the turn's end),
 * output that waits for
 * writability and then drains in order, a stall, keepalive expiry (and a
 * client kept by its traffic, and a reset met by the expiry's peek), a
 * hang-up while not listening that is a reset only with an error, a
 * protocol error that ends one client only, the hand-off of a client
 * with half a frame to another receiver (and a second move refused while
 * a client arrives or moves), keepalives held behind a paused read counted
 * on resume, and the stop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tsl_internal.h"
#include "tsl_sys.h"

/* ---- the simulated world: sockets, pipes, the clock ---- */

enum { NSOCK = 4, SOCK_FD = 10, NPIPE = 4, PIPE_FD = 100 };
#define UNLIMITED ((size_t)-1)

struct sock {
    bool closed;
    uint8_t in[8192];      /* what the peer sent, not read yet from in_off */
    size_t in_len, in_off;
    bool eof;
    bool reset;            /* the peer reset: reads fail (ECONNRESET) */
    bool hup;              /* waits report a hang-up whatever is asked */
    int so_error;          /* what getsockopt(SO_ERROR) reads */
    uint8_t out[65536];    /* what the server wrote */
    size_t out_len;
    size_t room;           /* bytes send() still takes (UNLIMITED) */
    int sends, reads, peeks;
};

static struct sock socks[NSOCK];
static int pipe_bytes[NPIPE];  /* bytes in pipe k (fds PIPE_FD + 2k, +1) */
static int npipes;
static int64_t clock_ms;

static struct sock *
sock_of(int fd)
{
    return fd >= SOCK_FD && fd < SOCK_FD + NSOCK ? &socks[fd - SOCK_FD]
                                                 : NULL;
}

static bool
readable(int fd)
{
    struct sock *s = sock_of(fd);

    if (s != NULL)
        return !s->closed && (s->in_off < s->in_len || s->eof);
    return fd >= PIPE_FD && pipe_bytes[(fd - PIPE_FD) / 2] > 0;
}

static bool
writable(int fd)
{
    struct sock *s = sock_of(fd);

    return s != NULL && !s->closed && s->room > 0;
}

static ssize_t
f_recv(int fd, void *buf, size_t n, int flags)
{
    struct sock *s = sock_of(fd);
    size_t k;

    assert_non_null(s);
    assert_false(s->closed);
    if (s->reset) {
        errno = ECONNRESET;
        return -1;
    }
    if (s->in_off == s->in_len) {
        if (s->eof)
            return 0;
        errno = EAGAIN;
        return -1;
    }
    k = s->in_len - s->in_off < n ? s->in_len - s->in_off : n;
    memcpy(buf, s->in + s->in_off, k);
    if (flags & MSG_PEEK) {
        s->peeks++;
        return (ssize_t)k;
    }
    s->reads++;
    s->in_off += k;
    return (ssize_t)k;
}

static ssize_t
f_readv(int fd, const struct iovec *iov, int n)
{
    ssize_t got = 0, r;
    int i;

    for (i = 0; i < n; i++) {
        r = f_recv(fd, iov[i].iov_base, iov[i].iov_len, 0);
        if (r < 0)
            return got > 0 ? got : r;
        got += r;
        if ((size_t)r < iov[i].iov_len)
            break;
    }
    return got;
}

static ssize_t
f_send(int fd, const void *buf, size_t n, int flags)
{
    struct sock *s = sock_of(fd);
    size_t k;

    (void)flags;
    assert_non_null(s);
    assert_false(s->closed);
    if (s->room == 0) {
        errno = EAGAIN;
        return -1;
    }
    k = n < s->room ? n : s->room;
    assert_true(s->out_len + k <= sizeof(s->out));
    memcpy(s->out + s->out_len, buf, k);
    s->out_len += k;
    if (s->room != UNLIMITED)
        s->room -= k;
    s->sends++;
    return (ssize_t)k;
}

static int
f_close(int fd)
{
    struct sock *s = sock_of(fd);

    if (s != NULL) {
        assert_false(s->closed);
        s->closed = true;
    }
    return 0;
}

static int
f_getsockopt(int fd, int lvl, int name, void *v, socklen_t *l)
{
    struct sock *s = sock_of(fd);

    assert_non_null(s);
    assert_int_equal(lvl, SOL_SOCKET);
    assert_int_equal(name, SO_ERROR);
    assert_true(*l >= sizeof(int));
    memcpy(v, &s->so_error, sizeof(int));
    *l = sizeof(int);
    return 0;
}

static int
f_pipe2(int fds[2], int flags)
{
    (void)flags;
    assert_true(npipes < NPIPE);
    fds[0] = PIPE_FD + 2 * npipes;
    fds[1] = fds[0] + 1;
    pipe_bytes[npipes++] = 0;
    return 0;
}

static ssize_t
f_read(int fd, void *buf, size_t n)
{
    int *b = &pipe_bytes[(fd - PIPE_FD) / 2];
    size_t k = (size_t)*b < n ? (size_t)*b : n;

    if (k == 0) {
        errno = EAGAIN;
        return -1;
    }
    memset(buf, 1, k);
    *b -= (int)k;
    return (ssize_t)k;
}

static ssize_t
f_write(int fd, const void *buf, size_t n)
{
    (void)buf;
    pipe_bytes[(fd - PIPE_FD) / 2] += (int)n;
    return (ssize_t)n;
}

static int
f_clock_gettime(clockid_t id, struct timespec *ts)
{
    (void)id;
    ts->tv_sec = clock_ms / 1000;
    ts->tv_nsec = (clock_ms % 1000) * 1000000;
    return 0;
}

static struct tsl_sys_ops fake_sys;

/* ---- the fake poller: readiness read off the world ---- */

enum { NREG = 16 };

struct fake_poller {
    struct reg {
        int fd;
        unsigned events;
        void *data;
    } regs[NREG];
    int n;
    int last_ms;   /* the timeout of the last wait */
};

static struct fake_poller pollers[2];
static int npollers;
/* Runs inside the loop when fd is registered: another thread acting at
 * that moment, in a test with no other thread. */
static int hook_fd = -1;
static void (*hook_fn)(void);

static int
fp_open(struct tsl_poller *p)
{
    assert_true(npollers < 2);
    memset(&pollers[npollers], 0, sizeof(pollers[0]));
    p->impl = &pollers[npollers++];
    return 0;
}

static void
fp_close(struct tsl_poller *p)
{
    (void)p;
}

static struct reg *
fp_find(struct fake_poller *fp, int fd)
{
    int i;

    for (i = 0; i < fp->n; i++)
        if (fp->regs[i].fd == fd)
            return &fp->regs[i];
    return NULL;
}

static int
fp_add(struct tsl_poller *p, int fd, unsigned events, void *data)
{
    struct fake_poller *fp = p->impl;

    assert_null(fp_find(fp, fd));
    assert_true(fp->n < NREG);
    fp->regs[fp->n].fd = fd;
    fp->regs[fp->n].events = events;
    fp->regs[fp->n++].data = data;
    if (fd == hook_fd && hook_fn != NULL) {
        hook_fd = -1;
        hook_fn();
    }
    return 0;
}

static int
fp_mod(struct tsl_poller *p, int fd, unsigned events, void *data)
{
    struct reg *r = fp_find(p->impl, fd);

    assert_non_null(r);
    r->events = events;
    r->data = data;
    return 0;
}

static void
fp_del(struct tsl_poller *p, int fd, bool closing)
{
    struct fake_poller *fp = p->impl;
    struct reg *r = fp_find(fp, fd);

    (void)closing;
    assert_non_null(r);
    *r = fp->regs[--fp->n];
}

/* Reports what is ready; if nothing is, the clock moves on by the time
 * the loop allowed (a wait without limit with nothing ready would hang a
 * real loop: here it fails the test). */
static int
fp_wait(struct tsl_poller *p, int ms, struct tsl_poll_event *out, int max)
{
    struct fake_poller *fp = p->impl;
    int i, n = 0;

    fp->last_ms = ms;
    for (i = 0; i < fp->n && n < max; i++) {
        struct reg *r = &fp->regs[i];
        unsigned ev = 0;
        if ((r->events & TSL_POLL_IN) && readable(r->fd))
            ev |= TSL_POLL_IN;
        if ((r->events & TSL_POLL_OUT) && writable(r->fd))
            ev |= TSL_POLL_OUT;
        if (sock_of(r->fd) != NULL && sock_of(r->fd)->hup)
            ev |= TSL_POLL_ERR;
        if (ev != 0) {
            out[n].data = r->data;
            out[n++].events = ev;
        }
    }
    if (n == 0) {
        assert_true(ms >= 0); /* the loop would sleep forever */
        clock_ms += ms;
    }
    return n;
}

static const struct tsl_poller_ops fake_poller = {
    .name = "fake",
    .open = fp_open,
    .close = fp_close,
    .add = fp_add,
    .mod = fp_mod,
    .del = fp_del,
    .wait = fp_wait,
};

/* ---- a server (never started), its receivers, what the callbacks saw ---- */

struct seen {
    int msgs;
    uint8_t last[512];
    size_t last_len;
    int disconnects;
    int drained;
    size_t drained_queued; /* out_queued when drained last ran */
    tsl_reason_t reason;
    struct tsl_receiver *served_by; /* the receiver whose turn delivered */
};

static tsl_server_t *srv;
static struct tsl_receiver rx[2];
static struct tsl_client *cl[NSOCK];
static struct seen seen[NSOCK];
static bool echo = true;
/* What the message callback does besides echoing (NULL: nothing). */
static void (*on_msg_extra)(tsl_client_t *c, const uint8_t *m, size_t len);
static struct tsl_receiver *turning; /* the receiver in tsl__loop_turn */

static int
idx(tsl_client_t *c)
{
    return (int)tsl_client_id(c) - 1;
}

static void
on_message(tsl_server_t *s, tsl_client_t *c, const uint8_t *m, size_t len,
           void *ud)
{
    struct seen *w = &seen[idx(c)];

    (void)s;
    (void)ud;
    w->msgs++;
    w->last_len = len < sizeof(w->last) ? len : sizeof(w->last);
    memcpy(w->last, m, w->last_len);
    w->served_by = turning;
    if (on_msg_extra != NULL)
        on_msg_extra(c, m, len);
    if (echo) {
        uint8_t frame[520];
        long n = tsl_framing_encode(&srv->framing, m, len, frame,
                                    sizeof(frame));
        assert_true(n > 0);
        assert_int_equal(tsl_client_send(c, frame, (size_t)n), 0);
    }
}

static void
on_drained(tsl_server_t *s, tsl_client_t *c, void *ud)
{
    tsl_client_stats_t st;

    (void)s;
    (void)ud;
    tsl_client_stats(c, &st);
    assert_int_equal(seen[idx(c)].disconnects, 0);
    seen[idx(c)].drained++;
    seen[idx(c)].drained_queued = st.out_queued;
}

static void
on_disconnected(tsl_server_t *s, tsl_client_t *c, tsl_reason_t why, void *ud)
{
    (void)s;
    (void)ud;
    seen[idx(c)].disconnects++;
    seen[idx(c)].reason = why;
}

static int
setup(void **state)
{
    tsl_callbacks_t cb = {0};
    tsl_framing_t f;
    char err[100];

    (void)state;
    memset(socks, 0, sizeof(socks));
    memset(seen, 0, sizeof(seen));
    memset(cl, 0, sizeof(cl));
    npipes = npollers = 0;
    hook_fd = -1;
    hook_fn = NULL;
    on_msg_extra = NULL;
    clock_ms = 1000000;
    echo = true;
    fake_sys = tsl__sys_libc;
    fake_sys.recv = f_recv;
    fake_sys.readv = f_readv;
    fake_sys.send = f_send;
    fake_sys.close = f_close;
    fake_sys.pipe2 = f_pipe2;
    fake_sys.getsockopt = f_getsockopt;
    fake_sys.read = f_read;
    fake_sys.write = f_write;
    fake_sys.clock_gettime = f_clock_gettime;
    tsl__sys_set(&fake_sys);

    assert_int_equal(tsl_server_create(&srv, "loop", "127.0.0.1", 0), 0);
    cb.message = on_message;
    cb.disconnected = on_disconnected;
    cb.drained = on_drained;
    assert_int_equal(tsl_server_set_callbacks(srv, &cb, NULL), 0);
    assert_int_equal(tsl_framing_parse("variable:strip", &f, err, sizeof(err)), 0);
    assert_int_equal(tsl_server_set_framing(srv, &f), 0);
    assert_int_equal(tsl_server_set_timer_tick(srv, 10), 0);
    assert_int_equal(tsl_server_set_keepalive(srv, 0), 0);
    return 0;
}

static int
teardown(void **state)
{
    int i;

    (void)state;
    for (i = 0; i < 2; i++) {
        if (!rx[i].started)
            continue;
        tsl__receiver_request_stop(&rx[i]);
        assert_false(tsl__loop_turn(&rx[i], 0));
        tsl__loop_exit(&rx[i]);
        tsl__receiver_release(&rx[i]);
    }
    for (i = 0; i < NSOCK; i++)
        if (cl[i] != NULL) {
            tsl_client_unref(cl[i]); /* the test's reference */
            assert_true(socks[i].closed);
        }
    assert_int_equal(tsl_server_destroy(srv), 0);
    tsl__sys_set(NULL);
    return 0;
}

static void
open_rx(int k)
{
    assert_int_equal(tsl__receiver_open(&rx[k], srv, false, NULL,
                                        &fake_poller),
                     0);
}

static bool
turn(int k, int ms)
{
    bool r;

    turning = &rx[k];
    r = tsl__loop_turn(&rx[k], ms);
    turning = NULL;
    return r;
}

/* Client i on socket i, handed to receiver k and adopted by its turn. */
static struct tsl_client *
add_client(int i, int k)
{
    union tsl__sa peer = {.in = {.sin_family = AF_INET}};
    struct tsl_client *c;

    socks[i].room = UNLIMITED;
    atomic_store(&srv->next_id, (uint64_t)i); /* client id i + 1 */
    c = tsl__client_create(srv, SOCK_FD + i, &peer);
    assert_non_null(c);
    tsl__db_add(&srv->db, c); /* as the controller would */
    atomic_fetch_add(&srv->ctr.current, 1);
    tsl_client_ref(c); /* the test's, dropped in teardown */
    cl[i] = c;
    assert_int_equal(tsl__client_handoff(c, &rx[k].owner, NULL), 0);
    assert_true(turn(k, 0));
    assert_true(c->slot < rx[k].n);
    assert_ptr_equal(rx[k].clients[c->slot], c); /* rx[k] serves it */
    return c;
}

static void
peer_sends(int i, const void *p, size_t n)
{
    struct sock *s = &socks[i];

    assert_true(s->in_len + n <= sizeof(s->in));
    memcpy(s->in + s->in_len, p, n);
    s->in_len += n;
}

/* The course's variable framing: a 2-byte little-endian length (header
 * included), then the payload (delivered without the header: `strip`). */
static size_t
frame(uint8_t *out, const char *payload)
{
    size_t n = strlen(payload) + 2;

    out[0] = (uint8_t)n;
    out[1] = (uint8_t)(n >> 8);
    memcpy(out + 2, payload, n - 2);
    return n;
}

/* ---- the tests ---- */

static void
split_frame_is_delivered_once_whole(void **state)
{
    uint8_t f[32];
    size_t n = frame(f, "hello");

    (void)state;
    open_rx(0);
    add_client(0, 0);
    peer_sends(0, f, 3); /* header and one byte */
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 0);
    assert_non_null(cl[0]->in.m); /* the half frame waits in the ring */
    peer_sends(0, f + 3, n - 3);
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 1);
    /* Emptied, the ring is given back: an idle client holds none
     * (docs/architecture.md, "Memory per client"). */
    assert_null(cl[0]->in.m);
    assert_int_equal(seen[0].last_len, 5);
    assert_memory_equal(seen[0].last, "hello", 5);
    assert_int_equal(socks[0].out_len, n);
    assert_memory_equal(socks[0].out, f, n);
}

/* Keepalive frames (a header alone) between messages in one read are
 * counted and skipped, and the messages around them come out whole. */
static void
keepalives_between_messages_in_one_read(void **state)
{
    static const uint8_t ka[2] = {2, 0};
    uint8_t all[64];
    tsl_client_stats_t st;
    size_t n = 0;

    (void)state;
    open_rx(0);
    add_client(0, 0);
    memcpy(all + n, ka, 2), n += 2;
    n += frame(all + n, "first");
    memcpy(all + n, ka, 2), n += 2;
    memcpy(all + n, ka, 2), n += 2;
    n += frame(all + n, "second");
    peer_sends(0, all, n);
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 2);
    assert_int_equal(seen[0].last_len, 6);
    assert_memory_equal(seen[0].last, "second", 6);
    tsl_client_stats(cl[0], &st);
    assert_int_equal(st.keepalives_in, 3);
    assert_int_equal(st.msgs_in, 2);
    assert_int_equal(st.bytes_in, n);
    assert_int_equal(seen[0].disconnects, 0);
}

static void
coalesced_frames_get_one_read_and_one_write(void **state)
{
    uint8_t all[16 * 16];
    size_t n = 0;
    int i;

    (void)state;
    open_rx(0);
    add_client(0, 0);
    for (i = 0; i < 16; i++) {
        char p[16];
        snprintf(p, sizeof(p), "msg-%02d", i);
        n += frame(all + n, p);
    }
    peer_sends(0, all, n);
    socks[0].reads = 0;
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 16);
    assert_memory_equal(seen[0].last, "msg-15", 6);
    assert_int_equal(socks[0].reads, 1);
    assert_int_equal(socks[0].sends, 1); /* sixteen replies, one write */
    assert_int_equal(socks[0].out_len, n);
    assert_memory_equal(socks[0].out, all, n);
}

static void
output_waits_for_writability_then_drains_in_order(void **state)
{
    uint8_t all[64];
    struct fake_poller *fp = &pollers[0];
    size_t n = 0;
    int i;

    (void)state;
    open_rx(0);
    add_client(0, 0);
    for (i = 0; i < 4; i++)
        n += frame(all + n, "abcdefgh"); /* 10 bytes each */
    socks[0].room = 7;
    peer_sends(0, all, n);
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 4);
    assert_int_equal(socks[0].out_len, 7);
    assert_int_equal(tsl__output_len(cl[0]), n - 7);
    /* The settled interest asks for writability now. */
    assert_non_null(fp_find(fp, SOCK_FD));
    assert_true(fp_find(fp, SOCK_FD)->events & TSL_POLL_OUT);
    assert_true(turn(0, 0)); /* not writable: nothing moves */
    assert_int_equal(socks[0].out_len, 7);
    socks[0].room = UNLIMITED;
    assert_true(turn(0, 0));
    assert_int_equal(socks[0].out_len, n);
    assert_memory_equal(socks[0].out, all, n);
    assert_int_equal(tsl__output_len(cl[0]), 0);
    assert_false(fp_find(fp, SOCK_FD)->events & TSL_POLL_OUT);
    assert_int_equal(seen[0].disconnects, 0);
}

/* ---- a send from another thread while the owner stages ---- */

struct other_send {
    tsl_client_t *c;
    const char *bytes;
};

static void *
other_send_main(void *arg)
{
    struct other_send *o = arg;

    assert_int_equal(tsl_client_send(o->c, o->bytes, strlen(o->bytes)), 0);
    return NULL;
}

/* Sends `bytes` from a thread of its own, and returns when it has: the
 * send happens after everything before the call and before everything
 * after it. */
static void
send_from_other_thread(tsl_client_t *c, const char *bytes)
{
    struct other_send o = {c, bytes};
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, other_send_main, &o), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
}

static void
own(tsl_client_t *c, const char *bytes)
{
    assert_int_equal(tsl_client_send(c, bytes, strlen(bytes)), 0);
}

static void
interleave(tsl_client_t *c, const uint8_t *m, size_t len)
{
    tsl_client_stats_t st;

    assert_int_equal(len, 1);
    if (m[0] == '0') {
        send_from_other_thread(c, "X0,"); /* nothing staged or queued */
        own(c, "A0,");                    /* staging begins */
        send_from_other_thread(c, "X1,"); /* queued behind the stage */
        own(c, "A1,");                    /* the stage goes first */
    } else {
        own(c, "B0,");
        send_from_other_thread(c, "X2,");
        /* Asked from the client's own callback, the counters include
         * what this turn staged (A1, B0). */
        tsl_client_stats(c, &st);
        assert_int_equal(st.msgs_out, 6);
        assert_int_equal(st.out_queued, 15);
    }
}

/* The socket takes 2 bytes of another thread's 4, then the peer reads. */
static void
other_send_cut_short(tsl_client_t *c, const uint8_t *m, size_t len)
{
    (void)m;
    (void)len;
    socks[0].room = 2;
    send_from_other_thread(c, "XYZW");
    assert_int_equal(socks[0].out_len, 2);
    socks[0].room = UNLIMITED;
}

/* In a turn in which the owner itself sends nothing, what another thread
 * left queued (a short write) goes out at the turn's end, not one wait
 * later. */
static void
another_threads_leftover_goes_at_the_turns_end(void **state)
{
    uint8_t f[16];

    (void)state;
    echo = false;
    on_msg_extra = other_send_cut_short;
    open_rx(0);
    add_client(0, 0);
    peer_sends(0, f, frame(f, "go"));
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 1);
    assert_int_equal(socks[0].out_len, 4);
    assert_memory_equal(socks[0].out, "XYZW", 4);
    assert_int_equal(tsl__output_len(cl[0]), 0);
}

/* Two messages in one read; their callbacks send, and between their
 * sends another thread does: the peer reads everything in the order the
 * sends returned, the owner's replies still in one write. */
static void
sends_of_another_thread_land_where_they_returned(void **state)
{
    const char want[] = "X0,A0,X1,A1,B0,X2,";
    tsl_client_stats_t st;
    uint8_t f[16];
    size_t n;

    (void)state;
    echo = false;
    on_msg_extra = interleave;
    open_rx(0);
    add_client(0, 0);
    n = frame(f, "0");
    n += frame(f + n, "1");
    peer_sends(0, f, n);
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 2);
    assert_int_equal(socks[0].out_len, strlen(want));
    assert_memory_equal(socks[0].out, want, strlen(want));
    /* X0 went straight out; the rest, the stage and what the other
     * thread queued behind and between it, in one write. */
    assert_int_equal(socks[0].sends, 2);
    tsl_client_stats(cl[0], &st);
    assert_int_equal(st.msgs_out, 6);
    assert_int_equal(st.out_queued, 0);
    assert_int_equal(st.bytes_out, strlen(want));
    assert_int_equal(tsl__output_len(cl[0]), 0);
}

/* Sends `reply_len` bytes for every message (the test's reply size). */
static size_t reply_len;

static void
big_reply(tsl_client_t *c, const uint8_t *m, size_t len)
{
    static uint8_t junk[4096];

    (void)m;
    (void)len;
    assert_true(reply_len <= sizeof(junk));
    assert_int_equal(tsl_client_send(c, junk, reply_len), 0);
}

static void
drained_once_the_queue_is_back_under_the_low_watermark(void **state)
{
    uint8_t f[32];
    size_t n = frame(f, "go");

    (void)state;
    assert_int_equal(tsl_server_set_output_limits(srv, 100, 200, 65536,
                                                  30000),
                     0);
    echo = false;
    on_msg_extra = big_reply;
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    /* Under the high watermark: never owed, however it drains. */
    socks[0].room = 0;
    reply_len = 150;
    peer_sends(0, f, n);
    assert_true(turn(0, 0));
    assert_int_equal(tsl__output_len(cl[0]), 150);
    socks[0].room = UNLIMITED;
    assert_true(turn(0, 0));
    assert_int_equal(tsl__output_len(cl[0]), 0);
    assert_int_equal(seen[0].drained, 0);
    /* Past it: owed, and made only when the queue is at the low mark. */
    socks[0].room = 0;
    reply_len = 1000;
    peer_sends(0, f, n);
    assert_true(turn(0, 0));
    assert_int_equal(tsl__output_len(cl[0]), 1000);
    socks[0].room = 850; /* 150 left: above low */
    assert_true(turn(0, 0));
    assert_int_equal(tsl__output_len(cl[0]), 150);
    assert_int_equal(seen[0].drained, 0);
    socks[0].room = 50; /* 100 left: at low */
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].drained, 1);
    assert_int_equal(seen[0].drained_queued, 100);
    socks[0].room = UNLIMITED;
    assert_true(turn(0, 0));
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].drained, 1); /* once per crossing */
    /* A burst that a turn's own flush takes whole still crossed. */
    reply_len = 300;
    peer_sends(0, f, n);
    assert_true(turn(0, 0));
    assert_int_equal(tsl__output_len(cl[0]), 0);
    assert_int_equal(seen[0].drained, 2);
    /* Sent from outside any turn, past high: made by the owner's turn. */
    socks[1].room = 0;
    assert_int_equal(tsl_client_send(cl[1], f, n), 0);
    {
        static uint8_t more[400];
        assert_int_equal(tsl_client_send(cl[1], more, sizeof(more)), 0);
    }
    assert_int_equal(seen[1].drained, 0);
    socks[1].room = UNLIMITED;
    assert_true(turn(0, 0));
    assert_int_equal(tsl__output_len(cl[1]), 0);
    assert_int_equal(seen[1].drained, 1);
    assert_int_equal(seen[0].drained, 2);
    /* Owed but ended: no callback after disconnected. */
    socks[0].room = 0;
    reply_len = 1000;
    peer_sends(0, f, n);
    assert_true(turn(0, 0));
    assert_int_equal(tsl_client_disconnect(cl[0]), 0);
    socks[0].room = UNLIMITED;
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].drained, 2);
}

/* A client whose output is stuck but who keeps talking: the keepalive
 * timer fires many times meanwhile, and only the stall's own deadline
 * ends it, as slow-consumer, at the stall time exactly. */
static void
other_timers_do_not_end_a_stalled_client_early(void **state)
{
    uint8_t f[32];
    size_t n = frame(f, "talk");
    int64_t t0, fed;
    int turns = 0;

    (void)state;
    assert_int_equal(tsl_server_set_output_limits(srv, 1024, 4096, 65536,
                                                  300),
                     0);
    assert_int_equal(tsl_server_set_keepalive(srv, 100), 0);
    open_rx(0);
    add_client(0, 0);
    socks[0].room = 0; /* its peer reads nothing */
    peer_sends(0, f, n);
    assert_true(turn(0, 0)); /* read, echo queued: the stall starts */
    t0 = fed = clock_ms;
    while (seen[0].disconnects == 0 && turns++ < 200) {
        if (clock_ms - fed >= 40) {
            peer_sends(0, f, n); /* talking: keepalive never expires */
            fed = clock_ms;
        }
        assert_true(turn(0, 20));
    }
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_SLOW_CONSUMER);
    assert_true(clock_ms - t0 >= 300);
    assert_true(clock_ms - t0 <= 300 + 2 * 10);
    assert_true(seen[0].msgs >= 5);
}

/* A close asked twice before the owner acts: the second is refused (one
 * is already under way), and the client ends once, as forced. */
static void
second_disconnect_is_refused(void **state)
{
    (void)state;
    open_rx(0);
    add_client(0, 0);
    assert_int_equal(tsl_client_disconnect(cl[0]), 0);
    assert_int_equal(tsl_client_disconnect(cl[0]), TSL_ENOTCONN);
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_FORCED);
    assert_int_equal(tsl_client_disconnect(cl[0]), TSL_ENOTCONN);
}

/* The hard limit is the most a client's output may hold: sends that
 * bring it to the limit exactly are taken, one byte more is refused and
 * ends that client (slow-consumer). */
static void
output_may_hold_the_hard_limit_exactly(void **state)
{
    static uint8_t buf[4096];

    (void)state;
    assert_int_equal(tsl_server_set_output_limits(srv, 1024, 2048, 4096,
                                                  300),
                     0);
    open_rx(0);
    add_client(0, 0);
    socks[0].room = 0; /* its peer reads nothing */
    assert_int_equal(tsl_client_send(cl[0], buf, 4000), 0);
    assert_int_equal(tsl_client_send(cl[0], buf, 96), 0); /* 4096 held */
    assert_int_equal(tsl__output_len(cl[0]), 4096);
    assert_int_equal(tsl_client_send(cl[0], buf, 1), TSL_ENOBUFS);
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_SLOW_CONSUMER);
}

static void
stalled_output_ends_that_client_as_slow_consumer(void **state)
{
    uint8_t f[32];
    size_t n = frame(f, "stuck");
    int64_t t0;
    int turns = 0;

    (void)state;
    assert_int_equal(tsl_server_set_output_limits(srv, 1024, 4096, 65536,
                                                  300),
                     0);
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    socks[0].room = 0; /* its peer reads nothing */
    peer_sends(0, f, n);
    t0 = clock_ms;
    while (seen[0].disconnects == 0 && turns++ < 100)
        assert_true(turn(0, -1)); /* the stall timer bounds every wait */
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_SLOW_CONSUMER);
    assert_true(clock_ms - t0 >= 300);
    assert_true(clock_ms - t0 <= 300 + 2 * 10);
    assert_true(socks[0].closed);
    /* The other client is served as before. */
    peer_sends(1, f, n);
    assert_true(turn(0, 0));
    assert_int_equal(seen[1].msgs, 1);
    assert_int_equal(socks[1].out_len, n);
    assert_int_equal(seen[1].disconnects, 0);
}

static void
silent_client_expires_and_a_talking_one_stays(void **state)
{
    uint8_t f[32];
    size_t n = frame(f, "ping");
    int64_t t0, fed, expired_at = 0;
    int turns = 0;

    (void)state;
    assert_int_equal(tsl_server_set_keepalive(srv, 500), 0);
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    t0 = fed = clock_ms;
    while (clock_ms - t0 < 1500 && turns++ < 1000) {
        if (clock_ms - fed >= 200) {
            peer_sends(1, f, n);
            fed = clock_ms;
        }
        assert_true(turn(0, 100));
        assert_true(pollers[0].last_ms <= 100);
        if (seen[0].disconnects == 1 && expired_at == 0)
            expired_at = clock_ms;
    }
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_KA_EXPIRED);
    /* The hold and the tick are aligned with the clock: expiry is at the
     * hold exactly, not a tick later. */
    assert_int_equal(expired_at - t0, 500);
    assert_int_equal(seen[1].disconnects, 0);
    assert_true(seen[1].msgs >= 6);
    assert_false(socks[1].closed);
}

/* Runs turns until client i is gone or `ms` pass; the time it went. */
static int64_t
turns_until_gone(int i, int ms)
{
    int64_t t0 = clock_ms;
    int turns = 0;

    while (seen[i].disconnects == 0 && clock_ms - t0 < ms && turns++ < 1000)
        assert_true(turn(0, 100));
    return seen[i].disconnects ? clock_ms : -1;
}

/* Keepalive switched on for clients that were silent while it was off
 * gives each the full hold from that moment, not from its last byte. */
static void
keepalive_switched_on_holds_from_then(void **state)
{
    int64_t on;

    (void)state;
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    assert_int_equal(tsl_client_set_keepalive(cl[1], 0), 0); /* off */
    assert_int_equal(turns_until_gone(0, 5000), -1); /* silent 5 s */
    on = clock_ms;
    assert_int_equal(tsl_server_set_keepalive(srv, 500), 0);
    assert_int_equal(turns_until_gone(0, 2000) - on, 500);
    assert_int_equal(seen[0].reason, TSL_REASON_KA_EXPIRED);
    assert_int_equal(seen[1].disconnects, 0); /* its own hold is off */
    /* The same for a client's own hold. */
    on = clock_ms;
    assert_int_equal(tsl_client_set_keepalive(cl[1], 300), 0);
    assert_int_equal(turns_until_gone(1, 2000) - on, 300);
    assert_int_equal(seen[1].reason, TSL_REASON_KA_EXPIRED);
}

/* A client's hold is kept in 32 bits as the server's is: the longest
 * holds (2^32 - 1 ms, the largest int64) are the longest there is, never
 * taken for "the server's", and -1 still returns to the server's. */
static void
longest_client_holds_are_not_the_servers(void **state)
{
    (void)state;
    assert_int_equal(tsl_server_set_keepalive(srv, 500), 0);
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    add_client(2, 0);
    assert_int_equal(tsl_client_set_keepalive(cl[0], UINT32_MAX), 0);
    assert_int_equal(tsl_client_set_keepalive(cl[1], INT64_MAX), 0);
    assert_true(turn(0, 0)); /* the owner applies them */
    assert_true(turns_until_gone(2, 3000) > 0); /* the server's hold */
    assert_int_equal(seen[2].reason, TSL_REASON_KA_EXPIRED);
    assert_int_equal(turns_until_gone(0, 3000), -1);
    assert_int_equal(seen[1].disconnects, 0);
    assert_int_equal(tsl_client_set_keepalive(cl[0], -1), 0);
    assert_true(turns_until_gone(0, 1000) > 0); /* silent for 3.5 s */
    assert_int_equal(seen[0].reason, TSL_REASON_KA_EXPIRED);
    assert_int_equal(seen[1].disconnects, 0);
}

/* While the server does not listen, a client whose bytes wait unread is
 * not silent: keepalive spares it, and expires the one that is. */
static void
unread_bytes_keep_a_client_the_server_does_not_read(void **state)
{
    uint8_t f[32];
    size_t n = frame(f, "waiting");
    int64_t t0;
    int turns = 0;

    (void)state;
    assert_int_equal(tsl_server_set_keepalive(srv, 500), 0);
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    assert_int_equal(tsl_server_set_flags(srv, TSL_SERVER_NOT_LISTENING), 0);
    peer_sends(1, f, n);
    t0 = clock_ms;
    while (clock_ms - t0 < 2000 && turns++ < 1000)
        assert_true(turn(0, 100));
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_KA_EXPIRED);
    assert_int_equal(seen[1].disconnects, 0);
    assert_int_equal(seen[1].msgs, 0); /* not read, not delivered */
    assert_true(socks[1].peeks > 0);
    assert_int_equal(tsl_server_clear_flags(srv, TSL_SERVER_NOT_LISTENING), 0);
    assert_true(turn(0, 0));
    assert_int_equal(seen[1].msgs, 1);
    assert_memory_equal(seen[1].last, "waiting", 7);
}

/* A peer that resets while the server does not read it: a poller that
 * reports only what it is asked (select, this fake) shows nothing for
 * it, and the keepalive expiry's peek is the first to meet the reset.
 * The client ends peer-reset, not ka-expired (it was ka-expired before:
 * the failed peek counted as no byte waiting). */
static void
reset_met_by_the_expiry_peek_is_peer_reset(void **state)
{
    int turns = 0;

    (void)state;
    assert_int_equal(tsl_server_set_keepalive(srv, 500), 0);
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    assert_int_equal(tsl_server_set_flags(srv, TSL_SERVER_NOT_LISTENING), 0);
    socks[1].reset = true;
    while (seen[1].disconnects == 0 && turns++ < 100)
        assert_true(turn(0, 100));
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_KA_EXPIRED);
    assert_int_equal(seen[1].disconnects, 1);
    assert_int_equal(seen[1].reason, TSL_REASON_PEER_RESET);
}

/* A clean hang-up (EOF, no socket error) reported while the server does
 * not read the client is not a reset: the bytes that came before it are
 * still delivered once it reads again, and the client ends peer-closed.
 * A hang-up with an error pending is the reset it looks like. */
static void
hang_up_while_not_listening_is_a_reset_only_with_an_error(void **state)
{
    uint8_t f[16];
    int turns = 0;

    (void)state;
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    assert_int_equal(tsl_server_set_flags(srv, TSL_SERVER_NOT_LISTENING), 0);
    assert_true(turn(0, 0)); /* the flag is seen: no more reading */
    peer_sends(0, f, frame(f, "last"));
    socks[0].eof = socks[0].hup = true;
    socks[1].eof = socks[1].hup = true;
    socks[1].so_error = ECONNRESET;
    while (seen[1].disconnects == 0 && turns++ < 10)
        assert_true(turn(0, 10));
    assert_int_equal(seen[1].reason, TSL_REASON_PEER_RESET);
    assert_int_equal(seen[0].disconnects, 0);
    assert_int_equal(seen[0].msgs, 0);
    assert_int_equal(tsl_server_clear_flags(srv, TSL_SERVER_NOT_LISTENING),
                     0);
    turns = 0;
    while (seen[0].disconnects == 0 && turns++ < 10)
        assert_true(turn(0, 10));
    assert_int_equal(seen[0].msgs, 1);
    assert_memory_equal(seen[0].last, "last", 4);
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_PEER_CLOSED);
}

/* Delivery stops once the replies buffered this turn pass the high
 * watermark - pass it, not reach it: with the watermark at exactly four
 * replies, a fifth is still delivered in the same turn, and a sixth waits
 * until they have been written. */
static void
delivery_stops_past_the_high_watermark_not_at_it(void **state)
{
    uint8_t all[80];
    size_t n = 0;
    int i;

    (void)state;
    assert_int_equal(tsl_server_set_output_limits(srv, 10, 40, 65536, 60000),
                     0);
    open_rx(0);
    add_client(0, 0);
    for (i = 0; i < 6; i++)
        n += frame(all + n, "abcdefgh"); /* 10 bytes each */
    socks[0].room = 0;
    peer_sends(0, all, n);
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 5); /* 40 is not past 40; 50 is */
    assert_int_equal(tsl__output_len(cl[0]), 50);
    socks[0].room = UNLIMITED;
    assert_true(turn(0, 0));
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 6);
    assert_int_equal(socks[0].out_len, n);
    assert_memory_equal(socks[0].out, all, n);
}

static void
protocol_error_ends_that_client_only(void **state)
{
    uint8_t bad[2] = {1, 0}; /* a length shorter than its own header */
    uint8_t f[32];
    size_t n = frame(f, "fine");

    (void)state;
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    peer_sends(0, bad, sizeof(bad));
    peer_sends(1, f, n);
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_PROTOCOL_ERROR);
    assert_true(socks[0].closed);
    assert_int_equal(seen[1].msgs, 1);
    assert_int_equal(seen[1].disconnects, 0);
    assert_int_equal(socks[1].out_len, n);
}

static void
migration_hands_over_half_a_frame(void **state)
{
    uint8_t f[32];
    size_t n = frame(f, "moved");
    struct tsl_client *c;

    (void)state;
    open_rx(0);
    open_rx(1);
    c = add_client(0, 0);
    peer_sends(0, f, 4); /* half a frame: into the client's ring */
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 0);
    assert_true(tsl__cbuf_size(&c->in) > 0);
    /* What tsl_server_migrate_client() asks, to a receiver of our own. */
    tsl__client_lock(c);
    c->migrate_to = &rx[1];
    atomic_store(&c->migrating, true);
    tsl__client_poke_locked(c, TSL__P_MIGRATE);
    tsl__client_unlock(c);
    assert_true(turn(0, 0));
    assert_int_equal(rx[0].n, 0);
    assert_null(fp_find(&pollers[0], SOCK_FD));
    peer_sends(0, f + 4, n - 4);
    assert_true(turn(1, 0)); /* adopts it, reads, completes the frame */
    assert_true(c->slot < rx[1].n);
    assert_ptr_equal(rx[1].clients[c->slot], c);
    assert_int_equal(seen[0].msgs, 1);
    assert_ptr_equal(seen[0].served_by, &rx[1]);
    assert_memory_equal(seen[0].last, "moved", 5);
    assert_int_equal(socks[0].out_len, n);
    assert_int_equal(c->st.migrations, 1);
    assert_int_equal(seen[0].disconnects, 0);
}

static void
migrate_to_rx1(struct tsl_client *c)
{
    tsl__client_lock(c);
    c->migrate_to = &rx[1];
    atomic_store(&c->migrating, true);
    tsl__client_poke_locked(c, TSL__P_MIGRATE);
    tsl__client_unlock(c);
}

/* A client still being set up (handed over, not yet adopted by its
 * receiver's turn) or already moving is refused another move with
 * TSL_EAGAIN, and the move under way completes as asked: one migration,
 * to the receiver it was sent to. */
static void
a_client_arriving_or_moving_is_not_moved_again(void **state)
{
    union tsl__sa peer = {.in = {.sin_family = AF_INET}};
    uint8_t f[32];
    size_t n = frame(f, "there");
    struct tsl_client *c;

    (void)state;
    open_rx(0);
    open_rx(1);
    socks[0].room = UNLIMITED;
    atomic_store(&srv->next_id, 0);
    c = tsl__client_create(srv, SOCK_FD, &peer);
    assert_non_null(c);
    tsl__db_add(&srv->db, c);
    atomic_fetch_add(&srv->ctr.current, 1);
    tsl_client_ref(c);
    cl[0] = c;
    assert_int_equal(tsl__client_handoff(c, &rx[0].owner, NULL), 0);
    assert_int_equal(tsl_server_migrate_client(srv, c, TSL_CLIENT_MULTIPLEXED),
                     TSL_EAGAIN);
    assert_true(turn(0, 0)); /* adopted */
    assert_ptr_equal(rx[0].clients[c->slot], c);
    /* Served where it is: "already there". */
    assert_int_equal(tsl_server_migrate_client(srv, c, TSL_CLIENT_MULTIPLEXED),
                     0);
    assert_null(c->migrate_to);
    migrate_to_rx1(c);
    assert_int_equal(tsl_server_migrate_client(srv, c, TSL_CLIENT_MULTIPLEXED),
                     TSL_EAGAIN);
    assert_ptr_equal(c->migrate_to, &rx[1]);
    assert_true(turn(0, 0));
    peer_sends(0, f, n);
    assert_true(turn(1, 0));
    assert_ptr_equal(rx[1].clients[c->slot], c);
    assert_ptr_equal(seen[0].served_by, &rx[1]);
    assert_int_equal(seen[0].msgs, 1);
    assert_int_equal(c->st.migrations, 1);
    assert_int_equal(seen[0].disconnects, 0);
}

static void
disconnect_client_0(void)
{
    assert_int_equal(tsl_client_disconnect(cl[0]), 0);
}

/* Three clients migrate in at once and sit on the new owner's work list
 * (newest first: 2, 0, 1); client 0, in the middle, is closed by "another
 * thread" while the queue is being taken.  Taking it out of the middle of
 * the list must leave the others on it: both are read and served in that
 * same turn. */
static void
a_client_leaving_mid_list_leaves_the_others_served(void **state)
{
    uint8_t f[32];
    size_t n = frame(f, "after");

    (void)state;
    open_rx(0);
    open_rx(1);
    add_client(1, 0);
    add_client(0, 0);
    add_client(2, 0);
    migrate_to_rx1(cl[1]);
    migrate_to_rx1(cl[0]);
    migrate_to_rx1(cl[2]);
    assert_true(turn(0, 0));
    assert_int_equal(rx[0].n, 0);
    peer_sends(1, f, n);
    peer_sends(2, f, n);
    hook_fd = SOCK_FD + 2; /* the last one adopted: 0 is mid-list then */
    hook_fn = disconnect_client_0;
    assert_true(turn(1, 0));
    assert_int_equal(hook_fd, -1); /* the hook ran */
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_FORCED);
    assert_int_equal(seen[1].msgs, 1);
    assert_int_equal(seen[2].msgs, 1);
    assert_ptr_equal(seen[1].served_by, &rx[1]);
    assert_ptr_equal(seen[2].served_by, &rx[1]);
    assert_int_equal(rx[1].n, 2);
    assert_null(rx[1].work);
}

static void
pause_on_first(tsl_client_t *c, const uint8_t *m, size_t len)
{
    (void)m;
    (void)len;
    if (seen[idx(c)].msgs == 1)
        assert_int_equal(tsl_client_pause_reading(c), 0);
}

/* Paused from its first message's callback, a client gets no second one
 * (the rest of that read waits in its ring), is not read (its interest
 * drops reading), and on resume gets the held frames first, then what
 * arrived meanwhile, in order. */
static void
paused_reading_holds_frames_until_resumed(void **state)
{
    uint8_t all[64], more[32];
    size_t n = 0, m;

    (void)state;
    on_msg_extra = pause_on_first;
    echo = false;
    open_rx(0);
    add_client(0, 0);
    n += frame(all + n, "one");
    n += frame(all + n, "two");
    n += frame(all + n, "three");
    peer_sends(0, all, n);
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 1);
    assert_false(fp_find(&pollers[0], SOCK_FD)->events & TSL_POLL_IN);
    m = frame(more, "four");
    peer_sends(0, more, m);
    assert_true(turn(0, 0));
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 1);
    assert_int_equal(socks[0].in_off, n); /* "four" not even read */
    assert_int_equal(tsl_client_resume_reading(cl[0]), 0);
    assert_true(turn(0, 0));
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 4);
    assert_memory_equal(seen[0].last, "four", 4);
    assert_true(fp_find(&pollers[0], SOCK_FD)->events & TSL_POLL_IN);
    assert_int_equal(tsl_client_pause_reading(cl[0]), 0);
    assert_int_equal(tsl_client_disconnect(cl[0]), 0);
    assert_true(turn(0, 0));
    assert_int_equal(tsl_client_resume_reading(cl[0]), TSL_ENOTCONN);
}

/* Keepalive frames held in the ring behind a message whose callback
 * paused reading are counted when they are delivered on resume, as they
 * would have been in the read that brought them (no byte is read then:
 * the bytes were counted with that read). */
static void
held_keepalives_are_counted_on_resume(void **state)
{
    static const uint8_t ka[2] = {2, 0};
    uint8_t all[64];
    tsl_client_stats_t st;
    size_t n = 0;

    (void)state;
    on_msg_extra = pause_on_first;
    echo = false;
    open_rx(0);
    add_client(0, 0);
    n += frame(all + n, "one");
    memcpy(all + n, ka, 2), n += 2;
    memcpy(all + n, ka, 2), n += 2;
    n += frame(all + n, "two");
    memcpy(all + n, ka, 2), n += 2;
    peer_sends(0, all, n);
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 1);
    tsl_client_stats(cl[0], &st);
    assert_int_equal(st.keepalives_in, 0);
    assert_int_equal(st.bytes_in, n);
    assert_int_equal(tsl_client_resume_reading(cl[0]), 0);
    assert_true(turn(0, 0));
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 2);
    assert_memory_equal(seen[0].last, "two", 3);
    tsl_client_stats(cl[0], &st);
    assert_int_equal(st.keepalives_in, 3);
    assert_int_equal(st.msgs_in, 2);
    assert_int_equal(st.bytes_in, n);
    assert_int_equal(seen[0].disconnects, 0);
}

/* A malformed frame held in the ring while reading was paused ends that
 * client when its frames are delivered on resume - and only it: the turn
 * goes on with the others. */
static void
held_malformed_frame_ends_the_client_on_resume(void **state)
{
    uint8_t all[64], f[32];
    size_t n = 0, k = frame(f, "other");

    (void)state;
    on_msg_extra = pause_on_first;
    echo = true;
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    n += frame(all + n, "one");
    all[n++] = 1; /* a length shorter than its own header */
    all[n++] = 0;
    peer_sends(0, all, n);
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].msgs, 1);
    assert_int_equal(seen[0].disconnects, 0);
    assert_int_equal(tsl_client_resume_reading(cl[0]), 0);
    peer_sends(1, f, k);
    socks[0].eof = true; /* and the peer is done: nothing more to read */
    assert_true(turn(0, 0));
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_PROTOCOL_ERROR);
    assert_int_equal(seen[0].msgs, 1);
    assert_true(socks[0].closed);
    assert_int_equal(seen[1].msgs, 1);
    assert_int_equal(seen[1].disconnects, 0);
    assert_int_equal(socks[1].out_len, k);
}

static int broadcast_rc;

static void
broadcast_it(tsl_client_t *c, const uint8_t *m, size_t len)
{
    uint8_t f[64];
    long n = tsl_framing_encode(&srv->framing, m, len, f, sizeof(f));

    assert_true(n > 0);
    broadcast_rc = tsl_server_broadcast(srv, f, (size_t)n, c);
}

/* A message callback broadcasts to every client but its sender. */
static void
broadcast_reaches_everyone_but_the_sender(void **state)
{
    uint8_t f[32];
    size_t n = frame(f, "hi all");

    (void)state;
    on_msg_extra = broadcast_it;
    echo = false;
    assert_int_equal(tsl_server_set_output_limits(srv, 1024, 4096, 16384,
                                                  60000),
                     0);
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    add_client(2, 0);
    peer_sends(1, f, n);
    assert_true(turn(0, 0));
    assert_int_equal(broadcast_rc, 2);
    assert_int_equal(socks[0].out_len, n);
    assert_memory_equal(socks[0].out, f, n);
    assert_int_equal(socks[2].out_len, n);
    assert_int_equal(socks[1].out_len, 0);
    /* Longer than the hard limit: refused before a byte is read. */
    assert_int_equal(tsl_server_broadcast(srv, f, 16385, NULL), TSL_ENOBUFS);
}

struct visit {
    int calls;
};

/* Inside foreach the whole API may be used on the server: a lookup (the
 * database lock), a send, a disconnect, a nested foreach. */
static void
count_one(tsl_client_t *c, void *arg)
{
    (void)c;
    ((struct visit *)arg)->calls++;
}

static void
visit_and_call_back(tsl_client_t *c, void *arg)
{
    struct visit *v = arg, inner = {0};
    tsl_client_t *same = tsl_server_find_client(srv, tsl_client_id(c));
    uint8_t f[16];
    size_t n = frame(f, "hey");

    assert_ptr_equal(same, c);
    tsl_client_unref(same);
    assert_int_equal(tsl_server_foreach_client(srv, count_one, &inner), 2);
    assert_int_equal(inner.calls, 2);
    assert_int_equal(tsl_client_send(c, f, n), 0);
    if (tsl_client_id(c) == 1)
        assert_int_equal(tsl_client_disconnect(c), 0);
    v->calls++;
}

static void
foreach_may_call_back_into_the_server(void **state)
{
    struct visit v = {0};
    int x = 1;

    (void)state;
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    tsl_client_set_data(cl[1], &x);
    assert_null(tsl_client_data(cl[0]));
    assert_int_equal(tsl_server_foreach_client(srv, visit_and_call_back, &v),
                     2);
    assert_int_equal(v.calls, 2);
    assert_true(turn(0, 0));
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_FORCED);
    assert_int_equal(socks[1].out_len, 5);
    assert_ptr_equal(tsl_client_data(cl[1]), &x);
    assert_int_equal(tsl_server_foreach_client(srv, count_one, &v), 1);
}

static void
stop_finishes_every_client_once(void **state)
{
    (void)state;
    open_rx(0);
    add_client(0, 0);
    add_client(1, 0);
    assert_int_equal(tsl_client_disconnect(cl[0]), 0);
    tsl__receiver_request_stop(&rx[0]);
    assert_false(turn(0, 0)); /* the queue first: the forced close */
    assert_int_equal(seen[0].disconnects, 1);
    assert_int_equal(seen[0].reason, TSL_REASON_FORCED);
    assert_int_equal(seen[1].disconnects, 0);
    tsl__loop_exit(&rx[0]);
    assert_int_equal(seen[1].disconnects, 1);
    assert_int_equal(seen[1].reason, TSL_REASON_SHUTDOWN);
    assert_true(socks[0].closed && socks[1].closed);
    /* Closed for hand-offs from now on. */
    assert_int_equal(tsl_client_disconnect(cl[1]), TSL_ENOTCONN);
    tsl__receiver_release(&rx[0]);
    assert_false(rx[0].started);
    assert_int_equal(seen[0].disconnects + seen[1].disconnects, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(split_frame_is_delivered_once_whole,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            coalesced_frames_get_one_read_and_one_write, setup, teardown),
        cmocka_unit_test_setup_teardown(
            keepalives_between_messages_in_one_read, setup, teardown),
        cmocka_unit_test_setup_teardown(
            output_waits_for_writability_then_drains_in_order, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            output_may_hold_the_hard_limit_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(second_disconnect_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            stalled_output_ends_that_client_as_slow_consumer, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            silent_client_expires_and_a_talking_one_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(
            unread_bytes_keep_a_client_the_server_does_not_read, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            reset_met_by_the_expiry_peek_is_peer_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(
            hang_up_while_not_listening_is_a_reset_only_with_an_error, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            delivery_stops_past_the_high_watermark_not_at_it, setup,
            teardown),
        cmocka_unit_test_setup_teardown(protocol_error_ends_that_client_only,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(migration_hands_over_half_a_frame,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_client_leaving_mid_list_leaves_the_others_served, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            paused_reading_holds_frames_until_resumed, setup, teardown),
        cmocka_unit_test_setup_teardown(
            broadcast_reaches_everyone_but_the_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(
            foreach_may_call_back_into_the_server, setup, teardown),
        cmocka_unit_test_setup_teardown(
            drained_once_the_queue_is_back_under_the_low_watermark, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            held_malformed_frame_ends_the_client_on_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(
            held_keepalives_are_counted_on_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_client_arriving_or_moving_is_not_moved_again, setup, teardown),
        cmocka_unit_test_setup_teardown(
            other_timers_do_not_end_a_stalled_client_early, setup, teardown),
        cmocka_unit_test_setup_teardown(longest_client_holds_are_not_the_servers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(keepalive_switched_on_holds_from_then,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            sends_of_another_thread_land_where_they_returned, setup, teardown),
        cmocka_unit_test_setup_teardown(
            another_threads_leftover_goes_at_the_turns_end, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_finishes_every_client_once,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

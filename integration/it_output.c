/*
 * it_output.c - the output path: one write per read, call order across
 * threads, the limits on buffered output, write errors at flush time, and
 * a reading client that is never dropped for its own replies.
 *
 * The server's socket calls are counted through the OS-call table (the
 * test's own client sockets use libc directly, so only the server's calls
 * are seen).  Each case runs on the backend TSL_BACKEND names (the suite
 * runs twice) or, for the _threaded cases, on a dedicated thread.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"
#include "tsl_sys.h"

/* ---- a log of the server's reads and writes ---- */

#define LOG_MAX 65536

struct ev {
    char kind;   /* 'R' a read that returned data, 'S' a send */
    int fd;
    long n;
};

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ev evlog[LOG_MAX];
static size_t nlog;
static struct tsl_sys_ops ops;
static atomic_int fail_fd = -1; /* sends on it fail with EPIPE */
static atomic_int eagain_reads;  /* reads that found nothing (EAGAIN) */
static atomic_int waited_sends;  /* sends the socket took short or not */

static void
log_ev(char kind, int fd, long n)
{
    pthread_mutex_lock(&log_mu);
    if (nlog < LOG_MAX)
        evlog[nlog++] = (struct ev){kind, fd, n};
    pthread_mutex_unlock(&log_mu);
}

static ssize_t
c_recv(int fd, void *buf, size_t n, int flags)
{
    ssize_t r = tsl__sys_libc.recv(fd, buf, n, flags);

    if (r > 0)
        log_ev('R', fd, r);
    else if (r < 0 && errno == EAGAIN && !(flags & MSG_PEEK))
        atomic_fetch_add(&eagain_reads, 1);
    return r;
}

static ssize_t
c_readv(int fd, const struct iovec *iov, int n)
{
    ssize_t r = tsl__sys_libc.readv(fd, iov, n);

    if (r > 0)
        log_ev('R', fd, r);
    else if (r < 0 && errno == EAGAIN)
        atomic_fetch_add(&eagain_reads, 1);
    return r;
}

static ssize_t
c_send(int fd, const void *buf, size_t n, int flags)
{
    ssize_t r;

    if (fd == atomic_load(&fail_fd)) {
        log_ev('S', fd, -1);
        errno = EPIPE;
        return -1;
    }
    log_ev('S', fd, (long)n);
    r = tsl__sys_libc.send(fd, buf, n, flags);
    if ((r < 0 && errno == EAGAIN) || (r >= 0 && (size_t)r < n)) {
        int e = errno;
        atomic_fetch_add(&waited_sends, 1);
        errno = e;
    }
    return r;
}

/* With small_sndbuf, the server's end of each connection gets a 4 KiB send
 * buffer (the kernel's own would take all of a test's replies at once). */
static bool small_sndbuf;

static int
c_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    int r = tsl__sys_libc.accept4(fd, sa, len, flags), small = 4096;

    if (r >= 0 && small_sndbuf)
        setsockopt(r, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    return r;
}

static void
counting_on(void)
{
    ops = tsl__sys_libc;
    ops.recv = c_recv;
    ops.readv = c_readv;
    ops.send = c_send;
    ops.accept4 = c_accept4;
    nlog = 0;
    atomic_store(&eagain_reads, 0);
    atomic_store(&waited_sends, 0);
    tsl__sys_set(&ops);
}

static bool threaded;

static void
start(struct it_server *s, const char *name, const char *framing,
      enum it_action act)
{
    counting_on();
    it_server_create(s, name, framing, act);
    if (threaded)
        IT_EQ(tsl_server_set_flags(s->srv, TSL_SERVER_MULTI_THREADED), 0);
    IT_EQ(tsl_server_start(s->srv), 0);
    s->port = tsl_server_port(s->srv);
}

static void
finish(struct it_server *s)
{
    it_server_finish(s);
    tsl__sys_set(NULL);
}

/* ---- one read holding sixteen frames: one write ---- */

#define FR 64

static void
one_write_per_read(void)
{
    enum { ROUNDS = 50, K = 16 };
    uint8_t out[K * FR], in[K * FR];
    struct it_server s;
    size_t i, reads = 0, sends = 0, done = 0, want = 0;
    int fd, r, k;

    start(&s, "onewrite", "fixed:64", IT_ECHO);
    fd = it_connect(s.port);
    for (r = 0; r < ROUNDS; r++) {
        for (k = 0; k < K * FR; k++)
            out[k] = (uint8_t)(r * 31 + k);
        it_send_all(fd, out, sizeof(out)); /* sixteen frames, one send */
        it_recv_exact(fd, in, sizeof(in));
        IT_CHECK(memcmp(in, out, sizeof(in)) == 0);
    }
    IT_WAIT(&s, s.messages == ROUNDS * K, 2000);
    it_close(fd);
    IT_WAIT(&s, s.disconnected == 1, 2000);
    /* Every read that completed frames is followed by exactly one send
     * before the next read; a read that completed none by no send. */
    pthread_mutex_lock(&log_mu);
    for (i = 0; i < nlog; i++) {
        if (evlog[i].kind == 'R') {
            if (want != sends)
                IT_FAIL("read %zu: %zu sends after %zu frame-completing "
                        "reads", reads, sends, want);
            reads++;
            done += (size_t)evlog[i].n;
            if (done / FR > (done - (size_t)evlog[i].n) / FR)
                want++;
        } else {
            sends++;
        }
    }
    pthread_mutex_unlock(&log_mu);
    IT_EQ(sends, want);
    IT_CHECK(reads >= 1 && reads <= ROUNDS * K);
    fprintf(stderr, "%zu reads, %zu sends for %d messages\n", reads, sends,
            ROUNDS * K);
    finish(&s);
}

/* ---- sends from a callback and from another thread, in call order ---- */

/* Every send, from either thread, takes a number under one mutex and sends
 * a record carrying it while still holding the mutex: the order in which
 * the sends return is the order of the numbers, and the peer must read
 * the numbers 0, 1, 2, ... */
#define REC 16
#define APP_MAX 20000 /* records the other thread sends at most */

static pthread_mutex_t seq_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t seq;
static atomic_int order_errors;
static tsl_client_t *target;
static atomic_bool app_go, app_stop;
static atomic_int app_sent; /* records the application thread sent */
static uint64_t app_rng;    /* the application thread's */

static void
send_record(tsl_client_t *c, uint8_t who)
{
    uint8_t rec[REC];

    memset(rec, who, sizeof(rec));
    pthread_mutex_lock(&seq_mu);
    memcpy(rec, &seq, sizeof(seq));
    if (tsl_client_send(c, rec, sizeof(rec)) == 0)
        seq++;
    else
        atomic_fetch_add(&order_errors, 1);
    pthread_mutex_unlock(&seq_mu);
}

static void
order_msg(tsl_server_t *srv, tsl_client_t *c, const uint8_t *m, size_t n,
          void *ud)
{
    (void)srv;
    (void)ud;
    (void)n;
    /* m[0] replies per message: 1 to 3 records. */
    for (int i = 0; i < 1 + m[0] % 3; i++)
        send_record(c, 'c');
    /* Let the other thread send while this turn's replies are still
     * buffered: its records must queue behind them. */
    sched_yield();
}

static void
order_conn(tsl_server_t *srv, tsl_client_t *c, void *ud)
{
    (void)srv;
    (void)ud;
    tsl_client_ref(c);
    target = c;
    atomic_store(&app_go, true);
}

static void *
app_main(void *arg)
{
    uint64_t *rng = arg;

    while (!atomic_load(&app_go))
        sched_yield();
    while (!atomic_load(&app_stop) && atomic_load(&app_sent) < APP_MAX) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        for (int i = 0; i < (int)(*rng >> 60) + 1; i++) {
            send_record(target, 't');
            atomic_fetch_add(&app_sent, 1);
        }
        if ((*rng >> 40) % 4 == 0)
            sched_yield();
    }
    return NULL;
}

/* Reads and checks the records that have arrived (all of them up to
 * `upto`, waiting, if upto is non-zero). */
static void
drain(int fd, uint64_t *expect, uint64_t upto)
{
    uint8_t rec[REC];
    uint64_t got;

    for (;;) {
        if (upto != 0 && *expect >= upto)
            return;
        if (upto == 0) {
            ssize_t k = recv(fd, rec, sizeof(rec), MSG_DONTWAIT | MSG_PEEK);
            if (k < (ssize_t)sizeof(rec))
                return;
        }
        it_recv_exact(fd, rec, sizeof(rec));
        memcpy(&got, rec, sizeof(got));
        if (got != *expect)
            IT_FAIL("record %llu arrived as number %llu (seed %llu)",
                    (unsigned long long)*expect, (unsigned long long)got,
                    (unsigned long long)it_seed);
        (*expect)++;
    }
}

static void
call_order(void)
{
    enum { MSGS = 3000 };
    tsl_callbacks_t cb = {.connected = order_conn, .message = order_msg};
    tsl_framing_t f;
    tsl_server_t *srv;
    pthread_t app;
    uint64_t rng = it_seed * 0x9e3779b97f4a7c15ull + 1, expect = 0;
    uint8_t frames[64 * 4];
    int fd, sent = 0, i, n, from_cb = 0;

    IT_EQ(tsl_server_create(&srv, "order", "127.0.0.1", 0), 0);
    IT_EQ(tsl_framing_parse("fixed:4", &f, NULL, 0), 0);
    IT_EQ(tsl_server_set_framing(srv, &f), 0);
    IT_EQ(tsl_server_set_callbacks(srv, &cb, NULL), 0);
    if (threaded)
        IT_EQ(tsl_server_set_flags(srv, TSL_SERVER_MULTI_THREADED), 0);
    IT_EQ(tsl_server_start(srv), 0);
    app_rng = rng ^ 0x5bd1e995ull; /* its own stream: rng stays ours */
    IT_EQ(pthread_create(&app, NULL, app_main, &app_rng), 0);
    fd = it_connect(tsl_server_port(srv));
    /* Bursts of 1..64 frames in one send, seeded; the replies are read
     * as they come, so nothing backs up. */
    while (sent < MSGS) {
        uint64_t r = rng = rng * 2862933555777941757ull + 3037000493ull;
        /* The other thread sends between any two bursts: the two kinds of
         * sends interleave however the threads are scheduled. */
        int seen = atomic_load(&app_sent);
        int64_t dl = it_now_ms() + 5000 * it_scale();
        while (seen < APP_MAX && atomic_load(&app_sent) == seen &&
               it_now_ms() < dl)
            sched_yield();
        IT_CHECK(seen >= APP_MAX || atomic_load(&app_sent) > seen);
        n = 1 + (int)((r >> 33) % 64);
        if (n > MSGS - sent)
            n = MSGS - sent;
        for (i = 0; i < n * 4; i++)
            frames[i] = (uint8_t)(r >> (i % 56));
        for (i = 0; i < n; i++)
            from_cb += 1 + frames[i * 4] % 3;
        it_send_all(fd, frames, (size_t)n * 4);
        sent += n;
        drain(fd, &expect, 0); /* what has arrived, without waiting */
    }
    /* Every message delivered (its replies sent), then the other thread
     * stops: everything sent must arrive, in order. */
    {
        int64_t dl = it_now_ms() + 10000 * it_scale();
        tsl_client_stats_t cs;
        do {
            tsl_client_stats(target, &cs);
            if (cs.msgs_in == MSGS)
                break;
            drain(fd, &expect, 0); /* replies must not back up */
            sched_yield();
        } while (it_now_ms() < dl);
        IT_EQ(cs.msgs_in, MSGS);
    }
    atomic_store(&app_stop, true);
    pthread_join(app, NULL);
    pthread_mutex_lock(&seq_mu);
    uint64_t total = seq;
    pthread_mutex_unlock(&seq_mu);
    IT_CHECK(total > (uint64_t)from_cb); /* both kinds were sent */
    drain(fd, &expect, total);
    IT_EQ(atomic_load(&order_errors), 0);
    fprintf(stderr, "%llu records in order, %d from callbacks, %d from the "
            "other thread\n", (unsigned long long)total, from_cb,
            atomic_load(&app_sent));
    IT_EQ(total, (uint64_t)from_cb + (uint64_t)atomic_load(&app_sent));
    it_close(fd);
    tsl_client_unref(target);
    IT_EQ(tsl_server_destroy(srv), 0);
}

/* ---- buffered output over the hard limit ---- */

/* Each message is answered with 8 x 3 KiB while the hard limit is 16 KiB:
 * the buffer passes it within one callback, so that client ends with
 * slow-consumer even though it reads; another client, answered once per
 * message, is served on. */
static void
big_reply(tsl_server_t *srv, tsl_client_t *c, const uint8_t *m, size_t n,
          void *ud)
{
    static uint8_t reply[3072];
    struct it_server *s = ud;

    (void)srv;
    pthread_mutex_lock(&s->mu);
    s->messages++;
    pthread_mutex_unlock(&s->mu);
    if (n == 4 && m[2] == 'b') {
        for (int i = 0; i < 8; i++)
            if (tsl_client_send(c, reply, sizeof(reply)) < 0)
                break;
    } else {
        tsl_client_send(c, m, n);
    }
}

static void
buffered_over_hard_limit(void)
{
    /* A server of its own: the itest recorder's message handler echoes. */
    struct it_server s;
    tsl_callbacks_t cb = {.message = big_reply};
    tsl_server_stats_t st;
    tsl_client_stats_t cs;
    tsl_framing_t f;
    tsl_server_t *srv;
    tsl_client_t *c;
    uint8_t fr[4] = {4, 0, 'b', 'b'};
    int big, small;

    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    IT_EQ(tsl_server_create(&srv, "hard", "127.0.0.1", 0), 0);
    /* Frames of 1 KiB at most: the hard limit is not raised for them. */
    IT_EQ(tsl_framing_parse("variable:max=1024", &f, NULL, 0), 0);
    IT_EQ(tsl_server_set_framing(srv, &f), 0);
    IT_EQ(tsl_server_set_callbacks(srv, &cb, &s), 0);
    IT_EQ(tsl_server_set_output_limits(srv, 1024, 4096, 16384, 30000), 0);
    if (threaded)
        IT_EQ(tsl_server_set_flags(srv, TSL_SERVER_MULTI_THREADED), 0);
    IT_EQ(tsl_server_start(srv), 0);
    small = it_connect(tsl_server_port(srv));
    it_echo_once(small, "s1");
    big = it_connect(tsl_server_port(srv));
    it_send_all(big, fr, sizeof(fr));
    IT_CHECK(it_wait_closed(big, 5000 * it_scale()));
    it_echo_once(small, "s2");
    c = tsl_server_find_client(srv, 1);
    IT_CHECK(c != NULL);
    tsl_client_stats(c, &cs);
    IT_EQ(cs.msgs_in, 2);
    IT_EQ(cs.msgs_out, 2);
    tsl_client_unref(c);
    IT_CHECK(tsl_server_find_client(srv, 2) == NULL);
    /* Counted after the socket closes: wait for it. */
    {
        int64_t dl = it_now_ms() + 2000 * it_scale();
        do
            tsl_server_stats(srv, &st);
        while (st.disconnected[TSL_REASON_SLOW_CONSUMER] == 0 &&
               it_now_ms() < dl && sched_yield() == 0);
    }
    IT_EQ(st.disconnected[TSL_REASON_SLOW_CONSUMER], 1);
    IT_EQ(st.current_clients, 1);
    it_close(small);
    it_close(big);
    IT_EQ(tsl_server_destroy(srv), 0);
    pthread_mutex_destroy(&s.mu);
}

/* ---- a failed flush ends that client only ---- */

static void
failed_flush_ends_that_client(void)
{
    struct it_server s;
    tsl_client_stats_t cs;
    tsl_client_t *c;
    uint8_t fr[4] = {4, 0, 'x', 'y'};
    int a, b;

    start(&s, "flushfail", "variable", IT_ECHO);
    a = it_connect(s.port);
    b = it_connect(s.port);
    it_echo_once(a, "a1");
    it_echo_once(b, "b1");
    /* The server's descriptor for b: its last send went to it. */
    pthread_mutex_lock(&log_mu);
    IT_CHECK(nlog > 0 && evlog[nlog - 1].kind == 'S');
    atomic_store(&fail_fd, evlog[nlog - 1].fd);
    pthread_mutex_unlock(&log_mu);
    it_send_all(b, fr, sizeof(fr));
    IT_CHECK(it_wait_closed(b, 5000 * it_scale()));
    IT_WAIT(&s, s.disconnected == 1, 2000);
    IT_EQ(s.by_reason[TSL_REASON_PEER_RESET], 1);
    IT_EQ(s.reason_of[2], TSL_REASON_PEER_RESET);
    atomic_store(&fail_fd, -1);
    it_echo_once(a, "a2");
    c = tsl_server_find_client(s.srv, 1);
    IT_CHECK(c != NULL);
    tsl_client_stats(c, &cs);
    IT_EQ(cs.msgs_out, 2);
    tsl_client_unref(c);
    it_close(a);
    it_close(b);
    IT_WAIT(&s, s.disconnected == 2, 2000);
    finish(&s);
}

/* ---- a client that reads is never dropped for its replies ---- */

/* 4 MiB of 1 KiB frames written in one go, against a hard limit of 48 KiB:
 * one read (64 KiB) carries more replies than the hard limit, so without
 * the pause at the high watermark the client would end as slow-consumer.
 * A second thread reads and checks every byte as fast as it can. */
struct reader {
    int fd;
    size_t total;
    const uint8_t *want;
    int ok;
};

static void *
reader_main(void *arg)
{
    struct reader *r = arg;
    uint8_t buf[65536];
    size_t got = 0;

    while (got < r->total) {
        ssize_t k = recv(r->fd, buf, sizeof(buf), 0);
        if (k <= 0)
            return NULL;
        if (memcmp(buf, r->want + got, (size_t)k) != 0)
            return NULL;
        got += (size_t)k;
    }
    r->ok = 1;
    return NULL;
}

/* Serves `framing` under the output limits (low, high, hard), writes
 * all[0..total) in one go while another thread reads and checks the echo,
 * and checks the client was never dropped on the way. */
static void
echo_through_reader(const char *framing, size_t low, size_t high,
                    size_t hard, const uint8_t *all, size_t total)
{
    struct it_server s;
    struct reader r;
    pthread_t t;

    counting_on();
    it_server_create(&s, "reader", framing, IT_ECHO);
    IT_EQ(tsl_server_set_output_limits(s.srv, low, high, hard, 30000), 0);
    if (threaded)
        IT_EQ(tsl_server_set_flags(s.srv, TSL_SERVER_MULTI_THREADED), 0);
    IT_EQ(tsl_server_start(s.srv), 0);
    s.port = tsl_server_port(s.srv);
    r.fd = it_connect(s.port);
    r.total = total;
    r.want = all;
    r.ok = 0;
    IT_EQ(pthread_create(&t, NULL, reader_main, &r), 0);
    it_send_all(r.fd, all, total);
    pthread_join(t, NULL);
    if (!r.ok)
        IT_FAIL("the echo stopped or differed (server: %d disconnects, "
                "slow-consumer %d; seed %llu)", s.disconnected,
                s.by_reason[TSL_REASON_SLOW_CONSUMER],
                (unsigned long long)it_seed);
    IT_EQ(s.disconnected, 0);
    it_close(r.fd);
    IT_WAIT(&s, s.disconnected == 1, 2000);
    IT_EQ(s.by_reason[TSL_REASON_PEER_CLOSED], 1);
    finish(&s);
}

static void
reader_is_never_dropped(void)
{
    enum { N = 4096, SZ = 1024 };
    uint8_t *all = malloc((size_t)N * SZ);
    uint64_t rng = it_seed | 1;
    size_t i;

    IT_CHECK(all != NULL);
    for (i = 0; i < (size_t)N * SZ; i++) {
        if (i % SZ == 0) {
            all[i] = SZ & 0xff;
            all[i + 1] = SZ >> 8;
            i++;
            continue;
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        all[i] = (uint8_t)rng;
    }
    echo_through_reader("variable", 4096, 16384, 49152, all, (size_t)N * SZ);
    free(all);
}

/* Replies queued for a peer that reads nothing yet, after every request
 * has been read: the socket is then reported writable only, as the peer
 * drains it, and none of those events makes the server read a socket
 * with nothing in it (a read is for a socket reported readable).  The
 * 4 KiB buffers on both ends keep the replies queued in the server. */
static void
a_writable_event_reads_nothing(void)
{
    enum { N = 256, SZ = 1024 };
    static uint8_t all[N * SZ], got[N * SZ];
    struct sockaddr_in sa;
    struct timeval tv = {10 * it_scale(), 0};
    struct it_server s;
    int fd, small = 4096;
    size_t i;

    for (i = 0; i < sizeof(all); i++)
        all[i] = i % SZ == 0 ? SZ & 0xff : i % SZ == 1 ? SZ >> 8
                                                       : (uint8_t)(i * 7);
    counting_on();
    small_sndbuf = true;
    it_server_create(&s, "writable", "variable", IT_ECHO);
    IT_EQ(tsl_server_set_output_limits(s.srv, 4096, 1 << 20, 2 << 20, 30000),
          0);
    IT_EQ(tsl_server_start(s.srv), 0);
    s.port = tsl_server_port(s.srv);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    IT_CHECK(fd >= 0);
    IT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(s.port);
    IT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    it_send_all(fd, all, sizeof(all));
    IT_WAIT(&s, s.messages == N, 5000);
    it_recv_exact(fd, got, sizeof(got));
    IT_CHECK(memcmp(got, all, sizeof(got)) == 0);
    it_close(fd);
    IT_WAIT(&s, s.disconnected == 1, 2000);
    fprintf(stderr, "%d sends waited, %d reads found nothing\n",
            atomic_load(&waited_sends), atomic_load(&eagain_reads));
    IT_CHECK(atomic_load(&waited_sends) > 0); /* replies did wait */
    IT_EQ(atomic_load(&eagain_reads), 0);
    small_sndbuf = false;
    finish(&s);
}

/* ---- a frame larger than the configured hard limit ---- */

/* The framing accepts 1 MiB frames while the hard limit says 64 KiB: the
 * limit is raised at start, so the echo goes out whole instead of being
 * refused (and lost) every time. */
static void
frame_above_hard_limit_is_echoed(void)
{
    enum { SZ = 1 << 20 };
    uint8_t *fr = malloc(SZ);
    size_t i;

    IT_CHECK(fr != NULL);
    fr[0] = SZ & 0xff;
    fr[1] = (SZ >> 8) & 0xff;
    fr[2] = (SZ >> 16) & 0xff;
    fr[3] = (uint8_t)(SZ >> 24);
    for (i = 4; i < SZ; i++)
        fr[i] = (uint8_t)(i * 7 + it_seed);
    echo_through_reader("variable:hdr=4", 1024, 4096, 65536, fr, SZ);
    free(fr);
}

/* ---- partial frames cost what has arrived ---- */

static long
vm_size_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");

    IT_CHECK(f != NULL);
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* 200 clients each hold the first 10 bytes of a 1 MiB frame on a framing
 * that allows 16 MiB: the server's address space must not grow by the
 * framing's maximum per client (3.2 GB here), only by what arrived. */
static void
partial_frames_cost_what_arrived(void)
{
    enum { N = 200 };
    struct it_server s;
    uint8_t part[10] = {0, 0, 16, 0, 'p', 'a', 'r', 't', 'i', 'a'};
    int fd[N], i;
    long before, after;
    uint64_t want;

    it_server_start(&s, "partial", "variable:hdr=4", IT_ECHO);
    for (i = 0; i < N; i++)
        fd[i] = it_connect(s.port);
    IT_WAIT(&s, s.connected == N, 5000);
    before = vm_size_kb();
    for (i = 0; i < N; i++)
        it_send_all(fd[i], part, sizeof(part));
    /* Every partial frame is in the server once its bytes are counted. */
    want = (uint64_t)N * sizeof(part);
    {
        int64_t dl = it_now_ms() + 5000 * it_scale();
        tsl_server_stats_t st;
        do
            tsl_server_stats(s.srv, &st);
        while (st.bytes_in < want && it_now_ms() < dl && sched_yield() == 0);
        IT_EQ(st.bytes_in, want);
    }
    after = vm_size_kb();
    fprintf(stderr, "address space: %ld kB before, %ld kB after\n", before,
            after);
    if (after - before > 64 * 1024)
        IT_FAIL("the address space grew by %ld kB for %d partial frames",
                after - before, N);
    for (i = 0; i < N; i++)
        it_close(fd[i]);
    IT_WAIT(&s, s.disconnected == N, 5000);
    it_server_finish(&s);
}

#define BOTH(name)                                                            \
    static void name##_threaded(void)                                         \
    {                                                                         \
        threaded = true;                                                      \
        name();                                                               \
    }
BOTH(one_write_per_read)
BOTH(call_order)
BOTH(buffered_over_hard_limit)
BOTH(failed_flush_ends_that_client)
BOTH(reader_is_never_dropped)
BOTH(frame_above_hard_limit_is_echoed)

int
main(int argc, char **argv)
{
    static const struct it_case_def cases[] = {
        {"one_write_per_read", one_write_per_read},
        {"one_write_per_read_threaded", one_write_per_read_threaded},
        {"call_order", call_order},
        {"call_order_threaded", call_order_threaded},
        {"buffered_over_hard_limit", buffered_over_hard_limit},
        {"buffered_over_hard_limit_threaded",
         buffered_over_hard_limit_threaded},
        {"failed_flush_ends_that_client", failed_flush_ends_that_client},
        {"failed_flush_ends_that_client_threaded",
         failed_flush_ends_that_client_threaded},
        {"reader_is_never_dropped", reader_is_never_dropped},
        {"reader_is_never_dropped_threaded", reader_is_never_dropped_threaded},
        {"a_writable_event_reads_nothing", a_writable_event_reads_nothing},
        {"frame_above_hard_limit_is_echoed", frame_above_hard_limit_is_echoed},
        {"partial_frames_cost_what_arrived", partial_frames_cost_what_arrived},
        {"frame_above_hard_limit_is_echoed_threaded",
         frame_above_hard_limit_is_echoed_threaded},
        {NULL, NULL},
    };
    return it_main(argc, argv, cases);
}

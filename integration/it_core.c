/*
 * it_core.c - the core's behaviour over real loopback sockets: connect and
 * disconnect accounting, client and forced closes, stop (also from inside
 * a callback), several servers, restart, admission limits, half-close,
 * slow consumers, protocol errors and descriptor exhaustion.
 * One ctest entry per case: `it_core CASE`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <dirent.h>
#include <unistd.h>

#include "itest.h"
#include "tsl_sys.h"

/* The server-side client of a test socket (a new reference). */
static tsl_client_t *
peer_of(struct it_server *s, int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    tsl_client_t *c = NULL;

    IT_EQ(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    IT_WAIT(s, (c = tsl_server_find_client_addr(s->srv, "127.0.0.1",
                                                ntohs(sa.sin_port))) != NULL,
            2000);
    return c;
}

static void
many_clients(void)
{
    enum { N = 200 };
    struct it_server s;
    int fd[N], i;

    it_server_start(&s, "many", "variable", IT_ECHO);
    for (i = 0; i < N; i++)
        fd[i] = it_connect(s.port);
    IT_WAIT(&s, s.connected == N, 5000);
    for (i = 0; i < N; i++)
        it_echo_once(fd[i], "ping");
    for (i = 0; i < N; i++)
        it_close(fd[i]);
    IT_WAIT(&s, s.disconnected == N, 5000);
    IT_EQ(s.by_reason[TSL_REASON_PEER_CLOSED], N);
    IT_EQ(s.messages, N);
    it_server_finish(&s);
}

static void
client_close_and_reset(void)
{
    struct it_server s;
    int a, b;

    it_server_start(&s, "close", "variable", IT_ECHO);
    a = it_connect(s.port);
    b = it_connect(s.port);
    it_echo_once(a, "a");
    it_echo_once(b, "b");
    it_close(a);
    IT_WAIT(&s, s.by_reason[TSL_REASON_PEER_CLOSED] == 1, 2000);
    it_reset(b);
    IT_WAIT(&s, s.by_reason[TSL_REASON_PEER_RESET] == 1, 2000);
    it_server_finish(&s);
}

static void
forced_close(void)
{
    struct it_server s;
    tsl_client_t *c;
    int fd, other;

    it_server_start(&s, "forced", "variable", IT_ECHO);
    fd = it_connect(s.port);
    other = it_connect(s.port);
    it_echo_once(fd, "hello");
    c = peer_of(&s, fd);
    IT_EQ(tsl_client_disconnect(c), 0);
    IT_CHECK(it_wait_closed(fd, 2000));
    IT_WAIT(&s, s.by_reason[TSL_REASON_FORCED] == 1, 2000);
    IT_EQ(tsl_client_disconnect(c), TSL_ENOTCONN);
    IT_EQ(tsl_client_send(c, "x", 1), TSL_ENOTCONN);
    tsl_client_unref(c);
    it_echo_once(other, "still here");
    it_close(fd);
    it_server_finish(&s);
    IT_EQ(s.by_reason[TSL_REASON_SHUTDOWN], 1);
}

static void
forced_close_in_callback(void)
{
    struct it_server s;
    uint8_t buf[64];
    size_t n = 0;
    int fd;

    it_server_start(&s, "forcedcb", "variable", IT_DISCONNECT_IN_CB);
    fd = it_connect(s.port);
    /* Three frames in one write: only the first may be delivered. */
    n += it_frame("one", 3, buf + n);
    n += it_frame("two", 3, buf + n);
    n += it_frame("three", 5, buf + n);
    it_send_all(fd, buf, n);
    IT_CHECK(it_wait_closed(fd, 2000));
    IT_WAIT(&s, s.disconnected == 1, 2000);
    IT_EQ(s.by_reason[TSL_REASON_FORCED], 1);
    IT_EQ(s.messages, 1);
    it_close(fd);
    it_server_finish(&s);
}

static void
stop_with_clients_in_flight(void)
{
    enum { N = 20, FRAMES = 50 };
    struct it_server s;
    uint8_t buf[FRAMES * 66];
    size_t n = 0;
    int fd[N], i;
    char text[64];

    memset(text, 'm', sizeof(text));
    for (i = 0; i < FRAMES; i++)
        n += it_frame(text, sizeof(text), buf + n);
    it_server_start(&s, "stopfl", "variable", IT_ECHO);
    for (i = 0; i < N; i++)
        fd[i] = it_connect(s.port);
    IT_WAIT(&s, s.connected == N, 5000);
    for (i = 0; i < N; i++)
        it_send_all(fd[i], buf, n);
    IT_WAIT(&s, s.messages > 0, 2000);
    IT_EQ(tsl_server_stop(s.srv), 0);
    /* Stopped: every client was told, every socket is closed. */
    IT_EQ(s.disconnected, N);
    IT_EQ(s.by_reason[TSL_REASON_SHUTDOWN] + s.by_reason[TSL_REASON_PEER_RESET],
          N);
    IT_EQ(tsl_server_client_count(s.srv), 0);
    for (i = 0; i < N; i++) {
        IT_CHECK(it_wait_closed(fd[i], 2000));
        it_close(fd[i]);
    }
    it_server_finish(&s);
}

static void
two_servers(void)
{
    struct it_server a, b;
    int fa, fb;

    it_server_start(&a, "one", "variable", IT_ECHO);
    it_server_start(&b, "two", "fixed:4", IT_ECHO);
    IT_CHECK(a.port != b.port);
    fa = it_connect(a.port);
    fb = it_connect(b.port);
    it_echo_once(fa, "to a");
    it_send_all(fb, "abcd", 4);
    {
        char in[4];
        it_recv_exact(fb, in, 4);
        IT_CHECK(memcmp(in, "abcd", 4) == 0);
    }
    it_server_finish(&a);
    IT_CHECK(it_wait_closed(fa, 2000));
    /* The other server is untouched. */
    it_send_all(fb, "efgh", 4);
    {
        char in[4];
        it_recv_exact(fb, in, 4);
        IT_CHECK(memcmp(in, "efgh", 4) == 0);
    }
    IT_EQ(b.messages, 2);
    it_close(fa);
    it_close(fb);
    it_server_finish(&b);
}

static void
stop_start_stop(void)
{
    struct it_server s;
    int fd, round;

    it_server_create(&s, "restart", "variable", IT_ECHO);
    for (round = 0; round < 3; round++) {
        IT_EQ(tsl_server_start(s.srv), 0);
        s.port = tsl_server_port(s.srv);
        fd = it_connect(s.port);
        it_echo_once(fd, "round");
        IT_EQ(tsl_server_stop(s.srv), 0);
        IT_CHECK(it_wait_closed(fd, 2000));
        it_close(fd);
        IT_EQ(s.disconnected, round + 1);
    }
    IT_EQ(s.by_reason[TSL_REASON_SHUTDOWN], 3);
    it_server_finish(&s);
}

static void
max_clients(void)
{
    struct it_server s;
    int fd[5], i;

    it_server_start(&s, "max", "variable", IT_ECHO);
    IT_EQ(tsl_server_set_max_clients(s.srv, 3), 0);
    for (i = 0; i < 3; i++)
        fd[i] = it_connect(s.port);
    IT_WAIT(&s, s.connected == 3, 2000);
    fd[3] = it_connect(s.port);
    IT_WAIT(&s, s.by_reject[TSL_REJECT_MAX_CLIENTS] == 1, 2000);
    IT_CHECK(it_wait_closed(fd[3], 2000));
    it_close(fd[0]);
    IT_WAIT(&s, s.disconnected == 1, 2000);
    fd[4] = it_connect(s.port);
    IT_WAIT(&s, s.connected == 4, 2000);
    it_echo_once(fd[4], "admitted");
    for (i = 1; i < 5; i++)
        it_close(fd[i]);
    it_server_finish(&s);
    IT_EQ(s.rejected, 1);
}

static void
blacklist(void)
{
    struct it_server s;
    int bad, good, later;

    it_server_start(&s, "black", "variable", IT_ECHO);
    IT_EQ(tsl_server_blacklist_add(s.srv, "127.0.0.2"), 0);
    bad = it_connect_from(s.port, "127.0.0.2");
    IT_WAIT(&s, s.by_reject[TSL_REJECT_BLACKLISTED] == 1, 2000);
    IT_CHECK(it_wait_closed(bad, 2000));
    good = it_connect(s.port);
    it_echo_once(good, "fine");
    IT_EQ(tsl_server_blacklist_remove(s.srv, "127.0.0.2"), 0);
    later = it_connect_from(s.port, "127.0.0.2");
    it_echo_once(later, "welcome back");
    IT_EQ(s.connected, 2);
    it_close(bad);
    it_close(good);
    it_close(later);
    it_server_finish(&s);
}

static void
not_accepting_and_not_listening(void)
{
    struct it_server s;
    uint8_t out[16], in[16];
    size_t n;
    int a, b, c;

    it_server_start(&s, "flags", "variable", IT_ECHO);
    a = it_connect(s.port);
    it_echo_once(a, "first");
    IT_EQ(tsl_server_set_flags(s.srv, TSL_SERVER_NOT_ACCEPTING), 0);
    b = it_connect(s.port);
    IT_WAIT(&s, s.by_reject[TSL_REJECT_NOT_ACCEPTING] == 1, 2000);
    IT_CHECK(it_wait_closed(b, 2000));
    it_echo_once(a, "existing clients are served");
    IT_EQ(tsl_server_clear_flags(s.srv, TSL_SERVER_NOT_ACCEPTING), 0);
    c = it_connect(s.port);
    it_echo_once(c, "accepted again");

    /* Not listening: bytes wait in the kernel until listening resumes. */
    IT_EQ(tsl_server_set_flags(s.srv, TSL_SERVER_NOT_LISTENING), 0);
    n = it_frame("later", 5, out);
    it_send_all(a, out, n);
    {
        /* Nothing may be delivered while the flag is set: give the
         * receiver a bounded window to misbehave in. */
        int64_t end = it_now_ms() + 200;
        pthread_mutex_lock(&s.mu);
        while (s.messages == 3 && it_now_ms() < end)
            it_wait_slice(&s);
        IT_EQ(s.messages, 3);
        pthread_mutex_unlock(&s.mu);
    }
    IT_EQ(tsl_server_clear_flags(s.srv, TSL_SERVER_NOT_LISTENING), 0);
    it_recv_exact(a, in, n);
    IT_CHECK(memcmp(in, out, n) == 0);
    it_close(a);
    it_close(b);
    it_close(c);
    it_server_finish(&s);
}

static void
stop_from_callback(void)
{
    struct it_server s;
    int fd[3], i;
    uint8_t out[16];

    it_server_start(&s, "stopcb", "variable", IT_STOP_IN_CB);
    for (i = 0; i < 3; i++)
        fd[i] = it_connect(s.port);
    IT_WAIT(&s, s.connected == 3, 2000);
    it_send_all(fd[1], out, it_frame("stop", 4, out));
    IT_WAIT(&s, s.disconnected == 3, 5000);
    IT_WAIT(&s, !(tsl_server_flags(s.srv) & TSL_SERVER_RUNNING), 5000);
    IT_EQ(s.last_stop_rc, 0);
    IT_EQ(s.by_reason[TSL_REASON_SHUTDOWN], 3);
    for (i = 0; i < 3; i++) {
        IT_CHECK(it_wait_closed(fd[i], 2000));
        it_close(fd[i]);
    }
    it_server_finish(&s);
}

struct pump {
    int fd;
    size_t n;
    int shut;   /* shutdown(SHUT_WR) when done */
    int err;
};

static uint8_t
pattern(size_t i)
{
    return (uint8_t)(i * 7 + (i >> 10));
}

static void *
pump_main(void *arg)
{
    struct pump *p = arg;
    uint8_t buf[8192];
    size_t off = 0, k, n;
    ssize_t r;

    while (off < p->n) {
        n = p->n - off < sizeof(buf) ? p->n - off : sizeof(buf);
        for (k = 0; k < n; k++)
            buf[k] = pattern(off + k);
        r = send(p->fd, buf, n, MSG_NOSIGNAL);
        if (r <= 0) {
            p->err = errno ? errno : -1;
            return NULL;
        }
        off += (size_t)r;
    }
    if (p->shut)
        shutdown(p->fd, SHUT_WR);
    return NULL;
}

static void
half_close_gets_all_replies(void)
{
    enum { TOTAL = 2 * 1024 * 1024 };
    struct it_server s;
    struct pump p;
    pthread_t t;
    static uint8_t in[TOTAL];
    size_t i;
    int fd;

    it_server_start(&s, "half", NULL, IT_ECHO);
    fd = it_connect(s.port);
    p.fd = fd;
    p.n = TOTAL;
    p.shut = 1;
    p.err = 0;
    IT_EQ(pthread_create(&t, NULL, pump_main, &p), 0);
    it_recv_exact(fd, in, TOTAL);
    pthread_join(t, NULL);
    IT_EQ(p.err, 0);
    for (i = 0; i < TOTAL; i++)
        if (in[i] != pattern(i))
            IT_FAIL("byte %zu differs", i);
    IT_CHECK(it_wait_closed(fd, 2000));
    IT_WAIT(&s, s.disconnected == 1, 2000);
    IT_EQ(s.by_reason[TSL_REASON_PEER_CLOSED], 1);
    IT_EQ(s.bytes, TOTAL);
    it_close(fd);
    it_server_finish(&s);
}

static void
slow_consumer_is_bounded_and_dropped(void)
{
    enum { LOW = 16 * 1024, HIGH = 64 * 1024, HARD = 1024 * 1024 };
    struct it_server s;
    tsl_client_stats_t st;
    tsl_client_t *c;
    uint8_t frame[1002];
    char text[1000];
    size_t n, sent = 0;
    int hog, other, i;
    ssize_t r;

    it_server_create(&s, "slow", "variable", IT_ECHO);
    IT_EQ(tsl_server_set_output_limits(s.srv, LOW, HIGH, HARD,
                                       (uint32_t)(500 * it_scale())), 0);
    IT_EQ(tsl_server_start(s.srv), 0);
    s.port = tsl_server_port(s.srv);
    hog = it_connect(s.port);
    other = it_connect(s.port);
    c = peer_of(&s, hog);
    memset(text, 'h', sizeof(text));
    n = it_frame(text, sizeof(text), frame);
    /* Send without ever reading, until TCP pushes back on us. */
    for (i = 0; i < 20000; i++) {
        r = send(hog, frame, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            tsl_client_stats(c, &st);
            if (st.out_queued > HIGH)
                break; /* the server has stopped reading from us */
            continue;
        }
        if (r < 0)
            break; /* already dropped */
        sent += (size_t)r;
    }
    IT_CHECK(sent > HIGH);
    /* Meanwhile another client is served normally. */
    it_echo_once(other, "not blocked by the hog");
    IT_WAIT(&s, s.by_reason[TSL_REASON_SLOW_CONSUMER] == 1, 5000);
    tsl_client_stats(c, &st);
    /* Bounded: the queue never held much more than the high watermark
     * plus one read's worth of echoes. */
    if (st.out_queued_peak > HIGH + 65536 + n)
        IT_FAIL("output queue peaked at %llu bytes",
                (unsigned long long)st.out_queued_peak);
    tsl_client_unref(c);
    it_echo_once(other, "still served");
    it_close(hog);
    it_close(other);
    it_server_finish(&s);
}

static void
protocol_error_is_isolated(void)
{
    struct it_server s;
    tsl_server_stats_t st;
    static const uint8_t zero_len[] = {0, 0, 'x', 'y'};
    int bad, good, i;

    it_server_start(&s, "proto", "variable", IT_ECHO);
    bad = it_connect(s.port);
    good = it_connect(s.port);
    it_echo_once(good, "before");
    it_send_all(bad, zero_len, sizeof(zero_len));
    IT_CHECK(it_wait_closed(bad, 2000));
    IT_WAIT(&s, s.by_reason[TSL_REASON_PROTOCOL_ERROR] == 1, 2000);
    for (i = 0; i < 10; i++)
        it_echo_once(good, "after");
    tsl_server_stats(s.srv, &st);
    IT_EQ(st.protocol_errors, 1);
    IT_EQ(st.disconnected[TSL_REASON_PROTOCOL_ERROR], 1);
    it_close(bad);
    it_close(good);
    it_server_finish(&s);
}

static void
stats_are_exact(void)
{
    struct it_server s;
    tsl_server_stats_t ss;
    tsl_client_stats_t cs;
    tsl_client_t *c;
    uint64_t bytes = 0;
    uint8_t ka[2] = {2, 0};
    int fd, i;
    char text[300];

    it_server_start(&s, "stats", "variable", IT_ECHO);
    fd = it_connect(s.port);
    for (i = 0; i < 50; i++) {
        memset(text, 'a' + i % 26, (size_t)i * 5 + 1);
        text[i * 5 + 1] = '\0';
        it_echo_once(fd, text);
        bytes += (uint64_t)i * 5 + 1 + 2;
    }
    it_send_all(fd, ka, 2);
    it_send_all(fd, ka, 2);
    c = peer_of(&s, fd);
    IT_WAIT(&s, (tsl_client_stats(c, &cs), cs.keepalives_in == 2), 2000);
    IT_EQ(cs.msgs_in, 50);
    IT_EQ(cs.msgs_out, 50);
    IT_EQ(cs.bytes_in, bytes + 4);
    IT_EQ(cs.bytes_out, bytes);
    IT_EQ(cs.out_queued, 0);
    IT_CHECK(cs.last_recv_ms >= cs.connect_time_ms);
    IT_EQ(cs.threaded, 0);
    tsl_client_unref(c);
    tsl_server_stats(s.srv, &ss);
    IT_EQ(ss.accepted, 1);
    IT_EQ(ss.current_clients, 1);
    IT_EQ(ss.peak_clients, 1);
    IT_EQ(ss.msgs_in, 50);
    IT_EQ(ss.bytes_in, bytes + 4);
    IT_EQ(ss.bytes_out, bytes);
    IT_EQ(ss.keepalives_in, 2);
    it_close(fd);
    IT_WAIT(&s, s.disconnected == 1, 2000);
    tsl_server_stats(s.srv, &ss);
    IT_EQ(ss.current_clients, 0);
    IT_EQ(ss.disconnected[TSL_REASON_PEER_CLOSED], 1);
    it_server_finish(&s);
}

/* A large send from an application thread is queued and flushed as the
 * peer reads: exercises the output queue and writability path. */
static void
large_send_from_app_thread(void)
{
    enum { TOTAL = 4 * 1024 * 1024 };
    struct it_server s;
    tsl_client_stats_t cs;
    tsl_client_t *c;
    static uint8_t out[TOTAL], in[TOTAL];
    size_t i;
    int fd;

    for (i = 0; i < TOTAL; i++)
        out[i] = pattern(i);
    it_server_create(&s, "big", NULL, IT_SILENT);
    IT_EQ(tsl_server_set_output_limits(s.srv, 1024, 4096, 8 * 1024 * 1024,
                                       (uint32_t)(5000 * it_scale())), 0);
    IT_EQ(tsl_server_start(s.srv), 0);
    s.port = tsl_server_port(s.srv);
    fd = it_connect(s.port);
    c = peer_of(&s, fd);
    IT_EQ(tsl_client_send(c, out, TOTAL), 0);
    tsl_client_stats(c, &cs);
    IT_CHECK(cs.out_queued > 0); /* the kernel cannot take 4 MiB at once */
    /* Over the hard limit: refused whole, and the client is dropped. */
    it_recv_exact(fd, in, TOTAL);
    IT_CHECK(memcmp(in, out, TOTAL) == 0);
    IT_WAIT(&s, (tsl_client_stats(c, &cs), cs.out_queued == 0), 2000);
    IT_EQ(cs.bytes_out, TOTAL);
    IT_EQ(tsl_client_send(c, out, 4096), 0);
    it_recv_exact(fd, in, 4096);
    tsl_client_unref(c);
    it_close(fd);
    it_server_finish(&s);
}

static void
hard_limit_refuses_whole_send(void)
{
    struct it_server s;
    tsl_client_t *c;
    static uint8_t big[64 * 1024 + 1];
    int fd, i, r = 0;

    it_server_create(&s, "hard", NULL, IT_SILENT);
    IT_EQ(tsl_server_set_output_limits(s.srv, 1024, 4096, 64 * 1024,
                                       (uint32_t)(5000 * it_scale())), 0);
    IT_EQ(tsl_server_start(s.srv), 0);
    s.port = tsl_server_port(s.srv);
    fd = it_connect(s.port);
    c = peer_of(&s, fd);
    /* Larger than the limit by itself: refused, the client stays. */
    IT_EQ(tsl_client_send(c, big, 64 * 1024 + 1), TSL_ENOBUFS);
    IT_EQ(tsl_client_send(c, "ok", 2), 0);
    {
        char in[2];
        it_recv_exact(fd, in, 2);
    }
    /* A peer that reads nothing: the socket fills, then the queue, then
     * the send that would pass the limit ends the client. */
    for (i = 0; i < 4000; i++) {
        r = tsl_client_send(c, big, 32 * 1024);
        if (r != 0)
            break;
    }
    IT_EQ(r, TSL_ENOBUFS);
    IT_WAIT(&s, s.by_reason[TSL_REASON_SLOW_CONSUMER] == 1, 2000);
    IT_EQ(tsl_client_send(c, big, 1), TSL_ENOTCONN);
    tsl_client_unref(c);
    IT_CHECK(it_wait_closed(fd, 2000));
    it_close(fd);
    it_server_finish(&s);
}

/* Counts accept4() calls the server makes. */
static atomic_int accept_calls;
static struct tsl_sys_ops counting;

static int
counting_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    atomic_fetch_add(&accept_calls, 1);
    return tsl__sys_libc.accept4(fd, sa, len, flags);
}

static void
fd_exhaustion_sheds_without_spinning(void)
{
    enum { N = 30 };
    struct it_server s;
    struct rlimit old, low;
    int fd[N], i, top = 0, calls, closed = 0, extra;

    counting = tsl__sys_libc;
    counting.accept4 = counting_accept4;
    tsl__sys_set(&counting);
    it_server_start(&s, "emfile", "variable", IT_ECHO);
    /* Make the sockets first: with the limit lowered, connect() needs no
     * new descriptor, but the server's accept() does. */
    for (i = 0; i < N; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        IT_CHECK(fd[i] >= 0);
        if (fd[i] > top)
            top = fd[i];
    }
    IT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)top + 1 + 4; /* room for four accepted clients */
    IT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (i = 0; i < N; i++) {
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = htons(s.port);
        IT_EQ(connect(fd[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
    }
    IT_WAIT(&s, s.connected + s.rejected == N, 5000);
    IT_CHECK(s.connected >= 1 && s.connected <= 4);
    IT_EQ(s.by_reject[TSL_REJECT_FD_EXHAUSTED], N - s.connected);
    /* Shed connections see a clean close, not a hang. */
    for (i = 0; i < N; i++)
        closed += it_wait_closed(fd[i], 100);
    IT_EQ(closed, N - s.connected);
    /* No busy loop: with the backlog empty, accept() is not called again.
     * A bounded window for a spinning acceptor to show itself. */
    calls = atomic_load(&accept_calls);
    IT_CHECK(calls <= 2 * N + 8);
    {
        int64_t end = it_now_ms() + 300;
        pthread_mutex_lock(&s.mu);
        while (atomic_load(&accept_calls) == calls && it_now_ms() < end)
            it_wait_slice(&s);
        pthread_mutex_unlock(&s.mu);
    }
    IT_EQ(atomic_load(&accept_calls), calls);
    IT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (i = 0; i < N; i++)
        it_close(fd[i]);
    /* Recovered: new clients are served. */
    extra = it_connect(s.port);
    it_echo_once(extra, "recovered");
    it_close(extra);
    it_server_finish(&s);
    tsl__sys_set(NULL);
}

/* Moves every accepted socket above FD_SETSIZE, as in a process with
 * many files open. */
static int
high_fd_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    int c = tsl__sys_libc.accept4(fd, sa, len, flags), h;

    if (c < 0)
        return c;
    h = fcntl(c, F_DUPFD_CLOEXEC, FD_SETSIZE + 10);
    close(c);
    return h;
}

static void
fd_above_fd_setsize_is_refused(void)
{
    struct it_server s;
    struct rlimit rl, old;
    int fd;

    IT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < FD_SETSIZE + 64) {
        printf("skipped: RLIMIT_NOFILE hard limit %llu is too low\n",
               (unsigned long long)rl.rlim_max);
        exit(77);
    }
    rl.rlim_cur = FD_SETSIZE + 64;
    IT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    counting = tsl__sys_libc;
    counting.accept4 = high_fd_accept4;
    tsl__sys_set(&counting);
    it_server_start(&s, "highfd", "variable", IT_ECHO);
    fd = it_connect(s.port);
    if (tsl_server_backend(s.srv) == TSL_BACKEND_SELECT) {
        /* select() cannot watch it: refused, counted, closed. */
        IT_WAIT(&s, s.by_reject[TSL_REJECT_FD_TOO_LARGE] == 1, 2000);
        IT_CHECK(it_wait_closed(fd, 2000));
        IT_EQ(s.connected, 0);
    } else {
        /* epoll has no such limit: served like any other. */
        it_echo_once(fd, "above FD_SETSIZE");
        IT_EQ(s.rejected, 0);
    }
    it_close(fd);
    it_server_finish(&s);
    tsl__sys_set(NULL);
    IT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
}

/* Moves each accepted socket to the lowest free descriptor from
 * high_target on, and notes which one it got. */
static atomic_int high_target, high_got;

static int
exact_fd_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    int c = tsl__sys_libc.accept4(fd, sa, len, flags), h;

    if (c < 0)
        return c;
    h = fcntl(c, F_DUPFD_CLOEXEC, atomic_load(&high_target));
    close(c);
    atomic_store(&high_got, h);
    return h;
}

/* The limit exactly: select() watches descriptors 0 .. FD_SETSIZE - 1, so
 * FD_SETSIZE - 1 is served and FD_SETSIZE is the first refused. */
static void
fd_setsize_is_the_first_refused(void)
{
    struct it_server s;
    struct rlimit rl, old;
    int last, first;

    IT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < FD_SETSIZE + 64) {
        printf("skipped: RLIMIT_NOFILE hard limit %llu is too low\n",
               (unsigned long long)rl.rlim_max);
        exit(77);
    }
    rl.rlim_cur = FD_SETSIZE + 64;
    IT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    counting = tsl__sys_libc;
    counting.accept4 = exact_fd_accept4;
    tsl__sys_set(&counting);
    it_server_start(&s, "fdsetsize", "variable", IT_ECHO);
    atomic_store(&high_target, FD_SETSIZE - 1);
    last = it_connect(s.port);
    it_echo_once(last, "the last select() can watch");
    IT_EQ(atomic_load(&high_got), FD_SETSIZE - 1);
    atomic_store(&high_target, FD_SETSIZE);
    first = it_connect(s.port);
    if (tsl_server_backend(s.srv) == TSL_BACKEND_SELECT) {
        IT_WAIT(&s, s.by_reject[TSL_REJECT_FD_TOO_LARGE] == 1, 2000);
        IT_EQ(atomic_load(&high_got), FD_SETSIZE);
        IT_CHECK(it_wait_closed(first, 2000));
        IT_EQ(s.connected, 1);
    } else {
        it_echo_once(first, "epoll has no such limit");
        IT_EQ(atomic_load(&high_got), FD_SETSIZE);
        IT_EQ(s.rejected, 0);
    }
    /* The client below the limit is still served. */
    it_echo_once(last, "still served");
    it_close(first);
    it_close(last);
    it_server_finish(&s);
    tsl__sys_set(NULL);
    IT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
}

/* Counts the waits (select, poll, epoll_wait) the server's threads make. */
static atomic_int wait_calls;

static int
counting_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    atomic_fetch_add(&wait_calls, 1);
    return tsl__sys_libc.select(n, r, w, e, t);
}

static int
counting_poll(struct pollfd *fds, nfds_t n, int ms)
{
    atomic_fetch_add(&wait_calls, 1);
    return tsl__sys_libc.poll(fds, n, ms);
}

static int
counting_epoll_wait(int ep, struct epoll_event *evs, int max, int ms)
{
    atomic_fetch_add(&wait_calls, 1);
    return tsl__sys_libc.epoll_wait(ep, evs, max, ms);
}

/* A client that says nothing, with no keepalive, no frame timeout and no
 * output waiting, has no deadline: the server's threads sleep in their
 * waits instead of turning (a timer due at once would wake the receiver
 * every 50 ms tick).  A window of 500 ms for that to show. */
static void
an_idle_client_sets_no_deadline(void)
{
    struct it_server s;
    int64_t end;
    int fd, calls, more;

    counting = tsl__sys_libc;
    counting.select = counting_select;
    counting.poll = counting_poll;
    counting.epoll_wait = counting_epoll_wait;
    tsl__sys_set(&counting);
    it_server_start(&s, "idle", "variable", IT_ECHO);
    fd = it_connect(s.port);
    it_echo_once(fd, "then silence");
    calls = atomic_load(&wait_calls);
    end = it_now_ms() + 500;
    pthread_mutex_lock(&s.mu);
    while (it_now_ms() < end)
        it_wait_slice(&s);
    pthread_mutex_unlock(&s.mu);
    more = atomic_load(&wait_calls) - calls;
    if (more > 3)
        IT_FAIL("%d waits in 500 ms with one idle client", more);
    it_close(fd);
    it_server_finish(&s);
    tsl__sys_set(NULL);
}

/* ---- work a receiver hands to itself ---- */

/* A disconnect requested from the disconnected callback of another client
 * of the same receiver queues to that receiver from its own thread, which
 * does not wake itself: it must still act before it next waits.  No
 * keepalive and no other traffic here, so nothing else would wake it. */
struct chain {
    tsl_client_t *a, *b;
    atomic_int rc;           /* tsl_client_disconnect(b)'s result + 100 */
};

static void
chain_connected(tsl_server_t *srv, tsl_client_t *c, void *ud)
{
    struct chain *ch = ud;

    (void)srv;
    tsl_client_ref(c);
    if (tsl_client_id(c) == 1)
        ch->a = c;
    else
        ch->b = c;
}

static void
chain_disconnected(tsl_server_t *srv, tsl_client_t *c, tsl_reason_t why,
                   void *ud)
{
    struct chain *ch = ud;

    (void)srv;
    (void)why;
    if (c == ch->a)
        atomic_store(&ch->rc, tsl_client_disconnect(ch->b) + 100);
}

static void
chain_message(tsl_server_t *srv, tsl_client_t *c, const uint8_t *m, size_t n,
              void *ud)
{
    (void)srv;
    (void)ud;
    tsl_client_send(c, m, n);
}

static void
disconnect_from_disconnected_callback(void)
{
    struct chain ch = {NULL, NULL, 0};
    tsl_callbacks_t cbs = {chain_connected, chain_disconnected, chain_message,
                           NULL, NULL};
    tsl_server_t *srv;
    int a, b;

    IT_EQ(tsl_server_create(&srv, "chain", "127.0.0.1", 0), 0);
    IT_EQ(tsl_server_set_callbacks(srv, &cbs, &ch), 0);
    IT_EQ(tsl_server_start(srv), 0);
    a = it_connect(tsl_server_port(srv));
    it_send_all(a, "x", 1);
    it_recv_exact(a, (char[1]){0}, 1); /* a is served */
    b = it_connect(tsl_server_port(srv));
    it_send_all(b, "y", 1);
    it_recv_exact(b, (char[1]){0}, 1); /* so is b */
    IT_EQ(tsl_client_disconnect(ch.a), 0);
    IT_CHECK(it_wait_closed(a, 2000));
    IT_CHECK(it_wait_closed(b, 2000));
    IT_EQ(atomic_load(&ch.rc), 100);
    IT_EQ(tsl_server_destroy(srv), 0);
    tsl_client_unref(ch.a);
    tsl_client_unref(ch.b);
    it_close(a);
    it_close(b);
}

/* ---- the acceptor under failing accept() ---- */

static atomic_int accept_fail_left;
static _Atomic int64_t accept_at[4]; /* when the first four calls came */

static int
failing_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    int k = atomic_fetch_add(&accept_calls, 1);

    if (k < 4)
        atomic_store(&accept_at[k], it_now_ms());
    if (atomic_fetch_sub(&accept_fail_left, 1) > 0) {
        errno = ENOBUFS;
        return -1;
    }
    return tsl__sys_libc.accept4(fd, sa, len, flags);
}

/* accept() failing with an error that is not the connection's (ENOBUFS)
 * makes the acceptor back off and try again, not spin and not give up. */
static void
accept_errors_back_off_and_recover(void)
{
    struct it_server s;
    tsl_server_stats_t st;
    int fd, i;

    counting = tsl__sys_libc;
    counting.accept4 = failing_accept4;
    atomic_store(&accept_fail_left, 3);
    atomic_store(&accept_calls, 0);
    tsl__sys_set(&counting);
    it_server_start(&s, "accerr", "variable", IT_ECHO);
    fd = it_connect(s.port);
    it_echo_once(fd, "after three failures");
    tsl_server_stats(s.srv, &st);
    IT_EQ(st.accept_errors, 3);
    /* One call per pause, not a loop: three failures, one success (and at
     * most one EAGAIN that ends the batch). */
    IT_CHECK(atomic_load(&accept_calls) <= 5);
    /* And each retry only after the pause (PAUSE_MS, 100 ms: checked from
     * below only, which a slow machine cannot fail): not at once. */
    for (i = 1; i < 4; i++)
        IT_CHECK(atomic_load(&accept_at[i]) - atomic_load(&accept_at[i - 1]) >=
                 90);
    it_close(fd);
    it_server_finish(&s);
    tsl__sys_set(NULL);
}

/* ---- stop while connections arrive ---- */

struct churn {
    uint16_t port;
    atomic_bool halt;
    atomic_int made, refused;
};

static void *
churn_main(void *arg)
{
    struct churn *ch = arg;
    struct sockaddr_in sa;
    int i, fd;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(ch->port);
    for (i = 0; i < 20000 && !atomic_load(&ch->halt); i++) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            atomic_fetch_add(&ch->made, 1);
        else if (errno == ECONNREFUSED)
            atomic_fetch_add(&ch->refused, 1);
        close(fd);
    }
    return NULL;
}

/* Connections keep arriving while the server stops: each one is either
 * served to the end (connected, then disconnected once) or never accepted;
 * none is refused for want of memory or threads, and once stop returns the
 * port refuses connections.  In multi-threaded mode too. */
static void
stop_while_connections_arrive(void)
{
    int round;

    for (round = 0; round < 2; round++) {
        struct it_server s;
        struct churn ch = {0};
        pthread_t t;

        it_server_create(&s, "churnstop", "variable", IT_ECHO);
        if (round == 1)
            IT_EQ(tsl_server_set_flags(s.srv, TSL_SERVER_MULTI_THREADED), 0);
        IT_EQ(tsl_server_start(s.srv), 0);
        s.port = ch.port = tsl_server_port(s.srv);
        IT_EQ(pthread_create(&t, NULL, churn_main, &ch), 0);
        IT_WAIT(&s, s.connected >= 20, 5000);
        IT_EQ(tsl_server_stop(s.srv), 0);
        IT_EQ(s.connected, s.disconnected);
        IT_EQ(s.by_reject[TSL_REJECT_NO_MEMORY], 0);
        /* Stopped: nothing listens; the churn meets a refusal. */
        {
            int before = atomic_load(&ch.refused);
            int64_t end = it_now_ms() + 2000 * it_scale();
            while (atomic_load(&ch.refused) == before && it_now_ms() < end)
                sched_yield();
            IT_CHECK(atomic_load(&ch.refused) > before);
        }
        atomic_store(&ch.halt, true);
        pthread_join(t, NULL);
        it_server_finish(&s);
    }
}

/* ---- settings from another thread while the server starts and stops ---- */

struct toggler {
    tsl_server_t *srv;
    atomic_bool halt;
    atomic_int rounds;
};

static void *
toggle_main(void *arg)
{
    struct toggler *t = arg;
    int i;

    for (i = 0; i < 200000 && !atomic_load(&t->halt); i++) {
        tsl_server_set_flags(t->srv, TSL_SERVER_NOT_LISTENING);
        tsl_server_clear_flags(t->srv, TSL_SERVER_NOT_LISTENING);
        tsl_server_set_keepalive(t->srv, (uint32_t)(i % 2) * 60000);
        atomic_fetch_add(&t->rounds, 1);
    }
    return NULL;
}

/* Setters wake the receivers from any thread at any time, also while the
 * server starts or stops (and its receivers come and go); TSan and ASan
 * watch the wake-ups meet the teardown.  Multi-threaded, so dedicated
 * receivers come and go too. */
static void
settings_while_starting_and_stopping(void)
{
    struct it_server s;
    struct toggler t;
    pthread_t th;
    int i, fd;

    it_server_create(&s, "toggle", "variable", IT_ECHO);
    IT_EQ(tsl_server_set_flags(s.srv, TSL_SERVER_MULTI_THREADED), 0);
    t.srv = s.srv;
    atomic_init(&t.halt, false);
    atomic_init(&t.rounds, 0);
    IT_EQ(pthread_create(&th, NULL, toggle_main, &t), 0);
    for (i = 0; i < 20; i++) {
        IT_EQ(tsl_server_start(s.srv), 0);
        fd = it_connect(tsl_server_port(s.srv));
        IT_WAIT(&s, s.connected == i + 1, 3000);
        IT_EQ(tsl_server_stop(s.srv), 0);
        IT_CHECK(it_wait_closed(fd, 3000));
        it_close(fd);
    }
    atomic_store(&t.halt, true);
    pthread_join(th, NULL);
    IT_CHECK(atomic_load(&t.rounds) > 0);
    IT_EQ(tsl_server_clear_flags(s.srv, TSL_SERVER_NOT_LISTENING), 0);
    it_server_finish(&s);
    IT_EQ(s.by_reason[TSL_REASON_SHUTDOWN], 20);
}

/* Every thread the library starts blocks SIGINT, SIGTERM and SIGHUP,
 * whatever the mask of the thread that started the server: the signals a
 * program stops on reach the application's threads. */
static void
library_threads_block_stop_signals(void)
{
    struct it_server s;
    unsigned long long blk;
    int seen = 0, fd = -1;
    DIR *d;
    struct dirent *e;

    it_server_start(&s, "sigmask", "variable", IT_ECHO);
    IT_EQ(tsl_server_set_flags(s.srv, TSL_SERVER_MULTI_THREADED), 0);
    fd = it_connect(s.port); /* and a dedicated thread for it */
    it_echo_once(fd, "hello");
    IT_CHECK((d = opendir("/proc/self/task")) != NULL);
    while ((e = readdir(d)) != NULL) {
        char path[300], line[256], comm[64] = "";
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        if (fgets(comm, sizeof(comm), f) == NULL)
            comm[0] = '\0';
        fclose(f);
        if (strncmp(comm, "tsl-", 4) != 0)
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
        IT_CHECK((f = fopen(path, "r")) != NULL);
        blk = 0;
        while (fgets(line, sizeof(line), f) != NULL)
            if (sscanf(line, "SigBlk: %llx", &blk) == 1)
                break;
        fclose(f);
        if (!(blk & (1ull << (SIGINT - 1))) || !(blk & (1ull << (SIGTERM - 1))) ||
            !(blk & (1ull << (SIGHUP - 1))))
            IT_FAIL("thread %s (%s) takes stop signals: SigBlk %llx", e->d_name,
                    comm, blk);
        seen++;
    }
    closedir(d);
    IT_CHECK(seen >= 2); /* the receiver and the client's own thread */
    it_close(fd);
    it_server_finish(&s);
}

/* tsl_signals_block() before the start, tsl_signals_wait() after it: the
 * signal is taken by the waiting thread, and the server stops cleanly. */
static void
signals_wait_returns_the_signal(void)
{
    struct it_server s;
    sigset_t set, old;
    int fd;

    IT_EQ(pthread_sigmask(SIG_SETMASK, NULL, &old), 0);
    IT_EQ(tsl_signals_block(), 0);
    it_server_start(&s, "sigwait", "variable", IT_ECHO);
    fd = it_connect(s.port);
    it_echo_once(fd, "before");
    IT_EQ(kill(getpid(), SIGTERM), 0);
    IT_EQ(tsl_signals_wait(), SIGTERM);
    IT_EQ(kill(getpid(), SIGHUP), 0);
    IT_EQ(tsl_signals_wait(), SIGHUP);
    it_echo_once(fd, "after"); /* still serving until told to stop */
    IT_EQ(tsl_server_stop(s.srv), 0);
    IT_CHECK(it_wait_closed(fd, 3000));
    it_close(fd);
    it_server_finish(&s);
    IT_EQ(s.by_reason[TSL_REASON_SHUTDOWN], 1);
    IT_EQ(pthread_sigmask(SIG_SETMASK, NULL, &set), 0);
    IT_CHECK(sigismember(&set, SIGTERM) == 1);
    IT_EQ(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

/* The threads callbacks ran on: connected, message, disconnected,
 * rejected. */
struct cb_threads {
    pthread_mutex_t mu;
    pthread_t seen[4][8];
    int n[4];
};

static void
cb_note(void *ud, int kind)
{
    struct cb_threads *t = ud;

    pthread_mutex_lock(&t->mu);
    if (t->n[kind] < 8)
        t->seen[kind][t->n[kind]++] = pthread_self();
    pthread_mutex_unlock(&t->mu);
}

static void
th_connected(tsl_server_t *s, tsl_client_t *c, void *ud)
{
    (void)s;
    (void)c;
    cb_note(ud, 0);
}

static void
th_message(tsl_server_t *s, tsl_client_t *c, const uint8_t *m, size_t n,
           void *ud)
{
    uint8_t f[64];
    tsl_framing_t fr;

    cb_note(ud, 1);
    tsl_framing_default(&fr, TSL_FRAMING_VARIABLE);
    (void)s;
    tsl_client_send(c, f, (size_t)tsl_framing_encode(&fr, m, n, f, sizeof(f)));
}

static void
th_disconnected(tsl_server_t *s, tsl_client_t *c, tsl_reason_t why, void *ud)
{
    (void)s;
    (void)c;
    (void)why;
    cb_note(ud, 2);
}

static void
th_rejected(tsl_server_t *s, const char *ip, uint16_t port, tsl_reject_t why,
            void *ud)
{
    (void)s;
    (void)ip;
    (void)port;
    (void)why;
    cb_note(ud, 3);
}

/* Three clients and one black-listed connection; returns whether every
 * callback ran on one thread, and whether connected shared the thread of
 * message. */
static void
callback_threads(tsl_backend_t be, bool *one, bool *conn_with_msg)
{
    tsl_callbacks_t cbs = {th_connected, th_disconnected, th_message,
                           th_rejected, NULL};
    struct cb_threads t;
    tsl_server_t *srv;
    tsl_framing_t fr;
    int fd[3], i, k, total, rejected;
    int64_t dl;

    memset(&t, 0, sizeof(t));
    pthread_mutex_init(&t.mu, NULL);
    IT_EQ(tsl_server_create(&srv, "threads", "127.0.0.1", 0), 0);
    tsl_framing_default(&fr, TSL_FRAMING_VARIABLE);
    IT_EQ(tsl_server_set_framing(srv, &fr), 0);
    IT_EQ(tsl_server_set_backend(srv, be), 0);
    IT_EQ(tsl_server_set_callbacks(srv, &cbs, &t), 0);
    IT_EQ(tsl_server_blacklist_add(srv, "127.0.0.9"), 0);
    IT_EQ(tsl_server_start(srv), 0);
    for (i = 0; i < 3; i++) {
        fd[i] = it_connect(tsl_server_port(srv));
        it_echo_once(fd[i], "which thread");
    }
    i = it_connect_from(tsl_server_port(srv), "127.0.0.9");
    IT_EQ(it_wait_closed(i, 2000), 1);
    it_close(i);
    for (i = 0; i < 3; i++)
        it_close(fd[i]);
    dl = it_now_ms() + 5000 * it_scale();
    for (;;) {
        pthread_mutex_lock(&t.mu);
        total = t.n[2];
        rejected = t.n[3];
        pthread_mutex_unlock(&t.mu);
        if ((total == 3 && rejected == 1) || it_now_ms() > dl)
            break;
        poll(NULL, 0, 5);
    }
    IT_EQ(tsl_server_destroy(srv), 0);
    IT_EQ(t.n[0], 3);
    IT_EQ(t.n[1], 3);
    IT_EQ(t.n[2], 3);
    IT_EQ(t.n[3], 1);
    *one = true;
    for (k = 0; k < 4; k++)
        for (i = 0; i < t.n[k]; i++) {
            IT_CHECK(!pthread_equal(t.seen[k][i], pthread_self()));
            if (!pthread_equal(t.seen[k][i], t.seen[1][0]))
                *one = false;
        }
    *conn_with_msg = pthread_equal(t.seen[0][0], t.seen[1][0]);
    pthread_mutex_destroy(&t.mu);
}

static void
epoll_runs_every_callback_on_one_thread(void)
{
    bool one, together;

    callback_threads(TSL_BACKEND_EPOLL, &one, &together);
    IT_CHECK(one);
    /* And the documented difference: select accepts on a thread of its
     * own, so connected does not run where messages do. */
    callback_threads(TSL_BACKEND_SELECT, &one, &together);
    IT_CHECK(!one);
    IT_CHECK(!together);
}

int
main(int argc, char **argv)
{
    static const struct it_case_def cases[] = {
        {"many_clients", many_clients},
        {"epoll_runs_every_callback_on_one_thread",
         epoll_runs_every_callback_on_one_thread},
        {"client_close_and_reset", client_close_and_reset},
        {"forced_close", forced_close},
        {"forced_close_in_callback", forced_close_in_callback},
        {"stop_with_clients_in_flight", stop_with_clients_in_flight},
        {"two_servers", two_servers},
        {"stop_start_stop", stop_start_stop},
        {"max_clients", max_clients},
        {"blacklist", blacklist},
        {"not_accepting_and_not_listening", not_accepting_and_not_listening},
        {"stop_from_callback", stop_from_callback},
        {"half_close_gets_all_replies", half_close_gets_all_replies},
        {"slow_consumer_is_bounded_and_dropped",
         slow_consumer_is_bounded_and_dropped},
        {"protocol_error_is_isolated", protocol_error_is_isolated},
        {"stats_are_exact", stats_are_exact},
        {"large_send_from_app_thread", large_send_from_app_thread},
        {"hard_limit_refuses_whole_send", hard_limit_refuses_whole_send},
        {"fd_exhaustion_sheds_without_spinning",
         fd_exhaustion_sheds_without_spinning},
        {"fd_above_fd_setsize_is_refused", fd_above_fd_setsize_is_refused},
        {"fd_setsize_is_the_first_refused", fd_setsize_is_the_first_refused},
        {"an_idle_client_sets_no_deadline", an_idle_client_sets_no_deadline},
        {"disconnect_from_disconnected_callback",
         disconnect_from_disconnected_callback},
        {"accept_errors_back_off_and_recover",
         accept_errors_back_off_and_recover},
        {"stop_while_connections_arrive", stop_while_connections_arrive},
        {"settings_while_starting_and_stopping",
         settings_while_starting_and_stopping},
        {"library_threads_block_stop_signals",
         library_threads_block_stop_signals},
        {"signals_wait_returns_the_signal", signals_wait_returns_the_signal},
        {NULL, NULL},
    };
    return it_main(argc, argv, cases);
}

/*
 * it_keepalive.c - keepalive expiry over real sockets: a silent client is
 * dropped within [hold, hold + tick + slack]; a client sending only
 * keepalive frames survives ten hold times; a client whose FIN is lost is
 * dropped by keepalive; per-client overrides; expiry racing with a forced
 * disconnect yields exactly one disconnected callback.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <time.h>
#include "itest.h"
#include "tsl_sys.h"

enum { TICK = 20, SLACK = 250 };

static void
start_ka(struct it_server *s, const char *name, uint32_t hold)
{
    it_server_create(s, name, "variable", IT_ECHO);
    IT_EQ(tsl_server_set_timer_tick(s->srv, TICK), 0);
    IT_EQ(tsl_server_set_keepalive(s->srv, hold * (uint32_t)it_scale()), 0);
    IT_EQ(tsl_server_start(s->srv), 0);
    s->port = tsl_server_port(s->srv);
}

static void
silent_client_expires_on_time(void)
{
    const int64_t hold = 300 * it_scale();
    struct it_server s;
    int64_t gap;
    int fd;

    start_ka(&s, "silent", 300);
    fd = it_connect(s.port);
    it_echo_once(fd, "then silence");
    IT_WAIT(&s, s.by_reason[TSL_REASON_KA_EXPIRED] == 1, 5000);
    pthread_mutex_lock(&s.mu);
    gap = s.last_disc_ms - s.last_msg_ms;
    pthread_mutex_unlock(&s.mu);
    if (gap < hold - 2 || gap > hold + TICK + SLACK * it_scale())
        IT_FAIL("expired %lld ms after the last message; hold %lld, tick %d",
                (long long)gap, (long long)hold, TICK);
    IT_CHECK(it_wait_closed(fd, 2000));
    it_close(fd);
    it_server_finish(&s);
}

static void
keepalive_frames_keep_a_client(void)
{
    const int hold = 600 * it_scale();
    struct it_server s;
    tsl_client_stats_t st;
    tsl_client_t *c;
    uint8_t ka[2] = {2, 0};
    struct pollfd pf;
    int64_t end;
    int fd, sent = 0;

    start_ka(&s, "kaframes", 600);
    fd = it_connect(s.port);
    it_echo_once(fd, "hello");
    end = it_now_ms() + 3 * hold;
    while (it_now_ms() < end) {
        it_send_all(fd, ka, 2);
        sent++;
        /* Pace at a twelfth of the hold time, so that this thread may be
         * kept off the CPU for most of a hold (a loaded machine) and the
         * client still be alive; over three holds, only the frames keep
         * it.  The wait doubles as a check that the server does not close
         * on us meanwhile. */
        pf.fd = fd;
        pf.events = POLLIN;
        IT_EQ(poll(&pf, 1, hold / 12), 0);
    }
    IT_EQ(s.disconnected, 0);
    IT_WAIT(&s, (c = tsl_server_find_client(s.srv, 1)) != NULL, 1000);
    IT_WAIT(&s, (tsl_client_stats(c, &st), st.keepalives_in == (uint64_t)sent),
            2000);
    IT_EQ(st.msgs_in, 1); /* keepalives are not delivered */
    tsl_client_unref(c);
    it_close(fd);
    it_server_finish(&s);
    IT_EQ(s.by_reason[TSL_REASON_PEER_CLOSED], 1);
}

/* FIN loss, in process: an EOF the kernel reports is swallowed and the
 * socket hidden from select(), as if the FIN had never arrived. */
static bool fin_lost[FD_SETSIZE];
static struct tsl_sys_ops finloss;

static ssize_t
fl_readv(int fd, const struct iovec *iov, int n)
{
    ssize_t r = tsl__sys_libc.readv(fd, iov, n);

    if (r == 0 && fd < FD_SETSIZE) {
        __atomic_store_n(&fin_lost[fd], true, __ATOMIC_RELAXED);
        errno = EAGAIN;
        return -1;
    }
    return r;
}

static ssize_t
fl_recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t r = tsl__sys_libc.recv(fd, buf, len, flags);

    if (r == 0 && fd < FD_SETSIZE) {
        __atomic_store_n(&fin_lost[fd], true, __ATOMIC_RELAXED);
        errno = EAGAIN;
        return -1;
    }
    return r;
}

static int
fl_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    int fd;

    for (fd = 0; r != NULL && fd < n; fd++)
        if (__atomic_load_n(&fin_lost[fd], __ATOMIC_RELAXED))
            FD_CLR(fd, r);
    return tsl__sys_libc.select(n, r, w, e, t);
}

static int
fl_close(int fd)
{
    if (fd >= 0 && fd < FD_SETSIZE)
        __atomic_store_n(&fin_lost[fd], false, __ATOMIC_RELAXED);
    return tsl__sys_libc.close(fd);
}

static void
lost_fin_is_caught_by_keepalive(void)
{
    struct it_server s;
    int fd;

    finloss = tsl__sys_libc;
    finloss.readv = fl_readv;
    finloss.recv = fl_recv;
    finloss.select = fl_select;
    finloss.close = fl_close;
    tsl__sys_set(&finloss);
    start_ka(&s, "finloss", 200);
    fd = it_connect(s.port);
    it_echo_once(fd, "bye");
    it_close(fd); /* the server never sees this FIN */
    IT_WAIT(&s, s.disconnected == 1, 5000);
    IT_EQ(s.by_reason[TSL_REASON_KA_EXPIRED], 1);
    IT_EQ(s.by_reason[TSL_REASON_PEER_CLOSED], 0);
    it_server_finish(&s);
    tsl__sys_set(NULL);
}

static void
per_client_override(void)
{
    struct it_server s;
    tsl_client_t *c;
    int a, b;

    start_ka(&s, "override", 0); /* server: keepalive off */
    a = it_connect(s.port);
    b = it_connect(s.port);
    it_echo_once(a, "a");
    it_echo_once(b, "b");
    IT_WAIT(&s, (c = tsl_server_find_client(s.srv, 1)) != NULL, 1000);
    IT_EQ(tsl_client_set_keepalive(c, 100 * it_scale()), 0);
    IT_WAIT(&s, s.by_reason[TSL_REASON_KA_EXPIRED] == 1, 3000);
    IT_EQ(tsl_client_set_keepalive(c, 5), TSL_ENOTCONN);
    tsl_client_unref(c);
    /* The other one is still served: its hold time is the server's (off). */
    it_echo_once(b, "still here");
    /* Turning it on for the server now reaches existing clients. */
    IT_EQ(tsl_server_set_keepalive(s.srv, (uint32_t)(100 * it_scale())), 0);
    IT_WAIT(&s, s.by_reason[TSL_REASON_KA_EXPIRED] == 2, 3000);
    it_close(a);
    it_close(b);
    it_server_finish(&s);
}

static void
expiry_racing_forced_disconnect_is_reported_once(void)
{
    enum { ROUNDS = 30 };
    struct it_server s;
    tsl_client_t *c;
    int i, fd;

    start_ka(&s, "race", 60);
    for (i = 0; i < ROUNDS; i++) {
        int64_t at;
        fd = it_connect(s.port);
        it_echo_once(fd, "race");
        IT_WAIT(&s, (c = tsl_server_find_client(s.srv, (uint64_t)i + 1)) !=
                        NULL || s.disconnected > i,
                2000);
        /* Force the close right around the expiry time. */
        pthread_mutex_lock(&s.mu);
        at = s.last_msg_ms + 60 * it_scale() - 3 + i % 7;
        while (it_now_ms() < at && s.disconnected == i)
            it_wait_slice(&s);
        pthread_mutex_unlock(&s.mu);
        if (c != NULL) {
            int r = tsl_client_disconnect(c);
            IT_CHECK(r == 0 || r == TSL_ENOTCONN);
            tsl_client_unref(c);
        }
        IT_WAIT(&s, s.disconnected == i + 1, 2000);
        it_close(fd);
    }
    it_server_finish(&s);
    IT_EQ(s.by_reason[TSL_REASON_FORCED] + s.by_reason[TSL_REASON_KA_EXPIRED],
          ROUNDS);
}

/* Pacing a peer (the behaviour under test), not synchronising. */
static void
pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A peer that trickles a frame one byte at a time keeps a keepalive hold
 * satisfied forever; the frame timeout drops it as protocol-error.  A
 * peer whose frames arrive split, but each within the timeout, stays. */
static void
slow_partial_frame_is_dropped(void)
{
    const int ft = 200 * it_scale(), step = 20 * it_scale();
    struct it_server s;
    uint8_t frame[1000], half[6] = {6, 0, 'o', 'k'};
    int slow, fine, i;
    int64_t t0;

    memset(frame, 'x', sizeof(frame));
    frame[0] = sizeof(frame) & 0xff;
    frame[1] = sizeof(frame) >> 8;
    it_server_create(&s, "slowloris", "variable", IT_ECHO);
    IT_EQ(tsl_server_set_timer_tick(s.srv, TICK), 0);
    IT_EQ(tsl_server_set_keepalive(s.srv, (uint32_t)(5 * ft)), 0);
    IT_EQ(tsl_server_set_frame_timeout(s.srv, (uint32_t)ft), 0);
    IT_EQ(tsl_server_frame_timeout(s.srv), (uint32_t)ft);
    IT_EQ(tsl_server_start(s.srv), 0);
    s.port = tsl_server_port(s.srv);
    fine = it_connect(s.port);
    slow = it_connect(s.port);
    t0 = it_now_ms();
    /* 1000 bytes, one per step: it would take 50 timeouts to finish. */
    for (i = 0; i < (int)sizeof(frame); i++) {
        if (send(slow, frame + i, 1, MSG_NOSIGNAL) != 1)
            break;
        /* Meanwhile the other client's frames come in two halves. */
        if (i % 4 == 0) {
            uint8_t back[6];
            it_send_all(fine, half, 3);
            it_send_all(fine, half + 3, 1);
            half[4] = half[5] = (uint8_t)i;
            it_send_all(fine, half + 4, 2);
            it_recv_exact(fine, back, sizeof(back));
            IT_CHECK(memcmp(back, half, sizeof(back)) == 0);
        }
        pthread_mutex_lock(&s.mu);
        int gone = s.by_reason[TSL_REASON_PROTOCOL_ERROR];
        pthread_mutex_unlock(&s.mu);
        if (gone)
            break;
        pause_ms(step);
    }
    IT_WAIT(&s, s.by_reason[TSL_REASON_PROTOCOL_ERROR] == 1, 5 * ft);
    IT_CHECK(it_wait_closed(slow, 2000 * it_scale()));
    /* Not before the timeout; long before the frame could complete. */
    IT_CHECK(it_now_ms() - t0 >= ft);
    IT_CHECK(i < (int)sizeof(frame) / 2);
    it_echo_once(fine, "still here");
    IT_EQ(s.disconnected, 1);
    /* Counted as what it is, in the server's statistics too. */
    {
        tsl_server_stats_t st;
        tsl_server_stats(s.srv, &st);
        IT_EQ(st.protocol_errors, 1);
    }
    it_close(fine);
    it_close(slow);
    it_server_finish(&s);
}

int
main(int argc, char **argv)
{
    static const struct it_case_def cases[] = {
        {"silent_client_expires_on_time", silent_client_expires_on_time},
        {"keepalive_frames_keep_a_client", keepalive_frames_keep_a_client},
        {"lost_fin_is_caught_by_keepalive", lost_fin_is_caught_by_keepalive},
        {"per_client_override", per_client_override},
        {"slow_partial_frame_is_dropped", slow_partial_frame_is_dropped},
        {"expiry_racing_forced_disconnect_is_reported_once",
         expiry_racing_forced_disconnect_is_reported_once},
        {NULL, NULL},
    };
    return it_main(argc, argv, cases);
}

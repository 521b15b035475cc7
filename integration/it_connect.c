/*
 * it_connect.c - client mode: connecting to a port that is not listening
 * yet, reconnecting after the remote restarts, cancelling during retry and
 * while connected, connect-once, stop during retry, outgoing keepalive
 * frames, and a server connecting to itself (the course's self-connect
 * crash).  The test plays the remote side with plain sockets.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

static void
connects_once_the_remote_listens(void)
{
    struct it_server s;
    uint16_t port = it_free_port();
    int id, lfd, fd;

    it_server_start(&s, "out", "variable", IT_ECHO);
    id = tsl_server_connect(s.srv, "127.0.0.1", port, 0);
    IT_CHECK(id > 0);
    /* The scenario: nobody listens for a while, so attempts are refused. */
    poll(NULL, 0, 300);
    IT_EQ(s.connected, 0);
    lfd = it_listen(&port);
    fd = it_accept_within(lfd, 5000);
    IT_CHECK(fd >= 0);
    IT_WAIT(&s, s.connected == 1, 2000);
    {
        /* A connection made out is a client, not an accepted one. */
        tsl_server_stats_t st;
        tsl_server_stats(s.srv, &st);
        IT_EQ(st.current_clients, 1);
        IT_EQ(st.accepted, 0);
    }
    it_echo_once(fd, "hello from the remote");
    it_close(fd);
    close(lfd);
    it_server_finish(&s);
}

static void
reconnects_after_remote_restart(void)
{
    struct it_server s;
    uint16_t port = 0;
    int lfd = it_listen(&port), fd;

    it_server_start(&s, "restart", "variable", IT_ECHO);
    IT_CHECK(tsl_server_connect(s.srv, "127.0.0.1", port, 0) > 0);
    fd = it_accept_within(lfd, 5000);
    IT_CHECK(fd >= 0);
    it_echo_once(fd, "first");
    /* The remote drops the connection: the server connects again. */
    it_close(fd);
    fd = it_accept_within(lfd, 5000);
    IT_CHECK(fd >= 0);
    IT_WAIT(&s, s.connected == 2, 2000);
    IT_EQ(s.by_reason[TSL_REASON_PEER_CLOSED], 1);
    it_echo_once(fd, "second");
    /* The remote goes away altogether (listener first, so no reconnect
     * can slip into its backlog meanwhile), then comes back. */
    close(lfd);
    it_close(fd);
    IT_WAIT(&s, s.disconnected == 2, 2000);
    lfd = it_listen(&port);
    fd = it_accept_within(lfd, 8000);
    IT_CHECK(fd >= 0);
    it_echo_once(fd, "third");
    IT_EQ(s.connected, 3);
    it_close(fd);
    close(lfd);
    it_server_finish(&s);
}

static void
cancel_during_retry(void)
{
    struct it_server s;
    int id;

    it_server_start(&s, "cancel", "variable", IT_ECHO);
    id = tsl_server_connect(s.srv, "127.0.0.1", it_free_port(), 0);
    IT_CHECK(id > 0);
    IT_EQ(tsl_server_cancel_connect(s.srv, id), 0);
    IT_EQ(tsl_server_cancel_connect(s.srv, id), TSL_ENOENT);
    IT_EQ(tsl_server_cancel_connect(s.srv, id + 100), TSL_ENOENT);
    it_server_finish(&s);
    IT_EQ(s.connected, 0);
}

static void
cancel_while_connected_closes_without_retry(void)
{
    struct it_server s;
    uint16_t port = 0;
    int lfd = it_listen(&port), fd, id;

    it_server_start(&s, "cancel2", "variable", IT_ECHO);
    id = tsl_server_connect(s.srv, "127.0.0.1", port, 0);
    fd = it_accept_within(lfd, 5000);
    IT_CHECK(fd >= 0);
    IT_WAIT(&s, s.connected == 1, 2000);
    IT_EQ(tsl_server_cancel_connect(s.srv, id), 0);
    IT_CHECK(it_wait_closed(fd, 2000));
    IT_WAIT(&s, s.by_reason[TSL_REASON_FORCED] == 1, 2000);
    /* No new attempt within a bounded window. */
    IT_EQ(it_accept_within(lfd, 300), -1);
    it_close(fd);
    close(lfd);
    it_server_finish(&s);
}

static void
connect_once_does_not_retry(void)
{
    struct it_server s;
    uint16_t port = 0;
    int lfd = it_listen(&port), fd;

    it_server_start(&s, "once", "variable", IT_ECHO);
    IT_CHECK(tsl_server_connect(s.srv, "127.0.0.1", port, TSL_CONNECT_ONCE) >
             0);
    fd = it_accept_within(lfd, 5000);
    IT_CHECK(fd >= 0);
    it_echo_once(fd, "only once");
    it_close(fd);
    IT_WAIT(&s, s.by_reason[TSL_REASON_PEER_CLOSED] == 1, 2000);
    IT_EQ(it_accept_within(lfd, 400), -1);
    close(lfd);
    it_server_finish(&s);
}

static void
stop_cancels_pending_connects(void)
{
    struct it_server s;
    int i;

    it_server_start(&s, "stopret", "variable", IT_ECHO);
    for (i = 0; i < 5; i++)
        IT_CHECK(tsl_server_connect(s.srv, "127.0.0.1", it_free_port(), 0) > 0);
    IT_EQ(tsl_server_stop(s.srv), 0);
    IT_EQ(tsl_server_connect(s.srv, "127.0.0.1", 1, 0), TSL_EBUSY);
    IT_EQ(tsl_server_connect(s.srv, "nowhere", 1, 0), TSL_EINVAL);
    it_server_finish(&s);
}

static void
sends_keepalive_frames(void)
{
    struct it_server s;
    tsl_client_stats_t st;
    tsl_client_t *c;
    uint16_t port = 0;
    uint8_t ka[2];
    int lfd = it_listen(&port), fd, i;

    it_server_create(&s, "kaout", "variable", IT_ECHO);
    IT_EQ(tsl_server_set_timer_tick(s.srv, 10), 0);
    IT_EQ(tsl_server_set_keepalive_interval(s.srv, 50), 0);
    IT_EQ(tsl_server_start(s.srv), 0);
    IT_CHECK(tsl_server_connect(s.srv, "127.0.0.1", port, 0) > 0);
    fd = it_accept_within(lfd, 5000);
    IT_CHECK(fd >= 0);
    for (i = 0; i < 4; i++) {
        it_recv_exact(fd, ka, 2);
        IT_CHECK(ka[0] == 2 && ka[1] == 0); /* header-only: 02 00 */
    }
    IT_WAIT(&s, (c = tsl_server_find_client(s.srv, 1)) != NULL, 2000);
    tsl_client_stats(c, &st);
    IT_CHECK(st.keepalives_out >= 4);
    IT_EQ(st.msgs_out, 0);
    tsl_client_unref(c);
    it_close(fd);
    close(lfd);
    it_server_finish(&s);
}

/* The course's server connected to its own listener on every disconnect
 * and aborted on the duplicate key.  Here both halves are ordinary
 * clients. */
static void
connecting_to_itself(void)
{
    struct it_server s;

    it_server_start(&s, "self", "variable", IT_SILENT);
    IT_CHECK(tsl_server_connect(s.srv, "127.0.0.1", s.port, 0) > 0);
    IT_WAIT(&s, s.connected == 2, 5000);
    it_server_finish(&s);
    IT_EQ(s.by_reason[TSL_REASON_SHUTDOWN], 2);
}

/* A stop (and a setter) called from the connected callback of a
 * client-mode connection: that callback runs on the connector thread, one
 * of the server's own, so the stop must not try to join it (it is handed
 * to a stopper thread) and setters answer TSL_EBUSY at once. */
struct cbstop {
    atomic_int framing_rc, stop_rc, calls;
};

static void
cbstop_connected(tsl_server_t *srv, tsl_client_t *c, void *ud)
{
    struct cbstop *st = ud;
    tsl_framing_t f;

    (void)c;
    tsl_framing_default(&f, TSL_FRAMING_VARIABLE);
    atomic_store(&st->framing_rc, tsl_server_set_framing(srv, &f));
    atomic_store(&st->stop_rc, tsl_server_stop(srv));
    atomic_fetch_add(&st->calls, 1);
}

static void
stop_from_connected_callback(void)
{
    struct cbstop st = {0, 1, 0};
    tsl_callbacks_t cbs = {cbstop_connected, NULL, NULL, NULL, NULL};
    tsl_server_t *srv;
    uint16_t port = 0;
    int lfd = it_listen(&port), fd;
    int64_t end;

    IT_EQ(tsl_server_create(&srv, "cbstop", "127.0.0.1", 0), 0);
    IT_EQ(tsl_server_set_callbacks(srv, &cbs, &st), 0);
    IT_EQ(tsl_server_start(srv), 0);
    IT_CHECK(tsl_server_connect(srv, "127.0.0.1", port, 0) > 0);
    fd = it_accept_within(lfd, 5000);
    IT_CHECK(fd >= 0);
    /* The stop runs on its own: the remote sees the connection end. */
    IT_CHECK(it_wait_closed(fd, 5000));
    end = it_now_ms() + 5000 * it_scale();
    while ((tsl_server_flags(srv) & TSL_SERVER_RUNNING) && it_now_ms() < end)
        poll(NULL, 0, 5); /* nothing announces the end of a stop */
    IT_CHECK(!(tsl_server_flags(srv) & TSL_SERVER_RUNNING));
    IT_EQ(atomic_load(&st.calls), 1);
    IT_EQ(atomic_load(&st.framing_rc), TSL_EBUSY);
    IT_EQ(atomic_load(&st.stop_rc), 0);
    IT_EQ(tsl_server_destroy(srv), 0);
    close(fd);
    close(lfd);
}

int
main(int argc, char **argv)
{
    static const struct it_case_def cases[] = {
        {"connects_once_the_remote_listens", connects_once_the_remote_listens},
        {"reconnects_after_remote_restart", reconnects_after_remote_restart},
        {"cancel_during_retry", cancel_during_retry},
        {"cancel_while_connected_closes_without_retry",
         cancel_while_connected_closes_without_retry},
        {"connect_once_does_not_retry", connect_once_does_not_retry},
        {"stop_cancels_pending_connects", stop_cancels_pending_connects},
        {"sends_keepalive_frames", sends_keepalive_frames},
        {"connecting_to_itself", connecting_to_itself},
        {"stop_from_connected_callback", stop_from_connected_callback},
        {NULL, NULL},
    };
    return it_main(argc, argv, cases);
}

/* test_fault_engine.c - the engine keeps the semantics of the socket it is
 * on (TSL_FAULT_KERNEL, as under LD_PRELOAD): on a blocking socket held
 * bytes, delays and EAGAIN storms wait and return data; a lost FIN blocks
 * until SO_RCVTIMEO or the program's own shutdown; EINTR only where a
 * signal handler could interrupt the call; MSG_DONTWAIT, MSG_PEEK and
 * MSG_WAITALL mean what they mean; untracked descriptors pass through.
 * And in process (TSL_FAULT_INPROC) EINTR still comes on any call.
 *
 * Every test makes a loopback TCP pair whose server end is accepted
 * through the engine, so it is connection 1 of the plan.  Waits have a
 * deadline (SO_RCVTIMEO as a guard where the test is not about it), and
 * times are only checked from below, so a slow machine cannot fail them. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tsl_fault.h"

static const struct tsl_sys_ops *F;

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
arm(const char *plan, enum tsl_fault_mode mode)
{
    char err[200];

    assert_int_equal(tsl_fault_init(plan, &tsl__sys_libc, mode, err,
                                    sizeof(err)),
                     0);
    F = tsl_fault_ops();
}

static void
set_timeout(int fd, int opt, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    assert_int_equal(setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)), 0);
}

/* A connected pair: *srv accepted through the engine (blocking), *cli
 * plain.  A 5 s SO_RCVTIMEO on *srv unless guard is 0. */
static void
pair(int *srv, int *cli, int guard)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int l = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
    *cli = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(*cli, (struct sockaddr *)&sa, sizeof(sa)), 0);
    *srv = F->accept4(l, NULL, NULL, 0);
    assert_true(*srv >= 0);
    assert_true(tsl_fault_tracked(*srv));
    close(l);
    if (guard)
        set_timeout(*srv, SO_RCVTIMEO, 5000);
}

static void
done(int srv, int cli)
{
    F->close(srv);
    close(cli);
    tsl_fault_fini();
}

static void
blocking_coalesce_waits_then_returns_data(void **state)
{
    char buf[64];
    int s, c;

    (void)state;
    arm("coalesce=1000,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    assert_int_equal(send(c, "hello", 5, 0), 5);
    /* Fewer than 1000 bytes: held, then released after the hold time -
     * by the receive itself, which waits instead of failing. */
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), 5);
    assert_memory_equal(buf, "hello", 5);
    done(s, c);
}

static void
dontwait_on_a_blocking_socket_sees_the_hold(void **state)
{
    struct pollfd p;
    char buf[64];
    int s, c;

    (void)state;
    arm("coalesce=1000,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    assert_int_equal(send(c, "abc", 3, 0), 3);
    p.fd = s;
    p.events = POLLIN;
    assert_int_equal(poll(&p, 1, 5000), 1); /* the kernel has them */
    errno = 0;
    assert_int_equal(F->recv(s, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    /* The engine's poll says when they are due. */
    p.revents = 0;
    assert_int_equal(F->poll(&p, 1, 5000), 1);
    assert_true(p.revents & POLLIN);
    assert_int_equal(F->recv(s, buf, sizeof(buf), MSG_DONTWAIT), 3);
    done(s, c);
}

/* Sends "abc" to srv and has the engine take it into its hold (a
 * coalescing plan): a receive that does not wait finds nothing yet. */
static void
hold_abc(int srv, int cli)
{
    struct pollfd p = {srv, POLLIN, 0};
    char buf[8];

    assert_int_equal(send(cli, "abc", 3, 0), 3);
    assert_int_equal(poll(&p, 1, 5000), 1); /* the kernel has them */
    assert_int_equal(F->recv(srv, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN); /* now the engine holds them */
}

/* Held bytes wake a select with a long timeout when they come due: the
 * engine waits in the kernel only until then, not for the program's whole
 * timeout, in the first wait as in the ones after it. */
static void
select_returns_when_held_bytes_come_due(void **state)
{
    struct timeval tv = {10, 0};
    fd_set rs;
    char buf[64];
    int64_t t0;
    int s, c;

    (void)state;
    arm("coalesce=1000,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    hold_abc(s, c);
    t0 = now_ms();
    FD_ZERO(&rs);
    FD_SET(s, &rs);
    assert_int_equal(F->select(s + 1, &rs, NULL, NULL, &tv), 1);
    assert_true(FD_ISSET(s, &rs));
    /* The hold is far shorter than half the timeout, on any machine. */
    assert_true(now_ms() - t0 < 5000);
    assert_int_equal(F->recv(s, buf, sizeof(buf), MSG_DONTWAIT), 3);
    assert_memory_equal(buf, "abc", 3);
    done(s, c);
}

static void
nonblocking_socket_still_gets_eagain(void **state)
{
    char buf[64];
    int s, c, i, eagain = 0, got = 0;

    (void)state;
    arm("eagain=100,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    assert_int_equal(send(c, "x", 1, 0), 1);
    /* Blocking: the storm is a wake-up the kernel hides. */
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), 1);
    assert_int_equal(send(c, "y", 1, 0), 1);
    assert_int_equal(fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK), 0);
    for (i = 0; i < 10; i++) {
        ssize_t r = F->recv(s, buf, sizeof(buf), 0);
        if (r < 0 && errno == EAGAIN)
            eagain++;
        if (r > 0)
            got++;
    }
    assert_int_equal(eagain, 10);
    assert_int_equal(got, 0);
    done(s, c);
}

static void
blocking_delay_waits_its_time(void **state)
{
    char buf[64];
    int64_t t0;
    int s, c;

    (void)state;
    arm("delay=60,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    t0 = now_ms();
    assert_int_equal(send(c, "late", 4, 0), 4);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), 4);
    assert_true(now_ms() - t0 >= 55);
    assert_memory_equal(buf, "late", 4);
    done(s, c);
}

/* Delayed bytes go out as they come due, each arrival after its own
 * delay: when the first bytes are due and later ones are not, a read
 * gets the first ones only. */
static void
delayed_bytes_go_out_in_their_own_time(void **state)
{
    struct pollfd p;
    char buf[64];
    int64_t t1;
    ssize_t r;
    int s, c;

    (void)state;
    arm("delay=1000,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    p.fd = s;
    p.events = POLLIN;
    assert_int_equal(send(c, "ab", 2, 0), 2);
    assert_int_equal(poll(&p, 1, 5000), 1); /* the kernel has them */
    assert_int_equal(F->recv(s, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN); /* held until due */
    assert_int_equal(F->poll(&p, 1, 5000), 1); /* "ab" is due */
    t1 = now_ms();
    assert_int_equal(send(c, "cd", 2, 0), 2);
    p.revents = 0;
    assert_int_equal(poll(&p, 1, 5000), 1); /* the kernel has "cd" */
    r = F->recv(s, buf, sizeof(buf), MSG_DONTWAIT);
    if (now_ms() - t1 < 900) { /* else too slow to tell: "cd" is due too */
        assert_int_equal(r, 2);
        assert_memory_equal(buf, "ab", 2);
        r = F->recv(s, buf, sizeof(buf), MSG_DONTWAIT);
        if (now_ms() - t1 < 900) {
            assert_int_equal(r, -1);
            assert_int_equal(errno, EAGAIN);
        }
        p.revents = 0;
        assert_int_equal(F->poll(&p, 1, 5000), 1);
        assert_int_equal(F->recv(s, buf, sizeof(buf), MSG_DONTWAIT), 2);
        assert_memory_equal(buf, "cd", 2);
        assert_true(now_ms() - t1 >= 990);
    }
    done(s, c);
}

static void
lost_fin_blocks_until_rcvtimeo(void **state)
{
    struct pollfd p;
    char buf[64];
    int64_t t0;
    int s, c;

    (void)state;
    arm("fin_loss,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 0);
    set_timeout(s, SO_RCVTIMEO, 150);
    assert_int_equal(send(c, "bye", 3, 0), 3);
    close(c);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), 3);
    /* The kernel has the FIN; the program never sees it: the receive
     * waits as for a silent peer, and SO_RCVTIMEO ends it as it would. */
    t0 = now_ms();
    errno = 0;
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), -1);
    assert_int_equal(errno, EAGAIN);
    assert_true(now_ms() - t0 >= 140);
    p.fd = s;
    p.events = POLLIN;
    assert_int_equal(F->poll(&p, 1, 50), 0);
    /* The program's own shutdown ends the wait, as in the kernel. */
    tsl_fault_shutdown(s, SHUT_RD);
    shutdown(s, SHUT_RD);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), 0);
    F->close(s);
    tsl_fault_fini();
}

static void
lost_fin_is_hidden_from_a_select_before_the_read(void **state)
{
    fd_set rs;
    struct timeval tv = {0, 100 * 1000};
    char buf[64];
    int s, c;

    (void)state;
    arm("fin_loss,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    close(c);
    /* No read has seen the EOF yet: select must not call it readable,
     * or the program's next (blocking) read would block. */
    FD_ZERO(&rs);
    FD_SET(s, &rs);
    assert_int_equal(F->select(s + 1, &rs, NULL, NULL, &tv), 0);
    set_timeout(s, SO_RCVTIMEO, 50);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), -1);
    assert_int_equal(errno, EAGAIN);
    F->close(s);
    tsl_fault_fini();
}

static void
on_usr1(int sig)
{
    (void)sig;
}

static void
eintr_only_where_a_signal_could_interrupt(void **state)
{
    struct sigaction sa, old;
    sigset_t set, prev;
    char buf[64];
    int s, c;

    (void)state;
    arm("eintr=100,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 0);
    /* No handler (cmocka's are for synchronous faults): never EINTR. */
    assert_int_equal(send(c, "a", 1, 0), 1);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), 1);
    /* A handler without SA_RESTART: EINTR. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), -1);
    assert_int_equal(errno, EINTR);
    /* Blocked in this thread: it cannot interrupt here. */
    assert_int_equal(send(c, "b", 1, 0), 1);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &prev);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), 1);
    pthread_sigmask(SIG_SETMASK, &prev, NULL);
    /* SA_RESTART: the kernel restarts the call ... */
    sa.sa_flags = SA_RESTART;
    assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
    assert_int_equal(send(c, "c", 1, 0), 1);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), 1);
    /* ... unless the socket has a timeout. */
    set_timeout(s, SO_RCVTIMEO, 5000);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), -1);
    assert_int_equal(errno, EINTR);
    /* Non-blocking: the kernel never sleeps, so never EINTR. */
    assert_int_equal(send(c, "d", 1, 0), 1);
    assert_int_equal(F->recv(s, buf, sizeof(buf), MSG_DONTWAIT), 1);
    assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
    done(s, c);
}

/* The waits (poll, select) are never restarted, SA_RESTART or not: with
 * an eintr plan they fail with EINTR as soon as the program catches a
 * signal that is not blocked, and never for handlers of the program's own
 * faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS: synchronous,
 * they cannot arrive during a wait). */
static void
waits_get_eintr_only_where_a_signal_could_interrupt(void **state)
{
    static const int sync_sigs[] = {SIGSEGV, SIGBUS, SIGFPE,
                                    SIGILL,  SIGTRAP, SIGSYS};
    struct sigaction sa, old[6], old_usr1;
    struct timeval tv;
    struct pollfd p;
    sigset_t set, prev;
    fd_set rs;
    size_t i;
    int s, c;

    (void)state;
    arm("eintr=100,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    assert_int_equal(send(c, "a", 1, 0), 1);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    for (i = 0; i < 6; i++)
        assert_int_equal(sigaction(sync_sigs[i], &sa, &old[i]), 0);
    p.fd = s;
    p.events = POLLIN;
    assert_int_equal(F->poll(&p, 1, 5000), 1);
    FD_ZERO(&rs);
    FD_SET(s, &rs);
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    assert_int_equal(F->select(s + 1, &rs, NULL, NULL, &tv), 1);
    for (i = 0; i < 6; i++)
        assert_int_equal(sigaction(sync_sigs[i], &old[i], NULL), 0);
    /* A handler, even with SA_RESTART: EINTR. */
    sa.sa_flags = SA_RESTART;
    assert_int_equal(sigaction(SIGUSR1, &sa, &old_usr1), 0);
    errno = 0;
    assert_int_equal(F->poll(&p, 1, 5000), -1);
    assert_int_equal(errno, EINTR);
    /* A select on the socket in any one of its sets. */
    for (i = 0; i < 3; i++) {
        FD_ZERO(&rs);
        FD_SET(s, &rs);
        tv.tv_sec = 5;
        tv.tv_usec = 0;
        errno = 0;
        assert_int_equal(F->select(s + 1, i == 0 ? &rs : NULL,
                                   i == 1 ? &rs : NULL, i == 2 ? &rs : NULL,
                                   &tv),
                         -1);
        assert_int_equal(errno, EINTR);
    }
    /* Blocked in this thread: it cannot interrupt here. */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &prev);
    assert_int_equal(F->poll(&p, 1, 5000), 1);
    pthread_sigmask(SIG_SETMASK, &prev, NULL);
    assert_int_equal(sigaction(SIGUSR1, &old_usr1, NULL), 0);
    done(s, c);
}

/* Sends SIGUSR1 to `kick_target` every 10 ms until `kick_stop` or 5 s:
 * one of them finds it inside the receive, however late it gets there. */
static pthread_t kick_target;
static atomic_int kick_stop;

static void *
kick(void *arg)
{
    struct timespec ts = {0, 10 * 1000 * 1000};
    int64_t end = now_ms() + 5000;

    (void)arg;
    while (!atomic_load(&kick_stop) && now_ms() < end) {
        pthread_kill(kick_target, SIGUSR1);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* A blocking receive the engine holds (bytes delayed 3 s, or a lost FIN:
 * nothing ever) waits inside the engine; a signal with a handler (no
 * SA_RESTART) ends that wait with EINTR, as it would end the kernel's. */
static void
a_signal_ends_the_engines_own_waits_with_eintr(void **state)
{
    static const char *plans[] = {"delay=3000,seed=1", "fin_loss,seed=1"};
    struct sigaction sa, old;
    pthread_t t;
    char buf[16];
    ssize_t r;
    int s, c, e, i;

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    for (i = 0; i < 2; i++) {
        arm(plans[i], TSL_FAULT_KERNEL);
        pair(&s, &c, 1); /* SO_RCVTIMEO 5 s: a wait not ended comes back */
        if (i == 0)
            assert_int_equal(send(c, "x", 1, 0), 1);
        else
            close(c);
        kick_target = pthread_self();
        atomic_store(&kick_stop, 0);
        assert_int_equal(pthread_create(&t, NULL, kick, NULL), 0);
        errno = 0;
        r = F->recv(s, buf, sizeof(buf), 0);
        e = errno;
        atomic_store(&kick_stop, 1);
        pthread_join(t, NULL);
        if (r != -1 || e != EINTR)
            print_error("plan %s: recv gave %zd, errno %d\n", plans[i], r, e);
        assert_int_equal(r, -1);
        assert_int_equal(e, EINTR);
        if (i == 0)
            done(s, c);
        else {
            F->close(s);
            tsl_fault_fini();
        }
    }
    assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
}

static void
short_writes_on_blocking_sockets_only_when_interruptible(void **state)
{
    char buf[100];
    int s, c;

    (void)state;
    memset(buf, 'z', sizeof(buf));
    arm("short=1,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    assert_int_equal(F->send(s, buf, sizeof(buf), 0), 100);
    assert_int_equal(F->send(s, buf, sizeof(buf), MSG_DONTWAIT), 1);
    done(s, c);
}

static void
peek_sees_held_bytes_first(void **state)
{
    char buf[64];
    int s, c;

    (void)state;
    arm("coalesce=1000,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    assert_int_equal(send(c, "abc", 3, 0), 3);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), 3); /* held, then */
    assert_int_equal(send(c, "def", 3, 0), 3);
    assert_int_equal(F->recv(s, buf, sizeof(buf), MSG_PEEK), 3);
    assert_memory_equal(buf, "def", 3);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), 3);
    assert_memory_equal(buf, "def", 3);
    done(s, c);
}

static void
waitall_fills_the_buffer_despite_splits(void **state)
{
    char buf[10];
    int s, c;

    (void)state;
    arm("split=1,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    assert_int_equal(send(c, "0123456789", 10, 0), 10);
    assert_int_equal(F->recv(s, buf, 10, MSG_WAITALL), 10);
    assert_memory_equal(buf, "0123456789", 10);
    assert_int_equal(send(c, "ab", 2, 0), 2);
    assert_int_equal(F->recv(s, buf, 10, 0), 1); /* split: one byte */
    done(s, c);
}

static void
untracked_descriptors_pass_through(void **state)
{
    char buf[8];
    int sp[2];

    (void)state;
    arm("coalesce=1000,eagain=100,eintr=100,seed=1", TSL_FAULT_KERNEL);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    assert_false(tsl_fault_tracked(sp[0]));
    /* MSG_DONTWAIT reaches the kernel: no data, no wait. */
    assert_int_equal(F->recv(sp[0], buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(write(sp[1], "u", 1), 1);
    assert_int_equal(F->recv(sp[0], buf, sizeof(buf), 0), 1);
    close(sp[0]);
    close(sp[1]);
    tsl_fault_fini();
}

static void
recvmsg_reports_no_address(void **state)
{
    struct sockaddr_storage from;
    char buf[16];
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr m;
    int s, c;

    (void)state;
    arm("split=2,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    memset(&m, 0, sizeof(m));
    m.msg_name = &from;
    m.msg_namelen = sizeof(from);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    assert_int_equal(send(c, "wxyz", 4, 0), 4);
    assert_int_equal(tsl_fault_recvmsg(recvmsg, s, &m, 0), 2);
    assert_int_equal(m.msg_namelen, 0);
    assert_memory_equal(buf, "wx", 2);
    done(s, c);
}

static void
side_connect_tracks_the_client_end(void **state)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int l, c, s;

    (void)state;
    arm("side=connect,split=1,seed=1", TSL_FAULT_KERNEL);
    l = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
    c = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(F->connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
    s = F->accept4(l, NULL, NULL, 0);
    assert_true(tsl_fault_tracked(c));
    assert_false(tsl_fault_tracked(s));
    assert_int_equal(tsl_fault_conns(), 1);
    F->close(c);
    close(s);
    close(l);
    tsl_fault_fini();
}

/* split=1: every receive takes one byte, also a receive with flags (the
 * engine then calls recv itself), and none of them looks like an EOF. */
static void
split_receives_with_flags_take_every_byte(void **state)
{
    struct pollfd p;
    char buf[8], got[4];
    int s, c, i;

    (void)state;
    arm("split=1,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    assert_int_equal(send(c, "wxyz", 4, 0), 4);
    p.fd = s;
    p.events = POLLIN;
    for (i = 0; i < 4; i++) {
        p.revents = 0;
        assert_int_equal(F->poll(&p, 1, 5000), 1);
        assert_int_equal(F->recv(s, buf, sizeof(buf), MSG_DONTWAIT), 1);
        got[i] = buf[0];
    }
    assert_memory_equal(got, "wxyz", 4);
    errno = 0;
    assert_int_equal(F->recv(s, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN); /* nothing left, and no EOF */
    done(s, c);
}

/* In process a short write comes on a blocking send too (tsl_fault.h),
 * where under LD_PRELOAD it would not (the test above). */
static void
in_process_short_writes_come_on_a_blocking_send(void **state)
{
    char buf[100];
    int s, c;

    (void)state;
    memset(buf, 'z', sizeof(buf));
    arm("short=1,seed=1", TSL_FAULT_INPROC);
    pair(&s, &c, 1);
    assert_int_equal(F->send(s, buf, sizeof(buf), 0), 1);
    done(s, c);
}

static void
in_process_eintr_comes_on_any_call(void **state)
{
    char buf[8];
    int s, c;

    (void)state;
    arm("eintr=100,seed=1", TSL_FAULT_INPROC);
    pair(&s, &c, 1);
    assert_int_equal(fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK), 0);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), -1);
    assert_int_equal(errno, EINTR);
    assert_int_equal(F->send(s, "q", 1, 0), -1);
    assert_int_equal(errno, EINTR);
    done(s, c);
}

/* The engine looks at a poll's first 64 entries (the most it saves);
 * those past them reach the kernel as the program gave them: a readable
 * descriptor at index 64 is reported, and its events are left as set. */
static void
poll_entries_past_64_reach_the_kernel_unchanged(void **state)
{
    struct pollfd pf[65];
    int p[2], i;

    (void)state;
    arm("coalesce=1000,seed=1", TSL_FAULT_KERNEL);
    assert_int_equal(pipe(p), 0);
    for (i = 0; i < 64; i++) {
        pf[i].fd = -1; /* ignored by poll(2) */
        pf[i].events = POLLIN;
        pf[i].revents = 0;
    }
    pf[64].fd = p[0];
    pf[64].events = POLLIN;
    pf[64].revents = 0;
    assert_int_equal(write(p[1], "r", 1), 1);
    assert_int_equal(F->poll(pf, 65, 2000), 1);
    assert_true(pf[64].revents & POLLIN);
    assert_int_equal(pf[64].events, POLLIN);
    for (i = 0; i < 64; i++)
        assert_int_equal(pf[i].revents, 0);
    close(p[0]);
    close(p[1]);
    tsl_fault_fini();
}

struct later_recv {
    int fd;
    ssize_t r;
};

static void *
later_recv_main(void *arg)
{
    struct later_recv *l = arg;
    char buf[8];

    l->r = F->recv(l->fd, buf, sizeof(buf), MSG_DONTWAIT);
    return NULL;
}

/* A reset that comes behind held bytes: the bytes first, then the
 * reset's error once, and the engine goes on serving calls after it (a
 * further receive returns, within a deadline, on another thread). */
static void
a_reset_behind_held_bytes_comes_after_them(void **state)
{
    struct linger lg = {1, 0};
    struct later_recv l = {.r = 0};
    struct timespec dl;
    char buf[64];
    pthread_t t;
    ssize_t r;
    int s, c;

    (void)state;
    arm("coalesce=1000,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    assert_int_equal(send(c, "abc", 3, 0), 3);
    assert_int_equal(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)),
                     0);
    close(c); /* a reset */
    r = F->recv(s, buf, sizeof(buf), 0);
    if (r > 0) {
        assert_int_equal(r, 3);
        assert_memory_equal(buf, "abc", 3);
        r = F->recv(s, buf, sizeof(buf), 0);
    }
    assert_int_equal(r, -1);
    assert_int_equal(errno, ECONNRESET);
    l.fd = s;
    assert_int_equal(pthread_create(&t, NULL, later_recv_main, &l), 0);
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    /* Not ended within 5 s: the engine is stuck (its lock still held). */
    assert_int_equal(pthread_timedjoin_np(t, NULL, &dl), 0);
    assert_true(l.r <= 0);
    F->close(s);
    tsl_fault_fini();
}

/* The real table with its select and poll counted. */
static struct tsl_sys_ops counted;
static atomic_int real_selects, real_polls;

static int
count_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    atomic_fetch_add(&real_selects, 1);
    return tsl__sys_libc.select(n, r, w, e, t);
}

static atomic_int real_poll_max_ms = -1; /* the longest timeout given */

static int
count_poll(struct pollfd *pf, nfds_t n, int timeout)
{
    atomic_fetch_add(&real_polls, 1);
    if (timeout < 0 || timeout > atomic_load(&real_poll_max_ms))
        atomic_store(&real_poll_max_ms, timeout < 0 ? INT32_MAX : timeout);
    return tsl__sys_libc.poll(pf, n, timeout);
}

/* A lost FIN that a select or poll finds is hidden there and from then
 * on: the rest of that wait sleeps in the kernel (a call or two), rather
 * than finding the EOF readable again at once, turn after turn. */
static void
a_lost_fin_found_by_a_wait_is_slept_out(void **state)
{
    struct timeval tv = {0, 300 * 1000};
    struct pollfd p;
    char err[200];
    fd_set rs;
    int s, c;

    (void)state;
    counted = tsl__sys_libc;
    counted.select = count_select;
    counted.poll = count_poll;
    assert_int_equal(tsl_fault_init("fin_loss,seed=1", &counted,
                                    TSL_FAULT_KERNEL, err, sizeof(err)),
                     0);
    F = tsl_fault_ops();
    pair(&s, &c, 1);
    close(c);
    atomic_store(&real_selects, 0);
    FD_ZERO(&rs);
    FD_SET(s, &rs);
    assert_int_equal(F->select(s + 1, &rs, NULL, NULL, &tv), 0);
    assert_true(atomic_load(&real_selects) <= 3);
    p.fd = s;
    p.events = POLLIN;
    atomic_store(&real_polls, 0);
    assert_int_equal(F->poll(&p, 1, 300), 0);
    assert_true(atomic_load(&real_polls) <= 3);
    F->close(s);
    tsl_fault_fini();
}

/* A poll that must not wait (timeout 0) on a socket whose bytes are held
 * does not: it reports nothing yet, and the kernel is asked with no wait
 * either, not until the bytes come due. */
static void
a_zero_timeout_poll_does_not_wait_for_held_bytes(void **state)
{
    struct pollfd p;
    char err[200], buf[8];
    int s, c;

    (void)state;
    counted = tsl__sys_libc;
    counted.select = count_select;
    counted.poll = count_poll;
    assert_int_equal(tsl_fault_init("coalesce=1000,seed=1", &counted,
                                    TSL_FAULT_KERNEL, err, sizeof(err)),
                     0);
    F = tsl_fault_ops();
    pair(&s, &c, 1);
    assert_int_equal(send(c, "held", 4, 0), 4);
    /* A first receive that does not wait takes the bytes into the hold. */
    assert_int_equal(F->recv(s, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    p.fd = s;
    p.events = POLLIN;
    atomic_store(&real_poll_max_ms, -1);
    assert_int_equal(F->poll(&p, 1, 0), 0);
    assert_int_equal(atomic_load(&real_poll_max_ms), 0);
    done(s, c);
}

/* The engine's counter `name` (tsl_fault_stats), which only ever grows. */
static unsigned long long
stat_of(const char *name)
{
    char line[512], key[32];
    const char *at;

    assert_true(tsl_fault_stats(line, sizeof(line)) < (int)sizeof(line));
    snprintf(key, sizeof(key), "%s=", name);
    for (at = line; (at = strstr(at, key)) != NULL; at++)
        if (at == line || at[-1] == ' ')
            return strtoull(at + strlen(key), NULL, 10);
    fail_msg("no %s in \"%s\"", name, line);
    return 0;
}

/* A receive that meets held bytes counts once as held and, since it
 * blocks, once as waited, however many times it waits (the counters
 * LD_PRELOAD prints at exit: a teacher reads them to see a fault was
 * really injected). */
static void
a_held_receive_is_counted_once(void **state)
{
    unsigned long long held, waited;
    char buf[64];
    int s, c;

    (void)state;
    arm("coalesce=1000,seed=1", TSL_FAULT_KERNEL);
    held = stat_of("held");
    waited = stat_of("waited");
    pair(&s, &c, 1);
    assert_int_equal(send(c, "hello", 5, 0), 5);
    assert_int_equal(F->recv(s, buf, sizeof(buf), 0), 5);
    assert_int_equal(stat_of("held") - held, 1);
    assert_int_equal(stat_of("waited") - waited, 1);
    done(s, c);
}

/* Only TCP sockets are connections: an AF_UNIX stream accepted through
 * the engine is not tracked, and its bytes are not held. */
static void
a_unix_socket_accepted_is_not_a_connection(void **state)
{
    struct sockaddr_un sa;
    char path[64], buf[8];
    int l, cli, srv;

    (void)state;
    arm("coalesce=1000,seed=1", TSL_FAULT_KERNEL);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(path, sizeof(path), "/tmp/tsl-fault-unix.%d", (int)getpid());
    unlink(path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    l = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(l, 1), 0);
    cli = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(connect(cli, (struct sockaddr *)&sa, sizeof(sa)), 0);
    srv = F->accept4(l, NULL, NULL, 0);
    assert_true(srv >= 0);
    unlink(path);
    close(l);
    assert_false(tsl_fault_tracked(srv));
    set_timeout(srv, SO_RCVTIMEO, 5000);
    assert_int_equal(write(cli, "u", 1), 1);
    assert_int_equal(F->recv(srv, buf, sizeof(buf), MSG_DONTWAIT), 1);
    F->close(srv);
    close(cli);
    tsl_fault_fini();
}

/* An epoll instance, through the engine, watching fd for input with
 * `data` as its registration. */
static int
epoll_on(int fd, uint64_t data)
{
    struct epoll_event ev;
    int ep = F->epoll_create1(0);

    assert_true(ep >= 0);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u64 = data;
    assert_int_equal(F->epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
    return ep;
}

/* epoll through the engine: a tracked socket with bytes the plan does
 * not hold is reported at once, with the data it was registered with. */
static void
epoll_reports_a_ready_connection(void **state)
{
    struct epoll_event out[4];
    int s, c, ep;

    (void)state;
    arm("split=2,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    ep = epoll_on(s, 0x5eed);
    assert_int_equal(F->epoll_wait(ep, out, 4, 0), 0);
    assert_int_equal(send(c, "ab", 2, 0), 2);
    /* 5 s is a guard only: the byte is in the kernel already. */
    assert_int_equal(F->epoll_wait(ep, out, 4, 5000), 1);
    assert_true(out[0].events & EPOLLIN);
    assert_int_equal(out[0].data.u64, 0x5eed);
    close(ep);
    done(s, c);
}

/* As select_returns_when_held_bytes_come_due, through epoll: a wait with
 * a long timeout ends when the held bytes come due. */
static void
epoll_returns_when_held_bytes_come_due(void **state)
{
    struct epoll_event out[4];
    char buf[64];
    int64_t t0;
    int s, c, ep;

    (void)state;
    arm("coalesce=1000,seed=1", TSL_FAULT_KERNEL);
    pair(&s, &c, 1);
    ep = epoll_on(s, 7);
    hold_abc(s, c);
    t0 = now_ms();
    assert_int_equal(F->epoll_wait(ep, out, 4, 10000), 1);
    assert_int_equal(out[0].data.u64, 7);
    /* The hold is far shorter than half the timeout, on any machine. */
    assert_true(now_ms() - t0 < 5000);
    assert_int_equal(F->recv(s, buf, sizeof(buf), MSG_DONTWAIT), 3);
    close(ep);
    done(s, c);
}

/* Descriptors past the engine's table (4096 of them) are not
 * connections: epoll through the engine passes them to the kernel
 * unchanged, at the table's end and past it. */
static void
descriptors_past_the_table_pass_through(void **state)
{
    struct epoll_event ev, out[4];
    struct rlimit rl, old;
    int sp[2], ep, fd, i;

    (void)state;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    if (rl.rlim_cur < 4098 && rl.rlim_max >= 4098)
        rl.rlim_cur = 4098;
    if (rl.rlim_cur < 4098 || setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        print_message("skipped: RLIMIT_NOFILE %llu, 4098 needed\n",
                      (unsigned long long)old.rlim_max);
        return;
    }
    arm("split=2,seed=1", TSL_FAULT_KERNEL);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    ep = F->epoll_create1(0);
    assert_true(ep >= 0);
    for (i = 0; i < 2; i++) {
        fd = dup2(sp[0], 4096 + i);
        assert_int_equal(fd, 4096 + i);
        assert_false(tsl_fault_tracked(fd));
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.u64 = (uint64_t)fd;
        assert_int_equal(F->epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
    }
    assert_int_equal(write(sp[1], "x", 1), 1);
    assert_int_equal(F->epoll_wait(ep, out, 4, 5000), 2);
    assert_true(out[0].data.u64 >= 4096 && out[1].data.u64 >= 4096);
    for (i = 0; i < 2; i++) {
        assert_int_equal(F->epoll_ctl(ep, EPOLL_CTL_DEL, 4096 + i, NULL), 0);
        close(4096 + i);
    }
    close(ep);
    close(sp[0]);
    close(sp[1]);
    tsl_fault_fini();
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

/* The Nth call of a `fail=N` plan is the Nth of the whole process: calls
 * made from several threads at once are each counted. */
#define CALLERS 4
#define CALLS 500

static void *
call_listen(void *arg)
{
    int i;

    (void)arg;
    for (i = 0; i < CALLS; i++)
        (void)F->listen(-1, 1); /* counted; the kernel says EBADF */
    return NULL;
}

static void
calls_from_many_threads_are_each_counted(void **state)
{
    pthread_t t[CALLERS];
    char plan[64];
    int i;

    (void)state;
    snprintf(plan, sizeof(plan), "fail=%d,seed=1", CALLERS * CALLS + 1);
    arm(plan, TSL_FAULT_INPROC);
    for (i = 0; i < CALLERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, call_listen, NULL), 0);
    for (i = 0; i < CALLERS; i++)
        pthread_join(t[i], NULL);
    errno = 0;
    assert_int_equal(F->listen(-1, 1), -1);
    assert_int_not_equal(errno, EBADF); /* the plan's failure, not the kernel's */
    errno = 0;
    assert_int_equal(F->listen(-1, 1), -1);
    assert_int_equal(errno, EBADF); /* only that one call */
    tsl_fault_fini();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocking_coalesce_waits_then_returns_data),
        cmocka_unit_test(dontwait_on_a_blocking_socket_sees_the_hold),
        cmocka_unit_test(select_returns_when_held_bytes_come_due),
        cmocka_unit_test(nonblocking_socket_still_gets_eagain),
        cmocka_unit_test(blocking_delay_waits_its_time),
        cmocka_unit_test(delayed_bytes_go_out_in_their_own_time),
        cmocka_unit_test(lost_fin_blocks_until_rcvtimeo),
        cmocka_unit_test(lost_fin_is_hidden_from_a_select_before_the_read),
        cmocka_unit_test(eintr_only_where_a_signal_could_interrupt),
        cmocka_unit_test(waits_get_eintr_only_where_a_signal_could_interrupt),
        cmocka_unit_test(
            short_writes_on_blocking_sockets_only_when_interruptible),
        cmocka_unit_test(peek_sees_held_bytes_first),
        cmocka_unit_test(waitall_fills_the_buffer_despite_splits),
        cmocka_unit_test(untracked_descriptors_pass_through),
        cmocka_unit_test(recvmsg_reports_no_address),
        cmocka_unit_test(side_connect_tracks_the_client_end),
        cmocka_unit_test(a_signal_ends_the_engines_own_waits_with_eintr),
        cmocka_unit_test(split_receives_with_flags_take_every_byte),
        cmocka_unit_test(in_process_short_writes_come_on_a_blocking_send),
        cmocka_unit_test(in_process_eintr_comes_on_any_call),
        cmocka_unit_test(poll_entries_past_64_reach_the_kernel_unchanged),
        cmocka_unit_test(a_lost_fin_found_by_a_wait_is_slept_out),
        cmocka_unit_test(a_reset_behind_held_bytes_comes_after_them),
        cmocka_unit_test(a_zero_timeout_poll_does_not_wait_for_held_bytes),
        cmocka_unit_test(a_held_receive_is_counted_once),
        cmocka_unit_test(a_unix_socket_accepted_is_not_a_connection),
        cmocka_unit_test(epoll_reports_a_ready_connection),
        cmocka_unit_test(epoll_returns_when_held_bytes_come_due),
        cmocka_unit_test(descriptors_past_the_table_pass_through),
        cmocka_unit_test(calls_from_many_threads_are_each_counted),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

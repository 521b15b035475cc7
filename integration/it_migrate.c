/*
 * it_migrate.c - multi-threaded clients and live migration over real
 * sockets: threads are joined on disconnect and stop; a client streaming
 * seeded random frames at full speed is migrated back and forth 1000
 * times with every echoed byte checked; 100 clients migrate at once; a
 * half-received message completes in its new home; migration races with
 * the client's close, a forced close, keepalive expiry and stop.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"
#include "tsl_sys.h"

/* The library's threads in this process (they are named tsl-*). */
static int
thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    char path[300], name[32];
    int n = 0;

    IT_CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        f = fopen(path, "r");
        if (f == NULL)
            continue; /* ended meanwhile */
        if (fgets(name, sizeof(name), f) != NULL &&
            strncmp(name, "tsl-", 4) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* The server's own threads: the receiver, and on select the acceptor
 * (on epoll the receiver accepts). */
static int
server_threads(struct it_server *s)
{
    return tsl_server_backend(s->srv) == TSL_BACKEND_EPOLL ? 1 : 2;
}

static tsl_client_t *
client_id(struct it_server *s, uint64_t id)
{
    tsl_client_t *c = NULL;

    IT_WAIT(s, (c = tsl_server_find_client(s->srv, id)) != NULL, 2000);
    return c;
}

/* Waits until the client's migration count reaches n. */
static void
wait_migrations(struct it_server *s, tsl_client_t *c, uint32_t n, int mode)
{
    tsl_client_stats_t st;

    IT_WAIT(s, (tsl_client_stats(c, &st), st.migrations >= n &&
                                              st.threaded == mode),
            3000);
}

static void
threaded_mode_serves_and_joins(void)
{
    enum { N = 20 };
    struct it_server s;
    tsl_client_stats_t st;
    tsl_client_t *c;
    int base = thread_count(), fd[N], i;

    it_server_create(&s, "threaded", "variable", IT_ECHO);
    IT_EQ(tsl_server_set_flags(s.srv, TSL_SERVER_MULTI_THREADED), 0);
    IT_EQ(tsl_server_start(s.srv), 0);
    s.port = tsl_server_port(s.srv);
    for (i = 0; i < N; i++) {
        fd[i] = it_connect(s.port);
        it_echo_once(fd[i], "threaded hello");
    }
    IT_EQ(thread_count(), base + server_threads(&s) + N);
    c = client_id(&s, 1);
    tsl_client_stats(c, &st);
    IT_EQ(st.threaded, 1);
    /* A forced close wakes the client's thread at once; it ends. */
    IT_EQ(tsl_client_disconnect(c), 0);
    tsl_client_unref(c);
    IT_CHECK(it_wait_closed(fd[0], 2000));
    /* A peer close ends another. */
    it_close(fd[1]);
    IT_WAIT(&s, s.disconnected == 2, 2000);
    /* Ended threads are joined when the next one is made, or at stop. */
    IT_EQ(tsl_server_clear_flags(s.srv, TSL_SERVER_MULTI_THREADED), 0);
    it_echo_once(fd[2], "still threaded");
    IT_EQ(tsl_server_stop(s.srv), 0);
    IT_EQ(thread_count(), base);
    IT_EQ(s.by_reason[TSL_REASON_SHUTDOWN], N - 2);
    for (i = 0; i < N; i++)
        it_close(fd[i]);
    it_server_finish(&s);
}

/* Open descriptors of this process. */
static int
fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    IT_CHECK(d != NULL);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* A finished client's thread, pipe and buffers go at once, not at the
 * next connection or the stop. */
static void
finished_threads_are_reaped_promptly(void)
{
    enum { N = 30 };
    struct it_server s;
    int base_t = thread_count(), base_fd, i, fd;
    int64_t dl;

    it_server_create(&s, "reap", "variable", IT_ECHO);
    IT_EQ(tsl_server_set_flags(s.srv, TSL_SERVER_MULTI_THREADED), 0);
    IT_EQ(tsl_server_start(s.srv), 0);
    s.port = tsl_server_port(s.srv);
    base_t += server_threads(&s);
    base_fd = fd_count();
    for (i = 0; i < N; i++) {
        fd = it_connect(s.port);
        it_echo_once(fd, "reap me");
        it_close(fd);
        IT_WAIT(&s, s.disconnected == i + 1, 2000);
    }
    /* No new connection from here: the threads must still go. */
    dl = it_now_ms() + 5000 * it_scale();
    while ((thread_count() != base_t || fd_count() != base_fd) &&
           it_now_ms() < dl)
        sched_yield();
    IT_EQ(thread_count(), base_t);
    IT_EQ(fd_count(), base_fd);
    it_server_finish(&s);
}

/* Out of descriptors for a new client's thread (its wakeup pipe) is a
 * fd-exhausted rejection, not no-memory. */
static struct tsl_sys_ops nopipe;
static atomic_bool pipes_out; /* from now on pipe2() fails with EMFILE */

static int
emfile_pipe2(int fds[2], int flags)
{
    if (!atomic_load(&pipes_out))
        return tsl__sys_libc.pipe2(fds, flags);
    errno = EMFILE;
    return -1;
}

static void
thread_pipe_exhaustion_is_fd_exhausted(void)
{
    struct it_server s;
    int fd;

    /* The table is swapped only while no server runs; the fault is armed
     * once the server's own pipes exist. */
    nopipe = tsl__sys_libc;
    nopipe.pipe2 = emfile_pipe2;
    tsl__sys_set(&nopipe);
    it_server_create(&s, "nopipe", "variable", IT_ECHO);
    IT_EQ(tsl_server_set_flags(s.srv, TSL_SERVER_MULTI_THREADED), 0);
    IT_EQ(tsl_server_start(s.srv), 0);
    s.port = tsl_server_port(s.srv);
    atomic_store(&pipes_out, true);
    fd = it_connect(s.port);
    IT_CHECK(it_wait_closed(fd, 2000 * it_scale()));
    IT_WAIT(&s, s.rejected == 1, 2000);
    IT_EQ(s.by_reject[TSL_REJECT_FD_EXHAUSTED], 1);
    IT_EQ(s.by_reject[TSL_REJECT_NO_MEMORY], 0);
    atomic_store(&pipes_out, false);
    it_close(fd);
    fd = it_connect(s.port); /* and the next one is served */
    it_echo_once(fd, "after");
    it_close(fd);
    it_server_finish(&s);
    tsl__sys_set(NULL);
}

/* ---- a verified stream: frame i is a function of (seed, i) ---- */

static size_t
make_frame(uint64_t seed, uint32_t i, uint8_t *out)
{
    uint64_t x = seed ^ (0x9e3779b97f4a7c15ull * (i + 1));
    size_t n, k;

    x ^= x >> 31;
    n = 4 + (size_t)(x % 300);
    for (k = 0; k < 4; k++)
        out[2 + k] = (uint8_t)(i >> (8 * k));
    for (k = 4; k < n; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        out[2 + k] = (uint8_t)(x >> 56);
    }
    out[0] = (uint8_t)((n + 2) & 0xff);
    out[1] = (uint8_t)((n + 2) >> 8);
    return n + 2;
}

struct stream {
    int fd;
    uint64_t seed;
    uint32_t cap;          /* at most this many frames */
    atomic_bool stop;      /* the writer ends its stream */
    atomic_bool writer_done;
    atomic_uint sent, checked;
    atomic_int failed;
};

/* Sends frames until told to stop, in batches of up to 16 KiB. */
static void *
writer_main(void *arg)
{
    struct stream *st = arg;
    uint8_t buf[16384];
    size_t used = 0;
    uint32_t i;

    for (i = 0; i < st->cap && !atomic_load(&st->stop); i++) {
        uint8_t fr[400];
        size_t n = make_frame(st->seed, i, fr);
        if (used + n > sizeof(buf)) {
            if (send(st->fd, buf, used, MSG_NOSIGNAL) != (ssize_t)used) {
                atomic_store(&st->failed, 1);
                break;
            }
            used = 0;
        }
        memcpy(buf + used, fr, n);
        used += n;
        atomic_store(&st->sent, i + 1);
    }
    if (used > 0 && send(st->fd, buf, used, MSG_NOSIGNAL) != (ssize_t)used)
        atomic_store(&st->failed, 1);
    atomic_store(&st->writer_done, true);
    return NULL;
}

/* Checks every echoed frame against the one that was sent. */
static void *
reader_main(void *arg)
{
    struct stream *st = arg;
    uint8_t want[400], got[400];
    uint32_t i;

    for (i = 0;; i++) {
        size_t n, have = 0;
        while (i >= atomic_load(&st->sent)) {
            if (atomic_load(&st->writer_done) && i >= atomic_load(&st->sent))
                return NULL;
            if (atomic_load(&st->failed))
                return NULL;
            sched_yield();
        }
        n = make_frame(st->seed, i, want);
        while (have < n) {
            ssize_t r = recv(st->fd, got + have, n - have, 0);
            if (r <= 0) {
                atomic_store(&st->failed, 2);
                return NULL;
            }
            have += (size_t)r;
        }
        if (memcmp(got, want, n) != 0) {
            atomic_store(&st->failed, 3);
            return NULL;
        }
        atomic_store(&st->checked, i + 1);
    }
}

static void
migrate_back_and_forth_while_streaming(void)
{
    enum { MOVES = 1000 };
    struct it_server s;
    struct stream st;
    tsl_client_stats_t cs;
    pthread_t w, r;
    tsl_client_t *c;
    uint32_t m;

    it_server_start(&s, "stream", "variable", IT_ECHO);
    memset(&st, 0, sizeof(st));
    st.fd = it_connect(s.port);
    st.seed = it_seed;
    st.cap = 50u * 1000 * 1000;
    c = client_id(&s, 1);
    IT_EQ(pthread_create(&w, NULL, writer_main, &st), 0);
    IT_EQ(pthread_create(&r, NULL, reader_main, &st), 0);
    for (m = 1; m <= MOVES && !atomic_load(&st.failed); m++) {
        tsl_client_mode_t to = m % 2 ? TSL_CLIENT_THREADED
                                     : TSL_CLIENT_MULTIPLEXED;
        int rc;
        while ((rc = tsl_server_migrate_client(s.srv, c, to)) == TSL_EAGAIN)
            ;
        IT_EQ(rc, 0);
        wait_migrations(&s, c, m, (int)to);
        if (atomic_load(&st.writer_done))
            IT_FAIL("the stream ended before migration %u", m);
    }
    atomic_store(&st.stop, true);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    if (atomic_load(&st.failed))
        IT_FAIL("stream broke (%d) after %u frames checked",
                atomic_load(&st.failed), atomic_load(&st.checked));
    IT_EQ(atomic_load(&st.checked), atomic_load(&st.sent));
    tsl_client_stats(c, &cs);
    IT_EQ(cs.migrations, MOVES);
    IT_EQ(cs.msgs_in, atomic_load(&st.sent));
    IT_EQ(cs.msgs_out, atomic_load(&st.sent));
    printf("%u frames echoed and checked across %d migrations\n",
           atomic_load(&st.checked), MOVES);
    tsl_client_unref(c);
    it_close(st.fd);
    it_server_finish(&s);
}

/* Several application threads migrate the same clients at once, while
 * another changes settings (max clients, keepalive, black-list, the
 * accepting flag) and four streams run: every byte comes back in order,
 * every client stays until its peer leaves.  Under TSan a missing lock on
 * either path is a report; in the plain build, a lost or doubled
 * hand-off is a broken stream or a wrong count. */
enum { CM_CLIENTS = 4, CM_MOVERS = 3, CM_OPS = 200 };

struct cm_shared {
    struct it_server *s;
    tsl_client_t *c[CM_CLIENTS];
    uint64_t seed;
    atomic_int moves;
};

static void *
mover_main(void *arg)
{
    struct cm_shared *sh = arg;
    uint64_t st = sh->seed;
    int i, rc;

    for (i = 0; i < CM_OPS; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        rc = tsl_server_migrate_client(sh->s->srv, sh->c[(st >> 33) % CM_CLIENTS],
                                       (tsl_client_mode_t)((st >> 40) % 2));
        if (rc == 0)
            atomic_fetch_add(&sh->moves, 1);
        else if (rc != TSL_EAGAIN)
            IT_FAIL("migrate: %s", tsl_strerror(rc));
        sched_yield();
    }
    return NULL;
}

static void *
setter_main(void *arg)
{
    struct cm_shared *sh = arg;
    tsl_server_t *srv = sh->s->srv;
    int i;

    for (i = 0; i < CM_OPS; i++) {
        IT_EQ(tsl_server_set_max_clients(srv, i % 2 ? 0 : 100), 0);
        IT_EQ(tsl_server_set_keepalive(srv, i % 2 ? 0 : 60000), 0);
        IT_EQ(tsl_client_set_keepalive(sh->c[i % CM_CLIENTS],
                                       i % 3 ? -1 : 60000),
              0);
        IT_EQ(tsl_server_blacklist_add(srv, "127.0.0.9"), 0);
        IT_EQ(tsl_server_blacklist_remove(srv, "127.0.0.9"), 0);
        IT_EQ(tsl_server_set_flags(srv, TSL_SERVER_NOT_ACCEPTING), 0);
        IT_EQ(tsl_server_clear_flags(srv, TSL_SERVER_NOT_ACCEPTING), 0);
        sched_yield();
    }
    return NULL;
}

static void
migrations_and_setters_from_several_threads(void)
{
    struct it_server s;
    struct stream st[CM_CLIENTS];
    struct cm_shared sh;
    pthread_t w[CM_CLIENTS], r[CM_CLIENTS], mv[CM_MOVERS], set;
    tsl_client_stats_t cs;
    struct cm_shared per[CM_MOVERS];
    int i;

    it_server_start(&s, "concurrent", "variable", IT_ECHO);
    memset(&sh, 0, sizeof(sh));
    sh.s = &s;
    for (i = 0; i < CM_CLIENTS; i++) {
        memset(&st[i], 0, sizeof(st[i]));
        st[i].fd = it_connect(s.port);
        st[i].seed = it_seed * 31 + (uint64_t)i;
        st[i].cap = 50u * 1000 * 1000;
        sh.c[i] = client_id(&s, (uint64_t)i + 1);
        IT_EQ(pthread_create(&w[i], NULL, writer_main, &st[i]), 0);
        IT_EQ(pthread_create(&r[i], NULL, reader_main, &st[i]), 0);
    }
    for (i = 0; i < CM_MOVERS; i++) {
        per[i] = sh;
        per[i].seed = it_seed * 7919 + (uint64_t)i;
        atomic_init(&per[i].moves, 0);
        IT_EQ(pthread_create(&mv[i], NULL, mover_main, &per[i]), 0);
    }
    IT_EQ(pthread_create(&set, NULL, setter_main, &sh), 0);
    for (i = 0; i < CM_MOVERS; i++)
        pthread_join(mv[i], NULL);
    pthread_join(set, NULL);
    for (i = 0; i < CM_CLIENTS; i++) {
        atomic_store(&st[i].stop, true);
        pthread_join(w[i], NULL);
        pthread_join(r[i], NULL);
        if (atomic_load(&st[i].failed))
            IT_FAIL("stream %d broke (%d) after %u frames checked", i,
                    atomic_load(&st[i].failed), atomic_load(&st[i].checked));
        IT_EQ(atomic_load(&st[i].checked), atomic_load(&st[i].sent));
        tsl_client_stats(sh.c[i], &cs);
        IT_EQ(cs.msgs_in, atomic_load(&st[i].sent));
    }
    IT_EQ(s.disconnected, 0);
    for (i = 0; i < CM_MOVERS; i++)
        sh.moves += atomic_load(&per[i].moves);
    IT_CHECK(atomic_load(&sh.moves) > 0);
    printf("%d migrations from %d threads while settings changed\n",
           atomic_load(&sh.moves), CM_MOVERS);
    for (i = 0; i < CM_CLIENTS; i++) {
        tsl_client_unref(sh.c[i]);
        it_close(st[i].fd);
    }
    IT_WAIT(&s, s.disconnected == CM_CLIENTS, 5000);
    IT_EQ(s.by_reason[TSL_REASON_PEER_CLOSED], CM_CLIENTS);
    it_server_finish(&s);
}

static uint64_t
bytes_in(tsl_client_t *c)
{
    tsl_client_stats_t st;

    tsl_client_stats(c, &st);
    return st.bytes_in;
}

static void
half_message_completes_after_migration(void)
{
    struct it_server s;
    tsl_client_t *c;
    uint8_t out[64], in[64];
    size_t n;
    int fd;

    it_server_start(&s, "half", "variable", IT_ECHO);
    fd = it_connect(s.port);
    c = client_id(&s, 1);
    n = it_frame("split across two homes", 22, out);
    it_send_all(fd, out, 7);
    IT_WAIT(&s, bytes_in(c) == 7, 2000);
    IT_EQ(tsl_server_migrate_client(s.srv, c, TSL_CLIENT_THREADED), 0);
    wait_migrations(&s, c, 1, 1);
    it_send_all(fd, out + 7, n - 7);
    it_recv_exact(fd, in, n);
    IT_CHECK(memcmp(in, out, n) == 0);
    IT_EQ(s.messages, 1);
    /* And back, with another half. */
    it_send_all(fd, out, 3);
    IT_EQ(tsl_server_migrate_client(s.srv, c, TSL_CLIENT_MULTIPLEXED), 0);
    wait_migrations(&s, c, 2, 0);
    it_send_all(fd, out + 3, n - 3);
    it_recv_exact(fd, in, n);
    IT_CHECK(memcmp(in, out, n) == 0);
    IT_EQ(tsl_server_migrate_client(s.srv, c, TSL_CLIENT_MULTIPLEXED), 0);
    tsl_client_unref(c);
    it_close(fd);
    it_server_finish(&s);
}

/* A migration asked for from the message callback stops delivery of the
 * rest of the batch; those frames travel in the ring and must be
 * delivered by the new home at once, not when more bytes arrive (the
 * peer is waiting for their replies). */
static void
frames_left_in_the_ring_are_delivered_after_migration(void)
{
    struct it_server s;
    uint8_t out[256], in[256];
    size_t n = 0, i;
    int fd, round;

    it_server_start(&s, "ring", "variable", IT_ECHO_MIGRATE);
    fd = it_connect(s.port);
    for (round = 0; round < 20; round++) {
        n = 0;
        for (i = 0; i < 5; i++)
            n += it_frame("five frames in one write", 24, out + n);
        it_send_all(fd, out, n); /* nothing more is sent until the echo */
        it_recv_exact(fd, in, n);
        IT_CHECK(memcmp(in, out, n) == 0);
    }
    IT_EQ(s.messages, 100);
    it_close(fd);
    it_server_finish(&s);
}

static void
many_clients_migrate_at_once(void)
{
    enum { N = 100 };
    struct it_server s;
    tsl_client_t *c[N];
    int fd[N], i, round, base = thread_count();

    it_server_start(&s, "herd", "variable", IT_ECHO);
    for (i = 0; i < N; i++) {
        fd[i] = it_connect(s.port);
        c[i] = client_id(&s, (uint64_t)i + 1);
    }
    for (round = 1; round <= 4; round++) {
        int mode = round % 2;
        for (i = 0; i < N; i++) {
            int rc;
            while ((rc = tsl_server_migrate_client(
                        s.srv, c[i], (tsl_client_mode_t)mode)) == TSL_EAGAIN)
                ;
            IT_EQ(rc, 0);
        }
        for (i = 0; i < N; i++) {
            wait_migrations(&s, c[i], (uint32_t)round, mode);
            it_echo_once(fd[i], mode ? "on my own thread" : "back in the loop");
        }
        if (mode)
            IT_EQ(thread_count(), base + server_threads(&s) + N);
    }
    for (i = 0; i < N; i++) {
        tsl_client_unref(c[i]);
        it_close(fd[i]);
    }
    IT_WAIT(&s, s.disconnected == N, 5000);
    it_server_finish(&s);
    IT_EQ(thread_count(), base);
}

/* Migration racing with everything that can end a client: exactly one
 * disconnected callback each (checked by the test server), nothing freed
 * twice (the sanitizer and Valgrind runs). */
static void
migration_races(void)
{
    enum { ROUNDS = 60 };
    uint64_t st = it_seed * 7919 + 1;
    struct it_server s;
    int i;

    it_server_create(&s, "races", "variable", IT_ECHO);
    IT_EQ(tsl_server_set_timer_tick(s.srv, 5), 0);
    IT_EQ(tsl_server_start(s.srv), 0);
    s.port = tsl_server_port(s.srv);
    for (i = 0; i < ROUNDS; i++) {
        int fd = it_connect(s.port), k, rc;
        tsl_client_t *c = client_id(&s, (uint64_t)i + 1);
        st = st * 6364136223846793005ull + 1;
        switch ((st >> 33) % 4) {
        case 0: /* the client closes while migrating */
            tsl_server_migrate_client(s.srv, c, TSL_CLIENT_THREADED);
            it_close(fd);
            fd = -1;
            break;
        case 1: /* a forced close while migrating */
            tsl_server_migrate_client(s.srv, c, TSL_CLIENT_THREADED);
            tsl_client_disconnect(c);
            break;
        case 2: /* keepalive expiry while migrating back and forth */
            tsl_client_set_keepalive(c, 10);
            for (k = 0; k < 20; k++) {
                rc = tsl_server_migrate_client(
                    s.srv, c, (tsl_client_mode_t)(k % 2));
                if (rc == TSL_ENOTCONN)
                    break;
            }
            break;
        default: /* reset while migrating */
            tsl_server_migrate_client(s.srv, c, TSL_CLIENT_THREADED);
            it_reset(fd);
            fd = -1;
            break;
        }
        IT_WAIT(&s, s.disconnected == i + 1, 3000);
        tsl_client_unref(c);
        if (fd >= 0)
            it_close(fd);
    }
    it_server_finish(&s);
}

static void
stop_while_migrating(void)
{
    enum { N = 30 };
    struct it_server s;
    tsl_client_t *c[N];
    int fd[N], i, base = thread_count();

    it_server_start(&s, "stopmig", "variable", IT_ECHO);
    for (i = 0; i < N; i++) {
        fd[i] = it_connect(s.port);
        c[i] = client_id(&s, (uint64_t)i + 1);
    }
    for (i = 0; i < N; i++)
        tsl_server_migrate_client(s.srv, c[i], TSL_CLIENT_THREADED);
    IT_EQ(tsl_server_stop(s.srv), 0);
    IT_EQ(s.disconnected, N);
    IT_EQ(thread_count(), base);
    for (i = 0; i < N; i++) {
        int rc = tsl_server_migrate_client(s.srv, c[i], TSL_CLIENT_THREADED);
        IT_CHECK(rc == TSL_ESHUTDOWN || rc == TSL_ENOTCONN);
        IT_EQ(tsl_server_migrate_client(s.srv, c[i], TSL_CLIENT_MULTIPLEXED),
              TSL_ENOTCONN);
        tsl_client_unref(c[i]);
        it_close(fd[i]);
    }
    it_server_finish(&s);
}

/* A move to a thread asked and then cut short by a close in the same
 * callback: the close is carried out, the move never is, and the thread
 * made for it is let go at once, not kept waiting for the stop. */
static void
a_move_cut_short_by_a_close_lets_its_thread_go(void)
{
    enum { N = 3 };
    struct it_server s;
    int base_t = thread_count(), i, fd;
    uint8_t out[16];
    int64_t dl;

    it_server_start(&s, "cutshort", "variable", IT_MIGRATE_DISCONNECT);
    base_t += server_threads(&s);
    for (i = 0; i < N; i++) {
        fd = it_connect(s.port);
        it_send_all(fd, out, it_frame("move", 4, out));
        IT_CHECK(it_wait_closed(fd, 2000));
        it_close(fd);
        IT_WAIT(&s, s.disconnected == i + 1, 2000);
        dl = it_now_ms() + 5000 * it_scale();
        while (thread_count() != base_t && it_now_ms() < dl)
            sched_yield();
        IT_EQ(thread_count(), base_t);
    }
    IT_EQ(s.by_reason[TSL_REASON_FORCED], N);
    it_server_finish(&s);
}

int
main(int argc, char **argv)
{
    static const struct it_case_def cases[] = {
        {"threaded_mode_serves_and_joins", threaded_mode_serves_and_joins},
        {"finished_threads_are_reaped_promptly",
         finished_threads_are_reaped_promptly},
        {"a_move_cut_short_by_a_close_lets_its_thread_go",
         a_move_cut_short_by_a_close_lets_its_thread_go},
        {"thread_pipe_exhaustion_is_fd_exhausted",
         thread_pipe_exhaustion_is_fd_exhausted},
        {"migrate_back_and_forth_while_streaming",
         migrate_back_and_forth_while_streaming},
        {"half_message_completes_after_migration",
         half_message_completes_after_migration},
        {"many_clients_migrate_at_once", many_clients_migrate_at_once},
        {"frames_left_in_the_ring_are_delivered_after_migration",
         frames_left_in_the_ring_are_delivered_after_migration},
        {"migration_races", migration_races},
        {"migrations_and_setters_from_several_threads",
         migrations_and_setters_from_several_threads},
        {"stop_while_migrating", stop_while_migrating},
        {NULL, NULL},
    };
    return it_main(argc, argv, cases);
}

/*
 * it_matrix.c - the integration matrix: every feature under every fault.
 *
 *   it_matrix FEATURE FAULT      (one ctest entry per cell)
 *
 * A server in this process runs with the fault engine installed in its
 * system-call table; three tsl_peer clients (each on its own thread) send
 * seeded messages with seeded write chunking and verify every echoed byte.
 * The same check holds in every cell: every message is delivered exactly
 * once and in order (the echo stream is verified byte for byte), or the
 * client is disconnected with the right reason; the other clients are
 * served all the same; the callback contract holds and nothing leaks (the
 * ASan, TSan and Valgrind runs).  Faults on one connection (FIN loss,
 * crashes) hit client 1 only, which is accepted first; the feature then
 * runs on clients 2 and 3.
 *
 * Each wait has a deadline and says what it waited for; a failure prints
 * the plan, the seed and the command that replays it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "tsl_fault.h"
#include "tsl_peer.h"

enum { NCLIENTS = 3, BATCHES = 4, BATCH = 10, HOLD_MS = 400 };

struct fault_def {
    const char *name;
    const char *plan;   /* without the seed */
    int conn1;          /* the fault hits connection 1 only */
    tsl_reason_t c1_reason;
};

static const struct fault_def faults[] = {
    {"none", "", 0, 0},
    {"split", "split=1..7", 0, 0},
    {"coalesce", "coalesce=256", 0, 0},
    {"short_writes", "short=1..9", 0, 0},
    {"eintr_storm", "eintr=30,eagain=20", 0, 0},
    {"fin_loss", "fin_loss@conn=1", 1, TSL_REASON_KA_EXPIRED},
    {"crash_silent", "crash_silent=150@conn=1", 1, TSL_REASON_KA_EXPIRED},
    {"crash_reset", "crash_reset=150@conn=1", 1, TSL_REASON_PEER_RESET},
};

enum feature {
    F_FRAMING_VAR,
    F_FRAMING_FIXED,
    F_FRAMING_DELIM,
    F_CLIENT_CLOSE,
    F_FORCED,
    F_KEEPALIVE,
    F_MIGRATION,
    F_SHUTDOWN,
    F_MAX_CLIENTS
};

static const char *const feature_names[] = {
    "framing_variable", "framing_fixed", "framing_delimiter", "client_close",
    "forced_disconnect", "keepalive_expiry", "migration", "shutdown",
    "max_clients",
};

struct client {
    pthread_t t;
    int idx;
    struct tsl_peer p;
    uint64_t seed;
    int crash;            /* runs the connection-1 script */
    atomic_int phase;     /* 1: connected, 2: exchange done, 3: finished */
    atomic_int go;        /* main says: go on after the exchange */
    int ok_exchange;
    int saw_close;
    char why[200];
};

static enum feature feat;
static const struct fault_def *fault;
/* Migration: rounds of moves main has completed; batch b of a client
 * starts only after round b, so moves and traffic interleave whatever the
 * load (the exchange cannot finish before the moves begin). */
static atomic_int mig_rounds;
static struct it_server srv;
static tsl_framing_t framing;

static enum tsl_peer_mode
mode_for(struct client *c, int batch)
{
    return (enum tsl_peer_mode)((c->seed + (uint64_t)batch) % 4);
}

/* Waits until main sets c->go (bounded). */
static void
wait_go(struct client *c)
{
    int64_t dl = it_now_ms() + 10000 * it_scale();

    while (!atomic_load(&c->go) && it_now_ms() < dl)
        sched_yield();
}

static void *
client_main(void *arg)
{
    struct client *c = arg;
    int b, timeout = 5000 * it_scale();

    if (tsl_peer_open(&c->p, "127.0.0.1", srv.port, &framing, c->seed,
                      timeout) < 0) {
        snprintf(c->why, sizeof(c->why), "%s", c->p.why);
        atomic_store(&c->phase, 3);
        return NULL;
    }
    atomic_store(&c->phase, 1);
    wait_go(c); /* connections are made in order */
    atomic_store(&c->go, 0);
    if (c->crash) {
        /* Connection 1 under a crash or FIN loss: exchange what it can,
         * then close; the server must decide by itself. */
        for (b = 0; b < BATCHES; b++)
            if (tsl_peer_send(&c->p, BATCH, TSL_PEER_WHOLE) < 0 ||
                tsl_peer_check(&c->p, BATCH) < 0)
                break;
        c->ok_exchange = b == BATCHES;
        atomic_store(&c->phase, 2);
        if (strcmp(fault->name, "crash_silent") == 0)
            c->saw_close = tsl_peer_wait_closed(&c->p, 5000 * it_scale());
        tsl_peer_close(&c->p);
        atomic_store(&c->phase, 3);
        return NULL;
    }
    if (feat == F_SHUTDOWN) {
        /* Messages in flight when the server stops: what comes back must
         * be a correct prefix, then a close. */
        if (tsl_peer_send(&c->p, BATCHES * BATCH, mode_for(c, 0)) < 0)
            snprintf(c->why, sizeof(c->why), "%s", c->p.why);
        atomic_store(&c->phase, 2);
        while (c->p.checked < c->p.sent && tsl_peer_check(&c->p, 1) == 0)
            ;
        /* Cut short by the stop is fine; a wrong byte is not. */
        c->ok_exchange = strstr(c->p.why, ", expected ") == NULL;
        snprintf(c->why, sizeof(c->why), "%s", c->p.why);
        c->saw_close = c->p.checked < c->p.sent ||
                       tsl_peer_wait_closed(&c->p, 5000 * it_scale());
        tsl_peer_close(&c->p);
        atomic_store(&c->phase, 3);
        return NULL;
    }
    for (b = 0; b < BATCHES; b++) {
        if (feat == F_MIGRATION) {
            int64_t dl = it_now_ms() + 10000 * it_scale();
            while (atomic_load(&mig_rounds) < b && it_now_ms() < dl)
                sched_yield();
        }
        if (tsl_peer_send(&c->p, BATCH, mode_for(c, b)) < 0 ||
            tsl_peer_check(&c->p, BATCH) < 0) {
            snprintf(c->why, sizeof(c->why), "%s", c->p.why);
            break;
        }
    }
    c->ok_exchange = b == BATCHES;
    atomic_store(&c->phase, 2);
    switch (feat) {
    case F_CLIENT_CLOSE:
        tsl_peer_half_close(&c->p);
        c->saw_close = tsl_peer_wait_closed(&c->p, 5000 * it_scale());
        break;
    case F_FORCED:
    case F_KEEPALIVE:
        c->saw_close = tsl_peer_wait_closed(&c->p, 5000 * it_scale());
        break;
    default:
        c->saw_close = 1;
        break;
    }
    tsl_peer_close(&c->p);
    atomic_store(&c->phase, 3);
    return NULL;
}

static void
wait_phase(struct client *c, int phase)
{
    int64_t dl = it_now_ms() + 10000 * it_scale();

    while (atomic_load(&c->phase) < phase) {
        if (it_now_ms() > dl)
            IT_FAIL("client %d stuck before phase %d (at %d): %s", c->idx,
                    phase, atomic_load(&c->phase), c->why);
        sched_yield();
    }
}

static tsl_reason_t
expected_reason(void)
{
    switch (feat) {
    case F_FORCED:
        return TSL_REASON_FORCED;
    case F_KEEPALIVE:
        return TSL_REASON_KA_EXPIRED;
    case F_SHUTDOWN:
        return TSL_REASON_SHUTDOWN;
    default:
        return TSL_REASON_PEER_CLOSED;
    }
}

static void
run_cell(void)
{
    struct client cl[NCLIENTS];
    char plan[200], err[200];
    const char *spec = feat == F_FRAMING_FIXED   ? "fixed:48"
                       : feat == F_FRAMING_DELIM ? "delimiter:0d0a,max=4000"
                                                 : "variable";
    int i, first = fault->conn1 ? 1 : 0, extra = -1;
    tsl_server_stats_t st;

    snprintf(plan, sizeof(plan), "%s%sseed=%llu", fault->plan,
             fault->plan[0] ? "," : "", (unsigned long long)it_seed);
    snprintf(it_context, sizeof(it_context), "fault plan: %s", plan);
    if (tsl_fault_install(plan, err, sizeof(err)) < 0)
        IT_FAIL("plan %s: %s", plan, err);
    IT_EQ(tsl_framing_parse(spec, &framing, err, sizeof(err)), 0);
    it_server_create(&srv, "matrix", spec, IT_ECHO);
    IT_EQ(tsl_server_set_timer_tick(srv.srv, 20), 0);
    IT_EQ(tsl_server_set_keepalive(srv.srv, (uint32_t)(HOLD_MS * it_scale())),
          0);
    if (feat == F_MAX_CLIENTS)
        IT_EQ(tsl_server_set_max_clients(srv.srv, NCLIENTS), 0);
    IT_EQ(tsl_server_start(srv.srv), 0);
    srv.port = tsl_server_port(srv.srv);

    /* Connect one at a time so that accept order is client order. */
    memset(cl, 0, sizeof(cl));
    for (i = 0; i < NCLIENTS; i++) {
        cl[i].idx = i + 1;
        cl[i].seed = it_seed * 7919 + (uint64_t)i;
        cl[i].crash = fault->conn1 && i == 0;
        IT_EQ(pthread_create(&cl[i].t, NULL, client_main, &cl[i]), 0);
        wait_phase(&cl[i], 1);
        IT_WAIT(&srv, srv.connected == i + 1, 3000);
    }
    if (feat == F_MAX_CLIENTS) {
        /* One more than the limit is refused, and sees a close. */
        extra = it_connect(srv.port);
        IT_WAIT(&srv, srv.by_reject[TSL_REJECT_MAX_CLIENTS] == 1, 3000);
        IT_CHECK(it_wait_closed(extra, 3000));
        it_close(extra);
    }
    if (feat != F_KEEPALIVE) {
        /* The clients the feature must end (a stop, a forced close, their
         * own close) go silent once their exchange is done and wait for
         * the others: on a loaded machine (TSan, memcheck) that can
         * outlast the hold, and keepalive would (correctly) end them
         * first.  Keepalive is only what the keepalive cell and a dead
         * connection 1 check: off for the others. */
        for (i = first + 1; i <= NCLIENTS; i++) {
            tsl_client_t *c = tsl_server_find_client(srv.srv, (uint64_t)i);
            IT_CHECK(c != NULL);
            IT_EQ(tsl_client_set_keepalive(c, 0), 0);
            tsl_client_unref(c);
        }
    }
    if (feat == F_SHUTDOWN && fault->conn1) {
        /* Let connection 1's fault play out before the stop (which would
         * otherwise end it first, correctly, with shutdown). */
        atomic_store(&cl[0].go, 1);
        IT_WAIT(&srv, srv.state[1] == 2, 5000);
    }
    for (i = 0; i < NCLIENTS; i++)
        atomic_store(&cl[i].go, 1);

    if (feat == F_MIGRATION) {
        /* Move every client back and forth while they exchange, each move
         * complete before the next. */
        uint32_t round = 0;
        while (atomic_load(&cl[NCLIENTS - 1].phase) < 2 ||
               atomic_load(&cl[first].phase) < 2) {
            round++;
            for (i = first + 1; i <= NCLIENTS; i++) {
                tsl_client_t *c = tsl_server_find_client(srv.srv, (uint64_t)i);
                tsl_client_stats_t cs;
                if (c == NULL)
                    continue;
                if (tsl_server_migrate_client(srv.srv, c,
                                              (tsl_client_mode_t)(round % 2)) ==
                    0)
                    IT_WAIT(&srv,
                            (tsl_client_stats(c, &cs),
                             cs.threaded == (int)(round % 2) ||
                                 srv.state[i] == 2),
                            3000);
                tsl_client_unref(c);
            }
            atomic_store(&mig_rounds, round);
            if (round > 100000)
                IT_FAIL("the exchange never finished during migration");
        }
        IT_CHECK(round >= BATCHES - 1);
    }
    for (i = first; i < NCLIENTS; i++)
        wait_phase(&cl[i], 2);
    if (feat == F_FORCED) {
        for (i = first; i < NCLIENTS; i++) {
            tsl_client_t *c = tsl_server_find_client(srv.srv, (uint64_t)i + 1);
            IT_CHECK(c != NULL);
            IT_EQ(tsl_client_disconnect(c), 0);
            tsl_client_unref(c);
        }
    }
    if (feat == F_SHUTDOWN)
        IT_EQ(tsl_server_stop(srv.srv), 0);
    for (i = 0; i < NCLIENTS; i++) {
        wait_phase(&cl[i], 3);
        pthread_join(cl[i].t, NULL);
    }
    IT_WAIT(&srv, srv.disconnected == NCLIENTS, 5000);

    for (i = first; i < NCLIENTS; i++) {
        if (!cl[i].ok_exchange)
            IT_FAIL("client %d: the exchange failed: %s (server: %s)", i + 1,
                    cl[i].why,
                    tsl_reason_name((tsl_reason_t)srv.reason_of[i + 1]));
        if (!cl[i].saw_close)
            IT_FAIL("client %d: the server never closed it", i + 1);
        if (srv.reason_of[i + 1] != expected_reason())
            IT_FAIL("client %d ended with %s, expected %s", i + 1,
                    tsl_reason_name((tsl_reason_t)srv.reason_of[i + 1]),
                    tsl_reason_name(expected_reason()));
    }
    if (fault->conn1 && srv.reason_of[1] != fault->c1_reason)
        IT_FAIL("client 1 ended with %s, expected %s",
                tsl_reason_name((tsl_reason_t)srv.reason_of[1]),
                tsl_reason_name(fault->c1_reason));
    if (fault->conn1 && strcmp(fault->name, "fin_loss") == 0 &&
        !cl[0].ok_exchange)
        IT_FAIL("client 1: a lost FIN must not cost data: %s", cl[0].p.why);
    tsl_server_stats(srv.srv, &st);
    IT_EQ(st.protocol_errors, 0);
    it_server_finish(&srv);
    tsl_fault_uninstall();
}

int
main(int argc, char **argv)
{
    static char name[128];
    size_t i;

    if (argc != 3) {
        for (i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++)
            printf("%s\n", feature_names[i]);
        for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
            printf("%s\n", faults[i].name);
        return argc == 1 ? 0 : 2;
    }
    for (i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++)
        if (strcmp(argv[1], feature_names[i]) == 0)
            break;
    if (i == sizeof(feature_names) / sizeof(feature_names[0])) {
        fprintf(stderr, "unknown feature '%s'\n", argv[1]);
        return 2;
    }
    feat = (enum feature)i;
    for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
        if (strcmp(argv[2], faults[i].name) == 0)
            fault = &faults[i];
    if (fault == NULL) {
        fprintf(stderr, "unknown fault '%s'\n", argv[2]);
        return 2;
    }
    {
        const char *s = getenv("TSL_SEED");
        it_seed = s ? strtoull(s, NULL, 0) : 1;
    }
    snprintf(name, sizeof(name), "%s", argv[2]);
    it_case = name;
    it_argv0_extra = argv[1];
    {
        static char extra[160];
        snprintf(extra, sizeof(extra), " %s", argv[1]);
        it_argv0_extra = extra;
    }
    signal(SIGPIPE, SIG_IGN);
    run_cell();
    printf("ok %s %s\n", argv[1], argv[2]);
    return 0;
}

/*
 * it_alloc.c - allocation and thread-creation torture.  Every allocation
 * and thread start of the core goes through tsl__sys (tsl_sys.h); this
 * test installs a table that counts them and fails the k-th (once, or
 * from k on), over a scenario that exercises most of them: black-list,
 * start (receiver, wheel, scratch, acceptor), a multiplexed client, a
 * multi-threaded one (dedicated receiver), a client-mode connection to
 * itself, messages, stop.  Every run must end cleanly: the failing call
 * answered with TSL_ENOMEM / a refused start / a rejected or disconnected
 * client, never a crash, hang or leak (ASan and Valgrind runs), and the
 * callback contract intact.
 *
 * The threads of a run allocate concurrently, so the k-th allocation is
 * not always the same site from run to run; CI runs a seeded sample of k
 * (TSL_TORTURE_SAMPLE=N, default 40; TSL_TORTURE_ALL=1: every k).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "tsl_peer.h"
#include "tsl_sys.h"

enum { NEVER, ONCE, FROM };

static struct tsl_sys_ops ops;
static atomic_ullong calls, failed;
static unsigned long long fail_at;
static int fail_mode;

static bool
must_fail(void)
{
    unsigned long long k = atomic_fetch_add(&calls, 1) + 1;
    bool f = (fail_mode == ONCE && k == fail_at) ||
             (fail_mode == FROM && k >= fail_at);

    if (f)
        atomic_fetch_add(&failed, 1);
    return f;
}

static void *
a_malloc(size_t n)
{
    if (must_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return malloc(n);
}

static void *
a_calloc(size_t n, size_t size)
{
    if (must_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return calloc(n, size);
}

static void *
a_realloc(void *p, size_t n)
{
    if (must_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}

static int
a_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    if (must_fail())
        return EAGAIN;
    return tsl__sys_libc.thread_create(t, fn, arg);
}

static void
install(int mode, unsigned long long k)
{
    ops = tsl__sys_libc;
    ops.malloc = a_malloc;
    ops.calloc = a_calloc;
    ops.realloc = a_realloc;
    ops.thread_create = a_thread;
    atomic_store(&calls, 0);
    atomic_store(&failed, 0);
    fail_mode = mode;
    fail_at = k;
    tsl__sys_set(&ops);
}

/* One run; returns the allocations and thread starts it counted. */
static unsigned long long
scenario(int mode, unsigned long long k)
{
    struct it_server s;
    struct tsl_peer p[2];
    tsl_framing_t f;
    int i, r, echoed = 0;

    snprintf(it_context, sizeof(it_context), "allocation plan: %s k=%llu",
             mode == ONCE ? "once" : mode == FROM ? "from" : "none", k);
    tsl_framing_default(&f, TSL_FRAMING_VARIABLE);
    it_server_create(&s, "alloc", "variable", IT_ECHO);
    install(mode, k);
    r = tsl_server_blacklist_add(s.srv, "10.9.9.9");
    IT_CHECK(r == 0 || r == TSL_ENOMEM);
    r = tsl_server_start(s.srv);
    if (r == 0) {
        s.port = tsl_server_port(s.srv);
        for (i = 0; i < 2; i++) {
            if (i == 1) /* the second gets a thread of its own */
                IT_EQ(tsl_server_set_flags(s.srv, TSL_SERVER_MULTI_THREADED),
                      0);
            /* Failures are expected; only hangs, crashes and leaks are not. */
            if (tsl_peer_open(&p[i], "127.0.0.1", s.port, &f, (uint64_t)i + 1,
                              300 * it_scale()) == 0 &&
                tsl_peer_send(&p[i], 5, TSL_PEER_WHOLE) == 0 &&
                tsl_peer_check(&p[i], 5) == 0)
                echoed++;
        }
        /* Client mode, to ourselves: a connector and two more clients. */
        r = tsl_server_connect(s.srv, "127.0.0.1", s.port, TSL_CONNECT_ONCE);
        IT_CHECK(r > 0 || r == TSL_ENOMEM || r == -EAGAIN || r == -EMFILE);
        for (i = 0; i < 2; i++)
            tsl_peer_close(&p[i]);
    } else {
        /* A refused start says why and leaves nothing running. */
        IT_CHECK(r == TSL_ENOMEM || r == -EAGAIN);
        IT_CHECK(!(tsl_server_flags(s.srv) & TSL_SERVER_RUNNING));
    }
    if (mode == NEVER) {
        /* The clean run does everything: both echoes, the threaded client
         * (3 clients at most: the connector's may not have arrived). */
        IT_EQ(echoed, 2);
        IT_CHECK(s.connected >= 2);
    }
    it_server_finish(&s);
    tsl__sys_set(NULL);
    if (mode != NEVER)
        IT_CHECK(atomic_load(&failed) > 0 || k > atomic_load(&calls));
    return atomic_load(&calls);
}

static void
every_allocation_may_fail(void)
{
    const char *all = getenv("TSL_TORTURE_ALL");
    const char *ss = getenv("TSL_TORTURE_SAMPLE");
    unsigned long long sample = ss ? strtoull(ss, NULL, 10) : 40;
    unsigned long long n, k, runs = 0;
    uint64_t st = it_seed * 2654435761u + 1;
    int mode;

    n = scenario(NEVER, 0);
    IT_CHECK(n >= 10);
    for (k = 1; k <= n + 2; k++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        if (all == NULL && (st >> 33) % (n + 2) >= sample)
            continue;
        for (mode = ONCE; mode <= FROM; mode++) {
            scenario(mode, k);
            runs++;
        }
    }
    printf("%llu allocations and thread starts in a clean run; %llu torture "
           "runs passed\n",
           n, runs);
}

/* Creating a server is the one allocation outside any server. */
static void
create_reports_no_memory(void)
{
    tsl_server_t *srv = (tsl_server_t *)&srv;

    install(ONCE, 1);
    IT_EQ(tsl_server_create(&srv, "nomem", "127.0.0.1", 0), TSL_ENOMEM);
    IT_CHECK(srv == NULL);
    tsl__sys_set(NULL);
}

int
main(int argc, char **argv)
{
    static const struct it_case_def cases[] = {
        {"every_allocation_may_fail", every_allocation_may_fail},
        {"create_reports_no_memory", create_reports_no_memory},
        {NULL, NULL},
    };
    return it_main(argc, argv, cases);
}

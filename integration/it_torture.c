/*
 * it_torture.c - socket-call torture, in the manner of SQLite's and
 * curl's torture tests.  A clean run of a scenario (start a server, two
 * clients exchange messages, disconnect, stop) counts the socket calls the
 * library makes; then the scenario is run again failing the k-th call,
 * once (fail=k) and from k on (fail_from=k).  Every run must end cleanly:
 * start refused with an error or the server serving what it can, a stop
 * that returns, the callback contract intact, nothing leaked (ASan and
 * Valgrind runs).  CI runs a seeded sample of k (TSL_TORTURE_SAMPLE=N,
 * default 40; TSL_TORTURE_ALL=1: every k).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"
#include "tsl_fault.h"
#include "tsl_peer.h"

/* One run; returns the socket calls it made. */
static uint64_t
scenario(const char *plan)
{
    struct it_server s;
    struct tsl_peer p[2];
    tsl_framing_t f;
    char err[200];
    uint64_t calls;
    int i, r, opened[2] = {0, 0};

    snprintf(it_context, sizeof(it_context), "fault plan: %s", plan);
    if (tsl_fault_install(plan, err, sizeof(err)) < 0)
        IT_FAIL("plan %s: %s", plan, err);
    tsl_framing_default(&f, TSL_FRAMING_VARIABLE);
    it_server_create(&s, "torture", "variable", IT_ECHO);
    r = tsl_server_start(s.srv);
    if (r == 0) {
        s.port = tsl_server_port(s.srv);
        for (i = 0; i < 2; i++) {
            /* Failures are expected; only hangs, crashes and leaks are not. */
            if (tsl_peer_open(&p[i], "127.0.0.1", s.port, &f, (uint64_t)i + 1,
                              300 * it_scale()) == 0) {
                opened[i] = 1;
                if (tsl_peer_send(&p[i], 5, TSL_PEER_WHOLE) == 0)
                    tsl_peer_check(&p[i], 5);
            }
        }
        for (i = 0; i < 2; i++)
            tsl_peer_close(&p[i]);
        (void)opened;
    } else {
        /* A refused start says why and leaves nothing running. */
        IT_CHECK(r < 0);
        IT_CHECK(!(tsl_server_flags(s.srv) & TSL_SERVER_RUNNING));
    }
    it_server_finish(&s);
    calls = tsl_fault_calls();
    tsl_fault_uninstall();
    return calls;
}

static void
every_socket_call_may_fail(void)
{
    const char *all = getenv("TSL_TORTURE_ALL");
    const char *ss = getenv("TSL_TORTURE_SAMPLE");
    uint64_t sample = ss ? strtoull(ss, NULL, 10) : 40;
    uint64_t n, k, st = it_seed * 2654435761u + 1, runs = 0;
    char plan[96];
    int mode;

    n = scenario("seed=1");
    IT_CHECK(n > 20);
    for (k = 1; k <= n + 2; k++) {
        /* A seeded sample of about `sample` call numbers (TSL_TORTURE_SAMPLE,
         * default 40), unless TSL_TORTURE_ALL asks for every one. */
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        if (all == NULL && (st >> 33) % (n + 2) >= sample)
            continue;
        for (mode = 0; mode < 2; mode++) {
            snprintf(plan, sizeof(plan), "%s=%llu,seed=1",
                     mode ? "fail_from" : "fail", (unsigned long long)k);
            scenario(plan);
            runs++;
        }
    }
    printf("%llu socket calls in a clean run; %llu torture runs passed\n",
           (unsigned long long)n, (unsigned long long)runs);
}

int
main(int argc, char **argv)
{
    static const struct it_case_def cases[] = {
        {"every_socket_call_may_fail", every_socket_call_may_fail},
        {NULL, NULL},
    };
    return it_main(argc, argv, cases);
}

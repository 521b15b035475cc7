/*
 * bench_wheel.c - cost of the timer wheel as the number of timers grows:
 * ns per restart (a keepalive refresh done eagerly), per cancel+start, and
 * per advance of one tick with N armed timers, for N = 1e3 .. 1e6.  A flat
 * column means O(1).  Not a test: it prints figures.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tsl_wheel.h"

static double
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void
nop(struct tsl_timer *t, int64_t now, void *arg)
{
    (void)t;
    (void)now;
    (void)arg;
}

int
main(void)
{
    static const size_t sizes[] = {1000, 10000, 100000, 1000000};
    size_t k, i, n, ops = 2000000;

    printf("%10s %14s %14s %18s\n", "timers", "restart ns", "cancel+start",
           "advance ns/tick");
    for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct tsl_wheel w;
        struct tsl_timer *t;
        uint64_t x = 88172645463325252ull;
        double t0, restart, cs, adv;
        int64_t now = 0;

        n = sizes[k];
        t = malloc(n * sizeof(*t));
        if (t == NULL || tsl__wheel_init(&w, 50, 1024, 0, nop, NULL) != 0)
            return 1;
        for (i = 0; i < n; i++) {
            tsl__timer_init(&t[i]);
            tsl__wheel_start(&w, &t[i], 0, 10000 + (int64_t)(i % 5000));
        }
        t0 = now_ns();
        for (i = 0; i < ops; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            tsl__wheel_start(&w, &t[x % n], 0, 10000 + (int64_t)(x % 5000));
        }
        restart = (now_ns() - t0) / ops;
        t0 = now_ns();
        for (i = 0; i < ops; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            tsl__wheel_cancel(&w, &t[x % n]);
            tsl__wheel_start(&w, &t[x % n], 0, 10000 + (int64_t)(x % 5000));
        }
        cs = (now_ns() - t0) / ops;
        /* Ticks with nothing due: the keepalive steady state. */
        t0 = now_ns();
        for (i = 0; i < 150; i++) {
            now += 50;
            tsl__wheel_advance(&w, now);
        }
        adv = (now_ns() - t0) / 150;
        printf("%10zu %14.1f %14.1f %18.1f\n", n, restart, cs, adv);
        tsl__wheel_fini(&w);
        free(t);
    }
    return 0;
}

/* test_wheel.c - the timer wheel, driven by a manual clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "tsl.h"
#include "tsl_wheel.h"

/* A timer and what its firings did (the wheel finds it from the timer). */
struct rec {
    struct tsl_timer t;
    int fired;
    int64_t at;
    struct tsl_wheel *w;
    struct tsl_timer *other; /* cancel this one from the callback */
    int64_t rearm;           /* re-arm self with this delay if > 0 */
};

static void
on_fire(struct tsl_timer *t, int64_t now, void *arg)
{
    struct rec *r = (struct rec *)t;

    assert_ptr_equal(arg, r->w);

    r->fired++;
    r->at = now;
    if (r->other != NULL)
        tsl__wheel_cancel(r->w, r->other);
    if (r->rearm > 0)
        tsl__wheel_start(r->w, t, now, r->rearm);
}

static void
fires_at_the_deadline_never_before(void **state)
{
    struct tsl_wheel w;
    struct rec r = {.w = &w};

    (void)state;
    assert_int_equal(tsl__wheel_init(&w, 10, 8, 1000, on_fire, &w), 0);
    tsl__timer_init(&r.t);
    tsl__wheel_start(&w, &r.t, 1003, 25); /* due at 1028: tick boundary 1030 */
    assert_int_equal(w.count, 1);
    assert_int_equal(tsl__wheel_advance(&w, 1027), 0);
    assert_int_equal(tsl__wheel_advance(&w, 1029), 0);
    assert_int_equal(tsl__wheel_advance(&w, 1030), 1);
    assert_int_equal(r.fired, 1);
    assert_int_equal(r.at, 1030);
    assert_int_equal(w.count, 0);
    assert_false(tsl__timer_armed(&r.t));
    assert_int_equal(tsl__wheel_advance(&w, 5000), 0);
    tsl__wheel_fini(&w);
}

/* A delay below zero is a delay of zero: started on a tick boundary
 * the wheel has not reached yet, both timers fire when it does. */
static void
negative_delay_is_zero(void **state)
{
    struct tsl_wheel w;
    struct rec zero = {.w = &w}, neg = {.w = &w};
    int64_t t;

    (void)state;
    assert_int_equal(tsl__wheel_init(&w, 10, 8, 1000, on_fire, &w), 0);
    tsl__timer_init(&zero.t);
    tsl__timer_init(&neg.t);
    tsl__wheel_start(&w, &zero.t, 1010, 0);
    tsl__wheel_start(&w, &neg.t, 1010, -5);
    for (t = 1010; t <= 1100 && zero.fired == 0; t++)
        tsl__wheel_advance(&w, t);
    assert_int_equal(zero.fired, 1);
    assert_int_equal(neg.fired, 1);
    assert_int_equal(zero.at, 1010);
    assert_int_equal(neg.at, 1010);
    tsl__wheel_fini(&w);
}

/* At the wheel's origin (tick 0, nothing processed yet) the rules hold
 * too: a timer fires at least one tick out, and never before its time. */
static void
at_the_origin_at_least_one_tick_and_never_early(void **state)
{
    struct tsl_wheel w;
    struct rec ra = {.w = &w}, rb = {.w = &w}, rc = {.w = &w};

    (void)state;
    assert_int_equal(tsl__wheel_init(&w, 10, 8, 1000, on_fire, &w), 0);
    tsl__timer_init(&ra.t);
    tsl__timer_init(&rb.t);
    tsl__timer_init(&rc.t);
    tsl__wheel_start(&w, &ra.t, 1000, 0);  /* at once: the next tick */
    tsl__wheel_start(&w, &rb.t, 1000, 10); /* exactly one tick */
    tsl__wheel_start(&w, &rc.t, 1000, 11); /* just past it: the second */
    assert_int_equal(tsl__wheel_timeout(&w, 1000), 10);
    assert_int_equal(tsl__wheel_advance(&w, 1000), 0);
    assert_int_equal(tsl__wheel_advance(&w, 1009), 0);
    assert_int_equal(tsl__wheel_advance(&w, 1010), 2);
    assert_int_equal(ra.fired + rb.fired, 2);
    assert_int_equal(rc.fired, 0);
    assert_int_equal(tsl__wheel_advance(&w, 1019), 0);
    assert_int_equal(tsl__wheel_advance(&w, 1020), 1);
    assert_int_equal(rc.at, 1020);
    assert_int_equal(tsl__wheel_timeout(&w, 1020), -1);
    tsl__wheel_fini(&w);
}

static void
timers_beyond_one_turn_wait_for_their_turn(void **state)
{
    struct tsl_wheel w;
    struct rec r = {.w = &w};
    int64_t now;

    (void)state;
    assert_int_equal(tsl__wheel_init(&w, 10, 8, 0, on_fire, &w), 0); /* one turn: 80 ms */
    tsl__timer_init(&r.t);
    tsl__wheel_start(&w, &r.t, 0, 1000);
    for (now = 1; now < 1000; now++)
        assert_int_equal(tsl__wheel_advance(&w, now), 0);
    assert_int_equal(tsl__wheel_advance(&w, 1000), 1);
    tsl__wheel_fini(&w);
}

static void
cancel_and_restart(void **state)
{
    struct tsl_wheel w;
    struct rec ra = {.w = &w}, rb = {.w = &w};

    (void)state;
    assert_int_equal(tsl__wheel_init(&w, 10, 16, 0, on_fire, &w), 0);
    tsl__timer_init(&ra.t);
    tsl__timer_init(&rb.t);
    tsl__wheel_start(&w, &ra.t, 0, 50);
    tsl__wheel_start(&w, &rb.t, 0, 50);
    tsl__wheel_cancel(&w, &ra.t);
    tsl__wheel_cancel(&w, &ra.t); /* idempotent */
    tsl__wheel_start(&w, &rb.t, 30, 50); /* restart: now due at 80 */
    assert_int_equal(w.count, 1);
    assert_int_equal(tsl__wheel_advance(&w, 79), 0);
    assert_int_equal(tsl__wheel_advance(&w, 80), 1);
    assert_int_equal(ra.fired, 0);
    assert_int_equal(rb.fired, 1);
    assert_int_equal(tsl__wheel_timeout(&w, 80), -1);
    tsl__wheel_start(&w, &ra.t, 85, 0); /* zero delay: the next tick */
    assert_int_equal(tsl__wheel_timeout(&w, 85), 5);
    assert_int_equal(tsl__wheel_advance(&w, 90), 1);
    tsl__wheel_fini(&w);
}

static void
callbacks_may_cancel_others_and_rearm_themselves(void **state)
{
    struct tsl_wheel w;
    struct rec ra = {.w = &w}, rb = {.w = &w}, rp = {.w = &w};

    (void)state;
    assert_int_equal(tsl__wheel_init(&w, 10, 4, 0, on_fire, &w), 0);
    tsl__timer_init(&ra.t);
    tsl__timer_init(&rb.t);
    tsl__timer_init(&rp.t);
    /* a and b share a slot; whichever fires first cancels the other. */
    ra.other = &rb.t;
    rb.other = &ra.t;
    tsl__wheel_start(&w, &ra.t, 0, 20);
    tsl__wheel_start(&w, &rb.t, 0, 20);
    rp.rearm = 30; /* periodic */
    tsl__wheel_start(&w, &rp.t, 0, 30);
    assert_int_equal(tsl__wheel_advance(&w, 20), 1);
    assert_int_equal(ra.fired + rb.fired, 1);
    {
        int64_t now;
        size_t n = 0;
        for (now = 21; now <= 300; now++)
            n += tsl__wheel_advance(&w, now);
        assert_int_equal(n, 10); /* p at 30, 60, ..., 300 */
    }
    assert_int_equal(rp.fired, 10);
    /* In a long jump a re-arm counts from the jump's `now`. */
    assert_int_equal(tsl__wheel_advance(&w, 1000), 1);
    assert_int_equal(rp.fired, 11);
    assert_int_equal(ra.fired + rb.fired, 1);
    tsl__wheel_cancel(&w, &rp.t);
    assert_int_equal(w.count, 0);
    tsl__wheel_fini(&w);
}

static void
a_long_jump_fires_everything_due_once(void **state)
{
    enum { N = 100 };
    struct tsl_wheel w;
    struct rec r[N];
    int i;

    (void)state;
    memset(r, 0, sizeof(r));
    assert_int_equal(tsl__wheel_init(&w, 1, 8, 0, on_fire, &w), 0);
    for (i = 0; i < N; i++) {
        r[i].w = &w;
        tsl__timer_init(&r[i].t);
        tsl__wheel_start(&w, &r[i].t, 0, i * 37);
    }
    assert_int_equal(tsl__wheel_advance(&w, 1000000), N);
    for (i = 0; i < N; i++)
        assert_int_equal(r[i].fired, 1);
    tsl__wheel_fini(&w);
}

static void
init_checks_arguments(void **state)
{
    struct tsl_wheel w;

    (void)state;
    assert_int_equal(tsl__wheel_init(&w, 0, 8, 0, on_fire, &w), TSL_EINVAL);
    assert_int_equal(tsl__wheel_init(&w, 10, 6, 0, on_fire, &w), TSL_EINVAL);
    assert_int_equal(tsl__wheel_init(&w, 10, 0, 0, on_fire, &w), TSL_EINVAL);
}

/* Random starts, restarts, cancels and clock steps: every armed timer
 * fires once, never before its deadline and less than one tick plus one
 * clock step after it. */
static void
random_schedule_is_exact(void **state)
{
    enum { N = 64, TICK = 7 };
    uint64_t seed = tu_seed(3), st = seed;
    struct tsl_wheel w;
    struct rec r[N];
    int64_t due[N], now = 0, step;
    int armed[N], i, round;

    (void)state;
    memset(r, 0, sizeof(r));
    assert_int_equal(tsl__wheel_init(&w, TICK, 16, 0, on_fire, &w), 0);
    for (i = 0; i < N; i++) {
        r[i].w = &w;
        tsl__timer_init(&r[i].t);
        armed[i] = 0;
    }
    for (round = 0; round < 20000; round++) {
        i = (int)tu_range(&st, 0, N - 1);
        switch (tu_next(&st) % 4) {
        case 0:
        case 1: {
            int64_t d = (int64_t)tu_range(&st, 0, 500);
            tsl__wheel_start(&w, &r[i].t, now, d);
            due[i] = now + d;
            armed[i] = 1;
            r[i].fired = 0;
            break;
        }
        case 2:
            tsl__wheel_cancel(&w, &r[i].t);
            armed[i] = 0;
            break;
        default:
            step = (int64_t)tu_range(&st, 1, 9);
            now += step;
            tsl__wheel_advance(&w, now);
            for (i = 0; i < N; i++) {
                if (!armed[i])
                    continue;
                if (r[i].fired) {
                    if (r[i].at < due[i] || r[i].at >= due[i] + TICK + step)
                        fail_msg("timer %d due %lld fired at %lld; seed "
                                 "%llu, replay: TSL_SEED=%llu",
                                 i, (long long)due[i], (long long)r[i].at,
                                 (unsigned long long)seed,
                                 (unsigned long long)seed);
                    armed[i] = 0;
                } else if (now >= due[i] + TICK) {
                    fail_msg("timer %d due %lld not fired at %lld; seed %llu",
                             i, (long long)due[i], (long long)now,
                             (unsigned long long)seed);
                }
            }
        }
    }
    tsl__wheel_fini(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fires_at_the_deadline_never_before),
        cmocka_unit_test(negative_delay_is_zero),
        cmocka_unit_test(at_the_origin_at_least_one_tick_and_never_early),
        cmocka_unit_test(timers_beyond_one_turn_wait_for_their_turn),
        cmocka_unit_test(cancel_and_restart),
        cmocka_unit_test(callbacks_may_cancel_others_and_rearm_themselves),
        cmocka_unit_test(a_long_jump_fires_everything_due_once),
        cmocka_unit_test(init_checks_arguments),
        cmocka_unit_test(random_schedule_is_exact),
    };
    return cmocka_run_group_tests_name("wheel", tests, NULL, NULL);
}

/*
 * tsl_wheel.h - hashed timer wheel with injected time.
 *
 * O(1) start, restart and cancel: a timer hangs in the slot of its expiry
 * tick (modulo the wheel size) and remembers its absolute expiry tick, so
 * timers further out than one turn simply stay in their slot until their
 * turn comes.  Time is an argument: tsl__wheel_advance(w, now) fires what
 * is due by `now`, so tests drive it with a manual clock.
 *
 * Not thread-safe, on purpose: a wheel belongs to the one thread that
 * serves its clients (the receiver), and timers are started, cancelled and
 * fired only on that thread.  That is what makes cancel exact: when
 * tsl__wheel_cancel() returns, the callback is not running (we are the
 * only thread that could run it) and will not run (it is unlinked).
 */
#ifndef TSL_WHEEL_H
#define TSL_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tsl_timer;
/* What a wheel calls for each timer that fires; arg is the wheel's.  The
 * timer is usually a member of a larger struct, found from t. */
typedef void tsl_timer_cb(struct tsl_timer *t, int64_t now, void *arg);

/* 24 bytes: the callback is the wheel's, and a timer is armed while it is
 * linked (a timer of every connection, so every byte counts). */
struct tsl_timer {
    struct tsl_timer *prev, *next; /* circular list; self or NULL: idle */
    uint64_t expires;              /* absolute tick */
};

struct tsl_wheel {
    struct tsl_timer *slots;       /* sentinels */
    size_t nslots;
    uint32_t tick_ms;
    uint64_t tick;                 /* last tick processed */
    int64_t origin_ms;             /* time of tick 0 */
    size_t count;                  /* armed timers */
    tsl_timer_cb *cb;
    void *arg;
};

/* nslots must be a power of two; cb(t, now, arg) is called for each timer
 * that fires.  Returns 0, TSL_EINVAL or TSL_ENOMEM. */
int tsl__wheel_init(struct tsl_wheel *w, uint32_t tick_ms, size_t nslots,
                    int64_t now, tsl_timer_cb *cb, void *arg);
void tsl__wheel_fini(struct tsl_wheel *w);

/* An idle timer (a zeroed one is idle too). */
void tsl__timer_init(struct tsl_timer *t);
bool tsl__timer_armed(const struct tsl_timer *t);
/* Arms t to fire delay_ms after now (rounded up to a tick; at least one
 * tick).  An armed timer is moved (restart). */
void tsl__wheel_start(struct tsl_wheel *w, struct tsl_timer *t, int64_t now,
                      int64_t delay_ms);
/* Disarms t if armed. */
void tsl__wheel_cancel(struct tsl_wheel *w, struct tsl_timer *t);
/* Fires every timer due at or before now, each once; callbacks may start,
 * restart or cancel any timer, including themselves.  Returns how many
 * fired. */
size_t tsl__wheel_advance(struct tsl_wheel *w, int64_t now);
/* Milliseconds from now until the next tick that has to be processed, or
 * -1 if no timer is armed. */
int64_t tsl__wheel_timeout(const struct tsl_wheel *w, int64_t now);

#endif

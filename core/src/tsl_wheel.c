/*
 * tsl_wheel.c - hashed timer wheel (the course's WheelTimer, without its
 * own thread: see tsl_wheel.h for why the owner thread drives it).
 *
 * Advancing processes every slot between the last processed tick and the
 * current one; a slot's list is first moved to a local list so that
 * callbacks may freely cancel or re-arm timers (including ones still
 * waiting in that local list, since unlinking needs no list head), and
 * timers of a later turn are put back.  Large jumps in time are capped at
 * one full turn of slots, which visits every timer once.
 */
#include "tsl_wheel.h"

#include <stdlib.h>

#include "tsl.h"
#include "tsl_sys.h"

static void
list_init(struct tsl_timer *h)
{
    h->prev = h->next = h;
}

static void
unlink_timer(struct tsl_timer *t)
{
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = t;
}

static void
insert_tail(struct tsl_timer *h, struct tsl_timer *t)
{
    t->prev = h->prev;
    t->next = h;
    h->prev->next = t;
    h->prev = t;
}

int
tsl__wheel_init(struct tsl_wheel *w, uint32_t tick_ms, size_t nslots,
                int64_t now, tsl_timer_cb *cb, void *arg)
{
    size_t i;

    if (tick_ms == 0 || nslots == 0 || (nslots & (nslots - 1)) != 0)
        return TSL_EINVAL;
    w->slots = tsl__sys->malloc(nslots * sizeof(*w->slots));
    if (w->slots == NULL)
        return TSL_ENOMEM;
    for (i = 0; i < nslots; i++)
        list_init(&w->slots[i]);
    w->nslots = nslots;
    w->tick_ms = tick_ms;
    w->tick = 0;
    w->origin_ms = now;
    w->count = 0;
    w->cb = cb;
    w->arg = arg;
    return 0;
}

void
tsl__wheel_fini(struct tsl_wheel *w)
{
    tsl__sys->free(w->slots);
    w->slots = NULL;
}

void
tsl__timer_init(struct tsl_timer *t)
{
    list_init(t);
    t->expires = 0;
}

bool
tsl__timer_armed(const struct tsl_timer *t)
{
    return t->next != NULL && t->next != t;
}

/* The last tick boundary at or before now (0 before the origin). */
static uint64_t
tick_of(const struct tsl_wheel *w, int64_t now)
{
    return now <= w->origin_ms ? 0 : (uint64_t)(now - w->origin_ms) / w->tick_ms;
}

void
tsl__wheel_start(struct tsl_wheel *w, struct tsl_timer *t, int64_t now,
                 int64_t delay_ms)
{
    int64_t at;
    uint64_t exp;

    tsl__wheel_cancel(w, t);
    if (delay_ms < 0)
        delay_ms = 0;
    /* The first tick boundary at or after now + delay: never early, and at
     * most one tick late when the owner advances at every boundary. */
    at = now + delay_ms - w->origin_ms;
    exp = at <= 0 ? 0 : ((uint64_t)at + w->tick_ms - 1) / w->tick_ms;
    if (exp <= w->tick)
        exp = w->tick + 1;
    t->expires = exp;
    insert_tail(&w->slots[exp & (w->nslots - 1)], t);
    w->count++;
}

void
tsl__wheel_cancel(struct tsl_wheel *w, struct tsl_timer *t)
{
    if (!tsl__timer_armed(t))
        return;
    unlink_timer(t);
    w->count--;
}

size_t
tsl__wheel_advance(struct tsl_wheel *w, int64_t now)
{
    uint64_t target = tick_of(w, now), steps;
    struct tsl_timer local, *t;
    size_t fired = 0;

    steps = target > w->tick ? target - w->tick : 0;
    if (steps > w->nslots) {
        /* Everything in the wheel is visited within one turn. */
        w->tick = target - w->nslots;
        steps = w->nslots;
    }
    while (steps-- > 0) {
        struct tsl_timer *slot;
        w->tick++;
        slot = &w->slots[w->tick & (w->nslots - 1)];
        if (slot->next == slot)
            continue;
        /* Move the slot's timers aside, then sort them out one by one. */
        local.next = slot->next;
        local.prev = slot->prev;
        local.next->prev = &local;
        local.prev->next = &local;
        list_init(slot);
        while (local.next != &local) {
            t = local.next;
            unlink_timer(t);
            if (t->expires > target) {
                insert_tail(&w->slots[t->expires & (w->nslots - 1)], t);
                continue;
            }
            w->count--;
            fired++;
            w->cb(t, now, w->arg);
        }
    }
    return fired;
}

int64_t
tsl__wheel_timeout(const struct tsl_wheel *w, int64_t now)
{
    int64_t next;

    if (w->count == 0)
        return -1;
    next = w->origin_ms + (int64_t)(w->tick + 1) * w->tick_ms;
    return next > now ? next - now : 0;
}

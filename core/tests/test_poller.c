/*
 * test_poller.c - the three readiness backends against one contract
 * (tsl_poller.h), on real descriptors: each ready descriptor comes back
 * with the pointer it was registered with and what it is ready for; a
 * wait fills no more than `max` entries and reports a descriptor once;
 * mod changes the interest, del ends it; a peer's close is reported
 * whatever was asked; a wait with nothing ready times out with 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "tsl_poller.h"

#define NPAIRS 4

static const struct tsl_poller_ops *const backends[] = {
    &tsl__poller_select, &tsl__poller_epoll, &tsl__poller_poll};

/* A wait's entries, with a guard after `max` of them that no backend may
 * touch. */
struct got {
    struct tsl_poll_event ev[NPAIRS];
    struct tsl_poll_event guard;
};

static const struct tsl_poll_event untouched = {(void *)&untouched, 0xdead};

static void
assert_untouched(const struct tsl_poll_event *e)
{
    assert_ptr_equal(e->data, untouched.data);
    assert_int_equal(e->events, untouched.events);
}

static int
wait_into(struct tsl_poller *p, int ms, struct got *g, int max)
{
    int i, n;

    for (i = 0; i < NPAIRS; i++)
        g->ev[i] = untouched;
    g->guard = untouched;
    n = p->ops->wait(p, ms, g->ev, max);
    assert_true(n >= 0 && n <= max);
    for (i = n; i < NPAIRS; i++) /* nothing written past the count */
        assert_untouched(&g->ev[i]);
    assert_untouched(&g->guard);
    return n;
}

/* Which of the pairs' tags came back, as a bit set; each only once. */
static unsigned
tags_of(const struct got *g, int n, int tags[NPAIRS])
{
    unsigned seen = 0, bit;
    int i;

    for (i = 0; i < n; i++) {
        assert_true((int *)g->ev[i].data >= tags &&
                    (int *)g->ev[i].data < tags + NPAIRS);
        bit = 1u << *(int *)g->ev[i].data;
        assert_false(seen & bit);
        seen |= bit;
    }
    return seen;
}

static void
every_backend_keeps_the_contract(void **state)
{
    int sp[NPAIRS][2], tags[NPAIRS], b, i, n;
    struct tsl_poller p;
    struct got g;
    unsigned seen;

    (void)state;
    for (b = 0; b < 3; b++) {
        const struct tsl_poller_ops *ops = backends[b];

        print_message("backend %s\n", ops->name);
        assert_int_equal(tsl__poller_open(&p, ops), 0);
        for (i = 0; i < NPAIRS; i++) {
            assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]), 0);
            tags[i] = i;
            assert_int_equal(ops->add(&p, sp[i][0], TSL_POLL_IN, &tags[i]),
                             0);
        }
        /* Nothing ready: the time runs out. */
        assert_int_equal(wait_into(&p, 0, &g, NPAIRS), 0);
        /* Two readable: both come back, with their pointers, as IN. */
        assert_int_equal(write(sp[1][1], "a", 1), 1);
        assert_int_equal(write(sp[3][1], "b", 1), 1);
        n = wait_into(&p, 1000, &g, NPAIRS);
        assert_int_equal(n, 2);
        assert_int_equal(tags_of(&g, n, tags), (1u << 1) | (1u << 3));
        for (i = 0; i < n; i++)
            assert_true(g.ev[i].events & TSL_POLL_IN);
        /* As many ready as the room for: every entry filled, none past. */
        n = wait_into(&p, 1000, &g, 2);
        assert_int_equal(n, 2);
        /* Less room than ready descriptors: one entry, then the other. */
        n = wait_into(&p, 1000, &g, 1);
        assert_int_equal(n, 1);
        /* Interest changed to OUT: reported writable, not readable. */
        assert_int_equal(ops->mod(&p, sp[1][0], TSL_POLL_OUT, &tags[1]), 0);
        ops->del(&p, sp[3][0], false);
        n = wait_into(&p, 1000, &g, NPAIRS);
        assert_int_equal(n, 1);
        assert_ptr_equal(g.ev[0].data, &tags[1]);
        assert_true(g.ev[0].events & TSL_POLL_OUT);
        assert_false(g.ev[0].events & TSL_POLL_IN);
        /* A peer gone is reported on a descriptor that asks for nothing. */
        assert_int_equal(ops->mod(&p, sp[1][0], 0, &tags[1]), 0);
        assert_int_equal(wait_into(&p, 0, &g, NPAIRS), 0);
        close(sp[1][1]);
        sp[1][1] = -1;
        n = wait_into(&p, 1000, &g, NPAIRS);
        seen = tags_of(&g, n, tags);
        if (ops != &tsl__poller_select) /* select() has no hang-up set */
            assert_int_equal(seen, 1u << 1);
        for (i = 0; i < n; i++)
            assert_true(g.ev[i].events & (TSL_POLL_ERR | TSL_POLL_IN));
        for (i = 0; i < NPAIRS; i++) {
            if (i != 3)
                ops->del(&p, sp[i][0], true);
            close(sp[i][0]);
            if (sp[i][1] >= 0)
                close(sp[i][1]);
        }
        tsl__poller_close(&p);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_backend_keeps_the_contract),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

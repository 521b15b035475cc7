/* test_fault_plan.c - the fault plan parser: accepted and refused plans,
 * the canonical form, per-connection lookup. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tsl_fault_plan.h"

static void
parses_every_fault(void **state)
{
    struct tsl_fault_plan p;
    const struct tsl_fault_rule *r;
    char err[200], text[512];

    (void)state;
    assert_int_equal(tsl_fault_plan_parse(
                         "split=1..3,short=7,coalesce=64,delay=5,eintr=30,"
                         "eagain=0,fin_loss@conn=2,crash_silent=100@conn=3,"
                         "crash_reset,accept_fail=EMFILE:2..4,fail=9,"
                         "fail_from=20,seed=42",
                         &p, err, sizeof(err)),
                     0);
    assert_int_equal(p.seed, 42);
    assert_int_equal(p.nrules, 12);
    r = tsl_fault_plan_find(&p, TSL_FAULT_SPLIT, 5);
    assert_non_null(r);
    assert_int_equal(r->a, 1);
    assert_int_equal(r->b, 3);
    assert_null(tsl_fault_plan_find(&p, TSL_FAULT_FIN_LOSS, 1));
    assert_non_null(tsl_fault_plan_find(&p, TSL_FAULT_FIN_LOSS, 2));
    r = tsl_fault_plan_find(&p, TSL_FAULT_CRASH_SILENT, 3);
    assert_int_equal(r->a, 100);
    r = tsl_fault_plan_find(&p, TSL_FAULT_ACCEPT_FAIL, 0);
    assert_int_equal(r->err, EMFILE);
    assert_int_equal(r->b, 4);
    /* The canonical form parses back to the same plan. */
    tsl_fault_plan_format(&p, text, sizeof(text));
    {
        struct tsl_fault_plan q;
        assert_int_equal(tsl_fault_plan_parse(text, &q, err, sizeof(err)), 0);
        assert_memory_equal(&p, &q, sizeof(p));
    }
    assert_int_equal(tsl_fault_plan_parse("", &p, err, sizeof(err)), 0);
    assert_int_equal(p.nrules, 0);
}

static void
a_connection_rule_beats_the_general_one(void **state)
{
    struct tsl_fault_plan p;

    (void)state;
    assert_int_equal(tsl_fault_plan_parse("split=5,split=1@conn=2", &p, NULL,
                                          0), 0);
    assert_int_equal(tsl_fault_plan_find(&p, TSL_FAULT_SPLIT, 1)->a, 5);
    assert_int_equal(tsl_fault_plan_find(&p, TSL_FAULT_SPLIT, 2)->a, 1);
}

static void
parses_the_side_and_the_wire_faults(void **state)
{
    struct tsl_fault_plan p, q;
    char err[200], text[512];

    (void)state;
    assert_int_equal(tsl_fault_plan_parse("side=both,delay=5,jitter=0,"
                                          "bandwidth=1000,slow_close=200,"
                                          "jitter=9@conn=2,seed=3",
                                          &p, err, sizeof(err)),
                     0);
    assert_int_equal(tsl_fault_plan_find(&p, TSL_FAULT_SIDE, 0)->a,
                     TSL_FAULT_SIDE_BOTH);
    assert_int_equal(tsl_fault_plan_find(&p, TSL_FAULT_JITTER, 2)->a, 9);
    assert_int_equal(tsl_fault_plan_find(&p, TSL_FAULT_BANDWIDTH, 1)->a, 1000);
    tsl_fault_plan_format(&p, text, sizeof(text));
    assert_string_equal(text, "side=both,delay=5,jitter=0,bandwidth=1000,"
                              "slow_close=200,jitter=9@conn=2,seed=3");
    assert_int_equal(tsl_fault_plan_parse(text, &q, err, sizeof(err)), 0);
    assert_int_equal(tsl_fault_plan_parse("side=connect", &p, err,
                                          sizeof(err)),
                     0);
    assert_int_equal(tsl_fault_plan_find(&p, TSL_FAULT_SIDE, 0)->a,
                     TSL_FAULT_SIDE_CONNECT);
}

static void
refuses_bad_plans_with_a_reason(void **state)
{
    static const char *const bad[] = {
        "split", "split=0", "split=3..1", "split=1..", "split=..3",
        "split=x", "split=1,split=2", "eintr=101", "coalesce=1..2",
        "frobnicate=1", "seed=1,seed=2", "seed=x", "seed=1@conn=2",
        "split=1@conn=0", "split=1@con=1", "split=1@conn=", "fail=0",
        "fail=3@conn=1", "accept_fail=EMFILE", "accept_fail=EWHAT:1",
        "accept_fail=EMFILE:0", "fin_loss=x", ",split=1", "split=1,",
        "split=1,,short=1", "delay=60001", "split=99999999999999999999999",
        "side", "side=server", "side=accept@conn=1", "side=both,side=accept",
        "jitter=60001", "bandwidth=0", "slow_close=0", "jitter",
    };
    struct tsl_fault_plan p;
    char err[200];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (tsl_fault_plan_parse(bad[i], &p, err, sizeof(err)) != -1)
            fail_msg("'%s' accepted", bad[i]);
        if (err[0] == '\0')
            fail_msg("'%s' refused without a reason", bad[i]);
    }
    assert_int_equal(tsl_fault_plan_parse(NULL, &p, err, sizeof(err)), -1);
}

/* A reason that names a range names the one the parser takes: its upper
 * bound is accepted, one more is refused with that reason. */
static void
ranges_in_reasons_are_the_ones_taken(void **state)
{
    static const struct {
        const char *ok, *bad, *says;
    } cases[] = {
        {"bandwidth=1073741824", "bandwidth=1073741825", "1..1073741824"},
        {"jitter=60000", "jitter=60001", "0..60000"},
    };
    struct tsl_fault_plan p;
    char err[200];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(tsl_fault_plan_parse(cases[i].ok, &p, err,
                                              sizeof(err)), 0);
        assert_int_equal(tsl_fault_plan_parse(cases[i].bad, &p, err,
                                              sizeof(err)), -1);
        if (strstr(err, cases[i].says) == NULL)
            fail_msg("'%s': \"%s\" does not say %s", cases[i].bad, err,
                     cases[i].says);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_every_fault),
        cmocka_unit_test(a_connection_rule_beats_the_general_one),
        cmocka_unit_test(parses_the_side_and_the_wire_faults),
        cmocka_unit_test(refuses_bad_plans_with_a_reason),
        cmocka_unit_test(ranges_in_reasons_are_the_ones_taken),
    };
    return cmocka_run_group_tests_name("fault_plan", tests, NULL, NULL);
}

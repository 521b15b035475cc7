/*
 * test_server.c - the controller's API without traffic: creation
 * arguments, state flags, limits, black-list, configuration rules, the
 * text tables and the stats JSON, and the signal helpers' mask.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tsl.h"
#include "tsl_internal.h"

static void
create_validates_arguments(void **state)
{
    tsl_server_t *srv = NULL;
    char longname[100];

    (void)state;
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(tsl_server_create(NULL, "a", "127.0.0.1", 0), TSL_EINVAL);
    assert_int_equal(tsl_server_create(&srv, NULL, "127.0.0.1", 0),
                     TSL_EINVAL);
    assert_int_equal(tsl_server_create(&srv, "", "127.0.0.1", 0), TSL_EINVAL);
    assert_int_equal(tsl_server_create(&srv, "a b", "127.0.0.1", 0),
                     TSL_EINVAL);
    assert_int_equal(tsl_server_create(&srv, longname, "127.0.0.1", 0),
                     TSL_EINVAL);
    assert_int_equal(tsl_server_create(&srv, "a", "127.0.0.256", 0),
                     TSL_EINVAL);
    assert_int_equal(tsl_server_create(&srv, "a", "no such host", 0),
                     TSL_EINVAL);
    assert_int_equal(tsl_server_create(&srv, "a", "unix:", 0), TSL_EINVAL);
    assert_int_equal(tsl_server_create(&srv, "a", NULL, 0), TSL_EINVAL);
    assert_null(srv);
    assert_int_equal(tsl_server_create(&srv, "a", "127.0.0.1", 4000), 0);
    assert_string_equal(tsl_server_name(srv), "a");
    assert_string_equal(tsl_server_ip(srv), "127.0.0.1");
    assert_int_equal(tsl_server_port(srv), 4000);
    assert_int_equal(tsl_server_flags(srv), TSL_SERVER_INITIALIZED);
    assert_int_equal(tsl_server_destroy(srv), 0);
    /* IPv6 in either spelling, names resolved now, Unix paths. */
    assert_int_equal(tsl_server_create(&srv, "a", "[::1]", 4001), 0);
    assert_string_equal(tsl_server_ip(srv), "::1");
    assert_int_equal(tsl_server_port(srv), 4001);
    assert_int_equal(tsl_server_destroy(srv), 0);
    assert_int_equal(tsl_server_create(&srv, "a", "localhost", 4002), 0);
    assert_true(strcmp(tsl_server_ip(srv), "127.0.0.1") == 0 ||
                strcmp(tsl_server_ip(srv), "::1") == 0);
    assert_int_equal(tsl_server_destroy(srv), 0);
    assert_int_equal(tsl_server_create(&srv, "a", "unix:/tmp/a.sock", 4003),
                     0);
    assert_string_equal(tsl_server_ip(srv), "unix:/tmp/a.sock");
    assert_int_equal(tsl_server_port(srv), 0);
    assert_int_equal(tsl_server_destroy(srv), 0);
    assert_int_equal(tsl_server_destroy(NULL), 0);
}

static void
flags_set_and_clear(void **state)
{
    tsl_server_t *srv;

    (void)state;
    assert_int_equal(tsl_server_create(&srv, "f", "127.0.0.1", 0), 0);
    assert_int_equal(tsl_server_set_flags(srv, TSL_SERVER_NOT_ACCEPTING |
                                                   TSL_SERVER_NOT_LISTENING),
                     0);
    assert_int_equal(tsl_server_flags(srv),
                     TSL_SERVER_INITIALIZED | TSL_SERVER_NOT_ACCEPTING |
                         TSL_SERVER_NOT_LISTENING);
    assert_int_equal(tsl_server_clear_flags(srv, TSL_SERVER_NOT_ACCEPTING), 0);
    assert_int_equal(tsl_server_flags(srv),
                     TSL_SERVER_INITIALIZED | TSL_SERVER_NOT_LISTENING);
    /* Read-only flags cannot be set or cleared. */
    assert_int_equal(tsl_server_set_flags(srv, TSL_SERVER_RUNNING),
                     TSL_EINVAL);
    assert_int_equal(tsl_server_clear_flags(srv, TSL_SERVER_INITIALIZED),
                     TSL_EINVAL);
    assert_int_equal(tsl_server_set_flags(srv, 1u << 20), TSL_EINVAL);
    assert_int_equal(tsl_server_set_flags(srv, TSL_SERVER_MULTI_THREADED),
                     0);
    assert_true(tsl_server_flags(srv) & TSL_SERVER_MULTI_THREADED);
    assert_int_equal(tsl_server_clear_flags(srv, TSL_SERVER_MULTI_THREADED),
                     0);
    assert_false(tsl_server_flags(srv) & TSL_SERVER_MULTI_THREADED);
    tsl_server_destroy(srv);
}

static void
blacklist_and_max_clients(void **state)
{
    tsl_server_t *srv;
    char ip[32];
    int i;

    (void)state;
    assert_int_equal(tsl_server_create(&srv, "b", "127.0.0.1", 0), 0);
    assert_int_equal(tsl_server_blacklist_add(srv, "10.1.2.3"), 0);
    assert_int_equal(tsl_server_blacklist_add(srv, "10.1.2.3"), TSL_EEXIST);
    assert_int_equal(tsl_server_blacklist_add(srv, "10.1.2"), TSL_EINVAL);
    assert_int_equal(tsl_server_blacklist_add(srv, NULL), TSL_EINVAL);
    for (i = 0; i < 40; i++) { /* grows past its first allocation */
        snprintf(ip, sizeof(ip), "10.9.0.%d", i);
        assert_int_equal(tsl_server_blacklist_add(srv, ip), 0);
    }
    assert_int_equal(tsl_server_blacklist_remove(srv, "10.1.2.3"), 0);
    assert_int_equal(tsl_server_blacklist_remove(srv, "10.1.2.3"),
                     TSL_ENOENT);
    assert_int_equal(tsl_server_blacklist_remove(srv, "nope"), TSL_EINVAL);
    /* Networks of both families; an entry is the network it names. */
    assert_int_equal(tsl_server_blacklist_add(srv, "192.168.0.0/16"), 0);
    assert_int_equal(tsl_server_blacklist_add(srv, "192.168.7.7/16"),
                     TSL_EEXIST);
    assert_int_equal(tsl_server_blacklist_add(srv, "192.168.7.7"), 0);
    assert_int_equal(tsl_server_blacklist_add(srv, "2001:db8::/32"), 0);
    assert_int_equal(tsl_server_blacklist_add(srv, "[2001:db8::]/32"),
                     TSL_EEXIST);
    assert_int_equal(tsl_server_blacklist_add(srv, "::1"), 0);
    assert_int_equal(tsl_server_blacklist_add(srv, "10.0.0.0/33"), TSL_EINVAL);
    assert_int_equal(tsl_server_blacklist_remove(srv, "192.168.0.0/16"), 0);
    assert_int_equal(tsl_server_blacklist_remove(srv, "192.168.0.0/16"),
                     TSL_ENOENT);
    assert_int_equal(tsl_server_blacklist_remove(srv, "192.168.7.7"), 0);
    assert_int_equal(tsl_server_blacklist_remove(srv, "2001:db8::/32"), 0);
    assert_int_equal(tsl_server_max_clients(srv), 0);
    assert_int_equal(tsl_server_set_max_clients(srv, 7), 0);
    assert_int_equal(tsl_server_max_clients(srv), 7);
    tsl_server_destroy(srv);
}

static void
configuration_is_checked(void **state)
{
    tsl_server_t *srv;
    tsl_framing_t f;

    (void)state;
    assert_int_equal(tsl_server_create(&srv, "c", "127.0.0.1", 0), 0);
    tsl_framing_default(&f, TSL_FRAMING_FIXED);
    f.fixed_size = 0;
    assert_int_equal(tsl_server_set_framing(srv, &f), TSL_EINVAL);
    f.fixed_size = 4;
    assert_int_equal(tsl_server_set_framing(srv, &f), 0);
    assert_int_equal(tsl_server_set_output_limits(srv, 0, 1, 2, 1),
                     TSL_EINVAL);
    assert_int_equal(tsl_server_set_output_limits(srv, 2, 1, 3, 1),
                     TSL_EINVAL);
    assert_int_equal(tsl_server_set_output_limits(srv, 1, 2, 2, 1),
                     TSL_EINVAL);
    assert_int_equal(tsl_server_set_output_limits(srv, 1, 2, 3, 0),
                     TSL_EINVAL);
    assert_int_equal(tsl_server_set_output_limits(srv, 1, 2, 3, 1), 0);
    assert_int_equal(tsl_server_set_callbacks(srv, NULL, NULL), 0);
    assert_int_equal(tsl_server_set_backend(srv, TSL_BACKEND_EPOLL), 0);
    assert_int_equal(tsl_server_backend(srv), TSL_BACKEND_EPOLL);
    assert_int_equal(tsl_server_set_backend(srv, (tsl_backend_t)7),
                     TSL_EINVAL);
    assert_int_equal(tsl_server_set_backend(srv, TSL_BACKEND_SELECT), 0);
    /* While running, configuration that threads read is refused. */
    assert_int_equal(tsl_server_start(srv), 0);
    assert_true(tsl_server_flags(srv) & TSL_SERVER_RUNNING);
    assert_int_not_equal(tsl_server_port(srv), 0);
    assert_int_equal(tsl_server_start(srv), TSL_EBUSY);
    assert_int_equal(tsl_server_set_framing(srv, &f), TSL_EBUSY);
    assert_int_equal(tsl_server_set_callbacks(srv, NULL, NULL), TSL_EBUSY);
    assert_int_equal(tsl_server_set_output_limits(srv, 1, 2, 3, 1),
                     TSL_EBUSY);
    assert_int_equal(tsl_server_set_backend(srv, TSL_BACKEND_EPOLL),
                     TSL_EBUSY);
    assert_int_equal(tsl_server_stop(srv), 0);
    assert_false(tsl_server_flags(srv) & TSL_SERVER_RUNNING);
    assert_int_equal(tsl_server_stop(srv), 0); /* idempotent */
    tsl_server_destroy(srv);
}

/* At start the hard output limit is raised to the largest message the
 * framing delivers, so that any message can be sent back whole: with
 * `none` that is one read (TSL__READ_MIN), not nothing. */
static void
start_raises_the_hard_limit_to_the_largest_message(void **state)
{
    static const tsl_framing_kind_t kinds[] = {
        TSL_FRAMING_NONE, TSL_FRAMING_FIXED, TSL_FRAMING_VARIABLE,
        TSL_FRAMING_DELIMITER};
    static const size_t largest[] = {TSL__READ_MIN, 4, 65535, 65535 + 1};
    tsl_server_t *srv;
    tsl_framing_t f;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        assert_int_equal(tsl_server_create(&srv, "h", "127.0.0.1", 0), 0);
        tsl_framing_default(&f, kinds[i]);
        f.fixed_size = 4;
        assert_int_equal(tsl_server_set_framing(srv, &f), 0);
        assert_int_equal(tsl_server_set_output_limits(srv, 1, 2, 3, 1), 0);
        assert_int_equal(tsl_server_start(srv), 0);
        assert_true(srv->out_hard >= largest[i]);
        assert_int_equal(tsl_server_stop(srv), 0);
        tsl_server_destroy(srv);
    }
}

static void
start_reports_bind_errors(void **state)
{
    tsl_server_t *a, *b;

    (void)state;
    assert_int_equal(tsl_server_create(&a, "a", "127.0.0.1", 0), 0);
    assert_int_equal(tsl_server_start(a), 0);
    assert_int_equal(tsl_server_create(&b, "b", "127.0.0.1",
                                       tsl_server_port(a)), 0);
    assert_int_equal(tsl_server_start(b), TSL_EADDRINUSE);
    assert_false(tsl_server_flags(b) & TSL_SERVER_RUNNING);
    /* 192.0.2.1 (TEST-NET-1) is not an address of this machine. */
    tsl_server_destroy(b);
    assert_int_equal(tsl_server_create(&b, "b", "192.0.2.1", 0), 0);
    assert_int_equal(tsl_server_start(b), TSL_EADDRNOTAVAIL);
    tsl_server_destroy(b);
    tsl_server_destroy(a);
}

static void
text_tables(void **state)
{
    (void)state;
    assert_string_equal(tsl_reason_name(TSL_REASON_PEER_CLOSED),
                        "peer-closed");
    assert_string_equal(tsl_reason_name(TSL_REASON_KA_EXPIRED), "ka-expired");
    assert_string_equal(tsl_reason_name(TSL_REASON_SLOW_CONSUMER),
                        "slow-consumer");
    assert_string_equal(tsl_reason_name(TSL_REASON_SHUTDOWN), "shutdown");
    assert_string_equal(tsl_reason_name(TSL_REASON_COUNT), "unknown");
    assert_string_equal(tsl_reject_name(TSL_REJECT_MAX_CLIENTS),
                        "max-clients");
    assert_string_equal(tsl_reject_name(TSL_REJECT_BLACKLISTED),
                        "blacklisted");
    assert_string_equal(tsl_reject_name(TSL_REJECT_NOT_ACCEPTING),
                        "not-accepting");
    assert_string_equal(tsl_reject_name(TSL_REJECT_COUNT), "unknown");
    assert_string_equal(tsl_strerror(TSL_ENOBUFS),
                        "client output limit reached");
    assert_string_equal(tsl_strerror(0), "success");
    assert_string_equal(tsl_strerror(-123456), "unknown error");
}

static void
stats_json_is_complete_and_sized(void **state)
{
    tsl_server_t *srv;
    char buf[2048], small[10];
    int n;

    (void)state;
    assert_int_equal(tsl_server_create(&srv, "s", "127.0.0.1", 0), 0);
    n = tsl_server_stats_json(srv, buf, sizeof(buf));
    assert_true(n > 0 && (size_t)n == strlen(buf));
    assert_non_null(strstr(buf, "\"accepted\":0"));
    assert_non_null(strstr(buf, "\"fd-exhausted\":0"));
    assert_non_null(strstr(buf, "\"protocol-error\":0"));
    assert_int_equal(buf[0], '{');
    assert_int_equal(buf[n - 1], '}');
    /* Too small a buffer: truncated, NUL-terminated, full length told. */
    assert_int_equal(tsl_server_stats_json(srv, small, sizeof(small)), n);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(tsl_server_stats_json(srv, NULL, 0), n);
    tsl_server_destroy(srv);
}

/* Leaves bytes of all ones where the next call's locals will lie. */
static __attribute__((noinline)) void
dirty_stack(void)
{
    volatile unsigned char junk[4096];
    size_t i;

    for (i = 0; i < sizeof(junk); i++)
        junk[i] = 0xff;
}

/* tsl_signals_block() blocks SIGINT, SIGTERM and SIGHUP, and no other
 * signal that was not blocked before. */
static void
signals_block_adds_the_three_only(void **state)
{
    sigset_t before, after;
    int sig;

    (void)state;
    assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &before), 0);
    dirty_stack();
    assert_int_equal(tsl_signals_block(), 0);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &after), 0);
    for (sig = 1; sig <= 64; sig++) { /* Linux: 1..SIGRTMAX */
        int want = sig == SIGINT || sig == SIGTERM || sig == SIGHUP
                       ? 1
                       : sigismember(&before, sig);
        if (sigismember(&after, sig) != want)
            fail_msg("signal %d: blocked %d, expected %d", sig,
                     sigismember(&after, sig), want);
    }
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &before, NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_validates_arguments),
        cmocka_unit_test(signals_block_adds_the_three_only),
        cmocka_unit_test(flags_set_and_clear),
        cmocka_unit_test(blacklist_and_max_clients),
        cmocka_unit_test(configuration_is_checked),
        cmocka_unit_test(start_raises_the_hard_limit_to_the_largest_message),
        cmocka_unit_test(start_reports_bind_errors),
        cmocka_unit_test(text_tables),
        cmocka_unit_test(stats_json_is_complete_and_sized),
    };
    return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}

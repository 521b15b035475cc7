/* test_clientdb.c - the client database and client reference counts. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tsl_internal.h"

static struct tsl_client *
mk(struct tsl_server *srv, const char *ip, uint16_t port)
{
    struct tsl__addr sa;
    struct tsl_client *c;

    assert_int_equal(tsl__addr_parse(&sa, ip, port), 0);
    c = tsl__client_create(srv, -1, &sa.u); /* no socket: never finished */
    assert_non_null(c);
    return c;
}

static int
setup(void **state)
{
    tsl_server_t *srv;

    assert_int_equal(tsl_server_create(&srv, "db", "127.0.0.1", 0), 0);
    *state = srv;
    return 0;
}

static int
teardown(void **state)
{
    assert_int_equal(tsl_server_destroy(*state), 0);
    return 0;
}

static void
add_find_remove(void **state)
{
    struct tsl_server *srv = *state;
    struct tsl_client *a = mk(srv, "10.0.0.1", 1000);
    struct tsl_client *b = mk(srv, "10.0.0.2", 2000);
    struct tsl_client *f;

    assert_int_not_equal(a->id, b->id);
    tsl__db_add(&srv->db, a);
    tsl__db_add(&srv->db, b);
    assert_int_equal(tsl_server_client_count(srv), 2);
    f = tsl_server_find_client(srv, b->id);
    assert_ptr_equal(f, b);
    assert_int_equal(atomic_load(&b->refs), 3); /* creator, db, lookup */
    tsl_client_unref(f);
    f = tsl_server_find_client_addr(srv, "10.0.0.1", 1000);
    assert_ptr_equal(f, a);
    tsl_client_unref(f);
    assert_null(tsl_server_find_client_addr(srv, "10.0.0.1", 1001));
    assert_null(tsl_server_find_client_addr(srv, NULL, 1000));
    assert_null(tsl_server_find_client(srv, 999999));
    assert_true(tsl__db_remove(&srv->db, a));
    assert_false(tsl__db_remove(&srv->db, a)); /* idempotent */
    assert_int_equal(tsl_server_client_count(srv), 1);
    assert_null(tsl_server_find_client(srv, a->id));
    assert_true(tsl__db_remove(&srv->db, b));
    assert_int_equal(atomic_load(&a->refs), 1);
    tsl_client_unref(a);
    tsl_client_unref(b);
}

/* The peer's text is kept in the client up to IPv4's longest and on the
 * heap beyond it; both are shown and found the same way. */
static void
address_texts_of_every_length(void **state)
{
    static const char *const ips[] = {
        "1.2.3.4", "255.255.255.255", "::1", "2001:db8::ab:1",
        "2001:db8:1234:5678:9abc:def0:1234:5678",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    };
    enum { N = sizeof(ips) / sizeof(ips[0]) };
    struct tsl_server *srv = *state;
    struct tsl_client *c[N], *f;
    size_t i;

    for (i = 0; i < N; i++) {
        c[i] = mk(srv, ips[i], (uint16_t)(7000 + i));
        assert_string_equal(tsl_client_ip(c[i]), ips[i]);
        tsl__db_add(&srv->db, c[i]);
    }
    for (i = 0; i < N; i++) {
        f = tsl_server_find_client_addr(srv, ips[i], (uint16_t)(7000 + i));
        assert_ptr_equal(f, c[i]);
        tsl_client_unref(f);
    }
    for (i = 0; i < N; i++) {
        assert_true(tsl__db_remove(&srv->db, c[i]));
        assert_string_equal(tsl_client_ip(c[i]), ips[i]);
        tsl_client_unref(c[i]); /* frees a heap text too (memcheck twin) */
    }
}

static void
duplicate_addresses_are_allowed(void **state)
{
    struct tsl_server *srv = *state;
    struct tsl_client *a = mk(srv, "127.0.0.1", 5);
    struct tsl_client *b = mk(srv, "127.0.0.1", 5);

    tsl__db_add(&srv->db, a);
    tsl__db_add(&srv->db, b); /* the course asserted here */
    assert_int_equal(tsl_server_client_count(srv), 2);
    assert_true(tsl__db_remove(&srv->db, b));
    assert_true(tsl__db_remove(&srv->db, a));
    tsl_client_unref(a);
    tsl_client_unref(b);
}

static void
count_cb(tsl_client_t *c, void *arg)
{
    (void)c;
    (*(int *)arg)++;
}

static void
foreach_visits_every_client(void **state)
{
    struct tsl_server *srv = *state;
    struct tsl_client *c[5];
    int i, n = 0;

    for (i = 0; i < 5; i++) {
        c[i] = mk(srv, "192.0.2.1", (uint16_t)(100 + i));
        tsl__db_add(&srv->db, c[i]);
    }
    tsl_server_foreach_client(srv, count_cb, &n);
    assert_int_equal(n, 5);
    /* Remove from the middle, the head and the tail. */
    assert_true(tsl__db_remove(&srv->db, c[2]));
    assert_true(tsl__db_remove(&srv->db, c[4]));
    assert_true(tsl__db_remove(&srv->db, c[0]));
    n = 0;
    tsl_server_foreach_client(srv, count_cb, &n);
    assert_int_equal(n, 2);
    assert_true(tsl__db_remove(&srv->db, c[1]));
    assert_true(tsl__db_remove(&srv->db, c[3]));
    for (i = 0; i < 5; i++)
        tsl_client_unref(c[i]);
}

static void
client_accessors_and_closed_client_calls(void **state)
{
    struct tsl_server *srv = *state;
    struct tsl_client *c = mk(srv, "198.51.100.7", 4242);
    tsl_client_stats_t st;

    assert_string_equal(tsl_client_ip(c), "198.51.100.7");
    assert_int_equal(tsl_client_port(c), 4242);
    assert_ptr_equal(tsl_client_server(c), srv);
    assert_int_equal(tsl_client_id(c), c->id);
    /* A client without a socket is not connected. */
    assert_int_equal(tsl_client_send(c, "x", 1), TSL_ENOTCONN);
    assert_int_equal(tsl_client_send(c, "", 0), 0);
    assert_int_equal(tsl_client_disconnect(c), TSL_ENOTCONN);
    tsl_client_stats(c, &st);
    assert_int_equal(st.id, c->id);
    assert_int_equal(st.bytes_out, 0);
    assert_true(st.connect_time_ms > 0);
    tsl_client_unref(c);
    tsl_client_unref(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(add_find_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(address_texts_of_every_length, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(duplicate_addresses_are_allowed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(foreach_visits_every_client, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            client_accessors_and_closed_client_calls, setup, teardown),
    };
    return cmocka_run_group_tests_name("clientdb", tests, NULL, NULL);
}

/*
 * test_net.c - addresses as the API takes them: parsing, the text shown
 * for peers, black-list networks of both families.
 *
 * The test defines getaddrinfo() itself, counting the calls and passing
 * them on to libc's (dlsym RTLD_NEXT): the library's references resolve
 * to the executable's definition, so the test sees which words reach the
 * resolver at all.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "tsl_internal.h"

static int resolver_calls;

int
getaddrinfo(const char *node, const char *service,
            const struct addrinfo *hints, struct addrinfo **res)
{
    static int (*real)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
    resolver_calls++;
    return real != NULL ? real(node, service, hints, res) : EAI_FAIL;
}

static void
text_of(const char *in, uint16_t port, const char *want, uint16_t want_port)
{
    struct tsl__addr a;
    char buf[TSL__ADDR_TEXT];

    assert_int_equal(tsl__addr_parse(&a, in, port), 0);
    tsl__addr_text(&a.u, buf, sizeof(buf));
    assert_string_equal(buf, want);
    assert_int_equal(tsl__addr_port(&a.u), want_port);
}

static void
parse_every_family(void **state)
{
    struct tsl__addr a;

    (void)state;
    text_of("127.0.0.1", 80, "127.0.0.1", 80);
    text_of("::1", 81, "::1", 81);
    text_of("[::1]", 82, "::1", 82);
    text_of("[0:0:0:0:0:0:0:1]", 83, "::1", 83);
    text_of("2001:db8::42", 84, "2001:db8::42", 84);
    /* An IPv4-mapped address is shown, and matched, as the IPv4 one. */
    text_of("::ffff:10.1.2.3", 85, "10.1.2.3", 85);
    text_of("unix:/tmp/tsl.sock", 86, "unix:/tmp/tsl.sock", 0);
    text_of("unix:@tsl-abstract", 0, "unix:@tsl-abstract", 0);
    assert_int_equal(tsl__addr_parse(&a, "::1", 7), 0);
    assert_int_equal(a.u.sa.sa_family, AF_INET6);
    assert_int_equal(a.len, sizeof(struct sockaddr_in6));
    assert_int_equal(tsl__addr_parse(&a, "unix:/x", 0), 0);
    assert_int_equal(a.u.sa.sa_family, AF_UNIX);
    assert_int_equal(a.len, offsetof(struct sockaddr_un, sun_path) + 3);
    assert_int_equal(tsl__addr_parse(&a, "unix:@x", 0), 0);
    assert_int_equal(a.len, offsetof(struct sockaddr_un, sun_path) + 2);
    assert_int_equal(a.u.un.sun_path[0], '\0');
    /* localhost is resolved now, to a loopback address of either family. */
    assert_int_equal(tsl__addr_parse(&a, "localhost", 9), 0);
    assert_true(a.u.sa.sa_family == AF_INET || a.u.sa.sa_family == AF_INET6);
    assert_int_equal(tsl__addr_port(&a.u), 9);
    if (a.u.sa.sa_family == AF_INET)
        assert_int_equal(ntohl(a.u.in.sin_addr.s_addr) >> 24, 127);
    else
        assert_true(IN6_IS_ADDR_LOOPBACK(&a.u.in6.sin6_addr));
}

static void
parse_refuses_bad_words(void **state)
{
    static const char *bad[] = {
        "", "127.0.0.256", "1.2.3", "1.2.3.4.5", "[127.0.0.1]", "[::1",
        "::1]", ":::1", "not a host", "bad_name", "unix:", "unix:@",
        "host:80", "2001:db8::/32", "10.0.0.0/8", "[]",
    };
    struct tsl__addr a;
    char path[200];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (tsl__addr_parse(&a, bad[i], 1) != TSL_EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    /* A word with a character no host name has is refused as it stands:
     * the resolver (files, then DNS: seconds on a machine without one)
     * is not asked. */
    {
        static const char *odd[] = {"not a host", "bad_name", "host:80",
                                    "a*b", "x!", "name\n", "t\tab"};
        for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
            resolver_calls = 0;
            assert_int_equal(tsl__addr_parse(&a, odd[i], 1), TSL_EINVAL);
            if (resolver_calls != 0)
                fail_msg("'%s' was looked up", odd[i]);
        }
        resolver_calls = 0;
        assert_int_equal(tsl__addr_parse(&a, "localhost", 1), 0);
        assert_int_equal(resolver_calls, 1); /* the seam is in place */
    }
    assert_int_equal(tsl__addr_parse(&a, NULL, 1), TSL_EINVAL);
    /* A path that does not fit sun_path (107 bytes and its NUL). */
    memset(path, 'p', sizeof(path));
    memcpy(path, "unix:/", 6);
    path[5 + sizeof(a.u.un.sun_path)] = '\0';
    assert_int_equal(tsl__addr_parse(&a, path, 0), TSL_EINVAL);
    path[5 + sizeof(a.u.un.sun_path) - 1] = '\0';
    assert_int_equal(tsl__addr_parse(&a, path, 0), 0);
}

static void
peer_text(void **state)
{
    union tsl__sa sa;
    char buf[TSL__IP_TEXT];

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.un.sun_family = AF_UNIX; /* an accepted Unix peer has no name */
    tsl__addr_text(&sa, buf, sizeof(buf));
    assert_string_equal(buf, "unix");
    assert_int_equal(tsl__addr_port(&sa), 0);
    /* The longest IPv6 text fits the client's field. */
    sa.in6.sin6_family = AF_INET6;
    memset(&sa.in6.sin6_addr, 0xfe, 16);
    tsl__addr_text(&sa, buf, sizeof(buf));
    assert_string_equal(buf, "fefe:fefe:fefe:fefe:fefe:fefe:fefe:fefe");
    memset(&sa, 0, sizeof(sa));
    sa.sa.sa_family = AF_PACKET;
    tsl__addr_text(&sa, buf, sizeof(buf));
    assert_string_equal(buf, "?");
}

static bool
in_net(const char *host, const char *net)
{
    struct tsl__host h, n;
    unsigned hb, nb;

    assert_int_equal(tsl__host_parse(host, &h, &hb), 0);
    assert_int_equal(tsl__host_parse(net, &n, &nb), 0);
    return tsl__host_in(&h, &n, nb);
}

static void
networks_of_both_families(void **state)
{
    static const char *bad[] = {
        "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
        "10.0.0.0/+8", "::/129", "/8", "localhost", "unix:/x", "10.1.2",
        "::ffff:10.0.0.0/95", "10.0.0.0/99999999999999999999",
    };
    struct tsl__host h;
    unsigned bits;
    size_t i;

    (void)state;
    assert_int_equal(tsl__host_parse("10.1.2.3", &h, &bits), 0);
    assert_int_equal(bits, 32);
    assert_int_equal(tsl__host_parse("::1", &h, &bits), 0);
    assert_int_equal(bits, 128);
    assert_int_equal(tsl__host_parse("[::1]/64", &h, &bits), 0);
    assert_int_equal(bits, 64);
    /* Host bits of a network are cleared: 10.1.2.3/8 is 10.0.0.0/8. */
    assert_int_equal(tsl__host_parse("10.1.2.3/8", &h, &bits), 0);
    assert_int_equal(h.a[0], 10);
    assert_int_equal(h.a[1] | h.a[2] | h.a[3], 0);
    assert_int_equal(tsl__host_parse("10.255.2.3/9", &h, &bits), 0);
    assert_int_equal(h.a[1], 0x80);
    /* A mapped network is the IPv4 network it names. */
    assert_int_equal(tsl__host_parse("::ffff:10.0.0.0/104", &h, &bits), 0);
    assert_int_equal(h.fam, AF_INET);
    assert_int_equal(bits, 8);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (tsl__host_parse(bad[i], &h, &bits) != TSL_EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(tsl__host_parse(NULL, &h, &bits), TSL_EINVAL);

    assert_true(in_net("10.1.2.3", "10.0.0.0/8"));
    assert_false(in_net("11.1.2.3", "10.0.0.0/8"));
    assert_true(in_net("10.1.2.3", "10.1.2.3"));
    assert_false(in_net("10.1.2.4", "10.1.2.3"));
    assert_true(in_net("10.127.0.1", "10.0.0.0/9"));
    assert_false(in_net("10.128.0.1", "10.0.0.0/9"));
    assert_true(in_net("192.168.1.1", "0.0.0.0/0"));
    assert_false(in_net("::1", "0.0.0.0/0")); /* families apart */
    assert_true(in_net("::1", "::/0"));
    assert_true(in_net("2001:db8:1::5", "2001:db8::/32"));
    assert_false(in_net("2001:db9::5", "2001:db8::/32"));
    assert_true(in_net("2001:db8::ff", "2001:db8::80/121"));
    assert_false(in_net("2001:db8::7f", "2001:db8::80/121"));
    assert_true(in_net("::ffff:10.9.9.9", "10.0.0.0/8"));
    assert_false(in_net("10.9.9.9", "::/0"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_every_family),
        cmocka_unit_test(parse_refuses_bad_words),
        cmocka_unit_test(peer_text),
        cmocka_unit_test(networks_of_both_families),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

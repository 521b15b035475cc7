/* test_cli_parse.c - the CLI grammar: commands, errors, completion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tsl.h"
#include "tsl_cli_parse.h"

static void
parses_the_course_commands(void **state)
{
    struct tsl_cli_cmd c;
    char err[200];

    (void)state;
    assert_int_equal(tsl_cli_parse("config tcp-server s1", &c, err, 200), 0);
    assert_int_equal(c.op, TSL_CLI_CREATE);
    assert_string_equal(c.name, "s1");
    assert_false(c.has_addr);
    assert_int_equal(tsl_cli_parse("  config   tcp-server s1 10.0.0.1 0\n",
                                   &c, err, 200), 0);
    assert_true(c.has_addr);
    assert_string_equal(c.ip, "10.0.0.1");
    assert_int_equal(c.port, 0);
    assert_int_equal(tsl_cli_parse("config tcp-server s1 no disable-conn-accept",
                                   &c, err, 200), 0);
    assert_int_equal(c.op, TSL_CLI_ACCEPT);
    assert_true(c.no);
    assert_int_equal(tsl_cli_parse("config tcp-server s1 max-client-limit 12",
                                   &c, err, 200), 0);
    assert_int_equal(c.num, 12);
    assert_int_equal(tsl_cli_parse("config tcp-server s1 no max-client-limit",
                                   &c, err, 200), 0);
    assert_true(c.no);
    assert_int_equal(tsl_cli_parse(
                         "config tcp-server s1 ka-interval 5 client 1.2.3.4 9",
                         &c, err, 200), 0);
    assert_int_equal(c.op, TSL_CLI_KA_INTERVAL);
    assert_int_equal(c.num, 5);
    assert_int_equal(c.port, 9);
    assert_int_equal(tsl_cli_parse("config tcp-server s1 framing fixed 8", &c,
                                   err, 200), 0);
    assert_string_equal(c.spec, "fixed:8");
    assert_int_equal(tsl_cli_parse("config tcp-server s1 backend epoll", &c,
                                   err, 200), 0);
    assert_int_equal(c.op, TSL_CLI_BACKEND);
    assert_int_equal(c.num, TSL_BACKEND_EPOLL);
    assert_int_equal(tsl_cli_parse("config tcp-server s1 backend select", &c,
                                   err, 200), 0);
    assert_int_equal(c.num, TSL_BACKEND_SELECT);
    assert_int_equal(tsl_cli_parse("config tcp-server s1 backend kqueue", &c,
                                   err, 200), -1);
    assert_non_null(strstr(err, "select"));
    assert_non_null(strstr(err, "epoll"));
    assert_int_equal(tsl_cli_parse("config tcp-server s1 no client 1.2.3.4 5 "
                                   "multi-threaded",
                                   &c, err, 200), 0);
    assert_int_equal(c.op, TSL_CLI_MIGRATE);
    assert_true(c.no);
    assert_int_equal(tsl_cli_parse("run tcp-server s1 client send 1.2.3.4 5 "
                                   " two  spaces kept\r\n",
                                   &c, err, 200), 0);
    assert_int_equal(c.op, TSL_CLI_SEND);
    assert_string_equal(c.text, "two  spaces kept");
    assert_int_equal(tsl_cli_parse("show tcp-server s1 client 1.2.3.4 5 stats "
                                   "--json",
                                   &c, err, 200), 0);
    assert_int_equal(c.op, TSL_CLI_SHOW_CLIENT);
    assert_true(c.json);
    assert_int_equal(tsl_cli_parse("# a comment", &c, err, 200), 0);
    assert_int_equal(c.op, TSL_CLI_NOP);
    assert_int_equal(tsl_cli_parse("", &c, err, 200), 0);
    assert_int_equal(c.op, TSL_CLI_NOP);
}

static void
errors_say_what_was_expected(void **state)
{
    static const char *const cases[][2] = {
        {"config tcp-server a 1.2.3.999 1", "bad IP '1.2.3.999'"},
        {"config tcp-server a 1.2.3.4 99999", "port '99999' out of range"},
        {"config tcp-server a max-client-limit 99999999999", "out of range"},
        {"config tcp-server a max-client-limit -1", "is not a number"},
        {"config tcp-server a start extra", "unexpected 'extra'"},
        {"config tcp-server a frobnicate", "unknown word 'frobnicate'"},
        {"config", "expected tcp-server"},
        {"config tcp-server a no frob", "expected: disable-conn-accept"},
        {"launch", "unknown command 'launch'"},
        {"config tcp-server a framing wat", "unknown framing 'wat'"},
        {"config tcp-server a framing fixed 1 2", "expected one framing"},
        {"help --json", "'--json' goes only with show commands"},
        {"run tcp-server a client send 1.2.3.4 5", "expected <text>"},
    };
    struct tsl_cli_cmd c;
    char err[200];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_int_equal(tsl_cli_parse(cases[i][0], &c, err, sizeof(err)), -1);
        if (strstr(err, cases[i][1]) == NULL)
            fail_msg("'%s': got '%s', expected '%s'", cases[i][0], err,
                     cases[i][1]);
    }
    assert_int_equal(tsl_cli_parse(NULL, &c, err, sizeof(err)), -1);
}

struct seen {
    char words[32][32];
    int n, params;
};

static void
emit(const char *word, const char *help, bool kw, void *arg)
{
    struct seen *s = arg;

    assert_non_null(help);
    if (!kw)
        s->params++;
    else if (s->n < 32)
        strcpy(s->words[s->n++], word);
}

static bool
has(const struct seen *s, const char *w)
{
    int i;

    for (i = 0; i < s->n; i++)
        if (strcmp(s->words[i], w) == 0)
            return true;
    return false;
}

static void
completion_lists_what_may_follow(void **state)
{
    struct seen s;

    (void)state;
    memset(&s, 0, sizeof(s));
    tsl_cli_complete("", emit, &s);
    assert_true(has(&s, "config") && has(&s, "run") && has(&s, "show") &&
                has(&s, "help") && has(&s, "exit"));
    memset(&s, 0, sizeof(s));
    tsl_cli_complete("con", emit, &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.words[0], "config");
    memset(&s, 0, sizeof(s));
    tsl_cli_complete("config tcp-server ", emit, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(s.params, 1); /* <name> */
    memset(&s, 0, sizeof(s));
    tsl_cli_complete("config tcp-server a ", emit, &s);
    assert_true(has(&s, "start") && has(&s, "no") && has(&s, "framing"));
    assert_true(s.params >= 1); /* <ip> */
    memset(&s, 0, sizeof(s));
    tsl_cli_complete("config tcp-server a no d", emit, &s);
    assert_int_equal(s.n, 2); /* disable-conn-accept, disable-client-listen */
    memset(&s, 0, sizeof(s));
    tsl_cli_complete("config tcp-server a start ", emit, &s);
    assert_int_equal(s.n + s.params, 0);
    assert_non_null(strstr(tsl_cli_help(), "config tcp-server NAME"));
}

/* One line that must parse, with the address text and kind it gives. */
static void
addr_is(const char *line, tsl_cli_op_t op, const char *ip, tsl_cli_addr_t kind,
        unsigned port)
{
    struct tsl_cli_cmd c;
    char err[200] = "";

    if (tsl_cli_parse(line, &c, err, sizeof(err)) != 0)
        fail_msg("'%s' refused: %s", line, err);
    if (c.op != op || !c.has_addr || strcmp(c.ip, ip) != 0 || c.addr != kind ||
        c.port != port)
        fail_msg("'%s': op %d ip '%s' kind %d port %u, expected op %d ip "
                 "'%s' kind %d port %u",
                 line, (int)c.op, c.ip, (int)c.addr, c.port, (int)op, ip,
                 (int)kind, port);
}

static void
address_words_pass_through_as_typed(void **state)
{
    struct tsl_cli_cmd c;
    char err[200], line[400], name[300];

    (void)state;
    addr_is("config tcp-server s 127.0.0.1 40000", TSL_CLI_CREATE, "127.0.0.1",
            TSL_CLI_ADDR_IPV4, 40000);
    addr_is("config tcp-server s ::1 0", TSL_CLI_CREATE, "::1",
            TSL_CLI_ADDR_IPV6, 0);
    addr_is("config tcp-server s [::1] 7", TSL_CLI_CREATE, "::1",
            TSL_CLI_ADDR_IPV6, 7);
    addr_is("config tcp-server s [2001:db8::42] 7", TSL_CLI_CREATE,
            "2001:db8::42", TSL_CLI_ADDR_IPV6, 7);
    addr_is("config tcp-server s :: 7", TSL_CLI_CREATE, "::",
            TSL_CLI_ADDR_IPV6, 7);
    addr_is("config tcp-server s ::ffff:10.0.0.1 7", TSL_CLI_CREATE,
            "::ffff:10.0.0.1", TSL_CLI_ADDR_IPV6, 7);
    addr_is("config tcp-server s fe80::1%eth0 7", TSL_CLI_CREATE,
            "fe80::1%eth0", TSL_CLI_ADDR_IPV6, 7);
    addr_is("config tcp-server s localhost 8080", TSL_CLI_CREATE, "localhost",
            TSL_CLI_ADDR_NAME, 8080);
    addr_is("config tcp-server s Web-1.example.org. 1", TSL_CLI_CREATE,
            "Web-1.example.org.", TSL_CLI_ADDR_NAME, 1);
    addr_is("config tcp-server s db 5432", TSL_CLI_CREATE, "db",
            TSL_CLI_ADDR_NAME, 5432);
    addr_is("config tcp-server s unix:/tmp/s.sock", TSL_CLI_CREATE,
            "unix:/tmp/s.sock", TSL_CLI_ADDR_UNIX, 0);
    addr_is("config tcp-server s connect localhost 9", TSL_CLI_CONNECT,
            "localhost", TSL_CLI_ADDR_NAME, 9);
    addr_is("config tcp-server s connect [::1] 9", TSL_CLI_CONNECT, "::1",
            TSL_CLI_ADDR_IPV6, 9);
    addr_is("config tcp-server s connect unix:rel/path", TSL_CLI_CONNECT,
            "unix:rel/path", TSL_CLI_ADDR_UNIX, 0);
    addr_is("config tcp-server s no connect ::1 9", TSL_CLI_CONNECT, "::1",
            TSL_CLI_ADDR_IPV6, 9);
    addr_is("config tcp-server s no connect unix:/x", TSL_CLI_CONNECT,
            "unix:/x", TSL_CLI_ADDR_UNIX, 0);
    assert_int_equal(tsl_cli_parse("config tcp-server s no connect ::1 9", &c,
                                   err, sizeof(err)), 0);
    assert_true(c.no);
    /* Clients are named by the literal address they come from. */
    addr_is("run tcp-server s client send ::1 5 hi", TSL_CLI_SEND, "::1",
            TSL_CLI_ADDR_IPV6, 5);
    addr_is("run tcp-server s client disconnect [fd00::2] 5",
            TSL_CLI_DISCONNECT, "fd00::2", TSL_CLI_ADDR_IPV6, 5);
    addr_is("show tcp-server s client ::1 5 stats", TSL_CLI_SHOW_CLIENT, "::1",
            TSL_CLI_ADDR_IPV6, 5);
    addr_is("config tcp-server s client ::1 5 multi-threaded", TSL_CLI_MIGRATE,
            "::1", TSL_CLI_ADDR_IPV6, 5);
    /* Black-list entries: either family, with or without a prefix. */
    addr_is("config tcp-server s client black-list 10.0.0.0/8",
            TSL_CLI_BLACKLIST, "10.0.0.0/8", TSL_CLI_ADDR_IPV4, 0);
    addr_is("config tcp-server s client black-list [fd00::]/64",
            TSL_CLI_BLACKLIST, "fd00::/64", TSL_CLI_ADDR_IPV6, 0);
    addr_is("config tcp-server s no client black-list ::1", TSL_CLI_BLACKLIST,
            "::1", TSL_CLI_ADDR_IPV6, 0);
    /* The longest host name there can be (four labels of 63, 253 bytes). */
    memset(name, 'a', 253);
    name[63] = name[127] = name[191] = '.';
    name[253] = '\0';
    snprintf(line, sizeof(line), "config tcp-server s %s 1", name);
    addr_is(line, TSL_CLI_CREATE, name, TSL_CLI_ADDR_NAME, 1);
}

static void
bad_address_words_say_why(void **state)
{
    static const char *const cases[][2] = {
        {"config tcp-server s 1.2.3 1", "bad IP '1.2.3'"},
        {"config tcp-server s 12345 1", "bad IP '12345'"},
        {"config tcp-server s ::g 1", "bad IPv6 address '::g'"},
        {"config tcp-server s 1::2::3 1", "bad IPv6 address"},
        {"config tcp-server s [::1 1", "bad address '[::1'"},
        {"config tcp-server s [::1]:80 1", "bad address '[::1]:80'"},
        {"config tcp-server s [10.0.0.1] 1", "bad IPv6 address '[10.0.0.1]'"},
        {"config tcp-server s fe80::1% 1", "bad IPv6 address"},
        {"config tcp-server s -bad.example 1", "bad IP '-bad.example'"},
        {"config tcp-server s bad-.example 1", "bad IP 'bad-.example'"},
        {"config tcp-server s a..b 1", "bad IP 'a..b'"},
        {"config tcp-server s under_score.org 1", "bad IP 'under_score.org'"},
        {"config tcp-server s unix:/tmp/x 1", "unexpected '1'"},
        {"config tcp-server s unix: ", "bad Unix socket 'unix:'"},
        {"config tcp-server s connect unix:/x 9", "unexpected '9'"},
        {"config tcp-server s connect localhost", "expected <port>"},
        {"config tcp-server s localhost", "expected <port>"},
        {"config tcp-server s localhost http", "'http' is not a number"},
        /* A word of letters where a keyword fits is a wrong keyword. */
        {"config tcp-server s frobnicate", "unknown word 'frobnicate'"},
        {"config tcp-server s frobnicate", "expected: "},
        /* Clients are literals: a name is refused there. */
        {"run tcp-server s client disconnect localhost 5", "bad IP 'localhost'"},
        {"run tcp-server s client disconnect a.example 5", "bad IP 'a.example'"},
        {"config tcp-server s client black-list localhost", "bad IP"},
        {"config tcp-server s client black-list 10.0.0.0/33", "longer than 32"},
        {"config tcp-server s client black-list ::/129", "longer than 128"},
        {"config tcp-server s client black-list 10.0.0.0/", "bad prefix"},
        {"config tcp-server s client black-list 10.0.0.0/x", "bad prefix"},
        {"show tcp-server s client unix:/x 5 stats", "is a Unix socket"},
    };
    struct tsl_cli_cmd c;
    char err[300], line[600], name[300];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        if (tsl_cli_parse(cases[i][0], &c, err, sizeof(err)) != -1)
            fail_msg("'%s' accepted", cases[i][0]);
        if (strstr(err, cases[i][1]) == NULL)
            fail_msg("'%s': got '%s', expected '%s'", cases[i][0], err,
                     cases[i][1]);
    }
    /* One byte too many: a label of 64, a name of 254, a path of 108. */
    memset(name, 'a', 64);
    name[64] = '\0';
    snprintf(line, sizeof(line), "config tcp-server s %s.org 1", name);
    assert_int_equal(tsl_cli_parse(line, &c, err, sizeof(err)), -1);
    memset(name, 'a', 254);
    name[63] = name[127] = name[191] = '.';
    name[254] = '\0';
    snprintf(line, sizeof(line), "config tcp-server s %s 1", name);
    assert_int_equal(tsl_cli_parse(line, &c, err, sizeof(err)), -1);
    memset(name, 'p', 108);
    name[108] = '\0';
    snprintf(line, sizeof(line), "config tcp-server s unix:%s", name);
    assert_int_equal(tsl_cli_parse(line, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than 107"));
    name[107] = '\0';
    snprintf(line, sizeof(line), "config tcp-server s unix:%s", name);
    assert_int_equal(tsl_cli_parse(line, &c, err, sizeof(err)), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_the_course_commands),
        cmocka_unit_test(errors_say_what_was_expected),
        cmocka_unit_test(completion_lists_what_may_follow),
        cmocka_unit_test(address_words_pass_through_as_typed),
        cmocka_unit_test(bad_address_words_say_why),
    };
    return cmocka_run_group_tests_name("cli_parse", tests, NULL, NULL);
}

/* test_cli_parse.c - the CLI grammar: commands, errors, completion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_the_course_commands),
        cmocka_unit_test(errors_say_what_was_expected),
        cmocka_unit_test(completion_lists_what_may_follow),
    };
    return cmocka_run_group_tests_name("cli_parse", tests, NULL, NULL);
}

/*
 * tsl_cli_parse.c - the CLI grammar: a table of patterns, a tokenizer, a
 * matcher, and completion over the same table.
 *
 * A pattern is a sequence of keywords and typed parameters.  A line is
 * matched against every pattern; parameters are checked as they are
 * matched, and when no pattern matches the error reported is that of the
 * pattern that got furthest, so the message points at the first word that
 * is wrong and says what was expected there.  Pure; any thread.
 */
#include "tsl_cli_parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsl.h"

enum ptype {
    P_END,
    P_KW,     /* keyword */
    P_NAME,   /* server name */
    P_IP,     /* a client's address: IPv4 or IPv6 literal */
    P_HOST,   /* where to listen or connect: a literal or a host name */
    P_NET,    /* a black-list entry: a literal, maybe with /PREFIX */
    P_UNIX,   /* unix:PATH */
    P_PORT,   /* 1..65535 */
    P_LPORT,  /* 0..65535: a port to listen on, 0 picks one */
    P_NUM,    /* 0..4294967295 */
    P_SPEC,   /* framing: the rest of the line */
    P_TEXT    /* the rest of the line, raw */
};

struct pspec {
    enum ptype t;
    const char *word;   /* P_KW: the keyword; otherwise a placeholder */
    const char *help;
};

#define KW(w, h) {P_KW, w, h}
#define NAME {P_NAME, "<name>", "server name"}
#define IP {P_IP, "<ip>", "a client's address: IPv4 or IPv6 (::1, [::1])"}
#define HOST {P_HOST, "<addr>", "IPv4, IPv6 (::1, [::1]) or a host name"}
#define NET {P_NET, "<ip>[/len]", "IPv4 or IPv6 address, or a prefix"}
#define UNIX {P_UNIX, "unix:<path>", "a Unix domain socket"}
#define PORT {P_PORT, "<port>", "port 1..65535"}
#define NUM(h) {P_NUM, "<n>", h}
#define END {P_END, NULL, NULL}

struct pattern {
    tsl_cli_op_t op;
    bool no;
    bool show; /* accepts a trailing --json */
    struct pspec p[12];
};

#define CFG KW("config", "change configuration"), \
            KW("tcp-server", "a TCP server"), NAME
#define RUN KW("run", "act on a server"), KW("tcp-server", "a TCP server"), NAME
#define NO KW("no", "undo a setting")

static const struct pattern patterns[] = {
    {TSL_CLI_CREATE, 0, 0, {CFG, END}},
    /* unix: first: its own complaint about a unix: word wins ties. */
    {TSL_CLI_CREATE, 0, 0, {CFG, UNIX, END}},
    {TSL_CLI_CREATE, 0, 0,
     {CFG, HOST, {P_LPORT, "<port>", "port 0..65535, 0 picks a free one"},
      END}},
    {TSL_CLI_START, 0, 0, {CFG, KW("start", "start the server"), END}},
    {TSL_CLI_ABORT, 0, 0,
     {CFG, KW("abort", "stop gracefully and delete"), END}},
    {TSL_CLI_ACCEPT, 0, 0,
     {CFG, KW("disable-conn-accept", "refuse new connections"), END}},
    {TSL_CLI_ACCEPT, 1, 0,
     {CFG, NO, KW("disable-conn-accept", "refuse new connections"), END}},
    {TSL_CLI_LISTEN, 0, 0,
     {CFG, KW("disable-client-listen", "stop reading from clients"), END}},
    {TSL_CLI_LISTEN, 1, 0,
     {CFG, NO, KW("disable-client-listen", "stop reading from clients"),
      END}},
    {TSL_CLI_THREADED, 0, 0,
     {CFG, KW("multi-threaded-mode", "a thread per new client"), END}},
    {TSL_CLI_THREADED, 1, 0,
     {CFG, NO, KW("multi-threaded-mode", "a thread per new client"), END}},
    {TSL_CLI_MAX_CLIENTS, 0, 0,
     {CFG, KW("max-client-limit", "limit connected clients"),
      NUM("maximum clients, 0: none"), END}},
    {TSL_CLI_MAX_CLIENTS, 1, 0,
     {CFG, NO, KW("max-client-limit", "limit connected clients"), END}},
    {TSL_CLI_MAX_CLIENTS, 1, 0,
     {CFG, NO, KW("max-client-limit", "limit connected clients"),
      NUM("maximum clients, 0: none"), END}},
    {TSL_CLI_BLACKLIST, 0, 0,
     {CFG, KW("client", "a client by address"),
      KW("black-list", "refuse an address"), NET, END}},
    {TSL_CLI_BLACKLIST, 1, 0,
     {CFG, NO, KW("client", "a client by address"),
      KW("black-list", "refuse an address"), NET, END}},
    {TSL_CLI_KA_INTERVAL, 0, 0,
     {CFG, KW("ka-interval", "keepalive interval"), NUM("milliseconds"),
      END}},
    {TSL_CLI_KA_INTERVAL, 0, 0,
     {CFG, KW("ka-interval", "keepalive interval"), NUM("milliseconds"),
      KW("client", "for one client"), IP, PORT, END}},
    {TSL_CLI_FRAME_TIMEOUT, 0, 0,
     {CFG, KW("frame-timeout", "a started frame must complete in time"),
      NUM("milliseconds, 0: off"), END}},
    {TSL_CLI_FRAMING, 0, 0,
     {CFG, KW("framing", "message demarcation"),
      {P_SPEC, "<spec>",
       "none | fixed N | variable[:opts] | delimiter:HEX[,max=N]"},
      END}},
    {TSL_CLI_BACKEND, 0, 0,
     {CFG, KW("backend", "how the receive thread waits; only while stopped"),
      KW("select", "select(), the course's (default)"), END}},
    {TSL_CLI_BACKEND, 0, 0,
     {CFG, KW("backend", "how the receive thread waits; only while stopped"),
      KW("epoll", "epoll: no FD_SETSIZE limit, cost independent of idle clients"),
      END}},
    {TSL_CLI_MIGRATE, 0, 0,
     {CFG, KW("client", "a client by address"), IP, PORT,
      KW("multi-threaded", "move it to a thread of its own"), END}},
    {TSL_CLI_MIGRATE, 1, 0,
     {CFG, NO, KW("client", "a client by address"), IP, PORT,
      KW("multi-threaded", "move it back to the select loop"), END}},
    {TSL_CLI_CONNECT, 0, 0,
     {CFG, KW("connect", "client mode: connect out"), UNIX, END}},
    {TSL_CLI_CONNECT, 0, 0,
     {CFG, KW("connect", "client mode: connect out"), HOST, PORT, END}},
    {TSL_CLI_CONNECT, 1, 0,
     {CFG, NO, KW("connect", "cancel a client-mode connection"), UNIX, END}},
    {TSL_CLI_CONNECT, 1, 0,
     {CFG, NO, KW("connect", "cancel a client-mode connection"), HOST, PORT,
      END}},
    {TSL_CLI_DISCONNECT, 0, 0,
     {RUN, KW("client", "a client by address"),
      KW("disconnect", "close it"), IP, PORT, END}},
    {TSL_CLI_SEND, 0, 0,
     {RUN, KW("client", "a client by address"), KW("send", "send it text"),
      IP, PORT, {P_TEXT, "<text>", "the text to send"}, END}},
    {TSL_CLI_SHOW, 0, 1,
     {KW("show", "display state"), KW("tcp-server", "TCP servers"), END}},
    {TSL_CLI_SHOW, 0, 1,
     {KW("show", "display state"), KW("tcp-server", "TCP servers"), NAME,
      END}},
    {TSL_CLI_SHOW_CLIENT, 0, 1,
     {KW("show", "display state"), KW("tcp-server", "TCP servers"), NAME,
      KW("client", "a client by address"), IP, PORT,
      KW("stats", "its statistics"), END}},
    {TSL_CLI_HELP, 0, 0, {KW("help", "list the commands"), END}},
    {TSL_CLI_EXIT, 0, 0, {KW("exit", "leave the shell"), END}},
    {TSL_CLI_EXIT, 0, 0, {KW("quit", "leave the shell"), END}},
};
#define NPATTERNS (sizeof(patterns) / sizeof(patterns[0]))

static const char help_text[] =
    "config tcp-server NAME [ADDR PORT | unix:PATH]   create (default "
    "127.0.0.1 40000)\n"
    "config tcp-server NAME start | abort        start; stop and delete\n"
    "config tcp-server NAME [no] disable-conn-accept\n"
    "config tcp-server NAME [no] disable-client-listen\n"
    "config tcp-server NAME [no] multi-threaded-mode\n"
    "config tcp-server NAME [no] max-client-limit N\n"
    "config tcp-server NAME [no] client black-list IP[/LEN]\n"
    "config tcp-server NAME ka-interval N [client IP PORT]   ms; hold 3N\n"
    "config tcp-server NAME frame-timeout N      ms; 0: off\n"
    "config tcp-server NAME framing none|fixed N|variable[:opts]|"
    "delimiter:HEX[,max=N]\n"
    "config tcp-server NAME backend select|epoll\n"
    "config tcp-server NAME [no] client IP PORT multi-threaded   migrate\n"
    "config tcp-server NAME [no] connect ADDR PORT | unix:PATH   client "
    "mode\n"
    "run tcp-server NAME client disconnect IP PORT\n"
    "run tcp-server NAME client send IP PORT TEXT\n"
    "show tcp-server [NAME] [--json]\n"
    "show tcp-server NAME client IP PORT stats [--json]\n"
    "help, exit; '?' after any words lists what may follow\n"
    "ADDR: 127.0.0.1, ::1 or [::1], or a host name such as localhost\n";

const char *
tsl_cli_help(void)
{
    return help_text;
}

/* Whether w is a keyword anywhere in the grammar. */
static bool
is_keyword(const char *w, size_t n)
{
    size_t i, k;

    for (i = 0; i < NPATTERNS; i++)
        for (k = 0; patterns[i].p[k].t != P_END; k++)
            if (patterns[i].p[k].t == P_KW &&
                strlen(patterns[i].p[k].word) == n &&
                memcmp(patterns[i].p[k].word, w, n) == 0)
                return true;
    return false;
}

#define MAXTOK 64

struct toks {
    size_t n;
    size_t off[MAXTOK];   /* start of each token in the line */
    size_t len[MAXTOK];
};

/* Splits on blanks; false if there are too many words. */
static bool
tokenize(const char *line, struct toks *t)
{
    size_t i = 0;

    t->n = 0;
    for (;;) {
        while (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' ||
               line[i] == '\n')
            i++;
        if (line[i] == '\0')
            return true;
        if (t->n == MAXTOK)
            return false;
        t->off[t->n] = i;
        while (line[i] != '\0' && line[i] != ' ' && line[i] != '\t' &&
               line[i] != '\r' && line[i] != '\n')
            i++;
        t->len[t->n] = i - t->off[t->n];
        t->n++;
    }
}

static bool
tok_eq(const char *line, const struct toks *t, size_t k, const char *w)
{
    return strlen(w) == t->len[k] && memcmp(line + t->off[k], w, t->len[k]) == 0;
}

/* Formats a one-line error into err (if errlen > 0); returns -1. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A host name: dot-separated labels of letters, digits and '-', none
 * empty, longer than 63 or starting or ending with '-', at most 253 bytes
 * in all (a final dot allowed).  All digits and dots is an IPv4 attempt,
 * never a name. */
static bool
host_name_ok(const char *w, size_t n)
{
    size_t i, label = 0;
    bool alpha = false;

    if (n > 0 && w[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return false;
    for (i = 0; i <= n; i++) {
        if (i == n || w[i] == '.') {
            if (label == 0 || label > 63 || w[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)w[i]) && w[i] != '-')
            return false;
        if (label == 0 && w[i] == '-')
            return false;
        alpha |= !isdigit((unsigned char)w[i]);
        label++;
    }
    return alpha;
}

static bool is_keyword(const char *w, size_t n);

/* An IPv6 literal, with an optional %zone (an interface name). */
static bool
ipv6_ok(const char *w)
{
    char a[INET6_ADDRSTRLEN + 1];
    struct in6_addr six;
    const char *zone = strchr(w, '%');
    size_t n = zone != NULL ? (size_t)(zone - w) : strlen(w);

    if (n >= sizeof(a))
        return false;
    memcpy(a, w, n);
    a[n] = '\0';
    if (inet_pton(AF_INET6, a, &six) != 1)
        return false;
    if (zone != NULL) {
        if (zone[1] == '\0' || strlen(zone + 1) > 15)
            return false;
        for (zone++; *zone != '\0'; zone++)
            if (!isalnum((unsigned char)*zone) && strchr("._-", *zone) == NULL)
                return false;
    }
    return true;
}

/* An address word for P_IP, P_HOST or P_NET into out->ip: the text as
 * typed, brackets around IPv6 removed; the library resolves names and
 * judges what it can serve.  0, or -1 with err. */
static int
take_addr(enum ptype t, const char *w, struct tsl_cli_cmd *out, char *err,
          size_t errlen)
{
    char a[TSL_CLI_ADDR_MAX + 1];
    struct in_addr four;
    const char *slash = NULL;
    size_t n = strlen(w);
    unsigned long bits = 0;
    bool v6;

    if (strncmp(w, "unix:", 5) == 0)
        return fail(err, errlen,
                    "'%s' is a Unix socket: give it alone, with no port "
                    "(config tcp-server NAME unix:PATH, connect unix:PATH)",
                    w);
    if (t == P_NET && (slash = strchr(w, '/')) != NULL) {
        const char *d = slash + 1;
        if (*d == '\0' || strlen(d) > 3 || strspn(d, "0123456789") != strlen(d))
            return fail(err, errlen,
                        "bad prefix length in '%s' (expected IP/LEN, LEN "
                        "0..32 for IPv4, 0..128 for IPv6)",
                        w);
        bits = strtoul(d, NULL, 10);
        n = (size_t)(slash - w);
    }
    if (n > 0 && w[0] == '[') {
        if (n < 3 || w[n - 1] != ']')
            return fail(err, errlen,
                        "bad address '%s' (expected [IPv6], the port as the "
                        "next word)",
                        w);
        memcpy(a, w + 1, n - 2);
        a[n - 2] = '\0';
        if (!ipv6_ok(a))
            return fail(err, errlen, "bad IPv6 address '%s'", w);
        v6 = true;
    } else {
        memcpy(a, w, n);
        a[n] = '\0';
        v6 = strchr(a, ':') != NULL;
        if (v6 && !ipv6_ok(a))
            return fail(err, errlen,
                        "bad IPv6 address '%s' (expected one like ::1 or "
                        "fe80::1%%eth0)",
                        a);
    }
    if (v6) {
        out->addr = TSL_CLI_ADDR_IPV6;
        if (slash != NULL && bits > 128)
            return fail(err, errlen, "prefix /%lu is longer than 128 bits",
                        bits);
    } else if (inet_pton(AF_INET, a, &four) == 1) {
        out->addr = TSL_CLI_ADDR_IPV4;
        if (slash != NULL && bits > 32)
            return fail(err, errlen, "prefix /%lu is longer than 32 bits",
                        bits);
    } else if (t == P_HOST && host_name_ok(a, strlen(a))) {
        /* "max-client-limit 12" is a setting, never a host and a port: a
         * host called like a command word goes by its full name. */
        if (is_keyword(a, strlen(a)))
            return fail(err, errlen, "'%s' is a command word, not a host "
                        "name here", a);
        out->addr = TSL_CLI_ADDR_NAME;
    } else {
        return fail(err, errlen,
                    "bad IP '%s' (expected an IPv4 address like 127.0.0.1 "
                    "or an IPv6 one like ::1%s)",
                    a, t == P_HOST ? ", or a host name" : "");
    }
    if (slash != NULL)
        snprintf(out->ip, sizeof(out->ip), "%s%s", a, slash);
    else
        snprintf(out->ip, sizeof(out->ip), "%s", a);
    out->has_addr = true;
    return 0;
}

/* Checks one parameter token; fills out; returns 0 or -1 with err. */
static int
take_param(const struct pspec *ps, const char *w, size_t n,
           struct tsl_cli_cmd *out, char *err, size_t errlen)
{
    char buf[TSL_CLI_ADDR_MAX + 1];
    size_t i;

    if (n >= sizeof(buf))
        return fail(err, errlen, "'%.40s...' is too long for %s", w, ps->word);
    memcpy(buf, w, n);
    buf[n] = '\0';
    switch (ps->t) {
    case P_NAME:
        if (n > TSL_CLI_NAME_MAX)
            return fail(err, errlen, "server name '%s' is longer than %d",
                        buf, TSL_CLI_NAME_MAX);
        for (i = 0; i < n; i++)
            if (!isalnum((unsigned char)buf[i]) && buf[i] != '-' &&
                buf[i] != '_' && buf[i] != '.')
                return fail(err, errlen,
                            "bad server name '%s' (expected letters, digits, "
                            "'-', '_', '.')",
                            buf);
        memcpy(out->name, buf, n + 1);
        return 0;
    case P_IP:
    case P_HOST:
    case P_NET:
        return take_addr(ps->t, buf, out, err, errlen);
    case P_UNIX:
        if (strncmp(buf, "unix:", 5) != 0 || n == 5)
            return fail(err, errlen,
                        "bad Unix socket '%s' (expected unix:PATH)", buf);
        if (n - 5 > TSL_CLI_UNIX_PATH_MAX)
            return fail(err, errlen,
                        "Unix socket path longer than %d bytes",
                        TSL_CLI_UNIX_PATH_MAX);
        memcpy(out->ip, buf, n + 1);
        out->addr = TSL_CLI_ADDR_UNIX;
        out->has_addr = true;
        return 0;
    case P_PORT:
    case P_LPORT:
    case P_NUM: {
        unsigned long long v = 0;
        unsigned long long lo = ps->t == P_PORT ? 1 : 0;
        unsigned long long hi = ps->t == P_NUM ? 4294967295ull : 65535;
        bool digits = n > 0;
        for (i = 0; digits && i < n; i++) {
            if (!isdigit((unsigned char)buf[i]))
                digits = false;
            else if (v <= hi) /* stop growing once out of range */
                v = v * 10 + (unsigned)(buf[i] - '0');
        }
        if (!digits)
            return fail(err, errlen, "'%s' is not a number (expected %s %llu..%llu)",
                        buf, ps->t == P_NUM ? "a value" : "a port", lo, hi);
        if (v < lo || v > hi)
            return fail(err, errlen, "%s '%s' out of range (expected %llu..%llu)",
                        ps->t == P_NUM ? "value" : "port", buf, lo, hi);
        if (ps->t == P_NUM)
            out->num = (uint32_t)v;
        else
            out->port = (uint16_t)v;
        return 0;
    }
    default:
        return fail(err, errlen, "internal: unexpected parameter");
    }
}

/* The framing words after `framing`: "fixed N" is accepted for fixed:N. */
static int
take_spec(const char *line, const struct toks *t, size_t k,
          struct tsl_cli_cmd *out, char *err, size_t errlen)
{
    tsl_framing_t f;
    char why[160];
    size_t n = t->n - k;

    if (n == 2 && tok_eq(line, t, k, "fixed"))
        snprintf(out->spec, sizeof(out->spec), "fixed:%.*s",
                 (int)t->len[k + 1], line + t->off[k + 1]);
    else if (n == 1 && t->len[k] < sizeof(out->spec))
        snprintf(out->spec, sizeof(out->spec), "%.*s", (int)t->len[k],
                 line + t->off[k]);
    else
        return fail(err, errlen,
                    "expected one framing after 'framing': none, fixed N, "
                    "variable[:opts] or delimiter:HEX[,max=N]");
    if (tsl_framing_parse(out->spec, &f, why, sizeof(why)) < 0)
        return fail(err, errlen, "%s", why);
    return 0;
}

/* How a pattern failed, to rank error messages at the same depth: a bad
 * parameter says most, a wrong keyword less, extra words least.  F_HOST:
 * the pattern failed after taking a word as a host name - any word of
 * letters can be one, so that match is no better than a keyword that did
 * not fit there ("config tcp-server a frobnicate" is a wrong keyword,
 * not a host whose port is missing). */
enum {
    F_TRAILING = 0,
    F_KEYWORD = 1,
    F_HOST = 2,
    F_PARAM = 3,
    F_SPEC = 4,
    F_KINDS = 5
};

/* Matches line against pattern; returns how many words matched before
 * failing (ntok + 1 when it matched completely) and how in *how. */
static size_t
match(const struct pattern *pt, const char *line, const struct toks *t,
      size_t ntok, struct tsl_cli_cmd *out, char *err, size_t errlen,
      int *how)
{
    size_t k = 0, i, host_at = (size_t)-1;

    *how = F_KEYWORD;

    for (i = 0; pt->p[i].t != P_END; i++) {
        const struct pspec *ps = &pt->p[i];
        if (ps->t == P_TEXT || ps->t == P_SPEC) {
            if (k >= ntok) {
                fail(err, errlen, "expected %s (%s) at the end", ps->word,
                     ps->help);
                goto failed;
            }
            if (ps->t == P_SPEC) {
                *how = F_SPEC; /* the framing parser's message is best */
                if (take_spec(line, t, k, out, err, errlen) < 0)
                    goto failed;
            } else {
                size_t from = t->off[k], end = strlen(line);
                while (end > from && (line[end - 1] == '\n' ||
                                      line[end - 1] == '\r'))
                    end--;
                if (end - from >= sizeof(out->text)) {
                    fail(err, errlen, "text longer than %zu bytes",
                         sizeof(out->text) - 1);
                    goto failed;
                }
                memcpy(out->text, line + from, end - from);
                out->text[end - from] = '\0';
            }
            return ntok + 1;
        }
        if (k >= ntok) {
            fail(err, errlen, "incomplete command: expected %s (%s) after '%.*s'",
                 ps->word, ps->help, (int)(t->off[ntok - 1] + t->len[ntok - 1]),
                 line);
            goto failed;
        }
        if (ps->t == P_KW) {
            if (!tok_eq(line, t, k, ps->word)) {
                fail(err, errlen, "unknown word '%.*s': expected %s",
                     (int)t->len[k], line + t->off[k], ps->word);
                goto failed;
            }
        } else if (take_param(ps, line + t->off[k], t->len[k], out, err,
                              errlen) < 0) {
            /* A word that is not unix:..., or a keyword where a host may
             * stand, is a keyword mismatch here. */
            bool kwlike =
                (ps->t == P_UNIX &&
                 (t->len[k] < 5 || memcmp(line + t->off[k], "unix:", 5))) ||
                (ps->t == P_HOST && is_keyword(line + t->off[k], t->len[k]));
            *how = kwlike ? F_KEYWORD : F_PARAM;
            goto failed;
        } else if (ps->t == P_HOST && out->addr == TSL_CLI_ADDR_NAME &&
                   host_at == (size_t)-1) {
            host_at = k;
        }
        k++;
    }
    if (k < ntok) {
        *how = F_TRAILING;
        fail(err, errlen, "unexpected '%.*s' after a complete command",
             (int)t->len[k], line + t->off[k]);
        goto failed;
    }
    return ntok + 1;
failed:
    if (host_at != (size_t)-1) {
        *how = F_HOST;
        return host_at;
    }
    return k;
}

/* A host name that cannot be a mistyped keyword. */
static bool
looks_like_host(const char *w, size_t n)
{
    return memchr(w, '.', n) != NULL ||
           (n == 9 && memcmp(w, "localhost", 9) == 0);
}

struct expect_list {
    char text[160];
    int n, keywords;
};

static void
add_expected(const char *word, const char *help, bool kw, void *arg)
{
    struct expect_list *l = arg;
    size_t used = strlen(l->text);

    (void)help;
    l->keywords += kw;
    if (used + strlen(word) + 8 < sizeof(l->text))
        snprintf(l->text + used, sizeof(l->text) - used, "%s%s",
                 l->n++ ? ", " : "", word);
    else if (used + 5 < sizeof(l->text) && strstr(l->text, "...") == NULL)
        strcat(l->text, ", ...");
}

/* "unknown word 'X' (expected: a, b, <ip>)" for the word at index at,
 * when keywords could stand there; otherwise the parameter's own error. */
static int
expected_words(const char *line, const struct toks *t, size_t at,
               const char *param_err, char *err, size_t errlen)
{
    struct expect_list l;
    char prefix[TSL_CLI_LINE_MAX];

    memset(&l, 0, sizeof(l));
    memcpy(prefix, line, t->off[at]);
    prefix[t->off[at]] = '\0';
    tsl_cli_complete(prefix, add_expected, &l);
    if (l.keywords == 0)
        return fail(err, errlen, "%s", param_err);
    return fail(err, errlen, "unknown word '%.*s' (expected: %s)",
                (int)t->len[at], line + t->off[at], l.text);
}

int
tsl_cli_parse(const char *line, struct tsl_cli_cmd *out, char *err,
              size_t errlen)
{
    struct tsl_cli_cmd tmp;
    struct toks t;
    char perr[200], best_err[200] = "";
    size_t best = 0, ntok, i, got, score;
    bool json = false;
    int how;

    memset(out, 0, sizeof(*out));
    if (line == NULL)
        return fail(err, errlen, "no command");
    if (strlen(line) >= TSL_CLI_LINE_MAX)
        return fail(err, errlen, "line longer than %d bytes",
                    TSL_CLI_LINE_MAX - 1);
    if (!tokenize(line, &t))
        return fail(err, errlen, "too many words (at most %d)", MAXTOK);
    if (t.n == 0 || line[t.off[0]] == '#') {
        out->op = TSL_CLI_NOP;
        return 0;
    }
    ntok = t.n;
    if (ntok > 1 && tok_eq(line, &t, ntok - 1, "--json")) {
        json = true;
        ntok--;
    }
    for (i = 0; i < NPATTERNS; i++) {
        const struct pattern *pt = &patterns[i];
        if (json && !pt->show)
            continue;
        memset(&tmp, 0, sizeof(tmp));
        perr[0] = '\0';
        got = match(pt, line, &t, ntok, &tmp, perr, sizeof(perr), &how);
        if (got == ntok + 1) {
            *out = tmp;
            out->op = pt->op;
            out->no = pt->no;
            if (pt->op == TSL_CLI_BACKEND) /* the last word says which */
                out->num = tok_eq(line, &t, ntok - 1, "epoll")
                               ? TSL_BACKEND_EPOLL
                               : TSL_BACKEND_SELECT;
            out->json = json;
            return 0;
        }
        score = got * F_KINDS + (size_t)how;
        if (score > best || best_err[0] == '\0') {
            best = score;
            memcpy(best_err, perr, sizeof(best_err));
        }
    }
    if (json && !tok_eq(line, &t, 0, "show"))
        return fail(err, errlen, "'--json' goes only with show commands");
    if (best < F_KINDS) /* not even the first word matched */
        return fail(err, errlen,
                    "unknown command '%.*s' (expected config, run, show, "
                    "help or exit)",
                    (int)t.len[0], line + t.off[0]);
    /* A bad parameter explains itself when the word looks like an attempt
     * at one (a number, or an address: digits, dots, colons, brackets);
     * otherwise list what would fit. */
    if ((best % F_KINDS == F_KEYWORD || best % F_KINDS == F_PARAM ||
         best % F_KINDS == F_HOST) &&
        best / F_KINDS < ntok) {
        size_t at = best / F_KINDS;
        char c0 = line[t.off[at]];
        if (best % F_KINDS == F_HOST) {
            if (!looks_like_host(line + t.off[at], t.len[at]))
                return expected_words(line, &t, at, best_err, err, errlen);
        } else if (best % F_KINDS == F_KEYWORD ||
                   !(isdigit((unsigned char)c0) || c0 == '-' || c0 == '[' ||
                     memchr(line + t.off[at], ':', t.len[at]) != NULL ||
                     memchr(line + t.off[at], '.', t.len[at]) != NULL))
            return expected_words(line, &t, at, best_err, err, errlen);
    }
    return fail(err, errlen, "%s", best_err);
}

int
tsl_cli_complete(const char *line, tsl_cli_emit_fn *emit, void *arg)
{
    struct tsl_cli_cmd tmp;
    struct toks t;
    const char *seen[NPATTERNS];
    size_t nseen = 0, done, plen, i, j, k;
    const char *partial;
    bool trailing;
    int count = 0;

    if (line == NULL || strlen(line) >= TSL_CLI_LINE_MAX ||
        !tokenize(line, &t))
        return 0;
    trailing = t.n == 0 || line[strlen(line) - 1] == ' ' ||
               line[strlen(line) - 1] == '\t';
    done = trailing ? t.n : t.n - 1;
    partial = trailing ? "" : line + t.off[t.n - 1];
    plen = trailing ? 0 : t.len[t.n - 1];
    for (i = 0; i < NPATTERNS; i++) {
        const struct pattern *pt = &patterns[i];
        bool ok = true;
        memset(&tmp, 0, sizeof(tmp));
        for (k = 0; k < done && ok; k++) {
            const struct pspec *ps = &pt->p[k];
            if (ps->t == P_END || ps->t == P_TEXT || ps->t == P_SPEC)
                ok = false;
            else if (ps->t == P_KW)
                ok = tok_eq(line, &t, k, ps->word);
            else
                ok = take_param(ps, line + t.off[k], t.len[k], &tmp, NULL,
                                0) == 0;
        }
        if (!ok || pt->p[done].t == P_END)
            continue;
        {
            const struct pspec *ps = &pt->p[done];
            bool kw = ps->t == P_KW;
            if (kw && (plen > strlen(ps->word) ||
                       memcmp(ps->word, partial, plen) != 0))
                continue;
            for (j = 0; j < nseen; j++)
                if (strcmp(seen[j], ps->word) == 0)
                    break;
            if (j < nseen)
                continue;
            seen[nseen++] = ps->word;
            emit(ps->word, ps->help, kw, arg);
            count++;
        }
    }
    return count;
}

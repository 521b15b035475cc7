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
    P_IP,
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
#define IP {P_IP, "<ip>", "IPv4 address"}
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
    {TSL_CLI_CREATE, 0, 0,
     {CFG, IP, {P_LPORT, "<port>", "port 0..65535, 0 picks a free one"},
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
      KW("black-list", "refuse an address"), IP, END}},
    {TSL_CLI_BLACKLIST, 1, 0,
     {CFG, NO, KW("client", "a client by address"),
      KW("black-list", "refuse an address"), IP, END}},
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
     {CFG, KW("connect", "client mode: connect out"), IP, PORT, END}},
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
    "config tcp-server NAME [IP PORT]            create (default 127.0.0.1 "
    "40000)\n"
    "config tcp-server NAME start | abort        start; stop and delete\n"
    "config tcp-server NAME [no] disable-conn-accept\n"
    "config tcp-server NAME [no] disable-client-listen\n"
    "config tcp-server NAME [no] multi-threaded-mode\n"
    "config tcp-server NAME [no] max-client-limit N\n"
    "config tcp-server NAME [no] client black-list IP\n"
    "config tcp-server NAME ka-interval N [client IP PORT]   ms; hold 3N\n"
    "config tcp-server NAME frame-timeout N      ms; 0: off\n"
    "config tcp-server NAME framing none|fixed N|variable[:opts]|"
    "delimiter:HEX[,max=N]\n"
    "config tcp-server NAME backend select|epoll\n"
    "config tcp-server NAME [no] client IP PORT multi-threaded   migrate\n"
    "config tcp-server NAME connect IP PORT      client mode\n"
    "run tcp-server NAME client disconnect IP PORT\n"
    "run tcp-server NAME client send IP PORT TEXT\n"
    "show tcp-server [NAME] [--json]\n"
    "show tcp-server NAME client IP PORT stats [--json]\n"
    "help, exit; '?' after any words lists what may follow\n";

const char *
tsl_cli_help(void)
{
    return help_text;
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

/* Checks one parameter token; fills out; returns 0 or -1 with err. */
static int
take_param(const struct pspec *ps, const char *w, size_t n,
           struct tsl_cli_cmd *out, char *err, size_t errlen)
{
    char buf[64];
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
    case P_IP: {
        struct in_addr a;
        if (inet_pton(AF_INET, buf, &a) != 1)
            return fail(err, errlen,
                        "bad IP '%s' (expected an IPv4 address like 127.0.0.1)",
                        buf);
        inet_ntop(AF_INET, &a, out->ip, sizeof(out->ip));
        out->has_addr = true;
        return 0;
    }
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
 * parameter says most, a wrong keyword less, extra words least. */
enum { F_TRAILING = 0, F_KEYWORD = 1, F_PARAM = 2, F_SPEC = 3, F_KINDS = 4 };

/* Matches line against pattern; returns how many words matched before
 * failing (ntok + 1 when it matched completely) and how in *how. */
static size_t
match(const struct pattern *pt, const char *line, const struct toks *t,
      size_t ntok, struct tsl_cli_cmd *out, char *err, size_t errlen,
      int *how)
{
    size_t k = 0, i;

    *how = F_KEYWORD;

    for (i = 0; pt->p[i].t != P_END; i++) {
        const struct pspec *ps = &pt->p[i];
        if (ps->t == P_TEXT || ps->t == P_SPEC) {
            if (k >= ntok) {
                fail(err, errlen, "expected %s (%s) at the end", ps->word,
                     ps->help);
                return k;
            }
            if (ps->t == P_SPEC) {
                *how = F_SPEC; /* the framing parser's message is best */
                if (take_spec(line, t, k, out, err, errlen) < 0)
                    return k;
            } else {
                size_t from = t->off[k], end = strlen(line);
                while (end > from && (line[end - 1] == '\n' ||
                                      line[end - 1] == '\r'))
                    end--;
                if (end - from >= sizeof(out->text)) {
                    fail(err, errlen, "text longer than %zu bytes",
                         sizeof(out->text) - 1);
                    return k;
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
            return k;
        }
        if (ps->t == P_KW) {
            if (!tok_eq(line, t, k, ps->word)) {
                fail(err, errlen, "unknown word '%.*s': expected %s",
                     (int)t->len[k], line + t->off[k], ps->word);
                return k;
            }
        } else if (take_param(ps, line + t->off[k], t->len[k], out, err,
                              errlen) < 0) {
            *how = F_PARAM;
            return k;
        }
        k++;
    }
    if (k < ntok) {
        *how = F_TRAILING;
        fail(err, errlen, "unexpected '%.*s' after a complete command",
             (int)t->len[k], line + t->off[k]);
        return k;
    }
    return ntok + 1;
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
     * at one (a number or an address); otherwise list what would fit. */
    if ((best % F_KINDS == F_KEYWORD || best % F_KINDS == F_PARAM) &&
        best / F_KINDS < ntok) {
        size_t at = best / F_KINDS;
        char c0 = line[t.off[at]];
        if (best % F_KINDS == F_KEYWORD ||
            !(isdigit((unsigned char)c0) || c0 == '-'))
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

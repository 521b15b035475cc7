/*
 * tsl_cli.c - the CLI's command handlers.
 *
 * Owns a list of named servers created from the shell, each with callbacks
 * that turn connections, disconnections, messages and rejections into
 * event lines for the shell to print.  Commands run on the shell's thread
 * (one at a time); events arrive on the servers' threads and go straight
 * to the event function, which must be thread-safe.  Only the public API
 * of the library is used here.
 */
#define _GNU_SOURCE
#include "tsl_cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tsl.h"
#include "tsl_cli_parse.h"

/* A client-mode connection asked for with `connect`, until `no connect`,
 * a forced disconnect of its client (which does not reconnect) or the
 * server's end.  The library keeps no list the shell could read, so the
 * shell keeps this one (shell thread only). */
struct outgoing {
    int id;                         /* tsl_server_connect()'s */
    char ip[TSL_CLI_ADDR_MAX + 1];  /* as typed */
    uint16_t port;
    bool by_name;                   /* a host name: clients match by port */
    struct outgoing *next;
};

struct entry {
    char name[TSL_CLI_NAME_MAX + 1];
    tsl_server_t *srv;
    char framing[128];
    uint32_t ka_interval;
    struct outgoing *out;
    struct tsl_cli *cli;
    struct entry *next;
};

/* ip:port the way it is typed back: [v6]:port, unix:PATH alone. */
static const char *
addr_text(char *buf, size_t n, const char *ip, uint16_t port)
{
    if (strncmp(ip, "unix:", 5) == 0)
        snprintf(buf, n, "%s", ip);
    else if (strchr(ip, ':') != NULL)
        snprintf(buf, n, "[%s]:%u", ip, port);
    else
        snprintf(buf, n, "%s:%u", ip, port);
    return buf;
}

#define ADDR_TEXT_MAX (TSL_CLI_ADDR_MAX + 9)
#define CADDR(c, buf)                                                         \
    addr_text(buf, sizeof(buf), tsl_client_ip(c), tsl_client_port(c))

struct tsl_cli {
    tsl_cli_event_fn *ev;
    void *ev_arg;
    struct entry *head;
};

static void
event(struct entry *e, const char *fmt, ...)
{
    char line[512];
    int n;
    va_list ap;

    n = snprintf(line, sizeof(line), "[%s] ", e->name);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (e->cli->ev != NULL)
        e->cli->ev(line, e->cli->ev_arg);
}

static void
on_connected(tsl_server_t *s, tsl_client_t *c, void *ud)
{
    char a[ADDR_TEXT_MAX];

    (void)s;
    event(ud, "connected %s (id %llu)", CADDR(c, a),
          (unsigned long long)tsl_client_id(c));
}

static void
on_disconnected(tsl_server_t *s, tsl_client_t *c, tsl_reason_t why, void *ud)
{
    char a[ADDR_TEXT_MAX];

    (void)s;
    event(ud, "disconnected %s (id %llu): %s", CADDR(c, a),
          (unsigned long long)tsl_client_id(c), tsl_reason_name(why));
}

static void
on_message(tsl_server_t *s, tsl_client_t *c, const uint8_t *m, size_t n,
           void *ud)
{
    char preview[41], a[ADDR_TEXT_MAX];
    size_t i, k = n < 40 ? n : 40;

    (void)s;
    for (i = 0; i < k; i++)
        preview[i] = isprint(m[i]) ? (char)m[i] : '.';
    preview[k] = '\0';
    event(ud, "message from %s (id %llu), %zu bytes: \"%s%s\"", CADDR(c, a),
          (unsigned long long)tsl_client_id(c), n, preview,
          n > k ? "..." : "");
}

static void
on_rejected(tsl_server_t *s, const char *ip, uint16_t port, tsl_reject_t why,
            void *ud)
{
    char a[ADDR_TEXT_MAX];

    (void)s;
    event(ud, "rejected %s: %s", addr_text(a, sizeof(a), ip, port),
          tsl_reject_name(why));
}

struct tsl_cli *
tsl_cli_create(tsl_cli_event_fn *ev, void *arg)
{
    struct tsl_cli *cli = calloc(1, sizeof(*cli));

    if (cli != NULL) {
        cli->ev = ev;
        cli->ev_arg = arg;
    }
    return cli;
}

static void
outgoing_free(struct entry *e)
{
    struct outgoing *o;

    while ((o = e->out) != NULL) {
        e->out = o->next;
        free(o);
    }
}

void
tsl_cli_stop_all(struct tsl_cli *cli, FILE *out)
{
    struct entry *e;

    for (e = cli->head; e != NULL; e = e->next) {
        if (!(tsl_server_flags(e->srv) & TSL_SERVER_RUNNING))
            continue;
        tsl_server_stop(e->srv); /* its clients' events come first */
        outgoing_free(e);        /* a stop ends every connector */
        fprintf(out, "server %s stopped\n", e->name);
    }
    fflush(out);
}

void
tsl_cli_destroy(struct tsl_cli *cli)
{
    struct entry *e;

    if (cli == NULL)
        return;
    while ((e = cli->head) != NULL) {
        cli->head = e->next;
        tsl_server_destroy(e->srv);
        outgoing_free(e);
        free(e);
    }
    free(cli);
}

void
tsl_cli_names(struct tsl_cli *cli, const char *prefix,
              void (*emit)(const char *name, void *arg), void *arg)
{
    struct entry *e;
    size_t n = strlen(prefix);

    for (e = cli->head; e != NULL; e = e->next)
        if (strncmp(e->name, prefix, n) == 0)
            emit(e->name, arg);
}

static struct entry *
find(struct tsl_cli *cli, const char *name)
{
    struct entry *e;

    for (e = cli->head; e != NULL; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- tables ---- */

#define TCOLS 9
#define TCELL 48

struct table {
    size_t rows, cols, cap;
    char (*cell)[TCOLS][TCELL];
};

static void
trow(struct table *t, ...)
{
    va_list ap;
    size_t i;

    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        void *p = realloc(t->cell, cap * sizeof(*t->cell));
        if (p == NULL)
            return;
        t->cell = p;
        t->cap = cap;
    }
    va_start(ap, t);
    for (i = 0; i < t->cols; i++) {
        const char *s = va_arg(ap, const char *);
        snprintf(t->cell[t->rows][i], TCELL, "%s", s);
    }
    va_end(ap);
    t->rows++;
}

static void
tprint(struct table *t, FILE *out)
{
    size_t w[TCOLS] = {0}, r, c;

    for (r = 0; r < t->rows; r++)
        for (c = 0; c < t->cols; c++)
            if (strlen(t->cell[r][c]) > w[c])
                w[c] = strlen(t->cell[r][c]);
    for (r = 0; r < t->rows; r++) {
        for (c = 0; c + 1 < t->cols; c++)
            fprintf(out, "%-*s  ", (int)w[c], t->cell[r][c]);
        fputs(t->cell[r][c], out);
        fputc('\n', out);
    }
    free(t->cell);
}

static const char *
u64(char *buf, uint64_t v)
{
    snprintf(buf, 24, "%llu", (unsigned long long)v);
    return buf;
}

static void
flags_text(unsigned f, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s%s",
             f & TSL_SERVER_NOT_ACCEPTING ? "not-accepting," : "",
             f & TSL_SERVER_NOT_LISTENING ? "not-listening," : "",
             f & TSL_SERVER_MULTI_THREADED ? "multi-threaded," : "",
             (f & (TSL_SERVER_NOT_ACCEPTING | TSL_SERVER_NOT_LISTENING |
                   TSL_SERVER_MULTI_THREADED))
                 ? ""
                 : "-");
    if (buf[0] != '-' && buf[strlen(buf) - 1] == ',')
        buf[strlen(buf) - 1] = '\0';
}

static const char *
backend_name(tsl_server_t *srv)
{
    return tsl_server_backend(srv) == TSL_BACKEND_EPOLL ? "epoll" : "select";
}

/* Clients of a server, referenced (collected outside the db lock's
 * callback so no other lock is taken under it). */
struct refs {
    tsl_client_t **c;
    size_t n, cap;
};

static void
collect(tsl_client_t *c, void *arg)
{
    struct refs *r = arg;

    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        void *p = realloc(r->c, cap * sizeof(*r->c));
        if (p == NULL)
            return;
        r->c = p;
        r->cap = cap;
    }
    tsl_client_ref(c);
    r->c[r->n++] = c;
}

static void
refs_free(struct refs *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        tsl_client_unref(r->c[i]);
    free(r->c);
}

/* s as a JSON string: a unix: path may hold any byte but NUL. */
static void
json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static size_t
outgoing_count(const struct entry *e)
{
    const struct outgoing *o;
    size_t n = 0;

    for (o = e->out; o != NULL; o = o->next)
        n++;
    return n;
}

/* The connector a client came from, or NULL for an accepted client: its
 * peer is the connector's target (by port alone for a host name, whose
 * address only the library knows). */
static struct outgoing *
outgoing_of(struct entry *e, tsl_client_t *c)
{
    struct outgoing *o;

    for (o = e->out; o != NULL; o = o->next)
        if (tsl_client_port(c) == o->port &&
            (o->by_name || strcmp(tsl_client_ip(c), o->ip) == 0))
            return o;
    return NULL;
}

/* The client a connector has made, if connected (a reference). */
static tsl_client_t *
client_of_outgoing(struct entry *e, const struct outgoing *o,
                   const struct refs *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        if (outgoing_of(e, r->c[i]) == o) {
            tsl_client_ref(r->c[i]);
            return r->c[i];
        }
    return NULL;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A time of the client statistics (ms since the epoch, 0: never) as the
 * local date and time with its age: "2026-12-02 04:27:45.123 (5.2 s
 * ago)". */
static const char *
when_text(char *buf, size_t n, int64_t ms, int64_t now)
{
    char date[48], age[48];
    struct tm tm;
    time_t t;
    int64_t d;

    if (ms <= 0)
        return "never";
    t = (time_t)(ms / 1000);
    if (localtime_r(&t, &tm) == NULL ||
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(date, sizeof(date), "%lld s since the epoch", (long long)t);
    d = now > ms ? now - ms : 0;
    if (d < 10000)
        snprintf(age, sizeof(age), "%lld.%lld s", (long long)(d / 1000),
                 (long long)(d % 1000 / 100));
    else if (d < 120000)
        snprintf(age, sizeof(age), "%lld s", (long long)(d / 1000));
    else if (d < 7200000)
        snprintf(age, sizeof(age), "%lld min %lld s", (long long)(d / 60000),
                 (long long)(d / 1000 % 60));
    else if (d < 172800000)
        snprintf(age, sizeof(age), "%lld h %lld min",
                 (long long)(d / 3600000), (long long)(d / 60000 % 60));
    else
        snprintf(age, sizeof(age), "%lld d %lld h",
                 (long long)(d / 86400000), (long long)(d / 3600000 % 24));
    snprintf(buf, n, "%s.%03d (%s ago)", date, (int)(ms % 1000), age);
    return buf;
}

static void
show_all(struct tsl_cli *cli, FILE *out, bool json)
{
    struct table t = {0, 8, 0, NULL};
    struct entry *e;
    char b[5][24], fl[64], addr[ADDR_TEXT_MAX];

    if (json) {
        fputc('[', out);
        for (e = cli->head; e != NULL; e = e->next) {
            tsl_server_stats_t st;
            tsl_server_stats(e->srv, &st);
            fprintf(out, "%s{\"name\":\"%s\",\"ip\":",
                    e == cli->head ? "" : ",", e->name);
            json_str(out, tsl_server_ip(e->srv));
            fprintf(out,
                    ",\"port\":%u,"
                    "\"running\":%s,\"clients\":%llu,\"accepted\":%llu,"
                    "\"connectors\":%zu}",
                    tsl_server_port(e->srv),
                    tsl_server_flags(e->srv) & TSL_SERVER_RUNNING ? "true"
                                                                  : "false",
                    (unsigned long long)st.current_clients,
                    (unsigned long long)st.accepted, outgoing_count(e));
        }
        fputs("]\n", out);
        return;
    }
    trow(&t, "NAME", "ADDRESS", "STATE", "FLAGS", "CLIENTS", "ACCEPTED",
         "REJECTED", "CONNECTORS");
    for (e = cli->head; e != NULL; e = e->next) {
        tsl_server_stats_t st;
        uint64_t rej = 0;
        int i;
        tsl_server_stats(e->srv, &st);
        for (i = 0; i < TSL_REJECT_COUNT; i++)
            rej += st.rejected[i];
        addr_text(addr, sizeof(addr), tsl_server_ip(e->srv),
                  tsl_server_port(e->srv));
        flags_text(tsl_server_flags(e->srv), fl, sizeof(fl));
        trow(&t, e->name, addr,
             tsl_server_flags(e->srv) & TSL_SERVER_RUNNING ? "running"
                                                           : "stopped",
             fl, u64(b[0], st.current_clients), u64(b[1], st.accepted),
             u64(b[2], rej), u64(b[3], outgoing_count(e)));
    }
    tprint(&t, out);
}

static void
show_one(struct entry *e, FILE *out, bool json)
{
    struct table t = {0, 9, 0, NULL};
    tsl_server_stats_t st;
    struct refs r = {NULL, 0, 0};
    struct outgoing *o;
    tsl_client_t *oc;
    char b[6][24], fl[64], addr[ADDR_TEXT_MAX], buf[1024], state[64];
    size_t i;
    int k;

    tsl_server_foreach_client(e->srv, collect, &r);
    tsl_server_stats(e->srv, &st);
    flags_text(tsl_server_flags(e->srv), fl, sizeof(fl));
    if (json) {
        char *s = NULL;
        int n = tsl_server_stats_json(e->srv, NULL, 0);
        if (n > 0 && (s = malloc((size_t)n + 1)) != NULL)
            tsl_server_stats_json(e->srv, s, (size_t)n + 1);
        fprintf(out, "{\"name\":\"%s\",\"ip\":", e->name);
        json_str(out, tsl_server_ip(e->srv));
        fprintf(out,
                ",\"port\":%u,\"running\":%s,"
                "\"flags\":\"%s\",\"framing\":\"%s\",\"backend\":\"%s\","
                "\"max_clients\":%u,"
                "\"keepalive_hold_ms\":%u,\"stats\":%s,\"clients\":[",
                tsl_server_port(e->srv),
                tsl_server_flags(e->srv) & TSL_SERVER_RUNNING ? "true"
                                                              : "false",
                fl, e->framing, backend_name(e->srv),
                tsl_server_max_clients(e->srv),
                tsl_server_keepalive(e->srv), s ? s : "{}");
        free(s);
        /* Each client's own object, with where it came from first. */
        for (i = 0; i < r.n; i++) {
            tsl_client_stats_json(r.c[i], buf, sizeof(buf));
            fprintf(out, "%s{\"direction\":\"%s\",%s", i ? "," : "",
                    outgoing_of(e, r.c[i]) != NULL ? "out" : "in",
                    buf[0] == '{' ? buf + 1 : "}");
        }
        fputs("],\"connectors\":[", out);
        for (o = e->out; o != NULL; o = o->next) {
            oc = client_of_outgoing(e, o, &r);
            fprintf(out, "%s{\"id\":%d,\"ip\":", o == e->out ? "" : ",",
                    o->id);
            json_str(out, o->ip);
            fprintf(out, ",\"port\":%u,\"connected\":%s", o->port,
                    oc != NULL ? "true" : "false");
            if (oc != NULL)
                fprintf(out, ",\"client_id\":%llu",
                        (unsigned long long)tsl_client_id(oc));
            fputc('}', out);
            if (oc != NULL)
                tsl_client_unref(oc);
        }
        fputs("]}\n", out);
        refs_free(&r);
        return;
    }
    fprintf(out, "server %s  %s  %s  flags %s\n", e->name,
            addr_text(addr, sizeof(addr), tsl_server_ip(e->srv),
                      tsl_server_port(e->srv)),
            tsl_server_flags(e->srv) & TSL_SERVER_RUNNING ? "running"
                                                          : "stopped",
            fl);
    fprintf(out, "framing %s  max-clients %u  keepalive hold %u ms  "
                 "backend %s\n",
            e->framing, tsl_server_max_clients(e->srv),
            tsl_server_keepalive(e->srv), backend_name(e->srv));
    if (tsl_server_frame_timeout(e->srv) != 0)
        fprintf(out, "frame timeout %u ms\n", tsl_server_frame_timeout(e->srv));
    fprintf(out,
            "accepted %llu  current %llu  peak %llu  in %llu B / %llu msgs  "
            "out %llu B / %llu msgs  protocol errors %llu\n",
            (unsigned long long)st.accepted,
            (unsigned long long)st.current_clients,
            (unsigned long long)st.peak_clients,
            (unsigned long long)st.bytes_in, (unsigned long long)st.msgs_in,
            (unsigned long long)st.bytes_out, (unsigned long long)st.msgs_out,
            (unsigned long long)st.protocol_errors);
    fputs("disconnected:", out);
    for (k = 0; k < TSL_REASON_COUNT; k++)
        fprintf(out, " %s %llu", tsl_reason_name((tsl_reason_t)k),
                (unsigned long long)st.disconnected[k]);
    fputs("\nrejected:", out);
    for (k = 0; k < TSL_REJECT_COUNT; k++)
        fprintf(out, " %s %llu", tsl_reject_name((tsl_reject_t)k),
                (unsigned long long)st.rejected[k]);
    fputc('\n', out);
    trow(&t, "ID", "CLIENT", "MODE", "BYTES_IN", "BYTES_OUT", "MSGS_IN",
         "MSGS_OUT", "MIGRATIONS", "DIRECTION");
    for (i = 0; i < r.n; i++) {
        tsl_client_stats_t cs;
        tsl_client_stats(r.c[i], &cs);
        trow(&t, u64(b[0], cs.id), CADDR(r.c[i], addr),
             cs.threaded ? "threaded" : "multiplexed", u64(b[1], cs.bytes_in),
             u64(b[2], cs.bytes_out), u64(b[3], cs.msgs_in),
             u64(b[4], cs.msgs_out), u64(b[5], cs.migrations),
             outgoing_of(e, r.c[i]) != NULL ? "out" : "in");
    }
    tprint(&t, out);
    if (e->out != NULL) {
        struct table ct = {0, 3, 0, NULL};
        trow(&ct, "CONNECTOR", "TO", "STATE");
        for (o = e->out; o != NULL; o = o->next) {
            oc = client_of_outgoing(e, o, &r);
            if (oc != NULL) {
                snprintf(state, sizeof(state), "connected (client %llu)",
                         (unsigned long long)tsl_client_id(oc));
                tsl_client_unref(oc);
            } else {
                snprintf(state, sizeof(state), "connecting");
            }
            snprintf(b[0], sizeof(b[0]), "%d", o->id);
            trow(&ct, b[0], addr_text(addr, sizeof(addr), o->ip, o->port),
                 state);
        }
        tprint(&ct, out);
    }
    refs_free(&r);
}

static void
show_client(tsl_client_t *c, FILE *out, bool json)
{
    tsl_client_stats_t s;
    char buf[1024], a[ADDR_TEXT_MAX], t[3][128];
    int64_t now = now_ms();

    if (json) {
        tsl_client_stats_json(c, buf, sizeof(buf));
        fprintf(out, "%s\n", buf);
        return;
    }
    tsl_client_stats(c, &s);
    fprintf(out,
            "client %s  id %llu  %s  migrations %u\n"
            "bytes in %llu  out %llu  queued %llu (peak %llu)\n"
            "messages in %llu  out %llu\n"
            "keepalives in %llu  out %llu  protocol errors %llu\n"
            "connected     %s\n"
            "last receive  %s\n"
            "last send     %s\n",
            CADDR(c, a), (unsigned long long)s.id,
            s.threaded ? "threaded" : "multiplexed", s.migrations,
            (unsigned long long)s.bytes_in, (unsigned long long)s.bytes_out,
            (unsigned long long)s.out_queued,
            (unsigned long long)s.out_queued_peak,
            (unsigned long long)s.msgs_in, (unsigned long long)s.msgs_out,
            (unsigned long long)s.keepalives_in,
            (unsigned long long)s.keepalives_out,
            (unsigned long long)s.protocol_errors,
            when_text(t[0], sizeof(t[0]), s.connect_time_ms, now),
            when_text(t[1], sizeof(t[1]), s.last_recv_ms, now),
            when_text(t[2], sizeof(t[2]), s.last_send_ms, now));
}

/* ---- commands ---- */

static int
lib_err(char *err, size_t errlen, const char *what, int r)
{
    return fail(err, errlen, "%s: %s", what, tsl_strerror(r));
}

static tsl_client_t *
client_of(struct entry *e, const struct tsl_cli_cmd *cmd, char *err,
          size_t errlen)
{
    tsl_client_t *c = tsl_server_find_client_addr(e->srv, cmd->ip, cmd->port);
    char a[ADDR_TEXT_MAX];

    if (c == NULL)
        fail(err, errlen, "server '%s' has no client %s", e->name,
             addr_text(a, sizeof(a), cmd->ip, cmd->port));
    return c;
}

/* Sets or clears a flag and says what that changed. */
static int
set_flag(struct entry *e, unsigned flag, bool set, const char *what,
         FILE *out, char *err, size_t errlen)
{
    int r = set ? tsl_server_set_flags(e->srv, flag)
                : tsl_server_clear_flags(e->srv, flag);

    if (r < 0)
        return lib_err(err, errlen, "flag", r);
    fprintf(out, "server %s: %s\n", e->name, what);
    return 0;
}

/* Asks for the migration; a client still being set up (just connected)
 * or still landing from a previous move answers TSL_EAGAIN for a moment,
 * so that is asked again, for at most 2 s. */
static int
migrate_now(struct entry *e, tsl_client_t *c, bool threaded)
{
    const struct timespec step = {0, 2000000};
    struct timespec t0, t;
    int r;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        r = tsl_server_migrate_client(e->srv, c,
                                      threaded ? TSL_CLIENT_THREADED
                                               : TSL_CLIENT_MULTIPLEXED);
        if (r != TSL_EAGAIN)
            return r;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >
            2000)
            return r;
        nanosleep(&step, NULL);
    }
}

/* Waits (bounded) for a migration of c to land, and says so: the library
 * tells of it only in the client's statistics. */
static void
migration_wait(struct entry *e, tsl_client_t *c, bool threaded, FILE *out)
{
    const struct timespec step = {0, 2000000};
    struct timespec t0, t;
    tsl_client_stats_t cs;
    char a[ADDR_TEXT_MAX];

    CADDR(c, a);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        tsl_client_stats(c, &cs);
        if ((cs.threaded != 0) == threaded) {
            fprintf(out, "[%s] client %s (id %llu) now %s (migration %u)\n",
                    e->name, a, (unsigned long long)cs.id,
                    threaded ? "on a thread of its own" : "in the select loop",
                    cs.migrations);
            return;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec >= 10) {
            fprintf(out,
                    "[%s] client %s (id %llu) still moving after 10 s (show "
                    "its stats to see when it has)\n",
                    e->name, a, (unsigned long long)cs.id);
            return;
        }
        /* A gone client never lands: its stats stop changing. */
        {
            tsl_client_t *again = tsl_server_find_client(e->srv, cs.id);
            if (again == NULL) {
                fprintf(out, "[%s] client %s (id %llu) went away before the "
                             "move ended\n",
                        e->name, a, (unsigned long long)cs.id);
                return;
            }
            tsl_client_unref(again);
        }
        nanosleep(&step, NULL);
    }
}

static int
create(struct tsl_cli *cli, const struct tsl_cli_cmd *cmd, FILE *out,
       char *err, size_t errlen)
{
    tsl_callbacks_t cbs = {on_connected, on_disconnected, on_message,
                           on_rejected, NULL};
    const char *ip = cmd->has_addr ? cmd->ip : "127.0.0.1";
    uint16_t port = cmd->has_addr ? cmd->port : 40000;
    char a[ADDR_TEXT_MAX];
    struct entry *e;
    int r;

    if (find(cli, cmd->name) != NULL)
        return fail(err, errlen, "server '%s' already exists", cmd->name);
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return fail(err, errlen, "out of memory");
    snprintf(e->name, sizeof(e->name), "%s", cmd->name);
    snprintf(e->framing, sizeof(e->framing), "none");
    e->cli = cli;
    r = tsl_server_create(&e->srv, cmd->name, ip, port);
    if (r == 0)
        r = tsl_server_set_callbacks(e->srv, &cbs, e);
    addr_text(a, sizeof(a), ip, port);
    if (r < 0) {
        if (e->srv != NULL)
            tsl_server_destroy(e->srv);
        free(e);
        return fail(err, errlen, "server %s on %s: %s", cmd->name, a,
                    tsl_strerror(r));
    }
    e->next = cli->head;
    cli->head = e;
    fprintf(out, "server %s created on %s\n", e->name, a);
    return 0;
}

static int
abort_server(struct tsl_cli *cli, struct entry *e, FILE *out)
{
    struct entry **pp;

    for (pp = &cli->head; *pp != e; pp = &(*pp)->next)
        ;
    *pp = e->next;
    tsl_server_destroy(e->srv);
    outgoing_free(e);
    fprintf(out, "server %s stopped and deleted\n", e->name);
    free(e);
    return 0;
}

/* Frames text as one message in the server's framing: a length header
 * (variable), the delimiter (delimiter), exactly N bytes (fixed), or a
 * newline (none, for line-oriented peers such as nc). */
static int
frame_text(struct entry *e, const char *text, uint8_t *out, size_t *n,
           char *err, size_t errlen)
{
    size_t len = strlen(text), w, i, total;
    tsl_framing_t f;

    if (tsl_framing_parse(e->framing, &f, NULL, 0) < 0)
        tsl_framing_default(&f, TSL_FRAMING_NONE);
    switch (f.kind) {
    case TSL_FRAMING_FIXED:
        if (len != f.fixed_size)
            return fail(err, errlen,
                        "framing is fixed:%u: the text must be exactly %u "
                        "bytes, not %zu",
                        f.fixed_size, f.fixed_size, len);
        memcpy(out, text, len);
        *n = len;
        return 0;
    case TSL_FRAMING_DELIMITER:
        memcpy(out, text, len);
        memcpy(out + len, f.delim, f.delim_len);
        *n = len + f.delim_len;
        return 0;
    case TSL_FRAMING_VARIABLE:
        w = f.hdr_width;
        total = f.len_exclusive ? len : len + w;
        if (len + w > f.max_frame || (w == 1 && total > 255))
            return fail(err, errlen, "text too long for framing %s",
                        e->framing);
        for (i = 0; i < w; i++) {
            size_t k = f.big_endian ? w - 1 - i : i;
            out[k] = (uint8_t)(total >> (8 * i));
        }
        memcpy(out + w, text, len);
        *n = len + w;
        return 0;
    default:
        memcpy(out, text, len);
        out[len] = '\n';
        *n = len + 1;
        return 0;
    }
}

int
tsl_cli_exec(struct tsl_cli *cli, const char *line, FILE *out, char *err,
             size_t errlen)
{
    struct tsl_cli_cmd cmd;
    struct entry *e = NULL;
    tsl_client_t *c;
    tsl_framing_t f;
    int r;

    if (tsl_cli_parse(line, &cmd, err, errlen) < 0)
        return -1;
    switch (cmd.op) {
    case TSL_CLI_NOP:
        return 0;
    case TSL_CLI_HELP:
        fputs(tsl_cli_help(), out);
        return 0;
    case TSL_CLI_EXIT:
        return 1;
    case TSL_CLI_SHOW:
        if (cmd.name[0] == '\0') {
            show_all(cli, out, cmd.json);
            return 0;
        }
        break;
    case TSL_CLI_CREATE:
        if (cmd.has_addr || find(cli, cmd.name) == NULL)
            return create(cli, &cmd, out, err, errlen);
        return fail(err, errlen, "server '%s' already exists", cmd.name);
    default:
        break;
    }
    e = find(cli, cmd.name);
    if (e == NULL)
        return fail(err, errlen,
                    "unknown server '%s' (create it with: config tcp-server "
                    "%s)",
                    cmd.name, cmd.name);
    switch (cmd.op) {
    case TSL_CLI_START:
        r = tsl_server_start(e->srv);
        if (r < 0) {
            char a[ADDR_TEXT_MAX];
            addr_text(a, sizeof(a), tsl_server_ip(e->srv),
                      tsl_server_port(e->srv));
            if (r == TSL_EADDRINUSE)
                return fail(err, errlen,
                            "server %s cannot listen on %s: %s (another "
                            "program has it: create the server on another "
                            "port, or on port 0 for a free one)",
                            e->name, a, tsl_strerror(r));
            return fail(err, errlen, "server %s cannot start on %s: %s",
                        e->name, a, tsl_strerror(r));
        }
        {
            char a[ADDR_TEXT_MAX];
            fprintf(out, "server %s listening on %s\n", e->name,
                    addr_text(a, sizeof(a), tsl_server_ip(e->srv),
                              tsl_server_port(e->srv)));
        }
        return 0;
    case TSL_CLI_ABORT:
        return abort_server(cli, e, out);
    case TSL_CLI_ACCEPT:
        return set_flag(e, TSL_SERVER_NOT_ACCEPTING, !cmd.no,
                        cmd.no ? "accepting new connections again"
                               : "refusing new connections",
                        out, err, errlen);
    case TSL_CLI_LISTEN:
        return set_flag(e, TSL_SERVER_NOT_LISTENING, !cmd.no,
                        cmd.no ? "reading from clients again"
                               : "not reading from clients",
                        out, err, errlen);
    case TSL_CLI_THREADED:
        return set_flag(e, TSL_SERVER_MULTI_THREADED, !cmd.no,
                        cmd.no ? "new clients join the select loop"
                               : "new clients get a thread of their own",
                        out, err, errlen);
    case TSL_CLI_MAX_CLIENTS:
        tsl_server_set_max_clients(e->srv, cmd.no ? 0 : cmd.num);
        if (cmd.no || cmd.num == 0)
            fprintf(out, "server %s: no client limit\n", e->name);
        else
            fprintf(out, "server %s: at most %u clients\n", e->name, cmd.num);
        return 0;
    case TSL_CLI_BLACKLIST:
        r = cmd.no ? tsl_server_blacklist_remove(e->srv, cmd.ip)
                   : tsl_server_blacklist_add(e->srv, cmd.ip);
        if (r == TSL_EEXIST)
            return fail(err, errlen, "%s is already black-listed", cmd.ip);
        if (r == TSL_ENOENT)
            return fail(err, errlen, "%s is not black-listed", cmd.ip);
        if (r < 0)
            return lib_err(err, errlen, "black-list", r);
        fprintf(out, "server %s: %s %s\n", e->name, cmd.ip,
                cmd.no ? "no longer black-listed" : "black-listed");
        return 0;
    case TSL_CLI_KA_INTERVAL: {
        /* Keepalives every N ms; silence for three intervals expires. */
        uint64_t hold = (uint64_t)cmd.num * 3;
        char a[ADDR_TEXT_MAX];
        if (hold > UINT32_MAX)
            return fail(err, errlen, "ka-interval %u is too large", cmd.num);
        if (cmd.has_addr) {
            if ((c = client_of(e, &cmd, err, errlen)) == NULL)
                return -1;
            r = tsl_client_set_keepalive(c, (int64_t)hold);
            tsl_client_unref(c);
            if (r < 0)
                return lib_err(err, errlen, "ka-interval", r);
            addr_text(a, sizeof(a), cmd.ip, cmd.port);
            if (hold == 0)
                fprintf(out, "server %s: client %s: keepalive off\n", e->name,
                        a);
            else
                fprintf(out, "server %s: client %s: dropped after %llu ms of "
                             "silence\n",
                        e->name, a, (unsigned long long)hold);
            return 0;
        }
        e->ka_interval = cmd.num;
        tsl_server_set_keepalive(e->srv, (uint32_t)hold);
        tsl_server_set_keepalive_interval(e->srv, cmd.num);
        if (hold == 0)
            fprintf(out, "server %s: keepalive off\n", e->name);
        else
            fprintf(out, "server %s: keepalive every %u ms, clients dropped "
                         "after %llu ms of silence\n",
                    e->name, cmd.num, (unsigned long long)hold);
        return 0;
    }
    case TSL_CLI_FRAME_TIMEOUT:
        tsl_server_set_frame_timeout(e->srv, cmd.num);
        if (cmd.num == 0)
            fprintf(out, "server %s: frame timeout off\n", e->name);
        else
            fprintf(out, "server %s: a started frame must complete within "
                         "%u ms\n",
                    e->name, cmd.num);
        return 0;
    case TSL_CLI_FRAMING:
        tsl_framing_parse(cmd.spec, &f, NULL, 0); /* checked by the parser */
        r = tsl_server_set_framing(e->srv, &f);
        if (r == TSL_EBUSY)
            return fail(err, errlen,
                        "server '%s' is running: framing can change only "
                        "while stopped",
                        e->name);
        if (r < 0)
            return lib_err(err, errlen, "framing", r);
        snprintf(e->framing, sizeof(e->framing), "%s", cmd.spec);
        fprintf(out, "server %s: framing %s\n", e->name, e->framing);
        return 0;
    case TSL_CLI_BACKEND:
        r = tsl_server_set_backend(e->srv, (tsl_backend_t)cmd.num);
        if (r == TSL_EBUSY)
            return fail(err, errlen,
                        "server '%s' is running: the backend can change only "
                        "while stopped",
                        e->name);
        if (r < 0)
            return lib_err(err, errlen, "backend", r);
        fprintf(out, "server %s: backend %s\n", e->name, backend_name(e->srv));
        return 0;
    case TSL_CLI_MIGRATE: {
        bool to_thread = !cmd.no;
        char a[ADDR_TEXT_MAX];
        if ((c = client_of(e, &cmd, err, errlen)) == NULL)
            return -1;
        r = migrate_now(e, c, to_thread);
        if (r < 0) {
            tsl_client_unref(c);
            return lib_err(err, errlen, "migrate", r);
        }
        CADDR(c, a);
        if (r > 0) {
            fprintf(out, "[%s] client %s (id %llu) is already %s\n", e->name,
                    a, (unsigned long long)tsl_client_id(c),
                    to_thread ? "on a thread of its own"
                              : "in the select loop");
        } else {
            fprintf(out, "[%s] client %s (id %llu) moving to %s\n", e->name, a,
                    (unsigned long long)tsl_client_id(c),
                    to_thread ? "a thread of its own" : "the select loop");
            fflush(out);
            migration_wait(e, c, to_thread, out);
        }
        tsl_client_unref(c);
        return 0;
    }
    case TSL_CLI_CONNECT: {
        struct outgoing *o, **pp;
        char a[ADDR_TEXT_MAX];
        addr_text(a, sizeof(a), cmd.ip, cmd.port);
        if (cmd.no) {
            for (pp = &e->out; *pp != NULL; pp = &(*pp)->next)
                if (strcmp((*pp)->ip, cmd.ip) == 0 &&
                    (*pp)->port == cmd.port)
                    break;
            if ((o = *pp) == NULL)
                return fail(err, errlen,
                            "server '%s' has no connector to %s (show "
                            "tcp-server %s lists them)",
                            e->name, a, e->name);
            *pp = o->next;
            r = tsl_server_cancel_connect(e->srv, o->id);
            fprintf(out, "server %s: connector %d to %s %s\n", e->name, o->id,
                    a, r == 0 ? "cancelled" : "had already ended");
            free(o);
            return 0;
        }
        if ((o = calloc(1, sizeof(*o))) == NULL)
            return fail(err, errlen, "out of memory");
        r = tsl_server_connect(e->srv, cmd.ip, cmd.port, 0);
        if (r < 0) {
            free(o);
            if (r == TSL_EBUSY)
                return fail(err, errlen, "server '%s' is not running",
                            e->name);
            return fail(err, errlen, "connect to %s: %s", a,
                        tsl_strerror(r));
        }
        o->id = r;
        snprintf(o->ip, sizeof(o->ip), "%s", cmd.ip);
        o->port = cmd.port;
        o->by_name = cmd.addr == TSL_CLI_ADDR_NAME;
        o->next = e->out;
        e->out = o;
        fprintf(out, "server %s: connector %d connecting to %s\n", e->name, r,
                a);
        return 0;
    }
    case TSL_CLI_DISCONNECT: {
        struct outgoing *o, **pp;
        char a[ADDR_TEXT_MAX];
        if ((c = client_of(e, &cmd, err, errlen)) == NULL)
            return -1;
        o = outgoing_of(e, c);
        r = tsl_client_disconnect(c);
        CADDR(c, a);
        fprintf(out, "[%s] client %s (id %llu) %s\n", e->name, a,
                (unsigned long long)tsl_client_id(c),
                r < 0 ? "was already going" : "disconnecting (forced)");
        tsl_client_unref(c);
        if (r == 0 && o != NULL) {
            /* A forced disconnect ends the connector (no reconnect). */
            for (pp = &e->out; *pp != o; pp = &(*pp)->next)
                ;
            *pp = o->next;
            fprintf(out, "server %s: connector %d to %s ended with it\n",
                    e->name, o->id, a);
            free(o);
        }
        return 0;
    }
    case TSL_CLI_SEND: {
        uint8_t frame[TSL_CLI_LINE_MAX + 8];
        char a[ADDR_TEXT_MAX];
        size_t n = 0;
        if (frame_text(e, cmd.text, frame, &n, err, errlen) < 0)
            return -1;
        if ((c = client_of(e, &cmd, err, errlen)) == NULL)
            return -1;
        r = tsl_client_send(c, frame, n);
        CADDR(c, a);
        if (r == 0)
            fprintf(out, "[%s] sent %zu bytes to %s (id %llu): \"%.40s%s\" "
                         "in framing %s\n",
                    e->name, n, a, (unsigned long long)tsl_client_id(c),
                    cmd.text, strlen(cmd.text) > 40 ? "..." : "", e->framing);
        tsl_client_unref(c);
        return r < 0 ? lib_err(err, errlen, "send", r) : 0;
    }
    case TSL_CLI_SHOW:
        show_one(e, out, cmd.json);
        return 0;
    case TSL_CLI_SHOW_CLIENT:
        if ((c = client_of(e, &cmd, err, errlen)) == NULL)
            return -1;
        show_client(c, out, cmd.json);
        tsl_client_unref(c);
        return 0;
    default:
        return fail(err, errlen, "internal: unhandled command");
    }
}

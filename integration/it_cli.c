/*
 * it_cli.c - tslsh end to end: a scripted session that creates two
 * servers, connects real clients, sends from the CLI, disconnects one,
 * migrates one, reads stats and stops everything; exit status and error
 * messages for bad input; and an interactive session on a pseudo-terminal
 * checking completion, '?', history and events printed while typing.
 * The path of tslsh is the first argument.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "it_json.h"
#include "itest.h"

static const char *tslsh;

static void expect_both(struct it_proc *p, const char *x, const char *y);

static uint16_t
local_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    IT_EQ(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

static void
cmd(struct it_proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
cmd(struct it_proc *p, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    it_proc_write(p, line);
}

static void
scripted_session(void)
{
    const char *argv[] = {tslsh, NULL};
    struct it_proc p;
    char line[256], text[64];
    uint8_t frame[64], in[64];
    uint16_t port1, port2;
    int a, b, c;
    size_t n;

    it_spawn(&p, argv);
    /* Fixed ports picked free by the test keep the script readable (both
     * held at once, so they differ). */
    {
        int s1, s2;
        port1 = port2 = 0;
        s1 = it_listen(&port1);
        s2 = it_listen(&port2);
        close(s1);
        close(s2);
    }
    cmd(&p, "config tcp-server s1 127.0.0.1 %u", port1);
    it_expect(&p, "server s1 created", 3000);
    cmd(&p, "config tcp-server s1 framing variable");
    cmd(&p, "config tcp-server s1 backend select"); /* whatever TSL_BACKEND says */
    cmd(&p, "config tcp-server s1 start");
    snprintf(line, sizeof(line), "server s1 listening on 127.0.0.1:%u", port1);
    it_expect(&p, line, 3000);
    cmd(&p, "config tcp-server s2 127.0.0.1 %u", port2);
    cmd(&p, "config tcp-server s2 backend epoll");
    cmd(&p, "config tcp-server s2 start");
    snprintf(line, sizeof(line), "server s2 listening on 127.0.0.1:%u", port2);
    it_expect(&p, line, 3000);

    a = it_connect(port1);
    snprintf(line, sizeof(line), "[s1] connected 127.0.0.1:%u (id 1)",
             local_port(a));
    it_expect(&p, line, 3000);
    b = it_connect(port1);
    snprintf(line, sizeof(line), "[s1] connected 127.0.0.1:%u (id 2)",
             local_port(b));
    it_expect(&p, line, 3000);
    c = it_connect(port2);
    snprintf(line, sizeof(line), "[s2] connected 127.0.0.1:%u (id 1)",
             local_port(c));
    it_expect(&p, line, 3000);

    n = it_frame("hello", 5, frame);
    it_send_all(a, frame, n);
    snprintf(line, sizeof(line), "[s1] message from 127.0.0.1:%u (id 1), 7 bytes",
             local_port(a));
    it_expect(&p, line, 3000);

    /* Sent from the CLI, framed in s1's framing. */
    cmd(&p, "run tcp-server s1 client send 127.0.0.1 %u hi there", local_port(a));
    n = it_frame("hi there", 8, frame);
    it_recv_exact(a, in, n);
    IT_CHECK(memcmp(in, frame, n) == 0);

    cmd(&p, "run tcp-server s1 client disconnect 127.0.0.1 %u", local_port(b));
    IT_CHECK(it_wait_closed(b, 3000));
    snprintf(line, sizeof(line), "[s1] disconnected 127.0.0.1:%u (id 2): forced",
             local_port(b));
    it_expect(&p, line, 3000);

    cmd(&p, "config tcp-server s1 client 127.0.0.1 %u multi-threaded",
        local_port(a));
    /* The move is asynchronous: ask until the stats show it, within a
     * deadline (a count of tries is no deadline: under load 500 quick
     * round trips ended before the move did). */
    {
        int64_t end = it_now_ms() + 3000 * it_scale();
        for (;;) {
            char mode[32];
            cmd(&p, "show tcp-server s1 client 127.0.0.1 %u stats --json",
                local_port(a));
            it_capture(&p, "\"mode\":\"", "\"", mode, sizeof(mode), 3000);
            it_expect(&p, "}", 3000);
            if (strcmp(mode, "threaded") == 0)
                break;
            if (it_now_ms() > end)
                IT_FAIL("the migration never showed in the stats");
            poll(NULL, 0, 2); /* between two looks at the state */
        }
    }
    cmd(&p, "show tcp-server s1 client 127.0.0.1 %u stats", local_port(a));
    it_expect(&p, "threaded  migrations 1", 3000);
    snprintf(text, sizeof(text), "messages in 1");
    it_expect(&p, text, 3000);

    cmd(&p, "show tcp-server");
    it_expect(&p, "NAME  ADDRESS", 3000);
    it_expect(&p, "s2", 3000);
    cmd(&p, "show tcp-server s2");
    it_expect(&p, "backend epoll", 3000);
    cmd(&p, "show tcp-server s1");
    it_expect(&p, "backend select", 3000);
    it_expect(&p, "forced 1", 3000);
    it_expect(&p, "threaded", 3000);

    cmd(&p, "config tcp-server s1 abort");
    snprintf(line, sizeof(line), "[s1] disconnected 127.0.0.1:%u (id 1): shutdown",
             local_port(a));
    it_expect(&p, line, 3000);
    it_expect(&p, "server s1 stopped and deleted", 3000);
    IT_CHECK(it_wait_closed(a, 3000));
    cmd(&p, "config tcp-server s2 abort");
    it_expect(&p, "server s2 stopped and deleted", 3000);
    IT_CHECK(it_wait_closed(c, 3000));
    cmd(&p, "exit");
    IT_EQ(it_proc_wait(&p), 0);
    it_close(a);
    it_close(b);
    it_close(c);
}

/* Asks for the server's summary and waits for `what` in it: the CLI runs
 * lines in order, so the setting before it is in force once it shows. */
static void
shows(struct it_proc *p, const char *name, const char *what)
{
    cmd(p, "show tcp-server %s", name);
    it_expect(p, what, 3000);
    it_expect(p, "ID  CLIENT", 3000); /* the end of this summary */
}

/* Waits for tslsh to report a rejection ending in `why` and for the
 * refused client fd to see its connection closed; closes fd. */
static void
refused(struct it_proc *p, int fd, const char *why)
{
    it_expect(p, why, 3000);
    IT_CHECK(it_wait_closed(fd, 3000));
    it_close(fd);
}

/* Sends text as one frame on fd and waits for tslsh to report it. */
static void
delivered(struct it_proc *p, int fd, const char *text)
{
    uint8_t frame[128];
    char line[96];
    size_t n = it_frame(text, strlen(text), frame);

    it_send_all(fd, frame, n);
    snprintf(line, sizeof(line), "message from 127.0.0.1:%u", local_port(fd));
    it_expect(p, line, 3000);
}

/* Every course setting, through tslsh, observed from outside: what the
 * CLI prints and what real clients see. */
static void
every_setting_takes_effect(void)
{
    const char *argv[] = {tslsh, NULL};
    struct it_proc p;
    char port_s[16], line[160];
    uint8_t frame[64];
    uint16_t port, lport = 0;
    int a, b, c, lfd, out;
    size_t n;

    it_spawn(&p, argv);
    cmd(&p, "config tcp-server s 127.0.0.1 0");
    cmd(&p, "config tcp-server s framing variable");
    cmd(&p, "config tcp-server s start");
    it_capture(&p, "server s listening on 127.0.0.1:", "\n", port_s,
               sizeof(port_s), 3000);
    port = (uint16_t)atoi(port_s);

    /* disable-conn-accept: refused, counted, closed at once. */
    cmd(&p, "config tcp-server s disable-conn-accept");
    shows(&p, "s", "flags not-accepting");
    refused(&p, it_connect(port), ": not-accepting");
    cmd(&p, "config tcp-server s no disable-conn-accept");
    shows(&p, "s", "flags -");

    /* max-client-limit: the second is refused; `no` lifts it. */
    cmd(&p, "config tcp-server s max-client-limit 1");
    shows(&p, "s", "max-clients 1");
    a = it_connect(port);
    snprintf(line, sizeof(line), "[s] connected 127.0.0.1:%u", local_port(a));
    it_expect(&p, line, 3000);
    refused(&p, it_connect(port), ": max-clients");
    cmd(&p, "config tcp-server s no max-client-limit");
    shows(&p, "s", "max-clients 0");

    /* black-list: an address refused, then allowed again. */
    cmd(&p, "config tcp-server s client black-list 127.0.0.2");
    shows(&p, "s", "flags -");
    b = it_connect_from(port, "127.0.0.2");
    it_expect(&p, "rejected 127.0.0.2:", 3000);
    refused(&p, b, ": blacklisted");
    cmd(&p, "config tcp-server s no client black-list 127.0.0.2");
    shows(&p, "s", "flags -");
    b = it_connect_from(port, "127.0.0.2");
    it_expect(&p, "[s] connected 127.0.0.2:", 3000);
    n = it_frame("allowed again", 13, frame);
    it_send_all(b, frame, n);
    it_expect(&p, "message from 127.0.0.2:", 3000);

    /* multi-threaded-mode: the next client gets a thread of its own. */
    cmd(&p, "config tcp-server s multi-threaded-mode");
    shows(&p, "s", "flags multi-threaded");
    c = it_connect(port);
    delivered(&p, c, "on a thread");
    cmd(&p, "show tcp-server s client 127.0.0.1 %u stats", local_port(c));
    it_expect(&p, "threaded  migrations 0", 3000);
    cmd(&p, "config tcp-server s no multi-threaded-mode");
    shows(&p, "s", "flags -");

    /* disable-client-listen: bytes wait, nothing is delivered, until the
     * setting is lifted. */
    cmd(&p, "config tcp-server s disable-client-listen");
    shows(&p, "s", "flags not-listening");
    n = it_frame("held back", 9, frame);
    it_send_all(a, frame, n);
    it_send_all(c, frame, n); /* the threaded one too */
    cmd(&p, "show tcp-server s client 127.0.0.1 %u stats", local_port(a));
    it_expect(&p, "messages in 0", 3000);
    cmd(&p, "show tcp-server s client 127.0.0.1 %u stats", local_port(c));
    it_expect(&p, "messages in 1", 3000); /* the one before */
    cmd(&p, "config tcp-server s no disable-client-listen");
    /* Both, in either order: each receiver wakes to the change. */
    it_expect(&p, "[s] message from 127.0.0.1:", 3000);
    it_expect(&p, "[s] message from 127.0.0.1:", 3000);

    /* ka-interval: silent clients are dropped after three intervals. */
    cmd(&p, "config tcp-server s ka-interval 100");
    it_expect(&p, ": ka-expired", 3000);
    it_expect(&p, ": ka-expired", 3000);
    it_expect(&p, ": ka-expired", 3000);
    IT_CHECK(it_wait_closed(a, 3000));
    IT_CHECK(it_wait_closed(b, 3000));
    IT_CHECK(it_wait_closed(c, 3000));
    cmd(&p, "config tcp-server s ka-interval 0");

    /* connect: client mode, to a listener of ours. */
    lfd = it_listen(&lport);
    cmd(&p, "config tcp-server s connect 127.0.0.1 %u", lport);
    snprintf(line, sizeof(line), "[s] connected 127.0.0.1:%u", lport);
    it_expect(&p, line, 3000);
    out = accept(lfd, NULL, NULL);
    IT_CHECK(out >= 0);

    cmd(&p, "config tcp-server s abort");
    it_expect(&p, "server s stopped and deleted", 3000);
    IT_CHECK(it_wait_closed(out, 3000));
    cmd(&p, "exit");
    IT_EQ(it_proc_wait(&p), 0);
    it_close(a);
    it_close(b);
    it_close(c);
    close(out);
    close(lfd);
}

static void
errors_stop_the_script_unless_keep_going(void)
{
    const char *stop[] = {tslsh, "-c", "config tcp-server x", "-c", "bogus words",
                          "-c", "show tcp-server", NULL};
    const char *keep[] = {tslsh, "-k", "-c", "config tcp-server x", "-c",
                          "bogus", "-c", "show tcp-server", NULL};
    struct it_proc p;
    char err[2048];

    it_spawn(&p, stop);
    it_expect(&p, "server x created", 3000);
    it_read_err(&p, err, sizeof(err));
    IT_CHECK(strstr(err, "tslsh: -c #2: unknown command 'bogus'") != NULL);
    IT_EQ(it_proc_wait(&p), 1);
    IT_CHECK(strstr(p.buf, "NAME") == NULL); /* the third did not run */

    it_spawn(&p, keep);
    it_expect(&p, "NAME  ADDRESS", 3000);
    IT_EQ(it_proc_wait(&p), 1);
}

static void
bad_input_gets_one_line_errors(void)
{
    static const char *const bad[][2] = {
        {"config tcp-server a 127.0.0.300 1", "bad IP '127.0.0.300'"},
        {"config tcp-server a 127.0.0.1 65536", "port '65536' out of range"},
        {"config tcp-server a 127.0.0.1 http", "'http' is not a number"},
        {"config tcp-server", "expected <name>"},
        {"config tcp-server a!b", "bad server name 'a!b'"},
        {"config tcp-server nosuch start", "unknown server 'nosuch'"},
        {"config tcp-server a max-client-limit 99999999999",
         "out of range"},
        {"config tcp-server a framing fixed 0", "fixed: size must be"},
        {"config tcp-server a start now", "unexpected 'now'"},
        {"config tcp-server a backend poll", "expected: select, epoll"},
        {"show tcp-server a client 1.2.3.4 5 stat", "expected: stats"},
        {"\x01\x02\xff garbage", "unknown command"},
    };
    char script[] = "/tmp/tslsh-XXXXXX";
    const char *argv[] = {tslsh, "-k", "-f", script, NULL};
    struct it_proc p;
    char err[8192];
    size_t i;
    FILE *f;
    int fd = mkstemp(script);

    IT_CHECK(fd >= 0);
    f = fdopen(fd, "w");
    fputs("config tcp-server a\n", f);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        fprintf(f, "%s\n", bad[i][0]);
    /* An over-long line and a long run of words. */
    for (i = 0; i < 5000; i++)
        fputc('x', f);
    fputc('\n', f);
    for (i = 0; i < 100; i++)
        fputs("w ", f);
    fputs("\nconfig tcp-server a abort\n", f);
    fclose(f);
    it_spawn(&p, argv);
    it_expect(&p, "server a stopped and deleted", 3000);
    it_read_err(&p, err, sizeof(err));
    IT_EQ(it_proc_wait(&p), 1);
    unlink(script);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char where[64];
        snprintf(where, sizeof(where), "%s:%zu: ", script, i + 2);
        if (strstr(err, where) == NULL || strstr(err, bad[i][1]) == NULL)
            IT_FAIL("no error '%s' for line %zu; stderr:\n%s", bad[i][1],
                    i + 2, err);
    }
    IT_CHECK(strstr(err, "line longer than") != NULL);
    IT_CHECK(strstr(err, "too many words") != NULL);
}


/* Sends a `show ... --json` command and parses the one line it prints,
 * which starts with `first` (`{"name":`, `[{"name":`, `{"id":`). */
static struct it_json *json_of(struct it_proc *p, const char *first,
                               const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct it_json *
json_of(struct it_proc *p, const char *first, const char *fmt, ...)
{
    static char body[1 << 15], doc[sizeof(body) + 64];
    char line[512], err[128];
    struct it_json *j;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    cmd(p, "%s", line);
    it_capture(p, first, "\n", body, sizeof(body), 3000);
    snprintf(doc, sizeof(doc), "%s%s", first, body);
    if ((j = it_json_parse(doc, err, sizeof(err))) == NULL)
        IT_FAIL("'%s' printed no JSON (%s): %s", line, err, doc);
    return j;
}

/* The element of a clients array whose "client" is 127.0.0.1:port; fails
 * the case unless there is exactly one. */
static const struct it_json *
client_in(const struct it_json *clients, uint16_t port)
{
    const struct it_json *found = NULL, *c;
    char want[32];
    size_t i;

    snprintf(want, sizeof(want), "127.0.0.1:%u", port);
    for (i = 0; (c = it_json_at(clients, i)) != NULL; i++) {
        const struct it_json *name = it_json_need(c, "client", IT_JSON_STRING);
        if (strcmp(name->string, want) == 0) {
            if (found != NULL)
                IT_FAIL("client %s listed twice", want);
            found = c;
        }
    }
    if (found == NULL)
        IT_FAIL("client %s missing from the clients array", want);
    return found;
}

/* One client object of `show tcp-server NAME --json`, member by member. */
static void
client_is(const struct it_json *clients, uint16_t port, uint64_t id,
          const char *mode, const char *direction, uint64_t bytes_in,
          uint64_t msgs_in, unsigned migrations, int64_t t0)
{
    const struct it_json *c = client_in(clients, port);
    const struct it_json *t;
    int64_t now = (int64_t)time(NULL) * 1000 + 1000;

    IT_EQ(c->count, 17); /* nothing missing, nothing extra */
    it_json_num_eq(c, "id", (double)id);
    it_json_str_eq(c, "mode", mode);
    it_json_str_eq(c, "direction", direction);
    it_json_num_eq(c, "bytes_in", (double)bytes_in);
    it_json_num_eq(c, "bytes_out", 0);
    it_json_num_eq(c, "msgs_in", (double)msgs_in);
    it_json_num_eq(c, "msgs_out", 0);
    it_json_num_eq(c, "keepalives_in", 0);
    it_json_num_eq(c, "keepalives_out", 0);
    it_json_num_eq(c, "protocol_errors", 0);
    it_json_num_eq(c, "out_queued", 0);
    it_json_num_eq(c, "out_queued_peak", 0);
    it_json_num_eq(c, "migrations", migrations);
    it_json_num_eq(c, "last_send_ms", 0);
    t = it_json_need(c, "connect_time_ms", IT_JSON_NUMBER);
    IT_CHECK(t->number >= (double)t0 && t->number <= (double)now);
    t = it_json_need(c, "last_recv_ms", IT_JSON_NUMBER);
    if (msgs_in == 0)
        IT_EQ(t->number, 0);
    else
        IT_CHECK(t->number >= (double)t0 && t->number <= (double)now);
}

/* Every member of the summary of a server whose counters are all zero
 * but those given. */
static void
counters_are(const struct it_json *obj, const char *const names[],
             const char *nonzero, double v)
{
    size_t i;

    for (i = 0; names[i] != NULL; i++)
        it_json_num_eq(obj, names[i],
                       nonzero != NULL && strcmp(names[i], nonzero) == 0 ? v
                                                                         : 0);
    IT_EQ(obj->count, i);
}

static const char *const reason_names[] = {
    "peer-closed", "peer-reset",    "forced",   "ka-expired",
    "protocol-error", "slow-consumer", "shutdown", NULL};
static const char *const reject_names[] = {
    "max-clients",  "blacklisted",  "not-accepting",
    "fd-exhausted", "fd-too-large", "no-memory", NULL};

/* The JSON of `show`: a server with three accepted clients (one moved
 * to a thread, one that sent a message) and one made by a connector,
 * every member checked; then the connector cancelled and the same JSON
 * without it; and the shell's end stopping the server, its clients'
 * shutdown events before "stopped". */
static void
show_json_field_by_field(void)
{
    const char *argv[] = {tslsh, NULL};
    struct it_proc p;
    struct it_json *j;
    const struct it_json *st, *v;
    char port_s[16], line[200], err[4096];
    uint8_t frame[16];
    uint16_t port, lport = 0, pa, pb, pc;
    int a, b, c, lfd, out;
    int64_t t0 = (int64_t)time(NULL) * 1000 - 1000;

    it_spawn(&p, argv);
    cmd(&p, "config tcp-server j 127.0.0.1 0");
    cmd(&p, "config tcp-server j framing variable");
    it_expect(&p, "server j: framing variable", 3000);
    cmd(&p, "config tcp-server j backend select");
    it_expect(&p, "server j: backend select", 3000);
    cmd(&p, "config tcp-server j max-client-limit 10");
    it_expect(&p, "server j: at most 10 clients", 3000);
    cmd(&p, "config tcp-server j ka-interval 100000");
    it_expect(&p, "server j: keepalive every 100000 ms, clients dropped "
                  "after 300000 ms of silence", 3000);
    cmd(&p, "config tcp-server j start");
    it_capture(&p, "server j listening on 127.0.0.1:", "\n", port_s,
               sizeof(port_s), 3000);
    port = (uint16_t)atoi(port_s);

    a = it_connect(port);
    pa = local_port(a);
    snprintf(line, sizeof(line), "[j] connected 127.0.0.1:%u (id 1)", pa);
    it_expect(&p, line, 3000);
    b = it_connect(port);
    pb = local_port(b);
    snprintf(line, sizeof(line), "[j] connected 127.0.0.1:%u (id 2)", pb);
    it_expect(&p, line, 3000);
    c = it_connect(port);
    pc = local_port(c);
    snprintf(line, sizeof(line), "[j] connected 127.0.0.1:%u (id 3)", pc);
    it_expect(&p, line, 3000);
    it_send_all(a, frame, it_frame("hello", 5, frame));
    it_expect(&p, "[j] message from", 3000);
    cmd(&p, "config tcp-server j client 127.0.0.1 %u multi-threaded", pb);
    snprintf(line, sizeof(line),
             "[j] client 127.0.0.1:%u (id 2) moving to a thread of its own",
             pb);
    it_expect(&p, line, 3000);
    snprintf(line, sizeof(line),
             "[j] client 127.0.0.1:%u (id 2) now on a thread of its own "
             "(migration 1)",
             pb);
    it_expect(&p, line, 10000);
    lfd = it_listen(&lport);
    cmd(&p, "config tcp-server j connect 127.0.0.1 %u", lport);
    {
        char ev[100];
        snprintf(line, sizeof(line),
                 "server j: connector 1 connecting to 127.0.0.1:%u", lport);
        snprintf(ev, sizeof(ev), "[j] connected 127.0.0.1:%u (id 4)", lport);
        expect_both(&p, line, ev);
    }
    out = accept(lfd, NULL, NULL);
    IT_CHECK(out >= 0);

    j = json_of(&p, "{\"name\":", "show tcp-server j --json");
    IT_EQ(j->count, 12);
    it_json_str_eq(j, "name", "j");
    it_json_str_eq(j, "ip", "127.0.0.1");
    it_json_num_eq(j, "port", port);
    it_json_bool_eq(j, "running", true);
    it_json_str_eq(j, "flags", "-");
    it_json_str_eq(j, "framing", "variable");
    it_json_str_eq(j, "backend", "select");
    it_json_num_eq(j, "max_clients", 10);
    it_json_num_eq(j, "keepalive_hold_ms", 300000);
    st = it_json_need(j, "stats", IT_JSON_OBJECT);
    IT_EQ(st->count, 12);
    it_json_num_eq(st, "accepted", 3); /* the connector's is no accepted one */
    it_json_num_eq(st, "current_clients", 4);
    it_json_num_eq(st, "peak_clients", 4);
    it_json_num_eq(st, "accept_errors", 0);
    it_json_num_eq(st, "bytes_in", 7);
    it_json_num_eq(st, "msgs_in", 1);
    it_json_num_eq(st, "bytes_out", 0);
    it_json_num_eq(st, "msgs_out", 0);
    it_json_num_eq(st, "keepalives_in", 0);
    it_json_num_eq(st, "protocol_errors", 0);
    counters_are(it_json_need(st, "disconnected", IT_JSON_OBJECT),
                 reason_names, NULL, 0);
    counters_are(it_json_need(st, "rejected", IT_JSON_OBJECT), reject_names,
                 NULL, 0);
    v = it_json_need(j, "clients", IT_JSON_ARRAY);
    IT_EQ(v->count, 4);
    client_is(v, pa, 1, "multiplexed", "in", 7, 1, 0, t0);
    client_is(v, pb, 2, "threaded", "in", 0, 0, 1, t0);
    client_is(v, pc, 3, "multiplexed", "in", 0, 0, 0, t0);
    client_is(v, lport, 4, "multiplexed", "out", 0, 0, 0, t0);
    v = it_json_need(j, "connectors", IT_JSON_ARRAY);
    IT_EQ(v->count, 1);
    v = it_json_at(v, 0);
    IT_EQ(v->count, 5);
    it_json_num_eq(v, "id", 1);
    it_json_str_eq(v, "ip", "127.0.0.1");
    it_json_num_eq(v, "port", lport);
    it_json_bool_eq(v, "connected", true);
    it_json_num_eq(v, "client_id", 4);
    it_json_free(j);

    j = json_of(&p, "[{\"name\":", "show tcp-server --json");
    IT_EQ(j->count, 1);
    v = it_json_at(j, 0);
    IT_EQ(v->count, 7);
    it_json_str_eq(v, "name", "j");
    it_json_str_eq(v, "ip", "127.0.0.1");
    it_json_num_eq(v, "port", port);
    it_json_bool_eq(v, "running", true);
    it_json_num_eq(v, "clients", 4);
    it_json_num_eq(v, "accepted", 3);
    it_json_num_eq(v, "connectors", 1);
    it_json_free(j);

    j = json_of(&p, "{\"id\":", "show tcp-server j client 127.0.0.1 %u stats "
                                "--json", pa);
    IT_EQ(j->count, 16);
    snprintf(line, sizeof(line), "127.0.0.1:%u", pa);
    it_json_str_eq(j, "client", line);
    it_json_num_eq(j, "id", 1);
    it_json_str_eq(j, "mode", "multiplexed");
    it_json_num_eq(j, "bytes_in", 7);
    it_json_num_eq(j, "msgs_in", 1);
    it_json_num_eq(j, "migrations", 0);
    it_json_free(j);

    /* Cancelled: the remote sees the close, the client goes as forced,
     * and the connector leaves the JSON. */
    cmd(&p, "config tcp-server j no connect 127.0.0.1 %u", lport);
    {
        char ev[100];
        snprintf(line, sizeof(line),
                 "server j: connector 1 to 127.0.0.1:%u cancelled", lport);
        snprintf(ev, sizeof(ev), "[j] disconnected 127.0.0.1:%u (id 4): forced",
                 lport);
        expect_both(&p, line, ev);
    }
    IT_CHECK(it_wait_closed(out, 3000));
    j = json_of(&p, "{\"name\":", "show tcp-server j --json");
    st = it_json_need(j, "stats", IT_JSON_OBJECT);
    it_json_num_eq(st, "accepted", 3);
    it_json_num_eq(st, "current_clients", 3);
    counters_are(it_json_need(st, "disconnected", IT_JSON_OBJECT),
                 reason_names, "forced", 1);
    v = it_json_need(j, "clients", IT_JSON_ARRAY);
    IT_EQ(v->count, 3);
    client_is(v, pa, 1, "multiplexed", "in", 7, 1, 0, t0);
    client_is(v, pb, 2, "threaded", "in", 0, 0, 1, t0);
    client_is(v, pc, 3, "multiplexed", "in", 0, 0, 0, t0);
    IT_EQ(it_json_need(j, "connectors", IT_JSON_ARRAY)->count, 0);
    it_json_free(j);

    /* A second cancel fails, which ends the script: the end stops the
     * server, every client's shutdown before "stopped". */
    cmd(&p, "config tcp-server j no connect 127.0.0.1 %u", lport);
    close(p.in);
    p.in = -1;
    {
        /* In any order (two threads serve them), all before "stopped". */
        static char before[1 << 15];
        uint16_t ports[3] = {pa, pb, pc};
        int k;
        it_capture(&p, "", "server j stopped", before, sizeof(before), 3000);
        for (k = 0; k < 3; k++) {
            snprintf(line, sizeof(line),
                     "[j] disconnected 127.0.0.1:%u (id %d): shutdown",
                     ports[k], k + 1);
            if (strstr(before, line) == NULL)
                IT_FAIL("no '%s' before \"server j stopped\":\n%s", line,
                        before);
        }
    }
    it_read_err(&p, err, sizeof(err));
    snprintf(line, sizeof(line), "server 'j' has no connector to "
                                 "127.0.0.1:%u", lport);
    if (strstr(err, line) == NULL)
        IT_FAIL("no '%s' on stderr:\n%s", line, err);
    IT_EQ(it_proc_wait(&p), 1);
    IT_CHECK(it_wait_closed(a, 3000));
    IT_CHECK(it_wait_closed(b, 3000));
    IT_CHECK(it_wait_closed(c, 3000));
    it_close(a);
    it_close(b);
    it_close(c);
    close(out);
    close(lfd);
}

/* Waits for both texts in either order: a command's own output and an
 * event it causes on a server thread race each other to stdout. */
static void
expect_both(struct it_proc *p, const char *x, const char *y)
{
    static char seen[1 << 15];

    it_capture(p, "", x, seen, sizeof(seen), 3000);
    if (strstr(seen, y) == NULL)
        it_expect(p, y, 3000);
}

/* Reads fd to its end (the server closes it) and checks every byte. */
static void
stream_is(int fd, const void *want, size_t n)
{
    uint8_t got[256];
    size_t len = 0;
    int64_t end = it_now_ms() + 3000 * it_scale();
    ssize_t r;

    for (;;) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (it_now_ms() > end)
            IT_FAIL("the peer's stream did not end (%zu bytes so far)", len);
        if (poll(&pf, 1, 50) <= 0)
            continue;
        r = read(fd, got + len, sizeof(got) - len);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            IT_FAIL("read: %s", strerror(errno));
        }
        len += (size_t)r;
        if (len == sizeof(got))
            break;
    }
    if (len != n || memcmp(got, want, n) != 0) {
        size_t i;
        fprintf(stderr, "peer received %zu bytes:", len);
        for (i = 0; i < len; i++)
            fprintf(stderr, " %02x", got[i]);
        fprintf(stderr, "\nexpected %zu:", n);
        for (i = 0; i < n; i++)
            fprintf(stderr, " %02x", ((const uint8_t *)want)[i]);
        fputc('\n', stderr);
        IT_FAIL("the peer did not receive exactly what was sent");
    }
}

/* `send` puts exactly the framed text on the wire: with `none` the text
 * and one newline (spaces kept as typed), with a delimiter the text and
 * the delimiter's bytes (high nibbles included), with fixed:N the N
 * bytes alone - and nothing else, up to the close. */
static void
send_puts_exactly_the_framed_text_on_the_wire(void)
{
    static const struct {
        const char *name, *framing, *text1, *text2, *bytes;
        size_t n;
    } cases[] = {
        {"n", "none", "hello", "two  words ", "hello\ntwo  words \n", 18},
        {"d", "delimiter:fe0a", "x y", "z", "x y\xfe\nz\xfe\n", 8},
        {"f", "fixed 4", "abcd", "wxyz", "abcdwxyz", 8},
    };
    const char *argv[] = {tslsh, "-k", NULL};
    struct it_proc p;
    char port_s[16], line[200], err[4096];
    size_t i;

    it_spawn(&p, argv);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint16_t port, pa;
        int a;
        cmd(&p, "config tcp-server %s 127.0.0.1 0", cases[i].name);
        cmd(&p, "config tcp-server %s framing %s", cases[i].name,
            cases[i].framing);
        cmd(&p, "config tcp-server %s start", cases[i].name);
        snprintf(line, sizeof(line), "server %s listening on 127.0.0.1:",
                 cases[i].name);
        it_capture(&p, line, "\n", port_s, sizeof(port_s), 3000);
        port = (uint16_t)atoi(port_s);
        a = it_connect(port);
        pa = local_port(a);
        snprintf(line, sizeof(line), "[%s] connected 127.0.0.1:%u",
                 cases[i].name, pa);
        it_expect(&p, line, 3000);
        cmd(&p, "run tcp-server %s client send 127.0.0.1 %u %s", cases[i].name,
            pa, cases[i].text1);
        snprintf(line, sizeof(line), "[%s] sent ", cases[i].name);
        it_expect(&p, line, 3000);
        if (i == 2) { /* the wrong size is refused, nothing sent */
            cmd(&p, "run tcp-server f client send 127.0.0.1 %u abc", pa);
        }
        cmd(&p, "run tcp-server %s client send 127.0.0.1 %u %s", cases[i].name,
            pa, cases[i].text2);
        it_expect(&p, line, 3000);
        cmd(&p, "run tcp-server %s client disconnect 127.0.0.1 %u",
            cases[i].name, pa);
        snprintf(line, sizeof(line),
                 "[%s] client 127.0.0.1:%u (id 1) disconnecting (forced)",
                 cases[i].name, pa);
        it_expect(&p, line, 3000);
        stream_is(a, cases[i].bytes, cases[i].n);
        it_close(a);
    }
    cmd(&p, "exit");
    it_expect(&p, "server n stopped", 3000);
    close(p.in);
    p.in = -1;
    it_read_err(&p, err, sizeof(err));
    IT_CHECK(strstr(err, "the text must be exactly 4 bytes, not 3") != NULL);
    IT_EQ(it_proc_wait(&p), 1);
}

/* The address words reach the library as typed: a server on [::1] whose
 * IPv6 client is named back in brackets and reached by `send`, one on
 * a Unix socket, one on `localhost` (resolved by the library). */
static void
address_words_reach_the_library(void)
{
    const char *argv[] = {tslsh, NULL};
    char path[64], port_s[16], line[200];
    struct sockaddr_in6 six;
    struct sockaddr_un un;
    struct it_proc p;
    socklen_t len = sizeof(six);
    uint16_t port, cport;
    int fd, ufd;
    struct timeval tv = {3 * it_scale(), 0};

    snprintf(path, sizeof(path), "/tmp/it_cli-%d.sock", (int)getpid());
    unlink(path);
    it_spawn(&p, argv);
    cmd(&p, "config tcp-server s6 [::1] 0");
    it_expect(&p, "server s6 created on [::1]:0", 3000);
    cmd(&p, "config tcp-server s6 start");
    it_capture(&p, "server s6 listening on [::1]:", "\n", port_s,
               sizeof(port_s), 3000);
    port = (uint16_t)atoi(port_s);
    fd = socket(AF_INET6, SOCK_STREAM, 0);
    IT_CHECK(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&six, 0, sizeof(six));
    six.sin6_family = AF_INET6;
    six.sin6_port = htons(port);
    six.sin6_addr = in6addr_loopback;
    IT_EQ(connect(fd, (struct sockaddr *)&six, sizeof(six)), 0);
    IT_EQ(getsockname(fd, (struct sockaddr *)&six, &len), 0);
    cport = ntohs(six.sin6_port);
    snprintf(line, sizeof(line), "[s6] connected [::1]:%u (id 1)", cport);
    it_expect(&p, line, 3000);
    cmd(&p, "run tcp-server s6 client send ::1 %u over six", cport);
    snprintf(line, sizeof(line), "[s6] sent 9 bytes to [::1]:%u (id 1)", cport);
    it_expect(&p, line, 3000);
    cmd(&p, "run tcp-server s6 client disconnect [::1] %u", cport);
    stream_is(fd, "over six\n", 9);
    close(fd);

    cmd(&p, "config tcp-server u unix:%s", path);
    snprintf(line, sizeof(line), "server u created on unix:%s", path);
    it_expect(&p, line, 3000);
    cmd(&p, "config tcp-server u start");
    snprintf(line, sizeof(line), "server u listening on unix:%s", path);
    it_expect(&p, line, 3000);
    ufd = socket(AF_UNIX, SOCK_STREAM, 0);
    IT_CHECK(ufd >= 0);
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    IT_EQ(connect(ufd, (struct sockaddr *)&un, sizeof(un)), 0);
    it_expect(&p, "[u] connected ", 3000);

    cmd(&p, "config tcp-server h localhost 0");
    it_expect(&p, "server h created on localhost:0", 3000);
    cmd(&p, "config tcp-server h start");
    it_expect(&p, "server h listening on ", 3000);

    cmd(&p, "exit");
    it_expect(&p, "[u] disconnected ", 3000);
    IT_CHECK(it_wait_closed(ufd, 3000));
    IT_EQ(it_proc_wait(&p), 0);
    close(ufd);
    unlink(path);
}

/* --help and -h print usage and succeed; a bad option is status 2; a
 * server that cannot listen says on which address, and -i still gives
 * the shell after that failure. */
static void
help_and_a_failure_before_interactive(void)
{
    const char *help[] = {tslsh, "--help", NULL};
    const char *h[] = {tslsh, "-h", NULL};
    const char *bogus[] = {tslsh, "--bogus", NULL};
    char c1[64], err[4096], want[160];
    const char *taken[] = {tslsh, "-c", c1, "-c", "config tcp-server d start",
                           "-c", "config tcp-server e", "-i", NULL};
    struct it_proc p;
    uint16_t port = 0;
    int hold;

    it_spawn(&p, help);
    it_expect(&p, "usage: tslsh", 3000);
    it_expect(&p, "--help", 3000);
    IT_EQ(it_proc_wait(&p), 0);
    it_spawn(&p, h);
    it_expect(&p, "usage: tslsh", 3000);
    IT_EQ(it_proc_wait(&p), 0);
    it_spawn(&p, bogus);
    IT_EQ(it_proc_wait(&p), 2);

    hold = it_listen(&port); /* the port is taken */
    snprintf(c1, sizeof(c1), "config tcp-server d 127.0.0.1 %u", port);
    it_spawn(&p, taken);
    it_expect(&p, "server d created", 3000);
    /* The shell reads on; the script stopped at the failure (the third
     * never ran: d is the only server) and d is not running. */
    {
        struct it_json *j = json_of(&p, "[{\"name\":",
                                    "show tcp-server --json");
        IT_EQ(j->count, 1);
        it_json_str_eq(it_json_at(j, 0), "name", "d");
        it_json_bool_eq(it_json_at(j, 0), "running", false);
        it_json_free(j);
    }
    cmd(&p, "config tcp-server d abort");
    it_expect(&p, "server d stopped and deleted", 3000);
    cmd(&p, "exit");
    close(p.in);
    p.in = -1;
    it_read_err(&p, err, sizeof(err));
    snprintf(want, sizeof(want),
             "tslsh: -c #2: server d cannot listen on 127.0.0.1:%u: address "
             "already in use",
             port);
    if (strstr(err, want) == NULL)
        IT_FAIL("no '%s' on stderr:\n%s", want, err);
    IT_EQ(it_proc_wait(&p), 1);
    close(hold);
}

/* Waits until the line editor itself reads keys: TAB on an empty line
 * lists the commands with their help only then (before, the terminal is
 * still in cooked mode, where an end-of-file key or keys typed ahead of a
 * signal are the terminal's, not the shell's). */
static void
editor_ready(struct it_proc *p)
{
    it_proc_write(p, "\t");
    it_expect(p, "change configuration", 3000);
    it_expect(p, "tslsh> ", 3000);
}

static void
interactive_completion_history_and_events(void)
{
    const char *argv[] = {tslsh, NULL};
    struct it_proc p;
    uint16_t port;
    int fd;
    char line[128];

    it_spawn_pty(&p, argv);
    it_expect(&p, "tslsh> ", 3000);
    /* TAB completes a unique keyword. */
    it_proc_write(&p, "con\t");
    it_expect(&p, "fig ", 3000);
    it_proc_write(&p, "tcp\t");
    it_expect(&p, "-server ", 3000);
    it_proc_write(&p, "web 127.0.0.1 0\r");
    it_expect(&p, "server web created", 3000);
    /* '?' lists what may follow, each word on its line with its help. */
    it_proc_write(&p, "config tcp-server web ?");
    {
        char gap[64];
        it_capture(&p, "\n  start", "start the server\r\n", gap, sizeof(gap),
                   3000);
        IT_CHECK(gap[0] == ' ' && strspn(gap, " ") == strlen(gap));
        it_capture(&p, "\n  disable-conn-accept", "refuse new connections\r\n",
                   gap, sizeof(gap), 3000);
        IT_CHECK(gap[0] == ' ' && strspn(gap, " ") == strlen(gap));
        it_capture(&p, "\n  <addr>", "host name\r\n", gap, sizeof(gap), 3000);
        IT_CHECK(strstr(gap, "IPv6") != NULL);
    }
    it_expect(&p, "tslsh> config tcp-server web ", 3000);
    /* TAB inserts the common prefix of several words, and a second TAB
     * lists them; then one is unique. */
    it_proc_write(&p, "d\t");
    it_expect(&p, "isable-c", 3000);
    it_proc_write(&p, "\t");
    it_expect(&p, "disable-conn-accept", 3000);
    it_expect(&p, "disable-client-listen", 3000);
    it_expect(&p, "tslsh> config tcp-server web disable-c", 3000);
    it_proc_write(&p, "o\t");
    it_expect(&p, "nn-accept ", 3000);
    /* Ctrl-C drops the line: what follows runs alone. */
    it_proc_write(&p, "\x03");
    it_expect(&p, "^C", 3000);
    it_expect(&p, "tslsh> ", 3000);
    it_proc_write(&p, "show tcp-server\r");
    it_expect(&p, "NAME  ADDRESS", 3000);
    it_proc_write(&p, "config tcp-server web ");
    it_expect(&p, "tslsh> config tcp-server web ", 3000);
    it_proc_write(&p, "start\r");
    it_expect(&p, "listening on 127.0.0.1:", 3000);
    {
        char digits[16];
        it_capture(&p, "", "\r", digits, sizeof(digits), 3000);
        port = (uint16_t)atoi(digits);
        IT_CHECK(port != 0);
    }
    /* History: up-arrow recalls the last command. */
    it_proc_write(&p, "show tcp-server\r");
    it_expect(&p, "NAME", 3000);
    it_proc_write(&p, "\x1b[A");
    it_expect(&p, "show tcp-server", 3000);
    it_proc_write(&p, "\r");
    it_expect(&p, "NAME", 3000);
    /* An event while a line is being typed: printed above, line redrawn. */
    it_proc_write(&p, "show tcp");
    it_expect(&p, "show tcp", 3000);
    fd = it_connect(port);
    snprintf(line, sizeof(line), "[web] connected 127.0.0.1:%u", local_port(fd));
    it_expect(&p, line, 3000);
    it_expect(&p, "tslsh> show tcp", 3000);
    it_proc_write(&p, "-server web\r");
    it_expect(&p, "current 1", 3000);
    /* exit stops the server: the client's shutdown, then "stopped". */
    it_proc_write(&p, "exit\r");
    snprintf(line, sizeof(line), "[web] disconnected 127.0.0.1:%u (id 1): "
                                 "shutdown", local_port(fd));
    it_expect(&p, line, 3000);
    it_expect(&p, "server web stopped", 3000);
    IT_EQ(it_proc_wait(&p), 0);
    IT_CHECK(it_wait_closed(fd, 3000));
    it_close(fd);
}

/* SIGINT (Ctrl-C from elsewhere) while a line is typed drops the line and
 * keeps the shell; Ctrl-D on an empty line ends it, the servers stopped
 * first. */
static void
interactive_sigint_keeps_the_shell_and_ctrl_d_stops(void)
{
    const char *argv[] = {tslsh, "-c", "config tcp-server q 127.0.0.1 0", "-c",
                          "config tcp-server q start", "-i", NULL};
    struct it_proc p;
    char port_s[16], line[128];
    int fd;

    it_spawn_pty(&p, argv);
    it_capture(&p, "server q listening on 127.0.0.1:", "\r", port_s,
               sizeof(port_s), 3000);
    fd = it_connect((uint16_t)atoi(port_s));
    snprintf(line, sizeof(line), "[q] connected 127.0.0.1:%u", local_port(fd));
    it_expect(&p, line, 3000);
    editor_ready(&p);
    it_proc_write(&p, "bogus words");
    it_expect(&p, "bogus words", 3000);
    IT_EQ(kill(p.pid, SIGINT), 0);
    it_expect(&p, "^C", 3000);
    it_proc_write(&p, "show tcp-server q\r");
    it_expect(&p, "current 1", 3000);
    editor_ready(&p);
    it_proc_write(&p, "\x04");
    snprintf(line, sizeof(line), "[q] disconnected 127.0.0.1:%u (id 1): "
                                 "shutdown", local_port(fd));
    it_expect(&p, line, 3000);
    it_expect(&p, "server q stopped", 3000);
    IT_EQ(it_proc_wait(&p), 0);
    it_close(fd);
}

int
main(int argc, char **argv)
{
    static const struct it_case_def cases[] = {
        {"scripted_session", scripted_session},
        {"every_setting_takes_effect", every_setting_takes_effect},
        {"errors_stop_the_script_unless_keep_going",
         errors_stop_the_script_unless_keep_going},
        {"bad_input_gets_one_line_errors", bad_input_gets_one_line_errors},
        {"show_json_field_by_field", show_json_field_by_field},
        {"send_puts_exactly_the_framed_text_on_the_wire",
         send_puts_exactly_the_framed_text_on_the_wire},
        {"help_and_a_failure_before_interactive",
         help_and_a_failure_before_interactive},
        {"address_words_reach_the_library", address_words_reach_the_library},
        {"interactive_completion_history_and_events",
         interactive_completion_history_and_events},
        {"interactive_sigint_keeps_the_shell_and_ctrl_d_stops",
         interactive_sigint_keeps_the_shell_and_ctrl_d_stops},
        {NULL, NULL},
    };

    if (argc < 2) {
        fprintf(stderr, "usage: it_cli PATH-TO-tslsh [CASE]\n");
        return 2;
    }
    tslsh = argv[1];
    it_argv0_extra = " ";
    return it_main(argc - 1, argv + 1, cases);
}

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
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

static const char *tslsh;

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
    /* '?' lists what may follow. */
    it_proc_write(&p, "config tcp-server web ?");
    it_expect(&p, "disable-conn-accept", 3000);
    it_expect(&p, "multi-threaded-mode", 3000);
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
    it_proc_write(&p, "exit\r");
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
        {"interactive_completion_history_and_events",
         interactive_completion_history_and_events},
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

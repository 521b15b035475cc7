/*
 * test_examples.c - the examples as black boxes: each case starts one
 * example on a free port (it prints the port, or dials one the case
 * listens on), talks to it over real sockets and checks every byte each
 * client receives and every line the example prints, then stops it with
 * SIGTERM and checks that it printed its shutdown lines and exited 0.
 *
 *   test_examples PATH-TO-EXAMPLE CASE
 *
 * The path may be a memcheck wrapper script (tsl_memcheck_wrapper); every
 * wait has a deadline, scaled by TSL_TIME_SCALE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

static const char *example_bin;

static void
start(struct it_proc *p, const char *a1, const char *a2, const char *a3,
      const char *a4, const char *a5)
{
    const char *argv[] = {example_bin, a1, a2, a3, a4, a5, NULL};

    it_spawn(p, argv);
}

/* Waits up to ms (scaled) for the example to exit; returns its status,
 * 128 + signal if a signal ended it.  What it wrote on stderr goes into
 * err (n > 0), or is printed when the status is not 0 (a memcheck report,
 * an error message). */
static int
wait_exit(struct it_proc *p, int ms, char *err, size_t n)
{
    int64_t dl = it_now_ms() + (int64_t)ms * it_scale();
    char text[8192];
    int st, rc;
    pid_t r;

    while ((r = waitpid(p->pid, &st, WNOHANG)) == 0) {
        if (it_now_ms() > dl) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            IT_FAIL("the example did not exit within %d ms", ms);
        }
        poll(NULL, 0, 10);
    }
    if (r != p->pid)
        IT_FAIL("waitpid: %s", strerror(errno));
    rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    /* It has exited: its end of the pipe is closed, the read ends. */
    if (n == 0) {
        err = text;
        n = sizeof(text);
    }
    it_read_err(p, err, n);
    if (rc != 0 && err == text)
        fprintf(stderr, "exit status %d; stderr:\n%s\n", rc, err);
    close(p->in);
    close(p->out);
    close(p->err);
    return rc;
}

/* The port in the example's "...listening on 127.0.0.1:PORT" line. */
static uint16_t
listening_port(struct it_proc *p, const char *prefix)
{
    char text[16];
    unsigned long port;
    char *end;

    it_capture(p, prefix, "\n", text, sizeof(text), 5000);
    port = strtoul(text, &end, 10);
    if (*end != '\0' || port == 0 || port > 65535)
        IT_FAIL("not a port after '%s': '%s'", prefix, text);
    return (uint16_t)port;
}

static void
send_text(int fd, const char *text)
{
    it_send_all(fd, text, strlen(text));
}

/* The next bytes the client receives are exactly `want`. */
static void
expect_bytes(int fd, const char *want)
{
    size_t n = strlen(want);
    char got[1024];

    IT_CHECK(n < sizeof(got));
    it_recv_exact(fd, got, n);
    got[n] = '\0';
    if (memcmp(got, want, n) != 0)
        IT_FAIL("client %d expected \"%s\", received \"%s\"", fd, want, got);
}

/* Bad arguments: usage on stderr, exit status 2, nothing served. */
static void
expect_usage(const char *bad)
{
    struct it_proc p;
    char err[512];

    start(&p, bad, NULL, NULL, NULL, NULL);
    IT_EQ(wait_exit(&p, 10000, err, sizeof(err)), 2);
    if (strstr(err, "usage: example-") == NULL)
        IT_FAIL("'%s': no usage line on stderr: %s", bad, err);
}

/* SIGTERM; the lines between "NAME: SIGTERM, stopping" and `last` go into
 * out; exit status 0. */
static void
stop(struct it_proc *p, const char *name, const char *last, char *out,
     size_t n)
{
    char first[64];

    IT_EQ(kill(p->pid, SIGTERM), 0);
    snprintf(first, sizeof(first), "%s: SIGTERM, stopping\n", name);
    it_capture(p, first, last, out, n, 10000);
    IT_EQ(wait_exit(p, 10000, NULL, 0), 0);
}

static void
must_contain(const char *text, const char *line)
{
    if (strstr(text, line) == NULL)
        IT_FAIL("expected the line \"%s\" among:\n%s", line, text);
}

/* Connects client number `id` (its nickname is guestID) and reads what
 * it and the clients already there (fds before it) are told. */
static int
chat_join(struct it_proc *p, uint16_t port, int id, const int *before)
{
    char want[96];
    int fd = it_connect(port), i;

    snprintf(want, sizeof(want), " as guest%d\n", id);
    it_expect(p, want, 5000);
    snprintf(want, sizeof(want),
             "* welcome guest%d; /nick NAME renames you\n", id);
    expect_bytes(fd, want);
    snprintf(want, sizeof(want), "* guest%d joined\n", id);
    for (i = 0; i < id - 1; i++)
        expect_bytes(before[i], want);
    return fd;
}

static void
chat_relays_between_three_clients(void)
{
    struct it_proc p;
    char shutdown_lines[1024];
    int fd[3];
    uint16_t port;

    expect_usage("-p70000");
    start(&p, "-p", "0", NULL, NULL, NULL);
    port = listening_port(&p, "chat: listening on 127.0.0.1:");
    fd[0] = chat_join(&p, port, 1, fd);
    fd[1] = chat_join(&p, port, 2, fd);
    fd[2] = chat_join(&p, port, 3, fd);

    /* Nicknames: the sender is told, the others see the change. */
    send_text(fd[0], "/nick alice\n");
    expect_bytes(fd[0], "* you are now alice\n");
    expect_bytes(fd[1], "* guest1 is now alice\n");
    expect_bytes(fd[2], "* guest1 is now alice\n");
    it_expect(&p, "nick 1 guest1 -> alice\n", 5000);
    send_text(fd[1], "/nick bob\r\n"); /* a telnet line end */
    expect_bytes(fd[1], "* you are now bob\n");
    expect_bytes(fd[0], "* guest2 is now bob\n");
    expect_bytes(fd[2], "* guest2 is now bob\n");
    send_text(fd[2], "/nick carol\n");
    expect_bytes(fd[2], "* you are now carol\n");
    expect_bytes(fd[0], "* guest3 is now carol\n");
    expect_bytes(fd[1], "* guest3 is now carol\n");
    send_text(fd[2], "/nick two words\n");
    expect_bytes(fd[2], "* a nickname is 1 to 31 characters, no spaces\n");

    /* A line reaches the other two, not the sender: the sender's next
     * bytes are bob's line, so nothing of its own came first. */
    send_text(fd[0], "hello, all\n");
    expect_bytes(fd[1], "alice: hello, all\n");
    expect_bytes(fd[2], "alice: hello, all\n");
    send_text(fd[1], "hi ");
    send_text(fd[1], "alice\n"); /* a line in two writes */
    expect_bytes(fd[0], "bob: hi alice\n");
    expect_bytes(fd[2], "bob: hi alice\n");

    /* A client leaves: one line with the reason, the others are told. */
    it_close(fd[2]);
    it_expect(&p, "disconnect 3 carol peer-closed\n", 5000);
    expect_bytes(fd[0], "* carol left (peer-closed)\n");
    expect_bytes(fd[1], "* carol left (peer-closed)\n");
    send_text(fd[0], "still here?\n");
    expect_bytes(fd[1], "alice: still here?\n");

    stop(&p, "chat", "chat: stopped\n", shutdown_lines,
         sizeof(shutdown_lines));
    must_contain(shutdown_lines, "disconnect 1 alice shutdown\n");
    must_contain(shutdown_lines, "disconnect 2 bob shutdown\n");
    IT_CHECK(it_wait_closed(fd[0], 5000));
    IT_CHECK(it_wait_closed(fd[1], 5000));
    it_close(fd[0]);
    it_close(fd[1]);
}

static void
chat_drops_a_silent_client(void)
{
    struct it_proc p;
    char shutdown_lines[256];
    int fd;
    uint16_t port;

    start(&p, "-k", "300", NULL, NULL, NULL);
    port = listening_port(&p, "chat: listening on 127.0.0.1:");
    fd = chat_join(&p, port, 1, NULL);
    /* Silent for the 300 ms hold: dropped, with the reason. */
    it_expect(&p, "disconnect 1 guest1 ka-expired\n", 5000);
    IT_CHECK(it_wait_closed(fd, 5000));
    it_close(fd);
    stop(&p, "chat", "chat: stopped\n", shutdown_lines,
         sizeof(shutdown_lines));
    IT_CHECK(strstr(shutdown_lines, "disconnect") == NULL);
}

static void
kv_answers_line_commands(void)
{
    struct it_proc p;
    char long_line[300], shutdown_lines[256];
    int x, y, z;
    uint16_t port;

    expect_usage("extra-argument");
    start(&p, NULL, NULL, NULL, NULL, NULL);
    port = listening_port(&p, "kv: listening on 127.0.0.1:");
    x = it_connect(port);
    it_expect(&p, "connect 1 127.0.0.1:", 5000);
    send_text(x, "SET a 1\n");
    expect_bytes(x, "OK\n");
    y = it_connect(port);
    send_text(y, "GET a\n");
    expect_bytes(y, "VALUE 1\n");

    /* Pipelined, in one write: one reply line per command, in order. */
    send_text(y, "SET b two words\r\nGET b\nDEL b\nGET b\nDEL b\nFOO bar\n"
                 "GET\nSET c\n\n");
    expect_bytes(y, "OK\nVALUE two words\nOK\nNOT_FOUND\nNOT_FOUND\n"
                    "ERR unknown command 'FOO'\n"
                    "ERR usage: SET key value | GET key | DEL key | QUIT\n"
                    "ERR usage: SET key value | GET key | DEL key | QUIT\n"
                    "ERR empty line\n");
    /* One command in two writes. */
    send_text(x, "GE");
    send_text(x, "T a\n");
    expect_bytes(x, "VALUE 1\n");

    /* QUIT: the reply, then the server closes (a forced disconnect). */
    send_text(x, "QUIT\n");
    expect_bytes(x, "BYE\n");
    IT_CHECK(it_wait_closed(x, 5000));
    it_expect(&p, "disconnect 1 forced\n", 5000);

    /* A line over the framing's maximum ends the client. */
    memset(long_line, 'x', sizeof(long_line));
    it_send_all(y, long_line, sizeof(long_line));
    IT_CHECK(it_wait_closed(y, 5000));
    it_expect(&p, "disconnect 2 protocol-error\n", 5000);

    /* The store outlives the clients that wrote it. */
    z = it_connect(port);
    send_text(z, "GET a\n");
    expect_bytes(z, "VALUE 1\n");

    stop(&p, "kv", "kv: stopped; keys stored: 1\n", shutdown_lines,
         sizeof(shutdown_lines));
    must_contain(shutdown_lines, "disconnect 3 shutdown\n");
    IT_CHECK(it_wait_closed(z, 5000));
    it_close(x);
    it_close(y);
    it_close(z);
}

/* Accepts one connection within ms (scaled). */
static int
accept_within(int lfd, int ms)
{
    struct pollfd pf = {lfd, POLLIN, 0};
    struct timeval tv = {5 * it_scale(), 0};
    int fd;

    if (poll(&pf, 1, ms * it_scale()) <= 0)
        IT_FAIL("no connection from the agent within %d ms", ms);
    fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        IT_FAIL("accept: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void
agent_dials_again_when_the_collector_goes(void)
{
    struct it_proc p;
    char portstr[8], want[64], shutdown_lines[256];
    uint16_t port = 0;
    int lfd, fd;

    expect_usage("127.0.0.1");
    lfd = it_listen(&port);
    snprintf(portstr, sizeof(portstr), "%u", port);
    start(&p, "-n", "probe", "127.0.0.1", portstr, NULL);
    snprintf(want, sizeof(want), "agent: dialling 127.0.0.1:%u\n", port);
    it_expect(&p, want, 5000);
    fd = accept_within(lfd, 5000);
    expect_bytes(fd, "HELLO probe 1\n");
    it_expect(&p, "(connection 1)\n", 5000);
    send_text(fd, "PING\n");
    expect_bytes(fd, "PONG\n");
    send_text(fd, "WHAT\r\n");
    expect_bytes(fd, "ERR unknown command\n");

    /* The collector goes away entirely: nothing listens for a while, so
     * the agent's attempts are refused and back off. */
    close(lfd);
    it_close(fd);
    it_expect(&p, "disconnect 1 peer-closed, dialling again\n", 5000);
    lfd = it_listen(&port); /* the same port */
    fd = accept_within(lfd, 10000);
    expect_bytes(fd, "HELLO probe 2\n");
    it_expect(&p, "(connection 2)\n", 5000);
    send_text(fd, "PING\n");
    expect_bytes(fd, "PONG\n");

    stop(&p, "agent", "agent: stopped after 2 connections\n",
         shutdown_lines, sizeof(shutdown_lines));
    must_contain(shutdown_lines, " shutdown\n");
    IT_CHECK(strstr(shutdown_lines, "dialling again") == NULL);
    IT_CHECK(it_wait_closed(fd, 5000));
    it_close(fd);
    close(lfd);
}

int
main(int argc, char **argv)
{
    static const struct it_case_def cases[] = {
        {"chat_relays_between_three_clients",
         chat_relays_between_three_clients},
        {"chat_drops_a_silent_client", chat_drops_a_silent_client},
        {"kv_answers_line_commands", kv_answers_line_commands},
        {"agent_dials_again_when_the_collector_goes",
         agent_dials_again_when_the_collector_goes},
        {NULL, NULL},
    };
    static char extra[4096];

    if (argc < 2) {
        fprintf(stderr, "usage: test_examples PATH-TO-EXAMPLE [CASE]\n");
        return 2;
    }
    example_bin = argv[1];
    snprintf(extra, sizeof(extra), " %s", argv[1]);
    it_argv0_extra = extra;
    return it_main(argc - 1, argv + 1, cases);
}

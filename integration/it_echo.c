/*
 * it_echo.c - tsl-echo as a black box: the JSON event lines, echo in
 * each framing, graceful stop on SIGTERM (exit 0, stats, stopped), and
 * exit status 2 with a message for bad flags.  The path of the binary is
 * the first argument; the case the second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

extern char **environ;
static const char *echo_bin;

struct proc {
    pid_t pid;
    FILE *out;   /* the child's stdout */
    int errfd;   /* the child's stderr */
};

static void
spawn(struct proc *p, const char *const *args)
{
    posix_spawn_file_actions_t fa;
    int out[2], err[2];
    char *argv[16];
    int i;

    IT_EQ(pipe(out), 0);
    IT_EQ(pipe(err), 0);
    argv[0] = (char *)echo_bin;
    for (i = 0; args[i] != NULL && i < 14; i++)
        argv[i + 1] = (char *)args[i];
    argv[i + 1] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, err[0]);
    IT_EQ(posix_spawn(&p->pid, echo_bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(err[1]);
    p->out = fdopen(out[0], "r");
    p->errfd = err[0];
    IT_CHECK(p->out != NULL);
}

/* Reads the next event line; fails on EOF. */
static void
next_line(struct proc *p, char *buf, size_t n)
{
    if (fgets(buf, (int)n, p->out) == NULL)
        IT_FAIL("tsl-echo closed its output early");
    buf[strcspn(buf, "\n")] = '\0';
}

static void
expect_prefix(struct proc *p, const char *prefix, char *line, size_t n)
{
    next_line(p, line, n);
    if (strncmp(line, prefix, strlen(prefix)) != 0)
        IT_FAIL("expected a line starting %s, got %s", prefix, line);
}

static int
wait_exit(struct proc *p)
{
    int st;

    IT_EQ(waitpid(p->pid, &st, 0), p->pid);
    fclose(p->out);
    close(p->errfd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static uint16_t
listening_on(struct proc *p, const char *addr)
{
    char line[256], want[200];
    unsigned port = 0;

    snprintf(want, sizeof(want),
             "{\"event\":\"listening\",\"addr\":\"%s\",\"port\":", addr);
    expect_prefix(p, want, line, sizeof(line));
    IT_EQ(sscanf(strstr(line, "\"port\":") + 7, "%u", &port), 1);
    IT_CHECK(strncmp(addr, "unix:", 5) == 0 ? port == 0
                                             : port > 0 && port < 65536);
    return (uint16_t)port;
}

static uint16_t
listening_port(struct proc *p)
{
    return listening_on(p, "127.0.0.1");
}

/* One client on addr: its connected event names it as `shown`, its frame
 * comes back, and SIGTERM stops the server with exit 0. */
static void
serve_one_on(const char *listen, const char *addr, const char *shown)
{
    const char *args[] = {"--listen", listen, "--events", NULL};
    struct proc p;
    char line[512], want[128];
    uint16_t port;
    int fd;

    spawn(&p, args);
    port = listening_on(&p, addr);
    fd = it_connect_to(addr, port);
    snprintf(want, sizeof(want), "{\"event\":\"connected\",\"id\":1,"
             "\"client\":\"%s", shown);
    expect_prefix(&p, want, line, sizeof(line));
    it_echo_once(fd, "any family");
    expect_prefix(&p, "{\"event\":\"message\",\"id\":1,", line, sizeof(line));
    IT_EQ(kill(p.pid, SIGTERM), 0);
    snprintf(want, sizeof(want), "{\"event\":\"disconnected\",\"id\":1,"
             "\"client\":\"%s", shown);
    expect_prefix(&p, want, line, sizeof(line));
    IT_CHECK(strstr(line, "\"reason\":\"shutdown\"}") != NULL);
    IT_EQ(wait_exit(&p), 0);
    it_close(fd);
}

static void
listens_on_ipv6_names_and_unix(void)
{
    char path[128], addr[140];
    struct sockaddr_in6 sa;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool v6;

    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    v6 = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    if (v6)
        serve_one_on("[::1]:0", "::1", "[::1]:");
    else
        fprintf(stderr, "no IPv6 loopback here: [::1] not tried\n");
    /* localhost: the first address the resolver gives, as the library
     * takes it. */
    {
        struct addrinfo hints, *res;
        char host[64], shown[80];

        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        IT_EQ(getaddrinfo("localhost", NULL, &hints, &res), 0);
        IT_EQ(getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof(host),
                          NULL, 0, NI_NUMERICHOST), 0);
        freeaddrinfo(res);
        snprintf(shown, sizeof(shown),
                 strchr(host, ':') != NULL ? "[%s]:" : "%s:", host);
        serve_one_on("localhost:0", host, shown);
    }
    snprintf(path, sizeof(path), "/tmp/tsl-echo-it-%d.sock", (int)getpid());
    unlink(path);
    snprintf(addr, sizeof(addr), "unix:%s", path);
    serve_one_on(addr, addr, "unix\"");
    IT_CHECK(access(path, F_OK) != 0); /* removed at stop */
}

static void
events_echo_and_sigterm(void)
{
    static const char *const args[] = {"--listen", "127.0.0.1:0", "--events",
                                       NULL};
    struct proc p;
    char line[2048], want[128];
    uint8_t out[32], in[32];
    size_t n;
    uint16_t port;
    int fd;

    spawn(&p, args);
    port = listening_port(&p);
    fd = it_connect(port);
    expect_prefix(&p, "{\"event\":\"connected\",\"id\":1,\"client\":\"127.0.0.1:",
                  line, sizeof(line));
    n = it_frame("hello", 5, out);
    it_send_all(fd, out, n);
    it_recv_exact(fd, in, n);
    IT_CHECK(memcmp(in, out, n) == 0);
    next_line(&p, line, sizeof(line));
    IT_CHECK(strcmp(line, "{\"event\":\"message\",\"id\":1,\"len\":7}") == 0);
    IT_EQ(kill(p.pid, SIGTERM), 0);
    expect_prefix(&p, "{\"event\":\"disconnected\",\"id\":1,", line,
                  sizeof(line));
    IT_CHECK(strstr(line, "\"reason\":\"shutdown\"}") != NULL);
    expect_prefix(&p, "{\"event\":\"stats\",\"accepted\":1,", line,
                  sizeof(line));
    snprintf(want, sizeof(want), "\"msgs_in\":1,\"msgs_out\":1");
    IT_CHECK(strstr(line, want) != NULL);
    IT_CHECK(strstr(line, "\"shutdown\":1") != NULL);
    next_line(&p, line, sizeof(line));
    IT_CHECK(strcmp(line, "{\"event\":\"stopped\"}") == 0);
    IT_EQ(wait_exit(&p), 0);
    IT_CHECK(it_wait_closed(fd, 2000));
    it_close(fd);
}

static void
rejections_and_protocol_errors_are_events(void)
{
    static const char *const args[] = {"--listen", "127.0.0.1:0",
                                       "--max-clients", "1", "--events", NULL};
    static const uint8_t zero_len[] = {0, 0};
    struct proc p;
    char line[512];
    uint16_t port;
    int a, b;

    spawn(&p, args);
    port = listening_port(&p);
    a = it_connect(port);
    expect_prefix(&p, "{\"event\":\"connected\",\"id\":1,", line, sizeof(line));
    b = it_connect(port);
    expect_prefix(&p, "{\"event\":\"rejected\",\"client\":\"127.0.0.1:", line,
                  sizeof(line));
    IT_CHECK(strstr(line, "\"reason\":\"max-clients\"}") != NULL);
    it_send_all(a, zero_len, 2);
    expect_prefix(&p, "{\"event\":\"disconnected\",\"id\":1,", line,
                  sizeof(line));
    IT_CHECK(strstr(line, "\"reason\":\"protocol-error\"}") != NULL);
    IT_EQ(kill(p.pid, SIGINT), 0);
    expect_prefix(&p, "{\"event\":\"stats\",", line, sizeof(line));
    IT_CHECK(strstr(line, "\"max-clients\":1") != NULL);
    IT_CHECK(strstr(line, "\"protocol_errors\":1") != NULL);
    expect_prefix(&p, "{\"event\":\"stopped\"}", line, sizeof(line));
    IT_EQ(wait_exit(&p), 0);
    it_close(a);
    it_close(b);
}

static void
framings_echo_their_frames(void)
{
    static const struct {
        const char *spec;
        const char *frame;
        size_t len;
    } t[] = {
        {"none", "raw", 3},
        {"fixed:3", "abc", 3},
        {"variable:hdr=4,be,exclusive,strip", "\0\0\0\3xyz", 7},
        {"variable:hdr=1", "\4hey", 4},
        {"delimiter:crlf", "line\r\n", 6},
    };
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const char *args[] = {"--listen", "127.0.0.1:0", "--framing",
                              t[i].spec, "--events", NULL};
        struct proc p;
        uint8_t in[16];
        int fd;

        spawn(&p, args);
        fd = it_connect(listening_port(&p));
        it_send_all(fd, t[i].frame, t[i].len);
        it_recv_exact(fd, in, t[i].len);
        if (memcmp(in, t[i].frame, t[i].len) != 0)
            IT_FAIL("framing %s: echo differs", t[i].spec);
        kill(p.pid, SIGTERM);
        IT_EQ(wait_exit(&p), 0);
        it_close(fd);
    }
}

static void
bad_flags_exit_2_with_a_message(void)
{
    static const char *const bad[][4] = {
        {"--listen", "127.0.0.1", NULL},
        {"--listen", "::1:80", NULL},     /* IPv6 and a port need [] */
        {"--listen", "bad_name:1", NULL},
        {"--listen", "127.0.0.1:65536", NULL},
        {"--framing", "fixed:0", NULL},
        {"--framing", "variable:hdr=3", NULL},
        {"--max-clients", "-1", NULL},
        {"--max-clients", "12x", NULL},
        {"--backend", "kqueue", NULL},
        {"--backend", NULL},
        {"--threaded", "x", NULL},
        {"--ka-hold-ms", "-5", NULL},
        {"--no-such-flag", NULL},
        {"--listen", NULL},
        {"stray", NULL},
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct proc p;
        char err[512];
        ssize_t n;

        spawn(&p, bad[i]);
        n = read(p.errfd, err, sizeof(err) - 1);
        IT_CHECK(n > 0);
        err[n] = '\0';
        if (strncmp(err, "tsl-echo: ", 10) != 0)
            IT_FAIL("%s: no clear message: %s", bad[i][0], err);
        IT_EQ(wait_exit(&p), 2);
    }
}

int
main(int argc, char **argv)
{
    static const struct it_case_def cases[] = {
        {"events_echo_and_sigterm", events_echo_and_sigterm},
        {"rejections_and_protocol_errors_are_events",
         rejections_and_protocol_errors_are_events},
        {"framings_echo_their_frames", framings_echo_their_frames},
        {"bad_flags_exit_2_with_a_message", bad_flags_exit_2_with_a_message},
        {"listens_on_ipv6_names_and_unix", listens_on_ipv6_names_and_unix},
        {NULL, NULL},
    };

    if (argc < 2) {
        fprintf(stderr, "usage: it_echo PATH-TO-tsl-echo [CASE]\n");
        return 2;
    }
    echo_bin = argv[1];
    {
        static char extra[4096];
        snprintf(extra, sizeof(extra), " %s", argv[1]);
        it_argv0_extra = extra;
    }
    return it_main(argc - 1, argv + 1, cases);
}

/*
 * itest.c - see itest.h.  The server callbacks run on the server's
 * threads and record under s->mu; test code reads under the same mutex
 * (IT_WAIT) or after the server is stopped.
 */
#define _GNU_SOURCE
#include "itest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *it_case = "?";
const char *it_argv0_extra = "";
char it_context[256];
uint64_t it_seed;

void
it_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "FAIL %s (%s:%d): ", it_case, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (it_context[0] != '\0')
        fprintf(stderr, "\n  %s", it_context);
    fprintf(stderr, "\n  seed %llu; replay: TSL_SEED=%llu %s%s %s\n",
            (unsigned long long)it_seed, (unsigned long long)it_seed,
            program_invocation_name, it_argv0_extra, it_case);
    exit(1);
}

int
it_scale(void)
{
    const char *s = getenv("TSL_TIME_SCALE");
    int v = s ? atoi(s) : 1;

    return v >= 1 ? v : 1;
}

int64_t
it_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
it_wait_slice(struct it_server *s)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 10 * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

static void
violation(struct it_server *s, const char *what, uint64_t id)
{
    if (s->violations++ == 0)
        snprintf(s->violation, sizeof(s->violation), "%s (client %llu)",
                 what, (unsigned long long)id);
}

/* Enter/leave a callback for client id; checks order and exclusion. */
static void
cb_enter(struct it_server *s, uint64_t id, int kind)
{
    pthread_mutex_lock(&s->mu);
    if (id >= IT_MAX_IDS) {
        violation(s, "client id beyond the test's table", id);
    } else {
        if (s->in_cb[id]++ != 0)
            violation(s, "two callbacks at once for one client", id);
        if (kind == 0 && s->state[id] != 0)
            violation(s, "connected twice", id);
        if (kind != 0 && s->state[id] != 1)
            violation(s, kind == 1 ? "message outside connected..disconnected"
                                   : "disconnected without connected, or twice",
                      id);
    }
    pthread_mutex_unlock(&s->mu);
}

static void
cb_leave(struct it_server *s, uint64_t id)
{
    pthread_mutex_lock(&s->mu);
    if (id < IT_MAX_IDS)
        s->in_cb[id]--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void
on_connected(tsl_server_t *srv, tsl_client_t *c, void *ud)
{
    struct it_server *s = ud;
    uint64_t id = tsl_client_id(c);

    (void)srv;
    cb_enter(s, id, 0);
    pthread_mutex_lock(&s->mu);
    if (id < IT_MAX_IDS)
        s->state[id] = 1;
    s->connected++;
    pthread_mutex_unlock(&s->mu);
    cb_leave(s, id);
}

static void
on_disconnected(tsl_server_t *srv, tsl_client_t *c, tsl_reason_t why,
                void *ud)
{
    struct it_server *s = ud;
    uint64_t id = tsl_client_id(c);

    (void)srv;
    cb_enter(s, id, 2);
    /* The client is gone: sends must fail cleanly. */
    if (tsl_client_send(c, "x", 1) != TSL_ENOTCONN) {
        pthread_mutex_lock(&s->mu);
        violation(s, "send succeeded in disconnected callback", id);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_lock(&s->mu);
    if (id < IT_MAX_IDS) {
        s->state[id] = 2;
        s->reason_of[id] = (unsigned char)why;
    }
    s->disconnected++;
    s->by_reason[why]++;
    s->last_disc_ms = it_now_ms();
    pthread_mutex_unlock(&s->mu);
    cb_leave(s, id);
}

static void
on_message(tsl_server_t *srv, tsl_client_t *c, const uint8_t *msg,
           size_t len, void *ud)
{
    struct it_server *s = ud;
    uint64_t id = tsl_client_id(c);
    int r;

    cb_enter(s, id, 1);
    pthread_mutex_lock(&s->mu);
    s->messages++;
    s->bytes += len;
    s->last_msg_ms = it_now_ms();
    pthread_mutex_unlock(&s->mu);
    switch (s->action) {
    case IT_ECHO: {
        /* The frame as received (framings that strip put it back). */
        uint8_t stackbuf[70000], *buf = stackbuf;
        size_t cap = sizeof(stackbuf);
        long n;
        if (len + TSL_DELIM_MAX + 4 > cap) {
            cap = len + TSL_DELIM_MAX + 4;
            buf = malloc(cap);
            if (buf == NULL) {
                tsl_client_disconnect(c);
                break;
            }
        }
        n = tsl_framing_encode(&s->framing, msg, len, buf, cap);
        if (n > 0)
            tsl_client_send(c, buf, (size_t)n);
        if (buf != stackbuf)
            free(buf);
        break;
    }
    case IT_ECHO_MIGRATE: {
        tsl_client_stats_t st;
        tsl_client_send(c, msg, len);
        tsl_client_stats(c, &st);
        tsl_server_migrate_client(srv, c,
                                  st.threaded ? TSL_CLIENT_MULTIPLEXED
                                              : TSL_CLIENT_THREADED);
        break;
    }
    case IT_MIGRATE_DISCONNECT:
        if (tsl_server_migrate_client(srv, c, TSL_CLIENT_THREADED) != 0) {
            pthread_mutex_lock(&s->mu);
            violation(s, "the move was refused", tsl_client_id(c));
            pthread_mutex_unlock(&s->mu);
        }
        tsl_client_disconnect(c);
        break;
    case IT_DISCONNECT_IN_CB:
        tsl_client_disconnect(c);
        break;
    case IT_STOP_IN_CB:
        r = tsl_server_stop(srv);
        pthread_mutex_lock(&s->mu);
        s->last_stop_rc = r;
        pthread_mutex_unlock(&s->mu);
        break;
    case IT_SILENT:
        break;
    }
    cb_leave(s, id);
}

static void
on_rejected(tsl_server_t *srv, const char *ip, uint16_t port,
            tsl_reject_t why, void *ud)
{
    struct it_server *s = ud;

    (void)srv;
    (void)port;
    pthread_mutex_lock(&s->mu);
    snprintf(s->rejected_ip, sizeof(s->rejected_ip), "%s", ip);
    s->rejected++;
    s->by_reject[why]++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void
it_server_create(struct it_server *s, const char *name, const char *framing,
                 enum it_action action)
{
    it_server_create_at(s, name, "127.0.0.1", framing, action);
}

void
it_server_create_at(struct it_server *s, const char *name, const char *addr,
                    const char *framing, enum it_action action)
{
    tsl_callbacks_t cbs = {on_connected, on_disconnected, on_message,
                           on_rejected, NULL};
    tsl_framing_t f;
    char err[200];

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->action = action;
    IT_EQ(tsl_server_create(&s->srv, name, addr, 0), 0);
    IT_EQ(tsl_server_set_callbacks(s->srv, &cbs, s), 0);
    tsl_framing_default(&s->framing, TSL_FRAMING_NONE);
    if (framing != NULL) {
        if (tsl_framing_parse(framing, &f, err, sizeof(err)) != 0)
            IT_FAIL("framing %s: %s", framing, err);
        IT_EQ(tsl_server_set_framing(s->srv, &f), 0);
        s->framing = f;
    }
}

void
it_server_start(struct it_server *s, const char *name, const char *framing,
                enum it_action action)
{
    it_server_create(s, name, framing, action);
    IT_EQ(tsl_server_start(s->srv), 0);
    s->port = tsl_server_port(s->srv);
    IT_CHECK(s->port != 0);
}

void
it_server_finish(struct it_server *s)
{
    IT_EQ(tsl_server_stop(s->srv), 0);
    IT_EQ(tsl_server_client_count(s->srv), 0);
    IT_EQ(tsl_server_destroy(s->srv), 0);
    if (s->violations != 0)
        IT_FAIL("callback contract broken %d times, first: %s", s->violations,
                s->violation);
    IT_EQ(s->connected, s->disconnected);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

int
it_listen(uint16_t *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    IT_CHECK(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(*port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        IT_FAIL("bind port %u: %s", *port, strerror(errno));
    IT_EQ(listen(fd, 16), 0);
    IT_EQ(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

uint16_t
it_free_port(void)
{
    uint16_t port = 0;
    int fd = it_listen(&port);

    close(fd);
    return port;
}

static void
set_timeouts(int fd)
{
    struct timeval tv = {5 * it_scale(), 0};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int
it_connect_from(uint16_t port, const char *src_ip)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        IT_FAIL("socket: %s", strerror(errno));
    set_timeouts(fd);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    if (src_ip != NULL) {
        inet_pton(AF_INET, src_ip, &sa.sin_addr);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            IT_FAIL("bind %s: %s", src_ip, strerror(errno));
    }
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        IT_FAIL("connect to port %u: %s", port, strerror(errno));
    return fd;
}

int
it_accept_within(int lfd, int ms)
{
    struct pollfd pf = {lfd, POLLIN, 0};
    int fd;

    if (poll(&pf, 1, ms * it_scale()) <= 0)
        return -1;
    fd = accept(lfd, NULL, NULL);
    if (fd >= 0)
        set_timeouts(fd);
    return fd;
}

int
it_connect_to(const char *addr, uint16_t port)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
    } u;
    char host[64];
    socklen_t len;
    size_t n = strlen(addr);
    int fd, one = 1;

    memset(&u, 0, sizeof(u));
    if (strncmp(addr, "unix:", 5) == 0) {
        n -= 5;
        IT_CHECK(n > 0 && n < sizeof(u.un.sun_path));
        u.un.sun_family = AF_UNIX;
        memcpy(u.un.sun_path, addr + 5, n);
        if (addr[5] == '@')
            u.un.sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                          (addr[5] == '@' ? 0 : 1));
    } else {
        if (addr[0] == '[' && n >= 2 && n - 2 < sizeof(host)) {
            memcpy(host, addr + 1, n - 2);
            host[n - 2] = '\0';
        } else {
            IT_CHECK(n < sizeof(host));
            memcpy(host, addr, n + 1);
        }
        if (inet_pton(AF_INET, host, &u.in.sin_addr) == 1) {
            u.in.sin_family = AF_INET;
            u.in.sin_port = htons(port);
            len = sizeof(u.in);
        } else if (inet_pton(AF_INET6, host, &u.in6.sin6_addr) == 1) {
            u.in6.sin6_family = AF_INET6;
            u.in6.sin6_port = htons(port);
            len = sizeof(u.in6);
        } else {
            IT_FAIL("it_connect_to: not an address: %s", addr);
        }
    }
    fd = socket(u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        IT_FAIL("socket: %s", strerror(errno));
    set_timeouts(fd);
    if (u.sa.sa_family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, &u.sa, len) < 0)
        IT_FAIL("connect to %s port %u: %s", addr, port, strerror(errno));
    return fd;
}

int
it_connect(uint16_t port)
{
    return it_connect_from(port, NULL);
}

void
it_send_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    ssize_t r;

    while (n > 0) {
        r = send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            IT_FAIL("send: %s", r < 0 ? strerror(errno) : "0 bytes");
        p += r;
        n -= (size_t)r;
    }
}

void
it_recv_exact(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    size_t got = 0;
    ssize_t r;

    while (got < n) {
        r = recv(fd, p + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            IT_FAIL("receiving %zu bytes: got %zu, then %s", n, got,
                    r == 0 ? "EOF" : strerror(errno));
        got += (size_t)r;
    }
}

int
it_wait_closed(int fd, int ms)
{
    int64_t dl = it_now_ms() + (int64_t)ms * it_scale();
    struct timeval tv = {0, 20000};
    char buf[4096];
    ssize_t r;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (it_now_ms() <= dl) {
        r = recv(fd, buf, sizeof(buf), 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 1;
    }
    return 0;
}

size_t
it_frame(const void *payload, size_t n, uint8_t *out)
{
    out[0] = (uint8_t)((n + 2) & 0xff);
    out[1] = (uint8_t)((n + 2) >> 8);
    memcpy(out + 2, payload, n);
    return n + 2;
}

void
it_echo_once(int fd, const char *text)
{
    uint8_t out[600], in[600];
    size_t n = strlen(text);

    if (n > sizeof(out) - 2)
        IT_FAIL("echo text longer than %zu", sizeof(out) - 2);
    n = it_frame(text, n, out);
    it_send_all(fd, out, n);
    it_recv_exact(fd, in, n);
    if (memcmp(in, out, n) != 0)
        IT_FAIL("echo of '%s' differs", text);
}

void
it_close(int fd)
{
    close(fd);
}

void
it_reset(int fd)
{
    struct linger lg = {1, 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

int
it_main(int argc, char **argv, const struct it_case_def *cases)
{
    const struct it_case_def *c;
    const char *s = getenv("TSL_SEED");

    signal(SIGPIPE, SIG_IGN);
    it_seed = s ? strtoull(s, NULL, 0) : 1;
    if (argc != 2) {
        for (c = cases; c->name != NULL; c++)
            printf("%s\n", c->name);
        return argc == 1 ? 0 : 2;
    }
    for (c = cases; c->name != NULL; c++) {
        if (strcmp(c->name, argv[1]) == 0) {
            it_case = c->name;
            c->fn();
            printf("ok %s\n", c->name);
            return 0;
        }
    }
    fprintf(stderr, "unknown case '%s'\n", argv[1]);
    return 2;
}

void
it_spawn(struct it_proc *p, const char *const argv[])
{
    posix_spawn_file_actions_t fa;
    int in[2], out[2], err[2];
    pid_t pid;

    memset(p, 0, sizeof(*p));
    IT_EQ(pipe2(in, O_CLOEXEC), 0);
    IT_EQ(pipe2(out, O_CLOEXEC), 0);
    IT_EQ(pipe2(err, O_CLOEXEC), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    if (posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv,
                    environ) != 0)
        IT_FAIL("cannot run %s", argv[0]);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p->pid = pid;
    p->in = in[1];
    p->out = out[0];
    p->err = err[0];
}

void
it_spawn_pty(struct it_proc *p, const char *const argv[])
{
    struct winsize ws = {24, 100, 0, 0};
    int master;
    pid_t pid;

    memset(p, 0, sizeof(*p));
    pid = forkpty(&master, NULL, NULL, &ws);
    if (pid < 0)
        IT_FAIL("forkpty: %s", strerror(errno));
    if (pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    p->pid = pid;
    p->in = master;
    p->out = master;
    p->err = -1;
}

void
it_proc_write(struct it_proc *p, const char *s)
{
    size_t n = strlen(s);

    while (n > 0) {
        ssize_t r = write(p->in, s, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            IT_FAIL("writing to the child: %s", strerror(errno));
        s += r;
        n -= (size_t)r;
    }
}

void
it_expect(struct it_proc *p, const char *needle, int ms)
{
    int64_t dl = it_now_ms() + (int64_t)ms * it_scale();
    size_t nl = strlen(needle);

    for (;;) {
        char *hit;
        struct pollfd pf = {p->out, POLLIN, 0};
        ssize_t r;
        p->buf[p->len] = '\0';
        hit = memmem(p->buf, p->len, needle, nl);
        if (hit != NULL) {
            size_t used = (size_t)(hit - p->buf) + nl;
            memmove(p->buf, p->buf + used, p->len - used);
            p->len -= used;
            return;
        }
        if (it_now_ms() > dl || p->len + 1 >= sizeof(p->buf))
            IT_FAIL("waiting for \"%s\"; the output was:\n%s", needle,
                    p->buf);
        if (poll(&pf, 1, 50) <= 0)
            continue;
        r = read(p->out, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
        if (r <= 0)
            IT_FAIL("output ended waiting for \"%s\"; it was:\n%s", needle,
                    p->buf);
        p->len += (size_t)r;
    }
}

void
it_read_err(struct it_proc *p, char *buf, size_t n)
{
    size_t got = 0;
    ssize_t r;

    while (got + 1 < n && (r = read(p->err, buf + got, n - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
}

int
it_proc_wait(struct it_proc *p)
{
    int st;

    if (p->err >= 0)
        close(p->in);
    IT_EQ(waitpid(p->pid, &st, 0), p->pid);
    if (p->out >= 0)
        close(p->out);
    if (p->err >= 0)
        close(p->err);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void
it_capture(struct it_proc *p, const char *before, const char *after,
           char *out, size_t n, int ms)
{
    size_t k, al = strlen(after);
    char *hit;

    it_expect(p, before, ms);
    /* Read on until `after` is in the buffer, without consuming. */
    for (;;) {
        hit = memmem(p->buf, p->len, after, al);
        if (hit != NULL)
            break;
        {
            struct pollfd pf = {p->out, POLLIN, 0};
            ssize_t r;
            if (poll(&pf, 1, ms * it_scale()) <= 0)
                IT_FAIL("waiting for \"%s\" after \"%s\"", after, before);
            r = read(p->out, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
            if (r <= 0)
                IT_FAIL("output ended waiting for \"%s\"", after);
            p->len += (size_t)r;
        }
    }
    k = (size_t)(hit - p->buf);
    if (k >= n)
        k = n - 1;
    memcpy(out, p->buf, k);
    out[k] = '\0';
    k = (size_t)(hit - p->buf) + al;
    memmove(p->buf, p->buf + k, p->len - k);
    p->len -= k;
}

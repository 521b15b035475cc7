/*
 * itest.h - helpers for the integration tests: an in-process server whose
 * callbacks record every event and check the callback contract (connected
 * first, disconnected last and once, nothing concurrent for one client),
 * blocking loopback clients with deadlines, and waits on conditions.
 *
 * Each case runs in its own process (one ctest entry per case).  Failures
 * print the case, the condition waited for, the seed and a replay line.
 * Deadlines scale with TSL_TIME_SCALE (Valgrind runs set it to 10).
 */
#ifndef ITEST_H
#define ITEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsl.h"

#define IT_MAX_IDS 4096

enum it_action {
    IT_ECHO,              /* send every message back */
    IT_SILENT,            /* record only */
    IT_DISCONNECT_IN_CB,  /* tsl_client_disconnect() from the callback */
    IT_STOP_IN_CB,        /* tsl_server_stop() from the callback */
    IT_ECHO_MIGRATE,      /* echo, then move the client to the other home */
    IT_MIGRATE_DISCONNECT /* ask a move to a thread, then disconnect */
};

struct it_server {
    tsl_server_t *srv;
    uint16_t port;
    enum it_action action;
    tsl_framing_t framing;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* all below under mu */
    int connected, disconnected, rejected, messages;
    uint64_t bytes;
    int by_reason[TSL_REASON_COUNT];
    int by_reject[TSL_REJECT_COUNT];
    unsigned char state[IT_MAX_IDS]; /* 0 unseen, 1 connected, 2 gone */
    unsigned char reason_of[IT_MAX_IDS]; /* disconnect reason per id */
    int in_cb[IT_MAX_IDS];           /* callbacks running per client */
    int64_t last_msg_ms;             /* when the last message arrived */
    int64_t last_disc_ms;            /* when the last disconnect ran */
    int violations;
    char violation[200];
    int last_stop_rc;
    char rejected_ip[48];            /* the address of the last rejected */
};

extern const char *it_case;
extern const char *it_argv0_extra; /* arguments before the case name */
extern char it_context[256];       /* printed with a failure (a plan) */
extern uint64_t it_seed;

_Noreturn void it_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define IT_FAIL(...) it_fail(__FILE__, __LINE__, __VA_ARGS__)
#define IT_CHECK(x)                                                           \
    do {                                                                      \
        if (!(x))                                                             \
            IT_FAIL("check failed: %s", #x);                                  \
    } while (0)
#define IT_EQ(a, b)                                                           \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_)                                                         \
            IT_FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);                \
    } while (0)

int it_scale(void);
int64_t it_now_ms(void);

/* Waits, up to ms (scaled), until expr - evaluated with s->mu held - is
 * true; re-checked on every event and at least every 10 ms. */
#define IT_WAIT(s, expr, ms)                                                  \
    do {                                                                      \
        int64_t dl_ = it_now_ms() + (int64_t)(ms) * it_scale();               \
        pthread_mutex_lock(&(s)->mu);                                         \
        while (!(expr)) {                                                     \
            if (it_now_ms() > dl_) {                                          \
                pthread_mutex_unlock(&(s)->mu);                               \
                IT_FAIL("timed out after %d ms waiting for: %s", (int)(ms),   \
                        #expr);                                               \
            }                                                                 \
            it_wait_slice(s);                                                 \
        }                                                                     \
        pthread_mutex_unlock(&(s)->mu);                                       \
    } while (0)
void it_wait_slice(struct it_server *s);

/* Starts a server on 127.0.0.1:0 with the framing spec (NULL: none). */
void it_server_start(struct it_server *s, const char *name,
                     const char *framing, enum it_action action);
/* Stops and destroys it, then checks the contract held for every client:
 * as many disconnected as connected, no violation. */
void it_server_finish(struct it_server *s);
/* Server is configured but not started (to set options first). */
void it_server_create(struct it_server *s, const char *name,
                      const char *framing, enum it_action action);
/* The same on addr (any address tsl_server_create takes), port 0. */
void it_server_create_at(struct it_server *s, const char *name,
                         const char *addr, const char *framing,
                         enum it_action action);

/* A listening socket on 127.0.0.1:*port (0: any; *port is set). */
int it_listen(uint16_t *port);
/* A loopback port with nothing listening on it (just released). */
uint16_t it_free_port(void);
/* Blocking loopback client with send/receive timeouts. */
int it_connect(uint16_t port);
int it_connect_from(uint16_t port, const char *src_ip);
/* Accepts one connection on lfd within ms (scaled), with the clients'
 * send/receive timeouts; -1 if none came. */
int it_accept_within(int lfd, int ms);
/* A blocking client of addr: IPv4, IPv6 ("::1" or "[::1]"), "unix:PATH"
 * or "unix:@NAME"; port is ignored for Unix sockets. */
int it_connect_to(const char *addr, uint16_t port);
void it_send_all(int fd, const void *buf, size_t n);
/* Reads exactly n bytes; fails the case on timeout or EOF. */
void it_recv_exact(int fd, void *buf, size_t n);
/* 1 if the peer closed (EOF or reset) within ms, 0 on timeout. */
int it_wait_closed(int fd, int ms);
/* Sends text as one course-framed message and checks the echo. */
void it_echo_once(int fd, const char *text);
/* Course framing: 2-byte LE total length, then payload. */
size_t it_frame(const void *payload, size_t n, uint8_t *out);
void it_close(int fd);
void it_reset(int fd); /* SO_LINGER 0: the peer sees a reset */

/* A child process with its stdin, stdout and stderr on pipes (or, with
 * it_spawn_pty, all three on one pseudo-terminal). */
struct it_proc {
    int pid;
    int in, out, err;        /* err is -1 on a pty */
    char buf[1 << 16];       /* output read and not yet consumed */
    size_t len;
};
void it_spawn(struct it_proc *p, const char *const argv[]);
void it_spawn_pty(struct it_proc *p, const char *const argv[]);
void it_proc_write(struct it_proc *p, const char *s);
/* Reads output until it contains needle, within ms (scaled); consumes up
 * to the end of the needle.  Fails the case on timeout, with what was
 * read. */
void it_expect(struct it_proc *p, const char *needle, int ms);
/* Waits for `before`, then for `after`, and copies the text between them
 * into out (NUL-terminated); consumes through `after`. */
void it_capture(struct it_proc *p, const char *before, const char *after,
                char *out, size_t n, int ms);
/* Everything the process wrote on stderr until it closed it. */
void it_read_err(struct it_proc *p, char *buf, size_t n);
/* Closes stdin, waits; returns the exit status (128+signal if killed). */
int it_proc_wait(struct it_proc *p);

typedef void it_case_fn(void);
struct it_case_def {
    const char *name;
    it_case_fn *fn;
};
/* Runs the case named argv[1], or lists them; returns the exit status. */
int it_main(int argc, char **argv, const struct it_case_def *cases);

#endif

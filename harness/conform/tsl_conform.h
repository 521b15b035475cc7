/*
 * tsl_conform.h - what the files of tsl-conform share: a case's context
 * and verdict, the catalogue, the client-side I/O driver and the reports.
 * Not a library: one program, four files (runner and options in
 * tsl_conform.c, cases in tsl_conform_cases.c, client I/O and its
 * diagnostics in tsl_conform_io.c, reports in tsl_conform_report.c).
 */
#ifndef TSL_CONFORM_H
#define TSL_CONFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "tsl_peer.h"

#define TSL_CONFORM_UNIMPLEMENTED 89 /* a server's "not this group" */
#define TSL_CONFORM_WHY 1200         /* room for a reason with a dump */
#define TSL_CONFORM_TAIL 1600        /* room for a server output tail */

/*
 * PASS and FAIL earn or lose the case's points.  SKIP is a case the
 * server declared it does not implement (skip=, exit status 89, a client
 * limit below what the case needs): it counts in the total and earns
 * nothing.  NA does not apply to this run (another framing, an optional
 * group not declared, no shim) and counts in neither.
 */
enum tsl_conform_verdict { TSL_CONFORM_PASS, TSL_CONFORM_FAIL,
                           TSL_CONFORM_SKIP, TSL_CONFORM_NA };

/* The server under test, as the runner sees it. */
struct tsl_conform_server {
    pid_t pid;         /* 0: not running */
    int status;        /* wait status once reaped */
    char out[128];     /* the file its stdout and stderr go to */
    off_t scanned;     /* reports looked for up to here */
};

struct tsl_conform_proxy;

/*
 * Where the server under test is reached (--host, --unix): an IPv4 or
 * IPv6 address, the group's port added at each connect, or a Unix
 * socket, where no port is used.  Resolved once, before any server
 * starts; read-only afterwards.
 */
struct tsl_conform_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
    } u;
    socklen_t len;
    char text[112]; /* "127.0.0.1", "::1", "unix:PATH" (no port) */
};

struct tsl_conform_ctx {
    uint16_t port;                    /* unused for a Unix socket */
    const struct tsl_conform_addr *to; /* the server, or tsl-proxy */
    tsl_framing_t f;
    uint64_t seed;
    double scale;
    const char *fault_plan; /* group 9: the LD_PRELOAD plan */
    uint32_t ka_hold_ms;    /* declared, 0: none */
    uint32_t max_clients;   /* declared, 0: none */
    struct tsl_conform_server *srv;
    struct tsl_conform_proxy *px; /* group 9 with --proxy, else NULL */
    /* The longest a client of the runner had something to send and did
     * not (a loaded machine) before the server closed it, in this case's
     * run: past the declared hold time, a keepalive may have been right
     * to drop it, and the case is run again. */
    int64_t silent_ms;
};

typedef enum tsl_conform_verdict tsl_conform_case_fn(
    struct tsl_conform_ctx *cx, char *why, size_t n);

/* What a case needs to apply; checked before any server starts. */
#define TSL_CONFORM_NEED_VARIABLE 1u /* the 2-byte header framing */
#define TSL_CONFORM_NEED_KA 2u       /* a declared keepalive hold time */
#define TSL_CONFORM_NEED_MAX 4u      /* a declared max_clients, 1..60 */
#define TSL_CONFORM_NEED_SHIM 8u     /* --shim */
#define TSL_CONFORM_STOPS 16u        /* the case stops the server itself */
#define TSL_CONFORM_NEED_PROXY 32u   /* --proxy: tsl-proxy in front */
#define TSL_CONFORM_NEED_TCP 64u     /* TCP itself: n/a on --unix */

struct tsl_conform_case {
    const char *id;
    const char *title;
    tsl_conform_case_fn *fn;
    int points;
    unsigned needs;
    int clients; /* most connections held at once (vs max_clients) */
};

struct tsl_conform_group {
    int num;
    const char *title;
    const char *plan; /* TSL_FAULTS for the group, NULL: none */
    int ncases;
    struct tsl_conform_case cases[10];
};

extern const struct tsl_conform_group tsl_conform_groups[];
/* For a NEED_TCP case: what of TCP it depends on (its n/a reason). */
const char *tsl_conform_tcp_why(const char *id);
extern const size_t tsl_conform_ngroups;

/* ---- tsl_conform_io.c: client I/O with reasons a student can act on */

/* --host: an IPv4 address, an IPv6 one (bare or in brackets) or a host
 * name, resolved now (the first address the resolver gives).  0, or -1
 * with why. */
int tsl_conform_addr_host(struct tsl_conform_addr *a, const char *host,
                          char *why, size_t n);
/* --unix: a socket path, "@NAME" for the abstract namespace.  0, or -1
 * with why. */
int tsl_conform_addr_unix(struct tsl_conform_addr *a, const char *path,
                          char *why, size_t n);
/* a with port set (IP only), into out: its length. */
socklen_t tsl_conform_addr_at(const struct tsl_conform_addr *a, uint16_t port,
                              struct sockaddr_storage *out);
bool tsl_conform_addr_is_unix(const struct tsl_conform_addr *a);
/* "127.0.0.1:4000", "[::1]:4000", "unix:PATH". */
void tsl_conform_addr_text(const struct tsl_conform_addr *a, uint16_t port,
                           char *out, size_t n);

int64_t tsl_conform_now_ms(void);
/* A new temporary file, "$TMPDIR/tsl-conform-WHAT-XXXXXX" ("/tmp"
 * without TMPDIR; "tsl-conform-XXXXXX" for an empty WHAT), its name put
 * in path: the descriptor (close-on-exec), or -1 with errno
 * (ENAMETOOLONG when the name does not fit in n).  The caller removes
 * the file. */
int tsl_conform_tmpfile(char *path, size_t n, const char *what);
int tsl_conform_ms(const struct tsl_conform_ctx *cx, int base);
enum tsl_conform_verdict tsl_conform_fail(char *why, size_t n,
                                          const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A peer connected to the server (tsl_peer_open); 0, or -1 with why and
 * the peer closed (tsl_peer_close on it is still safe). */
int tsl_conform_open(struct tsl_conform_ctx *cx, struct tsl_peer *p,
                     uint64_t seed, char *why, size_t n);
/* The same with a 4 KiB receive buffer and 536-byte segments, set before
 * the handshake: the server's socket buffer toward this peer stays small,
 * so its writes come back short or would block. */
int tsl_conform_open_narrow(struct tsl_conform_ctx *cx, struct tsl_peer *p,
                            uint64_t seed, char *why, size_t n);
/*
 * Full duplex: sends the peer's next nsend messages in `mode` while it
 * reads and checks echoes, until nsend are sent and `upto` echoes (a
 * count since the peer opened) are verified.  Reading goes on while
 * sending, as a real client's would, so a blocking server is never
 * required to buffer a whole burst.  TSL_CONFORM_NOREAD sends without
 * reading.  TSL_CONFORM_WRITE_FIRST reads only while its own sending is
 * blocked (the socket full) or done: the replies pile up in the server's
 * buffers whatever the machine's speed, and a server that blocks in send
 * is still never stuck (it stops reading, our send blocks, we read).
 * Fails after idle_ms without progress.  0, or -1 with why
 * ("timed out after 3.0 s waiting for echo 12 (1493 bytes, got 0)", a
 * hex dump around the first differing byte, who closed).
 */
#define TSL_CONFORM_NOREAD 1
#define TSL_CONFORM_WRITE_FIRST 2
int tsl_conform_drive(struct tsl_conform_ctx *cx, struct tsl_peer *p,
                      uint32_t nsend, enum tsl_peer_mode mode, uint32_t upto,
                      int flags, int idle_ms, char *why, size_t n);
/* The server closed a client that had been silent ms while it had
 * bytes to send: noted in cx->silent_ms (thread-safe). */
void tsl_conform_silence(struct tsl_conform_ctx *cx, int64_t ms);
/* Open, send n messages, check them, close: 0 or -1 with why. */
int tsl_conform_exchange(struct tsl_conform_ctx *cx, uint64_t seed,
                         uint32_t n, enum tsl_peer_mode mode, char *why,
                         size_t wn);
/* Appends "expected/got" hex lines around offset `at` to why. */
void tsl_conform_hexdiff(char *why, size_t n, const uint8_t *want,
                         const uint8_t *got, size_t len, size_t at);
/* A blocking socket connected to the server with timeouts; -1 errno. */
int tsl_conform_connect(struct tsl_conform_ctx *cx);
/* A socket of the server's family, not connected (flags: SOCK_NONBLOCK
 * or 0); -1 errno. */
int tsl_conform_socket(const struct tsl_conform_ctx *cx, int flags);
/* 1 if the server closes fd (EOF or reset) within wait ms. */
int tsl_conform_closed_within(int fd, int wait);

/* ---- tsl_conform.c: the server process, for the cases that need it */

/* Text for a wait status: "exit status 3", "killed by signal 11
 * (SIGSEGV)". */
void tsl_conform_status_text(int status, char *out, size_t n);
/* Each thread of the server's process group, with the seconds it has
 * been running or ready to run and how often it went to sleep: a busy
 * loop is always running or ready, however loaded the machine, and never
 * sleeps.  The count (at most max), -1 unknown. */
struct tsl_conform_sample {
    int tid;
    double secs;            /* running or ready to run */
    double on_cpu;          /* of which running */
    unsigned long sleeps;   /* voluntary context switches */
};
int tsl_conform_server_threads(const struct tsl_conform_server *s,
                               struct tsl_conform_sample *out, int max);
/* The last lines of the server's output from offset `from`. */
void tsl_conform_server_tail(const struct tsl_conform_server *s, off_t from,
                             char *out, size_t n);
off_t tsl_conform_server_outlen(const struct tsl_conform_server *s);
/* Looks for crash or sanitizer reports in output not yet scanned: 1 and
 * the line in why, else 0. */
int tsl_conform_server_report(struct tsl_conform_server *s, char *why,
                              size_t n);

/* ---- tsl_conform_proxy.c: tsl-proxy in front of the server (--proxy) */

/* What the proxy said about one connection (its stdout events). */
struct tsl_conform_pconn {
    uint32_t num;
    uint16_t client_port;  /* the runner's end */
    int64_t closed_ms;     /* the connection ended, -1 not yet */
    int64_t server_ms;     /* the server closed its side, -1 not yet */
    char reason[48];
};

struct tsl_conform_proxy {
    pid_t pid;             /* 0: not running */
    uint16_t port;         /* where clients connect */
    uint16_t upstream;     /* the server's port it was started for */
    int ctl;               /* the control connection */
    int events;            /* its stdout, non-blocking */
    char log[128];         /* its fault log (JSON lines) */
    char plan[256];        /* the plan last set */
    uint64_t seed;
    char line[2048];
    size_t len;
    struct tsl_conform_pconn conns[256]; /* by number, modulo */
};

/* Starts `path` in front of the server at `to` (an IP address; the
 * proxy itself listens on 127.0.0.1) and port upstream, with an empty
 * plan of this seed: 0, or -1 with why. */
int tsl_conform_proxy_start(struct tsl_conform_proxy *px, const char *path,
                            const struct tsl_conform_addr *to,
                            uint16_t upstream, uint64_t seed, int wait_ms,
                            char *why, size_t n);
/* Where clients reach a proxy: 127.0.0.1. */
extern const struct tsl_conform_addr tsl_conform_proxy_addr;
void tsl_conform_proxy_stop(struct tsl_conform_proxy *px);
/* Sets the plan for the next connections (the proxy's `faults`, with the
 * seed added): 0, or -1 with why. */
int tsl_conform_proxy_faults(struct tsl_conform_proxy *px, const char *plan,
                             int wait_ms, char *why, size_t n);
/* The proxy's record of the connection whose client end is fd, once it
 * has said so within wait_ms; NULL otherwise. */
struct tsl_conform_pconn *tsl_conform_proxy_conn(struct tsl_conform_proxy *px,
                                                 int fd, int wait_ms);
/* Waits until the server's side of pc is closed (the connection ended,
 * or the server let go of a crashed one), at most until `until` (ms):
 * 1 and the time it happened, or 0. */
int tsl_conform_proxy_server_closed(struct tsl_conform_proxy *px,
                                    struct tsl_conform_pconn *pc,
                                    int64_t until, int64_t *at);
/* Waits until the connection pc has ended: 1, or 0 at `until`. */
int tsl_conform_proxy_ended(struct tsl_conform_proxy *px,
                            struct tsl_conform_pconn *pc, int64_t until);
/* The last lines of its fault log, for a failure's report. */
void tsl_conform_proxy_log_tail(const struct tsl_conform_proxy *px,
                                char *out, size_t n);

/* ---- tsl_conform_report.c */

struct tsl_conform_result {
    const struct tsl_conform_case *c;
    int group;
    enum tsl_conform_verdict v;
    char why[TSL_CONFORM_WHY];
    char tail[TSL_CONFORM_TAIL]; /* the server's output during the case */
    double secs;
};

/* What happened to a group's server outside the cases: its stop after
 * the last case (graded only by 7.1), a restart after a crash or hang. */
struct tsl_conform_note {
    int group;
    bool alert; /* a report (sanitizer, crash) in its output */
    char text[600];
    char tail[TSL_CONFORM_TAIL];
};

struct tsl_conform_run {
    const char *server_cmd;
    const char *declare_path, *framing_spec, *shim_path, *proxy_path;
    const char *host, *unix_path; /* --host, --unix as given, or NULL */
    const char *address;          /* what was connected to, resolved */
    const char *pattern;
    double scale;
    uint64_t seed;
    char started[40]; /* UTC, ISO 8601 */
    double secs;
    struct tsl_conform_result *results;
    int nresults;
    struct tsl_conform_note *notes;
    int nnotes;
    int npass, nfail, nskip, nna, points, max;
};

/* The one-line command that replays case `id` alone (shell-quoted). */
void tsl_conform_replay(const struct tsl_conform_run *run, const char *id,
                        char *out, size_t n);
const char *tsl_conform_verdict_name(enum tsl_conform_verdict v);
void tsl_conform_write_junit(const struct tsl_conform_run *run,
                             const char *path);
void tsl_conform_write_json(const struct tsl_conform_run *run,
                            const char *path);
void tsl_conform_write_html(const struct tsl_conform_run *run,
                            const char *path);
/* One line a case, "ID<TAB>pass|fail|skip|na<TAB>points<TAB>max", for
 * --class to read back. */
void tsl_conform_write_tsv(const struct tsl_conform_run *run,
                           const char *path);

/* ---- tsl_conform_class.c */

/* Grades every submission of a manifest, or of a directory of them (a
 * subdirectory each: NAME/start, NAME/conform.conf), `jobs` at a time,
 * by runs of this program with `extra` options; reports and a summary in
 * `out`.  0, 1 if a submission could not be graded, 2 for a bad
 * manifest or directory. */
int tsl_conform_class(const char *manifest, const char *out, int jobs,
                      char **extra, int nextra);

#endif

/*
 * sim.h - the deterministic simulation of the core (tsl-sim).
 *
 * One process, one thread at a time (a helper plays "another thread" at
 * chosen points while the main thread waits for it; connectors' threads
 * and the select backend's acceptor thread are coroutines of the main
 * thread, run until they would block): the real controller, acceptor
 * (hosted on the shared receiver on epoll, its own thread on select),
 * receivers, pollers, the four framers, timer wheels and connectors run
 * against a simulated world behind the OS-call table - in-memory sockets
 * and pipes, a fake epoll, poll and select, a listening socket with a
 * backlog, a listening peer for the connectors, an allocation count and
 * a virtual clock - and every choice (who runs next, how a read is
 * split, when a peer writes, resets or goes silent, what the application
 * does) comes from the seed.  The same seed gives the same world, step
 * for step.
 *
 * Files: sim_os.c (the simulated OS and the generator), sim_world.c (the
 * peers, the application, the scheduler and the invariants), tsl_sim.c
 * (the command line).  All mutable state is the one world, W, owned by
 * the main thread; the helper touches it only while the main thread waits.
 */
#ifndef TSL_SIM_H
#define TSL_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsl_internal.h"
#include "tsl_sys.h"

#define SIM_MAXFD 256
#define SIM_MAXCONN 64  /* at most 64: a bit a connection (W.peer_live) */
#define SIM_MAXTASK 64  /* at most 64: a bit a task (W.task_ready) */
#define SIM_MAXREG 80
#define SIM_MAXCTASK 8  /* connectors a world */
#define SIM_CPORT 9000  /* where the connectors dial: a listening peer */
#define SIM_FOREVER INT64_MAX
#define SIM_PORT0 10000
#define SIM_TIME0 1000000 /* the virtual clock starts here (ms) */

/* ---- the generator (xoshiro256**, seeded by splitmix64) ---- */
void sim_rng_seed(uint64_t seed);
uint64_t sim_rnd(void);
uint32_t sim_below(uint32_t n);          /* 0..n-1 (0 if n == 0) */
bool sim_chance(uint32_t num, uint32_t den);
uint32_t sim_range(uint32_t lo, uint32_t hi); /* lo..hi */

/* ---- descriptors ---- */
enum sim_fdkind { FD_FREE, FD_CONN, FD_PIPE_R, FD_PIPE_W, FD_LISTEN,
                  FD_NULL, FD_EPOLL, FD_SOCK,
                  FD_DIAL /* a connector's socket, its connect under way */ };

struct sim_reg { int fd; uint32_t events; uint64_t data; };

struct sim_epoll {
    struct sim_reg regs[SIM_MAXREG];
    int n;
};

struct sim_fd {
    enum sim_fdkind kind;
    int conn;               /* FD_CONN */
    int pipe;               /* FD_PIPE_*: index into W.pipes */
    struct sim_epoll *ep;   /* FD_EPOLL */
};

struct sim_pipe { int bytes; bool rclosed, wclosed; int rfd; };

/* Peer scripts.  The first seven are the classic ones (--classic). */
enum sim_peer { PEER_ECHO, PEER_SLOW, PEER_FLOOD, PEER_HALFCLOSE,
                PEER_KA_SENDER, PEER_KA_FORGET, PEER_RESETTER, PEER_DIES,
                PEER_FIN_LOST, PEER_KINDS };
#define SIM_CLASSIC_KINDS (PEER_RESETTER + 1)

enum sim_cstate { C_IDLE, C_BACKLOG, C_ACCEPTED, C_REFUSED,
                  C_DIALLING /* a connector's connect under way */ };

/* The server's framing, one a world: variable:strip (the worlds from
 * before framings were drawn), variable with drawn options, delimiter,
 * fixed, none.  Drawn from a stream of its own, so that forcing
 * SIM_FR_VARIABLE gives exactly the worlds of before. */
enum sim_framing { SIM_FR_VARIABLE, SIM_FR_VAROPTS, SIM_FR_DELIM,
                   SIM_FR_FIXED, SIM_FR_NONE, SIM_FR_KINDS };

/* One connection: the peer's script and both directions of its bytes. */
struct sim_conn {
    int idx;
    enum sim_peer kind;
    enum sim_cstate st;
    int fd;                  /* the server's descriptor, -1 if none */
    bool srv_closed;         /* the server closed its end */
    int64_t connect_at;
    int64_t next_at;         /* the peer's next action */
    /* peer -> server: the whole stream, generated up front */
    uint8_t *out;
    size_t out_len, out_cap;
    size_t wrote;            /* written by the peer so far */
    uint32_t *fend;          /* where each frame ends (keepalives too) */
    size_t fcap;
    uint32_t nfr;
    uint32_t wfi;            /* the first frame ending past wrote */
    size_t rd;               /* read by the server */
    size_t stop_writing_at;  /* KA_FORGET: goes silent here */
    bool fin, rst;
    int64_t rst_at;          /* RESETTER */
    bool dead;               /* DIES, FIN_LOST: neither reads nor writes */
    bool fin_lost;           /* FIN_LOST: closed, its FIN never arrived */
    bool again;              /* connects again once this connection ends */
    bool respawned;          /* ... and has */
    int ctask;               /* the connector that made it, -1: accepted */
    int64_t dial_done;       /* C_DIALLING: when the connect ends */
    int dial_err;            /* ... and its error (0: connected) */
    bool attach_failed;      /* made, but the server could not serve it */
    /* messages: frame k starts at out[moff[k]], its payload is mlen[k]
     * bytes (the framing adds its header and delimiter) */
    uint32_t *moff, *mlen;
    uint32_t nmsg, mcap;
    uint32_t delivered;      /* message callbacks */
    size_t dbytes;           /* framing none: bytes delivered */
    /* server -> peer: the expected echo (message frames only) */
    uint8_t *echo;
    size_t echo_len, echo_cap;
    size_t sent;             /* bytes the server's sends put on the wire */
    size_t got;              /* bytes the peer read */
    size_t room_cap;         /* its socket buffer */
    bool refused_bytes;      /* a send found the buffer full or short */
    /* what the server side showed */
    tsl_client_t *c;         /* the application's reference */
    uint64_t id;
    bool connected, rejected;
    int disconnects;
    tsl_reason_t reason;
    bool forced;             /* tsl_client_disconnect returned 0 */
    uint64_t msgs_out;       /* echoes tsl_client_send accepted */
    bool send_failed;
    int64_t last_read;       /* virtual time of the server's last read */
    int64_t ka_override;     /* -1: the server's */
    uint32_t min_hold;       /* smallest nonzero hold that applied */
    int64_t cur_hold;        /* the hold that applies now (0: off) */
    int64_t ka_from;         /* when its hold was last switched on */
    bool nl_seen;            /* NOT_LISTENING was on while it was served */
};

/* A task: a receiver whose thread the simulator plays. */
struct sim_task {
    struct tsl_receiver *rx;
    bool alive;
    bool sleeping;
    int64_t wake_at;
    int epfd;                /* its epoll descriptor, -1: it polls */
    struct pollfd pf[8];     /* poll(): its last set */
    int npf;
    bool sel;                /* it selects: its last sets */
    fd_set srd, swr;
    int sspan;
    int turns;
    int empty;               /* turns in a row that did nothing, awake */
};

/* A connector's thread (it blocks in poll() between attempts and while
 * its client lives): a coroutine on the main thread, run until it would
 * block (sim_os.c). */
struct sim_ctask {
    bool alive;
    bool sleeping;
    int64_t wake_at;
    struct pollfd pf[2];     /* what it waits for */
    int npf;
    int cid;                 /* its connector id (0: the acceptor's) */
    bool acceptor;           /* the select backend's acceptor thread */
    bool once, cancelled;
    int fails;               /* failed attempts since the last success */
    int64_t fail_at;         /* when the last one failed */
    int dials;               /* attempts */
    bool client_live;        /* its client is connected */
    int64_t ended_at;        /* when its last client ended, -1: none */
    tsl_reason_t ended_why;
    int dials_at_end;
};

struct sim_opts {
    uint64_t seed;
    uint64_t max_steps;
    int clients;
    int msgs;
    int framing;             /* enum sim_framing, or -1: the seed's */
    int backend;             /* tsl_backend_t, or -1: the seed's */
    bool classic;            /* the worlds of before framings, dying and
                                reconnecting peers, connectors and
                                allocation failures were drawn */
    bool trace;              /* keep and print the trace */
    bool verbose;            /* print it as it goes */
    bool digest;             /* print a world's digest (sim_world_digest) */
    bool describe;           /* print what it generated (sim_world_describe) */
    int fd_budget;           /* every world's descriptor budget, 0: the
                                seed's (W.fd_budget) */
    bool avoid_hup_spin;     /* keep out of a known core bug (docs) */
    bool avoid_nl_stranded;  /* tolerate another (docs) */
    bool avoid_eof_ring;     /* and another (docs) */
};

struct sim_world {
    struct sim_opts o;
    int64_t now;
    uint64_t step;
    uint64_t hash;           /* of everything that happened */
    uint64_t digest;         /* of every step's choice (--digest) */
    uint64_t progress;       /* bytes moved, callbacks run, closes */
    bool failed;
    char why[512];
    uint64_t fail_step;
    struct sim_fd fds[SIM_MAXFD];
    uint8_t rdy[SIM_MAXFD];  /* each one's readiness, kept (SIM_RDY_*) */
    /* The tasks' runnability, kept (sim_world.c's task_memo): a bit a
     * task.  A task's bit in watch[fd] says that its runnability was last
     * found reading fd: a change of W.rdy[fd] makes it stale (dirty), as
     * does any change of the task's own state or sets, and the time. */
    uint64_t watch[SIM_MAXFD];
    uint64_t task_dirty;     /* to compute again */
    uint64_t task_ready;     /* runnable, for the tasks not dirty */
    uint64_t task_calc;      /* they read a descriptor not kept: always */
    uint64_t task_alive;
    int fd_budget;           /* descriptors beyond it: EMFILE */
    struct sim_pipe pipes[SIM_MAXTASK * 2];
    int npipes;
    struct sim_conn conns[SIM_MAXCONN];
    int nconns;
    int again_pending;       /* peers to connect again when they end */
    int again[SIM_MAXCONN];  /* ... which, in order (reconnect_peers) */
    /* Connections, a bit each (by index): not over yet for their peer;
     * step()'s memo of peer_can (good for those not dirty); dirty, by
     * sim_conn_touch() wherever what peer_over and peer_can read of the
     * connection changes, all of them where what they read of the world
     * does (the time, the stop, NOT_LISTENING). */
    uint64_t peer_live, peer_can, peer_dirty;
    struct sim_ctask ctasks[SIM_MAXCTASK];
    int nctasks;
    bool in_connect;         /* the application calls tsl_server_connect */
    bool ctasks_cancelled;   /* by the stop */
    uint64_t made_cb;        /* connected callbacks of connectors' clients */
    int dial_left;           /* connections the listening peer still takes */
    int backlog[SIM_MAXCONN];
    int nbacklog;
    int lfd;
    struct sim_task tasks[SIM_MAXTASK];
    int ntasks;
    int cur;                 /* the running task, -1: the application */
    long live_allocs;
    /* chaos, per world */
    uint32_t p_split, p_eintr, p_eagain, p_short, p_emfile, p_abort,
        p_thread_fail, p_preempt, p_in_callback;
    uint32_t p_alloc;        /* an allocation fails 1 in p_alloc */
    tsl_backend_t backend;
    uint64_t allocs_failed;
    int preempts_left;
    /* the server and the application */
    tsl_server_t *srv;
    uint32_t hold;           /* the server's keepalive hold */
    uint32_t tick;
    bool not_listening;
    int64_t app_next_at;
    int64_t ka_changed_at;   /* the last keepalive or flag change */
    int app_actions_left;
    int64_t stop_at;
    int stop_phase;          /* 0 running, 1 acceptor, 2 shared, 3 rest, 4 done */
    int64_t stop_t0;
    uint64_t stop_step0;
    bool stopping;           /* a stop was requested */
    uint64_t accepted_cb, rejected_cb;
    uint64_t disc_by_reason[TSL_REASON_COUNT];
    /* the trace: a ring of lines, kept only with o.trace */
    char (*trace)[160];
    unsigned trace_n, trace_head;
};

extern struct sim_world W;
extern const struct tsl_sys_ops sim_sys;

/* sim_os.c */
void sim_os_reset(void);
int sim_fd_alloc(enum sim_fdkind kind);
/* Readiness: computed from the world by the sim_fd_calc_* functions, and
 * kept in W.rdy by sim_fd_sync(fd), called wherever what they read
 * changes, so that the scheduler's scans at every step read a byte a
 * descriptor.  SIM_RDY_CALC: not kept (a connect under way, which
 * depends on the time), computed at each read.  A build with
 * -DSIM_VERIFY checks every kept value it reads against the truth. */
#define SIM_RDY_IN 1
#define SIM_RDY_OUT 2
#define SIM_RDY_ERR 4
#define SIM_RDY_CALC 8
#define SIM_RDY_FREE 16          /* not open (poll's POLLNVAL) */
bool sim_fd_calc_readable(int fd);
bool sim_fd_calc_writable(int fd);
bool sim_fd_calc_error(int fd);
void sim_fd_sync(int fd);
#ifdef SIM_VERIFY
void sim_fd_verify(int fd, uint8_t b);
#define SIM_FD_VERIFY(fd, b) sim_fd_verify(fd, b)
#else
#define SIM_FD_VERIFY(fd, b) ((void)0)
#endif
void sim_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sim_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sim_hash(uint64_t v);
void sim_trace_dump(void);
/* Runs fn(arg) on the helper thread and waits for it ("another thread"). */
void sim_elsewhere(void (*fn)(void *), void *arg);
/* A point where another thread may run (no lock of the core is held). */
void sim_preempt(const char *where);

/* sim_world.c */
/* Runs one world; true if every invariant held. */
bool sim_world_run(const struct sim_opts *o);
/* Messages the last world delivered. */
uint64_t sim_world_delivered(void);
/* The last world's digest: every step's candidates and choice, the
 * virtual time, the fingerprint, the step count, the messages delivered
 * and how it failed, folded into one number.  Two builds that give a
 * seed the same digest ran the same world. */
uint64_t sim_world_digest(void);
/* The last world as its seed generated it, one line into buf (--describe):
 * its settings and a hash of every connection's script and stream. */
void sim_world_describe(char *buf, size_t n);
/* enum sim_framing of a name ("variable", "variable-opts", "delimiter",
 * "fixed", "none"), -1 if none. */
int sim_framing_by_name(const char *name);
/* The application's action run at a preemption point. */
void sim_app_concurrent(void *arg);
struct sim_conn *sim_conn_of_fd(int fd);
/* A connector dials (its invariants) and fails an attempt. */
void sim_connector_dials(int ct);
void sim_connector_failed(int ct);
/* Runs connector ct until it would block or ends (sim_os.c). */
void sim_ctask_run(int ct);
/* The connector running on this thread, -1 if none (sim_os.c). */
int sim_ctask_self(void);

/* Every write of W.rdy: the tasks that read the old value go stale. */
static inline void
sim_rdy_set(int fd, uint8_t v)
{
    if (W.rdy[fd] != v) {
        W.rdy[fd] = v;
        W.task_dirty |= W.watch[fd];
    }
}

/* The tasks that wait on epoll set epfd: their set changes. */
static inline void
sim_tasks_of_epoll_changed(int epfd)
{
    int t;

    for (t = 0; t < W.ntasks; t++)
        if (W.tasks[t].epfd == epfd)
            W.task_dirty |= 1ull << t;
}

static inline void
sim_conn_touch(struct sim_conn *k)
{
    W.peer_dirty |= 1ull << k->idx;
}

static inline bool
sim_fd_readable(int fd)
{
    uint8_t b = W.rdy[fd];

    SIM_FD_VERIFY(fd, b);
    return b & SIM_RDY_CALC ? sim_fd_calc_readable(fd) : (b & SIM_RDY_IN);
}

static inline bool
sim_fd_writable(int fd)
{
    uint8_t b = W.rdy[fd];

    SIM_FD_VERIFY(fd, b);
    return b & SIM_RDY_CALC ? sim_fd_calc_writable(fd) : (b & SIM_RDY_OUT);
}

static inline bool
sim_fd_error(int fd)
{
    uint8_t b = W.rdy[fd];

    SIM_FD_VERIFY(fd, b);
    return b & SIM_RDY_CALC ? sim_fd_calc_error(fd) : (b & SIM_RDY_ERR);
}

/* The three at once: SIM_RDY_IN, _OUT, _ERR. */
static inline uint8_t
sim_fd_state(int fd)
{
    uint8_t b = W.rdy[fd];

    if (b & SIM_RDY_CALC)
        return (uint8_t)((sim_fd_calc_readable(fd) ? SIM_RDY_IN : 0) |
                         (sim_fd_calc_writable(fd) ? SIM_RDY_OUT : 0) |
                         (sim_fd_calc_error(fd) ? SIM_RDY_ERR : 0));
    SIM_FD_VERIFY(fd, b);
    return b & (SIM_RDY_IN | SIM_RDY_OUT | SIM_RDY_ERR);
}

#define TRACE(...)                                                        \
    do {                                                                  \
        if (W.o.trace)                                                    \
            sim_trace(__VA_ARGS__);                                       \
    } while (0)

#endif

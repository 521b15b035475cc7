/*
 * tsl_internal.h - structures and tsl__ functions shared by the modules.
 *
 * Ownership, in one place (docs/architecture.md has the long form):
 * - struct tsl_server: its configuration is written only while stopped,
 *   under ctl_lock, except max_clients and the black-list (cfg_lock) and
 *   the flags (atomic).  Counters are atomics.
 * - struct tsl_client: the fields above `owner-only` are shared and guarded
 *   by the client's lock (tsl__client_lock: one of the server's, by id);
 *   db links by the database lock; q_next by the hand-off queue lock; the
 *   owner-only fields belong to the one thread serving the client at the
 *   moment (the receiver), which is the only thread that ever reads the
 *   socket, runs the framer, or finishes the client.
 * - struct tsl_stage: its receiver's thread alone, through tsl_output.c
 *   (what that thread sends to the client it serves, before the client's
 *   queue sees it).
 *
 * Lock order (never take a lock to the left while holding one to the
 * right): ctl_lock -> a client's lock -> queue lock, and never two
 * clients' locks at once (they may be one mutex).  The database lock and
 * cfg_lock are leaves: nothing else is taken while they are held.  No lock
 * is held while a user callback runs.
 */
#ifndef TSL_INTERNAL_H
#define TSL_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tsl.h"
#include "tsl_cbuf.h"
#include "tsl_framer.h"
#include "tsl_net.h"
#include "tsl_poller.h"
#include "tsl_wheel.h"

#define TSL_ASSERT(x) ((x) ? (void)0 : tsl__assert_fail(#x, __FILE__, __LINE__))
_Noreturn void tsl__assert_fail(const char *what, const char *file, int line);

/* A read takes up to this much (or the largest frame, if larger); the
 * receive ring is at least this large, so a read's rest always fits. */
#define TSL__READ_MIN 65536

int64_t tsl__now_ms(void);   /* CLOCK_MONOTONIC */
/* Formats a one-line error into err (if errlen > 0); returns -1. */
int tsl__errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Names the calling thread (tsl-rx, tsl-client, tsl-accept, tsl-stop). */
void tsl__thread_name(const char *name);
int64_t tsl__wall_ms(void);  /* CLOCK_REALTIME */

/* ---- wakeup: self-pipe plus an intrusive hand-off queue of clients ---- */

struct tsl_wakeup {
    int rfd, wfd;
    atomic_int signalled;     /* a byte is (or will be) in the pipe */
    pthread_mutex_t lock;     /* guards the queue and `closed` */
    struct tsl_client *head, *tail;
    bool closed;
};

int tsl__wakeup_open(struct tsl_wakeup *w);
void tsl__wakeup_close(struct tsl_wakeup *w);
void tsl__wakeup_signal(struct tsl_wakeup *w);
void tsl__wakeup_drain(struct tsl_wakeup *w);
/* Appends c (its q_next must be unused) and, with `wake`, signals;
 * TSL_ESHUTDOWN if closed. */
int tsl__wakeup_push(struct tsl_wakeup *w, struct tsl_client *c, bool wake);
/* Unlinks c if it is queued in w; true if it was. */
bool tsl__wakeup_remove(struct tsl_wakeup *w, struct tsl_client *c);
/* Detaches and returns the whole queue; with `shut`, also closes it. */
struct tsl_client *tsl__wakeup_take(struct tsl_wakeup *w, bool shut);

/* ---- a thread that serves clients ---- */

struct tsl_owner {
    /* Hands c (with one reference, already taken) to the owner's queue;
     * TSL_ESHUTDOWN if the owner no longer takes clients. */
    int (*enqueue)(struct tsl_owner *o, struct tsl_client *c);
};

/* Attention flags a client carries to its owner (client->pending). */
#define TSL__P_ADOPT 1u  /* become this client's owner */
#define TSL__P_CLOSE 2u  /* close_reason is set: finish the client */
#define TSL__P_WRITE 4u  /* output is queued: watch for writability */
#define TSL__P_KA 8u     /* the keepalive override changed */
#define TSL__P_MIGRATE 16u /* migrate_to is set: hand the client over */
#define TSL__P_READ 32u  /* read_paused changed */

/* A client's output queue (tsl_output.c's): the bytes sent and not yet
 * taken by the kernel, with the indices in front of them, so that a client
 * with nothing queued (every idle one) holds only the NULL pointer. */
struct tsl_outq_mem {
    size_t cap, head, len;
    int64_t since;           /* waiting without progress since (ms) */
    uint8_t buf[];
};

struct tsl_outq {
    struct tsl_outq_mem *m;  /* NULL while empty */
};

/* Bytes queued.  Caller holds the client's lock. */
static inline size_t tsl__outq_len(const struct tsl_outq *q)
{
    return q->m != NULL ? q->m->len : 0;
}

/* A client's counters as kept (tsl_client_stats() fills the public struct:
 * the id, out_queued and threaded are the client's own fields; msgs_in is
 * an atomic apart). */
struct tsl_client_ctr {
    uint64_t bytes_in, bytes_out, msgs_out;
    uint64_t keepalives_in, keepalives_out;
    uint64_t out_queued_peak;
    int64_t connect_time_ms, last_recv_ms, last_send_ms;
    uint32_t protocol_errors, migrations;
};

struct tsl_client {
    /* Fields are grouped by who guards them, and within a group ordered
     * by size so that the struct has no holes: every idle connection is
     * one of these (docs/architecture.md, "Memory per client"). */
    uint64_t id;
    struct tsl_server *srv;
    atomic_uint refs;
    uint16_t port;
    bool ip_long;            /* the text is in ip.heap, not ip.text */
    bool in_db;              /* database lock (a byte of its own) */
    union {                  /* the peer's address text (tsl_client_ip) */
        char text[16];       /* IPv4's longest, "255.255.255.255", fits */
        char *heap;          /* longer (IPv6): allocated */
    } ip;

    /* under the client's lock, tsl__client_lock() */
    int fd;                  /* -1 once closed */
    uint32_t ka_override;    /* ms; TSL__KA_SERVER: the server's hold */
    uint8_t close_reason;    /* a tsl_reason_t; TSL_REASON_COUNT: none */
    uint8_t pending;         /* TSL__P_* not yet seen by the owner */
    bool queued : 1;         /* in the owner's hand-off queue */
    bool adopted : 1;        /* has had an owner (counts migrations) */
    bool threaded : 1;       /* the owner is a dedicated receiver */
    bool staging : 1;        /* the owner stages its sends (tsl_output.c) */
    atomic_bool closing;     /* close_reason is set; no more sends */
    atomic_bool migrating;   /* migrate_to is set (read lock-free) */
    atomic_bool read_paused; /* tsl_client_pause_reading (read lock-free) */
    atomic_bool drain_due;   /* output passed the high watermark: drained
                              * is owed (set under lock, read lock-free) */
    atomic_bool side;        /* another thread queued while staging (set
                              * under lock, read lock-free by the owner) */
    struct tsl_owner *owner; /* NULL before adoption and after finish */
    struct tsl_outq out;
    struct tsl_connector *connector; /* client mode: who connected it */
    struct tsl_receiver *migrate_to; /* pending migration target */
    _Atomic(void *) data;    /* the application's (tsl_client_data) */
    struct tsl_client_ctr st;
    atomic_uint_fast64_t msgs_in; /* owner adds, lock-free; anyone reads */

    struct tsl_client *db_prev, *db_next; /* database lock */
    struct tsl_client *q_next;            /* queue lock */

    /* owner-only: the one thread serving the client now */
    struct tsl_cbuf in;
    struct tsl_timer ka;     /* every deadline below (tsl_receiver.c) */
    int64_t ka_send_at;      /* client mode: next keepalive frame out */
    struct tsl_client *work_next; /* the owner's work list this turn */
    int64_t ka_last;         /* last time bytes arrived */
    int64_t frame_start;     /* a partial frame waits since (0: none) */
    uint32_t ka_hold;        /* hold in force; TSL__KA_SERVER: the server's */
    uint32_t slot;           /* index in the owner's array */
    struct tsl_framer framer;
    uint8_t watch_ev;        /* the interest registered (TSL_POLL_*) */
    /* One bit each: they share bytes, which only the owner touches. */
    bool watched : 1;        /* registered with the owner's poller */
    bool want_write : 1;
    bool out_over : 1;       /* serving: own sends passed out_high */
    bool paused : 1;
    bool eof : 1;
    bool ready_r : 1, ready_w : 1; /* readiness from the last wait */
    bool fresh : 1;          /* migrated in: try a read before anything */
    bool redeliver : 1;      /* frames came along in the ring: deliver */
    bool stall_on : 1;       /* output waits: the stall deadline counts */
    bool in_work : 1;
    bool err_seen : 1;       /* the poller reported a hang-up or error */
};

struct tsl_client *tsl__client_create(struct tsl_server *srv, int fd,
                                      const union tsl__sa *peer);
/* A client's lock: one of its server's TSL__CLIENT_LOCKS, picked by id
 * (tsl_client.c says why).  Never held while taking another client's. */
void tsl__client_lock(struct tsl_client *c);
void tsl__client_unlock(struct tsl_client *c);
/* Sets the close reason if none is set yet and tells the owner.
 * Caller holds c's lock.  Returns false if a reason was already set. */
bool tsl__client_request_close_locked(struct tsl_client *c, tsl_reason_t r);
/* Tells the owner about `flag`.  Caller holds c's lock. */
void tsl__client_poke_locked(struct tsl_client *c, unsigned flag);
/* A client's keepalive hold that defers to the server's. */
#define TSL__KA_SERVER UINT32_MAX
/* The keepalive override (TSL__KA_SERVER: none), read under its lock. */
uint32_t tsl__client_ka_override(struct tsl_client *c);

/* ---- output (tsl_output.c) ---- */

/* The client the calling thread is serving as its owner, or NULL. */
extern _Thread_local struct tsl_client *tsl__tls_serving;

/* A serving owner's staging buffer: its sends to the client it serves,
 * kept apart from the client's queue (so without the client's lock) and
 * written with one send when the service ends.  A receiver has one, kept
 * between turns; tsl_output.c alone reads or writes it. */
struct tsl_stage {
    uint8_t *buf;
    size_t len, cap;
    size_t base;             /* the queue's length when staging began */
    int64_t now;             /* the turn's time */
    uint64_t msgs, kas;      /* sent this turn, not yet counted */
    size_t keep;             /* storage kept between turns, at most */
    bool open;               /* staging began this turn (c->staging) */
};
/* A shared receiver's stage keeps up to this between turns; a dedicated
 * one's nothing (a thread per client: every idle one would hold it). */
#define TSL__STAGE_KEEP (256u * 1024)
/* Frees a stage's storage (its receiver's release). */
void tsl__output_stage_free(struct tsl_stage *st);

/* tsl_client_send(), counting a message or (is_msg false) a keepalive. */
int tsl__output_send(struct tsl_client *c, const void *buf, size_t len,
                     bool is_msg);
/* Owner: writes queued output (as much as the socket takes now) and sets
 * want_write; returns the bytes still queued. */
size_t tsl__output_flush(struct tsl_client *c, int64_t now);
/* The same with c's lock held (want_write untouched). */
size_t tsl__output_flush_locked(struct tsl_client *c, int64_t now);
/* Frees the queue's storage.  Caller holds c's lock. */
void tsl__output_free_locked(struct tsl_client *c);
/* Since when queued output has waited without progress, -1 if none is
 * queued.  Caller holds c's lock. */
int64_t tsl__output_since_locked(const struct tsl_client *c);
/* Bytes queued, read under the lock. */
size_t tsl__output_len(struct tsl_client *c);
/* Owner: from here its sends to c are staged in st, not written... */
void tsl__output_begin(struct tsl_client *c, int64_t now,
                       struct tsl_stage *st);
/* ...until here, where the buffer is written with one send (unless output
 * already waits for writability: want_write); sets want_write and returns
 * the bytes still queued. */
size_t tsl__output_end(struct tsl_client *c, int64_t now);
/* Owner, between begin and end: its sends passed the high watermark
 * (out_over is tsl_output.c's; read here on every delivered message). */
static inline bool tsl__output_over(const struct tsl_client *c)
{
    return c->out_over;
}
/* Whether a `drained` callback is owed now (the queue passed the high
 * watermark and is at or under the low one); clears it.  The owner. */
bool tsl__output_take_drained(struct tsl_client *c);
/* Owner: c was finished while being served; what it staged joins the
 * queue (the finish writes what the socket takes), nothing more is. */
void tsl__output_abandon(struct tsl_client *c);
/* Adds what the calling thread staged for c this turn to stats read
 * under c's lock (the application asking from c's own callback). */
void tsl__output_staged_stats_locked(const struct tsl_client *c,
                                     tsl_client_stats_t *s);

/* Owner: closes the socket, removes the client from the database, runs
 * the disconnected callback and drops the owner's reference (the
 * controller's srv->finish does it). */
void tsl__client_finish(struct tsl_client *c, tsl_reason_t reason);
/* Makes o the owner and queues c to it with TSL__P_ADOPT; on failure
 * (TSL_ESHUTDOWN) the caller still owns c and must finish it.  `from` is
 * the wakeup queue of the current owner when migrating (a stale entry of
 * c there is removed), NULL for a new client. */
int tsl__client_handoff(struct tsl_client *c, struct tsl_owner *o,
                        struct tsl_wakeup *from);
/* Owner, for a client taken from its queue: returns and clears the
 * pending flags; *closed tells whether the client is already finished. */
unsigned tsl__client_take_pending(struct tsl_client *c, bool *closed);

/* ---- client database ---- */

struct tsl_clientdb {
    pthread_mutex_t lock;
    struct tsl_client *head;
    size_t count;
};

void tsl__db_init(struct tsl_clientdb *db);
void tsl__db_fini(struct tsl_clientdb *db);
void tsl__db_add(struct tsl_clientdb *db, struct tsl_client *c);
bool tsl__db_remove(struct tsl_clientdb *db, struct tsl_client *c);
size_t tsl__db_count(struct tsl_clientdb *db);
struct tsl_client *tsl__db_find_id(struct tsl_clientdb *db, uint64_t id);
struct tsl_client *tsl__db_find_addr(struct tsl_clientdb *db,
                                     const char *ip, uint16_t port);
/* The clients in the database, each with a new reference, in an array
 * from tsl__sys (free it, unref each); *n their number.  TSL_ENOMEM. */
int tsl__db_snapshot(struct tsl_clientdb *db, struct tsl_client ***out,
                     size_t *n);

/* ---- hooks: what a loop runs besides its clients ---- */

/*
 * A loop (the shared receiver) can run one hook: something with a
 * descriptor of its own that it watches among its clients, and a turn of
 * its own.  The loop knows only this struct; the hook knows only what the
 * loop fills in (its poller, a way to wake it).  On epoll the acceptor is
 * the shared receiver's hook.  The pointer registered with the poller is
 * the hook itself.
 */
struct tsl_hook {
    /* Set by the hook's owner; called on the loop's thread. */
    void (*ready)(struct tsl_hook *h);            /* its descriptor is ready */
    int (*tend)(struct tsl_hook *h, int64_t now); /* once a turn: ms until it
                                                     needs one (-1: none) */
    void (*exit)(struct tsl_hook *h);             /* the loop ends */
    /* Set by the loop when it starts (controller thread). */
    struct tsl_poller *poller;                    /* the loop's */
    void (*wake)(void *loop);                     /* any thread */
    void *loop;
    bool running;            /* the loop's thread runs (controller thread) */
};

/* ---- acceptor (CAS) ---- */

/* What the acceptor reports upward, through functions the controller
 * installs: a connection (the callee owns fd from then on), or one it had
 * to shed (fd-exhausted). */
typedef void tsl__accept_fn(struct tsl_server *srv, int fd,
                            const union tsl__sa *peer);
typedef void tsl__reject_fn(struct tsl_server *srv, tsl_reject_t why,
                            const union tsl__sa *peer);
/* A connector's report of a connection it made (see struct tsl_server). */
typedef struct tsl_client *tsl__attach_fn(struct tsl_server *srv, int fd,
                                          const union tsl__sa *peer,
                                          struct tsl_connector *k);

struct tsl_acceptor {
    struct tsl_hook hook;    /* first: hosted, the acceptor is a hook */
    struct tsl_server *srv;
    tsl__accept_fn *on_accept;
    tsl__reject_fn *on_reject;
    bool hosted;             /* epoll: runs as a loop's hook */
    pthread_t thread;        /* select: its own thread */
    bool running;
    int lfd;                 /* -1 once closed */
    int spare_fd;            /* kept open to shed connections on EMFILE */
    struct tsl_wakeup wk;    /* own thread only */
    atomic_bool stop;
    atomic_bool enabled;     /* hosted: started (the host may watch lfd) */
    /* hosted: the host's alone */
    bool watched;            /* lfd is in the host's poller */
    int64_t paused_until;    /* not watched until then (0: not paused) */
    /* hosted: the stop handshake */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool off;                /* the host will never accept again */
};

/* Controller: takes lfd; `hosted`: it will run as the hook of a loop
 * (epoll), else on a thread of its own.  Call before the host starts,
 * then start. */
int tsl__acceptor_init(struct tsl_acceptor *a, struct tsl_server *srv,
                       int lfd, bool hosted, tsl__accept_fn *on_accept,
                       tsl__reject_fn *on_reject);
int tsl__acceptor_start(struct tsl_acceptor *a);
/* Controller: no accept happens after it returns; closes the sockets. */
void tsl__acceptor_stop(struct tsl_acceptor *a);

/* ---- receiver (DRS) ---- */

/*
 * A receiver serves clients: the shared one multiplexes many with
 * select(); a dedicated one serves a single client with poll() on its
 * own thread (multi-threaded mode) and ends when that client leaves.
 */
struct tsl_receiver {
    struct tsl_owner owner;  /* first: the receiver is an owner */
    struct tsl_server *srv;
    pthread_t thread;
    bool running;            /* its thread runs (joined: false) */
    bool started;            /* resources allocated, not yet released */
    bool dedicated;
    bool had_client;         /* dedicated: its client arrived once */
    atomic_bool done;        /* dedicated: finished, ready to be joined */
    bool pinned;             /* dedicated: its creator still uses it (ded_lock) */
    struct tsl_receiver *ded_next; /* server's list (ded_lock) */
    struct tsl_wakeup wk;
    atomic_bool stop;
    struct tsl_client **clients;
    size_t n, cap;
    uint8_t *scratch;        /* messages that wrap around a ring */
    size_t scratch_cap;
    struct tsl_stage stage;  /* the output of the client it serves */
    struct tsl_wheel wheel;  /* keepalive timers of its clients */
    struct tsl_client *work; /* clients to service this turn */
    bool listen_on;          /* NOT_LISTENING clear when interests synced */
    struct tsl_poller poller; /* its readiness backend */
    struct tsl_hook *hook;   /* what it runs besides clients, or NULL */
    bool hook_ready;         /* the hook's descriptor was reported */
    unsigned ka_gen;         /* server keepalive generation applied */
    uint32_t ka_srv_hold;    /* the server's hold time as applied then */
};

/* Starts a receiver; the shared one may run a hook (NULL: none). */
int tsl__receiver_start(struct tsl_receiver *rx, struct tsl_server *srv,
                        bool dedicated, struct tsl_hook *hook);
/* The same without its thread: the caller runs it with tsl__loop_turn()
 * until that returns false, then tsl__loop_exit(), then
 * tsl__receiver_release().  `ops` NULL: the poller start would choose. */
int tsl__receiver_open(struct tsl_receiver *rx, struct tsl_server *srv,
                       bool dedicated, struct tsl_hook *hook,
                       const struct tsl_poller_ops *ops);
/* One turn, waiting at most ms (-1: until the next timer); false when the
 * loop is to end.  On the thread that serves rx's clients. */
bool tsl__loop_turn(struct tsl_receiver *rx, int ms);
/* After the last turn: finishes every client held or queued. */
void tsl__loop_exit(struct tsl_receiver *rx);
/* Asks the thread to finish its clients (shutdown) and end; no join. */
void tsl__receiver_request_stop(struct tsl_receiver *rx);
/* Requests stop and joins; its queue refuses hand-offs from then on. */
void tsl__receiver_join(struct tsl_receiver *rx);
/* After the join, once no thread can still try a hand-off to it: frees
 * what start allocated (the queue's mutex and pipe among them). */
void tsl__receiver_release(struct tsl_receiver *rx);
/* Join, then release. */
void tsl__receiver_stop(struct tsl_receiver *rx);

/* ---- dedicated receivers (multi-threaded mode, migration) ---- */

/* A new dedicated receiver, started, listed and pinned: no reap frees it
 * until its creator, done handing it its client (or giving up), calls
 * tsl__dedicated_unpin().  NULL with *err set. */
struct tsl_receiver *tsl__dedicated_create(struct tsl_server *srv, int *err);
void tsl__dedicated_unpin(struct tsl_server *srv, struct tsl_receiver *rx);
/* Wakes every receiver - the shared one while it runs, and every
 * dedicated one - to re-read the server's flags and keepalive settings: a
 * sleeping one would apply them only at its next event, which an idle
 * client may never send. */
void tsl__kick_all_receivers(struct tsl_server *srv);
/* Asks a dedicated receiver that will get no client (or no more) to end,
 * if it still exists: any thread but the receiver's own. */
void tsl__dedicated_release(struct tsl_server *srv, struct tsl_receiver *rx);
/* Joins and frees the dedicated receivers that have ended (all of them,
 * after asking them to stop, with `all`). */
void tsl__dedicated_reap(struct tsl_server *srv, bool all);
/* Wakes the receiver to re-read the server flags. */
void tsl__receiver_kick(struct tsl_receiver *rx);

/* ---- connectors (client mode) ---- */

struct tsl_connector {
    struct tsl_server *srv;
    int id;
    struct tsl__addr peer;
    unsigned flags;
    pthread_t thread;
    struct tsl_wakeup wk;
    atomic_bool cancel;
    atomic_int lost;          /* reason + 1 when its client ended */
    atomic_bool done;
    struct tsl_connector *next; /* server's list (conn_lock) */
};

/* Its client ended with `why` (called by the client's owner). */
void tsl__connector_lost(struct tsl_connector *k, tsl_reason_t why);
/* Cancels every connector and joins them (stop). */
void tsl__connector_reap(struct tsl_server *srv, bool all);

/* ---- controller ---- */

enum tsl_state {
    TSL__S_STOPPED,
    TSL__S_RUNNING,
    TSL__S_STOPPING
};

struct tsl_counters {
    atomic_uint_fast64_t accepted;
    atomic_uint_fast64_t rejected[TSL_REJECT_COUNT];
    atomic_uint_fast64_t disconnected[TSL_REASON_COUNT];
    atomic_uint_fast64_t accept_errors;
    atomic_uint_fast64_t current, peak;
    atomic_uint_fast64_t bytes_in, bytes_out, msgs_in, msgs_out;
    atomic_uint_fast64_t keepalives_in, protocol_errors;
};

/* A black-list entry: a host, or a network of `bits` leading bits. */
struct tsl_black {
    struct tsl__host net;
    unsigned bits;
};

/* The client locks of a server: a client takes lock id % this. */
#define TSL__CLIENT_LOCKS 64

struct tsl__client_lock {
    pthread_mutex_t mu;
    char pad[64 - sizeof(pthread_mutex_t) % 64]; /* one per cache line */
};

struct tsl_server {
    char name[64];
    char ip[TSL__ADDR_TEXT];  /* the address's text (tsl_server_ip) */
    struct tsl__addr addr;
    uint16_t cfg_port;
    atomic_uint bound_port;

    /* written only while stopped (ctl_lock) */
    tsl_callbacks_t cb;
    void *ud;
    tsl_framing_t framing;
    size_t out_low, out_high, out_hard;
    uint32_t stall_ms;
    uint32_t tick_ms;
    tsl_backend_t backend;

    atomic_uint ka_hold_ms;   /* any time */
    atomic_uint frame_ms;     /* frame-completion timeout, 0: off; any time */
    atomic_uint ka_gen;       /* bumped when ka_hold_ms changes */

    atomic_uint flags;

    pthread_mutex_t ctl_lock;
    pthread_mutex_t stop_lock; /* guards state and stopper */
    enum tsl_state state;
    pthread_t stopper;
    bool has_stopper;

    pthread_mutex_t cfg_lock;  /* max_clients and the black-list */
    uint32_t max_clients;
    struct tsl_black *black;
    size_t nblack, capblack;

    struct tsl_clientdb db;
    struct tsl_acceptor acc;
    struct tsl_receiver rx;

    pthread_mutex_t conn_lock; /* the connectors' list */
    struct tsl_connector *conn_head;
    int next_conn_id;
    bool conn_closed;
    atomic_uint ka_interval_ms; /* client mode: keepalive frames out */

    pthread_mutex_t ded_lock;  /* the dedicated receivers' list */
    pthread_cond_t ded_cv;     /* a dedicated receiver was unpinned */
    struct tsl_receiver *ded_head;
    bool ded_closed;           /* stopping: no new dedicated receivers */
    /* A dedicated receiver has ended: the shared receiver calls
     * reap_dedicated (installed by the controller) on its next turn, so
     * a finished thread and its descriptors do not wait for the next
     * connection or the stop. */
    atomic_bool ded_ended;

    /* What the roles below report to the controller, through functions it
     * installs at create (calls go down the layers, reports come up
     * through these):
     * - reap_dedicated: the shared receiver, when ded_ended is set;
     * - attach: a connector connected fd; the client, with a reference
     *   for the connector, or NULL (fd closed);
     * - finish: an owner ends one of its clients (tsl__client_finish). */
    void (*reap_dedicated)(struct tsl_server *srv, bool all);
    tsl__attach_fn *attach;
    void (*finish)(struct tsl_client *c, tsl_reason_t reason);
    struct tsl_counters ctr;
    atomic_uint_fast64_t next_id;
    struct tsl__client_lock client_locks[TSL__CLIENT_LOCKS];
};

/* The server whose thread this is (acceptor, receiver, stopper), or NULL. */
extern _Thread_local struct tsl_server *tsl__tls_server;

/* Can a thread of srv serving clients the shared way watch fd?  (select
 * cannot watch descriptors past its limit; threaded clients are polled.) */
bool tsl__server_can_watch(struct tsl_server *srv, int fd, bool threaded);

#define TSL__CTR_ADD(ctr, n) atomic_fetch_add_explicit(&(ctr), (n), \
                                                       memory_order_relaxed)
#endif

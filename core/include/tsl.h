/*
 * tsl.h - tcpserverlib public API.
 *
 * A library for multi-threaded TCP servers after the Controller / CAS /
 * DBMS / DRS design: a controller (tsl_server_t) owns an acceptor thread,
 * a client database and a receive thread that multiplexes all clients with
 * select() (or epoll, where the receive thread also accepts).  Applications are told of connections, disconnections (with a
 * reason), messages and rejected connections through callbacks.
 *
 * Conventions.
 * - Every function returning int returns >= 0 on success and a negative
 *   TSL_E... code (a negated errno value) on failure.
 * - Handles are opaque.  A tsl_client_t pointer passed to a callback is
 *   borrowed for the duration of the callback; keep it longer with
 *   tsl_client_ref() and release it with tsl_client_unref().
 * - Callbacks for one client never run concurrently and arrive in order:
 *   connected first, then messages, then disconnected exactly once.
 */
#ifndef TSL_H
#define TSL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsl_server tsl_server_t;
typedef struct tsl_client tsl_client_t;

/* Error codes: X(NAME, value, text).  Values are negated errno numbers. */
#define TSL_ERRNO_MAP(X)                                                      \
    X(INVAL, -EINVAL, "invalid argument")                                     \
    X(NOMEM, -ENOMEM, "out of memory")                                        \
    X(BUSY, -EBUSY, "operation not allowed in the current server state")      \
    X(NOTCONN, -ENOTCONN, "client is not connected")                          \
    X(NOBUFS, -ENOBUFS, "client output limit reached")                        \
    X(EXIST, -EEXIST, "already exists")                                       \
    X(NOENT, -ENOENT, "no such entry")                                        \
    X(NOTSUP, -ENOTSUP, "not supported")                                      \
    X(PROTO, -EPROTO, "protocol error")                                       \
    X(ADDRINUSE, -EADDRINUSE, "address already in use")                       \
    X(ADDRNOTAVAIL, -EADDRNOTAVAIL, "address not available")                  \
    X(ACCES, -EACCES, "permission denied")                                    \
    X(MFILE, -EMFILE, "too many open files")                                  \
    X(NFILE, -ENFILE, "too many open files in system")                        \
    X(PIPE, -EPIPE, "broken pipe")                                            \
    X(CONNRESET, -ECONNRESET, "connection reset by peer")                     \
    X(AGAIN, -EAGAIN, "resource temporarily unavailable")                     \
    X(SHUTDOWN, -ESHUTDOWN, "server is shutting down")                       \
    X(RANGE, -ERANGE, "descriptor too large for the select() loop")

enum {
#define TSL_X(name, val, text) TSL_E##name = (val),
    TSL_ERRNO_MAP(TSL_X)
#undef TSL_X
};

/* Returns a static text for a TSL_E... code; never NULL. */
const char *tsl_strerror(int code);

/* Why a client was disconnected: X(NAME, text). */
#define TSL_REASON_MAP(X)                                                     \
    X(PEER_CLOSED, "peer-closed")                                             \
    X(PEER_RESET, "peer-reset")                                               \
    X(FORCED, "forced")                                                       \
    X(KA_EXPIRED, "ka-expired")                                               \
    X(PROTOCOL_ERROR, "protocol-error")                                       \
    X(SLOW_CONSUMER, "slow-consumer")                                         \
    X(SHUTDOWN, "shutdown")

typedef enum tsl_reason {
#define TSL_X(name, text) TSL_REASON_##name,
    TSL_REASON_MAP(TSL_X)
#undef TSL_X
    TSL_REASON_COUNT
} tsl_reason_t;

/* Why a connection was refused: X(NAME, text). */
#define TSL_REJECT_MAP(X)                                                     \
    X(MAX_CLIENTS, "max-clients")                                             \
    X(BLACKLISTED, "blacklisted")                                             \
    X(NOT_ACCEPTING, "not-accepting")                                         \
    X(FD_EXHAUSTED, "fd-exhausted")                                           \
    X(FD_TOO_LARGE, "fd-too-large")                                           \
    X(NO_MEMORY, "no-memory")

typedef enum tsl_reject {
#define TSL_X(name, text) TSL_REJECT_##name,
    TSL_REJECT_MAP(TSL_X)
#undef TSL_X
    TSL_REJECT_COUNT
} tsl_reject_t;

/* Text forms ("peer-closed", "max-clients"); "unknown" when out of range. */
const char *tsl_reason_name(tsl_reason_t reason);
const char *tsl_reject_name(tsl_reject_t reject);

/*
 * Server state flags, as in the course.  They are not mutually exclusive.
 * INITIALIZED and RUNNING are read-only; the others can be set and cleared
 * at any time with tsl_server_set_flags() / tsl_server_clear_flags().
 */
enum {
    TSL_SERVER_INITIALIZED = 1,
    TSL_SERVER_RUNNING = 2,
    TSL_SERVER_NOT_ACCEPTING = 4,   /* accept and refuse new connections */
    TSL_SERVER_NOT_LISTENING = 8,   /* stop reading from clients */
    TSL_SERVER_MULTI_THREADED = 16  /* a thread per new client */
};

/* ---- Message demarcation ---------------------------------------------- */

typedef enum tsl_framing_kind {
    TSL_FRAMING_NONE,      /* bytes go to the application as they arrive */
    TSL_FRAMING_FIXED,     /* messages of exactly fixed_size bytes */
    TSL_FRAMING_VARIABLE,  /* length header; see docs/wire-format.md */
    TSL_FRAMING_DELIMITER  /* messages end with delim */
} tsl_framing_kind_t;

#define TSL_DELIM_MAX 8

typedef struct tsl_framing {
    tsl_framing_kind_t kind;
    uint32_t fixed_size;       /* FIXED: 1..65535 */
    uint8_t hdr_width;         /* VARIABLE: 1, 2 or 4 */
    uint8_t big_endian;        /* VARIABLE: header byte order */
    uint8_t len_exclusive;     /* VARIABLE: length excludes the header */
    uint8_t strip_header;      /* VARIABLE: deliver the payload only */
    uint32_t max_frame;        /* VARIABLE: largest total frame (header
                                  included); DELIMITER: largest message
                                  (delimiter excluded) */
    uint8_t delim[TSL_DELIM_MAX];
    uint8_t delim_len;         /* DELIMITER: 1..TSL_DELIM_MAX */
} tsl_framing_t;

/*
 * Fills *out with the defaults of `kind`.  VARIABLE defaults to the course's
 * format: 2-byte little-endian total length, header delivered, maximum 65535.
 */
void tsl_framing_default(tsl_framing_t *out, tsl_framing_kind_t kind);

/*
 * Parses a framing spec ("none", "fixed:N", "variable[:opt,...]",
 * "delimiter:HEX[,max=N]"; see docs/wire-format.md) into *out.  On failure
 * returns TSL_EINVAL and writes a one-line reason into err (if errlen > 0).
 * Pure; any thread.
 */
int tsl_framing_parse(const char *spec, tsl_framing_t *out, char *err,
                      size_t errlen);

/* Checks a framing configuration; 0 or TSL_EINVAL. */
int tsl_framing_validate(const tsl_framing_t *f);

/*
 * The wire bytes that make a receiver with framing f deliver exactly msg:
 * the header is added when f strips it (with `keep` a delivered message
 * already is its frame), the delimiter is appended, fixed and none are
 * unchanged.  Writes into out (cap bytes) and returns the length, or
 * TSL_EINVAL (msg cannot be framed: wrong fixed size, over the maximum,
 * contains the delimiter) or TSL_ENOBUFS (cap too small).  Pure.
 */
long tsl_framing_encode(const tsl_framing_t *f, const void *msg, size_t len,
                        uint8_t *out, size_t cap);

/* ---- Callbacks -------------------------------------------------------- */

/*
 * Which thread runs a callback.  The callbacks of one client never run
 * concurrently and come in order: connected, messages (and drained), then
 * disconnected, once.  `message`, `drained` and `disconnected` run on the
 * thread serving the client: the receive thread, or the client's own with
 * TSL_SERVER_MULTI_THREADED or after a migration.  `connected` and
 * `rejected` run where the connection was accepted: on the select backend
 * the acceptor thread, so a client's `connected` may run while another
 * client's `message` runs on the receive thread; on the epoll backend the
 * receive thread, which accepts too.  A client-mode connection announces
 * itself on its connector's thread.  Every callback of a server on one
 * thread, with no locking needed between them: the epoll backend, no
 * dedicated threads, no client mode (integration.core.
 * epoll_runs_every_callback_on_one_thread).
 */

typedef void tsl_connected_cb(tsl_server_t *srv, tsl_client_t *c, void *ud);
typedef void tsl_disconnected_cb(tsl_server_t *srv, tsl_client_t *c,
                                 tsl_reason_t reason, void *ud);
/* msg is valid only during the call; it is not NUL-terminated. */
typedef void tsl_message_cb(tsl_server_t *srv, tsl_client_t *c,
                            const uint8_t *msg, size_t len, void *ud);
typedef void tsl_rejected_cb(tsl_server_t *srv, const char *ip,
                             uint16_t port, tsl_reject_t why, void *ud);
typedef void tsl_drained_cb(tsl_server_t *srv, tsl_client_t *c, void *ud);

typedef struct tsl_callbacks {
    tsl_connected_cb *connected;       /* on the acceptor (see backend) */
    tsl_disconnected_cb *disconnected; /* on the thread serving the client */
    tsl_message_cb *message;           /* on the thread serving the client */
    tsl_rejected_cb *rejected;         /* on the acceptor (see backend) */
    /* On the thread serving the client, once each time its queued output
     * (bytes tsl_client_send accepted that the kernel has not taken:
     * `out_queued` in its statistics) went above the high watermark of
     * tsl_server_set_output_limits() and is back at or under the low one.
     * A proxy or a file server stops producing for the client at the
     * first and resumes here.  Not after disconnected; NULL: none. */
    tsl_drained_cb *drained;
} tsl_callbacks_t;

/* ---- Statistics ------------------------------------------------------- */

typedef struct tsl_server_stats {
    uint64_t accepted;           /* incoming: not tsl_server_connect()'s */
    uint64_t rejected[TSL_REJECT_COUNT];
    uint64_t disconnected[TSL_REASON_COUNT];
    uint64_t accept_errors;      /* ECONNABORTED and the like */
    uint64_t current_clients;
    uint64_t peak_clients;
    uint64_t bytes_in, bytes_out;
    uint64_t msgs_in, msgs_out;
    uint64_t keepalives_in;
    uint64_t protocol_errors;
} tsl_server_stats_t;

typedef struct tsl_client_stats {
    uint64_t id;
    uint64_t bytes_in, bytes_out;
    uint64_t msgs_in, msgs_out;
    uint64_t keepalives_in, keepalives_out;
    uint64_t protocol_errors;
    uint64_t out_queued;         /* bytes waiting to be sent now */
    uint64_t out_queued_peak;
    int64_t connect_time_ms;     /* CLOCK_REALTIME, ms since the epoch */
    int64_t last_recv_ms, last_send_ms; /* same clock; 0 if never */
    int threaded;                /* 0: multiplexed, 1: dedicated thread */
    uint32_t migrations;
} tsl_client_stats_t;

/* ---- Controller ------------------------------------------------------- */

/*
 * Creates a server named `name` that will listen on ip:port; port 0 picks
 * a free port at start.  ip is one of:
 *   - an IPv4 address, "127.0.0.1";
 *   - an IPv6 address, bare or in brackets: "::1", "[::1]" (an IPv6 socket
 *     on "::" or an IPv4-mapped address also takes IPv4 clients, which are
 *     shown and black-listed as IPv4);
 *   - a host name, resolved here, once, in the calling thread: "localhost"
 *     becomes the first address the resolver gives (tsl_server_ip shows
 *     it);
 *   - "unix:PATH", a Unix domain socket (port ignored): the name is made at
 *     start and removed at stop; an existing file is refused with
 *     TSL_EADDRINUSE at start, never taken over.  "unix:@NAME" is Linux's
 *     abstract namespace (no file).
 * The server is INITIALIZED, not running.  *out is owned by the caller
 * until tsl_server_destroy().  Returns 0, TSL_EINVAL (bad name, address,
 * or a name that does not resolve) or TSL_ENOMEM; on failure *out is NULL.
 */
int tsl_server_create(tsl_server_t **out, const char *name, const char *ip,
                      uint16_t port);

/*
 * Stops the server if it runs, then frees it.  Every reference the
 * application holds on its clients must have been released.  Not from a
 * callback of this server.  Returns 0 or TSL_EBUSY (called from a callback).
 */
int tsl_server_destroy(tsl_server_t *srv);

/* Callbacks and their user data; only while stopped.  0 or TSL_EBUSY. */
int tsl_server_set_callbacks(tsl_server_t *srv, const tsl_callbacks_t *cbs,
                             void *ud);

/*
 * How the shared receive thread waits: select() (the course's, the
 * default; descriptors must be below FD_SETSIZE) or epoll (Linux; no such
 * limit, cost independent of idle clients).  On epoll the receive thread
 * also accepts (no acceptor thread: one thread per connection fewer to
 * wake), so connected and rejected run on it and should be as quick as
 * message callbacks.  Client-mode connections still announce themselves
 * on their connector thread.  Only while stopped.  The
 * default can be changed for a whole process with the environment
 * variable TSL_BACKEND=select|epoll (read at tsl_server_create), which the
 * test suite uses to run everything on both.
 */
typedef enum tsl_backend {
    TSL_BACKEND_SELECT = 0,
    TSL_BACKEND_EPOLL = 1
} tsl_backend_t;
int tsl_server_set_backend(tsl_server_t *srv, tsl_backend_t backend);
tsl_backend_t tsl_server_backend(tsl_server_t *srv);

/* Framing for clients accepted from now on; only while stopped. */
int tsl_server_set_framing(tsl_server_t *srv, const tsl_framing_t *f);

/*
 * Output bounds per client, in bytes, counting bytes buffered in the
 * current turn too (tsl_client_send): above `high` the server stops
 * delivering the client's messages and reading from it, below `low` it
 * resumes, so a client that reads its replies is never dropped for the
 * replies to what it sent in one burst; a send that would queue more
 * than `hard` bytes, or output that makes no progress for stall_ms, ends
 * the client with reason slow-consumer.  0 < low <= high < hard.
 * At start `hard` is raised, if need be, to the largest frame the framing
 * accepts plus a header or delimiter, so that any message can be sent
 * back whole (a framing of 16 MiB frames gets a hard limit above 16 MiB).
 * Only while stopped.
 */
int tsl_server_set_output_limits(tsl_server_t *srv, size_t low, size_t high,
                                 size_t hard, uint32_t stall_ms);

/*
 * Keepalive: a client from which nothing arrives for hold_ms is
 * disconnected with reason ka-expired, at most one timer tick late.  Any
 * received byte refreshes it; a header-only variable frame is a pure
 * keepalive.  0 disables.  Any time, any thread; applies to every client
 * without an override of its own.  Switched on (from 0), it gives the
 * clients already connected the full hold from that moment: a client that
 * was silent while keepalive was off is not dropped for it.  A new hold
 * while one is on counts from each client's last byte.
 */
int tsl_server_set_keepalive(tsl_server_t *srv, uint32_t hold_ms);
uint32_t tsl_server_keepalive(tsl_server_t *srv);

/*
 * Frame completion: a frame whose first bytes have arrived must be
 * complete within ms, or the client is disconnected with reason
 * protocol-error (counted as one) - the answer to a peer that trickles a
 * frame byte by byte and holds the connection (slowloris) while sending
 * just enough to keep a keepalive hold satisfied.  Time during which the
 * server itself does not read the client (output above the high
 * watermark, NOT_LISTENING) does not count.  0 (the default) turns it
 * off.  Any time, any thread; applies to frames started afterwards.  At
 * most one timer tick late, like keepalive.
 */
int tsl_server_set_frame_timeout(tsl_server_t *srv, uint32_t ms);
uint32_t tsl_server_frame_timeout(tsl_server_t *srv);

/* Timer tick in ms (default 50): the precision of keepalive expiry.  Only
 * while stopped.  0 < tick_ms <= 60000. */
int tsl_server_set_timer_tick(tsl_server_t *srv, uint32_t tick_ms);

/* 0 means no limit.  Any time, any thread; applies to new connections. */
int tsl_server_set_max_clients(tsl_server_t *srv, uint32_t max);
uint32_t tsl_server_max_clients(tsl_server_t *srv);

/* Black-list of addresses and networks: "10.1.2.3", "10.0.0.0/8",
 * "2001:db8::/32", "::1" (an IPv4-mapped entry is the IPv4 one; host bits
 * of a network are ignored, so "10.1.2.3/8" is "10.0.0.0/8").  Unix-socket
 * clients have no address and are never black-listed.  Any time, any
 * thread; applies to new connections.  add: 0, TSL_EINVAL, TSL_ENOMEM or
 * TSL_EEXIST (the same network is listed); remove: 0, TSL_EINVAL or
 * TSL_ENOENT. */
int tsl_server_blacklist_add(tsl_server_t *srv, const char *ip);
int tsl_server_blacklist_remove(tsl_server_t *srv, const char *ip);

/*
 * Starts the acceptor and receive threads and listens.  Returns 0,
 * TSL_EBUSY (already running or stopping), or a bind/listen error such as
 * TSL_EADDRINUSE.  A stopped server may be started again.  Not from a
 * callback of this server.
 */
int tsl_server_start(tsl_server_t *srv);

/*
 * Graceful stop: stops accepting, disconnects every client with reason
 * shutdown (after a best-effort flush of its queued output), closes every
 * descriptor and joins every thread.  Any thread.  From a callback of this
 * server it cannot wait for its own thread: it starts the stop and returns
 * at once; the next start, stop or destroy from outside waits for it.
 * Returns 0 (also when not running).
 */
int tsl_server_stop(tsl_server_t *srv);

/* Sets or clears TSL_SERVER_NOT_ACCEPTING / NOT_LISTENING /
 * MULTI_THREADED.  Any time, any thread.  0, TSL_EINVAL or TSL_ENOTSUP. */
int tsl_server_set_flags(tsl_server_t *srv, unsigned flags);
int tsl_server_clear_flags(tsl_server_t *srv, unsigned flags);
unsigned tsl_server_flags(tsl_server_t *srv);

const char *tsl_server_name(tsl_server_t *srv);
/* The address text ("127.0.0.1", "::1", "unix:/run/x.sock": a host name
 * shows as the address it resolved to) and the port actually bound after
 * start (the configured one before; 0 for Unix sockets). */
const char *tsl_server_ip(tsl_server_t *srv);
uint16_t tsl_server_port(tsl_server_t *srv);

size_t tsl_server_client_count(tsl_server_t *srv);

/* Looks up a connected client; returns a new reference (release it with
 * tsl_client_unref()) or NULL. */
tsl_client_t *tsl_server_find_client(tsl_server_t *srv, uint64_t id);
/* By address, in any spelling of it ("[::1]" finds "::1"), and port. */
tsl_client_t *tsl_server_find_client_addr(tsl_server_t *srv, const char *ip,
                                          uint16_t port);

/*
 * Calls fn for every client connected when the call began, each with a
 * reference held for the call, and no lock held: fn may use the whole API
 * on those clients and on this server (send, disconnect, migrate, find,
 * even foreach again), except tsl_server_destroy().  A client that leaves
 * meanwhile is still passed (its sends answer TSL_ENOTCONN); one that
 * arrives meanwhile is not.  Returns how many clients fn was called for,
 * or TSL_ENOMEM (fn was called for none).
 */
int tsl_server_foreach_client(tsl_server_t *srv,
                              void (*fn)(tsl_client_t *c, void *arg),
                              void *arg);

/*
 * Sends buf (a whole frame, as tsl_client_send() takes it) to every
 * client connected when the call began, except `except` (NULL: none), as
 * tsl_client_send() would to each: any thread, callbacks included; a
 * client going away is skipped.  Returns how many clients it was sent to,
 * TSL_ENOBUFS if len alone exceeds the hard output limit (sent to none),
 * or TSL_ENOMEM.
 */
int tsl_server_broadcast(tsl_server_t *srv, const void *buf, size_t len,
                         const tsl_client_t *except);

void tsl_server_stats(tsl_server_t *srv, tsl_server_stats_t *out);
/* Writes the stats as one JSON object; returns the length it needs
 * (snprintf-like) or a negative code. */
int tsl_server_stats_json(tsl_server_t *srv, char *buf, size_t len);

/* ---- Clients ---------------------------------------------------------- */

void tsl_client_ref(tsl_client_t *c);
void tsl_client_unref(tsl_client_t *c);

uint64_t tsl_client_id(const tsl_client_t *c);
/* The peer's address in numeric form ("10.0.0.7", "2001:db8::7"; an
 * IPv4-mapped peer as IPv4; "unix" for a Unix-socket peer) and port (0
 * for Unix).  Valid as long as the client object. */
const char *tsl_client_ip(const tsl_client_t *c);
uint16_t tsl_client_port(const tsl_client_t *c);
tsl_server_t *tsl_client_server(const tsl_client_t *c);

/*
 * Sends len bytes to the client: what the socket does not take at once is
 * queued and written as the peer reads.  Any thread, including callbacks.
 * From the message callback of this client (on the thread serving it) the
 * bytes are buffered and written, together with everything else sent
 * while that read is delivered, by one send() before the thread waits
 * again; from elsewhere they are written at once when nothing is queued.
 * Bytes reach the peer in the order in which the calls returned, whatever
 * threads made them.  A write error found when the buffer is written ends
 * the client with reason peer-reset.  Never raises SIGPIPE.  Returns 0; TSL_ENOTCONN if the client is gone or
 * going; TSL_ENOBUFS if len alone exceeds the hard output limit (nothing is
 * sent, the client stays) or if queueing the rest would pass it (the
 * client is then disconnected with reason slow-consumer, so no partial
 * message is ever followed by more data).
 */
int tsl_client_send(tsl_client_t *c, const void *buf, size_t len);

/*
 * Forces a disconnect (reason forced).  Any thread, including callbacks;
 * the disconnected callback follows on the serving thread.  Returns 0 or
 * TSL_ENOTCONN if the client is already going.
 */
int tsl_client_disconnect(tsl_client_t *c);

/*
 * Moves a connected client between the shared select() loop
 * (TSL_CLIENT_MULTIPLEXED) and a thread of its own (TSL_CLIENT_THREADED),
 * live: no byte is lost, duplicated or reordered, a half-received message
 * is completed by the new thread, and callbacks never overlap.  Any
 * thread, including callbacks.  The move happens shortly after the call
 * (the client's statistics show `threaded` and `migrations` once it has).
 * Returns 0 (also if the client is already there), TSL_ENOTCONN,
 * TSL_EAGAIN (the client is still being set up or already moving),
 * TSL_ERANGE (its descriptor is too large for select()), TSL_ESHUTDOWN,
 * or an error creating the thread.
 */
typedef enum tsl_client_mode {
    TSL_CLIENT_MULTIPLEXED = 0,
    TSL_CLIENT_THREADED = 1
} tsl_client_mode_t;
int tsl_server_migrate_client(tsl_server_t *srv, tsl_client_t *c,
                              tsl_client_mode_t mode);

/*
 * Client mode: the server connects out to ip:port (ip as for
 * tsl_server_create, a name resolved here; port must be non-zero except
 * for "unix:PATH"), retrying with bounded
 * backoff (100 ms doubling to 5 s) until it succeeds, and then treats the
 * connection as one of its clients (same callbacks, framing, keepalive,
 * statistics; `connected` runs on the connector's thread).  When the
 * remote side goes away it connects again, unless TSL_CONNECT_ONCE; not
 * after a forced disconnect or a stop.  Only while running.  Returns a
 * connector id > 0, TSL_EINVAL, TSL_EBUSY (not running) or TSL_ENOMEM.
 */
#define TSL_CONNECT_ONCE 1u
int tsl_server_connect(tsl_server_t *srv, const char *ip, uint16_t port,
                       unsigned flags);
/* Stops a connector: pending attempts end, an established connection is
 * closed (reason forced).  Asynchronous; any thread.  0 or TSL_ENOENT. */
int tsl_server_cancel_connect(tsl_server_t *srv, int id);
/* Interval of the keepalive frames a client-mode connection sends (only
 * with variable framing, which has a keepalive frame); 0: none.  Any
 * time. */
int tsl_server_set_keepalive_interval(tsl_server_t *srv, uint32_t ms);

/* A consistent snapshot of one client's counters. */
void tsl_client_stats(tsl_client_t *c, tsl_client_stats_t *out);
/* The same as one JSON object; returns the length it needs (snprintf-like)
 * or a negative code. */
int tsl_client_stats_json(tsl_client_t *c, char *buf, size_t len);

/* Per-client keepalive hold time overriding the server's; 0 disables it
 * for this client, a negative value returns to the server's; switched on
 * from off it holds from now, as for the server's.  Like the server's it
 * is kept in 32 bits: a longer hold is taken as 2^32 - 2 ms (49 days).
 * Any thread.  0 or TSL_ENOTCONN. */
int tsl_client_set_keepalive(tsl_client_t *c, int64_t hold_ms);

/*
 * The application's pointer for this client (NULL until set).  The
 * library never reads it; it lives as long as the client object (until
 * the last tsl_client_unref()), so setting it in `connected` and freeing
 * what it points to in `disconnected` is the usual pattern.  Any thread.
 */
void tsl_client_set_data(tsl_client_t *c, void *data);
void *tsl_client_data(const tsl_client_t *c);

/*
 * Stops reading this client until tsl_client_resume_reading(): no message
 * callback after the one running (if called from it), bytes wait in the
 * kernel and TCP pushes back on the peer.  Keepalive does not expire a
 * paused client whose bytes wait unread.  Resuming delivers the frames
 * that were held back first.  Any thread.  0 or TSL_ENOTCONN.
 */
int tsl_client_pause_reading(tsl_client_t *c);
int tsl_client_resume_reading(tsl_client_t *c);

/* ---- Signals ----------------------------------------------------------- */

/*
 * Serving until Ctrl-C: call tsl_signals_block() first in main(), before
 * any server starts (threads inherit the signal mask, so no thread of the
 * library will take SIGINT, SIGTERM or SIGHUP), start the servers, then
 * tsl_signals_wait() returns the first of those signals to arrive; stop
 * and destroy the servers after it.  The library's own threads block
 * those signals whatever the caller does.  0 / the signal number, or a
 * negative code.
 */
int tsl_signals_block(void);
int tsl_signals_wait(void);

#ifdef __cplusplus
}
#endif
#endif /* TSL_H */

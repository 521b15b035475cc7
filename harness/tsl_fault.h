/*
 * tsl_fault.h - the fault engine: decides, per connection and per call,
 * what goes wrong, and does it.
 *
 * The engine wraps a table of real calls (struct tsl_sys_ops: libc for
 * LD_PRELOAD, or the core's default table in process) and returns a table
 * of faulty ones.  Connections are the TCP sockets returned by accept (and,
 * with `side=connect` or `side=both` in the plan, those given to connect),
 * numbered in that order from 1.  Every random choice comes from a
 * generator seeded from (plan seed, connection number, direction), so the
 * same plan and seed make the same choices for the same connection
 * whatever the thread timing.  One engine per process.
 *
 * A fault keeps the semantics of the socket it is on: on a blocking socket
 * (no O_NONBLOCK, no MSG_DONTWAIT) held-back bytes, a delay or an EAGAIN
 * storm wait, as the kernel would, and never surface as EAGAIN (except
 * when SO_RCVTIMEO runs out, as in the kernel).  Flags the engine does not
 * fault (MSG_PEEK, MSG_WAITALL, MSG_OOB ...) reach the kernel unchanged,
 * after any bytes the engine holds.
 */
#ifndef TSL_FAULT_H
#define TSL_FAULT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "tsl_fault_plan.h"
#include "tsl_sys.h"

/* Where EINTR and short writes may be injected.  In process the core's
 * sockets are all non-blocking and its loop must cope with both on any
 * call, so TSL_FAULT_INPROC injects them everywhere.  TSL_FAULT_KERNEL
 * (LD_PRELOAD, any program) injects them only where the kernel could
 * produce them: on a blocking call that a signal handler could interrupt
 * (a handler installed, the signal not blocked in the calling thread,
 * without SA_RESTART, or with it on a socket with a timeout); short writes
 * also on any non-blocking send. */
enum tsl_fault_mode { TSL_FAULT_INPROC, TSL_FAULT_KERNEL };

/* Parses plan and arms the engine over `real`; 0, or -1 with err. */
int tsl_fault_init(const char *plan, const struct tsl_sys_ops *real,
                   enum tsl_fault_mode mode, char *err, size_t errlen);
/* Forgets every connection and frees the engine's buffers. */
void tsl_fault_fini(void);
/* The faulty table (valid after tsl_fault_init). */
const struct tsl_sys_ops *tsl_fault_ops(void);
/* The canonical plan text, for failure messages and replay lines. */
const char *tsl_fault_plan_text(void);
/* Socket calls seen so far (what fail=K counts). */
uint64_t tsl_fault_calls(void);
/* Connections tracked so far. */
uint32_t tsl_fault_conns(void);
/* Is fd a tracked connection? (for preload wrappers) */
int tsl_fault_tracked(int fd);

/* What the engine did, counted since tsl_fault_init: tests check that a
 * plan's faults really fired, not only that the server survived. */
#define TSL_FAULT_STATS(X)                                                    \
    X(SPLIT, "split")         /* receives cut short by split */              \
    X(SHORT, "short")         /* sends cut short */                          \
    X(EINTR, "eintr")         /* EINTR returned */                           \
    X(EAGAIN, "eagain")       /* EAGAIN made up on a non-blocking call */    \
    X(HELD, "held")           /* receives that found held bytes not due */   \
    X(WAITED, "waited")       /* blocking receives that waited for them */   \
    X(FIN_LOST, "fin_lost")   /* EOFs hidden */                              \
    X(CRASHED, "crashed")     /* connections crashed (silent or reset) */    \
    X(HIDDEN, "hidden")       /* blocking receives kept waiting (quiet) */

enum tsl_fault_stat {
#define TSL_X(name, text) TSL_FAULT_STAT_##name,
    TSL_FAULT_STATS(TSL_X)
#undef TSL_X
    TSL_FAULT_STAT_COUNT
};

/* One line "split=N short=N ..." of every counter; returns snprintf's. */
int tsl_fault_stats(char *buf, size_t len);

/* Calls the LD_PRELOAD shim wraps beyond the table; each behaves as the
 * libc call of the same name, with the plan's faults on tracked sockets.
 * recvmsg reports no source address (msg_namelen 0, as TCP does) and no
 * ancillary data on a faulted call; sendmsg with ancillary data passes
 * through.  shutdown(SHUT_RD or SHUT_RDWR) ends a receive waiting on a
 * socket whose FIN was lost, as the kernel would.  recvmsg, sendmsg,
 * pselect and ppoll take libc's function to call. */
ssize_t tsl_fault_recvmsg(ssize_t (*real)(int, struct msghdr *, int), int fd,
                          struct msghdr *m, int flags);
ssize_t tsl_fault_sendmsg(ssize_t (*real)(int, const struct msghdr *, int),
                          int fd, const struct msghdr *m, int flags);
ssize_t tsl_fault_writev(int fd, const struct iovec *iov, int cnt);
void tsl_fault_shutdown(int fd, int how);
int tsl_fault_pselect(int (*real)(int, fd_set *, fd_set *, fd_set *,
                                  const struct timespec *, const sigset_t *),
                      int n, fd_set *r, fd_set *w, fd_set *e,
                      const struct timespec *t, const sigset_t *mask);
int tsl_fault_ppoll(int (*real)(struct pollfd *, nfds_t,
                                const struct timespec *, const sigset_t *),
                    struct pollfd *pf, nfds_t n, const struct timespec *t,
                    const sigset_t *mask);

/* In process: installs the engine into the core (tsl__sys) with plan;
 * uninstall puts libc back and frees the engine. */
int tsl_fault_install(const char *plan, char *err, size_t errlen);
void tsl_fault_uninstall(void);

#endif

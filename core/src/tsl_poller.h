/*
 * tsl_poller.h - the readiness backends, behind one interface.
 *
 * A poller watches descriptors and reports which are ready; it knows
 * nothing of clients, acceptors or receivers: each watched descriptor
 * carries an opaque pointer that comes back with its events.  Interests
 * are registered once and changed when they change (add, mod, del), as
 * epoll wants; the select and poll pollers keep the same registrations in
 * tables of their own, so their caller has no per-wait rebuilding to do.
 *
 * Siblings: tsl_poller_select.c (the course's select(); descriptors below
 * FD_SETSIZE only - the only file that knows that limit), tsl_poller_epoll.c
 * (one epoll instance) and tsl_poller_poll.c (a small poll() array, for a
 * thread that serves one client).  One poller belongs to one thread; none
 * of them locks.
 */
#ifndef TSL_POLLER_H
#define TSL_POLLER_H

#include <stdbool.h>

#include "tsl.h"

#define TSL_POLL_IN 1u  /* readable (or at EOF) */
#define TSL_POLL_OUT 2u /* writable */
#define TSL_POLL_ERR 4u /* hang-up or error: reported whatever was asked */

struct tsl_poll_event {
    void *data;        /* what the descriptor was registered with */
    unsigned events;   /* TSL_POLL_* */
};

struct tsl_poller;

struct tsl_poller_ops {
    const char *name;
    /* Descriptors >= fd_limit cannot be watched (0: no limit). */
    int fd_limit;
    /* Allocates the poller's state; 0 or a negative TSL_E / -errno. */
    int (*open)(struct tsl_poller *p);
    void (*close)(struct tsl_poller *p);
    /* Starts watching fd for `events` (0: only hang-ups and errors, where
     * the backend reports them); fd must not be watched yet. */
    int (*add)(struct tsl_poller *p, int fd, unsigned events, void *data);
    /* Changes the interest of a watched fd. */
    int (*mod)(struct tsl_poller *p, int fd, unsigned events, void *data);
    /* Stops watching fd; `closing` says it is about to be closed (epoll
     * then needs no call: closing the descriptor removes it). */
    void (*del)(struct tsl_poller *p, int fd, bool closing);
    /* Waits up to ms (-1: no limit) and fills out[0..max); returns how
     * many, 0 on timeout or EINTR. */
    int (*wait)(struct tsl_poller *p, int ms, struct tsl_poll_event *out,
                int max);
};

struct tsl_poller {
    const struct tsl_poller_ops *ops;
    void *impl; /* the backend's own state */
};

extern const struct tsl_poller_ops tsl__poller_select;
extern const struct tsl_poller_ops tsl__poller_epoll;
extern const struct tsl_poller_ops tsl__poller_poll;

/* The poller a server's shared receiver uses on `backend`. */
const struct tsl_poller_ops *tsl__poller_for(tsl_backend_t backend);

/* Opens p with ops. */
int tsl__poller_open(struct tsl_poller *p, const struct tsl_poller_ops *ops);
void tsl__poller_close(struct tsl_poller *p);

#endif

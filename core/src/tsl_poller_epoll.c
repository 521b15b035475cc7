/*
 * tsl_poller_epoll.c - the epoll poller.
 *
 * Owns one epoll instance; the kernel keeps the registrations, so a wait
 * costs the same with 10 or 10,000 idle descriptors.  Hang-up and error
 * are reported whatever was asked (TSL_POLL_ERR).  Removing a descriptor
 * that is about to be closed needs no call: closing its only descriptor
 * takes it out of the set (the library never dups them).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "tsl_poller.h"
#include "tsl_sys.h"

static int
ep_open(struct tsl_poller *p)
{
    int fd = tsl__sys->epoll_create1(EPOLL_CLOEXEC);

    if (fd < 0)
        return -errno;
    /* The descriptor is the state: kept in the pointer, nothing to free. */
    p->impl = (void *)(intptr_t)(fd + 1);
    return 0;
}

static int
ep_fd(const struct tsl_poller *p)
{
    return (int)(intptr_t)p->impl - 1;
}

static void
ep_close(struct tsl_poller *p)
{
    tsl__sys->close(ep_fd(p));
}

static uint32_t
ep_events(unsigned events)
{
    return ((events & TSL_POLL_IN) ? EPOLLIN : 0) |
           ((events & TSL_POLL_OUT) ? EPOLLOUT : 0);
}

static int
ep_ctl(struct tsl_poller *p, int op, int fd, unsigned events, void *data)
{
    struct epoll_event ev;

    ev.events = ep_events(events);
    ev.data.ptr = data;
    return tsl__sys->epoll_ctl(ep_fd(p), op, fd, &ev) < 0 ? -errno : 0;
}

static int
ep_add(struct tsl_poller *p, int fd, unsigned events, void *data)
{
    return ep_ctl(p, EPOLL_CTL_ADD, fd, events, data);
}

static int
ep_mod(struct tsl_poller *p, int fd, unsigned events, void *data)
{
    return ep_ctl(p, EPOLL_CTL_MOD, fd, events, data);
}

static void
ep_del(struct tsl_poller *p, int fd, bool closing)
{
    if (!closing)
        tsl__sys->epoll_ctl(ep_fd(p), EPOLL_CTL_DEL, fd, NULL);
}

#define EP_BATCH 256

static int
ep_wait(struct tsl_poller *p, int ms, struct tsl_poll_event *out, int max)
{
    struct epoll_event evs[EP_BATCH];
    int n, k;

    n = tsl__sys->epoll_wait(ep_fd(p), evs, max < EP_BATCH ? max : EP_BATCH,
                             ms);
    if (n < 0)
        return 0; /* EINTR */
    for (k = 0; k < n; k++) {
        uint32_t e = evs[k].events;
        out[k].data = evs[k].data.ptr;
        out[k].events = ((e & EPOLLIN) ? TSL_POLL_IN : 0) |
                        ((e & EPOLLOUT) ? TSL_POLL_OUT : 0) |
                        ((e & (EPOLLHUP | EPOLLERR)) ? TSL_POLL_ERR : 0);
    }
    return n;
}

const struct tsl_poller_ops tsl__poller_epoll = {
    .name = "epoll",
    .fd_limit = 0,
    .open = ep_open,
    .close = ep_close,
    .add = ep_add,
    .mod = ep_mod,
    .del = ep_del,
    .wait = ep_wait,
};

/*
 * tsl_poller_poll.c - the poll() poller, for a thread that serves one
 * client (its socket and its wakeup pipe).
 *
 * Owns a small array of pollfd entries and their pointers, grown as
 * needed; each wait hands the array to poll() as it is.  Hang-up and
 * error are reported whatever was asked (TSL_POLL_ERR).
 */
#include <errno.h>
#include <poll.h>

#include "tsl_poller.h"
#include "tsl_sys.h"

struct pl {
    struct pollfd *pf;
    void **data;
    int n, cap;
};

static int
pl_open(struct tsl_poller *p)
{
    struct pl *s = tsl__sys->calloc(1, sizeof(*s));

    if (s == NULL)
        return TSL_ENOMEM;
    p->impl = s;
    return 0;
}

static void
pl_close(struct tsl_poller *p)
{
    struct pl *s = p->impl;

    tsl__sys->free(s->pf);
    tsl__sys->free(s->data);
    tsl__sys->free(s);
}

static short
pl_events(unsigned events)
{
    return (short)(((events & TSL_POLL_IN) ? POLLIN : 0) |
                   ((events & TSL_POLL_OUT) ? POLLOUT : 0));
}

static int
pl_find(const struct pl *s, int fd)
{
    int i;

    for (i = 0; i < s->n; i++)
        if (s->pf[i].fd == fd)
            return i;
    return -1;
}

static int
pl_add(struct tsl_poller *p, int fd, unsigned events, void *data)
{
    struct pl *s = p->impl;

    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 2;
        struct pollfd *pf = tsl__sys->realloc(s->pf, (size_t)cap * sizeof(*pf));
        void **d;
        if (pf == NULL)
            return TSL_ENOMEM;
        s->pf = pf;
        d = tsl__sys->realloc(s->data, (size_t)cap * sizeof(*d));
        if (d == NULL)
            return TSL_ENOMEM;
        s->data = d;
        s->cap = cap;
    }
    s->pf[s->n].fd = fd;
    s->pf[s->n].events = pl_events(events);
    s->pf[s->n].revents = 0;
    s->data[s->n] = data;
    s->n++;
    return 0;
}

static int
pl_mod(struct tsl_poller *p, int fd, unsigned events, void *data)
{
    struct pl *s = p->impl;
    int i = pl_find(s, fd);

    if (i < 0)
        return TSL_ENOENT;
    s->pf[i].events = pl_events(events);
    s->data[i] = data;
    return 0;
}

static void
pl_del(struct tsl_poller *p, int fd, bool closing)
{
    struct pl *s = p->impl;
    int i = pl_find(s, fd);

    (void)closing;
    if (i < 0)
        return;
    s->n--;
    s->pf[i] = s->pf[s->n];
    s->data[i] = s->data[s->n];
}

static int
pl_wait(struct tsl_poller *p, int ms, struct tsl_poll_event *out, int max)
{
    struct pl *s = p->impl;
    int r, i, n = 0;

    for (i = 0; i < s->n; i++)
        s->pf[i].revents = 0;
    r = tsl__sys->poll(s->pf, (nfds_t)s->n, ms);
    if (r <= 0)
        return 0; /* timeout, or EINTR */
    for (i = 0; i < s->n && n < max; i++) {
        short e = s->pf[i].revents;
        if (e == 0)
            continue;
        out[n].data = s->data[i];
        out[n].events = ((e & POLLIN) ? TSL_POLL_IN : 0) |
                        ((e & POLLOUT) ? TSL_POLL_OUT : 0) |
                        ((e & (POLLHUP | POLLERR | POLLNVAL)) ? TSL_POLL_ERR
                                                              : 0);
        n++;
    }
    return n;
}

const struct tsl_poller_ops tsl__poller_poll = {
    .name = "poll",
    .fd_limit = 0,
    .open = pl_open,
    .close = pl_close,
    .add = pl_add,
    .mod = pl_mod,
    .del = pl_del,
    .wait = pl_wait,
};

/*
 * tsl_poller_select.c - the select() poller (the course's backend).
 *
 * Owns two master descriptor sets (read and write interest) and, per
 * descriptor, the pointer it was registered with; each wait copies the
 * sets, calls select() and scans the descriptors up to the highest one
 * registered.  select() cannot name a descriptor >= FD_SETSIZE (FD_SET
 * would write past the set), so this poller refuses them and says so in
 * its fd_limit, which admission and migration consult before handing such
 * a descriptor to a select()-served thread.  This is the only file that
 * knows FD_SETSIZE.
 *
 * A wait reports at most `max` descriptors; the scan starts where the
 * last full report stopped, so that with more ready descriptors than room
 * the low ones do not starve the high ones (level-triggered: what is not
 * reported now is reported at the next wait).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/select.h>

#include "tsl_poller.h"
#include "tsl_sys.h"

struct sel {
    fd_set rd, wr;           /* the interests */
    void *data[FD_SETSIZE];  /* NULL too is a valid registration */
    uint8_t on[FD_SETSIZE];  /* registered */
    int maxfd;               /* highest registered, -1: none */
    int next;                /* where the next scan starts */
};

static int
sel_open(struct tsl_poller *p)
{
    struct sel *s = tsl__sys->calloc(1, sizeof(*s));

    if (s == NULL)
        return TSL_ENOMEM;
    FD_ZERO(&s->rd);
    FD_ZERO(&s->wr);
    s->maxfd = -1;
    p->impl = s;
    return 0;
}

static void
sel_close(struct tsl_poller *p)
{
    tsl__sys->free(p->impl);
}

static void
set_interest(struct sel *s, int fd, unsigned events)
{
    if (events & TSL_POLL_IN)
        FD_SET(fd, &s->rd);
    else
        FD_CLR(fd, &s->rd);
    if (events & TSL_POLL_OUT)
        FD_SET(fd, &s->wr);
    else
        FD_CLR(fd, &s->wr);
}

static int
sel_add(struct tsl_poller *p, int fd, unsigned events, void *data)
{
    struct sel *s = p->impl;

    if (fd < 0 || fd >= FD_SETSIZE)
        return TSL_ERANGE;
    s->on[fd] = 1;
    s->data[fd] = data;
    set_interest(s, fd, events);
    if (fd > s->maxfd)
        s->maxfd = fd;
    return 0;
}

static int
sel_mod(struct tsl_poller *p, int fd, unsigned events, void *data)
{
    struct sel *s = p->impl;

    if (fd < 0 || fd >= FD_SETSIZE || !s->on[fd])
        return TSL_ENOENT;
    s->data[fd] = data;
    set_interest(s, fd, events);
    return 0;
}

static void
sel_del(struct tsl_poller *p, int fd, bool closing)
{
    struct sel *s = p->impl;

    (void)closing; /* the sets must forget it either way: fds are reused */
    if (fd < 0 || fd >= FD_SETSIZE || !s->on[fd])
        return;
    s->on[fd] = 0;
    s->data[fd] = NULL;
    set_interest(s, fd, 0);
    while (s->maxfd >= 0 && !s->on[s->maxfd])
        s->maxfd--;
}

static int
sel_wait(struct tsl_poller *p, int ms, struct tsl_poll_event *out, int max)
{
    struct sel *s = p->impl;
    struct timeval tv;
    fd_set rs = s->rd, ws = s->wr;
    int r, i, fd, n = 0, span = s->maxfd + 1;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    r = tsl__sys->select(span, &rs, &ws, NULL, ms < 0 ? NULL : &tv);
    if (r <= 0)
        return 0; /* timeout, or EINTR (anything else: a bug in our sets) */
    if (s->next >= span)
        s->next = 0;
    for (i = 0; i < span && n < max; i++) {
        unsigned ev = 0;
        fd = (s->next + i) % span;
        if (FD_ISSET(fd, &rs))
            ev |= TSL_POLL_IN;
        if (FD_ISSET(fd, &ws))
            ev |= TSL_POLL_OUT;
        if (ev == 0)
            continue;
        out[n].data = s->data[fd];
        out[n].events = ev;
        n++;
    }
    s->next = n == max ? (s->next + i) % span : 0;
    return n;
}

const struct tsl_poller_ops tsl__poller_select = {
    .name = "select",
    .fd_limit = FD_SETSIZE,
    .open = sel_open,
    .close = sel_close,
    .add = sel_add,
    .mod = sel_mod,
    .del = sel_del,
    .wait = sel_wait,
};

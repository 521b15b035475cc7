/*
 * tsl_poller.c - choosing and opening a poller (tsl_poller.h).
 */
#include "tsl_poller.h"

const struct tsl_poller_ops *
tsl__poller_for(tsl_backend_t backend)
{
    return backend == TSL_BACKEND_EPOLL ? &tsl__poller_epoll
                                        : &tsl__poller_select;
}

int
tsl__poller_open(struct tsl_poller *p, const struct tsl_poller_ops *ops)
{
    p->ops = ops;
    p->impl = NULL;
    return ops->open(p);
}

void
tsl__poller_close(struct tsl_poller *p)
{
    if (p->ops != NULL && p->impl != NULL)
        p->ops->close(p);
    p->impl = NULL;
}

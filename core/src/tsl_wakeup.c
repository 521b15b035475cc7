/*
 * tsl_wakeup.c - wake a thread blocked in select()/poll(), and hand it
 * clients.
 *
 * A self-pipe: the read end sits in the sleeping thread's descriptor set,
 * any thread writes one byte to wake it.  `signalled` keeps the pipe to at
 * most one pending byte, so a burst of wake-ups costs one write.  Beside it
 * an intrusive FIFO of clients (linked through client->q_next, so pushing
 * never allocates and cannot fail for memory) under its own mutex.
 *
 * This replaces the course's "cancel the DRS thread, change its set,
 * restart it": a cancelled thread can be inside a user callback or hold a
 * lock, and restarting loses the half-processed frames.  Here the
 * receiving thread is never interrupted; it picks work up between two
 * select() calls.  A pipe rather than eventfd keeps it POSIX.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "tsl_internal.h"
#include "tsl_sys.h"

int
tsl__wakeup_open(struct tsl_wakeup *w)
{
    int fds[2];

    if (tsl__sys->pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
        return -errno;
    w->rfd = fds[0];
    w->wfd = fds[1];
    atomic_init(&w->signalled, 0);
    pthread_mutex_init(&w->lock, NULL);
    w->head = w->tail = NULL;
    w->closed = false;
    return 0;
}

void
tsl__wakeup_close(struct tsl_wakeup *w)
{
    TSL_ASSERT(w->head == NULL);
    tsl__sys->close(w->rfd);
    tsl__sys->close(w->wfd);
    w->rfd = w->wfd = -1;
    pthread_mutex_destroy(&w->lock);
}

void
tsl__wakeup_signal(struct tsl_wakeup *w)
{
    static const char one = 1;
    ssize_t r;

    if (atomic_exchange(&w->signalled, 1) != 0)
        return;
    /* EAGAIN means the pipe is full, so the reader will wake anyway. */
    do
        r = tsl__sys->write(w->wfd, &one, 1);
    while (r < 0 && errno == EINTR);
}

void
tsl__wakeup_drain(struct tsl_wakeup *w)
{
    char buf[64];

    /* Empty the pipe, then clear the flag.  The other order loses wake-ups:
     * a signal between the clear and the read would have its byte eaten
     * while the flag stays set, so no later signal would ever write again.
     * In this order a signal that finds the flag still set writes nothing,
     * which is safe because the caller looks at its queue and stop flag
     * after draining. */
    /* A short read means the pipe is empty: no second call to learn it. */
    while (tsl__sys->read(w->rfd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
        ;
    atomic_store(&w->signalled, 0);
}

int
tsl__wakeup_push(struct tsl_wakeup *w, struct tsl_client *c, bool wake)
{
    pthread_mutex_lock(&w->lock);
    if (w->closed) {
        pthread_mutex_unlock(&w->lock);
        return TSL_ESHUTDOWN;
    }
    c->q_next = NULL;
    if (w->tail != NULL)
        w->tail->q_next = c;
    else
        w->head = c;
    w->tail = c;
    pthread_mutex_unlock(&w->lock);
    if (wake)
        tsl__wakeup_signal(w);
    return 0;
}

struct tsl_client *
tsl__wakeup_take(struct tsl_wakeup *w, bool shut)
{
    struct tsl_client *list;

    pthread_mutex_lock(&w->lock);
    list = w->head;
    w->head = w->tail = NULL;
    if (shut)
        w->closed = true;
    pthread_mutex_unlock(&w->lock);
    return list;
}

bool
tsl__wakeup_remove(struct tsl_wakeup *w, struct tsl_client *c)
{
    struct tsl_client **pp, *prev = NULL;
    bool found = false;

    pthread_mutex_lock(&w->lock);
    for (pp = &w->head; *pp != NULL; prev = *pp, pp = &(*pp)->q_next) {
        if (*pp == c) {
            *pp = c->q_next;
            if (w->tail == c)
                w->tail = prev;
            c->q_next = NULL;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return found;
}

/*
 * tsl_dedicated.c - dedicated receivers: a thread per client.
 *
 * In multi-threaded mode, and as the target of a migration, a client is
 * served by a receiver of its own (tsl_receiver.c with one client and
 * poll()).  The controller keeps them on a list under ded_lock.  A
 * dedicated receiver ends by itself when its client is finished or moves
 * away, and marks itself done; whoever next creates one, and the stop,
 * joins and frees the done ones, so threads never pile up unjoined.  After
 * the stop has closed the list (ded_closed) no new one can be created, so
 * the stop's final reap joins every thread there will ever be.
 */
#include <stdlib.h>

#include "tsl_internal.h"
#include "tsl_sys.h"

struct tsl_receiver *
tsl__dedicated_create(struct tsl_server *srv, int *err)
{
    struct tsl_receiver *rx;
    int r;

    tsl__dedicated_reap(srv, false);
    rx = tsl__sys->malloc(sizeof(*rx));
    if (rx == NULL) {
        *err = TSL_ENOMEM;
        return NULL;
    }
    pthread_mutex_lock(&srv->ded_lock);
    if (srv->ded_closed) {
        pthread_mutex_unlock(&srv->ded_lock);
        tsl__sys->free(rx);
        *err = TSL_ESHUTDOWN;
        return NULL;
    }
    r = tsl__receiver_start(rx, srv, true, NULL);
    if (r < 0) {
        pthread_mutex_unlock(&srv->ded_lock);
        tsl__sys->free(rx);
        *err = r;
        return NULL;
    }
    rx->pinned = true; /* until the creator calls tsl__dedicated_unpin() */
    rx->ded_next = srv->ded_head;
    srv->ded_head = rx;
    pthread_mutex_unlock(&srv->ded_lock);
    return rx;
}

void
tsl__dedicated_reap(struct tsl_server *srv, bool all)
{
    struct tsl_receiver **pp, *rx, *gone = NULL;
    bool pinned;

    pthread_mutex_lock(&srv->ded_lock);
    for (;;) {
        pinned = false;
        for (pp = &srv->ded_head; (rx = *pp) != NULL;) {
            if (all)
                tsl__receiver_request_stop(rx);
            if (!rx->pinned && (all || atomic_load(&rx->done))) {
                *pp = rx->ded_next;
                rx->ded_next = gone;
                gone = rx;
            } else {
                pinned |= rx->pinned;
                pp = &rx->ded_next;
            }
        }
        if (!all || !pinned)
            break;
        pthread_cond_wait(&srv->ded_cv, &srv->ded_lock);
    }
    pthread_mutex_unlock(&srv->ded_lock);
    /* Join outside the lock: a stopping receiver may still be finishing
     * a client whose callback creates or migrates.  Pinned receivers were
     * left listed (their creators still hand them their client); at stop
     * we wait for them. */
    while ((rx = gone) != NULL) {
        gone = rx->ded_next;
        tsl__receiver_stop(rx);
        tsl__sys->free(rx);
    }
}

void
tsl__kick_all_receivers(struct tsl_server *srv)
{
    struct tsl_receiver *rx;

    /* Under the list lock: the gate is open only while the shared
     * receiver runs (opened after it started, closed before its join),
     * and listed receivers are alive (reaps unlink under this lock). */
    pthread_mutex_lock(&srv->ded_lock);
    if (!srv->ded_closed)
        tsl__wakeup_signal(&srv->rx.wk);
    for (rx = srv->ded_head; rx != NULL; rx = rx->ded_next)
        tsl__receiver_kick(rx);
    pthread_mutex_unlock(&srv->ded_lock);
}

void
tsl__dedicated_unpin(struct tsl_server *srv, struct tsl_receiver *rx)
{
    pthread_mutex_lock(&srv->ded_lock);
    rx->pinned = false;
    /* It may have ended while pinned, and the reap it asked for then
     * passed it over: ask again. */
    if (atomic_load(&rx->done)) {
        atomic_store(&srv->ded_ended, true);
        if (!srv->ded_closed)
            tsl__wakeup_signal(&srv->rx.wk);
    }
    pthread_cond_broadcast(&srv->ded_cv);
    pthread_mutex_unlock(&srv->ded_lock);
}

void
tsl__dedicated_release(struct tsl_server *srv, struct tsl_receiver *rx)
{
    struct tsl_receiver *it;

    /* Under the list lock, and only if it is still listed: a stop may
     * have reaped (joined and freed) it meanwhile. */
    pthread_mutex_lock(&srv->ded_lock);
    for (it = srv->ded_head; it != NULL; it = it->ded_next)
        if (it == rx) {
            tsl__receiver_request_stop(rx);
            break;
        }
    pthread_mutex_unlock(&srv->ded_lock);
}

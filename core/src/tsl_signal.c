/*
 * tsl_signal.c - serving until a signal: tsl_signals_block() and
 * tsl_signals_wait().  The set is SIGINT, SIGTERM and SIGHUP.  Blocking
 * them in main() before any server starts leaves them pending for
 * sigwait() instead of running their default action (which ends the
 * process before tsl_server_destroy() can run) on whichever thread the
 * kernel picks; the library's own threads block them in any case
 * (tsl_sys.c).  No state.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>

#include "tsl.h"

static void
stop_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

int
tsl_signals_block(void)
{
    sigset_t set;
    int r;

    stop_set(&set);
    r = pthread_sigmask(SIG_BLOCK, &set, NULL);
    return r == 0 ? 0 : -r;
}

int
tsl_signals_wait(void)
{
    sigset_t set;
    int sig, r;

    stop_set(&set);
    do
        r = sigwait(&set, &sig);
    while (r == EINTR);
    return r == 0 ? sig : -r;
}

/*
 * tsl_sys.c - the default table of operating-system calls: plain libc.
 *
 * The only file of the core that calls the socket API (or allocates, or
 * starts threads).  The indirection
 * costs one load and an indirect call per system call, nothing next to the
 * system call itself.  tsl__sys is written only while no server runs (the
 * harness sets it up before starting servers), so it needs no lock.
 */
#define _GNU_SOURCE
#include "tsl_sys.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static int
sys_open(const char *path, int flags)
{
    return open(path, flags);
}

/* The library's threads never take the signals a program stops on: they
 * go to the application's threads (tsl_signals_wait). */
static int
sys_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t set, old;
    int r;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    r = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

const struct tsl_sys_ops tsl__sys_libc = {
    .socket = socket,
    .bind = bind,
    .listen = listen,
    .setsockopt = setsockopt,
    .getsockname = getsockname,
    .accept4 = accept4,
    .connect = connect,
    .getsockopt = getsockopt,
    .readv = readv,
    .recv = recv,
    .send = send,
    .read = read,
    .write = write,
    .close = close,
    .poll = poll,
    .select = select,
    .pipe2 = pipe2,
    .epoll_create1 = epoll_create1,
    .epoll_ctl = epoll_ctl,
    .epoll_wait = epoll_wait,
    .open = sys_open,
    .malloc = malloc,
    .calloc = calloc,
    .realloc = realloc,
    .free = free,
    .thread_create = sys_thread_create,
    .clock_gettime = clock_gettime,
};

const struct tsl_sys_ops *tsl__sys = &tsl__sys_libc;

void
tsl__sys_set(const struct tsl_sys_ops *ops)
{
    tsl__sys = ops != NULL ? ops : &tsl__sys_libc;
}

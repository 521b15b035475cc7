/*
 * tsl_preload.c - libtslfault.so: the fault engine for any dynamically
 * linked server, ours or not.
 *
 *   TSL_FAULTS='split=1..3,fin_loss@conn=2,seed=42' LD_PRELOAD=libtslfault.so server ...
 *
 * Wraps accept, accept4, read, readv, recv, recvfrom (without a source
 * address), write, send, sendto (without a destination), close, select and
 * poll; sockets returned by accept are the connections the plan talks
 * about, everything else passes straight to libc.  A bad plan stops the
 * program at once with a message and status 2, so a typo never runs a
 * test without its faults.  TSL_FAULTS_LOG=1 prints the plan at start.
 * epoll_ctl and epoll_wait are wrapped too (FIN loss and silent crashes
 * hide the socket's events; coalesced bytes are reported when due).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tsl_fault.h"

static struct tsl_sys_ops real;
static const struct tsl_sys_ops *fault;
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *,
                                socklen_t *);
static ssize_t (*real_sendto)(int, const void *, size_t, int,
                              const struct sockaddr *, socklen_t);
static int (*real_accept)(int, struct sockaddr *, socklen_t *);

static int
sys_open(const char *path, int flags)
{
    return open(path, flags);
}

#define LOAD(var, name) (var) = dlsym(RTLD_NEXT, name)

__attribute__((constructor)) static void
preload_init(void)
{
    const char *plan = getenv("TSL_FAULTS");
    char err[256];

    LOAD(real.socket, "socket");
    LOAD(real.bind, "bind");
    LOAD(real.listen, "listen");
    LOAD(real.setsockopt, "setsockopt");
    LOAD(real.getsockname, "getsockname");
    LOAD(real.accept4, "accept4");
    LOAD(real.connect, "connect");
    LOAD(real.getsockopt, "getsockopt");
    LOAD(real.readv, "readv");
    LOAD(real.recv, "recv");
    LOAD(real.send, "send");
    LOAD(real.close, "close");
    LOAD(real.poll, "poll");
    LOAD(real.select, "select");
    LOAD(real.pipe2, "pipe2");
    LOAD(real.epoll_create1, "epoll_create1");
    LOAD(real.epoll_ctl, "epoll_ctl");
    LOAD(real.epoll_wait, "epoll_wait");
    real.open = sys_open;
    LOAD(real_read, "read");
    LOAD(real_write, "write");
    LOAD(real_recvfrom, "recvfrom");
    LOAD(real_sendto, "sendto");
    LOAD(real_accept, "accept");
    if (plan == NULL || plan[0] == '\0')
        plan = "seed=0";
    if (tsl_fault_init(plan, &real, err, sizeof(err)) < 0) {
        fprintf(stderr, "libtslfault: bad TSL_FAULTS '%s': %s\n", plan, err);
        _exit(2);
    }
    fault = tsl_fault_ops();
    if (getenv("TSL_FAULTS_LOG") != NULL)
        fprintf(stderr, "libtslfault: plan %s\n", tsl_fault_plan_text());
}

int
accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    return fault->accept4(fd, sa, len, flags);
}

int
accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return fault->accept4(fd, sa, len, 0);
}

ssize_t
readv(int fd, const struct iovec *iov, int n)
{
    return fault->readv(fd, iov, n);
}

ssize_t
read(int fd, void *buf, size_t n)
{
    struct iovec one = {buf, n};

    if (fault == NULL || !tsl_fault_tracked(fd))
        return real_read(fd, buf, n);
    return fault->readv(fd, &one, 1);
}

ssize_t
recv(int fd, void *buf, size_t n, int flags)
{
    return fault->recv(fd, buf, n, flags);
}

ssize_t
recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa,
         socklen_t *len)
{
    if (sa != NULL || fault == NULL || !tsl_fault_tracked(fd))
        return real_recvfrom(fd, buf, n, flags, sa, len);
    return fault->recv(fd, buf, n, flags);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
    if (fault == NULL || !tsl_fault_tracked(fd))
        return real_write(fd, buf, n);
    return fault->send(fd, buf, n, 0);
}

ssize_t
send(int fd, const void *buf, size_t n, int flags)
{
    return fault->send(fd, buf, n, flags);
}

ssize_t
sendto(int fd, const void *buf, size_t n, int flags,
       const struct sockaddr *sa, socklen_t len)
{
    if (sa != NULL || fault == NULL || !tsl_fault_tracked(fd))
        return real_sendto(fd, buf, n, flags, sa, len);
    return fault->send(fd, buf, n, flags);
}

int
close(int fd)
{
    if (fault == NULL)
        return real.close(fd);
    return fault->close(fd);
}

int
select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    return fault->select(n, r, w, e, t);
}

int
poll(struct pollfd *pf, nfds_t n, int timeout)
{
    return fault->poll(pf, n, timeout);
}

int
epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    return fault->epoll_ctl(ep, op, fd, ev);
}

int
epoll_wait(int ep, struct epoll_event *evs, int max, int timeout)
{
    return fault->epoll_wait(ep, evs, max, timeout);
}

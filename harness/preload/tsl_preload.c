/*
 * tsl_preload.c - libtslfault.so: the fault engine for any dynamically
 * linked server, ours or not, in any language whose runtime calls libc
 * (C, C++, Python, Ruby, Perl ...; not Go, not static binaries: for those,
 * tsl-proxy).
 *
 *   TSL_FAULTS='split=1..3,fin_loss@conn=2,seed=42' LD_PRELOAD=libtslfault.so server ...
 *
 * Wraps accept, accept4, connect, read, readv, recv, recvfrom, recvmsg,
 * write, writev, send, sendto, sendmsg, shutdown, close, select, pselect,
 * poll, ppoll, epoll_ctl and epoll_wait, and the _FORTIFY_SOURCE variants
 * __read_chk, __recv_chk and __recvfrom_chk (what a fortified build calls
 * instead of read, recv and recvfrom).  TCP sockets returned by accept
 * (with side=connect or both in the plan, also those given to connect)
 * are the connections the plan talks about; every other descriptor and
 * every flag the engine does not fault passes straight to libc, unchanged.
 * The engine runs in TSL_FAULT_KERNEL mode: a fault never gives a blocking
 * socket an EAGAIN, and EINTR comes only where a signal could cause it
 * (tsl_fault.h).
 *
 * A bad plan stops the program at once with a message and status 2, so a
 * typo never runs a test without its faults.  TSL_FAULTS_LOG=1 prints the
 * plan at start and what it injected at exit.  libc's functions are looked up on first use as well as
 * in the constructor, since another library's constructor may do I/O
 * before ours has run.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *,
                                socklen_t *);
static ssize_t (*real_sendto)(int, const void *, size_t, int,
                              const struct sockaddr *, socklen_t);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static int (*real_shutdown)(int, int);
static int (*real_pselect)(int, fd_set *, fd_set *, fd_set *,
                           const struct timespec *, const sigset_t *);
static int (*real_ppoll)(struct pollfd *, nfds_t, const struct timespec *,
                         const sigset_t *);
static pthread_once_t loaded = PTHREAD_ONCE_INIT;

static int
sys_open(const char *path, int flags)
{
    return open(path, flags);
}

#define LOAD(var, name) (var) = dlsym(RTLD_NEXT, name)

static void
load(void)
{
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
    LOAD(real.read, "read");
    LOAD(real.write, "write");
    LOAD(real.clock_gettime, "clock_gettime");
    LOAD(real_read, "read");
    LOAD(real_write, "write");
    LOAD(real_writev, "writev");
    LOAD(real_recvfrom, "recvfrom");
    LOAD(real_sendto, "sendto");
    LOAD(real_recvmsg, "recvmsg");
    LOAD(real_sendmsg, "sendmsg");
    LOAD(real_shutdown, "shutdown");
    LOAD(real_pselect, "pselect");
    LOAD(real_ppoll, "ppoll");
}

/* The real table, loaded once; before the engine is armed every wrapper
 * goes to libc through it. */
static const struct tsl_sys_ops *
ops(void)
{
    pthread_once(&loaded, load);
    return fault != NULL ? fault : &real;
}

__attribute__((constructor)) static void
preload_init(void)
{
    const char *plan = getenv("TSL_FAULTS");
    char err[256];

    pthread_once(&loaded, load);
    if (plan == NULL || plan[0] == '\0')
        plan = "seed=0";
    if (tsl_fault_init(plan, &real, TSL_FAULT_KERNEL, err, sizeof(err)) < 0) {
        fprintf(stderr, "libtslfault: bad TSL_FAULTS '%s': %s\n", plan, err);
        _exit(2);
    }
    fault = tsl_fault_ops();
    if (getenv("TSL_FAULTS_LOG") != NULL)
        fprintf(stderr, "libtslfault: plan %s\n", tsl_fault_plan_text());
}

/* TSL_FAULTS_LOG: what was injected, at exit (each process of a forking
 * server that had connections reports its own). */
__attribute__((destructor)) static void
preload_fini(void)
{
    char line[512];

    if (fault == NULL || getenv("TSL_FAULTS_LOG") == NULL ||
        tsl_fault_conns() == 0)
        return;
    tsl_fault_stats(line, sizeof(line));
    fprintf(stderr, "libtslfault: pid %ld conns %u injected %s\n",
            (long)getpid(), tsl_fault_conns(), line);
}

/* Is fd one of the plan's connections (and the engine armed)? */
static int
tracked(int fd)
{
    return fault != NULL && tsl_fault_tracked(fd);
}

int
accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    return ops()->accept4(fd, sa, len, flags);
}

int
accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return ops()->accept4(fd, sa, len, 0);
}

int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return ops()->connect(fd, sa, len);
}

ssize_t
readv(int fd, const struct iovec *iov, int n)
{
    return ops()->readv(fd, iov, n);
}

ssize_t
read(int fd, void *buf, size_t n)
{
    struct iovec one = {buf, n};

    ops();
    if (!tracked(fd))
        return real_read(fd, buf, n);
    return fault->readv(fd, &one, 1);
}

ssize_t
__read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (n > buflen)
        abort(); /* what glibc's check does: a buffer overflow */
    return read(fd, buf, n);
}

ssize_t
recv(int fd, void *buf, size_t n, int flags)
{
    return ops()->recv(fd, buf, n, flags);
}

ssize_t
__recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
    if (n > buflen)
        abort();
    return recv(fd, buf, n, flags);
}

/* A connected TCP socket has no source address to give: the kernel sets
 * *len to 0, and so does the engine's receive. */
ssize_t
recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa,
         socklen_t *len)
{
    ssize_t r;

    ops();
    if (!tracked(fd))
        return real_recvfrom(fd, buf, n, flags, sa, len);
    r = fault->recv(fd, buf, n, flags);
    if (r >= 0 && sa != NULL && len != NULL)
        *len = 0;
    return r;
}

ssize_t
__recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
               struct sockaddr *sa, socklen_t *len)
{
    if (n > buflen)
        abort();
    return recvfrom(fd, buf, n, flags, sa, len);
}

ssize_t
recvmsg(int fd, struct msghdr *m, int flags)
{
    ops();
    if (fault == NULL)
        return real_recvmsg(fd, m, flags);
    return tsl_fault_recvmsg(real_recvmsg, fd, m, flags);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
    ops();
    if (!tracked(fd))
        return real_write(fd, buf, n);
    return fault->send(fd, buf, n, 0);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
    ops();
    if (!tracked(fd))
        return real_writev(fd, iov, n);
    return tsl_fault_writev(fd, iov, n);
}

ssize_t
send(int fd, const void *buf, size_t n, int flags)
{
    return ops()->send(fd, buf, n, flags);
}

/* On a connected TCP socket the kernel ignores the destination. */
ssize_t
sendto(int fd, const void *buf, size_t n, int flags,
       const struct sockaddr *sa, socklen_t len)
{
    ops();
    if (!tracked(fd))
        return real_sendto(fd, buf, n, flags, sa, len);
    return fault->send(fd, buf, n, flags);
}

ssize_t
sendmsg(int fd, const struct msghdr *m, int flags)
{
    ops();
    if (fault == NULL)
        return real_sendmsg(fd, m, flags);
    return tsl_fault_sendmsg(real_sendmsg, fd, m, flags);
}

int
shutdown(int fd, int how)
{
    ops();
    if (fault != NULL)
        tsl_fault_shutdown(fd, how);
    return real_shutdown(fd, how);
}

int
close(int fd)
{
    return ops()->close(fd);
}

int
select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    return ops()->select(n, r, w, e, t);
}

int
pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
        const sigset_t *mask)
{
    ops();
    if (fault == NULL)
        return real_pselect(n, r, w, e, t, mask);
    return tsl_fault_pselect(real_pselect, n, r, w, e, t, mask);
}

int
poll(struct pollfd *pf, nfds_t n, int timeout)
{
    return ops()->poll(pf, n, timeout);
}

int
ppoll(struct pollfd *pf, nfds_t n, const struct timespec *t,
      const sigset_t *mask)
{
    ops();
    if (fault == NULL)
        return real_ppoll(pf, n, t, mask);
    return tsl_fault_ppoll(real_ppoll, pf, n, t, mask);
}

int
epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    return ops()->epoll_ctl(ep, op, fd, ev);
}

int
epoll_wait(int ep, struct epoll_event *evs, int max, int timeout)
{
    return ops()->epoll_wait(ep, evs, max, timeout);
}

/*
 * tsl_sys.h - the table of operating-system calls the library makes.
 *
 * Every socket, pipe and readiness call of the core goes through tsl__sys,
 * which points at libc wrappers by default, and so do its allocations and
 * thread creations.  The fault harness installs a table of its own to
 * split reads, shorten writes, inject EINTR, EAGAIN, EMFILE or resets, or
 * fail the Nth call, without touching the core; the allocation torture
 * fails the Nth allocation or thread.  Calls return what libc returns and
 * leave errno as libc sets it (thread_create: pthread_create's error
 * number).  The wakeup pipes are read and written through it, and the
 * clocks are read through it.  Memory comes from malloc/calloc/realloc and goes back through
 * free, all four from the table (one hook set for the allocation torture).
 */
#ifndef TSL_SYS_H
#define TSL_SYS_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

struct tsl_sys_ops {
    int (*socket)(int domain, int type, int proto);
    int (*bind)(int fd, const struct sockaddr *sa, socklen_t len);
    int (*listen)(int fd, int backlog);
    int (*setsockopt)(int fd, int lvl, int name, const void *v, socklen_t l);
    int (*getsockname)(int fd, struct sockaddr *sa, socklen_t *len);
    int (*accept4)(int fd, struct sockaddr *sa, socklen_t *len, int flags);
    int (*connect)(int fd, const struct sockaddr *sa, socklen_t len);
    int (*getsockopt)(int fd, int lvl, int name, void *v, socklen_t *l);
    ssize_t (*readv)(int fd, const struct iovec *iov, int n);
    ssize_t (*recv)(int fd, void *buf, size_t n, int flags);
    ssize_t (*send)(int fd, const void *buf, size_t n, int flags);
    ssize_t (*read)(int fd, void *buf, size_t n);         /* wakeup pipes */
    ssize_t (*write)(int fd, const void *buf, size_t n);
    int (*close)(int fd);
    int (*poll)(struct pollfd *fds, nfds_t n, int timeout);
    int (*select)(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t);
    int (*pipe2)(int fds[2], int flags);
    int (*epoll_create1)(int flags);
    int (*epoll_ctl)(int ep, int op, int fd, struct epoll_event *ev);
    int (*epoll_wait)(int ep, struct epoll_event *evs, int max, int timeout);
    int (*open)(const char *path, int flags);
    void *(*malloc)(size_t n);
    void *(*calloc)(size_t n, size_t size);
    void *(*realloc)(void *p, size_t n);
    void (*free)(void *p);
    int (*thread_create)(pthread_t *t, void *(*fn)(void *), void *arg);
    /* Every clock the core reads (a simulation runs on a clock of its own). */
    int (*clock_gettime)(clockid_t id, struct timespec *ts);
};

/* The table in use.  Swap it only while no server runs. */
extern const struct tsl_sys_ops *tsl__sys;
extern const struct tsl_sys_ops tsl__sys_libc;

/* Installs ops (NULL: back to libc). */
void tsl__sys_set(const struct tsl_sys_ops *ops);

#endif

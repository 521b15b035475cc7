/*
 * tsl_net.c - socket helpers: the listening socket.
 *
 * SO_REUSEADDR lets a stopped server listen again at once on the port it
 * had (TIME_WAIT); SO_REUSEPORT is deliberately not set: with it another
 * process could bind the same port and silently take part of our
 * connections (the course's code did this).  Any thread; no state.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "tsl_internal.h"
#include "tsl_net.h"
#include "tsl_sys.h"

int
tsl__net_listen(struct in_addr addr, uint16_t port, uint16_t *bound)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd, one = 1, err;

    fd = tsl__sys->socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          0);
    if (fd < 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr = addr;
    sa.sin_port = htons(port);
    if (tsl__sys->setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                             sizeof(one)) < 0 ||
        tsl__sys->bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        tsl__sys->listen(fd, SOMAXCONN) < 0 ||
        tsl__sys->getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        goto fail;
    *bound = ntohs(sa.sin_port);
    return fd;
fail:
    err = errno;
    tsl__sys->close(fd);
    return -err;
}

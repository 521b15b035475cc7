/*
 * A program outside the tree, built against an installed tcpserverlib
 * (install/check.sh builds it four ways).  It starts a server on a free
 * port, connects to it, waits for the connected callback and stops: enough
 * to run the library's threads, not only to resolve its symbols.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <tsl.h>

static atomic_int connected;

static void
on_connected(tsl_server_t *srv, tsl_client_t *c, void *ud)
{
    (void)srv, (void)c, (void)ud;
    atomic_store(&connected, 1);
}

/* A loopback connection to port; -1 on failure. */
static int
dial(uint16_t port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int
main(void)
{
    tsl_callbacks_t cb = {.connected = on_connected};
    struct timespec tick = {0, 10 * 1000 * 1000};
    tsl_server_t *srv;
    int rc, fd, i;

    rc = tsl_server_create(&srv, "outside", "127.0.0.1", 0);
    if (rc < 0) {
        fprintf(stderr, "consumer: create: %s\n", tsl_strerror(rc));
        return 1;
    }
    tsl_server_set_callbacks(srv, &cb, NULL);
    rc = tsl_server_start(srv);
    if (rc < 0) {
        fprintf(stderr, "consumer: start: %s\n", tsl_strerror(rc));
        return 1;
    }
    fd = dial(tsl_server_port(srv));
    /* Up to 10 s for the acceptor to report the connection. */
    for (i = 0; fd >= 0 && i < 1000 && !atomic_load(&connected); i++)
        nanosleep(&tick, NULL);
    if (fd < 0 || !atomic_load(&connected)) {
        fprintf(stderr, "consumer: no connection reached the server\n");
        return 1;
    }
    printf("consumer: served a client on port %u\n", tsl_server_port(srv));
    close(fd);
    return tsl_server_destroy(srv) == 0 ? 0 : 1;
}

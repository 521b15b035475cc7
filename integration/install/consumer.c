/* A program outside the tree, built against an installed tcpserverlib. */
#include <stdio.h>
#include <tsl.h>

int
main(void)
{
    tsl_server_t *srv;

    if (tsl_server_create(&srv, "outside", "127.0.0.1", 0) != 0)
        return 1;
    if (tsl_server_start(srv) != 0)
        return 1;
    printf("listening on %u\n", tsl_server_port(srv));
    return tsl_server_destroy(srv);
}

#ifndef TSL_NET_H
#define TSL_NET_H

#include <netinet/in.h>
#include <stdint.h>

/* Opens a non-blocking listening socket on addr:port; returns the fd and
 * the port bound in *bound, or -errno. */
int tsl__net_listen(struct in_addr addr, uint16_t port, uint16_t *bound);

#endif

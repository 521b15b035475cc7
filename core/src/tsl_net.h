#ifndef TSL_NET_H
#define TSL_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* A socket address of any family the library serves. */
union tsl__sa {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_un un;
};

struct tsl__addr {
    union tsl__sa u;
    socklen_t len;
};

/* Room for any address text tsl__addr_text writes, and for "unix:PATH". */
#define TSL__ADDR_TEXT (sizeof("unix:") + sizeof(((struct sockaddr_un *)0)->sun_path))

/* Room for a peer's numeric text: inet_ntop writes at most 39 characters
 * for an IPv6 host (eight groups of four), an IPv4-mapped one is shown as
 * IPv4, a Unix peer as "unix". */
#define TSL__IP_TEXT 40

/* A host: an IPv4 or IPv6 address (the latter bare or in brackets). */
struct tsl__host {
    uint8_t fam; /* AF_INET or AF_INET6 */
    uint8_t a[16];
};

/*
 * Reads an address as the API takes it: IPv4 ("127.0.0.1"), IPv6 ("::1",
 * "[::1]"), a host name resolved now ("localhost": the first address the
 * resolver gives), or "unix:PATH" ("unix:@NAME": the abstract namespace).
 * port is ignored for Unix sockets.  0 or TSL_EINVAL.
 */
int tsl__addr_parse(struct tsl__addr *a, const char *text, uint16_t port);
/* The address's text: numeric, an IPv4-mapped IPv6 address as IPv4,
 * "unix:PATH" for a listening Unix address and "unix" for a peer (which
 * has no name); and its port (0 for Unix). */
void tsl__addr_text(const union tsl__sa *sa, char *buf, size_t n);
uint16_t tsl__addr_port(const union tsl__sa *sa);
/* The host of an IP address (IPv4-mapped as IPv4); false for Unix. */
bool tsl__addr_host(const union tsl__sa *sa, struct tsl__host *h);
/* Reads "IP" or "IP/BITS" (either family); *bits is the prefix length,
 * the host's full width without one.  0 or TSL_EINVAL. */
int tsl__host_parse(const char *text, struct tsl__host *h, unsigned *bits);
/* Whether h lies in net/bits (the same family and the first bits
 * equal). */
bool tsl__host_in(const struct tsl__host *h, const struct tsl__host *net,
                  unsigned bits);

/* Opens a non-blocking listening socket on a; returns the fd and the port
 * bound in *bound (0 for Unix), or -errno. */
int tsl__net_listen(const struct tsl__addr *a, uint16_t *bound);
/* Removes the name a listening Unix socket left in the file system. */
void tsl__net_unlisten(const struct tsl__addr *a);

#endif

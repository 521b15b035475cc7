/*
 * tsl_peer.h - a test client: connects to any server speaking one of our
 * framings, sends seeded messages with chosen write chunking, and checks
 * every echoed byte.
 *
 * Message `seq` of a peer is a pure function of (seed, seq): its length,
 * its bytes (a 4-byte sequence number first) and so its frame, so nothing
 * needs to be remembered to verify an echo, and a failing run is replayed
 * from its seed.  Blocking sockets with timeouts; one thread per peer.
 */
#ifndef TSL_PEER_H
#define TSL_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tsl.h"

enum tsl_peer_mode {
    TSL_PEER_WHOLE,    /* one write per message */
    TSL_PEER_BYTES,    /* one byte per write: every split there is */
    TSL_PEER_COALESCE, /* all the messages of a call in one write */
    TSL_PEER_RANDOM    /* seeded random cuts across messages */
};

struct tsl_peer {
    int fd;
    tsl_framing_t f;
    uint64_t seed, rng;
    uint32_t sent;      /* messages sent */
    uint32_t checked;   /* echoes verified */
    uint32_t max_len;   /* largest payload this peer makes */
    uint8_t *out, *want, *got; /* buffers (freed by tsl_peer_close) */
    char why[200];      /* what went wrong, for the failure message */
};

/* Connects to ip:port.  timeout_ms bounds every later read and write.
 * 0, or -1 with p->why. */
int tsl_peer_open(struct tsl_peer *p, const char *ip, uint16_t port,
                  const tsl_framing_t *f, uint64_t seed, int timeout_ms);
/* The same to any socket address: IPv4, IPv6 or a Unix socket (no
 * TCP_NODELAY there).  sa NULL sets up the messages only, with no
 * connection (p->fd -1).  0, or -1 with p->why, which names the
 * address. */
int tsl_peer_open_sa(struct tsl_peer *p, const struct sockaddr *sa,
                     socklen_t len, const tsl_framing_t *f, uint64_t seed,
                     int timeout_ms);
#define TSL_PEER_ADDR_TEXT 128
/* The wire bytes of message seq; returns their length (at most 65544;
 * cap must be at least that). */
size_t tsl_peer_frame(const struct tsl_peer *p, uint32_t seq, uint8_t *out,
                      size_t cap);
/* Sends the next n messages.  0, or -1 with p->why. */
int tsl_peer_send(struct tsl_peer *p, uint32_t n, enum tsl_peer_mode mode);
/* Reads and checks the echoes of the next n messages.  0, or -1 with
 * p->why (timeout, EOF, or the first byte that differs). */
int tsl_peer_check(struct tsl_peer *p, uint32_t n);
/* Waits up to ms for the server to close (EOF or reset): 1, else 0.
 * Bytes read meanwhile are checked as echoes if check is set. */
int tsl_peer_wait_closed(struct tsl_peer *p, int ms);
void tsl_peer_close(struct tsl_peer *p);      /* orderly close (FIN);
                                                 frees the buffers */
void tsl_peer_half_close(struct tsl_peer *p); /* shutdown(SHUT_WR) */
void tsl_peer_reset(struct tsl_peer *p);      /* SO_LINGER 0: RST */

#endif

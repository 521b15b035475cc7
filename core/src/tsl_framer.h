/*
 * tsl_framer.h - the demarcators: find message boundaries in a byte stream.
 *
 * A framer looks at the bytes buffered for one client (as the two spans of
 * its circular buffer) and says what the front of the stream holds: a whole
 * message, a keepalive frame, not enough bytes yet, or a protocol error.
 * It never consumes by itself: the caller delivers the message and then
 * consumes frame.total bytes.  Framers are pure: all the state they keep
 * is a resume point for the delimiter search, so the same stream fed in
 * any chunking gives the same frames (the fuzzers check exactly that).
 */
#ifndef TSL_FRAMER_H
#define TSL_FRAMER_H

#include <stddef.h>

#include "tsl.h"
#include "tsl_cbuf.h"

/* The largest frame any framing may be configured for. */
#define TSL_FRAME_LIMIT (16u * 1024 * 1024)

enum {
    TSL_FRAME_NEED_MORE = 0,
    TSL_FRAME_MESSAGE = 1,
    TSL_FRAME_KEEPALIVE = 2
    /* a protocol error is TSL_EPROTO */
};

struct tsl_frame {
    size_t total;   /* bytes to consume */
    size_t off;     /* where the delivered message starts in the frame */
    size_t len;     /* delivered message length */
};

/* A stream's framing state; the framing itself is an argument (a
 * client's is its server's, which changes only while the server is
 * stopped), so that every connection carries four bytes, not a copy. */
struct tsl_framer {
    uint32_t scan;  /* DELIMITER: bytes already searched in vain (below
                     * TSL_FRAME_LIMIT + TSL_DELIM_MAX) */
};

void tsl__framer_init(struct tsl_framer *fr);

/*
 * Examines the `avail` bytes in sp as framing f, the same f for every call
 * on fr.  Returns TSL_FRAME_MESSAGE or TSL_FRAME_KEEPALIVE with *out
 * filled, TSL_FRAME_NEED_MORE, or TSL_EPROTO (the stream can never be
 * valid again: disconnect the client).
 */
static inline int tsl__framer_next(const tsl_framing_t *f,
                                   struct tsl_framer *fr,
                                   const struct tsl_span sp[2], size_t avail,
                                   struct tsl_frame *out);

/* Writes this framing's keepalive frame (a header-only variable frame)
 * into out; returns its length, or 0 if the framing has none. */
size_t tsl__framer_keepalive(const tsl_framing_t *f, uint8_t out[4]);

/* Receive-buffer capacity this framing needs to hold its largest frame. */
size_t tsl__framer_bufsize(const tsl_framing_t *f);

/* Sibling implementations, one per kind. */
int tsl__framer_none_next(const tsl_framing_t *f, struct tsl_framer *fr,
                          const struct tsl_span sp[2], size_t avail,
                          struct tsl_frame *out);
int tsl__framer_fixed_next(const tsl_framing_t *f, struct tsl_framer *fr,
                           const struct tsl_span sp[2], size_t avail,
                           struct tsl_frame *out);
int tsl__framer_var_next(const tsl_framing_t *f, struct tsl_framer *fr,
                         const struct tsl_span sp[2], size_t avail,
                         struct tsl_frame *out);
int tsl__framer_delim_next(const tsl_framing_t *f, struct tsl_framer *fr,
                           const struct tsl_span sp[2], size_t avail,
                           struct tsl_frame *out);

/* Inline: the receiver calls it for every message. */
static inline int
tsl__framer_next(const tsl_framing_t *f, struct tsl_framer *fr,
                 const struct tsl_span sp[2], size_t avail,
                 struct tsl_frame *out)
{
    switch (f->kind) {
    case TSL_FRAMING_FIXED:
        return tsl__framer_fixed_next(f, fr, sp, avail, out);
    case TSL_FRAMING_VARIABLE:
        return tsl__framer_var_next(f, fr, sp, avail, out);
    case TSL_FRAMING_DELIMITER:
        return tsl__framer_delim_next(f, fr, sp, avail, out);
    case TSL_FRAMING_NONE:
    default:
        return tsl__framer_none_next(f, fr, sp, avail, out);
    }
}

#endif

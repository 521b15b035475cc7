/*
 * tsl_framer_var.c - length-header frames (the course's variable size).
 *
 * The header is hdr_width bytes (1, 2 or 4) holding a length in the given
 * byte order; the length counts the header too (inclusive, the course's
 * way) or only the payload (exclusive).  The length is checked against the
 * maximum as soon as the header is complete, before the rest is buffered,
 * and a length shorter than the header itself is an error: the course's
 * code looped forever on 0 and desynchronised on 1.  A header-only frame
 * is a keepalive.  Stateless.
 */
#include <stdbool.h>

#include "tsl_framer.h"

/* The length in a header of w bytes (1, 2 or 4) that lies in one piece. */
static inline uint64_t
hdr_flat(const uint8_t *h, size_t w, bool big_endian)
{
    switch (w) {
    case 1:
        return h[0];
    case 2:
        return big_endian ? (uint64_t)h[0] << 8 | h[1]
                          : (uint64_t)h[1] << 8 | h[0];
    default:
        return big_endian ? (uint64_t)h[0] << 24 | (uint64_t)h[1] << 16 |
                                (uint64_t)h[2] << 8 | h[3]
                          : (uint64_t)h[3] << 24 | (uint64_t)h[2] << 16 |
                                (uint64_t)h[1] << 8 | h[0];
    }
}

/* The same for a header split between the spans (rare: the ring wraps
 * inside it). */
static __attribute__((noinline)) uint64_t
hdr_split(const struct tsl_span sp[2], size_t w, bool big_endian)
{
    uint64_t len = 0;
    size_t i;

    for (i = 0; i < w; i++)
        len = (len << 8) | tsl__span_byte(sp, big_endian ? i : w - 1 - i);
    return len;
}

int
tsl__framer_var_next(const tsl_framing_t *f, struct tsl_framer *fr,
                     const struct tsl_span sp[2], size_t avail,
                     struct tsl_frame *out)
{
    size_t w = f->hdr_width;
    uint64_t len, total;

    (void)fr;
    if (avail < w)
        return TSL_FRAME_NEED_MORE;
    if (w <= sp[0].n)
        len = hdr_flat(sp[0].p, w, f->big_endian);
    else
        len = hdr_split(sp, w, f->big_endian);
    if (f->len_exclusive) {
        total = len + w;
    } else {
        if (len < w)
            return TSL_EPROTO;
        total = len;
    }
    if (total > f->max_frame)
        return TSL_EPROTO;
    if (total == w) {
        out->total = w;
        out->off = w;
        out->len = 0;
        return TSL_FRAME_KEEPALIVE;
    }
    if (avail < total)
        return TSL_FRAME_NEED_MORE;
    out->total = (size_t)total;
    out->off = f->strip_header ? w : 0;
    out->len = (size_t)total - out->off;
    return TSL_FRAME_MESSAGE;
}

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
#include "tsl_framer.h"

int
tsl__framer_var_next(const tsl_framing_t *f, struct tsl_framer *fr,
                     const struct tsl_span sp[2], size_t avail,
                     struct tsl_frame *out)
{
    size_t w = f->hdr_width;
    uint64_t len = 0, total;
    size_t i;

    (void)fr;
    if (avail < w)
        return TSL_FRAME_NEED_MORE;
    if (w <= sp[0].n) { /* the header in one piece: nearly always */
        const uint8_t *h = sp[0].p;
        if (f->big_endian)
            for (i = 0; i < w; i++)
                len = (len << 8) | h[i];
        else
            for (i = w; i-- > 0;)
                len = (len << 8) | h[i];
    } else {
        for (i = 0; i < w; i++) {
            size_t k = f->big_endian ? i : w - 1 - i;
            len = (len << 8) | tsl__span_byte(sp, k);
        }
    }
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

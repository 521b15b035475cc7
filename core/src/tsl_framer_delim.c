/*
 * tsl_framer_delim.c - delimiter frames (the course's pattern demarcator,
 * which it declared and never wrote).
 *
 * A message is every byte up to the first occurrence of the delimiter; the
 * delimiter is consumed and not delivered.  A message longer than max_frame
 * is a protocol error, found either when the delimiter turns up too late or
 * when max_frame + delim_len bytes are buffered without one, so the buffer
 * never needs to hold more than that.  fr->scan remembers how far the
 * search got, so each byte is examined about once however the stream is
 * chunked.
 */
#include <string.h>

#include "tsl_framer.h"

/* Does the delimiter start at offset i (i + dlen <= avail)? */
static int
match_at(const tsl_framing_t *f, const struct tsl_span sp[2], size_t i)
{
    size_t k;

    for (k = 1; k < f->delim_len; k++)
        if (tsl__span_byte(sp, i + k) != f->delim[k])
            return 0;
    return 1;
}

/* First offset >= from where byte b occurs, or `to` if none below `to`. */
static size_t
find_byte(const struct tsl_span sp[2], size_t from, size_t to, uint8_t b)
{
    const uint8_t *p;

    if (from < sp[0].n) {
        size_t end = to < sp[0].n ? to : sp[0].n;
        p = memchr(sp[0].p + from, b, end - from);
        if (p != NULL)
            return (size_t)(p - sp[0].p);
        from = end;
    }
    if (from < to) {
        p = memchr(sp[1].p + (from - sp[0].n), b, to - from);
        if (p != NULL)
            return sp[0].n + (size_t)(p - sp[1].p);
    }
    return to;
}

int
tsl__framer_delim_next(const tsl_framing_t *f, struct tsl_framer *fr,
                       const struct tsl_span sp[2], size_t avail,
                       struct tsl_frame *out)
{
    size_t dlen = f->delim_len;
    size_t i, last;

    if (avail < dlen)
        return TSL_FRAME_NEED_MORE;
    last = avail - dlen + 1; /* candidate starts are [0, last) */
    i = fr->scan;
    while (i < last) {
        i = find_byte(sp, i, last, f->delim[0]);
        if (i == last)
            break;
        if (match_at(f, sp, i)) {
            fr->scan = 0;
            if (i > f->max_frame)
                return TSL_EPROTO;
            out->total = i + dlen;
            out->off = 0;
            out->len = i;
            return TSL_FRAME_MESSAGE;
        }
        i++;
    }
    fr->scan = (uint32_t)last;
    if (last > f->max_frame)
        return TSL_EPROTO;
    return TSL_FRAME_NEED_MORE;
}

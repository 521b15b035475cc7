/*
 * tsl_framer_fixed.c - fixed:N frames: every N bytes are one message.
 * Stateless.  N is validated to 1..65535 at configuration, so the course's
 * zero-size endless loop cannot happen here.
 */
#include "tsl_framer.h"

int
tsl__framer_fixed_next(const tsl_framing_t *f, struct tsl_framer *fr,
                       const struct tsl_span sp[2], size_t avail,
                       struct tsl_frame *out)
{
    size_t n = f->fixed_size;

    (void)fr;
    (void)sp;
    if (n == 0)
        return TSL_EPROTO; /* unreachable after validation */
    if (avail < n)
        return TSL_FRAME_NEED_MORE;
    out->total = n;
    out->off = 0;
    out->len = n;
    return TSL_FRAME_MESSAGE;
}

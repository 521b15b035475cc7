/*
 * tsl_framer_none.c - `none`: no demarcation; whatever one read returned
 * is one message (the course's behaviour without a demarcator).  A read
 * is always consumed whole, so a client with this framing never buffers
 * input and has no receive ring.  Stateless.
 */
#include "tsl_framer.h"

int
tsl__framer_none_next(const tsl_framing_t *f, struct tsl_framer *fr,
                      const struct tsl_span sp[2], size_t avail,
                      struct tsl_frame *out)
{
    (void)f;
    (void)fr;
    (void)sp;
    if (avail == 0)
        return TSL_FRAME_NEED_MORE;
    out->total = avail;
    out->off = 0;
    out->len = avail;
    return TSL_FRAME_MESSAGE;
}

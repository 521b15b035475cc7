/*
 * framefeed.c - see framefeed.h.  Single-threaded test helper.
 */
#include "framefeed.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tsl_cbuf.h"
#include "tsl_framer.h"

/* Storage grows by doubling: an input of thousands of one-byte messages
 * costs a few allocations, not two per message (the fuzzer's time went
 * to the allocator). */
static int
push_msg(struct ff_result *r, const struct tsl_span sp[2], size_t off,
         size_t n)
{
    if (r->datalen + n + 1 > r->datacap) {
        size_t cap = r->datacap ? r->datacap : 256;
        uint8_t *d;
        while (cap < r->datalen + n + 1)
            cap *= 2;
        if ((d = realloc(r->data, cap)) == NULL)
            return -ENOMEM;
        r->data = d;
        r->datacap = cap;
    }
    if (r->nmsg + 1 > r->lenscap) {
        size_t cap = r->lenscap ? r->lenscap * 2 : 32;
        size_t *l = realloc(r->lens, cap * sizeof(*l));
        if (l == NULL)
            return -ENOMEM;
        r->lens = l;
        r->lenscap = cap;
    }
    if (n > 0)
        tsl__span_copy(sp, off, r->data + r->datalen, n);
    r->datalen += n;
    r->lens[r->nmsg++] = n;
    if (n > r->maxlen)
        r->maxlen = n;
    return 0;
}

int
ff_run(const tsl_framing_t *f, const uint8_t *data, size_t len,
       const size_t *chunks, size_t nchunks, struct ff_result *out)
{
    memset(out, 0, sizeof(*out));
    return ff_rerun(f, data, len, chunks, nchunks, out);
}

/* The counts start again from zero; data and lens keep their storage, so
 * a fuzzer feeding millions of inputs allocates them a few times in all
 * rather than twice a feed (under ASan an allocation costs a fill of the
 * block, its stack trace and a turn through the quarantine). */
int
ff_rerun(const tsl_framing_t *f, const uint8_t *data, size_t len,
         const size_t *chunks, size_t nchunks, struct ff_result *out)
{
    struct tsl_framer fr;
    struct tsl_cbuf cb;
    struct tsl_span sp[2];
    struct tsl_frame fm;
    size_t pos = 0, ci = 0, cap;
    int k, rc = 0;

    out->error = out->stuck = 0;
    out->nmsg = out->nka = out->datalen = out->maxlen = 0;
    cap = tsl__framer_bufsize(f);
    if (cap == 0)
        cap = 4096; /* none: any buffer */
    tsl__cbuf_init(&cb, cap);
    tsl__framer_init(&fr);
    while (pos < len && out->error == 0 && !out->stuck) {
        size_t want = nchunks ? chunks[ci] : len - pos;
        if (nchunks && ++ci == nchunks)
            ci = 0; /* cycled without a division a chunk */
        if (want == 0)
            want = 1;
        if (want > len - pos)
            want = len - pos;
        /* One chunk may take several reads if the ring is short of room. */
        while (want > 0 && out->error == 0) {
            size_t room = tsl__cbuf_free(&cb), n = want < room ? want : room;
            if (n == 0) {
                out->stuck = 1;
                break;
            }
            if (tsl__cbuf_write(&cb, data + pos, n) != (long)n) {
                rc = -ENOMEM;
                goto done;
            }
            pos += n;
            want -= n;
            for (;;) {
                tsl__cbuf_spans(&cb, sp);
                k = tsl__framer_next(f, &fr, sp, tsl__cbuf_size(&cb), &fm);
                if (k == TSL_FRAME_NEED_MORE)
                    break;
                if (k < 0) {
                    out->error = k;
                    break;
                }
                if (fm.total == 0 || fm.total > tsl__cbuf_size(&cb) ||
                    fm.off + fm.len > fm.total) {
                    out->stuck = 1; /* a frame that cannot make progress */
                    break;
                }
                if (k == TSL_FRAME_KEEPALIVE) {
                    out->nka++;
                } else if (push_msg(out, sp, fm.off, fm.len) < 0) {
                    rc = -ENOMEM;
                    goto done;
                }
                tsl__cbuf_consume(&cb, fm.total);
            }
        }
    }
    /* The ring keeps its storage between chunks (a receiver releases it
     * when it drains; fuzz_cbuf covers that): allocating it again for
     * every byte of a byte-by-byte feed cost most of the fuzzer's time. */
done:
    tsl__cbuf_fini(&cb);
    return rc;
}

void
ff_free(struct ff_result *r)
{
    free(r->data);
    free(r->lens);
    memset(r, 0, sizeof(*r));
}

int
ff_same(const struct ff_result *a, const struct ff_result *b)
{
    return a->error == b->error && a->stuck == b->stuck &&
           a->nmsg == b->nmsg && a->nka == b->nka &&
           a->datalen == b->datalen &&
           (a->nmsg == 0 ||
            memcmp(a->lens, b->lens, a->nmsg * sizeof(size_t)) == 0) &&
           (a->datalen == 0 || memcmp(a->data, b->data, a->datalen) == 0);
}

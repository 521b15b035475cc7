/*
 * tsl_cbuf.c - byte circular buffer.
 *
 * Owns the ring storage of one buffer.  Used only by the thread that
 * currently serves the client (receiver or dedicated thread), so it has no
 * lock.  Indices are size_t, so capacities above 64 KiB work (the course's
 * uint16_t fields could not), and writes are all-or-nothing, checked
 * before any byte is copied: the course asserted on a full ring instead.
 */
#include "tsl_cbuf.h"

#include <stdlib.h>
#include <string.h>

#include "tsl.h"
#include "tsl_sys.h"

void
tsl__cbuf_init(struct tsl_cbuf *cb, size_t cap)
{
    cb->buf = NULL;
    cb->cap = cap;
    cb->head = 0;
    cb->len = 0;
}

void
tsl__cbuf_fini(struct tsl_cbuf *cb)
{
    tsl__sys->free(cb->buf);
    cb->buf = NULL;
    cb->head = 0;
    cb->len = 0;
}

void
tsl__cbuf_release(struct tsl_cbuf *cb)
{
    if (cb->len == 0)
        tsl__cbuf_fini(cb);
}

static int
ensure(struct tsl_cbuf *cb)
{
    if (cb->buf == NULL) {
        cb->buf = tsl__sys->malloc(cb->cap ? cb->cap : 1);
        if (cb->buf == NULL)
            return TSL_ENOMEM;
        cb->head = 0;
    }
    return 0;
}

int
tsl__cbuf_free_spans(struct tsl_cbuf *cb, uint8_t *p[2], size_t n[2])
{
    size_t tail, first;

    p[0] = p[1] = NULL;
    n[0] = n[1] = 0;
    if (cb->len == cb->cap)
        return 0;
    if (ensure(cb) < 0)
        return TSL_ENOMEM;
    tail = (cb->head + cb->len) % cb->cap;
    /* Free space runs from tail to head, wrapping at cap. */
    first = tail >= cb->head ? cb->cap - tail : cb->head - tail;
    if (first > cb->cap - cb->len)
        first = cb->cap - cb->len;
    p[0] = cb->buf + tail;
    n[0] = first;
    if (first < cb->cap - cb->len) {
        p[1] = cb->buf;
        n[1] = cb->cap - cb->len - first;
        return 2;
    }
    return 1;
}

void
tsl__cbuf_commit(struct tsl_cbuf *cb, size_t n)
{
    cb->len += n;
}

long
tsl__cbuf_write(struct tsl_cbuf *cb, const void *data, size_t n)
{
    uint8_t *p[2];
    size_t sz[2], k;
    int r;

    if (n > tsl__cbuf_free(cb))
        return 0;
    if (n == 0)
        return 0;
    r = tsl__cbuf_free_spans(cb, p, sz);
    if (r < 0)
        return r;
    k = n < sz[0] ? n : sz[0];
    memcpy(p[0], data, k);
    if (n > k)
        memcpy(p[1], (const uint8_t *)data + k, n - k);
    tsl__cbuf_commit(cb, n);
    return (long)n;
}

int
tsl__cbuf_spans(const struct tsl_cbuf *cb, struct tsl_span sp[2])
{
    size_t first;

    sp[0].p = sp[1].p = NULL;
    sp[0].n = sp[1].n = 0;
    if (cb->len == 0)
        return 0;
    first = cb->cap - cb->head;
    if (first >= cb->len) {
        sp[0].p = cb->buf + cb->head;
        sp[0].n = cb->len;
        return 1;
    }
    sp[0].p = cb->buf + cb->head;
    sp[0].n = first;
    sp[1].p = cb->buf;
    sp[1].n = cb->len - first;
    return 2;
}

void
tsl__span_copy(const struct tsl_span sp[2], size_t off, void *dst, size_t n)
{
    uint8_t *d = dst;
    size_t k;

    if (off < sp[0].n) {
        k = sp[0].n - off;
        if (k > n)
            k = n;
        memcpy(d, sp[0].p + off, k);
        d += k;
        n -= k;
        off = 0;
    } else {
        off -= sp[0].n;
    }
    if (n > 0)
        memcpy(d, sp[1].p + off, n);
}

size_t
tsl__cbuf_peek(const struct tsl_cbuf *cb, size_t off, void *dst, size_t n)
{
    struct tsl_span sp[2];

    if (off > cb->len || n > cb->len - off)
        return 0;
    if (n == 0)
        return 0;
    tsl__cbuf_spans(cb, sp);
    tsl__span_copy(sp, off, dst, n);
    return n;
}

void
tsl__cbuf_consume(struct tsl_cbuf *cb, size_t n)
{
    if (n > cb->len)
        n = cb->len;
    cb->len -= n;
    /* An emptied ring restarts at 0 so the next read gets one long span. */
    cb->head = cb->len == 0 ? 0 : (cb->head + n) % cb->cap;
}

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

#define CBUF_FIRST 4096 /* the first allocation, if the capacity allows */

void
tsl__cbuf_init(struct tsl_cbuf *cb, size_t cap)
{
    cb->m = NULL;
    cb->cap = cap;
}

void
tsl__cbuf_fini(struct tsl_cbuf *cb)
{
    tsl__sys->free(cb->m);
    cb->m = NULL;
}

void
tsl__cbuf_release(struct tsl_cbuf *cb)
{
    if (cb->m != NULL && cb->m->len == 0)
        tsl__cbuf_fini(cb);
}

/* Makes the storage hold at least `want` bytes (want <= cap): doubling
 * from CBUF_FIRST, clamped to the capacity; the content moves to the
 * front of the new storage. */
static int
grow(struct tsl_cbuf *cb, size_t want)
{
    struct tsl_span sp[2];
    size_t have = tsl__cbuf_storage(cb), size = have ? have : CBUF_FIRST;
    struct tsl_cbuf_mem *nm;

    if (want <= have)
        return 0;
    while (size < want && size < cb->cap)
        size = size > cb->cap / 2 ? cb->cap : size * 2;
    if (size > cb->cap)
        size = cb->cap;
    if (size == 0)
        size = 1;
    nm = tsl__sys->malloc(sizeof(*nm) + size);
    if (nm == NULL)
        return TSL_ENOMEM;
    tsl__cbuf_spans(cb, sp);
    if (sp[0].n > 0)
        memcpy(nm->buf, sp[0].p, sp[0].n);
    if (sp[1].n > 0)
        memcpy(nm->buf + sp[0].n, sp[1].p, sp[1].n);
    nm->size = size;
    nm->head = 0;
    nm->len = sp[0].n + sp[1].n;
    tsl__sys->free(cb->m);
    cb->m = nm;
    return 0;
}

/* The free space of the storage as it is, as up to two regions. */
static int
spans_free(struct tsl_cbuf *cb, uint8_t *p[2], size_t n[2])
{
    struct tsl_cbuf_mem *m = cb->m;
    size_t avail, tail, first;

    p[0] = p[1] = NULL;
    n[0] = n[1] = 0;
    if (m == NULL || m->size == m->len)
        return 0;
    avail = m->size - m->len;
    tail = (m->head + m->len) % m->size;
    /* Free space runs from tail to head, wrapping at size. */
    first = tail >= m->head ? m->size - tail : m->head - tail;
    if (first > avail)
        first = avail;
    p[0] = m->buf + tail;
    n[0] = first;
    if (first < avail) {
        p[1] = m->buf;
        n[1] = avail - first;
        return 2;
    }
    return 1;
}

int
tsl__cbuf_free_spans(struct tsl_cbuf *cb, uint8_t *p[2], size_t n[2])
{
    size_t len = tsl__cbuf_size(cb), size = tsl__cbuf_storage(cb), room;

    p[0] = p[1] = NULL;
    n[0] = n[1] = 0;
    if (len == cb->cap)
        return 0;
    room = cb->cap - len < TSL_CBUF_ROOM ? cb->cap - len : TSL_CBUF_ROOM;
    if (size - len < room &&
        grow(cb, len + room > 2 * size ? len + room : 2 * size) < 0)
        return TSL_ENOMEM;
    return spans_free(cb, p, n);
}

void
tsl__cbuf_commit(struct tsl_cbuf *cb, size_t n)
{
    if (n > 0)
        cb->m->len += n;
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
    r = grow(cb, tsl__cbuf_size(cb) + n);
    if (r < 0)
        return r;
    spans_free(cb, p, sz);
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
    const struct tsl_cbuf_mem *m = cb->m;
    size_t first;

    sp[0].p = sp[1].p = NULL;
    sp[0].n = sp[1].n = 0;
    if (m == NULL || m->len == 0)
        return 0;
    first = m->size - m->head;
    if (first >= m->len) {
        sp[0].p = m->buf + m->head;
        sp[0].n = m->len;
        return 1;
    }
    sp[0].p = m->buf + m->head;
    sp[0].n = first;
    sp[1].p = m->buf;
    sp[1].n = m->len - first;
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
    size_t len = tsl__cbuf_size(cb);

    if (off > len || n > len - off)
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
    struct tsl_cbuf_mem *m = cb->m;

    if (m == NULL)
        return;
    if (n > m->len)
        n = m->len;
    m->len -= n;
    /* An emptied ring restarts at 0 so the next read gets one long span. */
    m->head = m->len == 0 ? 0 : (m->head + n) % m->size;
}

/*
 * tsl_cbuf.h - byte circular buffer (the course's BCB).
 *
 * A fixed-capacity circular queue of bytes: write at the rear, peek or
 * consume at the front.  The readable bytes are visible as at most two
 * contiguous spans so a framer can parse without copying, and the free
 * space likewise so a reader can fill it with one readv().  Storage is
 * allocated on first use, grows with what it holds (doubling, up to the
 * capacity), and may be released when empty, so an idle client costs no
 * buffer and a partial frame costs about what has arrived, not the largest
 * frame the framing allows.  Not thread-safe: one owner at a time.
 */
#ifndef TSL_CBUF_H
#define TSL_CBUF_H

#include <stddef.h>
#include <stdint.h>

struct tsl_span {
    const uint8_t *p;
    size_t n;
};

/* The storage, with its indices in front of the bytes: a buffer without
 * storage (every idle client's) is two words. */
struct tsl_cbuf_mem {
    size_t size;      /* bytes of buf */
    size_t head;      /* index of the first readable byte */
    size_t len;       /* readable bytes */
    uint8_t buf[];
};

struct tsl_cbuf {
    struct tsl_cbuf_mem *m; /* NULL until first use and once released */
    size_t cap;       /* the most it may ever hold */
};

void tsl__cbuf_init(struct tsl_cbuf *cb, size_t cap);
void tsl__cbuf_fini(struct tsl_cbuf *cb);
/* Frees the storage if the buffer is empty. */
void tsl__cbuf_release(struct tsl_cbuf *cb);

/* Readable bytes. */
static inline size_t tsl__cbuf_size(const struct tsl_cbuf *cb)
{
    return cb->m != NULL ? cb->m->len : 0;
}
static inline size_t tsl__cbuf_free(const struct tsl_cbuf *cb)
{
    return cb->cap - tsl__cbuf_size(cb);
}
/* Bytes of storage allocated now (0 without storage). */
static inline size_t tsl__cbuf_storage(const struct tsl_cbuf *cb)
{
    return cb->m != NULL ? cb->m->size : 0;
}

/* Appends all of data or nothing: returns n, 0 if it does not fit, or
 * TSL_ENOMEM if the storage cannot be allocated. */
long tsl__cbuf_write(struct tsl_cbuf *cb, const void *data, size_t n);

/* Copies n bytes starting `off` bytes past the front into dst, without
 * consuming; returns n or 0 if fewer than off + n bytes are buffered. */
size_t tsl__cbuf_peek(const struct tsl_cbuf *cb, size_t off, void *dst,
                      size_t n);

/* Drops n bytes from the front (n <= size). */
void tsl__cbuf_consume(struct tsl_cbuf *cb, size_t n);

/* The readable bytes as spans sp[0], sp[1] (sp[1].n == 0 unless wrapped);
 * returns how many are non-empty. */
int tsl__cbuf_spans(const struct tsl_cbuf *cb, struct tsl_span sp[2]);

/* Free space as up to two writable regions, growing the storage first so
 * that they hold at least TSL_CBUF_ROOM bytes (or all the capacity left,
 * if less); they cover the whole free space once the storage has reached
 * the capacity.  Returns how many are non-empty, or TSL_ENOMEM.  After
 * writing k bytes into them in order, call tsl__cbuf_commit(cb, k). */
#define TSL_CBUF_ROOM 16384
int tsl__cbuf_free_spans(struct tsl_cbuf *cb, uint8_t *p[2], size_t n[2]);
void tsl__cbuf_commit(struct tsl_cbuf *cb, size_t n);

/* Byte at offset off past the front of the spans (off < total). */
static inline uint8_t tsl__span_byte(const struct tsl_span sp[2], size_t off)
{
    return off < sp[0].n ? sp[0].p[off] : sp[1].p[off - sp[0].n];
}

/* Copies n bytes at offset off of the spans into dst. */
void tsl__span_copy(const struct tsl_span sp[2], size_t off, void *dst,
                    size_t n);

#endif

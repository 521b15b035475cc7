/*
 * fuzz_cbuf.c - libFuzzer target for the byte circular buffer.
 *
 * The input is a capacity and a sequence of operations (write n bytes,
 * consume n, peek at an offset, fill through the free spans, release),
 * applied both to the ring and to a trivial linear model; after each
 * operation the ring's size, spans and content must equal the model's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsl_cbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct tsl_cbuf *cb, const uint8_t *model, size_t mlen)
{
    struct tsl_span sp[2];
    int k = tsl__cbuf_spans(cb, sp);

    if (tsl__cbuf_size(cb) != mlen || sp[0].n + sp[1].n != mlen ||
        k != (sp[0].n > 0) + (sp[1].n > 0))
        abort();
    if ((sp[0].n && memcmp(sp[0].p, model, sp[0].n) != 0) ||
        (sp[1].n && memcmp(sp[1].p, model + sp[0].n, sp[1].n) != 0))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tsl_cbuf cb;
    uint8_t *model, tmp[256];
    size_t cap, mlen = 0, i = 1;

    if (size < 1)
        return 0;
    cap = 1 + data[0] % 200;
    model = malloc(cap);
    if (model == NULL)
        return 0;
    tsl__cbuf_init(&cb, cap);
    while (i + 1 < size) {
        uint8_t op = data[i] % 5;
        size_t n = data[i + 1];
        i += 2;
        switch (op) {
        case 0: { /* write n bytes taken from the input */
            size_t avail = size - i < n ? size - i : n;
            long r = tsl__cbuf_write(&cb, data + i, avail);
            if (avail > 0 && mlen + avail <= cap) {
                if (r != (long)avail)
                    abort();
                memcpy(model + mlen, data + i, avail);
                mlen += avail;
            } else if (r != 0) {
                abort();
            }
            i += avail;
            break;
        }
        case 1:
            if (n > mlen)
                n = mlen;
            tsl__cbuf_consume(&cb, n);
            memmove(model, model + n, mlen - n);
            mlen -= n;
            break;
        case 2: { /* peek n bytes at offset off */
            size_t off = i < size ? data[i++] : 0;
            size_t r = tsl__cbuf_peek(&cb, off, tmp, n);
            if (n > 0 && off + n <= mlen) {
                if (r != n || memcmp(tmp, model + off, n) != 0)
                    abort();
            } else if (r != 0) {
                abort();
            }
            break;
        }
        case 3: { /* fill up to n bytes through the free spans */
            uint8_t *p[2];
            size_t sz[2], k, done = 0;
            if (tsl__cbuf_free_spans(&cb, p, sz) < 0)
                abort();
            if (sz[0] + sz[1] != cap - mlen)
                abort();
            for (k = 0; k < 2 && done < n; k++) {
                size_t m = sz[k] < n - done ? sz[k] : n - done;
                if (m == 0)
                    continue;
                memset(p[k], (int)(n + k), m);
                memset(model + mlen + done, (int)(n + k), m);
                done += m;
            }
            tsl__cbuf_commit(&cb, done);
            mlen += done;
            break;
        }
        default:
            tsl__cbuf_release(&cb);
            if (mlen == 0 && cb.m != NULL)
                abort();
        }
        check(&cb, model, mlen);
    }
    tsl__cbuf_fini(&cb);
    free(model);
    return 0;
}

/*
 * fuzz_framer.c - libFuzzer target for the demarcators.
 *
 * Input layout: byte 0 picks the framing kind, bytes 1..6 its options,
 * bytes 7..10 four chunk sizes, the rest is the byte stream.  Oracle
 * (differential): feeding the stream whole, byte by byte and in the chosen
 * chunks must give the same messages, keepalives and error; no message may
 * exceed the configured maximum; the framer must never stop making
 * progress.  For `none` only the concatenation is compared, since there
 * the chunking is the message boundary by definition.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framefeed.h"
#include "tsl_framer.h"
#include "tsl_sys.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#endif
#endif
#ifndef POISON
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/*
 * The rings' storage, kept from one feed to the next.  Each feed starts a
 * fresh ring, which allocates 4 KiB (or its capacity) and doubles; under
 * ASan every such block was filled, given a stack trace and sent through
 * the quarantine, three times an input.  Here a freed block waits, still
 * poisoned (a read of it is caught), for the next request of exactly its
 * size, so the ring grows through the same sizes and wraps at the same
 * places as with malloc.  The ring allocates through tsl__sys only.
 */
#define KEPT 8
static struct {
    void *p;
    size_t n;
    int live;
} kept[KEPT];
static struct tsl_sys_ops keep_ops;

static void *
keep_malloc(size_t n)
{
    int i, spare = -1;
    void *p;

    for (i = 0; i < KEPT; i++) {
        if (kept[i].p != NULL && !kept[i].live && kept[i].n == n) {
            kept[i].live = 1;
            UNPOISON(kept[i].p, n);
            return kept[i].p;
        }
        if (spare < 0 && (kept[i].p == NULL || !kept[i].live))
            spare = i;
    }
    if ((p = malloc(n)) == NULL || spare < 0)
        return p;
    if (kept[spare].p != NULL) { /* a block of another size: let it go */
        UNPOISON(kept[spare].p, kept[spare].n);
        free(kept[spare].p);
    }
    kept[spare].p = p;
    kept[spare].n = n;
    kept[spare].live = 1;
    return p;
}

static void
keep_free(void *p)
{
    int i;

    if (p == NULL)
        return;
    for (i = 0; i < KEPT; i++) {
        if (kept[i].p == p && kept[i].live) {
            kept[i].live = 0;
            POISON(p, kept[i].n);
            return;
        }
    }
    free(p);
}

static void
pick(const uint8_t *d, tsl_framing_t *f)
{
    static const uint8_t widths[] = {1, 2, 4};
    uint32_t max;

    switch (d[0] % 4) {
    case 0:
        tsl_framing_default(f, TSL_FRAMING_NONE);
        break;
    case 1:
        tsl_framing_default(f, TSL_FRAMING_FIXED);
        f->fixed_size = 1 + (uint32_t)(d[1] | d[2] << 8) % 300;
        break;
    case 2:
        tsl_framing_default(f, TSL_FRAMING_VARIABLE);
        f->hdr_width = widths[d[1] % 3];
        f->big_endian = d[1] >> 2 & 1;
        f->len_exclusive = d[1] >> 3 & 1;
        f->strip_header = d[1] >> 4 & 1;
        max = (uint32_t)(d[2] | d[3] << 8);
        f->max_frame = max < f->hdr_width ? f->hdr_width : max;
        break;
    default:
        tsl_framing_default(f, TSL_FRAMING_DELIMITER);
        f->delim_len = (uint8_t)(1 + d[1] % 3);
        memcpy(f->delim, d + 4, 3);
        f->max_frame = 1 + (uint32_t)(d[2] | d[3] << 8) % 2000;
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t one[] = {1};
    /* Kept from one input to the next: ff_rerun reuses their storage. */
    static struct ff_result whole, bytes, chunked;
    tsl_framing_t f;
    size_t chunks[4], i;
    int none;

    if (keep_ops.malloc == NULL) {
        keep_ops = tsl__sys_libc;
        keep_ops.malloc = keep_malloc;
        keep_ops.free = keep_free;
        tsl__sys_set(&keep_ops);
    }
    if (size < 11)
        return 0;
    pick(data, &f);
    if (tsl_framing_validate(&f) != 0)
        abort();
    for (i = 0; i < 4; i++)
        chunks[i] = 1 + data[7 + i];
    data += 11;
    size -= 11;
    if (ff_rerun(&f, data, size, NULL, 0, &whole) != 0 ||
        ff_rerun(&f, data, size, one, 1, &bytes) != 0 ||
        ff_rerun(&f, data, size, chunks, 4, &chunked) != 0)
        abort(); /* out of memory in the harness */
    none = f.kind == TSL_FRAMING_NONE;
    if (whole.stuck || bytes.stuck || chunked.stuck)
        abort();
    if (none) {
        if (whole.datalen != size || bytes.datalen != size ||
            chunked.datalen != size ||
            (size > 0 && (memcmp(whole.data, bytes.data, size) != 0 ||
                          memcmp(whole.data, chunked.data, size) != 0)))
            abort();
    } else if (!ff_same(&whole, &bytes) || !ff_same(&whole, &chunked)) {
        abort();
    }
    if (f.kind == TSL_FRAMING_VARIABLE && whole.maxlen > f.max_frame)
        abort();
    if (f.kind == TSL_FRAMING_DELIMITER && whole.maxlen > f.max_frame)
        abort();
    if (f.kind == TSL_FRAMING_FIXED && whole.nmsg != size / f.fixed_size &&
        whole.error == 0)
        abort();
    return 0;
}

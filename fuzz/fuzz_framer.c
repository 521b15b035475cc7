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
    struct ff_result whole, bytes, chunked;
    tsl_framing_t f;
    size_t chunks[4], i;
    int none;

    if (size < 11)
        return 0;
    pick(data, &f);
    if (tsl_framing_validate(&f) != 0)
        abort();
    for (i = 0; i < 4; i++)
        chunks[i] = 1 + data[7 + i];
    data += 11;
    size -= 11;
    if (ff_run(&f, data, size, NULL, 0, &whole) != 0 ||
        ff_run(&f, data, size, one, 1, &bytes) != 0 ||
        ff_run(&f, data, size, chunks, 4, &chunked) != 0)
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
    ff_free(&whole);
    ff_free(&bytes);
    ff_free(&chunked);
    return 0;
}

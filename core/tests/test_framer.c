/*
 * test_framer.c - every framer under every chunking, the protocol errors
 * the course's code got wrong, and the framing spec parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "framefeed.h"
#include "testutil.h"
#include "tsl_framer.h"

/* A growable byte string. */
struct bytes {
    uint8_t *p;
    size_t n;
};

static void
put(struct bytes *b, const void *d, size_t n)
{
    b->p = realloc(b->p, b->n + n + 1);
    assert_non_null(b->p);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

/* Appends the frame carrying payload; *delivered gets what the app sees. */
static void
encode(const tsl_framing_t *f, const uint8_t *pl, size_t n, struct bytes *wire,
       struct bytes *delivered)
{
    uint8_t hdr[4];
    size_t w = f->hdr_width, i;
    uint64_t len;

    switch (f->kind) {
    case TSL_FRAMING_VARIABLE:
        len = f->len_exclusive ? n : n + w;
        for (i = 0; i < w; i++) {
            size_t k = f->big_endian ? w - 1 - i : i;
            hdr[k] = (uint8_t)(len >> (8 * i));
        }
        put(wire, hdr, w);
        put(wire, pl, n);
        if (!f->strip_header)
            put(delivered, hdr, w);
        put(delivered, pl, n);
        break;
    case TSL_FRAMING_DELIMITER:
        put(wire, pl, n);
        put(wire, f->delim, f->delim_len);
        put(delivered, pl, n);
        break;
    default:
        put(wire, pl, n);
        put(delivered, pl, n);
    }
}

static const size_t one_byte[] = {1};
static const size_t odd_chunks[] = {3, 1, 7, 2, 64, 5, 1, 1, 13};

/* Feeds wire whole, byte by byte and in odd chunks; all must agree. */
static void
feed_all_ways(const tsl_framing_t *f, const struct bytes *wire,
              struct ff_result *whole)
{
    struct ff_result r;

    assert_int_equal(ff_run(f, wire->p, wire->n, NULL, 0, whole), 0);
    assert_int_equal(ff_run(f, wire->p, wire->n, one_byte, 1, &r), 0);
    assert_true(ff_same(whole, &r));
    ff_free(&r);
    assert_int_equal(ff_run(f, wire->p, wire->n, odd_chunks, 9, &r), 0);
    assert_true(ff_same(whole, &r));
    ff_free(&r);
}

static void
fixed_frames_any_chunking(void **state)
{
    tsl_framing_t f;
    struct bytes wire = {0}, want = {0};
    struct ff_result r;
    int i;

    (void)state;
    tsl_framing_default(&f, TSL_FRAMING_FIXED);
    f.fixed_size = 10;
    for (i = 0; i < 5; i++)
        encode(&f, (const uint8_t *)"0123456789", 10, &wire, &want);
    put(&wire, "012", 3); /* a partial trailing message is held */
    feed_all_ways(&f, &wire, &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.nmsg, 5);
    assert_int_equal(r.datalen, 50);
    assert_memory_equal(r.data, want.p, 50);
    ff_free(&r);
    free(wire.p);
    free(want.p);
}

static void
variable_course_format_delivers_header(void **state)
{
    tsl_framing_t f;
    /* Course: 2-byte LE length counting the header: "hi" is 04 00 'h' 'i'. */
    static const uint8_t wire[] = {4, 0, 'h', 'i', 3, 0, 'x'};
    struct ff_result r;

    (void)state;
    tsl_framing_default(&f, TSL_FRAMING_VARIABLE);
    assert_int_equal(ff_run(&f, wire, sizeof(wire), one_byte, 1, &r), 0);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.nmsg, 2);
    assert_int_equal(r.lens[0], 4);
    assert_int_equal(r.lens[1], 3);
    assert_memory_equal(r.data, wire, sizeof(wire));
    ff_free(&r);
}

static void
variable_header_only_frame_is_a_keepalive(void **state)
{
    tsl_framing_t f;
    static const uint8_t wire[] = {2, 0, 2, 0, 3, 0, 'k', 2, 0};
    struct ff_result r;

    (void)state;
    tsl_framing_default(&f, TSL_FRAMING_VARIABLE);
    assert_int_equal(ff_run(&f, wire, sizeof(wire), NULL, 0, &r), 0);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.nka, 3);
    assert_int_equal(r.nmsg, 1);
    ff_free(&r);
}

/* The course looped forever on 0, desynchronised on 1 and overflowed its
 * heap on lengths above 1024: here each is a clean protocol error, or a
 * correct delivery when within the maximum. */
static void
variable_bad_lengths_are_protocol_errors(void **state)
{
    tsl_framing_t f;
    static const uint8_t zero[] = {0, 0, 'a', 'b'};
    static const uint8_t one[] = {1, 0, 'a', 'b'};
    static const uint8_t big[] = {0x01, 0x04}; /* 1025, header only so far */
    struct ff_result r;

    (void)state;
    tsl_framing_default(&f, TSL_FRAMING_VARIABLE);
    assert_int_equal(ff_run(&f, zero, sizeof(zero), NULL, 0, &r), 0);
    assert_int_equal(r.error, TSL_EPROTO);
    assert_int_equal(r.nmsg, 0);
    ff_free(&r);
    assert_int_equal(ff_run(&f, one, sizeof(one), one_byte, 1, &r), 0);
    assert_int_equal(r.error, TSL_EPROTO);
    ff_free(&r);
    /* With a 1024 maximum, 1025 is refused as soon as the header is in. */
    f.max_frame = 1024;
    assert_int_equal(ff_run(&f, big, sizeof(big), NULL, 0, &r), 0);
    assert_int_equal(r.error, TSL_EPROTO);
    ff_free(&r);
}

static void
variable_maximum_frame_is_delivered(void **state)
{
    tsl_framing_t f;
    struct bytes wire = {0}, want = {0};
    static uint8_t pl[65533];
    struct ff_result r;

    (void)state;
    memset(pl, 'z', sizeof(pl));
    tsl_framing_default(&f, TSL_FRAMING_VARIABLE);
    encode(&f, pl, sizeof(pl), &wire, &want); /* total 65535 = 0xFFFF */
    assert_int_equal(wire.p[0], 0xff);
    assert_int_equal(wire.p[1], 0xff);
    feed_all_ways(&f, &wire, &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.nmsg, 1);
    assert_int_equal(r.lens[0], 65535);
    ff_free(&r);
    free(wire.p);
    free(want.p);
}

static void
variable_options_be_exclusive_strip(void **state)
{
    tsl_framing_t f;
    /* 4-byte big-endian payload length 3, then a keepalive (length 0). */
    static const uint8_t wire[] = {0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0};
    struct ff_result r;

    (void)state;
    assert_int_equal(tsl_framing_parse("variable:hdr=4,be,exclusive,strip",
                                       &f, NULL, 0), 0);
    assert_int_equal(ff_run(&f, wire, sizeof(wire), one_byte, 1, &r), 0);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.nmsg, 1);
    assert_int_equal(r.nka, 1);
    assert_int_equal(r.lens[0], 3);
    assert_memory_equal(r.data, "abc", 3);
    ff_free(&r);
}

/* 4-byte headers, either byte order, with every byte of the length in
 * use: the largest frame there is (16 MiB, TSL_FRAME_LIMIT, only its top
 * byte set) and one of 0x00A1B2C3 bytes (each lower byte set), each
 * delivered whole; one byte over the limit is refused. */
static void
variable_4_byte_headers_use_every_byte(void **state)
{
    static const char *const specs[] = {"variable:hdr=4,be,max=16777216",
                                        "variable:hdr=4,max=16777216"};
    static const uint32_t totals[] = {0x01000000u, 0x00A1B2C3u};
    uint8_t *wire = malloc(totals[0]);
    struct ff_result r;
    tsl_framing_t f;
    int i, j, b;

    (void)state;
    assert_non_null(wire);
    for (i = 0; i < 2; i++) {
        assert_int_equal(tsl_framing_parse(specs[i], &f, NULL, 0), 0);
        for (j = 0; j < 2; j++) {
            for (b = 0; b < 4; b++) /* byte b holds bits 8b..8b+7 */
                wire[f.big_endian ? 3 - b : b] = (uint8_t)(totals[j] >> 8 * b);
            memset(wire + 4, 'm', totals[j] - 4);
            assert_int_equal(ff_run(&f, wire, totals[j], NULL, 0, &r), 0);
            assert_int_equal(r.error, 0);
            assert_int_equal(r.nmsg, 1);
            assert_int_equal(r.lens[0], totals[j]);
            ff_free(&r);
        }
        for (b = 0; b < 4; b++) /* 0x01000001 */
            wire[f.big_endian ? 3 - b : b] = (uint8_t)(0x01000001u >> 8 * b);
        assert_int_equal(ff_run(&f, wire, 4, NULL, 0, &r), 0);
        assert_int_equal(r.error, TSL_EPROTO);
        ff_free(&r);
    }
    free(wire);
}

static void
variable_exclusive_length_near_the_limit_does_not_overflow(void **state)
{
    tsl_framing_t f;
    static const uint8_t wire[] = {0xff, 0xff, 0xff, 0xff, 'a'};
    struct ff_result r;

    (void)state;
    assert_int_equal(tsl_framing_parse("variable:hdr=4,exclusive", &f, NULL,
                                       0), 0);
    assert_int_equal(ff_run(&f, wire, sizeof(wire), NULL, 0, &r), 0);
    assert_int_equal(r.error, TSL_EPROTO);
    ff_free(&r);
}

static void
delimiter_frames_and_split_delimiters(void **state)
{
    tsl_framing_t f;
    static const char wire[] = "one\r\ntwo\r\r\n\r\nthree";
    struct ff_result r;
    struct bytes w = {(uint8_t *)wire, sizeof(wire) - 1};

    (void)state;
    tsl_framing_default(&f, TSL_FRAMING_DELIMITER);
    feed_all_ways(&f, &w, &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.nmsg, 3);
    assert_int_equal(r.lens[0], 3);
    assert_int_equal(r.lens[1], 4); /* "two\r" */
    assert_int_equal(r.lens[2], 0); /* an empty line is an empty message */
    assert_memory_equal(r.data, "onetwo\r", 7);
    ff_free(&r);
}

static void
delimiter_overlong_message_is_an_error(void **state)
{
    tsl_framing_t f;
    static const char ok[] = "abcd\n";
    static const char late[] = "abcde\n";
    static const char never[] = "abcdefghijklmnop";
    struct ff_result r;

    (void)state;
    assert_int_equal(tsl_framing_parse("delimiter:lf,max=4", &f, NULL, 0), 0);
    assert_int_equal(ff_run(&f, (const uint8_t *)ok, 5, one_byte, 1, &r), 0);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.nmsg, 1);
    ff_free(&r);
    assert_int_equal(ff_run(&f, (const uint8_t *)late, 6, NULL, 0, &r), 0);
    assert_int_equal(r.error, TSL_EPROTO);
    ff_free(&r);
    assert_int_equal(ff_run(&f, (const uint8_t *)late, 6, one_byte, 1, &r),
                     0);
    assert_int_equal(r.error, TSL_EPROTO);
    ff_free(&r);
    assert_int_equal(ff_run(&f, (const uint8_t *)never, 16, one_byte, 1, &r),
                     0);
    assert_int_equal(r.error, TSL_EPROTO);
    assert_int_equal(r.stuck, 0);
    ff_free(&r);
}

/* tsl_framing_encode writes the header and the message and not a byte
 * around them, even into a buffer of exactly the frame's size (guard
 * bytes on both sides), for every header width and byte order; the parsed
 * options are the values documented (1 for a flag that is set). */
static void
encode_writes_exactly_the_frame(void **state)
{
    static const char *const specs[] = {
        "variable:hdr=1,strip", "variable:hdr=2,strip", "variable:hdr=4,strip",
        "variable:hdr=2,be,strip", "variable:hdr=4,be,exclusive,strip",
    };
    size_t i, len;

    (void)state;
    for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        tsl_framing_t f;
        uint8_t buf[16];
        assert_int_equal(tsl_framing_parse(specs[i], &f, NULL, 0), 0);
        assert_int_equal(f.strip_header, 1);
        for (len = 0; len <= 3; len++) {
            size_t w = f.hdr_width, total = w + len, k;
            memset(buf, 0xAA, sizeof(buf));
            assert_int_equal(tsl_framing_encode(&f, "xyz", len, buf + 4,
                                                total),
                             (long)total);
            for (k = 0; k < 4; k++)
                assert_int_equal(buf[k], 0xAA);
            for (k = 4 + total; k < sizeof(buf); k++)
                assert_int_equal(buf[k], 0xAA);
            assert_memory_equal(buf + 4 + w, "xyz", len);
        }
    }
    {
        tsl_framing_t f;
        assert_int_equal(tsl_framing_parse("variable:be,exclusive", &f, NULL, 0),
                         0);
        assert_int_equal(f.big_endian, 1);
        assert_int_equal(f.len_exclusive, 1);
        assert_int_equal(f.strip_header, 0);
    }
}

/* Hex delimiters give exactly the bytes written, both nibbles, any case
 * (a round trip through the same parse would hide a wrong one). */
static void
hex_delimiters_are_the_bytes_written(void **state)
{
    static const struct {
        const char *spec;
        uint8_t len, bytes[8];
    } cases[] = {
        {"delimiter:0D0a", 2, {0x0d, 0x0a}},
        {"delimiter:ff00A5", 3, {0xff, 0x00, 0xa5}},
        {"delimiter:7f80", 2, {0x7f, 0x80}},
        {"delimiter:0123456789abcdef", 8,
         {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}},
        {"delimiter:crlf", 2, {'\r', '\n'}},
        {"delimiter:lf", 1, {'\n'}},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tsl_framing_t f;
        assert_int_equal(tsl_framing_parse(cases[i].spec, &f, NULL, 0), 0);
        assert_int_equal(f.kind, TSL_FRAMING_DELIMITER);
        assert_int_equal(f.delim_len, cases[i].len);
        assert_memory_equal(f.delim, cases[i].bytes, cases[i].len);
    }
}

/* Property: seeded random message lists under seeded random chunkings
 * reassemble to exactly the messages sent, in order, for every framing. */
static void
random_messages_reassemble_exactly(void **state)
{
    static const char *const specs[] = {
        "fixed:1", "fixed:7", "variable", "variable:hdr=1",
        "variable:hdr=4,be,exclusive,strip", "variable:hdr=2,be,strip,max=300",
        "delimiter:crlf", "delimiter:0a,max=100", "delimiter:abcdab",
    };
    uint64_t seed = tu_seed(42), st = seed;
    size_t s, round;

    (void)state;
    for (s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
        tsl_framing_t f;
        assert_int_equal(tsl_framing_parse(specs[s], &f, NULL, 0), 0);
        for (round = 0; round < 30; round++) {
            struct bytes wire = {0}, want = {0};
            size_t chunks[32], nmsg = tu_range(&st, 0, 40), i, k;
            struct ff_result r;
            size_t maxpl = f.kind == TSL_FRAMING_FIXED ? f.fixed_size
                           : f.kind == TSL_FRAMING_VARIABLE
                               ? f.max_frame - f.hdr_width
                               : f.max_frame;
            if (maxpl > 300)
                maxpl = 300;
            for (i = 0; i < nmsg; i++) {
                uint8_t pl[300];
                size_t n = f.kind == TSL_FRAMING_FIXED
                               ? f.fixed_size
                               : (size_t)tu_range(&st, 0, maxpl);
                if (f.kind == TSL_FRAMING_VARIABLE && n == 0)
                    n = 1; /* empty payloads are keepalives */
                for (k = 0; k < n; k++) {
                    pl[k] = (uint8_t)tu_next(&st);
                    if (f.kind == TSL_FRAMING_DELIMITER && pl[k] == f.delim[0])
                        pl[k] ^= 0x80;
                }
                encode(&f, pl, n, &wire, &want);
            }
            for (k = 0; k < 32; k++)
                chunks[k] = (size_t)tu_range(&st, 1, 97);
            assert_int_equal(ff_run(&f, wire.p, wire.n, chunks, 32, &r), 0);
            if (r.error != 0 || r.stuck || r.nmsg != nmsg ||
                r.datalen != want.n ||
                (want.n && memcmp(r.data, want.p, want.n) != 0))
                fail_msg("framing %s round %zu: %zu of %zu messages, "
                         "error %d; seed %llu, replay: TSL_SEED=%llu",
                         specs[s], round, r.nmsg, nmsg, r.error,
                         (unsigned long long)seed, (unsigned long long)seed);
            ff_free(&r);
            free(wire.p);
            free(want.p);
        }
    }
}

static void
spec_parser_accepts_and_rejects(void **state)
{
    static const char *const good[] = {
        "none", "fixed:1", "fixed:65535", "variable", "variable:le",
        "variable:hdr=1,max=255", "variable:hdr=4,be,exclusive,keep,max=9",
        "delimiter:crlf", "delimiter:lf,max=1", "delimiter:0D0a",
        "delimiter:0102030405060708,max=16777216",
    };
    static const char *const bad[] = {
        "", "None", "fixed", "fixed:", "fixed:0", "fixed:65536", "fixed:-1",
        "fixed:1x", "variable:", "variable:hdr=3", "variable:hdr=0",
        "variable:hdr=8", "variable:max=0", "variable:max=16777217",
        "variable:hdr=4,max=3", "variable:be,", "variable:wat",
        "delimiter:", "delimiter:0", "delimiter:zz", "delimiter:crlf,max=0",
        "delimiter:crlf,maxi=3", "delimiter:010203040506070809",
        "delimiter:lf,", "fixed:99999999999",
    };
    tsl_framing_t f;
    char err[200];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (tsl_framing_parse(good[i], &f, err, sizeof(err)) != 0)
            fail_msg("'%s' refused: %s", good[i], err);
        assert_int_equal(tsl_framing_validate(&f), 0);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (tsl_framing_parse(bad[i], &f, err, sizeof(err)) != TSL_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(tsl_framing_parse(NULL, &f, NULL, 0), TSL_EINVAL);
    assert_int_equal(tsl_framing_validate(NULL), TSL_EINVAL);
}

static void
buffer_sizes_cover_the_largest_frame(void **state)
{
    tsl_framing_t f;

    (void)state;
    assert_int_equal(tsl_framing_parse("fixed:9", &f, NULL, 0), 0);
    assert_int_equal(tsl__framer_bufsize(&f), 9);
    assert_int_equal(tsl_framing_parse("variable", &f, NULL, 0), 0);
    assert_int_equal(tsl__framer_bufsize(&f), 65535);
    assert_int_equal(tsl_framing_parse("variable:exclusive", &f, NULL, 0), 0);
    assert_int_equal(f.max_frame, 65537);
    assert_int_equal(tsl_framing_parse("delimiter:crlf,max=10", &f, NULL, 0),
                     0);
    assert_int_equal(tsl__framer_bufsize(&f), 12);
    assert_int_equal(tsl_framing_parse("none", &f, NULL, 0), 0);
    assert_int_equal(tsl__framer_bufsize(&f), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixed_frames_any_chunking),
        cmocka_unit_test(variable_course_format_delivers_header),
        cmocka_unit_test(variable_header_only_frame_is_a_keepalive),
        cmocka_unit_test(variable_bad_lengths_are_protocol_errors),
        cmocka_unit_test(variable_maximum_frame_is_delivered),
        cmocka_unit_test(variable_options_be_exclusive_strip),
        cmocka_unit_test(variable_exclusive_length_near_the_limit_does_not_overflow),
        cmocka_unit_test(variable_4_byte_headers_use_every_byte),
        cmocka_unit_test(delimiter_frames_and_split_delimiters),
        cmocka_unit_test(delimiter_overlong_message_is_an_error),
        cmocka_unit_test(hex_delimiters_are_the_bytes_written),
        cmocka_unit_test(encode_writes_exactly_the_frame),
        cmocka_unit_test(random_messages_reassemble_exactly),
        cmocka_unit_test(spec_parser_accepts_and_rejects),
        cmocka_unit_test(buffer_sizes_cover_the_largest_frame),
    };
    return cmocka_run_group_tests_name("framer", tests, NULL, NULL);
}

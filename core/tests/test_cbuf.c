/* test_cbuf.c - the byte circular buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "tsl_cbuf.h"

static void
empty_buffer_has_no_storage_and_no_spans(void **state)
{
    struct tsl_cbuf cb;
    struct tsl_span sp[2];
    uint8_t b;

    (void)state;
    tsl__cbuf_init(&cb, 8);
    assert_null(cb.m);
    assert_int_equal(tsl__cbuf_size(&cb), 0);
    assert_int_equal(tsl__cbuf_free(&cb), 8);
    assert_int_equal(tsl__cbuf_spans(&cb, sp), 0);
    assert_int_equal(tsl__cbuf_peek(&cb, 0, &b, 1), 0);
    tsl__cbuf_fini(&cb);
}

static void
write_is_all_or_nothing(void **state)
{
    struct tsl_cbuf cb;

    (void)state;
    tsl__cbuf_init(&cb, 8);
    assert_int_equal(tsl__cbuf_write(&cb, "abcdef", 6), 6);
    assert_int_equal(tsl__cbuf_write(&cb, "xyz", 3), 0);
    assert_int_equal(tsl__cbuf_size(&cb), 6);
    assert_int_equal(tsl__cbuf_write(&cb, "gh", 2), 2);
    assert_int_equal(tsl__cbuf_free(&cb), 0);
    assert_int_equal(tsl__cbuf_write(&cb, "i", 1), 0);
    assert_int_equal(tsl__cbuf_write(&cb, "", 0), 0);
    tsl__cbuf_fini(&cb);
}

static void
wraps_around_and_splits_spans(void **state)
{
    struct tsl_cbuf cb;
    struct tsl_span sp[2];
    char out[8];

    (void)state;
    tsl__cbuf_init(&cb, 8);
    assert_int_equal(tsl__cbuf_write(&cb, "abcdef", 6), 6);
    tsl__cbuf_consume(&cb, 4);               /* "ef" at 4..5 */
    assert_int_equal(tsl__cbuf_write(&cb, "ghijk", 5), 5); /* wraps */
    assert_int_equal(tsl__cbuf_size(&cb), 7);
    assert_int_equal(tsl__cbuf_spans(&cb, sp), 2);
    assert_int_equal(sp[0].n, 4);            /* e f g h */
    assert_int_equal(sp[1].n, 3);            /* i j k */
    assert_memory_equal(sp[0].p, "efgh", 4);
    assert_memory_equal(sp[1].p, "ijk", 3);
    assert_int_equal(tsl__cbuf_peek(&cb, 2, out, 4), 4);
    assert_memory_equal(out, "ghij", 4);     /* across the seam */
    assert_int_equal(tsl__span_byte(sp, 4), 'i');
    assert_int_equal(tsl__cbuf_peek(&cb, 5, out, 3), 0); /* past the end */
    tsl__cbuf_consume(&cb, 7);
    assert_int_equal(tsl__cbuf_size(&cb), 0);
    assert_int_equal(cb.m->head, 0);            /* emptied ring restarts */
    tsl__cbuf_fini(&cb);
}

static void
free_spans_cover_exactly_the_free_space(void **state)
{
    struct tsl_cbuf cb;
    uint8_t *p[2];
    size_t n[2];
    size_t head, len;

    (void)state;
    /* Every (head, len) position of an 8-byte ring. */
    for (head = 0; head < 8; head++) {
        for (len = 0; len <= 8; len++) {
            tsl__cbuf_init(&cb, 8);
            assert_int_equal(tsl__cbuf_write(&cb, "01234567", 8), 8);
            tsl__cbuf_consume(&cb, 8);
            cb.m->head = head;
            cb.m->len = len;
            int k = tsl__cbuf_free_spans(&cb, p, n);
            assert_int_equal(n[0] + n[1], 8 - len);
            assert_int_equal(k, (n[0] > 0) + (n[1] > 0));
            if (n[0] > 0)
                assert_ptr_equal(p[0], cb.m->buf + (head + len) % 8);
            if (n[1] > 0)
                assert_ptr_equal(p[1], cb.m->buf);
            tsl__cbuf_fini(&cb);
        }
    }
}

static void
release_frees_only_when_empty(void **state)
{
    struct tsl_cbuf cb;

    (void)state;
    tsl__cbuf_init(&cb, 16);
    assert_int_equal(tsl__cbuf_write(&cb, "ab", 2), 2);
    tsl__cbuf_release(&cb);
    assert_non_null(cb.m);
    tsl__cbuf_consume(&cb, 2);
    tsl__cbuf_release(&cb);
    assert_null(cb.m);
    tsl__cbuf_fini(&cb);
}

/* Random operations against a trivial linear model. */
static void
matches_a_linear_model(void **state)
{
    uint64_t seed = tu_seed(1), st = seed;
    uint8_t model[64], tmp[64];
    size_t mlen = 0;
    struct tsl_cbuf cb;
    int i;

    (void)state;
    tsl__cbuf_init(&cb, 37);
    for (i = 0; i < 20000; i++) {
        size_t n = (size_t)tu_range(&st, 0, 40);
        switch (tu_next(&st) % 3) {
        case 0: {
            uint8_t in[40];
            size_t k;
            long r;
            for (k = 0; k < n; k++)
                in[k] = (uint8_t)tu_next(&st);
            r = tsl__cbuf_write(&cb, in, n);
            if (n > 0 && mlen + n <= 37) {
                if (r != (long)n)
                    fail_msg("write refused, seed %llu; replay: TSL_SEED=%llu",
                             (unsigned long long)seed,
                             (unsigned long long)seed);
                memcpy(model + mlen, in, n);
                mlen += n;
            } else if (r != 0) {
                fail_msg("write accepted, seed %llu", (unsigned long long)seed);
            }
            break;
        }
        case 1:
            if (n > mlen)
                n = mlen;
            tsl__cbuf_consume(&cb, n);
            memmove(model, model + n, mlen - n);
            mlen -= n;
            break;
        default:
            assert_int_equal(tsl__cbuf_size(&cb), mlen);
            if (mlen > 0) {
                assert_int_equal(tsl__cbuf_peek(&cb, 0, tmp, mlen), mlen);
                if (memcmp(tmp, model, mlen) != 0)
                    fail_msg("content differs, seed %llu; replay: TSL_SEED=%llu",
                             (unsigned long long)seed,
                             (unsigned long long)seed);
            }
            tsl__cbuf_release(&cb);
        }
    }
    tsl__cbuf_fini(&cb);
}

/* A large ring allocates what it holds, not its capacity, and keeps the
 * bytes in order across growth from a wrapped state. */
static void
grows_with_what_it_holds(void **state)
{
    static uint8_t in[40000], out[40000];
    struct tsl_cbuf cb;
    uint8_t *p[2];
    size_t n[2], i;

    (void)state;
    for (i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 13 + 7);
    tsl__cbuf_init(&cb, 16u << 20);
    assert_int_equal(tsl__cbuf_write(&cb, in, 100), 100);
    assert_true(tsl__cbuf_storage(&cb) <= 4096);            /* not 16 MiB */
    assert_int_equal(tsl__cbuf_write(&cb, in + 100, 2900), 2900);
    tsl__cbuf_consume(&cb, 1000);            /* head 1000, len 2000 */
    /* 3000 more: past the end of 4096 and past its size: it grows. */
    assert_int_equal(tsl__cbuf_write(&cb, in + 3000, 3000), 3000);
    assert_true(tsl__cbuf_storage(&cb) >= 5000 && tsl__cbuf_storage(&cb) <= 8192);
    assert_int_equal(tsl__cbuf_peek(&cb, 0, out, 5000), 5000);
    assert_memory_equal(out, in + 1000, 5000);
    /* A reader always gets room for a good read. */
    assert_true(tsl__cbuf_free_spans(&cb, p, n) > 0);
    assert_true(n[0] + n[1] >= TSL_CBUF_ROOM);
    tsl__cbuf_fini(&cb);

    /* Growth stops at the capacity, and then the spans cover it all. */
    tsl__cbuf_init(&cb, 10000);
    assert_int_equal(tsl__cbuf_write(&cb, in, 9000), 9000);
    assert_int_equal(tsl__cbuf_storage(&cb), 10000);
    assert_int_equal(tsl__cbuf_write(&cb, in, 1001), 0);
    assert_true(tsl__cbuf_free_spans(&cb, p, n) > 0);
    assert_int_equal(n[0] + n[1], 1000);
    tsl__cbuf_consume(&cb, 9000);
    tsl__cbuf_fini(&cb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_buffer_has_no_storage_and_no_spans),
        cmocka_unit_test(write_is_all_or_nothing),
        cmocka_unit_test(wraps_around_and_splits_spans),
        cmocka_unit_test(free_spans_cover_exactly_the_free_space),
        cmocka_unit_test(release_frees_only_when_empty),
        cmocka_unit_test(matches_a_linear_model),
        cmocka_unit_test(grows_with_what_it_holds),
    };
    return cmocka_run_group_tests_name("cbuf", tests, NULL, NULL);
}

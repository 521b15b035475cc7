/*
 * testutil.h - seeded randomness for tests.  Every randomised test takes
 * its seed from TSL_SEED if set, else a fixed default, and names the seed
 * and a replay command in its failure message.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdint.h>
#include <stdlib.h>

static inline uint64_t
tu_seed(uint64_t dflt)
{
    const char *s = getenv("TSL_SEED");

    return s != NULL && *s != '\0' ? strtoull(s, NULL, 0) : dflt;
}

/* splitmix64: small, fast, and fully determined by its state. */
static inline uint64_t
tu_next(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline uint64_t
tu_range(uint64_t *st, uint64_t lo, uint64_t hi)
{
    return lo + tu_next(st) % (hi - lo + 1);
}

#endif

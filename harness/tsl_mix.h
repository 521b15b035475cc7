/*
 * tsl_mix.h - splitmix64's finaliser: the one mixing function the harness
 * derives all its seeded choices from (the fault engine's per-connection
 * generators, tsl_peer's messages), so that a seed means the same thing
 * everywhere.  Pure.
 */
#ifndef TSL_MIX_H
#define TSL_MIX_H

#include <stdint.h>

static inline uint64_t
tsl_mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif

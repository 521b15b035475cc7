/*
 * fuzz_framing_spec.c - libFuzzer target for the framing spec parser
 * (tsl-echo --framing, the CLI's framing command).  Invariants: no crash
 * on any text; an accepted spec validates and needs a buffer within the
 * limit; a refused one always says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsl_framer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tsl_framing_t f;
    char err[160], *s;
    int r;

    s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    err[0] = '\0';
    r = tsl_framing_parse(s, &f, err, sizeof(err));
    if (r == 0) {
        if (tsl_framing_validate(&f) != 0 ||
            tsl__framer_bufsize(&f) > TSL_FRAME_LIMIT + TSL_DELIM_MAX)
            abort();
    } else if (r != TSL_EINVAL || err[0] == '\0' ||
               strlen(err) >= sizeof(err)) {
        abort();
    }
    free(s);
    return 0;
}

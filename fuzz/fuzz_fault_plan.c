/*
 * fuzz_fault_plan.c - libFuzzer target for the fault plan parser.
 * Invariants: no crash on any text; a refused plan says why; an accepted
 * plan's canonical form parses back to exactly the same plan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsl_fault_plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tsl_fault_plan p, q;
    char err[256], text[2048], *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    err[0] = '\0';
    if (tsl_fault_plan_parse(s, &p, err, sizeof(err)) == 0) {
        int n = tsl_fault_plan_format(&p, text, sizeof(text));
        if (n < 0 || (size_t)n >= sizeof(text))
            abort();
        if (tsl_fault_plan_parse(text, &q, err, sizeof(err)) != 0 ||
            memcmp(&p, &q, sizeof(p)) != 0)
            abort();
    } else if (err[0] == '\0') {
        abort();
    }
    free(s);
    return 0;
}

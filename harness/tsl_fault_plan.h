/*
 * tsl_fault_plan.h - fault plans: what goes wrong, where, and the seed.
 *
 * A plan is a short text, e.g. "split=1..3,coalesce=64,fin_loss@conn=2,
 * seed=42": comma-separated items `key[=value][@conn=N]`.  The full
 * syntax is in docs/fault-injection.md.  Parsing is strict: an unknown
 * key, a malformed number, an empty range or a repeated item is an error
 * with a one-line reason.  Pure; any thread.
 */
#ifndef TSL_FAULT_PLAN_H
#define TSL_FAULT_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define TSL_FAULT_MAX_RULES 32

#define TSL_FAULT_KINDS(X)                                                    \
    X(SPLIT, "split")             /* receive at most a..b bytes */            \
    X(SHORT, "short")             /* send at most a..b bytes */               \
    X(COALESCE, "coalesce")       /* hold received bytes until a buffered */  \
    X(DELAY, "delay")             /* hold received bytes a ms */              \
    X(EINTR_, "eintr")            /* a% of I/O calls fail with EINTR */       \
    X(EAGAIN_, "eagain")          /* a% of I/O calls fail with EAGAIN */      \
    X(FIN_LOSS, "fin_loss")       /* after a bytes in, EOF never shows */     \
    X(CRASH_SILENT, "crash_silent") /* after a bytes in, all goes quiet */    \
    X(CRASH_RESET, "crash_reset") /* after a bytes in, ECONNRESET */          \
    X(ACCEPT_FAIL, "accept_fail") /* accepts a..b fail with errno c */        \
    X(FAIL, "fail")               /* socket call number a fails (torture) */  \
    X(FAIL_FROM, "fail_from")     /* every socket call from number a fails */ \
    X(SIDE, "side")               /* which sockets: a = TSL_FAULT_SIDE_* */   \
    X(JITTER, "jitter")           /* delay: plus 0..a ms, seeded */           \
    X(BANDWIDTH, "bandwidth")     /* proxy: a bytes per second */             \
    X(SLOW_CLOSE, "slow_close")   /* proxy: a FIN goes on a ms late */

enum tsl_fault_kind {
#define TSL_X(name, text) TSL_FAULT_##name,
    TSL_FAULT_KINDS(TSL_X)
#undef TSL_X
    TSL_FAULT_KIND_COUNT
};

/* side=accept (the default), side=connect, side=both: which sockets are
 * connections of the plan. */
#define TSL_FAULT_SIDE_ACCEPT 1u
#define TSL_FAULT_SIDE_CONNECT 2u
#define TSL_FAULT_SIDE_BOTH 3u

struct tsl_fault_rule {
    enum tsl_fault_kind kind;
    uint32_t a, b;     /* value or range (a == b for a single value) */
    int err;           /* ACCEPT_FAIL: the errno */
    uint32_t conn;     /* 0: every connection; N: the N-th accepted */
};

struct tsl_fault_plan {
    uint64_t seed;
    int nrules;
    struct tsl_fault_rule rules[TSL_FAULT_MAX_RULES];
};

/* Parses text into *out.  0, or -1 with a one-line reason in err. */
int tsl_fault_plan_parse(const char *text, struct tsl_fault_plan *out,
                         char *err, size_t errlen);
/* The canonical text of a plan (parses back to the same plan); returns
 * the length it needs, like snprintf. */
int tsl_fault_plan_format(const struct tsl_fault_plan *p, char *buf,
                          size_t len);
/* The rule of `kind` that applies to connection conn, or NULL. */
const struct tsl_fault_rule *
tsl_fault_plan_find(const struct tsl_fault_plan *p, enum tsl_fault_kind kind,
                    uint32_t conn);

#endif

/*
 * tsl_error.c - text forms of error codes, disconnect reasons and reject
 * reasons, all generated from the X-macro tables in tsl.h so that names and
 * strings cannot drift apart.  Also the internal assertion, clocks and
 * what a thread is (its name, the server it works for).  Pure; any thread.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tsl_internal.h"
#include "tsl_sys.h"

/* Set by each thread of a server while it runs (acceptor, receivers,
 * connectors, stopper); the controller reads it to tell its own threads
 * from the application's. */
_Thread_local struct tsl_server *tsl__tls_server;

const char *
tsl_strerror(int code)
{
    switch (code) {
#define TSL_X(name, val, text) \
    case (val):                \
        return text;
        TSL_ERRNO_MAP(TSL_X)
#undef TSL_X
    case 0:
        return "success";
    default:
        return "unknown error";
    }
}

static const char *const reason_names[] = {
#define TSL_X(name, text) text,
    TSL_REASON_MAP(TSL_X)
#undef TSL_X
};

static const char *const reject_names[] = {
#define TSL_X(name, text) text,
    TSL_REJECT_MAP(TSL_X)
#undef TSL_X
};

const char *
tsl_reason_name(tsl_reason_t reason)
{
    if ((unsigned)reason >= TSL_REASON_COUNT)
        return "unknown";
    return reason_names[reason];
}

const char *
tsl_reject_name(tsl_reject_t reject)
{
    if ((unsigned)reject >= TSL_REJECT_COUNT)
        return "unknown";
    return reject_names[reject];
}

void
tsl__assert_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "tcpserverlib: internal assertion failed: %s (%s:%d)\n",
            what, file, line);
    abort();
}

static int64_t
clock_ms(clockid_t id)
{
    struct timespec ts;

    tsl__sys->clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
tsl__now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t
tsl__wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

void
tsl__thread_name(const char *name)
{
    /* Linux only, and cosmetic: shows in top -H, gdb and /proc. */
#ifdef __linux__
    pthread_setname_np(pthread_self(), name);
#else
    (void)name;
#endif
}

int
tsl__errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

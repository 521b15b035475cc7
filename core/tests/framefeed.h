/*
 * framefeed.h - drives a framer the way the receiver does: bytes arrive in
 * chunks, each read takes what fits in the ring's free space, then every
 * whole frame is taken out.  Shared by the framer unit tests and the
 * framer fuzzer, whose oracle compares a whole feed with a chunked one.
 */
#ifndef FRAMEFEED_H
#define FRAMEFEED_H

#include <stddef.h>
#include <stdint.h>

#include "tsl.h"

struct ff_result {
    int error;          /* 0, or the framer's negative code */
    int stuck;          /* no progress possible: a framer bug */
    size_t nmsg, nka;
    uint8_t *data;      /* delivered messages, concatenated */
    size_t datalen;
    size_t *lens;       /* length of each message */
    size_t maxlen;      /* longest message delivered */
    size_t datacap, lenscap; /* storage of data and lens (grows 2x) */
};

/* Feeds data[0..len) split at the chunk sizes given (cycled; a 0 entry is
 * treated as 1; nchunks 0 means all at once).  Returns 0 or -ENOMEM. */
int ff_run(const tsl_framing_t *f, const uint8_t *data, size_t len,
           const size_t *chunks, size_t nchunks, struct ff_result *out);
/* ff_run into a result that an earlier ff_run or ff_rerun filled (or one
 * zeroed): its storage is reused.  Free it with ff_free in the end. */
int ff_rerun(const tsl_framing_t *f, const uint8_t *data, size_t len,
             const size_t *chunks, size_t nchunks, struct ff_result *out);
void ff_free(struct ff_result *r);
/* 1 if both saw the same messages, keepalives and error. */
int ff_same(const struct ff_result *a, const struct ff_result *b);

#endif

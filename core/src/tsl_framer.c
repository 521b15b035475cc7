/*
 * tsl_framer.c - framer interface and framing specs.
 *
 * Dispatches to the sibling framers (none, fixed, var, delim), gives the defaults
 * of each kind, validates configurations and parses the text specs used by
 * tsl-echo --framing and the CLI.  Pure functions, any thread.
 */
#include "tsl_framer.h"
#include "tsl_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
tsl_framing_default(tsl_framing_t *out, tsl_framing_kind_t kind)
{
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    switch (kind) {
    case TSL_FRAMING_FIXED:
        out->fixed_size = 1;
        break;
    case TSL_FRAMING_VARIABLE:
        out->hdr_width = 2;
        out->max_frame = 65535;
        break;
    case TSL_FRAMING_DELIMITER:
        out->delim[0] = '\r';
        out->delim[1] = '\n';
        out->delim_len = 2;
        out->max_frame = 65535;
        break;
    case TSL_FRAMING_NONE:
    default:
        break;
    }
}

int
tsl_framing_validate(const tsl_framing_t *f)
{
    if (f == NULL)
        return TSL_EINVAL;
    switch (f->kind) {
    case TSL_FRAMING_NONE:
        return 0;
    case TSL_FRAMING_FIXED:
        return f->fixed_size >= 1 && f->fixed_size <= 65535 ? 0 : TSL_EINVAL;
    case TSL_FRAMING_VARIABLE:
        if (f->hdr_width != 1 && f->hdr_width != 2 && f->hdr_width != 4)
            return TSL_EINVAL;
        if (f->max_frame < f->hdr_width || f->max_frame > TSL_FRAME_LIMIT)
            return TSL_EINVAL;
        return 0;
    case TSL_FRAMING_DELIMITER:
        if (f->delim_len < 1 || f->delim_len > TSL_DELIM_MAX)
            return TSL_EINVAL;
        if (f->max_frame < 1 || f->max_frame > TSL_FRAME_LIMIT)
            return TSL_EINVAL;
        return 0;
    }
    return TSL_EINVAL;
}

size_t
tsl__framer_bufsize(const tsl_framing_t *f)
{
    switch (f->kind) {
    case TSL_FRAMING_FIXED:
        return f->fixed_size;
    case TSL_FRAMING_VARIABLE:
        return f->max_frame;
    case TSL_FRAMING_DELIMITER:
        return (size_t)f->max_frame + f->delim_len;
    case TSL_FRAMING_NONE:
    default:
        return 0;
    }
}

long
tsl_framing_encode(const tsl_framing_t *f, const void *msg, size_t len,
                   uint8_t *out, size_t cap)
{
    size_t w = f->hdr_width, i, total, extra = 0;

    switch (f->kind) {
    case TSL_FRAMING_FIXED:
        if (len != f->fixed_size)
            return TSL_EINVAL;
        break;
    case TSL_FRAMING_DELIMITER:
        if (len > f->max_frame)
            return TSL_EINVAL;
        for (i = 0; i + f->delim_len <= len; i++)
            if (memcmp((const uint8_t *)msg + i, f->delim, f->delim_len) == 0)
                return TSL_EINVAL;
        extra = f->delim_len;
        break;
    case TSL_FRAMING_VARIABLE:
        if (!f->strip_header)
            break; /* the message carries its own header */
        total = f->len_exclusive ? len : len + w;
        if (len + w > f->max_frame ||
            (w < 4 && total >= (size_t)1 << (8 * w)) || len + w < len)
            return TSL_EINVAL;
        if (len + w > cap)
            return TSL_ENOBUFS;
        for (i = 0; i < w; i++) {
            size_t k = f->big_endian ? w - 1 - i : i;
            out[k] = (uint8_t)(total >> (8 * i));
        }
        memcpy(out + w, msg, len);
        return (long)(len + w);
    default:
        break;
    }
    if (len + extra > cap)
        return TSL_ENOBUFS;
    memcpy(out, msg, len);
    if (extra)
        memcpy(out + len, f->delim, extra);
    return (long)(len + extra);
}

size_t
tsl__framer_keepalive(const tsl_framing_t *f, uint8_t out[4])
{
    size_t w = f->hdr_width, i, len;

    if (f->kind != TSL_FRAMING_VARIABLE)
        return 0;
    len = f->len_exclusive ? 0 : w;
    for (i = 0; i < w; i++) {
        size_t k = f->big_endian ? w - 1 - i : i;
        out[k] = (uint8_t)(len >> (8 * i));
    }
    return w;
}

void
tsl__framer_init(struct tsl_framer *fr)
{
    fr->scan = 0;
}

/* ---- spec parsing ---- */

/* The framing parser's errors are TSL_EINVAL with a reason in err. */
#define fail(err, errlen, ...) (tsl__errf(err, errlen, __VA_ARGS__), TSL_EINVAL)

/* Parses a decimal in [lo, hi] from s..s+n exactly. */
static int
parse_num(const char *s, size_t n, unsigned long lo, unsigned long hi,
          unsigned long *out)
{
    unsigned long v = 0;
    size_t i;

    if (n == 0 || n > 10)
        return -1;
    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int
tok_is(const char *t, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(t, word, n) == 0;
}

static int
parse_variable_opts(const char *s, tsl_framing_t *f, char *err, size_t errlen)
{
    int max_given = 0;

    while (*s != '\0') {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        unsigned long v;

        if (tok_is(s, n, "be"))
            f->big_endian = 1;
        else if (tok_is(s, n, "le"))
            f->big_endian = 0;
        else if (tok_is(s, n, "inclusive"))
            f->len_exclusive = 0;
        else if (tok_is(s, n, "exclusive"))
            f->len_exclusive = 1;
        else if (tok_is(s, n, "keep"))
            f->strip_header = 0;
        else if (tok_is(s, n, "strip"))
            f->strip_header = 1;
        else if (n > 4 && memcmp(s, "hdr=", 4) == 0) {
            if (parse_num(s + 4, n - 4, 1, 4, &v) < 0 || v == 3)
                return fail(err, errlen,
                            "variable: hdr must be 1, 2 or 4, got '%.*s'",
                            (int)(n - 4), s + 4);
            f->hdr_width = (uint8_t)v;
        } else if (n > 4 && memcmp(s, "max=", 4) == 0) {
            if (parse_num(s + 4, n - 4, 1, TSL_FRAME_LIMIT, &v) < 0)
                return fail(err, errlen,
                            "variable: max must be 1..%u, got '%.*s'",
                            TSL_FRAME_LIMIT, (int)(n - 4), s + 4);
            f->max_frame = (uint32_t)v;
            max_given = 1;
        } else {
            return fail(err, errlen,
                        "variable: unknown option '%.*s' (expected hdr=1|2|4, "
                        "be, le, inclusive, exclusive, keep, strip, max=N)",
                        (int)n, s);
        }
        s += n;
        if (*s == ',') {
            s++;
            if (*s == '\0')
                return fail(err, errlen, "variable: trailing ','");
        }
    }
    if (!max_given) {
        /* The largest frame the header can describe, within the limit. */
        uint64_t m = f->hdr_width == 4 ? TSL_FRAME_LIMIT
                                       : (1ull << (8 * f->hdr_width)) - 1;
        if (f->len_exclusive)
            m += f->hdr_width;
        f->max_frame = (uint32_t)(m > TSL_FRAME_LIMIT ? TSL_FRAME_LIMIT : m);
    }
    if (f->max_frame < f->hdr_width)
        return fail(err, errlen, "variable: max %u is below the header size",
                    (unsigned)f->max_frame);
    return 0;
}

static int
parse_delimiter(const char *s, tsl_framing_t *f, char *err, size_t errlen)
{
    const char *comma = strchr(s, ',');
    size_t n = comma ? (size_t)(comma - s) : strlen(s);
    unsigned long v;
    size_t i;

    if (tok_is(s, n, "crlf")) {
        f->delim[0] = '\r';
        f->delim[1] = '\n';
        f->delim_len = 2;
    } else if (tok_is(s, n, "lf")) {
        f->delim[0] = '\n';
        f->delim_len = 1;
    } else {
        if (n == 0 || n % 2 != 0 || n / 2 > TSL_DELIM_MAX)
            return fail(err, errlen,
                        "delimiter: expected crlf, lf or 1..%d bytes in hex "
                        "(e.g. 0d0a), got '%.*s'",
                        TSL_DELIM_MAX, (int)n, s);
        for (i = 0; i < n; i += 2) {
            int hi = hexval(s[i]), lo = hexval(s[i + 1]);
            if (hi < 0 || lo < 0)
                return fail(err, errlen, "delimiter: '%.*s' is not hex",
                            (int)n, s);
            f->delim[i / 2] = (uint8_t)(hi << 4 | lo);
        }
        f->delim_len = (uint8_t)(n / 2);
    }
    if (comma == NULL)
        return 0;
    s = comma + 1;
    n = strlen(s);
    if (n <= 4 || memcmp(s, "max=", 4) != 0 ||
        parse_num(s + 4, n - 4, 1, TSL_FRAME_LIMIT, &v) < 0)
        return fail(err, errlen, "delimiter: expected max=1..%u, got '%s'",
                    TSL_FRAME_LIMIT, s);
    f->max_frame = (uint32_t)v;
    return 0;
}

int
tsl_framing_parse(const char *spec, tsl_framing_t *out, char *err,
                  size_t errlen)
{
    tsl_framing_t f;
    unsigned long v;
    int r;

    if (spec == NULL || out == NULL)
        return fail(err, errlen, "no framing given");
    if (strcmp(spec, "none") == 0) {
        tsl_framing_default(&f, TSL_FRAMING_NONE);
    } else if (strncmp(spec, "fixed:", 6) == 0) {
        tsl_framing_default(&f, TSL_FRAMING_FIXED);
        if (parse_num(spec + 6, strlen(spec + 6), 1, 65535, &v) < 0)
            return fail(err, errlen, "fixed: size must be 1..65535, got '%s'",
                        spec + 6);
        f.fixed_size = (uint32_t)v;
    } else if (strcmp(spec, "variable") == 0) {
        tsl_framing_default(&f, TSL_FRAMING_VARIABLE);
    } else if (strncmp(spec, "variable:", 9) == 0) {
        tsl_framing_default(&f, TSL_FRAMING_VARIABLE);
        if (spec[9] == '\0')
            return fail(err, errlen, "variable: options expected after ':'");
        r = parse_variable_opts(spec + 9, &f, err, errlen);
        if (r < 0)
            return r;
    } else if (strncmp(spec, "delimiter:", 10) == 0) {
        tsl_framing_default(&f, TSL_FRAMING_DELIMITER);
        r = parse_delimiter(spec + 10, &f, err, errlen);
        if (r < 0)
            return r;
    } else {
        return fail(err, errlen,
                    "unknown framing '%s' (expected none, fixed:N, "
                    "variable[:options] or delimiter:HEX[,max=N])",
                    spec);
    }
    if (tsl_framing_validate(&f) < 0)
        return fail(err, errlen, "framing '%s' is out of range", spec);
    *out = f;
    return 0;
}

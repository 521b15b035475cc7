/*
 * tsl_vectors.c - tsl-vectors DIR | --check DIR: the framing test vectors
 * for ports, generated from the library's own framers.
 *
 * Each vector is a byte stream cut into chunks, as a receiver would get
 * it from recv(), and what the framing makes of it: messages (with the
 * bytes delivered and where their frame starts), keepalives, the protocol
 * error and the offset of the frame that caused it, and the bytes left
 * waiting at the end.  The stimuli are written here by hand (the edge
 * cases of docs/wire-format.md) plus seeded random chunkings; the answers
 * come from tsl__framer_next(), fed chunk by chunk exactly as the
 * receive thread feeds it, so they are what tcpserverlib does, not what
 * someone believed it does.  One JSON file per framing (README.md in this
 * directory has the format).  --check regenerates them in memory and
 * fails if a checked-in file differs: a framer change that alters
 * behaviour shows up as a diff to review.  Single-threaded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsl_framer.h"

#define STREAM_CAP (200 * 1024)

/* A growing text buffer: the file being generated. */
struct text {
    char *p;
    size_t len, cap;
};

static void
put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        if (t->p == NULL)
            n = 0; /* no buffer yet: (char *)NULL + 0 is undefined */
        else {
            va_start(ap, fmt);
            n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
            va_end(ap);
        }
        if (n >= 0 && (size_t)n < t->cap - t->len)
            break;
        t->cap = t->cap ? t->cap * 2 + (size_t)n : 65536;
        if ((t->p = realloc(t->p, t->cap)) == NULL) {
            perror("tsl-vectors");
            exit(2);
        }
    }
    t->len += (size_t)n;
}

static void
put_hex(struct text *t, const uint8_t *b, size_t n)
{
    size_t i;

    put(t, "\"");
    for (i = 0; i < n; i++)
        put(t, "%02x", b[i]);
    put(t, "\"");
}

/* ---- a stimulus: the stream and its chunking ---- */

struct stim {
    uint8_t bytes[STREAM_CAP];
    size_t len;
    size_t cuts[4096]; /* chunk lengths */
    int ncuts;
};

static void
add(struct stim *s, const void *b, size_t n)
{
    if (s->len + n > STREAM_CAP) {
        fprintf(stderr, "tsl-vectors: stimulus too long\n");
        exit(2);
    }
    memcpy(s->bytes + s->len, b, n);
    s->len += n;
}

static void
addhex(struct stim *s, const char *hex)
{
    unsigned v;

    for (; hex[0] != '\0'; hex++) {
        uint8_t b;
        if (hex[0] == ' ' || hex[1] == '\0')
            continue;
        sscanf(hex++, "%2x", &v);
        b = (uint8_t)v;
        add(s, &b, 1);
    }
}

/* Chunkings: whole, byte by byte, or seeded random cuts of 1..max. */
static void
cut_whole(struct stim *s)
{
    s->ncuts = 1;
    s->cuts[0] = s->len;
}

static void
cut_bytes(struct stim *s)
{
    size_t i;

    for (i = 0; i < s->len && i < 4096; i++)
        s->cuts[i] = 1;
    s->ncuts = (int)i;
}

static void
cut_random(struct stim *s, uint64_t seed, size_t max)
{
    size_t off = 0, c;

    s->ncuts = 0;
    while (off < s->len && s->ncuts < 4095) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        c = 1 + (size_t)(seed >> 33) % max;
        if (c > s->len - off)
            c = s->len - off;
        s->cuts[s->ncuts++] = c;
        off += c;
    }
    if (off < s->len)
        s->cuts[s->ncuts++] = s->len - off;
}

/* ---- running the framer over a stimulus ---- */

/*
 * Feeds the chunks in order; after each, takes every frame the framer
 * reports, as the receiver does.  Writes the vector's JSON object.
 */
static void
vector(struct text *t, const tsl_framing_t *f, const char *name,
       const struct stim *s, bool *first)
{
    static uint8_t buf[STREAM_CAP];
    struct tsl_framer fr;
    size_t have = 0, consumed = 0, off;
    bool error = false, first_event = true;
    int i;

    tsl__framer_init(&fr);
    put(t, "%s\n    {\"name\": \"%s\",\n     \"chunks\": [", *first ? "" : ",",
        name);
    *first = false;
    for (i = 0, off = 0; i < s->ncuts; off += s->cuts[i], i++) {
        put(t, "%s", i ? ", " : "");
        put_hex(t, s->bytes + off, s->cuts[i]);
    }
    put(t, "],\n     \"expect\": [");
    for (i = 0, off = 0; i < s->ncuts && !error; off += s->cuts[i], i++) {
        memcpy(buf + have, s->bytes + off, s->cuts[i]);
        have += s->cuts[i];
        for (;;) {
            struct tsl_span sp[2] = {{buf, have}, {NULL, 0}};
            struct tsl_frame fm;
            int r = tsl__framer_next(f, &fr, sp, have, &fm);
            if (r == TSL_FRAME_NEED_MORE)
                break;
            put(t, "%s\n       ", first_event ? "" : ",");
            first_event = false;
            if (r < 0) {
                put(t, "{\"error\": \"protocol\", \"offset\": %zu}", consumed);
                error = true;
                break;
            }
            if (r == TSL_FRAME_KEEPALIVE) {
                put(t, "{\"keepalive\": true, \"offset\": %zu, "
                       "\"frame_length\": %zu}",
                    consumed, fm.total);
            } else {
                put(t, "{\"message\": ");
                put_hex(t, buf + fm.off, fm.len);
                put(t, ", \"offset\": %zu, \"frame_length\": %zu}", consumed,
                    fm.total);
            }
            memmove(buf, buf + fm.total, have - fm.total);
            have -= fm.total;
            consumed += fm.total;
        }
    }
    put(t, "],\n     \"pending_bytes\": %zu}", error ? 0 : have);
}

/* ---- the framings and their stimuli ---- */

static void
begin(struct text *t, const char *spec, const char *about)
{
    put(t, "{\"format\": \"tsl-framing-vectors/1\",\n"
           " \"framing\": \"%s\",\n"
           " \"about\": \"%s\",\n"
           " \"vectors\": [",
        spec, about);
}

static void
end(struct text *t)
{
    put(t, "\n ]}\n");
}

/* A message of n payload bytes in the default variable framing. */
static void
var_msg(struct stim *s, size_t n, uint8_t fill)
{
    uint8_t h[2] = {(uint8_t)((n + 2) & 0xff), (uint8_t)((n + 2) >> 8)};
    size_t i;

    add(s, h, 2);
    for (i = 0; i < n; i++) {
        uint8_t b = (uint8_t)(fill + i * 7);
        add(s, &b, 1);
    }
}

static void
gen_variable(struct text *t, const tsl_framing_t *f)
{
    static struct stim s;
    bool first = true;

    begin(t, "variable", "the course's framing: 2-byte little-endian length "
                         "counting the header, message delivered with it");
#define V(name, setup, cut)                                                    \
    do {                                                                       \
        memset(&s, 0, sizeof(s));                                              \
        setup;                                                                 \
        cut;                                                                   \
        vector(t, f, name, &s, &first);                                        \
    } while (0)
    V("one message", addhex(&s, "04006869"), cut_whole(&s));
    V("one message, a byte at a time", addhex(&s, "04006869"), cut_bytes(&s));
    V("three messages in one chunk", addhex(&s, "030041" "0400686905006f6b21"),
      cut_whole(&s));
    V("the header split from its payload", addhex(&s, "0600" "6c6f6e67"),
      (s.ncuts = 2, s.cuts[0] = 1, s.cuts[1] = 5));
    V("minimum frame: a 1-byte payload", addhex(&s, "030041"), cut_whole(&s));
    V("header only: a keepalive, then a message", addhex(&s, "0200" "04006869"),
      cut_whole(&s));
    V("two keepalives split across chunks", addhex(&s, "02000200"),
      cut_bytes(&s));
    V("length 0: protocol error", addhex(&s, "0000" "78797a"), cut_whole(&s));
    V("length 1: protocol error", addhex(&s, "0100" "78797a"), cut_whole(&s));
    V("a good message, then length 1", addhex(&s, "04006869" "0100"),
      cut_whole(&s));
    V("big-endian length read as little-endian: waits for 1792 bytes",
      addhex(&s, "0007" "68656c6c6f"), cut_whole(&s));
    V("incomplete at the end", addhex(&s, "04006869" "050061"),
      cut_whole(&s));
    V("large frame (4000-byte payload)", var_msg(&s, 4000, 3),
      cut_random(&s, 4, 1500));
    V("messages and keepalives, seeded random cuts",
      (var_msg(&s, 5, 1), addhex(&s, "0200"), var_msg(&s, 300, 2),
       var_msg(&s, 1, 3), addhex(&s, "0200"), var_msg(&s, 40, 4)),
      cut_random(&s, 7, 13));
#undef V
    end(t);
}

static void
gen_variable_opts(struct text *t, const tsl_framing_t *f, const char *spec)
{
    static struct stim s;
    bool first = true;

    begin(t, spec, "4-byte big-endian length of the payload only, "
                   "delivered without the header; frames up to 64 bytes");
#define V(name, setup, cut)                                                    \
    do {                                                                       \
        memset(&s, 0, sizeof(s));                                              \
        setup;                                                                 \
        cut;                                                                   \
        vector(t, f, name, &s, &first);                                        \
    } while (0)
    V("one message", addhex(&s, "00000003616263"), cut_whole(&s));
    V("one message, a byte at a time", addhex(&s, "00000003616263"),
      cut_bytes(&s));
    V("header only: a keepalive", addhex(&s, "00000000" "0000000178"),
      cut_whole(&s));
    V("largest frame allowed (60-byte payload)",
      (addhex(&s, "0000003c"), addhex(&s, "000102030405060708090a0b0c0d0e0f"
                                         "101112131415161718191a1b1c1d1e1f"
                                         "202122232425262728292a2b2c2d2e2f"
                                         "303132333435363738393a3b")),
      cut_random(&s, 3, 9));
    V("one byte over the maximum: an error as soon as the header is whole",
      addhex(&s, "0000003d" "00"), cut_bytes(&s));
    V("a length no header can mean here", addhex(&s, "ffffffff"),
      cut_whole(&s));
#undef V
    end(t);
}

static void
gen_fixed(struct text *t, const tsl_framing_t *f)
{
    static struct stim s;
    bool first = true;

    begin(t, "fixed:4", "every 4 bytes are one message");
#define V(name, setup, cut)                                                    \
    do {                                                                       \
        memset(&s, 0, sizeof(s));                                              \
        setup;                                                                 \
        cut;                                                                   \
        vector(t, f, name, &s, &first);                                        \
    } while (0)
    V("one message and one byte waiting", addhex(&s, "6162636465"),
      cut_whole(&s));
    V("a byte at a time", addhex(&s, "6162636465666768"), cut_bytes(&s));
    V("zeros are data", addhex(&s, "00000000"), cut_whole(&s));
    V("seeded random cuts",
      addhex(&s, "000102030405060708090a0b0c0d0e0f1011121314151617"),
      cut_random(&s, 11, 6));
#undef V
    end(t);
}

static void
gen_delim(struct text *t, const tsl_framing_t *f, const char *spec,
          int which)
{
    static struct stim s;
    bool first = true;

#define V(name, setup, cut)                                                    \
    do {                                                                       \
        memset(&s, 0, sizeof(s));                                              \
        setup;                                                                 \
        cut;                                                                   \
        vector(t, f, name, &s, &first);                                        \
    } while (0)
    if (which == 0) {
        begin(t, spec, "messages end at CR LF, which is not delivered; at "
                       "most 8 bytes a message");
        V("two messages; a lone CR is data", add(&s, "one\r\ntwo\r\r\n", 11),
          cut_whole(&s));
        V("the delimiter split across chunks", add(&s, "hi\r\n", 4),
          cut_bytes(&s));
        V("an empty message", add(&s, "\r\nx\r\n", 5), cut_whole(&s));
        V("a message of exactly the maximum", add(&s, "12345678\r\n", 10),
          cut_bytes(&s));
        V("one byte over the maximum, found when the delimiter is late",
          add(&s, "123456789\r\n", 11), cut_whole(&s));
        V("no delimiter within max + 2 bytes", add(&s, "0123456789ab", 12),
          cut_bytes(&s));
        V("incomplete at the end", add(&s, "ok\r\npart", 8), cut_whole(&s));
    } else {
        begin(t, spec, "messages end at the 3 bytes ab cd ab (the start of "
                       "the delimiter overlaps its end)");
        V("overlapping candidates", addhex(&s, "01abcdabcdab02abcdab"),
          cut_bytes(&s));
        V("a near miss is data", addhex(&s, "abcdacabcdab"), cut_whole(&s));
        V("seeded random cuts",
          addhex(&s, "6869abcdab" "abcdab" "7878abcd78abcdab"),
          cut_random(&s, 2, 4));
    }
#undef V
    end(t);
}

/* ---- files ---- */

struct file {
    const char *name;
    const char *spec;
    void (*gen)(struct text *, const tsl_framing_t *, const char *, int);
    int arg;
};

static void
gen_any(struct text *t, const tsl_framing_t *f, const char *spec, int arg)
{
    if (strcmp(spec, "variable") == 0)
        gen_variable(t, f);
    else if (strncmp(spec, "variable:", 9) == 0)
        gen_variable_opts(t, f, spec);
    else if (strncmp(spec, "fixed:", 6) == 0)
        gen_fixed(t, f);
    else
        gen_delim(t, f, spec, arg);
}

static const struct file files[] = {
    {"variable.json", "variable", gen_any, 0},
    {"variable-hdr4-be-exclusive-strip.json",
     "variable:hdr=4,be,exclusive,strip,max=64", gen_any, 0},
    {"fixed-4.json", "fixed:4", gen_any, 0},
    {"delimiter-crlf.json", "delimiter:crlf,max=8", gen_any, 0},
    {"delimiter-abcdab.json", "delimiter:abcdab", gen_any, 1},
};

int
main(int argc, char **argv)
{
    bool check = argc == 3 && strcmp(argv[1], "--check") == 0;
    const char *dir = check ? argv[2] : argv[1];
    size_t i;
    int bad = 0;

    if (argc != 2 && !check) {
        fprintf(stderr, "usage: tsl-vectors DIR | --check DIR\n");
        return 2;
    }
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct text t = {NULL, 0, 0};
        char path[4096], err[160];
        tsl_framing_t f;
        FILE *fp;

        if (tsl_framing_parse(files[i].spec, &f, err, sizeof(err)) < 0) {
            fprintf(stderr, "tsl-vectors: %s: %s\n", files[i].spec, err);
            return 2;
        }
        files[i].gen(&t, &f, files[i].spec, files[i].arg);
        snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
        if (check) {
            char *old = malloc(t.len + 2);
            size_t n = 0;
            if (old != NULL && (fp = fopen(path, "r")) != NULL) {
                n = fread(old, 1, t.len + 1, fp);
                fclose(fp);
            }
            if (old == NULL || n != t.len || memcmp(old, t.p, t.len) != 0) {
                fprintf(stderr,
                        "tsl-vectors: %s differs from what the framers do "
                        "now (regenerate: tsl-vectors %s)\n",
                        path, dir);
                bad = 1;
            }
            free(old);
        } else {
            if ((fp = fopen(path, "w")) == NULL ||
                fwrite(t.p, 1, t.len, fp) != t.len || fclose(fp) != 0) {
                fprintf(stderr, "tsl-vectors: cannot write %s: %s\n", path,
                        strerror(errno));
                return 2;
            }
            printf("%s\n", path);
        }
        free(t.p);
    }
    return bad;
}

/*
 * tsl_load.c - tsl-load: N concurrent clients against any server that
 * echoes in one of our framings, each sending seeded messages with the
 * chosen write chunking and verifying every echoed byte.
 *
 *   tsl-load --server IP:PORT [--clients N] [--messages M] [--batch B]
 *            [--framing SPEC] [--chunking whole|bytes|coalesce|random]
 *            [--end close|half-close|reset|none] [--seed S]
 *            [--timeout-ms T]
 *
 * Prints one line per failing client (with its seed) and a closing line
 * "tsl-load: N passed, N failed (replay: tsl-load ...)" whose command has
 * every option's value, defaults included, so that it runs the same
 * clients again.  Exit 0 if every client verified every echo, 1
 * otherwise, 2 for bad options.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsl_peer.h"

struct job {
    pthread_t t;
    char ip[32];
    uint16_t port;
    tsl_framing_t f;
    uint64_t seed;
    uint32_t messages, batch;
    enum tsl_peer_mode mode;
    int end, timeout_ms;
    int ok;
    char why[200];
};

static void *
run(void *arg)
{
    struct job *j = arg;
    struct tsl_peer p;
    uint32_t done = 0, n;

    if (tsl_peer_open(&p, j->ip, j->port, &j->f, j->seed, j->timeout_ms) < 0)
        goto fail;
    while (done < j->messages) {
        n = j->messages - done < j->batch ? j->messages - done : j->batch;
        if (tsl_peer_send(&p, n, j->mode) < 0 || tsl_peer_check(&p, n) < 0)
            goto fail;
        done += n;
    }
    if (j->end == 1) {
        tsl_peer_half_close(&p);
        if (!tsl_peer_wait_closed(&p, j->timeout_ms)) {
            snprintf(p.why, sizeof(p.why), "no close after half-close");
            goto fail;
        }
    }
    if (j->end == 2)
        tsl_peer_reset(&p);
    else
        tsl_peer_close(&p);
    j->ok = 1;
    return NULL;
fail:
    snprintf(j->why, sizeof(j->why), "%s", p.why);
    tsl_peer_close(&p);
    return NULL;
}

static int
bad(const char *msg, const char *arg)
{
    fprintf(stderr, "tsl-load: %s '%s'\n", msg, arg ? arg : "");
    fprintf(stderr, "usage: tsl-load --server IP:PORT [--clients N] "
                    "[--messages M] [--batch B] [--framing SPEC]\n"
                    "                [--chunking whole|bytes|coalesce|random] "
                    "[--end close|half-close|reset|none]\n"
                    "                [--seed S] [--timeout-ms T]\n");
    return 2;
}

static int
number(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;

    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno == 0 && *end == '\0' && end != s && s[0] != '-' &&
                   *out >= lo && *out <= hi
               ? 0
               : -1;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},
        {"clients", required_argument, NULL, 'c'},
        {"messages", required_argument, NULL, 'm'},
        {"batch", required_argument, NULL, 'b'},
        {"framing", required_argument, NULL, 'f'},
        {"chunking", required_argument, NULL, 'k'},
        {"end", required_argument, NULL, 'e'},
        {"seed", required_argument, NULL, 'S'},
        {"timeout-ms", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    unsigned long clients = 1, messages = 100, batch = 10, seed = 1,
                  timeout = 5000, v;
    struct job proto, *jobs;
    static const char *const chunk_names[] = {
        [TSL_PEER_WHOLE] = "whole", [TSL_PEER_BYTES] = "bytes",
        [TSL_PEER_COALESCE] = "coalesce", [TSL_PEER_RANDOM] = "random"};
    static const char *const end_names[] = {"close", "half-close", "reset"};
    const char *server = NULL, *framing = "variable";
    char err[160], *colon;
    int o, passed = 0, failed = 0;
    unsigned long i;

    memset(&proto, 0, sizeof(proto));
    tsl_framing_default(&proto.f, TSL_FRAMING_VARIABLE);
    proto.mode = TSL_PEER_WHOLE;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            colon = strrchr(optarg, ':');
            if (colon == NULL || (size_t)(colon - optarg) >= sizeof(proto.ip) ||
                number(colon + 1, 1, 65535, &v) < 0)
                return bad("--server: expected IP:PORT, got", optarg);
            memcpy(proto.ip, optarg, (size_t)(colon - optarg));
            proto.port = (uint16_t)v;
            server = optarg;
            break;
        case 'c':
            if (number(optarg, 1, 10000, &clients) < 0)
                return bad("--clients: expected 1..10000, got", optarg);
            break;
        case 'm':
            if (number(optarg, 0, 100000000, &messages) < 0)
                return bad("--messages: expected 0..100000000, got", optarg);
            break;
        case 'b':
            if (number(optarg, 1, 10000, &batch) < 0)
                return bad("--batch: expected 1..10000, got", optarg);
            break;
        case 'f':
            if (tsl_framing_parse(optarg, &proto.f, err, sizeof(err)) < 0)
                return bad(err, optarg);
            framing = optarg;
            break;
        case 'k':
            if (strcmp(optarg, "whole") == 0)
                proto.mode = TSL_PEER_WHOLE;
            else if (strcmp(optarg, "bytes") == 0)
                proto.mode = TSL_PEER_BYTES;
            else if (strcmp(optarg, "coalesce") == 0)
                proto.mode = TSL_PEER_COALESCE;
            else if (strcmp(optarg, "random") == 0)
                proto.mode = TSL_PEER_RANDOM;
            else
                return bad("--chunking: expected whole, bytes, coalesce or "
                           "random, got", optarg);
            break;
        case 'e':
            if (strcmp(optarg, "close") == 0 || strcmp(optarg, "none") == 0)
                proto.end = 0;
            else if (strcmp(optarg, "half-close") == 0)
                proto.end = 1;
            else if (strcmp(optarg, "reset") == 0)
                proto.end = 2;
            else
                return bad("--end: expected close, half-close, reset or none, "
                           "got", optarg);
            break;
        case 'S':
            if (number(optarg, 0, ULONG_MAX, &seed) < 0)
                return bad("--seed: expected a number, got", optarg);
            break;
        case 't':
            if (number(optarg, 1, 3600000, &timeout) < 0)
                return bad("--timeout-ms: expected 1..3600000, got", optarg);
            break;
        default:
            return bad("unknown or incomplete option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad("unexpected argument", argv[optind]);
    if (proto.port == 0)
        return bad("--server is required", "");
    if (proto.f.kind == TSL_FRAMING_NONE)
        return bad("framing none has no messages to verify; use one of",
                   "fixed:N, variable, delimiter");
    proto.messages = (uint32_t)messages;
    proto.batch = (uint32_t)batch;
    proto.timeout_ms = (int)timeout;
    jobs = calloc(clients, sizeof(*jobs));
    if (jobs == NULL)
        return 1;
    for (i = 0; i < clients; i++) {
        jobs[i] = proto;
        jobs[i].seed = seed * 1000003 + i; /* per client, replayable */
        if (pthread_create(&jobs[i].t, NULL, run, &jobs[i]) != 0) {
            fprintf(stderr, "tsl-load: cannot start client %lu\n", i);
            clients = i;
            failed++;
            break;
        }
    }
    for (i = 0; i < clients; i++) {
        pthread_join(jobs[i].t, NULL);
        if (jobs[i].ok) {
            passed++;
        } else {
            failed++;
            printf("client %lu (seed %llu): %s\n", i,
                   (unsigned long long)jobs[i].seed, jobs[i].why);
        }
    }
    printf("tsl-load: %d passed, %d failed (replay: tsl-load --server %s "
           "--clients %lu --messages %lu --batch %lu --framing '%s' "
           "--chunking %s --end %s --seed %lu --timeout-ms %lu)\n",
           passed, failed, server, clients, messages, batch, framing,
           chunk_names[proto.mode], end_names[proto.end], seed, timeout);
    free(jobs);
    return failed ? 1 : 0;
}

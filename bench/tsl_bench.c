/*
 * tsl_bench.c - tsl-bench: load generator and measurer for any echo
 * server of the variable framing.
 *
 *   tsl-bench --server IP:PORT [--pid PID] [--mode echo|connrate|idle]
 *             [--conns N] [--depth D] [--size S] [--seconds T]
 *             [--idle N] [--cpu K]
 *
 * echo:     N connections keep D messages of S bytes in flight each, for T
 *           seconds, on one thread (epoll); every echo is checked (length,
 *           sequence number, a checksum of the payload).  Prints msgs/s,
 *           MB/s, p50/p99/p999 round-trip latency, and with --pid the
 *           server's CPU time per message (utime+stime from /proc).
 *           With --idle M, M idle connections are opened first.
 * connrate: connect, one echo, close, for T seconds: connections/s and
 *           server CPU per connection.
 * idle:     opens N idle connections: server RSS per connection (VmRSS
 *           from /proc, before and after).
 * --cpu K pins this process to CPU K (pin the server elsewhere).
 * Output is one line of key=value pairs, for ci/bench.sh.  Not a test.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in addr;
static int pid;

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The server's CPU seconds (utime + stime), or -1. */
static double
server_cpu(void)
{
    char path[64], buf[1024], *p;
    unsigned long ut, st;
    FILE *f;
    int i;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((f = fopen(path, "r")) == NULL || fgets(buf, sizeof(buf), f) == NULL) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    p = strrchr(buf, ')');
    for (i = 0; i < 12 && p; i++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p + 1, "%lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long
server_rss_kb(void)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static int
dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        perror("tsl-bench: connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* A message: 2-byte length, 8-byte send time, 4-byte seq, filler. */
static size_t
make(uint8_t *m, size_t size, uint32_t seq, double t)
{
    size_t i;

    m[0] = (uint8_t)(size & 0xff);
    m[1] = (uint8_t)(size >> 8);
    memcpy(m + 2, &t, 8);
    memcpy(m + 10, &seq, 4);
    for (i = 14; i < size; i++)
        m[i] = (uint8_t)(seq + i);
    return size;
}

struct bconn {
    int fd;
    uint32_t next_seq, want_seq;
    uint8_t in[70000];
    size_t inlen;
};

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void
echo_mode(int conns, int depth, size_t size, double secs, int idle)
{
    struct bconn *c = calloc((size_t)conns, sizeof(*c));
    int *idlefd = calloc((size_t)idle + 1, sizeof(int));
    double *lat = malloc(sizeof(double) * 4000000), t0, t1, cpu0, cpu1;
    size_t nlat = 0, msgs = 0, i, k;
    struct epoll_event ev, evs[256];
    uint8_t m[70000];
    int ep = epoll_create1(0), n, j;

    if (size < 14)
        size = 14;
    for (j = 0; j < idle; j++)
        idlefd[j] = dial();
    for (j = 0; j < conns; j++) {
        c[j].fd = dial();
        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t)j;
        epoll_ctl(ep, EPOLL_CTL_ADD, c[j].fd, &ev);
    }
    t0 = now_s();
    cpu0 = server_cpu();
    for (j = 0; j < conns; j++)
        for (k = 0; k < (size_t)depth; k++)
            send(c[j].fd, m, make(m, size, c[j].next_seq++, now_s()), 0);
    while ((t1 = now_s()) - t0 < secs) {
        n = epoll_wait(ep, evs, 256, 100);
        for (j = 0; j < n; j++) {
            struct bconn *b = &c[evs[j].data.u32];
            ssize_t r = recv(b->fd, b->in + b->inlen, sizeof(b->in) - b->inlen,
                             0);
            if (r <= 0) {
                fprintf(stderr, "tsl-bench: the server closed a connection\n");
                exit(1);
            }
            b->inlen += (size_t)r;
            while (b->inlen >= size) {
                double ts;
                uint32_t seq;
                memcpy(&ts, b->in + 2, 8);
                memcpy(&seq, b->in + 10, 4);
                if (seq != b->want_seq || b->in[size - 1] !=
                                              (uint8_t)(seq + size - 1)) {
                    fprintf(stderr, "tsl-bench: wrong echo (seq %u, want "
                                    "%u)\n", seq, b->want_seq);
                    exit(1);
                }
                b->want_seq++;
                if (nlat < 4000000)
                    lat[nlat++] = now_s() - ts;
                msgs++;
                memmove(b->in, b->in + size, b->inlen - size);
                b->inlen -= size;
                send(b->fd, m, make(m, size, b->next_seq++, now_s()), 0);
            }
        }
    }
    cpu1 = server_cpu();
    qsort(lat, nlat, sizeof(double), cmp_double);
    printf("mode=echo conns=%d depth=%d size=%zu idle=%d msgs_per_s=%.0f "
           "mb_per_s=%.2f p50_us=%.1f p99_us=%.1f p999_us=%.1f "
           "server_cpu_us_per_msg=%.3f\n",
           conns, depth, size, idle, msgs / (t1 - t0),
           msgs * size * 2 / (t1 - t0) / 1e6,
           nlat ? lat[nlat / 2] * 1e6 : 0,
           nlat ? lat[nlat * 99 / 100] * 1e6 : 0,
           nlat ? lat[nlat * 999 / 1000] * 1e6 : 0,
           cpu0 >= 0 && msgs ? (cpu1 - cpu0) * 1e6 / msgs : -1);
    for (j = 0; j < conns; j++)
        close(c[j].fd);
    for (j = 0; j < idle; j++)
        close(idlefd[j]);
    free(c);
    free(idlefd);
    free(lat);
    (void)i;
}

static void
connrate_mode(double secs)
{
    uint8_t m[64], in[64];
    double t0 = now_s(), t1, cpu0 = server_cpu(), cpu1;
    long conns = 0;

    while ((t1 = now_s()) - t0 < secs) {
        int fd = dial();
        size_t got = 0;
        make(m, 32, (uint32_t)conns, t1);
        send(fd, m, 32, 0);
        while (got < 32) {
            ssize_t r = recv(fd, in + got, 32 - got, 0);
            if (r <= 0) {
                fprintf(stderr, "tsl-bench: echo failed\n");
                exit(1);
            }
            got += (size_t)r;
        }
        close(fd);
        conns++;
    }
    cpu1 = server_cpu();
    printf("mode=connrate conns_per_s=%.0f server_cpu_us_per_conn=%.2f\n",
           conns / (t1 - t0), cpu0 >= 0 ? (cpu1 - cpu0) * 1e6 / conns : -1);
}

static void
idle_mode(int n)
{
    long before = server_rss_kb(), after;
    int *fd = calloc((size_t)n, sizeof(int)), i;
    uint8_t m[64], in[64];

    for (i = 0; i < n; i++)
        fd[i] = dial();
    /* One echo on the last, so the server has surely taken them all. */
    make(m, 32, 1, now_s());
    send(fd[n - 1], m, 32, 0);
    recv(fd[n - 1], in, 32, MSG_WAITALL);
    after = server_rss_kb();
    printf("mode=idle conns=%d rss_before_kb=%ld rss_after_kb=%ld "
           "bytes_per_conn=%.0f\n",
           n, before, after, (after - before) * 1024.0 / n);
    for (i = 0; i < n; i++)
        close(fd[i]);
    free(fd);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},
        {"pid", required_argument, NULL, 'p'},
        {"mode", required_argument, NULL, 'm'},
        {"conns", required_argument, NULL, 'c'},
        {"depth", required_argument, NULL, 'd'},
        {"size", required_argument, NULL, 'z'},
        {"seconds", required_argument, NULL, 't'},
        {"idle", required_argument, NULL, 'i'},
        {"cpu", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const char *mode = "echo";
    int conns = 1, depth = 1, idle = 0, o;
    size_t size = 64;
    double secs = 3;
    char *colon;

    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            colon = strrchr(optarg, ':');
            if (colon == NULL)
                return 2;
            *colon = '\0';
            addr.sin_family = AF_INET;
            inet_pton(AF_INET, optarg, &addr.sin_addr);
            addr.sin_port = htons((unsigned short)atoi(colon + 1));
            break;
        case 'p': pid = atoi(optarg); break;
        case 'm': mode = optarg; break;
        case 'c': conns = atoi(optarg); break;
        case 'd': depth = atoi(optarg); break;
        case 'z': size = (size_t)atol(optarg); break;
        case 't': secs = atof(optarg); break;
        case 'i': idle = atoi(optarg); break;
        case 'k': {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(atoi(optarg), &set);
            sched_setaffinity(0, sizeof(set), &set);
            break;
        }
        default:
            fprintf(stderr, "usage: tsl-bench --server IP:PORT [--pid PID] "
                            "[--mode echo|connrate|idle] [--conns N] "
                            "[--depth D] [--size S] [--seconds T] [--idle N] "
                            "[--cpu K]\n");
            return 2;
        }
    }
    if (addr.sin_port == 0 || size > 65535 || conns < 1 || depth < 1)
        return 2;
    if (strcmp(mode, "echo") == 0)
        echo_mode(conns, depth, size, secs, idle);
    else if (strcmp(mode, "connrate") == 0)
        connrate_mode(secs);
    else if (strcmp(mode, "idle") == 0)
        idle_mode(conns);
    else
        return 2;
    return 0;
}

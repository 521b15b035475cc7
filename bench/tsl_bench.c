/*
 * tsl_bench.c - tsl-bench: load generator and measurer for any echo
 * server of the variable framing.
 *
 *   tsl-bench --server IP:PORT [--pid PID] [--mode echo|connrate|idle]
 *             [--conns N] [--depth D] [--size S] [--seconds T]
 *             [--idle N] [--cpu K]
 *
 * echo:     N connections, each with a window of D messages of S bytes
 *           written in one send(), for T seconds, on one thread (epoll);
 *           the next window goes out when the last byte of the previous
 *           one is back.  Replies are read 64 KiB at a time and every
 *           byte is compared with what was sent (a wrong echo exits 1).
 *           Prints msgs/s, MB/s, p50/p99/p999 window round-trip latency
 *           (per message when D is 1), messages per read, and with --pid
 *           the server's CPU time per message (utime+stime from /proc).
 *           With --idle M, M idle connections are opened first.
 * connrate: connect, one echo, close, for T seconds: connections/s and
 *           server CPU per connection.
 * idle:     opens N idle connections: server RSS per connection (VmRSS
 *           from /proc, before and after).
 * --cpu K pins this process to CPU K (pin the server elsewhere).
 * Output is one line of key=value pairs, for ci/bench.sh.  Not a test.
 *
 * Why windows in one send(): a generator that writes one message per call
 * makes every server read and write once per message, so all of them,
 * the minimal one included, cost the same few microseconds per message
 * and look alike.  A window per send() lets a server that reads in bulk
 * and writes once per read show it; ci/bench.sh checks that the minimal
 * server is fast enough for the figures to mean something.
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
#include <sys/time.h>
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
    struct timeval tv = {5, 0}; /* a stuck server fails the run, not hangs it */

    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        perror("tsl-bench: connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/*
 * A message: 2-byte length (the whole frame, as the variable framing reads
 * it), 8-byte send time, 4-byte seq, then filler that depends on seq.  The
 * filler comes from a pattern table so that building a window is memcpy,
 * not a loop over bytes: the load generator must cost far less per message
 * than the servers it measures.
 */
#define PAT_LEN (65536 + 256)
static uint8_t pattern[PAT_LEN];

static void
pattern_init(void)
{
    size_t i;

    for (i = 0; i < PAT_LEN; i++)
        pattern[i] = (uint8_t)(i * 7 + (i >> 8));
}

static size_t
make(uint8_t *m, size_t size, uint32_t seq, double t)
{
    m[0] = (uint8_t)(size & 0xff);
    m[1] = (uint8_t)(size >> 8);
    memcpy(m + 2, &t, 8);
    memcpy(m + 10, &seq, 4);
    if (size > 14)
        memcpy(m + 14, pattern + (seq & 0xff), size - 14);
    return size;
}

/*
 * One connection of the echo mode.  It has one window in flight: depth
 * frames written with one send(), kept in win so that every echoed byte is
 * compared with what was sent (a wrong, reordered, short or extra echo is
 * a mismatch); the next window goes out when the last byte of this one is
 * back.  Replies are read in chunks of up to RD_CHUNK into one shared
 * buffer, never copied per message.
 */
struct bconn {
    int fd;
    uint32_t next_seq;
    uint8_t *win;   /* the window in flight */
    size_t winlen;  /* depth * size */
    size_t got;     /* bytes of it echoed so far */
    double sent_at; /* when it was written */
};

#define RD_CHUNK 65536

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void
window_send(struct bconn *b, int depth, size_t size)
{
    size_t off = 0;
    int k;

    b->sent_at = now_s();
    for (k = 0; k < depth; k++)
        make(b->win + (size_t)k * size, size, b->next_seq++, b->sent_at);
    b->got = 0;
    /* One call moves the whole window unless the socket buffer is full;
       the loop is for that case only (blocking socket, send timeout).  A
       window larger than the socket buffers of both ends can stall (no
       one reads the echoes while this blocks); the send timeout then
       fails the run. */
    while (off < b->winlen) {
        ssize_t w = send(b->fd, b->win + off, b->winlen - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            perror("tsl-bench: send");
            exit(1);
        }
        off += (size_t)w;
    }
}

/* Says where the echo first differs from the window, and exits. */
static void
wrong_echo(const struct bconn *b, const uint8_t *in, size_t n, size_t size)
{
    size_t i = 0, at;
    uint32_t want, seq = 0;

    while (i < n && in[i] == b->win[b->got + i])
        i++;
    at = b->got + i;
    memcpy(&want, b->win + at / size * size + 10, 4);
    if (at % size == 0 && n - i >= 14)
        memcpy(&seq, in + i + 10, 4);
    fprintf(stderr,
            "tsl-bench: wrong echo: byte %zu of frame seq %u differs "
            "(got 0x%02x, want 0x%02x%s)\n",
            at % size, want, in[i], b->win[at],
            at % size == 0 && n - i >= 14 ? "" : ", mid-frame");
    if (at % size == 0 && n - i >= 14)
        fprintf(stderr, "tsl-bench: a frame with seq %u arrived instead\n",
                seq);
    exit(1);
}

static void
echo_mode(int conns, int depth, size_t size, double secs, int idle)
{
    struct bconn *c = calloc((size_t)conns, sizeof(*c));
    int *idlefd = calloc((size_t)idle + 1, sizeof(int));
    size_t maxlat = 4000000, nlat = 0, msgs = 0, reads = 0;
    double *lat = malloc(sizeof(double) * maxlat), t0, t1, cpu0, cpu1;
    struct epoll_event ev, evs[256];
    static uint8_t in[RD_CHUNK];
    int ep = epoll_create1(0), n, j;

    if (c == NULL || idlefd == NULL || lat == NULL || ep < 0) {
        perror("tsl-bench");
        exit(1);
    }
    if (size < 14)
        size = 14;
    for (j = 0; j < idle; j++)
        idlefd[j] = dial();
    for (j = 0; j < conns; j++) {
        c[j].fd = dial();
        c[j].winlen = (size_t)depth * size;
        if ((c[j].win = malloc(c[j].winlen)) == NULL) {
            perror("tsl-bench");
            exit(1);
        }
        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t)j;
        epoll_ctl(ep, EPOLL_CTL_ADD, c[j].fd, &ev);
    }
    t0 = now_s();
    cpu0 = server_cpu();
    for (j = 0; j < conns; j++)
        window_send(&c[j], depth, size);
    while ((t1 = now_s()) - t0 < secs) {
        n = epoll_wait(ep, evs, 256, 100);
        for (j = 0; j < n; j++) {
            struct bconn *b = &c[evs[j].data.u32];
            size_t want = b->winlen - b->got;
            ssize_t r = recv(b->fd, in, sizeof(in), MSG_DONTWAIT);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                fprintf(stderr, "tsl-bench: the server closed a connection "
                                "(%s)\n", r < 0 ? strerror(errno) : "EOF");
                exit(1);
            }
            reads++;
            if ((size_t)r > want ||
                memcmp(in, b->win + b->got, (size_t)r) != 0) {
                if ((size_t)r > want && memcmp(in, b->win + b->got,
                                               want) == 0) {
                    fprintf(stderr, "tsl-bench: %zu bytes echoed beyond "
                                    "the window\n", (size_t)r - want);
                    exit(1);
                }
                wrong_echo(b, in, (size_t)r < want ? (size_t)r : want, size);
            }
            msgs += (b->got + (size_t)r) / size - b->got / size;
            b->got += (size_t)r;
            if (b->got == b->winlen) {
                if (nlat < maxlat)
                    lat[nlat++] = now_s() - b->sent_at;
                window_send(b, depth, size);
            }
        }
    }
    cpu1 = server_cpu();
    qsort(lat, nlat, sizeof(double), cmp_double);
    /* Latency is per window: from its send() to its last echoed byte. */
    printf("mode=echo conns=%d depth=%d size=%zu idle=%d msgs_per_s=%.0f "
           "mb_per_s=%.2f p50_us=%.1f p99_us=%.1f p999_us=%.1f "
           "server_cpu_us_per_msg=%.3f msgs_per_read=%.2f\n",
           conns, depth, size, idle, msgs / (t1 - t0),
           msgs * size * 2 / (t1 - t0) / 1e6,
           nlat ? lat[nlat / 2] * 1e6 : 0,
           nlat ? lat[nlat * 99 / 100] * 1e6 : 0,
           nlat ? lat[nlat * 999 / 1000] * 1e6 : 0,
           cpu0 >= 0 && msgs ? (cpu1 - cpu0) * 1e6 / msgs : -1,
           reads ? (double)msgs / reads : 0);
    for (j = 0; j < conns; j++) {
        close(c[j].fd);
        free(c[j].win);
    }
    for (j = 0; j < idle; j++)
        close(idlefd[j]);
    close(ep);
    free(c);
    free(idlefd);
    free(lat);
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

/*
 * n connections, each echoing one message, then idle: the server's RSS
 * growth per connection it kept.  Every connection talks once, so buffers
 * a server allocates for traffic and keeps count too, and a connection
 * the server refused (select's descriptor limit) is not counted as one it
 * holds for free.
 */
static void
idle_mode(int n)
{
    long before = server_rss_kb(), after;
    int *fd = calloc((size_t)n, sizeof(int)), i, kept = 0;
    uint8_t m[64], in[64];

    for (i = 0; i < n; i++)
        fd[i] = dial();
    for (i = 0; i < n; i++) {
        make(m, 32, (uint32_t)i, now_s());
        if (send(fd[i], m, 32, MSG_NOSIGNAL) == 32 &&
            recv(fd[i], in, 32, MSG_WAITALL) == 32 && memcmp(m, in, 32) == 0)
            kept++;
    }
    after = server_rss_kb();
    printf("mode=idle conns=%d kept=%d rss_before_kb=%ld rss_after_kb=%ld "
           "bytes_per_conn=%.0f\n",
           n, kept, before, after,
           kept ? (after - before) * 1024.0 / kept : -1);
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
    pattern_init();
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

/*
 * sim_world.c - one simulated world: the server, its peers, the
 * application, the scheduler and the invariants (tsl-sim).
 *
 * A world is a real server (tsl_server_create, tsl_server_start on the
 * epoll backend, where the acceptor is the shared receiver's hook, or on
 * select, where it has a thread) whose receiver threads are tasks this
 * file plays: every step runs one turn of a runnable receiver
 * (tsl__loop_turn), or one action of a peer, or one action of the
 * application, or a connector's or the acceptor's thread until it would
 * block, chosen by the seed.  A receiver whose
 * wait finds nothing sleeps until its timeout; time moves only when
 * nothing can run, to the next deadline.  What the real threads would do
 * around their turns (rx_main's end, the controller's stop) is done here
 * in the same order as tsl_receiver.c and tsl_server.c do it.
 *
 * Peers follow scripts (enum sim_peer): each sends a stream of frames of
 * the world's framing (variable with or without options, delimiter,
 * fixed, none: enum sim_framing), generated up front, and checks every
 * byte that comes back against the echo it expects; some die, some
 * connect again.  The application echoes every message and, at seeded
 * moments, forces disconnects, flips NOT_LISTENING, NOT_ACCEPTING and
 * MULTI_THREADED, migrates clients both ways, changes keepalives, starts
 * and cancels connectors and stops; some of its actions run on another
 * thread in the middle of a receiver's system call (sim_preempt).
 *
 * Invariants, checked where they can break and after every step: one
 * disconnected per client with a reason its history allows; every
 * message delivered once, whole and in order, every echoed byte right; no
 * callback after disconnected; each client's counters equal what its peer
 * saw, and the server's their sums; no receiver asleep with work queued
 * and nothing to wake it; keepalive expiry on time; no stall; a stop that
 * finishes in bounded virtual time with every descriptor closed and
 * every allocation freed.
 *
 * State: W (sim.h), the main thread's.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define STOP_BOUND_MS 200       /* virtual time a stop may take */
#define STOP_BOUND_STEPS 200000
#define TIME_LIMIT_MS 120000    /* a world stops by then at the latest */
#define MAX_FRAME 4096
#define BUSY_TURNS 200          /* empty turns in a row: a busy loop */

static const char *const peer_names[PEER_KINDS] = {
    "echo", "slow", "flood", "half-close", "ka-sender", "ka-forget",
    "reset", "dies", "fin-lost"};

/* ---- generating the peers ---- */

static void
grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap ? *cap : 256;
    void *q;

    if (need <= *cap)
        return;
    while (n < need)
        n *= 2;
    q = realloc(*p, n * elem);
    if (q == NULL) {
        fprintf(stderr, "tsl-sim: out of memory\n");
        exit(2);
    }
    *p = q;
    *cap = n;
}

static uint32_t size_lo, size_hi; /* payload sizes of this world */

/* ---- the framing of this world ---- */

static const char *const framing_names[SIM_FR_KINDS] = {
    "variable", "variable-opts", "delimiter", "fixed", "none"};

static tsl_framing_t fr;
static enum sim_framing fr_kind;
static uint32_t f_hdr;  /* header bytes on the wire before a payload */
static uint32_t f_skip; /* of which not delivered (strip) */
static uint32_t f_tail; /* delimiter bytes after it */
static uint64_t side_rs; /* the second stream (side_below) */

int
sim_framing_by_name(const char *name)
{
    int i;

    for (i = 0; i < SIM_FR_KINDS; i++)
        if (strcmp(name, framing_names[i]) == 0)
            return i;
    return -1;
}

/* The second stream (splitmix64), apart from the world's generator: the
 * framing, which peers connect again, the listening peer's budget and
 * the allocation failure rate are drawn from it, so that a --classic
 * world (variable:strip, none of those, no dying peers, no connectors)
 * draws from the world's generator what it drew before they existed. */
static uint32_t
side_below(uint32_t n)
{
    uint64_t z = (side_rs += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (uint32_t)(((z >> 32) * n) >> 32);
}

static void
choose_framing(uint64_t seed, int forced)
{
    static const uint8_t delim_bytes[] = {0x00, 'a', 'b', 0xff};
    uint32_t r, i;

    side_rs = seed ^ 0x6672616d696e67ull;
    r = side_below(20); /* 8 : 3 : 4 : 3 : 2 */
    fr_kind = r < 8 ? SIM_FR_VARIABLE
              : r < 11 ? SIM_FR_VAROPTS
              : r < 15 ? SIM_FR_DELIM
              : r < 18 ? SIM_FR_FIXED
              : SIM_FR_NONE;
    if (forced >= 0)
        fr_kind = (enum sim_framing)forced;
    f_hdr = f_skip = f_tail = 0;
    switch (fr_kind) {
    case SIM_FR_VARIABLE:
        tsl_framing_default(&fr, TSL_FRAMING_VARIABLE);
        fr.strip_header = 1;
        fr.max_frame = MAX_FRAME;
        f_hdr = f_skip = 2;
        break;
    case SIM_FR_VAROPTS:
        tsl_framing_default(&fr, TSL_FRAMING_VARIABLE);
        fr.hdr_width = (uint8_t[]){1, 2, 4}[side_below(3)];
        fr.big_endian = (uint8_t)side_below(2);
        fr.len_exclusive = (uint8_t)side_below(2);
        fr.strip_header = (uint8_t)side_below(2);
        fr.max_frame = fr.hdr_width == 1 ? 255 : MAX_FRAME;
        f_hdr = fr.hdr_width;
        f_skip = fr.strip_header ? f_hdr : 0;
        break;
    case SIM_FR_DELIM:
        tsl_framing_default(&fr, TSL_FRAMING_DELIMITER);
        switch (side_below(4)) {
        case 0:
            fr.delim[0] = '\n';
            fr.delim_len = 1;
            break;
        case 1:
            memcpy(fr.delim, "\r\n", 2);
            fr.delim_len = 2;
            break;
        default:
            /* From a small alphabet, so that it overlaps itself. */
            fr.delim_len = (uint8_t)(1 + side_below(TSL_DELIM_MAX));
            for (i = 0; i < fr.delim_len; i++)
                fr.delim[i] = delim_bytes[side_below(4)];
            break;
        }
        fr.max_frame = MAX_FRAME;
        f_tail = fr.delim_len;
        break;
    case SIM_FR_FIXED:
        tsl_framing_default(&fr, TSL_FRAMING_FIXED); /* N: framing_sizes */
        break;
    default:
        tsl_framing_default(&fr, TSL_FRAMING_NONE);
        break;
    }
}

/* The framing as a spec (docs/wire-format.md), for the trace. */
static const char *
framing_spec(void)
{
    static char buf[64];
    int n;
    uint32_t i;

    switch (fr.kind) {
    case TSL_FRAMING_VARIABLE:
        snprintf(buf, sizeof(buf), "variable:hdr=%u,%s,%s,%s,max=%u",
                 fr.hdr_width, fr.big_endian ? "be" : "le",
                 fr.len_exclusive ? "exclusive" : "inclusive",
                 fr.strip_header ? "strip" : "keep", fr.max_frame);
        break;
    case TSL_FRAMING_DELIMITER:
        n = snprintf(buf, sizeof(buf), "delimiter:");
        for (i = 0; i < fr.delim_len; i++)
            n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%02x",
                          fr.delim[i]);
        snprintf(buf + n, sizeof(buf) - (size_t)n, ",max=%u", fr.max_frame);
        break;
    case TSL_FRAMING_FIXED:
        snprintf(buf, sizeof(buf), "fixed:%u", fr.fixed_size);
        break;
    default:
        snprintf(buf, sizeof(buf), "none");
        break;
    }
    return buf;
}

/* The payload sizes, as the framing allows them. */
static void
framing_sizes(void)
{
    uint32_t most = MAX_FRAME - 2;

    if (fr_kind == SIM_FR_VAROPTS)
        most = fr.max_frame - f_hdr;
    if (size_hi > most)
        size_hi = most;
    if (size_lo > size_hi)
        size_lo = size_hi;
    if (fr_kind == SIM_FR_DELIM && side_below(3) == 0)
        size_lo = 0; /* empty messages (two delimiters in a row) */
    /* N within the world's sizes: as many bytes as the others carry. */
    if (fr_kind == SIM_FR_FIXED) {
        fr.fixed_size = size_lo + side_below(size_hi - size_lo + 1);
        size_lo = size_hi = fr.fixed_size;
    }
}

/* A delimiter payload: prefixes of the delimiter sprinkled in, then every
 * place where the delimiter would start before the payload's end (in the
 * payload followed by the delimiter) broken with a byte it does not
 * contain.  Left to right: a byte so replaced is in no occurrence. */
static void
delim_payload(uint8_t *p, uint32_t n)
{
    uint8_t buf[MAX_FRAME + TSL_DELIM_MAX], safe = 0x20;
    uint32_t dl = fr.delim_len, i, j, pos, len;

    for (j = sim_below(4); j > 0 && n > 0; j--) {
        pos = sim_below(n);
        len = sim_range(1, dl);
        if (len > n - pos)
            len = n - pos;
        memcpy(p + pos, fr.delim, len);
    }
    while (memchr(fr.delim, safe, dl) != NULL)
        safe++;
    memcpy(buf, p, n);
    memcpy(buf + n, fr.delim, dl);
    for (i = 0; i < n; i++) {
        const uint8_t *q = memchr(buf + i, fr.delim[0], n - i);
        if (q == NULL)
            break;
        i = (uint32_t)(q - buf);
        if (memcmp(buf + i, fr.delim, dl) == 0)
            buf[i] = p[i] = safe;
    }
}

/* Appends a frame of the world's framing: header, payload, delimiter. */
static void
put_frame(struct sim_conn *k, const uint8_t *payload, uint32_t n, bool msg)
{
    size_t cap = k->out_cap;
    uint32_t total = f_hdr + n + f_tail, len, i;
    uint8_t *p;

    grow((void **)&k->out, &cap, k->out_len + total, 1);
    k->out_cap = cap;
    p = k->out + k->out_len;
    len = fr.len_exclusive ? n : total;
    for (i = 0; i < f_hdr; i++)
        p[fr.big_endian ? f_hdr - 1 - i : i] = (uint8_t)(len >> (8 * i));
    if (n > 0)
        memcpy(p + f_hdr, payload, n);
    memcpy(p + f_hdr + n, fr.delim, f_tail);
    grow((void **)&k->fend, &k->fcap, k->nfr + 1, sizeof(uint32_t));
    k->fend[k->nfr++] = (uint32_t)(k->out_len + total);
    if (msg) {
        size_t mc = k->mcap, ec = k->echo_cap;
        grow((void **)&k->moff, &mc, k->nmsg + 1, sizeof(uint32_t));
        mc = k->mcap;
        grow((void **)&k->mlen, &mc, k->nmsg + 1, sizeof(uint32_t));
        k->mcap = mc;
        k->moff[k->nmsg] = (uint32_t)k->out_len;
        k->mlen[k->nmsg++] = n;
        grow((void **)&k->echo, &ec, k->echo_len + total, 1);
        k->echo_cap = ec;
        memcpy(k->echo + k->echo_len, k->out + k->out_len, total);
        k->echo_len += total;
    }
    k->out_len += total;
}

/* pattern[j] = j * 13 (mod 256): every byte value once in 256. */
static uint8_t pattern[256 + MAX_FRAME];

static void
gen_conn(int idx, int nmsg)
{
    struct sim_conn *k = &W.conns[idx];
    uint8_t payload[MAX_FRAME];
    int m;
    uint32_t i, n;

    if (pattern[1] == 0)
        for (i = 0; i < sizeof(pattern); i++)
            pattern[i] = (uint8_t)(i * 13);
    /* Keep the buffers, reset the rest. */
    {
        struct sim_conn keep = *k;
        memset(k, 0, sizeof(*k));
        k->out = keep.out;
        k->out_cap = keep.out_cap;
        k->moff = keep.moff;
        k->mlen = keep.mlen;
        k->mcap = keep.mcap;
        k->echo = keep.echo;
        k->echo_cap = keep.echo_cap;
        k->fend = keep.fend;
        k->fcap = keep.fcap;
    }
    k->idx = idx;
    k->ctask = -1;
    W.peer_live |= 1ull << idx;
    W.peer_dirty |= 1ull << idx;
    k->kind = (enum sim_peer)sim_below(W.o.classic ? SIM_CLASSIC_KINDS
                                                   : PEER_KINDS);
    if (sim_chance(1, 3))
        k->kind = PEER_ECHO;
    k->fd = -1;
    k->ka_override = -1;
    k->connect_at = W.now + sim_below(sim_chance(1, 4) ? 2000 : 100);
    k->next_at = k->connect_at;
    switch (sim_below(16)) {
    case 0: k->room_cap = sim_range(1, 64); break;
    case 1: case 2: case 3: k->room_cap = sim_range(256, 8192); break;
    default: k->room_cap = 1 << 20; break;
    }
    if (k->kind == PEER_SLOW && k->room_cap > 2048)
        k->room_cap = sim_range(256, 2048);
    for (m = 0; m < nmsg; m++) {
        /* A keepalive: variable framing has one (a header-only frame). */
        if (k->kind == PEER_KA_SENDER && fr.kind == TSL_FRAMING_VARIABLE &&
            sim_chance(1, 3))
            put_frame(k, NULL, 0, false);
        n = sim_range(size_lo, size_hi);
        /* payload[i] = idx * 131 + m * 7 + i * 13 (mod 256), copied from
         * a table of j * 13: 197 is 13's inverse mod 256. */
        memcpy(payload, pattern + ((idx * 131 + m * 7) * 197 & 255), n);
        if (fr_kind == SIM_FR_DELIM)
            delim_payload(payload, n);
        put_frame(k, payload, n, true);
    }
    k->stop_writing_at = k->out_len;
    /* KA_FORGET goes silent at a seeded byte (often mid-frame); DIES and
     * FIN_LOST die there, replies still on their way. */
    if (k->kind == PEER_KA_FORGET || k->kind == PEER_DIES ||
        k->kind == PEER_FIN_LOST)
        k->stop_writing_at = sim_below((uint32_t)k->out_len + 1);
    if (k->kind == PEER_RESETTER)
        k->rst_at = k->connect_at + sim_below(3000);
    /* A fifth of the first peers connect again when their connection
     * ends, half of those that did. */
    if (!W.o.classic && side_below(idx < W.o.clients ? 5 : 2) == 0) {
        k->again = true;
        W.again[W.again_pending++] = idx;
    }
}

/* A new connection for a connector to make (sim_os.c's connect): the
 * connector, not the peer, connects again. */
int
sim_conn_new(int nmsg)
{
    int j = W.nconns++;

    gen_conn(j, nmsg);
    if (W.conns[j].again) {
        W.conns[j].again = false;
        sim_conn_touch(&W.conns[j]);
        W.again_pending--; /* j, the last in W.again */
    }
    return j;
}

/* ---- the connectors' invariants ---- */

/* Why a connector stops: once, a forced close (its cancel too) or a
 * stop; any other end of its client makes it connect again. */
static bool
connector_stays_down(const struct sim_ctask *ct)
{
    return ct->once || ct->cancelled ||
           ct->ended_why == TSL_REASON_FORCED ||
           ct->ended_why == TSL_REASON_SHUTDOWN;
}

void
sim_connector_dials(int i)
{
    struct sim_ctask *ct = &W.ctasks[i];
    int64_t need;

    if (ct->ended_at >= 0 && ct->dials == ct->dials_at_end &&
        connector_stays_down(ct) && !ct->cancelled)
        sim_fail("connector %d connects again after its client ended with "
                 "%s%s", i, tsl_reason_name(ct->ended_why),
                 ct->once ? " (connect once)" : "");
    if (ct->fails > 0) {
        need = ct->fails > 6 ? 5000 : 100 << (ct->fails - 1);
        if (need > 5000)
            need = 5000;
        if (W.now - ct->fail_at < need)
            sim_fail("connector %d connects %lld ms after its failed attempt "
                     "%d: its backoff is %lld ms", i,
                     (long long)(W.now - ct->fail_at), ct->fails,
                     (long long)need);
    }
    ct->dials++;
    TRACE("connector %d: attempt %d", i, ct->dials);
}

void
sim_connector_failed(int i)
{
    W.ctasks[i].fails++;
    W.ctasks[i].fail_at = W.now;
}

/* A connector whose client ended for a reason that calls for it connects
 * again at once (it naps at most 1 s before it sees the end). */
static void
check_connectors(void)
{
    int i;

    for (i = 0; i < W.nctasks; i++) {
        struct sim_ctask *ct = &W.ctasks[i];
        if (!ct->alive || ct->ended_at < 0 || connector_stays_down(ct) ||
            ct->dials != ct->dials_at_end || W.stopping)
            continue;
        if (W.now - ct->ended_at > 1000 + 200)
            sim_fail("connector %d: its client ended with %s %lld ms ago and "
                     "it has not connected again", i,
                     tsl_reason_name(ct->ended_why),
                     (long long)(W.now - ct->ended_at));
    }
}

static inline bool fd_ready(int fd, uint32_t want_in, uint32_t want_out);

static bool
ctask_runnable(const struct sim_ctask *ct)
{
    int i;

    if (!ct->alive)
        return false;
    if (!ct->sleeping || ct->wake_at <= W.now)
        return true;
    for (i = 0; i < ct->npf; i++)
        if (fd_ready(ct->pf[i].fd, ct->pf[i].events & POLLIN,
                     ct->pf[i].events & POLLOUT))
            return true;
    return false;
}

/* The connection is over for the peer: refused, reset, dead, or closed
 * by the server and read to its end. */
static bool
peer_over(const struct sim_conn *k)
{
    return k->st == C_REFUSED || k->rst || k->dead ||
           (k->srv_closed && k->got == k->sent);
}

/* Peers whose connection ended and that connect again: a new connection
 * (a new peer slot, port and client id), its script drawn anew, with the
 * messages the last one did not get delivered (a few, if none is left):
 * a reconnecting peer carries about the load of one that does not. */
static void
reconnect_peers(void)
{
    int a, i, j, left;

    /* W.again holds them in the order of their index, the order of a
     * walk over W.conns, without the walk: this runs every step. */
    for (a = 0; a < W.again_pending; a++) {
        struct sim_conn *k = &W.conns[i = W.again[a]];
        if (!peer_over(k))
            continue;
        k->respawned = true;
        memmove(W.again + a, W.again + a + 1,
                (size_t)(--W.again_pending - a) * sizeof(W.again[0]));
        a--;
        if (W.stopping || W.nconns == SIM_MAXCONN)
            continue;
        j = W.nconns++;
        left = (int)(k->nmsg - k->delivered);
        gen_conn(j, left > 0 ? left : (int)sim_range(1, W.o.msgs / 10 + 1));
        TRACE("peer %d connects again, as peer %d (%s)", i, j,
              peer_names[W.conns[j].kind]);
    }
}

/* ---- tasks: the receivers' threads ---- */

int
sim_task_add(struct tsl_receiver *rx)
{
    struct sim_task *tk = NULL;
    int i;

    for (i = 0; i < W.ntasks; i++)
        if (!W.tasks[i].alive && i != W.cur) {
            tk = &W.tasks[i];
            break;
        }
    if (tk == NULL) {
        if (W.ntasks == SIM_MAXTASK)
            return -1;
        tk = &W.tasks[W.ntasks++];
    }
    memset(tk, 0, sizeof(*tk));
    tk->rx = rx;
    tk->alive = true;
    tk->epfd = rx->poller.ops == &tsl__poller_epoll
                   ? (int)(intptr_t)rx->poller.impl - 1
                   : -1;
    W.task_dirty |= 1ull << (tk - W.tasks);
    W.task_alive |= 1ull << (tk - W.tasks);
    TRACE("task %d: %s receiver starts", (int)(tk - W.tasks),
          rx->dedicated ? "a dedicated" : "the shared");
    return 0;
}

/* Would a wait on fd for this return at once?  Read from W.rdy in one go
 * (a descriptor not open, POLLNVAL, is SIM_RDY_FREE there). */
static inline bool
fd_ready(int fd, uint32_t want_in, uint32_t want_out)
{
    uint8_t b;

    if (fd < 0 || fd >= SIM_MAXFD)
        return true; /* POLLNVAL */
    b = W.rdy[fd];
    if (b & SIM_RDY_CALC)
        return (want_in && sim_fd_calc_readable(fd)) ||
               (want_out && sim_fd_calc_writable(fd)) ||
               sim_fd_calc_error(fd);
    SIM_FD_VERIFY(fd, b);
    return (b & (SIM_RDY_FREE | SIM_RDY_ERR)) ||
           (want_in && (b & SIM_RDY_IN)) || (want_out && (b & SIM_RDY_OUT));
}

/* fd_ready for task_runnable: with bit (the task's), notes that the
 * task's runnability read fd (W.watch), and whether its readiness is
 * kept (W.task_calc if not). */
static inline bool
fd_ready_for(uint64_t bit, int fd, uint32_t want_in, uint32_t want_out)
{
    if (fd >= 0 && fd < SIM_MAXFD) {
        W.watch[fd] |= bit;
        if (W.rdy[fd] & SIM_RDY_CALC)
            W.task_calc |= bit;
    }
    return fd_ready(fd, want_in, want_out);
}

/* Computed from the world; bit: see fd_ready_for (0: notes nothing).
 * It stops at the first descriptor ready: the ones after it matter only
 * once that one changes, which makes the task dirty. */
static bool
task_runnable(struct sim_task *tk, uint64_t bit)
{
    int i;

    if (!tk->alive)
        return false;
    if (!tk->sleeping || tk->wake_at <= W.now)
        return true;
    if (tk->epfd >= 0) {
        struct sim_epoll *ep = W.fds[tk->epfd].ep;
        for (i = 0; i < ep->n; i++)
            if (fd_ready_for(bit, ep->regs[i].fd,
                             ep->regs[i].events & EPOLLIN,
                             ep->regs[i].events & EPOLLOUT))
                return true;
        return false;
    }
    if (tk->sel) {
        /* The descriptors in either set, in order, a word at a time. */
        int word;
        for (word = 0; word * 64 < tk->sspan; word++) {
            uint64_t m = (uint64_t)tk->srd.fds_bits[word] |
                         (uint64_t)tk->swr.fds_bits[word];
            if (tk->sspan - word * 64 < 64)
                m &= (1ull << (tk->sspan - word * 64)) - 1;
            for (; m != 0; m &= m - 1) {
                i = word * 64 + __builtin_ctzll(m);
                if ((FD_ISSET(i, &tk->srd) && fd_ready_for(bit, i, 1, 0)) ||
                    (FD_ISSET(i, &tk->swr) && fd_ready_for(bit, i, 0, 1)))
                    return true;
            }
        }
        return false;
    }
    for (i = 0; i < tk->npf; i++)
        if (fd_ready_for(bit, tk->pf[i].fd, tk->pf[i].events & POLLIN,
                         tk->pf[i].events & POLLOUT))
            return true;
    return false;
}

/* Brings W.task_ready up to date: the dirty tasks' runnability, and that
 * of those that read a descriptor whose readiness is not kept, computed
 * again.  At every step, instead of every task's. */
static void
tasks_update(void)
{
    uint64_t d = W.task_dirty | W.task_calc, bit;
    int t;

    d &= W.task_alive; /* a dead one is not runnable (task_end) */
    W.task_dirty = 0;
    W.task_calc &= ~d;
    for (; d != 0; d &= d - 1) {
        t = __builtin_ctzll(d);
        bit = 1ull << t;
        if (task_runnable(&W.tasks[t], bit))
            W.task_ready |= bit;
        else
            W.task_ready &= ~bit;
    }
#ifdef SIM_VERIFY
    for (t = 0; t < W.ntasks; t++)
        if (!!(W.task_ready & (1ull << t)) != task_runnable(&W.tasks[t], 0)) {
            fprintf(stderr, "tsl-sim: seed %llu step %llu: task %d's kept "
                    "runnability is stale\n", (unsigned long long)W.o.seed,
                    (unsigned long long)W.step, t);
            abort();
        }
#endif
}

/* What rx_main does after its loop, and the join the simulator owes. */
static void
task_end(int t)
{
    struct sim_task *tk = &W.tasks[t];
    struct tsl_receiver *rx = tk->rx;
    struct tsl_server *srv = rx->srv;

    tsl__loop_exit(rx);
    atomic_store(&rx->done, true);
    if (rx->dedicated) {
        atomic_store(&srv->ded_ended, true);
        pthread_mutex_lock(&srv->ded_lock);
        if (!srv->ded_closed)
            tsl__wakeup_signal(&srv->rx.wk);
        pthread_mutex_unlock(&srv->ded_lock);
    }
    /* The thread has ended: a join returns at once (none is made). */
    rx->running = false;
    if (rx->hook != NULL)
        rx->hook->running = false;
    tk->alive = false;
    W.task_alive &= ~(1ull << t);
    W.task_ready &= ~(1ull << t);
    tk->rx = NULL;
    TRACE("task %d ends", t);
}

static void
task_run(int t)
{
    struct sim_task *tk = &W.tasks[t];
    uint64_t before = W.progress;
    bool go;

    W.cur = t;
    tk->sleeping = false;
    tk->turns++;
    TRACE("task %d: a turn", t);
    go = tsl__loop_turn(tk->rx, -1);
    if (!go) {
        task_end(t);
    } else if (!tk->sleeping && W.progress == before) {
        /* It did nothing and will not sleep: a thread at 100% CPU. */
        if (++tk->empty > BUSY_TURNS)
            sim_fail("busy loop: task %d has taken %d turns in a row that "
                     "did nothing, without ever sleeping", t, tk->empty);
    } else {
        tk->empty = 0;
    }
    W.cur = -1;
    W.task_dirty |= 1ull << t; /* its state, its sets */
    sim_hash(0x7a5c + (uint64_t)t);
}

/* ---- the application's callbacks ---- */

/* The peer of a client: the application's pointer, set at connected; the
 * port before (a connector's clients all have the listening peer's port:
 * their socket says which connection). */
static struct sim_conn *
conn_of(tsl_client_t *c)
{
    struct sim_conn *k = tsl_client_data(c);
    int i = (int)tsl_client_port(c) - SIM_PORT0;

    if (k != NULL)
        return k;
    if (tsl_client_port(c) == SIM_CPORT && (k = sim_conn_of_fd(c->fd)))
        return k;
    if (i < 0 || i >= W.nconns) {
        sim_fail("a callback for client %llu, whose port %u is no peer's",
                 (unsigned long long)tsl_client_id(c), tsl_client_port(c));
        return NULL;
    }
    return &W.conns[i];
}

static void
note_hold(struct sim_conn *k)
{
    int64_t h = k->ka_override >= 0 ? k->ka_override : (int64_t)W.hold;

    if (h > 0 && (k->min_hold == 0 || h < k->min_hold))
        k->min_hold = (uint32_t)h;
    /* Switched on, a hold counts from then, not from the last byte. */
    if (k->cur_hold == 0 && h > 0)
        k->ka_from = W.now;
    k->cur_hold = h;
}

static void
on_connected(tsl_server_t *s, tsl_client_t *c, void *ud)
{
    struct sim_conn *k = conn_of(c);

    (void)s;
    (void)ud;
    if (k == NULL)
        return;
    if (k->connected || k->st != C_ACCEPTED)
        sim_fail("peer %d: connected again, or before its accept", k->idx);
    k->connected = true;
    k->c = c;
    k->id = tsl_client_id(c);
    tsl_client_set_data(c, k);
    {
        int i;
        for (i = 0; i < W.nconns; i++)
            if (&W.conns[i] != k && W.conns[i].connected &&
                W.conns[i].id == k->id)
                sim_fail("peer %d is client %llu, as peer %d was", k->idx,
                         (unsigned long long)k->id, i);
    }
    k->last_read = W.now;
    k->nl_seen = W.not_listening;
    tsl_client_ref(c);
    note_hold(k);
    if (k->ctask >= 0) {
        struct sim_ctask *ct = &W.ctasks[k->ctask];
        W.made_cb++;
        ct->client_live = true;
        ct->fails = 0;
    } else {
        W.accepted_cb++;
    }
    W.progress++;
    TRACE("connected: peer %d is client %llu", k->idx,
          (unsigned long long)k->id);
}

static void app_on_client(struct sim_conn *k);

static void
on_message(tsl_server_t *s, tsl_client_t *c, const uint8_t *m, size_t len,
           void *ud)
{
    static uint8_t reply[MAX_FRAME + 16];
    struct sim_conn *k = conn_of(c);
    const uint8_t *back = m;
    long blen = (long)len;
    uint32_t i;
    int rc;

    (void)s;
    (void)ud;
    if (k == NULL)
        return;
    if (!k->connected || k->disconnects > 0) {
        sim_fail("peer %d: a message %s", k->idx,
                 k->disconnects ? "after disconnected" : "before connected");
        return;
    }
    i = k->delivered;
    if (fr_kind == SIM_FR_NONE) {
        /* Whatever a read returned: the next bytes of the stream. */
        if (len == 0 || k->dbytes + len > k->rd ||
            memcmp(m, k->out + k->dbytes, len) != 0) {
            sim_fail("peer %d: %zu bytes delivered at byte %zu are not the "
                     "next it sent (%zu read): lost, duplicated or "
                     "reordered", k->idx, len, k->dbytes, k->rd);
            return;
        }
        k->dbytes += len;
    } else {
        uint32_t want, total;
        if (i >= k->nmsg) {
            sim_fail("peer %d: message %u delivered, but it sent %u",
                     k->idx, i + 1, k->nmsg);
            return;
        }
        want = k->mlen[i] + f_hdr - f_skip;
        if (len != want ||
            memcmp(m, k->out + k->moff[i] + f_skip, len) != 0) {
            sim_fail("peer %d: message %u is not the one it sent (%zu "
                     "bytes, sent %u): lost, duplicated or reordered",
                     k->idx, i, len, want);
            return;
        }
        /* The reply is the frame again.  tsl_framing_encode must make it:
         * checked on a sample of the messages (for a delimiter it scans
         * every position of the message, a third of a world's time). */
        total = k->mlen[i] + f_hdr + f_tail;
        back = k->out + k->moff[i];
        blen = (long)total;
        if (i < 4 || i % 16 == 0) {
            blen = tsl_framing_encode(&fr, m, len, reply, sizeof(reply));
            if (blen != (long)total || memcmp(reply, back, total) != 0) {
                sim_fail("peer %d: tsl_framing_encode of message %u gives "
                         "%ld bytes, not its %u-byte frame", k->idx, i, blen,
                         total);
                return;
            }
            back = reply;
        }
    }
    k->delivered++;
    W.progress++;
    sim_hash(0x5151 + len);
    TRACE("message %u of peer %d (%zu bytes)", i, k->idx, len);
    rc = tsl_client_send(c, back, (size_t)blen);
    if (rc == 0)
        k->msgs_out++;
    else
        k->send_failed = true;
    /* The application acts from the callback too, on this client. */
    if (sim_chance(1, W.p_in_callback) && W.app_actions_left > 0) {
        W.app_actions_left--;
        app_on_client(k);
    }
}

/* Everything the peer sent has reached the application. */
static bool
all_delivered(const struct sim_conn *k)
{
    return fr_kind == SIM_FR_NONE ? k->dbytes == k->out_len
                                  : k->delivered == k->nmsg;
}

static bool
reason_allowed(struct sim_conn *k, tsl_reason_t why)
{
    switch (why) {
    case TSL_REASON_PEER_CLOSED:
        /* (eof-ring: a close asked before is reported as peer-closed.) */
        return k->fin && k->rd == k->wrote &&
               (!k->forced || W.o.avoid_eof_ring);
    case TSL_REASON_PEER_RESET:
        return k->rst;
    case TSL_REASON_FORCED:
        /* A cancelled connector closes its client (forced). */
        return k->forced ||
               (k->ctask >= 0 && W.ctasks[k->ctask].cancelled);
    case TSL_REASON_KA_EXPIRED:
        /* Not while bytes wait unread (the expiry peeks first). */
        return k->min_hold > 0 && W.now - k->last_read >= k->min_hold &&
               k->wrote == k->rd;
    case TSL_REASON_SLOW_CONSUMER:
        /* Or no memory for its output or its ring. */
        return k->refused_bytes || W.allocs_failed > 0;
    case TSL_REASON_SHUTDOWN:
        return W.stopping;
    default:
        return false;
    }
}

static void
on_disconnected(tsl_server_t *s, tsl_client_t *c, tsl_reason_t why,
                void *ud)
{
    struct sim_conn *k = conn_of(c);
    tsl_client_stats_t st;

    (void)s;
    (void)ud;
    if (k == NULL)
        return;
    TRACE("disconnected: peer %d (%s), %s", k->idx, peer_names[k->kind],
          tsl_reason_name(why));
    if (!k->connected) {
        sim_fail("peer %d: disconnected without connected", k->idx);
        return;
    }
    if (k->disconnects++ > 0) {
        sim_fail("peer %d: disconnected twice (%s, then %s)", k->idx,
                 tsl_reason_name(k->reason), tsl_reason_name(why));
        return;
    }
    k->reason = why;
    W.progress++;
    if (why < TSL_REASON_COUNT)
        W.disc_by_reason[why]++;
    if (k->ctask >= 0) {
        struct sim_ctask *ct = &W.ctasks[k->ctask];
        ct->client_live = false;
        ct->ended_at = W.now;
        ct->ended_why = why;
        ct->dials_at_end = ct->dials;
    }
    if (!reason_allowed(k, why))
        sim_fail("peer %d (%s): disconnected with reason %s, which its "
                 "history does not allow (fin %d, rst %d, forced %d, "
                 "silent %lld ms, hold %u, refused %d, stopping %d)",
                 k->idx, peer_names[k->kind], tsl_reason_name(why), k->fin,
                 k->rst, k->forced, (long long)(W.now - k->last_read),
                 k->min_hold, k->refused_bytes, W.stopping);
    tsl_client_stats(c, &st);
    if (st.bytes_in != k->rd || st.msgs_in != k->delivered ||
        st.bytes_out != k->sent || st.msgs_out != k->msgs_out)
        sim_fail("peer %d: the client's counters (in %llu bytes %llu msgs, "
                 "out %llu bytes %llu msgs) differ from what the peer saw "
                 "(%zu, %u, %zu, %llu)", k->idx,
                 (unsigned long long)st.bytes_in,
                 (unsigned long long)st.msgs_in,
                 (unsigned long long)st.bytes_out,
                 (unsigned long long)st.msgs_out, k->rd, k->delivered,
                 k->sent, (unsigned long long)k->msgs_out);
    if (why == TSL_REASON_PEER_CLOSED && !all_delivered(k) &&
        !W.o.avoid_eof_ring)
        sim_fail("peer %d: closed after sending %u messages (%zu bytes), "
                 "%u delivered (%zu bytes)", k->idx, k->nmsg, k->out_len,
                 k->delivered, k->dbytes);
    k->c = NULL;
    tsl_client_unref(c);
}

static bool flag_na_seen;

static void
on_rejected(tsl_server_t *s, const char *ip, uint16_t port, tsl_reject_t why,
            void *ud)
{
    int i = (int)port - SIM_PORT0;
    struct sim_conn *k;

    (void)s;
    (void)ip;
    (void)ud;
    if (i < 0 || i >= W.nconns) {
        sim_fail("a rejection of port %u, no peer's", port);
        return;
    }
    k = &W.conns[i];
    W.rejected_cb++;
    TRACE("rejected: peer %d, %s", i, tsl_reject_name(why));
    if (k->connected || k->rejected)
        sim_fail("peer %d: rejected after being %s", i,
                 k->connected ? "connected" : "rejected");
    k->rejected = true;
    if (why != TSL_REJECT_FD_EXHAUSTED && why != TSL_REJECT_NO_MEMORY &&
        !(why == TSL_REJECT_NOT_ACCEPTING && flag_na_seen))
        sim_fail("peer %d: rejected as %s, which nothing caused", i,
                 tsl_reject_name(why));
}

/* ---- the peers' actions ---- */

enum { PA_NONE, PA_CONNECT, PA_WRITE, PA_READ, PA_FIN, PA_RST, PA_DIE };

static bool
fast_reader(const struct sim_conn *k)
{
    return k->kind != PEER_SLOW && k->kind != PEER_FLOOD;
}

/* What the peer can do now (a bit per PA_*). */
static unsigned
peer_can(const struct sim_conn *k)
{
    unsigned can = 0;
    bool open = k->st == C_BACKLOG || k->st == C_ACCEPTED;

    if (k->st == C_IDLE)
        return W.now >= k->connect_at && !W.stopping ? 1u << PA_CONNECT : 0;
    if (!open || k->rst || k->dead)
        return 0;
    if (k->sent > k->got && (fast_reader(k) || W.now >= k->next_at))
        can |= 1u << PA_READ;
    if (k->srv_closed)
        return can;
    if (k->wrote < k->stop_writing_at && !k->fin && W.now >= k->next_at)
        can |= 1u << PA_WRITE;
    if (!k->fin && k->wrote == k->out_len &&
        (k->kind == PEER_HALFCLOSE ||
         (k->kind == PEER_ECHO && k->got == k->echo_len &&
          ((k->idx & 1) || k->again))))
        can |= 1u << PA_FIN;
    if (k->kind == PEER_RESETTER && W.now >= k->rst_at &&
        !(W.o.avoid_hup_spin && W.not_listening))
        can |= 1u << PA_RST;
    if ((k->kind == PEER_DIES || k->kind == PEER_FIN_LOST) &&
        k->wrote == k->stop_writing_at)
        can |= 1u << PA_DIE;
    return can;
}

/* When the peer can next act, if only time stands in its way. */
static int64_t
peer_next(const struct sim_conn *k)
{
    if (k->st == C_IDLE)
        return W.stopping ? SIM_FOREVER : k->connect_at;
    if ((k->st != C_BACKLOG && k->st != C_ACCEPTED) || k->rst || k->dead)
        return SIM_FOREVER;
    if (k->sent > k->got && !fast_reader(k))
        return k->next_at;
    if (!k->srv_closed && !k->fin && k->wrote < k->stop_writing_at)
        return k->next_at;
    if (k->kind == PEER_RESETTER && !k->srv_closed)
        return k->rst_at;
    return SIM_FOREVER;
}

static int64_t
write_gap(const struct sim_conn *k)
{
    switch (k->kind) {
    case PEER_KA_SENDER:
        return W.hold > 0 ? sim_range(W.hold / 4, W.hold / 2 + 1)
                          : sim_range(0, 50);
    case PEER_FLOOD:
        return 0;
    case PEER_SLOW:
        return sim_range(0, 20);
    default:
        return sim_chance(1, 2) ? 0 : sim_range(1, 10);
    }
}

/* How much the peer writes now: a few bytes (a split header or
 * payload), up to a cut inside the next frame, or several frames at once
 * (coalesced), cut anywhere; a flood writes big blocks, a keepalive
 * sender one frame at a time. */
static size_t
write_chunk(struct sim_conn *k)
{
    size_t end;
    uint32_t r = sim_below(10), n, j;

    /* end: the end of the frame the next byte belongs to, fend[j]. */
    while (k->wfi < k->nfr && k->fend[k->wfi] <= k->wrote)
        k->wfi++;
    j = k->wfi;
    end = j < k->nfr ? k->fend[j] : k->out_len;
    if (k->kind == PEER_FLOOD)
        return sim_range(1, 16384);
    if (k->kind == PEER_KA_SENDER)
        return end - k->wrote;
    if (r == 0)
        return sim_range(1, 4);
    if (r < 5) {
        if (end < k->out_len && sim_chance(1, 2))
            end += sim_below((uint32_t)(k->fend[j + 1] - end));
        return end - k->wrote;
    }
    for (n = sim_range(1, 8); n > 0 && end < k->out_len; n--)
        end = k->fend[++j];
    if (sim_chance(1, 3) && end < k->out_len)
        end += sim_below((uint32_t)(k->fend[j + 1] - end));
    return end - k->wrote;
}

static void
peer_act(struct sim_conn *k)
{
    unsigned can = peer_can(k), pick;
    int opts[7], n = 0, a;
    size_t chunk, left;

    for (a = PA_CONNECT; a <= PA_DIE; a++)
        if (can & (1u << a))
            opts[n++] = a;
    if (n == 0)
        return;
    pick = sim_below((uint32_t)n);
    switch (opts[pick]) {
    case PA_CONNECT:
        if (W.lfd < 0) {
            k->st = C_REFUSED;
            break;
        }
        k->st = C_BACKLOG;
        W.backlog[W.nbacklog++] = k->idx;
        TRACE("peer %d (%s) connects", k->idx, peer_names[k->kind]);
        break;
    case PA_WRITE:
        left = k->stop_writing_at - k->wrote;
        chunk = write_chunk(k);
        if (chunk > left || chunk == 0)
            chunk = left;
        k->wrote += chunk;
        k->next_at = W.now + write_gap(k);
        TRACE("peer %d writes %zu bytes (%zu of %zu)", k->idx, chunk,
              k->wrote, k->out_len);
        break;
    case PA_READ:
        left = k->sent - k->got;
        chunk = k->kind == PEER_SLOW ? sim_range(1, 512) : left;
        if (chunk > left)
            chunk = left;
        k->got += chunk;
        if (!fast_reader(k))
            k->next_at = W.now + sim_range(1, 40);
        TRACE("peer %d reads %zu bytes (%zu of %zu)", k->idx, chunk, k->got,
              k->sent);
        break;
    case PA_FIN:
        k->fin = true;
        TRACE("peer %d shuts its side down (FIN)", k->idx);
        break;
    case PA_RST:
        k->rst = true;
        TRACE("peer %d resets the connection", k->idx);
        break;
    case PA_DIE:
        /* Its host dies (nothing more, not even a reset), or it closes
         * and the FIN is lost: then the server's next bytes meet a host
         * that knows no such connection and answers with a reset. */
        k->dead = true;
        k->fin_lost = k->kind == PEER_FIN_LOST;
        TRACE("peer %d %s", k->idx,
              k->fin_lost ? "closes, and its FIN is lost"
                          : "dies silently");
        break;
    }
    /* Its socket's readiness, and the listening socket's (a connect). */
    sim_conn_touch(k);
    sim_fd_sync(k->fd);
    if (opts[pick] == PA_CONNECT)
        sim_fd_sync(W.lfd);
    sim_hash(0x9e37 + (uint64_t)opts[pick] * 31 + (uint64_t)k->idx);
}

/* ---- the application's actions ---- */

static struct sim_conn *
pick_client(void)
{
    int live[SIM_MAXCONN], n = 0, i;

    for (i = 0; i < W.nconns; i++)
        if (W.conns[i].connected && W.conns[i].disconnects == 0)
            live[n++] = i;
    return n ? &W.conns[live[sim_below((uint32_t)n)]] : NULL;
}

static void
holds_changed(void)
{
    int i;

    for (i = 0; i < W.nconns; i++)
        if (W.conns[i].connected && W.conns[i].disconnects == 0)
            note_hold(&W.conns[i]);
}

/* A peer has reset and its client is not finished yet. */
static bool
reset_pending(void)
{
    int i;

    for (i = 0; i < W.nconns; i++)
        if (W.conns[i].rst && !W.conns[i].srv_closed)
            return true;
    return false;
}

static void
app_action(bool concurrent)
{
    struct sim_conn *k = pick_client();
    static const uint32_t holds[] = {0, 100, 300, 1000};
    static const int64_t overrides[] = {-1, 0, 150, 500};
    int rc;

    /* Connectors (8, 9) only outside --classic, so that its worlds draw
     * what they drew before. */
    switch (sim_below(W.o.classic ? 8 : 10)) {
    case 0:
        if (k == NULL)
            break;
        rc = tsl_client_disconnect(k->c);
        if (rc == 0)
            k->forced = true;
        TRACE("app: disconnect peer %d -> %d", k->idx, rc);
        break;
    case 1:
        if (!W.not_listening && W.o.avoid_hup_spin && reset_pending())
            break;
        W.not_listening = !W.not_listening;
        W.peer_dirty = ~0ull;
        if (W.not_listening) {
            int j;
            for (j = 0; j < W.nconns; j++)
                if (W.conns[j].connected && W.conns[j].disconnects == 0)
                    W.conns[j].nl_seen = true;
        }
        if (W.not_listening)
            tsl_server_set_flags(W.srv, TSL_SERVER_NOT_LISTENING);
        else
            tsl_server_clear_flags(W.srv, TSL_SERVER_NOT_LISTENING);
        TRACE("app: NOT_LISTENING %s", W.not_listening ? "on" : "off");
        break;
    case 2:
    case 3:
        if (k == NULL)
            break;
        {
            tsl_client_stats_t st;
            tsl_client_mode_t to;
            tsl_client_stats(k->c, &st);
            to = st.threaded ? TSL_CLIENT_MULTIPLEXED : TSL_CLIENT_THREADED;
            rc = tsl_server_migrate_client(W.srv, k->c, to);
            TRACE("app: migrate peer %d to %s -> %d", k->idx,
                  to == TSL_CLIENT_THREADED ? "a thread" : "the shared loop",
                  rc);
        }
        break;
    case 4:
        if (tsl_server_flags(W.srv) & TSL_SERVER_MULTI_THREADED)
            tsl_server_clear_flags(W.srv, TSL_SERVER_MULTI_THREADED);
        else
            tsl_server_set_flags(W.srv, TSL_SERVER_MULTI_THREADED);
        TRACE("app: MULTI_THREADED %s",
              tsl_server_flags(W.srv) & TSL_SERVER_MULTI_THREADED ? "on"
                                                                  : "off");
        break;
    case 5:
        W.hold = holds[sim_below(4)];
        tsl_server_set_keepalive(W.srv, W.hold);
        holds_changed();
        TRACE("app: server keepalive %u ms", W.hold);
        break;
    case 6:
        if (k == NULL)
            break;
        {
            int64_t h = overrides[sim_below(4)];
            rc = tsl_client_set_keepalive(k->c, h);
            if (rc == 0) {
                k->ka_override = h;
                note_hold(k);
            }
            TRACE("app: keepalive of peer %d %lld ms -> %d", k->idx,
                  (long long)h, rc);
        }
        break;
    case 7:
        if (concurrent || sim_chance(1, 2)) {
            unsigned on = tsl_server_flags(W.srv) & TSL_SERVER_NOT_ACCEPTING;
            if (on) {
                tsl_server_clear_flags(W.srv, TSL_SERVER_NOT_ACCEPTING);
            } else {
                flag_na_seen = true;
                tsl_server_set_flags(W.srv, TSL_SERVER_NOT_ACCEPTING);
            }
            TRACE("app: NOT_ACCEPTING %s", on ? "off" : "on");
        }
        break;
    case 8:
        if (W.nctasks < SIM_MAXCTASK / 2) {
            bool once = sim_chance(1, 4);
            int n = W.nctasks;
            W.in_connect = true;
            rc = tsl_server_connect(W.srv, "127.0.0.1", SIM_CPORT,
                                    once ? TSL_CONNECT_ONCE : 0);
            W.in_connect = false;
            if (rc > 0 && W.nctasks > n) {
                W.ctasks[n].cid = rc;
                W.ctasks[n].once = once;
            }
            TRACE("app: connect%s -> %d", once ? " once" : "", rc);
        }
        break;
    case 9:
        {
            int live[SIM_MAXCTASK], n = 0, i;
            for (i = 0; i < W.nctasks; i++)
                if (W.ctasks[i].alive && !W.ctasks[i].cancelled &&
                    W.ctasks[i].cid > 0)
                    live[n++] = i;
            if (n == 0)
                break;
            i = live[sim_below((uint32_t)n)];
            rc = tsl_server_cancel_connect(W.srv, W.ctasks[i].cid);
            if (rc == 0)
                W.ctasks[i].cancelled = true;
            TRACE("app: cancel connector %d -> %d", i, rc);
        }
        break;
    }
    W.ka_changed_at = W.now;
    sim_hash(0xa99 + (uint64_t)W.step);
}

/* From a message callback of k: moves it, ends it or changes its hold. */
static void
app_on_client(struct sim_conn *k)
{
    tsl_client_stats_t st;
    int rc;

    switch (sim_below(4)) {
    case 0:
        rc = tsl_client_disconnect(k->c);
        if (rc == 0)
            k->forced = true;
        TRACE("app (callback): disconnect peer %d -> %d", k->idx, rc);
        break;
    case 1:
        k->ka_override = sim_chance(1, 2) ? -1 : 200;
        tsl_client_set_keepalive(k->c, k->ka_override);
        note_hold(k);
        W.ka_changed_at = W.now;
        TRACE("app (callback): keepalive of peer %d %lld ms", k->idx,
              (long long)k->ka_override);
        break;
    default:
        tsl_client_stats(k->c, &st);
        rc = tsl_server_migrate_client(W.srv, k->c,
                                       st.threaded ? TSL_CLIENT_MULTIPLEXED
                                                   : TSL_CLIENT_THREADED);
        TRACE("app (callback): migrate peer %d to %s -> %d", k->idx,
              st.threaded ? "the shared loop" : "a thread", rc);
        break;
    }
}

/* After its last action the application listens and accepts again. */
static void
app_settle(void)
{
    if (W.not_listening) {
        W.not_listening = false;
        W.peer_dirty = ~0ull;
        tsl_server_clear_flags(W.srv, TSL_SERVER_NOT_LISTENING);
        W.ka_changed_at = W.now;
    }
    tsl_server_clear_flags(W.srv, TSL_SERVER_NOT_ACCEPTING);
    TRACE("app: listens and accepts again (its last action)");
}

void
sim_app_concurrent(void *arg)
{
    (void)arg;
    app_action(true);
}

/* ---- the stop, as tsl_server_stop does it, thread by thread ---- */

static struct sim_task *
shared_task(void)
{
    int i;

    for (i = 0; i < W.ntasks; i++)
        if (W.tasks[i].alive && W.tasks[i].rx == &W.srv->rx)
            return &W.tasks[i];
    return NULL;
}

static bool
any_ctask_alive(void)
{
    int i;

    for (i = 0; i < W.nctasks; i++)
        if (W.ctasks[i].alive)
            return true;
    return false;
}

static bool
any_task_alive(void)
{
    int i;

    for (i = 0; i < W.ntasks; i++)
        if (W.tasks[i].alive)
            return true;
    return false;
}

static void
stop_request(void)
{
    struct tsl_server *srv = W.srv;

    W.stopping = true;
    W.peer_dirty = ~0ull;
    W.p_alloc = 0;
    W.stop_t0 = W.now;
    W.stop_step0 = W.step;
    W.stop_phase = 1;
    TRACE("app: stop");
    /* tsl__acceptor_stop's first half: the host switches it off, or
     * (select) its own thread is told to end. */
    atomic_store(&srv->acc.stop, true);
    if (srv->acc.hosted)
        srv->acc.hook.wake(srv->acc.hook.loop);
    else if (srv->acc.running)
        tsl__wakeup_signal(&srv->acc.wk);
}

static bool
acceptor_thread_alive(void)
{
    int i;

    for (i = 0; i < W.nctasks; i++)
        if (W.ctasks[i].acceptor && W.ctasks[i].alive)
            return true;
    return false;
}

/* Moves the stop on when what it waits for has happened; true if it did. */
static bool
stop_advance(void)
{
    struct tsl_server *srv = W.srv;
    struct tsl_receiver *rx;
    bool off;

    switch (W.stop_phase) {
    case 1:
        if (srv->acc.hosted) {
            pthread_mutex_lock(&srv->acc.lock);
            off = srv->acc.off;
            pthread_mutex_unlock(&srv->acc.lock);
        } else {
            off = !acceptor_thread_alive(); /* then the join returns */
        }
        if (!off)
            return false;
        tsl__acceptor_stop(&srv->acc); /* returns at once: it is off */
        pthread_mutex_lock(&srv->conn_lock);
        srv->conn_closed = true;
        pthread_mutex_unlock(&srv->conn_lock);
        pthread_mutex_lock(&srv->ded_lock);
        srv->ded_closed = true;
        pthread_mutex_unlock(&srv->ded_lock);
        tsl__receiver_request_stop(&srv->rx);
        W.stop_phase = 2;
        TRACE("stop: acceptor off, the shared receiver asked to stop");
        return true;
    case 2:
        if (shared_task() != NULL)
            return false;
        /* tsl__dedicated_reap(srv, true)'s requests. */
        pthread_mutex_lock(&srv->ded_lock);
        for (rx = srv->ded_head; rx != NULL; rx = rx->ded_next)
            tsl__receiver_request_stop(rx);
        pthread_mutex_unlock(&srv->ded_lock);
        W.stop_phase = 3;
        TRACE("stop: the shared receiver ended, dedicated ones asked");
        return true;
    case 3:
        if (any_task_alive())
            return false;
        tsl__dedicated_reap(srv, true);
        /* tsl__connector_reap(srv, true) cancels the connectors and joins
         * their threads: the cancel here, then their threads run to
         * their end before the join. */
        if (any_ctask_alive()) {
            struct tsl_connector *c;
            if (!W.ctasks_cancelled) {
                W.ctasks_cancelled = true;
                pthread_mutex_lock(&srv->conn_lock);
                for (c = srv->conn_head; c != NULL; c = c->next) {
                    atomic_store(&c->cancel, true);
                    tsl__wakeup_signal(&c->wk);
                }
                pthread_mutex_unlock(&srv->conn_lock);
                TRACE("stop: the connectors cancelled");
            }
            return false;
        }
        tsl__connector_reap(srv, true);
        tsl__dedicated_reap(srv, true); /* the core's second reap */
        tsl__receiver_release(&srv->rx);
        if (tsl__db_count(&srv->db) != 0)
            sim_fail("stop: %zu clients left in the database",
                     tsl__db_count(&srv->db));
        atomic_fetch_and(&srv->flags, ~(unsigned)TSL_SERVER_RUNNING);
        pthread_mutex_lock(&srv->stop_lock);
        srv->state = TSL__S_STOPPED;
        pthread_mutex_unlock(&srv->stop_lock);
        W.stop_phase = 4;
        TRACE("stop: done in %lld ms, %llu steps",
              (long long)(W.now - W.stop_t0),
              (unsigned long long)(W.step - W.stop_step0));
        return true;
    default:
        return false;
    }
}

/* ---- invariants after every step ---- */

static void
check_step(void)
{
    static int64_t ka_checked;
    uint64_t d;
    int t, i;

    tasks_update();
    /* The live tasks not runnable: asleep, and nothing wakes them. */
    for (d = W.task_alive & ~W.task_ready; d != 0; d &= d - 1) {
        struct sim_task *tk = &W.tasks[t = __builtin_ctzll(d)];
        struct tsl_receiver *rx = tk->rx;
        bool queued;
        if (!tk->alive || !tk->sleeping)
            continue;
        /* Read without the queue's lock: no other thread runs now. */
        queued = rx->wk.head != NULL;
        if (!queued && !atomic_load(&rx->stop))
            continue;
        if (W.task_ready & (1ull << t))
            continue;
        if (queued)
            sim_fail("task %d sleeps (%s) with clients in its hand-off "
                     "queue and no wake-up pending: a lost wake-up", t,
                     tk->wake_at == SIM_FOREVER ? "for ever" : "on a timer");
        else
            sim_fail("task %d sleeps though asked to stop", t);
    }
    if (W.stopping && W.stop_phase < 4) {
        if (W.now - W.stop_t0 > STOP_BOUND_MS)
            sim_fail("the stop has taken %lld ms of virtual time (phase %d)",
                     (long long)(W.now - W.stop_t0), W.stop_phase);
        if (W.step - W.stop_step0 > STOP_BOUND_STEPS)
            sim_fail("the stop has taken %llu steps (phase %d)",
                     (unsigned long long)(W.step - W.stop_step0),
                     W.stop_phase);
    }
    /* Keepalive expiry on time: a silent client goes within a few ticks
     * of its hold (or of the change that made it due).  Once per instant
     * of virtual time is enough: it can only break as time moves. */
    if (ka_checked == W.now && W.step > 1)
        return;
    ka_checked = W.now;
    if (W.nctasks > 0)
        check_connectors();
    for (i = 0; i < W.nconns; i++) {
        struct sim_conn *k = &W.conns[i];
        int64_t h, due;
        if (!k->connected || k->disconnects > 0 || k->wrote > k->rd ||
            W.stopping)
            continue;
        h = k->ka_override >= 0 ? k->ka_override : (int64_t)W.hold;
        if (h <= 0)
            continue;
        due = (k->last_read > k->ka_from ? k->last_read : k->ka_from) + h;
        if (due < W.ka_changed_at)
            due = W.ka_changed_at;
        if (W.now > due + 3 * (int64_t)W.tick + 60)
            sim_fail("peer %d: silent for %lld ms with a hold of %lld ms, "
                     "and still connected", k->idx,
                     (long long)(W.now - k->last_read), (long long)h);
    }
}

/* Nothing can run and no deadline is left. */
static void
quiescent(void)
{
    int i;

    if (W.stopping) {
        sim_fail("the stop does not finish: nothing can run (phase %d)",
                 W.stop_phase);
        return;
    }
    for (i = 0; i < W.nconns; i++) {
        struct sim_conn *k = &W.conns[i];
        if (!k->connected || k->disconnects > 0 || k->rst || k->dead ||
            k->send_failed)
            continue;
        if (k->wrote > k->rd && !(W.o.avoid_nl_stranded && k->nl_seen))
            sim_fail("stall: peer %d has %zu bytes the server never reads",
                     k->idx, k->wrote - k->rd);
        else if (fr_kind != SIM_FR_NONE && k->delivered < k->nmsg &&
                 k->wrote >= k->moff[k->delivered] + k->mlen[k->delivered] +
                                 f_hdr + f_tail &&
                 !(W.o.avoid_nl_stranded && k->nl_seen))
            sim_fail("stall: peer %d sent message %u whole, never delivered",
                     k->idx, k->delivered);
        else if (k->sent < k->echo_len && all_delivered(k) &&
                 k->sent == k->got)
            sim_fail("stall: peer %d waits for %zu bytes of replies",
                     k->idx, k->echo_len - k->sent);
        if (W.failed)
            return;
    }
    W.stop_at = W.now;
}

/* ---- the world ---- */

static void
choose_chaos(void)
{
    static const uint32_t dens[] = {0, 0, 64, 16, 6};

    W.p_split = dens[sim_below(5)];
    W.p_eintr = dens[sim_below(5)] * 2;
    W.p_eagain = dens[sim_below(5)] * 2;
    W.p_short = dens[sim_below(5)];
    W.p_emfile = sim_chance(1, 4) ? 8 : 0;
    W.p_abort = sim_chance(1, 4) ? 8 : 0;
    W.p_preempt = sim_chance(1, 2) ? sim_range(20, 400) : 0;
    W.preempts_left = W.p_preempt ? (int)sim_range(1, 6) : 0;
    W.p_in_callback = sim_chance(1, 2) ? sim_range(10, 200) : 0;
    W.fd_budget = sim_chance(1, 8) ? 3 + 8 + (int)sim_below(16) : SIM_MAXFD;
    switch (sim_below(8)) {
    case 0: case 1: case 2: size_lo = 1; size_hi = 16; break;
    case 3: case 4: case 5: case 6: size_lo = 1; size_hi = 300; break;
    default: size_lo = 100; size_hi = MAX_FRAME - 2; break;
    }
}

static int
setup_server(void)
{
    tsl_callbacks_t cb = {0};
    size_t low, high;

    if (tsl_server_create(&W.srv, "sim", "127.0.0.1", 0) < 0)
        return -1;
    cb.connected = on_connected;
    cb.message = on_message;
    cb.disconnected = on_disconnected;
    cb.rejected = on_rejected;
    tsl_server_set_callbacks(W.srv, &cb, NULL);
    if (tsl_server_set_framing(W.srv, &fr) < 0)
        return -1;
    tsl_server_set_backend(W.srv, W.backend);
    W.tick = sim_chance(1, 2) ? 10 : 50;
    tsl_server_set_timer_tick(W.srv, W.tick);
    if (sim_chance(1, 2)) {
        low = sim_range(256, 4096);
        high = low + sim_range(0, 8192);
        tsl_server_set_output_limits(W.srv, low, high, high + 2 * MAX_FRAME,
                                     sim_range(100, 2000));
    }
    W.hold = sim_chance(1, 3) ? 0 : sim_range(100, 1500);
    tsl_server_set_keepalive(W.srv, W.hold);
    if (sim_chance(1, 4))
        tsl_server_set_flags(W.srv, TSL_SERVER_MULTI_THREADED);
    return tsl_server_start(W.srv);
}

static void
final_checks(void)
{
    tsl_server_stats_t ss;
    uint64_t bin = 0, bout = 0, min = 0, mout = 0;
    int i, r;

    for (i = 0; i < W.nconns && !W.failed; i++) {
        struct sim_conn *k = &W.conns[i];
        if (k->connected && k->disconnects != 1)
            sim_fail("peer %d: %d disconnected callbacks after the stop",
                     k->idx, k->disconnects);
        if (k->st == C_ACCEPTED && !k->connected && !k->rejected &&
            !k->attach_failed)
            sim_fail("peer %d: accepted, neither connected nor rejected",
                     k->idx);
        if (k->st == C_ACCEPTED && !k->srv_closed)
            sim_fail("peer %d: its socket is still open after the stop",
                     k->idx);
        if (k->reason == TSL_REASON_PEER_CLOSED && k->connected &&
            k->sent != k->echo_len && !W.o.avoid_eof_ring)
            sim_fail("peer %d: closed cleanly but got %zu of %zu bytes of "
                     "replies", k->idx, k->sent, k->echo_len);
        bin += k->rd;
        bout += k->sent;
        min += k->delivered;
        mout += k->msgs_out;
    }
    tsl_server_stats(W.srv, &ss);
    if (!W.failed && (ss.accepted != W.accepted_cb || ss.bytes_in != bin ||
                      ss.bytes_out != bout || ss.msgs_in != min ||
                      ss.msgs_out != mout || ss.current_clients != 0))
        sim_fail("server counters (accepted %llu, in %llu/%llu, out "
                 "%llu/%llu, current %llu) differ from the peers' (%llu, "
                 "%llu/%llu, %llu/%llu, 0)",
                 (unsigned long long)ss.accepted,
                 (unsigned long long)ss.bytes_in,
                 (unsigned long long)ss.msgs_in,
                 (unsigned long long)ss.bytes_out,
                 (unsigned long long)ss.msgs_out,
                 (unsigned long long)ss.current_clients,
                 (unsigned long long)W.accepted_cb, (unsigned long long)bin,
                 (unsigned long long)min, (unsigned long long)bout,
                 (unsigned long long)mout);
    for (r = 0; r < TSL_REASON_COUNT && !W.failed; r++)
        if (ss.disconnected[r] != W.disc_by_reason[r])
            sim_fail("server counts %llu disconnections as %s, callbacks "
                     "said %llu", (unsigned long long)ss.disconnected[r],
                     tsl_reason_name((tsl_reason_t)r),
                     (unsigned long long)W.disc_by_reason[r]);
    /* Setters are for any time: after the stop too (their wake-ups must
     * not reach receivers that are gone). */
    if (!W.failed && sim_chance(1, 2)) {
        tsl_server_set_keepalive(W.srv, W.hold + 1);
        tsl_server_set_flags(W.srv, TSL_SERVER_NOT_LISTENING);
        tsl_server_clear_flags(W.srv, TSL_SERVER_NOT_LISTENING);
    }
    tsl_server_destroy(W.srv);
    W.srv = NULL;
    if (!W.failed && W.live_allocs != 0)
        sim_fail("%ld allocations left after the stop and destroy",
                 W.live_allocs);
    for (i = 0; i < SIM_MAXFD && !W.failed; i++)
        if (W.fds[i].kind != FD_FREE)
            sim_fail("descriptor %d (kind %d) left open after the stop", i,
                     (int)W.fds[i].kind);
}

/* One step: a runnable task, a peer or the application; or time moves. */
static bool
step(void)
{
    int cand[SIM_MAXTASK + SIM_MAXCONN + 2 + SIM_MAXCTASK], n = 0, i, c;
    int64_t next = SIM_FOREVER, at;
    uint64_t b, d;

    if (W.again_pending > 0)
        reconnect_peers();
    tasks_update();
    for (b = W.task_ready; b != 0; b &= b - 1)
        cand[n++] = __builtin_ctzll(b); /* in the order of the index */
    /* A connection over for its peer can do nothing again: it leaves the
     * live ones.  What peer_over and peer_can say is kept (W.peer_can)
     * and computed again only for the connections that changed (or all,
     * when the time, the stop or NOT_LISTENING did: W.peer_dirty);
     * candidates in the order of the index, as they always were. */
    for (d = W.peer_dirty & W.peer_live, W.peer_dirty = 0; d != 0;
         d &= d - 1) {
        i = __builtin_ctzll(d);
        b = 1ull << i;
        if (peer_over(&W.conns[i])) {
            W.peer_live &= ~b;
            W.peer_can &= ~b;
        } else if (peer_can(&W.conns[i])) {
            W.peer_can |= b;
        } else {
            W.peer_can &= ~b;
        }
    }
#ifdef SIM_VERIFY
    for (i = 0; i < W.nconns; i++)
        if (((W.peer_live >> i) & 1) &&
            (peer_over(&W.conns[i]) ||
             ((W.peer_can >> i) & 1) != (peer_can(&W.conns[i]) != 0))) {
            fprintf(stderr, "tsl-sim: seed %llu step %llu: peer %d's kept "
                    "state is stale\n", (unsigned long long)W.o.seed,
                    (unsigned long long)W.step, i);
            abort();
        }
#endif
    for (b = W.peer_can & W.peer_live; b != 0; b &= b - 1)
        cand[n++] = SIM_MAXTASK + __builtin_ctzll(b);
    if (!W.stopping && W.app_actions_left > 0 && W.now >= W.app_next_at)
        cand[n++] = SIM_MAXTASK + SIM_MAXCONN;
    if (!W.stopping && W.now >= W.stop_at)
        cand[n++] = SIM_MAXTASK + SIM_MAXCONN + 1;
    for (i = 0; i < W.nctasks; i++)
        if (ctask_runnable(&W.ctasks[i]))
            cand[n++] = SIM_MAXTASK + SIM_MAXCONN + 2 + i;
    if (n == 0) {
        /* A connector napping beside its live client wakes every second
         * to look: no deadline of the world's (its client's end wakes
         * it); nor is its next attempt once the listening peer takes no
         * more (it would retry in vain until the stop). */
        for (i = 0; i < W.nctasks; i++)
            if (W.ctasks[i].alive && W.ctasks[i].sleeping &&
                !W.ctasks[i].client_live && W.ctasks[i].wake_at < next &&
                (W.dial_left > 0 || W.stopping || W.ctasks[i].acceptor))
                next = W.ctasks[i].wake_at;
        for (i = 0; i < W.ntasks; i++)
            if (W.tasks[i].alive && W.tasks[i].sleeping &&
                W.tasks[i].wake_at < next)
                next = W.tasks[i].wake_at;
        for (b = W.peer_live; b != 0; b &= b - 1) {
            at = peer_next(&W.conns[__builtin_ctzll(b)]);
            if (at > W.now && at < next)
                next = at;
        }
        if (!W.stopping && W.app_actions_left > 0 && W.app_next_at < next)
            next = W.app_next_at;
        if (!W.stopping && W.stop_at < next && W.stop_at != SIM_FOREVER)
            next = W.stop_at;
        if (next == SIM_FOREVER) {
            if (!W.stopping && W.not_listening) {
                /* The application always listens again in the end. */
                W.not_listening = false;
                W.peer_dirty = ~0ull;
                tsl_server_clear_flags(W.srv, TSL_SERVER_NOT_LISTENING);
                TRACE("app: NOT_LISTENING off (the end)");
                return true;
            }
            quiescent();
            return !W.failed;
        }
        W.now = next;
        W.peer_dirty = ~0ull;
        /* The time changes only the runnability of those whose timeout
         * has come (and of those that read a connect under way: always
         * computed). */
        for (i = 0; i < W.ntasks; i++)
            if (W.tasks[i].alive && W.tasks[i].sleeping &&
                W.tasks[i].wake_at <= W.now)
                W.task_dirty |= 1ull << i;
        return true;
    }
    W.step++;
    c = cand[sim_below((uint32_t)n)];
    W.digest = (W.digest ^ ((uint64_t)n << 40 ^ (uint64_t)c << 32 ^
                            (uint64_t)W.now)) * 0x100000001b3ull;
    if (c < SIM_MAXTASK) {
        task_run(c);
    } else if (c < SIM_MAXTASK + SIM_MAXCONN) {
        peer_act(&W.conns[c - SIM_MAXTASK]);
    } else if (c >= SIM_MAXTASK + SIM_MAXCONN + 2) {
        sim_ctask_run(c - (SIM_MAXTASK + SIM_MAXCONN + 2));
    } else if (c == SIM_MAXTASK + SIM_MAXCONN) {
        W.app_actions_left--;
        W.app_next_at = W.now + sim_range(0, 400);
        app_action(false);
        if (W.app_actions_left == 0)
            app_settle();
    } else {
        stop_request();
    }
    if (W.stopping)
        while (stop_advance())
            ;
    check_step();
    return !W.failed;
}

uint64_t
sim_world_delivered(void)
{
    uint64_t n = 0;
    int i;

    for (i = 0; i < W.nconns; i++)
        n += W.conns[i].delivered;
    return n;
}

uint64_t
sim_world_digest(void)
{
    uint64_t d = W.digest;
    const char *p;

    d = (d ^ W.hash) * 0x100000001b3ull;
    d = (d ^ W.step) * 0x100000001b3ull;
    d = (d ^ (uint64_t)W.now) * 0x100000001b3ull;
    d = (d ^ sim_world_delivered()) * 0x100000001b3ull;
    d = (d ^ (W.failed ? W.fail_step : ~0ull)) * 0x100000001b3ull;
    for (p = W.failed ? W.why : ""; *p != '\0'; p++)
        d = (d ^ (uint8_t)*p) * 0x100000001b3ull;
    return d;
}

bool
sim_world_run(const struct sim_opts *o)
{
    char (*trace)[160] = W.trace;
    struct sim_conn keep[SIM_MAXCONN];
    int i;

    /* Everything starts afresh but the buffers, which are reused. */
    memcpy(keep, W.conns, sizeof(keep));
    memset(&W, 0, sizeof(W));
    for (i = 0; i < SIM_MAXCONN; i++) {
        W.conns[i].out = keep[i].out;
        W.conns[i].out_cap = keep[i].out_cap;
        W.conns[i].moff = keep[i].moff;
        W.conns[i].mlen = keep[i].mlen;
        W.conns[i].mcap = keep[i].mcap;
        W.conns[i].echo = keep[i].echo;
        W.conns[i].echo_cap = keep[i].echo_cap;
        W.conns[i].fend = keep[i].fend;
        W.conns[i].fcap = keep[i].fcap;
    }
    W.trace = trace;
    W.o = *o;
    W.cur = -1;
    W.now = SIM_TIME0;
    sim_rng_seed(o->seed);
    sim_os_reset();
    flag_na_seen = false;
    choose_framing(o->seed, o->framing);
    choose_chaos();
    if (o->fd_budget > 0)
        W.fd_budget = o->fd_budget; /* drawn all the same: the same world */
    framing_sizes();
    tsl__sys_set(&sim_sys);
    /* The select backend (its own acceptor thread) in a quarter of the
     * worlds outside --classic. */
    W.backend = !o->classic && side_below(4) == 0 ? TSL_BACKEND_SELECT
                                                  : TSL_BACKEND_EPOLL;
    if (o->backend >= 0)
        W.backend = (tsl_backend_t)o->backend;
    {
        uint32_t tf = W.p_thread_fail;
        W.p_thread_fail = 0;
        if (setup_server() < 0) {
            sim_fail("the server does not start");
            tsl__sys_set(NULL);
            return false;
        }
        W.p_thread_fail = sim_chance(1, 4) ? 4 : tf;
    }
    /* Allocation failures in a quarter of the worlds outside --classic,
     * from the second stream; until the stop is asked. */
    if (!o->classic && side_below(4) == 0)
        W.p_alloc = 2 + side_below(100);
    W.nconns = o->clients > SIM_MAXCONN ? SIM_MAXCONN : o->clients;
    for (i = 0; i < W.nconns; i++)
        gen_conn(i, o->msgs);
    W.dial_left = o->classic ? 0 : (int)side_below(6) + 1;
    W.app_actions_left = (int)sim_below(24);
    W.app_next_at = W.now + sim_range(0, 300);
    W.stop_at = sim_chance(1, 5) ? W.now + sim_range(0, 3000) : SIM_FOREVER;
    TRACE("world %llu: %d peers x %d messages, framing %s (%u..%u bytes), "
          "hold %u, tick %u, chaos split 1/%u eintr 1/%u eagain 1/%u short "
          "1/%u emfile 1/%u",
          (unsigned long long)o->seed, W.nconns, o->msgs,
          framing_spec(), size_lo, size_hi, W.hold, W.tick,
          W.p_split, W.p_eintr, W.p_eagain, W.p_short, W.p_emfile);
    while (W.stop_phase < 4 && !W.failed) {
        if (!step())
            break;
        if ((W.step >= o->max_steps || W.now > SIM_TIME0 + TIME_LIMIT_MS) &&
            !W.stopping)
            W.stop_at = W.now;
    }
    if (!W.failed)
        final_checks();
    tsl__sys_set(NULL);
    return !W.failed;
}

/* The last world as its seed drew it (--describe): one line, its framing,
 * backend, tick, descriptor budget and chaos, and every connection it made
 * (the first peers and those that connected again) folded into a count,
 * their messages, their bytes and one hash of each one's script and whole
 * stream (kind, messages, the bytes themselves, buffer room, when it
 * connects, stops writing and resets).  The digest follows the run; this
 * says what was generated, down to the payload bytes. */
void
sim_world_describe(char *buf, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull, msgs = 0, bytes = 0;
    size_t j;
    int i;

#define DESCRIBE_MIX(v) (h = (h ^ (uint64_t)(v)) * 0x100000001b3ull)
    for (i = 0; i < W.nconns; i++) {
        const struct sim_conn *k = &W.conns[i];
        DESCRIBE_MIX(k->kind);
        DESCRIBE_MIX(k->nmsg);
        DESCRIBE_MIX(k->out_len);
        for (j = 0; j < k->out_len; j++)
            DESCRIBE_MIX(k->out[j]);
        DESCRIBE_MIX(k->room_cap);
        DESCRIBE_MIX(k->connect_at - SIM_TIME0);
        DESCRIBE_MIX(k->stop_writing_at);
        DESCRIBE_MIX(k->rst_at);
        DESCRIBE_MIX(k->again);
        msgs += k->nmsg;
        bytes += k->out_len;
    }
#undef DESCRIBE_MIX
    snprintf(buf, n,
             "world %s %s tick %u budget %d chaos %u/%u/%u/%u/%u/%u/%u/%u "
             "sizes %u..%u peers %d msgs %llu bytes %llu streams %016llx",
             framing_spec(), W.backend == TSL_BACKEND_SELECT ? "select"
                                                             : "epoll",
             W.tick, W.fd_budget, W.p_split, W.p_eintr, W.p_eagain,
             W.p_short, W.p_emfile, W.p_abort, W.p_preempt, W.p_in_callback,
             size_lo, size_hi, W.nconns, (unsigned long long)msgs,
             (unsigned long long)bytes, (unsigned long long)h);
}

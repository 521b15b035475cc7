/*
 * tsl_sim.c - the command line of the deterministic simulation.
 *
 *   tsl-sim --seed N [--steps K]     one world, its trace on failure
 *   tsl-sim --seeds A..B             many; ends with
 *                                    "N worlds, F failed, R worlds/s"
 *   options: --clients N (10), --msgs M (100), --verbose (the trace as
 *   it happens), --framing KIND (the framing of every world instead of
 *   the seed's: variable, variable-opts, delimiter, fixed, none),
 *   --classic (variable framing, no dying or reconnecting peers, no
 *   connectors, no allocation failures: the worlds from before those
 *   were drawn),
 *   --digest (a line a world: "seed N digest D steps K", D a hash of
 *   every step's choice, the fingerprint, the time and how it failed,
 *   to compare two builds world by world: a change that should leave
 *   the worlds as they were must leave every line as it was),
 *   --describe (a line a world: "seed N world ...", what the seed
 *   generated: framing, backend, tick, descriptor budget, chaos, payload
 *   sizes, and the connections, their messages and bytes and a hash of
 *   their scripts and streams; sim.pinned keeps some seeds' lines),
 *   --no-replay (do not replay failing seeds), --avoid
 *   LIST (tolerate known core bugs: hup-spin, nl-stranded, eof-ring;
 *   docs/simulation.md).
 *
 * A failing world prints its seed, the step and what broke; --seeds
 * replays each failing seed twice with the trace on and says whether the
 * replays failed at the same step for the same reason (they must: a world
 * is a function of its seed).  A world that crashes (a core assertion, a
 * fault) is caught: the range runs in a child process, and the parent
 * reports the crashed seed and goes on with the next.
 *
 * State: the options and the run's counters, this file's; the world is
 * sim_world.c's.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

static void
usage(void)
{
    fprintf(stderr,
            "usage: tsl-sim --seed N [--steps K] | --seeds A..B\n"
            "               [--clients N] [--msgs M] [--verbose] "
            "[--no-replay]\n"
            "               [--digest] [--describe] [--fd-budget N]\n"
            "               [--framing variable|variable-opts|delimiter|"
            "fixed|none] [--classic]\n"
            "               [--backend epoll|select]\n"
            "               [--avoid hup-spin,nl-stranded,eof-ring]\n");
    exit(2);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A crash in a world: say which one, then die as the signal says. */
static void
on_crash(int sig)
{
    printf("seed %" PRIu64 ": CRASHED at step %" PRIu64 " (signal %d)\n",
           W.o.seed, W.step, sig);
    if (W.o.trace)
        sim_trace_dump();
    fflush(stdout);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void
report(const struct sim_opts *o)
{
    printf("seed %" PRIu64 ": FAILED at step %" PRIu64 " (t=%lld ms): %s\n",
           o->seed, W.fail_step, (long long)(W.now - SIM_TIME0), W.why);
}

/* --digest and --describe: the lines that name a world (sim.pinned). */
static void
world_lines(const struct sim_opts *o)
{
    char line[256];

    if (o->digest)
        printf("seed %" PRIu64 " digest %016" PRIx64 " steps %" PRIu64 "\n",
               o->seed, sim_world_digest(), W.step);
    if (o->describe) {
        sim_world_describe(line, sizeof(line));
        printf("seed %" PRIu64 " %s\n", o->seed, line);
    }
}

/* Replays a failing seed twice with the trace; true if both replays
 * failed at the same step with the same reason. */
static bool
replay(struct sim_opts o)
{
    char why[sizeof(W.why)];
    uint64_t at = W.fail_step;
    bool same = true;
    int i;

    memcpy(why, W.why, sizeof(why));
    o.trace = true;
    for (i = 0; i < 2; i++) {
        bool ok = sim_world_run(&o);
        if (ok || W.fail_step != at || strcmp(W.why, why) != 0)
            same = false;
    }
    sim_trace_dump();
    printf("seed %" PRIu64 ": replayed twice: %s\n", o.seed,
           same ? "the same failure at the same step" : "DIFFERENT");
    return same;
}

struct shared {
    uint64_t cur, done, failed, msgs;
};

/* Runs seeds [a, b] in this process; counts in sh. */
static void
run_range(struct sim_opts o, uint64_t a, uint64_t b, bool do_replay,
          struct shared *sh)
{
    uint64_t s;

    for (s = a; s <= b; s++) {
        sh->cur = s;
        o.seed = s;
        o.trace = false;
        if (!sim_world_run(&o)) {
            world_lines(&o);
            sh->failed++;
            report(&o);
            if (do_replay)
                replay(o);
            fflush(stdout);
        } else {
            world_lines(&o);
        }
        sh->done++;
        sh->msgs += sim_world_delivered();
        if (s == UINT64_MAX)
            break;
    }
}

int
main(int argc, char **argv)
{
    struct sim_opts o = {.max_steps = 2000000, .clients = 10, .msgs = 100,
                         .framing = -1, .backend = -1};
    uint64_t a = 0, b = 0;
    bool one = false, many = false, do_replay = true;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            o.seed = strtoull(argv[++i], NULL, 0);
            one = true;
        } else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            char *dots;
            a = strtoull(argv[++i], &dots, 0);
            if (strncmp(dots, "..", 2) != 0)
                usage();
            b = strtoull(dots + 2, NULL, 0);
            many = true;
        } else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            o.max_steps = strtoull(argv[++i], NULL, 0);
        } else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
            o.clients = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--msgs") == 0 && i + 1 < argc) {
            o.msgs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--framing") == 0 && i + 1 < argc) {
            o.framing = sim_framing_by_name(argv[++i]);
            if (o.framing < 0)
                usage();
        } else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "epoll") == 0)
                o.backend = TSL_BACKEND_EPOLL;
            else if (strcmp(argv[i], "select") == 0)
                o.backend = TSL_BACKEND_SELECT;
            else
                usage();
        } else if (strcmp(argv[i], "--classic") == 0) {
            o.classic = true;
            o.framing = SIM_FR_VARIABLE;
        } else if (strcmp(argv[i], "--verbose") == 0) {
            o.verbose = true;
        } else if (strcmp(argv[i], "--avoid") == 0 && i + 1 < argc) {
            /* Known core bugs (docs/simulation.md), comma-separated. */
            char *list = argv[++i], *tok, *save = NULL;
            for (tok = strtok_r(list, ",", &save); tok != NULL;
                 tok = strtok_r(NULL, ",", &save)) {
                if (strcmp(tok, "hup-spin") == 0)
                    o.avoid_hup_spin = true;
                else if (strcmp(tok, "nl-stranded") == 0)
                    o.avoid_nl_stranded = true;
                else if (strcmp(tok, "eof-ring") == 0)
                    o.avoid_eof_ring = true;
                else
                    usage();
            }
        } else if (strcmp(argv[i], "--digest") == 0) {
            o.digest = true;
        } else if (strcmp(argv[i], "--describe") == 0) {
            o.describe = true;
        } else if (strcmp(argv[i], "--no-replay") == 0) {
            do_replay = false;
        } else if (strcmp(argv[i], "--fd-budget") == 0 && i + 1 < argc) {
            /* Every world's descriptor budget (the lowest it cannot
             * have): EMFILE beyond it, as when the seed draws one. */
            o.fd_budget = atoi(argv[++i]);
            if (o.fd_budget < 4 || o.fd_budget > SIM_MAXFD)
                usage();
        } else {
            usage();
        }
    }
    if (one == many || o.clients < 1 || o.msgs < 0 || (many && b < a))
        usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGABRT, on_crash);
    signal(SIGSEGV, on_crash);
    signal(SIGBUS, on_crash);
    if (one) {
        bool ok;
        o.trace = true;
        ok = sim_world_run(&o);
        if (!ok) {
            report(&o);
            sim_trace_dump();
            world_lines(&o);
            return 1;
        }
        printf("seed %" PRIu64 ": ok, %" PRIu64 " steps, %lld ms of "
               "virtual time, fingerprint %016" PRIx64 "\n",
               o.seed, W.step, (long long)(W.now - SIM_TIME0), W.hash);
        world_lines(&o);
        return 0;
    }
    {
        struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        uint64_t next = a, crashed = 0;
        double t0 = now_s(), dt;

        if (sh == MAP_FAILED) {
            perror("tsl-sim: mmap");
            return 2;
        }
        memset(sh, 0, sizeof(*sh));
        while (next <= b) {
            pid_t pid = fork();
            int st;
            if (pid < 0) {
                perror("tsl-sim: fork");
                return 2;
            }
            if (pid == 0) {
                run_range(o, next, b, do_replay, sh);
                fflush(stdout);
                _exit(0);
            }
            if (waitpid(pid, &st, 0) < 0) {
                perror("tsl-sim: waitpid");
                return 2;
            }
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                break;
            /* The world sh->cur crashed: counted, and on with the next. */
            crashed++;
            sh->failed++;
            sh->done++;
            printf("seed %" PRIu64 ": crashed (%s %d); replay it with "
                   "tsl-sim --seed %" PRIu64 "\n", sh->cur,
                   WIFSIGNALED(st) ? "signal" : "exit status",
                   WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
                   sh->cur);
            if (sh->cur == b)
                break;
            next = sh->cur + 1;
        }
        dt = now_s() - t0;
        printf("%.0f messages delivered a world on average\n",
               sh->done ? (double)sh->msgs / (double)sh->done : 0.0);
        printf("%" PRIu64 " worlds, %" PRIu64 " failed, %.0f worlds/s\n",
               sh->done, sh->failed, dt > 0 ? (double)sh->done / dt : 0.0);
        (void)crashed;
        return sh->failed ? 1 : 0;
    }
}

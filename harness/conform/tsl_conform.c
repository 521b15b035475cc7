/*
 * tsl_conform.c - tsl-conform: the conformance and grading suite, run
 * against any server that implements docs/conformance.md.  This file is
 * the runner: options and declarations, the server process, the order of
 * a group's cases, the summary and the exit status (cases in
 * tsl_conform_cases.c, client I/O in tsl_conform_io.c, the report files
 * in tsl_conform_report.c; `tsl-conform --help`).
 *
 * Every client connects to 127.0.0.1, to --host (IPv4, IPv6, a name
 * resolved once at start) or to the Unix socket of --unix (one path, so
 * one server at a time there).
 *
 * Each group gets a fresh server on a free port substituted for {port},
 * run as `exec CMD` by /bin/sh in a process group of its own, with at
 * most 128 open files, stdin from /dev/null and every signal at its
 * default action (SIGPIPE included: a server must protect itself).  Its
 * stdout and stderr go to one file, which is read after each case.
 *
 * Fair verdicts.  After every case the runner looks at the server: a
 * report in its new output (sanitizer, Valgrind, assert, traceback)
 * fails the case; then a fresh client must get an echo.  If the process
 * died, the case fails with how (signal, exit status) and the last lines
 * of its output; if it is alive but no longer answers, the case fails
 * too.  Either way the server is restarted for the group's next case, so
 * one bug costs the case it showed in and not every case after it.  The
 * stop after a group's last case is noted apart and graded by no case:
 * 7.1 alone grades a stop, on a server of its own.
 *
 * Points: every case selected and applicable counts in the total; a
 * declared skip counts and earns nothing.  n/a (another framing, an
 * optional group not declared) counts in neither.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsl_conform.h"

#ifndef TSL_CONFORM_VERSION
#define TSL_CONFORM_VERSION "dev"
#endif

#define MAX_RESULTS 128
#define MAX_NOTES 64

extern char **environ;

/* ---- options and declarations (set before the workers start) ---- */

static const char *server_cmd;
static const char *shim_path;
static const char *proxy_path;
static const char *opt_host, *opt_unix; /* as given */
static struct tsl_conform_addr target;  /* where every client connects */
static double scale = 1.0;
static uint64_t opt_seed = 1;
static tsl_framing_t framing;
static uint32_t decl_ka, decl_max;
static char skip_id[32][16], skip_why[32][160];
static int nskip;
static const char *pattern = "*";
static int devnull = -1;

/* ---- results, shared by the workers under res_lock ---- */

static struct tsl_conform_result results[MAX_RESULTS];
static struct tsl_conform_note notes[MAX_NOTES];
static int nresults, nnotes;
static pthread_mutex_t res_lock = PTHREAD_MUTEX_INITIALIZER;

static void
print_indented(const char *text, const char *prefix, int max_lines)
{
    const char *p = text, *nl;
    int lines = 0;

    while (*p != '\0' && lines < max_lines) {
        nl = strchr(p, '\n');
        printf("%s%.*s\n", prefix, nl ? (int)(nl - p) : (int)strlen(p), p);
        lines++;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
}

/* Prints the last `max_lines` lines of text, each with a prefix. */
static void
print_tail(const char *text, const char *prefix, int max_lines)
{
    const char *p = text + strlen(text);
    int lines = 0;

    while (p > text && p[-1] == '\n')
        p--;
    while (p > text && lines < max_lines) {
        p--;
        if (*p == '\n')
            lines++;
    }
    if (*p == '\n')
        p++;
    print_indented(p, prefix, max_lines);
}

static void
record(const struct tsl_conform_case *c, int group,
       enum tsl_conform_verdict v, const char *why, const char *tail,
       double secs)
{
    struct tsl_conform_result *r;
    const char *nl = strchr(why, '\n');

    pthread_mutex_lock(&res_lock);
    if (nresults < MAX_RESULTS) {
        r = &results[nresults++];
        r->c = c;
        r->group = group;
        r->v = v;
        snprintf(r->why, sizeof(r->why), "%s", why);
        snprintf(r->tail, sizeof(r->tail), "%s", tail ? tail : "");
        r->secs = secs;
    }
    printf("%-6s %-4s %-52s %.*s\n", c->id, tsl_conform_verdict_name(v),
           c->title, v == TSL_CONFORM_PASS ? 0 : nl ? (int)(nl - why)
                                                    : (int)strlen(why),
           why);
    if (v == TSL_CONFORM_FAIL) {
        if (nl != NULL)
            print_indented(nl + 1, "       ", 8);
        if (tail != NULL && tail[0] != '\0') {
            printf("       the server's last output during %s:\n", c->id);
            print_tail(tail, "       | ", 5);
        }
    }
    fflush(stdout);
    pthread_mutex_unlock(&res_lock);
}

static void
note(int group, bool alert, const char *tail, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
note(int group, bool alert, const char *tail, const char *fmt, ...)
{
    struct tsl_conform_note *nt;
    va_list ap;

    pthread_mutex_lock(&res_lock);
    if (nnotes < MAX_NOTES) {
        nt = &notes[nnotes++];
        nt->group = group;
        nt->alert = alert;
        va_start(ap, fmt);
        vsnprintf(nt->text, sizeof(nt->text), fmt, ap);
        va_end(ap);
        snprintf(nt->tail, sizeof(nt->tail), "%s", tail ? tail : "");
        printf("  [group %d] %s\n", group, nt->text);
        if (alert && tail != NULL && tail[0] != '\0')
            print_tail(tail, "       | ", 5);
        fflush(stdout);
    }
    pthread_mutex_unlock(&res_lock);
}

/* ---- the server process ---- */

void
tsl_conform_status_text(int st, char *out, size_t n)
{
    if (WIFEXITED(st)) {
        snprintf(out, n, "exit status %d", WEXITSTATUS(st));
    } else if (WIFSIGNALED(st)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(st));
        snprintf(out, n, "killed by signal %d (SIG%s)%s", WTERMSIG(st),
                 abbrev ? abbrev : "?", WCOREDUMP(st) ? ", core dumped" : "");
    } else {
        snprintf(out, n, "wait status %#x", st);
    }
}

/* Adds the threads of process `pid` to out: for each, the seconds it has
 * been running or waiting to run (/proc/PID/task/TID/schedstat: on-CPU
 * and run-queue nanoseconds). */
static int
thread_samples(const char *pid, struct tsl_conform_sample *out, int n,
               int max)
{
    char path[600], buf[256];
    unsigned long long on, wait;
    struct dirent *e;
    DIR *d;
    ssize_t r;
    int fd;

    snprintf(path, sizeof(path), "/proc/%s/task", pid);
    if ((d = opendir(path)) == NULL)
        return n;
    while ((e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/task/%s/schedstat", pid,
                 e->d_name);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            continue;
        r = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (r <= 0)
            continue;
        buf[r] = '\0';
        if (sscanf(buf, "%llu %llu", &on, &wait) != 2)
            continue;
        out[n].tid = atoi(e->d_name);
        out[n].secs = (double)(on + wait) / 1e9;
        out[n].on_cpu = (double)on / 1e9;
        out[n].sleeps = 0;
        snprintf(path, sizeof(path), "/proc/%s/task/%s/status", pid,
                 e->d_name);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
            char st[4096], *v;
            r = read(fd, st, sizeof(st) - 1);
            close(fd);
            st[r > 0 ? r : 0] = '\0';
            if ((v = strstr(st, "\nvoluntary_ctxt_switches:")) != NULL)
                out[n].sleeps = strtoul(v + 26, NULL, 10);
        }
        n++;
    }
    closedir(d);
    return n;
}

int
tsl_conform_server_threads(const struct tsl_conform_server *s,
                           struct tsl_conform_sample *out, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    if (d == NULL || s->pid <= 0) {
        if (d != NULL)
            closedir(d);
        return -1;
    }
    /* Every process of its group: a wrapper's children count too. */
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (getpgid((pid_t)atoi(e->d_name)) == s->pid)
            n = thread_samples(e->d_name, out, n, max);
    }
    closedir(d);
    return n;
}

off_t
tsl_conform_server_outlen(const struct tsl_conform_server *s)
{
    struct stat st;

    return s->out[0] != '\0' && stat(s->out, &st) == 0 ? st.st_size : 0;
}

void
tsl_conform_server_tail(const struct tsl_conform_server *s, off_t from,
                        char *out, size_t n)
{
    off_t len = tsl_conform_server_outlen(s), start;
    ssize_t r = 0;
    size_t i;
    int fd;

    out[0] = '\0';
    if (len <= from || n < 2)
        return;
    start = len - from > (off_t)(n - 1) ? len - (off_t)(n - 1) : from;
    if ((fd = open(s->out, O_RDONLY | O_CLOEXEC)) < 0)
        return;
    r = pread(fd, out, n - 1, start);
    close(fd);
    if (r <= 0)
        r = 0;
    out[r] = '\0';
    /* Text only: a binary byte would break the reports. */
    for (i = 0; i < (size_t)r; i++)
        if ((unsigned char)out[i] < 0x20 && out[i] != '\n' && out[i] != '\t')
            out[i] = '?';
    /* Start at a line when the cut fell inside one. */
    if (start > from) {
        char *nl = strchr(out, '\n');
        if (nl != NULL)
            memmove(out, nl + 1, strlen(nl + 1) + 1);
    }
}

int
tsl_conform_server_report(struct tsl_conform_server *s, char *why, size_t n)
{
    static const char *const marks[] = {
        "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
        "WARNING: ThreadSanitizer", "runtime error:", "==ERROR==",
        "Invalid read of size", "Invalid write of size", "Invalid free",
        "Mismatched free", "definitely lost in",
        "depends on uninitialised value", "Use of uninitialised value",
        "Syscall param", "Segmentation fault", "Assertion `",
        "assertion failed", "Assertion failed", "malloc(): ", "free(): ",
        "double free or corruption", "corrupted size vs", "stack smashing",
        "buffer overflow detected", "Traceback (most recent call last)",
        "panicked at", "panic: ", "Exception in thread",
        "terminate called after throwing", "Aborted (core dumped)",
    };
    char buf[65536];
    FILE *f = fopen(s->out, "re");
    size_t i;

    if (f == NULL)
        return 0;
    fseeko(f, s->scanned, SEEK_SET);
    while (fgets(buf, sizeof(buf), f) != NULL) {
        for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
            if (strstr(buf, marks[i]) != NULL) {
                buf[strcspn(buf, "\n")] = '\0';
                snprintf(why, n, "a report in the server's output: %.400s",
                         buf);
                s->scanned = ftello(f);
                fclose(f);
                return 1;
            }
    }
    s->scanned = ftello(f);
    fclose(f);
    return 0;
}

/* A port free on the server's address (for a Unix socket, on
 * 127.0.0.1: {port} may still be in its command, unused). */
static uint16_t
free_port(void)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 any6;
    const struct tsl_conform_addr *a =
        tsl_conform_addr_is_unix(&target) ? &tsl_conform_proxy_addr
                                          : &target;
    socklen_t len = tsl_conform_addr_at(a, 0, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uint16_t port = 0;

    /* An address of a name that is not this machine's: any of its
     * family. */
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        memset(&any6, 0, sizeof(any6));
        memcpy(&ss, &any6, sizeof(any6));
        ss.ss_family = a->u.sa.sa_family;
        bind(fd, (struct sockaddr *)&ss, len);
    }
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        port = ntohs(ss.ss_family == AF_INET6
                         ? ((struct sockaddr_in6 *)&ss)->sin6_port
                         : ((struct sockaddr_in *)&ss)->sin_port);
    close(fd);
    return port;
}

/* A socket a killed server left at the --unix path would refuse the next
 * one (a name already in use).  Removed only when it is a socket nobody
 * listens on (a connect refused), never a file of another kind; -1 when
 * something already listens there (ours are all gone by now: another
 * program's, which the probe would take for ours). */
static int
unix_stale_remove(void)
{
    struct stat st;
    int fd, r;

    if (opt_unix == NULL)
        return 0;
    if (opt_unix[0] != '@' &&
        (lstat(opt_unix, &st) < 0 || !S_ISSOCK(st.st_mode)))
        return 0;
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return 0;
    r = connect(fd, &target.u.sa, target.len);
    close(fd);
    if (r == 0)
        return -1;
    if (errno == ECONNREFUSED && opt_unix[0] != '@')
        unlink(opt_unix);
    return 0;
}

/* "exec CMD" with {port} replaced: the shell becomes the server, so
 * signals reach the server itself. */
static void
subst(const char *cmd, uint16_t port, char *out, size_t n)
{
    const char *p;
    size_t used = (size_t)snprintf(out, n, "exec ");

    for (p = cmd; *p != '\0' && used + 8 < n;) {
        if (strncmp(p, "{port}", 6) == 0) {
            used += (size_t)snprintf(out + used, n - used, "%u", port);
            p += 6;
        } else {
            out[used++] = *p++;
        }
    }
    out[used] = '\0';
}

/* The environment of the server: ours, plus the shim's when asked. */
static char **
server_env(const char *plan, char *faults, size_t fn, char *preload,
           size_t pn)
{
    size_t i, k = 0, count = 0;
    char **env;

    while (environ[count] != NULL)
        count++;
    if ((env = calloc(count + 3, sizeof(*env))) == NULL)
        return NULL;
    for (i = 0; i < count; i++)
        if (plan == NULL || (strncmp(environ[i], "TSL_FAULTS=", 11) != 0 &&
                             strncmp(environ[i], "LD_PRELOAD=", 11) != 0))
            env[k++] = environ[i];
    if (plan != NULL) {
        snprintf(faults, fn, "TSL_FAULTS=%s", plan);
        snprintf(preload, pn, "LD_PRELOAD=%s", shim_path);
        env[k++] = faults;
        env[k++] = preload;
    }
    env[k] = NULL;
    return env;
}

/* Starts the server once; 0 when it accepts, 1 unimplemented (89), -1
 * failed with why, 2 it exited at once (perhaps the port was taken). */
static int
server_start_once(struct tsl_conform_server *s, uint16_t port,
                  const char *plan, char *why, size_t wn)
{
    char cmd[2048], tmpl[sizeof(s->out)], how[96];
    char faults[300], preload[1100];
    char *argv[] = {"sh", "-c", cmd, NULL};
    char **env;
    struct tsl_conform_ctx probe;
    int64_t end = tsl_conform_now_ms() + (int64_t)(10000 * scale);
    int fd, st;

    subst(server_cmd, port, cmd, sizeof(cmd));
    if (unix_stale_remove() < 0) {
        snprintf(why, wn,
                 "something already listens at %s before the server starts "
                 "(another program's socket: not removed)",
                 target.text);
        return -1;
    }
    if ((fd = tsl_conform_tmpfile(tmpl, sizeof(tmpl), "")) < 0) {
        snprintf(why, wn, "cannot create an output file: %s",
                 strerror(errno));
        return -1;
    }
    env = server_env(plan, faults, sizeof(faults), preload, sizeof(preload));
    snprintf(s->out, sizeof(s->out), "%s", tmpl);
    s->scanned = 0;
    s->status = 0;
    s->pid = env != NULL ? fork() : -1;
    if (s->pid == 0) {
        /* Only async-signal-safe calls from here to the exec. */
        struct rlimit rl = {128, 128};
        struct sigaction sa;
        sigset_t none;
        int sig;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        for (sig = 1; sig < NSIG; sig++)
            sigaction(sig, &sa, NULL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
        dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        setrlimit(RLIMIT_NOFILE, &rl);
        execve("/bin/sh", argv, env);
        _exit(127);
    }
    free(env);
    close(fd);
    if (s->pid < 0) {
        s->pid = 0;
        snprintf(why, wn, "cannot start the server: %s", strerror(errno));
        return -1;
    }
    setpgid(s->pid, s->pid);
    memset(&probe, 0, sizeof(probe));
    probe.port = port;
    probe.to = &target;
    probe.scale = scale;
    while (tsl_conform_now_ms() < end) {
        int c;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            s->status = st;
            if (WIFEXITED(st) && WEXITSTATUS(st) == TSL_CONFORM_UNIMPLEMENTED)
                return 1;
            tsl_conform_status_text(st, how, sizeof(how));
            snprintf(why, wn, "the server exited at start (%s)", how);
            return 2;
        }
        if ((c = tsl_conform_connect(&probe)) >= 0) {
            close(c);
            return 0;
        }
        poll(NULL, 0, 20); /* not accepting yet: try again shortly */
    }
    snprintf(why, wn, "the server did not accept within %.1f s",
             10 * scale);
    return -1;
}

/* Kills the whole process group and reaps the server. */
static void
server_kill(struct tsl_conform_server *s)
{
    if (s->pid <= 0)
        return;
    kill(-s->pid, SIGKILL);
    waitpid(s->pid, &s->status, 0);
    s->pid = 0;
}

static void
server_forget(struct tsl_conform_server *s)
{
    server_kill(s);
    if (s->out[0] != '\0')
        unlink(s->out);
    s->out[0] = '\0';
}

/*
 * Starts the server for cx on a free port.  A port picked free can be
 * taken before the server binds it (other tests run alongside), so a
 * server that exits at once is tried on new ports, twice more.
 */
static int
server_start(struct tsl_conform_ctx *cx, char *why, size_t wn, char *tail,
             size_t tn)
{
    int i, r = -1;

    tail[0] = '\0';
    for (i = 0; i < 3; i++) {
        server_forget(cx->srv);
        cx->port = free_port();
        r = server_start_once(cx->srv, cx->port, cx->fault_plan, why, wn);
        if (r != 2)
            break;
    }
    if (r != 0 && r != 1)
        tsl_conform_server_tail(cx->srv, 0, tail, tn);
    return r == 2 ? -1 : r;
}

/* A fresh client gets one echo: 0, or -1 with why.  Retried until the
 * deadline, since a server with a client limit may still be counting
 * the last case's clients. */
static int
server_answers(struct tsl_conform_ctx *cx, char *why, size_t n)
{
    int64_t end = tsl_conform_now_ms() + tsl_conform_ms(cx, 3000);
    struct tsl_peer p;
    int r;

    do {
        r = -1;
        if (tsl_conform_open(cx, &p, cx->seed + 9999, why, n) == 0)
            r = tsl_conform_drive(cx, &p, 1, TSL_PEER_WHOLE, 1, 0,
                                  tsl_conform_ms(cx, 2000), why, n);
        tsl_peer_close(&p);
        if (r == 0)
            break;
        if (waitpid(cx->srv->pid, &cx->srv->status, WNOHANG) ==
            cx->srv->pid) {
            cx->srv->pid = 0;
            break;
        }
        poll(NULL, 0, 50); /* refused or closed: try again shortly */
    } while (tsl_conform_now_ms() < end);
    return r;
}

/* 1 if the server has exited, waiting up to wait ms for it. */
static int
server_gone(struct tsl_conform_server *s, int wait)
{
    int64_t end = tsl_conform_now_ms() + wait;
    int r;

    if (s->pid <= 0)
        return 1;
    for (;;) {
        r = waitpid(s->pid, &s->status, WNOHANG);
        if (r == s->pid || (r < 0 && errno == ECHILD)) {
            s->pid = 0;
            return 1;
        }
        if (tsl_conform_now_ms() >= end)
            return 0;
        poll(NULL, 0, 10);
    }
}

/* The stop after a group's last case: SIGTERM, then wait.  Noted apart,
 * never a verdict (7.1 grades stops). */
static void
server_stop_note(struct tsl_conform_ctx *cx, int group)
{
    struct tsl_conform_server *s = cx->srv;
    char how[96], rep[TSL_CONFORM_WHY] = "", tail[TSL_CONFORM_TAIL];
    off_t from = tsl_conform_server_outlen(s);
    bool alert;

    if (s->pid <= 0)
        return;
    kill(-s->pid, SIGTERM);
    if (!server_gone(s, tsl_conform_ms(cx, 5000))) {
        server_kill(s);
        tsl_conform_server_tail(s, from, tail, sizeof(tail));
        note(group, false, tail,
             "at its stop after the last case: still running %.1f s after "
             "SIGTERM; killed (not graded here; 7.1 grades the stop)",
             tsl_conform_ms(cx, 5000) / 1000.0);
        return;
    }
    alert = tsl_conform_server_report(s, rep, sizeof(rep));
    tsl_conform_status_text(s->status, how, sizeof(how));
    tsl_conform_server_tail(s, from, tail, sizeof(tail));
    if (alert)
        note(group, true, tail, "at its stop after the last case (%s): %s",
             how, rep);
    else if (WIFSIGNALED(s->status) && WTERMSIG(s->status) == SIGTERM)
        note(group, false, NULL,
             "stopped by SIGTERM's default action (graded by 7.1 only)");
    else if (!WIFEXITED(s->status) || WEXITSTATUS(s->status) != 0)
        note(group, true, tail,
             "at its stop after the last case: %s (not graded here; 7.1 "
             "grades the stop)",
             how);
}

/* ---- running ---- */

static const char *
skipped(const char *id)
{
    int i;

    for (i = 0; i < nskip; i++)
        if (strcmp(skip_id[i], id) == 0)
            return skip_why[i];
    return NULL;
}

static bool
is_variable(const tsl_framing_t *f)
{
    return f->kind == TSL_FRAMING_VARIABLE && f->hdr_width == 2 &&
           !f->big_endian && !f->len_exclusive && !f->strip_header;
}

/* Before any server starts: does the case apply, and was it declared
 * away?  TSL_CONFORM_PASS here means "run it". */
static enum tsl_conform_verdict
plan_case(const struct tsl_conform_case *c, char *why, size_t n)
{
    const char *sk;

    if ((c->needs & TSL_CONFORM_NEED_VARIABLE) && !is_variable(&framing))
        return snprintf(why, n, "defined for the 2-byte variable framing"),
               TSL_CONFORM_NA;
    if ((c->needs & TSL_CONFORM_NEED_KA) && decl_ka == 0)
        return snprintf(why, n, "no keepalive hold time declared"),
               TSL_CONFORM_NA;
    if ((c->needs & TSL_CONFORM_NEED_MAX) && (decl_max == 0 || decl_max > 60))
        return snprintf(why, n, "no max_clients (1..60) declared"),
               TSL_CONFORM_NA;
    if ((c->needs & TSL_CONFORM_NEED_SHIM) && shim_path == NULL)
        return snprintf(why, n, "no LD_PRELOAD shim (--shim) for this run"),
               TSL_CONFORM_NA;
    if ((c->needs & TSL_CONFORM_NEED_TCP) && tsl_conform_addr_is_unix(&target))
        return snprintf(why, n, "not for a Unix socket (--unix): %s",
                        tsl_conform_tcp_why(c->id)),
               TSL_CONFORM_NA;
    if ((c->needs & TSL_CONFORM_NEED_PROXY) && proxy_path == NULL)
        return snprintf(why, n, "no tsl-proxy (--proxy) for this run"),
               TSL_CONFORM_NA;
    if ((sk = skipped(c->id)) != NULL)
        return snprintf(why, n, "%s", sk), TSL_CONFORM_SKIP;
    if (decl_max != 0 && (uint32_t)c->clients > decl_max)
        return snprintf(why, n,
                        "declared max_clients=%u: the case needs %d clients "
                        "at once",
                        decl_max, c->clients),
               TSL_CONFORM_SKIP;
    return TSL_CONFORM_PASS;
}

static void
run_group(const struct tsl_conform_group *g)
{
    static __thread struct tsl_conform_proxy px;
    struct tsl_conform_server s;
    struct tsl_conform_ctx cx;
    enum tsl_conform_verdict planned[10];
    char why[TSL_CONFORM_WHY], tail[TSL_CONFORM_TAIL], plan[256];
    const char *since = NULL;
    int i, torun = 0, state = -2; /* -2 not started, else server_start's */

    memset(&s, 0, sizeof(s));
    memset(&cx, 0, sizeof(cx));
    memset(&px, 0, sizeof(px));
    px.ctl = px.events = -1;
    cx.f = framing;
    cx.seed = opt_seed * 100 + (uint64_t)g->num;
    cx.scale = scale;
    cx.ka_hold_ms = decl_ka;
    cx.max_clients = decl_max;
    cx.srv = &s;
    cx.to = &target;
    if (g->plan != NULL && shim_path != NULL) {
        snprintf(plan, sizeof(plan), "%s,seed=%llu", g->plan,
                 (unsigned long long)cx.seed);
        cx.fault_plan = plan;
    }
    for (i = 0; i < g->ncases; i++) {
        const struct tsl_conform_case *c = &g->cases[i];
        planned[i] = TSL_CONFORM_NA;
        if (fnmatch(pattern, c->id, 0) != 0)
            continue;
        why[0] = '\0';
        planned[i] = plan_case(c, why, sizeof(why));
        if (planned[i] != TSL_CONFORM_PASS)
            record(c, g->num, planned[i], why, NULL, 0);
        else
            torun++;
    }
    for (i = 0; i < g->ncases && torun > 0; i++) {
        const struct tsl_conform_case *c = &g->cases[i];
        enum tsl_conform_verdict v;
        char how[96] = "", extra[TSL_CONFORM_WHY];
        int64_t t0 = tsl_conform_now_ms();
        bool wedged, died;
        int attempt;
        off_t from;

        if (fnmatch(pattern, c->id, 0) != 0 || planned[i] != TSL_CONFORM_PASS)
            continue;
        if (state == -2 || (state == 0 && s.pid == 0)) {
            state = server_start(&cx, why, sizeof(why), tail, sizeof(tail));
            since = c->id;
        }
        if (state == 1) {
            record(c, g->num, TSL_CONFORM_SKIP,
                   "the server declared this group unimplemented (exit "
                   "status 89 at start)",
                   NULL, 0);
            continue;
        }
        if (state < 0) {
            record(c, g->num, TSL_CONFORM_FAIL, why, tail,
                   (double)(tsl_conform_now_ms() - t0) / 1000);
            continue;
        }
        /* tsl-proxy in front of this server (a restarted one has
         * another port, and gets another proxy). */
        if ((c->needs & TSL_CONFORM_NEED_PROXY) &&
            (cx.px == NULL || px.pid == 0 || px.upstream != cx.port)) {
            cx.px = &px;
            if (tsl_conform_proxy_start(&px, proxy_path, &target, cx.port,
                                        cx.seed,
                                        tsl_conform_ms(&cx, 5000), why,
                                        sizeof(why)) < 0) {
                record(c, g->num, TSL_CONFORM_FAIL, why, NULL,
                       (double)(tsl_conform_now_ms() - t0) / 1000);
                continue;
            }
        }
        from = tsl_conform_server_outlen(&s);
        for (attempt = 1;; attempt++) {
            why[0] = '\0';
            cx.silent_ms = 0;
            v = c->fn(&cx, why, sizeof(why));
            /* A client of ours, starved of the CPU, silent past the
             * declared hold while it had bytes to send: the server's
             * keepalive may have been right.  Not the server's failure
             * until it happens every time.  (Only a client meant to
             * talk records its silence: 5.1, 9.4 and 9.5 are silent on
             * purpose, and never do.) */
            if (v != TSL_CONFORM_FAIL || decl_ka == 0 ||
                cx.silent_ms < (int64_t)decl_ka || s.pid <= 0)
                break;
            if (attempt == 3) {
                snprintf(why + strlen(why), sizeof(why) - strlen(why),
                         "\n(in each of 3 runs a client of the suite had "
                         "been silent longer than the declared %u ms hold, "
                         "%lld ms the last time, when the server closed it: "
                         "the machine may be overloaded)",
                         decl_ka, (long long)cx.silent_ms);
                break;
            }
            note(g->num, false, NULL,
                 "%s run again: a client of the suite had been silent %lld "
                 "ms with bytes to send (the declared hold is %u ms) when "
                 "the server closed it; a loaded machine, not a verdict",
                 c->id, (long long)cx.silent_ms, decl_ka);
        }
        if (v == TSL_CONFORM_NA) {
            record(c, g->num, v, why, NULL, 0);
            continue;
        }
        extra[0] = '\0';
        if (tsl_conform_server_report(&s, extra, sizeof(extra))) {
            if (v == TSL_CONFORM_FAIL)
                snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
                         "\nand the case saw: %.700s", why);
            snprintf(why, sizeof(why), "%s", extra);
            v = TSL_CONFORM_FAIL;
        }
        /* Alive and answering?  A case that stops the server (7.1) is
         * its own judge. */
        wedged = died = false;
        if (!(c->needs & TSL_CONFORM_STOPS) && s.pid > 0) {
            if (server_answers(&cx, extra, sizeof(extra)) < 0)
                wedged = !server_gone(&s, tsl_conform_ms(&cx, 500));
            else if (waitpid(s.pid, &s.status, WNOHANG) == s.pid)
                s.pid = 0;
            died = s.pid == 0;
        } else if (!(c->needs & TSL_CONFORM_STOPS)) {
            died = true;
        }
        if (wedged) {
            char answer[TSL_CONFORM_WHY];
            snprintf(answer, sizeof(answer), "%s", extra);
            if (v == TSL_CONFORM_PASS)
                snprintf(why, sizeof(why),
                         "the case's checks passed, but then the server no "
                         "longer answered; a new client: %.600s",
                         answer);
            else
                snprintf(why + strlen(why), sizeof(why) - strlen(why),
                         "\nand afterwards the server no longer answered a "
                         "new client");
            v = TSL_CONFORM_FAIL;
            server_kill(&s);
        } else if (died) {
            char prior[TSL_CONFORM_WHY];
            snprintf(prior, sizeof(prior), "%s", why);
            tsl_conform_status_text(s.status, how, sizeof(how));
            snprintf(why, sizeof(why),
                     "the server ended during this case: %s (this process "
                     "had served since case %s)%s%.700s",
                     how, since ? since : c->id,
                     v == TSL_CONFORM_FAIL ? "\nthe case saw: " : "",
                     v == TSL_CONFORM_FAIL ? prior : "");
            v = TSL_CONFORM_FAIL;
        }
        tsl_conform_server_tail(&s, from, tail, sizeof(tail));
        record(c, g->num, v, why, tail,
               (double)(tsl_conform_now_ms() - t0) / 1000);
        if (wedged)
            note(g->num, false, NULL,
                 "the server stopped answering during %s; killed, and "
                 "restarted for the group's next case",
                 c->id);
        else if (died)
            note(g->num, true, NULL,
                 "the server ended during %s (%s); restarted for the "
                 "group's next case",
                 c->id, how);
    }
    if (cx.px != NULL)
        tsl_conform_proxy_stop(&px);
    if (state == 0 && s.pid > 0)
        server_stop_note(&cx, g->num);
    server_forget(&s);
    (void)unix_stale_remove();
}

static size_t next_group;
static pthread_mutex_t next_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
worker(void *arg)
{
    size_t g;

    (void)arg;
    for (;;) {
        pthread_mutex_lock(&next_lock);
        g = next_group++;
        pthread_mutex_unlock(&next_lock);
        if (g >= tsl_conform_ngroups)
            return NULL;
        run_group(&tsl_conform_groups[g]);
    }
}

/* ---- options ---- */

static const char *declare_path;

static void
load_declare(const char *path)
{
    char line[256];
    FILE *f = fopen(path, "re");
    int lineno = 0;

    if (f == NULL) {
        fprintf(stderr, "tsl-conform: cannot read %s: %s\n", path,
                strerror(errno));
        exit(2);
    }
    declare_path = path;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *hash, *end;
        size_t len;
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        /* A comment ends a key=value line too (the documented form). */
        if (strncmp(line, "skip=", 5) != 0 && (hash = strchr(line, '#')))
            *hash = '\0';
        len = strlen(line);
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (line[0] == '\0')
            continue;
        if (strncmp(line, "ka_hold_ms=", 11) == 0) {
            decl_ka = (uint32_t)strtoul(line + 11, &end, 10);
            if (*end != '\0' || decl_ka == 0)
                goto bad;
        } else if (strncmp(line, "max_clients=", 12) == 0) {
            decl_max = (uint32_t)strtoul(line + 12, &end, 10);
            if (*end != '\0' || decl_max == 0)
                goto bad;
        } else if (strncmp(line, "skip=", 5) == 0 && nskip < 32) {
            char *sp = strchr(line + 5, ' ');
            if (sp != NULL)
                *sp++ = '\0';
            if (line[5] == '\0')
                goto bad;
            snprintf(skip_id[nskip], sizeof(skip_id[0]), "%.15s", line + 5);
            snprintf(skip_why[nskip], sizeof(skip_why[0]),
                     "declared not implemented: %s",
                     sp && *sp ? sp : "(no reason given)");
            nskip++;
        } else {
            goto bad;
        }
    }
    fclose(f);
    return;
bad:
    fprintf(stderr, "tsl-conform: %s:%d: cannot use '%s'\n", path, lineno,
            line);
    exit(2);
}

static void
help(FILE *f)
{
    fprintf(f,
        "usage: tsl-conform --server 'CMD ... {port} ...' [options]\n"
        "       tsl-conform --server 'CMD ...' --unix PATH [options]\n"
        "\n"
        "Runs the conformance cases of docs/conformance.md against a server\n"
        "started from CMD ({port} is replaced by a free port).\n"
        "\n"
        "  --server CMD         the start command (required)\n"
        "  --host HOST          connect to the server at HOST: an IPv4 or\n"
        "                       IPv6 address ('::1' or '[::1]') or a host\n"
        "                       name, resolved once at start (default\n"
        "                       127.0.0.1); the server listens there\n"
        "  --unix PATH          connect to a Unix domain socket server at\n"
        "                       PATH ('@NAME': abstract); {port} is not\n"
        "                       needed, groups run one at a time; 1.6\n"
        "                       (TCP's window) and 9.2-9.5 (a TCP proxy)\n"
        "                       are n/a; a socket nobody listens on at PATH\n"
        "                       is removed before each start; not with\n"
        "                       --proxy, --host or --class\n"
        "  --declare FILE       what the server implements: ka_hold_ms=N,\n"
        "                       max_clients=N, skip=ID reason\n"
        "  --cases PATTERN      shell pattern over case ids ('2.*', '1.2.?')\n"
        "  --seed N             messages and chunkings (default 1)\n"
        "  --jobs N             groups in parallel, 1..16 (default 1)\n"
        "  --timeout-scale X    multiplies every deadline, 0.1..100\n"
        "  --framing SPEC       fixed:N or delimiter:HEX[,max=N] instead of\n"
        "                       the 2-byte variable framing\n"
        "  --shim PATH          libtslfault.so: enables 9.1 (faults in the\n"
        "                       server's own calls; dynamically linked\n"
        "                       servers only)\n"
        "  --proxy PATH         tsl-proxy: enables 9.2-9.5 (faults on the\n"
        "                       wire, for a server in any language); with\n"
        "                       --host too, not with --unix (its faults\n"
        "                       are TCP's)\n"
        "  --junit FILE, --json FILE, --html FILE   reports\n"
        "  --expect-fail LIST   exit 0 only if every listed case failed\n"
        "  --expect-fail-only LIST\n"
        "                       exit 0 only if exactly the listed cases\n"
        "                       failed ('' for none)\n"
        "  --may-fail LIST      with --expect-fail-only: these may fail too\n"
        "                       (a race the bug itself makes)\n"
        "  --class MANIFEST     grade a class: one \"NAME DECLARE|- COMMAND\"\n"
        "                       a line; --jobs submissions at a time; the\n"
        "                       options above apply to each\n"
        "  --class DIR          the same from a directory: a subdirectory a\n"
        "                       submission, its command in NAME/start (run\n"
        "                       in NAME/), NAME/conform.conf if declared\n"
        "  --out DIR            where --class writes each report and\n"
        "                       summary.csv, summary.html (conform-class)\n"
        "  --tsv FILE           one \"ID result points max\" line a case\n"
        "  --list               print the cases and their points, then exit\n"
        "  --help               this text\n"
        "\n"
        "Exit status: 0 nothing failed, 1 a case failed (or a report at a\n"
        "server's stop), 2 bad options.\n");
}

static void
list_cases(void)
{
    size_t g;
    int i, total = 0;

    printf("%-6s %-6s %-6s %s\n", "CASE", "POINTS", "NEEDS", "TITLE");
    for (g = 0; g < tsl_conform_ngroups; g++) {
        const struct tsl_conform_group *gr = &tsl_conform_groups[g];
        printf("group %d: %s\n", gr->num, gr->title);
        for (i = 0; i < gr->ncases; i++) {
            const struct tsl_conform_case *c = &gr->cases[i];
            unsigned nd = c->needs;
            printf("%-6s %-6d %-6s %s\n", c->id, c->points,
                   (nd & TSL_CONFORM_NEED_PROXY) && (nd & TSL_CONFORM_NEED_KA)
                       ? "proxy,ka"
                   : nd & TSL_CONFORM_NEED_PROXY ? "proxy"
                   : nd & TSL_CONFORM_NEED_TCP   ? "tcp"
                   : nd & TSL_CONFORM_NEED_SHIM  ? "shim"
                   : nd & TSL_CONFORM_NEED_KA  ? "ka"
                   : nd & TSL_CONFORM_NEED_MAX ? "max"
                   : nd & TSL_CONFORM_NEED_VARIABLE ? "var"
                                                    : "-",
                   c->title);
            total += c->points;
        }
    }
    printf("%d points in all\n", total);
}

static int
usage(const char *msg)
{
    if (msg != NULL)
        fprintf(stderr, "tsl-conform: %s\n", msg);
    fprintf(stderr, "Try 'tsl-conform --help'.\n");
    return 2;
}

static int
by_id(const void *a, const void *b)
{
    return strverscmp(((const struct tsl_conform_result *)a)->c->id,
                      ((const struct tsl_conform_result *)b)->c->id);
}

static bool
in_list(const char *list, const char *id)
{
    size_t n = strlen(id);
    const char *p = list;

    while ((p = strstr(p, id)) != NULL) {
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
        p += n;
    }
    return false;
}

/* --expect-fail / --expect-fail-only: 0 if the run is what was expected. */
static int
check_expected(const struct tsl_conform_run *run, const char *expect,
               bool only, const char *may)
{
    char list[512], *tok, *save;
    int i, bad = 0;

    snprintf(list, sizeof(list), "%s", expect);
    for (tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        for (i = 0; i < run->nresults; i++)
            if (strcmp(run->results[i].c->id, tok) == 0 &&
                run->results[i].v == TSL_CONFORM_FAIL)
                break;
        if (i == run->nresults) {
            printf("expected case %s to fail, and it did not\n", tok);
            bad++;
        }
    }
    for (i = 0; only && i < run->nresults; i++)
        if (run->results[i].v == TSL_CONFORM_FAIL &&
            !in_list(expect, run->results[i].c->id) &&
            !in_list(may, run->results[i].c->id)) {
            printf("case %s failed, and only %s were expected to\n",
                   run->results[i].c->id, expect[0] ? expect : "none");
            bad++;
        }
    return bad ? 1 : 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},
        {"cases", required_argument, NULL, 'c'},
        {"junit", required_argument, NULL, 'J'},
        {"json", required_argument, NULL, 'j'},
        {"html", required_argument, NULL, 'H'},
        {"seed", required_argument, NULL, 'S'},
        {"jobs", required_argument, NULL, 'n'},
        {"timeout-scale", required_argument, NULL, 't'},
        {"framing", required_argument, NULL, 'f'},
        {"declare", required_argument, NULL, 'd'},
        {"shim", required_argument, NULL, 'p'},
        {"proxy", required_argument, NULL, 'P'},
        {"host", required_argument, NULL, 'A'},
        {"unix", required_argument, NULL, 'U'},
        {"expect-fail", required_argument, NULL, 'x'},
        {"expect-fail-only", required_argument, NULL, 'X'},
        {"may-fail", required_argument, NULL, 'm'},
        {"class", required_argument, NULL, 'C'},
        {"out", required_argument, NULL, 'O'},
        {"tsv", required_argument, NULL, 'T'},
        {"list", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *junit = NULL, *json = NULL, *html = NULL, *expect = NULL;
    const char *framing_spec = NULL, *class_file = NULL, *tsv = NULL;
    const char *class_out = "conform-class", *may_fail = "";
    char *extra[20], extra_opt[20][24];
    int nextra = 0, li = 0;
    bool expect_only = false;
    int o, jobs = 1, i, alerts = 0;
    struct tsl_conform_run run;
    pthread_t th[16];
    char err[160], *end;
    struct rlimit rl;
    struct timespec wall;
    int64_t t0;

    tsl_framing_default(&framing, TSL_FRAMING_VARIABLE);
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, &li)) != -1) {
        /* What a class run hands on to the run of each submission. */
        if ((o == 'c' || o == 'S' || o == 't' || o == 'f' || o == 'p' ||
             o == 'P' || o == 'A') &&
            nextra < 18) {
            snprintf(extra_opt[nextra], sizeof(extra_opt[0]), "--%s",
                     opts[li].name);
            extra[nextra] = extra_opt[nextra];
            extra[nextra + 1] = optarg;
            nextra += 2;
        }
        switch (o) {
        case 's': server_cmd = optarg; break;
        case 'c': pattern = optarg; break;
        case 'J': junit = optarg; break;
        case 'j': json = optarg; break;
        case 'H': html = optarg; break;
        case 'S':
            opt_seed = strtoull(optarg, &end, 10);
            if (*end != '\0' || optarg[0] == '\0')
                return usage("--seed: expected a number");
            break;
        case 'n':
            jobs = atoi(optarg);
            if (jobs < 1 || jobs > 16)
                return usage("--jobs: expected 1..16");
            break;
        case 't':
            scale = atof(optarg);
            if (scale < 0.1 || scale > 100)
                return usage("--timeout-scale: expected 0.1..100");
            break;
        case 'f':
            if (tsl_framing_parse(optarg, &framing, err, sizeof(err)) < 0)
                return usage(err);
            if (framing.kind == TSL_FRAMING_NONE)
                return usage("--framing none has no messages to check");
            framing_spec = optarg;
            break;
        case 'd': load_declare(optarg); break;
        case 'p': shim_path = optarg; break;
        case 'P': proxy_path = optarg; break;
        case 'A': opt_host = optarg; break;
        case 'U': opt_unix = optarg; break;
        case 'x': expect = optarg; break;
        case 'X':
            expect = optarg;
            expect_only = true;
            break;
        case 'm': may_fail = optarg; break;
        case 'C': class_file = optarg; break;
        case 'O': class_out = optarg; break;
        case 'T': tsv = optarg; break;
        case 'l': list_cases(); return 0;
        case 'h': help(stdout); return 0;
        default: return usage("unknown or incomplete option");
        }
    }
    if (optind < argc)
        return usage("unexpected argument (the server command goes in "
                     "--server, quoted)");
    /* Where the server is: resolved once, before anything starts. */
    if (opt_host != NULL && opt_unix != NULL)
        return usage("--host and --unix together: the server is at an "
                     "address or at a Unix socket, not both");
    if (opt_unix != NULL) {
        if (tsl_conform_addr_unix(&target, opt_unix, err, sizeof(err)) < 0)
            return usage(err);
        if (proxy_path != NULL)
            return usage("--proxy does not work with --unix: tsl-proxy's "
                         "faults (resets, cut connections) are TCP's; run "
                         "9.2-9.5 with the server on --host");
        if (class_file != NULL)
            return usage("--unix with --class: a class's start commands "
                         "take a {port}; grade a class over --host");
        jobs = 1; /* one path: one server at a time */
    } else if (tsl_conform_addr_host(&target, opt_host ? opt_host
                                                       : "127.0.0.1",
                                     err, sizeof(err)) < 0) {
        return usage(err);
    }
    if (class_file != NULL) {
        if (server_cmd != NULL || declare_path != NULL || expect != NULL)
            return usage("--class takes the servers and declarations from "
                         "its manifest");
        if (shim_path != NULL && access(shim_path, R_OK) != 0)
            return usage("--shim: no such library");
        if (proxy_path != NULL && access(proxy_path, X_OK) != 0)
            return usage("--proxy: no such program (the tsl-proxy binary)");
        return tsl_conform_class(class_file, class_out, jobs, extra, nextra);
    }
    if (server_cmd == NULL ||
        (opt_unix == NULL && strstr(server_cmd, "{port}") == NULL))
        return usage(opt_unix != NULL
                         ? "--server is required"
                         : "--server with {port} in it is required");
    if (shim_path != NULL && access(shim_path, R_OK) != 0)
        return usage("--shim: no such library");
    if (proxy_path != NULL && access(proxy_path, X_OK) != 0)
        return usage("--proxy: no such program (the tsl-proxy binary)");
    if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
        return usage("cannot open /dev/null");
    /* Case 4.5 holds more connections than the server's 128 files. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1024 &&
        rl.rlim_max > rl.rlim_cur) {
        rl.rlim_cur = rl.rlim_max < 1024 ? rl.rlim_max : 1024;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN); /* ours only: the server gets the default */
    /* SIGCHLD ignored where we were started would have the kernel reap
     * the server unseen: waitpid could not say how it ended. */
    signal(SIGCHLD, SIG_DFL);
    memset(&run, 0, sizeof(run));
    clock_gettime(CLOCK_REALTIME, &wall);
    strftime(run.started, sizeof(run.started), "%Y-%m-%dT%H:%M:%SZ",
             gmtime(&wall.tv_sec));
    printf("tsl-conform %s: %s (seed %llu)\n", TSL_CONFORM_VERSION,
           server_cmd, (unsigned long long)opt_seed);
    if (opt_host != NULL || opt_unix != NULL)
        printf("the server is reached at %s%s\n",
               tsl_conform_addr_is_unix(&target) ? "" : "host ", target.text);
    fflush(stdout);
    t0 = tsl_conform_now_ms();
    for (i = 0; i < jobs; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (i = 0; i < jobs; i++)
        pthread_join(th[i], NULL);
    qsort(results, (size_t)nresults, sizeof(results[0]), by_id);
    run.server_cmd = server_cmd;
    run.declare_path = declare_path;
    run.framing_spec = framing_spec;
    run.shim_path = shim_path;
    run.proxy_path = proxy_path;
    run.host = opt_host;
    run.unix_path = opt_unix;
    run.address = target.text;
    run.pattern = pattern;
    run.scale = scale;
    run.seed = opt_seed;
    run.secs = (double)(tsl_conform_now_ms() - t0) / 1000;
    run.results = results;
    run.nresults = nresults;
    run.notes = notes;
    run.nnotes = nnotes;
    for (i = 0; i < nresults; i++) {
        const struct tsl_conform_result *r = &results[i];
        switch (r->v) {
        case TSL_CONFORM_PASS:
            run.npass++;
            run.points += r->c->points;
            break;
        case TSL_CONFORM_FAIL: run.nfail++; break;
        case TSL_CONFORM_SKIP: run.nskip++; break;
        case TSL_CONFORM_NA: run.nna++; break;
        }
        if (r->v != TSL_CONFORM_NA)
            run.max += r->c->points;
    }
    for (i = 0; i < nnotes; i++)
        alerts += notes[i].alert;

    printf("\n%-6s %-4s %-6s %s\n", "CASE", "", "POINTS", "TITLE");
    for (i = 0; i < nresults; i++) {
        const struct tsl_conform_result *r = &results[i];
        char pts[16] = "-";
        if (r->v != TSL_CONFORM_NA)
            snprintf(pts, sizeof(pts), "%d/%d",
                     r->v == TSL_CONFORM_PASS ? r->c->points : 0,
                     r->c->points);
        printf("%-6s %-4s %-6s %s\n", r->c->id, tsl_conform_verdict_name(r->v),
               pts, r->c->title);
    }
    if (nnotes > 0) {
        printf("\nservers outside the cases (not graded):\n");
        for (i = 0; i < nnotes; i++)
            printf("  group %d: %s%s\n", notes[i].group, notes[i].text,
                   notes[i].alert ? "  [!]" : "");
    }
    if (run.nfail > 0) {
        printf("\nreplay a failed case alone:\n");
        for (i = 0; i < nresults; i++)
            if (results[i].v == TSL_CONFORM_FAIL) {
                char cmd[4096];
                tsl_conform_replay(&run, results[i].c->id, cmd, sizeof(cmd));
                printf("  %s\n", cmd);
            }
    }
    printf("points: %d of %d", run.points, run.max);
    if (run.nskip > 0)
        printf(" (%d declared skipped, earning nothing)", run.nskip);
    printf("\nconform: %d passed, %d failed, %d skipped, %d n/a\n",
           run.npass, run.nfail, run.nskip, run.nna);
    if (junit != NULL)
        tsl_conform_write_junit(&run, junit);
    if (json != NULL)
        tsl_conform_write_json(&run, json);
    if (html != NULL)
        tsl_conform_write_html(&run, html);
    if (tsv != NULL)
        tsl_conform_write_tsv(&run, tsv);
    if (expect != NULL)
        return check_expected(&run, expect, expect_only, may_fail);
    return run.nfail > 0 || alerts > 0 ? 1 : 0;
}

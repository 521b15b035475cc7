/*
 * tslsh.c - the interactive shell for servers (the course's test
 * application, done properly).
 *
 *   tslsh                       interactive (libedit: editing, history,
 *                               TAB completion, '?' lists what may follow)
 *   tslsh -c CMD [-c CMD ...]   run commands, then exit
 *   tslsh -f FILE               run the commands in FILE ('-': stdin)
 *   tslsh < script              commands from stdin when it is not a tty
 *   -i                          after -c/-f, go on reading commands (also
 *                               after a failing one)
 *   -k                          keep going after a failing command
 *   -h, --help                  usage, exit 0
 *
 * Exit status: 0, or 1 at the first failing command (without -k: with it,
 * 1 if any failed); 2 for bad options.  Events (connections, messages,
 * disconnections, rejections) are printed as they happen: when editing,
 * the shell clears the line being typed, prints them, and redraws the
 * prompt and the line, so typing is never corrupted.  However the shell
 * ends (exit, end of input, SIGTERM), every running server is stopped
 * gracefully first, its clients' `shutdown` events printed before
 * "stopped".  Interactively, Ctrl-C clears the line being typed.
 *
 * Threads: main runs commands and owns libedit; server threads only queue
 * event lines (ev_lock) and poke a pipe that the line reader polls.  In
 * batch mode events are printed at once under ev_lock.  Signal handlers
 * only set a flag and poke the same pipe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <histedit.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "tsl_cli.h"
#include "tsl_cli_parse.h"

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static bool interactive;
static int ev_pipe[2] = {-1, -1};
static char *ev_buf;         /* queued event lines (interactive) */
static size_t ev_len, ev_cap;
static struct tsl_cli *cli;
static volatile sig_atomic_t got_sigint, got_sigterm;

static void
on_event(const char *line, void *arg)
{
    size_t n = strlen(line);

    (void)arg;
    pthread_mutex_lock(&ev_lock);
    if (!interactive) {
        printf("%s\n", line);
        fflush(stdout);
    } else if (ev_len + n + 2 <= 1 << 20) { /* bounded: drop a flood */
        if (ev_len + n + 2 > ev_cap) {
            size_t cap = ev_cap ? ev_cap * 2 : 4096;
            char *p;
            while (cap < ev_len + n + 2)
                cap *= 2;
            p = realloc(ev_buf, cap);
            if (p != NULL) {
                ev_buf = p;
                ev_cap = cap;
            }
        }
        if (ev_len + n + 2 <= ev_cap) {
            memcpy(ev_buf + ev_len, line, n);
            ev_buf[ev_len + n] = '\n';
            ev_len += n + 1;
            if (write(ev_pipe[1], "", 1) < 0) {
                /* full: the reader will wake anyway */
            }
        }
    }
    pthread_mutex_unlock(&ev_lock);
}

/* Runs one command line; prints errors.  Returns 0, 1 (exit) or -1. */
static int
run(const char *line, const char *where)
{
    char err[512];
    int r;

    r = tsl_cli_exec(cli, line, stdout, err, sizeof(err));
    fflush(stdout);
    if (r < 0) {
        if (where != NULL)
            fprintf(stderr, "tslsh: %s: %s\n", where, err);
        else
            fprintf(stderr, "tslsh: %s\n", err);
    }
    return r;
}

/* ---- interactive ---- */

/* Ctrl-C (SIGINT) and SIGTERM/SIGHUP while interactive: noted, and the
 * line reader woken.  write() is async-signal-safe; errno is kept. */
static void
on_signal(int sig)
{
    int saved = errno;

    if (sig == SIGINT)
        got_sigint = 1;
    else
        got_sigterm = 1;
    if (ev_pipe[1] >= 0 && write(ev_pipe[1], "", 1) < 0) {
        /* full: the reader will wake anyway */
    }
    errno = saved;
}

/* Prints the queued events, if any; ev_lock held. */
static void
flush_events_locked(void)
{
    if (ev_len > 0) {
        fwrite(ev_buf, 1, ev_len, stdout);
        fflush(stdout);
        ev_len = 0;
    }
}

/* Prints the queued events, if any, above the line being typed. */
static void
flush_events(bool clear_line)
{
    pthread_mutex_lock(&ev_lock);
    if (ev_len > 0 && clear_line)
        fputs("\r\033[K", stdout);
    flush_events_locked();
    pthread_mutex_unlock(&ev_lock);
}

static const char *
prompt(EditLine *el)
{
    (void)el;
    return "tslsh> ";
}

/* Reads one character, printing queued events above the line meanwhile. */
static int
getc_fn(EditLine *el, wchar_t *wc)
{
    struct pollfd pf[2];
    unsigned char ch;
    ssize_t r;
    int n;

    for (;;) {
        pf[0].fd = STDIN_FILENO;
        pf[0].events = POLLIN;
        pf[1].fd = ev_pipe[0];
        pf[1].events = POLLIN;
        /* A signal noted and keys still waiting: the keys first (they
         * were typed before), then the signal, without blocking. */
        n = poll(pf, 2, got_sigint || got_sigterm ? 0 : -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n > 0 && pf[1].revents) {
            char drain[64];
            bool had;
            while (read(ev_pipe[0], drain, sizeof(drain)) > 0)
                ;
            pthread_mutex_lock(&ev_lock);
            had = ev_len > 0;
            pthread_mutex_unlock(&ev_lock);
            if (had) {
                flush_events(true);
                el_set(el, EL_REFRESH);
            }
        }
        if (n > 0 && pf[0].revents) {
            r = read(STDIN_FILENO, &ch, 1);
            if (r == 1) {
                *wc = (wchar_t)ch;
                return 1;
            }
            if (r == 0)
                return 0;
            if (errno != EINTR && errno != EAGAIN)
                return -1;
        }
        if (got_sigterm)
            return 0; /* as end of input: the shell ends gracefully */
        if (got_sigint) {
            /* Handled as the Ctrl-C key, bound to cancel_fn. */
            got_sigint = 0;
            *wc = 3;
            return 1;
        }
    }
}

/* Ctrl-C: the line being typed is dropped, the shell stays. */
static unsigned char
cancel_fn(EditLine *el, int ch)
{
    const LineInfo *li = el_line(el);

    (void)ch;
    el_cursor(el, (int)(li->lastchar - li->cursor));
    li = el_line(el);
    el_deletestr(el, (int)(li->cursor - li->buffer));
    fputs("^C\n", stdout);
    return CC_REDISPLAY;
}

/* What may follow: keywords (and server names) that TAB can insert, and
 * the parameters, each with its short help. */
struct comp {
    char words[64][64];
    char helps[64][96];
    int n;
    char params[8][32];
    char param_helps[8][96];
    int np;
    bool names;       /* a server name may follow */
};

static void
collect_word(const char *word, const char *help, bool kw, void *arg)
{
    struct comp *c = arg;

    if (!kw) {
        if (strcmp(word, "<name>") == 0)
            c->names = true;
        if (c->np < 8) {
            snprintf(c->params[c->np], sizeof(c->params[0]), "%s", word);
            snprintf(c->param_helps[c->np++], sizeof(c->param_helps[0]), "%s",
                     help);
        }
        return;
    }
    if (c->n < 64) {
        snprintf(c->words[c->n], sizeof(c->words[0]), "%s", word);
        snprintf(c->helps[c->n++], sizeof(c->helps[0]), "%s", help);
    }
}

static void
collect_name(const char *name, void *arg)
{
    struct comp *c = arg;

    if (c->n < 64) {
        snprintf(c->words[c->n], sizeof(c->words[0]), "%s", name);
        snprintf(c->helps[c->n++], sizeof(c->helps[0]), "a server");
    }
}

/* One line per word: the word, padded, then its help. */
static void
print_choices(const struct comp *c)
{
    int i, w = 0;

    for (i = 0; i < c->n; i++)
        if ((int)strlen(c->words[i]) > w)
            w = (int)strlen(c->words[i]);
    for (i = 0; i < c->np; i++)
        if ((int)strlen(c->params[i]) > w)
            w = (int)strlen(c->params[i]);
    for (i = 0; i < c->n; i++)
        printf("  %-*s  %s\n", w, c->words[i], c->helps[i]);
    for (i = 0; i < c->np; i++)
        printf("  %-*s  %s\n", w, c->params[i], c->param_helps[i]);
}

/* The line up to the cursor, as a C string. */
static void
line_upto_cursor(EditLine *el, char *buf, size_t n)
{
    const LineInfo *li = el_line(el);
    size_t len = (size_t)(li->cursor - li->buffer);

    if (len >= n)
        len = n - 1;
    memcpy(buf, li->buffer, len);
    buf[len] = '\0';
}

/* TAB: one candidate word is inserted whole (with a space); several have
 * their common prefix inserted, or, when the word already is that
 * prefix, are listed with their help (and the parameters that may
 * stand there). */
static unsigned char
complete_fn(EditLine *el, int ch)
{
    char line[TSL_CLI_LINE_MAX];
    const char *last;
    struct comp c;
    size_t plen, common;
    int i;

    (void)ch;
    memset(&c, 0, sizeof(c));
    line_upto_cursor(el, line, sizeof(line));
    tsl_cli_complete(line, collect_word, &c);
    last = strrchr(line, ' ');
    last = last ? last + 1 : line;
    plen = strlen(last);
    if (c.names)
        tsl_cli_names(cli, last, collect_name, &c);
    /* A word begun, or nothing but words possible: complete the words
     * (a parameter, such as a host name, is the user's to type). */
    if (c.n == 1 && (plen > 0 || c.np == (c.names ? 1 : 0))) {
        el_insertstr(el, c.words[0] + plen);
        el_insertstr(el, " ");
        return CC_REFRESH;
    }
    if (c.n == 0 && c.np == 0)
        return CC_REFRESH_BEEP;
    if (c.n > 0 && (plen > 0 || c.np == 0 || (c.names && c.np == 1))) {
        common = strlen(c.words[0]);
        for (i = 1; i < c.n; i++) {
            size_t k = 0;
            while (k < common && c.words[i][k] == c.words[0][k])
                k++;
            common = k;
        }
        if (common > plen) {
            char ins[64];
            memcpy(ins, c.words[0] + plen, common - plen);
            ins[common - plen] = '\0';
            el_insertstr(el, ins);
            return CC_REFRESH;
        }
    }
    fputc('\n', stdout);
    print_choices(&c);
    return CC_REDISPLAY;
}

static unsigned char
help_fn(EditLine *el, int ch)
{
    char line[TSL_CLI_LINE_MAX];
    struct comp c;

    (void)ch;
    memset(&c, 0, sizeof(c));
    line_upto_cursor(el, line, sizeof(line));
    {
        /* In the text of `send`, '?' is just a character. */
        static struct tsl_cli_cmd cmd;
        if (tsl_cli_parse(line, &cmd, NULL, 0) == 0 &&
            cmd.op == TSL_CLI_SEND) {
            el_insertstr(el, "?");
            return CC_REFRESH;
        }
    }
    /* '?' asks about what follows the words typed so far. */
    if (line[0] != '\0' && line[strlen(line) - 1] != ' ')
        strncat(line, " ", sizeof(line) - strlen(line) - 1);
    tsl_cli_complete(line, collect_word, &c);
    if (c.names)
        tsl_cli_names(cli, "", collect_name, &c);
    fputc('\n', stdout);
    if (c.n == 0 && c.np == 0)
        printf("(nothing may follow: press Enter)\n");
    print_choices(&c);
    return CC_REDISPLAY;
}

static int
interactive_loop(bool keep_going)
{
    struct sigaction sa;
    HistEvent hev;
    History *h;
    EditLine *el;
    const char *line;
    int n, r, failed = 0;

    if (pipe2(ev_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        return 1;
    pthread_mutex_lock(&ev_lock);
    interactive = true;
    pthread_mutex_unlock(&ev_lock);
    /* No SA_RESTART: a signal wakes the line reader's poll(). */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    h = history_init();
    history(h, &hev, H_SETSIZE, 500);
    el = el_init("tslsh", stdin, stdout, stderr);
    el_set(el, EL_PROMPT, prompt);
    el_set(el, EL_EDITOR, "emacs");
    el_set(el, EL_HIST, history, h);
    el_set(el, EL_GETCFN, getc_fn);
    el_set(el, EL_ADDFN, "tsl-complete", "complete the word", complete_fn);
    el_set(el, EL_BIND, "^I", "tsl-complete", NULL);
    el_set(el, EL_ADDFN, "tsl-help", "list what may follow", help_fn);
    el_set(el, EL_BIND, "?", "tsl-help", NULL);
    el_set(el, EL_ADDFN, "tsl-cancel", "drop the line being typed", cancel_fn);
    el_set(el, EL_BIND, "^C", "tsl-cancel", NULL);
    printf("tslsh: type 'help', TAB to complete, '?' for what may follow\n");
    while ((line = el_gets(el, &n)) != NULL) {
        if (n > 1)
            history(h, &hev, H_ENTER, line);
        r = run(line, NULL);
        if (r == 1)
            break;
        if (r < 0)
            failed = 1;
    }
    /* Interactive errors are shown as they happen; the exit status only
     * reports failures in batch use. */
    (void)keep_going;
    (void)failed;
    el_end(el);
    history_end(h);
    /* From here events print at once again: those of the stops to come
     * must appear before "stopped". */
    pthread_mutex_lock(&ev_lock);
    flush_events_locked();
    interactive = false;
    pthread_mutex_unlock(&ev_lock);
    return 0;
}

/* ---- batch ---- */

static int
run_stream(FILE *f, const char *name, bool keep_going, int *failed)
{
    char *line = NULL, where[300];
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, r;

    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        snprintf(where, sizeof(where), "%s:%d", name, lineno);
        r = run(line, where);
        if (r == 1)
            break;
        if (r < 0) {
            *failed = 1;
            if (!keep_going) {
                free(line);
                return -1;
            }
        }
    }
    free(line);
    return 0;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: tslsh [-k] [-i] [-c COMMAND]... [-f FILE]\n"
               "  -c COMMAND  run a command (repeatable), then exit\n"
               "  -f FILE     run the commands in FILE ('-': stdin)\n"
               "  -i          after -c and -f, go on with commands from "
               "stdin,\n"
               "              also when one of them failed\n"
               "  -k          keep going after a failing command\n"
               "  -h, --help  this text\n"
               "With neither, reads commands from stdin (interactive on a "
               "terminal).\n"
               "Exit status: 0; 1 if a command failed; 2 for bad options.\n"
               "Commands: tslsh -c help (docs/cli.md).\n");
}

int
main(int argc, char **argv)
{
    const char *cmds[256], *file = NULL;
    int ncmds = 0, o, i, failed = 0, rc = 0;
    bool keep_going = false, then_interactive = false;
    char where[32];

    static const struct option longs[] = {{"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};

    while ((o = getopt_long(argc, argv, "c:f:ikh", longs, NULL)) != -1) {
        switch (o) {
        case 'c':
            if (ncmds == 256) {
                fprintf(stderr, "tslsh: at most 256 -c commands\n");
                return 2;
            }
            cmds[ncmds++] = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'k':
            keep_going = true;
            break;
        case 'i':
            then_interactive = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tslsh: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    cli = tsl_cli_create(on_event, NULL);
    if (cli == NULL)
        return 1;
    for (i = 0; i < ncmds && rc == 0; i++) {
        snprintf(where, sizeof(where), "-c #%d", i + 1);
        int r = run(cmds[i], where);
        if (r == 1)
            goto out;
        if (r < 0) {
            failed = 1;
            if (!keep_going)
                rc = 1;
        }
    }
    if (rc == 0 && file != NULL) {
        FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
        if (f == NULL) {
            fprintf(stderr, "tslsh: cannot open %s: %s\n", file,
                    strerror(errno));
            rc = 1;
        } else {
            if (run_stream(f, file, keep_going, &failed) < 0)
                rc = 1;
            if (f != stdin)
                fclose(f);
        }
    }
    /* -i: the shell is wanted even when the commands before it failed
     * (their error is on stderr): a port in use must not cost the user
     * the session. */
    if (then_interactive || (rc == 0 && ncmds == 0 && file == NULL)) {
        if (isatty(STDIN_FILENO))
            interactive_loop(keep_going);
        else if (run_stream(stdin, "stdin", keep_going, &failed) < 0)
            rc = 1;
    }
out:
    tsl_cli_stop_all(cli, stdout);
    tsl_cli_destroy(cli);
    free(ev_buf);
    return rc != 0 || failed ? 1 : 0;
}

/*
 * tslsh.c - the interactive shell for servers (the course's test
 * application, done properly).
 *
 *   tslsh                       interactive (libedit: editing, history,
 *                               TAB completion, '?' lists what may follow)
 *   tslsh -c CMD [-c CMD ...]   run commands, then exit
 *   tslsh -f FILE               run the commands in FILE ('-': stdin)
 *   tslsh < script              commands from stdin when it is not a tty
 *   -i                          after -c/-f, go on reading commands
 *   -k                          keep going after a failing command
 *
 * Exit status: 0, or 1 at the first failing command (without -k: with it,
 * 1 if any failed); 2 for bad options.  Events (connections, messages,
 * disconnections, rejections) are printed as they happen: when editing,
 * the shell clears the line being typed, prints them, and redraws the
 * prompt and the line, so typing is never corrupted.
 *
 * Threads: main runs commands and owns libedit; server threads only queue
 * event lines (ev_lock) and poke a pipe that the line reader polls.  In
 * batch mode events are printed at once under ev_lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

    for (;;) {
        pf[0].fd = STDIN_FILENO;
        pf[0].events = POLLIN;
        pf[1].fd = ev_pipe[0];
        pf[1].events = POLLIN;
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (pf[1].revents) {
            char drain[64];
            while (read(ev_pipe[0], drain, sizeof(drain)) > 0)
                ;
            pthread_mutex_lock(&ev_lock);
            if (ev_len > 0) {
                fputs("\r\033[K", stdout);
                fwrite(ev_buf, 1, ev_len, stdout);
                fflush(stdout);
                ev_len = 0;
            }
            pthread_mutex_unlock(&ev_lock);
            el_set(el, EL_REFRESH);
        }
        if (pf[0].revents) {
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
    }
}

struct comp {
    char words[64][64];
    int n;
    bool params;      /* a parameter may follow */
    char param_help[256];
};

static void
collect_word(const char *word, const char *help, bool kw, void *arg)
{
    struct comp *c = arg;

    if (!kw) {
        size_t used = strlen(c->param_help);
        c->params = true;
        snprintf(c->param_help + used, sizeof(c->param_help) - used,
                 "%s%s (%s)", used ? ", " : "", word, help);
        return;
    }
    if (c->n < 64)
        snprintf(c->words[c->n++], sizeof(c->words[0]), "%s", word);
}

static void
collect_name(const char *name, void *arg)
{
    struct comp *c = arg;

    if (c->n < 64)
        snprintf(c->words[c->n++], sizeof(c->words[0]), "%s", name);
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

static unsigned char
complete_fn(EditLine *el, int ch)
{
    char line[TSL_CLI_LINE_MAX];
    const char *last;
    struct comp c;
    size_t plen;
    int i;

    (void)ch;
    memset(&c, 0, sizeof(c));
    line_upto_cursor(el, line, sizeof(line));
    tsl_cli_complete(line, collect_word, &c);
    last = strrchr(line, ' ');
    last = last ? last + 1 : line;
    plen = strlen(last);
    if (c.params && strstr(c.param_help, "<name>") != NULL)
        tsl_cli_names(cli, last, collect_name, &c);
    if (c.n == 1) {
        el_insertstr(el, c.words[0] + plen);
        el_insertstr(el, " ");
        return CC_REFRESH;
    }
    if (c.n == 0 && !c.params)
        return CC_REFRESH_BEEP;
    fputc('\n', stdout);
    for (i = 0; i < c.n; i++)
        printf("%s  ", c.words[i]);
    if (c.params)
        printf("%s%s", c.n ? "  " : "", c.param_help);
    fputc('\n', stdout);
    return CC_REDISPLAY;
}

static unsigned char
help_fn(EditLine *el, int ch)
{
    char line[TSL_CLI_LINE_MAX];
    struct comp c;
    int i;

    (void)ch;
    memset(&c, 0, sizeof(c));
    line_upto_cursor(el, line, sizeof(line));
    /* '?' asks about what follows the words typed so far. */
    if (line[0] != '\0' && line[strlen(line) - 1] != ' ')
        strncat(line, " ", sizeof(line) - strlen(line) - 1);
    tsl_cli_complete(line, collect_word, &c);
    fputc('\n', stdout);
    if (c.n == 0 && !c.params)
        printf("(nothing may follow: press Enter)\n");
    for (i = 0; i < c.n; i++)
        printf("  %s\n", c.words[i]);
    if (c.params)
        printf("  %s\n", c.param_help);
    return CC_REDISPLAY;
}

static int
interactive_loop(bool keep_going)
{
    HistEvent hev;
    History *h;
    EditLine *el;
    const char *line;
    int n, r, failed = 0;

    interactive = true;
    if (pipe2(ev_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        return 1;
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
               "stdin\n"
               "  -k          keep going after a failing command\n"
               "With neither, reads commands from stdin (interactive on a "
               "terminal).\n");
}

int
main(int argc, char **argv)
{
    const char *cmds[256], *file = NULL;
    int ncmds = 0, o, i, failed = 0, rc = 0;
    bool keep_going = false, then_interactive = false;
    char where[32];

    while ((o = getopt(argc, argv, "c:f:ikh")) != -1) {
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
    if (rc == 0 && (then_interactive || (ncmds == 0 && file == NULL))) {
        if (isatty(STDIN_FILENO))
            interactive_loop(keep_going);
        else if (run_stream(stdin, "stdin", keep_going, &failed) < 0)
            rc = 1;
    }
out:
    tsl_cli_destroy(cli);
    free(ev_buf);
    return rc != 0 || failed ? 1 : 0;
}

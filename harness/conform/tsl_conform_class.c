/*
 * tsl_conform_class.c - tsl-conform --class MANIFEST --out DIR: grades a
 * class.  The manifest has one submission a line,
 *
 *     NAME  DECLARE  COMMAND ...
 *
 * (DECLARE a declaration file or "-"; COMMAND the rest of the line, with
 * {port}; "#" starts a comment line).  Each submission is graded by a run
 * of this same program, as a child process with the options given after
 * the class ones, writing DIR/NAME.{txt,json,html,xml} and a
 * tab-separated list of its verdicts (--tsv) that this file reads back
 * into one summary: DIR/summary.csv (student, points, max, a column per
 * case) and DIR/summary.html (the same, linking each student's report).
 * Children run --jobs at a time; each grades its groups one at a time, so
 * submissions never compete with themselves.  Runs in the main thread
 * only.
 *
 * Or a directory of submissions, one subdirectory each (its name the
 * student's): NAME/start holds the start command (its first line that is
 * not empty or a "#" comment), NAME/conform.conf the declaration if there
 * is one, and the command runs in NAME/, so "./server {port}" or
 * "python3 echo.py {port}" work as written.  A subdirectory without a
 * start file is listed in the summary as not graded.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsl_conform.h"

#define MAX_STUDENTS 512
#define MAX_CASES 64

struct student {
    char name[64];
    char declare[PATH_MAX];
    char cmd[2048];
    char dir[PATH_MAX];    /* a directory's submission: run in it */
    char problem[160];     /* why it could not be graded, "" */
    pid_t pid;
    int status;
    int points, max;
    char result[MAX_CASES][12]; /* per catalogue case: "2/2", "0/2" ... */
};

static struct student *students;
static int nstudents;
static const struct tsl_conform_case *cases[MAX_CASES];
static int ncases;

static int
load_manifest(const char *path)
{
    char line[4096];
    FILE *f = fopen(path, "re");
    int lineno = 0;

    if (f == NULL) {
        fprintf(stderr, "tsl-conform: cannot read %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        struct student *s = &students[nstudents];
        char *p = line, *name, *decl;
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        p += strspn(p, " \t");
        if (*p == '#' || *p == '\0')
            continue;
        name = strsep(&p, " \t");
        if (p != NULL)
            p += strspn(p, " \t");
        decl = p ? strsep(&p, " \t") : NULL;
        if (p != NULL)
            p += strspn(p, " \t");
        if (decl == NULL || p == NULL || strstr(p, "{port}") == NULL ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789_.-") != strlen(name) ||
            strlen(name) >= sizeof(s->name) || name[0] == '.') {
            fprintf(stderr,
                    "tsl-conform: %s:%d: expected NAME DECLARE|- COMMAND "
                    "with {port} (NAME of letters, digits, _ . -)\n",
                    path, lineno);
            fclose(f);
            return -1;
        }
        if (nstudents == MAX_STUDENTS) {
            fprintf(stderr, "tsl-conform: %s: more than %d submissions\n",
                    path, MAX_STUDENTS);
            fclose(f);
            return -1;
        }
        memset(s, 0, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "%s", name);
        snprintf(s->declare, sizeof(s->declare), "%s",
                 strcmp(decl, "-") == 0 ? "" : decl);
        snprintf(s->cmd, sizeof(s->cmd), "%s", p);
        nstudents++;
    }
    fclose(f);
    return 0;
}

static bool
name_ok(const char *name)
{
    return name[0] != '.' && name[0] != '\0' && strlen(name) < 64 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_.-") == strlen(name);
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(((const struct student *)a)->name,
                  ((const struct student *)b)->name);
}

/* a/b into out: 0, or -1 if it does not fit. */
static int
join(char *out, size_t n, const char *a, const char *b)
{
    int r = snprintf(out, n, "%s/%s", a, b);

    return r < 0 || (size_t)r >= n ? -1 : 0;
}

/* A directory of submissions: one subdirectory each. */
static int
load_dir(const char *path)
{
    char root[PATH_MAX], file[PATH_MAX], line[2048];
    struct dirent *e;
    struct stat st;
    DIR *d;

    if (realpath(path, root) == NULL || (d = opendir(root)) == NULL) {
        fprintf(stderr, "tsl-conform: cannot read %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        struct student *s = &students[nstudents];
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        if (join(file, sizeof(file), root, e->d_name) < 0 ||
            stat(file, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (!name_ok(e->d_name)) {
            fprintf(stderr,
                    "tsl-conform: %s: a submission's directory name must "
                    "be letters, digits, _ . - (under 64)\n",
                    file);
            closedir(d);
            return -1;
        }
        if (nstudents == MAX_STUDENTS) {
            fprintf(stderr, "tsl-conform: %s: more than %d submissions\n",
                    path, MAX_STUDENTS);
            closedir(d);
            return -1;
        }
        memset(s, 0, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "%s", e->d_name);
        memcpy(s->dir, file, sizeof(s->dir));
        if (join(file, sizeof(file), s->dir, "start") < 0 ||
            (f = fopen(file, "re")) == NULL) {
            snprintf(s->problem, sizeof(s->problem),
                     "not graded: no start file (%s/start)", s->name);
        } else {
            while (fgets(line, sizeof(line), f) != NULL) {
                char *p = line + strspn(line, " \t");
                p[strcspn(p, "\r\n")] = '\0';
                if (*p != '\0' && *p != '#') {
                    snprintf(s->cmd, sizeof(s->cmd), "%s", p);
                    break;
                }
            }
            fclose(f);
            if (s->cmd[0] == '\0' || strstr(s->cmd, "{port}") == NULL)
                snprintf(s->problem, sizeof(s->problem),
                         "not graded: %s/start has no command with {port}",
                         s->name);
        }
        if (join(file, sizeof(file), s->dir, "conform.conf") == 0 &&
            access(file, R_OK) == 0)
            memcpy(s->declare, file, sizeof(s->declare));
        nstudents++;
    }
    closedir(d);
    qsort(students, (size_t)nstudents, sizeof(*students), by_name);
    return 0;
}

static pid_t
start_child(struct student *s, const char *out, char **extra, int nextra)
{
    char txt[4200], json[4200], html[4200], xml[4200], tsv[4200];
    char *argv[64];
    int argc = 0, i, fd;
    pid_t pid;

    snprintf(txt, sizeof(txt), "%s/%s.txt", out, s->name);
    snprintf(json, sizeof(json), "%s/%s.json", out, s->name);
    snprintf(html, sizeof(html), "%s/%s.html", out, s->name);
    snprintf(xml, sizeof(xml), "%s/%s.xml", out, s->name);
    snprintf(tsv, sizeof(tsv), "%s/%s.tsv", out, s->name);
    argv[argc++] = "tsl-conform";
    argv[argc++] = "--server";
    argv[argc++] = s->cmd;
    if (s->declare[0] != '\0') {
        argv[argc++] = "--declare";
        argv[argc++] = s->declare;
    }
    argv[argc++] = "--json";
    argv[argc++] = json;
    argv[argc++] = "--html";
    argv[argc++] = html;
    argv[argc++] = "--junit";
    argv[argc++] = xml;
    argv[argc++] = "--tsv";
    argv[argc++] = tsv;
    for (i = 0; i < nextra && argc < 62; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    if ((fd = open(txt, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        if (s->dir[0] != '\0' && chdir(s->dir) < 0) {
            fprintf(stderr, "tsl-conform: cannot enter %s: %s\n", s->dir,
                    strerror(errno));
            _exit(2);
        }
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(fd);
    return pid;
}

/* Reads a child's --tsv: "ID<TAB>result<TAB>points<TAB>max" lines. */
static void
read_tsv(struct student *s, const char *out)
{
    char path[4200], line[256], id[32], res[12];
    int pts, max, i;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.tsv", out, s->name);
    if ((f = fopen(path, "re")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%31s\t%11s\t%d\t%d", id, res, &pts, &max) != 4)
            continue;
        for (i = 0; i < ncases; i++)
            if (strcmp(cases[i]->id, id) == 0)
                break;
        if (i == ncases)
            continue;
        if (strcmp(res, "pass") == 0 || strcmp(res, "fail") == 0)
            snprintf(s->result[i], sizeof(s->result[i]), "%d/%d", pts, max);
        else
            snprintf(s->result[i], sizeof(s->result[i]), "%s", res);
        if (strcmp(res, "na") != 0) {
            s->points += pts;
            s->max += max;
        }
    }
    fclose(f);
    unlink(path);
}

static void
csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void
html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

static void
write_summary(const char *out)
{
    char path[4200];
    FILE *f;
    int i, j;

    snprintf(path, sizeof(path), "%s/summary.csv", out);
    if ((f = fopen(path, "w")) != NULL) {
        fputs("student,points,max,status", f);
        for (j = 0; j < ncases; j++)
            fprintf(f, ",%s", cases[j]->id);
        fputc('\n', f);
        for (i = 0; i < nstudents; i++) {
            char st[160];
            csv_field(f, students[i].name);
            if (students[i].problem[0] != '\0')
                snprintf(st, sizeof(st), "%s", students[i].problem);
            else
                tsl_conform_status_text(students[i].status, st, sizeof(st));
            fprintf(f, ",%d,%d,", students[i].points, students[i].max);
            csv_field(f, st);
            for (j = 0; j < ncases; j++)
                fprintf(f, ",%s", students[i].result[j][0]
                                      ? students[i].result[j]
                                      : "");
            fputc('\n', f);
        }
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/summary.html", out);
    if ((f = fopen(path, "w")) == NULL)
        return;
    fputs("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
          "<title>tsl-conform: class summary</title><style>"
          "body{font-family:sans-serif;margin:2em}"
          "table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:3px 6px;text-align:center}"
          "td.n{text-align:left}.pass{background:#dfd}.fail{background:#fdd}"
          ".skip{background:#ffd}.na{background:#eee;color:#666}"
          "</style></head><body><h1>tsl-conform: class summary</h1>"
          "<p>Points are out of every case run: a declared skip counts and "
          "earns nothing; n/a counts in neither.</p>"
          "<table><tr><th>student</th><th>points</th>",
          f);
    for (j = 0; j < ncases; j++)
        fprintf(f, "<th>%s</th>", cases[j]->id);
    fputs("</tr>", f);
    for (i = 0; i < nstudents; i++) {
        const struct student *s = &students[i];
        fputs("<tr><td class=\"n\"><a href=\"", f);
        html_text(f, s->name);
        fputs(".html\">", f);
        html_text(f, s->name);
        fprintf(f, "</a></td><td>%d / %d</td>", s->points, s->max);
        if (s->problem[0] != '\0') {
            fprintf(f, "<td class=\"fail\" colspan=\"%d\">", ncases);
            html_text(f, s->problem);
            fputs("</td></tr>", f);
            continue;
        }
        for (j = 0; j < ncases; j++) {
            const char *r = s->result[j], *cls = "na";
            int p, m;
            if (sscanf(r, "%d/%d", &p, &m) == 2)
                cls = p == m ? "pass" : "fail";
            else if (strcmp(r, "skip") == 0)
                cls = "skip";
            fprintf(f, "<td class=\"%s\">%s</td>", cls, r[0] ? r : "-");
        }
        fputs("</tr>", f);
    }
    fputs("</table></body></html>\n", f);
    fclose(f);
}

int
tsl_conform_class(const char *manifest, const char *out_arg, int jobs,
                  char **extra, int nextra)
{
    static char paths[16][PATH_MAX];
    char out[PATH_MAX];
    int i, running = 0, next = 0, failed = 0;
    struct stat sb;
    bool is_dir;
    size_t g;

    students = calloc(MAX_STUDENTS, sizeof(*students));
    if (students == NULL)
        return 2;
    is_dir = stat(manifest, &sb) == 0 && S_ISDIR(sb.st_mode);
    if ((is_dir ? load_dir(manifest) : load_manifest(manifest)) < 0)
        return 2;
    if (nstudents == 0) {
        fprintf(stderr, "tsl-conform: %s: no submissions\n", manifest);
        return 2;
    }
    if (mkdir(out_arg, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "tsl-conform: cannot create %s: %s\n", out_arg,
                strerror(errno));
        return 2;
    }
    /* Children of a directory run in their submission's directory: the
     * paths they are given must not depend on ours. */
    if (realpath(out_arg, out) == NULL)
        snprintf(out, sizeof(out), "%s", out_arg);
    for (i = 0; i + 1 < nextra && i / 2 < 16; i += 2)
        if ((strcmp(extra[i], "--shim") == 0 ||
             strcmp(extra[i], "--proxy") == 0) &&
            realpath(extra[i + 1], paths[i / 2]) != NULL)
            extra[i + 1] = paths[i / 2];
    for (i = 0; i < nstudents; i++)
        if (students[i].declare[0] != '\0' && students[i].dir[0] == '\0') {
            char abs[PATH_MAX];
            if (realpath(students[i].declare, abs) != NULL)
                snprintf(students[i].declare, sizeof(students[i].declare),
                         "%s", abs);
        }
    for (g = 0; g < tsl_conform_ngroups; g++)
        for (i = 0; i < tsl_conform_groups[g].ncases && ncases < MAX_CASES;
             i++)
            cases[ncases++] = &tsl_conform_groups[g].cases[i];
    printf("tsl-conform --class %s: %d submissions, %d at a time, reports "
           "in %s/\n",
           manifest, nstudents, jobs, out_arg);
    fflush(stdout);
    while (next < nstudents || running > 0) {
        int st;
        pid_t pid;
        while (running < jobs && next < nstudents) {
            struct student *s = &students[next++];
            if (s->problem[0] != '\0') {
                printf("%-24s %s\n", s->name, s->problem);
                failed++;
                continue;
            }
            if ((s->pid = start_child(s, out, extra, nextra)) > 0) {
                running++;
            } else {
                fprintf(stderr, "tsl-conform: cannot grade %s\n", s->name);
                failed++;
            }
        }
        if (running == 0)
            break;
        if ((pid = wait(&st)) < 0)
            break;
        for (i = 0; i < nstudents; i++)
            if (students[i].pid == pid) {
                students[i].status = st;
                students[i].pid = 0;
                read_tsv(&students[i], out);
                printf("%-24s %3d of %3d points\n", students[i].name,
                       students[i].points, students[i].max);
                fflush(stdout);
                running--;
                /* 0 and 1 are verdicts; anything else is a grading error. */
                if (!WIFEXITED(st) || WEXITSTATUS(st) > 1)
                    failed++;
                break;
            }
    }
    write_summary(out);
    printf("summary: %s/summary.csv, %s/summary.html\n", out_arg, out_arg);
    return failed ? 1 : 0;
}

/*
 * tsl_conform_report.c - tsl-conform's report files: JUnit XML for CI,
 * JSON for grading scripts, and a self-contained HTML page to hand back
 * to a student.  Each carries, per case, the verdict, the points earned
 * out of the case's points, the seconds, the reason, the server's output
 * during the case and the command that replays the case alone; and,
 * apart from the verdicts, what happened to the servers outside the
 * cases (stops after a group, restarts).  Called once, from the main
 * thread, after every worker has finished.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "tsl_conform.h"

const char *
tsl_conform_verdict_name(enum tsl_conform_verdict v)
{
    static const char *const names[] = {"pass", "FAIL", "skip", "n/a"};

    return names[v];
}

static const char *
json_verdict(enum tsl_conform_verdict v)
{
    static const char *const names[] = {"pass", "fail", "skip", "na"};

    return names[v];
}

/* Appends s to out in single quotes, for /bin/sh. */
static void
shell_quote(char *out, size_t n, const char *s)
{
    size_t used = strlen(out);

    if (used + 3 >= n)
        return;
    out[used++] = '\'';
    for (; *s != '\0' && used + 6 < n; s++) {
        if (*s == '\'') {
            memcpy(out + used, "'\\''", 4);
            used += 4;
        } else {
            out[used++] = *s;
        }
    }
    out[used++] = '\'';
    out[used] = '\0';
}

static void
add_opt(char *out, size_t n, const char *opt, const char *val)
{
    size_t used = strlen(out);

    snprintf(out + used, n - used, " %s ", opt);
    shell_quote(out, n, val);
}

void
tsl_conform_replay(const struct tsl_conform_run *run, const char *id,
                   char *out, size_t n)
{
    char num[32];

    snprintf(out, n, "tsl-conform");
    add_opt(out, n, "--server", run->server_cmd);
    add_opt(out, n, "--cases", id);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)run->seed);
    add_opt(out, n, "--seed", num);
    if (run->declare_path != NULL)
        add_opt(out, n, "--declare", run->declare_path);
    if (run->framing_spec != NULL)
        add_opt(out, n, "--framing", run->framing_spec);
    if (run->shim_path != NULL)
        add_opt(out, n, "--shim", run->shim_path);
    if (run->proxy_path != NULL)
        add_opt(out, n, "--proxy", run->proxy_path);
    if (run->host != NULL)
        add_opt(out, n, "--host", run->host);
    if (run->unix_path != NULL)
        add_opt(out, n, "--unix", run->unix_path);
    if (run->scale != 1.0) {
        snprintf(num, sizeof(num), "%g", run->scale);
        add_opt(out, n, "--timeout-scale", num);
    }
}

static void
xml_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
                fputc(*s, f);
        }
    }
}

/* The first line of s, escaped (an attribute holds one line). */
static void
xml_first_line(FILE *f, const char *s)
{
    char line[TSL_CONFORM_WHY];

    snprintf(line, sizeof(line), "%.*s", (int)strcspn(s, "\n"), s);
    xml_escape(f, line);
}

static void
json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
}

static int
earned(const struct tsl_conform_result *r)
{
    return r->v == TSL_CONFORM_PASS ? r->c->points : 0;
}

static int
worth(const struct tsl_conform_result *r)
{
    return r->v == TSL_CONFORM_NA ? 0 : r->c->points;
}

void
tsl_conform_write_junit(const struct tsl_conform_run *run, const char *path)
{
    FILE *f = fopen(path, "w");
    char replay[4096];
    int i;

    if (f == NULL) {
        fprintf(stderr, "tsl-conform: cannot write %s\n", path);
        return;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<testsuite name=\"tsl-conform\" tests=\"%d\" failures=\"%d\" "
               "skipped=\"%d\" time=\"%.3f\" timestamp=\"%s\">\n"
               "  <properties>\n"
               "    <property name=\"version\" value=\"%s\"/>\n"
               "    <property name=\"seed\" value=\"%llu\"/>\n"
               "    <property name=\"points\" value=\"%d\"/>\n"
               "    <property name=\"max_points\" value=\"%d\"/>\n"
               "    <property name=\"server\" value=\"",
            run->nresults, run->nfail, run->nskip + run->nna, run->secs,
            run->started, TSL_CONFORM_VERSION, (unsigned long long)run->seed,
            run->points, run->max);
    xml_escape(f, run->server_cmd);
    fputs("\"/>\n  </properties>\n", f);
    for (i = 0; i < run->nresults; i++) {
        const struct tsl_conform_result *r = &run->results[i];
        fprintf(f, "  <testcase classname=\"conform.group%d\" name=\"%s ",
                r->group, r->c->id);
        xml_escape(f, r->c->title);
        fprintf(f, "\" time=\"%.3f\">", r->secs);
        if (r->v == TSL_CONFORM_FAIL) {
            fputs("\n    <failure message=\"", f);
            xml_first_line(f, r->why);
            fprintf(f, "\" type=\"fail\">%d of %d points\n", earned(r),
                    worth(r));
            xml_escape(f, r->why);
            tsl_conform_replay(run, r->c->id, replay, sizeof(replay));
            fputs("\nreplay: ", f);
            xml_escape(f, replay);
            fputs("</failure>", f);
        } else if (r->v != TSL_CONFORM_PASS) {
            fprintf(f, "\n    <skipped message=\"%s: ",
                    r->v == TSL_CONFORM_SKIP ? "skip (0 points)" : "n/a");
            xml_first_line(f, r->why);
            fputs("\"/>", f);
        }
        if (r->tail[0] != '\0') {
            fputs("\n    <system-err>", f);
            xml_escape(f, r->tail);
            fputs("</system-err>", f);
        }
        fputs("\n  </testcase>\n", f);
    }
    if (run->nnotes > 0) {
        fputs("  <system-out>servers outside the cases (not graded):\n", f);
        for (i = 0; i < run->nnotes; i++) {
            fprintf(f, "group %d: ", run->notes[i].group);
            xml_escape(f, run->notes[i].text);
            fputc('\n', f);
        }
        fputs("</system-out>\n", f);
    }
    fputs("</testsuite>\n", f);
    fclose(f);
}

void
tsl_conform_write_json(const struct tsl_conform_run *run, const char *path)
{
    FILE *f = fopen(path, "w");
    char replay[4096];
    int i;

    if (f == NULL) {
        fprintf(stderr, "tsl-conform: cannot write %s\n", path);
        return;
    }
    fprintf(f, "{\"tool\":\"tsl-conform\",\"version\":\"%s\","
               "\"started\":\"%s\",\"seconds\":%.3f,\"server\":\"",
            TSL_CONFORM_VERSION, run->started, run->secs);
    json_escape(f, run->server_cmd);
    fputs("\",\"address\":\"", f);
    json_escape(f, run->address != NULL ? run->address : "127.0.0.1");
    fprintf(f, "\",\"seed\":%llu,\"passed\":%d,\"failed\":%d,"
               "\"skipped\":%d,\"na\":%d,\"points\":%d,\"max_points\":%d,"
               "\"cases\":[",
            (unsigned long long)run->seed, run->npass, run->nfail,
            run->nskip, run->nna, run->points, run->max);
    for (i = 0; i < run->nresults; i++) {
        const struct tsl_conform_result *r = &run->results[i];
        fprintf(f, "%s\n{\"id\":\"%s\",\"group\":%d,\"title\":\"",
                i ? "," : "", r->c->id, r->group);
        json_escape(f, r->c->title);
        fprintf(f, "\",\"result\":\"%s\",\"points\":%d,\"max\":%d,"
                   "\"seconds\":%.3f,\"reason\":\"",
                json_verdict(r->v), earned(r), worth(r), r->secs);
        json_escape(f, r->why);
        fputs("\",\"output\":\"", f);
        json_escape(f, r->tail);
        tsl_conform_replay(run, r->c->id, replay, sizeof(replay));
        fputs("\",\"replay\":\"", f);
        json_escape(f, replay);
        fputs("\"}", f);
    }
    fputs("],\n\"notes\":[", f);
    for (i = 0; i < run->nnotes; i++) {
        fprintf(f, "%s{\"group\":%d,\"alert\":%s,\"text\":\"", i ? "," : "",
                run->notes[i].group, run->notes[i].alert ? "true" : "false");
        json_escape(f, run->notes[i].text);
        fputs("\",\"output\":\"", f);
        json_escape(f, run->notes[i].tail);
        fputs("\"}", f);
    }
    fputs("]}\n", f);
    fclose(f);
}

static const char *
css_class(enum tsl_conform_verdict v)
{
    static const char *const cls[] = {"pass", "fail", "skip", "na"};

    return cls[v];
}

static const char *
group_title(int num)
{
    size_t g;

    for (g = 0; g < tsl_conform_ngroups; g++)
        if (tsl_conform_groups[g].num == num)
            return tsl_conform_groups[g].title;
    return "";
}

void
tsl_conform_write_html(const struct tsl_conform_run *run, const char *path)
{
    FILE *f = fopen(path, "w");
    char replay[4096];
    int i, group = -1;

    if (f == NULL) {
        fprintf(stderr, "tsl-conform: cannot write %s\n", path);
        return;
    }
    fputs("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
          "<title>tsl-conform report</title><style>"
          "body{font-family:sans-serif;margin:2em;max-width:70em}"
          "table{border-collapse:collapse;width:100%}"
          "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;"
          "text-align:left}"
          "pre{margin:0;white-space:pre-wrap;font-size:90%}"
          "tr.group th{background:#f4f4f4}"
          ".pass{background:#dfd}.fail{background:#fdd}"
          ".skip{background:#ffd}.na{background:#eee;color:#666}"
          ".alert{color:#a00}</style></head><body>"
          "<h1>tsl-conform report</h1><p>Server: <code>",
          f);
    xml_escape(f, run->server_cmd);
    fprintf(f, "</code><br>tsl-conform %s, started %s, %.1f s, seed %llu"
               "</p><p><b>%d of %d points</b>: %d passed, %d failed, "
               "%d skipped (declared: they count and earn nothing), %d n/a "
               "(do not apply, not counted)</p>",
            TSL_CONFORM_VERSION, run->started, run->secs,
            (unsigned long long)run->seed, run->points, run->max, run->npass,
            run->nfail, run->nskip, run->nna);
    fputs("<table><tr><th>case</th><th>title</th><th>result</th>"
          "<th>points</th><th>seconds</th><th>reason</th></tr>",
          f);
    for (i = 0; i < run->nresults; i++) {
        const struct tsl_conform_result *r = &run->results[i];
        if (r->group != group) {
            group = r->group;
            fprintf(f, "<tr class=\"group\"><th colspan=\"6\">group %d: ",
                    group);
            xml_escape(f, group_title(group));
            fputs("</th></tr>", f);
        }
        fprintf(f, "<tr class=\"%s\"><td>%s</td><td>", css_class(r->v),
                r->c->id);
        xml_escape(f, r->c->title);
        fprintf(f, "</td><td>%s</td><td>", tsl_conform_verdict_name(r->v));
        if (r->v == TSL_CONFORM_NA)
            fputs("-", f);
        else
            fprintf(f, "%d / %d", earned(r), worth(r));
        fprintf(f, "</td><td>%.2f</td><td><pre>", r->secs);
        xml_escape(f, r->why);
        fputs("</pre>", f);
        if (r->v == TSL_CONFORM_FAIL) {
            tsl_conform_replay(run, r->c->id, replay, sizeof(replay));
            fputs("<details><summary>replay this case</summary><pre>", f);
            xml_escape(f, replay);
            fputs("</pre></details>", f);
        }
        if (r->tail[0] != '\0') {
            fputs("<details><summary>the server's output during the case"
                  "</summary><pre>",
                  f);
            xml_escape(f, r->tail);
            fputs("</pre></details>", f);
        }
        fputs("</td></tr>", f);
    }
    fputs("</table>", f);
    if (run->nnotes > 0) {
        fputs("<h2>The servers outside the cases</h2><p>Not graded: a stop "
              "is graded by case 7.1 alone; a crash or hang during a case "
              "is graded in that case, and the server is restarted for the "
              "next one.</p><ul>",
              f);
        for (i = 0; i < run->nnotes; i++) {
            fprintf(f, "<li%s>group %d: ",
                    run->notes[i].alert ? " class=\"alert\"" : "",
                    run->notes[i].group);
            xml_escape(f, run->notes[i].text);
            if (run->notes[i].tail[0] != '\0') {
                fputs("<details><summary>output</summary><pre>", f);
                xml_escape(f, run->notes[i].tail);
                fputs("</pre></details>", f);
            }
            fputs("</li>", f);
        }
        fputs("</ul>", f);
    }
    fputs("</body></html>\n", f);
    fclose(f);
}

void
tsl_conform_write_tsv(const struct tsl_conform_run *run, const char *path)
{
    FILE *f = fopen(path, "w");
    int i;

    if (f == NULL) {
        fprintf(stderr, "tsl-conform: cannot write %s\n", path);
        return;
    }
    for (i = 0; i < run->nresults; i++)
        fprintf(f, "%s\t%s\t%d\t%d\n", run->results[i].c->id,
                json_verdict(run->results[i].v), earned(&run->results[i]),
                worth(&run->results[i]));
    fclose(f);
}

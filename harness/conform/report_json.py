#!/usr/bin/env python3
"""report_json.py TSL-CONFORM BROKEN-ECHO SELECT-ECHO: the JSON report of
a run with failures, read back as JSON and checked field by field against
the run: the server command as given (a `"`, a `\\` and a `'` in it, and
given back by each replay command as sh reads it), one entry per case
with its result and points, the totals, and the hex dump of a
differing echo with the first differing byte marked, and only that one.
Then the notes on a server outside the cases (the select() fixture ends
by SIGTERM's default action): the same in the JSON and the HTML reports.
And the JUnit report of both runs: one testcase per case, a failure for
each failed one, a skipped for each n/a or skipped one, nothing else for
a pass, and the totals as the JSON says."""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

conform, broken, select_echo = sys.argv[1:4]
fails = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        fails.append(what)


def check_junit(path, rep):
    """The JUnit report at path against the JSON report rep of that run."""
    try:
        suite = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        check(False, "the JUnit report is XML: %s" % e)
        return
    cases = rep.get("cases", [])
    tcs = suite.findall("testcase")
    check(suite.get("tests") == str(len(cases)) and len(tcs) == len(cases),
          "JUnit: %s tests, %d testcases, for %d cases"
          % (suite.get("tests"), len(tcs), len(cases)))
    check(suite.get("failures") == str(rep.get("failed")),
          "JUnit: failures=%s, as the JSON's %s"
          % (suite.get("failures"), rep.get("failed")))
    nskip = sum(c["result"] in ("skip", "na") for c in cases)
    check(suite.get("skipped") == str(nskip),
          "JUnit: skipped=%s for %d n/a or skipped" % (suite.get("skipped"),
                                                      nskip))
    for c, tc in zip(cases, tcs):
        name = tc.get("name", "")
        fl, sk = tc.find("failure"), tc.find("skipped")
        check(name.startswith(c["id"] + " "),
              "JUnit: testcase %r is case %s" % (name, c["id"]))
        if c["result"] == "fail":
            check(fl is not None and sk is None,
                  "JUnit: %s failed: a failure, no skipped" % c["id"])
            # The command that runs the case again, as the JSON has it.
            check(fl is not None and c.get("replay") and
                  ("\nreplay: " + c["replay"]) in (fl.text or ""),
                  "JUnit: %s's failure ends with its replay line" % c["id"])
        elif c["result"] in ("skip", "na"):
            want = "n/a: " if c["result"] == "na" else "skip (0 points): "
            check(fl is None and sk is not None and
                  sk.get("message", "").startswith(want),
                  "JUnit: %s %s: a skipped saying %r"
                  % (c["id"], c["result"], want))
        else:
            check(fl is None and sk is None,
                  "JUnit: %s passed: neither failure nor skipped" % c["id"])


with tempfile.TemporaryDirectory() as d:
    out = os.path.join(d, "r.json")
    junit = os.path.join(d, "r.xml")
    # The shell that starts the server reads what follows `#` as a comment.
    server = '%s oneread {port} 500 # a "quoted" \\ isn\'t a name' % broken
    r = subprocess.run([conform, "--server", server, "--cases", "1.*",
                        "--expect-fail", "1.2.1,1.2.2", "--json", out,
                        "--junit", junit],
                       capture_output=True, text=True, timeout=120)
    print(r.stdout, end="")
    check(r.returncode == 0, "tsl-conform exit status 0 (was %d)" % r.returncode)
    try:
        rep = json.load(open(out))
    except (OSError, ValueError) as e:
        print("FAIL: the report is not JSON: %s" % e)
        sys.exit(1)
    check_junit(junit, rep)

check(rep.get("tool") == "tsl-conform", "tool is tsl-conform")
check(rep.get("server") == server, "server is the command as given: %r"
      % rep.get("server"))
cases = rep.get("cases", [])
ids = [c.get("id") for c in cases]
check(ids[:4] == ["1.1", "1.2.1", "1.2.2", "1.3"],
      "the cases in order: %s" % ids)
text = {}  # id -> (result, points, max) as the text summary says
for ln in r.stdout.splitlines():
    m = re.match(r"^(\d+(?:\.\d+)+) +(pass|FAIL|skip|n/a) +(\d+)/(\d+) ", ln)
    if m:
        text[m.group(1)] = (m.group(2).lower(), int(m.group(3)), int(m.group(4)))
check(sorted(text) == sorted(ids), "the same cases as the text summary")
for c in cases:
    t = text.get(c["id"])
    check(t == (c["result"], c["points"], c["max"]),
          "%s: %s %d/%d as the summary says %s"
          % (c["id"], c["result"], c["points"], c["max"], t))
for key, res in (("passed", "pass"), ("failed", "fail")):
    check(rep.get(key) == sum(c["result"] == res for c in cases),
          "%s counts the %s cases" % (key, res))
check(rep.get("points") == sum(c["points"] for c in cases) and
      rep.get("max_points") == sum(c["max"] for c in cases),
      "points and max_points are the cases' sums")
for c in cases:
    check(c["result"] != "fail" or c["reason"] != "",
          "%s: a failed case has a reason" % c["id"])
    check(("--cases '%s'" % c["id"]) in c["replay"],
          "%s: its replay command runs it alone" % c["id"])
    # Read as the shell reads it, the replay gives the server command back
    # exactly (its `'` quoted as '\'').
    words = shlex.split(c["replay"])
    check("--server" in words and
          words[words.index("--server") + 1:][:1] == [server],
          "%s: its replay command, split as sh does, has the server "
          "command as given" % c["id"])

# A differing echo: `differs from byte AT on`, then the expected and the
# received bytes from FROM, the first differing one in brackets.
dumps = 0
for c in cases:
    m = re.search(r"differs from byte (\d+) on.*\n  expected @(\d+):((?: [0-9a-f]{2})+)"
                  r"\n  got      @(\d+):((?: \[?[0-9a-f]{2}\]?)+)", c["reason"])
    if not m:
        continue
    dumps += 1
    at, frm = int(m.group(1)), int(m.group(2))
    want = m.group(3).split()
    got = m.group(5).split()
    marked = [i for i, b in enumerate(got) if b.startswith("[")]
    check(int(m.group(4)) == frm and frm <= at < frm + len(got),
          "%s: the dump starts at %d and holds byte %d" % (c["id"], frm, at))
    check(marked == [at - frm], "%s: byte %d alone is marked (marked: %s)"
          % (c["id"], at, [frm + i for i in marked]))
    plain = [b.strip("[]") for b in got]
    check(plain[:at - frm] == want[:at - frm] and
          plain[at - frm] != want[at - frm],
          "%s: the bytes before the mark agree, the marked one differs"
          % c["id"])
check(dumps > 0, "a failed echo's reason has a hex dump")

with tempfile.TemporaryDirectory() as d:
    js, html = os.path.join(d, "r.json"), os.path.join(d, "r.html")
    junit = os.path.join(d, "r.xml")
    # 5.1 is n/a: no keepalive declared.
    r = subprocess.run([conform, "--server", select_echo + " {port} 500",
                        "--cases", "[15].1", "--json", js, "--html", html,
                        "--junit", junit],
                       capture_output=True, text=True, timeout=120)
    print(r.stdout, end="")
    rep2 = json.load(open(js))
    notes = rep2.get("notes", [])
    check([c["result"] for c in rep2.get("cases", [])] == ["pass", "na"],
          "the second run: 1.1 passes, 5.1 is n/a")
    check_junit(junit, rep2)
    page = open(html).read()
check(len(notes) == 1 and "SIGTERM" in notes[0].get("text", ""),
      "one note, on the stop by SIGTERM: %s" % notes)
at = page.find("The servers outside the cases")
items = re.findall(r"<li[ >]", page[at:]) if at >= 0 else []
check(len(items) == len(notes),
      "the HTML report lists %d notes, as the JSON has %d"
      % (len(items), len(notes)))
sys.exit(1 if fails else 0)

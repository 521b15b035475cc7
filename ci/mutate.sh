#!/usr/bin/env bash
# ci/mutate.sh [--seed N] [--count K] [--gate PCT] [--files 'GLOB ...']
#              [--suite REGEX] [--timeout S] [--report FILE] [--list] [--head]
#              [--memcheck] [--ci] [--sites 'SITE ...']
# - the project's own mutation tester.  It copies the checkout (the files
#   git does not ignore, as they are in the work tree; with --head, the
#   last commit instead) to build/mutate/tree, builds it
#   once, then for each mutant of a seeded sample: changes one place in one
#   source file, rebuilds, runs the tests that file answers to (below),
#   stopping at the first failure, and puts the file back.  The checkout
#   itself is never touched.
#
# The tests a file answers to (SUITES below; --suite REGEX overrides them
# all).  core/src: the fast suite - unit tests and the core, output,
# keepalive, migration, client-mode and tsl-echo integration cases, on the
# select and then the epoll backend.  harness/: the CI entries that run
# that file's code, once - the fault plan parser and engine: their unit
# tests, the fault plan corpus, the features x faults matrix, the EINTR
# waits and the torture; the LD_PRELOAD shim: the shim and preload
# entries; the test client and tsl-load: the matrix, the preload checks and
# tsl-conform on tsl-echo (tsl-load: its own contract too); tsl-conform:
# the conform entries, the conform.proxy ones included (group 9's cases
# and the --proxy driver are in its files); tsl-sim: the
# sim entries; tsl-proxy: the proxy entries.  A harness mutant rebuilds
# every target (only what depends on the file is remade).
#
# Mutation operators, applied only inside function bodies (a body is what
# lies between a line `{` and a line `}` at column 0, the project's
# layout), never in comments or string literals:
#   rel      a relational operator flipped: < <=, > >=, == !=
#   logic    && and || swapped
#   negate   the condition of an if or while negated
#   const    an integer literal 0..64 made one larger (-N too: -1 -> 0)
#   return   `return true/false/0/-1;` swapped or changed
#   delete   a call statement deleted (a line that is only f(...);, not
#            an assertion)
#   lock     a pthread_mutex_lock(X) line and its next unlock of X deleted
#   signal   a pthread_cond_signal/broadcast or tsl__wakeup_signal deleted
# Each site is named FILE:LINE:OP:N (N: which match of OP on the line);
# the sample is a seeded choice among all sites, so files weigh in
# proportion to their size.  `--seed N --count K` reproduces a sample.
#
# Verdicts: killed (the first failing test is named), survived (its diff
# is printed), stillborn (does not compile: not counted), equivalent (the
# site is listed in ci/mutate.equivalent with a one-line reason: not
# counted; a line there reads `FILE:OP:N: the line's text -- reason`, so
# that it holds when other lines move, or `FILE@FUNCTION:OP:N: ...` for
# that line in one function only, when the same text means something
# else elsewhere in the file).  The score is killed / (killed +
# survived), and a kill counts only if the killing test passes three more
# times without the mutant.  With --gate PCT
# the exit status is 1 when the score is below PCT; 2 for usage errors.
# --memcheck: a core/src mutant that the fast suite does not kill is run
# against the fast suite's Valgrind memcheck twins as well (the CI's
# valgrind job, minutes a survivor), so that a mutant only memcheck can
# see (an uninitialised read, a leak) counts as killed, by the twin named.
# --ci: a mutant its own tests (and --memcheck's twins) leave alive is run
# against the rest of what .ci/run runs on that code, as the target counts
# kills ("by the default CI run, all jobs together"): every other entry of
# the default build but the Valgrind twins, the unit and integration
# labels on epoll, then the file's own tests (for core/src the fast suite)
# built with ASan+UBSan and with ThreadSanitizer (ci/sanitize.sh's
# builds and options, in build/mutate/asan and build/mutate/tsan).
# Minutes a survivor.
# --sites 'FILE:LINE:OP:N ...' takes those sites (as printed) instead of a
# drawn sample: a sample's survivors run again, with --ci say.
# --list prints the sites the sample would take (and which are listed as
# equivalent), and builds nothing.
#
# The summary gives killed/counted per file and per tree (core/src,
# harness).
#
# Defaults: --seed from the clock (printed), --count 20, --files
# 'core/src/*.c' and the harness's sources (not its tests, fixtures or
# broken servers), the suites above, --timeout 30 (per test: a mutant
# that hangs is killed by the timeout and counted as killed).  A whole
# suite run also has a wall-clock limit of 20 x --timeout, after which it
# and every process it started are killed (a mutant that forks without
# reaping, or hangs a test that has a TIMEOUT of its own); that counts as
# killed too, by "wall-clock limit".
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
seed=$(( $(date +%s) % 100000 ))
count=20
gate=
files='core/src/*.c harness/*.c harness/preload/*.c harness/tools/*.c harness/conform/*.c harness/sim/*.c'
suite=
timeout=30
report=
list=0
head=0
memcheck=0
ci=0
sites=
usage() {
  sed -n '2,3p' "$0" | sed 's/^# //' >&2
  exit 2
}
while (($#)); do
  case $1 in
    --seed) seed=${2:?}; shift 2 ;;
    --count) count=${2:?}; shift 2 ;;
    --gate) gate=${2:?}; shift 2 ;;
    --files) files=${2:?}; shift 2 ;;
    --suite) suite=${2:?}; shift 2 ;;
    --timeout) timeout=${2:?}; shift 2 ;;
    --report) report=${2:?}; shift 2 ;;
    --list) list=1; shift ;;
    --head) head=1; shift ;;
    --memcheck) memcheck=1; shift ;;
    --ci) ci=1; shift ;;
    --sites) sites=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "mutate: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ $seed =~ ^[0-9]+$ && $count =~ ^[0-9]+$ && $timeout =~ ^[0-9]+$ ]] ||
  { echo "mutate: --seed, --count and --timeout take numbers" >&2; exit 2; }
[[ -z $gate || $gate =~ ^[0-9]+$ ]] || { echo "mutate: --gate takes a percentage" >&2; exit 2; }
command -v python3 >/dev/null || { echo "mutate: python3 not found" >&2; exit 2; }

exec python3 - "$top" "$seed" "$count" "${gate:--1}" "$files" "$suite" \
  "$timeout" "$report" "$list" "$head" "$memcheck" "$ci" "$sites" <<'PY'
import fnmatch, glob, os, random, re, shutil, subprocess, sys, time

(top, seed, count, gate, files, suite, timeout, report, list_only, from_head,
 memcheck, ci_rest, only_sites) = sys.argv[1:]
memcheck = memcheck == "1"
ci_rest = ci_rest == "1"
seed, count, gate, timeout = int(seed), int(count), int(gate), int(timeout)
list_only = list_only == "1"
work = os.path.join(top, "build", "mutate")
tree = os.path.join(work, "tree")
bdir = os.path.join(work, "build")
out_lines = []


def say(s=""):
    print(s, flush=True)
    out_lines.append(s)


# ---- sites ------------------------------------------------------------------

def blank_code(line, in_comment):
    """The line with comments and string/char literals blanked (same
    length), and whether a block comment is still open at its end."""
    out, i, n = [], 0, len(line)
    while i < n:
        if in_comment:
            j = line.find("*/", i)
            if j < 0:
                out.append(" " * (n - i))
                return "".join(out), True
            out.append(" " * (j + 2 - i))
            i, in_comment = j + 2, False
        elif line.startswith("/*", i):
            in_comment = True
        elif line.startswith("//", i):
            out.append(" " * (n - i))
            break
        elif line[i] in "\"'":
            q, j = line[i], i + 1
            while j < n and line[j] != q:
                j += 2 if line[j] == "\\" else 1
            out.append(q + " " * (min(j, n) - i - 1) + (q if j < n else ""))
            i = j + 1
        else:
            out.append(line[i])
            i += 1
    return "".join(out), in_comment


REL = [(r"(?<![<>=!])<(?![<=])", "<="), (r"(?<![<>=!])>(?![>=])", ">="),
       (r"<=", "<"), (r">=", ">"), (r"==", "!="), (r"!=", "==")]
LOGIC = [(r"&&", "||"), (r"\|\|", "&&")]
RETURNS = {"return true;": "return false;", "return false;": "return true;",
           "return 0;": "return -1;", "return -1;": "return 0;"}
CALL_STMT = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_>.\-]*\s*\(.*\);\s*$")
DECL_LIKE = re.compile(r"^\s*(return|if|while|for|switch|case|goto|else|do)\b")
# An assertion states what holds: deleting it changes no run in which it
# holds, so it is no delete site (its condition's operators still are).
ASSERT_STMT = re.compile(r"^\s*(TSL_ASSERT|assert)\s*\(")
LOCK = re.compile(r"^\s*pthread_mutex_lock\((.+)\);\s*$")
SIGNAL = re.compile(r"^\s*(pthread_cond_(signal|broadcast)|tsl__wakeup_signal)\(.*\);\s*$")


def cond_closes(code):
    """Whether the if/while condition that opens on this (blanked) line
    closes on it too: one that goes on over more lines cannot be negated
    here, so it is no site (it would only be drawn and skipped)."""
    depth = 0
    for ch in code[code.index("("):]:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return True
    return False


def sites_of(path):
    rel = os.path.relpath(path, top)
    lines = open(path).read().split("\n")
    found, in_c, in_body = [], False, False
    code_lines = []
    for ln in lines:
        code, in_c = blank_code(ln, in_c)
        code_lines.append(code)
    for no, (ln, code) in enumerate(zip(lines, code_lines), 1):
        if ln.startswith("{"):
            in_body = True
            continue
        if ln.startswith("}"):
            in_body = False
            continue
        if not in_body or code.strip() == "" or code.lstrip().startswith("#"):
            continue
        if "->" in code:
            code = code.replace("->", "~~")  # keep -> out of > matches
        for pat, rep in REL:
            for k, m in enumerate(re.finditer(pat, code)):
                if "#include" in code:
                    continue
                found.append((rel, no, "rel", k, pat, rep))
        for pat, rep in LOGIC:
            for k, m in enumerate(re.finditer(pat, code)):
                found.append((rel, no, "logic", k, pat, rep))
        if re.match(r"^\s*(\}\s*else\s+)?(if|while)\s*\(", code) and cond_closes(code):
            found.append((rel, no, "negate", 0, None, None))
        # (Not in `return 0;` and the like: the return operator makes
        # the same change there.)
        for k, m in enumerate(re.finditer(r"(?<![\w.\[])([0-9]|[1-5][0-9]|6[0-4])(?![\w.xX\]])", code)):
            if code.strip() not in RETURNS:
                found.append((rel, no, "const", k, None, None))
        if code.strip() in RETURNS:
            found.append((rel, no, "return", 0, None, None))
        if (CALL_STMT.match(code) and not DECL_LIKE.match(code) and "=" not in code
                and not ASSERT_STMT.match(code)):
            found.append((rel, no, "delete", 0, None, None))
        m = LOCK.match(code)
        if m:
            arg = m.group(1)
            for j in range(no, min(no + 40, len(lines))):
                if lines[j].startswith("}"):
                    break
                if re.match(r"^\s*pthread_mutex_unlock\(" + re.escape(arg) + r"\);\s*$", lines[j]):
                    found.append((rel, no, "lock", 0, j + 1, None))
                    break
        if SIGNAL.match(code):
            found.append((rel, no, "signal", 0, None, None))
    return found


def apply(site, text):
    """The mutated text and a one-line description, or None."""
    rel, no, op, k, a, b = site
    lines = text.split("\n")
    ln = lines[no - 1]
    code, _ = blank_code(ln, False)
    code = code.replace("->", "~~")
    if op in ("rel", "logic"):
        ms = list(re.finditer(a, code))
        if k >= len(ms):
            return None
        m = ms[k]
        new = ln[:m.start()] + b + ln[m.end():]
    elif op == "negate":
        m = re.match(r"^(\s*(?:\}\s*else\s+)?(?:if|while)\s*)\(", ln)
        depth, j = 0, m.end(1)
        for j in range(m.end(1), len(ln)):
            depth += {"(": 1, ")": -1}.get(ln[j], 0) if code[j] in "()" else 0
            if depth == 0:
                break
        if depth != 0:
            return None  # the condition goes on over more lines
        new = ln[:m.end(1)] + "(!" + ln[m.end(1):j + 1] + ")" + ln[j + 1:]
    elif op == "const":
        ms = list(re.finditer(r"(?<![\w.\[])([0-9]|[1-5][0-9]|6[0-4])(?![\w.xX\]])", code))
        if k >= len(ms):
            return None
        m = ms[k]
        start, val = m.start(), int(m.group(1))
        j = start - 1
        if j >= 0 and code[j] == "-":
            # A negative literal: -N is one larger as -(N-1) (-1 -> 0),
            # not -(N+1), which tests of the sign alone cannot tell apart.
            i = j - 1
            while i >= 0 and code[i] == " ":
                i -= 1
            if i < 0 or not (code[i].isalnum() or code[i] in "_)]"):
                start, val = j, -val
        new = ln[:start] + str(val + 1) + ln[m.end():]
    elif op == "return":
        s = code.replace("~~", "->").strip()  # the statement, comment blanked
        if s not in RETURNS:
            return None
        new = ln.replace(s, RETURNS[s], 1)
    elif op in ("delete", "signal"):
        new = re.sub(r"\S.*$", ";", ln)
    elif op == "lock":
        lines[a - 1] = re.sub(r"\S.*$", ";", lines[a - 1])
        new = re.sub(r"\S.*$", ";", ln)
    else:
        return None
    if new == ln:
        return None
    lines[no - 1] = new
    desc = "%s:%d: %s  ->  %s" % (rel, no, ln.strip(), new.strip())
    if op == "lock":
        desc += "  (and line %d's unlock)" % a
    return "\n".join(lines), desc


def site_id(s):
    return "%s:%d:%s:%d" % (s[0], s[1], s[2], s[3])


paths = sorted(p for g in files.split() for p in glob.glob(os.path.join(top, g)))
if not paths:
    print("mutate: no file matches %r" % files, file=sys.stderr)
    sys.exit(2)
every = [s for p in paths for s in sites_of(p)]
equiv = {}
eq_path = os.path.join(top, "ci", "mutate.equivalent")
if os.path.exists(eq_path):
    for no, ln in enumerate(open(eq_path), 1):
        ln = ln.strip()
        if not ln or ln.startswith("#"):
            continue
        m = re.match(r"^([^\s:@]+)(?:@(\w+))?:(\w+):(\d+): (.*?) -- (.+)$", ln)
        if not m:
            print("mutate: ci/mutate.equivalent:%d: not FILE[@FUNCTION]:OP:N: TEXT -- REASON"
                  % no, file=sys.stderr)
            sys.exit(2)
        equiv[(m.group(1), m.group(2), m.group(3), int(m.group(4)),
               m.group(5).strip())] = m.group(6)


def function_of(lines, no):
    """The function whose body holds line `no`: the name at column 0 on
    the nearest line above that starts a definition (the project's layout
    puts the return type on its own line)."""
    for j in range(no - 1, -1, -1):
        m = re.match(r"^([A-Za-z_]\w*)\(", lines[j])
        if m:
            return m.group(1)
        if lines[j].startswith("}"):
            break
    return None


def equiv_reason(s):
    """The reason the site is listed as equivalent, or None.  An entry
    FILE:OP:N: TEXT covers the line wherever it is in FILE; an entry
    FILE@FUNCTION:OP:N: TEXT only inside that function."""
    lines = open(os.path.join(top, s[0])).read().split("\n")
    text = lines[s[1] - 1].strip()
    for fn in (None, function_of(lines, s[1])):
        r = equiv.get((s[0], fn, s[2], s[3], text))
        if r is not None:
            return r
    return None
rng = random.Random(seed)
sample = rng.sample(every, min(count, len(every)))
if only_sites:
    by_id = {site_id(s): s for s in every}
    bad = [w for w in only_sites.split() if w not in by_id]
    if bad:
        print("mutate: no such site: %s (the ids --list prints)" % " ".join(bad),
              file=sys.stderr)
        sys.exit(2)
    sample = [by_id[w] for w in only_sites.split()]
# The core's mutants first: they rebuild the fast suite's targets only, and
# the first harness mutant then rebuilds everything once.  The order within
# each tree is the sample's.
sample.sort(key=lambda s: s[0].startswith("harness/"))

# (glob, ctest regex, name, also on epoll); the first match wins.
FAST = r"^(unit\.|integration\.(core|output|keepalive|migrate|connect|echo)\.)"
SUITES = [
    ("core/src/*", FAST, "fast", True),
    ("harness/tsl_fault_plan.c",
     r"^(unit\.fault_plan|unit\.fault_engine|fuzz\.fault_plan\.)", "fault plan", False),
    ("harness/tsl_fault*.c",
     r"^(unit\.fault_|integration\.(matrix|torture|shim\.eintr_wait)\.)", "fault engine", False),
    ("harness/preload/*", r"^integration\.(shim|preload)\.", "shim", False),
    ("harness/tsl_peer.c", r"^(integration\.(matrix|preload)\.|conform\.tsl_echo\.)", "peer", False),
    ("harness/tools/tsl_load.c", r"^(integration\.(preload|load)\.|conform\.tsl_echo\.)", "tsl-load", False),
    ("harness/tools/tsl_proxy.c", r"^(integration\.proxy\.|conform\.proxy\.)", "proxy", False),
    ("harness/conform/*",
     r"^conform\.(broken|tsl_echo|class|fixture|vectors|options|proxy)", "conform", False),
    ("harness/sim/*", r"^sim\.", "sim", False),
]


def suite_of(path):
    if suite:
        return suite, "--suite", not path.startswith("harness/")
    for g, regex, label, both in SUITES:
        if fnmatch.fnmatch(path, g):
            return regex, label, both
    return FAST, "fast", True
if only_sites:
    say("mutate: %d chosen sites of %d in %d files (replay: ci/mutate.sh --sites '%s')"
        % (len(sample), len(every), len(paths), only_sites))
else:
    say("mutate: seed %d, %d of %d sites in %d files (replay: ci/mutate.sh --seed %d --count %d --files '%s')"
        % (seed, len(sample), len(every), len(paths), seed, count, files))
if list_only:
    for s in sample:
        say("  " + site_id(s) + ("  (equivalent)" if equiv_reason(s) is not None else ""))
    sys.exit(0)

# ---- the copy and its build --------------------------------------------------

os.makedirs(work, exist_ok=True)
if from_head == "1":
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(tree)
    arch = subprocess.run(["git", "archive", "HEAD"], cwd=top, check=True,
                          capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", tree], input=arch, check=True)
else:
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                           cwd=top, check=True, capture_output=True).stdout
    for f in names.split(b"\0"):
        if not f:
            continue
        f = f.decode()
        src, dst = os.path.join(top, f), os.path.join(tree, f)
        if not os.path.isfile(src):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst) or open(src, "rb").read() != open(dst, "rb").read():
            shutil.copy(src, dst)  # a fresh mtime: make must see the change
CORE_TARGETS = []  # the fast suite's executables, read from the build below


def build(path=None):
    """Builds what the tests of `path` need (None: everything the sample needs)."""
    tg = ["--target"] + CORE_TARGETS if path is not None and suite_of(path)[2] else []
    if path is None and not any(s[0].startswith("harness/") for s in sample):
        tg = ["--target"] + CORE_TARGETS
    r = subprocess.run(["cmake", "--build", bdir, "-j2"] + tg,
                       capture_output=True, text=True)
    return r.returncode == 0, r.stdout + r.stderr


# With --memcheck the memcheck twins are registered (the fast runs leave
# them out either way); configured again if that changed.
want_vg = "-DTSL_VALGRIND=%s" % ("ON" if memcheck else "OFF")
cache = os.path.join(bdir, "CMakeCache.txt")
if (not os.path.exists(cache) or
        ("TSL_VALGRIND:BOOL=%s" % want_vg.split("=")[1]) not in open(cache).read()):
    subprocess.run(["cmake", "-S", tree, "-B", bdir, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                    "-DTSL_WERROR=OFF", want_vg], check=True, capture_output=True)
else:  # the copy's CMakeLists may have new tests: regenerate the lists
    subprocess.run(["cmake", bdir], check=True, capture_output=True)
# The targets a core/src mutant rebuilds: every executable the fast suite
# runs (a test left out would run stale, unmutated code), and tsl-echo,
# which the echo cases start.  Read from the generated CTestTestfile.cmake
# files, which name each test's program before it is built (ctest -N
# prints no command for a program not built yet).
found = set()
for d, _, fs in os.walk(bdir):
    if "CTestTestfile.cmake" in fs:
        for name, prog in re.findall(r'add_test\(\[=\[([^\]]+)\]=\] "([^"]+)"',
                                     open(os.path.join(d, "CTestTestfile.cmake")).read()):
            if re.search(FAST, name) and "memcheck" not in name:
                found.add(os.path.basename(prog))
CORE_TARGETS = sorted(found | {"tsl-echo"})
if len(CORE_TARGETS) < 2:
    print("mutate: the build lists no fast suite", file=sys.stderr)
    sys.exit(2)
ok, log = build()
if not ok:
    print(log[-3000:])
    print("mutate: the unmutated tree does not build", file=sys.stderr)
    sys.exit(2)


WALL = 20 * timeout  # a whole suite run; ctest's --timeout is per test
WALL_KILL = "wall-clock limit"


def ctest(args, env=None):
    """ctest in a process group of its own, ended with everything it started
    when it is over or after WALL seconds: a mutant that forks without
    reaping or hangs a test with a TIMEOUT of its own cannot outlive its
    run.  Past the limit the result has returncode None."""
    p = subprocess.Popen(["ctest"] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=env,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=WALL)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        out, rc = "", None
    try:
        os.killpg(p.pid, 9)
    except ProcessLookupError:
        pass
    if rc is None:
        p.communicate()
    return rc, out


def first_failed(rc, out, what=None):
    """None if a ctest run passed (or found no tests), else the first
    failing test, with " (what)" after it when a job is named."""
    tail = " (%s)" % what if what else ""
    if rc is None:
        return WALL_KILL + tail
    if rc != 0 and "No tests were found" not in out:
        m = re.search(r"\d+ - (\S+) \(", out)
        return (m.group(1) if m else "ctest exit %d" % rc) + tail
    return None


def run_memcheck(path):
    """None if the memcheck twins of the fast suite pass (or do not apply to
    `path`), else the first failing one."""
    if not memcheck or not path.startswith("core/src/") or suite:
        return None
    rc, out = ctest(["--test-dir", bdir, "-R", FAST, "-L", "valgrind", "-j2",
                     "--stop-on-failure", "--timeout", str(10 * timeout)])
    if rc is None:
        return WALL_KILL + " (memcheck)"
    return first_failed(rc, out)  # a twin's name says memcheck


# The sanitizer jobs of ci/sanitize.sh, as --ci runs them: (job, build
# directory, TSL_SANITIZE, environment).  ASan's LeakSanitizer reads the
# tree's own suppressions, as the CI's does.
SAN_JOBS = [
    ("asan", os.path.join(work, "asan"), "address,undefined",
     {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0",
      "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
      "LSAN_OPTIONS": "suppressions=%s/ci/lsan.supp:print_suppressions=0" % tree}),
    ("tsan", os.path.join(work, "tsan"), "thread",
     {"TSAN_OPTIONS": "halt_on_error=1:second_deadlock_stack=1"}),
]
SAN_BY_JOB = {j[0]: j for j in SAN_JOBS}


def san_build(job, core):
    """Builds a sanitizer job's tree (for a core/src mutant, the fast
    suite's targets only).  False if it does not build."""
    _, d, san, _ = SAN_BY_JOB[job]
    if not os.path.exists(os.path.join(d, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", tree, "-B", d, "-DCMAKE_BUILD_TYPE=Debug",
                        "-DCMAKE_C_COMPILER=clang", "-DTSL_WERROR=OFF",
                        "-DTSL_VALGRIND=OFF", "-DTSL_SANITIZE=" + san],
                       check=True, capture_output=True)
    tg = ["--target"] + CORE_TARGETS if core else []
    r = subprocess.run(["cmake", "--build", d, "-j2"] + tg, capture_output=True, text=True)
    return r.returncode == 0


def run_rest(path):
    """With --ci: None if the rest of the CI's jobs pass on the mutant,
    else the first failing test with its job: the default build's other
    entries, the unit and integration labels on epoll, then the file's own
    tests (for core/src the fast suite) built with ASan+UBSan and with
    TSan, as ci/sanitize.sh runs them."""
    if not ci_rest:
        return None
    regex, label, both = suite_of(path)
    core = path.startswith("core/src/")
    if both:  # only the fast targets were built: build the rest now
        ok, _ = build()
        if not ok:
            return None
    runs = [({}, ["-E", "memcheck|" + regex, "-LE", "valgrind"], "default"),
            ({"TSL_BACKEND": "epoll"},
             ["-L", "unit|integration", "-E", "memcheck|" + (regex if both else "^$")],
             "epoll")]
    for env, sel, what in runs:
        rc, out = ctest(["--test-dir", bdir] + sel + ["-j2", "--stop-on-failure",
                        "--timeout", str(3 * timeout)], env=dict(os.environ, **env))
        by = first_failed(rc, out, what)
        if by is not None:
            return by
    for job, d, _, env in SAN_JOBS:
        if not san_build(job, core):
            return None
        rc, out = ctest(["--test-dir", d, "-R", FAST if core else regex, "-j2",
                         "--stop-on-failure", "--timeout", str(5 * timeout)],
                        env=dict(os.environ, **env))
        by = first_failed(rc, out, job)
        if by is not None:
            return by
    return None


def run_suite(path):
    """None if the tests of `path` pass, else the first failing test."""
    regex, label, both = suite_of(path)
    for env in ({}, {"TSL_BACKEND": "epoll"}) if both else ({},):
        e = dict(os.environ, **env)
        rc, out = ctest(["--test-dir", bdir, "-R", regex, "-E", "memcheck", "-j2",
                         "--stop-on-failure", "--timeout", str(timeout)], env=e)
        by = first_failed(rc, out, "epoll" if env else None)
        if by is not None:
            return by
    return None


for label, path in sorted({suite_of(s[0])[1]: s[0] for s in sample}.items()):
    first = run_suite(path)
    if first is not None and run_suite(path) is not None:
        print("mutate: the %s tests fail without any mutant (%s, twice): fix that first"
              % (label, first), file=sys.stderr)
        sys.exit(2)
    if first is not None:
        say("mutate: %s failed once without any mutant, then passed (a flaky test)" % first)

# ---- the mutants ----------------------------------------------------------------

killed = survived = stillborn = equivalent = 0
per_file = {}
kills = []  # (file, killing test)
t0 = time.time()
for i, s in enumerate(sample, 1):
    sid = site_id(s)
    path = os.path.join(tree, s[0])
    orig = open(path).read()
    got = apply(s, orig)
    tag = "[%d/%d] %s" % (i, len(sample), sid)
    if got is None:
        stillborn += 1
        say("%s  stillborn (no change at this site)" % tag)
        continue
    text, desc = got
    why = equiv_reason(s)
    if why is not None:
        equivalent += 1
        say("%s  equivalent: %s" % (tag, why))
        continue
    open(path, "w").write(text)
    try:
        ok, log = build(s[0])
        if not ok:
            stillborn += 1
            say("%s  stillborn (does not compile)" % tag)
            continue
        by = run_suite(s[0])
        if by is None:
            by = run_memcheck(s[0])
        if by is None:
            by = run_rest(s[0])
    finally:
        open(path, "w").write(orig)
    f = per_file.setdefault(s[0], [0, 0])
    if by is not None:
        killed += 1
        f[0] += 1
        kills.append((s[0], by, tag, desc))
        say("%s  killed by %s" % (tag, by))
    else:
        survived += 1
        f[1] += 1
        say("%s  SURVIVED\n      %s" % (tag, desc))
ok, _ = build()  # leave the copy's build unmutated
for job, d, _, _ in SAN_JOBS if ci_rest else ():
    if os.path.exists(os.path.join(d, "CMakeCache.txt")):
        san_build(job, all(s[0].startswith("core/src/") for s in sample))

# A kill counts only if the test that made it passes without the mutant:
# each killing test runs three more times on the unmutated build.
flaky = set()
for name in sorted({k[1] for k in kills}):
    if name.startswith(WALL_KILL):
        continue  # the whole suite ran past its limit: no one test to rerun
    m = re.match(r"^(.*?)(?: \((epoll|default|asan|tsan)\))?$", name)
    base, job = m.group(1), m.group(2)
    e = dict(os.environ, **({"TSL_BACKEND": "epoll"} if job == "epoll" else
                            SAN_BY_JOB[job][3] if job in SAN_BY_JOB else {}))
    r = subprocess.run(["ctest", "--test-dir", SAN_BY_JOB[job][1] if job in SAN_BY_JOB else bdir,
                        "-R", "^" + re.escape(base) + "$",
                        "--repeat", "until-fail:3", "--timeout",
                        str(10 * timeout if base.endswith(".memcheck") else
                            5 * timeout if job in ("default", "asan", "tsan") else timeout)],
                       capture_output=True, text=True, env=e)
    if r.returncode != 0 or "No tests were found" in r.stdout + r.stderr:
        flaky.add(name)
for f, by, tag, desc in kills:
    if by in flaky:
        killed -= 1
        survived += 1
        per_file[f][0] -= 1
        per_file[f][1] += 1
        say("%s  NOT KILLED after all: %s fails without the mutant too\n      %s"
            % (tag, by, desc))
if flaky:
    say("mutate: tests that failed on the unmutated build: %s" % ", ".join(sorted(flaky)))
counted = killed + survived
score = 100.0 * killed / counted if counted else 100.0
say()
say("per file (killed/counted):")
trees = {}
for f in sorted(per_file):
    k, sv = per_file[f]
    t = trees.setdefault("core/src" if f.startswith("core/src/") else f.split("/")[0], [0, 0])
    t[0] += k
    t[1] += sv
    say("  %-38s %d/%d" % (f, k, k + sv))
for t in sorted(trees):
    k, sv = trees[t]
    say("  %-38s %d/%d (%.0f %%)" % (t + "/ in all", k, k + sv, 100.0 * k / (k + sv) if k + sv else 100))
say("mutate: seed %d: %d killed, %d survived, %d equivalent, %d stillborn: %.1f %% killed (%.0f s)"
    % (seed, killed, survived, equivalent, stillborn, score, time.time() - t0))
if report:
    open(report, "w").write("\n".join(out_lines) + "\n")
if gate >= 0 and score < gate:
    say("mutate: below the gate of %d %%" % gate)
    sys.exit(1)
PY

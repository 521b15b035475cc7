#!/usr/bin/env bash
# ci/cycles.sh [--print] [BUILD_DIR] - fails when core/src gains a call
# cycle or an include cycle between files that ci/cycles.allowed does not
# already list.  BUILD_DIR defaults to build/default and must hold a built
# tsl_obj target (ci/test.sh runs this right after its build).
#
# The layering the core moves to (issue 14) has calls go one way, down the
# layers; what a lower layer reports upward goes through a function pointer
# the controller installed.  Two files that call each other, directly or
# round a longer loop, cannot be read, tested or replaced one without the
# other.  This script keeps what exists from growing while it is removed.
#
# Two graphs, nodes are files of core/src:
# - calls: an edge A.c -> B.c when A's object in
#   BUILD_DIR/core/CMakeFiles/tsl_obj.dir/src/ uses (nm: U) a global symbol
#   that B's object defines (T, D, B, R, W, ...).  Calls through function
#   pointers do not show, which is the point: they are the way up.  The
#   objects are the ones tsl_obj lists in its DependInfo.cmake (the CLI,
#   core/cli/, is a library of its own over tsl.h only).
# - includes: an edge A -> B for each `#include "B"` in core/src/*.c and
#   *.h that names a file of core/src.
# A strongly connected component of more than one file is a cycle.  Each
# one found must be a subset of one line of ci/cycles.allowed: a cycle that
# loses files, or splits into smaller ones, still passes; a file that joins
# a cycle, or a cycle among files that were in none, fails.  A failure
# prints the component's files, a shortest loop through each file new to
# it, and every edge inside it with one symbol (or include) that makes it.
# When an allowed line no longer matches a component exactly, the script
# says which lines to write instead, and passes: the baseline only shrinks.
# `--print` writes the lines for today's components and exits 0.
#
# Exit status: 0 no new cycle, 1 new cycle (report on stdout), 2 usage or
# missing build (build first).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
usage() { echo "usage: ci/cycles.sh [--print] [BUILD_DIR]   (default BUILD_DIR: build/default)" >&2; exit 2; }
print=0
args=()
for a in "$@"; do
  case $a in
    --print) print=1 ;;
    -h|--help) usage ;;
    -*) echo "cycles: unknown option $a" >&2; usage ;;
    *) args+=("$a") ;;
  esac
done
((${#args[@]} <= 1)) || usage
build=${args[0]:-$top/build/default}
objdir=$build/core/CMakeFiles/tsl_obj.dir
if [[ ! -d $objdir ]]; then
  echo "cycles: $objdir not found: build first (cmake --preset default && cmake --build --preset default)" >&2
  exit 2
fi
command -v nm >/dev/null || { echo "cycles: nm not found (binutils)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "cycles: python3 not found" >&2; exit 2; }

exec python3 - "$top" "$build" "$objdir" "$print" <<'PY'
import collections, glob, os, re, subprocess, sys

top, build, objdir, print_only = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
src = os.path.join(top, "core", "src")
allowed_path = os.path.join(top, "ci", "cycles.allowed")
rel_allowed = "ci/cycles.allowed"


def die(msg):
    print("cycles: " + msg, file=sys.stderr)
    sys.exit(2)


# ---- the objects of tsl_obj -------------------------------------------------
def objects():
    """(file name, object path) for each source of tsl_obj."""
    out = []
    dep = os.path.join(objdir, "DependInfo.cmake")
    if os.path.exists(dep):
        # "/abs/core/src/x.c" "core/CMakeFiles/tsl_obj.dir/src/x.c.o" "gcc" ...
        for m in re.finditer(r'^\s*"([^"]+\.c)"\s+"([^"]+\.o)"', open(dep).read(), re.M):
            obj = m.group(2)
            if not os.path.isabs(obj):
                obj = os.path.join(build, obj)
            out.append((os.path.basename(m.group(1)), obj))
    if not out:
        # Generators that do not list sources there: every object whose
        # source still exists (a stale object of a removed file is skipped).
        for obj in sorted(glob.glob(os.path.join(objdir, "src", "*.c.o"))):
            name = os.path.basename(obj)[:-2]
            if os.path.exists(os.path.join(src, name)):
                out.append((name, obj))
    if not out:
        die("no objects under %s: build first (cmake --build --preset default)" % objdir)
    missing = [o for _, o in out if not os.path.exists(o)]
    if missing:
        die("%d object(s) missing, e.g. %s: build first (cmake --build --preset default)"
            % (len(missing), missing[0]))
    return sorted(out)


def call_graph():
    defs = collections.defaultdict(set)   # symbol -> files defining it
    uses = {}                             # file -> symbols it uses
    for name, obj in objects():
        r = subprocess.run(["nm", "-P", obj], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
        if r.returncode != 0:
            die("nm %s failed: %s" % (obj, r.stderr.strip()))
        u = set()
        for line in r.stdout.splitlines():
            f = line.split()
            if len(f) < 2:
                continue
            sym, t = f[0], f[1]
            if t in ("U", "w", "v"):
                u.add(sym)
            elif t.isupper() and t not in ("N",):
                defs[sym].add(name)
        uses[name] = u
    edges = collections.defaultdict(lambda: collections.defaultdict(list))
    for a, syms in uses.items():
        for s in syms:
            for b in defs.get(s, ()):
                if b != a:
                    edges[a][b].append(s)
    return set(uses), edges


# ---- the include graph ------------------------------------------------------
INC = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def include_graph():
    files = sorted(glob.glob(os.path.join(src, "*.c")) + glob.glob(os.path.join(src, "*.h")))
    if not files:
        die("no sources in %s" % src)
    nodes = set(os.path.basename(f) for f in files)
    edges = collections.defaultdict(lambda: collections.defaultdict(list))
    for f in files:
        a = os.path.basename(f)
        with open(f, errors="replace") as fh:
            for no, line in enumerate(fh, 1):
                m = INC.match(line)
                if not m:
                    continue
                target = os.path.normpath(os.path.join(src, m.group(1)))
                if os.path.dirname(target) != src or not os.path.exists(target):
                    continue   # tsl.h, system or generated headers
                b = os.path.basename(target)
                if b != a:
                    edges[a][b].append('#include "%s" (line %d)' % (m.group(1), no))
    return nodes, edges


# ---- strongly connected components (Tarjan) --------------------------------
def sccs(nodes, edges):
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(out, key=lambda c: sorted(c))


def shortest_loop(start, comp, edges):
    """A shortest path start -> ... -> start inside comp."""
    prev = {start: None}
    queue = collections.deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(edges.get(v, {})):
            if w not in comp:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return [start]


def example(edges, a, b):
    ex = sorted(edges[a][b])
    more = " (+%d more)" % (len(ex) - 1) if len(ex) > 1 else ""
    return ex[0] + more


# ---- the baseline -----------------------------------------------------------
KINDS = ("calls", "includes")


def read_allowed():
    allowed = {k: [] for k in KINDS}
    if not os.path.exists(allowed_path):
        return allowed
    with open(allowed_path) as fh:
        for no, line in enumerate(fh, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            if line[0] not in KINDS or len(line) < 3:
                die("%s:%d: expected 'calls|includes FILE FILE...'" % (rel_allowed, no))
            allowed[line[0]].append((no, frozenset(line[1:])))
    return allowed


def line_of(kind, comp):
    return kind + " " + " ".join(sorted(comp))


graphs = {"calls": call_graph(), "includes": include_graph()}
found = {k: sccs(*graphs[k]) for k in KINDS}

if print_only:
    for k in KINDS:
        for c in found[k]:
            print(line_of(k, c))
    sys.exit(0)

allowed = read_allowed()
new = 0
for kind in KINDS:
    nodes, edges = graphs[kind]
    comps = found[kind]
    for comp in comps:
        if any(comp <= a for _, a in allowed[kind]):
            continue
        new += 1
        best = max(allowed[kind], key=lambda la: len(comp & la[1]), default=None)
        base = best[1] if best and comp & best[1] else frozenset()
        fresh = sorted(comp - base)
        verb = "call" if kind == "calls" else "include"
        print("cycles: NEW %s cycle among %d files of core/src (not in %s):"
              % (verb, len(comp), rel_allowed))
        print("  files: " + " ".join(sorted(comp)))
        if base:
            print("  closest allowed cycle (%s line %d): %s" % (rel_allowed, best[0], " ".join(sorted(base))))
            print("  new in it: " + " ".join(fresh))
        for f in fresh if base else fresh[:1]:
            loop = shortest_loop(f, comp, edges)
            print("  a shortest loop through %s:" % f)
            for a, b in zip(loop, loop[1:]):
                print("    %s -> %s  %s" % (a, b, example(edges, a, b)))
        print("  every edge inside it (%s):" % ("caller -> callee: a symbol it uses"
                                                 if kind == "calls" else "includer -> included"))
        for a in sorted(comp):
            for b in sorted(edges.get(a, {})):
                if b in comp:
                    print("    %s -> %s  %s" % (a, b, example(edges, a, b)))
        print()

    for no, a in allowed[kind]:
        inside = [c for c in comps if c <= a]
        if inside == [a] or any(c & a and not c <= a for c in comps):
            continue   # unchanged, or grown into a new cycle reported above
        what = "shrunk or split" if inside else "gone"
        todo = "replace it with:" if inside else "delete it."
        print("cycles: allowed cycle %s line %d has %s; the baseline can shrink, %s"
              % (rel_allowed, no, what, todo))
        print("  was: " + line_of(kind, a))
        for c in inside:
            print("  now: " + line_of(kind, c))

summary = []
for kind in KINDS:
    nodes, edges = graphs[kind]
    n_edges = sum(len(v) for v in edges.values())
    sizes = "+".join(str(len(c)) for c in found[kind])
    summary.append("%s: %d files, %d edges, %s" % (
        kind, len(nodes), n_edges,
        "cycles of %s files" % sizes if sizes else "no cycle"))
print("cycles: " + "; ".join(summary))
if new:
    print("cycles: %d new cycle(s): a lower file must not call or include a higher "
          "one; report upward through a function pointer the controller installed "
          "(issue 14)" % new)
    sys.exit(1)
print("cycles: no new cycle (allowed: %s)" % rel_allowed)
PY

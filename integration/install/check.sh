#!/usr/bin/env bash
# install/check.sh BUILD_DIR - installs the build into a scratch prefix and
# builds a program outside the tree against it four ways: from CMake
# against tcpserverlib::tsl (static) and tcpserverlib::tsl_shared, and with
# pkg-config, shared (--libs) and static (--static --libs, the library
# linked with -Bstatic).  Each program runs with LD_LIBRARY_PATH unset: a
# shared one must need libtsl.so.0, carry a RUNPATH naming the prefix's
# library directory and load the library from there; a static one must not
# need libtsl.so at all.  The examples must build against the installed
# tree alone.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset LD_LIBRARY_PATH

fail() {
  echo "install check: $*" >&2
  exit 1
}

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/include/tsl.h" || fail "tsl.h not installed"
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -1)
libdir=$(cd "$libdir" && pwd -P)
test -f "$libdir/libtsl.a" || fail "libtsl.a not installed"
ls "$libdir"/libtsl.so.* >/dev/null || fail "libtsl.so.* not installed"
test -f "$libdir/cmake/tcpserverlib/tcpserverlibTargets.cmake" ||
  fail "CMake package not installed"

# run NAME BINARY: runs it and checks what it prints.
run() {
  local out
  out=$("$2") || fail "$1: exited with status $?"
  [[ $out == "consumer: served a client on port "* ]] ||
    fail "$1: unexpected output: $out"
}

# shared NAME BINARY: needs libtsl.so.0 and finds it through its RUNPATH.
shared() {
  local dyn runpath d ok=no
  dyn=$(readelf -d "$2")
  grep -q '(NEEDED).*\[libtsl\.so\.0\]' <<<"$dyn" ||
    fail "$1: does not need libtsl.so.0:"$'\n'"$dyn"
  runpath=$(sed -n 's/.*(RUNPATH).*\[\(.*\)\]$/\1/p' <<<"$dyn")
  [[ -n $runpath ]] || fail "$1: no RUNPATH:"$'\n'"$dyn"
  IFS=: read -ra dirs <<<"$runpath"
  for d in "${dirs[@]}"; do
    [[ -d $d && $(cd "$d" && pwd -P) == "$libdir" ]] && ok=yes
  done
  [[ $ok == yes ]] || fail "$1: RUNPATH $runpath does not name $libdir"
  d=$(ldd "$2" | sed -n 's/^[[:space:]]*libtsl\.so\.0 => \(.*\) (0x.*$/\1/p')
  [[ -n $d && $(realpath "$d") == $(realpath "$libdir/libtsl.so.0") ]] ||
    fail "$1: libtsl.so.0 not loaded from the prefix:"$'\n'"$(ldd "$2")"
  run "$@"
  echo "install check: $1: NEEDED libtsl.so.0, RUNPATH $runpath, ran"
}

# static NAME BINARY: the library is inside; nothing of it is loaded.
static() {
  if readelf -d "$2" | grep -q '(NEEDED).*libtsl'; then
    fail "$1: needs libtsl.so though linked statically"
  fi
  run "$@"
  echo "install check: $1: no libtsl NEEDED, ran"
}

export PKG_CONFIG_PATH=$libdir/pkgconfig
pkg-config --static --libs tcpserverlib | grep -q -- '-pthread' ||
  fail "pkg-config --static does not name -pthread"
cflags=(-std=c11 -Wall -Wextra -Werror)
# shellcheck disable=SC2046 # pkg-config's output is a list of words.
cc "${cflags[@]}" "$here/consumer.c" -o "$tmp/pc-shared" \
  $(pkg-config --cflags --libs tcpserverlib)
shared pkg-config "$tmp/pc-shared"
# The static link: what --static lists, the library taken from libtsl.a.
# shellcheck disable=SC2046
cc "${cflags[@]}" "$here/consumer.c" -o "$tmp/pc-static" \
  $(pkg-config --cflags tcpserverlib) \
  -Wl,-Bstatic $(pkg-config --static --libs tcpserverlib) -Wl,-Bdynamic
static pkg-config-static "$tmp/pc-static"

# The examples need nothing but the installed header and library.
for ex in chat kv agent; do
  # shellcheck disable=SC2046
  cc "${cflags[@]}" "$here/../../examples/$ex.c" -o "$tmp/example-$ex" \
    $(pkg-config --cflags --libs tcpserverlib) ||
    fail "examples/$ex.c does not build against the installed tree"
done
echo "install check: examples/{chat,kv,agent}.c build against it"

cmake -S "$here" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
static cmake-tsl "$tmp/cm/consumer-static"
shared cmake-tsl_shared "$tmp/cm/consumer-shared"
echo "install check: ok"

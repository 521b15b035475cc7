#!/usr/bin/env bash
# install/check.sh BUILD_DIR - installs the build into a scratch prefix and
# builds and runs a program outside the tree against it, once with
# pkg-config (shared library) and once with find_package (static).
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/include/tsl.h"
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -1)
test -f "$libdir/libtsl.a"
ls "$libdir"/libtsl.so.* >/dev/null

export PKG_CONFIG_PATH=$libdir/pkgconfig
cc -std=c11 -D_POSIX_C_SOURCE=200809L "$here/consumer.c" -o "$tmp/pc" \
  $(pkg-config --cflags --libs tcpserverlib)
LD_LIBRARY_PATH=$libdir "$tmp/pc"

cmake -S "$here" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
"$tmp/cm/consumer"
echo "install check: ok"

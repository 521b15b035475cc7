#!/usr/bin/env bash
# ci/deps.sh - installs the Debian 12 packages the build and tests need,
# only if something is missing.  Uses sudo when not root.
set -euo pipefail
pkgs=(cmake make gcc clang libclang-rt-14-dev pkg-config libcmocka-dev
      gcovr valgrind libedit-dev nftables iproute2 util-linux libuv1-dev
      socat)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
sudo=""
[[ $(id -u) -eq 0 ]] || sudo=sudo
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null

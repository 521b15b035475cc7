#!/bin/sh
# with_ipv6.sh COMMAND...: runs COMMAND if this machine has an IPv6
# loopback (::1 on an interface), else exits 77, ctest's skip.
if ! grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 \
        2>/dev/null; then
    echo "with_ipv6.sh: no IPv6 loopback (::1): skipped"
    exit 77
fi
exec "$@"

#!/bin/sh
# address_options.sh TSL-CONFORM TSL-PROXY: bad values of --host and
# --unix, and the combinations refused, each exit 2 with a message that
# names the problem, before any server starts.
set -u
conform=$1 proxy=$2
fail=0
check() { # REGEX ARGS...: exit status 2 and a line matching REGEX
    want=$1
    shift
    out=$("$conform" --server 'false {port}' "$@" 2>&1)
    rc=$?
    if [ "$rc" -ne 2 ] || ! printf '%s\n' "$out" | grep -Eq -- "$want"; then
        echo "FAIL: tsl-conform $*: status $rc, wanted 2 and /$want/:"
        printf '%s\n' "$out" | sed 's/^/  | /'
        fail=1
    else
        echo "ok: tsl-conform $*: $(printf '%s' "$out" | head -n 1)"
    fi
}
check "--host 'not_a_host': not an IPv4 or IPv6 address or a host name" \
    --host not_a_host
check "--host '300\.1\.2\.3': not an IPv4" --host 300.1.2.3
check "--host '\[::zz\]': not an IPv6 address in brackets" --host '[::zz]'
check "--host 'no-such-host\.invalid': cannot resolve" \
    --host no-such-host.invalid
check "--host: an empty host" --host ''
check "--unix: an empty socket path" --unix ''
check "--unix: the path is longer" \
    --unix "/tmp/$(printf '%0120d' 0)"
check "--host and --unix together" --host ::1 --unix /tmp/x.sock
check "--proxy does not work with --unix" --unix /tmp/x.sock \
    --proxy "$proxy"
check "--unix with --class" --unix /tmp/x.sock --class /dev/null
exit $fail

#!/usr/bin/env bash
# The sandbox fleet comes up for real (sshd per host, HAProxy), takes
# strict key-only SSH logins, writes a plan that validates, coexists with a
# second fleet, and stops every process it started.
# usage: test_fleet.sh IVRCTL
set -uo pipefail
ivrctl=$1
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
fleet="$here/fleet"
a=$(mktemp -d /tmp/ivr-fleet-a.XXXXXX)
b=$(mktemp -d /tmp/ivr-fleet-b.XXXXXX)
failed=0
fail() { echo "FAIL: $*"; failed=1; }
cleanup() {
	"$fleet" down --dir "$a" --purge >/dev/null 2>&1
	"$fleet" down --dir "$b" --purge >/dev/null 2>&1
}
trap cleanup EXIT

"$fleet" up 3 --dir "$a" --net 127.0.21 >/dev/null || fail "fleet up (a)"
"$fleet" up 2 --dir "$b" --net 127.0.22 >/dev/null || fail "fleet up (b)"

"$ivrctl" validate "$a/plan.yaml" >/dev/null || fail "the fleet's plan does not validate"
"$top/scripts/validate-schema.py" "$top/schemas/plan.schema.json" "$a/plan.yaml" >/dev/null ||
	fail "the fleet's plan does not fit the schema"

ssh_to() { # dir address command...
	local d=$1 addr=$2
	shift 2
	ssh -i "$d/client_key" -o UserKnownHostsFile="$d/known_hosts" \
		-o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 \
		-p 2222 "root@$addr" "$@"
}
for i in 1 2 3 4; do
	home=$(ssh_to "$a" "127.0.21.$i" 'echo $HOME') || fail "no SSH login to 127.0.21.$i"
	case "$home" in "$a"/hosts/*/home) ;; *) fail "127.0.21.$i: HOME is '$home'" ;; esac
done
ssh_to "$b" 127.0.22.1 true || fail "no SSH login to the second fleet"
# Another fleet's client key is not authorized here.
if ssh -i "$b/client_key" -o UserKnownHostsFile="$a/known_hosts" \
	-o StrictHostKeyChecking=yes -o BatchMode=yes -p 2222 root@127.0.21.1 true 2>/dev/null; then
	fail "a foreign client key was let in"
fi

# HAProxy's runtime API answers on the balancer host's socket.
servers=$(/usr/bin/python3 - "$a/hosts/lb/root/haproxy/admin.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show servers state ivr\n")
out = b""
while chunk := s.recv(65536):
    out += chunk
print(sum(1 for l in out.decode().splitlines() if l.split()[1:2] == ["ivr"]))
PY
)
[ "$servers" = 3 ] || fail "HAProxy lists $servers servers in backend ivr, not 3"

pids=$("$fleet" ps --dir "$a" | cut -d' ' -f1)
[ "$(wc -w <<<"$pids")" -eq 5 ] || fail "fleet a runs $(wc -w <<<"$pids") processes, not 5"
"$fleet" down --dir "$a" >/dev/null
for pid in $pids; do
	if [ -e "/proc/$pid" ] && ! grep -q '^[^)]*) Z' "/proc/$pid/stat" 2>/dev/null; then
		fail "pid $pid still runs after fleet down"
	fi
done
ssh_to "$b" 127.0.22.2 true || fail "stopping fleet a stopped fleet b"

[ "$failed" -eq 0 ] && echo "fleet: 3 + 2 hosts up, strict key-only SSH, plan valid, HAProxy answers, all stopped by pid"
exit "$failed"

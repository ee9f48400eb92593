#!/usr/bin/env bash
# The sandbox fleet comes up for real (sshd per host, HAProxy or nginx),
# takes strict key-only SSH logins, writes a plan that validates, keeps a
# call on its server through either balancer, coexists with a second
# fleet, and stops every process it started.  Fleet a keeps the bank on
# PostgreSQL (the default), fleet b on SQLite (--db sqlite).
# usage: test_fleet.sh IVRCTL
set -uo pipefail
ivrctl=$1
runtime="$(dirname "$(dirname "$ivrctl")")/ivr-runtime/bin/ivr-runtime"
export IVR_RUNTIME_BIN=$runtime
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
fleet="$here/fleet"
a=$(mktemp -d /tmp/ivr-fleet-a.XXXXXX)
b=$(mktemp -d /tmp/ivr-fleet-b.XXXXXX)
failed=0
runtimes=()
fail() { echo "FAIL: $*"; failed=1; }
cleanup() {
	for p in "${runtimes[@]}"; do kill "$p" 2>/dev/null; done
	"$fleet" down --dir "$a" --purge >/dev/null 2>&1
	"$fleet" down --dir "$b" --purge >/dev/null 2>&1
}
trap cleanup EXIT

"$fleet" up 3 --dir "$a" --net 127.0.21 >/dev/null || fail "fleet up (a)"
"$fleet" up 2 --dir "$b" --net 127.0.22 --lb nginx --db sqlite >/dev/null || fail "fleet up (b, nginx)"
# Fleet a's bank: PostgreSQL, the runtime's role on every host, its
# password file readable by the host's owner only.
grep -q "backend: postgresql" "$a/hosts/ivr-02/root/shared/runtime.yaml" || fail "fleet a's runtimes are not on PostgreSQL"
[ "$(stat -c %a "$a/hosts/ivr-02/root/shared/db.pgpass")" = 600 ] || fail "a host's password file is not 0600"
grep -q "path: $b/bank.db" "$b/hosts/ivr-01/root/shared/runtime.yaml" || fail "fleet b's runtimes are not on SQLite"

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

# Through either balancer, every step of a call reaches the server that
# holds it (a step on another server would answer 404).
start_runtimes() { # dir count
	local i name
	for i in $(seq "$2"); do
		name=$(printf 'ivr-%02d' "$i")
		"$runtime" --config "$1/hosts/$name/root/shared/runtime.yaml" \
			--log-file "$1/hosts/$name/runtime.log" --drain-deadline 1s &
		runtimes+=("$!")
	done
}
sticky_calls() { # balancer-address
	local jar ok=0 n id code
	for n in $(seq 12); do
		jar=$(mktemp)
		id=$(fcurl -s -c "$jar" -b "$jar" -X POST "https://$1:8080/calls" -d '{}' |
			/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["call_id"])' 2>/dev/null)
		for keys in 12 9 ; do
			code=$(fcurl -s -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" \
				-X POST "https://$1:8080/calls/$id/input" -d "{\"event\":\"noinput\"}")
			[ "$code" = 200 ] || continue 2
		done
		ok=$((ok + 1))
		rm -f "$jar"
	done
	echo "$ok"
}
# Both fleets serve https, each with its own CA.
cat "$a/tls/ca.pem" "$b/tls/ca.pem" > "$a/cas.pem"
fcurl() { curl --cacert "$a/cas.pem" "$@"; }
start_runtimes "$a" 3
start_runtimes "$b" 2
for i in $(seq 50); do
	fcurl -sf -o /dev/null https://127.0.21.4:8080/readyz && fcurl -sf -o /dev/null https://127.0.22.3:8080/readyz && break
	sleep 0.2
done
sleep 1 # HAProxy's checks see every server up
[ "$(sticky_calls 127.0.21.4)" = 12 ] || fail "HAProxy did not keep every call on its server"
[ "$(sticky_calls 127.0.22.3)" = 12 ] || fail "nginx did not keep every call on its server"
for p in "${runtimes[@]}"; do kill "$p" 2>/dev/null; done
for p in "${runtimes[@]}"; do wait "$p" 2>/dev/null; done
runtimes=()

pids=$("$fleet" ps --dir "$a" | cut -d' ' -f1)
[ "$(wc -w <<<"$pids")" -eq 6 ] || fail "fleet a runs $(wc -w <<<"$pids") processes, not 6 (4 sshd, HAProxy, PostgreSQL)"
"$fleet" down --dir "$a" >/dev/null
for pid in $pids; do
	if [ -e "/proc/$pid" ] && ! grep -q '^[^)]*) Z' "/proc/$pid/stat" 2>/dev/null; then
		fail "pid $pid still runs after fleet down"
	fi
done
ssh_to "$b" 127.0.22.2 true || fail "stopping fleet a stopped fleet b"
out=$("$ivrctl" status "$b/plan.yaml" --output json)
[ "$(/usr/bin/python3 -c 'import json,sys; print([h["pool_state"] for h in json.load(sys.stdin)["hosts"]])' <<<"$out")" = "['ready', 'ready']" ] ||
	fail "status through the nginx balancer: $out"

[ "$failed" -eq 0 ] && echo "fleet: 3 hosts behind HAProxy (bank on PostgreSQL) and 2 behind nginx (SQLite), strict key-only SSH, plans valid, every call kept on its server, all stopped by pid"
exit "$failed"

#!/usr/bin/env bash
# One client holding 10,000 slow sockets (headers sent one byte a second,
# never finished; each socket the server closes opened again) against a
# runtime on loopback: /readyz, asked from another address every 25 ms,
# keeps answering within 100 ms (p99), the attacker holds no more than
# its per-client cap, and connections past the request deadline are shut
# down and counted.  Loopback only; every process stopped by its pid.
# usage: test_slow_clients.sh RUNTIME_BIN
set -uo pipefail
runtime=$1
here=$(cd "$(dirname "$0")" && pwd)
slow="$here/../load/slow-clients.py"
net=127.0.61
dir=$(mktemp -d /tmp/ivr-slow.XXXXXX)
failed=0
pid=""
attacker=""
fail() { echo "FAIL: $*"; failed=1; }
cleanup() {
	[ -n "$attacker" ] && kill "$attacker" 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
field() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

"$runtime" seed --db "$dir/bank.db" --customers 2 --seed 1 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null ||
	{ echo "FAIL: seed"; exit 1; }
cat > "$dir/runtime.yaml" <<CFG
listen: { address: $net.1, port: 8080, max_connections_per_client: 256, request_deadline: 2s }
database: { path: $dir/bank.db }
CFG
"$runtime" --config "$dir/runtime.yaml" > "$dir/runtime.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://$net.1:8080/readyz" && break; sleep 0.1; done
curl -sf -o /dev/null "http://$net.1:8080/readyz" || { echo "FAIL: the runtime did not start: $(cat "$dir/runtime.log")"; exit 1; }

(
	ulimit -n 20000
	exec /usr/bin/python3 "$slow" attack $net.1 8080 --source $net.2 --sockets 10000 --seconds 9
) > "$dir/attack.json" &
attacker=$!
sleep 1.5 # the attack at full strength
probe=$(/usr/bin/python3 "$slow" probe "http://$net.1:8080/readyz" --source $net.3 --seconds 6 --every 25)
wait "$attacker"
attacker=""
attack=$(cat "$dir/attack.json")
cut=$(curl -s "http://$net.1:8080/metrics" | sed -n 's/^ivr_http_connections_cut_total{[^}]*} \([0-9]*\)$/\1/p')

[ "$(field 'd["failed"], d["ok"] >= 100' <<<"$probe")" = "0 True" ] || fail "readiness did not answer every probe: $probe"
[ "$(field 'd["p99_ms"] < 100' <<<"$probe")" = True ] || fail "readiness p99 over 100 ms: $probe"
[ "$(field 'd["opened"] >= 10000' <<<"$attack")" = True ] || fail "the attack did not open 10,000 sockets: $attack"
[ "$(field 'd["held_end"] <= 256' <<<"$attack")" = True ] || fail "the attacker holds more than its cap: $attack"
[ "${cut:-0}" -gt 0 ] || fail "no connection was cut at its request deadline (cut: '${cut}')"
kill -0 "$pid" 2>/dev/null || fail "the runtime died: $(tail -5 "$dir/runtime.log")"

[ "$failed" -eq 0 ] && echo "slow clients: readiness under 10,000 slow sockets from one client $probe; the attacker $attack; $cut connection(s) cut at the 2 s request deadline"
exit "$failed"

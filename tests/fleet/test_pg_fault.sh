#!/usr/bin/env bash
# The bank's PostgreSQL stopped for 3 s under 30 callers through HAProxy on
# a 3-host fleet: every runtime turns unready within a second and ready
# again by itself once the server is back; `ivrctl status` says why (exit
# 3, "its runtime is not ready (answered 503: database unavailable)");
# calls caught in the outage end
# with "try again later" (HTTP 503), never another error; calls placed after
# it all complete; and the ledger check passes (no lost, no doubled
# transfer: every acknowledged transfer in the books once, money
# conserved).
# usage: test_pg_fault.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test pg-fault 127.0.64
callers_pid=""
trap '[ -n "$callers_pid" ] && kill "$callers_pid" 2>/dev/null; "$fleet" down --dir "$dir/fleet" >/dev/null 2>&1; rm -rf "$dir"' EXIT

"$fleet" up 3 --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
pg="$dir/fleet/pg"
fleet_bank "$dir/fleet" ivr_migrate
"$build/ivr-runtime/bin/ivr-runtime" seed "${BANK[@]}" --customers 30 --seed 5 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null || { echo "FAIL: seed"; exit 1; }
package 1.0.0
"$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" >/dev/null || { echo "FAIL: install"; exit 1; }
sleep 1 # HAProxy's checks see every runtime up

callers() { # NAME DURATION
	"$build/bin/ivr-callers" --url "https://$net.4:8080" --credentials "$dir/cred.json" --cacert "$dir/fleet/tls/ca.pem" \
		--callers 30 --duration "$2" --think 50ms --seed 9 \
		--acks "$dir/$1.acks" --report "$dir/$1.json" > "$dir/$1.out" 2>&1
}
figure() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$dir/$1.json" "$2"; }
now_ms() { date +%s%3N; }
# all_ready CODE: every host's /readyz answers CODE.
all_ready() {
	local i
	for i in 1 2 3; do
		[ "$(fcurl -s -o /dev/null -m 3 -w '%{http_code}' "https://$net.$i:8080/readyz")" = "$1" ] || return 1
	done
}
# until_ready CODE LIMIT_MS: milliseconds until all_ready CODE, or fails.
until_ready() {
	local start end
	start=$(now_ms)
	end=$((start + $2))
	until all_ready "$1"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.02
	done
	echo $(($(now_ms) - start))
}

callers outage 12s &
callers_pid=$!
sleep 3
stopped=$(now_ms)
"$top/scripts/pg-sandbox.sh" down "$pg" || fail "the bank's server did not stop"
down_ms=$(until_ready 503 1000) || fail "a runtime was still ready 1 s after the database stopped"
# On-call's view: every host unready, and why.
status=$("$ivrctl" status "$plan" --output json)
status_rc=$?
[ "$status_rc" -eq 3 ] || fail "status during the outage exited $status_rc, not 3"
fits status <<<"$status" || fail "status during the outage does not fit the schema"
why=$(/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["not_consistent_because"]); print(*sorted({h.get("not_ready") for h in d["hosts"]}))' <<<"$status")
[ "$why" = "ivr-01 its runtime is not ready (answered 503: database unavailable)
answered 503: database unavailable" ] || fail "status during the outage says: $why"
sleep "$(awk "BEGIN { t = (3000 - ($(now_ms) - $stopped)) / 1000; print (t > 0 ? t : 0) }")"
"$top/scripts/pg-sandbox.sh" start "$pg" >/dev/null || fail "the bank's server did not start again"
outage_ms=$(($(now_ms) - stopped))
up_ms=$(until_ready 200 10000) || fail "the runtimes did not turn ready again within 10 s"
wait "$callers_pid"
callers_pid=""
sleep 1 # HAProxy's checks see every runtime up again
callers after 4s

[ "$(figure outage completed)" -gt 0 ] || fail "no call completed around the outage: $(cat "$dir/outage.out")"
other=$(grep "failed: " "$dir/outage.out" | grep -v "HTTP 503" || true)
[ -z "$other" ] || fail "calls failed with something else than try-again-later: $other"
[ "$(figure outage retried)" -eq 0 ] || fail "requests were lost in transit: $(cat "$dir/outage.out")"
[ "$(figure after failed)" -eq 0 ] || fail "calls failed after the database came back: $(cat "$dir/after.out")"
[ "$(figure after completed)" -gt 30 ] || fail "too few calls after the outage: $(cat "$dir/after.out")"
cat "$dir/outage.acks" "$dir/after.acks" > "$dir/all.acks"
fleet_bank "$dir/fleet" ivr_app
ledger=$("$build/bin/ivr-ledger" "${BANK[@]}" --acks "$dir/all.acks") || fail "ledger: $ledger"
unavailable=$(fcurl -s "https://$net.1:8080/metrics" "https://$net.2:8080/metrics" "https://$net.3:8080/metrics" |
	awk '/^ivr_calls_total\{outcome="unavailable"[,}]/ { s += $2 } END { print s + 0 }')

[ "$failed" -eq 0 ] && {
	echo "database outage: PostgreSQL stopped for $outage_ms ms under 30 callers on 3 hosts:"
	echo "  every runtime unready after $down_ms ms, ready again $up_ms ms after the server was back"
	echo "  ivrctl status meanwhile: exit 3, $(head -n1 <<<"$why")"
	echo "  calls the runtimes ended with try-again-later: $unavailable"
	sed 's/^/  /' "$dir/outage.out"
	echo "after it:"
	sed 's/^/  /' "$dir/after.out"
	sed 's/^/  /' <<<"$ledger"
}
exit "$failed"

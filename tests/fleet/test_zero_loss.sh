#!/usr/bin/env bash
# No dropped call and no lost transfer under load: 30 simulated callers
# (ivr-callers) through HAProxy while a 4-host fleet goes from 1.0.0 to
# 1.1.0 in phases and then back with `ivrctl rollback`: 0 failed calls and
# 0 requests retried after a transport error,
# every acknowledged transfer in the books exactly once, money conserved
# (ivr-ledger), with TLS on every link (callers, balancer, checks,
# database).  Then the same with a drain deadline too short for the
# calls in progress: ivrctl reports the calls it cuts, the callers see no
# more failed calls than were reported, and the books still balance.
# usage: test_zero_loss.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test zero-loss 127.0.99
callers_pid=""
trap '[ -n "$callers_pid" ] && kill "$callers_pid" 2>/dev/null; "$fleet" down --dir "$dir/fleet" >/dev/null 2>&1; rm -rf "$dir"' EXIT

"$fleet" up 4 --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
fleet_bank "$dir/fleet" ivr_migrate
"$build/ivr-runtime/bin/ivr-runtime" seed "${BANK[@]}" --customers 30 --seed 11 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null || { echo "FAIL: seed"; exit 1; }
for v in 1.0.0 1.1.0; do
	package $v
done
"$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" >/dev/null || { echo "FAIL: first install"; exit 1; }
sleep 1 # HAProxy's checks see every runtime up

# TLS on every link (the sandbox's default): callers to HAProxy, HAProxy to
# each runtime (verified by name), the agents' checks (https, the plan's
# CA), the runtimes to PostgreSQL (verify-full; hostssl only).
links_tls() {
	local cfg="$dir/fleet/hosts/lb/root/haproxy/haproxy.cfg" ssl
	grep -q "^	bind $net.5:8080 ssl crt " "$cfg" || { echo "HAProxy's front is not https"; return 1; }
	[ "$(grep -c "^	server ivr-0[1-4] .* ssl verify required ca-file .* verifyhost ivr-0[1-4] " "$cfg")" -eq 4 ] ||
		{ echo "HAProxy does not verify every runtime"; return 1; }
	grep -q "^  url: https://{address}:8080/readyz$" "$plan" && grep -q "^  ca_file: tls/ca.pem$" "$plan" ||
		{ echo "the plan's checks are not https with the fleet's CA"; return 1; }
	# (the server's own account sees every session's TLS)
	ssl=$(runuser -u postgres -- psql -h "$dir/fleet/pg/run" -p 5432 -d bank -XAtc \
		"SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'ivr_app'") ||
		{ echo "cannot ask PostgreSQL"; return 1; }
	[ "${ssl%%|*}" = "${ssl##*|}" ] && [ "${ssl##*|}" -gt 0 ] ||
		{ echo "the runtimes' connections to PostgreSQL over TLS: $ssl (tls|all)"; return 1; }
	echo "${ssl##*|}"
}

# callers_start NAME: 30 callers for up to 10 minutes, stopped by callers_stop.
callers_start() {
	"$build/bin/ivr-callers" --url "https://$net.5:8080" --credentials "$dir/cred.json" --cacert "$dir/fleet/tls/ca.pem" \
		--callers 30 --duration 10m --think 100ms --seed 3 \
		--acks "$dir/$1.acks" --report "$dir/$1.json" > "$dir/$1.out" 2>&1 &
	callers_pid=$!
	sleep 2 # every caller is in a call
}
callers_stop() { # SIGTERM: each caller ends the call it is on
	kill -TERM "$callers_pid"
	wait "$callers_pid"
	callers_pid=""
}
figure() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$dir/$1.json" "$2"; }

# A rolling deploy and a rollback under load: nothing lost.
callers_start calm
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" 2>&1) || fail "deploy under load: $out"
grep -q "will be cut" <<<"$out" && fail "deploy under load cut calls: $out"
out=$("$ivrctl" rollback "$plan" 2>&1) || fail "rollback under load: $out"
grep -q "will be cut" <<<"$out" && fail "rollback under load cut calls: $out"
sleep 1
pg_tls=$(links_tls) || fail "not TLS on every link: $pg_tls"
callers_stop
fleet_on 1.0.0 || fail "the fleet is not back on 1.0.0 and READY"
[ "$(figure calm failed)" -eq 0 ] || fail "calls failed under a deploy and a rollback: $(cat "$dir/calm.out")"
# A retry means a request was lost in transit: none may be.
[ "$(figure calm retried)" -eq 0 ] || fail "requests were retried under a deploy and a rollback: $(cat "$dir/calm.out")"
[ "$(figure calm completed)" -ge 60 ] || fail "too few calls completed: $(cat "$dir/calm.out")"
[ "$(figure calm transfers)" -gt 0 ] || fail "no transfers: $(cat "$dir/calm.out")"
fleet_bank "$dir/fleet" ivr_app
ledger=$("$build/bin/ivr-ledger" "${BANK[@]}" --acks "$dir/calm.acks") ||
	fail "ledger after the calm run: $ledger"

# A drain deadline too short for the calls in progress: cuts, reported.
sed -e 's/^  drain_deadline: 20s$/  drain_deadline: 100ms/' -e 's/^  stop_timeout: 30s$/  stop_timeout: 2s/' \
	"$plan" > "$dir/fleet/plan-short.yaml"
callers_start short
out=$("$ivrctl" deploy "$dir/fleet/plan-short.yaml" --artifact "$(art 1.1.0)" 2>&1) ||
	fail "deploy with a short drain: $out"
callers_stop
cut=$(grep -o "drain deadline passed with [0-9]* call(s)" <<<"$out" | grep -o "[0-9]*" |
	awk '{ s += $1 } END { print s + 0 }')
short_failed=$(figure short failed)
[ "$cut" -gt 0 ] || fail "a 100 ms drain under 30 callers reported no cut call: $out"
[ "$short_failed" -le "$cut" ] ||
	fail "$short_failed calls failed but ivrctl reported $cut cut: $(cat "$dir/short.out") $out"
ledger2=$("$build/bin/ivr-ledger" "${BANK[@]}" --acks "$dir/short.acks") ||
	fail "ledger after the short-drain run: $ledger2"

[ "$failed" -eq 0 ] && {
	echo "zero loss: 30 callers through a 4-host deploy (1.0.0 -> 1.1.0) and a rollback, TLS on every link ($pg_tls of $pg_tls database connections over TLS):"
	sed 's/^/  /' "$dir/calm.out"
	sed 's/^/  /' <<<"$ledger"
	echo "short drain (100 ms): ivrctl reported $cut call(s) cut; the callers saw $short_failed fail:"
	sed 's/^/  /' "$dir/short.out"
	sed 's/^/  /' <<<"$ledger2"
}
exit "$failed"

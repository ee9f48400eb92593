#!/usr/bin/env bash
# The pool by plan (`ivrctl scale`) under 30 callers, through HAProxy (its
# runtime API's add/del server, the configuration file kept in step) or
# nginx (its upstream file): a 4-host fleet on 1.0.0 grows to 6 (both new
# hosts bootstrapped with the pool's release, ready, smoke-called, then
# READY and taking calls), then shrinks to 5 (ivr-06 drained by calls, out
# of the pool, its runtime stopped): 0 failed calls, the ledger balanced,
# `status` consistent after each.  Then, callers stopped: a new host that
# presents the wrong host key is never added (exit 1); a removal that
# would break the capacity floor is refused (exit 2); the scaled fleet
# deploys and rolls back; HAProxy reloaded from its file keeps the pool.
# usage: test_scale.sh BUILD_DIR haproxy|nginx
set -uo pipefail
build=$1
lb=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
if [ "$lb" = haproxy ]; then fleet_test scale 127.0.78; else fleet_test scale-nginx 127.0.79; fi
callers_pid=""
trap '[ -n "$callers_pid" ] && kill "$callers_pid" 2>/dev/null; "$fleet" down --dir "$dir/fleet" >/dev/null 2>&1; rm -rf "$dir"' EXIT

"$fleet" up 4 --spare 2 --lb "$lb" --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
lbroot="$dir/fleet/hosts/lb/root"
fleet_bank "$dir/fleet" ivr_migrate
"$build/ivr-runtime/bin/ivr-runtime" seed "${BANK[@]}" --customers 30 --seed 11 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null || { echo "FAIL: seed"; exit 1; }
package 1.0.0
package 1.1.0
plan="$dir/fleet/plan.yaml"
"$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" >/dev/null || { echo "FAIL: first install"; exit 1; }
grep -v 'name: ivr-06' "$dir/fleet/plan-all.yaml" > "$dir/fleet/plan-5.yaml"
sleep 1 # the balancer's checks see every runtime up

# steps_ok ADDRESS: call steps a runtime answered ok.
steps_ok() {
	fcurl -sf --max-time 5 "https://$1:8080/metrics" |
		awk '/^ivr_call_steps_total\{.*outcome="ok"/ { s += $NF } END { print s + 0 }'
}
# members: the pool's member names, as the balancer has them.
members() {
	if [ "$lb" = haproxy ]; then
		haproxy_cmd "$lbroot/haproxy/admin.sock" "show servers state ivr" |
			awk '$2 == "ivr" { print $4 }' | sort | tr '\n' ' '
	else
		awk '$1 == "server" { sub(/;$/, "", $2); print $2 }' "$lbroot/nginx/upstream.conf" |
			sort | tr '\n' ' '
	fi
}
# runtime_alive NAME: its runtime's pid file names a live process.
runtime_alive() {
	local f="$dir/fleet/hosts/$1/root/shared/ivr-runtime.pid"
	[ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

if [ "$lb" = haproxy ]; then
	m5=ivr-05 m6=ivr-06
	five="ivr-01 ivr-02 ivr-03 ivr-04 ivr-05 "
	six="${five}ivr-06 "
else
	m5=$net.5:8080 m6=$net.6:8080
	five="$net.1:8080 $net.2:8080 $net.3:8080 $net.4:8080 $net.5:8080 "
	six="$five$net.6:8080 "
fi

# Scale out, 4 -> 6, under calls.
calls_start "https://$net.7:8080"
start=$(date +%s%N)
out=$("$ivrctl" scale "$dir/fleet/plan-all.yaml" --artifact "$(art 1.0.0)" 2>&1) || fail "scale out: $out"
out_ms=$((($(date +%s%N) - start) / 1000000))
grep -q "adding: ivr-05, ivr-06; removing: none" <<<"$out" || fail "scale out did not say its plan: $out"
[ "$(members)" = "$six" ] || fail "the pool after scale out is '$(members)'"
plan="$dir/fleet/plan-all.yaml"
fleet_on 1.0.0 || fail "status after scale out: $("$ivrctl" status "$plan")"
# The old plan no longer describes the pool: status says so.
out=$("$ivrctl" status "$dir/fleet/plan.yaml" 2>&1)
[ $? -eq 3 ] && grep -q "the pool holds .*, not in the plan" <<<"$out" &&
	grep -q "holds.*$m5" <<<"$out" && grep -q "holds.*$m6" <<<"$out" ||
	fail "status with a plan that lacks two members: $out"
sleep 4 # new calls reach the new members
for a in $net.5 $net.6; do
	# (asked up to 3 times: a loaded machine can miss a /metrics answer)
	for _ in 1 2 3; do [ "$(steps_ok $a)" -gt 0 ] && break; sleep 1; done
	[ "$(steps_ok $a)" -gt 0 ] || fail "$a took no call after it was added"
done
added_steps="$(steps_ok $net.5)/$(steps_ok $net.6)"

# Scale in, 6 -> 5: the plan lost ivr-06.
start=$(date +%s%N)
out=$("$ivrctl" scale "$dir/fleet/plan-5.yaml" 2>&1)
rc=$?
[ "$rc" -eq 2 ] && grep -q "needs --yes" <<<"$out" || fail "a removal without --yes and no terminal ran (exit $rc): $out"
out=$("$ivrctl" scale "$dir/fleet/plan-5.yaml" --yes --output json 2>&1) || fail "scale in: $out"
in_ms=$((($(date +%s%N) - start) / 1000000))
fits event --lines <<<"$out" || fail "scale's JSON lines do not fit the schema"
grep -q '"ivr-06: runtime stopped"' <<<"$out" || fail "scale in did not stop ivr-06: $out"
grep -q 'will be cut' <<<"$out" && fail "scale in cut calls: $out"
[ "$(members)" = "$five" ] || fail "the pool after scale in is '$(members)'"
runtime_alive ivr-06 && fail "ivr-06's runtime still runs"
plan="$dir/fleet/plan-5.yaml"
fleet_on 1.0.0 || fail "status after scale in: $("$ivrctl" status "$plan")"
sleep 1
calls_stop
[ "$(calls_figure failed)" -eq 0 ] || fail "calls failed while the pool grew and shrank: $(cat "$dir/calls.out")"
[ "$(calls_figure completed)" -ge 30 ] || fail "too few calls completed: $(cat "$dir/calls.out")"
fleet_bank "$dir/fleet" ivr_app
ledger=$("$build/bin/ivr-ledger" "${BANK[@]}" --acks "$dir/calls.acks") || fail "ledger: $ledger"

if [ "$lb" = haproxy ]; then
	cfg="$lbroot/haproxy/haproxy.cfg"
	grep -q "^	server ivr-05 $net.5:8080 .*check inter 500ms" "$cfg" || fail "ivr-05 is not in HAProxy's file"
	grep -q "ivr-06" "$cfg" && fail "ivr-06 is still in HAProxy's file"
	haproxy -c -q -f "$cfg" || fail "HAProxy refuses its own file after scaling"
fi

# A new host with the wrong host key: never added.
cp "$dir/fleet/known_hosts" "$dir/known_hosts.good"
ssh-keygen -q -t ed25519 -N '' -C other -f "$dir/other" <<<y >/dev/null
awk -v k="$(cut -d' ' -f1,2 "$dir/other.pub")" '$1 == "['$net'.6]:2222" { $2 = ""; $3 = ""; $0 = $1 " " k } { print }' \
	"$dir/known_hosts.good" > "$dir/fleet/known_hosts"
out=$("$ivrctl" scale "$dir/fleet/plan-all.yaml" --artifact "$(art 1.0.0)" 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "a host with the wrong key: exit $rc, not 1: $out"
grep -q "ivr-06: NOT ADDED to the pool: .*HOST KEY CHANGED" <<<"$out" || fail "the refusal does not say why: $out"
[ "$(members)" = "$five" ] || fail "the pool after a failed bootstrap is '$(members)'"
cp "$dir/known_hosts.good" "$dir/fleet/known_hosts"
fleet_on 1.0.0 || fail "status after a failed bootstrap"
# A deploy whose plan lists a host the pool lacks stops before anything.
out=$("$ivrctl" deploy "$dir/fleet/plan-all.yaml" --artifact "$(art 1.1.0)" 2>&1)
rc=$?
[ "$rc" -eq 3 ] && grep -q "ivr-06 is not in the balancer's pool (member $m6): ivrctl scale .* adds it" <<<"$out" ||
	fail "a deploy with a host outside the pool: exit $rc: $out"
fleet_on 1.0.0 || fail "a refused deploy changed the fleet"

# The capacity floor (50%): 3 of 5 may not leave.
# (a host named again and again counts once)
out=$("$ivrctl" scale "$plan" --yes $(for i in $(seq 12); do echo --remove ivr-01; done) \
	--remove ivr-02 --remove ivr-03 2>&1)
rc=$?
[ "$rc" -eq 2 ] && grep -q "capacity floor: .* and 3 would leave; .* nothing is removed" <<<"$out" ||
	fail "a removal below the capacity floor: exit $rc: $out"
[ "$(members)" = "$five" ] || fail "the pool after a refused removal is '$(members)'"
out=$("$ivrctl" scale "$plan" --yes --remove ivr-09 2>&1)
[ $? -eq 2 ] && grep -q "no such member" <<<"$out" || fail "--remove of an unknown host: $out"

if [ "$lb" = haproxy ]; then
	# A new host the balancer's check never passes (its server line names
	# a port nothing listens on): added, then taken out again.
	cp "$cfg" "$dir/haproxy.cfg.before"
	sed -e 's/{address}:8080 /{address}:8089 /' -e 's/^  deadline: 20s$/  deadline: 3s/' \
		"$dir/fleet/plan-all.yaml" > "$dir/fleet/plan-badline.yaml"
	out=$("$ivrctl" scale "$dir/fleet/plan-badline.yaml" --artifact "$(art 1.0.0)" 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] && grep -q "ivr-06: NOT ADDED to the pool: .*health check did not pass within 3000 ms" <<<"$out" &&
		grep -q "ivr-06: taken out of the pool again" <<<"$out" || fail "a member that never passes the check: exit $rc: $out"
	[ "$(members)" = "$five" ] || fail "the pool after an undone addition is '$(members)'"
	cmp -s "$cfg" "$dir/haproxy.cfg.before" || fail "HAProxy's file kept a server that was taken out again"
	runtime_alive ivr-06 && fail "ivr-06's runtime runs after its bootstrap was undone"

	# A member that cannot be reached leaves by the balancer's count of
	# its calls; its runtime is said to be left running.
	out=$("$ivrctl" scale "$dir/fleet/plan-all.yaml" --artifact "$(art 1.0.0)" 2>&1) || fail "scale out again: $out"
	kill -TERM "$(cat "$dir/fleet/hosts/ivr-06/sshd.pid")"
	out=$("$ivrctl" scale "$dir/fleet/plan-5.yaml" --yes 2>&1) || fail "scale in of an unreachable host: $out"
	grep -q "ivr-06: cannot be reached .*the balancer counts its calls, and its runtime is left running" <<<"$out" &&
		grep -q "ivr-06: out of the pool" <<<"$out" || fail "an unreachable member's removal: $out"
	[ "$(members)" = "$five" ] || fail "the pool after an unreachable member left is '$(members)'"
	fleet_on 1.0.0 || fail "status after an unreachable member left"
fi

# The scaled fleet deploys and rolls back.
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" 2>&1) || fail "deploy on the scaled fleet: $out"
fleet_on 1.1.0 || fail "the scaled fleet is not on 1.1.0"
out=$("$ivrctl" rollback "$plan" 2>&1) || fail "rollback on the scaled fleet: $out"
fleet_on 1.0.0 || fail "the scaled fleet is not back on 1.0.0"

# HAProxy reloaded from its file: the pool it serves is the plan's.
if [ "$lb" = haproxy ]; then
	old=$(cat "$dir/fleet/hosts/lb/haproxy.pid")
	haproxy -D -p "$dir/fleet/hosts/lb/haproxy.pid" -f "$cfg" -sf "$old" || fail "HAProxy reload"
	for i in $(seq 50); do [ "$(cat "$dir/fleet/hosts/lb/haproxy.pid")" != "$old" ] && break; sleep 0.1; done
	sleep 1.5 # the new process's checks
	[ "$(members)" = "$five" ] || fail "after a reload HAProxy's pool is '$(members)'"
	fleet_on 1.0.0 || fail "status after HAProxy's reload: $("$ivrctl" status "$plan")"
fi

history=$("$ivrctl" history "$plan")
[ "$(grep -c ' scale ' <<<"$history")" -ge 4 ] || fail "history does not show the scale runs: $history"

[ "$failed" -eq 0 ] && {
	echo "scale ($lb): 4 -> 6 in $out_ms ms (call steps on ivr-05/ivr-06 since: $added_steps), 6 -> 5 in $in_ms ms, under 30 callers:"
	sed 's/^/  /' "$dir/calls.out"
	sed 's/^/  /' <<<"$ledger"
	echo "  wrong host key: not added (exit 1); 3 of 5 out: refused by the floor (exit 2); deploy and rollback on 5"
}
exit "$failed"

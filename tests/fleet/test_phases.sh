#!/usr/bin/env bash
# Phases, gates, the failure budget and the capacity floor on the real
# sandbox fleet (5 hosts behind HAProxy):
# - an approval gate without a terminal stops the deployment (exit 3,
#   outcome "waiting"); a new deploy is refused while it waits; resume
#   without approval stops again; `resume --approve half` finishes it;
# - a failure in the second phase (budget 0): the hosts of phases one and
#   two go back, exit 1, the third phase never starts;
# - a budget of 1 counted over the whole deployment: one failure in phase
#   two is tolerated, a second in phase three rolls everything back;
# - the capacity floor: with two members out of the pool by hand the
#   canary waits until one comes back, and batches are made smaller.
# usage: test_phases.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test phases 127.0.95
bg=""
trap '[ -n "$bg" ] && kill "$bg" 2>/dev/null; "$fleet" down --dir "$dir/fleet" >/dev/null 2>&1; rm -rf "$dir"' EXIT

"$fleet" up 5 --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
hosts="$dir/fleet/hosts"
for v in 1.0.0 1.1.0 1.3.0; do
	package $v
done
package 1.2.0 --fail-if refuse-1.2.0
# The release on each host, in order, as status reads them.
releases() {
	"$ivrctl" status "$plan" --output json |
		/usr/bin/python3 -c 'import json,sys; print(" ".join(h["current"] or "-" for h in json.load(sys.stdin)["hosts"]))'
}
last_summary() { tail -n1 | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
haproxy() { haproxy_cmd "$hosts/lb/root/haproxy/admin.sock" "$1"; }

"$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" >/dev/null || { echo "FAIL: first install"; exit 1; }
# Every runtime up: HAProxy's health checks pass (give them a second).
sleep 1
"$ivrctl" status "$plan" --output json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if [h.get("pool_up") for h in d["hosts"]] == [True] * 5 else 1)' ||
	fail "pool_up after the install: $("$ivrctl" status "$plan")"

# An approval gate before the second phase, no terminal.
sed 's/^    - { name: half, hosts: 50% }$/    - { name: half, hosts: 50%, approval: true }/' \
	"$plan" > "$dir/fleet/plan-gate.yaml"
grep -q "approval: true" "$dir/fleet/plan-gate.yaml" || fail "no gate in the plan"
out=$("$ivrctl" deploy "$dir/fleet/plan-gate.yaml" --artifact "$(art 1.1.0)" --output json </dev/null); rc=$?
[ "$rc" -eq 3 ] || fail "gate: exit $rc, not 3: $out"
[ "$(last_summary 'd["outcome"], d["waiting_phase"]' <<<"$out")" = "waiting half" ] ||
	fail "gate: summary: $out"
grep -q "ivrctl resume $dir/fleet/plan-gate.yaml --approve half" <<<"$out" || fail "gate: no hint to resume: $out"
[ "$(releases)" = "1.1.0 1.0.0 1.0.0 1.0.0 1.0.0" ] || fail "gate: the fleet: $(releases)"
"$ivrctl" history "$plan" | tail -n1 | grep -q "1.0.0 -> 1.1.0 *waiting" || fail "gate: history: $("$ivrctl" history "$plan")"
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" 2>&1); rc=$?
[ "$rc" -eq 3 ] && grep -q "finish the last deployment (ivrctl resume)" <<<"$out" ||
	fail "a deploy while one waits: exit $rc: $out"
out=$("$ivrctl" resume "$plan" 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "the plan changed since deployment" <<<"$out" ||
	fail "resume with another plan: exit $rc: $out"
out=$("$ivrctl" resume "$dir/fleet/plan-gate.yaml" --approve nosuch 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "has no phase of that name" <<<"$out" || fail "--approve nosuch: exit $rc: $out"
out=$("$ivrctl" resume "$dir/fleet/plan-gate.yaml" </dev/null 2>&1); rc=$?
[ "$rc" -eq 3 ] && grep -q "phase half waits for approval" <<<"$out" || fail "resume without approval: exit $rc: $out"
out=$("$ivrctl" resume "$dir/fleet/plan-gate.yaml" --approve half </dev/null 2>&1); rc=$?
[ "$rc" -eq 0 ] || fail "resume --approve half: exit $rc: $out"
grep -q "phase canary: every host already done" <<<"$out" || fail "resume redid the canary: $out"
grep -q "ivr-01: activate" <<<"$out" && fail "resume moved ivr-01 again: $out"
fleet_on 1.1.0 || fail "after resume the fleet is not on 1.1.0: $(releases)"
# One deployment, done, in history; the refused attempt beside it.
n=$("$ivrctl" history "$plan" | grep -c ' deploy .*1\.0\.0 -> 1\.1\.0 *done')
[ "$n" -eq 1 ] && ! "$ivrctl" history "$plan" | grep -q waiting ||
	fail "history after resume: $("$ivrctl" history "$plan")"

# A failure in the second phase, budget 0.
touch "$hosts/ivr-02/root/shared/refuse-1.2.0"
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.2.0)" 2>&1); rc=$?
[ "$rc" -eq 1 ] || fail "second phase fails: exit $rc, not 1: $out"
grep -q "ivr-01: ready on 1.2.0" <<<"$out" || fail "second phase fails: the canary did not pass: $out"
grep -q "ivr-02: FAILED" <<<"$out" || fail "second phase fails: ivr-02 did not fail: $out"
grep -q "rolling back [23] host(s) to 1.1.0" <<<"$out" || fail "second phase fails: what went back: $out"
grep -Eq "ivr-0[45]: (drain|activate)" <<<"$out" && fail "second phase fails: the third phase ran: $out"
fleet_on 1.1.0 || fail "second phase fails: the fleet is not back on 1.1.0: $(releases)"

# A budget of 1 over the whole deployment: phase two's failure is
# tolerated, phase three's second one is not.
sed -e 's/^  failure_budget: 0$/  failure_budget: 1/' \
	-e 's/^    - { name: half, hosts: 50% }$/    - { name: half, hosts: 2, batch: 2 }/' \
	-e 's/^    - { name: rest, hosts: rest }$/    - { name: rest, hosts: rest, batch: 2 }/' \
	"$plan" > "$dir/fleet/plan-budget.yaml"
touch "$hosts/ivr-04/root/shared/refuse-1.2.0"
out=$("$ivrctl" deploy "$dir/fleet/plan-budget.yaml" --artifact "$(art 1.2.0)" 2>&1); rc=$?
[ "$rc" -eq 1 ] || fail "budget: exit $rc, not 1: $out"
grep -q "ivr-03: ready on 1.2.0" <<<"$out" || fail "budget: phase two did not go on past one failure: $out"
grep -q "phase rest" <<<"$out" || fail "budget: phase three did not start: $out"
grep -q "ivr-04: FAILED" <<<"$out" || fail "budget: ivr-04 did not fail: $out"
grep -q "capacity floor: 4 of 5 member(s) READY and 3 must stay: 1 host(s) in this batch instead of 2" <<<"$out" ||
	fail "budget: the batch after a failed host was not made smaller: $out"
grep -q "rolling back 4 host(s) to 1.1.0" <<<"$out" || fail "budget: what went back: $out"
grep -q "ivr-05: drain" <<<"$out" && fail "budget: ivr-05 was moved past the budget: $out"
fleet_on 1.1.0 || fail "budget: the fleet is not back on 1.1.0: $(releases)"
rm -f "$hosts"/ivr-0[24]/root/shared/refuse-1.2.0

# The capacity floor (50%: 3 of 5 stay READY): two members out by hand.
haproxy "set server ivr/ivr-04 state maint" >/dev/null
haproxy "set server ivr/ivr-05 state maint" >/dev/null
sed -e 's/^    - { name: half, hosts: 50% }$/    - { name: half, hosts: 50%, batch: 2 }/' \
	-e 's/^    - { name: rest, hosts: rest }$/    - { name: rest, hosts: rest, batch: 2 }/' \
	"$plan" > "$dir/fleet/plan-floor.yaml"
"$ivrctl" deploy "$dir/fleet/plan-floor.yaml" --artifact "$(art 1.3.0)" > "$dir/floor.out" 2>&1 &
bg=$!
for _ in $(seq 100); do grep -q "waiting for the pool" "$dir/floor.out" && break; sleep 0.2; done
grep -q "capacity floor: only 3 of 5 member(s) READY and 3 must stay: waiting for the pool" "$dir/floor.out" ||
	fail "floor: the canary did not wait: $(cat "$dir/floor.out")"
sleep 1
[ "$(releases)" = "1.1.0 1.1.0 1.1.0 1.1.0 1.1.0" ] || fail "floor: a host moved while the pool was short: $(releases)"
haproxy "set server ivr/ivr-04 state ready" >/dev/null
wait "$bg"; rc=$?
bg=""
out=$(cat "$dir/floor.out")
[ "$rc" -eq 0 ] || fail "floor: exit $rc: $out"
grep -q "capacity floor: 4 of 5 member(s) READY and 3 must stay: 1 host(s) in this batch instead of 2" <<<"$out" ||
	fail "floor: no smaller batch: $out"
fleet_on 1.3.0 || fail "floor: the fleet is not on 1.3.0 and READY: $(releases)"

[ "$failed" -eq 0 ] && echo "phases: gate stopped the run (exit 3) and resume --approve finished it; a second-phase failure rolled back phases one and two (exit 1); a budget of 1 held across phases until the second failure; the floor held the canary until a member came back and made batches smaller"
exit "$failed"

#!/usr/bin/env bash
# Where the one-command rollback goes, on the real sandbox fleet (4 hosts
# behind HAProxy, phases canary / 50% / rest): 1.0.0, then 1.1.0, then two
# failed deployments (1.2.0 fails in its canary, 1.2.2 in the second
# phase); every host must still name 1.0.0 as the release before, and
# `ivrctl rollback` must end on 1.0.0 with every host serving, both from
# the journal and, with no journal, from the hosts alone.  Then a deploy
# whose third host becomes unreachable (its sshd and sessions killed
# during the canary's pause): every member it changed is restored, the
# others go back, it exits 3 naming the host, status stays non-zero until
# the host answers again, and a rollback whose first batch fails stops
# there with the other hosts serving.
# usage: test_rollback.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test rollback 127.0.88

"$fleet" up 4 --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
hosts="$dir/fleet/hosts"
package 1.0.0
package 1.1.0
package 1.2.0 --broken
package 1.2.2 --fail-if FAIL-1.2.2
field() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
state() { "$ivrctl" status "$plan" --output json 2>/dev/null; }
deploy() { # version [plan]: prints the output, returns the exit code
	"$ivrctl" deploy "${2:-$plan}" --artifact "$(art "$1")" > "$dir/out" 2>&1
	local rc=$?
	cat "$dir/out"
	return $rc
}

for v in 1.0.0 1.1.0; do
	out=$(deploy $v); rc=$?
	[ "$rc" -eq 0 ] || fail "deploy $v: exit $rc: $out"
done
out=$(deploy 1.2.0); rc=$?
[ "$rc" -eq 1 ] || fail "broken 1.2.0: exit $rc, not 1: $out"
grep -q "ivr-01: FAILED" <<<"$out" || fail "1.2.0 did not fail in its canary: $out"
touch "$hosts/ivr-03/root/shared/FAIL-1.2.2"
out=$(deploy 1.2.2); rc=$?
[ "$rc" -eq 1 ] || fail "1.2.2: exit $rc, not 1: $out"
grep -q "phase half" <<<"$out" && grep -q "ivr-03: FAILED" <<<"$out" ||
	fail "1.2.2 did not fail in its second phase: $out"
# Its automatic rollback keeps the capacity floor (2 of 4 must stay READY):
# the failed ivr-03, out of the pool since the run restarted it (so not
# drained again), goes first with one READY host; the last READY one goes
# only once they are back.
back=$(sed -n '/rolling back 3 host(s) to 1.1.0/,$p' <<<"$out")
first=$(grep -n "ready on 1.1.0" <<<"$back" | head -n 1 | cut -d: -f1)
last=$(grep -n ": drain$" <<<"$back" | tail -n 1 | cut -d: -f1)
grep -q "ivr-03: out of the pool since this run restarted it" <<<"$(head -n "${first:-0}" <<<"$back")" &&
	[ -n "$first" ] && [ -n "$last" ] && [ "$last" -gt "$first" ] ||
	fail "the automatic rollback did not keep the capacity floor: $back"
rm -f "$hosts/ivr-03/root/shared/FAIL-1.2.2"
fleet_on 1.1.0 || fail "after two failed deployments the fleet is not on 1.1.0"
out=$(state)
[ "$(field '[(h["current"], h["previous"]) for h in d["hosts"]]' <<<"$out")" = \
	"[('1.1.0', '1.0.0'), ('1.1.0', '1.0.0'), ('1.1.0', '1.0.0'), ('1.1.0', '1.0.0')]" ] ||
	fail "the hosts do not agree that 1.0.0 ran before 1.1.0: $out"

# With no journal (another machine): the hosts alone.
cp -r "$dir/state" "$dir/state.saved"
rm -rf "$dir/state"
out=$("$ivrctl" rollback "$plan"); rc=$?
[ "$rc" -eq 0 ] || fail "rollback from the hosts: exit $rc: $out"
grep -q "back to 1.0.0" <<<"$out" || fail "rollback from the hosts did not go to 1.0.0: $out"
fleet_on 1.0.0 || fail "after the rollback from the hosts the fleet is not on 1.0.0"

# The same from the journal: forward again to 1.1.0 with the saved
# journal, two failures, then rollback reads the journal.
rm -rf "$dir/state"
mv "$dir/state.saved" "$dir/state"
out=$("$ivrctl" rollback "$plan" --to 1.1.0); rc=$?
[ "$rc" -eq 0 ] || fail "rollback --to 1.1.0: exit $rc: $out"
out=$(deploy 1.2.0); rc=$?
[ "$rc" -eq 1 ] || fail "broken 1.2.0 again: exit $rc: $out"
out=$("$ivrctl" rollback "$plan"); rc=$?
[ "$rc" -eq 0 ] || fail "rollback from the journal: exit $rc: $out"
grep -q "the journal: 1.1.0 came with the last deployment that stands; before it the fleet ran 1.0.0" <<<"$out" ||
	fail "rollback did not read the journal: $out"
fleet_on 1.0.0 || fail "after the rollback from the journal the fleet is not on 1.0.0"

# SSH keepalives go out while a step waits: ivr-04's sshd, started again
# logging at DEBUG, sees them during a drain that waits for a live call.
sshd4=$(cat "$hosts/ivr-04/sshd.pid")
kill "$sshd4"
for _ in $(seq 50); do [ -e "/proc/$sshd4" ] || break; sleep 0.1; done
: > "$hosts/ivr-04/sshd.log"
sshd_up "$hosts/ivr-04/sshd_config" "$hosts/ivr-04/sshd.pid" -E "$hosts/ivr-04/sshd.log" -o LogLevel=DEBUG ||
	fail "ivr-04's sshd did not come back"
sed 's/^  connect_timeout: 3s$/  connect_timeout: 3s\n  keepalive: 1s/' "$plan" > "$dir/fleet/plan-keepalive.yaml"
call=$(fcurl -s -X POST "https://$net.4:8080/calls" -d '{}' |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["call_id"])')
"$ivrctl" deploy "$dir/fleet/plan-keepalive.yaml" --artifact "$(art 1.1.0)" > "$dir/ka.out" 2>&1 &
deployer=$!
# The call ends 4 s into ivr-04's drain, however long the phases before.
for _ in $(seq 600); do grep -q "ivr-04: drain" "$dir/ka.out" && break; sleep 0.1; done
sleep 4
fcurl -s -o /dev/null -X DELETE "https://$net.4:8080/calls/$call"
wait "$deployer"; rc=$?
out=$(cat "$dir/ka.out")
[ "$rc" -eq 0 ] || fail "deploy with keepalive 1s: exit $rc: $out"
keepalives=$(grep -c "rtype keepalive@libssh2.org" "$hosts/ivr-04/sshd.log")
[ "$keepalives" -ge 2 ] || fail "ivr-04 saw $keepalives keepalive(s) during a drain of about 4 s"
out=$("$ivrctl" rollback "$plan"); rc=$?
[ "$rc" -eq 0 ] && fleet_on 1.0.0 || fail "rollback after the keepalive deploy: exit $rc: $out"

# A host becomes unreachable during the canary's pause.
sed 's/^    - { name: canary, hosts: 1 }$/    - { name: canary, hosts: 1, pause: 4s }/' "$plan" > "$dir/fleet/plan-pause.yaml"
grep -q 'pause: 4s' "$dir/fleet/plan-pause.yaml" || fail "no pause in the plan"
"$ivrctl" deploy "$dir/fleet/plan-pause.yaml" --artifact "$(art 1.1.0)" > "$dir/out" 2>&1 &
deployer=$!
for _ in $(seq 200); do grep -q "pause 4000 ms" "$dir/out" && break; sleep 0.1; done
grep -q "pause 4000 ms" "$dir/out" || fail "the canary never paused: $(cat "$dir/out")"
sshd3=$(cat "$hosts/ivr-03/sshd.pid")
# Its sessions first (the controller's channel to its agent), then sshd.
for p in $(pgrep -P "$sshd3"); do pkill -KILL -P "$p"; kill -KILL "$p"; done
kill -KILL "$sshd3"
wait "$deployer"; rc=$?
out=$(cat "$dir/out")
[ "$rc" -eq 3 ] || fail "deploy with ivr-03 unreachable: exit $rc, not 3: $out"
grep -q "ivr-03: FAILED" <<<"$out" || fail "ivr-03 did not fail: $out"
grep -q "ivr-03: never swapped: member restored to READY" <<<"$out" ||
	fail "ivr-03's member was not restored: $out"
grep -q "ivr-03: cannot be read" <<<"$out" || fail "the end did not name ivr-03: $out"
out=$(state); rc=$?
[ "$rc" -eq 3 ] || fail "status with ivr-03 unreachable: exit $rc, not 3"
[ "$(field '[h["pool_state"] for h in d["hosts"]]' <<<"$out")" = "['ready', 'ready', 'ready', 'ready']" ] ||
	fail "a member was left out of the pool: $out"
[ "$(field '[h["current"] for h in d["hosts"]], d["not_consistent_because"]' <<<"$out")" = \
	"['1.0.0', '1.0.0', None, '1.0.0'] ivr-03 cannot be read" ] || fail "status after: $out"
sshd_up "$hosts/ivr-03/sshd_config" "$hosts/ivr-03/sshd.pid" || fail "ivr-03's sshd did not come back"
fleet_on 1.0.0 || fail "with ivr-03 back the fleet is not on 1.0.0: $(state)"

# A rollback whose first batch fails stops there: the others serve on.
out=$("$ivrctl" rollback "$plan" --to 1.1.0); rc=$?
[ "$rc" -eq 0 ] || fail "rollback --to 1.1.0 (before the stop test): exit $rc: $out"
chmod 000 "$hosts/ivr-01/root/releases/1.0.0/bin/ivr-runtime"
out=$("$ivrctl" rollback "$plan" --to 1.0.0); rc=$?
chmod 755 "$hosts/ivr-01/root/releases/1.0.0/bin/ivr-runtime"
[ "$rc" -eq 3 ] || fail "rollback with a failing first batch: exit $rc, not 3: $out"
grep -q "ivr-01: FAILED" <<<"$out" || fail "ivr-01 did not fail: $out"
grep -Eq "ivr-0[34]: drain" <<<"$out" && fail "the rollback went past its failed batch: $out"
out=$(state)
[ "$(field '[(h["current"], h["healthy"], h["pool_state"]) for h in d["hosts"][2:]]' <<<"$out")" = \
	"[('1.1.0', True, 'ready'), ('1.1.0', True, 'ready')]" ] ||
	fail "the hosts after the failed batch do not serve: $out"

[ "$failed" -eq 0 ] && echo "rollback: after 1.0.0, 1.1.0 and two failed deployments every host names 1.0.0 and rollback goes there (from the hosts and from the journal); $keepalives SSH keepalives during a 4 s drain; an unreachable host's member restored, exit 3, status non-zero until it answers; a failing first batch stops the rollback"
exit "$failed"

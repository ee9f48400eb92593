#!/usr/bin/env bash
# Several controllers, one truth: a 3-host fleet whose lock and journal
# live on a real 3-member etcd cluster, driven by controllers with state
# folders of their own (as on different machines).
#
# - 20 times, two controllers start a deployment at the same moment:
#   exactly one runs, the other exits 4 naming the holder; never both.
# - The lock holder SIGKILLed mid-deployment: a second controller with an
#   empty folder is refused while the lease lives, then resumes the run
#   once it has expired, to a whole fleet.
# - One etcd member killed during a deployment: it goes on to the end.
# - Two of three killed (quorum lost): the run stops at the next batch,
#   says so, touches no other host; with the members back, resume from the
#   other folder finishes it.
# - history reads the same from both folders.
# usage: test_etcd.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test etcd 127.0.84

cluster="$here/etcd-cluster"

"$fleet" up 3 --dir "$dir/fleet" --net $net --etcd >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
etcd_dir="$dir/fleet/etcd"
package 1.0.0 && package 1.1.0 || { echo "FAIL: package"; exit 1; }
A="$dir/state-a"
B="$dir/state-b"
ctl() { local s=$1; shift; XDG_STATE_HOME="$s" "$ivrctl" "$@"; }
# ctl_bg STATE ARGS... &: the same in the background, $! its pid.
ctl_bg() { local s=$1; shift; XDG_STATE_HOME="$s" exec "$ivrctl" "$@"; }
ctl "$A" deploy "$plan" --artifact "$(art 1.0.0)" >/dev/null || { echo "FAIL: first install"; exit 1; }

# until_unlocked STATE OUT CMD...: CMD until it no longer exits 4 (a lock
# whose lease has not run out yet), for up to 20 s; sets rc and tries.
until_unlocked() {
	local s=$1 o=$2
	shift 2
	for tries in $(seq 40); do
		ctl "$s" "$@" >"$o" 2>&1
		rc=$?
		[ "$rc" -ne 4 ] && return 0
		sleep 0.5
	done
}

# 1. The race.
both=0 none=0 named=0
for i in $(seq 20); do
	v=1.1.0
	[ $((i % 2)) -eq 0 ] && v=1.0.0
	ctl_bg "$A" deploy "$plan" --artifact "$(art $v)" >"$dir/a.out" 2>&1 &
	pa=$!
	ctl_bg "$B" deploy "$plan" --artifact "$(art $v)" >"$dir/b.out" 2>&1 &
	pb=$!
	wait "$pa"; ra=$?
	wait "$pb"; rb=$?
	if [ "$ra" -eq 0 ] && [ "$rb" -eq 0 ]; then both=$((both + 1)); fi
	if [ "$ra" -ne 0 ] && [ "$rb" -ne 0 ]; then none=$((none + 1)); fi
	loser="$dir/b.out"
	[ "$ra" -eq 4 ] && loser="$dir/a.out"
	if [ $((ra + rb)) -eq 4 ] && grep -q "the environment is locked by root@.*, pid [0-9]*, run d-[0-9T]*Z-[0-9a-f]*, since .*(on etcd" "$loser"; then
		named=$((named + 1))
	else
		fail "race $i: exits $ra and $rb: $(tail -1 "$dir/a.out") / $(tail -1 "$dir/b.out")"
	fi
	fleet_on "$v" || fail "race $i: the fleet is not whole on $v"
done
[ "$both" -eq 0 ] || fail "both controllers ran $both times"

# 2. The holder killed after its canary; B takes over once the lease ends.
ctl_bg "$A" deploy "$plan" --artifact "$(art 1.1.0)" >"$dir/kill.out" 2>&1 &
pa=$!
for i in $(seq 100); do grep -q "phase half" "$dir/kill.out" && break; sleep 0.05; done
kill -KILL "$pa"
wait "$pa" 2>/dev/null
grep -q "summary:" "$dir/kill.out" && fail "the holder ended before it was killed"
killed_at=$(date +%s%N)
out=$(ctl "$B" resume "$plan" 2>&1); rc=$?
[ "$rc" -eq 4 ] && [[ "$out" == *"its lease has"*"left unless renewed"* ]] ||
	fail "resume while the dead holder's lease lives: exit $rc: $out"
until_unlocked "$B" "$dir/takeover.out" resume "$plan"
took=$(( ($(date +%s%N) - killed_at) / 1000000 ))
[ "$rc" -eq 0 ] || fail "takeover: resume from an empty folder: exit $rc: $(tail -3 "$dir/takeover.out")"
fleet_on 1.1.0 || fail "takeover: the fleet is not whole on 1.1.0: $(ctl "$B" status "$plan" 2>&1 | tail -6)"

# 3. One member killed during a deployment (the one answering first).
ctl_bg "$A" deploy "$plan" --artifact "$(art 1.0.0)" >"$dir/one.out" 2>&1 &
pa=$!
sleep 0.5
"$cluster" stop --dir "$etcd_dir" 1
wait "$pa"; rc=$?
[ "$rc" -eq 0 ] || fail "one member down: deploy exit $rc: $(tail -3 "$dir/one.out")"
fleet_on 1.0.0 || fail "one member down: the fleet is not whole on 1.0.0"
"$cluster" start --dir "$etcd_dir" --net $net 1
"$cluster" wait --dir "$etcd_dir" --net $net || fail "member 1 did not rejoin"

# 4. Quorum lost while the canary soaks.
sed 's/- { name: canary, hosts: 1 }/- { name: canary, hosts: 1, pause: 6s }/' "$plan" >"$dir/fleet/plan-soak.yaml"
splan="$dir/fleet/plan-soak.yaml"
ctl_bg "$A" deploy "$splan" --artifact "$(art 1.1.0)" >"$dir/quorum.out" 2>&1 &
pa=$!
for i in $(seq 100); do grep -q "pause 6000 ms" "$dir/quorum.out" && break; sleep 0.05; done
"$cluster" stop --dir "$etcd_dir" 1
"$cluster" stop --dir "$etcd_dir" 2
wait "$pa"; rc=$?
[ "$rc" -eq 3 ] && grep -q "LOST THE ENVIRONMENT'S LOCK (its lease .*): stopping here, before another host is touched" "$dir/quorum.out" ||
	fail "quorum lost: exit $rc: $(tail -4 "$dir/quorum.out")"
grep -q "summary: deploy .*: stopped (exit 3)" "$dir/quorum.out" || fail "quorum lost: no stopped summary: $(tail -2 "$dir/quorum.out")"
# the stop is said once, by the run: no error of a request that succeeded
! grep -q "^ivrctl: " "$dir/quorum.out" || fail "quorum lost: a stray error: $(grep "^ivrctl: " "$dir/quorum.out")"
moved=$(grep -c "activate 1.1.0" "$dir/quorum.out")
[ "$moved" -eq 1 ] || fail "quorum lost: $moved hosts were moved, not the canary alone"
"$cluster" start --dir "$etcd_dir" --net $net 1
"$cluster" start --dir "$etcd_dir" --net $net 2
"$cluster" wait --dir "$etcd_dir" --net $net || fail "quorum back: the cluster is not healthy"
until_unlocked "$B" "$dir/after.out" resume "$splan"
[ "$rc" -eq 0 ] || fail "quorum back: resume exit $rc: $(tail -3 "$dir/after.out")"
fleet_on 1.1.0 || fail "quorum back: the fleet is not whole on 1.1.0: $(tail -4 "$dir/after.out"); status: $(ctl "$B" status "$plan" 2>&1 | tail -6)"

# 5. One history.
ha=$(ctl "$A" history "$plan")
hb=$(ctl "$B" history "$plan")
[ "$ha" = "$hb" ] || fail "history differs between the folders"
runs=$(($(wc -l <<<"$ha") - 1))
ctl "$B" history "$plan" --output json | fits history || fail "history --output json does not fit the schema"
[ "$runs" -ge 24 ] || fail "history shows $runs runs"

[ "$failed" -eq 0 ] && echo "etcd: 20 races, one controller each time (the other exit 4 naming the holder); a killed holder's run resumed from an empty folder ${took} ms after the kill; one member down: deploy done; quorum lost: stopped after the canary, resumed once back; history the same from both folders ($runs runs)"
exit "$failed"

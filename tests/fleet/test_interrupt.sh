#!/usr/bin/env bash
# ivrctl killed with SIGKILL at up to 8 moments of a deployment (while
# connecting, pre-staging, draining, swapping, waiting for readiness, in
# the second phase, ...): each time, `ivrctl rollback --break-lock` brings
# every host back to the release the deployment started from, ready and
# READY in the pool.  Then 8 more kills, each followed by `ivrctl resume
# --break-lock`, which finishes the deployment: every host on the new
# release, ready and READY.
# usage: test_interrupt.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test interrupt 127.0.93
trap '"$fleet" down --dir "$dir/fleet" >/dev/null 2>&1; [ "$failed" -eq 0 ] || "$ivrctl" history "$plan"; rm -rf "$dir"' EXIT

"$fleet" up 3 --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
for v in 1.0.0 1.1.0; do
	package $v
done
"$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.0.0.tar.gz" >/dev/null ||
	{ echo "FAIL: first install"; exit 1; }
# How long an undisturbed deployment takes here, to spread the kills.
start=$(date +%s%N)
"$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.1.0.tar.gz" >/dev/null ||
	fail "the timing deployment failed"
span=$(( ($(date +%s%N) - start) / 1000000 ))
"$ivrctl" rollback "$plan" --to 1.0.0 >/dev/null || fail "back to 1.0.0 before the kills"

# kill_deploy K OUT: deploys 1.1.0 and SIGKILLs ivrctl at the K-th of 8
# moments spread over the deployment; sets at (ms) and last (its last
# line).  Fails when the run ended before the kill (a loaded machine).
kill_deploy() {
	local pid status
	at=$(( span * 85 * (2 * $1 - 1) / 1600 ))
	"$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.1.0.tar.gz" > "$2" 2>&1 &
	pid=$!
	sleep "$(awk -v ms="$at" 'BEGIN { printf "%.3f", ms / 1000 }')"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	status=$?
	last=$(tail -n1 "$2" | sed 's/^\[ *[0-9.]*s\] //')
	[ "$status" -eq 137 ]
}

points=""
killed=0
for k in 1 2 3 4 5 6 7 8; do
	kill_deploy "$k" "$dir/run$k.out" && killed=$((killed + 1))
	points="$points\n  ${at} ms: $last"
	out=$("$ivrctl" rollback "$plan" --break-lock 2>&1); rc=$?
	[ "$rc" -eq 0 ] || fail "kill $k at ${at} ms (after '$last'): rollback exit $rc: $out"
	fleet_on 1.0.0 || fail "kill $k at ${at} ms (after '$last'): the fleet is not back on 1.0.0 and READY"
done

# history lists every killed deployment as interrupted.
[ "$killed" -ge 6 ] || fail "only $killed of 8 deployments were killed before they ended"
n=$("$ivrctl" history "$plan" | grep -c ' deploy .* -> 1\.1\.0 *interrupted')
[ "$n" -eq "$killed" ] || fail "history shows $n interrupted deployments, not $killed"

# The same kills, and resume finishes each deployment instead.
rpoints=""
resumed=0
for k in 1 2 3 4 5 6 7 8; do
	if kill_deploy "$k" "$dir/res$k.out"; then
		start=$(date +%s%N)
		out=$("$ivrctl" resume "$plan" --break-lock 2>&1); rc=$?
		took=$(( ($(date +%s%N) - start) / 1000000 ))
		[ "$rc" -eq 0 ] || fail "kill $k at ${at} ms (after '$last'): resume exit $rc: $out"
		resumed=$((resumed + 1))
		rpoints="$rpoints\n  ${at} ms: $last; resumed in ${took} ms"
	fi
	fleet_on 1.1.0 || fail "kill $k at ${at} ms: resume did not leave every host on 1.1.0 and READY"
	"$ivrctl" rollback "$plan" --to 1.0.0 >/dev/null || fail "back to 1.0.0 after resume $k"
done
[ "$resumed" -ge 6 ] || fail "only $resumed of 8 deployments were killed and resumed"
n=$("$ivrctl" history "$plan" | grep -c ' deploy .* -> 1\.1\.0 *interrupted')
[ "$n" -eq "$killed" ] || fail "after resume, history shows $n interrupted deployments, not $killed"
out=$("$ivrctl" resume "$plan" 2>&1); rc=$?
[ "$rc" -eq 2 ] && [[ "$out" == *"holds no interrupted deployment: nothing to resume"* ]] ||
	fail "resume with nothing open: exit $rc: $out"

[ "$failed" -eq 0 ] && printf "interrupt: a %d ms deployment killed at %d of 8 points, each time rolled back whole:%b\n" "$span" "$killed" "$points"
[ "$failed" -eq 0 ] && printf "interrupt: killed at %d of 8 points, each time resumed to 1.1.0 whole:%b\n" "$resumed" "$rpoints"
exit "$failed"

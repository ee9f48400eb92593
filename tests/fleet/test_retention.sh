#!/usr/bin/env bash
# Retention (rollout.keep_releases) on a 2-host sandbox fleet: after 8
# deployments with keep_releases: 3, each host holds 3 staged releases and
# in incoming/ only the artifacts those came from; the current release
# and the one it replaced are among them, and `ivrctl rollback` still goes
# back (without an upload: the release is on disk).
# usage: test_retention.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test retention 127.0.77

"$fleet" up 2 --dir "$dir/fleet" --net $net >"$dir/up.out" ||
	{ echo "FAIL: fleet up: $(cat "$dir/up.out")"; exit 1; }
plan="$dir/fleet/plan.yaml"
sed -i 's/^  capacity_floor: 50%$/  capacity_floor: 50%\n  keep_releases: 3/' "$plan"
grep -q "^  keep_releases: 3$" "$plan" || { echo "FAIL: no keep_releases in the plan"; exit 1; }
pruned=0
for i in 1 2 3 4 5 6 7 8; do
	package "1.0.$i"
	out=$("$ivrctl" deploy "$plan" --artifact "$(art "1.0.$i")" 2>&1) || fail "deploy 1.0.$i: $out"
	pruned=$((pruned + $(grep -c "pruned 1 release(s) and 1 artifact(s), keeping 3" <<<"$out")))
done
echo "8 deployments: $pruned host prunings of one release and one artifact each"
[ "$pruned" -eq 10 ] || fail "not 10 prunings (2 hosts x deployments 4 to 8): $pruned"
for h in ivr-01 ivr-02; do
	root="$dir/fleet/hosts/$h/root"
	rels=$(cd "$root/releases" && ls | sort -V | tr '\n' ' ')
	[ "$rels" = "1.0.6 1.0.7 1.0.8 " ] || fail "$h holds releases: $rels"
	want=$(for v in 6 7 8; do cut -d' ' -f1 "$(art "1.0.$v").sha256"; done | sort | tr '\n' ' ')
	got=$(cd "$root/incoming" && ls | sort | tr '\n' ' ')
	[ "$got" = "$want" ] || fail "$h incoming/ holds: $got (want the artifacts of 1.0.6-1.0.8: $want)"
	echo "$h: releases $rels; incoming/: $(wc -w <<<"$got") artifact(s), those of the kept releases"
done
out=$("$ivrctl" rollback "$plan" 2>&1) || fail "rollback after pruning: $out"
fleet_on 1.0.7 || fail "the fleet is not back on 1.0.7: $out"
grep -q "uploaded" <<<"$out" && fail "the rollback uploaded something: $out"

[ "$failed" -eq 0 ] && echo "PASS: retention: 3 releases and their artifacts kept per host after 8 deployments; rollback still works"
exit "$failed"

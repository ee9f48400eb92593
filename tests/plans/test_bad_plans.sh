#!/usr/bin/env bash
# The bad-plan corpus: each tests/data/plans/bad/NN-name.yaml must be
# refused by `ivrctl validate` with exit code 2 and exactly the messages in
# NN-name.expected; good.yaml and every playbook must pass.
# usage: test_bad_plans.sh IVRCTL
set -uo pipefail
ivrctl=$1
cd "$(dirname "$0")/../data/plans" || exit 1
failed=0
count=0

if ! "$ivrctl" validate good.yaml >/dev/null; then
	echo "FAIL: good.yaml does not validate"
	failed=1
fi
for plan in ../../../playbooks/*.yaml; do
	if ! "$ivrctl" validate "$plan" >/dev/null; then
		echo "FAIL: the playbook $plan does not validate"
		failed=1
	fi
done
for plan in bad/*.yaml; do
	count=$((count + 1))
	want="${plan%.yaml}.expected"
	got=$("$ivrctl" validate "$plan" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -ne 2 ]; then
		echo "FAIL: $plan: exit $rc, not 2"
		failed=1
	elif ! diff -u "$want" <(printf '%s\n' "$got") >/dev/null; then
		echo "FAIL: $plan: messages differ:"
		diff -u "$want" <(printf '%s\n' "$got")
		failed=1
	fi
done
[ "$failed" -eq 0 ] && echo "bad plans: $count refused with the expected messages; good.yaml and the playbooks valid"
exit "$failed"

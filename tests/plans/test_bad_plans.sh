#!/usr/bin/env bash
# The bad-plan corpus: each tests/data/plans/bad/NN-name.yaml must be
# refused by `ivrctl validate` with exit code 2 and exactly the messages in
# NN-name.expected; good.yaml and every playbook must pass.
# usage: test_bad_plans.sh IVRCTL
set -uo pipefail
ivrctl=$1
cd "$(dirname "$0")/../data/plans" || exit 1
chmod 0644 bad/db.pgpass # a password file others may read, whatever the umask
failed=0
count=0
top=$(cd ../../.. && pwd)
# fits: standard input is a `validate --output json` document.
fits() {
	"$top/scripts/validate-schema.py" --def validate \
		"$top/schemas/ivrctl-output.schema.json" - >/dev/null
}

if ! "$ivrctl" validate good.yaml >/dev/null; then
	echo "FAIL: good.yaml does not validate"
	failed=1
fi
json=$("$ivrctl" validate good.yaml --output json)
if [ $? -ne 0 ] || ! fits <<<"$json" || ! grep -q '"valid":true,"environment":"corpus","hosts":4,"phases":3' <<<"$json"; then
	echo "FAIL: good.yaml --output json: $json"
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
	# --output json: the same problems, in the same order, and a
	# document that fits the output schema.
	json=$("$ivrctl" validate "$plan" --output json 2>/dev/null)
	rc=$?
	if [ "$rc" -ne 2 ] || ! fits <<<"$json"; then
		echo "FAIL: $plan: --output json: exit $rc: $json"
		failed=1
	elif ! diff -u <(grep -v '^\.\.\. and\|problems\?; nothing was done$' <<<"$got") \
		<(/usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert not d["valid"]
for p in d["problems"]:
    print("%s:%d:%d: %s" % (p["path"], p["line"], p["column"], p["message"])
          if p["line"] else "%s: %s" % (p["path"], p["message"]))
if "error" in d:
    print("ivrctl: " + d["error"])' <<<"$json"); then
		echo "FAIL: $plan: --output json says other problems than the text"
		failed=1
	fi
done
# A 10 MB plan (made here, not kept in the tree): placed where it passes
# the 1 MiB cap, nothing else read.
big=$(mktemp -d /tmp/ivr-bigplan.XXXXXX)
trap 'rm -rf "$big"' EXIT
{ cat good.yaml; yes '# padding padding padding padding padding padding' | head -c 10000000; } > "$big/plan.yaml"
got=$("$ivrctl" validate "$big/plan.yaml" 2>&1 >/dev/null)
rc=$?
count=$((count + 1))
line=$(head -c 1048576 "$big/plan.yaml" | wc -l)
want="$big/plan.yaml:$((line + 1)):$(( $(head -c 1048576 "$big/plan.yaml" | tail -n 1 | wc -c) + 1 )): the plan is larger than 1048576 bytes (it goes on past here)"
if [ "$rc" -ne 2 ] || ! grep -qxF "$want" <<<"$got"; then
	echo "FAIL: a 10 MB plan: exit $rc: $got (want: $want)"
	failed=1
fi

[ "$failed" -eq 0 ] && echo "bad plans: $count refused with the expected messages (and the same problems with --output json); good.yaml and the playbooks valid"
exit "$failed"

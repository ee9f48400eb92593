#!/usr/bin/env bash
# The flow schema accepts the shipped flows and refuses known-bad shapes.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
check="$top/scripts/validate-schema.py"
schema="$top/schemas/flow.schema.json"
failed=0

if ! out=$("$check" "$schema" "$top"/ivr-runtime/share/flows/*.yaml); then
	echo "FAIL: shipped flows do not validate:"; echo "$out"; failed=1
fi

out=$("$check" "$schema" "$top/tests/data/flows/bad-kinds.yaml")
rc=$?
for want in \
	"at nodes/a: " \
	"at nodes/b/store: 'balance' is not one of" \
	"at nodes/c/menu: '12' does not match"; do
	if ! grep -qF "$want" <<<"$out"; then
		echo "FAIL: expected a problem '$want' in:"; echo "$out"; failed=1
	fi
done
[ "$rc" -eq 1 ] || { echo "FAIL: bad flow exited $rc, not 1"; failed=1; }

[ "$failed" -eq 0 ] && echo "flow schema: shipped flows valid, bad shapes refused"
exit "$failed"

#!/usr/bin/env bash
# Every plan under playbooks/ (and the corpus's good plan) fits
# schemas/plan.schema.json; a plan with a wrong shape does not.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
check="$top/scripts/validate-schema.py"
schema="$top/schemas/plan.schema.json"
failed=0

if ! out=$("$check" "$schema" "$top"/playbooks/*.yaml "$top/tests/data/plans/good.yaml"); then
	echo "FAIL: plans do not fit the schema:"; echo "$out"; failed=1
fi
for bad in 02-not-a-mapping 04-unknown-top-key 20-bad-duration 30-bad-percentage; do
	if "$check" "$schema" "$top/tests/data/plans/bad/$bad.yaml" >/dev/null; then
		echo "FAIL: the schema accepts bad/$bad.yaml"; failed=1
	fi
done
# Every key the schema knows is documented in docs/plan-reference.md.
if ! out=$(/usr/bin/python3 - "$schema" "$top/docs/plan-reference.md" <<'PY'
import json, sys
schema = json.load(open(sys.argv[1]))
doc = open(sys.argv[2]).read()
keys = set()
def walk(node):
    if isinstance(node, dict):
        for k, v in node.get("properties", {}).items():
            keys.add(k)
        for v in node.values():
            walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)
walk(schema)
missing = sorted(k for k in keys if "`" + k + "`" not in doc)
if missing:
    print("undocumented keys: " + ", ".join(missing))
    sys.exit(1)
print(f"{len(keys)} keys documented")
PY
); then
	echo "FAIL: $out"; failed=1
fi

[ "$failed" -eq 0 ] && echo "plan schema: $out; $(ls "$top"/playbooks/*.yaml | wc -l) playbooks and the good plan fit; 4 misshapen plans refused"
exit "$failed"

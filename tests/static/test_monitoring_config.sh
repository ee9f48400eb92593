#!/usr/bin/env bash
# The monitoring files shipped in monitoring/ (docs/monitoring.md), checked
# with the tools that will load them:
#  - Prometheus rules: promtool check rules, and promtool test rules with a
#    case for every alert;
#  - the Alertmanager example: amtool check-config, and where each alert
#    is routed (amtool config routes test --verify.receivers);
#  - the Grafana dashboard: JSON with a uid, every panel a Prometheus
#    target with an expression (test_analysis_fleet runs them all).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
failed=0
fail() { echo "FAIL: $*"; failed=1; }

cd "$top/monitoring/prometheus" || exit 1
promtool check rules ivr-rules.yml >/dev/null || fail "promtool check rules"
out=$(promtool test rules ivr-rules.test.yml 2>&1) || fail "promtool test rules: $out"
# every alert has a test
for a in $(grep -o 'alert: [A-Za-z0-9]*' ivr-rules.yml | cut -d' ' -f2); do
	grep -q "alertname: $a$" ivr-rules.test.yml || fail "alert $a has no test"
done

cd "$top/monitoring/alertmanager" || exit 1
amtool check-config alertmanager.yml >/dev/null || fail "amtool check-config"
route() { # WANT LABELS...: the receivers the labels go to
	local want=$1
	shift
	amtool config routes test --config.file=alertmanager.yml --verify.receivers="$want" "$@" >/dev/null 2>&1 ||
		fail "route of $*: not $want"
}
route ivr-oncall,ivr-release-channel severity=page alertname=IvrCallErrorRatioHigh
route ivr-oncall severity=page alertname=IvrRuntimeDown
route ivr-tickets severity=ticket alertname=IvrDrainStuck
route ivr-tickets alertname=SomethingElse

python3 - "$top/monitoring/grafana/ivr-fleet.json" <<'PY' || fail "the Grafana dashboard"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["uid"] and d["title"], "no uid or title"
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "panel ids repeat"
for p in d["panels"]:
    assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
    assert p["datasource"]["type"] == "prometheus", p["title"]
assert d["annotations"]["list"], "no deploy annotations"
print("grafana: %d panels, %d expressions, %d annotations" % (len(d["panels"]),
      sum(len(p["targets"]) for p in d["panels"]), len(d["annotations"]["list"])))
PY
[ "$failed" -eq 0 ] && echo "PASS: monitoring/: rules tested, Alertmanager routes verified, dashboard well-formed"
exit "$failed"

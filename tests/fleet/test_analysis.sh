#!/usr/bin/env bash
# Canary analysis against the sandbox's real Prometheus (fleet up
# --analysis: the canary soaks 16 s while two checks run every 2 s), under
# 30 callers through HAProxy on a 4-host fleet:
#  - a healthy release passes both checks and goes live;
#  - a release that turns ready but fails one call step in five (packaged
#    with --fault step-errors=5) fails the canary's analysis within the
#    soak and is rolled back automatically (exit 1); the journal holds the
#    failing query and its values; the callers' failed calls are all the
#    canary's (HTTP 500 from the fault) and no step failed on the hosts
#    of the good release;
#  - with Prometheus stopped, analysis is inconclusive, never a pass: the
#    deployment rolls back (inconclusive: fail), or, with inconclusive:
#    wait and no terminal, stops (exit 3) until `ivrctl resume --approve
#    canary` accepts it;
#  - every event fits ivrctl's output schema;
#  - every expression of the Grafana dashboard (monitoring/grafana) runs on
#    this Prometheus, and each panel has data.
# usage: test_analysis.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test analysis 127.0.74
callers_pid=""
trap '[ -n "$callers_pid" ] && kill "$callers_pid" 2>/dev/null; "$fleet" down --dir "$dir/fleet" >/dev/null 2>&1; rm -rf "$dir"' EXIT
prom="https://$net.251:9090"

"$fleet" up 4 --dir "$dir/fleet" --net $net --analysis >"$dir/up.out" ||
	{ echo "FAIL: fleet up: $(cat "$dir/up.out")"; exit 1; }
plan="$dir/fleet/plan.yaml"
journal="$XDG_STATE_HOME/ivr-deploy/sandbox.journal"
fleet_bank "$dir/fleet" ivr_migrate
"$build/ivr-runtime/bin/ivr-runtime" seed "${BANK[@]}" --customers 30 --seed 5 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null || { echo "FAIL: seed"; exit 1; }
package 1.0.0
package 1.1.0
package 1.2.0 --fault step-errors=5
package 1.3.0

out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" 2>&1) || { echo "FAIL: first install: $out"; exit 1; }
grep -q "analysis canary: skipped: a first install" <<<"$out" || fail "a first install ran the analysis: $out"
sleep 1 # HAProxy's checks see every runtime up

"$build/bin/ivr-callers" --url "https://$net.5:8080" --credentials "$dir/cred.json" --cacert "$dir/fleet/tls/ca.pem" \
	--callers 30 --duration 10m --think 100ms --seed 4 --report "$dir/callers.json" \
	>"$dir/callers.out" 2>&1 &
callers_pid=$!
sleep 3 # every caller is in a call, and Prometheus has scraped the traffic

# events FILE KIND: the --output json lines of event KIND.
events() { grep "\"event\":\"$2\"" "$1"; }

# A healthy release: both checks pass every round, the fleet goes live.
"$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" --output json >"$dir/good.json" 2>"$dir/good.err" ||
	fail "the healthy 1.1.0 did not go live: $(tail -5 "$dir/good.json")"
fits event --lines <"$dir/good.json" || fail "deploy 1.1.0's events do not fit the schema"
# Every threshold round passes; the comparison is inconclusive until it
# has its samples, then passes; nothing fails.
python3 - "$dir/good.json" <<'PY' || fail "1.1.0's evaluations: $(events "$dir/good.json" analysis | tail -2)"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if '"event":"analysis"' in l]
th = [e["verdict"] for e in ev if e["check"] == "step-errors"]
cmp = [e["verdict"] for e in ev if e["check"] == "errors-vs-old"]
assert len(th) >= 7 and set(th) == {"passed"}, th
assert "failed" not in cmp and cmp[-1] == "passed", cmp
print("1.1.0: step-errors passed %d rounds of %d; errors-vs-old: %d inconclusive (too few samples yet), then %d passed" %
      (len(th), len(th), cmp.count("inconclusive"), cmp.count("passed")))
PY
events "$dir/good.json" analysis-end | grep -q '"verdict":"passed"' ||
	fail "1.1.0's analysis did not pass: $(events "$dir/good.json" analysis-end)"
grep -o '"text":"analysis canary [^"]*' "$dir/good.json" | tail -1
fleet_on 1.1.0 || fail "the fleet is not on 1.1.0 after a passing analysis"

# A release that is ready but fails one step in five: caught in the soak.
"$ivrctl" deploy "$plan" --artifact "$(art 1.2.0)" --output json >"$dir/bad.json" 2>"$dir/bad.err"
rc=$?
[ "$rc" -eq 1 ] || fail "the faulty 1.2.0: exit $rc, not 1: $(tail -5 "$dir/bad.json")"
fits event --lines <"$dir/bad.json" || fail "deploy 1.2.0's events do not fit the schema"
grep -q '"text":"analysis canary FAILED: step-errors: rolling back"' "$dir/bad.json" ||
	fail "no failed analysis said: $(grep -o '"text":"[^"]*' "$dir/bad.json" | tail -8)"
soak=$(python3 - "$dir/bad.json" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
start = next(e["elapsed_ms"] for e in ev if e["event"] == "message" and "check(s) every" in e.get("text", ""))
end = next(e["elapsed_ms"] for e in ev if e["event"] == "analysis-end")
print(end - start)
PY
)
echo "the faulty release's analysis failed $soak ms into the canary's 16 s soak"
[ "$soak" -lt 16000 ] || fail "the analysis failed only after the soak: $soak ms"
fleet_on 1.1.0 || fail "the fleet is not back on 1.1.0 after the failed analysis"
# The journal holds the failing evaluation: query, values, verdict.
python3 - "$journal" <<'PY' || fail "the journal lacks the failing evaluation"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
bad = [e for e in ev if e.get("event") == "analysis" and e["verdict"] == "failed" and e["check"] == "step-errors"]
assert bad, "no failed step-errors evaluation"
e = bad[-1]
assert 'release="1.2.0"' in e["query"], e["query"]
assert e["values"] and e["values"][0]["value"] > 0.05, e["values"]
print("journal: %s: %s (query %.60s...)" % (e["check"], e["why"], e["query"]))
PY

# The shipped Grafana dashboard: every expression runs on this
# Prometheus, and every panel has data after this traffic.
SSL_CERT_FILE="$dir/fleet/tls/ca.pem" "$top/tests/support/check-dashboard.py" "$top/monitoring/grafana/ivr-fleet.json" "$prom" >"$dir/dashboard.out" ||
	fail "dashboard queries: $(grep -v '^ok' "$dir/dashboard.out")"
tail -1 "$dir/dashboard.out"

callers_stop() {
	kill -TERM "$callers_pid"
	wait "$callers_pid"
	callers_pid=""
}
callers_stop
python3 - "$dir/callers.json" <<'PY' || fail "callers failed beyond the canary's faults: $(cat "$dir/callers.out")"
import json, sys
r = json.load(open(sys.argv[1]))
bad = {k: v for k, v in r["failures"].items() if "HTTP 500" not in k}
assert not bad, bad
print("callers: %d calls completed, %d failed, each on the faulty canary (HTTP 500)" % (r["completed"], r["failed"]))
PY
# No step failed on the hosts of the good releases, in Prometheus' view.
errs=$(fcurl -s --max-time 5 "$prom/api/v1/query" --data-urlencode \
	'query=sum(max_over_time(ivr_call_steps_total{release=~"1.0.0|1.1.0",outcome=~"error|unavailable"}[10m]))' |
	python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")')
[ "$errs" = 0 ] || fail "steps failed on the good releases: $errs"

# Prometheus stopped: inconclusive, never a pass; the plan says fail.
kill "$(cat "$dir/fleet/prometheus/prometheus.pid")"
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.3.0)" 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "with Prometheus down: exit $rc, not 1: $out"
grep -q "errors-vs-old inconclusive: no answer: Prometheus at $prom" <<<"$out" ||
	fail "no inconclusive evaluation said: $out"
grep -q "inconclusive, and the plan says inconclusive fails" <<<"$out" ||
	fail "inconclusive did not fail the deployment: $out"
fleet_on 1.1.0 || fail "the fleet is not back on 1.1.0 after an inconclusive analysis"

# inconclusive: wait, and no terminal: stopped, then accepted by a human.
sed 's/^  inconclusive: fail$/  inconclusive: wait/' "$plan" >"$dir/fleet/plan-wait.yaml"
out=$("$ivrctl" deploy "$dir/fleet/plan-wait.yaml" --artifact "$(art 1.3.0)" 2>&1 </dev/null)
rc=$?
[ "$rc" -eq 3 ] || fail "inconclusive: wait: exit $rc, not 3: $out"
grep -q "no terminal to ask: stopped here" <<<"$out" || fail "no stop said: $out"
out=$("$ivrctl" resume "$dir/fleet/plan-wait.yaml" --approve canary 2>&1 </dev/null) ||
	fail "resume --approve canary: $out"
grep -q "analysis canary: accepted without running again by --approve canary" <<<"$out" ||
	fail "the resume did not take the approval: $out"
grep -q "done: every host on 1.3.0" <<<"$out" || fail "the resume did not finish: $out"

[ "$failed" -eq 0 ] && echo "PASS: canary analysis: a healthy release passes, a faulty one is rolled back in its soak, Prometheus down never passes"
exit "$failed"

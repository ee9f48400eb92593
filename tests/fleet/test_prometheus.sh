#!/usr/bin/env bash
# The sandbox's Prometheus (tests/fleet/fleet up --prometheus), real and on
# loopback (127.0.73.251):
#  - after a deploy, both runtimes are scraped (up == 1), with their host
#    as a label, and report the release they run (ivr_build_info);
#  - the shipped rules (monitoring/prometheus/ivr-rules.yml) evaluate on
#    the real metrics: one release in the fleet, a failed-call ratio per
#    host, no alert firing;
#  - a target added to the file the fleet writes (file-based service
#    discovery, what a scale-out does) is picked up without a restart;
#  - fleet down stops Prometheus by its pid.
# usage: test_prometheus.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test prometheus 127.0.73
prom="https://$net.251:9090"

"$fleet" up 2 --dir "$dir/fleet" --net $net --prometheus >"$dir/up.out" ||
	{ echo "FAIL: fleet up: $(cat "$dir/up.out")"; exit 1; }
pid=$(cat "$dir/fleet/prometheus/prometheus.pid")
grep -q "^prometheus" "/proc/$pid/comm" || fail "pid $pid is not Prometheus"
package 1.0.0
"$ivrctl" deploy "$dir/fleet/plan.yaml" --artifact "$(art 1.0.0)" --yes >"$dir/deploy.out" 2>&1 ||
	{ echo "FAIL: deploy: $(tail -3 "$dir/deploy.out")"; exit 1; }

# query PROMQL: "labels=value" lines, sorted (labels as k=v, comma-joined).
query() {
	fcurl -s --max-time 5 "$prom/api/v1/query" --data-urlencode "query=$1" |
		python3 -c 'import json, sys
d = json.load(sys.stdin)
assert d["status"] == "success", d
for s in d["data"]["result"]:
    print(",".join(f"{k}={v}" for k, v in sorted(s["metric"].items())) + "=" + s["value"][1])' | sort
}
# until_query PROMQL WANT [SECONDS]: waits for the answer to be WANT.
until_query() {
	local i got=""
	for i in $(seq $((${3:-15} * 5))); do
		got=$(query "$1" | tr '\n' ' ')
		[ "$got" = "$2" ] && return 0
		sleep 0.2
	done
	fail "$1: want '$2', got '$got'"
	return 1
}

start=$(date +%s%N)
until_query 'sum by (host) (up{job="ivr-runtime"})' "host=ivr-01=1 host=ivr-02=1 "
echo "both runtimes scraped $((($(date +%s%N) - start) / 1000000)) ms after the deploy"
until_query 'count by (version) (ivr_build_info)' "version=1.0.0=2 "
series=$(query 'count by (host) ({job="ivr-runtime", __name__=~"ivr_.*"})' | tr '\n' ' ')
echo "series per host: $series"
grep -q "host=ivr-01=" <<<"$series" && grep -q "host=ivr-02=" <<<"$series" || fail "ivr_ series per host: $series"

# The shipped rules, evaluated on the runtimes' real metrics.
until_query 'sum(ivr:fleet_releases:count)' "=1 " 40 &&
	echo "monitoring/prometheus/ivr-rules.yml: ivr:fleet_releases:count = 1"
until_query 'count by (host) (ivr:calls_failed:ratio_rate1m)' "host=ivr-01=1 host=ivr-02=1 " 40
firing=$(query 'count(ALERTS{alertstate="firing"})' | tr '\n' ' ')
[ -z "$firing" ] || fail "alerts fire on a healthy fleet: $(query 'ALERTS' | tr '\n' ' ')"

# A third target in the file the fleet writes: Prometheus reads it again.
f="$dir/fleet/prometheus/targets.json"
python3 - "$f" "$net" <<'PY'
import json, os, sys
t = json.load(open(sys.argv[1]))
t.append({"targets": [sys.argv[2] + ".9:8080"], "labels": {"host": "ivr-09"}})
open(sys.argv[1] + ".tmp", "w").write(json.dumps(t))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
PY
until_query 'sum by (host, instance) (up{host="ivr-09"})' "host=ivr-09,instance=$net.9:8080=0 " 20 &&
	echo "a target added to targets.json: scraped (and down, as nothing listens there)"

"$fleet" down --dir "$dir/fleet" >/dev/null
for _ in $(seq 50); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
[ -e "/proc/$pid" ] && fail "Prometheus (pid $pid) still runs after fleet down"

[ "$failed" -eq 0 ] && echo "PASS: the sandbox's Prometheus scrapes every runtime, follows its targets file and stops with the fleet"
exit "$failed"

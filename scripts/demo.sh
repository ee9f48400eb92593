#!/usr/bin/env bash
# The sandbox-fleet demo (make demo): 4 hosts (sshd each, 127.0.1.1-4)
# behind HAProxy (127.0.1.7), the bank on PostgreSQL 15 (127.0.1.250; or
# SQLite with IVR_DEMO_DB=sqlite), TLS on every link (the fleet's
# throw-away CA: callers to HAProxy, HAProxy to the runtimes, the agents'
# checks, the runtimes to PostgreSQL).  Seeds the bank,
# installs release 1.0.0, starts 30 simulated callers through the
# balancer, goes live with 1.1.0 (the bank backed up and 1.1.0's expand
# migration applied first; then canary, 50%, the rest; each host smoke-
# called before it takes calls, the canary watched by Prometheus for 16 s
# against the hosts still on 1.0.0), tries a broken 1.2.0 whose canary
# never turns ready, a 1.3.0 that turns ready but fails one call step in
# five (its canary analysis fails) and a 1.4.0 that refuses every login
# (its smoke call fails), each rolled back automatically, grows the pool
# from 4 to 6 hosts (ivrctl scale), ships a change of the runtime's
# settings with new certificates in phases and rolls it back, shows two controllers sharing the
# lock and the journal on a 3-member etcd cluster (one refused, a gate
# approved from the other, an on-call rollback from a third), stops the
# callers and prints their tally, the ledger check, status, history and
# the database's migrations and backups, and leaves the fleet running
# with a curl line to place a call by hand.
# Exit 0 when every step did what it said; on any other outcome it stops
# every process it started and exits 1.
# usage: demo.sh BUILD_DIR  (the fleet goes to $IVR_DEMO_DIR, /tmp/ivr-demo)
set -uo pipefail
build=$1
top=$(cd "$(dirname "$0")/.." && pwd)
db=${IVR_DEMO_DB:-postgresql}
. "$top/tests/fleet/lib.sh" # fleet_bank; the fleet migrates with $build's runtime
fleet="$top/tests/fleet/fleet"
ivrctl="$build/bin/ivrctl"
dir=${IVR_DEMO_DIR:-/tmp/ivr-demo}
plan="$dir/fleet/plan.yaml"
lb=https://127.0.1.7:8080
ca="$dir/fleet/tls/ca.pem" # the sandbox's CA: the balancer's certificate
callers_pid=""
export XDG_STATE_HOME="$dir/state" # the demo's journal and lock

give_up() {
	echo "demo: $*" >&2
	[ -n "$callers_pid" ] && kill "$callers_pid" 2>/dev/null
	"$fleet" down --dir "$dir/fleet" >/dev/null 2>&1
	exit 1
}
trap 'give_up "interrupted"' INT TERM
step() { printf '\n== %s\n' "$*"; }
run() { # run EXPECTED_EXIT command...: gives up on another exit code
	local want=$1 rc
	shift
	echo "\$ ${*/#$build\/bin\//}"
	"$@"
	rc=$?
	[ "$rc" -eq "$want" ] || give_up "exit $rc, expected $want"
}

if [ -d "$dir/fleet/hosts" ]; then
	step "stopping the fleet of an earlier demo in $dir"
	"$fleet" down --dir "$dir/fleet" || exit 1
fi
rm -rf "$dir"
mkdir -p "$dir"
chmod 0711 "$dir" # the bank's PostgreSQL (the postgres account) passes through

step "a sandbox fleet: 4 hosts (one sshd each, 127.0.1.1-4) behind HAProxy (127.0.1.7), 2 spare hosts (127.0.1.5-6), the bank on $db, Prometheus scraping every runtime (127.0.1.251:9090), canary analysis in the plan, a 3-member etcd cluster for the lock and the journal"
"$fleet" up 4 --spare 2 --dir "$dir/fleet" --net 127.0.1 --db "$db" --analysis --etcd || give_up "the fleet did not start"
echo "the environment's lock and journal live on the 3-member etcd cluster (127.0.1.241-243), shared by every controller:"
sed -n '/^state:/,$p' "$plan"

step "the bank: 40 demo customers in the shared $db database (as the migration role)"
fleet_bank "$dir/fleet" ivr_migrate
"$build/ivr-runtime/bin/ivr-runtime" seed "${BANK[@]}" --customers 40 --seed 7 \
	--credentials-out "$dir/credentials.json" --kdf-iterations 1000 || give_up "seeding failed"
# The 40th customer answers the smoke calls (the callers use the first 30).
python3 - "$dir/credentials.json" "$dir/fleet/smoke.json" <<'PY' || give_up "no smoke customer"
import json, os, sys
c = json.load(open(sys.argv[1]))["customers"][39]
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps({"account": c["accounts"][0]["number"], "pin": c["pin"]}).encode())
PY
printf 'smoke:\n  credentials: smoke.json\n  transfer_cents: 100\n' | tee -a "$dir/fleet/plan-all.yaml" >>"$plan"
echo "the plan's canary soaks 16 s under two checks, and every host gets a smoke call before it takes calls:"
sed -n '/^analysis:/,$p' "$plan"
"$top/scripts/package-runtime.sh" --build "$build" --version 1.0.0 --out "$dir/dist" >/dev/null ||
	give_up "packaging 1.0.0 failed"
# 1.1.0 brings an expand migration (a nullable column): the deploy backs
# the bank up and applies it before the first host swaps.
"$top/scripts/package-runtime.sh" --build "$build" --version 1.1.0 --out "$dir/dist" \
	--extra-db "$top/tests/data/migrations/expand" >/dev/null || give_up "packaging 1.1.0 failed"
"$top/scripts/package-runtime.sh" --build "$build" --version 1.2.0 --broken --out "$dir/dist" \
	--extra-db "$top/tests/data/migrations/expand" >/dev/null ||
	give_up "packaging 1.2.0 failed"
# 1.3.0 passes its smoke call, then fails one call step in five from 5 s
# after it starts; 1.4.0 refuses every login.
for v in "1.3.0 --fault step-errors=5 --fault after=5" "1.4.0 --fault login" 1.5.0; do
	# shellcheck disable=SC2086 # the fault flags split on purpose
	"$top/scripts/package-runtime.sh" --build "$build" --version ${v} \
		--out "$dir/dist" --extra-db "$top/tests/data/migrations/expand" >/dev/null ||
		give_up "packaging ${v%% *} failed"
done

step "first install: release 1.0.0 on every host"
run 0 "$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.0.0.tar.gz"
sleep 1 # HAProxy's health checks see every runtime up

step "30 callers start phoning in through the balancer ($lb)"
"$build/bin/ivr-callers" --url "$lb" --cacert "$ca" --credentials "$dir/credentials.json" --callers 30 \
	--duration 10m --think 150ms --acks "$dir/acks" --report "$dir/callers.json" \
	> "$dir/callers.out" 2>&1 &
callers_pid=$!
sleep 2
echo "callers running (pid $callers_pid): log in, balances, a transfer, recent transactions, hang up; again"

step "the dry run of 1.1.0, then go live: the database backed up and 1.1.0's expand migration applied, then canary (smoke call, 16 s of analysis), 50%, the rest, each host drained of its calls first"
run 0 "$ivrctl" plan "$plan" --artifact "$dir/dist/ivr-runtime-1.1.0.tar.gz"
run 0 "$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.1.0.tar.gz"

step "a broken 1.2.0: its canary never turns ready, so the deployment rolls itself back (exit 1)"
run 1 "$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.2.0.tar.gz"

step "1.3.0 turns ready and passes its smoke call, then fails one call step in five under load: the canary's analysis sees it in Prometheus and the deployment rolls itself back (exit 1)"
run 1 "$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.3.0.tar.gz"

step "1.4.0 turns ready but refuses every login: the canary's smoke call fails before it takes a call, and the deployment rolls itself back (exit 1)"
run 1 "$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.4.0.tar.gz"

step "the pool grows under load: ivr-05 and ivr-06 get 1.1.0, turn ready, answer a smoke call, and only then join HAProxy (its runtime API and its file)"
plan="$dir/fleet/plan-all.yaml"
run 0 "$ivrctl" scale "$plan" --artifact "$dir/dist/ivr-runtime-1.1.0.tar.gz"

# The settings every host has, with its own address, and fewer calls; and
# a new certificate for each host (90 days, from the sandbox's CA), which
# the plan's runtime.tls ships with them.
sed -e 's/address: 127\.0\.1\.1,/address: "{address}",/' -e 's/max_concurrent: 500/max_concurrent: 400/' \
	-e 's/, tls: { cert: tls\/server.pem, key: tls\/server.key }//' \
	"$dir/fleet/hosts/ivr-01/root/shared/runtime.yaml" >"$dir/fleet/settings.yaml"
for i in 1 2 3 4 5 6; do
	"$top/scripts/tls-sandbox.sh" cert "$dir/fleet/tls" "ivr-0$i" --days 90 \
		--san "DNS:ivr-0$i,DNS:ivr-pool,IP:127.0.1.$i" --out "$dir/fleet/tls/rotated-ivr-0$i"
done
{
	cat "$plan"
	printf 'runtime:\n  settings: settings.yaml\n  tls: { cert: "tls/rotated-{name}.pem", key: "tls/rotated-{name}.key" }\n'
} >"$dir/fleet/plan-settings.yaml"
step "the runtime's settings and certificates go out like a release: calls.max_concurrent 500 -> 400 and a new certificate on every host (the plan's runtime: section), in phases, each host drained first"
echo "\$ ivrctl plan $dir/fleet/plan-settings.yaml --artifact $dir/dist/ivr-runtime-1.1.0.tar.gz (ivr-01's lines)"
"$ivrctl" plan "$dir/fleet/plan-settings.yaml" --artifact "$dir/dist/ivr-runtime-1.1.0.tar.gz" |
	sed -n '/^ivr-01 /,/^ivr-02 /p' | sed '$d'
run 0 "$ivrctl" deploy "$dir/fleet/plan-settings.yaml" --artifact "$dir/dist/ivr-runtime-1.1.0.tar.gz"
grep -h 'listening' "$dir"/fleet/hosts/ivr-0[1-6]/root/shared/ivr-runtime.log | tail -6
run 0 "$ivrctl" status "$dir/fleet/plan-settings.yaml"
step "and back: one rollback restores each host's own settings and certificate with the release"
run 0 "$ivrctl" rollback "$dir/fleet/plan-settings.yaml"
run 0 "$ivrctl" status "$dir/fleet/plan-settings.yaml"

# Two controllers, as two release engineers' machines: state folders of
# their own, one etcd cluster between them; a gate on the half phase.
sed 's/- { name: half, hosts: 50% }/- { name: half, hosts: 50%, approval: true, approval_wait: 2m }/' \
	"$plan" >"$dir/fleet/plan-gate.yaml"
gate="$dir/fleet/plan-gate.yaml"
step "two controllers, each with its own state folder, one etcd cluster: A goes live with 1.5.0 (a gate before half); B, started while A runs, is refused (exit 4) and told who holds the lock"
XDG_STATE_HOME="$dir/state-a" "$ivrctl" deploy "$gate" --artifact "$dir/dist/ivr-runtime-1.5.0.tar.gz" >"$dir/a.out" 2>&1 &
a_pid=$!
sleep 1
echo "\$ XDG_STATE_HOME=$dir/state-b ivrctl deploy ... (while A runs)"
XDG_STATE_HOME="$dir/state-b" "$ivrctl" deploy "$gate" --artifact "$dir/dist/ivr-runtime-1.5.0.tar.gz"
rc=$?
[ "$rc" -eq 4 ] || give_up "B: exit $rc, expected 4"
for i in $(seq 600); do grep -q "waits up to" "$dir/a.out" && break; sleep 0.1; done
step "A waits at the half phase's gate; B approves it from its folder (ivrctl approve) and A goes on"
grep "waits up to" "$dir/a.out"
XDG_STATE_HOME="$dir/state-b" run 0 "$ivrctl" approve "$gate" half
wait "$a_pid"
rc=$?
echo "A's deployment:"
sed -n '/waits up to/,$p' "$dir/a.out"
[ "$rc" -eq 0 ] || give_up "A: exit $rc, expected 0"
step "on-call, from a third folder, rolls the fleet back to 1.1.0 with one command: the target comes from the shared journal"
XDG_STATE_HOME="$dir/state-c" run 0 "$ivrctl" rollback "$gate"

step "the callers stop (each finishes its call): their tally"
kill -TERM "$callers_pid"
wait "$callers_pid"
callers_rc=$?
callers_pid=""
cat "$dir/callers.out"
# The only failed calls allowed are those 1.3.0's canary failed (HTTP 500
# from its fault) in the seconds before its analysis caught it.
python3 - "$dir/callers.json" <<'PY' || give_up "calls failed other than on 1.3.0's canary (ivr-callers exit $callers_rc)"
import json, sys
r = json.load(open(sys.argv[1]))
other = {k: v for k, v in r["failures"].items() if "HTTP 500" not in k}
assert not other, other
print("%d call(s) failed, every one on 1.3.0's faulty canary before its analysis rolled it back" % r["failed"])
PY

step "the ledger: money conserved, every acknowledged transfer in the books once"
fleet_bank "$dir/fleet" ivr_app
run 0 "$build/bin/ivr-ledger" "${BANK[@]}" --acks "$dir/acks"

step "Prometheus: what the runtimes reported (scraped every second)"
prom_query() { # QUERY: one line per series, its labels and value
	echo "\$ promql: $1"
	curl -s --max-time 5 --cacert "$ca" "https://127.0.1.251:9090/api/v1/query" --data-urlencode "query=$1" |
		python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
for s in sorted(r, key=lambda s: sorted(s["metric"].items())):
    labels = ", ".join(k + "=" + v for k, v in sorted(s["metric"].items()))
    print("  {%s} %.0f" % (labels, float(s["value"][1])))' || echo "  (Prometheus did not answer)"
}
prom_query 'count by (version) (ivr_build_info)'
prom_query 'sum by (host, outcome) (increase(ivr_calls_total[10m])) > 0'
prom_query 'sum by (release, outcome) (max_over_time(ivr_call_steps_total{outcome="error"}[10m]))'

step "the fleet, its history, and its database: migrations applied (with the deployment that applied each) and backups"
run 0 "$ivrctl" status "$plan"
run 0 "$ivrctl" history "$plan"
run 0 "$ivrctl" db status "$plan"

step "demo done: the fleet is still running 1.1.0, on 6 hosts"
cat <<EOF
Place a call by hand through the balancer (the cookie jar keeps the call on
its server, as a voice gateway does):
  curl -s --cacert $ca -c $dir/jar -X POST $lb/calls -d '{}'
  curl -s --cacert $ca -b $dir/jar -X POST $lb/calls/CALL_ID/input -d '{"digits":"ACCOUNT#"}'
(account numbers and PINs of the demo customers: $dir/credentials.json)
See it:   $ivrctl status $plan
Roll back: XDG_STATE_HOME=$dir/state $ivrctl rollback $plan
Stop everything: $fleet down --dir $dir/fleet && rm -rf $dir
EOF

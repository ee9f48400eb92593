#!/usr/bin/env bash
# The runtime's settings as part of a release (the plan's `runtime:`), on
# the sandbox fleet (4 hosts, HAProxy, SQLite) under 30 callers: `ivrctl
# plan` shows each host's change; a change of settings alone (calls
# max_concurrent 500 -> 400) goes out phase by phase; a release with other
# settings (1.1.0, 250) follows; `rollback` restores the previous binary and
# settings on every host (each runtime says max_calls=400 again); 0 failed
# calls, the ledger balanced.  Then: settings the runtime refuses stop the
# deploy before any host changes; settings that kill the runtime fail the
# canary and are rolled back; a rollback past the first managed release
# gives each host its own runtime.yaml back.
# usage: test_config.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test config 127.0.80
callers_pid=""
trap '[ -n "$callers_pid" ] && kill "$callers_pid" 2>/dev/null; "$fleet" down --dir "$dir/fleet" >/dev/null 2>&1; rm -rf "$dir"' EXIT

"$fleet" up 4 --db sqlite --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
fleet_bank "$dir/fleet" ivr_migrate
"$build/ivr-runtime/bin/ivr-runtime" seed "${BANK[@]}" --customers 30 --seed 11 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null || { echo "FAIL: seed"; exit 1; }
package 1.0.0
package 1.1.0
plan="$dir/fleet/plan.yaml"
"$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" >/dev/null || { echo "FAIL: first install"; exit 1; }

# with_settings MAX [EXTRA]: the sandbox plan with runtime settings.
with_settings() {
	cat "$dir/fleet/plan.yaml"
	cat <<EOF
runtime:
  settings:
    listen: { address: "{address}", port: 8080, threads: 4 }
    database: { path: $dir/fleet/bank.db }
    calls: { max_concurrent: $1, affinity_cookie: IVRHOST }
    drain: { deadline: 20s }
    log: { file: ivr-runtime.log }
  tls: { cert: "tls/{name}.pem", key: "tls/{name}.key" }
EOF
	[ -z "${2:-}" ] || printf '  hosts:\n    ivr-01: %s\n' "$2"
}
with_settings 400 > "$dir/fleet/plan-400.yaml"
with_settings 250 > "$dir/fleet/plan-250.yaml"
with_settings 0 > "$dir/fleet/plan-refused.yaml"
with_settings 400 "{ database: { path: /nonexistent/bank.db } }" > "$dir/fleet/plan-dies.yaml"

# max_calls HOST: what the host's runtime said it allows when it last started.
max_calls() {
	grep 'listening' "$dir/fleet/hosts/$1/root/shared/ivr-runtime.log" | tail -1 | grep -o 'max_calls=[0-9]*' | cut -d= -f2
}
# every_host N: every runtime allows N calls.
every_host() {
	local h
	for h in ivr-01 ivr-02 ivr-03 ivr-04; do [ "$(max_calls $h)" = "$1" ] || return 1; done
}
release_of() {
	"$ivrctl" status "$1" --output json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['release'])"
}

# The dry run shows the change on each host.
out=$("$ivrctl" plan "$dir/fleet/plan-400.yaml" --artifact "$(art 1.0.0)") || fail "plan: $out"
[ "$(grep -c '^    runtime.yaml +  max_concurrent: 400$' <<<"$out")" -eq 4 ] || fail "the dry run does not show every host's change: $out"
grep -q "runtime.yaml -calls: { max_concurrent: 500" <<<"$out" || fail "the dry run does not show what goes: $out"
"$ivrctl" plan "$dir/fleet/plan-400.yaml" --artifact "$(art 1.0.0)" --output json | fits plan ||
	fail "the dry run's JSON does not fit the schema"

calls_start "https://$net.5:8080" 7

# Settings alone, phase by phase.
out=$("$ivrctl" deploy "$dir/fleet/plan-400.yaml" --artifact "$(art 1.0.0)" --output json 2>&1) ||
	fail "deploy of settings alone: $out"
fits event --lines <<<"$out" || fail "the deploy's JSON lines do not fit the schema"
r400=$(release_of "$dir/fleet/plan-400.yaml")
[[ "$r400" =~ ^1\.0\.0\+[0-9a-f]{12}$ ]] || fail "the fleet's release is '$r400', not 1.0.0 with settings"
phases=$(grep -o '"phase":"[a-z]*"' <<<"$out" | tr '\n' ' ')
[ "$phases" = '"phase":"canary" "phase":"half" "phase":"rest" ' ] || fail "settings alone did not go in phases: $phases"
every_host 400 || fail "not every runtime allows 400 calls: $(for h in ivr-01 ivr-02 ivr-03 ivr-04; do max_calls $h; done)"
[ "$(readlink "$dir/fleet/hosts/ivr-02/root/shared/runtime.yaml")" = "runtime.${r400#*+}.yaml" ] ||
	fail "ivr-02's runtime.yaml is not the release's settings"

# A release with other settings, then rollback: both come back.
out=$("$ivrctl" deploy "$dir/fleet/plan-250.yaml" --artifact "$(art 1.1.0)" 2>&1) || fail "deploy 1.1.0 with 250: $out"
every_host 250 || fail "not every runtime allows 250 calls"
r250=$(release_of "$dir/fleet/plan-250.yaml")
out=$("$ivrctl" rollback "$dir/fleet/plan-250.yaml" 2>&1) || fail "rollback: $out"
[ "$(release_of "$plan")" = "$r400" ] || fail "rollback went to $(release_of "$plan"), not $r400"
every_host 400 || fail "rollback did not restore 400 on every host: $(for h in ivr-01 ivr-02 ivr-03 ivr-04; do max_calls $h; done)"
sleep 1
calls_stop
[ "$(calls_figure failed)" -eq 0 ] || fail "calls failed while settings changed: $(cat "$dir/calls.out")"
fleet_bank "$dir/fleet" ivr_app
ledger=$("$build/bin/ivr-ledger" "${BANK[@]}" --acks "$dir/calls.acks") || fail "ledger: $ledger"

# Settings the runtime refuses: nothing serving changes.
out=$("$ivrctl" deploy "$dir/fleet/plan-refused.yaml" --artifact "$(art 1.1.0)" 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q "ivr-runtime check refused the change: .*runtime\.[0-9a-f]*\.yaml:[0-9]*:[0-9]*: 'max_concurrent'" <<<"$out" &&
	grep -q "nothing serving was changed" <<<"$out" || fail "refused settings: exit $rc: $out"
[ "$(release_of "$plan")" = "$r400" ] && every_host 400 || fail "refused settings changed the fleet"

# Settings that kill the runtime: the canary fails, rolled back.
out=$("$ivrctl" deploy "$dir/fleet/plan-dies.yaml" --artifact "$(art 1.1.0)" 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q "ivr-01: FAILED" <<<"$out" && grep -q "rolled back: every host on $r400 and ready" <<<"$out" ||
	fail "settings that kill the runtime: exit $rc: $out"
[ "$(release_of "$plan")" = "$r400" ] && every_host 400 || fail "the canary's failure left the fleet changed"
grep -q "ivr-02: drain" <<<"$out" && fail "the failed canary went past ivr-01: $out"

# Back past the first managed release: each host's own file.
out=$("$ivrctl" rollback "$plan" 2>&1) || fail "rollback to unmanaged settings: $out"
[ "$(release_of "$plan")" = 1.0.0 ] && every_host 500 || fail "the hosts' own settings did not come back: $out"
[ "$(readlink "$dir/fleet/hosts/ivr-03/root/shared/runtime.yaml")" = runtime.unmanaged.yaml ] ||
	fail "ivr-03's runtime.yaml is not its own"

[ "$failed" -eq 0 ] && {
	echo "settings in a release: $r400 (max 400) in 3 phases, $r250 (1.1.0, max 250), rollback to $r400 (400 on every host), under 30 callers:"
	sed 's/^/  /' "$dir/calls.out"
	sed 's/^/  /' <<<"$ledger"
	echo "  refused by the runtime: nothing changed (exit 1); a runtime that dies: canary rolled back (exit 1); back to each host's own file (500)"
}
exit "$failed"

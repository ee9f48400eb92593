#!/usr/bin/env bash
# The sandbox-fleet demo (make demo): 4 hosts (sshd each, 127.0.1.1-4)
# behind HAProxy (127.0.1.5), the runtime on SQLite.  Installs release
# 1.0.0, goes live with 1.1.0 (canary then waves), rolls the fleet back
# with one command, shows status and history, and stops every process it
# started.  Exit 0 when every step did what it should.
# usage: demo.sh BUILD_DIR
set -uo pipefail
build=$1
top=$(cd "$(dirname "$0")/.." && pwd)
fleet="$top/tests/fleet/fleet"
ivrctl="$build/bin/ivrctl"
dir=$(mktemp -d /tmp/ivr-demo.XXXXXX)
trap '"$fleet" down --dir "$dir/fleet" >/dev/null 2>&1; rm -rf "$dir"' EXIT
export XDG_STATE_HOME="$dir/state" # the demo's journal and lock
plan="$dir/fleet/plan.yaml"

step() { printf '\n== %s\n' "$*"; }
run() { # run EXPECTED_EXIT command...: stops the demo on another exit code
	local want=$1 rc
	shift
	echo "\$ ${*/#$build\/bin\//}"
	"$@"
	rc=$?
	[ "$rc" -eq "$want" ] || { echo "demo: exit $rc, expected $want" >&2; exit 1; }
}

step "a sandbox fleet: 4 hosts behind HAProxy on 127.0.1.x"
"$fleet" up 4 --dir "$dir/fleet" --net 127.0.1 || exit 1
for v in 1.0.0 1.1.0; do
	"$top/scripts/package-runtime.sh" --build "$build" --version $v --out "$dir/dist" >/dev/null || exit 1
done
step "install 1.0.0"
run 0 "$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.0.0.tar.gz"
step "the dry run of 1.1.0, then go live: canary, then waves"
run 0 "$ivrctl" plan "$plan" --artifact "$dir/dist/ivr-runtime-1.1.0.tar.gz"
run 0 "$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.1.0.tar.gz"
run 0 "$ivrctl" status "$plan"
step "on-call: the whole fleet back, one command"
run 0 "$ivrctl" rollback "$plan"
run 0 "$ivrctl" status "$plan"
run 0 "$ivrctl" history "$plan"
step "demo done: the fleet went to 1.1.0 and back to 1.0.0; stopping it"

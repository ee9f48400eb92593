#!/usr/bin/env bash
# `ivrctl status` on a 50-host sandbox fleet beside OpenSSH's `ssh HOST true`
# to the same 50 hosts with the same parallelism (the plan's, 10). The
# agent bootstrap is done once before timing. Prints both times (the
# median of 3 runs each) and their ratio; docs/performance.md records them.
# usage: bench-status.sh [BUILD_DIR] [HOSTS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
hosts=${2:-50}
dir=$(mktemp -d /tmp/ivr-bench-status.XXXXXX)
chmod 0711 "$dir" # the bank's PostgreSQL (the postgres account) passes through
trap '"$here/tests/fleet/fleet" down --dir "$dir" --purge >/dev/null' EXIT

"$here/tests/fleet/fleet" up "$hosts" --dir "$dir" --net 127.0.60 >/dev/null
"$build/bin/ivrctl" status "$dir/plan.yaml" >/dev/null || true # bootstrap

ms() { date +%s%N | cut -c1-13; }
median() { sort -n | sed -n 2p; }

status_runs=$(for i in 1 2 3; do
	s=$(ms); "$build/bin/ivrctl" status "$dir/plan.yaml" >/dev/null || true; echo $(( $(ms) - s ))
done | median)
ssh_runs=$(for i in 1 2 3; do
	s=$(ms)
	seq "$hosts" | xargs -P 10 -I{} ssh -i "$dir/client_key" \
		-o UserKnownHostsFile="$dir/known_hosts" -o StrictHostKeyChecking=yes \
		-o BatchMode=yes -p 2222 root@127.0.60.{} true
	echo $(( $(ms) - s ))
done | median)
echo "hosts: $hosts, parallelism 10, median of 3 runs"
echo "ivrctl status (hello and balancer state per host): ${status_runs} ms"
echo "OpenSSH ssh HOST true:                             ${ssh_runs} ms"
awk -v a="$status_runs" -v b="$ssh_runs" 'BEGIN {printf "ratio: %.2f (goal: at most 1.5)\n", a / b}'

#!/usr/bin/env bash
# A rolling deploy of a 10 MB artifact to a 20-host sandbox fleet in phases
# 1, 25%, rest (capacity floor 50%: batches 1, 5, 10, 4), and the fleet
# rollback of the same 20 hosts, beside the floor measured in the same run:
# the artifact copied to every host with parallel `scp` (the plan's
# parallelism, 10), plus one runtime restart and readiness per batch done
# by hand over `ssh` (stop by pid, start, poll /readyz). No calls are in
# progress, and the plan's minimum healthy time is 0, so neither waits.
# Prints wall times and ratios; docs/performance.md records them.
# usage: bench-deploy.sh [BUILD_DIR] [HOSTS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
hosts=${2:-20}
net=127.0.61
dir=$(mktemp -d /tmp/ivr-bench-deploy.XXXXXX)
chmod 0711 "$dir" # the bank's PostgreSQL (the postgres account) passes through
trap '"$here/tests/fleet/fleet" down --dir "$dir/fleet" >/dev/null; rm -rf "$dir"' EXIT
export XDG_STATE_HOME="$dir/state"
ivrctl="$build/bin/ivrctl"

"$here/tests/fleet/fleet" up "$hosts" --dir "$dir/fleet" --net $net >/dev/null
plan="$dir/fleet/bench.yaml"
# The floor does no database work: the plan's database section (the
# deploy's backup and migrations) is left out here.
sed -e '/^database:/,$d' -e 's/^  min_healthy: 1s$/  min_healthy: 0s/' \
	-e 's/^    - { name: half, hosts: 50% }$/    - { name: quarter, hosts: 25%, batch: 25% }/' \
	-e 's/^    - { name: rest, hosts: rest }$/    - { name: rest, hosts: rest, batch: 50% }/' \
	"$dir/fleet/plan.yaml" > "$plan"
for v in 1.0.0 1.1.0; do
	"$here/scripts/package-runtime.sh" --build "$build" --version $v --pad 10 --out "$dir/dist" >/dev/null
done
art="$dir/dist/ivr-runtime-1.1.0.tar.gz"
size=$(stat -c %s "$art")
"$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.0.0.tar.gz" >/dev/null

ms() { date +%s%N | cut -c1-13; }
sshh() {
	local i=$1
	shift
	ssh -i "$dir/fleet/client_key" -o UserKnownHostsFile="$dir/fleet/known_hosts" \
		-o StrictHostKeyChecking=yes -o BatchMode=yes -p 2222 "root@$net.$i" "$@"
}

# The floor, part 1: the artifact to every host, 10 at a time.
s=$(ms)
seq "$hosts" | xargs -P 10 -I{} scp -q -i "$dir/fleet/client_key" \
	-o UserKnownHostsFile="$dir/fleet/known_hosts" -o StrictHostKeyChecking=yes \
	-o BatchMode=yes -P 2222 "$art" "root@$net.{}:$dir/fleet/floor-{}.tar.gz"
copy=$(( $(ms) - s ))
rm -f "$dir"/fleet/floor-*.tar.gz
# Part 2: one restart and readiness per batch (4 batches), by hand, of a
# second runtime on port 8090 of hosts 1-4 (the fleet's own runtimes stay
# the agents'): stop it by pid, start it again, poll /readyz.
start_floor() { # HOST: starts the port-8090 runtime, prints its pid
	local root
	root="$dir/fleet/hosts/$(printf 'ivr-%02d' "$1")/root"
	sshh "$1" "cd $root/shared && sed 's/port: 8080/port: 8090/; s/ivr-runtime.log/floor.log/' runtime.yaml > floor.yaml;
		$root/current/bin/ivr-runtime --config $root/shared/floor.yaml >/dev/null 2>&1 </dev/null & echo \$!"
}
floor_pids=()
for i in 1 2 3 4; do floor_pids[$i]=$(start_floor "$i"); done
for i in 1 2 3 4; do until curl -sf --cacert "$dir/fleet/tls/ca.pem" -o /dev/null "https://$net.$i:8090/readyz"; do sleep 0.01; done; done
s=$(ms)
for i in 1 2 3 4; do
	pid=${floor_pids[$i]}
	floor_pids[$i]=$(sshh "$i" "kill -TERM $pid; while [ -e /proc/$pid ] && ! grep -q '^[^)]*) Z' /proc/$pid/stat; do sleep 0.005; done;
		cd $dir/fleet/hosts/$(printf 'ivr-%02d' "$i")/root/shared;
		../current/bin/ivr-runtime --config floor.yaml >/dev/null 2>&1 </dev/null & echo \$!")
	until curl -sf --cacert "$dir/fleet/tls/ca.pem" -o /dev/null "https://$net.$i:8090/readyz"; do sleep 0.01; done
done
restarts=$(( $(ms) - s ))
for i in 1 2 3 4; do kill "${floor_pids[$i]}"; done
floor=$((copy + restarts))

s=$(ms)
"$ivrctl" deploy "$plan" --artifact "$art" > "$dir/deploy.out"
deploy=$(( $(ms) - s ))
s=$(ms)
"$ivrctl" rollback "$plan" > "$dir/rollback.out"
rollback=$(( $(ms) - s ))

echo "hosts: $hosts; artifact: $size bytes; phases 1, 25%, rest; batches 1, 5, 10, 4"
echo "floor: scp to every host (10 at a time) ${copy} ms + 4 restarts to ready ${restarts} ms = ${floor} ms"
echo "ivrctl deploy: ${deploy} ms"
awk -v a="$deploy" -v b="$floor" 'BEGIN {printf "deploy / floor: %.2f (goal: at most 1.5)\n", a / b}'
echo "ivrctl rollback of $hosts hosts: ${rollback} ms (goal: under 2000 ms)"
grep -E "phase|rolling|done" "$dir/deploy.out" | sed 's/^/  deploy: /'
sed "s/^/  rollback: /" "$dir/rollback.out"

#!/usr/bin/env bash
# Runs every libFuzzer target of an IVR_FUZZ build for a set time, two at
# a time, each from its seed corpus (tests/fuzz/corpus/<target>, copied:
# the seeds in the tree stay as they are) with its dictionary, and prints
# per target the executions, the edge coverage, the corpus and the
# executions a second.  A crash is kept as build/fuzz/crash-<target>-*
# and fails the run (make it a regression test: see docs/conventions.md).
#   fuzz.sh BUILD_DIR [SECONDS_PER_TARGET] [TARGET...]
set -uo pipefail
build=$1
seconds=${2:-600}
shift $(($# >= 2 ? 2 : 1))
here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/tests/fuzz"
out="$build/fuzz"
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
	for f in "$src"/fuzz_*.c; do
		targets+=("$(basename "$f" .c)")
	done
fi
mkdir -p "$out"
jobs=$(nproc)
[ "$jobs" -gt 2 ] && jobs=2

run_one() { # target; its exit code also goes to $out/<target>.rc
	local t=$1 bin="$build/tests/fuzz/$1" corpus="$out/corpus-$1"
	echo 1 > "$out/$t.rc"
	if [ ! -x "$bin" ]; then
		echo "$t: no binary at $bin (build with -DIVR_FUZZ=ON: make build-asan)" > "$out/$t.summary"
		return 1
	fi
	mkdir -p "$corpus"
	cp -n "$src/corpus/$t"/* "$corpus"/ 2>/dev/null
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
		-max_len=8192 -dict="$src/$t.dict" -print_final_stats=1 \
		-artifact_prefix="$out/crash-$t-" "$corpus" > "$out/$t.log" 2>&1
	local rc=$?
	local done_line runs cov ft corp eps
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$out/$t.log" | tail -n 1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -n 1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$t.log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' <<<"$done_line" | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' <<<"$done_line" | cut -d' ' -f2)
	corp=$(grep -o 'corp: [0-9]*' <<<"$done_line" | cut -d' ' -f2)
	if [ "$rc" -eq 0 ]; then
		printf '%-20s %12s runs  %6s edges  %7s features  %5s inputs  %7s exec/s  no crash\n' \
			"$t" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${eps:-?}" > "$out/$t.summary"
	else
		printf '%-20s CRASH after %s runs (exit %d): %s\n' "$t" "${runs:-?}" "$rc" \
			"$(grep -m1 -E 'ERROR|SUMMARY' "$out/$t.log")" > "$out/$t.summary"
	fi
	echo "$rc" > "$out/$t.rc"
	return "$rc"
}

echo "fuzz: ${#targets[@]} target(s), ${seconds} s each, $jobs at a time; logs in $out"
status=0
for t in "${targets[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		sleep 1
	done
	run_one "$t" &
done
wait # every target; their codes are in the .rc files (a finished job's
# code is gone once `jobs` has reported it)
for t in "${targets[@]}"; do
	cat "$out/$t.summary"
	[ "$(cat "$out/$t.rc")" = 0 ] || status=1
done
[ "$status" -eq 0 ] && echo "fuzz: no crash" || echo "fuzz: CRASHES: see $out/crash-*"
exit "$status"

#!/usr/bin/env bash
# Runs the unit and integration tests of each build folder given, prints
# ctest's summary for each, then one closing line over all of them.
set -uo pipefail

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# The fleet tests mostly wait (drains, soaks, readiness) on their own
# loopback ranges: twice as many at once as there are cores, at most 8.
jobs=$((2 * $(nproc)))
[ "$jobs" -gt 8 ] && jobs=8
passed=0
failed=0
status=0
for dir in "$@"; do
	echo "== tests in $dir"
	log=$(mktemp)
	ctest --test-dir "$dir" -L '^(unit|integration)$' --output-on-failure \
		-j "$jobs" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
	rm -f "$log"
	if [ -z "$line" ]; then
		echo "run-tests: ctest in $dir printed no summary" >&2
		status=1
		continue
	fi
	total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
	bad=$(sed -E 's/.*, ([0-9]+) tests? failed.*/\1/' <<<"$line")
	passed=$((passed + total - bad))
	failed=$((failed + bad))
	[ "$rc" -eq 0 ] || status=1
done
echo "all builds: $passed passed, $failed failed"
exit "$status"

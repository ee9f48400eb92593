#!/usr/bin/env bash
# Static analysis, part of make test: clang's analyzer over a whole build
# (scan-build, every file compiled again) and cppcheck over the sources.
# Any report fails the run (see docs/conventions.md for what to do).
#   static-analysis.sh [BUILD_DIR]     (default build-scan)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-scan}
status=0

# Configured afresh under scan-build, so that the compiler cmake records is
# scan-build's analyzer wrapper (a folder configured before would keep
# plain clang and analyse nothing).
rm -rf "$build"
scan-build --use-cc=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug \
	>/dev/null || exit 1
rm -rf "$build/reports"
if scan-build --use-cc=clang -o "$build/reports" --status-bugs \
	cmake --build "$build" -j "$(nproc)" > "$build/scan-build.log" 2>&1; then
	echo "static analysis: scan-build: $(grep -c 'Building C object' "$build/scan-build.log") files analysed, no report"
else
	grep -E 'warning:|scan-build:' "$build/scan-build.log" | head -40
	echo "static analysis: scan-build found problems; open $build/reports with scan-view" >&2
	status=1
fi

out=$(cppcheck --quiet --enable=warning,portability,performance --inline-suppr \
	--std=c11 --library=tests/static/cppcheck.cfg --error-exitcode=1 \
	-I common -I agent -I controller -I ivr-runtime \
	common agent controller ivr-runtime tests/load tests/fuzz 2>&1)
if [ $? -eq 0 ] && [ -z "$out" ]; then
	echo "static analysis: cppcheck $(cppcheck --version | cut -d' ' -f2): $(find common agent controller ivr-runtime tests/load tests/fuzz -name '*.c' | wc -l) files, no report"
else
	echo "$out"
	echo "static analysis: cppcheck found problems" >&2
	status=1
fi
exit "$status"

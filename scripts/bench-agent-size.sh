#!/usr/bin/env bash
# The agent ivrctl uploads to every host: its size as built, stripped and
# gzipped, whether it is static, and the 5 MB target (docs/packaging.md).
# usage: bench-agent-size.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
agent="$build/bin/ivr-agent"
tmp=$(mktemp /tmp/ivr-agent-size.XXXXXX)
trap 'rm -f "$tmp"' EXIT
strip -o "$tmp" "$agent"
built=$(stat -c %s "$agent")
stripped=$(stat -c %s "$tmp")
gzipped=$(gzip -9 -c "$agent" | wc -c)
if readelf -d "$agent" 2>&1 | grep -q "no dynamic section"; then
	kind="static"
else
	kind="dynamic, needs $(readelf -d "$agent" | grep -c NEEDED) libraries"
fi
awk -v b="$built" -v s="$stripped" -v g="$gzipped" -v k="$kind" 'BEGIN {
	printf "ivr-agent: %.2f MB as uploaded (%s), %.2f MB stripped, %.2f MB gzipped; target under 5 MB: %s\n",
		b / 1e6, k, s / 1e6, g / 1e6, (b < 5e6 ? "met" : "missed")
}'

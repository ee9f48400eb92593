#!/usr/bin/env bash
# lintian on the Debian packages make deb built: prints every tag (with the
# informational ones and the overridden ones), fails on any error or
# warning that no override in the package explains (docs/packaging.md).
# usage: lintian-check.sh DEB...
set -euo pipefail
out=$(lintian --display-info --show-overrides --fail-on none "$@" 2>&1 | grep -v '^running with root privileges')
[ -n "$out" ] && printf '%s\n' "$out"
errors=$(grep -c '^E: ' <<<"$out" || true)
warnings=$(grep -c '^W: ' <<<"$out" || true)
infos=$(grep -c '^I: ' <<<"$out" || true)
overridden=$(grep -c '^O: ' <<<"$out" || true)
echo "lintian: $# packages, $errors errors, $warnings warnings, $infos informational, $overridden overridden (explained)"
[ "$errors" -eq 0 ] && [ "$warnings" -eq 0 ]

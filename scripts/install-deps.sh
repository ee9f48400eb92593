#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only those missing.
# Run as root on Debian 12; a no-op (and no network) when everything is there.
#   install-deps.sh          what make test needs
#   install-deps.sh bench    that, and what the benchmarks need (wrk)
set -euo pipefail

packages=(
	# toolchain, and static analysis (scan-build from clang-tools, cppcheck)
	gcc make cmake pkg-config clang libclang-rt-14-dev clang-format
	clang-tools cppcheck
	# libraries, each behind one module (see docs/architecture.md)
	libssh2-1-dev libcurl4-openssl-dev libyaml-dev libjansson-dev
	libcmocka-dev libmicrohttpd-dev libarchive-dev libsqlite3-dev libssl-dev
	# integration tests: promtool checks /metrics, xmllint checks VoiceXML
	prometheus libxml2-utils curl sqlite3
	# load balancers the agent drives in its tests
	haproxy nginx-light
	# the sandbox fleet: one real sshd per simulated host
	openssh-server openssh-client
	# the bank on PostgreSQL 15: the server for the sandbox and the tests,
	# libpq for the runtime
	postgresql libpq-dev
	# JSON Schema checks of flows and plans (Debian's python3, not another)
	python3 python3-jsonschema python3-yaml
	# the man pages' check renders them
	man-db groff-base
)

if [ "${1:-}" = bench ]; then
	packages+=(wrk)
fi

missing=()
for p in "${packages[@]}"; do
	case "$p" in \#*) continue ;; esac
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages such as nginx start their service on install; the tests start
# their own servers, so keep the package scripts from starting any.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod +x "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

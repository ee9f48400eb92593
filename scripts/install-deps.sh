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
	libsystemd-dev
	# integration tests: promtool checks /metrics and the rules, amtool the
	# Alertmanager example, xmllint checks VoiceXML
	prometheus prometheus-alertmanager libxml2-utils curl sqlite3
	# load balancers the agent drives in its tests
	haproxy nginx-light
	# the sandbox fleet: one real sshd per simulated host
	openssh-server openssh-client
	# the shared lock and journal: a 3-member etcd cluster on loopback;
	# useradd and setpriv for the access tests' operators
	etcd-server passwd util-linux
	# the bank on PostgreSQL 15: the server for the sandbox and the tests,
	# libpq for the runtime
	postgresql libpq-dev
	# JSON Schema checks of flows and plans (Debian's python3, not another)
	python3 python3-jsonschema python3-yaml
	# the man pages' check renders them
	man-db groff-base
	# the static agent (docs/packaging.md): the static archives
	# libarchive needs (OpenSSL's come with libssl-dev), and dpkg-source
	# to unpack Debian's curl source, built with HTTP(S) only
	libacl1-dev liblz4-dev libzstd-dev libbz2-dev
	liblzma-dev nettle-dev zlib1g-dev libxml2-dev dpkg-dev
	# Debian packages of the three programs, checked with lintian; the
	# unit checked with systemd-analyze
	lintian systemd
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

# The static agent's libcurl is built from Debian's own curl source (the
# libcurl.a Debian ships needs Kerberos and p11-kit, which have no static
# archives): apt-get source needs deb-src lines for the Debian suites.
need_src=0
if ! apt-cache showsrc curl 2>/dev/null | grep -q '^Package: curl'; then
	need_src=1
fi

if [ "${#missing[@]}" -eq 0 ] && [ "$need_src" -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi

if [ "$need_src" -eq 1 ]; then
	echo "install-deps: adding deb-src lines for Debian's curl source"
	cat > /etc/apt/sources.list.d/ivr-deploy-src.sources <<'EOF'
# Added by ivr-deploy's install-deps.sh: the static agent builds libcurl
# from Debian's curl source package.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	chmod 0644 /etc/apt/sources.list.d/ivr-deploy-src.sources
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
if [ "${#missing[@]}" -gt 0 ]; then
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

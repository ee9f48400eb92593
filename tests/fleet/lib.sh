# Shared by the fleet tool and its tests: source it. fail needs failed=0;
# fleet_on needs ivrctl (the binary) and plan.

fail() { echo "FAIL: $*"; failed=1; }

# The fleet migrates the bank with this build's runtime.
if [ -n "${build:-}" ]; then export IVR_RUNTIME_BIN="$build/ivr-runtime/bin/ivr-runtime"; fi

# fleet_bank FLEET_DIR ROLE: sets the array BANK to the flags that name the
# fleet's bank for ivr-runtime seed and ivr-ledger: PostgreSQL as ROLE
# (ivr_migrate, ivr_app), or the SQLite file.
fleet_bank() {
	if [ -f "$1/pg/$2.conninfo" ]; then
		BANK=(--conninfo "$(cat "$1/pg/$2.conninfo")")
	else
		BANK=(--db "$1/bank.db")
	fi
}

# fleet_on VERSION: every host of $plan on it, ready, READY in the pool.
fleet_on() {
	"$ivrctl" status "$plan" --output json | /usr/bin/python3 -c "
import json, sys
d = json.load(sys.stdin)
ok = d['consistent'] and d['release'] == '$1' and all(
    h['healthy'] and h['pool_state'] == 'ready' for h in d['hosts'])
sys.exit(0 if ok else 1)"
}

# pidfile_wait PIDFILE: wait (up to 10 s) for a daemon's pid file. sshd
# and nginx fork before they write it, sshd only once it listens; until
# then a client can be refused and `down` would not know the pid.
pidfile_wait() {
	local i
	for i in $(seq 100); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	echo "no pid file $1 after 10 s" >&2
	return 1
}

# sshd_up CONFIG PIDFILE [ARGS...]: start sshd, wait for its pid file.
sshd_up() {
	local config=$1 pidfile=$2
	shift 2
	rm -f "$pidfile"
	/usr/sbin/sshd -f "$config" "$@" || return 1
	pidfile_wait "$pidfile"
}

# package VERSION [package-runtime.sh ARGS...]: a release artifact of
# $build in $dir/dist; art VERSION: its path.  Need top, build and dir.
package() {
	local v=$1
	shift
	"$top/scripts/package-runtime.sh" --build "$build" --version "$v" --out "$dir/dist" "$@" >/dev/null
}
art() { echo "$dir/dist/ivr-runtime-$1.tar.gz"; }

# haproxy_cmd SOCKET COMMAND: one command on HAProxy's runtime API socket;
# prints the answer.
haproxy_cmd() {
	/usr/bin/python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall((sys.argv[2] + '\n').encode()); print(s.recv(4096).decode().strip())" "$1" "$2"
}

# fcurl ARGS...: curl that trusts the sandbox fleet's CA ($FLEET_CA, else
# $dir/fleet/tls/ca.pem): the fleet serves https unless up with --no-tls.
fcurl() { curl --cacert "${FLEET_CA:-$dir/fleet/tls/ca.pem}" "$@"; }

# calls_start URL [SEED]: 30 simulated callers through the balancer at URL
# for up to 10 minutes, in the background ($callers_pid; the test's trap
# kills it), their acknowledged transfers, report and output in
# $dir/calls.{acks,json,out}; calls_stop: SIGTERM, each caller finishes
# its call; calls_figure KEY: a figure of their report.  Need build, dir.
calls_start() {
	"$build/bin/ivr-callers" --url "$1" --credentials "$dir/cred.json" \
		--cacert "${FLEET_CA:-$dir/fleet/tls/ca.pem}" --callers 30 --duration 10m --think 100ms --seed "${2:-5}" \
		--acks "$dir/calls.acks" --report "$dir/calls.json" > "$dir/calls.out" 2>&1 &
	callers_pid=$!
	sleep 2 # every caller is in a call
}
calls_stop() {
	kill -TERM "$callers_pid"
	wait "$callers_pid"
	callers_pid=""
}
calls_figure() {
	/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$dir/calls.json" "$1"
}

# fits DEF [--lines]: standard input fits $defs/DEF of ivrctl's output
# schema (one document, or one per line); says what does not.  Needs top.
fits() {
	local def=$1 doc out
	shift
	doc=$(cat)
	out=$("$top/scripts/validate-schema.py" --def "$def" "$@" \
		"$top/schemas/ivrctl-output.schema.json" - <<<"$doc") ||
		{ echo "$out" | head -5; return 1; }
}

# fleet_test NAME NET: what every fleet test sets up first, after it has
# set build (its BUILD_DIR) and here (its folder) and sourced this file:
# top, fleet, ivrctl, net, a scratch folder dir (/tmp/ivr-NAME.XXXXXX,
# 0711: the bank's PostgreSQL, the postgres account, passes through),
# failed=0, the journal and the lock under dir/state, and an EXIT trap
# that stops the fleet in dir/fleet and removes dir (a test that starts
# more sets its own trap after this).
fleet_test() {
	top=$(cd "$here/../.." && pwd)
	fleet="$here/fleet"
	ivrctl="$build/bin/ivrctl"
	net=$2
	dir=$(mktemp -d "/tmp/ivr-$1.XXXXXX")
	chmod 0711 "$dir"
	failed=0
	trap '"$fleet" down --dir "$dir/fleet" >/dev/null 2>&1; rm -rf "$dir"' EXIT
	export XDG_STATE_HOME="$dir/state" # the journal and the lock go here
}

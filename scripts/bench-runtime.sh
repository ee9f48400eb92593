#!/usr/bin/env bash
# Benchmarks ivr-runtime on this machine and prints the figures that
# docs/performance.md records:
#  - one call step (POST /calls/{id}/input) under wrk with 50 connections:
#    requests per second and p99 latency, for the menu-repeat step (engine
#    only) and the balances step (a SQLite read), beside nginx serving a
#    static file of the same size in the same run; and the menu step over
#    HTTPS (listen.tls, keep-alive) beside the plain figure;
#  - the balances step and a whole transfer (5 steps, one moving money) on
#    SQLite and on PostgreSQL 15 (scripts/pg-sandbox.sh on 127.0.65.1)
#    side by side, 50 connections each;
#    and again with the database server on a core of its own (the runtime
#    and wrk on CPU 0, PostgreSQL on CPU 1), as a bank's database runs on a
#    machine of its own;
#  - the memory held by 10,000 concurrent call sessions.
# usage: bench-runtime.sh [BUILD_DIR] [SECONDS]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
seconds=${2:-10}
bin="$build/ivr-runtime/bin/ivr-runtime"
dir=$(mktemp -d /tmp/ivr-bench.XXXXXX)
chmod 755 "$dir" # nginx's workers (and PostgreSQL) run as other users
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	"$here/scripts/pg-sandbox.sh" down "$dir/pg" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_ok() {
	for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
	echo "bench: $1 never answered" >&2; exit 1
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# wrk's summary: "rps p99"
wrk_figures() {
	awk '/Requests\/sec/ {rps=$2} / 99%/ {p99=$2} END {print rps, p99}'
}
# wrk's summary: "rps p99 requests"
wrk_count() {
	awk '/Requests\/sec/ {rps=$2} / 99%/ {p99=$2} / requests in / {n=$1} END {print rps, p99, n}'
}
# cpu_ticks PID: user plus system CPU time the process has used (clock ticks)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# cpu_per_request PID TICKS_BEFORE REQUESTS: its CPU microseconds per request
cpu_per_request() {
	awk -v t="$(($(cpu_ticks "$1") - $2))" -v n="$3" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.1f", t / hz * 1e6 / n }'
}

"$bin" seed --db "$dir/bank.db" --customers 50 --seed 3 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null
port=$(free_port)
"$bin" --db "$dir/bank.db" --port "$port" --max-calls 10000 \
	--drain-deadline 1s --log-level warn 2>"$dir/runtime.log" &
rt=$!
pids+=("$rt")
base="http://127.0.0.1:$port"
wait_ok "$base/readyz"

# login BASE CRED IDS: the 50 customers logged in, waiting at the main
# menu; IDS gets a call id per line, IDS.tx "id from_last4 to_last4".
login() {
	/usr/bin/python3 - "$2" "$1" "$3" <<'PY'
import json, sys, urllib.request
cred = json.load(open(sys.argv[1]))
def post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
with open(sys.argv[3], "w") as ids, open(sys.argv[3] + ".tx", "w") as tx:
    for c in cred["customers"]:
        call = post(sys.argv[2] + "/calls", {})
        cid = call["call_id"]
        acc = [a["number"] for a in c["accounts"]]
        post(f"{sys.argv[2]}/calls/{cid}/input", {"digits": acc[0] + "#"})
        r = post(f"{sys.argv[2]}/calls/{cid}/input", {"digits": c["pin"]})
        assert r["node"] == "main_menu", r
        print(cid, file=ids)
        print(cid, acc[0][4:], acc[1][4:], file=tx)
PY
}
login "$base" "$dir/cred.json" "$dir/ids"
id=$(head -n1 "$dir/ids")
size=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"digits":"9"}' \
	"$base/calls/$id/input" | wc -c)

nport=$(free_port)
mkdir -p "$dir/www" "$dir/logs"
head -c "$size" /dev/zero | tr '\0' 'x' > "$dir/www/step.json"
cat > "$dir/nginx.conf" <<NGINX
daemon off;
worker_processes auto;
error_log $dir/logs/error.log;
pid $dir/nginx.pid;
events { worker_connections 1024; }
http {
	access_log off;
	server {
		listen 127.0.0.1:$nport;
		root $dir/www;
	}
}
NGINX
nginx -p "$dir" -c "$dir/nginx.conf" &
pids+=("$!")
wait_ok "http://127.0.0.1:$nport/step.json"

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024)" MiB"}' /proc/meminfo)"
echo "wrk: 2 threads, 50 connections, ${seconds}s each; response ${size} bytes"
t0=$(cpu_ticks "$rt")
read -r rps p99 reqs < <(IDS="$dir/ids" DIGITS=9 wrk -t2 -c50 -d"${seconds}s" --latency \
	-s "$here/tests/bench/step.lua" "$base" | wrk_count)
cpu_http=$(cpu_per_request "$rt" "$t0" "$reqs")
echo "ivr-runtime menu step:     $rps req/s, p99 $p99"
read -r brps bp99 < <(IDS="$dir/ids" DIGITS=1 wrk -t2 -c50 -d"${seconds}s" --latency \
	-s "$here/tests/bench/step.lua" "$base" | wrk_figures)
echo "ivr-runtime balances step: $brps req/s, p99 $bp99"
read -r nrps np99 < <(wrk -t2 -c50 -d"${seconds}s" --latency \
	"http://127.0.0.1:$nport/step.json" | wrk_figures)
echo "nginx static file:         $nrps req/s, p99 $np99"
awk -v a="$rps" -v b="$nrps" 'BEGIN {printf "menu step / nginx:         %.2f\n", a / b}'

# The menu step over HTTPS (listen.tls, a throw-away CA's certificate):
# wrk keeps its 50 connections alive, as a balancer does, so the figure is
# the cost of encrypting each request and answer, not of handshakes.
"$here/scripts/tls-sandbox.sh" ca "$dir/tls" >/dev/null
"$here/scripts/tls-sandbox.sh" cert "$dir/tls" rt --san "DNS:rt,IP:127.0.0.1" >/dev/null
sport=$(free_port)
printf 'listen: { address: 127.0.0.1, port: %s, tls: { cert: %s, key: %s } }\ndatabase: { path: %s }\n' \
	"$sport" "$dir/tls/rt.pem" "$dir/tls/rt.key" "$dir/bank.db" > "$dir/tls.yaml"
"$bin" --config "$dir/tls.yaml" --max-calls 10000 --drain-deadline 1s \
	--log-level warn 2>"$dir/runtime-tls.log" &
srt=$!
pids+=("$srt")
sbase="https://127.0.0.1:$sport"
CURL_CA_BUNDLE="$dir/tls/ca.pem" wait_ok "$sbase/readyz"
SSL_CERT_FILE="$dir/tls/ca.pem" login "$sbase" "$dir/cred.json" "$dir/sids"
t0=$(cpu_ticks "$srt")
read -r srps sp99 sreqs < <(IDS="$dir/sids" DIGITS=9 wrk -t2 -c50 -d"${seconds}s" --latency \
	-s "$here/tests/bench/step.lua" "$sbase" | wrk_count)
cpu_https=$(cpu_per_request "$srt" "$t0" "$sreqs")
echo "ivr-runtime menu step, https: $srps req/s, p99 $sp99 (TLS 1.3, keep-alive)"
# wrk's own TLS runs on the same cores and takes its share: the runtime's
# CPU time per step says what HTTPS costs the server itself.
awk -v a="$srps" -v b="$rps" -v h="$cpu_http" -v s="$cpu_https" 'BEGIN {
	printf "menu step https / http:    %.2f of the requests per second (wrk sharing the cores)\n", a / b
	printf "runtime CPU per menu step: http %s us, https %s us: https capacity %.2f of http (target at least 0.70)\n", h, s, h / s }'

# backend_row NAME BASE IDS: the balances step and the transfer round.
backend_row() {
	local rps p99 trps tp99
	read -r rps p99 < <(IDS="$3" DIGITS=1 $pin wrk -t2 -c50 -d"${seconds}s" --latency \
		-s "$here/tests/bench/step.lua" "$2" | wrk_figures)
	read -r trps tp99 < <(IDS="$3.tx" $pin wrk -t50 -c50 -d"${seconds}s" --latency \
		-s "$here/tests/bench/transfer.lua" "$2" | wrk_figures)
	printf '%-11s balances %8s req/s, p99 %-8s  transfer round %8s req/s (%s transfers/s), p99 %s\n' \
		"$1" "$rps" "$p99" "$trps" "$(awk -v r="$trps" 'BEGIN { printf "%.0f", r / 5 }')" "$tp99"
	echo "$rps" > "$dir/$1.rps"
}

pin="" # a CPU for wrk and the runtime: taskset -c N
echo "backends: 50 connections, ${seconds}s each; runtime 8 threads (8 database connections)"
echo "all on the machine's $(nproc) cores (the runtime, wrk and PostgreSQL share them):"
backend_row sqlite "$base" "$dir/ids"
# The same on PostgreSQL: a cluster of its own, the runtime as its role.
"$here/scripts/pg-sandbox.sh" up "$dir/pg" --port 55465 --address 127.0.65.1 >/dev/null
"$bin" seed --conninfo "$(cat "$dir/pg/ivr_migrate.conninfo")" --customers 50 --seed 3 \
	--credentials-out "$dir/pg-cred.json" --kdf-iterations 1000 >/dev/null
pgport=$(free_port)
"$bin" --conninfo "$(cat "$dir/pg/ivr_app.conninfo")" --port "$pgport" \
	--drain-deadline 1s --log-level warn 2>"$dir/runtime-pg.log" &
pgrt=$!
pids+=("$pgrt")
wait_ok "http://127.0.0.1:$pgport/readyz"
login "http://127.0.0.1:$pgport" "$dir/pg-cred.json" "$dir/pg-ids"
backend_row postgresql "http://127.0.0.1:$pgport" "$dir/pg-ids"
awk -v a="$(cat "$dir/postgresql.rps")" -v b="$(cat "$dir/sqlite.rps")" \
	'BEGIN {printf "balances postgresql / sqlite: %.2f\n", a / b}'
kill "$pgrt"
wait "$pgrt" 2>/dev/null || true

# The database server on a core of its own, as on a machine of its own in
# a bank: the runtime and wrk on CPU 0 for both backends, PostgreSQL (its
# postmaster, so every backend it forks) on CPU 1.
if [ "$(nproc)" -ge 2 ]; then
	taskset -a -p 2 "$(head -n1 "$dir/pg/data/postmaster.pid")" >/dev/null
	pin="taskset -c 0"
	for b in sqlite postgresql; do
		p=$(free_port)
		if [ "$b" = sqlite ]; then
			$pin "$bin" --db "$dir/bank.db" --port "$p" --max-calls 10000 \
				--drain-deadline 1s --log-level warn 2>>"$dir/runtime.log" &
		else
			$pin "$bin" --conninfo "$(cat "$dir/pg/ivr_app.conninfo")" --port "$p" \
				--drain-deadline 1s --log-level warn 2>>"$dir/runtime-pg.log" &
		fi
		pids+=("$!")
		wait_ok "http://127.0.0.1:$p/readyz"
		login "http://127.0.0.1:$p" "$dir/$([ $b = sqlite ] && echo cred || echo pg-cred).json" "$dir/pin-$b"
		[ "$b" = sqlite ] && echo "the runtime and wrk on CPU 0, PostgreSQL on CPU 1 (a database server of its own):"
		backend_row "$b" "http://127.0.0.1:$p" "$dir/pin-$b"
	done
	awk -v a="$(cat "$dir/postgresql.rps")" -v b="$(cat "$dir/sqlite.rps")" \
		'BEGIN {printf "balances postgresql / sqlite, the database on a core of its own: %.2f (target: at least 0.5)\n", a / b}'
fi

before=$(rss_kb "$rt")
wrk -t2 -c20 -d5s -s "$here/tests/bench/new_call.lua" "$base/calls" >/dev/null
active=$(curl -s "$base/calls" | sed 's/[^0-9]//g')
after=$(rss_kb "$rt")
echo "sessions: $active calls held; RSS $((before / 1024)) MiB before," \
	"$((after / 1024)) MiB after ($(( (after - before) * 1024 / (active > 0 ? active : 1) )) bytes per call)"

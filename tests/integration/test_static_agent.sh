#!/usr/bin/env bash
# The static agent (docs/packaging.md) in an empty chroot that holds only
# the agent and its root folder: no libc, no /etc, no CA bundle, no shell.
#  - the binary has no interpreter and no dynamic section;
#  - hello, stage from incoming/, stage from an http URL (served from
#    outside the chroot on 127.0.70.1: curl, OpenSSL's sha256, libarchive),
#    activate, releases.list, a swap back and a refused stage (wrong sha256)
#    answer as the protocol says; staged files match the artifact;
#  - outside the chroot, an HTTPS server with a self-signed certificate is
#    refused (OpenSSL verifies against Debian's CA bundle), and staged from once
#    hello's CA bundle trusts it (its IP address checked).
# Needs root (chroot).  usage: test_static_agent.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
agent="$build/bin/ivr-agent"
failed=0
fail() { echo "FAIL: $*"; failed=1; }

if [ "$(id -u)" -ne 0 ]; then
	echo "FAIL: test_static_agent needs root for chroot"
	exit 1
fi
work=$(mktemp -d /tmp/ivr-static-agent.XXXXXX)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# 1. Nothing for the dynamic loader to do.
if readelf -l "$agent" | grep -q INTERP; then
	fail "ivr-agent asks for a program interpreter"
fi
readelf -d "$agent" 2>&1 | grep -q "no dynamic section" ||
	fail "ivr-agent has a dynamic section: $(readelf -d "$agent" | grep NEEDED | tr -s ' ')"
size=$(stat -c %s "$agent")
echo "ivr-agent: $size bytes, static"

# 2. Two releases from the real build.
"$top/scripts/package-runtime.sh" --build "$build" --version 1.0.0 --out "$work/dist" >/dev/null ||
	{ echo "FAIL: package 1.0.0"; exit 1; }
"$top/scripts/package-runtime.sh" --build "$build" --version 1.1.0 --out "$work/dist" >/dev/null ||
	{ echo "FAIL: package 1.1.0"; exit 1; }
sha1=$(cut -d' ' -f1 "$work/dist/ivr-runtime-1.0.0.tar.gz.sha256")
sha2=$(cut -d' ' -f1 "$work/dist/ivr-runtime-1.1.0.tar.gz.sha256")

# 3. The chroot: the agent and its root, nothing else.
jail="$work/jail"
mkdir -p "$jail/srv/ivr/incoming"
install -m 0755 "$agent" "$jail/ivr-agent"
cp "$work/dist/ivr-runtime-1.0.0.tar.gz" "$jail/srv/ivr/incoming/$sha1"
listing=$(cd "$jail" && find . | sort | tr '\n' ' ')
echo "chroot holds: $listing"

# 1.1.0 comes over HTTP from outside the chroot.
python3 - "$work/dist" "$work/port" <<'EOF' &
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
handler = functools.partial(Quiet, directory=sys.argv[1])
srv = http.server.ThreadingHTTPServer(("127.0.70.1", 0), handler)
open(sys.argv[2] + ".tmp", "w").write(str(srv.server_address[1]))
__import__("os").rename(sys.argv[2] + ".tmp", sys.argv[2])
srv.serve_forever()
EOF
server_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port" 2>/dev/null) || { echo "FAIL: the HTTP server did not start"; exit 1; }
url="http://127.0.70.1:$port/ivr-runtime-1.1.0.tar.gz"

cat >"$work/requests" <<EOF
{"jsonrpc":"2.0","id":1,"method":"hello"}
{"jsonrpc":"2.0","id":2,"method":"stage","params":{"version":"1.0.0","sha256":"$sha1"}}
{"jsonrpc":"2.0","id":3,"method":"activate","params":{"version":"1.0.0","deployment_id":"d-static-1"}}
{"jsonrpc":"2.0","id":4,"method":"stage","params":{"version":"1.1.0","sha256":"$sha2","url":"$url"}}
{"jsonrpc":"2.0","id":5,"method":"activate","params":{"version":"1.1.0","deployment_id":"d-static-2"}}
{"jsonrpc":"2.0","id":6,"method":"releases.list"}
{"jsonrpc":"2.0","id":7,"method":"stage","params":{"version":"1.2.0","sha256":"$sha1","url":"$url"}}
{"jsonrpc":"2.0","id":8,"method":"activate","params":{"version":"1.0.0","deployment_id":"d-static-3"}}
{"jsonrpc":"2.0","id":9,"method":"hello"}
EOF
timeout 60 env -i "$(command -v chroot)" "$jail" /ivr-agent serve --root /srv/ivr \
	<"$work/requests" >"$work/answers" 2>"$work/agent.log"
rc=$?
[ "$rc" -eq 0 ] || fail "the agent exited $rc: $(tail -3 "$work/agent.log")"

python3 - "$work/answers" "$sha1" "$sha2" <<'EOF' || failed=1
import json, sys
answers = {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    if "id" in m:
        answers[m["id"]] = m
bad = []
def result(i):
    m = answers.get(i)
    if m is None or "result" not in m:
        bad.append(f"request {i}: {m}")
        return {}
    return m["result"]
h = result(1)
if h.get("root") != "/srv/ivr" or h.get("current") is not None:
    bad.append(f"hello: {h}")
if result(2).get("staged") is not True:
    bad.append(f"stage 1.0.0: {answers.get(2)}")
if result(3).get("current") != "1.0.0":
    bad.append(f"activate 1.0.0: {answers.get(3)}")
if result(4).get("staged") is not True or result(4).get("files", 0) < 3:
    bad.append(f"stage 1.1.0 over http: {answers.get(4)}")
a = result(5)
if a.get("current") != "1.1.0" or a.get("previous") != "1.0.0":
    bad.append(f"activate 1.1.0: {a}")
versions = json.dumps(result(6))
if "1.0.0" not in versions or "1.1.0" not in versions:
    bad.append(f"releases.list: {versions}")
e = answers.get(7, {}).get("error", {})
if e.get("code") != -32002:
    bad.append(f"stage with the wrong sha256 not refused as integrity: {answers.get(7)}")
if result(8).get("current") != "1.0.0":
    bad.append(f"activate 1.0.0 again: {answers.get(8)}")
h = result(9)
if h.get("current") != "1.0.0" or h.get("previous") != "1.1.0" or h.get("deployment_id") != "d-static-3":
    bad.append(f"hello after the swap back: {h}")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF

# What was staged is what the artifact holds.
mkdir -p "$work/ref"
tar -xzf "$work/dist/ivr-runtime-1.1.0.tar.gz" -C "$work/ref"
diff -r "$work/ref" "$jail/srv/ivr/releases/1.1.0" >/dev/null ||
	fail "releases/1.1.0 differs from the artifact"
[ -e "$jail/srv/ivr/releases/1.2.0" ] && fail "a refused stage left releases/1.2.0"

# HTTPS is verified (OpenSSL, Debian's CA bundle): a server with a
# self-signed certificate is refused, and nothing is staged.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=127.0.70.1 -addext subjectAltName=IP:127.0.70.1 \
	-keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
python3 - "$work/dist" "$work/tls.crt" "$work/tls.key" "$work/tls-port" <<'PY' &
import functools, http.server, os, ssl, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.70.1", 0), functools.partial(Quiet, directory=sys.argv[1]))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(sys.argv[4] + ".tmp", "w").write(str(srv.server_address[1]))
os.rename(sys.argv[4] + ".tmp", sys.argv[4])
srv.serve_forever()
PY
tls_pid=$!
for _ in $(seq 50); do [ -s "$work/tls-port" ] && break; sleep 0.1; done
mkdir -p "$work/tlsroot"
printf '{"jsonrpc":"2.0","id":1,"method":"stage","params":{"version":"1.1.0","sha256":"%s","url":"https://127.0.70.1:%s/ivr-runtime-1.1.0.tar.gz"}}\n' \
	"$sha2" "$(cat "$work/tls-port")" |
	timeout 30 "$agent" serve --root "$work/tlsroot" >"$work/tls.out" 2>>"$work/agent.log"
grep -q '"error"' "$work/tls.out" && grep -Eqi 'certificate|cert verify failed' "$work/tls.out" ||
	fail "a self-signed HTTPS server was not refused: $(cat "$work/tls.out")"
[ -e "$work/tlsroot/releases/1.1.0" ] && fail "staged from an unverified server"
echo "https with a self-signed certificate: $(python3 -c 'import json,sys; print(*[m["error"]["message"] for m in map(json.loads, sys.stdin) if "error" in m])' <"$work/tls.out")"
# The same server once hello's CA bundle (a plan's tls.ca_file) trusts its
# certificate: verified by its IP address (subjectAltName IP:...), staged.
python3 - "$work/tls.crt" "$sha2" "$(cat "$work/tls-port")" <<'PY' >"$work/tls-trust.in"
import json, sys
ca = open(sys.argv[1]).read()
print(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "hello", "params": {"ca": ca}}))
print(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "stage", "params": {
    "version": "1.1.0", "sha256": sys.argv[2],
    "url": "https://127.0.70.1:%s/ivr-runtime-1.1.0.tar.gz" % sys.argv[3]}}))
PY
timeout 30 "$agent" serve --root "$work/tlsroot" <"$work/tls-trust.in" >"$work/tls-trust.out" 2>>"$work/agent.log"
kill "$tls_pid" 2>/dev/null; wait "$tls_pid" 2>/dev/null
[ -e "$work/tlsroot/releases/1.1.0" ] && ! grep -q '"error"' "$work/tls-trust.out" ||
	fail "the server hello's CA bundle trusts was refused: $(cat "$work/tls-trust.out")"

if [ "$failed" -ne 0 ]; then
	echo "agent log:"; tail -20 "$work/agent.log"
	exit 1
fi
echo "PASS: the static agent staged (from incoming/ and over HTTP), activated and swapped back in an empty chroot"

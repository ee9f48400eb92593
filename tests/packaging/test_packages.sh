#!/usr/bin/env bash
# The three Debian packages on this machine (docs/packaging.md):
#  - cpack builds ivr-deploy, ivr-agent and ivr-runtime; lintian reports no
#    error or warning that an override does not explain;
#  - dpkg -i installs them: ivrctl --version, man ivrctl, the completion,
#    the examples, the ivr-runtime user and its 0750 state folder, the
#    conffile, the static agent;
#  - systemd-analyze verify passes on both units and security scores them
#    under 3.0 (printed);
#  - under a real systemd (the user manager, tests/packaging/
#    systemd-sandbox.sh): ivr-runtime.service starts as its user with no
#    capability, systemctl start returns once READY=1 came (readyz answers
#    at once), a stop waits for the call in progress (STOPPING=1, status
#    "draining 1 call(s)") and cuts none; the agent's systemd manager
#    (scope user) starts and stops ivr-runtime@<root>.service of a root it
#    staged;
#  - dpkg -r leaves nothing of the packages but the conffile (and the
#    bank's data); dpkg -P removes the conffile.
# Needs root; runs itself in a private mount namespace.
# usage: test_packages.sh BUILD_DIR
set -uo pipefail
if [ -z "${IVR_PKG_TEST_NS:-}" ]; then
	IVR_PKG_TEST_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
build=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/packaging/systemd-sandbox.sh"
failed=0
fail() { echo "FAIL: $*"; failed=1; }
net=127.0.71
version=$(grep -o -m1 'ivr-deploy VERSION [0-9.]*' "$top/CMakeLists.txt" | cut -d' ' -f3)
pkgs="ivr-deploy ivr-agent ivr-runtime"

if [ "$(id -u)" -ne 0 ]; then
	echo "FAIL: test_packages needs root (dpkg -i)"
	exit 1
fi
for p in $pkgs; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
		echo "FAIL: $p is installed already; this test installs and purges it"
		exit 1
	fi
done
had_state=0
[ -e /var/lib/ivr-runtime ] && had_state=1
work=$(mktemp -d /tmp/ivr-pkg-test.XXXXXX)
# The agent's root for the template unit lives outside /tmp and /var/tmp,
# which the unit's PrivateTmp hides; its "-" is "\x2d" in the unit's name.
agent_home=$(mktemp -d /var/lib/ivr-pkg-test.XXXXXX)
cleanup() {
	systemctl --user stop 'ivr-runtime*' >/dev/null 2>&1
	sandbox_stop
	dpkg -P $pkgs >/dev/null 2>&1
	[ "$had_state" -eq 0 ] && rm -rf /var/lib/ivr-runtime
	rm -rf "$work" "$agent_home"
}
trap cleanup EXIT

# 1. Build and check the packages.
rm -f "$build"/deb/*.deb
(cd "$build" && cpack -G DEB >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; exit 1; }
debs=()
for p in $pkgs; do
	deb="$build/deb/${p}_${version}-1_amd64.deb"
	[ -f "$deb" ] || { echo "FAIL: no $deb"; exit 1; }
	debs+=("$deb")
	echo "$(basename "$deb"): $(stat -c %s "$deb") bytes; Depends: $(dpkg-deb -f "$deb" Depends)"
done
"$top/scripts/lintian-check.sh" "${debs[@]}" | tail -1
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "lintian reports errors or warnings"

# 2. Install.
dpkg -i "${debs[@]}" >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail "dpkg -i"; exit 1; }
[ "$(ivrctl --version)" = "$("$build/bin/ivrctl" --version)" ] ||
	fail "ivrctl --version: $(ivrctl --version)"
echo "installed: $(ivrctl --version), $(ivr-agent --version), $(ivr-runtime --version)"
MANWIDTH=80 man -P cat ivrctl 2>/dev/null | grep -q "ivrctl - deploy, roll back" || fail "man ivrctl"
for m in ivr-agent ivr-runtime; do man -w "$m" >/dev/null 2>&1 || fail "no man page $m"; done
[ -f /usr/share/bash-completion/completions/ivrctl ] || fail "no bash completion"
[ -f /usr/share/doc/ivr-deploy/examples/production.yaml ] || fail "no example plans"
getent passwd ivr-runtime | grep -q ':/usr/sbin/nologin$' || fail "no ivr-runtime system user"
[ "$(stat -c '%a %U' /var/lib/ivr-runtime)" = "750 ivr-runtime" ] ||
	fail "/var/lib/ivr-runtime: $(stat -c '%a %U' /var/lib/ivr-runtime)"
dpkg-query -W -f='${Conffiles}\n' ivr-runtime | grep -q '/etc/ivr-runtime/runtime.yaml' ||
	fail "/etc/ivr-runtime/runtime.yaml is not a conffile"
readelf -d /usr/bin/ivr-agent 2>&1 | grep -q "no dynamic section" || fail "the packaged agent is not static"

# 3. The agent's root, with a staged release, for the template unit.
root="$agent_home/root"
escaped=$(systemd-escape --path "$root")
unit="ivr-runtime@$escaped.service"
"$top/scripts/package-runtime.sh" --build "$build" --version 3.1.0 --out "$work/dist" >/dev/null ||
	{ echo "FAIL: package-runtime"; exit 1; }
sha=$(cut -d' ' -f1 "$work/dist/ivr-runtime-3.1.0.tar.gz.sha256")
mkdir -p "$root/incoming" "$root/shared"
cp "$work/dist/ivr-runtime-3.1.0.tar.gz" "$root/incoming/$sha"
cat >"$root/shared/runtime.yaml" <<YAML
listen: { address: $net.2, port: 18072 }
database: { backend: sqlite, path: bank.db }
drain: { deadline: 5s }
YAML
printf '%s\n' \
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"stage\",\"params\":{\"version\":\"3.1.0\",\"sha256\":\"$sha\"}}" \
	"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"activate\",\"params\":{\"version\":\"3.1.0\",\"deployment_id\":\"d-pkg\"}}" |
	/usr/bin/ivr-agent serve --root "$root" >"$work/stage.out" 2>>"$work/agent.log"
grep -q '"current":"3.1.0"' "$work/stage.out" || fail "staging for the template unit: $(cat "$work/stage.out")"

# 4. systemd-analyze on the installed units.
out=$(systemd-analyze verify /lib/systemd/system/ivr-runtime.service 2>&1)
[ -z "$out" ] || fail "systemd-analyze verify ivr-runtime.service: $out"
mkdir -p "$work/units"
cp /lib/systemd/system/ivr-runtime@.service "$work/units/"
out=$(systemd-analyze verify "$work/units/$unit" 2>&1)
[ -z "$out" ] || fail "systemd-analyze verify $unit: $out"
for u in /lib/systemd/system/ivr-runtime.service "$work/units/$unit"; do
	score=$(systemd-analyze security --offline=true "$u" 2>&1 |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	echo "systemd-analyze security $(basename "$u"): exposure $score (target under 3.0)"
	awk -v s="${score:-99}" 'BEGIN { exit !(s < 3.0) }' || fail "exposure of $(basename "$u"): ${score:-none}"
done

# 5. Under systemd.
conf="$work/config"
sandbox_start "$conf" || { fail "the systemd user manager did not start: $(tail -5 "$conf/manager.log")"; exit 1; }
mkdir -p "$conf/systemd/user/ivr-runtime.service.d" "$conf/systemd/user/$unit.d"
ln -s /lib/systemd/system/ivr-runtime.service "$conf/systemd/user/"
ln -s /lib/systemd/system/ivr-runtime@.service "$conf/systemd/user/"
cat >"$conf/systemd/user/ivr-runtime.service.d/sandbox.conf" <<CONF
[Service]
ExecStart=
ExecStart=/usr/bin/ivr-runtime serve --config /etc/ivr-runtime/runtime.yaml --listen $net.1 --port 18071 --drain-deadline 5s
ReadWritePaths=/var/lib/ivr-runtime
StandardError=append:$work/runtime.log
$SANDBOX_RELAX
CONF
cat >"$conf/systemd/user/$unit.d/sandbox.conf" <<CONF
[Service]
StandardError=append:$work/runtime-at.log
$SANDBOX_RELAX
CONF
systemctl --user daemon-reload
start=$(date +%s%N)
systemctl --user start ivr-runtime.service || fail "systemctl --user start ivr-runtime.service"
ms=$((($(date +%s%N) - start) / 1000000))
ready=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$net.1:18071/readyz")
echo "ivr-runtime.service: started in $ms ms; /readyz answered $ready at once"
[ "$ready" = 200 ] || fail "readyz right after systemctl start: $ready"
pid=$(systemctl --user show -p MainPID --value ivr-runtime.service)
status=$(systemctl --user show -p StatusText --value ivr-runtime.service)
[[ "$status" == "taking calls: version $version"* ]] || fail "StatusText: $status"
if [ "${pid:-0}" -gt 0 ]; then
	uid=$(awk '/^Uid:/ { print $2 }' /proc/"$pid"/status)
	capbnd=$(awk '/^CapBnd:/ { print $2 }' /proc/"$pid"/status)
	nnp=$(awk '/^NoNewPrivs:/ { print $2 }' /proc/"$pid"/status)
	echo "runtime pid $pid: uid $uid ($(id -nu "$uid")), CapBnd $capbnd, NoNewPrivs $nnp"
	[ "$uid" = "$(id -u ivr-runtime)" ] || fail "the runtime runs as uid $uid"
	[ "$capbnd" = 0000000000000000 ] || fail "capabilities left: $capbnd"
	[ "$nnp" = 1 ] || fail "NoNewPrivs is $nnp"
else
	fail "no MainPID"
fi
[ -f /var/lib/ivr-runtime/bank.db ] || fail "no bank in /var/lib/ivr-runtime"
# A stop while a call is in progress: the runtime drains, the call ends.
call=$(curl -s -X POST --max-time 2 "http://$net.1:18071/calls" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["call_id"])')
(
	sleep 1
	systemctl --user show -p StatusText --value ivr-runtime.service >"$work/draining"
	curl -s -X DELETE --max-time 2 "http://$net.1:18071/calls/$call" >/dev/null
) &
hangup=$!
start=$(date +%s%N)
systemctl --user stop ivr-runtime.service || fail "systemctl --user stop"
ms=$((($(date +%s%N) - start) / 1000000))
wait "$hangup"
echo "ivr-runtime.service: stop took $ms ms with one call in progress; status then: $(cat "$work/draining")"
[ "$(cat "$work/draining")" = "draining 1 call(s)" ] || fail "no STOPPING status while draining"
[ "$ms" -ge 900 ] || fail "the stop did not wait for the call ($ms ms)"
grep -q 'drained: stopping calls_cut=0' "$work/runtime.log" || fail "calls were cut: $(tail -3 "$work/runtime.log")"

# The agent's systemd manager against the template unit.
# The unit's name is JSON-escaped: an escaped path holds backslashes
# ("fresh\x2dcheck").
svc="\"manager\":\"systemd\",\"scope\":\"user\",\"unit\":\"${unit//\\/\\\\}\",\"stop_timeout_ms\":20000"
printf '%s\n' \
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service.start\",\"params\":{$svc}}" \
	"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"health.wait\",\"params\":{\"url\":\"http://$net.2:18072/readyz\",\"expect_version\":\"3.1.0\",\"deadline_ms\":5000}}" \
	"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"hello\",\"params\":{${svc%,\"stop_timeout_ms\"*}}}" \
	"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"hello\"}" \
	"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"service.start\",\"params\":{$svc}}" \
	"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"service.stop\",\"params\":{$svc}}" \
	"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"service.start\",\"params\":{\"manager\":\"systemd\",\"scope\":\"user\",\"unit\":\"--no-such\"}}" \
	"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"service.start\",\"params\":{\"manager\":\"systemd\",\"scope\":\"user\",\"unit\":\"ivr-no-such.service\"}}" |
	/usr/bin/ivr-agent serve --root "$root" >"$work/agent.out" 2>>"$work/agent.log"
python3 - "$work/agent.out" <<'PY' || failed=1
import json, sys
a = {m["id"]: m for m in map(json.loads, open(sys.argv[1])) if "id" in m}
bad = []
r = a.get(1, {}).get("result", {})
if not (r.get("running") and r.get("pid", 0) > 0 and r.get("already") is False):
    bad.append(f"service.start: {a.get(1)}")
if "result" not in a.get(2, {}):
    bad.append(f"health.wait: {a.get(2)}")
# hello with the service's params sees the unit's MainPID; without them,
# only the supervisor's pid file (there is none here)
h = a.get(7, {}).get("result", {}).get("runtime", {})
if not (h.get("running") and h.get("pid") == r.get("pid")):
    bad.append(f"hello with the systemd service: {a.get(7)}")
if a.get(8, {}).get("result", {}).get("runtime", {}).get("running") is not False:
    bad.append(f"hello without it: {a.get(8)}")
if a.get(3, {}).get("result", {}).get("already") is not True:
    bad.append(f"service.start again: {a.get(3)}")
r = a.get(4, {}).get("result", {})
if not (r.get("how") == "systemctl" and r.get("running") is False and r.get("already") is False):
    bad.append(f"service.stop: {a.get(4)}")
if a.get(5, {}).get("error", {}).get("code") != -32602:
    bad.append(f"an option as a unit name: {a.get(5)}")
e = a.get(6, {}).get("error", {})
if e.get("code") != -32000 or "systemctl --user start ivr-no-such.service failed" not in e.get("message", ""):
    bad.append(f"a unit that does not exist: {a.get(6)}")
for b in bad:
    print("FAIL:", b)
if not bad:
    print("agent (manager systemd, scope user):", json.dumps(a[1]["result"]), json.dumps(a[4]["result"]))
sys.exit(1 if bad else 0)
PY
sandbox_stop

# 6. Remove: nothing left but the conffile; purge: not even that.
for p in $pkgs; do dpkg -L "$p"; done | sort -u >"$work/files"
dpkg -r $pkgs >"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail "dpkg -r"; }
left=$(while read -r f; do
	[ -e "$f" ] && [ ! -d "$f" ] && echo "$f"
done <"$work/files")
[ "$left" = /etc/ivr-runtime/runtime.yaml ] || fail "after dpkg -r, left: ${left:-nothing}"
echo "after dpkg -r: left ${left:-nothing}; the bank's data kept: $(ls /var/lib/ivr-runtime | tr '\n' ' ')"
dpkg -P $pkgs >"$work/dpkg-p.log" 2>&1 || { cat "$work/dpkg-p.log"; fail "dpkg -P"; }
[ -e /etc/ivr-runtime ] && fail "after dpkg -P, /etc/ivr-runtime is left"
find /etc/systemd /var/lib/systemd -name '*ivr-runtime*' 2>/dev/null | grep -q . &&
	fail "systemd state left: $(find /etc/systemd /var/lib/systemd -name '*ivr-runtime*')"

if [ "$failed" -ne 0 ]; then
	tail -5 "$work/agent.log" "$work/runtime.log" "$work/runtime-at.log" 2>/dev/null
	exit 1
fi
echo "PASS: packages built, lintian clean, installed, run under systemd, removed and purged"

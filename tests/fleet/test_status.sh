#!/usr/bin/env bash
# ivrctl status against the real sandbox fleet (sshd per host, HAProxy):
# a fresh fleet, mixed releases, one release everywhere, the agent
# bootstrapped once then reused, an unknown host key, a changed host key,
# a wrong client key, a host that offers only RSA, a host that never
# answers (reported within its timeout while the others answer).
# usage: test_status.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test status 127.0.41
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	"$fleet" down --dir "$dir/fleet" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT

"$fleet" up 3 --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
json() { "$ivrctl" status "$1" --output json 2>/dev/null; }
field() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# The bundled agent's version, as a JSON string ("0.2.2").
build_agent_version() { "$build/bin/ivr-agent" --version | awk '{print "\"" $2 "\""}'; }


# A fresh fleet: reachable, no release, not consistent; agents uploaded.
out=$(json "$plan"); rc=$?
[ "$rc" -eq 3 ] || fail "fresh fleet: exit $rc, not 3"
[ "$(field 'd["consistent"], d["release"], len(d["hosts"])' <<<"$out")" = "False None 3" ] ||
	fail "fresh fleet: $out"
[ "$(field '[h["reachable"] and h["agent_uploaded"] for h in d["hosts"]]' <<<"$out")" = "[True, True, True]" ] ||
	fail "fresh fleet: agents not bootstrapped: $out"
[ "$(field '[h["pool_state"] for h in d["hosts"]]' <<<"$out")" = "['ready', 'ready', 'ready']" ] ||
	fail "fresh fleet: pool states: $out"
out=$(json "$plan")
[ "$(field '[h["agent_uploaded"] for h in d["hosts"]]' <<<"$out")" = "[False, False, False]" ] ||
	fail "the agent was uploaded again: $out"

# The dry run on hosts never deployed to (a root not made yet): read-only
# agents read each as empty and create nothing.
package 1.0.0
sed "s|^  root: \(.*\)/root$|  root: \\1/root-dry|" "$plan" > "$dir/fleet/plan-dry.yaml"
grep -q "^  root: .*/root-dry$" "$dir/fleet/plan-dry.yaml" || fail "no plan with another root"
out=$("$ivrctl" plan "$dir/fleet/plan-dry.yaml" --artifact "$dir/dist/ivr-runtime-1.0.0.tar.gz" --output json); rc=$?
[ "$rc" -eq 0 ] || fail "dry run on a fresh root: exit $rc: $out"
[ "$(field '[(h["current"], h["action"]) for h in d["hosts"]]' <<<"$out")" = \
	"[(None, 'upload'), (None, 'upload'), (None, 'upload')]" ] ||
	fail "dry run on a fresh root: $out"
for n in 01 02 03; do
	[ -e "$dir/fleet/hosts/ivr-$n/root-dry" ] && fail "the dry run created ivr-$n's root"
done

# Releases put on the hosts through their agents, by hand.
for v in 1.0.0 1.1.0; do
	package $v
done
ssh_to() { # host-number command
	ssh -i "$dir/fleet/client_key" -o UserKnownHostsFile="$dir/fleet/known_hosts" \
		-o StrictHostKeyChecking=yes -o BatchMode=yes -p 2222 "root@$net.$1" "$2"
}
install() { # host-number version
	local n=$1 v=$2 name sha root
	name=$(printf 'ivr-%02d' "$n")
	root="$dir/fleet/hosts/$name/root"
	sha=$(cut -d' ' -f1 "$dir/dist/ivr-runtime-$v.tar.gz.sha256")
	ssh_to "$n" "cat > $root/incoming/$sha" < "$dir/dist/ivr-runtime-$v.tar.gz"
	printf '%s\n%s\n' \
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"stage\",\"params\":{\"version\":\"$v\",\"sha256\":\"$sha\"}}" \
		"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"activate\",\"params\":{\"version\":\"$v\",\"deployment_id\":\"by-hand\"}}" |
		ssh_to "$n" "$dir/fleet/hosts/$name/bin/ivr-agent serve --root $root 2>/dev/null" | grep -q '"id":2,"result"' ||
		fail "could not install $v on $name"
}
install 1 1.0.0; install 2 1.0.0; install 3 1.1.0
out=$(json "$plan"); rc=$?
[ "$rc" -eq 3 ] || fail "mixed releases: exit $rc, not 3"
[ "$(field '[h["current"] for h in d["hosts"]], d["consistent"]' <<<"$out")" = "['1.0.0', '1.0.0', '1.1.0'] False" ] ||
	fail "mixed releases: $out"
install 3 1.0.0
# One release everywhere, but no runtime started: not consistent (exit 3),
# and the reason names the first host whose runtime is stopped.
out=$(json "$plan"); rc=$?
[ "$rc" -eq 3 ] || fail "one release, runtimes stopped: exit $rc, not 3"
[ "$(field 'd["consistent"], d["release"], d["not_consistent_because"]' <<<"$out")" = "False None ivr-01 its runtime is stopped" ] ||
	fail "one release, runtimes stopped: $out"
table=$("$ivrctl" status "$plan")
grep -q '^sandbox: NOT consistent: ivr-01 its runtime is stopped$' <<<"$table" ||
	fail "the table does not say why the fleet is not consistent: $table"
# HAProxy's health check marks every member DOWN.
[ "$(field '[h.get("pool_up") for h in d["hosts"]]' <<<"$out")" = "[False, False, False]" ] ||
	fail "pool_up with no runtime: $out"
grep -Eq '^ivr-01 .* stopped +ready,DOWN( +-)?$' <<<"$table" || fail "the table does not show DOWN: $table"
# The runtimes started through the agents: consistent once HAProxy's next
# check passes.
for n in 1 2 3; do
	name=$(printf 'ivr-%02d' "$n")
	echo '{"jsonrpc":"2.0","id":1,"method":"service.start","params":{}}' |
		ssh_to "$n" "$dir/fleet/hosts/$name/bin/ivr-agent serve --root $dir/fleet/hosts/$name/root 2>/dev/null" |
		grep -q '"result"' || fail "could not start $name's runtime"
done
for _ in $(seq 50); do
	out=$(json "$plan"); rc=$?
	[ "$rc" -eq 0 ] && break
	sleep 0.2
done
[ "$rc" -eq 0 ] || fail "one release, runtimes started: exit $rc, not 0: $out"
[ "$(field 'd["consistent"], d["release"], d["hosts"][2]["previous"], d["not_consistent_because"]' <<<"$out")" = "True 1.0.0 1.1.0 None" ] ||
	fail "one release: $out"
[ "$(field '[h.get("pool_up") for h in d["hosts"]]' <<<"$out")" = "[True, True, True]" ] ||
	fail "pool_up with the runtimes started: $out"
"$ivrctl" status "$plan" | grep -q '^sandbox: consistent, every host on 1.0.0, ready and in the pool$' ||
	fail "the table does not say the fleet is consistent"

# The dry run reads the hosts and changes nothing on them.
snapshot() { find "$dir/fleet/hosts" -printf '%p %s %T@\n' | sort; }
before=$(snapshot)
out=$("$ivrctl" plan "$plan" --artifact "$dir/dist/ivr-runtime-1.1.0.tar.gz"); rc=$?
[ "$rc" -eq 0 ] || fail "plan: exit $rc"
[ "$(snapshot)" = "$before" ] || fail "plan changed files on the hosts"
grep -q "^ivr-01 .*1.0.0 *-> 1.1.0 *upload, unpack, activate$" <<<"$out" ||
	fail "plan: ivr-01's line: $out"
grep -q "^ivr-03 .*1.0.0 *-> 1.1.0 *staged already: activate$" <<<"$out" ||
	fail "plan: ivr-03's line: $out"
grep -q "^  1. canary: 1 host$" <<<"$out" || fail "plan: no canary phase: $out"
grep -q "^     batch 2: ivr-03$" <<<"$out" || fail "plan: no batch with ivr-03: $out"
# The same dry run as JSON, which fits the output schema.
out=$("$ivrctl" plan "$plan" --artifact "$dir/dist/ivr-runtime-1.1.0.tar.gz" --output json); rc=$?
[ "$rc" -eq 0 ] || fail "plan --output json: exit $rc"
[ "$(snapshot)" = "$before" ] || fail "plan --output json changed files on the hosts"
fits plan <<<"$out" || fail "plan --output json does not fit the schema: $out"
[ "$(field '[h["action"] for h in d["hosts"]], d["phases"][1]["batches"], d["complete"]' <<<"$out")" = \
	"['upload', 'upload', 'activate'] [['ivr-02'], ['ivr-03']] True" ] || fail "plan --output json: $out"
json "$plan" | fits status || fail "status --output json does not fit the schema"

# An agent that answers what no real one would (a release without a
# version; its own version as the controller expects it): read as having
# nothing, refused cleanly, never a crash.
fake="$dir/fleet/hosts/ivr-03/bin/ivr-agent"
cp "$fake" "$dir/real-agent"
cat > "$fake" <<PY
#!/usr/bin/python3
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    m = req.get("method")
    if m == "hello":
        r = {"agent_version": $(build_agent_version), "protocol_version": 2, "current": "1.0.0", "runtime": {}}
    elif m == "releases.list":
        r = {"releases": [{"current": True}, {"version": None}], "incoming": []}
    else:
        print(json.dumps({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32000, "message": "no"}}), flush=True)
        continue
    print(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": r}), flush=True)
PY
out=$(XDG_STATE_HOME="$dir/state" "$ivrctl" rollback "$plan" --to 1.0.0 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "ivr-03 does not have 1.0.0 on disk" <<<"$out" ||
	fail "an agent listing a release without a version: exit $rc: $out"
cp "$dir/real-agent" "$fake"

# An unknown host key: known_hosts without ivr-02's line.
cp "$plan" "$dir/fleet/plan-unknown.yaml"
grep -v "^\[$net.2\]" "$dir/fleet/known_hosts" > "$dir/fleet/known_hosts.partial"
sed -i 's/^  known_hosts: known_hosts$/  known_hosts: known_hosts.partial/' "$dir/fleet/plan-unknown.yaml"
out=$(json "$dir/fleet/plan-unknown.yaml")
err=$(field 'd["hosts"][1].get("error", "")' <<<"$out")
want="[$net.2]:2222 $(cut -d' ' -f1,2 "$dir/fleet/hosts/ivr-02/ssh_host_ed25519_key.pub")"
fp=$(ssh-keygen -lf "$dir/fleet/hosts/ivr-02/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
case "$err" in *"unknown host key ssh-ed25519 $fp"*"add this line to"*"$want"*) ;;
*) fail "unknown host key: '$err' (want the fingerprint $fp and '$want')" ;; esac
[ "$(field 'd["hosts"][0]["reachable"], d["hosts"][2]["reachable"]' <<<"$out")" = "True True" ] ||
	fail "the other hosts did not answer"

# A line without the port names the host's port 22, not 2222: as OpenSSH,
# the key is unknown here.
sed "s/^\[$net.2\]:2222 /$net.2 /" "$dir/fleet/known_hosts" > "$dir/fleet/known_hosts.noport"
sed 's/^  known_hosts: known_hosts$/  known_hosts: known_hosts.noport/' "$plan" > "$dir/fleet/plan-noport.yaml"
out=$(json "$dir/fleet/plan-noport.yaml")
case "$(field 'd["hosts"][1].get("error", "")' <<<"$out")" in
*"unknown host key ssh-ed25519 $fp"*) ;;
*) fail "a known_hosts line without the port was taken for port 2222: $out" ;; esac
# An empty known_hosts knows no host (it once crashed ivrctl).
: > "$dir/fleet/known_hosts.empty"
sed 's/^  known_hosts: known_hosts$/  known_hosts: known_hosts.empty/' "$plan" > "$dir/fleet/plan-empty.yaml"
out=$(json "$dir/fleet/plan-empty.yaml"); rc=$?
[ "$rc" -eq 3 ] || fail "an empty known_hosts: exit $rc, not 3: $out"
case "$(field 'd["hosts"][0].get("error", "")' <<<"$out")" in
*"unknown host key ssh-ed25519"*) ;;
*) fail "an empty known_hosts: $out" ;; esac
# A key marked @revoked is refused even beside a line that accepts it.
{ cat "$dir/fleet/known_hosts"; echo "@revoked * $(cut -d' ' -f1,2 "$dir/fleet/hosts/ivr-02/ssh_host_ed25519_key.pub")"; } > "$dir/fleet/known_hosts.revoked"
sed 's/^  known_hosts: known_hosts$/  known_hosts: known_hosts.revoked/' "$plan" > "$dir/fleet/plan-revoked.yaml"
out=$(json "$dir/fleet/plan-revoked.yaml")
case "$(field 'd["hosts"][1].get("error", "")' <<<"$out")" in
*"the host key ssh-ed25519 $fp is REVOKED in"*) ;;
*) fail "a revoked host key was accepted: $out" ;; esac
[ "$(field 'd["hosts"][0]["reachable"]' <<<"$out")" = "True" ] || fail "revoked: ivr-01 did not answer: $out"

# A changed host key: ivr-03 gets a new key.
old=$(cat "$dir/fleet/hosts/ivr-03/sshd.pid")
kill "$old"
for _ in $(seq 50); do [ -e "/proc/$old" ] || break; sleep 0.1; done
ssh-keygen -q -t ed25519 -N '' -f "$dir/fleet/hosts/ivr-03/ssh_host_ed25519_key" <<<y >/dev/null
sshd_up "$dir/fleet/hosts/ivr-03/sshd_config" "$dir/fleet/hosts/ivr-03/sshd.pid" ||
	fail "ivr-03's sshd did not come back"
out=$(json "$plan")
case "$(field 'd["hosts"][2].get("error", "")' <<<"$out")" in
*"ivr-03 ($net.3:2222): HOST KEY CHANGED"*) ;;
*) fail "changed host key: $out" ;; esac

# Keys from ssh-agent when the plan names no identity file.
eval "$(ssh-agent -s -a "$dir/agent.sock")" >/dev/null
pids+=("$SSH_AGENT_PID")
ssh-add -q "$dir/fleet/client_key" 2>/dev/null
grep -v '^  identity_file: ' "$plan" > "$dir/fleet/plan-agent.yaml"
out=$(json "$dir/fleet/plan-agent.yaml")
[ "$(field '[h["reachable"] for h in d["hosts"][:2]]' <<<"$out")" = "[True, True]" ] ||
	fail "login with ssh-agent: $out"
out=$(SSH_AUTH_SOCK= json "$dir/fleet/plan-agent.yaml")
case "$(field 'd["hosts"][0].get("error", "")' <<<"$out")" in
*"no identity_file in the plan and no ssh-agent to ask"*) ;;
*) fail "no agent: $out" ;; esac
kill "$SSH_AGENT_PID"
unset SSH_AUTH_SOCK SSH_AGENT_PID

# An agent root the agent cannot create: said, with the root.
sed 's#^  root: .*#  root: /dev/null/{name}#' "$plan" > "$dir/fleet/plan-root.yaml"
out=$(json "$dir/fleet/plan-root.yaml")
case "$(field 'd["hosts"][0].get("error", "")' <<<"$out")" in
*"the agent did not start with its root '/dev/null/ivr-01'"*"the command ended"*) ;;
*) fail "unwritable agent root: $out" ;; esac

# A client key the hosts do not accept.
ssh-keygen -q -t ed25519 -N '' -f "$dir/fleet/other_key"
sed 's/^  identity_file: client_key$/  identity_file: other_key/' "$plan" > "$dir/fleet/plan-key.yaml"
out=$(json "$dir/fleet/plan-key.yaml")
case "$(field 'd["hosts"][0].get("error", "")' <<<"$out")" in
*"ivr-01 ($net.1:2222): the key '"*"other_key' was refused for user 'root'"*) ;;
*) fail "wrong client key: $out" ;; esac

# A host that offers only an RSA host key.
mkdir -p "$dir/rsa"
ssh-keygen -q -t rsa -b 2048 -N '' -f "$dir/rsa/key"
sed -e "s#^HostKey .*#HostKey $dir/rsa/key#" -e "s#^PidFile .*#PidFile $dir/rsa/sshd.pid#" \
	-e "s#^ListenAddress .*#ListenAddress $net.9:2222#" \
	"$dir/fleet/hosts/ivr-01/sshd_config" > "$dir/rsa/sshd_config"
sshd_up "$dir/rsa/sshd_config" "$dir/rsa/sshd.pid" || fail "the RSA-only sshd did not start"
pids+=("$(cat "$dir/rsa/sshd.pid")")
# A host that accepts TCP and never speaks SSH.
/usr/bin/python3 -c "
import socket, time
s = socket.socket(); s.bind(('$net.8', 2222)); s.listen(8)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
" &
pids+=("$!")
sleep 0.3
sed -e "s/^    - { name: ivr-03, address: $net.3 }$/    - { name: ivr-03, address: $net.3 }\n    - { name: rsa-only, address: $net.9 }\n    - { name: silent, address: $net.8 }/" \
	-e 's/^  connect_timeout: 3s$/  connect_timeout: 2s/' \
	-e 's/^    - { name: canary, hosts: 1 }$/    - { name: canary, hosts: 1 }/' "$plan" > "$dir/fleet/plan-odd.yaml"
start=$(date +%s%N)
out=$(json "$dir/fleet/plan-odd.yaml")
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
case "$(field 'd["hosts"][3].get("error", "")' <<<"$out")" in
*"rsa-only ($net.9:2222): the host offers no ed25519 or ECDSA host key (only RSA?)"*) ;;
*) fail "RSA-only host: $out" ;; esac
case "$(field 'd["hosts"][4].get("error", "")' <<<"$out")" in
*"silent ($net.8:2222): no SSH answer within 2000 ms"*) ;;
*) fail "silent host: $out" ;; esac
[ "$(field 'd["hosts"][0]["current"]' <<<"$out")" = "1.0.0" ] || fail "the others did not answer: $out"
[ "$elapsed" -lt 6000 ] || fail "a silent host held status for ${elapsed} ms"

[ "$failed" -eq 0 ] && echo "status: fresh, mixed, stopped and consistent fleets read; the dry run changed nothing; unknown and changed host keys, a line without the port, a revoked key, a foreign client key and an RSA-only host refused; ssh-agent logins; a silent host reported in ${elapsed} ms"
exit "$failed"

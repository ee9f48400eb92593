#!/usr/bin/env bash
# The plan's access rules, with real Unix accounts, on a 3-host fleet whose
# lock and journal live on a 3-member etcd cluster: every operator runs
# ivrctl as their own account (setpriv) with a state folder of their own,
# as on machines of their own.
#
#   ivr-alice    access.deploy, and an approver (@ivr-approvers)
#   ivr-bob      an approver (@ivr-approvers)
#   ivr-carol    access.oncall
#   ivr-dave     nothing
#
# dave's deployment is refused (exit 5) before any host is touched and the
# refusal is journaled; alice's deployment waits at the half phase's gate
# (approval_wait); her own `ivrctl approve` is refused (distinct_approver),
# bob's from his folder lets it go on; carol rolls back, dave may not;
# history reads the same from every folder.
# usage: test_access.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test access 127.0.83

users="ivr-alice ivr-bob ivr-carol ivr-dave"
made_users=""
cleanup() {
	[ -z "${deploy_pid:-}" ] || kill -KILL "$deploy_pid" 2>/dev/null
	"$fleet" down --dir "$dir/fleet" >/dev/null 2>&1
	for u in $made_users; do userdel "$u" 2>/dev/null; done
	for g in ivr-approvers ivr-ops; do
		[[ " $made_groups " == *" $g "* ]] && groupdel "$g" 2>/dev/null
	done
	rm -rf "$dir"
}
made_groups=""
trap cleanup EXIT
for g in ivr-approvers ivr-ops; do
	getent group "$g" >/dev/null || { groupadd --system "$g" && made_groups="$made_groups $g"; }
done
for u in $users; do
	if ! getent passwd "$u" >/dev/null; then
		useradd --system --no-create-home --shell /usr/sbin/nologin -G ivr-ops "$u" ||
			{ echo "FAIL: useradd $u"; exit 1; }
		made_users="$made_users $u"
	fi
	usermod -a -G ivr-ops "$u"
done
usermod -a -G ivr-approvers ivr-alice
usermod -a -G ivr-approvers ivr-bob

"$fleet" up 3 --dir "$dir/fleet" --net $net --etcd >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
package 1.0.0 && package 1.1.0 || { echo "FAIL: package"; exit 1; }
"$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" >/dev/null || { echo "FAIL: first install"; exit 1; }

# What the operators share: ivrctl with its agent, the artifacts, and a
# plan (the fleet's, with access rules and without the bank's database,
# whose password file is root's) beside the key, known_hosts and the
# fleet's CA, readable
# by the group ivr-ops only.
shared="$dir/shared"
mkdir -p "$shared/bin" "$shared/dist" "$shared/tls"
cp "$build/bin/ivrctl" "$build/bin/ivr-agent" "$shared/bin/"
cp "$dir/fleet/tls/ca.pem" "$shared/tls/" # the CA every check trusts
cp "$(art 1.1.0)" "$shared/dist/"
cp "$dir/fleet/client_key" "$dir/fleet/known_hosts" "$shared/"
python3 - "$plan" "$shared/plan.yaml" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r"\ndatabase:\n(  .*\n)+", "\n", text)
text = text.replace("- { name: half, hosts: 50% }",
                    "- { name: half, hosts: 50%, approval: true, approval_wait: 60s }")
text += """access:
  deploy: [ivr-alice]
  approve: ["@ivr-approvers"]
  oncall: [ivr-carol]
  distinct_approver: true
"""
open(sys.argv[2], "w").write(text)
EOF
chgrp -R ivr-ops "$shared"
chmod -R g+rX,o-rwx "$shared"
chmod 0750 "$shared" "$dir"
chgrp ivr-ops "$dir"
chmod 0640 "$shared/client_key"
aplan="$shared/plan.yaml"

# as USER CMD...: CMD as that account, with a state folder of its own
# (in a subshell: $(as ...) or as ... &, whose pid is then CMD's).
as() {
	local u=$1
	shift
	mkdir -p "$dir/state-$u" && chown "$u" "$dir/state-$u" && chmod 0700 "$dir/state-$u"
	exec setpriv --reuid="$u" --regid="$u" --init-groups \
		env -i PATH=/usr/bin:/bin HOME="$dir/state-$u" XDG_STATE_HOME="$dir/state-$u" "$@"
}
actl="$shared/bin/ivrctl"

out=$(as ivr-dave "$actl" deploy "$aplan" --artifact "$shared/dist/ivr-runtime-1.1.0.tar.gz" 2>&1); rc=$?
[ "$rc" -eq 5 ] && [[ "$out" == *"ivr-dave may not deploy sandbox: the plan's access.deploy allows ivr-alice"* ]] ||
	fail "dave's deployment: exit $rc: $out"
fleet_on 1.0.0 || fail "dave's refused deployment changed the fleet"
[[ "$out" != *"drain"* ]] || fail "dave's refused deployment touched a host: $out"

# alice's deployment stops at the half phase's gate and waits.
as ivr-alice "$actl" deploy "$aplan" --artifact "$shared/dist/ivr-runtime-1.1.0.tar.gz" >"$dir/alice.out" 2>&1 &
deploy_pid=$!
for i in $(seq 150); do grep -q "waits up to 60 s for an approval" "$dir/alice.out" && break; sleep 0.2; done
grep -q "waits up to 60 s for an approval" "$dir/alice.out" || fail "alice's deployment never reached the gate: $(tail -3 "$dir/alice.out")"
out=$(as ivr-alice "$actl" approve "$aplan" half 2>&1); rc=$?
[ "$rc" -eq 5 ] && [[ "$out" == *"ivr-alice started deployment d-"*"and may not approve it"* ]] ||
	fail "alice's self-approval: exit $rc: $out"
out=$(as ivr-dave "$actl" approve "$aplan" half 2>&1); rc=$?
[ "$rc" -eq 5 ] && [[ "$out" == *"ivr-dave may not approve sandbox"* ]] || fail "dave's approval: exit $rc: $out"
sleep 2
kill -0 "$deploy_pid" 2>/dev/null || fail "alice's deployment went on without an approval: $(tail -3 "$dir/alice.out")"
start=$(date +%s%N)
json=$(as ivr-bob "$actl" approve "$aplan" half --output json 2>&1); rc=$?
[ "$rc" -eq 0 ] && fits approve <<<"$json" && [[ "$json" == *'"operator":"ivr-bob@'* ]] &&
	[[ "$json" == *'"started_by":"ivr-alice@'* ]] && [[ "$json" == *'"already":false'* ]] ||
	fail "bob's approval: exit $rc: $json"
wait "$deploy_pid"; rc=$?
deploy_pid=""
took=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$rc" -eq 0 ] || fail "alice's deployment after bob's approval: exit $rc: $(tail -5 "$dir/alice.out")"
grep -q "phase half: approved by ivr-bob@" "$dir/alice.out" || fail "alice's deployment does not say who approved"
fleet_on 1.1.0 || fail "the fleet is not on 1.1.0 after the approved deployment"

# Rollback: on-call may, dave may not.
out=$(as ivr-dave "$actl" rollback "$aplan" 2>&1); rc=$?
[ "$rc" -eq 5 ] && [[ "$out" == *"ivr-dave may not rollback sandbox: the plan's access.oncall allows ivr-carol"* ]] ||
	fail "dave's rollback: exit $rc: $out"
out=$(as ivr-carol "$actl" rollback "$aplan" 2>&1); rc=$?
[ "$rc" -eq 0 ] || fail "carol's rollback: exit $rc: $out"
fleet_on 1.0.0 || fail "the fleet is not back on 1.0.0 after carol's rollback"

# A gate that waits 3 s: the deployment stops there (exit 3, waiting),
# bob approves the stopped run, and alice's resume passes the gate.
sed 's/approval_wait: 60s/approval_wait: 3s/' "$aplan" >"$shared/plan-short.yaml"
chgrp ivr-ops "$shared/plan-short.yaml" && chmod 0640 "$shared/plan-short.yaml"
splan="$shared/plan-short.yaml"
out=$(as ivr-alice "$actl" deploy "$splan" --artifact "$shared/dist/ivr-runtime-1.1.0.tar.gz" 2>&1); rc=$?
[ "$rc" -eq 3 ] && [[ "$out" == *"phase half: no approval within 3 s"* ]] &&
	[[ "$out" == *"phase half waits for an approval from someone else: stopped here"* ]] ||
	fail "a 3 s gate: exit $rc: $(tail -3 <<<"$out")"
out=$(as ivr-bob "$actl" approve "$splan" half 2>&1); rc=$?
[ "$rc" -eq 0 ] && [[ "$out" == *"a stopped one with: ivrctl resume"* ]] || fail "bob's approval of the stopped run: exit $rc: $out"
out=$(as ivr-alice "$actl" resume "$splan" 2>&1); rc=$?
[ "$rc" -eq 0 ] || fail "alice's resume after bob's approval: exit $rc: $(tail -3 <<<"$out")"
fleet_on 1.1.0 || fail "the resumed deployment did not bring the fleet to 1.1.0"
out=$(as ivr-carol "$actl" rollback "$splan" 2>&1) && fleet_on 1.0.0 || fail "carol's second rollback: $out"

# One journal, read from every folder.
h_bob=$(as ivr-bob "$actl" history "$aplan" 2>&1)
h_carol=$(as ivr-carol "$actl" history "$aplan" 2>&1)
h_root=$("$ivrctl" history "$plan" 2>&1)
[ "$h_bob" = "$h_carol" ] && [ "$h_bob" = "$h_root" ] || fail "history differs between folders:\n$h_bob\n---\n$h_root"
n_denied=$(grep -c " denied " <<<"$h_root")
[ "$n_denied" -eq 2 ] || fail "history shows $n_denied denied runs, not 2 (dave's deploy and rollback): $h_root"
grep -q "ivr-alice@.* 1.0.0 -> 1.1.0 *done" <<<"$h_root" || fail "history lacks alice's deployment: $h_root"
[ "$failed" -eq 0 ] && echo "access: dave refused (exit 5, nothing touched); alice's deployment waited at its gate, her own approval and dave's refused (exit 5), bob's let it go on in ${took} ms; carol rolled back, dave refused; a 3 s gate stopped, approved by bob afterwards, resumed by alice; history the same from 3 folders ($n_denied denied runs)"
exit "$failed"

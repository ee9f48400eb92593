#!/usr/bin/env bash
# Webhook notifications (the plan's notify:) on a 3-host sandbox fleet,
# received by a local receiver that checks every signature
# (tests/support/webhook-receiver.py):
#  - a first install, a release that fails at its canary and is rolled
#    back, and an on-call `ivrctl rollback`: the receiver gets every event
#    of each run in order (started, phase_done for each phase with hosts,
#    rolled_back, finished),
#    each with a valid HMAC-SHA256 signature and the run's id;
#  - the receiver serves https with a certificate from the fleet's CA,
#    which ivrctl verifies with the plan's tls.ca_file; one whose
#    certificate comes from another CA gets nothing, and the run says why;
#  - a receiver that accepts connections and never answers slows a
#    deployment by no more than the hook's timeout, and the run says what
#    was not delivered; its outcome stands.
# usage: test_notify.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test notify 127.0.76
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; "$fleet" down --dir "$dir/fleet" >/dev/null 2>&1; rm -rf "$dir"' EXIT

"$fleet" up 3 --dir "$dir/fleet" --net $net >"$dir/up.out" ||
	{ echo "FAIL: fleet up: $(cat "$dir/up.out")"; exit 1; }
plan="$dir/fleet/plan.yaml"
(umask 077 && head -c 24 /dev/urandom | base64 >"$dir/fleet/hook.secret")
receiver() { # PORT LOG [--hang]: a receiver on $net.240, its pid kept
	"$top/tests/support/webhook-receiver.py" --listen "$net.240:$1" \
		--secret-file "$dir/fleet/hook.secret" --log "$2" "${@:3}" &
	pids+=($!)
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/$net.240/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	fail "the receiver on port $1 did not start"
}
"$top/scripts/tls-sandbox.sh" cert "$dir/fleet/tls" hook --san "IP:$net.240"
"$top/scripts/tls-sandbox.sh" ca "$dir/rogue"
"$top/scripts/tls-sandbox.sh" cert "$dir/rogue" hook --san "IP:$net.240"
receiver 9000 "$dir/events.log" --tls "$dir/fleet/tls/hook.pem" "$dir/fleet/tls/hook.key"
receiver 9001 "$dir/hung.log" --hang
receiver 9002 "$dir/rogue.log" --tls "$dir/rogue/hook.pem" "$dir/rogue/hook.key"
hook() { # PORT [SCHEME]: the plan with one webhook to the receiver on PORT
	sed '/^notify:/,$d' "$plan" >"$plan.tmp" && mv "$plan.tmp" "$plan"
	printf 'notify:\n  - url: %s://%s.240:%s/hook\n    secret_file: hook.secret\n    timeout: 1s\n    retries: 2\n' \
		"${2:-https}" "$net" "$1" >>"$plan"
}
hook 9000
"$ivrctl" validate "$plan" >/dev/null || fail "the plan with notify: does not validate"
package 1.0.0
package 1.1.0
package 1.2.0 --broken

"$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" >"$dir/d1.out" 2>&1 || fail "deploy 1.0.0: $(tail -3 "$dir/d1.out")"
"$ivrctl" deploy "$plan" --artifact "$(art 1.2.0)" >"$dir/d2.out" 2>&1
[ $? -eq 1 ] || fail "the broken 1.2.0 was not rolled back: $(tail -3 "$dir/d2.out")"
"$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" >"$dir/d3.out" 2>&1 || fail "deploy 1.1.0: $(tail -3 "$dir/d3.out")"
"$ivrctl" rollback "$plan" >"$dir/r1.out" 2>&1 || fail "rollback: $(tail -3 "$dir/r1.out")"
grep -h "notifications:" "$dir/d1.out" "$dir/r1.out"
grep -q "notifications: [0-9]* delivered$" "$dir/d2.out" || fail "deploy 1.2.0 lost notifications: $(tail -3 "$dir/d2.out")"

python3 - "$dir/events.log" <<'PY' || fail "the receiver's events: $(cat "$dir/events.log")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert ev and all(e["signature_valid"] for e in ev), [e for e in ev if not e["signature_valid"]]
runs = {}
for e in ev:
    assert e["environment"] == "sandbox", e
    runs.setdefault(e["id"], []).append(e)
seq = [[(e["event"], e.get("phase") or e.get("outcome") or "") for e in r] for r in runs.values()]
want = [
    [("started", ""), ("phase_done", "canary"), ("phase_done", "half"), ("finished", "done")],
    [("started", ""), ("rolled_back", ""), ("finished", "rolled_back")],
    [("started", ""), ("phase_done", "canary"), ("phase_done", "half"), ("finished", "done")],
    [("started", ""), ("finished", "done")],
]
assert seq == want, seq
kinds = [r[0]["kind"] for r in runs.values()]
assert kinds == ["deploy", "deploy", "deploy", "rollback"], kinds
assert [r[-1]["to"] for r in runs.values()] == ["1.0.0", "1.2.0", "1.1.0", "1.0.0"], [r[-1]["to"] for r in runs.values()]
print("receiver: %d events in %d runs, every signature valid, every run's events in order" % (len(ev), len(runs)))
PY

# A receiver that never answers: the deployment is slowed by at most the
# hook's timeout (1 s), and says what it could not deliver.
took() { python3 -c "import re,sys; print(int(float(re.search(r'\) in ([0-9.]+) s', open(sys.argv[1]).read()).group(1))*1000))" "$1"; }
s=$(date +%s%N)
"$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" >"$dir/fast.out" 2>&1 || fail "deploy with a live receiver: $(tail -3 "$dir/fast.out")"
fast=$((($(date +%s%N) - s) / 1000000))
"$ivrctl" rollback "$plan" >/dev/null 2>&1 || fail "rollback to 1.0.0"
hook 9001 http
s=$(date +%s%N)
"$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" >"$dir/slow.out" 2>&1 || fail "deploy with a hung receiver failed: $(tail -3 "$dir/slow.out")"
slow=$((($(date +%s%N) - s) / 1000000))
echo "deploy 1.0.0 -> 1.1.0: $fast ms with a live receiver, $slow ms with one that never answers (timeout 1000 ms)"
[ $((slow - fast)) -lt 2000 ] || fail "a hung receiver slowed the deployment by $((slow - fast)) ms"
grep -q "notifications: 0 delivered, [0-9]* not delivered (last: http://$net.240:9001/hook: Operation timed out.*); the run's outcome stands" "$dir/slow.out" ||
	fail "the lost notifications are not said: $(tail -3 "$dir/slow.out")"
grep -h "not delivered" "$dir/slow.out"
fleet_on 1.1.0 || fail "the fleet is not on 1.1.0"

# A receiver whose certificate the plan's CA did not sign: nothing sent.
hook 9002
"$ivrctl" rollback "$plan" >"$dir/rogue.out" 2>&1 || fail "rollback with a receiver of another CA: $(tail -3 "$dir/rogue.out")"
grep -q "notifications: 0 delivered, [0-9]* not delivered (last: https://$net.240:9002/hook: SSL certificate problem: self-signed certificate in certificate chain); the run's outcome stands" "$dir/rogue.out" ||
	fail "a receiver of another CA: $(tail -3 "$dir/rogue.out")"
[ -s "$dir/rogue.log" ] && fail "a receiver of another CA got events: $(cat "$dir/rogue.log")"
fleet_on 1.0.0 || fail "the fleet is not back on 1.0.0"

[ "$failed" -eq 0 ] && echo "PASS: webhooks over verified https: every event of a deploy, a failed deploy and a rollback, signed; a receiver of another CA refused; a hung receiver costs at most its timeout"
exit "$failed"

#!/usr/bin/env bash
# ivrctl deploy and rollback on the real sandbox fleet (5 hosts behind
# HAProxy, phases canary / 50% / rest): a first install, a rolling update
# with a live call on the canary that finishes before its host is swapped,
# a broken release whose canary fails (rolled back automatically, exit 1,
# every host on the old release and ready), the one-command rollback,
# rollback --to, and a refused --to for a release no host has; the
# environment lock (a live holder: exit 4; a dead one: reported, then
# broken with --break-lock) and the journal read back by history.
# usage: test_deploy.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test deploy 127.0.91

"$fleet" up 5 --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
for v in 1.0.0 1.1.0; do
	package $v
done
package 1.2.0 --broken
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)"); rc=$?
[ "$rc" -eq 0 ] || fail "first install: exit $rc: $out"
grep -q "from nothing to 1.0.0" <<<"$out" || fail "first install: $out"
grep -Eq "summary: deploy d-[0-9TZ-]+[0-9a-f]+, nothing -> 1\.0\.0: done \(exit 0\) in [0-9.]+ s; 5 of 5 host\(s\) touched, 0 failed$" <<<"$out" ||
	fail "first install: no summary: $out"
fleet_on 1.0.0 || fail "after the first install the fleet is not on 1.0.0"

# A caller is on the canary (ivr-01) when the update starts: the drain
# waits for the call, which goes on to its end; then the host is swapped.
call=$(fcurl -s -X POST "https://$net.1:8080/calls" -d '{}' |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["call_id"])')
(
	sleep 2
	fcurl -s -o /dev/null -w '%{http_code}' -X POST "https://$net.1:8080/calls/$call/input" \
		-d '{"event":"noinput"}' > "$dir/mid-call"
	fcurl -s -o /dev/null -X DELETE "https://$net.1:8080/calls/$call"
) &
caller=$!
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)"); rc=$?
wait "$caller"
[ "$rc" -eq 0 ] || fail "update: exit $rc: $out"
[ "$(cat "$dir/mid-call")" = 200 ] || fail "the call in progress was cut (step answered $(cat "$dir/mid-call"))"
swap=$(grep -m1 'ivr-01: activate 1.1.0' <<<"$out" | sed 's/^\[ *\([0-9.]*\)s\].*/\1/')
awk -v t="$swap" 'BEGIN { exit !(t >= 1.9) }' || fail "ivr-01 was swapped at ${swap}s, before its call ended"
fleet_on 1.1.0 || fail "after the update the fleet is not on 1.1.0"

# With --output json: every line one JSON object, the summary last.
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.2.0)" --output json); rc=$?
[ "$rc" -eq 1 ] || fail "broken release: exit $rc, not 1: $out"
/usr/bin/python3 -c '
import json, sys
evs = [json.loads(l) for l in sys.stdin.read().splitlines()]
kinds = [e["event"] for e in evs]
s = evs[-1]
assert kinds[0] == "start" and kinds[-1] == "summary", kinds
assert "step" in kinds and kinds.count("end") == 1, kinds
assert s["kind"] == "deploy" and s["from"] == "1.1.0" and s["to"] == "1.2.0", s
assert s["outcome"] == "rolled_back" and s["exit_code"] == 1, s
assert all(h["release"] == "1.1.0" for h in s["hosts"]), s
assert [h["name"] for h in s["hosts"] if h["touched"]] == ["ivr-01"], s
assert all(e["id"] == s["id"] for e in evs), "ids differ"
' <<<"$out" || fail "broken release: --output json: $out"
grep -q "ivr-01: FAILED" <<<"$out" || fail "broken release: the canary did not fail: $out"
fits event --lines <<<"$out" || fail "broken release: the events do not fit the output schema"
grep -q "rolled back: every host on 1.1.0 and ready" <<<"$out" || fail "broken release: $out"
grep -q "ivr-02: activate" <<<"$out" && fail "the broken release went past its canary"
fleet_on 1.1.0 || fail "after the broken release the fleet is not back on 1.1.0"

out=$("$ivrctl" rollback "$plan"); rc=$?
[ "$rc" -eq 0 ] || fail "rollback: exit $rc: $out"
grep -q "back to 1.0.0" <<<"$out" || fail "rollback did not go to 1.0.0: $out"
fleet_on 1.0.0 || fail "after the rollback the fleet is not on 1.0.0"

out=$("$ivrctl" rollback "$plan" --to 1.1.0); rc=$?
[ "$rc" -eq 0 ] || fail "rollback --to 1.1.0: exit $rc: $out"
fleet_on 1.1.0 || fail "after rollback --to the fleet is not on 1.1.0"
out=$("$ivrctl" rollback "$plan" --to 9.9.9); rc=$?
[ "$rc" -eq 2 ] || fail "rollback --to 9.9.9: exit $rc, not 2"
grep -q "ivr-01 does not have 9.9.9 on disk" <<<"$out" || fail "rollback --to 9.9.9: $out"
fleet_on 1.1.0 || fail "a refused rollback changed the fleet"

# Another deployment holds the environment: exit 4, naming it.
lock="$dir/state/ivr-deploy/sandbox.journal.lock"
sleep 60 &
holder=$!
printf '{"user":"ops","host":"%s","pid":%d,"since":"2026-11-26T03:00:00Z"}' "$(hostname)" "$holder" > "$lock"
out=$("$ivrctl" rollback "$plan" --to 1.0.0 2>&1); rc=$?
[ "$rc" -eq 4 ] || fail "locked: exit $rc, not 4"
grep -q "locked by ops@$(hostname), pid $holder, since 2026-11-26T03:00:00Z" <<<"$out" || fail "locked: $out"
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" --output json 2>/dev/null); rc=$?
[ "$rc" -eq 4 ] || fail "locked, --output json: exit $rc, not 4"
/usr/bin/python3 -c '
import json, sys
s = json.loads(sys.stdin.read())
assert s["event"] == "summary" and s["outcome"] == "locked" and s["exit_code"] == 4, s
' <<<"$out" || fail "locked, --output json: $out"
[ -e "$lock" ] || fail "a locked deployment removed the holder's lock"
kill "$holder"; wait "$holder" 2>/dev/null
# Its process is gone: said so, and only --break-lock goes on.
out=$("$ivrctl" rollback "$plan" --to 1.0.0 2>&1); rc=$?
[ "$rc" -eq 4 ] || fail "stale lock: exit $rc, not 4"
grep -q "lock was left by pid $holder on this host, which is gone" <<<"$out" || fail "stale lock: $out"
out=$("$ivrctl" rollback "$plan" --to 1.0.0 --break-lock 2>&1); rc=$?
[ "$rc" -eq 0 ] || fail "--break-lock: exit $rc: $out"
[ -e "$lock" ] && fail "the lock was left behind"
fleet_on 1.0.0 || fail "after --break-lock the fleet is not on 1.0.0"

# The journal, read back.
out=$("$ivrctl" history "$plan")
[ "$(grep -c ' deploy ' <<<"$out")" -eq 3 ] || fail "history: not 3 deployments: $out"
[ "$(grep -c ' rollback ' <<<"$out")" -eq 3 ] || fail "history: not 3 rollbacks: $out"
grep -q "(nothing) -> 1.0.0 *done" <<<"$out" || fail "history: the first install: $out"
grep -q "1.1.0 -> 1.2.0 *rolled_back" <<<"$out" || fail "history: the broken release: $out"
# The same runs as JSON, in the same order.
out=$("$ivrctl" history "$plan" --output json); rc=$?
[ "$rc" -eq 0 ] || fail "history --output json: exit $rc"
fits history <<<"$out" || fail "history --output json does not fit the schema: $out"
[ "$(/usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(r["kind"] + ":" + r["to"] + ":" + r.get("end", {}).get("outcome", "interrupted") for r in d["runs"]))' <<<"$out")" = \
	"$("$ivrctl" history "$plan" | awk 'NR > 1 { print $2 ":" $7 ":" $8 }' | paste -sd' ')" ] ||
	fail "history --output json and the table disagree: $out"
steps=$(grep -c '"event":"step"' "$dir/state/ivr-deploy/sandbox.journal")
[ "$steps" -gt 20 ] || fail "the journal holds only $steps host steps"

[ "$failed" -eq 0 ] && echo "deploy: first install, update with a live call kept (canary swapped at ${swap}s), broken canary rolled back (exit 1, JSON events), rollback, rollback --to, refused --to, lock held and stale, history of 6 runs and $steps host steps"
exit "$failed"

#!/usr/bin/env bash
# Smoke calls (the plan's smoke:) on a 3-host sandbox fleet:
#  - each host of a deployment gets one scripted call through its agent
#    after it turns ready and before its member goes READY: log in as the
#    smoke customer, balances, a transfer between its own accounts whose
#    confirm, sent twice under one Idempotency-Key, gives one confirmation;
#    the books still balance and hold each smoke transfer once;
#  - a release that refuses every login (packaged with --fault login)
#    fails the canary's smoke call: its member never goes READY, the
#    deployment rolls back (exit 1) and says why;
#  - the PIN is in no journal or log.
# usage: test_smoke.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test smoke 127.0.75

"$fleet" up 3 --dir "$dir/fleet" --net $net >"$dir/up.out" ||
	{ echo "FAIL: fleet up: $(cat "$dir/up.out")"; exit 1; }
fleet_bank "$dir/fleet" ivr_migrate
"$build/ivr-runtime/bin/ivr-runtime" seed "${BANK[@]}" --customers 3 --seed 9 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null || { echo "FAIL: seed"; exit 1; }
# The smoke customer: the first seeded one, in a file only its owner reads.
pin=$(python3 - "$dir/cred.json" "$dir/fleet/smoke.json" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1]))["customers"][0]
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps({"account": c["accounts"][0]["number"], "pin": c["pin"]}).encode())
print(c["pin"])
PY
)
plan="$dir/fleet/plan.yaml"
printf 'smoke:\n  credentials: smoke.json\n  transfer_cents: 125\n  timeout: 10s\n' >>"$plan"
"$ivrctl" validate "$plan" >/dev/null || fail "the plan with smoke: does not validate"
package 1.0.0
package 1.1.0
package 1.2.0 --fault login

out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" 2>&1) || fail "deploy 1.0.0 with smoke calls: $out"
n=$(grep -c "smoke call passed: .* transfer confirmed once under its key: [0-9]" <<<"$out")
[ "$n" -eq 3 ] || fail "$n of 3 hosts passed a smoke call: $out"
grep -m1 "smoke call passed" <<<"$out"
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" --output json 2>"$dir/deploy.err") ||
	fail "deploy 1.1.0 with smoke calls: $(tail -3 <<<"$out")"
fits event --lines <<<"$out" || fail "the smoke events do not fit the schema"
[ "$(grep -c '"event":"smoke"' <<<"$out")" -eq 3 ] || fail "not 3 smoke events: $out"
# The three smoke transfers of 1.1.0 each booked once (their replays
# moved nothing), money
# conserved.
confs=$(grep -o '"confirmation":"[0-9]*"' <<<"$out" | cut -d'"' -f4)
fleet_bank "$dir/fleet" ivr_app
ledger=$("$build/bin/ivr-ledger" "${BANK[@]}" --acks <(echo "$confs")) || fail "ledger: $ledger"
echo "ledger: $(head -1 <<<"$ledger")"

# A release that refuses every login: the canary's smoke call fails, its
# member never goes READY, the deployment rolls back.
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.2.0)" 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "the login-breaking 1.2.0: exit $rc, not 1: $out"
grep -q "ivr-01: FAILED: ivr-01: smoke call failed: login: the smoke customer's account number and PIN were refused" <<<"$out" ||
	fail "the smoke call's failure is not said: $out"
grep -q "ivr-01: ready on 1.2.0" <<<"$out" && fail "the canary went READY on 1.2.0: $out"
grep -q "rolled back: every host on 1.1.0 and ready" <<<"$out" || fail "not rolled back: $out"
grep "smoke call failed" <<<"$out" | head -1
fleet_on 1.1.0 || fail "the fleet is not on 1.1.0 after the failed smoke call"

# The PIN is in no journal and no log.
if grep -rl -- "\"pin\":\"$pin\"\|pin=$pin" "$XDG_STATE_HOME" "$dir/fleet/hosts" 2>/dev/null | grep -q .; then
	fail "the smoke PIN is written in: $(grep -rl -- "$pin" "$XDG_STATE_HOME" "$dir/fleet/hosts" | head -3)"
fi

[ "$failed" -eq 0 ] && echo "PASS: smoke calls: every host called before READY, transfers booked once, a login-breaking release stopped at its canary"
exit "$failed"

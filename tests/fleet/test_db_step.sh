#!/usr/bin/env bash
# The database half of a release on the PostgreSQL fleet (3 hosts):
#  - a deploy of a release with an expand migration under 30 callers: the
#    backup (path, size, sha256, row counts) and the migration (with the
#    deployment's id) are journaled before the first host swaps; 0 failed
#    calls; then `ivrctl rollback` under callers: the old release runs on
#    the expanded schema, 0 failed calls, the ledger check passes;
#  - the dry run (`ivrctl plan`) shows the backup and the migration, or
#    the refusal, and changes nothing;
#  - a release with a contract migration is refused (exit 2, nothing
#    touched, no backup taken); `ivrctl db contract` is refused while the
#    fleet runs another release, and applies it once the fleet runs it
#    (deployed with --defer-contract);
#  - a release whose applied migration file changed is refused by name;
#  - `ivrctl db restore` brings a backup back (its sha256 checked first)
#    and the ledger check passes against it.
# usage: test_db_step.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test db-step 127.0.66
callers_pid=""
trap '[ -n "$callers_pid" ] && kill "$callers_pid" 2>/dev/null; "$fleet" down --dir "$dir/fleet" >/dev/null 2>&1; rm -rf "$dir"' EXIT
journal="$dir/state/ivr-deploy/sandbox.journal"

"$fleet" up 3 --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
fleet_bank "$dir/fleet" ivr_migrate
"$build/ivr-runtime/bin/ivr-runtime" seed "${BANK[@]}" --customers 30 --seed 12 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null || { echo "FAIL: seed"; exit 1; }
# 1.3.0 carries 002 changed by one comment line after it was applied
cp -r "$top/tests/data/migrations/expand" "$dir/changed"
for f in "$dir/changed/002_account_nickname.sql" "$dir/changed/postgresql/002_account_nickname.sql"; do
	echo "-- reworded" >> "$f"
done
package 1.0.0
package 1.1.0 --extra-db "$top/tests/data/migrations/expand"
package 1.2.0 --extra-db "$top/tests/data/migrations/contract"
package 1.3.0 --extra-db "$dir/changed"
"$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" >/dev/null || { echo "FAIL: first install"; exit 1; }
sleep 1 # HAProxy's checks see every runtime up

callers_start() {
	"$build/bin/ivr-callers" --url "https://$net.4:8080" --credentials "$dir/cred.json" --cacert "$dir/fleet/tls/ca.pem" \
		--callers 30 --duration 10m --think 100ms --seed 5 \
		--acks "$dir/$1.acks" --report "$dir/$1.json" > "$dir/$1.out" 2>&1 &
	callers_pid=$!
	sleep 2
}
callers_stop() {
	kill -TERM "$callers_pid"
	wait "$callers_pid"
	callers_pid=""
}
figure() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$dir/$1.json" "$2"; }
# py EXPR: EXPR over `ev` (the journal's events of run $run, in order)
# and `st` (ivrctl db status --output json); prints its value.
py() {
	"$ivrctl" db status "$plan" --output json > "$dir/st.json" || echo '{}' > "$dir/st.json"
	/usr/bin/python3 - "$journal" "$run" "$dir/st.json" "$1" <<'PY'
import hashlib, json, os, sys
ev = [e for e in map(json.loads, open(sys.argv[1])) if e.get("id") == sys.argv[2]]
st = json.load(open(sys.argv[3]))
def sha(p): return hashlib.sha256(open(p, "rb").read()).hexdigest()
print(eval(sys.argv[4]))
PY
}
last_run() { /usr/bin/python3 -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]['id'])" "$journal"; }

# The dry run says what the database step would do, and changes nothing.
out=$("$ivrctl" plan "$plan" --artifact "$(art 1.1.0)" 2>&1) || fail "plan 1.1.0: $out"
grep -q "database (postgresql): a backup into $dir/fleet/backups, then 1 expand migration before the first swap:" <<<"$out" &&
	grep -q "  002_account_nickname.sql (expand)" <<<"$out" || fail "the dry run does not show the database step: $out"
"$ivrctl" plan "$plan" --artifact "$(art 1.1.0)" --output json | fits plan || fail "plan --output json with a database"
out=$("$ivrctl" plan "$plan" --artifact "$(art 1.2.0)" 2>&1)
grep -q "database: the deploy would stop here, nothing touched: contract migration 003_drop_account_nickname.sql is pending" <<<"$out" ||
	fail "the dry run does not show the contract refusal: $out"

# 1. An expand migration under load, then a rollback under load.
callers_start expand
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" --output json 2>&1) || fail "deploy 1.1.0 (expand): $out"
fits event --lines <<<"$out" || fail "the deploy's events (db_check, db_backup, db_migrated) do not fit the output schema"
run=$(last_run)
[ "$(py 'sum(e["event"] == "db_backup" for e in ev)')" = 1 ] || fail "no backup journaled for $run: $out"
[ "$(py '[e for e in ev if e["event"] == "db_backup"][0]["tables"]["accounts"] >= 60')" = True ] ||
	fail "the backup's row counts: $(py '[e for e in ev if e["event"] == "db_backup"]')"
[ "$(py '(lambda b: os.stat(b["path"]).st_size == b["size"] and sha(b["path"]) == b["sha256"] and oct(os.stat(b["path"]).st_mode & 0o777))([e for e in ev if e["event"] == "db_backup"][0])')" = "0o600" ] ||
	fail "the backup file is not what the journal says (or not 0600): $(py '[e for e in ev if e["event"] == "db_backup"]')"
# backup, then the migration, then the first host step
[ "$(py '[e["event"] for e in ev if e["event"] in ("db_backup", "db_migrated", "step")][:3]')" = "['db_backup', 'db_migrated', 'step']" ] ||
	fail "the database step is not before the first swap: $(py '[e["event"] for e in ev]')"
[ "$(py '[m["deployment_id"] for m in st["applied"] if m["name"] == "002_account_nickname.sql"]')" = "['$run']" ] ||
	fail "002 is not recorded with deployment $run: $(py 'st["applied"]')"
grep -q "database: applied 002_account_nickname.sql (expand)" <<<"$out" || fail "no migration line: $out"
out=$("$ivrctl" rollback "$plan" 2>&1) || fail "rollback to 1.0.0 on the expanded schema: $out"
sleep 1
callers_stop
fleet_on 1.0.0 || fail "the fleet is not back on 1.0.0 and READY"
[ "$(py '[m["name"] for m in st["applied"]]')" = "['001_initial.sql', '002_account_nickname.sql']" ] ||
	fail "the rollback touched the schema: $(py 'st["applied"]')"
[ "$(figure expand failed)" -eq 0 ] || fail "calls failed through the expand deploy and the rollback: $(cat "$dir/expand.out")"
[ "$(figure expand completed)" -ge 30 ] || fail "too few calls completed: $(cat "$dir/expand.out")"
fleet_bank "$dir/fleet" ivr_app
ledger=$("$build/bin/ivr-ledger" "${BANK[@]}" --acks "$dir/expand.acks") || fail "ledger: $ledger"

# 2. A contract migration: refused in a rolling deploy; db contract once
# the fleet runs its release.
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.2.0)" 2>&1)
rc=$?
run=$(last_run)
[ "$rc" -eq 2 ] || fail "a pending contract migration was not refused (exit $rc): $out"
grep -q "contract migration 003_drop_account_nickname.sql" <<<"$out" && grep -q -- "--defer-contract" <<<"$out" &&
	grep -q "ivrctl db contract $plan --artifact $(art 1.2.0)" <<<"$out" || fail "the refusal does not say how to run it: $out"
[ "$(py 'sum(e["event"] in ("db_backup", "step") for e in ev)')" = 0 ] || fail "the refused deploy changed something: $(py 'ev')"
fleet_on 1.0.0 || fail "the refused deploy touched the fleet"
out=$("$ivrctl" db contract "$plan" --artifact "$(art 1.2.0)" 2>&1)
rc=$?
[ "$rc" -eq 2 ] && grep -q "the fleet runs 1.0.0: nothing was changed" <<<"$out" ||
	fail "db contract ran while the fleet runs 1.0.0 (exit $rc): $out"
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.2.0)" --defer-contract 2>&1) || fail "deploy 1.2.0 --defer-contract: $out"
[ "$(py '[m["name"] for m in st["applied"]][-1]')" = "002_account_nickname.sql" ] || fail "the deferred contract ran: $(py 'st')"
out=$("$ivrctl" db contract "$plan" --artifact "$(art 1.2.0)" 2>&1) || fail "db contract: $out"
run=$(last_run)
[ "$(py '[m["deployment_id"] for m in st["applied"] if m["name"] == "003_drop_account_nickname.sql"]')" = "['$run']" ] ||
	fail "003 is not recorded with $run: $(py 'st["applied"]')"
contract_backup=$(py '[e["backup"] for e in ev if e["event"] == "db_backup"][0]')
out=$("$ivrctl" db contract "$plan" --artifact "$(art 1.2.0)" 2>&1) && grep -q "nothing to do" <<<"$out" ||
	fail "a second db contract: $out"

# 3. A migration file changed after it was applied.
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.3.0)" 2>&1)
rc=$?
[ "$rc" -eq 2 ] && grep -q "002_account_nickname.sql was applied with sha256 .* an applied migration never changes" <<<"$out" ||
	fail "a changed migration was not refused by name (exit $rc): $out"
fleet_on 1.2.0 || fail "the refused 1.3.0 touched the fleet"

# 4. Restore the backup taken before the contract migration.
out=$("$ivrctl" db restore "$plan" --backup "$contract_backup" < /dev/null 2>&1)
rc=$?
[ "$rc" -eq 2 ] && grep -q "not confirmed" <<<"$out" || fail "restore without confirmation (exit $rc): $out"
cp "$(py '[e["path"] for e in ev if e["event"] == "db_backup"][0]')" "$dir/backup.copy"
printf 'x' >> "$(py '[e["path"] for e in ev if e["event"] == "db_backup"][0]')"
out=$("$ivrctl" db restore "$plan" --backup "$contract_backup" --yes 2>&1)
rc=$?
[ "$rc" -eq 2 ] && grep -q "it changed since it was taken; nothing restored" <<<"$out" ||
	fail "a changed backup was restored (exit $rc): $out"
cp "$dir/backup.copy" "$(py '[e["path"] for e in ev if e["event"] == "db_backup"][0]')"
restore=$("$ivrctl" db restore "$plan" --backup "$contract_backup" --yes 2>&1) || fail "db restore: $restore"
[ "$(py '[m["name"] for m in st["applied"]][-1]')" = "002_account_nickname.sql" ] ||
	fail "the restored schema is not the backup's: $(py 'st["applied"]')"
ledger2=$("$build/bin/ivr-ledger" "${BANK[@]}" --acks "$dir/expand.acks") || fail "ledger after the restore: $ledger2"
status=$("$ivrctl" db status "$plan" 2>&1) || fail "db status: $status"
"$ivrctl" db status "$plan" --artifact "$(art 1.2.0)" --output json | fits db_status ||
	fail "db status --output json does not fit the output schema"
"$ivrctl" history "$plan" --output json | fits history || fail "history with db runs does not fit the output schema"
"$ivrctl" history "$plan" | grep -q "db-contract" || fail "history does not show the db-contract run"
out=$("$ivrctl" db contract "$plan" --artifact "$(art 1.2.0)" --output json 2>&1)
fits event --lines <<<"$out" || fail "db contract's events do not fit the output schema: $out"

[ "$failed" -eq 0 ] && {
	echo "database step: 30 callers through a deploy with an expand migration and a rollback:"
	sed 's/^/  /' "$dir/expand.out"
	sed 's/^/  /' <<<"$ledger"
	echo "contract refused in a rolling deploy (exit 2), applied by db contract; a changed migration refused; restore:"
	grep "database:" <<<"$restore" | sed 's/^/  /'
	sed 's/^/  /' <<<"$ledger2"
	sed 's/^/  /' <<<"$status"
}
exit "$failed"

#!/usr/bin/env bash
# The database step on the SQLite fleet (2 hosts sharing one file): a
# deploy of a release with an expand migration backs the file up with
# SQLite's online backup API (a whole copy, 0600, its sha256 and row
# counts journaled) while the runtimes serve, then applies the migration
# with the deployment's id; the rollback runs the old release on the
# expanded file; `ivrctl db restore` brings the backup back over the live
# file and the ledger check passes.
# usage: test_db_sqlite.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test db-sqlite 127.0.69
journal="$dir/state/ivr-deploy/sandbox.journal"

"$fleet" up 2 --dir "$dir/fleet" --net $net --db sqlite >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
fleet_bank "$dir/fleet" ivr_migrate
"$build/ivr-runtime/bin/ivr-runtime" seed "${BANK[@]}" --customers 10 --seed 15 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null || { echo "FAIL: seed"; exit 1; }
package 1.0.0
package 1.1.0 --extra-db "$top/tests/data/migrations/expand"
"$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" >/dev/null || { echo "FAIL: first install"; exit 1; }
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" 2>&1) || fail "deploy 1.1.0 on SQLite: $out"
fleet_on 1.1.0 || fail "the fleet is not on 1.1.0"
/usr/bin/python3 - "$journal" > "$dir/check.txt" <<'PY' || fail "the SQLite backup: $(cat "$dir/check.txt")"
import hashlib, json, os, sqlite3, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
run = runs[-1]["id"]
b = [e for e in runs if e.get("id") == run and e["event"] == "db_backup"][0]
assert b["path"].endswith(run + ".sqlite"), b
st = os.stat(b["path"])
assert oct(st.st_mode & 0o777) == "0o600" and st.st_size == b["size"], b
assert hashlib.sha256(open(b["path"], "rb").read()).hexdigest() == b["sha256"], b
db = sqlite3.connect("file:" + b["path"] + "?mode=ro", uri=True)
assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
assert db.execute("SELECT count(*) FROM accounts").fetchone()[0] == b["tables"]["accounts"] > 0, b
assert [r[0] for r in db.execute("SELECT version FROM schema_migrations")] == [1], "the backup is not from before 002"
m = [e for e in runs if e.get("id") == run and e["event"] == "db_migrated"][0]
assert [a["name"] for a in m["applied"]] == ["002_account_nickname.sql"], m
print(run, b["path"])
PY
status=$("$ivrctl" db status "$plan" --output json)
grep -q '"name":"002_account_nickname.sql","kind":"expand"' <<<"$status" || fail "db status on SQLite: $status"
out=$("$ivrctl" rollback "$plan" 2>&1) || fail "rollback on the expanded SQLite file: $out"
fleet_on 1.0.0 || fail "the fleet is not back on 1.0.0"
backup=$(cut -d' ' -f1 "$dir/check.txt")
restore=$("$ivrctl" db restore "$plan" --backup "$backup" --yes 2>&1) || fail "db restore on SQLite: $restore"
status=$("$ivrctl" db status "$plan" --output json)
grep -q '002_account_nickname' <<<"$status" && fail "the restore did not bring the file back: $status"
ledger=$("$build/bin/ivr-ledger" "${BANK[@]}") || fail "ledger after the restore: $ledger"
fleet_on 1.0.0 || fail "the fleet is not ready on 1.0.0 after the restore"
# a backups folder others may read is refused before anything swaps
chmod 0755 "$dir/fleet/backups"
out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q "is open to others (mode 755): chmod 700 it: nothing serving was changed" <<<"$out" ||
	fail "a backups folder open to others (exit $rc): $out"
fleet_on 1.0.0 || fail "the refused backup touched the fleet"

[ "$failed" -eq 0 ] && {
	echo "database step on SQLite: backup $(cut -d' ' -f2 "$dir/check.txt") (online backup API), 002 applied, rollback, restore:"
	grep "database:" <<<"$restore" | sed 's/^\[ *[0-9.]*s\] /  /'
	sed 's/^/  /' <<<"$ledger"
}
exit "$failed"

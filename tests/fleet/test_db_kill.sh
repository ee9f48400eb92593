#!/usr/bin/env bash
# ivrctl SIGKILLed in the database step on the PostgreSQL fleet (2 hosts),
# deploying a release whose expand migration adds a column and then takes
# 3 s:
#  - during the backup (a pg_dump that takes its time): no backup file
#    looks whole, no pg_dump is left running, no migration applied, no host
#    touched;
#  - during the migration (resumed): the column is not there (nothing
#    half-applied: the server drops the dead controller's transaction
#    within a second, and its lock with it);
#  - `ivrctl resume --break-lock` then converges: one backup, the migration
#    applied once with the deployment's id, every host on the release; the
#    backup the resumes took again under the run's id restores.
# usage: test_db_kill.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test db-kill 127.0.67
journal="$dir/state/ivr-deploy/sandbox.journal"

"$fleet" up 2 --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
fleet_bank "$dir/fleet" ivr_migrate
"$build/ivr-runtime/bin/ivr-runtime" seed "${BANK[@]}" --customers 10 --seed 13 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null || { echo "FAIL: seed"; exit 1; }
mkdir -p "$dir/slow/postgresql" "$dir/bin"
for f in "$dir/slow/002_slow_nickname.sql" "$dir/slow/postgresql/002_slow_nickname.sql"; do
	printf -- '-- kind: expand\nALTER TABLE accounts ADD COLUMN nickname text;\n' > "$f"
done
echo "SELECT pg_sleep(3);" >> "$dir/slow/postgresql/002_slow_nickname.sql"
package 1.0.0
package 1.1.0 --extra-db "$dir/slow"
# a pg_dump that waits 30 s first (ivrctl finds it on its PATH)
printf '#!/bin/sh\nsleep 30\nexec %s "$@"\n' "$(command -v pg_dump)" > "$dir/bin/pg_dump"
chmod 0755 "$dir/bin/pg_dump"
"$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" >/dev/null || { echo "FAIL: first install"; exit 1; }

psql_migrate() { psql -qAt -d "$(cat "$dir/fleet/pg/ivr_migrate.conninfo")" -c "$1"; }
column() { psql_migrate "SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'nickname'"; }
applied() { psql_migrate "SELECT count(*) FROM schema_migrations WHERE version = 2"; }
# wait_line FILE TEXT: up to 20 s for TEXT in FILE
wait_line() {
	local i
	for i in $(seq 200); do
		grep -qs "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}

# 1. Killed during the backup.
PATH="$dir/bin:$PATH" "$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" > "$dir/kill1.out" 2>&1 &
pid=$!
wait_line "$dir/kill1.out" "database: backing up" || fail "the deploy never reached the backup: $(cat "$dir/kill1.out")"
sleep 0.5
kill -KILL "$pid"
wait "$pid" 2>/dev/null
sleep 0.5
pgrep -f "$dir/bin/pg_dump" >/dev/null && fail "the backup's pg_dump outlived the killed ivrctl"
killed=$(/usr/bin/python3 -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]['id'])" "$journal")
[ -e "$dir/fleet/backups/$killed.dump" ] && fail "a backup of $killed looks whole after the kill: $(ls -l "$dir/fleet/backups")"
[ "$(applied)" = 0 ] && [ "$(column)" = 0 ] || fail "the killed backup was followed by the migration"
fleet_on 1.0.0 || fail "the kill during the backup touched the fleet"

# 2. The resume killed during the migration.
"$ivrctl" resume "$plan" --break-lock > "$dir/kill2.out" 2>&1 &
pid=$!
wait_line "$dir/kill2.out" "database: backup .*bytes" || fail "the resume never finished its backup: $(cat "$dir/kill2.out")"
sleep 1 # inside the migration's 3 s
kill -KILL "$pid"
wait "$pid" 2>/dev/null
[ "$(applied)" = 0 ] && [ "$(column)" = 0 ] || fail "the killed migration is half-applied (column $(column), recorded $(applied))"
fleet_on 1.0.0 || fail "the kill during the migration touched the fleet"

# 3. The next run converges.
out=$("$ivrctl" resume "$plan" --break-lock 2>&1) || fail "resume after the kills: $out"
fleet_on 1.1.0 || fail "the fleet is not on 1.1.0 after the resume"
run=$(/usr/bin/python3 -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]['id'])" "$journal")
[ "$(column)" = 1 ] && [ "$(psql_migrate "SELECT deployment_id FROM schema_migrations WHERE version = 2")" = "$run" ] ||
	fail "002 is not applied once by $run: column $(column), $(psql_migrate 'SELECT * FROM schema_migrations')"
backups=$(grep -c '"event":"db_backup"' "$journal")
[ "$backups" -ge 1 ] && [ -f "$dir/fleet/backups/$run.dump" ] || fail "no whole backup of $run: $(ls -l "$dir/fleet/backups")"
# the resumes backed up again under the run's id: the last record counts
restore=$("$ivrctl" db restore "$plan" --backup "$run" --yes 2>&1) ||
	fail "restoring $run's backup (taken twice under its id): $restore"
fleet_bank "$dir/fleet" ivr_app
ledger=$("$build/bin/ivr-ledger" "${BANK[@]}") || fail "ledger: $ledger"

[ "$failed" -eq 0 ] && {
	echo "database step killed: during the backup (no backup, no pg_dump left), during the migration (nothing applied); resume converged:"
	grep "database:" <<<"$out" | sed 's/^/  /'
	echo "  $backups backup(s) journaled; 002 applied once by $run"
}
exit "$failed"

#!/usr/bin/env bash
# The legacy data migration (`ivrctl db migrate`) into the PostgreSQL
# fleet's bank, from samples of the old IVR system (scripts/legacy-sample.py):
#  - the bank holds customers: refused without --replace, nothing changed;
#  - each injected fault (a dropped row, a changed balance, a duplicate
#    account, an orphan transaction) fails its check, named with its first
#    rows; nothing live changes;
#  - a 10,000-customer import SIGKILLed in the middle of the copy resumes
#    where it stopped; every check passes, the data goes live (a backup
#    first) and the ledger check passes; a second run imports nothing;
#  - the same from a PostgreSQL source (read-only), with --output json.
# usage: test_legacy.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test legacy 127.0.68
journal="$dir/state/ivr-deploy/sandbox.journal"
sample="$top/scripts/legacy-sample.py"

"$fleet" up 1 --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
fleet_bank "$dir/fleet" ivr_migrate
"$build/ivr-runtime/bin/ivr-runtime" seed "${BANK[@]}" --customers 5 --seed 14 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null || { echo "FAIL: seed"; exit 1; }
migrator=$(cat "$dir/fleet/pg/ivr_migrate.conninfo")
psql_m() { psql -qAtX -d "$migrator" -c "$1"; }
live() { psql_m "SELECT (SELECT count(*) FROM customers) || ' ' || (SELECT count(*) FROM accounts) || ' ' || (SELECT count(*) FROM transactions)"; }
before=$(live)
/usr/bin/python3 "$sample" --customers 10000 --seed 4 --sqlite "$dir/legacy.db" >/dev/null || { echo "FAIL: sample"; exit 1; }
for f in drop-row changed-balance duplicate-account orphan-transaction; do
	/usr/bin/python3 "$sample" --customers 200 --seed 5 --fault $f --sqlite "$dir/$f.db" >/dev/null || { echo "FAIL: sample $f"; exit 1; }
done

# 1. A bank with customers is not replaced unless asked.
out=$("$ivrctl" db migrate "$plan" --from "$dir/legacy.db" 2>&1)
rc=$?
[ "$rc" -eq 2 ] && grep -q "holds [0-9]* accounts, which the import replaces: say so with --replace" <<<"$out" ||
	fail "an import over live accounts without --replace (exit $rc): $out"
[ "$(live)" = "$before" ] || fail "the refused import changed the bank"

# 2. Each fault is caught by its check, named; nothing live changes.
check_of() { case $1 in
	drop-row) echo '"account_number missing"' ;;
	changed-balance) echo "accounts (account_number, balance): FAILED" ;;
	duplicate-account) echo "duplicate account numbers: FAILED" ;;
	orphan-transaction) echo "orphan transactions: FAILED (1 transactions of no account)" ;;
	esac; }
for f in drop-row changed-balance duplicate-account orphan-transaction; do
	out=$("$ivrctl" db migrate "$plan" --from "$dir/$f.db" --replace --restart 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] && grep -q "$(check_of $f)" <<<"$out" && grep -q "a check failed: nothing live was changed" <<<"$out" ||
		fail "fault $f was not caught by name (exit $rc): $out"
	[ "$(live)" = "$before" ] || fail "fault $f: the bank changed"
	echo "$f: $(grep -c "FAILED" <<<"$out") check(s) failed" >> "$dir/faults.txt"
done
"$ivrctl" db migrate "$plan" --from "$dir/drop-row.db" --replace --restart --output json > "$dir/fault.json" 2>"$dir/fault.err"; fits event --lines < "$dir/fault.json" ||
	fail "db migrate --output json does not fit the output schema"

# 3. The 10,000-customer import, SIGKILLed during the copy, resumed.
"$ivrctl" db migrate "$plan" --from "$dir/legacy.db" --replace --restart > "$dir/kill.out" 2>&1 &
pid=$!
for _ in $(seq 300); do grep -qs "transactions: [0-9]* of [0-9]* copied" "$dir/kill.out" && break; sleep 0.05; done
kill -KILL "$pid"
wait "$pid" 2>/dev/null
[ "$(live)" = "$before" ] || fail "the killed import changed the bank"
copied=$(psql_m "SELECT count(*) FROM legacy_import.src_transactions")
start=$(date +%s%N)
out=$("$ivrctl" db migrate "$plan" --from "$dir/legacy.db" --replace --break-lock 2>&1) || fail "the resumed import: $out"
took=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "transactions: 66032 in the source, $copied copied before" <<<"$out" || fail "the import did not resume at $copied: $out"
[ "$(grep -c "check .*: passed" <<<"$out")" -eq 7 ] || fail "not every check passed: $out"
[ "$(live)" = "10000 13318 66032" ] || fail "the live bank after the import: $(live)"
fleet_bank "$dir/fleet" ivr_app
ledger=$("$build/bin/ivr-ledger" "${BANK[@]}") || fail "ledger after the import: $ledger"
again=$("$ivrctl" db migrate "$plan" --from "$dir/legacy.db" --replace 2>&1) && grep -q "nothing to do" <<<"$again" ||
	fail "a second run: $again"
[ "$(live)" = "10000 13318 66032" ] || fail "the second run changed the bank: $(live)"

# 4. From PostgreSQL: the old tables in a schema of their own.
/usr/bin/python3 "$sample" --customers 300 --seed 6 --sql "$dir/legacy.sql" >/dev/null
psql_m "CREATE SCHEMA oldivr" && PGOPTIONS="-c search_path=oldivr" psql -qX -d "$migrator" -f "$dir/legacy.sql" >/dev/null ||
	fail "loading the PostgreSQL sample"
pg_source="$migrator options='-c search_path=oldivr'"
json=$("$ivrctl" db migrate "$plan" --from "$pg_source" --replace --restart --output json 2>&1) || fail "import from PostgreSQL: $json"
fits event --lines <<<"$json" || fail "the PostgreSQL import's events do not fit the output schema"
grep -q '"event":"db_import".*"passed":true' <<<"$json" || fail "the PostgreSQL import's report: $json"
[ "$(psql_m "SELECT count(*) FROM customers")" = 300 ] || fail "the PostgreSQL import: $(live)"
ledger2=$("$build/bin/ivr-ledger" "${BANK[@]}") || fail "ledger after the PostgreSQL import: $ledger2"

[ "$failed" -eq 0 ] && {
	echo "legacy import: each injected fault caught:"
	sed 's/^/  /' "$dir/faults.txt"
	echo "10,000 customers (13,318 accounts, 66,032 transactions), killed after $copied transactions copied, resumed in $took ms:"
	grep "check \|legacy: every" <<<"$out" | sed 's/^\[ *[0-9.]*s\] /  /'
	sed 's/^/  /' <<<"$ledger"
	echo "from PostgreSQL (300 customers): every check passed; ledger OK"
}
exit "$failed"

#!/usr/bin/env bash
# The bank's PostgreSQL sandbox (scripts/pg-sandbox.sh): a real
# PostgreSQL 15 on one loopback address and port, its two roles with least
# privilege (ivr_migrate changes the schema; ivr_app reads and writes rows
# and can do nothing else), passwords only in 0600 password files, and
# stopped by its pid.
# usage: test_pg_sandbox.sh
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
pg="$top/scripts/pg-sandbox.sh"
psql=/usr/lib/postgresql/15/bin/psql
address=127.0.62.1
port=55462
dir=$(mktemp -d /tmp/ivr-pg.XXXXXX)
failed=0
fail() { echo "FAIL: $*"; failed=1; }
trap '"$pg" down "$dir"; rm -rf "$dir"' EXIT

pid=$("$pg" up "$dir" --port $port --address $address) || { echo "FAIL: up"; exit 1; }
kill -0 "$pid" 2>/dev/null || fail "no postmaster at pid '$pid'"
as() { # role sql...: runs each statement as role over TCP, stops at an error
	local role=$1
	shift
	local args=()
	for sql in "$@"; do args+=(-c "$sql"); done
	"$psql" "$(cat "$dir/$role.conninfo")" -X -q -t -A -v ON_ERROR_STOP=1 "${args[@]}" 2>&1
}

out=$(as ivr_migrate "CREATE TABLE accounts (id bigserial PRIMARY KEY, balance_cents bigint NOT NULL CHECK (balance_cents >= 0))") ||
	fail "ivr_migrate cannot create a table: $out"
out=$(as ivr_app "INSERT INTO accounts (balance_cents) VALUES (500), (700)" \
	"UPDATE accounts SET balance_cents = balance_cents - 100 WHERE id = 1" \
	"SELECT sum(balance_cents) FROM accounts") || fail "ivr_app cannot read and write rows: $out"
[ "$out" = 1100 ] || fail "ivr_app's sum: '$out', not 1100"
for ddl in "CREATE TABLE x (a int)" "CREATE TABLE public.x (a int)" "DROP TABLE accounts" \
	"ALTER TABLE accounts ADD COLUMN z int" "TRUNCATE accounts" "CREATE SCHEMA other"; do
	out=$(as ivr_app "$ddl") && fail "ivr_app may: $ddl"
	grep -q "permission denied\|must be owner" <<<"$out" || fail "ivr_app, $ddl: $out"
done
# Passwords only in the password files, readable by their owner alone.
for role in ivr_migrate ivr_app; do
	[ "$(stat -c %a "$dir/$role.pgpass")" = 600 ] || fail "$role.pgpass is not 0600"
	grep -q "password" "$dir/$role.conninfo" && fail "$role.conninfo holds a password"
done
out=$("$psql" "host=$address port=$port dbname=bank user=ivr_app password=wrong" -X -c "SELECT 1" 2>&1) &&
	fail "a wrong password was let in"
# Loopback, and only the address it was given.
"$psql" "host=127.0.0.1 port=$port dbname=bank user=ivr_app passfile=$dir/ivr_app.pgpass connect_timeout=2" \
	-X -c "SELECT 1" >/dev/null 2>&1 && fail "it also listens on 127.0.0.1"
"$pg" up "$dir.other" --port $((port + 1)) --address 10.0.0.1 >/dev/null 2>&1 &&
	fail "a sandbox would listen beyond loopback"
rm -rf "$dir.other"
"$pg" up "$dir" --port $port --address $address >/dev/null 2>&1 && fail "a second up on the same folder was let through"

"$pg" down "$dir"
kill -0 "$pid" 2>/dev/null && fail "the postmaster (pid $pid) outlived down"
[ -z "$(pgrep -f "postgres -D $dir/data")" ] || fail "postgres processes left for $dir"

[ "$failed" -eq 0 ] && echo "pg sandbox: PostgreSQL $("$psql" --version | awk '{print $3}') up on $address:$port (pid $pid); ivr_migrate creates tables, ivr_app reads and writes rows and is refused 6 kinds of DDL; passwords only in 0600 files; loopback only; stopped by pid"
exit "$failed"

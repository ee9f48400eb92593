#!/usr/bin/env bash
# A real PostgreSQL 15 cluster for the bank, on loopback, in its own folder
# and port, stopped by its pid: what the sandbox fleet and the tests run.
#
#   pg-sandbox.sh up DIR --port PORT [--address 127.0.0.1]
#                        [--tls CERT KEY CA]
#   pg-sandbox.sh down DIR
#   pg-sandbox.sh start DIR
#
# up: initdb into DIR/data (owned by the postgres account: PostgreSQL does
# not run as root), listening on ADDRESS:PORT only (TCP with
# scram-sha-256; the socket in DIR/run is for the postgres account alone),
# then the bank's database and its two roles, least privilege:
#   ivr_migrate  owns the database and the schema "bank": the only role
#                that changes the schema (migrations, backups)
#   ivr_app      what the runtime logs in as: connects, reads and writes
#                the bank's tables and uses its sequences; no DDL (no
#                CREATE on the schema or the database; public's CREATE
#                revoked)
# Each role's password is random and lands in a libpq password file,
# DIR/<role>.pgpass (0600), and DIR/<role>.conninfo holds the conninfo
# that uses it.  Prints the postmaster's pid.
# down: stops the postmaster by the pid in DIR/data/postmaster.pid (fast
# shutdown: SIGINT), waits up to 10 s (then SIGKILL), and leaves DIR.
# --tls: the server's certificate chain and key (copied into DIR/data,
# the postgres account's, 0600), TLS 1.2 at least, and TCP logins over
# TLS only (hostssl); the conninfo files then say sslmode=verify-full
# with sslrootcert=CA.
# start: starts a cluster that up made and down stopped, as it was (the
# fault tests stop the bank's server under load and start it again).
# Prints the postmaster's pid.
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
die() { echo "pg-sandbox: $*" >&2; exit 1; }
as_pg() { runuser -u postgres -- "$@"; }

up() {
	local dir=$1 port="" address=127.0.0.1 cert="" key="" ca="" hosttype=host
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		--port) port=$2; shift 2 ;;
		--address) address=$2; shift 2 ;;
		--tls) cert=$2; key=$3; ca=$4; shift 4 ;;
		*) die "unknown argument '$1'" ;;
		esac
	done
	[ -n "$port" ] || die "up needs --port"
	[ -x "$bin/initdb" ] || die "no PostgreSQL 15 in $bin (apt-get install postgresql)"
	id postgres >/dev/null 2>&1 || die "no postgres account (apt-get install postgresql)"
	case "$address" in 127.*) ;; *) die "the sandbox listens on loopback only, not '$address'" ;; esac
	[ ! -e "$dir/data" ] || die "'$dir/data' exists: down it, or choose another folder"
	mkdir -p "$dir/run"
	chmod 0711 "$dir" # the postgres account passes through, lists nothing
	chown postgres: "$dir/run"
	chmod 0700 "$dir/run"
	install -d -o postgres -g postgres -m 0700 "$dir/data"
	as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth-local=peer \
		--auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		die "initdb failed: $(tail -3 "$dir/initdb.log")"
	cat >>"$dir/data/postgresql.conf" <<-EOF
		listen_addresses = '$address'
		port = $port
		unix_socket_directories = '$dir/run'
		unix_socket_permissions = 0700
		fsync = on
		synchronous_commit = on
		max_connections = 400
		log_destination = 'stderr'
		logging_collector = off
	EOF
	if [ -n "$cert" ]; then
		install -o postgres -g postgres -m 0644 "$cert" "$dir/data/server.crt"
		install -o postgres -g postgres -m 0600 "$key" "$dir/data/server.key"
		cat >>"$dir/data/postgresql.conf" <<-EOF
			ssl = on
			ssl_cert_file = 'server.crt'
			ssl_key_file = 'server.key'
			ssl_min_protocol_version = 'TLSv1.2'
		EOF
		hosttype=hostssl
	fi
	# TCP from loopback only (a client on 127.0.1.2 may leave from
	# 127.0.0.1), with passwords; the socket for postgres alone.
	cat >"$dir/data/pg_hba.conf" <<-EOF
		local all postgres peer
		$hosttype bank ivr_migrate,ivr_app 127.0.0.0/8 scram-sha-256
	EOF
	as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 30 start >/dev/null ||
		die "the server did not start: $(tail -5 "$dir/data/server.log")"
	if ! roles "$dir" "$address" "$port" "$ca"; then
		down "$dir"
		die "could not create the roles and the database (server log: $dir/data/server.log)"
	fi
	head -n1 "$dir/data/postmaster.pid"
}

# Random passwords, the roles, the database, their rights.
roles() {
	local dir=$1 address=$2 port=$3 ca=${4:-} role pass tls=""
	[ -z "$ca" ] || tls=" sslmode=verify-full sslrootcert=$ca"
	psql_pg() { as_pg "$bin/psql" -h "$dir/run" -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
	for role in ivr_migrate ivr_app; do
		pass=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
		psql_pg -d postgres -c "CREATE ROLE $role LOGIN PASSWORD '$pass'" >/dev/null || return 1
		(
			umask 077
			echo "$address:$port:bank:$role:$pass" >"$dir/$role.pgpass"
			echo "host=$address port=$port dbname=bank user=$role passfile=$dir/$role.pgpass$tls" >"$dir/$role.conninfo"
		) || return 1
	done
	psql_pg -d postgres >/dev/null <<-EOF || return 1
		CREATE DATABASE bank OWNER ivr_migrate;
		REVOKE ALL ON DATABASE bank FROM PUBLIC;
		GRANT CONNECT, TEMPORARY ON DATABASE bank TO ivr_migrate;
		GRANT CONNECT ON DATABASE bank TO ivr_app;
	EOF
	psql_pg -d bank >/dev/null <<-EOF || return 1
		REVOKE CREATE ON SCHEMA public FROM PUBLIC;
		CREATE SCHEMA bank AUTHORIZATION ivr_migrate;
		GRANT USAGE ON SCHEMA bank TO ivr_app;
		ALTER ROLE ivr_migrate SET search_path = bank;
		ALTER ROLE ivr_app SET search_path = bank;
		ALTER DEFAULT PRIVILEGES FOR ROLE ivr_migrate IN SCHEMA bank
			GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ivr_app;
		ALTER DEFAULT PRIVILEGES FOR ROLE ivr_migrate IN SCHEMA bank
			GRANT USAGE, SELECT ON SEQUENCES TO ivr_app;
	EOF
}

down() {
	local dir=$1 pid
	[ -s "$dir/data/postmaster.pid" ] || return 0
	pid=$(head -n1 "$dir/data/postmaster.pid")
	kill -INT "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

start() {
	local dir=$1
	[ -d "$dir/data" ] || die "'$dir/data' does not exist: use up"
	as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 30 start >/dev/null ||
		die "the server did not start: $(tail -5 "$dir/data/server.log")"
	head -n1 "$dir/data/postmaster.pid"
}

case "${1:-}" in
up) shift; [ $# -ge 1 ] || die "usage: pg-sandbox.sh up DIR --port PORT"; up "$@" ;;
down) [ $# -eq 2 ] || die "usage: pg-sandbox.sh down DIR"; down "$2" ;;
start) [ $# -eq 2 ] || die "usage: pg-sandbox.sh start DIR"; start "$2" ;;
*) die "usage: pg-sandbox.sh up DIR --port PORT [--address A] | down DIR | start DIR" ;;
esac

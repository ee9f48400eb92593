#!/usr/bin/env bash
# Packages a built ivr-runtime as a release artifact:
#   <out>/ivr-runtime-<version>.tar.gz and <out>/ivr-runtime-<version>.tar.gz.sha256
# holding bin/ivr-runtime, share/flows/, share/db/ (SQLite; PostgreSQL's in
# share/db/postgresql/) and release.json (version,
# build id, sha256 of every file).  The same build can be stamped with any
# version, and --broken ships a call flow with a dangling reference (the
# runtime then refuses to start, so it never turns ready): tests and demos
# use both to make several releases, and a bad one, from one build.
# --fail-if NAME ships a release that refuses to start only on the hosts
# whose shared/ folder holds a file NAME (bin/ivr-runtime is then a small
# wrapper around bin/ivr-runtime.bin), to fail chosen hosts of a fleet.
#
# --fault step-errors=N ships a test release whose runtime answers every
# Nth call step with 500 (it still turns ready: the release canary analysis
# must catch), from S seconds after it starts with --fault after=S (late
# enough, it passes a smoke call); --fault login ships one that refuses
# every login (smoke calls must catch it).  They are written to
# release.json's "faults"; the runtime logs a TEST RELEASE warning at
# start.  Never for a real release.
#
# --pad MIB adds MIB mebibytes of random bytes (share/pad.bin), for
# benchmarks that need an artifact of a bank's size.
#
# release.json also lists each backend's migrations in version order, with
# the kind its "-- kind: expand|contract" line gives and its sha256: what
# ivrctl's database step reads.  --extra-db DIR adds DIR/*.sql (SQLite) and
# DIR/postgresql/*.sql to the release's own, for tests that need a release
# bringing a migration.
#
# usage: package-runtime.sh --build DIR --version V [--out DIR] [--broken]
#                           [--fail-if NAME] [--pad MIB] [--extra-db DIR]
#                           [--fault step-errors=N | after=S | login]...
set -euo pipefail

build=""
version=""
out="dist"
broken=0
fail_if=""
pad=0
extra_db=""
faults=""
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build="$2"; shift 2 ;;
	--version) version="$2"; shift 2 ;;
	--out) out="$2"; shift 2 ;;
	--broken) broken=1; shift ;;
	--fail-if) fail_if="$2"; shift 2 ;;
	--pad) pad="$2"; shift 2 ;;
	--extra-db) extra_db="$2"; shift 2 ;;
	--fault)
		case "$2" in
		step-errors=[1-9] | step-errors=[1-9][0-9] | step-errors=[1-9][0-9][0-9])
			faults="$faults${faults:+, }\"step_error_every\": ${2#step-errors=}" ;;
		after=[1-9] | after=[1-9][0-9] | after=[1-9][0-9][0-9])
			faults="$faults${faults:+, }\"after_seconds\": ${2#after=}" ;;
		login) faults="$faults${faults:+, }\"login\": \"refused\"" ;;
		*) echo "package-runtime: --fault takes step-errors=N (1-999), after=S (1-999) or login" >&2; exit 2 ;;
		esac
		shift 2 ;;
	-h | --help) sed -n '2,32p' "$0"; exit 0 ;;
	*) echo "package-runtime: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
if [ -z "$build" ] || [ -z "$version" ]; then
	echo "package-runtime: --build DIR and --version V are required" >&2
	exit 2
fi
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
	echo "package-runtime: version '$version' is not MAJOR.MINOR.PATCH" >&2
	exit 2
fi
runtime="$build/ivr-runtime"
if [ ! -x "$runtime/bin/ivr-runtime" ]; then
	echo "package-runtime: no built '$runtime/bin/ivr-runtime' (build first)" >&2
	exit 2
fi

here=$(cd "$(dirname "$0")/.." && pwd)
build_id="${BUILD_ID:-$(git -C "$here" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}"
# A fixed time for every file makes the same inputs give the same bytes.
epoch="${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || echo 0)}"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/share/flows" "$stage/share/db/postgresql"
install -m 0755 "$runtime/bin/ivr-runtime" "$stage/bin/ivr-runtime"
if ! [[ "$pad" =~ ^[0-9]{1,4}$ ]]; then
	echo "package-runtime: --pad takes a number of MiB" >&2
	exit 2
fi
[ "$pad" -eq 0 ] || head -c "$((pad * 1024 * 1024))" /dev/urandom > "$stage/share/pad.bin"
if [ -n "$fail_if" ]; then
	[[ "$fail_if" =~ ^[A-Za-z0-9._-]+$ ]] ||
		{ echo "package-runtime: --fail-if takes a plain file name" >&2; exit 2; }
	mv "$stage/bin/ivr-runtime" "$stage/bin/ivr-runtime.bin"
	# The agent starts the runtime in shared/.
	cat > "$stage/bin/ivr-runtime" <<WRAP
#!/bin/bash
if [ -e "\$PWD/$fail_if" ]; then
	echo "ivr-runtime: refusing to start: \$PWD/$fail_if exists" >&2
	exit 1
fi
exec -a "\$0" "\$(dirname "\$0")/ivr-runtime.bin" "\$@"
WRAP
	chmod 0755 "$stage/bin/ivr-runtime"
fi
install -m 0644 "$here"/ivr-runtime/share/flows/*.yaml "$stage/share/flows/"
install -m 0644 "$here"/ivr-runtime/share/db/*.sql "$stage/share/db/"
install -m 0644 "$here"/ivr-runtime/share/db/postgresql/*.sql "$stage/share/db/postgresql/"
if [ -n "$extra_db" ]; then
	install -m 0644 "$extra_db"/*.sql "$stage/share/db/"
	install -m 0644 "$extra_db"/postgresql/*.sql "$stage/share/db/postgresql/"
fi
if [ "$broken" -eq 1 ]; then
	sed -i 's/^start: welcome$/start: welcom/' "$stage/share/flows/banking.yaml"
	grep -q '^start: welcom$' "$stage/share/flows/banking.yaml"
fi

{
	printf '{\n  "version": "%s",\n  "build_id": "%s",\n  "files": {\n' \
		"$version" "$build_id"
	first=1
	while IFS= read -r f; do
		[ $first -eq 1 ] || printf ',\n'
		first=0
		printf '    "%s": "%s"' "$f" "$(sha256sum "$stage/$f" | cut -d' ' -f1)"
	done < <(cd "$stage" && find bin share -type f | LC_ALL=C sort)
	printf '\n  },\n  "migrations": {\n'
	for backend in sqlite postgresql; do
		dir="$stage/share/db"
		[ "$backend" = sqlite ] || dir="$dir/$backend"
		printf '    "%s": [' "$backend"
		first=1
		for f in $(cd "$dir" && ls -1 -- *.sql | LC_ALL=C sort); do
			# the kind line comes before the first line of SQL
			kind=$(awk '/^[ \t]*$/ {next} /^--/ {
				if (match($0, /^--[ \t]*kind: (expand|contract)[ \t\r]*$/)) {
					sub(/^--[ \t]*kind: /, ""); sub(/[ \t\r]*$/, ""); print; exit }
				next } {exit}' "$dir/$f")
			if [ -z "$kind" ]; then
				echo "package-runtime: $dir/$f: no '-- kind: expand' or '-- kind: contract' line before its SQL" >&2
				exit 2
			fi
			[ $first -eq 1 ] || printf ','
			first=0
			printf '\n      {"name": "%s", "kind": "%s", "sha256": "%s"}' \
				"$f" "$kind" "$(sha256sum "$dir/$f" | cut -d' ' -f1)"
		done
		[ "$backend" = sqlite ] && printf '\n    ],\n' || printf '\n    ]\n'
	done
	printf '  }'
	[ -z "$faults" ] || printf ',\n  "faults": {%s}' "$faults"
	printf '\n}\n'
} > "$stage/release.json"

mkdir -p "$out"
name="ivr-runtime-$version.tar.gz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
	-C "$stage" -cf - release.json bin share | gzip -n -9 > "$out/$name"
(cd "$out" && sha256sum "$name" > "$name.sha256")
echo "$out/$name $(cut -d' ' -f1 < "$out/$name.sha256")"

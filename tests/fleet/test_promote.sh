#!/usr/bin/env bash
# ivrctl promote from a staging fleet (2 hosts) to a production fleet
# (3 hosts), both real sandbox fleets behind HAProxy:
# - refused while a staging member is out of its pool, and while staging
#   is half way through a deployment (production untouched, exit 2);
# - the artifact from staging's journal when the file is still there;
# - fetched over SFTP from a staging host when it is not, sha256 checked;
# - refused when the copy on the staging host does not hash right.
# usage: test_promote.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
fleet="$here/fleet"
ivrctl="$build/bin/ivrctl"
dir=$(mktemp -d /tmp/ivr-promote.XXXXXX)
chmod 0711 "$dir" # the bank's PostgreSQL (the postgres account) passes through
failed=0
. "$here/lib.sh"
trap '"$fleet" down --dir "$dir/staging" >/dev/null 2>&1; "$fleet" down --dir "$dir/prod" >/dev/null 2>&1; rm -rf "$dir"' EXIT
export XDG_STATE_HOME="$dir/state"

"$fleet" up 2 --dir "$dir/staging" --net 127.0.96 >/dev/null || { echo "FAIL: staging up"; exit 1; }
"$fleet" up 3 --dir "$dir/prod" --net 127.0.97 >/dev/null || { echo "FAIL: production up"; exit 1; }
stg="$dir/staging/staging.yaml"
prd="$dir/prod/production.yaml"
sed 's/^environment: sandbox$/environment: staging/' "$dir/staging/plan.yaml" > "$stg"
sed 's/^environment: sandbox$/environment: production/' "$dir/prod/plan.yaml" > "$prd"
for v in 1.0.0 1.1.0 1.2.0 1.3.0 1.4.0; do
	package $v
done
on() { plan=$1 fleet_on "$2"; }
haproxy() { haproxy_cmd "$dir/staging/hosts/lb/root/haproxy/admin.sock" "$1" >/dev/null; }

"$ivrctl" deploy "$stg" --artifact "$(art 1.0.0)" >/dev/null || fail "staging: install 1.0.0"
"$ivrctl" deploy "$prd" --artifact "$(art 1.0.0)" >/dev/null || fail "production: install 1.0.0"
"$ivrctl" deploy "$stg" --artifact "$(art 1.1.0)" >/dev/null || fail "staging: 1.1.0"

# A staging member out of its pool: refused, production untouched.
haproxy "set server ivr/ivr-02 state maint"
out=$("$ivrctl" promote --from "$stg" --to "$prd" 2>&1); rc=$?
[ "$rc" -eq 2 ] || fail "staging member in MAINT: exit $rc, not 2: $out"
grep -q "staging host ivr-02 (1.1.0): not READY in the load balancer" <<<"$out" ||
	fail "staging member in MAINT: $out"
on "$prd" 1.0.0 || fail "a refused promote changed production"
haproxy "set server ivr/ivr-02 state ready"

# From staging's journal.
out=$("$ivrctl" promote --from "$stg" --to "$prd" 2>&1); rc=$?
[ "$rc" -eq 0 ] || fail "promote 1.1.0: exit $rc: $out"
sha=$(cut -d' ' -f1 < "$(art 1.1.0).sha256")
grep -q "promote: staging runs 1.1.0 on every host, healthy and READY; artifact sha256 ${sha:0:12} verified (from staging's journal)" <<<"$out" ||
	fail "promote 1.1.0: $out"
on "$prd" 1.1.0 || fail "after promote production is not on 1.1.0"
grep -q '"promoted_from":"staging"' "$XDG_STATE_HOME/ivr-deploy/production.journal" ||
	fail "production's journal does not name staging"

# The file is gone: fetched from a staging host.
cp "$(art 1.2.0)" "$dir/moved-1.2.0.tar.gz.tmp"
mkdir -p "$dir/gone" && mv "$dir/moved-1.2.0.tar.gz.tmp" "$dir/gone/ivr-runtime-1.2.0.tar.gz"
"$ivrctl" deploy "$stg" --artifact "$dir/gone/ivr-runtime-1.2.0.tar.gz" >/dev/null || fail "staging: 1.2.0"
rm -rf "$dir/gone"
out=$("$ivrctl" promote --from "$stg" --to "$prd" --output json 2>&1); rc=$?
[ "$rc" -eq 0 ] || fail "promote 1.2.0 fetched: exit $rc: $out"
sha=$(cut -d' ' -f1 < "$(art 1.2.0).sha256")
head -n1 <<<"$out" | grep -q "\"event\":\"promote\",\"from_environment\":\"staging\",\"release\":\"1.2.0\",\"sha256\":\"$sha\"" ||
	fail "promote 1.2.0: the first event: $out"
cached="$XDG_STATE_HOME/ivr-deploy/artifacts/ivr-runtime-1.2.0.tar.gz"
[ "$(sha256sum "$cached" | cut -d' ' -f1)" = "$sha" ] || fail "the fetched copy is not the artifact"
on "$prd" 1.2.0 || fail "after promote production is not on 1.2.0"

# The copy on the staging host is damaged: refused.
mkdir -p "$dir/gone" && cp "$(art 1.3.0)" "$dir/gone/"
"$ivrctl" deploy "$stg" --artifact "$dir/gone/ivr-runtime-1.3.0.tar.gz" >/dev/null || fail "staging: 1.3.0"
rm -rf "$dir/gone"
sha=$(cut -d' ' -f1 < "$(art 1.3.0).sha256")
printf 'x' >> "$dir/staging/hosts/ivr-01/root/incoming/$sha"
out=$("$ivrctl" promote --from "$stg" --to "$prd" 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "does not hash to $sha: removed, nothing was promoted" <<<"$out" ||
	fail "damaged copy: exit $rc: $out"
[ ! -e "$XDG_STATE_HOME/ivr-deploy/artifacts/ivr-runtime-1.3.0.tar.gz" ] || fail "the damaged copy was kept"
on "$prd" 1.2.0 || fail "a refused promote changed production"

# Staging half way (a gate left open): refused.
sed 's/^    - { name: half, hosts: 50% }$/    - { name: half, hosts: 50%, approval: true }/' "$stg" > "$dir/staging/gate.yaml"
"$ivrctl" deploy "$dir/staging/gate.yaml" --artifact "$(art 1.4.0)" </dev/null >/dev/null 2>&1
out=$("$ivrctl" promote --from "$stg" --to "$prd" 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "staging (staging) does not run one release on every host" <<<"$out" ||
	fail "staging half way: exit $rc: $out"
on "$prd" 1.2.0 || fail "a refused promote changed production"
# The gate left open is undone by rollback: back where it started.
out=$("$ivrctl" rollback "$stg" 2>&1); rc=$?
[ "$rc" -eq 0 ] && grep -q "the last deployment here did not finish (interrupted, or waiting at a gate): back to 1.3.0" <<<"$out" ||
	fail "rollback of the waiting deployment: exit $rc: $out"
on "$stg" 1.3.0 || fail "staging is not back on 1.3.0 after the rollback"
out=$("$ivrctl" promote --from "$prd" --to "$prd" 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "promote goes from one environment to another" <<<"$out" || fail "same plan: exit $rc: $out"

[ "$failed" -eq 0 ] && echo "promote: refused for a staging member out of the pool, a half-done staging, a damaged copy and one environment; 1.1.0 promoted with staging's journal artifact, 1.2.0 with a copy fetched from a staging host (sha256 checked)"
exit "$failed"

#!/usr/bin/env bash
# ivrctl deploy and rollback behind nginx (the upstream file and a reload,
# through the agent on the balancer host): while requests stream through
# nginx, the fleet goes to 1.1.0 and back to 1.0.0 without a failed request;
# the upstream file ends with every server in the pool.
# usage: test_deploy_nginx.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test deploy-nginx 127.0.98
front="https://$net.4:8080" # the balancer: the address after the 3 hosts
load=""
cleanup() {
	[ -n "$load" ] && kill "$load" 2>/dev/null && wait "$load" 2>/dev/null
	"$fleet" down --dir "$dir/fleet" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT

"$fleet" up 3 --dir "$dir/fleet" --net $net --lb nginx >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
upstream="$dir/fleet/hosts/lb/root/nginx/upstream.conf"
for v in 1.0.0 1.1.0; do
	package $v
done
# Requests through nginx, one after another, until killed: one line each,
# the HTTP code and the version that answered.
stream() {
	while :; do
		fcurl -s -m 5 -o "$dir/body" -w '%{http_code} ' "$front/version"
		/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
			"$dir/body" 2>/dev/null || echo "-"
	done
}

out=$("$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.0.0.tar.gz"); rc=$?
[ "$rc" -eq 0 ] || fail "first install: exit $rc: $out"
fleet_on 1.0.0 || fail "after the first install the fleet is not on 1.0.0"

stream > "$dir/load" &
load=$!
sleep 1
out=$("$ivrctl" deploy "$plan" --artifact "$dir/dist/ivr-runtime-1.1.0.tar.gz"); rc=$?
[ "$rc" -eq 0 ] || fail "update: exit $rc: $out"
fleet_on 1.1.0 || fail "after the update the fleet is not on 1.1.0"
out=$("$ivrctl" rollback "$plan"); rc=$?
[ "$rc" -eq 0 ] || fail "rollback: exit $rc: $out"
fleet_on 1.0.0 || fail "after the rollback the fleet is not on 1.0.0"
sleep 1
kill "$load"; wait "$load" 2>/dev/null; load=""

head -n -1 "$dir/load" > "$dir/done" # the last request was cut by the kill
mv "$dir/done" "$dir/load"
total=$(wc -l < "$dir/load")
bad=$(grep -vc '^200 ' "$dir/load")
new=$(grep -c '^200 1\.1\.0$' "$dir/load")
[ "$total" -ge 50 ] || fail "only $total requests went through nginx"
[ "$bad" -eq 0 ] || fail "$bad of $total requests through nginx failed: $(grep -v '^200 ' "$dir/load" | sort | uniq -c)"
[ "$new" -gt 0 ] || fail "no request through nginx was answered by 1.1.0"
[ "$(tail -n1 "$dir/load")" = "200 1.0.0" ] || fail "after the rollback nginx answers: $(tail -n1 "$dir/load")"
grep -q down "$upstream" && fail "a server was left down in nginx: $(cat "$upstream")"
[ "$(grep -c "^server $net\.[123]:8080;" "$upstream")" -eq 3 ] || fail "upstream file: $(cat "$upstream")"

[ "$failed" -eq 0 ] && echo "deploy behind nginx: 3 hosts to 1.1.0 and back to 1.0.0 under $total requests through nginx, $bad failed, $new answered by 1.1.0"
exit "$failed"

#!/usr/bin/env bash
# The shared state over TLS: a 2-host fleet whose 3-member etcd cluster
# serves clients over https only and requires a client certificate from
# its CA (etcd-cluster --tls). ivrctl with the plan's ca_file, cert_file
# and key_file deploys and reads the journal; without a client certificate,
# or trusting another CA, it cannot take the lock (exit 1, etcd's TLS
# error said) and touches nothing; a key file others may read is refused
# by validate.
# usage: test_etcd_tls.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test etcd-tls 127.0.86

"$fleet" up 2 --dir "$dir/fleet" --net $net --etcd-tls >/dev/null || { echo "FAIL: fleet up"; exit 1; }
plan="$dir/fleet/plan.yaml"
package 1.0.0 && package 1.1.0 || { echo "FAIL: package"; exit 1; }
grep -q "endpoints: \[https://$net.241:2379" "$plan" || fail "the plan's endpoints are not https: $(grep endpoints "$plan")"

out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.0.0)" 2>&1) || fail "deploy over TLS: $out"
fleet_on 1.0.0 || fail "the fleet is not on 1.0.0"

# No client certificate: etcd closes the handshake.
grep -v "cert_file\|key_file" "$plan" >"$dir/fleet/plan-nocert.yaml"
out=$("$ivrctl" deploy "$dir/fleet/plan-nocert.yaml" --artifact "$(art 1.1.0)" 2>&1); rc=$?
[ "$rc" -eq 1 ] && [[ "$out" == *"cannot take the environment's lock on etcd: etcd at https://$net."* ]] ||
	fail "without a client certificate: exit $rc: $out"
[[ "$out" != *"drain"* ]] || fail "without a client certificate a host was touched: $out"

# Another CA: the members' certificates are not trusted.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj "/CN=another CA" -keyout "$dir/other.key" -out "$dir/fleet/other-ca.pem" 2>/dev/null
sed 's|ca_file: etcd/tls/ca.pem|ca_file: other-ca.pem|' "$plan" >"$dir/fleet/plan-otherca.yaml"
out=$("$ivrctl" deploy "$dir/fleet/plan-otherca.yaml" --artifact "$(art 1.1.0)" 2>&1); rc=$?
[ "$rc" -eq 1 ] && [[ "$out" == *"cannot take the environment's lock on etcd"*"certificate"* ]] ||
	fail "trusting another CA: exit $rc: $out"
fleet_on 1.0.0 || fail "a refused run changed the fleet"

# A client key others may read.
chmod 0644 "$dir/fleet/etcd/tls/client.key"
out=$("$ivrctl" validate "$plan" 2>&1); rc=$?
[ "$rc" -eq 2 ] && [[ "$out" == *"'key_file': '$dir/fleet/etcd/tls/client.key' must be readable by its owner only (chmod 600)"* ]] ||
	fail "a readable client key: exit $rc: $out"
chmod 0600 "$dir/fleet/etcd/tls/client.key"

out=$("$ivrctl" deploy "$plan" --artifact "$(art 1.1.0)" 2>&1) || fail "the second deploy over TLS: $out"
fleet_on 1.1.0 || fail "the fleet is not on 1.1.0"
h=$(XDG_STATE_HOME="$dir/other" "$ivrctl" history "$plan" 2>&1) || fail "history from another folder: $h"
runs=$(grep -c " deploy .* done " <<<"$h")
[ "$runs" -eq 2 ] || fail "history from another folder shows $runs deployments done, not 2: $h"

[ "$failed" -eq 0 ] && echo "etcd over TLS: 2 deployments with a client certificate, history read from another folder; no certificate and another CA refused (exit 1), nothing touched; a readable key refused by validate"
exit "$failed"

#!/usr/bin/env bash
# Certificates deployed like a release, on the sandbox fleet with TLS on
# every link (3 hosts behind HAProxy, the bank on PostgreSQL over
# verify-full), 30 callers over https through the balancer all along:
#  - the plan's runtime.tls ships each host's certificate with the
#    settings (1.0.0+<id>); each runtime presents its own, the key lands
#    0600, status shows each certificate's expiry;
#  - a rotation to new certificates goes out in phases; `ivrctl rollback`
#    brings the old ones back (each runtime's presented fingerprint
#    checked);
#  - runtimes that ask for client certificates (runtime.tls.client_ca): the
#    balancer presents its own, the agents' checks the plan's
#    tls.client_cert; a client without one gets 403;
#  - a host given a certificate from another CA, then one for another
#    name, is refused by the readiness check with TLS's own words and the
#    deployment rolls back (exit 1, fleet whole on the old certificates);
#    the balancer sends that runtime no call while it presents the bad
#    certificate (its metrics sampled meanwhile, trusting the other CA);
#  - the callers see 0 failed calls and 0 retried requests, the books
#    balance;
#  - validate warns of a certificate within tls.expiry_warning (text and
#    JSON) and refuses a key others may read.
# usage: test_tls.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test tls 127.0.87
callers_pid=""
sampler=""
trap '[ -n "$callers_pid" ] && kill "$callers_pid" 2>/dev/null; [ -n "$sampler" ] && kill "$sampler" 2>/dev/null; "$fleet" down --dir "$dir/fleet" >/dev/null 2>&1; rm -rf "$dir"' EXIT
tls="$top/scripts/tls-sandbox.sh"

"$fleet" up 3 --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
f="$dir/fleet"
plan="$f/plan.yaml"
fleet_bank "$f" ivr_migrate
"$build/ivr-runtime/bin/ivr-runtime" seed "${BANK[@]}" --customers 30 --seed 13 \
	--credentials-out "$dir/cred.json" --kdf-iterations 1000 >/dev/null || { echo "FAIL: seed"; exit 1; }
package 1.0.0

# Each host's certificates: set a (the first), b (the rotation), bad-ca
# (ivr-01's from another CA), bad-name (ivr-01's for another host), soon
# (ivr-02's expiring in 5 days).
"$tls" ca "$dir/rogue"
for set in a b bad-ca bad-name soon; do mkdir -p "$f/certs/$set"; done
for i in 1 2 3; do
	name=$(printf 'ivr-%02d' "$i")
	san="DNS:$name,DNS:ivr-pool,IP:$net.$i"
	"$tls" cert "$f/tls" "$name" --san "$san" --out "$f/certs/a/$name"
	"$tls" cert "$f/tls" "$name" --san "$san" --out "$f/certs/b/$name"
	for set in bad-ca bad-name soon; do
		cp -p "$f/certs/a/$name.pem" "$f/certs/a/$name.key" "$f/certs/$set/"
	done
done
"$tls" cert "$dir/rogue" ivr-01 --san "DNS:ivr-01,DNS:ivr-pool,IP:$net.1" --out "$f/certs/bad-ca/ivr-01"
"$tls" cert "$f/tls" ivr-99 --san "DNS:ivr-99,IP:$net.99" --out "$f/certs/bad-name/ivr-01"
"$tls" cert "$f/tls" ivr-02 --san "DNS:ivr-02,DNS:ivr-pool,IP:$net.2" --days 5 --out "$f/certs/soon/ivr-02"
cat > "$f/settings.yaml" <<SETTINGS
listen: { address: "{address}", port: 8080, threads: 4 }
database:
  backend: postgresql
  host: $net.250
  port: 5432
  dbname: bank
  user: ivr_app
  password_file: db.pgpass
  sslmode: verify-full
  sslrootcert: tls/ca.pem
calls: { max_concurrent: 500, affinity_cookie: IVRHOST }
drain: { deadline: 20s }
log: { file: ivr-runtime.log }
SETTINGS
for set in a b bad-ca bad-name soon; do
	{
		cat "$plan"
		printf 'runtime:\n  settings: settings.yaml\n  tls: { cert: "certs/%s/{name}.pem", key: "certs/%s/{name}.key" }\n' "$set" "$set"
	} > "$f/plan-$set.yaml"
done

# fingerprint HOST_INDEX: the SHA-256 of the certificate the runtime presents.
fingerprint() {
	echo | timeout 5 openssl s_client -connect "$net.$1:8080" 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}
file_fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
# presents SET: every runtime presents its certificate of that set.
presents() {
	local i name
	for i in 1 2 3; do
		name=$(printf 'ivr-%02d' "$i")
		[ "$(fingerprint "$i")" = "$(file_fingerprint "$f/certs/$1/$name.pem")" ] || return 1
	done
}
release_of() { "$ivrctl" status "$1" --output json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['release'])"; }

# The first certificates go out with the release.
out=$("$ivrctl" deploy "$f/plan-a.yaml" --artifact "$(art 1.0.0)" 2>&1) || fail "deploy with set a: $out"
rel_a=$(release_of "$f/plan-a.yaml")
[[ "$rel_a" == 1.0.0+* ]] || fail "set a: the release is '$rel_a'"
presents a || fail "set a: a runtime does not present its own certificate"
id_a=${rel_a#*+}
mode=$(stat -c %a "$f/hosts/ivr-02/root/shared/tls.$id_a.key" 2>/dev/null)
[ "$mode" = 600 ] || fail "the shipped key's mode is '$mode', not 600"
table=$("$ivrctl" status "$f/plan-a.yaml")
grep -Eq "^ivr-01 .* ready +ready +20[0-9]{2}-[0-9]{2}-[0-9]{2}$" <<<"$table" ||
	fail "status shows no certificate expiry: $table"
"$ivrctl" status "$f/plan-a.yaml" --output json | fits status || fail "status JSON does not fit the schema"
expiry=$("$ivrctl" status "$f/plan-a.yaml" --output json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['hosts'][0]['certificate_expires'])")
want=$(date -u -d "$(openssl x509 -in "$f/certs/a/ivr-01.pem" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
[ "$expiry" = "$want" ] || fail "status says ivr-01's certificate expires $expiry, the file $want"
sleep 1 # HAProxy's checks see every runtime up

calls_start "https://$net.4:8080" 9

# A rotation in phases, then the rollback.
out=$("$ivrctl" deploy "$f/plan-b.yaml" --artifact "$(art 1.0.0)" 2>&1) || fail "rotation: $out"
for phase in canary half; do grep -q "phase $phase:" <<<"$out" || fail "rotation: no phase $phase: $out"; done
# (a regression: retention refused "1.0.0+<id>" as a release to keep)
grep -q "pruning old releases failed" <<<"$out" && fail "rotation: retention failed: $out"
rel_b=$(release_of "$f/plan-b.yaml")
[ "$rel_b" != "$rel_a" ] && [[ "$rel_b" == 1.0.0+* ]] || fail "rotation: release '$rel_b' (was '$rel_a')"
presents b || fail "after the rotation a runtime does not present its new certificate"
out=$("$ivrctl" rollback "$f/plan-b.yaml" 2>&1) || fail "rollback of the rotation: $out"
[ "$(release_of "$f/plan-a.yaml")" = "$rel_a" ] || fail "the rollback did not bring $rel_a back"
presents a || fail "after the rollback a runtime does not present its old certificate"

# Client certificates: the runtimes ask for one from the fleet's CA
# (runtime.tls.client_ca); the balancer presents its own, the agents'
# checks the plan's tls.client_cert.  Then back to set a.
sed -e 's|^  ca_file: tls/ca.pem$|  ca_file: tls/ca.pem\n  client_cert: tls/lb.pem\n  client_key: tls/lb.key|' \
	-e 's|^  tls: { cert: "certs/a/{name}.pem", key: "certs/a/{name}.key" }$|  tls: { cert: "certs/a/{name}.pem", key: "certs/a/{name}.key", client_ca: tls/ca.pem }|' \
	"$f/plan-a.yaml" > "$f/plan-mtls.yaml"
grep -q "client_ca: tls/ca.pem" "$f/plan-mtls.yaml" && grep -q "^  client_cert: tls/lb.pem" "$f/plan-mtls.yaml" ||
	fail "plan-mtls: $(cat "$f/plan-mtls.yaml")"
out=$("$ivrctl" deploy "$f/plan-mtls.yaml" --artifact "$(art 1.0.0)" 2>&1) || fail "client certificates required: $out"
code=$(fcurl -s -o /dev/null -w '%{http_code}' "https://$net.2:8080/readyz")
[ "$code" = 403 ] || fail "a runtime asking for client certificates answered $code without one"
code=$(fcurl -s -o /dev/null -w '%{http_code}' --cert "$f/tls/lb.pem" --key "$f/tls/lb.key" "https://$net.2:8080/readyz")
[ "$code" = 200 ] || fail "a runtime asking for client certificates answered $code to the balancer's"
plan="$f/plan-mtls.yaml" fleet_on "$(release_of "$f/plan-mtls.yaml")" || fail "the fleet with client certificates is not whole and READY"
out=$("$ivrctl" rollback "$f/plan-mtls.yaml" 2>&1) || fail "rollback from client certificates: $out"
[ "$(release_of "$f/plan-a.yaml")" = "$rel_a" ] || fail "the rollback did not bring $rel_a back (client certificates)"

# bad SET WORDS CA: ivr-01's certificate of SET is refused by the
# readiness check and the deployment rolls back; meanwhile ivr-01's call
# steps are sampled from whatever runtime there CA verifies (the bad one).
bad() {
	local set=$1 words=$2 ca=$3 rc samples
	: > "$dir/samples-$set"
	(
		while :; do
			curl -s --max-time 1 --cacert "$ca" "https://$net.1:8080/metrics" 2>/dev/null |
				awk '/^ivr_call_steps_total/ { s += $2; n++ } END { if (n) print s + 0 }' >> "$dir/samples-$set"
			sleep 0.1
		done
	) &
	sampler=$!
	out=$("$ivrctl" deploy "$f/plan-$set.yaml" --artifact "$(art 1.0.0)" 2>&1); rc=$?
	kill "$sampler"; wait "$sampler" 2>/dev/null; sampler=""
	[ "$rc" -eq 1 ] || fail "$set: exit $rc, not 1 (failed, rolled back): $out"
	# the refused host was out of the pool since its restart: no drain
	grep -q "ivr-01: out of the pool since this run restarted it" <<<"$out" ||
		fail "$set: the rollback drained a host that never served: $out"
	grep -q "ivr-01: FAILED: .*(TLS refused: $words)" <<<"$out" || fail "$set: the refusal does not say why: $out"
	[ "$(release_of "$f/plan-a.yaml")" = "$rel_a" ] || fail "$set: the fleet is not back on $rel_a"
	presents a || fail "$set: a runtime does not present its set-a certificate after the rollback"
}
bad bad-ca "SSL certificate problem: self-signed certificate in certificate chain" "$dir/rogue/ca.pem"
n_ca=$(grep -c . "$dir/samples-bad-ca")
[ "$n_ca" -gt 0 ] || fail "bad-ca: the runtime with the other CA's certificate was never seen"
grep -qv '^0$' "$dir/samples-bad-ca" && fail "bad-ca: the balancer sent that runtime calls: $(sort -u "$dir/samples-bad-ca" | tr '\n' ' ')"
bad bad-name "SSL: no alternative certificate subject name matches target host name '$net.1'" "$f/tls/ca.pem"
calls_stop
[ "$(calls_figure failed)" -eq 0 ] || fail "calls failed: $(cat "$dir/calls.out")"
[ "$(calls_figure retried)" -eq 0 ] || fail "requests were retried: $(cat "$dir/calls.out")"
[ "$(calls_figure completed)" -ge 30 ] || fail "too few calls completed: $(cat "$dir/calls.out")"
fleet_bank "$f" ivr_app
ledger=$("$build/bin/ivr-ledger" "${BANK[@]}" --acks "$dir/calls.acks") || fail "ledger: $ledger"

# validate: a certificate near its end is a warning, an open key an error.
out=$("$ivrctl" validate "$f/plan-soon.yaml" 2>&1) || fail "validate with an expiring certificate: $out"
grep -q "warning: 1 certificate(s) expire within tls.expiry_warning (30 d): ivr-02's (20.*, in [45] d)" <<<"$out" ||
	fail "validate does not warn of ivr-02's certificate: $out"
[ "$("$ivrctl" validate "$f/plan-soon.yaml" --output json | /usr/bin/python3 -c "import json,sys; print([c['host'] for c in json.load(sys.stdin)['expiring_certificates']])")" = "['ivr-02']" ] ||
	fail "validate's JSON does not list ivr-02's certificate"
"$ivrctl" validate "$f/plan-soon.yaml" --output json | fits validate || fail "validate JSON does not fit the schema"
chmod 0644 "$f/certs/soon/ivr-03.key"
out=$("$ivrctl" validate "$f/plan-soon.yaml" 2>&1) && fail "validate accepted a key others may read"
grep -q "plan-soon.yaml:[0-9]*:[0-9]*: runtime.tls.key for ivr-03: .* may be read by others (mode 0644)" <<<"$out" ||
	fail "an open key: $out"

[ "$failed" -eq 0 ] && {
	echo "tls: certificates shipped as $rel_a, rotated in phases to $rel_b and rolled back (fingerprints checked); client certificates required and given;"
	echo "  another CA and another name refused by readiness and rolled back; the other CA's runtime sampled $n_ca times, 0 call steps;"
	echo "  expiry warned and an open key refused by validate; 30 callers over https:"
	sed 's/^/  /' "$dir/calls.out"
	sed 's/^/  /' <<<"$ledger"
}
exit "$failed"

#!/usr/bin/env bash
# The runtime's HTTPS (listen.tls) on loopback, with a throw-away CA
# (scripts/tls-sandbox.sh):
#  - openssl s_client: TLS 1.0 and 1.1 refused (the client offering them
#    at security level 0, so that the refusal is the server's), TLS 1.2
#    and 1.3 accepted, with an AEAD cipher;
#  - curl: verified against the CA, and by name; refused without the CA;
#    /readyz states the certificate's expiry;
#  - refused settings, by `check` and at start: a key others may read, a
#    key that is not the certificate's, a certificate without its key, and plain
#    HTTP on an address that is not loopback;
#  - listen.tls.client_ca: 403 without a client certificate, 200 with one
#    the CA signed.
# Every process stopped by its pid.  usage: test_runtime_tls.sh RUNTIME_BIN
set -uo pipefail
runtime=$1
here=$(cd "$(dirname "$0")" && pwd)
tls="$here/../../scripts/tls-sandbox.sh"
net=127.0.89
dir=$(mktemp -d /tmp/ivr-rtls.XXXXXX)
failed=0
pid=""
fail() { echo "FAIL: $*"; failed=1; }
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

"$tls" ca "$dir/ca" && "$tls" cert "$dir/ca" rt --san "DNS:rt,IP:$net.1" &&
	"$tls" cert "$dir/ca" client --san "DNS:balancer" &&
	"$tls" cert "$dir/ca" other --san "DNS:other,IP:$net.1" &&
	"$tls" ca "$dir/rogue" && "$tls" cert "$dir/rogue" rt --san "DNS:rt,IP:$net.1" ||
	{ echo "FAIL: openssl could not make the certificates"; exit 1; }
"$runtime" migrate --db "$dir/bank.db" \
	--migrations "$(dirname "$(dirname "$runtime")")/share/db" >/dev/null ||
	{ echo "FAIL: migrate"; exit 1; }
config() { # file address tls-mapping
	printf 'listen: { address: %s, port: 8443, threads: 2%s }\ndatabase: { path: %s/bank.db }\n' \
		"$2" "${3:+, tls: $3}" "$dir" > "$1"
}
start() { # config
	"$runtime" --config "$1" > "$dir/runtime.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		curl -s -o /dev/null --cacert "$dir/ca/ca.pem" "https://$net.1:8443/healthz" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""; }

config "$dir/ok.yaml" "$net.1" "{ cert: $dir/ca/rt.pem, key: $dir/ca/rt.key }"
out=$("$runtime" check --config "$dir/ok.yaml" 2>&1) || fail "check refuses sound TLS settings: $out"
grep -q "rt.pem: CN=rt, expires " <<<"$out" || fail "check does not name the certificate: $out"
start "$dir/ok.yaml" || fail "the runtime did not serve https: $(cat "$dir/runtime.log")"
grep -q 'listening .*scheme=https certificate="CN=rt"' "$dir/runtime.log" ||
	fail "the log does not say https: $(cat "$dir/runtime.log")"

# Protocol versions: the client offers each one alone.
versions=""
for v in tls1 tls1_1 tls1_2 tls1_3; do
	o=$(echo | timeout 5 openssl s_client -connect "$net.1:8443" -"$v" \
		-cipher 'DEFAULT@SECLEVEL=0' -CAfile "$dir/ca/ca.pem" 2>&1)
	proto=$(sed -n 's/^ *Protocol *: *//p' <<<"$o" | head -n1)
	cipher=$(sed -n 's/^New, [^,]*, Cipher is //p' <<<"$o" | head -n1)
	case "$v" in
	tls1 | tls1_1)
		[ "$cipher" = "(NONE)" ] || fail "$v was accepted: $proto $cipher" ;;
	*)
		grep -q "Verify return code: 0 (ok)" <<<"$o" && [[ "$cipher" == *GCM* || "$cipher" == *CHACHA20* ]] ||
			fail "$v was not accepted with an AEAD cipher: $(tail -5 <<<"$o")" ;;
	esac
	versions="$versions $v:${cipher}"
done

# curl: verified by CA and by name.
body=$(curl -sf --cacert "$dir/ca/ca.pem" "https://$net.1:8443/readyz") ||
	fail "a verified https readyz failed"
grep -Eq '"certificate_expires": ?"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"' <<<"$body" ||
	fail "/readyz does not state the certificate's expiry: $body"
out=$(curl -s "https://$net.1:8443/readyz" 2>&1); rc=$?
[ "$rc" -eq 60 ] || fail "curl without the CA: exit $rc, not 60 (certificate refused): $out"
out=$(curl -s --cacert "$dir/rogue/ca.pem" "https://$net.1:8443/readyz" 2>&1); rc=$?
[ "$rc" -eq 60 ] || fail "curl trusting another CA: exit $rc, not 60"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$net.1:8443/readyz")" = 200 ] &&
	fail "plain HTTP was answered on the https port"
stop

# Refused settings: check and serve both refuse, saying why.
refused() { # name expected-words config
	local o
	o=$("$runtime" check --config "$3" 2>&1) && fail "$1: check accepted it"
	grep -q "$2" <<<"$o" || fail "$1: check says: $o"
	if start "$3"; then fail "$1: the runtime served"; stop; fi
	pid=""
	grep -q "$2" "$dir/runtime.log" || fail "$1: the runtime says: $(cat "$dir/runtime.log")"
}
cp "$dir/ca/rt.key" "$dir/open.key" && chmod 0644 "$dir/open.key"
config "$dir/open.yaml" "$net.1" "{ cert: $dir/ca/rt.pem, key: $dir/open.key }"
refused "a key others may read" "may be read by others (mode 0644)" "$dir/open.yaml"
config "$dir/pair.yaml" "$net.1" "{ cert: $dir/ca/rt.pem, key: $dir/ca/other.key }"
refused "a key of another certificate" "do not make a pair" "$dir/pair.yaml"
config "$dir/plain.yaml" "10.255.255.1"
refused "plain HTTP off loopback" "is not a loopback address: plain HTTP is served on loopback only" "$dir/plain.yaml"
config "$dir/half.yaml" "$net.1" "{ cert: $dir/ca/rt.pem }"
o=$("$runtime" check --config "$dir/half.yaml" 2>&1) && fail "a certificate without a key was accepted"
grep -q "half.yaml:1:.*'listen.tls' needs both 'cert' and 'key'" <<<"$o" || fail "a certificate without a key: $o"

# Client certificates: the balancer's, from the CA the runtime trusts.
config "$dir/mtls.yaml" "$net.1" "{ cert: $dir/ca/rt.pem, key: $dir/ca/rt.key, client_ca: $dir/ca/ca.pem }"
start "$dir/mtls.yaml" || fail "the runtime with client_ca did not start: $(cat "$dir/runtime.log")"
code=$(curl -s -o "$dir/no-cert" -w '%{http_code}' --cacert "$dir/ca/ca.pem" "https://$net.1:8443/readyz")
[ "$code" = 403 ] && grep -q "client certificate" "$dir/no-cert" ||
	fail "no client certificate: $code $(cat "$dir/no-cert")"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca/ca.pem" \
	--cert "$dir/ca/client.pem" --key "$dir/ca/client.key" "https://$net.1:8443/readyz")
[ "$code" = 200 ] || fail "the CA's client certificate: $code, not 200"
"$tls" cert "$dir/rogue" client
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca/ca.pem" \
	--cert "$dir/rogue/client.pem" --key "$dir/rogue/client.key" "https://$net.1:8443/readyz")
[ "$code" = 403 ] || [ "$code" = 000 ] || fail "another CA's client certificate: $code"
stop

[ "$failed" -eq 0 ] && echo "runtime tls:$versions; verified by CA and name, expiry in /readyz; open key, wrong pair, plain HTTP off loopback refused; client certificates required with client_ca"
exit "$failed"

#!/usr/bin/env bash
# A throw-away certificate authority for the sandbox and the tests, made
# with openssl: EC P-256 keys (0600), certificates with the names a client
# checks (subjectAltName: DNS and IP entries).
#
#   tls-sandbox.sh ca DIR [--cn NAME]
#   tls-sandbox.sh cert DIR NAME [--days N] [--san "DNS:x,IP:1.2.3.4"]
#                           [--ca OTHERDIR] [--out PREFIX]
#
# ca: DIR/ca.pem and DIR/ca.key (valid 10 years), once: an existing CA is
# kept.  cert: DIR/NAME.pem (the leaf, then the CA: a chain) and
# DIR/NAME.key, signed by DIR's CA (or OTHERDIR's), valid N days (365),
# for server and client use; NAME is the subject's CN and, unless --san
# says otherwise, its one DNS name.  --out writes PREFIX.pem and
# PREFIX.key instead.
set -euo pipefail
die() { echo "tls-sandbox: $*" >&2; exit 2; }

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: tls-sandbox.sh ca DIR | cert DIR NAME [options]"
shift 2

make_ca() {
	local cn="ivr sandbox CA"
	while [ $# -gt 0 ]; do
		case "$1" in
		--cn) cn=$2; shift 2 ;;
		*) die "unknown option '$1'" ;;
		esac
	done
	mkdir -p "$dir"
	[ -s "$dir/ca.pem" ] && [ -s "$dir/ca.key" ] && return 0
	(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-days 3650 -subj "/CN=$cn" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null) ||
		die "openssl could not make the CA in $dir"
	chmod 0644 "$dir/ca.pem"
}

make_cert() {
	local name=${1:-} days=365 san="" ca=$dir out="" tmp
	[ -n "$name" ] || die "cert needs a NAME"
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		--days) days=$2; shift 2 ;;
		--san) san=$2; shift 2 ;;
		--ca) ca=$2; shift 2 ;;
		--out) out=$2; shift 2 ;;
		*) die "unknown option '$1'" ;;
		esac
	done
	[ -n "$san" ] || san="DNS:$name"
	[ -n "$out" ] || out="$dir/$name"
	[ -s "$ca/ca.pem" ] || die "no CA in $ca (tls-sandbox.sh ca $ca)"
	tmp=$(mktemp -d)
	(umask 077 && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$name" -keyout "$out.key" -out "$tmp/req.csr" 2>/dev/null &&
		openssl x509 -req -in "$tmp/req.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca.key" \
			-CAcreateserial -CAserial "$tmp/serial" -days "$days" -out "$tmp/leaf.pem" \
			-extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' "$san") \
			2>/dev/null) || { rm -rf "$tmp"; die "openssl could not make $name's certificate"; }
	cat "$tmp/leaf.pem" "$ca/ca.pem" > "$out.pem"
	chmod 0644 "$out.pem"
	chmod 0600 "$out.key"
	rm -rf "$tmp"
}

case "$cmd" in
ca) make_ca "$@" ;;
cert) make_cert "$@" ;;
*) die "unknown command '$cmd'" ;;
esac

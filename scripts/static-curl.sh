#!/usr/bin/env bash
# Builds the libcurl.a the static agent links, from Debian's own source of
# the curl version installed here (so that it matches the headers of
# libcurl4-openssl-dev), with HTTP and HTTPS only, on OpenSSL (Debian's
# libssl.a: the same TLS stack as ivrctl's libcurl, which checks an IP
# address in a URL against the certificate's IP subjectAltNames; Mbed
# TLS 2.28 matches DNS names only, and reports no certificate details).
#
# Why not Debian's libcurl.a: it is built with GSS-API (Kerberos), LDAP
# (GnuTLS, whose p11-kit has no static archive), RTMP, PSL, HTTP/2 and
# more; libkrb5-dev and libp11-kit-dev ship no static archives, so an
# agent linked with it cannot be static (docs/packaging.md).
#
#   static-curl.sh OUTDIR    writes OUTDIR/libcurl.a (kept if up to date)
#
# Needs deb-src lines (scripts/install-deps.sh adds them), dpkg-dev and
# libssl-dev; downloads about 4 MB the first time.
set -euo pipefail

out=${1:?usage: static-curl.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(dpkg-query -W -f='${Version}' libcurl4-openssl-dev 2>/dev/null || true)
if [ -z "$version" ]; then
	echo "static-curl: libcurl4-openssl-dev is not installed" >&2
	exit 1
fi
# the archive is rebuilt when the curl version or the TLS stack changes
stamp="$version openssl"
if [ -f "$out/libcurl.a" ] && [ "$(cat "$out/version" 2>/dev/null)" = "$stamp" ]; then
	exit 0
fi

src="$out/src"
rm -rf "$src" "$out/dl" "$out/libcurl.a" "$out/version"
mkdir -p "$out/dl"
echo "static-curl: fetching Debian's curl $version source"
if ! (cd "$out/dl" && apt-get source -qq --download-only "curl=$version" \
	>"$out/fetch.log" 2>&1); then
	cat "$out/fetch.log" >&2
	echo "static-curl: cannot fetch the curl $version source package;" \
		"run scripts/install-deps.sh as root (it adds deb-src lines)" >&2
	exit 1
fi
# dpkg-source checks the files against the .dsc's checksums; the .dsc
# came through apt, whose signed Release files vouch for it.
dpkg-source -q -x --no-check "$out/dl"/curl_*.dsc "$src" >"$out/unpack.log" 2>&1 || {
	cat "$out/unpack.log" >&2
	exit 1
}

echo "static-curl: building libcurl.a (HTTP and HTTPS on OpenSSL)"
cd "$src"
# Debian's CA bundle is the default; a plan's CA bundle overrides it.
if ! ./configure -q --disable-shared --enable-static --with-pic \
	--with-openssl --without-mbedtls --without-gnutls \
	--without-libpsl --without-nghttp2 --without-brotli --without-zstd \
	--without-libidn2 --without-libssh2 --without-librtmp --without-gssapi \
	--without-libgsasl --disable-ldap --disable-ldaps --disable-rtsp \
	--disable-dict --disable-telnet --disable-tftp --disable-pop3 \
	--disable-imap --disable-smb --disable-smtp --disable-gopher \
	--disable-mqtt --disable-ftp --disable-manual --disable-ntlm \
	--disable-netrc --disable-alt-svc --disable-hsts --disable-cookies \
	--disable-proxy --enable-threaded-resolver \
	--with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --without-ca-path \
	>"$out/configure.log" 2>&1; then
	tail -20 "$out/configure.log" >&2
	exit 1
fi
if ! make -s -j"$(nproc)" -C lib >"$out/make.log" 2>&1; then
	tail -20 "$out/make.log" >&2
	exit 1
fi
cp lib/.libs/libcurl.a "$out/libcurl.a.tmp"
mv "$out/libcurl.a.tmp" "$out/libcurl.a"
printf '%s\n' "$stamp" >"$out/version"
rm -rf "$src" "$out/dl"
echo "static-curl: $out/libcurl.a ($(stat -c %s "$out/libcurl.a") bytes)"

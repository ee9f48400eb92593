#!/usr/bin/env bash
# ivrctl init against the real sandbox fleet (an sshd per host):
#  - the fingerprints shown are the hosts' own (ssh-keygen -l of each
#    host's public key);
#  - without a terminal and without --yes, or when the operator answers
#    anything but "yes" on a terminal, nothing is written (exit 2);
#  - answered "yes" (on a pseudo-terminal) or --yes: a commented plan and
#    known_hosts are written, validate accepts the plan, and status reads
#    the fleet through it (consistent on the release the sandbox plan
#    deployed);
#  - existing files are not replaced without --force; an unreachable host
#    or a bad argument writes nothing.
# usage: test_init.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fleet_test init 127.0.72

"$fleet" up 2 --dir "$dir/fleet" --net $net >/dev/null || { echo "FAIL: fleet up"; exit 1; }
f="$dir/fleet"
args=(--environment sandbox --user root --port 2222 --identity "$f/client_key"
	--agent-path "$f/hosts/{name}/bin/ivr-agent" --agent-root "$f/hosts/{name}/root"
	--ca-file "$f/tls/ca.pem"
	ivr-01=$net.1 ivr-02=$net.2)
mkdir -p "$dir/a" "$dir/b" "$dir/c" "$dir/d"

# No terminal, no --yes: the keys are shown, nothing is written.
out=$("$ivrctl" init --out "$dir/a/plan.yaml" "${args[@]}" </dev/null 2>"$dir/err"); rc=$?
[ "$rc" -eq 2 ] || fail "no terminal: exit $rc, not 2"
grep -q "no terminal to ask on" "$dir/err" || fail "no terminal: $(cat "$dir/err")"
[ -z "$(ls "$dir/a")" ] || fail "no terminal: wrote $(ls "$dir/a")"
for h in ivr-01 ivr-02; do
	want=$(ssh-keygen -l -E sha256 -f "$f/hosts/$h/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
	grep -q "^$h .* ssh-ed25519 $want\$" <<<"$out" || fail "$h's fingerprint: want $want, shown: $out"
done

# On a terminal: "no" writes nothing, "yes" writes the plan.
printf 'no\n' | script -qec "$(printf '%q ' "$ivrctl" init --out "$dir/b/plan.yaml" "${args[@]}")" /dev/null >"$dir/tty.out" 2>&1
rc=$?
[ "$rc" -eq 2 ] && [ -z "$(ls "$dir/b")" ] || fail "answered no: exit $rc, wrote '$(ls "$dir/b")': $(tail -2 "$dir/tty.out")"
printf 'yes\n' | script -qec "$(printf '%q ' "$ivrctl" init --out "$dir/b/plan.yaml" "${args[@]}")" /dev/null >"$dir/tty.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && [ -f "$dir/b/plan.yaml" ] || fail "answered yes: exit $rc: $(tail -3 "$dir/tty.out")"
grep -q "Type yes to write" "$dir/tty.out" || fail "no question asked on the terminal"

# --yes, then validate and status.
out=$("$ivrctl" init --yes --out "$dir/c/plan.yaml" "${args[@]}" 2>&1); rc=$?
[ "$rc" -eq 0 ] || fail "--yes: exit $rc: $out"
[ "$(stat -c %a "$dir/c/plan.yaml") $(stat -c %a "$dir/c/known_hosts")" = "644 644" ] ||
	fail "modes: $(stat -c '%n %a' "$dir/c/plan.yaml" "$dir/c/known_hosts")"
[ "$(grep -c '^\[127.0.72.[12]\]:2222 ssh-ed25519 ' "$dir/c/known_hosts")" -eq 2 ] ||
	fail "known_hosts: $(cat "$dir/c/known_hosts")"
ls -A "$dir/c" | grep -q '^\.ivrctl-init' && fail "a staging folder was left"
out=$("$ivrctl" validate "$dir/c/plan.yaml" 2>&1); rc=$?
[ "$rc" -eq 0 ] || fail "validate: exit $rc: $out"
echo "$out"
package 1.0.0
out=$("$ivrctl" deploy "$f/plan.yaml" --artifact "$(art 1.0.0)" --yes 2>&1) ||
	{ fail "deploy with the sandbox plan: $out"; exit 1; }
out=$("$ivrctl" status "$dir/c/plan.yaml" 2>&1); rc=$?
echo "$out"
[ "$rc" -eq 0 ] || fail "status with init's plan: exit $rc"
grep -q "sandbox: consistent.*1.0.0" <<<"$out" || fail "status: $out"

# Existing files, an unreachable host, bad arguments: nothing changes.
before=$(sha256sum "$dir/c/plan.yaml" "$dir/c/known_hosts")
out=$("$ivrctl" init --yes --out "$dir/c/plan.yaml" "${args[@]}" 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "exists: nothing was written (--force replaces it)" <<<"$out" ||
	fail "existing plan: exit $rc: $out"
[ "$(sha256sum "$dir/c/plan.yaml" "$dir/c/known_hosts")" = "$before" ] || fail "existing files changed"
out=$("$ivrctl" init --yes --out "$dir/d/plan.yaml" --port 2222 ivr-01=$net.1 ivr-09=$net.99 2>&1); rc=$?
[ "$rc" -eq 1 ] && grep -q "ivr-09 ($net.99:2222): .*nothing was written" <<<"$out" ||
	fail "unreachable host: exit $rc: $out"
[ -z "$(ls -A "$dir/d")" ] || fail "unreachable host: wrote $(ls -A "$dir/d")"
for bad in "a b" "x=10.0.0.1:99999" "bad/name=10.0.0.1"; do
	out=$("$ivrctl" init --yes --out "$dir/d/plan.yaml" "$bad" 2>&1); rc=$?
	[ "$rc" -eq 2 ] || fail "host '$bad': exit $rc: $out"
done
out=$("$ivrctl" init --yes --out "$dir/d/plan.yaml" --bogus 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "'--bogus'" <<<"$out" || fail "--bogus: exit $rc: $out"
[ -z "$(ls -A "$dir/d")" ] || fail "bad arguments wrote $(ls -A "$dir/d")"

[ "$failed" -eq 0 ] && echo "PASS: ivrctl init wrote a plan that validate and status use, after the keys were confirmed"
exit "$failed"

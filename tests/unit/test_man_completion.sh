#!/usr/bin/env bash
# The man pages and ivrctl's bash completion against the programs they
# describe:
#  - build/man/{ivrctl,ivr-agent,ivr-runtime}.1 render with groff's
#    warnings on and none printed; ivrctl's names every command of its
#    --help and has EXIT STATUS and FILES;
#  - the completion offers every command and db subcommand, and for each
#    command line of `ivrctl --help` every option it lists (and no other);
#    plan files where a PLAN goes, artifacts after --artifact.
# usage: test_man_completion.sh BUILD_DIR
set -uo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
ivrctl="$build/bin/ivrctl"
failed=0
fail() { echo "FAIL: $*"; failed=1; }

for prog in ivrctl ivr-agent ivr-runtime; do
	page="$build/man/$prog.1"
	[ -s "$page" ] || { fail "no man page $page"; continue; }
	text=$(MANWIDTH=80 man --warnings -l "$page" 2>"$build/man/$prog.warnings") || fail "man $prog"
	[ -s "$build/man/$prog.warnings" ] && fail "groff warns on $prog.1: $(cat "$build/man/$prog.warnings")"
	grep -q "^NAME" <<<"$text" && grep -q "^SYNOPSIS" <<<"$text" && grep -q "^SEE ALSO" <<<"$text" ||
		fail "$prog.1 lacks NAME, SYNOPSIS or SEE ALSO"
	bin="$build/bin/$prog"
	[ "$prog" = ivr-runtime ] && bin="$build/ivr-runtime/bin/ivr-runtime"
	version=$("$bin" --version)
	grep -qF "${version%% *}" <<<"$text" || fail "$prog.1 does not carry its version"
done
text=$(MANWIDTH=200 man -l "$build/man/ivrctl.1" 2>/dev/null)
help=$("$ivrctl" --help)
for c in init validate status plan deploy resume rollback promote approve scale history "db status" "db contract" "db restore" "db migrate"; do
	grep -q "ivrctl $c " <<<"$text" || fail "ivrctl.1's synopsis lacks '$c'"
done
grep -q "^EXIT STATUS" <<<"$text" && grep -q "^FILES" <<<"$text" || fail "ivrctl.1 lacks EXIT STATUS or FILES"

# complete WORDS...: what the completion offers for the last word.
complete_words() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _ivrctl; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$top/controller/ivrctl.bash-completion" "$@" | sort
}
[ "$(complete_words ivrctl "" | grep -v '^-' | tr '\n' ' ')" = "approve db deploy history init plan promote resume rollback scale status validate " ] ||
	fail "the commands offered: $(complete_words ivrctl "")"
[ "$(complete_words ivrctl db "" | tr '\n' ' ')" = "contract migrate restore status " ] ||
	fail "db's subcommands offered: $(complete_words ivrctl db "")"
# Each command of --help: the options its lines list, and those offered.
checked=0
while IFS= read -r cmd; do
	words=($cmd)
	want=$(awk -v c="ivrctl $cmd " '
		index($0, c) { on = 1; print; next }
		on && /^ +\[/ { print; next }
		{ on = 0 }' <<<"$help" | grep -o -- '--[a-z-]*' | sort -u | tr '\n' ' ')
	case "${words[0]}" in promote | init) plan=() ;; *) plan=(plan.yaml) ;; esac
	got=$(complete_words ivrctl "${words[@]}" "${plan[@]}" -- | tr '\n' ' ')
	[ "$got" = "$want" ] || fail "ivrctl $cmd: --help lists '$want', the completion offers '$got'"
	checked=$((checked + 1))
done < <(grep -oE "ivrctl (init|validate|status|plan|deploy|resume|rollback|promote|scale|history|db [a-z]+)" <<<"$help" | sed 's/^ivrctl //' | sort -u)
[ "$checked" -eq 14 ] || fail "checked $checked command lines of --help, not 14"
cd "$top/tests/data/plans" || exit 1
[ "$(complete_words ivrctl validate go)" = good.yaml ] || fail "no plan file offered: $(complete_words ivrctl validate go)"
[ "$(complete_words ivrctl deploy good.yaml --output "")" = "$(printf 'json\ntext')" ] || fail "--output's values"

[ "$failed" -eq 0 ] && echo "man pages: 3 rendered without warnings; completion: 10 commands, 4 db subcommands, the options of $checked command lines of --help"
exit "$failed"

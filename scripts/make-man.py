#!/usr/bin/env python3
"""Makes a program's man page from its own --help and --version.

One source: the text the program prints.  Its usage lines become the
SYNOPSIS, the rest the DESCRIPTION ("word  text" lines, and option lines
"  --flag ARG   text", as tagged paragraphs); the sections --help does not
carry (NAME's one line, more DESCRIPTION, EXIT STATUS, FILES, SEE ALSO)
come from an include file of "[SECTION]" headings followed by roff.

usage: make-man.py PROGRAM_BINARY INCLUDE_FILE OUTPUT_FILE
"""
import os
import re
import subprocess
import sys


def run(binary, flag):
    out = subprocess.run([binary, flag], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, check=True)
    return out.stdout


def esc(text):
    text = text.replace("\\", "\\e")
    text = re.sub(r"(?<![\w])-", r"\\-", text)
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def sections(path):
    """The include file's sections, in order: [(NAME, roff text)]."""
    out, name, lines = [], None, []
    for line in open(path):
        m = re.match(r"^\[([A-Z ]+)\]\s*$", line)
        if m:
            if name:
                out.append((name, "".join(lines).strip("\n")))
            name, lines = m.group(1), []
        elif name:
            lines.append(line)
    if name:
        out.append((name, "".join(lines).strip("\n")))
    return out


ITEM = re.compile(r"^(\s{0,4})(\S(?:\S| (?=\S))*?)\s{2,}(\S.*)$")


def body(lines):
    """Paragraphs of --help after the usage: plain text or tagged items."""
    out, para = [], []

    def flush():
        if para:
            out.append(".PP")
            out.extend(esc(l.strip()) for l in para)
            para.clear()

    item = False
    for line in lines:
        if not line.strip():
            flush()
            item = False
            continue
        m = ITEM.match(line)
        tag = m.group(2) if m else ""
        # an option ("--port N"), or a command word at the margin
        if m and len(tag) <= 28 and (tag.startswith("-") or (
                not m.group(1) and re.fullmatch(r"[a-z][a-z-]*", tag))):
            flush()
            out.append(".TP")
            out.append(".B " + esc(m.group(2)))
            out.append(esc(m.group(3)))
            item = True
        elif item and line.startswith(" "):
            out.append(esc(line.strip()))
        else:
            item = False
            para.append(line)
    flush()
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, include, output = sys.argv[1:]
    prog = os.path.basename(binary)
    version = run(binary, "--version").splitlines()[0]
    help_lines = run(binary, "--help").rstrip("\n").split("\n")
    usage, rest, in_usage = [], [], True
    for line in help_lines:
        if in_usage and line.strip():
            # "usage: " is 7 wide: the lines under it are indented so
            usage.append(re.sub(r"^usage:\s*|^ {7}", "", line.rstrip(), count=1))
        elif in_usage:
            in_usage = False
        else:
            rest.append(line)
    inc = sections(include)
    names = dict(inc)
    roff = ['.TH %s 1 "" "%s" "User Commands"' % (prog.upper(), esc(version)),
            ".SH NAME", names.get("NAME", prog), ".SH SYNOPSIS", ".nf"]
    roff += [esc(u) for u in usage]
    roff += [".fi", ".SH DESCRIPTION"]
    if "DESCRIPTION" in names:
        roff.append(names["DESCRIPTION"])
    roff += body(rest)
    for name, text in inc:
        if name not in ("NAME", "DESCRIPTION"):
            roff += [".SH " + name, text]
    with open(output, "w") as f:
        f.write("\n".join(roff) + "\n")


if __name__ == "__main__":
    main()

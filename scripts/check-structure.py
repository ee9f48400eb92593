#!/usr/bin/env python3
"""The controller's shape, checked: what docs/architecture.md promises.

- its module graph is at most MAX_FLOORS floors deep (main.c at the top),
  and so is its #include nesting, file by file;
- no file is longer than MAX_FILE_LINES lines;
- no function is longer than MAX_FUNCTION_LINES lines;
- only main (main.c and main_*.c, the command line), the run's events
  (deploy_events.c) and ivrctl init's dialogue (init_dialog.c) print.

A module is a header and the .c files that implement it: X.h, X.c and
X_*.c (deploy_batch.c is part of deploy); main.c, main_int.h and
main_*.c are main.  Module A sits on B when one of
A's files includes B.h.  Headers of common/ are the floor everyone stands
on and are not counted.  Prints the figures, exits 1 on a breach.
"""
import os
import re
import sys

MAX_FLOORS = 4
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 60
PRINTERS = {"main.c", "deploy_events.c", "init_dialog.c"}

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..")
ctl = os.path.join(root, "controller")
files = sorted(f for f in os.listdir(ctl) if f.endswith((".c", ".h")))
stems = {f[:-2] for f in files if f.endswith(".h")}


def module(name):
    stem = name[:-2]
    if stem == "main" or stem.startswith("main_"):
        return "main"
    for s in sorted(stems, key=len):
        if stem.startswith(s + "_"):
            return s
    return stem


deps = {}
problems = []
longest_fn = (0, "")
for f in files:
    text = open(os.path.join(ctl, f)).read()
    lines = text.split("\n")
    m = module(f)
    deps.setdefault(m, set())
    for inc in re.findall(r'^#include "([^"]+)"', text, re.M):
        if inc[:-2] in stems and module(inc) != m:
            deps[m].add(module(inc))
    n = len(lines) - 1
    if n > MAX_FILE_LINES:
        problems.append(f"controller/{f}: {n} lines (at most {MAX_FILE_LINES})")
    if f not in PRINTERS and not f.startswith("main_"):
        for i, line in enumerate(lines, 1):
            if re.search(r'\b(fprintf|printf|fputs|puts|putchar|fputc)\s*\(', line):
                problems.append(f"controller/{f}:{i}: prints ({line.strip()})")
    # Functions: a definition's name starts a line, its body ends at ^}.
    start = None
    for i, line in enumerate(lines):
        if start is None and re.match(r'^[a-z_][a-z0-9_]*\(', line):
            start, name = i, line.split("(")[0]
        elif start is not None and line == "}":
            length = i - start + 2  # with the return type's line
            if length > longest_fn[0]:
                longest_fn = (length, f"{f}:{name}")
            if length > MAX_FUNCTION_LINES:
                problems.append(f"controller/{f}:{start + 1}: {name} is "
                                f"{length} lines (at most {MAX_FUNCTION_LINES})")
            start = None

memo = {}


def floors(m, seen=()):
    if m in seen:
        problems.append("a cycle: " + " -> ".join(seen + (m,)))
        return 0, [m]
    if m not in memo:
        best = (0, [])
        for d in sorted(deps.get(m, ())):
            best = max(best, floors(d, seen + (m,)), key=lambda x: x[0])
        memo[m] = (best[0] + 1, [m] + best[1])
    return memo[m]


includes = {}
for f in files:
    text = open(os.path.join(ctl, f)).read()
    includes[f] = [i for i in re.findall(r'^#include "([^"]+)"', text, re.M)
                   if i in files]
nest_memo = {}


def nesting(f):
    if f not in nest_memo:
        nest_memo[f] = (1, [f])
        best = (0, [])
        for i in includes[f]:
            best = max(best, nesting(i), key=lambda x: x[0])
        nest_memo[f] = (best[0] + 1, [f] + best[1])
    return nest_memo[f]


nest, nest_chain = max((nesting(f) for f in files), key=lambda x: x[0])
if nest > MAX_FLOORS:
    problems.append(f"#include nests {nest} files deep (at most "
                    f"{MAX_FLOORS}): " + " -> ".join(nest_chain))
depth, chain = max((floors(m) for m in deps), key=lambda x: x[0])
if depth > MAX_FLOORS:
    problems.append(f"the module graph is {depth} floors deep "
                    f"(at most {MAX_FLOORS}): " + " -> ".join(chain))
biggest = max((len(open(os.path.join(ctl, f)).read().split("\n")) - 1, f)
              for f in files)
print(f"controller: {len(files)} files, {len(deps)} modules; "
      f"deepest chain {depth} floors: {' -> '.join(chain)}; "
      f"deepest #include nesting {nest}: {' -> '.join(nest_chain)}; "
      f"longest file {biggest[1]} ({biggest[0]} lines); "
      f"longest function {longest_fn[1]} ({longest_fn[0]} lines)")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)

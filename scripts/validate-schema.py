#!/usr/bin/python3
"""Validates YAML or JSON files against a JSON Schema (2020-12).

usage: validate-schema.py [--def NAME] [--lines] SCHEMA FILE...

--def NAME checks against the schema's $defs/NAME; --lines reads each
line of a file as one JSON document (ivrctl's event lines).  FILE "-" is
standard input.

Prints one line per problem, "FILE: at PATH: MESSAGE", and exits 1 when any
file does not validate, 2 when a file cannot be read.  Uses Debian's
python3-jsonschema and python3-yaml.
"""
import json
import sys

import jsonschema
import yaml


def documents(path, lines):
    """The documents in a file: one, or one per non-empty line."""
    f = sys.stdin if path == "-" else open(path, encoding="utf-8")
    with f:
        if not lines:
            return [(path, yaml.safe_load(f))]
        return [(f"{path}:{n}", json.loads(line))
                for n, line in enumerate(f, 1) if line.strip()]


def main(argv):
    args = argv[1:]
    name, lines = None, False
    while args and args[0].startswith("--"):
        if args[0] == "--def" and len(args) > 1:
            name, args = args[1], args[2:]
        elif args[0] == "--lines":
            lines, args = True, args[1:]
        else:
            break
    if len(args) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    if name is not None:
        schema = dict(schema, **{"$ref": "#/$defs/" + name})
        schema.pop("anyOf", None)
    validator = jsonschema.Draft202012Validator(schema)
    bad = 0
    for path in args[1:]:
        try:
            docs = documents(path, lines)
        except (OSError, ValueError, yaml.YAMLError) as e:
            print(f"{path}: cannot read: {e}", file=sys.stderr)
            return 2
        for where_doc, doc in docs:
            errors = sorted(validator.iter_errors(doc),
                            key=lambda e: list(e.path))
            for e in errors:
                where = "/".join(str(p) for p in e.path) or "(top)"
                print(f"{where_doc}: at {where}: {e.message}")
            bad += bool(errors)
        if not bad:
            print(f"{path}: valid ({len(docs)} document(s))")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

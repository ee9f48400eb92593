#!/usr/bin/python3
"""Checks a recorded ivr-agent conversation against the protocol schema.

usage: validate-agent-transcript.py SCHEMA TRANSCRIPT

TRANSCRIPT holds one JSON object per line: {"dir": "to"|"from", "msg": M}
where M is a message sent to or read from the agent (a string when the line
was not JSON).  Every message must fit the schema; request params must fit
$defs/methods/<method>/params and results $defs/methods/<method>/result
for every request the agent answered with a result.
Prints one line per problem and a summary; exits 1 on any problem.
"""
import json
import sys

import jsonschema


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    schema = json.load(open(argv[1], encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    registry_base = schema["$id"]

    def validator(pointer):
        sub = {"$ref": registry_base + "#" + pointer}
        return jsonschema.Draft202012Validator(
            sub, resolver=jsonschema.RefResolver(registry_base, schema))

    top = jsonschema.Draft202012Validator(schema)
    methods = schema["$defs"]["methods"]
    pending = {}
    problems = checked = 0

    def report(n, what, errors):
        nonlocal problems
        for e in errors:
            print(f"line {n}: {what}: {e.message}")
            problems += 1

    for n, line in enumerate(open(argv[2], encoding="utf-8"), 1):
        entry = json.loads(line)
        msg = entry["msg"]
        if not isinstance(msg, dict):
            continue  # a deliberately broken line sent by a test
        checked += 1
        report(n, "message", top.iter_errors(msg))
        if entry["dir"] == "to" and "method" in msg and "id" in msg:
            pending[json.dumps(msg["id"])] = (msg["method"],
                                              msg.get("params", {}))
            continue
        request = pending.pop(json.dumps(msg.get("id")), None)
        if request is not None and request[0] not in methods and "result" in msg:
            print(f"line {n}: {request[0]} answered, and the schema has no such method")
            problems += 1
            continue
        if request is None or "result" not in msg:
            continue  # refused requests may break the params schema
        method, params = request
        base = "/$defs/methods/" + method
        report(n, method + " params", validator(base + "/params").iter_errors(params))
        report(n, method + " result", validator(base + "/result").iter_errors(msg["result"]))
    print(f"agent transcript: {checked} messages checked, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

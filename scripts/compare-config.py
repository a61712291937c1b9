#!/usr/bin/env python3
"""Side-by-side check of `wharf config` against `docker compose config` (compose v2).

usage: compare-config.py WHARF_BINARY DIR [DIR...]
Runs both tools with `--format json` in each project directory, sorts every mapping, and prints
the differences as JSON paths. Exit 0 always: differences are information, listed in the notes.
"""
import json, subprocess, sys

def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip().splitlines()[-1:] if p.stderr else ["failed"]
    return json.loads(p.stdout), None

def diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a:
                out.append(f"{path}.{k}: only compose: {json.dumps(b[k])[:100]}")
            elif k not in b:
                out.append(f"{path}.{k}: only wharf: {json.dumps(a[k])[:100]}")
            else:
                diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: wharf {json.dumps(a)[:100]} != compose {json.dumps(b)[:100]}")

wharf = sys.argv[1]
total = 0
for d in sys.argv[2:]:
    w, werr = run([wharf, "config", "--format", "json"], d)
    c, cerr = run(["docker", "compose", "config", "--format", "json"], d)
    if w is None or c is None:
        print(f"{d}: wharf error {werr}, compose error {cerr}")
        continue
    out = []
    diff(w, c, "", out)
    total += len(out)
    print(f"{d}: {len(out)} difference(s)")
    for line in out:
        print("  " + line)
print(f"total differences: {total}")

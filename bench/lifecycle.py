#!/usr/bin/env python3
"""Cold `up -d`, no-op `up -d` and `down -v`: wharf against compose v2 and the raw-engine floor,
measured in the same run, tools alternating within each repetition (the order rotates, so no
tool always runs on a warmer engine). Prints medians and the ratios the lifecycle issue sets
targets for. Reports, never asserts.

usage: bench/lifecycle.py [--sizes 10,50] [--reps 3] [--image wharf-busybox:latest]
                          [--wharf target/release/wharf] [--shared ../shared/bench]

Stacks come from the shared generator (`genstack.py N IMAGE DIR --health`: three tiers, tier 0
healthchecked, tier 1 waits for it to be healthy); the floor is `floor.py`, the same work done
with raw API calls and no orchestration. Needs `scripts/setup.sh` and a release build.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd, cwd):
    t = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        tail = r.stderr.strip().splitlines()[-1:] or ["?"]
        print(f"  ! {' '.join(cmd[:3])}… failed: {tail[0]}", file=sys.stderr)
    return time.monotonic() - t


def run_tool(tool, argv, stack, project):
    up = timed(argv + ["-p", project, "up", "-d"], stack)
    noop = timed(argv + ["-p", project, "up", "-d"], stack)
    down = timed(argv + ["-p", project, "down", "-v"], stack)
    return up, noop, down


def run_floor(shared, n, image):
    out = subprocess.run(
        [sys.executable, os.path.join(shared, "floor.py"), str(n), image, "--health"],
        capture_output=True, text=True, check=True,
    ).stdout
    fields = dict(f.split("=") for f in out.split())
    return float(fields["up"]), 0.0, float(fields["down"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,50")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--image", default="wharf-busybox:latest")
    ap.add_argument("--wharf", default=os.path.join(ROOT, "target", "release", "wharf"))
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "bench"))
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.shared, "genstack.py")):
        sys.exit(f"genstack.py not found under {a.shared}: pass --shared DIR")
    if not os.path.exists(a.wharf):
        sys.exit(f"{a.wharf} not found: run `cargo build --release` first")
    tools = {"wharf": [a.wharf], "v2": ["docker", "compose"], "floor": None}
    print(f"{'n':>4} {'tool':<6} {'up':>7} {'noop':>7} {'down':>7}   (median seconds of {a.reps})")
    for n in [int(x) for x in a.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as stack:
            subprocess.run([sys.executable, os.path.join(a.shared, "genstack.py"), str(n), a.image, stack, "--health"],
                           check=True, stdout=subprocess.DEVNULL)
            results = {t: [] for t in tools}
            order = list(tools)
            for rep in range(a.reps):
                for tool in order:
                    project = f"wbench{os.getpid()}n{n}r{rep}{tool}"
                    if tool == "floor":
                        results[tool].append(run_floor(a.shared, n, a.image))
                    else:
                        results[tool].append(run_tool(tool, tools[tool], stack, project))
                order = order[1:] + order[:1]
            med = {t: [statistics.median(r[i] for r in results[t]) for i in range(3)] for t in tools}
            for t in tools:
                up, noop, down = med[t]
                print(f"{n:>4} {t:<6} {up:7.3f} {noop:7.3f} {down:7.3f}")
            w, v, f = med["wharf"], med["v2"], med["floor"]

            def ratio(name, x, y, target):
                r = x / y if y else float("inf")
                mark = "ok" if r <= target else "MISS"
                print(f"     {name:<22} {r:5.2f}x  (target <= {target:.2f}x)  {mark}")

            ratio("no-op up / v2", w[1], v[1], 0.04)
            ratio("cold up / v2", w[0], v[0], 0.95)
            ratio("cold up / floor", w[0], f[0], 1.05)
            ratio("down -v / v2", w[2], v[2], 1.00)
            ratio("down -v / floor", w[2], f[2], 1.05)


if __name__ == "__main__":
    main()

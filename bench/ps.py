#!/usr/bin/env python3
"""`ps` on a running stack: wharf vs compose v2, measured in the same run, alternating.
Reports, never asserts (target: wharf <= 0.3x compose v2 at 50 services).

usage: bench/ps.py [--n 50] [--reps 7] [--image wharf-busybox:latest] [--wharf target/release/wharf]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--image", default="wharf-busybox:latest")
    ap.add_argument("--wharf", default=os.path.join(ROOT, "target", "release", "wharf"))
    a = ap.parse_args()
    if not os.path.exists(a.wharf):
        sys.exit(f"{a.wharf} not found: run `cargo build --release` first")
    project = f"wbenchps{os.getpid()}"
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "compose.yaml"), "w") as f:
            f.write("services:\n")
            for i in range(a.n):
                f.write(f"  s{i}:\n    image: {a.image}\n    init: true\n    command: [sleep, '600']\n"
                        f"    ports: ['127.0.0.1::80']\n")
        subprocess.run([a.wharf, "-p", project, "--progress", "quiet", "up", "-d"], cwd=d, check=True)
        try:
            times = {"wharf": [], "v2": []}
            cmds = {"wharf": [a.wharf, "-p", project, "ps"], "v2": ["docker", "compose", "-p", project, "ps"]}
            for _ in range(a.reps):
                for tool, cmd in cmds.items():
                    t = time.monotonic()
                    out = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
                    times[tool].append(time.monotonic() - t)
                    rows = len(out.stdout.strip().splitlines()) - 1
                    if rows != a.n:
                        print(f"  ! {tool} listed {rows} containers, expected {a.n}", file=sys.stderr)
            w, v = statistics.median(times["wharf"]), statistics.median(times["v2"])
            print(f"ps of {a.n} running services, median of {a.reps}: wharf {w * 1000:.1f} ms, compose v2 {v * 1000:.1f} ms")
            r = w / v
            print(f"  wharf / v2  {r:.2f}x  (target <= 0.30x)  {'ok' if r <= 0.30 else 'MISS'}")
        finally:
            subprocess.run([a.wharf, "-p", project, "--progress", "quiet", "down", "-t", "0"], cwd=d)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""How many engine calls in flight this engine tolerates: cold `wharf up -d` of a generated
N-service stack (the shared generator's three tiers, tier 0 healthchecked) with `--parallel`
1, 2, 4, 8, 16 and unbounded (-1), bounds rotating within each repetition, then `down -v`.
Prints the median cold `up` per bound and its ratio to unbounded. Reports, never asserts.

usage: bench/parallel.py [--services 50] [--reps 3] [--bounds 1,2,4,8,16,-1]
                         [--wharf target/release/wharf] [--shared ../shared/bench]
Needs `scripts/setup.sh` and a release build.
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
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600)
    if r.returncode != 0:
        print(f"  ! {' '.join(cmd[:6])}… failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}", file=sys.stderr)
    return time.monotonic() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--bounds", default="1,2,4,8,16,-1")
    ap.add_argument("--image", default="wharf-busybox:latest")
    ap.add_argument("--wharf", default=os.path.join(ROOT, "target", "release", "wharf"))
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "bench"))
    a = ap.parse_args()
    if not os.path.exists(a.wharf):
        sys.exit(f"{a.wharf} not found: run `cargo build --release` first")
    bounds = [int(b) for b in a.bounds.split(",")]
    times = {b: [] for b in bounds}
    with tempfile.TemporaryDirectory() as stack:
        subprocess.run([sys.executable, os.path.join(a.shared, "genstack.py"), str(a.services), a.image, stack,
                        "--health"], check=True, stdout=subprocess.DEVNULL)
        order = list(bounds)
        for rep in range(a.reps):
            for b in order:
                project = f"wpar{os.getpid()}r{rep}p{b if b > 0 else 'u'}"
                base = [a.wharf, "--progress", "quiet", "-p", project]
                try:
                    times[b].append(timed(base + ["--parallel", str(b), "up", "-d"], stack))
                finally:
                    timed(base + ["down", "-v", "-t", "0"], stack)
            order = order[1:] + order[:1]
    unbounded = statistics.median(times[-1]) if -1 in times else None
    print(f"cold `up -d` of {a.services} services by --parallel (median of {a.reps}):")
    for b in bounds:
        m = statistics.median(times[b])
        ratio = f"   {m / unbounded:.2f}x unbounded" if unbounded else ""
        print(f"  {('unbounded' if b < 0 else str(b)):>9}  {m:7.2f} s{ratio}")


if __name__ == "__main__":
    main()

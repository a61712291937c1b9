#!/usr/bin/env python3
"""Benchmark: `config` on a generated N-service project, wharf against compose v2, same run.

usage: bench/config.py [N] [REPS]     (defaults: 1000 services, 5 alternating runs)
Prints the median wall time and peak memory (max RSS) of each tool and wharf's ratios.
The stack comes from ../shared/bench/genstack.py. Needs a release build (`cargo build --release`)
and compose v2 as `docker compose`.
"""
import os, statistics, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
gen = os.path.join(root, "..", "shared", "bench", "genstack.py")
wharf = os.path.join(root, "target", "release", "wharf")
if not os.path.exists(wharf):
    sys.exit("build wharf first: cargo build --release")

def measure(cmd, cwd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed: {p.stderr.read().decode()[-300:]}")
    return wall, usage.ru_maxrss / 1024.0  # MiB

with tempfile.TemporaryDirectory() as d:
    subprocess.run([sys.executable, gen, str(n), "wharf-busybox:latest", d, "--health"], check=True)
    tools = {"wharf": [wharf, "config"], "compose-v2": ["docker", "compose", "config"]}
    results = {k: ([], []) for k in tools}
    for _ in range(reps):
        for name, cmd in tools.items():  # alternate the tools run by run
            w, m = measure(cmd, d)
            results[name][0].append(w)
            results[name][1].append(m)
    med = {k: (statistics.median(v[0]), max(v[1])) for k, v in results.items()}
    for k, (w, m) in med.items():
        print(f"{k:<11} n={n} config: median {w * 1000:8.1f} ms   peak {m:7.1f} MiB")
    (ww, wm), (cw, cm) = med["wharf"], med["compose-v2"]
    print(f"ratio wharf/compose-v2: time {ww / cw:.3f}x   memory {wm / cm:.3f}x"
          f"   (targets: time <= 0.05x, memory <= 0.30x)")

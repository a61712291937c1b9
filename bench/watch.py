#!/usr/bin/env python3
"""Watch: save-to-visible latency of a `sync` rule, wharf vs compose v2, in one run, plus the
memory of each watcher on a tree of 20,000 files. Reports, never asserts.

The service runs a loop that reads the watched file every millisecond (shell builtins only) and
prints its content when it changes; the engine timestamps each printed line. Latency = that
timestamp minus the moment the host wrote the file (same kernel clock). Edits are spaced so that
each one is a batch of its own for both tools (compose waits for a 500 ms quiet period).
Targets: wharf p50 <= 100 ms and p99 <= 250 ms.

usage: bench/watch.py [--edits 100] [--files 20000] [--wharf target/release/wharf] [--only wharf|compose]
"""
import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMPOSE = """services:
  app:
    build: ./ctx
    init: true
    command: ["sh", "-c", "last=; while :; do read -r v < /app/src/probe.txt; if [ \\"$$v\\" != \\"$$last\\" ]; then echo \\"$$v\\"; last=$$v; fi; usleep 1000; done"]
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app/src
"""


def make_tree(d, files):
    os.makedirs(os.path.join(d, "ctx"), exist_ok=True)
    with open(os.path.join(d, "ctx", "Dockerfile"), "w") as f:
        f.write("FROM wharf-busybox:latest\nRUN mkdir -p /app/src && echo start > /app/src/probe.txt\n")
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write(COMPOSE)
    for i in range(files):
        sub = os.path.join(d, "src", f"d{i // 100:03}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"f{i:05}.txt"), "w") as f:
            f.write("x\n")
    with open(os.path.join(d, "src", "probe.txt"), "w") as f:
        f.write("start\n")


def parse_ts(ts):
    # 2026-11-23T23:10:24.123456789Z -> seconds since the epoch
    base, frac = ts.rstrip("Z").split(".")
    t = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return t.timestamp() + float("0." + frac)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(tool, cmd, d, project, edits):
    container = f"{project}-app-1"
    log = open(os.path.join(d, f"{tool}.log"), "w")
    proc = subprocess.Popen(cmd, cwd=d, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    seen = {}
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            text = open(os.path.join(d, f"{tool}.log")).read()
            if "Watch enabled" in text or "watch enabled" in text.lower():
                break
            if proc.poll() is not None:
                sys.exit(f"{tool} watch ended early:\n{text[-3000:]}")
            time.sleep(0.1)
        else:
            sys.exit(f"{tool} watch did not start")
        time.sleep(1.0)
        rss_start = rss_kib(proc.pid)
        follower = subprocess.Popen(["docker", "logs", "-f", "-t", "--since", "0s", container],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def follow():
            for line in follower.stdout:
                parts = line.strip().split(" ", 1)
                if len(parts) == 2:
                    seen[parts[1]] = parse_ts(parts[0])

        threading.Thread(target=follow, daemon=True).start()
        lat = []
        probe = os.path.join(d, "src", "probe.txt")
        for i in range(edits):
            value = f"{tool}-edit-{i}"
            t0 = time.time()
            with open(probe, "w") as f:
                f.write(value + "\n")
            limit = t0 + 10
            while value not in seen and time.time() < limit:
                time.sleep(0.002)
            if value in seen:
                lat.append(max(0.0, seen[value] - t0))
            # A quiet gap longer than compose's debounce, so each edit is its own batch.
            time.sleep(0.7 if tool == "compose" else 0.15)
        rss_end = rss_kib(proc.pid)
        follower.kill()
        return lat, rss_start, rss_end
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--wharf", default=os.path.join(ROOT, "target/release/wharf"))
    ap.add_argument("--only", choices=["wharf", "compose"])
    a = ap.parse_args()
    if not os.path.exists(a.wharf):
        sys.exit(f"{a.wharf} missing: cargo build --release")
    d = tempfile.mkdtemp(prefix="wharf-bench-watch-")
    base = f"wwatch{os.getpid()}"
    tools = {
        "wharf": (f"{base}w", lambda p: [a.wharf, "-p", p, "--progress", "plain", "watch"]),
        "compose": (f"{base}c", lambda p: ["docker", "compose", "-p", p, "watch"]),
    }
    results = {}
    try:
        make_tree(d, a.files)
        for tool, (project, cmd) in tools.items():
            if a.only and tool != a.only:
                continue
            results[tool] = measure(tool, cmd(project), d, project, a.edits)
            print(f"{tool} done", file=sys.stderr)
    finally:
        for tool, (project, _) in tools.items():
            subprocess.run(["docker", "compose", "-p", project, "down", "-t", "0"], cwd=d, capture_output=True)
            subprocess.run(["docker", "rmi", "-f", f"{project}-app"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)
    print(f"tree: {a.files} files in {a.files // 100} directories; {a.edits} edits of one watched file")
    print(f"{'':8} {'n':>4} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'RSS start':>10} {'RSS end':>9}")
    for tool, (lat, r0, r1) in results.items():
        if not lat:
            print(f"{tool:8} no edit arrived")
            continue
        ms = [x * 1000 for x in lat]
        print(f"{tool:8} {len(ms):4} {pct(ms, 50):8.1f} {pct(ms, 90):8.1f} {pct(ms, 99):8.1f} {max(ms):8.1f} "
              f"{r0 / 1024:8.1f}MB {r1 / 1024:7.1f}MB")
    if "wharf" in results and "compose" in results and results["wharf"][0] and results["compose"][0]:
        w, c = results["wharf"][0], results["compose"][0]
        print(f"p50 ratio wharf/compose v2: {statistics.median(w) / statistics.median(c):.2f}x")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Readiness: how fast a dependent starts once its dependency is healthy. A chain of five
services, each `service_healthy` on the one before (healthcheck interval 1 s), brought up cold
with `up -d`; tools alternate within each repetition. Reports, never asserts:

- cold `up -d` of the chain: wharf vs compose v2 (target <= 0.95x);
- the same chain with `start_interval: 100ms` + `start_period` under wharf (emulated on API
  1.41 through exec probes; compose v2 refuses such a file on this engine) vs compose v2 on the
  chain without it (target <= 0.40x);
- latency from the engine's `health_status: healthy` event of a dependency to wharf's start
  request of the dependent (from `--progress json`), p50 and max (target p50 <= 20 ms); and,
  for both tools, to the dependent's engine `start` event (includes the start itself).

usage: bench/readiness.py [--reps 3] [--image wharf-busybox:latest] [--wharf target/release/wharf]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINKS = 5


def chain(image, start_interval):
    s = "services:\n"
    for i in range(LINKS):
        s += f"""  s{i}:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 2s
      retries: 10
"""
        if start_interval:
            s += "      start_period: 30s\n      start_interval: 100ms\n"
        if i > 0:
            s += f"    depends_on:\n      s{i - 1}: {{condition: service_healthy}}\n"
    return s


def events(project, since, until):
    out = subprocess.run(
        ["docker", "events", "--since", f"{since:.6f}", "--until", f"{until:.6f}",
         "--filter", f"label=com.docker.compose.project={project}", "--format", "{{json .}}"],
        capture_output=True, text=True).stdout
    evs = []
    for line in out.splitlines():
        e = json.loads(line)
        name = e.get("Actor", {}).get("Attributes", {}).get("com.docker.compose.service")
        evs.append((e.get("timeNano", 0) / 1e9, e.get("Action", e.get("status", "")), name))
    return evs


def run(argv, stack, file, project, json_progress=False):
    cmd = argv + ["-f", file, "-p", project]
    t0 = time.time()
    up = subprocess.run(cmd + (["--progress", "json"] if json_progress else []) + ["up", "-d"],
                        cwd=stack, capture_output=True, text=True)
    t1 = time.time()
    if up.returncode != 0:
        print(f"  ! {' '.join(argv)} up failed: {up.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    evs = events(project, t0 - 1, t1 + 0.5)
    subprocess.run(cmd + ["down", "-t", "0"], cwd=stack, capture_output=True)
    return t1 - t0, up.stderr, evs


def healthy_to_start(evs):
    healthy = {n: t for t, a, n in evs if a.startswith("health_status: healthy")}
    started = {n: t for t, a, n in evs if a == "start"}
    return [started[f"s{i}"] - healthy[f"s{i - 1}"] for i in range(1, LINKS)
            if f"s{i}" in started and f"s{i - 1}" in healthy]


def request_latency(stderr, evs, project):
    healthy = {n: t for t, a, n in evs if a.startswith("health_status: healthy")}
    starting = {}
    for line in stderr.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("kind") == "Container" and e.get("state") == "Starting":
            svc = e["name"][len(project) + 1:].rsplit("-", 1)[0]
            starting[svc] = e["time_ms"] / 1000
    return [starting[f"s{i}"] - healthy[f"s{i - 1}"] for i in range(1, LINKS)
            if f"s{i}" in starting and f"s{i - 1}" in healthy]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--image", default="wharf-busybox:latest")
    ap.add_argument("--wharf", default=os.path.join(ROOT, "target", "release", "wharf"))
    a = ap.parse_args()
    if not os.path.exists(a.wharf):
        sys.exit(f"{a.wharf} not found: run `cargo build --release` first")
    times = {"wharf": [], "v2": [], "wharf+start_interval": []}
    req, to_start = [], {"wharf": [], "v2": []}
    with tempfile.TemporaryDirectory() as stack:
        with open(os.path.join(stack, "plain.yaml"), "w") as f:
            f.write(chain(a.image, False))
        with open(os.path.join(stack, "fast.yaml"), "w") as f:
            f.write(chain(a.image, True))
        order = list(times)
        for rep in range(a.reps):
            for tool in order:
                project = f"wready{os.getpid()}r{rep}{tool.replace('+', '').replace('_', '')}"
                if tool == "v2":
                    t, _, evs = run(["docker", "compose"], stack, "plain.yaml", project)
                    to_start["v2"] += healthy_to_start(evs)
                elif tool == "wharf":
                    t, err, evs = run([a.wharf], stack, "plain.yaml", project, json_progress=True)
                    req.extend(request_latency(err, evs, project))
                    to_start["wharf"] += healthy_to_start(evs)
                else:
                    t, _, _ = run([a.wharf], stack, "fast.yaml", project)
                times[tool].append(t)
            order = order[1:] + order[:1]
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"chain of {LINKS}, service_healthy links, interval 1s; medians of {a.reps}")
    for k, v in med.items():
        print(f"  {k:<22} {v:6.3f} s")
    r1 = med["wharf"] / med["v2"]
    r2 = med["wharf+start_interval"] / med["v2"]
    print(f"  cold up / v2                        {r1:5.2f}x  (target <= 0.95x)  {'ok' if r1 <= 0.95 else 'MISS'}")
    print(f"  start_interval 100ms / v2 (without) {r2:5.2f}x  (target <= 0.40x)  {'ok' if r2 <= 0.40 else 'MISS'}")
    if req:
        ms = sorted(x * 1000 for x in req)
        p50 = statistics.median(ms)
        print(f"  healthy event -> wharf start request: p50 {p50:.1f} ms, max {ms[-1]:.1f} ms over {len(ms)} links"
              " (wharf stamps in whole ms)"
              f"  (target p50 <= 20 ms)  {'ok' if p50 <= 20 else 'MISS'}")
    for tool, xs in to_start.items():
        if xs:
            ms = sorted(x * 1000 for x in xs)
            print(f"  healthy event -> dependent's start event, {tool:<5}: p50 {statistics.median(ms):.0f} ms,"
                  f" max {ms[-1]:.0f} ms")
    if to_start.get("wharf") and to_start.get("v2"):
        r3 = statistics.median(to_start["wharf"]) / statistics.median(to_start["v2"])
        print(f"  healthy -> started gap / v2        {r3:5.2f}x  (target <= 0.25x)  {'ok' if r3 <= 0.25 else 'MISS'}"
              " (the start call itself is the floor: see WHARF_TRACE)")


if __name__ == "__main__":
    main()

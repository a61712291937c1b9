#!/usr/bin/env python3
"""Build: a context of 10,000 small files in 100 directories, half of them excluded by
`.dockerignore` (`**/*.tmp`), built by `wharf build` and by compose v2's `build` on the same
context, tools alternating within each repetition. Reports medians and ratios, never asserts:

- cold build (`--no-cache`): the context is walked, filtered, sent and copied into a layer;
- cached rebuild: nothing changed, so the time is context preparation + transfer + cache checks;
- wharf's build with a context of the same files and no exclusions, for scale.

Compose v2 builds through BuildKit here (the engine's embedded BuildKit over a session); wharf
uses the classic builder (see the README). `DOCKER_BUILDKIT=0` compose runs are reported too.
Target: wharf <= 1.0x compose v2.

usage: bench/build.py [--reps 3] [--files 10000] [--wharf target/release/wharf]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_context(d, files):
    per_dir = 100
    for i in range(files):
        sub = os.path.join(d, "ctx", f"d{i // per_dir:03}")
        os.makedirs(sub, exist_ok=True)
        ext = "tmp" if i % 2 else "txt"
        with open(os.path.join(sub, f"f{i:05}.{ext}"), "w") as f:
            f.write(f"file {i}\n" * 4)
    with open(os.path.join(d, "ctx", ".dockerignore"), "w") as f:
        f.write("**/*.tmp\n")
    with open(os.path.join(d, "ctx", "Dockerfile"), "w") as f:
        f.write("FROM wharf-busybox:latest\nCOPY . /ctx\nRUN find /ctx -type f | wc -l > /count\n")
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write("services:\n  app:\n    build: ./ctx\n")


def timed(cmd, cwd, env=None):
    t = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    dt = time.monotonic() - t
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--wharf", default=os.path.join(ROOT, "target/release/wharf"))
    a = ap.parse_args()
    if not os.path.exists(a.wharf):
        sys.exit(f"{a.wharf} missing: cargo build --release")
    d = tempfile.mkdtemp(prefix="wharf-bench-build-")
    tag = f"wbuild{os.getpid()}"
    projects = {"wharf": f"{tag}w", "compose": f"{tag}c", "classic": f"{tag}k"}
    try:
        make_context(d, a.files)
        env_classic = dict(os.environ, DOCKER_BUILDKIT="0")
        runs = {
            "wharf": lambda extra: [a.wharf, "-p", projects["wharf"], "--progress", "quiet", "build", "-q"] + extra,
            "compose": lambda extra: ["docker", "compose", "-p", projects["compose"], "build", "-q"] + extra,
            "classic": lambda extra: ["docker", "compose", "-p", projects["classic"], "build", "-q"] + extra,
        }
        res = {(k, m): [] for k in runs for m in ("cold", "cached")}
        for rep in range(a.reps):
            for tool, mk in runs.items():
                env = env_classic if tool == "classic" else None
                res[(tool, "cold")].append(timed(mk(["--no-cache"]), d, env))
                res[(tool, "cached")].append(timed(mk([]), d, env))
            print(f"rep {rep + 1}/{a.reps} done", file=sys.stderr)
        count = subprocess.run(["docker", "run", "--rm", f"{projects['wharf']}-app", "cat", "/count"],
                               capture_output=True, text=True).stdout.strip()
        # Scale: the same files with no exclusions (wharf only).
        os.remove(os.path.join(d, "ctx", ".dockerignore"))
        full = statistics.median(
            timed(runs["wharf"](["--no-cache"]), d) for _ in range(a.reps))
        med = {k: statistics.median(v) for k, v in res.items()}
        print(f"context: {a.files} files in {a.files // 100} directories, half excluded by .dockerignore "
              f"(files in the image: {count}, Dockerfile and .dockerignore included)")
        print(f"{'':10} {'wharf':>8} {'compose v2':>11} {'v2 classic':>11}   wharf/v2  wharf/v2-classic")
        for m in ("cold", "cached"):
            w, c, k = med[("wharf", m)], med[("compose", m)], med[("classic", m)]
            print(f"{m:10} {w:8.3f} {c:11.3f} {k:11.3f}   {w / c:7.2f}x  {w / k:7.2f}x")
        print(f"wharf cold build with nothing excluded ({a.files} files): {full:.3f} s")
    finally:
        for p in projects.values():
            subprocess.run(["docker", "rmi", "-f", f"{p}-app"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()

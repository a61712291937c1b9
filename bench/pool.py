#!/usr/bin/env python3
"""Warm pools: how soon a test command runs against a ready stack. The stack has three
services: `db` with a healthcheck (interval 1 s) and a prepare step (seed data), `api`
waiting for `db` to be healthy, `web` after `api`. Reports, never asserts; all in one run:

- time from launching the tool until the test command runs, median and p99 over --runs:
  - `wharf test --pool --no-refill -- CMD` with a ready copy (the pool is filled before
    each run, untimed) (target <= 100 ms, p99 <= 200 ms, >= 10x faster than cold);
  - `wharf test -- sh -c 'SEED; CMD'` cold (the prepare step inside the command);
  - `docker compose up -d --wait`, then `exec db SEED`, then CMD (and `down`, after the mark);
- a suite of --runs test runs in a row (whole runs, teardown included): `wharf test --pool`
  with a pool of 3 refilled in the background, against as many cold `wharf test` runs
  (target <= 0.3x), with how busy the machine's CPUs were during each (the pooled suite is
  bound by the engine's CPU work per copy when it nears 100%).

usage: bench/pool.py [--runs 20] [--image wharf-busybox:latest] [--wharf target/release/wharf] [--suite-only]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = "docker exec $COMPOSE_PROJECT_NAME-db-1 sh -c 'echo seeded > /seed'"


def stack(image):
    return f"""services:
  db:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www; echo hi > /www/index.html; httpd -f -p 80 -h /www & wait"]
    ports: ["80"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 1s
      retries: 30
  api:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
    depends_on:
      db: {{condition: service_healthy}}
  web:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
    depends_on: [api]
x-wharf:
  pool:
    prepare: [db, sh, -c, "echo seeded > /seed"]
"""


def mark_cmd(path):
    return f"date +%s.%N > {path}"


def read_mark(path):
    with open(path) as f:
        return float(f.read().strip())


def cpu_ticks():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


def busy(since):
    """Percent of the machine's CPU time busy since `since` (all cores)."""
    b, t = cpu_ticks()
    return 100.0 * (b - since[0]) / max(1, t - since[1])


def q(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


def show(name, values):
    print(f"  {name:<34} median {statistics.median(values) * 1000:8.0f} ms   p99 {q(values, 0.99) * 1000:8.0f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--image", default="wharf-busybox:latest")
    ap.add_argument("--wharf", default=os.path.join(ROOT, "target/release/wharf"))
    ap.add_argument("--suite-only", action="store_true", help="only the suite of runs in a row")
    a = ap.parse_args()
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        sys.exit("docker compose v2 is missing: run scripts/setup.sh")
    d = tempfile.mkdtemp(prefix="wharf-bench-pool-")
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write(stack(a.image))
    pool = f"benchpool{os.getpid()}"
    mark = os.path.join(d, "mark")
    wharf = [a.wharf, "--progress", "quiet", "-p", pool]

    def sh(argv, **kw):
        return subprocess.run(argv, cwd=d, capture_output=True, text=True, **kw)

    def timed_to_mark(argv):
        if os.path.exists(mark):
            os.remove(mark)
        t0 = time.time()
        r = sh(argv)
        t1 = time.time()
        if r.returncode != 0 or not os.path.exists(mark):
            print(f"  ! {' '.join(argv[:6])}… failed: {r.stderr.strip().splitlines()[-3:]}", file=sys.stderr)
            return None, t1 - t0, r.stderr
        return read_mark(mark) - t0, t1 - t0, r.stderr

    pooled, cold, compose = [], [], []
    try:
        print(f"warm pools: {a.runs} runs each, image {a.image}")
        for i in range(0 if a.suite_only else a.runs):
            r = sh(wharf + ["pool", "fill", "--size", "1"])
            if r.returncode != 0:
                sys.exit(f"pool fill failed: {r.stderr}")
            to_cmd, _, err = timed_to_mark(wharf + ["test", "--pool", "--no-refill", "--", "sh", "-c", mark_cmd(mark)])
            if to_cmd is not None and "claimed " in err:
                pooled.append(to_cmd)
            elif to_cmd is not None:
                print("  ! a pooled run started cold", file=sys.stderr)
            to_cmd, _, _ = timed_to_mark(wharf + ["test", "--", "sh", "-c", f"{SEED} && {mark_cmd(mark)}"])
            if to_cmd is not None:
                cold.append(to_cmd)
            project = f"benchpoolc{os.getpid()}"
            t0 = time.time()
            up = sh(["docker", "compose", "-p", project, "up", "-d", "--wait"])
            seed = sh(["docker", "compose", "-p", project, "exec", "-T", "db", "sh", "-c", "echo seeded > /seed"])
            if up.returncode == 0 and seed.returncode == 0:
                sh(["sh", "-c", mark_cmd(mark)])
                compose.append(read_mark(mark) - t0)
            else:
                print(f"  ! compose failed: {up.stderr.strip().splitlines()[-2:]}", file=sys.stderr)
            sh(["docker", "compose", "-p", project, "down", "-v", "-t", "0"])
        if not a.suite_only:
            print("launch -> test command running:")
            show("wharf test --pool (ready copy)", pooled)
            show("wharf test (cold)", cold)
            show("docker compose up --wait + exec", compose)
        if pooled and cold and compose:
            print(f"  ratio pooled/cold    {statistics.median(pooled) / statistics.median(cold):.3f}x"
                  f"   (cold is {statistics.median(cold) / statistics.median(pooled):.1f}x slower)")
            print(f"  ratio pooled/compose {statistics.median(pooled) / statistics.median(compose):.3f}x")

        sh(wharf + ["pool", "rm"])
        r = sh(wharf + ["pool", "fill", "--size", "3"])
        if r.returncode != 0:
            sys.exit(f"pool fill failed: {r.stderr}")
        t0, cpu0 = time.time(), cpu_ticks()
        claimed = 0
        for i in range(a.runs):
            r = sh(wharf + ["test", "--pool", "--", "true"])
            claimed += "claimed " in r.stderr
        suite_pool = time.time() - t0
        busy_pool = busy(cpu0)
        t0, cpu0 = time.time(), cpu_ticks()
        for i in range(a.runs):
            sh(wharf + ["test", "--", "sh", "-c", SEED])
        suite_cold = time.time() - t0
        busy_cold = busy(cpu0)
        print(f"suite of {a.runs} runs in a row:")
        print(f"  wharf test --pool (size 3)         {suite_pool:7.1f} s   ({claimed} of {a.runs} from the pool;"
              f" CPU {busy_pool:.0f}% busy)")
        print(f"  wharf test (cold)                  {suite_cold:7.1f} s   (CPU {busy_cold:.0f}% busy)")
        print(f"  ratio pooled/cold {suite_pool / suite_cold:.3f}x")
    finally:
        # Wait for background refills, then remove the pool.
        for _ in range(600):
            fills = sh(["pgrep", "-f", f"-p {pool} --progress quiet pool fill"]).stdout.split()
            if not fills:
                break
            time.sleep(0.2)
        sh(wharf + ["pool", "rm"])


if __name__ == "__main__":
    main()

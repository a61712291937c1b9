#!/usr/bin/env python3
"""`wharf stack deploy` against `docker stack deploy --detach=false`: a generated stack of N
services deployed to convergence, then redeployed with nothing changed, on a private
single-node swarm this script starts (swarm mode never touches the machine's engine) and
removes afterwards. Tools alternate within each repetition. Prints medians and ratios; reports,
never asserts.

usage: bench/stack.py [--services 20] [--reps 3] [--wharf target/release/wharf]

Needs root (a network namespace for the private dockerd), `scripts/setup.sh` (the image) and a
release build. The docker CLI polls every 200 ms and waits out a 5 s monitor period per service;
wharf waits 1 s of running for services without a healthcheck, none for those with one.
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
IMAGE = "wharf-busybox:latest"


def sh(*cmd, check=True, env=None, **kw):
    return subprocess.run(cmd, check=check, env=env, capture_output=True, text=True, timeout=600, **kw)


class Engine:
    """A private dockerd in a network namespace of its own (see tests/common/private_engine.rs)."""

    def __init__(self):
        self.dir = f"/tmp/wsb-{os.getpid()}"
        self.ns = f"wsb-{os.getpid()}"
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        with open(f"{self.dir}/daemon.json", "w") as f:
            f.write("{}")
        sh("ip", "netns", "add", self.ns)
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
        driver = sh("docker", "info", "--format", "{{.Driver}}").stdout.strip() or "vfs"
        self.log = open(f"{self.dir}/dockerd.log", "w")
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.ns}", "dockerd", "--data-root", f"{self.dir}/root",
             "--exec-root", f"{self.dir}/exec", "--pidfile", f"{self.dir}/pid", "-H", self.host,
             "--bridge", "none", "--iptables=false", "--ip-masq=false", "--storage-driver", driver,
             "--default-address-pool", "base=10.198.0.0/16,size=24", "--config-file", f"{self.dir}/daemon.json"],
            stdout=self.log, stderr=self.log)
        self.env = dict(os.environ, DOCKER_HOST=self.host)
        deadline = time.monotonic() + 60
        while sh("docker", "version", check=False, env=self.env).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit("the private engine did not answer within 60 s")
            time.sleep(0.2)  # polling the new engine's socket
        save = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
        subprocess.run(["docker", "load", "-q"], stdin=save.stdout, env=self.env, check=True, capture_output=True)
        sh("docker", "swarm", "init", "--advertise-addr", "127.0.0.1", env=self.env)

    @property
    def host(self):
        return f"unix://{getattr(self, 'dir', '')}/sock"

    def close(self):
        subprocess.run(["docker", "swarm", "leave", "--force"], env=self.env, capture_output=True)
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        subprocess.run(["pkill", "-KILL", "-f", self.dir], capture_output=True)
        mounts = [l.split()[1] for l in open("/proc/mounts") if l.split()[1].startswith(self.dir)]
        for m in mounts:
            subprocess.run(["umount", "-l", m], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def stack_file(n):
    """N services in chains of five; every fifth has a healthcheck (the format the docker CLI
    reads: no depends_on, which it would ignore anyway)."""
    s = 'version: "3.8"\nservices:\n'
    for i in range(n):
        s += f"  s{i}:\n    image: {IMAGE}\n"
        s += "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 100000 & wait\"]\n"
        if i % 5 == 0:
            s += "    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 1s\n"
    return s


def timed(cmd, cwd, env):
    t = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=900)
    if r.returncode != 0:
        print(f"  ! {' '.join(cmd[:4])}… failed: {r.stderr.strip()[-300:]}", file=sys.stderr)
    return time.monotonic() - t


def remove(name, env):
    subprocess.run(["docker", "stack", "rm", name], env=env, capture_output=True)
    deadline = time.monotonic() + 120
    while sh("docker", "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={name}", env=env).stdout.strip():
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)  # polling for the tasks' containers to go
    while sh("docker", "network", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={name}", env=env).stdout.strip():
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--wharf", default=os.path.join(ROOT, "target", "release", "wharf"))
    a = ap.parse_args()
    wharf = os.path.abspath(a.wharf)
    engine = Engine()
    results = {"wharf": ([], []), "docker": ([], [])}
    try:
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "compose.yaml"), "w") as f:
                f.write(stack_file(a.services))
            for rep in range(a.reps):
                order = ["wharf", "docker"] if rep % 2 == 0 else ["docker", "wharf"]
                for tool in order:
                    name = f"b{tool[0]}{rep}"
                    if tool == "wharf":
                        cmd = [wharf, "--progress", "quiet", "stack", "deploy", "-c", "compose.yaml", name]
                    else:
                        cmd = ["docker", "stack", "deploy", "--detach=false", "-q", "-c", "compose.yaml", name]
                    cold = timed(cmd, d, engine.env)
                    noop = timed(cmd, d, engine.env)
                    results[tool][0].append(cold)
                    results[tool][1].append(noop)
                    print(f"rep {rep} {tool:6} deploy {cold:6.2f} s  no-op {noop:6.2f} s", flush=True)
                    remove(name, engine.env)
    finally:
        engine.close()
    med = {t: (statistics.median(c), statistics.median(n)) for t, (c, n) in results.items()}
    print(f"\n{a.services} services, medians of {a.reps}:")
    print(f"  deploy to convergence: wharf {med['wharf'][0]:.2f} s, docker stack deploy {med['docker'][0]:.2f} s "
          f"→ {med['wharf'][0] / med['docker'][0]:.2f}× (goal ≤ 0.5×)")
    print(f"  no-op redeploy:        wharf {med['wharf'][1]:.2f} s, docker stack deploy {med['docker'][1]:.2f} s "
          f"→ {med['wharf'][1] / med['docker'][1]:.2f}× (goal ≤ 0.1×)")


if __name__ == "__main__":
    main()

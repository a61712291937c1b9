#!/usr/bin/env python3
"""Build: a context of 10,000 small files in 100 directories, half of them excluded by
`.dockerignore` (`**/*.tmp`), built by `wharf build` and by compose v2's `build` on the same
context, tools alternating within each repetition. Reports medians and ratios, never asserts:

- cold build (`--no-cache`): the context is walked, filtered, sent and copied into a layer;
- new-dir: a cold build of a copy of the context in a directory never built before;
- cached rebuild: nothing changed, so the time is context preparation + transfer + cache checks;
- one file changed: the same, after one file of the context changed (COPY and later steps rerun);
- wharf's build with a context of the same files and no exclusions, for scale;
- context preparation: wharf's own walk, filter and tar of the context with no engine (the
  `build_context` example), and the context steps of a new-directory build as BuildKit reports
  them in plain progress (wharf: `load remote build context` + `copy /context /`; compose v2:
  `load build context`, its session's transfer).

Both tools build through the engine's embedded BuildKit by default (compose v2 over a session,
wharf with the context as the request body, see the README); with `DOCKER_BUILDKIT=0` both use the
classic builder, reported side by side too. The engine floor is the same BuildKit build posted
straight to the engine's API with the filtered context already packed in memory (no tool, no walk).
Target: wharf <= 1.0x compose v2.

usage: bench/build.py [--reps 3] [--files 10000] [--wharf target/release/wharf]
(builds the `build_context` example with cargo first)
"""
import argparse
import http.client
import io
import os
import re
import socket
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_context(d, files, label):
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
        f.write(f"FROM wharf-busybox:latest\nLABEL wharf.bench={label}\nCOPY . /ctx\n"
                "RUN find /ctx -type f | wc -l > /count\n")
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write("services:\n  app:\n    build: ./ctx\n")


def make_secret_projects(d, label):
    """Two one-step projects: `secret/` mounts a build secret (a session build), `plain/` runs
    the same step on a file of the image (no session)."""
    for name, run in (("secret", "RUN --mount=type=secret,id=tok wc -c /run/secrets/tok > /n"),
                      ("plain", "RUN wc -c /etc/passwd > /n")):
        p = os.path.join(d, name)
        os.makedirs(p, exist_ok=True)
        with open(os.path.join(p, "Dockerfile"), "w") as f:
            f.write(f"FROM wharf-busybox:latest\nLABEL wharf.bench={label}\n{run}\n")
        with open(os.path.join(p, "tok.txt"), "w") as f:
            f.write("bench-secret-value\n")
        with open(os.path.join(p, "compose.yaml"), "w") as f:
            secrets = "\n      secrets: [tok]" if name == "secret" else ""
            f.write(f"services:\n  app:\n    build:\n      context: .{secrets}\n"
                    "secrets:\n  tok: {file: ./tok.txt}\n")


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("docker")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def packed_context(ctx):
    """The context as wharf sends it: everything but `*.tmp`, Dockerfile and .dockerignore included."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for root, dirs, files in os.walk(ctx):
            dirs.sort()
            for name in sorted(files):
                if not name.endswith(".tmp"):
                    full = os.path.join(root, name)
                    t.add(full, arcname=os.path.relpath(full, ctx))
    return buf.getvalue()


def floor(body, tag):
    """One BuildKit build posted straight to the engine; returns seconds."""
    sock = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
    t = time.monotonic()
    c = UnixHTTP(sock)
    c.request("POST", f"/v1.41/build?version=2&nocache=1&t={tag}", body=body,
              headers={"Content-Type": "application/x-tar"})
    r = c.getresponse()
    out = r.read()
    dt = time.monotonic() - t
    if r.status != 200 or b'"error"' in out:
        sys.exit(f"engine floor build failed: {out[-2000:]!r}")
    return dt


def context_seconds(output, names):
    """Sums the DONE times of the BuildKit steps (plain progress) whose title contains one of `names`."""
    titles, total = {}, 0.0
    for line in output.splitlines():
        m = re.search(r"#(\d+) (.*)$", line)
        if not m:
            continue
        step, rest = m.groups()
        done = re.fullmatch(r"DONE (\d+(?:\.\d+)?)s", rest)
        if done:
            if any(n in titles.get(step, "") for n in names):
                total += float(done.group(1))
        elif step not in titles:
            titles[step] = rest
    return total


def fresh_copy(d, name):
    fresh = os.path.join(d, name)
    shutil.copytree(os.path.join(d, "ctx"), os.path.join(fresh, "ctx"), symlinks=True)
    shutil.copy(os.path.join(d, "compose.yaml"), fresh)
    return fresh


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
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "build_context"], cwd=ROOT, check=True)
    prep_bin = os.path.join(ROOT, "target/release/examples/build_context")
    d = tempfile.mkdtemp(prefix="wharf-bench-build-")
    tag = f"wbuild{os.getpid()}"
    projects = {"wharf": f"{tag}w", "compose": f"{tag}c", "wharf-classic": f"{tag}wk", "classic": f"{tag}k"}
    try:
        make_context(d, a.files, tag)
        make_secret_projects(d, tag)
        session = {("wharf", "secret"): [], ("compose", "secret"): [], ("wharf", "plain"): [],
                   ("compose", "plain"): []}
        body = packed_context(os.path.join(d, "ctx"))
        env_classic = dict(os.environ, DOCKER_BUILDKIT="0")
        wharf = lambda p: lambda extra: [a.wharf, "-p", p, "--progress", "quiet", "build", "-q"] + extra
        compose = lambda p: lambda extra: ["docker", "compose", "-p", p, "build", "-q"] + extra
        runs = {
            "wharf": wharf(projects["wharf"]),
            "compose": compose(projects["compose"]),
            "wharf-classic": wharf(projects["wharf-classic"]),
            "classic": compose(projects["classic"]),
        }
        modes = ("cold", "new-dir", "cached", "one-changed")
        res = {(k, m): [] for k in runs for m in modes}
        changed = os.path.join(d, "ctx", "d000", "f00000.txt")
        floors = []
        steps = {"wharf": [], "compose": []}
        prep = []
        for rep in range(a.reps):
            floors.append(floor(body, f"{tag}f-app"))
            for tool, mk in runs.items():
                env = env_classic if tool in ("classic", "wharf-classic") else None
                res[(tool, "cold")].append(timed(mk(["--no-cache"]), d, env))
                # A copy of the context in a directory never built before (compose v2's session
                # keeps each directory's last sync and sends only changes after the first build).
                fresh = fresh_copy(d, f"new-{tool}-{rep}")
                res[(tool, "new-dir")].append(timed(mk(["--no-cache"]), fresh, env))
                shutil.rmtree(fresh, ignore_errors=True)
                res[(tool, "cached")].append(timed(mk([]), d, env))
                # Content never built before, by this run or an earlier one (BuildKit's cache
                # outlives runs, and the same appended text would be a legitimate cache hit).
                with open(changed, "a") as f:
                    f.write(f"{tool} {rep} {time.time_ns()}\n")
                res[(tool, "one-changed")].append(timed(mk([]), d, env))
            # Context steps as BuildKit reports them, in one more new-directory build each (untimed).
            for tool, cmd, names in (
                ("wharf", [a.wharf, "-p", projects["wharf"], "build", "--no-cache"],
                 ("load remote build context", "copy /context /")),
                ("compose", ["docker", "compose", "--progress", "plain", "-p", projects["compose"],
                             "build", "--no-cache"], ("load build context",)),
            ):
                fresh = fresh_copy(d, f"steps-{tool}-{rep}")
                r = subprocess.run(cmd, cwd=fresh, capture_output=True, text=True)
                shutil.rmtree(fresh, ignore_errors=True)
                if r.returncode != 0:
                    sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
                steps[tool].append(context_seconds(r.stdout + r.stderr, names))
            # A build that mounts a secret (wharf opens a session for it) and the same step without.
            for kind in ("secret", "plain"):
                for tool in ("wharf", "compose"):
                    mk = (wharf if tool == "wharf" else compose)(f"{projects[tool]}{kind}")
                    session[(tool, kind)].append(timed(mk(["--no-cache"]), os.path.join(d, kind)))
            out = subprocess.run([prep_bin, os.path.join(d, "ctx")], capture_output=True, text=True, check=True).stdout
            prep.append(dict(kv.split("=") for kv in out.split()))
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
        f = statistics.median(floors)
        print("BuildKit (default for both):")
        print(f"{'':10} {'wharf':>8} {'compose v2':>11} {'floor':>8}   wharf/v2  wharf/floor")
        for m in modes:
            w, c = med[("wharf", m)], med[("compose", m)]
            fl = f"{f:8.3f}" if m in ("cold", "new-dir") else f"{'':8}"
            ratio = f"{w / f:9.2f}x" if m in ("cold", "new-dir") else ""
            print(f"{m:10} {w:8.3f} {c:11.3f} {fl}   {w / c:7.2f}x  {ratio}")
        print("one RUN step, cold (BuildKit): with a build secret mounted (wharf opens a session), and without:")
        print(f"{'':10} {'wharf':>8} {'compose v2':>11}   wharf/v2")
        for kind in ("secret", "plain"):
            w, c = (statistics.median(session[(t, kind)]) for t in ("wharf", "compose"))
            print(f"{kind:10} {w:8.3f} {c:11.3f}   {w / c:7.2f}x")
        print("classic builder (DOCKER_BUILDKIT=0 for both):")
        print(f"{'':10} {'wharf':>8} {'compose v2':>11}   wharf/v2")
        for m in modes:
            w, k = med[("wharf-classic", m)], med[("classic", m)]
            print(f"{m:10} {w:8.3f} {k:11.3f}   {w / k:7.2f}x")
        own = statistics.median(float(p["seconds"]) for p in prep)
        print(f"context preparation: wharf's walk + filter + tar alone {own:.3f} s "
              f"({prep[0]['files']} entries, {int(prep[0]['bytes']) / 1e6:.1f} MB, no engine)")
        ws, cs = statistics.median(steps["wharf"]), statistics.median(steps["compose"])
        print(f"context steps of a new-directory build (BuildKit's DONE times): wharf {ws:.1f} s "
              f"(load remote build context + copy /context /), compose v2 {cs:.1f} s (load build context)")
        print(f"wharf cold build with nothing excluded ({a.files} files): {full:.3f} s")
    finally:
        # Every image this run built (rebuilds leave the earlier ones untagged), and only those.
        ids = subprocess.run(["docker", "images", "-q", "--filter", f"label=wharf.bench={tag}"],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rmi", "-f"] + sorted(set(ids)), capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()

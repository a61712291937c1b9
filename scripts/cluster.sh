#!/usr/bin/env bash
# A three-node Docker Swarm on this one machine, for tests and benchmarks of `wharf stack`:
# three private dockerds (own data root, exec root, socket, pid file), each in a network
# namespace of its own joined by a veth pair to a bridge, forming a swarm of one manager and two
# workers. The machine's own engine is never touched. Needs root.
#
#   scripts/cluster.sh up [DIR]      start it; prints `export DOCKER_HOST=…` for the manager
#   scripts/cluster.sh down [DIR]    stop it and remove everything it made
#   scripts/cluster.sh stop N [DIR]  SIGKILL node N's dockerd (1: manager, 2 and 3: workers)
#   scripts/cluster.sh start N [DIR] start node N's dockerd again on its data
#
# DIR (default /tmp/wharf-cluster) holds each node's directory; node N listens on
# unix://DIR/nN/sock and has address 10.NET.0.(10+N)/24 on the bridge `TAGbr0`. The test image is
# loaded into every node; a registry (Debian's docker-registry) serves 10.NET.0.1:5000 to all
# three (an insecure registry in their daemon.json), for images built and pushed by a deploy.
set -euo pipefail
cmd=${1:-}
case "$cmd" in stop|start) node=${2:?node number}; dir=${3:-/tmp/wharf-cluster} ;; *) dir=${2:-/tmp/wharf-cluster} ;; esac
# CLUSTER_TAG names the bridge, namespaces and veths (several clusters can coexist);
# CLUSTER_NET is the second octet of the nodes' subnet 10.NET.0.0/24.
tag=${CLUSTER_TAG:-wc}
net=${CLUSTER_NET:-197}
bridge=${tag}br0
image=wharf-busybox:latest

sock() { echo "unix://$dir/n$1/sock"; }
d() { local n=$1; shift; timeout 60 docker -H "$(sock "$n")" "$@"; }

start_daemon() {
  local n=$1 nd="$dir/n$1"
  # The machine's daemon.json first: a wedged engine never answers `docker info`.
  local driver; driver=$(python3 -c 'import json; print(json.load(open("/etc/docker/daemon.json"))["storage-driver"])' 2>/dev/null ||
    timeout 10 docker info --format '{{.Driver}}' 2>/dev/null || echo vfs)
  echo "{\"insecure-registries\": [\"10.$net.0.1:5000\"]}" > "$nd/daemon.json"
  nsenter --net="/run/netns/$tag-n$n" dockerd --data-root "$nd/root" --exec-root "$nd/exec" \
    --pidfile "$nd/pid" -H "$(sock "$n")" --bridge none --iptables=false --ip-masq=false \
    --storage-driver "$driver" --default-address-pool "base=10.$((net - 20 - n)).0.0/16,size=24" \
    --config-file "$nd/daemon.json" >> "$nd/dockerd.log" 2>&1 &
  for _ in $(seq 300); do
    if d "$n" version >/dev/null 2>&1; then return 0; fi
    sleep 0.2  # polling the new engine's socket
  done
  echo "cluster: node $n did not answer within 60 s:" >&2; tail -5 "$nd/dockerd.log" >&2; return 1
}

stop_daemon() {
  local n=$1 nd="$dir/n$1"
  [ -f "$nd/pid" ] && kill -KILL "$(cat "$nd/pid")" 2>/dev/null || true
  pkill -KILL -f "$nd/" 2>/dev/null || true
  for _ in $(seq 50); do pgrep -f "$nd/" >/dev/null || break; sleep 0.1; done
  grep " $nd/" /proc/mounts | awk '{print $2}' | xargs -r -n1 umount -l 2>/dev/null || true
}

case "$cmd" in
up)
  mkdir -p "$dir"
  ip link add "$bridge" type bridge 2>/dev/null || true
  ip addr add 10.$net.0.1/24 dev "$bridge" 2>/dev/null || true
  ip link set "$bridge" up
  # The machine's engine sets the FORWARD policy to DROP, and bridged frames pass through it
  # (br_netfilter): let the nodes talk to each other.
  iptables -C FORWARD -i "$bridge" -o "$bridge" -j ACCEPT 2>/dev/null ||
    iptables -I FORWARD -i "$bridge" -o "$bridge" -j ACCEPT
  # The nodes' registry, on the bridge's host address.
  mkdir -p "$dir/registry"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 10.%s.0.1:5000\n' \
    "$dir/registry/data" "$net" > "$dir/registry/config.yml"
  setsid /usr/bin/docker-registry serve "$dir/registry/config.yml" > "$dir/registry/log" 2>&1 < /dev/null &
  echo $! > "$dir/registry/pid"
  for n in 1 2 3; do
    mkdir -p "$dir/n$n"
    ip netns add "$tag-n$n" 2>/dev/null || true
    ip netns exec "$tag-n$n" ip link set lo up
    if ! ip link show "$tag-h$n" >/dev/null 2>&1; then
      ip link add "$tag-h$n" type veth peer name eth0 netns "$tag-n$n"
    fi
    ip link set "$tag-h$n" master "$bridge" up
    ip netns exec "$tag-n$n" ip addr add "10.$net.0.$((10 + n))/24" dev eth0 2>/dev/null || true
    ip netns exec "$tag-n$n" ip link set eth0 up
    ip netns exec "$tag-n$n" ip route add default via 10.$net.0.1 2>/dev/null || true
    start_daemon "$n"
    docker save "$image" | d "$n" load -q >/dev/null
  done
  d 1 swarm init --advertise-addr 10.$net.0.11 >/dev/null
  token=$(d 1 swarm join-token -q worker)
  for n in 2 3; do d "$n" swarm join --advertise-addr "10.$net.0.$((10 + n))" --token "$token" 10.$net.0.11:2377 >/dev/null; done
  for _ in $(seq 150); do
    ready=$(d 1 node ls --format '{{.Status}}' | grep -c Ready || true)
    [ "$ready" = 3 ] && break
    sleep 0.2  # polling the manager until every node is Ready
  done
  for _ in $(seq 50); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://10.$net.0.1:5000/v2/', timeout=1)" 2>/dev/null && break
    sleep 0.1  # polling the registry until it answers
  done
  d 1 node ls
  echo "export DOCKER_HOST=$(sock 1)"
  ;;
down)
  for n in 1 2 3; do
    stop_daemon "$n"
    ip netns del "$tag-n$n" 2>/dev/null || true
    ip link del "$tag-h$n" 2>/dev/null || true
  done
  [ -f "$dir/registry/pid" ] && kill "$(cat "$dir/registry/pid")" 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  while iptables -D FORWARD -i "$bridge" -o "$bridge" -j ACCEPT 2>/dev/null; do :; done
  rm -rf "$dir"
  ;;
stop) stop_daemon "$node" ;;
start) start_daemon "$node" ;;
*) sed -n '2,15p' "$0"; exit 2 ;;
esac

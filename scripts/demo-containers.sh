#!/usr/bin/env bash
# A small "existing system" of real Podman containers for the real-target drills
# (experiments/containers-zone-power.yaml, experiments/single-homed-auth.yaml): three etcd
# members standing for three zones and a login service that lives only in the first zone, each in
# a network namespace of its own on one bridge, plus a client namespace the probes run from.
# Everything carries the name prefix and stays in 198.19.250.0/24 (inside 198.18.0.0/15).
#   scripts/demo-containers.sh up | down | status
# Environment (tests use other values so they never meet a demo someone left up):
#   DEMO=injdemo           name prefix of containers, namespaces and the cgroup parent
#   DEMO_NET=198.19.250     the /24 the demo lives in (first three octets)
#   DEMO_DATA=/var/lib/injector/DEMO   where the etcd members keep their data (bind mounts)
# Needs root, podman, runc, conmon, etcd-server (the containers run the host's own /usr/bin/etcd
# from a private overlay of /, see shared CONTAINERS notes in README "Real targets").
set -euo pipefail
DEMO=${DEMO:-injdemo}
NET=${DEMO_NET:-198.19.250}
DATA=${DEMO_DATA:-/var/lib/injector/$DEMO}
case "$DEMO" in inj*) ;; *) echo "DEMO must start with inj (got $DEMO)" >&2; exit 64 ;; esac
case "$NET" in 198.1[89].*) ;; *) echo "DEMO_NET must lie in 198.18.0.0/15 (got $NET)" >&2; exit 64 ;; esac
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs --events-backend file)
MEMBERS=(a b c)
BR="$DEMO-br"
CLI="$DEMO-cli"

member_ip() { case $1 in a) echo "$NET.11" ;; b) echo "$NET.12" ;; c) echo "$NET.13" ;; esac; }
cluster() { echo "a=http://$NET.11:2380,b=http://$NET.12:2380,c=http://$NET.13:2380"; }

# A namespace on the bridge with one address: ns name, veth name on the bridge side, address.
attach() {
    local ns=$1 port=$2 ip=$3
    ip netns add "$ns"
    ip -n "$BR" link add "$port" type veth peer name eth0 netns "$ns"
    ip -n "$BR" link set "$port" master br0 up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
}

run_container() {  # name, namespace, extra podman args..., --rootfs command...
    local name=$1 ns=$2
    shift 2
    "${PODMAN[@]}" run -d --name "$name" --init --network "ns:/run/netns/$ns" --cgroup-parent "/$DEMO" \
        --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 "$@" >/dev/null
}

wait_tcp() {  # from the client namespace: ip port
    for _ in $(seq 1 150); do
        if ip netns exec "$CLI" bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "demo: $1:$2 does not answer" >&2
    return 1
}

up() {
    ip netns add "$BR"
    ip -n "$BR" link add br0 type bridge
    ip -n "$BR" link set br0 up
    attach "$CLI" cli "$NET.2"
    for m in "${MEMBERS[@]}"; do
        attach "$DEMO-etcd-$m" "e$m" "$(member_ip "$m")"
        mkdir -p "$DATA/etcd-$m"
        run_container "$DEMO-etcd-$m" "$DEMO-etcd-$m" -v "$DATA/etcd-$m:/data" --rootfs /:O \
            /usr/bin/etcd --name "$m" --data-dir /data/member \
            --listen-client-urls "http://$(member_ip "$m"):2379" --advertise-client-urls "http://$(member_ip "$m"):2379" \
            --listen-peer-urls "http://$(member_ip "$m"):2380" --initial-advertise-peer-urls "http://$(member_ip "$m"):2380" \
            --initial-cluster "$(cluster)" --initial-cluster-state new --initial-cluster-token "$DEMO" \
            --heartbeat-interval 100 --election-timeout 1000 --pre-vote
    done
    attach "$DEMO-auth" auth "$NET.21"
    run_container "$DEMO-auth" "$DEMO-auth" --rootfs /:O \
        /usr/bin/python3 -m http.server 8080 --bind "$NET.21" --directory /usr/share/doc
    for m in "${MEMBERS[@]}"; do wait_tcp "$(member_ip "$m")" 2379; done
    wait_tcp "$NET.21" 8080
    # The cluster answers a write before a drill starts.
    for _ in $(seq 1 100); do
        if ip netns exec "$CLI" env ETCDCTL_API=3 etcdctl --endpoints "http://$NET.12:2379" --dial-timeout 1s \
            --command-timeout 2s put demo-up 1 >/dev/null 2>&1; then
            echo "demo $DEMO up: etcd at $NET.11-13:2379, auth at $NET.21:8080, client namespace $CLI"
            return 0
        fi
        sleep 0.2
    done
    echo "demo: etcd does not accept writes" >&2
    return 1
}

down() {
    local names=() left=0
    for m in "${MEMBERS[@]}"; do names+=("$DEMO-etcd-$m"); done
    names+=("$DEMO-auth")
    "${PODMAN[@]}" rm -f -t 0 --ignore "${names[@]}" >/dev/null 2>&1 || true
    for ns in "${names[@]}" "$CLI" "$BR"; do
        [ -e "/run/netns/$ns" ] && ip netns del "$ns" 2>/dev/null
    done
    # podman leaves the cgroup parent and its conmon child; conmon may outlive rm by a second.
    for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
        d="$h$DEMO"
        [ -d "$d" ] || continue
        for _ in $(seq 1 50); do
            find "$d" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
            rmdir "$d" 2>/dev/null && break
            sleep 0.2
        done
        [ -d "$d" ] && { echo "demo: $d is still there" >&2; left=1; }
    done
    case "$DATA" in /var/lib/injector/inj*|/tmp/inj*) rm -rf "$DATA" ;; esac
    return $left
}

status() {
    "${PODMAN[@]}" ps -a --filter "name=^$DEMO-" --format '{{.Names}} {{.Status}}'
}

case "${1:-}" in
    up) down >/dev/null 2>&1 || true; up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 64 ;;
esac

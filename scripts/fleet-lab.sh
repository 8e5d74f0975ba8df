#!/usr/bin/env bash
# Fleet mode on the built-in lab, for trying it on one machine: the plan's lab, a one-member etcd
# for the fleet's control plane on the root end of the lab's control link (198.19.255.1:2381,
# which every lab host routes to), and one `injector agent` in each lab host's network namespace
# standing for that machine. Then `injector run PLAN --fleet 198.19.255.1:2381` drives them.
#   scripts/fleet-lab.sh up PLAN     lab, fleet etcd, agents (prints the run command)
#   scripts/fleet-lab.sh down PLAN   agents and etcd stopped (by the pids recorded), lab down
# State (pids, logs, the etcd data) lives in /run/injector/fleet-lab. Needs root and etcd-server.
# Agents enter the namespaces with `nsenter --net`, not `ip netns exec`, which remounts /sys
# without the cgroup hierarchy the power_loss and stop_service engines need.
set -euo pipefail
cmd=${1:-}
plan=${2:-}
if [ -z "$cmd" ] || [ -z "$plan" ]; then echo "usage: $0 up|down PLAN" >&2; exit 64; fi
[ -f "$plan" ] || { echo "$0: no plan file $plan" >&2; exit 64; }
INJECTOR=${INJECTOR:-$(command -v injector || echo "$(dirname "$0")/../build/injector/injector")}
dir=/run/injector/fleet-lab
endpoint=198.19.255.1:2381

stop_pid() {  # stops the process whose pid is in file $1, if it is still the one we started
    local f=$1 pid state
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$(cat "$f.cmd")"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            # gone, or dead and waiting for its reaper (it is not our child)
            state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
            [ -z "$state" ] || [ "$state" = Z ] && break
            sleep 0.1
        done
        if [ -n "$state" ] && [ "$state" != Z ]; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$f" "$f.cmd"
}

case "$cmd" in
up)
    mkdir -p "$dir"
    "$INJECTOR" lab up "$plan"
    lab=$("$INJECTOR" lab status "$plan" | awk '/^lab [0-9a-f]+ .*is up/ {print $2; exit}')
    [ -n "$lab" ] || { echo "$0: the lab of $plan is not up" >&2; exit 3; }
    etcd --name fleet --data-dir "$dir/etcd" \
        --listen-client-urls "http://$endpoint" --advertise-client-urls "http://$endpoint" \
        --listen-peer-urls http://127.0.0.1:23811 --initial-advertise-peer-urls http://127.0.0.1:23811 \
        --initial-cluster fleet=http://127.0.0.1:23811 --heartbeat-interval 100 --election-timeout 1000 \
        >"$dir/etcd.log" 2>&1 &
    echo $! >"$dir/etcd.pid"
    echo "etcd --name fleet" >"$dir/etcd.pid.cmd"
    # An agent exits when no endpoint answers: they start once etcd does.
    for _ in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/${endpoint%:*}/${endpoint#*:}") 2>/dev/null; then break; fi
        sleep 0.2
    done
    for ns in /run/netns/inj-"$lab"-*; do
        host=${ns#/run/netns/inj-"$lab"-}
        [ "$host" = fabric ] && continue
        # Each agent's metrics on its namespace's own loopback: the same port for all.
        nsenter --net="$ns" "$INJECTOR" agent --etcd "$endpoint" --host "$host" --metrics 127.0.0.1:9465 \
            >"$dir/agent-$host.log" 2>&1 &
        echo $! >"$dir/agent-$host.pid"
        echo "agent --etcd $endpoint --host $host" >"$dir/agent-$host.pid.cmd"
    done
    echo "fleet-lab: etcd on $endpoint, agents for lab $lab (logs in $dir)"
    echo "run:  $INJECTOR run $plan --fleet $endpoint"
    echo "an agent's metrics:  nsenter --net=/run/netns/inj-$lab-HOST curl -s http://127.0.0.1:9465/metrics"
    ;;
down)
    for f in "$dir"/agent-*.pid; do [ -e "$f" ] && stop_pid "$f"; done
    stop_pid "$dir/etcd.pid"
    rm -rf "$dir/etcd"
    "$INJECTOR" lab down "$plan"
    ;;
*)
    echo "usage: $0 up|down PLAN" >&2
    exit 64
    ;;
esac

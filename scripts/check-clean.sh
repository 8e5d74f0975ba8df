#!/usr/bin/env bash
# Fails when anything of the injector is left on this machine: namespaces, root-namespace
# links, routes to the lab range, tcx/tc programs of ours, cgroups, faultfs mounts, processes
# (faultfs daemons are `injector` processes), lab state.
set -uo pipefail
bad=0
report() { echo "check-clean: LEFT BEHIND: $*"; bad=1; }
ns=$(ip netns list 2>/dev/null | awk '{print $1}' | grep '^inj-' || true)
[ -n "$ns" ] && report "namespaces: $ns"
links=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep '^inj' || true)
[ -n "$links" ] && report "links: $links"
routes=$(ip route show 198.18.0.0/15 2>/dev/null; ip -6 route show 2001:2::/48 2>/dev/null)
[ -n "$routes" ] && report "routes: $routes"
progs=$(bpftool prog show 2>/dev/null | grep -E 'netfault' || true)
[ -n "$progs" ] && report "BPF programs: $progs"
for cg in /sys/fs/cgroup/unified/injector /sys/fs/cgroup/injector; do
  if [ -d "$cg" ] && [ -n "$(find "$cg" -mindepth 1 -type d 2>/dev/null)" ]; then report "cgroups under $cg"; fi
done
fuse=$(awk '$0 ~ / - fuse\.injector-faultfs / {print $5}' /proc/self/mountinfo 2>/dev/null || true)
[ -n "$fuse" ] && report "faultfs mounts: $fuse"
blk=$(ls -d /sys/fs/cgroup/blkio/injector-* /sys/fs/cgroup/unified/injector-* 2>/dev/null || true)
[ -n "$blk" ] && report "blkio/io throttle cgroups: $blk"
labs=$(ls /run/injector/labs 2>/dev/null || true)
[ -n "$labs" ] && report "lab state: $labs"
procs=$(ps -eo pid=,stat=,comm= | awk '$2 !~ /^Z/ && $3 ~ /^(etcd|iperf3|injector)$/' || true)
[ -n "$procs" ] && report "processes: $procs"
if [ "$bad" -eq 0 ]; then echo "check-clean: the machine holds nothing of the injector"; fi
exit "$bad"

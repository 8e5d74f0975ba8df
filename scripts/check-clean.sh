#!/usr/bin/env bash
# Fails when anything of the injector is left on this machine: namespaces, root-namespace
# links, routes to the lab range, tcx/tc programs of ours, cgroups, faultfs mounts, processes
# (faultfs daemons and watchers are `injector` processes), lab state, containers named with the
# project's prefix, frozen cgroups under the project's cgroup roots, fuse/overlay mounts of ours,
# agents' served-volume directories.
set -uo pipefail
bad=0
report() { echo "check-clean: LEFT BEHIND: $*"; bad=1; }
ns=$(ip netns list 2>/dev/null | awk '{print $1}' | grep '^inj' || true)
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
served=$(find /run/injector/agents -mindepth 1 -maxdepth 1 -type d 2>/dev/null || true)
[ -n "$served" ] && report "agents' served-volume directories: $served"
procs=$(ps -eo pid=,stat=,comm= | awk '$2 !~ /^Z/ && $3 ~ /^(etcd|iperf3|injector)$/' || true)
[ -n "$procs" ] && report "processes: $procs"
if command -v podman >/dev/null 2>&1; then
  ctrs=$(podman --runtime runc --cgroup-manager cgroupfs --events-backend file ps -a --format '{{.Names}}' 2>/dev/null | grep '^inj' || true)
  [ -n "$ctrs" ] && report "containers: $ctrs"
fi
# The project's cgroup roots: the lab's (injector*), the tests' and their containers' parents (inj-*).
roots=$(ls -d /sys/fs/cgroup/*/inj* /sys/fs/cgroup/inj* 2>/dev/null || true)
frozen=""
for r in $roots; do
  f1=$(grep -l -E 'FROZEN|FREEZING' $(find "$r" -name freezer.state 2>/dev/null) /dev/null 2>/dev/null | xargs -r -n1 dirname)
  f2=$(grep -l -x 1 $(find "$r" -name cgroup.freeze 2>/dev/null) /dev/null 2>/dev/null | xargs -r -n1 dirname)
  frozen="$frozen $f1 $f2"
done
frozen=$(echo $frozen)
[ -n "$frozen" ] && report "frozen cgroups: $frozen"
cgparents=$(ls -d /sys/fs/cgroup/*/inj-* /sys/fs/cgroup/inj-* 2>/dev/null || true)
[ -n "$cgparents" ] && report "test/container cgroup directories: $cgparents"
ourmounts=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { t = $(i + 1); break } }
  (t ~ /^fuse/ || t == "overlay") && ($5 ~ /\/inj-/ || $5 ~ /injector/) { print $5 }' /proc/self/mountinfo 2>/dev/null || true)
[ -n "$ourmounts" ] && report "fuse/overlay mounts: $ourmounts"
if [ "$bad" -eq 0 ]; then echo "check-clean: the machine holds nothing of the injector"; fi
exit "$bad"

#!/bin/sh
# How `injector validate` and `injector plan` grow with the size of the data center: plans of
# 256 / 2,000 / 8,000 / 32,000 hosts (bench/scale_plan.py: 3 zones, 64 power domains, half the
# hosts in the burning zone, a power loss of that zone and a sever; "plan+60": 60 more severs,
# one a second, so ~120 moments to judge), each command run 5 times;
# the median of wall and CPU (user+sys) seconds, peak memory, and the growth from the size
# before. The 256-host row is the baseline of the same run. Needs no privilege.
# Usage: bench/scale.sh [BUILD_DIR]   (default: build)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build}/injector/injector
[ -x "$bin" ] || { echo "scale: no injector at $bin (build it first)" >&2; exit 64; }
work=$(mktemp -d /tmp/injector-scale.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

# median WALL CPU KB of 5 runs of: CMD PLAN (output discarded; exit 0 and 3 are verdicts)
measure() {
    for r in 1 2 3 4 5; do
        /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$bin" "$1" "$2" >/dev/null 2>&1 || [ $? -eq 3 ]
        awk '{ printf "%.3f %.3f %d\n", $1, $2 + $3, $4 }' "$work/t"
    done | sort -n | sed -n 3p
}

printf "%-9s %7s %9s %9s %9s %9s   %s\n" command hosts "wall s" "cpu s" "MiB" "x prev" "(median of 5; x prev: cpu time against the size before)"
for row in validate:0 plan:0 plan:60; do
    cmd=${row%:*} severs=${row#*:}
    label=$cmd$( [ "$severs" = 0 ] || echo "+$severs")
    prev=""
    for n in 256 2000 8000 32000; do
        python3 "$here/scale_plan.py" "$n" "$severs" >"$work/p$n.yaml"
        set -- $(measure "$cmd" "$work/p$n.yaml")
        growth=$( [ -n "$prev" ] && awk -v a="$2" -v b="$prev" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else printf "-" }' || echo "-")
        printf "%-9s %7d %9.2f %9.2f %9.0f %9s\n" "$label" "$n" "$1" "$2" "$(($3 / 1024))" "$growth"
        prev=$2
    done
done

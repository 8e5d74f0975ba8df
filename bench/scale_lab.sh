#!/bin/sh
# The lab at data-center size: experiments/pangyo-full.yaml (3 zones, 64 power domains, half the
# hosts in pangyo, etcd on one host per zone, idle hosts pooled per power domain) scaled to
# 256 / 2,000 / 8,000 / 32,000 hosts through its host groups' counts. For each size:
#   lab up, lab down   `injector lab up|down` (wall s), the namespaces the lab made, and the kernel
#                      memory it holds (MemAvailable before up minus after up, MiB);
#   run                one `injector run` with the power loss shortened to 10 s: from its journal,
#                      prepare (every engine), inject and heal of the power loss (ms), and the
#                      runner's peak RSS (MiB).
# x prev: lab up time against the size before (with the same pooling). Baseline in the same run: the same plan with a namespace per host (pool_idle_hosts: false) at
# 256 and 2,000 hosts. Every figure is the median of RUNS runs (default 3). Root; it brings labs up
# in the lab range, so run it alone (flock /tmp/injector-priv.lock bench/scale_lab.sh).
# Usage: bench/scale_lab.sh [BUILD_DIR] [SIZES]   (default: build "256 2000 8000 32000")
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:-build}" && pwd)/injector/injector
sizes=${2:-"256 2000 8000 32000"}
runs=${RUNS:-3}
[ -x "$bin" ] || { echo "scale_lab: no injector at $bin (build it first)" >&2; exit 64; }
[ "$(id -u)" = 0 ] || { echo "scale_lab: needs root (it builds labs)" >&2; exit 64; }
work=$(mktemp -d /tmp/injector-scale-lab.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

# plan N POOLED: pangyo-full with N hosts (pangyo N/2, ansan N/4, gasan the rest; one of each is
# its etcd member), the power loss 10 s long.
plan() {
    n=$1
    p=$((n / 2 - 1)) a=$((n / 4 - 1)) g=$((n - n / 2 - n / 4 - 1))
    sed -e "s/name: pangyo-h, count: 15999/name: pangyo-h, count: $p/" \
        -e "s/name: ansan-h, count: 7999/name: ansan-h, count: $a/" \
        -e "s/name: gasan-h, count: 7999/name: gasan-h, count: $g/" \
        -e "s/{addr:ansan-h-4000}/{addr:ansan-h-$((a / 2 + 1))}/" \
        -e "s/    duration: 60s/    duration: 10s/" \
        -e "s/pool_idle_hosts: true/pool_idle_hosts: $2/" \
        -e "s/^name: pangyo-full/name: scale-lab-$n/" \
        "$here/../experiments/pangyo-full.yaml" >"$work/p$n-$2.yaml"
    echo "$work/p$n-$2.yaml"
}

avail_kib() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }
now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }

# One measurement of lab up/down and one run; appends "up down nsns mib prep inject heal rss" to $3.
measure() {
    f=$1
    sync
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    before=$(avail_kib)
    ns_before=$(ip netns list | wc -l)
    t0=$(now)
    "$bin" --log-level warn lab up "$f" >/dev/null
    t1=$(now)
    after=$(avail_kib)
    ns=$(($(ip netns list | wc -l) - ns_before))
    "$bin" --log-level warn lab down "$f" >/dev/null
    t2=$(now)
    /usr/bin/time -f "%M" -o "$work/rss" "$bin" --log-level warn run "$f" --json >"$work/out" 2>"$work/err" || {
        echo "scale_lab: the run of $f ended $? (see below)" >&2
        tail -5 "$work/err" >&2
    }
    journal=$(python3 -c 'import json,sys; t=open(sys.argv[1]).read(); print(json.loads(t[t.rfind("\n{")+1:])["journal"])' "$work/out")
    python3 - "$journal" "$t0" "$t1" "$t2" "$before" "$after" "$ns" "$(tail -1 "$work/rss")" >>"$2" <<'EOF'
import json, sys
j, t0, t1, t2, before, after, ns, rss = sys.argv[1:]
prep = inject = heal = 0.0
for line in open(j):
    e = json.loads(line)
    if e.get("event") == "engine_prepared": prep += e.get("ms", 0)
    if e.get("event") == "inject" and e.get("fault") == "pangyo-power": inject = e.get("cost_us", 0) / 1000
    if e.get("event") == "heal" and e.get("fault") == "pangyo-power": heal = e.get("cost_us", 0) / 1000
print("%.2f %.2f %s %.0f %.1f %.1f %.1f %.0f" % (float(t1) - float(t0), float(t2) - float(t1), ns,
      (int(before) - int(after)) / 1024, prep, inject, heal, int(rss) / 1024))
EOF
}

printf "%-7s %6s %8s %8s %6s %9s %10s %10s %8s %8s %8s\n" hosts pooled "up s" "down s" netns "lab MiB" "prepare ms" "inject ms" "heal ms" "RSS MiB" "x prev"
row() {
    n=$1 pooled=$2
    f=$(plan "$n" "$pooled")
    : >"$work/rows"
    i=0
    while [ $i -lt "$runs" ]; do
        measure "$f" "$work/rows"
        i=$((i + 1))
    done
    col() { awk -v c="$1" '{ print $c }' "$work/rows" | median; }
    up=$(col 1)
    # Growth: lab up time against the size before with the same pooling.
    growth=$([ -n "$prev_up" ] && awk -v a="$up" -v b="$prev_up" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else printf "-" }' || echo "-")
    printf "%-7d %6s %8s %8s %6s %9s %10s %10s %8s %8s %8s\n" "$n" "$pooled" "$up" "$(col 2)" "$(col 3)" \
        "$(col 4)" "$(col 5)" "$(col 6)" "$(col 7)" "$(col 8)" "$growth"
    prev_up=$up
}
prev_up=""
for n in 256 2000; do
    case " $sizes " in *" $n "*) row "$n" false ;; esac
done
prev_up=""
for n in $sizes; do row "$n" true; done

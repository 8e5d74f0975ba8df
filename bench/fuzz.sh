#!/usr/bin/env bash
# Runs the libFuzzer targets for a given time:
#   bench/fuzz.sh plan|desired|probes|all SECONDS     (all: the three at once, SECONDS each)
#   bench/fuzz.sh build                              (only build them; CI starts this early)
# Builds them first (clang, ASan+UBSan, -O1 with line tables, in build-fuzz/), seeds each corpus
# from fuzz/seeds/ (plus experiments/ for the plan loader, tests/data/metrics/ for the probes),
# and prints per target the executions run and whether anything crashed (exit 1 if any did; the
# crashing input is left in build-fuzz/crashes/).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bench/fuzz.sh plan|desired|probes|all SECONDS, or bench/fuzz.sh build"
target=${1:?$usage}
all=(plan desired probes)
case "$target" in plan|desired|probes) list=("$target") ;; all|build) list=("${all[@]}") ;;
  *) echo "unknown target $target ($usage)" >&2; exit 64 ;; esac
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DINJECTOR_FUZZ=ON \
  -DINJECTOR_TESTS=OFF -DINJECTOR_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG" >/dev/null
cmake --build build-fuzz --target "${list[@]/#/fuzz_}" -j"$(nproc)" >/dev/null
[ "$target" = build ] && exit 0
secs=${2:?$usage}

# One target for secs seconds; its log is build-fuzz/fuzz-<target>.log.
fuzz_one() {
  local t=$1 corpus=build-fuzz/corpus/$1 log=build-fuzz/fuzz-$1.log
  mkdir -p "$corpus" build-fuzz/crashes
  cp fuzz/seeds/"$t"/* "$corpus"/
  [ "$t" = plan ] && cp experiments/*.yaml "$corpus"/
  [ "$t" = probes ] && cp tests/data/metrics/* "$corpus"/
  "build-fuzz/fuzz/fuzz_$t" "$corpus" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 >"$log" 2>&1
}

pids=()
for t in "${list[@]}"; do fuzz_one "$t" & pids+=($!); done
failed=0
for i in "${!list[@]}"; do
  t=${list[$i]}
  rc=0
  wait "${pids[$i]}" || rc=$?
  log=build-fuzz/fuzz-$t.log
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  if [ $rc -eq 0 ]; then
    echo "fuzz_$t: $execs executions in ${secs}s, no crash"
  else
    echo "fuzz_$t: CRASH after $execs executions (exit $rc); see $log and build-fuzz/crashes/" >&2
    tail -30 "$log" >&2
    failed=1
  fi
done
exit $failed

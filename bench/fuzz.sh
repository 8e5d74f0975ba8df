#!/usr/bin/env bash
# Runs a libFuzzer target for a given time: bench/fuzz.sh plan|desired|probes SECONDS
# Builds it first (clang, ASan+UBSan, in build-fuzz/), seeds the corpus from experiments/ and
# fuzz/seeds/, and prints the executions run and whether anything crashed (exit 1 if so; the
# crashing input is left in build-fuzz/crashes/).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: bench/fuzz.sh plan|desired|probes SECONDS}
secs=${2:?usage: bench/fuzz.sh plan|desired|probes SECONDS}
case "$target" in plan|desired|probes) ;; *) echo "unknown target $target (plan, desired or probes)" >&2; exit 64 ;; esac
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DINJECTOR_FUZZ=ON \
  -DINJECTOR_TESTS=OFF -DINJECTOR_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz --target "fuzz_$target" -j2 >/dev/null
corpus=build-fuzz/corpus/$target
mkdir -p "$corpus" build-fuzz/crashes
cp fuzz/seeds/"$target"/* "$corpus"/
[ "$target" = plan ] && cp experiments/*.yaml "$corpus"/
[ "$target" = probes ] && cp tests/data/metrics/* "$corpus"/
log=build-fuzz/fuzz-$target.log
set +e
"build-fuzz/fuzz/fuzz_$target" "$corpus" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 >"$log" 2>&1
rc=$?
set -e
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
if [ $rc -eq 0 ]; then
  echo "fuzz_$target: $execs executions in ${secs}s, no crash"
else
  echo "fuzz_$target: CRASH after $execs executions (exit $rc); see $log and build-fuzz/crashes/" >&2
  tail -30 "$log" >&2
  exit 1
fi

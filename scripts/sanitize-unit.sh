#!/usr/bin/env bash
# Builds the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ (a
# build directory of its own: the sanitized objects never mix with the normal ones) and runs
# `ctest -L unit` there. Any report fails the run: ASan aborts, UBSan halts at the first error.
#   scripts/sanitize-unit.sh [extra ctest arguments, e.g. -LE tool or -R unit_common]
#   scripts/sanitize-unit.sh build      only build (CI starts it early, in the background)
# Environment: BUILD_DIR (default build-asan), JOBS (default: the number of CPUs), CMAKE_ARGS
# (more -D settings for the configure step).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BUILD_DIR:-build-asan}
jobs=${JOBS:-$(nproc)}

# -Og -g1: the sanitizers see the same code (less optimisation hides less), stack traces keep
# function, file and line; g++ compiles it about 3.5 times faster than -O2 -g with ASan+UBSan (a
# heavy file: 57 s of CPU at -O2 -g, 25 s at -O1 -g1, 16 s at -Og -g1; 15 s without sanitizers).
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINJECTOR_SANITIZE=address \
      -DINJECTOR_BENCH=OFF "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-Og -g1 -DNDEBUG" ${CMAKE_ARGS:-} >/dev/null
# The unit test binaries, and the injector executable some of them run.
targets=(injector)
while IFS= read -r t; do targets+=("$t"); done < <(
  cmake --build "$dir" --target help | sed -n 's/^\.\.\. \(unit_[a-z0-9_]*\).*/\1/p' | sort -u)
[ "${#targets[@]}" -gt 1 ] || { echo "sanitize-unit: no unit_ targets found" >&2; exit 1; }
cmake --build "$dir" -j "$jobs" --target "${targets[@]}"
[ "${1:-}" = build ] && exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
ctest --test-dir "$dir" -L unit --output-on-failure -j "$jobs" "$@"

#!/usr/bin/env bash
# Builds the privileged tests of the runner and the power engine with ThreadSanitizer in
# build-tsan/ (their own build directory) and runs them: root, and one at a time like every
# privileged test (on a shared machine, run this under `flock /tmp/injector-priv.lock`). The
# runner's threads (samplers, restorers, readiness waits, the live view, the metrics server, the
# guards) live in the `injector` processes these tests start, which are built with TSan too: a
# race in one of them makes it exit 66, which fails its test.
#   scripts/sanitize-thread.sh build          only build (CI starts it early, in the background)
#   scripts/sanitize-thread.sh [ctest args]   build if needed, then run (root)
# Environment: BUILD_DIR (default build-tsan), JOBS (default: the number of CPUs), TESTS (a ctest
# -R regex; '^priv_(power|guards|crash|run)\.' for all of them, about 14 minutes).
# The default (about 6 minutes, CI's budget): the power engine, the guards, the pipe and crash runs
# but the 90 s random-kill loop, and of the flagship runs those whose threads differ: power loss
# and its cascade (restorers, readiness waits), a stopped service restarted, a zone severed. The
# drills, the isolation, slow-WAN and slow-disk flagships drive the same runner threads; all of
# them passed under TSan too (README, Tests).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BUILD_DIR:-build-tsan}
jobs=${JOBS:-$(nproc)}
# The test binaries that drive the runner and the power engine, and the injector they run.
targets=(injector priv_power priv_guards priv_crash priv_run)
tests=${TESTS:-'^priv_(power|guards)\.|^priv_crash\.(CrashTest|PipeTest|CrashStorage)\.|^priv_run\.(PowerFlagship|ServiceFlagship)\.|^priv_run\.Flagship\.ZoneSever'}

# -O1 -g1: TSan's own advice (-O1 or more, line tables for its stack traces); compiling this way
# takes about half the CPU of the RelWithDebInfo build (-O2 -g), and a quarter of ASan+UBSan's.
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINJECTOR_SANITIZE=thread -DINJECTOR_BENCH=OFF \
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$dir" -j "$jobs" --target "${targets[@]}"
[ "${1:-}" = build ] && exit 0

[ "$(id -u)" -eq 0 ] || { echo "sanitize-thread: the privileged tests need root" >&2; exit 64; }
# halt_on_error=0: a process reports every race it sees, then exits 66 at its end (second
# stacks for the locks involved); the test that started it sees the wrong exit code and fails.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:exitcode=66:second_deadlock_stack=1:history_size=4}
ctest --test-dir "$dir" -L privileged -R "$tests" --output-on-failure "$@"

#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test: unit tests and privileged
# tests (namespaces, BPF, cgroups, etcd). Privileged tests need root; they are not skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO ./scripts/install-deps.sh test
# Tests and benchmarks on, even if quickstart.sh configured this build without them.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINJECTOR_TESTS=ON -DINJECTOR_BENCH=ON >/dev/null
cmake --build build -j"$(nproc)"
# Unit tests may run in parallel; privileged ones share the machine and run one at a time.
$SUDO ctest --test-dir build --output-on-failure -L unit -j"$(nproc)"
# Privileged tests start from a machine holding nothing of the injector, and two test runs on one
# machine would tear down each other's labs: they take turns (a lock every clone shares). What an
# earlier run left when it was killed half-way is what `injector recover` is for: it runs, says
# what it removed, and the suite stops if anything is still left (recover leaves live runs alone).
lock=/tmp/injector-tests.lock
exec 9<>"$lock" 2>/dev/null || exec 9<"$lock"
if ! flock -n 9; then
  echo "test-all: another test run holds $lock; waiting for it"
  flock 9
fi
# The lock's descriptor stays with this shell (9>&-): a process a test leaves running must not hold it.
if ! left=$($SUDO ./scripts/check-clean.sh 9>&-); then
  printf 'test-all: this machine holds what an earlier run left:\n%s\n' "$left"
  $SUDO ./build/injector/injector recover 9>&- || true
  $SUDO ./scripts/check-clean.sh 9>&-
fi
$SUDO ctest --test-dir build --output-on-failure -L privileged 9>&-

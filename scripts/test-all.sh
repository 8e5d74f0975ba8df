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
$SUDO ctest --test-dir build --output-on-failure -L privileged

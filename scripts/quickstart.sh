#!/usr/bin/env bash
# Installs what is missing of what running needs (not the test tools), builds, and runs the flagship experiment on the built-in lab:
# a three-zone etcd cluster loses one zone for 30 s; quorum holds, so the run exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO ./scripts/install-deps.sh run
# Without the tests and benchmarks, which need the test set (GoogleTest).
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINJECTOR_TESTS=OFF -DINJECTOR_BENCH=OFF >/dev/null
cmake --build build -j"$(nproc)" --target injector
$SUDO ./build/injector/injector plan experiments/zone-sever.yaml
exec $SUDO ./build/injector/injector run experiments/zone-sever.yaml "$@"

#!/usr/bin/env bash
# Installs the Debian packages the injector needs to build, test and run its lab.
# Idempotent: does nothing (and needs no network) when everything is present.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang llvm ccache
  # scripts/format.sh
  clang-format
  bpftool libbpf-dev libelf-dev zlib1g-dev linux-libc-dev
  libyaml-cpp-dev libspdlog-dev libfmt-dev libboost-program-options-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
  libfuse3-dev fuse3 fio python3
  # faultfs serving a real non-root database (tests/privileged/storage_faultfs_postgres_test.cpp)
  postgresql
  iproute2 iptables nftables iperf3 procps
  etcd-server etcd-client
  # reports: the journal schema, JUnit (XSD and a real consumer), the HTML in a headless browser,
  # the metrics (promtool), the game-day units (systemd-analyze)
  python3-jsonschema python3-junitparser libxml2-utils chromium prometheus systemd
  # fleet mode: the etcd v3 JSON gateway client
  libcurl4-openssl-dev
  # fleet mode: SHA-256 of the published plan (libcrypto)
  libssl-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The lab runs its own etcd members on lab addresses; a system etcd on localhost does not clash.
echo "install-deps: done"

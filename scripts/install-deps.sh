#!/usr/bin/env bash
# Installs the Debian packages the injector needs, in two sets:
#   install-deps.sh run    what building the binary and running experiments need (quickstart.sh)
#   install-deps.sh test   the run set plus what the tests and benchmarks need (test-all.sh)
# With no argument: the test set (everything). Idempotent: does nothing (and needs no network)
# when everything is present. `--print` lists the set's packages and installs nothing.
set -euo pipefail

RUN_PKGS=(
  # build: the C++20 binary and the BPF program (clang, bpftool skeletons)
  build-essential cmake pkg-config clang llvm ccache
  bpftool libbpf-dev libelf-dev zlib1g-dev linux-libc-dev
  libyaml-cpp-dev libspdlog-dev libfmt-dev libboost-program-options-dev nlohmann-json3-dev
  # fleet mode: the etcd v3 JSON gateway client, SHA-256 of the published plan (libcrypto);
  # the http: and prometheus: probes (libcurl)
  libcurl4-openssl-dev libssl-dev
  # the fault filesystem (storage faults, power loss of volatile volumes)
  libfuse3-dev fuse3
  # the lab: namespaces, links, qdiscs (ip, tc), processes
  iproute2 procps
  # the example experiments run an etcd cluster and probe it with etcdctl
  etcd-server etcd-client
)
TEST_PKGS=(
  libgtest-dev libgmock-dev
  # scripts/format.sh --check
  clang-format
  # faultfs serving a real non-root database (tests/privileged/storage_faultfs_postgres_test.cpp)
  postgresql
  # a second database's documented durability on each loss model (storage_faultfs_sqlite_test.cpp)
  libsqlite3-dev
  # real traffic and real I/O in the privileged tests and the benchmarks; iptables and nft are
  # the baselines the classifier is compared with; the drills' HTTP services (python3 -m http.server)
  iperf3 fio iptables nftables python3
  # reports: the journal schema, JUnit (XSD and a real consumer), the HTML in a headless browser,
  # the metrics (promtool) and the prometheus: probe drill (a real Prometheus), the game-day units
  # (systemd-analyze), the man page (groff)
  python3-jsonschema python3-yaml python3-junitparser libxml2-utils chromium prometheus systemd groff-base
  # the Debian package check (scripts/package-check.sh): dpkg-shlibdeps
  dpkg-dev
  # real containers as targets (shared/CONTAINERS.md: runc, not crun, on a hybrid cgroup layout);
  # curl reads podman's Docker-compatible API for the Docker-shaped inspect
  podman runc conmon catatonit curl
)

set_name="${1:-test}"
case "$set_name" in
run) PKGS=("${RUN_PKGS[@]}") ;;
test) PKGS=("${RUN_PKGS[@]}" "${TEST_PKGS[@]}") ;;
*) echo "usage: install-deps.sh [run|test] [--print]" >&2; exit 64 ;;
esac
if [ "${2:-}" = "--print" ]; then
  printf '%s\n' "${PKGS[@]}"
  exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages of the $set_name set present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The lab runs its own etcd members on lab addresses; a system etcd on localhost does not clash.
echo "install-deps: done"

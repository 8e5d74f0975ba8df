#!/usr/bin/env bash
# Builds the Debian package (CPack, prefix /usr) in build-pkg/, installs it on this machine with
# dpkg, checks the installed tool (version, help, `injector validate` on every installed example,
# man page, bash completion, systemd units), removes it, and checks nothing of it remains.
# Needs root. Refuses to run when a package named injector is already installed.
# Environment: BUILD_DIR packages an existing RelWithDebInfo build instead (CI: build/, once its
# tests have run): it is reconfigured for the prefix /usr, which no compiled file depends on (the
# prefix only names the systemd units' paths), so nothing is compiled again.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BUILD_DIR:-build-pkg}
[ "$(id -u)" -eq 0 ] || { echo "package-check: needs root (dpkg -i)" >&2; exit 64; }
if dpkg-query -W -f='${Status}' injector 2>/dev/null | grep -q "ok installed"; then
  echo "package-check: a package named injector is installed already; not touching it" >&2
  exit 3
fi

if [ "$dir" = build-pkg ]; then
  cmake -S . -B build-pkg -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
        -DINJECTOR_TESTS=OFF -DINJECTOR_BENCH=OFF >/dev/null
else
  grep -q '^CMAKE_BUILD_TYPE:STRING=RelWithDebInfo$' "$dir/CMakeCache.txt" ||
    { echo "package-check: $dir is not a RelWithDebInfo build" >&2; exit 64; }
  grep -q '^INJECTOR_SANITIZE:STRING=$' "$dir/CMakeCache.txt" ||
    { echo "package-check: $dir is a sanitizer build" >&2; exit 64; }
  cmake -S . -B "$dir" -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
fi
cmake --build "$dir" -j"$(nproc)" --target injector injector_docs
rm -f "$dir"/injector_*.deb
(cd "$dir" && cpack -G DEB >/dev/null)
deb=$(ls "$dir"/injector_*.deb)
echo "package-check: built $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb -f "$deb" Package Version Depends Recommends
files=$(dpkg-deb -c "$deb" | awk '{print substr($6, 2)}' | grep -v '/$')

installed=0
cleanup() { if [ $installed -eq 1 ]; then dpkg --purge injector >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT
dpkg -i "$deb" >/dev/null
installed=1

fail() { echo "package-check: FAILED: $*" >&2; exit 1; }
[ "$(command -v injector)" = /usr/bin/injector ] || fail "injector is not /usr/bin/injector"
injector --version
injector run --help >/dev/null || fail "injector run --help"
examples=(/usr/share/injector/experiments/*.yaml)
[ -e "${examples[0]}" ] || fail "no examples under /usr/share/injector/experiments"
for f in "${examples[@]}"; do injector validate "$f" || fail "validate $f"; done
[ -s /usr/share/man/man1/injector.1 ] || fail "no man page"
if command -v groff >/dev/null; then
  groff -man -Tutf8 -ww /usr/share/man/man1/injector.1 >/dev/null 2>/tmp/package-check-groff.$$ || fail "groff"
  [ ! -s /tmp/package-check-groff.$$ ] || fail "man page warnings: $(cat /tmp/package-check-groff.$$)"
  rm -f /tmp/package-check-groff.$$
fi
bash -c 'source /usr/share/bash-completion/completions/injector && complete -p injector' >/dev/null ||
  fail "bash completion does not load"
for unit in injector-agent@.service injector-gameday@.service injector-gameday@.timer; do
  grep -q "/usr/local" "/usr/lib/systemd/system/$unit" && fail "$unit names /usr/local"
done
grep -q "ExecStart=/usr/bin/injector run" /usr/lib/systemd/system/injector-gameday@.service || fail "gameday ExecStart"
grep -q "ExecStart=/usr/bin/injector agent" /usr/lib/systemd/system/injector-agent@.service || fail "agent ExecStart"
if command -v systemd-analyze >/dev/null; then
  out=$(systemd-analyze verify /usr/lib/systemd/system/injector-agent@check.service \
          /usr/lib/systemd/system/injector-gameday@check.service /usr/lib/systemd/system/injector-gameday@check.timer 2>&1) ||
    fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
fi

dpkg --purge injector >/dev/null
installed=0
! dpkg-query -W -f='${Status}' injector 2>/dev/null | grep -q "ok installed" || fail "still installed"
left=()
for f in $files; do [ -e "$f" ] || [ -L "$f" ] && left+=("$f"); done
[ ${#left[@]} -eq 0 ] || fail "left after removal: ${left[*]}"
[ ! -e /usr/share/injector ] || fail "/usr/share/injector left after removal"
echo "package-check: ok (${#examples[@]} examples validated; installed, checked and removed cleanly)"

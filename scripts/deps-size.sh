#!/usr/bin/env bash
# Estimates what `install-deps.sh run` and `install-deps.sh test` install on a fresh Debian: apt
# plans the install against a dpkg status that holds only this machine's Priority
# required/important/Essential packages and what they depend on (a minimal system), with no
# recommends, as install-deps.sh installs; the sizes are apt's metadata for the planned packages.
# Changes nothing (apt-get -s). The README's figures were measured on a fresh Debian 12 root;
# this checks them after a set changes. Installed-Size is in KiB, printed in MB of 10^6 bytes
# as apt prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
status=$(mktemp)
trap 'rm -f "$status"' EXIT
python3 - "$status" <<'PY'
import sys
stanzas = open("/var/lib/dpkg/status").read().strip().split("\n\n")
pkgs, provides = {}, {}
for s in stanzas:
    f = {}
    for line in s.splitlines():
        if not line.startswith(" ") and ":" in line:
            k, _, v = line.partition(":")
            f[k] = v.strip()
    if "install ok installed" not in f.get("Status", ""):
        continue
    pkgs.setdefault(f["Package"], []).append((s, f))
    for p in f.get("Provides", "").split(","):
        if p.strip():
            provides.setdefault(p.strip().split(" ")[0], []).append(f["Package"])
base = {n for n, l in pkgs.items()
        if any(f.get("Priority") in ("required", "important") or f.get("Essential") == "yes" for _, f in l)}
todo = list(base)
while todo:
    for _, f in pkgs[todo.pop()]:
        for dep in (f.get("Depends", "") + "," + f.get("Pre-Depends", "")).split(","):
            for alt in dep.split("|"):
                name = alt.strip().split(" ")[0].split(":")[0]
                found = [name] if name in pkgs else provides.get(name, [])
                if found:
                    for c in found:
                        if c not in base:
                            base.add(c)
                            todo.append(c)
                    break
open(sys.argv[1], "w").write("\n\n".join(s for n in base for s, _ in pkgs[n]) + "\n")
PY
for set in run test; do
  planned=$(apt-get -s -o Dir::State::status="$status" install --no-install-recommends \
              $(./scripts/install-deps.sh "$set" --print) 2>/dev/null |
            awk '/^Inst /{gsub(/[()]/, "", $3); gsub(/[()]/, "", $4); print $2 "=" ($3 ~ /^\[/ ? $4 : $3)}')
  apt-cache show --no-all-versions $planned 2>/dev/null |
    awk -v set="$set" '/^Package:/{n++} /^Size:/{d+=$2} /^Installed-Size:/{i+=$2}
         END {printf "install-deps.sh %s: %d packages, %.0f MB to download, %.0f MB installed\n", set, n, d/1e6, i*1024/1e6}'
done

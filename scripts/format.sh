#!/usr/bin/env bash
# Formats every C/C++ file of the project with clang-format: .clang-format at the top for C++,
# bpf/.clang-format (kernel style, tabs) for the BPF C. Generated files (skeletons, build
# directories) are never tracked, so the list is git's.
#   scripts/format.sh           rewrite the files in place
#   scripts/format.sh --check   change nothing; list the files that differ and exit 1 if any do
set -euo pipefail
cd "$(dirname "$0")/.."

mode=fix
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--check]" >&2; exit 64 ;;
esac

cf=${CLANG_FORMAT:-clang-format}
command -v "$cf" >/dev/null || { echo "format.sh: $cf not found (apt-get install clang-format)" >&2; exit 69; }

mapfile -t files < <(git ls-files -- '*.c' '*.h' '*.cpp' '*.hpp' | grep -v -e '\.skel\.h$' -e '^build')
[ "${#files[@]}" -gt 0 ] || { echo "format.sh: no files" >&2; exit 1; }

if [ "$mode" = fix ]; then
  "$cf" -i --style=file "${files[@]}"
  echo "formatted ${#files[@]} files"
  exit 0
fi

bad=()
for f in "${files[@]}"; do
  "$cf" --style=file --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
  printf 'not formatted: %s\n' "${bad[@]}"
  echo "${#bad[@]} of ${#files[@]} files differ; scripts/format.sh fixes them" >&2
  exit 1
fi
echo "all ${#files[@]} files formatted"

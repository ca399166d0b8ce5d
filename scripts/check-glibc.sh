#!/usr/bin/env bash
# Fails unless every named function's bootstrap needs at most glibc 2.34 (Amazon Linux 2023, the
# provided.al2023 runtime). Usage: scripts/check-glibc.sh secret-rotation-postgres …
set -euo pipefail
cd "$(dirname "$0")/.."
MAX="${GLIBC_MAX:-2.34}"
status=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for f in "$@"; do
  zip="target/lambda/$f/bootstrap.zip"
  [ -f "$zip" ] || { echo "[glibc] $zip is missing: run make build" >&2; status=1; continue; }
  bin="$work/$f"
  python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("bootstrap"))' "$zip" "$bin"
  highest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  if [ "$(printf '%s\n%s\n' "$highest" "$MAX" | sort -V | tail -1)" = "$MAX" ]; then
    echo "[glibc] $f needs GLIBC_$highest (<= $MAX): ok"
  else
    echo "[glibc] $f needs GLIBC_$highest, more than provided.al2023's $MAX" >&2
    status=1
  fi
done
exit $status

#!/usr/bin/env bash
# Fails unless every named function's bootstrap needs at most glibc 2.34 (Amazon Linux 2023, the
# provided.al2023 runtime). Usage: scripts/check-glibc.sh secret-rotation-postgres …
set -euo pipefail
cd "$(dirname "$0")/.."
MAX="${GLIBC_MAX:-2.34}"
status=0
for f in "$@"; do
  bin="target/lambda/$f/bootstrap"
  [ -f "$bin" ] || { echo "[glibc] $bin is missing: run make build" >&2; status=1; continue; }
  highest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  if [ "$(printf '%s\n%s\n' "$highest" "$MAX" | sort -V | tail -1)" = "$MAX" ]; then
    echo "[glibc] $f needs GLIBC_$highest (<= $MAX): ok"
  else
    echo "[glibc] $f needs GLIBC_$highest, more than provided.al2023's $MAX" >&2
    status=1
  fi
done
exit $status

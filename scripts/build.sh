#!/usr/bin/env bash
# `make build`: one provided.al2023 `bootstrap` zip per function, built with cargo-lambda (which links
# against an older glibc through zig), then checked against the runtime's glibc 2.34.
#   ARCH=x86_64 (default) or ARCH=arm64 (needs the aarch64-unknown-linux-gnu target: rustup target add …)
set -euo pipefail
cd "$(dirname "$0")/.."

FUNCTIONS=(secret-rotation-postgres secret-rotation-redis secret-rotation-jwt secret-rotation-monitor)
ARCH="${ARCH:-x86_64}"
case "$ARCH" in
  x86_64) arch_flag=--x86-64 ;;
  arm64) arch_flag=--arm64 ;;
  *) echo "ARCH must be x86_64 or arm64" >&2; exit 2 ;;
esac

if ! command -v cargo-lambda >/dev/null 2>&1; then
  echo "[build] pip install cargo-lambda (brings zig)"
  python3 -m pip install -q 'cargo-lambda>=1.8,<2'
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi

packages=()
for f in "${FUNCTIONS[@]}"; do packages+=(-p "$f"); done
cargo lambda build --release --output-format zip "$arch_flag" "${packages[@]}"

scripts/check-glibc.sh "${FUNCTIONS[@]}"

printf '\n%-28s %12s\n' function "zip (bytes)"
for f in "${FUNCTIONS[@]}"; do
  printf '%-28s %12s  %s\n' "$f" "$(stat -c %s "target/lambda/$f/bootstrap.zip")" "target/lambda/$f/bootstrap.zip"
done

#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine, and nothing that is there.
# Fails loudly when something cannot be installed: tests never skip a missing service.
set -euo pipefail

log() { printf '[deps] %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  log "apt-get install $*"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; then
    as_root apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
  fi
}

pg_bindir() {
  if have pg_config && [ -x "$(pg_config --bindir)/postgres" ]; then pg_config --bindir; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

have redis-server || apt_install redis-server
[ -n "$(pg_bindir)" ] && [ -x "$(pg_bindir)/postgres" ] || apt_install postgresql
have setpriv || apt_install util-linux

if ! have moto_server; then
  log "pip install moto[server]"
  python3 -m pip install -q 'moto[server]>=5,<6'
  have pyenv && pyenv rehash || true
fi
have moto_server || { log "moto_server is still not on PATH after installing moto[server]"; exit 1; }
# The test kit runs moto's server through python3 (tests/src/emulator_server.py).
python3 -c 'import moto.server' || { log "python3 cannot import moto.server"; exit 1; }

have terraform || { log "terraform is missing: the machine image provides it; install Terraform >= 1.6"; exit 1; }
for component in rustfmt clippy; do
  cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 || rustup component add "$component"
done

log "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), postgres $("$(pg_bindir)/postgres" --version | awk '{print $3}'), moto $(python3 -c 'import moto; print(moto.__version__)'), $(terraform version 2>/dev/null | head -1)"

# The IAM proof's policy evaluator (test-only, pinned by iam-check/package-lock.json).
iam_check="$(cd "$(dirname "$0")/../iam-check" && pwd)"
have node && have npm || apt_install nodejs npm
if [ ! -d "$iam_check/node_modules/@cloud-copilot/iam-simulate" ] || [ "$iam_check/package-lock.json" -nt "$iam_check/node_modules/.package-lock.json" ]; then
  log "npm ci --prefix iam-check"
  npm ci --prefix "$iam_check" --no-audit --no-fund --loglevel=error >/dev/null
fi
node "$iam_check/evaluate.js" --self-check || { log "the IAM evaluator fails its self-check"; exit 1; }

#!/usr/bin/env bash
# `make bench`: cold start, rotation latency, memory, Secrets Manager calls and a fleet run of the
# rotation functions against a local stack (moto, PostgreSQL, redis-server). See BENCHMARKS.md.
#
# Measures the shipped artefact when there is one: the `bootstrap` inside
# target/lambda/secret-rotation-<kind>/bootstrap.zip (`make build`); otherwise the release binary
# target/release/secret-rotation-<kind>, built here when missing (about 5 minutes per function on
# 2 cores), reported with "zip: not built".
#
#   BENCH_SMOKE=1     short run for CI: 3 rotations, 3 cold starts, a fleet of 20; measures debug
#                     binaries (make test's build, reused) unless BENCH_PROFILE=release
#   BENCH_PROFILE     release (default) | debug
#   BENCH_REBUILD=1   rebuild target/release binaries even when they exist (cargo decides what is
#                     stale); zips are `make build`'s
#   BENCH_ROTATIONS, BENCH_COLD_STARTS, BENCH_FLEET=100,1000, BENCH_CONCURRENCY=32,
#   BENCH_ONLY=postgres,redis,elasticache,jwt,fleet,health   passed through to the bench binary
#   BENCH_HEALTH=10000   secrets in the health run (the monitor's binary; 300 in a smoke run)
#   BENCH_LAMBDA_MEMORY_MB=128   run the functions with Lambda's CPU share at that memory size (a CPU
#                     cgroup with a CFS quota: needs write access to the cgroup fs; fails otherwise)
#
# Exits non-zero when any rotation or check fails (a missed target is reported, not fatal). The
# figures are also written to target/bench/latest.md.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
target=${CARGO_TARGET_DIR:-target}
smoke=${BENCH_SMOKE:-0}
if [ "$smoke" = 1 ]; then default_profile=debug; else default_profile=release; fi
profile=${BENCH_PROFILE:-$default_profile}
case "$profile" in
  release | debug) ;;
  *) echo "bench: BENCH_PROFILE must be release or debug" >&2; exit 2 ;;
esac
export BENCH_PROFILE=$profile
out=$target/bench
mkdir -p "$out"

log() { printf '[bench] %s\n' "$*"; }
wanted() { [ -z "${BENCH_ONLY:-}" ] || [[ ",${BENCH_ONLY}," == *",$1,"* ]]; }
# The ElastiCache figures come from the Redis function's binary, the health run from the monitor's.
needed() {
  case "$1" in
    monitor) wanted health ;;
    redis) wanted redis || wanted elasticache ;;
    *) wanted "$1" ;;
  esac
}

# Which binary to measure per function; build the missing ones in one cargo invocation.
to_build=()
for kind in postgres redis jwt monitor; do
  needed "$kind" || continue
  upper=${kind^^}
  zip=$target/lambda/secret-rotation-$kind/bootstrap.zip
  if [ "$profile" = release ] && [ -f "$zip" ]; then
    dir=$out/bin/$kind
    rm -rf "$dir" && mkdir -p "$dir"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("bootstrap", sys.argv[2])' "$zip" "$dir"
    chmod +x "$dir/bootstrap"
    export "BENCH_${upper}_BIN=$dir/bootstrap" "BENCH_${upper}_ZIP=$zip"
    log "$kind: measuring the bootstrap inside $zip"
  else
    bin=$target/$profile/secret-rotation-$kind
    export "BENCH_${upper}_BIN=$bin" "BENCH_${upper}_ZIP="
    if [ "$profile" = release ] && { [ "${BENCH_REBUILD:-0}" = 1 ] || [ ! -x "$bin" ]; }; then
      to_build+=(-p "secret-rotation-$kind")
    fi
    if [ "$profile" = release ]; then log "$kind: $zip not built; measuring $bin"; fi
  fi
done
if [ "$profile" = debug ]; then
  # The same invocation as `make test`'s build (same features), so after it this is a no-op.
  log "building the workspace (debug, as make test does), the bench included"
  "$CARGO" build --workspace --all-targets
else
  if [ ${#to_build[@]} -gt 0 ]; then
    log "building ${to_build[*]} (release)"
    "$CARGO" build --release "${to_build[@]}"
  fi
  log "building the bench binary"
  "$CARGO" build -q -p testkit --bin bench
fi

pg_bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
{
  echo "## Machine and command"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo ' + uncommitted changes in the tree')"
  echo "- cores (nproc): $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "- memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); kernel $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- $(rustc --version); PostgreSQL $("$pg_bindir/postgres" --version 2>/dev/null | awk '{print $3}'); redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'); moto $(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')"
  echo "- command: \`$(env | grep -E '^BENCH_(SMOKE|ROTATIONS|COLD_STARTS|FLEET|CONCURRENCY|ONLY|REBUILD|LAMBDA_MEMORY_MB|HEALTH)=' | sort | tr '\n' ' ')scripts/bench.sh\` (profile: $profile)"
  for kind in postgres redis jwt monitor; do
    upper=${kind^^}
    bin_var=BENCH_${upper}_BIN
    zip_var=BENCH_${upper}_ZIP
    if [ -n "${!zip_var:-}" ]; then
      echo "- $kind: the bootstrap in ${!zip_var} (zip built $(date -u -r "${!zip_var}" +%Y-%m-%dT%H:%MZ))"
    elif [ -n "${!bin_var:-}" ]; then
      echo "- $kind: ${!bin_var} (built $(date -u -r "${!bin_var}" +%Y-%m-%dT%H:%MZ))"
    fi
  done
  echo
} | tee "$out/latest.md"

status=0
"$target/debug/bench" | tee -a "$out/latest.md" || status=$?
echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/latest.md"
exit "$status"

#!/usr/bin/env bash
# Soak: sustained ingest into the published AOT server over a fresh data directory, with a dashboard query over the
# recent window every 2 s (bench/Arc.Soak). Every 10 s a row: acknowledged points and rate, RSS (and anonymous vs
# file-backed), the server's memory consumers, Parquet files (total, hour partitions, most in one hour) and the query's
# p50/p99; at the end, after a flush, the stored points are counted (count and count(DISTINCT (host, time)) against
# the acknowledged ones, exit code 1 when they differ), and the query's p50/p99 per third of the run.
# Results (samples.csv, summary.json, server.log) go to artifacts/soak/<UTC time> unless --out says otherwise.
#
# Usage: scripts/soak.sh [--seconds 600] [--rate 100000 (points/s; 0 as fast as possible)] [--format lp|msgpack]
#          [--hosts 1000] [--fields 10] [--clients 4] [--lines 1000 (points per request)] [--step-ms N (data time per
#          tick; default real time)] [--query-every-ms 2000] [--window-minutes 5] [--sample-seconds 10]
#          [--rest-seconds 30] [--out DIR] [--binary PATH]
# Server settings come from the environment as usual (ARC_DATABASE_MEMORY_LIMIT=1GB scripts/soak.sh ...).
# Publishes to artifacts/publish first unless the binary is there. A one-minute smoke: scripts/soak.sh --seconds 60.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
binary=artifacts/publish/arc-native
out=artifacts/soak/$(date -u +%Y%m%d-%H%M%S)
pass=()
while [ $# -gt 0 ]; do
  case $1 in
    --binary) binary=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --*) pass+=("$1" "$2"); shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$binary" ] || scripts/publish-aot.sh "$(dirname "$binary")" >/dev/null
dotnet build bench/Arc.Soak -c Release -nologo -v q >/dev/null
binary=$(realpath "$binary")
mkdir -p "$out"
out=$(realpath "$out")
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
port=$(free_port)
token=arc_soak-token-0123456789abcdefghijklmnopqrstuv
(cd "$work" && exec env ARC_AUTH_BOOTSTRAP_TOKEN=$token ARC_AUTH_DB_PATH="$work/arc.db" ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port \
  ARC_STORAGE_LOCAL_PATH="$work/data" ARC_LOG_LEVEL=${ARC_LOG_LEVEL:-warn} "$binary" >"$out/server.log" 2>&1) &
pid=$!
wait_ready "http://127.0.0.1:$port" "$out/server.log"
status=0
dotnet bench/Arc.Soak/bin/Release/net10.0/Arc.Soak.dll --url "http://127.0.0.1:$port" --token "$token" --pid "$pid" \
  --data "$work/data" --out "$out" "${pass[@]}" || status=$?
exit $status

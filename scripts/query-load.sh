#!/usr/bin/env bash
# The query output load figure: starts the Native AOT server (published to artifacts/publish unless it is there) on a free
# port over a fresh data directory, writes 1M rows through line protocol, and runs the same 1M-row queries through the
# JSON, Arrow and msgpack endpoints (bench/Arc.QueryLoad). Usage: scripts/query-load.sh [runs]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
runs=${1:-5}
[ -x artifacts/publish/arc-native ] || scripts/publish-aot.sh artifacts/publish >/dev/null
dotnet build bench/Arc.QueryLoad -c Release -nologo -v q >/dev/null
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(free_port)
token=arc_query-load-token-0123456789abcdefghijklmno
ARC_AUTH_BOOTSTRAP_TOKEN=$token ARC_AUTH_DB_PATH="$work/arc.db" ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port ARC_STORAGE_LOCAL_PATH="$work/data" ARC_INGEST_MAX_BUFFER_AGE_MS=500 ARC_LOG_LEVEL=warn \
  artifacts/publish/arc-native >"$work/server.log" 2>&1 &
pid=$!
wait_ready "http://127.0.0.1:$port" "$work/server.log"
dotnet bench/Arc.QueryLoad/bin/Release/net10.0/Arc.QueryLoad.dll --url "http://127.0.0.1:$port" --token "$token" --rows 1000000 --runs "$runs"

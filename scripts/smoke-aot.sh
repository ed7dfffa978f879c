#!/usr/bin/env bash
# Copies the published distribution (the binary and whatever is beside it: the native libraries, or nothing in the
# single-file layout) into an empty directory, starts ./arc-native there on a free port, writes line protocol, queries
# it back, checks the healthcheck subcommand, stops it with SIGTERM and checks the Parquet file survived.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
published=$(realpath "${1:-artifacts/publish/arc-native}")
work=$(mktemp -d)
cp -p "$(dirname "$published")"/* "$work/"
binary=./arc-native
log="$work/server.log"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
cd "$work"
"$binary" --version
token=arc_smoke-test-token-0123456789abcdefghijklmnop
ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port ARC_INGEST_MAX_BUFFER_AGE_MS=100 ARC_AUTH_BOOTSTRAP_TOKEN=$token "$binary" >"$log" 2>&1 &
pid=$!
wait_ready "http://127.0.0.1:$port" "$log"
if [ ! -e libduckdb.so ]; then # single-file layout: the libraries must come from the bundle, through a memfd
  for library in libduckdb.so ParquetSharpNative.so; do
    grep -q "/memfd:$library" "/proc/$pid/maps" || { echo "embedded $library is not loaded from a memfd" >&2; exit 1; }
  done
fi

denied=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$port/write?db=smoke" --data-binary 'cpu v=1')
[ "$denied" = 401 ] || { cat "$log"; echo "a write without a token returned $denied, not 401" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$port/write?db=smoke" -H "Authorization: Bearer $token" \
  --data-binary $'cpu,host=a usage=1.5,n=7i 1700000000000000001\ncpu,host=b usage=2.5,n=8i 1700000001000000000\n')
[ "$status" = 204 ] || { cat "$log"; echo "write returned $status" >&2; exit 1; }

expected='"data":[["2023-11-14T22:13:20.000000001Z","a",1.5,7],["2023-11-14T22:13:21Z","b",2.5,8]]'
result=""
for _ in $(seq 1 50); do
  result=$(curl -s -XPOST "http://127.0.0.1:$port/api/v1/query" -H 'x-arc-database: smoke' -H "Authorization: Bearer $token" \
    -d '{"sql":"SELECT time, host, usage, n FROM cpu ORDER BY time"}')
  [[ "$result" == *"$expected"* ]] && break
  sleep 0.1
done
[[ "$result" == *"$expected"* ]] || { cat "$log"; echo "unexpected query result: $result" >&2; exit 1; }

ARC_SERVER_PORT=$port "$binary" healthcheck || { cat "$log"; echo "healthcheck failed against a running server" >&2; exit 1; }

kill -TERM "$pid"
wait "$pid" || { cat "$log"; echo "server exited with an error after SIGTERM" >&2; exit 1; }
pid=""
files=$(find "$work/data/arc/smoke/cpu" -name '*.parquet' | wc -l)
[ "$files" -ge 1 ] || { echo "no Parquet file under ./data/arc" >&2; exit 1; }
if ARC_SERVER_PORT=$port "$binary" healthcheck 2>/dev/null; then echo "healthcheck passed with no server" >&2; exit 1; fi
echo "AOT smoke test passed ($(ls "$work" | grep -v -x -e data -e server.log | tr '\n' ' ')from an empty directory): write, query, healthcheck and clean shutdown ($files Parquet file(s))"

#!/usr/bin/env bash
# Exercises the query outputs on the published Native AOT binary (code paths the JIT tests cannot prove AOT-safe):
# Arrow IPC with zstd and lz4 bodies read by Arrow JS, msgpack, CSV, gzip/zstd response bodies, the estimate, the
# measurement endpoint's where validation (DuckDB's parse tree, System.Text.Json nodes) and the measurement list.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
binary=$(realpath "${1:-artifacts/publish/arc-native}")
work=$(mktemp -d)
log="$work/server.log"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { cat "$log"; echo "query outputs smoke test: $*" >&2; exit 1; }

port=$(free_port)
cd "$work"
token=arc_smoke-query-token-0123456789abcdefghijklmn
auth=(-H "Authorization: Bearer $token")
ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port ARC_INGEST_MAX_BUFFER_AGE_MS=100 ARC_AUTH_BOOTSTRAP_TOKEN=$token "$binary" >"$log" 2>&1 &
pid=$!
url="http://127.0.0.1:$port"
wait_ready "$url" "$log"

curl -fsS "${auth[@]}" -XPOST "$url/write?db=smoke" --data-binary $'cpu,host=a usage=1.5,n=7i 1700000000000000001\ncpu,host=b usage=2.5,n=8i 1700000001000000000\n' >/dev/null
for _ in $(seq 1 50); do
  [[ $(curl -s "${auth[@]}" "$url/api/v1/measurements") == *'"count":1'* ]] && break
  sleep 0.1
done

query='{"sql":"SELECT time, host, usage, n FROM cpu ORDER BY time"}'
for compression in none zstd lz4; do
  curl -fsS "${auth[@]}" -XPOST "$url/api/v1/query/arrow" -H 'x-arc-database: smoke' -H "x-arc-arrow-compression: $compression" -d "$query" -o "$work/r.arrows"
  decoded=$(node "$root/tests/js-arrow/read-arrow.mjs" "$work/r.arrows")
  [[ "$decoded" == *'"numRows":2'* && "$decoded" == *'"time":["1700000000000000001","1700000001000000000"]'* ]] ||
    fail "Arrow ($compression) decoded as $decoded"
done

msgpack=$(curl -fsS "${auth[@]}" -XPOST "$url/api/v1/query/msgpack" -H 'x-arc-database: smoke' -d "$query" | od -An -tx1 | tr -d ' \n')
[[ "$msgpack" == 86a773756363657373c3* && "$msgpack" == *d7ff0000000465* ]] || fail "msgpack response $msgpack"

csv=$(curl -fsS "${auth[@]}" -XPOST "$url/api/v1/query/stream" -H 'x-arc-database: smoke' -H 'Accept-Encoding: gzip' -d "$query" | gunzip)
[[ "$csv" == $'time,host,usage,n\r\n2023-11-14T22:13:20.000000001Z,a,1.5,7\r\n'* ]] || fail "CSV response $csv"

json=$(curl -fsS "${auth[@]}" -XPOST "$url/api/v1/query" -H 'x-arc-database: smoke' -H 'Accept-Encoding: zstd' -d "$query" -o "$work/r.zst" -w '%{content_type}')
[ -s "$work/r.zst" ] || fail "empty zstd JSON response ($json)"

estimate=$(curl -fsS "${auth[@]}" -XPOST "$url/api/v1/query/estimate" -H 'x-arc-database: smoke' -d "$query")
[[ "$estimate" == *'"estimated_rows":2'* && "$estimate" == *'"files":1'* ]] || fail "estimate $estimate"

rows=$(curl -fsS "${auth[@]}" "$url/api/v1/query/cpu?database=smoke&where=host%20%3D%20'b'&order_by=time%20ASC")
[[ "$rows" == *'"data":[["2023-11-14T22:13:21Z","b",2.5,8]]'* ]] || fail "measurement query $rows"
status=$(curl -s "${auth[@]}" -o /dev/null -w '%{http_code}' "$url/api/v1/query/cpu?database=smoke&where=1%3D1%20UNION%20SELECT%201")
[ "$status" = 400 ] || fail "a UNION in where returned $status"

kill -TERM "$pid"
wait "$pid" || fail "server exited with an error after SIGTERM"
pid=""
echo "AOT query outputs smoke test passed: arrow (none, zstd, lz4), msgpack, csv+gzip, json+zstd, estimate, measurement query"

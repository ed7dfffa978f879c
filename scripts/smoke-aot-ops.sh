#!/usr/bin/env bash
# Exercises the operations features on the published Native AOT binary: JSON console logs (every line one JSON object,
# the request id in the scopes, no token anywhere), x-request-id, CORS preflight, the result cache, /metrics in
# Prometheus text (Arrow's allocator jemalloc), /metrics/query-pool, /cache/stats and /cache/clear, the query priority header, rate limiting
# with 429 + Retry-After, and the API description at /openapi.json.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
binary=$(realpath "${1:-artifacts/publish/arc-native}")
work=$(mktemp -d)
log="$work/server.log"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { cat "$log"; echo "operations smoke test: $*" >&2; exit 1; }

port=$(free_port)
cd "$work"
token=arc_smoke-ops-token-0123456789abcdefghijklmnopq
auth=(-H "Authorization: Bearer $token")
ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port ARC_AUTH_BOOTSTRAP_TOKEN=$token ARC_LOG_FORMAT=json ARC_LOG_REQUESTS=true \
  ARC_RATE_LIMIT_ENABLED=true ARC_RATE_LIMIT_REQUESTS_PER_SECOND=1 ARC_RATE_LIMIT_BURST=40 "$binary" >"$log" 2>&1 &
pid=$!
url="http://127.0.0.1:$port"
wait_ready "$url" "$log"

curl -fsS -XPOST "$url/write?db=ops&u=x&p=$token" --data-binary 'cpu,host=a v=1 1700000000000000000' || fail "write failed"
query='{"sql":"SELECT host, v FROM cpu"}'
first=$(curl -fsS -D "$work/h1" "${auth[@]}" -XPOST "$url/api/v1/query" -H 'x-arc-database: ops' -H 'x-request-id: smoke-req-1' \
  -H 'x-arc-query-priority: high' -d "$query")
grep -qi '^x-request-id: smoke-req-1' "$work/h1" || fail "x-request-id not echoed"
grep -qi '^x-arc-cache: miss' "$work/h1" || fail "first query was not a cache miss"
curl -fsS -D "$work/h2" "${auth[@]}" -XPOST "$url/api/v1/query" -H 'x-arc-database: ops' -d "$query" >/dev/null
grep -qi '^x-arc-cache: hit' "$work/h2" || fail "second query was not a cache hit"
[[ "$first" == *'"data":[["a",1]]'* ]] || fail "unexpected query result: $first"
curl -fsS -XPOST "$url/write?db=ops" "${auth[@]}" --data-binary 'cpu,host=b v=2 1700000000000000001'
second=$(curl -fsS -D "$work/h3" "${auth[@]}" -XPOST "$url/api/v1/query" -H 'x-arc-database: ops' -d "$query")
grep -qi '^x-arc-cache: miss' "$work/h3" || fail "a write did not invalidate the cached result"
[[ "$second" == *'"row_count":2'* ]] || fail "the write is not in the result: $second"

preflight=$(curl -s -D - -o /dev/null -XOPTIONS "$url/api/v1/query" -H 'Origin: http://dash.example' -H 'Access-Control-Request-Method: POST')
[[ "$preflight" == *"Access-Control-Allow-Origin: *"* ]] || fail "CORS preflight: $preflight"

metrics=$(curl -fsS "${auth[@]}" "$url/metrics")
for name in arc_http_request_duration_seconds_bucket arc_ingest_records_total arc_query_pool_queue_depth arc_query_cache_hits_total \
  arc_wal_entries_total arc_compaction_jobs_total arc_flush_duration_seconds_count; do
  [[ "$metrics" == *"$name"* ]] || fail "/metrics lacks $name"
done
# Arrow C++ (flushes, merges) runs on jemalloc unless the environment says otherwise: its default, mimalloc, kept
# hundreds of MB resident in a sustained ingest (docs/operations.md, Memory).
[[ "$metrics" == *'arc_parquet_memory_bytes{pool="jemalloc"}'* ]] || fail "/metrics: Arrow's allocator is not jemalloc: $(grep parquet_memory <<<"$metrics")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/metrics")" = 401 ] || fail "/metrics without a token is not 401"
pool=$(curl -fsS "${auth[@]}" "$url/metrics/query-pool")
[[ "$pool" == *'"acquired_by_priority":{"low":0,"normal":'*'"high":1'* ]] || fail "/metrics/query-pool: $pool"
openapi=$(curl -fsS "${auth[@]}" "$url/openapi.json") || fail "/openapi.json failed"
[[ "$openapi" == *'"openapi": "3.'*'"/api/v1/query"'* ]] || fail "/openapi.json: ${openapi:0:300}"
stats=$(curl -fsS "${auth[@]}" "$url/cache/stats")
[[ "$stats" == *'"hits":1'* ]] || fail "/cache/stats: $stats"
cleared=$(curl -fsS "${auth[@]}" -XPOST "$url/cache/clear")
[[ "$cleared" == *'"cleared":1'* ]] || fail "/cache/clear: $cleared"

# The admin token's bucket holds 40 requests and refills one a second: a burst of 60 must see 429s with Retry-After.
limited=0
for _ in $(seq 1 60); do
  code=$(curl -s -D "$work/h4" -o /dev/null -w '%{http_code}' "${auth[@]}" "$url/api/v1/measurements")
  if [ "$code" = 429 ]; then
    grep -qi '^retry-after: [0-9]' "$work/h4" || fail "429 without Retry-After"
    limited=$((limited + 1))
  fi
done
[ "$limited" -gt 0 ] || fail "no request was rate limited"

kill -TERM "$pid"
wait "$pid" || fail "server exited with an error after SIGTERM"
pid=""
python3 - "$log" "$token" <<'EOF' || fail "bad JSON log"
import json, sys
path, token = sys.argv[1], sys.argv[2]
lines = [l for l in open(path, encoding="utf-8").read().splitlines() if l.strip()]
entries = [json.loads(l) for l in lines]  # every line is one JSON object
assert not any(token in l for l in lines), "a token was logged"
assert not any(token[4:24] in l for l in lines), "part of a token was logged"
request = [e for e in entries if any(s.get("RequestId") == "smoke-req-1" for s in e.get("Scopes", []))]
assert request and request[0]["State"]["Status"] == 200, request
print(f"{len(entries)} JSON log lines, request id in scope, no token")
EOF
echo "AOT operations smoke test passed: JSON logs, request id, cache hit/invalidation, CORS, metrics, pool, cache endpoints, rate limit ($limited of 60 limited)"

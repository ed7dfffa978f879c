#!/usr/bin/env bash
# Compaction on Telegraf-like cpu data: 1000 hosts, 10 float fields, POINTS points (default 1M) over 6 hours, written in
# requests of 1000 lines with small buffers (many files). Reports file count and bytes before/after, bytes per value, and
# the time of two dashboard queries (per-host hourly means over the 6 h, for all hosts and for one host) before/after,
# for both compaction sort orders, in one run. Usage: scripts/compaction-bench.sh [points]
set -euo pipefail
cd "$(dirname "$0")/.."
points=${1:-1000000}
[ -x artifacts/publish/arc-native ] || scripts/publish-aot.sh artifacts/publish >/dev/null
dotnet build bench/Arc.LoadTest -c Release -nologo -v q >/dev/null
binary=$(realpath artifacts/publish/arc-native)
token=arc_load-test-token-0123456789abcdefghijklmnopq
load="dotnet bench/Arc.LoadTest/bin/Release/net10.0/Arc.LoadTest.dll"
all_hosts="SELECT host, time_bucket(INTERVAL '1 hour', time) AS hour, avg(usage_user) AS mean FROM cpu WHERE time >= '2023-11-14 18:00:00' AND time < '2023-11-15 00:00:00' GROUP BY ALL ORDER BY ALL"
one_host="SELECT time_bucket(INTERVAL '1 hour', time) AS hour, avg(usage_user) AS mean FROM cpu WHERE host = 'host-0421' AND time >= '2023-11-14 18:00:00' AND time < '2023-11-15 00:00:00' GROUP BY ALL ORDER BY ALL"

median_ms() { # url sql -> median of 9 runs in ms (first run discarded as warm-up)
  local url=$1 sql=$2 times=()
  local body; body=$(python3 -c 'import json,sys; print(json.dumps({"sql": sys.argv[1]}))' "$sql")
  curl -fs -o /dev/null -XPOST "$url/api/v1/query" -H 'x-arc-database: bench' -H "Authorization: Bearer $token" -d "$body"
  for _ in $(seq 1 9); do
    times+=("$(curl -fs -o /dev/null -w '%{time_total}' -XPOST "$url/api/v1/query" -H 'x-arc-database: bench' -H "Authorization: Bearer $token" -d "$body")")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]*1000}'
}

for order in tags_time time; do
  work=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  url="http://127.0.0.1:$port"
  (cd "$work" && exec env ARC_AUTH_BOOTSTRAP_TOKEN=$token ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port ARC_LOG_LEVEL=warn ARC_INGEST_MAX_BUFFER_SIZE=5000 \
    ARC_WAL_MAX_AGE_SECONDS=1 ARC_COMPACTION_ENABLED=false ARC_COMPACTION_SORT_ORDER=$order ARC_COMPACTION_HOURLY_MIN_FILES=2 \
    ARC_COMPACTION_MAX_FILES_PER_BATCH=100000 "$binary" >"$work/server.log" 2>&1) &
  pid=$!
  for _ in $(seq 1 100); do curl -fs "$url/ready" >/dev/null 2>&1 && break; sleep 0.1; done
  $load --url "$url" --token "$token" --dataset "$points" --hosts 1000 --hours 6 --lines 1000 --clients 4 --db bench
  until [[ $(curl -fs "$url/ready") == *'"buffered_rows":0'* ]]; do sleep 0.2; done
  sleep 2
  files_before=$(find "$work/data/arc/bench" -name '*.parquet' | wc -l)
  bytes_before=$(find "$work/data/arc/bench" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s}')
  all_before=$(median_ms "$url" "$all_hosts"); one_before=$(median_ms "$url" "$one_host")
  curl -fs -H "Authorization: Bearer $token" -XPOST "$url/api/v1/compaction/trigger?tier=hourly&wait=true" >/dev/null
  files_after=$(find "$work/data/arc/bench" -name '*.parquet' | wc -l)
  bytes_after=$(find "$work/data/arc/bench" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s}')
  all_after=$(median_ms "$url" "$all_hosts"); one_after=$(median_ms "$url" "$one_host")
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$work"
  python3 - "$order" "$points" "$files_before" "$bytes_before" "$files_after" "$bytes_after" "$all_before" "$all_after" "$one_before" "$one_after" <<'PY'
import sys
order, points, fb, bb, fa, ba, ab, aa, ob, oa = sys.argv[1:]
points, fb, bb, fa, ba = int(points), int(fb), int(bb), int(fa), int(ba)
ab, aa, ob, oa = map(float, (ab, aa, ob, oa))
values = points * 10
print(f"sort={order}: files {fb} -> {fa}; bytes {bb} -> {ba} (x{ba/bb:.2f}); bytes/field value {bb/values:.2f} -> {ba/values:.2f}; "
      f"all-hosts query {ab:.1f} ms -> {aa:.1f} ms (x{aa/ab:.2f}); one-host query {ob:.1f} ms -> {oa:.1f} ms (x{oa/ob:.2f})")
PY
done

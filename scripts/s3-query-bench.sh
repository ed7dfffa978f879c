#!/usr/bin/env bash
# A 6 h dashboard query over object storage (Ceph radosgw on loopback) against the local backend, on the same data in
# one run: POINTS points (default 4M; 1000 hosts, 10 float fields) over 24 h, written through the AOT binary, compacted
# hourly, so the last 6 h hold a quarter of them. For each backend: the first query after a restart with the OS page
# cache dropped (object storage: also with an empty local cache, so every file of the 6 h comes from the store), then
# the median of 9 warm runs. Usage: scripts/s3-query-bench.sh [points]   (root: drops the page cache)
set -euo pipefail
cd "$(dirname "$0")/.."
points=${1:-4000000}
[ -x artifacts/publish/arc-native ] || scripts/publish-aot.sh artifacts/publish >/dev/null
dotnet build bench/Arc.LoadTest -c Release -nologo -v q >/dev/null
scripts/ceph-s3.sh install
binary=$(realpath artifacts/publish/arc-native)
token=arc_load-test-token-0123456789abcdefghijklmnopq
load="dotnet bench/Arc.LoadTest/bin/Release/net10.0/Arc.LoadTest.dll"
dashboard="SELECT host, time_bucket(INTERVAL '5 minutes', time) AS t, avg(usage_user) AS user, max(usage_system) AS system FROM cpu WHERE time >= TIMESTAMP '2023-11-15 00:00:00' - INTERVAL 6 HOUR AND time < TIMESTAMP '2023-11-15 00:00:00' GROUP BY ALL ORDER BY ALL"
body=$(python3 -c 'import json,sys; print(json.dumps({"sql": sys.argv[1]}))' "$dashboard")
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  scripts/ceph-s3.sh stop "$work/ceph" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

scripts/ceph-s3.sh start "$work/ceph" >/dev/null
s3port=$(cat "$work/ceph/port")
s3_env=(ARC_STORAGE_BACKEND=ceph ARC_STORAGE_S3_ENDPOINT="http://127.0.0.1:$s3port" ARC_STORAGE_S3_BUCKET=bench
        ARC_STORAGE_S3_ACCESS_KEY=testkey ARC_STORAGE_S3_SECRET_KEY=testsecret)

start_server() { # directory, extra environment...
  local dir=$1; shift
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  url="http://127.0.0.1:$port"
  mkdir -p "$dir"
  (cd "$dir" && exec env ARC_AUTH_BOOTSTRAP_TOKEN=$token ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port ARC_LOG_LEVEL=warn \
    ARC_COMPACTION_ENABLED=false ARC_COMPACTION_HOURLY_MIN_FILES=2 ARC_COMPACTION_MAX_FILES_PER_BATCH=100000 "$@" "$binary" \
    >>"$dir/server.log" 2>&1) &
  pid=$!
  for _ in $(seq 1 300); do curl -fs "$url/ready" >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$dir/server.log"; echo "server did not start" >&2; exit 1
}
stop_server() { kill -TERM "$pid"; wait "$pid" || true; pid=""; }
query_ms() { curl -fs -o /dev/null -w '%{time_total}' -XPOST "$url/api/v1/query" -H 'x-arc-database: bench' -H "Authorization: Bearer $token" -d "$body" | awk '{printf "%.1f", $1*1000}'; }
warm_ms() { local times=(); for _ in $(seq 1 9); do times+=("$(query_ms)"); done; printf '%s\n' "${times[@]}" | sort -n | sed -n 5p; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null && echo dropped || echo "not dropped"; }

results=()
for backend in local s3; do
  extra=(); [ "$backend" = s3 ] && extra=("${s3_env[@]}")
  start_server "$work/$backend" "${extra[@]}"
  $load --url "$url" --token "$token" --dataset "$points" --hosts 1000 --hours 24 --lines 5000 --clients 4 --db bench
  until [[ $(curl -fs "$url/ready") == *'"buffered_rows":0'* ]]; do sleep 0.2; done
  curl -fs -H "Authorization: Bearer $token" -XPOST "$url/api/v1/compaction/trigger?tier=hourly&wait=true" >/dev/null
  stop_server # SIGTERM: flushes, and with object storage waits for the uploads
  cache_dir="$work/$backend"
  if [ "$backend" = s3 ]; then cache_dir="$work/s3-cold"; fi # a new local directory: an empty cache
  files=$(find "$work/$backend/data/arc/bench" -name '*.parquet' | wc -l)
  bytes=$(find "$work/$backend/data/arc/bench" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s}')
  page_cache=$(drop_caches)
  start_server "$cache_dir" "${extra[@]}"
  cold=$(query_ms)
  fetched=$(find "$cache_dir/data/arc/bench" -name '*.parquet' 2>/dev/null | wc -l)
  warm=$(warm_ms)
  stop_server
  results+=("$backend $cold $warm $files $bytes $fetched $page_cache")
done
python3 - "$points" "${results[@]}" <<'PY'
import sys
points = int(sys.argv[1])
rows = {r.split()[0]: r.split() for r in sys.argv[2:]}
for name, r in rows.items():
    _, cold, warm, files, size, fetched, *cache = r
    print(f"{name:5}: cold {float(cold):8.1f} ms, warm (median of 9) {float(warm):7.1f} ms; {files} files, {int(size)/1048576:.1f} MiB "
          f"after compaction; files local after the cold query: {fetched}; page cache {' '.join(cache)}")
l, s = rows["local"], rows["s3"]
print(f"{points} points over 24 h, 6 h dashboard query ({points // 4} points): "
      f"s3/local cold x{float(s[1]) / float(l[1]):.2f}, warm x{float(s[2]) / float(l[2]):.2f}")
PY

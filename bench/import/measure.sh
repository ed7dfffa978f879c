#!/usr/bin/env bash
# Bulk import figures: rows/s and the server's peak RSS (VmHWM) for the same rows sent as a /write body, and imported as
# line protocol, CSV and Parquet, each into a fresh AOT server. Usage: bench/import/measure.sh <published dir> [rows]
set -euo pipefail
bin=${1:?published directory (scripts/publish-aot.sh)}; rows=${2:-2000000}
work=$(mktemp -d /tmp/arc-import-bench-XXXXXX); trap 'rm -rf "$work"' EXIT
token=arc_bench-token-0123456789abcdefghijklmnopqrstuvwxyz
port=18765

python3 - "$work" "$rows" <<'PY'
import sys
work, rows = sys.argv[1], int(sys.argv[2])
base = 1700002800000  # an hour boundary, in ms: the rows (1 ms apart) stay within a few hours
with open(f"{work}/data.lp", "w") as lp, open(f"{work}/data.csv", "w") as csv:
    csv.write("time,host,region,usage_user,usage_system,count\n")
    for i in range(rows):
        t = base + i
        lp.write(f"big,host=server-{i % 100:03d},region=eu-west-{i % 4} usage_user={i % 1000}.25,usage_system={i % 77}.5,count={i}i {t * 1000000}\n")
        csv.write(f"{t},server-{i % 100:03d},eu-west-{i % 4},{i % 1000}.25,{i % 77}.5,{i}\n")
PY

start() { # data dir, extra env...
  local data=$1; shift
  env ARC_SERVER_PORT=$port ARC_STORAGE_LOCAL_PATH="$data" ARC_AUTH_DB_PATH="$data-auth/arc.db" ARC_AUTH_BOOTSTRAP_TOKEN=$token \
    ARC_LOG_LEVEL=warn "$@" "$bin/arc-native" >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "localhost:$port/health" >/dev/null && return; sleep 0.2; done
  echo "server did not start"; cat "$work/server.log"; exit 1
}
stop() { kill "$pid"; wait "$pid" || true; }
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status"; }
run() { # label, curl args...
  local label=$1; shift
  local rss_before; rss_before=$(hwm)
  local seconds; seconds=$(curl -sS -o "$work/answer" -w '%{time_total}' -H "Authorization: Bearer $token" "$@")
  # An import answers the rows it stored (the Parquet file holds one hour of them); a /write answers 204.
  local stored; stored=$(grep -o '"rows_imported":[0-9]*' "$work/answer" | cut -d: -f2 || true)
  stored=${stored:-$rows}
  printf '%-16s %10d rows %8.2f s %12.0f rows/s  peak RSS %5d MB (%d MB before)\n' "$label" "$stored" "$seconds" \
    "$(echo "$stored / $seconds" | bc -l)" "$(hwm)" "$rss_before"
}

ls -la "$work"/data.lp "$work"/data.csv | awk '{print $5, $9}'

# The Parquet file: the CSV imported into a server that flushes once, then its file of the first hour.
start "$work/pq" ARC_INGEST_MAX_BUFFER_SIZE=100000000 ARC_INGEST_MAX_BUFFER_AGE_MS=86400000 ARC_INGEST_MAX_MEMORY=8GB ARC_WAL_ENABLED=false
curl -sS -o /dev/null -H "Authorization: Bearer $token" -F file=@"$work/data.csv" "localhost:$port/api/v1/import/csv?db=pq&measurement=big"
stop
parquet=$(find "$work/pq/pq" -name '*.parquet' | head -1); cp "$parquet" "$work/data.parquet"; ls -la "$work/data.parquet" | awk '{print $5, $9}'

for mode in write lp csv parquet; do
  rm -rf "$work/d" "$work/d-auth"; start "$work/d"
  case $mode in
    write) run "/write body" -XPOST "localhost:$port/api/v1/write?db=b" --data-binary @"$work/data.lp" ;;
    lp) run "import lp" -F file=@"$work/data.lp" "localhost:$port/api/v1/import/lp?db=b" ;;
    csv) run "import csv" -F file=@"$work/data.csv" "localhost:$port/api/v1/import/csv?db=b&measurement=big" ;;
    parquet) run "import parquet" -F file=@"$work/data.parquet" "localhost:$port/api/v1/import/parquet?db=b&measurement=big" ;;
  esac
  stop
done

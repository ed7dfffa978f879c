#!/usr/bin/env bash
# Export jobs on the published Native AOT binary (the JSON contexts, Cronos, the HTTP client and the Parquet writer as
# AOT compiles them): writes points, then runs a one-shot http_json job against a small receiver on loopback and a
# parquet job into a local storage connection, and checks every row arrived (the receiver's row count; Parquet files
# with their magic bytes, and SQL answered by a second server started on the archive directory).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
binary=$(realpath "${1:-artifacts/publish/arc-native}")
work=$(mktemp -d)
log="$work/server.log"
pid="" receiver=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  [ -n "$receiver" ] && kill "$receiver" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { cat "$log"; echo "export smoke test: $*" >&2; exit 1; }

# The receiver: answers 204 to every POST and appends each batch's row_count to a file.
receiver_port=$(free_port)
python3 - "$receiver_port" "$work/received" <<'PY' &
import http.server, json, sys
port, out = int(sys.argv[1]), sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open(out, "a") as f:
            f.write(f'{body["row_count"]} {len(body["rows"])} {self.headers.get("Idempotency-Key") == body["batch_id"]}\n')
        self.send_response(204); self.end_headers()
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
PY
receiver=$!

port=$(free_port)
url="http://127.0.0.1:$port"
token=arc_smoke-export-token-0123456789abcdefghijklm
auth=(-H "Authorization: Bearer $token")
start_server() {
  # The token store beside the data, not in it: ./data/arc.db would lie inside a storage root of ./data (refused).
  (cd "$work" && exec env ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port ARC_AUTH_BOOTSTRAP_TOKEN=$token \
    ARC_AUTH_DB_PATH="$work/auth/arc.db" ARC_STORAGE_LOCAL_PATH="$1" "$binary" >"$log" 2>&1) &
  pid=$!
  wait_ready "$url" "$log"
}
start_server "$work/data"

lines=""
for i in $(seq 0 999); do lines+="cpu,host=h$((i % 4)) usage=$i.5,n=${i}i $((1700000000000000000 + i * 1000000))"$'\n'; done
curl -fsS "${auth[@]}" -XPOST "$url/write?db=exp" --data-binary "$lines" || fail "write failed"
curl -fsS "${auth[@]}" -XPOST "$url/api/v1/connections/storage" -d "{\"name\":\"archive\",\"type\":\"local\",\"path\":\"$work/archive\"}" >/dev/null \
  || fail "creating the storage connection failed"
job() { curl -fsS "${auth[@]}" -XPOST "$url/api/v1/jobs" -d "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
json_job=$(job "{\"name\":\"json\",\"source\":{\"database\":\"exp\",\"measurement\":\"cpu\"},\"batch_size\":300,\"min_age_seconds\":0,
  \"target\":{\"type\":\"http_json\",\"url\":\"http://127.0.0.1:$receiver_port/ingest\"}}") || fail "creating the http_json job failed"
parquet_job=$(job '{"name":"parquet","source":{"database":"exp","measurement":"cpu"},"batch_size":300,"min_age_seconds":0,
  "target":{"type":"parquet","connection":"archive"}}') || fail "creating the parquet job failed"
for id in "$json_job" "$parquet_job"; do
  status=""
  for _ in $(seq 1 300); do
    status=$(curl -fsS "${auth[@]}" "$url/api/v1/jobs/$id" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["status"], j["rows_sent"])')
    [[ "$status" == completed* || "$status" == failed* ]] && break
    sleep 0.1
  done
  [ "$status" = "completed 1000" ] || fail "job $id: $status"
done

[ "$(awk '{ rows += $1; ok += ($1 == $2 && $3 == "True") } END { print rows, NR, ok }' "$work/received")" = "1000 4 4" ] \
  || fail "the receiver got: $(cat "$work/received")"
mapfile -t files < <(find "$work/archive" -name '*.parquet' | sort)
[ "${#files[@]}" = 4 ] || fail "expected 4 Parquet files, found: ${files[*]}"
for file in "${files[@]}"; do
  [ "$(head -c 4 "$file")" = PAR1 ] && [ "$(tail -c 4 "$file")" = PAR1 ] || fail "$file is not a Parquet file"
done

# The archive is in arc-native's layout: a second server started on it answers SQL over the exported rows.
kill "$pid"; wait "$pid" || true; pid=""
start_server "$work/archive"
result=$(curl -fsS "${auth[@]}" -XPOST "$url/api/v1/query" -H 'x-arc-database: exp' \
  -d '{"sql":"SELECT count(*), count(DISTINCT host), sum(n), min(usage), max(usage) FROM cpu"}') || fail "query over the archive failed"
[[ "$result" == *'"data":[[1000,4,499500,0.5,999.5]]'* ]] || fail "query over the archive: $result"
echo "AOT export smoke test passed: http_json (4 batches, idempotency keys) and parquet (4 files in a local connection, read back by a second server)"

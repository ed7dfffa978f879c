#!/usr/bin/env bash
# What query.result_buffer_size buys and costs. One query connection (database.max_connections = 1); a slow client
# (a 16 KiB receive buffer, reading 4 KiB at a time at a fixed rate) downloads a JSON result while a second client sends
# `SELECT 1`. Buffered, the connection is back in the pool as soon as the query ends, so `SELECT 1` does not wait for
# the download; streamed (query.result_buffer_size = 0) it waits until what is left of the download fits in the socket
# buffers. Also: time to first byte and total time of the same result on a fast client, and how long the connection
# was held (/metrics/query-pool's longest execution).
# Usage: scripts/query-buffer-bench.sh [binary] [rows] [bytes/s]   (defaults: artifacts/publish/arc-native, 100000, 2000000)
set -euo pipefail
binary=$(realpath "${1:-artifacts/publish/arc-native}")
rows=${2:-100000}
rate=${3:-2000000}
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
token=arc_bench-buffer-token-0123456789abcdefghijklmn
auth=(-H "Authorization: Bearer $token")
big="{\"sql\":\"SELECT range AS i, repeat('x', 60) AS s FROM range($rows)\"}"
cat >slow.py <<'EOF'
import socket, sys, time
port, token, body, rate = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.connect(("127.0.0.1", port))
s.sendall(b"POST /api/v1/query HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer " + token.encode() +
          b"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
start, total = time.time(), 0
while True:
    data = s.recv(4096)
    if not data:
        break
    total += len(data)
    time.sleep(len(data) / rate)
print(f"{time.time() - start:.2f}")
EOF

run() {
  local buffer=$1
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  local url="http://127.0.0.1:$port"
  ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port ARC_AUTH_BOOTSTRAP_TOKEN=$token ARC_DATABASE_MAX_CONNECTIONS=1 \
    ARC_QUERY_RESULT_BUFFER_SIZE=$buffer ARC_CACHE_ENABLED=false ARC_STORAGE_LOCAL_PATH="$work/data-$buffer" \
    ARC_AUTH_DB_PATH="$work/auth-$buffer/arc.db" "$binary" >"$work/log-$buffer" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "$url/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS -o /dev/null "${auth[@]}" -XPOST "$url/api/v1/query" -d "$big" # warm-up
  local fast
  fast=$(curl -fsS -o /dev/null -w '%{time_starttransfer} %{time_total} %{size_download}' "${auth[@]}" -XPOST "$url/api/v1/query" -d "$big")
  python3 slow.py "$port" "$token" "$big" "$rate" >"$work/slow" &
  local slow_pid=$!
  sleep 0.3
  local second
  second=$(curl -fsS -o /dev/null -w '%{time_total}' "${auth[@]}" -XPOST "$url/api/v1/query" -d '{"sql":"SELECT 1"}')
  wait "$slow_pid"
  local held
  held=$(curl -fsS "${auth[@]}" "$url/metrics/query-pool" | python3 -c 'import json,sys; print(json.load(sys.stdin)["execution"]["max_ms"])')
  read -r ttfb total size <<<"$fast"
  printf '%-24s %9s B | fast client: first byte %6.3f s, total %6.3f s | slow client %5.2f s | SELECT 1 meanwhile %6.3f s | connection held up to %8.1f ms\n' \
    "result_buffer_size=$buffer" "$size" "$ttfb" "$total" "$(cat "$work/slow")" "$second" "$held"
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
}

run 64MB
run 0

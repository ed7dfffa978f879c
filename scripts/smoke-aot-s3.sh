#!/usr/bin/env bash
# The Native AOT binary against a real S3 server (Ceph radosgw on loopback, scripts/ceph-s3.sh): AWSSDK.S3 has to work
# trimmed and AOT-compiled, not only under the JIT the unit tests use. Writes line protocol with storage.backend=ceph,
# stops the server (SIGTERM drains the uploads), then starts a second server with an empty local directory on the
# same bucket and reads the rows back: they can only have come from the object store.
set -euo pipefail
published=$(realpath "${1:-artifacts/publish/arc-native}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
ceph="$work/ceph"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  "$here/ceph-s3.sh" stop "$ceph" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
"$here/ceph-s3.sh" start "$ceph" >/dev/null
s3port=$(cat "$ceph/port")
token=arc_smoke-test-token-0123456789abcdefghijklmnop

start_server() { # $1: local directory
  port=$(free_port)
  mkdir -p "$1"
  (cd "$1" && exec env ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port ARC_AUTH_BOOTSTRAP_TOKEN=$token ARC_INGEST_MAX_BUFFER_AGE_MS=100 \
    ARC_STORAGE_BACKEND=ceph ARC_STORAGE_S3_ENDPOINT="http://127.0.0.1:$s3port" ARC_STORAGE_S3_BUCKET=arc-smoke \
    ARC_STORAGE_S3_ACCESS_KEY=testkey ARC_STORAGE_S3_SECRET_KEY=testsecret "$published" >"$1/server.log" 2>&1) &
  pid=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$1/server.log"; echo "server did not become ready" >&2; exit 1
}
stop_server() {
  kill -TERM "$pid"
  wait "$pid" || { cat "$1/server.log"; echo "server exited with an error after SIGTERM" >&2; exit 1; }
  pid=""
}

start_server "$work/first"
status=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$port/write?db=smoke" -H "Authorization: Bearer $token" \
  --data-binary $'cpu,host=a usage=1.5 1700000000000000000\ncpu,host=b usage=2.5 1700000001000000000\n')
[ "$status" = 204 ] || { cat "$work/first/server.log"; echo "write returned $status" >&2; exit 1; }
ready=$(curl -fsS "http://127.0.0.1:$port/ready")
[[ "$ready" == *'"object_storage"'* ]] || { echo "/ready does not report object storage: $ready" >&2; exit 1; }
stop_server "$work/first"

start_server "$work/second"
expected='"data":[["2023-11-14T22:13:20Z","a",1.5],["2023-11-14T22:13:21Z","b",2.5]]'
result=$(curl -s -XPOST "http://127.0.0.1:$port/api/v1/query" -H 'x-arc-database: smoke' -H "Authorization: Bearer $token" \
  -d '{"sql":"SELECT time, host, usage FROM cpu ORDER BY time"}')
[[ "$result" == *"$expected"* ]] || { cat "$work/second/server.log"; echo "unexpected query result from the object store: $result" >&2; exit 1; }
stop_server "$work/second"
echo "AOT S3 smoke test passed: written by one server, read back from Ceph radosgw by another with an empty local directory"

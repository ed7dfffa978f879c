#!/usr/bin/env bash
# Compression bombs against the published Native AOT binary with its default settings: 2 GiB of zeros as gzip (2 MB on
# the wire) and as zstd (65 KB), sent to the MessagePack endpoint (compression recognised from the magic bytes) and to
# the line-protocol endpoint (declared by Content-Encoding, and recognised without it), one at a time and then four at
# once. Each must be answered 413 naming ingest.max_decompressed_size within BOMB_SECONDS; the server's peak resident
# memory (VmHWM from /proc/PID/status, reset before each round through /proc/PID/clear_refs) may grow by less than
# BOMB_PEAK_MB over the idle level per bomb in flight; afterwards its resident memory (VmRSS) must come back within
# BOMB_RETURN_MB of that level, and the server must still take writes. Then the huge plan: a 20,000-branch UNION ALL
# (inside DuckDB alone 79 s and 7.5 GB to plan and start) under query.timeout = 5, alone and two at once, must be
# answered 400 within 15 s with the same peak bound.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
binary=$(realpath "${1:-artifacts/publish/arc-native}")
peak_limit_mb=${BOMB_PEAK_MB:-600}
return_limit_mb=${BOMB_RETURN_MB:-100}
time_limit_s=${BOMB_SECONDS:-10}
work=$(mktemp -d)
log="$work/server.log"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { tail -n 50 "$log" >&2; echo "bomb smoke test: $*" >&2; exit 1; }

# Tools: python3 builds the gzip bomb, the zstd CLI the zstd one (Debian package zstd, installed only when missing).
if ! command -v zstd >/dev/null; then
  echo "== installing zstd"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends zstd
fi
python3 - "$work/zeros.gz" <<'EOF'
import gzip, sys
# 32 gzip members of 64 MiB of zeros each: one 2 GiB stream for a reader of concatenated members (as GZipStream is).
member = gzip.compress(bytes(64 << 20), compresslevel=9)
with open(sys.argv[1], "wb") as f:
    for _ in range(32):
        f.write(member)
EOF
head -c $((2 << 30)) /dev/zero | zstd -q -c >"$work/zeros.zst"
echo "bombs: 2 GiB of zeros as gzip ($(stat -c %s "$work/zeros.gz") bytes) and zstd ($(stat -c %s "$work/zeros.zst") bytes)"

port=$(free_port)
cd "$work"
token=arc_smoke-bombs-token-0123456789abcdefghijklmnop
ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port ARC_AUTH_BOOTSTRAP_TOKEN=$token ARC_QUERY_TIMEOUT=5 "$binary" >"$log" 2>&1 &
pid=$!
url="http://127.0.0.1:$port"
wait_ready "$url" "$log"

mb() { awk -v key="$1:" '$1 == key { print int($2 / 1024) }' "/proc/$pid/status"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# post NAME PATH FILE [HEADER]: sends FILE, checks the 413 and its message, and prints the milliseconds it took.
post() {
  local name=$1 path=$2 file=$3 header=${4:-} start code
  start=$(now_ms)
  code=$(curl -sS -o "$work/$name.out" -w '%{http_code}' -XPOST "$url$path" -H "Authorization: Bearer $token" \
    ${header:+-H "$header"} --data-binary @"$file") || fail "$name: curl failed"
  local elapsed=$(($(now_ms) - start))
  [ "$code" = 413 ] || fail "$name: status $code, expected 413: $(head -c 300 "$work/$name.out")"
  grep -q 'the decompressed body is larger than ingest.max_decompressed_size ([0-9]* bytes)' "$work/$name.out" ||
    fail "$name: unexpected answer: $(head -c 300 "$work/$name.out")"
  [ "$elapsed" -le $((time_limit_s * 1000)) ] || fail "$name: took $elapsed ms (limit ${time_limit_s} s)"
  echo "$elapsed"
}

# Warm up both write paths, then take the idle level.
curl -fsS -XPOST "$url/api/v1/write/line-protocol" -H "Authorization: Bearer $token" --data-binary 'warm v=1' ||
  fail "warm-up write failed"
sleep 1
idle=$(mb VmRSS)
echo "idle RSS: $idle MB"

bombs=(
  "msgpack-zstd /api/v1/write/msgpack zeros.zst"
  "msgpack-gzip /api/v1/write/msgpack zeros.gz"
  "lp-zstd-declared /api/v1/write/line-protocol zeros.zst Content-Encoding: zstd"
  "lp-zstd-recognised /api/v1/write/line-protocol zeros.zst"
  "lp-gzip-declared /api/v1/write/line-protocol zeros.gz Content-Encoding: gzip"
  "lp-gzip-recognised /api/v1/write/line-protocol zeros.gz"
)
for bomb in "${bombs[@]}"; do
  read -r name path file header <<<"$bomb"
  echo 5 >"/proc/$pid/clear_refs" # VmHWM := VmRSS
  ms=$(post "$name" "$path" "$work/$file" "$header")
  peak=$(mb VmHWM)
  echo "$name: 413 in $ms ms, peak RSS $peak MB (+$((peak - idle)) MB), RSS after $(mb VmRSS) MB"
  [ $((peak - idle)) -lt "$peak_limit_mb" ] || fail "$name: peak RSS grew by $((peak - idle)) MB (limit $peak_limit_mb MB)"
done

# Four at once: three MessagePack bombs (the ones held whole) and a line-protocol one.
echo 5 >"/proc/$pid/clear_refs"
start=$(now_ms)
pids=()
for name in msgpack-zstd-1 msgpack-zstd-2 msgpack-gzip-3; do
  file=zeros.zst
  [[ $name == *gzip* ]] && file=zeros.gz
  post "$name" /api/v1/write/msgpack "$work/$file" >/dev/null &
  pids+=($!)
done
post lp-zstd-4 /api/v1/write/line-protocol "$work/zeros.zst" >/dev/null &
pids+=($!)
for p in "${pids[@]}"; do wait "$p" || fail "a parallel bomb failed"; done
peak=$(mb VmHWM)
echo "4 at once: all 413 in $(($(now_ms) - start)) ms, peak RSS $peak MB (+$((peak - idle)) MB)"
[ $((peak - idle)) -lt $((4 * peak_limit_mb)) ] || fail "4 bombs at once: peak RSS grew by $((peak - idle)) MB"

# The memory goes back: RSS within BOMB_RETURN_MB of the idle level (it is released when each request ends; allow 10 s).
for ((try = 0; try < 100; try++)); do
  after=$(mb VmRSS)
  [ $((after - idle)) -lt "$return_limit_mb" ] && break
  sleep 0.1
done
echo "RSS after the bombs: $after MB (idle $idle MB)"
[ $((after - idle)) -lt "$return_limit_mb" ] || fail "RSS stayed at $after MB after the bombs (idle $idle MB)"

# Huge plans: refused before DuckDB plans them (query.max_query_blocks), well inside the time limit.
python3 -c 'import json; print(json.dumps({"sql": " UNION ALL ".join(["SELECT 1"] * 20000)}))' >"$work/union.json"
plan() {
  local name=$1 start code elapsed
  start=$(now_ms)
  code=$(curl -sS -o "$work/$name.out" -w '%{http_code}' -XPOST "$url/api/v1/query" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' --data-binary @"$work/union.json") || fail "$name: curl failed"
  elapsed=$(($(now_ms) - start))
  [ "$code" = 400 ] && grep -q 'query.max_query_blocks' "$work/$name.out" ||
    fail "$name: status $code: $(head -c 300 "$work/$name.out")"
  [ "$elapsed" -le 15000 ] || fail "$name: answered after $elapsed ms (limit 15 s)"
  echo "$elapsed"
}
echo 5 >"/proc/$pid/clear_refs"
ms=$(plan union-1)
peak=$(mb VmHWM)
echo "20,000-branch UNION: 400 in $ms ms, peak RSS +$((peak - idle)) MB"
[ $((peak - idle)) -lt "$peak_limit_mb" ] || fail "huge plan: peak RSS grew by $((peak - idle)) MB"
echo 5 >"/proc/$pid/clear_refs"
plan union-2 >/dev/null &
first=$!
plan union-3 >/dev/null || fail "huge plan (two at once) failed"
wait "$first" || fail "huge plan (two at once) failed"
peak=$(mb VmHWM)
echo "two at once: peak RSS +$((peak - idle)) MB"
[ $((peak - idle)) -lt $((2 * peak_limit_mb)) ] || fail "two huge plans: peak RSS grew by $((peak - idle)) MB"

code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$url/api/v1/write/line-protocol" -H "Authorization: Bearer $token" \
  --data-binary 'after v=1')
[ "$code" = 204 ] || fail "a write after the bombs got $code"
kill -TERM "$pid"
wait "$pid" || fail "server exited with an error after SIGTERM"
pid=""
echo "AOT bomb smoke test passed: 2 GiB gzip and zstd bombs answered 413 on both endpoints, peak under +$peak_limit_mb MB each, memory returned; huge plans refused in time"

#!/usr/bin/env bash
# Ingest throughput of the published AOT server with the WAL off, async and fdatasync, in one run, as ratios to WAL off.
# The modes take turns for ROUNDS rounds (a busy machine then skews them alike) and each reports its median.
# Usage: scripts/ingest-load.sh [seconds] [clients] [rounds]   (publishes first if artifacts/publish/arc-native is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
clients=${2:-8}
rounds=${3:-3}
[ -x artifacts/publish/arc-native ] || scripts/publish-aot.sh artifacts/publish >/dev/null
dotnet build bench/Arc.LoadTest -c Release -nologo -v q >/dev/null
binary=$(realpath artifacts/publish/arc-native)
token=arc_load-test-token-0123456789abcdefghijklmnopq
declare -A rate
for round in $(seq 1 "$rounds"); do
  for mode in off async fdatasync; do
    work=$(mktemp -d)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    enabled=true; sync=$mode
    [ "$mode" = off ] && { enabled=false; sync=fdatasync; }
    (cd "$work" && exec env ARC_AUTH_BOOTSTRAP_TOKEN=$token ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port ARC_WAL_ENABLED=$enabled ARC_WAL_SYNC_MODE=$sync ARC_LOG_LEVEL=warn \
      "$binary" >"$work/server.log" 2>&1) &
    pid=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.1; done
    line=$(dotnet bench/Arc.LoadTest/bin/Release/net10.0/Arc.LoadTest.dll --url "http://127.0.0.1:$port" --token "$token" --clients "$clients" --seconds "$seconds")
    echo "round $round wal=$mode $line"
    rate[$mode]+=" $(sed -E 's/.*points\/s=([0-9]+).*/\1/' <<<"$line")"
    kill -TERM "$pid"; wait "$pid" || true
    rm -rf "$work"
  done
done
python3 - "${rate[off]}" "${rate[async]}" "${rate[fdatasync]}" <<'PY'
import statistics, sys
off, asyn, fds = (statistics.median(map(float, a.split())) for a in sys.argv[1:])
print(f"medians: off {off:,.0f}, async {asyn:,.0f}, fdatasync {fds:,.0f} points/s; "
      f"ratios to WAL off: async {asyn/off:.2f}, fdatasync {fds/off:.2f}")
PY

#!/usr/bin/env bash
# The hot tier (query.hot_data_size_mb) on the dashboard panels it is for: the same AOT binary twice, with the tier on
# (the default) and off (0), over the same Telegraf-like points as scripts/dashboard-bench.sh (cpu, 50 hosts, a point per
# host every 120 s, 10 float fields). The history (7 days up to two hours ago) is written, flushed, the servers restarted
# and compacted (as the dashboard benchmark does; nothing of it is in memory then); the last two hours are then written in
# 15-minute steps, each flushed (level merges on), as a running server receives them. Then the two panels, last 1 h of one
# host (1-min buckets) and last 7 d of one host (1-h buckets), with Grafana's literal time filter, alternate between the
# servers (which one goes first alternates too) for ROUNDS rounds of ITERATIONS each; every answer pair must be equal (to
# 10 significant digits: an average's last digits depend on the order DuckDB sums in).
# Reports per round and panel p50 and p99 (ms, over HTTP) of each server and the ratios on/off, and the Parquet files
# one last-1h panel opens on each (arc_query_files_total) and reads from memory (arc_query_files_hot_total).
# Usage: scripts/hot-tier-bench.sh [binary] [rounds] [iterations]   (defaults: artifacts/publish/arc-native, 3, 150)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
binary=$(realpath "${1:-artifacts/publish/arc-native}")
rounds=${2:-3}
iterations=${3:-150}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
token=arc_bench-hot-tier-token-0123456789abcdefghijklmn

start() { # name hot_mb port
  ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$3 ARC_AUTH_BOOTSTRAP_TOKEN=$token ARC_CACHE_ENABLED=false \
    ARC_QUERY_HOT_DATA_SIZE_MB=$2 ARC_INGEST_MAX_BUFFER_AGE_MS=500 ARC_LOG_LEVEL=warn \
    ARC_STORAGE_LOCAL_PATH="$work/$1/data" ARC_AUTH_DB_PATH="$work/$1/arc.db" "$binary" >>"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_ready "http://127.0.0.1:$3" "$work/$1.log"
}

on_port=$(free_port)
off_port=$(free_port)
mkdir -p "$work/on" "$work/off"
start on 256 "$on_port"
start off 0 "$off_port"

cat >"$work/bench.py" <<'EOF'
import http.client, json, math, statistics, sys, time, urllib.parse
phase, token, ports = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:5]]
HOSTS, INTERVAL = 50, 120
FIELDS = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]
REGIONS = ["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1", "sa-east-1"]
now = int(time.time())
anchor = (now - 7200) // 3600 * 3600

def conn(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=120)

def request(c, method, path, body=None, headers=None):
    h = {"Authorization": "Bearer " + token}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
    return data

def lines(start, end):
    out = []
    t = (start + INTERVAL - 1) // INTERVAL * INTERVAL
    while t < end:
        for h in range(HOSTS):
            x = (h * 7919 + t // INTERVAL * 104729) % 1000003
            values = ",".join(f"{f}={((x * (i + 3)) % 10007) / 100.07!r}" for i, f in enumerate(FIELDS))
            out.append(f"cpu,cpu=cpu-total,datacenter={REGIONS[h % 5]}{'a' if h % 2 == 0 else 'b'},host=host-{h},region={REGIONS[h % 5]} {values} {t}")
        t += INTERVAL
    return out

def write(start, end):
    body = lines(start, end)
    for port in ports:
        c = conn(port)
        for i in range(0, len(body), 5000):
            request(c, "POST", "/write?db=bench&precision=s", "\n".join(body[i:i + 5000]).encode())
    return len(body)

def flushed():
    for port in ports:
        c = conn(port)
        while json.loads(request(c, "GET", "/ready"))["buffered_rows"] != 0:
            time.sleep(0.1)

def query(c, sql):
    body = json.dumps({"sql": sql})
    started = time.perf_counter()
    data = request(c, "POST", "/api/v1/query", body, {"Content-Type": "application/json", "x-arc-database": "bench"})
    return time.perf_counter() - started, json.loads(data)["data"]

def metric(c, name):
    for line in request(c, "GET", "/metrics").decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise RuntimeError(name + " not in /metrics")

def iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z"

PANELS = {
    "1h-host": (3600, "SELECT time_bucket(INTERVAL '1 minute', time) AS time, avg(usage_user) AS usage_user, avg(usage_system) AS usage_system, avg(usage_iowait) AS usage_iowait FROM cpu WHERE host = 'host-7' AND {f} GROUP BY 1 ORDER BY 1"),
    "7d-host": (7 * 86400, "SELECT time_bucket(INTERVAL '1 hour', time) AS time, avg(usage_user) AS usage_user, avg(usage_system) AS usage_system, avg(usage_iowait) AS usage_iowait FROM cpu WHERE host = 'host-7' AND {f} GROUP BY 1 ORDER BY 1"),
}

def sql(panel):
    span, text = PANELS[panel]
    to = time.time()
    return text.replace("{f}", f"time BETWEEN '{iso(to - span)}' AND '{iso(to)}'")

if phase == "history":
    print(f"history: {write(anchor - 7 * 86400, anchor):,} points up to {iso(anchor)}")
    flushed()
elif phase == "compact":
    for port in ports:
        c = conn(port)
        for tier in ["hourly", "daily", "daily"]:
            request(c, "POST", f"/api/v1/compaction/trigger?tier={tier}&database=bench&wait=true")
elif phase == "tail":
    points = 0
    for step in range(anchor, now, 900):
        points += write(step, min(step + 900, now))
        flushed()
    print(f"recent: {points:,} points in 15-minute steps up to {iso(now)}")
    time.sleep(3)  # level merges after the last flushes
elif phase == "run":
    rounds, iterations = int(sys.argv[5]), int(sys.argv[6])
    conns = [conn(p) for p in ports]
    for i, c in enumerate(conns):
        opened, hot = metric(c, "arc_query_files_total"), metric(c, "arc_query_files_hot_total")
        query(c, sql("1h-host"))
        print(f"{['on ', 'off'][i]}: one last-1h panel opened {metric(c, 'arc_query_files_total') - opened:.0f} Parquet files, "
              f"read {metric(c, 'arc_query_files_hot_total') - hot:.0f} from memory; hot bytes {metric(c, 'arc_hot_bytes'):,.0f}")
    for _ in range(20):  # warm-up
        for c in conns:
            for panel in PANELS:
                query(c, sql(panel))
    def rounded(rows):
        return [[float(f"{v:.10g}") if isinstance(v, float) else v for v in row] for row in rows]
    def p(values, q):
        values = sorted(values)
        return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)] * 1000
    for r in range(1, rounds + 1):
        samples = {(panel, i): [] for panel in PANELS for i in range(2)}
        for it in range(iterations):
            for panel in PANELS:
                order = [0, 1] if (it % 2 == 0) else [1, 0]
                text = sql(panel)
                answers = {}
                for i in order:
                    seconds, rows = query(conns[i], text)
                    samples[(panel, i)].append(seconds)
                    answers[i] = rows
                if rounded(answers[0]) != rounded(answers[1]):  # averages may differ in the last digits (summation order)
                    raise RuntimeError(f"{panel}: the answers differ\n{answers[0]}\n{answers[1]}")
        for panel in PANELS:
            on, off = samples[(panel, 0)], samples[(panel, 1)]
            print(f"round {r} {panel}: on p50 {p(on, .5):.2f} p99 {p(on, .99):.2f} ms; off p50 {p(off, .5):.2f} p99 {p(off, .99):.2f} ms; "
                  f"ratio on/off p50 {p(on, .5) / p(off, .5):.2f} p99 {p(on, .99) / p(off, .99):.2f} ({iterations} each)")
EOF

python3 "$work/bench.py" history "$token" "$on_port" "$off_port"
for name in on off; do # restart both (a clean stop ends the log, whose files compaction otherwise waits for), as the dashboard benchmark does
  port=$([ $name = on ] && echo "$on_port" || echo "$off_port")
  kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=("${pids[@]:1}")
  start $name $([ $name = on ] && echo 256 || echo 0) "$port"
done
python3 "$work/bench.py" compact "$token" "$on_port" "$off_port"
python3 "$work/bench.py" tail "$token" "$on_port" "$off_port"
python3 "$work/bench.py" run "$token" "$on_port" "$off_port" "$rounds" "$iterations"

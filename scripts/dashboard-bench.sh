#!/usr/bin/env bash
# Dashboard latency: Grafana-style panels (last 1 h one host, last 6 h all hosts, last 7 d one host, last 30 d all hosts,
# SHOW TABLES) on arc-native (the AOT binary) against InfluxDB 1.x (Debian's influxdb, installed when missing; root) on the
# same points, and against raw DuckDB over only the Parquet files each query needs (the floor), interleaved in one run,
# for each history length. Arguments go to bench/Arc.DashboardBench:
#   scripts/dashboard-bench.sh [--days 7,90,365] [--hosts 50] [--interval 120] [--iterations 15] [--warmup 2]
#       [--time-filter literal|cast|now] [--now-form] [--sql-<panel> SQL] [--influxql-<panel> Q] [--arc-cache]
#       [--systems arc-native,influxdb,duckdb] [--out DIR] [--results DIR] [--machine NAME] [--note TEXT] [--keep]
#   --days 7 is the quick run (a few minutes); --days 7,90,365 (default) about half an hour on 2 cores.
#   --results bench/results writes the result JSON and summary to commit (default artifacts/dashboard-bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
if ! command -v influxd >/dev/null; then
  echo "== installing influxdb"
  apt-get update -qq
  # The package's init script may try to start a system-wide service; policy-rc.d keeps it from doing so.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.arc-bench && chmod +x /usr/sbin/policy-rc.d.arc-bench
  [ -e /usr/sbin/policy-rc.d ] || ln -s /usr/sbin/policy-rc.d.arc-bench /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends influxdb
  [ "$(readlink /usr/sbin/policy-rc.d 2>/dev/null)" = /usr/sbin/policy-rc.d.arc-bench ] && rm -f /usr/sbin/policy-rc.d
  rm -f /usr/sbin/policy-rc.d.arc-bench
fi
scripts/publish-aot.sh artifacts/publish >/dev/null # the checked-out code, not a stale binary
dotnet build bench/Arc.DashboardBench -c Release -nologo -v q -clp:NoSummary >/dev/null
exec dotnet bench/Arc.DashboardBench/bin/Release/net10.0/Arc.DashboardBench.dll --binary artifacts/publish/arc-native \
  --machine "${DASHBOARD_MACHINE:-$(nproc)cpu-$(free -g | awk '/Mem:/ {print $2}')gb}" "$@"

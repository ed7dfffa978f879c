#!/usr/bin/env bash
# ClickBench on generated hits data: arc-native (AOT binary, MessagePack load, compaction, queries over HTTP) against raw
# DuckDB (the same libduckdb, one Parquet file and 100 partitioned files), all in one run. See scripts/clickbench/README.md.
# Usage: scripts/clickbench/run.sh [--rows N] [--out DIR] [--machine NAME] [--tries 3] [--clients 2] [--no-drop-caches]
#   [--sort-keys "hits:CounterID,EventDate,UserID,EventTime,WatchID" (default: ClickHouse's primary key) | ""]
#   --rows 1000000 (default) is the smoke run; real runs use 10000000 or more.
#   --out DIR (default artifacts/clickbench) holds the data set (reused by later runs of the same size), the server's data
#   and the results; commit a real run's JSON with --results scripts/clickbench/results.
# The AOT binary is published first (scripts/publish-aot.sh artifacts/publish), so the run measures the checked-out code.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
scripts/publish-aot.sh artifacts/publish >/dev/null
dotnet build bench/Arc.ClickBench -c Release -nologo -v q -clp:NoSummary >/dev/null
exec dotnet bench/Arc.ClickBench/bin/Release/net10.0/Arc.ClickBench.dll run --binary artifacts/publish/arc-native \
  --queries scripts/clickbench --machine "${CLICKBENCH_MACHINE:-$(nproc)cpu-$(free -g | awk '/Mem:/ {print $2}')gb}" "$@"

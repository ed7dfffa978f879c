#!/usr/bin/env bash
# Ingest throughput and bytes on disk: arc-native (line protocol and MessagePack columnar) vs InfluxDB 1.x and
# VictoriaMetrics, one run, each started on loopback with its data in a fresh temporary directory. Installs Debian's
# influxdb and victoria-metrics packages when they are missing (root). Arguments go to bench/Arc.IngestBench:
#   scripts/ingest-bench.sh [--lines 2000000] [--batch 5000] [--hosts 1000] [--cpus 4] [--connections 4] [--rounds 1]
#                           [--systems arc-lp,arc-msgpack,influxdb,victoriametrics] [--settle 120] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
missing=()
command -v influxd >/dev/null || missing+=(influxdb)
command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  apt-get update -qq
  # The packages' init scripts may try to start a system-wide service; policy-rc.d keeps them from doing so.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.arc-bench && chmod +x /usr/sbin/policy-rc.d.arc-bench
  [ -e /usr/sbin/policy-rc.d ] || ln -s /usr/sbin/policy-rc.d.arc-bench /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ "$(readlink /usr/sbin/policy-rc.d 2>/dev/null)" = /usr/sbin/policy-rc.d.arc-bench ] && rm -f /usr/sbin/policy-rc.d
  rm -f /usr/sbin/policy-rc.d.arc-bench
fi
scripts/publish-aot.sh artifacts/publish >/dev/null # the checked-out code, not a stale binary
dotnet build bench/Arc.IngestBench -c Release -nologo -v q -clp:NoSummary >/dev/null
# The whole output, first line by parameter expansion (no early-exiting reader in a pipeline under pipefail); the peers'
# versions from dpkg (Debian's victoria-metrics build prints an empty -version).
first_line() { local text; text=$("$@" 2>/dev/null) || true; printf '%s' "${text%%$'\n'*}"; }
echo "== versions: $(first_line artifacts/publish/arc-native --version); $(first_line dpkg-query -W -f='influxdb ${Version}' influxdb); $(first_line dpkg-query -W -f='victoria-metrics ${Version}' victoria-metrics)"
exec dotnet bench/Arc.IngestBench/bin/Release/net10.0/Arc.IngestBench.dll --binary artifacts/publish/arc-native "$@"

#!/usr/bin/env bash
# Installs the servers the export tests run against, from Debian's packages, only when they are missing: InfluxDB 1.6.7
# (influxdb), VictoriaMetrics (victoria-metrics, for the InfluxDB 2.x write API) and PostgreSQL (postgresql). The tests
# start their own instances on loopback ports in temp directories (tests/Arc.Native.Tests/ExportTargetServers.cs); the
# packages' own services are not started here.
set -euo pipefail
missing=()
[ -x /usr/bin/influxd ] || missing+=(influxdb)
[ -x /usr/bin/victoria-metrics ] || missing+=(victoria-metrics)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
  echo "export test servers: influxd, victoria-metrics and PostgreSQL are installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

# Keep the packages' services from starting (and listening on their default ports) during the install.
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  created_policy=1
fi
trap '[ -n "$created_policy" ] && $sudo rm -f "$policy"' EXIT

echo "export test servers: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# The whole test suite, as CI runs it: build (warnings are errors), unit and functional tests with the Native AOT
# publish running beside them (failing on any IL2xxx/IL3xxx warning), then at once the smoke tests of both distribution
# layouts (libraries beside the binary, and embedded in it), the node tests (MessagePack round trips, Arrow JS, the web
# console in headless Chromium) against the published binary, and the chroot test of the Dockerfile.aot image layout
# (needs root). Steps that run in the background print their logs (also in artifacts/logs/) when they end. The object-storage tests run against a real Ceph radosgw
# on loopback (scripts/ceph-s3.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Each step's header carries the seconds elapsed since the start, so a slow step shows in the log.
section() { echo "== [${SECONDS} s] $*"; }

# Independent steps overlap (the machine has two cores, and the functional tests mostly wait on servers, child processes
# and sockets): `start NAME COMMAND...` runs COMMAND in the background with its output in artifacts/logs/NAME.log;
# `finish NAME...` waits for each in turn, prints its log with how long it took, and fails after all of them are printed
# when any failed. Whatever still runs when the script stops (a failed step) is stopped with it.
declare -A started=()
start() {
  local name=$1
  shift
  mkdir -p artifacts/logs
  set -m # its own process group, so stop_started stops what it started too
  (
    begin=$SECONDS
    status=0
    "$@" || status=$?
    echo "-- $name: exit $status after $((SECONDS - begin)) s (started at $begin s)"
    exit $status
  ) >"artifacts/logs/$name.log" 2>&1 &
  started[$name]=$!
  set +m
}
finish() {
  local failed=() name
  for name in "$@"; do
    wait "${started[$name]}" || failed+=("$name")
    unset "started[$name]"
    section "$name"
    cat "artifacts/logs/$name.log"
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
  fi
}
stop_started() {
  local pid
  for pid in "${started[@]}"; do
    kill -- "-$pid" 2>/dev/null || true
  done
}
trap stop_started EXIT

# Tools the smoke tests use; installed only when missing (Debian package names).
missing=()
for tool in curl:curl jq:jq python3:python3 gzip:gzip chroot:coreutils mknod:coreutils mount:mount mountpoint:util-linux ldd:libc-bin chromium:chromium; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
[[ $(ldconfig -p) == *'libssl.so.3 '* ]] || missing+=(libssl3) # .NET loads OpenSSL at run time; the image carries it
[ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates) # the image's CA bundle (S3 over https)
if [ ${#missing[@]} -gt 0 ]; then
  section "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

section "Ceph (ceph-mon, ceph-osd, radosgw) for the object-storage tests, installed only when missing"
scripts/ceph-s3.sh install

section "npm packages for the console and the tests (npm ci in web/ and each tests/js* folder with a lockfile)"
for folder in web/ tests/js*/; do
  if [ -f "$folder/package-lock.json" ]; then
    (cd "$folder" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

section "build (warnings are errors; code style and unused usings, IDE0005, are enforced by the build)"
dotnet build arc-native.sln -c Release -warnaserror -nologo -clp:NoSummary

section "format (dotnet format whitespace --verify-no-changes; 'dotnet format arc-native.sln' fixes it)"
dotnet format whitespace arc-native.sln --verify-no-changes

section "web console assets (src/Arc.Native/Console/assets) are what web/src builds to ('node build.mjs' in web/ rebuilds them)"
(cd web && node build.mjs --check)

section "export test servers (Debian packages, installed when missing)"
scripts/export-test-deps.sh

section "AOT publish (both layouts, the second reusing the first's native compilation) in the background, during the tests"
# publish-aot.sh fails on any IL2xxx/IL3xxx warning. The single-file layout (-p:ArcEmbedNativeLibraries=true) only
# appends the libraries to the executable, so its publish relinks what the first one compiled.
start aot-publish bash -c 'scripts/publish-aot.sh artifacts/publish &&
  scripts/publish-aot.sh artifacts/publish-embedded -p:ArcEmbedNativeLibraries=true'

section "tests (the three projects at once; each log is printed when it ends)"
for project in tests/*/*.csproj; do
  start "$(basename "$project" .csproj)" dotnet test "$project" -c Release --no-build --nologo --logger "console;verbosity=minimal"
done
finish Arc.Protocol.Tests Arc.Engine.Tests Arc.Native.Tests

section "allocation gate (BenchmarkDotNet MemoryDiagnoser, short in-process job: parsers and buffers allocate nothing per record)"
dotnet bench/Arc.Benchmarks/bin/Release/net10.0/Arc.Benchmarks.dll --alloc-gate

finish aot-publish

section "smoke tests of the published binary, at once (each on its own port and directory; each log is printed when it ends)"
binary="$PWD/artifacts/publish/arc-native"
# Native libraries beside the binary (the default layout):
start smoke-aot scripts/smoke-aot.sh "$binary"
start smoke-aot-query-outputs scripts/smoke-aot-query-outputs.sh "$binary"
start smoke-aot-s3 scripts/smoke-aot-s3.sh "$binary"
start smoke-aot-ops scripts/smoke-aot-ops.sh "$binary"
start smoke-aot-bombs scripts/smoke-aot-bombs.sh "$binary"
start smoke-aot-export scripts/smoke-aot-export.sh "$binary"
# MessagePack round trip with @msgpack/msgpack (node), and the web console in headless Chromium (puppeteer-core;
# screenshot in artifacts/console.png):
start node-msgpack env ARC_BINARY="$binary" node --test tests/js/
start node-console env ARC_BINARY="$binary" node --test tests/js-console/
# The single-file layout (-p:ArcEmbedNativeLibraries=true):
start smoke-aot-embedded scripts/smoke-aot.sh artifacts/publish-embedded/arc-native
# The Dockerfile.aot image layout in a chroot:
start chroot-smoke scripts/chroot-smoke.sh artifacts/publish
finish smoke-aot smoke-aot-query-outputs smoke-aot-s3 smoke-aot-ops smoke-aot-bombs smoke-aot-export node-msgpack node-console \
  smoke-aot-embedded chroot-smoke

section "all tests passed"

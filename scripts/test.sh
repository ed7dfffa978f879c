#!/usr/bin/env bash
# The whole test suite, as CI runs it: build (warnings are errors), the Native AOT publish (failing on any IL2xxx/IL3xxx
# warning), unit and functional tests (the server processes they start run the AOT binary), smoke tests of both
# distribution layouts (libraries beside the binary, and embedded in it), the node tests (MessagePack round trips, Arrow
# JS, the web console in headless Chromium) against the published binary, and the chroot test of the Dockerfile.aot image
# layout (needs root). The object-storage tests run against a real Ceph radosgw on loopback (scripts/ceph-s3.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Each step's header carries the seconds elapsed since the start, so a slow step shows in the log.
section() { echo "== [${SECONDS} s] $*"; }

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

# npm mostly waits on the disk and the registry: it installs while the build compiles, and is waited for before the
# first step that runs node.
section "npm packages for the console and the tests (npm ci in web/ and each tests/js* folder with a lockfile; beside the build, artifacts/npm-ci.log)"
mkdir -p artifacts
npm_log=artifacts/npm-ci.log
(
  for folder in web/ tests/js*/; do
    if [ -f "$folder/package-lock.json" ]; then
      (cd "$folder" && npm ci --no-audit --no-fund --loglevel=error) || exit 1
    fi
  done
) > "$npm_log" 2>&1 &
npm_ci=$!

section "build (warnings are errors; code style and unused usings, IDE0005, are enforced by the build)"
dotnet build arc-native.sln -c Release -warnaserror -nologo -clp:NoSummary

section "format (dotnet format whitespace --folder . --verify-no-changes: the .editorconfig over every source file, without loading the projects; 'dotnet format arc-native.sln' fixes it)"
dotnet format whitespace --folder . --verify-no-changes

wait "$npm_ci" || { cat "$npm_log"; echo "npm ci failed" >&2; exit 1; }
section "web console assets (src/Arc.Native/Console/assets) are what web/src builds to ('node build.mjs' in web/ rebuilds them)"
(cd web && node build.mjs --check)

section "export test servers (Debian packages, installed when missing)"
scripts/export-test-deps.sh

# The protocol and engine tests start no server process, so they run while the AOT publish compiles; their output is
# shown once both are done, and a failure of either fails the run.
section "AOT publish (before the server tests: the ones that kill the server run this binary, which gets to /ready in about half the time), with the protocol and engine tests beside it"
for project in tests/*/*.csproj; do
  case $project in
    tests/Arc.Protocol.Tests/*|tests/Arc.Engine.Tests/*|tests/Arc.Native.Tests/*) ;;
    *) echo "$project is not run by scripts/test.sh: add it to the steps below" >&2; exit 1 ;;
  esac
done
unit_log=artifacts/unit-tests.log
(
  for project in tests/Arc.Protocol.Tests/Arc.Protocol.Tests.csproj tests/Arc.Engine.Tests/Arc.Engine.Tests.csproj; do
    dotnet test "$project" -c Release --no-build --nologo --logger "console;verbosity=minimal" || exit 1
  done
) > "$unit_log" 2>&1 &
unit_tests=$!
publish_status=0
# The publish compiles the server's projects again for linux-x64; the build step above already ran the Roslyn analyzers
# (code style, the trim and AOT analyzers) over the same sources, so they are off here. ILC's own IL2xxx/IL3xxx
# warnings, the whole-program check, are not analyzers and still fail the publish.
scripts/publish-aot.sh artifacts/publish -p:RunAnalyzers=false || publish_status=$?
unit_status=0
wait "$unit_tests" || unit_status=$?
section "protocol and engine tests (run beside the publish; $unit_log)"
cat "$unit_log"
[ "$publish_status" -eq 0 ] || { echo "AOT publish failed" >&2; exit 1; }
[ "$unit_status" -eq 0 ] || { echo "protocol or engine tests failed" >&2; exit 1; }

section "server tests (server processes from the AOT binary: ARC_BINARY)"
ARC_BINARY="$PWD/artifacts/publish/arc-native" dotnet test tests/Arc.Native.Tests/Arc.Native.Tests.csproj -c Release --no-build --nologo --logger "console;verbosity=minimal"

section "allocation gate (BenchmarkDotNet MemoryDiagnoser, short in-process job: parsers and buffers allocate nothing per record)"
dotnet bench/Arc.Benchmarks/bin/Release/net10.0/Arc.Benchmarks.dll --alloc-gate

section "AOT smoke test (native libraries beside the binary: the default layout)"
scripts/smoke-aot.sh artifacts/publish/arc-native
scripts/smoke-aot-query-outputs.sh artifacts/publish/arc-native
scripts/smoke-aot-s3.sh artifacts/publish/arc-native
scripts/smoke-aot-ops.sh artifacts/publish/arc-native
scripts/smoke-aot-bombs.sh artifacts/publish/arc-native
scripts/smoke-aot-export.sh artifacts/publish/arc-native

section "MessagePack round trip with @msgpack/msgpack (node) against the AOT binary"
ARC_BINARY="$PWD/artifacts/publish/arc-native" node --test tests/js/

section "web console in headless Chromium (puppeteer-core) against the AOT binary; screenshot in artifacts/console.png"
ARC_BINARY="$PWD/artifacts/publish/arc-native" node --test tests/js-console/

section "AOT publish and smoke test, single-file layout (-p:ArcEmbedNativeLibraries=true)"
scripts/publish-aot.sh artifacts/publish-embedded -p:ArcEmbedNativeLibraries=true -p:RunAnalyzers=false
scripts/smoke-aot.sh artifacts/publish-embedded/arc-native

section "chroot smoke test of the Dockerfile.aot image layout"
scripts/chroot-smoke.sh artifacts/publish

section "all tests passed"

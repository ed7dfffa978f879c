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

# Steps that leave a core idle (npm waits on the disk and the registry, the S3 smoke test on Ceph starting, the smoke
# tests on servers starting) run beside others: each as a background job with its output in artifacts/<name>.log, shown
# when the job is awaited; a failed job fails the run there.
mkdir -p artifacts
declare -A background_jobs
# The C# compiler server compiles the solution's 13 projects in one warm process instead of 13 cold ones: about 20 s of
# a clean build on two cores. This environment turns it off (UseSharedCompilation=false), so the builds below ask for it
# by name, and the server is shut down when the run ends, as is any job still running after a failed step.
shared_compiler=-p:UseSharedCompilation=true
trap 'kill $(jobs -p) 2>/dev/null || true; dotnet build-server shutdown >/dev/null 2>&1 || true' EXIT
in_background() { # NAME COMMAND...
  local name=$1
  shift
  "$@" > "artifacts/$name.log" 2>&1 &
  background_jobs[$name]=$!
}
await_background() { # NAME
  local name=$1 status=0
  wait "${background_jobs[$name]}" || status=$?
  section "$name (ran beside the steps above; artifacts/$name.log)"
  cat "artifacts/$name.log"
  [ "$status" -eq 0 ] || { echo "$name failed" >&2; exit 1; }
}

npm_ci() { # npm ci in web/ and each tests/js* folder with a lockfile
  for folder in web/ tests/js*/; do
    if [ -f "$folder/package-lock.json" ]; then
      (cd "$folder" && npm ci --no-audit --no-fund --loglevel=error) || return 1
    fi
  done
}
in_background npm-ci npm_ci

section "build (warnings are errors; the CA rules, file-scoped namespaces, IDE0161, and unused usings, IDE0005, are enforced by the build: .editorconfig)"
dotnet build arc-native.sln -c Release -warnaserror -nologo -clp:NoSummary "$shared_compiler"

section "format (dotnet format whitespace --folder . --verify-no-changes: the .editorconfig over every source file, without loading the projects; 'dotnet format arc-native.sln' fixes it)"
dotnet format whitespace --folder . --verify-no-changes

await_background npm-ci
section "web console assets (src/Arc.Native/Console/assets) are what web/src builds to ('node build.mjs' in web/ rebuilds them)"
(cd web && node build.mjs --check)

section "export test servers (Debian packages, installed when missing)"
scripts/export-test-deps.sh

for project in tests/*/*.csproj; do
  case $project in
    tests/Arc.Protocol.Tests/*|tests/Arc.Engine.Tests/*|tests/Arc.Native.Tests/*) ;;
    *) echo "$project is not run by scripts/test.sh: add it to the steps below" >&2; exit 1 ;;
  esac
done
beside_publish() { # the protocol and engine tests start no server process; the allocation gate counts bytes, not time
  for project in tests/Arc.Protocol.Tests/Arc.Protocol.Tests.csproj tests/Arc.Engine.Tests/Arc.Engine.Tests.csproj; do
    dotnet test "$project" -c Release --no-build --nologo --logger "console;verbosity=minimal" || return 1
  done
  echo "allocation gate (BenchmarkDotNet MemoryDiagnoser, short in-process job: parsers and buffers allocate nothing per record)"
  dotnet bench/Arc.Benchmarks/bin/Release/net10.0/Arc.Benchmarks.dll --alloc-gate
}
in_background protocol-and-engine-tests-and-allocation-gate beside_publish
section "AOT publish (before the server tests: the ones that kill the server run this binary, which gets to /ready in about half the time), with the protocol and engine tests and the allocation gate beside it"
# The publish compiles the server's projects again for linux-x64; the build step above already ran the Roslyn analyzers
# (code style, the trim and AOT analyzers) over the same sources, so they are off here. ILC's own IL2xxx/IL3xxx
# warnings, the whole-program check, are not analyzers and still fail the publish.
scripts/publish-aot.sh artifacts/publish -p:RunAnalyzers=false "$shared_compiler"
await_background protocol-and-engine-tests-and-allocation-gate

# Ceph's own start is mostly waiting: the S3 smoke test starts its Ceph beside the server tests (which start theirs).
in_background smoke-aot-s3 scripts/smoke-aot-s3.sh artifacts/publish/arc-native
section "server tests (server processes from the AOT binary: ARC_BINARY), with the AOT S3 smoke test beside them"
ARC_BINARY="$PWD/artifacts/publish/arc-native" dotnet test tests/Arc.Native.Tests/Arc.Native.Tests.csproj -c Release --no-build --nologo --logger "console;verbosity=minimal"
await_background smoke-aot-s3

single_file() { # the single-file layout (-p:ArcEmbedNativeLibraries=true): published, then smoke-tested
  scripts/publish-aot.sh artifacts/publish-embedded -p:ArcEmbedNativeLibraries=true -p:RunAnalyzers=false "$shared_compiler" || return 1
  scripts/smoke-aot.sh artifacts/publish-embedded/arc-native
}
smoke_tests() { # the published binary (native libraries beside it: the default layout); each on its own port and directory
  for smoke in smoke-aot smoke-aot-query-outputs smoke-aot-ops smoke-aot-export; do
    "scripts/$smoke.sh" artifacts/publish/arc-native || return 1
  done
}
in_background single-file-layout single_file
in_background chroot-smoke scripts/chroot-smoke.sh artifacts/publish
in_background smoke-tests smoke_tests

section "AOT bomb smoke test, with the other smoke tests of the default layout, the single-file layout's publish and smoke test and the chroot smoke test of the Dockerfile.aot image layout beside it"
scripts/smoke-aot-bombs.sh artifacts/publish/arc-native

section "MessagePack round trip with @msgpack/msgpack (node) against the AOT binary"
ARC_BINARY="$PWD/artifacts/publish/arc-native" node --test tests/js/

section "web console in headless Chromium (puppeteer-core) against the AOT binary; screenshot in artifacts/console.png"
ARC_BINARY="$PWD/artifacts/publish/arc-native" node --test tests/js-console/

await_background smoke-tests
await_background single-file-layout
await_background chroot-smoke

section "all tests passed"

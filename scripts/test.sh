#!/usr/bin/env bash
# The whole test suite, as CI runs it: build (warnings are errors), unit and functional tests, then the Native AOT
# publish (failing on any IL2xxx/IL3xxx warning), a smoke test of the published binary, and the node MessagePack
# round-trip tests (tests/js, dependencies from its package-lock.json) against it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

echo "== npm packages for the tests (npm ci in each tests/js* folder with a lockfile)"
for folder in tests/js*/; do
  if [ -f "$folder/package-lock.json" ]; then
    (cd "$folder" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

echo "== build"
dotnet build arc-native.sln -c Release -warnaserror -nologo -clp:NoSummary

echo "== tests"
for project in tests/*/*.csproj; do
  dotnet test "$project" -c Release --no-build --nologo --logger "console;verbosity=minimal"
done

echo "== AOT publish"
scripts/publish-aot.sh artifacts/publish

echo "== AOT smoke test"
scripts/smoke-aot.sh artifacts/publish/arc-native
scripts/smoke-aot-query-outputs.sh artifacts/publish/arc-native

echo "== MessagePack round trip with @msgpack/msgpack (node) against the AOT binary"
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
ARC_BINARY="$PWD/artifacts/publish/arc-native" node --test tests/js/

echo "== all tests passed"

#!/usr/bin/env bash
# The whole test suite, as CI runs it: build (warnings are errors), unit and functional tests, then the Native AOT
# publish (failing on any IL2xxx/IL3xxx warning) and a smoke test of the published binary.
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

echo "== export test servers (Debian packages, installed when missing)"
scripts/export-test-deps.sh

echo "== tests"
for project in tests/*/*.csproj; do
  dotnet test "$project" -c Release --no-build --nologo --logger "console;verbosity=minimal"
done

echo "== AOT publish"
scripts/publish-aot.sh artifacts/publish

echo "== AOT smoke test"
scripts/smoke-aot.sh artifacts/publish/arc-native
scripts/smoke-aot-query-outputs.sh artifacts/publish/arc-native

echo "== all tests passed"

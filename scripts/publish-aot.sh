#!/usr/bin/env bash
# Publishes the Native AOT server (linux-x64) to $1 and fails on any trimming/AOT warning (IL2xxx, IL3xxx).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-artifacts/publish}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! dotnet publish src/Arc.Native/Arc.Native.csproj -c Release -r linux-x64 -o "$out" -nologo -p:TreatWarningsAsErrors=true 2>&1 | tee "$log"; then
  echo "AOT publish failed" >&2
  exit 1
fi
if grep -E "(warning|error) IL[23][0-9]{3}" "$log" >/dev/null; then
  echo "AOT publish produced trimming/AOT warnings:" >&2
  grep -E "(warning|error) IL[23][0-9]{3}" "$log" | sort -u >&2
  exit 1
fi
echo "published to $out: arc-native $(du -h "$out/arc-native" | cut -f1), libduckdb.so $(du -h "$out/libduckdb.so" | cut -f1), ParquetSharpNative.so $(du -h "$out/ParquetSharpNative.so" | cut -f1)"

#!/usr/bin/env bash
# Publishes the Native AOT server (linux-x64) to $1 and fails on any trimming/AOT warning (IL2xxx, IL3xxx).
# Further arguments go to dotnet publish, e.g. -p:ArcEmbedNativeLibraries=true for the single-file layout.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-artifacts/publish}
if [ $# -gt 0 ]; then shift; fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! dotnet publish src/Arc.Native/Arc.Native.csproj -c Release -r linux-x64 -o "$out" -nologo -p:TreatWarningsAsErrors=true "$@" 2>&1 | tee "$log"; then
  echo "AOT publish failed" >&2
  exit 1
fi
if grep -E "(warning|error) IL[23][0-9]{3}" "$log" >/dev/null; then
  echo "AOT publish produced trimming/AOT warnings:" >&2
  grep -E "(warning|error) IL[23][0-9]{3}" "$log" | sort -u >&2
  exit 1
fi
echo "published to $out: $(cd "$out" && for f in *; do printf '%s %s  ' "$f" "$(du -h --apparent-size "$f" | cut -f1)"; done)"

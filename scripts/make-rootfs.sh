#!/usr/bin/env bash
# Assembles the root filesystem of the Dockerfile.aot image from a publish directory:
#   /arc-native (+ the native libraries beside it, unless they are embedded), the shared objects `ldd` lists for them
#   (and for embedded ones), OpenSSL (which .NET dlopens by name, invisible to ldd), the dynamic loader, /etc/passwd and
#   /etc/group with the non-root user, /data (the volume, owned by that user), /tmp and the CA certificate bundle (for
#   S3 storage over https; Dockerfile.aot points SSL_CERT_FILE at it). Nothing else: no shell, no package manager, no ICU.
# Dockerfile.aot's build stage runs this script and its final stage copies the result into FROM scratch;
# scripts/chroot-smoke.sh runs the same script, so the image CI proves and the image Docker builds cannot drift.
# Usage: scripts/make-rootfs.sh PUBLISH_DIR ROOTFS_DIR        (run as root: the volume is chowned to the image user)
set -euo pipefail

readonly IMAGE_UID=10001 IMAGE_GID=10001 IMAGE_USER=arc

die() { echo "make-rootfs: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: $0 PUBLISH_DIR ROOTFS_DIR"
publish=$(realpath "$1")
[ -x "$publish/arc-native" ] || die "$publish/arc-native not found (run scripts/publish-aot.sh first)"
if [ -e "$2" ] && [ -n "$(ls -A "$2")" ]; then die "$2 exists and is not empty"; fi
mkdir -p "$2"
rootfs=$(realpath "$2")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }

# 1. The published files, flat at / (the executable finds beside-it libraries in its own directory).
elves=()
for file in "$publish"/*; do
  [ -f "$file" ] || die "unexpected non-file in the publish directory: $file"
  if is_elf "$file"; then
    install -m 0755 "$file" "$rootfs/"
    elves+=("$file")
  else
    install -m 0644 "$file" "$rootfs/"
  fi
done

# 2. Libraries embedded in the executable (dotnet publish -p:ArcEmbedNativeLibraries=true) need their shared objects
#    too: extract them from the bundle (format: src/Arc.Native/Distribution/NativeBundle.cs) to run ldd on them.
exe="$publish/arc-native"
size=$(stat -c %s "$exe")
if [ "$size" -gt 24 ] && [ "$(tail -c 8 "$exe" | tr -d '\000')" = ARCNLIB1 ]; then
  footer=($(od -An -t d8 -j $((size - 24)) -N 16 "$exe")) # index offset, index length (int64 little-endian)
  index_offset=${footer[0]} index_length=${footer[1]}
  while IFS=$'\t' read -r name offset length; do
    [ -n "$name" ] || continue
    dd if="$exe" of="$scratch/$name" iflag=skip_bytes,count_bytes skip="$offset" count="$length" bs=4M status=none
    elves+=("$scratch/$name")
    echo "embedded: $name ($length bytes)"
  done < <(dd if="$exe" iflag=skip_bytes,count_bytes skip="$index_offset" count="$index_length" bs=64K status=none)
fi

# 3. Libraries the .NET runtime dlopens by name, which ldd cannot see: OpenSSL, when the binary carries the
#    System.Security.Cryptography shim (HMAC-SHA256 of the token store); the shim aborts the process without it.
#    libcrypto.so.3 comes in as libssl's dependency.
libraries=()
if grep -q -a -F 'libssl.so.3' "$exe"; then
  # awk reads the whole listing (no early exit: under pipefail a SIGPIPE'd ldconfig would fail the script)
  ssl=$(ldconfig -p | awk '$1 == "libssl.so.3" && /x86-64/ && !found { found = $NF } END { print found }') # linux-x64
  [ -n "$ssl" ] || die "the binary loads OpenSSL 3 at run time, but libssl.so.3 is not installed (apt-get install libssl3)"
  elves+=("$ssl")
  libraries+=("$ssl")
  echo "loaded at run time: $ssl"
fi

# 4. The shared objects ldd lists (glibc, libstdc++, libgcc_s, libm, libcrypto, ...) and the loader, at the paths it names.
for elf in "${elves[@]}"; do
  listing=$(ldd "$elf") || die "ldd failed for $elf"
  if grep -q 'not found' <<<"$listing"; then die "unresolved shared objects for $elf:"$'\n'"$listing"; fi
  while read -r path; do libraries+=("$path"); done < <(
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$listing")
done
for library in $(printf '%s\n' "${libraries[@]}" | sort -u); do
  mkdir -p "$rootfs$(dirname "$library")"
  cp -L "$library" "$rootfs$library" # the file, not the distribution's symlink to it
  chmod 0755 "$rootfs$library"
done

# 5. The non-root user, the data volume and /tmp.
mkdir -p "$rootfs/etc" "$rootfs/data" "$rootfs/tmp"
printf 'root:x:0:0:root:/:/nonexistent\n%s:x:%d:%d:arc-native:/data:/nonexistent\n' "$IMAGE_USER" $IMAGE_UID $IMAGE_GID >"$rootfs/etc/passwd"
printf 'root:x:0:\n%s:x:%d:\n' "$IMAGE_USER" $IMAGE_GID >"$rootfs/etc/group"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
chown $IMAGE_UID:$IMAGE_GID "$rootfs/data"
chmod 0750 "$rootfs/data"
chmod 1777 "$rootfs/tmp"

# 6. The CA bundle: the object store is usually reached over https (AWS, GCS), and .NET verifies its certificate against
#    the file SSL_CERT_FILE names (Dockerfile.aot sets it to this path).
bundle=/etc/ssl/certs/ca-certificates.crt
[ -s "$bundle" ] || die "$bundle not found (apt-get install ca-certificates)"
mkdir -p "$rootfs/etc/ssl/certs"
cp -L "$bundle" "$rootfs$bundle"
chmod 0644 "$rootfs$bundle"

echo "rootfs $rootfs: $(du -sh --apparent-size "$rootfs" | cut -f1) in $(find "$rootfs" -type f | wc -l) files"
(cd "$rootfs" && find . -mindepth 1 -printf '  %M %4U:%-5G %10s  /%P\n' | sort -k4)

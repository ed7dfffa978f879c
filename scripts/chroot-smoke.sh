#!/usr/bin/env bash
# Proves the Dockerfile.aot image without a Docker engine. Builds the image's root filesystem with the script the
# Dockerfile's build stage runs (scripts/make-rootfs.sh: the published output + the shared objects ldd lists, nothing
# else), adds what a container runtime supplies at run time (/proc, the /dev nodes Docker creates), then runs the final
# stage's ENTRYPOINT as its USER with its ENV (all read from Dockerfile.aot) in a chroot: writes and queries over
# loopback, runs the HEALTHCHECK command inside the chroot, stops with SIGTERM and checks the Parquet file in the volume.
# Reports startup time to the first 200 on /health, idle RSS and the image size.
# Usage (as root): scripts/chroot-smoke.sh [PUBLISH_DIR]        (default artifacts/publish)
set -euo pipefail
cd "$(dirname "$0")/.."
publish=$(realpath "${1:-artifacts/publish}")
dockerfile=Dockerfile.aot
[ "$(id -u)" = 0 ] || { echo "chroot-smoke: needs root (chroot, mount, mknod)" >&2; exit 1; }
chroot_bin=$(command -v chroot)

work=$(mktemp -d /tmp/arc-chroot.XXXXXX)
rootfs="$work/rootfs"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if mountpoint -q "$rootfs/proc" 2>/dev/null; then umount "$rootfs/proc" || umount -l "$rootfs/proc" || true; fi
  if mountpoint -q "$rootfs/proc" 2>/dev/null; then
    echo "chroot-smoke: $rootfs/proc still mounted; leaving $work in place" >&2
  else
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM # interrupted: still stop the server and unmount /proc
fail() { echo "chroot-smoke: $*" >&2; [ -f "$work/server.log" ] && sed 's/^/  server: /' "$work/server.log" >&2; exit 1; }
trap 'echo "chroot-smoke: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# The final stage of Dockerfile.aot, as shell variables. Anything the parser does not understand fails the test, so the
# Dockerfile cannot grow a step this proof does not replay.
eval "$(python3 - "$dockerfile" <<'PY'
import json, re, shlex, sys
lines, buf = [], ""
for raw in open(sys.argv[1]):
    line = raw.rstrip("\n")
    if not buf and (not line.strip() or line.lstrip().startswith("#")):
        continue
    if line.endswith("\\"):
        buf += line[:-1] + " "
        continue
    lines.append((buf + line).strip())
    buf = ""
stages = []
for line in lines:
    if line.split()[0].upper() == "FROM":
        stages.append([])
    stages[-1].append(line)
build, final = stages[-2], stages[-1]
def fail(message):
    print(f"echo 'chroot-smoke: Dockerfile.aot: {message}' >&2; exit 1")
    sys.exit(0)
if final[0].split()[1] != "scratch":
    fail("the final stage is not FROM scratch")
build_alias = build[0].split()[-1]
make_rootfs = [l for l in build if "scripts/make-rootfs.sh" in l]
m = re.search(r"scripts/make-rootfs\.sh\s+(\S+)\s+(\S+)", make_rootfs[0]) if make_rootfs else None
if not m:
    fail("the build stage does not run scripts/make-rootfs.sh")
rootfs_dir = m.group(2).rstrip("/")
out = {"image_env": [], "image_copies": []}
for line in final[1:]:
    word, rest = line.split(None, 1)
    word = word.upper()
    if word == "COPY":
        args = rest.split()
        flags = [a for a in args if a.startswith("--")]
        src, dst = [a for a in args if not a.startswith("--")]
        if f"--from={build_alias}" not in flags or not (src.rstrip("/") + "/").startswith(rootfs_dir + "/"):
            fail(f"COPY not from the make-rootfs.sh output: {line}")
        if src.rstrip("/")[len(rootfs_dir):] != dst.rstrip("/"):  # /out/rootfs/ -> /, /out/rootfs/data/ -> /data/
            fail(f"COPY moves files away from where make-rootfs.sh put them: {line}")
        chown = next((f.split("=", 1)[1] for f in flags if f.startswith("--chown=")), "")
        out["image_copies"].append(f"{dst}={chown}")
    elif word == "USER":
        out["image_user"] = rest.strip()
    elif word == "ENV":
        out["image_env"] += shlex.split(rest)
    elif word == "VOLUME":
        out["image_volume"] = json.loads(rest)[0]
    elif word == "EXPOSE":
        out["image_port"] = rest.split("/")[0].strip()
    elif word == "HEALTHCHECK":
        out["image_healthcheck"] = json.loads(rest.split(" CMD ", 1)[1])
    elif word == "ENTRYPOINT":
        out["image_entrypoint"] = json.loads(rest)
    else:
        fail(f"instruction the chroot proof does not replay: {line}")
for key in ("image_user", "image_volume", "image_port", "image_healthcheck", "image_entrypoint"):
    if key not in out:
        fail(f"the final stage has no {key[6:].upper()}")
for key, value in out.items():
    print(f"{key}=({' '.join(shlex.quote(v) for v in value)})" if isinstance(value, list) else f"{key}={shlex.quote(value)}")
PY
)"
echo "Dockerfile.aot final stage: USER $image_user, ENV ${image_env[*]}, VOLUME $image_volume, EXPOSE $image_port," \
     "ENTRYPOINT ${image_entrypoint[*]}, HEALTHCHECK ${image_healthcheck[*]}"

echo "== rootfs (scripts/make-rootfs.sh, as in the Dockerfile build stage)"
scripts/make-rootfs.sh "$publish" "$rootfs"
for copy in "${image_copies[@]}"; do # COPY --chown: the ownership the image gets
  dst=${copy%%=*} chown=${copy#*=}
  [ -z "$chown" ] || [ "$(stat -c %u:%g "$rootfs$dst")" = "$chown" ] || fail "$dst is not owned by $chown in the rootfs"
done
[ "$(stat -c %u:%g "$rootfs$image_volume")" = "$image_user" ] || fail "the volume $image_volume is not owned by $image_user"
for variable in "${image_env[@]}"; do # the CA bundle the image's ENV names is in the image
  case "$variable" in SSL_CERT_FILE=*) [ -s "$rootfs${variable#*=}" ] || fail "$variable: no such file in the image";; esac
done
image_bytes=$(du -sb "$rootfs" | cut -f1)
image_files=$(find "$rootfs" -type f | wc -l)
(cd "$rootfs" && find . | sort) >"$work/image.list"

# Every ELF in the image resolves its shared objects from the image alone (the loader inside the chroot, no host paths).
loaders=("$rootfs"/lib64/ld-linux-*.so.*)
loader=${loaders[0]#"$rootfs/"}
while read -r elf; do
  listing=$("$chroot_bin" "$rootfs" "/$loader" --list "/$elf" 2>&1) || fail "/$elf does not load in the image: $listing"
  ! grep -q 'not found' <<<"$listing" || fail "/$elf misses shared objects in the image: $listing"
done < <(cd "$rootfs" && find . -maxdepth 1 -type f -printf '%P\n' | sort)

# What the container runtime adds at run time (not part of the image): procfs, and Docker's default /dev nodes
# (.NET reads /dev/urandom for Guid.NewGuid; the embedded-library layout also needs /proc/self/fd).
mkdir -p "$rootfs/proc" "$rootfs/dev"
mount -t proc proc "$rootfs/proc"
for node in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9"; do
  set -- $node
  mknod -m 666 "$rootfs/dev/$1" c "$2" "$3"
done
ln -s /proc/self/fd "$rootfs/dev/fd"

# `docker run -e ARC_SERVER_PORT=...`: the test cannot count on port 8000 being free; everything else as the image says.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
token=arc_chroot-smoke-token-0123456789abcdefghijk # `docker run -e ARC_AUTH_BOOTSTRAP_TOKEN=...`
run_env=(env -i "${image_env[@]}" ARC_SERVER_PORT="$port")
in_image() { "${run_env[@]}" "$chroot_bin" --userspec="$image_user" "$rootfs" "$@"; }

echo "== server in the chroot as $image_user (port $port for $image_port)"
in_image "${image_entrypoint[@]}" --version || fail "--version failed in the chroot"
start=$(date +%s%N)
"${run_env[@]}" ARC_INGEST_MAX_BUFFER_AGE_MS=100 ARC_AUTH_BOOTSTRAP_TOKEN="$token" "$chroot_bin" --userspec="$image_user" "$rootfs" "${image_entrypoint[@]}" \
  >"$work/server.log" 2>&1 &
pid=$!
ready_ms=""
for _ in $(seq 1 1500); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; then
    ready_ms=$((($(date +%s%N) - start) / 1000000))
    break
  fi
  kill -0 "$pid" 2>/dev/null || fail "the server exited during startup"
  sleep 0.01
done
[ -n "$ready_ms" ] || fail "no 200 from /health within 15 s"
[ "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")" = "${image_user%%:*}" ] || fail "the server does not run as $image_user"

status=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$port/write?db=smoke" --data-binary 'cpu v=1' || true)
[ "$status" = 401 ] || fail "a write without a token returned $status, not 401"
status=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$port/write?db=smoke" -H "Authorization: Bearer $token" \
  --data-binary $'cpu,host=a usage=1.5,n=7i 1700000000000000001\ncpu,host=b usage=2.5,n=8i 1700000001000000000\n' || true)
[ "$status" = 204 ] || fail "write returned $status"
printf 'cpu,host=c usage=3.5,n=9i 1700000002000000000\n' | gzip -c >"$work/body.gz"
status=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$port/api/v2/write?bucket=smoke" \
  -H "Authorization: Token $token" -H 'Content-Encoding: gzip' --data-binary @"$work/body.gz" || true)
[ "$status" = 204 ] || fail "gzip write returned $status"

expected='"data":[["2023-11-14T22:13:20.000000001Z","a",1.5,7],["2023-11-14T22:13:21Z","b",2.5,8],["2023-11-14T22:13:22Z","c",3.5,9]]'
result=""
for _ in $(seq 1 100); do
  result=$(curl -s -XPOST "http://127.0.0.1:$port/api/v1/query" -H 'x-arc-database: smoke' -H "Authorization: Bearer $token" \
    -d '{"sql":"SELECT time, host, usage, n FROM cpu ORDER BY time"}' || true)
  [[ "$result" == *"$expected"* ]] && break
  sleep 0.05
done
[[ "$result" == *"$expected"* ]] || fail "unexpected query result: $result"

echo "== HEALTHCHECK ${image_healthcheck[*]} in the chroot"
in_image "${image_healthcheck[@]}" || fail "the health check failed against a running server"

sleep 2 # idle
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")

kill -TERM "$pid"
wait "$pid" || fail "the server exited with status $? after SIGTERM"
pid=""
files=$(find "$rootfs$image_volume" -name '*.parquet' -path '*/smoke/cpu/*' | wc -l)
[ "$files" -ge 1 ] || fail "no Parquet file under $image_volume after shutdown"
owner=$(find "$rootfs$image_volume" -name '*.parquet' -printf '%U:%G\n' | sort -u)
[ "$owner" = "$image_user" ] || fail "Parquet files owned by $owner, not $image_user"
# The container writes only to its volume (and /tmp): nothing new in the image's own tree.
written=$(cd "$rootfs" && find . -path ./proc -prune -o -path ./dev -prune -o -path ".$image_volume" -prune -o -path ./tmp -prune \
  -o -print | sort | comm -13 "$work/image.list" -)
[ -z "$written" ] || fail "the server wrote outside $image_volume: $written"
echo "written to the volume: $(cd "$rootfs$image_volume" && find . -mindepth 1 -maxdepth 2 | sort | tr '\n' ' ')"

if in_image "${image_healthcheck[@]}" 2>"$work/health.err"; then fail "the health check passed with no server running"; fi
echo "health check with the server stopped: exit 1 ($(cat "$work/health.err"))"

echo "chroot smoke test passed (Dockerfile.aot layout, $image_files files):" \
     "image $((image_bytes / 1048576)) MiB uncompressed, first 200 on /health after ${ready_ms} ms, idle RSS $((rss_kb / 1024)) MiB," \
     "write + query + healthcheck + clean SIGTERM ($files Parquet file(s) in $image_volume)"

#!/usr/bin/env bash
# Measures the two ways the native libraries can travel (docs/distribution.md):
#   beside    - dotnet publish (default): arc-native + libduckdb.so + ParquetSharpNative.so in one directory
#   embedded  - dotnet publish -p:ArcEmbedNativeLibraries=true: one file, libraries appended to the executable and loaded
#               from a memfd at startup (embedded-tempfile: the same file with ARC_NATIVE_EXTRACT=tempfile, the fallback)
# For each: the distributed bytes, the image (scripts/make-rootfs.sh) uncompressed and gzip-compressed, the time from
# exec to the first 200 on /health (median of RUNS starts, each from an empty directory, warm page cache) with the CPU
# time the process used until then (user + system: the figure a busy machine disturbs least), and after
# 3 s idle: RSS (VmRSS, with its anonymous/file/shmem parts) and the bytes held in memfds (shared memory: resident and
# not evictable without swap, mapped or not; RSS counts only the pages the loader mapped and touched). Layouts take
# turns run by run, so a busy machine skews them alike.
# Usage: scripts/measure-distribution.sh [RUNS]       (default 7; as root, for make-rootfs.sh's chown)
#        ARC_MEASURE_COLD=1 also measures 3 starts per layout with a cold page cache (drops the caches: root only)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

echo "== publish both layouts" >&2
scripts/publish-aot.sh artifacts/publish >/dev/null
scripts/publish-aot.sh artifacts/publish-embedded -p:ArcEmbedNativeLibraries=true >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for layout in beside embedded; do
  dir=artifacts/publish; [ $layout = embedded ] && dir=artifacts/publish-embedded
  scripts/make-rootfs.sh "$dir" "$work/rootfs-$layout" >/dev/null
  tar -C "$work/rootfs-$layout" -cf - . | gzip -6 | wc -c >"$work/gzip-$layout"
done

python3 - "$runs" "$work" <<'PY'
import os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

runs, work = int(sys.argv[1]), sys.argv[2]
cold = os.environ.get("ARC_MEASURE_COLD") == "1"
layouts = [
    ("beside", "artifacts/publish", {}),
    ("embedded (memfd)", "artifacts/publish-embedded", {}),
    ("embedded (tempfile)", "artifacts/publish-embedded", {"ARC_NATIVE_EXTRACT": "tempfile"}),
]

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def health_ok(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False

def status(pid):
    values = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            values[key] = int(rest.split()[0])
    return values

def start(source, extra_env, drop_caches=False):
    """Copies the distribution into an empty directory, starts ./arc-native there, returns ms to the first 200."""
    directory = tempfile.mkdtemp(dir=work)
    for name in os.listdir(source):
        shutil.copy2(os.path.join(source, name), directory)
    if drop_caches:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "ARC_SERVER_HOST": "127.0.0.1", "ARC_SERVER_PORT": str(port), **extra_env}
    t0 = time.monotonic()
    process = subprocess.Popen(["./arc-native"], cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while not health_ok(port):
        if process.poll() is not None:
            raise SystemExit(f"arc-native exited: {process.stderr.read().decode()}")
        if time.monotonic() - t0 > 30:
            raise SystemExit("no 200 from /health within 30 s")
        time.sleep(0.002)
    ready_ms = (time.monotonic() - t0) * 1000
    fields = open(f"/proc/{process.pid}/stat").read().rsplit(")", 1)[1].split()
    cpu_ms = (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")  # utime + stime so far
    return process, directory, ready_ms, cpu_ms

def stop(process, directory):
    process.send_signal(signal.SIGTERM)
    if process.wait(30) != 0:
        raise SystemExit(f"arc-native exited with {process.returncode} after SIGTERM")
    shutil.rmtree(directory)

def memfd_bytes(pid):
    """Bytes in memfds the process holds: shared memory that stays resident (not evictable, no swap) even where unmapped."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:"):
                total += os.stat(f"/proc/{pid}/fd/{fd}").st_size
        except OSError:
            pass
    return total // 1024

# Layouts take turns, run by run, so a busy machine skews them alike.
samples = {name: {"ready": [], "cpu": [], "cold": [], "rss": [], "anon": [], "file": [], "shm": [], "memfd": []} for name, _, _ in layouts}
for _ in range(3 if cold else 0):
    for name, source, extra_env in layouts:
        process, directory, ready_ms, _ = start(source, extra_env, drop_caches=True)
        samples[name]["cold"].append(ready_ms)
        stop(process, directory)
for _ in range(runs):
    for name, source, extra_env in layouts:
        process, directory, ready_ms, cpu_ms = start(source, extra_env)
        time.sleep(3)
        s = status(process.pid)
        m = samples[name]
        m["ready"].append(ready_ms); m["cpu"].append(cpu_ms); m["rss"].append(s["VmRSS"]); m["anon"].append(s["RssAnon"]); m["file"].append(s["RssFile"])
        m["shm"].append(s["RssShmem"]); m["memfd"].append(memfd_bytes(process.pid))
        stop(process, directory)

rows = []
med = statistics.median
for name, source, extra_env in layouts:
    files = sorted(os.listdir(source))
    size = sum(os.path.getsize(os.path.join(source, f)) for f in files)
    key = "beside" if name == "beside" else "embedded"
    image = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(f"{work}/rootfs-{key}") for f in fs)
    image_gz = int(open(f"{work}/gzip-{key}").read())
    m = samples[name]
    rows.append((name, f"{len(files)} ({', '.join(files)})", size, image, image_gz, med(m["ready"]), min(m["ready"]), max(m["ready"]), med(m["cpu"]),
                 med(m["cold"]) if m["cold"] else None, med(m["rss"]), med(m["anon"]), med(m["file"]), med(m["shm"]), med(m["memfd"])))

mib = lambda b: f"{b / 1048576:.1f} MiB"
kib = lambda k: f"{k / 1024:.1f} MiB"
print(f"\n{runs} starts per layout, {os.cpu_count()} cores, kernel {os.uname().release}\n")
print("| Layout | Files | Distributed | Image (uncompressed / gzip) | First 200 on /health, median (min-max)" +
      (" / cold cache (median of 3)" if cold else "") + " | CPU used until then (median) | Idle RSS (anon + file + shmem) | memfd held |")
print("|---|---|---|---|---|---|---|---|")
for (name, files, size, image, image_gz, ready, lo, hi, cpu, cold_ms, rss, anon, file_, shm, memfd) in rows:
    cold_text = f" / {cold_ms:.0f} ms" if cold_ms is not None else ""
    print(f"| {name} | {files} | {mib(size)} | {mib(image)} / {mib(image_gz)} | {ready:.0f} ms ({lo:.0f}-{hi:.0f}){cold_text} | {cpu:.0f} ms | "
          f"{kib(rss)} ({kib(anon)} + {kib(file_)} + {kib(shm)}) | {kib(memfd)} |")
PY

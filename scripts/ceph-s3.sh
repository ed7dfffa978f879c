#!/usr/bin/env bash
# A throwaway S3 server for the tests: single-node Ceph (Debian's ceph-mon, ceph-osd and radosgw) with a RAM-backed OSD
# (memstore), on loopback only. Credentials: access key "testkey", secret "testsecret".
#   ceph-s3.sh install                  apt-get the packages if they are missing (idempotent)
#   ceph-s3.sh start DIR [PORT]          start everything (PORT: radosgw's HTTP port, default: a free port whose
#                                        successor, the monitor's, is free too; written to DIR/port); ~15 s,
#                                        up to 3 attempts
#   ceph-s3.sh stop DIR                  stop everything (the data is in RAM and is gone)
#   ceph-s3.sh rgw-stop DIR | rgw-start DIR   stop or start only radosgw (the object store goes away and comes back intact)
set -euo pipefail
trap 'echo "ceph-s3.sh: failed at line $LINENO (logs in ${dir:-?}/log)" >&2' ERR
command=${1:?usage: ceph-s3.sh install|start|stop|rgw-stop|rgw-start DIR [PORT]}

if [ "$command" = install ]; then
  if ! command -v radosgw >/dev/null || ! command -v ceph-mon >/dev/null || ! command -v ceph-osd >/dev/null || ! command -v uuidgen >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq ceph-mon ceph-osd radosgw ceph-common uuid-runtime >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq ceph-mon ceph-osd radosgw ceph-common uuid-runtime >/dev/null; }
  fi
  exit 0
fi

dir=$(realpath -m "${2:?directory required}")
conf="$dir/ceph.conf"

# A start whose daemons do not come up (seen here: an OSD refused by its monitor with "wrong fsid", now and then) is
# retried from scratch, on a new port pair unless one was given; the failed attempt's log tails go to stderr.
if [ "$command" = start ] && [ -z "${CEPH_S3_ATTEMPT:-}" ]; then
  trap - ERR
  # Seen under load (a test suite starting beside it): three failures in a row. Five tries, each a little later.
  for attempt in 1 2 3 4 5; do
    CEPH_S3_ATTEMPT=$attempt "$0" start "$dir" ${3:+"$3"} && exit 0
    echo "ceph-s3.sh: start attempt $attempt failed" >&2
    tail -n 3 "$dir"/log/*.log >&2 || true
    "$0" stop "$dir" || true
    sleep "$attempt"
  done
  exit 1
fi
free_port_pair() {
  python3 -c '
import socket
while True:
    a, b = socket.socket(), socket.socket()
    a.bind(("127.0.0.1", 0)); port = a.getsockname()[1]
    try:
        b.bind(("127.0.0.1", port + 1)); print(port); break
    except OSError: pass
    finally: a.close(); b.close()'
}
if [ "$command" = start ]; then port=${3:-$(free_port_pair)}; else port=$(cat "$dir/port" 2>/dev/null || true); fi

wait_gone() { for pid in "$@"; do for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; done; }
wait_rgw() { for _ in $(seq 1 600); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && return 0; sleep 0.1; done; echo "radosgw did not answer on port $port" >&2; return 1; }

case "$command" in
  stop)
    pids=$(cat "$dir"/run/*.pid 2>/dev/null || true)
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    # shellcheck disable=SC2086
    wait_gone $pids
    exit 0
    ;;
  rgw-stop)
    pid=$(cat "$dir/run/client.rgw.a.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait_gone "$pid"
    rm -f "$dir/run/client.rgw.a.pid"
    exit 0
    ;;
  rgw-start)
    radosgw -c "$conf" -n client.rgw.a
    wait_rgw
    exit 0
    ;;
  start) ;;
  *) echo "unknown command $command" >&2; exit 2 ;;
esac

rm -rf "$dir"
mkdir -p "$dir/mon" "$dir/osd/ceph-0" "$dir/run" "$dir/log" "$dir/rgw"
echo "$port" >"$dir/port"
cd "$dir"
fsid=$(uuidgen)
mon_port=$((port + 1))
cat >"$conf" <<EOC
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
public network = 127.0.0.0/8
ms bind ipv6 = false
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
osd crush chooseleaf type = 0
run dir = $dir/run
pid file = $dir/run/\$type.\$id.pid
admin socket = $dir/run/\$cluster-\$name.asok
log file = $dir/log/\$cluster-\$name.log
keyring = $dir/keyring
mon data = $dir/mon/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = 2147483648
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $dir/rgw
pid file = $dir/run/client.rgw.a.pid
EOC
ceph-authtool --create-keyring keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool keyring --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' >/dev/null
monmaptool --create --addv a "[v1:127.0.0.1:$mon_port]" --fsid "$fsid" monmap >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap monmap --keyring keyring
ceph-mon -c "$conf" -i a
for _ in $(seq 1 100); do timeout 10 ceph -c "$conf" osd create >/dev/null 2>&1 && break; sleep 0.2; done
ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$(uuidgen)" 2>/dev/null
ceph-osd -c "$conf" -i 0 2>/dev/null
radosgw -c "$conf" -n client.rgw.a
wait_rgw
radosgw-admin -c "$conf" user create --uid=test --display-name=test --access-key=testkey --secret=testsecret >/dev/null
echo "radosgw ready on http://127.0.0.1:$port"

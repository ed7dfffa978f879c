# Shell functions shared by the scripts that start a server (sourced, not run).

# A TCP port free on loopback right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# wait_ready URL LOG [SECONDS]: polls URL/ready every 0.1 s (10 s by default); if it never answers 2xx, prints LOG and fails.
wait_ready() {
  local url=$1 log=$2 tries=$((${3:-10} * 10)) try
  for ((try = 0; try < tries; try++)); do
    curl -fsS "$url/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$log" >&2
  echo "server at $url did not become ready" >&2
  return 1
}

# wait_flushed URL: waits until the server holds no buffered rows (everything written is in Parquet).
wait_flushed() { until [[ $(curl -fs "$1/ready") == *'"buffered_rows":0'* ]]; do sleep 0.2; done; }

#!/usr/bin/env bash
# A/B of two release builds of `budget`, alternated so that a noisy host hits both alike:
# the HTTP benchmark (fresh daemon and data directory per run), then the in-process durable
# and engine-core benchmarks.
#   tools/ab-bench.sh BEFORE_BINARY AFTER_BINARY [ROUNDS]
# AB_HTTP_ONLY=1 runs the HTTP benchmark only.
set -u
before=${1:?before binary}; after=${2:?after binary}; rounds=${3:-5}
port=8914
run_http() { # binary label
  local d; d=$(mktemp -d)
  BUDGET_DATA_DIR=$d/data "$1" serve --bind 127.0.0.1:$port > "$d/serve.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$port/ready >/dev/null && break; sleep 0.1; done
  echo "== $2 HTTP"
  BUDGET_DATA_DIR=$d/data "$1" --url http://127.0.0.1:$port bench --clients 32 --seconds 10 2>&1 | grep -E "throughput|latency"
  kill -TERM $pid; wait $pid 2>/dev/null; rm -rf "$d"
}
run_inproc() { # binary label
  echo "== $2 in-process durable"
  "$1" bench --in-process --clients 32 --seconds 10 2>&1 | grep -E "throughput|latency"
  echo "== $2 engine core"
  "$1" bench --in-process --engine-only --clients 32 --seconds 5 2>&1 | grep -E "throughput|latency"
}
for i in $(seq 1 "$rounds"); do
  if (( i % 2 )); then run_http "$before" before; run_http "$after" after
  else run_http "$after" after; run_http "$before" before; fi
done
[[ ${AB_HTTP_ONLY:-0} == 1 ]] && exit 0
for i in $(seq 1 "$rounds"); do
  if (( i % 2 )); then run_inproc "$before" before; run_inproc "$after" after
  else run_inproc "$after" after; run_inproc "$before" before; fi
done

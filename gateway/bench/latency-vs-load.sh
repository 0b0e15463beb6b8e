#!/usr/bin/env bash
# Publish → receive latency against load, the gateway beside the seed
# design's hub (gateway/bench/seed-hub: Fastify, an in-memory broadcast per
# npc), on the same machine with the same load generator: 1,000 SSE
# subscribers over 10 npcs, one event per POST, at each fixed rate in turn.
#
#   gateway/bench/latency-vs-load.sh [rates...]     (default: 200 seed 2000 0)
#
# A rate is publishes a second; 0 is full speed; `seed` is the seed design's
# saturation, the rate it reaches at full speed, measured first (the loads it
# can carry end there).
#
# Env: CARGO_TARGET_DIR (release builds of gateway and loadgen are made),
# SECONDS_EACH (10), SUBSCRIBERS (1000), PUBLISHERS (8: each waits for its
# acknowledgement before its next send), LINGER_MS (the gateway's
# STREAM_LINGER_MS; unset: its default), ONLY (gateway|seed), GATEWAY (a
# gateway binary to measure instead of this tree's release build, to compare
# two builds in one run).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/esprit-hub/target}"
rates=("$@")
[ $# -eq 0 ] && rates=(200 seed 2000 0)
seconds="${SECONDS_EACH:-10}"
subscribers="${SUBSCRIBERS:-1000}"
publishers="${PUBLISHERS:-8}"

(cd "$root" && CARGO_TARGET_DIR="$target" cargo build --release -q -p gateway --bin gateway --bin loadgen)
[ -d "$here/seed-hub/node_modules" ] || (cd "$here/seed-hub" && npm ci --no-audit --no-fund -s)

work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$target/release/loadgen" --npcs 10 --write-agents "$work/agents.json"

wait_ready() {
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "nothing answers on port $1" >&2
  return 1
}

load() { # port pid rate
  "$target/release/loadgen" --url "http://127.0.0.1:$1" --npcs 10 --subscribers "$subscribers" \
    --publishers "$publishers" --rate "$3" --batch 1 --seconds "$seconds" --gateway-pid "$2"
}

measure() { # name port pid
  for rate in "${rates[@]}"; do
    echo "== $1, rate $rate/s (0: full speed), $subscribers subscribers over 10 npcs, ${seconds}s"
    load "$2" "$3" "$rate"
  done
}

start_seed() {
  node "$here/seed-hub/server.mjs" 3791 >/dev/null &
  seed=$!
  wait_ready 3791
}
stop_seed() { kill "$seed"; wait "$seed" 2>/dev/null || true; }

if printf '%s\n' "${rates[@]}" | grep -qx seed; then
  start_seed
  saturation=$(load 3791 "$seed" 0 | sed -n 's/^published .*(\([0-9]*\)\/s).*/\1/p')
  stop_seed
  [ -n "$saturation" ] || { echo "the seed design's full-speed run printed no rate" >&2; exit 1; }
  echo "== the seed design's saturation: $saturation publishes/s"
  rates=("${rates[@]/#seed/$saturation}")
fi

if [ "${ONLY:-}" != "gateway" ]; then
  start_seed
  measure "seed design (in memory, Node/Fastify)" 3791 "$seed"
  stop_seed
fi

if [ "${ONLY:-}" != "seed" ]; then
  linger=()
  [ -n "${LINGER_MS:-}" ] && linger=(env "STREAM_LINGER_MS=$LINGER_MS")
  "${linger[@]}" env PUBLISHES_PER_SECOND=0 STREAMS_PER_CLIENT=100000 CONNECTIONS_PER_CLIENT=100000 \
    "${GATEWAY:-$target/release/gateway}" --port 3792 --agent-map-file "$work/agents.json" \
    --data-dir "$work/db" --log-level warn &
  gateway=$!
  wait_ready 3792
  measure "gateway (SQLite, every event fsynced before its 202)" 3792 "$gateway"
  kill "$gateway"; wait "$gateway" 2>/dev/null || true
fi

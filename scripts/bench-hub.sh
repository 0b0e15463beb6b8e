#!/usr/bin/env bash
# The gateway's SSE hub against the floor, on this machine (docs/benchmarks.md):
#  1. a bare warp SSE hub (gateway/examples/bare_warp_hub.rs: no storage, no
#     auth) and the gateway (every event persisted, SQLite synchronous=FULL)
#     under the same load, alternating, ROUNDS times: 1,000 subscribers over
#     10 npcs, 8 publishers at full speed, one event per POST;
#  2. the gateway holding 10,000 streams over 100 npcs at 100 events/s.
# Needs the release build: cargo build --release -p gateway --bins --examples
set -euo pipefail
cd "$(dirname "$0")/.."
T="${CARGO_TARGET_DIR:-$HOME/.cache/esprit-hub/target}/release"
[ -x "$T/gateway" ] && [ -x "$T/loadgen" ] && [ -x "$T/examples/bare_warp_hub" ] ||
  { echo "build first: cargo build --release -p gateway --bins --examples"; exit 1; }
rounds="${ROUNDS:-2}"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
"$T/loadgen" --npcs 10 --write-agents "$work/agents10.json"
"$T/loadgen" --npcs 100 --write-agents "$work/agents100.json"
mkdir -p "$work/flows"
# The load generator is one address: the per-address limits would measure themselves.
export PUBLISHES_PER_SECOND=0 STREAMS_PER_CLIENT=100000 CONNECTIONS_PER_CLIENT=100000 LOG_LEVEL=warn
load() { "$T/loadgen" "$@" 2>/dev/null | grep -E "^(published|first error|deliveries|lost|latency|gateway)"; }
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null || true; }

for round in $(seq 1 "$rounds"); do
  echo "== round $round: bare warp hub"
  "$T/examples/bare_warp_hub" 3200 >/dev/null & hub=$!
  sleep 1
  load --url http://127.0.0.1:3200 --npcs 10 --subscribers 1000 --publishers 8 --rate 0 --batch 1 --seconds 10 --gateway-pid $hub
  stop $hub
  echo "== round $round: gateway"
  "$T/gateway" --port 3100 --agent-map-file "$work/agents10.json" --data-dir "$work/db-$round" --flows-dir "$work/flows" >/dev/null & gw=$!
  until curl -fs http://127.0.0.1:3100/readyz >/dev/null; do sleep 0.1; done
  load --url http://127.0.0.1:3100 --npcs 10 --subscribers 1000 --publishers 8 --rate 0 --batch 1 --seconds 10 --gateway-pid $gw
  stop $gw
done

echo "== gateway: 10,000 streams over 100 npcs, 100 events/s"
"$T/gateway" --port 3101 --agent-map-file "$work/agents100.json" --data-dir "$work/db-10k" --flows-dir "$work/flows" >/dev/null & gw=$!
until curl -fs http://127.0.0.1:3101/readyz >/dev/null; do sleep 0.1; done
echo "idle RSS         $(awk '/VmRSS/ {print $2}' /proc/$gw/status) KiB"
load --url http://127.0.0.1:3101 --npcs 100 --subscribers 10000 --publishers 4 --rate 100 --seconds 15 --gateway-pid $gw
stop $gw

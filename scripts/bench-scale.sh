#!/usr/bin/env bash
# Gateways on Redis Streams, measured on this machine (docs/benchmarks.md):
#  1. persisted publishes/s with Redis at appendfsync always and everysec
#     (and the embedded SQLite store for comparison), one event per POST;
#  2. deliveries/s, latency and CPU per delivery with 1, 2 and 3 gateways on
#     one Redis, under the same load, and Redis round trips per event.
# Needs the release build (cargo build --release -p gateway) and redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
T="${CARGO_TARGET_DIR:-$HOME/.cache/esprit-hub/target}/release"
[ -x "$T/gateway" ] && [ -x "$T/loadgen" ] || { echo "build first: cargo build --release -p gateway"; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is missing (apt-get install redis-server)"; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
"$T/loadgen" --npcs 10 --write-agents "$work/agents.json"
mkdir -p "$work/flows"
export PUBLISHES_PER_SECOND=0 STREAMS_PER_CLIENT=100000 CONNECTIONS_PER_CLIENT=100000 LOG_LEVEL=warn

redis() { # policy port
  rm -rf "$work/redis-$2" && mkdir -p "$work/redis-$2"
  redis-server --port "$2" --dir "$work/redis-$2" --appendonly yes --appendfsync "$1" --save "" --daemonize no --loglevel warning >/dev/null &
  until redis-cli -p "$2" ping >/dev/null 2>&1; do sleep 0.1; done
}
gateway() { # port store_url
  STORE_URL="$2" "$T/gateway" --port "$1" --agent-map-file "$work/agents.json" --data-dir "$work/db-$1" --flows-dir "$work/flows" >/dev/null &
  until curl -fs "http://127.0.0.1:$1/readyz" >/dev/null; do sleep 0.1; done
}
stop() { kill "$@" 2>/dev/null; wait "$@" 2>/dev/null || true; }
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; } # seconds of user + system time

echo "== persisted publishes, 64 publishers, 1 event per POST, 10 subscribers"
for policy in always everysec; do
  redis "$policy" 6390; gateway 3190 redis://127.0.0.1:6390/0
  rp=$(pgrep -f "redis-server.*6390"); before=$(cpu "$rp")
  echo "-- redis appendfsync $policy"
  "$T/loadgen" --url http://127.0.0.1:3190 --npcs 10 --subscribers 10 --publishers 64 --rate 0 --batch 1 --seconds 10 2>/dev/null | grep -E "^published|^latency"
  events=$(redis-cli -p 6390 get esprit:seq)
  echo "redis CPU        $(awk "BEGIN {printf \"%.1f\", ($(cpu "$rp") - $before) * 1e6 / $events}") µs per event"
  stop $(pgrep -f "gateway --port 3190") "$rp"
done
echo "-- embedded SQLite (synchronous=FULL)"
gateway 3190 ""
"$T/loadgen" --url http://127.0.0.1:3190 --npcs 10 --subscribers 10 --publishers 64 --rate 0 --batch 1 --seconds 10 2>/dev/null | grep -E "^published|^latency"
stop $(pgrep -f "gateway --port 3190")

echo "== 1,000 subscribers over 10 npcs, 8 publishers at full speed, 1 event per POST, Redis appendfsync always"
for n in 1 2 3; do
  redis always 6391
  urls=(); pids=()
  for i in $(seq 1 "$n"); do
    gateway $((3290 + i)) redis://127.0.0.1:6391/0
    urls+=("http://127.0.0.1:$((3290 + i))"); pids+=("$(pgrep -f "gateway --port $((3290 + i))")")
  done
  redis-cli -p 6391 config resetstat >/dev/null
  rp=$(pgrep -f "redis-server.*6391"); before=$(cpu "$rp")
  echo "-- $n gateway(s)"
  "$T/loadgen" --url "${urls[@]}" --npcs 10 --subscribers 1000 --publishers 8 --rate 0 --batch 1 --seconds 10 --gateway-pid "${pids[@]}" 2>/dev/null | grep -E "published|deliveries|lost|latency|CPU|memory"
  events=$(redis-cli -p 6391 get esprit:seq)
  stats=$(redis-cli -p 6391 info commandstats)
  calls() { awk -F'[:=,]' -v c="cmdstat_$1" '$1 == c {print $3}' <<<"$stats"; }
  echo "redis            $events events: $(calls evalsha) appends (one round trip each), $(calls xread) log reads ($(awk "BEGIN {printf \"%.3f\", $(calls xread) / $events}") per event over $n reader(s)), $(calls xadd) stream writes inside the scripts"
  echo "redis CPU        $(awk "BEGIN {printf \"%.1f\", ($(cpu "$rp") - $before) * 1e6 / $events}") µs per event"
  stop "${pids[@]}" $(pgrep -f "redis-server.*6391")
done

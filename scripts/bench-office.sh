#!/usr/bin/env bash
# The desktop office under Xvfb on this machine (docs/benchmarks.md):
#  1. frame time with 10, 200 and 1,000 characters, sitting (the office's pace)
#     and walking (`--restless`: idle characters get up almost at once),
#     rendering every frame (`--render continuous`);
#  2. the office's CPU over 60 s with no events, drawing every frame against
#     drawing on demand (the default), then on demand with everyone typing and
#     with everyone still;
#  3. event → badge: the time from the gateway accepting an event to the end
#     of the frame that shows it, on demand and drawing every frame.
# Needs: cargo build --release -p gateway && cargo build -p game; Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
T="${CARGO_TARGET_DIR:-$HOME/.cache/esprit-hub/target}"
[ -x "$T/release/gateway" ] && [ -x "$T/release/loadgen" ] && [ -x "$T/debug/game" ] ||
  { echo "build first: cargo build --release -p gateway && cargo build -p game"; exit 1; }
command -v Xvfb >/dev/null || { echo "Xvfb is missing (apt-get install xvfb)"; exit 1; }
seconds="${SECONDS_PER_RUN:-10}"
idle_seconds="${IDLE_SECONDS:-60}"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
Xvfb :97 -screen 0 1280x760x24 >/dev/null 2>&1 &
export DISPLAY=:97 WGPU_BACKEND=vulkan XDG_RUNTIME_DIR="$work"
mkdir -p "$work/flows"
gateway() { # npcs port
  "$T/release/loadgen" --npcs "$1" --write-agents "$work/agents$1.json"
  "$T/release/gateway" --port "$2" --agent-map-file "$work/agents$1.json" --data-dir "$work/db$1" \
    --flows-dir "$work/flows" --log-level warn >/dev/null &
  until curl -fs "http://127.0.0.1:$2/readyz" >/dev/null; do sleep 0.1; done
}
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }

port=3400
for npcs in 10 200 1000; do
  port=$((port + 1))
  gateway "$npcs" "$port"
  for mode in sitting walking; do
    flag=""; [ "$mode" = walking ] && flag="--restless"
    # A warm-up long enough for restless characters to be up and about.
    printf '%-5s characters, %-7s: ' "$npcs" "$mode"
    "$T/debug/game" --gateway "http://127.0.0.1:$port" --render continuous $flag --frame-stats "$seconds" 2>/dev/null | tail -1
  done
done

office_cpu() { # label pace: the office's CPU over $idle_seconds after a settling time
  "$T/debug/game" --gateway http://127.0.0.1:3499 --render "$2" >/dev/null 2>&1 &
  pid=$!
  sleep 15 # start-up and the first frames
  before=$(cpu $pid)
  sleep "$idle_seconds"
  after=$(cpu $pid)
  kill $pid; wait $pid 2>/dev/null || true
  awk -v l="$1" -v p="$2" -v a="$after" -v b="$before" -v s="$idle_seconds" \
    'BEGIN { printf "%-30s %-10s CPU %.2f s in %d s (%.1f %% of a core)\n", l, p, a - b, s, (a - b) / s * 100 }'
}
everyone() { # event type: posted for each of the 10 characters
  for i in $(seq 0 9); do
    curl -fs -o /dev/null -H 'content-type: application/json' \
      -d "{\"npc\":\"npc$i\",\"type\":\"$1\",\"data\":{\"error\":\"stopped\"}}" \
      http://127.0.0.1:3499/api/events
  done
}

echo "== 10 characters, no events, for ${idle_seconds} s each"
gateway 10 3499
# Idle characters get up now and then: walks draw every frame (30 a second
# with the window in the background, as under Xvfb).
office_cpu "idle (characters wander)" continuous
office_cpu "idle (characters wander)" on-demand
everyone started
office_cpu "everyone typing" on-demand
everyone error
office_cpu "everyone still (failed)" on-demand

echo "== event → badge: 10 characters, 4 events a second for ${seconds} s"
for pace in on-demand continuous; do
  "$T/debug/game" --gateway http://127.0.0.1:3499 --render "$pace" --frame-stats "$seconds" >"$work/latency" 2>/dev/null &
  pid=$!
  sleep 4 # start-up and the warm-up
  kinds=(awaiting started step done)
  i=0
  while kill -0 $pid 2>/dev/null; do
    curl -fs -o /dev/null -H 'content-type: application/json' \
      -d "{\"npc\":\"npc$((i % 10))\",\"type\":\"${kinds[$((i % 4))]}\",\"data\":{\"message\":\"check $i\",\"question\":\"Ship it?\"}}" \
      http://127.0.0.1:3499/api/events || true
    i=$((i + 1))
    sleep 0.25
  done
  wait $pid || true
  printf '%-10s %s\n' "$pace" "$(tr '\n' ' ' <"$work/latency")"
done

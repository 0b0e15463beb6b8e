#!/usr/bin/env bash
# Times ./run.sh the way a newcomer meets it: a fresh clone with nothing
# downloaded and nothing built (an empty CARGO_HOME and target directory),
# until run.sh says the office is ready and the gateway serves its module. Prints the seconds;
# removes what it made (keep it with KEEP=1).
#   scripts/first-run.sh [port]      (default 3999)
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-3999}"
work="$(mktemp -d /tmp/esprit-first-run.XXXXXX)"
git clone -q . "$work/esprit"
run=""
# run.sh runs in a session of its own: stopping it also stops what it left
# in the background (brotli), which would otherwise slow the next run.
cleanup() {
  [ -z "$run" ] || { kill -TERM -- "-$run" 2>/dev/null; wait "$run" 2>/dev/null || true; }
  [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
started=$SECONDS
(cd "$work/esprit" && CARGO_HOME="$work/cargo" CARGO_TARGET_DIR="$work/target" PORT="$port" \
  exec setsid ./run.sh >"$work/run.log" 2>&1) &
run=$!
# run.sh says the office is ready once web/build.sh has ended, built or not.
until grep -q 'the office is ready' "$work/run.log"; do
  kill -0 "$run" 2>/dev/null || { echo "first-run: ./run.sh ended early:"; tail -n 30 "$work/run.log"; exit 1; }
  sleep 1
done
! grep -q 'did not build' "$work/run.log" || { echo "first-run: the office did not build:"; tail -n 30 "$work/run.log"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/game_bg.wasm")" = 200 ] ||
  { echo "first-run: the gateway does not serve the office's module"; exit 1; }
grep '^run.sh:\|^web/build.sh:' "$work/run.log" || true
echo "first-run: the office answered after $((SECONDS - started)) s"

#!/usr/bin/env bash
# Runs the office: builds the gateway and starts it with the sample agents,
# while the browser office builds beside it (the page says "being built" and
# reloads by itself until it is there). Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/esprit-hub/target}"
command -v cargo >/dev/null || { echo "run.sh: cargo is missing; install Rust 1.95 with rustup (https://rustup.rs)"; exit 1; }
command -v setsid >/dev/null || { echo "run.sh: setsid is missing (Debian: apt-get install util-linux)"; exit 1; }
started=$SECONDS
took() { printf 'run.sh: %s in %ss (%ss so far)\n' "$1" $((SECONDS - $2)) $((SECONDS - started)); }

scripts/system-deps.sh run || echo "run.sh: without brotli the office's wasm is served gzip-compressed only (larger)."
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown

# The browser office compiles in its own target directory from the start,
# the gateway and the binder that web/build.sh needs here (on two cores the
# two builds fill each other's idle core). Its own process group, so that
# Ctrl-C stops it with everything it started.
mkdir -p "$CARGO_TARGET_DIR"
web_log="$CARGO_TARGET_DIR/web-build.log"
rm -f "$web_log.exit"
web_started=$SECONDS
setsid bash -c 'BROTLI=later web/build.sh >"$1" 2>&1; echo $? >"$1.exit"' _ "$web_log" &
web_build=$!
gateway=""
stop() {
  kill -- -"$web_build" 2>/dev/null || true
  [ -z "$gateway" ] || { kill "$gateway" 2>/dev/null; wait "$gateway" 2>/dev/null; }
}
trap 'stop; exit 130' INT TERM
echo "run.sh: the browser office compiles meanwhile (its log: $web_log)"

step=$SECONDS
cargo build --release -p gateway --bin gateway -p esprit-web-bind --bin web-bind
took "gateway built" $step

"$CARGO_TARGET_DIR/release/gateway" --demo "$@" &
gateway=$!
until curl -fs "http://127.0.0.1:${PORT:-3001}/healthz" >/dev/null 2>&1; do
  kill -0 "$gateway" 2>/dev/null || { stop; wait "$gateway"; exit $?; }
  sleep 0.2
done
echo
echo "Esprit-Hub office: http://127.0.0.1:${PORT:-3001}/   (desktop: cargo run --release -p game)"
echo

# What the browser office's build printed so far, then the rest as it comes.
tail -n +1 -f --pid="$web_build" "$web_log"
if [ "$(cat "$web_log.exit" 2>/dev/null)" = 0 ]; then
  took "browser office built" $web_started
else
  echo "run.sh: the browser office did not build (see above, or $web_log); the API still runs."
fi
echo "run.sh: the office is ready at http://127.0.0.1:${PORT:-3001}/ ($((SECONDS - started))s); Ctrl-C stops it."
wait "$gateway"

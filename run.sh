#!/usr/bin/env bash
# Runs the office: builds the gateway and starts it with the sample agents,
# then builds the browser office (the page says "being built" and reloads by
# itself until it is there). Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/esprit-hub/target}"
command -v cargo >/dev/null || { echo "run.sh: cargo is missing; install Rust 1.95 with rustup (https://rustup.rs)"; exit 1; }
started=$SECONDS
took() { printf 'run.sh: %s in %ss (%ss so far)\n' "$1" $((SECONDS - $2)) $((SECONDS - started)); }

if ! scripts/system-deps.sh run; then
  command -v brotli >/dev/null || echo "run.sh: without brotli the office's wasm is served gzip-compressed only (larger)."
  if ! pkg-config --exists sqlite3 2>/dev/null; then
    echo "run.sh: no system SQLite to link; compiling SQLite into the gateway instead."
    export LIBSQLITE3_SYS_USE_PKG_CONFIG=0
  fi
fi
step=$SECONDS
# The binder (web/bind) builds with the gateway: one cargo build shares their
# crates and fills the core the gateway's own crate leaves idle.
cargo build --release -p gateway --bin gateway -p esprit-web-bind --bin web-bind
took "gateway and binder built" $step

"$CARGO_TARGET_DIR/release/gateway" --demo "$@" &
gateway=$!
trap 'kill $gateway 2>/dev/null; wait $gateway 2>/dev/null' INT TERM
until curl -fs "http://127.0.0.1:${PORT:-3001}/healthz" >/dev/null 2>&1; do
  kill -0 $gateway 2>/dev/null || { wait $gateway; exit $?; }
  sleep 0.2
done
echo
echo "Esprit-Hub office: http://127.0.0.1:${PORT:-3001}/   (desktop: cargo run --release -p game)"
echo

step=$SECONDS
if WEB_BIND="$CARGO_TARGET_DIR/release/web-bind" BROTLI=later web/build.sh; then
  took "browser office built" $step
else
  echo "run.sh: the browser office did not build (see above); the API still runs."
fi
echo "run.sh: the office is ready at http://127.0.0.1:${PORT:-3001}/ ($((SECONDS - started))s); Ctrl-C stops it."
wait $gateway

#!/usr/bin/env bash
# Runs the office: builds what is not built (gateway, browser office), then
# starts the gateway with the sample agents and prints the URL.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/esprit-hub/target}"
command -v cargo >/dev/null || { echo "run.sh: cargo is missing; install Rust 1.95 with rustup (https://rustup.rs)"; exit 1; }

scripts/system-deps.sh run || echo "run.sh: without brotli the office's wasm is served gzip-compressed only (larger)."
if [ -x web/build.sh ]; then
  web/build.sh || echo "run.sh: the browser office did not build (see above); the API still runs."
fi
cargo build --release -p gateway
echo
echo "Esprit-Hub office: http://127.0.0.1:${PORT:-3001}/   (desktop: cargo run --release -p game)"
exec "$CARGO_TARGET_DIR/release/gateway" --demo "$@"

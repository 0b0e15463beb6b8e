#!/usr/bin/env bash
# Runs every test of Esprit-Hub: format, lints, unit and real-socket tests
# (gateway, nginx with compose/nginx.conf, the desktop office under Xvfb), the
# compose file against its schema, and the browser office in headless
# Chromium. Installs what it needs, or says what is missing.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/esprit-hub/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

command -v cargo >/dev/null || { echo "test.sh: cargo is missing; install Rust 1.95 with rustup (https://rustup.rs)"; exit 1; }
step "toolchain"
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown

step "system packages"
./scripts/system-deps.sh test

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo check (wasm32) of the office"
cargo check -p game --target wasm32-unknown-unknown

step "compose/ (schema, variables)"
compose/check.sh

step "cargo test"
cargo test --workspace

step "browser office for the tests (wasm32, no wasm-opt)"
web_test_dist="$CARGO_TARGET_DIR/web-test"
WEB_DIST="$web_test_dist" WASM_OPT=0 web/build.sh

step "browser tests (headless Chromium)"
(cd web && npm ci --no-audit --no-fund --loglevel=error)
(cd web && ESPRIT_WEB_DIST="$web_test_dist" GATEWAY_BIN="$CARGO_TARGET_DIR/debug/gateway" node --test tests/)

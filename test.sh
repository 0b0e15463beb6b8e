#!/usr/bin/env bash
# Runs every test of Esprit-Hub: format, lints, unit and real-socket tests,
# and a wasm32 check of the office. Installs what it needs, or says what is missing.
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

step "cargo test"
cargo test --workspace

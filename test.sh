#!/usr/bin/env bash
# Runs every test of Esprit-Hub: format, lints, unit and real-socket tests
# (gateway, nginx with compose/nginx.conf, the desktop office under Xvfb), the
# compose file against its schema, and the browser office in headless
# Chromium. Installs what it needs, or says what is missing.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/esprit-hub/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Each step says how long the one before it took; the total comes at the end.
started=$SECONDS step_started=$SECONDS step_name=""
step() {
  [ -z "$step_name" ] || printf '<== %s: %ss\n' "$step_name" $((SECONDS - step_started))
  step_name="$*" step_started=$SECONDS
  printf '\n==> %s\n' "$*"
}
finish() { step "done"; printf 'test.sh: every test passed in %ss\n' $((SECONDS - started)); }

command -v cargo >/dev/null || { echo "test.sh: cargo is missing; install Rust 1.95 with rustup (https://rustup.rs)"; exit 1; }
step "toolchain"
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown

step "system packages"
./scripts/system-deps.sh test

# Everything the tests start carries this mark; at the end (pass, fail or
# Ctrl-C) nothing but the run itself may (scripts/leftovers.py lists and
# ends whatever does).
export ESPRIT_TEST_RUN="$$-$(date +%s%N)"
leftovers() { scripts/leftovers.py "$ESPRIT_TEST_RUN" $$; }
trap 'status=$?; trap - EXIT; [ $status -eq 0 ] || leftovers || true; exit $status' EXIT

step "Python OpenTelemetry SDK (the OTLP tests export with it)"
scripts/otel-venv.sh
export ESPRIT_OTEL_PYTHON="$CARGO_TARGET_DIR/otel-venv/bin/python"

step "cargo fmt --check"
cargo fmt --all --check

step "compose/ (schema, variables)"
compose/check.sh

# Clippy lints the workspace inside the test build (the way `cargo clippy`
# works, but with real code generation), so the dependencies are compiled
# once instead of checked once more: every target cargo test builds (libs,
# bins, tests, examples) is linted with warnings as errors.
step "cargo test, linted by clippy"
clippy_driver="$(rustc --print sysroot)/bin/clippy-driver"
[ -x "$clippy_driver" ] || { echo "test.sh: clippy-driver is missing (rustup component add clippy)"; exit 1; }
# The test kit's build below runs the same way, so it reuses these crates.
with_clippy=(env RUSTC_WORKSPACE_WRAPPER="$clippy_driver" CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__")
"${with_clippy[@]}" cargo test --workspace

# The browser tests' gateways, nginx, Redis and stand-in Sim start through the
# Rust test kit; the office they load is bound by the dev binder built with it.
step "test kit and binder"
"${with_clippy[@]}" cargo build -p esprit-testkit --bin fixture -p esprit-web-bind --bin web-bind

# Also the office's wasm32 build, in ./run.sh's profile: either one reuses the
# other's compiled crates.
step "browser office (wasm32, no wasm-opt)"
web_test_dist="$CARGO_TARGET_DIR/web-test"
WEB_DIST="$web_test_dist" WASM_OPT=0 WEB_BIND="$CARGO_TARGET_DIR/debug/web-bind" web/build.sh

step "browser tests (headless Chromium)"
(cd web && npm ci --no-audit --no-fund --loglevel=error)
(cd web && ESPRIT_WEB_DIST="$web_test_dist" GATEWAY_BIN="$CARGO_TARGET_DIR/debug/gateway" \
  FIXTURE_BIN="$CARGO_TARGET_DIR/debug/fixture" node --test tests/)

step "nothing the run started is left running"
leftovers
finish

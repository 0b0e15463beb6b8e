#!/usr/bin/env bash
# Builds the browser office into web/dist: wasm32 release build (settings in
# web/release.toml), its JavaScript bindings (web/bind: wasm-bindgen's library
# at the version in Cargo.lock, built in the workspace), wasm-opt when
# available, and .br/.gz copies for the gateway to serve. Skips what is up to date.
#   WEB_DIST=dir      where to put it (default web/dist, where the gateway looks)
#   WASM_OPT=0        skip wasm-opt and brotli (the tests' quicker build)
#   BROTLI=later      compress with brotli after returning, in the background
#                     (./run.sh: the office is up a minute sooner; the gateway
#                     serves gzip until a fresh .br is there)
#   WEB_BIND=path     a binder already built (./run.sh builds it with the
#                     gateway, the tests with their fixtures); otherwise it is
#                     built here, in release
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/esprit-hub/target}"
dist="${WEB_DIST:-web/dist}"
optimize="${WASM_OPT:-1}"
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/game.wasm"
binder="${WEB_BIND:-$CARGO_TARGET_DIR/release/web-bind}"

mkdir -p "$dist"
# While this runs, a gateway serving $dist shows this progress on a page that reloads itself.
# Written aside and moved, so the page never reads a half-written line.
show() { printf '%s\n' "$*" >"$dist/.building.next" && mv -f "$dist/.building.next" "$dist/.building"; }
progress() { show "$*"; printf 'web/build.sh: %s\n' "$*"; }
trap 'rm -f "$dist/.building" "$dist/.building.next"' EXIT
began=$SECONDS
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
if [ -z "${WEB_BIND:-}" ]; then
  progress "Compiling the binder (web/bind, once)…"
  cargo build --release -p esprit-web-bind
fi
progress "Compiling the office for the browser (cargo build --release, wasm32)…"
# The page counts the crates compiled against those the office needs (cargo's
# own progress bar shows only on a terminal); diagnostics still go to stderr.
of_crates=$(cargo tree -p game --target wasm32-unknown-unknown -e normal,build --prefix none 2>/dev/null |
  sed 's/ (\*)$//' | sort -u | wc -l | sed 's/^/ of about /') || of_crates=""
declare -A seen=()
# web/release.toml lays the office's settings over the release profile.
cargo build -p game --release --config web/release.toml --target wasm32-unknown-unknown --message-format=json-render-diagnostics |
  while IFS= read -r message; do
    case "$message" in
      *'"reason":"compiler-artifact"'*)
        package=${message#*\"package_id\":\"}
        seen[${package%%\"*}]=1
        show "Compiling the office for the browser: ${#seen[@]}$of_crates crates…"
        ;;
    esac
  done
echo "web/build.sh: $([ -n "${WEB_BIND:-}" ] || echo "binder and ")wasm32 build $((SECONDS - began))s"

progress "Binding and compressing the office…"
if [ ! -f "$dist/game_bg.wasm" ] || [ "$wasm" -nt "$dist/game_bg.wasm" ]; then
  # The served build drops function names (a fifth of the module); the
  # tests' build keeps them for readable stack traces.
  names=(); [ "$optimize" != 0 ] || names=(--keep-names)
  "$binder" "${names[@]}" --out-dir "$dist" --out-name game "$wasm"
  optimizer=$(command -v wasm-opt || true)
  # binaryen before 116 (Debian 12 ships 108) writes wasm-bindgen's externref
  # table export onto the function table: the page then fails in Table.set().
  optimizer_version=$([ -n "$optimizer" ] && "$optimizer" --version | grep -o '[0-9]\+' | head -1 || echo 0)
  if [ "$optimize" = 0 ]; then
    :
  elif [ -n "$optimizer" ] && [ "$optimizer_version" -ge 116 ]; then
    "$optimizer" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$dist/game_bg.wasm" -o "$dist/game_bg.opt.wasm" && mv "$dist/game_bg.opt.wasm" "$dist/game_bg.wasm"
  elif [ -n "$optimizer" ]; then
    echo "web/build.sh: skipping wasm-opt $optimizer_version: binaryen before 116 breaks wasm-bindgen's externref table (cargo install wasm-opt --version 0.116.1 gives 116)"
  else
    echo "web/build.sh: wasm-opt not found (cargo install wasm-opt --version 0.116.1); the wasm stays unoptimised"
  fi
fi
# Rewritten only when they change, so an unchanged office is not compressed again.
for file in index.html loader.js; do
  cmp -s "web/$file" "$dist/$file" || cp "web/$file" "$dist/"
done
manifest=$(printf '{"wasm_bytes": %s}' "$(stat -c %s "$dist/game_bg.wasm")")
[ "$(cat "$dist/manifest.json" 2>/dev/null)" = "$manifest" ] || printf '%s\n' "$manifest" > "$dist/manifest.json"

# Precompressed copies, refreshed when their source is newer. A copy older
# than its file is never served, so a stale .br waits harmlessly.
stale_br=()
for file in "$dist"/*.wasm "$dist"/*.js "$dist"/*.html "$dist"/*.json; do
  [ -f "$file" ] || continue
  if [ ! -f "$file.gz" ] || [ "$file" -nt "$file.gz" ]; then gzip -9 -k -f "$file"; fi
  if [ "$optimize" != 0 ] && command -v brotli >/dev/null; then
    if [ ! -f "$file.br" ] || [ "$file" -nt "$file.br" ]; then stale_br+=("$file"); fi
  fi
done
brotli_all() {
  for file in "$@"; do
    brotli -q 11 -f -c "$file" >"$file.br.part" && mv -f "$file.br.part" "$file.br"
  done
}
if [ "${BROTLI:-now}" = later ] && [ ${#stale_br[@]} -gt 0 ]; then
  brotli_all "${stale_br[@]}" </dev/null >/dev/null 2>&1 &
  echo "web/build.sh: brotli runs in the background (about a minute); gzip is served until then"
else
  brotli_all "${stale_br[@]}"
fi
ls -l "$dist"/game_bg.wasm* | awk '{print $5, $9}'
echo "web/build.sh: done in $((SECONDS - began))s"

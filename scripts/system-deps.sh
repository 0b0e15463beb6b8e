#!/usr/bin/env bash
# Installs the Debian packages a purpose needs (`run` or `test`), or says which are missing.
set -euo pipefail
purpose="${1:-test}"
need=()
have() { command -v "$1" >/dev/null 2>&1; }
# The gateway links the system's SQLite (.cargo/config.toml) unless told to
# compile it in with LIBSQLITE3_SYS_USE_PKG_CONFIG=0.
link_sqlite=$([ "${LIBSQLITE3_SYS_USE_PKG_CONFIG:-1}" != 0 ] && echo 1 || echo 0)
# pkg-config finds that SQLite, and ALSA for the tests' desktop office.
if [ "$link_sqlite" = 1 ] || [ "$purpose" = test ]; then
  have pkg-config || need+=(pkg-config)
fi
if [ "$link_sqlite" = 1 ]; then
  { have pkg-config && pkg-config --exists sqlite3; } || dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)
fi
case "$purpose" in
  test)
    have Xvfb || need+=(xvfb)
    [ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] || ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || need+=(mesa-vulkan-drivers)
    dpkg -s libvulkan1 >/dev/null 2>&1 || need+=(libvulkan1)
    have import || need+=(imagemagick)
    have xprop || need+=(x11-utils)
    # The desktop office's chime (bevy_audio builds against ALSA).
    dpkg -s libasound2-dev >/dev/null 2>&1 || need+=(libasound2-dev)
    have nginx || [ -x /usr/sbin/nginx ] || need+=(nginx)
    have chromium || need+=(chromium)
    have redis-server || [ -x /usr/bin/redis-server ] || need+=(redis-server)
    have node || need+=(nodejs)
    have npm || need+=(npm)
    python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
    ;;
  run)
    have brotli || need+=(brotli)
    have curl || need+=(curl)
    ;;
esac
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing: ${need[*]}"
if [ "$(id -u)" -eq 0 ] && have apt-get; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
elif have sudo && have apt-get; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "missing Debian packages: ${need[*]} (install them with your package manager)"
  [[ " ${need[*]} " != *" libsqlite3-dev "* ]] || echo "(or LIBSQLITE3_SYS_USE_PKG_CONFIG=0 compiles SQLite into the gateway instead of linking the system's)"
  exit 1
fi

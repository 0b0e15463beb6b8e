#!/usr/bin/env bash
# Makes the Python virtualenv whose official OpenTelemetry SDK the OTLP tests
# export with: $CARGO_TARGET_DIR/otel-venv (kept between runs).
set -euo pipefail
target="${CARGO_TARGET_DIR:-$HOME/.cache/esprit-hub/target}"
venv="$target/otel-venv"
packages=(opentelemetry-sdk==1.45.0 opentelemetry-exporter-otlp-proto-http==1.45.0)
if "$venv/bin/python" -c 'import opentelemetry.exporter.otlp.proto.http.trace_exporter' 2>/dev/null; then
  exit 0
fi
command -v python3 >/dev/null || { echo "otel-venv.sh: python3 is missing (apt-get install python3 python3-venv)"; exit 1; }
python3 -m venv "$venv" || { echo "otel-venv.sh: python3 cannot make a virtualenv (apt-get install python3-venv)"; exit 1; }
"$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}" \
  || { echo "otel-venv.sh: cannot install ${packages[*]} from PyPI"; exit 1; }

#!/usr/bin/env bash
# Checks compose/: docker-compose.yml against the Compose Specification schema
# (check-jsonschema from PyPI, which vendors it), a broken copy is refused,
# and every ${VARIABLE} the file reads is documented in .env.example.
set -euo pipefail
cd "$(dirname "$0")"
venv="${ESPRIT_CACHE:-$HOME/.cache/esprit-hub}/venv"
if [ ! -x "$venv/bin/check-jsonschema" ]; then
  command -v python3 >/dev/null || { echo "compose/check.sh: python3 is missing"; exit 1; }
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'check-jsonschema==0.39.0'
fi
validate() { "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$@"; }

validate docker-compose.yml

broken=$(mktemp --suffix=.yml)
trap 'rm -f "$broken"' EXIT
sed 's/condition: service_healthy/condition: when_ready/' docker-compose.yml > "$broken"
if validate "$broken" >/dev/null 2>&1; then
  echo "compose/check.sh: the schema check accepted a broken file"; exit 1
fi

used=$(grep -o '\${[A-Z_][A-Z0-9_]*' docker-compose.yml | cut -c3- | sort -u)
documented=$(grep -o '^[A-Z_][A-Z0-9_]*=' .env.example | tr -d = | sort -u)
missing=$(comm -23 <(echo "$used") <(echo "$documented"))
unused=$(comm -13 <(echo "$used") <(echo "$documented"))
[ -z "$missing" ] || { echo "compose/check.sh: not in .env.example: $missing"; exit 1; }
[ -z "$unused" ] || { echo "compose/check.sh: in .env.example but not used: $unused"; exit 1; }
echo "compose: docker-compose.yml valid, $(echo "$used" | wc -l) variables documented"

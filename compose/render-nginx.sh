#!/usr/bin/env bash
# Renders compose/nginx.conf for a run outside compose (the tests): the
# compose host names of the upstreams and the listen port are replaced,
# nothing else. Fails if the file no longer has the lines it rewrites.
#   render-nginx.sh LISTEN GATEWAY[,GATEWAY…] SIM SIM_REALTIME < nginx.conf > rendered.conf
# e.g. render-nginx.sh 127.0.0.1:8080 127.0.0.1:3001,127.0.0.1:3011 127.0.0.1:3000 127.0.0.1:3002
# (several gateways become one upstream, as the compose replicas are).
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 LISTEN GATEWAY SIM SIM_REALTIME < nginx.conf" >&2; exit 2; }
conf=$(cat)
for line in "listen 8080;" "server gateway:3001;" "server sim:3000;" "server sim-realtime:3002;"; do
  grep -qF "$line" <<<"$conf" || { echo "render-nginx.sh: nginx.conf has no '$line'" >&2; exit 1; }
done
gateways=$(tr ',' '\n' <<<"$2" | sed 's|.*|server &;|' | paste -sd ' ')
sed -e "s|listen 8080;|listen $1;|" \
    -e "s|server gateway:3001;|$gateways|" \
    -e "s|server sim:3000;|server $3;|" \
    -e "s|server sim-realtime:3002;|server $4;|" <<<"$conf"

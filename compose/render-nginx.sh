#!/usr/bin/env bash
# Renders compose/nginx.conf for a run outside compose (the tests): the
# compose host names of the upstreams and the listen ports are replaced,
# nothing else. Fails if the file no longer has the lines it rewrites.
#   render-nginx.sh LISTEN GATEWAY[,GATEWAY…] SIM SIM_REALTIME STUDIO_LISTEN < nginx.conf > rendered.conf
# e.g. render-nginx.sh 127.0.0.1:8080 127.0.0.1:3001,127.0.0.1:3011 127.0.0.1:3000 127.0.0.1:3002 127.0.0.1:3100
# (several gateways become one upstream, as the compose replicas are).
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: $0 LISTEN GATEWAY SIM SIM_REALTIME STUDIO_LISTEN < nginx.conf" >&2; exit 2; }
conf=$(cat)
office_port=${1##*:}
for line in "listen 8080;" "listen 3000;" "server gateway:3001;" "server sim:3000;" "server sim-realtime:3002;" 'http://$host:8080/'; do
  grep -qF "$line" <<<"$conf" || { echo "render-nginx.sh: nginx.conf has no '$line'" >&2; exit 1; }
done
gateways=$(tr ',' '\n' <<<"$2" | sed 's|.*|server &;|' | paste -sd ' ')
sed -e "s|listen 8080;|listen $1;|" \
    -e "s|listen 3000;|listen $5;|" \
    -e "s|http://\$host:8080/|http://\$host:$office_port/|" \
    -e "s|server gateway:3001;|$gateways|" \
    -e "s|server sim:3000;|server $3;|" \
    -e "s|server sim-realtime:3002;|server $4;|" <<<"$conf"

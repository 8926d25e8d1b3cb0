#!/usr/bin/env bash
# Two dokploy-auth instances on one PostgreSQL, behind a round-robin load balancer,
# all on this machine, for trying the scale-out setup (docs/scale-out.md):
#
#   docs/scale-out/two-instances.sh            # builds, starts everything, waits
#   curl -s localhost:8080/api/auth.get        # through the load balancer
#
# PostgreSQL and nginx come from Debian's packages (installed when missing, as
# root). Everything lives under $WORK (default /tmp/dokploy-auth-two); Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK=${WORK:-/tmp/dokploy-auth-two}
PG_PORT=${PG_PORT:-55432}
LB_PORT=${LB_PORT:-8080}
PORTS=(3101 3102)

ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt-get install -y --no-install-recommends postgresql
command -v nginx >/dev/null 2>&1 || apt-get install -y --no-install-recommends nginx
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

# BIN=path/to/dokploy-auth skips the build.
if [ -z "${BIN:-}" ]; then
  cargo build --release -p server --bin dokploy-auth
  BIN=$PWD/target/release/dokploy-auth
fi

rm -rf "$WORK" && mkdir -p "$WORK"
# PostgreSQL will not run as root: as its own user, then.
as_pg=()
if [ "$(id -u)" = 0 ]; then chown postgres "$WORK"; as_pg=(runuser -u postgres --); fi
"${as_pg[@]}" "$PG_BIN/initdb" -D "$WORK/pg" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w \
  -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1" start >/dev/null
"${as_pg[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres auth
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/auth"

# One key file for both instances: every value in the database is sealed under it.
KEY=$WORK/auth.key
pids=()
stop() {
  kill "${pids[@]}" 2>/dev/null || true
  nginx -s stop -c "$WORK/nginx.conf" 2>/dev/null || true
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
}
trap stop EXIT
# The first instance makes the key file (and the schema); the second uses them.
for port in "${PORTS[@]}"; do
  "$BIN" --key-file "$KEY" serve --listen "127.0.0.1:$port" --trusted-proxy 127.0.0.1 \
    --public-url "http://127.0.0.1:$LB_PORT" \
    >"$WORK/instance-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
done

cat >"$WORK/nginx.conf" <<EOF
pid $WORK/nginx.pid;
error_log $WORK/nginx.log;
events {}
http {
  access_log off;
  # max_fails=0: a connection refused by an instance that restarts sends the
  # request to the other one without marking the first down. With the default
  # (max_fails=1 fail_timeout=10s) one refusal took it out for 10 s, and two
  # restarts less than 10 s apart left "no live upstreams": 502 for everyone.
  upstream auth {
    server 127.0.0.1:${PORTS[0]} max_fails=0;
    server 127.0.0.1:${PORTS[1]} max_fails=0;
  }
  server {
    listen 127.0.0.1:$LB_PORT;
    location / {
      proxy_pass http://auth;
      # The browser's host: a cookie session's mutation from a page of this host is
      # not cross-site (nginx would send the upstream's name, "auth").
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      # A connection that fails (refused while an instance restarts) is tried on
      # the other instance; a POST already sent never is (it may have written).
      # No http_503: both instances share the database, so a 503 (the database
      # failing over) would be the other's answer too, and it counted as a
      # failure that took the instance out of the rotation.
      proxy_next_upstream error timeout;
    }
  }
}
EOF
nginx -c "$WORK/nginx.conf"
echo "two instances (${PORTS[*]}) on $DATABASE_URL behind http://127.0.0.1:$LB_PORT; Ctrl-C stops"
wait "${pids[@]}"

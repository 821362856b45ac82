#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the test suite, on a loopback port.
#   source tests/pg.sh; pg_start   -> exports ENGINE_TEST_POSTGRES_URL
#   pg_stop
# Installs the server from the OS packages when it is missing (apt-get update first). initdb
# refuses to run as root, so the cluster belongs to the `postgres` user.

pg_bin_dir() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

pg_install() {
  pg_bin_dir >/dev/null && return 0
  command -v apt-get >/dev/null 2>&1 || return 1
  [ "$(id -u)" = 0 ] || return 1
  echo "tests: installing PostgreSQL from the OS packages" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

pg_start() {
  pg_install || { echo "tests: PostgreSQL is not available" >&2; return 1; }
  local bin; bin=$(pg_bin_dir) || return 1
  # A free loopback port unless one is asked for, so a second run or a local server is no obstacle.
  local port=${ENGINE_TEST_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
  PG_TEST_DIR=$(mktemp -d /tmp/engine-pg.XXXXXX)
  local run_as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home "$PG_TEST_DIR" postgres
    chown postgres "$PG_TEST_DIR"
    run_as=(runuser -u postgres --)
  fi
  "${run_as[@]}" "$bin/initdb" -D "$PG_TEST_DIR/data" -U postgres -A trust --no-sync >/dev/null || return 1
  "${run_as[@]}" "$bin/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/log" -w -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $PG_TEST_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { cat "$PG_TEST_DIR/log" >&2; return 1; }
  export PG_TEST_DIR PG_TEST_BIN="$bin" PG_TEST_RUN_AS="${run_as[*]}"
  export ENGINE_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  echo "tests: PostgreSQL running at $ENGINE_TEST_POSTGRES_URL" >&2
}

pg_stop() {
  [ -n "${PG_TEST_DIR:-}" ] || return 0
  $PG_TEST_RUN_AS "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_TEST_DIR"
}

#!/usr/bin/env bash
# First start: initdb with POSTGRES_USER (default postgres) and POSTGRES_PASSWORD, a database named after
# the user, password (scram) logins from any address. Then postgres, listening on all interfaces, as the
# postgres user (initdb and postgres refuse to run as root).
set -euo pipefail
if [ "${1:-}" != postgres ]; then exec "$@"; fi
shift
user="${POSTGRES_USER:-postgres}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "error: POSTGRES_PASSWORD is not set; the superuser $user needs a password" >&2
  exit 1
fi
as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups)
if [ "$(id -u)" != 0 ]; then as_postgres=(); fi
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password_file="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
  chmod 644 "$password_file"
  "${as_postgres[@]}" initdb --username="$user" --pwfile="$password_file" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 -D "$PGDATA" >/dev/null
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$user" != postgres ]; then
    "${as_postgres[@]}" postgres --single -D "$PGDATA" postgres <<< "CREATE DATABASE \"$user\";" >/dev/null
  fi
  echo "initialised $PGDATA (superuser $user)"
fi
exec "${as_postgres[@]}" postgres -D "$PGDATA" -c listen_addresses='*' \
  -c unix_socket_directories=/var/run/postgresql "$@"

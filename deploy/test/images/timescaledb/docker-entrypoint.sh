#!/bin/sh
# The official postgres image's first boot, reduced to what the compose file uses: POSTGRES_USER, POSTGRES_DB,
# POSTGRES_PASSWORD(_FILE); the temporary first-boot server listens on the socket only.
set -eu
if [ "$(id -u)" = 0 ]; then
    install -d -o postgres -g postgres -m 0700 "$PGDATA"
    install -d -o postgres -g postgres /var/run/postgresql
    exec setpriv --reuid=70 --regid=70 --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pw="${POSTGRES_PASSWORD:-}"
    [ -n "${POSTGRES_PASSWORD_FILE:-}" ] && pw="$(cat "$POSTGRES_PASSWORD_FILE")"
    [ -n "$pw" ] || { echo "POSTGRES_PASSWORD(_FILE) is required" >&2; exit 1; }
    printf '%s' "$pw" > /tmp/pw
    initdb --username="$POSTGRES_USER" --pwfile=/tmp/pw --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
    rm -f /tmp/pw
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c shared_preload_libraries=timescaledb" -w start >/dev/null
    psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
    psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "CREATE EXTENSION IF NOT EXISTS timescaledb" >/dev/null
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "PostgreSQL init process complete; ready for start up."
fi
exec "$@" -c listen_addresses='*'

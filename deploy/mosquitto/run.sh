#!/bin/sh
# Broker container entry (POSIX sh: runs in the eclipse-mosquitto image and in Debian's package alike).
#
# The platform (API, `kipsense devices ...`, the simulator) maintains the password and ACL files on the shared
# volume mounted at /mosquitto/auth; it runs in other containers, so it cannot signal this broker. This script
# copies those files into the broker's own directory (owned by the broker user, mode 0600) and sends the broker
# SIGHUP whenever they change: Mosquitto then re-reads both and disconnects every client whose credentials no
# longer check, so a revoked device is cut off within KIPSENSE_AUTH_POLL_S (default 2) seconds.
set -eu
src=/mosquitto/auth
dst=/mosquitto/data/auth
poll="${KIPSENSE_AUTH_POLL_S:-2}"
conf="${KIPSENSE_BROKER_CONF:-/mosquitto/config/mosquitto.conf}"

install -d -o mosquitto -g mosquitto -m 0700 "$dst"
chown -R mosquitto:mosquitto /mosquitto/data

# Copy one file if it differs; prints "changed" when it did.
sync_file() {
    name=$1
    if [ ! -f "$src/$name" ]; then
        [ -f "$dst/$name" ] || { : > "$dst/$name"; chown mosquitto:mosquitto "$dst/$name"; chmod 0600 "$dst/$name"; }
        return 0
    fi
    if ! cmp -s "$src/$name" "$dst/$name" 2>/dev/null; then
        cp "$src/$name" "$dst/$name.tmp"
        chown mosquitto:mosquitto "$dst/$name.tmp"
        chmod 0600 "$dst/$name.tmp"
        mv -f "$dst/$name.tmp" "$dst/$name"
        echo changed
    fi
}

sync_file passwd >/dev/null
sync_file acl >/dev/null
/usr/sbin/mosquitto -c "$conf" &
broker=$!
trap 'kill -TERM "$broker" 2>/dev/null' TERM INT

while kill -0 "$broker" 2>/dev/null; do
    sleep "$poll" &
    wait $! 2>/dev/null || true
    kill -0 "$broker" 2>/dev/null || break
    changed="$(sync_file passwd)$(sync_file acl)"
    if [ -n "$changed" ]; then
        echo "kipsense: broker password/ACL changed; reloading" >&2
        kill -HUP "$broker"
    fi
done
status=0
wait "$broker" || status=$?
exit "$status"

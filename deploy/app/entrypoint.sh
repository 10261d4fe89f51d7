#!/bin/sh
# Secrets arrive as files (/run/secrets/<NAME>); a file named like a KIPSENSE_* variable becomes that variable,
# so no secret is ever written into docker-compose.yml or an image.
set -eu
if [ -d /run/secrets ]; then
    for f in /run/secrets/KIPSENSE_*; do
        [ -f "$f" ] || continue
        name=$(basename "$f")
        value=$(cat "$f")
        export "$name=$value"
    done
fi
exec "$@"

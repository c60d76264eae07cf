#!/usr/bin/env bash
# Run a command with TEST_DATABASE_URL naming a throwaway PostgreSQL.
#
# PostgreSQL comes from Debian's packages (installed here if missing, which needs root).
# The cluster lives in a temporary folder, listens only on a Unix socket inside it (no
# port to collide with), and is stopped and removed afterwards, whatever the command did.
set -euo pipefail

postgres_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(postgres_bin)" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "PostgreSQL is not installed: run 'sudo apt-get install postgresql', then try again." >&2
        exit 1
    fi
    echo "Installing PostgreSQL from Debian's packages ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
BIN="$(postgres_bin)"
DIR="$(mktemp -d /tmp/ivr-postgres.XXXXXX)"

# initdb refuses to run as root: then the cluster belongs to the postgres user.
if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$DIR"
    as_owner() { runuser -u postgres -- "$@"; }
else
    as_owner() { "$@"; }
fi
cleanup() {
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT

as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -o "-k $DIR -c listen_addresses=''" start >/dev/null \
    || { cat "$DIR/server.log" >&2; exit 1; }
echo "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') running in $DIR"

export TEST_DATABASE_URL="postgresql://postgres@/postgres?host=$DIR"
# Tests that pause the server (SIGSTOP) find its processes through the data folder.
export TEST_POSTGRES_DATA="$DIR/data"
"$@"

#!/usr/bin/env bash
# Install everything the tests need (Debian Chromium, PostgreSQL, Python packages),
# start a throwaway PostgreSQL server on loopback, and run the whole test suite.
# Extra arguments go to pytest, e.g.  bash scripts/test.sh -k overview
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -r requirements-dev.txt

# A throwaway PostgreSQL cluster, owned by the postgres user when run as root (initdb refuses root).
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PGDIR=$(mktemp -d /tmp/cruscotto-pg.XXXXXX)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PGDIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -o "-p $PORT -c listen_addresses=127.0.0.1 -k $PGDIR" -w start >/dev/null
cleanup() { as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$PGDIR"; }
trap cleanup EXIT
export CRUSCOTTO_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"

python3 -m ruff check .
python3 -m mypy app.py cli.py data kpi ui pages
# DuckDB's bindings may print reference-leak notes at interpreter exit, after pytest's summary:
# repeat the summary as the last line so it is what a reader (or CI) sees last.
LOG=$(mktemp)
set +e
python3 -m pytest "$@" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
echo
grep -E "^=+ .*(passed|failed|error).* =+$" "$LOG" | tail -n 1 || true
rm -f "$LOG"
exit "$status"

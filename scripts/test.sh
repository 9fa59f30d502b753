#!/usr/bin/env bash
# Install everything the tests need (Debian Chromium, PostgreSQL, MariaDB, Java, Python packages),
# start throwaway PostgreSQL and MariaDB servers and a local Spark SQL cluster on loopback, and run
# the whole test suite. Extra arguments go to pytest, e.g.  bash scripts/test.sh -k overview
# CRUSCOTTO_TEST_SPARK=0 leaves Spark out (its cases are then not run).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
SPARK=${CRUSCOTTO_TEST_SPARK:-1}
[ "$SPARK" = 1 ] && ! command -v java >/dev/null 2>&1 && need+=(openjdk-17-jre-headless)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -r requirements-dev.txt

# A local Spark SQL cluster (master, one worker, Thrift server), started in the background: it
# installs pyspark and starts in one to two minutes while the servers below start and the first
# tests run; the tests that need it wait for its URL (tests/conftest.py).
if [ "$SPARK" = 1 ]; then
  export SPARK_STATE_DIR=${SPARK_STATE_DIR:-$(mktemp -d /tmp/cruscotto-spark.XXXXXX)}
  export CRUSCOTTO_TEST_SPARK_STATE="$SPARK_STATE_DIR"
  (
    set +e
    # niced: its JVMs start while the browser tests run, and must not take their time slices
    nice -n 10 bash scripts/spark.sh start >"$SPARK_STATE_DIR/start.log" 2>&1
    echo $? >"$SPARK_STATE_DIR/start.status"
  ) &
  SPARK_STARTER=$!
fi

# A throwaway PostgreSQL cluster, owned by the postgres user when run as root (initdb refuses root).
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PGDIR=$(mktemp -d /tmp/cruscotto-pg.XXXXXX)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PGDIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -o "-p $PORT -c listen_addresses=127.0.0.1 -k $PGDIR" -w start >/dev/null
export CRUSCOTTO_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"

# A throwaway MariaDB server on loopback (no grant tables: a test server nobody else reaches).
MYDIR=$(mktemp -d /tmp/cruscotto-maria.XXXXXX)
MYPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MYUSER=$(id -un)
[ "$(id -u)" -eq 0 ] && MYUSER=mysql && chown mysql:mysql "$MYDIR"
mariadb-install-db --user="$MYUSER" --datadir="$MYDIR/data" --skip-test-db >"$MYDIR/install.log" 2>&1
mariadbd --user="$MYUSER" --datadir="$MYDIR/data" --port="$MYPORT" --bind-address=127.0.0.1 \
  --socket="$MYDIR/mysqld.sock" --pid-file="$MYDIR/mysqld.pid" --skip-grant-tables \
  --log-error="$MYDIR/error.log" >/dev/null 2>&1 &
MYPID=$!
cleanup() {
  as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true
  kill "$MYPID" 2>/dev/null || true
  wait "$MYPID" 2>/dev/null || true
  rm -rf "$PGDIR" "$MYDIR"
  if [ "$SPARK" = 1 ]; then
    wait "$SPARK_STARTER" 2>/dev/null || true
    bash scripts/spark.sh stop >/dev/null 2>&1 || true
    rm -rf "$SPARK_STATE_DIR"
  fi
}
trap cleanup EXIT
export CRUSCOTTO_TEST_MARIADB_URL="mysql+pymysql://root@127.0.0.1:$MYPORT/mysql"
for _ in $(seq 1 60); do
  python3 -c "import sqlalchemy as sa; sa.create_engine('$CRUSCOTTO_TEST_MARIADB_URL').connect().close()" 2>/dev/null && break
  sleep 0.5
done

python3 -m ruff check .
python3 -m mypy app.py cli.py serve.py data kpi service render ui pages i18n
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

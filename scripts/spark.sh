#!/usr/bin/env bash
# A throwaway Apache Spark SQL cluster on loopback, reached through its Thrift server (Hive protocol):
# a standalone master, one small worker and the Thrift server, all bound to 127.0.0.1 on free ports.
#
#   bash scripts/spark.sh start    # installs Java and pyspark/PyHive when missing, starts, waits until
#                                  # `SELECT 1` answers; the SQLAlchemy URL is the last line printed
#   bash scripts/spark.sh status   # the URL if it answers (exit 0), else exit 1
#   bash scripts/spark.sh stop     # stops the three JVMs (and the executor the worker started)
#
# State (pids, logs, warehouse, metastore, worker dir) lives in ${SPARK_STATE_DIR:-/tmp/cruscotto-spark}.
# Sizes: SPARK_WORKERS (1), SPARK_WORKER_CORES (1) and SPARK_WORKER_MEMORY (1g) each, SPARK_DRIVER_MEMORY (1g),
# SPARK_DAEMON_MEMORY (256m).
set -euo pipefail

STATE=${SPARK_STATE_DIR:-/tmp/cruscotto-spark}
PY=${PYTHON:-python3}
WAIT_S=${SPARK_START_TIMEOUT_S:-400}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

answers() {  # exit 0 when `SELECT 1` through PyHive works at the URL in $1
  "$PY" - "$1" <<'EOF' >/dev/null 2>&1
import sys
import sqlalchemy as sa
engine = sa.create_engine(sys.argv[1], connect_args={"auth": "NONE"})
with engine.connect() as conn:
    assert conn.execute(sa.text("SELECT 1")).scalar() == 1
EOF
}

install() {
  if ! command -v java >/dev/null 2>&1; then
    echo "Installing Java (Debian openjdk-17-jre-headless)…" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
  fi
  if ! "$PY" -c 'import pyspark, pyhive, thrift, thrift_sasl, puresasl' >/dev/null 2>&1; then
    echo "Installing pyspark and PyHive (about 460 MB, a minute or two)…" >&2
    "$PY" -m pip install -q --disable-pip-version-check \
      'pyspark==4.3.*' 'pyhive==0.7.*' thrift thrift-sasl pure-sasl >&2
  fi
}

start() {
  if [ -f "$STATE/url" ] && alive thrift && answers "$(cat "$STATE/url")"; then
    echo "Spark is already running" >&2
    cat "$STATE/url"
    return 0
  fi
  stop >/dev/null 2>&1 || true
  install
  SPARK_HOME=$("$PY" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
  export SPARK_HOME
  mkdir -p "$STATE"/{logs,work,warehouse,derby,tmp,conf}
  export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_HOSTNAME=127.0.0.1 SPARK_MASTER_HOST=127.0.0.1
  export SPARK_LOCAL_DIRS="$STATE/tmp" SPARK_WORKER_DIR="$STATE/work" SPARK_CONF_DIR="$STATE/conf"
  export SPARK_LOG_DIR="$STATE/logs" SPARK_PID_DIR="$STATE"
  export SPARK_DAEMON_MEMORY=${SPARK_DAEMON_MEMORY:-256m}
  # no REST submission port on the master; no web UIs beyond the two the daemons insist on
  export SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false -Dspark.ui.reverseProxy=false"
  export SPARK_WORKER_OPTS="-Dspark.worker.cleanup.enabled=false"
  local mport mui wport wui tport
  mport=$(free_port); mui=$(free_port); wport=$(free_port); wui=$(free_port); tport=$(free_port)
  local master="spark://127.0.0.1:$mport"
  cd "$STATE"  # the metastore's derby.log and anything relative land here

  nohup "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$mport" --webui-port "$mui" >"$STATE/logs/master.log" 2>&1 &
  echo $! >"$STATE/master.pid"
  local n workers=${SPARK_WORKERS:-1} name
  for n in $(seq 1 "$workers"); do
    name=worker; [ "$n" -gt 1 ] && name="worker$n"
    wport=$(free_port); wui=$(free_port)
    nohup "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
      --host 127.0.0.1 --port "$wport" --webui-port "$wui" --cores "${SPARK_WORKER_CORES:-1}" \
      --memory "${SPARK_WORKER_MEMORY:-1g}" --work-dir "$STATE/work" "$master" >"$STATE/logs/$name.log" 2>&1 &
    echo $! >"$STATE/$name.pid"
  done
  # the launcher sizes the Thrift server's heap by SPARK_DAEMON_MEMORY, not by --driver-memory
  SPARK_DAEMON_MEMORY=${SPARK_DRIVER_MEMORY:-1g} \
    nohup "$SPARK_HOME/bin/spark-submit" --class org.apache.spark.sql.hive.thriftserver.HiveThriftServer2 \
    --master "$master" --name cruscotto-thrift \
    --driver-memory "${SPARK_DRIVER_MEMORY:-1g}" --executor-memory "${SPARK_WORKER_MEMORY:-1g}" \
    --total-executor-cores "$(( ${SPARK_WORKER_CORES:-1} * workers ))" \
    --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
    --conf spark.ui.enabled=false \
    --conf spark.sql.warehouse.dir="$STATE/warehouse" \
    --conf spark.sql.shuffle.partitions="${SPARK_SHUFFLE_PARTITIONS:-4}" \
    --conf "spark.driver.extraJavaOptions=-Dderby.system.home=$STATE/derby -Djava.io.tmpdir=$STATE/tmp" \
    --conf "spark.executor.extraJavaOptions=-Djava.io.tmpdir=$STATE/tmp" \
    --hiveconf hive.server2.thrift.port="$tport" --hiveconf hive.server2.thrift.bind.host=127.0.0.1 \
    --hiveconf hive.metastore.warehouse.dir="$STATE/warehouse" \
    spark-internal >"$STATE/logs/thrift.log" 2>&1 &
  echo $! >"$STATE/thrift.pid"

  local url="hive://127.0.0.1:$tport/default" t0=$SECONDS
  echo "Starting Spark (master $master, Thrift server on 127.0.0.1:$tport)…" >&2
  until answers "$url"; do
    for p in master worker thrift; do
      if ! alive "$p"; then
        echo "Spark's $p stopped; the end of $STATE/logs/$p.log:" >&2
        tail -n 30 "$STATE/logs/$p.log" >&2
        stop >/dev/null 2>&1 || true
        return 1
      fi
    done
    if [ $((SECONDS - t0)) -ge "$WAIT_S" ]; then
      echo "Spark did not answer within ${WAIT_S}s; see $STATE/logs/" >&2
      stop >/dev/null 2>&1 || true
      return 1
    fi
    sleep 3
  done
  echo "$url" >"$STATE/url"
  echo "Spark answers after $((SECONDS - t0))s" >&2
  echo "$url"
}

status() {
  if [ -f "$STATE/url" ] && answers "$(cat "$STATE/url")"; then
    cat "$STATE/url"
    return 0
  fi
  echo "Spark is not running" >&2
  return 1
}

stop() {
  local p pid waited
  # the Thrift server first (it releases its executor), then the worker (it kills any executor left)
  for p in thrift $(cd "$STATE" 2>/dev/null && ls worker*.pid 2>/dev/null | sed 's/\.pid$//') master; do
    [ -f "$STATE/$p.pid" ] || continue
    pid=$(cat "$STATE/$p.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      waited=0
      while kill -0 "$pid" 2>/dev/null && [ $waited -lt 30 ]; do sleep 0.5; waited=$((waited + 1)); done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/$p.pid"
  done
  # an executor the worker could not stop: one running in our work directory
  for pid in $(pgrep -f CoarseGrainedExecutorBackend 2>/dev/null || true); do
    case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in "$STATE/work/"*) kill -9 "$pid" 2>/dev/null || true ;; esac
  done
  rm -f "$STATE/url"
  echo "Spark stopped" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

"""Copy a DuckDB database (the benchmark's demo) into a local Spark SQL warehouse, as Parquet.

    python bench/spark_load.py --from /tmp/bench/100k.duckdb --to hive://127.0.0.1:PORT/default \
        --database bench100k --dir /tmp/bench/spark100k

Each table is written as Parquet files under ``--dir`` and declared to Spark with
``CREATE TABLE … USING parquet LOCATION``: a million orders in seconds, where ``cli.py demo --url
hive://…`` (multi-row INSERTs, what works against any Spark server) takes minutes. The Spark server
must read ``--dir``: a cluster on this machine (``scripts/spark.sh start``), not a remote one.
Prints the URL of the new database on its last line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb
import sqlalchemy as sa


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", required=True, help="a DuckDB file")
    parser.add_argument("--to", required=True, help="the Spark Thrift server's URL (hive://…)")
    parser.add_argument("--database", required=True, help="the Spark database to (re)create")
    parser.add_argument("--dir", required=True, type=Path, help="where the Parquet files go")
    args = parser.parse_args()
    started = time.perf_counter()
    local = duckdb.connect(args.source, read_only=True)
    tables = [name for (name,) in local.execute("SHOW TABLES").fetchall()]
    engine = sa.create_engine(args.to)
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{args.database}` CASCADE"))
        conn.execute(sa.text(f"CREATE DATABASE `{args.database}`"))
        for name in tables:
            folder = (args.dir / name).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("*.parquet"):
                old.unlink()
            local.execute(f"COPY (SELECT * FROM \"{name}\") TO '{folder / 'part-0.parquet'}' (FORMAT parquet)")  # noqa: S608 - our own table names
            conn.execute(sa.text(f"CREATE TABLE `{args.database}`.`{name}` USING parquet LOCATION 'file://{folder}'"))
            rows = conn.execute(sa.select(sa.func.count()).select_from(sa.table(name, schema=args.database))).scalar()
            print(f"{name}: {rows} rows", file=sys.stderr)
    engine.dispose()
    print(f"loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(sa.engine.make_url(args.to).set(database=args.database).render_as_string(hide_password=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

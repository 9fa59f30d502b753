"""The dashboard never changes the source: files byte-identical after every page, export and
report; hostile filter values do nothing."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

import cli
from data import queries
from data.demo import write_demo
from data.filters import Filters
from data.settings import Settings
from data.source import Source
from service.report import build_report, render
from tests.conftest import ALL_PAGES, APP

HOSTILE = "x'); DROP TABLE orders; --"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_source_file_is_byte_identical_after_everything(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_settings: Settings
) -> None:
    path = tmp_path / f"source.{kind}"
    url = f"{kind}:///{path}"
    write_demo(url, customers=300, seed=5)
    before = _digest(path)
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["segment"] = HOSTILE  # not an option: ignored
    at.run()
    assert not at.exception
    for page in ALL_PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
    source = Source(settings=default_settings, url=url)
    sections = build_report(source, Filters(start=date(2025, 11, 1), end=date(2026, 10, 31)), "it", date.today())
    assert render(sections, "html", "r", "c")
    for argv in (["check"], ["overview"], ["roi"], ["lifecycle"], ["upsell"]):
        assert cli.main([*argv, "--config", str(config)]) == 0
    source.engine.dispose()
    assert _digest(path) == before


def test_hostile_filter_values_are_just_values(tiny_source: Source) -> None:
    f = Filters(segments=(HOSTILE,), regions=(HOSTILE,), start=date(2024, 7, 1), end=date(2024, 12, 31))
    assert queries.period_measures(tiny_source, f, date(2025, 1, 15)).iloc[0]["revenue"] == 0
    assert queries.monthly_by_segment(tiny_source, f, date(2025, 1, 15)).empty
    with tiny_source.engine.connect() as conn:  # the table is still there
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar() == 18


WRITES = [
    "CREATE TABLE x (a INT)",
    "INSERT INTO orders VALUES (1)",
    "  /* a comment */ DROP TABLE orders",
    "WITH a AS (SELECT 1 AS v) INSERT INTO orders SELECT * FROM a",  # Spark accepts it
    "SET spark.sql.ansi.enabled=false",
    "(SELECT 1); DELETE FROM orders",
]
READS = [
    "SELECT 1",
    "  -- a comment\nSELECT 1 UNION ALL SELECT 2",
    "WITH a AS (SELECT 1 AS v) SELECT v FROM a",
    "SELECT 'DROP TABLE orders' AS words, 2 AS update_count",
]


def test_a_database_without_read_only_sessions_gets_reads_only() -> None:
    """Where the engine has no read-only session (Spark SQL, Databricks, Trino, SQL Server), a
    statement that would not only read is refused before it is sent, in the UI's language."""
    from data.engine import WriteRefused, _reads_only

    engine = sa.create_engine("sqlite://")
    _reads_only(engine)
    with engine.connect() as conn:
        for sql in READS:
            conn.execute(sa.text(sql)).fetchall()
        for sql in WRITES:
            with pytest.raises(WriteRefused) as refused:
                conn.execute(sa.text(sql))
            assert "istruzione rifiutata" in refused.value.localized("it")
        assert conn.execute(sa.text("SELECT count(*) FROM sqlite_master")).scalar() == 0  # nothing made


def test_spark_refuses_writes(tmp_path: Path) -> None:
    """On a real Spark SQL server (the tests' local cluster): reads answer, writes are refused."""
    from data.engine import WriteRefused, make_readonly_engine
    from tests.conftest import spark_admin_url

    engine = make_readonly_engine(spark_admin_url())
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
        for sql in WRITES:
            with pytest.raises(WriteRefused):
                conn.execute(sa.text(sql))
        names = [row[1] for row in conn.execute(sa.text("SHOW TABLES")).fetchall()]
        assert "x" not in names
    engine.dispose()


def test_connections_opened_at_once_lock_the_database_once(tmp_path: Path) -> None:
    """Connections to one DuckDB file share its settings: sixteen opened at the same moment (a
    visitor's page and the server's read ahead, after a start) all open, locked, where the second
    used to fail on setting what the first had just locked."""
    import threading

    import duckdb

    from data.engine import make_readonly_engine

    path = tmp_path / "at_once.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    for _ in range(5):
        engines = [make_readonly_engine(f"duckdb:///{path}") for _ in range(16)]
        start, errors, answers = threading.Barrier(16), [], []

        def open_one(
            engine: sa.Engine, start: threading.Barrier = start, errors: list = errors, answers: list = answers
        ) -> None:
            start.wait()
            try:
                with engine.connect() as conn:
                    answers.append(conn.execute(sa.text("SELECT current_setting('lock_configuration')")).scalar())
            except Exception as error:
                errors.append(error)

        threads = [threading.Thread(target=open_one, args=(e,)) for e in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for engine in engines:
            engine.dispose()
        assert errors == [] and answers == [True] * 16, errors[:1]

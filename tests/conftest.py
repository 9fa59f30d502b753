"""Shared fixtures: the tiny messy company on SQLite, DuckDB and a real PostgreSQL server."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from data.demo import write_demo, write_frames
from data.settings import Settings, load_settings
from data.source import Source
from tests.fixtures import tiny_frames

#: Spark SQL joins when a Thrift server is given (``CRUSCOTTO_TEST_SPARK_URL``; bash scripts/spark.sh
#: start prints it), or is being started by scripts/test.sh (``CRUSCOTTO_TEST_SPARK_STATE``: its state
#: directory, where the URL appears once it answers). Without either, Spark's cases are not run.
_SPARK_STATE = os.environ.get("CRUSCOTTO_TEST_SPARK_STATE")
ENGINES: tuple[str, ...] = ("sqlite", "duckdb", "postgresql", "mariadb") + (
    ("spark",) if os.environ.get("CRUSCOTTO_TEST_SPARK_URL") or _SPARK_STATE else ()
)
APP = str(Path(__file__).resolve().parent.parent / "app.py")
ALL_PAGES = (
    "pages/panoramica.py",
    "pages/valore.py",
    "pages/marketing.py",
    "pages/ciclo-di-vita.py",
    "pages/opportunita.py",
    "pages/coinvolgimento.py",
    "pages/simulatore.py",
    "pages/dati.py",
)


def pg_admin_url() -> str | None:
    url = os.environ.get("CRUSCOTTO_TEST_PG_URL")
    if not url and os.environ.get("CI"):
        pytest.fail("CRUSCOTTO_TEST_PG_URL is not set: run the tests through scripts/test.sh")
    return url


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; its URL."""
    admin = pg_admin_url()
    if not admin:
        pytest.skip("no PostgreSQL server (set CRUSCOTTO_TEST_PG_URL or run scripts/test.sh)")
    name = f"cruscotto_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)
    yield url
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def mariadb_admin_url() -> str | None:
    url = os.environ.get("CRUSCOTTO_TEST_MARIADB_URL")
    if not url and os.environ.get("CI"):
        pytest.fail("CRUSCOTTO_TEST_MARIADB_URL is not set: run the tests through scripts/test.sh")
    return url


def _mariadb_url(stem: str) -> str:
    admin = mariadb_admin_url()
    if not admin:
        pytest.skip("no MariaDB server (set CRUSCOTTO_TEST_MARIADB_URL or run scripts/test.sh)")
    name = f"{stem}_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin)
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    engine.dispose()
    return (
        sa.engine.make_url(admin).set(database=name, query={"charset": "utf8mb4"}).render_as_string(hide_password=False)
    )


def spark_admin_url() -> str:
    """The URL of the tests' Spark Thrift server; while scripts/test.sh is still starting it (in the
    background, during the first tests), wait for it. A start that failed fails the test: when the
    test command asked for Spark, its cases are not skipped."""
    url = os.environ.get("CRUSCOTTO_TEST_SPARK_URL")
    if url:
        return url
    if not _SPARK_STATE:
        pytest.skip("no Spark Thrift server (set CRUSCOTTO_TEST_SPARK_URL: bash scripts/spark.sh start)")
    state = Path(_SPARK_STATE)
    deadline = time.monotonic() + float(os.environ.get("SPARK_START_TIMEOUT_S", "600"))
    while time.monotonic() < deadline:
        status = state / "start.status"
        if status.exists() and status.read_text().strip() not in ("", "0"):
            log = (state / "start.log").read_text(errors="replace")[-3000:] if (state / "start.log").exists() else ""
            pytest.fail(f"the local Spark cluster did not start:\n{log}")
        if status.exists() and (state / "url").exists():
            url = (state / "url").read_text().strip()
            os.environ["CRUSCOTTO_TEST_SPARK_URL"] = url
            return url
        time.sleep(1)
    pytest.fail(f"the local Spark cluster did not answer within the wait (state in {state})")


def _spark_url(stem: str) -> str:
    """A fresh database (schema) on the tests' Spark Thrift server."""
    admin = spark_admin_url()
    name = f"{stem}_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin)
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    engine.dispose()
    return sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)


def _url_for(kind: str, tmp: Path, request: pytest.FixtureRequest, stem: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / (stem + '.sqlite')}"
    if kind == "duckdb":
        return f"duckdb:///{tmp / (stem + '.duckdb')}"
    if kind == "mariadb":
        return _mariadb_url(stem)
    if kind == "spark":
        return _spark_url(stem)
    base: str = request.getfixturevalue("pg_database")
    schema_db = f"{stem}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{schema_db}"'))
    admin.dispose()
    return sa.engine.make_url(base).set(database=schema_db).render_as_string(hide_password=False)


@pytest.fixture(scope="session", params=ENGINES)
def tiny_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny messy company written to each engine."""
    url = _url_for(request.param, tmp_path_factory.mktemp(f"tiny_{request.param}"), request, "tiny")
    write_frames(url, tiny_frames())
    return url


@pytest.fixture(scope="session")
def default_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with every default: an empty settings file, no environment, no secrets."""
    empty = tmp_path_factory.mktemp("settings") / "cruscotto.toml"
    empty.write_text("")
    return load_settings(empty, env={}, secrets_path="/nonexistent")


@pytest.fixture(scope="session")
def tiny_source(tiny_url: str, default_settings: Settings) -> Source:
    return Source(settings=default_settings, url=tiny_url)


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small demo database (600 customers) on DuckDB, written once per session."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    url = f"duckdb:///{path}"
    write_demo(url, customers=600)
    return url


@pytest.fixture(scope="session")
def demo_source(demo_url: str, default_settings: Settings) -> Source:
    return Source(settings=default_settings, url=demo_url)

"""Faults of the database and the words they are reported with: a runaway query is stopped on every
engine, an unreachable server never shows its password, and every message exists in both
languages."""

from __future__ import annotations

import ast
import re
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from data import queries
from data.engine import QueryTimeout, SourceUnavailable, make_readonly_engine
from data.messages import MESSAGES, render
from data.settings import ConfigError, load_settings
from data.source import Source

#: one mapping of the orders per dialect that runs for many seconds unless it is stopped
SLOW_ORDERS = {
    "sqlite": "SELECT * FROM orders WHERE (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 200000000) SELECT count(*) FROM c) > 0",
    "duckdb": "SELECT * FROM orders WHERE (SELECT count(*) FROM range(20000000000) r "
    "WHERE hash(r.range) % 1000003 = 7) >= 0",
    "postgresql": "SELECT * FROM orders WHERE pg_sleep(0.3) IS NOT NULL",
    "mysql": "SELECT * FROM orders WHERE SLEEP(0.3) = 0",
    "hive": "SELECT * FROM orders WHERE java_method('java.lang.Thread', 'sleep', 300L) IS NULL",
}


def _slow_settings(tmp_path: Path, dialect: str, timeout: float = 0.4) -> object:
    config = tmp_path / "cruscotto.toml"
    sql = SLOW_ORDERS[dialect].replace('"', '\\"')
    config.write_text(f'[source]\nstatement_timeout_s = {timeout}\n[entities.orders]\nsql = "{sql}"\n')
    return load_settings(config, env={}, secrets_path="/nonexistent")


def test_a_runaway_query_is_stopped(tiny_url: str, tmp_path: Path) -> None:
    dialect = sa.engine.make_url(tiny_url).get_backend_name()
    source = Source(settings=_slow_settings(tmp_path, dialect), url=tiny_url)  # type: ignore[arg-type]
    started = time.perf_counter()
    with pytest.raises(QueryTimeout) as info:
        queries.order_date_range(source, date(2026, 11, 1))
    elapsed = time.perf_counter() - started
    assert elapsed < 10, elapsed  # unstopped, each query runs for a minute or more
    assert "0.4 s" in info.value.message and "statement_timeout_s" in info.value.message
    assert "0,4 s" not in info.value.localized("it") and "0.4 s" in info.value.localized("it")
    # the connection is usable again at once
    with source.engine.connect() as conn:
        assert conn.execute(sa.select(sa.literal(7))).scalar() == 7


def test_the_timeout_is_a_setting(tmp_path: Path) -> None:
    config = tmp_path / "cruscotto.toml"
    config.write_text("[source]\nstatement_timeout_s = 0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={}, secrets_path="/nonexistent")
    assert info.value.key == "source.statement_timeout_s"
    config.write_text("[source]\nstatement_timout_s = 5\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={}, secrets_path="/nonexistent")
    assert info.value.key == "source.statement_timout_s" and "statement_timeout_s" in info.value.message
    config.write_text("[source]\nstatement_timeout_s = 12.5\n")
    assert load_settings(config, env={}, secrets_path="/nonexistent").statement_timeout_s == 12.5


def test_an_unreachable_server_never_shows_its_password() -> None:
    engine = make_readonly_engine("postgresql+psycopg://reader:Sup3r-Secret@127.0.0.1:1/erp", 5)
    with pytest.raises(SourceUnavailable) as info, engine.connect():
        pass
    for text in (str(info.value), info.value.localized("it"), info.value.localized("en"), repr(info.value)):
        assert "Sup3r-Secret" not in text
    assert "***" in info.value.message and "non risponde" in info.value.localized("it")


def test_every_message_exists_in_both_languages_with_the_same_fields() -> None:
    fields = re.compile(r"\{(\w+)\}")
    for code, (italian, english) in MESSAGES.items():
        assert italian and english and italian != english, code
        assert sorted(fields.findall(italian)) == sorted(fields.findall(english)), code


def test_every_raised_code_is_in_the_catalogue() -> None:
    raisers = {"ConfigError", "MappingError", "SourceUnavailable", "QueryTimeout", "SourceFault"}
    used: set[str] = set()
    for path in Path(__file__).resolve().parents[1].joinpath("data").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in raisers:
                position = 1 if node.func.id in ("ConfigError", "MappingError") else 0  # type: ignore[attr-defined]
                code = node.args[position]
                assert isinstance(code, ast.Constant), f"{path.name}:{node.lineno}: the message code must be literal"
                used.add(code.value)
    assert len(used) > 25
    assert used <= set(MESSAGES), used - set(MESSAGES)
    assert render("mapping.sql_writes", "it", word="DELETE") == "deve solo leggere i dati; 'DELETE' non è ammesso."

"""Every statement the pages send compiles for MySQL, SQL Server and Trino (compile-only: the
servers are not here; MariaDB runs for real in the engine tests), with the tolerant casts in each
dialect's own words."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql, mysql
from streamlit.testing.v1 import AppTest
from trino.sqlalchemy.dialect import TrinoDialect

from data.demo import write_frames
from tests.conftest import ALL_PAGES, APP
from tests.fixtures import tiny_frames

DIALECTS = {"mysql": mysql.dialect(), "mssql": mssql.dialect(), "trino": TrinoDialect()}
#: what the tolerant date cast must compile to in each dialect
DATE_WORDS = {"mysql": "REGEXP", "mssql": "TRY_CONVERT(DATE", "trino": "from_iso8601_date"}


@pytest.fixture(scope="module")
def statements(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Any]]:
    """Every SQLAlchemy statement the pages execute on the tiny company (dates and amounts stored
    as text, so the tolerant casts are in), with filters set."""
    captured: list[Any] = []
    folder = tmp_path_factory.mktemp("dialects")
    url = f"sqlite:///{folder / 'tiny.sqlite'}"
    write_frames(url, tiny_frames())

    def capture(_conn: Any, clause: Any, *_args: Any) -> None:
        if isinstance(clause, sa.sql.ClauseElement) and not isinstance(clause, sa.TextClause):
            captured.append(clause)

    config = folder / "cruscotto.toml"
    config.write_text("")
    mp = pytest.MonkeyPatch()
    mp.setenv("CRUSCOTTO_CONFIG", str(config))
    mp.setenv("CRUSCOTTO_DB_URL", url)
    sa.event.listen(sa.engine.Engine, "before_execute", capture)
    try:
        from ui import loaders

        loaders.clear_all()
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params["segment"] = ["HoReCa"]
        at.query_params["region"] = ["Nord"]
        at.query_params["period"] = ["Tutto lo storico"]
        at.run()
        for page in ALL_PAGES:
            at.switch_page(page).run()
            assert not at.exception
        yield captured
    finally:
        sa.event.remove(sa.engine.Engine, "before_execute", capture)
        mp.undo()


def test_the_visit_sends_the_extraction_and_little_else(statements: list[Any]) -> None:
    """The capture works (the mapping probes and the extraction of every entity are there), and a
    visit of every page with filters reads the source once: a handful of statements, not dozens."""
    assert 10 <= len(statements) <= 20


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_every_statement_compiles(statements: list[Any], name: str) -> None:
    dialect = DIALECTS[name]
    compiled = [str(stmt.compile(dialect=dialect)) for stmt in statements]
    assert all(sql.strip().upper().startswith(("SELECT", "WITH")) for sql in compiled)
    joined = "\n".join(compiled)
    assert DATE_WORDS[name] in joined  # the tolerant date reading, in this dialect's words
    assert "cruscotto_date" not in joined and "regexp_match" not in joined  # no other dialect's functions

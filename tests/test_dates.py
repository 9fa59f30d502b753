"""Dates as ERPs write them: every engine reads the same text the same way."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from data.demo import write_frames
from data.engine import make_readonly_engine
from data.sqlfuncs import date_of, parse_date_text
from tests.conftest import ENGINES, _url_for

#: text → (read day first, read month first); None where it is not a date
CASES: dict[str, tuple[str | None, str | None]] = {
    "2025-12-31": ("2025-12-31", "2025-12-31"),
    "2025-12-31 18:45:00": ("2025-12-31", "2025-12-31"),
    "2025-12-31T18:45:00Z": ("2025-12-31", "2025-12-31"),
    " 2025-12-31 ": ("2025-12-31", "2025-12-31"),
    "2025/12/31": ("2025-12-31", "2025-12-31"),
    "2025-2-3": ("2025-02-03", "2025-02-03"),
    "31/12/2025": ("2025-12-31", None),
    "12/31/2025": (None, "2025-12-31"),
    "03/04/2025": ("2025-04-03", "2025-03-04"),
    "3/4/2025": ("2025-04-03", "2025-03-04"),
    "31.12.2025": ("2025-12-31", None),
    "31-12-2025": ("2025-12-31", None),
    "31/12/2025 09:30": ("2025-12-31", None),
    "29/02/2024": ("2024-02-29", None),
    "29/02/2025": (None, None),
    "2025-02-30": (None, None),
    "2025-13-01": (None, None),
    "00/01/2025": (None, None),
    "31/12/25": (None, None),
    "20251231": (None, None),
    "0000-01-01": (None, None),
    "00/00/0000": (None, None),
    "2025-12-31x": (None, None),
    "ieri": (None, None),
    "": (None, None),
}


@pytest.mark.parametrize("order", ["DMY", "MDY"])
def test_the_python_reading(order: str) -> None:
    column = 0 if order == "DMY" else 1
    for text, expected in CASES.items():
        assert parse_date_text(text, order) == expected[column], (text, order)


@pytest.mark.parametrize("kind", ENGINES)
def test_every_engine_reads_the_same_dates(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = _url_for(kind, tmp_path, request, "dates")
    texts = list(CASES)
    write_frames(url, {"samples": pd.DataFrame({"n": range(len(texts)), "d": texts})})
    engine = make_readonly_engine(url)
    samples = sa.table("samples", sa.column("n"), sa.column("d"))
    try:
        for order, column in (("DMY", 0), ("MDY", 1)):
            stmt = sa.select(samples.c.n, date_of(samples.c.d, order).label("day")).order_by(samples.c.n)
            with engine.connect() as conn:
                got = {
                    texts[n]: (day if day is None or isinstance(day, str) else day.isoformat())
                    for n, day in conn.execute(stmt)
                }
            expected = {text: pair[column] for text, pair in CASES.items()}
            # SQLite has no DATE type: its dates come back as ISO text, the others as date objects
            assert got == expected, (kind, order)
    finally:
        engine.dispose()


def test_a_native_date_column_is_not_reparsed() -> None:
    engine = sa.create_engine("duckdb:///:memory:")
    with engine.connect() as conn:
        value = conn.execute(sa.select(date_of(sa.literal(date(2025, 12, 31)), "MDY"))).scalar()
    assert value == date(2025, 12, 31)

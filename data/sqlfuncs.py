"""Tolerant casts, compiled for each dialect.

``safe_date(x)`` and ``safe_number(x)`` give NULL where a value cannot be read as a date or a
number, instead of failing the whole query. The cleaning queries count those NULLs as excluded
rows, so the data-health page and every KPI agree on which rows are used.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["date_of", "parse_date_text", "safe_date", "safe_number"]

_PG_NUMBER = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"


class safe_date(FunctionElement[Any]):  # noqa: N801 - SQL function style
    """The value as a DATE, or NULL where it is not a valid date.

    Read on every engine alike: ``2025-12-31`` and ``2025/12/31`` (year first), and dates with the
    year last — ``31/12/2025``, ``31.12.2025``, ``31-12-2025``, one-digit days and months too —
    taken day first (``DMY``, the default) or month first (``MDY``); a time after a space or a
    ``T`` is ignored. Anything else (``20251231``, ``31/12/25``, ``ieri``, ``2025-02-30``) is NULL.
    """

    type = sa.Date()
    inherit_cache = True
    name = "safe_date"
    order = "DMY"


class _safe_date_mdy(safe_date):  # noqa: N801 - a class of its own, so the two orders never share cached SQL
    inherit_cache = True
    name = "safe_date_mdy"
    order = "MDY"


def date_of(value: Any, order: str = "DMY") -> safe_date:
    """``safe_date`` for ``order`` ("DMY" or "MDY")."""
    return _safe_date_mdy(value) if order == "MDY" else safe_date(value)


class safe_number(FunctionElement[Any]):  # noqa: N801
    """The value as a floating-point number, or NULL where it is not numeric."""

    type = sa.Double()
    inherit_cache = True
    name = "safe_number"


def _arg(element: FunctionElement[Any], compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


#: the two written forms, as regular expressions with three groups
_YEAR_FIRST = r"^\s*([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})([ T].*)?$"
_YEAR_LAST = r"^\s*([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]([0-9]{4})([ T].*)?$"
_YEAR_FIRST_RE = re.compile(_YEAR_FIRST)
_YEAR_LAST_RE = re.compile(_YEAR_LAST)


def parse_date_text(text: object, order: str = "DMY") -> str | None:
    """The ISO date of ``text`` by the rules of ``safe_date``, or None (SQLite calls this)."""
    if not isinstance(text, str):
        return None
    value = text.rstrip()
    if m := _YEAR_FIRST_RE.match(value):
        y, mo, d = m.group(1), m.group(2), m.group(3)
    elif m := _YEAR_LAST_RE.match(value):
        first, second, y = m.group(1), m.group(2), m.group(3)
        d, mo = (second, first) if order == "MDY" else (first, second)
    else:
        return None
    try:
        return date(int(y), int(mo), int(d)).isoformat()
    except ValueError:
        return None


def _either_form(order: str, group: Any, make: Any) -> str:
    """The date of the year-first form, else of the year-last form (day or month first by
    ``order``): ``group(pattern, n)`` extracts a part, ``make(y, m, d)`` builds a date or NULL."""
    day, month = (2, 1) if order == "MDY" else (1, 2)
    first = make(group(_YEAR_FIRST, 1), group(_YEAR_FIRST, 2), group(_YEAR_FIRST, 3))
    last = make(group(_YEAR_LAST, 3), group(_YEAR_LAST, month), group(_YEAR_LAST, day))
    return f"COALESCE({first}, {last})"


@compiles(safe_date)
def _date_default(element: safe_date, compiler: Any, **kw: Any) -> str:
    return f"CAST({_arg(element, compiler, **kw)} AS DATE)"


@compiles(safe_date, "sqlite")
def _date_sqlite(element: safe_date, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    # Text only (SQLite would read a bare number as a Julian day); the engine registers the
    # function on every connection (data.engine).
    # ISO dates, the common case, stay in C: date(x, '+0 days') rolls an impossible day over
    # (2025-02-30 → 2025-03-02), so equality means the date exists. The rest goes to Python.
    iso = f"{x} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"
    return (
        f"(CASE WHEN typeof({x}) = 'text' THEN CASE WHEN {iso} THEN "
        f"(CASE WHEN {x} >= '0001' AND date({x}, '+0 days') = {x} THEN {x} END) "
        f"ELSE cruscotto_date({x}, '{element.order}') END END)"
    )


@compiles(safe_date, "duckdb")
def _date_duckdb(element: safe_date, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    s = f"CAST({x} AS VARCHAR)"

    def group(pattern: str, n: int) -> str:
        return f"TRY_CAST(NULLIF(regexp_extract({s}, '{pattern}', {n}), '') AS INTEGER)"

    def make(y: str, m: str, d: str) -> str:
        return f"TRY_CAST(printf('%04d-%02d-%02d', NULLIF({y}, 0), {m}, {d}) AS DATE)"

    return _either_form(element.order, group, make)


def _valid_ymd(y: str, m: str, d: str, make: str, last_day: str) -> str:
    return f"(CASE WHEN {y} >= 1 AND {m} BETWEEN 1 AND 12 AND {d} BETWEEN 1 AND {last_day} THEN {make} END)"


@compiles(safe_date, "postgresql")
def _date_pg(element: safe_date, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    s = f"CAST({x} AS TEXT)"

    def group(pattern: str, n: int) -> str:
        return f"CAST((regexp_match({s}, '{pattern}'))[{n}] AS INTEGER)"

    def valid(y: str, m: str, d: str) -> str:
        last = f"EXTRACT(DAY FROM make_date({y}, {m}, 1) + INTERVAL '1 month - 1 day')"
        return _valid_ymd(y, m, d, f"make_date({y}, {m}, {d})", last)

    return _either_form(element.order, group, valid)


@compiles(safe_date, "mysql")
@compiles(safe_date, "mariadb")
def _date_mysql(element: safe_date, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    s = f"CAST({x} AS CHAR)"
    # "31/12/2025 10:00" → "31-12-2025": separators made one, the time dropped; then three parts.
    norm = f"SUBSTRING_INDEX(REPLACE(REPLACE(REPLACE(TRIM({s}), '/', '-'), '.', '-'), 'T', ' '), ' ', 1)"
    a = f"CAST(SUBSTRING_INDEX({norm}, '-', 1) AS UNSIGNED)"
    b = f"CAST(SUBSTRING_INDEX(SUBSTRING_INDEX({norm}, '-', 2), '-', -1) AS UNSIGNED)"
    c = f"CAST(SUBSTRING_INDEX({norm}, '-', -1) AS UNSIGNED)"
    yf, yl = _YEAR_FIRST.replace("\\s", "[[:space:]]"), _YEAR_LAST.replace("\\s", "[[:space:]]")

    def make(y: str, m: str, d: str) -> str:
        # MySQL/MariaDB accept impossible days (2025-02-30) unless strict modes are on: check here.
        # not MAKEDATE: it reads years below 70 as 2000–2069 (year 1 became 2001)
        month_start = f"CAST(CONCAT(LPAD({y}, 4, '0'), '-', LPAD({m}, 2, '0'), '-01') AS DATE)"
        return _valid_ymd(y, m, d, f"{month_start} + INTERVAL ({d} - 1) DAY", f"DAY(LAST_DAY({month_start}))")

    last_form = make(c, a, b) if element.order == "MDY" else make(c, b, a)
    return f"(CASE WHEN {s} REGEXP '{yf}' THEN {make(a, b, c)} WHEN {s} REGEXP '{yl}' THEN {last_form} END)"


@compiles(safe_date, "mssql")
def _date_mssql(element: safe_date, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    s = f"LTRIM(CAST({x} AS NVARCHAR(40)))"
    # TRY_CONVERT styles: 23 yyyy-mm-dd, 111 yyyy/mm/dd; day first 103 (/), 104 (.), 105 (-);
    # month first 101 (/), 110 (-).
    styles = ("101", "110") if element.order == "MDY" else ("103", "104", "105")
    tries = [f"TRY_CONVERT(DATE, LEFT({s}, 10), 23)", f"TRY_CONVERT(DATE, LEFT({s}, 10), 111)"]
    tries += [f"TRY_CONVERT(DATE, {s}, {style})" for style in styles]
    return f"COALESCE({', '.join(tries)})"


@compiles(safe_date, "trino")
def _date_trino(element: safe_date, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    s = f"CAST({x} AS VARCHAR)"

    def group(pattern: str, n: int) -> str:
        return f"NULLIF(regexp_extract({s}, '{pattern}', {n}), '')"

    def iso(y: str, m: str, d: str) -> str:
        # from_iso8601_date refuses impossible days; TRY turns the refusal into NULL
        return f"TRY(from_iso8601_date(lpad({y}, 4, '0') || '-' || lpad({m}, 2, '0') || '-' || lpad({d}, 2, '0')))"

    return _either_form(element.order, group, iso)


@compiles(safe_date, "hive")
@compiles(safe_date, "databricks")
def _date_spark(element: safe_date, compiler: Any, **kw: Any) -> str:
    """Spark SQL (``hive://`` through the Thrift server, Databricks). Spark runs in ANSI mode: a
    plain CAST of a bad value fails the statement, ``try_to_date`` gives NULL (impossible days too).
    Raw literals (r'…') keep the patterns' backslashes."""
    x = _arg(element, compiler, **kw)
    s = f"CAST({x} AS STRING)"

    def group(pattern: str, n: int) -> str:
        return f"NULLIF(regexp_extract({s}, r'{pattern}', {n}), '')"

    def make(y: str, m: str, d: str) -> str:
        # year 0 is a date to java.time, not to the other engines: NULL by NULLIF
        ymd = f"concat(NULLIF(lpad({y}, 4, '0'), '0000'), '-', lpad({m}, 2, '0'), '-', lpad({d}, 2, '0'))"
        return f"try_to_date({ymd}, 'yyyy-MM-dd')"

    return _either_form(element.order, group, make)


@compiles(sa.Date, "hive")
def _date_type_spark(_type: sa.Date, _compiler: Any, **_kw: Any) -> str:
    """A date is a DATE to Spark SQL: PyHive names it TIMESTAMP, whose values it parses one by one
    (strptime: seconds per million rows) and which compares with a day's text as a time."""
    return "DATE"


@compiles(safe_number)
def _number_default(element: safe_number, compiler: Any, **kw: Any) -> str:
    # DOUBLE, not FLOAT: FLOAT is four bytes on DuckDB and Spark, and money would lose its cents
    return f"CAST({_arg(element, compiler, **kw)} AS DOUBLE)"


@compiles(safe_number, "sqlite")
def _number_sqlite(element: safe_number, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    return (
        f"(CASE WHEN typeof({x}) IN ('integer', 'real') THEN {x} "
        f"WHEN typeof({x}) = 'text' AND trim({x}) <> '' AND trim({x}) NOT GLOB '*[^0-9.eE+-]*' "
        f"AND trim({x}) GLOB '*[0-9]*' THEN CAST(trim({x}) AS REAL) END)"
    )


@compiles(safe_number, "mssql")
def _number_mssql(element: safe_number, compiler: Any, **kw: Any) -> str:
    return f"TRY_CAST({_arg(element, compiler, **kw)} AS FLOAT)"


@compiles(safe_number, "trino")
def _number_trino(element: safe_number, compiler: Any, **kw: Any) -> str:
    return f"TRY_CAST({_arg(element, compiler, **kw)} AS DOUBLE)"


@compiles(safe_number, "hive")
@compiles(safe_number, "databricks")
def _number_spark(element: safe_number, compiler: Any, **kw: Any) -> str:
    return f"TRY_CAST({_arg(element, compiler, **kw)} AS DOUBLE)"


@compiles(safe_number, "duckdb")
def _number_duckdb(element: safe_number, compiler: Any, **kw: Any) -> str:
    return f"TRY_CAST({_arg(element, compiler, **kw)} AS DOUBLE)"


@compiles(safe_number, "postgresql")
def _number_pg(element: safe_number, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    return f"(CASE WHEN CAST({x} AS TEXT) ~ '{_PG_NUMBER}' THEN CAST(CAST({x} AS TEXT) AS DOUBLE PRECISION) END)"


@compiles(safe_number, "mysql")
@compiles(safe_number, "mariadb")
def _number_mysql(element: safe_number, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    return f"(CASE WHEN CAST({x} AS CHAR) REGEXP '{_PG_NUMBER}' THEN CAST({x} AS DOUBLE) END)"

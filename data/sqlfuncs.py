"""Tolerant casts, compiled for each dialect.

``safe_date(x)`` and ``safe_number(x)`` give NULL where a value cannot be read as a date or a
number, instead of failing the whole query. The cleaning queries count those NULLs as excluded
rows, so the data-health page and every KPI agree on which rows are used.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["safe_date", "safe_number"]

_PG_DATE = r"^\s*\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_PG_NUMBER = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"


class safe_date(FunctionElement[Any]):  # noqa: N801 - SQL function style
    """The value as a DATE, or NULL where it is not a valid date."""

    type = sa.Date()
    inherit_cache = True
    name = "safe_date"


class safe_number(FunctionElement[Any]):  # noqa: N801
    """The value as a floating-point number, or NULL where it is not numeric."""

    type = sa.Float()
    inherit_cache = True
    name = "safe_number"


def _arg(element: FunctionElement[Any], compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(safe_date)
def _date_default(element: safe_date, compiler: Any, **kw: Any) -> str:
    return f"CAST({_arg(element, compiler, **kw)} AS DATE)"


@compiles(safe_date, "sqlite")
def _date_sqlite(element: safe_date, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    # Text dates only: SQLite would read a bare number as a Julian day.
    return f"(CASE WHEN typeof({x}) = 'text' THEN date({x}) END)"


@compiles(safe_date, "duckdb")
def _date_duckdb(element: safe_date, compiler: Any, **kw: Any) -> str:
    return f"TRY_CAST({_arg(element, compiler, **kw)} AS DATE)"


@compiles(safe_date, "postgresql")
def _date_pg(element: safe_date, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    return f"(CASE WHEN CAST({x} AS TEXT) ~ '{_PG_DATE}' THEN CAST(CAST({x} AS TEXT) AS DATE) END)"


@compiles(safe_date, "mysql")
@compiles(safe_date, "mariadb")
def _date_mysql(element: safe_date, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    return f"(CASE WHEN CAST({x} AS CHAR) REGEXP '{_PG_DATE}' THEN CAST({x} AS DATE) END)"


@compiles(safe_number)
def _number_default(element: safe_number, compiler: Any, **kw: Any) -> str:
    return f"CAST({_arg(element, compiler, **kw)} AS FLOAT)"


@compiles(safe_number, "sqlite")
def _number_sqlite(element: safe_number, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    return (
        f"(CASE WHEN typeof({x}) IN ('integer', 'real') THEN {x} "
        f"WHEN typeof({x}) = 'text' AND trim({x}) <> '' AND trim({x}) NOT GLOB '*[^0-9.eE+-]*' "
        f"AND trim({x}) GLOB '*[0-9]*' THEN CAST(trim({x}) AS REAL) END)"
    )


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

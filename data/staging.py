"""A local copy of the mapped columns, cleaned in an in-process DuckDB instead of by the source.

Cleaning a million orders — tolerant casts, the exclusion rules, the repeated-id window, the joins,
the group-by — is work SQLite does on one thread and PostgreSQL or MariaDB do while the dashboard
waits for a million grouped rows to cross the wire as Python objects. Measured at 100k customers
(about a million orders), reading the mapped columns as they are and running the same cleaning in
DuckDB is several times faster than cleaning at the source (bench/RESULTS.md).

PostgreSQL tables come through ADBC (``adbc-driver-postgresql``: libpq's binary protocol straight
into Arrow, no Python object per value), in a session started read-only with the statement timeout
like the dashboard's own; MariaDB tables through ConnectorX where it is installed, each statement
read-only and timed by itself; other drivers, and where those fail, through SQLAlchemy.

``LocalCopy`` is a ``Source``: the same settings, the same entities and canonical columns, so
``data.facts`` sends it the very statements it would send the source, compiled for DuckDB. Each
entity is read once, with one plain ``SELECT`` of its mapped columns (read-only, under the source's
statement timeout), into Arrow arrays that keep the source's values:

- columns the source types as dates or numbers stay dates and numbers (``ResolvedEntity.native``),
  so they are cast the way the source would cast them;
- everything else keeps its own type where the column has one (whole numbers, decimals, text) and
  becomes text where the values are mixed (SQLite keeps any value in any column): the tolerant
  ``safe_date`` and ``safe_number`` read it exactly as they read text at the source;
- an id that links two entities (``customer_id`` in the orders and the customers, ...) has one
  type in both: text where they differ, so customer 8 is one customer whether a row says 8 or "8".

``clean_locally`` says which sources are copied: with ``[source] clean = "auto"`` (the default),
SQLite, PostgreSQL and MySQL/MariaDB; a warehouse, DuckDB itself and any other engine clean where
the data lives (the group-by is pushed down and only the grouped rows travel). ``"in_memory"`` and
``"in_database"`` force either path.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import QueuePool

from data.engine import QueryTimeout, _interrupt_after, _translate_faults, release_freed_memory
from data.source import MappingError, ResolvedEntity, Source, _placeholder

__all__ = ["LOCAL_DIALECTS", "LocalCopy", "adbc_session", "clean_locally", "runs_in_process"]

#: dialects whose tables are copied and cleaned in memory under ``clean = "auto"``
LOCAL_DIALECTS = frozenset({"sqlite", "postgresql", "mysql", "mariadb"})

_BATCH = 100_000

#: how long a statement to the local copy waits for the one running before it (each is stopped by
#: the statement timeout; a day is "as long as it takes")
_WAIT_S = 86_400


def clean_locally(source: Source) -> bool:
    """Whether ``source`` is cleaned in an in-process copy (see the module's docstring)."""
    if isinstance(source, LocalCopy):
        return False
    mode = source.settings.clean
    if mode == "auto":
        return source.dialect in LOCAL_DIALECTS
    return mode == "in_memory"


def runs_in_process(source: Source) -> bool:
    """Whether statements to ``source`` run in this process: a DuckDB file, or a ``LocalCopy``. Its
    rows need not be grouped to cross a wire, so the extraction can sum them here instead, in an
    order of its choosing, without the hash table of a GROUP BY."""
    return source.dialect == "duckdb"


class LocalCopy(Source):
    """Some entities of ``origin``, copied into an in-process DuckDB (see the module's docstring).

    ``add`` copies more entities on demand (the order lines only when a page needs them)."""

    def __init__(self, origin: Source, names: Iterable[str] = ()) -> None:
        self.origin = origin
        self.settings = origin.settings
        self.url = origin.url
        self._last_kinds = {}
        # The copied tables live in one connection (a DuckDB connection's registered tables are its
        # own), and a DuckDB connection refuses a second statement while one runs: two visitors'
        # pages reading the copy at once failed ("connection is busy", or a table not found). A pool
        # of that one connection: each use waits for the one before it to end, its rows fetched.
        self.engine = sa.create_engine(
            "duckdb:///:memory:", poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=_WAIT_S
        )
        sa.event.listen(self.engine, "connect", lambda conn, _record: release_freed_memory(conn.cursor()))
        _interrupt_after(self.engine, origin.settings.statement_timeout_s)
        _translate_faults(self.engine, origin.settings.statement_timeout_s)
        self._copied: dict[str, ResolvedEntity | MappingError] = {}
        #: per entity, its Arrow columns (a view's) or their schema (a DuckDB table's)
        self._tables: dict[str, pa.Table | pa.Schema] = {}
        self._lock = threading.Lock()
        #: seconds spent reading the origin and rows read, for the benchmarks
        self.read_s = 0.0
        self.rows = 0
        #: per entity, rows with a text that held bytes that are not UTF-8 (read as U+FFFD)
        self.unreadable: dict[str, int] = {}
        self.add(names)

    @property
    def resolution(self) -> dict[str, ResolvedEntity | MappingError]:
        """The copied entities, resolved over the local tables (errors as the origin reports them)."""
        return self._copied

    def add(self, names: Iterable[str]) -> None:
        """Copy the entities ``names`` not copied yet; an entity the origin cannot resolve keeps its
        error (``available`` is False for it, as at the origin)."""
        with self._lock:
            for name in names:
                if name in self._copied:
                    continue
                got = self.origin.resolution.get(name)
                if got is None:
                    continue
                self._copied[name] = got if isinstance(got, MappingError) else self._copy(name, got)
            self._same_ids()

    def _copy(self, name: str, entity: ResolvedEntity) -> ResolvedEntity:
        present = [c for c in entity.spec.columns if entity.has(c)]
        kinds = dict(entity.native)
        started = time.perf_counter()
        amounts = {c for c in present if c in entity.spec.amounts or c in entity.spec.dates}
        table = _read(
            self.origin,
            entity.selectable,
            present,
            {c: k for c, k in kinds.items() if c in amounts},
            plain=entity.mapping.sql is None,
        )
        self.read_s += time.perf_counter() - started
        self.rows += table.num_rows
        self.unreadable[name] = _rows_with_replacement(table)
        self._register(name, table)
        base = sa.table(f"copy_{name}", *[sa.column(c) for c in present])
        columns = [base.c[c].label(c) if c in present else _placeholder(entity.spec, c) for c in entity.spec.columns]
        return ResolvedEntity(
            spec=entity.spec,
            mapping=entity.mapping,
            selectable=sa.select(*columns).select_from(base).subquery(f"e_{name}"),
            present=entity.present,
            native=entity.native,
            date_order=entity.date_order,
            unique_key=entity.unique_key,  # the same rows: what the origin declares holds here
        )

    def _register(self, name: str, table: pa.Table) -> None:
        """``table`` as the copy's table ``copy_{name}``: a DuckDB table, compressed as a file's
        columns are (at a million customers the copied tables take a fraction of their Arrow
        arrays). A table with a column that holds no value at all (Arrow's null type, which no
        table column has) stays a view over the Arrow arrays."""
        view = f"copy_{name}"
        raw = self.engine.raw_connection()
        try:
            connection: Any = raw.driver_connection
            with contextlib.suppress(Exception):
                connection.unregister(view)  # a view of it (first: DROP TABLE refuses a view's name)
            drop = sa.schema.DropTable(sa.Table(view, sa.MetaData()), if_exists=True)
            connection.execute(str(drop.compile(dialect=self.engine.dialect)))
            if any(pa.types.is_null(field.type) for field in table.schema):
                connection.register(view, table)
                self._tables[name] = table
            else:
                connection.from_arrow(table).create(view)
                connection.execute("CHECKPOINT")
                self._tables[name] = table.schema
        finally:
            raw.close()

    def _table(self, name: str) -> pa.Table:
        """The copied table ``name`` as Arrow columns."""
        kept = self._tables[name]
        if isinstance(kept, pa.Table):
            return kept
        raw = self.engine.raw_connection()
        try:
            connection: Any = raw.driver_connection
            return connection.table(f"copy_{name}").to_arrow_table()
        finally:
            raw.close()

    def _same_ids(self) -> None:
        """Ids that link entities get one type across them (see the module's docstring)."""
        holders: dict[str, list[str]] = {}
        schemas = {n: kept if isinstance(kept, pa.Schema) else kept.schema for n, kept in self._tables.items()}
        for name, schema in schemas.items():
            for column in schema.names:
                if column.endswith("_id"):
                    holders.setdefault(column, []).append(name)
        for column, names in holders.items():
            kinds = {schemas[n].field(column).type for n in names} - {pa.null()}
            if len(kinds) <= 1:
                continue
            for name in names:
                if not pa.types.is_string(schemas[name].field(column).type):
                    table = self._table(name)
                    position = table.column_names.index(column)
                    self._register(name, table.set_column(position, column, _id_text(table[column])))


def _rows_with_replacement(table: pa.Table) -> int:
    """Rows with U+FFFD in a text column: the mark of bytes that were not UTF-8."""
    hit = None
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            found = pc.fill_null(pc.match_substring(column, "\ufffd"), False)
            hit = found if hit is None else pc.or_(hit, found)
    return 0 if hit is None else int(pc.sum(hit).as_py() or 0)


def _id_text(column: pa.ChunkedArray) -> pa.Array:
    """Ids as text: whole numbers without a decimal point (8.0 is "8")."""
    values = column.to_pylist()
    return _text([int(v) if isinstance(v, float) and v.is_integer() else v for v in values])


def _read(
    origin: Source, selectable: sa.Subquery, names: list[str], kinds: dict[str, str], *, plain: bool = False
) -> pa.Table:
    """The mapped columns ``names`` of an entity as an Arrow table. ``kinds``: the dates and amounts
    the source types as such ("date", "number"), read as dates and as double precision. ``plain``:
    the entity is a table as it is (no SQL of its own in the mapping)."""
    reader = {"postgresql": _read_postgresql, "mysql": _read_mariadb, "mariadb": _read_mariadb}.get(origin.dialect)
    if reader is not None:
        table = reader(origin, selectable, names, kinds)
        if table is not None:
            return table
    if origin.dialect == "sqlite" and plain and not kinds:
        table = _read_sqlite(origin, selectable, names)
        if table is not None:
            return table
    batches: list[list[pa.Array]] = []
    stmt = sa.select(*[selectable.c[c] for c in names])
    with origin.engine.connect() as conn:
        if origin.dialect == "sqlite":
            # the driver's own cursor, without SQLAlchemy's row objects: SQLite steps through the
            # rows as they are fetched (a buffered PyMySQL cursor would be 13 % faster at 100k but
            # hold every row as Python objects: gigabytes at a million customers)
            result = conn.execute(stmt)
            parts: Iterable[Any] = _batches(result.cursor)
        else:
            # streamed where the driver can (a server-side cursor): a batch at a time in memory;
            # the columns are untyped, so rows come as the driver gives them, without conversions
            result = conn.execution_options(stream_results=True, yield_per=_BATCH).execute(stmt)
            parts = result.partitions()
        for rows in parts:
            batches.append(
                [_array(values, kinds.get(c)) for c, values in zip(names, _columns(rows, len(names)), strict=True)]
            )
    if not batches:
        return pa.table({c: pa.array([], _empty_type(kinds.get(c))) for c in names})
    columns: list[pa.ChunkedArray] = []
    for i, _ in enumerate(names):
        parts = [b[i] for b in batches]
        columns.append(pa.chunked_array(_same_type(parts)))
    return pa.table(dict(zip(names, columns, strict=True)))


@contextlib.contextmanager
def adbc_session(origin: Source) -> Iterator[Any]:
    """A cursor of an ADBC connection to the PostgreSQL ``origin``, read-only and under the
    statement timeout, as the dashboard's own sessions are (``data.engine``). Raises ImportError
    without the driver."""
    import adbc_driver_postgresql.dbapi as adbc

    timeout_ms = max(int(origin.settings.statement_timeout_s * 1000), 1)
    # the session options the dashboard's own connections start with (data.engine): every
    # transaction of the session is read-only from its first statement
    options = f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
    url = origin.engine.url.set(drivername="postgresql")
    query = {k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()}
    query.update({"options": options, "connect_timeout": "10"})
    # libpq reads %20 as a space, not the + of a form
    uri = url.set(query={}).render_as_string(hide_password=False) + "?" + urlencode(query, quote_via=quote)
    with adbc.connect(uri) as conn, conn.cursor() as cursor:
        yield cursor


def _read_postgresql(
    origin: Source, selectable: sa.Subquery, names: list[str], kinds: dict[str, str]
) -> pa.Table | None:
    """The columns straight into Arrow through ADBC (libpq's binary protocol, no Python object per
    value: a million orders in half a second instead of three), in a read-only session under the
    statement timeout; the dates and amounts cast by PostgreSQL itself, as the cleaning would.
    None where ADBC is not installed or fails: the caller reads through SQLAlchemy."""
    typed: dict[str, Any] = {"date": sa.Date(), "number": sa.Double()}
    columns = [sa.cast(selectable.c[c], typed[kinds[c]]).label(c) if c in kinds else selectable.c[c] for c in names]
    sql = str(sa.select(*columns).compile(dialect=origin.engine.dialect, compile_kwargs={"literal_binds": True}))
    try:
        with adbc_session(origin) as cursor:
            cursor.execute(sql)
            table = cursor.fetch_arrow_table()
    except Exception:
        return None
    return _typed(names, table)


def _typed(names: list[str], table: pa.Table) -> pa.Table:
    """An Arrow table from a driver, typed as ``_read``'s (decimals as whole numbers or doubles;
    anything but numbers, text, dates and booleans as text)."""
    out = {}
    for name, column in zip(names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_decimal(kind):
            column = column.cast(pa.int64() if kind.scale == 0 else pa.float64())
        elif not (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_date(kind)
            or pa.types.is_timestamp(kind)
            or pa.types.is_boolean(kind)
            or pa.types.is_null(kind)
        ):
            column = pa.chunked_array([_text(column.to_pylist())])
        out[name] = column
    return pa.table(out)


#: rows per step of the SQLite driver: the statement timeout is checked between steps
_SQLITE_BATCH = 65_536


def _read_sqlite(origin: Source, selectable: sa.Subquery, names: list[str]) -> pa.Table | None:
    """The columns of a SQLite table straight into Arrow through ADBC (``adbc-driver-sqlite``: the
    rows never become Python objects; a million orders in 0.3 s instead of 1.6 s), on a connection
    of its own opened read-only (``mode=ro``, as the dashboard's). None — the caller reads through
    Python's driver, which gives the same table — wherever ADBC would give another one or cannot
    keep the guarantees:

    - the driver is not installed, the source is not a file, or the read fails in any way;
    - a column's values change type from one step to the next (the driver refuses), hold bytes
      (blobs, or text that is not UTF-8, which Python's driver reads as U+FFFD and counts), or mix
      text with fractional numbers (the driver writes 2.5 as ``2.500000e+00``, Python as ``2.5``).

    The driver cannot interrupt a statement; a plain table's rows come a step at a time, so the
    read stops with the statement timeout's error at the first step past it. The check for mixed
    text goes through the dashboard's own connection, which the timeout interrupts."""
    database = sa.engine.make_url(origin.url).database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    try:
        import adbc_driver_sqlite.dbapi as adbc
    except ImportError:
        return None
    path = Path(database).expanduser().resolve()
    sql = str(
        sa.select(*[selectable.c[c] for c in names]).compile(
            dialect=origin.engine.dialect, compile_kwargs={"literal_binds": True}
        )
    )
    timeout_s = origin.settings.statement_timeout_s
    started = time.monotonic()
    try:
        with adbc.connect(f"{path.as_uri()}?mode=ro") as conn, conn.cursor() as cursor:
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(_SQLITE_BATCH)})
            cursor.execute(sql)
            reader = cursor.fetch_record_batch()
            batches = []
            for batch in reader:
                if time.monotonic() - started > timeout_s:
                    raise QueryTimeout("source.timeout", seconds=f"{timeout_s:g}")
                batches.append(batch)
            table = pa.Table.from_batches(batches, reader.schema)
        table.validate(full=True)  # text that is not UTF-8
    except QueryTimeout:
        raise
    except Exception:
        return None
    columns = {}
    for name, column in zip(names, table.columns, strict=True):
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            return None
        if column.null_count == len(column):  # no value: text, as batches of NULLs are typed
            column = pa.nulls(len(column), pa.string())
        columns[name] = column
    texts = [c for c, column in columns.items() if pa.types.is_string(column.type) and column.null_count < len(column)]
    if texts:
        fractional = sa.select(sa.literal(1)).where(sa.or_(*[sa.func.typeof(selectable.c[c]) == "real" for c in texts]))
        with origin.engine.connect() as check:
            if check.execute(fractional.limit(1)).first() is not None:
                return None
    return pa.table(columns) if columns else pa.table({c: pa.array([], pa.string()) for c in names})


class _AsDouble(sa.sql.functions.GenericFunction[float]):
    """``CAST(x AS DOUBLE)``, which SQLAlchemy leaves out on MySQL (older servers lack it; MariaDB
    has it since 10.4)."""

    type = sa.Double()
    inherit_cache = True


@compiles(_AsDouble)
def _as_double(element: _AsDouble, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DOUBLE)"


def _read_mariadb(origin: Source, selectable: sa.Subquery, names: list[str], kinds: dict[str, str]) -> pa.Table | None:
    """The columns of a MariaDB source straight into Arrow through ConnectorX (a Rust client: a
    million orders in under a second, against six through PyMySQL's Python objects). The statement
    carries its own guarantees — ``SET STATEMENT max_statement_time = …, <read only> = 1 FOR
    SELECT …`` — since ConnectorX opens its own connection. None (the caller reads through
    SQLAlchemy) where ConnectorX is not installed, the server is MySQL (which has no per-statement
    read-only setting), the URL carries options ConnectorX would not honour (TLS, a socket), or the
    read fails in any way."""
    url = origin.engine.url
    if not getattr(origin.engine.dialect, "is_mariadb", False) or not url.host:
        return None
    if set(url.query) - {"charset"}:
        return None
    try:
        import connectorx
    except ImportError:
        return None
    columns = [
        (sa.cast(selectable.c[c], sa.Date()) if kinds[c] == "date" else _AsDouble(selectable.c[c])).label(c)
        if c in kinds
        else selectable.c[c]
        for c in names
    ]
    sql = str(sa.select(*columns).compile(dialect=origin.engine.dialect, compile_kwargs={"literal_binds": True}))
    address = url.set(drivername="mysql", query={}).render_as_string(hide_password=False)
    seconds = max(origin.settings.statement_timeout_s, 0.001)
    # MariaDB 11.1 renamed tx_read_only to transaction_read_only
    for read_only in ("transaction_read_only", "tx_read_only"):
        guarded = f"SET STATEMENT max_statement_time = {seconds:.3f}, {read_only} = 1 FOR {sql}"
        try:
            table = connectorx.read_sql(address, guarded, return_type="arrow")
        except BaseException as exc:  # a Rust panic is a BaseException
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            if "Unknown system variable" in str(exc):
                continue
            return None
        if table.num_columns != len(names):
            return None
        return _typed(names, table.rename_columns(names))
    return None


def _batches(cursor: Any) -> Iterator[Any]:
    while rows := cursor.fetchmany(_BATCH):
        yield rows


def _columns(rows: list[Any], width: int) -> list[Any]:
    """A batch of rows as columns: the driver's tuples through one object array, sliced (three
    times faster than ``zip``); SQLAlchemy's rows, which numpy would read value by value, by ``zip``."""
    if rows and isinstance(rows[0], tuple):
        table = np.array(rows, dtype=object)
        if table.shape == (len(rows), width):  # else a value numpy took for a sequence
            return [table[:, i] for i in range(width)]
    return [list(values) for values in zip(*rows, strict=True)]


def _empty_type(kind: str | None) -> pa.DataType:
    return {"date": pa.date32(), "number": pa.float64()}.get(kind or "", pa.string())


def _array(values: list[Any], kind: str | None) -> pa.Array:
    """One column of one batch, typed as described in the module's docstring."""
    if kind == "date":
        return pa.array([v.date() if isinstance(v, datetime) else v for v in values], pa.date32())
    if kind == "number":
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    try:
        array = pa.array(values, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return _text(values)
    if pa.types.is_decimal(array.type):
        if array.type.scale == 0:  # whole numbers (ids): whole
            return array.cast(pa.int64()) if _fits_int64(array) else _text(values)
        # as the source would cast it: the nearest double (Python rounds correctly)
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return array  # all NULL: typed by the other batches (``_same_type``)


def _fits_int64(array: pa.Array) -> bool:
    bounds = pc.min_max(array).as_py()
    return bounds["min"] is None or (bounds["min"] >= -(2**63) and bounds["max"] < 2**63)


def _text(values: list[Any]) -> pa.Array:
    def as_text(v: Any) -> str | None:
        if v is None or isinstance(v, str):
            return v
        if isinstance(v, bytes | bytearray):
            return bytes(v).decode("utf-8", "replace")
        if isinstance(v, float | Decimal):
            return repr(float(v)) if isinstance(v, float) else str(v)
        return str(v)

    return pa.array([as_text(v) for v in values], pa.string())


def _same_type(parts: list[pa.Array]) -> list[pa.Array]:
    """Batches of one column with one type: where they differ, promoted (whole numbers to decimals)
    or else all text."""
    types = {p.type for p in parts if not pa.types.is_null(p.type)}
    if len(types) <= 1:
        kind = next(iter(types), pa.string())
        return [p if p.type == kind else p.cast(kind) for p in parts]
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types):
        return [p.cast(pa.float64()) for p in parts]
    return [_text(p.to_pylist()) if not pa.types.is_string(p.type) else p for p in parts]

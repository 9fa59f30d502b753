"""The source: a read-only engine plus the mapping of each canonical entity onto it.

A mapping is checked by running it with ``LIMIT 0`` and reading the column names the database
returns, never by reflecting the schema (reflection fails on DuckDB with recent SQLAlchemy).
Every problem is reported with the settings key to fix.

Where an entity is a table whose key column the database declares unique (a primary key, a unique
constraint or a unique index on that column alone), no row can repeat an id: the cleaning then
skips the repeated-id rule, which is the costliest part of reading a large table (a sort of every
row by id). The question is asked of DuckDB's catalog, or of SQLAlchemy's inspector elsewhere; an
answer the database cannot give counts as "not declared", and the rule is applied.
"""

from __future__ import annotations

import re
import traceback
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import sqlalchemy as sa
import sqlglot
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlglot import exp

from data.engine import SourceUnavailable, connection_lost, driver_message, make_readonly_engine, redact_url
from data.entities import ENTITIES, EntitySpec
from data.messages import Explained
from data.settings import EntityMapping, Settings

__all__ = ["MappingError", "ResolvedEntity", "Source", "check_single_select"]

#: SQLAlchemy's dialect names → sqlglot's (an engine not listed is parsed as generic SQL)
_SQLGLOT = {
    "sqlite": "sqlite",
    "duckdb": "duckdb",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mssql": "tsql",
    "trino": "trino",
    "bigquery": "bigquery",
    "snowflake": "snowflake",
    "databricks": "databricks",
    "spark": "spark",
    "hive": "hive",
    "oracle": "oracle",
    "redshift": "redshift",
    "clickhouse": "clickhouse",
}
#: functions that read the server's or the dashboard's files, or other databases
_FILE_FUNCTIONS = frozenset(
    {
        "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "parquet_metadata", "parquet_schema",
        "read_json", "read_json_auto", "read_json_objects", "read_ndjson", "read_ndjson_auto",
        "read_ndjson_objects", "read_text", "read_blob", "read_xlsx", "glob", "sniff_csv", "iceberg_scan",
        "delta_scan", "st_read", "sqlite_scan", "sqlite_attach", "postgres_scan", "postgres_attach",
        "mysql_scan", "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "lo_import",
        "lo_export", "load_file", "dblink", "openrowset", "opendatasource",
    }
)  # fmt: skip
#: a table named like a file or an address (DuckDB reads ``FROM 'data.csv'`` as that file)
_FILE_NAME = re.compile(r"[/\\:]|\.(csv|tsv|txt|json|jsonl|ndjson|parquet|xlsx?|gz|zst|db|sqlite|duckdb)$", re.I)
#: statements and clauses that write, lock, change the session or leave the database
_WRITES = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command, exp.Copy,
    exp.Into, exp.Set, exp.Pragma, exp.Use, exp.Transaction, exp.Commit, exp.Rollback, exp.LoadData,
    exp.Lock, exp.TruncateTable, exp.Grant, exp.Attach, exp.Detach, exp.Install,
)  # fmt: skip


class MappingError(Explained, ValueError):
    """The mapping of an entity cannot be used; ``key`` is the settings key to fix."""

    def __init__(self, key: str, code: str, **params: object) -> None:
        self.key = key
        super().__init__(code, **params)

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def check_single_select(sql: str, key: str, dialect: str | None = None) -> str:
    """The SQL without a trailing semicolon, if it is one read-only SELECT; else ``MappingError``.

    The text is parsed with a SQL parser for the source's ``dialect`` (sqlglot), not scanned: a
    string that hides a ``;`` (DuckDB's ``E'\\''``) is a string, and a second statement is a second
    statement. Accepted: one SELECT (with WITH, UNION, …) that writes nothing, locks nothing and
    reads no file (``read_csv``, ``pg_read_file``, ``LOAD_FILE``, a file named as a table)."""
    body = sql.strip().rstrip(";").strip()
    if not body:
        raise MappingError(key, "mapping.sql_empty")
    try:
        parsed = sqlglot.parse(body, read=_SQLGLOT.get(dialect or ""))
    except sqlglot.errors.SqlglotError as exc:
        raise MappingError(key, "mapping.sql_unreadable", detail=str(exc).splitlines()[0][:200]) from None
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if not statements:
        raise MappingError(key, "mapping.sql_empty")
    if len(statements) > 1:
        raise MappingError(key, "mapping.sql_many")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        first = body.split(None, 1)[0].upper() if body.split() else "-"
        raise MappingError(key, "mapping.sql_not_select", first=first)
    for node in tree.walk():
        if isinstance(node, _WRITES):
            word = node.key.upper() if not isinstance(node, exp.Command) else str(node.this).upper()
            raise MappingError(key, "mapping.sql_writes", word=word)
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in _FILE_FUNCTIONS:
                raise MappingError(key, "mapping.sql_files", word=name)
        if isinstance(node, exp.Table) and _FILE_NAME.search(node.name or ""):  # FROM '/etc/passwd'
            raise MappingError(key, "mapping.sql_files", word=node.name)
    return body


@dataclass(frozen=True)
class ResolvedEntity:
    """An entity as a selectable with canonical column names; absent optional columns are NULL."""

    spec: EntitySpec
    mapping: EntityMapping
    selectable: sa.Subquery
    present: frozenset[str]
    #: canonical columns the database already types as "date" or "number": no tolerant cast needed
    native: tuple[tuple[str, str], ...] = ()
    #: how dates with the year last are read: "DMY" or "MDY"
    date_order: str = "DMY"
    #: the database declares the key column unique: no id can repeat (the cleaning skips that rule)
    unique_key: bool = False

    def native_kind(self, column: str) -> str | None:
        return dict(self.native).get(column)

    def has(self, column: str) -> bool:
        return column in self.present


def _friendly(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    message = driver_message(orig).strip()  # PyHive's: the server's message, not the Thrift response
    text = message.splitlines()[0] if message else type(orig).__name__
    return text[:300]


def _let_go(exc: BaseException) -> str:
    """The failure's message, for the mapping error that replaces it; the failure is let go with its
    frames cleared. SQLAlchemy's error handling holds its traceback in a local (a cycle that only a
    full garbage collection frees) and a frame holds its callers: the first read of the facts, with
    every order of the source, would stay in memory until then."""
    detail = _friendly(exc)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)
        current = current.__cause__ or current.__context__
    return detail


def _kept(exc: MappingError) -> MappingError:
    """The error without its traceback and the error it replaced: kept for the source's lifetime,
    a traceback would keep every frame of the caller that first asked alive with all its locals
    (the first read of the facts: every order of the source)."""
    exc.__context__ = None
    exc.__cause__ = None
    return exc.with_traceback(None)


@dataclass
class Source:
    """A database opened read-only with the entity mapping of ``settings``."""

    settings: Settings
    url: str
    engine: sa.Engine = field(init=False)
    _last_kinds: dict[str, str | None] = field(init=False, default_factory=dict, repr=False)
    #: per schema, the tables' columns declared unique (``_unique_columns``)
    _unique: dict[str | None, dict[str, frozenset[str]]] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.engine = make_readonly_engine(self.url, self.settings.statement_timeout_s)
        # a source let go (a newer one cached in its place, a test's) closes its pooled connections
        # then, politely, instead of leaving them to the garbage collector
        weakref.finalize(self, self.engine.dispose)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def between_reads(self) -> None:
        """Let the database's memory go until the next read: a DuckDB file's pooled connections are
        closed, and with the last one the blocks of the tables it read, which DuckDB keeps in memory
        while the file is open (at a million customers 0.16 GB, for the rest of the day); the next
        read opens the file again (milliseconds). A statement still running keeps its connection.
        Other databases keep theirs (a server's memory is not this process's)."""
        database = self.engine.url.database or ""
        if self.dialect == "duckdb" and database not in ("", ":memory:") and not database.startswith("md:"):
            self.engine.dispose()

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)

    def ping(self) -> None:
        """Open a connection once; ``SourceUnavailable`` with a readable reason if it fails."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(sa.literal(1))).scalar()
        except SourceUnavailable:
            raise
        except Exception as exc:  # a driver that is not DB-API at connect (PyHive's Thrift transport)
            if not isinstance(exc, SQLAlchemyError) and not connection_lost(exc):
                raise
            raise SourceUnavailable("source.unreachable", url=self.safe_url, detail=_friendly(exc)) from None

    def _probe_columns(self, stmt: sa.Select[tuple[object, ...]] | sa.TextClause) -> list[str]:
        keys, self._last_kinds = [], {}
        with self.engine.connect() as conn:
            result = conn.execute(stmt)
            keys = list(result.keys())
            description = getattr(result.cursor, "description", None) or []
            self._last_kinds = {d[0]: _type_kind(self.dialect, d[1]) for d in description}
            result.close()
        return keys

    def _resolve(self, name: str) -> ResolvedEntity:
        spec = ENTITIES[name]
        mapping = self.settings.mapping(name)
        base_key = f"entities.{name}"
        if mapping.sql is not None:
            key = f"{base_key}.sql"
            body = check_single_select(mapping.sql, key, self.dialect)
            textual = sa.text(body)
            try:
                probe = sa.select(sa.text("*")).select_from(textual.columns().subquery("probe")).limit(0)
                available = self._probe_columns(probe)
            except (OperationalError, DBAPIError) as exc:
                raise MappingError(key, "mapping.sql_fails", detail=_let_go(exc)) from None
            base: sa.FromClause = textual.columns(*[sa.column(c) for c in available]).subquery(f"src_{name}")
        else:
            key = f"{base_key}.table"
            table_name = mapping.table or name
            schema, _, bare_name = table_name.rpartition(".")
            table = sa.table(bare_name, schema=schema or None)
            try:
                available = self._probe_columns(sa.select(sa.text("*")).select_from(table).limit(0))
            except (OperationalError, DBAPIError) as exc:
                if mapping.configured:
                    raise MappingError(key, "mapping.table_unreadable", table=table_name, detail=_let_go(exc)) from None
                raise MappingError(
                    base_key, "mapping.table_default_missing", entity=name, table=table_name, detail=_let_go(exc)
                ) from None
            base = sa.table(bare_name, *[sa.column(c) for c in available], schema=schema or None)

        by_lower = {c.lower(): c for c in available}
        kinds = dict(self._last_kinds)
        columns: list[sa.ColumnElement[Any]] = []
        present: set[str] = set()
        native: list[tuple[str, str]] = []
        for canonical in spec.columns:
            wanted = mapping.source_column(canonical) if mapping.sql is None else canonical
            actual = by_lower.get(wanted.lower())
            explicit = canonical in dict(mapping.columns)
            if actual is None:
                if canonical in spec.required or explicit:
                    listed = ", ".join(available) or "-"
                    if mapping.sql is not None:
                        raise MappingError(
                            f"{base_key}.sql", "mapping.column_missing_sql", canonical=canonical, columns=listed
                        )
                    raise MappingError(
                        f"{base_key}.columns.{canonical}",
                        "mapping.column_missing_table",
                        wanted=wanted,
                        canonical=canonical,
                        table=mapping.table,
                        columns=listed,
                    )
                columns.append(_placeholder(spec, canonical))
                continue
            present.add(canonical)
            columns.append(base.c[actual].label(canonical))
            kind = kinds.get(actual)
            if kind is not None:
                native.append((canonical, kind))
        selectable = sa.select(*columns).select_from(base).subquery(f"e_{name}")
        key_column = by_lower.get(mapping.source_column(spec.key).lower()) if mapping.sql is None else None
        return ResolvedEntity(
            spec=spec,
            mapping=mapping,
            selectable=selectable,
            present=frozenset(present),
            native=tuple(native),
            date_order=self.settings.date_order,
            unique_key=key_column is not None and self._declared_unique(mapping.table or name, key_column),
        )

    def _declared_unique(self, table_name: str, column: str) -> bool:
        """Whether the database declares ``column`` of the table unique on its own (a primary key,
        a unique constraint or a unique index of that one column). False where it cannot tell."""
        schema, _, table = table_name.rpartition(".")
        try:
            declared = self._unique_columns(schema or None)
        except Exception:  # a catalog the database or its driver cannot read: not declared, nor asked again
            self._unique[schema or None] = {}
            return False
        return column.lower() in declared.get(table.lower(), frozenset())

    def _unique_columns(self, schema: str | None) -> dict[str, frozenset[str]]:
        """Per table of ``schema`` (lowercased names): the columns declared unique on their own. One
        question for every mapped table of the schema, once: DuckDB's catalog, else SQLAlchemy's
        inspector."""
        if schema in self._unique:
            return self._unique[schema]
        found: dict[str, set[str]] = {}
        singles: list[tuple[str, list[Any]]] = []
        with self.engine.connect() as conn:
            if self.dialect == "duckdb":
                mine = {"schema": schema}
                for table, columns in conn.execute(_DUCKDB_UNIQUE_CONSTRAINTS, mine).all():
                    singles.append((table, list(columns)))
                for table, expressions in conn.execute(_DUCKDB_UNIQUE_INDEXES, mine).all():
                    # the indexed expressions as text, "[id]": one plain column name counts
                    singles.append((table, [e.strip().strip("'\"") for e in str(expressions).strip("[]").split(",")]))
            else:
                names = sorted(
                    {
                        bare
                        for entity in ENTITIES
                        for owner, _, bare in [(self.settings.mapping(entity).table or entity).rpartition(".")]
                        if (owner or None) == schema
                    }
                )
                catalog = sa.inspect(conn)
                for (_, table), pk in catalog.get_multi_pk_constraint(schema=schema, filter_names=names).items():
                    singles.append((table, pk.get("constrained_columns") or []))
                declared = catalog.get_multi_unique_constraints(schema=schema, filter_names=names)
                for (_, table), unique in declared.items():
                    singles += [(table, u.get("column_names") or []) for u in unique]
                for (_, table), indexes in catalog.get_multi_indexes(schema=schema, filter_names=names).items():
                    singles += [(table, i.get("column_names") or []) for i in indexes if i.get("unique")]
        for table, columns in singles:
            if len(columns) == 1 and columns[0] is not None:
                found.setdefault(str(table).lower(), set()).add(str(columns[0]).lower())
        self._unique[schema] = {table: frozenset(columns) for table, columns in found.items()}
        return self._unique[schema]

    @cached_property
    def resolution(self) -> dict[str, ResolvedEntity | MappingError]:
        """Each entity resolved, or the error that prevents it. Connection faults propagate."""
        out: dict[str, ResolvedEntity | MappingError] = {}
        for name in ENTITIES:
            try:
                out[name] = self._resolve(name)
            except MappingError as exc:
                out[name] = _kept(exc)
        return out

    def entity(self, name: str) -> ResolvedEntity:
        """The resolved entity; raises its ``MappingError`` if it cannot be used."""
        got = self.resolution[name]
        if isinstance(got, MappingError):
            raise got
        return got

    def available(self, name: str) -> bool:
        return isinstance(self.resolution.get(name), ResolvedEntity)

    def broad_privileges(self) -> list[str]:
        """What the configured user may do beyond reading its tables, where the database tells:
        on PostgreSQL ``superuser`` (it could turn off the read-only session) and
        ``read_server_files`` (``pg_read_server_files``: a mapping could read the server's files).
        Empty elsewhere, or when the question itself fails."""
        if self.dialect != "postgresql":
            return []
        try:
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.text(
                        "SELECT r.rolsuper, pg_has_role(current_user, 'pg_read_server_files', 'MEMBER') "
                        "FROM pg_roles r WHERE r.rolname = current_user"
                    )
                ).first()
        except SQLAlchemyError:
            return []
        if row is None:
            return []
        return [name for name, held in zip(("superuser", "read_server_files"), row, strict=True) if held]

    def errors(self) -> dict[str, MappingError]:
        """Mapping errors of entities the user configured, or of the required ``orders``."""
        out = {}
        for name, got in self.resolution.items():
            if isinstance(got, MappingError) and (name == "orders" or self.settings.mapping(name).configured):
                out[name] = got
        return out


#: DuckDB's catalog: the constraints and indexes that make columns of a table unique
_DUCKDB_UNIQUE_CONSTRAINTS = sa.text(
    "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
    "WHERE constraint_type IN ('PRIMARY KEY', 'UNIQUE') AND database_name = current_database() "
    "AND schema_name = coalesce(:schema, current_schema())"
)
_DUCKDB_UNIQUE_INDEXES = sa.text(
    "SELECT table_name, expressions FROM duckdb_indexes() WHERE is_unique AND database_name = current_database() "
    "AND schema_name = coalesce(:schema, current_schema())"
)


def _placeholder(spec: EntitySpec, column: str) -> sa.ColumnElement[Any]:
    """An optional column left unmapped: a NULL of the column's declared type, so that
    arithmetic and comparisons on it compile on every engine (an untyped NULL is text to
    PostgreSQL: ``revenue - NULL`` fails there)."""
    if column in spec.dates:
        kind: sa.types.TypeEngine[Any] = sa.Date()
    elif column in spec.amounts:
        kind = sa.Double()
    else:
        kind = sa.String()
    return sa.cast(sa.null(), kind).label(column)


_PG_DATE_OIDS = {1082, 1114, 1184}  # date, timestamp, timestamptz
_PG_NUMBER_OIDS = {20, 21, 23, 700, 701, 1700}  # int8, int2, int4, float4, float8, numeric
_DUCKDB_NUMBERS = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "UBIGINT",
    "UINTEGER",
    "USMALLINT",
    "UTINYINT",
    "NUMBER",
)


def _type_kind(dialect: str, type_code: Any) -> str | None:
    """ "date" or "number" where the driver reports a column's type as such; else None (text,
    unknown, or a driver that does not say), and the tolerant casts are used."""
    if dialect == "postgresql" and isinstance(type_code, int):
        if type_code in _PG_DATE_OIDS:
            return "date"
        return "number" if type_code in _PG_NUMBER_OIDS else None
    if dialect == "duckdb" and type_code is not None:
        name = str(type_code).upper()
        if name.startswith(("DATE", "TIMESTAMP")):
            return "date"
        return "number" if name.startswith(_DUCKDB_NUMBERS) else None
    if dialect in ("hive", "databricks") and isinstance(type_code, str):
        # PyHive names the Thrift type: DATE_TYPE, TIMESTAMP_TYPE, BIGINT_TYPE, DECIMAL_TYPE, …
        name = type_code.upper().removesuffix("_TYPE")
        if name in ("DATE", "TIMESTAMP", "TIMESTAMP_NTZ"):
            return "date"
        return "number" if name in _SPARK_NUMBERS else None
    return None


_SPARK_NUMBERS = frozenset({"TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL"})

"""Read-only engines for any SQLAlchemy URL with a statement timeout, and URLs safe to show.

Faults of the database reach the caller as two exceptions, whatever the driver: ``QueryTimeout``
when a statement ran past the limit and was stopped, ``SourceUnavailable`` when the database
cannot be reached (at start or mid-session). Neither message holds the URL's password. Both are
transient: the pool pings connections before use, so the next rerun works once the cause is gone.
"""

from __future__ import annotations

import contextlib
import math
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from data.messages import Explained
from data.sqlfuncs import parse_date_text

__all__ = [
    "QueryTimeout",
    "SourceFault",
    "SourceUnavailable",
    "make_readonly_engine",
    "redact_url",
    "release_freed_memory",
]

STATEMENT_TIMEOUT_S = 60.0

#: driver words that mean the connection is gone or was never made
_DISCONNECT_WORDS = (
    "connection refused",
    "could not connect",
    "connection to server",
    "server closed the connection",
    "terminating connection",
    "connection is closed",
    "unable to open database file",
    "can't connect",
    "lost connection",
    "server has gone away",
    "timeout expired",
    "name or service not known",
)


class SourceFault(Explained, RuntimeError):
    """The database could not answer; transient, shown with a retry."""


class SourceUnavailable(SourceFault):
    """The database cannot be reached or opened; the message never holds the password."""


class QueryTimeout(SourceFault):
    """A statement ran past the timeout and was stopped."""


class WriteRefused(Explained, RuntimeError):
    """A statement that is not a read, refused before it reached a database that has no read-only
    session of its own."""


def redact_url(url: str | URL | None) -> str:
    """The URL with its password replaced by ``***``."""
    if url is None:
        return ""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is shown as a placeholder, never verbatim
        return "<URL non valido / invalid URL>"


def _text_with_replacement(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _sqlite_engine(url: URL) -> sa.Engine:
    database = url.database or ""
    if database in ("", ":memory:"):
        return sa.create_engine(url, poolclass=sa.pool.StaticPool)
    path = Path(database).expanduser().resolve()
    if not path.is_file():
        raise SourceUnavailable("source.file_missing", path=path)

    def connect() -> sqlite3.Connection:
        # mode=ro: SQLite refuses every write on this connection.
        return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)

    return sa.create_engine("sqlite+pysqlite://", creator=connect)


def make_readonly_engine(url: str | URL, timeout_s: float = STATEMENT_TIMEOUT_S) -> sa.Engine:
    """An engine that cannot write and stops statements running longer than ``timeout_s``.

    SQLite opens the file with ``mode=ro``; DuckDB with ``read_only`` and no file access beyond it;
    PostgreSQL sessions start with ``default_transaction_read_only`` and ``statement_timeout``;
    MySQL/MariaDB sessions are
    set ``READ ONLY`` with ``max_execution_time`` / ``max_statement_time``; Spark SQL (``hive://``)
    sessions get ``spark.sql.thriftServer.queryTimeout``. SQLite and DuckDB
    have no server-side timeout: a timer interrupts the connection. Other dialects rely on the
    grants of the user in the URL and on the warehouse's own limits.
    """
    try:
        parsed = make_url(url)
    except Exception:
        raise SourceUnavailable("source.bad_url") from None
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    timeout_ms = max(int(timeout_s * 1000), 1)
    if backend == "sqlite":
        engine = _sqlite_engine(parsed)
        _interrupt_after(engine, timeout_s)

        @sa.event.listens_for(engine, "connect")
        def _functions(dbapi_conn: Any, _record: Any) -> None:
            # SQLite has no regular expressions: its date reading is this function (data.sqlfuncs).
            dbapi_conn.create_function("cruscotto_date", 2, parse_date_text, deterministic=True)
            # SQLite keeps any bytes in a text column: one byte that is not UTF-8 made every read
            # of the table fail; it is read as U+FFFD instead (and counted on the data-health page)
            dbapi_conn.text_factory = _text_with_replacement

    elif backend == "duckdb":
        database = parsed.database or ""
        if database not in ("", ":memory:") and not Path(database).expanduser().is_file():
            raise SourceUnavailable("source.file_missing", path=database)
        engine = sa.create_engine(parsed, connect_args={"read_only": True}, **kwargs)
        _interrupt_after(engine, timeout_s)
        if not database.startswith("md:"):  # a MotherDuck database is reached through an extension
            _duckdb_locked(engine)
    elif backend == "postgresql":
        # Read-only sessions with a statement timeout. Nested loops are off: the cleaning rules
        # hide row counts from the planner, which then nests loops over whole tables (measured:
        # 14 s instead of 0.3 s at 10k customers); every query here scans, so hash joins win.
        options = f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms} -c enable_nestloop=off"
        connect_args: dict[str, Any] = {"options": options, "connect_timeout": 10}
        engine = sa.create_engine(parsed, connect_args=connect_args, **kwargs)
    else:
        try:
            engine = sa.create_engine(parsed, **kwargs)
        except (sa.exc.NoSuchModuleError, ImportError):
            package = DRIVER_PACKAGES.get(backend, f"the SQLAlchemy dialect for {backend}")
            raise SourceUnavailable("source.no_driver", scheme=parsed.drivername, package=package) from None
        if backend in ("mysql", "mariadb"):
            _mysql_session(engine, timeout_ms)
        elif backend == "hive":
            _spark_session(engine, timeout_s)
        if backend not in ("mysql", "mariadb"):  # no read-only session here: reads only, checked
            _reads_only(engine)
    _translate_faults(engine, timeout_s)
    return engine


def _duckdb_locked(engine: sa.Engine) -> None:
    """Once the database file is open, no file, extension or other database can be reached from the
    connection (``read_csv('/etc/passwd')``, ``COPY … TO``, ``ATTACH``), and no statement can turn
    that back on."""

    @sa.event.listens_for(engine, "connect")
    def _lock(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # connections to one file share its database, and its settings: locked by the first one.
        # One connection at a time looks and locks: two at once (a visitor's page and the server's
        # read ahead) both found it unlocked, and the second failed to set what the first had locked.
        with _LOCKING:
            cur.execute("SELECT current_setting('lock_configuration')")
            if not cur.fetchone()[0]:
                release_freed_memory(cur)
                cur.execute("SET enable_external_access = false")
                cur.execute("SET lock_configuration = true")
        cur.close()


_LOCKING = threading.Lock()


def release_freed_memory(cursor: Any) -> None:
    """DuckDB keeps the memory a statement freed for the next one: after the facts statement, about
    300 MB at a hundred thousand customers and gigabytes at a million, held for good. A background
    thread of its allocator hands it back to the system within a second (same speed, measured)."""
    cursor.execute("SET allocator_background_threads = true")


def _mysql_session(engine: sa.Engine, timeout_ms: int) -> None:
    @sa.event.listens_for(engine, "connect")
    def _read_only(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("SET SESSION TRANSACTION READ ONLY")
        # MariaDB names the limit max_statement_time (seconds), MySQL max_execution_time (ms).
        for statement in (
            f"SET SESSION max_statement_time = {timeout_ms / 1000:.3f}",
            f"SET SESSION max_execution_time = {timeout_ms}",
        ):
            with contextlib.suppress(Exception):  # the other server's variable: not an error
                cur.execute(statement)
        cur.close()


#: rows per round trip from a Spark Thrift server
SPARK_BATCH_ROWS = 10_000


def _spark_session(engine: sa.Engine, timeout_s: float) -> None:
    """Spark's Thrift server cancels a session's statement after ``queryTimeout`` (whole seconds:
    a smaller unit is rounded down to none). Spark has no read-only session: the user's grants."""
    seconds = max(1, math.ceil(timeout_s))

    @sa.event.listens_for(engine, "connect")
    def _timeout(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"SET spark.sql.thriftServer.queryTimeout={seconds}s")
        cur.close()

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _batches(_conn: sa.Connection, cursor: Any, *_args: Any) -> None:
        # rows come in batches of ``arraysize`` per round trip (PyHive: 1,000): a million rows in
        # 5.6 s instead of 7.5 at 10,000; larger batches gain nothing more
        cursor.arraysize = SPARK_BATCH_ROWS


#: what a statement that only reads starts with (after comments and parentheses)
_READS = re.compile(r"^(?:\s|--[^\n]*\n|/\*.*?\*/|\()*(?:SELECT|WITH|VALUES|SHOW|DESCRIBE|DESC|EXPLAIN)\b", re.I | re.S)


_QUOTED = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`")
#: a write anywhere in it (Spark accepts WITH … INSERT): refused too
_WRITE_WORDS = re.compile(
    r"\b(?:INSERT|UPDATE|DELETE|MERGE|UPSERT|CREATE|DROP|ALTER|TRUNCATE|GRANT|REVOKE|LOAD|COPY|CALL|EXEC|EXECUTE)\b",
    re.I,
)


def _reads_only(engine: sa.Engine) -> None:
    """Refuse, before it is sent, any statement that does not start as a read (a SELECT, WITH,
    SHOW, DESCRIBE, EXPLAIN): for databases with no read-only session (Spark SQL, Databricks,
    Trino, SQL Server, …), where otherwise only the user's grants stand in the way. Every statement
    Cruscotto sends is a read; this keeps it so whatever a future change or a mapping does."""

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _check(_conn: sa.Connection, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool) -> None:
        bare = _QUOTED.sub(" ", statement)  # texts and quoted names may hold any word
        if not _READS.match(bare) or _WRITE_WORDS.search(bare):
            raise WriteRefused("source.write_refused", statement=" ".join(statement.split())[:80])


def _interrupt_after(engine: sa.Engine, timeout_s: float) -> None:
    """Interrupt a statement still running after ``timeout_s`` (embedded engines have no timeout).

    The timer starts when the statement is sent and is cancelled when the next one starts or the
    connection goes back to the pool, so it covers the fetch too.
    """

    def cancel(info: dict[str, Any]) -> None:
        timer = info.pop("cruscotto_timer", None)
        if timer is not None:
            timer.cancel()

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _start(conn: sa.Connection, _cursor: Any, _stmt: Any, _params: Any, _context: Any, _many: bool) -> None:
        record = conn.connection
        cancel(record.info)
        dbapi = record.dbapi_connection
        interrupt = getattr(dbapi, "interrupt", None)
        if interrupt is None:
            return
        timer = threading.Timer(timeout_s, interrupt)
        timer.daemon = True
        record.info["cruscotto_timer"] = timer
        timer.start()

    @sa.event.listens_for(engine, "checkin")
    def _stop(_dbapi: Any, record: Any) -> None:
        cancel(record.info)


def driver_message(exc: BaseException) -> str:
    """The server's own message where the driver wraps it: PyHive's error is the whole Thrift
    response, Java stack included; its ``errorMessage`` alone. Else the exception's text."""
    args = getattr(exc, "args", ())
    message = getattr(getattr(args[0], "status", None), "errorMessage", None) if args else None
    return message.strip() if isinstance(message, str) and message.strip() else str(exc)


def _is_timeout(exc: BaseException) -> bool:
    name = type(exc).__name__
    text = str(exc).lower()
    if name == "InterruptException" or (name == "OperationalError" and text.strip() == "interrupted"):
        return True  # DuckDB, SQLite: interrupted by the timer
    if name == "OperationalError" and driver_message(exc).endswith("but found TIMEDOUT"):
        return True  # Spark's Thrift server (PyHive): spark.sql.thriftServer.queryTimeout
    if getattr(exc, "sqlstate", None) == "57014":
        return True  # PostgreSQL: query_canceled (statement_timeout)
    args = getattr(exc, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    return code in (1969, 3024)  # MariaDB max_statement_time, MySQL max_execution_time


def connection_lost(exc: BaseException) -> bool:
    """A connection that cannot be opened or was lost, as drivers that are not DB-API errors say it:
    a socket error, or the Thrift transport of PyHive (Spark SQL, Hive)."""
    return isinstance(exc, OSError) or type(exc).__name__ == "TTransportException"


#: the package that brings each dialect's driver, for the message when it is missing
DRIVER_PACKAGES = {
    "hive": "pyhive thrift thrift-sasl pure-sasl",
    "databricks": "databricks-sqlalchemy",
    "trino": "trino",
    "mysql": "pymysql",
    "mariadb": "pymysql",
    "mssql": "pyodbc",
    "snowflake": "snowflake-sqlalchemy",
    "bigquery": "sqlalchemy-bigquery",
    "oracle": "oracledb",
}


def _translate_faults(engine: sa.Engine, timeout_s: float) -> None:
    safe_url = redact_url(engine.url)

    @sa.event.listens_for(engine, "handle_error")
    def _fault(context: Any) -> None:
        exc = context.original_exception
        if _is_timeout(exc):
            raise QueryTimeout("source.timeout", seconds=f"{timeout_s:g}") from None
        text = str(exc).lower()
        if context.is_disconnect or connection_lost(exc) or any(word in text for word in _DISCONNECT_WORDS):
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            password = engine.url.password
            if password:
                detail = detail.replace(str(password), "***")
            raise SourceUnavailable("source.unreachable", url=safe_url, detail=detail[:300]) from None

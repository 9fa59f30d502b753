"""The mapping: renames, SQL entities, and errors that name the settings key to fix."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from data import queries
from data.engine import SourceUnavailable, make_readonly_engine, redact_url
from data.filters import Filters
from data.settings import ConfigError, load_settings
from data.source import MappingError, Source, check_single_select
from tests.conftest import ENGINES, _url_for

TODAY = date(2025, 1, 15)
H2 = Filters(start=date(2024, 7, 1), end=date(2024, 12, 31))


def _settings(tmp_path: Path, text: str, url: str | None = None):
    path = tmp_path / "cruscotto.toml"
    path.write_text(text)
    return load_settings(path, env={"CRUSCOTTO_DB_URL": url} if url else {}, secrets_path="/nonexistent")


@pytest.fixture(scope="module", params=("sqlite", "spark") if "spark" in ENGINES else ("sqlite",))
def renamed_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny company with Italian table and column names, on SQLite (and on Spark SQL, whose
    errors come wrapped in the Thrift response: the same keys and words)."""
    from data.demo import write_frames
    from tests.fixtures import tiny_frames

    frames = tiny_frames()
    vendite = frames["orders"].rename(
        columns={
            "order_id": "id_vendita",
            "customer_id": "cliente",
            "order_date": "data",
            "revenue": "importo",
            "cost": "costo",
        }
    )
    anagrafica = frames["customers"].rename(columns={"customer_id": "codice", "segment": "categoria"})
    url = _url_for(request.param, tmp_path_factory.mktemp("renamed"), request, "renamed")
    write_frames(url, {"vendite": vendite, "anagrafica": anagrafica})
    return url


TABLE_MAPPING = """
[entities.orders]
table = "vendite"
[entities.orders.columns]
order_id = "id_vendita"
customer_id = "cliente"
order_date = "data"
revenue = "importo"
cost = "costo"
"""


def test_table_mapping_with_renames_gives_the_same_figures(tmp_path: Path, renamed_url: str) -> None:
    settings = _settings(
        tmp_path,
        TABLE_MAPPING
        + '[entities.customers]\nsql = "SELECT codice AS customer_id, categoria AS segment, region FROM anagrafica"\n',
        renamed_url,
    )
    source = Source(settings=settings, url=renamed_url)
    assert source.errors() == {}
    cur = queries.period_measures(source, H2, TODAY).iloc[0]
    assert cur["revenue"] == pytest.approx(840.0)
    assert cur["margin"] == pytest.approx(425.0)
    horeca = queries.period_measures(source, Filters(segments=("HoReCa",), start=H2.start, end=H2.end), TODAY)
    assert horeca.iloc[0]["revenue"] == pytest.approx(500.0)
    assert not source.available("campaigns")  # not configured, no table: optional, no error
    assert "campaigns" not in source.errors()


def test_missing_table_names_the_key(tmp_path: Path, renamed_url: str) -> None:
    settings = _settings(tmp_path, '[entities.orders]\ntable = "sales"\n', renamed_url)
    source = Source(settings=settings, url=renamed_url)
    with pytest.raises(MappingError, match=r"^entities\.orders\.table: table 'sales' cannot be read") as info:
        source.entity("orders")
    assert info.value.key == "entities.orders.table"
    assert "orders" in source.errors()


def test_unmapped_default_table_says_what_was_expected(tmp_path: Path, renamed_url: str) -> None:
    source = Source(settings=_settings(tmp_path, "", renamed_url), url=renamed_url)
    err = source.errors()["orders"]
    assert err.key == "entities.orders"
    assert "a table named 'orders' was expected" in err.message


def test_a_kept_mapping_error_keeps_no_caller_alive(tmp_path: Path, renamed_url: str) -> None:
    """The source keeps each entity's mapping error for its lifetime; the error must not keep the
    frames of whoever first asked (the first read of the facts: all its locals, every order of the
    source held for good)."""
    import gc
    import weakref

    import numpy as np

    source = Source(settings=_settings(tmp_path, TABLE_MAPPING, renamed_url), url=renamed_url)

    def first_asker() -> weakref.ref[np.ndarray]:
        orders_in_memory = np.ones(1_000)  # a local of the caller, as the facts' orders are
        assert not source.available("tickets")  # resolves every entity: the unmapped ones fail
        return weakref.ref(orders_in_memory)

    held = first_asker()
    gc.collect()
    assert held() is None
    kept = source.resolution["tickets"]
    assert isinstance(kept, MappingError)
    assert kept.__traceback__ is None and kept.__context__ is None
    with pytest.raises(MappingError, match=r"^entities\.tickets"):
        source.entity("tickets")  # raised again as before


def test_missing_column_names_the_key_and_lists_columns(tmp_path: Path, renamed_url: str) -> None:
    settings = _settings(tmp_path, TABLE_MAPPING.replace('order_date = "data"', 'order_date = "giorno"'), renamed_url)
    source = Source(settings=settings, url=renamed_url)
    with pytest.raises(MappingError) as info:
        source.entity("orders")
    assert info.value.key == "entities.orders.columns.order_date"
    assert "column 'giorno' for order_date is not in table 'vendite'" in info.value.message
    assert "id_vendita" in info.value.message


def test_required_column_missing_without_rename(tmp_path: Path, renamed_url: str) -> None:
    settings = _settings(tmp_path, '[entities.orders]\ntable = "vendite"\n', renamed_url)
    err = Source(settings=settings, url=renamed_url).errors()["orders"]
    assert err.key == "entities.orders.columns.order_id"


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("DELETE FROM vendite", "must be a single SELECT, not DELETE"),
        ("SELECT 1; DROP TABLE vendite", "more than one statement"),
        ("WITH x AS (DELETE FROM vendite RETURNING *) SELECT * FROM x", "'DELETE' is not allowed"),
        ("SELECT * INTO copia FROM vendite", "'INTO' is not allowed"),
        ("   ", "is empty"),
    ],
)
def test_non_select_sql_is_refused(tmp_path: Path, renamed_url: str, sql: str, fragment: str) -> None:
    settings = _settings(tmp_path, f"[entities.orders]\nsql = {sql!r}\n".replace("'", '"', 2), renamed_url)
    err = Source(settings=settings, url=renamed_url).errors()["orders"]
    assert err.key == "entities.orders.sql"
    assert fragment in err.message


def test_select_with_semicolon_inside_a_string_is_fine() -> None:
    assert check_single_select("SELECT ';' AS x;", "k") == "SELECT ';' AS x"


def test_failing_sql_names_the_key(tmp_path: Path, renamed_url: str) -> None:
    settings = _settings(tmp_path, '[entities.orders]\nsql = "SELECT * FROM nowhere"\n', renamed_url)
    err = Source(settings=settings, url=renamed_url).errors()["orders"]
    assert err.key == "entities.orders.sql"
    assert "the query fails on the database" in err.message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[entities.ordini]\ntable = "x"\n', "entities.ordini"),
        ('[entities.orders]\ntable = "x"\nsql = "SELECT 1"\n', "entities.orders"),
        ('[entities.orders]\ntable = "x"\n[entities.orders.columns]\nprezzo = "p"\n', "entities.orders.columns.prezzo"),
        ("[business]\ndefault_margin = 40\n", "business.default_margin"),
        ("[business]\nmargine = 0.4\n", "business.margine"),
        ("[business\n", "cruscotto.toml"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        _settings(tmp_path, text)
    assert info.value.key == key


def test_url_precedence(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[connections.cruscotto]\nurl = "sqlite:///from-secrets.db"\n')
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert load_settings(empty, env={}, secrets_path=secrets).url_origin == "secrets"
    env = {"CRUSCOTTO_DB_URL": "sqlite:///from-env.db"}
    assert load_settings(empty, env=env, secrets_path=secrets).url == "sqlite:///from-env.db"
    configured = tmp_path / "c.toml"
    configured.write_text('[source]\nurl = "sqlite:///from-file.db"\n')
    assert load_settings(configured, env=env, secrets_path=secrets).url_origin == "config"
    assert load_settings(empty, env={}, secrets_path=tmp_path / "none.toml").url_origin == "demo"


def test_password_is_redacted() -> None:
    assert (
        redact_url("postgresql+psycopg://reader:s3cret@db.example/erp")
        == "postgresql+psycopg://reader:***@db.example/erp"
    )
    assert "s3cret" not in redact_url("not a url s3cret")


def test_unreachable_database_is_a_clear_error(default_settings) -> None:  # type: ignore[no-untyped-def]
    source = Source(settings=default_settings, url="postgresql+psycopg://reader:s3cret@127.0.0.1:1/erp")
    with pytest.raises(SourceUnavailable) as info:
        source.ping()
    assert "s3cret" not in str(info.value)
    assert "***" in str(info.value)
    with pytest.raises(SourceUnavailable, match="does not exist"):
        make_readonly_engine("sqlite:////no/such/file.sqlite")


def test_a_warehouse_that_does_not_answer_or_has_no_driver_is_a_clear_error(default_settings) -> None:  # type: ignore[no-untyped-def]
    """A Spark SQL server that does not answer (PyHive's Thrift error is not a DB-API one), and a
    URL whose driver is not installed: a sentence naming what to do, never a traceback."""
    import importlib.util

    if importlib.util.find_spec("pyhive") is not None:
        source = Source(settings=default_settings, url="hive://127.0.0.1:1/default")
        with pytest.raises(SourceUnavailable, match=r"hive://127\.0\.0\.1:1/default does not answer"):
            source.ping()
    with pytest.raises(SourceUnavailable) as info:
        make_readonly_engine("nosuchwarehouse://h/db")
    assert info.value.code == "source.no_driver"
    assert "pip install the SQLAlchemy dialect for nosuchwarehouse" in info.value.message
    assert "pip install" in info.value.localized("it") and "driver" in info.value.localized("it")
    if importlib.util.find_spec("databricks") is None:
        with pytest.raises(SourceUnavailable, match="pip install databricks-sqlalchemy"):
            make_readonly_engine("databricks://token:t@example.cloud.databricks.com?http_path=/sql/1.0/x")


def test_sqlite_source_is_read_only(renamed_url: str) -> None:
    """SQLite refuses the write itself; Spark SQL has no read-only session: Cruscotto refuses it."""
    from data.engine import WriteRefused

    engine = make_readonly_engine(renamed_url)
    refused = (sa.exc.OperationalError, "readonly") if renamed_url.startswith("sqlite") else (WriteRefused, "refused")
    with engine.connect() as conn, pytest.raises(refused[0], match=refused[1]):
        conn.execute(sa.text("DELETE FROM vendite"))


def test_duckdb_source_is_read_only(demo_url: str) -> None:
    engine = make_readonly_engine(demo_url)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="read-only"):
        conn.execute(sa.text("DELETE FROM orders"))
    engine.dispose()


def test_postgresql_source_is_read_only(pg_database: str) -> None:
    engine = make_readonly_engine(pg_database)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
        conn.execute(sa.text("CREATE TABLE intruso (x int)"))
    engine.dispose()


def test_the_documented_example_settings_parse() -> None:
    example = Path(__file__).resolve().parent.parent / "cruscotto.example.toml"
    settings = load_settings(example, env={}, secrets_path="/nonexistent")
    assert settings.url_origin == "config"
    assert settings.mapping("orders").source_column("order_date") == "data"
    assert settings.mapping("customers").sql is not None
    assert settings.mapping("tickets").table == "assistenza.ticket"
    assert settings.business.default_margin == 0.40

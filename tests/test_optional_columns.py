"""Every optional column of every entity left unmapped — one at a time and all together — on SQLite,
DuckDB, PostgreSQL and MariaDB: every CLI command and every page gives figures (or says what to
map), never a query error.

All columns left out together run on every engine. Each single column runs on two engines, taken
in turn (the commands on one, the pages on the next), so every engine sees a quarter of the single
columns in each test: the dialects differ in the SQL, which "all" covers on each of them, while a
single missing column mostly takes a path in Python that is the same on every engine."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import cli
from data.demo import write_demo
from data.entities import ENTITIES
from tests.conftest import ALL_PAGES, APP, ENGINES, _url_for

#: (entity, column) for every optional column of the demo's tables (it has no targets table: the
#: targets read from a table are tested in tests/test_targets.py)
OPTIONAL = [(name, column) for name, spec in ENTITIES.items() if name != "targets" for column in spec.optional]
CASES = {f"{e}.{c}": [(e, c)] for e, c in OPTIONAL} | {"all": OPTIONAL}
#: the engines that take single columns in turn: Spark SQL takes "all" only (every command costs
#: it half a minute, and its SQL is the same for one column left out as for all of them)
TURNS = tuple(engine for engine in ENGINES if engine != "spark")
#: (engine, case): "all" on every engine, each single column on one engine in turn
COMMAND_RUNS = [(TURNS[i % len(TURNS)], f"{e}.{c}") for i, (e, c) in enumerate(OPTIONAL)] + [
    (engine, "all") for engine in ENGINES
]
PAGE_RUNS = [(TURNS[(i + 1) % len(TURNS)], f"{e}.{c}") for i, (e, c) in enumerate(OPTIONAL)] + [
    (engine, "all") for engine in ENGINES
]
COMMANDS = ("check", "overview", "roi", "lifecycle", "upsell", "clv", "engagement", "forecast")


def settings_without(left_out: list[tuple[str, str]]) -> str:
    """A settings file mapping each touched entity as one SELECT that leaves the columns out."""
    lines = []
    for name in sorted({e for e, _ in left_out}):
        spec = ENTITIES[name]
        dropped = {c for e, c in left_out if e == name}
        kept = ", ".join(c for c in spec.columns if c not in dropped)
        lines += [f"[entities.{name}]", f'sql = "SELECT {kept} FROM {name}"', ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def small_demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small demo company (every entity, 150 customers) on each engine."""
    url = _url_for(request.param, tmp_path_factory.mktemp(f"opt_{request.param}"), request, "opt")
    write_demo(url, customers=150)
    return url


def _cli(url: str, config: Path, *argv: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([*argv, "--config", str(config)])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("small_demo", "case"), COMMAND_RUNS, indirect=["small_demo"])
def test_every_command_gives_figures(
    small_demo: str, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cruscotto.toml"
    config.write_text(settings_without(CASES[case]))
    for command in COMMANDS:
        code, out, err = _cli(small_demo, config, command, "--json", monkeypatch=monkeypatch)
        assert code == 0, (case, command, err)
        assert json.loads(out), (case, command)
    if case == "all":
        out_file = tmp_path / "report.html"
        argv = ("report", "--format", "html", "--out", str(out_file))
        code, _, err = _cli(small_demo, config, *argv, monkeypatch=monkeypatch)
        assert code == 0, err
        assert out_file.stat().st_size > 10_000


def _visit_every_page(url: str, config: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    shown: list[str] = []
    for page in ALL_PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        assert at.metric or at.table or at.info, page  # figures, or a notice saying why not
        shown += [m.value for m in at.metric]
    return shown


@pytest.mark.parametrize(("small_demo", "case"), PAGE_RUNS, indirect=["small_demo"])
def test_every_page_gives_figures(small_demo: str, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cruscotto.toml"
    config.write_text(settings_without(CASES[case]))
    assert _visit_every_page(small_demo, config, monkeypatch)


def test_every_column_runs_on_two_engines() -> None:
    """The split above leaves no single column to one engine only, and "all" to none."""
    for e, c in OPTIONAL:
        engines = {eng for eng, case in COMMAND_RUNS + PAGE_RUNS if case == f"{e}.{c}"}
        assert len(engines) == 2, (e, c, engines)
    assert {eng for eng, case in COMMAND_RUNS if case == "all"} == set(ENGINES)
    assert {eng for eng, case in PAGE_RUNS if case == "all"} == set(ENGINES)

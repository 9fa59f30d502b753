"""Every optional column of every entity left unmapped — one at a time and all together — on SQLite,
DuckDB, PostgreSQL and MariaDB: every CLI command and every page gives figures (or says what to
map), never a query error."""

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

#: (entity, column) for every optional column
OPTIONAL = [(name, column) for name, spec in ENTITIES.items() for column in spec.optional]
CASES = {f"{e}.{c}": [(e, c)] for e, c in OPTIONAL} | {"all": OPTIONAL}
COMMANDS = ("check", "overview", "roi", "lifecycle", "upsell", "clv", "engagement")


def settings_without(left_out: list[tuple[str, str]]) -> str:
    """A settings file mapping each touched entity as one SELECT that leaves the columns out."""
    lines = []
    for name in sorted({e for e, _ in left_out}):
        spec = ENTITIES[name]
        dropped = {c for e, c in left_out if e == name}
        kept = ", ".join(c for c in spec.columns if c not in dropped)
        lines += [f"[entities.{name}]", f'sql = "SELECT {kept} FROM {name}"', ""]
    return "\n".join(lines)


@pytest.fixture(scope="module", params=ENGINES)
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


@pytest.mark.parametrize("case", list(CASES))
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


@pytest.mark.parametrize("case", list(CASES))
def test_every_page_gives_figures_on_postgresql(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_small_demo")
    config = tmp_path / "cruscotto.toml"
    config.write_text(settings_without(CASES[case]))
    assert _visit_every_page(url, config, monkeypatch)


def test_every_page_gives_figures_with_all_left_out(
    small_demo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cruscotto.toml"
    config.write_text(settings_without(OPTIONAL))
    assert _visit_every_page(small_demo, config, monkeypatch)


@pytest.fixture(scope="module")
def pg_small_demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = _url_for("postgresql", tmp_path_factory.mktemp("opt_pg_pages"), request, "optpages")
    write_demo(url, customers=150)
    return url

"""data.memory and serve.py: the allocators are chosen once per process (the C library's when it
starts, through ``serve.py``), and a user's choice stays."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data.demo import write_demo
from data.memory import ENVIRONMENT, TUNABLES, tuned_environment
from serve import server_command


def _run(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, check=True
    )
    return result.stdout.strip()


def test_arrow_columns_come_from_the_c_library_allocator() -> None:
    """After ``tune_allocators`` a new Arrow column is taken from the system pool, not Arrow's
    own; a second call changes nothing."""
    out = _run(
        """
        import pyarrow as pa
        from data.memory import tune_allocators
        before = pa.default_memory_pool().backend_name
        tune_allocators(); tune_allocators()
        column = pa.array(["uno", "due"] * 1000)
        print(before, pa.default_memory_pool().backend_name, pa.system_memory_pool().bytes_allocated() > 0)
        """,
        {"PATH": "/usr/bin:/bin", "PYTHONPATH": "."},
    )
    before, after, used = out.split()
    assert before != "system" and after == "system" and used == "True"


def test_a_pool_the_user_chose_stays() -> None:
    out = _run(
        """
        import pyarrow as pa
        from data.memory import tune_allocators
        tune_allocators()
        print(pa.default_memory_pool().backend_name)
        """,
        {"PATH": "/usr/bin:/bin", "PYTHONPATH": ".", "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"},
    )
    assert out == "mimalloc"


def test_the_arenas_a_process_started_with_stay() -> None:
    """``tune_allocators`` sets two arenas, unless the process started with a number of its own
    (``serve.py`` starts it with one)."""
    code = """
        import ctypes
        calls = []
        class FakeC:
            def mallopt(self, parameter, value):
                calls.append((parameter, value))
                return 1
        ctypes.CDLL = lambda name: FakeC()
        from data.memory import tune_allocators
        tune_allocators()
        print(calls)
        """
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "."}
    assert _run(code, base) == "[(-8, 2)]"
    assert _run(code, {**base, "GLIBC_TUNABLES": "glibc.malloc.arena_max=1"}) == "[]"


ROOT = Path(__file__).resolve().parent.parent
GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def _tunables(env: dict[str, str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in env.get("GLIBC_TUNABLES", "").split(":") if item)


def test_the_tunables_are_added_to_the_environment() -> None:
    env = tuned_environment({"PATH": "/bin"}, glibc=True)
    assert env["PATH"] == "/bin"
    assert _tunables(env) == TUNABLES
    assert env["NUMPY_MADVISE_HUGEPAGE"] == "0" and ENVIRONMENT == {"NUMPY_MADVISE_HUGEPAGE": "0"}
    assert {
        "glibc.malloc.arena_max": "1",
        "glibc.malloc.mmap_max": "0",
        "glibc.malloc.trim_threshold": str(512 * 1024 * 1024),
    } == TUNABLES


def test_the_operators_own_tunables_are_kept_and_win() -> None:
    given = "glibc.malloc.arena_max=4:glibc.malloc.tcache_count=0"
    env = tuned_environment({"GLIBC_TUNABLES": given}, glibc=True)
    assert env["GLIBC_TUNABLES"].startswith(given + ":")
    assert _tunables(env) == {
        "glibc.malloc.arena_max": "4",
        "glibc.malloc.tcache_count": "0",
        "glibc.malloc.mmap_max": "0",
        "glibc.malloc.trim_threshold": str(512 * 1024 * 1024),
    }
    again = tuned_environment(env, glibc=True)
    assert again == env  # nothing added twice
    assert tuned_environment({"NUMPY_MADVISE_HUGEPAGE": "1"}, glibc=True)["NUMPY_MADVISE_HUGEPAGE"] == "1"


@pytest.mark.skipif(not GLIBC, reason="the settings are added on Linux with glibc")
def test_numpy_starts_on_ordinary_pages() -> None:
    """numpy reads ``NUMPY_MADVISE_HUGEPAGE`` when it is imported: in a process started with the
    settings it no longer asks the kernel for huge pages (it does by default)."""
    probe = "import numpy._core.multiarray as m; print(m._set_madvise_hugepage(True))"
    plain = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}

    def asks(env: dict[str, str]) -> str:
        return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout

    assert asks(plain).strip() == "True"
    assert asks(tuned_environment(plain)).strip() == "False"


def test_nothing_changes_without_glibc() -> None:
    assert tuned_environment({"PATH": "/bin"}, glibc=False) == {"PATH": "/bin"}


_CHURN = textwrap.dedent(
    """
    import resource, threading
    import numpy as np

    def work():
        for _ in range(20):  # a column of ten million rows made and freed, as a page does
            column = np.ones(10_000_000)
            del column

    worker = threading.Thread(target=work)  # a page runs in a thread of its own
    worker.start()
    worker.join()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
    """
)


@pytest.mark.skipif(not GLIBC, reason="glibc's tunables")
def test_the_settings_make_freed_memory_serve_the_next_array() -> None:
    """Twenty 80 MB arrays made and freed in a thread: with glibc's defaults each is a fresh
    mapping whose pages are all faulted in again (20 × 19,532 pages); with the settings the later
    ones reuse the first one's pages."""
    plain = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    plain["NUMPY_MADVISE_HUGEPAGE"] = "0"  # 4 KB pages: a fault per page, whatever the kernel's setting

    def faults(env: dict[str, str]) -> int:
        done = subprocess.run([sys.executable, "-c", _CHURN], env=env, capture_output=True, text=True, check=True)
        return int(done.stdout.strip())

    default, tuned = faults(plain), faults(tuned_environment(plain))
    assert default > 20 * 19_000  # every array faulted in afresh
    assert tuned < default / 5, (tuned, default)


def test_serve_starts_itself_again_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve.py`` starts itself again in the same process (the options passed on), with the
    settings in its environment (read there by the C library when it starts); there it serves."""
    import serve

    calls: list[tuple[str, list[str], dict[str, str]]] = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append((path, list(argv), dict(env))))
    monkeypatch.setattr(os, "name", "posix")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")
    monkeypatch.delenv(serve.SERVING, raising=False)
    serve.main(["--server.port", "8599"])
    [(path, argv, env)] = calls
    assert argv == [sys.executable, str(ROOT / "serve.py"), "--server.port", "8599"]
    assert path == sys.executable
    assert env == {**tuned_environment(os.environ), serve.SERVING: "1"}
    assert _tunables(env)["glibc.malloc.tcache_count"] == "0"
    served: list[list[str]] = []
    monkeypatch.setattr(serve, "serve", served.append)
    monkeypatch.setenv(serve.SERVING, "1")
    serve.main(["--server.port", "8599"])  # started again: it serves, no third start
    assert served == [["--server.port", "8599"]] and len(calls) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_serves_the_dashboard(tmp_path: Path) -> None:
    """``python3 serve.py`` (the README's command) starts the server, in the process it was given,
    and reads the source before anybody visits."""
    port = _free_port()
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    write_demo(url, customers=300, seed=3)
    env = {**os.environ, "CRUSCOTTO_DB_URL": url, "CRUSCOTTO_CONFIG": str(config)}
    args = ["--server.port", str(port), "--server.headless", "true", "--server.address", "127.0.0.1"]
    with (tmp_path / "serve.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, "serve.py", *args], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline, healthy = time.time() + 60, False
        while time.time() < deadline and not healthy:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                    healthy = resp.status == 200
            except OSError:
                time.sleep(0.3)
        assert healthy, (tmp_path / "serve.log").read_text()
        if sys.platform.startswith("linux"):
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
            assert cmdline == server_command(args)
            assert b"GLIBC_TUNABLES=glibc.malloc.arena_max=1" in Path(f"/proc/{proc.pid}/environ").read_bytes()
        log = tmp_path / "serve.log"
        while time.time() < deadline + 60 and "are ready" not in log.read_text():
            time.sleep(0.2)
        said = log.read_text()
        assert f"Cruscotto: the figures of {date.today().isoformat()} are ready" in said, said
        # at its very start, before any page has run: what the overview shows is made too
        assert "the first pages' figures made too" in said, said
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_dict_another_thread_adds_to_is_measured_without_error() -> None:
    """The facts' own cache grows while the read-ahead thread works: measuring it meanwhile must not
    fail ("dictionary changed size during iteration", met once by a page)."""
    from service.memo import size_of

    held: dict[tuple[str, int], np.ndarray] = {("part", i): np.zeros(1000) for i in range(300)}
    stop = threading.Event()

    def grow() -> None:
        i = 0
        while not stop.is_set():
            held[("new", i)] = np.zeros(10)
            held.pop(("new", i - 50), None)
            i += 1

    other = threading.Thread(target=grow)
    other.start()
    try:
        for _ in range(300):
            assert size_of(held) >= 300 * 8000
    finally:
        stop.set()
        other.join()


def test_preload_imports_what_the_pages_import_and_the_sources_driver(tmp_path: Path) -> None:
    """``service.served.preload`` (``serve.py``, as it starts) imports every module the pages import, what
    they load on first use (Plotly's kinds of trace too), and the driver of the source, so the
    first visit imports none of them. In a fresh interpreter: before it, none of them is loaded."""
    code = """
import ast, json, sys
from pathlib import Path
from service.served import _LOADED_ON_USE, preload
wanted = set(_LOADED_ON_USE) | {"duckdb_engine"}
for script in Path("pages").glob("*.py"):
    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
            wanted.add(node.module)
before = sorted(wanted & set(sys.modules))
preload(sys.argv[1])
loaded = {"plotly.graph_objs._bar", "plotly.graph_objs._sankey", "plotly.graph_objs._waterfall"} <= set(sys.modules)
missing = sorted(wanted - set(sys.modules))
print(json.dumps({"wanted": sorted(wanted), "before": before, "missing": missing, "plotly": loaded}))
"""
    url = f"duckdb:///{tmp_path / 'nowhere.duckdb'}"
    done = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"ui.customer_card", "ui.targets_form", "render.charts"} <= set(got["wanted"])  # read from the pages
    assert {"pandas.io.formats.style", "duckdb_engine", "ui.customer_card", "ui.targets_form"}.isdisjoint(got["before"])
    assert got["missing"] == []
    assert got["plotly"]  # Plotly's kinds of trace, loaded on a figure's first use, are loaded
    assert not (tmp_path / "nowhere.duckdb").exists()  # the driver is loaded, no database is opened


def test_preload_leaves_what_the_imports_made_out_of_later_collections(tmp_path: Path) -> None:
    """After ``preload`` a full garbage collection (Streamlit runs one after every page run, while the
    visitor waits for the page's end) goes through what was made since, not through every object
    the imports made; what was garbage already is collected, not kept for good. In a fresh
    interpreter."""
    code = """
import gc, json, sys, weakref
from service.served import preload
gc.disable()  # only preload's own collection may find the cycle
class Cycle: pass
garbage = Cycle(); garbage.me = garbage
gone = weakref.ref(garbage)
del garbage
preload(sys.argv[1])
print(json.dumps({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()), "kept": gone() is not None}))
"""
    url = f"duckdb:///{tmp_path / 'nowhere.duckdb'}"
    done = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["frozen"] > 100_000  # pandas, Plotly, Streamlit, the pages' modules
    assert got["tracked"] < got["frozen"] / 20
    assert not got["kept"]


def test_a_bad_url_or_setting_does_not_stop_the_preload() -> None:
    from service.served import preload

    preload("nosuchdriver://x")  # the page says what is wrong, in the visitor's language
    preload(None)


def test_the_server_imports_once_it_is_up_and_before_its_first_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve.py`` hands ``preload`` of the configured source to the warm-up, which calls it once
    the server is up (Streamlit's caches are declared with its runtime) and before reading."""
    import serve
    from service import served

    calls: list[Any] = []
    monkeypatch.setattr(served, "read_ahead_once", lambda log: calls.append("read") or False)
    served.warm_up(lambda line: None, lambda: bool(calls.append("ready?")) or True, lambda: calls.append("first"))
    assert calls == ["ready?", "first", "read"]

    handed: list[Any] = []
    monkeypatch.setattr(served, "warm_up", lambda log, ready, first: handed.append(first))
    monkeypatch.setattr(served, "preload", lambda url: calls.append(("preload", url)))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", "sqlite:///somewhere.sqlite")
    serve._read_ahead()
    [first] = handed
    first()
    assert calls[-1] == ("preload", "sqlite:///somewhere.sqlite")

"""data.memory: the allocators are chosen once per process, and a user's choice stays."""

from __future__ import annotations

import subprocess
import sys
import textwrap


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

"""Start the dashboard: ``python3 serve.py``, with any option of ``streamlit run`` after it (for
example ``--server.port 8502``). The same server as ``streamlit run app.py``, with two things more:

- it starts with the memory settings of ``data.memory`` (at a million customers every page cold
  some 12 % faster and 0.4 GB lighter): they are read by the C library when a process starts, so
  this process starts itself again with them, under the same pid;
- as soon as it is up it imports what the pages import and the source's driver, and leaves what
  the imports made out of the garbage collections after each page run (``service.served.preload``),
  then reads the source before the first visitor comes, and again after each
  midnight, and makes what the overview shows and what the other pages share
  (``service.served.warm_up`` with ``service.shared.prepare``; ``[server] read_at_start``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from data.memory import tuned_environment

HERE = Path(__file__).resolve()
APP = HERE.parent / "app.py"
#: set in the environment of the process that serves (this file, started again with the settings)
SERVING = "CRUSCOTTO_SERVING"


def server_command(args: list[str]) -> list[str]:
    """The command that starts the dashboard's server with ``args`` (``streamlit run``'s options)."""
    return [sys.executable, str(HERE), *args]


def main(args: list[str]) -> None:
    if os.environ.get(SERVING) == "1":
        serve(args)
        return
    command = server_command(args)
    env = {**tuned_environment(os.environ), SERVING: "1"}
    if os.name == "posix":
        os.execve(command[0], command, env)  # the server takes this process's place (and pid)
    else:
        sys.exit(subprocess.call(command, env=env))


def serve(args: list[str]) -> None:
    """``streamlit run app.py args`` in this process, the source read ahead on a thread beside it."""
    threading.Thread(target=_read_ahead, name="cruscotto-warm-up", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *args]
    sys.exit(cli.main())


def _read_ahead() -> None:
    from streamlit.runtime import Runtime

    from service import shared  # noqa: F401  (adds its step to what a read is prepared with)
    from service.served import preload, warm_up

    # (imported once the server is up: Streamlit's caches are declared with its runtime there)
    warm_up(lambda line: print(line, file=sys.stderr, flush=True), Runtime.exists, lambda: preload(_source_url()))


def _source_url() -> str | None:
    """The configured source's URL (the embedded demo's without one); None when the settings
    cannot be read (the first page says why)."""
    from data.demo import DEMO_PATH
    from data.settings import load_settings

    try:
        return load_settings().url or f"duckdb:///{DEMO_PATH}"
    except Exception:
        return None


if __name__ == "__main__":
    main(sys.argv[1:])

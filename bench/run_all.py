"""Run the page benchmark and the naive baseline on every generated database; print the table.

    python bench/run_all.py --out bench/results         # needs the databases (see bench/RESULTS.md)

Each measurement runs in its own process (clean caches, its own peak memory).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("overview", "customer_value", "marketing", "lifecycle", "upsell", "engagement", "data_health")
CONFIGS = (
    ("DuckDB", "10k", "duckdb:////tmp/bench/d10000.duckdb"),
    ("DuckDB", "100k", "duckdb:////tmp/bench/d100000.duckdb"),
    ("DuckDB", "1M", "duckdb:////tmp/bench/d1000000.duckdb"),
    ("SQLite", "10k", "sqlite:////tmp/bench/s10000.sqlite"),
    ("SQLite", "100k", "sqlite:////tmp/bench/s100000.sqlite"),
    ("PostgreSQL", "10k", "postgresql+psycopg://postgres@127.0.0.1:55432/bench10k"),
    ("PostgreSQL", "100k", "postgresql+psycopg://postgres@127.0.0.1:55432/bench100k"),
    ("PostgreSQL", "1M", "postgresql+psycopg://postgres@127.0.0.1:55432/bench1m"),
    ("MariaDB", "10k", "mysql+pymysql://root@127.0.0.1:53306/bench10k"),
    ("MariaDB", "100k", "mysql+pymysql://root@127.0.0.1:53306/bench100k"),
)


def _run(script: str, url: str, out: Path) -> dict:  # type: ignore[type-arg]
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--url", url, "--json", str(out)],
        check=True,
        cwd=ROOT,
        stdout=sys.stderr,
        stderr=subprocess.DEVNULL,
    )
    return json.loads(out.read_text())


def table(results: dict[str, dict]) -> str:  # type: ignore[type-arg]
    names = list(results)
    lines = ["| measurement | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    pages = {n: r["pages"]["pages"] for n, r in results.items()}
    for page in PAGES:
        row(
            f"{page}: cold (query + transfer + kpi/draw)",
            [
                f"{p[page]['cold']['total_s']:.2f} ({p[page]['cold']['query_s']:.2f} + "
                f"{p[page]['cold']['transfer_s']:.2f} + {p[page]['cold']['kpi_s']:.2f})"
                for p in pages.values()
            ],
        )
    row(
        "**all pages cold, one visitor**",
        [f"**{r['pages']['all_pages_cold']['total_s']:.2f}**" for r in results.values()],
    )
    row(
        "process CPU s during it (all threads)",
        [f"{r['pages']['all_pages_cold'].get('cpu_s', float('nan')):.2f}" for r in results.values()],
    )
    row("load average at the start", [f"{r['pages'].get('load_at_start', float('nan')):.2f}" for r in results.values()])
    row(
        "filter change, slowest page",
        [f"{max(p[g]['filter_change'].get('total_s', 0) for g in PAGES):.2f}" for p in pages.values()],
    )
    row("filter change, overview", [f"{p['overview']['filter_change'].get('total_s', 0):.2f}" for p in pages.values()])
    row(
        "page switch, warm (slowest page)", [f"{max(p[g]['warm_switch_s'] for g in PAGES):.2f}" for p in pages.values()]
    )
    row("peak memory, dashboard (MB)", [f"{r['pages']['peak_rss_mb']:.0f}" for r in results.values()])
    row("naive: read orders into pandas", [f"{r['naive']['read_s']:.2f}" for r in results.values()])
    row("naive: + compute two figures", [f"{r['naive']['compute_s']:.2f}" for r in results.values()])
    row("naive: peak memory (MB)", [f"{r['naive']['peak_rss_mb']:.0f}" for r in results.values()])
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench/results"))
    parser.add_argument("--only", help="run the configurations whose name contains this")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for engine, size, url in CONFIGS:
        name = f"{engine} {size}"
        if args.only and args.only not in name:
            continue
        stem = name.replace(" ", "_")
        print(f"== {name}", file=sys.stderr, flush=True)
        _run("bench_pages.py", url, args.out / f"{stem}.pages.json")
        _run("bench_naive.py", url, args.out / f"{stem}.naive.json")
    results = {}
    for engine, size, _url in CONFIGS:
        stem = f"{engine}_{size}"
        pages, naive = args.out / f"{stem}.pages.json", args.out / f"{stem}.naive.json"
        if pages.exists() and naive.exists():
            results[f"{engine} {size}"] = {
                "pages": json.loads(pages.read_text()),
                "naive": json.loads(naive.read_text()),
            }
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

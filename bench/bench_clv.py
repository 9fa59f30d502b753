"""Benchmark: the CLV model fit (summary → parameters) at 2,357, 100k and 1M customers,
side by side with lifetimes 0.11 (``pip install -r bench/requirements.txt``).

    python bench/bench_clv.py                      # all sizes; lifetimes up to --lifetimes-max
    python bench/bench_clv.py --sizes 100000 --lifetimes-max 0

The 2,357-customer row is the CDNOW sample (tests/data); larger sizes are drawn from the
BG/NBD model with CDNOW's parameters, so both fits see the same data.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpi.clv import bgnbd_log_likelihood, fit_bgnbd, fit_gamma_gamma  # noqa: E402

CDNOW = ROOT / "tests" / "data" / "cdnow_sample.txt"


def cdnow_summary() -> pd.DataFrame:
    raw = pd.read_csv(CDNOW, sep=r"\s+", header=None, names=["m", "id", "date", "cds", "value"])
    raw["date"] = pd.to_datetime(raw["date"].astype(str))
    cal = raw[raw["date"] <= "1997-09-30"]
    daily = cal.groupby(["id", "date"])["value"].sum().reset_index()
    g = daily.groupby("id")
    first, last = g["date"].min(), g["date"].max()
    first_value = daily.merge(first.rename("f"), on="id").query("date == f").set_index("id")["value"]
    x = g.size() - 1
    end = pd.Timestamp("1997-09-30")
    return pd.DataFrame(
        {
            "x": x.astype(float),
            "t_x": (last - first).dt.days / 7,
            "T": (end - first).dt.days / 7,
            "m": np.where(x > 0, (g["value"].sum() - first_value) / x.where(x > 0, 1), 0.0),
        }
    ).reset_index(drop=True)


def simulated_summary(n: int, seed: int = 1) -> pd.DataFrame:
    """n customers from BG/NBD (CDNOW parameters), first purchases spread over 12 weeks, 39-week
    calibration; spend from Gamma-Gamma (p 6.25, q 3.74, γ 15.44)."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = 0.2426, 4.4136, 0.7929, 2.4259
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = 39.0 - rng.uniform(0, 12, n).round(1)  # noqa: N806 - the model's notation
    x = np.zeros(n)
    t_x = np.zeros(n)
    t = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    for _ in range(200):
        alive &= rng.random(n) >= p
        t = t + rng.exponential(1 / np.maximum(lam, 1e-9))
        buy = alive & (t <= T)
        if not buy.any():
            break
        x[buy] += 1
        t_x[buy] = t[buy]
        alive &= t <= T
    t_x = np.floor(t_x * 7) / 7  # purchases on whole days, as in real logs
    nu = rng.gamma(3.74, 1 / 15.44, n)
    m = np.where(x > 0, rng.gamma(6.25 * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), 0.0)
    return pd.DataFrame({"x": x, "t_x": t_x, "T": T, "m": m})


def _ours(summary: pd.DataFrame) -> tuple[float, float, float]:
    start = time.perf_counter()
    model = fit_bgnbd(summary)
    bg_time = time.perf_counter() - start
    start = time.perf_counter()
    fit_gamma_gamma(summary)
    return bg_time, time.perf_counter() - start, model.log_likelihood


def _lifetimes(summary: pd.DataFrame) -> tuple[float, float]:
    from lifetimes import BetaGeoFitter

    fitter = BetaGeoFitter(penalizer_coef=0.0)
    start = time.perf_counter()
    fitter.fit(summary["x"], summary["t_x"], summary["T"])
    elapsed = time.perf_counter() - start
    p = fitter.params_
    ll = bgnbd_log_likelihood(summary, p["r"], p["alpha"], p["a"], p["b"])
    return elapsed, ll


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[2357, 100_000, 1_000_000])
    parser.add_argument("--lifetimes-max", type=int, default=1_000_000, help="largest size to fit with lifetimes")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        "| customers | repeat buyers | BG/NBD fit (s) | Gamma-Gamma fit (s) | log-likelihood | "
        "lifetimes BG/NBD fit (s) | lifetimes log-likelihood | speed-up |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        summary = cdnow_summary() if n == 2357 else simulated_summary(n)
        runs = [_ours(summary) for _ in range(args.repeat)]
        bg = min(r[0] for r in runs)
        gg = min(r[1] for r in runs)
        ll = runs[0][2]
        if n <= args.lifetimes_max:
            lt_time, lt_ll = _lifetimes(summary)
            lt = f"{lt_time:.2f} | {lt_ll:,.6f} | {lt_time / bg:,.0f}×"
        else:
            lt = "— | — | —"
        print(f"| {n:,} | {int((summary['x'] > 0).sum()):,} | {bg:.3f} | {gg:.3f} | {ll:,.6f} | {lt} |", flush=True)


if __name__ == "__main__":
    main()

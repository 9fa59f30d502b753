"""Where each customer is in their life with us (DESIGN.md section 3), judged against their own rhythm.

Stages, in the order the rules are tried (a customer takes the first that applies):

    new          first purchase within ``new_days`` of the reference date
    reactivated  bought in the last ``new_days`` after a silence long enough to have been lapsed
    loyal        active and in the top ``loyal_top_share`` of their segment by CLV
    active       P(alive) ≥ ``active_min``
    at_risk      ``lapsed_below`` ≤ P(alive) < ``active_min``
    lapsed       P(alive) < ``lapsed_below``

(prospects — people on record who never bought — are counted apart: they have no rhythm yet.)
P(alive) comes from the BG/NBD model where it was fitted. BG/NBD considers every one-time buyer
alive, so for them, and for everybody when there is no model, the silence since the last purchase
is compared with the customer's own mean gap between purchases (one-time buyers: the median gap of
their segment's repeat buyers): alive up to 1.5 gaps, lapsed from 3. "Reactivated" applies the same
judgement at the moment just before the last purchase.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from data.settings import StageRules
from kpi.clv import BGNBD

__all__ = [
    "STAGES",
    "StageRules",
    "assign_stages",
    "at_risk_value",
    "rhythm_p_alive",
    "stage_counts",
    "stage_names",
    "stage_numbers",
    "stage_tally",
    "transitions",
]

STAGES: tuple[str, ...] = ("new", "reactivated", "loyal", "active", "at_risk", "lapsed")


def _groups(segments: np.ndarray) -> tuple[np.ndarray, int]:
    """Each row's segment as a group number 0..n-1 (-1: no segment) and n. Whole numbers from 0 up
    (the facts' segment codes, below 0 for none) are their own groups: a million customers are not
    hashed again at every date; anything else (labels, NaN for none) is factorized."""
    segments = np.asarray(segments)
    if segments.dtype.kind in "iu" and len(segments):
        codes = np.maximum(segments.astype(np.int64, copy=False), -1)  # below 0: no segment
        if codes.max() < 2**15:  # codes, not ids: a group each is cheap
            return codes, int(codes.max()) + 1
    codes, uniques = pd.factorize(segments)
    return np.asarray(codes, dtype=np.int64), len(uniques)


def _segment_medians(values: np.ndarray, segments: np.ndarray, fallback: float) -> np.ndarray:
    """Per row, the median of ``values`` (NaN ignored) over the rows of its segment; ``fallback``
    where the segment has no value or the row no segment. One stable sort of the finite values by
    segment, then a median per segment's slice (the same values, so the same median)."""
    codes, n = _groups(segments)
    medians = np.full(n + 1, np.nan)  # the last: no segment
    finite = np.flatnonzero(np.isfinite(values) & (codes >= 0))
    if len(finite):
        group = codes[finite]
        order = np.argsort(group.astype(np.int16) if n < 2**15 else group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(n + 1))
        ranked = values[finite[order]]
        for k in np.flatnonzero(np.diff(bounds)):
            medians[k] = np.median(ranked[bounds[k] : bounds[k + 1]])
    out = medians[np.where(codes >= 0, codes, n)]
    return np.where(np.isfinite(out), out, fallback)


def _top_share(values: np.ndarray, segments: np.ndarray, share: float) -> np.ndarray:
    """Per row: within the top ``share`` of its segment by ``values`` — a percentile rank, highest
    first, ties at their average rank (pandas' ``groupby(...).rank(pct=True, ascending=False) <=
    share``, the same floats). NaN values and rows without a segment are in no top.

    The rank grows as the value falls, so the top is every value from a threshold up: one sort per
    segment and a binary search for the threshold, instead of a rank per row."""
    top = np.zeros(len(values), dtype=bool)
    codes, n_groups = _groups(segments)  # no segment: -1
    for k in range(n_groups):
        rows = np.flatnonzero(codes == k)
        ranked = values[rows]
        ranked = np.sort(ranked[~np.isnan(ranked)])  # ascending
        n = len(ranked)

        def in_top(value: float, ranked: np.ndarray = ranked, n: int = n) -> bool:
            above = n - np.searchsorted(ranked, value, side="right")
            tied = n - above - np.searchsorted(ranked, value, side="left")
            return bool((above + (tied + 1) / 2) / n <= share)

        low, high = 0, n  # the smallest sorted position whose value is in the top (n: none is)
        while low < high:
            middle = (low + high) // 2
            if in_top(float(ranked[middle])):
                high = middle
            else:
                low = middle + 1
        if low < n:
            top[rows] = values[rows] >= ranked[low]  # NaN compares False
    return top


def rhythm_p_alive(
    x: np.ndarray, t_x: np.ndarray, T: np.ndarray, segments: np.ndarray | None = None, rules: StageRules | None = None
) -> np.ndarray:
    """How alive a customer looks against their own rhythm, without a model.

    The silence since the last purchase (T − t_x) is compared with the customer's mean gap between
    purchases (t_x / x); one-time buyers are judged against the median gap of their segment's repeat
    buyers (else of all repeat buyers). 1 up to ``alive_gaps`` gaps, falling linearly to 0 at
    ``lapsed_gaps``. Any time unit, as long as all three arrays share it."""
    rules = rules or StageRules()
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    return _by_rhythm(_gaps(x, t_x, T, segments), t_x, T, rules)


def _gaps(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, segments: np.ndarray | None) -> np.ndarray:
    """Per customer, the gap between purchases their silence is measured against
    (``rhythm_p_alive``): their own mean gap, else their segment's median, else everyone's."""
    own = np.where(x > 0, t_x / np.maximum(x, 1), np.nan)
    own = np.where(own > 0, own, np.nan)
    overall = float(np.nanmedian(own)) if np.isfinite(own).any() else float(np.nanmax(T, initial=1.0))
    typical = np.full(len(x), overall) if segments is None else _segment_medians(own, np.asarray(segments), overall)
    return np.where(np.isfinite(own), own, typical)


def _by_rhythm(gap: np.ndarray, t_x: np.ndarray, T: np.ndarray, rules: StageRules) -> np.ndarray:
    ratio = (T - t_x) / np.maximum(gap, 1e-9)
    return np.clip((rules.lapsed_gaps - ratio) / (rules.lapsed_gaps - rules.alive_gaps), 0.0, 1.0)


def assign_stages(
    customers: pd.DataFrame,
    as_of: pd.Timestamp | Any,
    rules: StageRules | None = None,
    model: BGNBD | None = None,
    unit_days: float = 7.0,
) -> pd.DataFrame:
    """The stage of each customer at ``as_of``.

    ``customers`` has ``customer_id``, ``segment``, ``first_purchase``, ``last_purchase``,
    ``previous_purchase`` (NaT for one-time buyers), ``purchase_days`` and ``total_clv``, all as of
    ``as_of``. ``model`` is the BG/NBD fitted on time units of ``unit_days`` days (None: judge by
    rhythm only). Returns ``customer_id``, ``stage`` and ``p_alive`` (what the stage was judged on).
    """
    rules = rules or StageRules()
    needed = (
        "customer_id",
        "segment",
        "first_purchase",
        "last_purchase",
        "previous_purchase",
        "purchase_days",
        "total_clv",
    )
    missing = [c for c in needed if c not in customers.columns]
    if missing:
        raise ValueError(f"The customers table lacks the columns {', '.join(missing)}.")
    end = pd.Timestamp(as_of)
    first = pd.to_datetime(customers["first_purchase"])
    last = pd.to_datetime(customers["last_purchase"])
    previous = pd.to_datetime(customers["previous_purchase"])
    codes, _ = pd.factorize(customers["segment"])  # numbers group faster than text
    stage, p_alive = stage_numbers(
        x=customers["purchase_days"].to_numpy(dtype=float) - 1,
        t_x=(last - first).dt.days.to_numpy(dtype=float),
        age=(end - first).dt.days.to_numpy(dtype=float),
        t_prev=np.nan_to_num((previous - first).dt.days.to_numpy(dtype=float)),
        segments=codes,
        total_clv=customers["total_clv"].to_numpy(dtype=float),
        rules=rules,
        model=model,
        unit_days=unit_days,
    )
    names = stage_names(stage)
    return pd.DataFrame({"customer_id": customers["customer_id"].array, "stage": names, "p_alive": p_alive})


def stage_numbers(
    *,
    x: np.ndarray,
    t_x: np.ndarray,
    age: np.ndarray,
    t_prev: np.ndarray,
    segments: np.ndarray,
    total_clv: np.ndarray,
    rules: StageRules,
    model: BGNBD | None,
    unit_days: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``assign_stages`` on arrays: each customer's stage as its position in ``STAGES`` (int8) and
    the P(alive) it was judged on. ``x`` repeat purchases; ``t_x``, ``age`` and ``t_prev`` days from
    the first purchase to the last, to the date and to the purchase before the last (0 for
    one-time buyers); ``segments`` numbers (-1: no segment, in no group)."""
    segments = np.asarray(segments)
    if segments.dtype.kind == "f":  # below 0 or NaN: no segment
        segments = np.where(segments < 0, np.nan, segments)
    segments = _groups(segments)[0]  # once, for the three uses below

    x, t_x, age, t_prev = (np.asarray(v, dtype=float) for v in (x, t_x, age, t_prev))

    def alive(x_: np.ndarray, t_x_: np.ndarray, age_: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
        """At ``rows``: the model where a repeat purchase lets it judge, the customer's rhythm
        otherwise (the rhythm's typical gaps are of every customer)."""
        gap = _gaps(x_, t_x_, age_, segments)[rows]
        x_, t_x_, age_ = x_[rows], t_x_[rows], age_[rows]
        by_rhythm = _by_rhythm(gap, t_x_, age_, rules)
        if model is None:
            return by_rhythm
        by_model = model.p_alive(x_, t_x_ / unit_days, age_ / unit_days)
        return np.where(x_ > 0, by_model, by_rhythm)

    p_alive = alive(x, t_x, age, slice(None))
    recent_first = age < rules.new_days
    recent_last = (age - t_x) < rules.new_days
    # Just before the last purchase, was the customer lapsed? (Same rule, at that moment.) It
    # decides only the stage of a repeat buyer who bought lately and not first: judged for them.
    judged = np.flatnonzero((x > 0) & recent_last & ~recent_first)
    was_lapsed = np.zeros(len(x), dtype=bool)
    was_lapsed[judged] = alive(np.maximum(x - 1, 0), t_prev, t_x, judged) < rules.lapsed_below
    top = _top_share(np.asarray(total_clv, dtype=float), segments, rules.loyal_top_share)
    stage = np.select(
        [
            recent_first,
            recent_last & was_lapsed,
            (p_alive >= rules.active_min) & top,
            p_alive >= rules.active_min,
            p_alive >= rules.lapsed_below,
        ],
        [0, 1, 2, 3, 4],
        default=5,
    ).astype(np.int8)
    return stage, p_alive


def stage_names(stage: np.ndarray) -> pd.Series:
    """``STAGES`` names of stage numbers — through Arrow: a million short texts built from six,
    not converted one by one."""
    names = pa.DictionaryArray.from_arrays(pa.array(stage), pa.array(list(STAGES))).cast(pa.string())
    return names.to_pandas()


#: the column of a ``stage_tally`` that counts its customers
TALLIED = "customers"
_TALLY_BY = ("segment", "region", "channel", "stage")


def stage_counts(stages: pd.DataFrame, mask: np.ndarray | None = None) -> pd.Series:
    """Customers per stage, in the order of ``STAGES`` (zeros included); of the rows in ``mask``
    only, when given (``kpi.customer_value.chosen_mask``: no table of the chosen rows is made). A
    ``stage_tally`` counts each of its rows as its ``customers``."""
    stage = stages["stage"]
    weights = stages[TALLIED].to_numpy() if TALLIED in stages.columns else None
    if mask is not None and weights is not None:
        weights = weights[mask]
    if isinstance(stage.dtype, pd.CategoricalDtype) and list(stage.cat.categories) == list(STAGES):
        codes = stage.cat.codes.to_numpy()
        if mask is not None:
            codes = codes[mask]
        staged = codes >= 0
        counts = np.bincount(
            codes[staged], weights=None if weights is None else weights[staged], minlength=len(STAGES)
        ).astype(np.int64)
        return pd.Series(counts, index=pd.Index(list(STAGES), dtype="str", name="stage"), name="count")
    if mask is not None:
        stage = stage[mask]
    if weights is None:
        return stage.value_counts().reindex(list(STAGES), fill_value=0)
    return pd.Series(weights, index=stage.index).groupby(stage).sum().reindex(list(STAGES), fill_value=0)


def stage_tally(stages: pd.DataFrame) -> pd.DataFrame:
    """``stages`` (a stage table of every customer) counted per segment, region, channel and stage:
    one row per combination met, with its ``customers``, the four columns as they were. What
    ``stage_counts`` and ``kpi.customer_value.chosen_mask`` give on it for any filters, they give
    on the table itself: a month end of the lifecycle page's stages over time is a few hundred rows
    instead of a row per customer (at a million customers, 20–28 MB a month end)."""
    columns = [stages[name] for name in _TALLY_BY]
    if all(isinstance(c.dtype, pd.CategoricalDtype) for c in columns):  # codes: one count per row
        sizes = [len(c.cat.categories) + 1 for c in columns]  # +1: missing (code -1)
        key = np.zeros(len(stages), dtype=np.int64)
        for c, size in zip(columns, sizes, strict=True):
            key = key * size + (c.cat.codes.to_numpy().astype(np.int64) + 1)
        counts = np.bincount(key, minlength=int(np.prod(sizes)))
        found = np.flatnonzero(counts)
        out: dict[str, Any] = {}
        rest = found
        for name, c, size in reversed(list(zip(_TALLY_BY, columns, sizes, strict=True))):
            out[name] = pd.Categorical.from_codes(rest % size - 1, dtype=c.dtype)
            rest = rest // size
        return pd.DataFrame({name: out[name] for name in _TALLY_BY} | {TALLIED: counts[found].astype(np.int64)})
    grouped = stages.groupby(list(_TALLY_BY), dropna=False, observed=True, sort=False).size()
    return grouped.rename(TALLIED).reset_index()


def at_risk_value(stages: pd.DataFrame, mask: np.ndarray | None = None) -> float:
    """The value of the customers at risk: their lifetime value (``total_clv``; a customer worth
    less than nothing counts as nothing) summed over the ``at_risk`` stage (of the rows in
    ``mask`` only, when given)."""
    stage = stages["stage"]
    if isinstance(stage.dtype, pd.CategoricalDtype):
        risky = np.append(stage.cat.categories == "at_risk", False)[stage.cat.codes.to_numpy()]
    else:
        risky = (stage == "at_risk").to_numpy(dtype=bool, na_value=False)
    if mask is not None:
        risky = risky & mask
    return float(np.clip(stages["total_clv"].to_numpy(dtype=float)[risky], 0, None).sum())


def transitions(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Moves between two stage tables: ``source``, ``target``, ``customers``. Customers present
    only in ``after`` come from ``not_yet`` (not a customer yet at the earlier date)."""
    merged = after[["customer_id", "stage"]].merge(
        before[["customer_id", "stage"]], on="customer_id", how="left", suffixes=("", "_before")
    )
    # (an earlier date's stages may be categories, which take no new name: as names first)
    merged["stage_before"] = merged["stage_before"].astype(object).fillna("not_yet")
    moves = merged.groupby(["stage_before", "stage"]).size().reset_index(name="customers")
    return moves.rename(columns={"stage_before": "source", "stage": "target"})

"""What the lifecycle page shows for one selection of customers, made once per filters and dates
and kept by the app: coming back to the page does not match a million customers again."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from data.filters import Filters
from kpi.customer_value import chosen_mask, select_customers
from kpi.lifecycle import STAGES, at_risk_value, stage_counts, transitions

__all__ = ["MOVES_FROM", "Moves", "Standing", "month_ends", "moves", "moves_from", "standing"]

#: the months back the lifecycle page offers to compare with (its first is the default)
MOVES_FROM = (3, 6, 12)


@dataclass(frozen=True)
class Standing:
    """The chosen customers per stage now, and the value at risk now and at an earlier date."""

    counts: pd.Series  # ``stage_counts``
    at_risk_now: float
    at_risk_before: float


@dataclass(frozen=True)
class Moves:
    """How the chosen customers moved between two dates, and the customers now at risk with what
    is at stake (their lifetime value times the fall of their P(alive)), the most at stake first."""

    moves: pd.DataFrame  # ``transitions``
    at_risk: pd.DataFrame  # customer_id, segment, last_purchase, p_before, p_alive, total_clv, at_stake


def month_ends(start: date, as_of: date) -> tuple[date, ...]:
    """The dates of the lifecycle page's stages over time: where the period starts (the day before
    ``start``: the previous period's end, the date the overview compares with, so that both pages
    say the same "from … to …"), then each month end up to ``as_of``, and ``as_of`` itself when it
    is not one. A period of more than twelve month ends: the last twelve only."""
    ends = pd.date_range(pd.Timestamp(start), pd.Timestamp(as_of), freq="ME")
    if len(ends) == 0 or ends[-1] < pd.Timestamp(as_of):
        ends = ends.append(pd.DatetimeIndex([pd.Timestamp(as_of)]))
    dates = tuple(end.date() for end in ends)
    return dates[-12:] if len(dates) > 12 else (start - timedelta(days=1), *dates)


def moves_from(as_of: date, months_back: int) -> date:
    """The earlier date of the lifecycle page's moves: ``months_back`` months before ``as_of``."""
    return (pd.Timestamp(as_of) - pd.DateOffset(months=months_back)).date()


def standing(now: pd.DataFrame, earlier: pd.DataFrame, filters: Filters) -> Standing:
    """``Standing`` of the customers within ``filters``: ``now`` and ``earlier`` are every
    customer's stages at the two dates."""
    chosen = chosen_mask(now, filters.segments, filters.regions, filters.channels)
    then = chosen_mask(earlier, filters.segments, filters.regions, filters.channels)
    return Standing(stage_counts(now, chosen), at_risk_value(now, chosen), at_risk_value(earlier, then))


def moves(now: pd.DataFrame, before: pd.DataFrame, filters: Filters) -> Moves:
    """``Moves`` of the customers within ``filters`` from ``before`` to ``now`` (every customer's
    stages at the two dates; ``now`` with the CLV table's columns). The two tables are matched
    customer by customer once (``_aligned``); a filter change only picks rows."""
    aligned = _aligned(now, before)
    if aligned is None:  # ids that cannot be matched by position (repeated): by a join
        return _moves_joined(now, before, filters)
    position, now_stage, before_stage = aligned
    chosen = chosen_mask(now, filters.segments, filters.regions, filters.channels)
    rows = np.arange(len(now)) if chosen is None else np.flatnonzero(chosen)
    at = position[rows]
    known = at >= 0
    then = chosen_mask(before, filters.segments, filters.regions, filters.channels)
    if then is not None:
        known[known] = then[at[known]]
    names = [*STAGES, _NOT_YET]
    source = np.full(len(rows), len(STAGES), dtype=np.int64)
    source[known] = before_stage[at[known]]
    target = now_stage[rows]
    counted = target >= 0
    pairs = np.bincount(source[counted] * len(names) + target[counted], minlength=len(names) * len(STAGES))
    found = np.flatnonzero(pairs)
    flows = pd.DataFrame(
        {
            "source": np.asarray([names[i] for i in found // len(names)], dtype=object),
            "target": pd.array([STAGES[i] for i in found % len(names)], dtype="str"),
            "customers": pairs[found].astype(np.int64),
        }
    )
    flows = flows.sort_values(["source", "target"], kind="stable").reset_index(drop=True)
    risky = rows[target == STAGES.index("at_risk")]
    was = position[risky]
    matched = was >= 0
    if then is not None:
        matched[matched] = then[was[matched]]
    p_before = np.full(len(risky), np.nan)
    p_before[matched] = before["p_alive"].to_numpy(dtype=float)[was[matched]]
    table = now.iloc[risky].reset_index(drop=True).assign(p_before=np.where(np.isnan(p_before), 1.0, p_before))
    return Moves(flows, _at_stake(table))


_NOT_YET = "not_yet"
_AT_RISK_COLUMNS = ["customer_id", "segment", "last_purchase", "p_before", "p_alive", "total_clv", "at_stake"]


def _at_stake(risky: pd.DataFrame) -> pd.DataFrame:
    risky["at_stake"] = risky["total_clv"].clip(lower=0) * (risky["p_before"] - risky["p_alive"]).clip(lower=0)
    return risky.sort_values("at_stake", ascending=False)[_AT_RISK_COLUMNS].reset_index(drop=True)


def _moves_joined(now: pd.DataFrame, before: pd.DataFrame, filters: Filters) -> Moves:
    chosen = select_customers(now, filters.segments, filters.regions, filters.channels)
    then = select_customers(before, filters.segments, filters.regions, filters.channels)
    risky = chosen[chosen["stage"] == "at_risk"].merge(
        then[["customer_id", "p_alive"]].rename(columns={"p_alive": "p_before"}), on="customer_id", how="left"
    )
    risky["p_before"] = risky["p_before"].fillna(1.0)
    return Moves(transitions(then, chosen), _at_stake(risky))


def _stage_numbers(stage: pd.Series) -> np.ndarray:
    """Positions in ``STAGES`` of a column of stages (-1: not a stage)."""
    if isinstance(stage.dtype, pd.CategoricalDtype) and list(stage.cat.categories) == list(STAGES):
        return stage.cat.codes.to_numpy().astype(np.int64)
    return pd.Categorical(stage, categories=list(STAGES)).codes.astype(np.int64)


_ALIGNED_KEPT = 8
_ALIGNED: dict[tuple[int, int], tuple[Any, Any, tuple[np.ndarray, np.ndarray, np.ndarray] | None]] = {}
_ALIGNED_LOCK = threading.Lock()


def _aligned(now: pd.DataFrame, before: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per row of ``now``: its customer's row in ``before`` (-1: none), and both tables' stages as
    positions in ``STAGES`` — made once per pair of tables (the tables are kept by the app and
    never changed), None when a table repeats an id."""
    key = (id(now), id(before))
    with _ALIGNED_LOCK:
        found = _ALIGNED.get(key)
        if found is not None and found[0]() is now and found[1]() is before:
            return found[2]
    ids = pd.Index(before["customer_id"])
    made = None
    if ids.is_unique and pd.Index(now["customer_id"]).is_unique:
        position = ids.get_indexer(now["customer_id"]).astype(np.int64)
        made = (position, _stage_numbers(now["stage"]), _stage_numbers(before["stage"]))
    with _ALIGNED_LOCK:
        _ALIGNED[key] = (weakref.ref(now), weakref.ref(before), made)
        while len(_ALIGNED) > _ALIGNED_KEPT:
            del _ALIGNED[next(iter(_ALIGNED))]
    return made

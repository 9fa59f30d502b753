"""The owner's targets (``[[targets]]``) against what happened and where the period is heading, for
the overview, ``cli.py targets`` and the report. No Streamlit here."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from data import facts as fx
from data.facts import Facts
from data.filters import Filters
from data.settings import TARGET_KPIS, ConfigError, Target
from data.source import MappingError, Source
from data.targets import TargetRows, read_targets_file, read_targets_table
from kpi.customer_value import CLVResult, clv_overview, select_customers
from kpi.forecast import band, month_shares
from kpi.periods import add_months
from kpi.registry import KPIS
from kpi.roi import marketing_summary
from kpi.targets import ADDITIVE, Judged, judge, pro_rata
from service.compute import roi_table
from service.forecast import ForecastView

__all__ = [
    "CURRENT",
    "TARGET_COLUMNS",
    "TargetSet",
    "applies",
    "current_values",
    "month_targets",
    "target_rows",
    "targets_for",
    "unknown_segments",
]

TARGET_COLUMNS = ["kpi", "period", "segment", "target", "actual", "value", "low", "high", "basis", "status"]
#: the measures of a span of days
MEASURED = ("revenue", "margin", "orders", "new_customers", "active_customers", "repeat_customers")
#: judged on today's value (given by the caller), not over a period
CURRENT = ("avg_clv", "clv_cac", "marketing_roi")


def applies(target: Target, filters: Filters) -> bool:
    """A target is for the whole company or one segment: it applies when the filters choose exactly
    that (no region or channel filter)."""
    if filters.regions or filters.channels:
        return False
    if target.segment is None:
        return not filters.segments
    return tuple(filters.segments) == (target.segment,)


def unknown_segments(targets: tuple[Target, ...], segments: list[str]) -> list[tuple[str, Target]]:
    """The targets naming a segment the data do not have, each with its settings key
    (``targets[3].segment``): the page warns and leaves them out, the command line stops."""
    known = set(segments)
    return [
        (f"{target.origin or f'targets[{number}]'}.segment", target)
        for number, target in enumerate(targets, start=1)
        if target.segment is not None and target.segment not in known
    ]


@dataclass(frozen=True)
class TargetSet:
    """Every usable target — ``cruscotto.toml``'s, then the form's file's, then the source's
    ``targets`` table's — and the problems of the rows left out, each naming its key. ``file``:
    the form's file (None: no form); ``from_file``: its targets, which the form edits."""

    targets: tuple[Target, ...]
    problems: tuple[ConfigError | MappingError, ...]  # each with the ``key`` to fix
    file: str | None
    from_file: tuple[Target, ...]
    #: what is set elsewhere (the settings, the source's table): KPI, period, segment → where
    elsewhere: dict[tuple[str, str, str | None], str]
    #: the form's file's rows that are not usable targets: the form does not save over them
    file_problems: tuple[ConfigError, ...] = ()


def targets_for(source: Source) -> TargetSet:
    """The targets of ``source``'s settings, the source's ``targets`` table and the form's file, in
    that order: a target set in two places is kept where it was set first, and the other row is
    named (the form's file gives way, as the form says)."""
    settings = source.settings
    read = read_targets_file(settings.targets_file) if settings.targets_file else TargetRows()
    table = read_targets_table(source)
    chosen = {t.key: t for t in settings.targets}
    problems: list[ConfigError | MappingError] = [*table.problems, *read.problems]
    broken = source.errors().get("targets")  # a table named in the settings that cannot be read
    if broken is not None:
        problems.insert(0, broken)
    for target in (*table.targets, *read.targets):
        if target.key in chosen:
            problems.append(ConfigError(target.origin, "config.target_elsewhere", other=chosen[target.key].origin))
        else:
            chosen[target.key] = target
    order = list(TARGET_KPIS)  # the KPIs in the dashboard's order, wherever they were set
    ranked = sorted(chosen.values(), key=lambda x: order.index(x.kpi))
    elsewhere = {t.key: t.origin for t in (*table.targets, *settings.targets)}
    return TargetSet(tuple(ranked), tuple(problems), settings.targets_file, read.targets, elsewhere, read.problems)


def _span(target: Target) -> tuple[date, date]:
    if target.month is None:
        return date(target.year, 1, 1), date(target.year, 12, 31)
    last = calendar.monthrange(target.year, target.month)[1]
    return date(target.year, target.month, 1), date(target.year, target.month, last)


def _to_date(facts: Facts, filters: Filters, start: date, end: date) -> dict[str, float]:
    """The additive measures of the chosen customers from ``start`` to ``end``, and the customers
    who bought and the repeat customers then."""
    measures = fx.period_measures(facts, Filters(segments=filters.segments, start=start, end=end))
    row = measures.set_index("period").loc["current"]
    return {
        k: float(row[k])
        for k in ("revenue", "margin", "orders", "new_customers", "active_customers", "repeat_customers")
    }


def target_rows(
    facts: Facts,
    filters: Filters,
    targets: tuple[Target, ...],
    as_of: date,
    view: ForecastView | None,
    current: dict[str, float],
) -> pd.DataFrame:
    """Every target of ``as_of``'s year that applies to ``filters`` (``applies``), judged: the
    target, the value to date, the value it is judged on and its band, how, and the status
    (``kpi.targets``). ``view``: the forecast after ``as_of`` for the same filters (None: counts
    are judged on the share of the period gone by); ``current``: today's value of ``CURRENT`` KPIs."""
    rows = []
    forecast = view.table if view is not None else None
    for target in targets:
        if target.year != as_of.year or not applies(target, filters):
            continue
        start, end = _span(target)
        higher = KPIS[target.kpi].higher_is_better
        if target.kpi in CURRENT:
            value = current.get(target.kpi, float("nan"))
            judged = judge(target.value, value, higher_is_better=higher) if np.isfinite(value) else None
            rows.append(_row(target, value, judged))
            continue
        actual = dict.fromkeys(MEASURED, 0.0) if start > as_of else _to_date(facts, filters, start, min(end, as_of))
        over = end <= as_of
        ahead = None
        if not over and forecast is not None:
            months = forecast[(forecast["month"] >= pd.Timestamp(start)) & (forecast["month"] <= pd.Timestamp(end))]
            last_covered = months["month"].max() if len(months) else None
            # the forecast must reach the period's end to project it
            if last_covered is not None and last_covered >= pd.Timestamp(end.replace(day=1)):
                ahead = months
        due = _due_share(facts, filters, target.kpi, start, end, as_of)
        judged = _judged(target, actual, ahead, view, higher, over, start, end, as_of, due)
        rows.append(_row(target, _actual_value(target.kpi, actual), judged))
    return pd.DataFrame(rows, columns=TARGET_COLUMNS)


def _actual_value(kpi: str, actual: dict[str, float]) -> float:
    if kpi == "margin_pct":
        return actual["margin"] / actual["revenue"] if actual["revenue"] else float("nan")
    if kpi == "aov":
        return actual["revenue"] / actual["orders"] if actual["orders"] else float("nan")
    return actual[kpi]


def _judged(
    target: Target,
    actual: dict[str, float],
    ahead: pd.DataFrame | None,
    view: ForecastView | None,
    higher: bool,
    over: bool,
    start: date,
    end: date,
    as_of: date,
    due: float,
) -> Judged | None:
    kpi = target.kpi
    now = _actual_value(kpi, actual)
    if over:
        return judge(target.value, now, higher_is_better=higher, basis="final") if np.isfinite(now) else None
    if ahead is not None and view is not None and (kpi in ADDITIVE or kpi in ("margin_pct", "aov")):
        total = {k: actual[k] + float(ahead[k].sum()) for k in ("revenue", "margin", "orders")}
        if kpi in ("revenue", "margin", "orders"):
            # the band of the months left together, as the overview's card: chance adds up across
            # months, the model's error is the backtest's on its whole span
            months = view.detail[view.detail["month"].isin(ahead["month"])]
            error = abs((view.errors or {}).get(kpi, {}).get("total", 0.0))
            low, high = band(
                np.array([months[kpi].sum()]),
                np.array([months[f"{kpi}_variance"].sum()]),
                error if np.isfinite(error) else 0.0,
            )
            return judge(
                target.value,
                total[kpi],
                low=actual[kpi] + float(low[0]),
                high=actual[kpi] + float(high[0]),
                higher_is_better=higher,
                basis="projection",
            )
        if kpi == "new_customers":  # a first month partly gone brings its part of the month's pace
            first_in_span = int((view.table["month"] < ahead["month"].iloc[0]).sum()) if len(ahead) else 0
            shares = month_shares(as_of, len(view.table))[first_in_span : first_in_span + len(ahead)]
            value = actual[kpi] + view.new_per_month * float(shares.sum())
            return judge(target.value, value, higher_is_better=higher, basis="projection")
        value = _actual_value(kpi, total | {"new_customers": 0.0, "active_customers": 0.0, "repeat_customers": 0.0})
        return judge(target.value, value, higher_is_better=higher, basis="projection") if np.isfinite(value) else None
    if not np.isfinite(now):
        return None
    if kpi in ("margin_pct", "aov"):  # a ratio to date: judged as it stands
        return judge(target.value, now, higher_is_better=higher, basis="to_date")
    return pro_rata(target.value, now, due, higher_is_better=higher)


def _due_share(facts: Facts, filters: Filters, kpi: str, start: date, end: date, as_of: date) -> float:
    """The share of a period's target due by ``as_of``: the share of its days gone by, except for
    counts of distinct customers, which grow fastest early on — for them the share the same period
    a year before had reached by the same day (the days' share when there is no year before)."""
    if as_of < start:
        return 0.0
    days = ((as_of - start).days + 1) / ((end - start).days + 1)
    if kpi not in ("active_customers", "repeat_customers"):
        return days
    before = [add_months(d, -12) for d in (start, min(as_of, end), end)]
    first, _last = facts.date_range()
    if first is None or before[0] < first:
        return days
    whole = _to_date(facts, filters, before[0], before[2])[kpi]
    so_far = _to_date(facts, filters, before[0], before[1])[kpi]
    return so_far / whole if whole > 0 else days


def _row(target: Target, actual: float, judged: Judged | None) -> dict[str, object]:
    return {
        "kpi": target.kpi,
        "period": target.period,
        "segment": target.segment,
        "target": target.value,
        "actual": actual,
        "value": judged.value if judged else float("nan"),
        "low": judged.low if judged and judged.low is not None else float("nan"),
        "high": judged.high if judged and judged.high is not None else float("nan"),
        "basis": judged.basis if judged else None,
        "status": judged.status if judged else None,
    }


def month_targets(targets: tuple[Target, ...], filters: Filters, kpi: str = "revenue") -> pd.DataFrame:
    """The monthly targets of ``kpi`` that apply to ``filters``: ``month`` (first day), ``target``."""
    chosen = [t for t in targets if t.kpi == kpi and t.month is not None and applies(t, filters)]
    return pd.DataFrame(
        {
            "month": pd.to_datetime([date(t.year, t.month or 1, 1) for t in chosen]),
            "target": [t.value for t in chosen],
        }
    ).sort_values("month")


def current_values(source: Source, filters: Filters, as_of: date, today: date, clv: CLVResult) -> dict[str, float]:
    """Today's value of the ``CURRENT`` KPIs for the chosen customers, as the overview shows them:
    the average CLV and CLV : CAC from ``clv`` (fitted at ``as_of``) and the marketing ROI over the
    customers' life (NaN without campaigns)."""
    head = clv_overview(select_customers(clv.table, filters.segments, filters.regions, filters.channels))
    roi = float("nan")
    if source.available("campaigns"):
        table = roi_table(source, filters, as_of, today, clv)
        roi = marketing_summary(table).get("roi_lifetime", float("nan")) if len(table) else float("nan")
    return {"avg_clv": head["avg_clv"], "clv_cac": head["clv_cac"], "marketing_roi": roi}

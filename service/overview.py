"""The overview's figures of customer value at the end of the period and of the previous one: what
the overview's cards, its headline, the alerts and the command line show. No Streamlit here.

Where the tables come from is the caller's: the app passes its shared caches (``ui.loaders.
CachedInputs``), a command or the report ``DirectInputs``, which fits each date once. Either way
the previous period's end is judged by the model fitted at this period's end, on the customers'
history up to then: a change between the two dates is a change in the customers, not in the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import pandas as pd

from data.facts import Facts
from data.filters import Filters
from data.source import Source
from kpi.customer_value import CLVResult, clv_overview, select_customers
from kpi.engagement import engagement_overview
from kpi.lifecycle import at_risk_value, stage_counts
from kpi.roi import marketing_summary
from service import compute
from service.cores import on_two_cores

__all__ = ["DirectInputs", "Inputs", "ValueFigures", "value_figures"]


class Inputs(Protocol):
    """Every customer's tables at ``as_of`` judged by the model fitted at ``anchor`` (≥ ``as_of``)."""

    def clv(self, as_of: date, anchor: date) -> CLVResult: ...

    def stages(self, as_of: date, anchor: date) -> pd.DataFrame: ...

    def engagement(self, as_of: date, anchor: date) -> pd.DataFrame: ...

    def roi(self, filters: Filters, as_of: date, anchor: date) -> pd.DataFrame | None: ...


class DirectInputs:
    """``Inputs`` computed here, each model fitted once per date: for one command or one report."""

    def __init__(
        self,
        source: Source,
        today: date,
        facts: Facts | None = None,
        fitted: Callable[[date], CLVResult] | None = None,
    ) -> None:
        self.source, self.today = source, today
        self.facts = facts or compute.facts_for(source, today)
        self.fitted = fitted or compute.fits(source, today, self.facts)  # or a report's own, shared

    def clv(self, as_of: date, anchor: date) -> CLVResult:
        if as_of >= anchor:
            return self.fitted(anchor)
        past = compute.history(self.source, anchor, self.today, self.facts)
        return compute.clv_from_history(self.source, past, as_of, self.fitted(anchor))

    def stages(self, as_of: date, anchor: date) -> pd.DataFrame:
        if as_of >= anchor:
            return compute.stages_at(self.source, anchor, self.today, self.fitted(anchor))
        past = compute.history(self.source, anchor, self.today, self.facts)
        return compute.past_stages(self.source, past, as_of, self.fitted(anchor))

    def engagement(self, as_of: date, anchor: date) -> pd.DataFrame:
        return compute.engagement_tables(self.source, self.facts, self.clv(as_of, anchor), as_of)[0]

    def roi(self, filters: Filters, as_of: date, anchor: date) -> pd.DataFrame | None:
        if not self.source.available("campaigns"):
            return None
        return compute.roi_table(self.source, filters, as_of, self.today, self.clv(as_of, anchor), facts=self.facts)


@dataclass(frozen=True)
class ValueFigures:
    """The value KPIs of the chosen customers at the period's end (``now``) and at the previous
    period's end (``before``), by KPI name; the campaigns that do not pay back at the period's end
    and, of these, the ones that still paid back at the previous period's end."""

    now: dict[str, float]
    before: dict[str, float]
    to_stop: tuple[str, ...]
    stopped: tuple[str, ...]
    #: the same campaigns by id (two campaigns may share a name)
    to_stop_ids: tuple[Any, ...] = ()
    stopped_ids: tuple[Any, ...] = ()


def value_figures(source: Source, inputs: Inputs, filters: Filters, previous_end: date) -> ValueFigures:
    """The value KPIs of ``filters`` (which carry the period) at its end and at ``previous_end``."""
    assert filters.end is not None
    anchor = filters.end
    engaged = source.available("referrals") or source.available("engagements")
    f = filters

    def figures_at(end: date) -> tuple[dict[str, float], pd.DataFrame | None]:
        figures = clv_overview(select_customers(inputs.clv(end, anchor).table, f.segments, f.regions, f.channels))
        if engaged:
            everyone = inputs.engagement(end, anchor)
            figures |= engagement_overview(select_customers(everyone, f.segments, f.regions, f.channels))
        roi = inputs.roi(f, end, anchor)
        summary = marketing_summary(roi) if roi is not None and len(roi) else {}
        figures["marketing_roi"] = summary.get("roi_lifetime", math.nan)
        figures["marketing_roi_to_date"] = summary.get("roi_to_date", math.nan)
        stages = select_customers(inputs.stages(end, anchor), f.segments, f.regions, f.channels)
        counts = stage_counts(stages)
        figures["at_risk_customers"] = float(counts["at_risk"])
        figures["lapsed_customers"] = float(counts["lapsed"])
        figures["at_risk_value"] = at_risk_value(stages)
        return figures, roi

    # the two dates on two cores: the earlier one is judged by the model fitted at the period's
    # end, so its thread waits for that fit, then makes its tables while the other makes today's
    (now, roi), (before, roi_before) = on_two_cores([lambda: figures_at(anchor), lambda: figures_at(previous_end)])
    value = {"now": now, "before": before}
    not_paying = {
        when: [] if table is None else list(table.loc[table["verdict"] == "does_not_pay", "campaign_id"])
        for when, table in (("now", roi), ("before", roi_before))
    }
    names: dict[Any, str] = {} if roi is None else dict(zip(roi["campaign_id"], roi["name"], strict=True))
    # a campaign stopped paying back if it did then (not: if it was not there)
    paying = roi_before["verdict"].isin(["pays_first", "pays_lifetime"]) if roi_before is not None else None
    paid: list[Any] = [] if roi_before is None else list(roi_before.loc[paying, "campaign_id"])
    stopped = tuple(c for c in not_paying["now"] if c in set(paid))
    return ValueFigures(
        value["now"],
        value["before"],
        tuple(names[c] for c in not_paying["now"]),
        tuple(names[c] for c in stopped),
        tuple(not_paying["now"]),
        stopped,
    )

"""Alerts: what went wrong in the period, found without opening the app — the owner's own rules
(``[[alerts]]``) and the built-in ones (``[builtin_alerts]``): a campaign that does not pay back,
the value of the customers at risk rising, a target off track, a month below its forecast's range,
rows of the source left out. No Streamlit here: the overview, ``cli.py alerts`` and the e-mail
share them; ``render.text.alert_text`` puts one in words.

Every alert follows the filters it is evaluated for, as the overview's figures do: a rule or a
target for a segment applies when the filters include it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from data import facts as fx
from data.facts import Facts
from data.filters import Filters, previous_period
from data.settings import ALERT_SHARES, AlertRule, Target
from data.source import Source
from kpi.forecast import Z_80
from kpi.overview import OVERVIEW_KPIS, overview_kpis, safe_ratio
from service import compute
from service.forecast import ForecastView, forecast_for
from service.overview import DirectInputs, Inputs, ValueFigures, value_figures
from service.targets import current_values, target_rows, targets_for

__all__ = [
    "ALERT_PAGES",
    "Alert",
    "alerts_for",
    "find_alerts",
    "rule_filters",
    "unknown_rule_segments",
    "unmeasured_rules",
]

#: the page that explains each kind of alert (its address)
ALERT_PAGES = {
    "rule": "panoramica",
    "target": "panoramica",
    "forecast": "panoramica",
    "at_risk_value": "ciclo-di-vita",
    "campaign": "marketing",
    "data_health": "dati",
}


@dataclass(frozen=True)
class Alert:
    """One alert, in facts: its ``kind`` (a key of ``ALERT_PAGES``), the figures its sentence
    names (``values``: name → value; ``formats``: name → money, percent, points, change, count,
    ratio, kpi, month or text), the filters of the view that explains it, and the setting that
    makes it (``origin``: ``alerts[2]``, ``builtin_alerts.campaigns``) — where to change or mute it."""

    kind: str
    values: dict[str, Any]
    formats: dict[str, str]
    filters: Filters
    origin: str
    #: the message's variant (``below``, ``change_above``, ``stopped``…), "" for the kind's own
    variant: str = ""
    #: a count that decides the sentence's plural form (1 when there is none)
    count: int = 1
    #: the one item the alert is about, which its page opens in detail: ("campaign", its id)
    opens: tuple[str, Any] | None = None

    @property
    def page(self) -> str:
        return ALERT_PAGES[self.kind]


def rule_filters(rule_segment: str | None, filters: Filters) -> Filters | None:
    """The filters a rule or target for ``rule_segment`` is judged on within ``filters``: its
    segment alone; None when the filters leave that segment out."""
    if rule_segment is None:
        return filters
    if filters.segments and rule_segment not in filters.segments:
        return None
    return replace(filters, segments=(rule_segment,))


def unknown_rule_segments(rules: tuple[AlertRule, ...], segments: list[str]) -> list[AlertRule]:
    """The rules naming a segment the data does not have (they could never fire)."""
    return [rule for rule in rules if rule.segment is not None and rule.segment not in segments]


#: the KPIs that need a table besides the orders, and the tables (any one of them)
_NEEDS = {
    "avg_cev": ("referrals", "engagements"),
    "engagement_share": ("referrals", "engagements"),
    "marketing_roi": ("campaigns",),
    "marketing_roi_to_date": ("campaigns",),
}


def unmeasured_rules(source: Source) -> list[tuple[AlertRule, str]]:
    """The rules on a KPI the source cannot give (no campaigns, no referrals or engagements): they
    could never fire. Each with the table to map."""
    out = []
    for rule in source.settings.alerts:
        needed = _NEEDS.get(rule.kpi, ())
        if needed and not any(source.available(name) for name in needed):
            out.append((rule, needed[0]))
    return out


def find_alerts(
    source: Source,
    facts: Facts,
    filters: Filters,
    inputs: Inputs,
    *,
    targets: tuple[Target, ...] = (),
    forecast: ForecastView | None = None,
    current: dict[str, float] | None = None,
    figures: Callable[[Filters, date], ValueFigures] | None = None,
    forecast_of: Callable[[Filters], ForecastView | None] | None = None,
    current_of: Callable[[Filters], dict[str, float]] | None = None,
) -> list[Alert]:
    """Every alert of ``filters``' period (which must carry one) within those filters, the owner's
    rules first. ``forecast``: the forecast from the data's end for ``filters`` (None: the period
    does not reach the data's end, or there is no model); ``current``: today's CLV, CLV : CAC and
    marketing ROI for the targets of those KPIs; ``figures``: the value KPIs of some filters at the
    period's end and at a date (default ``service.overview.value_figures`` over ``inputs``);
    ``forecast_of`` and ``current_of``: the same two for other filters — a segment's targets are
    judged on that segment when the filters include it (default: none for other filters)."""
    assert filters.start is not None and filters.end is not None
    settings = source.settings
    builtin = settings.builtin_alerts
    prev_end = previous_period(filters.start, filters.end)[1]
    done: dict[Filters, ValueFigures] = {}

    def value_of(chosen: Filters) -> ValueFigures:
        if chosen not in done:
            made = figures or (lambda f, end: value_figures(source, inputs, f, end))
            done[chosen] = made(chosen, prev_end)
        return done[chosen]

    out: list[Alert] = []
    segments = {str(label) for label in facts.labels["segment"]}
    for rule in settings.alerts:
        if rule.segment is not None and rule.segment not in segments:
            continue  # said apart (unknown_rule_segments): no data is not a fall to zero
        chosen = rule_filters(rule.segment, filters)
        if chosen is not None:
            found = _rule(rule, chosen, facts, value_of)
            out += [found] if found else []
    if builtin.targets and targets:

        def forecast_for_filters(chosen: Filters) -> ForecastView | None:
            return forecast if chosen == filters else forecast_of(chosen) if forecast_of else None

        def current_for_filters(chosen: Filters) -> dict[str, float]:
            return (current or {}) if chosen == filters else current_of(chosen) if current_of else {}

        out += _targets(facts, filters, targets, forecast_for_filters, current_for_filters)
    if builtin.forecast and forecast is not None:
        out += _forecast(filters, forecast)
    if builtin.at_risk_value is not None:
        out += _at_risk(filters, value_of(filters), builtin.at_risk_value)
    if builtin.campaigns and source.available("campaigns"):
        out += _campaigns(filters, value_of(filters), inputs)
    if builtin.excluded_rows is not None:
        out += _data_health(source, facts, filters, builtin.excluded_rows)
    return out


def alerts_for(source: Source, filters: Filters, today: date, inputs: DirectInputs | None = None) -> list[Alert]:
    """``find_alerts`` for one command or one e-mail: the targets read, the forecast made when the
    period reaches the data's end, each model fitted once."""
    assert filters.end is not None
    inputs = inputs or DirectInputs(source, today)
    facts = inputs.facts
    builtin = source.settings.builtin_alerts
    targets = targets_for(source).targets if builtin.targets else ()
    _first, last = facts.date_range()
    view = None
    if (builtin.forecast or targets) and last is not None and filters.end >= last:
        view = forecast_for(facts, filters, source.settings.forecast, last, inputs.fitted)
    current = current_values(source, filters, filters.end, today, inputs.fitted(filters.end)) if targets else {}
    reaches = last is not None and filters.end >= last

    def forecast_of(chosen: Filters) -> ForecastView | None:
        assert last is not None
        return forecast_for(facts, chosen, source.settings.forecast, last, inputs.fitted) if reaches else None

    def current_of(chosen: Filters) -> dict[str, float]:
        assert chosen.end is not None
        return current_values(source, chosen, chosen.end, today, inputs.fitted(chosen.end))

    return find_alerts(
        source,
        facts,
        filters,
        inputs,
        targets=targets,
        forecast=view,
        current=current,
        forecast_of=forecast_of,
        current_of=current_of,
    )


def _rule(rule: AlertRule, filters: Filters, facts: Facts, value_of: Callable[[Filters], ValueFigures]) -> Alert | None:
    if rule.kpi in OVERVIEW_KPIS:
        row = overview_kpis(fx.period_measures(facts, filters)).set_index("kpi").loc[rule.kpi]
        now, before, change = float(row["value"]), float(row["previous"]), float(row["change"])
    else:
        found = value_of(filters)
        now, before = found.now.get(rule.kpi, math.nan), found.before.get(rule.kpi, math.nan)
        change = now - before if rule.kpi in ALERT_SHARES else safe_ratio(now - before, abs(before))
    judged = change if rule.change else now
    if not math.isfinite(judged):
        return None
    fires = judged < rule.threshold if rule.when == "below" else judged > rule.threshold
    if not fires:
        return None
    share = rule.kpi in ALERT_SHARES
    kind = ("points" if share else "change") if rule.change else "kpi"
    return Alert(
        "rule",
        values={
            "kpi": rule.kpi,
            "value": now,
            "before": before,
            "change": change,
            "threshold": rule.threshold,
            "name": rule.name or "",
            "segment": rule.segment or "",
        },
        formats={
            "kpi": "label",
            "value": "kpi",
            "before": "kpi",
            "change": "points" if share else "change",
            "threshold": kind,
            "name": "text",
            "segment": "text",
        },
        filters=filters,
        origin=rule.origin,
        variant=("change_" if rule.change else "") + rule.when,
    )


def _targets(
    facts: Facts,
    filters: Filters,
    targets: tuple[Target, ...],
    forecast_of: Callable[[Filters], ForecastView | None],
    current_of: Callable[[Filters], dict[str, float]],
) -> list[Alert]:
    """The targets of the data's year off track: the year's, the last whole month's (missed) and the
    month the data end in. A segment's targets are judged on that segment, when the filters include
    it; the company's when the filters choose no segment (``service.targets.applies``)."""
    assert filters.end is not None
    _first, last = facts.date_range()
    data_end = min(filters.end, last) if last else filters.end
    month_start = data_end.replace(day=1)
    last_whole = data_end if (data_end + timedelta(days=1)).day == 1 else month_start - timedelta(days=1)
    periods = {str(data_end.year), f"{data_end.year}-{data_end.month:02d}", f"{last_whole.year}-{last_whole.month:02d}"}
    by_segment: dict[str | None, list[Target]] = {}
    for target in targets:
        by_segment.setdefault(target.segment, []).append(target)
    out = []
    for segment, group in by_segment.items():
        chosen = rule_filters(segment, filters) if segment is not None else filters
        if chosen is None:
            continue
        rows = target_rows(facts, chosen, tuple(group), data_end, forecast_of(chosen), current_of(chosen))
        off = rows[(rows["status"] == "off_track") & rows["period"].isin(periods)]
        for row in off.itertuples():
            out.append(
                Alert(
                    "target",
                    values={
                        "kpi": row.kpi,
                        "period": row.period,
                        "segment": row.segment or "",
                        "value": row.value,
                        "target": row.target,
                    },
                    formats={"kpi": "label", "period": "period", "segment": "text", "value": "kpi", "target": "kpi"},
                    filters=chosen,
                    origin="builtin_alerts.targets",
                    variant=str(row.basis),
                )
            )
    return out


def _forecast(filters: Filters, forecast: ForecastView) -> list[Alert]:
    """The last month of the backtest (the last whole month of data) below the 80 % range its
    forecast gave — about one month in ten falls below by chance alone, so it is a month to look at,
    not a verdict. The range is the forecast's own (chance joined with the model's typical monthly
    error), the typical error taken on the other months: a large miss must not widen its own range."""
    table = forecast.backtest
    if table is None or not len(table) or "revenue_forecast_low" not in table:
        return []
    last = table.iloc[-1]
    low, high = float(last["revenue_forecast_low"]), float(last["revenue_forecast_high"])
    if "revenue_error" in table and len(table) > 1:
        expected = float(last["revenue_forecast"])
        errors = table["revenue_error"].to_numpy(dtype=float)
        every, others = errors[np.isfinite(errors)], errors[:-1][np.isfinite(errors[:-1])]
        if len(others) and expected > 0:
            typical = float(np.sqrt(np.mean(every**2))) if len(every) else 0.0
            chance = max(((high - expected) / Z_80) ** 2 - (typical * expected) ** 2, 0.0)
            spread = Z_80 * float(np.sqrt(chance + (float(np.sqrt(np.mean(others**2))) * expected) ** 2))
            low, high = max(expected - spread, 0.0), expected + spread
    if not float(last["revenue"]) < low:
        return []
    return [
        Alert(
            "forecast",
            values={
                "month": pd.Timestamp(last["month"]).date(),
                "value": float(last["revenue"]),
                "low": low,
                "high": high,
            },
            formats={"month": "month", "value": "money", "low": "money", "high": "money"},
            filters=filters,
            origin="builtin_alerts.forecast",
        )
    ]


def _at_risk(filters: Filters, found: ValueFigures, threshold: float) -> list[Alert]:
    now, before = found.now["at_risk_value"], found.before["at_risk_value"]
    rise = safe_ratio(now - before, abs(before))
    if not (math.isfinite(rise) and rise > threshold):
        return []
    customers = int(found.now["at_risk_customers"])
    return [
        Alert(
            "at_risk_value",
            values={"value": now, "before": before, "change": rise, "customers": customers},
            formats={"value": "money", "before": "money", "change": "percent", "customers": "count"},
            filters=filters,
            origin="builtin_alerts.at_risk_value",
            count=customers,
        )
    ]


def _campaigns(filters: Filters, found: ValueFigures, inputs: Inputs) -> list[Alert]:
    """One alert for the campaigns that no longer pay back (they did at the previous period's end),
    one for those that never did; each names the campaigns."""
    if not found.to_stop_ids:
        return []
    assert filters.end is not None
    roi = inputs.roi(filters, filters.end, filters.end)
    roi = roi if roi is not None else pd.DataFrame(columns=["name", "roi_lifetime", "campaign_id"])
    lifetime = dict(zip(roi["campaign_id"], roi["roi_lifetime"], strict=True))
    named = dict(zip(roi["campaign_id"], roi["name"], strict=True))
    out = []
    stopped = set(found.stopped_ids)
    for variant, ids in (
        ("stopped", [c for c in found.to_stop_ids if c in stopped]),
        ("", [c for c in found.to_stop_ids if c not in stopped]),
    ):
        if ids:
            out.append(
                Alert(
                    "campaign",
                    values={
                        "names": [named.get(c, str(c)) for c in ids],
                        "roi": lifetime.get(ids[0], math.nan) if len(ids) == 1 else math.nan,
                    },
                    formats={"names": "names", "roi": "percent"},
                    filters=filters,
                    origin="builtin_alerts.campaigns",
                    variant=variant,
                    count=len(ids),
                    opens=("campaign", ids[0]) if len(ids) == 1 else None,
                )
            )
    return out


#: the tables the alerts check besides the facts' own (``Facts.health``), when mapped: those the
#: overview reads anyway. The order lines and products are read by Opportunities, not here.
_CHECKED = ("referrals", "engagements", "targets")


def _data_health(source: Source, facts: Facts, filters: Filters, threshold: float) -> list[Alert]:
    """A table whose rows left out as unusable exceed ``threshold`` of the rows read."""
    out = []
    healths = dict(facts.health)
    for entity in _CHECKED:
        if entity not in healths and source.available(entity):
            healths[entity] = compute.entity_health(source, facts, entity)
    for entity, health in healths.items():
        read = int(health.get("rows_read", 0))
        left_out = int(sum(health.get("excluded", {}).values()))
        if read and left_out / read > threshold:
            out.append(
                Alert(
                    "data_health",
                    values={"entity": entity, "rows": left_out, "read": read, "share": left_out / read},
                    formats={"entity": "entity", "rows": "count", "read": "count", "share": "percent"},
                    filters=filters,
                    origin="builtin_alerts.excluded_rows",
                    count=left_out,
                )
            )
    return out

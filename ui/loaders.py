"""The app's cache boundary: one engine per source, the facts per read, results per filters.

The source is read and cleaned once per read (``service.served.facts``, read again in the background
when old); what every visitor shares — models, stages, engagement and upsell tables, the forecast —
is made once per read (``service.shared``, re-exported here); every loader keyed by the filters is a
pure function of those — a filter change sends no statement. Everything below this module (``data``,
``kpi``, ``service``) is plain Python; here results per filters are cached with ``st.cache_data``
(small frames) or in ``SHARED``, keyed by the read's served key and the frozen ``Filters`` value.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from data import facts as fx
from data import queries
from data.filters import Filters, previous_period
from data.settings import Settings
from data.source import Source
from kpi.customer_value import chosen_mask
from kpi.lifecycle import StageRules, stage_counts
from kpi.whatif import Scenario
from service import compute, overview, served
from service import engagement as service_engagement
from service import forecast as fc
from service import lifecycle as service_lifecycle
from service import upsell as service_upsell
from service import value as service_value
from service.alerts import Alert, find_alerts
from service.cores import beside, on_two_cores
from service.overview import ValueFigures
from service.served import (
    SHARED,
    TTL,
    apply_limits,
    facts,
    read_at,
    renewal_failed,
    renewing,
    served_key,
    source_key,
)
from service.shared import (
    SharedInputs,
    clv,
    clv_before,
    clv_holdout,
    engagement,
    engagement_groups,
    forecast_backtest,
    forecast_cells,
    history,
    holdings,
    lifecycle_stages,
    prepare_overview,
    read_ahead,
    referral_asks,
    roi,
    stage_tally,
    stages_before,
    upsell,
)
from service.targets import CURRENT, TargetSet, targets_for
from service.whatif import WhatIf
from service.whatif import figures as whatif_figures
from service.whatif import whatif as whatif_of

__all__ = [
    "SHARED",
    "CachedInputs",
    "advocates",
    "alerts",
    "apply_limits",
    "broad_privileges",
    "campaign_monthly_margin",
    "campaigns",
    "clear_all",
    "clv",
    "clv_before",
    "clv_holdout",
    "cohort_activity",
    "customer_names",
    "customer_orders",
    "data_warnings",
    "engagement",
    "engagement_by_campaign",
    "engagement_groups",
    "engagement_view",
    "entity_health",
    "facts",
    "filter_options",
    "get_source",
    "history",
    "ladder_position",
    "lifecycle_stages",
    "lifecycle_view",
    "marketing_roi",
    "monthly_by_segment",
    "order_date_range",
    "period_measures",
    "prepare_overview",
    "prospects",
    "read_ahead",
    "read_at",
    "referral_asks",
    "renewal_failed",
    "renewing",
    "segment_totals",
    "served_key",
    "source_key",
    "stage_history",
    "stages_before",
    "upsell",
    "upsell_options",
    "upsell_ready",
    "upsell_view",
    "value_figures",
    "value_view",
]

_shared = SHARED.memo
#: results per filters (small frames) kept per loader: bounded, whatever the visitors ask for
_ENTRIES = 256
#: what a page shows when ready instead of waiting for it (``upsell_ready``), made beside the pages
_SOON_LOCK = threading.Lock()
_SOON_JOBS: dict[tuple[Any, ...], Future[None]] = {}


def clear_all() -> None:
    """Forget every result: the shared ones and Streamlit's caches (a cold start without a restart)."""
    served.clear()
    st.cache_data.clear()
    st.cache_resource.clear()


@st.cache_resource(show_spinner=False)
def _cached_source(key: str, _url: str, _settings: Settings) -> Source:
    source = Source(settings=_settings, url=_url)
    source.ping()
    _ = source.resolution  # resolve the mapping once per source
    return source


def get_source(url: str, settings: Settings) -> Source:
    """The source for ``url`` and ``settings``; raises ``SourceUnavailable`` (not cached) on failure."""
    return _cached_source(source_key(url, settings), url, settings)


@st.cache_resource(ttl=TTL, show_spinner=False, max_entries=8)
def broad_privileges(_source: Source, key: str) -> list[str]:
    """What the source's user may do beyond reading (``Source.broad_privileges``)."""
    return _source.broad_privileges()


def filter_options(_source: Source, key: str, today: date) -> dict[str, list[str]]:
    return facts(_source, key, today).options


def order_date_range(_source: Source, key: str, today: date) -> tuple[date | None, date | None]:
    return facts(_source, key, today).date_range()


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def period_measures(_source: Source, key: str, filters: Filters, today: date) -> pd.DataFrame:
    return fx.period_measures(facts(_source, key, today), filters)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def monthly_by_segment(_source: Source, key: str, filters: Filters, today: date) -> pd.DataFrame:
    return fx.monthly_by_segment(facts(_source, key, today), filters)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def segment_totals(_source: Source, key: str, filters: Filters, today: date) -> pd.DataFrame:
    return fx.segment_totals(facts(_source, key, today), filters)


def campaigns(_source: Source, key: str, today: date) -> pd.DataFrame:
    found = facts(_source, key, today).campaigns
    return found if found is not None else queries.campaigns(_source, today)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def campaign_monthly_margin(_source: Source, key: str, filters: Filters, as_of: date, today: date) -> pd.DataFrame:
    return fx.campaign_monthly_margin(facts(_source, key, today), filters, as_of)


def entity_health(_source: Source, key: str, entity: str, today: date) -> dict[str, Any]:
    got = facts(_source, key, today)
    if entity in ("order_lines", "products") and entity not in got.health:
        holdings(_source, key, today)  # shared between sessions, like the facts
    return compute.entity_health(_source, got, entity)


def data_warnings(_source: Source, key: str, today: date) -> dict[str, float]:
    return fx.data_warnings(facts(_source, key, today))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def forecast(_source: Source, key: str, filters: Filters, as_of: date, today: date) -> fc.ForecastView | None:
    """The forecast after ``as_of`` for the chosen customers, judged by its backtest (None when the
    model could not be fitted)."""
    behind, actual = forecast_backtest(_source, key, as_of, today)
    ahead = forecast_cells(_source, key, as_of, today)
    return fc.forecast_view(facts(_source, key, today), filters, ahead, behind, actual)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def targets(_source: Source, key: str, today: date, file_stamp: float | None) -> TargetSet:
    """The owner's targets (``service.targets.targets_for``): read again when the form's file
    changes (``file_stamp``: its modification time) and each day for the source's table."""
    return targets_for(_source)


def targets_stamp(settings: Settings | None) -> float | None:
    """When the form's targets file last changed (None: there is none)."""
    path = settings.targets_file if settings else None
    try:
        return os.stat(path).st_mtime_ns if path else None
    except OSError:
        return None


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def whatif(_source: Source, key: str, filters: Filters, as_of: date, today: date, scenario: Scenario) -> WhatIf:
    """Today against ``scenario`` for the chosen customers (``service.whatif``), on the model shared
    by every page."""
    fitted = clv(_source, key, as_of, "week", today)
    now = whatif_today(_source, key, filters, as_of, today)
    return whatif_of(_source, facts(_source, key, today), fitted, filters, as_of, today, scenario, now)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def whatif_today(_source: Source, key: str, filters: Filters, as_of: date, today: date) -> tuple[Any, Any]:
    """Today's figures of the simulator for the chosen customers: computed once, not per slider."""
    fitted = clv(_source, key, as_of, "week", today)
    return whatif_figures(_source, facts(_source, key, today), fitted, filters, as_of, today, Scenario())


def customer_names(_source: Source, key: str, ids: tuple[Any, ...], today: date) -> dict[Any, str]:
    return fx.customer_names(facts(_source, key, today), list(ids))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def customer_orders(_source: Source, key: str, customer_id: Any, as_of: date, today: date) -> pd.DataFrame:
    """One customer's orders (a customer card): one small statement, not a bulk read."""
    return compute.customer_orders(_source, facts(_source, key, today), customer_id, as_of)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def marketing_roi(
    _source: Source, key: str, filters: Filters, as_of: date, today: date, anchor: date | None = None
) -> pd.DataFrame | None:
    """The campaign ROI table for the filters (``service.shared.roi``), kept per filters."""
    return roi(_source, key, filters, as_of, today, anchor)


@_shared
def lifecycle_view(
    _source: Source, key: str, filters: Filters, as_of: date, other: date, rules: StageRules, today: date, part: str
) -> service_lifecycle.Standing | service_lifecycle.Moves:
    """For the chosen customers, ``part`` "standing": per stage at ``as_of`` and the value at risk
    then and at ``other``; "moves": how they moved from ``other`` to ``as_of`` and who is at risk."""
    now = stages_before(_source, key, as_of, as_of, rules, today)
    then = stages_before(_source, key, other, as_of, rules, today)
    made = service_lifecycle.standing if part == "standing" else service_lifecycle.moves
    return made(now, then, filters)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=64)
def stage_history(
    _source: Source, key: str, ends: tuple[date, ...], anchor: date, rules: StageRules, filters: Filters, today: date
) -> pd.DataFrame:
    """Customers per stage at each of ``ends`` (rows) within the filters: a small table, kept per
    filters, so that coming back to the lifecycle page counts nothing again."""
    tallies = on_two_cores([functools.partial(stage_tally, _source, key, end, anchor, rules, today) for end in ends])
    counts = {
        pd.Timestamp(end): stage_counts(tally, chosen_mask(tally, filters.segments, filters.regions, filters.channels))
        for end, tally in zip(ends, tallies, strict=True)
    }
    return pd.DataFrame(counts).T


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def cohort_activity(_source: Source, key: str, filters: Filters, as_of: date, today: date) -> pd.DataFrame:
    return fx.cohort_activity(facts(_source, key, today), filters, as_of)


def prospects(_source: Source, key: str, filters: Filters, as_of: date, today: date) -> int:
    return fx.prospects(facts(_source, key, today), filters, as_of)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def value_view(
    _source: Source, key: str, filters: Filters, as_of: date, unit: str, today: date
) -> service_value.ValueView | None:
    """The customer-value page's figures for the chosen customers (small tables, kept per filters)."""
    return service_value.value_view(clv(_source, key, as_of, unit, today).table, filters)


def advocates(_source: Source, key: str, as_of: date, today: date) -> pd.Index | None:
    """The customers who bring customers (engagement's advocates), None without engagement data."""
    if not (_source.available("referrals") or _source.available("engagements")):
        return None
    group = engagement_groups(_source, key, as_of, today)
    return group.index[(group == "advocates").to_numpy(dtype=bool)]


def upsell_ready(_source: Source, key: str, as_of: date, rules: StageRules, today: date) -> bool:
    """Whether ``upsell`` answers at once for these arguments: made, nothing to make (no catalogue),
    or tried in the background and failed (the caller then asks ``upsell`` itself, which shows
    why). If not, they start being made in the background, once: a customer card shows its offers
    when they are ready instead of holding its page (at a million customers, 6 s)."""
    if not (_source.available("order_lines") and _source.available("products")):
        return True
    if upsell.made(_source, key, as_of, rules, today) is not None:  # type: ignore[attr-defined]
        return True
    job_key = (key, as_of, rules, today)
    with _SOON_LOCK:
        for done in [k for k, j in _SOON_JOBS.items() if k != job_key and j.done()]:
            del _SOON_JOBS[done]  # nobody asked again: kept or forgotten since, their page gone
        job = _SOON_JOBS.get(job_key)
        if job is None:
            job = _SOON_JOBS[job_key] = beside(_make_quietly, upsell, _source, key, as_of, rules, today)
        elif job.done():  # not kept (a failure, or forgotten since): the caller makes them
            del _SOON_JOBS[job_key]
            return True
    return False


def _make_quietly(make: Callable[..., object], *args: Any) -> None:
    """``make(*args)`` for its cache, keeping nothing (a failure is met again by the page)."""
    with contextlib.suppress(Exception):
        make(*args)


@_shared
def upsell_options(
    _source: Source, key: str, filters: Filters, as_of: date, rules: StageRules, today: date
) -> tuple[list[str], list[str]] | None:
    """The stages and offers among the chosen customers' offers (None without a catalogue)."""
    found = upsell(_source, key, as_of, rules, today)
    return None if found is None else service_upsell.upsell_options(found[0], filters)


@_shared
def upsell_view(
    _source: Source,
    key: str,
    filters: Filters,
    as_of: date,
    rules: StageRules,
    today: date,
    choice: service_upsell.UpsellChoice,
) -> service_upsell.UpsellView | None:
    """The offers the opportunities page shows for the filters and its own choices, counted once."""
    found = upsell(_source, key, as_of, rules, today)
    if found is None:
        return None
    return service_upsell.upsell_view(found[0], filters, choice, advocates(_source, key, as_of, today))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def engagement_view(
    _source: Source, key: str, filters: Filters, as_of: date, today: date
) -> service_engagement.EngagementView | None:
    """The engagement page's figures for the chosen customers (a few small tables, kept per filters)."""
    everyone, detail, _found = engagement(_source, key, as_of, today)
    return service_engagement.engagement_view(everyone, detail, filters)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def engagement_by_campaign(_source: Source, key: str, filters: Filters, as_of: date, today: date) -> pd.Series:
    """The engagement value of the chosen customers, by the campaign that acquired them."""
    everyone = engagement(_source, key, as_of, today)[0]
    chosen = chosen_mask(everyone, filters.segments, filters.regions, filters.channels)
    return compute.engagement_by_campaign(facts(_source, key, today), everyone, chosen)


class CachedInputs(SharedInputs):
    """``service.overview.Inputs`` from the shared results, with the campaigns' returns kept per
    filters (``marketing_roi``)."""

    def roi(self, filters: Filters, as_of: date, anchor: date) -> pd.DataFrame | None:
        return marketing_roi(self.source, self.key, filters, as_of, self.today, anchor if as_of < anchor else None)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def value_figures(_source: Source, key: str, filters: Filters, previous_end: date, today: date) -> ValueFigures:
    """The overview's value KPIs now and at the previous period's end (``service.overview``)."""
    return overview.value_figures(_source, CachedInputs(_source, key, today), filters, previous_end)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def alerts(_source: Source, key: str, filters: Filters, today: date, file_stamp: float | None) -> list[Alert]:
    """The period's alerts within ``filters`` (``service.alerts``), from the same cached figures,
    forecast and targets as the overview (``file_stamp``: as for ``targets``)."""
    assert filters.start is not None and filters.end is not None
    got = facts(_source, key, today)
    _first, last = got.date_range()
    builtin = _source.settings.builtin_alerts
    chosen = targets(_source, key, today, file_stamp).targets if builtin.targets else ()
    view = None
    if last is not None and filters.end >= last and (builtin.forecast or chosen):
        view = forecast(_source, key, filters, last, today)
    prev_end = previous_period(filters.start, filters.end)[1]
    current: dict[str, float] = {}
    if chosen:
        now = value_figures(_source, key, filters, prev_end, today).now
        current = {k: now.get(k, float("nan")) for k in CURRENT}
    return find_alerts(
        _source,
        got,
        filters,
        CachedInputs(_source, key, today),
        targets=chosen,
        forecast=view,
        current=current,
        figures=lambda f, end: value_figures(_source, key, f, end, today),
        forecast_of=lambda f: forecast(_source, key, f, last, today) if view is not None and last else None,
        current_of=lambda f: {
            k: value_figures(_source, key, f, prev_end, today).now.get(k, float("nan")) for k in CURRENT
        },
    )


def ladder_position(_source: Source, key: str, customer_id: Any, as_of: date, today: date) -> tuple[int, str]:
    """One customer's highest ladder step and the product at it ((0, "") off the ladder)."""
    return compute.ladder_position(_source, facts(_source, key, today), customer_id, as_of)

"""The app's cache boundary: one engine per source, the facts per source and day, results per filters.

The source is read and cleaned once per source and day (``facts``, kept ``TTL`` seconds and shared by
every session); every loader keyed by the filters is a pure function of those facts — a filter
change sends no statement. Everything below this module (``data``, ``kpi``, ``service``) is plain
Python; here results are cached with ``st.cache_resource`` (shared objects) and ``st.cache_data``
(small frames), keyed by a fingerprint of the source and the frozen ``Filters`` value.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from data import facts as fx
from data import queries
from data.engagement import EngagementFacts
from data.facts import Facts, Holdings
from data.filters import Filters, previous_period
from data.settings import Settings
from data.source import Source
from kpi.clv import ModelError
from kpi.customer_value import CLVResult, HoldoutCheck, chosen_mask, holdout_split
from kpi.engagement import referral_asks as asks_for
from kpi.lifecycle import StageRules, stage_counts
from kpi.periods import resolve_period
from kpi.whatif import Scenario
from service import compute, overview, served
from service import engagement as service_engagement
from service import forecast as fc
from service import lifecycle as service_lifecycle
from service import upsell as service_upsell
from service import value as service_value
from service.alerts import Alert, find_alerts
from service.cores import on_two_cores
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
from service.targets import CURRENT, TargetSet, targets_for
from service.turns import PAGES
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
#: one thread that makes ahead what the next pages need (``read_ahead``): the one that reads ahead
_AHEAD = served.AHEAD
_AHEAD_LOCK = threading.Lock()
_WAITING: Future[None] | None = None  # the last period's tables to make ahead
#: one thread that makes what a page shows when ready instead of waiting for it (``upsell_ready``)
_SOON = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cruscotto-soon")
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


def prepare_overview(_source: Source, key: str, today: date) -> Filters | None:
    """Make what the overview shows first — its figures for the whole company over the last twelve
    months and the forecast — for the facts ``key`` names: at a server's start and before newer
    facts are served, so that nobody waits for them. Returns those filters (None: no orders)."""
    made = facts(_source, key, today)
    first, last = made.date_range()
    if first is None or last is None:
        return None
    start, end = resolve_period("12m", first, last)
    chosen = Filters(start=start, end=end)
    value_figures(_source, key, chosen, previous_period(start, end)[1], today)
    forecast_backtest(_source, key, last, today)
    forecast_cells(_source, key, last, today)
    return chosen


def _prepare(_source: Source, key: str, today: date, settings: Settings) -> None:
    """What a new read is served with (``served.PREPARE``): the overview's figures, then what the
    other pages share for the same period, made ahead (``read_ahead``) and waited for."""
    chosen = prepare_overview(_source, key, today)
    if chosen is None:
        return
    read_ahead(_source, key, today, chosen, settings.lifecycle)
    made = served.read_already(_source, key, today)
    ahead = made._cache.get(("compute_ahead", chosen.start, chosen.end, settings.lifecycle)) if made else None
    if ahead is not None:
        ahead.result()


served.PREPARE.append(_prepare)


def read_ahead(_source: Source, key: str, today: date, filters: Filters, rules: StageRules) -> None:
    """After a page is drawn, while the visitor reads it, make in the background what the next pages
    need, one thing at a time, once per period: the shared tables of the customer card and of the
    opportunities (the upsell candidates at the period's end) and the lifecycle page's stages at
    each month end and at its moves' first date. A newer period takes the place of one still waiting
    (what they read from the source is read with the facts: ``facts``).

    Each starts when no page runs or waits (``_rest``): what is made ahead takes the time between
    pages, not a page's time. A page that needs one of them sooner makes it itself, or waits for the
    one being made; never is one made twice. It never raises: it only speeds the next pages up."""
    with contextlib.suppress(Exception):
        _queue_ahead(_source, key, today, filters, rules)


def _queue_ahead(_source: Source, key: str, today: date, filters: Filters, rules: StageRules) -> None:
    made = served.read_already(_source, key, today)
    if made is None:  # not read (a problem), or forgotten since: the next page reads them
        return
    current = weakref.ref(made)  # a queued job keeps no old facts alive
    start, end = filters.start, filters.end
    if start is None or end is None:
        return
    global _WAITING
    with _AHEAD_LOCK:
        known: Future[None] | None = made._cache.get(("compute_ahead", start, end, rules))
        if known is not None and not known.cancelled():
            return
        if _WAITING is not None:
            _WAITING.cancel()  # not started yet: an earlier period nobody looks at any more
        _WAITING = _AHEAD.submit(_compute_ahead, _source, key, today, current, start, end, rules)
        made._cache[("compute_ahead", start, end, rules)] = _WAITING


def _rest() -> None:
    """Wait while a page runs or waits for its turn (``service.turns.PAGES``)."""
    while PAGES.busy:
        time.sleep(0.05)


def _still(_source: Source, key: str, today: date, current: weakref.ref[Facts]) -> Facts | None:
    """The facts a job was queued for, if they are still the ones kept (else nobody needs it)."""
    made = current()
    if made is None:
        return None
    return made if served.current(_source, key, today) is made else None


def _compute_ahead(
    _source: Source, key: str, today: date, current: weakref.ref[Facts], start: date, end: date, rules: StageRules
) -> None:
    try:
        moves = service_lifecycle.moves_from(end, service_lifecycle.MOVES_FROM[0])
        steps: list[Callable[[], object]] = []
        made = current()
        first = made.date_range()[0] if made is not None else None
        if first is not None:  # the customer value page's model check, in weeks as it opens
            steps.append(lambda: clv_holdout(_source, key, first, end, "week", today))
        if _source.available("order_lines") and _source.available("products"):
            steps.append(lambda: upsell(_source, key, end, rules, today))
        for earlier in (*service_lifecycle.month_ends(start, end), moves):
            steps.append(functools.partial(stages_before, _source, key, earlier, end, rules, today))
        for step in steps:
            _rest()
            if _still(_source, key, today, current) is None:  # the facts were read again meanwhile
                return
            step()
    except Exception:  # the page's own call meets it again and shows it, in the visitor's language
        return


@SHARED.kept
def holdings(_source: Source, key: str, today: date) -> Holdings:
    """The order lines by customer, product and day: read when a page first needs them."""
    return compute.holdings_for(_source, facts(_source, key, today))


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


@_shared
def clv(_source: Source, key: str, as_of: date, unit: str, today: date) -> CLVResult:
    """The CLV of every customer as of ``as_of`` (the model sees every customer; pages filter)."""
    return compute.clv_at(_source, as_of, today, unit, facts=facts(_source, key, today))


@_shared
def forecast_cells(_source: Source, key: str, as_of: date, today: date) -> fc.ForecastCells:
    """The forecast after ``as_of`` for every cell (``[forecast]`` months and pace)."""
    params = _source.settings.forecast
    facts_now = facts(_source, key, today)
    return fc.forecast_cells(
        facts_now, clv(_source, key, as_of, "week", today), as_of, params.months, params.trailing_months
    )


@_shared
def forecast_backtest(_source: Source, key: str, as_of: date, today: date) -> tuple[Any, Any]:
    """The backtest of the forecast after ``as_of`` for every cell, and what happened (None, None
    on a short history)."""
    return fc.backtest_cells(
        facts(_source, key, today),
        _source.settings.forecast,
        as_of,
        lambda d: clv(_source, key, d, "week", today),
    )


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


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def clv_holdout(_source: Source, key: str, first: date, as_of: date, unit: str, today: date) -> HoldoutCheck | str:
    """The model check on held-out months, or the reason it cannot be made."""
    calibration_end = holdout_split(first, as_of)
    if calibration_end is None:
        return "history"
    try:
        return compute.holdout(facts(_source, key, today), calibration_end, as_of, unit)
    except ModelError as exc:
        return str(exc)


def customer_names(_source: Source, key: str, ids: tuple[Any, ...], today: date) -> dict[Any, str]:
    return fx.customer_names(facts(_source, key, today), list(ids))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def customer_orders(_source: Source, key: str, customer_id: Any, as_of: date, today: date) -> pd.DataFrame:
    """One customer's orders (a customer card): one small statement, not a bulk read."""
    return compute.customer_orders(_source, facts(_source, key, today), customer_id, as_of)


@_shared
def clv_before(_source: Source, key: str, as_of: date, anchor: date, today: date) -> CLVResult:
    """The CLV of every customer at ``as_of`` before ``anchor``, by the model fitted at ``anchor`` on
    the customers' history up to ``as_of`` (no statement, no refit): the yardstick of a change
    between two dates stays the same."""
    if as_of >= anchor:
        return clv(_source, key, anchor, "week", today)
    current = clv(_source, key, anchor, "week", today)
    return compute.clv_from_history(_source, history(_source, key, anchor, today), as_of, current)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def marketing_roi(
    _source: Source, key: str, filters: Filters, as_of: date, today: date, anchor: date | None = None
) -> pd.DataFrame | None:
    """The campaign ROI table for the filters, or None without a usable campaigns entity. With
    ``anchor``, the customers' lifetime value comes from ``clv_before`` (for a comparison)."""
    if not _source.available("campaigns"):
        return None
    value = clv_before(_source, key, as_of, anchor, today) if anchor else clv(_source, key, as_of, "week", today)
    return compute.roi_table(
        _source,
        filters,
        as_of,
        today,
        value,
        campaign_monthly_margin(_source, key, filters, as_of, today),
        facts=facts(_source, key, today),
    )


@_shared
def lifecycle_stages(_source: Source, key: str, as_of: date, rules: StageRules, today: date) -> pd.DataFrame:
    """Every customer's stage at ``as_of``: the CLV columns plus ``stage`` and ``p_alive``."""
    return compute.stages_at(_source, as_of, today, clv(_source, key, as_of, "week", today), rules)


def history(_source: Source, key: str, anchor: date, today: date) -> compute.History:
    """Every customer's day history: the stages and CLV inputs at earlier dates without a statement."""
    return compute.history(_source, anchor, today, facts=facts(_source, key, today))


@_shared
def stages_before(_source: Source, key: str, as_of: date, anchor: date, rules: StageRules, today: date) -> pd.DataFrame:
    """Every customer's stage at ``as_of`` before ``anchor``, judged by the model fitted at ``anchor``
    on the customers' history up to ``as_of`` (no statement, no refit). At ``anchor`` the whole CLV
    table with the stages; before it, what counts and moves need (``compute.past_stages``)."""
    if as_of >= anchor:
        return lifecycle_stages(_source, key, anchor, rules, today)
    past = history(_source, key, anchor, today)
    return compute.past_stages(_source, past, as_of, clv(_source, key, anchor, "week", today), rules)


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
    tables = on_two_cores([functools.partial(stages_before, _source, key, end, anchor, rules, today) for end in ends])
    counts = {
        pd.Timestamp(end): stage_counts(table, chosen_mask(table, filters.segments, filters.regions, filters.channels))
        for end, table in zip(ends, tables, strict=True)
    }
    return pd.DataFrame(counts).T


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=_ENTRIES)
def cohort_activity(_source: Source, key: str, filters: Filters, as_of: date, today: date) -> pd.DataFrame:
    return fx.cohort_activity(facts(_source, key, today), filters, as_of)


def prospects(_source: Source, key: str, filters: Filters, as_of: date, today: date) -> int:
    return fx.prospects(facts(_source, key, today), filters, as_of)


@_shared
def upsell(
    _source: Source, key: str, as_of: date, rules: StageRules, today: date
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The ranked upsell candidates and the ladder funnel for every customer at ``as_of``; None
    without the order_lines and products entities."""
    if not (_source.available("order_lines") and _source.available("products")):
        return None
    return compute.upsell_tables(
        _source,
        as_of,
        today,
        lifecycle_stages(_source, key, as_of, rules, today),
        facts=facts(_source, key, today),
    )


@_shared
def engagement(
    _source: Source, key: str, as_of: date, today: date, anchor: date | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, EngagementFacts]:
    """Every customer's engagement value at ``as_of``, the referrals one by one, and what was read.
    With ``anchor`` (a comparison), the CLV inside comes from ``clv_before``. Read the first time a
    page that shows engagement is opened."""
    value = clv_before(_source, key, as_of, anchor, today) if anchor else clv(_source, key, as_of, "week", today)
    return compute.engagement_tables(_source, facts(_source, key, today), value, as_of)


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
    return group.index[group.to_numpy() == "advocates"]


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
            job = _SOON_JOBS[job_key] = _SOON.submit(_make_quietly, upsell, _source, key, as_of, rules, today)
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


@_shared
def engagement_groups(_source: Source, key: str, as_of: date, today: date) -> pd.Series:
    """Each customer's group in the value matrix at ``as_of`` (champions, affluents, advocates,
    misers), by customer id."""
    everyone = engagement(_source, key, as_of, today)[0]
    return pd.Series(everyone["quadrant"].to_numpy(), index=everyone["customer_id"].to_numpy())


@_shared
def referral_asks(_source: Source, key: str, as_of: date, today: date) -> pd.DataFrame:
    """The affluents to ask for a referral at ``as_of``, every one, ranked (``kpi.engagement.
    referral_asks``), with region and channel for the filters."""
    everyone = engagement(_source, key, as_of, today)[0]
    value = clv(_source, key, as_of, "week", today).table
    p_alive = pd.Series(value["p_alive"].to_numpy(dtype=float), index=value["customer_id"].to_numpy())
    return asks_for(everyone, p_alive).merge(
        everyone[["customer_id", "region", "channel"]], on="customer_id", how="left"
    )


class CachedInputs:
    """``service.overview.Inputs`` from this module's caches, shared by every visitor."""

    def __init__(self, source: Source, key: str, today: date) -> None:
        self.source, self.key, self.today = source, key, today

    def clv(self, as_of: date, anchor: date) -> CLVResult:
        return clv_before(self.source, self.key, as_of, anchor, self.today)

    def stages(self, as_of: date, anchor: date) -> pd.DataFrame:
        return stages_before(self.source, self.key, as_of, anchor, self.source.settings.lifecycle, self.today)

    def engagement(self, as_of: date, anchor: date) -> pd.DataFrame:
        return engagement(self.source, self.key, as_of, self.today, anchor if as_of < anchor else None)[0]

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

"""What every visitor's pages share, made once per read of the source and kept in ``SHARED``: the
models and CLV of every customer, the stages, the engagement and upsell tables, the forecast and
its backtest. Pages filter them: what is kept here depends on no visitor's filters.

Plain Python, like ``service.served``: the pages (``ui.loaders``) and ``serve.py`` share it.
Importing it adds ``prepare`` to ``served.PREPARE``, so that a server reads ahead at its very start
what the first visitor's overview shows, not only after its first visit; ``read_ahead`` makes the
next pages' tables while a visitor reads a page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from datetime import date
from typing import Any

import pandas as pd

from data import facts as fx
from data.engagement import EngagementFacts
from data.facts import Facts, Holdings
from data.filters import Filters, previous_period
from data.settings import Settings
from data.source import Source
from kpi.clv import ModelError
from kpi.customer_value import CLVResult, HoldoutCheck, holdout_split
from kpi.engagement import referral_asks as asks_for
from kpi.lifecycle import StageRules
from kpi.lifecycle import stage_tally as stage_tally_of
from kpi.periods import resolve_period
from service import compute, overview, served
from service import forecast as fc
from service import lifecycle as service_lifecycle
from service.served import SHARED, facts
from service.turns import PAGES

__all__ = [
    "AHEAD",
    "SharedInputs",
    "clv",
    "clv_before",
    "clv_holdout",
    "engagement",
    "engagement_before",
    "engagement_groups",
    "forecast_backtest",
    "forecast_cells",
    "history",
    "holdings",
    "lifecycle_stages",
    "prepare",
    "prepare_overview",
    "read_ahead",
    "referral_asks",
    "roi",
    "stage_tally",
    "stages_before",
    "upsell",
]

_shared = SHARED.memo
#: one thread that makes ahead what the next pages need (``read_ahead``): the one that reads ahead
AHEAD = served.AHEAD
_AHEAD_LOCK = threading.Lock()
_WAITING: Future[None] | None = None  # the last period's tables to make ahead


def prepare_overview(_source: Source, key: str, today: date) -> Filters | None:
    """Make what the overview shows first — the models and tables behind its figures for the whole
    company over the last twelve months, and the forecast — for the read ``key`` names: at a
    server's start and before a newer read is served, so that nobody waits for them. Returns those
    filters (None: no orders)."""
    made = facts(_source, key, today)
    first, last = made.date_range()
    if first is None or last is None:
        return None
    start, end = resolve_period("12m", first, last)
    chosen = Filters(start=start, end=end)
    overview.value_figures(_source, SharedInputs(_source, key, today), chosen, previous_period(start, end)[1])
    forecast_backtest(_source, key, last, today)
    forecast_cells(_source, key, last, today)
    return chosen


def prepare(_source: Source, key: str, today: date, settings: Settings) -> None:
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


served.PREPARE.append(prepare)


def _backtest_ahead(_source: Source, key: str, today: date) -> None:
    """The forecast's backtest at the facts' last day, which the overview shows by default: its own
    model fit at an earlier date, made on the second core while the overview's page fits the model
    at the period's end (``served.AFTER_READ``). (The forecast itself stays with the page: made here
    too, it waited for the page's fit on the read-ahead thread, and a renewal test then saw the
    source's figures read twice at once, one run in two to four.)"""
    made = served.read_already(_source, key, today)
    last = made.date_range()[1] if made is not None else None
    if last is not None:
        forecast_backtest(_source, key, last, today)


served.AFTER_READ.append(_backtest_ahead)


class SharedInputs:
    """``service.overview.Inputs`` from the shared results (the campaigns' returns computed each
    time: the pages keep theirs per filters, ``ui.loaders.CachedInputs``)."""

    def __init__(self, source: Source, key: str, today: date) -> None:
        self.source, self.key, self.today = source, key, today

    def clv(self, as_of: date, anchor: date) -> CLVResult:
        return clv_before(self.source, self.key, as_of, anchor, self.today)

    def stages(self, as_of: date, anchor: date) -> pd.DataFrame:
        return stages_before(self.source, self.key, as_of, anchor, self.source.settings.lifecycle, self.today)

    def engagement(self, as_of: date, anchor: date) -> pd.DataFrame:
        return engagement_before(self.source, self.key, as_of, anchor, self.today)

    def roi(self, filters: Filters, as_of: date, anchor: date) -> pd.DataFrame | None:
        return roi(self.source, self.key, filters, as_of, self.today, anchor if as_of < anchor else None)


def roi(
    _source: Source, key: str, filters: Filters, as_of: date, today: date, anchor: date | None = None
) -> pd.DataFrame | None:
    """The campaign ROI table for the filters, or None without a usable campaigns entity. With
    ``anchor``, the customers' lifetime value comes from ``clv_before`` (for a comparison). Not
    kept here: it depends on the filters (the pages keep it per filters)."""
    if not _source.available("campaigns"):
        return None
    value = _judged(_source, key, as_of, today, anchor)
    got = facts(_source, key, today)
    return compute.roi_table(
        _source, filters, as_of, today, value, fx.campaign_monthly_margin(got, filters, as_of), facts=got
    )


def read_ahead(_source: Source, key: str, today: date, filters: Filters, rules: StageRules) -> None:
    """After a page is drawn, while the visitor reads it, make in the background what the next pages
    need, one thing at a time, once per period: the customer value page's model check, the shared
    tables of the customer card and of the opportunities (the upsell candidates, the engagement
    groups and the customers to ask for a referral, at the period's end), and the lifecycle page's
    stages at each month end and at its moves' first date, and its cohorts. A newer period takes
    the place of one still waiting (what they read from the source is read with the facts).

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
        _WAITING = AHEAD.submit(_compute_ahead, _source, key, today, current, start, end, rules)
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
        if _source.available("referrals") or _source.available("engagements"):  # the opportunities'
            steps.append(lambda: engagement_groups(_source, key, end, today))
            steps.append(lambda: referral_asks(_source, key, end, today))
        steps.append(functools.partial(stages_before, _source, key, moves, end, rules, today))
        for earlier in service_lifecycle.month_ends(start, end):  # counted (``stage_tally``)
            steps.append(functools.partial(stage_tally, _source, key, earlier, end, rules, today))
        # the lifecycle page's cohorts by month (kept with the facts; a filter then picks cells)
        steps.append(lambda: fx.cohort_activity(facts(_source, key, today), Filters(start=start, end=end), end))
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
    on a short history). The CLV table at the backtest's start is not kept unless a page made it:
    only its sums per cell are (at a million customers the table and what hangs on it held
    about 0.2 GB; its model stays with the facts, so a page asking for it later does not refit)."""
    made = facts(_source, key, today)

    def fitted_then(day: date) -> CLVResult:
        kept: CLVResult | None = clv.made(_source, key, day, "week", today)  # type: ignore[attr-defined]
        return kept if kept is not None else compute.clv_at(_source, day, today, "week", facts=made)

    return fc.backtest_cells(made, _source.settings.forecast, as_of, fitted_then)


@_shared
def clv_holdout(_source: Source, key: str, first: date, as_of: date, unit: str, today: date) -> HoldoutCheck | str:
    """The model check on held-out months, or the reason it cannot be made."""
    calibration_end = holdout_split(first, as_of)
    if calibration_end is None:
        return "history"
    try:
        return compute.holdout(facts(_source, key, today), calibration_end, as_of, unit)
    except ModelError as exc:
        return str(exc)


#: the columns of a CLV table at an earlier date that a comparison reads: the overview's value
#: figures (``kpi.customer_value.clv_overview``), the campaigns' returns (``compute.roi_table``) and
#: the engagement value then (``engagement_before``)
COMPARED_CLV_COLUMNS = [
    "customer_id",
    "segment",
    "region",
    "channel",
    "first_purchase",
    "first_purchase_margin",
    "margin_to_date",
    "service_cost",
    "acquisition_cost",
    "historical_clv",
    "p_alive",
    "residual_clv",
    "total_clv",
]


@_shared
def clv_before(_source: Source, key: str, as_of: date, anchor: date, today: date) -> CLVResult:
    """The CLV of every customer at ``as_of`` before ``anchor``, by the model fitted at ``anchor`` on
    the customers' history up to ``as_of`` (no statement, no refit): the yardstick of a change
    between two dates stays the same. Before ``anchor``, only the columns a comparison reads are
    kept (``COMPARED_CLV_COLUMNS``: at a million customers 70 MB less for the previous period)."""
    current = clv(_source, key, anchor, "week", today)
    if as_of >= anchor:
        return current
    then = compute.clv_from_history(_source, history(_source, key, anchor, today), as_of, current)
    return dataclasses.replace(then, table=then.table[COMPARED_CLV_COLUMNS].copy())


def _judged(_source: Source, key: str, as_of: date, today: date, anchor: date | None) -> CLVResult:
    """The CLV at ``as_of``: by the model fitted at ``anchor`` when given (a comparison between two
    dates, ``clv_before``), else by its own fit."""
    return clv_before(_source, key, as_of, anchor, today) if anchor else clv(_source, key, as_of, "week", today)


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
def stage_tally(_source: Source, key: str, as_of: date, anchor: date, rules: StageRules, today: date) -> pd.DataFrame:
    """``stages_before`` counted per segment, region, channel and stage (``kpi.lifecycle.
    stage_tally``): the lifecycle page's stages over time. The table of every customer behind it is
    kept only where a page shows its customers too — at ``anchor``, and at the dates the lifecycle
    page compares with (``service.lifecycle.MOVES_FROM``; the last is the previous period's end), or
    when a page made it already; at the other month ends it is counted and let go (at a million
    customers 0.2 GB less for a dozen months)."""
    compared = {service_lifecycle.moves_from(anchor, months) for months in service_lifecycle.MOVES_FROM}
    if as_of >= anchor or as_of in compared:  # its customers are listed too: kept
        return stage_tally_of(stages_before(_source, key, as_of, anchor, rules, today))
    kept = stages_before.made(_source, key, as_of, anchor, rules, today)  # type: ignore[attr-defined]
    unkept = stages_before.__wrapped__  # type: ignore[attr-defined]
    return stage_tally_of(kept if kept is not None else unkept(_source, key, as_of, anchor, rules, today))


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
    _source: Source, key: str, as_of: date, today: date
) -> tuple[pd.DataFrame, pd.DataFrame, EngagementFacts]:
    """Every customer's engagement value at ``as_of``, the referrals one by one, and what was read.
    Read the first time a page that shows engagement is opened."""
    value = clv(_source, key, as_of, "week", today)
    return compute.engagement_tables(_source, facts(_source, key, today), value, as_of)


#: the columns of an engagement table at an earlier date that a comparison sums (the overview's
#: ``kpi.engagement.engagement_overview`` of the chosen customers)
COMPARED_ENGAGEMENT_COLUMNS = ["customer_id", "segment", "region", "channel", "clv", "cev"]


@_shared
def engagement_before(_source: Source, key: str, as_of: date, anchor: date, today: date) -> pd.DataFrame:
    """Every customer's CLV and engagement value at ``as_of`` before ``anchor`` (the CLV from
    ``clv_before``), with the customer's segment, region and channel: what a comparison sums. The
    rest of the table and the referrals one by one are not kept (at a million customers 80 MB and
    16 MB less for the previous period). At ``anchor``: the whole table the pages share."""
    if as_of >= anchor:
        return engagement(_source, key, as_of, today)[0]
    value = clv_before(_source, key, as_of, anchor, today)
    table = compute.engagement_tables(_source, facts(_source, key, today), value, as_of)[0]
    return table[COMPARED_ENGAGEMENT_COLUMNS].copy()  # a copy: the whole table's columns go


@_shared
def engagement_groups(_source: Source, key: str, as_of: date, today: date) -> pd.Series:
    """Each customer's group in the value matrix at ``as_of`` (champions, affluents, advocates,
    misers), by customer id."""
    everyone = engagement(_source, key, as_of, today)[0]
    # the table's own column of texts, shared, not a Python text per customer made and converted back
    return pd.Series(everyone["quadrant"].array, index=everyone["customer_id"].to_numpy())


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

"""What each page computes, assembled once from the facts (``data.facts``) and ``kpi`` — used by the
cached loaders of the app, by ``cli.py`` and by the executive report, so every figure is computed
the same way everywhere. No Streamlit here.

The source is read once per (source, day) into facts (``facts_for``); everything else is arithmetic
on arrays: the CLV inputs at any date come from one day history (``history``), the model is fitted
once per date and unit, and the filters are masks over the customers.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from data import facts as fx
from data import queries
from data.engagement import ENGAGEMENT_ENTITIES, EngagementFacts, extract_engagement
from data.facts import Facts, Holdings
from data.filters import Filters
from data.source import Source
from data.targets import read_targets_table
from kpi.clv import BGNBD, ModelError, fit_bgnbd
from kpi.customer_value import (
    CLVResult,
    DayHistory,
    HoldoutCheck,
    compute_clv,
    holdout_check,
    total_clv_of,
)
from kpi.engagement import engagement_table
from kpi.lifecycle import STAGES, StageRules, assign_stages, stage_numbers
from kpi.roi import CUSTOMER_SUMS, roi_from_sums
from kpi.summary import TIME_UNITS, rfm_summary
from kpi.upsell import ladder_funnel, upsell_candidates

__all__ = [
    "History",
    "bgnbd_at",
    "clv_at",
    "clv_from_history",
    "day_history",
    "engagement_by_campaign",
    "engagement_facts",
    "engagement_tables",
    "entity_health",
    "facts_for",
    "fits",
    "history",
    "holdings_for",
    "holdout",
    "memo",
    "read_ahead",
    "referral_cac",
    "roi_table",
    "stages_at",
    "upsell_tables",
]

_LOCK = threading.Lock()
_RECENT: OrderedDict[tuple[int, date], tuple[Source, Facts]] = OrderedDict()
_KEEP = 2


def facts_for(source: Source, today: date) -> Facts:
    """The facts of ``source`` as of ``today``, read once and kept for the next call (the last two
    sources: a command or a report reads the source once). The app keeps its own, with a TTL."""
    key = (id(source), today)
    with _LOCK:
        hit = _RECENT.get(key)
        if hit is not None and hit[0] is source:
            _RECENT.move_to_end(key)
            return hit[1]
    made = fx.extract(source, today)
    with _LOCK:
        _RECENT[key] = (source, made)
        while len(_RECENT) > _KEEP:
            _RECENT.popitem(last=False)
    return made


#: a value derived from the facts, made once per facts object (``data.facts.made_once``)
memo = fx.made_once


def read_ahead(source: Source, facts: Facts) -> None:
    """Read what the pages read after the facts — the referrals and engagements (the overview's
    engagement value), then the order lines (the customer card and the opportunities) — ahead of
    them. A failure is left for the page that needs the value: it reads again and shows the message."""
    try:
        if source.available("referrals") or source.available("engagements"):
            engagement_facts(source, facts)
        if source.available("order_lines") and source.available("products"):
            holdings_for(source, facts)
    except Exception:  # the page's own read reports it, in the visitor's language
        return


def memo_of(facts: Facts, key: tuple[Any, ...], owner: Any, make: Any) -> Any:
    """``memo`` for a value derived from the facts and ``owner``, an object the facts do not hold
    (a CLV table): kept while ``owner`` lives, dropped with it (a weak reference, which also tells
    a new object at the same address from the old one)."""
    full = (*key, id(owner))
    with _LOCK:
        found = facts._cache.get(full)
        if found is not None and found[0]() is owner:
            return found[1]
    value = make()
    cache = facts._cache
    with _LOCK:
        cache[full] = (weakref.ref(owner, lambda _gone: cache.pop(full, None)), value)
    return value


def holdings_for(source: Source, facts: Facts) -> Holdings:
    """What each customer bought by product and day: read on first use, once per facts."""
    return memo(facts, ("holdings",), lambda: fx.extract_holdings(source, facts))


def engagement_facts(source: Source, facts: Facts) -> EngagementFacts:
    """The referrals and engagements, read and checked on first use, once per facts."""
    found: EngagementFacts = memo(facts, ("engagement",), lambda: extract_engagement(source, facts))
    return found


def referral_cac(facts: Facts) -> float:
    """The acquisition cost a referral saves: the average cost of a customer acquired by a paid
    campaign (0 without campaigns)."""
    paid = facts.acquisition_cost[facts.costed] if len(facts.costed) else np.zeros(0)
    paid = paid[np.isfinite(paid) & (paid > 0)]
    return float(paid.mean()) if len(paid) else 0.0


def engagement_tables(
    source: Source, facts: Facts, clv: CLVResult, as_of: date
) -> tuple[pd.DataFrame, pd.DataFrame, EngagementFacts]:
    """Every customer's engagement value as of ``as_of`` (``kpi.engagement.engagement_table``), the
    referrals one by one, and the referrals and engagements as read (for their data health). Only
    referrals and engagements dated up to ``as_of`` count."""
    found = engagement_facts(source, facts)
    stamp = pd.Timestamp(as_of)
    frames: dict[str, pd.DataFrame | None] = {"referrals": found.referrals, "engagements": found.engagements}
    dated = {"referrals": "referred_at", "engagements": "occurred_at"}
    picked: dict[str, np.ndarray] = {}
    for name, frame in frames.items():
        if frame is not None:
            picked[name] = (frame[dated[name]] <= stamp).to_numpy()
            frames[name] = frame[picked[name]]
    # matched by the customers' positions in the facts instead of their ids: numbers are matched
    # and grouped faster than ids held as objects (1M customers: 1.5 s → 1.15 s per date)
    by_code, referrals, engagements = _coded(facts, clv.table, found, frames, picked)
    table, detail = engagement_table(
        by_code, referrals, engagements, source.settings.engagement, as_of, referral_cac(facts)
    )
    table["customer_id"] = clv.table["customer_id"].to_numpy()  # its rows are the CLV table's, in order
    for column in ("referrer_id", "referred_id"):
        detail[column] = facts.ids[detail[column].to_numpy(dtype=np.int64)] if len(detail) else detail[column]
    return table, detail, found


def _coded(
    facts: Facts,
    table: pd.DataFrame,
    found: EngagementFacts,
    frames: dict[str, pd.DataFrame | None],
    picked: dict[str, np.ndarray],
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """The CLV table, referrals and engagements with each customer id replaced by the customer's
    position in the facts (an influenced customer not given: NaN)."""
    code = fx.positions(facts, table["customer_id"])
    if (code < 0).any():
        raise ValueError("The CLV table holds customers the facts do not know.")
    out: dict[str, pd.DataFrame | None] = {}
    for name, frame in frames.items():
        if frame is not None:  # the rows picked by date: a frame of the caller's own, not copied
            for column, values in found.codes[name].items():
                values = values[picked[name]]
                frame[column] = values if column != "influenced_customer_id" else np.where(values >= 0, values, np.nan)
        out[name] = frame
    return table.assign(customer_id=code), out["referrals"], out["engagements"]


def engagement_by_campaign(facts: Facts, table: pd.DataFrame, chosen: np.ndarray | None = None) -> pd.Series:
    """The engagement value (CEV − CLV) of ``table``'s customers (an engagement table; of its rows
    in ``chosen`` only, when given) summed by the paid campaign that acquired them. Each row's
    campaign is found once per table (kept with the facts while the table lives)."""

    def campaigns() -> tuple[np.ndarray, np.ndarray]:
        code = fx.positions(facts, table["customer_id"])
        known = code >= 0
        campaign = np.full(len(code), None, dtype=object)
        campaign[known] = facts.campaign_costed()[code[known]]
        return campaign, pd.notna(campaign)

    campaign, acquired = memo_of(facts, ("campaign_of_rows",), table, campaigns)
    if chosen is not None:
        acquired = acquired & chosen
    extra = (table["cev"] - table["clv"]).to_numpy(dtype=float)
    return pd.Series(extra[acquired]).groupby(campaign[acquired]).sum()


def customer_orders(source: Source, facts: Facts, customer_id: Any, as_of: date) -> pd.DataFrame:
    """One customer's orders (a customer card): asked of the in-memory copy where the facts were
    cleaned from one (milliseconds), else of the source (one small statement)."""
    local = facts.local_copy
    return queries.customer_orders(
        local if local is not None and local.origin is source else source, customer_id, as_of, facts.today
    )


def entity_health(source: Source, facts: Facts, name: str) -> dict[str, Any]:
    """Rows read, used and excluded by reason, and the dates, of one entity (``data.queries.
    entity_health``): from the facts; the order lines and products read on first use."""
    if name in facts.health:
        return fx.entity_health(facts, name)
    if name in ENGAGEMENT_ENTITIES:  # read with the rules that need the customers
        return dict(engagement_facts(source, facts).health[name])
    if name == "targets":  # read with the targets' own checks
        rows = read_targets_table(source)
        bad = len(rows.problems)
        return {
            "rows_read": rows.rows_read,
            "rows_used": rows.rows_read - bad,
            "excluded": {"bad_target": bad} if bad else {},
            "first_date": None,
            "last_date": None,
        }
    if name in ("order_lines", "products") and source.available("order_lines") and source.available("products"):
        return fx.entity_health(facts, name, holdings_for(source, facts))
    return queries.entity_health(source, name, facts.today)  # an entity the facts do not hold


def day_history(facts: Facts, value: str = "margin") -> DayHistory:
    """Every customer's purchase days, order days and ticket days with running sums: the CLV inputs
    at any date by binary search (``value``: "margin" or "revenue" per purchase)."""
    if value not in ("margin", "revenue"):
        raise ValueError("value must be 'margin' or 'revenue'.")

    def make() -> DayHistory:
        # categories: a code per customer, not a text (the history's tables take labels by code)
        dims = pd.DataFrame(
            {d: pd.Categorical.from_codes(facts.dims[d], categories=facts.labels[d]) for d in fx.DIMENSIONS}
        )
        return DayHistory.from_arrays(
            ids=facts.ids,
            dims=dims,
            code=facts.d_code,
            day=facts.d_day,
            purchases=facts.d_purchases,
            purchase_value=facts.purchase_values(value),
            day_margin=facts.d_margin,
            t_code=facts.t_code,
            t_day=facts.t_day,
            t_values=pd.DataFrame({"tickets": facts.t_tickets, "cost": facts.t_cost}).to_numpy(dtype=float),
            campaign=facts.campaign_costed(),
            acquisition_cost=facts.acquisition_cost,
        )

    return memo(facts, ("history", value), make)


def _clv(
    source: Source,
    inputs: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    as_of: date,
    unit: str,
    models: tuple[Any, Any] | None = None,
    fitted_bgnbd: BGNBD | None = None,
) -> CLVResult:
    """``compute_clv`` with the business settings of ``source``."""
    business = source.settings.business
    return compute_clv(
        *inputs,
        as_of=as_of,
        unit=unit,
        horizon_months=business.clv_horizon_months,
        annual_discount_rate=business.annual_discount_rate,
        models=models,
        fitted_bgnbd=fitted_bgnbd,
    )


def bgnbd_at(facts: Facts, rfm: pd.DataFrame, as_of: date, unit: str) -> BGNBD:
    """The BG/NBD fitted on every customer's purchase days up to ``as_of`` (``rfm``: the day
    history there), once per date and unit: the CLV at a date, the model check calibrated there and
    the backtest starting there fit the same (a year before a month's end, the check's calibration
    end is the backtest's start). The purchase days do not depend on the value counted per
    purchase. Raises ``ModelError`` as ``fit_bgnbd`` does (a failed fit is not kept)."""
    return memo(facts, ("bgnbd", as_of, unit), lambda: fit_bgnbd(rfm_summary(rfm, as_of, unit)))


def clv_at(
    source: Source,
    as_of: date,
    today: date,
    unit: str = "week",
    value: str = "margin",
    facts: Facts | None = None,
) -> CLVResult:
    """The CLV of every customer as of ``as_of``: the model sees every customer; callers filter."""
    facts = facts or facts_for(source, today)
    inputs = day_history(facts, value).at(as_of)
    try:
        fitted: BGNBD | None = bgnbd_at(facts, inputs[0], as_of, unit)
    except ModelError:
        fitted = None  # ``compute_clv`` meets it again and says why
    return _clv(source, inputs, as_of, unit, fitted_bgnbd=fitted)


def fits(source: Source, today: date, facts: Facts | None = None) -> Callable[[date], CLVResult]:
    """``clv_at`` for any date, each date fitted once (a forecast and its backtest, the report's
    sections), whichever thread asks: for one command or one report, not shared between visitors."""
    facts = facts or facts_for(source, today)
    done: dict[date, CLVResult] = {}
    locks: dict[date, threading.Lock] = {}
    guard = threading.Lock()

    def fitted(day: date) -> CLVResult:
        # two threads asking for one date (the overview's two dates on two cores): one fits, the
        # other waits for it
        with guard:
            lock = locks.setdefault(day, threading.Lock())
        with lock:
            if day not in done:
                done[day] = clv_at(source, day, today, facts=facts)
            return done[day]

    return fitted


@dataclass(frozen=True)
class History:
    """Every customer's day history, to be read at ``anchor`` or any earlier date."""

    anchor: date
    days: DayHistory


def history(source: Source, anchor: date, today: date, facts: Facts | None = None) -> History:
    return History(anchor=anchor, days=day_history(facts or facts_for(source, today)))


def clv_from_history(source: Source, past: History, as_of: date, models_from: CLVResult) -> CLVResult:
    """The CLV of every customer as of ``as_of`` (≤ the history's anchor) without a fit: the models
    come from ``models_from`` (fitted at the anchor), so month after month is judged by one model
    and only the customers' own histories change."""
    if as_of > past.anchor:
        raise ValueError("as_of must not be after the history's anchor.")
    models = (models_from.bgnbd, models_from.gamma_gamma) if models_from.predicted else None
    return _clv(source, past.days.at(as_of), as_of, models_from.unit, models)


def holdout(
    facts: Facts, calibration_end: date, as_of: date, unit: str = "week", value: str = "margin"
) -> HoldoutCheck:
    """The model check: fitted on the history up to ``calibration_end``, compared with what
    happened up to ``as_of`` (``kpi.customer_value.holdout_check``; raises ``ModelError``)."""
    days = day_history(facts, value)
    calibration = days.at(calibration_end)[0]
    return holdout_check(
        calibration,
        days.at(as_of)[0],
        calibration_end=calibration_end,
        end=as_of,
        unit=unit,
        model=bgnbd_at(facts, calibration, calibration_end, unit),
    )


def stages_at(
    source: Source, as_of: date, today: date, clv: CLVResult | None = None, rules: StageRules | None = None
) -> pd.DataFrame:
    """Every customer's CLV columns with their lifecycle ``stage`` and ``p_alive`` at ``as_of``."""
    result = clv or clv_at(source, as_of, today)
    stages = assign_stages(
        result.table, as_of, rules or source.settings.lifecycle, model=result.bgnbd, unit_days=TIME_UNITS[result.unit]
    )
    table = result.table.drop(columns=["p_alive"])
    # assign_stages keeps the rows in order: the columns are placed, not merged
    return table.assign(stage=stages["stage"].to_numpy(), p_alive=stages["p_alive"].to_numpy())


#: the columns of a stage table at an earlier date: enough to count, filter, follow moves and value
#: the customers at risk
PAST_STAGE_COLUMNS = ["customer_id", "segment", "region", "channel", "stage", "p_alive", "total_clv"]


def past_stages(
    source: Source, past: History, as_of: date, models_from: CLVResult, rules: StageRules | None = None
) -> pd.DataFrame:
    """Every customer's stage at ``as_of`` (≤ the history's anchor), judged by the model fitted at
    the anchor: ``PAST_STAGE_COLUMNS`` only. Arrays from the day history to the stage rules, with
    the CLV arithmetic of ``compute_clv`` (the loyal stage ranks by it) but no CLV table: a dozen
    month ends of a million customers in seconds and tens of megabytes (the same stages as
    ``stages_at`` on ``clv_from_history``, tested)."""
    if as_of > past.anchor:
        raise ValueError("as_of must not be after the history's anchor.")
    if not models_from.predicted:  # no model at the anchor: the date's own judgement, as before
        result = clv_from_history(source, past, as_of, models_from)
        return stages_at(source, as_of, past.anchor, result, rules)[PAST_STAGE_COLUMNS]
    assert models_from.bgnbd is not None and models_from.gamma_gamma is not None
    business = source.settings.business
    days = past.days
    state = days.state_at(as_of)
    total = total_clv_of(
        state,
        (models_from.bgnbd, models_from.gamma_gamma),
        unit=models_from.unit,
        horizon_months=business.clv_horizon_months,
        annual_discount_rate=business.annual_discount_rate,
        segments=days.segment_codes[state.code],
    )
    repeat = state.purchase_days >= 2
    stage, p_alive = stage_numbers(
        x=state.purchase_days.astype(float) - 1,
        t_x=(state.last_day - state.first_day).astype(float),
        age=(state.day - state.first_day).astype(float),
        t_prev=np.where(repeat, state.previous_day - state.first_day, 0).astype(float),
        segments=days.segment_codes[state.code],
        total_clv=total,
        rules=rules or source.settings.lifecycle,
        model=models_from.bgnbd,
        unit_days=TIME_UNITS[models_from.unit],
    )
    # segment, region, channel and stage as categories: a code per customer instead of a text per
    # customer
    # (a dozen month ends of a million customers held 1.3–1.8 GB of text)
    table: dict[str, Any] = {"customer_id": days._columns["customer_id"].take(state.code)}
    for name, (codes, labels) in days.dim_categories.items():
        table[name] = pd.Categorical.from_codes(codes[state.code], categories=labels)
    table["stage"] = pd.Categorical.from_codes(stage, categories=list(STAGES))
    return pd.DataFrame({**table, "p_alive": p_alive, "total_clv": total})[PAST_STAGE_COLUMNS]


@dataclass(frozen=True)
class _CampaignCells:
    """A CLV table's customers summed per cell of the facts (``data.facts.cells``: a cell has one
    segment, region, channel and campaign): a filter picks cells, so the campaign ROI of any
    filter is a sum over a few thousand cells instead of a group-by over every customer."""

    table: pd.DataFrame  # the CLV table these sums are of (identity checked)
    rows: np.ndarray  # per cell: customers in the table
    sums: np.ndarray  # per cell × CUSTOMER_SUMS: of the acquired customers
    campaign_code: np.ndarray  # per cell: its campaign's position in ``campaign_ids`` (-1: none)
    campaign_ids: np.ndarray


def _campaign_cells(facts: Facts, result: CLVResult) -> _CampaignCells:
    """``_CampaignCells`` of ``result``'s table, made once per table and kept with the facts."""
    table = result.table
    key = ("campaign_cells", id(table))
    found = facts._cache.get(key)
    if isinstance(found, _CampaignCells) and found.table is table:
        return found
    every = fx.cells(facts)
    code = fx.positions(facts, table["customer_id"])
    if (code < 0).any():
        raise ValueError("The CLV table holds customers the facts do not know.")
    cell = every.of_customer[code].astype(np.int64)
    k = len(every)
    margin, cost = table["margin_to_date"].to_numpy(dtype=float), table["service_cost"].to_numpy(dtype=float)
    per_row = np.column_stack(
        [
            np.ones(len(table)),
            table["first_purchase_margin"].to_numpy(dtype=float),
            margin,
            cost,
            margin - cost + table["residual_clv"].to_numpy(dtype=float),
        ]
    )
    acquired = pd.notna(facts.campaign[code])
    sums = np.column_stack([np.bincount(cell[acquired], weights=col[acquired], minlength=k) for col in per_row.T])
    campaign_code, campaign_ids = pd.factorize(every.campaign)
    made = _CampaignCells(
        table=table,
        rows=np.bincount(cell, minlength=k),
        sums=sums,
        campaign_code=np.asarray(campaign_code, dtype=np.int64),
        campaign_ids=np.asarray(campaign_ids, dtype=object),
    )
    with _LOCK:
        stale = [c for c in list(facts._cache) if isinstance(c, tuple) and c[:1] == ("campaign_cells",)]
        for old in stale[: max(len(stale) - 7, 0)]:
            facts._cache.pop(old, None)
        facts._cache[key] = made
    return made


def roi_table(
    source: Source,
    filters: Filters,
    as_of: date,
    today: date,
    clv: CLVResult | None = None,
    monthly_margin: pd.DataFrame | None = None,
    facts: Facts | None = None,
) -> pd.DataFrame:
    """The campaign ROI table for the filters (``kpi.roi.campaign_roi``, from the customers' sums
    per cell); needs the campaigns entity."""
    facts = facts or facts_for(source, today)
    if facts.campaigns is None:
        raise ValueError("The campaign ROI needs the campaigns entity.")
    result = clv or clv_at(source, as_of, today, facts=facts)
    ready = _campaign_cells(facts, result)
    chosen = fx.cells(facts).chosen(facts, filters)
    acquired = ready.campaign_code >= 0
    n = len(ready.campaign_ids)

    def by_campaign(cells: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [np.bincount(ready.campaign_code[cells], weights=col[cells], minlength=n) for col in ready.sums.T]
        ).reshape(n, len(CUSTOMER_SUMS))

    filtered = bool((ready.rows[~chosen] > 0).any())
    picked = by_campaign(acquired & chosen)
    every = by_campaign(acquired)
    present = every[:, 0] > 0  # campaigns with an acquired customer in the table
    sums = pd.DataFrame(picked, columns=list(CUSTOMER_SUMS), index=pd.Index(ready.campaign_ids, name="campaign_id"))
    sums = sums[(picked[:, 0] > 0) & present]
    totals = pd.Series(np.rint(every[present, 0]).astype(int), index=pd.Index(ready.campaign_ids[present]))
    campaigns = facts.campaigns
    if "start_date" in campaigns:  # a campaign that had not started by then has spent nothing yet
        starts = pd.to_datetime(campaigns["start_date"])
        campaigns = campaigns[starts.isna() | (starts <= pd.Timestamp(as_of))]
    return roi_from_sums(
        campaigns,
        sums.astype({"customers": int}),
        totals if filtered else None,
        monthly_margin if monthly_margin is not None else fx.campaign_monthly_margin(facts, filters, as_of),
    )


def owned_products(source: Source, facts: Facts, as_of: date) -> pd.DataFrame:
    """What each customer had bought by ``as_of``, by product (``data.facts.customer_products``):
    made once per date and kept with the facts."""
    return memo(facts, ("owned", as_of), lambda: fx.customer_products(holdings_for(source, facts), as_of))


def ladder_position(source: Source, facts: Facts, customer_id: Any, as_of: date) -> tuple[int, str]:
    """A customer's highest step of the product ladder by ``as_of`` and the product bought at it;
    (0, "") for a customer not on the ladder."""
    owned = owned_products(source, facts, as_of)
    mine = owned[(owned["customer_id"] == customer_id).to_numpy() & owned["ladder_step"].notna().to_numpy()]
    if mine.empty:
        return 0, ""
    top = mine.sort_values("ladder_step", kind="stable").iloc[-1]
    return int(top["ladder_step"]), str(top["name"])


def upsell_tables(
    source: Source, as_of: date, today: date, stages: pd.DataFrame | None = None, facts: Facts | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ranked upsell candidates of every customer (with region and channel, for filtering)
    and the ladder funnel; needs the order_lines and products entities."""
    facts = facts or facts_for(source, today)
    everyone = stages if stages is not None else stages_at(source, as_of, today)
    held = holdings_for(source, facts)
    owned = owned_products(source, facts, as_of)
    candidates = upsell_candidates(everyone, owned, held.catalogue, carry=("region", "channel"))
    return candidates, ladder_funnel(everyone, owned, held.catalogue)

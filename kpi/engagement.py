"""Customer engagement value: what a customer is worth beyond their own purchases (Kumar et al.:
"How valuable is word of mouth?", HBR 2007; "Driving profitability by encouraging customer
referrals", Journal of Marketing 2010; "Undervalued or overvalued customers: capturing total
customer engagement value", Journal of Service Research 2010).

    CEV = CLV + CRV + CIV + CKV

- **CLV** — the customer's own lifetime value (``kpi.customer_value``).
- **CRV, referral value** — for every customer the referrer brought who first bought within the
  window after the referral (``referral_window_months``): p × the referred customer's CLV + the
  acquisition cost saved − the rewards paid, where p is 1 when the referred customer said they would
  not have come without the referral, 0 when they would have come anyway, and ``incremental_share``
  when nobody asked. A referral that brought nobody in the window costs its rewards. The referred
  customer's CLV is already discounted (rate and horizon of the CLV) and counts for one referrer
  only, never in the referrer's own CLV. Kumar counts the rewards of the first kind only; here they
  count for both, since they are paid either way.
- **CIV, influence value** — the CLV of each new customer who came through reviews or shares
  (``influenced_customer_id``; first purchase on the event's day or within the window after it),
  split equally among the customers whose events brought them, and never for a customer already
  counted as a referral. Where the conversion is not tracked, an estimate: people reached × the
  conversion rate of that kind of event × the average CLV of a new customer, kept apart
  (``civ_estimated``) and labelled as an estimate.
- **CKV, knowledge value** — the owner's value of each implemented idea, split among the customers
  who proposed it (rows with the same ``idea_id`` are one idea; the largest value given to it
  counts), plus each feedback or survey answer, each first trial of a new product and each data
  consent at the value per event of the settings. There is no standard estimator: every value is a
  setting.

The value matrix (Kumar 2007) splits the customers at the median CLV and the median CRV:
**champions** (both high), **affluents** (high CLV, low CRV: ask them for referrals),
**advocates** (low CLV, high CRV: offer them more), **misers** (both low).

Pure computation over frames: no database, no Streamlit, no Plotly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from data.settings import EngagementParams

__all__ = [
    "ENGAGEMENT_COLUMNS",
    "QUADRANTS",
    "engagement_overview",
    "engagement_table",
    "influence_value",
    "knowledge_value",
    "referral_asks",
    "referral_chains",
    "referral_detail",
    "referral_programme",
    "referral_value",
    "referrals_of",
    "roi_on_engagement",
    "segment_engagement",
    "value_matrix",
]

#: the per-customer table of ``engagement_table``
ENGAGEMENT_COLUMNS = (
    "customer_id",
    "segment",
    "region",
    "channel",
    "clv",
    "crv",
    "civ",
    "civ_estimated",
    "ckv",
    "cev",
    "engagement_share",
    "referrals",
    "referred_customers",
    "influenced_customers",
    "ideas_implemented",
    "quadrant",
)
QUADRANTS: tuple[str, ...] = ("champions", "affluents", "advocates", "misers")
#: kinds whose events others see (reviews, shares): they may bring new customers
INFLUENCE_KINDS = ("review", "rating", "social_share", "social_post")
IDEA_STATUS_IMPLEMENTED = "implemented"


def _months_after(days: pd.Series, months: int) -> pd.Series:
    return days + pd.DateOffset(months=months)


def _lookup(values: pd.Series, keys: pd.Series) -> pd.Series:
    """``values`` (indexed by customer id) at each of ``keys``, NaN/NaT where a key is unknown."""
    return pd.Series(values.reindex(keys.to_numpy()).to_numpy(), index=keys.index)


def _per_kind(kinds: pd.Series, value: Callable[[str], float]) -> np.ndarray:
    """``value`` of each row's kind (NaN where there is none), asked once per distinct kind: a
    million events hold a dozen kinds."""
    codes, distinct = pd.factorize(kinds)
    read = np.array([float(value(str(k))) for k in distinct] + [np.nan])
    return read[codes]  # code -1 (no kind): the last, NaN


def _where(values: pd.Series, test: Callable[[Any], bool]) -> np.ndarray:
    """Per row: ``test`` of its value (a missing value: False), asked once per distinct value (a
    million events hold a few kinds and statuses: converting each to text cost more than the rest)."""
    codes, distinct = pd.factorize(values)
    return np.array([bool(test(v)) for v in distinct] + [False])[codes]


def _incremental(values: pd.Series, default: float) -> np.ndarray:
    """The probability that each referral brought someone who would not have come otherwise: the
    survey's answer (true 1, false 0), else ``default``. Text answers are read as yes/no."""
    raw = values.astype(object)
    # a few distinct answers: each read once, then looked up row by row
    codes, distinct = pd.factorize(raw)
    read = np.array([str(v).strip().lower() for v in distinct] + [""], dtype=object)
    text = pd.Series(read[codes], index=values.index)  # code -1 (missing): the last, ""
    yes = text.isin(("true", "1", "1.0", "yes", "y", "si", "sì", "s", "t", "vero"))
    no = text.isin(("false", "0", "0.0", "no", "n", "f", "falso"))
    return np.where(yes, 1.0, np.where(no, 0.0, default))


def referral_detail(
    referrals: pd.DataFrame,
    clv: pd.Series,
    first_purchase: pd.Series,
    params: EngagementParams,
    cac_saved: float,
) -> pd.DataFrame:
    """One row per referral with what it brought: ``converted`` (the referred customer first bought
    within the window after the referral), ``p_incremental``, ``referred_clv`` and ``value`` (p × CLV
    + acquisition cost saved − rewards when converted, − rewards otherwise).

    ``referrals``: ``referrer_id``, ``referred_id``, ``referred_at`` and optionally
    ``reward_referrer``, ``reward_referred``, ``incremental``; ``clv`` and ``first_purchase`` are
    indexed by customer id."""
    out = referrals[["referrer_id", "referred_id", "referred_at"]].copy()
    at = pd.to_datetime(out["referred_at"])
    first = pd.to_datetime(_lookup(first_purchase, out["referred_id"]))
    out["converted"] = (first >= at.dt.normalize()) & (first <= _months_after(at, params.referral_window_months))
    rewards = np.zeros(len(out))
    for column in ("reward_referrer", "reward_referred"):
        if column in referrals:
            rewards += pd.to_numeric(referrals[column], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    out["rewards"] = rewards
    incremental = referrals["incremental"] if "incremental" in referrals else pd.Series(np.nan, index=out.index)
    out["p_incremental"] = _incremental(incremental, params.incremental_share)
    out["referred_clv"] = _lookup(clv, out["referred_id"]).astype(float).fillna(0.0)
    gained = out["p_incremental"] * out["referred_clv"] + float(cac_saved)
    out["value"] = np.where(out["converted"], gained, 0.0) - out["rewards"]
    return out


def referral_value(detail: pd.DataFrame) -> pd.DataFrame:
    """Per referrer: ``crv`` (the sum of their referrals' value), ``referrals`` made and
    ``referred_customers`` who bought within the window (indexed by the referrer's id)."""
    grouped = detail.groupby("referrer_id", sort=False)
    return pd.DataFrame(
        {
            "crv": grouped["value"].sum(),
            "referrals": grouped.size(),
            "referred_customers": grouped["converted"].sum().astype(int),
        }
    )


def influence_value(
    engagements: pd.DataFrame,
    clv: pd.Series,
    first_purchase: pd.Series,
    referred: set[object] | pd.Index,
    params: EngagementParams,
    new_customer_clv: float,
) -> pd.DataFrame:
    """Per customer: ``civ`` (the CLV of the new customers their reviews and shares brought, each
    split among the customers who brought them), ``influenced_customers`` (their share of such
    customers) and ``civ_estimated`` (people reached × conversion rate × ``new_customer_clv``, for
    events of those kinds without a tracked conversion). Indexed by customer id."""
    shown = engagements[_where(engagements["kind"], lambda kind: str(kind) in INFLUENCE_KINDS)]
    has_target = (
        shown["influenced_customer_id"].notna()
        if "influenced_customer_id" in shown
        else pd.Series(False, index=shown.index)
    )
    tracked = shown[has_target]
    if len(tracked):
        at = pd.to_datetime(tracked["occurred_at"])
        target = tracked["influenced_customer_id"]
        first = pd.to_datetime(_lookup(first_purchase, target))
        new = (first >= at.dt.normalize()) & (first <= _months_after(at, params.referral_window_months))
        known = referred if isinstance(referred, pd.Index) else list(referred)
        keep = new & ~target.isin(known) & (target != tracked["customer_id"])
        pairs = pd.DataFrame({"customer_id": tracked["customer_id"][keep], "target": target[keep]}).drop_duplicates()
        influencers = pairs.groupby("target")["customer_id"].transform("size")
        pairs["value"] = _lookup(clv, pairs["target"]).astype(float).fillna(0.0) / influencers
        pairs["share"] = 1.0 / influencers
        civ = pairs.groupby("customer_id", sort=False)[["value", "share"]].sum()
    else:
        civ = pd.DataFrame(columns=["value", "share"], dtype=float)
    untracked = shown[~has_target]
    if "reach" in untracked and len(untracked):
        reach = pd.to_numeric(untracked["reach"], errors="coerce").fillna(0.0).clip(lower=0.0)
        rate = pd.Series(_per_kind(untracked["kind"], params.rate), index=untracked.index)
        estimate = (reach * rate * float(new_customer_clv)).groupby(untracked["customer_id"], sort=False).sum()
    else:
        estimate = pd.Series(dtype=float)
    out = pd.DataFrame(
        {"civ": civ["value"], "influenced_customers": civ["share"]},
        index=civ.index.union(estimate.index),
    )
    out["civ_estimated"] = estimate
    return out.fillna(0.0)


def knowledge_value(engagements: pd.DataFrame, params: EngagementParams) -> pd.DataFrame:
    """Per customer: ``ckv`` (implemented ideas at the owner's value, split among who proposed each,
    plus feedback, survey answers, new-product trials and data consents at the values per event) and
    ``ideas_implemented`` (their share of implemented ideas). Indexed by customer id."""
    kinds = engagements["kind"]
    status = engagements.get("status")
    values = pd.to_numeric(engagements["value"], errors="coerce") if "value" in engagements else None
    parts: list[pd.Series] = []
    shares = pd.Series(dtype=float)
    if status is not None and values is not None:
        implemented = (
            _where(kinds, lambda kind: str(kind) == "idea")
            & _where(status, lambda said: str(said).strip().lower() == IDEA_STATUS_IMPLEMENTED)
            & (values > 0)
        )
        ideas = engagements[implemented]
        if len(ideas):
            if "idea_id" in ideas and ideas["idea_id"].notna().any():
                idea = ideas["idea_id"].astype(object).where(ideas["idea_id"].notna(), "row:" + ideas.index.astype(str))
            else:
                idea = pd.Series("row:" + ideas.index.astype(str), index=ideas.index)
            frame = pd.DataFrame({"idea": idea, "customer_id": ideas["customer_id"], "value": values[implemented]})
            worth = frame.groupby("idea")["value"].max()
            proposers = frame[["idea", "customer_id"]].drop_duplicates()
            count = proposers.groupby("idea")["customer_id"].transform("size")
            proposers = proposers.assign(value=proposers["idea"].map(worth) / count, share=1.0 / count)
            parts.append(proposers.groupby("customer_id", sort=False)["value"].sum())
            shares = proposers.groupby("customer_id", sort=False)["share"].sum()
    per_event = {
        "feedback": params.value_per_feedback,
        "survey": params.value_per_feedback,
        "new_product_trial": params.value_per_trial,
        "data_consent": params.value_per_consent,
    }
    each = pd.Series(_per_kind(kinds, lambda kind: per_event.get(kind, np.nan)), index=kinds.index)
    counted = each.notna() & (each > 0)
    if counted.any():
        parts.append(each[counted].groupby(engagements["customer_id"][counted], sort=False).sum())
    ckv = pd.concat(parts).groupby(level=0, sort=False).sum() if parts else pd.Series(dtype=float)
    out = pd.DataFrame({"ckv": ckv}, index=ckv.index.union(shares.index))
    out["ideas_implemented"] = shares
    return out.fillna(0.0)


def value_matrix(clv: pd.Series, crv: pd.Series) -> pd.Series:
    """The quadrant of each customer: above the median CLV and/or above the median CRV (most
    customers refer nobody, so the median CRV is usually 0 and any referral value above it is high)."""
    high_clv = (clv > clv.median()).to_numpy(dtype=bool)
    high_crv = (crv > crv.median()).to_numpy(dtype=bool)
    # 2 × (high CLV) + (high CRV): misers, advocates, affluents, champions (a number per customer,
    # then a name per number: choosing among texts customer by customer cost ten times more)
    names = np.array(["misers", "advocates", "affluents", "champions"], dtype=object)
    return pd.Series(names[2 * high_clv.astype(np.int8) + high_crv], index=clv.index, dtype=object)


def engagement_table(
    clv_table: pd.DataFrame,
    referrals: pd.DataFrame | None,
    engagements: pd.DataFrame | None,
    params: EngagementParams,
    as_of: date,
    cac_saved: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every customer's engagement value (``ENGAGEMENT_COLUMNS``) and the referrals one by one
    (``referral_detail``; empty without referrals).

    ``clv_table``: the CLV table (``customer_id``, ``segment``, ``region``, ``channel``,
    ``first_purchase``, ``total_clv``); referrals and engagements as cleaned (None when the entity is
    not mapped: its part is 0). ``cac_saved``: the acquisition cost a referral saves (the average
    paid CAC)."""
    ids = clv_table["customer_id"]
    index = pd.Index(ids)  # one index for both: each customer's lookups hash the ids once
    clv = pd.Series(clv_table["total_clv"].to_numpy(dtype=float), index=index)
    first = pd.Series(pd.to_datetime(clv_table["first_purchase"]).to_numpy(), index=index)
    out = clv_table[["customer_id", "segment", "region", "channel"]].reset_index(drop=True).copy()
    out["clv"] = clv.to_numpy()
    if referrals is not None and len(referrals):
        detail = referral_detail(referrals, clv, first, params, cac_saved)
        by_referrer = referral_value(detail)
    else:
        detail = pd.DataFrame(
            columns=[
                "referrer_id",
                "referred_id",
                "referred_at",
                "converted",
                "rewards",
                "p_incremental",
                "referred_clv",
                "value",
            ]
        )
        by_referrer = pd.DataFrame(columns=["crv", "referrals", "referred_customers"], dtype=float)
    if engagements is not None and len(engagements):
        # the average CLV of a customer who first bought in the last 12 months (all, if none did)
        recent = first >= pd.Timestamp(as_of) - pd.DateOffset(months=12)
        new_clv = float(clv[recent].mean()) if recent.any() else float(clv.mean()) if len(clv) else 0.0
        influence = influence_value(engagements, clv, first, pd.Index(detail["referred_id"]), params, new_clv)
        knowledge = knowledge_value(engagements, params)
    else:
        influence = pd.DataFrame(columns=["civ", "influenced_customers", "civ_estimated"], dtype=float)
        knowledge = pd.DataFrame(columns=["ckv", "ideas_implemented"], dtype=float)
    # each part looked up by customer id (a referrer, an influencer or a proposer is a customer);
    # a customer without a part, or with a missing value, has 0
    every = ids.to_numpy()
    for part, columns in (
        (by_referrer, ("crv", "referrals", "referred_customers")),
        (influence, ("civ", "civ_estimated", "influenced_customers")),
        (knowledge, ("ckv", "ideas_implemented")),
    ):
        row = part.index.get_indexer(every)
        has = row >= 0
        for column in columns:
            values = np.zeros(len(every))
            values[has] = part[column].astype(float).to_numpy()[row[has]]
            out[column] = np.where(np.isnan(values), 0.0, values)
    out["cev"] = out["clv"] + out["crv"] + out["civ"] + out["civ_estimated"] + out["ckv"]
    engaged = out["cev"] - out["clv"]
    out["engagement_share"] = np.where(out["cev"] > 0, engaged / out["cev"].where(out["cev"] > 0), np.nan)
    out["referrals"] = out["referrals"].astype(int)
    out["referred_customers"] = out["referred_customers"].astype(int)
    out["quadrant"] = value_matrix(out["clv"], out["crv"]).to_numpy()
    return out[list(ENGAGEMENT_COLUMNS)], detail


def segment_engagement(table: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers, and the average CLV, CRV, CIV (tracked and estimated), CKV and CEV per
    customer, with the share of the total value that comes from engagement."""
    grouped = table.groupby("segment", sort=True)
    out = grouped[["clv", "crv", "civ", "civ_estimated", "ckv", "cev"]].mean()
    out.insert(0, "customers", grouped.size())
    totals = grouped[["cev", "clv"]].sum()
    out["engagement_share"] = np.where(totals["cev"] > 0, (totals["cev"] - totals["clv"]) / totals["cev"], np.nan)
    return out.reset_index()


def engagement_overview(table: pd.DataFrame) -> dict[str, float]:
    """``avg_cev`` (per customer) and ``engagement_share`` (of the customers' total value, the part
    that does not come from their own purchases) of the chosen customers."""
    total_cev, total_clv = float(table["cev"].sum()), float(table["clv"].sum())
    return {
        "avg_cev": float(table["cev"].mean()) if len(table) else float("nan"),
        "engagement_share": (total_cev - total_clv) / total_cev if total_cev > 0 else float("nan"),
    }


def roi_on_engagement(roi: pd.DataFrame, engaged_by_campaign: pd.Series) -> pd.Series:
    """Each campaign's ROI on the engagement value of the customers it brought: (Σ CLV before
    acquisition cost + Σ their engagement value (CEV − CLV) − spend) / spend, i.e. the lifetime ROI
    plus the engagement value per unit of spend. ``roi``: a ``kpi.roi.campaign_roi`` table;
    ``engaged_by_campaign``: the engagement value of its (chosen) customers, by campaign id."""
    extra = roi["campaign_id"].map(engaged_by_campaign).astype(float).fillna(0.0)
    spend = roi["spend"].astype(float)
    return (roi["roi_lifetime"] + extra / spend.where(spend > 0)).rename("roi_cev")


#: high-CLV customers of a segment needed to judge its own referral rate (else all segments together)
MIN_PEERS = 5


def referral_asks(table: pd.DataFrame, p_alive: pd.Series) -> pd.DataFrame:
    """The affluents to ask for a referral, ranked by the expected value of asking: P(alive) × the
    share of the segment's high-CLV customers who brought someone (the champions among champions and
    affluents) × what such a referrer brought on average (the champions' mean CRV). All segments
    together where a segment has fewer than ``MIN_PEERS`` high-CLV customers.

    ``table``: the engagement table of every customer (the peers); ``p_alive``: by customer id.
    Columns: ``customer_id``, ``segment``, ``clv``, ``p_alive``, ``referral_rate``,
    ``value_per_referrer``, ``expected_value``, ``peers`` ("segment" or "all")."""
    high = table[table["quadrant"].isin(("champions", "affluents"))]
    champions = high[high["quadrant"] == "champions"]
    overall_rate = len(champions) / len(high) if len(high) else 0.0
    overall_value = float(champions["crv"].mean()) if len(champions) else 0.0
    peers = high.groupby("segment").size()
    rates = champions.groupby("segment").size().reindex(peers.index, fill_value=0) / peers
    values = champions.groupby("segment")["crv"].mean().reindex(peers.index)
    asked = table[table["quadrant"] == "affluents"][["customer_id", "segment", "clv"]].copy()
    segment = asked["segment"].astype(object)  # a label per row (mapped to numbers below)
    own = segment.map(peers).fillna(0) >= MIN_PEERS
    seg_rate = segment.map(rates).astype(float)
    seg_value = segment.map(values).astype(float)
    use_own = own & seg_value.notna() & (seg_rate > 0)
    asked["referral_rate"] = np.where(use_own, seg_rate, overall_rate)
    asked["value_per_referrer"] = np.where(use_own, seg_value, overall_value)
    asked["peers"] = np.where(use_own, "segment", "all")
    asked["p_alive"] = _lookup(p_alive, asked["customer_id"]).astype(float).fillna(0.0).to_numpy()
    asked["expected_value"] = asked["p_alive"] * asked["referral_rate"] * asked["value_per_referrer"].clip(lower=0.0)
    ordered = asked.sort_values(["expected_value", "clv"], ascending=False, kind="stable")
    return ordered[
        ["customer_id", "segment", "clv", "p_alive", "referral_rate", "value_per_referrer", "expected_value", "peers"]
    ].reset_index(drop=True)


def referral_chains(detail: pd.DataFrame, top: int = 12) -> pd.DataFrame:
    """Who brought whom: the ``top`` referrers by the value their referrals brought before rewards,
    ``direct`` (the customers they referred) and ``onward`` (the customers those referred in turn,
    one step on), with ``total`` and the ``referred`` ids of each, largest total first."""
    if detail.empty:
        return pd.DataFrame(columns=["referrer_id", "direct", "onward", "total", "referred"])
    gained = detail.assign(gain=(detail["value"] + detail["rewards"]).clip(lower=0.0))
    direct = gained.groupby("referrer_id")["gain"].sum()
    up = _lookup(gained.set_index("referred_id")["referrer_id"], gained["referrer_id"])
    onward = gained.assign(up=up).dropna(subset=["up"]).groupby("up")["gain"].sum()
    total = direct.add(onward, fill_value=0.0).nlargest(top)
    best = total.index
    referred = gained[gained["referrer_id"].isin(best)].groupby("referrer_id")["referred_id"].agg(list)
    return pd.DataFrame(
        {
            "referrer_id": best,
            "direct": direct.reindex(best).fillna(0.0).to_numpy(),
            "onward": onward.reindex(best).fillna(0.0).to_numpy(),
            "total": total.to_numpy(),
            "referred": [referred.get(r, []) for r in best],
        }
    )


def referrals_of(detail: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The referrals (``referral_detail``) made by the customers of ``table`` (a filtered selection)."""
    return detail[detail["referrer_id"].isin(set(table["customer_id"]))] if len(detail) else detail


def referral_programme(detail: pd.DataFrame) -> dict[str, float]:
    """The referral programme judged like a campaign: referrals, referred customers who bought,
    rewards paid, value created before rewards, CRV (after rewards) and ROI = CRV / rewards."""
    rewards = float(detail["rewards"].sum()) if len(detail) else 0.0
    crv = float(detail["value"].sum()) if len(detail) else 0.0
    return {
        "referrals": float(len(detail)),
        "referred_customers": float(detail["converted"].sum()) if len(detail) else 0.0,
        "rewards": rewards,
        "value_before_rewards": crv + rewards,
        "crv": crv,
        "roi": crv / rewards if rewards > 0 else float("nan"),
    }

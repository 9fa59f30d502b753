"""Marketing ROI judged on the customers' lifetime value (DESIGN.md section 3).

A campaign that returns less than its cost on the first purchase can still be good when the
customers it brought are worth more than it cost over their life; if not, stop it or rethink it.

    ROI on first purchase = (margin of the acquired customers' first purchases − spend) / spend
    ROI to date           = (margin to date − service cost − spend) / spend
    lifetime ROI          = (Σ CLV before acquisition cost − spend) / spend
    CLV : CAC             = Σ CLV before acquisition cost / spend  (= mean CLV before CAC / CAC)

Every ratio is declared once here and used for campaigns and channels alike; a zero denominator
gives NaN ("n/d"), never an error. An unknown count is NaN too, and so is every ratio built on it:
leads that do not say which customer they became give an unknown conversion, not a 0 % one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "VERDICTS",
    "campaign_roi",
    "channel_roi",
    "marketing_summary",
    "payback",
    "payback_curves",
    "roi_from_sums",
    "unknown_conversions",
    "verdict",
]

VERDICTS: tuple[str, ...] = ("pays_first", "pays_lifetime", "does_not_pay", "no_spend")

_SUMS = (
    "spend",
    "leads",
    "converted_leads",
    "customers",
    "first_margin",
    "margin_to_date",
    "service_cost",
    "clv_before_cac",
)
#: The ratio columns, in display order, for campaigns and channels alike.
RATIO_COLUMNS = ("cost_per_lead", "conversion_rate", "cac", "roi_first", "roi_to_date", "roi_lifetime", "clv_cac")
ROI_COLUMNS = ("campaign_id", "name", "channel", *_SUMS, *RATIO_COLUMNS, "payback_months", "verdict")


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    den = denominator.astype(float)
    return numerator.astype(float) / den.where(den != 0)


def _ratios(df: pd.DataFrame) -> pd.DataFrame:
    """The ratio KPIs from the summed columns (``_SUMS``), for any grouping."""
    out = df.copy()
    out["cost_per_lead"] = _ratio(out["spend"], out["leads"])
    out["conversion_rate"] = _ratio(out["converted_leads"], out["leads"])
    out["cac"] = _ratio(out["spend"], out["customers"])
    out["roi_first"] = _ratio(out["first_margin"] - out["spend"], out["spend"])
    out["roi_to_date"] = _ratio(out["margin_to_date"] - out["service_cost"] - out["spend"], out["spend"])
    out["roi_lifetime"] = _ratio(out["clv_before_cac"] - out["spend"], out["spend"])
    out["clv_cac"] = _ratio(out["clv_before_cac"], out["spend"])
    out["verdict"] = [
        verdict(s, f, life) for s, f, life in zip(out["spend"], out["roi_first"], out["roi_lifetime"], strict=True)
    ]
    return out


def verdict(spend: float, roi_first: float, roi_lifetime: float) -> str:
    """``pays_first`` when the first purchases already cover the spend; ``pays_lifetime`` when
    the customers' lifetime value does; ``does_not_pay`` otherwise; ``no_spend`` without spend."""
    if not spend or np.isnan(spend):
        return "no_spend"
    if not np.isnan(roi_first) and roi_first >= 0:
        return "pays_first"
    if not np.isnan(roi_lifetime) and roi_lifetime >= 0:
        return "pays_lifetime"
    return "does_not_pay"


def campaign_roi(
    campaigns: pd.DataFrame,
    customers: pd.DataFrame,
    selected: pd.Series | None = None,
    monthly_margin: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per campaign with the columns of ``ROI_COLUMNS``.

    ``campaigns``: ``campaign_id``, ``name``, ``channel``, ``spend``, ``leads``, ``converted_leads``
    (and ``start_date`` for the payback). ``customers``: every acquired customer with ``campaign_id``,
    ``first_purchase_margin``, ``margin_to_date``, ``service_cost``, ``residual_clv``.
    ``selected``: a boolean mask over ``customers`` (a segment, region or channel filter). With a
    selection, each campaign's spend is shared in proportion to its customers in the selection (its
    CAC is unchanged), leads — which belong to no segment — are not counted, and a campaign whose
    customers are all outside the selection is left out; a campaign with no customer at all keeps
    its whole spend. ``monthly_margin`` (``campaign_id``, ``month``,
    ``margin``) gives the payback in months.
    """
    needed = ("campaign_id", "first_purchase_margin", "margin_to_date", "service_cost", "residual_clv")
    missing = [c for c in needed if c not in customers]
    if missing:
        raise ValueError(f"The customers table lacks the columns {', '.join(missing)}.")
    filtered = selected is not None and not bool(selected.all())
    acquired = customers[customers["campaign_id"].notna()].copy()
    acquired["clv_before_cac"] = acquired["margin_to_date"] - acquired["service_cost"] + acquired["residual_clv"]
    totals = acquired.groupby("campaign_id").size()
    chosen = (
        acquired[selected.reindex(acquired.index, fill_value=False)] if filtered and selected is not None else acquired
    )
    sums = chosen.groupby("campaign_id").agg(
        customers=("campaign_id", "size"),
        first_margin=("first_purchase_margin", "sum"),
        margin_to_date=("margin_to_date", "sum"),
        service_cost=("service_cost", "sum"),
        clv_before_cac=("clv_before_cac", "sum"),
    )
    return roi_from_sums(campaigns, sums, totals if filtered else None, monthly_margin)


#: What ``roi_from_sums`` needs summed per campaign over the chosen customers.
CUSTOMER_SUMS = ("customers", "first_margin", "margin_to_date", "service_cost", "clv_before_cac")


def roi_from_sums(
    campaigns: pd.DataFrame,
    sums: pd.DataFrame,
    totals: pd.Series | None = None,
    monthly_margin: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``campaign_roi`` from the chosen customers' sums per campaign (``CUSTOMER_SUMS``, indexed by
    campaign id, campaigns without a chosen customer absent) — for callers that keep such sums
    ready. ``totals``: every acquired customer's count per campaign when a selection was made
    (None: no selection)."""
    missing = [c for c in ("campaign_id", "name", "channel", "spend", "leads", "converted_leads") if c not in campaigns]
    if missing:
        raise ValueError(f"The campaigns table lacks the columns {', '.join(missing)}.")
    out = campaigns.set_index("campaign_id").join(sums[list(CUSTOMER_SUMS)], how="left")
    out[list(CUSTOMER_SUMS)] = out[list(CUSTOMER_SUMS)].fillna(0.0)
    out["customers"] = out["customers"].astype(int)
    if totals is not None:
        total = totals.reindex(out.index).fillna(0)
        share = (out["customers"] / total.where(total > 0)).fillna(1.0)
        out["spend"] = out["spend"] * share
        out["leads"] = np.nan
        out["converted_leads"] = np.nan
        # A campaign whose customers are all outside the selection says nothing about it.
        out = out[(out["customers"] > 0) | (total == 0)]
    out = _ratios(out.reset_index())
    out["payback_months"] = payback(out, monthly_margin) if monthly_margin is not None else np.nan
    return out[list(ROI_COLUMNS)]


def unknown_conversions(roi: pd.DataFrame) -> pd.DataFrame:
    """A copy of a campaign (or channel) table whose ``converted_leads`` and ``conversion_rate`` are
    unknown (NaN, shown "n/d"): for leads that do not say which customer each became (no
    ``customer_id`` in the leads mapping), where zero converted leads would read as a 0 % conversion.
    ``channel_roi`` and ``marketing_summary`` of the copy keep the conversion unknown."""
    out = roi.copy()
    out["converted_leads"] = np.nan
    out["conversion_rate"] = np.nan
    return out


def payback(campaigns: pd.DataFrame, monthly_margin: pd.DataFrame) -> pd.Series:
    """Months from each campaign's start (its ``start_date``, else its first month with margin)
    until its customers' cumulative margin covers its ``spend``; NaN if not yet (or no spend)."""
    result = pd.Series(np.nan, index=campaigns.index)
    if monthly_margin.empty:
        return result
    starts = campaigns["start_date"] if "start_date" in campaigns else pd.Series(pd.NaT, index=campaigns.index)
    for idx, row in campaigns.iterrows():
        spend = float(row["spend"])
        months = monthly_margin[monthly_margin["campaign_id"] == row["campaign_id"]].sort_values("month")
        if spend <= 0 or months.empty:
            continue
        start = starts.get(idx)
        start = pd.Timestamp(start).to_period("M") if pd.notna(start) else months["month"].iloc[0].to_period("M")
        covered = months[months["margin"].cumsum() >= spend]
        if not covered.empty:
            result[idx] = (covered["month"].iloc[0].to_period("M") - start).n + 1
    return result


def payback_curves(campaigns: pd.DataFrame, monthly_margin: pd.DataFrame) -> pd.DataFrame:
    """Per campaign and month since its start: the share of its spend recovered by its customers'
    cumulative margin. Columns ``campaign_id``, ``name``, ``months``, ``recovered`` (1.0 = paid back)."""
    rows = []
    for _, row in campaigns.iterrows():
        spend = float(row["spend"])
        months = monthly_margin[monthly_margin["campaign_id"] == row["campaign_id"]].sort_values("month")
        if spend <= 0 or months.empty:
            continue
        start_value = row.get("start_date")
        start = (
            pd.Timestamp(start_value).to_period("M")
            if pd.notna(start_value)
            else months["month"].iloc[0].to_period("M")
        )
        cumulative = months["margin"].cumsum() / spend
        for month, value in zip(months["month"], cumulative, strict=True):
            rows.append(
                {
                    "campaign_id": row["campaign_id"],
                    "name": row["name"],
                    "months": (month.to_period("M") - start).n + 1,
                    "recovered": float(value),
                }
            )
    return pd.DataFrame(rows, columns=["campaign_id", "name", "months", "recovered"])


def channel_roi(roi: pd.DataFrame) -> pd.DataFrame:
    """The campaign table summed by channel, with the same ratios."""
    if roi.empty:
        return roi.drop(columns=["campaign_id", "name"]).copy()
    sums = roi.groupby("channel", as_index=False)[list(_SUMS)].sum(min_count=1)
    out = _ratios(sums)
    return out[["channel", *_SUMS, *RATIO_COLUMNS, "verdict"]]


#: The figures of ``marketing_summary`` besides the count of campaigns per verdict.
SUMMARY = (
    "spend",
    "customers",
    "cac",
    "roi_first",
    "roi_to_date",
    "roi_lifetime",
    "clv_cac",
    "leads",
    "conversion_rate",
)


def marketing_summary(roi: pd.DataFrame) -> dict[str, float]:
    """All campaigns together: ``spend``, ``customers``, ``cac``, ``roi_first``, ``roi_to_date``,
    ``roi_lifetime``, ``clv_cac``, ``leads``, ``conversion_rate`` (converted leads ÷ leads; NaN when
    unknown or without leads) and the number of campaigns per verdict."""
    sums = roi[list(_SUMS)].sum(min_count=1).to_frame().T
    total = _ratios(sums).iloc[0]
    out = {k: float(total[k]) for k in SUMMARY}
    for v in VERDICTS:
        out[v] = float((roi["verdict"] == v).sum())
    return out

"""The demo database: an Italian coffee supplier, three years of customers, orders and campaigns.

The story the figures tell (deterministic for a given seed and size):

* Four segments — Privati, Uffici, HoReCa, Rivenditori — in five regions, each with its own
  buying rhythm and basket. Customers buy and drop out as in a BG/NBD world: each has their own
  purchase rate (gamma-distributed) and, after every purchase, their own chance of leaving
  (beta-distributed).
* Six campaigns. Three are designed to differ: *Google Ads Uffici 2024* pays back on the first
  order; *Fiera HoReCa Rimini 2024* loses money on the first order but brings bars and
  restaurants that buy for years; *Black Friday Social 2024* brings bargain hunters who rarely
  come back, so it never pays.
* A product ladder (coffee → espresso machine → maintenance contract → professional machine),
  support tickets, leads per campaign, refunds as negative orders, and a handful of deliberately
  broken rows (an order with no customer, a future date, a repeated id, a missing amount, a
  repeated customer) so the data-health page has something to show.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data.entities import ENTITIES

__all__ = [
    "DEMO_END",
    "DEMO_PATH",
    "DEMO_START",
    "build_demo_frames",
    "demo_keys",
    "demo_ready",
    "ensure_demo_database",
    "write_demo",
    "write_frames",
]

DEMO_START = date(2023, 11, 1)
DEMO_END = date(2026, 10, 31)
DEMO_PATH = Path(__file__).resolve().parent / "demo.duckdb"
DEMO_VERSION = 5  # 5: the keys of the ids that never repeat declared unique; no two customers named alike

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class _Segment:
    name: str
    share: float
    r: float  # gamma shape of the weekly purchase rate
    alpha: float  # gamma rate of the weekly purchase rate
    a: float  # beta parameters of the drop-out probability after a purchase
    b: float
    basket: float  # mean order revenue, EUR net of VAT
    margin: float
    tickets_per_year: float
    upgrade_chance: float  # chance that an order also climbs one step of the ladder


SEGMENTS = (
    _Segment("Privati", 0.45, 0.9, 14.0, 0.9, 4.0, 55.0, 0.46, 0.3, 0.02),
    _Segment("Uffici", 0.25, 1.6, 16.0, 0.6, 6.0, 320.0, 0.36, 1.0, 0.04),
    _Segment("HoReCa", 0.20, 2.2, 11.0, 0.45, 8.0, 430.0, 0.38, 1.6, 0.05),
    _Segment("Rivenditori", 0.10, 2.6, 12.0, 0.35, 6.0, 1150.0, 0.22, 0.8, 0.03),
)
REGIONS = (("Nord-Ovest", 0.30), ("Nord-Est", 0.22), ("Centro", 0.22), ("Sud", 0.17), ("Isole", 0.09))


@dataclass(frozen=True)
class _Campaign:
    campaign_id: str
    name: str
    channel: str
    start: date
    end: date
    share: float  # of all customers
    segment: str
    cac: float  # spend per acquired customer
    conversion: float  # customers / leads
    first_basket: float | None = None  # overrides the first order's revenue
    a: float | None = None  # overrides drop-out
    b: float | None = None
    rate_factor: float = 1.0


CAMPAIGNS = (
    _Campaign(
        "C01",
        "Google Ads Uffici 2024",
        "Google Ads",
        date(2024, 2, 1),
        date(2024, 6, 30),
        0.040,
        "Uffici",
        110.0,
        0.08,
        first_basket=900.0,
    ),
    _Campaign(
        "C02",
        "Fiera HoReCa Rimini 2024",
        "Fiere",
        date(2024, 1, 20),
        date(2024, 3, 31),
        0.035,
        "HoReCa",
        420.0,
        0.22,
        first_basket=520.0,
        a=0.25,
        b=12.0,
        rate_factor=1.3,
    ),
    _Campaign(
        "C03",
        "Black Friday Social 2024",
        "Social",
        date(2024, 11, 15),
        date(2024, 12, 15),
        0.080,
        "Privati",
        150.0,
        0.03,
        first_basket=38.0,
        a=4.0,
        b=1.5,
        rate_factor=0.5,
    ),
    _Campaign(
        "C04", "Newsletter primavera 2025", "Email", date(2025, 3, 1), date(2025, 5, 31), 0.030, "Privati", 15.0, 0.12
    ),
    _Campaign(
        "C05",
        "Agenti rivenditori 2025",
        "Agenti",
        date(2025, 1, 10),
        date(2025, 12, 20),
        0.025,
        "Rivenditori",
        650.0,
        0.30,
    ),
    _Campaign(
        "C06",
        "Google Ads Privati 2025",
        "Google Ads",
        date(2025, 9, 1),
        date(2026, 2, 28),
        0.050,
        "Privati",
        45.0,
        0.05,
    ),
)

PRODUCTS = pd.DataFrame(
    {
        "product_id": ["P01", "P02", "P03", "P04", "P05", "P06", "P07"],
        "name": [
            "Caffè in grani 1 kg",
            "Capsule compatibili (100)",
            "Macchina espresso compatta",
            "Contratto di manutenzione annuale",
            "Macchina professionale 2 gruppi",
            "Tazzine e accessori",
            "Corso barista",
        ],
        "category": ["Caffè", "Caffè", "Macchine", "Assistenza", "Macchine", "Accessori", "Formazione"],
        "ladder_step": [1, 1, 2, 3, 4, None, None],
        "price": [19.0, 32.0, 390.0, 240.0, 2900.0, 45.0, 180.0],
    }
)
_LADDER_PRICE = {2: 390.0, 3: 240.0, 4: 2900.0}
_LADDER_PRODUCT = {2: "P03", 3: "P04", 4: "P05"}

_FIRST = [
    "Marco",
    "Giulia",
    "Luca",
    "Francesca",
    "Andrea",
    "Chiara",
    "Matteo",
    "Sara",
    "Paolo",
    "Elena",
    "Davide",
    "Anna",
    "Simone",
    "Laura",
    "Giorgio",
    "Marta",
]
_LAST = [
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
]
_PREFIX = {"Privati": "", "Uffici": "Studio ", "HoReCa": "Bar ", "Rivenditori": "Distribuzione "}
#: provinces (their codes, as Italian customer lists write them) that tell apart customers of the
#: same name, once every first and last name pair is taken
_PROVINCES = (
    "BG", "BS", "CO", "CR", "LC", "LO", "MN", "MB", "PV", "VA", "VR", "VI", "PD", "TV", "UD", "TN", "BZ", "PR",
    "MO", "FE", "RA", "RN", "PU", "AN", "PG", "AR", "SI", "PI", "LU", "LI", "VT", "LT", "PE", "LE", "BA", "SA",
    "CS", "SS", "CA", "TP",
)  # fmt: skip


def _customer_name(i: int) -> str:
    """The ``i``-th customer's name: every first and last name pair in turn, then the pairs again
    with a province (none twice among the first 13,120 customers: a table's reader tells them
    apart)."""
    pairs = len(_FIRST) * len(_LAST)
    name = f"{_FIRST[i % len(_FIRST)]} {_LAST[(i // len(_FIRST)) % len(_LAST)]}"
    round_ = (i // pairs) % (len(_PROVINCES) + 1)
    return f"{name} ({_PROVINCES[round_ - 1]})" if round_ else name


def _simulate_orders(
    rng: np.random.Generator, acquired: np.ndarray, lam: np.ndarray, p: np.ndarray, horizon_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Purchase days of each customer in a BG/NBD world: first purchase on the acquisition day,
    exponential waits at rate ``lam`` per day, and after each purchase a drop-out with chance ``p``.
    Returns (customer index, day offset) arrays."""
    idx_parts = [np.arange(len(acquired))]
    day_parts = [acquired.astype(float)]
    alive = np.arange(len(acquired))
    t = acquired.astype(float)
    for _ in range(400):
        stays = rng.random(len(alive)) >= p[alive]
        alive, t = alive[stays], t[stays]
        t = t + rng.exponential(1.0 / lam[alive])
        inside = t <= horizon_days
        alive, t = alive[inside], t[inside]
        if len(alive) == 0:
            break
        idx_parts.append(alive)
        day_parts.append(t)
    return np.concatenate(idx_parts), np.floor(np.concatenate(day_parts)).astype(int)


def build_demo_frames(customers: int = 3000, seed: int = 7, intensity: float = 1.0) -> dict[str, pd.DataFrame]:
    """The demo tables as DataFrames, deterministic for ``customers``, ``seed`` and ``intensity``
    (a factor on every customer's purchase rate: 1.0 gives about 7 orders per customer, 1.75
    about 10, for benchmarks)."""
    if customers < 100:
        raise ValueError("The demo needs at least 100 customers.")
    rng = np.random.default_rng(seed)
    horizon = (DEMO_END - DEMO_START).days
    n = customers

    # Who the customers are and how they arrived.
    seg_idx = rng.choice(len(SEGMENTS), size=n, p=[s.share for s in SEGMENTS])
    campaign_idx = np.full(n, -1)
    order = rng.permutation(n)
    pos = 0
    for ci, camp in enumerate(CAMPAIGNS):
        k = round(camp.share * n)
        chosen = order[pos : pos + k]
        pos += k
        campaign_idx[chosen] = ci
        seg_idx[chosen] = [s.name for s in SEGMENTS].index(camp.segment)
    # Acquisition day: campaign window, else spread over the years with gentle growth.
    acquired = np.zeros(n, dtype=int)
    organic = campaign_idx < 0
    acquired[organic] = np.floor(horizon * rng.random(organic.sum()) ** 0.85 * 0.97).astype(int)
    for ci, camp in enumerate(CAMPAIGNS):
        mask = campaign_idx == ci
        lo, hi = (camp.start - DEMO_START).days, (camp.end - DEMO_START).days
        acquired[mask] = rng.integers(lo, hi + 1, size=mask.sum())
    organic_channels = np.array(["Passaparola", "Passaparola", "Sito web", "Agenti"])
    channel = np.where(
        campaign_idx >= 0,
        np.array([c.channel for c in CAMPAIGNS] + [""])[campaign_idx],
        organic_channels[rng.integers(0, len(organic_channels), size=n)],
    )

    # Each customer's own rhythm and loyalty.
    seg_r = np.array([s.r for s in SEGMENTS])[seg_idx]
    seg_alpha = np.array([s.alpha for s in SEGMENTS])[seg_idx]
    a = np.array([s.a for s in SEGMENTS])[seg_idx]
    b = np.array([s.b for s in SEGMENTS])[seg_idx]
    factor = np.ones(n)
    for ci, camp in enumerate(CAMPAIGNS):
        mask = campaign_idx == ci
        if camp.a is not None and camp.b is not None:
            a[mask], b[mask] = camp.a, camp.b
        factor[mask] = camp.rate_factor
    lam_week = rng.gamma(seg_r, 1.0 / seg_alpha) * factor * intensity
    lam_day = np.maximum(lam_week / 7.0, 1e-5)
    p_drop = rng.beta(a, b)
    cust_of_order, day = _simulate_orders(rng, acquired, lam_day, p_drop, horizon)
    sort = np.lexsort((day, cust_of_order))
    cust_of_order, day = cust_of_order[sort], day[sort]
    first_of_customer = np.r_[True, cust_of_order[1:] != cust_of_order[:-1]]

    # Baskets: gamma around the segment's mean, with the campaign's first basket where designed.
    basket = np.array([s.basket for s in SEGMENTS])[seg_idx][cust_of_order]
    first_basket = np.array([c.first_basket or np.nan for c in CAMPAIGNS] + [np.nan])[campaign_idx][cust_of_order]
    basket = np.where(first_of_customer & ~np.isnan(first_basket), first_basket, basket)
    revenue = np.round(rng.gamma(4.0, basket / 4.0), 2)
    # Ladder: an order may add the next step's product; steps only go up.
    up_chance = np.array([s.upgrade_chance for s in SEGMENTS])[seg_idx][cust_of_order]
    upgrade = rng.random(len(day)) < up_chance
    counts = pd.Series(upgrade.astype(int)).groupby(cust_of_order).cumsum().to_numpy()
    step = np.minimum(1 + counts, 4)
    climbed = upgrade & (counts <= 3)
    ladder_price = np.vectorize(lambda s: _LADDER_PRICE.get(int(s), 0.0))(step)
    revenue = revenue + np.where(climbed, ladder_price, 0.0)
    # Extras: cups and accessories, and the barista course — far likelier once there is a machine,
    # and the course above all for bars and restaurants.
    extra = rng.random(len(day)) < 0.03 + 0.12 * (step >= 2)
    horeca = seg_idx[cust_of_order] == [x.name for x in SEGMENTS].index("HoReCa")
    course = rng.random(len(day)) < np.where(horeca, 0.5, 0.15)
    extra_product = np.where(course, "P07", "P06")
    extra_price = np.where(extra, np.where(course, 180.0, 45.0), 0.0)
    revenue = revenue + extra_price
    margin_rate = np.array([s.margin for s in SEGMENTS])[seg_idx][cust_of_order]
    cost = np.round(revenue * (1 - rng.normal(margin_rate, 0.04).clip(0.05, 0.8)), 2)
    order_id = np.arange(1, len(day) + 1)
    order_dates = pd.to_datetime(DEMO_START) + pd.to_timedelta(day, unit="D")
    orders = pd.DataFrame(
        {
            "order_id": order_id,
            "customer_id": cust_of_order + 1,
            "order_date": order_dates,
            "revenue": revenue,
            "cost": cost,
        }
    )

    # Order lines: the consumables line, plus the ladder product where the order climbed.
    consumable = np.where(np.isin(seg_idx[cust_of_order], [0]), "P02", "P01")
    base_lines = pd.DataFrame(
        {
            "order_id": order_id,
            "product_id": consumable,
            "quantity": 1.0,
            "revenue": revenue - np.where(climbed, ladder_price, 0.0) - extra_price,
        }
    )
    up_lines = pd.DataFrame(
        {
            "order_id": order_id[climbed],
            "product_id": [_LADDER_PRODUCT[int(s)] for s in step[climbed]],
            "quantity": 1.0,
            "revenue": ladder_price[climbed],
        }
    )
    extra_lines = pd.DataFrame(
        {
            "order_id": order_id[extra],
            "product_id": extra_product[extra],
            "quantity": 1.0,
            "revenue": extra_price[extra],
        }
    )
    lines = pd.concat([base_lines, up_lines, extra_lines], ignore_index=True).sort_values("order_id", kind="stable")
    lines.insert(0, "line_id", np.arange(1, len(lines) + 1))
    cost_share = pd.Series(cost / np.where(revenue > 0, revenue, 1.0), index=order_id)
    lines["cost"] = np.round(lines["revenue"].to_numpy() * cost_share.reindex(lines["order_id"]).to_numpy(), 2)

    # Refunds: about 1 % of orders come back a week later as a negative order.
    refunded = np.flatnonzero(rng.random(len(orders)) < 0.01)
    refund_dates = orders["order_date"].iloc[refunded] + pd.Timedelta(days=7)
    keep = refund_dates <= pd.Timestamp(DEMO_END)
    refunds = pd.DataFrame(
        {
            "order_id": np.arange(len(orders) + 1, len(orders) + 1 + keep.sum()),
            "customer_id": orders["customer_id"].iloc[refunded][keep.to_numpy()].to_numpy(),
            "order_date": refund_dates[keep].to_numpy(),
            "revenue": -orders["revenue"].iloc[refunded][keep.to_numpy()].to_numpy(),
            "cost": -orders["cost"].iloc[refunded][keep.to_numpy()].to_numpy(),
        }
    )
    orders = pd.concat([orders, refunds], ignore_index=True)

    # Customers.
    names = [f"{_PREFIX[SEGMENTS[s].name]}{_customer_name(i)}" for i, s in enumerate(seg_idx)]
    region = rng.choice([r for r, _ in REGIONS], size=n, p=[w for _, w in REGIONS])
    campaign_ids = np.array([c.campaign_id for c in CAMPAIGNS] + [None], dtype=object)[campaign_idx]
    customers_df = pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "name": names,
            "segment": [SEGMENTS[s].name for s in seg_idx],
            "region": region,
            "channel": channel,
            "acquired_at": pd.to_datetime(DEMO_START) + pd.to_timedelta(acquired, unit="D"),
            "campaign_id": campaign_ids,
        }
    )

    # Campaigns and their leads.
    camp_rows, lead_rows = [], []
    lead_id = 1
    for ci, camp in enumerate(CAMPAIGNS):
        members = np.flatnonzero(campaign_idx == ci)
        camp_rows.append(
            {
                "campaign_id": camp.campaign_id,
                "name": camp.name,
                "channel": camp.channel,
                "spend": round(camp.cac * max(len(members), 1), 2),
                "start_date": pd.Timestamp(camp.start),
                "end_date": pd.Timestamp(camp.end),
            }
        )
        total_leads = round(len(members) / camp.conversion)
        lo, hi = (camp.start - DEMO_START).days, (camp.end - DEMO_START).days
        lead_days = rng.integers(lo, hi + 1, size=total_leads)
        for j in range(total_leads):
            converted = j < len(members)
            cust = int(members[j]) if converted else None
            created = (acquired[cust] - int(rng.integers(0, 10))) if cust is not None else int(lead_days[j])
            lead_rows.append(
                {
                    "lead_id": lead_id,
                    "campaign_id": camp.campaign_id,
                    "created_at": pd.Timestamp(DEMO_START) + pd.Timedelta(days=max(created, lo)),
                    "customer_id": None if cust is None else cust + 1,
                }
            )
            lead_id += 1
    campaigns_df = pd.DataFrame(camp_rows)
    leads_df = pd.DataFrame(lead_rows)
    leads_df["customer_id"] = leads_df["customer_id"].astype("Int64")

    # Support tickets while the customer is with us.
    last_day = pd.Series(day).groupby(cust_of_order).max().reindex(range(n)).fillna(pd.Series(acquired)).to_numpy()
    span_years = np.maximum((np.minimum(last_day + 60, horizon) - acquired) / 365.0, 0.05)
    n_tickets = rng.poisson(np.array([s.tickets_per_year for s in SEGMENTS])[seg_idx] * span_years)
    t_cust = np.repeat(np.arange(n), n_tickets)
    t_day = acquired[t_cust] + np.floor(
        rng.random(len(t_cust)) * (np.minimum(last_day + 60, horizon) - acquired)[t_cust]
    )
    tickets_df = pd.DataFrame(
        {
            "ticket_id": np.arange(1, len(t_cust) + 1),
            "customer_id": t_cust + 1,
            "opened_at": pd.to_datetime(DEMO_START) + pd.to_timedelta(t_day.astype(int), unit="D"),
            "cost": np.round(rng.choice([15.0, 25.0, 40.0, 90.0], size=len(t_cust), p=[0.3, 0.4, 0.2, 0.1]), 2),
        }
    )

    # A few broken rows, as any real export has.
    orders = _add_broken_orders(orders)
    dup_customer = customers_df.iloc[[5]].copy()
    dup_customer["segment"] = "Uffici"
    customers_df = pd.concat([customers_df, dup_customer], ignore_index=True)

    referrals_df, engagements_df = _engagement_frames(
        np.random.default_rng([seed, 17]), acquired, channel, cust_of_order, day, lam_week, horizon
    )
    return {
        "customers": customers_df,
        "orders": orders,
        "order_lines": lines,
        "products": PRODUCTS.drop(columns=["price"]),
        "campaigns": campaigns_df,
        "leads": leads_df,
        "tickets": tickets_df,
        "referrals": referrals_df,
        "engagements": engagements_df,
    }


def _engagement_frames(
    rng: np.random.Generator,
    acquired: np.ndarray,
    channel: np.ndarray,
    cust_of_order: np.ndarray,
    day: np.ndarray,
    lam_week: np.ndarray,
    horizon: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Referrals and engagements that tell the story of the engagement page (a generator of their
    own: the other tables stay as they were).

    Most customers who came by word of mouth were referred by a customer who bought before them,
    through a referral programme (€ 20 to the referrer, € 10 to the newcomer) whose sign-up survey
    asked whether they would have come anyway — answered by six in ten. A few modest buyers are
    the company's advocates: they bring a large share of the referrals, and some newcomers from the
    website came through a review or a share. Ideas (some implemented, at the owner's value; a few
    proposed by two customers), feedback, surveys, first trials of the new machine and data consents
    complete the picture."""
    n = len(acquired)
    first = np.full(n, -1)
    starts = np.r_[0, np.flatnonzero(np.diff(cust_of_order)) + 1] if len(cust_of_order) else np.zeros(0, dtype=int)
    first[cust_of_order[starts]] = day[starts]
    buyers = np.flatnonzero(first >= 0)
    # the advocates: 3 % of the customers, among the modest buyers, bring far more referrals
    modest = buyers[lam_week[buyers] <= np.median(lam_week[buyers])]
    advocates = rng.choice(modest, size=max(len(buyers) * 3 // 100, 1), replace=False)
    weight = np.ones(n)
    weight[advocates] = 12.0
    by_first = buyers[np.argsort(first[buyers], kind="stable")]
    cumulative = np.cumsum(weight[by_first])

    def pick(cutoffs: np.ndarray) -> np.ndarray:
        """For each cutoff day, a customer who first bought before it (advocates likelier); -1 if none."""
        k = np.searchsorted(first[by_first], cutoffs, side="left")
        out = np.full(len(cutoffs), -1)
        ok = k > 0
        draws = rng.random(ok.sum()) * cumulative[k[ok] - 1]
        out[ok] = by_first[np.searchsorted(cumulative, draws, side="right")]
        return out

    # Referrals: seven in ten of the word-of-mouth customers, a few days before their first order.
    referred = np.flatnonzero((channel == "Passaparola") & (first > 30))
    referred = referred[rng.random(len(referred)) < 0.7]
    referred_at = first[referred] - rng.integers(1, 21, size=len(referred))
    referrer = pick(referred_at - 7)
    keep = referrer >= 0
    referred, referred_at, referrer = referred[keep], referred_at[keep], referrer[keep]
    answered = rng.random(len(referred)) < 0.6
    incremental = pd.array(np.where(rng.random(len(referred)) < 0.65, True, False), dtype="boolean")
    incremental[~answered] = pd.NA
    referrals = pd.DataFrame(
        {
            "referral_id": np.arange(1, len(referred) + 1),
            "referrer_id": referrer + 1,
            "referred_id": referred + 1,
            "referred_at": pd.to_datetime(DEMO_START) + pd.to_timedelta(referred_at, unit="D"),
            "reward_referrer": 20.0,
            "reward_referred": 10.0,
            "incremental": incremental,
        }
    )

    rows: list[pd.DataFrame] = []

    def events(who: np.ndarray, days: np.ndarray, kind: str, **extra: object) -> None:
        rows.append(pd.DataFrame({"customer_id": who + 1, "day": days, "kind": kind, **extra}))

    # Newcomers from the website: one in five came through a review or a share (tracked by code).
    web = np.flatnonzero((channel == "Sito web") & (first > 30))
    web = web[rng.random(len(web)) < 0.2]
    shown_at = first[web] - rng.integers(1, 31, size=len(web))
    influencer = pick(shown_at)
    ok = influencer >= 0
    kinds = np.where(rng.random(ok.sum()) < 0.5, "review", "social_share")
    events(influencer[ok], shown_at[ok], "", reach=np.round(rng.lognormal(5.0, 1.0, ok.sum())), influenced=web[ok] + 1)
    rows[-1]["kind"] = kinds
    # Reviews and posts whose effect nobody tracked.
    for kind, share, mean in (("review", 0.10, 4.5), ("rating", 0.15, 3.0), ("social_post", 0.04, 6.0)):
        who = buyers[rng.random(len(buyers)) < share + 0.3 * np.isin(buyers, advocates)]
        at = first[who] + np.floor(rng.random(len(who)) * (horizon - first[who])).astype(int)
        events(who, at, kind, reach=np.round(rng.lognormal(mean, 1.0, len(who))))
    # Ideas: two in a hundred customers; three in ten implemented, worth € 500 – 6,000 to the owner.
    thinkers = buyers[rng.random(len(buyers)) < 0.02]
    at = first[thinkers] + np.floor(rng.random(len(thinkers)) * (horizon - first[thinkers])).astype(int)
    status = rng.choice(["submitted", "accepted", "implemented"], size=len(thinkers), p=[0.5, 0.2, 0.3])
    value = np.where(status == "implemented", np.round(rng.uniform(500, 6000, len(thinkers)), -1), np.nan)
    idea_id = np.array([f"I{i + 1}" for i in range(len(thinkers))], dtype=object)
    events(thinkers, at, "idea", status=status, value=value, idea_id=idea_id)
    # a fifth of the implemented ideas had a second proposer, a few weeks later
    twice = np.flatnonzero((status == "implemented") & (rng.random(len(thinkers)) < 0.2))
    if len(twice):
        second = rng.choice(buyers, size=len(twice))
        later = np.maximum(at[twice] + rng.integers(7, 60, size=len(twice)), first[second])
        ok = later <= horizon
        events(second[ok], later[ok], "idea", status="implemented", value=value[twice][ok], idea_id=idea_id[twice][ok])
    # Feedback and surveys; the new machine's first trials (its last 200 days); data consents.
    for kind, share in (("feedback", 0.10), ("survey", 0.15), ("data_consent", 0.4)):
        who = buyers[rng.random(len(buyers)) < share]
        at = first[who] + np.floor(rng.random(len(who)) * (horizon - first[who])).astype(int)
        events(who, at, kind)
    launch = horizon - 200
    early = buyers[(first[buyers] < launch) & (rng.random(len(buyers)) < 0.03 + 0.3 * np.isin(buyers, advocates))]
    events(early, launch + rng.integers(0, 60, size=len(early)), "new_product_trial")

    table = pd.concat(rows, ignore_index=True).sort_values(["day", "customer_id"], kind="stable")
    table = table[table["day"] <= horizon]
    engagements = pd.DataFrame(
        {
            "engagement_id": np.arange(1, len(table) + 1),
            "customer_id": table["customer_id"].to_numpy(),
            "occurred_at": pd.to_datetime(DEMO_START) + pd.to_timedelta(table["day"].to_numpy(), unit="D"),
            "kind": table["kind"].to_numpy(),
            "reach": table["reach"].to_numpy() if "reach" in table else np.nan,
            "influenced_customer_id": pd.array(table["influenced"].to_numpy(), dtype="Int64"),
            "status": table["status"].to_numpy() if "status" in table else None,
            "value": table["value"].to_numpy() if "value" in table else np.nan,
            "idea_id": table["idea_id"].to_numpy() if "idea_id" in table else None,
        }
    )
    return referrals, engagements


def _add_broken_orders(orders: pd.DataFrame) -> pd.DataFrame:
    next_id = int(orders["order_id"].max()) + 1
    broken = pd.DataFrame(
        {
            "order_id": [next_id, next_id + 1, next_id + 2, next_id + 3, next_id + 4],
            "customer_id": pd.array([pd.NA, pd.NA, 12, 40, 77], dtype="Int64"),
            "order_date": pd.to_datetime(["2025-03-14", "2026-01-09", "2027-02-01", "2027-05-30", "2026-06-05"]),
            "revenue": [180.0, 95.5, 240.0, 310.0, np.nan],
            "cost": [110.0, 60.0, 150.0, 190.0, np.nan],
        }
    )
    duplicate = orders.iloc[[100, 200]].copy()
    out = pd.concat([orders, broken, duplicate], ignore_index=True)
    out["customer_id"] = out["customer_id"].astype("Int64")
    return out


DATE_COLUMNS = {
    "orders": ["order_date"],
    "customers": ["acquired_at"],
    "campaigns": ["start_date", "end_date"],
    "leads": ["created_at"],
    "tickets": ["opened_at"],
    "referrals": ["referred_at"],
    "engagements": ["occurred_at"],
}


def write_demo(
    url: str, customers: int = 3000, seed: int = 7, progress: Progress | None = None, intensity: float = 1.0
) -> dict[str, int]:
    """Write the demo tables to the database at ``url`` (replacing them); returns rows per table."""
    report = progress or (lambda _f, _m: None)
    report(0.05, "generating")
    frames = build_demo_frames(customers=customers, seed=seed, intensity=intensity)
    write_frames(url, frames, DATE_COLUMNS, progress=report, keys=demo_keys(frames))
    report(1.0, "done")
    return {name: len(df) for name, df in frames.items()}


def demo_keys(frames: dict[str, pd.DataFrame]) -> dict[str, str]:
    """The tables whose key the demo declares unique, as a company's database does: those whose
    ids are whole numbers, each once. The orders and customers repeat a few ids on purpose (the
    data health page shows them), so their keys are not declared."""
    keys = {}
    for name, frame in frames.items():
        spec = ENTITIES.get(name)
        if spec is None or spec.key not in frame:
            continue
        ids = frame[spec.key]
        if pd.api.types.is_integer_dtype(ids.dtype) and ids.notna().all() and ids.is_unique:
            keys[name] = spec.key
    return keys


def write_frames(
    url: str,
    frames: dict[str, pd.DataFrame],
    date_columns: dict[str, list[str]] | None = None,
    progress: Progress | None = None,
    keys: dict[str, str] | None = None,
) -> None:
    """Write DataFrames as tables (replacing them) at ``url``: DuckDB natively, others via pandas.

    ``date_columns`` names, per table, the columns stored as SQL DATE; other columns keep the
    type pandas gives them. ``keys`` names, per table, a column declared unique (a unique index;
    not on Spark, which has none). This is the only code that writes, and never to a dashboard
    source: it is for the demo, benchmarks and tests."""
    report = progress or (lambda _f, _m: None)
    dates = date_columns or {}
    engine = sa.create_engine(url)
    try:
        if engine.dialect.name == "duckdb":
            _write_duckdb(engine, frames, dates, report)
            _declare_keys(engine, keys or {})
            return
        if engine.dialect.name in SPARK_DIALECTS:
            _write_spark(engine, frames, dates, report)
            return
        for i, (name, df) in enumerate(frames.items()):
            report(0.2 + 0.8 * i / len(frames), name)
            out = df.copy()
            types: dict[str, sa.types.TypeEngine[Any]] = {}
            for col in dates.get(name, []):
                out[col] = out[col].dt.date
                types[col] = sa.Date()
            if engine.dialect.name == "postgresql" and len(out) > 10_000:
                # Large tables through COPY: 20× faster than INSERTs (a benchmark database in minutes).
                out.head(0).to_sql(name, engine, if_exists="replace", index=False, dtype=types)
                _copy_postgresql(engine, name, out)
                continue
            # Multi-row INSERTs, kept under the 65,535 bound parameters PostgreSQL allows per statement.
            chunk = max(1, 30_000 // max(1, len(out.columns)))
            method = None if engine.dialect.name == "sqlite" else "multi"  # executemany is SQLite's fast path
            out.to_sql(name, engine, if_exists="replace", index=False, dtype=types, chunksize=chunk, method=method)
        _declare_keys(engine, keys or {})
    finally:
        engine.dispose()


def _declare_keys(engine: sa.Engine, keys: dict[str, str]) -> None:
    """A unique index on each table's key column (``keys``: table → column)."""
    with engine.begin() as conn:
        for table, column in keys.items():
            held = sa.Table(table, sa.MetaData(), sa.Column(column))
            sa.Index(f"ux_{table}_{column}", held.c[column], unique=True).create(conn)


def _copy_postgresql(engine: sa.Engine, name: str, frame: pd.DataFrame) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        with cursor.copy(f'COPY "{name}" ({columns}) FROM STDIN WITH (FORMAT csv)') as copy:
            for start in range(0, len(frame), 200_000):
                copy.write(frame.iloc[start : start + 200_000].to_csv(index=False, header=False))
        raw.commit()
    finally:
        raw.close()


def _write_duckdb(
    engine: sa.Engine, frames: dict[str, pd.DataFrame], dates: dict[str, list[str]], report: Progress
) -> None:
    raw = engine.raw_connection()
    try:
        con = raw.driver_connection  # the native duckdb connection: Arrow-speed bulk load
        assert con is not None
        for i, (name, df) in enumerate(frames.items()):
            report(0.2 + 0.8 * i / len(frames), name)
            con.register("frame", df)
            casts = ", ".join(
                f'CAST("{c}" AS DATE) AS "{c}"' if c in dates.get(name, []) else f'"{c}"' for c in df.columns
            )
            con.execute(f'DROP TABLE IF EXISTS "{name}"')
            con.execute(f'CREATE TABLE "{name}" AS SELECT {casts} FROM frame')  # noqa: S608 - own constants
            con.unregister("frame")
        con.execute("CHECKPOINT")
    finally:
        raw.close()


#: SQLAlchemy dialects that speak Spark SQL (PyHive's ``hive://`` through the Thrift server, Databricks)
SPARK_DIALECTS = frozenset({"hive", "databricks"})


def _spark_type(series: pd.Series, is_date: bool) -> str:
    if is_date:
        return "DATE"
    kind = series.dtype.kind
    if pd.api.types.is_bool_dtype(series.dtype):
        return "BOOLEAN"
    if kind in "iu":
        return "BIGINT"
    if kind == "f":
        return "DOUBLE"
    if kind == "M":
        return "TIMESTAMP"
    return "STRING"


def _spark_literal(value: Any, kind: str) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return "NULL"
    if kind == "DATE":
        return f"DATE '{pd.Timestamp(value).date().isoformat()}'"
    if kind == "TIMESTAMP":
        return f"TIMESTAMP '{pd.Timestamp(value).isoformat(sep=' ')}'"
    if kind == "BOOLEAN":
        return "TRUE" if value else "FALSE"
    if kind == "BIGINT":
        return str(int(value))
    if kind == "DOUBLE":
        number = float(value)
        if np.isinf(number):
            return "CAST('Infinity' AS DOUBLE)" if number > 0 else "CAST('-Infinity' AS DOUBLE)"
        text = repr(number)
        return text if "e" in text else f"{text}D"  # 0.1 alone is a DECIMAL to Spark
    # Spark reads backslash escapes in string literals
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _spark_inserts(
    name: str, df: pd.DataFrame, kinds: list[str], dialect: sa.Dialect, rows: int = 5_000
) -> Iterator[str]:
    """Multi-row INSERTs of ``df`` into the table ``name``, ``rows`` rows each, built with SQLAlchemy
    Core for ``dialect``: each value the Spark literal of its column's kind (``_spark_literal``: PyHive
    would send a date or an infinity as text Spark does not take for those columns), as a text clause
    with its colons escaped (a column clause would lose what a dot precedes: Hive's compiler reads
    ``'20.04.2024'`` as a table-qualified name)."""
    table = sa.table(name, *[sa.column(c) for c in df.columns])
    cells = [df[c].astype(object).tolist() for c in df.columns]
    columns = list(zip(df.columns, cells, kinds, strict=True))
    for start in range(0, len(df), rows):
        values = [
            {c: sa.text(_spark_literal(col[r], k).replace(":", "\\:")) for c, col, k in columns}
            for r in range(start, min(start + rows, len(df)))
        ]
        yield str(sa.insert(table).values(values).compile(dialect=dialect))


def _write_spark(
    engine: sa.Engine, frames: dict[str, pd.DataFrame], dates: dict[str, list[str]], report: Progress
) -> None:
    """Spark SQL: each table created with Spark's own types, then filled by multi-row INSERTs of
    literals (PyHive has no bulk path, and pandas' ``to_sql`` fails there: the dialect's table check
    misreads Spark 4's "table not found", and its DATE is a TIMESTAMP)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()  # the DBAPI cursor: without parameters PyHive leaves the text alone
        for i, (name, df) in enumerate(frames.items()):
            report(0.2 + 0.8 * i / len(frames), name)
            kinds = [_spark_type(df[c], c in dates.get(name, [])) for c in df.columns]
            columns = ", ".join(f"`{c}` {k}" for c, k in zip(df.columns, kinds, strict=True))
            cursor.execute(f"DROP TABLE IF EXISTS `{name}`")
            cursor.execute(f"CREATE TABLE `{name}` ({columns})")
            for insert in _spark_inserts(name, df, kinds, engine.dialect):
                cursor.execute(insert, {})  # no values to bind: the driver only turns "%%" back into "%"
        cursor.close()
    finally:
        raw.close()


def _marker(path: Path) -> Path:
    return path.with_suffix(f".v{DEMO_VERSION}")


def demo_ready(path: Path = DEMO_PATH) -> bool:
    """True when the demo database of this version is written."""
    return path.is_file() and _marker(path).is_file()


def ensure_demo_database(path: Path = DEMO_PATH, progress: Progress | None = None, *, rewrite: bool = False) -> str:
    """The URL of the demo database, writing it first if it is missing or of an older version
    (atomically: written aside, then moved into place)."""
    marker = _marker(path)
    if rewrite or not demo_ready(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="demo-", suffix=".duckdb", dir=path.parent)
        os.close(fd)
        os.unlink(tmp)
        write_demo(f"duckdb:///{tmp}", progress=progress)
        os.replace(tmp, path)
        for old in path.parent.glob(f"{path.stem}.v*"):
            old.unlink()
        marker.touch()
    return f"duckdb:///{path}"

"""Whom to offer what next (DESIGN.md section 3).

Two sources of candidates, ranked together by expected value
    EV = P(alive) × adoption rate among similar customers × average margin of the offer:

* the ladder — the owner's own sequence of products (``products.ladder_step``): a live customer
  whose highest step is k is offered step k+1; the adoption rate is the share of the customers of
  the same segment who reached step k and went on to k+1;
* affinity — categories the customer lacks that customers of the same segment buy together with
  what the customer has: for a rule A → B, support = share owning both, confidence = P(B | A),
  lift = confidence ÷ P(B); a rule counts with support ≥ ``min_support`` and lift > 1, and its
  confidence is the adoption rate.

Every row says why it was proposed, in words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["UpsellRules", "affinity_rules", "ladder_funnel", "upsell_candidates"]

CANDIDATE_COLUMNS = (
    "customer_id",
    "segment",
    "stage",
    "p_alive",
    "source",
    "offer_product_id",
    "offer_name",
    "offer_category",
    "because",
    "adoption",
    "support",
    "lift",
    "avg_margin",
    "expected_value",
)


@dataclass(frozen=True)
class UpsellRules:
    live_stages: tuple[str, ...] = ("new", "reactivated", "loyal", "active")
    min_support: float = 0.02
    min_customers: int = 5  # a rate measured on fewer similar customers is not trusted


def _offer_margin(owned: pd.DataFrame) -> pd.Series:
    """Average margin per purchase (order line) of each product."""
    sums = owned.groupby("product_id")[["margin", "lines"]].sum()
    return sums["margin"] / sums["lines"].where(sums["lines"] > 0)


def ladder_funnel(customers: pd.DataFrame, owned: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """Per segment and ladder step: ``customers`` who reached it and ``share`` of the segment's buyers."""
    steps = sorted(products["ladder_step"].dropna().unique())
    if not steps:
        return pd.DataFrame(columns=["segment", "step", "customers", "share"])
    reached = owned.dropna(subset=["ladder_step"]).groupby("customer_id")["ladder_step"].max()
    table = customers[["customer_id", "segment"]].assign(step=customers["customer_id"].map(reached).fillna(0))
    rows = []
    for segment, part in table.groupby("segment"):
        for step in steps:
            n = int((part["step"] >= step).sum())
            rows.append({"segment": segment, "step": int(step), "customers": n, "share": n / len(part)})
    return pd.DataFrame(rows)


def _ladder(
    customers: pd.DataFrame, owned: pd.DataFrame, products: pd.DataFrame, margins: pd.Series, rules: UpsellRules
) -> pd.DataFrame:
    ladder = products.dropna(subset=["ladder_step"])
    if ladder.empty:
        return pd.DataFrame(columns=list(CANDIDATE_COLUMNS))
    reached = owned.dropna(subset=["ladder_step"]).groupby("customer_id")["ladder_step"].max()
    everyone = customers[["customer_id", "segment"]].assign(step=customers["customer_id"].map(reached).fillna(0.0))
    steps = sorted(ladder["ladder_step"].unique())
    # The product offered at each step: the one most bought, else the first listed.
    popularity = owned.groupby("product_id")["customer_id"].nunique()
    offer_at = {}
    for step in steps:
        at_step = ladder[ladder["ladder_step"] == step].copy()
        at_step["bought"] = at_step["product_id"].map(popularity).fillna(0)
        offer_at[step] = at_step.sort_values("bought", ascending=False).iloc[0]
    name_at = {step: str(row["name"]) for step, row in offer_at.items()}
    rows = []
    live = customers[customers["stage"].isin(rules.live_stages)]
    for segment, part in live.groupby("segment"):
        peers = everyone[everyone["segment"] == segment]
        for current, group in part.assign(step=part["customer_id"].map(reached).fillna(0.0)).groupby("step"):
            following = [s for s in steps if s > current]
            if not following:
                continue
            target = following[0]
            base = peers[peers["step"] >= current]
            if len(base) < rules.min_customers:
                base = everyone[everyone["step"] >= current]
            adoption = float((base["step"] >= target).mean()) if len(base) else 0.0
            offer = offer_at[target]
            rows.append(
                pd.DataFrame(
                    {
                        "customer_id": group["customer_id"].to_numpy(),
                        "segment": segment,
                        "stage": group["stage"].to_numpy(),
                        "p_alive": group["p_alive"].to_numpy(),
                        "source": "ladder",
                        "offer_product_id": offer["product_id"],
                        "offer_name": offer["name"],
                        "offer_category": offer["category"],
                        "because": name_at.get(current, ""),
                        "adoption": adoption,
                        "support": np.nan,
                        "lift": np.nan,
                        "avg_margin": float(margins.get(offer["product_id"], np.nan)),
                    }
                )
            )
    columns = [c for c in CANDIDATE_COLUMNS if c != "expected_value"]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.concat(rows, ignore_index=True)[columns]


def affinity_rules(customers: pd.DataFrame, owned: pd.DataFrame, min_support: float = 0.02) -> pd.DataFrame:
    """Category rules A → B within each segment: ``segment``, ``antecedent``, ``consequent``,
    ``support``, ``confidence``, ``lift`` (support ≥ ``min_support``, lift > 1)."""
    cats = (
        owned[["customer_id", "category"]]
        .drop_duplicates()
        .merge(customers[["customer_id", "segment"]], on="customer_id")
    )
    rows = []
    for segment, part in cats.groupby("segment"):
        n = part["customer_id"].nunique()
        if n == 0:
            continue
        # who owns what, as a 0/1 matrix of customers × categories (built from codes: a crosstab
        # aggregates group by group in Python, seconds at a hundred thousand customers)
        categories = pd.Index(sorted(part["category"].unique()))
        who, _ = pd.factorize(part["customer_id"])
        basket = np.zeros((n, len(categories)), dtype=np.int64)
        basket[who, categories.get_indexer(part["category"])] = 1
        counts = pd.Series(basket.sum(axis=0), index=categories)
        both = pd.DataFrame(basket.T @ basket, index=categories, columns=categories)  # customers owning both
        for a in categories:
            for b in categories:
                if a == b or counts[a] == 0:
                    continue
                support = both.loc[a, b] / n
                confidence = both.loc[a, b] / counts[a]
                lift = confidence / (counts[b] / n) if counts[b] else np.nan
                if support >= min_support and lift > 1:
                    rows.append(
                        {
                            "segment": segment,
                            "antecedent": a,
                            "consequent": b,
                            "support": float(support),
                            "confidence": float(confidence),
                            "lift": float(lift),
                        }
                    )
    return pd.DataFrame(rows, columns=["segment", "antecedent", "consequent", "support", "confidence", "lift"])


def _affinity(customers: pd.DataFrame, owned: pd.DataFrame, margins: pd.Series, rules: UpsellRules) -> pd.DataFrame:
    table = affinity_rules(customers, owned, rules.min_support)
    if table.empty:
        return pd.DataFrame(columns=[c for c in CANDIDATE_COLUMNS if c != "expected_value"])
    live = customers[customers["stage"].isin(rules.live_stages)]
    has = owned[["customer_id", "category"]].drop_duplicates()
    # The product offered for a category, per segment: the one its buyers buy most.
    by_segment = owned.merge(customers[["customer_id", "segment"]], on="customer_id")
    favourite = (
        by_segment.groupby(["segment", "category", "product_id", "name"])["customer_id"]
        .nunique()
        .reset_index(name="buyers")
        .sort_values("buyers", ascending=False)
        .drop_duplicates(["segment", "category"])
    )
    pairs = live[["customer_id", "segment", "stage", "p_alive"]].merge(has, on="customer_id")
    pairs = pairs.rename(columns={"category": "antecedent"}).merge(table, on=["segment", "antecedent"])
    # keep the categories the customer does not hold yet (an anti-join; ``has`` is one row a pair)
    held = has.rename(columns={"category": "consequent"}).assign(_held=True)
    flag = pairs[["customer_id", "consequent"]].merge(held, on=["customer_id", "consequent"], how="left")["_held"]
    pairs = pairs.loc[flag.isna().to_numpy()]
    pairs = pairs.sort_values("confidence", ascending=False).drop_duplicates(["customer_id", "consequent"])
    pairs = pairs.merge(favourite, left_on=["segment", "consequent"], right_on=["segment", "category"])
    return pd.DataFrame(
        {
            "customer_id": pairs["customer_id"],
            "segment": pairs["segment"],
            "stage": pairs["stage"],
            "p_alive": pairs["p_alive"],
            "source": "affinity",
            "offer_product_id": pairs["product_id"],
            "offer_name": pairs["name"],
            "offer_category": pairs["consequent"],
            "because": pairs["antecedent"],
            "adoption": pairs["confidence"],
            "support": pairs["support"],
            "lift": pairs["lift"],
            "avg_margin": pairs["product_id"].map(margins).astype(float),
        }
    )


def upsell_candidates(
    customers: pd.DataFrame, owned: pd.DataFrame, products: pd.DataFrame, rules: UpsellRules | None = None
) -> pd.DataFrame:
    """The ranked candidates (``CANDIDATE_COLUMNS``), best expected value first.

    ``customers``: ``customer_id``, ``segment``, ``stage``, ``p_alive`` (every customer: the
    non-live ones still count as peers). ``owned``: ``customer_id``, ``product_id``, ``name``,
    ``category``, ``ladder_step``, ``lines``, ``margin`` (``data.queries.customer_products``).
    ``products``: the catalogue with ``product_id``, ``name``, ``category``, ``ladder_step``.
    A ladder offer wins over an affinity offer of the same product.
    """
    rules = rules or UpsellRules()
    for name, table, needed in (
        ("customers", customers, ("customer_id", "segment", "stage", "p_alive")),
        ("owned", owned, ("customer_id", "product_id", "name", "category", "ladder_step", "lines", "margin")),
        ("products", products, ("product_id", "name", "category", "ladder_step")),
    ):
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise ValueError(f"The {name} table lacks the columns {', '.join(missing)}.")
    margins = _offer_margin(owned)
    frames = [
        f
        for f in (_ladder(customers, owned, products, margins, rules), _affinity(customers, owned, margins, rules))
        if not f.empty
    ]
    if not frames:
        return pd.DataFrame(columns=list(CANDIDATE_COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    out = out.drop_duplicates(["customer_id", "offer_product_id"], keep="first")  # ladder rows come first
    out["expected_value"] = out["p_alive"].astype(float) * out["adoption"].astype(float) * out["avg_margin"].fillna(0.0)
    out = out[out["adoption"] > 0]
    return out.sort_values(["expected_value", "customer_id"], ascending=[False, True]).reset_index(drop=True)[
        list(CANDIDATE_COLUMNS)
    ]

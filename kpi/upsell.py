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

Every row says why it was proposed, in words. Ties are settled the same way on every run: the
product offered for a category is the one with the lower id among those with as many buyers, and
of two rules of equal confidence the first met (by customer, then the order of what they hold). A
product without a name is never offered.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kpi.customer_value import sorted_codes

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
    """Per segment and ladder step: ``customers`` who reached it and ``share`` of the segment's buyers
    (segments in sorted order, customers without a segment left out)."""
    steps = sorted(products["ladder_step"].dropna().unique())
    if not steps:
        return pd.DataFrame(columns=["segment", "step", "customers", "share"])
    # each customer's highest step reached (0: none), by position: no group-by over ids
    held = owned["ladder_step"].to_numpy(dtype=float)
    on = np.flatnonzero(~np.isnan(held))
    ids = _ids(customers["customer_id"])  # whole numbers matched as numbers (the same matches)
    owner_ids = _ids(owned["customer_id"])[on]
    known = pd.Index(ids)
    if not known.is_unique:  # a customer on two rows: each row takes their step
        owner, who = pd.factorize(np.concatenate([owner_ids, ids]))
        best = np.full(len(who), -np.inf)
        np.maximum.at(best, owner[: len(on)], held[on])
        reached = best[owner[len(on) :]]
    else:
        row = known.get_indexer(owner_ids)
        reached = np.full(len(ids), -np.inf)
        np.maximum.at(reached, row[row >= 0], held[on][row >= 0])
    reached[np.isneginf(reached)] = 0.0
    segment, segments = sorted_codes(customers["segment"])
    in_one = segment >= 0
    sizes = np.bincount(segment[in_one], minlength=len(segments))
    at_step = [np.bincount(segment[in_one & (reached >= step)], minlength=len(segments)) for step in steps]
    rows = [
        {"segment": label, "step": int(step), "customers": int(n[k]), "share": int(n[k]) / int(sizes[k])}
        for k, label in enumerate(segments)
        for step, n in zip(steps, at_step, strict=True)
    ]
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class _Coded:
    """The inputs as numbers: each customer's row, segment (sorted codes, -1 none) and liveness;
    each owned row's customer (-1: not among the customers), product and category; the customers'
    ids (candidates rank by them)."""

    customer_id: np.ndarray
    segment: np.ndarray
    segments: np.ndarray
    live: np.ndarray
    owner: np.ndarray
    product: np.ndarray
    products: np.ndarray
    category: np.ndarray
    categories: np.ndarray

    @classmethod
    def of(cls, customers: pd.DataFrame, owned: pd.DataFrame, rules: UpsellRules) -> _Coded:
        segment, segments = sorted_codes(customers["segment"])
        product, products = pd.factorize(owned["product_id"].to_numpy(dtype=object), sort=True)
        category, categories = pd.factorize(owned["category"].to_numpy(dtype=object), sort=True)
        owner = pd.Index(_ids(customers["customer_id"])).get_indexer(_ids(owned["customer_id"]))
        # the rules alone (``affinity_rules``) need only the ids and segments
        staged = "stage" in customers and "p_alive" in customers
        return cls(
            customer_id=customers["customer_id"].to_numpy(),
            segment=np.asarray(segment),
            segments=np.asarray(segments, dtype=object),
            live=customers["stage"].isin(rules.live_stages).to_numpy() if staged else np.zeros(len(customers), bool),
            owner=np.asarray(owner),
            product=np.asarray(product),
            products=np.asarray(products, dtype=object),
            category=np.asarray(category),
            categories=np.asarray(categories, dtype=object),
        )


def _distinct(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct values of ``key``, sorted, with the position where each is first met and how
    often it occurs (``np.unique``'s, by one stable sort: its hashing took seconds at a million)."""
    order = np.argsort(key, kind="stable")
    ranked = key[order]
    lead = np.ones(len(ranked), dtype=bool)
    lead[1:] = ranked[1:] != ranked[:-1]
    starts = np.flatnonzero(lead)
    return ranked[starts], order[starts], np.diff(np.append(starts, len(ranked)))


_ROW = "_customer_row"


def _ids(column: pd.Series | np.ndarray) -> np.ndarray:
    """Customer ids as whole numbers (int64) where every one is an integer, else as objects: a
    million ids are matched and sorted some 6–15× faster as numbers than as Python objects, in the
    same order and with the same matches."""
    values = np.asarray(column)
    if values.dtype.kind == "i":
        return values.astype(np.int64, copy=False)
    values = np.asarray(values, dtype=object)
    if len(values) and pd.api.types.infer_dtype(values, skipna=False) == "integer":
        with contextlib.suppress(OverflowError):  # beyond 64 bits: as objects
            return values.astype(np.int64)
    return values


def _id_rank(ids: np.ndarray) -> np.ndarray:
    """Each customer's place in the order of their ids (numbers as numbers, text as text)."""
    try:
        codes, _ = pd.factorize(_ids(ids), sort=True)
    except TypeError:  # ids of mixed kinds cannot be sorted: in the order met
        codes, _ = pd.factorize(ids)
    return np.asarray(codes)


#: candidate rows as columns of arrays (``CANDIDATE_COLUMNS`` but the expected value, and the
#: customer's position): joined and ranked as arrays, made a table once, when ranked
_Part = dict[str, np.ndarray]


def _rows(rows: np.ndarray, values: dict[str, object]) -> _Part:
    """Candidate rows for the customers at positions ``rows``: ``values`` (one value for every row,
    or an array a value per row) and the customer's position (their own columns are taken by it
    once the rows are ranked)."""
    out: _Part = {}
    for name, value in values.items():
        if isinstance(value, np.ndarray):
            out[name] = value
        else:  # one value: a text shared by every row (not a fixed-width copy a row), numbers as numbers
            out[name] = np.full(len(rows), value, dtype=object if isinstance(value, str) else None)
    out[_ROW] = rows
    return out


def _ladder(
    customers: pd.DataFrame,
    owned: pd.DataFrame,
    products: pd.DataFrame,
    margins: pd.Series,
    rules: UpsellRules,
    coded: _Coded,
) -> list[_Part]:
    ladder = products.dropna(subset=["ladder_step"])
    if ladder.empty:
        return []
    # each customer's highest step reached (0: none)
    held = owned["ladder_step"].to_numpy(dtype=float)
    on = (coded.owner >= 0) & np.isfinite(held)
    reached = np.full(len(customers), -np.inf)
    np.maximum.at(reached, coded.owner[on], held[on])
    reached[~np.isfinite(reached)] = 0.0
    steps = np.array(sorted(ladder["ladder_step"].unique()), dtype=float)
    # The product offered at each step: the one most bought, else the first listed.
    popularity = owned.groupby("product_id")["customer_id"].nunique()
    offer_at = {}
    for step in steps:
        at_step = ladder[ladder["ladder_step"] == step].copy()
        at_step["bought"] = at_step["product_id"].map(popularity).fillna(0)
        offer_at[step] = at_step.sort_values("bought", ascending=False).iloc[0]
    name_at = {step: str(row["name"]) for step, row in offer_at.items()}
    everyone = np.sort(reached)
    frames = []
    live = np.flatnonzero(coded.live & (coded.segment >= 0))
    # by segment, then by step reached, each group's customers in their order (a group-by's order)
    live = live[np.lexsort((live, reached[live], coded.segment[live]))]
    key_segment, key_step = coded.segment[live], reached[live]
    bounds = np.flatnonzero((np.diff(key_segment) != 0) | (np.diff(key_step) != 0)) + 1
    for group in np.split(live, bounds) if len(live) else []:
        segment, current = coded.segment[group[0]], float(reached[group[0]])
        following = steps[steps > current]
        if not len(following):
            continue
        target = float(following[0])
        peers = np.sort(reached[coded.segment == segment])
        base = peers[np.searchsorted(peers, current) :]  # the segment's customers at the step or beyond
        if len(base) < rules.min_customers:
            base = everyone[np.searchsorted(everyone, current) :]
        adoption = float((base >= target).mean()) if len(base) else 0.0
        offer = offer_at[target]
        frames.append(
            _rows(
                group,
                {
                    "source": "ladder",
                    "offer_product_id": offer["product_id"],
                    "offer_name": offer["name"],
                    "offer_category": offer["category"],
                    "because": name_at.get(current, ""),
                    "adoption": adoption,
                    "support": np.nan,
                    "lift": np.nan,
                    "avg_margin": float(margins.get(offer["product_id"], np.nan)),
                },
            )
        )
    return frames


def affinity_rules(
    customers: pd.DataFrame, owned: pd.DataFrame, min_support: float = 0.02, coded: _Coded | None = None
) -> pd.DataFrame:
    """Category rules A → B within each segment: ``segment``, ``antecedent``, ``consequent``,
    ``support``, ``confidence``, ``lift`` (support ≥ ``min_support``, lift > 1)."""
    coded = coded or _Coded.of(customers, owned, UpsellRules())
    n_cat = max(len(coded.categories), 1)
    mine = (coded.owner >= 0) & (coded.category >= 0)
    pairs, _, _ = _distinct(coded.owner[mine].astype(np.int64) * n_cat + coded.category[mine])
    who, what = pairs // n_cat, pairs % n_cat
    segment = coded.segment[who]
    rows = []
    for code in np.unique(segment[segment >= 0]):  # segments and categories in sorted order
        part = segment == code
        people, held = who[part], what[part]
        # who owns what, as a 0/1 matrix of customers × categories
        row, _ = pd.factorize(people)
        categories = np.unique(held)
        n = int(row.max()) + 1
        basket = np.zeros((n, len(categories)), dtype=np.int64)
        basket[row, np.searchsorted(categories, held)] = 1
        counts = basket.sum(axis=0)
        both = basket.T @ basket  # customers owning both
        for i, a in enumerate(categories):
            for j, b in enumerate(categories):
                if i == j or counts[i] == 0:
                    continue
                support = both[i, j] / n
                confidence = both[i, j] / counts[i]
                lift = confidence / (counts[j] / n) if counts[j] else np.nan
                if support >= min_support and lift > 1:
                    rows.append(
                        {
                            "segment": coded.segments[code],
                            "antecedent": coded.categories[a],
                            "consequent": coded.categories[b],
                            "support": float(support),
                            "confidence": float(confidence),
                            "lift": float(lift),
                        }
                    )
    return pd.DataFrame(rows, columns=["segment", "antecedent", "consequent", "support", "confidence", "lift"])


def _affinity(
    customers: pd.DataFrame, owned: pd.DataFrame, margins: pd.Series, rules: UpsellRules, coded: _Coded
) -> list[_Part]:
    table = affinity_rules(customers, owned, rules.min_support, coded)
    if table.empty:
        return []
    n_cat = max(len(coded.categories), 1)
    mine = (coded.owner >= 0) & (coded.category >= 0)
    # the categories each customer holds, once, in the order first met (customer × category keys)
    key = coded.owner[mine].astype(np.int64) * n_cat + coded.category[mine]
    held_keys, first, _ = _distinct(key)
    has = key[np.sort(first)]
    has_customer, has_category = has // n_cat, has % n_cat
    # The product offered for a category, per segment: the one its buyers buy most (ties: the
    # first by product id; a product without a name is never offered).
    n_prod = max(len(coded.products), 1)
    offerable = mine & (coded.product >= 0) & owned["name"].notna().to_numpy()
    bought, _, _ = _distinct(coded.owner[offerable].astype(np.int64) * n_prod + coded.product[offerable])
    buyer_seg, buyer_prod = coded.segment[bought // n_prod], bought % n_prod
    cat_of_prod = np.zeros(n_prod, dtype=np.int64)
    cat_of_prod[coded.product[offerable]] = coded.category[offerable]
    cells = (buyer_seg.astype(np.int64) * n_cat + cat_of_prod[buyer_prod]) * n_prod + buyer_prod
    cell, _, buyers = _distinct(cells[buyer_seg >= 0])
    best = np.lexsort((cell % n_prod, -buyers, cell // n_prod))  # per (segment, category): most buyers
    cell, buyers = cell[best], buyers[best]
    seg_cat = cell // n_prod
    lead = np.concatenate([[True], seg_cat[1:] != seg_cat[:-1]]) if len(seg_cat) else np.zeros(0, bool)
    favourite = dict(zip(seg_cat[lead].tolist(), (cell[lead] % n_prod).tolist(), strict=True))
    # the rules by (segment, antecedent), as positions in the sorted codes
    seg_index = pd.Index(coded.segments)
    cat_index = pd.Index(coded.categories)
    r_seg = seg_index.get_indexer(table["segment"].to_numpy(dtype=object))
    r_ante = cat_index.get_indexer(table["antecedent"].to_numpy(dtype=object))
    r_cons = cat_index.get_indexer(table["consequent"].to_numpy(dtype=object))
    r_key = r_seg.astype(np.int64) * n_cat + r_ante
    r_order = np.argsort(r_key, kind="stable")
    r_sorted = r_key[r_order]
    # every (live customer, held category, rule) in the order of a merge: customers, their
    # categories, the rules
    live_has = coded.live[has_customer] & (coded.segment[has_customer] >= 0)
    p_customer, p_category = has_customer[live_has], has_category[live_has]
    p_key = coded.segment[p_customer].astype(np.int64) * n_cat + p_category
    lo = np.searchsorted(r_sorted, p_key, side="left")
    hi = np.searchsorted(r_sorted, p_key, side="right")
    count = hi - lo
    pair_customer = np.repeat(p_customer, count)
    offsets = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    pair_rule = r_order[np.repeat(lo, count) + offsets]
    # keep the categories the customer does not hold yet
    consequent = r_cons[pair_rule]
    wanted = pair_customer.astype(np.int64) * n_cat + consequent
    where = np.searchsorted(held_keys, wanted)
    already = (where < len(held_keys)) & (held_keys[np.minimum(where, len(held_keys) - 1)] == wanted)
    pair_customer, pair_rule, wanted = pair_customer[~already], pair_rule[~already], wanted[~already]
    # per customer and category to offer: the rule of highest confidence (ties: the first met)
    confidence = table["confidence"].to_numpy(dtype=float)
    order = np.argsort(-confidence[pair_rule], kind="stable")
    _, first_of, _ = _distinct(wanted[order])
    keep = order[np.sort(first_of)]
    pair_customer, pair_rule = pair_customer[keep], pair_rule[keep]
    seg_cat = coded.segment[pair_customer].astype(np.int64) * n_cat + r_cons[pair_rule]
    offered = np.array([favourite.get(k, -1) for k in seg_cat.tolist()], dtype=np.int64)
    found = offered >= 0
    pair_customer, pair_rule, offered = pair_customer[found], pair_rule[found], offered[found]
    if not len(pair_customer):
        return []
    names = owned.drop_duplicates("product_id").set_index("product_id")["name"]
    product_ids = coded.products[offered]
    part = _rows(
        pair_customer,
        {
            "source": "affinity",
            "offer_product_id": product_ids,
            "offer_name": names.reindex(product_ids).to_numpy(dtype=object),
            "offer_category": table["consequent"].to_numpy(dtype=object)[pair_rule],
            "because": table["antecedent"].to_numpy(dtype=object)[pair_rule],
            "adoption": confidence[pair_rule],
            "support": table["support"].to_numpy(dtype=float)[pair_rule],
            "lift": table["lift"].to_numpy(dtype=float)[pair_rule],
            "avg_margin": margins.reindex(product_ids).to_numpy(dtype=float),
        },
    )
    return [part]


def upsell_candidates(
    customers: pd.DataFrame,
    owned: pd.DataFrame,
    products: pd.DataFrame,
    rules: UpsellRules | None = None,
    carry: tuple[str, ...] = (),
) -> pd.DataFrame:
    """The ranked candidates (``CANDIDATE_COLUMNS``, then the customers' columns named in ``carry``),
    best expected value first.

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
    coded = _Coded.of(customers, owned, rules)
    parts = [
        part
        for part in (
            *_ladder(customers, owned, products, margins, rules, coded),
            *_affinity(customers, owned, margins, rules, coded),
        )
        if len(part[_ROW])
    ]
    if not parts:  # no candidate: the columns, the carried ones as the customers hold them
        empty = pd.DataFrame(columns=list(CANDIDATE_COLUMNS))
        return empty.assign(**{name: customers[name].array[:0] for name in carry})

    def joined(name: str) -> np.ndarray:
        return np.concatenate([part[name] for part in parts]) if len(parts) > 1 else parts[0][name]

    row = joined(_ROW).astype(np.int64, copy=False)
    offer, offers = pd.factorize(joined("offer_product_id"))
    _, first, _ = _distinct(row * max(len(offers), 1) + offer)
    once = np.zeros(len(row), dtype=bool)
    once[first] = True  # one row per customer and offer: the ladder's rows come first
    adoption = joined("adoption").astype(float, copy=False)
    value = (
        customers["p_alive"].to_numpy(dtype=float)[row]
        * adoption
        * np.nan_to_num(joined("avg_margin").astype(float, copy=False), nan=0.0)
    )
    kept = np.flatnonzero(once & (adoption > 0))
    # best expected value first, then by customer id (both orders stable, as a sort by the two)
    ranked = kept[np.lexsort((_id_rank(coded.customer_id)[row[kept]], -value[kept]))]
    who = row[ranked]
    # the table made once, of the ranked rows: the customers' columns taken by position, the
    # offers' column by column
    out: dict[str, Any] = {}
    for name in (*CANDIDATE_COLUMNS, *carry):
        if name == "expected_value":
            out[name] = value[ranked]
        elif name == "p_alive":
            out[name] = customers["p_alive"].to_numpy(dtype=float)[who]
        elif name in carry:  # as the customers hold them (categories stay categories)
            out[name] = customers[name].array.take(who)
        elif name in _CUSTOMER_COLUMNS:
            out[name] = _taken(customers[name], who)
        else:
            out[name] = joined(name)[ranked]
    return pd.DataFrame(out)


#: the candidates' columns that are the customer's own
_CUSTOMER_COLUMNS = ("customer_id", "segment", "stage")


def _taken(column: pd.Series, rows: np.ndarray) -> Any:
    """``column``'s values at ``rows``, as a table makes them of an array of values: pandas' own
    text (NaN for none) is taken as it is, without a Python string per value."""
    if isinstance(column.dtype, pd.StringDtype) and column.dtype.na_value is np.nan:
        return column.array.take(rows)
    return column.to_numpy()[rows]

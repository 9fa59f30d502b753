"""Referrals and engagements read and cleaned on first use (the engagement page, ``cli.py engagement``).

Both entities get the cleaning every entity gets (``data.queries.cleaned``: missing ids, dates that
cannot be read, dates in the future, repeated keys — a customer referred twice counts for the first
referral only), then the rules that need the customers the facts know, each counted by reason on
the data-health page and never silently dropped:

- ``unknown_customer``: a referrer, a referred customer, an engaged customer or an influenced
  customer who is neither on the customer list nor has an order;
- ``self_referral``: a customer who refers (or influences) themself;
- ``before_first_order``: a referral dated before the referrer's first purchase (or by someone who
  never bought);
- ``referred_twice``: a customer referred again, by another or the same referrer: a referred
  customer counts for the first usable referral only;
- ``unknown_kind``: an engagement whose kind is not one of ``ENGAGEMENT_KINDS``.

Ids are matched as text where the types differ (8, 8.0 and "8" are one customer), as the local copy
does for columns of one name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data.entities import ENGAGEMENT_KINDS
from data.facts import REASON, Facts, _health, _reason_counts, _whole, _whole_entity, number_index, whole_numbers
from data.source import Source
from data.staging import LocalCopy

__all__ = ["ENGAGEMENT_ENTITIES", "EngagementFacts", "extract_engagement"]

ENGAGEMENT_ENTITIES = ("referrals", "engagements")


@dataclass(frozen=True)
class EngagementFacts:
    """The usable referrals and engagements (None where the entity is not mapped), with their ids
    as the facts hold them, and the data health of each entity read."""

    referrals: pd.DataFrame | None
    engagements: pd.DataFrame | None
    health: dict[str, dict[str, Any]]
    #: per entity, per id column, each usable row's customer as a position in the facts' customers
    #: (-1: none given): the ids as numbers, for computations that only match them
    codes: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def _key(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value).strip()
    return text or None


class _Customers:
    """The customers the facts know, looked up by id as text, with each one's first purchase day."""

    def __init__(self, facts: Facts) -> None:
        self._ids = facts.ids
        self._first = facts.first_purchase_day()
        self._numbers = number_index(facts)  # ids all whole numbers: matched as numbers
        self._text: pd.Index | None = None

    def codes(self, ids: pd.Series) -> np.ndarray:
        """The position of each id among the facts' customers (-1 where unknown or blank)."""
        present = ids.notna().to_numpy()
        values = ids[present]
        if self._numbers is not None and pd.api.types.is_numeric_dtype(values.dtype):
            numbers = whole_numbers(values.to_numpy(dtype=float))
            if numbers is not None:  # whole numbers on both sides (the usual case): no text, no Python per id
                out = np.full(len(ids), -1, dtype=np.int64)
                out[present] = self._numbers.get_indexer(numbers)
                return out
        if self._text is None:
            self._text = pd.Index([_key(v) for v in self._ids.tolist()])
        keys = ids.astype(object).map(_key)
        return np.asarray(self._text.get_indexer(pd.Index(keys)), dtype=np.int64)

    def ids_at(self, codes: np.ndarray) -> np.ndarray:
        out = np.full(len(codes), None, dtype=object)
        known = codes >= 0
        out[known] = self._ids[codes[known]]
        return out

    def first_day(self, codes: np.ndarray) -> np.ndarray:
        out = np.full(len(codes), -1, dtype=np.int64)
        known = codes >= 0
        out[known] = self._first[codes[known]]
        return out


def _given(ids: pd.Series) -> np.ndarray:
    """Whether each id is there (not NULL, not blank text)."""
    given = ids.notna().to_numpy()
    if not pd.api.types.is_numeric_dtype(ids.dtype):
        given = given & (ids.astype("string").str.strip().fillna("") != "").to_numpy(dtype=bool)
    return given


def _days(values: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(values, errors="coerce")
    days = stamps.to_numpy().astype("datetime64[D]").astype(np.int64)
    return np.where(stamps.isna().to_numpy(), np.iinfo(np.int64).min, days)


def _mark(frame: pd.DataFrame, broken: np.ndarray, reason: str) -> None:
    """Give ``reason`` to the usable rows that break a rule (a row counts under its first reason)."""
    usable = frame[REASON].isna().to_numpy()
    frame.loc[usable & broken, REASON] = reason


def _referrals(raw: pd.DataFrame, customers: _Customers) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    frame = raw.copy()
    referrer = customers.codes(frame["referrer_id"])
    referred = customers.codes(frame["referred_id"])
    _mark(frame, (referrer < 0) | (referred < 0), "unknown_customer")
    _mark(frame, referrer == referred, "self_referral")
    first = customers.first_day(referrer)
    _mark(frame, (first < 0) | (_days(frame["referred_at"]) < first), "before_first_order")
    at = _days(frame["referred_at"])
    usable = frame[REASON].isna().to_numpy()
    order = np.lexsort((np.arange(len(frame)), at, referred))
    ranked = order[usable[order]]
    repeated = np.zeros(len(frame), dtype=bool)
    repeated[ranked[1:]] = referred[ranked[1:]] == referred[ranked[:-1]]
    _mark(frame, repeated, "referred_twice")
    frame["referrer_id"] = customers.ids_at(referrer)
    frame["referred_id"] = customers.ids_at(referred)
    frame["referred_at"] = pd.to_datetime(frame["referred_at"], errors="coerce")
    return frame, {"referrer_id": referrer, "referred_id": referred}


def _one_text_per_kind(values: pd.Series) -> pd.Series:
    """``values`` as Python texts (NULL as they were), one object per distinct text shared by its
    rows: a million engagements of a few kinds held a million texts (70 MB), now a few."""
    codes, labels = pd.factorize(values)
    out = values.to_numpy(dtype=object, copy=True)
    given = codes >= 0
    out[given] = np.asarray(labels, dtype=object)[codes[given]]
    return pd.Series(out, index=values.index, dtype=object)


def _engagements(raw: pd.DataFrame, customers: _Customers) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    frame = raw.copy()
    kind = _one_text_per_kind(frame["kind"].astype("string").str.strip().str.lower())
    _mark(frame, ~kind.isin(ENGAGEMENT_KINDS).to_numpy(), "unknown_kind")
    frame["kind"] = kind
    who = customers.codes(frame["customer_id"])
    target_given = _given(frame["influenced_customer_id"])
    target = customers.codes(frame["influenced_customer_id"])
    _mark(frame, (who < 0) | (target_given & (target < 0)), "unknown_customer")
    _mark(frame, target_given & (target == who), "self_referral")
    frame["customer_id"] = customers.ids_at(who)
    frame["influenced_customer_id"] = customers.ids_at(target)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], errors="coerce")
    return frame, {"customer_id": who, "influenced_customer_id": target}


def extract_engagement(source: Source, facts: Facts) -> EngagementFacts:
    """Read, clean and check the referrals and engagements of ``source`` against ``facts``."""
    names = [n for n in ENGAGEMENT_ENTITIES if source.available(n)]
    local = facts.local_copy
    reader: Source | LocalCopy = source
    if local is not None and local.origin is source and names:
        local.add(names)
        reader = local
    customers = _Customers(facts) if names else None
    health: dict[str, dict[str, Any]] = {}
    found: dict[str, pd.DataFrame] = {}
    codes: dict[str, dict[str, np.ndarray]] = {}
    for name, check in (("referrals", _referrals), ("engagements", _engagements)):
        if name not in names or customers is None:
            continue
        raw = _whole_entity(reader, name, facts.today)
        frame, coded = check(raw, customers)
        counts = _reason_counts(frame.assign(n=1))
        date_column = "referred_at" if name == "referrals" else "occurred_at"
        kept = frame[REASON].isna().to_numpy()
        codes[name] = {column: np.asarray(code)[kept] for column, code in coded.items()}
        usable = frame[kept].drop(columns=[REASON]).reset_index(drop=True)
        days = usable[date_column].dropna()
        first = int(_days(pd.Series([days.min()]))[0]) if len(days) else None
        last = int(_days(pd.Series([days.max()]))[0]) if len(days) else None
        health[name] = _health(counts, first, last)
        for column in ("referrer_id", "referred_id", "customer_id"):
            if column in usable:
                usable[column] = _whole(usable[column])
        found[name] = usable
    if isinstance(reader, LocalCopy):
        for name, count in reader.unreadable.items():
            if name in health and count:
                health[name]["unreadable_text"] = count
    return EngagementFacts(found.get("referrals"), found.get("engagements"), health, codes)

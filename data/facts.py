"""The source read and cleaned once per day: facts held in memory, from which every page is served.

``extract`` sends a handful of statements per source and day — one over the orders, one over the
customers (with their acquisition campaign), one each over tickets, campaigns and leads — each
applying the cleaning rules of ``data.queries.cleaned`` exactly once and grouping what a page needs:

- per customer: segment, region and channel as small integer codes, name, acquisition campaign and
  its cost (CAC), whether the customer is on record;
- the customer-day activity: one row per customer and day with a usable order (purchases, revenue,
  margin; the purchases' margin and revenue where a refund makes them differ), sorted by customer
  and day, from which the state of every customer at any date comes by binary search
  (``kpi.customer_value.DayHistory``);
- ticket days, the campaigns with their lead counts, the unconverted leads by day;
- the rows read, used and excluded by reason of each entity, the filter options and the date range.

Excluded rows travel in the same statements (grouped by reason, their other columns blanked), so the
data-health page needs no statement of its own. The order lines and products — only the
opportunities and customer pages need them — are read on first use (``extract_holdings``).

Everything else in this module is a pure function of the facts and the filters, returning exactly
what the function of the same name in ``data.queries`` returns (tested on every engine): a filter is
a mask over arrays, never a new statement.
"""

from __future__ import annotations

import functools
import math
import threading
import time
import warnings
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from data.entities import EXCLUSION_REASONS, entity_spec
from data.filters import UNASSIGNED, Filters, previous_period
from data.memory import tune_allocators
from data.queries import REASON, STATS, _attribution, _frame, _number_param, _sum_if, cleaned, margin_of
from data.source import Source
from data.staging import LocalCopy, clean_locally, runs_in_process

__all__ = [
    "DIMENSIONS",
    "Cells",
    "Cube",
    "Facts",
    "Holdings",
    "campaign_monthly_margin",
    "cells",
    "cohort_activity",
    "cube",
    "customer_acquisition",
    "customer_mask",
    "customer_names",
    "data_warnings",
    "entity_health",
    "extract",
    "extract_holdings",
    "made_once",
    "month_numbers",
    "monthly_by_segment",
    "period_measures",
    "prospects",
    "segment_totals",
]

DIMENSIONS: tuple[str, ...] = ("segment", "region", "channel")
_EPOCH = np.datetime64("1970-01-01", "D")


def _day_numbers(values: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of dates as any driver returns them (datetime64, ``date``, ISO text)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int32)
    as_dates = pd.to_datetime(values).to_numpy().astype("datetime64[D]")
    return (as_dates - _EPOCH).astype(np.int32)


def _day(value: date) -> int:
    return int((np.datetime64(value, "D") - _EPOCH).astype(np.int64))


def _to_date(day: int) -> date:
    return (_EPOCH + np.timedelta64(int(day), "D")).astype(object)


def month_numbers(days: np.ndarray) -> np.ndarray:
    """Months since January 1970 of day numbers (int32). Each distinct day between the first and
    the last is converted once and looked up: numpy's day-to-month conversion works out a calendar
    date per element (ten million orders: 0.6 s against 0.04 s, measured on a busy machine)."""
    days = np.asarray(days)
    if len(days) == 0 or days.dtype.kind not in "iu":
        return (days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)).astype(np.int32)
    low, high = int(days.min()), int(days.max())
    if high - low > max(len(days), 1 << 16):  # days far apart and few: one by one
        return (days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)).astype(np.int32)
    month_of = np.arange(low, high + 1).astype("datetime64[D]").astype("datetime64[M]").astype(np.int32)
    return month_of[days - low]


def _month_starts(months: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(months, dtype=np.int64).astype("datetime64[M]").astype("datetime64[ns]"))


@dataclass(eq=False)
class Facts:
    """Everything the pages show, for one source and day, as arrays (see the module's docstring).

    Customers are numbered 0..n-1 (``code``); arrays named ``d_*`` have one entry per customer and
    day with a usable order, sorted by code then day; ``t_*`` one per customer and day with tickets."""

    today: date
    ids: np.ndarray
    dims: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    listed: np.ndarray
    names: pa.Array  # text, by code (null: none); looked up a few at a time (``customer_names``)
    campaign: np.ndarray
    acquisition_cost: np.ndarray
    costed: np.ndarray
    d_code: np.ndarray
    d_day: np.ndarray
    d_purchases: np.ndarray
    d_revenue: np.ndarray
    d_margin: np.ndarray
    #: the days with an order that is not a purchase (a refund): their rows in ``d_*`` and the
    #: purchases' margin and revenue there; on every other day they are the day's margin and revenue
    mixed_rows: np.ndarray
    mixed_purchase_margin: np.ndarray
    mixed_purchase_revenue: np.ndarray
    #: ``data_warnings``, summed once (refunds, orders of customers not on record…)
    warnings: dict[str, float]
    t_code: np.ndarray
    t_day: np.ndarray
    t_tickets: np.ndarray
    t_cost: np.ndarray
    campaigns: pd.DataFrame | None
    open_lead_days: np.ndarray
    health: dict[str, dict[str, Any]]
    options: dict[str, list[str]]
    first_day: int | None
    last_day: int | None
    has_customers: bool
    has_leads: bool
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def customers(self) -> int:
        return len(self.ids)

    def date_range(self) -> tuple[date | None, date | None]:
        """First and last day of the usable orders (``data.queries.order_date_range``)."""
        if self.first_day is None or self.last_day is None:
            return None, None
        return _to_date(self.first_day), _to_date(self.last_day)

    def first_purchase_day(self) -> np.ndarray:
        """Per customer, the day of the first purchase (-1 for none)."""
        if "first_purchase" not in self._cache:
            # rows are sorted by customer and day: a customer's first purchase row is the first
            # of their purchase rows
            first = np.full(self.customers, -1, dtype=np.int64)
            bought = self.d_purchases > 0
            code, day = self.d_code[bought], self.d_day[bought]
            if len(code):
                starts = np.r_[0, np.flatnonzero(np.diff(code)) + 1]
                first[code[starts]] = day[starts]
            self._cache["first_purchase"] = first
        return self._cache["first_purchase"]

    def months(self, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """Months since January 1970 of the day rows ``rows`` (int32): worked out when asked, not
        held beside the day numbers (40 MB at a million customers)."""
        return month_numbers(self.d_day[rows])

    def purchase_values(self, value: str = "margin") -> np.ndarray:
        """Per customer-day row, the purchases' margin (or revenue): the day's own, refunds left
        out (a new array)."""
        values, mixed = (
            (self.d_margin, self.mixed_purchase_margin)
            if value == "margin"
            else (self.d_revenue, self.mixed_purchase_revenue)
        )
        out = values.copy()
        out[self.mixed_rows] = mixed
        return out

    def campaign_costed(self) -> np.ndarray:
        """Per customer, the acquisition campaign where it is a usable campaign (else None): the
        campaign ``data.queries.customer_costs`` reports beside the acquisition cost."""
        out = np.full(self.customers, None, dtype=object)
        out[self.costed] = self.campaign[self.costed]
        return out

    @property
    def local_copy(self) -> LocalCopy | None:
        """The in-memory copy the facts were cleaned from (``data.staging``), or None where the
        source cleaned them itself: a statement sent to it answers in milliseconds."""
        local = self._cache.get("local_copy")
        return local if isinstance(local, LocalCopy) else None

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for k, v in vars(self).items() if isinstance(v, np.ndarray))


@dataclass(frozen=True)
class Holdings:
    """What each customer bought, by product and day (usable lines of usable purchases), and the
    product catalogue: the input of ``customer_products`` at any date."""

    product: np.ndarray  # index into ``catalogue``
    day: np.ndarray
    lines: np.ndarray | None  # the lines of each row (None: one each)
    margin: np.ndarray
    catalogue: pd.DataFrame  # product_id, name, category, ladder_step (``data.queries.products``)
    health: dict[str, dict[str, Any]]
    #: each row's customer as a position in ``ranked_ids``, the customers' ids sorted (a number per
    #: row, not an id object: at a million customers, gigabytes less)
    rank: np.ndarray
    ranked_ids: np.ndarray

    @property
    def customer_id(self) -> np.ndarray:
        """Each row's customer id."""
        return self.ranked_ids[self.rank]


# ---------------------------------------------------------------------------------------------
# Extraction: the only statements


def _health(counts: dict[Any, int], first: int | None, last: int | None) -> dict[str, Any]:
    used = int(counts.pop(None, 0))
    excluded = {r: int(counts[r]) for r in EXCLUSION_REASONS if counts.get(r)}
    return {
        "rows_read": used + sum(excluded.values()),
        "rows_used": used,
        "excluded": excluded,
        "first_date": _to_date(first) if first is not None else None,
        "last_date": _to_date(last) if last is not None else None,
    }


def _reason_counts(df: pd.DataFrame, count: str = "n") -> dict[Any, int]:
    """Rows per exclusion reason (None = usable) of a frame grouped by ``_reason``."""
    n = df[count].to_numpy(dtype=np.int64)
    excluded = df[REASON].notna().to_numpy()
    out: dict[Any, int] = {None: int(n[~excluded].sum())}
    if excluded.any():
        reasons = df[REASON].to_numpy(dtype=object)[excluded]
        for reason, total in pd.Series(n[excluded]).groupby(reasons).sum().items():
            out[str(reason)] = int(total)
    return out


def _arrow(source: Source, stmt: sa.Select[Any]) -> pa.Table:
    """The result of ``stmt`` as Arrow columns: DuckDB hands them over without a Python object per
    value (at ten million rows, seconds and gigabytes); other drivers go through ``_frame``."""
    if source.dialect != "duckdb":
        frame = _frame(source, stmt)
        try:
            return pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column of mixed kinds: as text
            mixed = frame.select_dtypes("object").columns
            return pa.Table.from_pandas(frame.astype({c: str for c in mixed}), preserve_index=False)
    started = time.perf_counter()
    with source.engine.connect() as conn:
        result = conn.execute(stmt)
        executed = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "an extra copy": the one handed over
            table = result.cursor.to_arrow_table()
        names = list(result.keys())
    STATS.add(table.num_rows, executed - started, time.perf_counter() - executed)
    table = table.rename_columns(names)
    for i, column in enumerate(table.columns):  # sums of whole numbers come as 38-digit decimals
        if pa.types.is_decimal(column.type):
            kind = pa.int64() if column.type.scale == 0 else pa.float64()
            table = table.set_column(i, names[i], column.cast(kind))
    return table


def _whole(ids: pd.Series) -> pd.Series:
    """Ids of usable rows as the source holds them: whole numbers come back as floats from a column
    that also held NULLs (the blanked excluded rows); they are whole numbers again here, so that a
    customer is 42 on every engine and every path, never 42.0."""
    values = ids.to_numpy()
    if values.dtype.kind == "f" and len(values) and np.isfinite(values).all() and (np.mod(values, 1) == 0).all():
        return pd.Series(values.astype(np.int64), index=ids.index, name=ids.name)
    return ids


def _sorting(code: np.ndarray, day: np.ndarray) -> np.ndarray | None:
    """The order that sorts rows by code then day, or None where they are sorted already."""
    if len(code) < 2:
        return None
    step, later = np.diff(code), np.diff(day)
    if bool(((step > 0) | ((step == 0) & (later > 0))).all()):
        return None
    return np.lexsort((day, code))


def _per_reason(table: pa.Table) -> pd.DataFrame:
    """Rows (the ``n`` column summed) per ``_reason`` of an Arrow result, for ``_reason_counts``."""
    return table.group_by(REASON).aggregate([("n", "sum")]).rename_columns([REASON, "n"]).to_pandas()


def _when(ok: sa.ColumnElement[bool], value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.case((ok, value), else_=sa.null())


#: what the order days' statement sums on a server and ``_Days`` holds otherwise
_SPARSE_COLUMNS = ("purchase_margin", "purchase_revenue", "refunds", "refund_amount")


@dataclass(frozen=True)
class _Days:
    """The usable orders summed per customer and day: ``table``, one row per customer and day with a
    usable order (``n``, ``purchases``, ``revenue``, ``margin``, ``known``), then one per exclusion
    reason. What only a few days differ in, or only the data-health warnings sum, is held apart
    instead of four more columns a row long (at a million customers 0.27 GB less while the source is
    read): the days with a refund (``mixed``: their positions among the usable rows, ascending),
    the purchases' margin and revenue there (on every other day the day's own, to the last bit),
    and the refunds and their amount summed."""

    table: pa.Table
    mixed: np.ndarray
    mixed_purchase_margin: np.ndarray
    mixed_purchase_revenue: np.ndarray
    refunds: int
    refund_amount: float


def _apart(grouped: pa.Table) -> _Days:
    """``_Days`` of a table with every sum a column (a server's GROUP BY)."""
    usable = np.flatnonzero(pc.is_null(grouped[REASON]).to_numpy(zero_copy_only=False))

    def numbers(name: str, dtype: Any) -> np.ndarray:
        return grouped[name].take(pa.array(usable)).to_numpy(zero_copy_only=False).astype(dtype, copy=False)

    mixed = np.flatnonzero(numbers("purchases", np.int64) != numbers("n", np.int64))
    return _Days(
        table=grouped.drop_columns(list(_SPARSE_COLUMNS)),
        mixed=mixed,
        mixed_purchase_margin=numbers("purchase_margin", np.float64)[mixed],
        mixed_purchase_revenue=numbers("purchase_revenue", np.float64)[mixed],
        refunds=int(numbers("refunds", np.int64).sum()),
        refund_amount=math.fsum(numbers("refund_amount", np.float64).tolist()),
    )


def _order_days(source: Source, today: date, fetched: Callable[[int], None] | None = None) -> _Days:
    """One row per customer and day with a usable order, plus one row per exclusion reason.
    ``fetched`` is called with the orders' row count once the database has sent the rows (in
    process: before they are summed here, while the database's cores are free)."""
    orders = cleaned(source.entity("orders"), today)
    ok = orders.c[REASON].is_(None)
    margin = margin_of(source, orders)
    # the customer's segment, region and channel come with the customers (one row each, not one per
    # day); the join here only tells which orders have a customer on record
    if source.available("customers"):
        customers = cleaned(source.entity("customers"), today)
        listed = sa.select(customers.c.customer_id).where(customers.c[REASON].is_(None)).subquery("listed")
        joined: sa.FromClause = orders.outerjoin(listed, orders.c.customer_id == listed.c.customer_id)
        known = _when(ok, listed.c.customer_id.is_not(None))
    else:
        joined = orders
        known = sa.false()
    rows = (
        sa.select(
            orders.c[REASON].label(REASON),
            _when(ok, orders.c.customer_id).label("customer_id"),
            _when(ok, orders.c.order_date).label("order_date"),
            _when(ok, orders.c.revenue).label("revenue"),
            _when(ok, margin).label("margin"),
            sa.case((known, 1), else_=0).label("known"),
        )
        .select_from(joined)
        .subquery("order_rows")
    )
    usable_first = sa.case((rows.c[REASON].is_(None), 0), else_=1)
    if runs_in_process(source):
        # In process (a DuckDB file, or the local copy of another engine): the rows come sorted and
        # are summed per customer and day here. A GROUP BY would build a hash table of about one
        # group per order (measured at a million customers: 7.7 s and a 0.9 GB result, against
        # 3.9 s and 0.35 GB). A server keeps its GROUP BY: the rows stay where they are.
        # Sorted by customer and day only (an excluded row has no customer: last); the few days
        # with several orders are put in order of amount here (1M: 7.3 → 3.8 s, 1.7 → 1.0 GB).
        order_rows = sa.select(
            rows.c[REASON], rows.c.customer_id, rows.c.order_date, rows.c.revenue, rows.c.margin, rows.c.known
        ).order_by(rows.c.customer_id.asc().nulls_last(), rows.c.order_date)
        orders_read = _arrow(source, order_rows)
        if fetched is not None:
            fetched(orders_read.num_rows)
        return _summed_per_day(orders_read)
    purchase = rows.c.revenue >= 0
    refund = rows.c.revenue < 0
    stmt = sa.select(
        rows.c[REASON],
        rows.c.customer_id,
        rows.c.order_date,
        sa.func.count().label("n"),
        _sum_if(purchase, sa.literal(1)).label("purchases"),
        sa.func.coalesce(sa.func.sum(rows.c.revenue), 0).label("revenue"),
        sa.func.coalesce(sa.func.sum(rows.c.margin), 0).label("margin"),
        _sum_if(purchase, rows.c.margin).label("purchase_margin"),
        _sum_if(purchase, rows.c.revenue).label("purchase_revenue"),
        _sum_if(refund, sa.literal(1)).label("refunds"),
        _sum_if(refund, -rows.c.revenue).label("refund_amount"),
        sa.func.max(rows.c.known).label("known"),
    ).group_by(rows.c[REASON], rows.c.customer_id, rows.c.order_date)
    # usable rows first, by customer and day: the facts keep this order (no sort, no gather here)
    grouped = _arrow(source, stmt.order_by(usable_first, rows.c.customer_id, rows.c.order_date))
    if fetched is not None:
        fetched(int(pc.sum(grouped["n"]).as_py() or 0))
    return _apart(grouped)


def _summed_per_day(rows: pa.Table) -> _Days:
    """Order rows (usable first, by customer and day; the excluded with their reason) summed as the
    GROUP BY of ``_order_days`` sums them: one row per customer and day, one per exclusion reason.

    A day's orders are added in the order of their amounts (revenue, then margin), whatever order
    they came in: every run gives the same sums to the last bit."""
    excluded = pc.is_valid(rows[REASON])
    usable = int(rows.num_rows - (pc.sum(excluded).as_py() or 0))
    if pc.any(excluded.slice(0, usable)).as_py():  # an excluded row among the usable: put them last
        order = np.argsort(excluded.to_numpy(zero_copy_only=False), kind="stable")
        rows = rows.take(pa.array(order))
    kept, dropped = rows.slice(0, usable), rows.slice(usable)
    customer, day = kept["customer_id"].combine_chunks(), kept["order_date"].combine_chunks()
    # Every array a row long is new memory, which costs more to touch the first time than to fill
    # (at a million customers each is 40–80 MB): each is made once, in the type the facts keep
    # (``_extract`` takes them as they are), and the sums are made in place.
    if usable:
        changed = pc.or_(
            pc.not_equal(customer.slice(1), customer.slice(0, usable - 1)),
            pc.not_equal(day.slice(1), day.slice(0, usable - 1)),
        )
        starts = np.flatnonzero(np.concatenate([[True], changed.to_numpy(zero_copy_only=False)]))
    else:
        starts = np.zeros(0, dtype=np.int64)
    sizes = np.empty(len(starts), dtype=np.int32)  # orders per day
    np.subtract(starts[1:], starts[:-1], out=sizes[:-1], casting="unsafe")
    sizes[-1:] = usable - starts[-1:]

    # most days hold one order: each day starts with its first order's values, and only the
    # orders after the first of their day are added, in order (as ``np.add.reduceat`` would add)
    later = np.ones(usable, dtype=bool)
    later[starts] = False
    later_rows = np.flatnonzero(later)
    del later
    later_day = np.searchsorted(starts, later_rows, side="right") - 1

    def numbers(name: str) -> np.ndarray:  # SUM leaves NULLs out: as zeros here (a copy of our own)
        return np.require(pc.fill_null(kept[name], 0).to_numpy(zero_copy_only=False), np.float64, ["W"])

    def summed(values: np.ndarray) -> np.ndarray:
        out = values[starts]
        np.add.at(out, later_day, values[later_rows])
        return out

    def counted(keep: np.ndarray) -> np.ndarray:
        return np.add.reduceat(keep, starts, dtype=np.int32) if usable else np.zeros(0, np.int32)

    def summed_where_on(days: np.ndarray, keep: np.ndarray, values: np.ndarray, sign: float = 1.0) -> np.ndarray:
        """``summed(np.where(keep, sign * values, 0.0))[days]`` (``days`` ascending), the same sums
        to the last bit, with no array a row long in between."""
        first = starts[days]
        out = values[first] * sign if sign != 1.0 else values[first]
        out[~keep[first]] = 0.0
        on = np.flatnonzero(np.isin(later_day, days))
        rows_on = later_rows[on]
        np.add.at(out, np.searchsorted(days, later_day[on]), np.where(keep[rows_on], sign * values[rows_on], 0.0))
        return out

    revenue, margin = numbers("revenue"), numbers("margin")
    known = pc.fill_null(kept["known"], 0).to_numpy(zero_copy_only=False)
    if len(later_rows):  # the days with several orders: their orders by revenue, then margin
        several = sizes > 1
        shared = np.flatnonzero(np.repeat(several, sizes))  # their rows, in order
        group = np.repeat(np.flatnonzero(several), sizes[several])
        ranked = shared[np.lexsort((margin[shared], revenue[shared], group))]
        revenue[shared], margin[shared] = revenue[ranked], margin[ranked]  # (``known``: a maximum)
    bought, refunded = revenue >= 0, revenue < 0
    refunds = counted(refunded)
    mixed = np.flatnonzero(refunds)  # the days with a refund: there a purchase's sums differ
    refund_amount = summed_where_on(mixed, refunded, revenue, -1.0)
    per_day = {
        REASON: pa.nulls(len(starts), pa.string()),
        "customer_id": customer.take(pa.array(starts)),
        "order_date": day.take(pa.array(starts)),
        "n": sizes,
        "purchases": counted(bought),
        "revenue": summed(revenue),
        "margin": summed(margin),
        "known": np.maximum.reduceat(known, starts) > 0 if usable else np.zeros(0, bool),
    }
    table = pa.table({k: pa.array(v) if isinstance(v, np.ndarray) else v for k, v in per_day.items()})
    if dropped.num_rows:
        reasons = dropped.group_by(REASON).aggregate([([], "count_all")])
        excluded = {name: pa.nulls(reasons.num_rows, table.schema.field(name).type) for name in table.column_names}
        excluded[REASON] = reasons[REASON].cast(pa.string())
        excluded["n"] = reasons["count_all"].cast(table.schema.field("n").type)
        table = pa.concat_tables([table, pa.table(excluded)])
    return _Days(
        table=table,
        mixed=mixed,
        mixed_purchase_margin=summed_where_on(mixed, bought, margin),
        mixed_purchase_revenue=summed_where_on(mixed, bought, revenue),
        refunds=int(refunds.sum()),
        refund_amount=math.fsum(refund_amount.tolist()),
    )


def _customer_rows(source: Source, today: date) -> pd.DataFrame:
    """The customers on record (usable rows) with their acquisition campaign, plus one row per
    exclusion reason; without a customers entity, the customers the leads attribute."""
    attribution = _attribution(source, today)
    if not source.available("customers"):
        columns = ["customer_id", "campaign_id"]
        if attribution is None:
            return pd.DataFrame(columns=[REASON, *columns, "n"])
        df = _frame(source, sa.select(attribution.c.customer_id, attribution.c.campaign_id))
        df[REASON], df["n"] = None, 1
        return df
    entity = source.entity("customers")
    customers = cleaned(entity, today)
    ok = customers.c[REASON].is_(None)
    base: sa.FromClause = customers
    campaign: sa.ColumnElement[Any] = sa.null()
    if attribution is not None:
        base = customers.outerjoin(attribution, sa.and_(ok, attribution.c.customer_id == customers.c.customer_id))
        campaign = attribution.c.campaign_id
    rows = (
        sa.select(
            customers.c[REASON].label(REASON),
            _when(ok, customers.c.customer_id).label("customer_id"),
            _when(ok, customers.c.name).label("name"),
            *[_when(ok, sa.func.coalesce(customers.c[d], UNASSIGNED)).label(d) for d in DIMENSIONS],
            _when(ok, campaign).label("campaign_id"),
            _when(ok, customers.c.acquired_at).label("acquired_at"),
        )
        .select_from(base)
        .subquery("customer_rows")
    )
    if runs_in_process(source):
        # in process: a row per customer (usable ids are unique; the unusable are counted by reason
        # afterwards), without grouping a million rows by every column (1M: 3.4 s against 2.4 s)
        return _frame(source, sa.select(*rows.c, sa.literal(1).label("n")))
    stmt = sa.select(*rows.c, sa.func.count().label("n")).group_by(*rows.c)
    return _frame(source, stmt)


def _ticket_days(source: Source, today: date) -> pd.DataFrame:
    tickets = cleaned(source.entity("tickets"), today)
    ok = tickets.c[REASON].is_(None)
    per_ticket = _number_param("cost_per_ticket", source.settings.business.cost_per_ticket)
    rows = sa.select(
        tickets.c[REASON].label(REASON),
        _when(ok, tickets.c.customer_id).label("customer_id"),
        _when(ok, tickets.c.opened_at).label("opened_at"),
        _when(ok, sa.func.coalesce(tickets.c.cost, per_ticket)).label("cost"),
    ).subquery("ticket_rows")
    stmt = sa.select(
        rows.c[REASON],
        rows.c.customer_id,
        rows.c.opened_at,
        sa.func.count().label("n"),
        sa.func.coalesce(sa.func.sum(rows.c.cost), 0).label("service_cost"),
    ).group_by(rows.c[REASON], rows.c.customer_id, rows.c.opened_at)
    return _frame(source, stmt)


def _whole_entity(source: Source, name: str, today: date) -> pd.DataFrame:
    """Every row of a small entity, typed, with its ``_reason``, in the order of its own values
    (``_in_content_order``)."""
    sub = cleaned(source.entity(name), today)
    return _in_content_order(_frame(source, sa.select(sub)), entity_spec(name).key)


def _in_content_order(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """The rows ordered by their values alone — the entity's key, or when it does not tell every
    row apart, every column — not by the order the database sent them in, which a parallel scan
    changes from one read to the next. What depends on the order then never changes: which of two
    referrals of one customer on one day is the repeated one, and every sum to the last digit."""
    if len(frame) < 2:
        return frame
    if key in frame and pd.api.types.is_numeric_dtype(frame[key].dtype) and frame[key].notna().all():
        numbers = frame[key].to_numpy(dtype=float if frame[key].dtype.kind == "f" else np.int64)
        order = np.argsort(numbers, kind="stable")  # numbered rows (the usual case): a sort, no hashing
        if (np.diff(numbers[order]) > 0).all():
            return frame.iloc[order].reset_index(drop=True)
    columns = [key, *(c for c in frame.columns if c != key)] if key in frame else list(frame.columns)
    ranks: list[np.ndarray] = []
    for column in columns:
        try:
            codes, distinct = pd.factorize(frame[column], sort=True)
        except TypeError:  # values of mixed kinds: ranked by their text
            codes, distinct = pd.factorize(frame[column].astype(str), sort=True)
        ranks.append(codes)
        if column == key and len(distinct) == len(frame) and (codes >= 0).all():
            break  # a key on every row, each once: it alone orders the rows
    order = np.lexsort(ranks[::-1])
    return frame.iloc[order].reset_index(drop=True)


def _lead_rows(source: Source, today: date) -> pd.DataFrame:
    leads = cleaned(source.entity("leads"), today)
    ok = leads.c[REASON].is_(None)
    rows = sa.select(
        leads.c[REASON].label(REASON),
        _when(ok, leads.c.campaign_id).label("campaign_id"),
        _when(ok, leads.c.created_at).label("created_at"),
        sa.case((sa.and_(ok, leads.c.customer_id.is_not(None)), 1), else_=0).label("converted"),
    ).subquery("lead_rows")
    stmt = sa.select(*rows.c, sa.func.count().label("n")).group_by(*rows.c)
    return _frame(source, stmt)


def _encode(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Labels → small integer codes over their sorted vocabulary (``n/d`` last)."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    labels = [str(u) for u in uniques]
    vocab = [*sorted(set(labels) - {UNASSIGNED}), UNASSIGNED]
    position = {label: i for i, label in enumerate(vocab)}
    remap = np.asarray([position[label] for label in labels] + [position[UNASSIGNED]], dtype=np.int16)
    return remap[codes], np.asarray(vocab, dtype=object)


_FACT_ENTITIES = ("orders", "customers", "tickets", "campaigns", "leads")
#: the facts' cache key of the order lines' rows read with them (``extract(…, lines_ahead=True)``)
_LINES_AHEAD = "lines_ahead"


def extract(source: Source, today: date, lines_ahead: bool = False) -> Facts:
    """Read and clean the source once: the facts of ``source`` as of ``today``. SQLite, PostgreSQL
    and MySQL/MariaDB are read as they are and cleaned in memory (``data.staging``); the copy stays
    with the facts for the order lines (``extract_holdings``).

    ``lines_ahead`` (a server, which reads the order lines right after): from a DuckDB file, the
    order lines' statement starts as soon as the orders' rows are in, on a thread of its own, while
    they are summed here; ``extract_holdings`` takes its rows (at 100k customers every page cold
    0.3 s sooner, the peak 30–40 MB lower: the statement no longer runs beside the overview's
    models)."""
    tune_allocators()
    local = LocalCopy(source, _FACT_ENTITIES) if clean_locally(source) else None
    facts = _extract(local or source, today, lines_ahead and local is None)
    if local is not None:
        facts._cache["local_copy"] = local
        _count_unreadable(facts.health, local)
    return facts


def _count_unreadable(health: dict[str, dict[str, Any]], local: LocalCopy) -> None:
    """Rows whose text held bytes that are not UTF-8 (read as U+FFFD), per entity of the copy: used,
    but worth a look (a SQLite text column keeps any bytes; the other engines refuse them)."""
    for name, count in local.unreadable.items():
        if name in health and count:
            health[name]["unreadable_text"] = count


def _side_reads(source: Source, today: date) -> dict[str, Future[pd.DataFrame]]:
    """The customers, tickets, leads and campaigns, read on a thread of their own while the order
    days are read (at 100k customers the facts took 0.9–1.1 s read one after the other, 0.8 s so; at
    a million the same, the orders' statement taking both cores). ``source.resolution`` is made
    first, on the caller's thread."""
    wanted = {"customers": lambda: _customer_rows(source, today)}
    if source.available("tickets"):
        wanted["tickets"] = lambda: _ticket_days(source, today)
    if source.available("leads"):
        wanted["leads"] = lambda: _lead_rows(source, today)
    if source.available("campaigns"):
        wanted["campaigns"] = lambda: _whole_entity(source, "campaigns", today)
    side = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cruscotto-facts")
    try:
        return {name: side.submit(read) for name, read in wanted.items()}
    finally:
        side.shutdown(wait=False)  # the reads go on; the thread ends after the last


def _lines_ahead(source: Source, today: date, into: dict[Any, Any], orders: int) -> None:
    """The order lines' rows (``_line_rows``) read on a thread of their own into ``into`` (a
    future, under ``_LINES_AHEAD``), where the source is a DuckDB file that has them."""
    if not (source.dialect == "duckdb" and source.available("order_lines") and source.available("products")):
        return
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cruscotto-lines")
    try:
        into[_LINES_AHEAD] = reader.submit(_read_lines, source, today, orders)
    finally:
        reader.shutdown(wait=False)  # the read goes on; the thread ends after it


def _extract(source: Source, today: date, lines_ahead: bool = False) -> Facts:
    health: dict[str, dict[str, Any]] = {}
    early: dict[Any, Any] = {}

    side = _side_reads(source, today)
    fetched = functools.partial(_lines_ahead, source, today, early) if lines_ahead else None
    summed = _order_days(source, today, fetched)
    days = summed.table  # Arrow columns: no Python object per row
    order_counts = _reason_counts(_per_reason(days))
    is_usable = pc.is_null(days[REASON]).to_numpy(zero_copy_only=False)
    usable = np.flatnonzero(is_usable)
    # the statement returns the usable rows first: a slice, not a gather, where it did
    leading = bool(is_usable[: len(usable)].all())

    def usable_column(name: str) -> np.ndarray:
        values = days[name].slice(0, len(usable)) if leading else days[name].take(usable)
        return values.to_numpy(zero_copy_only=False)

    dates = days["order_date"].slice(0, len(usable)) if leading else days["order_date"].take(usable)
    if pa.types.is_date32(dates.type):  # days since 1970 already (a usable order has its date)
        d_day_unsorted = dates.cast(pa.int32()).to_numpy(zero_copy_only=False)
    else:
        d_day_unsorted = _day_numbers(pd.Series(dates.to_numpy(zero_copy_only=False)))

    people = side["customers"].result()
    if source.available("customers"):
        customer_counts = _reason_counts(people)
        people = people[people[REASON].isna()].reset_index(drop=True)
        acquired = _day_numbers(people["acquired_at"].dropna())
        health["customers"] = _health(
            customer_counts,
            int(acquired.min()) if len(acquired) else None,
            int(acquired.max()) if len(acquired) else None,
        )
    people["customer_id"] = _whole(people["customer_id"])
    listed_ids = people["customer_id"].to_numpy(dtype=object)

    has_tickets = source.available("tickets")
    tickets = (
        side["tickets"].result()
        if has_tickets
        else pd.DataFrame(columns=[REASON, "customer_id", "opened_at", "n", "service_cost"])
    )
    if has_tickets:
        ticket_counts = _reason_counts(tickets)
        tickets = tickets[tickets[REASON].isna()].reset_index(drop=True)
        tickets["customer_id"] = _whole(tickets["customer_id"])
    t_day_unsorted = _day_numbers(tickets["opened_at"])
    if has_tickets:
        health["tickets"] = _health(
            ticket_counts,
            int(t_day_unsorted.min()) if len(t_day_unsorted) else None,
            int(t_day_unsorted.max()) if len(t_day_unsorted) else None,
        )

    # one numbering of every customer seen: orders first (their order keeps the codes sorted), then
    # the customers on record and those with tickets only
    everyone = pd.concat(
        [_whole(pd.Series(usable_column("customer_id"))), people["customer_id"], tickets["customer_id"]],
        ignore_index=True,
    )
    codes, ids = pd.factorize(everyone)
    n = len(ids)
    n_days, n_listed = len(usable), len(listed_ids)
    d_code_unsorted = codes[:n_days].astype(np.int32)
    p_code = codes[n_days : n_days + n_listed]
    t_code_unsorted = codes[n_days + n_listed :].astype(np.int32)

    # dimensions: from the customer's record; n/d for a customer not on record
    vocab: dict[str, np.ndarray] = {}
    p_dims: dict[str, np.ndarray] = {}
    dims = {}
    for d in DIMENSIONS:
        listed_values = people[d] if d in people else pd.Series(np.full(n_listed, UNASSIGNED, dtype=object))
        p_dims[d], vocab[d] = _encode(listed_values)
        per = np.full(n, len(vocab[d]) - 1, dtype=np.int16)  # n/d
        per[p_code] = p_dims[d]
        dims[d] = per

    listed = np.zeros(n, dtype=bool)
    listed[p_code] = True
    names = _names_by_code(people.get("name"), p_code, n)
    campaign = np.full(n, None, dtype=object)
    if "campaign_id" in people:
        values = people["campaign_id"].to_numpy(dtype=object)
        has = pd.notna(values)
        campaign[p_code[has]] = values[has]

    # campaigns: the acquisition cost of each customer is its campaign's spend over the customers
    # it acquired (``data.queries.customer_costs``)
    acquisition_cost = np.zeros(n)
    costed = np.zeros(n, dtype=bool)
    campaigns_frame: pd.DataFrame | None = None
    has_leads = source.available("leads")
    open_lead_days = np.zeros(0, dtype=np.int32)
    lead_rows = side["leads"].result() if has_leads else None
    if lead_rows is not None:
        lead_counts = _reason_counts(lead_rows)
        lead_rows = lead_rows[lead_rows[REASON].isna()].reset_index(drop=True)
        created = _day_numbers(lead_rows["created_at"])
        health["leads"] = _health(
            lead_counts, int(created.min()) if len(created) else None, int(created.max()) if len(created) else None
        )
        unconverted = lead_rows["converted"].to_numpy(dtype=np.int64) == 0
        open_lead_days = np.sort(np.repeat(created[unconverted], lead_rows["n"].to_numpy(dtype=np.int64)[unconverted]))
    if source.available("campaigns"):
        raw = side["campaigns"].result()
        campaign_counts = _reason_counts(raw.assign(n=1))
        camp = raw[raw[REASON].isna()].drop(columns=[REASON]).sort_values("campaign_id").reset_index(drop=True)
        starts = _day_numbers(camp["start_date"].dropna()) if "start_date" in camp else np.zeros(0)
        health["campaigns"] = _health(
            campaign_counts, int(starts.min()) if len(starts) else None, int(starts.max()) if len(starts) else None
        )
        frame = pd.DataFrame(
            {
                "campaign_id": camp["campaign_id"],
                "name": camp["name"],
                "channel": camp["channel"].fillna(UNASSIGNED),
                "spend": camp["spend"].astype(float),
                "start_date": pd.to_datetime(camp["start_date"]),
            }
        )
        if lead_rows is not None:
            per = lead_rows.assign(conv=lead_rows["converted"] * lead_rows["n"]).groupby("campaign_id", dropna=False)
            counts = per.agg(leads=("n", "sum"), converted_leads=("conv", "sum"))
            frame["leads"] = frame["campaign_id"].map(counts["leads"]).fillna(0)
            frame["converted_leads"] = frame["campaign_id"].map(counts["converted_leads"]).fillna(0)
        else:
            frame["leads"], frame["converted_leads"] = 0, 0
        campaigns_frame = frame.astype({"spend": float, "leads": int, "converted_leads": int})
        attributed = pd.Series(campaign).dropna()
        acquired = attributed.value_counts()
        spend = campaigns_frame.set_index("campaign_id")["spend"]
        cac = (spend / acquired.reindex(spend.index)).fillna(0.0)
        rows = attributed.index.to_numpy()
        on_record = attributed.isin(spend.index).to_numpy()
        acquisition_cost[rows[on_record]] = attributed[on_record].map(cac).to_numpy(dtype=float)
        costed[rows[on_record]] = True

    # the customer-day activity, sorted by customer and day
    order = _sorting(d_code_unsorted, d_day_unsorted)
    d_code, d_day = (
        (d_code_unsorted, d_day_unsorted) if order is None else (d_code_unsorted[order], d_day_unsorted[order])
    )
    first_day = int(d_day.min()) if len(d_day) else None
    last_day = int(d_day.max()) if len(d_day) else None
    health["orders"] = _health(order_counts, first_day, last_day)

    def col(name: str, dtype: Any) -> np.ndarray:
        values = usable_column(name).astype(dtype, copy=False)  # (read-only where no copy is made)
        return values if order is None else values[order]

    # what only the data-health page's warnings read of the customers not on record: summed here,
    # once (the refunds were summed with the days); the purchases' margin and revenue differ from
    # the day's only on the days with a refund: kept there
    orders, purchases = col("n", np.int32), col("purchases", np.int32)
    mixed_rows = np.flatnonzero(purchases != orders)
    # their places among the usable rows as read, where the summed days hold their sums
    apart = np.searchsorted(summed.mixed, mixed_rows if order is None else order[mixed_rows])

    day_warnings: dict[str, float] = {"refunds": summed.refunds, "refund_amount": summed.refund_amount}
    revenue = col("revenue", np.float64)
    if source.available("customers"):
        unknown = ~col("known", bool)
        day_warnings["orders_unknown_customer"] = int(orders[unknown].sum())
        day_warnings["revenue_unknown_customer"] = float(revenue[unknown].sum())
        with_orders = np.zeros(n, dtype=bool)
        with_orders[d_code] = True
        day_warnings["customers_without_orders"] = int((listed & ~with_orders).sum())
        del unknown, with_orders
    del orders

    t_order = np.lexsort((t_day_unsorted, t_code_unsorted))
    options: dict[str, list[str]] = {d: [] for d in DIMENSIONS}
    if source.available("customers"):
        for d in DIMENSIONS:
            present = np.unique(p_dims[d])
            options[d] = [str(vocab[d][i]) for i in present]  # sorted, n/d last (the vocabulary's order)
    return Facts(
        today=today,
        ids=np.asarray(ids, dtype=object),
        dims=dims,
        labels=vocab,
        listed=listed,
        names=names,
        campaign=campaign,
        acquisition_cost=acquisition_cost,
        costed=costed,
        d_code=d_code,
        d_day=d_day,
        d_purchases=purchases,
        d_revenue=revenue,
        d_margin=col("margin", np.float64),
        mixed_rows=mixed_rows,
        mixed_purchase_margin=summed.mixed_purchase_margin[apart],
        mixed_purchase_revenue=summed.mixed_purchase_revenue[apart],
        warnings=day_warnings,
        t_code=t_code_unsorted[t_order],
        t_day=t_day_unsorted[t_order],
        t_tickets=tickets["n"].to_numpy(dtype=np.int32)[t_order],
        t_cost=tickets["service_cost"].to_numpy(dtype=np.float64)[t_order],
        campaigns=campaigns_frame,
        open_lead_days=open_lead_days,
        health=health,
        options=options,
        first_day=first_day,
        last_day=last_day,
        has_customers=source.available("customers"),
        has_leads=has_leads,
        _cache=early,  # the order lines' rows being read (``lines_ahead``), for ``extract_holdings``
    )


def _line_rows(source: Source, today: date, part: tuple[int, int] | None = None) -> sa.Subquery:
    """Each order line with its exclusion reason and, where it is held, the customer, product, day
    and margin (``holds``: of a usable line, order and product, and not of a refund). ``part``:
    (k, n), the lines and orders of part k of n of the orders (``_line_parts``)."""
    by_order = None if part is None else ("order_id", *part)
    lines = cleaned(source.entity("order_lines"), today, part=by_order)
    products = cleaned(source.entity("products"), today)
    orders = cleaned(source.entity("orders"), today, part=by_order)
    ok = lines.c[REASON].is_(None)
    margin = margin_of(source, lines)
    # the product and order joins hold for usable lines only; a line of an unusable order or
    # product, or of a refund, is not a holding (``data.queries.customer_products``)
    holds = sa.and_(ok, orders.c[REASON].is_(None), products.c[REASON].is_(None), orders.c.revenue >= 0)
    return (
        sa.select(
            lines.c[REASON].label(REASON),
            _when(holds, orders.c.customer_id).label("customer_id"),
            _when(holds, products.c.product_id).label("product_id"),
            _when(holds, orders.c.order_date).label("order_date"),
            _when(holds, margin).label("margin"),
            sa.case((holds, 1), else_=0).label("holds"),
        )
        .select_from(
            lines.outerjoin(
                orders, sa.and_(orders.c.order_id == lines.c.order_id, orders.c[REASON].is_(None))
            ).outerjoin(products, sa.and_(products.c.product_id == lines.c.product_id, products.c[REASON].is_(None)))
        )
        .subquery("line_rows")
    )


#: orders per part of the order lines' statement in process (``_line_parts``)
_ORDERS_A_PART = 2_500_000


def _line_parts(source: Source, orders: int) -> int:
    """In how many parts the order lines are read in process: one per 2.5 million orders, each part
    the lines and orders of a share of the order ids (by their hash), so that the database joins and
    cleans a part at a time instead of every order at once (at a million customers, ten million
    orders, DuckDB held some 1.6 GB for the statement). In one part where a part could clean
    differently from the whole: where the order lines' own ids are looked for repeats (a repeated
    line id could span two parts), or where the lines name their orders with another type than the
    orders do (their hashes would differ)."""
    lines, held = source.entity("order_lines"), source.entity("orders")
    if not (lines.unique_key or not lines.has(lines.spec.key)):
        return 1
    if str(lines.selectable.c["order_id"].type) != str(held.selectable.c["order_id"].type):
        return 1
    return max(1, -(-orders // _ORDERS_A_PART))


def _read_lines(source: Source, today: date, orders: int = 0) -> pa.Table:
    """The order lines' rows, one per line (``_line_rows``), from a source that runs in process,
    in parts (``_line_parts``; ``orders``: how many rows the orders hold)."""
    n = _line_parts(source, orders)
    if n == 1:
        return _arrow(source, sa.select(*_line_rows(source, today).c))
    return pa.concat_tables([_arrow(source, sa.select(*_line_rows(source, today, (k, n)).c)) for k in range(n)])


def extract_holdings(source: Source, facts: Facts) -> Holdings:
    """The order lines by customer, product and day, and the products: read on first use (or
    started with the facts, ``extract(…, lines_ahead=True)``: their rows are taken here)."""
    today = facts.today
    local = facts.local_copy
    if local is not None and local.origin is source:
        local.add(("order_lines", "products"))
        source = local
    in_process = runs_in_process(source)
    if in_process:
        # in process: a line per row (``customer_products`` sums by customer and product at any
        # date); a GROUP BY by day would build a group per line (1M customers: 8.0 s against 5.3 s)
        ahead: Future[pa.Table] | None = facts._cache.pop(_LINES_AHEAD, None)  # taken once, even failed
        orders = int(facts.health.get("orders", {}).get("rows_read", 0))
        table = ahead.result() if ahead is not None else _read_lines(source, today, orders)
        excluded = table.filter(pc.is_valid(table[REASON]))  # the unusable lines: few
        counts = _reason_counts(excluded.select([REASON]).to_pandas().assign(n=1))
        counts[None] = table.num_rows - excluded.num_rows
        keep = table["holds"].to_numpy(zero_copy_only=False) > 0  # held: of a usable line, order, product
    else:
        rows = _line_rows(source, today)
        stmt = sa.select(
            rows.c[REASON],
            rows.c.customer_id,
            rows.c.product_id,
            rows.c.order_date,
            sa.func.count().label("n"),
            sa.func.sum(rows.c.holds).label("lines"),
            sa.func.coalesce(sa.func.sum(rows.c.margin), 0).label("margin"),
        ).group_by(rows.c[REASON], rows.c.customer_id, rows.c.product_id, rows.c.order_date)
        table = _arrow(source, stmt)
        counts = _reason_counts(_per_reason(table))
        keep = table[REASON].is_null().to_numpy(zero_copy_only=False) & (
            pc.fill_null(table["lines"], 0).to_numpy(zero_copy_only=False) > 0
        )
    health = {"order_lines": _health(counts, None, None)}
    raw = _whole_entity(source, "products", today)
    health["products"] = _health(_reason_counts(raw.assign(n=1)), None, None)
    if isinstance(source, LocalCopy):
        _count_unreadable(health, source)
    usable = raw[raw[REASON].isna()]
    catalogue = (
        pd.DataFrame(
            {
                "product_id": usable["product_id"],
                "name": usable["name"],
                "category": usable["category"].where(usable["category"].notna(), usable["name"]),
                "ladder_step": usable["ladder_step"],
            }
        )
        .sort_values("product_id")
        .reset_index(drop=True)
        .astype({"ladder_step": float})
    )
    everyone = bool(keep.all())
    mask = None if everyone else pa.array(keep)

    def held(name: str) -> pa.ChunkedArray:
        """A column's held lines: numbers per row, never an object per row where avoidable."""
        return table[name] if mask is None else table[name].filter(mask)

    customer_id = _whole(pd.Series(held("customer_id").to_numpy(zero_copy_only=False))).to_numpy()
    products_held = held("product_id").combine_chunks().dictionary_encode()
    distinct = products_held.dictionary.to_numpy(zero_copy_only=False).astype(object)
    position = pd.Index(catalogue["product_id"].to_numpy(dtype=object)).get_indexer(distinct)
    product = position[products_held.indices.to_numpy(zero_copy_only=False)] if len(distinct) else np.zeros(0, int)
    dates = held("order_date")
    if pa.types.is_date32(dates.type):  # days since 1970 already
        day = dates.cast(pa.int32()).to_numpy(zero_copy_only=False)
    else:
        day = _day_numbers(pd.Series(dates.to_numpy(zero_copy_only=False)))
    line_counts = None if in_process else held("lines").to_numpy(zero_copy_only=False).astype(np.int32)
    margin = pc.fill_null(held("margin"), 0.0).to_numpy(zero_copy_only=False).astype(float)
    try:  # each row's customer by the customers' sorted ids: grouping by a number is fast
        rank, ranked_ids = pd.factorize(customer_id, sort=True)
    except TypeError:  # ids of mixed kinds cannot be sorted: in the order met
        rank, ranked_ids = pd.factorize(customer_id)
    return Holdings(
        rank=np.asarray(rank, dtype=np.int32),
        ranked_ids=_numbers_or_objects(np.asarray(ranked_ids)),
        # a code into the catalogue, as narrow as its length allows (at a million customers 11 MB, not 44)
        product=np.asarray(product, dtype=np.min_scalar_type(-max(len(catalogue), 1))),
        day=np.asarray(day, dtype=np.int32),
        lines=line_counts,
        margin=margin,
        catalogue=catalogue,
        health=health,
    )


# ---------------------------------------------------------------------------------------------
# Pure functions over the facts: the same results as ``data.queries``, without a statement


def customer_mask(facts: Facts, filters: Filters) -> np.ndarray:
    """Per customer code: within the segment, region and channel filters."""
    mask = np.ones(facts.customers, dtype=bool)
    for d, chosen in zip(DIMENSIONS, (filters.segments, filters.regions, filters.channels), strict=True):
        if chosen:
            wanted = [i for i, label in enumerate(facts.labels[d]) if label in set(chosen)]
            mask &= np.isin(facts.dims[d], np.asarray(wanted, dtype=np.int16))
    return mask


def _rows(facts: Facts, filters: Filters, start: date | None = None, end: date | None = None) -> np.ndarray:
    """Day rows of the filtered customers, within ``start``..``end`` (inclusive, either optional)."""
    keep = customer_mask(facts, filters)[facts.d_code]
    if start is not None:
        keep &= facts.d_day >= _day(start)
    if end is not None:
        keep &= facts.d_day <= _day(end)
    return keep


def _distinct_pairs(code: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Of rows sorted by code (then by a group that does not decrease within a code): True on the
    first row of each (code, group) pair — distinct counts without a sort."""
    if len(code) == 0:
        return np.zeros(0, dtype=bool)
    first = np.ones(len(code), dtype=bool)
    first[1:] = (code[1:] != code[:-1]) | (group[1:] != group[:-1])
    return first


@dataclass(frozen=True)
class Cells:
    """The customers' cells: one per combination of segment, region, channel and acquisition
    campaign that some customer has. A customer is in exactly one cell, so counts of distinct
    customers add across cells, and every filter is a choice of cells."""

    of_customer: np.ndarray  # per customer code: its cell
    dims: dict[str, np.ndarray]  # per cell: the dimension codes
    campaign: np.ndarray  # per cell: the acquisition campaign id (None: none)

    def __len__(self) -> int:
        return len(self.campaign)

    def chosen(self, facts: Facts, filters: Filters) -> np.ndarray:
        """Per cell: within the segment, region and channel filters (``customer_mask`` of cells)."""
        mask = np.ones(len(self), dtype=bool)
        for d, picked in zip(DIMENSIONS, (filters.segments, filters.regions, filters.channels), strict=True):
            if picked:
                wanted = [i for i, label in enumerate(facts.labels[d]) if label in set(picked)]
                mask &= np.isin(self.dims[d], np.asarray(wanted, dtype=np.int16))
        return mask


def cells(facts: Facts) -> Cells:
    """The customers' cells (``Cells``), made once per facts."""
    made = facts._cache.get("cells")
    if made is None:
        key = np.zeros(facts.customers, dtype=np.int64)
        for d in DIMENSIONS:
            key = key * len(facts.labels[d]) + facts.dims[d].astype(np.int64)
        campaign_code, campaign_ids = pd.factorize(facts.campaign)  # -1: none
        key = key * (len(campaign_ids) + 1) + (campaign_code.astype(np.int64) + 1)
        unique, of_customer = np.unique(key, return_inverse=True)
        rest = unique
        campaign_at = rest % (len(campaign_ids) + 1) - 1
        rest = rest // (len(campaign_ids) + 1)
        dims = {}
        for d in reversed(DIMENSIONS):
            dims[d] = (rest % len(facts.labels[d])).astype(np.int16)
            rest = rest // len(facts.labels[d])
        campaign = np.full(len(unique), None, dtype=object)
        campaign[campaign_at >= 0] = np.asarray(campaign_ids, dtype=object)[campaign_at[campaign_at >= 0]]
        made = facts._cache.setdefault(
            "cells", Cells(of_customer=of_customer.astype(np.int32), dims=dims, campaign=campaign)
        )
    return made


@dataclass(frozen=True)
class Cube:
    """The day rows between two days (either end open), summed per month and cell — built once per
    period and kept with the facts, so that a filter change only picks cells. Arrays by month then
    cell (``month * cells + cell``), and per cell over the whole period."""

    first_month: int
    months: int
    revenue: np.ndarray  # per month and cell
    margin: np.ndarray
    orders: np.ndarray  # purchases
    customers: np.ndarray  # distinct customers with a row
    rows: np.ndarray  # day rows (0: the cell has no row that month)
    p_revenue: np.ndarray  # per cell, over the period
    p_margin: np.ndarray
    p_orders: np.ndarray
    p_customers: np.ndarray  # distinct customers with a row
    p_buyers: np.ndarray  # distinct customers with a purchase
    p_repeat: np.ndarray  # of those, with two purchase days or more by the period's end
    p_new: np.ndarray  # customers whose first purchase is in the period (start given)


_CUBES_KEPT = 16


_ONCE_LOCK = threading.Lock()
#: the values being made (``made_once``), by facts object and key: one lock each while it is made
_MAKING: dict[tuple[int, Hashable], threading.Lock] = {}


def made_once(facts: Facts, key: Hashable, make: Callable[[], Any]) -> Any:
    """A value derived from the facts, made once per facts object and kept with them (the facts live
    as long as their cache entry, and so do these). One making at a time per value: a caller asking
    while another makes it (a page while the read ahead reads the order lines, a page's two periods
    at once) waits for that one's result; other values are made meanwhile."""
    with _ONCE_LOCK:
        if key in facts._cache:
            return facts._cache[key]
        making = _MAKING.setdefault((id(facts), key), threading.Lock())
    try:
        with making:
            with _ONCE_LOCK:
                if key in facts._cache:
                    return facts._cache[key]
            value = make()
            with _ONCE_LOCK:
                facts._cache.setdefault(key, value)
                return facts._cache[key]
    finally:
        with _ONCE_LOCK:
            if _MAKING.get((id(facts), key)) is making:
                del _MAKING[(id(facts), key)]


def cube(facts: Facts, start: date | None, end: date | None) -> Cube:
    """The ``Cube`` of the day rows from ``start`` to ``end`` (inclusive; None: open), made on first
    use and kept with the facts (the last ``_CUBES_KEPT`` periods)."""
    key = ("cube", start, end)
    found = facts._cache.get(key)
    if found is not None:
        return found
    cell = cells(facts)
    k = len(cell)
    keep = np.ones(len(facts.d_code), dtype=bool)
    if start is not None:
        keep &= facts.d_day >= _day(start)
    if end is not None:
        keep &= facts.d_day <= _day(end)
    code = facts.d_code[keep]
    month = facts.months(keep).astype(np.int64)
    first_month = int(month.min()) if len(month) else 0
    months = int(month.max()) - first_month + 1 if len(month) else 0
    of_row = cell.of_customer[code].astype(np.int64)
    group = (month - first_month) * k + of_row
    size = months * k

    def summed(values: np.ndarray, where: np.ndarray = keep) -> np.ndarray:
        return np.bincount(group, weights=values[where], minlength=size)

    # rows are sorted by customer then day: within a customer the month does not decrease, so
    # (customer, month) pairs are contiguous and distinct counts need no sort
    per_month = _distinct_pairs(code, month)
    per_period = _distinct_pairs(code, np.zeros(len(code), dtype=np.int8))
    bought = facts.d_purchases[keep] > 0
    buyer = _distinct_pairs(code[bought], np.zeros(int(bought.sum()), dtype=np.int8))
    buyers = code[bought][buyer]
    n = facts.customers
    all_bought = facts.d_purchases > 0
    to_end = all_bought & (facts.d_day <= _day(end)) if end is not None else all_bought
    repeat = np.bincount(facts.d_code[to_end], minlength=n)[buyers] >= 2
    first = facts.first_purchase_day()
    new = np.zeros(n, dtype=bool)
    if start is not None:
        new = (first >= _day(start)) & (first <= _day(end)) if end is not None else first >= _day(start)
    revenue, margin = summed(facts.d_revenue), summed(facts.d_margin)
    orders = summed(facts.d_purchases)
    shape = (months, k)
    made = Cube(
        first_month=first_month,
        months=months,
        revenue=revenue,
        margin=margin,
        orders=orders,
        customers=np.bincount(group[per_month], minlength=size),
        rows=np.bincount(group, minlength=size),
        p_revenue=revenue.reshape(shape).sum(axis=0),
        p_margin=margin.reshape(shape).sum(axis=0),
        p_orders=orders.reshape(shape).sum(axis=0),
        p_customers=np.bincount(of_row[per_period], minlength=k),
        p_buyers=np.bincount(cell.of_customer[buyers], minlength=k),
        p_repeat=np.bincount(cell.of_customer[buyers[repeat]], minlength=k),
        p_new=np.bincount(cell.of_customer[new], minlength=k),
    )
    with _CUBE_LOCK:
        # over a copy of the keys: other threads add to the facts' cache meanwhile
        kept = [c for c in list(facts._cache) if isinstance(c, tuple) and c[:1] == ("cube",)]
        for old in kept[: max(len(kept) - _CUBES_KEPT + 1, 0)]:
            facts._cache.pop(old, None)
        return facts._cache.setdefault(key, made)


_CUBE_LOCK = threading.Lock()


def period_measures(facts: Facts, filters: Filters) -> pd.DataFrame:
    """``data.queries.period_measures``: the cells of the filters in the period's cube."""
    if filters.start is None or filters.end is None:
        raise ValueError("period_measures needs a period: set Filters.start and Filters.end.")
    chosen = cells(facts).chosen(facts, filters)
    records = []
    for label, (start, end) in (
        ("current", (filters.start, filters.end)),
        ("previous", previous_period(filters.start, filters.end)),
    ):
        c = cube(facts, start, end)
        records.append(
            {
                "period": label,
                "start": start,
                "end": end,
                "revenue": float(c.p_revenue[chosen].sum()),
                "margin": float(c.p_margin[chosen].sum()),
                "orders": int(np.rint(c.p_orders[chosen].sum())),
                "active_customers": int(c.p_buyers[chosen].sum()),
                "new_customers": int(c.p_new[chosen].sum()),
                "repeat_customers": int(c.p_repeat[chosen].sum()),
            }
        )
    return pd.DataFrame.from_records(records)


def _by_segment(facts: Facts, filters: Filters) -> tuple[Cube, np.ndarray, np.ndarray, int]:
    """The period's cube, the chosen cells and each cell's segment code."""
    cell = cells(facts)
    return (
        cube(facts, filters.start, filters.end),
        cell.chosen(facts, filters),
        cell.dims["segment"].astype(np.int64),
        len(facts.labels["segment"]),
    )


def monthly_by_segment(facts: Facts, filters: Filters) -> pd.DataFrame:
    """``data.queries.monthly_by_segment``: the chosen cells of the period's cube, by segment."""
    c, chosen, segment_of, k = _by_segment(facts, filters)
    segments = facts.labels["segment"]
    n_cells = len(chosen)
    month = np.repeat(np.arange(c.months, dtype=np.int64), n_cells)
    picked = np.tile(chosen, c.months) & (c.rows > 0)
    if not picked.any():
        return pd.DataFrame(
            {
                "month": pd.Series([], dtype="datetime64[ns]"),
                "segment": pd.Series([], dtype=str),
                "revenue": pd.Series([], dtype=float),
                "margin": pd.Series([], dtype=float),
                "orders": pd.Series([], dtype=int),
                "customers": pd.Series([], dtype=int),
            }
        )
    group = month[picked] * k + np.tile(segment_of, c.months)[picked]
    size = c.months * k

    def summed(values: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=values[picked], minlength=size)

    revenue, margin, orders, customers = (summed(v) for v in (c.revenue, c.margin, c.orders, c.customers))
    present = np.flatnonzero(np.bincount(group, minlength=size))
    order = np.lexsort((np.argsort(np.argsort(segments.astype(str)))[present % k], present // k))
    present = present[order]
    return pd.DataFrame(
        {
            "month": _month_starts(present // k + c.first_month),
            "segment": segments[present % k].astype(str),
            "revenue": revenue[present],
            "margin": margin[present],
            "orders": np.rint(orders[present]).astype(int),
            "customers": np.rint(customers[present]).astype(int),
        }
    )


def segment_totals(facts: Facts, filters: Filters) -> pd.DataFrame:
    """``data.queries.segment_totals``: the chosen cells of the period's cube, by segment."""
    c, chosen, segment_of, k = _by_segment(facts, filters)
    segments = facts.labels["segment"]
    picked = chosen & (c.p_customers > 0)
    group = segment_of[picked]

    def summed(values: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=values[picked], minlength=k)

    revenue, margin, orders, customers = (summed(v) for v in (c.p_revenue, c.p_margin, c.p_orders, c.p_customers))
    present = np.flatnonzero(np.bincount(group, minlength=k))
    df = pd.DataFrame(
        {
            "segment": segments[present].astype(str),
            "revenue": revenue[present],
            "margin": margin[present],
            "orders": np.rint(orders[present]).astype(int),
            "customers": np.rint(customers[present]).astype(int),
        }
    )
    return df.sort_values(["revenue", "segment"], ascending=[False, True]).reset_index(drop=True)


@dataclass(frozen=True)
class _Cohorts:
    """The day rows up to a date of the customers whose first purchase is by then, summed per
    (cohort month, month) pair and combination of segment, region and channel ("dimension cell"):
    made once per date and kept with the facts, so that a filter change only picks cells. A customer
    has one cohort and one dimension cell, so distinct buyers add across cells."""

    first_month: int
    span: int  # months from the first to the last: a pair is ``cohort * span + month`` (offsets)
    shape: tuple[int, ...]  # codes per dimension, plus one for none
    pair: np.ndarray  # per entry: its (cohort, month) pair
    cell: np.ndarray  # per entry: its dimension cell
    margin: np.ndarray
    buyers: np.ndarray  # distinct customers with a purchase that month


#: the day rows go into the cohorts this many at a time (whole customers): the working memory is a
#: few arrays of this length, not of every row (at a million customers 0.10 GB at most instead of 0.36)
_COHORT_ROWS = 1 << 21
#: up to this many possible entries ((cohort, month) pairs × dimension cells) the cohorts are summed
#: into an array of every entry (three numbers each: at most 48 MB), beyond it the entries met are
#: sorted out part by part
_COHORT_DENSE = 1 << 21


def _cohorts(facts: Facts, as_of: date) -> _Cohorts | None:
    key = ("cohorts", as_of)
    found = facts._cache.get(key)
    if found is not None:
        return found[0]
    limit = _day(as_of)
    first = facts.first_purchase_day()
    started = (first >= 0) & (first <= limit)
    made = None
    if started.any() and facts.last_day is not None:
        shape = tuple(len(facts.labels[d]) + 1 for d in DIMENSIONS)
        cell_of = np.ravel_multi_index(tuple(facts.dims[d].astype(np.int64) + 1 for d in DIMENSIONS), shape)
        cohort_of = month_numbers(np.where(started, first, 0).astype(np.int32)).astype(np.int64)
        base = int(cohort_of[started].min())  # a started customer's first purchase is a kept row
        last = int(month_numbers(np.array([min(limit, facts.last_day)], dtype=np.int32))[0])
        span = last - base + 1  # no kept row is later (the pairs are decoded by it, nothing else)
        cells_n = int(np.prod(shape))
        size = span * span * cells_n
        kind = np.int32 if size < 2**31 else np.int64  # a number per kept row: the narrower, the better
        # per customer, its cohort and cell; per row, the month added
        of_customer = ((cohort_of - base) * span * cells_n + cell_of).astype(kind)
        dense = size <= _COHORT_DENSE  # a sum per possible entry, no sort
        if dense:
            rows_n, margin_n, buyers_n = (np.zeros(size, dtype=t) for t in (np.int64, np.float64, np.int64))
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        # whole customers at a time (rows are sorted by customer, then day): a (customer, month)
        # pair is never split between two parts
        cuts = np.searchsorted(facts.d_code, facts.d_code[::_COHORT_ROWS][1:], side="left")
        for low, high in zip(np.r_[0, cuts], np.r_[cuts, len(facts.d_code)], strict=True):
            code, day = facts.d_code[low:high], facts.d_day[low:high]
            keep = started[code] & (day <= limit)
            if not keep.any():
                continue
            code = code[keep]
            month = month_numbers(day[keep])
            group = of_customer[code]
            offset = month.astype(kind)  # the month's part of the entry, worked in place
            np.subtract(offset, base, out=offset)
            np.multiply(offset, cells_n, out=offset)
            np.add(group, offset, out=group)
            del offset
            bought = facts.d_purchases[low:high][keep] > 0
            firsts = _distinct_pairs(code[bought], month[bought])
            del code, month
            margin = facts.d_margin[low:high][keep]
            if dense:
                rows_n += np.bincount(group, minlength=size)
                margin_n += np.bincount(group, weights=margin, minlength=size)
                buyers_n += np.bincount(group[bought][firsts], minlength=size)
            else:
                entries, entry = np.unique(group, return_inverse=True)
                parts.append(
                    (
                        entries,
                        np.bincount(entry, weights=margin, minlength=len(entries)),
                        np.bincount(entry[bought][firsts], minlength=len(entries)),
                    )
                )
        if dense:
            entries = np.flatnonzero(rows_n)
            margins, buyers = margin_n[entries], buyers_n[entries]
        else:  # the parts' entries, summed where two parts share one
            entries, entry = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
            margins = np.bincount(entry, weights=np.concatenate([p[1] for p in parts]), minlength=len(entries))
            buyers = np.bincount(entry, weights=np.concatenate([p[2] for p in parts]), minlength=len(entries))
            buyers = np.rint(buyers).astype(np.int64)
        made = _Cohorts(
            first_month=base,
            span=span,
            shape=shape,
            pair=entries // cells_n,
            cell=entries % cells_n,
            margin=margins,
            buyers=buyers,
        )
    with _CUBE_LOCK:
        kept = [c for c in list(facts._cache) if isinstance(c, tuple) and c[:1] == ("cohorts",)]
        for old in kept[: max(len(kept) - _CUBES_KEPT + 1, 0)]:
            facts._cache.pop(old, None)
        return facts._cache.setdefault(key, (made,))[0]


def cohort_activity(facts: Facts, filters: Filters, as_of: date) -> pd.DataFrame:
    """``data.queries.cohort_activity`` (sorted by cohort and month): per cohort of first purchase
    and month, the buyers and the margin of the chosen customers."""
    made = _cohorts(facts, as_of)
    chosen = None
    if made is not None:
        picked = np.ones(made.shape, dtype=bool)
        choices = (filters.segments, filters.regions, filters.channels)
        for axis, (d, wanted) in enumerate(zip(DIMENSIONS, choices, strict=True)):
            if wanted:
                on = np.r_[False, np.isin(facts.labels[d], list(wanted))]  # none (code -1) never chosen
                picked &= on.reshape([-1 if a == axis else 1 for a in range(len(made.shape))])
        chosen = picked.ravel()[made.cell]
    if made is None or chosen is None or not chosen.any():
        return pd.DataFrame({"cohort": pd.to_datetime([]), "month": pd.to_datetime([]), "customers": [], "margin": []})
    pair = made.pair[chosen]
    n_pairs = made.span * made.span
    margin = np.bincount(pair, weights=made.margin[chosen], minlength=n_pairs)
    customers = np.bincount(pair, weights=made.buyers[chosen], minlength=n_pairs)
    cells = np.unique(pair)
    return pd.DataFrame(
        {
            "cohort": _month_starts(cells // made.span + made.first_month),
            "month": _month_starts(cells % made.span + made.first_month),
            "customers": customers[cells].astype(int),
            "margin": margin[cells].astype(float),
        }
    )


def customer_acquisition(facts: Facts) -> pd.DataFrame:
    """``data.queries.customer_acquisition``: ``customer_id`` → ``campaign_id``."""
    has = pd.notna(facts.campaign)
    return pd.DataFrame({"customer_id": facts.ids[has], "campaign_id": facts.campaign[has]})


def campaign_monthly_margin(facts: Facts, filters: Filters, as_of: date) -> pd.DataFrame:
    """``data.queries.campaign_monthly_margin``: the chosen cells with a campaign in the cube of
    everything up to ``as_of``, by campaign and month."""
    empty = pd.DataFrame({"campaign_id": [], "month": pd.to_datetime([]), "margin": []})
    cell = cells(facts)
    chosen = cell.chosen(facts, filters) & pd.notna(cell.campaign)
    if not chosen.any():
        return empty
    first_month, months, cell_margin, cell_rows = _margin_months(facts, as_of)
    n_cells = len(cell)
    picked = np.tile(chosen, months) & (cell_rows > 0)
    if not picked.any():
        return empty
    campaign_codes, campaign_ids = pd.factorize(cell.campaign[chosen])
    campaign_of = np.full(n_cells, -1, dtype=np.int64)
    campaign_of[chosen] = campaign_codes
    month = np.repeat(np.arange(months, dtype=np.int64), n_cells)[picked]
    group = np.tile(campaign_of, months)[picked] * months + month
    size = len(campaign_ids) * months
    margin = np.bincount(group, weights=cell_margin[picked], minlength=size)
    present = np.flatnonzero(np.bincount(group, minlength=size))
    df = pd.DataFrame(
        {
            "campaign_id": np.asarray(campaign_ids, dtype=object)[present // months],
            "month": _month_starts(present % months + first_month),
            "margin": margin[present].astype(float),
        }
    )
    return df.sort_values(["campaign_id", "month"], kind="stable").reset_index(drop=True)


def _whole_months(facts: Facts, cell: Cells) -> tuple[int, np.ndarray, np.ndarray]:
    """The first month, and per month and cell from it the margin and the rows of every day row
    (the numbers worked in place: at a million customers each copy is 80 MB)."""
    k = len(cell)
    month = facts.months()
    if not len(month):
        return 0, np.zeros(0), np.zeros(0, dtype=np.int64)
    first, last = int(month.min()), int(month.max())
    group = month.astype(np.int64)
    del month
    group -= first
    group *= k
    group += cell.of_customer[facts.d_code]
    size = (last - first + 1) * k
    return first, np.bincount(group, weights=facts.d_margin, minlength=size), np.bincount(group, minlength=size)


def _margin_months(facts: Facts, as_of: date) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Per month and cell, of the day rows up to ``as_of`` (inclusive): the margin and the rows,
    month by month from ``first_month`` for ``months`` months — the two things the campaigns' curves
    take from a cube of everything up to ``as_of``, without its distinct counts. The whole months
    are summed once per facts (a pass over every day row: 0.2 s at a million customers, against
    0.65 s for each date's cube); the month of ``as_of``, up to its day, from that month's rows.
    The same rows are added in the same order as in the cube: the same sums to the last bit."""
    cell = cells(facts)
    k = len(cell)
    # (the two periods of a page ask at once: made once, by one of them)
    first, margin, rows = made_once(facts, "margin_months", lambda: _whole_months(facts, cell))
    day = _day(as_of)
    in_month = int(month_numbers(np.array([day]))[0]) - first  # as_of's month, from the first month
    if len(facts.d_day) == 0 or day < int(facts.d_day.min()):
        return first, 0, margin[:0], rows[:0]
    if in_month >= len(margin) // max(k, 1) or day >= int(facts.d_day.max()):  # after the data: all of it
        return first, len(margin) // max(k, 1), margin, rows
    if int(month_numbers(np.array([day + 1]))[0]) - first > in_month:  # the month's last day: whole months
        return first, in_month + 1, margin[: (in_month + 1) * k], rows[: (in_month + 1) * k]
    upto = in_month * k
    month_start = int(np.datetime64(in_month + first, "M").astype("datetime64[D]").astype(np.int64))
    partial = np.flatnonzero((facts.d_day >= month_start) & (facts.d_day <= day))
    of_row = cell.of_customer[facts.d_code[partial]]
    last_margin = np.bincount(of_row, weights=facts.d_margin[partial], minlength=k)
    last_rows = np.bincount(of_row, minlength=k)
    return first, in_month + 1, np.concatenate([margin[:upto], last_margin]), np.concatenate([rows[:upto], last_rows])


def prospects(facts: Facts, filters: Filters, as_of: date) -> int:
    """``data.queries.prospects``."""
    count = 0
    if facts.has_customers:
        limit = _day(as_of)
        first = facts.first_purchase_day()
        never = (first < 0) | (first > limit)
        count += int((facts.listed & never & customer_mask(facts, filters)).sum())
    if facts.has_leads and not (filters.segments or filters.regions or filters.channels):
        count += int(np.searchsorted(facts.open_lead_days, _day(as_of), side="right"))
    return count


def _numbers_or_objects(ids: np.ndarray) -> np.ndarray:
    """Ids held for the rest of the day: whole numbers as 64-bit numbers (at a million customers
    a Python object each took 40 MB more), others as objects."""
    numbers = whole_numbers(ids)
    return numbers if numbers is not None else ids.astype(object, copy=False)


def whole_numbers(values: np.ndarray) -> np.ndarray | None:
    """``values`` as 64-bit whole numbers when every one is a whole number (ints, or floats without
    a fraction), else None: such ids are matched as numbers, not as Python objects."""
    if values.dtype.kind == "i":
        return values.astype(np.int64, copy=False)
    if values.dtype.kind == "u":
        return values.astype(np.int64) if len(values) == 0 or values.max() < 2**63 else None
    if values.dtype.kind == "f":
        whole = np.isfinite(values).all() and (np.mod(values, 1) == 0).all() and (np.abs(values) < 2**63).all()
        return values.astype(np.int64) if whole else None
    if values.dtype.kind == "O" and pd.api.types.infer_dtype(values, skipna=False) == "integer":
        try:
            return values.astype(np.int64)
        except OverflowError:
            return None
    return None


def positions(facts: Facts, ids: Any) -> np.ndarray:
    """Each of ``ids``' position among the facts' customers (-1: not one of them), as
    ``pd.Index(facts.ids).get_indexer`` finds it. The facts' ids are indexed once per facts, and
    whole numbers on both sides (the usual case) are matched as numbers: at a million customers a
    lookup of every customer took 0.05 s through a new index of Python objects, 0.02 s now (a page
    asks it several times)."""
    values = ids.to_numpy() if isinstance(ids, (pd.Series, pd.Index)) else np.asarray(ids)
    by_number = number_index(facts)
    asked = whole_numbers(values) if by_number is not None else None
    if by_number is not None and asked is not None:
        return np.asarray(by_number.get_indexer(asked), dtype=np.int64)
    by_object = made_once(facts, "object_index", lambda: pd.Index(facts.ids, dtype=object))
    return np.asarray(by_object.get_indexer(pd.Index(values.astype(object, copy=False), dtype=object)), dtype=np.int64)


def number_index(facts: Facts) -> pd.Index | None:
    """The facts' customer ids as an index of 64-bit numbers, made once per facts; None unless
    every id is a whole number (then ids are matched as objects or as text)."""

    def make() -> pd.Index | None:
        numbers = whole_numbers(np.asarray(facts.ids))
        index = pd.Index(numbers) if numbers is not None else None
        return index if index is not None and index.is_unique else None

    found: pd.Index | None = made_once(facts, "number_index", make)
    return found


def customer_names(facts: Facts, customer_ids: list[Any]) -> dict[Any, str]:
    """``data.queries.customer_names``."""
    if not customer_ids:
        return {}
    codes = positions(facts, pd.Index(customer_ids, dtype=object))
    known = [(cid, int(c)) for cid, c in zip(customer_ids, codes, strict=True) if c >= 0 and facts.listed[c]]
    found = facts.names.take(pa.array([c for _, c in known], type=pa.int64())).to_pylist()
    return {cid: str(name) for (cid, _), name in zip(known, found, strict=True) if name is not None}


def _names_by_code(read: pd.Series | None, p_code: np.ndarray, n: int) -> pa.Array:
    """The customers' names as read (``read``, the listed customers' in the order of ``p_code``)
    by code, null where none: Arrow text instead of a Python object a name (at a million
    customers 70 MB and 0.3 s less; a page looks up a few thousand at a time)."""
    if read is None:
        return pa.nulls(n, pa.string())
    if isinstance(read.dtype, pd.StringDtype):
        text = pa.array(read.array)
    else:  # not read as text (numbers as names): each one as its text, as shown
        text = pa.array([None if pd.isna(v) else str(v) for v in read.to_numpy(dtype=object)], pa.string())
    row = np.full(n, -1, dtype=np.int64)
    row[p_code] = np.arange(len(p_code))
    return text.take(pa.array(row, mask=row < 0))


def entity_health(facts: Facts, name: str, holdings: Holdings | None = None) -> dict[str, Any]:
    """``data.queries.entity_health`` (the order lines and products from ``holdings``)."""
    if name in facts.health:
        return dict(facts.health[name])
    if holdings is not None and name in holdings.health:
        return dict(holdings.health[name])
    raise KeyError(name)


def data_warnings(facts: Facts) -> dict[str, float]:
    """``data.queries.data_warnings``."""
    return dict(facts.warnings)


#: the order lines' margins are added in whole steps of 2^-28 of the currency (about four billionths):
#: whole numbers, which add up exactly in any order. The lines come in the order the database sends
#: them, which a parallel scan changes from one read to the next, and a sum of fractions in floating
#: point changes with the order in its last digits. Exact while a customer's steps of a product stay
#: below 2^52 (16.7 million in the currency); beyond, that sum is made as the lines come.
_MARGIN_STEP = 2.0**-28


#: the order lines go into what each customer holds this many at a time: the working memory is a few
#: arrays of this length beside the cells (at a million customers 0.19 GB at most instead of 0.33)
_HOLDINGS_ROWS = 1 << 21


def customer_products(holdings: Holdings, as_of: date) -> pd.DataFrame:
    """``data.queries.customer_products``: one row per customer and product bought by ``as_of``,
    sorted by customer and product."""
    width = max(len(holdings.catalogue), 1)
    cells = len(holdings.ranked_ids) * width
    limit = _day(as_of)
    parts = [slice(low, low + _HOLDINGS_ROWS) for low in range(0, len(holdings.rank), _HOLDINGS_ROWS)]

    def kept(values: np.ndarray, part: slice) -> np.ndarray:
        """The part's values on its lines bought by then, of a product in the catalogue."""
        return values[part][(holdings.day[part] <= limit) & (holdings.product[part] >= 0)]

    def keys(part: slice) -> np.ndarray:
        """Each kept line's customer and product as one number (in their order)."""
        key = kept(holdings.rank, part).astype(np.int64)
        key *= width
        key += kept(holdings.product, part)
        return key

    if cells <= max(2 * len(holdings.rank), 1 << 20):
        # every customer and product a cell of their own: the cells held marked part by part, then
        # numbered (at a million customers 0.6 s and 0.15 GB less than numbering the pairs by
        # hashing, and only a few arrays of a part's length at once)
        held = np.zeros(cells, dtype=bool)
        for part in parts:
            held[keys(part)] = True
        groups = np.flatnonzero(held)
        del held
        number = np.zeros(cells, dtype=np.int32 if len(groups) < 2**31 else np.int64)
        number[groups] = np.arange(len(groups), dtype=number.dtype)
        group_of = [lambda part=part: number[keys(part)] for part in parts]
    else:  # too many cells for the lines: the pairs held numbered in their order
        cut = np.cumsum([0, *(len(kept(holdings.day, part)) for part in parts)])
        every = np.concatenate([keys(part) for part in parts]) if parts else np.zeros(0, dtype=np.int64)
        numbered, groups = pd.factorize(every, sort=True)
        group_of = [lambda i=i: numbered[cut[i] : cut[i + 1]] for i in range(len(parts))]
    size = len(groups)
    lines = np.zeros(size)
    margin = np.zeros(size)  # in whole steps of ``_MARGIN_STEP``: exact in any order
    steps_held = np.zeros(size)  # the steps' magnitudes: exact while below 2^52
    for part, group_at in zip(parts, group_of, strict=True):
        group = group_at()
        if holdings.lines is None:  # a row a line
            lines += np.bincount(group, minlength=size)
        else:
            lines += np.bincount(group, weights=kept(holdings.lines, part), minlength=size)
        steps = kept(holdings.margin, part)
        steps /= _MARGIN_STEP
        np.rint(steps, out=steps)
        margin += np.bincount(group, weights=steps, minlength=size)
        steps_held += np.bincount(group, weights=np.abs(steps, out=steps), minlength=size)
    margin *= _MARGIN_STEP
    beyond = steps_held >= 2.0**52
    if beyond.any():  # too many steps to add exactly: those summed as they are, in the order of the lines
        group = np.concatenate([group_at() for group_at in group_of])
        values = np.concatenate([kept(holdings.margin, part) for part in parts])
        margin = np.where(beyond, np.bincount(group, weights=values, minlength=size), margin)
    del steps_held
    catalogue = holdings.catalogue
    product = groups % width
    ids = holdings.ranked_ids[groups // width]
    numbers = whole_numbers(ids)  # whole numbers as numbers: matched and grouped some 6× faster

    def per_product(name: str) -> pd.Categorical:
        """A product's text on each of its rows as a code into the catalogue's values, not a text a
        row (at a million customers 0.1 GB held and 0.8 s of conversion less for three columns)."""
        code, labels = pd.factorize(catalogue[name].to_numpy(dtype=object))  # a missing one: -1
        return pd.Categorical.from_codes(code[product], categories=pd.Index(labels, dtype=object))

    return pd.DataFrame(
        {
            "customer_id": ids if numbers is None else numbers,
            "product_id": per_product("product_id"),
            "name": per_product("name"),
            "category": per_product("category"),
            "ladder_step": catalogue["ladder_step"].to_numpy(dtype=float)[product],
            "lines": np.rint(lines).astype(np.int64),
            "margin": margin,
        }
    )

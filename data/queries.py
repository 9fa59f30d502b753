"""Aggregate queries in SQLAlchemy Core: the same statement runs on SQLite, DuckDB, PostgreSQL, MySQL.

Every query starts from the *cleaned* entities (``cleaned``): each source row gets the first
exclusion rule it breaks (or none), so the data-health page counts exactly the rows that the
KPIs leave out. What comes back is per period, per month × segment, per segment, per customer or
per campaign — never the raw order log.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
import sqlalchemy as sa

from data.entities import EXCLUSION_REASONS
from data.filters import UNASSIGNED, Filters, previous_period
from data.source import ResolvedEntity, Source
from data.sqlfuncs import date_of, safe_number

__all__ = [
    "campaign_monthly_margin",
    "campaigns",
    "cleaned",
    "cohort_activity",
    "customer_acquisition",
    "customer_costs",
    "customer_days",
    "customer_names",
    "customer_orders",
    "customer_products",
    "customer_rfm",
    "customer_summary",
    "data_warnings",
    "entity_health",
    "filter_options",
    "monthly_by_segment",
    "order_date_range",
    "order_facts",
    "period_measures",
    "products",
    "prospects",
    "segment_totals",
    "ticket_days",
]

REASON = "_reason"


def _date(value: date) -> sa.BindParameter[date]:
    return sa.bindparam(None, value, type_=sa.Date())


def _number_param(name: str, value: float) -> sa.BindParameter[float]:
    """A setting sent with the statement, as double precision (never a four-byte float)."""
    return sa.bindparam(name, value, type_=sa.Double())


#: the earliest plausible business date, and the largest plausible amount of one row
EARLIEST_DATE = date(1900, 1, 1)
LARGEST_AMOUNT = 1e12


def cleaned(
    entity: ResolvedEntity, today: date, customer: Any = None, part: tuple[str, int, int] | None = None
) -> sa.Subquery:
    """The entity with typed columns and a ``_reason`` column: NULL for usable rows.

    Rules, in order (a row counts under the first it breaks): missing id, missing customer,
    missing date, unparseable date, date before 1900, non-numeric or missing amount, an amount that
    is not finite or beyond ±10¹², date after ``today``, and a repeated id (the first usable row of
    an id is kept; not looked for where the database declares the key unique, ``unique_key``: no id
    can repeat there, and the rule would sort every row by id to find none).

    ``customer``: only the rows that share an id with a row of this customer (an entity with a
    customer reference), cleaned exactly as in the whole table — the repeated-id rule sees every
    row of those ids — without reading the rest past the first filter (one customer's card).

    ``part``: (column, k, n), only the rows whose value of the column falls in part k of n by
    DuckDB's ``hash`` (a missing value in part 0), filtered before the rules: cleaned exactly as in
    the whole table where the column is the key, or the repeated-id rule is not looked for.
    """
    spec, src = entity.spec, entity.selectable
    where: list[sa.ColumnElement[bool]] = []
    if part is not None:
        column, k, n = part  # as numbers in the statement: a bound one keeps the filter above the rules
        share = sa.func.hash(src.c[column]) % sa.literal_column(str(int(n)))
        where.append(sa.func.coalesce(share, sa.literal_column("0")) == sa.literal_column(str(int(k))))
    if customer is not None:
        if not spec.customer_ref:
            raise ValueError(f"The {spec.name} entity has no customer reference.")
        value: sa.BindParameter[Any] = sa.bindparam("only_customer", customer)
        if entity.has(spec.key):
            own = src.alias(f"own_{spec.name}")
            where.append(src.c[spec.key].in_(sa.select(own.c[spec.key]).where(own.c[spec.customer_ref] == value)))
        else:
            where.append(src.c[spec.customer_ref] == value)
    typed: dict[str, sa.ColumnElement[Any]] = {}
    for name in spec.columns:
        col = src.c[name]
        kind = entity.native_kind(name)
        if name in spec.dates and entity.has(name):
            typed[name] = sa.cast(col, sa.Date()) if kind == "date" else date_of(col, entity.date_order)
        elif name in spec.amounts and entity.has(name):
            typed[name] = sa.cast(col, sa.Double()) if kind == "number" else safe_number(col)
        elif name in spec.labels:
            # "HoReCa " and "HoReCa" are one segment; a blank or missing label is n/d
            text = sa.func.trim(sa.cast(col, sa.String()))
            typed[name] = sa.func.coalesce(sa.func.nullif(text, ""), UNASSIGNED)
        else:
            typed[name] = col
    rules: list[tuple[sa.ColumnElement[bool], str]] = []
    has_key = entity.has(spec.key)
    if has_key:
        rules.append((_blank(src.c[spec.key]), "missing_id"))
    if spec.customer_ref:
        rules.append((_blank(src.c[spec.customer_ref]), "missing_customer"))
    if spec.needs_date:
        rules.append((src.c[spec.needs_date].is_(None), "missing_date"))
        rules.append((typed[spec.needs_date].is_(None), "bad_date"))
        rules.append((typed[spec.needs_date] < _date(EARLIEST_DATE), "implausible_date"))
    if spec.needs_amount:
        rules.append((typed[spec.needs_amount].is_(None), "bad_amount"))
        # infinite, NaN or absurd (1e308): no business books such an amount, and sums overflow
        rules.append((sa.not_(typed[spec.needs_amount].between(-LARGEST_AMOUNT, LARGEST_AMOUNT)), "implausible_amount"))
    if spec.needs_date:
        rules.append((typed[spec.needs_date] > _date(today), "future_date"))
    first = sa.case(*rules, else_=sa.null()) if rules else sa.null()
    inner = (
        sa.select(*[typed[c].label(c) for c in spec.columns], first.label("_first"))
        .where(*where)
        .subquery(f"typed_{spec.name}")
    )
    if has_key and not entity.unique_key:  # a key the database declares unique cannot repeat
        usable = sa.case((inner.c._first.is_(None), 0), else_=1)
        order = [inner.c[spec.needs_date]] if spec.needs_date else []
        order += [inner.c[c] for c in spec.columns if c != spec.key and c != spec.needs_date][:2]
        rank = sa.func.row_number().over(partition_by=[inner.c[spec.key], usable], order_by=order)
        reason: sa.ColumnElement[Any] = sa.case(
            (inner.c._first.is_not(None), inner.c._first),
            (rank > 1, "duplicate_id"),
            else_=sa.null(),
        )
    else:
        reason = inner.c._first
    cols = [inner.c[c] for c in spec.columns]
    return sa.select(*cols, reason.label(REASON)).subquery(f"clean_{spec.name}")


def margin_of(source: Source, rows: sa.Subquery) -> sa.ColumnElement[Any]:
    """The margin of cleaned rows with ``revenue`` and ``cost``: revenue minus cost, or revenue times
    the default margin where a row has no cost (DESIGN.md, section 3)."""
    default_margin = _number_param("default_margin", source.settings.business.default_margin)
    return sa.func.coalesce(rows.c.revenue - rows.c.cost, rows.c.revenue * default_margin)


def _blank(col: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    return sa.or_(col.is_(None), sa.cast(col, sa.String) == "")


def _usable(sub: sa.Subquery) -> sa.Subquery:
    cols = [c for c in sub.c if c.key != REASON]
    return sa.select(*cols).where(sub.c[REASON].is_(None)).subquery(f"ok_{sub.name}")


def order_facts(source: Source, filters: Filters, today: date) -> sa.Subquery:
    """Usable orders with margin and the customer's segment, region and channel, filtered by
    segment, region and channel (not by period: each query bounds dates itself)."""
    # Join the cleaned tables first and filter on the reasons afterwards: planners cannot estimate
    # how many rows a reason filter keeps, and an early filter leads PostgreSQL to nested loops.
    orders = cleaned(source.entity("orders"), today)
    margin = margin_of(source, orders)
    dims: list[sa.ColumnElement[Any]]
    if source.available("customers"):
        customers = cleaned(source.entity("customers"), today)
        joined: sa.FromClause = orders.outerjoin(
            customers, sa.and_(orders.c.customer_id == customers.c.customer_id, customers.c[REASON].is_(None))
        )
        dims = [
            sa.func.coalesce(customers.c.segment, UNASSIGNED).label("segment"),
            sa.func.coalesce(customers.c.region, UNASSIGNED).label("region"),
            sa.func.coalesce(customers.c.channel, UNASSIGNED).label("channel"),
        ]
    else:
        joined = orders
        dims = [sa.literal(UNASSIGNED).label(d) for d in ("segment", "region", "channel")]
    stmt = (
        sa.select(
            orders.c.order_id,
            orders.c.customer_id,
            orders.c.order_date,
            orders.c.revenue,
            margin.label("margin"),
            *dims,
        )
        .select_from(joined)
        .where(orders.c[REASON].is_(None))
    )
    facts = stmt.subquery("facts_raw")
    conditions = []
    for column, chosen in (("segment", filters.segments), ("region", filters.regions), ("channel", filters.channels)):
        if chosen:
            conditions.append(facts.c[column].in_(list(chosen)))
    return sa.select(facts).where(*conditions).subquery("facts")


def _customer_dims(sub: sa.Subquery) -> list[sa.ColumnElement[Any]]:
    """A customer's segment, region and channel in a query grouped by customer."""
    return [sa.func.min(sub.c[d]).label(d) for d in ("segment", "region", "channel")]


def _is_purchase(facts: sa.Subquery) -> sa.ColumnElement[bool]:
    """An order is a purchase unless it is a refund (negative revenue); a free order counts."""
    return facts.c.revenue >= 0


@dataclass
class QueryStats:
    """Time spent running queries and moving their rows into pandas, for benchmarks."""

    queries: int = 0
    rows: int = 0
    query_s: float = 0.0
    transfer_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, rows: int, query_s: float, transfer_s: float) -> None:
        with self._lock:
            self.queries += 1
            self.rows += rows
            self.query_s += query_s
            self.transfer_s += transfer_s

    def reset(self) -> None:
        with self._lock:
            self.queries, self.rows, self.query_s, self.transfer_s = 0, 0, 0.0, 0.0


STATS = QueryStats()


def _frame(source: Source, stmt: sa.Select[Any] | sa.Select[tuple[Any, ...]] | Any) -> pd.DataFrame:
    """The result of ``stmt`` as a DataFrame, by the fastest path the driver offers.

    DuckDB hands its result to pandas column by column (``df()``, about 2× faster than fetching
    rows at 100k rows); other drivers fetch rows. Dates come back as datetime64 from DuckDB and as
    ``date`` objects or ISO text elsewhere: callers convert with ``pd.to_datetime`` either way.
    """
    started = time.perf_counter()
    with source.engine.connect() as conn:
        result = conn.execute(stmt)
        executed = time.perf_counter()
        columns = list(result.keys())
        native = getattr(result.cursor, "df", None) if source.dialect == "duckdb" else None
        if native is not None:
            df = native()
            df.columns = columns
        else:
            # plain tuples: pandas probes each SQLAlchemy row for attributes it lacks (seconds per
            # million rows on drivers that hand rows over, such as Spark's)
            df = pd.DataFrame([tuple(row) for row in result.fetchall()], columns=columns)
    for label in _LABELS.intersection(df.columns):
        # a handful of distinct names repeated on every row: as categories, bytes instead of objects
        # (at a million customers the per-day history drops by gigabytes)
        if len(df) > 1_000:
            df[label] = df[label].astype("category")
    STATS.add(len(df), executed - started, time.perf_counter() - executed)
    return df


_LABELS = frozenset({"segment", "region", "channel"})


def _between(col: sa.ColumnElement[Any], start: date, end: date) -> sa.ColumnElement[bool]:
    return sa.and_(col >= _date(start), col <= _date(end))


def _sum_if(cond: sa.ColumnElement[bool], value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, value), else_=0)), 0)


def period_measures(source: Source, filters: Filters, today: date | None = None) -> pd.DataFrame:
    """Base measures of the selected period and of the previous period of equal length.

    Returns two rows (``period`` = "current", "previous") with columns ``start``, ``end``,
    ``revenue``, ``margin``, ``orders`` (purchases: orders that are not refunds), ``active_customers``
    (customers with an order in the period), ``new_customers`` (first order ever in the period)
    and ``repeat_customers`` (active, with at least two purchase days up to the period's end).
    """
    if filters.start is None or filters.end is None:
        raise ValueError("period_measures needs a period: set Filters.start and Filters.end.")
    today = today or date.today()
    cur = (filters.start, filters.end)
    prev = previous_period(*cur)
    f = order_facts(source, filters, today)
    purchase = _is_purchase(f)
    per_customer: list[sa.ColumnElement[Any]] = [
        f.c.customer_id,
        sa.func.min(sa.case((purchase, f.c.order_date))).label("first_date"),
    ]
    for tag, (start, end) in (("cur", cur), ("prev", prev)):
        inside = _between(f.c.order_date, start, end)
        per_customer += [
            _sum_if(inside, f.c.revenue).label(f"revenue_{tag}"),
            _sum_if(inside, f.c.margin).label(f"margin_{tag}"),
            _sum_if(sa.and_(inside, purchase), sa.literal(1)).label(f"orders_{tag}"),
            sa.func.max(sa.case((sa.and_(inside, purchase), 1), else_=0)).label(f"active_{tag}"),
            sa.func.count(
                sa.distinct(sa.case((sa.and_(purchase, f.c.order_date <= _date(end)), f.c.order_date)))
            ).label(f"days_{tag}"),
        ]
    pc = sa.select(*per_customer).where(f.c.order_date <= _date(cur[1])).group_by(f.c.customer_id).subquery("pc")
    totals: list[sa.ColumnElement[Any]] = []
    for tag, (start, end) in (("cur", cur), ("prev", prev)):
        active = pc.c[f"active_{tag}"] == 1
        totals += [
            sa.func.coalesce(sa.func.sum(pc.c[f"revenue_{tag}"]), 0).label(f"revenue_{tag}"),
            sa.func.coalesce(sa.func.sum(pc.c[f"margin_{tag}"]), 0).label(f"margin_{tag}"),
            sa.func.coalesce(sa.func.sum(pc.c[f"orders_{tag}"]), 0).label(f"orders_{tag}"),
            sa.func.coalesce(sa.func.sum(pc.c[f"active_{tag}"]), 0).label(f"active_{tag}"),
            _sum_if(_between(pc.c.first_date, start, end), sa.literal(1)).label(f"new_{tag}"),
            _sum_if(sa.and_(active, pc.c[f"days_{tag}"] >= 2), sa.literal(1)).label(f"repeat_{tag}"),
        ]
    row = _frame(source, sa.select(*totals)).iloc[0]
    records = []
    for tag, label, (start, end) in (("cur", "current", cur), ("prev", "previous", prev)):
        records.append(
            {
                "period": label,
                "start": start,
                "end": end,
                "revenue": float(row[f"revenue_{tag}"]),
                "margin": float(row[f"margin_{tag}"]),
                "orders": int(row[f"orders_{tag}"]),
                "active_customers": int(row[f"active_{tag}"]),
                "new_customers": int(row[f"new_{tag}"]),
                "repeat_customers": int(row[f"repeat_{tag}"]),
            }
        )
    return pd.DataFrame.from_records(records)


def _period_where(f: sa.Subquery, filters: Filters) -> list[sa.ColumnElement[bool]]:
    conds = []
    if filters.start is not None:
        conds.append(f.c.order_date >= _date(filters.start))
    if filters.end is not None:
        conds.append(f.c.order_date <= _date(filters.end))
    return conds


def monthly_by_segment(source: Source, filters: Filters, today: date | None = None) -> pd.DataFrame:
    """Columns ``month`` (first day, as a Timestamp), ``segment``, ``revenue``, ``margin``,
    ``orders`` and ``customers`` (distinct buyers), one row per month and segment with orders."""
    f = order_facts(source, filters, today or date.today())
    year = sa.extract("year", f.c.order_date)
    month = sa.extract("month", f.c.order_date)
    stmt = (
        sa.select(
            year.label("year"),
            month.label("month_no"),
            f.c.segment,
            sa.func.sum(f.c.revenue).label("revenue"),
            sa.func.sum(f.c.margin).label("margin"),
            _sum_if(_is_purchase(f), sa.literal(1)).label("orders"),
            sa.func.count(sa.distinct(f.c.customer_id)).label("customers"),
        )
        .where(*_period_where(f, filters))
        .group_by(year, month, f.c.segment)
        .order_by(year, month, f.c.segment)
    )
    df = _frame(source, stmt)
    months = (
        pd.to_datetime({"year": df["year"].astype(int), "month": df["month_no"].astype(int), "day": 1})
        if len(df)
        else pd.Series([], dtype="datetime64[ns]")
    )
    out = pd.DataFrame(
        {
            "month": months,
            "segment": df["segment"].astype(str),
            "revenue": df["revenue"].astype(float),
            "margin": df["margin"].astype(float),
            "orders": df["orders"].astype(int),
            "customers": df["customers"].astype(int),
        }
    )
    return out.reset_index(drop=True)


def segment_totals(source: Source, filters: Filters, today: date | None = None) -> pd.DataFrame:
    """Columns ``segment``, ``revenue``, ``margin``, ``orders``, ``customers`` for the period,
    largest revenue first."""
    f = order_facts(source, filters, today or date.today())
    stmt = (
        sa.select(
            f.c.segment,
            sa.func.sum(f.c.revenue).label("revenue"),
            sa.func.sum(f.c.margin).label("margin"),
            _sum_if(_is_purchase(f), sa.literal(1)).label("orders"),
            sa.func.count(sa.distinct(f.c.customer_id)).label("customers"),
        )
        .where(*_period_where(f, filters))
        .group_by(f.c.segment)
    )
    df = _frame(source, stmt)
    df = df.astype({"segment": str, "revenue": float, "margin": float, "orders": int, "customers": int})
    return df.sort_values(["revenue", "segment"], ascending=[False, True]).reset_index(drop=True)


def customer_summary(source: Source, filters: Filters, as_of: date | None = None) -> pd.DataFrame:
    """One row per customer with a purchase up to ``as_of`` (default: the period's end).

    Columns: ``customer_id``, ``segment``, ``region``, ``channel``, ``first_purchase``,
    ``last_purchase``, ``orders`` (purchases, refunds excluded), ``purchase_days`` (distinct days with a
    purchase), ``revenue`` and ``margin`` (refunds included) — all up to ``as_of``.
    """
    as_of = as_of or filters.end or date.today()
    f = order_facts(source, filters, as_of)
    purchase = _is_purchase(f)
    stmt = (
        sa.select(
            f.c.customer_id,
            *_customer_dims(f),
            sa.func.min(sa.case((purchase, f.c.order_date))).label("first_purchase"),
            sa.func.max(sa.case((purchase, f.c.order_date))).label("last_purchase"),
            _sum_if(purchase, sa.literal(1)).label("orders"),
            sa.func.count(sa.distinct(sa.case((purchase, f.c.order_date)))).label("purchase_days"),
            sa.func.sum(f.c.revenue).label("revenue"),
            sa.func.sum(f.c.margin).label("margin"),
        )
        .where(f.c.order_date <= _date(as_of))
        .group_by(f.c.customer_id)
        .having(_sum_if(purchase, sa.literal(1)) > 0)
        .order_by(f.c.customer_id)
    )
    df = _frame(source, stmt)
    for col in ("first_purchase", "last_purchase"):
        df[col] = pd.to_datetime(df[col])
    return df.astype({"orders": int, "purchase_days": int, "revenue": float, "margin": float})


def _attribution(source: Source, today: date) -> sa.Subquery | None:
    """Which campaign acquired each customer: ``customers.campaign_id`` where set, else the campaign
    of the customer's earliest converted lead. None without customers or leads to tell."""
    first_lead = None
    # A reference column left unmapped is a NULL of unknown type: never join or coalesce on it.
    if source.available("leads") and source.entity("leads").has("customer_id"):
        leads = _usable(cleaned(source.entity("leads"), today))
        rank = sa.func.row_number().over(
            partition_by=leads.c.customer_id, order_by=[leads.c.created_at, leads.c.lead_id]
        )
        ranked = (
            sa.select(leads.c.customer_id, leads.c.campaign_id, rank.label("rank"))
            .where(leads.c.customer_id.is_not(None))
            .subquery("ranked_leads")
        )
        first_lead = (
            sa.select(ranked.c.customer_id, ranked.c.campaign_id).where(ranked.c.rank == 1).subquery("first_lead")
        )
    if not source.available("customers"):
        return first_lead
    customers = _usable(cleaned(source.entity("customers"), today))
    own = source.entity("customers").has("campaign_id")
    if first_lead is None and not own:
        return None
    campaign: sa.ColumnElement[Any]
    base: sa.FromClause
    if first_lead is None:
        campaign, base = customers.c.campaign_id, customers
    else:
        base = customers.outerjoin(first_lead, first_lead.c.customer_id == customers.c.customer_id)
        campaign = first_lead.c.campaign_id
        if own:
            campaign = sa.func.coalesce(customers.c.campaign_id, campaign)
    inner = sa.select(customers.c.customer_id, campaign.label("campaign_id")).select_from(base).subquery("attributed")
    return sa.select(inner).where(inner.c.campaign_id.is_not(None)).subquery("attribution")


def customer_acquisition(source: Source, today: date | None = None) -> pd.DataFrame:
    """``customer_id`` → ``campaign_id`` of the campaign that acquired them: ``customers.campaign_id``
    where set, else the campaign of the customer's earliest converted lead."""
    attribution = _attribution(source, today or date.today())
    if attribution is None:
        return pd.DataFrame(columns=["customer_id", "campaign_id"])
    return _frame(source, sa.select(attribution.c.customer_id, attribution.c.campaign_id))


def campaigns(source: Source, today: date | None = None) -> pd.DataFrame:
    """The usable campaigns: ``campaign_id``, ``name``, ``channel``, ``spend``, ``start_date``,
    ``leads`` and ``converted_leads`` (0 without a leads entity)."""
    today = today or date.today()
    camp = _usable(cleaned(source.entity("campaigns"), today))
    cols: list[sa.ColumnElement[Any]] = [
        camp.c.campaign_id,
        camp.c.name,
        sa.func.coalesce(camp.c.channel, UNASSIGNED).label("channel"),
        camp.c.spend,
        camp.c.start_date,
    ]
    if source.available("leads"):
        leads = _usable(cleaned(source.entity("leads"), today))
        per_lead = (
            sa.select(
                leads.c.campaign_id,
                sa.func.count().label("leads"),
                sa.func.count(leads.c.customer_id).label("converted_leads"),
            )
            .group_by(leads.c.campaign_id)
            .subquery("lead_counts")
        )
        stmt = sa.select(
            *cols,
            sa.func.coalesce(per_lead.c.leads, 0).label("leads"),
            sa.func.coalesce(per_lead.c.converted_leads, 0).label("converted_leads"),
        ).select_from(camp.outerjoin(per_lead, per_lead.c.campaign_id == camp.c.campaign_id))
    else:
        stmt = sa.select(*cols, sa.literal(0).label("leads"), sa.literal(0).label("converted_leads"))
    df = _frame(source, stmt.order_by(camp.c.campaign_id))
    df["start_date"] = pd.to_datetime(df["start_date"])
    return df.astype({"spend": float, "leads": int, "converted_leads": int})


def campaign_monthly_margin(source: Source, filters: Filters, as_of: date, today: date | None = None) -> pd.DataFrame:
    """Margin of each campaign's acquired customers (within the segment/region/channel filters) by
    month up to ``as_of``: ``campaign_id``, ``month`` (first day), ``margin``."""
    today = today or date.today()
    attribution = _attribution(source, today)
    empty = pd.DataFrame({"campaign_id": [], "month": pd.to_datetime([]), "margin": []})
    if attribution is None:
        return empty
    f = order_facts(source, filters, today)
    year, month = sa.extract("year", f.c.order_date), sa.extract("month", f.c.order_date)
    stmt = (
        sa.select(
            attribution.c.campaign_id,
            year.label("year"),
            month.label("month_no"),
            sa.func.sum(f.c.margin).label("margin"),
        )
        .select_from(f.join(attribution, attribution.c.customer_id == f.c.customer_id))
        .where(f.c.order_date <= _date(as_of))
        .group_by(attribution.c.campaign_id, year, month)
        .order_by(attribution.c.campaign_id, year, month)
    )
    df = _frame(source, stmt)
    if df.empty:
        return empty
    df["month"] = pd.to_datetime({"year": df["year"].astype(int), "month": df["month_no"].astype(int), "day": 1})
    return df[["campaign_id", "month", "margin"]].astype({"margin": float})


def filter_options(source: Source, today: date | None = None) -> dict[str, list[str]]:
    """The values the segment, region and channel filters can take (sorted; ``n/d`` last)."""
    today = today or date.today()
    out: dict[str, list[str]] = {"segment": [], "region": [], "channel": []}
    if not source.available("customers"):
        return out
    customers = _usable(cleaned(source.entity("customers"), today))
    with source.engine.connect() as conn:
        for column in out:
            value = sa.func.coalesce(customers.c[column], UNASSIGNED)
            rows = conn.execute(sa.select(value).distinct()).scalars().all()
            values = sorted({str(v) for v in rows} - {UNASSIGNED})
            out[column] = values + ([UNASSIGNED] if UNASSIGNED in {str(v) for v in rows} else [])
    return out


def order_date_range(source: Source, today: date | None = None) -> tuple[date | None, date | None]:
    """First and last date of the usable orders (``None, None`` without any)."""
    orders = _usable(cleaned(source.entity("orders"), today or date.today()))
    stmt = sa.select(sa.func.min(orders.c.order_date), sa.func.max(orders.c.order_date))
    with source.engine.connect() as conn:
        first, last = conn.execute(stmt).one()
    return _as_date(first), _as_date(last)


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    if hasattr(value, "date") and callable(value.date):
        return value.date()  # type: ignore[no-any-return,unused-ignore]
    return value  # type: ignore[no-any-return,unused-ignore]


def entity_health(source: Source, name: str, today: date | None = None) -> dict[str, Any]:
    """Rows read, used and excluded by reason, and the date coverage of one entity.

    Returns ``{"rows_read", "rows_used", "excluded": {reason: count}, "first_date", "last_date"}``;
    reasons with no rows are left out of ``excluded``.
    """
    today = today or date.today()
    entity = source.entity(name)
    sub = cleaned(entity, today)
    stmt = sa.select(sub.c[REASON], sa.func.count().label("n")).group_by(sub.c[REASON])
    with source.engine.connect() as conn:
        counts = {reason: int(n) for reason, n in conn.execute(stmt).all()}
        first = last = None
        date_col = entity.spec.needs_date or (entity.spec.dates[0] if entity.spec.dates else None)
        if date_col and entity.has(date_col):
            usable = sa.select(sub.c[date_col]).where(sub.c[REASON].is_(None)).subquery("u")
            first, last = conn.execute(
                sa.select(sa.func.min(usable.c[date_col]), sa.func.max(usable.c[date_col]))
            ).one()
    used = counts.pop(None, 0)
    excluded = {r: counts[r] for r in EXCLUSION_REASONS if r in counts}
    return {
        "rows_read": used + sum(excluded.values()),
        "rows_used": used,
        "excluded": excluded,
        "first_date": _as_date(first),
        "last_date": _as_date(last),
    }


def data_warnings(source: Source, today: date | None = None) -> dict[str, float]:
    """Usable rows that are kept in the figures but deserve a look, counted in the database.

    ``orders_unknown_customer`` / ``revenue_unknown_customer``: orders whose customer is not in the
    customers table (their figures count under segment ``n/d``); ``refunds`` / ``refund_amount``:
    orders with negative revenue (they lower revenue and margin, and are not purchases);
    ``customers_without_orders``: customers with no usable order (prospects or data to check).
    Keys that need the customers table are left out without it.
    """
    today = today or date.today()
    orders = _usable(cleaned(source.entity("orders"), today))
    refund = orders.c.revenue < 0
    out: dict[str, float] = {}
    with source.engine.connect() as conn:
        n, amount = conn.execute(sa.select(_sum_if(refund, sa.literal(1)), _sum_if(refund, -orders.c.revenue))).one()
        out["refunds"], out["refund_amount"] = int(n or 0), float(amount or 0.0)
        if source.available("customers"):
            customers = _usable(cleaned(source.entity("customers"), today))
            unknown = ~sa.exists().where(customers.c.customer_id == orders.c.customer_id)
            n, revenue = conn.execute(sa.select(sa.func.count(), sa.func.sum(orders.c.revenue)).where(unknown)).one()
            out["orders_unknown_customer"], out["revenue_unknown_customer"] = int(n or 0), float(revenue or 0.0)
            idle = ~sa.exists().where(orders.c.customer_id == customers.c.customer_id)
            out["customers_without_orders"] = int(
                conn.execute(sa.select(sa.func.count()).select_from(customers).where(idle)).scalar() or 0
            )
    return out


def customer_rfm(source: Source, filters: Filters, as_of: date, value: str = "margin") -> pd.DataFrame:
    """Per customer, the purchase days up to ``as_of``: the input of the CLV model.

    A purchase day is a day with at least one purchase (not a refund); its value is the sum of
    those orders' ``value`` ("margin" or "revenue"). Columns: ``customer_id``, ``segment``,
    ``region``, ``channel``, ``first_purchase``, ``last_purchase``, ``previous_purchase`` (the
    purchase day before the last; NaT for one-time buyers), ``purchase_days``, ``total_value`` (all
    purchase days) and ``first_value`` (the first purchase day).
    """
    if value not in ("margin", "revenue"):
        raise ValueError("value must be 'margin' or 'revenue'.")
    f = order_facts(source, filters, date.today())
    daily = (
        sa.select(
            f.c.customer_id,
            f.c.order_date,
            *_customer_dims(f),
            sa.func.sum(f.c[value]).label("day_value"),
        )
        .where(_is_purchase(f), f.c.order_date <= _date(as_of))
        .group_by(f.c.customer_id, f.c.order_date)
        .subquery("daily")
    )
    first_date = sa.func.min(daily.c.order_date).over(partition_by=daily.c.customer_id)
    from_last = sa.func.row_number().over(partition_by=daily.c.customer_id, order_by=daily.c.order_date.desc())
    ranked = sa.select(daily, first_date.label("first_date"), from_last.label("from_last")).subquery("ranked")
    stmt = (
        sa.select(
            ranked.c.customer_id,
            *_customer_dims(ranked),
            sa.func.min(ranked.c.order_date).label("first_purchase"),
            sa.func.max(ranked.c.order_date).label("last_purchase"),
            sa.func.max(sa.case((ranked.c.from_last == 2, ranked.c.order_date))).label("previous_purchase"),
            sa.func.count().label("purchase_days"),
            sa.func.sum(ranked.c.day_value).label("total_value"),
            _sum_if(ranked.c.order_date == ranked.c.first_date, ranked.c.day_value).label("first_value"),
        )
        .group_by(ranked.c.customer_id)
        .order_by(ranked.c.customer_id)
    )
    df = _frame(source, stmt)
    for col in ("first_purchase", "last_purchase", "previous_purchase"):
        df[col] = pd.to_datetime(df[col])
    return df.astype({"purchase_days": int, "total_value": float, "first_value": float})


def customer_days(source: Source, as_of: date, today: date | None = None) -> pd.DataFrame:
    """Every customer's order days up to ``as_of``: the history from which ``kpi.customer_value.
    inputs_at`` rebuilds the CLV inputs at any earlier date with one read.

    Columns: ``customer_id``, ``segment``, ``region``, ``channel``, ``order_date``, ``purchases``
    (orders that are not refunds), ``purchase_value`` (their margin) and ``day_margin`` (refunds
    included). One row per customer and day with a usable order.
    """
    f = order_facts(source, Filters(), today or date.today())
    purchase = _is_purchase(f)
    stmt = (
        sa.select(
            f.c.customer_id,
            *_customer_dims(f),
            f.c.order_date,
            _sum_if(purchase, sa.literal(1)).label("purchases"),
            _sum_if(purchase, f.c.margin).label("purchase_value"),
            sa.func.sum(f.c.margin).label("day_margin"),
        )
        .where(f.c.order_date <= _date(as_of))
        .group_by(f.c.customer_id, f.c.order_date)
    )
    df = _frame(source, stmt)
    df["order_date"] = pd.to_datetime(df["order_date"])
    return df.astype({"purchases": int, "purchase_value": float, "day_margin": float})


def ticket_days(source: Source, as_of: date, today: date | None = None) -> pd.DataFrame:
    """Tickets per customer and day up to ``as_of``: ``customer_id``, ``opened_at``, ``tickets``,
    ``service_cost`` (each ticket at its cost or the configured cost per ticket)."""
    columns = ["customer_id", "opened_at", "tickets", "service_cost"]
    today = today or date.today()
    if not source.available("tickets"):
        return pd.DataFrame(columns=columns)
    tickets = _usable(cleaned(source.entity("tickets"), today))
    per_ticket = _number_param("cost_per_ticket", source.settings.business.cost_per_ticket)
    stmt = (
        sa.select(
            tickets.c.customer_id,
            tickets.c.opened_at,
            sa.func.count().label("tickets"),
            sa.func.sum(sa.func.coalesce(tickets.c.cost, per_ticket)).label("service_cost"),
        )
        .where(tickets.c.opened_at <= _date(as_of))
        .group_by(tickets.c.customer_id, tickets.c.opened_at)
    )
    df = _frame(source, stmt)
    df["opened_at"] = pd.to_datetime(df["opened_at"])
    return df.astype({"tickets": int, "service_cost": float})


def customer_costs(source: Source, as_of: date, today: date | None = None) -> pd.DataFrame:
    """Per customer: ``service_cost`` (tickets opened up to ``as_of``, each at its cost or the
    configured cost per ticket), ``tickets``, ``campaign_id`` and ``acquisition_cost`` (the CAC of
    their acquisition campaign, as ``customer_acquisition`` attributes it: its spend over all the
    customers it acquired; 0 where unknown).
    Customers with neither tickets nor a campaign are left out (both costs are 0)."""
    today = today or date.today()
    frames = []
    if source.available("tickets"):
        tickets = _usable(cleaned(source.entity("tickets"), today))
        per_ticket = _number_param("cost_per_ticket", source.settings.business.cost_per_ticket)
        stmt = (
            sa.select(
                tickets.c.customer_id,
                sa.func.count().label("tickets"),
                sa.func.sum(sa.func.coalesce(tickets.c.cost, per_ticket)).label("service_cost"),
            )
            .where(tickets.c.opened_at <= _date(as_of))
            .group_by(tickets.c.customer_id)
        )
        frames.append(_frame(source, stmt).set_index("customer_id"))
    attribution = _attribution(source, today)
    if attribution is not None and source.available("campaigns"):
        camp = _usable(cleaned(source.entity("campaigns"), today))
        acquired = (
            sa.select(attribution.c.campaign_id, sa.func.count().label("n"))
            .group_by(attribution.c.campaign_id)
            .subquery("acquired")
        )
        cac = camp.c.spend / sa.func.nullif(acquired.c.n, 0)
        stmt = sa.select(
            attribution.c.customer_id,
            attribution.c.campaign_id,
            sa.func.coalesce(cac, 0).label("acquisition_cost"),
        ).select_from(
            attribution.join(camp, camp.c.campaign_id == attribution.c.campaign_id).join(
                acquired, acquired.c.campaign_id == camp.c.campaign_id
            )
        )
        frames.append(_frame(source, stmt).set_index("customer_id"))
    if not frames:
        return pd.DataFrame(columns=["customer_id", "tickets", "service_cost", "campaign_id", "acquisition_cost"])
    out = pd.concat(frames, axis=1).reset_index()
    for col, default in (("tickets", 0), ("service_cost", 0.0), ("acquisition_cost", 0.0)):
        out[col] = out[col].fillna(default) if col in out else default
    if "campaign_id" not in out:
        out["campaign_id"] = None
    return out.astype({"tickets": int, "service_cost": float, "acquisition_cost": float})


def customer_names(source: Source, customer_ids: list[Any], today: date | None = None) -> dict[Any, str]:
    """Names of the given customers (where the customers entity has a name)."""
    if not customer_ids or not source.available("customers") or not source.entity("customers").has("name"):
        return {}
    customers = _usable(cleaned(source.entity("customers"), today or date.today()))
    stmt = sa.select(customers.c.customer_id, customers.c.name).where(customers.c.customer_id.in_(list(customer_ids)))
    with source.engine.connect() as conn:
        return {cid: str(name) for cid, name in conn.execute(stmt).all() if name is not None}


def customer_orders(source: Source, customer_id: Any, as_of: date, today: date | None = None) -> pd.DataFrame:
    """One customer's usable orders up to ``as_of``: ``order_id``, ``order_date``, ``revenue``,
    ``margin`` (a customer card, not a bulk read)."""
    orders = cleaned(source.entity("orders"), today or date.today(), customer=customer_id)
    stmt = (
        sa.select(orders.c.order_id, orders.c.order_date, orders.c.revenue, margin_of(source, orders).label("margin"))
        .where(
            orders.c[REASON].is_(None),
            orders.c.customer_id == sa.bindparam("cid", customer_id),
            orders.c.order_date <= _date(as_of),
        )
        .order_by(orders.c.order_date, orders.c.order_id)
    )
    df = _frame(source, stmt)
    df["order_date"] = pd.to_datetime(df["order_date"])
    return df.astype({"revenue": float, "margin": float})


def cohort_activity(source: Source, filters: Filters, as_of: date, today: date | None = None) -> pd.DataFrame:
    """Per acquisition month (the month of a customer's first purchase) and calendar month up to
    ``as_of``: ``cohort`` and ``month`` (first days), ``customers`` (distinct buyers that month) and
    ``margin`` (their margin that month, refunds included); within the segment/region/channel filters."""
    f = order_facts(source, filters, today or date.today())
    purchase = _is_purchase(f)
    first = sa.func.min(sa.case((purchase, f.c.order_date))).over(partition_by=f.c.customer_id)
    rows = (
        sa.select(f.c.customer_id, f.c.order_date, f.c.margin, purchase.label("purchase"), first.label("first_date"))
        .where(f.c.order_date <= _date(as_of))
        .subquery("cohort_rows")
    )
    cy, cm = sa.extract("year", rows.c.first_date), sa.extract("month", rows.c.first_date)
    y, m = sa.extract("year", rows.c.order_date), sa.extract("month", rows.c.order_date)
    stmt = (
        sa.select(
            cy.label("cy"),
            cm.label("cm"),
            y.label("y"),
            m.label("m"),
            sa.func.count(sa.distinct(sa.case((rows.c.purchase, rows.c.customer_id)))).label("customers"),
            sa.func.sum(rows.c.margin).label("margin"),
        )
        .where(rows.c.first_date.is_not(None))
        .group_by(cy, cm, y, m)
    )
    df = _frame(source, stmt)
    if df.empty:
        return pd.DataFrame({"cohort": pd.to_datetime([]), "month": pd.to_datetime([]), "customers": [], "margin": []})
    df["cohort"] = pd.to_datetime({"year": df["cy"].astype(int), "month": df["cm"].astype(int), "day": 1})
    df["month"] = pd.to_datetime({"year": df["y"].astype(int), "month": df["m"].astype(int), "day": 1})
    return df[["cohort", "month", "customers", "margin"]].astype({"customers": int, "margin": float})


def prospects(source: Source, filters: Filters, as_of: date, today: date | None = None) -> int:
    """Customers on record with no purchase up to ``as_of`` (within the filters), plus leads not
    converted: people we know who have not bought yet."""
    today = today or date.today()
    count = 0
    with source.engine.connect() as conn:
        if source.available("customers"):
            customers = _usable(cleaned(source.entity("customers"), today))
            f = order_facts(source, Filters(), today)
            buyers = sa.select(f.c.customer_id).where(_is_purchase(f), f.c.order_date <= _date(as_of)).distinct()
            conds = [customers.c.customer_id.not_in(buyers)]
            for column, chosen in (
                ("segment", filters.segments),
                ("region", filters.regions),
                ("channel", filters.channels),
            ):
                if chosen:
                    conds.append(sa.func.coalesce(customers.c[column], UNASSIGNED).in_(list(chosen)))
            count += int(conn.execute(sa.select(sa.func.count()).select_from(customers).where(*conds)).scalar() or 0)
        if source.available("leads") and not (filters.segments or filters.regions or filters.channels):
            leads = _usable(cleaned(source.entity("leads"), today))
            stmt = sa.select(sa.func.count()).where(leads.c.customer_id.is_(None), leads.c.created_at <= _date(as_of))
            count += int(conn.execute(stmt.select_from(leads)).scalar() or 0)
    return count


def customer_products(source: Source, as_of: date, today: date | None = None) -> pd.DataFrame:
    """What each customer has bought up to ``as_of``, by product: ``customer_id``, ``product_id``,
    ``name``, ``category``, ``ladder_step``, ``lines`` and ``margin`` (the lines' revenue minus
    cost, else revenue × default margin). Needs the order_lines and products entities."""
    today = today or date.today()
    lines = _usable(cleaned(source.entity("order_lines"), today))
    products = _usable(cleaned(source.entity("products"), today))
    orders = _usable(cleaned(source.entity("orders"), today))
    margin = margin_of(source, lines)
    stmt = (
        sa.select(
            orders.c.customer_id,
            products.c.product_id,
            sa.func.min(products.c.name).label("name"),
            sa.func.min(sa.func.coalesce(products.c.category, products.c.name)).label("category"),
            sa.func.min(products.c.ladder_step).label("ladder_step"),
            sa.func.count().label("lines"),
            sa.func.sum(margin).label("margin"),
        )
        .select_from(
            lines.join(orders, orders.c.order_id == lines.c.order_id).join(
                products, products.c.product_id == lines.c.product_id
            )
        )
        .where(orders.c.order_date <= _date(as_of), orders.c.revenue >= 0)
        .group_by(orders.c.customer_id, products.c.product_id)
        .order_by(orders.c.customer_id, products.c.product_id)
    )
    df = _frame(source, stmt)
    return df.astype({"lines": int, "margin": float, "ladder_step": float})


def products(source: Source, today: date | None = None) -> pd.DataFrame:
    """The usable products: ``product_id``, ``name``, ``category`` (the name where missing) and
    ``ladder_step`` (NaN where the product is not on the owner's ladder)."""
    table = _usable(cleaned(source.entity("products"), today or date.today()))
    stmt = sa.select(
        table.c.product_id,
        table.c.name,
        sa.func.coalesce(table.c.category, table.c.name).label("category"),
        table.c.ladder_step,
    ).order_by(table.c.product_id)
    return _frame(source, stmt).astype({"ladder_step": float})

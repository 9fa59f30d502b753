"""Lifecycle stages and cohorts: hand-built customers, own rhythm, transitions, cohort matrix."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data import queries
from data.filters import Filters
from data.settings import ConfigError, load_settings
from data.source import Source
from kpi.clv import BGNBD
from kpi.cohorts import cohort_matrices
from kpi.customer_value import select_customers
from kpi.lifecycle import STAGES, StageRules, _top_share, assign_stages, rhythm_p_alive, stage_counts, transitions

AS_OF = pd.Timestamp("2026-06-30")


def _customer(cid: int, dates: list[str], clv: float = 100.0, segment: str = "A") -> dict[str, object]:
    days = sorted(pd.to_datetime(dates))
    return {
        "customer_id": cid,
        "segment": segment,
        "first_purchase": days[0],
        "last_purchase": days[-1],
        "previous_purchase": days[-2] if len(days) > 1 else pd.NaT,
        "purchase_days": len(days),
        "total_clv": clv,
    }


def _every(start: str, days: int, n: int) -> list[str]:
    first = pd.Timestamp(start)
    return [str((first + pd.Timedelta(days=days * i)).date()) for i in range(n)]


def _table(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_each_stage_by_hand_without_a_model() -> None:
    rows = [
        _customer(1, ["2026-05-10"]),  # new: first purchase 51 days ago
        # reactivated: monthly for a year, a 10-month silence, bought again 20 days ago
        _customer(2, [*_every("2024-06-01", 30, 12), "2026-06-10"]),
        _customer(3, _every("2025-07-01", 30, 12), clv=900.0),  # monthly, last 30 days ago: alive, top CLV → loyal
        _customer(4, _every("2025-07-02", 30, 12), clv=50.0),  # the same rhythm, low CLV → active
        _customer(5, _every("2025-01-01", 30, 12)),  # monthly, silent ~5 months → lapsed
        _customer(6, _every("2025-07-23", 30, 10)),  # monthly, silent 72 days (2.4 gaps) → at risk
    ]
    stages = assign_stages(_table(rows), AS_OF, StageRules(loyal_top_share=0.2)).set_index("customer_id")["stage"]
    assert stages.to_dict() == {1: "new", 2: "reactivated", 3: "loyal", 4: "active", 5: "lapsed", 6: "at_risk"}


def test_own_rhythm_decides() -> None:
    """Silent for 60 days: fine for a customer who buys every 90 days, alarming for a weekly one."""
    quarterly = _customer(1, _every("2024-01-01", 90, 9))  # last purchase 2026-01-01... set below
    weekly = _customer(2, _every("2025-01-01", 7, 40))
    as_of_quarterly = pd.Timestamp(quarterly["last_purchase"]) + pd.Timedelta(days=60)
    as_of_weekly = pd.Timestamp(weekly["last_purchase"]) + pd.Timedelta(days=60)
    rules = StageRules()
    q = assign_stages(_table([quarterly]), as_of_quarterly, rules).iloc[0]
    w = assign_stages(_table([weekly]), as_of_weekly, rules).iloc[0]
    assert q["stage"] in ("active", "loyal")
    assert w["stage"] in ("at_risk", "lapsed")
    # The same with the CDNOW-fitted BG/NBD model judging (time unit: weeks).
    model = BGNBD(r=0.2426, alpha=4.4136, a=0.7929, b=2.4259, log_likelihood=0, customers=0, repeat_customers=0)
    q = assign_stages(_table([quarterly]), as_of_quarterly, rules, model=model).iloc[0]
    w = assign_stages(_table([weekly]), as_of_weekly, rules, model=model).iloc[0]
    assert q["p_alive"] > w["p_alive"]
    assert q["stage"] in ("active", "loyal") and w["stage"] in ("at_risk", "lapsed")


def test_one_time_buyers_are_judged_by_their_segment_rhythm() -> None:
    # Segment A buys every 30 days; two one-time buyers, 20 and 200 days ago (after the 90-day "new" window
    # for the second).
    rows = [_customer(1, _every("2025-06-01", 30, 12)), _customer(2, ["2026-06-10"]), _customer(3, ["2025-12-12"])]
    stages = assign_stages(_table(rows), AS_OF).set_index("customer_id")["stage"]
    assert stages[2] == "new"
    assert stages[3] == "lapsed"
    # BG/NBD would call customer 3 alive (P = 1 without repeat purchases); the rhythm does not.
    model = BGNBD(r=0.5, alpha=5.0, a=0.5, b=3.0, log_likelihood=0, customers=0, repeat_customers=0)
    assert assign_stages(_table(rows), AS_OF, model=model).set_index("customer_id")["stage"][3] == "lapsed"


def test_rhythm_p_alive_bounds() -> None:
    alive = rhythm_p_alive(np.array([4.0, 4.0, 4.0]), np.array([120.0, 120.0, 120.0]), np.array([130.0, 180.0, 300.0]))
    assert alive[0] == 1.0  # 10 days of silence, 30-day gaps
    assert alive[1] == pytest.approx(2 / 3)  # 60 days = 2 gaps: between 1.5 and 3 → (3-2)/1.5
    assert alive[2] == 0.0


def test_transitions_on_known_moves() -> None:
    before = pd.DataFrame({"customer_id": [1, 2, 3], "stage": ["active", "active", "at_risk"]})
    after = pd.DataFrame({"customer_id": [1, 2, 3, 4], "stage": ["active", "lapsed", "reactivated", "new"]})
    moves = transitions(before, after).set_index(["source", "target"])["customers"].to_dict()
    assert moves == {
        ("active", "active"): 1,
        ("active", "lapsed"): 1,
        ("at_risk", "reactivated"): 1,
        ("not_yet", "new"): 1,
    }
    counts = stage_counts(after)
    assert list(counts.index) == list(STAGES)
    assert counts["new"] == 1 and counts["loyal"] == 0


def test_cohort_matrix_by_hand() -> None:
    activity = pd.DataFrame(
        {
            "cohort": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-01", "2026-02-01", "2026-02-01"]),
            "month": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01", "2026-02-01", "2026-03-01"]),
            "customers": [10, 4, 5, 20, 2],
            "margin": [1000.0, 300.0, 500.0, 1000.0, 100.0],
        }
    )
    retention, margin, sizes = cohort_matrices(activity)
    jan, feb = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01")
    assert sizes.to_dict() == {jan: 10.0, feb: 20.0}
    assert retention.loc[jan].tolist() == pytest.approx([1.0, 0.4, 0.5])
    assert retention.loc[feb, 0] == 1.0 and retention.loc[feb, 1] == pytest.approx(0.1)
    assert math.isnan(retention.loc[feb, 2])  # not lived yet
    assert margin.loc[jan].tolist() == pytest.approx([100.0, 130.0, 180.0])  # cumulative per acquired customer
    assert margin.loc[feb, 1] == pytest.approx(55.0)


def test_rules_come_from_the_settings_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.toml"
    path.write_text("[lifecycle]\nnew_days = 60\nactive_min = 0.8\n")
    rules = load_settings(path, env={}, secrets_path="/nonexistent").lifecycle
    assert (rules.new_days, rules.active_min, rules.lapsed_below) == (60, 0.8, 0.3)
    path.write_text("[lifecycle]\nnuovi = 60\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={}, secrets_path="/nonexistent")
    assert info.value.key == "lifecycle.nuovi"
    path.write_text("[lifecycle]\nactive_min = 0.2\n")
    with pytest.raises(ConfigError, match="lapsed_below ≤ active_min"):
        load_settings(path, env={}, secrets_path="/nonexistent")


def test_cohorts_from_sql_match_pandas(tiny_source: Source) -> None:
    from tests.fixtures import usable_orders

    got = queries.cohort_activity(tiny_source, Filters(), date(2024, 12, 31), date(2025, 1, 15))
    o = usable_orders()
    o["cohort"] = o.groupby("customer_id")["order_date"].transform("min").dt.to_period("M").dt.to_timestamp()
    o["month"] = o["order_date"].dt.to_period("M").dt.to_timestamp()
    want = (
        o.groupby(["cohort", "month"]).agg(customers=("customer_id", "nunique"), margin=("margin", "sum")).reset_index()
    )
    got = got.sort_values(["cohort", "month"]).reset_index(drop=True)
    assert got["customers"].tolist() == want["customers"].tolist()
    assert got["margin"].tolist() == pytest.approx(want["margin"].tolist())


def test_segment_medians_are_the_group_by_medians() -> None:
    """The per-segment median of the gaps, a pass per segment, is pandas' group-by median (NaN
    ignored, rows without a segment on the fallback) — with few and with many segments."""
    from kpi.lifecycle import _segment_medians

    rng = np.random.default_rng(3)
    for n_segments in (4, 200):
        n = 5_000
        values = np.where(rng.random(n) < 0.3, np.nan, rng.exponential(30, n))
        segments = rng.integers(0, n_segments, n).astype(float)
        segments[rng.random(n) < 0.05] = np.nan
        values[segments == 1] = np.nan  # a segment with no repeat buyer: the fallback
        want = pd.Series(values).groupby(segments).transform("median").fillna(-1.0).to_numpy()
        assert np.array_equal(_segment_medians(values, segments, -1.0), want)
        # the facts' segment codes (-1: none) are their own groups, not hashed again: the same
        codes = np.where(np.isnan(segments), -1, segments).astype(np.int16)
        assert np.array_equal(_segment_medians(values, codes, -1.0), want)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 2)),  # segment (None: no segment)
            st.one_of(st.just(float("nan")), st.sampled_from([0.0, 1.0, 2.5, 2.5, 7.0]), st.floats(-1e6, 1e6)),
        ),
        max_size=80,
    ),
    share=st.sampled_from([0.0, 0.05, 0.1, 0.2, 0.25, 1 / 3, 0.5, 1.0]),
)
def test_the_loyal_top_is_each_segments_percentile_rank(rows: list[tuple[int | None, float]], share: float) -> None:
    """The top share of each segment by lifetime value is exactly pandas' percentile rank, highest
    first, ties at their average rank, NaN and customers without a segment in no top: ties at the
    edge, a share below one customer, everyone."""
    segments = np.array([np.nan if s is None else float(s) for s, _ in rows])
    values = np.array([v for _, v in rows], dtype=float)
    rank = pd.Series(values, dtype=float).groupby(segments).rank(pct=True, ascending=False).to_numpy()
    assert np.array_equal(_top_share(values, segments, share), rank <= share)
    codes = np.where(np.isnan(segments), -1, segments).astype(np.int64)
    assert np.array_equal(_top_share(values, codes, share), rank <= share)


def test_the_lifecycle_pages_standing_and_moves_are_of_the_chosen_customers() -> None:
    """Counts, value at risk, moves and the at-risk list for one segment, by hand."""
    from data.filters import Filters
    from service.lifecycle import moves, standing

    now = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "segment": ["A", "A", "A", "B", "A"],
            "region": "Nord",
            "channel": "Web",
            "stage": ["at_risk", "at_risk", "active", "at_risk", "new"],
            "p_alive": [0.4, 0.5, 0.9, 0.3, 1.0],
            "total_clv": [1000.0, -50.0, 300.0, 800.0, 10.0],
            "last_purchase": pd.to_datetime(["2026-01-05"] * 5),
        }
    )
    before = now.iloc[:4].assign(stage=["active", "at_risk", "active", "active"], p_alive=[0.9, 0.6, 0.8, 0.9])
    chosen = Filters(segments=("A",))
    got = standing(now, before, chosen)
    assert got.counts.to_dict() == {"new": 1, "reactivated": 0, "loyal": 0, "active": 1, "at_risk": 2, "lapsed": 0}
    assert got.at_risk_now == 1000.0  # customer 2 is worth less than nothing: counts as nothing
    assert got.at_risk_before == 0.0  # before, customer 2 at risk was worth nothing either
    moved = moves(now, before, chosen)
    flows = {(r.source, r.target): r.customers for r in moved.moves.itertuples()}
    assert flows == {
        ("active", "at_risk"): 1,
        ("at_risk", "at_risk"): 1,
        ("active", "active"): 1,
        ("not_yet", "new"): 1,
    }
    # at stake: CLV (at least 0) × the fall of P(alive): 1000 × (0.9 − 0.4) = 500; customer 2: 0
    assert moved.at_risk["customer_id"].tolist() == [1, 2]
    assert moved.at_risk["at_stake"].tolist() == pytest.approx([500.0, 0.0])
    assert moved.at_risk["p_before"].tolist() == pytest.approx([0.9, 0.6])


_LABELS = ["A", "B", "C"]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from([*_LABELS, None]),
            st.sampled_from([*_LABELS, None]),
            st.sampled_from(list(STAGES)),
            st.floats(-100, 1000, allow_nan=False),
        ),
        min_size=0,
        max_size=40,
    ),
    segments=st.lists(st.sampled_from([*_LABELS, "Z"]), max_size=2, unique=True),
    regions=st.lists(st.sampled_from(_LABELS), max_size=2, unique=True),
    categories=st.booleans(),
)
def test_counting_through_a_mask_is_counting_the_chosen_rows(
    rows: list[tuple[str | None, str | None, str, float]], segments: list[str], regions: list[str], categories: bool
) -> None:
    """``chosen_mask`` picks what a row-by-row test picks (missing values never chosen), with the
    dimensions and stages as categories (an earlier date's table) or as texts (the CLV table);
    counts and the value at risk through the mask are those of the chosen rows."""
    from kpi.customer_value import chosen_mask, select_customers
    from kpi.lifecycle import at_risk_value

    table = pd.DataFrame(
        {
            "customer_id": range(len(rows)),
            "segment": [r[0] for r in rows],
            "region": [r[1] for r in rows],
            "channel": "Web",
            "stage": [r[2] for r in rows],
            "total_clv": [r[3] for r in rows],
        }
    )
    if categories:
        table = table.astype(
            {
                "segment": pd.CategoricalDtype(_LABELS),
                "region": pd.CategoricalDtype(_LABELS),
                "stage": pd.CategoricalDtype(list(STAGES)),
            }
        )
    else:
        table = table.astype({"segment": "str", "region": "str", "stage": "str"})
    picked = tuple(segments), tuple(regions)
    want = [i for i, r in enumerate(rows) if (not segments or r[0] in segments) and (not regions or r[1] in regions)]
    mask = chosen_mask(table, *picked)
    assert (mask is None) == (not segments and not regions)
    chosen = select_customers(table, *picked)
    assert chosen["customer_id"].tolist() == want
    pd.testing.assert_series_equal(stage_counts(table, mask), stage_counts(chosen))
    assert stage_counts(table, mask).sum() == len(want)
    assert at_risk_value(table, mask) == at_risk_value(chosen)
    assert at_risk_value(table, mask) == pytest.approx(
        sum(max(rows[i][3], 0.0) for i in want if rows[i][2] == "at_risk"), abs=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(
    now_rows=st.lists(
        st.tuples(st.integers(0, 30), st.sampled_from(_LABELS), st.sampled_from(list(STAGES)), st.floats(0, 1)),
        max_size=30,
        unique_by=lambda r: r[0],
    ),
    before_rows=st.lists(
        st.tuples(
            st.integers(0, 30),
            st.sampled_from([*_LABELS, None]),
            st.sampled_from(list(STAGES)),
            st.one_of(st.floats(0, 1), st.just(float("nan"))),
        ),
        max_size=30,
        unique_by=lambda r: r[0],
    ),
    segments=st.lists(st.sampled_from(_LABELS), max_size=2, unique=True),
)
def test_moves_matched_by_position_are_the_moves_joined_by_customer(
    now_rows: list[tuple[int, str, str, float]],
    before_rows: list[tuple[int, str | None, str, float]],
    segments: list[str],
) -> None:
    """The lifecycle page's moves and at-risk list, from tables matched once by position, are what
    the join of the chosen customers gives (customers new since, or outside the filters before,
    come from "not yet"; a missing P(alive) before counts as 1)."""
    from service.lifecycle import _moves_joined, moves

    now = pd.DataFrame(
        {
            "customer_id": [r[0] for r in now_rows],
            "segment": [r[1] for r in now_rows],
            "region": "Nord",
            "channel": "Web",
            "stage": pd.array([r[2] for r in now_rows], dtype="str"),
            "p_alive": [r[3] for r in now_rows],
            "total_clv": [100.0 * r[3] for r in now_rows],
            "last_purchase": pd.Timestamp("2026-01-05"),
        }
    )
    before = pd.DataFrame(
        {
            "customer_id": [r[0] for r in before_rows],
            "segment": pd.Categorical([r[1] for r in before_rows], categories=_LABELS),
            "region": "Nord",
            "channel": "Web",
            "stage": pd.Categorical([r[2] for r in before_rows], categories=list(STAGES)),
            "p_alive": [r[3] for r in before_rows],
            "total_clv": 1.0,
        }
    )
    filters = Filters(segments=tuple(segments))
    got, want = moves(now, before, filters), _moves_joined(now, before, filters)
    pd.testing.assert_frame_equal(got.moves, want.moves, check_dtype=False)
    pd.testing.assert_frame_equal(got.at_risk, want.at_risk, check_dtype=False)
    assert got.moves["customers"].sum() == len(select_customers(now, tuple(segments)))


def test_the_lifecycle_pages_dates() -> None:
    from service.lifecycle import month_ends, moves_from

    # from where the period starts (the previous period's end) to its end
    assert month_ends(date(2026, 1, 15), date(2026, 4, 10)) == (
        date(2026, 1, 14),
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 10),
    )
    assert month_ends(date(2026, 1, 1), date(2026, 3, 31)) == (
        date(2025, 12, 31),
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
    )
    assert month_ends(date(2026, 4, 2), date(2026, 4, 10)) == (date(2026, 4, 1), date(2026, 4, 10))
    year = month_ends(date(2025, 11, 1), date(2026, 10, 31))  # the last twelve months: 13 dates
    assert len(year) == 13 and year[0] == date(2025, 10, 31) and year[-1] == date(2026, 10, 31)
    longer = month_ends(date(2024, 1, 1), date(2026, 11, 23))  # longer than a year: the last twelve
    assert len(longer) == 12 and longer[0] == date(2025, 12, 31) and longer[-1] == date(2026, 11, 23)
    assert moves_from(date(2026, 5, 31), 3) == date(2026, 2, 28)
    assert moves_from(date(2026, 11, 23), 12) == date(2025, 11, 23)


def _stages_judging_everyone(
    x: np.ndarray,
    t_x: np.ndarray,
    age: np.ndarray,
    t_prev: np.ndarray,
    segments: np.ndarray,
    total_clv: np.ndarray,
    rules: StageRules,
    model: BGNBD | None,
) -> np.ndarray:
    """The stage rules as written in the module's docstring, every customer judged at both moments."""

    def alive(x_: np.ndarray, t_x_: np.ndarray, age_: np.ndarray) -> np.ndarray:
        by_rhythm = rhythm_p_alive(x_, t_x_, age_, segments, rules)
        if model is None:
            return by_rhythm
        return np.where(x_ > 0, model.p_alive(x_, t_x_ / 7.0, age_ / 7.0), by_rhythm)

    p_alive = alive(x, t_x, age)
    was_lapsed = (x > 0) & (alive(np.maximum(x - 1, 0), t_prev, t_x) < rules.lapsed_below)
    top = _top_share(total_clv, segments, rules.loyal_top_share)
    recent_last = (age - t_x) < rules.new_days
    return np.select(
        [
            age < rules.new_days,
            recent_last & was_lapsed,
            (p_alive >= rules.active_min) & top,
            p_alive >= rules.active_min,
            p_alive >= rules.lapsed_below,
        ],
        [0, 1, 2, 3, 4],
        default=5,
    )


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 80), with_model=st.booleans())
def test_was_lapsed_is_judged_where_it_decides_the_stage(seed: int, size: int, with_model: bool) -> None:
    """``stage_numbers`` judges "lapsed just before the last purchase" only for the repeat buyers
    who bought lately and not first — the only ones whose stage it decides — and gives the stages
    of judging everyone, with the model and by rhythm alone (customers drawn at random: about one
    in twelve is reactivated)."""
    from kpi.lifecycle import stage_numbers

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 13, size).astype(float)  # repeat purchases
    t_x = np.where(x > 0, rng.integers(0, 901, size), 0.0)  # days from the first purchase to the last
    age = t_x + rng.integers(0, 401, size)  # … to the date
    t_prev = np.where(x > 0, np.minimum(rng.integers(0, 901, size), t_x), 0.0)  # … to the one before the last
    segments, total_clv = rng.integers(-1, 3, size), rng.uniform(-50, 5000, size)
    rules = StageRules()
    model = BGNBD(r=0.8, alpha=9.0, a=0.6, b=2.5, log_likelihood=0, customers=0, repeat_customers=0)
    chosen = model if with_model else None
    stage, _ = stage_numbers(
        x=x,
        t_x=t_x,
        age=age,
        t_prev=t_prev,
        segments=segments,
        total_clv=total_clv,
        rules=rules,
        model=chosen,
        unit_days=7.0,
    )
    want = _stages_judging_everyone(x, t_x, age, t_prev, segments, total_clv, rules, chosen)
    assert stage.tolist() == want.tolist()


_TALLY_LABELS = {"segment": ["A", "B", "C"], "region": ["Nord", "Sud"], "channel": ["web", "agenti", "negozio"]}


@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from([*_TALLY_LABELS["segment"], None]),
            st.sampled_from([*_TALLY_LABELS["region"], None]),
            st.sampled_from([*_TALLY_LABELS["channel"], None]),
            st.sampled_from([*STAGES, None]),
        ),
        max_size=60,
    ),
    segments=st.lists(st.sampled_from(_TALLY_LABELS["segment"]), max_size=2, unique=True),
    regions=st.lists(st.sampled_from(_TALLY_LABELS["region"]), max_size=1, unique=True),
    channels=st.lists(st.sampled_from(_TALLY_LABELS["channel"]), max_size=2, unique=True),
    categories=st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_a_stage_tally_counts_as_the_table_under_any_filters(
    rows: list[tuple[str | None, ...]],
    segments: list[str],
    regions: list[str],
    channels: list[str],
    categories: bool,
) -> None:
    """The lifecycle page's stages over time are counted per segment, region, channel and stage;
    any choice of filters then gives, on that tally, the customers per stage the whole table gives
    (missing labels and stages included), whether the columns are categories or texts."""
    from kpi.customer_value import chosen_mask
    from kpi.lifecycle import stage_tally

    table = pd.DataFrame(rows, columns=["segment", "region", "channel", "stage"], dtype=object)
    if categories:
        for name, labels in _TALLY_LABELS.items():
            table[name] = pd.Categorical(table[name], categories=labels)
        table["stage"] = pd.Categorical(table["stage"], categories=list(STAGES))
    table["customer_id"] = range(len(table))
    tally = stage_tally(table)
    assert len(tally) <= len(table) and int(tally["customers"].sum()) == len(table)
    chosen = (tuple(segments), tuple(regions), tuple(channels))
    expected = stage_counts(table, chosen_mask(table, *chosen))
    got = stage_counts(tally, chosen_mask(tally, *chosen))
    assert got.tolist() == expected.tolist()
    assert list(got.index) == list(STAGES)

"""Upsell candidates: the ladder, affinity against a hand computation, ranking, reasons, no ladder."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from data.source import Source
from kpi.upsell import UpsellRules, affinity_rules, ladder_funnel, upsell_candidates
from service import compute
from service.compute import stages_at, upsell_tables

PRODUCTS = pd.DataFrame(
    {
        "product_id": ["COF", "MAC", "SRV", "CUP"],
        "name": ["Caffè", "Macchina", "Assistenza", "Tazzine"],
        "category": ["Caffè", "Macchine", "Servizi", "Accessori"],
        "ladder_step": [1.0, 2.0, 3.0, np.nan],
    }
)


def _owned(rows: list[tuple[int, str]]) -> pd.DataFrame:
    catalogue = PRODUCTS.set_index("product_id")
    return pd.DataFrame(
        [
            {
                "customer_id": c,
                "product_id": p,
                "name": catalogue.loc[p, "name"],
                "category": catalogue.loc[p, "category"],
                "ladder_step": catalogue.loc[p, "ladder_step"],
                "lines": 1,
                "margin": {"COF": 10.0, "MAC": 200.0, "SRV": 80.0, "CUP": 20.0}[p],
            }
            for c, p in rows
        ]
    )


# Ten bars: all buy coffee; 1-5 also a machine; 1-2 also the service; 1-4 cups (cups go with machines).
OWNED = _owned(
    [(c, "COF") for c in range(1, 11)]
    + [(c, "MAC") for c in range(1, 6)]
    + [(c, "SRV") for c in (1, 2)]
    + [(c, "CUP") for c in (1, 2, 3, 4)]
)
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": list(range(1, 11)),
        "segment": ["Bar"] * 10,
        "stage": ["loyal", "active", "active", "active", "lapsed", "active", "active", "at_risk", "new", "lapsed"],
        "p_alive": [0.9, 0.8, 0.8, 0.8, 0.1, 0.9, 0.7, 0.5, 1.0, 0.2],
    }
)


def test_ladder_candidates_by_hand() -> None:
    got = upsell_candidates(CUSTOMERS, OWNED, PRODUCTS, UpsellRules(min_customers=1))
    ladder = got[got["source"] == "ladder"].set_index("customer_id")
    # Customers at step 1 (coffee only) are offered the machine: 5 of the 10 who reached step 1 went on.
    assert ladder.loc[6, "offer_product_id"] == "MAC"
    assert ladder.loc[6, "adoption"] == pytest.approx(0.5)
    assert ladder.loc[6, "avg_margin"] == pytest.approx(200.0)
    assert ladder.loc[6, "expected_value"] == pytest.approx(0.9 * 0.5 * 200.0)
    # At step 2 (machine, no service): the service, taken by 2 of the 5 with a machine.
    assert ladder.loc[3, "offer_product_id"] == "SRV"
    assert ladder.loc[3, "adoption"] == pytest.approx(0.4)
    # At the top step there is nothing more on the ladder.
    assert 1 not in ladder.index
    # Only live customers: lapsed and at-risk customers are never proposed.
    assert not set(got["customer_id"]) & {5, 8, 10}
    assert set(got["stage"]) <= {"new", "reactivated", "loyal", "active"}


def test_affinity_lift_by_hand() -> None:
    rules = affinity_rules(CUSTOMERS, OWNED, min_support=0.1).set_index(["antecedent", "consequent"])
    # Machines → cups: 4 of the 5 machine owners have cups; 4 of 10 customers have cups.
    rule = rules.loc[("Macchine", "Accessori")]
    assert rule["support"] == pytest.approx(0.4)
    assert rule["confidence"] == pytest.approx(0.8)
    assert rule["lift"] == pytest.approx(0.8 / 0.4)
    # Coffee → anything has lift 1 at most (everybody has coffee): no rule.
    assert not any(a == "Caffè" for a, _ in rules.index)


def test_ranking_order() -> None:
    got = upsell_candidates(CUSTOMERS, OWNED, PRODUCTS, UpsellRules(min_customers=1, min_support=0.1))
    assert got["expected_value"].is_monotonic_decreasing
    assert list(got["customer_id"][:2]) == [9, 6]  # p_alive 1.0 and 0.9, both offered the machine
    # Every live machine owner has cups already: no cup offer.
    assert got[got["offer_product_id"] == "CUP"].empty


def test_affinity_offers_what_goes_with_what_they_have() -> None:
    owned = pd.concat([OWNED, _owned([(6, "MAC")])], ignore_index=True)  # customer 6 buys a machine, no cups
    got = upsell_candidates(CUSTOMERS, owned, PRODUCTS, UpsellRules(min_customers=1, min_support=0.1))
    row = got[(got["customer_id"] == 6) & (got["offer_product_id"] == "CUP")].iloc[0]
    assert row["source"] == "affinity"
    assert row["because"] == "Macchine"
    assert row["adoption"] == pytest.approx(4 / 6)  # 4 of the 6 machine owners have cups
    assert row["expected_value"] == pytest.approx(0.9 * 4 / 6 * 20.0)


def test_no_ladder_and_bad_input() -> None:
    flat = PRODUCTS.assign(ladder_step=np.nan)
    owned = OWNED.assign(ladder_step=np.nan)
    got = upsell_candidates(CUSTOMERS, owned, flat, UpsellRules(min_customers=1, min_support=0.1))
    assert set(got["source"]) <= {"affinity"}
    assert ladder_funnel(CUSTOMERS, owned, flat).empty
    with pytest.raises(ValueError, match="lacks the columns p_alive"):
        upsell_candidates(CUSTOMERS.drop(columns=["p_alive"]), OWNED, PRODUCTS)


def test_ladder_funnel_by_hand() -> None:
    funnel = ladder_funnel(CUSTOMERS, OWNED, PRODUCTS).set_index("step")
    assert funnel.loc[1, "share"] == 1.0 and funnel.loc[2, "share"] == 0.5 and funnel.loc[3, "share"] == 0.2


def test_demo_has_candidates_in_every_segment(demo_source: Source) -> None:
    as_of = date(2026, 10, 31)
    stages = stages_at(demo_source, as_of, date.today())
    got, _funnel = upsell_tables(demo_source, as_of, date.today(), stages)
    top = got.head(20).merge(stages[["customer_id", "total_clv"]], on="customer_id")
    assert set(top["stage"]) <= {"loyal", "active", "new", "reactivated"}
    assert top["p_alive"].min() > 0.7
    assert top["total_clv"].median() > stages["total_clv"].median()


def _book(
    products: list[tuple[str, str | None, str | None]], holdings: dict[int, list[str]]
) -> tuple[pd.DataFrame, ...]:
    """Customers of one segment, all active, holding the products given (id, name, category)."""
    catalogue = pd.DataFrame(products, columns=["product_id", "name", "category"]).assign(ladder_step=np.nan)
    by_id = catalogue.set_index("product_id")
    owned = pd.DataFrame(
        [
            {
                "customer_id": c,
                "product_id": p,
                "name": by_id.loc[p, "name"],
                "category": by_id.loc[p, "category"],
                "ladder_step": np.nan,
                "lines": 1,
                "margin": 10.0,
            }
            for c, held in holdings.items()
            for p in held
        ]
    )
    customers = pd.DataFrame({"customer_id": list(holdings), "segment": "S", "stage": "active", "p_alive": 1.0})
    return customers, owned, catalogue


def test_a_product_without_a_name_is_never_offered() -> None:
    """X1 has no name: the two who hold A1 and X1 would make it the offer for customer 3."""
    customers, owned, catalogue = _book(
        [("A1", "Alfa", "A"), ("X1", None, "X")], {1: ["A1", "X1"], 2: ["A1", "X1"], 3: ["A1"], 4: []}
    )
    customers = customers[customers["customer_id"] != 4]
    got = upsell_candidates(customers, owned, catalogue, UpsellRules(min_support=0.0))
    assert "X1" not in set(got["offer_product_id"])


def test_a_product_without_a_category_leaves_the_others_alone() -> None:
    """N1 has no category (nor name): customer 2 still gets C1, as customers 1's basket says."""
    customers, owned, catalogue = _book(
        [("A1", "Alfa", "A"), ("B1", "Beta", "B"), ("C1", "Gamma", "C"), ("N1", None, None)],
        {1: ["A1", "C1"], 2: ["A1"], 9: ["N1"], 3: ["B1"], 4: ["B1"]},
    )
    got = upsell_candidates(customers, owned, catalogue, UpsellRules(min_support=0.0))
    mine = got[got["customer_id"] == 2]
    assert list(mine["offer_product_id"]) == ["C1"]
    assert mine["adoption"].iloc[0] == pytest.approx(0.5) and mine["lift"].iloc[0] == pytest.approx(2.0)


def test_equal_buyers_offer_the_lower_product_id() -> None:
    """P2 and P5 are each bought by three customers: customer 5, who holds only K0, is offered P2
    (K0 → K1: confidence 4/5 against 4/7 of everyone holding K1), every run."""
    customers, owned, catalogue = _book(
        [("P0", "Zero", "K0"), ("P2", "Due", "K1"), ("P5", "Cinque", "K1"), ("Q", "Qu", "K2")],
        {1: ["P0", "P2"], 2: ["P0", "P5"], 3: ["P0", "P2", "P5"], 4: ["P0", "P5", "P2"], 5: ["P0"], 6: ["Q"], 7: ["Q"]},
    )
    got = upsell_candidates(customers, owned, catalogue, UpsellRules(min_support=0.0))
    assert list(got.loc[got["customer_id"] == 5, "offer_product_id"]) == ["P2"]


def test_the_opportunities_pages_view_follows_its_choices() -> None:
    """The offers within the filters and the page's choices: the minimum, advocates first (their
    offers, in their order, then the others), the stages and offers chosen; counted once."""
    from data.filters import Filters
    from service.upsell import UpsellChoice, shown_offers, upsell_options, upsell_view

    candidates = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 1],
            "segment": ["A", "A", "A", "B", "A", "A"],
            "region": "Nord",
            "channel": "Web",
            "stage": ["active", "loyal", "at_risk", "active", "active", "active"],
            "offer_name": ["X", "Y", "X", "X", "Y", "Z"],
            "expected_value": [90.0, 80.0, 70.0, 60.0, 50.0, 5.0],
        }
    )
    segment_a = Filters(segments=("A",))
    assert upsell_options(candidates, segment_a) == (["loyal", "active", "at_risk"], ["X", "Y", "Z"])
    choice = UpsellChoice(minimum=10.0, advocates_first=True)
    got = shown_offers(candidates, segment_a, choice, pd.Index([3, 5]))
    assert got["customer_id"].tolist() == [3, 5, 1, 2]  # advocates first, each group by value
    view = upsell_view(candidates, segment_a, choice, pd.Index([3, 5]))
    assert (view.offers, view.customers, view.value) == (4, 4, 290.0)
    assert view.by_offer.to_dict("list") == {"offer_name": ["X", "Y"], "expected_value": [160.0, 130.0]}
    narrow = UpsellChoice(stages=("active",), offers=("Y",), advocates_first=False)
    assert shown_offers(candidates, segment_a, narrow, pd.Index([3, 5]))["customer_id"].tolist() == [5]


def _funnel_by_group_by(customers: pd.DataFrame, owned: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """The ladder funnel by pandas' group-by, as the definition reads."""
    steps = sorted(products["ladder_step"].dropna().unique())
    reached = owned.dropna(subset=["ladder_step"]).groupby("customer_id")["ladder_step"].max()
    table = customers[["customer_id", "segment"]].assign(step=customers["customer_id"].map(reached).fillna(0))
    rows = []
    for segment, part in table.groupby("segment"):
        for step in steps:
            n = int((part["step"] >= step).sum())
            rows.append({"segment": segment, "step": int(step), "customers": n, "share": n / len(part)})
    return pd.DataFrame(rows)


def test_the_ladder_funnel_equals_the_group_by(demo_source: Source) -> None:
    """On the demo (every segment, customers on no step, customers not in the holdings, one without a
    segment, one listed twice): the same rows as the group-by, to the last digit."""
    as_of = date(2026, 10, 31)
    facts = compute.facts_for(demo_source, date.today())
    stages = stages_at(demo_source, as_of, date.today())
    owned = compute.owned_products(demo_source, facts, as_of)
    catalogue = compute.holdings_for(demo_source, facts).catalogue
    customers = stages[["customer_id", "segment"]].copy()
    customers.loc[customers.index[3], "segment"] = None
    newcomer = pd.DataFrame({"customer_id": [10**9], "segment": [customers["segment"].iloc[0]]})  # no product yet
    customers = pd.concat([customers, newcomer], ignore_index=True)
    for table in (customers, pd.concat([customers, customers.iloc[[5]]], ignore_index=True)):
        got = ladder_funnel(table, owned, catalogue)
        want = _funnel_by_group_by(table, owned, catalogue)
        assert len(got) == len(want) > 0
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
        assert got["share"].tolist() == want["share"].tolist()


def test_ids_given_as_numbers_or_as_objects_give_the_same_candidates(demo_source: Source) -> None:
    """Ids are matched as whole numbers where they all are (``_ids``): the same candidates whether
    the tables hold them as Python objects or as numbers, and an owned row of an id nobody has (a
    text here) is left out as before."""
    as_of = date(2026, 10, 31)
    facts = compute.facts_for(demo_source, date.today())
    stages = stages_at(demo_source, as_of, date.today())
    owned = compute.owned_products(demo_source, facts, as_of)
    catalogue = compute.holdings_for(demo_source, facts).catalogue
    assert stages["customer_id"].dtype == object
    owned = owned.astype({"customer_id": object})
    as_objects = upsell_candidates(stages, owned, catalogue)
    numbers = stages.assign(customer_id=stages["customer_id"].astype(np.int64))
    as_numbers = upsell_candidates(numbers, owned.assign(customer_id=owned["customer_id"].astype(np.int64)), catalogue)
    stranger = pd.concat([owned, owned.iloc[[0]].assign(customer_id="C-unknown")], ignore_index=True)
    with_a_stranger = upsell_candidates(stages, stranger, catalogue)
    assert len(as_objects) > 100
    for other in (as_numbers, with_a_stranger):
        pd.testing.assert_frame_equal(other.astype({"customer_id": object}), as_objects)


def test_the_carried_columns_are_the_merge_by_id(demo_source: Source) -> None:
    """Region and channel are carried onto each candidate by the customer's position: the very table
    a merge by customer id gives, categories kept, and with no candidate the same empty columns."""
    as_of = date(2026, 10, 31)
    facts = compute.facts_for(demo_source, date.today())
    stages = stages_at(demo_source, as_of, date.today())
    owned = compute.owned_products(demo_source, facts, as_of)
    catalogue = compute.holdings_for(demo_source, facts).catalogue
    assert isinstance(stages["region"].dtype, pd.CategoricalDtype)
    for customers in (stages, stages.assign(stage="lost")):  # the second: nobody live, no candidate
        got = upsell_candidates(customers, owned, catalogue, carry=("region", "channel"))
        merged = upsell_candidates(customers, owned, catalogue).merge(
            customers[["customer_id", "region", "channel"]], on="customer_id", how="left"
        )
        assert list(got.columns) == list(merged.columns)
        assert list(got.dtypes) == list(merged.dtypes)
        pd.testing.assert_frame_equal(got, merged)
    assert len(got) == 0 and len(upsell_candidates(stages, owned, catalogue)) > 100


def test_segments_held_as_categories_are_ordered_by_their_text() -> None:
    """A segment column of categories in any order: the funnel and the rules list the segments by
    their text, as for plain text."""
    customers = pd.concat(
        [CUSTOMERS, CUSTOMERS.assign(customer_id=CUSTOMERS["customer_id"] + 10, segment="Alberghi")], ignore_index=True
    )
    owned = pd.concat([OWNED, OWNED.assign(customer_id=OWNED["customer_id"] + 10)], ignore_index=True)
    as_categories = customers.assign(
        segment=pd.Categorical(customers["segment"], categories=["Bar", "Alberghi"])  # not in text order
    )
    for call, by_segment in (
        (lambda c: ladder_funnel(c, owned, PRODUCTS), True),
        (lambda c: affinity_rules(c, owned, 0.02), True),
        (lambda c: upsell_candidates(c, owned, PRODUCTS), False),  # by expected value
    ):
        want, got = call(customers), call(as_categories)
        assert len(want) > 0 and (want["segment"].iloc[0] == "Alberghi" or not by_segment)
        pd.testing.assert_frame_equal(got.astype({"segment": str}), want.astype({"segment": str}))

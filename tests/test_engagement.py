"""Customer engagement value (``kpi.engagement``) against hand computations on a small company.

Seven customers; as of 31/12/2024; the acquisition cost a referral saves is € 40; the settings'
defaults otherwise (window 12 months, p̄ = 0.5, social posts convert 0.1 % of the people reached,
feedback € 5, a new-product trial € 10, a data consent € 0)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from data.demo import write_demo, write_frames
from data.settings import EngagementParams, load_settings
from data.source import Source
from kpi.engagement import engagement_table, referral_programme, segment_engagement, value_matrix
from service import compute
from tests.conftest import ENGINES, _url_for

AS_OF = date(2024, 12, 31)
CAC = 40.0


def _customers() -> pd.DataFrame:
    rows = [
        ("A", "HoReCa", 1000.0, "2024-01-10"),
        ("B", "HoReCa", 200.0, "2024-03-01"),
        ("C", "HoReCa", 500.0, "2024-04-01"),
        ("D", "Uffici", 100.0, "2024-01-05"),
        ("E", "Uffici", 50.0, "2023-12-01"),
        ("F", "Uffici", 300.0, "2024-02-01"),
        ("G", "Uffici", 600.0, "2024-05-10"),
    ]
    out = pd.DataFrame(rows, columns=["customer_id", "segment", "total_clv", "first_purchase"])
    out["first_purchase"] = pd.to_datetime(out["first_purchase"])
    return out.assign(region="Nord", channel="Web")


def _referrals() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "referrer_id": ["A", "A", "E", "E"],
            "referred_id": ["B", "C", "D", "F"],
            "referred_at": pd.to_datetime(["2024-02-20", "2024-03-15", "2024-06-01", "2024-01-15"]),
            "reward_referrer": [20.0, 20.0, 20.0, None],
            "reward_referred": [10.0, 10.0, None, None],
            "incremental": ["true", None, "true", "false"],
        }
    )


def _engagements() -> pd.DataFrame:
    rows = [
        # customer, day, kind, reach, influenced, status, value, idea
        ("A", "2024-05-01", "review", None, "G", None, None, None),
        ("B", "2024-05-05", "social_share", 50, "G", None, None, None),
        ("B", "2024-05-06", "social_share", 80, "G", None, None, None),  # the same new customer again
        ("C", "2024-06-01", "review", None, "B", None, None, None),  # B came by referral: not twice
        ("D", "2024-07-01", "social_post", 1000, None, None, None, None),  # not tracked: an estimate
        ("A", "2024-03-01", "idea", None, None, "implemented", 800, "X"),
        ("E", "2024-03-02", "idea", None, None, "Implemented", 600, "X"),  # one idea, two proposers
        ("C", "2024-03-03", "idea", None, None, "submitted", 1000, None),  # not implemented: 0
        ("D", "2024-04-01", "idea", None, None, "implemented", 300, None),
        ("F", "2024-04-02", "feedback", None, None, None, None, None),
        ("F", "2024-04-03", "feedback", None, None, None, None, None),
        ("C", "2024-04-04", "new_product_trial", None, None, None, None, None),
        ("B", "2024-04-05", "data_consent", None, None, None, None, None),
    ]
    out = pd.DataFrame(
        rows,
        columns=["customer_id", "occurred_at", "kind", "reach", "influenced_customer_id", "status", "value", "idea_id"],
    )
    out["occurred_at"] = pd.to_datetime(out["occurred_at"])
    return out


@pytest.fixture
def result() -> tuple[pd.DataFrame, pd.DataFrame]:
    return engagement_table(_customers(), _referrals(), _engagements(), EngagementParams(), AS_OF, CAC)


def test_referral_value_by_hand(result: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    table, detail = result
    crv = table.set_index("customer_id")["crv"]
    # A brought B (would not have come otherwise: 200 + 40 − 30) and C (unknown: 0.5 × 500 + 40 − 30)
    assert crv["A"] == pytest.approx(210 + 260)
    # E: D was already a customer before the referral (− the € 20 paid); F would have come anyway (+40)
    assert crv["E"] == pytest.approx(-20 + 40)
    assert crv.drop(["A", "E"]).eq(0).all()  # nobody else referred; a referred CLV never moves to B or C
    counts = table.set_index("customer_id")[["referrals", "referred_customers"]]
    assert counts.loc["A"].tolist() == [2, 2] and counts.loc["E"].tolist() == [2, 1]
    assert detail.set_index("referred_id")["converted"].to_dict() == {"B": True, "C": True, "D": False, "F": True}


def test_referrals_outside_the_window_bring_nothing() -> None:
    referrals = _referrals().assign(
        referred_at=pd.to_datetime(["2023-01-01", "2024-03-15", "2024-06-01", "2024-01-15"])
    )
    table, _ = engagement_table(_customers(), referrals, None, EngagementParams(), AS_OF, CAC)
    # B first bought 14 months after the referral: the € 30 of rewards only
    assert table.set_index("customer_id")["crv"]["A"] == pytest.approx(-30 + 260)
    longer = EngagementParams(referral_window_months=18)
    table, _ = engagement_table(_customers(), referrals, None, longer, AS_OF, CAC)
    assert table.set_index("customer_id")["crv"]["A"] == pytest.approx(210 + 260)


def test_influence_value_by_hand(result: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    table = result[0].set_index("customer_id")
    # G (CLV 600) came through A's review and B's shares: 300 each, whatever the number of shares
    assert table.loc["A", "civ"] == pytest.approx(300) and table.loc["B", "civ"] == pytest.approx(300)
    assert table.loc["A", "influenced_customers"] == pytest.approx(0.5)
    assert table.loc["C", "civ"] == 0  # B is a referral of A: counted once, there
    # D's post reached 1,000 people × 0.1 % × the average CLV of a new customer (those who first
    # bought in 2024: (1000 + 200 + 500 + 100 + 300 + 600) / 6 = 450), kept apart as an estimate
    assert table.loc["D", "civ_estimated"] == pytest.approx(1000 * 0.001 * 450)
    assert table["civ_estimated"].drop("D").eq(0).all()


def test_knowledge_value_by_hand(result: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ckv = result[0].set_index("customer_id")["ckv"]
    # idea X, worth 800 at most, proposed by A and E; D's own idea 300; two feedbacks of F × € 5;
    # C's trial € 10 (C's idea was not implemented); B's consent € 0
    assert ckv.to_dict() == pytest.approx({"A": 400, "B": 0, "C": 10, "D": 300, "E": 400, "F": 10, "G": 0})


def test_cev_sums_its_parts_and_the_matrix_splits_at_the_medians(result: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    table = result[0].set_index("customer_id")
    expected = {"A": 2170, "B": 500, "C": 510, "D": 850, "E": 470, "F": 310, "G": 600}
    assert table["cev"].to_dict() == pytest.approx(expected)
    assert table.loc["A", "engagement_share"] == pytest.approx(1170 / 2170)
    # median CLV 300, median CRV 0
    assert table["quadrant"].to_dict() == {
        "A": "champions",
        "B": "misers",
        "C": "affluents",
        "D": "misers",
        "E": "advocates",
        "F": "misers",
        "G": "affluents",
    }


def test_segments_and_the_referral_programme(result: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    table, detail = result
    segments = segment_engagement(table).set_index("segment")
    assert segments.loc["HoReCa", "customers"] == 3
    assert segments.loc["HoReCa", "cev"] == pytest.approx((2170 + 500 + 510) / 3)
    assert segments.loc["HoReCa", "engagement_share"] == pytest.approx((3180 - 1700) / 3180)
    programme = referral_programme(detail)
    assert programme["rewards"] == pytest.approx(80)
    assert programme["crv"] == pytest.approx(490)
    assert programme["value_before_rewards"] == pytest.approx(570)
    assert programme["roi"] == pytest.approx(490 / 80)
    assert programme["referred_customers"] == 3


def test_someone_engaged_who_never_bought_is_not_in_the_table(result: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """An idea and a review by someone with no purchase (not in the CLV table) add no row and change
    nobody else's value; every part of every customer is as without them."""
    extra = pd.DataFrame(
        {
            "customer_id": ["Z", "Z"],
            "occurred_at": pd.to_datetime(["2024-03-01", "2024-05-01"]),
            "kind": ["idea", "review"],
            "reach": [None, None],
            "influenced_customer_id": [None, "G"],
            "status": ["implemented", None],
            "value": [500, None],
            "idea_id": ["Y", None],
        }
    )
    engagements = pd.concat([_engagements(), extra], ignore_index=True)
    with_z, _ = engagement_table(_customers(), _referrals(), engagements, EngagementParams(), AS_OF, CAC)
    table, _ = result
    assert list(with_z["customer_id"]) == list(table["customer_id"])
    parts = ["crv", "civ", "civ_estimated", "ckv", "referrals", "referred_customers", "ideas_implemented"]
    same = [p for p in parts if p != "civ"]
    pd.testing.assert_frame_equal(with_z[same], table[same])
    # G's arrival is now shared by three influencers (A, B and Z): A's and B's share is a third each
    civ = with_z.set_index("customer_id")["civ"]
    assert civ["A"] == pytest.approx(600.0 / 3) and civ["B"] == pytest.approx(600.0 / 3)
    assert not with_z[parts].isna().any().any()


def test_without_referrals_or_engagements_cev_is_clv() -> None:
    table, detail = engagement_table(_customers(), None, None, EngagementParams(), AS_OF, CAC)
    assert (table["cev"] == table["clv"]).all() and detail.empty
    assert np.isnan(referral_programme(detail)["roi"])


def test_the_share_assumed_for_unknown_answers_is_a_setting() -> None:
    params = EngagementParams(incremental_share=1.0)
    table, _ = engagement_table(_customers(), _referrals(), None, params, AS_OF, CAC)
    assert table.set_index("customer_id")["crv"]["A"] == pytest.approx(210 + (500 + 40 - 30))


def test_value_matrix_on_ties() -> None:
    quadrants = value_matrix(pd.Series([1.0, 1.0, 1.0]), pd.Series([0.0, 0.0, 5.0]))
    assert quadrants.tolist() == ["misers", "misers", "advocates"]


# --- Referrals and engagements read from a database, with their own rules, on every engine -------

_TODAY = date(2024, 12, 31)


def _bad_frames() -> dict[str, pd.DataFrame]:
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "name": ["Anna", "Bruno", "Carla", "Dario", "Elena"],
            "segment": ["HoReCa", "HoReCa", "Uffici", "Uffici", "Uffici"],
            "region": "Nord",
            "channel": "Passaparola",
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5, 6],
            "customer_id": [1, 1, 2, 3, 5, 5],
            "order_date": pd.to_datetime(
                ["2024-01-10", "2024-06-10", "2024-03-01", "2024-04-01", "2024-05-01", "2024-09-01"]
            ),
            "revenue": [100.0, 120.0, 80.0, 60.0, 90.0, 95.0],
            "cost": [60.0, 70.0, 50.0, 40.0, 50.0, 55.0],
        }
    )
    referrals = pd.DataFrame(
        {
            "referrer_id": pd.array([1, 1, 1, 2, 9, 4, 3, 5, None], dtype="Int64"),
            "referred_id": pd.array([2, 3, 2, 2, 5, 5, 5, 1, 4], dtype="Int64"),
            "referred_at": pd.to_datetime(
                [
                    "2024-02-20",
                    "2024-03-15",
                    "2024-02-25",
                    "2024-05-01",
                    "2024-04-20",
                    "2024-04-20",
                    "2024-03-01",
                    None,
                    "2024-05-01",
                ]
            ),
            "reward_referrer": 20.0,
            "reward_referred": 10.0,
            "incremental": pd.array([True, None, True, True, True, True, True, True, True], dtype="boolean"),
        }
    )
    engagements = pd.DataFrame(
        {
            "engagement_id": [1, 2, 3, 4, 5, 6, 7, 8],
            "customer_id": [1, 2, 3, 9, 1, 2, 2, 3],
            "occurred_at": pd.to_datetime(
                [
                    "2024-04-25",
                    "2024-05-02",
                    "2024-05-03",
                    "2024-05-04",
                    "2024-05-05",
                    "2024-05-06",
                    "2030-01-01",
                    "2024-06-01",
                ]
            ),
            "kind": ["review", "Social_Share ", "tweet", "review", "review", "review", "idea", "idea"],
            "reach": [100.0, 50.0, None, None, None, None, None, None],
            "influenced_customer_id": pd.array([5, None, None, None, 1, 77, None, None], dtype="Int64"),
            "status": [None, None, None, None, None, None, "implemented", "implemented"],
            "value": [None, None, None, None, None, None, 900.0, 500.0],
            "idea_id": [None, None, None, None, None, None, None, None],
        }
    )
    return {"customers": customers, "orders": orders, "referrals": referrals, "engagements": engagements}


@pytest.fixture(scope="module", params=ENGINES)
def engagement_source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Source:
    url = _url_for(request.param, tmp_path_factory.mktemp(f"eng_{request.param}"), request, "eng")
    dates = {"orders": ["order_date"], "referrals": ["referred_at"], "engagements": ["occurred_at"]}
    write_frames(url, _bad_frames(), date_columns=dates)
    return Source(settings=load_settings(None, env={}, secrets_path="/nonexistent"), url=url)


def test_bad_referrals_and_engagements_are_counted_by_reason(engagement_source: Source) -> None:
    facts = compute.facts_for(engagement_source, _TODAY)
    clv = compute.clv_at(engagement_source, _TODAY, _TODAY, facts=facts)
    table, detail, found = compute.engagement_tables(engagement_source, facts, clv, _TODAY)
    referrals, engagements = found.health["referrals"], found.health["engagements"]
    assert (referrals["rows_read"], referrals["rows_used"]) == (9, 2)
    assert referrals["excluded"] == {
        "missing_customer": 1,  # no referrer
        "missing_date": 1,
        "referred_twice": 1,  # Bruno referred a second time: the first referral counts
        "unknown_customer": 1,  # referrer 9 is nobody
        "self_referral": 1,
        "before_first_order": 2,  # Dario never bought; Carla referred before her first order
    }
    assert (engagements["rows_read"], engagements["rows_used"]) == (8, 3)
    assert engagements["excluded"] == {"future_date": 1, "unknown_customer": 2, "self_referral": 1, "unknown_kind": 1}
    assert sorted(detail["referred_id"].tolist()) == [2, 3]
    kinds = sorted(found.engagements["kind"].tolist()) if found.engagements is not None else []
    assert kinds == ["idea", "review", "social_share"]  # "Social_Share " read as social_share
    by_id = table.set_index("customer_id")
    clvs = clv.table.set_index("customer_id")["total_clv"]
    # Anna: Bruno (would not have come otherwise) and Carla (unknown: half), no paid campaign to save
    assert by_id.loc[1, "crv"] == pytest.approx(clvs[2] + 0.5 * clvs[3] - 60)
    # Elena came through Anna's review (five days later): her CLV goes to Anna
    assert by_id.loc[1, "civ"] == pytest.approx(clvs[5])
    assert by_id.loc[3, "ckv"] == pytest.approx(500)  # the idea dated in 2030 is not counted
    assert by_id["cev"].to_numpy() == pytest.approx(
        (by_id["clv"] + by_id["crv"] + by_id["civ"] + by_id["civ_estimated"] + by_id["ckv"]).to_numpy()
    )


DEMO_TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module", params=ENGINES)
def demo_engagement_source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Source:
    url = _url_for(request.param, tmp_path_factory.mktemp(f"engdemo_{request.param}"), request, "engdemo")
    write_demo(url, customers=400, seed=11)
    return Source(settings=load_settings(None, env={}, secrets_path="/nonexistent"), url=url)


def test_the_engagement_value_on_positions_is_the_one_on_ids(demo_engagement_source: Source) -> None:
    """The service matches customers by their position in the facts, not by their ids: the same
    tables to the last bit as ``engagement_table`` on the ids, at two dates (the second leaves out
    the referrals and engagements after it), with the ids given back."""
    source = demo_engagement_source
    facts = compute.facts_for(source, DEMO_TODAY)
    found = compute.engagement_facts(source, facts)
    assert found.referrals is not None and found.engagements is not None
    assert len(found.referrals) > 20 and found.engagements["influenced_customer_id"].notna().sum() > 5
    for as_of in (DEMO_TODAY, date(2025, 6, 30)):
        clv = compute.clv_at(source, as_of, DEMO_TODAY, facts=facts)
        table, detail, _ = compute.engagement_tables(source, facts, clv, as_of)
        stamp = pd.Timestamp(as_of)
        referrals = found.referrals[found.referrals["referred_at"] <= stamp]
        engagements = found.engagements[found.engagements["occurred_at"] <= stamp]
        want, want_detail = engagement_table(
            clv.table, referrals, engagements, source.settings.engagement, as_of, compute.referral_cac(facts)
        )
        assert (want["crv"] > 0).any() and (want["civ"] > 0).any() and (want["ckv"] > 0).any()
        pd.testing.assert_frame_equal(table, want, check_exact=True)
        pd.testing.assert_frame_equal(detail, want_detail, check_exact=True)


def test_campaign_roi_on_engagement_value() -> None:
    from kpi.engagement import roi_on_engagement

    roi = pd.DataFrame(
        {"campaign_id": ["C1", "C2", "C3"], "spend": [1000.0, 500.0, 0.0], "roi_lifetime": [-0.2, 0.5, np.nan]}
    )
    engaged = pd.Series({"C1": 700.0, "C3": 50.0})
    got = roi_on_engagement(roi, engaged)
    # C1: a campaign that does not pay on its customers' purchases (−20 %) pays once their referrals,
    # reviews and ideas count: (800 + 700 − 1000) / 1000
    assert got.iloc[0] == pytest.approx(0.5)
    assert got.iloc[1] == pytest.approx(0.5)  # no engagement: the lifetime ROI
    assert np.isnan(got.iloc[2])  # no spend: no ROI


@pytest.mark.parametrize("labels", ["text", "category"])
def test_affluents_to_ask_for_a_referral_by_hand(labels: str) -> None:
    """The same whether the segments are texts or categories (as the customer tables hold them)."""
    from kpi.engagement import referral_asks

    rows = [
        ("c1", "S1", 5000.0, 100.0, "champions"),
        ("c2", "S1", 4000.0, 300.0, "champions"),
        ("a1", "S1", 900.0, 0.0, "affluents"),
        ("a2", "S1", 800.0, 0.0, "affluents"),
        ("a3", "S1", 700.0, 0.0, "affluents"),
        ("c3", "S2", 3000.0, 1000.0, "champions"),
        ("a4", "S2", 950.0, 0.0, "affluents"),
        ("m1", "S2", 10.0, 0.0, "misers"),
    ]
    table = pd.DataFrame(rows, columns=["customer_id", "segment", "clv", "crv", "quadrant"])
    if labels == "category":
        table["segment"] = table["segment"].astype("category")
    p_alive = pd.Series({"a1": 0.5, "a2": 1.0, "a3": 0.9, "a4": 0.8})
    asks = referral_asks(table, p_alive).set_index("customer_id")
    # S1: five high-CLV customers, two of whom referred (0.4), bringing 200 on average; S2 has two:
    # all segments together (3 of 7, 466.67)
    assert list(asks.index) == ["a4", "a2", "a3", "a1"]
    assert asks.loc["a2", "expected_value"] == pytest.approx(1.0 * 0.4 * 200)
    assert asks.loc["a1", "expected_value"] == pytest.approx(0.5 * 0.4 * 200)
    assert asks.loc["a4", "expected_value"] == pytest.approx(0.8 * 3 / 7 * 1400 / 3)
    assert asks.loc["a4", "peers"] == "all" and asks.loc["a1", "peers"] == "segment"


def test_referral_chains_by_hand() -> None:
    from kpi.engagement import referral_chains

    referrals = pd.concat(
        [
            _referrals(),
            pd.DataFrame(
                {
                    "referrer_id": ["B"],
                    "referred_id": ["G"],
                    "referred_at": pd.to_datetime(["2024-05-01"]),
                    "incremental": ["true"],
                }
            ),
        ],
        ignore_index=True,
    )
    _table, detail = engagement_table(_customers(), referrals, None, EngagementParams(), AS_OF, CAC)
    chains = referral_chains(detail).set_index("referrer_id")
    # before rewards: A brought B (200 + 40) and C (0.5 × 500 + 40); B brought G (600 + 40), which
    # counts for A one step on; E brought F (40) and D, who was already a customer (0)
    assert chains.loc["A", "direct"] == pytest.approx(240 + 290)
    assert chains.loc["A", "onward"] == pytest.approx(640)
    assert chains.loc["B", "direct"] == pytest.approx(640) and chains.loc["E", "total"] == pytest.approx(40)
    assert list(chains.index) == ["A", "B", "E"] and chains.loc["A", "referred"] == ["B", "C"]


def test_value_matrix_axes_are_compressed_and_the_hover_gives_amounts() -> None:
    """One customer worth forty times the rest does not squeeze the others into a corner: both
    axes go by powers of ten above the lower quartile, the medians sit where their amounts are,
    the ticks read as money and the hover gives each customer's own amounts."""
    from render.charts_engagement import value_matrix_figure

    points = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4", "C5"],
            "name": ["Anna", "Bruno", "Carla", "Dario", "Elena"],
            "clv": [-50.0, 300.0, 800.0, 2_000.0, 80_000.0],
            "crv": [0.0, 0.0, 400.0, 0.0, 5_000.0],
            "cev": [-50.0, 300.0, 1_200.0, 2_000.0, 85_000.0],
            "quadrant": ["misers", "misers", "advocates", "affluents", "champions"],
        }
    )
    fig = value_matrix_figure(points, 800.0, 0.0, "it", "EUR", shown_of=5)
    # the lower quartile of |CLV| is 300: the scale is even below 100 and by tens above it
    x = {t.name.split(" (")[0]: list(t.x) for t in fig.data}
    assert x["Campioni"][0] == pytest.approx(np.log10(1 + 80_000 / 100))
    assert x["Tiepidi"] == pytest.approx([-np.log10(1.5), np.log10(4)])
    assert fig.layout.shapes[0].x0 == pytest.approx(np.log10(9))  # the CLV median, 800
    assert fig.layout.shapes[1].y0 == 0  # the CRV median, 0
    ticks = dict(zip(fig.layout.xaxis.ticktext, fig.layout.xaxis.tickvals, strict=True))
    assert list(ticks) == ["€ 0", "€ 100", "€ 1.000", "€ 10.000"]  # no tick below -50
    assert ticks["€ 10.000"] == pytest.approx(np.log10(101))
    assert "scala a potenze di dieci" in fig.layout.xaxis.title.text
    champion = next(t for t in fig.data if t.name.startswith("Campioni"))
    assert list(champion.customdata[0]) == [
        "Elena",
        80_000.0,
        5_000.0,
        85_000.0,
        "C5",
    ]  # the id: a click opens her card
    assert "customdata[1]" in champion.hovertemplate and "%{x" not in champion.hovertemplate


def test_the_engagement_pages_view_is_of_the_chosen_customers_only() -> None:
    """The page's figures, kept per filters: a segment's customers, their referrals, the CLV rank
    among them, and a contact list without the misers."""
    from data.filters import Filters
    from service.engagement import engagement_view

    n = 40
    everyone = pd.DataFrame(
        {
            "customer_id": list(range(1, n + 1)),
            "segment": ["A" if i % 2 else "B" for i in range(1, n + 1)],
            "region": "Nord",
            "channel": "Web",
            "clv": [float(10 * i) for i in range(1, n + 1)],
            "crv": [float(100 if i % 5 == 0 else 0) for i in range(1, n + 1)],
            "civ": 0.0,
            "civ_estimated": 0.0,
            "ckv": [1.0] * n,
            "referrals": [1 if i % 5 == 0 else 0 for i in range(1, n + 1)],
            "referred_customers": [1 if i % 5 == 0 else 0 for i in range(1, n + 1)],
        }
    )
    everyone["cev"] = everyone["clv"] + everyone["crv"] + everyone["ckv"]
    champion = (everyone["clv"] > 200) & (everyone["crv"] > 0)
    everyone["quadrant"] = champion.map({True: "champions", False: "misers"})
    referrers = everyone.loc[everyone["referrals"] > 0, "customer_id"].tolist()
    detail = pd.DataFrame(
        {
            "referrer_id": referrers,
            "referred_id": [1000 + r for r in referrers],
            "converted": [True] * len(referrers),
            "rewards": [10.0] * len(referrers),
            "value": [90.0] * len(referrers),
        }
    )
    view = engagement_view(everyone, detail, Filters(segments=("B",)))
    assert view is not None
    assert view.customers == 20 and view.referrers == 4  # 10, 20, 30, 40 are even: segment B
    assert view.referrals == 4 and view.programme["rewards"] == 40.0
    assert view.total_ckv == 20.0 and view.avg_clv == pytest.approx(210.0)  # the mean of 20, 40, …, 400
    assert set(view.points["segment"]) == {"B"} and len(view.points) == 20
    assert view.by_clv["customer_id"].tolist()[:3] == [40, 38, 36]
    assert view.by_clv["clv_rank"].tolist()[:3] == [1, 2, 3]  # ranked among segment B only
    assert view.contacts["customer_id"].tolist() == [40, 30]  # champions only, most valuable first
    assert view.quadrants.index.tolist() == ["champions", "misers"]
    assert engagement_view(everyone, detail, Filters(segments=("Z",))) is None


def test_engagement_value_by_acquiring_campaign_by_hand() -> None:
    """CEV − CLV summed by the paid campaign that acquired each customer, for all rows and for the
    rows of a mask; customers without a paid campaign, or unknown to the facts, count nowhere."""
    from types import SimpleNamespace

    from service.compute import engagement_by_campaign

    campaign = np.array(["C1", None, "C2", "C1"], dtype=object)
    facts = SimpleNamespace(ids=np.array([10, 11, 12, 13], dtype=object), campaign_costed=lambda: campaign, _cache={})
    table = pd.DataFrame({"customer_id": [13, 11, 10, 99, 12], "cev": [50.0, 9.0, 30.0, 7.0, 5.0], "clv": 1.0})
    every = engagement_by_campaign(facts, table)  # type: ignore[arg-type]
    assert every.to_dict() == {"C1": 49.0 + 29.0, "C2": 4.0}
    some = engagement_by_campaign(facts, table, np.array([True, True, False, True, True]))  # type: ignore[arg-type]
    assert some.to_dict() == {"C1": 49.0, "C2": 4.0}


def test_the_engagement_read_does_not_depend_on_the_order_rows_arrive_in(
    demo_engagement_source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database may send the referrals and engagements in another order at every read (a parallel
    scan does): the rows kept, their order, their positions and the counts by reason are the same
    whatever the order, so the engagement value is the same to the last digit from one read to the
    next (it differed in the last digits of about one referrer in five thousand)."""
    import data.engagement as engagement_read
    import data.facts as facts_read

    source = demo_engagement_source
    facts = compute.facts_for(source, DEMO_TODAY)
    want = engagement_read.extract_engagement(source, facts)
    real = facts_read._frame

    def shuffled(*args: object) -> pd.DataFrame:  # the rows as the database sends them, in another order
        return real(*args).sample(frac=1.0, random_state=5).reset_index(drop=True)

    monkeypatch.setattr(facts_read, "_frame", shuffled)
    got = engagement_read.extract_engagement(source, facts)
    for name in ("referrals", "engagements"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=True)
        assert got.codes[name].keys() == want.codes[name].keys()
        for column, codes in want.codes[name].items():
            assert (got.codes[name][column] == codes).all()
    assert got.health == want.health


def test_rows_without_a_key_are_ordered_by_every_value() -> None:
    """Without a key on every row (unmapped, blank or repeated), every column orders the rows,
    values of mixed kinds by their text; with one, the key alone."""
    from data.facts import _in_content_order

    frame = pd.DataFrame(
        {
            "engagement_id": [None, None, 7, None, None],
            "customer_id": [3, 1, 1, "C9", 1],
            "kind": ["review", "survey", "review", "idea", "review"],
            "reach": [10.0, np.nan, 5.0, 1.0, 4.0],
        }
    )
    want = _in_content_order(frame, "engagement_id")
    for seed in range(5):
        again = _in_content_order(frame.sample(frac=1.0, random_state=seed).reset_index(drop=True), "engagement_id")
        pd.testing.assert_frame_equal(again, want)
    keyed = frame.assign(engagement_id=[5, 2, 9, 1, 3])
    assert _in_content_order(keyed, "engagement_id")["engagement_id"].tolist() == [1, 2, 3, 5, 9]


def test_clv_ranks_share_the_best_place_on_ties() -> None:
    """The "most valuable" tables' ``clv_rank``: 1 the highest CLV among the chosen customers, tied
    customers sharing the best place and the next place skipped (as a sports table: 1, 2, 2, 4)."""
    from data.filters import Filters
    from service.engagement import engagement_view

    clv = [500.0, 300.0, 300.0, 100.0, 50.0, 300.0, 20.0]
    everyone = pd.DataFrame(
        {
            "customer_id": list(range(1, 8)),
            "segment": "A",
            "region": "Nord",
            "channel": "web",
            "clv": clv,
            "crv": 0.0,
            "civ": 0.0,
            "civ_estimated": 0.0,
            "ckv": [7.0, 1.0, 2.0, 6.0, 5.0, 3.0, 4.0],
            "referrals": 0,
            "referred_customers": 0,
            "quadrant": "misers",
        }
    )
    everyone["cev"] = everyone["clv"] + everyone["ckv"]
    detail = pd.DataFrame(columns=["referrer_id", "referred_id", "converted", "rewards", "value"])
    view = engagement_view(everyone, detail, Filters())
    assert view is not None
    by_clv = dict(zip(view.by_clv["customer_id"], view.by_clv["clv_rank"], strict=True))
    assert by_clv == {1: 1, 2: 2, 3: 2, 6: 2, 4: 5, 5: 6, 7: 7}
    by_cev = dict(zip(view.by_cev["customer_id"], view.by_cev["clv_rank"], strict=True))
    assert by_cev == by_clv and view.by_cev["customer_id"].tolist()[:4] == [1, 6, 3, 2]  # CEV 507, 303, 302, 301


def test_the_kinds_of_engagement_are_one_text_each() -> None:
    """A million engagements of five kinds hold five texts, not a million: the cleaned kinds are
    the same values, each distinct text one object shared by its rows; NULL stays NULL."""
    from data.engagement import _one_text_per_kind

    cleaned = pd.Series([" Review", "review", None, "IDEA", "idea "]).astype("string").str.strip().str.lower()
    got = _one_text_per_kind(cleaned)
    assert got.dtype == object
    assert got.equals(cleaned.astype(object))
    assert got[0] is got[1] and got[3] is got[4]
    assert got.isna().tolist() == [False, False, True, False, False]

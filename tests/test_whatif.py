"""The what-if simulator: each lever against a hand computation or the model's own formulas, and
a scenario with nothing moved gives exactly today's figures."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from data.filters import Filters
from data.source import Source
from kpi.clv import BGNBD
from kpi.whatif import Scenario, leaving, newcomer_factor, scenario_model, scenario_residual
from service import compute
from service.whatif import whatif

MODEL = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0.0, customers=2357, repeat_customers=1000)
AS_OF = date(2026, 10, 31)
TODAY = date(2026, 11, 25)


def test_retention_moves_the_mean_chance_of_leaving() -> None:
    moved = scenario_model(MODEL, -0.25)
    assert moved.a + moved.b == pytest.approx(MODEL.a + MODEL.b)  # the spread is kept
    assert moved.a / (moved.a + moved.b) == pytest.approx(0.75 * MODEL.a / (MODEL.a + MODEL.b))
    assert scenario_model(MODEL, 0.0) is MODEL
    x, t_x, T = np.array([1.0, 5.0, 3.0]), np.array([2.0, 10.0, 30.0]), np.array([40.0, 80.0, 40.0])  # noqa: N806
    year = 52.18
    # nobody leaves any more: nobody leaves in the next year; those already gone stay gone
    assert leaving(MODEL, scenario_model(MODEL, -1.0), x, t_x, T, year) == pytest.approx(np.zeros(3), abs=1e-9)
    today = leaving(MODEL, MODEL, x, t_x, T, year)
    assert np.all(today > 0) and np.all(today < MODEL.p_alive(x, t_x, T))
    assert np.all(leaving(MODEL, scenario_model(MODEL, 0.5), x, t_x, T, year) > today)


def test_the_chance_of_leaving_against_a_simulation() -> None:
    """Alive, with rate λ ~ Gamma(r + x, α + T) and p ~ Beta(a, b + x): the chance of no last
    purchase within t, simulated, is the closed form's."""
    rng = np.random.default_rng(5)
    x, T, t = 3.0, 30.0, 40.0  # noqa: N806
    lam = rng.gamma(MODEL.r + x, 1 / (MODEL.alpha + T), 400_000)
    p = rng.beta(MODEL.a, MODEL.b + x, 400_000)
    # purchases in t are Poisson(λ t); each one is the last with chance p: no last one is (1 − p)^n
    n = rng.poisson(lam * t)
    simulated = float(np.mean((1 - p) ** n))
    # a customer certainly alive today (t_x = T): P(alive) = 1 only without repeat, so divide it out
    alive = float(MODEL.p_alive(np.array([x]), np.array([T]), np.array([T]))[0])
    stay = 1 - float(leaving(MODEL, MODEL, np.array([x]), np.array([T]), np.array([T]), t)[0]) / alive
    assert stay == pytest.approx(simulated, abs=0.003)


def test_frequency_stretches_the_months_and_margin_adds_points() -> None:
    """Buying 10 % more often: the purchases of t months become the model's purchases of 1.1 t — for
    a customer who cannot leave (nobody leaves) exactly 10 % more, the Poisson part."""
    x, t_x, T = np.array([2.0, 0.0]), np.array([20.0, 0.0]), np.array([30.0, 30.0])  # noqa: N806
    args = {"horizon_months": 12, "annual_discount_rate": 0.0, "unit_days": 7.0}
    margin = np.array([10.0, 10.0])
    stay = Scenario(churn=-1.0)
    _, base = scenario_residual(MODEL, x, t_x, T, margin, stay, **args)
    _, faster = scenario_residual(MODEL, x, t_x, T, margin, Scenario(churn=-1.0, frequency=0.1), **args)
    assert faster == pytest.approx(1.1 * base, rel=1e-6)
    # with leaving, still the model's purchases over 1.1 times the months, not 1.1 times as many
    _, today = scenario_residual(MODEL, x, t_x, T, margin, Scenario(), **args)
    _, more = scenario_residual(MODEL, x, t_x, T, margin, Scenario(frequency=0.1), **args)
    horizon = 12 * (365.25 / 12) / 7.0
    assert more == pytest.approx(10 * MODEL.expected_purchases(1.1 * horizon, x, t_x, T), rel=1e-9)
    assert np.all(more < 1.1 * today)


def test_levers_by_hand() -> None:
    assert newcomer_factor(Scenario(spend=0.5, cac=0.25)) == pytest.approx(1.5 / 1.25)
    both = Scenario(churn=-0.1, frequency=0.2, cac=0.1, name="Piano 2027")
    assert both.up_to("churn") == Scenario(churn=-0.1, name="Piano 2027")
    assert both.up_to("frequency") == Scenario(churn=-0.1, frequency=0.2, name="Piano 2027")
    assert both.up_to("cac") == both
    assert Scenario().is_today and not both.is_today
    with pytest.raises(ValueError, match="churn"):
        Scenario(churn=-2.0)


@pytest.fixture(scope="module")
def demo(demo_source: Source) -> tuple[Source, object, object]:
    facts = compute.facts_for(demo_source, TODAY)
    return demo_source, facts, compute.clv_at(demo_source, AS_OF, TODAY, facts=facts)


def test_no_change_is_exactly_today(demo: tuple[Source, object, object]) -> None:
    source, facts, clv = demo
    result = whatif(source, facts, clv, Filters(), AS_OF, TODAY, Scenario())  # type: ignore[arg-type]
    assert result.scenario == result.today and result.steps.empty
    assert result.today["total_clv"] == pytest.approx(float(clv.table["total_clv"].sum()))  # type: ignore[attr-defined]
    assert (result.channels["roi_today"] == result.channels["roi_scenario"]).all()


def test_demo_scenario_lever_by_lever(demo: tuple[Source, object, object]) -> None:
    source, facts, clv = demo
    # two points of margin on every order: the next 12 months' margin grows by 2 % of their revenue
    margin = whatif(source, facts, clv, Filters(), AS_OF, TODAY, Scenario(margin_pp=0.02))  # type: ignore[arg-type]
    assert margin.scenario["revenue_12m"] == pytest.approx(margin.today["revenue_12m"])
    gained = margin.scenario["margin_12m"] - margin.today["margin_12m"]
    assert gained == pytest.approx(0.02 * margin.today["revenue_12m"], rel=1e-9)
    # fewer leave: more value, fewer customers leaving in the next year; who has left stays gone
    keep = whatif(source, facts, clv, Filters(), AS_OF, TODAY, Scenario(churn=-0.3))  # type: ignore[arg-type]
    assert keep.scenario["total_clv"] > keep.today["total_clv"]
    assert keep.scenario["leaving_12m"] < keep.today["leaving_12m"]
    from service.whatif import scenario_clv

    moved = scenario_clv(source, facts, clv, AS_OF, Scenario(churn=-0.3))  # type: ignore[arg-type]
    assert np.array_equal(moved.table["p_alive"].to_numpy(), clv.table["p_alive"].to_numpy())  # type: ignore[attr-defined]
    # half as much again on campaigns: the spend of the last 12 months × 1.5, and more new customers
    more = whatif(source, facts, clv, Filters(), AS_OF, TODAY, Scenario(spend=0.5))  # type: ignore[arg-type]
    assert more.today["acquisition_spend_12m"] > 0
    # (the spend also holds the referral rewards, which the spend lever leaves alone)
    first = facts.first_purchase_day()  # type: ignore[attr-defined]
    days = ((date(2025, 10, 31) - date(1970, 1, 1)).days, (AS_OF - date(1970, 1, 1)).days)
    paid = facts.costed & (first > days[0]) & (first <= days[1])  # type: ignore[attr-defined]
    campaigns = float(facts.acquisition_cost[paid].sum())  # type: ignore[attr-defined]
    assert 0 < campaigns < more.today["acquisition_spend_12m"]
    gained = more.scenario["acquisition_spend_12m"] - more.today["acquisition_spend_12m"]
    assert gained == pytest.approx(0.5 * campaigns)
    assert more.scenario["revenue_12m"] > more.today["revenue_12m"]
    # a dearer CAC: the same customers bought at 25 % more give ROI + 1 divided by 1.25
    dear = whatif(source, facts, clv, Filters(), AS_OF, TODAY, Scenario(cac=0.25))  # type: ignore[arg-type]
    assert dear.scenario["marketing_roi"] + 1 == pytest.approx((dear.today["marketing_roi"] + 1) / 1.25)
    # the waterfall adds up to the whole change
    mixed = Scenario(churn=-0.1, frequency=0.05, margin_pp=0.01)
    both = whatif(source, facts, clv, Filters(segments=("HoReCa",)), AS_OF, TODAY, mixed)  # type: ignore[arg-type]
    assert list(both.steps["lever"]) == ["churn", "frequency", "margin_pp"]
    assert both.steps["total_clv"].sum() == pytest.approx(both.scenario["total_clv"] - both.today["total_clv"])
    assert (both.steps["total_clv"] > 0).all()
    # each step is what its lever adds to those before it: the first is the retention lever alone
    alone = whatif(source, facts, clv, Filters(segments=("HoReCa",)), AS_OF, TODAY, Scenario(churn=-0.1))  # type: ignore[arg-type]
    assert both.steps["total_clv"].iloc[0] == pytest.approx(alone.scenario["total_clv"] - alone.today["total_clv"])


def test_the_referral_lever_by_hand(demo: tuple[Source, object, object]) -> None:
    """Twice the referrals: twice the new customers referrals brought in the last 12 months — each
    counted by the chance the referral brought them — and twice the rewards; today's customers'
    value does not move."""
    from service.compute import engagement_facts

    source, facts, clv = demo
    twice = whatif(source, facts, clv, Filters(), AS_OF, TODAY, Scenario(referral=1.0))  # type: ignore[arg-type]
    # by hand, from the referrals as read: a referral brought its customer when they first bought
    # within the window after it; the demo's referrals say whether it was incremental, else the share
    referrals = engagement_facts(source, facts).referrals  # type: ignore[arg-type]
    assert referrals is not None and len(referrals) > 20
    first_day = pd.Series(facts.first_purchase_day(), index=facts.ids)  # type: ignore[attr-defined]
    epoch = pd.Timestamp("1970-01-01")
    first = epoch + pd.to_timedelta(first_day.reindex(referrals["referred_id"].to_numpy()).to_numpy(), unit="D")
    at = pd.to_datetime(referrals["referred_at"]).to_numpy()
    window = source.settings.engagement.referral_window_months
    converted = (first >= pd.DatetimeIndex(at).normalize()) & (
        first <= pd.DatetimeIndex(at) + pd.DateOffset(months=window)
    )
    answer = referrals["incremental"].map(lambda v: str(v).strip().lower()) if "incremental" in referrals else None
    share = source.settings.engagement.incremental_share
    p = (
        np.where(answer.isin(["true", "1"]), 1.0, np.where(answer.isin(["false", "0"]), 0.0, share))
        if answer is not None
        else share
    )
    year = (first > pd.Timestamp("2025-10-31")) & (first <= pd.Timestamp(AS_OF))
    costed = pd.Series(facts.costed, index=facts.ids).reindex(referrals["referred_id"].to_numpy()).fillna(False)  # type: ignore[attr-defined]
    # a customer a paid campaign brought is the spend lever's, not the referral lever's
    pace = float(np.sum(np.where(converted & year & ~costed.to_numpy(dtype=bool), p, 0.0))) / 12
    assert pace > 0
    from service.forecast import forecast_cells
    from service.whatif import referred_customers

    referred, rewards = referred_customers(source, facts, AS_OF)  # type: ignore[arg-type]
    trailing = source.settings.forecast.trailing_months
    now = forecast_cells(facts, clv, AS_OF, 12, trailing)  # type: ignore[arg-type]
    moved = forecast_cells(facts, clv, AS_OF, 12, trailing, Scenario(referral=1.0), referred)  # type: ignore[arg-type]
    assert moved.new_per_month.sum() - now.new_per_month.sum() == pytest.approx(pace)
    assert twice.scenario["revenue_12m"] > twice.today["revenue_12m"]
    assert twice.scenario["total_clv"] == twice.today["total_clv"]  # today's customers: unchanged
    recent = (pd.DatetimeIndex(at) > pd.Timestamp("2025-10-31")) & (pd.DatetimeIndex(at) <= pd.Timestamp(AS_OF))
    paid = sum(
        referrals[c].fillna(0).to_numpy(dtype=float)[recent].sum() for c in ("reward_referrer", "reward_referred")
    )
    assert paid > 0 and float(rewards.sum()) == pytest.approx(paid)
    gained = twice.scenario["acquisition_spend_12m"] - twice.today["acquisition_spend_12m"]
    assert gained == pytest.approx(paid)
    assert list(twice.steps["lever"]) == ["referral"]


def test_the_report_includes_an_active_scenario(demo: tuple[Source, object, object]) -> None:
    from service.report import build_report

    source, _facts, _clv = demo
    period = Filters(start=date(2025, 11, 1), end=AS_OF)
    sections = build_report(source, period, "it", TODAY, scenario=Scenario(churn=-0.2, name="Fedeltà"))
    titles = [s.title for s in sections]
    assert titles[-2] == "Simulatore: Fedeltà" and titles[-1] == "Qualità dei dati"
    whatif_section = sections[-2]
    assert whatif_section.comment.startswith("Scenario «Fedeltà» (Clienti che se ne vanno): valore dei clienti € ")
    assert whatif_section.figure is not None and whatif_section.figure.data[0].type == "waterfall"
    assert dict(whatif_section.cards)["Abbandoni attesi (12 mesi)"].count("→") == 1
    # no lever moved: no section
    plain = build_report(source, period, "it", TODAY, scenario=Scenario(name="Niente"))
    assert "Simulatore: Niente" not in [s.title for s in plain]


def test_a_new_customers_payback_by_hand(demo: tuple[Source, object, object]) -> None:
    """Months until the cumulative margin covers the cost; per channel, the segments' curves
    weighed as the channel's new customers were; a dearer CAC takes longer, more margin shorter."""
    from kpi.whatif import payback_months
    from service.forecast import moved_curves, newcomer_curves
    from service.whatif import PAYBACK_AGES, new_customer_payback

    assert payback_months(np.array([10.0, 10.0, 10.0]), 25.0) == 3
    assert payback_months(np.array([30.0, 10.0]), 25.0) == 1
    assert payback_months(np.array([1.0, 1.0]), 25.0) == float("inf")
    assert np.isnan(payback_months(np.array([1.0]), 0.0))
    source, facts, clv = demo
    today = new_customer_payback(facts, Filters(), AS_OF, Scenario())  # type: ignore[arg-type]
    assert len(today) >= 2 and today.notna().all()
    # one channel by hand
    first = facts.first_purchase_day()  # type: ignore[attr-defined]
    lo, hi = (date(2025, 10, 31) - date(1970, 1, 1)).days, (AS_OF - date(1970, 1, 1)).days
    recent = facts.costed & (first > lo) & (first <= hi)  # type: ignore[attr-defined]
    channels = dict(zip(facts.campaigns["campaign_id"], facts.campaigns["channel"], strict=True))  # type: ignore[attr-defined]
    channel = np.array([channels.get(c) for c in facts.campaign_costed()], dtype=object)  # type: ignore[attr-defined]
    name = today.index[0]
    mine = recent & (channel == name)
    curves = newcomer_curves(facts, AS_OF, PAYBACK_AGES)  # type: ignore[arg-type]
    segments = facts.dims["segment"][mine]  # type: ignore[attr-defined]
    curve = sum(curves.mean["margin"][s, :PAYBACK_AGES] for s in segments) / len(segments)
    cost = float(facts.acquisition_cost[mine].mean())  # type: ignore[attr-defined]
    assert today[name] == payback_months(curve, cost)
    dear = new_customer_payback(facts, Filters(), AS_OF, Scenario(cac=0.5))  # type: ignore[arg-type]
    assert dear[name] == payback_months(curve, 1.5 * cost) and (dear >= today).all()
    richer = new_customer_payback(facts, Filters(), AS_OF, Scenario(margin_pp=0.05))  # type: ignore[arg-type]
    moved = moved_curves(curves, Scenario(margin_pp=0.05)).mean["margin"][:, :PAYBACK_AGES]
    assert richer[name] == payback_months(sum(moved[s] for s in segments) / len(segments), cost)
    assert (richer <= today).all()
    # on the page's table: today's and the scenario's
    result = whatif(source, facts, clv, Filters(), AS_OF, TODAY, Scenario(cac=0.5))  # type: ignore[arg-type]
    row = result.channels.set_index("channel").loc[name]
    assert row["payback_today"] == today[name] and row["payback_scenario"] == dear[name]

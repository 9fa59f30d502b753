"""The executive report: the headline figures, the key chart of each page and a comment in words,
as HTML, PDF (vector charts) or PowerPoint. No Streamlit: the app and ``cli.py report`` share it."""

from __future__ import annotations

import copy
import html
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from data import facts
from data.entities import ENTITIES
from data.filters import Filters
from data.source import Source
from kpi.customer_value import CLVResult, clv_overview, segment_clv, select_customers
from kpi.engagement import QUADRANTS, engagement_overview, referral_programme, referrals_of, segment_engagement
from kpi.lifecycle import stage_counts
from kpi.overview import OVERVIEW_KPIS, overview_kpis
from kpi.registry import KPIS
from kpi.roi import marketing_summary, unknown_conversions
from kpi.whatif import Scenario
from render.charts import GREY, TEMPLATE, monthly_revenue_figure, segment_colors
from render.charts_engagement import cev_segment_figure
from render.charts_health import excluded_rows_figure
from render.charts_lifecycle import STAGE_COLORS
from render.charts_marketing import cac_vs_clv_figure
from render.charts_upsell import offer_value_figure
from render.charts_value import clv_segment_figure
from render.charts_whatif import figure_text, whatif_waterfall_figure
from render.export import LEGEND_ROW, figure_bytes, legend_rows
from render.format import (
    fmt_change,
    fmt_count,
    fmt_date,
    fmt_money,
    fmt_money_short,
    fmt_percent,
    fmt_value,
    plotly_separators,
)
from render.text import alert_text, chart_text, join_phrases, t, tn, verdicts_sentence
from service.alerts import alerts_for
from service.compute import (
    engagement_tables,
    entity_health,
    facts_for,
    fits,
    roi_table,
    stages_at,
    upsell_tables,
)
from service.forecast import forecast_for
from service.overview import DirectInputs
from service.targets import applies, current_values, target_rows, targets_for
from service.whatif import FIGURES, whatif

if TYPE_CHECKING:
    from pptx.presentation import Presentation
    from pptx.slide import Slide

__all__ = ["Section", "build_report", "health_rows", "lead_conversions_unknown", "render", "report_caption"]

Progress = Callable[[float, str], None]


@dataclass
class Section:
    title: str
    comment: str
    figure: go.Figure | None = None
    cards: list[tuple[str, str]] = field(default_factory=list)
    cards_title: str = ""
    #: the cards are sentences (the alerts): across the whole page, their text wrapped, no chart
    listing: bool = False


def build_report(
    source: Source,
    filters: Filters,
    lang: str,
    today: date,
    progress: Progress | None = None,
    scenario: Scenario | None = None,
) -> list[Section]:
    """The sections of the report for ``filters`` (which must carry a period); with a ``scenario``
    that moves a lever (the simulator's), a section comparing it with today."""
    report = progress or (lambda _f, _m: None)
    assert filters.start is not None and filters.end is not None
    cur = source.settings.business.currency
    f, as_of = filters, filters.end
    sections: list[Section] = []

    report(0.1, t("page.overview", lang))
    table = overview_kpis(facts.period_measures(facts_for(source, today), f)).set_index("kpi")
    cards = []
    for name in OVERVIEW_KPIS:
        spec, row = KPIS[name], table.loc[name]
        value = fmt_value(row["value"], spec.format, lang, cur)
        change = fmt_change(row["change"], row["change_kind"], lang)
        has_change = any(ch.isdigit() for ch in change)  # no "(—)" when there is no earlier period
        cards.append((spec.label(lang), f"{value} ({change})" if has_change else value))
    monthly = facts.monthly_by_segment(facts_for(source, today), f)
    colors = segment_colors(list(monthly["segment"].unique()))
    revenue = table.loc["revenue"]
    comment = t(
        "report.overview_comment",
        lang,
        revenue=fmt_money(revenue["value"], lang, cur, 0),
        change=fmt_change(revenue["change"], "relative", lang),
    )
    fitted = fits(source, today)

    # the coming months, as on the overview: when the period reaches the last data
    all_facts = facts_for(source, today)
    _first, last = all_facts.date_range()
    data_end = min(as_of, last) if last else as_of  # the forecast starts where the data ends
    reaches = last is not None and as_of >= last
    ahead = forecast_for(all_facts, f, source.settings.forecast, data_end, fitted) if reaches else None
    if ahead is not None:
        total = ahead.totals["revenue"]
        months = source.settings.forecast.months  # whole months, after the current month's rest
        label = tn("overview.forecast_card", months, lang, n=months)
        comment += " " + t(
            "report.forecast_comment",
            lang,
            label=label,
            value=fmt_money_short(total["value"], lang, cur),
            low=fmt_money_short(total["low"], lang, cur),
            high=fmt_money_short(total["high"], lang, cur),
        )
        if ahead.errors is not None and ahead.backtest is not None:
            comment += " " + tn(
                "overview.forecast_backtest",
                len(ahead.backtest),
                lang,
                n=len(ahead.backtest),
                total=fmt_percent(abs(ahead.errors["revenue"]["total"]), lang, 0),
                monthly=fmt_percent(ahead.errors["revenue"]["monthly"], lang, 0),
            )
        cards.append((label, fmt_money_short(total["value"], lang, cur)))
    applying = [x for x in targets_for(source).targets if x.year == data_end.year and applies(x, f)]
    if applying:
        today_values = current_values(source, f, as_of, today, fitted(as_of))
        judged = target_rows(all_facts, f, tuple(applying), data_end, ahead, today_values)
        judged = judged[judged["status"].notna()]
        counts = judged["status"].value_counts()
        off = [
            KPIS[k].label(lang) + (f" ({period})" if len(period) == 7 else "")
            for k, period, status in zip(judged["kpi"], judged["period"], judged["status"], strict=True)
            if status == "off_track"
        ]
        comment += " " + tn(
            "report.targets_comment",
            len(judged),
            lang,
            n=len(judged),
            year=as_of.year,
            on=int(counts.get("on_track", 0)),
            risk=int(counts.get("at_risk", 0)),
            off=int(counts.get("off_track", 0)),
        )
        if off:
            comment += " " + t("report.targets_off", lang, names=join_phrases(off, lang))
    sections.append(
        Section(
            t("page.overview", lang),
            comment,
            monthly_revenue_figure(monthly, colors, lang, cur, ahead.table if ahead is not None else None),
            cards,
        )
    )

    found = alerts_for(source, f, today, DirectInputs(source, today, all_facts, fitted))
    if found:  # first: what needs a look, as on the overview and in the e-mail
        sections.insert(
            0,
            Section(
                t("alerts.title", lang),
                tn("report.alerts_comment", len(found), lang, n=len(found)),
                cards=[(t(f"alerts.kind.{a.kind}", lang), alert_text(a, lang, cur)) for a in found],
                listing=True,
            ),
        )

    report(0.3, t("page.value", lang))
    clv = fitted(as_of)
    chosen = select_customers(clv.table, f.segments, f.regions, f.channels)
    head = clv_overview(chosen)
    sections.append(
        Section(
            t("page.value", lang),
            t(
                "report.value_comment",
                lang,
                clv=fmt_money(head["avg_clv"], lang, cur, 0),
                future=fmt_money(head["future_margin"], lang, cur, 0),
                ratio=fmt_value(head["clv_cac"], "ratio", lang),
            ),
            clv_segment_figure(segment_clv(chosen), colors, lang, cur),
            [
                (t("col.customers", lang), fmt_count(head["customers"], lang)),
                (t("col.avg_clv", lang), fmt_money(head["avg_clv"], lang, cur, 0)),
                (t("value.card_future", lang), fmt_money(head["future_margin"], lang, cur, 0)),
                (t("col.clv_cac", lang), fmt_value(head["clv_cac"], "ratio", lang)),
            ],
        )
    )

    if source.available("campaigns"):
        report(0.5, t("page.marketing", lang))
        unknown = lead_conversions_unknown(source)
        roi = roi_table(source, f, as_of, today, clv)
        roi = unknown_conversions(roi) if unknown else roi
        total = marketing_summary(roi)
        stop = list(roi.loc[roi["verdict"] == "does_not_pay", "name"])
        comment = verdicts_sentence(
            int(total["pays_first"]), int(total["pays_lifetime"]), int(total["does_not_pay"]), lang
        )
        if stop:
            comment += " " + t("report.marketing_stop", lang, names=join_phrases(stop, lang))
        comment += " " + t(
            "report.marketing_roi",
            lang,
            to_date=fmt_percent(total["roi_to_date"], lang, 0),
            lifetime=fmt_percent(total["roi_lifetime"], lang, 0),
        )
        conversion = []  # shown when known, and said to be unknown when the mapping hides it
        if unknown:
            comment += " " + t("marketing.conversion_unknown", lang).replace("`", "")  # no Markdown on paper
        if unknown or not math.isnan(total["conversion_rate"]):
            conversion = [(t("report.lead_conversion", lang), fmt_percent(total["conversion_rate"], lang))]
        sections.append(
            Section(
                t("page.marketing", lang),
                comment,
                cac_vs_clv_figure(roi, lang, cur),
                [
                    (t("col.spend", lang), fmt_money(total["spend"], lang, cur, 0)),
                    (t("col.cac", lang), fmt_money(total["cac"], lang, cur, 0)),
                    *conversion,
                    (t("col.roi_to_date", lang), fmt_percent(total["roi_to_date"], lang, 0)),
                    (t("col.roi_lifetime", lang), fmt_percent(total["roi_lifetime"], lang, 0)),
                    *[
                        (t(f"verdict.{v}", lang), fmt_count(int(total[v]), lang))
                        for v in ("pays_first", "pays_lifetime", "does_not_pay")
                    ],
                ],
            )
        )

    report(0.7, t("page.lifecycle", lang))
    stages = select_customers(stages_at(source, as_of, today, clv), f.segments, f.regions, f.channels)
    counts = stage_counts(stages)
    sections.append(
        Section(
            t("page.lifecycle", lang),
            join_phrases(
                [
                    tn("report.lifecycle_active", n, lang, n=fmt_count(n, lang))
                    for n in [int(counts["active"] + counts["loyal"])]
                ]
                + [tn("report.lifecycle_risk", int(counts["at_risk"]), lang, n=fmt_count(counts["at_risk"], lang))]
                + [tn("report.lifecycle_lapsed", int(counts["lapsed"]), lang, n=fmt_count(counts["lapsed"], lang))],
                lang,
            )
            + ".",
            _stage_figure(counts, lang, fmt_date(as_of, lang)),
            [
                (t(f"stage.{s}", lang), f"{fmt_count(int(n), lang)} ({fmt_percent(n / max(counts.sum(), 1), lang, 0)})")
                for s, n in counts.items()
            ],
        )
    )

    if source.available("referrals") or source.available("engagements"):
        report(0.8, t("page.engagement", lang))
        everyone, detail, _found = engagement_tables(source, facts_for(source, today), clv, as_of)
        engaged = select_customers(everyone, f.segments, f.regions, f.channels)
        mine = referrals_of(detail, engaged)
        head = engagement_overview(engaged)
        programme = referral_programme(mine)
        quadrants = engaged["quadrant"].value_counts()
        sections.append(
            Section(
                t("page.engagement", lang),
                t(
                    "report.engagement_comment",
                    lang,
                    cev=fmt_money(head["avg_cev"], lang, cur, 0),
                    clv=fmt_money(float(engaged["clv"].mean()) if len(engaged) else math.nan, lang, cur, 0),
                    share=fmt_percent(head["engagement_share"], lang, 0),
                    affluents=fmt_count(int(quadrants.get("affluents", 0)), lang),
                    advocates=fmt_count(int(quadrants.get("advocates", 0)), lang),
                ),
                cev_segment_figure(segment_engagement(engaged), lang, cur),
                [
                    (KPIS["avg_cev"].label(lang), fmt_money(head["avg_cev"], lang, cur, 0)),
                    (KPIS["engagement_share"].label(lang), fmt_percent(head["engagement_share"], lang, 0)),
                    (t("engagement.card_programme_roi", lang), fmt_percent(programme["roi"], lang, 0)),
                    *[
                        (t(f"engagement.quadrant.{q}", lang), fmt_count(int(quadrants.get(q, 0)), lang))
                        for q in QUADRANTS
                    ],
                ],
            )
        )

    if source.available("order_lines") and source.available("products"):
        report(0.85, t("page.upsell", lang))
        candidates, _funnel = upsell_tables(source, as_of, today, stages_at(source, as_of, today, clv))
        candidates = select_customers(candidates, f.segments, f.regions, f.channels)
        sections.append(
            Section(
                t("page.upsell", lang),
                tn(
                    "report.upsell_comment",
                    len(candidates),
                    lang,
                    n=fmt_count(len(candidates), lang),
                    value=fmt_money(float(candidates["expected_value"].sum()), lang, cur, 0),
                ),
                offer_value_figure(candidates, lang, cur),
                _upsell_cards(candidates, lang, cur),
            )
        )
    if scenario is not None and not scenario.is_today:
        report(0.9, t("page.whatif", lang))
        sections.append(_whatif_section(source, f, as_of, today, fitted(as_of), scenario, lang, cur))
    report(0.95, t("page.health", lang))
    sections.append(_health_section(source, lang, today, cur))
    for section in sections:
        section.cards_title = "" if section.listing else t("report.key_figures", lang)
    report(1.0, "")
    return sections


def _whatif_section(
    source: Source, f: Filters, as_of: date, today: date, clv: CLVResult, scenario: Scenario, lang: str, cur: str
) -> Section:
    """The simulator's scenario against today: the figures, and the waterfall of the customers' value."""
    result = whatif(source, facts_for(source, today), clv, f, as_of, today, scenario)
    name = scenario.name or t("whatif.scenario", lang)

    def both(figure: str) -> str:
        now, then = (
            figure_text(figure, v, lang, cur, short=True) for v in (result.today[figure], result.scenario[figure])
        )
        return f"{now} → {then}"

    levers = [t(f"whatif.lever.{lever}", lang) for lever in result.steps["lever"]]
    comment = t(
        "report.whatif_comment",
        lang,
        name=name,
        levers=join_phrases(levers, lang),
        clv=both("total_clv"),
        margin=both("margin_12m"),
        leaving=both("leaving_12m"),
    )
    figures = [f for f in FIGURES if math.isfinite(result.today[f])]
    return Section(
        f"{t('page.whatif', lang)}: {name}",
        comment,
        whatif_waterfall_figure(
            result.steps, result.today["total_clv"], result.scenario["total_clv"], "total_clv", lang, cur
        ),
        [(t(f"whatif.figure.{f}", lang), both(f)) for f in figures],
    )


def _stage_figure(counts: pd.Series, lang: str, day: str) -> go.Figure:
    """Customers per lifecycle stage on the report's last day, as horizontal bars."""
    ordered = counts.iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=ordered.to_numpy(),
            y=[t(f"stage.{s}", lang) for s in ordered.index],
            orientation="h",
            marker_color=[STAGE_COLORS.get(str(s), GREY) for s in ordered.index],
            text=[fmt_count(int(n), lang) for n in ordered],
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        title={"text": t("report.lifecycle_chart_title", lang, date=day)},
        separators=plotly_separators(lang),
        showlegend=False,
        height=max(300, 90 + 50 * len(counts)),
    )
    fig.update_xaxes(title_text=t("col.customers", lang), tickformat=",.0f", range=[0, float(counts.max()) * 1.15 or 1])
    return fig


def lead_conversions_unknown(source: Source) -> bool:
    """Whether the leads are there but do not say which customer each became (their ``customer_id``
    is not mapped): their conversion is then unknown — "n/d", not 0 % (``kpi.roi.unknown_conversions``).
    Without a leads table there is no conversion to speak of, and nothing unknown."""
    return source.available("leads") and not source.entity("leads").has("customer_id")


def health_rows(source: Source, today: date) -> tuple[pd.DataFrame, list[str]]:
    """Rows read per usable table, as the data-health page counts them (``service.compute.entity_health``):
    one row per table and kind with ``entity``, ``reason`` ("used" or why rows were left out) and
    ``rows``; and the tables that are not connected."""
    rows: list[tuple[str, str, int]] = []
    missing: list[str] = []
    for name in ENTITIES:
        if not source.available(name):
            missing.append(name)
            continue
        health = entity_health(source, facts_for(source, today), name)
        rows.append((name, "used", int(health["rows_used"])))
        rows += [(name, str(reason), int(n)) for reason, n in health["excluded"].items()]
    return pd.DataFrame(rows, columns=["entity", "reason", "rows"]), missing


#: At most this many "table: reason" rows in the key figures of the data-health page.
_REASON_ROWS = 6


def _health_section(source: Source, lang: str, today: date, currency: str) -> Section:
    """The data-health page: rows read, used and left out by reason per table, refunds, orders of
    customers not in the customers table, customers without orders, tables not connected. Like the
    page, it describes all the data read: the filters do not apply."""
    rows, missing = health_rows(source, today)
    read = int(rows["rows"].sum())
    left_out = rows[rows["reason"] != "used"]
    excluded = int(left_out["rows"].sum())
    warnings = facts.data_warnings(facts_for(source, today)) if source.available("orders") else {}
    cards = [
        (t("col.rows_read", lang), fmt_count(read, lang)),
        (t("col.rows_used", lang), fmt_count(read - excluded, lang)),
        (t("col.rows_excluded", lang), f"{fmt_count(excluded, lang)} ({_share(excluded, read, lang)})"),
    ]
    ranked = left_out.sort_values("rows", ascending=False, kind="stable")
    shown = ranked if len(ranked) <= _REASON_ROWS else ranked.iloc[: _REASON_ROWS - 1]
    cards += [
        (f"{t(f'entity.{e}', lang)}: {_lower_first(t(f'reason.{r}', lang))}", fmt_count(n, lang))
        for e, r, n in shown.itertuples(index=False)
    ]
    if len(shown) < len(ranked):  # a short table: the rest in one row, the chart has them all
        cards.append(
            (t("report.health_other_reasons", lang), fmt_count(int(ranked["rows"].iloc[len(shown) :].sum()), lang))
        )
    sentences = [_excluded_sentence(left_out, read, lang)] if excluded else [t("health.no_exclusions", lang)]
    checks = []
    if warnings.get("refunds"):
        n, amount = int(warnings["refunds"]), fmt_money(warnings["refund_amount"], lang, currency, 0)
        checks.append(tn("report.health_refunds", n, lang, n=fmt_count(n, lang), amount=amount))
        cards.append((t("report.health_refunds_label", lang), f"{fmt_count(n, lang)} ({amount})"))
    if warnings.get("orders_unknown_customer"):
        n = int(warnings["orders_unknown_customer"])
        amount = fmt_money(warnings["revenue_unknown_customer"], lang, currency, 0)
        checks.append(tn("report.health_unknown", n, lang, n=fmt_count(n, lang), amount=amount))
        cards.append((t("report.health_unknown_label", lang), f"{fmt_count(n, lang)} ({amount})"))
    if warnings.get("customers_without_orders"):
        n = int(warnings["customers_without_orders"])
        checks.append(tn("report.health_idle", n, lang, n=fmt_count(n, lang)))
        cards.append((t("report.health_idle_label", lang), fmt_count(n, lang)))
    if checks:
        sentences.append(t("report.health_check", lang, items=join_phrases(checks, lang)))
    if missing:
        names = join_phrases([t(f"entity.{m}", lang) for m in missing], lang)
        sentences.append(t("report.health_missing", lang, names=names))
        cards.append((t("health.missing", lang), fmt_count(len(missing), lang)))
    sentences.append(t("report.health_scope", lang))
    return Section(t("page.health", lang), " ".join(sentences), excluded_rows_figure(rows, lang), cards)


def _excluded_sentence(left_out: pd.DataFrame, read: int, lang: str) -> str:
    """ "9 rows of 34 left out of the figures (26.5%), 7 of them in the Orders table.": the table
    with the most rows left out is named only when no other table has as many."""
    n = int(left_out["rows"].sum())
    values = {"n": fmt_count(n, lang), "read": fmt_count(read, lang), "share": _share(n, read, lang)}
    by_table = left_out.groupby("entity", sort=False)["rows"].sum().sort_values(ascending=False, kind="stable")
    most, entity = int(by_table.iloc[0]), t(f"entity.{by_table.index[0]}", lang)
    if len(by_table) == 1:
        return tn("report.health_excluded_all_in", n, lang, entity=entity, **values)
    if most > int(by_table.iloc[1]):
        return tn("report.health_excluded_in", n, lang, entity=entity, most=fmt_count(most, lang), **values)
    return tn("report.health_excluded", n, lang, **values)


def _share(part: int, whole: int, lang: str) -> str:
    """``part`` as a share of ``whole``, never a misleading "0,0 %" for a few rows: "< 0,1 %"."""
    share = part / max(whole, 1)
    if 0 < share < 0.001:
        return "< " + fmt_percent(0.001, lang)
    return fmt_percent(share, lang)


def _lower_first(text: str) -> str:
    """ "Data mancante" → "data mancante" inside a sentence (an acronym such as "ID" stays)."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _upsell_cards(candidates: pd.DataFrame, lang: str, currency: str) -> list[tuple[str, str]]:
    cards = [
        (t("report.proposals", lang), fmt_count(len(candidates), lang)),
        (t("col.expected_value", lang), fmt_money(float(candidates["expected_value"].sum()), lang, currency, 0)),
    ]
    if len(candidates):
        by_offer = candidates.groupby("offer_name")["expected_value"].sum().sort_values()
        cards.append(
            (t("col.offer", lang), f"{by_offer.index[-1]} ({fmt_money(float(by_offer.iloc[-1]), lang, currency, 0)})")
        )
    return cards


def render(sections: list[Section], fmt: str, title: str, caption: str) -> bytes:
    """The report as ``html``, ``pdf`` or ``pptx``."""
    if fmt == "html":
        return _html(sections, title, caption)
    if fmt == "pdf":
        return _pdf(sections, title, caption)
    if fmt == "pptx":
        return _pptx(sections, title, caption)
    raise ValueError(f"Unknown report format {fmt!r}: use pdf, pptx or html.")


def _html(sections: list[Section], title: str, caption: str) -> bytes:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:Arial,sans-serif;max-width:1100px;margin:2em auto;color:#1F2933}"
        "table{border-collapse:collapse}td{padding:4px 12px;border-bottom:1px solid #eee}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(caption)}</p>",
    ]
    first = True
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2><p>{html.escape(s.comment)}</p>")
        if s.cards:
            rows = "".join(f"<tr><td>{html.escape(k)}</td><td><b>{html.escape(v)}</b></td></tr>" for k, v in s.cards)
            parts.append(f"<table>{rows}</table>")
        if s.figure is not None:
            parts.append(s.figure.to_html(include_plotlyjs=first, full_html=False))
            first = False
    parts.append("</body></html>")
    return "".join(parts).encode()


#: A report page: A4 landscape proportions, in CSS pixels (kaleido writes the PDF at this size).
PAGE_WIDTH, PAGE_HEIGHT = 1400, 990
_SIDE = 0.30  # share of the page's width for the table of key figures, right of the chart
_INK, _MUTED = "#1F2933", "#52606D"
_LEFT = 48


def _left_margin(fig: go.Figure | None) -> int:
    """Room left of the plot for the category labels of horizontal bars or the numbers and title of
    a vertical axis, so that the axis fits without the plot moving (the header is placed from it)."""
    if fig is None:
        return _LEFT
    labels = [
        str(y)
        for trace in fig.data
        if trace.type == "bar" and trace.orientation == "h"
        for y in (trace.y if trace.y is not None else ())
    ]
    if labels:
        return min(420, _LEFT + int(7.5 * max(len(x) for x in labels)) + 24)
    return _LEFT + 90


def _note(
    fig: go.Figure, text: str, top_px: float, top_margin: int, size: int, color: str = _INK, left: int = 0
) -> None:
    """Text at ``top_px`` from the top of the page (the plot starts ``top_margin`` px down)."""
    fig.add_annotation(
        text=text,
        xref="paper",
        yref="paper",
        x=0,
        xshift=-(left - _LEFT),  # from the page's left edge, not the plot's
        y=1,
        yshift=top_margin - top_px,
        xanchor="left",
        yanchor="top",
        align="left",
        showarrow=False,
        font={"size": size, "color": color},
    )


def _page(
    section: Section | None,
    title: str,
    lines: list[str],
    footer: str,
    cards: list[tuple[str, str]],
    summary: bool = False,
) -> go.Figure:
    """One report page, the same layout everywhere: title, the finding in words, the chart on the
    left and a small table of the key figures on the right, the period and page number at the foot."""
    figure = section.figure if section is not None else None
    page = go.Figure(copy.deepcopy(figure.to_dict())) if figure is not None else go.Figure()
    chart_title = str(page.layout.title.text or "") if figure is not None else ""
    left = _left_margin(figure)
    legend_px = LEGEND_ROW * max(legend_rows(page, PAGE_WIDTH - left - _LEFT) - 1, 0)  # the first row fits already
    top = 36 + 30 + 24 * len(lines) + (34 if chart_title else 0) + (56 + legend_px if figure is not None else 16)
    bottom = 120
    if figure is not None:
        share = 1 - _SIDE - 0.05 if cards else 1.0
        for name in list(page.layout):
            if re.fullmatch(r"xaxis\d*", name):
                axis = page.layout[name]
                d0, d1 = axis.domain or (0, 1)
                axis.domain = [d0 * share, d1 * share]
        for trace in page.data:
            if hasattr(trace, "domain") and trace.type not in ("table",):
                d0, d1 = trace.domain.x or (0, 1)
                trace.domain.x = [d0 * share, d1 * share]
        page.update_layout(legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.01, "yanchor": "bottom"})
    else:
        page.update_layout(xaxis={"visible": False}, yaxis={"visible": False})
    page.update_layout(
        template=page.layout.template if figure is not None else "plotly_white",
        title={"text": ""},
        width=PAGE_WIDTH,
        height=PAGE_HEIGHT,
        autosize=False,
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin={"l": left, "r": _LEFT, "t": top, "b": bottom, "autoexpand": True},
    )
    page.update_xaxes(automargin=True)
    page.update_yaxes(automargin=True)
    _note(page, f"<b>{chart_text(title)}</b>", 32, top, 28, left=left)
    for i, line in enumerate(lines):
        _note(page, chart_text(line), 80 + 24 * i, top, 17, left=left)
    if chart_title:
        _note(page, f"<b>{chart_text(chart_title)}</b>", 80 + 24 * len(lines) + 18, top, 15, _MUTED, left=left)
    if cards:
        start = 1 - _SIDE if figure is not None else 0
        page.add_trace(
            go.Table(
                domain={"x": [start, 1 if figure is not None or summary else 0.6], "y": [0, 1]},
                columnwidth=[0.16, 0.84] if summary else [0.44, 0.56],
                header={
                    "values": [f"<b>{chart_text(t_key)}</b>" for t_key in (section.cards_title if section else "", "")],
                    "height": 30 if section and section.cards_title else 1,
                    "align": "left",
                    "fill_color": "#EEF1F4",
                    "font": {"size": 14, "color": _INK},
                },
                cells={
                    "values": [
                        [f"<b>{chart_text(k)}</b>" if summary else chart_text(k) for k, _v in cards],
                        [
                            "<br>".join(chart_text(x) for x in _wrap(v, 110)) if summary else f"<b>{chart_text(v)}</b>"
                            for _k, v in cards
                        ],
                    ],
                    "align": ["left", "left" if summary else "right"],
                    "fill_color": "white",
                    "line_color": "#E4E7EB",
                    "font": {"size": 16 if summary else 14, "color": _INK},
                    "height": 34 if summary else 30,
                },
            )
        )
    page.add_annotation(
        text=chart_text(footer),
        xref="paper",
        yref="paper",
        x=0,
        y=0,
        yshift=-(bottom - 14),
        xshift=-(left - _LEFT),
        xanchor="left",
        yanchor="bottom",
        showarrow=False,
        font={"size": 11, "color": _MUTED},
    )
    return page


def _pdf(sections: list[Section], title: str, caption: str) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    total = len(sections) + 1
    summary = [(s.title, s.comment) for s in sections]
    pages = [_page(None, title, _wrap(caption, 120), f"{title} · 1/{total}", summary, summary=True)]
    for n, s in enumerate(sections, start=2):
        footer = f"{title} · {caption} · {n}/{total}"
        pages.append(_page(s, s.title, _wrap(s.comment, 125), footer, s.cards, summary=s.listing))
    for fig in pages:
        writer.append(io.BytesIO(figure_bytes(fig, "pdf", width=PAGE_WIDTH, height=PAGE_HEIGHT)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _wrap(text: str, width: int = 110) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


#: A slide (16:9, inches): the same places as on a PDF page — title, finding, chart left, key figures right.
_SLIDE_W, _SLIDE_H = 13.333, 7.5
_MARGIN = 0.45
_CHART = (0.45, 2.2, 8.1, 4.75)  # left, top, width, height
_TABLE = (8.8, 2.2, 4.1)  # left, top, width
_DPI = 96  # chart pixels per inch: a 13 px label is a 10 pt label (the PNG is written at twice that)


def _pptx(sections: list[Section], title: str, caption: str) -> bytes:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    deck.slide_width, deck.slide_height = Inches(_SLIDE_W), Inches(_SLIDE_H)
    total = len(sections) + 1
    cover = _slide(deck, title, _wrap(caption, 150), f"{title} · 1/{total}")
    _slide_table(cover, "", [(s.title, s.comment) for s in sections], (_MARGIN, 2.0, _SLIDE_W - 2 * _MARGIN), 0.22)
    for n, s in enumerate(sections, start=2):
        slide = _slide(deck, s.title, [s.comment], f"{title} · {caption} · {n}/{total}")
        if s.figure is not None:
            left, top, width, height = _CHART
            image = figure_bytes(s.figure, "png", width=int(width * _DPI), height=int(height * _DPI))
            slide.shapes.add_picture(io.BytesIO(image), Inches(left), Inches(top), Inches(width), Inches(height))
        if s.cards and s.listing:
            _slide_table(slide, "", s.cards, (_MARGIN, 2.2, _SLIDE_W - 2 * _MARGIN), 0.22)
        elif s.cards:
            _slide_table(slide, s.cards_title, s.cards, _TABLE, 0.46)
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def _slide(deck: Presentation, title: str, lines: list[str], footer: str) -> Slide:
    """A slide with an editable title, the finding under it and the footer (report, period, page)."""
    from pptx.dml.color import RGBColor
    from pptx.enum.text import PP_ALIGN
    from pptx.util import Inches, Pt

    slide = deck.slides.add_slide(deck.slide_layouts[5])  # "title only": the title stays editable
    head = slide.shapes.title
    head.left, head.top, head.width, head.height = (
        Inches(_MARGIN),
        Inches(0.3),
        Inches(_SLIDE_W - 2 * _MARGIN),
        Inches(0.8),
    )
    head.text = title
    paragraph = head.text_frame.paragraphs[0]
    paragraph.alignment = PP_ALIGN.LEFT
    paragraph.font.size, paragraph.font.bold = Pt(30), True
    paragraph.font.color.rgb = RGBColor.from_string(_INK[1:])
    box = slide.shapes.add_textbox(Inches(_MARGIN), Inches(1.1), Inches(_SLIDE_W - 2 * _MARGIN), Inches(1.0))
    frame = box.text_frame
    frame.word_wrap = True
    frame.text = "\n".join(lines)
    for paragraph in frame.paragraphs:
        paragraph.font.size = Pt(15)
        paragraph.font.color.rgb = RGBColor.from_string(_INK[1:])
    foot = slide.shapes.add_textbox(
        Inches(_MARGIN), Inches(_SLIDE_H - 0.45), Inches(_SLIDE_W - 2 * _MARGIN), Inches(0.3)
    )
    foot.text_frame.word_wrap = True  # a box of the slide's width, the text from its left edge
    foot.text_frame.text = footer
    foot.text_frame.paragraphs[0].alignment = PP_ALIGN.LEFT
    foot.text_frame.paragraphs[0].font.size = Pt(9)
    foot.text_frame.paragraphs[0].font.color.rgb = RGBColor.from_string(_MUTED[1:])
    return slide


def _slide_table(
    slide: Slide, heading: str, cards: list[tuple[str, str]], place: tuple[float, float, float], first: float
) -> None:
    """The key figures as a native table (editable, searchable): ``heading`` over two columns when
    given, a label and a value per row; ``first``: the label column's share of the width."""
    from pptx.dml.color import RGBColor
    from pptx.enum.text import PP_ALIGN
    from pptx.util import Inches, Pt

    left, top, width = place
    summary = not heading
    rows = len(cards) + (0 if summary else 1)
    size = Pt(11 if len(cards) <= 10 else 10)
    shape = slide.shapes.add_table(rows, 2, Inches(left), Inches(top), Inches(width), Inches(0.32 * rows))
    table = shape.table
    table.first_row = not summary
    table.columns[0].width = Inches(width * first)
    table.columns[1].width = Inches(width * (1 - first))
    cells: list[tuple[str, str]] = list(cards)
    if not summary:
        table.cell(0, 0).merge(table.cell(0, 1))
        table.cell(0, 0).text = heading
        cells = [("", ""), *cells]
    for i, (label, value) in enumerate(cells):
        if i == 0 and not summary:
            continue
        for j, text in enumerate((label, value)):
            cell = table.cell(i, j)
            cell.text = text
            paragraph = cell.text_frame.paragraphs[0]
            paragraph.font.size = size
            paragraph.font.color.rgb = RGBColor.from_string(_INK[1:])
            paragraph.font.bold = (j == 1) != summary
            paragraph.alignment = PP_ALIGN.RIGHT if j == 1 and not summary else PP_ALIGN.LEFT
            cell.fill.solid()
            cell.fill.fore_color.rgb = RGBColor(0xFF, 0xFF, 0xFF) if i % 2 else RGBColor(0xF5, 0xF7, 0xFA)
    if not summary:  # the heading as on the PDF page: dark on light grey
        header = table.cell(0, 0)
        header.fill.solid()
        header.fill.fore_color.rgb = RGBColor(0xEE, 0xF1, 0xF4)
        font = header.text_frame.paragraphs[0].font
        font.size, font.bold = size, True
        font.color.rgb = RGBColor.from_string(_INK[1:])


def report_caption(filters: Filters, lang: str, today: date) -> str:
    """Period, filters and date, for the report's cover."""
    parts = [f"{t('active.period', lang)} {fmt_date(filters.start, lang)} – {fmt_date(filters.end, lang)}"]
    for dim, chosen in (("segment", filters.segments), ("region", filters.regions), ("channel", filters.channels)):
        parts.append(f"{t(f'filter.{dim}', lang)}: {', '.join(chosen) if chosen else t('filter.all', lang)}")
    return " · ".join(parts) + f" · {fmt_date(today, lang)}"

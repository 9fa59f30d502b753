"""Figure cards that wrap to the next line when the page is narrow, instead of cutting a value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import streamlit as st

from kpi.registry import KPIS
from render.format import NA, fmt_money, fmt_money_short, fmt_value
from render.text import md, t

__all__ = ["CARD_WIDTH", "STATUS_COLORS", "Card", "cards", "target_card"]

#: Wide enough for "€ 12.345.678" or "1.234,5 %" in the metric's font, with the border's padding.
CARD_WIDTH = 232


@dataclass(frozen=True)
class Card:
    label: str
    value: str
    delta: str | None = None
    #: "normal"/"inverse": green or red by the delta's sign; a colour name: always that colour
    delta_color: Literal["normal", "inverse", "off", "green", "orange", "red"] = "normal"
    help: str | None = None
    delta_arrow: Literal["auto", "up", "down", "off"] = "auto"


#: a target's status, in the same colour on every page
STATUS_COLORS: dict[str, Literal["green", "orange", "red"]] = {
    "on_track": "green",
    "at_risk": "orange",
    "off_track": "red",
}


def target_card(row: Any, lang: str, currency: str) -> Card:
    """A card for one judged target (a row of ``service.targets.target_rows``): the KPI and period,
    the value it is judged on, the status against the target in its colour, and in the help what
    happened so far and, for a projection, its band."""
    spec = KPIS[row.kpi]
    money = spec.format == "money"

    def shown(v: float, short: bool = False) -> str:
        if money:  # in full: a projection of € 5.025.443 against € 5.000.000 is not "€ 5,0 Mln" twice
            return fmt_money_short(v, lang, currency) if short else fmt_money(v, lang, currency, 0)
        return fmt_value(v, spec.format, lang, currency)

    label = t("targets.card_label", lang, kpi=spec.label(lang), period=row.period)
    if row.segment:
        label += f" · {md(str(row.segment))}"
    if row.status is None:
        return Card(label, NA, help=t("targets.no_value", lang))
    status = t(f"targets.status.{row.status}", lang)
    lines = [t(f"targets.basis.{row.basis}", lang, actual=shown(row.actual))]
    if row.basis == "projection" and pd.notna(row.low):
        lines.append(t("targets.band", lang, low=shown(row.low), high=shown(row.high)))
    return Card(
        label,
        shown(row.value),
        delta=t("targets.delta", lang, status=status, target=shown(row.target, short=row.target >= 1_000_000)),
        delta_color=STATUS_COLORS[row.status],
        delta_arrow="off",
        help="  \n".join(lines),
    )


def cards(items: Sequence[Card]) -> None:
    """One row of cards of a fixed width, wrapping onto more rows on a narrow screen."""
    with st.container(horizontal=True, gap="small"):
        for card in items:
            st.metric(
                card.label,
                card.value,
                delta=card.delta,
                delta_color=card.delta_color,
                help=card.help,
                delta_arrow=card.delta_arrow,
                border=True,
                width=CARD_WIDTH,
            )

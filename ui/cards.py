"""Figure cards that wrap to the next line when the page is narrow, instead of cutting a value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import streamlit as st

__all__ = ["CARD_WIDTH", "Card", "cards"]

#: Wide enough for "€ 12.345.678" or "1.234,5 %" in the metric's font, with the border's padding.
CARD_WIDTH = 232


@dataclass(frozen=True)
class Card:
    label: str
    value: str
    delta: str | None = None
    delta_color: Literal["normal", "inverse", "off"] = "normal"
    help: str | None = None


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
                border=True,
                width=CARD_WIDTH,
            )

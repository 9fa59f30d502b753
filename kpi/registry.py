"""Every KPI declared once: its name, format and direction; its label and meaning in each language
live in the message catalogues (``kpi.<name>``, ``kpi.<name>.help``). Pages, exports and the CLI read
these declarations, so a KPI is named and formatted the same everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from i18n import t

__all__ = ["KPI", "KPIS", "kpi"]

Format = Literal["money", "percent", "count", "ratio"]


@dataclass(frozen=True)
class KPI:
    name: str
    format: Format
    higher_is_better: bool = True

    def label(self, lang: str) -> str:
        """The KPI's name in ``lang``, from the message catalogues (``kpi.<name>``)."""
        return t(f"kpi.{self.name}", lang)

    def help(self, lang: str) -> str:
        """What the KPI means, in ``lang`` (``kpi.<name>.help``)."""
        return t(f"kpi.{self.name}.help", lang)


KPIS: dict[str, KPI] = {
    k.name: k
    for k in (
        KPI("revenue", "money"),
        KPI("margin", "money"),
        KPI("margin_pct", "percent"),
        KPI("orders", "count"),
        KPI("aov", "money"),
        KPI("active_customers", "count"),
        KPI("new_customers", "count"),
        KPI("repeat_customers", "count"),
        KPI("avg_clv", "money"),
        KPI("clv_cac", "ratio"),
        KPI("avg_cev", "money"),
        KPI("engagement_share", "percent"),
        KPI("marketing_roi", "percent"),
        KPI("marketing_roi_to_date", "percent"),
        KPI("at_risk_customers", "count", higher_is_better=False),
        KPI("lapsed_customers", "count", higher_is_better=False),
        KPI("at_risk_value", "money", higher_is_better=False),
    )
}


def kpi(name: str) -> KPI:
    """The declaration of KPI ``name``; ``ValueError`` if there is none."""
    try:
        return KPIS[name]
    except KeyError:
        raise ValueError(f"Unknown KPI {name!r}; the KPIs are {', '.join(KPIS)}.") from None

"""Every KPI declared once: its name, labels, meaning and format. Pages, exports and the CLI read
these declarations, so a KPI is named and formatted the same everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["KPI", "KPIS", "kpi"]

Format = Literal["money", "percent", "count", "ratio"]


@dataclass(frozen=True)
class KPI:
    name: str
    label_it: str
    label_en: str
    help_it: str
    help_en: str
    format: Format
    higher_is_better: bool = True

    def label(self, lang: str) -> str:
        return self.label_it if lang == "it" else self.label_en

    def help(self, lang: str) -> str:
        return self.help_it if lang == "it" else self.help_en


KPIS: dict[str, KPI] = {
    k.name: k
    for k in (
        KPI(
            "revenue",
            "Ricavi",
            "Revenue",
            "Somma dei ricavi netti IVA degli ordini nel periodo, resi inclusi (righe negative).",
            "Sum of order revenue net of VAT in the period, refunds included (negative rows).",
            "money",
        ),
        KPI(
            "margin",
            "Margine lordo",
            "Gross margin",
            "Ricavi meno costo del venduto; dove il costo manca, ricavi × margine predefinito.",
            "Revenue minus cost of goods; where the cost is missing, revenue × default margin.",
            "money",
        ),
        KPI(
            "margin_pct",
            "Margine %",
            "Margin %",
            "Margine lordo diviso ricavi. La variazione è in punti percentuali.",
            "Gross margin divided by revenue. The change is in percentage points.",
            "percent",
        ),
        KPI(
            "orders",
            "Ordini",
            "Orders",
            "Ordini nel periodo, esclusi i resi (righe con ricavo negativo).",
            "Orders in the period, refunds (negative revenue) excluded.",
            "count",
        ),
        KPI(
            "aov",
            "Scontrino medio",
            "Average order value",
            "Ricavi divisi per il numero di ordini.",
            "Revenue divided by the number of orders.",
            "money",
        ),
        KPI(
            "active_customers",
            "Clienti attivi",
            "Active customers",
            "Clienti con almeno un acquisto nel periodo.",
            "Customers with at least one purchase in the period.",
            "count",
        ),
        KPI(
            "new_customers",
            "Nuovi clienti",
            "New customers",
            "Clienti il cui primo acquisto di sempre cade nel periodo.",
            "Customers whose first purchase ever falls in the period.",
            "count",
        ),
        KPI(
            "repeat_customers",
            "Clienti abituali",
            "Repeat customers",
            "Clienti attivi nel periodo con acquisti in almeno due giorni diversi, fino alla fine del periodo.",
            "Customers active in the period who have bought on at least two different days up to its end.",
            "count",
        ),
        KPI(
            "avg_clv",
            "CLV medio",
            "Average CLV",
            "Valore medio per cliente: margine a oggi meno assistenza e acquisizione, più il margine futuro atteso.",
            "Mean value per customer: margin to date minus service and acquisition cost, plus expected future margin.",
            "money",
        ),
        KPI(
            "clv_cac",
            "CLV : CAC",
            "CLV : CAC",
            "Valore dei clienti acquisiti con campagne, prima del costo di acquisizione, diviso quel costo.",
            "Value of the customers acquired by campaigns, before acquisition cost, divided by that cost.",
            "ratio",
        ),
        KPI(
            "marketing_roi",
            "ROI marketing",
            "Marketing ROI",
            "Tutte le campagne: (valore dei clienti acquisiti prima del costo di acquisizione − spesa) ÷ spesa.",
            "All campaigns: (value of the acquired customers before acquisition cost − spend) ÷ spend.",
            "percent",
        ),
        KPI(
            "at_risk_customers",
            "Clienti a rischio",
            "Customers at risk",
            "Clienti la cui probabilità di essere ancora clienti, sul loro ritmo d'acquisto, è tra 30 % e 70 %.",
            "Customers whose probability of still being customers, on their own rhythm, is between 30 % and 70 %.",
            "count",
            higher_is_better=False,
        ),
        KPI(
            "lapsed_customers",
            "Clienti persi",
            "Lapsed customers",
            "Clienti la cui probabilità di essere ancora clienti è sotto il 30 %.",
            "Customers whose probability of still being customers is below 30 %.",
            "count",
            higher_is_better=False,
        ),
    )
}


def kpi(name: str) -> KPI:
    """The declaration of KPI ``name``; ``ValueError`` if there is none."""
    try:
        return KPIS[name]
    except KeyError:
        raise ValueError(f"Unknown KPI {name!r}; the KPIs are {', '.join(KPIS)}.") from None

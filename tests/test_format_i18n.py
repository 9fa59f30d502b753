"""Money, numbers and dates per locale; the string catalogue is complete in both languages."""

from __future__ import annotations

import ast
import math
from datetime import date
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from render.format import fmt_change, fmt_count, fmt_date, fmt_money, fmt_percent, fmt_value
from render.text import _CATALOGUE, has_key, t

ROOT = Path(__file__).resolve().parent.parent


def test_money_in_italian_and_english() -> None:
    assert fmt_money(1234.56, "it") == "€ 1.234,56"
    assert fmt_money(1234.56, "en") == "€1,234.56"
    assert fmt_money(1234567.8, "it", decimals=0) == "€ 1.234.568"
    assert fmt_money(math.nan) == "n/d"
    assert fmt_money(None) == "n/d"


def test_numbers_percent_dates() -> None:
    assert fmt_count(12345, "it") == "12.345"
    assert fmt_count(12345, "en") == "12,345"
    assert fmt_percent(0.1234, "it") == "12,3 %"
    assert fmt_percent(0.1234, "en") == "12.3%"
    assert fmt_change(0.05, "relative", "it") == "+5,0 %"
    assert fmt_change(-0.012, "points", "it") == "-1,2 pp"
    assert fmt_change(math.nan, "relative") == "n/d"
    assert fmt_date(date(2026, 10, 31), "it") == "31/10/2026"
    assert fmt_date(date(2026, 10, 31), "en") == "31 Oct 2026"
    assert fmt_value(0.5, "percent", "it") == "50,0 %"
    assert fmt_value(1500, "money", "it") == "€ 1.500"


@settings(max_examples=400, deadline=None)
@given(
    value=st.one_of(
        st.floats(-1e13, 1e13, allow_nan=False),
        st.integers(-(10**12), 10**12),
        st.sampled_from([0.0, -0.0, 0.005, 0.015, 0.125, 2.5, -2.5, 1234.565, 999_999.995]),
    ),
    lang=st.sampled_from(["it", "en"]),
    decimals=st.sampled_from([0, 1, 2]),
)
def test_the_formats_are_babels_own(value: float, lang: str, decimals: int) -> None:
    """Each pattern is parsed once and kept: the text is exactly what Babel's ``format_*`` functions
    give, rounding, grouping and signs included."""
    from babel.numbers import format_currency, format_decimal, format_percent

    locale = {"it": "it_IT", "en": "en_IE"}[lang]
    zeros = "." + "0" * decimals if decimals else ""
    money = f"¤ #,##0{zeros}" if lang == "it" else f"¤#,##0{zeros}"
    assert fmt_money(value, lang, decimals=decimals) == format_currency(
        value, "EUR", format=money, locale=locale, currency_digits=False
    )
    percent = f"#,##0{zeros} %" if lang == "it" else f"#,##0{zeros}%"
    assert fmt_percent(value, lang, decimals=decimals) == format_percent(value, percent, locale=locale)
    assert fmt_count(value, lang) == format_decimal(round(float(value)), locale=locale)
    assert fmt_value(value, "ratio", lang) == format_decimal(value, "#,##0.00", locale=locale)
    assert fmt_change(value, "points", lang).endswith(
        format_decimal(abs(value) * 100, "#,##0.0", locale=locale) + " pp"
    )


def test_every_catalogue_entry_has_both_languages() -> None:
    for key, (it, en) in _CATALOGUE.items():
        assert it.strip() and en.strip(), key
    assert t("page.overview", "it") == "Panoramica"
    assert t("page.overview", "en") == "Overview"
    assert t("no.such.key") == "no.such.key"


def test_every_literal_key_used_in_the_code_exists() -> None:
    """Each t("…") with a literal key in ui/ and pages/ is in the catalogue."""
    missing = []
    for path in [*ROOT.glob("ui/*.py"), *ROOT.glob("pages/*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "t" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and not has_key(arg.value):
                    missing.append(f"{path.name}: {arg.value}")
    assert missing == []

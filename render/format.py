"""Numbers, money, percentages and dates for the UI language, through Babel (CLDR)."""

from __future__ import annotations

import functools
import math
from datetime import date, datetime

from babel import Locale
from babel.dates import format_date
from babel.numbers import NumberPattern, get_currency_symbol, parse_pattern

__all__ = [
    "NA",
    "babel_locale",
    "fmt_change",
    "fmt_count",
    "fmt_date",
    "fmt_money",
    "fmt_money_short",
    "fmt_month",
    "fmt_percent",
    "fmt_value",
    "plotly_separators",
]

NA = "n/d"
_LOCALES = {"it": "it_IT", "en": "en_IE"}


def babel_locale(lang: str) -> str:
    return _LOCALES.get(lang, "it_IT")


@functools.lru_cache(maxsize=8)
def _locale(lang: str) -> Locale:
    return Locale.parse(babel_locale(lang))


@functools.lru_cache(maxsize=64)
def _pattern(text: str) -> NumberPattern:
    """A number pattern parsed once: Babel's ``format_*`` functions parse theirs at every call, which
    was most of the cost of a chart's thousand hover texts."""
    return parse_pattern(text)


def _decimal(value: float, lang: str, pattern: str | None = None) -> str:
    """``babel.numbers.format_decimal`` with a parsed pattern (the locale's own without one)."""
    locale = _locale(lang)
    parsed = _pattern(pattern) if pattern is not None else locale.decimal_formats[None]
    return parsed.apply(value, locale)


def _missing(value: float | int | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_money(value: float | None, lang: str = "it", currency: str = "EUR", decimals: int = 2) -> str:
    """``€ 1.234,56`` in Italian, ``€1,234.56`` in English; ``n/d`` for a missing value."""
    if value is None or _missing(value):
        return NA
    zeros = "." + "0" * decimals if decimals else ""
    pattern = f"¤ #,##0{zeros}" if lang == "it" else f"¤#,##0{zeros}"
    return _pattern(pattern).apply(value, _locale(lang), currency=currency, currency_digits=False)


def fmt_money_short(value: float | None, lang: str = "it", currency: str = "EUR") -> str:
    """Money for a card: ``€ 3,2 Mln`` / ``€3.2M`` from a million up, else whole units."""
    if value is None or _missing(value):
        return NA
    if abs(value) < 1_000_000:
        return fmt_money(value, lang, currency, decimals=0)
    millions = _decimal(value / 1_000_000, lang, "#,##0.0")
    symbol = get_currency_symbol(currency, locale=babel_locale(lang))
    return f"{symbol} {millions} Mln" if lang == "it" else f"{symbol}{millions}M"


def fmt_count(value: float | int | None, lang: str = "it") -> str:
    if _missing(value):
        return NA
    return _decimal(round(float(value)), lang)  # type: ignore[arg-type]


def fmt_percent(value: float | None, lang: str = "it", decimals: int = 1) -> str:
    """0.123 → ``12,3 %`` (it) / ``12.3%`` (en)."""
    if value is None or _missing(value):
        return NA
    zeros = "." + "0" * decimals if decimals else ""
    pattern = f"#,##0{zeros} %" if lang == "it" else f"#,##0{zeros}%"
    return _pattern(pattern).apply(value, _locale(lang))


def fmt_change(value: float | None, kind: str, lang: str = "it") -> str:
    """A signed change: relative (0.05 → ``+5,0 %``) or in percentage points (0.012 → ``+1,2 pp``)."""
    if _missing(value):
        return NA
    assert value is not None
    sign = "+" if value > 0 else ("-" if value < 0 else "±")
    if kind == "points":
        number = _decimal(abs(value) * 100, lang, "#,##0.0")
        return f"{sign}{number} pp"
    return sign + fmt_percent(abs(value), lang)


def fmt_value(value: float | None, kind: str, lang: str = "it", currency: str = "EUR") -> str:
    """Format by a KPI's declared format: money, percent, count or ratio."""
    if kind == "money":
        return fmt_money(value, lang, currency, decimals=0)
    if kind == "percent":
        return fmt_percent(value, lang)
    if kind == "ratio":
        if value is None or _missing(value):
            return NA
        return _decimal(value, lang, "#,##0.00")
    return fmt_count(value, lang)


def fmt_date(value: date | datetime | None, lang: str = "it") -> str:
    """``31/10/2026`` (it) / ``31 Oct 2026`` (en)."""
    if value is None:
        return NA
    pattern = "dd/MM/yyyy" if lang == "it" else "d MMM yyyy"
    return format_date(value, pattern, locale=babel_locale(lang))


def fmt_month(value: date | datetime, lang: str = "it", long: bool = False) -> str:
    """``ott 2026`` (it) / ``Oct 2026`` (en); ``long``: ``ottobre 2026`` / ``October 2026``."""
    return format_date(value, "MMMM yyyy" if long else "MMM yyyy", locale=babel_locale(lang))


def plotly_separators(lang: str) -> str:
    """Plotly's ``layout.separators``: decimal mark then thousands mark."""
    return ",." if lang == "it" else ".,"

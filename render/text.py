"""The UI's access to the message catalogues (``i18n/locales``): ``t`` for a message, ``tn`` for a
message with plural forms, and the few sentences assembled from several messages."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import TYPE_CHECKING

from i18n import LANGUAGES, has_key, t, tn
from kpi.overview import Headline

if TYPE_CHECKING:
    from service.alerts import Alert

__all__ = [
    "LANGUAGES",
    "_CATALOGUE",
    "alert_text",
    "chart_text",
    "has_key",
    "headline_text",
    "join_phrases",
    "md",
    "t",
    "tn",
    "verdicts_sentence",
    "visible",
]


def _pairs() -> dict[str, tuple[str, str]]:
    """Every singular message as (Italian, English), for checks over the whole catalogue."""
    from babel.messages.pofile import read_po

    from i18n import DOMAIN, LOCALES_DIR

    texts: dict[str, dict[str, str]] = {}
    for lang in ("it", "en"):
        with (LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as handle:
            for message in read_po(handle, locale=lang):
                if message.id and isinstance(message.id, str):
                    texts.setdefault(message.id, {})[lang] = str(message.string)
    return {key: (pair.get("it", ""), pair.get("en", "")) for key, pair in texts.items()}


#: key → (Italian, English) for every singular message
_CATALOGUE: dict[str, tuple[str, str]] = _pairs()


def chart_text(value: object) -> str:
    """A value as literal text in a Plotly label or table: ``&``, ``<`` and ``>`` escaped, since
    Plotly reads a subset of HTML there (a name ``<a href=…>`` would become a link); quotes as they
    are, since Plotly shows ``&quot;`` as it is written. ``%{`` is written ``%&#123;`` so that a
    name put in a hover template is not read as one of its placeholders."""
    return html.escape(visible(value), quote=False).replace("%{", "%&#123;")


_MARKDOWN = re.compile(r"([\\`*_\[\]<>$~|&@])")  # inline markdown, HTML and entities, $…$
#: a colon that opens Streamlit's ``:red[…]``, ``:material/…:`` or an emoji ``:tada:``, or a URL's ``://``
_COLON = re.compile(r":(?=//|[\w/+\-]+\\?[:\[])")
#: characters that reorder or hide text (bidirectional overrides and isolates, zero-width marks):
#: a name holding one can pass for another name — shown as their code instead
_HIDDEN = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def visible(value: object) -> str:
    """``value`` as text with the characters that reorder or hide text shown as ``<U+202E>``."""
    return _HIDDEN.sub(lambda m: f"<U+{ord(m.group()):04X}>", str(value))


def md(value: object) -> str:
    """A data value (a name) as literal text inside a line of Streamlit markdown or a table cell: every
    character that starts something inline (links, images, emphasis, code, HTML and entities,
    ``:red[…]``, ``:material/…:``, ``$…$``, automatic links) escaped, line breaks as spaces, hidden
    characters shown (``visible``). Numbers such as ``€ 1.234,50`` or ``30 %`` are left as they are."""
    text = " ".join(visible(value).splitlines())
    # addresses are made links after the escapes are read: a word joiner (U+2060, invisible) keeps
    # "http://…", "www.…" and "name@host" from being recognised as one
    text = re.sub(r"(?i)(://|\bwww(?=\.)|@)", lambda m: m.group()[:1] + "\u2060" + m.group()[1:], text)
    text = _MARKDOWN.sub(r"\\\1", text)
    return _COLON.sub(r"\\:", text)


def join_phrases(phrases: list[str], lang: str) -> str:
    """ "a, b e c" / "a, b and c"."""
    if len(phrases) <= 1:
        return "".join(phrases)
    last = " e " if lang == "it" else " and "
    return ", ".join(phrases[:-1]) + last + phrases[-1]


def verdicts_sentence(pays_first: int, pays_lifetime: int, does_not_pay: int, lang: str) -> str:
    """ "2 campagne ripagano al primo acquisto, 1 nella vita del cliente e 1 non ripaga." """
    parts = [
        tn("marketing.verdict_first", pays_first, lang),
        tn("marketing.verdict_life", pays_lifetime, lang),
        tn("marketing.verdict_none", does_not_pay, lang),
    ]
    return join_phrases(parts, lang) + "."


def headline_text(news: Headline, lang: str, currency: str = "EUR") -> str:
    """The overview's opening: revenue and its change, the largest other move, the first thing to do."""
    from kpi.registry import KPIS
    from render.format import fmt_change, fmt_count, fmt_money_short

    revenue = fmt_money_short(news.revenue, lang, currency)
    change = fmt_change(news.revenue_change, "relative", lang)
    if change == "n/d":  # no previous period to compare with
        parts = [t("headline.revenue_only", lang, revenue=revenue)]
    else:
        parts = [t("headline.revenue", lang, revenue=revenue, change=change)]
    if news.mover:
        parts.append(
            t(
                "headline.mover",
                lang,
                kpi=KPIS[news.mover].label(lang),
                change=fmt_change(news.mover_change, news.mover_kind, lang),
            )
        )
    if news.action == "at_risk_rising":
        action = t(
            "headline.at_risk_rising",
            lang,
            before=fmt_count(news.at_risk_before, lang),
            now=fmt_count(news.at_risk_now, lang),
        )
    elif news.action == "stop_campaigns":
        names = join_phrases([md(n) for n in news.campaigns_to_stop], lang)
        action = tn("headline.stop_campaigns", len(news.campaigns_to_stop), lang, names=names)
    elif news.action == "call_at_risk":
        action = tn("headline.call_at_risk", news.at_risk_now, lang, n=fmt_count(news.at_risk_now, lang))
    else:
        action = t("headline.none", lang)
    return " ".join(parts) + "  \n**" + action + "**"


def alert_text(alert: Alert, lang: str, currency: str = "EUR") -> str:
    """One alert in a sentence of ``lang`` (plain text: ``md`` it for Markdown)."""
    from kpi.registry import KPIS
    from render.format import fmt_change, fmt_count, fmt_money, fmt_month, fmt_percent, fmt_value

    values = alert.values
    kpi = KPIS[values["kpi"]] if "kpi" in values else None

    def shown(name: str) -> str:
        value, how = values[name], alert.formats.get(name, "text")
        if how == "label":
            return KPIS[value].label(lang)
        if how == "kpi":
            assert kpi is not None
            return fmt_value(value, kpi.format, lang, currency)
        if how in ("change", "points"):
            return fmt_change(value, "points" if how == "points" else "relative", lang)
        if how == "money":
            return fmt_money(value, lang, currency, 0)
        if how == "percent":
            return fmt_percent(value, lang, 0)
        if how == "count":
            return fmt_count(value, lang)
        if how == "month":
            return fmt_month(value, lang, long=True)
        if how == "period":  # a target's year (2026) or month ("2026-10": October 2026)
            text = str(value)
            return fmt_month(date(int(text[:4]), int(text[5:7]), 1), lang, long=True) if len(text) == 7 else text
        if how == "names":
            return join_phrases([f"«{n}»" if lang == "it" else f"“{n}”" for n in value], lang)
        if how == "entity":
            return t(f"entity.{value}", lang)
        return str(value)

    params = {name: shown(name) for name in values}
    if alert.kind == "rule":
        label = params["kpi"] + (f" ({values['segment']})" if values["segment"] else "")
        params["what"] = values["name"] or label
    if alert.kind == "target":
        params["segment"] = f" ({values['segment']})" if values["segment"] else ""
    key = f"alert.{alert.kind}" + (f".{alert.variant}" if alert.variant else "")
    if alert.kind in ("at_risk_value", "campaign", "data_health"):
        return tn(key, alert.count, lang, **params)
    return t(key, lang, **params)

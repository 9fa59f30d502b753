"""Every sentence Cruscotto shows — pages, report, command line, error messages — in gettext
catalogues, one ``.po`` file per language under ``i18n/locales/<lang>/LC_MESSAGES/cruscotto.po``.

Message ids are stable keys (``overview.segments_title``), so a wording can change without touching
the code; plural forms follow each catalogue's ``Plural-Forms`` header through ``ngettext``. The
catalogues are read with Babel and compiled in memory on first use: nothing to build by hand. A
language is a ``.po`` file: drop ``de/LC_MESSAGES/cruscotto.po`` beside the others and it appears in
the language switch (missing messages fall back to English).

Italian articles elide before numbers read with a vowel ("il 86 %" → "l'86 %", "dei 11" → "degli
11"), applied to every filled-in Italian message.
"""

from __future__ import annotations

import functools
import gettext
import io
import re
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = ["DOMAIN", "LANGUAGES", "LOCALES_DIR", "elide_italian", "has_key", "t", "tn"]

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "cruscotto"
_FIRST = ("it", "en")  # the original two languages lead the switch; others follow by code


def _catalogue_path(lang: str) -> Path:
    return LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _languages() -> dict[str, str]:
    codes = sorted(p.parents[1].name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    codes.sort(key=lambda c: (_FIRST.index(c) if c in _FIRST else len(_FIRST), c))
    return {code: str(Locale.parse(code).get_display_name(code)).capitalize() for code in codes}


#: language code → its name in that language, e.g. {"it": "Italiano", "en": "English"}
LANGUAGES: dict[str, str] = _languages()


@functools.cache
def _catalogue(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (English for an unknown code); other languages fall back
    to English message by message."""
    if lang not in LANGUAGES:
        lang = "en"
    with _catalogue_path(lang).open("rb") as handle:
        catalogue = read_po(handle, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    translations = gettext.GNUTranslations(compiled)
    if lang != "en":
        translations.add_fallback(_catalogue("en"))
    return translations


@functools.cache
def _keys() -> frozenset[str]:
    with _catalogue_path("en").open("rb") as handle:
        catalogue = read_po(handle, locale="en", domain=DOMAIN)
    return frozenset(m.id if isinstance(m.id, str) else m.id[0] for m in catalogue if m.id)


def has_key(key: str) -> bool:
    return key in _keys()


def t(key: str, lang: str = "it", **values: object) -> str:
    """The text of ``key`` in ``lang``, with ``{name}`` fields filled from ``values``.

    An unknown key returns the key itself, so a missing string shows up instead of failing."""
    text = _catalogue(lang).gettext(key)
    return _finish(text, lang, values)


def tn(key: str, count: int | float, lang: str = "it", **values: object) -> str:
    """The plural form of ``key`` that fits ``count`` in ``lang``; ``{n}`` is ``count`` unless
    ``values`` give it (already formatted, e.g. ``n="1.234"``)."""
    number = round(count) if isinstance(count, float) and count.is_integer() else count
    text = _catalogue(lang).ngettext(key, key, int(number) if float(number).is_integer() else 2)
    return _finish(text, lang, {"n": count, **values})


def _finish(text: str, lang: str, values: dict[str, object]) -> str:
    if values:
        text = text.format(**values)
        if lang == "it":
            text = elide_italian(text)
    return text


# An article or articulated preposition, then a number: "il 86", "dei 11", "al 1,5".
_BEFORE_NUMBER = re.compile(
    r"\b(il|del|al|dal|nel|sul|i|dei|ai|dai|nei|sui) (?=(\d[\d.\u202f\u00a0]*)(?:,\d+)?)", re.IGNORECASE
)
_ELIDED = {
    "il": "l'",
    "del": "dell'",
    "al": "all'",
    "dal": "dall'",
    "nel": "nell'",
    "sul": "sull'",
    "i": "gli ",
    "dei": "degli ",
    "ai": "agli ",
    "dai": "dagli ",
    "nei": "negli ",
    "sui": "sugli ",
}


def _reads_with_vowel(integer_part: str) -> bool:
    """Whether an Italian number (digits with ``.`` or spaces between thousands) is read starting
    with a vowel: uno, otto, undici, ottanta…, ottocento…, undicimila, un milione — not mille."""
    groups = [g for g in re.split(r"[.\u202f\u00a0]", integer_part) if g]
    if len(groups) == 1 and len(groups[0]) > 3:  # written without separators
        digits = groups[0]
        head = len(digits) % 3 or 3
        groups = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    lead, scale = groups[0].lstrip("0") or "0", len(groups) - 1
    if lead.startswith("8") or lead == "11":
        return True
    return lead == "1" and scale != 1  # uno, un milione; but mille


def elide_italian(text: str) -> str:
    """ "il 86 %" → "l'86 %", "dei 11 clienti" → "degli 11 clienti"; other articles stay."""

    def fix(match: re.Match[str]) -> str:
        article = match.group(1)
        if not _reads_with_vowel(match.group(2)):
            return match.group(0)
        elided = _ELIDED[article.lower()]
        if article[0].isupper():
            elided = elided.capitalize()
        return elided

    return _BEFORE_NUMBER.sub(fix, text)

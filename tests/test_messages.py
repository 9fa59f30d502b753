"""The message catalogues: both languages hold the same messages with the same fields, every key
the code names exists, every message renders with 0, 1, 2 and 11 in good grammar, and each card
names one number."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from i18n import DOMAIN, LANGUAGES, LOCALES_DIR, elide_italian, has_key, t, tn
from kpi.registry import KPIS
from render.format import fmt_count

ROOT = Path(__file__).resolve().parents[1]


def _catalogue(lang: str) -> dict[str, str | tuple[str, ...]]:
    with (LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as handle:
        return {(m.id if isinstance(m.id, str) else m.id[0]): m.string for m in read_po(handle, locale=lang) if m.id}


IT, EN = _catalogue("it"), _catalogue("en")
PLURAL = sorted(k for k, v in EN.items() if isinstance(v, tuple))


def _fields(text: str | tuple[str, ...]) -> set[str]:
    texts = text if isinstance(text, tuple) else (text,)
    return {name for s in texts for _, name, _, _ in string.Formatter().parse(s) if name}


def test_both_languages_hold_the_same_messages_with_the_same_fields() -> None:
    assert set(LANGUAGES) >= {"it", "en"}
    assert set(IT) == set(EN)
    for key in EN:
        assert isinstance(IT[key], tuple) == isinstance(EN[key], tuple), key
        assert _fields(IT[key]) == _fields(EN[key]), key
        texts = IT[key] if isinstance(IT[key], tuple) else (IT[key],)
        assert all(s.strip() for s in texts), key


# Where a count meets a noun in the wrong number, or an article before a number read with a vowel.
ITALIAN_SLIPS = re.compile(
    r"\b1 (campagne|clienti|mesi|acquisti|proposte|righe|persi)\b|\b1 non ripagano\b|\b(il|del|dei|i) (1|8|11)\b"
    r"|\b(0|2|11) (campagna|cliente|mese|acquisto|proposta) |\b(0|2|11) non ripaga\b"
)
ENGLISH_SLIPS = re.compile(
    r"\b1 (campaigns|customers|months|purchases|proposals)\b|\b1 do not\b|\b1 campaigns pay\b"
    r"|\b(0|2|11) (campaign|customer|month|purchase|proposal)\b(?!s)|\b(0|2|11) does not\b"
)


@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize("n", [0, 1, 2, 11])
def test_every_message_renders_with_0_1_2_11(lang: str, n: int) -> None:
    slips = ITALIAN_SLIPS if lang == "it" else ENGLISH_SLIPS
    for key, text in EN.items():
        # counts travel as {n}, with plural forms; other fields are names, dates, amounts
        values = {name: fmt_count(n, lang) if name == "n" else "Xyz" for name in _fields(text)}
        shown = tn(key, n, lang, **values) if key in PLURAL else t(key, lang, **values)
        assert "{" not in shown and (shown != key or "." not in key), (key, shown)
        assert not slips.search(shown), (lang, key, shown)


def test_plural_forms_follow_the_count() -> None:
    assert tn("lifecycle.months_ago", 1, "it") == "1 mese prima"
    assert tn("lifecycle.months_ago", 11, "it") == "11 mesi prima"
    assert tn("lifecycle.months_ago", 0, "en") == "0 months before"
    assert tn("marketing.verdict_none", 1, "en") == "1 does not pay"
    assert tn("marketing.verdict_none", 2, "it") == "2 non ripagano"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("porta il 86 % dei ricavi", "porta l'86 % dei ricavi"),
        ("il 8 %", "l'8 %"),
        ("il 11,5 %", "l'11,5 %"),
        ("il 1 %", "l'1 %"),
        ("il 18 %", "il 18 %"),
        ("il 100 %", "il 100 %"),
        ("il 1.000", "il 1.000"),
        ("il 11.000", "l'11.000"),
        ("il 1.000.000", "l'1.000.000"),
        ("Il 80 % dei clienti", "L'80 % dei clienti"),
        ("dei 11 clienti", "degli 11 clienti"),
        ("i 8 clienti", "gli 8 clienti"),
        ("i 3 clienti", "i 3 clienti"),
        ("al 8 %", "all'8 %"),
        ("nel 2026", "nel 2026"),
    ],
)
def test_italian_elision(text: str, expected: str) -> None:
    assert elide_italian(text) == expected


def test_every_key_named_in_the_code_exists() -> None:
    """t("…"), tn("…") and render("…") with a literal key, anywhere in the code."""
    missing = []
    files = [ROOT / "app.py", ROOT / "cli.py", *ROOT.glob("ui/*.py"), *ROOT.glob("pages/*.py")]
    files += [*ROOT.glob("kpi/*.py"), *ROOT.glob("data/*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            key = node.args[0].value
            known = isinstance(key, str) and has_key(key) and (name == "tn") == (key in PLURAL)
            if name in ("t", "tn") and isinstance(key, str) and "." in key and not known:
                missing.append(f"{path.name}: {name}({key!r})")
    assert missing == []


# The labels of every card that shows a number, across pages.
CARD_KEYS = [f"kpi.{name}" for name in KPIS] + [
    "value.card_avg_clv",
    "value.card_hist",
    "value.card_future",
    "value.card_alive",
    "value.card_clv_cac",
    "marketing.card_spend",
    "marketing.card_customers",
    "marketing.card_cac",
    "upsell.card_candidates",
    "upsell.card_customers",
    "upsell.card_value",
    "lifecycle.prospects",
    *[f"stage.{s}" for s in ("new", "reactivated", "loyal", "active", "at_risk", "lapsed")],
]


@pytest.mark.parametrize("lang", ["it", "en"])
def test_one_name_per_number(lang: str) -> None:
    labels = {key: t(key, lang) for key in CARD_KEYS}
    # CLV : CAC is one number on the overview and on the customer-value page
    distinct = {k: v for k, v in labels.items() if k != "value.card_clv_cac"}
    assert len(set(distinct.values())) == len(distinct), labels
    assert labels["value.card_clv_cac"] == labels["kpi.clv_cac"]
    # "active" names the lifecycle stage only
    word = re.compile(r"\battiv[oi]\b" if lang == "it" else r"\bactive\b", re.IGNORECASE)
    assert [k for k, v in labels.items() if word.search(v)] == ["stage.active"]

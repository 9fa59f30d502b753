"""What the data layer says when it cannot go on, in Italian and English.

Errors carry a message code and its values instead of a finished sentence, so the dashboard shows
them in the reader's language and the command line in English. The database's own words (a
driver message) travel as the value ``detail`` and are shown as they are.
"""

from __future__ import annotations

from i18n import t

__all__ = ["MESSAGES", "Explained", "render"]

_DOMAINS = ("config.", "mapping.", "source.", "mail.")


def _messages() -> dict[str, tuple[str, str]]:
    from babel.messages.pofile import read_po

    from i18n import DOMAIN, LOCALES_DIR

    texts: dict[str, dict[str, str]] = {}
    for lang in ("it", "en"):
        with (LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as handle:
            for message in read_po(handle, locale=lang):
                if isinstance(message.id, str) and message.id.startswith(_DOMAINS):
                    texts.setdefault(message.id, {})[lang] = str(message.string)
    return {code: (pair.get("it", ""), pair.get("en", "")) for code, pair in texts.items()}


#: code → (Italian, English), from the message catalogues (``i18n/locales``); ``{name}`` fields
#: are filled from the error's values.
MESSAGES: dict[str, tuple[str, str]] = _messages()


def render(code: str, lang: str = "en", **params: object) -> str:
    """The message ``code`` in ``lang`` with its values filled in; ``KeyError`` for an unknown code."""
    if code not in MESSAGES:
        raise KeyError(code)
    return t(code, lang, **params)


class Explained(Exception):
    """An error with a message code and values; ``message`` is English, ``localized`` any language."""

    def __init__(self, code: str, **params: object) -> None:
        render(code, "en", **params)  # an unknown code or a missing value fails here, at the raise
        self.code = code
        self.params = params
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return render(self.code, "en", **self.params)

    def localized(self, lang: str) -> str:
        return render(self.code, lang, **self.params)

    def __reduce__(self) -> tuple[object, ...]:
        # rebuilt from its attributes, not from the message alone: a cached result that holds an
        # error (``st.cache_data`` pickles) comes back whole, whatever the subclass adds (a key)
        return (_rebuild, (type(self), dict(self.__dict__)))


def _rebuild(cls: type[Explained], state: dict[str, object]) -> Explained:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error.message)
    return error

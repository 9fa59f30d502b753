"""What the data layer says when it cannot go on, in Italian and English.

Errors carry a message code and its values instead of a finished sentence, so the dashboard shows
them in the reader's language and the command line in English. The database's own words (a
driver message) travel as the value ``detail`` and are shown as they are.
"""

from __future__ import annotations

__all__ = ["MESSAGES", "Explained", "render"]

#: code → (Italian, English); ``{name}`` fields are filled from the error's values.
MESSAGES: dict[str, tuple[str, str]] = {
    # settings (cruscotto.toml)
    "config.no_file": ("il file di impostazioni {path} non esiste.", "the settings file {path} does not exist."),
    "config.toml_invalid": ("{path} non è un TOML valido ({detail}).", "{path} is not valid TOML ({detail})."),
    "config.unknown_entity": (
        "entità sconosciuta; le entità sono {names}.",
        "unknown entity; the entities are {names}.",
    ),
    "config.entity_shape": (
        "deve essere una tabella con 'table' e 'columns', oppure 'sql'.",
        "must be a table with 'table' and 'columns', or 'sql'.",
    ),
    "config.table_or_sql": (
        "indica 'table' (con 'columns' facoltative) oppure 'sql', non entrambe.",
        "give either 'table' (with optional 'columns') or 'sql', not both.",
    ),
    "config.sql_string": ("deve essere un testo con una sola SELECT.", "must be a string holding one SELECT."),
    "config.table_name": ("deve essere il nome di una tabella.", "must be a table name."),
    "config.columns_map": (
        "deve associare i nomi canonici ai nomi delle tue colonne.",
        "must map canonical names to your column names.",
    ),
    "config.unknown_column": (
        "'{canonical}' non è una colonna di {entity}; le sue colonne sono {columns}.",
        "'{canonical}' is not a column of {entity}; its columns are {columns}.",
    ),
    "config.column_name": ("deve indicare una colonna della tua tabella.", "must name a column of your table."),
    "config.entities_table": (
        "deve essere una tabella di entità ([entities.orders] …).",
        "must be a table of entities ([entities.orders] …).",
    ),
    "config.section_table": ("deve essere una tabella di impostazioni.", "must be a table of settings."),
    "config.unknown_setting": (
        "impostazione sconosciuta; le impostazioni sono {names}.",
        "unknown setting; the settings are {names}.",
    ),
    "config.value": ("valore non valido: {detail}", "invalid value: {detail}"),
    "config.margin_range": ("deve essere tra 0 e 1 (0,40 è il 40 %).", "must be between 0 and 1 (0.40 is 40 %)."),
    "config.not_negative": ("non può essere negativo.", "cannot be negative."),
    "config.positive_months": ("deve essere un numero positivo di mesi.", "must be a positive number of months."),
    "config.positive_seconds": ("deve essere un numero positivo di secondi.", "must be a positive number of seconds."),
    "config.locale": ("deve essere 'it' o 'en'.", "must be 'it' or 'en'."),
    "config.date_order": (
        "deve essere 'DMY' (31/12/2025) o 'MDY' (12/31/2025).",
        "must be 'DMY' (31/12/2025) or 'MDY' (12/31/2025).",
    ),
    "config.lifecycle_bounds": (
        "serve 0 ≤ lapsed_below ≤ active_min ≤ 1.",
        "need 0 ≤ lapsed_below ≤ active_min ≤ 1.",
    ),
    "config.lifecycle_share": (
        "deve essere tra 0 e 1 (0,2 è il 20 % migliore).",
        "must be between 0 and 1 (0.2 is the top 20 %).",
    ),
    "config.lifecycle_gaps": (
        "new_days deve essere positivo e 0 < alive_gaps < lapsed_gaps.",
        "new_days must be positive and 0 < alive_gaps < lapsed_gaps.",
    ),
    # the mapping, checked against the database
    "mapping.sql_empty": ("è vuota; scrivi una SELECT.", "is empty; write one SELECT."),
    "mapping.sql_many": (
        "contiene più di un'istruzione; scrivi una sola SELECT.",
        "holds more than one statement; write a single SELECT.",
    ),
    "mapping.sql_not_select": ("deve essere una sola SELECT, non {first}.", "must be a single SELECT, not {first}."),
    "mapping.sql_writes": (
        "deve solo leggere i dati; '{word}' non è ammesso.",
        "must only read data; '{word}' is not allowed.",
    ),
    "mapping.sql_fails": (
        "la query non riesce sul database: {detail}",
        "the query fails on the database: {detail}",
    ),
    "mapping.table_unreadable": (
        "la tabella '{table}' non si legge: {detail}",
        "table '{table}' cannot be read: {detail}",
    ),
    "mapping.table_default_missing": (
        "nelle impostazioni non c'è [entities.{entity}], quindi si cercava una tabella '{table}', "
        "che non si legge: {detail}",
        "there is no [entities.{entity}] in the settings, so a table named '{table}' was expected; "
        "it cannot be read: {detail}",
    ),
    "mapping.column_missing_table": (
        "la colonna '{wanted}' per {canonical} non è nella tabella '{table}'; le sue colonne sono: {columns}.",
        "column '{wanted}' for {canonical} is not in table '{table}'; it has: {columns}.",
    ),
    "mapping.column_missing_sql": (
        "la query non restituisce la colonna '{canonical}'; restituisce: {columns}.",
        "the query returns no column '{canonical}'; it returns: {columns}.",
    ),
    # the database
    "source.bad_url": (
        "l'URL del database non si interpreta: controlla la forma (dialetto://utente@host/db).",
        "the database URL cannot be parsed: check its form (dialect://user@host/db).",
    ),
    "source.file_missing": ("il file {path} non esiste.", "the file {path} does not exist."),
    "source.unreachable": ("{url} non risponde: {detail}", "{url} does not answer: {detail}"),
    "source.timeout": (
        "una query ha superato il limite di {seconds} s ed è stata fermata, per non appesantire il database. "
        "Restringi il periodo o i filtri, oppure alza [source] statement_timeout_s.",
        "a query ran past the {seconds} s limit and was stopped, to spare the database. "
        "Narrow the period or the filters, or raise [source] statement_timeout_s.",
    ),
}


def render(code: str, lang: str = "en", **params: object) -> str:
    """The message ``code`` in ``lang`` ("it" or "en") with its values filled in."""
    italian, english = MESSAGES[code]
    return (italian if lang == "it" else english).format(**params)


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

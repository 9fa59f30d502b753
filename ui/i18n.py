"""One string catalogue for the whole app: Italian (default) and English."""

from __future__ import annotations

__all__ = ["LANGUAGES", "t"]

LANGUAGES: dict[str, str] = {"it": "Italiano", "en": "English"}

_CATALOGUE: dict[str, tuple[str, str]] = {
    # shell
    "app.title": ("Cruscotto", "Cruscotto"),
    "nav.dashboard": ("Cruscotto", "Dashboard"),
    "nav.data": ("Dati", "Data"),
    "page.overview": ("Panoramica", "Overview"),
    "page.health": ("Qualità dei dati", "Data health"),
    "sidebar.language": ("Lingua", "Language"),
    "sidebar.filters": ("Filtri", "Filters"),
    "filter.segment": ("Segmento", "Segment"),
    "filter.region": ("Regione", "Region"),
    "filter.channel": ("Canale", "Channel"),
    "filter.period": ("Periodo", "Period"),
    "filter.from": ("Dal", "From"),
    "filter.to": ("Al", "To"),
    "filter.all": ("Tutti", "All"),
    "filter.placeholder": ("Tutti", "All"),
    "filter.share_hint": (
        "I filtri sono nell'indirizzo della pagina: copialo per condividere questa vista.",
        "The filters are in the page address: copy it to share this view.",
    ),
    "period.12m": ("Ultimi 12 mesi", "Last 12 months"),
    "period.ytd": ("Da inizio anno", "Year to date"),
    "period.6m": ("Ultimi 6 mesi", "Last 6 months"),
    "period.3m": ("Ultimi 3 mesi", "Last 3 months"),
    "period.all": ("Tutto lo storico", "All history"),
    "period.custom": ("Personalizzato", "Custom"),
    "active.filters": ("Filtri attivi", "Active filters"),
    "active.period": ("Periodo", "Period"),
    "active.compared": ("confronto con", "compared with"),
    "demo.building": ("Preparo il database dimostrativo…", "Preparing the demo database…"),
    "demo.ready": ("Database dimostrativo pronto.", "Demo database ready."),
    "demo.banner": (
        "Dati dimostrativi di un torrefattore italiano. Per collegare il tuo database vedi il README.",
        "Demo data of an Italian coffee roaster. To connect your own database see the README.",
    ),
    # errors
    "error.config": ("Le impostazioni non sono valide", "The settings are not valid"),
    "error.source": ("Il database non è raggiungibile", "The database cannot be reached"),
    "error.mapping": ("La mappatura dei dati va corretta", "The data mapping needs fixing"),
    "error.fix_key": ("Chiave da correggere", "Key to fix"),
    "error.retry": (
        "Correggi la causa e ricarica la pagina: il cruscotto riprova da solo.",
        "Fix the cause and reload the page: the dashboard tries again by itself.",
    ),
    "error.query": ("La query non è riuscita", "The query failed"),
    "error.bad_period": ("Periodo non valido", "Invalid period"),
    "see.health": ("Dettagli nella pagina Qualità dei dati.", "Details on the Data health page."),
    "empty.orders": (
        "Nessun ordine per questi filtri: allarga il periodo o togli qualche filtro.",
        "No orders for these filters: widen the period or remove a filter.",
    ),
    # overview
    "overview.title": ("Panoramica", "Overview"),
    "overview.prev_value": ("Periodo precedente", "Previous period"),
    "overview.monthly": ("Ricavi e margine per mese", "Revenue and margin by month"),
    "overview.segments": ("Segmenti", "Segments"),
    "overview.monthly_title": (
        "Ricavi mensili per segmento: il mese migliore è {best} ({value})",
        "Monthly revenue by segment: the best month was {best} ({value})",
    ),
    "overview.segments_title": (
        "{segment} porta il {share} dei ricavi",
        "{segment} brings {share} of revenue",
    ),
    "overview.margin_line": ("Margine lordo (totale)", "Gross margin (total)"),
    "overview.table": ("Dati per segmento", "Figures by segment"),
    "axis.month": ("Mese", "Month"),
    "axis.revenue": ("Ricavi", "Revenue"),
    "axis.segment": ("Segmento", "Segment"),
    "col.segment": ("Segmento", "Segment"),
    "col.revenue": ("Ricavi", "Revenue"),
    "col.margin": ("Margine", "Margin"),
    "col.margin_pct": ("Margine %", "Margin %"),
    "col.orders": ("Ordini", "Orders"),
    "col.customers": ("Clienti", "Customers"),
    "col.share": ("Quota ricavi", "Revenue share"),
    "hover.revenue": ("Ricavi", "Revenue"),
    "hover.margin": ("Margine", "Margin"),
    "hover.share": ("Quota", "Share"),
    # data health
    "health.title": ("Qualità dei dati", "Data health"),
    "health.source": ("Sorgente", "Source"),
    "health.connection": ("Connessione", "Connection"),
    "health.not_filtered": (
        "Questa pagina descrive tutti i dati letti: i filtri di segmento e periodo non si applicano.",
        "This page describes all the data read: the segment and period filters do not apply.",
    ),
    "health.dialect": ("Database", "Database"),
    "health.origin": ("Configurata da", "Configured by"),
    "origin.demo": ("database dimostrativo incorporato", "embedded demo database"),
    "origin.config": ("file di impostazioni", "settings file"),
    "origin.env": ("variabile CRUSCOTTO_DB_URL", "CRUSCOTTO_DB_URL variable"),
    "origin.secrets": (".streamlit/secrets.toml", ".streamlit/secrets.toml"),
    "health.config_file": ("File di impostazioni", "Settings file"),
    "health.no_config": ("nessuno (valori predefiniti)", "none (defaults)"),
    "health.entities": ("Tabelle lette", "Tables read"),
    "health.exclusions": ("Righe escluse per motivo", "Rows excluded by reason"),
    "health.no_exclusions": (
        "Nessuna riga esclusa: tutti i dati letti sono usabili.",
        "No rows excluded: every row read is usable.",
    ),
    "health.mapping": ("Mappatura", "Mapping"),
    "health.missing": ("Tabelle non collegate", "Tables not connected"),
    "health.all_mapped": ("Tutte le tabelle sono collegate.", "Every table is connected."),
    "health.summary": (
        "{used} righe usate su {read} lette; {excluded} escluse.",
        "{used} rows used of {read} read; {excluded} excluded.",
    ),
    "col.entity": ("Tabella", "Table"),
    "col.status": ("Stato", "Status"),
    "col.mapped_to": ("Origine", "Source"),
    "col.rows_read": ("Righe lette", "Rows read"),
    "col.rows_used": ("Righe usate", "Rows used"),
    "col.rows_excluded": ("Righe escluse", "Rows excluded"),
    "col.first_date": ("Dal", "From"),
    "col.last_date": ("Al", "To"),
    "col.reason": ("Motivo", "Reason"),
    "col.rows": ("Righe", "Rows"),
    "col.canonical": ("Colonna", "Column"),
    "col.source_column": ("Colonna di origine", "Source column"),
    "col.required": ("Obbligatoria", "Required"),
    "col.disables": ("Cosa manca senza", "What is missing without it"),
    "status.ok": ("collegata", "connected"),
    "status.missing": ("non collegata", "not connected"),
    "status.error": ("errore", "error"),
    "yes": ("sì", "yes"),
    "no": ("no", "no"),
    "absent": ("— (assente)", "— (absent)"),
    "reason.missing_id": ("Identificativo mancante", "Missing id"),
    "reason.missing_customer": ("Cliente mancante", "Missing customer"),
    "reason.missing_date": ("Data mancante", "Missing date"),
    "reason.bad_date": ("Data non leggibile", "Unreadable date"),
    "reason.bad_amount": ("Importo mancante o non numerico", "Missing or non-numeric amount"),
    "reason.future_date": ("Data nel futuro", "Date in the future"),
    "reason.duplicate_id": ("Identificativo ripetuto", "Repeated id"),
    "entity.orders": ("Ordini", "Orders"),
    "entity.order_lines": ("Righe d'ordine", "Order lines"),
    "entity.customers": ("Clienti", "Customers"),
    "entity.products": ("Prodotti", "Products"),
    "entity.campaigns": ("Campagne", "Campaigns"),
    "entity.leads": ("Contatti (lead)", "Leads"),
    "entity.tickets": ("Ticket di assistenza", "Support tickets"),
    "disables.orders": ("Tutto: gli ordini sono indispensabili.", "Everything: orders are required."),
    "disables.order_lines": (
        "Prodotti acquistati e opportunità per affinità.",
        "Products bought and affinity-based opportunities.",
    ),
    "disables.customers": (
        "Filtri per segmento, regione e canale; acquisizione per campagna.",
        "Segment, region and channel filters; acquisition by campaign.",
    ),
    "disables.products": ("La scala dei prodotti per le opportunità.", "The product ladder for opportunities."),
    "disables.campaigns": ("ROI delle campagne e costo di acquisizione.", "Campaign ROI and acquisition cost."),
    "disables.leads": ("Costo per contatto e tasso di conversione.", "Cost per lead and conversion rate."),
    "disables.tickets": (
        "Costo di assistenza nel valore cliente (CLV).",
        "Service cost in customer lifetime value (CLV).",
    ),
}


def t(key: str, lang: str = "it", **values: object) -> str:
    """The text of ``key`` in ``lang`` ("it" or "en"), with ``{name}`` fields filled from ``values``.

    An unknown key returns the key itself, so a missing string shows up instead of failing."""
    pair = _CATALOGUE.get(key)
    if pair is None:
        return key
    text = pair[0] if lang == "it" else pair[1]
    return text.format(**values) if values else text


def has_key(key: str) -> bool:
    return key in _CATALOGUE

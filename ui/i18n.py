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
        "Quando la causa è risolta, premi Riprova: il cruscotto rilegge i dati da solo.",
        "Once the cause is fixed, press Try again: the dashboard reads the data again by itself.",
    ),
    "error.query": ("La query non è riuscita", "The query failed"),
    "error.timeout": ("La query è stata fermata", "The query was stopped"),
    "error.retry_button": ("Riprova", "Try again"),
    "loading": ("Calcolo in corso sui dati…", "Working through the data…"),
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
    "health.warnings": ("Da controllare", "Worth a look"),
    "health.warnings_note": (
        "Righe valide e usate nei calcoli, ma che meritano uno sguardo nel gestionale.",
        "Valid rows, used in the figures, that deserve a look in the source system.",
    ),
    "warn.unknown_customer": (
        "Ordini di clienti assenti dall'anagrafica (contati nel segmento n/d)",
        "Orders of customers missing from the customers table (counted under segment n/d)",
    ),
    "warn.refunds": (
        "Resi e note di credito (importo negativo: riducono fatturato e margine)",
        "Refunds and credit notes (negative amount: they lower revenue and margin)",
    ),
    "warn.idle_customers": (
        "Clienti in anagrafica senza ordini (contatti o dati da verificare)",
        "Customers without orders (prospects, or data to check)",
    ),
    "col.check": ("Controllo", "Check"),
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
    # customer value
    "page.value": ("Valore clienti", "Customer value"),
    "empty.customers": ("Nessun cliente per questi filtri.", "No customers for these filters."),
    "value.title": ("Valore clienti", "Customer value"),
    "value.intro": (
        "Valore di ogni cliente (CLV): margine già guadagnato, meno assistenza e acquisizione, più il margine "
        "atteso nei prossimi {months} mesi (attualizzato al {rate} annuo). Modello stimato su tutti i clienti "
        "fino al {as_of}; i filtri scelgono quali clienti mostrare.",
        "Value of each customer (CLV): margin earned so far, minus service and acquisition cost, plus the margin "
        "expected over the next {months} months (discounted at {rate} a year). Model fitted on every customer up "
        "to {as_of}; the filters choose which customers are shown.",
    ),
    "value.no_model": (
        "Il modello predittivo non è stimabile: solo {repeat} clienti hanno comprato più di una volta "
        "(ne servono almeno {needed}). Qui sotto solo il valore storico (margine meno costi); lo stato dei "
        "clienti è giudicato sul loro ritmo d'acquisto.",
        "The predictive model cannot be fitted: only {repeat} customers bought more than once (at least "
        "{needed} are needed). Below, historical value only (margin minus costs); customers' status is judged "
        "on their own buying rhythm.",
    ),
    "value.card_avg_clv": ("CLV medio", "Average CLV"),
    "value.card_avg_clv_help": (
        "Valore totale medio per cliente: storico più futuro atteso.",
        "Mean total value per customer: historical plus expected future.",
    ),
    "value.card_hist": ("Già guadagnato", "Earned so far"),
    "value.card_hist_help": (
        "Margine a oggi meno costo di assistenza (ticket) e di acquisizione, medio per cliente.",
        "Margin to date minus service (tickets) and acquisition cost, per customer on average.",
    ),
    "value.card_future": ("Margine futuro", "Future margin"),
    "value.card_future_help": (
        "Somma del margine atteso (attualizzato) di tutti i clienti selezionati.",
        "Sum of the expected (discounted) margin of all the selected customers.",
    ),
    "value.card_alive": ("Attivi (stima)", "Active (estimate)"),
    "value.card_alive_help": (
        "Somma delle probabilità che ciascuno dei {customers} clienti selezionati stia ancora comprando.",
        "Sum of each of the {customers} selected customers' probability of still buying.",
    ),
    "value.card_clv_cac": ("CLV : CAC", "CLV : CAC"),
    "value.card_clv_cac_help": (
        "Valore dei clienti acquisiti con campagne (prima del costo di acquisizione) diviso il loro costo di "
        "acquisizione. Sotto 1 non ripaga; 3 o più è sano.",
        "Value of the customers acquired by campaigns (before acquisition cost) divided by their acquisition cost. "
        "Below 1 it does not pay back; 3 or more is healthy.",
    ),
    "value.dist_title": (
        "Metà dei clienti vale meno di {median}",
        "Half of the customers are worth less than {median}",
    ),
    "value.total_clv": ("CLV totale", "Total CLV"),
    "value.historical": ("Già guadagnato", "Earned so far"),
    "value.residual": ("Futuro atteso", "Expected future"),
    "value.mean_clv": (
        "CLV medio per cliente: pieno = già guadagnato, chiaro = futuro atteso",
        "Mean CLV per customer: solid = earned so far, light = expected future",
    ),
    "value.segment_title": (
        "{segment}: il valore medio più alto ({value} per cliente)",
        "{segment}: the highest mean value ({value} per customer)",
    ),
    "value.segment_title_one": (
        "{segment}: {value} per cliente in media",
        "{segment}: {value} per customer on average",
    ),
    "value.no_cac": ("Nessun cliente con un costo di acquisizione noto.", "No customer with a known acquisition cost."),
    "value.break_even": ("pareggio", "break-even"),
    "value.cac_title_bad": (
        "{channel}: CLV : CAC {ratio}, sotto il livello sano di 3",
        "{channel}: CLV : CAC {ratio}, below the healthy 3",
    ),
    "value.cac_title_good": (
        "Tutti rendono almeno 3 volte il costo di acquisizione ({channel}: {ratio})",
        "All return at least 3× their acquisition cost ({channel}: {ratio})",
    ),
    "value.clv_cac_axis": ("CLV : CAC (valore ÷ costo di acquisizione)", "CLV : CAC (value ÷ acquisition cost)"),
    "value.group_by": ("CLV : CAC per", "CLV : CAC by"),
    "value.by_channel": ("canale di acquisizione", "acquisition channel"),
    "value.by_segment": ("segmento", "segment"),
    "value.alive_title": (
        "Chi è ancora attivo: probabilità per frequenza e recenza",
        "Who is still active: probability by frequency and recency",
    ),
    "value.repeat_axis": ("Acquisti ripetuti", "Repeat purchases"),
    "value.last_purchase_axis": ("Ultimo acquisto, {unit} dopo il primo", "Last purchase, {unit} after the first"),
    "value.actual": ("Avvenuti", "Actual"),
    "value.predicted": ("Previsti dal modello", "Predicted by the model"),
    "value.holdout_chart": (
        "Acquisti per cliente nel periodo di verifica",
        "Purchases per customer in the check period",
    ),
    "value.calibration_x": (
        "Acquisti ripetuti prima del periodo di verifica",
        "Repeat purchases before the check period",
    ),
    "value.holdout_mean": ("Acquisti medi per cliente", "Mean purchases per customer"),
    "value.check": ("Quanto fidarsi delle previsioni", "How far to trust the forecast"),
    "value.holdout_sentence": (
        "Stimato sui dati fino al {cal}, il modello prevedeva **{predicted}** acquisti ripetuti dal {start} al {end}: "
        "ne sono avvenuti **{actual}** ({diff}). Errore medio per cliente: {mae} acquisti.",
        "Fitted on the data up to {cal}, the model expected **{predicted}** repeat purchases from {start} to {end}: "
        "**{actual}** happened ({diff}). Mean error per customer: {mae} purchases.",
    ),
    "value.holdout_none": (
        "La verifica del modello richiede almeno sei mesi di storico.",
        "The model check needs at least six months of history.",
    ),
    "value.holdout_failed": ("Verifica non possibile: {reason}", "Check not possible: {reason}"),
    "value.top_title": ("I clienti di maggior valore", "The most valuable customers"),
    "value.card_title": ("Scheda cliente", "Customer card"),
    "value.pick_customer": ("Cliente", "Customer"),
    "value.timeline_title": ("{n} acquisti, margine {share} dei ricavi", "{n} purchases, margin {share} of revenue"),
    "value.cumulative_margin": ("Margine cumulato", "Cumulative margin"),
    "value.status": ("Stato", "Status"),
    "status.active": ("attivo", "active"),
    "status.at_risk": ("a rischio", "at risk"),
    "status.lapsed": ("perso", "lapsed"),
    "value.model": ("Il modello", "The model"),
    "value.unit": ("Unità di tempo del modello", "Model time unit"),
    "value.model_params": (
        "BG/NBD (acquisti): r = {r}, α = {alpha}, a = {a}, b = {b}, log-verosimiglianza {ll}. "
        "Gamma-Gamma (margine per acquisto): p = {p}, q = {q}, γ = {gamma}. {customers} clienti, {repeat} con "
        "acquisti ripetuti.",
        "BG/NBD (purchases): r = {r}, α = {alpha}, a = {a}, b = {b}, log-likelihood {ll}. "
        "Gamma-Gamma (margin per purchase): p = {p}, q = {q}, γ = {gamma}. {customers} customers, {repeat} with "
        "repeat purchases.",
    ),
    "unit.day": ("giorni", "days"),
    "unit.week": ("settimane", "weeks"),
    "unit.month": ("mesi", "months"),
    "col.customer": ("Cliente", "Customer"),
    "col.name": ("Nome", "Name"),
    "col.margin_to_date": ("Margine a oggi", "Margin to date"),
    "col.service_cost": ("Assistenza", "Service cost"),
    "col.acquisition_cost": ("Acquisizione", "Acquisition cost"),
    "col.p_alive": ("P(attivo)", "P(alive)"),
    "col.expected_12m": ("Acquisti attesi 12 mesi", "Expected purchases 12 months"),
    "col.residual": ("Futuro atteso", "Expected future"),
    "col.total_clv": ("CLV", "CLV"),
    "col.tickets": ("Ticket", "Tickets"),
    "col.first_purchase": ("Primo acquisto", "First purchase"),
    "col.last_purchase": ("Ultimo acquisto", "Last purchase"),
    # marketing
    "page.marketing": ("Marketing", "Marketing"),
    "marketing.title": ("Marketing", "Marketing"),
    "marketing.intro": (
        "Ogni campagna giudicata sul primo acquisto e sul valore dei clienti che ha portato, fino al {as_of}. "
        "Un cliente è attribuito alla campagna della sua anagrafica, altrimenti a quella del suo primo contatto "
        "convertito. Con un filtro di segmento, regione o canale ogni campagna conta la quota di spesa dei suoi "
        "clienti selezionati (il CAC non cambia).",
        "Each campaign judged on the first purchase and on the value of the customers it brought, up to {as_of}. "
        "A customer belongs to the campaign in their customer record, else to that of their first converted lead. "
        "With a segment, region or channel filter each campaign counts the share of its spend of its selected "
        "customers (the CAC does not change).",
    ),
    "marketing.no_campaigns": (
        "Per il ROI delle campagne collega la tabella delle campagne (`entities.campaigns`: campaign_id, name, "
        "spend) e il legame dei clienti (`customers.campaign_id` o `leads`). Intanto, il valore dei clienti per "
        "canale di acquisizione:",
        "For campaign ROI, connect the campaigns table (`entities.campaigns`: campaign_id, name, spend) and how "
        "customers link to it (`customers.campaign_id` or `leads`). Meanwhile, customer value by acquisition "
        "channel:",
    ),
    "marketing.no_campaign_customers": (
        "Nessuna campagna con clienti acquisiti.",
        "No campaign with acquired customers.",
    ),
    "marketing.no_spend": ("Nessuna campagna con spesa registrata.", "No campaign with recorded spend."),
    "marketing.card_spend": ("Spesa marketing", "Marketing spend"),
    "marketing.card_customers": ("Clienti acquisiti", "Customers acquired"),
    "marketing.card_cac": ("CAC medio", "Average CAC"),
    "marketing.card_roi_to_date": ("ROI a oggi", "ROI to date"),
    "marketing.card_roi_lifetime": ("ROI vita cliente", "Lifetime ROI"),
    "marketing.card_roi_lifetime_help": (
        "(Valore dei clienti acquisiti prima del costo di acquisizione − spesa) ÷ spesa, con il valore futuro atteso.",
        "(Value of the acquired customers before acquisition cost − spend) ÷ spend, expected future value included.",
    ),
    "marketing.verdicts": (
        "{pays_first} campagne ripagano al primo acquisto, {pays_lifetime} nella vita del cliente, "
        "{does_not_pay} non ripagano.",
        "{pays_first} campaigns pay back at the first purchase, {pays_lifetime} over the customers' life, "
        "{does_not_pay} do not pay.",
    ),
    "marketing.table": ("Campagne", "Campaigns"),
    "marketing.channels": ("Canali a confronto", "Channels compared"),
    "marketing.break_even": ("pareggio (CLV = CAC)", "break-even (CLV = CAC)"),
    "marketing.clv_per_customer": ("CLV per cliente prima del CAC", "CLV per customer before CAC"),
    "marketing.spend": ("Spesa", "Spend"),
    "marketing.scatter_title": (
        "{n} campagne su {total}: clienti che valgono più di quanto costano",
        "{n} of {total} campaigns: customers worth more than they cost",
    ),
    "marketing.roi_first": ("ROI primo acquisto", "ROI on first purchase"),
    "marketing.roi_to_date": ("ROI a oggi", "ROI to date"),
    "marketing.roi_lifetime": ("ROI vita cliente", "Lifetime ROI"),
    "marketing.steps_title": (
        "{n} campagne in perdita al primo acquisto ripagano nel tempo",
        "{n} campaigns losing at the first purchase pay back over time",
    ),
    "marketing.month": ("mese", "month"),
    "marketing.spend_recovered": ("spesa recuperata", "spend recovered"),
    "marketing.payback_title": ("{name} si è ripagata in {months} mesi", "{name} paid back in {months} months"),
    "marketing.payback_none": ("Nessuna campagna si è ancora ripagata", "No campaign has paid back yet"),
    "marketing.months_since_start": ("Mesi dall'inizio della campagna", "Months since the campaign started"),
    "marketing.recovered": ("Spesa recuperata dal margine", "Spend recovered by margin"),
    "marketing.channel_title": (
        "{channel}: il ROI vita cliente più alto ({roi})",
        "{channel}: the highest lifetime ROI ({roi})",
    ),
    "marketing.payback_chart": ("Tempo di rientro", "Payback"),
    "verdict.pays_first": ("Ripaga al primo acquisto", "Pays at first purchase"),
    "verdict.pays_lifetime": ("Ripaga nella vita del cliente", "Pays over the customer's life"),
    "verdict.does_not_pay": ("Non ripaga: fermare o ripensare", "Does not pay: stop or rethink"),
    "verdict.no_spend": ("Spesa non registrata", "No spend recorded"),
    "col.campaign": ("Campagna", "Campaign"),
    "col.channel": ("Canale", "Channel"),
    "col.spend": ("Spesa", "Spend"),
    "col.leads": ("Contatti", "Leads"),
    "col.cost_per_lead": ("Costo per contatto", "Cost per lead"),
    "col.conversion_rate": ("Conversione", "Conversion"),
    "col.cac": ("CAC", "CAC"),
    "col.roi_first": ("ROI 1° acquisto", "ROI 1st purchase"),
    "col.roi_to_date": ("ROI a oggi", "ROI to date"),
    "col.roi_lifetime": ("ROI vita", "Lifetime ROI"),
    "col.clv_cac": ("CLV : CAC", "CLV : CAC"),
    "col.payback": ("Rientro (mesi)", "Payback (months)"),
    "col.verdict": ("Giudizio", "Verdict"),
    "col.avg_clv": ("CLV medio", "Average CLV"),
    # lifecycle
    "page.lifecycle": ("Ciclo di vita", "Lifecycle"),
    "lifecycle.title": ("Ciclo di vita", "Lifecycle"),
    "lifecycle.intro": (
        "Ogni cliente giudicato sul proprio ritmo d'acquisto al {as_of}: **nuovo** (primo acquisto negli ultimi "
        "{new_days} giorni), **riattivato** (ha ricomprato dopo un silenzio da cliente perso), **fedele** (attivo e "
        "nel {top} migliore del suo segmento per valore), **attivo** (probabilità di essere ancora cliente ≥ "
        "{active}), **a rischio** (tra {lapsed} e {active}), **perso** (sotto {lapsed}).",
        "Each customer judged against their own buying rhythm on {as_of}: **new** (first purchase in the last "
        "{new_days} days), **reactivated** (bought again after a lapsed customer's silence), **loyal** (active and "
        "in the top {top} of their segment by value), **active** (probability of still being a customer ≥ "
        "{active}), **at risk** (between {lapsed} and {active}), **lapsed** (below {lapsed}).",
    ),
    "lifecycle.prospects": ("Potenziali", "Prospects"),
    "lifecycle.prospects_help": (
        "Clienti in anagrafica senza acquisti e contatti non convertiti.",
        "Customers on record without purchases, and leads not converted.",
    ),
    "lifecycle.over_time": ("Clienti per stato, mese per mese", "Customers by stage, month by month"),
    "lifecycle.trend_up": (
        "Clienti a rischio in crescita: {then} → {now}",
        "Customers at risk growing: {then} → {now}",
    ),
    "lifecycle.trend_down": ("Clienti a rischio in calo: {then} → {now}", "Customers at risk falling: {then} → {now}"),
    "lifecycle.flow": ("Dove sono andati i clienti", "Where customers went"),
    "lifecycle.flow_from": ("Confronta con", "Compare with"),
    "lifecycle.months_ago": ("{n} mesi prima", "{n} months before"),
    "lifecycle.flow_title": (
        "Dei clienti attivi o fedeli al {before}, il {share} lo è ancora",
        "Of the customers active or loyal on {before}, {share} still are",
    ),
    "lifecycle.cohorts": ("Coorti di acquisizione", "Acquisition cohorts"),
    "lifecycle.retention_tab": ("Clienti che ricomprano", "Customers buying again"),
    "lifecycle.margin_tab": ("Margine per cliente acquisito", "Margin per acquired customer"),
    "lifecycle.retention_title": (
        "Quota di ogni coorte che acquista nel mese k dopo il primo acquisto",
        "Share of each cohort buying in month k after the first purchase",
    ),
    "lifecycle.margin_title": (
        "Margine cumulato per cliente acquisito, k mesi dopo il primo acquisto",
        "Cumulative margin per acquired customer, k months after the first purchase",
    ),
    "lifecycle.months_since": ("Mesi dal primo acquisto", "Months since the first purchase"),
    "lifecycle.cohort": ("Mese di acquisizione", "Acquisition month"),
    "lifecycle.at_risk_title": ("Da chiamare questa settimana", "To call this week"),
    "lifecycle.at_risk_intro": (
        "Clienti a rischio, ordinati per valore in gioco = CLV × calo della probabilità di essere ancora "
        "cliente dal {before}.",
        "Customers at risk, ranked by value at stake = CLV × drop in the probability of still being a customer "
        "since {before}.",
    ),
    "lifecycle.none_at_risk": ("Nessun cliente a rischio per questi filtri.", "No customer at risk for these filters."),
    "lifecycle.download_csv": ("Scarica CSV", "Download CSV"),
    "lifecycle.download_xlsx": ("Scarica Excel", "Download Excel"),
    "col.stage": ("Stato", "Stage"),
    "col.p_before": ("P(attivo) prima", "P(alive) before"),
    "col.at_stake": ("Valore in gioco", "Value at stake"),
    "stage.new": ("Nuovi", "New"),
    "stage.reactivated": ("Riattivati", "Reactivated"),
    "stage.loyal": ("Fedeli", "Loyal"),
    "stage.active": ("Attivi", "Active"),
    "stage.at_risk": ("A rischio", "At risk"),
    "stage.lapsed": ("Persi", "Lapsed"),
    "stage.not_yet": ("Non ancora clienti", "Not yet customers"),
    # upsell
    "page.upsell": ("Opportunità", "Opportunities"),
    "upsell.title": ("Opportunità", "Opportunities"),
    "upsell.intro": (
        "Per ogni cliente ancora attivo, il prossimo passo della tua scala di prodotti, o ciò che comprano i "
        "clienti simili, in ordine di valore atteso = probabilità che sia attivo × quota di clienti simili che "
        "l'hanno preso × margine medio dell'offerta. Dati al {as_of}.",
        "For each customer still active, the next step of your product ladder, or what similar customers buy, "
        "ranked by expected value = probability they are active × share of similar customers who took it × "
        "average margin of the offer. Data as of {as_of}.",
    ),
    "upsell.missing": (
        "Per le opportunità collega le righe d'ordine (`entities.order_lines`: order_id, product_id, revenue) e i "
        "prodotti (`entities.products`: product_id, name; `ladder_step` per la tua scala).",
        "For opportunities, connect the order lines (`entities.order_lines`: order_id, product_id, revenue) and "
        "the products (`entities.products`: product_id, name; `ladder_step` for your ladder).",
    ),
    "upsell.no_ladder": (
        "Nessun prodotto ha un `ladder_step`: le proposte vengono solo dagli acquisti abbinati.",
        "No product has a `ladder_step`: the proposals come from purchases made together only.",
    ),
    "upsell.card_candidates": ("Proposte", "Proposals"),
    "upsell.card_customers": ("Clienti", "Customers"),
    "upsell.card_value": ("Valore atteso", "Expected value"),
    "upsell.filter_stage": ("Stato", "Stage"),
    "upsell.filter_offer": ("Offerta", "Offer"),
    "upsell.filter_min": ("Valore atteso minimo", "Minimum expected value"),
    "upsell.list": ("Lista per le vendite", "List for sales"),
    "upsell.none": ("Nessuna proposta con questi filtri.", "No proposal with these filters."),
    "upsell.reason_ladder": (
        "{share} dei clienti {segment} con {current} sono passati a {offer}",
        "{share} of {segment} customers with {current} moved on to {offer}",
    ),
    "upsell.reason_ladder_start": (
        "{share} dei clienti {segment} hanno preso {offer}",
        "{share} of {segment} customers took {offer}",
    ),
    "upsell.reason_affinity": (
        "{share} dei clienti {segment} con {current} prendono anche {offer} ({lift}× la media)",
        "{share} of {segment} customers with {current} also take {offer} ({lift}× the average)",
    ),
    "upsell.source_ladder": ("scala prodotti", "product ladder"),
    "upsell.source_affinity": ("acquisti abbinati", "bought together"),
    "upsell.funnel": ("Quanti clienti salgono la scala", "How many customers climb the ladder"),
    "upsell.funnel_title": (
        "Passo {step}: {share} dei clienti {segment}",
        "Step {step}: {share} of {segment} customers",
    ),
    "upsell.step": ("Passo della scala", "Ladder step"),
    "upsell.by_offer": ("Valore atteso per offerta", "Expected value by offer"),
    "upsell.by_offer_title": ("{offer}: {value} di margine atteso", "{offer}: {value} of expected margin"),
    "col.offer": ("Offerta", "Offer"),
    "col.why": ("Perché", "Why"),
    "col.source": ("Fonte", "Source"),
    "col.expected_value": ("Valore atteso", "Expected value"),
    "col.share_customers": ("Quota clienti", "Share of customers"),
    "value.ladder": ("Scala prodotti", "Product ladder"),
    "value.ladder_position": ("Passo {step} di {top}: {name}", "Step {step} of {top}: {name}"),
    "value.ladder_none": ("Non ancora sulla scala", "Not on the ladder yet"),
    "value.next_offer": (
        "Prossima proposta: {offer} (valore atteso {value})",
        "Next proposal: {offer} (expected value {value})",
    ),
    "export.menu": ("Esporta", "Export"),
    "export.no_chromium": (
        "Per le immagini serve Chromium (apt-get install chromium); HTML, CSV ed Excel funzionano comunque.",
        "Images need Chromium (apt-get install chromium); HTML, CSV and Excel work anyway.",
    ),
    "report.title": ("Cruscotto — report direzionale", "Cruscotto — executive report"),
    "report.button": ("Report direzionale", "Executive report"),
    "report.building": ("Preparo il report…", "Building the report…"),
    "report.ready": ("Report pronto.", "Report ready."),
    "report.format": ("Formato", "Format"),
    "report.make": ("Prepara il report", "Build the report"),
    "report.download": ("Scarica il report", "Download the report"),
    "report.overview_comment": (
        "Ricavi del periodo {revenue} ({change} rispetto al periodo precedente).",
        "Revenue in the period {revenue} ({change} against the previous period).",
    ),
    "report.value_comment": (
        "Un cliente vale in media {clv}; i clienti selezionati valgono ancora {future} di margine atteso; "
        "CLV : CAC {ratio}.",
        "A customer is worth {clv} on average; the selected customers still hold {future} of expected margin; "
        "CLV : CAC {ratio}.",
    ),
    "report.marketing_comment": (
        "{first} campagne ripagano al primo acquisto, {life} nella vita del cliente, {none} non ripagano "
        "(da fermare o ripensare: {stop}). ROI marketing sulla vita del cliente {roi}.",
        "{first} campaigns pay back at the first purchase, {life} over the customers' life, {none} do not pay "
        "(stop or rethink: {stop}). Marketing ROI over the customers' life {roi}.",
    ),
    "report.lifecycle_comment": (
        "{active} clienti attivi o fedeli, {risk} a rischio, {lapsed} persi.",
        "{active} customers active or loyal, {risk} at risk, {lapsed} lapsed.",
    ),
    "report.upsell_comment": (
        "{n} proposte di vendita per un margine atteso di {value}.",
        "{n} sales proposals for an expected margin of {value}.",
    ),
    "access.title": ("Cruscotto — accesso riservato", "Cruscotto — restricted access"),
    "access.password": ("Password", "Password"),
    "access.enter": ("Entra", "Enter"),
    "access.login": ("Accedi", "Log in"),
    "access.wrong": (
        "Password errata. Il prossimo tentativo attenderà un po' di più.",
        "Wrong password. The next attempt will wait a little longer.",
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

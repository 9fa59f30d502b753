"""Qualità dei dati: the source, the mapping, rows read/used/excluded per table, what is missing."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from data.engine import redact_url
from data.entities import ENTITIES
from data.source import MappingError
from render.format import fmt_count, fmt_date, fmt_money
from render.text import md, t, tn
from ui import loaders
from ui.shell import page_context, show_problem, shown_errors
from ui.widgets import static_table

ctx = page_context()
lang = ctx.lang
st.title(t("health.title", lang))

settings = ctx.settings
st.caption(t("health.not_filtered", lang))
st.subheader(t("health.connection", lang))
if settings is not None:
    url = ctx.source.safe_url if ctx.source else redact_url(settings.url)
    left, middle, right = st.columns(3)
    left.markdown(f"**{t('health.source', lang)}**  \n`{url or t('origin.demo', lang)}`")
    middle.markdown(
        f"**{t('health.dialect', lang)}**  \n{ctx.source.dialect if ctx.source else '—'} · "
        f"{t('health.origin', lang)}: {t('origin.' + settings.url_origin, lang)}"
    )
    right.markdown(f"**{t('health.config_file', lang)}**  \n`{settings.config_path or t('health.no_config', lang)}`")
if ctx.problem or ctx.source is None:
    show_problem(ctx)
    st.stop()

source = ctx.source
broad = loaders.broad_privileges(source, ctx.source_key)
if broad:
    st.warning(t("health.broad_privileges", lang, user=md(source.engine.url.username or "")), icon=":material/shield:")
for name, err in source.errors().items():
    st.error(f"**{t('entity.' + name, lang)}** — {t('error.fix_key', lang)}: `{err.key}`  \n{err.localized(lang)}")

rows: list[dict[str, Any]] = []
reasons: list[dict[str, Any]] = []
unreadable: list[tuple[str, int]] = []  # (entity, rows whose text held bytes that are not UTF-8)
with shown_errors(ctx):
    for name in ENTITIES:
        resolved = source.resolution[name]
        mapping = settings.mapping(name) if settings else None
        origin = mapping.describe() if mapping else name
        if isinstance(resolved, MappingError):
            status = t("status.error" if name in source.errors() else "status.missing", lang)
            rows.append({"entity": name, "status": status, "origin": origin})
            continue
        health = loaders.entity_health(source, ctx.source_key, name, ctx.today)
        rows.append(
            {
                "entity": name,
                "status": t("status.ok", lang),
                "origin": origin,
                "read": health["rows_read"],
                "used": health["rows_used"],
                "excluded": health["rows_read"] - health["rows_used"],
                "first": health["first_date"],
                "last": health["last_date"],
            }
        )
        for reason, count in health["excluded"].items():
            reasons.append({"entity": name, "reason": reason, "rows": count})
        if health.get("unreadable_text"):
            unreadable.append((name, int(health["unreadable_text"])))

read = sum(r.get("read", 0) for r in rows)
used = sum(r.get("used", 0) for r in rows)
st.subheader(t("health.entities", lang))
st.markdown(
    t(
        "health.summary",
        lang,
        used=fmt_count(used, lang),
        read=fmt_count(read, lang),
        excluded=fmt_count(read - used, lang),
    )
)
table = pd.DataFrame(
    {
        t("col.entity", lang): [t("entity." + r["entity"], lang) for r in rows],
        t("col.status", lang): [r["status"] for r in rows],
        t("col.mapped_to", lang): [r["origin"] for r in rows],
        t("col.rows_read", lang): [fmt_count(r["read"], lang) if "read" in r else "—" for r in rows],
        t("col.rows_used", lang): [fmt_count(r["used"], lang) if "used" in r else "—" for r in rows],
        t("col.rows_excluded", lang): [fmt_count(r["excluded"], lang) if "excluded" in r else "—" for r in rows],
        t("col.first_date", lang): [fmt_date(r.get("first"), lang) if r.get("first") else "—" for r in rows],
        t("col.last_date", lang): [fmt_date(r.get("last"), lang) if r.get("last") else "—" for r in rows],
    }
)
static_table(table, lang, empty="empty.health_tables")
for name, count in unreadable:
    st.warning(
        tn("health.unreadable_text", count, lang, entity=t("entity." + name, lang), n=fmt_count(count, lang)),
        icon=":material/text_format:",
    )

st.subheader(t("health.exclusions", lang))
if reasons:
    static_table(
        pd.DataFrame(
            {
                t("col.entity", lang): [t("entity." + r["entity"], lang) for r in reasons],
                t("col.reason", lang): [t("reason." + r["reason"], lang) for r in reasons],
                t("col.rows", lang): [fmt_count(r["rows"], lang) for r in reasons],
            }
        ),
        lang,
    )
else:
    st.success(t("health.no_exclusions", lang))

st.subheader(t("health.warnings", lang))
st.caption(t("health.warnings_note", lang))
if source.available("orders"):
    with shown_errors(ctx):
        warnings = loaders.data_warnings(source, ctx.source_key, ctx.today)
    notes = []
    if warnings.get("orders_unknown_customer"):
        notes.append(
            (
                t("warn.unknown_customer", lang),
                fmt_count(warnings["orders_unknown_customer"], lang),
                fmt_money(warnings["revenue_unknown_customer"], lang, ctx.currency, decimals=0),
            )
        )
    if warnings.get("refunds"):
        notes.append(
            (
                t("warn.refunds", lang),
                fmt_count(warnings["refunds"], lang),
                fmt_money(-warnings["refund_amount"], lang, ctx.currency, decimals=0),
            )
        )
    if warnings.get("customers_without_orders"):
        notes.append((t("warn.idle_customers", lang), fmt_count(warnings["customers_without_orders"], lang), "—"))
    if notes:  # only what has rows to look at; nothing at all is said in one sentence
        static_table(
            pd.DataFrame(notes, columns=[t("col.check", lang), t("col.rows", lang), t("col.revenue", lang)]), lang
        )
    else:
        st.success(t("health.no_warnings", lang))
else:
    st.info(t("health.warnings_need_orders", lang), icon=":material/link_off:")

st.subheader(t("health.missing", lang))
missing = [name for name in ENTITIES if not source.available(name)]
if missing:
    static_table(
        pd.DataFrame(
            {
                t("col.entity", lang): [t("entity." + n, lang) for n in missing],
                t("col.disables", lang): [t("disables." + n, lang) for n in missing],
            }
        ),
        lang,
    )
else:
    st.success(t("health.all_mapped", lang))

st.subheader(t("health.mapping", lang))
for name, spec in ENTITIES.items():
    resolved = source.resolution[name]
    if isinstance(resolved, MappingError):
        continue
    with st.expander(f"{t('entity.' + name, lang)} ← {resolved.mapping.describe()[:80]}"):
        static_table(
            pd.DataFrame(
                {
                    t("col.canonical", lang): list(spec.columns),
                    t("col.source_column", lang): [
                        (resolved.mapping.source_column(c) if resolved.mapping.sql is None else c)
                        if resolved.has(c)
                        else t("absent", lang)
                        for c in spec.columns
                    ],
                    t("col.required", lang): [t("yes" if c in spec.required else "no", lang) for c in spec.columns],
                }
            ),
            lang,
            empty="empty.health_tables",
        )

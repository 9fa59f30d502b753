"""The overview's small form for the owner's targets: a table to edit, saved to the app's own
targets file (``[budget] file``), never to the source. The targets of ``cruscotto.toml`` and of the
source's ``targets`` table are listed, not edited here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from data.settings import SHARE_KPIS, TARGET_KPIS, Target
from data.targets import save_targets
from kpi.registry import KPIS
from render.format import fmt_percent
from render.text import md, t, tn
from service.targets import TargetSet

__all__ = ["targets_form"]


def _shown_value(target: Target, lang: str) -> str:
    """A target's value as the owner writes it: shares as percentages (31 %), amounts in full."""
    if target.kpi in SHARE_KPIS:
        return fmt_percent(target.value, lang, 2).replace("\u00a0", " ")
    if target.value.is_integer():  # 1.200.000 in Italian, 1,200,000 in English: as it is read back
        whole = f"{int(target.value):,}"
        return whole.replace(",", ".") if lang == "it" else whole
    return str(target.value).replace(".", ",") if lang == "it" else str(target.value)


def _rows(targets: tuple[Target, ...], lang: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kpi": [x.kpi for x in targets],
            "period": [x.period for x in targets],
            "segment": [x.segment or "" for x in targets],
            "value": [_shown_value(x, lang) for x in targets],
        },
        dtype=object,
    )


def targets_form(found: TargetSet, segments: list[str], lang: str) -> None:
    """The form, in an expander: the file's targets to edit, a button to save them. Rows that are
    not usable targets are named (row and column) and nothing is written until they are fixed."""
    saved = st.session_state.pop("targets_saved", None)
    with st.expander(t("targets.form_title", lang), icon=":material/flag:", expanded=saved is not None):
        if saved is not None:
            st.success(tn("targets.form_saved", saved, lang, n=saved))
        elsewhere = len(found.elsewhere)
        if elsewhere:
            st.caption(tn("targets.form_elsewhere", elsewhere, lang, n=elsewhere))
        if found.file is None:
            st.info(t("targets.form_off", lang))
            return
        path = Path(found.file)
        writable = os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))
        if not writable:  # the file is replaced whole: its folder must be writable too
            st.info(t("targets.form_read_only", lang, path=md(str(path))))
            return
        if found.file_problems:  # saving would drop the rows it cannot read: fixed in the file first
            st.warning(
                tn(
                    "targets.form_file_problems",
                    len(found.file_problems),
                    lang,
                    n=len(found.file_problems),
                    file=md(path.name),
                ),
                icon=":material/edit_document:",
            )
            return
        st.caption(t("targets.form_help", lang, file=md(path.name)))
        whole = t("targets.whole_company", lang)
        edited = st.data_editor(
            _rows(found.from_file, lang),
            key="targets_form",
            num_rows="dynamic",
            hide_index=True,
            placeholder="—",
            width="stretch",
            column_config={
                "kpi": st.column_config.SelectboxColumn(
                    t("col.kpi", lang),
                    options=list(TARGET_KPIS),
                    format_func=lambda k: KPIS[str(k)].label(lang),
                    required=True,
                ),
                "period": st.column_config.TextColumn(
                    t("col.period", lang), help=t("targets.period_help", lang), required=True, max_chars=7
                ),
                "segment": st.column_config.SelectboxColumn(
                    t("col.segment", lang),
                    options=["", *segments],
                    format_func=lambda s: str(s) or whole,
                ),
                "value": st.column_config.TextColumn(
                    t("col.target", lang), help=t("targets.value_help", lang), required=True
                ),
            },
        )
        if st.button(t("targets.save", lang), key="targets_save", icon=":material/save:"):
            rows: list[dict[str, Any]] = [
                {k: (None if v is None or (isinstance(v, str) and not v.strip()) else v) for k, v in row.items()}
                for row in edited.to_dict(orient="records")
            ]
            rows = [row for row in rows if any(v is not None for v in row.values())]  # a new row left empty
            try:
                problems = save_targets(path, rows, decimal_comma=lang == "it", elsewhere=found.elsewhere)
            except OSError as exc:
                st.error(t("targets.form_not_saved", lang, path=md(str(path)), detail=md(str(exc))))
                return
            if problems:
                for problem in problems:
                    st.error(f"{t('error.fix_key', lang)}: `{problem.key}`  \n{problem.localized(lang)}")
                return
            st.session_state["targets_saved"] = len(rows)
            st.rerun()

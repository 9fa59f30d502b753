"""Streamlit pieces shared by the pages: a chart with its export menu."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kpi.whatif import LEVERS, Scenario
from render.export import MIME, figure_bytes, file_stem, images_available, report_stem, table_bytes
from render.format import fmt_date
from render.text import alert_text, chart_text, md, t, tn, visible
from service.alerts import Alert
from service.turns import PAGES, REPORTS
from ui.shell import AppContext

__all__ = [
    "OPENED",
    "alerts_list",
    "chart",
    "choose_view",
    "filters_text",
    "markdown_safe",
    "picked_key",
    "report_controls",
    "static_table",
    "table_downloads",
    "visible_text",
]


#: seconds a made download stays at its address: the browser fetches it at once; a copied link dies
DOWNLOAD_SECONDS = 60.0


def _sweep_media() -> None:
    from streamlit import runtime

    if runtime.exists():
        runtime.get_instance().media_file_mgr.remove_orphaned_files()


def _made_on_click(make: Callable[[], bytes]) -> Callable[[], bytes]:
    """A download made when its button is pressed, by a visitor who is let in (the click comes
    through the visitor's session), at an address Streamlit derives from the file's content, which
    no session keeps: Streamlit marks such a file at its next sweep and deletes it at the one after.
    Two sweeps ``DOWNLOAD_SECONDS`` apart make sure that happens on an idle server too."""

    def made() -> bytes:
        data = make()
        for delay in (DOWNLOAD_SECONDS, 2 * DOWNLOAD_SECONDS):
            timer = threading.Timer(delay, _sweep_media)
            timer.daemon = True
            timer.start()
        return data

    return made


def filters_text(ctx: AppContext) -> str:
    """The active filters in one plain line, for exported files."""
    f, lang = ctx.filters, ctx.lang
    parts = []
    if f.start and f.end:
        parts.append(f"{t('active.period', lang)} {fmt_date(f.start, lang)} – {fmt_date(f.end, lang)}")
    for dim, chosen in (("segment", f.segments), ("region", f.regions), ("channel", f.channels)):
        if chosen:
            parts.append(f"{t(f'filter.{dim}', lang)}: {', '.join(chosen)}")
    return " · ".join(parts)


#: how a click on a chart names a filter's value: by the bar's category on the y axis, or by the
#: trace (a stacked bar's series)
Pick = tuple[str, str]


#: what a click on a chart sets: one of the sidebar's filters, or the item a page opens in detail
#: (``OPENED[kind]``, a session key)
FILTER_DIMS = ("segment", "region", "channel")
OPENED = {"campaign": "cruscotto_campaign", "customer": "cruscotto_customer"}


def _picked(fig: go.Figure, point: dict[str, object], pick: Pick, options: dict[str, Any]) -> Any:
    """The value a clicked ``point`` of ``fig`` stands for, from ``options`` (label on the chart →
    value; None: a point of no value, such as a total or a line of margin)."""
    how, _dim = pick
    if how == "trace":
        curve = point.get("curve_number")
        label = fig.data[curve].name if isinstance(curve, int) and curve < len(fig.data) else None
    elif how == "customdata":  # the point's own id, last in its custom data
        data = point.get("customdata")
        label = data[-1] if isinstance(data, list) and data else None
    else:
        label = point.get(how)
    return options.get(str(label)) if label is not None else None


def chart(
    fig: go.Figure,
    data: pd.DataFrame,
    *,
    key: str,
    ctx: AppContext,
    page: str,
    empty: str = "empty.chart",
    pick: Pick | None = None,
    choices: dict[str, Any] | None = None,
) -> None:
    """Draw the figure, with an export menu: PNG, SVG, PDF, interactive HTML, and its data as CSV
    and Excel. Files are made only when a button is pressed; their names carry page, filters and date.

    With ``pick`` (how a point names a value, and the filter: ``("y", "segment")``), clicking a bar
    filters the whole dashboard by it: the sidebar's filter is set, so it shows there, in the
    address and on every page, and the chip under the title takes it off. With ``("trace",
    "campaign")`` and ``choices`` (each campaign's name on the chart → its id), a click opens the
    campaign's detail (``OPENED``) instead.

    With nothing to draw (no rows behind the chart, or a figure without traces) it says why and what
    to change instead, in the message ``empty`` (a catalogue key), with no chart and no export menu."""
    lang = ctx.lang
    if data.empty or not fig.data:
        st.info(t(empty, lang), icon=":material/filter_alt_off:")
        return
    caption = f"Cruscotto · {t(page, lang)} · {filters_text(ctx)} · {fmt_date(ctx.today, lang)}"
    stem = file_stem(f"{t(page, lang)}-{key}", "-".join(ctx.filters.segments), ctx.today)
    # one PNG, the export menu's: Plotly's camera draws the screen's layout, without the caption
    # (filters and date), and cuts long labels and legend entries off at the chart's edge
    config = {"modeBarButtonsToRemove": ["toImage"], "displaylogo": False}
    if pick is None:
        st.plotly_chart(fig, key=key, config=config)
    else:
        f = ctx.filters
        # a new chart for each view: a click made on the view before does not stay selected
        view = abs(hash((f.segments, f.regions, f.channels))) % 10**8
        chart_key = picked_key(f"{key}_pick_{view}", pick[1])
        dim = pick[1]
        options = choices if choices is not None else {chart_text(v): v for v in ctx.options.get(dim, [])}

        def clicked() -> None:
            state = st.session_state.get(chart_key)
            points = state["selection"]["points"] if state else []
            values = [v for v in (_picked(fig, p, pick, options) for p in points) if v is not None]
            if values and dim in FILTER_DIMS:
                choose_view({dim: tuple(dict.fromkeys(values))})
            elif values:
                choose_view({}, (dim, values[0]))

        st.plotly_chart(fig, key=chart_key, config=config, on_select=clicked, selection_mode="points")
        st.caption(f":material/ads_click: {t(f'chart.pick_hint.{pick[1]}', lang)}")
    images = images_available()
    with st.popover(t("export.menu", lang), icon=":material/download:"):
        columns = st.columns(3)
        for i, fmt in enumerate(("png", "svg", "pdf")):
            columns[i].download_button(
                fmt.upper(),
                _made_on_click(_figure(fig, fmt, caption)),
                f"{stem}.{fmt}",
                MIME[fmt],
                key=f"{key}_{fmt}",
                disabled=not images,
                help=None if images else t("export.no_chromium", lang),
                on_click="ignore",
            )
        columns = st.columns(3)
        columns[0].download_button(
            "HTML",
            _made_on_click(_figure(fig, "html", caption)),
            f"{stem}.html",
            MIME["html"],
            key=f"{key}_html",
            on_click="ignore",
        )
        columns[1].download_button(
            t("export.csv", lang),
            _made_on_click(lambda: table_bytes(data, "csv", lang, ctx.currency)),
            f"{stem}.csv",
            MIME["csv"],
            key=f"{key}_csv",
            help=t("export.csv_help", lang),
            on_click="ignore",
        )
        columns[2].download_button(
            "Excel",
            _made_on_click(lambda: table_bytes(data, "xlsx", lang, ctx.currency)),
            f"{stem}.xlsx",
            MIME["xlsx"],
            key=f"{key}_xlsx",
            on_click="ignore",
        )
        if not images:
            st.caption(t("export.no_chromium", lang))


def static_table(data: pd.DataFrame, lang: str, *, empty: str = "empty.table") -> None:
    """A small table shown whole (``st.table``, no index). With no row it says why and what to
    change instead, in the message ``empty`` (a catalogue key), as ``chart`` does: no empty grid."""
    if data.empty:
        st.info(t(empty, lang), icon=":material/filter_alt_off:")
        return
    st.table(markdown_safe(data), hide_index=True)


def visible_text(data: pd.DataFrame) -> pd.DataFrame:
    """A table for ``st.dataframe`` with the characters that reorder or hide text shown as their code
    (``render.text.visible``): a name with a right-to-left override cannot pass for another."""
    out = data.copy()
    for i in range(out.shape[1]):
        column = out.iloc[:, i]
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            out.isetitem(i, column.map(lambda v: visible(v) if isinstance(v, str) else v))
    return out


def markdown_safe(data: pd.DataFrame) -> pd.DataFrame:
    """A table for ``st.table``, which reads markdown in every cell and header: text shown as written
    (``render.text.md``), so a name cannot become a link, an image or coloured text."""
    out = data.copy()
    out.columns = [md(c) for c in out.columns]
    for i in range(out.shape[1]):
        column = out.iloc[:, i]
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            out.isetitem(i, column.map(md, na_action="ignore"))
    return out


def table_downloads(table: pd.DataFrame | Callable[[], pd.DataFrame], stem: str, lang: str, *, key: str) -> None:
    """Two buttons under a list meant to leave the app: CSV and Excel, made on click. ``table`` may be
    a function that makes the table: a long list is then written only when it is downloaded."""

    def rows() -> pd.DataFrame:
        return table() if callable(table) else table

    left, right, _ = st.columns([3, 2, 5])
    left.download_button(
        t("export.download_csv", lang),
        _made_on_click(lambda: table_bytes(rows(), "csv", lang)),
        f"{stem}.csv",
        MIME["csv"],
        icon=":material/download:",
        key=f"{key}_csv",
        help=t("export.csv_help", lang),
        on_click="ignore",
    )
    right.download_button(
        t("lifecycle.download_xlsx", lang),
        _made_on_click(lambda: table_bytes(rows(), "xlsx", lang)),
        f"{stem}.xlsx",
        MIME["xlsx"],
        icon=":material/download:",
        key=f"{key}_xlsx",
        on_click="ignore",
    )


def _figure(fig: go.Figure, fmt: str, caption: str) -> Callable[[], bytes]:
    return lambda: figure_bytes(fig, fmt, caption)


def scenario_in_address() -> Scenario | None:
    """The simulator's scenario when its levers are in the page address (``wi_<lever>``, in percent;
    ``scenario``: its name), else None. A value that is not a number counts as 0."""
    moved: dict[str, float] = {}
    for lever in LEVERS:
        raw = st.query_params.get(f"wi_{lever}")
        try:
            moved[lever] = float(raw) / 100 if raw not in (None, "") else 0.0
        except ValueError:
            moved[lever] = 0.0
    try:
        scenario = Scenario(**moved, name=str(st.query_params.get("scenario", "")).strip())
    except ValueError:
        return None
    return None if scenario.is_today else scenario


def report_controls(ctx: AppContext) -> None:
    """Sidebar: build the executive report for the current view, with progress, then download it."""
    if ctx.source is None or ctx.problem is not None or ctx.filters.end is None:
        return
    from service.report import build_report, render, report_caption

    lang = ctx.lang
    with st.sidebar.expander(t("report.button", lang), icon=":material/summarize:"):
        fmt = (
            st.segmented_control(
                t("report.format", lang),
                ["pdf", "pptx", "html"],
                format_func=str.upper,
                default="pdf",
                required=True,
                key="report_format",
            )
            or "pdf"
        )
        scenario = scenario_in_address()
        wanted = (ctx.filters, lang, fmt, ctx.source_key, scenario)
        if st.button(t("report.make", lang), icon=":material/play_arrow:", key="report_make"):
            with st.status(t("report.building", lang), expanded=False) as status:
                bar = st.progress(0.0)

                def progress(fraction: float, step: str) -> None:
                    bar.progress(min(max(fraction, 0.0), 1.0), text=step)

                def waiting(ahead: int) -> None:
                    status.update(label=tn("report.queued", ahead, lang, n=ahead))

                # one report at a time for the whole server: the others wait their turn, and say so;
                # meanwhile this page gives up its page slot (the report has a queue of its own)
                with PAGES.aside(), REPORTS.turn(waiting):
                    status.update(label=t("report.building", lang))
                    sections = build_report(ctx.source, ctx.filters, lang, ctx.today, progress, scenario)
                    caption = report_caption(ctx.filters, lang, ctx.today)
                    made = render(sections, fmt, t("report.title", lang), caption)
                st.session_state["cruscotto_report"] = (wanted, made)
                status.update(label=t("report.ready", lang), state="complete")
        built = st.session_state.get("cruscotto_report")
        if built and built[0] == wanted:
            stem = report_stem(lang, ctx.filters.segments, ctx.today)
            report = built[1]
            st.download_button(
                t("report.download", lang),
                _made_on_click(lambda: report),
                f"{stem}.{fmt}",
                MIME[fmt],
                icon=":material/download:",
                key="report_download",
                on_click="ignore",
            )


#: the icon of each kind of alert
_ALERT_ICONS = {
    "rule": "notifications",
    "target": "flag",
    "forecast": "trending_down",
    "at_risk_value": "person_alert",
    "campaign": "campaign",
    "data_health": "fact_check",
}


_GO_TO = "cruscotto_go_to"


def choose_view(
    dims: dict[str, tuple[str, ...]], opens: tuple[str, Any] | None = None, page: str | None = None
) -> None:
    """Set the sidebar's filters (before they are drawn again: a button's or a chart's callback),
    the item the next page opens in detail, and the page to open (``follow_alert``)."""
    for dim, values in dims.items():
        st.session_state[dim] = list(values)
    if opens is not None:
        st.session_state[OPENED[opens[0]]] = opens[1]
        _renew(opens[0])
    if page is not None:
        st.session_state[_GO_TO] = page


def _renew(kind: str) -> None:
    """A new key for the tables and charts that choose ``kind`` (``picked_key``): what was ticked or
    clicked there before is no longer shown chosen."""
    name = f"cruscotto_renew_{kind}"
    st.session_state[name] = st.session_state.get(name, 0) + 1


def picked_key(key: str, kind: str) -> str:
    """``key`` for a table or chart where ``kind`` (campaign, customer, filter) is chosen: a new one
    each time something is chosen, so a choice does not stay ticked once it has been acted on."""
    return f"{key}_{st.session_state.get(f'cruscotto_renew_{kind}', 0)}"


def alerts_list(ctx: AppContext, alerts: list[Alert], here: str) -> None:
    """The period's alerts as a short list of sentences; each opens the page that explains it with
    its filters (the sidebar's own, so they show there and in the address); a quiet line when
    there is none. ``here``: the address of the page that shows the list."""
    lang = ctx.lang
    if not alerts:
        st.caption(f":material/notifications_off: {t('alerts.none', lang)}")
        return
    with st.container(border=True, key="cruscotto_alerts"):
        st.markdown(f"**:material/notifications_active: {t('alerts.title', lang)} ({len(alerts)})**")
        for i, alert in enumerate(alerts):
            f = alert.filters
            dims = {"segment": f.segments, "region": f.regions, "channel": f.channels}
            builtin = alert.origin.startswith("builtin_alerts.")
            st.button(
                md(alert_text(alert, lang, ctx.currency)),
                key=f"cruscotto_alert_{i}",
                icon=f":material/{_ALERT_ICONS[alert.kind]}:",
                help=t("alerts.builtin" if builtin else "alerts.origin", lang, origin=alert.origin),
                type="tertiary",
                on_click=choose_view,
                args=(dims, alert.opens, alert.page),  # the page is the clicked alert's, whatever comes next
            )
    # The page the clicked alert explains: the callback kept it, as the list itself is made again for
    # the filters it set (another alert may now stand where it stood).
    opened = st.session_state.pop(_GO_TO, None)
    if opened is not None and opened != here:
        # no parameters of its own: the sidebar's widgets put theirs back in the address (a switch
        # that cleared them would fail, as they are bound to the widgets)
        st.switch_page(f"pages/{opened}.py", query_params={})

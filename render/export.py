"""Exports of charts and tables: PNG, SVG, PDF (kaleido + the system Chromium), standalone
interactive HTML, CSV and Excel. No Streamlit here: the CLI and the report use it too."""

from __future__ import annotations

import copy
import html
import io
import os
import re
import shutil
import threading
import warnings
from datetime import date
from typing import Any

import pandas as pd
import plotly.graph_objects as go

__all__ = [
    "FORMULA_STARTS",
    "IMAGE_FORMATS",
    "MIME",
    "cell_text",
    "column_kind",
    "figure_bytes",
    "file_stem",
    "images_available",
    "legend_rows",
    "prepare_figure",
    "report_stem",
    "table_bytes",
    "write_xlsx",
]

IMAGE_FORMATS = ("png", "svg", "pdf")
MIME = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "html": "text/html",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_server_lock = threading.Lock()
_server_started = False


def images_available() -> bool:
    """Whether a Chromium or Chrome is there for kaleido to render images with."""
    if os.environ.get("BROWSER_PATH") and os.path.exists(os.environ["BROWSER_PATH"]):
        return True
    return any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome", "chrome"))


def _ensure_server() -> None:
    """One browser for all images (kaleido's sync server): the first image costs ~3 s, the next ~0.2 s."""
    global _server_started
    with _server_lock:
        if not _server_started:
            import kaleido

            kaleido.start_sync_server(silence_warnings=True)
            _server_started = True


def file_stem(page: str, filters_text: str, day: date) -> str:
    """A file name for an export: page, filters and date, safe on every file system."""
    raw = f"{page}-{filters_text}-{day.isoformat()}" if filters_text else f"{page}-{day.isoformat()}"
    return re.sub(r"[^A-Za-z0-9À-ÿ._-]+", "-", raw).strip("-").lower()[:120]


def report_stem(lang: str, segments: tuple[str, ...], day: date) -> str:
    """The executive report's file name, without the extension: the same from the app and by mail."""
    return file_stem("cruscotto-report" if lang == "en" else "cruscotto-report-direzionale", "-".join(segments), day)


#: Every exported image has the same size unless asked otherwise (16:9, fits a slide and an A4 page).
EXPORT_WIDTH = 1200
EXPORT_HEIGHT = 675
CAPTION_FONT = 11
_CAPTION_CHARS = 140  # characters per caption line at 11 px on a 1200 px image, with room for the y axis


def _wrap_caption(caption: str, width: int) -> list[str]:
    limit = max(40, int(_CAPTION_CHARS * width / EXPORT_WIDTH))
    lines: list[str] = []
    for part in caption.split(" · "):
        if lines and len(lines[-1]) + len(part) + 3 <= limit:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return lines


#: The height of a row of a horizontal legend, in pixels (13 px text).
LEGEND_ROW = 22


def legend_rows(fig: go.Figure, width: int) -> int:
    """How many rows a horizontal legend takes across ``width`` pixels (an entry is its symbol and
    its name at 13 px), so that the layout keeps room for it: a legend that wraps grows upwards, over
    whatever is above the plot (the title)."""
    if fig.layout.showlegend is False:
        return 0
    names = [str(tr.name) for tr in fig.data if getattr(tr, "showlegend", False) is not False and tr.name]
    if len(names) < 2 and fig.layout.showlegend is not True:
        return 0  # Plotly shows no legend for a single trace
    rows, used = 1, 0
    for name in names:
        entry = 46 + int(7.2 * len(name))
        if used and used + entry > width:
            rows, used = rows + 1, 0
        used += entry
    return rows


def _category_labels_width(fig: go.Figure) -> int:
    """Pixels the longest name on a vertical category axis takes (horizontal bars: segments,
    campaigns, customers), at 0.6 em a character: the left margin holds it with room to spare, so
    it starts where the title does instead of at the image's edge."""
    longest = 0
    for trace in fig.data:
        values = getattr(trace, "y", None)
        if getattr(trace, "orientation", None) == "h" and values is not None:
            longest = max([longest, *(len(v) for v in values if isinstance(v, str))])
    size = (fig.layout.font.size if fig.layout.font else None) or 13
    return int(0.6 * size * longest) + 8 if longest else 0


def prepare_figure(
    fig: go.Figure, caption: str = "", width: int = EXPORT_WIDTH, height: int | None = None
) -> go.Figure:
    """A copy of the figure laid out for a file: fixed size, margins that grow to fit the tick
    labels and axis titles (``automargin``), the legend above the plot, and ``caption`` (filters and
    date) written under the chart inside the image."""
    out = go.Figure(copy.deepcopy(fig.to_dict()))
    size_h = height or max(int(out.layout.height or 0), EXPORT_HEIGHT)
    legend_y = out.layout.legend.y if out.layout.legend else None
    if legend_y is not None and legend_y < 0:  # the space under the plot belongs to the axis and the caption
        out.update_layout(legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"})
    out.update_xaxes(automargin=True)
    out.update_yaxes(automargin=True)
    margin = out.layout.margin
    legend_y = out.layout.legend.y if out.layout.legend else None
    above = legend_y is None or legend_y >= 1  # the template puts the legend above the plot
    plot_width = width - max(margin.l or 0, 24) - max(margin.r or 0, 40)
    legend_px = LEGEND_ROW * max(legend_rows(out, plot_width) - 1, 0) if above else 0
    lines = _wrap_caption(caption, width) if caption else []
    caption_px = 10 + 16 * len(lines) if lines else 0
    # any trace drawn on x and y axes (bars, lines, WebGL points, heat maps…), not a Sankey or a pie
    has_axes = any("xaxis" in trace for trace in out.data)
    axis_px = 70 if has_axes else 10  # tick labels and the axis title; automargin adds more if needed
    out.update_layout(
        width=width,
        height=size_h,
        autosize=False,
        title={"x": 0, "xanchor": "left", "xref": "container", "y": 1, "yanchor": "top", "pad": {"l": 24, "t": 16}},
        margin={
            "l": max(margin.l or 0, 24 + _category_labels_width(out)),
            "r": max(margin.r or 0, 40),
            "t": max(margin.t or 0, 90 + legend_px),  # a figure's own larger margin already holds it
            "b": max(margin.b or 0, axis_px + caption_px),
            "autoexpand": True,
        },
    )
    if lines:
        out.add_annotation(
            text="<br>".join(html.escape(line) for line in lines),
            xref="paper",
            yref="paper",
            x=0,
            y=0,
            yshift=-(max(margin.b or 0, axis_px + caption_px) - 8),  # its bottom edge 8 px above the image's
            xanchor="left",
            yanchor="bottom",
            align="left",
            showarrow=False,
            font={"size": CAPTION_FONT, "color": "#52606D"},
        )
    return out


def figure_bytes(
    fig: go.Figure, fmt: str, caption: str = "", width: int = EXPORT_WIDTH, height: int | None = None
) -> bytes:
    """The figure as ``png``, ``svg``, ``pdf`` (vector) or standalone interactive ``html``, with
    ``caption`` (the filters and the date) written under it inside the image. Images have a fixed
    size (``width`` × ``height``, default 1200 × 675 or the figure's own height if larger). Images
    need Chromium: see ``images_available``; ``RuntimeError`` with a clear message otherwise."""
    figure = prepare_figure(fig, caption, width, height)
    if fmt == "html":
        figure.update_layout(autosize=True, width=None)
        return figure.to_html(include_plotlyjs=True, full_html=True).encode()
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"Unknown figure format {fmt!r}: use png, svg, pdf or html.")
    if not images_available():
        raise RuntimeError("Images need Chromium: install it (apt-get install chromium) or set BROWSER_PATH.")
    _ensure_server()
    size = {"width": int(figure.layout.width), "height": int(figure.layout.height)}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The kopts argument is ignored")
        return bytes(figure.to_image(format=fmt, scale=2 if fmt == "png" else 1, **size))


_MONEY = ("revenue", "margin", "spend", "cac", "clv", "value", "cost", "amount", "price", "at_stake", "residual")
#: the parts of the engagement value, money too (whole names: "civ" is in other words)
_MONEY_NAMES = ("crv", "civ", "civ_estimated", "ckv", "cev")
_PERCENT_SUFFIX = ("_pct", "_share", "_rate")
_PERCENT_PREFIX = ("roi_", "share", "p_")


def column_kind(name: str) -> str:
    """How a column is shown: ``money``, ``percent`` (a fraction: 0.25 = 25 %), ``ratio`` or ``other``,
    decided from its canonical name, in this one place for CSV, Excel and the CLI."""
    lowered = str(name).lower()
    if lowered.endswith(_PERCENT_SUFFIX) or lowered.startswith(_PERCENT_PREFIX) or lowered in ("share", "recovered"):
        return "percent"
    if lowered in ("clv_cac",) or lowered.endswith("_ratio"):
        return "ratio"
    if lowered in _MONEY_NAMES:
        return "money"
    generic = lowered in ("value", "change")  # the overview's KPI table: money, counts and percents in one column
    if not generic and any(w in lowered for w in _MONEY) and not lowered.endswith(("_id", "_name", "_count")):
        return "money"
    return "other"


_DECIMALS = {"money": 2, "percent": 4, "ratio": 2}
_EXCEL_FORMAT = {"money": "#,##0.00", "percent": "0.0%", "ratio": "0.00"}


def _rounded(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for name in out.columns:
        kind = column_kind(str(name))
        if kind in _DECIMALS and pd.api.types.is_float_dtype(out[name]):
            out[name] = out[name].round(_DECIMALS[kind])
    return out


def _headers(table: pd.DataFrame, lang: str | None) -> list[str]:
    if lang is None:
        return [str(c) for c in table.columns]
    from render.text import has_key, t

    return [t(f"col.{c}", lang) if has_key(f"col.{c}") else str(c) for c in table.columns]


#: a text cell starting with one of these is read as a formula by Excel, LibreOffice or Sheets
#: (OWASP, "CSV Injection"): tab and carriage return too, which some of them skip before looking
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: characters no spreadsheet cell may hold (XML 1.0 forbids them; a NUL cuts a CSV line short)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def cell_text(value: str) -> str:
    """Text as a spreadsheet cell may hold it: control characters (NUL included) shown as U+FFFD."""
    return _CONTROL.sub("\ufffd", value)


def _safe_text(data: pd.DataFrame, *, quote: bool) -> pd.DataFrame:
    """``data`` with its text cells and headers made inert: control characters replaced and, with
    ``quote`` (CSV), a leading apostrophe before a text that would start a formula, as OWASP
    recommends. Numbers are not touched (a negative amount stays a number)."""

    def inert(value: object) -> object:
        if not isinstance(value, str):
            return value
        value = cell_text(value)
        return "'" + value if quote and value.startswith(FORMULA_STARTS) else value

    out = data.copy()
    out.columns = [inert(str(c)) for c in out.columns]
    for i in range(out.shape[1]):
        column = out.iloc[:, i]
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            out.isetitem(i, column.map(inert, na_action="ignore").astype(object))
    return out


def _text_cell(cell: Any) -> None:
    """An Excel cell holding text stays text: openpyxl stores a text starting with "=" as a formula,
    and Excel would read any of ``FORMULA_STARTS`` as one once the cell is edited (quote prefix)."""
    if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
        cell.data_type = "s"
        cell.quotePrefix = True


def table_bytes(table: pd.DataFrame, fmt: str, lang: str | None = None, currency: str = "EUR") -> bytes:
    """The table as ``csv`` or ``xlsx``, values rounded as on screen (money to the cent, fractions to
    0.01 %). With ``lang`` the headers are in that language (``col.<name>`` messages); an Italian CSV
    is what an Italian Excel opens: ``;`` separator, decimal comma, UTF-8 with BOM. Excel cells stay
    numbers, with a display format (money, percent). ``lang=None``: canonical English headers."""
    kinds = [column_kind(str(c)) for c in table.columns]
    data = _rounded(table)
    data.columns = _headers(table, lang)
    if fmt == "csv":
        data = _safe_text(data, quote=True)
        # CRLF ends a row (RFC 4180), so a text holding a bare CR is quoted, not split into two rows
        if lang == "it":
            return data.to_csv(index=False, sep=";", decimal=",", lineterminator="\r\n").encode("utf-8-sig")
        return data.to_csv(index=False, lineterminator="\r\n").encode()
    if fmt == "xlsx":
        buffer = io.BytesIO()
        write_xlsx(data, buffer, kinds, currency)
        return buffer.getvalue()
    raise ValueError(f"Unknown table format {fmt!r}: use csv or xlsx.")


def write_xlsx(data: pd.DataFrame, target: object, kinds: list[str] | None = None, currency: str = "EUR") -> None:
    """``data`` to an Excel file (path or buffer), numbers kept as numbers with a display format and
    every text a text cell: a name that starts like a formula (``=HYPERLINK(…)``) is shown, never
    run."""
    from openpyxl.utils import get_column_letter

    kinds = kinds or [column_kind(str(c)) for c in data.columns]
    symbols = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}
    data = _safe_text(data, quote=False)
    with pd.ExcelWriter(target, engine="openpyxl") as writer:
        data.to_excel(writer, index=False)
        sheet = writer.sheets["Sheet1"]
        texts = [i for i in range(data.shape[1]) if data.iloc[:, i].dtype == object]
        for row in sheet.iter_rows(max_row=1):  # the headers
            for cell in row:
                _text_cell(cell)
        for i in texts:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i + 1, max_col=i + 1):
                _text_cell(cell)
        for i, kind in enumerate(kinds, start=1):
            letter = get_column_letter(i)
            sheet.column_dimensions[letter].width = max(12, min(40, len(str(data.columns[i - 1])) + 4))
            column = data.iloc[:, i - 1].dropna()
            if pd.api.types.is_datetime64_any_dtype(column) and (column.dt.normalize() == column).all():
                # days (months, order dates) read as days, not "2025-11-01 00:00:00"
                for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                    cell.number_format = "yyyy-mm-dd"
                continue
            if kind not in _EXCEL_FORMAT:
                continue
            number_format = _EXCEL_FORMAT[kind]
            if kind == "money":
                number_format += f' "{symbols.get(currency, currency)}"'
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                if isinstance(cell.value, int | float):
                    cell.number_format = number_format

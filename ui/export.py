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

import pandas as pd
import plotly.graph_objects as go

__all__ = [
    "IMAGE_FORMATS",
    "MIME",
    "figure_bytes",
    "file_stem",
    "images_available",
    "prepare_figure",
    "table_bytes",
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


#: Every exported image has the same size unless asked otherwise (16:9, fits a slide and an A4 page).
EXPORT_WIDTH = 1200
EXPORT_HEIGHT = 675
CAPTION_FONT = 11
_CAPTION_CHARS = 180  # characters per caption line at 11 px on a 1200 px image


def _wrap_caption(caption: str, width: int) -> list[str]:
    limit = max(40, int(_CAPTION_CHARS * width / EXPORT_WIDTH))
    lines: list[str] = []
    for part in caption.split(" · "):
        if lines and len(lines[-1]) + len(part) + 3 <= limit:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return lines


def _declutter_labels(fig: go.Figure) -> None:
    """Text labels of a bubble chart (markers + text): alternate above and below from left to right,
    so neighbours do not print over each other, and turn the outermost ones inwards."""
    points = []
    for i, trace in enumerate(fig.data):
        if getattr(trace, "type", "") == "scatter" and trace.mode and "text" in trace.mode and trace.x is not None:
            points += [(x, i, j) for j, x in enumerate(trace.x) if x is not None]
    if len(points) < 2:
        return
    positions: dict[int, list[str]] = {i: ["top center"] * len(fig.data[i].x) for _, i, _ in points}
    points.sort()
    for rank, (_, i, j) in enumerate(points):
        side = "top" if rank % 2 == 0 else "bottom"
        across = "right" if rank == 0 else "center"
        positions[i][j] = f"{side} {across}"
    for i, where in positions.items():
        fig.data[i].textposition = where
        fig.data[i].cliponaxis = False


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
    _declutter_labels(out)
    margin = out.layout.margin
    lines = _wrap_caption(caption, width) if caption else []
    caption_px = 10 + 16 * len(lines) if lines else 0
    has_axes = any(
        getattr(trace, "xaxis", None) is not None or trace.type in {"bar", "scatter", "histogram", "box"}
        for trace in out.data
    )
    axis_px = 70 if has_axes else 10  # tick labels and the axis title; automargin adds more if needed
    out.update_layout(
        width=width,
        height=size_h,
        autosize=False,
        title={"x": 0, "xanchor": "left", "xref": "container", "y": 1, "yanchor": "top", "pad": {"l": 24, "t": 16}},
        margin={
            "l": max(margin.l or 0, 24),
            "r": max(margin.r or 0, 40),
            "t": max(margin.t or 0, 90),
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


def table_bytes(table: pd.DataFrame, fmt: str) -> bytes:
    """The table as ``csv`` (UTF-8) or ``xlsx``."""
    if fmt == "csv":
        return table.to_csv(index=False).encode()
    if fmt == "xlsx":
        buffer = io.BytesIO()
        table.to_excel(buffer, index=False)
        return buffer.getvalue()
    raise ValueError(f"Unknown table format {fmt!r}: use csv or xlsx.")

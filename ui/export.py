"""Exports of charts and tables: PNG, SVG, PDF (kaleido + the system Chromium), standalone
interactive HTML, CSV and Excel. No Streamlit here: the CLI and the report use it too."""

from __future__ import annotations

import copy
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


def _with_caption(fig: go.Figure, caption: str) -> go.Figure:
    """A copy of the figure with the filters and date written under it."""
    out = go.Figure(copy.deepcopy(fig.to_dict()))
    if caption:
        margin = out.layout.margin.b if out.layout.margin and out.layout.margin.b is not None else 10
        out.update_layout(margin={"b": max(margin, 60)})
        out.add_annotation(
            text=caption,
            xref="paper",
            yref="paper",
            x=0,
            y=0,
            yshift=-50,
            xanchor="left",
            yanchor="top",
            showarrow=False,
            font={"size": 11, "color": "#52606D"},
        )
    return out


def figure_bytes(fig: go.Figure, fmt: str, caption: str = "", width: int = 1200, height: int | None = None) -> bytes:
    """The figure as ``png``, ``svg``, ``pdf`` (vector) or standalone interactive ``html``, with
    ``caption`` (the filters and the date) written under it. Images need Chromium: see
    ``images_available``; ``RuntimeError`` with a clear message otherwise."""
    figure = _with_caption(fig, caption)
    if fmt == "html":
        return figure.to_html(include_plotlyjs=True, full_html=True).encode()
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"Unknown figure format {fmt!r}: use png, svg, pdf or html.")
    if not images_available():
        raise RuntimeError("Images need Chromium: install it (apt-get install chromium) or set BROWSER_PATH.")
    _ensure_server()
    size = {"width": width, "height": height or (figure.layout.height or 500)}
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

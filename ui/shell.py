"""The app shell: language, source, sidebar filters (kept in the URL) and error display.

``build_context`` runs in ``app.py`` on every rerun, before the page; pages read the result with
``page_context``. Widgets bound to query parameters keep the view in the address bar, so a view
can be shared as a link and survives page changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import NoReturn

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from data.demo import DEMO_PATH, demo_ready, ensure_demo_database
from data.engine import QueryTimeout, SourceFault
from data.facts import Facts
from data.filters import Filters, previous_period
from data.settings import ConfigError, ServerLimits, Settings, StageRules, load_settings
from data.source import MappingError, Source
from kpi.periods import PERIOD_PRESETS, resolve_period
from render.format import fmt_date
from render.text import LANGUAGES, md, t, tn
from service.turns import PAGES
from ui import loaders
from ui.access import client_address

__all__ = [
    "AppContext",
    "Problem",
    "build_context",
    "choose_language",
    "page_context",
    "page_turn",
    "requested_language",
    "show_active_filters",
    "shown_errors",
    "start_page",
]

_CONTEXT_KEY = "cruscotto_context"
_LANG_SHOWN_KEY = "cruscotto_lang_shown"


@dataclass(frozen=True)
class Problem:
    """Why the data cannot be shown: a title (catalogue key), the message and the key to fix."""

    title_key: str
    message: str
    fix_key: str | None = None


@dataclass(frozen=True)
class AppContext:
    lang: str
    today: date
    settings: Settings | None = None
    source: Source | None = None
    source_key: str = ""
    problem: Problem | None = None
    filters: Filters = field(default_factory=Filters)
    options: dict[str, list[str]] = field(default_factory=dict)
    first_date: date | None = None
    last_date: date | None = None
    preset: str = "12m"

    @property
    def currency(self) -> str:
        return self.settings.business.currency if self.settings else "EUR"

    @property
    def stage_rules(self) -> StageRules:
        """The lifecycle rules of the settings (the defaults before settings are read)."""
        return self.settings.lifecycle if self.settings else StageRules()


def _language() -> str:
    # a link may name the language by its code (``lang=en``, as the e-mailed report's link does)
    # or by its name (as the switch writes it): the switch reads names
    asked = st.query_params.get("lang")
    if asked in LANGUAGES and "lang" not in st.session_state:
        st.session_state["lang"] = asked
    with st.sidebar:
        lang = st.segmented_control(
            t("sidebar.language", "it") + " / " + t("sidebar.language", "en"),
            options=list(LANGUAGES),
            format_func=lambda code: LANGUAGES[code],
            default=None if "lang" in st.session_state else "it",  # set from a link's code
            required=True,
            key="lang",
            bind="query-params",
        )
    return lang if lang in LANGUAGES else "it"


def _source_url(settings: Settings, lang: str) -> str:
    if settings.url:
        return settings.url
    if demo_ready():
        return f"duckdb:///{DEMO_PATH}"
    bar = st.progress(0.0, text=t("demo.building", lang))

    def report(fraction: float, _step: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=t("demo.building", lang))

    url = ensure_demo_database(progress=report)
    bar.empty()
    return url


def _sidebar_filters(ctx_lang: str, options: dict[str, list[str]], first: date, last: date) -> tuple[Filters, str]:
    lang = ctx_lang
    with st.sidebar:
        st.subheader(t("sidebar.filters", lang))
        chosen: dict[str, list[str]] = {}
        for dim in ("segment", "region", "channel"):
            values = options.get(dim, [])
            chosen[dim] = st.multiselect(
                t(f"filter.{dim}", lang),
                options=values,
                key=dim,
                bind="query-params",
                placeholder=t("filter.placeholder", lang),
                disabled=not values,
            )
        # The period's options read in the page language; after a switch, re-assert the choice so
        # the widget is sent again and shows it in the new language on this same rerun.
        if st.session_state.get(_LANG_SHOWN_KEY, lang) != lang and "period" in st.session_state:
            st.session_state["period"] = st.session_state["period"]
        st.session_state[_LANG_SHOWN_KEY] = lang
        _period_in_language(lang)
        preset = st.selectbox(
            t("filter.period", lang),
            options=list(PERIOD_PRESETS),
            format_func=lambda p: t(f"period.{p}", lang),
            key="period",
            bind="query-params",
        )
        preset = preset if preset in PERIOD_PRESETS else "12m"
        custom_start = custom_end = None
        if preset == "custom":
            col_a, col_b = st.columns(2)
            custom_start = col_a.date_input(
                t("filter.from", lang),
                value=first,
                min_value=first,
                max_value=last,
                key="from",
                bind="query-params",
                format="DD/MM/YYYY",
            )
            custom_end = col_b.date_input(
                t("filter.to", lang),
                value=last,
                min_value=first,
                max_value=last,
                key="to",
                bind="query-params",
                format="DD/MM/YYYY",
            )
        st.caption(t("filter.share_hint", lang))
    try:
        start, end = resolve_period(preset, first, last, custom_start, custom_end)  # type: ignore[arg-type,unused-ignore]
    except ValueError:
        st.sidebar.error(t("error.bad_period", lang))
        start, end = resolve_period("12m", first, last)
    filters = Filters(
        segments=tuple(chosen["segment"]),
        regions=tuple(chosen["region"]),
        channels=tuple(chosen["channel"]),
        start=start,
        end=end,
    )
    return filters, preset


def _period_in_language(lang: str) -> None:
    """A link's period in the page's language: the selector reads its options' names in ``lang``,
    and a link made in another language (``period=Last+6+months`` opened in Italian) or naming the
    preset's code (``period=6m``) would otherwise fall back to the default period without a word."""
    asked = st.query_params.get("period")
    if asked is None or "period" in st.session_state:
        return
    for preset in PERIOD_PRESETS:
        if asked == preset or asked in (t(f"period.{preset}", code) for code in LANGUAGES):
            if asked != t(f"period.{preset}", lang):
                st.session_state["period"] = preset
            return


def requested_language() -> str:
    """The language asked for before the switch is drawn: its state on a rerun, else the link's
    ``lang`` (a code or a name, as the address carries it), else Italian."""
    chosen = st.session_state.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    asked = st.query_params.get("lang")
    for code, name in LANGUAGES.items():
        if asked in (code, name):
            return code
    return "it"


def choose_language() -> str:
    """The language switch in the sidebar (kept in the URL as ``lang``)."""
    return _language()


def _server_limits() -> ServerLimits:
    try:
        return load_settings().server
    except ConfigError:  # build_context says what to fix
        return ServerLimits()


@contextmanager
def page_turn(lang: str) -> Iterator[None]:
    """This page run's turn at the server (``service.turns.PAGES``): a few runs at a time for all
    visitors, served in turn by client address, so that one visitor with many sessions open cannot
    slow the others down more than one run at a time. A visitor who waits is told how many pages are
    ahead; the notice goes as the turn comes."""
    limits = _server_limits()
    PAGES.resize(limits.pages_at_once or max(os.cpu_count() or 2, 2))
    loaders.apply_limits(limits)
    notice = None

    def waiting(ahead: int) -> None:
        nonlocal notice
        if notice is None:
            notice = st.empty()
        # an element on every poll: a visitor who left or changed a filter stops waiting here
        notice.info(tn("busy.pages", ahead, lang, n=ahead), icon=":material/hourglass_top:")

    with PAGES.turn(waiting, poll=0.5, owner=client_address(), every_poll=True):
        if notice is not None:
            notice.empty()
        yield


def build_context(lang: str) -> AppContext:
    """Settings, source and filters for this rerun; stored for the page to read."""
    today = date.today()
    ctx = AppContext(lang=lang, today=today)
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _store(AppContext(lang=lang, today=today, problem=Problem("error.config", exc.localized(lang), exc.key)))
    try:
        url = _source_url(settings, lang)
        source = loaders.get_source(url, settings)
        key = loaders.source_key(url, settings)
    except SourceFault as exc:
        return _store(AppContext(lang=lang, today=today, settings=settings, problem=_fault_problem(exc, lang)))
    ctx = AppContext(lang=lang, today=today, settings=settings, source=source, source_key=key)
    errors = source.errors()
    if "orders" in errors:
        err = errors["orders"]
        return _store(AppContext(**{**ctx.__dict__, "problem": Problem("error.mapping", err.localized(lang), err.key)}))
    try:
        # The first load after a start reads the source: say so from the first moment.
        with st.spinner(t("loading", lang), show_time=True):
            made = loaders.facts(source, key, today)
            # every result of this rerun is made from these facts (newer ones may be read meanwhile)
            key = loaders.served_key(made)
            options = loaders.filter_options(source, key, today)
            first, last = loaders.order_date_range(source, key, today)
    except SourceFault as exc:
        return _store(AppContext(**{**ctx.__dict__, "problem": _fault_problem(exc, lang)}))
    except SQLAlchemyError as exc:
        message = redact_message(str(getattr(exc, "orig", exc)), source)
        return _store(AppContext(**{**ctx.__dict__, "problem": Problem("error.query", message)}))
    if first is None or last is None:
        first = last = today
    filters, preset = _sidebar_filters(lang, options, first, last)
    _read_when(made, loaders.renewing(source, key, today), loaders.renewal_failed(key), lang)
    return _store(
        AppContext(
            **{
                **ctx.__dict__,
                "source_key": key,
                "options": options,
                "first_date": first,
                "last_date": last,
                "filters": filters,
                "preset": preset,
            }
        )
    )


def _read_when(made: Facts, renewing: bool, failed: float | None, lang: str) -> None:
    """When the figures shown were read from the source, and whether newer ones are on their way
    (or could not be read: the source is tried again a minute later)."""
    at = datetime.fromtimestamp(loaders.read_at(made)).strftime("%H:%M")
    if renewing:
        st.sidebar.caption(t("sidebar.renewing", lang, time=at))
    elif failed is not None and failed > loaders.read_at(made):
        when = datetime.fromtimestamp(failed).strftime("%H:%M")
        st.sidebar.warning(t("sidebar.renewal_failed", lang, time=at, failed=when), icon=":material/sync_problem:")
    else:
        st.sidebar.caption(t("sidebar.read_at", lang, time=at))


def _fault_problem(exc: SourceFault, lang: str) -> Problem:
    title = "error.timeout" if isinstance(exc, QueryTimeout) else "error.source"
    return Problem(title, exc.localized(lang))


def redact_message(message: str, source: Source) -> str:
    """A driver message with the URL's password removed, first line only."""
    password = source.engine.url.password
    text = message.strip().splitlines()[0] if message.strip() else message
    if password:
        text = text.replace(str(password), "***")
    return text[:400]


def _store(ctx: AppContext) -> AppContext:
    st.session_state[_CONTEXT_KEY] = ctx
    return ctx


def page_context() -> AppContext:
    """The context ``app.py`` built for this rerun."""
    if _legacy_discovery():
        _hand_over_to_app()
    ctx = st.session_state.get(_CONTEXT_KEY)
    if not isinstance(ctx, AppContext):
        st.error("Open the dashboard through app.py (python3 serve.py, or streamlit run app.py).")
        st.stop()
    return ctx


def _legacy_discovery() -> bool:
    """Whether Streamlit ran this page file by its older ``pages/`` discovery, without ``app.py``.

    Until ``app.py`` has called ``st.navigation`` once after a server start, Streamlit serves the
    ``pages/`` folder by file discovery, so the first request to a page link runs that file alone
    (Streamlit's test harness does so on every run). ``st.navigation`` turns the discovery off."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the legacy discovery
        return False
    return bool(PagesManager.uses_pages_directory)


def _hand_over_to_app() -> NoReturn:
    """Run ``app.py`` in this page's place, within the same run: every page file is named after its
    address, so the legacy discovery lands on the right file, and ``app.py``'s ``st.navigation``
    then resolves the same page with the same query string and widget events (the path Streamlit
    itself takes when the discovery falls back to the main script)."""
    import runpy

    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    PagesManager.uses_pages_directory = False
    run = get_script_run_ctx()
    if run is None:
        st.stop()
    runpy.run_path(str(run.pages_manager.main_script_path), run_name="__main__")
    st.stop()


def start_page(title_key: str) -> AppContext:
    """The common head of every analysis page: title, and — when the data cannot be read or there
    is no period — the reason, then stop; otherwise the active filters. Returns the context."""
    ctx = page_context()
    st.title(t(title_key, ctx.lang))
    if ctx.problem is not None:
        show_problem(ctx)
        st.stop()
    if ctx.source is None or ctx.filters.start is None or ctx.filters.end is None or ctx.first_date is None:
        st.info(t("empty.orders", ctx.lang))
        st.stop()
    show_active_filters(ctx)
    return ctx


def show_problem(ctx: AppContext) -> None:
    """Show why the data cannot be read, with the key to fix, and stop the page."""
    assert ctx.problem is not None
    lang = ctx.lang
    body = ctx.problem.message
    if ctx.problem.fix_key:
        body = f"**{t('error.fix_key', lang)}: `{ctx.problem.fix_key}`**  \n{body}"
    st.error(f"### {t(ctx.problem.title_key, lang)}\n{body}\n\n{t('error.retry', lang)}", icon=":material/error:")
    _retry_button(lang)


def _retry_button(lang: str) -> None:
    """A button that simply reruns: caches never keep a failure, so a rerun asks the database again."""
    st.button(t("error.retry_button", lang), icon=":material/refresh:", key="cruscotto_retry")


def _drop_filter(dim: str, value: str) -> None:
    """Take ``value`` out of the sidebar's ``dim`` filter (a chip's callback)."""
    st.session_state[dim] = [v for v in st.session_state.get(dim, []) if v != value]


def show_active_filters(ctx: AppContext) -> None:
    """One line under the page title: the period, its comparison and every active filter."""
    lang, f = ctx.lang, ctx.filters
    if f.start is None or f.end is None:
        return
    prev_start, prev_end = previous_period(f.start, f.end)
    parts = [
        f"**{t('active.period', lang)}:** {fmt_date(f.start, lang)} – {fmt_date(f.end, lang)} "
        f"({t('active.compared', lang)} {fmt_date(prev_start, lang)} – {fmt_date(prev_end, lang)})"
    ]
    for dim, chosen in (("segment", f.segments), ("region", f.regions), ("channel", f.channels)):
        label = ", ".join(md(c) for c in chosen) if chosen else t("filter.all", lang)
        parts.append(f"**{t(f'filter.{dim}', lang)}:** {label}")
    st.caption(" · ".join(parts))
    chosen_values = [
        (dim, v) for dim, vs in (("segment", f.segments), ("region", f.regions), ("channel", f.channels)) for v in vs
    ]
    if chosen_values:
        with st.container(horizontal=True, vertical_alignment="center", key="cruscotto_chips"):
            st.caption(t("active.filtered_by", lang), width="content")
            for dim, value in chosen_values:
                st.button(
                    md(value),
                    icon=":material/close:",
                    key=f"cruscotto_chip_{dim}_{value}",
                    help=t("active.chip_help", lang, what=t(f"filter.{dim}", lang).lower(), value=value),
                    on_click=_drop_filter,
                    args=(dim, value),
                )
    if ctx.settings is not None and ctx.settings.url_origin == "demo":
        st.caption(f":material/science: {t('demo.banner', lang)}")


@contextmanager
def shown_errors(ctx: AppContext) -> Iterator[None]:
    """Turn a failing query or mapping into a clear message on the page (never a traceback).

    A load that takes longer than half a second (a cold cache on a large database) shows a spinner
    with the elapsed time; cached reruns never see it."""
    try:
        with st.spinner(t("loading", ctx.lang), show_time=True):
            yield
    except MappingError as exc:
        show_problem(replace(ctx, problem=Problem("error.mapping", exc.localized(ctx.lang), exc.key)))
        st.stop()
    except SourceFault as exc:
        show_problem(replace(ctx, problem=_fault_problem(exc, ctx.lang)))
        st.stop()
    except SQLAlchemyError as exc:
        message = redact_message(str(getattr(exc, "orig", exc)), ctx.source) if ctx.source else ""
        show_problem(replace(ctx, problem=Problem("error.query", message)))
        st.stop()

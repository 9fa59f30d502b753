"""Who may see the dashboard: a password (argon2 hash) or Streamlit's OIDC login; off for the demo.

* OIDC: when ``.streamlit/secrets.toml`` has Streamlit's ``[auth]`` section, ``st.login`` is used;
  ``[cruscotto] allowed_emails`` and ``allowed_domains`` limit which accounts get in.
* Password: the argon2 hash in ``CRUSCOTTO_PASSWORD_HASH`` or in ``.streamlit/secrets.toml``
  (``[cruscotto] password_hash = "$argon2id$…"``); make one with ``python cli.py hash-password``.
  Failed attempts are counted per client address and in all, for the whole server
  (``service.passwords.LoginLimiter``): after three, each attempt waits twice as long; a session
  that was let in stays bound to its address and browser.
* Neither: open, as for the local demo.

Every login, failed or not, is logged (``cruscotto.access``), with the address, never the password.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

import streamlit as st

from render.text import md, t, tn
from service.passwords import LoginLimiter, check_password, email_allowed, hash_password

__all__ = ["LIMITER", "check_password", "gate", "hash_password", "is_open", "password_hash"]

_STATE = "cruscotto_access"
_LOG = logging.getLogger("cruscotto.access")
#: one for the server: every session (a reload, a new tab, a script) counts against the same limits
LIMITER = LoginLimiter()


def _secrets() -> Mapping[str, Any]:
    try:
        return st.secrets.to_dict()
    except Exception:  # no secrets file: nothing configured
        return {}


def password_hash(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> str | None:
    """The configured password hash, if any (environment first, then secrets)."""
    env = os.environ if env is None else env
    if env.get("CRUSCOTTO_PASSWORD_HASH"):
        return env["CRUSCOTTO_PASSWORD_HASH"]
    section = (secrets if secrets is not None else _secrets()).get("cruscotto", {})
    value = section.get("password_hash") if isinstance(section, Mapping) else None
    return str(value) if value else None


def _client() -> tuple[str, str]:
    """The visitor's address and browser, as Streamlit sees them ("unknown" when it cannot tell)."""
    try:
        address, agent = st.context.ip_address, st.context.headers.get("User-Agent", "")
    except Exception:  # outside a browser session (bare mode)
        address, agent = None, ""
    return (
        address if isinstance(address, str) and address else "unknown",
        agent[:200] if isinstance(agent, str) else "",
    )


def client_address() -> str:
    """The visitor's address ("unknown" outside a browser session): whose turn a page run is."""
    return _client()[0]


def _allowed_account(secrets: Mapping[str, Any]) -> bool:
    section = secrets.get("cruscotto", {})
    section = section if isinstance(section, Mapping) else {}
    email = st.user.get("email")
    allowed_emails, allowed_domains = section.get("allowed_emails", ()), section.get("allowed_domains", ())
    return email_allowed(email if isinstance(email, str) else None, allowed_emails, allowed_domains)


def _let_in(state: dict[str, Any]) -> bool:
    """A session let in stays in from the same address and browser; from another one (a session id
    taken elsewhere) it asks for the password again."""
    if not state.get("ok"):
        return False
    if state.get("client") == _client():
        return True
    _LOG.warning("session reused from another address (%s): password asked again", _client()[0])
    state.update(ok=False, client=None)
    return False


def is_open() -> bool:
    """Whether the visitor may see the pages now (nothing configured, or already let in)."""
    secrets = _secrets()
    if "auth" in secrets:
        return bool(st.user.is_logged_in) and _allowed_account(secrets)
    return not password_hash(secrets=secrets) or _let_in(st.session_state.get(_STATE, {}))


def gate(lang: str) -> None:
    """Stop the page unless the visitor is let in."""
    secrets = _secrets()
    if "auth" in secrets:
        if not st.user.is_logged_in:
            st.title(t("access.title", lang))
            st.button(t("access.login", lang), on_click=st.login, icon=":material/login:")
            st.stop()
        if not _allowed_account(secrets):
            email = str(st.user.get("email") or "")
            _LOG.warning("company login refused for %s from %s: not on the allow-list", email, _client()[0])
            st.title(t("access.title", lang))
            st.error(t("access.not_allowed", lang, email=md(email)))
            st.button(t("access.logout", lang), on_click=st.logout, icon=":material/logout:")
            st.stop()
        return
    stored = password_hash(secrets=secrets)
    state = st.session_state.setdefault(_STATE, {"ok": False})
    if not stored or _let_in(state):
        return
    address, agent = _client()
    st.title(t("access.title", lang))
    with st.form("access"):
        attempt = st.text_input(t("access.password", lang), type="password")
        submitted = st.form_submit_button(t("access.enter", lang), icon=":material/lock_open:")
    if submitted:
        wait = LIMITER.wait(address)
        if wait > 0:  # not even checked: guessing costs the server nothing while it waits
            seconds = math.ceil(wait)
            st.error(tn("access.wait", seconds, lang, n=seconds))
            st.stop()
        if check_password(stored, attempt):
            LIMITER.succeeded(address)
            _LOG.info("login from %s", address)
            state.update(ok=True, client=(address, agent))
            st.rerun()
        failures = LIMITER.failed(address)
        _LOG.warning("failed login from %s (%d in a row)", address, failures)
        st.error(t("access.wrong", lang))
    st.stop()

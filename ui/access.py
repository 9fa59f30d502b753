"""Who may see the dashboard: a password (argon2 hash) or Streamlit's OIDC login; off for the demo.

* OIDC: when ``.streamlit/secrets.toml`` has Streamlit's ``[auth]`` section, ``st.login`` is used.
* Password: the argon2 hash in ``CRUSCOTTO_PASSWORD_HASH`` or in ``.streamlit/secrets.toml``
  (``[cruscotto] password_hash = "$argon2id$…"``); make one with ``python cli.py hash-password``.
  After each failed attempt the next one waits longer (1, 2, 4 … up to 30 seconds).
* Neither: open, as for the local demo.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import streamlit as st

from render.text import t
from service.passwords import check_password, hash_password

__all__ = ["check_password", "gate", "hash_password", "is_open", "password_hash"]

_STATE = "cruscotto_access"


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


def is_open() -> bool:
    """Whether the visitor may see the pages now (nothing configured, or already let in)."""
    secrets = _secrets()
    if "auth" in secrets:
        return bool(st.user.is_logged_in)
    return not password_hash(secrets=secrets) or bool(st.session_state.get(_STATE, {}).get("ok"))


def gate(lang: str) -> None:
    """Stop the page unless the visitor is let in."""
    secrets = _secrets()
    if "auth" in secrets:
        if not st.user.is_logged_in:
            st.title(t("access.title", lang))
            st.button(t("access.login", lang), on_click=st.login, icon=":material/login:")
            st.stop()
        return
    stored = password_hash(secrets=secrets)
    if not stored or st.session_state.get(_STATE, {}).get("ok"):
        return
    state = st.session_state.setdefault(_STATE, {"ok": False, "failures": 0})
    st.title(t("access.title", lang))
    with st.form("access"):
        attempt = st.text_input(t("access.password", lang), type="password")
        submitted = st.form_submit_button(t("access.enter", lang), icon=":material/lock_open:")
    if submitted:
        time.sleep(min(30.0, 2.0 ** state["failures"] - 1))  # 0, 1, 3, 7 … seconds: guessing gets slow
        if check_password(stored, attempt):
            state.update(ok=True, failures=0)
            st.rerun()
        state["failures"] += 1
        st.error(t("access.wrong", lang))
    st.stop()

"""The executive report by e-mail, end to end against a real mail server on loopback (aiosmtpd):
the message arrives for every recipient, is valid MIME with the PDF attached and the chart inline,
its figures are the report's, its link opens the same view; a wrong password or a server that
does not answer is one clear line and exit status 2; the settings are checked key by key."""

from __future__ import annotations

import contextlib
import io
import socket
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

import cli
from data.filters import Filters
from data.settings import ConfigError, load_settings
from data.source import Source
from kpi.periods import resolve_period
from service.report import build_report

USER, PASSWORD = "cruscotto", "segreta-123"


class Inbox:
    """What the server received: (recipients, message bytes) per message."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if address.startswith("nessuno@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content)))
        return "250 OK"


def _login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # the server answers 535 itself


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = _free_port()
    server = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=_login, auth_require_tls=False, auth_required=True
    )
    server.start()
    yield port, inbox
    server.stop()


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _config(tmp_path: Path, port: int, password: str = PASSWORD) -> Path:
    config = tmp_path / "cruscotto.toml"
    config.write_text(
        f'[mail]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nuser = "{USER}"\n'
        f'password = "{password}"\nsender = "cruscotto@torrefazione.it"\n'
        'dashboard_url = "https://cruscotto.torrefazione.it/"\n'
    )
    return config


def test_the_report_arrives(
    smtp: tuple[int, Inbox], tmp_path: Path, demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, inbox = smtp
    monkeypatch.setenv("CRUSCOTTO_DB_URL", demo_url)
    config = _config(tmp_path, port)
    code, out, err = _run(
        "report", "--config", str(config), "--mail-to", "titolare@torrefazione.it, soci@torrefazione.it",
        "--segment", "HoReCa", "--lang", "it",
    )  # fmt: skip
    assert code == 0, err
    assert "report sent to titolare@torrefazione.it, soci@torrefazione.it" in out
    assert not list(tmp_path.glob("*.pdf"))  # mailed, not written, without --out
    (recipients, raw), *others = inbox.messages
    assert not others and recipients == ["titolare@torrefazione.it", "soci@torrefazione.it"]
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["From"] == "cruscotto@torrefazione.it" and message["Subject"].startswith(
        "Cruscotto — report direzionale del "
    )
    # the PDF attached, the chart inline and named by the HTML body
    (pdf,) = list(message.iter_attachments())
    assert pdf.get_content_type() == "application/pdf" and pdf.get_filename().endswith(".pdf")
    assert pdf.get_content().startswith(b"%PDF")
    body = message.get_body(("html",))
    assert body is not None
    text = body.get_content()
    (image,) = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert f'src="cid:{image["Content-ID"].strip("<>")}"' in text and image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    # the figures are the report's overview's, for the same filters
    settings = load_settings(config, env={}, secrets_path="/nonexistent")
    source = Source(settings=settings, url=demo_url)
    today = date.today()
    first, last = date(2023, 11, 1), date(2026, 10, 31)
    start, end = resolve_period("12m", first, last)
    sections = build_report(source, Filters(segments=("HoReCa",), start=start, end=end), "it", today)
    overview = next(s for s in sections if s.title == "Panoramica")
    assert overview.cards and all(value in text for _, value in overview.cards)
    plain = message.get_body(("plain",))
    assert plain is not None and f"- {overview.cards[0][0]}: {overview.cards[0][1]}" in plain.get_content()
    # the link opens the same view
    link = urlparse(text.split('<a href="')[1].split('"')[0].replace("&amp;", "&"))
    assert link.netloc == "cruscotto.torrefazione.it"
    query = parse_qs(link.query)
    assert query == {"lang": ["it"], "segment": ["HoReCa"], "period": ["Ultimi 12 mesi"]}


def test_a_wrong_password_or_no_server_is_one_line(
    smtp: tuple[int, Inbox], tmp_path: Path, demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, inbox = smtp
    monkeypatch.setenv("CRUSCOTTO_DB_URL", demo_url)
    config = _config(tmp_path, port, password="sbagliata-456")
    code, _, err = _run("report", "--config", str(config), "--mail-to", "titolare@torrefazione.it")
    assert code == 2 and not inbox.messages
    assert err.strip().splitlines()[-1].startswith(f"mail: the mail server 127.0.0.1:{port} refused the login")
    assert "sbagliata" not in err and "Traceback" not in err
    closed = _free_port()
    config = _config(tmp_path, closed)
    code, _, err = _run("report", "--config", str(config), "--mail-to", "titolare@torrefazione.it")
    assert code == 2 and f"the mail server 127.0.0.1:{closed} does not answer" in err and "Traceback" not in err
    # a subject of two lines would break the headers: refused before anything is built
    config = _config(tmp_path, port)
    code, _, err = _run(
        "report", "--config", str(config), "--mail-to", "titolare@torrefazione.it", "--subject", "Report\nBcc: x@y.it"
    )
    assert code == 2 and "--subject: one line only" in err and not inbox.messages
    # a recipient that is not an address, or no server at all: said before the report is built
    code, _, err = _run("report", "--config", str(config), "--mail-to", "titolare")
    assert code == 2 and "--mail-to: not an e-mail address: titolare" in err
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    code, _, err = _run("report", "--config", str(empty), "--mail-to", "titolare@torrefazione.it")
    assert code == 2 and "CRUSCOTTO_SMTP_HOST" in err


def test_mail_settings_name_the_key(tmp_path: Path) -> None:
    config = tmp_path / "cruscotto.toml"
    for text, key in (
        ('[mail]\nsecurity = "tls"\n', "mail.security"),
        ("[mail]\nport = 70000\n", "mail.port"),
        ("[mail]\nhost = 25\n", "mail.host"),
        ('[mail]\nserver = "smtp"\n', "mail.server"),
    ):
        config.write_text(text)
        with pytest.raises(ConfigError) as caught:
            load_settings(config, env={}, secrets_path="/nonexistent")
        assert caught.value.key == key, text
    # the environment wins over the file; the port follows the security unless given
    config.write_text('[mail]\nhost = "smtp.torrefazione.it"\nsecurity = "ssl"\npassword = "nel-file"\n')
    mail = load_settings(config, env={"CRUSCOTTO_SMTP_PASSWORD": "segreta"}, secrets_path="/nonexistent").mail
    assert (mail.host, mail.port, mail.security, mail.password) == ("smtp.torrefazione.it", 465, "ssl", "segreta")
    assert "segreta" not in repr(mail)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={"CRUSCOTTO_SMTP_PORT": "porta"}, secrets_path="/nonexistent")
    assert caught.value.key == "CRUSCOTTO_SMTP_PORT"


def test_a_refused_recipient_is_named(
    smtp: tuple[int, Inbox], tmp_path: Path, demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One address refused by the server: the others get the report, the refused one is named and
    the exit status is 1."""
    port, inbox = smtp
    monkeypatch.setenv("CRUSCOTTO_DB_URL", demo_url)
    config = _config(tmp_path, port)
    code, out, err = _run(
        "report", "--config", str(config), "--mail-to", "titolare@torrefazione.it,nessuno@torrefazione.it",
        "--lang", "en",
    )  # fmt: skip
    assert code == 1
    assert "report sent to titolare@torrefazione.it through" in out
    assert "the server refused nessuno@torrefazione.it" in err
    ((recipients, raw),) = inbox.messages
    assert recipients == ["titolare@torrefazione.it"]
    assert message_from_bytes(raw, policy=policy.default)["Subject"].startswith("Cruscotto")

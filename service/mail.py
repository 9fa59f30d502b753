"""The executive report by e-mail: the headline figures in the body, the overview's chart inline,
the PDF attached and a link to the same view of the dashboard, sent through the mail server of
``[mail]`` (``data.settings.MailSettings``). Standard library only; no Streamlit here.

Every failure of the server — unreachable, a wrong password, recipients refused, no TLS — is one
``MailError`` with a clear message; the password is never part of one."""

from __future__ import annotations

import html
import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import quote, urlencode

from data.filters import Filters
from data.messages import Explained
from data.settings import MailSettings
from render.text import t

__all__ = ["MailError", "dashboard_link", "report_message", "send_message", "view_query"]


class MailError(Explained, RuntimeError):
    """The report could not be sent; the message says why and what to check."""


def view_query(filters: Filters, preset: str, lang: str) -> list[tuple[str, str]]:
    """The address's parameters of the dashboard's view of ``filters`` in ``lang``: those the
    sidebar keeps in the address. ``preset``: the period's preset (``12m``…), or ``custom`` for the
    dates of ``filters``."""
    query: list[tuple[str, str]] = [("lang", lang)]
    for key, chosen in (("segment", filters.segments), ("region", filters.regions), ("channel", filters.channels)):
        query += [(key, value) for value in chosen]
    query.append(("period", t(f"period.{preset}", lang)))
    if preset == "custom" and filters.start and filters.end:
        query += [("from", filters.start.isoformat()), ("to", filters.end.isoformat())]
    return query


def dashboard_link(base: str, filters: Filters, preset: str, lang: str, page: str = "") -> str:
    """The dashboard's address showing ``filters`` (the same segments, regions, channels and period)
    in ``lang`` (``view_query``); ``page``: the page's address (``marketing``), the overview when
    empty."""
    return base.rstrip("/") + "/" + page + "?" + urlencode(view_query(filters, preset, lang), quote_via=quote)


def report_message(
    *,
    title: str,
    caption: str,
    comment: str,
    figures: Sequence[tuple[str, str]],
    pdf: bytes,
    chart_png: bytes | None,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    lang: str,
    filename: str,
    link: str | None,
    alerts: Sequence[tuple[str, str | None]] = (),
) -> EmailMessage:
    """The message: a plain-text and an HTML body (the caption, the ``alerts`` as sentences with
    the link to the view that explains each, ``comment``, the ``figures`` as label and value, the
    chart inline where there is one, the link), and the report as a PDF."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    lines = [title, caption, ""]
    if alerts:
        lines += [f"{t('mail.alerts', lang)}:"]
        lines += [f"- {text}" + (f" ({url})" if url else "") for text, url in alerts]
        lines += [""]
    lines += [comment, ""]
    lines += [f"- {label}: {value}" for label, value in figures]
    lines += ["", t("mail.attached", lang)]
    if link:
        lines += ["", f"{t('mail.open', lang)}: {link}"]
    message.set_content("\n".join(lines))
    cid = make_msgid(domain="cruscotto")
    rows = "".join(
        f'<tr><td style="padding:4px 12px 4px 0;color:#52606d">{html.escape(label)}</td>'
        f'<td style="padding:4px 0;font-weight:600;text-align:right">{html.escape(value)}</td></tr>'
        for label, value in figures
    )
    image = (
        f'<p><img src="cid:{cid[1:-1]}" alt="{html.escape(t("mail.chart_alt", lang))}" width="600"'
        ' style="max-width:100%;height:auto"></p>'
        if chart_png
        else ""
    )
    button = (
        f'<p><a href="{html.escape(link)}" style="color:#1f6feb">{html.escape(t("mail.open", lang))}</a></p>'
        if link
        else ""
    )
    warned = ""
    if alerts:
        items = "".join(
            f'<li style="margin:4px 0">{html.escape(text)}'
            + (f' <a href="{html.escape(url)}" style="color:#1f6feb">→</a>' if url else "")
            + "</li>"
            for text, url in alerts
        )
        warned = (
            '<div style="border-left:4px solid #c2410c;background:#fff7ed;padding:8px 12px;margin:12px 0">'
            f'<strong>{html.escape(t("mail.alerts", lang))}</strong><ul style="margin:6px 0;padding-left:18px">'
            f"{items}</ul></div>"
        )
    body = (
        '<html><body style="font-family:Helvetica,Arial,sans-serif;color:#1f2933;max-width:640px">'
        f"<h2>{html.escape(title)}</h2>"
        f'<p style="color:#52606d;font-size:13px">{html.escape(caption)}</p>'
        f"{warned}<p>{html.escape(comment)}</p>"
        f"<table>{rows}</table>{image}{button}"
        f'<p style="color:#52606d;font-size:13px">{html.escape(t("mail.attached", lang))}</p>'
        "</body></html>"
    )
    message.add_alternative(body, subtype="html")
    if chart_png:
        html_part = message.get_body(("html",))
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(chart_png, "image", "png", cid=cid, filename="cruscotto.png")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    return message


def send_message(message: EmailMessage, mail: MailSettings, timeout: float = 30.0) -> list[str]:
    """Send ``message`` through ``mail``'s server: TLS from the start (``ssl``), after greeting
    (``starttls``) or none, and a login when a user is given. Returns the recipients the server
    refused while taking the others; ``MailError`` for any failure (all refused included)."""
    if not mail.host:
        raise MailError("mail.no_host")
    where = {"host": mail.host, "port": mail.port}
    context = ssl.create_default_context()
    try:
        if mail.security == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(mail.host, mail.port, timeout=timeout, context=context)
        else:
            server = smtplib.SMTP(mail.host, mail.port, timeout=timeout)
        with server:
            if mail.security == "starttls":
                server.starttls(context=context)
            if mail.user:
                server.ehlo_or_helo_if_needed()
                if not server.has_extn("auth"):
                    raise MailError("mail.no_login", **where)
                server.login(mail.user, mail.password or "")
            refused = server.send_message(message)
        return sorted(refused)
    except smtplib.SMTPAuthenticationError:
        raise MailError("mail.login_refused", user=mail.user or "", **where) from None
    except smtplib.SMTPNotSupportedError:
        raise MailError("mail.no_starttls", **where) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError("mail.recipients_refused", names=", ".join(exc.recipients), **where) from None
    except smtplib.SMTPSenderRefused as exc:
        raise MailError("mail.sender_refused", sender=exc.sender, **where) from None
    except ssl.SSLError as exc:
        raise MailError("mail.tls_failed", detail=exc.reason or str(exc), **where) from None
    except (smtplib.SMTPException, socket.gaierror, OSError) as exc:
        detail = str(exc).strip() or type(exc).__name__
        raise MailError("mail.unreachable", detail=detail, **where) from None

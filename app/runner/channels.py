"""Sending: email over SMTP (tracked links and an open pixel), text messages through an HTTP gateway.

Tracked links and the pixel point at the runner's tracking endpoint (tracking.py) with a signed token naming
the contact's workflow, the step and the link, so a click or an open becomes a signal to that workflow. Every
message carries a transport id that is the same on each attempt (an email's Message-ID; the gateway's
`Idempotency-Key` header and `key` field), so that a message resent after a crash can be recognised (state.py).

The SMS gateway is a generic webhook: POST of JSON {key, to, text, contact, journey, step} with the
Idempotency-Key header; any 2xx status means accepted. A refusal that will not change on another attempt is
permanent (`ChannelError.permanent`: an SMTP 5xx reply, an HTTP 4xx other than 408 and 429); anything else (a
4xx SMTP reply, an HTTP 5xx, no answer) is tried again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import smtplib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from html import escape
from typing import Any

from app.model.content import TOKEN, Content


class ChannelError(Exception):
    """A send the transport refused or could not take: tried again, unless `permanent` (the same message would be
    refused again: an SMTP 5xx reply, an HTTP 4xx other than 408 and 429, a message that cannot be built)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def smtp_permanent(code: int) -> bool:
    """Whether an SMTP reply code refuses for good (5xx); 4xx is a 'try again later'."""
    return 500 <= code < 600


def http_permanent(status: int) -> bool:
    """Whether an HTTP status refuses for good: a 4xx, except 408 (timeout) and 429 (too many requests)."""
    return 400 <= status < 500 and status not in (408, 429)


# --- tracking tokens -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tracked:
    """What a tracking token names: the workflow, the step, what happened, the link (for clicks) and, in an
    account's workflow, the contact the message went to."""

    workflow_id: str
    step_id: str
    kind: str  # "o" open, "c" click, "u" unsubscribe
    link: str = ""
    contact: int = -1


class Tokens:
    """Signs and reads tracking tokens with the run's secret (a forged token is refused)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode("utf-8")

    def _mac(self, body: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.secret, body, hashlib.sha256).digest()[:12]).decode().rstrip("=")

    def make(self, t: Tracked) -> str:
        """The token of `t`: base64url JSON, a dot, and a MAC."""
        fields: list[Any] = [t.workflow_id, t.step_id, t.kind, t.link] + ([t.contact] if t.contact >= 0 else [])
        body = json.dumps(fields, separators=(",", ":")).encode("utf-8")
        return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + self._mac(body)

    def read(self, token: str) -> Tracked | None:
        """The tracked item of a token, or None when it is malformed or not signed by this run."""
        try:
            data, mac = token.split(".", 1)
            body = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
            if not hmac.compare_digest(mac, self._mac(body)):
                return None
            w, s, k, link, *rest = json.loads(body)
            return Tracked(str(w), str(s), str(k), str(link), int(rest[0]) if rest else -1)
        except (ValueError, TypeError):
            return None


# --- personalisation -------------------------------------------------------------------------------------

def personalise(text: str, contact: Mapping[str, Any]) -> str:
    """Replace {{attribute}} tokens with the contact's values (missing: empty)."""
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        name = name[len("contact."):] if name.startswith("contact.") else name
        v = contact.get(name)
        return "" if v is None else str(v)
    return TOKEN.sub(one, text)


def link_target(link: str) -> str | None:
    """Where a tracked link leads after the click: the link itself when it is a web address."""
    return link if link.startswith(("http://", "https://")) else None


# --- email -----------------------------------------------------------------------------------------------

def build_email(content: Content, contact: Mapping[str, Any], to: str, message_id: str,
                links: Mapping[str, str], pixel: str, default_sender: str) -> EmailMessage:
    """The email for one contact: text and HTML parts; `[link]` markers become tracked links, plus the pixel."""
    msg = EmailMessage()
    msg["Subject"] = personalise(content.subject, contact)
    msg["From"] = content.sender or default_sender
    msg["To"] = to
    msg["Message-ID"] = message_id
    msg["Date"] = formatdate(usegmt=True)
    body = personalise(content.body, contact)
    text, html = body, escape(body)
    for link, url in links.items():
        marker = f"[{link}]"
        if marker in body:
            text = text.replace(marker, url)
            html = html.replace(escape(marker), f'<a href="{escape(url)}">{escape(link)}</a>')
        else:
            text += f"\n{link}: {url}"
            html += f'<br><a href="{escape(url)}">{escape(link)}</a>'
    msg.set_content(text + "\n")
    msg.add_alternative(f'<html><body><p>{html}</p><img src="{escape(pixel)}" width="1" height="1" alt="">'
                        "</body></html>\n", subtype="html")
    return msg


class SmtpChannel:
    """An SMTP server that accepts the run's email (no authentication, no TLS: a local relay).

    Each sending thread keeps its connection open between messages (a connection idle for `reuse_for` seconds
    is replaced); any error closes it and fails the send, which the activity retries on a new connection.
    """

    def __init__(self, host: str, port: int, sender: str = "journeys@localhost", timeout: float = 30.0,
                 reuse_for: float = 30.0, local_hostname: str = "localhost") -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.reuse_for, self.local_hostname = reuse_for, local_hostname
        self._local = threading.local()
        self._open: set[smtplib.SMTP] = set()
        self._lock = threading.Lock()

    def _connection(self) -> smtplib.SMTP:
        conn: smtplib.SMTP | None = getattr(self._local, "conn", None)
        if conn is not None and time.monotonic() - self._local.used > self.reuse_for:
            self._drop(conn)
            conn = None
        if conn is None:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname)
            self._local.conn = conn
            with self._lock:
                self._open.add(conn)
        return conn

    def _drop(self, conn: smtplib.SMTP) -> None:
        self._local.conn = None
        with self._lock:
            self._open.discard(conn)
        try:
            conn.close()
        except OSError:
            pass

    def send(self, msg: EmailMessage) -> None:
        """Hand the message over; ChannelError when the server refuses (permanent on a 5xx reply) or cannot be
        reached."""
        conn = None
        try:
            conn = self._connection()
            refused = conn.send_message(msg)
            self._local.used = time.monotonic()
        except (OSError, UnicodeError, smtplib.SMTPException) as e:
            if conn is not None:
                self._drop(conn)
            raise self._error(e) from None
        if refused:
            codes = [code for code, _ in refused.values()]
            raise ChannelError(f"SMTP {self.host}:{self.port} refused {_replies(refused)}",
                               permanent=all(smtp_permanent(c) for c in codes))

    def _error(self, e: Exception) -> ChannelError:
        where = f"SMTP {self.host}:{self.port}"
        if isinstance(e, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in e.recipients.values()]
            return ChannelError(f"{where} refused {_replies(e.recipients)}",
                                permanent=bool(codes) and all(smtp_permanent(c) for c in codes))
        if isinstance(e, smtplib.SMTPResponseException) and not isinstance(e, (smtplib.SMTPConnectError,
                                                                               smtplib.SMTPHeloError)):
            # this message's sender or data refused (a refused connection is the server's state, not the message's)
            text = e.smtp_error.decode("utf-8", "replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
            return ChannelError(f"{where}: {e.smtp_code} {text}", permanent=smtp_permanent(e.smtp_code))
        if isinstance(e, (smtplib.SMTPNotSupportedError, UnicodeError)):  # e.g. an address it cannot take
            return ChannelError(f"{where}: {e}", permanent=True)
        return ChannelError(f"{where}: {e}")

    def close(self) -> None:
        """Close every open connection."""
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()


def _replies(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{to} ({code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg})"
                     for to, (code, msg) in refused.items())


# --- text messages ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmsChannel:
    """A generic HTTP gateway for text messages (and, with its own URL, for push notifications)."""

    url: str
    timeout: float = 30.0
    label: str = "SMS gateway"

    def send(self, key: str, to: str, text: str, extra: Mapping[str, Any]) -> None:
        """POST the message; ChannelError unless the gateway answers 2xx."""
        body = json.dumps({"key": key, "to": to, "text": text, **extra}).encode("utf-8")
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Idempotency-Key": key})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status = resp.status
        except urllib.error.HTTPError as e:
            raise ChannelError(f"{self.label} {self.url}: HTTP {e.code}", permanent=http_permanent(e.code)) from None
        except OSError as e:
            raise ChannelError(f"{self.label} {self.url}: {e}") from None
        if not 200 <= status < 300:
            raise ChannelError(f"{self.label} {self.url}: HTTP {status}", permanent=http_permanent(status))


def parse_host_port(text: str, what: str, default_port: int | None = None) -> tuple[str, int]:
    """HOST:PORT (or HOST with a default port) as a pair; ValueError naming `what` otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep:
        if default_port is None:
            raise ValueError(f"{what} must be HOST:PORT, not '{text}'")
        return text, default_port
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{what} must be HOST:PORT, not '{text}'")
    return host.strip("[]"), int(port)

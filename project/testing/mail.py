"""A real SMTP server for the tests: aiosmtpd on a free port of 127.0.0.1.

``smtp_server`` starts one and points Django's mail settings at it through
``EMAIL_URL`` (``project.mail.email_from_url``), so a test sends exactly as
the site does in production and reads what the server received.
``mail_server_down`` points the settings at a port where nothing listens.
"""

from __future__ import annotations

import email
import logging
import re
import socket
import threading
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from project.mail import email_from_url

LINK = re.compile(r"https?://\S+")


class _FreePortController(Controller):
    """aiosmtpd's controller, listening on port 0 (the system picks a free port)."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    def __init__(self, **smtp_options: Any) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        # A reply such as "451 4.3.0 Try again later" makes the server refuse every message.
        self.refuse_with: str | None = None
        self._arrived = threading.Condition()
        self._controller = _FreePortController(self, hostname="127.0.0.1", port=0, ready_timeout=10, **smtp_options)

    # aiosmtpd's handler hook.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_with:
            return self.refuse_with
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=default_policy)
        with self._arrived:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    @property
    def port(self) -> int:
        return self._controller.port

    def url(self, scheme: str = "smtp", query: str = "starttls=false") -> str:
        return f"{scheme}://127.0.0.1:{self.port}" + (f"?{query}" if query else "")

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        """Block until ``count`` messages have arrived (the live server sends from another thread)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")
            return list(self.messages)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


def body(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def link_in(message: EmailMessage) -> str:
    """The one link in a message's text."""
    links = LINK.findall(body(message))
    if len(links) != 1:
        raise AssertionError(f"expected one link, found {links}")
    return links[0]


def use_mail_url(settings: Any, url: str) -> None:
    for name, value in email_from_url(url).items():
        setattr(settings, name, value)


@pytest.fixture
def smtp_server(settings):
    # aiosmtpd logs every SMTP command at INFO; only its problems matter here.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    server = SmtpServer().start()
    use_mail_url(settings, server.url())
    settings.DEFAULT_FROM_EMAIL = "Posts <no-reply@example.com>"
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def mail_server_down(settings) -> str:
    """Mail settings for a port where nothing listens: connecting is refused at once."""
    url = f"smtp://127.0.0.1:{free_port()}?starttls=false&timeout=2"
    use_mail_url(settings, url)
    return url

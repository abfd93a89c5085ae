"""Alerting fixtures: a real SMTP server (aiosmtpd) on 127.0.0.1, the deliveries' Celery messages recorded
instead of sent, and helpers for channels and rules."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from alerts import tasks
from alerts.models import AlertRule, Channel
from alerts.services import channel_create, rule_save


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    host: str = "127.0.0.1"
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's name
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content))
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 10) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        with self.lock:
            return list(self.messages)

    def url(self, to: str = "ops@example.com") -> str:
        return f"mailto://{self.host}:{self.port}?from=hourglass@example.com&to={to}"


@pytest.fixture
def smtp_server() -> Any:
    mailbox = Mailbox()
    with socket.socket() as probe:  # a free port: aiosmtpd checks it started by connecting to its port
        probe.bind(("127.0.0.1", 0))
        mailbox.port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    yield mailbox
    controller.stop()


@pytest.fixture(autouse=True)
def published(monkeypatch) -> list[list[str]]:
    """The deliver_alerts messages, as they would be published on commit (the broker stays out of it)."""
    sent: list[list[str]] = []
    monkeypatch.setattr(tasks, "publisher", sent.append)
    return sent


def make_channel(team: Any, url: str, name: str = "hook", **fields: Any) -> Channel:
    return channel_create(team=team, name=name, url=url, **fields)


def make_rule(team: Any, channels: list[Channel], job: Any = None, **fields: Any) -> AlertRule:
    return rule_save(team=team, data={"job": job, "channels": channels, **fields})

"""Sending what a channel renders (docs/alert-channels.md): one message per entity, POSTed to a
webhook through the outbound policy (SMARTBY_OUTBOUND_*), or mailed over SMTP (aiosmtplib, the
SMARTBY_SMTP_* settings).

A failure raises `ChannelFailed` with a reason fit to show the channel's admin: a template that
cannot be rendered, `HTTP <status>`, "could not be reached" (as for notifications, docs/outbound.md),
or what the SMTP server answered.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx

from smartby.broker.channel_templates import RenderError, check_json, render
from smartby.broker.outbound import UNREACHABLE, OutboundPolicy, async_client
from smartby.records.channels import Channel, Message
from smartby.settings import Settings


class ChannelFailed(Exception):
    """A channel's message did not go; the message is the reason."""


def values(entity: Mapping[str, Any], notified_at: str, subscription_id: str) -> dict[str, Any]:
    """What a template sees: the entity (keyValues) as `alert` and as `entity`, `notifiedAt`,
    `subscriptionId`."""
    return {"alert": entity, "entity": entity, "notifiedAt": notified_at, "subscriptionId": subscription_id}


def messages(
    channel: Channel, entities: Sequence[Mapping[str, Any]], notified_at: str, subscription_id: str
) -> list[Message]:
    """One message per entity; ChannelFailed when a template cannot render one."""
    out = []
    try:
        for entity in entities:
            seen = values(entity, notified_at, subscription_id)
            body = render(channel.template, seen)
            if channel.kind == "webhook" and _is_json(channel.content_type):
                check_json(body)
            subject = ""
            if channel.kind == "email":
                subject = " ".join(render(channel.subject, seen).split())
            out.append(Message(subject, body))
    except RenderError as error:
        raise ChannelFailed(str(error)) from None
    return out


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class ChannelSender:
    """Sends channels' messages; one HTTP client (made when first needed) for every webhook."""

    def __init__(self, settings: Settings, outbound: OutboundPolicy) -> None:
        self.settings = settings
        self.outbound = outbound
        self.timeout = settings.notification_timeout
        self._http: httpx.AsyncClient | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def send(self, channel: Channel, items: Sequence[Message]) -> None:
        for item in items:
            if channel.kind == "email":
                await self._mail(channel, item)
            else:
                await self._post(channel, item)

    async def _post(self, channel: Channel, item: Message) -> None:
        if self._http is None:
            self._http = async_client(self.outbound, timeout=self.timeout)
        headers = {**channel.headers, "Content-Type": channel.content_type}
        try:
            response = await self._http.post(channel.target[0], content=item.body.encode(), headers=headers)
        except httpx.TransportError:
            raise ChannelFailed(UNREACHABLE) from None
        if not 200 <= response.status_code < 300:
            raise ChannelFailed(f"HTTP {response.status_code}")

    async def _mail(self, channel: Channel, item: Message) -> None:
        settings = self.settings
        if not settings.smtp_host:
            raise ChannelFailed("no SMTP server: SMARTBY_SMTP_HOST is not set")
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = ", ".join(channel.target)
        message["Subject"] = item.subject
        message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = email.utils.make_msgid(domain="smartby")
        message.set_content(item.body)
        password = settings.smtp_password.get_secret_value()
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_user or None,
                password=password or None,
                start_tls=settings.smtp_starttls,
                timeout=settings.smtp_timeout,
            )
        except aiosmtplib.SMTPResponseException as error:
            raise ChannelFailed(f"SMTP {error.code} {error.message}") from None
        except (aiosmtplib.SMTPException, OSError):
            raise ChannelFailed(
                f"the SMTP server {settings.smtp_host}:{settings.smtp_port} {UNREACHABLE}"
            ) from None

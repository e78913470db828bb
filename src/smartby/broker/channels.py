"""Alert channels (docs/alert-channels.md): templated webhooks and e-mail for the people on duty.

A channel is an NGSI-LD subscription of its tenant (id `urn:ngsi-ld:Subscription:channel:<name>`,
format keyValues) whose document keeps the channel under the internal `@channel` member. So the
subscription machinery chooses what goes where (entity types, `q`, `geoQ`, watchedAttributes,
throttling, checked as any subscription's) and carries it (the outbox, retries, cool-downs, metrics,
the audit log); the notifier renders the channel's template instead of a Notification. A channel's
subscription is listed by GET /ngsi-ld/v1/subscriptions like any other, its template and headers not
shown; it is changed through `/admin/v1/channels`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from smartby.broker.channel_delivery import ChannelFailed, ChannelSender, messages
from smartby.broker.channel_samples import EMAIL_SUBJECT, sample_alert
from smartby.broker.channel_templates import check_template
from smartby.broker.subscriptions import CHANNEL_MEMBER, CONTEXT_MEMBER, Subscriptions, render_subscription
from smartby.ngsild.entity import check_name
from smartby.ngsild.errors import BadRequestData, ResourceNotFound
from smartby.ngsild.subscription import RESERVED_HEADERS, merge_patch, parse_subscription
from smartby.ngsild.timestamps import format_datetime, now
from smartby.records.channels import KINDS, Channel
from smartby.records.notifications import StoredSubscription

CHANNEL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
ID_PREFIX = "urn:ngsi-ld:Subscription:channel:"
ALERT_CONTEXT = "https://smart-data-models.github.io/dataModel.Alert/context.jsonld"
"""The @context a channel's names (types, q) are read with unless it gives its own."""
FILTERS = ("q", "geoQ", "watchedAttributes", "throttling", "description")
"""Members of a channel that are its subscription's."""
MEMBERS = frozenset(
    {"name", "kind", "target", "template", "subject", "headers", "contentType", "entityTypes", "@context"}
) | frozenset(FILTERS)
SHOWN_ONLY = frozenset({"subscriptionId", "delivery"})
"""Members a GET shows that a body may carry back and that are ignored."""
ADDRESS = re.compile(r"^[^@\s,;:<>()\[\]\"\\]+@[^@\s,;:<>()\[\]\"\\]+$")
HEADER_VALUE = re.compile(r"^[!-~]([ -~]*[!-~])?$")
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
MEDIA_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+( *;[ -~]*)?$")
MOST_ADDRESSES = 50
MOST_HEADERS = 32
PLACEHOLDER = "http://channel.invalid/"
"""The endpoint an e-mail channel's subscription is checked with before it is given `mailto:`."""
PAGE = 1000


def subscription_id(name: str) -> str:
    return ID_PREFIX + name


def _name(value: object) -> str:
    if not isinstance(value, str) or not CHANNEL_NAME.match(value):
        raise BadRequestData("A channel's name is 1 to 64 of A-Z a-z 0-9 _ . -")
    return value


def _line(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or any(c in value for c in "\r\n\0"):
        raise BadRequestData(f"{what} must be a non-empty string on one line")
    return value


def _targets(kind: str, value: object) -> tuple[str, ...]:
    if kind == "webhook":
        url = _line(value, "target (the webhook's URL)")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - urlsplit checks the port only when asked
        except ValueError:
            raise BadRequestData("target is not a valid URL") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise BadRequestData("A webhook's target must be an http or https URL")
        return (url,)
    addresses = [value] if isinstance(value, str) else value
    if not isinstance(addresses, list) or not 1 <= len(addresses) <= MOST_ADDRESSES:
        raise BadRequestData(f"An e-mail channel's target is a list of 1 to {MOST_ADDRESSES} addresses")
    for address in addresses:
        if not isinstance(address, str) or len(address) > 254 or not ADDRESS.match(address):
            raise BadRequestData(f"Not an e-mail address: {address!r}")
    return tuple(dict.fromkeys(addresses))


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > MOST_HEADERS:
        raise BadRequestData(f"headers must be an object of at most {MOST_HEADERS} names and values")
    for name, text in value.items():
        if not TOKEN.match(name) or name.lower() in RESERVED_HEADERS | {"content-type"}:
            raise BadRequestData(f"headers may not set {name!r} (contentType sets Content-Type)")
        if not isinstance(text, str) or not HEADER_VALUE.match(text):
            raise BadRequestData(f"The header {name} must be printable ASCII on one line")
    return dict(value)


def _types(value: object) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > 100:
        raise BadRequestData("entityTypes must be a list of 1 to 100 entity type names")
    for item in value:
        if not isinstance(item, str):
            raise BadRequestData("entityTypes must hold type names (strings)")
        check_name(item)
    return list(dict.fromkeys(value))


def _context(value: object) -> list[str]:
    urls = [value] if isinstance(value, str) else value
    if not isinstance(urls, list) or not urls or not all(isinstance(url, str) for url in urls):
        raise BadRequestData("@context must be a URL or a list of URLs")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "urn") or not (parts.netloc or parts.path):
            raise BadRequestData(f"@context: not a URL: {url!r}")
    return list(urls)


def parse_channel(name: str, body: object) -> tuple[Channel, dict[str, Any], list[str]]:
    """A channel body checked: the channel, its subscription document (checked as POST
    /subscriptions checks one, without the internal members) and its @context. Raises
    BadRequestData."""
    if not isinstance(body, dict):
        raise BadRequestData("A channel must be a JSON object")
    unknown = set(body) - MEMBERS - SHOWN_ONLY
    if unknown:
        raise BadRequestData(f"Unknown member(s) of a channel: {', '.join(sorted(unknown))}")
    if "name" in body and body["name"] != name:
        raise BadRequestData("The name of a channel cannot be changed")
    kind = body.get("kind")
    if kind not in KINDS:
        raise BadRequestData(f"kind must be one of {', '.join(KINDS)}")
    if "target" not in body:
        raise BadRequestData("target is mandatory: the webhook's URL, or the e-mail addresses")
    targets = _targets(kind, body["target"])
    template = check_template(body.get("template"), "template")
    subject = ""
    if kind == "email":
        subject = check_template(_line(body.get("subject", EMAIL_SUBJECT), "subject"), "subject")
    elif "subject" in body:
        raise BadRequestData("subject is for e-mail channels")
    if kind == "email" and ("headers" in body or "contentType" in body):
        raise BadRequestData("headers and contentType are for webhook channels (e-mail is text/plain)")
    channel = Channel(
        name=name,
        kind=kind,
        target=targets,
        template=template,
        subject=subject,
        headers=_headers(body["headers"]) if "headers" in body else {},
        content_type=_line(body.get("contentType", "application/json"), "contentType"),
    )
    if not MEDIA_TYPE.match(channel.content_type):
        raise BadRequestData("contentType must be a media type, e.g. application/json")
    document: dict[str, Any] = {
        "id": subscription_id(name),
        "type": "Subscription",
        "subscriptionName": f"channel {name}",
        "entities": [{"type": t} for t in _types(body.get("entityTypes", ["Alert"]))],
        **{member: body[member] for member in FILTERS if member in body},
        "notification": {
            "format": "keyValues",
            "endpoint": {
                "uri": targets[0] if kind == "webhook" else PLACEHOLDER,
                "accept": "application/json",
            },
        },
    }
    checked = parse_subscription(document, now=now())
    if kind == "email":
        checked["notification"]["endpoint"]["uri"] = "mailto:" + ",".join(targets)
    return channel, checked, _context(body.get("@context", [ALERT_CONTEXT]))


def channel_view(stored: StoredSubscription) -> dict[str, Any]:
    """A channel as GET shows it: its members, its subscription's id and how its deliveries went
    (with why the last failure failed)."""
    channel = Channel.from_document(stored.document[CHANNEL_MEMBER])
    document = stored.document
    view: dict[str, Any] = {"name": channel.name, "kind": channel.kind}
    if channel.kind == "webhook":
        view["target"] = document["notification"]["endpoint"]["uri"]
        view["headers"] = dict(channel.headers)
        view["contentType"] = channel.content_type
    else:
        view["target"] = list(channel.target)
        view["subject"] = channel.subject
    view["template"] = channel.template
    view["entityTypes"] = [
        selector["type"] for selector in document.get("entities", ()) if "type" in selector
    ]
    view.update({member: document[member] for member in FILTERS if member in document})
    view["@context"] = document.get(CONTEXT_MEMBER)
    view["subscriptionId"] = stored.id
    shown = render_subscription(stored)
    delivery = {
        member: shown["notification"][member]
        for member in ("status", "timesSent", "timesFailed", "lastNotification", "lastSuccess", "lastFailure")
        if member in shown["notification"]
    }
    if stored.last_failure_reason is not None and "lastFailure" in delivery:
        delivery["lastFailureReason"] = stored.last_failure_reason
    view["delivery"] = delivery
    return view


def _editable(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k not in SHOWN_ONLY}


class Channels:
    """Reached as `broker.channels`: channel CRUD over the tenant's subscriptions, and a test send."""

    def __init__(self, subscriptions: Subscriptions, sender: ChannelSender) -> None:
        self.subscriptions = subscriptions
        self.sender = sender

    async def _stored(self, tenant: str, name: str) -> StoredSubscription:
        try:
            found = await self.subscriptions.get(tenant, subscription_id(_name(name)))
        except ResourceNotFound:
            raise ResourceNotFound(f"No channel {name!r}") from None
        if CHANNEL_MEMBER not in found.document:
            raise ResourceNotFound(f"No channel {name!r}")
        return found

    async def _checked(self, name: str, body: object) -> tuple[Channel, dict[str, Any]]:
        channel, document, context = parse_channel(name, body)
        if channel.kind == "webhook":
            await self.subscriptions.outbound.check_endpoint(channel.target[0], "target")
        document[CONTEXT_MEMBER] = context
        document[CHANNEL_MEMBER] = channel.document()
        return channel, document

    async def create(self, tenant: str, body: object) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequestData("A channel must be a JSON object")
        name = _name(body.get("name"))
        _, document = await self._checked(name, body)
        await self.subscriptions.store_new(tenant, document)
        return await self.get(tenant, name)

    async def get(self, tenant: str, name: str) -> dict[str, Any]:
        return channel_view(await self._stored(tenant, name))

    async def list(self, tenant: str) -> list[dict[str, Any]]:
        views: list[dict[str, Any]] = []
        offset = 0
        while True:
            page, _ = await self.subscriptions.page(tenant, PAGE, offset, False)
            views.extend(channel_view(item) for item in page if CHANNEL_MEMBER in item.document)
            if len(page) < PAGE:
                return sorted(views, key=lambda view: str(view["name"]))
            offset += PAGE

    async def replace(self, tenant: str, name: str, body: object) -> dict[str, Any]:
        """PUT: the channel becomes `body`; its subscription keeps its id and delivery counts."""
        await self._stored(tenant, name)
        _, document = await self._checked(name, body)
        await self.subscriptions.store_replacement(tenant, subscription_id(name), document)
        return await self.get(tenant, name)

    async def update(self, tenant: str, name: str, fragment: object) -> dict[str, Any]:
        """PATCH: members of `fragment` replace the channel's (a JSON Merge Patch: null removes one)."""
        if not isinstance(fragment, dict) or not fragment:
            raise BadRequestData("A channel update must be a non-empty JSON object")
        current = _editable(await self.get(tenant, name))
        return await self.replace(tenant, name, merge_patch(current, fragment))

    async def delete(self, tenant: str, name: str) -> None:
        await self._stored(tenant, name)
        await self.subscriptions.delete(tenant, subscription_id(name))

    async def test(self, tenant: str, name: str) -> dict[str, Any]:
        """Render the sample Alert with the channel's template and send it: what went, or why not."""
        stored = await self._stored(tenant, name)
        channel = Channel.from_document(stored.document[CHANNEL_MEMBER])
        result: dict[str, Any] = {"channel": name, "delivered": False}
        try:
            rendered = messages(
                channel, [sample_alert(format_datetime(now()))], format_datetime(now()), stored.id
            )
            result["messages"] = [
                {"subject": item.subject, "body": item.body}
                if channel.kind == "email"
                else {"body": item.body}
                for item in rendered
            ]
            await self.sender.send(channel, rendered)
        except ChannelFailed as failed:
            result["reason"] = str(failed)
            return result
        result["delivered"] = True
        return result

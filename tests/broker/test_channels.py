"""Alert channels end to end (docs/alert-channels.md): Alerts written through the API reach a real
HTTP receiver as the rendered Slack or Teams JSON, and a real SMTP server (aiosmtpd) as e-mail, when
the channel's filters (q, geoQ) choose them; failures are retried and their reason shown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import orjson
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from conftest import free_port
from receiver import Receiver
from smartby.broker import Broker
from smartby.broker.channel_samples import SAMPLES
from smartby.settings import Settings

ALERT_CONTEXT = "https://smart-data-models.github.io/dataModel.Alert/context.jsonld"
LD = {"Content-Type": "application/ld+json"}
CHANNELS = "/admin/v1/channels"
ENTITIES = "/ngsi-ld/v1/entities"


class Mailbox:
    """What a real SMTP server (aiosmtpd, in its own thread) received."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 OK"

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[list[str], Message]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} e-mails arrived, expected {count}")
            await asyncio.sleep(0.01)
        return self.messages


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def mailbox(smtp_port: int) -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def settings(database_url: str, smtp_port: int) -> Settings:
    return Settings(  # type: ignore[call-arg]
        database=database_url,
        remote_contexts=False,
        notification_retry_delay=0.05,
        notification_retry_max_delay=0.2,
        notification_poll_interval=0.1,
        notification_timeout=2.0,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_from="alerts@city.example",
        _env_file=None,
    )


def alert(number: int, severity: str, where: tuple[float, float] = (12.5734, 55.6867)) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Alert:{number}",
        "type": "Alert",
        "category": {"type": "Property", "value": "weather"},
        "subCategory": {"type": "Property", "value": "cloudburst"},
        "severity": {"type": "Property", "value": severity},
        "alertSource": {"type": "Property", "value": f"urn:ngsi-ld:WeatherObserved:gauge-{number}"},
        "description": {"type": "Property", "value": 'Rain: 16.2 mm in 30 minutes "here" \\ now'},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": list(where)}},
        "@context": ALERT_CONTEXT,
    }


async def write(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post(ENTITIES, content=orjson.dumps(body), headers=LD)
    assert response.status_code == 201, response.text


async def channel(client: httpx.AsyncClient, **members: Any) -> dict[str, Any]:
    response = await client.post(CHANNELS, json=members)
    assert response.status_code == 201, response.text
    view: dict[str, Any] = response.json()
    return view


async def settled(broker: Broker) -> None:
    """Until the outbox is empty: every notification written so far is delivered (or dropped)."""
    deadline = time.monotonic() + 10
    while await broker.store.pending_notifications():
        assert time.monotonic() < deadline, "the outbox did not empty"
        await asyncio.sleep(0.02)


async def test_slack_channel_gets_the_alerts_its_q_chooses(
    client: httpx.AsyncClient, broker: Broker, receiver: Receiver
) -> None:
    view = await channel(
        client,
        name="on-duty",
        kind="webhook",
        target=receiver.url,
        template=SAMPLES["slack"].template,
        headers={"X-Team": "climate"},
        q='severity=="high"',
    )
    assert view["subscriptionId"] == "urn:ngsi-ld:Subscription:channel:on-duty"
    await write(client, alert(1, "low"))
    await write(client, alert(2, "high"))
    [arrived] = await receiver.wait_for(1)
    await settled(broker)
    assert len(receiver.received) == 1
    assert arrived.headers["content-type"] == "application/json"
    assert arrived.headers["x-team"] == "climate"
    assert arrived.body["text"] == "[high] cloudburst at urn:ngsi-ld:WeatherObserved:gauge-2"
    fields = [field["text"] for field in arrived.body["blocks"][1]["fields"]]
    assert "*Alert*\nurn:ngsi-ld:Alert:2" in fields
    assert arrived.body["blocks"][2]["text"]["text"] == 'Rain: 16.2 mm in 30 minutes "here" \\ now'


async def test_teams_channel_chooses_by_geoq(
    client: httpx.AsyncClient, broker: Broker, receiver: Receiver
) -> None:
    near = {"geometry": "Point", "coordinates": [12.5734, 55.6867], "georel": "near;maxDistance==2000"}
    await channel(
        client,
        name="inner-city",
        kind="webhook",
        target=receiver.url,
        template=SAMPLES["teams"].template,
        geoQ=near,
    )
    await write(client, alert(3, "high", where=(10.2039, 56.1629)))  # Aarhus: far away
    await write(client, alert(4, "medium", where=(12.5800, 55.6800)))
    [arrived] = await receiver.wait_for(1)
    await settled(broker)
    assert len(receiver.received) == 1
    card = arrived.body["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    facts = {fact["title"]: fact["value"] for fact in card["body"][1]["facts"]}
    assert facts["Alert"] == "urn:ngsi-ld:Alert:4" and facts["Severity"] == "medium"


async def test_email_channel_sends_subject_and_body(
    client: httpx.AsyncClient, broker: Broker, mailbox: Mailbox
) -> None:
    sample = SAMPLES["email"]
    await channel(
        client,
        name="engineers",
        kind="email",
        target=["duty@city.example", "basin@city.example"],
        template=sample.template,
        subject=sample.subject,
        entityTypes=["Alert"],
    )
    await write(client, alert(5, "high"))
    [(recipients, message)] = await mailbox.wait_for(1)
    assert recipients == ["duty@city.example", "basin@city.example"]
    assert message["From"] == "alerts@city.example"
    assert message["To"] == "duty@city.example, basin@city.example"
    assert message["Subject"] == "[smartby] high: cloudburst at urn:ngsi-ld:WeatherObserved:gauge-5"
    text = message.get_payload(decode=True).decode()
    assert "Alert:     urn:ngsi-ld:Alert:5" in text and "Severity:  high" in text
    assert text.startswith('Rain: 16.2 mm in 30 minutes "here"')


async def test_one_message_per_alert(client: httpx.AsyncClient, broker: Broker, receiver: Receiver) -> None:
    template = '{"alert": {{ entity.id | tojson }}, "at": {{ notifiedAt | tojson }}}'
    await channel(client, name="each", kind="webhook", target=receiver.url, template=template)
    batch = [alert(number, "high") for number in (6, 7, 8)]
    response = await client.post(
        "/ngsi-ld/v1/entityOperations/create", content=orjson.dumps(batch), headers=LD
    )
    assert response.status_code == 201, response.text
    await receiver.wait_for(3)
    assert sorted(item.body["alert"] for item in receiver.received) == [
        f"urn:ngsi-ld:Alert:{n}" for n in (6, 7, 8)
    ]


async def test_undeliverable_is_retried_and_its_reason_shown(
    client: httpx.AsyncClient, broker: Broker, receiver: Receiver
) -> None:
    receiver.status = 503
    await channel(client, name="flaky", kind="webhook", target=receiver.url, template=SAMPLES["sms"].template)
    await write(client, alert(9, "high"))
    await receiver.wait_for(2)  # the first attempt and at least one retry
    deadline = time.monotonic() + 10
    while True:
        delivery = (await client.get(f"{CHANNELS}/flaky")).json()["delivery"]
        if delivery.get("timesFailed", 0) >= 1 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert delivery["status"] == "failed"
    assert delivery["lastFailureReason"] == "HTTP 503"
    receiver.status = 200
    await settled(broker)
    last = receiver.received[-1].body
    assert last["reference"] == "urn:ngsi-ld:Alert:9" and last["priority"] == "high"
    delivery = (await client.get(f"{CHANNELS}/flaky")).json()["delivery"]
    assert delivery["status"] == "ok"


async def test_a_template_that_reaches_for_internals_fails_its_delivery(
    client: httpx.AsyncClient, broker: Broker, receiver: Receiver
) -> None:
    template = '{"x": {{ "".__class__.__mro__ | tojson }}}'
    await channel(client, name="nosy", kind="webhook", target=receiver.url, template=template)
    tested = (await client.post(f"{CHANNELS}/nosy/test")).json()
    assert tested["delivered"] is False
    assert "unsafe" in tested["reason"] and "object" not in tested.get("messages", "")
    await write(client, alert(10, "high"))
    deadline = time.monotonic() + 10
    while True:
        delivery = (await client.get(f"{CHANNELS}/nosy")).json()["delivery"]
        if "lastFailureReason" in delivery or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert "SecurityError" in delivery["lastFailureReason"]
    assert receiver.received == []


async def test_the_test_sends_a_sample_alert(
    client: httpx.AsyncClient, receiver: Receiver, mailbox: Mailbox
) -> None:
    await channel(
        client, name="slack", kind="webhook", target=receiver.url, template=SAMPLES["slack"].template
    )
    tested = (await client.post(f"{CHANNELS}/slack/test")).json()
    assert tested["delivered"] is True
    assert orjson.loads(tested["messages"][0]["body"])["text"].startswith("[high] cloudburst")
    [arrived] = await receiver.wait_for(1)
    assert "botanical-garden" in arrived.body["text"]
    await channel(
        client, name="mail", kind="email", target="duty@city.example", template=SAMPLES["email"].template
    )
    tested = (await client.post(f"{CHANNELS}/mail/test")).json()
    assert tested["delivered"] is True and tested["messages"][0]["subject"].startswith("[smartby] high")
    [(recipients, _)] = await mailbox.wait_for(1)
    assert recipients == ["duty@city.example"]
    receiver.status = 500
    tested = (await client.post(f"{CHANNELS}/slack/test")).json()
    assert tested == {**tested, "delivered": False, "reason": "HTTP 500"}


async def test_a_channel_subscription_changed_through_ngsi_ld_stays_a_channel(
    client: httpx.AsyncClient, broker: Broker, receiver: Receiver
) -> None:
    template = '{"alert": {{ entity.id | tojson }}}'
    view = await channel(
        client, name="moved", kind="webhook", target=receiver.url + "/old", template=template
    )
    fragment = {"notification": {"endpoint": {"uri": receiver.url + "/new"}}}
    subscription = f"/ngsi-ld/v1/subscriptions/{view['subscriptionId']}"
    changed = await client.patch(subscription, json=fragment)
    assert changed.status_code == 204, changed.text
    shown = (await client.get(f"{CHANNELS}/moved")).json()
    assert shown["target"] == receiver.url + "/new" and shown["template"] == template
    await write(client, alert(11, "high"))
    [arrived] = await receiver.wait_for(1)
    assert arrived.path == "/notify/new" and arrived.body == {"alert": "urn:ngsi-ld:Alert:11"}

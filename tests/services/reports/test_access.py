"""Access to the Open311 routes with authentication required, on both backends: public reads and
reports (citizens' apps send no key), an `api_key` field that must be a valid key, and the limit per
client address counting the reports a client posts."""

from __future__ import annotations

import httpx

from services.reports.city import LAT, LON, OPEN311
from smartby.api.app import create_app
from smartby.assembly import assemble
from smartby.settings import Settings

REPORT = {"service_code": "litter", "lat": str(LAT), "long": str(LON)}


async def test_citizens_report_without_a_key_within_the_limit_per_address(settings: Settings) -> None:
    chosen = settings.model_copy(
        update={"auth": "required", "services": ["reports"], "rate_limit_address": "6/minute"}
    )
    parts = assemble(chosen)
    await parts.broker.open()
    try:
        app = create_app(parts)
        _, key = await app.state.keyring.create("citizen-app", [""], "reader")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as client:
            assert (await client.get(f"{OPEN311}/services.json")).status_code == 200
            assert (await client.get(f"{OPEN311}/requests.xml")).status_code == 200
            assert (await client.post(f"{OPEN311}/requests.json", data=REPORT)).status_code == 200
            keyed = await client.post(f"{OPEN311}/requests.json", data={**REPORT, "api_key": key})
            assert keyed.status_code == 200, keyed.text
            forged = await client.post(
                f"{OPEN311}/requests.json", data={**REPORT, "api_key": key[:-2] + "xx"}
            )
            assert forged.status_code == 403
            assert forged.json() == [{"code": 403, "description": "The api_key given is not a valid API key"}]
            listed = (await client.get(f"{OPEN311}/requests.json")).json()
            assert len(listed) == 2
            refused = await client.post(f"{OPEN311}/requests.json", data=REPORT)  # the 7th request
            assert refused.status_code == 429 and "Retry-After" in refused.headers
            # the NGSI-LD API beside them still needs a key
            assert (
                await client.get("/ngsi-ld/v1/entities", params={"type": "IssueReporting"})
            ).status_code in (
                401,
                429,
            )
    finally:
        await parts.broker.close()

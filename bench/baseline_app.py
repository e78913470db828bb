"""The raw HTTP baseline: a bare ASGI app under the same uvicorn settings as smartby.

GET answers with fixed JSON bytes (the size of the entity smartby returns); anything else reads the
body and answers 204. It is what the HTTP stack costs before smartby does any work.
"""

from __future__ import annotations

from typing import Any

BODY = (
    b'{"id":"urn:ngsi-ld:TrafficFlowObserved:1","type":"TrafficFlowObserved",'
    b'"intensity":{"type":"Property","value":1},"averageVehicleSpeed":{"type":"Property","value":50.5},'
    b'"occupancy":{"type":"Property","value":0.3}}'
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["method"] == "GET":
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": BODY})
    else:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

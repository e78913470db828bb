"""The dashboard's static files, served by smartby itself: its own CSS, JavaScript and icon from this
package, and plotly.js from the `plotly` package's data. Nothing comes from a CDN.

Each file is read once, on first use. Its URL carries a hash of its content (`?v=...`), so browsers
may keep it for a year; responses are gzipped for clients that accept it (compressed once, kept).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from dataclasses import dataclass, field
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

STATIC_PREFIX = "/dashboard/static/"
OWN = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "citymap.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
PLOTLY = "plotly.min.js"
COMPRESS_ABOVE = 1024
"""Bodies at least this long are gzipped for clients that accept it."""


@dataclass
class Asset:
    name: str
    media_type: str
    body: bytes
    tag: str
    gzipped: bytes | None = field(default=None, repr=False)


def _read(name: str) -> bytes:
    if name == PLOTLY:
        return (resources.files("plotly") / "package_data" / PLOTLY).read_bytes()
    return (resources.files("smartby.web") / "static" / name).read_bytes()


def accepts_gzip(request: Request) -> bool:
    return any(
        part.split(";", 1)[0].strip().lower() == "gzip"
        for part in request.headers.get("accept-encoding", "").split(",")
    )


def compressed(request: Request, body: bytes, media_type: str, gzipped: bytes | None = None) -> Response:
    """`body` as a response, gzipped when the client accepts it and it is worth it."""
    headers = {"Vary": "Accept-Encoding"}
    if len(body) >= COMPRESS_ABOVE and accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(gzipped or gzip.compress(body, 6, mtime=0), media_type=media_type, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


class Assets:
    """The files under /dashboard/static/, loaded on first use."""

    def __init__(self) -> None:
        self._loaded: dict[str, Asset] = {}

    def names(self) -> list[str]:
        return [*OWN, PLOTLY]

    def get(self, name: str) -> Asset | None:
        if name not in OWN and name != PLOTLY:
            return None
        asset = self._loaded.get(name)
        if asset is None:
            body = _read(name)
            media = OWN.get(name, "text/javascript; charset=utf-8")
            asset = Asset(name, media, body, hashlib.sha256(body).hexdigest()[:16])
            self._loaded[name] = asset
        return asset

    def url(self, name: str) -> str:
        asset = self.get(name)
        if asset is None:
            raise KeyError(name)
        return f"{STATIC_PREFIX}{name}?v={asset.tag}"

    async def response(self, request: Request, asset: Asset) -> Response:
        etag = f'"{asset.tag}"'
        cache = (
            "public, max-age=31536000, immutable"
            if request.query_params.get("v") == asset.tag
            else "no-cache"
        )
        headers = {"ETag": etag, "Cache-Control": cache}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if accepts_gzip(request) and len(asset.body) >= COMPRESS_ABOVE and asset.gzipped is None:
            asset.gzipped = await asyncio.to_thread(gzip.compress, asset.body, 6, mtime=0)
        response = compressed(request, asset.body, asset.media_type, asset.gzipped)
        response.headers.update(headers)
        return response

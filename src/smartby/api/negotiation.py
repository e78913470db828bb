"""Media types in and out (clause 6.3.4, RFC 9110 5.3.2) and the JSON-LD Link header (6.3.5)."""

from __future__ import annotations

from functools import lru_cache

from smartby.ngsild.errors import BadRequestData, NotAcceptable, UnsupportedMediaType

JSON = "application/json"
JSON_LD = "application/ld+json"
GEO_JSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
JSON_LD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"

ENTITY_OFFERS = (JSON, JSON_LD, GEO_JSON)
DEFAULT_OFFERS = (JSON, JSON_LD)


def _media_range(text: str) -> tuple[str, str, float] | None:
    media, *params = text.split(";")
    media = media.strip().lower()
    if "/" not in media:
        return None
    kind, _, subtype = media.partition("/")
    quality = 1.0
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                parsed = float(value.strip())
            except ValueError:
                continue
            if 0.0 <= parsed <= 1.0:
                quality = parsed
    return kind.strip(), subtype.strip(), quality


@lru_cache(maxsize=512)
def choose_media_type(accept: str | None, offers: tuple[str, ...] = DEFAULT_OFFERS) -> str:
    """The representation to answer with: each offer takes the weight of the most specific range
    that matches it; the highest weight wins and ties go to the first offer (json, ld+json, geo+json).
    """
    if accept is None or not accept.strip():
        return offers[0]
    ranges = [r for r in (_media_range(part) for part in accept.split(",")) if r is not None]
    best: tuple[float, str] | None = None
    for offer in offers:
        kind, _, subtype = offer.partition("/")
        weight: float | None = None
        specificity = -1
        for range_kind, range_subtype, quality in ranges:
            if range_kind == kind and range_subtype == subtype:
                level = 2
            elif range_kind == kind and range_subtype == "*":
                level = 1
            elif range_kind == "*" and range_subtype == "*":
                level = 0
            else:
                continue
            if level > specificity:
                specificity, weight = level, quality
        if weight is not None and weight > 0 and (best is None or weight > best[0]):
            best = (weight, offer)
    if best is None:
        raise NotAcceptable(f"None of {', '.join(offers)} is acceptable to {accept!r}")
    return best[1]


@lru_cache(maxsize=64)
def request_media_type(content_type: str | None, allowed: tuple[str, ...] = (JSON, JSON_LD)) -> str:
    """The media type of a request body; anything not allowed is a 415."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in allowed:
        shown = content_type or "no Content-Type"
        raise UnsupportedMediaType(f"{shown} is not supported here; send {' or '.join(allowed)}")
    return media


@lru_cache(maxsize=512)
def context_from_link(link: str | None) -> str | None:
    """The @context URL of a Link header with rel="http://www.w3.org/ns/json-ld#context"."""
    if link is None:
        return None
    for part in _split_links(link):
        target, _, params = part.partition(">")
        target = target.strip()
        if not target.startswith("<"):
            raise BadRequestData(f"Malformed Link header: {link!r}")
        rel = None
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "rel":
                rel = value.strip().strip('"')
        if rel == JSON_LD_CONTEXT_REL:
            url = target[1:].strip()
            if not url or any(c.isspace() for c in url):
                raise BadRequestData(f"Malformed @context URL in Link header: {url!r}")
            return url
    return None


def _split_links(link: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    for char in link:
        if char == '"':
            quoted = not quoted
        elif char == "<" and not quoted:
            depth += 1
        elif char == ">" and not quoted:
            depth = max(0, depth - 1)
        if char == "," and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]


def link_header(url: str) -> str:
    return f'<{url}>; rel="{JSON_LD_CONTEXT_REL}"; type="application/ld+json"'

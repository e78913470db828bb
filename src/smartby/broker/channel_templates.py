"""Channel templates (docs/alert-channels.md): Jinja2 in its immutable sandbox, turning one entity
into the body (and an e-mail's subject) a person's channel expects.

Templates come from tenant admins, so they run in `ImmutableSandboxedEnvironment`: no attribute
that starts with an underscore, no method that changes a list or dict, `range` bounded. Autoescape is
off (bodies are JSON or plain text, not HTML); the `tojson` filter writes any value as JSON, so a
template that puts every value through it produces valid JSON whatever the alert holds. A name the
entity lacks renders empty (`tojson`: null), because alerts differ in which optional attributes they
carry; an unsafe attribute (`''.__class__`) is an error, not an empty string. A rendering is cut at
MOST_RENDERED characters: past that it is an error too.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any, NoReturn

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from smartby.ngsild.errors import BadRequestData

MOST_TEMPLATE = 32_768
"""Longest template accepted, in characters."""
MOST_RENDERED = 65_536
"""Longest rendering, in characters; a longer one fails (its delivery with it)."""


class RenderError(Exception):
    """A template that could not be rendered for an entity: its reason is the delivery's."""


class Lenient(jinja2.Undefined):
    """A missing name renders empty; an unsafe one (the sandbox said no) fails when used."""

    __slots__ = ()

    def _unsafe(self) -> bool:
        return self._undefined_exception is SecurityError

    def __str__(self) -> str:
        if self._unsafe():
            self._fail_with_undefined_error()
        return ""

    def __iter__(self) -> Any:
        if self._unsafe():
            self._fail_with_undefined_error()
        return iter(())

    def __bool__(self) -> bool:
        if self._unsafe():
            self._fail_with_undefined_error()
        return False


def _plain(value: object) -> object:
    if isinstance(value, jinja2.Undefined):
        str(value)  # An unsafe one raises here.
        return None
    return str(value)


def tojson(value: object) -> str:
    """Any value as JSON text (strings quoted and escaped, a missing value null)."""
    if isinstance(value, jinja2.Undefined):
        str(value)
        return "null"
    return json.dumps(value, ensure_ascii=False, default=_plain)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=False, undefined=Lenient, keep_trailing_newline=True)
    env.filters["tojson"] = tojson
    return env


ENVIRONMENT = _environment()
_template = functools.lru_cache(maxsize=256)(ENVIRONMENT.from_string)
"""Templates compiled once each (a channel's is rendered for every alert it sends)."""


def check_template(text: object, what: str) -> str:
    """A template as given, if it is one: a string Jinja2 compiles (BadRequestData naming the line of
    a syntax error otherwise)."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequestData(f"{what} must be a non-empty string (a Jinja2 template)")
    if len(text) > MOST_TEMPLATE:
        raise BadRequestData(f"{what} is longer than {MOST_TEMPLATE} characters")
    try:
        ENVIRONMENT.from_string(text)
    except jinja2.TemplateSyntaxError as error:
        raise BadRequestData(f"{what}: line {error.lineno}: {error.message}") from None
    return text


def render(text: str, values: Mapping[str, Any]) -> str:
    """`text` rendered over `values`; RenderError with the reason if it cannot be."""
    try:
        parts: list[str] = []
        size = 0
        for chunk in _template(text).generate(dict(values)):
            size += len(chunk)
            if size > MOST_RENDERED:
                _too_long()
            parts.append(chunk)
        return "".join(parts)
    except RenderError:
        raise
    except Exception as error:  # Whatever a template does wrong fails its delivery, never the notifier.
        raise RenderError(f"template: {type(error).__name__}: {error}") from None


def _too_long() -> NoReturn:
    raise RenderError(f"template: the rendering is longer than {MOST_RENDERED} characters")


def check_json(body: str) -> None:
    """A body sent as JSON must be JSON (a template that forgot `tojson` fails here, not at the
    receiver)."""
    try:
        json.loads(body)
    except ValueError as error:
        raise RenderError(f"template: the body is not valid JSON ({error})") from None

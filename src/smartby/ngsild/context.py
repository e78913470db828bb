"""JSON-LD `@context` handling for NGSI-LD: term expansion and compaction.

PyLD processes a context (remote documents, prefixes, scoped and protected terms); the result is
cached per context and every term's expansion and compaction is memoised, so the hot path is two
dictionary look-ups. Documents are fetched through a loader the caller provides: this module does no
I/O of its own.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from pyld import jsonld

from smartby.ngsild.errors import BadRequestData, InvalidRequest, LdContextNotAvailable

CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
CORE_CONTEXT_ALIASES = frozenset(
    {
        CORE_CONTEXT_URL,
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld",
        "http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    }
)
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
_ABSOLUTE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+")

DocumentLoader = Callable[[str], Any]
"""Takes a URL, returns the JSON document found there (an object with an "@context" member)."""


class LoaderFailed(Exception):
    """Raised by a DocumentLoader when a document cannot be had (network, missing file, bad JSON)."""


class Context:
    """One processed @context: the requester's terms with the NGSI-LD core context on top."""

    __slots__ = ("_active", "_compacted", "_expanded", "_inverse", "_processor", "key", "source")

    def __init__(self, key: str, source: Any, active: Any, processor: Any) -> None:
        self.key = key
        self.source = source
        self._active = active
        self._processor = processor
        self._expanded: dict[str, str] = {}
        self._compacted: dict[str, str] = {}
        self._inverse: dict[str, str] | None = None

    @property
    def is_core(self) -> bool:
        return self.source is None

    @property
    def link_url(self) -> str:
        """The URL to give in a response's Link header for this context."""
        if isinstance(self.source, str):
            return self.source
        return CORE_CONTEXT_URL

    def expand(self, term: str) -> str:
        """Expand an attribute name or entity type to its IRI (vocabulary-relative)."""
        iri = self._expanded.get(term)
        if iri is None:
            iri = self._expand_new(term)
        return iri

    def _expand_new(self, term: str) -> str:
        if not isinstance(term, str) or not term:
            raise BadRequestData(f"Not a valid name: {term!r}")
        if term.startswith("@"):
            raise BadRequestData(f"A JSON-LD keyword is not a valid name here: {term!r}")
        try:
            iri = self._processor._expand_iri(self._active, term, vocab=True)
        except jsonld.JsonLdError as error:
            raise BadRequestData(f"Cannot expand {term!r}: {_describe(error)}") from None
        if not isinstance(iri, str) or ":" not in iri or iri.startswith("@"):
            raise BadRequestData(f"{term!r} does not expand to an IRI with the given @context")
        if len(self._expanded) < 100_000:
            self._expanded[term] = iri
        return iri

    def compact(self, iri: str) -> str:
        """Compact an IRI to the shortest term or compact IRI the context allows."""
        term = self._compacted.get(iri)
        if term is None:
            term = self._terms_by_iri().get(iri)
            if term is None:
                term = self._processor._compact_iri(self._active, iri, vocab=True)
                if not isinstance(term, str):
                    term = iri
            if len(self._compacted) < 100_000:
                self._compacted[iri] = term
        return term

    def _terms_by_iri(self) -> dict[str, str]:
        """Every term of the context by the IRI it names, shortest (then first in order) winning.

        JSON-LD's own term selection looks at the value a key holds and passes over terms with a
        type mapping (`"@type": "@vocab"`, `"@type": "@id"`); for an attribute name any term that
        names the IRI will do, so those terms are used too.
        """
        if self._inverse is None:
            inverse: dict[str, str] = {}
            for name, definition in sorted(
                self._active["mappings"].items(), key=lambda item: (len(item[0]), item[0])
            ):
                target = definition.get("@id") if definition else None
                if not isinstance(target, str) or target.startswith("@") or target in inverse:
                    continue
                if not definition.get("reverse") and not definition.get("@container"):
                    inverse[target] = name
            self._inverse = inverse
        return self._inverse


class ContextResolver:
    """Turns an @context value (URL, inline object or list) into a cached `Context`."""

    def __init__(
        self, loader: DocumentLoader, cache_size: int = 512, scope: Callable[[], str] | None = None
    ) -> None:
        """`scope` names, for each resolution, whose documents the loader gives (a tenant's stored
        contexts): processed contexts are cached apart per scope."""
        self._loader = loader
        self._scope = scope
        self._cache: OrderedDict[str, Context] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._processor = jsonld.JsonLdProcessor()
        self.core = self._process("", None)

    def cached(self, source: Any) -> Context | None:
        """The context for `source` if it was resolved before; never loads anything."""
        if source is None:
            return self.core
        key = self._key(source)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
            return found

    def resolve(self, source: Any) -> Context:
        """Resolve `source` (None for the core context alone), loading documents when needed."""
        found = self.cached(source)
        if found is not None:
            return found
        key = self._key(source)
        context = self._process(key, source)
        with self._lock:
            self._cache[key] = context
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return context

    def forget(self, url: str) -> None:
        """Drop every cached context that was built from `url` (after a context is deleted/reloaded)."""
        with self._lock:
            for key in [k for k in self._cache if url in k]:
                del self._cache[key]

    def _key(self, source: Any) -> str:
        scope = self._scope() + "\n" if self._scope is not None else ""
        if isinstance(source, str):
            return scope + source
        try:
            return scope + orjson.dumps(source, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:
            raise BadRequestData("The @context is not valid JSON") from None

    def _process(self, key: str, source: Any) -> Context:
        local = self._layers(source)
        options = {
            "documentLoader": self._load,
            "base": "",
            "processingMode": "json-ld-1.1",
        }
        try:
            active = self._processor.process_context(self._processor._get_initial_context({}), local, options)
        except jsonld.JsonLdError as error:
            raise self._error_for(error) from None
        except ValueError as error:
            # PyLD reports a relative IRI it cannot resolve (e.g. in "@import") as a ValueError.
            raise BadRequestData(f"Invalid @context: {error}") from None
        except RecursionError:
            raise BadRequestData("The @context nests too deeply") from None
        return Context(key, source, active, self._processor)

    @staticmethod
    def _layers(source: Any) -> list[Any]:
        """The user's context first, then the core context, so core terms always win."""
        if source is None:
            return [CORE_CONTEXT_URL]
        items = source if isinstance(source, list) else [source]
        layers: list[Any] = []
        for item in items:
            if isinstance(item, str):
                if not item:
                    raise BadRequestData("An @context URL is empty")
                if not _ABSOLUTE_URL.fullmatch(item):
                    raise BadRequestData(f"An @context URL must be an absolute URL, not {item!r}")
                if item in CORE_CONTEXT_ALIASES:
                    continue
                layers.append(item)
            elif isinstance(item, dict):
                if any(isinstance(term, dict) and "@context" in term for term in item.values()):
                    raise BadRequestData("A user @context shall not contain scoped contexts (clause 5.5.7)")
                layers.append(item)
            else:
                raise BadRequestData("An @context must be a URL, an object or an array of them")
        layers.append(CORE_CONTEXT_URL)
        return layers

    def _load(self, url: str, options: Any = None) -> dict[str, Any]:
        try:
            document = self._loader(CORE_CONTEXT_URL if url in CORE_CONTEXT_ALIASES else url)
        except LoaderFailed as error:
            raise LdContextNotAvailable(f"The @context {url} could not be retrieved: {error}") from None
        if not isinstance(document, dict) or "@context" not in document:
            raise BadRequestData(f"The document at {url} holds no @context")
        return {"contextUrl": None, "documentUrl": url, "document": document}

    @staticmethod
    def _error_for(error: Exception) -> Exception:
        cause: Any = error
        while cause is not None:
            if isinstance(cause, LdContextNotAvailable | BadRequestData | InvalidRequest):
                return cause
            cause = getattr(cause, "cause", None) or getattr(cause, "__cause__", None)
        return BadRequestData(f"Invalid @context: {_describe(error)}")


def _describe(error: Exception) -> str:
    """A JSON-LD error's message and code, and the term it is about when PyLD tells, without PyLD's
    dump of the context it was processing."""
    message = str(error.args[0]) if error.args else type(error).__name__
    code = getattr(error, "code", None)
    described = f"{message} ({code})" if code else message
    term = _term_at_fault(getattr(error, "details", None))
    return f"term {term!r}: {described}" if term is not None else described


def _term_at_fault(details: Any) -> str | None:
    """The term a PyLD context error names, or else the one term of the context it was processing
    that maps to the IRI the error names."""
    if not isinstance(details, dict):
        return None
    term = details.get("term")
    if isinstance(term, str):
        return term
    iri, context = details.get("iri"), details.get("context")
    if not isinstance(iri, str) or not isinstance(context, dict):
        return None
    names = [
        name
        for name, definition in context.items()
        if (definition.get("@id") if isinstance(definition, dict) else definition) == iri
    ]
    return names[0] if len(names) == 1 else None

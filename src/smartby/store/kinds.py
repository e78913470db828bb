"""The attribute kinds as the small integers both backends store in their `kind` columns."""

from __future__ import annotations

from smartby.ngsild.entity import ATTRIBUTE_TYPES

KIND_CODE = {kind: code for code, kind in enumerate(ATTRIBUTE_TYPES)}
KIND_NAME = dict(enumerate(ATTRIBUTE_TYPES))

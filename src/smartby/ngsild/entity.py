"""NGSI-LD entities: the internal form, input parsing and output rendering.

Internal form (what the broker and store hold, what query evaluators see):

    {
      "id": "urn:ngsi-ld:Streetlight:1",
      "type": ["https://smartdatamodels.org/dataModel.Streetlighting/Streetlight"],
      "scope": ["/Copenhagen/Norrebro"],            # optional
      "createdAt": "2024-01-01T00:00:00Z",           # system attributes, always kept
      "modifiedAt": "2024-01-01T00:00:00Z",
      "<expanded attribute IRI>": [instance, ...],   # one per datasetId; default instance has none
    }

An instance is the normalized NGSI-LD attribute with expanded sub-attribute names:

    {"type": "Property", "value": 21.5, "unitCode": "CEL", "observedAt": "...Z",
     "createdAt": "...Z", "modifiedAt": "...Z",
     "<expanded sub-attribute IRI>": {"type": "Property", "value": ...}}

Keys that are NGSI-LD core members keep their short names (type, value, object, languageMap, vocab,
valueList, objectList, json, observedAt, unitCode, datasetId, createdAt, modifiedAt, deletedAt).
Every other key of an entity or an instance is an absolute IRI (it always contains ':').
Relationship targets are in "object", LanguageProperty values in "languageMap" ({lang: text}),
VocabProperty in "vocab" (expanded IRI or list), ListProperty in "valueList", ListRelationship in
"objectList" (list of {"object": id}) and JsonProperty in "json".
"""

from __future__ import annotations

from typing import Any

Instance = dict[str, Any]
Entity = dict[str, Any]

ATTRIBUTE_TYPES = (
    "Property",
    "Relationship",
    "GeoProperty",
    "LanguageProperty",
    "VocabProperty",
    "ListProperty",
    "ListRelationship",
    "JsonProperty",
)

# Members of an attribute instance that are not sub-attributes.
INSTANCE_MEMBERS = frozenset(
    {
        "type",
        "value",
        "object",
        "languageMap",
        "vocab",
        "valueList",
        "objectList",
        "json",
        "observedAt",
        "unitCode",
        "datasetId",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "objectType",
        "lang",
        "instanceId",
    }
)

ENTITY_MEMBERS = frozenset({"id", "type", "scope", "createdAt", "modifiedAt", "deletedAt"})

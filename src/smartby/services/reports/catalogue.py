"""The city's own service types: what a citizen can report (Open311's service list)."""

from __future__ import annotations

from dataclasses import dataclass

STREETLIGHT_OUT = "streetlight-out"
FLOODING = "flooding"


@dataclass(frozen=True)
class ServiceType:
    code: str
    name: str
    danish: str
    description: str
    group: str
    keywords: tuple[str, ...]
    agency: str

    def listed(self) -> dict[str, object]:
        """As GeoReport v2's service list shows it (no attributes: `metadata` false)."""
        return {
            "service_code": self.code,
            "service_name": self.name,
            "description": f"{self.description} ({self.danish})",
            "metadata": False,
            "type": "realtime",
            "keywords": ", ".join(self.keywords),
            "group": self.group,
        }


ROADS = "Vej og Park (roads and parks)"
SERVICES: tuple[ServiceType, ...] = (
    ServiceType(
        STREETLIGHT_OUT,
        "Street light out",
        "Gadelys slukket",
        "A street light that is dark, flickers or burns by day",
        "street lighting",
        ("street light", "lamp", "gadelys", "lygte"),
        "Street lighting (Gadebelysning)",
    ),
    ServiceType(
        FLOODING,
        "Flooding",
        "Oversvømmelse",
        "Water standing on a street, in a tunnel or a cellar after rain",
        "climate",
        ("flood", "water", "cloudburst", "oversvømmelse", "skybrud"),
        "Climate adaptation (Klimatilpasning)",
    ),
    ServiceType(
        "blocked-drain",
        "Blocked drain",
        "Tilstoppet afløb",
        "A gully or drain that does not take the water away",
        "climate",
        ("drain", "gully", "sewer", "afløb", "kloak"),
        "Climate adaptation (Klimatilpasning)",
    ),
    ServiceType(
        "pothole",
        "Pothole",
        "Hul i vejen",
        "A hole or broken surface on a road, path or cycle track",
        "roads",
        ("pothole", "road", "cycle track", "hul", "vej"),
        ROADS,
    ),
    ServiceType(
        "damaged-sign",
        "Damaged sign",
        "Beskadiget skilt",
        "A traffic or street sign that is damaged, missing or turned",
        "roads",
        ("sign", "traffic sign", "skilt"),
        ROADS,
    ),
    ServiceType(
        "litter",
        "Litter",
        "Affald",
        "Litter, dumped waste or an overflowing bin",
        "cleaning",
        ("litter", "waste", "bin", "affald", "skrald"),
        "City cleaning (Renhold)",
    ),
)
BY_CODE = {service.code: service for service in SERVICES}

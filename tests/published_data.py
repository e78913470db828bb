"""Where the published data lies that the tests check smartby against (never needed by the package)."""

from __future__ import annotations

import os
from pathlib import Path


def _shared_data() -> Path:
    """The published data the tests check smartby against (../shared/data beside the checkout).

    SMARTBY_SHARED_DATA overrides it; a clone elsewhere on the machine falls back to /work/shared.
    """
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "data", Path("/work/shared/data")]
    if os.environ.get("SMARTBY_SHARED_DATA"):
        candidates.insert(0, Path(os.environ["SMARTBY_SHARED_DATA"]))
    for candidate in candidates:
        if (candidate / "README.md").exists():
            return candidate
    raise RuntimeError(f"the shared test data is not at any of {candidates}; set SMARTBY_SHARED_DATA")


SHARED_DATA = _shared_data()

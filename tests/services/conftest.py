"""City services tests: the services are found through their entry points, as installed ones are.

`installed/` holds the metadata of a distribution that registers smartby's built-in `freshness`,
`lighting`, `climate`, `mobility` and `energy` (as smartby's own pyproject does, for a checkout
whose installed metadata predates it) and the third-party `probe` service of `probe.py`.
tests/conftest.py puts it on the path of this process; `process_path` gives it to the
`smartby services run` processes the tests start.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

INSTALLED = str(Path(__file__).parent / "installed")
TESTS = str(Path(__file__).parent.parent)


def process_path() -> str:
    """PYTHONPATH for a `smartby` process that must find the test services."""
    return os.pathsep.join([INSTALLED, TESTS, *sys.path])

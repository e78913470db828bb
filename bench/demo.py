"""`make demo` from a fresh clone, as a newcomer runs it: install, back-fill, first dashboard page.

python -m bench.demo

Clones the repository's committed HEAD into a new folder, runs `make demo` there (a new .venv, the
runtime install, then `smartby demo`: a fresh SQLite file, the city provisioned through the device
API, 7 days of hourly history back-filled through HTTP uplinks) and times each phase from the moment
`make` starts: the install (until smartby's first line), the back-fill (its own report of readings
and values per second), the dashboard URL printed, and the first `/` answered. pip's cache is
whatever this machine has (a newcomer's first install downloads the wheels once).

The back-fill rate is compared with the raw sqlite3 driver writing the same kind of rows (entity
document, attribute index rows and one history row per value) in the same run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import raw_sqlite, servers

ROOT = Path(__file__).resolve().parents[1]
BACKFILLED = re.compile(
    r"Back-filled (?P<readings>[\d,]+) readings \((?P<values>[\d,]+) attribute values\) "
    r"in (?P<seconds>[\d.]+) s"
)


@dataclass
class DemoRun:
    """Seconds from the start of `make demo` to each phase, and what the back-fill reported."""

    installed_s: float = float("nan")
    url_s: float = float("nan")
    first_page_s: float = float("nan")
    first_page_ms: float = float("nan")
    first_page_bytes: int = 0
    readings: int = 0
    values: int = 0
    backfill_s: float = float("nan")
    output: list[str] = field(default_factory=list)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def run_demo(folder: Path, timeout: float = 600.0) -> DemoRun:
    clone = folder / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    port = servers.free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("SMARTBY_", "VIRTUAL_ENV"))
    }
    environment.update(SMARTBY_PORT=str(port), PYTHONUNBUFFERED="1")
    environment["PATH"] = os.pathsep.join(
        part for part in environment.get("PATH", "").split(os.pathsep) if ".venv" not in part
    )
    result = DemoRun()
    began = time.perf_counter()
    process = subprocess.Popen(
        ["make", "demo"],
        cwd=clone,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            result.output.append(line.rstrip())
            now = time.perf_counter() - began
            if line.startswith("smartby demo:") and result.installed_s != result.installed_s:
                result.installed_s = now
            found = BACKFILLED.search(line)
            if found:
                result.readings = _number(found["readings"])
                result.values = _number(found["values"])
                result.backfill_s = float(found["seconds"])
            if "Dashboard: http" in line:
                result.url_s = now
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(timeout) or result.url_s != result.url_s:
            tail = "\n".join(result.output[-20:])
            raise RuntimeError(f"make demo printed no dashboard URL:\n{tail}")
        asked = time.perf_counter()
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        page.raise_for_status()
        result.first_page_ms = (time.perf_counter() - asked) * 1000
        result.first_page_s = time.perf_counter() - began
        result.first_page_bytes = len(page.content)
    finally:
        _stop(process)
    return result


def _stop(process: subprocess.Popen[str]) -> None:
    """Ctrl-C to the demo's process group (make, smartby demo, smartby serve), then a kill."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run(report: Any, workdir: Path) -> None:
    folder = workdir / "demo"
    folder.mkdir()
    demo = run_demo(folder)
    report.add(
        "`make demo` from a fresh clone to the first dashboard page (install included), s",
        f"{demo.first_page_s:.1f} (install {demo.installed_s:.1f}, URL at {demo.url_s:.1f})",
        "-",
        "-",
        "< 120 s",
    )
    pool, updates = 2000, 20_000
    raw = raw_sqlite.update_rate(folder / "raw.db", pool, updates, 500) * 3
    values_per_s = demo.values / demo.backfill_s
    report.add(
        "Demo back-fill through the device API (7 days, hourly, 2,000 devices), history instances/s",
        f"{values_per_s:,.0f} ({demo.readings / demo.backfill_s:,.0f} readings/s)",
        f"{raw:,.0f} raw sqlite3, entity + index + history rows",
        f"{values_per_s / raw:.2f}",
        "-",
    )
    report.notes.append(
        f"`make demo` from a fresh clone: the install (new .venv, runtime dependencies only) took "
        f"{demo.installed_s:.1f} s with pip's cache warm; the back-fill wrote {demo.readings:,} readings "
        f"({demo.values:,} history instances) in {demo.backfill_s:.1f} s through HTTP uplinks, device "
        f"decoding and the readings pipeline; the first `/` was answered in {demo.first_page_ms:.0f} ms "
        f"with {demo.first_page_bytes / 1024:.1f} KB."
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="smartby-demo-bench-") as folder:
        demo = run_demo(Path(folder))
    print(
        f"install {demo.installed_s:.1f} s; dashboard URL at {demo.url_s:.1f} s; first page at "
        f"{demo.first_page_s:.1f} s ({demo.first_page_ms:.0f} ms, {demo.first_page_bytes:,} bytes); "
        f"back-fill {demo.readings:,} readings, {demo.values:,} values in {demo.backfill_s:.1f} s"
    )


if __name__ == "__main__":
    sys.exit(main())

"""Loading a CSV file's rows into entity history through a mapping."""

from __future__ import annotations

import time
from pathlib import Path

from smartby.broker import Broker
from smartby.ingest.csv_rows import RowError, RowParser, csv_records
from smartby.ingest.history_writer import HistoryWriter
from smartby.ingest.mapping import Mapping, MappingError
from smartby.ingest.report import GapCounter, ImportReport
from smartby.ngsild.entity import check_name, parse_types
from smartby.ngsild.errors import NgsiLdError


async def import_csv(
    broker: Broker, tenant: str, path: Path, mapping: Mapping, *, batch: int = 5000
) -> ImportReport:
    """Append every good row of `path` to the history of its entity; bad rows are reported with
    their line and left out. Instances already recorded are not added again."""
    started = time.perf_counter()
    report = ImportReport(source=path.name, unit="line", interval=mapping.interval_delta)
    try:
        ctx = await broker.context(mapping.context, tenant)
        types = parse_types(mapping.type, ctx)
        names = [ctx.expand(check_name(attribute.name)) for attribute in mapping.attributes]
    except NgsiLdError as error:
        raise MappingError(f"the mapping's names cannot be expanded: {error.detail}") from None
    gaps = GapCounter(mapping.interval_delta) if mapping.interval_delta is not None else None
    writer = HistoryWriter(broker, tenant, report, batch)
    parser: RowParser | None = None
    line = 0
    try:
        with path.open(encoding=mapping.encoding, newline="") as handle:
            for line, record in csv_records(handle, mapping.delimiter):
                if isinstance(record, str):
                    if parser is not None:
                        report.rows += 1
                    report.reject(line, record)
                    continue
                if parser is None:
                    parser = RowParser(mapping, record, names)
                    continue
                report.rows += 1
                try:
                    reading = parser.parse(record, line)
                except RowError as error:
                    report.reject(error.line, error.reason)
                    continue
                if reading is None:
                    report.filtered += 1
                    continue
                report.loaded += 1
                if gaps is not None:
                    gaps.add(reading.entity_id, reading.at)
                await writer.add({"id": reading.entity_id, "type": types}, reading.attributes)
    except UnicodeDecodeError as error:
        report.fatal = (
            f"not {mapping.encoding} text after line {line} ({error.reason}); "
            "set the mapping's encoding (e.g. cp1252 or latin-1)"
        )
    except OSError as error:
        report.fatal = f"cannot read {path}: {error}"
    except MappingError as error:
        report.fatal = str(error)
    await writer.flush()
    if parser is None and report.fatal is None:
        report.fatal = "the file is empty (no header row)"
    if gaps is not None:
        report.gaps = gaps.gaps()
    report.seconds = time.perf_counter() - started
    return report

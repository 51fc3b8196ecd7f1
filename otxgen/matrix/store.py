"""The records of a matrix folder: ``records.jsonl``, one JSON line per finished cell, appended and
synced as each cell finishes, so that an interrupted run keeps every cell it finished and the next
run computes only the others. A line torn by a kill is dropped when the file is read."""

from __future__ import annotations

import json
import os
from pathlib import Path

from otxgen.errors import InputError
from otxgen.matrix.cells import Record

RECORDS = "records.jsonl"


class RecordStore:
    def __init__(self, folder: Path) -> None:
        self.path = folder / RECORDS

    def load(self) -> dict[str, Record]:
        """Key -> the latest record with that key; a torn last line is cut off the file."""
        if not self.path.is_file():
            return {}
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            data = data[: data.rfind(b"\n") + 1]
            os.truncate(self.path, len(data))
        records: dict[str, Record] = {}
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
            if line.strip():
                record = _parse(line, self.path, number)
                records[record.key] = record
        return records

    def append(self, record: Record) -> None:
        """One line, written with one ``write`` and synced: a kill leaves whole lines (or a torn last one)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (record.to_json() + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)


def _parse(line: str, path: Path, number: int) -> Record:
    try:
        return Record.from_json(line)
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"not a matrix record ({error}); move the file away to start over", str(path), number, 1
        ) from None


def dump_json(data: object) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"

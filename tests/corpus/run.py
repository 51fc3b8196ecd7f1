"""The corpus run: each library in its own interpreter, one after another, one record per config.

Each library runs in its own interpreter (``python -m corpus.run``): the three libraries' registries
would otherwise clash, and the process's memory goes back when it ends. The child appends one JSON
line per config to a records file; when it dies (a segfault in an op), the parent records the config
it was on and starts it again, and it resumes where it stopped.

Nothing is downloaded: ``init_weights()`` is never called (so no ``Pretrained`` checkpoint is
fetched) and the child refuses every network connection, in case a constructor tries anyway.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from corpus.checks import Verdict, swap
from corpus.sample import (
    LIBRARIES,
    REPO,
    check_original,
    copy_configs,
    corpus_paths,
    forbid_network,
    package_configs,
    quiet,
    walk_order,
)
from corpus.targets import choose_target

MAX_RESTARTS = 5
TESTS = REPO / "tests"  # the folder that holds the corpus package


@dataclass(frozen=True)
class Record:
    library: str
    config: str  # relative to the library's configs folder
    target: str
    target_kind: str
    verdict: Verdict
    reason: str
    seconds: float
    failed_checks: tuple[str, ...] = ()
    input_size: int = 0  # the side of the dummy batch both forwards ran on

    @classmethod
    def from_json(cls, line: str) -> Record:
        data = json.loads(line)
        data["failed_checks"] = tuple(data.get("failed_checks", ()))
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


# --- one library, in its own interpreter ---------------------------------------------------------


def read_records(path: Path) -> list[Record]:
    if not path.is_file():
        return []
    return [Record.from_json(line) for line in path.read_text().splitlines() if line.strip()]


def append_record(path: Path, record: Record) -> None:
    with path.open("a") as out:
        out.write(record.to_json() + "\n")


def progress(record: Record, index: int | None, total: int) -> None:
    at = f"{index + 1}/{total}" if index is not None else f"-/{total}"
    target = f" -> {record.target}" if record.target else ""
    why = f" [{record.reason[:110]}]" if record.reason else ""
    line = f"{record.library} {at} {record.config}{target}: {record.verdict}{why} ({record.seconds:.1f} s)"
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Run:
    """One library's run: where its copied configs, its records and its current-config marker live."""

    library: str
    per_library: int
    seed: int
    work: Path

    @property
    def records(self) -> Path:
        return self.work / f"{self.library}.jsonl"

    @property
    def current(self) -> Path:
        return self.work / f"{self.library}.current.json"

    def mark(self, **fields: object) -> None:
        self.current.write_text(json.dumps(fields))


def examine(run: Run, root: Path, relative: str, index: int) -> Record:
    """One config: the original's check, then (when it enters the sample) its target's swap."""
    start = time.monotonic()
    path = root / relative
    run.mark(config=relative, phase="original")
    original = check_original(run.library, path)
    if isinstance(original, str):
        return Record(run.library, relative, "", "", "excluded", original, round(time.monotonic() - start, 2))
    target = choose_target(run.library, index, original.backbone)
    run.mark(config=relative, phase="swap", target=str(target), target_kind=target.kind)
    text = path.read_bytes()
    cwd = Path(tempfile.mkdtemp(prefix="cwd-", dir=run.work))
    try:
        verdict, reason, checks = swap(run.library, path, original, target, cwd)
    finally:  # later configs may inherit from this one: they must see the original
        path.write_bytes(text)
    seconds = round(time.monotonic() - start, 2)
    return Record(
        run.library, relative, str(target), target.kind, verdict, reason, seconds, tuple(checks), original.size
    )


def restore_interrupted(run: Run, root: Path) -> None:
    """A child that died mid-swap left its config rewritten: put the shipped file back."""
    if run.current.is_file():
        relative = json.loads(run.current.read_text())["config"]
        shutil.copyfile(package_configs(run.library) / relative, root / relative)
        run.current.unlink()


def run_library(run: Run) -> None:
    quiet()
    forbid_network()
    root = copy_configs(run.library, run.work)
    restore_interrupted(run, root)
    done = read_records(run.records)
    seen = {record.config for record in done}
    admitted = sum(record.verdict != "excluded" for record in done)
    for relative in walk_order(corpus_paths(root), run.seed):
        if admitted >= run.per_library:
            break
        if relative in seen:
            continue
        record = examine(run, root, relative, admitted)
        append_record(run.records, record)
        progress(record, admitted if record.verdict != "excluded" else None, run.per_library)
        admitted += record.verdict != "excluded"
    run.current.unlink(missing_ok=True)


# --- the parent: the libraries one after another --------------------------------------------------


def crash_record(run: Run, returncode: int) -> Record:
    """What the child was doing when it died: an excluded original, or a failed swap."""
    mark = json.loads(run.current.read_text())
    swapping = mark["phase"] == "swap"
    reason = f"the interpreter died (exit {returncode}) during the {mark['phase']} check"
    verdict: Verdict = "failed" if swapping else "excluded"
    return Record(
        run.library, mark["config"], mark.get("target", ""), mark.get("target_kind", ""), verdict, reason, 0.0
    )


def child_command(run: Run) -> list[str]:
    options = ["--library", run.library, "--per-library", str(run.per_library), "--seed", str(run.seed)]
    return [sys.executable, "-m", "corpus.run", *options, "--work", str(run.work)]


def child_env() -> dict[str, str]:
    """The parent's environment, with tests/ first on the path: ``corpus`` is not an installed package."""
    paths = [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def run_child(run: Run) -> None:
    """The child, restarted after a crash (it resumes from its records) until it completes."""
    command, env = child_command(run), child_env()
    for _ in range(MAX_RESTARTS + 1):
        # stdout is the libraries' print noise; progress and tracebacks come on stderr
        returncode = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, check=False).returncode
        if returncode == 0:
            return
        if not run.current.is_file():
            raise RuntimeError(f"the {run.library} harness exited {returncode} outside any config")
        record = crash_record(run, returncode)
        append_record(run.records, record)
        progress(record, None, run.per_library)
    raise RuntimeError(f"the {run.library} harness died {MAX_RESTARTS + 1} times")


def run_corpus(libraries: Sequence[str], per_library: int, seed: int, work: Path | None = None) -> list[Record]:
    """Every library's records, in walk order; ``work`` (default: a temporary folder) holds the copies."""
    with contextlib.ExitStack() as stack:
        folder = work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="otxgen-corpus-")))
        records: list[Record] = []
        for library in libraries:
            run = Run(library, per_library, seed, folder)
            run.records.unlink(missing_ok=True)
            start = time.monotonic()
            run_child(run)
            records += read_records(run.records)
            print(f"{library}: done in {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
        return records


# --- the child's command line ---------------------------------------------------------------------


def child_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One library's corpus run (started by run_corpus).")
    parser.add_argument("--library", choices=LIBRARIES, required=True)
    parser.add_argument("--per-library", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--work", type=Path, required=True)
    options = parser.parse_args(argv)
    run_library(Run(options.library, options.per_library, options.seed, options.work))
    return 0


if __name__ == "__main__":
    sys.exit(child_main())

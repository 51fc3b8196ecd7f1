"""A worker slot: one long-lived worker process (``otxgen.matrix.worker``) fed one cell at a time,
under a wall-time limit and a memory limit. A cell that hangs past the limit, whose worker dies, or
whose worker grows past the memory limit is recorded as ``hang``, ``crash`` or ``out-of-memory``; the
worker is then replaced, and the next cell runs in a fresh one. Both executors run cells through
slots (local threads own them, or Ray actors do), so a cell gives the same record either way.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any

from otxgen.errors import WorkerStartError
from otxgen.matrix.cells import Cell, Outcome, Record, StepResult, stopped_record
from otxgen.matrix.worker import GPUS_VARIABLE, resident_bytes

POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Limits:
    """``cell``: the function a worker runs a cell with, as ``module:name`` (the app's cell function: the
    executors are given it, they do not import it); ``seconds``: a cell's wall time; ``memory_bytes``:
    what a cell may use on top of the warmed-up worker; ``threads``: torch threads per worker;
    ``start_seconds``: for a worker's imports; ``device``: the torch device of the cells' models (``cpu``,
    ``cuda``, or ``auto``: CUDA where the worker sees a GPU)."""

    cell: str
    seconds: float = 300.0
    memory_bytes: int = 6 << 30
    threads: int = 1
    start_seconds: float = 600.0
    device: str = "cpu"


class _Worker:
    """One worker process, its answer pipe (read with a time-out) and its stderr (for crash reasons)."""

    def __init__(self, limits: Limits, gpus: str | None) -> None:
        read_end, write_end = os.pipe()
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        command = [sys.executable, "-m", "otxgen.matrix.worker", "--result-fd", str(write_end)]
        command += ["--memory-limit", str(limits.memory_bytes), "--threads", str(limits.threads), "--cell", limits.cell]
        command += ["--device", limits.device]
        env = None if gpus is None else {**os.environ, GPUS_VARIABLE: gpus}
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.log, pass_fds=(write_end,), env=env
        )
        os.close(write_end)
        self.answers, self.pending = read_end, b""
        ready = self.receive(limits.start_seconds)
        if ready is None or "ready" not in ready:
            why = self.last_error() or "no answer"  # read before stop() closes the log
            self.stop()
            raise WorkerStartError(f"a matrix worker did not start: {why}")
        self.name: str = ready["ready"]
        self.limit = int(ready.get("baseline", 0)) + limits.memory_bytes

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None when none came within ``timeout`` or the worker has gone."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.answers], [], [], left)[0]:
                return None
            chunk = os.read(self.answers, 1 << 16)
            if not chunk:
                return None
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message

    def send(self, cell: Cell) -> None:
        assert self.process.stdin is not None
        self.log_start = self.log.tell()
        self.process.stdin.write(cell.to_json().encode() + b"\n")
        self.process.stdin.flush()

    def alive(self) -> bool:
        return self.process.poll() is None

    def last_error(self) -> str:
        """The last line the worker wrote on stderr since the current cell began."""
        self.log.seek(getattr(self, "log_start", 0))
        lines = [line.strip() for line in self.log.read().decode("utf-8", "replace").splitlines() if line.strip()]
        self.log.seek(0, os.SEEK_END)
        return lines[-1] if lines else ""

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        os.close(self.answers)
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.log.close()


class WorkerSlot:
    """Runs cells one at a time in a worker process it starts, and replaces after a stop. ``gpus``: the
    GPUs its workers see (``CUDA_VISIBLE_DEVICES``); None: what this process sees (Ray sets it for an
    actor that asked for a GPU)."""

    def __init__(self, limits: Limits, gpus: str | None = None) -> None:
        self.limits, self.gpus = limits, gpus
        self._worker: _Worker | None = None

    def run(self, cell: Cell) -> Record:
        worker = self._live_worker()
        try:
            worker.send(cell)
        except BrokenPipeError:
            return self._stopped(worker, cell, "crash", "the worker died before the cell began", {}, 0.0)
        return self._await(worker, cell)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def _live_worker(self) -> _Worker:
        if self._worker is not None and not self._worker.alive():
            self.close()
        if self._worker is None:
            self._worker = _Worker(self.limits, self.gpus)
        return self._worker

    def _await(self, worker: _Worker, cell: Cell) -> Record:
        start = time.monotonic()
        phase, steps = "start", {}
        while True:
            message = worker.receive(POLL_SECONDS)
            elapsed = time.monotonic() - start
            if message is not None and "record" in message:
                if message.get("exiting"):
                    self.close()
                return Record.from_json(json.dumps(message["record"]))
            if message is not None:
                phase = message.get("phase", phase)
                steps = {name: StepResult(**step) for name, step in message.get("steps", {}).items()}
            elif not worker.alive():
                outcome, why = _death(worker.process.returncode)
                detail = worker.last_error()
                reason = f"the worker {why} during the {phase} check" + (f": {detail}" if detail else "")
                return self._stopped(worker, cell, outcome, reason, steps, elapsed)
            elif resident_bytes(worker.process.pid) > worker.limit:
                gib = self.limits.memory_bytes / (1 << 30)
                reason = f"out of memory: the worker passed its limit ({gib:.1f} GiB over its imports) during {phase}"
                return self._stopped(worker, cell, "out-of-memory", reason, steps, elapsed)
            elif elapsed > self.limits.seconds:
                reason = f"no result after {self.limits.seconds:.0f} s (stopped during the {phase} check)"
                return self._stopped(worker, cell, "hang", reason, steps, elapsed)

    def _stopped(
        self, worker: _Worker, cell: Cell, outcome: Outcome, reason: str, steps: dict[str, StepResult], took: float
    ) -> Record:
        name = worker.name
        self.close()
        return stopped_record(cell, outcome, reason, took, steps, name)


def _death(returncode: int | None) -> tuple[Outcome, str]:
    """How a worker ended: a SIGKILL nobody here sent is the system's out-of-memory killer."""
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        if -returncode == signal.SIGKILL:
            return "out-of-memory", "was killed (SIGKILL, most likely the system's out-of-memory killer)"
        return "crash", f"died of {name}"
    return "crash", f"exited with status {returncode}"

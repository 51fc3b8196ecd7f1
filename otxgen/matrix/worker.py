"""The worker process: ``python -m otxgen.matrix.worker --result-fd FD --cell MODULE:NAME``. It imports
torch and the libraries once (about 5 s), caps its own address space, then runs the cells it reads from
stdin, one JSON line each, with the cell function it was given (the app's: the matrix does not import
it), and answers on ``FD`` (stdout is the libraries' print noise, sent to /dev/null):

- ``{"ready": "host:pid", "baseline": BYTES}`` once, after the imports (its resident memory then: a
  cell's memory limit is on top of it); ``--device cuda`` where no GPU is visible: no answer, the
  reason on stderr;
- ``{"phase": NAME, "steps": {...}}`` before each part of a cell, with the steps done so far;
- ``{"record": {...}, "exiting": BOOL}`` per cell; ``exiting``: it stops after this one (it ran out of
  memory, or has grown past its recycling size), and its supervisor starts a fresh one.

It dies with its supervisor (``PR_SET_PDEATHSIG``), so a killed run leaves no worker behind.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import IO, Any

from otxgen.matrix.cells import Cell, Record, StepResult

GPUS_VARIABLE = "CUDA_VISIBLE_DEVICES"  # the GPUs a worker was given: by its local slot, or by Ray
RunCell = Callable[[Cell, Callable[[str, dict[str, StepResult]], None], str, str], Record]

_PRELOADED = (
    "otxgen.smoke.run",
    "otxgen.app.build",
    "mmdet.models",
    "mmseg.models",
    "mmpretrain.models",
    "otxgen.libraries.torchvision",
    "otxgen.libraries.pytorchcv",
    "otxgen.libraries.timm",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otxgen.matrix.worker")
    parser.add_argument("--result-fd", type=int, required=True)
    parser.add_argument("--memory-limit", type=int, required=True, help="bytes")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cell", required=True, help="the cell function, as module:name")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    args = parser.parse_args(argv)
    _die_with_parent()
    _leave_interrupts_to_the_supervisor()
    results = os.fdopen(args.result_fd, "w", buffering=1, encoding="utf-8")
    _silence_stdout()
    _warm_up(args.threads)
    device = _device(args.device)
    module, _, function = args.cell.partition(":")
    run_cell: RunCell = getattr(importlib.import_module(module), function)
    _cap_address_space(args.memory_limit)
    name = f"{socket.gethostname()}:{os.getpid()}"
    baseline = resident_bytes(os.getpid())
    _send(results, {"ready": name, "baseline": baseline})
    for line in sys.stdin:
        if line.strip():
            cell = Cell.from_json(line)
            exiting = _serve(run_cell, cell, results, (name, device), baseline + args.memory_limit // 2)
            if exiting:
                return 0
    return 0


def _serve(run_cell: RunCell, cell: Cell, results: IO[str], where: tuple[str, str], recycle_bytes: int) -> bool:
    def phase(part: str, steps: dict[str, StepResult]) -> None:
        _send(results, {"phase": part, "steps": {k: asdict(v) for k, v in steps.items()}})

    name, device = where
    record = replace(run_cell(cell, phase, name, device), device=device, gpus=os.environ.get(GPUS_VARIABLE, ""))
    exiting = record.outcome == "out-of-memory" or resident_bytes(os.getpid()) > recycle_bytes
    _send(results, {"record": json.loads(record.to_json()), "exiting": exiting})
    return exiting


def _send(results: IO[str], message: dict[str, Any]) -> None:
    results.write(json.dumps(message, ensure_ascii=False) + "\n")
    results.flush()


def _device(requested: str) -> str:
    """The torch device this worker runs cells on: ``auto`` is CUDA where this worker sees a GPU; a
    worker asked for CUDA that sees none does not start (its supervisor says why)."""
    from otxgen.smoke.runtime import resolve_device

    return resolve_device(requested)


def _warm_up(threads: int) -> None:
    """Everything a cell imports, once; torch's thread pool sized to this worker's share of the cores."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    for module in _PRELOADED:
        importlib.import_module(module)
    import torch

    torch.set_num_threads(max(1, threads))
    torch.ones(8, 8) @ torch.ones(8, 8)  # starts the thread pool: its stacks are mapped before the cap


def _cap_address_space(limit: int) -> None:
    """A cell may map ``limit`` bytes more than the warmed-up worker: an allocation past that fails
    with ``MemoryError`` (or torch's allocator error) instead of exhausting the machine."""
    import resource

    current = _status_kib(os.getpid(), "VmSize") * 1024
    if current:
        resource.setrlimit(resource.RLIMIT_AS, (current + limit, resource.RLIM_INFINITY))


def resident_bytes(pid: int) -> int:
    """The resident memory of ``pid`` (0 where /proc is not there)."""
    return _status_kib(pid, "VmRSS") * 1024


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _leave_interrupts_to_the_supervisor() -> None:
    """Ctrl-C in a terminal reaches the whole process group: the run stops (its supervisor kills this
    worker), but the cell in hand must not end as a "crash" record of an interrupted worker."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its supervisor's thread ends (a killed run, a Ray shutdown)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL))
    if os.getppid() == 1:  # the supervisor was already gone
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

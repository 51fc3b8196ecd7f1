"""Executors: spread independent cells over worker slots. ``run_local``: one thread per slot on this
machine. ``run_ray``: one Ray actor per slot, on a local Ray cluster or the one at ``address``; each
actor owns its slot (the worker process runs on the actor's node, under the same limits), so both
give the same records for the same cells. Each finished record goes to ``on_record`` at once (from
one thread at a time); ``stop()`` is asked before each cell starts (a time budget)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from otxgen.errors import MissingExtraError
from otxgen.matrix.cells import Cell, Record, stopped_record
from otxgen.matrix.slot import Limits, WorkerSlot

OnRecord = Callable[[Record], None]
Stop = Callable[[], bool]


def run_local(cells: Sequence[Cell], limits: Limits, jobs: int, on_record: OnRecord, stop: Stop) -> None:
    """``jobs`` slots, each served by a thread that takes the next cell until none is left."""
    queue = iter(cells)
    lock = threading.Lock()
    errors: list[BaseException] = []
    slots = [WorkerSlot(limits) for _ in range(max(1, min(jobs, len(cells))))]

    def next_cell() -> Cell | None:
        with lock:
            return None if stop() or errors else next(queue, None)

    def serve(slot: WorkerSlot) -> None:
        try:
            while (cell := next_cell()) is not None:
                record = slot.run(cell)
                with lock:
                    on_record(record)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread, which raises it
            errors.append(error)
        finally:
            slot.close()  # in this thread: the worker dies with the thread that started it

    threads = [threading.Thread(target=serve, args=(slot,), daemon=True) for slot in slots]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():  # a timed join lets Ctrl-C through
            thread.join(0.5)
    if errors:
        raise errors[0]


class SlotActor:
    """The Ray actor: a worker slot on the actor's node."""

    def __init__(self, limits: Limits) -> None:
        self.slot = WorkerSlot(limits)

    def run(self, cell_json: str) -> str:
        return self.slot.run(Cell.from_json(cell_json)).to_json()

    def close(self) -> None:
        self.slot.close()


def import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise MissingExtraError(
            f"--executor ray needs the [cluster] extra (pip install 'otxgen[cluster]'): {error}"
        ) from None
    return ray


def run_ray(
    cells: Sequence[Cell],
    limits: Limits,
    jobs: int | None,
    address: str | None,
    on_record: OnRecord,
    stop: Stop,
) -> int:
    """One actor per slot (``jobs``, or one per CPU of the cluster); returns how many slots ran."""
    ray = import_ray()
    with _ray_session(ray, address, jobs):
        count = jobs or int(ray.cluster_resources().get("CPU", 1))
        count = max(1, min(count, len(cells)))
        actor_class = ray.remote(num_cpus=1, max_restarts=0)(SlotActor)
        actors = [actor_class.remote(limits) for _ in range(count)]
        pending: deque[Cell] = deque(cells)
        running: dict[Any, tuple[Any, Cell]] = {}

        def submit(actor: Any) -> None:
            if pending and not stop():
                cell = pending.popleft()
                running[actor.run.remote(cell.to_json())] = (actor, cell)

        for actor in actors:
            submit(actor)
        while running:
            [done], _ = ray.wait(list(running), num_returns=1)
            actor, cell = running.pop(done)
            try:
                record = Record.from_json(ray.get(done))
            except ray.exceptions.RayActorError as error:  # the actor's process itself died
                reason = f"the Ray actor died: {str(error).splitlines()[0]}"
                record, dead, actor = stopped_record(cell, "crash", reason, 0.0, {}), actor, actor_class.remote(limits)
                actors[actors.index(dead)] = actor
            on_record(record)
            submit(actor)
        ray.get([actor.close.remote() for actor in actors])
    return count


@contextlib.contextmanager
def _ray_session(ray: Any, address: str | None, jobs: int | None) -> Iterator[None]:
    """``ray.init`` (a local cluster of ``jobs`` CPUs when no address) and, if this started it, the
    shutdown: a local cluster leaves no process behind."""
    if ray.is_initialized():
        yield
        return
    local = {"num_cpus": jobs} if address is None and jobs else {}
    ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, **local)
    try:
        yield
    finally:
        ray.shutdown()

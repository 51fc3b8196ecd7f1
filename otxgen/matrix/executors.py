"""Executors: spread independent cells over worker slots. ``run_local``: one thread per slot on this
machine. ``run_ray``: one Ray actor per slot, on a local Ray cluster or the one at ``address``; each
actor owns its slot (the worker process runs on the actor's node, under the same limits), so both
give the same records for the same cells. Each finished record goes to ``on_record`` at once (from
one thread at a time); ``stop()`` is asked before each cell starts (a time budget).

A Ray cluster may lose a node while its cells run: those cells are run again on the nodes left (never
recorded as a crash of a backbone that did nothing wrong), and the run keeps to as many actors as the
live nodes have CPUs, so it never waits for a slot the cluster can no longer give. A lost head stops
the run (the records so far are kept; the next run resumes them)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from otxgen.errors import InputError, MissingExtraError, UsageError, WorkerStartError
from otxgen.matrix.cells import Cell, Record, stopped_record
from otxgen.matrix.slot import Limits, WorkerSlot

OnRecord = Callable[[Record], None]
Notify = Callable[[str], None]  # a line for the user (a node lost, a wait)
Stop = Callable[[], bool]


@dataclass(frozen=True)
class RunReport:
    """What an executor says of its run: ``workers`` it ran; ``retried``: cells run again because the
    node running them died; ``restarted``: because their Ray worker died on a live node; ``stopped``:
    why it stopped with cells left (the cluster's head was lost, no CPU was left), or empty."""

    workers: int
    retried: int = 0
    restarted: int = 0
    stopped: str = ""


def run_local(
    cells: Sequence[Cell], limits: Limits, jobs: int, on_record: OnRecord, stop: Stop, gpus: Sequence[str] = ()
) -> RunReport:
    """``jobs`` slots, each served by a thread that takes the next cell until none is left; with
    ``gpus`` (their ids), slot i sees GPU ``gpus[i % len(gpus)]`` alone."""
    queue = iter(cells)
    lock = threading.Lock()
    errors: list[BaseException] = []
    count = max(1, min(jobs, len(cells)))
    slots = [WorkerSlot(limits, gpus[index % len(gpus)] if gpus else None) for index in range(count)]

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
    return RunReport(len(slots))


MAX_ATTEMPTS = 3  # a cell whose Ray worker dies this often on nodes that stay alive is recorded as a crash
TICK_SECONDS = 1.0  # how often a run waiting on its cells looks at the cluster
HEAD_GRACE_SECONDS = 10.0  # a head that does not answer this long is lost
NO_CPU_SECONDS = 120.0  # with cells left and no CPU in the cluster, wait this long for a node to join
NO_CONNECTION_HINT = (
    "Is its head running there (ray status)? A head started with `ray start` asks for Ray's token"
    " (its default): set RAY_AUTH_MODE=token here, with the head's token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
)


class SlotActor:
    """The Ray actor: a worker slot on the actor's node."""

    def __init__(self, limits: Limits) -> None:
        self.slot = WorkerSlot(limits)

    def node(self) -> str:
        """This actor's node, as its records name it: ``address/node id``."""
        import ray

        return f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()}"

    def run(self, cell_json: str) -> str:
        record = self.slot.run(Cell.from_json(cell_json))
        return replace(record, node=self.node()).to_json()

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
    gpu_share: float = 1.0,
    notify: Notify = lambda line: None,
) -> RunReport:
    """One actor per slot (``jobs``, or one per CPU of the cluster, never more than its live nodes have).
    With ``limits.device`` cuda (or auto, in a cluster that has GPUs), each actor asks for ``gpu_share``
    of a GPU: Ray then places it and gives it its GPU (``CUDA_VISIBLE_DEVICES``), and the slots are as
    many as the GPUs hold too."""
    ray = import_ray()
    with _ray_session(ray, address, jobs):
        share = _gpu_share(ray, limits.device, gpu_share)
        return _RayRun(ray, limits, jobs, share, notify).run(cells, on_record, stop)


def _gpu_share(ray: Any, device: str, share: float) -> float:
    """What each actor asks of a GPU: nothing on the CPU, or in a cluster without GPUs for ``auto``."""
    if device == "cpu":
        return 0.0
    if not ray.cluster_resources().get("GPU"):
        if device == "cuda":
            raise UsageError("--device cuda: the Ray cluster has no GPU (use --device auto or cpu)")
        return 0.0
    most = max(node["Resources"].get("GPU", 0) for node in ray.nodes() if node["Alive"])
    if share > most:
        raise UsageError(f"--gpu-share {share:g}: no node of the Ray cluster has that many GPUs (the most: {most:g})")
    return share


class _RayRun:
    """The cells' queue, the actors that serve it and the cells they are running. An actor's node is
    asked for when it is created: until that answers, the actor is not placed yet."""

    def __init__(self, ray: Any, limits: Limits, jobs: int | None, gpu_share: float, notify: Notify) -> None:
        self.ray, self.limits, self.jobs, self.gpu_share, self.notify = ray, limits, jobs, gpu_share, notify
        self.actor_class = ray.remote(num_cpus=1, num_gpus=gpu_share, max_restarts=0)(SlotActor)
        self.nodes: dict[Any, Any] = {}  # actor -> the reference of its node's name
        self.idle: list[Any] = []
        self.running: dict[Any, tuple[Any, Cell]] = {}  # task reference -> (actor, cell)
        self.head = _Head(ray.get_runtime_context().gcs_address)
        self.most = 0  # the most actors that ran at once
        self.deaths: Counter[str] = Counter()  # cell key -> its Ray workers that died on live nodes
        self.lost: dict[str, str] = {}  # cell key -> what died under it ("node", "worker"), until it runs again
        self.again: Counter[str] = Counter()  # what died -> cells that then ran again
        self.starved_since: float | None = None

    def run(self, cells: Sequence[Cell], on_record: OnRecord, stop: Stop) -> RunReport:
        pending: deque[Cell] = deque(cells)
        self._grow(len(pending))
        stopped = ""
        while self.running or (pending and not stop()):
            if stopped := self.head.lost():  # Ray ends a driver whose head is gone for 60 s: stop first
                break
            while self.idle and pending and not stop():
                actor, cell = self.idle.pop(), pending.popleft()
                self.running[actor.run.remote(cell.to_json())] = (actor, cell)
            if not self.running:  # cells left and no actor: the cluster has no room now
                if stopped := self._wait_for_room(len(pending)):
                    break
                continue
            done, _ = self.ray.wait(list(self.running), num_returns=1, timeout=TICK_SECONDS)
            if not done:
                pending.extendleft(self._unplaceable())
                continue
            record = self._result(done[0], pending)
            if record is not None:
                on_record(record)
        self._close()
        return RunReport(self.most, self.again["node"], self.again["worker"], stopped)

    def _result(self, reference: Any, pending: deque[Cell]) -> Record | None:
        """The record a finished task gives; None when its actor died under it and the cell went back to
        the queue (the third death on live nodes is the cell's crash)."""
        actor, cell = self.running.pop(reference)
        try:
            record = Record.from_json(self.ray.get(reference))
        except self.ray.exceptions.RayActorError as error:
            blameless = self._forget(actor)
            self.deaths[cell.key] += 0 if blameless else 1
            if self.deaths[cell.key] < MAX_ATTEMPTS:
                self.lost[cell.key] = "node" if blameless else "worker"
                died = "the node running it" if blameless else "its Ray worker"
                self.notify(f"[!] {cell.arch} @ {cell.template}: {died} died; it runs again")
                pending.appendleft(cell)
                self._grow(len(pending))
                return None
            reason = f"the Ray worker running it died {MAX_ATTEMPTS} times: {str(error).splitlines()[0]}"
            record = stopped_record(cell, "crash", reason, 0.0, {})
            self._grow(len(pending))
        except self.ray.exceptions.RayTaskError as error:  # the slot itself failed: no cell can run there
            cause = getattr(error, "cause", None)
            if isinstance(cause, WorkerStartError):
                raise WorkerStartError(f"on Ray node {self._node_of(actor)}: {cause}") from None
            raise
        else:
            self.idle.append(actor)
        if cell.key in self.lost:
            self.again[self.lost.pop(cell.key)] += 1
        return record

    def _wait_for_room(self, wanted: int) -> str:
        """Start actors if the cluster has room again; else wait (saying so once), and after
        ``NO_CPU_SECONDS`` the reason to stop."""
        if self._grow(wanted):
            self.starved_since = None
            return ""
        if self.starved_since is None:
            self.starved_since = time.monotonic()
            room = "CPU and GPU share" if self.gpu_share else "CPU"
            self.notify(
                f"[!] The Ray cluster has no {room} left for a cell: waiting up to {NO_CPU_SECONDS:.0f} s for a node"
            )
        if time.monotonic() - self.starved_since > NO_CPU_SECONDS:
            return f"the Ray cluster has had no CPU for a cell for {NO_CPU_SECONDS:.0f} s"
        time.sleep(TICK_SECONDS)
        return ""

    def _node_of(self, actor: Any) -> str:
        try:
            return str(self.ray.get(self.nodes[actor], timeout=5))
        except (self.ray.exceptions.RayError, KeyError):
            return "(unknown)"

    def _grow(self, wanted: int) -> int:
        """Start actors up to what the live nodes' CPUs (and ``jobs``) allow, for ``wanted`` cells; the
        number of actors."""
        room = min(wanted - len(self.idle), self._capacity() - len(self.nodes))
        for _ in range(max(0, room)):
            actor = self.actor_class.remote(self.limits)
            self.nodes[actor] = actor.node.remote()
            self.idle.append(actor)
        self.most = max(self.most, len(self.nodes))
        return len(self.nodes)

    def _capacity(self) -> int:
        """How many actors the live nodes' CPUs (and GPUs, and ``jobs``) allow; as many as now while the
        head does not answer (it knows which nodes live; asking it then blocks)."""
        if not self.head.answering():
            return len(self.nodes)
        live = [node["Resources"] for node in self.ray.nodes() if node["Alive"]]
        slots = int(sum(resources.get("CPU", 0) for resources in live))
        if self.gpu_share:  # whole shares a node's GPUs give, as Ray places them
            slots = min(slots, sum(int(resources.get("GPU", 0) / self.gpu_share + 1e-9) for resources in live))
        return min(self.jobs, slots) if self.jobs else slots

    def _unplaceable(self) -> list[Cell]:
        """The cells of actors the cluster cannot place now that it has fewer CPUs than actors: those
        actors are stopped and their cells go back to the queue."""
        surplus = len(self.nodes) - self._capacity()
        if surplus <= 0:
            return []
        unplaced = [a for a, node in self.nodes.items() if not self.ray.wait([node], timeout=0)[0]][:surplus]
        cells = []
        for reference, (actor, cell) in list(self.running.items()):
            if actor in unplaced:
                del self.running[reference]
                cells.append(cell)
        for actor in unplaced:
            self._forget(actor)
            self.ray.kill(actor)
        return cells

    def _forget(self, actor: Any) -> bool:
        """Drop a dead (or stopped) actor; whether its cell is blameless: the actor never started, or
        its node died with it."""
        node = self.nodes.pop(actor)
        if actor in self.idle:
            self.idle.remove(actor)
        if not self.ray.wait([node], timeout=0)[0]:
            return True
        try:
            node_id = self.ray.get(node).rpartition("/")[2]
        except self.ray.exceptions.RayError:
            return True  # it died before it could say where it was
        if not self.head.answering():
            return True  # the cluster is failing, not the cell
        return not any(n["NodeID"] == node_id and n["Alive"] for n in self.ray.nodes())

    def _close(self) -> None:
        if not self.head.answering():
            return  # nothing can be asked of a cluster without its head
        with contextlib.suppress(self.ray.exceptions.RayError):
            self.ray.get([actor.close.remote() for actor in self.nodes], timeout=60)


class _Head:
    """The head's address, and since when it has not answered."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.address, self.port = host, int(port)
        self.silent_since: float | None = None

    def answering(self) -> bool:
        try:
            socket.create_connection((self.address, self.port), timeout=1.0).close()
        except OSError:
            self.silent_since = self.silent_since or time.monotonic()
            return False
        self.silent_since = None
        return True

    def lost(self) -> str:
        """Why the head is taken for lost (it has not answered for ``HEAD_GRACE_SECONDS``), or empty."""
        if self.answering() or time.monotonic() - (self.silent_since or 0.0) < HEAD_GRACE_SECONDS:
            return ""
        return f"the Ray cluster's head at {self.address}:{self.port} has not answered for {HEAD_GRACE_SECONDS:.0f} s"


@contextlib.contextmanager
def _ray_session(ray: Any, address: str | None, jobs: int | None) -> Iterator[None]:
    """``ray.init`` (a local cluster of ``jobs`` CPUs on 127.0.0.1 when no address) and, if this started
    it, the shutdown: a local cluster leaves no process behind."""
    if ray.is_initialized():
        yield
        return
    local = {"num_cpus": jobs} if address is None and jobs else {}
    with _loopback(ray, address is None or _is_loopback(address)):
        try:
            quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
            # "local": a new cluster even where one already runs here (Ray would join that one instead)
            ray.init(address=address or "local", **quiet, **local)
        except ConnectionError as error:
            raise InputError(f"cannot connect to the Ray cluster ({error}). {NO_CONNECTION_HINT}", address) from None
        try:
            yield
        finally:
            ray.shutdown()


def check_address(address: str | None) -> None:
    """Refuse, before anything starts, an ``--address`` that is not ``auto`` or ``HOST:PORT``, and a head
    that does not answer there (Ray itself retries a closed port for many minutes). ``auto`` is the
    cluster Ray finds on this machine (``RAY_ADDRESS``, else the last ``ray start``), checked the same."""
    if address is None:
        return
    if address == "auto" and (address := _auto_address()) == "auto":
        return
    form = "give the head's HOST:PORT (its GCS port, 6379 unless `ray start --port` said otherwise) or auto"
    if "://" in address:
        raise UsageError(f"--address {address}: Ray Client addresses are not used here; {form}")
    host, _, port = address.rpartition(":")
    if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise UsageError(f"--address {address!r}: {form}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5.0) as head:
            answer = _greeting(head)
    except OSError as error:
        why = error.strerror or str(error) or type(error).__name__
        raise InputError(f"cannot reach the Ray cluster's head ({why}). {NO_CONNECTION_HINT}", address) from None
    if answer is not None and not _is_http2(answer):
        said = (answer[:40].decode("ascii", "replace").splitlines() or [""])[0]
        raise InputError(f"what listens there is not a Ray head (it answers {said!r}); {form}", address)


def _auto_address() -> str:
    """The head ``--address auto`` means, as Ray finds it; none found is an ``InputError``. A
    ``RAY_ADDRESS`` is taken as written (Ray would rewrite a loopback one to this machine's address)."""
    if os.environ.get("RAY_ADDRESS", "auto") != "auto":
        return os.environ["RAY_ADDRESS"]
    try:
        from ray._private.services import canonicalize_bootstrap_address_or_die
    except ImportError:  # without the [cluster] extra the Ray executor says what to install
        return "auto"
    try:
        return str(canonicalize_bootstrap_address_or_die("auto"))
    except ConnectionError as error:
        why = str(error).split(". ", 1)[0]
        raise InputError(
            f"{why} on this machine (RAY_ADDRESS is unset and no `ray start --head` ran here); start a head "
            "with `ray start --head`, or give its HOST:PORT",
            "--address auto",
        ) from None


# The start of an HTTP/2 connection (gRPC, the head's protocol): its preface and an empty SETTINGS frame.
_HTTP2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def _greeting(connection: socket.socket) -> bytes | None:
    """The first bytes a server answers an HTTP/2 hello with; None when it says nothing in 2 s."""
    connection.settimeout(2.0)
    try:
        connection.sendall(_HTTP2_HELLO)
        return connection.recv(64) or None
    except OSError:
        return None


def _is_http2(answer: bytes) -> bool:
    """An HTTP/2 server (gRPC, the head's) begins with a SETTINGS frame: 3 bytes of length, type 4, a
    flags byte, stream 0. Anything else (``HTTP/1.0 400``, a page) is another server."""
    return len(answer) >= 9 and answer[3] == 4 and answer[5:9] == bytes(4)


def _is_loopback(address: str) -> bool:
    host = (address.rpartition(":")[0] or address).strip("[]")
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


@contextlib.contextmanager
def _loopback(ray: Any, wanted: bool) -> Iterator[None]:
    """Ray on this machine's loopback address only: without this, Ray takes the machine's interface
    address for itself (a local cluster listens there) and rewrites a head at 127.0.0.1 to it (and then
    cannot reach it). Ray reads the switch when it is imported, and looks it up where it decides."""
    from ray._private import ray_constants

    before = (ray_constants.ENABLE_RAY_CLUSTER, os.environ.get(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR))
    if wanted:
        ray_constants.ENABLE_RAY_CLUSTER = False
        os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"  # the processes a local cluster starts
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before[0]
        if before[1] is None:
            os.environ.pop(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, None)
        else:
            os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = before[1]

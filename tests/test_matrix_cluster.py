"""``otxgen matrix --executor ray`` on real multi-node Ray clusters on this machine's loopback address:
Ray's own ``ray.cluster_utils.Cluster`` (a head without CPUs and worker nodes of one CPU, each its own
raylet) and a head started with the ``ray start`` CLI. Cells land on several nodes and give the local
pool's records; a node removed mid-run costs no cell (its cells run again elsewhere, none twice, and
the run does not wait for the slot it took with it); a lost head stops the run, and the next run
resumes it. Every cell here is slowed by ``SLOW_SECONDS`` (the matrix's test hook), so that a node is
removed while it runs one."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from otxgen.app.cell import FAULTS_VARIABLE
from otxgen.cli import main
from otxgen.matrix.cells import Record
from otxgen.matrix.store import RecordStore

BACKBONES = ("torchvision.resnet18", "mmdet.ResNet", "pytorchcv.resnet10", "mmpretrain.MobileNetV2")
TEMPLATES = ("detection-atss-mobilenetv2", "classification-efficientnet-b0")
CELLS = len(BACKBONES) * len(TEMPLATES)
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # Ray's own address: 127.0.0.1, not the interface's
SLOW = {FAULTS_VARIABLE: ",".join(f"slow:{b}@{t}" for b in BACKBONES for t in TEMPLATES)}


def _args(out: Path, *more: str) -> list[str]:
    selection = [arg for b in BACKBONES for arg in ("--backbone", b)]
    selection += [arg for t in TEMPLATES for arg in ("--template", t)]
    return ["matrix", *selection, "--checks", "static,build,forward", "--out", str(out), *more]


def _matrix(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stderr


def _records(out: Path) -> dict[str, Record]:
    return RecordStore(out).load()


def _results(out: Path) -> dict[str, Record]:
    return {key: record.same_result() for key, record in _records(out).items()}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in the environment of the processes started inside (a cluster's raylets and their
    workers keep it), and gone afterwards."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _cluster(nodes: int, **node: int) -> Iterator[Any]:
    """A head without CPUs (no cell runs there) and ``nodes`` worker nodes of one CPU (or ``node``'s
    resources), on 127.0.0.1."""
    from ray.cluster_utils import Cluster

    with _environment({**LOOPBACK, **SLOW}):
        cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False},
        )
        for _ in range(nodes):
            cluster.add_node(node_ip_address="127.0.0.1", **(node or {"num_cpus": 1}))
    try:
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same cells on the local pool: what every executor must give."""
    out = tmp_path_factory.mktemp("local")
    code, stderr = _matrix(*_args(out, "--jobs", "2"))
    assert code == 0, stderr
    return out


def _watch(records: Path, until: Any, timeout: float = 180.0) -> list[Record]:
    """Wait until ``until(records so far)`` holds; the records then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(RecordStore(records.parent).load().values()) if records.is_file() else []
        if until(found):
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting on {records}")


def test_cells_land_on_several_nodes_and_give_the_local_pool_s_records(local_run: Path, tmp_path: Path) -> None:
    with _cluster(2) as cluster:
        code, stderr = _matrix(*_args(tmp_path, "--executor", "ray", "--address", cluster.address))
        worker_nodes = {node.node_id for node in cluster.worker_nodes}
    assert code == 0, stderr
    assert "on 2 ray workers" in stderr  # one per CPU of the cluster: the head has none
    records = _records(tmp_path)
    nodes = {record.node for record in records.values()}
    assert {node.partition("/")[2] for node in nodes} == worker_nodes, "each record says its node: both ran cells"
    assert all(node.startswith("127.0.0.1/") for node in nodes)
    assert _results(tmp_path) == _results(local_run)


def test_a_node_removed_mid_run_costs_no_cell_and_no_wait(local_run: Path, tmp_path: Path) -> None:
    """Three nodes, three workers; the third node is removed while it runs a cell: that cell runs again
    on the two left, the run completes with two workers (it asks for no third slot the cluster cannot
    give), and every cell is recorded once, as the local pool records it."""
    with _cluster(3) as cluster:
        victim = cluster.worker_nodes[-1] if isinstance(cluster.worker_nodes, list) else list(cluster.worker_nodes)[-1]
        records = tmp_path / "records.jsonl"

        def remove_while_it_runs() -> None:
            _watch(records, lambda found: any(victim.node_id in r.node for r in found))
            time.sleep(1.0)  # its next cell (slowed by the hook) has begun
            cluster.remove_node(victim)

        remover = threading.Thread(target=remove_while_it_runs, daemon=True)
        remover.start()
        start = time.monotonic()
        code, stderr = _matrix(*_args(tmp_path, "--executor", "ray", "--address", cluster.address))
        took = time.monotonic() - start
        remover.join(timeout=5)
    assert code == 0, stderr
    assert "the node running it died; it runs again" in stderr, stderr
    assert "run again because the node running them died" in stderr, stderr
    lines = records.read_text().splitlines()
    assert len(lines) == CELLS and len({json.loads(line)["key"] for line in lines}) == CELLS, "none lost, none twice"
    final = _records(tmp_path)
    assert all(record.outcome == "ok" for record in final.values()), "a lost node is not the backbone's crash"
    assert _results(tmp_path) == _results(local_run)
    assert took < 240, "the run did not wait for the lost node's slot"


def test_a_lost_head_stops_the_run_with_its_records_and_the_next_run_resumes(tmp_path: Path) -> None:
    """One worker, so that the cells left after the first take longer than the head's grace."""
    records = tmp_path / "records.jsonl"
    with _cluster(2) as cluster:
        ray = ("--executor", "ray", "--address", cluster.address, "--jobs", "1")
        command = [sys.executable, "-m", "otxgen.cli", *_args(tmp_path, *ray)]
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _watch(records, lambda found: len(found) >= 1)
        cluster.head_node.kill_all_processes(check_alive=False, allow_graceful=False)
        _, stderr = run.communicate(timeout=120)  # before Ray's own 60 s end of a driver without its head
    assert run.returncode == 1, stderr
    assert "has not answered for" in stderr and "the same command resumes" in stderr, stderr
    first = _records(tmp_path)
    assert 1 <= len(first) < CELLS and len(records.read_text().splitlines()) == len(first), "every line whole"
    code, stderr = _matrix(*_args(tmp_path, "--jobs", "2"))
    assert code == 0 and f"{len(first)} already recorded" in stderr and f"{CELLS - len(first)} to run" in stderr
    final = _records(tmp_path)
    assert len(final) == CELLS and all(final[key] == record for key, record in first.items())


def test_a_head_started_with_the_ray_cli_is_reached_by_address(tmp_path: Path) -> None:
    """``ray start --head`` as its own process (the real CLI, blocking), reached at 127.0.0.1:PORT with
    the token it asks for (Ray's default; without it, exit 2 and what to set); the head stops when its
    process is ended."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray = Path(sys.executable).with_name("ray")
    command = [str(ray), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", f"--port={port}"]
    command += ["--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    head = subprocess.Popen(command, env={**os.environ, **LOOPBACK}, start_new_session=True, **quiet)
    try:
        _wait_for_port(port)
        address = ("--executor", "ray", "--address", f"127.0.0.1:{port}")
        without = _cli(*_args(tmp_path / "without", *address), RAY_AUTH_MODE="disabled")
        assert without.returncode == 2, without.stderr
        assert f"127.0.0.1:{port}: cannot connect to the Ray cluster" in without.stderr
        assert "set RAY_AUTH_MODE=token" in without.stderr
        run = _cli(*_args(tmp_path, *address), RAY_AUTH_MODE="token")
        assert run.returncode == 0 and "on 2 ray workers" in run.stderr, run.stderr
        records = _records(tmp_path)
        assert len(records) == CELLS
        assert all(r.outcome == "ok" and r.node.startswith("127.0.0.1/") for r in records.values())
    finally:
        head.terminate()
        head.wait(timeout=60)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def _cli(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """otxgen in its own process: Ray keeps its authentication mode for the life of a process."""
    command = [sys.executable, "-m", "otxgen.cli", *args]
    env = {**os.environ, **environment}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        time.sleep(0.2)
    raise AssertionError(f"ray start --head did not listen on {port}")


def test_ray_gives_each_cell_s_worker_its_share_of_a_gpu(tmp_path: Path) -> None:
    """No GPU here: the nodes declare GPUs as Ray resources, which Ray places and hands out exactly as it
    does real ones (``CUDA_VISIBLE_DEVICES``). One node of 4 CPUs and 2 GPUs, one of 2 CPUs and none:
    at half a GPU a cell, 4 workers, all on the GPU node, two on each GPU; the workers see no CUDA
    device, so ``auto`` runs the models on the CPU and says so."""
    from ray.cluster_utils import Cluster

    with _environment(LOOPBACK):
        cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False},
        )
        gpu_node = cluster.add_node(num_cpus=4, num_gpus=2, node_ip_address="127.0.0.1")
        cluster.add_node(num_cpus=2, num_gpus=0, node_ip_address="127.0.0.1")
    try:
        ray = ("--executor", "ray", "--address", cluster.address)
        code, stderr = _matrix(*_args(tmp_path, *ray, "--device", "auto", "--gpu-share", "0.5"))
        too_much = _matrix(*_args(tmp_path / "more", *ray, "--device", "cuda", "--gpu-share", "3"))
        no_cuda = _matrix(*_args(tmp_path / "cuda", *ray, "--device", "cuda", "--gpu-share", "0.5"))
    finally:
        cluster.shutdown()
    assert no_cuda[0] == 2 and f"on Ray node 127.0.0.1/{gpu_node.node_id}: a matrix worker did not start" in no_cuda[1]
    assert "no CUDA device is available here" in no_cuda[1] and "Traceback" not in no_cuda[1], no_cuda[1]
    assert too_much[0] == 2 and "--gpu-share 3: no node of the Ray cluster has that many GPUs" in too_much[1]
    assert code == 0, stderr
    assert "on 4 ray workers" in stderr, "2 GPUs at half a GPU a worker, though the CPUs are 6"
    records = _records(tmp_path).values()
    assert {record.node.partition("/")[2] for record in records} == {gpu_node.node_id}
    assert {record.gpus for record in records} == {"0", "1"}
    assert {(record.device, record.outcome) for record in records} == {("cpu", "ok")}


def test_cuda_asked_of_a_cluster_or_a_machine_without_gpus_is_a_usage_error(tmp_path: Path) -> None:
    code, stderr = _matrix(*_args(tmp_path, "--executor", "ray", "--jobs", "1", "--device", "cuda"))
    assert code == 2 and "--device cuda: the Ray cluster has no GPU" in stderr, stderr
    code, stderr = _matrix(*_args(tmp_path, "--device", "cuda"))
    assert code == 2 and "--device cuda: no CUDA device is visible here" in stderr, stderr


def test_the_local_pool_runs_one_worker_a_visible_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mocked: this machine has no GPU, so torch is told it sees two; each worker is then given one of
    them alone, and (seeing no CUDA device itself) runs its models on the CPU under ``auto``."""
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    code, stderr = _matrix(*_args(tmp_path, "--device", "auto"))
    assert code == 0 and "on 2 local workers" in stderr, stderr
    records = _records(tmp_path).values()
    assert {record.gpus for record in records} == {"0", "1"}
    assert {(record.device, record.outcome) for record in records} == {("cpu", "ok")}


def test_a_cluster_left_without_cpus_says_it_waits_then_stops(
    local_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its only worker node removed after the first record: the run says it waits for a node, stops after
    the wait (shortened here from 120 s) with the records it has, counts no cell as run again that did
    not, and the next run completes the rest."""
    from otxgen.matrix import executors

    monkeypatch.setattr(executors, "NO_CPU_SECONDS", 5.0)
    records = tmp_path / "records.jsonl"
    with _cluster(1) as cluster:
        (only,) = cluster.worker_nodes

        def remove_after_the_first() -> None:
            _watch(records, lambda found: len(found) >= 1)
            cluster.remove_node(only)

        remover = threading.Thread(target=remove_after_the_first, daemon=True)
        remover.start()
        code, stderr = _matrix(*_args(tmp_path, "--executor", "ray", "--address", cluster.address))
        remover.join(timeout=5)
    assert code == 1, stderr
    assert "[!] The Ray cluster has no CPU left for a cell: waiting up to 5 s for a node" in stderr
    assert "The run stopped: the Ray cluster has had no CPU for a cell for 5 s" in stderr
    assert "run again because" not in stderr, "the lost cell did not run again"
    done = _records(tmp_path)
    assert 1 <= len(done) < CELLS and all(record.outcome == "ok" for record in done.values())
    code, stderr = _matrix(*_args(tmp_path, "--jobs", "2"))
    assert code == 0 and _results(tmp_path) == _results(local_run), stderr


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("foo", "give the head's HOST:PORT"),
        ("127.0.0.1:notaport", "give the head's HOST:PORT"),
        ("http://x", "Ray Client addresses are not used here"),
        ("127.0.0.1:1", "127.0.0.1:1: cannot reach the Ray cluster's head"),
    ],
)
def test_an_address_that_is_not_a_head_is_refused_at_once(address: str, says: str, tmp_path: Path) -> None:
    start = time.monotonic()
    code, stderr = _matrix(*_args(tmp_path / "out", "--executor", "ray", "--address", address))
    assert code == 2 and says in stderr, stderr
    assert time.monotonic() - start < 30 and not (tmp_path / "out").exists(), "refused before anything starts"


def test_auto_is_the_head_ray_finds_here_and_is_checked_as_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--address auto`` is what Ray finds (``RAY_ADDRESS``, else the last ``ray start`` here): a head
    that does not answer, or none at all, is refused before the out folder exists."""
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    code, stderr = _matrix(*_args(tmp_path / "out", "--executor", "ray", "--address", "auto"))
    assert code == 2 and "127.0.0.1:1: cannot reach the Ray cluster's head" in stderr, stderr
    monkeypatch.delenv("RAY_ADDRESS")
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "ray"))  # where Ray looks for the last `ray start`
    code, stderr = _matrix(*_args(tmp_path / "out", "--executor", "ray", "--address", "auto"))
    assert code == 2 and "--address auto: Could not find any running Ray instance" in stderr, stderr
    assert not (tmp_path / "out").exists(), "refused before anything starts"


def test_gpu_shares_that_cannot_be_are_usage_errors(tmp_path: Path) -> None:
    code, stderr = _matrix(*_args(tmp_path, "--executor", "ray", "--gpu-share", "1.5"))
    assert code == 2 and "a whole number of them" in stderr, stderr
    code, stderr = _matrix(*_args(tmp_path, "--gpu-share", "0.5"))
    assert code == 2 and "--gpu-share goes with --executor ray" in stderr, stderr


def test_a_port_where_something_else_listens_is_refused_at_once(tmp_path: Path) -> None:
    """An HTTP server where the head should be: Ray would retry it for minutes; otxgen says what answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        code, stderr = _matrix(*_args(tmp_path / "out", "--executor", "ray", "--address", f"127.0.0.1:{port}"))
    finally:
        server.kill()
        server.wait()
    assert code == 2 and "what listens there is not a Ray head (it answers" in stderr, stderr
    assert not (tmp_path / "out").exists()

"""The corpus and its originals: which configs are walked, in which order, and which enter the sample.

The corpus is the configs shipped in ``<pkg>/.mim/configs`` of mmdet, mmseg and mmpretrain (no
``_base_`` files). Each library's tree is copied once per run into a work folder (never write inside
site-packages); the copies keep their ``_base_`` relative paths. The paths are sorted, shuffled with
``random.Random(seed)`` and walked in that order: a config enters the sample only when its original
model loads, builds with the library's registry and runs a tensor-mode forward within 30 s, and is a
plain single-backbone model.

Loading, building and forwarding import torch and mm*: only the child interpreter (``corpus.run``)
calls them, and never ``init_weights()`` (so no ``Pretrained`` checkpoint is fetched).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import importlib
import importlib.util
import logging
import random
import shutil
import signal
import socket
import traceback
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LIBRARIES = ("mmdet", "mmseg", "mmpretrain")
ORIGINAL_LIMIT_S = 30.0
# Keys of a model dict that hold other models: semi-supervised (detector), distillation (teacher_*,
# student, architecture), tracking/video (detector). Such a model is not a plain single-backbone one.
WRAPPER_KEYS = ("detector", "teacher", "student", "teacher_config", "teacher_ckpt", "architecture", "segmentor")


class TimeLimitError(BaseException):
    """A BaseException: the libraries' broad ``except Exception`` must not swallow the time limit."""


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text[:240]}"


def raised_at(error: BaseException) -> str:
    """Where ``error`` was raised, from the package down (``mmdet/models/necks/ssd_neck.py:63``): a bare
    ``AssertionError`` says nothing else."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return ""
    path = Path(frames[-1].filename)
    parts = path.relative_to(REPO).parts if path.is_relative_to(REPO) else path.parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    return f" (at {'/'.join(parts)}:{frames[-1].lineno})"


# --- the corpus ---------------------------------------------------------------------------------


def package_configs(library: str) -> Path:
    spec = importlib.util.find_spec(library)  # finds the package without importing it
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{library} is not installed")
    return Path(spec.origin).parent / ".mim" / "configs"


def copy_configs(library: str, work: Path) -> Path:
    """The library's whole configs tree, copied once per run (a resumed child reuses it)."""
    root = work / library / "configs"
    if not root.is_dir():
        shutil.copytree(package_configs(library), root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def corpus_paths(root: Path) -> list[str]:
    paths = (path.relative_to(root) for path in root.rglob("*.py"))
    return sorted(path.as_posix() for path in paths if "_base_" not in path.parts)


def walk_order(paths: Sequence[str], seed: int) -> list[str]:
    order = sorted(paths)
    random.Random(seed).shuffle(order)
    return order


# --- loading, building, forwarding (the child only: these import torch and mm*) -------------------


def quiet() -> None:
    """One thread (two cores, one heavy process at a time) and none of the libraries' noise."""
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)


def forbid_network() -> None:
    """Refuse every internet connection: a constructor that fetches weights fails instead of downloading."""
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"network disabled by the corpus harness (connect to {address})")
        connect(self, address)

    socket.socket.connect = guarded  # type: ignore[method-assign,assignment]


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise TimeLimitError(f"over {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load_config(path: Path) -> Any:
    from mmengine.config import Config

    return Config.fromfile(str(path))


def exclusion(library: str, model: object) -> str | None:
    """Why a loaded ``model`` is not a plain single-backbone model of ``library``, or None."""
    if not isinstance(model, dict):
        return "no model dict"
    if library == "mmpretrain" and model.get("type") != "ImageClassifier":
        return f"model type {model.get('type')} is not ImageClassifier"
    wrapped = [key for key in model if key in WRAPPER_KEYS or (key != "backbone" and "backbone" in key)]
    if wrapped:
        return f"model {model.get('type')} wraps other models ({', '.join(wrapped)})"
    if not isinstance(model.get("backbone"), dict):
        return "no model.backbone dict"
    return None


def square(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1] and isinstance(value[0], int):
        return value[0]
    return None


def test_pipeline(cfg: Any) -> list[Any]:
    dataset = (cfg.get("test_dataloader") or {}).get("dataset") or {}
    while isinstance(dataset.get("dataset"), dict):  # dataset wrappers (ConcatDataset, RepeatDataset)
        dataset = dataset["dataset"]
    return list(dataset.get("pipeline") or cfg.get("test_pipeline") or [])


def pipeline_size(cfg: Any) -> int | None:
    """The square size the test pipeline fixes: a ``CenterCrop``, or a ``Resize`` that ignores the aspect
    ratio (SSD300's 300x300, which 256 would not survive)."""
    for step in test_pipeline(cfg):
        if not isinstance(step, dict):
            continue
        if step.get("type") == "CenterCrop":
            return square(step.get("crop_size"))
        if step.get("type") == "Resize" and not step.get("keep_ratio", False):  # mmcv's default: False
            return square(step.get("scale"))
    return None


def input_size(library: str, cfg: Any) -> int:
    """224 for classification, 256 otherwise, unless the backbone or the test pipeline fixes another size."""
    fixed = square(cfg.model.backbone.get("img_size")) or pipeline_size(cfg)
    return fixed or (224 if library == "mmpretrain" else 256)


def data_samples(library: str, size: int) -> list[Any] | None:
    """One sample with the image meta that detection and segmentation heads read in tensor mode."""
    meta = {
        "img_shape": (size, size),
        "ori_shape": (size, size),
        "pad_shape": (size, size),
        "batch_input_shape": (size, size),
        "scale_factor": (1.0, 1.0),
    }
    if library == "mmdet":
        from mmdet.structures import DetDataSample

        return [DetDataSample(metainfo=meta)]
    if library == "mmseg":
        from mmseg.structures import SegDataSample

        return [SegDataSample(metainfo=meta)]
    return None  # an ImageClassifier's tensor mode reads no data samples


def build_and_forward(library: str, cfg: Any, size: int, limit: float) -> None:
    """The whole model from the library's registry, then one tensor-mode forward; never init_weights().
    Then the config's optimizer over it, as training builds it first (as a plain OptimWrapper: AMP's
    needs a GPU; the parameter groups are the same)."""
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    init_default_scope(library)
    registry = importlib.import_module(f"{library}.registry").MODELS
    with time_limit(limit):
        model = registry.build(copy.deepcopy(cfg.model))
        model.eval()
        with torch.no_grad():
            model(torch.rand(1, 3, size, size), data_samples(library, size), mode="tensor")
        wrapper = cfg.get("optim_wrapper")
        if wrapper is not None:
            amp_only = ("loss_scale", "dtype", "use_fsdp")
            plain = {key: value for key, value in copy.deepcopy(dict(wrapper)).items() if key not in amp_only}
            build_optim_wrapper(model, {**plain, "type": "OptimWrapper"})
    del model
    gc.collect()


@dataclass(frozen=True)
class Original:
    backbone: dict[str, Any]
    size: int


def check_original(library: str, path: Path) -> Original | str:
    """The original, loaded, classified, built and run; or why it is excluded."""
    try:
        cfg = load_config(path)
    except Exception as error:  # noqa: BLE001 - any failure of a config we did not write excludes it
        return f"original does not load: {one_line(error)}"
    reason = exclusion(library, cfg.get("model"))
    if reason is not None:
        return reason
    size = input_size(library, cfg)
    try:
        build_and_forward(library, cfg, size, ORIGINAL_LIMIT_S)
    except TimeLimitError:
        return f"original takes over {ORIGINAL_LIMIT_S:.0f} s to build and forward"
    except Exception as error:  # noqa: BLE001 - as above
        return f"original does not build or forward at {size}x{size}: {one_line(error)}{raised_at(error)}"
    return Original(dict(cfg.model.backbone), size)

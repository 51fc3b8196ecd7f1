"""Frozen options objects: the CLI parses into these and passes them explicitly to ``otxgen.app``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FindBackboneOptions:
    libraries: tuple[str, ...]  # canonical names; empty means all
    task: str | None = None
    output_format: str = "table"
    sort: str | None = None  # params | flops | top1: every arch option a row, best first
    weights_only: bool = False  # only arch options with a published checkpoint
    verified_only: bool = False  # only backbones the committed matrix verified in the task's template
    deployable_only: bool = False  # only backbones the committed deployment matrix exported in it


@dataclass(frozen=True)
class FindTemplateOptions:
    task: str | None = None
    output_format: str = "table"


@dataclass(frozen=True)
class BuildTaskOptions:
    task: str
    template: str | None = None
    workspace: Path | None = None


@dataclass(frozen=True)
class BuildBackboneOptions:
    backbone: str  # LIB.Name or a path to backbone.yaml
    overrides: tuple[tuple[str, str], ...] = ()  # --set KEY=VALUE, in order
    workspace: Path | None = None
    models: tuple[Path, ...] = ()
    mode: str = "write"  # write | diff | check
    smoke: bool = True
    target: str | None = None  # dotted path of the backbone in a config with several models
    # Where build --backbone TYPE records the backbone: None for the default (a workspace's backbone.yaml;
    # none for --model), a path given with --backbone-yaml, or nowhere (--no-backbone-yaml).
    backbone_yaml: Path | None = None
    no_backbone_yaml: bool = False
    export: str | None = None  # passed to the smoke-build: openvino | onnx
    weights: str = "auto"  # auto | none | a URL | a checkpoint file (see otxgen.app.weights)


@dataclass(frozen=True)
class SchemaExportOptions:
    libraries: tuple[str, ...]
    out: Path | None = None
    check: bool = False


@dataclass(frozen=True)
class ValidateOptions:
    paths: tuple[Path, ...]
    output_format: str = "text"  # text | json | github


@dataclass(frozen=True)
class SmokeOptions:
    model: Path | None = None
    device: str = "auto"  # auto | cpu | cuda | meta
    input_size: int | None = None
    train_step: bool = False
    output_format: str = "table"
    export: str | None = None  # openvino | onnx
    weights_check: str | None = None  # "" checks the backbone's own init_cfg checkpoint; else a file
    backbone_dtype: str = "float32"  # bfloat16: the backbone built and run in it, the rest in float32


@dataclass(frozen=True)
class MatrixOptions:
    backbones: tuple[str, ...] = ()  # LIB or TYPE selectors; empty means every listed backbone
    templates: tuple[str, ...] = ()  # ID or ID:CHECKS; empty means every template
    checks: tuple[str, ...] = ("static", "build", "forward", "train")
    all_options: bool = False  # every combination of the required arguments' options, not only the first
    executor: str = "local"  # local | ray
    jobs: int | None = None  # workers; default: the cores here (local), the cluster's CPUs (ray)
    address: str | None = None  # ray: "auto" or a head node; None starts a local Ray cluster
    out: Path = Path("otxgen-matrix")
    time_limit: float = 300.0  # seconds per cell
    memory_limit_gib: float = 6.0  # per cell, on top of the worker's imports
    max_minutes: float | None = None  # start no cell after this long; the rest stays missing
    seed: tuple[Path, ...] = ()  # committed matrices whose cells count as recorded where they hold the same work
    rerun: tuple[str, ...] = ()  # LIB, TYPE or OUTCOME selectors: recompute these cells though recorded
    device: str = "cpu"  # cpu | cuda | auto: the torch device of the cells' models
    gpu_share: float = 1.0  # ray: the share of a GPU each cell's worker asks for

"""Command line: parse options into frozen objects, call one ``otxgen.app`` function, and turn errors
into messages and exit codes in one place (``_run``)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from pathlib import Path

import click

from otxgen import __version__
from otxgen.app import Outcome
from otxgen.errors import OtxgenError
from otxgen.libraries import TASKS, resolve_library
from otxgen.options import (
    BuildBackboneOptions,
    BuildTaskOptions,
    FindBackboneOptions,
    FindTemplateOptions,
    MatrixOptions,
    SchemaExportOptions,
    SmokeOptions,
    ValidateOptions,
)

EXIT_CODES_HELP = """\b
Exit codes: 0 done or unchanged; 1 findings, would change, needs input, shape mismatch;
2 usage error or unreadable/invalid input; 3 internal error (traceback with --verbose)."""


def _say(message: str) -> None:
    click.echo(message, err=True)


def _run(ctx: click.Context, call: Callable[[], Outcome]) -> None:
    """The one place that maps outcomes and errors to output and exit codes."""
    try:
        outcome = call()
    except OtxgenError as error:
        click.echo(f"otxgen: error: {error}", err=True)
        ctx.exit(error.exit_code)
    except Exception as error:  # noqa: BLE001 - the last line of defence: exit 3, not a traceback
        if ctx.find_root().params.get("verbose"):
            import traceback

            traceback.print_exc()
        click.echo(f"otxgen: internal error: {type(error).__name__}: {error}", err=True)
        ctx.exit(3)
    if outcome.stdout:
        click.echo(outcome.stdout, nl=not outcome.stdout.endswith("\n"))
    ctx.exit(outcome.exit_code)


def _libraries(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(resolve_library(n) for n in names))


@click.group(epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="otxgen")
@click.option("--verbose", is_flag=True, help="Print a traceback on internal errors.")
def main(verbose: bool) -> None:
    """Swap the backbone of an OpenMMLab model config, keeping every comment outside what changes.

    Static commands (find, validate, build --backbone with a known channel table) never execute
    your config and never import torch. Only `smoke` (and `build` unless --no-smoke) executes it.
    """


@main.command(epilog=EXIT_CODES_HELP)
@click.option("--backbone", "backbone_libs", is_flag=True, help="List backbones (default).")
@click.option("--template", is_flag=True, help="List workspace templates instead of backbones.")
@click.option("--task", type=click.Choice(TASKS), help="Keep what serves this task.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table")
@click.option(
    "--sort",
    type=click.Choice(["params", "flops", "top1"]),
    help="Every arch option as its own row, best first (highest ImageNet top-1, fewest parameters or GFLOPs).",
)
@click.option("--weights-only", is_flag=True, help="Keep the arch options with a published ImageNet checkpoint.")
@click.option(
    "--verified-only",
    is_flag=True,
    help="With --task: keep the backbones the committed matrix verified (static, build, forward) in the "
    "task's default template (the Verified column).",
)
@click.option(
    "--deployable-only",
    is_flag=True,
    help="With --task: keep the backbones the committed deployment matrix exported to OpenVINO, compiled and "
    "matched with PyTorch in the task's default template (the Deploys column).",
)
@click.argument("libraries", nargs=-1, metavar="[LIB ...]")
@click.pass_context
def find(
    ctx: click.Context,
    backbone_libs: bool,
    template: bool,
    task: str | None,
    output_format: str,
    sort: str | None,
    weights_only: bool,
    verified_only: bool,
    deployable_only: bool,
    libraries: tuple[str, ...],
) -> None:
    """List backbones with their required arguments and options, or templates.

    LIB is mmdet, mmseg, mmpretrain (aliases mmcls, omz.mmcls), torchvision, pytorchcv or timm.
    Reads the committed schemas: imports no torch. Per arch option: parameters (millions) and GFLOPs
    (multiply-adds at 224x224) as the library publishes them, else measured (marked *); ImageNet-1k
    top-1 of its best published checkpoint; how many checkpoints are published (see --format json).
    With --task: Verified (the committed matrix: builds and runs in the task's default template) and,
    for classification and detection, Deploys (yes, or where the OpenVINO export failed: conversion,
    compile, mismatch; "-" does not build, "?" not measured yet).
    """
    from otxgen.app import find as app

    if template and (backbone_libs or libraries):
        given = "--backbone" if backbone_libs else f"LIB ({' '.join(libraries)})"
        raise click.UsageError(f"--template and {given} exclude each other: list templates or backbones")
    if template and (sort or weights_only or verified_only or deployable_only):
        raise click.UsageError(
            "--sort, --weights-only, --verified-only and --deployable-only list backbones: they exclude --template"
        )
    if template:
        _run(ctx, lambda: app.find_templates(FindTemplateOptions(task, output_format), _say))
        return
    _run(
        ctx,
        lambda: app.find_backbones(
            FindBackboneOptions(
                _libraries(libraries), task, output_format, sort, weights_only, verified_only, deployable_only
            ),
            _say,
        ),
    )


@main.command(epilog=EXIT_CODES_HELP)
@click.option("--task", type=click.Choice(TASKS), help="Create a workspace for this task.")
@click.option("--template", "template_id", metavar="ID", help="Template to start from (see 'find --template').")
@click.option("--workspace", type=click.Path(path_type=Path), help="Workspace folder (default: the current one).")
@click.option("--backbone", metavar="TYPE|FILE.yaml", help="Backbone to put in: LIB.Name or a backbone.yaml.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Backbone argument: a YAML value (out_indices=[1,2,3]), or a Python tuple ((1,2,3)).",
)
@click.option("--model", "models", multiple=True, type=click.Path(path_type=Path), help="Model config to rewrite.")
@click.option("--target", metavar="PATH", help="Dotted path of the backbone when a config has several models.")
@click.option("--diff", is_flag=True, help="Print a unified diff; write nothing and execute nothing (no smoke-build).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if anything would change.")
@click.option("--no-smoke", is_flag=True, help="Skip the smoke-build (which executes the rewritten config).")
@click.option(
    "--export",
    type=click.Choice(["openvino", "onnx"]),
    help="Let the smoke-build also export the swapped model and compare it with PyTorch (see 'smoke --help').",
)
@click.option(
    "--weights",
    default="auto",
    show_default=True,
    metavar="auto|none|URL|PATH",
    help="The new backbone's checkpoint: auto picks its library's ImageNet checkpoint for this arch (best "
    "top-1) and sets the data preprocessor's mean/std/channel order to match; none trains from scratch. "
    "otxgen downloads nothing: mmengine loads it when the model is initialised.",
)
@click.option(
    "--backbone-yaml",
    "backbone_yaml",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="PATH",
    help="With --backbone TYPE: also record the backbone in this backbone.yaml (by default a workspace's "
    "backbone.yaml is written, and none for --model).",
)
@click.option(
    "--no-backbone-yaml",
    is_flag=True,
    help="With --backbone TYPE in a workspace: leave its backbone.yaml as it is.",
)
@click.argument("more_backbones", nargs=-1, type=click.Path(path_type=Path), metavar="[FILE.yaml ...]")
@click.pass_context
def build(
    ctx: click.Context,
    task: str | None,
    template_id: str | None,
    workspace: Path | None,
    backbone: str | None,
    overrides: tuple[str, ...],
    models: tuple[Path, ...],
    target: str | None,
    diff: bool,
    check: bool,
    no_smoke: bool,
    export: str | None,
    weights: str,
    backbone_yaml: Path | None,
    no_backbone_yaml: bool,
    more_backbones: tuple[Path, ...],
) -> None:
    """Create a workspace (--task) or swap the backbone of model configs (--backbone).

    \b
    otxgen build --task detection              # writes otx-workspace-DETECTION/
    otxgen build --backbone mmdet.RegNet       # inside a workspace: writes backbone.yaml, rewrites model*.py
    otxgen build --backbone backbone.yaml --model configs/my_model.py --diff
    otxgen build --check --backbone ws1/backbone.yaml ws2/backbone.yaml   # each against its own workspace

    Only the backbone, the neck/head in_channels and custom_imports change; every comment elsewhere
    stays. Unless you set out_indices, the new backbone keeps the output strides the config's neck and
    heads were built for (a dilated backbone's finer maps are not: a [!] line says so). Configs are
    parsed, never executed, except by the final smoke-build. Writes are atomic; to get a file back use
    your VCS, or keep the output of --diff (docs/writes.md, "getting a file back").
    """

    from otxgen.app import build as app

    if (task is None) == (backbone is None):
        raise click.UsageError("give exactly one of --task or --backbone")
    if diff and check:
        raise click.UsageError("--diff and --check exclude each other: --diff prints the change, --check only says")
    backbone_only = diff or check or no_backbone_yaml or backbone_yaml is not None
    _refuse_options_of_the_other_form(task, template_id, overrides, models, target, backbone_only)
    mode = "diff" if diff else "check" if check else None
    if export and (no_smoke or mode or task):
        raise click.UsageError(
            "--export runs in the smoke-build of --backbone: it excludes --no-smoke, --diff, --check"
        )
    if task is not None:
        _run(ctx, lambda: app.build_task(BuildTaskOptions(task, template_id, workspace), _say))
        return
    assert backbone is not None
    if more_backbones and (task or overrides or models or workspace):
        raise click.UsageError("several backbone files go with none of --set, --model, --workspace")
    parsed = tuple(_key_value(item) for item in overrides)
    runs = [
        BuildBackboneOptions(
            backbone=name,
            overrides=parsed,
            workspace=workspace or _home_workspace(name, models),
            models=models,
            mode=mode or "write",
            smoke=not no_smoke and mode is None,
            target=target,
            backbone_yaml=backbone_yaml,
            no_backbone_yaml=no_backbone_yaml,
            export=export,
            weights=weights,
        )
        for name in (backbone, *map(str, more_backbones))
    ]
    _run(ctx, lambda: _worst(app.build_backbone(options, _say) for options in runs))


def _refuse_options_of_the_other_form(
    task: str | None,
    template_id: str | None,
    overrides: tuple[str, ...],
    models: tuple[Path, ...],
    target: str | None,
    backbone_only: bool,
) -> None:
    """An option that the chosen form ignores is a usage error, not silently dropped."""
    if task is None:
        if template_id is not None:
            raise click.UsageError("--template goes with --task (it picks a workspace template), not --backbone")
        return
    given = [name for name, value in (("--set", overrides), ("--model", models), ("--target", target)) if value]
    given += ["--diff/--check/--backbone-yaml/--no-backbone-yaml"] if backbone_only else []
    if given:
        raise click.UsageError(f"{', '.join(given)} go with --backbone, not --task")


def _home_workspace(backbone: str, models: tuple[Path, ...]) -> Path | None:
    """A backbone.yaml inside a workspace targets that workspace (pre-commit passes repo-relative paths)."""
    folder = Path(backbone).parent
    is_workspace_file = backbone.endswith((".yaml", ".yml")) and (folder / "template.yaml").is_file()
    return folder if is_workspace_file and not models and folder != Path() else None


def _worst(outcomes: Iterable[Outcome]) -> Outcome:
    """Several runs of one command as one outcome: their outputs joined, the highest exit code."""
    done = list(outcomes)
    return Outcome("".join(o.stdout for o in done), max(o.exit_code for o in done))


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
    return key.strip(), value.strip()


@main.group()
def schema() -> None:
    """Backbone JSON Schemas (generated from the live libraries)."""


@schema.command("export", epilog=EXIT_CODES_HELP)
@click.argument("libraries", nargs=-1, metavar="[LIB ...]")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Default: the package's schemas/.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 and name the files that would change.")
@click.pass_context
def schema_export(ctx: click.Context, libraries: tuple[str, ...], out: Path | None, check: bool) -> None:
    """Extract backbone signatures into schemas/<lib>/<Name>.json and schemas/index.json.

    Imports torch and the libraries (needs the [mm] extra).
    """
    from otxgen.app import schema_export as app

    _run(ctx, lambda: app.export(SchemaExportOptions(_libraries(libraries), out, check), _say))


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output-format", type=click.Choice(["text", "json", "github"]), default="text")
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...], output_format: str) -> None:
    """Validate backbone.yaml files and model configs against the backbone schemas.

    Model configs are parsed, never executed; imports neither torch nor any mm* package.
    """
    from otxgen.app import validate as app

    _run(ctx, lambda: app.validate(ValidateOptions(paths, output_format), _say))


@main.command(epilog=EXIT_CODES_HELP)
@click.option(
    "--tcp",
    type=click.IntRange(1, 65535),
    default=None,
    metavar="PORT",
    help="Serve on 127.0.0.1:PORT instead of stdin/stdout.",
)
@click.pass_context
def lsp(ctx: click.Context, tcp: int | None) -> None:
    """Serve otxgen's checks, catalog and swap to an editor over the Language Server Protocol.

    Diagnostics (validate's findings on the unsaved text), hover and completion of backbone types and
    arguments, quick fixes for channel findings, and "Swap backbone to ..." (the edit of build --backbone
    TYPE --diff). Needs the [lsp] extra; never executes a config, never imports torch. Editor set-up:
    docs/editor.md.
    """
    from otxgen.app import lsp as app

    _run(ctx, lambda: app.serve(tcp, _say))


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("model", required=False, type=click.Path(path_type=Path))
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "meta"]),
    default="auto",
    help="auto: cuda when available, else cpu.",
)
@click.option(
    "--input-size",
    type=click.IntRange(min=16),
    help="Side of the dummy input (default: the config's own crop for a classifier or segmentor, "
    "else the backbone's img_size, 224 for classifiers and transformers, 256 otherwise).",
)
@click.option("--train-step", is_flag=True, help="Also run one forward+backward+optimizer step.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table")
@click.option(
    "--export",
    type=click.Choice(["openvino", "onnx"]),
    help="Also export the model's tensor-mode graph (CPU, f32) and compare it with PyTorch: error, size, latency.",
)
@click.option(
    "--weights-check",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[PATH]",
    help="Load a local checkpoint (PATH, or the backbone's init_cfg checkpoint) as mmengine will and count the "
    "missing, unexpected and mismatched keys; exit 1 when a backbone parameter would stay uninitialised.",
)
@click.option(
    "--backbone-dtype",
    type=click.Choice(["float32", "bfloat16"]),
    default="float32",
    show_default=True,
    help="bfloat16: build and run the backbone in it, and the rest of the model in float32, for a backbone "
    "whose float32 weights do not fit in memory (a 7B ViT on a CPU machine takes 28 GiB in float32, 14 in bfloat16).",
)
@click.pass_context
def smoke(
    ctx: click.Context,
    model: Path | None,
    device: str,
    input_size: int | None,
    train_step: bool,
    output_format: str,
    export: str | None,
    weights_check: str | None,
    backbone_dtype: str,
) -> None:
    """Build the whole model and check that the backbone's feature maps fit the neck.

    WARNING: this EXECUTES the config (mmengine.Config.fromfile); run it only on configs you trust.
    MODEL defaults to the workspace's model.py. --export openvino needs the [export] extra, --export onnx
    onnxruntime (the [export-onnx] extra); an export that fails or differs from PyTorch by more than
    1e-4 + 1e-3 x the output's largest value exits 1.
    """
    from otxgen.app import smoke as app

    options = SmokeOptions(model, device, input_size, train_step, output_format, export, weights_check, backbone_dtype)
    _run(ctx, lambda: app.smoke(options, _say))


@main.command(epilog=EXIT_CODES_HELP)
@click.option(
    "--backbone", "backbones", multiple=True, metavar="LIB|TYPE", help="Backbones (default: every listed one)."
)
@click.option("--template", "templates", multiple=True, metavar="ID[:CHECKS]", help="Templates (default: all 7).")
@click.option(
    "--checks", default="static,build,forward,train", show_default=True, help="static,build,forward,train,export"
)
@click.option("--all-options", is_flag=True, help="Every option of the required arguments, not only the first.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), help="Workers (default: the cores here; ray: the cluster's CPUs).")
@click.option("--address", metavar="ADDR", help="Ray: 'auto' or a head node (default: a local Ray cluster).")
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda", "auto"]),
    default="cpu",
    show_default=True,
    help="Where the cells' models run; auto: CUDA where a worker sees a GPU. Local: one worker a visible GPU.",
)
@click.option(
    "--gpu-share",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Ray: the share of a GPU each cell's worker asks for (0.5: two a GPU).",
)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default="otxgen-matrix", show_default=True)
@click.option("--time-limit", type=click.FloatRange(min=1), default=300, show_default=True, help="Seconds per cell.")
@click.option("--memory-limit", type=click.FloatRange(min=0.1), default=6, show_default=True, help="GiB per cell.")
@click.option("--max-minutes", type=click.FloatRange(min=0), help="Start no cell after this long (0: report only).")
@click.option(
    "--seed",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A committed matrix (verified.json, deploys.json; again for more, the first answers first): its cells "
    "count as recorded where the same work would be done again (same arguments, template files, checks and "
    "versions), or where they imply the result (fewer checks, one of them failed). A seeded hang or out of "
    "memory stands as found under that run's limits: add --rerun hang or --rerun out-of-memory to try it "
    "again under this run's --time-limit and --memory-limit.",
)
@click.option(
    "--rerun",
    multiple=True,
    metavar="LIB|TYPE|OUTCOME",
    help="Compute these recorded cells again (e.g. after a fix in otxgen, whose code is not in the key): "
    "a library, a type, or an outcome (failed, hang, crash, out-of-memory, needs-input).",
)
@click.pass_context
def matrix(
    ctx: click.Context,
    backbones: tuple[str, ...],
    templates: tuple[str, ...],
    checks: str,
    all_options: bool,
    executor: str,
    jobs: int | None,
    address: str | None,
    device: str,
    gpu_share: float,
    out: Path,
    time_limit: float,
    memory_limit: float,
    max_minutes: float | None,
    seed: tuple[Path, ...],
    rerun: tuple[str, ...],
) -> None:
    """Verify which backbones work in which templates: one cell per backbone x template.

    \b
    otxgen matrix --backbone torchvision --template detection-atss-mobilenetv2 --checks static,build,forward
    otxgen matrix --template detection-retinanet-r50:static --executor ray --address auto

    A cell swaps the backbone (its default arch: required arguments at their first option) into a fresh
    copy of the template and checks, in order: static (build's plan and validate), then in a worker
    process build (the whole model; the backbone's outputs fit), forward, train (one step), export
    (OpenVINO). Each cell runs under --time-limit and --memory-limit; a hang, crash or exhausted memory is
    recorded as such. Records go to OUT/records.jsonl as cells finish: a run again computes only new or
    changed cells (--seed schemas/verified.json: a fresh checkout takes the committed cells too). Writes
    OUT/matrix.json, summary.md, matrix.html and verified.json. EXECUTES the swapped configs (as smoke
    does); --executor ray needs the [cluster] extra.
    """
    from otxgen.app import matrix as app

    options = MatrixOptions(
        backbones=backbones,
        templates=templates,
        checks=tuple(checks.split(",")),
        all_options=all_options,
        executor=executor,
        jobs=jobs,
        address=address,
        device=device,
        gpu_share=gpu_share,
        out=out,
        time_limit=time_limit,
        memory_limit_gib=memory_limit,
        max_minutes=max_minutes,
        seed=seed,
        rerun=rerun,
    )
    _run(ctx, lambda: app.matrix(options, _say))


def run() -> None:
    """The ``otxgen`` command (the console script and ``python -m otxgen``): ``main`` in a process of its
    own. What the process made is left to the operating system when it ends: the objects are frozen on
    the way out, so that the interpreter's shutdown does not walk them all in its collections (on a swap,
    a sixth of the whole process). Exit handlers and ``finally`` blocks still run; the tests call
    ``main``."""
    try:
        main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    run()

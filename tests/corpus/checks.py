"""The swap of one sampled config with the ``otxgen`` CLI (in-process, ``CliRunner``), and its checks.

The result must load, build and forward, keep the comments outside the old backbone block, pass
``build --check`` and ``validate``, and carry no old weights; or ``build`` refuses it with a one-line
message (exit 2).
"""

from __future__ import annotations

import ast
import io
import os
import tokenize
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from corpus.sample import Original, TimeLimitError, build_and_forward, load_config, one_line, raised_at
from corpus.targets import Target, qualified
from otxgen.schema.published import arch_of
from otxgen.schema.store import load_schema

Verdict = Literal["passed", "refused", "failed", "excluded"]
# The swapped model gets more time than the original: a timeout there is a failure, not an exclusion.
SWAPPED_LIMIT_S = 60.0


# --- the CLI, in-process ------------------------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stderr: str
    exception: str | None  # an exception that escaped the CLI (click's runner caught it)

    def tail(self, lines: int = 3) -> str:
        text = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return " | ".join(text[-lines:]) or self.exception or "(no message)"


def otxgen(args: Sequence[str], cwd: Path) -> CliResult:
    """``otxgen ARGS`` run with cwd ``cwd``."""
    from click.testing import CliRunner

    from otxgen.cli import main

    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click >= 8.2 always keeps stderr apart and dropped the argument
        runner = CliRunner()
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(main, list(args), catch_exceptions=True)
    finally:
        os.chdir(previous)
    escaped = result.exception if not isinstance(result.exception, SystemExit) else None
    detail = "".join(traceback.format_exception_only(escaped)).strip() if escaped else None
    return CliResult(result.exit_code, result.stderr, detail)


def refusal(result: CliResult) -> tuple[Verdict, str]:
    """Exit 2 is a documented refusal only with a one-line message, not an empty one or a traceback."""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    if result.exception or "Traceback" in result.stderr:
        return "failed", f"exit 2 with a traceback: {result.tail()}"
    if not lines:
        return "failed", "exit 2 with an empty message"
    return "refused", lines[-1]


def cli_reason(result: CliResult) -> str | None:
    return None if result.exit_code == 0 else f"exit {result.exit_code}: {result.tail()}"


# --- the checks of a swapped config -------------------------------------------------------------


def comment_tokens(source: str) -> list[tuple[int, str]]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [(token.start[0], token.string) for token in tokens if token.type == tokenize.COMMENT]


def backbone_spans(source: str) -> list[range]:
    """Line spans of the ``backbone=`` values of module-level ``model = dict(...)`` calls."""
    spans = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call):
            continue
        if any(isinstance(target, ast.Name) and target.id == "model" for target in node.targets):
            values = [kw.value for kw in node.value.keywords if kw.arg == "backbone"]
            spans += [range(value.lineno, (value.end_lineno or value.lineno) + 1) for value in values]
    return spans


def lost_comments(original: str, new: str) -> str | None:
    spans = backbone_spans(original)
    kept = Counter(text for line, text in comment_tokens(original) if not any(line in span for span in spans))
    lost = kept - Counter(text for _, text in comment_tokens(new))
    if not lost:
        return None
    return f"{sum(lost.values())} comment(s) outside the backbone block lost, e.g. {next(iter(lost))!r}"


def pretrained_inits(value: object, where: str) -> Iterator[str]:
    """Where an ``init_cfg`` (a dict, or a list of them) loads a checkpoint, anywhere inside ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            inits = item if key == "init_cfg" and isinstance(item, list) else [item] if key == "init_cfg" else []
            for init in inits:
                if isinstance(init, dict) and init.get("type") == "Pretrained" and init.get("checkpoint"):
                    yield f"{where}.init_cfg loads {init['checkpoint']}"
            yield from pretrained_inits(item, f"{where}.{key}")
    elif isinstance(value, list):
        for number, item in enumerate(value):
            yield from pretrained_inits(item, f"{where}[{number}]")


def old_weights(cfg: Any, backbone_type: str) -> str | None:
    """The old model's weights are gone: none would load over the new backbone, which starts from a
    checkpoint its catalog publishes for exactly its arch, or from none."""
    model = cfg.model
    backbone = model.get("backbone") or {}
    init = backbone.get("init_cfg")
    if isinstance(init, dict) and init.get("type") == "Pretrained":
        schema = load_schema(backbone_type)
        arch = arch_of(schema, {**dict(backbone), "type": backbone_type})
        if arch is None or init.get("checkpoint") not in {c.address for c in arch.checkpoints}:
            return f"model.backbone.init_cfg loads {init.get('checkpoint')!r}, not a checkpoint of {backbone_type}"
        backbone = {k: v for k, v in backbone.items() if k != "init_cfg"}
    if model.get("pretrained") is not None:
        return f"model.pretrained is still {model.get('pretrained')!r}"
    if cfg.get("load_from") is not None:
        return f"load_from is still {cfg.get('load_from')!r}"
    if isinstance(backbone.get("pretrained"), str):
        return f"model.backbone.pretrained is still {backbone.get('pretrained')!r}"
    return next(pretrained_inits(backbone, "model.backbone"), None)


def loaded(path: Path, library: str, target: Target) -> tuple[Any, str | None]:
    """The rewritten config, loaded; and why check a fails: it does not load, or kept the old backbone."""
    try:
        cfg = load_config(path)
    except Exception as error:  # noqa: BLE001 - a rewritten config that does not load fails check a
        return None, one_line(error)
    backbone = (cfg.get("model") or {}).get("backbone") or {}
    found = qualified(str(backbone.get("type")), library)
    if found != qualified(target.backbone, library):
        return cfg, f"exit 0 but the loaded backbone is {'.'.join(found)}, not {target.backbone}"
    return cfg, None


def forward_reason(library: str, cfg: Any, size: int) -> str | None:
    try:
        build_and_forward(library, cfg, size, SWAPPED_LIMIT_S)
    except TimeLimitError:
        return f"swapped model takes over {SWAPPED_LIMIT_S:.0f} s to build and forward"
    except Exception as error:  # noqa: BLE001 - any failure of the swapped model fails check b
        return f"at {size}x{size}: {one_line(error)}{raised_at(error)}"
    return None


def check_swapped(
    library: str, path: Path, original: str, size: int, target: Target, cwd: Path
) -> list[tuple[str, str]]:
    """Checks a-f of a rewritten config: (check, reason) for each one that fails."""
    build_args = build_command(target, path)
    cfg, load_error = loaded(path, library, target)
    reasons = {
        "a:load": load_error,
        "b:forward": forward_reason(library, cfg, size) if cfg is not None else "not loaded",
        "c:comments": lost_comments(original, path.read_text()),
        "d:check": cli_reason(otxgen([*build_args, "--check"], cwd)),
        "e:validate": cli_reason(otxgen(["validate", str(path)], cwd)),
        "f:weights": old_weights(cfg, ".".join(qualified(target.backbone, library)))
        if cfg is not None
        else "not loaded",
    }
    return [(check, reason) for check, reason in reasons.items() if reason is not None]


def build_command(target: Target, path: Path) -> list[str]:
    # No backbone.yaml: it would go beside the config, where the next config's target would differ.
    return ["build", *target.args(), "--model", str(path), "--no-smoke", "--no-backbone-yaml"]


def swap(library: str, path: Path, original: Original, target: Target, cwd: Path) -> tuple[Verdict, str, list[str]]:
    """``otxgen validate`` on the untouched config (it builds and runs: validate must find nothing), then
    ``build`` and, when it swapped, checks a-f. The caller puts the original text back."""
    source = path.read_text()
    untouched = cli_reason(otxgen(["validate", str(path)], cwd))
    if untouched is not None:
        return "failed", f"0:validate-original: validate rejects the untouched config ({untouched})", ["0:validate"]
    result = otxgen(build_command(target, path), cwd)
    if result.exit_code == 2:
        verdict, reason = refusal(result)
        return verdict, reason, ["build"] if verdict == "failed" else []
    if result.exit_code != 0 or result.exception:
        return "failed", f"build exit {result.exit_code}: {result.tail()}", ["build"]
    failures = check_swapped(library, path, source, original.size, target, cwd)
    if not failures:
        return "passed", "", []
    return "failed", f"{failures[0][0]}: {failures[0][1]}", [check for check, _ in failures]

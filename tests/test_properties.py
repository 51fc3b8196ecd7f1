"""Property tests (hypothesis, 500 examples each).

Generated model configs (random comments, blank lines, key order, nesting, quote styles, indentation,
trailing commas) -> ``replace_backbone`` then ``set_in_channels``:

- every comment outside the replaced ``backbone=`` value survives, as often as it was there;
- the rewrite is idempotent and its output is valid Python;
- nothing fails except with ``CodemodError``, also on arbitrary text.

Generated ``backbone.yaml`` documents (and arbitrary text) -> ``validate_backbone_yaml`` returns findings
or raises ``InputError``; it never crashes.

Generated nesting (brackets, calls, displays, operators, mixed; up to 3,000 levels; YAML flow and
block) is read, or refused as "nested too deeply" exactly past the limit: never a RecursionError or a
crashed process. Special files (FIFO, socket, device, folder, broken links) wherever otxgen reads or
writes a file are refused with exit 2 and one line, nothing written, never read (a FIFO would hang).
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import os
import signal
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, assume, event, given, settings
from hypothesis import strategies as st

from codemods import _config
from codemods.errors import CodemodError
from codemods.pipeline import Swap, _run, run_steps
from codemods.replace_backbone import replace_backbone
from codemods.set_in_channels import set_in_channels
from otxgen.errors import InputError
from otxgen.schema.store import StoreCatalog
from otxgen.validate.files import validate_backbone_yaml, validate_model_config

PROPERTY = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no "explain": it costs 20 s a failure
)
CATALOG = StoreCatalog()  # one per module: schemas are parsed once


@dataclass
class Source:
    """A generated config and the comment tokens it holds, split by whether the rewrite may drop them."""

    quote: str
    indent: str
    kept: list[str] = field(default_factory=list)  # outside the backbone value: must survive
    inside: list[str] = field(default_factory=list)  # inside the backbone value: may go with it
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def comment(self, inside: bool) -> str:
        token = f"# c{next(self.counter)}x"
        (self.inside if inside else self.kept).append(token)
        return token


# -- values ----------------------------------------------------------------------------------------


def scalar(draw: st.DrawFn, src: Source) -> str:
    kind = draw(st.sampled_from(["int", "str", "bool", "none", "float"]))
    if kind == "int":
        return str(draw(st.integers(-3, 4096)))
    if kind == "str":
        word = draw(st.sampled_from(["BN", "pytorch", "caffe", "GN", "Pretrained", "a b", "it's"]))
        quote = '"' if "'" in word and src.quote == "'" else src.quote
        return f"{quote}{word}{quote}"
    if kind == "float":
        return draw(st.sampled_from(["0.1", "1e-5", "2.0"]))
    return {"bool": draw(st.sampled_from(["True", "False"])), "none": "None"}[kind]


def value(draw: st.DrawFn, src: Source, depth: int, inside: bool) -> str:
    kind = draw(st.sampled_from(["scalar", "scalar", "tuple", "list", "dict"] if depth < 2 else ["scalar"]))
    if kind == "scalar":
        return scalar(draw, src)
    items = [value(draw, src, depth + 1, inside) for _ in range(draw(st.integers(0, 4)))]
    if kind == "dict":
        args = [(f"k{i}", item) for i, item in enumerate(items)]
        return call(draw, src, "dict", args, depth + 1, inside)
    trailing = "," if draw(st.booleans()) or (kind == "tuple" and len(items) == 1) else ""
    body = ", ".join(items) + (trailing if items else "")
    return f"({body})" if kind == "tuple" else f"[{body}]"


def call(draw: st.DrawFn, src: Source, func: str, args: list[tuple[str, str]], depth: int, inside: bool) -> str:
    """``func(k=v, ...)`` inline or one argument a line, with random comments, blank lines and commas."""
    if not args or (draw(st.booleans()) and all("\n" not in v for _, v in args)):
        return f"{func}({', '.join(f'{k}={v}' for k, v in args)})"
    pad = src.indent * (depth + 1)
    lines = [f"{func}("]
    for index, (key, val) in enumerate(args):
        if draw(st.integers(0, 5)) == 0:
            lines.append(f"{pad}{src.comment(inside)}")
        if draw(st.integers(0, 7)) == 0:
            lines.append("")
        last = index == len(args) - 1
        comma = "," if not last or draw(st.booleans()) else ""
        tail = f"  {src.comment(inside)}" if draw(st.integers(0, 2)) == 0 else ""
        lines.append(f"{pad}{key}={val}{comma}{tail}")
    lines.append(f"{src.indent * depth})")
    return "\n".join(lines)


# -- configs ---------------------------------------------------------------------------------------

BACKBONE_ARGS = {
    "type": None,
    "depth": "50",
    "num_stages": "4",
    "out_indices": "(0, 1, 2, 3)",
    "frozen_stages": "1",
    "norm_eval": "True",
    "style": None,
}
MODELS = {
    "RetinaNet": ("neck", "bbox_head"),
    "ImageClassifier": ("neck", "head"),
    "EncoderDecoder": ("decode_head", "auxiliary_head"),
}
HEADS = {
    "neck": "FPN",
    "bbox_head": "RetinaHead",
    "head": "LinearClsHead",
    "decode_head": "FCNHead",
    "auxiliary_head": "FCNHead",
}


def quoted(src: Source, text: str) -> str:
    return f"{src.quote}{text}{src.quote}"


def backbone(draw: st.DrawFn, src: Source) -> str:
    keys = draw(st.lists(st.sampled_from(list(BACKBONE_ARGS)[1:]), unique=True, max_size=5))
    args = [("type", quoted(src, draw(st.sampled_from(["ResNet", "ResNetV1c", "RegNet", "MobileNetV2"]))))]
    for key in keys:
        fixed = BACKBONE_ARGS[key]
        args.append((key, fixed if fixed is not None else quoted(src, "pytorch")))
    if draw(st.booleans()):
        args.append(("norm_cfg", call(draw, src, "dict", [("type", quoted(src, "BN"))], 2, True)))
    args += [(f"extra{i}", value(draw, src, 2, True)) for i in range(draw(st.integers(0, 2)))]
    return call(draw, src, "dict", draw(st.permutations(args)), 1, True)


def consumer(draw: st.DrawFn, src: Source, key: str) -> str:
    channels = draw(st.sampled_from(["[256, 512, 1024, 2048]", "2048", "[64, 128]", "(96, 192)"]))
    args = [("type", quoted(src, HEADS[key])), ("in_channels", channels)]
    args += [(f"opt{i}", value(draw, src, 2, False)) for i in range(draw(st.integers(0, 2)))]
    return call(draw, src, "dict", draw(st.permutations(args)), 1, False)


def gap(draw: st.DrawFn, src: Source) -> str:
    """Blank lines, or a comment line, between top-level statements."""
    lines = draw(st.integers(0, 3))
    return f"\n{src.comment(False)}\n" if lines == 3 else "\n" * (lines + 1)


@st.composite
def configs(draw: st.DrawFn) -> tuple[str, Source]:
    src = Source(quote=draw(st.sampled_from(["'", '"'])), indent=draw(st.sampled_from(["    ", "  ", "\t"])))
    model_type = draw(st.sampled_from(list(MODELS)))
    parts = [f"# top {src.comment(False)}"] if draw(st.booleans()) else []
    for name in draw(st.lists(st.sampled_from(["norm_cfg", "num_classes", "img_scale"]), unique=True)):
        tail = f"  {src.comment(False)}" if draw(st.booleans()) else ""
        parts.append(f"{name} = {value(draw, src, 1, False)}{tail}")
    args = [("type", quoted(src, model_type)), ("backbone", backbone(draw, src))]
    args += [(key, consumer(draw, src, key)) for key in MODELS[model_type] if draw(st.integers(0, 4))]
    args += [(f"cfg{i}", value(draw, src, 1, False)) for i in range(draw(st.integers(0, 2)))]
    parts.append("model = " + call(draw, src, "dict", draw(st.permutations(args)), 0, False))
    if draw(st.booleans()):
        parts.append(f"train_cfg = dict(max_epochs=12)  {src.comment(False)}")
    gaps = [gap(draw, src) for _ in parts]
    text = "".join(part + gap for part, gap in zip(parts, gaps, strict=True))
    return text, src


NEW_BACKBONES: list[dict[str, object]] = [
    {"type": "RegNet", "arch": "regnetx_400mf"},
    {"type": "ResNet", "depth": 101, "out_indices": (0, 1, 2, 3)},
    {"type": "mmseg.MobileNetV3", "arch": "large", "out_indices": (1, 3, 16)},
    {"type": "ResNet", "depth": 50, "norm_cfg": {"type": "BN", "requires_grad": True}, "style": "pytorch"},
]


def rewrite(text: str, new: dict[str, object], channels: list[int]) -> str:
    return set_in_channels(replace_backbone(text, new), channels)


@PROPERTY
@given(
    configs(),
    st.sampled_from(NEW_BACKBONES),
    st.lists(st.integers(8, 2048), min_size=1, max_size=4),
)
def test_rewrite_keeps_outside_comments_is_idempotent_and_fails_only_with_codemod_error(
    generated: tuple[str, Source], new: dict[str, object], channels: list[int]
) -> None:
    text, src = generated
    ast.parse(text)  # the generator itself writes valid Python
    try:
        once = rewrite(text, new, channels)
    except CodemodError as error:
        event(f"CodemodError: {error.message.split(':')[0][:40]}")
        return
    event("rewritten")
    ast.parse(once)
    for token in src.kept:
        assert once.count(token) == text.count(token) == 1, (token, text, once)
    assert rewrite(once, new, channels) == once


@st.composite
def mutated(draw: st.DrawFn, texts: st.SearchStrategy[str], tokens: list[str]) -> str:
    """``texts`` with a few random edits (a slice deleted, a token inserted, a line doubled): text near
    valid input, where a parser or a rewrite is likeliest to trip."""
    text = draw(texts)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["delete", "insert", "double"]))
        if edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        elif edit == "insert":
            text = text[:at] + draw(st.sampled_from(tokens)) + text[at:]
        else:
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at) + 1 or len(text)
            text = text[:end] + text[start:end] + text[end:]
    return text


CONFIG_TOKENS = [
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    "'",
    '"',
    "#",
    "\n",
    "\t",
    " ",
    "dict(",
    "backbone=",
    "neck=",
    "\\",
    "\x00",
]


@PROPERTY
@given(mutated(configs().map(lambda generated: generated[0]), CONFIG_TOKENS))
def test_codemods_on_mutated_configs_fail_only_with_codemod_error(text: str) -> None:
    try:
        out = rewrite(text, {"type": "RegNet", "arch": "regnetx_400mf"}, [32, 64])
    except CodemodError:
        event("CodemodError")
    else:
        event("rewritten")
        assert rewrite(out, {"type": "RegNet", "arch": "regnetx_400mf"}, [32, 64]) == out


def _outcome(run: Any) -> str:
    try:
        return str(run())
    except CodemodError as error:
        return f"CodemodError {error.message} at {error.line}:{error.col}"


@PROPERTY
@given(
    configs().map(lambda generated: generated[0])
    | mutated(configs().map(lambda generated: generated[0]), CONFIG_TOKENS),
    st.sampled_from(NEW_BACKBONES),
)
def test_the_steps_on_what_they_read_write_what_they_write_on_the_whole_file(text: str, new: dict[str, object]) -> None:
    """``run_steps`` parses only the statements the steps read (``_config.parse_reading``): its text, or
    its error, is the one the steps give on a parse of the whole file."""
    swap = Swap(new, [32, 64, 128, 256])
    partial = _outcome(lambda: run_steps(text, swap))
    whole = _outcome(lambda: _run(text, swap, _config.parse(text), frozenset()))
    event(
        "stood in" if _outcome(lambda: _config.parse_reading(text, {"model"})[1]).startswith("frozenset({") else "whole"
    )
    assert partial == whole


# -- backbone.yaml ---------------------------------------------------------------------------------

TYPES = ["mmdet.ResNet", "mmdet.RegNet", "mmseg.MobileNetV3", "mmpretrain.ConvNeXt", "ResNet", "foo.Bar", "mmdet.Nope"]
KEYS = ["depth", "arch", "out_indices", "frozen_stages", "norm_cfg", "style", "widen_factor", "in_channels", "typo"]
YAML_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["regnetx_400mf", "large", "pytorch", "50", ""]),
    st.text(max_size=8),
)
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from([*KEYS, "type"]), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def backbone_documents(draw: st.DrawFn) -> str:
    mapping: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        mapping["type"] = draw(st.sampled_from(TYPES) | YAML_VALUES)
    mapping.update(draw(st.dictionaries(st.sampled_from(KEYS), YAML_VALUES, max_size=5)))
    root: Any = {"backbone": mapping} if draw(st.integers(0, 9)) else draw(YAML_VALUES)
    flow = draw(st.sampled_from([None, True, False]))
    return yaml.safe_dump(root, default_flow_style=flow, sort_keys=draw(st.booleans()))


def validates_or_refuses(text: str) -> None:
    try:
        findings = validate_backbone_yaml(text, "backbone.yaml", CATALOG)
    except InputError as error:
        assert str(error)
        event("InputError")
        return
    event(f"{len(findings)} findings" if len(findings) < 3 else "3+ findings")
    for finding in findings:
        assert finding.where.line >= 1 and finding.message


@PROPERTY
@given(backbone_documents())
def test_validate_never_crashes_on_generated_backbone_yaml(text: str) -> None:
    validates_or_refuses(text)


YAML_TOKENS = [":", "-", " ", "\n", "  ", "[", "]", "{", "}", ",", "&a", "*a", "!!python/object", "<<: ", "'", '"', "#"]


@PROPERTY
@given(mutated(backbone_documents(), YAML_TOKENS))
def test_validate_never_crashes_on_mutated_backbone_yaml(text: str) -> None:
    validates_or_refuses(text)


# -- nesting depth ---------------------------------------------------------------------------------

# Each wraps the expression in one level of Python's syntax tree (a keyword is part of its call's).
LEVELS = ["[{}]", "({},)", "dict(a={})", "{{'a': {}}}", "-{}", "not {}", "({}) + 1", "f({})"]
OUTER = 4  # Module, Assign, the model's dict(...) call, then the value's own levels; the leaf is one more


@PROPERTY
@given(st.lists(st.sampled_from(LEVELS), min_size=1, max_size=1) | st.just([]), st.integers(1, 250) | st.just(3000))
def test_nesting_is_read_or_refused_as_too_deep_never_a_crash(kinds: list[str], levels: int) -> None:
    """Any nesting (one kind repeated, or a mix) is read, or refused with 'nested too deeply' exactly
    when it is deeper than ``MAX_DEPTH``; never a RecursionError, never a crashed process."""
    from otxgen.facts.pysource import MAX_DEPTH

    pattern = kinds or LEVELS
    expression = "1"
    for level in range(levels):
        expression = pattern[level % len(pattern)].format(expression)
    text = f"model = dict(backbone=dict(type='mmdet.ResNet', depth=50), x={expression})\n"
    try:
        validate_model_config(text, "m.py", CATALOG)
    except InputError as error:
        event("invalid" if "invalid Python" in error.cause else "too deep")
        assert "invalid Python" in error.cause or "nested too deeply" in error.cause, error.cause
        if "nested too deeply" in error.cause:
            assert OUTER + levels > MAX_DEPTH
        return
    event("read")
    assert OUTER + levels <= MAX_DEPTH
    rewritten = rewrite(text, {"type": "RegNet", "arch": "regnetx_400mf"}, [32, 64])
    assert "x=" + expression in rewritten


@PROPERTY
@given(st.integers(1, 120), st.sampled_from(["flow", "block"]))
def test_yaml_nesting_is_read_or_refused_never_a_crash(levels: int, style: str) -> None:
    from otxgen.config.yamlpos import MAX_DEPTH

    if style == "flow":
        value = "[" * levels + "]" * levels
        text = f"backbone:\n  type: mmdet.ResNet\n  depth: 50\n  x: {value}\n"
    else:
        text = "backbone:\n  type: mmdet.ResNet\n" + "".join("  " * i + "k:\n" for i in range(1, levels + 1))
        text += "  " * (levels + 1) + "v: 1\n"
    deepest = levels + (1 if style == "flow" else 2)  # the path below backbone: x and its lists, or k... and v
    try:
        validate_backbone_yaml(text, "backbone.yaml", CATALOG)
    except InputError as error:
        assert "nested too deeply" in error.cause and deepest > MAX_DEPTH, error.cause
        event("too deep")
        return
    event("read")
    assert deepest <= MAX_DEPTH


# -- special files ---------------------------------------------------------------------------------

SPECIAL = ["fifo", "socket", "directory", "symlink-loop", "dangling-symlink", "character-device"]
PLACES = {  # where the special file stands -> the command that meets it
    "validate": ("special.py", lambda: ["validate", "special.py"]),
    "base": ("special.py", lambda: ["validate", "child.py"]),
    "base-build": ("special.py", lambda: ["build", "--backbone", "mmdet.RegNet", "--model", "child.py", "--no-smoke"]),
    "model": ("special.py", lambda: ["build", "--backbone", "mmdet.RegNet", "--model", "special.py", "--no-smoke"]),
    "backbone-yaml": ("special.yaml", lambda: ["build", "--backbone", "special.yaml", "--no-smoke"]),
    "workspace-model": ("model.py", lambda: ["build", "--backbone", "mmdet.RegNet", "--no-smoke"]),
    "workspace-backbone-yaml": ("backbone.yaml", lambda: ["build", "--backbone", "mmdet.RegNet", "--no-smoke"]),
}


def make_special(path: Path, kind: str) -> Any:
    """``path`` as a special file; returns what must stay open while it is used (a socket)."""
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        return server
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink-loop":
        path.symlink_to(path.name)
    elif kind == "dangling-symlink":
        path.symlink_to("gone")
    else:
        path.symlink_to(os.devnull)
    return None


def special_snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() and not p.is_symlink() else b"", p.lstat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


@settings(PROPERTY, max_examples=60)
@given(st.sampled_from(SPECIAL), st.sampled_from(sorted(PLACES)))
def test_special_files_are_refused_never_read(kind: str, place: str) -> None:
    """A FIFO (reading blocks forever), socket, device, folder or broken link wherever a file is read
    or written: exit 2, one line naming it, nothing written, and no hang (an alarm would fail it)."""
    assume(not (place == "validate" and kind == "directory"))  # validate walks a folder: valid input
    from click.testing import CliRunner

    from otxgen.cli import main

    name, command = PLACES[place]
    with tempfile.TemporaryDirectory() as temp, contextlib.ExitStack() as stack:
        folder = Path(temp)
        assert CliRunner().invoke(main, ["build", "--task", "detection", "--workspace", str(folder)]).exit_code == 0
        child = "_base_ = ['special.py']\nmodel = dict(backbone=dict(type='mmdet.ResNet', depth=50))\n"
        (folder / "child.py").write_text(child)
        held = make_special(folder / name, kind)
        if held is not None:
            stack.callback(held.close)
        before = special_snapshot(folder)
        stack.enter_context(_chdir(folder))
        signal.alarm(60)
        stack.callback(signal.alarm, 0)
        result = CliRunner().invoke(main, command())
        assert result.exit_code == 2, result.output
        lines = (
            result.stdout.splitlines()
            if command()[0] == "validate"
            else [line for line in result.stderr.splitlines() if line.startswith("otxgen: error:")]
        )
        assert len(lines) == 1 and name in lines[0], result.output
        assert special_snapshot(folder) == before
        event(f"{kind} at {place}: {lines[0].partition(name)[2][:40]}")


@contextlib.contextmanager
def _chdir(folder: Path) -> Any:
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)

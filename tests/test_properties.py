"""Property tests (hypothesis, 500 examples each).

Generated model configs (random comments, blank lines, key order, nesting, quote styles, indentation,
trailing commas) -> ``replace_backbone`` then ``set_in_channels``:

- every comment outside the replaced ``backbone=`` value survives, as often as it was there;
- the rewrite is idempotent and its output is valid Python;
- nothing fails except with ``CodemodError``, also on arbitrary text.

Generated ``backbone.yaml`` documents (and arbitrary text) -> ``validate_backbone_yaml`` returns findings
or raises ``InputError``; it never crashes.
"""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass, field
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from codemods.errors import CodemodError
from codemods.replace_backbone import replace_backbone
from codemods.set_in_channels import set_in_channels
from otxgen.errors import InputError
from otxgen.schema.store import StoreCatalog
from otxgen.validate.files import validate_backbone_yaml

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

"""The pure layers of ``otxgen.validate`` against hand-written schemas in ``fixtures/validate/schemas``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from otxgen.config.inherit import BaseFiles, inherit
from otxgen.config.located import Finding
from otxgen.config.model_config import read_config
from otxgen.config.yamlpos import load_located
from otxgen.errors import InputError
from otxgen.fsio import decode_text
from otxgen.schema.resolve import resolve_type
from otxgen.validate.backbones import infer_library
from otxgen.validate.check import backbone_outputs
from otxgen.validate.files import validate_backbone_mapping, validate_backbone_yaml, validate_model_config
from otxgen.validate.report import render

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "validate"


class DirCatalog:
    """A schema directory laid out like the committed ``schemas/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.index = json.loads((root / "index.json").read_text())

    def types(self) -> list[str]:
        return [entry["type"] for entry in self.index["backbones"]]

    def excluded(self) -> dict[str, str]:
        return {
            f"{lib}.{n}": why for lib, info in self.index["libraries"].items() for n, why in info["excluded"].items()
        }

    def schema(self, backbone_type: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.root / f"{backbone_type.replace('.', '/')}.json").read_text())
        return result


@pytest.fixture(scope="module")
def catalog() -> DirCatalog:
    return DirCatalog(FIXTURES / "schemas")


def lines(findings: list[Finding]) -> list[str]:
    return render(findings, "text", 1).splitlines()


# --- yamlpos -------------------------------------------------------------------------------------


def test_positions_of_keys_and_values_are_one_based() -> None:
    located = load_located("backbone:\n  type: mmdet.ResNet\n  strides: [1, 2]\n", "b.yaml")
    assert located.value == {"backbone": {"type": "mmdet.ResNet", "strides": [1, 2]}}
    assert (located.keys[("backbone", "strides")].line, located.keys[("backbone", "strides")].col) == (3, 3)
    assert (located.values[("backbone", "strides", 1)].line, located.values[("backbone", "strides", 1)].col) == (3, 16)


def test_merge_keys_keep_explicit_values_and_positions() -> None:
    located = load_located("a: &x {p: 1, q: 2}\nb:\n  <<: *x\n  q: 3\n", "m.yaml")
    assert located.value["b"] == {"p": 1, "q": 3}
    assert located.keys[("b", "q")].line == 4


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("duplicate.yaml", "duplicate.yaml:4:3: duplicate key 'depth' (first at line 3)"),
        ("latin1.yaml", "latin1.yaml:3:25: not UTF-8: byte 0xe9 cannot be decoded"),
        ("binary.yaml", "binary.yaml: binary file, expected text"),
        ("list-root.yaml", "list-root.yaml:1:1: expected a mapping at the top level, found a sequence"),
        ("empty.yaml", "empty.yaml: empty file: expected a mapping"),
        ("bomb.yaml", "bomb.yaml:"),
    ],
)
def test_unreadable_yaml_is_an_input_error_with_position(name: str, expected: str) -> None:
    path = FIXTURES / "unreadable" / name
    with pytest.raises(InputError) as raised:
        load_located(decode_text(path.read_bytes(), name), name)
    assert str(raised.value).startswith(expected)
    assert raised.value.exit_code == 2


def test_alias_bomb_is_refused_quickly() -> None:
    text = (FIXTURES / "unreadable" / "bomb.yaml").read_text()
    with pytest.raises(InputError, match="alias bomb"):
        load_located(text, "bomb.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a [*a]\n", "recursive alias"),
        ("a: !!python/object:os.system 1\n", "makes a YAML loader build a Python object"),
        ("a: [\n", "invalid YAML"),
        ("---\na: 1\n---\nb: 2\n", "expected a single document"),
        ("1: 2\n", "mapping keys must be strings, found 1"),
        ("x\n", "found a scalar"),
    ],
)
def test_hostile_or_odd_yaml(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_located(text, "x.yaml")


# --- backbone.yaml ---------------------------------------------------------------------------------


def test_misspelled_key_and_bad_enum_give_two_errors_with_lines(catalog: DirCatalog) -> None:
    text = (FIXTURES / "invalid" / "yaml" / "backbone.yaml").read_text()
    assert lines(validate_backbone_yaml(text, "backbone.yaml", catalog)) == [
        "backbone.yaml:4:10: backbone.depth: 'fifty' is not one of [18, 34, 50, 101, 152]",
        "backbone.yaml:5:3: backbone.styel: mmdet.ResNet has no argument 'styel'; did you mean 'style'?",
    ]


def test_valid_backbone_yaml_has_no_findings(catalog: DirCatalog) -> None:
    text = (FIXTURES / "valid" / "yaml" / "backbone.yaml").read_text()
    assert validate_backbone_yaml(text, "backbone.yaml", catalog) == []


@pytest.mark.parametrize("case", ["valid", "invalid"])
def test_a_mapping_no_file_holds_gets_the_files_verdict(case: str, catalog: DirCatalog) -> None:
    """``build --backbone TYPE --model FILE`` checks the mapping without a backbone.yaml: the same
    findings as the file holding it, positions aside."""
    text = (FIXTURES / case / "yaml" / "backbone.yaml").read_text()
    mapping = load_located(text, "backbone.yaml", literal=True).value["backbone"]
    from_file = [(f.path, f.message, f.severity) for f in validate_backbone_yaml(text, "backbone.yaml", catalog)]
    alone = [(f.path, f.message, f.severity) for f in validate_backbone_mapping(mapping, catalog)]
    assert sorted(alone) == sorted(from_file)
    assert bool(alone) == (case == "invalid")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "  type: mmdet.ResNt\n  depth: 50\n",
            "2:9: backbone.type: unknown backbone type 'mmdet.ResNt'; did you mean 'mmdet.ResNet'?",
        ),
        (
            "  type: ResNet\n  depth: 50\n",
            "2:9: backbone.type: type 'ResNet' is ambiguous: scope it as one of mmdet.ResNet, mmseg.ResNet",
        ),
        ("  type: ResNetV1c\n  depth: 50\n", None),
        (
            "  type: mmdet.DetectoRS_ResNet\n",
            "2:9: note: backbone.type: cannot check statically: mmdet.DetectoRS_ResNet has no schema "
            "(needs a full detector)",
        ),
        ("  depth: 50\n", "1:1: backbone: 'type' is a required property"),
        ("  type: mmdet.ResNet\n", "1:1: backbone: 'depth' is a required property"),
        ("  type: 5\n", "2:9: backbone.type: 5 is not of type 'string'"),
        (
            "  type: mmdet.ResNet\n  depth: 50\n  norm_cfg: BN\n",
            "4:13: backbone.norm_cfg: 'BN' is not of type 'object' or 'null'",
        ),
        (
            "  type: mmdet.ResNet\n  depth: 50\n  norm_cfg: {typ: BN}\n",
            "4:13: backbone.norm_cfg: 'type' is a required property",
        ),
        (
            "  type: mmdet.ResNet\n  depth: 50\n  strides: [1, two]\n",
            "4:16: backbone.strides[1]: 'two' is not of type 'integer'",
        ),
    ],
)
def test_backbone_yaml_findings(catalog: DirCatalog, body: str, expected: str | None) -> None:
    found = lines(validate_backbone_yaml("backbone:\n" + body, "b.yaml", catalog))
    assert found == ([f"b.yaml:{expected}"] if expected else [])


def test_yaml_without_backbone_key(catalog: DirCatalog) -> None:
    assert lines(validate_backbone_yaml("model: {}\n", "b.yaml", catalog)) == [
        "b.yaml:1:1: no 'backbone' key; expected 'backbone:' with a mapping such as {type: mmdet.ResNet, depth: 50}"
    ]


def test_every_error_is_reported_not_only_the_first(catalog: DirCatalog) -> None:
    body = "  type: mmdet.ResNet\n  depth: 7\n  style: keras\n  norm_eval: maybe\n  extra_a: 1\n  extra_b: 2\n"
    found = validate_backbone_yaml("backbone:\n" + body, "b.yaml", catalog)
    assert [f.path for f in found] == [
        "backbone.depth",
        "backbone.style",
        "backbone.norm_eval",
        "backbone.extra_a",
        "backbone.extra_b",
    ]
    assert all(f.severity == "error" for f in found)


# --- model configs ---------------------------------------------------------------------------------


def test_module_level_names_and_positions() -> None:
    facts = read_config("norm = dict(type='BN')\nmodel = dict(backbone=dict(type='ResNet', norm_cfg=norm))\n", "m.py")
    assert facts.get("model") == {"backbone": {"type": "ResNet", "norm_cfg": {"type": "BN"}}}
    where = facts.names.values[("model", "backbone", "norm_cfg", "type")]
    assert (where.line, where.col) == (1, 18)  # inside the definition, not the use site
    assert facts.names.keys[("model", "backbone", "norm_cfg")].line == 2


def test_implicitly_concatenated_strings_over_lines() -> None:
    facts = read_config("model = dict(backbone=dict(init_cfg=dict(checkpoint='https://x/'\n    'y.pth')))\n", "m.py")
    assert facts.get("model")["backbone"]["init_cfg"] == {"checkpoint": "https://x/y.pth"}


def test_yolov3_neck_reads_channels_deepest_first(catalog: DirCatalog) -> None:
    text = (
        "default_scope = 'mmdet'\nmodel = dict(backbone=dict(type='ResNet', depth=18, out_indices=(1, 2, 3)),\n"
        "    neck=dict(type='YOLOV3Neck', in_channels=[{}]))\n"
    )
    assert validate_model_config(text.format("512, 256, 128"), "m.py", catalog) == []
    assert len(validate_model_config(text.format("128, 256, 512"), "m.py", catalog)) == 1


def test_library_without_schemas_is_a_note(catalog: DirCatalog) -> None:
    found = resolve_type("mmpretrain.ConvNeXt", "mmdet", catalog)
    assert (found.type, found.is_note, found.problem) == (
        None,
        True,
        "cannot check statically: the schemas hold no mmpretrain backbones",
    )


def test_non_literals_are_unresolved_not_guessed() -> None:
    facts = read_config(
        "import os\nx = os.environ['X']\nmodel = dict(backbone=dict(depth=2 * 25, s=x, ok=-1))\n", "m.py"
    )
    assert facts.get("model") == {"backbone": {"depth": 50, "ok": -1}}  # arithmetic on numbers is computed
    assert facts.names.unresolved[("model", "backbone", "s")] == "x"


def test_values_built_by_repeating_a_name_stop_with_a_message() -> None:
    """Seven levels of ``aN = [aN-1] * 10`` written out: 10**7 copies from a 400-byte file (executing it
    takes minutes and gigabytes too). The reading stops at ``COPY_LIMIT`` copied entries, at the use
    that passes it."""
    lines = ["a0 = dict(type='BN', requires_grad=True)"]
    lines += [f"a{n} = [{', '.join([f'a{n - 1}'] * 10)}]" for n in range(1, 8)]
    with pytest.raises(InputError, match=r"^m.py:\d+:\d+: the values this config builds .* too large to read"):
        read_config("\n".join(lines) + "\n", "m.py")


def test_a_backbone_that_is_not_a_literal_says_so(catalog: DirCatalog) -> None:
    """mmengine's ``{{_base_.model.backbone}}`` (substituted in the text before it runs) is no literal:
    the note says what the value is, not that there is no backbone."""
    text = "model = dict(backbone={{_base_.model.backbone}})\n"
    (finding,) = validate_model_config(text, "m.py", catalog)
    assert finding.severity == "note" and "model.backbone is {{_base_.model.backbone}}" in finding.message


def test_invalid_python_is_an_input_error() -> None:
    text = (FIXTURES / "unreadable" / "syntax.py").read_text()
    with pytest.raises(InputError, match=r"^syntax.py:\d+:\d+: invalid Python"):
        read_config(text, "syntax.py")


def test_valid_model_config_has_no_findings(catalog: DirCatalog) -> None:
    text = (FIXTURES / "valid" / "config" / "model.py").read_text()
    assert validate_model_config(text, "model.py", catalog) == []


def test_invalid_model_config_reports_key_and_channels(catalog: DirCatalog) -> None:
    text = (FIXTURES / "invalid" / "config" / "model.py").read_text()
    assert lines(validate_model_config(text, "model.py", catalog)) == [
        "model.py:9:9: model.backbone.styel: mmdet.ResNet has no argument 'styel'; did you mean 'style'?",
        (
            "model.py:10:39: model.neck.in_channels: [256, 512, 1024, 2048] does not match the backbone's output "
            "channels [64, 128, 256, 512]"
        ),
    ]


SEG = """model = dict(
    type='EncoderDecoder',
    backbone=dict(type='ResNetV1c', depth=50, out_indices=(0, 1, 2, 3)),
    decode_head=dict(type='PSPHead', in_channels={decode}, in_index={index}),
    auxiliary_head=dict(type='FCNHead', in_channels=1024, in_index=2))
"""


@pytest.mark.parametrize(
    ("decode", "index", "expected"),
    [
        ("2048", "3", []),
        ("2048", "-1", []),
        ("[512, 2048]", "[1, 3]", []),
        (
            "512",
            "3",
            ["m.py:4:50: model.decode_head.in_channels: 512 does not match the backbone's output channels 2048"],
        ),
        (
            "2048",
            "7",
            ["m.py:4:65: model.decode_head.in_index: in_index 7 is out of range for the backbone's 4 feature maps"],
        ),
    ],
)
def test_segmentation_heads_follow_in_index(catalog: DirCatalog, decode: str, index: str, expected: list[str]) -> None:
    assert lines(validate_model_config(SEG.format(decode=decode, index=index), "m.py", catalog)) == expected


def test_shape_args_make_channels_uncheckable(catalog: DirCatalog) -> None:
    text = (
        "default_scope = 'mmdet'\nmodel = dict(backbone=dict(type='ResNet', depth=50, base_channels=32),\n"
        "    neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048]))\n"
    )
    assert lines(validate_model_config(text, "m.py", catalog)) == [
        "m.py:3:39: note: model.neck.in_channels: cannot check statically: base_channels set, which may change "
        "the outputs (channels or strides)"
    ]


def test_unresolved_values_are_notes_and_do_not_fail(catalog: DirCatalog) -> None:
    text = "default_scope = 'mmdet'\nDEPTH = int(input())\nmodel = dict(backbone=dict(type='ResNet', depth=DEPTH))\n"
    found = validate_model_config(text, "m.py", catalog)
    assert lines(found) == ["m.py:3:49: note: model.backbone.depth: cannot check statically: DEPTH"]
    assert max(f.exit_code for f in found) == 0


def test_inherited_partial_backbone_is_a_note(catalog: DirCatalog) -> None:
    text = "_base_ = ['../_base_/models/retinanet_r50_fpn.py']\nmodel = dict(backbone=dict(depth=101))\n"
    assert lines(validate_model_config(text, "m.py", catalog)) == [
        "m.py:2:23: note: model.backbone: cannot check statically: the backbone type comes from _base_ (not followed)"
    ]


def test_library_is_inferred_from_scope_model_and_bases() -> None:
    def library(text: str) -> str | None:
        facts = read_config(text, "m.py")
        return infer_library(facts, facts.get("model") or {})

    assert library("default_scope = 'mmseg'\nmodel = dict(type='ImageClassifier')") == "mmseg"
    assert library("model = dict(type='EncoderDecoder')") == "mmseg"
    assert library("model = dict(type='X', data_preprocessor=dict(type='DetDataPreprocessor'))") == "mmdet"
    assert library("model = dict(type='X', head=dict())") is None
    assert library("_base_ = ['../_base_/datasets/coco_detection.py']\nmodel = dict(type='X')") == "mmdet"
    assert library("custom_imports = dict(imports=['mmpretrain.models'])\nmodel = dict()") == "mmpretrain"


def test_scoped_types_and_custom_imports(catalog: DirCatalog) -> None:
    assert resolve_type("mmseg.ResNet", "mmdet", catalog).type == "mmseg.ResNet"
    assert (
        resolve_type("mmseg.ResNt", None, catalog).problem == "unknown backbone type 'mmseg.ResNt'; did you "
        "mean 'mmseg.ResNet'?"
    )
    assert resolve_type("DetectoRS_ResNet", None, catalog).is_note
    unplaced = resolve_type("MAEViT", None, catalog)
    assert (unplaced.is_note, unplaced.problem) == (
        True,
        "cannot check statically: 'MAEViT' is in no schema and the config does not say its library",
    )
    custom = resolve_type("MyNet", "mmdet", catalog, ["my_project.backbones"])
    assert (custom.type, custom.is_note) == (None, True)
    assert "custom_imports: my_project.backbones" in custom.problem


def test_channel_table_lookup() -> None:
    schema = json.loads((FIXTURES / "schemas" / "mmdet" / "ResNet.json").read_text())
    assert backbone_outputs({"depth": 50}, schema) == [256, 512, 1024, 2048]
    # negative indices: mmdet's ResNet gives nothing for -1 (``i in out_indices`` over 0..3), others count
    # from the end; the table does not say which (the probe does)
    negative = backbone_outputs({"depth": 18, "out_indices": [2, -1]}, schema)
    assert isinstance(negative, str) and negative.startswith("out_indices [2, -1] count from the end")
    # the last stage twice: mmdet's ResNet gives it once (``i in out_indices``), timm's wrapper twice
    repeated = backbone_outputs({"depth": 18, "out_indices": [3, 3]}, schema)
    assert repeated == "out_indices [3, 3] name a stage twice: a backbone may give it once"
    assert backbone_outputs({"depth": 34}, schema) == "no channel table entry for depth=34"
    assert backbone_outputs({"depth": 50, "out_indices": [9]}, schema).startswith("out_indices [9] do not fit")


# --- reports -----------------------------------------------------------------------------------------


def test_github_and_json_formats(catalog: DirCatalog) -> None:
    text = (FIXTURES / "invalid" / "yaml" / "backbone.yaml").read_text()
    found = validate_backbone_yaml(text, "a,b:c.yaml", catalog)
    github = render(found, "github", 1).splitlines()
    assert github[0] == (
        "::error file=a%2Cb%3Ac.yaml,line=4,col=10,title=otxgen validate (schema)::backbone.depth: 'fifty' is "
        "not one of [18, 34, 50, 101, 152]"
    )
    report = json.loads(render(found, "json", 1))
    assert report["valid"] is False
    assert [(f["line"], f["col"], f["path"]) for f in report["findings"]] == [
        (4, 10, "backbone.depth"),
        (5, 3, "backbone.styel"),
    ]


# --- _base_ files, followed statically -----------------------------------------------------------

INHERIT = FIXTURES / "inherit"


def read_file(path: str) -> str:
    return Path(path).read_text()


def inherited(name: str, catalog: DirCatalog) -> list[str]:
    path = str(INHERIT / name)
    return lines(validate_model_config(Path(path).read_text(), path, catalog, BaseFiles(read_file)))


def test_child_override_of_an_inherited_backbone_is_checked_at_the_child_line(catalog: DirCatalog) -> None:
    found = inherited("depth_fifty.py", catalog)
    assert (
        found[0]
        == f"{INHERIT / 'depth_fifty.py'}:2:34: model.backbone.depth: 'fifty' is not one of [18, 34, 50, 101, 152]"
    )
    # The neck is only in the base file: what is said about it points there.
    assert found[1:] == [
        f"{INHERIT / '_base_' / 'retinanet.py'}:6:39: note: model.neck.in_channels: cannot check statically: no "
        "channel table entry for depth='fifty'"
    ]


def test_inherited_neck_channels_against_an_overridden_backbone(catalog: DirCatalog) -> None:
    assert inherited("wrong_neck.py", catalog) == [
        f"{INHERIT / 'wrong_neck.py'}:2:61: model.neck.in_channels: [256, 512, 1024, 2048] does not match the "
        "backbone's output channels [64, 128, 256, 512]"
    ]


def test_a_wrong_value_in_a_base_file_names_the_base_file(catalog: DirCatalog) -> None:
    assert inherited("from_bad_base.py", catalog) == [
        f"{INHERIT / '_base_' / 'bad_base.py'}:5:44: model.backbone.styel: mmdet.ResNet has no argument 'styel'; "
        "did you mean 'style'?"
    ]


def test_delete_replaces_the_inherited_backbone(catalog: DirCatalog) -> None:
    path = str(INHERIT / "delete.py")
    merged = inherit(read_config(Path(path).read_text(), path), BaseFiles(read_file))
    assert not isinstance(merged, str)
    assert merged.get("model")["backbone"] == {"type": "ResNet", "depth": 18}
    assert merged.get("model")["neck"]["out_channels"] == 256  # merged, not replaced
    assert inherited("delete.py", catalog) == []


def test_a_missing_base_file_is_an_input_error_at_its_entry(catalog: DirCatalog) -> None:
    """mmengine cannot load a config whose base is missing either: not a note but unreadable input."""
    with pytest.raises(InputError) as caught:
        inherited("missing.py", catalog)
    assert str(caught.value) == (
        f"{INHERIT / 'missing.py'}:1:36: _base_ file {INHERIT / '_base_' / 'nope.py'} cannot be read: "
        "No such file or directory"
    )


def test_a_base_chain_that_loops_is_a_note(catalog: DirCatalog) -> None:
    found = inherited("loop_a.py", catalog)
    assert found[0] == (
        f"{INHERIT / 'loop_a.py'}:1:10: note: _base_: cannot check statically: _base_ './loop_a.py' of "
        f"{INHERIT / 'loop_b.py'} loops back to {INHERIT / 'loop_a.py'}"
    )
    assert all(": note: " in line for line in found)


FILES = {
    "cfg/a.py": "x = 1\nmodel = dict(backbone=dict(type='ResNet', depth=50, out_indices=(0, 1)), neck=[1])\n",
    "cfg/b.py": "x = 2\ny = dict(k=[1, 2])\n",
    "cfg/new.py": "from mmengine.config import read_base\nwith read_base():\n    from .a import *\n",
    "cfg/odd.py": "model = 'resnet'\n",
    "cfg/bad.py": "model = dict(\n",
    "cfg/computed.py": "import os\n_base_ = os.environ['BASE']\n",
}


def read_memory(path: str) -> str:
    if path not in FILES:
        raise FileNotFoundError(2, "No such file or directory", path)
    return FILES[path]


def merged(child: str) -> Any:
    result = inherit(read_config(child, "cfg/child.py"), BaseFiles(read_memory))
    return result if isinstance(result, str) else result.names.value


def test_merge_follows_mmengine_order_and_semantics() -> None:
    names = merged("_base_ = ['a.py', 'b.py']\nmodel = dict(backbone=dict(depth=18), neck=[2])\ny = dict(k=[3])\n")
    assert names["x"] == 1  # both bases set x: mmengine refuses, OTX 1.x merged and the earlier base won
    assert names["model"] == {"backbone": {"type": "ResNet", "depth": 18, "out_indices": (0, 1)}, "neck": [2]}
    assert names["y"] == {"k": [3]}  # lists replace
    over_string = merged("_base_ = 'odd.py'\nmodel = dict(backbone=dict(type='ResNet'))\n")
    assert over_string["model"] == {"backbone": {"type": "ResNet"}}
    assert merged("_base_ = 'a.py'\nmodel = dict(backbone=dict(depth=int(input())))\n")["model"]["backbone"] == {
        "type": "ResNet",
        "out_indices": (0, 1),
    }


@pytest.mark.parametrize(
    ("child", "reason"),
    [
        ("_base_ = 'new.py'\n", "_base_ file cfg/new.py uses read_base() imports (not followed)"),
        ("_base_ = 'computed.py'\n", "_base_ in cfg/computed.py is not a literal: os.environ['BASE']"),
        ("_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'\n", "is in another package (not followed)"),
    ],
)
def test_a_base_that_cannot_be_followed_says_why(child: str, reason: str) -> None:
    result = merged(child)
    assert isinstance(result, str)
    assert reason in result


@pytest.mark.parametrize(
    ("child", "message"),
    [
        ("_base_ = 'bad.py'\n", "cfg/child.py:1:10: _base_ file cfg/bad.py:1:13: invalid Python: '(' was never closed"),
        ("_base_ = ['a.py', '../../x.py']\n", "cfg/child.py:1:19: _base_ file ../x.py cannot be read: No such file"),
    ],
)
def test_a_base_that_cannot_be_read_is_an_input_error_at_its_entry(child: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        merged(child)
    assert str(caught.value).startswith(message)


def test_yolov3_neck_note_is_not_reversed_with_the_channels(catalog: DirCatalog) -> None:
    text = (
        "default_scope = 'mmdet'\nmodel = dict(backbone=dict(type='ResNet', depth=18, base_channels=8),\n"
        "    neck=dict(type='YOLOV3Neck', in_channels=[512, 256, 128]))\n"
    )
    assert lines(validate_model_config(text, "m.py", catalog))[0].endswith(
        "base_channels set, which may change the outputs (channels or strides)"
    )


def test_channel_table_key_falls_back_to_the_schema_default() -> None:
    schema = {
        "properties": {"arch": {"default": "P5"}},
        "x-otxgen": {"channels": {"key": "arch", "default_out_indices": [0], "table": {"P5": [{"channels": 3}]}}},
    }
    assert backbone_outputs({}, schema) == [3]


def test_a_head_with_listed_channels_and_no_in_index_reads_every_map(catalog: DirCatalog) -> None:
    text = (
        "model = dict(type='EncoderDecoder', backbone=dict(type='ResNetV1c', depth=50),\n"
        "    decode_head=dict(type='Mask2FormerHead', in_channels=[256, 512, 1024, {last}]))\n"
    )
    assert lines(validate_model_config(text.format(last=2048), "m.py", catalog)) == []
    assert len(validate_model_config(text.format(last=4096), "m.py", catalog)) == 1


def test_a_config_read_as_itself_is_not_kept_only_its_bases_are(catalog: DirCatalog) -> None:
    """Base files are parsed once a process (many configs share them); a config read as itself is not
    kept: an editor checks a new text at each keystroke, and each version's facts were kept (a 3 MB
    buffer held 650 MiB of them after it closed)."""
    from otxgen.config.inherit import _read_base

    base = "model = dict(type='RetinaNet', backbone=dict(type='mmdet.ResNet', depth=50))\n"
    _read_base.cache_clear()  # a whole run fills it (it holds 512): counted from empty here
    for version in range(5):
        child = f"_base_ = ['./base.py']\nmodel = dict(neck=dict(num_outs={version}))\n"
        validate_model_config(child, "cfg/child.py", catalog, BaseFiles(lambda path: base))
    assert _read_base.cache_info().currsize == 1


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("chans[-1]", 2048),
        ("chans[1:]", (512, 1024, 2048)),
        ("c4 // 2", 1024),
        ("-c4", -2048),
        ("list(chans) + [4096]", [256, 512, 1024, 2048, 4096]),
        ("[c * 2 for c in chans]", [512, 1024, 2048, 4096]),
        ("[64 * 2**i * 4 for i in range(4)]", [256, 512, 1024, 2048]),
        ("{'a': c4}['a']", 2048),
    ],
)
def test_the_view_computes_what_python_would_from_numbers_and_known_names(expression: str, value: Any) -> None:
    """A config's ``in_channels=chans[-1]`` is 2048 to mmengine, which executes the file; the view reads the
    same from arithmetic, indexing, slicing, joining and one-loop comprehensions over known values."""
    facts = read_config(f"chans = (256, 512, 1024, 2048)\nc4 = 2048\nx = {expression}\n", "x.py")
    assert facts.get("x") == value and ("x",) not in facts.names.unresolved
    assert facts.get("x") == eval(expression, {"chans": (256, 512, 1024, 2048), "c4": 2048})


@pytest.mark.parametrize(
    "expression",
    ["[0] * 10**9", "2 ** 10000", "[c for c in chans if c > 300]", "chans[unknown]", "[f(c) for c in chans]"],
)
def test_what_the_view_does_not_compute_stays_unresolved(expression: str) -> None:
    facts = read_config(f"chans = (256, 512, 1024, 2048)\nx = {expression}\n", "x.py")
    assert ("x",) in facts.names.unresolved and "x" not in facts.names.value


def test_a_backbone_yaml_key_besides_backbone_is_an_error(catalog: DirCatalog) -> None:
    text = "backbone:\n  type: mmdet.ResNet\n  depth: 50\nneck:\n  type: FPN\n"
    findings = validate_backbone_yaml(text, "b.yaml", catalog)
    assert [(f.where.line, f.path, f.code, f.severity) for f in findings] == [(4, "neck", "unknown-key", "error")]
    assert "'neck' is not read" in findings[0].message

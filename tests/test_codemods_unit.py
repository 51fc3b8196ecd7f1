"""Unit tests of the codemods beyond the golden files: docstring examples, errors, inheritance, the
libcst command-line entry points, rendering."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codemods import _config, _literal
from codemods.custom_imports import add_custom_imports
from codemods.errors import CodemodError
from codemods.overrides import Replace
from codemods.pipeline import STEPS, Swap, run_steps, swap_backbone
from codemods.replace_backbone import replace_backbone
from codemods.set_in_channels import set_in_channels

REGNET = {"type": "RegNet", "arch": "regnetx_3.2gf", "out_indices": (0, 1, 2, 3)}


def docstring_example(function: Any) -> tuple[str, str]:
    """The first two ``::`` literal blocks of a docstring: before and after."""
    lines = (inspect.getdoc(function) or "").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        index += 1
        if lines[index - 1].rstrip().endswith("::"):
            block = []
            while index < len(lines) and (not lines[index].strip() or lines[index].startswith("    ")):
                block.append(lines[index])
                index += 1
            blocks.append(textwrap.dedent("\n".join(block)).strip() + "\n")
    return blocks[0], blocks[1]


@pytest.mark.parametrize(
    ("function", "args"),
    [
        (replace_backbone, ({"type": "RegNet", "arch": "regnetx_400mf", "out_indices": (0, 1, 2, 3)},)),
        (set_in_channels, ([96, 192, 432, 1008],)),
        (add_custom_imports, (["otxgen.libraries.torchvision"],)),
        (
            swap_backbone,
            (Swap({"type": "torchvision.resnet18"}, [64, 128, 256, 512], ["otxgen.libraries.torchvision"]),),
        ),
    ],
)
def test_docstring_examples_hold(function: Any, args: tuple[Any, ...]) -> None:
    before, after = docstring_example(function)
    assert before != after
    assert function(before, *args) == after


SAME_TYPE = "_base_ = ['{base}']\nmodel = dict(\n    backbone=dict(type='RegNet', arch='regnetx_3.2gf'))\n"
SMALL = {"type": "RegNet", "arch": "regnetx_400mf"}


@pytest.mark.parametrize(
    ("base", "inherited", "delete"),
    [
        ("../_base_/models/retinanet_regnet.py", True, True),
        ("../_base_/models/retinanet_regnet.py", False, False),
        ("../_base_/models/retinanet_regnet.py", None, True),  # guessed: a models/ base defines a model
        ("../_base_/datasets/coco_detection.py", None, False),  # guessed: a dataset base defines none
    ],
)
def test_an_inherited_backbone_is_deleted_first_even_when_the_type_is_kept(
    base: str, inherited: bool | None, delete: bool
) -> None:
    """The result is exactly the new backbone: keys of the base's (a pretrained ``init_cfg``) never merge
    back in, whatever the type; over a base without a backbone ``_delete_`` would reach the constructor."""
    out = replace_backbone(SAME_TYPE.format(base=base), SMALL, inherited=inherited)
    backbone = f"dict({'_delete_=True, ' if delete else ''}type='RegNet', arch='regnetx_400mf')"
    assert out == SAME_TYPE.format(base=base).replace("dict(type='RegNet', arch='regnetx_3.2gf')", backbone)
    assert replace_backbone(out, SMALL, inherited=inherited) == out


def test_an_unchanged_backbone_over_a_base_gets_delete_and_nothing_else() -> None:
    source = SAME_TYPE.format(base="../_base_/models/retinanet_regnet.py")
    out = replace_backbone(source, {"type": "RegNet", "arch": "regnetx_3.2gf"}, inherited=True)
    assert out == source.replace("dict(type=", "dict(_delete_=True, type=")
    assert replace_backbone(source, {"type": "RegNet", "arch": "regnetx_3.2gf"}, inherited=False) == source


def test_a_syntax_error_has_a_position() -> None:
    with pytest.raises(CodemodError) as caught:
        replace_backbone("model = dict(\n    backbone=dict(type='A',,))\n", REGNET)
    assert (caught.value.line, caught.value.message.startswith("invalid Python")) == (2, True)
    assert caught.value.col > 0
    assert isinstance(caught.value, ValueError)


def test_a_backbone_needs_a_type() -> None:
    with pytest.raises(CodemodError, match="string 'type'"):
        replace_backbone("model = dict(backbone=dict(type='A'))\n", {"arch": "x"})


def test_an_unknown_target_lists_the_backbones() -> None:
    source = "model = dict(teacher=dict(backbone=dict(type='A')), student=dict(backbone=dict(type='B')))\n"
    with pytest.raises(CodemodError, match=r"model\.teacher\.backbone, model\.student\.backbone"):
        replace_backbone(source, REGNET, target="model.pupil.backbone")
    with pytest.raises(CodemodError, match="dotted path"):
        replace_backbone(source, REGNET, target="backbone")


def test_no_backbone_and_no_base_is_an_error() -> None:
    with pytest.raises(CodemodError, match="no _base_"):
        replace_backbone("model = dict(type='A')\n", REGNET)


def test_a_model_written_as_a_display_has_its_backbone_replaced_there() -> None:
    source = "model = {\n    'type': 'RetinaNet',\n    'backbone': {'type': 'ResNet', 'depth': 50},  # old\n}\n"
    assert replace_backbone(source, REGNET) == (
        "model = {\n    'type': 'RetinaNet',\n"
        "    'backbone': dict(type='RegNet', arch='regnetx_3.2gf', out_indices=(0, 1, 2, 3)),  # old\n}\n"
    )


def test_a_backbone_in_a_display_of_names_is_not_a_second_model_but_one_in_a_module_display_is() -> None:
    options = "optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))\n"
    source = "model = dict(type='RetinaNet', backbone=dict(type='ResNet', depth=50))\n" + options
    assert "type='RegNet'" in replace_backbone(source, REGNET)
    nested = "model = {'type': 'Distiller', 'backbone': {'type': 'ResNet'}, 'teacher': {'type': 'X', 'backbone': {}}}\n"
    with pytest.raises(CodemodError, match=r"more than one model .*model\.teacher\.backbone"):
        replace_backbone(nested, REGNET)


def test_a_model_given_by_a_splat_is_refused_with_the_form_to_write() -> None:
    source = "_base_ = ['./retina.py']\nmodel = dict(**{'backbone': {'depth': 101}})\n"
    with pytest.raises(CodemodError, match=r"write its keys out \(model = dict\(backbone=dict\(\.\.\.\), \.\.\.\)\)"):
        replace_backbone(source, REGNET)


def test_module_level_names_count_as_their_values() -> None:
    source = (
        "norm_cfg = dict(type='SyncBN', requires_grad=True)\nmodel = dict(backbone=dict(type='A', norm_cfg=norm_cfg))\n"
    )
    out = replace_backbone(source, {"type": "B", "norm_cfg": {"type": "SyncBN", "requires_grad": True}})
    assert "norm_cfg=norm_cfg" in out
    assert "type='B'" in out


def test_the_file_is_parsed_once_and_its_tree_only_read() -> None:
    """The config view, the codemods' parse and their reading of the file's style share one tree of
    each text: after a swap that reads ``dict(...)`` calls, names, signed and complex numbers, the
    shared tree is still what Python's parser gives."""
    import ast

    from otxgen.facts.pysource import check_syntax

    source = (
        "norm_cfg = dict(type='BN', requires_grad=True)\nscale = (-1, +2.5, 1-2j)\n"
        "model = dict(backbone=dict(type='A', norm_cfg=norm_cfg), neck=dict(type='FPN', in_channels=[1, 2]))\n"
    )
    tree = check_syntax(source)
    run_steps(source, Swap({"type": "B", "norm_cfg": {"type": "BN", "requires_grad": True}}, [8, 16]))
    assert check_syntax(source) is tree
    assert ast.dump(tree) == ast.dump(ast.parse(source))
    assert _literal.quote_and_names(source)[1] == {
        "norm_cfg": {"type": "BN", "requires_grad": True},
        "scale": (-1, 2.5, 1 - 2j),
        "model": {
            "backbone": {"type": "A", "norm_cfg": {"type": "BN", "requires_grad": True}},
            "neck": {"type": "FPN", "in_channels": [1, 2]},
        },
    }


def test_a_changed_statement_is_wrapped_only_where_its_real_line_passes_the_files_width() -> None:
    """The width is the file's longest line (at least 79), measured on the lines as written: a new line
    that fits stays one line, one that passes is wrapped a key a line."""
    imports = "custom_imports = dict(imports=['otxgen.libraries.torchvision'], allow_failed_imports=False)"
    model = "model = dict(backbone=dict(type='A'), neck=dict(type='FPN', in_channels=[1]))\n"
    swap = Swap({"type": "torchvision.resnet18"}, [8], all_imports=["otxgen.libraries.torchvision"])
    wide = run_steps(f"# {'x' * (len(imports) - 2)}\n{model}", swap)[0]
    assert f"{imports}\n" in wide
    narrow = run_steps(model, swap)[0]
    assert "custom_imports = dict(\n" in narrow and all(len(line) <= 79 for line in narrow.splitlines())


def test_keys_that_shared_a_line_are_laid_out_a_key_a_line_when_a_merge_makes_it_overflow() -> None:
    """mmdet's SOLOv2-light writes ``depth=18, init_cfg=dict(...)`` on one line under ``backbone=dict(``: a
    type change merged there gave ``_delete_=True, type='RegNet', ..., init_cfg=dict(`` with the rest broken
    over lines; now a key a line, as a dict written anew."""
    source = (
        "_base_ = './solov2.py'\nmodel = dict(\n    backbone=dict(\n"
        "        depth=18, init_cfg=dict(checkpoint='torchvision://resnet18')),\n"
        "    neck=dict(in_channels=[64, 128, 256, 512]))\n"
    )
    backbone = {"type": "RegNet", "arch": "regnetx_400mf", "init_cfg": {"type": "Pretrained", "checkpoint": "x" * 30}}
    out = run_steps(source, Swap(backbone, backbone_inherited=True))[0]
    assert (
        "        _delete_=True,\n        type='RegNet',\n        arch='regnetx_400mf',\n        init_cfg=dict(" in out
    )
    assert all(len(line) <= 79 for line in out.splitlines()), out


def test_a_braced_dict_written_past_the_width_is_wrapped_a_key_a_line() -> None:
    """A ``{...}`` value (keys that are not names: ``custom_keys={'.ln': ...}``) that an override writes on
    one line past the file's width is wrapped as a ``dict(...)`` is (found by a swap that wrote a 254
    character line into a file of 78)."""
    keys = {f".key_number_{i}": {"decay_mult": 0.0} for i in range(6)}
    swap = Swap(None, overrides={"optim_wrapper": {"paramwise_cfg": {"custom_keys": Replace(keys)}}})
    out = run_steps("optim_wrapper = dict(paramwise_cfg=dict(custom_keys={}))\n", swap)[0]
    assert all(len(line) <= 79 for line in out.splitlines()), out
    assert "        '.key_number_0': dict(decay_mult=0.0),\n" in out
    assert _literal.quote_and_names(out)[1]["optim_wrapper"]["paramwise_cfg"]["custom_keys"] == keys


def test_a_merge_into_a_braced_dict_changes_the_values_it_holds_and_keeps_its_layout() -> None:
    """mmdet's ConvNeXt configs write ``paramwise_cfg={'num_layers': 6, ...}``: a merge that changes a value
    it holds keeps the display, its quotes and its lines; one that adds a key puts it after the last, laid
    out as the display's items are."""
    source = (
        "optim_wrapper = dict(\n    paramwise_cfg={\n        'decay_rate': 0.95,\n        'num_layers': 6\n    })\n"
    )
    swap = Swap(None, overrides={"optim_wrapper": {"paramwise_cfg": {"num_layers": 11}}})
    assert run_steps(source, swap)[0] == source.replace("'num_layers': 6", "'num_layers': 11")
    adding = Swap(None, overrides={"optim_wrapper": {"paramwise_cfg": {"decay_type": "layer_wise"}}})
    added = "'num_layers': 6,\n        'decay_type': 'layer_wise'\n    })"
    assert run_steps(source, adding)[0] == source.replace("'num_layers': 6\n    })", added)


def test_a_signed_name_reads_as_its_value() -> None:
    """``-shift`` and ``shift + 2j`` over ``shift = 1`` are values, as the text they stand for would be (a
    regression a hostile pass found: an equal ``mean=[+blue, ...]`` was rewritten)."""
    source = "shift = 1\nblue = 103.53\nneg = -shift\ncx = shift + 2j\nmean = [+blue, 116.28]\n"
    assert {k: v for k, v in _literal.quote_and_names(source)[1].items() if k != "shift"} == {
        "blue": 103.53,
        "neg": -1,
        "cx": 1 + 2j,
        "mean": [103.53, 116.28],
    }
    assert _literal.maybe_literal(_literal.expression("-blue"), {"blue": 1.5}) == -1.5
    assert _literal.maybe_literal(_literal.expression("-flag"), {"flag": True}) is _literal.NotLiteralError


@pytest.mark.parametrize("text", ["~1", "not 1", "f(1)", "dict(a=1, **b)", "dict([('a', 1)])", "{[1]: 2}", "x + 1"])
def test_what_is_not_a_literal_is_read_as_none_of_one(text: str) -> None:
    assert _literal.maybe_literal(_literal.expression(text)) is _literal.NotLiteralError


def test_a_backbone_as_a_braced_dict_is_rendered_in_full_over_several_lines() -> None:
    source = "model = dict(\n    type='X',\n    backbone={'type': 'A'})\n"
    out = replace_backbone(source, {"type": "B", "depth": 2, "name": 'it\'s "q"'})
    expected = "backbone=dict(\n        type='B',\n        depth=2,\n        name='it\\'s \"q\"'))\n"
    assert out == "model = dict(\n    type='X',\n    " + expected


STALE = """model = dict(
    backbone=dict(
        # the family
        type='EfficientNet',  # the old type
        # stage 6
        out_indices=(6,),  # 1280 channels at stride 32
        # nothing frozen
        frozen_stages=-1,  # kept
        # section: weights

        # the old checkpoint
        init_cfg=dict(type='Pretrained', checkpoint='b0.pth')  # b0
    ),
    neck=dict(type='FPN', in_channels=[1280]))  # one entry per backbone output
"""
FRESH = """model = dict(
    backbone=dict(
        type='torchvision.resnet50',
        out_indices=(3,),
        # nothing frozen
        frozen_stages=-1,  # kept
        # section: weights

        init_cfg=dict(type='Pretrained', checkpoint='r50.pth')
    ),
    neck=dict(type='FPN', in_channels=[1280]))  # one entry per backbone output
"""
RESNET50 = {
    "type": "torchvision.resnet50",
    "out_indices": [3],
    "frozen_stages": -1,
    "init_cfg": {"type": "Pretrained", "checkpoint": "r50.pth"},
}


def test_a_changed_value_loses_its_comments_and_an_equal_value_keeps_them() -> None:
    """A changed key loses its end-of-line comment and the comment lines right above it (the first key's
    too, the last key's without a comma too); an equal key keeps both; a comment block a blank line above
    a changed key, and comments outside the backbone, stay."""
    out = replace_backbone(STALE, RESNET50, inherited=False)
    assert out == FRESH
    assert replace_backbone(out, RESNET50, inherited=False) == out


def test_in_a_changed_nested_dict_only_its_changed_keys_lose_comments() -> None:
    source = (
        "model = dict(\n    backbone=dict(\n        type='A',\n        norm_cfg=dict(\n"
        "            type='BN',  # plain\n            # eval mode\n            requires_grad=False),  # frozen BN\n"
        "    ))\n"
    )
    out = replace_backbone(source, {"type": "A", "norm_cfg": {"type": "BN", "requires_grad": True}})
    expected = source.replace("            # eval mode\n", "").replace("False),  # frozen BN", "True),")
    assert out == expected


def test_set_in_channels_keeps_the_comments_of_the_values_it_changes() -> None:
    source = "model = dict(\n    neck=dict(\n        # per level\n        in_channels=[8, 16],  # C4, C5\n    ))\n"
    assert set_in_channels(source, [32, 64]) == source.replace("[8, 16]", "[32, 64]")


@pytest.mark.parametrize(
    ("value", "shown"),
    [("some_backbone", "some_backbone"), ("make(50)", "make(50)"), ("_base_.model.backbone", "_base_.model.backbone")],
)
def test_a_computed_backbone_is_refused_at_its_position(value: str, shown: str) -> None:
    source = f"bb = 1\nmodel = dict(\n    type='X',\n    backbone={value})\n"
    for rewrite in (
        lambda: replace_backbone(source, REGNET),
        lambda: swap_backbone(source, Swap(REGNET, [8, 16])),
    ):
        with pytest.raises(CodemodError) as caught:
            rewrite()
        assert (caught.value.line, caught.value.col) == (4, 14)
        assert caught.value.message == (
            f"model.backbone is {shown!r}, not dict(...): write the backbone inline as dict(...) to rewrite it"
        )


@pytest.mark.parametrize(
    ("backbone", "col"),
    [("dict('ResNet', depth=50)", 19), ("dict(type='ResNet', **extra)", 34), ("dict(base, depth=50)", 19)],
)
def test_a_backbone_dict_with_positional_or_star_arguments_is_refused(backbone: str, col: int) -> None:
    source = f"model = dict(\n    backbone={backbone},\n    neck=dict(type='FPN', in_channels=[1, 2]))\n"
    with pytest.raises(CodemodError) as caught:
        replace_backbone(source, REGNET)
    assert (caught.value.line, caught.value.col) == (2, col)
    assert caught.value.message.startswith("cannot rewrite a backbone dict with positional or ** arguments: write its")


@pytest.mark.parametrize(
    ("key", "value", "col"),
    [
        ("neck", "dict('FPN', in_channels=[1, 2])", 15),
        ("neck", "[dict(**fpn, in_channels=[1, 2])]", 16),
        ("decode_head", "dict(head_cfg, in_channels=[1, 2])", 22),
        ("head", "dict(*parts, in_channels=2)", 15),
    ],
)
def test_a_neck_or_head_with_positional_or_star_arguments_is_refused(key: str, value: str, col: int) -> None:
    source = f"model = dict(\n    backbone=dict(type='ResNet'),\n    {key}={value})\n"
    with pytest.raises(CodemodError) as caught:
        set_in_channels(source, [32, 64])
    assert (caught.value.line, caught.value.col) == (3, col)
    assert caught.value.message == "cannot set in_channels in a dict(...) with positional or ** arguments"


def test_the_positional_neck_from_the_property_test_is_a_codemod_error() -> None:
    source = "model = dict(backbone=dict(type='ResNet'), neck=dict('FPN', in_channels=[1, 2]))\n"
    with pytest.raises(CodemodError, match=r"^1:54: cannot set in_channels"):
        set_in_channels(source, [32, 64])


def test_the_pipeline_reports_positions_in_the_original_text() -> None:
    """The new backbone takes more lines than the old one: the neck's error still points at its line."""
    source = "model = dict(\n    backbone=dict(type='ResNet'),\n    neck=dict(**fpn, in_channels=[1, 2]))\n"
    big = {"type": "RegNet", "arch": "regnetx_3.2gf", "out_indices": (0, 1, 2, 3), "frozen_stages": 1}
    with pytest.raises(CodemodError) as caught:
        swap_backbone(source, Swap(big, [8, 16, 32, 64]))
    assert (caught.value.line, caught.value.col) == (3, 15)


def test_in_index_out_of_range_is_an_error() -> None:
    with pytest.raises(CodemodError, match="out of range"):
        set_in_channels("model = dict(backbone=dict(type='A'))\n", [8, 16], in_index=[2])


def test_a_neck_given_by_reference_is_left_alone() -> None:
    source = "_base_ = './m.py'\nmodel = dict(backbone=dict(type='A'), neck=_base_.neck)\n"
    assert set_in_channels(source, [8, 16]) == source


def test_custom_imports_refuses_a_non_literal_list() -> None:
    with pytest.raises(CodemodError, match="not a literal list"):
        add_custom_imports("custom_imports = dict(imports=base_imports + ['x'])\n", ["y"])


def test_render_keeps_the_quote_and_container_kind() -> None:
    assert (
        _literal.render({"a": (1,), "b": [1.5, None, True], "c": "x\ny"}, '"')
        == 'dict(a=(1,), b=[1.5, None, True], c="x\\ny")'
    )
    assert _literal.render({"not an identifier": 1}, "'") == "{'not an identifier': 1}"
    with pytest.raises(TypeError):
        _literal.render({"a": {1, 2}}, "'")


def run_tool(command: str, extra: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "libcst.tool", "codemod", "-x", command, "--no-format", *extra, str(folder)]
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=folder)


def test_the_libcst_tool_runs_each_command(tmp_path: Path) -> None:
    config = tmp_path / "model.py"
    config.write_text(
        "model = dict(\n    backbone=dict(type='ResNet', depth=50),  # swap me\n"
        "    neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048]))\n"
    )
    steps = [
        (
            "codemods.commands.ReplaceBackboneCommand",
            ["--backbone", '{"type": "RegNet", "arch": "regnetx_3.2gf"}'],
        ),
        ("codemods.commands.SetInChannelsCommand", ["--channels", "96,192,432,1008"]),
        ("codemods.commands.AddCustomImportsCommand", ["--module", "otxgen.libraries.torchvision"]),
    ]
    for command, extra in steps:
        result = run_tool(command, extra, tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Failed to codemod 0 files" in result.stderr
    assert config.read_text() == (
        "custom_imports = dict(imports=['otxgen.libraries.torchvision'], allow_failed_imports=False)\n"
        "model = dict(\n    backbone=dict(type='RegNet', arch='regnetx_3.2gf'),  # swap me\n"
        "    neck=dict(type='FPN', in_channels=[96, 192, 432, 1008]))\n"
    )


LIBRA = [
    {"type": "FPN", "in_channels": [256, 512, 1024, 2048], "out_channels": 256, "num_outs": 5},
    {"type": "BFP", "in_channels": 256, "num_levels": 5},
]


def test_over_an_inherited_list_of_necks_the_override_is_the_whole_list() -> None:
    source = "_base_ = './libra.py'\nmodel = dict(\n    backbone=dict(type='ResNet', depth=101))\n"
    out = set_in_channels(source, [8, 16, 32, 64], inherited=True, base_neck=LIBRA)
    assert out == (
        "_base_ = './libra.py'\nmodel = dict(\n    backbone=dict(type='ResNet', depth=101),\n    neck=[\n"
        "        dict(type='FPN', in_channels=[8, 16, 32, 64], out_channels=256, num_outs=5),\n"
        "        dict(type='BFP', in_channels=256, num_levels=5)])\n"
    )
    assert set_in_channels(out, [8, 16, 32, 64], inherited=True, base_neck=LIBRA) == out
    no_model = set_in_channels("_base_ = './libra.py'\n", [8, 16, 32, 64], inherited=True, base_neck=LIBRA)
    assert no_model.endswith(
        "model = dict(neck=[\n"
        "    dict(type='FPN', in_channels=[8, 16, 32, 64], out_channels=256, num_outs=5),\n"
        "    dict(type='BFP', in_channels=256, num_levels=5)])\n"
    )


def test_over_an_inherited_list_with_equal_channels_or_a_pooling_neck_nothing_is_added() -> None:
    source = "_base_ = './libra.py'\nmodel = dict(backbone=dict(type='ResNet'))\n"
    assert set_in_channels(source, [256, 512, 1024, 2048], inherited=True, base_neck=LIBRA) == source
    assert set_in_channels(source, [8], inherited=True, base_neck=[{"type": "GlobalAveragePooling"}]) == source


@pytest.mark.parametrize(
    ("statement", "drop_empty", "kept"),
    [
        ("custom_imports = dict(imports=['otxgen.libraries.timm'], allow_failed_imports=False)\n", True, False),
        ("custom_imports = dict(imports=['otxgen.libraries.timm'], allow_failed_imports=False)\n", False, True),
        ("custom_imports = dict(imports=['otxgen.libraries.timm'], allow_failed_imports=True)\n", True, True),
    ],
)
def test_an_emptied_custom_imports_goes_only_when_it_says_nothing(statement: str, drop_empty: bool, kept: bool) -> None:
    """Emptied, otxgen's own form says nothing and goes, unless a base lists imports (the caller then
    keeps it: the child's empty list replaces theirs); a user's other settings keep the statement."""
    from codemods._config import parse
    from codemods.custom_imports import set_custom_imports_in_module

    source = "_base_ = ['./base.py']\n" + statement + "model = dict(backbone=dict(type='ResNet'))\n"
    result = set_custom_imports_in_module(parse(source), [], drop_empty=drop_empty).code
    assert ("custom_imports" in result) == kept
    assert result.startswith("_base_ = ['./base.py']\n") and result.endswith(
        "model = dict(backbone=dict(type='ResNet'))\n"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("work_dir = 'out'\nload_from = 'old.pth'\n", "work_dir = 'out'\n"),
        ("# from COCO\nload_from = 'old.pth'  # noqa\n", "# from COCO\nload_from = None  # noqa\n"),
        ("model = dict(neck=dict(in_channels=[1, 2], out_channels=8))\n", "model = dict(neck=dict(out_channels=8))\n"),
        (
            "model = dict(neck=dict(\n    in_channels=[1, 2],  # C4, C5\n    out_channels=8))\n",
            "model = dict(neck=dict(\n    in_channels=[3, 4],  # C4, C5\n    out_channels=8))\n",
        ),
        ("model = dict(neck=dict(in_channels=[3, 4]))\n", "model = dict(neck=dict(in_channels=[3, 4]))\n"),
    ],
)
def test_a_value_back_at_the_bases_leaves_the_file_unless_a_comment_holds_it(source: str, expected: str) -> None:
    """``Drop(value)``: the base's value is wanted; a setting of something else goes (with its
    statement when nothing else is left), one that carries a comment takes the base's value and keeps
    the comment, and one already saying it keeps its text."""
    from codemods._config import parse
    from codemods._merge import Style
    from codemods.overrides import Drop, apply_overrides_in_module

    overrides = (
        {"load_from": Drop(None)} if "load_from" in source else {"model": {"neck": {"in_channels": Drop([3, 4])}}}
    )
    assert apply_overrides_in_module(parse(source), overrides, Style.from_source(source)).code == expected


def test_a_dict_emptied_back_to_the_base_keeps_its_place_when_a_comment_holds_it() -> None:
    """Every key of a commented dict back at the base's values: the dict stays (with the base's values)
    so the comment above it is not lost; without the comment the dict goes."""
    from codemods._config import parse
    from codemods._merge import Style
    from codemods.overrides import Drop, apply_overrides_in_module

    overrides = {"model": {"norm": {"mean": Drop([3]), "std": Drop([4])}, "depth": 18}}
    commented = "model = dict(\n    # caffe's\n    norm=dict(mean=[1], std=[2]),\n    depth=50)\n"
    plain = "model = dict(\n    norm=dict(mean=[1], std=[2]),\n    depth=50)\n"
    assert apply_overrides_in_module(parse(commented), overrides, Style()).code == (
        "model = dict(\n    # caffe's\n    norm=dict(mean=[3], std=[4]),\n    depth=18)\n"
    )
    assert apply_overrides_in_module(parse(plain), overrides, Style()).code == "model = dict(\n    depth=18)\n"


@pytest.mark.parametrize(
    ("after", "expected_after"),
    [("x = 1\n", "# model settings\nx = 1\n"), ("", "# model settings\n")],
    ids=["before another statement", "at the end of the file"],
)
def test_a_statement_emptied_back_to_the_base_leaves_its_comment_lines(after: str, expected_after: str) -> None:
    """Every key the statement set is the base's again: it goes, and the comment lines above it stay
    (above what follows, or at the end of the file); the corpus found '# model settings' lost."""
    from codemods._config import parse
    from codemods._merge import Style
    from codemods.overrides import Drop, apply_overrides_in_module

    source = "a = 0\n\n# model settings\nmodel = dict(neck=dict(in_channels=[1, 2]))\n" + after
    overrides = {"model": {"neck": {"in_channels": Drop([3, 4])}}}
    assert apply_overrides_in_module(parse(source), overrides, Style()).code == "a = 0\n\n" + expected_after


# One request per step of the pipeline that asks for that step alone: a step added to ``STEPS`` needs one.
ONE_STEP = {
    "replace_backbone": Swap(REGNET),
    "set_in_channels": Swap(None, [8, 16]),
    "apply_overrides": Swap(None, overrides={"model": {"neck": {"out_channels": 64}}}),
    "add_custom_imports": Swap(None, imports=["otxgen.libraries.timm"]),
    "set_custom_imports": Swap(None, all_imports=["otxgen.libraries.timm"]),
}


def test_every_step_of_the_pipeline_has_a_request_of_its_own() -> None:
    assert list(ONE_STEP) == [name for name, _ in STEPS]


@pytest.mark.parametrize("name", [name for name, _ in STEPS])
def test_each_step_alone_changes_the_file_once(name: str) -> None:
    """The step runs when asked, alone, changes the text, and a second run changes nothing."""
    source = (
        "# a config\nmodel = dict(\n    backbone=dict(type='ResNet'),  # old\n"
        "    neck=dict(type='FPN', in_channels=[1, 2], out_channels=8))\n"
    )
    once, ran = run_steps(source, ONE_STEP[name])
    assert ran == [name]
    assert once != source and "# a config" in once and "# old" in once
    assert run_steps(once, ONE_STEP[name])[0] == once


# ---- the module's text: changed statements printed, the rest cut from the source ----------------


def _shipped_sources(step: int) -> list[tuple[str, str]]:
    import importlib.resources

    roots = [Path(str(importlib.resources.files(name) / ".mim" / "configs")) for name in ("mmdet", "mmseg")]
    paths = [path for root in roots for path in sorted(root.rglob("*.py"))][::step]
    return [(path.name, path.read_text()) for path in paths]


def _each_statement_replaced(module: Any) -> Iterator[Any]:
    import libcst as cst

    new = cst.parse_statement("x = dict(a=1)  # new\n")
    for index in range(len(module.body)):
        yield module.with_changes(body=[*module.body[:index], new, *module.body[index + 1 :]])
    yield module.with_changes(body=[new, *module.body])  # one added, as custom_imports is


def test_module_text_is_libcst_printing_on_shipped_configs() -> None:
    """``module_text`` cuts unchanged statements from the source: the result is the module's own
    printing, for every statement of a sample of shipped configs replaced in turn, and the cut is taken
    (not the whole-module fallback) for every one of them, all plain statements."""
    import io

    import libcst as cst

    from codemods._print import Printer, _statements

    sources = _shipped_sources(step=25)
    assert len(sources) > 60
    for name, source in sources:
        original = cst.parse_module(source)
        lines = io.StringIO(source, newline="").readlines()
        assert _statements(original, source, len(lines)) is not None, name
        for changed in _each_statement_replaced(original):
            assert Printer(original, source).module_text(changed) == changed.code, name


def _each_value_replaced(module: Any, every: int = 1) -> Iterator[Any]:
    """``module`` with one value inside a top-level ``NAME = value`` replaced, for each value in turn (a
    ``dict(...)`` argument, a ``{...}`` value, a list or tuple item, at any depth), its parents rebuilt
    and everything else handed on as the same nodes: what the codemods do."""
    import libcst as cst

    from codemods._config import assigned_name

    def variants(node: Any) -> Iterator[Any]:
        field = "args" if isinstance(node, cst.Call) else "elements"
        parts = list(getattr(node, field, ())) if isinstance(node, (cst.Call, cst.List, cst.Tuple, cst.Dict)) else []
        for index, part in enumerate(parts):
            for value in [cst.Name("changed"), *variants(part.value)]:
                changed = [*parts[:index], part.with_changes(value=value), *parts[index + 1 :]]
                yield node.with_changes(**{field: changed})

    for index, statement in enumerate(module.body):
        if assigned_name(statement) is None:
            continue
        assign = statement.body[0]
        for value in list(variants(assign.value))[::every]:
            line = statement.with_changes(body=[assign.with_changes(value=value)])
            yield module.with_changes(body=[*module.body[:index], line, *module.body[index + 1 :]])


def test_a_changed_statement_is_printed_with_the_values_it_kept_cut_from_the_source() -> None:
    """Inside a changed ``NAME = value``, what the codemods kept is cut from the source: the text is the
    module's own printing with one value at any depth replaced, and the cut is taken for them."""
    import libcst as cst

    from codemods._print import Printer

    cut = changed_count = 0
    for name, source in _shipped_sources(step=40):
        original = cst.parse_module(source)
        for changed in _each_value_replaced(original, every=7):
            printer = Printer(original, source)
            assert printer.module_text(changed) == changed.code, name
            replaced = next(s for s in changed.body if s not in original.body)
            changed_count += 1
            cut += printer._shadowed(replaced) is not replaced
    assert changed_count > 300
    assert cut > 0.8 * changed_count  # the rest replaced a whole value: nothing of it kept


@pytest.mark.parametrize(
    "source",
    [
        "m = dict(a=(1), b=((2, 3)), c=(4, 5), d=[*x, (y)], e={'k': (1), **z}, f=dict(g='été', h='é'))\n",
        "m = dict(\r\n    a=[1,  # one\r\n       2],\r\n    b=dict(c='x' 'y',\r\n           d=f'{v}'))  # end\r\n",
        "m = {'a': [dict(b=1), dict(c=(1, 2))], 'b': lambda x: (x), 'c': -(1)}\nn = dict(m, a=1)\n",
        "m = dict(a=1, **n)\nk = ('é', dict(a=('é'), b=1))\n",
    ],
)
def test_a_changed_statement_is_its_printing_on_unusual_values(source: str) -> None:
    import libcst as cst

    from codemods._print import Printer

    original = cst.parse_module(source)
    for changed in _each_value_replaced(original):
        assert Printer(original, source).module_text(changed) == changed.code


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize(
    "made", ["dict(\n    a=1)", "dict(\r\n    a=1)", "dict(\r    a=1,\n    b=2)", "[1,  # one\n 2]"]
)
def test_a_value_made_from_text_is_its_printing_in_any_file(newline: str, made: str) -> None:
    """A value the codemods made from text (``expression``: the text of a kept value, whatever its line
    ends) prints in the file as libcst prints it, whatever the file's line ends."""
    import libcst as cst

    from codemods._literal import expression
    from codemods._print import Printer

    source = newline.join(["x = 1", "m = dict(", "    a=1,", "    b=2)", ""])
    original = cst.parse_module(source)
    line = cst.ensure_type(original.body[1], cst.SimpleStatementLine)
    assign = cst.ensure_type(line.body[0], cst.Assign)
    call = cst.ensure_type(assign.value, cst.Call)
    args = [call.args[0], call.args[1].with_changes(value=expression(made))]  # a kept, b made
    changed = line.with_changes(body=[assign.with_changes(value=call.with_changes(args=args))])
    module = original.with_changes(body=[original.body[0], changed])
    assert Printer(original, source).module_text(module) == module.code


@pytest.mark.parametrize(
    "source",
    [
        "# head\n\nx = 1  # one\r\n# above y\r\ny = dict(\r\n    a=1)\r\n# end\r\n",  # CRLF, header, footer
        "x = 1\ry = 2\r",  # old Mac line endings
        "x = 1\ny = 2",  # no final newline: printed whole
        "x = 1; z = 3\nif x:\n    y = 2\n    # block footer\n# above w\nw = 4\n",  # compound: printed whole
        "@dec\n# mid\ndef f():\n    pass\nv = f(\n    1,\n)\n",
        "s = '''a\nb'''  # a string over lines\nt = 1 \\\n    + 2\n",
    ],
)
def test_module_text_on_unusual_layouts(source: str) -> None:
    import libcst as cst

    from codemods._print import Printer

    original = cst.parse_module(source)
    for changed in _each_statement_replaced(original):
        assert Printer(original, source).module_text(changed) == changed.code


def test_a_rendered_value_is_parsed_once_and_known_by_its_text_while_kept() -> None:
    """``expression`` gives one node for one text while the text is among the last ``MADE_KEPT``, and
    ``made_text`` gives the text (what libcst prints) for that node only; trailing whitespace, which libcst
    does not keep, is never remembered."""
    import libcst as cst

    from codemods import _literal

    texts = ["dict(\n    a=1,\n    b=[1, 2],\n)", "(1, )", "'x'", "-1e-05"]
    nodes = [_literal.expression(text) for text in texts]
    for text, node in zip(texts, nodes, strict=True):
        assert _literal.expression(text) is node
        assert _literal.made_text(node) == text == cst.Module(body=[]).code_for_node(node)
        assert _literal.code_of(node) == text
    assert _literal.made_text(cst.parse_expression("'x'")) is None  # the same text, another node
    for unlike in ("1 ", "1  # one", "dict(\r\n    a=1)", "dict(\r    a=1)", "(\n1)\r\n"):
        node = _literal.expression(unlike)  # libcst prints it otherwise: it is printed
        assert _literal.made_text(node) is None and _literal.expression(unlike) is not node
    for index in range(_literal.MADE_KEPT):
        _literal.expression(f"[{index}]")
    assert all(_literal.made_text(node) is None for node in nodes)
    assert _literal.expression(texts[0]) is not nodes[0]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("sum([18, 36, 72, 144])", {}),  # OCRNet's FCN head over HRNet
        ("c * 2", {"c": 64}),
        ("widths[-1]", {"widths": [96, 192, 384, 768]}),
        ("base + [2048]", {"base": [256, 512, 1024]}),
        ("max(64, 2**7) // 2", {}),
        ("-shift", {"shift": 3}),
    ],
)
def test_the_codemods_compute_a_value_as_the_config_view_does(text: str, names: dict[str, object]) -> None:
    """A computed value compares equal to the value the config view reads from the same text, so a swap
    that does not change it keeps its text (``otxgen.facts.compute`` is the one set of rules)."""
    from codemods._literal import expression, literal_value
    from otxgen.config.model_config import read_config

    source = "".join(f"{name} = {value!r}\n" for name, value in names.items()) + f"x = {text}\n"
    viewed = read_config(source, "m.py").names.value["x"]
    assert literal_value(expression(text), names) == viewed


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("sum(x)", {"sum": 3, "x": [1]}),
        ("max([1], key=len)", {}),
        ("sum(*a)", {"a": [[1]]}),
        ("1 / 0", {}),
        ("x[5]", {"x": [1]}),
        ("sum(x, [])", {"x": [[0] * 10_000] * 1_500}),  # a join a copy at a time: 15 million items
        ("str(x)", {"x": [[0] * 10_000] * 1_500}),
    ],
)
def test_what_the_codemods_do_not_compute_is_not_a_literal(text: str, names: dict[str, object]) -> None:
    from codemods._literal import NotLiteralError, expression, literal_value

    with pytest.raises(NotLiteralError):
        literal_value(expression(text), names)


@pytest.mark.parametrize("text", ["sum(x, [])", "str(x)", "sorted(x)"])
def test_the_config_view_computes_no_value_past_its_bounds(text: str) -> None:
    """``[[0] * 10000] * 1500`` is one inner list to Python and 15 million items to a join, a printing or
    a sort: the name that would hold the result is left unresolved, without computing it."""
    from otxgen.config.model_config import read_config

    names = read_config(f"x = [[0] * 10_000] * 1_500\ny = {text}\n", "m.py").names
    assert "x" in names.value and "y" not in names.value


PIPELINE = "train_pipeline = [\n    dict(type='LoadImageFromFile'),  # read\n    dict(type='Resize'),\n]\n"
TRAIN = "train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))\n"
NECKED = "model = dict(\n    backbone=dict(type='ResNet'),  # old\n    neck=dict(type='FPN', in_channels=[1, 2]))\n"


def test_the_statements_a_swap_does_not_read_are_stood_in_for_and_cut_from_the_source() -> None:
    source = PIPELINE + NECKED + TRAIN
    module, stood = _config.parse_reading(source, {"model"})
    assert stood == {0, 2} and module.code.splitlines()[:4] == ["train_pipeline = (", "", "", "0)"]
    assert _config.parse_reading(source, {"model", "train_dataloader"})[1] == set()  # it reads train_pipeline
    assert _config.parse_reading(source + "model.update(pipeline=train_dataloader)\n", {"model"})[1] == set()
    out = run_steps(source, Swap(REGNET, [96, 192, 432, 1008]))[0]
    assert out.startswith(PIPELINE) and out.endswith(TRAIN) and "type='RegNet'" in out
    assert out == _config.parse(out).code  # text Python and libcst read alike
    # a file its statements do not tile (no final newline): printed by libcst, so from a whole parse
    untiled = run_steps(source.rstrip("\n"), Swap(REGNET, [96, 192, 432, 1008]))[0]
    assert untiled == out.rstrip("\n") and "# read" in untiled

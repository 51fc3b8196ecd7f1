"""Docstring and type-text parsing, on docstrings as the libraries write them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Optional, Union

from otxgen.extract import types
from otxgen.extract.docstrings import option_set, parse_args_section, summary

# Verbatim excerpt of mmdet 3.3.0 ResNet's class docstring (nested bullets inside `plugins`).
RESNET_DOC = """ResNet backbone.

    Args:
        depth (int): Depth of resnet, from {18, 34, 50, 101, 152}.
        stem_channels (int | None): Number of stem channels. If not specified,
            it will be the same as `base_channels`. Default: None.
        strides (Sequence[int]): Strides of the first block of each stage.
        plugins (list[dict]): List of plugins for stages, each dict contains:

            - cfg (dict, required): Cfg dict to build plugin.
            - position (str, required): Position inside block to insert
              plugin, options are 'after_conv1', 'after_conv2', 'after_conv3'.
        init_cfg (dict or list[dict], optional): Initialization config dict.
            Default: None

    Example:
        >>> from mmdet.models import ResNet
    """

# Excerpt of mmpretrain's style: `Defaults to`, tuple types, dict | None.
MMPRETRAIN_DOC = """ConvNeXt v1&v2 backbone.

    Args:
        arch (str | dict): The model's architecture. If string, it should be
            one of architecture in ``ConvNeXt.arch_settings``.
        out_indices (Sequence | int): Output from which stages.
            Defaults to -1, means the last stage.
        norm_cfg (dict | None): The config dict for norm layers.
            Defaults to ``dict(type='LN2d', eps=1e-6)``.
        strides (tuple[int]): Strides. Defaults to (2, 2, 2, 2).
    """


def test_resnet_args_are_parsed_with_types_options_and_multiline_descriptions() -> None:
    docs = parse_args_section(RESNET_DOC)
    assert list(docs) == ["depth", "stem_channels", "strides", "plugins", "init_cfg"]
    assert docs["depth"].type_text == "int"
    assert docs["depth"].options == (18, 34, 50, 101, 152)
    assert docs["stem_channels"].description.endswith("same as `base_channels`. Default: None.")
    assert docs["plugins"].type_text == "list[dict]"
    assert "'after_conv3'" in docs["plugins"].description  # nested bullets stay in the description
    assert "cfg" not in docs  # a nested bullet is not an argument
    assert docs["init_cfg"].type_text == "dict or list[dict], optional"
    assert "ResNet" not in docs["init_cfg"].description  # the Example section is not part of it


def test_mmpretrain_style_entries() -> None:
    docs = parse_args_section(MMPRETRAIN_DOC)
    assert docs["arch"].type_text == "str | dict"
    assert docs["norm_cfg"].type_text == "dict | None"
    assert docs["strides"].options is None
    assert summary(MMPRETRAIN_DOC) == "ConvNeXt v1&v2 backbone."


def test_option_sets_need_two_literals_of_one_kind() -> None:
    assert option_set("Depth, from {18, 34}.") == (18, 34)
    assert option_set("one of {'pytorch', 'caffe'}") == ("pytorch", "caffe")
    assert option_set("a dict like {'type': 'BN'}") is None
    assert option_set("sizes {H, W}") is None
    assert option_set("mixed {1, 'a'}") is None


def test_type_text_to_schema() -> None:
    assert types.from_text("int") == {"type": "integer"}
    assert types.from_text("int | None") == {"type": ["integer", "null"]}
    assert types.from_text("Sequence[int]") == {"type": "array", "items": {"type": "integer"}}
    assert types.from_text("tuple[int]") == {"type": "array", "items": {"type": "integer"}}
    assert types.from_text("dict or list[dict], optional") == {
        "anyOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]
    }
    assert types.from_text(":obj:`ConfigDict` or dict") == {"type": "object"}
    assert types.from_text("tuple of int") == {"type": "array", "items": {"type": "integer"}}
    assert types.from_text("nn.Module") is None
    assert types.from_text("int | nn.Module") is None  # one unknown branch: no constraint at all


def test_annotations_to_schema() -> None:
    assert types.from_hint(Optional[int]) == {"type": ["integer", "null"]}  # noqa: UP045 - the libraries write it this way
    assert types.from_hint(Union[int, Sequence[int]]) == {  # noqa: UP007
        "anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]
    }
    assert types.from_hint(Literal["a", "b"]) == {"type": "string", "enum": ["a", "b"]}
    assert types.from_hint(tuple[int, ...]) == {"type": "array", "items": {"type": "integer"}}
    assert types.from_hint(bool) == {"type": "boolean"}
    assert types.from_hint(dict[str, int] | None) == {"type": ["object", "null"]}


def test_live_mmdet_docstring_parses() -> None:
    from mmdet.models.backbones import RegNet, ResNet

    assert parse_args_section(ResNet.__doc__)["depth"].options == (18, 34, 50, 101, 152)
    assert parse_args_section(RegNet.__doc__)["arch"].type_text == "dict"
